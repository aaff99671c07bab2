//! The client side of the object RPCs (DAOS's `cli_obj.c`/`cli_shard.c`),
//! as tasks on the caller's scheduler.
//!
//! An update is the task `dc_obj_update_task`: `obj_req_valid`, the
//! argument stack push/pop around `dc_io_epoch_set` (a fresh epoch from
//! the client's hybrid logical clock on every run), then `dc_obj_update`:
//! `obj_task_init` (registers `obj_comp_cb`), `obj_shards_2_fwtgts` (the
//! dkey's redundancy group and its leader), `obj_rw_bulk_prep` (inline
//! below 19,456 bytes, the caller's buffers by bulk above) and
//! `obj_req_fanout`, which makes the one `dc_obj_shard_rw` task that sends
//! the RPC to the leader (`crt_req_send`). Its reply completes the shard
//! task; `dc_rw_cb` reads the status. `obj_comp_cb` retries a retryable
//! failure (`-DER_TX_RESTART`, `-DER_INPROGRESS`, `-DER_STALE`) by
//! re-initialising the task, which picks a new epoch, as DAOS's
//! `obj_retry_cb` does; a caller-chosen epoch is never changed, so its
//! restart goes back to the caller.
//!
//! Fetches go the same way to the group's leader, punches to every
//! group's leader (which forwards to its replicas), and key queries and
//! enumeration to every group.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tse::{der, SchedHandle, Task};
use vos::{ContId, Epoch, ObjId, Recx};

use crate::error::ObjError;
use crate::hlc::Hlc;
use crate::oclass::oid_class;
use crate::placement::{dkey_hash, obj_layout, Layout, TargetId};
use crate::rpc::{
    DataDesc, DataRef, IodDesc, ObjReply, ObjReq, PunchKind, ReqRef, TargetSpace, BULK_THRESHOLD,
};
use crate::transport::{BulkRef, Msg, ReplySlot, Transport};
use crate::wire::Opcode;

/// Retries of a retryable failure before it is returned.
pub const MAX_RETRIES: u32 = 8;

/// A scatter-gather list: the caller's registered buffers, in order.
pub type Sgl = Vec<BulkRef>;

struct ClientInner {
    sched: SchedHandle,
    transport: Arc<dyn Transport>,
    hlc: Hlc,
    next_rpc: Cell<u64>,
    /// Trace parent given to the tasks the async calls create (0: none).
    trace_parent: Cell<u64>,
}

/// An object-layer client on the calling thread's scheduler. Cheap to
/// clone; not `Send` (one per thread, as a DAOS event queue's context).
#[derive(Clone)]
pub struct ObjClient {
    inner: Rc<ClientInner>,
}

/// The space of a pool, as [`ObjClient::pool_query`] adds it up over its
/// targets. Counts the targets' data regions only: each target's
/// superblock, WAL and checkpoint slots are overhead outside `total`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolSpace {
    /// Bytes the targets' data regions hold together.
    pub total: u64,
    /// Of those, bytes not allocated to any version.
    pub free: u64,
    /// Targets that answered (every target of the pool map).
    pub targets: u32,
    /// Each target's own numbers, in pool-map order.
    pub per_target: Vec<(TargetId, TargetSpace)>,
}

impl PoolSpace {
    /// Bytes allocated: `total - free`.
    pub fn used(&self) -> u64 {
        self.total - self.free
    }
}

/// What a shard RPC returned: the reply and any bulk it carried.
type Answer = Rc<RefCell<Option<(ObjReply, Vec<BulkRef>)>>>;

impl ObjClient {
    /// A client whose tasks run on `sched` and whose RPCs go through
    /// `transport`.
    pub fn new(sched: &SchedHandle, transport: Arc<dyn Transport>) -> ObjClient {
        ObjClient {
            inner: Rc::new(ClientInner {
                sched: sched.clone(),
                transport,
                hlc: Hlc::new(),
                next_rpc: Cell::new(0),
                trace_parent: Cell::new(0),
            }),
        }
    }

    /// The scheduler the client's tasks run on.
    pub fn sched(&self) -> &SchedHandle {
        &self.inner.sched
    }

    /// Makes `id` (a task's or a step's trace id; 0: none) the trace parent
    /// of the tasks the client's async calls (`*_async`, and the blocking
    /// calls built on them) create from now on, and returns the previous
    /// one. A caller whose future is polled outside its own task (a
    /// spawned future after its first poll) sets it around each poll so
    /// its object tasks still hang below it in a trace.
    pub fn swap_trace_parent(&self, id: u64) -> u64 {
        self.inner.trace_parent.replace(id)
    }

    /// Gives `t` the trace parent set by
    /// [`swap_trace_parent`](Self::swap_trace_parent), if any.
    pub fn adopt(&self, t: &Task) {
        let p = self.inner.trace_parent.get();
        if p != 0 {
            t.set_parent(p);
        }
    }

    /// Schedules `t` now (with the client's trace parent) and awaits it
    /// on the client's scheduler; a failure is `op`'s.
    pub async fn run_task(&self, t: Task, op: &'static str) -> Result<(), ObjError> {
        self.adopt(&t);
        t.schedule(true)
            .map_err(|_| ObjError::Inval("scheduler closed"))?;
        t.await.map_err(|e| ObjError::Failed { op, rc: e.rc() })
    }

    /// A new epoch from the client's clock.
    pub fn epoch_now(&self) -> Epoch {
        self.inner.hlc.now()
    }

    fn rpc_id(&self) -> u64 {
        let id = self.inner.next_rpc.get() + 1;
        self.inner.next_rpc.set(id);
        id
    }

