//! `rdaos pool ...`: DAOS's `dmg pool create|list|query|destroy` on the
//! storage directory.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Subcommand;
use rdaos::bio::Durability;
use rdaos::size::format_size;
use rdaos::storage::{
    PoolCreateOpts, PoolInfo, Storage, DEFAULT_ENGINES, DEFAULT_TARGETS_PER_ENGINE,
};

use crate::out::{date, fields, percent, size_arg, table};
use crate::{CliError, CliResult};

/// The pool verbs.
#[derive(Debug, Subcommand)]
pub enum PoolCmd {
    /// Create a pool: format its device and record it in the storage directory
    #[command(after_help = "Example: rdaos pool create tank --size 4G --targets 4")]
    Create {
        /// Pool label: 1-127 characters of A-Z a-z 0-9 _ . : - (not a UUID)
        label: String,
        /// Pool size: 4g, 4G, 4GiB, 512M, 1.5GiB, bytes (binary units; at least 16 MiB per
        /// target). `-z` as in `dmg pool create -z 4g`; `-s` is kept as an alias
        #[arg(long, short = 'z', short_alias = 's', value_parser = size_arg)]
        size: u64,
        /// Targets per engine (each target is a thread with its own ring and VOS region)
        #[arg(long, short = 't', default_value_t = DEFAULT_TARGETS_PER_ENGINE,
              value_parser = clap::value_parser!(u32).range(1..))]
        targets: u32,
        /// Engines (fault domains) the targets are spread over
        #[arg(long, default_value_t = DEFAULT_ENGINES,
              value_parser = clap::value_parser!(u32).range(1..))]
        engines: u32,
        /// Device: a file (created or grown to --size), a block device or an NVMe
        /// namespace (/dev/ng0n1), instead of pool.dev in the storage directory.
        /// A block device or namespace is used whole
        #[arg(long, short = 'p', value_name = "FILE|/dev/...")]
        path: Option<PathBuf>,
        /// When a write is acknowledged: `device` once the device completed it (DAOS's;
        /// power-loss safe only without a volatile write cache), `flush` once a flush
        /// after it completed (power-loss safe everywhere), `auto` device where the
        /// device has no volatile write cache, flush elsewhere
        #[arg(long, default_value = "auto", value_name = "auto|device|flush",
              value_parser = durability_arg)]
        durability: Durability,
        /// Use --path even if it is a file holding data (overwritten) or a
        /// missing path under /dev (a regular file is made there)
        #[arg(long, short = 'f')]
        force: bool,
    },
    /// List the pools of the storage directory
    #[command(visible_alias = "ls")]
    List {
        /// Also show engines, device and creation time
        #[arg(long, short = 'v')]
        verbose: bool,
    },
    /// Show a pool's size, space used and free, and targets (starts its engine)
    Query {
        /// Pool label
        label: String,
        /// Also show each target's space
        #[arg(long, short = 'v')]
        verbose: bool,
    },
    /// Check a pool's logs without starting it or writing anything: what each
    /// target's WAL replay would apply, a torn tail it would drop, and damage to
    /// acknowledged records (which stops the pool from starting) with what a
    /// salvage up to the damage would keep
    Check {
        /// Pool label
        label: String,
    },
    /// Destroy a pool and its data (a device named with --path at create is kept);
    /// a pool that holds containers only with --recursive
    Destroy {
        /// Pool label
        label: String,
        /// Also destroy the pool's containers (without it, a pool that holds
        /// containers, or whose engine cannot start to tell, is refused)
        #[arg(long, short = 'r')]
        recursive: bool,
    },
}

/// Runs a pool verb.
pub fn run(s: &Storage, cmd: PoolCmd) -> CliResult {
    match cmd {
        PoolCmd::Create {
            label,
            size,
            targets,
            engines,
            path,
            durability,
            force,
        } => create(
            s,
            &label,
            PoolCreateOpts {
                size,
                engines,
                targets_per_engine: targets,
                path,
                durability,
                force,
            },
        ),
        PoolCmd::List { verbose } => list(s, verbose),
        PoolCmd::Query { label, verbose } => query(s, &label, verbose),
        PoolCmd::Check { label } => check(s, &label),
        PoolCmd::Destroy { label, recursive } => {
            if recursive {
                s.pool_destroy(&label)?;
            } else {
                s.pool_destroy_empty(&label)?;
            }
            println!("Pool {label:?} destroyed");
            Ok(())
        }
    }
}

fn layout(i: &PoolInfo) -> String {
    let e = if i.engines == 1 { "engine" } else { "engines" };
    format!(
        "{} ({} {e} x {} per engine)",
        i.targets(),
        i.engines,
        i.targets_per_engine
    )
}

fn create(s: &Storage, label: &str, opts: PoolCreateOpts) -> CliResult {
    let what = format!(
        "Creating pool {label:?}: {}, {} targets",
        format_size(opts.size),
        opts.engines * opts.targets_per_engine
    );
    let info = with_progress(&what, || s.pool_create(label, &opts))?;
    fields(
        "Pool created",
        &[
            ("UUID", info.uuid_string()),
            ("Label", info.label.clone()),
            ("Size", format_size(info.size)),
            ("Targets", layout(&info)),
            ("Device", info.device.display().to_string()),
            ("Durability", durability(&info)),
        ],
    );
    Ok(())
}

fn durability_arg(s: &str) -> Result<Durability, String> {
    s.parse()
}

