//! `rdaos`: DAOS's `dmg pool`, `daos cont` and `dfuse` verbs on rdaos's
//! embedded pools. Every command runs the engine it needs inside this process, on
//! the pool's device in the storage directory, and stops it before
//! exiting.
//!
//! One module per verb group ([`pool`], [`cont`], [`dfuse`]); a new group is a new
//! module with a `clap::Subcommand` enum and a `run` function, plus one
//! variant of [`Cmd`] and one arm in [`run`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rdaos::dfs::errno::libc;
use rdaos::storage::{Storage, STORAGE_ENV};

mod cont;
mod dfuse;
mod out;
mod pool;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "rdaos",
    version,
    about = "Manage rdaos pools and containers (DAOS's dmg/daos verbs, embedded)",
    long_about = "Manage rdaos pools and containers: DAOS's `dmg pool` and `daos cont` verbs \
                  on embedded pools. Each command starts the pool's engine inside this \
                  process, does its work and stops the engine: no server is needed.",
    after_help = "Pools live in the storage directory: --storage DIR, else $RDAOS_STORAGE, \
                  else $XDG_DATA_HOME/rdaos, else ~/.local/share/rdaos. Sizes are binary: \
                  4G = 4GiB = 4 x 2^30 bytes; K, M, G, T, P, E, or plain bytes.\n\n\
                  Exit status: 0 on success, 1 when the command failed, 2 for bad usage.\n\n\
                  Example:\n  \
                  rdaos pool create tank --size 4G\n  \
                  rdaos cont create tank posix --type POSIX --oclass SX --chunk-size 1M\n  \
                  rdaos pool query tank"
)]
struct Cli {
    /// Storage directory holding the pools.
    #[arg(long, global = true, value_name = "DIR", env = STORAGE_ENV)]
    storage: Option<PathBuf>,

    #[command(subcommand)]
    cmd: Cmd,
}

/// The verb groups.
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create, list, query and destroy pools (dmg pool ...)
    #[command(subcommand)]
    Pool(pool::PoolCmd),
    /// Create, list and inspect containers of a pool (daos cont ...)
    #[command(subcommand)]
    Cont(cont::ContCmd),
    /// Mount a POSIX container through FUSE (dfuse)
    Dfuse(dfuse::DfuseArgs),
}

/// A command's failure: one line for the user, and whether it was bad
/// usage (exit status 2) rather than a failure (1).
#[derive(Debug)]
pub struct CliError(String, bool);

impl CliError {
    /// A failure with this message.
    pub fn msg(m: impl Into<String>) -> CliError {
        CliError(m.into(), false)
    }

    /// Bad usage that clap's rules cannot tell, with this message.
    pub fn usage(m: impl Into<String>) -> CliError {
        CliError(format!("{} (see --help)", m.into()), true)
    }
}

impl<E: std::error::Error + 'static> From<E> for CliError {
    /// The error's message, with what to do about it where the lower
    /// layers' error says more than the user can tell from the text.
    fn from(e: E) -> CliError {
        match ring_setup_errno(&e) {
            Some(errno) => CliError(format!("{e}: {}", hint(errno)), false),
            None => CliError(e.to_string(), false),
        }
    }
}

/// What every verb returns.
pub type CliResult = Result<(), CliError>;

fn run(cli: Cli) -> CliResult {
    out::check_kill_at()?;
    let dir = match cli.storage {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Storage::default_dir()?,
    };
    let storage = Storage::open(dir)?;
    match cli.cmd {
        Cmd::Pool(c) => pool::run(&storage, c),
        Cmd::Cont(c) => cont::run(&storage, c),
        Cmd::Dfuse(a) => dfuse::run(&storage, a),
    }
}

/// The errno of io_uring that could not be set up
/// ([`bio::BioError::RingSetup`]) anywhere in `e`'s chain of sources.
fn ring_setup_errno(e: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut at = Some(e);
    while let Some(e) = at {
        if let Some(bio::BioError::RingSetup(bio::Errno(n))) = e.downcast_ref() {
            return Some(*n);
        }
        at = e.source();
    }
    None
}

/// What to do about io_uring that cannot be set up with `errno` (every
/// engine needs it; see README's "Requirements"): the cause the user
/// cannot tell from the message.
fn hint(errno: i32) -> &'static str {
    let os = |n: i32| errno == n;
    if os(libc::EPERM) {
        "io_uring is disabled for this process: sysctl kernel.io_uring_disabled is 2 \
         (or 1, and the user is not in kernel.io_uring_group), or a seccomp profile \
         blocks it (a container runtime's default may); rdaos needs io_uring"
    } else if os(libc::ENOSYS) {
        "this kernel has no io_uring (built without CONFIG_IO_URING); rdaos needs it"
    } else if os(libc::EINVAL) {
        "this kernel's io_uring lacks what rdaos uses (128-byte SQEs, cooperative \
         task running): rdaos needs Linux 5.19 or later"
    } else if os(libc::ENOMEM) {
        "the locked-memory limit is too low for the rings (raise `ulimit -l`)"
    } else {
        "rdaos needs io_uring (Linux 5.19 or later, not disabled)"
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind::*;
            if matches!(
                e.kind(),
                DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                // Help asked for (or a group named without a verb): clap
                // prints it; only the latter is a usage error.
                let _ = e.print();
                return if e.kind() == DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            // clap's message is its lines up to the usage; one line here.
            let text = e.render().to_string();
            let msg: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let msg = msg.join(" ");
            let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
            eprintln!("rdaos: error: {msg} (see --help)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError(m, usage)) => {
            eprintln!("rdaos: error: {m}");
            if usage {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use obj::ObjError;
    use rdaos::storage::StorageError;

    fn engine(source: ObjError) -> StorageError {
        StorageError::Engine {
            label: "p".into(),
            source,
        }
    }

    #[test]
    fn io_uring_hints_come_from_the_error_variant_not_its_text() {
        let ring = |n: i32| engine(ObjError::Bio(bio::BioError::RingSetup(bio::Errno(n))));
        let CliError(m, usage) = CliError::from(ring(libc::EPERM));
        assert!(!usage);
        assert!(
            m.starts_with("pool \"p\": storage: setting up io_uring: "),
            "{m}"
        );
        assert!(m.ends_with(hint(libc::EPERM)), "{m}");
        assert!(m.contains("kernel.io_uring_disabled"), "{m}");
        // Under a store error too (the chain is followed to bio's error).
        let deep = engine(ObjError::from(vos::VosError::Io(bio::BioError::RingSetup(
            bio::Errno(libc::ENOSYS),
        ))));
        let CliError(m, _) = CliError::from(deep);
        assert!(m.ends_with(hint(libc::ENOSYS)), "{m}");
        // The same words from elsewhere earn no hint.
        let text = engine(ObjError::Storage(
            "setting up io_uring: Operation not permitted (os error 1)".into(),
        ));
        let CliError(m, _) = CliError::from(text);
        assert!(!m.contains("kernel.io_uring_disabled"), "{m}");
    }
}