    fn targets(&self) -> Vec<TargetId> {
        let m = self.inner.transport.pool_map();
        (0..m.engines)
            .flat_map(|engine| {
                (0..m.targets_per_engine).map(move |target| TargetId { engine, target })
            })
            .collect()
    }

    /// Runs `t` to completion on the client's scheduler.
    pub fn wait(&self, t: &Task, op: &'static str) -> Result<(), ObjError> {
        match self.inner.sched.progress_until(t) {
            0 => Ok(()),
            rc => Err(ObjError::Failed { op, rc }),
        }
    }

    /// One RPC as a task named `name`: sends `req` with `bulk` to `to` when
    /// scheduled; completes with the reply's status, the reply kept in the
    /// returned cell (`dc_obj_shard_rw` + `crt_req_send` + `dc_rw_cb`).
    pub(crate) fn shard_rpc(
        &self,
        name: &'static str,
        to: TargetId,
        opcode: Opcode,
        req: &ObjReq,
        bulk: Vec<BulkRef>,
    ) -> (Task, Answer) {
        self.shard_rpc_frame(name, to, opcode, req.encode_unsealed(), bulk)
    }

    /// [`shard_rpc`](Self::shard_rpc) of a request already encoded
    /// (unsealed, see [`crate::rpc::seal_request`]): the send seals it
    /// with its rpc id and trace parent. An encoding error fails the task
    /// when it runs.
    pub(crate) fn shard_rpc_frame(
        &self,
        name: &'static str,
        to: TargetId,
        opcode: Opcode,
        frame: Result<Vec<u8>, ObjError>,
        bulk: Vec<BulkRef>,
    ) -> (Task, Answer) {
        let answer: Answer = Rc::new(RefCell::new(None));
        let t = self.rpc_task(name, to, opcode, frame, bulk, Some(answer.clone()));
        (t, answer)
    }

