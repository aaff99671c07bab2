//! POSIX through an `rdaos dfuse` mount, as root and as other users:
//! `--allow-other` with the kernel's `default_permissions` check (issue
//! 20 item 2), ownership stored per inode and changed by `chown` /
//! `chgrp` / `chmod` with POSIX's rules (item 3), and the daemon's log
//! file (item 9).
//!
//! The other users are uids and gids no account uses (641xx), made for
//! the commands that need them: each runs as a child process that sets
//! its groups, gid and uid (`setgroups`, `setresgid`, `setresuid`)
//! between `fork` and `exec`, so nothing is added to `/etc/passwd` and
//! nothing outlives the test. Every command, `rdaos` included, runs
//! under `timeout`, so a mount that stops answering fails the test
//! instead of hanging it.
//!
//! The expected answers are POSIX.1-2017's: `open` / `creat` / `mkdir` /
//! `unlink` where the mode denies them: `EACCES` ("Permission denied");
//! `chmod` by neither owner nor privileged process, `chown` to another
//! owner by an unprivileged one, `chgrp` to a group the owner is not in:
//! `EPERM` ("Operation not permitted").
//!
//! Needs root and `/dev/fuse` (as in CI); otherwise each test says why
//! and passes without doing anything.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rdaos::dfs::errno::libc;

/// The first other user and its groups (its own and one more).
const U1: u32 = 64101;
const G1: u32 = 64101;
const G1X: u32 = 64111;
/// A second other user, in its own group only.
const U2: u32 = 64102;
const G2: u32 = 64102;
/// A group neither is in.
const G9: u32 = 64199;

/// The bound on every command.
const LIMIT_SECS: u32 = 120;

fn no_fuse() -> Option<String> {
    // SAFETY: geteuid cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("no /dev/fuse".into());
    }
    None
}

macro_rules! need_fuse {
    () => {
        if let Some(why) = no_fuse() {
            eprintln!("SKIP: dfuse POSIX test needs root and /dev/fuse: {why}");
            return;
        }
    };
}

