//! # obj: the object layer, client and engine
//!
//! Both ends of DAOS's `OBJ_RW`. On the client, `dc_obj_update_task`
//! (`obj_req_valid`, task-stack push/pop, `dc_io_epoch_set`) and
//! `dc_obj_update` (`obj_shards_2_fwtgts`, `obj_rw_bulk_prep`,
//! `obj_req_fanout`) turn one update into shard RPCs (`dc_obj_shard_rw`);
//! on the engine, `ds_obj_rw_handler` (`obj_ioc_begin`, `process_epoch`,
//! DTX leader, `obj_local_rw`) applies them to [`vos`].
//!
//! So far this crate holds object ids and classes ([`oclass`]),
//! placement ([`placement`]: which targets hold an object's shards, which
//! redundancy group and leader a dkey goes to) and the hybrid logical
//! clock that makes epochs ([`hlc`]), and the checked, versioned RPC
//! frame ([`wire`]). The client and engine
//! tasks, the wire format and the transport come with the obj issue.

#![warn(missing_docs)]

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
