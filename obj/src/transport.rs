//! How RPCs travel: the [`Transport`] trait, and the in-process transport
//! ([`InProc`]) that hands a frame to an engine target's scheduler on its
//! own thread.
//!
//! A message is a sealed [`wire`](crate::wire) frame plus, for payloads at
//! or above the bulk threshold, [`BulkRef`]s: views of a registered buffer
//! the receiver pulls from (in-process, the sender's own memory, shared by
//! reference count: the leader and every replica read the client's buffer
//! straight into their DMA buffers, with no copy in between). The reply
//! comes back through a [`ReplyTo`]: it stores the reply message and
//! completes the sender's task on the sender's scheduler, as a CaRT reply
//! completes the RPC task in DAOS.

use std::sync::{Arc, Mutex};

use tse::{RemoteSched, RemoteTask, SchedHandle};

use crate::error::ObjError;
use crate::placement::{PoolMap, TargetId};
use crate::rpc::ObjReply;

/// A read-only view of a registered buffer: `len` bytes at `off`.
#[derive(Clone)]
pub struct BulkRef {
    buf: Arc<Vec<u8>>,
    off: usize,
    len: usize,
}

impl BulkRef {
    /// A view of `buf[off..off + len]`.
    pub fn new(buf: Arc<Vec<u8>>, off: usize, len: usize) -> Result<BulkRef, ObjError> {
        match off.checked_add(len) {
            Some(end) if end <= buf.len() => Ok(BulkRef { buf, off, len }),
            _ => Err(ObjError::Inval("bulk range outside its buffer")),
        }
    }

    /// The whole of `buf` (no copy: the vector moves into the handle).
    pub fn from_vec(buf: Vec<u8>) -> BulkRef {
        let len = buf.len();
        BulkRef {
            buf: Arc::new(buf),
            off: 0,
            len,
        }
    }

    /// A view of `len` bytes at `off` of this view (no copy).
    pub fn slice(&self, off: usize, len: usize) -> Result<BulkRef, ObjError> {
        match off.checked_add(len) {
            Some(end) if end <= self.len => Ok(BulkRef {
                buf: self.buf.clone(),
                off: self.off + off,
                len,
            }),
            _ => Err(ObjError::Inval("slice outside the bulk view")),
        }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[self.off..self.off + self.len]
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes as an owned vector: without a copy when this view is the
    /// only holder of its whole buffer, with one otherwise.
    pub fn into_vec(self) -> Vec<u8> {
        if self.off == 0 && self.len == self.buf.len() {
            match Arc::try_unwrap(self.buf) {
                Ok(v) => v,
                Err(buf) => buf[..].to_vec(),
            }
        } else {
            self.as_slice().to_vec()
        }
    }
}

impl std::fmt::Debug for BulkRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkRef")
            .field("off", &self.off)
            .field("len", &self.len)
            .finish()
    }
}

/// One message: a frame and the bulk pieces it describes, in order.
#[derive(Debug, Default)]
pub struct Msg {
    /// The sealed frame.
    pub frame: Vec<u8>,
    /// Bulk data beside the frame (concatenated in order).
    pub bulk: Vec<BulkRef>,
}

impl Msg {
    /// Total bulk bytes.
    pub fn bulk_len(&self) -> u64 {
        self.bulk.iter().map(|b| b.len() as u64).sum()
    }
}

type Slot = Arc<Mutex<Option<Msg>>>;

/// Where a request's reply goes: the sender's task, completed (status 0)
/// on its own scheduler once the reply is stored. Dropped unanswered (a
/// receiver that went away), it completes the task with `-DER_CANCELED`,
/// so a sender never waits forever.
pub struct ReplyTo {
    task: Option<RemoteTask>,
    slot: Slot,
}

impl ReplyTo {
    /// Sends the reply: stores it, then completes the waiting task.
    pub fn send(mut self, msg: Msg) {
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg);
        if let Some(t) = self.task.take() {
            t.complete_once(0);
        }
    }

    /// Fails the request without a reply (transport-level failure).
    pub fn fail(mut self, rc: i32) {
        if let Some(t) = self.task.take() {
            t.complete_once(rc);
        }
    }
}

impl Drop for ReplyTo {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.complete_once(-tse::der::DER_CANCELED);
        }
    }
}

/// The sender's side of a [`ReplyTo`]: where the reply can be collected
/// once the task completed.
#[derive(Clone, Default)]
pub struct ReplySlot(Slot);

