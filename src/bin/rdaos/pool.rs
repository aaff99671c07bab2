//! `rdaos pool ...`: DAOS's `dmg pool create|list|query|get-prop|set-prop|destroy`
//! on the storage directory.
//!
//! `set-prop POOL label=NEW` is crash safe (see
//! `rdaos::storage::Storage::pool_relabel`); for the tests that prove it,
//! `RDAOS_KILL_AT=pool-relabel:STEP` makes the process kill itself with
//! SIGKILL right after that step.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::{Subcommand, ValueEnum};
use rdaos::bio::{Durability, WriteCache};
use rdaos::size::format_size;
use rdaos::storage::{
    PoolCreateOpts, PoolInfo, PoolSpaceAtRest, Storage, StorageError, DEFAULT_ENGINES,
    DEFAULT_TARGETS_PER_ENGINE,
};

use crate::out::{date, fields, kill_at, percent, size_arg, table, Json};
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
        /// Print JSON (every field, whatever --verbose says; see README)
        #[arg(long, short = 'j')]
        json: bool,
    },
    /// Show a pool's size, space used and free, and targets (starts its engine)
    Query {
        /// Pool label
        label: String,
        /// Also show each target's space
        #[arg(long, short = 'v')]
        verbose: bool,
        /// Print JSON (with each target's space; see README)
        #[arg(long, short = 'j')]
        json: bool,
    },
    /// Show a pool's properties, or one of them (from its metadata; the
    /// engine is not started)
    #[command(after_help = "Example: rdaos pool get-prop tank durability")]
    GetProp {
        /// Pool label
        label: String,
        /// Only this property
        #[arg(value_enum)]
        prop: Option<PoolProp>,
        /// Print JSON (see README)
        #[arg(long, short = 'j')]
        json: bool,
    },
    /// Change a pool's property: `label` (the pool is relabelled) or
    /// `durability` (in force from the pool's next engine start); the
    /// others are read-only
    #[command(after_help = "Examples:\n  rdaos pool set-prop tank label=vat\n  \
                            rdaos pool set-prop vat durability=flush\n  \
                            rdaos pool set-prop vat durability:device   (DAOS's NAME:VALUE)")]
    SetProp {
        /// Pool label
        label: String,
        /// PROP=VALUE (or DAOS's PROP:VALUE): label=NEW, durability=auto|device|flush
        #[arg(value_name = "PROP=VALUE", value_parser = prop_value_arg)]
        setting: (PoolProp, String),
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
        PoolCmd::List { verbose, json } => list(s, verbose, json),
        PoolCmd::Query {
            label,
            verbose,
            json,
        } => query(s, &label, verbose, json),
        PoolCmd::GetProp { label, prop, json } => get_prop(s, &label, prop, json),
        PoolCmd::SetProp {
            label,
            setting: (prop, value),
        } => set_prop(s, &label, prop, &value),
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

/// A pool's properties, by the names `get-prop` shows and `set-prop`
/// takes (also the keys of `--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum PoolProp {
    /// The pool's label (settable: the pool is relabelled)
    Label,
    /// The pool's uuid (read-only)
    Uuid,
    /// Bytes of its device (read-only)
    Size,
    /// Engines (read-only)
    Engines,
    /// Targets in all (read-only)
    Targets,
    /// Targets per engine (read-only)
    TargetsPerEngine,
    /// The device (read-only)
    Device,
    /// When it was made (read-only)
    Created,
    /// The durability contract (settable: auto, device or flush)
    Durability,
}

impl PoolProp {
    /// Its name, as typed.
    fn name(self) -> String {
        self.to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string())
    }
}

/// `set-prop`'s `PROP=VALUE` (or DAOS's `PROP:VALUE`): split at the first
/// `=` or `:` (a label may hold `:`).
fn prop_value_arg(s: &str) -> Result<(PoolProp, String), String> {
    let Some(at) = s.find(['=', ':']) else {
        return Err(format!("{s:?} is not PROP=VALUE (e.g. label=vat)"));
    };
    let (name, value) = (&s[..at], &s[at + 1..]);
    let prop = PoolProp::from_str(name, true).map_err(|_| {
        let known: Vec<String> = PoolProp::value_variants()
            .iter()
            .map(|p| p.name())
            .collect();
        format!(
            "unknown pool property {name:?} (known: {})",
            known.join(", ")
        )
    })?;
    Ok((prop, value.to_string()))
}

