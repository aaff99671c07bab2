//! `rdaos cont ...`: DAOS's `daos cont create|destroy|list|query|get-prop`
//! on a pool of the storage directory.
//!
//! Create and destroy are crash safe (see
//! `rdaos::storage::PoolConn::cont_create_posix`). For the tests that
//! prove it, `RDAOS_KILL_AT=cont-create:STEP` or `cont-destroy:STEP`
//! makes the process kill itself with SIGKILL right after that step.

use clap::{Subcommand, ValueEnum};
use rdaos::dfs::errno::libc;
use rdaos::dfs::{Dfs, DfsAttr, DfsError};
use rdaos::obj::oclass::ObjClass;
use rdaos::size::format_size_exact;
use rdaos::storage::{PoolConn, Storage};
use rdaos::vos::ContId;

use crate::out::{fields, oclass_arg, size_arg, table};
use crate::{CliError, CliResult};

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
    },
    /// Show a container's identity, type and layout
    Query {
        /// Pool label
        pool: String,
        /// Container label
        label: String,
    },
    /// Show a container's properties (type, object classes, chunk size, ...)
    GetProp {
        /// Pool label
        pool: String,
        /// Container label
        label: String,
    },
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
        ContCmd::List { pool } => list(s, &pool),
        ContCmd::Query { pool, label } => show(s, &pool, &label, false),
        ContCmd::GetProp { pool, label } => show(s, &pool, &label, true),
    }
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

/// The test hook: with `RDAOS_KILL_AT=OP:STEP` in the environment, the
/// process kills itself with SIGKILL right after step STEP of OP
/// (`cont-create`, `cont-destroy`), as a crash there would.
fn kill_at(op: &'static str) -> impl FnMut(&str) {
    let at = std::env::var("RDAOS_KILL_AT").ok();
    move |step: &str| {
        let Some(at) = &at else { return };
        if at.split_once(':') == Some((op, step)) {
            use std::io::Write;
            let _ = std::io::stdout().flush();
            // SAFETY: kill and getpid touch no memory; SIGKILL ends the
            // process here, as a crash would.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    }
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

fn list(s: &Storage, pool: &str) -> CliResult {
    let conn = s.connect(pool)?;
    let conts = conn
        .client()
        .cont_list()
        .map_err(|e| CliError::msg(format!("pool {pool:?}: listing containers: {e}")))?;
    conn.close()?;
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

fn show(s: &Storage, pool: &str, label: &str, as_props: bool) -> CliResult {
    check_cont_label(label)?;
    let conn = s.connect(pool)?;
    let p = props(&conn, pool, label)?;
    let pool_uuid = conn.info().uuid_string();
    conn.close()?;
    let kind = if p.attr.is_some() { "POSIX" } else { "unknown" };
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
    let title = if as_props {
        format!("Properties of container {label:?}")
    } else {
        format!("Container {label:?} of pool {pool:?}")
    };
    fields(&title, &rows);
    Ok(())
}
