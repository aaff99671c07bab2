//! Reuse of the boxes that hold task bodies and callbacks.
//!
//! A body or callback that captures something needs a heap box (a closure
//! that captures nothing needs none). Each such box holds an `Option` of
//! the closure's type; when the closure has run (a callback) or its task
//! is freed (a body), the box is emptied and kept in a per-thread pool
//! keyed by that type, and the next closure of the same type (the same
//! call site, for the next write) moves into it. A steady stream of tasks
//! of the same shapes thus allocates nothing for them once warm. The pool
//! is per thread because tasks are: a scheduler's closures live and die on
//! its thread.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Empty boxes kept per type: enough for the widest fan-out a thread
/// keeps in flight at once, without holding memory for a burst forever.
const KEEP_PER_TYPE: usize = 1024;

/// A completion or prep callback: called once with the task handle; it
/// returns its status and, if it had a box of its own, the emptied box.
pub(crate) trait CallOnce<H> {
    /// Calls the callback.
    fn call(self: Box<Self>, h: &H) -> (i32, Option<Box<dyn Any>>);
}

impl<H, F: FnOnce(&H) -> i32 + 'static> CallOnce<H> for Option<F> {
    fn call(mut self: Box<Self>, h: &H) -> (i32, Option<Box<dyn Any>>) {
        let rc = match self.take() {
            Some(f) => f(h),
            None => 0,
        };
        (rc, Some(self))
    }
}

/// A closure that captures nothing: its box is not an allocation.
struct Zst<F>(F);

impl<H, F: FnOnce(&H) -> i32> CallOnce<H> for Zst<F> {
    fn call(self: Box<Self>, h: &H) -> (i32, Option<Box<dyn Any>>) {
        ((self.0)(h), None)
    }
}

/// A task body: runs each time the task runs.
pub(crate) trait BodyFn<H> {
    /// Runs the body.
    fn run(&mut self, h: &H);
    /// Drops the closure and keeps its box for reuse. Call it where
    /// dropping what the closure captured may call into the scheduler.
    fn recycle(self: Box<Self>);
}

impl<H, F: FnMut(&H) + 'static> BodyFn<H> for Option<F> {
    fn run(&mut self, h: &H) {
        if let Some(f) = self {
            f(h)
        }
    }

    fn recycle(mut self: Box<Self>) {
        *self = None;
        give(self);
    }
}

impl<H, F: FnMut(&H)> BodyFn<H> for Zst<F> {
    fn run(&mut self, h: &H) {
        (self.0)(h)
    }

    fn recycle(self: Box<Self>) {}
}

/// Boxes `f` as a callback, in a recycled box when one of its type is free.
pub(crate) fn callback<H: 'static, F: FnOnce(&H) -> i32 + 'static>(f: F) -> Box<dyn CallOnce<H>> {
    if std::mem::size_of::<F>() == 0 {
        return Box::new(Zst(f));
    }
    fill(f)
}

/// Boxes `f` as a body, in a recycled box when one of its type is free.
pub(crate) fn body<H: 'static, F: FnMut(&H) + 'static>(f: F) -> Box<dyn BodyFn<H>> {
    if std::mem::size_of::<F>() == 0 {
        return Box::new(Zst(f));
    }
    fill(f)
}

/// A box holding `Some(f)`: a recycled one of its type, or a new one.
fn fill<F: 'static>(f: F) -> Box<Option<F>> {
    match take::<F>() {
        Some(mut b) => {
            *b = Some(f);
            b
        }
        None => Box::new(Some(f)),
    }
}

/// Hashes a `TypeId` by the bits it already is.
#[derive(Default)]
struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }

    fn write_u128(&mut self, v: u128) {
        self.0 ^= (v as u64) ^ ((v >> 64) as u64);
    }
}

type Pool = HashMap<TypeId, Vec<Box<dyn Any>>, BuildHasherDefault<TypeIdHasher>>;

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// An empty box for an `Option<F>`, if the pool has one.
fn take<F: 'static>() -> Option<Box<Option<F>>> {
    let b = POOL
        .try_with(|p| {
            p.try_borrow_mut()
                .ok()?
                .get_mut(&TypeId::of::<Option<F>>())?
                .pop()
        })
        .ok()??;
    b.downcast::<Option<F>>().ok()
}

/// Keeps an emptied box for the next closure of its type.
pub(crate) fn give(b: Box<dyn Any>) {
    let id = Any::type_id(&*b);
    // At thread exit (the pool gone) or re-entered, the box is just freed.
    let _ = POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            let free = p.entry(id).or_default();
            if free.len() < KEEP_PER_TYPE {
                free.push(b);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_callback_box_is_reused_by_the_next_closure_of_its_type() {
        fn make(n: u64) -> Box<dyn CallOnce<()>> {
            callback(move |_: &()| n as i32)
        }
        let cb = make(3);
        let addr = &*cb as *const dyn CallOnce<()> as *const u8 as usize;
        let (rc, spare) = cb.call(&());
        assert_eq!(rc, 3);
        give(spare.expect("a capturing closure has a box"));
        let again = make(4);
        let addr2 = &*again as *const dyn CallOnce<()> as *const u8 as usize;
        assert_eq!(addr, addr2, "same box");
        assert_eq!(again.call(&()).0, 4);
        // A closure that captures nothing has no box to give back.
        let (rc, spare) = callback(|_: &()| 9).call(&());
        assert_eq!((rc, spare.is_none()), (9, true));
    }

    #[test]
    fn a_recycled_body_drops_its_captures_and_its_box_is_reused() {
        use std::rc::Rc;
        let held = Rc::new(());
        let make = |h: Rc<()>| body(move |_: &()| drop(h.clone()));
        let mut b = make(held.clone());
        b.run(&());
        assert_eq!(Rc::strong_count(&held), 2);
        let addr = &*b as *const dyn BodyFn<()> as *const u8 as usize;
        b.recycle();
        assert_eq!(Rc::strong_count(&held), 1, "captures dropped");
        let b2 = make(held.clone());
        let addr2 = &*b2 as *const dyn BodyFn<()> as *const u8 as usize;
        assert_eq!(addr, addr2);
    }
}