/// The pool's contract as chosen, and as in force on its device now
/// (`None` where the device cannot be asked).
fn durability_json(info: &PoolInfo) -> Vec<(&'static str, Json)> {
    let (in_force, cache) = match info.durability_in_force() {
        Ok((d, c)) => (
            Json::str(d.to_string()),
            Json::str(match c {
                WriteCache::WriteThrough => "write_through",
                WriteCache::WriteBack => "write_back",
                _ => "unknown",
            }),
        ),
        Err(_) => (Json::Null, Json::Null),
    };
    vec![
        ("durability", Json::str(info.durability.to_string())),
        ("durability_in_force", in_force),
        ("device_write_cache", cache),
    ]
}

/// A property's value: the text `get-prop` shows, and its JSON key/value
/// pairs.
type PropValue = (String, Vec<(&'static str, Json)>);

/// Property `p` of the pool.
fn prop_value(info: &PoolInfo, p: PoolProp) -> PropValue {
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let one = |k, text: String, j: Json| (text, vec![(k, j)]);
    match p {
        PoolProp::Label => one("label", info.label.clone(), Json::str(&info.label)),
        PoolProp::Uuid => one("uuid", info.uuid_string(), Json::str(info.uuid_string())),
        PoolProp::Size => one("size", format_size(info.size), Json::Num(info.size)),
        PoolProp::Engines => one(
            "engines",
            info.engines.to_string(),
            Json::Num(info.engines.into()),
        ),
        PoolProp::Targets => one(
            "targets",
            info.targets().to_string(),
            Json::Num(info.targets().into()),
        ),
        PoolProp::TargetsPerEngine => one(
            "targets_per_engine",
            info.targets_per_engine.to_string(),
            Json::Num(info.targets_per_engine.into()),
        ),
        PoolProp::Device => {
            let d = info.device.display().to_string();
            one("device", d.clone(), Json::str(d))
        }
        PoolProp::Created => one("created", date(info.created), Json::Num(secs(info.created))),
        PoolProp::Durability => (durability_chosen(info), durability_json(info)),
    }
}

/// The pool's JSON fields from its metadata, without asking the device
/// (what `pool list --json` shows for each pool).
fn pool_json(info: &PoolInfo) -> Vec<(&'static str, Json)> {
    let mut kv = Vec::new();
    for p in PoolProp::value_variants() {
        if *p == PoolProp::Durability {
            kv.push(("durability", Json::str(info.durability.to_string())));
        } else {
            kv.extend(prop_value(info, *p).1);
        }
    }
    kv
}

fn get_prop(s: &Storage, label: &str, prop: Option<PoolProp>, json: bool) -> CliResult {
    let info = s.pool(label)?;
    let props = match prop {
        Some(p) => vec![p],
        None => PoolProp::value_variants().to_vec(),
    };
    let values: Vec<(PoolProp, PropValue)> = props
        .into_iter()
        .map(|p| (p, prop_value(&info, p)))
        .collect();
    if json {
        Json::Obj(values.into_iter().flat_map(|(_, (_, kv))| kv).collect()).print();
        return Ok(());
    }
    let names: Vec<String> = values.iter().map(|(p, _)| p.name()).collect();
    let rows: Vec<(&str, String)> = names
        .iter()
        .zip(values)
        .map(|(n, (_, (text, _)))| (n.as_str(), text))
        .collect();
    fields(&format!("Properties of pool {label:?}"), &rows);
    Ok(())
}

fn set_prop(s: &Storage, label: &str, prop: PoolProp, value: &str) -> CliResult {
    match prop {
        PoolProp::Label => {
            let info = s.pool_relabel(label, value, &mut kill_at("pool-relabel"))?;
            if info.label == label {
                println!("Pool {label:?} is already labelled so: nothing changed");
            } else {
                println!("Pool {label:?} is now labelled {:?}", info.label);
            }
        }
        PoolProp::Durability => {
            let d: Durability = value.parse().map_err(CliError::msg)?;
            let was = s.pool(label)?.durability;
            let info = s.pool_set_durability(label, d)?;
            if was == d {
                println!("Pool {label:?} already has durability {d}: nothing changed");
            } else {
                let auto = match info.durability_in_force() {
                    Ok((r, cache)) if d == Durability::Auto => {
                        format!("; auto will mean {r} here: the device has {cache}")
                    }
                    _ => String::new(),
                };
                println!(
                    "Pool {label:?}: durability {d} (was {was}), in force from the pool's next \
                     engine start (the next rdaos command or dfuse mount on it){auto}"
                );
            }
        }
        p => {
            return Err(CliError::msg(format!(
                "pool property {} is read-only (fixed when the pool was created); \
                 settable: label, durability",
                p.name()
            )))
        }
    }
    Ok(())
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

/// The pool's contract as chosen, then as in force on its device now.
fn durability_chosen(info: &PoolInfo) -> String {
    let chosen = info.durability;
    match info.durability_in_force() {
        Ok((d, cache)) => format!("{chosen} (in force: {d}; the device has {cache})"),
        Err(e) => format!("{chosen} (in force: unknown, the device cannot be asked: {e})"),
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

/// `pool list`'s space keys for one pool, read from its device without
/// starting its engine (null where it cannot be read).
fn space_json(space: &Result<PoolSpaceAtRest, StorageError>) -> Vec<(&'static str, Json)> {
    match space {
        Ok(sp) => vec![
            ("data_space", Json::Num(sp.data_space)),
            ("used", Json::Num(sp.used)),
            ("free", Json::Num(sp.free)),
            ("space_exact", Json::Bool(sp.exact)),
        ],
        Err(_) => vec![
            ("data_space", Json::Null),
            ("used", Json::Null),
            ("free", Json::Null),
            ("space_exact", Json::Null),
        ],
    }
}

fn list(s: &Storage, verbose: bool, json: bool) -> CliResult {
    let pools = s.pool_list()?;
    if json {
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for p in pools {
            match p.info {
                Ok(i) => {
                    let mut kv = pool_json(&i);
                    kv.extend(space_json(&s.pool_space(&i.label)));
                    ok.push(Json::Obj(kv));
                }
                Err(e) => bad.push(Json::Obj(vec![
                    ("label", Json::str(p.label)),
                    ("error", Json::str(e.to_string())),
                ])),
            }
        }
        Json::Obj(vec![
            ("storage", Json::str(s.dir().display().to_string())),
            ("pools", Json::Arr(ok)),
            ("unreadable", Json::Arr(bad)),
        ])
        .print();
        return Ok(());
    }
    if pools.is_empty() {
        println!("No pools in {}", s.dir().display());
        return Ok(());
    }
    let mut rows = Vec::new();
    let mut damaged = Vec::new();
    let mut inexact = false;
    for p in pools {
        match p.info {
            Ok(i) => {
                let (used, free) = match s.pool_space(&i.label) {
                    Ok(sp) => {
                        let mark = if sp.exact { "" } else { "*" };
                        inexact |= !sp.exact;
                        (
                            format!(
                                "{}{mark} ({})",
                                format_size(sp.used),
                                percent(sp.used, sp.data_space)
                            ),
                            format!("{}{mark}", format_size(sp.free)),
                        )
                    }
                    Err(_) => ("-".to_string(), "-".to_string()),
                };
                let mut r = vec![
                    i.label.clone(),
                    i.uuid_string(),
                    format_size(i.size),
                    used,
                    free,
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
    let mut header = vec!["Label", "UUID", "Size", "Used", "Free", "Targets"];
    if verbose {
        header.extend(["Engines", "Created", "Device"]);
    }
    if !rows.is_empty() {
        table(&header, &rows);
    }
    if inexact {
        println!(
            "* as of the pool's last checkpoints (in use, or not closed cleanly); \
             `pool query` asks its engine"
        );
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

fn query(s: &Storage, label: &str, verbose: bool, json: bool) -> CliResult {
    let conn = s.connect(label)?;
    let space = conn
        .client()
        .pool_query()
        .map_err(|e| CliError::msg(format!("pool {label:?}: query: {e}")))?;
    let info = conn.info().clone();
    conn.close()?;
    let used = space.used();
    if json {
        let mut kv = pool_json(&info);
        kv.retain(|(k, _)| *k != "durability");
        kv.extend(durability_json(&info));
        kv.extend([
            ("data_space", Json::Num(space.total)),
            ("used", Json::Num(used)),
            ("free", Json::Num(space.free)),
        ]);
        let per: Vec<Json> = space
            .per_target
            .iter()
            .map(|(t, sp)| {
                Json::Obj(vec![
                    ("engine", Json::Num(t.engine.into())),
                    ("target", Json::Num(t.target.into())),
                    ("data_space", Json::Num(sp.capacity)),
                    ("used", Json::Num(sp.capacity - sp.free)),
                    ("free", Json::Num(sp.free)),
                ])
            })
            .collect();
        kv.push(("per_target", Json::Arr(per)));
        Json::Obj(kv).print();
        return Ok(());
    }
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
