//! # obj: the object layer, client and engine (placeholder until its issue lands)
//!
//! This crate will hold both ends of DAOS's `OBJ_RW`: on the client,
//! `dc_obj_update_task` (`obj_req_valid`, task-stack push/pop,
//! `dc_io_epoch_set`), `dc_obj_update` (`obj_shards_2_fwtgts`,
//! `obj_rw_bulk_prep`, `obj_req_fanout`) and `dc_obj_shard_rw`; on the engine,
//! `ds_obj_rw_handler` (`obj_ioc_begin`, `process_epoch`, DTX leader,
//! `obj_local_rw`) down into [`vos`]. Object ids, classes and jump-hash
//! placement live here too.
//!
//! Nothing is implemented yet; the crate exists so the workspace has its final
//! shape and the dependency direction `dfs -> obj -> vos -> bio -> tse` is fixed.

pub use vos;