    /// The task of [`shard_rpc_frame`](Self::shard_rpc_frame), keeping the
    /// reply in `answer` if given (an update's caller needs only its
    /// status: the task's result).
    fn rpc_task(
        &self,
        name: &'static str,
        to: TargetId,
        opcode: Opcode,
        frame: Result<Vec<u8>, ObjError>,
        bulk: Vec<BulkRef>,
        answer: Option<Answer>,
    ) -> Task {
        let slot = ReplySlot::new();
        let rpc_id = self.rpc_id();
        let cli = self.clone();
        let slot2 = slot.clone();
        let mut state = Some((frame, bulk));
        let t = self.inner.sched.create_named(name, move |t| {
            let Some((frame, bulk)) = state.take() else {
                return;
            };
            let send = t.sched().step("crt_req_send");
            // The engine's handler hangs below this send in traces.
            let frame = frame.and_then(|mut f| {
                crate::rpc::seal_request(&mut f, opcode, rpc_id, send.id()).map(|()| f)
            });
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    send.end(e.rc());
                    return t.complete(e.rc());
                }
            };
            let r = cli
                .inner
                .transport
                .send(to, Msg { frame, bulk }, slot2.reply_to(t));
            send.end(r.as_ref().err().map_or(0, |e| e.rc()));
            if let Err(e) = r {
                t.complete(e.rc());
            }
            // Otherwise the reply completes the task.
        });
        let _ = t.register_comp_cb(move |t| {
            let step = t.sched().step("dc_rw_cb");
            let mut rc = t.result();
            if rc == 0 {
                rc = match slot.take_reply(rpc_id) {
                    Ok((rep, bulk)) => {
                        let status = rep.status;
                        if let Some(a) = &answer {
                            *a.borrow_mut() = Some((rep, bulk));
                        }
                        status
                    }
                    Err(rc) => rc,
                };
            }
            step.end(rc);
            rc
        });
        t
    }

    /// Sends `req` to every target (one task named `name` each) and awaits
    /// all answers, in target order (a failed RPC is its target's reply
    /// status).
    async fn all_targets(
        &self,
        name: &'static str,
        opcode: Opcode,
        req: ObjReq,
    ) -> Result<Vec<(TargetId, ObjReply)>, ObjError> {
        let targets = self.targets();
        let frame = req.encode_unsealed();
        let parts: Vec<(Task, Answer)> = targets
            .iter()
            .map(|&to| self.shard_rpc_frame(name, to, opcode, frame.clone(), Vec::new()))
            .collect();
        let tasks: Vec<Task> = parts.iter().map(|p| p.0.clone()).collect();
        for t in &tasks {
            self.adopt(t);
        }
        tse::list_sched(&tasks, true).map_err(|_| ObjError::Inval("schedule"))?;
        for t in &tasks {
            // A failure is read from the task's result below.
            let _ = t.clone().await;
        }
        Ok(targets
            .into_iter()
            .zip(parts)
            .map(|(to, (t, a))| {
                let rep = a
                    .borrow_mut()
                    .take()
                    .map(|x| x.0)
                    .unwrap_or_else(|| ObjReply::status(t.result()));
                (to, rep)
            })
            .collect())
    }

    /// `daos_pool_query`'s space part: asks every target for its data
    /// capacity and free bytes and adds them up. Fails if any target
    /// fails or does not report its space.
    pub fn pool_query(&self) -> Result<PoolSpace, ObjError> {
        self.sched().block_on(self.pool_query_async())
    }

    /// [`pool_query`](Self::pool_query) as a future, to await on the
    /// client's scheduler.
    pub async fn pool_query_async(&self) -> Result<PoolSpace, ObjError> {
        let req = ObjReq::new(ContId(0), ObjId::new(0, 0), 0);
        let mut space = PoolSpace::default();
        for (to, rep) in self
            .all_targets("dc_pool_query", Opcode::PoolQuery, req)
            .await?
        {
            if rep.status != 0 {
                return Err(ObjError::Failed {
                    op: "pool_query",
                    rc: rep.status,
                });
            }
            let s = rep.space.ok_or_else(|| {
                ObjError::Proto(format!("target {to:?} answered a pool query without space"))
            })?;
            if s.free > s.capacity {
                return Err(ObjError::Proto(format!(
                    "target {to:?} reports {} free bytes of {}",
                    s.free, s.capacity
                )));
            }
            space.total += s.capacity;
            space.free += s.free;
            space.targets += 1;
            space.per_target.push((to, s));
        }
        Ok(space)
    }

    /// Every container of the pool (`daos_pool_list_cont`): id and label,
    /// sorted by label. A container is listed once every target has it
    /// (one that is still being created on some targets is not).
    pub fn cont_list(&self) -> Result<Vec<(ContId, String)>, ObjError> {
        let req = ObjReq::new(ContId(0), ObjId::new(0, 0), 0);
        let mut seen: std::collections::BTreeMap<(String, u128), u32> = Default::default();
        let mut n = 0;
        let reps = self
            .sched()
            .block_on(self.all_targets("ds_cont_op", Opcode::ContList, req))?;
        for (_, rep) in reps {
            if rep.status != 0 {
                return Err(ObjError::Failed {
                    op: "cont_list",
                    rc: rep.status,
                });
            }
            n += 1;
            for (id, label) in rep.conts {
                *seen.entry((label, id)).or_default() += 1;
            }
        }
        Ok(seen
            .into_iter()
            .filter(|(_, c)| *c == n)
            .map(|((label, id), _)| (ContId(id), label))
            .collect())
    }

    /// Creates container `label` on every target (a pool-wide container,
    /// as `ds_cont` does) and returns its new id.
    pub fn cont_create(&self, label: &str) -> Result<ContId, ObjError> {
        self.sched().block_on(self.cont_create_async(label))
    }

    /// [`cont_create`](Self::cont_create) as a future, to await on the
    /// client's scheduler.
    pub async fn cont_create_async(&self, label: &str) -> Result<ContId, ObjError> {
        vos::check_label(label).map_err(|_| ObjError::Inval("bad container label"))?;
        let id = ContId(fresh_uuid());
        let mut req = ObjReq::new(id, ObjId::new(0, 0), 0);
        req.label = label.to_string();
        for (_, rep) in self
            .all_targets("ds_cont_op", Opcode::ContCreate, req)
            .await?
        {
            if rep.status != 0 {
                return Err(ObjError::Failed {
                    op: "cont_create",
                    rc: rep.status,
                });
            }
        }
        Ok(id)
    }

    /// How many of the pool's targets hold a container labelled `label`
    /// (all of them for a whole container; fewer for one whose create or
    /// destroy was cut short), and how many targets there are.
    pub fn cont_targets(&self, label: &str) -> Result<(u32, u32), ObjError> {
        let req = ObjReq::new(ContId(0), ObjId::new(0, 0), 0);
        let reps = self
            .sched()
            .block_on(self.all_targets("ds_cont_op", Opcode::ContList, req))?;
        let (mut have, mut all) = (0, 0);
        for (_, rep) in reps {
            if rep.status != 0 {
                return Err(ObjError::Failed {
                    op: "cont_list",
                    rc: rep.status,
                });
            }
            all += 1;
            have += u32::from(rep.conts.iter().any(|(_, l)| l == label));
        }
        Ok((have, all))
    }

    /// Every target of the pool, in order.
    pub fn pool_targets(&self) -> Vec<TargetId> {
        self.targets()
    }

    /// Destroys container `label` on target `to` (`ds_cont` destroy, one
    /// target): its data and space. `Ok(false)` when the target has no
    /// such container.
    pub fn cont_destroy_on(&self, to: TargetId, label: &str) -> Result<bool, ObjError> {
        self.cont_op_on(to, Opcode::ContDestroy, ContId(0), label, "cont_destroy")
    }

    /// One container operation `opcode` on target `to`, for container `id`
    /// and label `label`, run to its end: `Ok(true)` done, `Ok(false)` the
    /// target has no such container, else the target's status as
    /// `op`'s failure.
    fn cont_op_on(
        &self,
        to: TargetId,
        opcode: Opcode,
        id: ContId,
        label: &str,
        op: &'static str,
    ) -> Result<bool, ObjError> {
        vos::check_label(label).map_err(|_| ObjError::Inval("bad container label"))?;
        let mut req = ObjReq::new(id, ObjId::new(0, 0), 0);
        req.label = label.to_string();
        let (t, answer) = self.shard_rpc("ds_cont_op", to, opcode, &req, Vec::new());
        self.adopt(&t);
        t.schedule(false).map_err(|_| ObjError::Inval("schedule"))?;
        let rc = self.sched().progress_until(&t);
        let status = answer.borrow().as_ref().map_or(rc, |(rep, _)| rep.status);
        match status {
            0 => Ok(true),
            rc if rc == -der::DER_NONEXIST => Ok(false),
            rc => Err(ObjError::Failed { op, rc }),
        }
    }

    /// Sets the label of container `id` to `label` on target `to` (`ds_cont`
    /// set-prop, one target): one durable record there. `Ok(false)` when
    /// the target has no such container; relabelling it as the label it
    /// has is `Ok(true)` and changes nothing, so a relabel cut short can
    /// be redone target by target. A label another container of the
    /// target has is refused (`-DER_EXIST`).
    pub fn cont_relabel_on(&self, to: TargetId, id: ContId, label: &str) -> Result<bool, ObjError> {
        self.cont_op_on(to, Opcode::ContSetProp, id, label, "cont_relabel")
    }

    /// Destroys container `label` on every target that holds it, one
    /// target after another (so a container whose create was cut short
    /// can be removed too). Returns how many targets held it; none is
    /// `-DER_NONEXIST`.
    pub fn cont_destroy(&self, label: &str) -> Result<u32, ObjError> {
        let mut had = 0;
        for to in self.targets() {
            had += u32::from(self.cont_destroy_on(to, label)?);
        }
        if had == 0 {
            return Err(ObjError::Failed {
                op: "cont_destroy",
                rc: -der::DER_NONEXIST,
            });
        }
        Ok(had)
    }

    /// Finds container `label` (it must exist on every target).
    pub fn cont_open(&self, label: &str) -> Result<ContId, ObjError> {
        self.sched().block_on(self.cont_open_async(label))
    }

    /// [`cont_open`](Self::cont_open) as a future, to await on the
    /// client's scheduler.
    pub async fn cont_open_async(&self, label: &str) -> Result<ContId, ObjError> {
        let mut req = ObjReq::new(ContId(0), ObjId::new(0, 0), 0);
        req.label = label.to_string();
        let mut id = None;
        for (_, rep) in self
            .all_targets("ds_cont_op", Opcode::ContOpen, req)
            .await?
        {
            if rep.status != 0 {
                return Err(ObjError::Failed {
                    op: "cont_open",
                    rc: rep.status,
                });
            }
            if *id.get_or_insert(rep.cont) != rep.cont {
                return Err(ObjError::Storage(format!(
                    "targets disagree on the id of container {label}"
                )));
            }
        }
        id.map(ContId)
            .ok_or(ObjError::Inval("the pool has no targets"))
    }

    /// Opens object `oid` of `cont` (`daos_obj_open`): computes its layout
    /// once. Fails for an id without a valid class, or a class the pool
    /// cannot hold.
    pub fn obj_open(&self, cont: ContId, oid: ObjId) -> Result<ObjHandle, ObjError> {
        let (otype, _) = oid_class(oid)?;
        let layout = obj_layout(self.inner.transport.pool_map(), oid)?;
        Ok(ObjHandle {
            cli: self.clone(),
            cont,
            oid,
            layout: Rc::new(layout),
            int_dkeys: otype.int_dkeys(),
        })
    }
}

