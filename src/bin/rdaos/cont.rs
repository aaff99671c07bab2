//! `rdaos cont ...`: DAOS's `daos cont
//! create|destroy|list|query|get-prop|set-prop` on a pool of the storage
//! directory. A query shows the pool's space used and free: the engine
//! keeps no space account per container.
//!
//! Create, destroy and relabel are crash safe (see
//! `rdaos::storage::PoolConn::cont_create_posix`,
//! `PoolConn::cont_relabel`). For the tests that prove it, the test hook
//! `RDAOS_KILL_AT=cont-create:STEP`, `cont-destroy:STEP` or
//! `cont-relabel:STEP` makes the process kill itself with SIGKILL right
//! after that step (see `out::KILL_POINTS`).

use clap::builder::PossibleValue;
use clap::{Subcommand, ValueEnum};
use rdaos::dfs::errno::libc;
use rdaos::dfs::{Dfs, DfsAttr, DfsError};
use rdaos::obj::oclass::ObjClass;
use rdaos::size::format_size_exact;
use rdaos::storage::{PoolConn, Storage};
use rdaos::vos::ContId;

use crate::out::{fields, kill_at, oclass_arg, percent, size_arg, table, Json};
use crate::{CliError, CliResult};
use rdaos::size::format_size;

/// Container types `cont create` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum ContType {
    /// A POSIX file system (dfs): a superblock and a root directory
    Posix,
}

/// The container verbs.
#[derive(Debug, Subcommand)]
pub enum ContCmd {
    /// Create a container in a pool (a POSIX container is formatted with dfs mkfs)
    #[command(
        after_help = "Example: rdaos cont create tank posix --type POSIX --oclass SX --chunk-size 1M"
    )]
    Create {
        /// Pool label
        pool: String,
        /// Container label: 1-127 characters of A-Z a-z 0-9 _ . : - (not a UUID)
        label: String,
        /// Container type
        #[arg(
            long = "type",
            value_name = "TYPE",
            value_enum,
            ignore_case = true,
            default_value = "POSIX"
        )]
        kind: ContType,
        /// Object class of files: S1, S2, SX, RP_2G1, RP_3G1, RP_2GX [default: SX]
        #[arg(long, value_parser = oclass_arg)]
        oclass: Option<ObjClass>,
        /// Object class of directories [default: S1]
        #[arg(long, value_parser = oclass_arg)]
        dir_oclass: Option<ObjClass>,
        /// Chunk size of files: 1M, 512K, bytes (binary units) [default: 1M]
        #[arg(long, value_parser = size_arg)]
        chunk_size: Option<u64>,
    },
    /// Destroy a container and its data (also one whose create was cut short)
    #[command(after_help = "Example: rdaos cont destroy tank posix")]
    Destroy {
        /// Pool label
        pool: String,
        /// Container label
        label: String,
    },
    /// List the containers of a pool
    #[command(visible_alias = "ls")]
    List {
        /// Pool label
        pool: String,
        /// Print JSON (see README)
        #[arg(long, short = 'j')]
        json: bool,
    },
    /// Show a container's identity, type and layout, and the space of its
    /// pool (the engine does not account space per container)
    Query {
        /// Pool label
        pool: String,
        /// Container label
        label: String,
        /// Print JSON (see README)
        #[arg(long, short = 'j')]
        json: bool,
    },
    /// Show a container's properties (type, object classes, chunk size, ...)
    GetProp {
        /// Pool label
        pool: String,
        /// Container label
        label: String,
        /// Print JSON (see README)
        #[arg(long, short = 'j')]
        json: bool,
    },
    /// Change a container's property: `label` (the container is
    /// relabelled, crash safe); type, uuid, oclass, dir_oclass and
    /// chunk_size are read-only
    #[command(
        after_help = "Examples:\n  rdaos cont set-prop tank posix label=scratch\n  \
                            rdaos cont set-prop tank scratch label:posix   (DAOS's NAME:VALUE)"
    )]
    SetProp {
        /// Pool label
        pool: String,
        /// Container label
        label: String,
        /// PROP=VALUE (or DAOS's PROP:VALUE): label=NEW
        #[arg(value_name = "PROP=VALUE", value_parser = prop_value_arg)]
        setting: (ContProp, String),
    },
}

/// A container's properties, by the names `get-prop --json` shows and
/// `set-prop` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ContProp {
    /// The container's label (settable: the container is relabelled)
    Label,
    /// Its uuid (read-only)
    Uuid,
    /// Its type (read-only)
    Type,
    /// Object class of files (read-only)
    Oclass,
    /// Object class of directories (read-only)
    DirOclass,
    /// Chunk size of files (read-only)
    ChunkSize,
}

