//! Waiting for `SIGINT` / `SIGTERM` without a signal crate: a handler
//! that writes the signal's number as one byte to a pipe (the only thing
//! it does, and `write` is async-signal-safe), and a `poll` on the
//! pipe's other end.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// The pipe's write end, for the handler (-1: none).
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = WAKE_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    // SAFETY: errno is thread-local; the handler saves and restores it
    // around the write so the interrupted code does not see it change.
    let saved = unsafe { *libc::__errno_location() };
    // SIGINT and SIGTERM fit a byte.
    let b = sig as u8;
    // SAFETY: `b` lives across the call; writing 1 byte to a pipe end we
    // own (non-blocking: a full pipe already says "signalled").
    unsafe {
        libc::write(fd, (&b as *const u8).cast(), 1);
        *libc::__errno_location() = saved;
    }
}

/// `SIGINT` and `SIGTERM` handlers installed while it lives; the previous
/// dispositions come back when it is dropped.
pub(crate) struct SignalWait {
    rd: libc::c_int,
    wr: libc::c_int,
    old: Vec<(libc::c_int, libc::sigaction)>,
}

const SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

impl SignalWait {
    /// Installs the handlers. Only one may exist at a time per process
    /// (`EBUSY` otherwise).
    pub(crate) fn install() -> io::Result<SignalWait> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let (rd, wr) = (fds[0], fds[1]);
        if WAKE_FD
            .compare_exchange(-1, wr, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            close(rd);
            close(wr);
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        let mut w = SignalWait {
            rd,
            wr,
            old: Vec::new(),
        };
        for sig in SIGNALS {
            // SAFETY: a zeroed sigaction is a valid value (empty mask, no
            // flags) that is then filled in; `on_signal` has the
            // signature a plain (non-SA_SIGINFO) handler needs.
            let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
            act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            act.sa_flags = libc::SA_RESTART;
            // SAFETY: a zeroed sigaction to receive the old disposition.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: both pointers are to live sigaction values.
            if unsafe { libc::sigaction(sig, &act, &mut old) } != 0 {
                return Err(io::Error::last_os_error());
            }
            w.old.push((sig, old));
        }
        Ok(w)
    }

    /// Waits up to `timeout` for a signal; the first that came, if any
    /// (several at once count as one).
    pub(crate) fn wait(&self, timeout: Duration) -> Option<libc::c_int> {
        let mut p = libc::pollfd {
            fd: self.rd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one pollfd, alive across the call.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n <= 0 {
            return None;
        }
        let mut buf = [0u8; 16];
        // SAFETY: reading into a live buffer of its length (non-blocking).
        let got = unsafe { libc::read(self.rd, buf.as_mut_ptr().cast(), buf.len()) };
        (got > 0).then(|| libc::c_int::from(buf[0]))
    }
}

impl Drop for SignalWait {
    fn drop(&mut self) {
        for (sig, old) in self.old.drain(..) {
            // SAFETY: restoring a disposition sigaction gave us.
            unsafe { libc::sigaction(sig, &old, std::ptr::null_mut()) };
        }
        WAKE_FD.store(-1, Ordering::SeqCst);
        close(self.rd);
        close(self.wr);
    }
}

/// A signal's name as the shell says it.
pub(crate) fn name(sig: libc::c_int) -> String {
    match sig {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}

fn close(fd: libc::c_int) {
    // SAFETY: closing a descriptor this module opened and no longer uses.
    unsafe { libc::close(fd) };
}
