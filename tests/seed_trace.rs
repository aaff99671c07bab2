//! The trace of one `dfs_write` names every step of the seed diagram from
//! `dfs_write` down to the device and back, connected under the write
//! (so the rendered diagram shows them), for a 1 MiB write and a 4 KiB
//! one, under both durability contracts: the fast paths (an iod mapped
//! when it is made, one SQE completing its post task directly) are
//! traced too.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;
use common::Pool;
use rdaos::bio::Durability;
use rdaos::dfs::{Dfs, DfsAttr, OpenFlags};
use rdaos::obj::cli::ObjClient;
use rdaos::obj::srv::Engine;
use rdaos::obj::trace;
use rdaos::obj::transport::BulkRef;
use rdaos::tse::{Sched, Span, Tracer};

/// The seed's steps from `dfs_write` on, in the diagram's order.
const SEED: [&str; 37] = [
    "dfs_write",
    "daos_array_write",
    "dc_array_write",
    "dc_array_io",
    "compute_dkey",
    "create_sgl",
    "tse_task_register_deps",
    "tse_task_list_sched",
    "dc_obj_update_task",
    "obj_req_valid",
    "dc_io_epoch_set",
    "dc_obj_update",
    "obj_task_init",
    "obj_shards_2_fwtgts",
    "obj_rw_bulk_prep",
    "obj_req_fanout",
    "dc_obj_shard_rw",
    "crt_req_send",
    "ds_obj_rw_handler",
    "obj_ioc_begin",
    "process_epoch",
    "dtx_leader_begin",
    "dtx_leader_exec_ops",
    "obj_tgt_update",
    "obj_local_rw",
    "vos_update_begin",
    "bio_iod_prep",
    "bio_iod_post",
    "dma_rw",
    "nvme_rw",
    "rw_completion",
    "iod_dma_completion",
    "wal_completion",
    "data_completion",
    "obj_rw_complete",
    "obj_rw_reply",
    "dc_rw_cb",
];

fn traced_write(engine: &Engine, tracer: &Tracer, len: usize) -> Vec<Span> {
    let s = Sched::new();
    let cli = ObjClient::new(&s.handle(), engine.transport());
    let dfs = Dfs::mount(&cli, "posix").unwrap();
    let f = dfs
        .create(
            &dfs.root(),
            &format!("f{len}"),
            0o644,
            OpenFlags::read_write(),
        )
        .unwrap();
    tracer.clear();
    s.handle().set_tracer("client", Some(tracer.clone()));
    f.write(0, BulkRef::from_vec(vec![7u8; len])).unwrap();
    s.handle().set_tracer("client", None);
    // The engine records its handler's span as it completes, right after
    // sending the reply: wait for it (bounded; what is missing then fails
    // the check below).
    let spans = trace::settled_spans(tracer, "dfs_write", std::time::Duration::from_secs(10));
    f.close().unwrap();
    spans
}

fn check(durability: Durability) {
    let pool = Pool::new("seed-trace", 1, 2);
    let tracer = Tracer::new();
    let mut cfg = pool.config();
    cfg.tracer = Some(tracer.clone());
    cfg.bio.durability = durability;
    let engine = Engine::start(cfg).unwrap();
    {
        let s = Sched::new();
        let cli = ObjClient::new(&s.handle(), engine.transport());
        Dfs::mkfs(&cli, "posix", DfsAttr::default()).unwrap();
    }
    for len in [1 << 20, 4096] {
        let spans = traced_write(&engine, &tracer, len);
        let tree = trace::op_spans(&spans, "dfs_write");
        let names: Vec<&str> = tree.iter().map(|s| s.name).collect();
        let missing: Vec<&str> = SEED
            .iter()
            .copied()
            .filter(|n| !names.contains(n))
            .collect();
        assert!(
            missing.is_empty(),
            "{durability}, {len}-byte write: seed steps not traced below dfs_write: {missing:?}\n(traced: {names:?})"
        );
        assert!(tree.iter().all(|s| s.rc == 0 || s.name == "bio_iod_prep"));
        // And the rendered diagram draws every one of them.
        let puml = trace::op_diagram(&spans, "dfs_write").unwrap();
        for n in SEED {
            assert!(
                puml.contains(&format!(": {n} (")),
                "{durability}, {len}: {n} not drawn"
            );
        }
    }
    engine.stop().unwrap();
}

#[test]
fn one_write_names_every_seed_step_under_device() {
    check(Durability::Device);
}

#[test]
fn one_write_names_every_seed_step_under_flush() {
    check(Durability::Flush);
}
