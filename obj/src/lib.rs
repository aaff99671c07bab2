//! # obj: the object layer, client and engine
//!
//! Both ends of DAOS's `OBJ_RW`. On the client, `dc_obj_update_task`
//! (`obj_req_valid`, task-stack push/pop, `dc_io_epoch_set`) and
//! `dc_obj_update` (`obj_shards_2_fwtgts`, `obj_rw_bulk_prep`,
//! `obj_req_fanout`) turn one update into shard RPCs (`dc_obj_shard_rw`);
//! on the engine, `ds_obj_rw_handler` (`obj_ioc_begin`, `process_epoch`,
//! DTX leader, `obj_local_rw`) applies them to [`vos`].
//!
//! Modules, top to bottom:
//!
//! * [`cli`]: the client tasks (update, fetch, punch, key queries,
//!   pool-wide containers) on the caller's scheduler;
//! * [`rpc`] and [`wire`]: the request and reply bodies, as explicit bytes
//!   inside a checked, versioned frame (magic, version, opcode, length,
//!   crc32c);
//! * [`transport`]: the [`Transport`](transport::Transport) trait, bulk
//!   views of registered buffers, and the in-process transport;
//! * [`srv`]: the engine: one thread per target (scheduler, io_uring ring,
//!   VOS target, device region), the handlers and the DTX leader;
//! * [`oclass`], [`placement`], [`hlc`]: object ids and classes, jump-hash
//!   placement of shards and dkey groups, the hybrid logical clock;
//! * [`trace`]: the layer of each seed step and the PlantUML diagram of a
//!   traced operation (`RDAOS_TRACE`).
//!
//! A replicated update goes to the dkey group's leader only; the leader
//! forwards it to the other replicas (which pull the data from the
//! client's bulk themselves), and the client is answered once every
//! replica has it durably, or, after an abort on every participant, with
//! the failure.

pub mod cli;
mod error;
pub mod hlc;
pub mod oclass;
pub mod placement;
pub mod rpc;
pub mod srv;
pub mod trace;
pub mod transport;
pub mod wire;

pub use error::ObjError;
pub use vos;