impl ContProp {
    /// Its name, as typed.
    fn name(self) -> String {
        self.to_possible_value()
            .as_ref()
            .map_or_else(String::new, |v: &PossibleValue| v.get_name().to_string())
    }
}

/// `set-prop`'s `PROP=VALUE` (or DAOS's `PROP:VALUE`): split at the first
/// `=` or `:` (a label may hold `:`).
fn prop_value_arg(s: &str) -> Result<(ContProp, String), String> {
    let Some(at) = s.find(['=', ':']) else {
        return Err(format!("{s:?} is not PROP=VALUE (e.g. label=scratch)"));
    };
    let (name, value) = (&s[..at], &s[at + 1..]);
    let prop = ContProp::from_str(name, true).map_err(|_| {
        let known: Vec<String> = ContProp::value_variants()
            .iter()
            .map(|p| p.name())
            .collect();
        format!(
            "unknown container property {name:?} (known: {})",
            known.join(", ")
        )
    })?;
    Ok((prop, value.to_string()))
}

/// Runs a container verb.
pub fn run(s: &Storage, cmd: ContCmd) -> CliResult {
    match cmd {
        ContCmd::Create {
            pool,
            label,
            kind: ContType::Posix,
            oclass,
            dir_oclass,
            chunk_size,
        } => {
            let d = DfsAttr::default();
            let attr = DfsAttr {
                chunk_size: chunk_size.unwrap_or(d.chunk_size),
                oclass: oclass.unwrap_or(d.oclass),
                dir_oclass: dir_oclass.unwrap_or(d.dir_oclass),
            };
            if attr.chunk_size == 0 {
                return Err(CliError::msg("bad chunk size: 0 bytes"));
            }
            create(s, &pool, &label, attr)
        }
        ContCmd::Destroy { pool, label } => destroy(s, &pool, &label),
        ContCmd::List { pool, json } => list(s, &pool, json),
        ContCmd::Query { pool, label, json } => show(s, &pool, &label, false, json),
        ContCmd::GetProp { pool, label, json } => show(s, &pool, &label, true, json),
        ContCmd::SetProp {
            pool,
            label,
            setting: (prop, value),
        } => set_prop(s, &pool, &label, prop, &value),
    }
}

fn set_prop(s: &Storage, pool: &str, label: &str, prop: ContProp, value: &str) -> CliResult {
    if prop != ContProp::Label {
        return Err(CliError::msg(format!(
            "container property {} is read-only (fixed when the container was created); \
             settable: label",
            prop.name()
        )));
    }
    check_cont_label(label)?;
    check_cont_label(value)?;
    let conn = s.connect(pool)?;
    conn.cont_relabel(label, value, &mut kill_at("cont-relabel"))?;
    conn.close()?;
    if value == label {
        println!("Container {label:?} of pool {pool:?} is already labelled so: nothing changed");
    } else {
        println!("Container {label:?} of pool {pool:?} is now labelled {value:?}");
    }
    Ok(())
}

/// A container error, said about `label` of `pool`.
fn cont_err(pool: &str, label: &str, e: DfsError) -> CliError {
    match e.errno() {
        libc::EEXIST => CliError::msg(format!(
            "container {label:?} already exists in pool {pool:?}"
        )),
        libc::ENOENT if matches!(e, DfsError::Obj { .. }) => {
            CliError::msg(format!("container {label:?} not found in pool {pool:?}"))
        }
        _ => CliError::msg(format!("container {label:?} in pool {pool:?}: {e}")),
    }
}

fn check_cont_label(label: &str) -> CliResult {
    rdaos::vos::check_label(label).map_err(|e| {
        let why = match e {
            rdaos::vos::VosError::Inval(why) => why.to_string(),
            e => e.to_string(),
        };
        CliError::msg(format!("bad container label {label:?}: {why}"))
    })
}

fn create(s: &Storage, pool: &str, label: &str, attr: DfsAttr) -> CliResult {
    check_cont_label(label)?;
    let conn = s.connect(pool)?;
    let id = conn.cont_create_posix(label, attr, &mut kill_at("cont-create"))?;
    conn.close()?;
    fields(
        "Container created",
        &[
            ("UUID", id.to_string()),
            ("Label", label.to_string()),
            ("Type", "POSIX".into()),
            ("Object class", attr.oclass.to_string()),
            ("Dir object class", attr.dir_oclass.to_string()),
            ("Chunk size", format_size_exact(attr.chunk_size)),
        ],
    );
    Ok(())
}

fn destroy(s: &Storage, pool: &str, label: &str) -> CliResult {
    check_cont_label(label)?;
    let conn = s.connect(pool)?;
    conn.cont_destroy(label, &mut kill_at("cont-destroy"))?;
    conn.close()?;
    println!("Container {label:?} of pool {pool:?} destroyed");
    Ok(())
}

