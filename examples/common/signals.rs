//! Ctrl-C (SIGINT) and SIGTERM as a flag an example checks between its
//! steps, so that it stops where it is, removes what it made (its pool)
//! on the way out, and then exits as interrupted. A second signal ends
//! the process at once (the handler is one-shot: SA_RESETHAND), for a
//! user who does not want to wait for the cleanup.
//!
//! The handler only stores the signal's number in an atomic (which is
//! async-signal-safe); everything else happens on the example's thread.

use std::sync::atomic::{AtomicI32, Ordering};

static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    CAUGHT.store(sig, Ordering::SeqCst);
}

/// Installs the handler for SIGINT and SIGTERM.
pub fn install() -> std::io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid value of the plain C
        // struct; every field that matters is set below.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESETHAND;
        // SAFETY: sigemptyset writes the mask of `sa`, which lives across
        // the call; sigaction reads `sa` and installs a handler that only
        // touches an atomic.
        let rc = unsafe {
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The signal caught so far (SIGINT or SIGTERM), if any.
pub fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// A signal stopped the example.
#[derive(Debug)]
pub struct Interrupted(pub i32);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.0 {
            libc::SIGINT => "SIGINT",
            libc::SIGTERM => "SIGTERM",
            _ => "a signal",
        };
        write!(f, "interrupted by {name}")
    }
}

impl std::error::Error for Interrupted {}

/// `Err(Interrupted)` once a signal was caught: call it between steps.
pub fn check() -> Result<(), Interrupted> {
    caught().map_or(Ok(()), |s| Err(Interrupted(s)))
}