impl ReplySlot {
    /// A new empty slot.
    pub fn new() -> ReplySlot {
        ReplySlot::default()
    }

    /// The [`ReplyTo`] that fills this slot and completes `task`.
    pub fn reply_to(&self, task: &tse::Task) -> ReplyTo {
        ReplyTo {
            task: Some(task.remote()),
            slot: self.0.clone(),
        }
    }

    /// Takes the reply, if it arrived.
    pub fn take(&self) -> Option<Msg> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Takes and decodes the reply to request `rpc_id` (`dc_rw_cb`): the
    /// reply and its bulk, or `-DER_PROTO` when none arrived and the
    /// decoder's status when it is malformed. The reply's own status is
    /// left for the caller to read.
    pub fn take_reply(&self, rpc_id: u64) -> Result<(ObjReply, Vec<BulkRef>), i32> {
        let m = self.take().ok_or(-tse::der::DER_PROTO)?;
        let rep = ObjReply::decode(&m.frame, rpc_id).map_err(|e| e.rc())?;
        Ok((rep, m.bulk))
    }
}

/// Carries requests to engine targets. Implementations deliver `msg` to
/// target `to` and make sure `reply` is eventually answered, by the target
/// or with a failure status.
pub trait Transport: Send + Sync {
    /// Sends `msg` to `to`; the reply arrives through `reply`.
    fn send(&self, to: TargetId, msg: Msg, reply: ReplyTo) -> Result<(), ObjError>;

    /// The pool map of the engines this transport reaches.
    fn pool_map(&self) -> &PoolMap;
}

/// The function an engine target runs for each incoming message, on the
/// target's own thread.
pub type Handler = fn(&SchedHandle, Msg, ReplyTo);

/// The in-process transport: each target is a scheduler on its own thread;
/// a request is posted to it as a closure that runs [`Handler`] there.
pub struct InProc {
    map: PoolMap,
    targets: Vec<RemoteSched>,
    handler: Handler,
}

impl InProc {
    /// A transport over `targets` (engine-major order: engine `e`'s target
    /// `t` is `targets[e * map.targets_per_engine + t]`).
    pub fn new(
        map: PoolMap,
        targets: Vec<RemoteSched>,
        handler: Handler,
    ) -> Result<InProc, ObjError> {
        if targets.len() != map.targets() as usize {
            return Err(ObjError::Inval("one scheduler per target of the pool map"));
        }
        Ok(InProc {
            map,
            targets,
            handler,
        })
    }

    fn index(&self, to: TargetId) -> Option<usize> {
        (to.engine < self.map.engines && to.target < self.map.targets_per_engine)
            .then(|| (to.engine * self.map.targets_per_engine + to.target) as usize)
    }

    /// The scheduler of target `to`.
    pub fn target(&self, to: TargetId) -> Option<&RemoteSched> {
        self.index(to).map(|i| &self.targets[i])
    }
}

impl Transport for InProc {
    fn send(&self, to: TargetId, msg: Msg, reply: ReplyTo) -> Result<(), ObjError> {
        let Some(i) = self.index(to) else {
            return Err(ObjError::Unreachable(format!(
                "no target {to:?} in the pool map"
            )));
        };
        let handler = self.handler;
        if self.targets[i].post(move |s| handler(s, msg, reply)) {
            Ok(())
        } else {
            Err(ObjError::Unreachable(format!("target {to:?} has stopped")))
        }
    }

    fn pool_map(&self) -> &PoolMap {
        &self.map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_views_are_checked_and_unwrap_without_copy() {
        let buf = Arc::new(vec![1u8, 2, 3, 4]);
        assert!(BulkRef::new(buf.clone(), 3, 2).is_err());
        assert!(BulkRef::new(buf.clone(), usize::MAX, 2).is_err());
        let v = BulkRef::new(buf.clone(), 1, 2).unwrap();
        assert_eq!(v.as_slice(), &[2, 3]);
        assert_eq!(v.slice(1, 1).unwrap().as_slice(), &[3]);
        assert!(v.slice(1, 2).is_err());
        assert!(v.slice(usize::MAX, 1).is_err());
        assert_eq!(v.into_vec(), vec![2, 3]);
        let whole = BulkRef::from_vec(vec![9; 8]);
        let p = whole.as_slice().as_ptr();
        let back = whole.into_vec();
        assert_eq!(back.as_ptr(), p, "sole holder: no copy");
    }
}