fn list(s: &Storage, pool: &str, json: bool) -> CliResult {
    let conn = s.connect(pool)?;
    let conts = conn
        .client()
        .cont_list()
        .map_err(|e| CliError::msg(format!("pool {pool:?}: listing containers: {e}")))?;
    conn.close()?;
    if json {
        let list = conts
            .into_iter()
            .map(|(id, label)| {
                Json::Obj(vec![
                    ("uuid", Json::str(id.to_string())),
                    ("label", Json::str(label)),
                ])
            })
            .collect();
        Json::Obj(vec![
            ("pool", Json::str(pool)),
            ("containers", Json::Arr(list)),
        ])
        .print();
        return Ok(());
    }
    if conts.is_empty() {
        println!("No containers in pool {pool:?}");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = conts
        .into_iter()
        .map(|(id, label)| vec![id.to_string(), label])
        .collect();
    table(&["UUID", "Label"], &rows);
    Ok(())
}

/// What `cont query` and `get-prop` show.
struct ContProps {
    id: ContId,
    attr: Option<DfsAttr>,
}

fn props(conn: &PoolConn, pool: &str, label: &str) -> Result<ContProps, CliError> {
    let cli = conn.client();
    let id = cli.cont_open(label).map_err(|e| {
        if e.rc() == -rdaos::tse::der::DER_NONEXIST {
            CliError::msg(format!("container {label:?} not found in pool {pool:?}"))
        } else {
            CliError::msg(format!("container {label:?} in pool {pool:?}: {e}"))
        }
    })?;
    let attr = match Dfs::mount(cli, label) {
        Ok(d) => Some(d.attr()),
        // A container that dfs did not make: no POSIX properties.
        Err(DfsError::NotPosix(_)) => None,
        Err(e) => return Err(cont_err(pool, label, e)),
    };
    Ok(ContProps { id, attr })
}

fn show(s: &Storage, pool: &str, label: &str, as_props: bool, json: bool) -> CliResult {
    check_cont_label(label)?;
    let conn = s.connect(pool)?;
    let p = props(&conn, pool, label)?;
    let pool_uuid = conn.info().uuid_string();
    // The engine keeps no space account per container: a query shows its
    // pool's, which all the pool's containers share.
    let space = if as_props {
        None
    } else {
        Some(
            conn.client()
                .pool_query()
                .map_err(|e| CliError::msg(format!("pool {pool:?}: query: {e}")))?,
        )
    };
    conn.close()?;
    let kind = if p.attr.is_some() { "POSIX" } else { "unknown" };
    if json {
        let mut kv = vec![
            ("label", Json::str(label)),
            ("uuid", Json::str(p.id.to_string())),
            ("type", Json::str(kind)),
        ];
        if !as_props {
            kv.push(("pool", Json::str(pool)));
            kv.push(("pool_uuid", Json::str(&pool_uuid)));
        }
        let attr = |f: &dyn Fn(&DfsAttr) -> Json| p.attr.as_ref().map_or(Json::Null, f);
        kv.push(("oclass", attr(&|a| Json::str(a.oclass.to_string()))));
        kv.push(("dir_oclass", attr(&|a| Json::str(a.dir_oclass.to_string()))));
        kv.push(("chunk_size", attr(&|a| Json::Num(a.chunk_size))));
        if let Some(sp) = &space {
            kv.push(("pool_data_space", Json::Num(sp.total)));
            kv.push(("pool_used", Json::Num(sp.used())));
            kv.push(("pool_free", Json::Num(sp.free)));
        }
        Json::Obj(kv).print();
        return Ok(());
    }
    let mut rows = vec![
        ("Label", label.to_string()),
        ("UUID", p.id.to_string()),
        ("Type", kind.to_string()),
    ];
    if !as_props {
        rows.push(("Pool", format!("{pool} ({pool_uuid})")));
    }
    if let Some(a) = p.attr {
        rows.push(("Object class", a.oclass.to_string()));
        rows.push(("Dir object class", a.dir_oclass.to_string()));
        rows.push(("Chunk size", format_size_exact(a.chunk_size)));
    }
    if let Some(sp) = &space {
        rows.push((
            "Pool used",
            format!(
                "{} of {} ({}), shared by the pool's containers",
                format_size(sp.used()),
                format_size(sp.total),
                percent(sp.used(), sp.total)
            ),
        ));
        rows.push(("Pool free", format_size(sp.free)));
    }
    let title = if as_props {
        format!("Properties of container {label:?}")
    } else {
        format!("Container {label:?} of pool {pool:?}")
    };
    fields(&title, &rows);
    Ok(())
}
