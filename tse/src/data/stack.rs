//! A task's argument stack (DAOS's `tse_task_stack_push` / `_pop`), typed.
//!
//! DAOS's stack is a byte buffer in the task with a top pointer: a pop
//! moves the pointer down and leaves the bytes where they were, and
//! `tse_task_reinit` sets the pointer back to 0 without clearing them. So
//! the next attempt's push of the same structure at the same depth reads
//! back what the previous attempt left there (`obj_task_init_common` keeps
//! `retry_cnt` that way). Here the buffer is a row of frames, each a box
//! holding an `Option` of one type:
//!
//! * frames below `depth` are live: pushed and not popped;
//! * frames at or above `depth` are the memory above the top: a popped
//!   frame is empty (its value was moved out to the caller), a frame left
//!   live at a reinit keeps its value for the next attempt to read back
//!   ([`TaskStack::take_at_top`]);
//! * a push whose frame at that depth holds the same type reuses its box,
//!   so a task stack in a reused slot allocates nothing once warm.
//!
//! The byte budget is DAOS's: each value counts its size rounded up to 8.

use std::any::Any;

use crate::error::Error;

/// Bytes available to a task's argument stack, as DAOS's task buffer.
pub const TASK_STACK_SIZE: usize = 880;

/// Bytes a value of type `T` takes on the stack.
pub(crate) fn need_of<T>() -> usize {
    std::mem::size_of::<T>().div_ceil(8).max(1) * 8
}

struct Frame {
    /// An `Option<T>` for the frame's type `T`.
    val: Box<dyn Any>,
    need: usize,
    /// The `Option` is `Some` (only the pushed type can look inside).
    full: bool,
}

/// What a push displaced: the value or box that was in the frame's place,
/// to be dropped by the caller once the task table is no longer borrowed.
pub(crate) type Displaced<T> = (Option<T>, Option<Box<dyn Any>>);

/// A task's argument stack.
#[derive(Default)]
pub(crate) struct TaskStack {
    frames: Vec<Frame>,
    depth: usize,
    used: usize,
}

impl TaskStack {
    /// Bytes used by the live frames.
    pub(crate) fn used(&self) -> usize {
        self.used
    }

    /// True if no frame holds a value (live or left at a reinit): the
    /// stack may stay with a reused slot.
    pub(crate) fn is_clear(&self) -> bool {
        self.depth == 0 && self.frames.iter().all(|f| !f.full)
    }

    /// Refuses a push of `need` bytes that does not fit.
    pub(crate) fn check_room(&self, need: usize) -> Result<(), Error> {
        let free = TASK_STACK_SIZE - self.used;
        if need > free {
            return Err(Error::StackFull {
                need,
                free,
                cap: TASK_STACK_SIZE,
            });
        }
        Ok(())
    }

    /// Takes the value a previous attempt left at the current depth, if it
    /// is a `T` (the frame stays, empty).
    pub(crate) fn take_at_top<T: Any>(&mut self) -> Option<T> {
        let f = self.frames.get_mut(self.depth)?;
        let v = f.val.downcast_mut::<Option<T>>()?.take();
        f.full = false;
        v
    }

    /// Pushes `v`, reusing the frame at this depth if it holds a `T`.
    #[inline]
    pub(crate) fn push<T: Any>(&mut self, v: T) -> Result<Displaced<T>, Error> {
        let need = need_of::<T>();
        self.check_room(need)?;
        let d = self.depth;
        let displaced = match self.frames.get_mut(d) {
            Some(f) => {
                f.need = need;
                f.full = true;
                match f.val.downcast_mut::<Option<T>>() {
                    Some(slot) => (slot.replace(v), None),
                    None => (None, Some(std::mem::replace(&mut f.val, Box::new(Some(v))))),
                }
            }
            None => {
                self.frames.push(Frame {
                    val: Box::new(Some(v)),
                    need,
                    full: true,
                });
                (None, None)
            }
        };
        self.depth += 1;
        self.used += need;
        Ok(displaced)
    }

    /// Pops the top value if it is a `T`; another type stays in place.
    #[inline]
    pub(crate) fn pop<T: Any>(&mut self) -> Result<T, Error> {
        let top = self.depth.checked_sub(1).ok_or(Error::StackEmpty)?;
        let f = &mut self.frames[top];
        let slot = f.val.downcast_mut::<Option<T>>().ok_or(Error::StackType)?;
        let v = slot.take().ok_or(Error::StackEmpty)?;
        f.full = false;
        self.depth = top;
        self.used -= f.need;
        Ok(v)
    }

    /// The start of a new attempt (`tse_task_reinit`): the stack is empty
    /// again, and what was live stays in the frames for the new attempt's
    /// pushes to read back.
    pub(crate) fn rewind(&mut self) {
        self.depth = 0;
        self.used = 0;
    }

    /// Empties the stack and hands its frames (and their values) to the
    /// caller to drop.
    pub(crate) fn take_all(&mut self) -> TaskStack {
        std::mem::take(self)
    }
}
