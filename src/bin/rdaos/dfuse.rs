//! `rdaos dfuse`: DAOS's `dfuse` on an embedded pool. Starts the pool's
//! engine in this process, mounts a POSIX container at a directory through
//! FUSE ([`rdaos::dfs::fuse`]) and serves it until `SIGINT`, `SIGTERM` or
//! an outside `umount`; then waits for every reply in flight, unmounts and
//! stops the engine (every target checkpoints), so whatever a program saw
//! acknowledged is on the pool for the next mount.
//!
//! Several containers of the pool mount in one process, one engine and
//! one FUSE session each: `--mountpoint M1 --cont A --mountpoint M2 --cont
//! B` (the Nth `--mountpoint` mounts the Nth `--cont`; DAOS's flags,
//! repeated). The daemon serves until a signal or until every one of
//! them has been unmounted from outside.
//!
//! On `SIGINT` / `SIGTERM` each mount is unmounted (lazily while files
//! are open on it); the log says how many files are still open and how
//! long the daemon waits for them (`--request-timeout`), after which, or
//! at a second signal, it stops without them: every acknowledged write
//! is kept, the engine checkpoints, and the process exits with status 1.
//!
//! Without `--foreground` it daemonizes as dfuse does: the command returns
//! once the mount is up (or with the error that prevented it), and the
//! daemon goes on in its own session, its standard output and error
//! appended to its log file (`--log FILE`, by default `dfuse.log` in the
//! pool's directory; DAOS's `D_LOG_FILE`), at the level `RDAOS_LOG` says
//! (`error`, `warn`, `info` or `debug`; default `warn`; DAOS's
//! `D_LOG_MASK`): the watchdog's reports, failed I/O, mounts and
//! unmounts, and the error that stopped it. In the foreground the log is
//! standard error unless `--log` is given.
//!
//! `--allow-other` lets every user of the node in (FUSE's `allow_other`,
//! as DAOS's dfuse serves a node's users); the kernel checks each access
//! against the mode, owner and group stored per entry
//! (`default_permissions`).

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

use clap::Args;
use rdaos::dfs::fuse::log::{self, Level};
use rdaos::dfs::fuse::{Dfuse, DfuseConfig, DfuseError, Served};
use rdaos::storage::Storage;

use crate::{CliError, CliResult};

/// `rdaos dfuse`'s arguments: `MOUNTPOINT POOL CONT` as dfuse takes them
/// (`dfuse /mnt/posix tank posix`), or the same as flags (`--mountpoint`,
/// `--pool`, `--cont`); each one either way, not both. The flags
/// `--mountpoint` and `--cont` repeat in pairs to mount several
/// containers of the pool in one process.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  rdaos dfuse /mnt/posix tank posix\n  \
                  (or: rdaos dfuse --mountpoint /mnt/posix --pool tank --cont posix)\n  \
                  dd if=/dev/zero of=/mnt/posix/0 bs=1M count=100 oflag=direct\n  \
                  umount /mnt/posix\n\n  \
                  Two containers of one pool, one process (the Nth --mountpoint mounts the Nth --cont):\n  \
                  rdaos dfuse --pool tank --mountpoint /mnt/a --cont a --mountpoint /mnt/b --cont b")]
pub struct DfuseArgs {
    /// Directory to mount the container at (must exist)
    #[arg(value_name = "MOUNTPOINT", conflicts_with = "mountpoint")]
    mountpoint_pos: Option<PathBuf>,
    /// Pool label
    #[arg(value_name = "POOL", conflicts_with = "pool")]
    pool_pos: Option<String>,
    /// Container label (a POSIX container: `rdaos cont create POOL LABEL --type POSIX`)
    #[arg(value_name = "CONT", conflicts_with = "cont")]
    cont_pos: Option<String>,
    /// Directory to mount a container at, as a flag (instead of
    /// MOUNTPOINT); repeat it with --cont to mount several containers
    #[arg(long, short = 'm', value_name = "DIR", action = clap::ArgAction::Append)]
    mountpoint: Vec<PathBuf>,
    /// Pool label, as a flag (instead of POOL)
    #[arg(long, short = 'p')]
    pool: Option<String>,
    /// Container label, as a flag (instead of CONT); the Nth --cont is
    /// mounted at the Nth --mountpoint
    #[arg(long, short = 'c', action = clap::ArgAction::Append)]
    cont: Vec<String>,
    /// Stay in the foreground (Ctrl-C unmounts) instead of daemonizing
    #[arg(long, short = 'f')]
    foreground: bool,
    /// Seconds a request may go unanswered before the daemon reports it
    /// in its log (a read, write, fsync, close or release is then
    /// answered EIO by the daemon itself), and how long a stop on
    /// SIGINT/SIGTERM waits for files still open (then it stops without
    /// them)
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout: u64,
    /// Let every user in (FUSE's allow_other; the kernel checks each
    /// access against the stored mode, owner and group)
    #[arg(long)]
    allow_other: bool,
    /// The daemon's log file, appended to (default: dfuse.log in the
    /// pool's directory; in the foreground: standard error). Level:
    /// RDAOS_LOG=error|warn|info|debug (default warn)
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
}