/// A storage directory with pool `p` and POSIX container `c`, and a
/// mount point; on drop the mount is lazily unmounted and both removed.
struct Setup {
    storage: PathBuf,
    mnt: PathBuf,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let base = std::env::temp_dir().join(format!("rdaos-posix-{tag}-{}", std::process::id()));
        let s = Setup {
            storage: base.join("storage"),
            mnt: base.join("mnt"),
        };
        let _ = Command::new("umount").arg("-l").arg(&s.mnt).output();
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&s.mnt).expect("mount point");
        // Other users reach the mount point through the base directory.
        sh_ok(&format!("chmod 755 {}", base.display()));
        s.rdaos_ok(
            &["pool", "create", "p", "--size", "256M", "--targets", "2"],
            &[],
        );
        s.rdaos_ok(&["cont", "create", "p", "c", "--type", "POSIX"], &[]);
        s
    }

    /// `rdaos --storage DIR args` with `env`, under the time bound.
    fn rdaos(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = bounded();
        c.arg(env!("CARGO_BIN_EXE_rdaos"))
            .arg("--storage")
            .arg(&self.storage)
            .args(args)
            .env_remove("RDAOS_STORAGE")
            .env_remove("RDAOS_LOG");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run rdaos")
    }

    fn rdaos_ok(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let o = self.rdaos(args, env);
        assert!(
            o.status.success(),
            "rdaos {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Mounts the container with `extra` options (daemon mode), retrying
    /// while the previous daemon still holds the pool.
    fn mount(&self, extra: &[&str], env: &[(&str, &str)]) {
        let m = self.mnt.to_str().expect("utf-8 path");
        let mut args = vec!["dfuse", m, "p", "c"];
        args.extend_from_slice(extra);
        let t0 = Instant::now();
        loop {
            let o = self.rdaos(&args, env);
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            if o.status.success() {
                return;
            }
            assert!(
                err.contains("in use") && t0.elapsed() < Duration::from_secs(60),
                "rdaos {args:?}: {err}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn umount(&self) {
        sh_ok(&format!("umount {}", self.mnt.display()));
    }

    /// Runs `script` in the mount as root.
    fn root(&self, script: &str) -> Output {
        run_in(&self.mnt, script, None)
    }

    /// Runs `script` in the mount as `uid` with gid `gid` and
    /// supplementary groups `groups`.
    fn user(&self, uid: u32, gid: u32, groups: &[u32], script: &str) -> Output {
        run_in(&self.mnt, script, Some((uid, gid, groups.to_vec())))
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).output();
        if let Some(base) = self.mnt.parent() {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

/// `timeout` around a command: killed (and the test failed) past the
/// bound.
fn bounded() -> Command {
    let mut c = Command::new("timeout");
    c.args(["-k", "5", &LIMIT_SECS.to_string()]);
    c
}

fn sh_ok(script: &str) {
    let o = run_in(Path::new("/"), script, None);
    assert!(o.status.success(), "{script}: {}", show(&o));
}

/// Runs `script` with bash in `dir`, as root or as the ids given.
fn run_in(dir: &Path, script: &str, ids: Option<(u32, u32, Vec<u32>)>) -> Output {
    let mut c = bounded();
    c.args(["bash", "-c", &format!("set -eu\numask 022\n{script}")])
        .current_dir(dir);
    if let Some((uid, gid, groups)) = ids {
        // SAFETY: between fork and exec the closure makes only the
        // async-signal-safe calls setgroups, setresgid and setresuid, on
        // memory owned by the closure.
        unsafe {
            c.pre_exec(move || {
                let gs: Vec<libc::gid_t> = groups.clone();
                if libc::setgroups(gs.len(), gs.as_ptr()) != 0
                    || libc::setresgid(gid, gid, gid) != 0
                    || libc::setresuid(uid, uid, uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    c.output().expect("run bash")
}

fn show(o: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Expects success; stdout.
#[track_caller]
fn ok(o: Output) -> String {
    assert!(o.status.success(), "expected success: {}", show(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Expects a failure with `strerror(errno)` on stderr.
#[track_caller]
fn fails_with(o: Output, errno: i32) {
    let want = std::io::Error::from_raw_os_error(errno).to_string();
    let want = want.split(" (os error").next().unwrap_or(&want).to_string();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains(&want),
        "expected {want:?}: {}",
        show(&o)
    );
    assert_ne!(o.status.code(), Some(124), "timed out: {}", show(&o));
}

/// Item 2: with `--allow-other` other users get in, and get what POSIX
/// says where the mode bits allow and where they deny.
#[test]
fn allow_other_gives_other_users_posix_answers() {
    need_fuse!();
    let s = Setup::new("allow");
    s.mount(&["--allow-other"], &[]);
    ok(s.root(
        "mkdir pub priv open
         chmod 755 pub; chmod 700 priv; chmod 777 open
         echo hi > pub/f; chmod 644 pub/f
         echo secret > priv/s",
    ));
    // Allowed by the mode: read, list, search, stat; create in a 0777
    // directory.
    assert_eq!(ok(s.user(U1, G1, &[G1], "cat pub/f")), "hi\n");
    assert_eq!(ok(s.user(U1, G1, &[G1], "ls pub")), "f\n");
    assert_eq!(
        ok(s.user(U1, G1, &[G1], "stat -c '%u %g %a' pub/f")),
        "0 0 644\n"
    );
    assert_eq!(
        ok(s.user(U1, G1, &[G1], "echo mine > open/m; cat open/m")),
        "mine\n"
    );
    // Denied by the mode: EACCES (open for writing, write or search
    // permission denied on a directory).
    fails_with(s.user(U1, G1, &[G1], "echo x >> pub/f"), libc::EACCES);
    fails_with(s.user(U1, G1, &[G1], "echo x > pub/new"), libc::EACCES);
    fails_with(s.user(U1, G1, &[G1], "mkdir pub/d"), libc::EACCES);
    fails_with(s.user(U1, G1, &[G1], "rm pub/f"), libc::EACCES);
    fails_with(s.user(U1, G1, &[G1], "ls priv"), libc::EACCES);
    fails_with(s.user(U1, G1, &[G1], "cat priv/s"), libc::EACCES);
    // Not the owner: chmod is EPERM, not EACCES.
    fails_with(s.user(U1, G1, &[G1], "chmod 666 pub/f"), libc::EPERM);
    // Removing an entry takes write permission on the directory, not on
    // the file: another user removes it from the 0777 one (no sticky bit).
    ok(s.user(U2, G2, &[G2], "rm -f open/m; test ! -e open/m"));
    // Root still reads and writes everything.
    assert_eq!(
        ok(s.root("cat priv/s; echo more >> pub/f; cat pub/f")),
        "secret\nhi\nmore\n"
    );
    s.umount();
}

/// Item 3: entries belong to whoever made them; chown / chgrp / chmod
/// follow POSIX's rules; set-id bits go on chown and on a write by
/// another user; all of it survives a remount.
#[test]
fn ownership_is_stored_per_inode_and_changed_by_posix_rules() {
    need_fuse!();
    let s = Setup::new("owner");
    s.mount(&["--allow-other"], &[]);
    let u1 = |script: &str| s.user(U1, G1, &[G1, G1X], script);
    let u2 = |script: &str| s.user(U2, G2, &[G2], script);

    // Root gives a directory away (chown by a privileged process).
    assert_eq!(
        ok(s.root(&format!("mkdir d; chown {U1}:{G1} d; stat -c '%u %g %a' d"))),
        format!("{U1} {G1} 755\n")
    );
    // What a user makes is the user's: file, directory, symlink.
    assert_eq!(
        ok(u1("cd d; echo a > f; mkdir sub; ln -s f l
               stat -c '%u %g' f sub; stat -c '%u %g %F' l")),
        format!("{U1} {G1}\n{U1} {G1}\n{U1} {G1} symbolic link\n")
    );
    // The owner changes the group to one of its groups, and no other.
    assert_eq!(
        ok(u1(&format!("chgrp {G1X} d/f; stat -c '%u %g' d/f"))),
        format!("{U1} {G1X}\n")
    );
    fails_with(u1(&format!("chgrp {G9} d/f")), libc::EPERM);
    // Only a privileged process changes the owner.
    fails_with(u1(&format!("chown {U2} d/f")), libc::EPERM);
    // Someone else may neither chmod nor chgrp it.
    fails_with(u2("chmod 777 d/f"), libc::EPERM);
    fails_with(u2(&format!("chgrp {G2} d/f")), libc::EPERM);
    fails_with(u2(&format!("chown {U2} d/f")), libc::EPERM);
    // chown by the (unprivileged) owner of an executable file clears
    // S_ISUID and S_ISGID.
    assert_eq!(
        ok(u1(&format!(
            "chmod 6755 d/f; stat -c %a d/f; chgrp {G1} d/f; stat -c '%a %g' d/f"
        ))),
        format!("6755\n755 {G1}\n")
    );
    // A write by another user (no CAP_FSETID) clears them too.
    ok(u1("echo x > d/w; chmod 6777 d/w"));
    assert_eq!(ok(s.root("stat -c %a d/w")), "6777\n");
    ok(u2("echo more >> d/w"));
    assert_eq!(ok(s.root("stat -c %a d/w")), "777\n");
    // A set-group-ID directory hands its group down, and the bit to its
    // subdirectories.
    assert_eq!(
        ok(u1(&format!(
            "mkdir d/g; chgrp {G1X} d/g; chmod 2775 d/g; echo > d/g/x; mkdir d/g/y
             stat -c '%g' d/g/x; stat -c '%g %a' d/g/y"
        ))),
        format!("{G1X}\n{G1X} 2755\n")
    );
    // Root gives the file to anyone, and chmods what is not its own.
    assert_eq!(
        ok(s.root("chown 64105:64106 d/f; chmod 700 d/sub; stat -c '%u %g' d/f; stat -c %a d/sub")),
        "64105 64106\n700\n"
    );
    // The new owner's rules apply at once: the old one lost chmod.
    fails_with(u1("chmod 644 d/f"), libc::EPERM);

    let want =
        ok(s.root("stat -c '%n %u %g %a' d d/f d/sub d/w d/g d/g/x d/g/y; stat -c '%n %u %g' d/l"));
    s.umount();
    s.mount(&["--allow-other"], &[]);
    let got =
        ok(s.root("stat -c '%n %u %g %a' d d/f d/sub d/w d/g d/g/x d/g/y; stat -c '%n %u %g' d/l"));
    assert_eq!(got, want, "after a remount");
    assert!(got.contains("d/f 64105 64106 755"), "{got}");
    s.umount();
}

/// Item 9: a daemon's lines land in its log file: by default
/// `dfuse.log` in the pool's directory, at the level `RDAOS_LOG` asks
/// for; with `--log FILE` there. A read that fails its checksum is
/// logged as an error (at the default level) besides answering EIO.
#[test]
fn the_daemon_logs_to_its_log_file() {
    need_fuse!();
    let s = Setup::new("log");
    let default_log = s.storage.join("p").join("dfuse.log");
    // A level that is none: refused before anything is mounted.
    let o = s.rdaos(
        &["dfuse", s.mnt.to_str().unwrap(), "p", "c"],
        &[("RDAOS_LOG", "loud")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("RDAOS_LOG"),
        "{}",
        show(&o)
    );

    s.mount(&[], &[("RDAOS_LOG", "info")]);
    // The daemon logs its mount once the command has returned.
    wait_for_line(&default_log, |l| {
        l.contains(" INFO ") && l.contains("mounted at")
    });
    // Two 1 MiB chunks (the default chunk size): the second gets damaged.
    let good: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8 ^ 0x5a).collect();
    let doomed: Vec<u8> = (0..1u32 << 20).map(|i| (i % 241) as u8 ^ 0xa5).collect();
    let src = s.storage.join("src.bin");
    std::fs::write(&src, [good, doomed.clone()].concat()).unwrap();
    ok(s.root(&format!("cp {} f", src.display())));
    s.umount();
    // The daemon logs its stop once it let go of the pool.
    wait_for_line(&default_log, |l| {
        l.contains(" INFO ") && l.contains("unmounted")
    });

    let dev = s.storage.join("p").join("pool.dev");
    common::corrupt_first(&dev, &doomed[5000..5256]);

    let other = s.storage.join("other.log");
    s.mount(&["--log", other.to_str().unwrap()], &[]);
    fails_with(
        s.root("dd if=f of=/dev/null bs=1M skip=1 count=1 iflag=direct status=none"),
        libc::EIO,
    );
    s.umount();
    let log = wait_for_line(&other, |l| {
        l.contains(" ERROR ") && l.contains("read") && l.contains("Input/output error")
    });
    // The default level is warn: no info lines in this one.
    assert!(!log.contains(" INFO "), "{log}");
    // The first mount's log did not get the second one's lines.
    let first = std::fs::read_to_string(&default_log).unwrap();
    assert!(!first.contains(" ERROR "), "{first}");
}

/// Waits (within the bound) until file `p` has a line `pred` accepts;
/// its text.
#[track_caller]
fn wait_for_line(p: &Path, pred: impl Fn(&str) -> bool) -> String {
    let t0 = Instant::now();
    loop {
        let log = std::fs::read_to_string(p).unwrap_or_default();
        if log.lines().any(&pred) {
            return log;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(u64::from(LIMIT_SECS)),
            "no such line in {}: {log:?}",
            p.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `python3 -c SCRIPT` in a shell script (the system's, which every user
/// can run), with `os`, `errno` and a `libc` handle imported.
fn py(script: &str) -> String {
    format!(
        "/usr/bin/python3 -c 'import os, sys, errno, ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n{script}'"
    )
}

/// Item 5: hard links, as `link(2)` says: one inode (same number, data,
/// mode) under several names, its link count following `link`, `unlink`
/// and `rename`; a directory cannot be linked (`EPERM`); the last name of
/// an open file goes and the file stays readable until closed.
#[test]
fn hard_links_share_an_inode() {
    need_fuse!();
    let s = Setup::new("links");
    s.mount(&["--allow-other"], &[]);
    assert_eq!(
        ok(s.root(
            "mkdir d; chmod 777 d; echo one > d/a; ln d/a d/b; ln d/a c
             stat -c '%h' d/a d/b c; test $(stat -c %i d/a) = $(stat -c %i c) && echo same
             echo two >> c; cat d/b; chmod 600 d/b; stat -c %a d/a
             rm d/a; stat -c %h c d/b
             /usr/bin/python3 -c 'import os; os.rename(\"c\", \"d/b\")'; stat -c %h c d/b
             echo other > o; mv o c; stat -c %h d/b"
        )),
        "3\n3\n3\nsame\none\ntwo\n600\n2\n2\n2\n2\n1\n"
    );
    // Not a directory: EPERM.
    fails_with(s.root(&py("os.link(\"d\", \"d2\")")), libc::EPERM);
    // A second user links its own file and sees the count.
    assert_eq!(
        ok(s.user(
            U1,
            G1,
            &[G1],
            "cd d; echo mine > m; ln m m2; stat -c '%h %u' m2; rm m; stat -c %h m2"
        )),
        format!("2 {U1}\n1\n")
    );
    // The last name of an open file: readable through the descriptor.
    assert_eq!(
        ok(s.root("exec 3<d/b; rm d/b; cat <&3; exec 3<&-; test ! -e d/b && echo gone")),
        "one\ntwo\ngone\n"
    );
    // All of it survives a remount.
    ok(s.root("echo x > p; ln p q"));
    s.umount();
    s.mount(&["--allow-other"], &[]);
    assert_eq!(ok(s.root("stat -c %h p q; cat q")), "2\n2\nx\n");
    s.umount();
}

/// Item 6: a directory's link count is 2 + its subdirectories, and every
/// change of its entries updates its mtime and ctime (POSIX: "shall mark
/// for update the last data modification and last file status change
/// timestamps of the parent directory").
#[test]
fn directories_count_links_and_entry_changes_touch_them() {
    need_fuse!();
    let s = Setup::new("dirs");
    s.mount(&["--allow-other"], &[]);
    assert_eq!(
        ok(s.root(
            "mkdir -p a/x a/y b; stat -c %h . a b a/x
             mv a/x b/; stat -c %h a b; rmdir b/x; stat -c %h b"
        )),
        "4\n4\n2\n2\n3\n3\n2\n"
    );
    // Each change, made by another user in a directory it may write (a
    // hard link of its own file: Linux's protected_hardlinks keeps it
    // from linking root's).
    ok(s.root("chmod 777 b; echo f > b/f"));
    for change in [
        "echo n > b/new",
        "mkdir b/m",
        "ln -s f b/s",
        "ln b/new b/h",
        "mkfifo b/p",
        "mv b/h b/h2",
        "rm b/h2",
        "rmdir b/m",
        "rm b/s",
    ] {
        let script = format!("stat -c '%.9Y %.9Z' b; sleep 0.01; {change}; stat -c '%.9Y %.9Z' b");
        let out = ok(s.user(U1, G1, &[G1], &script));
        let v: Vec<Vec<&str>> = out.lines().map(|l| l.split(' ').collect()).collect();
        assert!(
            v.len() == 2 && v[0][0] < v[1][0] && v[0][1] < v[1][1],
            "{change}: mtime and ctime before and after: {out}"
        );
    }
    s.umount();
}

/// Item 4: FIFOs, device nodes and sockets are inodes: `mkfifo`,
/// `mknod`, `bind(2)` of a unix socket; type and device number kept
/// across a remount; a FIFO in the mount carries data (the kernel's
/// pipe); an unprivileged `mknod` of a device is `EPERM` (the kernel's
/// `CAP_MKNOD` check), a FIFO is allowed.
#[test]
fn fifos_devices_and_sockets_are_inodes() {
    need_fuse!();
    let s = Setup::new("special");
    s.mount(&["--allow-other"], &[]);
    let show = "stat -c '%n %F %a %t:%T %h' fifo null blk sock";
    let sock = py(
        "import socket\ns = socket.socket(socket.AF_UNIX)\ns.bind(\"sock\")\nos.chmod(\"sock\", 0o755)",
    );
    let want = "fifo fifo 640 0:0 1\nnull character special file 666 1:3 1\n\
                blk block special file 660 7:0 1\nsock socket 755 0:0 1\n";
    assert_eq!(
        ok(s.root(&format!(
            "mkfifo -m 640 fifo; mknod -m 666 null c 1 3; mknod -m 660 blk b 7 0; {sock}; {show}"
        ))),
        want
    );
    // A FIFO passes data between two processes.
    assert_eq!(
        ok(s.root("(echo through > fifo &); timeout 20 cat fifo")),
        "through\n"
    );
    ok(s.root("chmod 777 ."));
    ok(s.user(U1, G1, &[G1], "mkfifo mine; test -p mine"));
    fails_with(s.user(U1, G1, &[G1], "mknod dev c 1 3"), libc::EPERM);
    s.umount();
    s.mount(&["--allow-other"], &[]);
    assert_eq!(ok(s.root(show)), want);
    assert_eq!(ok(s.root("stat -c '%u %F' mine")), format!("{U1} fifo\n"));
    s.umount();
}

/// Item 7: extended attributes: set, get, list and remove, with
/// `XATTR_CREATE` (`EEXIST`) and `XATTR_REPLACE` (`ENODATA`), `ENODATA`
/// for a missing one, `ERANGE` for a buffer too small, `E2BIG` for a
/// value over 64 KiB; shared by hard links; `user.` attributes need write
/// permission (`EACCES` for another user), `trusted.` ones privilege.
#[test]
fn extended_attributes_through_the_mount() {
    need_fuse!();
    let s = Setup::new("xattr");
    s.mount(&["--allow-other"], &[]);
    let script = py("f = \"f\"
os.setxattr(f, \"user.a\", b\"value\")
os.setxattr(f, \"user.e\", b\"\", os.XATTR_CREATE)
def err(call):
    try:
        call()
        return \"ok\"
    except OSError as e:
        return errno.errorcode[e.errno]
print(err(lambda: os.setxattr(f, \"user.a\", b\"x\", os.XATTR_CREATE)))
print(err(lambda: os.setxattr(f, \"user.zz\", b\"x\", os.XATTR_REPLACE)))
print(err(lambda: os.getxattr(f, \"user.none\")))
print(err(lambda: os.setxattr(f, \"user.big\", bytes(65537))))
os.setxattr(f, \"user.max\", bytes(65536))
print(len(os.getxattr(f, \"user.max\")))
buf = ctypes.create_string_buffer(3)
n = libc.getxattr(b\"f\", b\"user.a\", buf, 3)
print(n, errno.errorcode[ctypes.get_errno()])
print(libc.getxattr(b\"f\", b\"user.a\", None, 0))
print(sorted(os.listxattr(f)))
os.setxattr(\"h\", \"user.a\", b\"via h\", os.XATTR_REPLACE)
print(os.getxattr(f, \"user.a\").decode())
os.removexattr(f, \"user.e\")
print(err(lambda: os.removexattr(f, \"user.e\")))
os.setxattr(\"d\", \"trusted.t\", b\"root only\")
print(os.getxattr(\"d\", \"trusted.t\").decode())");
    assert_eq!(
        ok(s.root(&format!(
            "echo data > f; ln f h; mkdir d; chmod 644 f; {script}"
        ))),
        "EEXIST\nENODATA\nENODATA\nE2BIG\n65536\n-1 ERANGE\n5\n\
         ['user.a', 'user.e', 'user.max']\nvia h\nENODATA\nroot only\n"
    );
    // Another user reads what the mode lets it read, writes nothing.
    let other = py(
        "print(os.getxattr(\"f\", \"user.a\").decode())
for call in (lambda: os.setxattr(\"f\", \"user.b\", b\"x\"), lambda: os.setxattr(\"d\", \"trusted.u\", b\"x\")):
    try:
        call()
        print(\"ok\")
    except OSError as e:
        print(errno.errorcode[e.errno])",
    );
    assert_eq!(ok(s.user(U1, G1, &[G1], &other)), "via h\nEACCES\nEPERM\n");
    s.umount();
    s.mount(&["--allow-other"], &[]);
    assert_eq!(
        ok(s.root(&py("print(sorted(os.listxattr(\"h\")))"))),
        "['user.a', 'user.max']\n"
    );
    s.umount();
}

/// Item 7: `renameat2(2)` with `RENAME_NOREPLACE` (`EEXIST` when the
/// target exists) and `RENAME_EXCHANGE` (both swap, atomically for the
/// caller; `ENOENT` when one is missing).
#[test]
fn renameat2_noreplace_and_exchange() {
    need_fuse!();
    let s = Setup::new("rename2");
    s.mount(&[], &[]);
    let script = py("AT = -100
def r2(a, b, flags):
    if libc.renameat2(AT, a.encode(), AT, b.encode(), flags) == 0:
        return \"ok\"
    return errno.errorcode[ctypes.get_errno()]
print(r2(\"a\", \"b\", 1))
print(r2(\"a\", \"c\", 1))
print(r2(\"c\", \"b\", 2))
print(open(\"c\").read().strip(), open(\"b\").read().strip())
print(r2(\"c\", \"none\", 2))
print(r2(\"d\", \"b\", 2))
print(os.path.isdir(\"b\"), open(\"d\").read().strip())");
    assert_eq!(
        ok(s.root(&format!("echo A > a; echo B > b; mkdir d; {script}"))),
        "EEXIST\nok\nok\nB A\nENOENT\nok\nTrue A\n"
    );
    s.umount();
}

/// Python that builds an ACL attribute as the kernel passes it: `acl((tag,
/// perm, id), ...)` with tags `UO`, `U`, `GO`, `G`, `M`, `O`.
const ACL_PY: &str = "import struct
UO, U, GO, G, M, O = 1, 2, 4, 8, 16, 32
N = 0xffffffff
def acl(*es):
    return struct.pack(\"<I\", 2) + b\"\".join(struct.pack(\"<HHI\", t, p, i) for t, p, i in es)
def show(b):
    return \" \".join(\"%d:%o\" % (t, p) for t, p, i in struct.iter_unpack(\"<HHI\", b[4:]))";

/// Item 7: POSIX ACLs on top of the extended attributes: the kernel
/// enforces `system.posix_acl_access` (a named user gets in, others not;
/// the mask limits it; `chmod` moves the mask), and a directory's
/// `system.posix_acl_default` is inherited by what is made in it in
/// place of the umask (POSIX.1e draft 17, as Linux's `acl(5)` describes).
#[test]
fn posix_acls_are_enforced_and_inherited() {
    need_fuse!();
    let s = Setup::new("acl");
    s.mount(&["--allow-other"], &[]);
    let set = py(&format!(
        "{ACL_PY}
os.setxattr(\"f\", \"system.posix_acl_access\", acl((UO, 6, N), (U, 4, {U1}), (GO, 0, N), (M, 4, N), (O, 0, N)))
os.setxattr(\"dd\", \"system.posix_acl_default\", acl((UO, 7, N), (U, 7, {U1}), (GO, 5, N), (M, 7, N), (O, 0, N)))"
    ));
    ok(s.root(&format!(
        "echo secret > f; chmod 600 f; mkdir dd; chmod 755 dd; {set}"
    )));
    // The mode shows the mask as the group's bits.
    assert_eq!(ok(s.root("stat -c %a f")), "640\n");
    assert_eq!(ok(s.user(U1, G1, &[G1], "cat f")), "secret\n");
    fails_with(s.user(U2, G2, &[G2], "cat f"), libc::EACCES);
    // chmod limits the mask: the named user loses read.
    ok(s.root("chmod 600 f"));
    fails_with(s.user(U1, G1, &[G1], "cat f"), libc::EACCES);
    assert_eq!(
        ok(s.root(&py(&format!(
            "{ACL_PY}\nprint(show(os.getxattr(\"f\", \"system.posix_acl_access\")))"
        )))),
        "1:6 2:4 4:0 16:0 32:0\n"
    );
    // Inheritance in dd: the default ACL, masked by the mode asked for,
    // and no umask (the shell's is 022).
    ok(s.root("echo x > dd/new; mkdir dd/sub; echo y > plain"));
    assert_eq!(
        ok(s.root("stat -c '%n %a' dd/new dd/sub plain")),
        "dd/new 660\ndd/sub 770\nplain 644\n"
    );
    ok(s.user(U1, G1, &[G1], "echo more >> dd/new"));
    fails_with(s.user(U2, G2, &[G2], "cat dd/new"), libc::EACCES);
    assert_eq!(
        ok(s.root(&py(&format!(
            "{ACL_PY}
print(os.getxattr(\"dd/sub\", \"system.posix_acl_default\") == os.getxattr(\"dd\", \"system.posix_acl_default\"))
print(show(os.getxattr(\"dd/new\", \"system.posix_acl_access\")))"
        )))),
        "True\n1:6 2:7 4:5 16:6 32:0\n"
    );
    // Kept across a remount.
    s.umount();
    s.mount(&["--allow-other"], &[]);
    assert_eq!(
        ok(s.user(
            U1,
            G1,
            &[G1],
            "cat dd/new; echo x > dd/sub/u1; stat -c %a dd/sub/u1"
        )),
        "x\nmore\n660\n"
    );
    s.umount();
}

/// Item 8: `st_blocks` counts the bytes written, not the size: a sparse
/// 5 GiB file with 1 MiB written shows 1 MiB of blocks (and one more:
/// extending a file writes its last byte), to `stat` and to `du`; a hole
/// punched gives its blocks back; `df -i` counts inodes: the ones made
/// here are used, free ones are offered.
#[test]
fn blocks_follow_written_extents_and_df_counts_inodes() {
    need_fuse!();
    let s = Setup::new("blocks");
    s.mount(&[], &[]);
    let out = ok(s.root(
        "truncate -s 5G sparse
         dd if=/dev/urandom of=sparse bs=1M count=1 seek=3000 conv=notrunc status=none
         stat -c '%s %b %B' sparse; du -k sparse | cut -f1; du -k --apparent-size sparse | cut -f1
         echo small > small; stat -c %b small
         fallocate -p -o 3145728000 -l 524288 sparse; stat -c %b sparse
         dd if=sparse bs=512K skip=6000 count=1 status=none | cmp -n 524288 - /dev/zero && echo zeros",
    ));
    assert_eq!(
        out,
        format!(
            "{} 2049 512\n1025\n{}\n1\n1025\nzeros\n",
            5u64 << 30,
            5u64 << 20
        )
    );
    let inodes = |o: &str| -> (u64, u64, u64) {
        let v: Vec<u64> = o
            .lines()
            .last()
            .unwrap_or_default()
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        (v[0], v[1], v[2])
    };
    let (total0, used0, free0) = inodes(&ok(s.root("df --output=itotal,iused,iavail .")));
    assert!(
        used0 >= 2 && free0 > 0 && total0 == used0 + free0,
        "{used0} {free0} {total0}"
    );
    let (_, used1, _) = inodes(&ok(s.root(
        "mkdir many; for i in 1 2 3 4 5 6 7 8 9; do echo $i > many/$i; done
         df --output=itotal,iused,iavail .",
    )));
    assert_eq!(used1, used0 + 10);
    s.umount();
}