fn fresh_uuid() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(t);
    h.write_u32(std::process::id());
    let a = h.finish();
    h.write_u64(a);
    let b = h.finish();
    ((a as u128) << 64 | b as u128) & !(0xf << 76) | (4 << 76)
}

/// An open object.
#[derive(Clone)]
pub struct ObjHandle {
    cli: ObjClient,
    cont: ContId,
    oid: ObjId,
    layout: Rc<Layout>,
    int_dkeys: bool,
}

/// What a fetch returned: the data of every iod in order (holes as
/// zeros), the holes of each array iod, and each single value's length
/// (`None`: absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchResult {
    /// The bytes.
    pub data: Vec<u8>,
    /// Per iod, the records never written (or punched) at the epoch.
    pub holes: Vec<Vec<Recx>>,
    /// Per single-value iod, its length; `None` when absent.
    pub sizes: Vec<Option<u64>>,
}

/// Where a fetch task leaves its result.
pub type FetchOut = Rc<RefCell<Option<FetchResult>>>;

struct UpdateArgs {
    h: ObjHandle,
    dkey: Vec<u8>,
    iods: Vec<IodDesc>,
    sgl: Sgl,
    epoch: Option<Epoch>,
    tries: Cell<u32>,
    fetch: Option<FetchOut>,
}

/// The argument the seed pushes on the task stack around
/// `dc_io_epoch_set`.
struct EpochArg {
    epoch: Epoch,
}

fn retryable(rc: i32) -> bool {
    matches!(
        -rc,
        der::DER_TX_RESTART | der::DER_INPROGRESS | der::DER_STALE
    )
}

impl ObjHandle {
    /// The object id.
    pub fn oid(&self) -> ObjId {
        self.oid
    }

    /// The container.
    pub fn cont(&self) -> ContId {
        self.cont
    }

    /// The object's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The target an update of `dkey` is sent to: the leader of the
    /// dkey's redundancy group (`obj_shards_2_fwtgts`).
    pub fn dkey_leader(&self, dkey: &[u8]) -> Result<TargetId, ObjError> {
        self.group_targets(dkey)
            .map(|(leader, _)| leader)
            .map_err(|rc| ObjError::Failed {
                op: "obj_shards_2_fwtgts",
                rc,
            })
    }

    /// The client.
    pub fn client(&self) -> &ObjClient {
        &self.cli
    }

    /// The dkey's group and the index of its leader in it.
    fn group_of(&self, dkey: &[u8]) -> Result<(&[TargetId], usize), i32> {
        let hash = dkey_hash(dkey, self.int_dkeys);
        let g = self.layout.dkey_group(hash);
        let leader = self.layout.leader(hash, g, &[]).ok_or(-der::DER_STALE)?;
        Ok((&self.layout.groups[g], leader))
    }

