//! Mounting without root, through libfuse's setuid helper `fusermount3`
//! (or `fusermount`), as libfuse itself does: the helper checks that the
//! user may mount there (a directory the user owns or may write, and
//! `allow_other` only where `/etc/fuse.conf` says `user_allow_other`),
//! opens `/dev/fuse`, mounts, and passes the open device back over a
//! Unix socket named by the environment variable `_FUSE_COMMFD`
//! (`SCM_RIGHTS`). Unmounting is `fusermount3 -u` (`-z` for a lazy
//! unmount while files are open).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The environment variable through which the helper finds its socket.
const COMM_ENV: &str = "_FUSE_COMMFD";

/// The helper's path: the first of `fusermount3` and `fusermount` found
/// on `PATH` (or in `/usr/bin`, `/bin`).
pub(crate) fn helper() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .collect();
    ["fusermount3", "fusermount"]
        .iter()
        .find_map(|name| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()))
}

/// The helper, or an error saying it is missing.
fn need_helper() -> io::Result<PathBuf> {
    helper().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "mounting without root needs fusermount3 (package fuse3), which is not installed",
        )
    })
}

/// Mounts a FUSE file system on `mountpoint` with mount options `opts`
/// (`-o` as the helper takes them) through the helper; returns the open
/// `/dev/fuse` of the new mount.
pub(crate) fn mount(mountpoint: &Path, opts: &str) -> io::Result<OwnedFd> {
    let bin = need_helper()?;
    let (ours, theirs) = UnixStream::pair()?;
    let fd = theirs.as_raw_fd();
    let mut cmd = Command::new(&bin);
    cmd.arg("-o")
        .arg(opts)
        .arg("--")
        .arg(mountpoint)
        .env(COMM_ENV, fd.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec the closure only calls fcntl (async-
    // signal-safe) on a descriptor this function keeps open, so the
    // helper inherits its end of the socket.
    unsafe {
        cmd.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("running {}: {e}", bin.display())))?;
    drop(theirs);
    let got = recv_fd(&ours);
    drop(ours);
    let out = child.wait_with_output()?;
    let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
    match got {
        Ok(Some(fd)) if out.status.success() => Ok(fd),
        Ok(_) | Err(_) if !said.is_empty() => Err(io::Error::other(said)),
        Err(e) => Err(e),
        Ok(_) => Err(io::Error::other(format!(
            "{} exited with {} without passing /dev/fuse",
            bin.display(),
            out.status
        ))),
    }
}

/// Unmounts `mountpoint` through the helper: `-u`, then `-u -z` (lazy)
/// if the mount is busy. A path that is no longer mounted is not an
/// error.
pub(crate) fn unmount(mountpoint: &Path) -> io::Result<()> {
    let bin = need_helper()?;
    let mut last = String::new();
    for lazy in [false, true] {
        let mut cmd = Command::new(&bin);
        cmd.arg("-u").arg("-q");
        if lazy {
            cmd.arg("-z");
        }
        let out = cmd
            .arg("--")
            .arg(mountpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()?;
        if out.status.success() {
            return Ok(());
        }
        last = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if last.contains("not found") || last.contains("not mounted") {
            return Ok(());
        }
    }
    Err(io::Error::other(last))
}

/// Receives one descriptor passed with `SCM_RIGHTS` on `sock`; `None`
/// when the peer closed without passing one.
fn recv_fd(sock: &UnixStream) -> io::Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: byte.len(),
    };
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    // u64s: the control buffer is aligned for a cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: a zeroed msghdr is a valid empty message, filled in below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: msg points at iov and control, both alive and of the
        // lengths it names, across the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        break n;
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n == 0 {
        return Ok(None);
    }
    // SAFETY: msg was filled in by recvmsg; CMSG_FIRSTHDR reads only its
    // control fields.
    let c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    if c.is_null() {
        return Ok(None);
    }
    // SAFETY: c is non-null and points into `control`, which the kernel
    // filled with a whole cmsghdr.
    let (level, kind) = unsafe { ((*c).cmsg_level, (*c).cmsg_type) };
    if level != libc::SOL_SOCKET || kind != libc::SCM_RIGHTS {
        return Ok(None);
    }
    // SAFETY: an SCM_RIGHTS message holds at least one int after its
    // header, possibly unaligned.
    let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>()) };
    // SAFETY: the kernel installed `fd` in this process for us alone.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}
