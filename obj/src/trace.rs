//! Seeing one operation run: which layer each seed step belongs to, the
//! lifeline it is drawn on, and the PlantUML sequence diagram of one
//! traced operation in the seed's shape (`dfs` -> `array` -> `obj` ->
//! `srv_obj` -> `vos` -> `bio` -> `nvme` and back), built from the spans
//! that actually ran ([`tse::Tracer`]).
//!
//! Tracing is on when a [`Tracer`] is given to the client's scheduler
//! (`Sched::set_tracer`) and to the engine ([`EngineConfig::tracer`]);
//! programs that honour [`TRACE_ENV`] (`RDAOS_TRACE=<file.puml>`) write
//! the first traced operation there with [`write_diagram`].
//!
//! [`EngineConfig::tracer`]: crate::srv::EngineConfig::tracer

use std::path::{Path, PathBuf};

use tse::{Span, Tracer};

use crate::error::ObjError;

/// The environment variable naming the file a traced operation is
/// written to as a PlantUML diagram.
pub const TRACE_ENV: &str = "RDAOS_TRACE";

/// The path in [`TRACE_ENV`], if set and not empty.
pub fn env_path() -> Option<PathBuf> {
    std::env::var_os(TRACE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The layer a seed step belongs to (its lifeline in the seed diagram):
/// `dfs`, `array`, `obj` (client object layer), `srv_obj` (engine object
/// handler), `dtx`, `vos`, `bio`, `nvme`, or `other`.
pub fn layer_of(name: &str) -> &'static str {
    match name {
        "dfs_write" | "dfs_read" | "dfs_punch" | "daos_array_write" | "daos_array_read" => "dfs",
        "dc_array_write" | "dc_array_read" | "dc_array_io" | "compute_dkey" | "create_sgl"
        | "dc_array_get_size" | "dc_array_set_size" | "dc_array_punch"
        // The seed draws the array layer's fan-out calls on its lifeline.
        | "tse_task_register_deps" | "tse_task_list_sched" => "array",
        "ds_obj_rw_handler"
        | "ds_obj_tgt_update_handler"
        | "ds_obj_punch_handler"
        | "ds_obj_tgt_punch_handler"
        | "ds_obj_query_key_handler"
        | "ds_obj_enum_handler"
        | "ds_cont_op_handler"
        | "ds_pool_query_handler"
        | "obj_ioc_begin"
        | "process_epoch"
        | "obj_tgt_update"
        | "obj_local_rw"
        | "obj_rw_complete"
        | "obj_rw_reply" => "srv_obj",
        "dtx_leader_begin"
        | "dtx_leader_exec_ops"
        | "dtx_leader_end"
        | "dtx_begin"
        | "dtx_exec"
        | "dtx_end"
        | "dtx_abort" => "dtx",
        n if n.starts_with("vos_") => "vos",
        "nvme_rw" | "rw_completion" => "nvme",
        n if n.starts_with("bio_")
            || n.starts_with("wal_")
            || matches!(n, "data_completion" | "dma_rw" | "iod_dma_completion") =>
        {
            "bio"
        }
        n if n.starts_with("dc_") || n.starts_with("obj_") || n == "crt_req_send" => "obj",
        _ => "other",
    }
}

/// The lifeline a span is drawn on: client layers by name (`dfs`,
/// `array`, `obj`), engine layers with their target (`srv_obj tgt2`).
/// A `crt_req_send` on an engine (the leader forwarding to a replica) is
/// drawn on that engine's `srv_obj`.
pub fn lifeline(s: &Span) -> String {
    let layer = layer_of(s.name);
    let engine_side = s.sched.starts_with("tgt");
    match (layer, engine_side) {
        ("obj", true) => format!("srv_obj {}", s.sched),
        (_, true) => format!("{layer} {}", s.sched),
        _ => layer.to_string(),
    }
}

/// The diagram of the first operation whose root span is named `root`
/// (e.g. `dc_array_write` or `dc_obj_update_task`) among `spans`, called
/// from `app`.
pub fn op_diagram(spans: &[Span], root: &str) -> Result<String, ObjError> {
    let first = spans
        .iter()
        .filter(|s| s.name == root)
        .min_by_key(|s| (s.start_ns, s.id))
        .ok_or(ObjError::Inval("no traced operation with that root name"))?;
    tse_puml::render(spans, first.id, &lifeline).map_err(|e| ObjError::Proto(e.to_string()))
}

/// The spans of the first operation named `root` among `spans`: that span
/// and every span below it (by trace parent), in no particular order.
pub fn op_spans<'a>(spans: &'a [Span], root: &str) -> Vec<&'a Span> {
    let Some(first) = spans
        .iter()
        .filter(|s| s.name == root)
        .min_by_key(|s| (s.start_ns, s.id))
    else {
        return Vec::new();
    };
    let mut out = vec![first];
    let mut i = 0;
    while i < out.len() {
        let id = out[i].id;
        out.extend(spans.iter().filter(|s| s.parent == id && s.id != id));
        i += 1;
    }
    out
}

/// The spans of `tracer` once the first operation named `root` has its
/// engine side recorded: an engine records its handler's span
/// (`ds_obj_rw_handler`) as the handler completes, just after it sent the
/// reply the client already acted on. Waits at most `limit`, then returns
/// what there is.
pub fn settled_spans(tracer: &Tracer, root: &str, limit: std::time::Duration) -> Vec<Span> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let spans = tracer.spans();
        let done = op_spans(&spans, root)
            .iter()
            .any(|s| s.name == "ds_obj_rw_handler");
        if done || std::time::Instant::now() >= deadline {
            return spans;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// Writes the first traced operation named `root` of `tracer` to `path`
/// as a PlantUML sequence diagram.
pub fn write_diagram(tracer: &Tracer, root: &str, path: &Path) -> Result<(), ObjError> {
    let text = op_diagram(&tracer.spans(), root)?;
    std::fs::write(path, text)
        .map_err(|e| ObjError::Storage(format!("writing {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(name: &'static str, sched: &'static str) -> Span {
        Span {
            id: 1,
            parent: 0,
            name,
            sched,
            start_ns: 0,
            end_ns: 0,
            rc: 0,
        }
    }

    #[test]
    fn seed_steps_map_to_their_layers() {
        for (n, l) in [
            ("dc_array_io", "array"),
            ("dc_obj_update_task", "obj"),
            ("obj_req_fanout", "obj"),
            ("crt_req_send", "obj"),
            ("ds_obj_rw_handler", "srv_obj"),
            ("dtx_leader_exec_ops", "dtx"),
            ("vos_update_begin", "vos"),
            ("bio_iod_post", "bio"),
            ("wal_completion", "bio"),
            ("nvme_rw", "nvme"),
        ] {
            assert_eq!(layer_of(n), l, "{n}");
        }
        assert_eq!(lifeline(&span("dc_obj_shard_rw", "client")), "obj");
        assert_eq!(lifeline(&span("vos_update_end", "tgt3")), "vos tgt3");
        assert_eq!(lifeline(&span("crt_req_send", "tgt1")), "srv_obj tgt1");
    }
}