    /// The dkey's group: its leader, then the other replicas.
    fn group_targets(&self, dkey: &[u8]) -> Result<(TargetId, Vec<TargetId>), i32> {
        let (grp, leader) = self.group_of(dkey)?;
        let fwd = grp
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != leader)
            .map(|(_, t)| *t)
            .collect();
        Ok((grp[leader], fwd))
    }

    fn check(&self, dkey: &[u8], iods: &[IodDesc], sgl: Option<&Sgl>) -> Result<(), ObjError> {
        if dkey.is_empty() {
            return Err(ObjError::Inval("empty dkey"));
        }
        if iods.is_empty() {
            return Err(ObjError::Inval("no iod"));
        }
        let mut total = 0u64;
        for i in iods {
            if i.akey.is_empty() {
                return Err(ObjError::Inval("empty akey"));
            }
            if !i.single
                && (i.rsize == 0 || i.recxs.is_empty() || i.recxs.iter().any(|r| r.nr == 0))
            {
                return Err(ObjError::Inval("array iod without records"));
            }
            if i.recxs.iter().any(|r| r.idx.checked_add(r.nr).is_none()) {
                return Err(ObjError::Inval("extent past the end of the index space"));
            }
            total = i
                .data_len()
                .and_then(|n| total.checked_add(n))
                .ok_or(ObjError::Inval("iod sizes overflow"))?;
        }
        if let Some(sgl) = sgl {
            let have: u64 = sgl.iter().map(|b| b.len() as u64).sum();
            if have != total {
                return Err(ObjError::Inval("sgl length does not match the iods"));
            }
            if iods.iter().any(|i| i.single && i.rsize == 0) {
                return Err(ObjError::Inval("empty single value"));
            }
        }
        Ok(())
    }

    /// `dc_obj_update_task`: an update of `dkey` with `iods`, whose data is
    /// `sgl`, at `epoch` (`None`: a fresh epoch from the client's clock on
    /// every try). Created, not scheduled: schedule it, register it as a
    /// dependency, or await it. Completes once every replica has the
    /// update durably.
    pub fn update_task(
        &self,
        dkey: &[u8],
        iods: Vec<IodDesc>,
        sgl: Sgl,
        epoch: Option<Epoch>,
    ) -> Result<Task, ObjError> {
        self.check(dkey, &iods, Some(&sgl))?;
        Ok(self.rw_task(
            "dc_obj_update_task",
            UpdateArgs {
                h: self.clone(),
                dkey: dkey.to_vec(),
                iods,
                sgl,
                epoch,
                tries: Cell::new(0),
                fetch: None,
            },
        ))
    }

    /// `dc_obj_fetch_task`: reads `iods` of `dkey` at `epoch` (`None`: now)
    /// from the group's leader. The result is left in the returned cell
    /// once the task succeeded.
    pub fn fetch_task(
        &self,
        dkey: &[u8],
        iods: Vec<IodDesc>,
        epoch: Option<Epoch>,
    ) -> Result<(Task, FetchOut), ObjError> {
        self.check(dkey, &iods, None)?;
        let out: FetchOut = Rc::new(RefCell::new(None));
        let t = self.rw_task(
            "dc_obj_fetch_task",
            UpdateArgs {
                h: self.clone(),
                dkey: dkey.to_vec(),
                iods,
                sgl: Vec::new(),
                epoch,
                tries: Cell::new(0),
                fetch: Some(out.clone()),
            },
        );
        Ok((t, out))
    }

    fn rw_task(&self, name: &'static str, args: UpdateArgs) -> Task {
        let args = Rc::new(args);
        self.cli
            .inner
            .sched
            .create_named(name, move |t| dc_obj_rw_task(t, &args))
    }

    /// Blocking update: runs [`update_async`](Self::update_async) to the
    /// end on the client's scheduler.
    pub fn update(
        &self,
        dkey: &[u8],
        iods: Vec<IodDesc>,
        sgl: Sgl,
        epoch: Option<Epoch>,
    ) -> Result<(), ObjError> {
        self.cli
            .sched()
            .block_on(self.update_async(dkey, iods, sgl, epoch))
    }

    /// `dc_obj_update`: creates [`update_task`](Self::update_task),
    /// schedules it and awaits it (on the client's scheduler).
    pub async fn update_async(
        &self,
        dkey: &[u8],
        iods: Vec<IodDesc>,
        sgl: Sgl,
        epoch: Option<Epoch>,
    ) -> Result<(), ObjError> {
        let t = self.update_task(dkey, iods, sgl, epoch)?;
        self.cli.run_task(t, "dc_obj_update").await
    }

    /// Blocking fetch: runs [`fetch_async`](Self::fetch_async) to the end
    /// on the client's scheduler.
    pub fn fetch(
        &self,
        dkey: &[u8],
        iods: Vec<IodDesc>,
        epoch: Option<Epoch>,
    ) -> Result<FetchResult, ObjError> {
        self.cli
            .sched()
            .block_on(self.fetch_async(dkey, iods, epoch))
    }

    /// `dc_obj_fetch`: creates [`fetch_task`](Self::fetch_task), schedules
    /// it and awaits it (on the client's scheduler); the data read.
    pub async fn fetch_async(
        &self,
        dkey: &[u8],
        iods: Vec<IodDesc>,
        epoch: Option<Epoch>,
    ) -> Result<FetchResult, ObjError> {
        let (t, out) = self.fetch_task(dkey, iods, epoch)?;
        self.cli.run_task(t, "dc_obj_fetch").await?;
        let r = out.borrow_mut().take();
        r.ok_or(ObjError::Proto("fetch completed without data".into()))
    }

    /// Reads from one given target of the object's layout instead of the
    /// leader (to check what a replica holds).
    pub fn fetch_from(
        &self,
        to: TargetId,
        dkey: &[u8],
        iods: Vec<IodDesc>,
        epoch: Epoch,
    ) -> Result<FetchResult, ObjError> {
        self.check(dkey, &iods, None)?;
        let mut req = ObjReq::new(self.cont, self.oid, epoch);
        req.dkey = dkey.to_vec();
        req.iods = iods;
        let (t, a) = self
            .cli
            .shard_rpc("dc_obj_shard_rw", to, Opcode::ObjFetch, &req, Vec::new());
        t.schedule(true)
            .map_err(|_| ObjError::Inval("scheduler closed"))?;
        self.cli.wait(&t, "dc_obj_fetch")?;
        let r = a.borrow_mut().take();
        let (rep, bulk) = r.ok_or(ObjError::Proto("no reply".into()))?;
        fetch_result(rep, bulk)
    }

    /// `dc_obj_punch_task`: punches the object (`kind` `Obj`), `dkey`, its
    /// akeys or records (`iods`) at `epoch` (`None`: now), on every replica
    /// of the groups concerned.
    pub fn punch_task(
        &self,
        kind: PunchKind,
        dkey: &[u8],
        iods: Vec<IodDesc>,
        epoch: Option<Epoch>,
    ) -> Result<Task, ObjError> {
        if kind != PunchKind::Obj && dkey.is_empty() {
            return Err(ObjError::Inval("empty dkey"));
        }
        if matches!(kind, PunchKind::Akeys | PunchKind::Recx) && iods.is_empty() {
            return Err(ObjError::Inval("no iod to punch"));
        }
        let epoch = epoch.unwrap_or_else(|| self.cli.epoch_now());
        let mut req = ObjReq::new(self.cont, self.oid, epoch);
        req.dkey = dkey.to_vec();
        req.iods = iods;
        req.punch = kind;
        let leaders: Vec<(TargetId, Vec<TargetId>)> = if kind == PunchKind::Obj {
            (0..self.layout.groups.len())
                .map(|g| {
                    let grp = &self.layout.groups[g];
                    (grp[0], grp[1..].to_vec())
                })
                .collect()
        } else {
            vec![self.group_targets(dkey).map_err(|rc| ObjError::Failed {
                op: "obj_shards_2_fwtgts",
                rc,
            })?]
        };
        let parent = self
            .cli
            .inner
            .sched
            .create_named("dc_obj_punch_task", |t| t.complete(0));
        let mut shards = Vec::new();
        for (leader, fwd) in leaders {
            let mut r = req.clone();
            r.fwd = fwd;
            let (t, _) =
                self.cli
                    .shard_rpc("dc_obj_shard_rw", leader, Opcode::ObjPunch, &r, Vec::new());
            shards.push(t);
        }
        parent
            .register_deps(&shards)
            .map_err(|_| ObjError::Inval("dependency"))?;
        tse::list_sched(&shards, false).map_err(|_| ObjError::Inval("scheduler closed"))?;
        parent
            .schedule(false)
            .map_err(|_| ObjError::Inval("scheduler closed"))?;
        Ok(parent)
    }

    /// Blocking punch: runs [`punch_async`](Self::punch_async) to the end
    /// on the client's scheduler.
    pub fn punch(
        &self,
        kind: PunchKind,
        dkey: &[u8],
        iods: Vec<IodDesc>,
        epoch: Option<Epoch>,
    ) -> Result<(), ObjError> {
        self.cli
            .sched()
            .block_on(self.punch_async(kind, dkey, iods, epoch))
    }

    /// `dc_obj_punch`: [`punch_task`](Self::punch_task) (scheduled when
    /// made), awaited on the client's scheduler.
    pub async fn punch_async(
        &self,
        kind: PunchKind,
        dkey: &[u8],
        iods: Vec<IodDesc>,
        epoch: Option<Epoch>,
    ) -> Result<(), ObjError> {
        let t = self.punch_task(kind, dkey, iods, epoch)?;
        self.cli.adopt(&t);
        t.await.map_err(|e| ObjError::Failed {
            op: "dc_obj_punch",
            rc: e.rc(),
        })
    }

    /// One RPC to every group's leader, awaited together: the replies in
    /// group order.
    async fn every_group(&self, opcode: Opcode, req: ObjReq) -> Result<Vec<ObjReply>, ObjError> {
        let frame = req.encode_unsealed();
        let parts: Vec<(Task, Answer)> = self
            .layout
            .groups
            .iter()
            .map(|g| {
                self.cli
                    .shard_rpc_frame("dc_obj_shard_rw", g[0], opcode, frame.clone(), Vec::new())
            })
            .collect();
        let tasks: Vec<Task> = parts.iter().map(|p| p.0.clone()).collect();
        for t in &tasks {
            self.cli.adopt(t);
        }
        tse::list_sched(&tasks, true).map_err(|_| ObjError::Inval("scheduler closed"))?;
        let mut out = Vec::with_capacity(parts.len());
        for (t, a) in parts {
            t.await.map_err(|e| ObjError::Failed {
                op: "dc_obj_shard_rw",
                rc: e.rc(),
            })?;
            let r = a.borrow_mut().take();
            out.push(r.ok_or(ObjError::Proto("no reply".into()))?.0);
        }
        Ok(out)
    }

    /// `daos_obj_query_key` (max dkey, max recx): over every group, the
    /// highest integer dkey whose akey `akey` holds data at `epoch`
    /// (`None`: now), and one past its last record there.
    pub fn query_key_max(
        &self,
        akey: &[u8],
        epoch: Option<Epoch>,
    ) -> Result<Option<(u64, u64)>, ObjError> {
        self.cli
            .sched()
            .block_on(self.query_key_max_async(akey, epoch))
    }

    /// [`query_key_max`](Self::query_key_max) as a future, to await on the
    /// client's scheduler (its RPCs run as tasks meanwhile).
    pub async fn query_key_max_async(
        &self,
        akey: &[u8],
        epoch: Option<Epoch>,
    ) -> Result<Option<(u64, u64)>, ObjError> {
        Ok(self.query_key_async(akey, epoch).await?.0)
    }

    /// `daos_obj_query_key` with the object's newest epoch, as DAOS's
    /// `daos_array_stat` asks for: [`query_key_max`](Self::query_key_max)'s
    /// answer, and the epoch of the newest write or punch of the whole
    /// object on any of its groups (0 if never written; dkey, akey and
    /// record punches are not counted).
    pub async fn query_key_async(
        &self,
        akey: &[u8],
        epoch: Option<Epoch>,
    ) -> Result<(Option<(u64, u64)>, Epoch), ObjError> {
        let (max, newest, _) = self.query_key_records_async(akey, epoch).await?;
        Ok((max, newest))
    }

    /// [`query_key_async`](Self::query_key_async)'s answer and, in the same
    /// RPCs, the records holding data in akey `akey` of all the object's
    /// dkeys (what a sparse array really has written).
    pub async fn query_key_records_async(
        &self,
        akey: &[u8],
        epoch: Option<Epoch>,
    ) -> Result<(Option<(u64, u64)>, Epoch, u64), ObjError> {
        let mut req = ObjReq::new(
            self.cont,
            self.oid,
            epoch.unwrap_or_else(|| self.cli.epoch_now()),
        );
        req.iods = vec![IodDesc::array(akey, 1, Vec::new())];
        let mut best: Option<(u64, u64)> = None;
        let mut newest = 0;
        let mut records = 0u64;
        for rep in self.every_group(Opcode::ObjQueryKey, req).await? {
            if rep.status != 0 {
                return Err(ObjError::Failed {
                    op: "obj_query_key",
                    rc: rep.status,
                });
            }
            newest = newest.max(rep.epoch);
            records = records.saturating_add(rep.sizes.first().copied().unwrap_or(0));
            if let Some((k, end)) = rep.max {
                let k: [u8; 8] = k
                    .as_slice()
                    .try_into()
                    .map_err(|_| ObjError::Proto("query_key_max on a non-integer dkey".into()))?;
                let k = u64::from_be_bytes(k);
                if best.is_none_or(|(b, _)| k > b) {
                    best = Some((k, end));
                }
            }
        }
        Ok((best, newest, records))
    }

    /// The object's dkeys at `epoch` (`None`: now), over every group, sorted.
    pub fn list_dkeys(&self, epoch: Option<Epoch>) -> Result<Vec<Vec<u8>>, ObjError> {
        self.cli.sched().block_on(self.list_dkeys_async(epoch))
    }

    /// `daos_obj_list_dkey`: [`list_dkeys`](Self::list_dkeys) as a future,
    /// to await on the client's scheduler.
    pub async fn list_dkeys_async(&self, epoch: Option<Epoch>) -> Result<Vec<Vec<u8>>, ObjError> {
        let req = ObjReq::new(
            self.cont,
            self.oid,
            epoch.unwrap_or_else(|| self.cli.epoch_now()),
        );
        let reps = self.every_group(Opcode::ObjEnumDkeys, req).await?;
        let mut keys = Vec::new();
        for rep in reps {
            if rep.status != 0 {
                return Err(ObjError::Failed {
                    op: "obj_enum_dkeys",
                    rc: rep.status,
                });
            }
            keys.extend(rep.keys);
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
    /// `daos_obj_list_akey`: the akeys of `dkey` at `epoch` (`None`: now),
    /// from the leader of the dkey's group, sorted.
    pub async fn list_akeys_async(
        &self,
        dkey: &[u8],
        epoch: Option<Epoch>,
    ) -> Result<Vec<Vec<u8>>, ObjError> {
        let mut req = ObjReq::new(
            self.cont,
            self.oid,
            epoch.unwrap_or_else(|| self.cli.epoch_now()),
        );
        req.dkey = dkey.to_vec();
        let to = self.dkey_leader(dkey)?;
        let (t, a) = self.cli.shard_rpc(
            "dc_obj_shard_rw",
            to,
            Opcode::ObjEnumAkeys,
            &req,
            Vec::new(),
        );
        self.cli.run_task(t, "obj_enum_akeys").await?;
        let rep = a
            .borrow_mut()
            .take()
            .ok_or(ObjError::Proto("no reply".into()))?
            .0;
        if rep.status != 0 {
            return Err(ObjError::Failed {
                op: "obj_enum_akeys",
                rc: rep.status,
            });
        }
        let mut keys = rep.keys;
        keys.sort();
        Ok(keys)
    }
}

fn fetch_result(rep: ObjReply, bulk: Vec<BulkRef>) -> Result<FetchResult, ObjError> {
    let data = match rep.data {
        Some(DataDesc::Inline(v)) => v,
        Some(DataDesc::Bulk(n)) => {
            let got: u64 = bulk.iter().map(|b| b.len() as u64).sum();
            if got != n {
                return Err(ObjError::Proto(format!(
                    "bulk of {got} bytes, reply says {n}"
                )));
            }
            match bulk.len() {
                1 => bulk
                    .into_iter()
                    .next()
                    .map(BulkRef::into_vec)
                    .unwrap_or_default(),
                _ => bulk.iter().flat_map(|b| b.as_slice()).copied().collect(),
            }
        }
        _ => Vec::new(),
    };
    Ok(FetchResult {
        data,
        holes: rep.holes,
        sizes: rep
            .sizes
            .into_iter()
            .map(|s| (s != u64::MAX).then_some(s))
            .collect(),
    })
}

/// The body of `dc_obj_update_task` / `dc_obj_fetch_task`.
fn dc_obj_rw_task(t: &Task, a: &Rc<UpdateArgs>) {
    let sh = t.sched();
    let kind = match a.fetch {
        Some(_) => RwKind::Fetch,
        None => RwKind::Update,
    };
    // obj_req_valid: the request was checked when the task was made; a
    // re-run only checks that the object is still usable.
    let step = sh.step("obj_req_valid");
    step.end(0);
    // dc_io_epoch_set, with the seed's stack push/pop around it.
    if let Err(e) = t.stack_push(EpochArg { epoch: 0 }) {
        return t.complete(e.rc());
    }
    let step = sh.step("dc_io_epoch_set");
    let epoch = a.epoch.unwrap_or_else(|| a.h.cli.epoch_now());
    let _ = t.stack_with_top(|e: &mut EpochArg| e.epoch = epoch);
    step.end(0);
    let epoch = match t.stack_pop::<EpochArg>() {
        Ok(e) => e.epoch,
        Err(e) => return t.complete(e.rc()),
    };
    dc_obj_update(t, a, epoch, kind);
}

/// Which of the two read-write operations a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RwKind {
    /// `dc_obj_fetch`: read, no bulk sent.
    Fetch,
    /// `dc_obj_update`: write, the data inline or as bulk.
    Update,
}