/// What to mount, whichever way it was given.
#[derive(Debug)]
struct Mount {
    /// (mount point, container), one per FUSE mount.
    mounts: Vec<(PathBuf, String)>,
    pool: String,
    foreground: bool,
    request_timeout: u64,
    allow_other: bool,
    log: Option<PathBuf>,
}

impl DfuseArgs {
    /// The mounts asked for. clap has refused an argument given both
    /// ways; one given neither way is a usage error naming both, and so
    /// are unpaired or repeated mount points and containers.
    fn mount(self) -> Result<Mount, CliError> {
        let missing = |pos: &str, flag: &str| {
            CliError::usage(format!(
                "missing {pos}: rdaos dfuse MOUNTPOINT POOL CONT, or {flag} with the other flags"
            ))
        };
        let mps: Vec<PathBuf> = if self.mountpoint.is_empty() {
            self.mountpoint_pos.into_iter().collect()
        } else {
            self.mountpoint
        };
        let conts: Vec<String> = if self.cont.is_empty() {
            self.cont_pos.into_iter().collect()
        } else {
            self.cont
        };
        if mps.is_empty() {
            return Err(missing("MOUNTPOINT", "--mountpoint"));
        }
        let pool = self
            .pool
            .or(self.pool_pos)
            .ok_or_else(|| missing("POOL", "--pool"))?;
        if conts.is_empty() {
            return Err(missing("CONT", "--cont"));
        }
        if mps.len() != conts.len() {
            return Err(CliError::usage(format!(
                "{} mount points and {} containers: give one --mountpoint per --cont, in \
                 pairs (--mountpoint M1 --cont A --mountpoint M2 --cont B)",
                mps.len(),
                conts.len()
            )));
        }
        for (i, (m, c)) in mps.iter().zip(&conts).enumerate() {
            if mps[..i].contains(m) {
                return Err(CliError::usage(format!(
                    "mount point {} given twice",
                    m.display()
                )));
            }
            if conts[..i].contains(c) {
                return Err(CliError::usage(format!(
                    "container {c:?} given twice: a container is mounted once at a time"
                )));
            }
        }
        Ok(Mount {
            mounts: mps.into_iter().zip(conts).collect(),
            pool,
            foreground: self.foreground,
            request_timeout: self.request_timeout,
            allow_other: self.allow_other,
            log: self.log,
        })
    }
}

/// Refuses a mount point that is not a directory, and explains one left
/// over by a daemon that ended without unmounting (a stale FUSE mount
/// answers every access with ENOTCONN) with the command that clears it.
fn check_mountpoint(m: &std::path::Path) -> CliResult {
    match std::fs::metadata(m) {
        Ok(md) if md.is_dir() => Ok(()),
        Ok(_) => Err(CliError::msg(format!(
            "mountpoint {}: not a directory",
            m.display()
        ))),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Err(CliError::msg(format!(
            "mountpoint {m}: a stale mount, left by a dfuse that ended without unmounting; \
             clear it with `fusermount3 -u {m}` (or `umount -l {m}` as root), then mount again",
            m = m.display()
        ))),
        Err(e) => Err(CliError::msg(format!("mountpoint {}: {e}", m.display()))),
    }
}

/// Runs `rdaos dfuse`.
pub fn run(storage: &Storage, a: DfuseArgs) -> CliResult {
    let a = a.mount()?;
    for (m, _) in &a.mounts {
        check_mountpoint(m)?;
    }
    // Checked before forking, so a typo fails in the foreground.
    storage.pool(&a.pool)?;
    Level::from_env().map_err(|e| CliError::usage(format!("{}: {e}", log::LOG_ENV)))?;
    let log_path = match (&a.log, a.foreground) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => None,
        (None, false) => Some(storage.dir().join(&a.pool).join("dfuse.log")),
    };
    let log_file = match &log_path {
        Some(p) => Some(open_log(p)?),
        None => None,
    };
    if a.foreground {
        return serve(storage, &a, |m| {
            println!("{m}");
            // From the mount on, what the daemon says goes to the log
            // file; an error before it stays on the terminal.
            if let Some(f) = &log_file {
                // SAFETY: dup2 onto standard error of a descriptor this
                // function owns; no memory is involved.
                unsafe { libc::dup2(f.as_raw_fd(), 2) };
            }
        });
    }
    let (rd, wr) = pipe()?;
    // SAFETY: no thread has been started yet in this process (clap and
    // the storage lookup run on the main thread only), so the child is a
    // complete copy that may go on running Rust code.
    match unsafe { libc::fork() } {
        -1 => Err(CliError::msg(format!(
            "fork: {}",
            std::io::Error::last_os_error()
        ))),
        0 => {
            drop(rd);
            // The write end goes once the mount is up (the caller then
            // returns), or with the error that prevented it.
            let wr = std::cell::RefCell::new(Some(std::fs::File::from(wr)));
            let r = serve(storage, &a, |m| {
                if let Some(mut w) = wr.borrow_mut().take() {
                    let _ = writeln!(w, "{m}");
                }
                detach(log_file.as_ref());
            });
            if let Err(CliError(m, _)) = &r {
                match wr.borrow_mut().take() {
                    Some(mut w) => {
                        let _ = writeln!(w, "rdaos: error: {m}");
                    }
                    // Mounted, then failed: only the log can tell.
                    None => log::log(Level::Error, format_args!("{m}")),
                }
            }
            std::process::exit(if r.is_ok() { 0 } else { 1 });
        }
        _ => {
            drop(wr);
            // The daemon writes one line when mounted, or its error, then
            // closes its end.
            let mut msg = String::new();
            let _ = std::fs::File::from(rd).read_to_string(&mut msg);
            match msg.trim().strip_prefix("rdaos: error: ") {
                Some(e) => Err(CliError::msg(e)),
                None if msg.trim().is_empty() => {
                    Err(CliError::msg("the dfuse daemon exited before mounting"))
                }
                None => {
                    println!("{}", msg.trim());
                    Ok(())
                }
            }
        }
    }
}