/// The pool's contract as chosen and as in force on its device.
fn durability(info: &PoolInfo) -> String {
    match info.durability_in_force() {
        Ok((d, cache)) if info.durability == Durability::Auto => {
            format!("{d} (auto: the device has {cache})")
        }
        Ok((d, cache)) => format!("{d} (the device has {cache})"),
        Err(e) => format!("{} (the device cannot be asked: {e})", info.durability),
    }
}

/// Runs `f`; if it takes more than a moment and stderr is a terminal,
/// shows `what` with the seconds elapsed meanwhile.
fn with_progress<T>(what: &str, f: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return f();
    }
    let (done, wait) = mpsc::channel::<()>();
    let what = what.to_string();
    let shower = std::thread::spawn(move || {
        let start = Instant::now();
        if wait.recv_timeout(Duration::from_millis(700)) != Err(mpsc::RecvTimeoutError::Timeout) {
            return;
        }
        let spin = ['|', '/', '-', '\\'];
        let mut i = 0;
        loop {
            eprint!(
                "\r{what} ... {} {:.0}s ",
                spin[i % spin.len()],
                start.elapsed().as_secs_f64()
            );
            i += 1;
            if wait.recv_timeout(Duration::from_millis(200)) != Err(mpsc::RecvTimeoutError::Timeout)
            {
                // Clear the line before the result is printed.
                eprint!("\r{}\r", " ".repeat(what.len() + 16));
                return;
            }
        }
    });
    let r = f();
    drop(done);
    let _ = shower.join();
    r
}

fn list(s: &Storage, verbose: bool) -> CliResult {
    let pools = s.pool_list()?;
    if pools.is_empty() {
        println!("No pools in {}", s.dir().display());
        return Ok(());
    }
    let mut rows = Vec::new();
    let mut damaged = Vec::new();
    for p in pools {
        match p.info {
            Ok(i) => {
                let mut r = vec![
                    i.label.clone(),
                    i.uuid_string(),
                    format_size(i.size),
                    i.targets().to_string(),
                ];
                if verbose {
                    r.push(i.engines.to_string());
                    r.push(date(i.created));
                    r.push(i.device.display().to_string());
                }
                rows.push(r);
            }
            Err(e) => damaged.push((p.label, e)),
        }
    }
    let mut header = vec!["Label", "UUID", "Size", "Targets"];
    if verbose {
        header.extend(["Engines", "Created", "Device"]);
    }
    if !rows.is_empty() {
        table(&header, &rows);
    }
    for (label, e) in &damaged {
        eprintln!("rdaos: warning: pool directory {label:?} is unreadable: {e}");
    }
    Ok(())
}

fn check(s: &Storage, label: &str) -> CliResult {
    let checks = s.pool_check(label)?;
    let mut rows = Vec::new();
    let mut damaged = 0;
    for c in &checks {
        let l = &c.log;
        let state = match (&l.damage, l.torn) {
            (Some(d), _) => {
                damaged += 1;
                format!(
                    "DAMAGED at device offset {}: records {}..{} were acknowledged and cannot be read; \
                     a salvage would keep the {} records before them and lose the rest",
                    d.off,
                    d.seq,
                    d.acked.saturating_sub(1),
                    l.replayable
                )
            }
            (None, Some((seq, after))) => format!(
                "torn tail at record {seq} (never acknowledged): replay drops it{}",
                if after > 0 {
                    format!(" and {after} records after it")
                } else {
                    String::new()
                }
            ),
            (None, None) => "ok".to_string(),
        };
        rows.push(vec![
            c.target.to_string(),
            c.checkpoint.to_string(),
            l.from.seq.to_string(),
            l.replayable.to_string(),
            state,
        ]);
    }
    println!("Pool {label:?}: {} targets checked", checks.len());
    table(
        &["Target", "Checkpoint", "From record", "Replays", "Log"],
        &rows,
    );
    if damaged > 0 {
        return Err(CliError::msg(format!(
            "pool {label:?}: {damaged} of {} targets lost acknowledged records; the pool will not start",
            checks.len()
        )));
    }
    Ok(())
}

fn query(s: &Storage, label: &str, verbose: bool) -> CliResult {
    let conn = s.connect(label)?;
    let space = conn
        .client()
        .pool_query()
        .map_err(|e| CliError::msg(format!("pool {label:?}: query: {e}")))?;
    let info = conn.info().clone();
    conn.close()?;
    let used = space.used();
    fields(
        &format!("Pool {label:?}"),
        &[
            ("UUID", info.uuid_string()),
            ("Size", format_size(info.size)),
            ("Data space", format_size(space.total)),
            (
                "Used",
                format!("{} ({})", format_size(used), percent(used, space.total)),
            ),
            ("Free", format_size(space.free)),
            ("Targets", layout(&info)),
            ("Device", info.device.display().to_string()),
            ("Durability", durability(&info)),
        ],
    );
    if verbose {
        let rows: Vec<Vec<String>> = space
            .per_target
            .iter()
            .map(|(t, sp)| {
                vec![
                    format!("{}.{}", t.engine, t.target),
                    format_size(sp.capacity),
                    format_size(sp.capacity - sp.free),
                    format_size(sp.free),
                ]
            })
            .collect();
        println!();
        table(&["Target", "Data space", "Used", "Free"], &rows);
    }
    Ok(())
}