/// `dc_obj_update` (and its fetch twin): route, prepare bulk, fan out.
fn dc_obj_update(t: &Task, a: &Rc<UpdateArgs>, epoch: Epoch, kind: RwKind) {
    let sh = t.sched();
    let step = sh.step(match kind {
        RwKind::Fetch => "dc_obj_fetch",
        RwKind::Update => "dc_obj_update",
    });
    // obj_task_init: the completion callback that retries.
    let init = sh.step("obj_task_init");
    let a2 = a.clone();
    let _ = t.register_comp_cb(move |t| obj_comp_cb(t, &a2));
    init.end(0);
    let fw = sh.step("obj_shards_2_fwtgts");
    let (group, leader) = match a.h.group_of(&a.dkey) {
        Ok(x) => x,
        Err(rc) => {
            fw.end(rc);
            step.end(rc);
            return t.complete(rc);
        }
    };
    fw.end(0);
    // The request is encoded from the task's arguments as they are (no
    // copy of keys or descriptors); inline data goes from the caller's
    // buffers straight into the frame.
    let mut req = ReqRef {
        cont: a.h.cont,
        oid: a.h.oid,
        epoch,
        dti: 0,
        trace_parent: 0,
        dkey: &a.dkey,
        iods: &a.iods,
        fwd: &[],
        fwd_skip: usize::MAX,
        data: DataRef::None,
        punch: PunchKind::Obj,
        versions: &[],
        label: "",
    };
    let mut bulk = Vec::new();
    if kind == RwKind::Update {
        req.fwd = group;
        req.fwd_skip = leader;
        let bp = sh.step("obj_rw_bulk_prep");
        let total: usize = a.sgl.iter().map(BulkRef::len).sum();
        if total < BULK_THRESHOLD {
            req.data = DataRef::InlinePieces(&a.sgl);
        } else {
            req.data = DataRef::Bulk(total as u64);
            bulk = a.sgl.clone();
        }
        bp.end(0);
    }
    let frame = req.encode_unsealed();
    let leader = group[leader];
    let fan = sh.step("obj_req_fanout");
    let opcode = match kind {
        RwKind::Fetch => Opcode::ObjFetch,
        RwKind::Update => Opcode::ObjUpdate,
    };
    let answer: Option<Answer> = a.fetch.as_ref().map(|_| Rc::new(RefCell::new(None)));
    let shard = a.h.cli.rpc_task(
        "dc_obj_shard_rw",
        leader,
        opcode,
        frame,
        bulk,
        answer.clone(),
    );
    if let (Some(out), Some(answer)) = (&a.fetch, answer) {
        let out = out.clone();
        let _ = shard.register_comp_cb_last(move |s| {
            if s.result() != 0 {
                return 0;
            }
            let r = answer.borrow_mut().take();
            match r.map(|(rep, bulk)| fetch_result(rep, bulk)) {
                Some(Ok(res)) => {
                    *out.borrow_mut() = Some(res);
                    0
                }
                Some(Err(e)) => e.rc(),
                None => -der::DER_PROTO,
            }
        });
    }
    let r = t.register_dep(&shard).and_then(|_| shard.schedule(true));
    fan.end(r.as_ref().map_or(-der::DER_INVAL, |_| 0));
    step.end(0);
    if r.is_err() {
        t.complete(-der::DER_INVAL);
    }
}

/// `obj_comp_cb`: on a retryable failure with a client-chosen epoch, run
/// the task again (a new epoch), with a growing delay after the first
/// retry, up to [`MAX_RETRIES`] times.
fn obj_comp_cb(t: &Task, a: &Rc<UpdateArgs>) -> i32 {
    let rc = t.result();
    if rc == 0 || !retryable(rc) || a.epoch.is_some() {
        return 0;
    }
    let n = a.tries.get();
    if n >= MAX_RETRIES {
        return 0;
    }
    a.tries.set(n + 1);
    let r = if n == 0 {
        t.reinit()
    } else {
        t.reinit_delayed(Duration::from_micros(100 << n.min(10)))
    };
    if r.is_err() {
        return rc;
    }
    0
}