/// Engine, mounts, serve; `mounted` is told once every mount is up.
fn serve(storage: &Storage, a: &Mount, mounted: impl FnOnce(String)) -> CliResult {
    let pool = storage.start(&a.pool)?;
    // A missing container is said so, not as the mount's status code.
    for (_, cont) in &a.mounts {
        let have = {
            let sched = rdaos::tse::Sched::new();
            pool.client(&sched.handle()).cont_targets(cont)
        };
        if let Ok((0, _)) = have {
            let _ = pool.stop();
            return Err(CliError::msg(format!(
                "container {cont:?} not found in pool {:?}",
                a.pool
            )));
        }
    }
    let mut fuses = Vec::new();
    for (mp, cont) in &a.mounts {
        let mut cfg = DfuseConfig::new(mp, cont, pool.engine().transport());
        cfg.request_timeout = std::time::Duration::from_secs(a.request_timeout);
        cfg.allow_other = a.allow_other;
        match Dfuse::mount(cfg) {
            Ok(f) => fuses.push(f),
            Err(e) => {
                for f in fuses {
                    let _ = f.unmount();
                }
                let _ = pool.stop();
                return Err(CliError::msg(format!(
                    "mounting container {cont:?} of pool {:?}: {e}",
                    a.pool
                )));
            }
        }
    }
    let lines: Vec<String> = a
        .mounts
        .iter()
        .map(|(mp, cont)| {
            format!(
                "container {cont} of pool {} mounted at {} ({}umount {} to stop)",
                a.pool,
                mp.display(),
                if a.foreground { "Ctrl-C or " } else { "" },
                mp.display()
            )
        })
        .collect();
    mounted(lines.join("\n"));
    for (mp, cont) in &a.mounts {
        log::log(
            Level::Info,
            format_args!(
                "container {cont} of pool {} mounted at {}{}",
                a.pool,
                mp.display(),
                if a.allow_other { " for every user" } else { "" }
            ),
        );
    }
    let grace = std::time::Duration::from_secs(a.request_timeout);
    let served = Dfuse::serve_until_signal(fuses, grace);
    let stopped = pool.stop();
    let what: Vec<String> = a
        .mounts
        .iter()
        .map(|(m, _)| m.display().to_string())
        .collect();
    match (&served, &stopped) {
        (Ok(Served::Unmounted), Ok(())) => log::log(
            Level::Info,
            format_args!("{} unmounted, pool stopped", what.join(", ")),
        ),
        (Ok(Served::Forced { .. }), Ok(())) => log::log(
            Level::Warn,
            format_args!(
                "pool {} stopped (every target checkpointed) with files still open on {}",
                a.pool,
                what.join(", ")
            ),
        ),
        _ => {}
    }
    let stopped = stopped.map_err(CliError::from);
    match served? {
        Served::Unmounted => stopped,
        Served::Forced {
            open,
            second_signal,
        } => {
            stopped?;
            Err(CliError::from(DfuseError::Forced {
                open,
                second_signal,
            }))
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), CliError> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(CliError::msg(format!(
            "pipe: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: both descriptors were just created and are owned here only.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Opens (creates) the log file for appending.
fn open_log(p: &std::path::Path) -> Result<std::fs::File, CliError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(p)
        .map_err(|e| CliError::msg(format!("log file {}: {e}", p.display())))
}

/// The daemon leaves the caller's session and terminal: a new session,
/// standard input on /dev/null, standard output and error on the log
/// file (on /dev/null without one).
fn detach(log: Option<&std::fs::File>) {
    // SAFETY: setsid, open and dup2 take no Rust-owned memory but the
    // NUL-terminated path literal and a descriptor the caller keeps open;
    // failures leave the streams as they were.
    unsafe {
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            let out = log.map_or(null, |f| f.as_raw_fd());
            libc::dup2(null, 0);
            libc::dup2(out, 1);
            libc::dup2(out, 2);
            if null > 2 {
                libc::close(null);
            }
        }
    }
}
