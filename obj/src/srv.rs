//! The engine side of the object RPCs (DAOS's `srv_obj.c`): one thread per
//! target, each with its own scheduler, io_uring ring (bio context), VOS
//! target and device region; targets share nothing on the I/O path.
//!
//! `ds_obj_rw_handler` for an update runs, as in the seed:
//! `obj_ioc_begin` (open the container on this target), `process_epoch`
//! (the epoch must be inside the engine's uncertainty window, else
//! `-DER_TX_RESTART`, which the client retries with a fresh epoch),
//! `dtx_leader_begin`, then `dtx_leader_exec_ops`: `obj_tgt_update` on
//! every replica of the dkey's group (the other replicas get a
//! `TgtUpdate` RPC and pull the data from the client's bulk themselves)
//! and on itself (`obj_local_rw` -> `vos_update_begin` -> bio).
//! `dtx_leader_end` waits for all of them; if any failed, the DTX is
//! aborted on every participant where it succeeded (the exact versions
//! are removed, see `vos::Cont::abort`) before `obj_rw_reply` reports the
//! failure, so no replica keeps a version the others lack. Otherwise
//! `obj_rw_complete` / `obj_rw_reply` acknowledge: every replica has the
//! update durably. Punches (`ds_obj_punch_handler`) go the same way: a
//! punch that fails on one replica is aborted on the others
//! (`vos::Cont::abort` for akey, record and single-value punches,
//! `vos::Cont::abort_punch` for object and dkey punches), so what it
//! would have removed stays readable on every replica.
//!
//! Differences from DAOS, on purpose: an update or punch is visible on a
//! replica as soon as it is durable there (DAOS keeps it "prepared" and
//! hidden on non-leaders until the DTX commits); a reader on a replica can
//! therefore see it for the short time before an abort takes it back.
//! Fetches are tasks too: a target's reads are all in flight at once
//! and nothing waits under a handler.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use bio::{BioConfig, BioCtx, DevOpts};
use tse::{der, RemoteTask, Sched, SchedHandle, Task, Tracer};
use vos::{Cont, ContId, Recx, Version};

use crate::error::ObjError;
use crate::hlc::{EpochError, Hlc, DEFAULT_EPSILON_NS};
use crate::placement::{PoolMap, TargetId};
use crate::rpc::{
    DataDesc, DataRef, ObjReply, ObjReq, PunchKind, ReqRef, TargetSpace, BULK_THRESHOLD,
};
use crate::transport::{BulkRef, InProc, Msg, ReplySlot, ReplyTo, Transport};
use crate::wire::{Header, Opcode};

/// How far behind the engine's clock an update's epoch may be before it
/// is refused (DAOS bounds it by the uncertainty window as well).
pub const DEFAULT_WINDOW_NS: u64 = 10_000_000_000;

/// What an engine runs on.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The pool's device: a file, block device or NVMe namespace made by
    /// [`pool_create`].
    pub path: PathBuf,
    /// Engines (fault domains) the pool's targets are spread over.
    pub engines: u32,
    /// Targets per engine.
    pub targets_per_engine: u32,
    /// Each target's bio context (DMA buffers, ring size).
    pub bio: BioConfig,
    /// Records spans of every target's steps when set.
    pub tracer: Option<Tracer>,
    /// How far ahead of the engine's clock an epoch may be.
    pub epsilon_ns: u64,
    /// How far behind it an update's epoch may be.
    pub window_ns: u64,
    /// How often each target aggregates in the background (reclaims the
    /// space of versions that newer ones or punches cover, below
    /// everything in flight and a little behind the clock); `None`:
    /// never. Aggregation on demand (an allocation that finds no room)
    /// and soon after a punch run either way.
    pub aggregation: Option<Duration>,
}

impl EngineConfig {
    /// An engine of `engines` x `targets_per_engine` targets on `path`,
    /// with 16 MiB of DMA buffers per target and DAOS's 1 s epsilon.
    pub fn new(path: impl AsRef<Path>, engines: u32, targets_per_engine: u32) -> EngineConfig {
        EngineConfig {
            path: path.as_ref().to_path_buf(),
            engines,
            targets_per_engine,
            bio: BioConfig {
                dma_chunks: 16,
                ..BioConfig::default()
            },
            tracer: None,
            epsilon_ns: DEFAULT_EPSILON_NS,
            window_ns: DEFAULT_WINDOW_NS,
            aggregation: Some(Duration::from_secs(2)),
        }
    }
}

/// Formats `path` (created or grown to `size` bytes if it is a regular
/// file) as a pool of `engines x targets_per_engine` targets with id
/// `pool`.
pub fn pool_create(
    path: impl AsRef<Path>,
    size: u64,
    pool: u128,
    engines: u32,
    targets_per_engine: u32,
) -> Result<vos::PoolMapInfo, ObjError> {
    let map = PoolMap::new(engines, targets_per_engine)?;
    let s = Sched::new();
    let ctx = BioCtx::open(
        &s.handle(),
        path,
        &DevOpts {
            create_size: Some(size),
            ..DevOpts::default()
        },
        &BioConfig {
            dma_chunks: 4,
            ..BioConfig::default()
        },
    )
    .map_err(ObjError::from)?;
    vos::pool_create(&ctx, pool, map.targets()).map_err(ObjError::from)
}

/// A fault to inject on one target, for tests of the failure paths (as
/// DAOS's fault-injection points).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The next `n` updates on the target fail their local write with
    /// `-DER_IO` (nothing is written).
    UpdateIo(u32),
    /// The next `n` updates on the target are refused by `process_epoch`
    /// with `-DER_TX_RESTART`, as if their epoch were outside the window.
    EpochRestart(u32),
    /// The next `n` punches on the target fail their local operation with
    /// `-DER_IO` (nothing is removed there).
    PunchIo(u32),
    /// The next `n` updates arriving at the target (a leader's or a
    /// replica's) are held unanswered, as if the engine had stopped
    /// answering, until [`Engine::release_held`] or the engine stops;
    /// then they run as if they had just arrived.
    UpdateHold(u32),
}

#[derive(Default)]
struct Faults {
    io: Vec<AtomicU32>,
    restart: Vec<AtomicU32>,
    punch_io: Vec<AtomicU32>,
    hold: Vec<AtomicU32>,
    /// Updates held by [`Fault::UpdateHold`] so far, on all targets.
    held: AtomicU64,
}

impl Faults {
    fn take(v: &[AtomicU32], i: usize) -> bool {
        v[i].fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// One target's state, owned by its thread.
struct TgtCtx {
    idx: usize,
    vos: vos::Target,
    conts: RefCell<HashMap<ContId, Cont>>,
    hlc: Arc<Hlc>,
    transport: RefCell<Option<Arc<InProc>>>,
    faults: Arc<Faults>,
    epsilon_ns: u64,
    window_ns: u64,
    next_rpc: Cell<u64>,
    /// The epochs this target's aggregation must stay below.
    horizon: Rc<Horizon>,
    /// A prompt aggregation (after a punch) is scheduled.
    agg_soon: Rc<Cell<bool>>,
    /// What updates held by [`Fault::UpdateHold`] depend on: completing
    /// it lets them run.
    gate: RefCell<Option<Task>>,
}

/// How far behind the clock background aggregation stays (at most the
/// engine's window): an operation whose epoch was taken that long before
/// it reaches its target is rare, so few updates are restarted because an
/// aggregation passed their epoch before they arrived.
const AGG_LAG_NS: u64 = 100_000_000;

/// What a target's aggregation horizon must stay below: the epochs of the
/// updates and punches in flight on the target (a DTX that may still
/// abort them needs the versions under them), and, for the window after
/// they finished, those it ran as a replica (their leader may still send
/// the abort; there is no DTX commit message to say it will not).
struct Horizon {
    hlc: Arc<Hlc>,
    window_ns: u64,
    /// Epoch -> operations in flight at it.
    inflight: RefCell<std::collections::BTreeMap<u64, u32>>,
    /// (finished at, epoch) of replica operations, oldest first.
    held: RefCell<std::collections::VecDeque<(std::time::Instant, u64)>>,
}

impl Horizon {
    /// The stable horizon: the newest epoch below everything in flight
    /// (now, when nothing is). Aggregation on demand (an allocation that
    /// found no room) uses it: what an `rm` freed is reusable by the very
    /// next write.
    fn stable(&self) -> u64 {
        let mut h = self.hlc.now();
        if let Some((&e, _)) = self.inflight.borrow().first_key_value() {
            h = h.min(e.saturating_sub(1));
        }
        let mut held = self.held.borrow_mut();
        let window = Duration::from_nanos(self.window_ns);
        while held.front().is_some_and(|(at, _)| at.elapsed() > window) {
            held.pop_front();
        }
        if let Some(e) = held.iter().map(|(_, e)| *e).min() {
            h = h.min(e.saturating_sub(1));
        }
        h
    }

    /// The horizon of background aggregation: the stable horizon, kept
    /// [`AGG_LAG_NS`] (at most the window) behind the clock.
    fn lagged(&self) -> u64 {
        let lag = self.window_ns.min(AGG_LAG_NS);
        self.stable().min(self.hlc.now().saturating_sub(lag))
    }

    fn begin(&self, epoch: u64) {
        *self.inflight.borrow_mut().entry(epoch).or_insert(0) += 1;
    }

    fn end(&self, epoch: u64, role: DtxRole) {
        let mut m = self.inflight.borrow_mut();
        if let Some(n) = m.get_mut(&epoch) {
            *n -= 1;
            if *n == 0 {
                m.remove(&epoch);
            }
        }
        if role == DtxRole::Replica {
            self.held
                .borrow_mut()
                .push_back((std::time::Instant::now(), epoch));
        }
    }
}

thread_local! {
    static TGT: RefCell<Option<Rc<TgtCtx>>> = const { RefCell::new(None) };
}

impl TgtCtx {
    /// `obj_ioc_begin`'s container lookup (cached per target).
    fn cont(&self, id: ContId) -> Result<Cont, i32> {
        if let Some(c) = self.conts.borrow().get(&id) {
            return Ok(c.clone());
        }
        let c = self.vos.cont_open(id).map_err(|e| e.rc())?;
        self.conts.borrow_mut().insert(id, c.clone());
        Ok(c)
    }

    /// `process_epoch`: inside the uncertainty window, or a retryable
    /// `-DER_TX_RESTART`. A write's epoch must also be inside the window
    /// behind the clock; a read only moves the clock.
    fn process_epoch(&self, epoch: u64, access: EpochAccess) -> Result<(), i32> {
        let write = access == EpochAccess::Write;
        if write && Faults::take(&self.faults.restart, self.idx) {
            return Err(-der::DER_TX_RESTART);
        }
        let r = match access {
            EpochAccess::Write => self.hlc.check_epoch(epoch, self.epsilon_ns, self.window_ns),
            EpochAccess::Read => self.hlc.update(epoch, self.epsilon_ns).map(|_| ()),
        };
        r.map_err(|e| match e {
            EpochError::Future { .. } | EpochError::Stale { .. } => -der::DER_TX_RESTART,
        })
    }

    /// An update at or below the epoch aggregation has passed could land
    /// under a punch whose subtree is gone: `-DER_TX_RESTART` (the client
    /// retries with a fresh epoch). A late punch is harmless (it only
    /// hides more of what is below it) and goes through.
    fn check_aggregated(&self, epoch: u64) -> Result<(), i32> {
        match epoch <= self.vos.aggregated_epoch() {
            true => Err(-der::DER_TX_RESTART),
            false => Ok(()),
        }
    }

    /// The epoch a read at `epoch` is served at: no lower than what
    /// aggregation passed (versions below it may be folded; DAOS likewise
    /// serves reads below its aggregated epoch from what is left).
    fn read_epoch(&self, epoch: u64) -> u64 {
        epoch.max(self.vos.aggregated_epoch())
    }

    /// Schedules one aggregation on this target's scheduler once the
    /// background horizon has passed what a punch just removed (after
    /// the lag), so an `rm`'s space comes back, and `df` shows it, without
    /// waiting for the periodic pass. One at a time.
    fn aggregate_soon(&self, sh: &SchedHandle) {
        if self.agg_soon.replace(true) {
            return;
        }
        let (vos, h, flag) = (
            self.vos.clone(),
            self.horizon.clone(),
            self.agg_soon.clone(),
        );
        let t = sh.create_named("vos_aggregate", move |t| {
            flag.set(false);
            let rc = vos.aggregate(h.lagged()).map_or_else(|e| e.rc(), |_| 0);
            t.complete(rc);
        });
        let lag = Duration::from_nanos(self.window_ns.min(AGG_LAG_NS));
        if t.schedule_delayed(lag).is_err() {
            self.agg_soon.set(false);
        }
    }

    /// Holds the running handler task `t` ([`Fault::UpdateHold`]): it
    /// runs again once the gate opens. False if it could not be held.
    fn hold(&self, t: &Task) -> bool {
        let gate = self
            .gate
            .borrow_mut()
            .get_or_insert_with(|| t.sched().create_empty("update_hold"))
            .clone();
        let held = t.register_dep(&gate).is_ok() && t.reinit().is_ok();
        if held {
            self.faults.held.fetch_add(1, Ordering::Relaxed);
        }
        held
    }

    /// Lets every held update run.
    fn release_held(&self) {
        let gate = self.gate.borrow_mut().take();
        if let Some(g) = gate {
            g.complete(0);
        }
    }

    fn transport(&self) -> Result<Arc<InProc>, i32> {
        self.transport.borrow().clone().ok_or(-der::DER_STALE)
    }

    fn rpc_id(&self) -> u64 {
        let id = self.next_rpc.get() + 1;
        self.next_rpc.set(id);
        (self.idx as u64) << 48 | id
    }
}

/// A running engine: its target threads and the transport that reaches
/// them.
pub struct Engine {
    info: vos::PoolMapInfo,
    transport: Arc<InProc>,
    stops: Vec<RemoteTask>,
    threads: Vec<std::thread::JoinHandle<Result<(), ObjError>>>,
    faults: Arc<Faults>,
}

type Started = Result<(tse::RemoteSched, RemoteTask), ObjError>;

impl Engine {
    /// Opens the pool at `cfg.path` and starts one thread per target, each
    /// opening (and replaying) its own VOS target on its own ring.
    pub fn start(cfg: EngineConfig) -> Result<Engine, ObjError> {
        let map = PoolMap::new(cfg.engines, cfg.targets_per_engine)?;
        let info = {
            let s = Sched::new();
            let ctx = BioCtx::open(
                &s.handle(),
                &cfg.path,
                &DevOpts::default(),
                &BioConfig {
                    dma_chunks: 1,
                    ..BioConfig::default()
                },
            )
            .map_err(ObjError::from)?;
            vos::pool_query(&ctx).map_err(ObjError::from)?
        };
        if info.nr_targets != map.targets() {
            return Err(ObjError::Storage(format!(
                "the pool has {} targets, the engine config {} x {}",
                info.nr_targets, cfg.engines, cfg.targets_per_engine
            )));
        }
        let n = map.targets() as usize;
        let faults = Arc::new(Faults {
            io: (0..n).map(|_| AtomicU32::new(0)).collect(),
            restart: (0..n).map(|_| AtomicU32::new(0)).collect(),
            punch_io: (0..n).map(|_| AtomicU32::new(0)).collect(),
            hold: (0..n).map(|_| AtomicU32::new(0)).collect(),
            held: AtomicU64::new(0),
        });
        let hlcs: Vec<Arc<Hlc>> = (0..cfg.engines).map(|_| Arc::new(Hlc::new())).collect();
        let mut threads = Vec::with_capacity(n);
        let mut started = Vec::with_capacity(n);
        for idx in 0..n {
            let (tx, rx) = mpsc::channel::<Started>();
            let cfg = cfg.clone();
            let faults = faults.clone();
            let hlc = hlcs[idx / cfg.targets_per_engine as usize].clone();
            let th = std::thread::Builder::new()
                .name(format!("rdaos-tgt{idx}"))
                .spawn(move || target_main(idx, cfg, info, hlc, faults, tx))
                .map_err(|e| ObjError::Storage(format!("starting target thread {idx}: {e}")))?;
            threads.push(th);
            started.push(rx);
        }
        let mut remotes = Vec::with_capacity(n);
        let mut stops = Vec::with_capacity(n);
        let mut first_err = None;
        for rx in started {
            match rx.recv() {
                Ok(Ok((r, stop))) => {
                    remotes.push(r);
                    stops.push(stop);
                }
                Ok(Err(e)) => first_err = first_err.or(Some(e)),
                Err(_) => {
                    first_err = first_err.or(Some(ObjError::Storage("a target thread died".into())))
                }
            }
        }
        if let Some(e) = first_err {
            for s in &stops {
                s.complete(0);
            }
            for th in threads {
                let _ = th.join();
            }
            return Err(e);
        }
        let transport = Arc::new(InProc::new(map, remotes, handle)?);
        for i in 0..n {
            let t = transport.clone();
            let idx = i;
            let posted = transport.targets_nth(idx).post(move |_| {
                TGT.with(|c| {
                    if let Some(ctx) = c.borrow().as_ref() {
                        *ctx.transport.borrow_mut() = Some(t);
                    }
                })
            });
            if !posted {
                return Err(ObjError::Storage("a target stopped while starting".into()));
            }
        }
        Ok(Engine {
            info,
            transport,
            stops,
            threads,
            faults,
        })
    }

    /// The transport that reaches this engine's targets.
    pub fn transport(&self) -> Arc<dyn Transport> {
        self.transport.clone()
    }

    /// What the pool's device says about it (read from target 0's
    /// superblock when the engine started): its uuid, targets and the
    /// bytes of each target's region.
    pub fn pool_info(&self) -> vos::PoolMapInfo {
        self.info
    }

    /// The pool map.
    pub fn pool_map(&self) -> &PoolMap {
        self.transport.pool_map()
    }

    /// Arms `fault` on target `tgt`.
    pub fn inject(&self, tgt: TargetId, fault: Fault) -> Result<(), ObjError> {
        let map = self.pool_map();
        if tgt.engine >= map.engines || tgt.target >= map.targets_per_engine {
            return Err(ObjError::Inval("fault target outside the pool map"));
        }
        let i = (tgt.engine * map.targets_per_engine + tgt.target) as usize;
        match fault {
            Fault::UpdateIo(n) => self.faults.io[i].store(n, Ordering::Release),
            Fault::EpochRestart(n) => self.faults.restart[i].store(n, Ordering::Release),
            Fault::PunchIo(n) => self.faults.punch_io[i].store(n, Ordering::Release),
            Fault::UpdateHold(n) => self.faults.hold[i].store(n, Ordering::Release),
        }
        Ok(())
    }

    /// Updates held by [`Fault::UpdateHold`] so far (released or not), on
    /// all targets.
    pub fn updates_held(&self) -> u64 {
        self.faults.held.load(Ordering::Relaxed)
    }

    /// Lets every update held by [`Fault::UpdateHold`] run (on every
    /// target, asynchronously: each target does it at its next turn) and
    /// disarms the fault's remaining count.
    pub fn release_held(&self) {
        for (i, n) in self.faults.hold.iter().enumerate() {
            n.store(0, Ordering::Release);
            let _ = self.transport.targets_nth(i).post(|_| {
                TGT.with(|c| {
                    if let Some(ctx) = c.borrow().as_ref() {
                        ctx.release_held();
                    }
                })
            });
        }
    }

    /// Stops every target once the requests it has finished, closing its
    /// VOS target (a checkpoint); the first failure is returned.
    pub fn stop(mut self) -> Result<(), ObjError> {
        self.stop_all()
    }

    fn stop_all(&mut self) -> Result<(), ObjError> {
        for s in self.stops.drain(..) {
            s.complete(0);
        }
        let mut first = Ok(());
        for th in self.threads.drain(..) {
            let r = th
                .join()
                .unwrap_or_else(|_| Err(ObjError::Storage("a target thread panicked".into())));
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.stop_all();
    }
}

impl InProc {
    fn targets_nth(&self, i: usize) -> &tse::RemoteSched {
        let m = self.pool_map();
        let t = TargetId {
            engine: i as u32 / m.targets_per_engine,
            target: i as u32 % m.targets_per_engine,
        };
        self.target(t).expect("index inside the map")
    }
}

fn target_main(
    idx: usize,
    cfg: EngineConfig,
    info: vos::PoolMapInfo,
    hlc: Arc<Hlc>,
    faults: Arc<Faults>,
    tx: mpsc::Sender<Started>,
) -> Result<(), ObjError> {
    let s = Sched::new();
    let label: &'static str = Box::leak(format!("tgt{idx}").into_boxed_str());
    s.set_tracer(label, cfg.tracer.clone());
    let open = || -> Result<vos::Target, ObjError> {
        let ctx = BioCtx::open(&s.handle(), &cfg.path, &DevOpts::default(), &cfg.bio)
            .map_err(ObjError::from)?;
        vos::pool_open_target(&ctx, &info, idx as u32).map_err(ObjError::from)
    };
    let vos = match open() {
        Ok(v) => v,
        Err(e) => {
            let _ = tx.send(Err(e.clone()));
            return Err(e);
        }
    };
    let horizon = Rc::new(Horizon {
        hlc: hlc.clone(),
        window_ns: cfg.window_ns,
        inflight: RefCell::new(Default::default()),
        held: RefCell::new(Default::default()),
    });
    let ctx = Rc::new(TgtCtx {
        idx,
        vos,
        conts: RefCell::new(HashMap::new()),
        hlc,
        transport: RefCell::new(None),
        faults,
        epsilon_ns: cfg.epsilon_ns,
        window_ns: cfg.window_ns,
        next_rpc: Cell::new(0),
        horizon: horizon.clone(),
        agg_soon: Rc::new(Cell::new(false)),
        gate: RefCell::new(None),
    });
    TGT.with(|c| *c.borrow_mut() = Some(ctx.clone()));
    // Aggregation below everything in flight: on demand when an
    // allocation finds no room, and in the background a little behind
    // the clock (see `Horizon`).
    let h = horizon.clone();
    ctx.vos.set_stable_horizon(move || h.stable());
    let agg = cfg.aggregation.map(|every| {
        let h = horizon.clone();
        ctx.vos.start_aggregation(every, move || h.lagged())
    });
    let stop = s.create_empty("");
    if tx.send(Ok((s.remote(), stop.remote()))).is_err() {
        return Ok(());
    }
    s.progress_until(&stop);
    // Updates held by a fault run now, so the drain below finishes them.
    ctx.release_held();
    if let Some(a) = agg {
        if !a.is_completed() {
            a.complete(0);
        }
    }
    // Finish what is in flight, then close (checkpoint) the target, with
    // what nothing needs any more aggregated first: the space a pool
    // shows at rest (`rdaos pool list`) is then what it really holds.
    let drained = s.drain(Duration::from_secs(30));
    if drained {
        let _ = ctx.vos.aggregate(ctx.horizon.stable());
    }
    TGT.with(|c| c.borrow_mut().take());
    ctx.conts.borrow_mut().clear();
    *ctx.transport.borrow_mut() = None;
    let closed = ctx.vos.clone().close().map_err(ObjError::from);
    if !drained {
        return Err(ObjError::Storage(format!(
            "target {idx} still had {} operations in flight after 30 s",
            s.inflight()
        )));
    }
    closed
}

/// Answers `reply` for request `rpc_id` with `r` and bulk `bulk`.
fn send_reply(reply: ReplyTo, rpc_id: u64, r: &ObjReply, bulk: Vec<BulkRef>) {
    match r.encode(rpc_id) {
        Ok(frame) => reply.send(Msg { frame, bulk }),
        Err(e) => {
            let frame = ObjReply::status(e.rc()).encode(rpc_id).unwrap_or_default();
            reply.send(Msg {
                frame,
                bulk: Vec::new(),
            })
        }
    }
}

/// The [`Handler`](crate::transport::Handler) of every target: decodes
/// the frame and runs the opcode's handler task on this target.
fn handle(s: &SchedHandle, msg: Msg, reply: ReplyTo) {
    let Some(ctx) = TGT.with(|c| c.borrow().clone()) else {
        reply.fail(-der::DER_CANCELED);
        return;
    };
    let (h, req, inline) = match ObjReq::decode_keep_inline(&msg.frame) {
        Ok(x) => x,
        Err(e) => {
            // The rpc id is unknown when the frame is damaged: 0.
            send_reply(reply, 0, &ObjReply::status(e.rc()), Vec::new());
            return;
        }
    };
    let name = match h.opcode {
        Opcode::ObjUpdate | Opcode::ObjFetch => "ds_obj_rw_handler",
        Opcode::TgtUpdate => "ds_obj_tgt_update_handler",
        Opcode::ObjPunch => "ds_obj_punch_handler",
        Opcode::TgtPunch => "ds_obj_tgt_punch_handler",
        Opcode::TgtAbort => "dtx_abort",
        Opcode::ObjQueryKey => "ds_obj_query_key_handler",
        Opcode::ObjEnumDkeys | Opcode::ObjEnumAkeys => "ds_obj_enum_handler",
        Opcode::ContCreate
        | Opcode::ContOpen
        | Opcode::ContList
        | Opcode::ContDestroy
        | Opcode::ContSetProp => "ds_cont_op_handler",
        Opcode::PoolQuery => "ds_pool_query_handler",
        Opcode::Reply => {
            send_reply(
                reply,
                h.rpc_id,
                &ObjReply::status(-der::DER_PROTO),
                Vec::new(),
            );
            return;
        }
    };
    let parent = req.trace_parent;
    // Container create, destroy and relabel block until their op is logged, which
    // a checkpoint under way holds back: run inside one (an aggregation's,
    // started by a punch or an allocation that found no room, progresses
    // the scheduler) they would wait for it forever. They wait their turn.
    let blocking = matches!(
        h.opcode,
        Opcode::ContCreate | Opcode::ContDestroy | Opcode::ContSetProp
    );
    let update = matches!(h.opcode, Opcode::ObjUpdate | Opcode::TgtUpdate);
    let mut held = false;
    let mut state = Some((req, msg, inline, reply));
    let t = s.create_named(name, move |t| {
        if blocking && ctx.vos.checkpointing() && t.reinit_delayed(Duration::from_millis(1)).is_ok()
        {
            return;
        }
        // Fault::UpdateHold: one atomic load per update when unarmed.
        if update && !held && Faults::take(&ctx.faults.hold, ctx.idx) {
            held = true;
            if ctx.hold(t) {
                return;
            }
        }
        if let Some((req, msg, inline, reply)) = state.take() {
            // Inline data stays in the frame it came in.
            let data = match inline {
                Some(at) => Carried::Inline(&msg.frame[at]),
                None => Carried::Desc(msg.bulk),
            };
            dispatch(t, &ctx, h, req, data, reply);
        }
    });
    if parent != 0 {
        t.set_parent(parent);
    }
    // If the scheduler is closing the task is canceled, and its ReplyTo,
    // dropped with it, fails the request.
    let _ = t.schedule(true);
}

/// An update's data as it arrived: inline bytes still in the request's
/// frame, or what `req.data` says (none, or bulk beside the frame).
enum Carried<'a> {
    Inline(&'a [u8]),
    Desc(Vec<BulkRef>),
}

fn dispatch(t: &Task, ctx: &Rc<TgtCtx>, h: Header, req: ObjReq, data: Carried, reply: ReplyTo) {
    let rpc_id = h.rpc_id;
    let sh = t.sched();
    let step = sh.step("obj_ioc_begin");
    let cont = match h.opcode {
        Opcode::ContCreate
        | Opcode::ContOpen
        | Opcode::ContList
        | Opcode::ContDestroy
        | Opcode::ContSetProp
        | Opcode::PoolQuery => None,
        _ => match ctx.cont(req.cont) {
            Ok(c) => Some(c),
            Err(rc) => {
                step.end(rc);
                send_reply(reply, rpc_id, &ObjReply::status(rc), Vec::new());
                t.complete(rc);
                return;
            }
        },
    };
    step.end(0);
    match (h.opcode, cont) {
        (Opcode::ObjUpdate | Opcode::TgtUpdate | Opcode::ObjPunch | Opcode::TgtPunch, Some(c)) => {
            let role = match h.opcode {
                Opcode::ObjUpdate | Opcode::ObjPunch => DtxRole::Leader,
                _ => DtxRole::Replica,
            };
            let op = match h.opcode {
                Opcode::ObjPunch | Opcode::TgtPunch => RwOp::Punch,
                _ => RwOp::Update,
            };
            let rpc = Rpc { rpc_id, role, op };
            rw_update(t, ctx, c, req, data, reply, rpc)
        }
        (Opcode::TgtAbort, Some(c)) => abort_handler(t, &c, &req, reply, rpc_id),
        (Opcode::ObjFetch, Some(c)) => fetch(t, ctx, &c, req, reply, rpc_id),
        (Opcode::ObjQueryKey, Some(c)) => {
            let akey = req.iods.first().map_or(&b"0"[..], |i| &i.akey[..]);
            let mut rep = ObjReply::status(0);
            let epoch = ctx.read_epoch(req.epoch);
            rep.max = c.query_key_max(req.oid, akey, epoch);
            // The records holding data here (a sparse array's allocated
            // size), in the reply's one size.
            rep.sizes = vec![c.data_records(req.oid, akey, epoch)];
            // With it, the newest write of the object on this target.
            rep.epoch = c.obj_max_epoch(req.oid).unwrap_or(0);
            send_reply(reply, rpc_id, &rep, Vec::new());
            t.complete(0);
        }
        (Opcode::ObjEnumDkeys, Some(c)) => {
            let mut rep = ObjReply::status(0);
            rep.keys = c.list_dkeys(req.oid, ctx.read_epoch(req.epoch));
            send_reply(reply, rpc_id, &rep, Vec::new());
            t.complete(0);
        }
        (Opcode::ObjEnumAkeys, Some(c)) => {
            let mut rep = ObjReply::status(0);
            rep.keys = c.list_akeys(req.oid, &req.dkey, req.epoch);
            send_reply(reply, rpc_id, &rep, Vec::new());
            t.complete(0);
        }
        (Opcode::ContCreate, _) => {
            let rc = match ctx.vos.cont_create(req.cont, &req.label) {
                Ok(c) => {
                    ctx.conts.borrow_mut().insert(req.cont, c);
                    0
                }
                Err(e) => e.rc(),
            };
            send_reply(reply, rpc_id, &ObjReply::status(rc), Vec::new());
            t.complete(rc);
        }
        (Opcode::ContOpen, _) => {
            let rep = match ctx.vos.cont_open_label(&req.label) {
                Ok(c) => ObjReply {
                    cont: c.id().0,
                    ..ObjReply::status(0)
                },
                Err(e) => ObjReply::status(e.rc()),
            };
            let rc = rep.status;
            send_reply(reply, rpc_id, &rep, Vec::new());
            t.complete(rc);
        }
        (Opcode::ContDestroy, _) => {
            // Forget the cached handle first: updates that find it gone
            // open the container again and are refused.
            let rc = match ctx.vos.cont_open_label(&req.label) {
                Ok(c) => {
                    let id = c.id();
                    ctx.conts.borrow_mut().remove(&id);
                    ctx.vos.cont_destroy(id).map_or_else(|e| e.rc(), |()| 0)
                }
                Err(e) => e.rc(),
            };
            send_reply(reply, rpc_id, &ObjReply::status(rc), Vec::new());
            t.complete(rc);
        }
        (Opcode::ContSetProp, _) => {
            // The cached handle is by id: it stays valid under the new
            // label.
            let rc = ctx
                .vos
                .cont_relabel(req.cont, &req.label)
                .map_or_else(|e| e.rc(), |()| 0);
            send_reply(reply, rpc_id, &ObjReply::status(rc), Vec::new());
            t.complete(rc);
        }
        (Opcode::ContList, _) => {
            let rep = ObjReply {
                conts: ctx
                    .vos
                    .cont_list()
                    .into_iter()
                    .map(|(id, label)| (id.0, label))
                    .collect(),
                ..ObjReply::status(0)
            };
            send_reply(reply, rpc_id, &rep, Vec::new());
            t.complete(0);
        }
        (Opcode::PoolQuery, _) => {
            // The data region is what updates can fill; the superblock,
            // WAL and checkpoint slots are fixed overhead.
            let rep = ObjReply {
                space: Some(TargetSpace {
                    capacity: ctx.vos.superblock().geo.data_len,
                    free: ctx.vos.free_bytes(),
                }),
                ..ObjReply::status(0)
            };
            send_reply(reply, rpc_id, &rep, Vec::new());
            t.complete(0);
        }
        _ => {
            send_reply(
                reply,
                rpc_id,
                &ObjReply::status(-der::DER_PROTO),
                Vec::new(),
            );
            t.complete(-der::DER_PROTO);
        }
    }
}

/// The bytes of an update: inline in the frame, or pulled from the bulk
/// pieces (one piece: no copy; several: gathered once).
enum Data<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Data<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Borrowed(b) => b,
            Data::Owned(v) => v,
        }
    }
}

fn pull<'a>(req: &'a ObjReq, data: &'a Carried) -> Result<Data<'a>, i32> {
    let want: u64 = req
        .iods
        .iter()
        .try_fold(0u64, |a, i| i.data_len().and_then(|n| a.checked_add(n)))
        .ok_or(-der::DER_INVAL)?;
    let bulk: &[BulkRef] = match data {
        Carried::Inline(_) => &[],
        Carried::Desc(b) => b,
    };
    let d = match (&req.data, data) {
        (_, Carried::Inline(b)) => Data::Borrowed(b),
        (DataDesc::None, _) => Data::Borrowed(&[]),
        (DataDesc::Inline(b), _) => Data::Borrowed(b),
        (DataDesc::Bulk(n), _) => {
            let have: u64 = bulk.iter().map(|b| b.len() as u64).sum();
            if have != *n {
                return Err(-der::DER_PROTO);
            }
            match bulk {
                [one] => Data::Borrowed(one.as_slice()),
                many => Data::Owned(many.iter().flat_map(|b| b.as_slice()).copied().collect()),
            }
        }
    };
    if d.bytes().len() as u64 != want {
        return Err(-der::DER_INVAL);
    }
    Ok(d)
}

/// What aborting one local vos operation takes back: the version it gave
/// the akey of the request's iod at an index (an update, or an akey,
/// record or single-value punch), a dkey punch or an object punch.
enum Undo {
    Akey(usize, Version),
    Dkey(Version),
    Obj(Version),
}

impl Undo {
    fn version(&self) -> Version {
        match self {
            Undo::Akey(_, v) | Undo::Dkey(v) | Undo::Obj(v) => *v,
        }
    }

    /// `vos_dtx_abort` of it on this target (`req` names the object,
    /// dkey and iods).
    fn abort(&self, c: &Cont, req: &ObjReq) -> Result<Task, vos::VosError> {
        match self {
            Undo::Akey(i, v) => {
                let akey = req
                    .iods
                    .get(*i)
                    .map(|d| &d.akey[..])
                    .ok_or(vos::VosError::Inval("abort of an iod the request lacks"))?;
                c.abort(req.oid, &req.dkey, akey, *v)
            }
            Undo::Dkey(v) => c.abort_punch(req.oid, Some(&req.dkey), *v),
            Undo::Obj(v) => c.abort_punch(req.oid, None, *v),
        }
    }

    /// The operations a `TgtAbort` names: `req.versions` in the order the
    /// replica applied them, laid out by `req.punch` (`Recx`, also used
    /// for updates: one per record extent or single value of each iod;
    /// `Akeys`: one per iod; `Dkey`, `Obj`: one). A count that does not
    /// match is a protocol error.
    fn list(req: &ObjReq) -> Result<Vec<Undo>, i32> {
        let vs = &req.versions;
        let one = match (req.punch, &vs[..]) {
            (PunchKind::Obj, [v]) => Some(Undo::Obj(*v)),
            (PunchKind::Dkey, [v]) => Some(Undo::Dkey(*v)),
            (PunchKind::Obj | PunchKind::Dkey, _) => return Err(-der::DER_PROTO),
            _ => None,
        };
        if let Some(u) = one {
            return Ok(vec![u]);
        }
        let akeys: Vec<usize> = req
            .iods
            .iter()
            .enumerate()
            .flat_map(|(at, i)| {
                let n = match req.punch {
                    PunchKind::Recx if !i.single => i.recxs.len(),
                    _ => 1,
                };
                std::iter::repeat_n(at, n)
            })
            .collect();
        if akeys.len() != vs.len() {
            return Err(-der::DER_PROTO);
        }
        Ok(akeys
            .into_iter()
            .zip(vs)
            .map(|(a, v)| Undo::Akey(a, *v))
            .collect())
    }
}

impl Part {
    /// The task that finishes the part.
    fn task(&self) -> &Task {
        match self {
            Part::Local(t, _) | Part::Remote(t, ..) => t,
        }
    }
}

/// One participant's part of a DTX.
enum Part {
    /// A local vos update or punch: its task and what aborting it takes
    /// back.
    Local(Task, Undo),
    /// A forwarded RPC to a replica.
    Remote(Task, ReplySlot, TargetId, u64),
}

/// `obj_local_rw` for an update or punch: the vos operations, one per
/// extent or single value. Operations issued before a synchronous failure
/// stay in `parts` (they are aborted with the rest).
fn obj_local_rw(
    sh: &SchedHandle,
    ctx: &TgtCtx,
    c: &Cont,
    req: &ObjReq,
    data: &[u8],
    op: RwOp,
    parts: &mut Vec<Part>,
) -> Result<(), i32> {
    let step = sh.step("obj_local_rw");
    let r = (|| {
        let fault = match op {
            RwOp::Punch => &ctx.faults.punch_io,
            RwOp::Update => &ctx.faults.io,
        };
        if Faults::take(fault, ctx.idx) {
            return Err(-der::DER_IO);
        }
        if op == RwOp::Punch {
            return local_punch(c, req, parts);
        }
        let mut off = 0usize;
        for (at, iod) in req.iods.iter().enumerate() {
            let recxs: &[Recx] = if iod.single {
                &[Recx { idx: 0, nr: 1 }]
            } else {
                &iod.recxs
            };
            for rx in recxs {
                let n = if iod.single {
                    iod.rsize
                } else {
                    rx.nr * iod.rsize
                } as usize;
                let bytes = &data[off..off + n];
                off += n;
                let b = sh.step("vos_update_begin");
                let r = if iod.single {
                    c.update_single_tx(req.oid, &req.dkey, &iod.akey, req.epoch, bytes)
                } else {
                    c.update_array_tx(
                        req.oid, &req.dkey, &iod.akey, req.epoch, *rx, iod.rsize, bytes,
                    )
                };
                match r {
                    Ok((task, v)) => {
                        b.end(0);
                        parts.push(Part::Local(task, Undo::Akey(at, v)));
                    }
                    Err(e) => {
                        b.end(e.rc());
                        return Err(e.rc());
                    }
                }
            }
        }
        Ok(())
    })();
    step.end(r.err().unwrap_or(0));
    r
}

fn local_punch(c: &Cont, req: &ObjReq, parts: &mut Vec<Part>) -> Result<(), i32> {
    let (oid, dkey, e) = (req.oid, &req.dkey[..], req.epoch);
    let mut push = |r: Result<(Task, Version), vos::VosError>, undo: &dyn Fn(Version) -> Undo| {
        let (t, v) = r.map_err(|err| err.rc())?;
        parts.push(Part::Local(t, undo(v)));
        Ok(())
    };
    match req.punch {
        PunchKind::Obj => push(c.punch_tx(oid, None, None, e), &Undo::Obj),
        PunchKind::Dkey => push(c.punch_tx(oid, Some(dkey), None, e), &Undo::Dkey),
        PunchKind::Akeys => req.iods.iter().enumerate().try_for_each(|(at, i)| {
            let undo = |v| Undo::Akey(at, v);
            push(c.punch_tx(oid, Some(dkey), Some(&i.akey), e), &undo)
        }),
        PunchKind::Recx => req.iods.iter().enumerate().try_for_each(|(at, i)| {
            let undo = |v| Undo::Akey(at, v);
            if i.single {
                push(c.punch_single_tx(oid, dkey, &i.akey, e), &undo)
            } else {
                i.recxs.iter().try_for_each(|rx| {
                    let r = c.punch_recx_tx(oid, dkey, &i.akey, e, *rx, i.rsize);
                    push(r, &undo)
                })
            }
        }),
    }
}

/// `obj_tgt_update` towards a replica: the same request, minus the forward
/// list, with the same bulk (the replica pulls from the client's buffer).
fn forward(
    sh: &SchedHandle,
    ctx: &TgtCtx,
    req: &ObjReq,
    data: &Carried,
    to: TargetId,
    opcode: Opcode,
) -> Result<Part, i32> {
    let step = sh.step("obj_tgt_update");
    let transport = ctx.transport()?;
    let rpc_id = ctx.rpc_id();
    // Its body only marks the send; the reply completes it, so its span
    // covers the round trip.
    let t = sh.create_named("crt_req_send", |_| {});
    let (data, bulk) = match data {
        Carried::Inline(b) => (DataRef::Inline(b), Vec::new()),
        Carried::Desc(bulk) => ((&req.data).into(), bulk.clone()),
    };
    // The same request minus the forward list, encoded from the leader's
    // own (no copy of it first).
    let fwd = ReqRef {
        fwd: &[],
        data,
        trace_parent: t.id(),
        ..req.as_ref()
    };
    let frame = fwd.encode(opcode, rpc_id).map_err(|e| e.rc())?;
    let slot = ReplySlot::new();
    let r = transport.send(to, Msg { frame, bulk }, slot.reply_to(&t));
    step.end(r.as_ref().err().map_or(0, |e| e.rc()));
    r.map_err(|e| e.rc())?;
    let _ = t.schedule(true);
    Ok(Part::Remote(t, slot, to, rpc_id))
}

/// What kind of update request is being served.
#[derive(Clone, Copy)]
struct Rpc {
    rpc_id: u64,
    role: DtxRole,
    op: RwOp,
}

/// Which side of the DTX this target is on for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DtxRole {
    /// The client sent it here (`ObjUpdate`, `ObjPunch`): forwards to
    /// the replicas and resolves the DTX (`dtx_leader_begin`).
    Leader,
    /// The leader forwarded it (`TgtUpdate`, `TgtPunch`): applies and
    /// answers (`dtx_begin`).
    Replica,
}

/// What a modifying request does (DAOS's update and punch RPCs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RwOp {
    /// Writes data (`vos_update_begin`).
    Update,
    /// Removes what the request names (`vos_obj_punch`).
    Punch,
}

/// What `process_epoch` checks an epoch for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EpochAccess {
    /// A fetch or enumeration: the epoch only moves the clock.
    Read,
    /// An update or punch: the epoch must also be inside the window.
    Write,
}

/// The whole update (or punch) on this target: the leader also forwards to
/// the replicas and resolves the DTX; a replica applies and answers.
fn rw_update(
    t: &Task,
    ctx: &Rc<TgtCtx>,
    c: Cont,
    req: ObjReq,
    carried: Carried,
    reply: ReplyTo,
    rpc: Rpc,
) {
    let Rpc { rpc_id, role, op } = rpc;
    let leader = role == DtxRole::Leader;
    let punch = op == RwOp::Punch;
    let sh = t.sched();
    let step = sh.step("process_epoch");
    let r = ctx
        .process_epoch(req.epoch, EpochAccess::Write)
        .and_then(|()| match punch {
            true => Ok(()),
            false => ctx.check_aggregated(req.epoch),
        });
    step.end(r.err().unwrap_or(0));
    let fail = |rc: i32, reply: ReplyTo| {
        send_reply(reply, rpc_id, &ObjReply::status(rc), Vec::new());
        t.complete(rc);
    };
    if let Err(rc) = r {
        return fail(rc, reply);
    }
    // Aggregation stays below this epoch until the operation is resolved
    // here (a replica's, for a window longer: see `Horizon`); a punch that
    // succeeded has space to give back soon.
    ctx.horizon.begin(req.epoch);
    let (h, epoch, ctx3) = (ctx.horizon.clone(), req.epoch, ctx.clone());
    let _ = t.register_comp_cb(move |t| {
        h.end(epoch, role);
        if punch && t.result() == 0 {
            ctx3.aggregate_soon(&t.sched());
        }
        0
    });
    // A punch carries no data (its iods name what to remove).
    let pulled = if punch {
        Ok(Data::Borrowed(&[]))
    } else {
        pull(&req, &carried)
    };
    let data = match pulled {
        Ok(d) => d,
        Err(rc) => return fail(rc, reply),
    };
    let mut parts = Vec::with_capacity(1 + req.fwd.len());
    let begin = sh.step(if leader {
        "dtx_leader_begin"
    } else {
        "dtx_begin"
    });
    begin.end(0);
    let exec = sh.step(if leader {
        "dtx_leader_exec_ops"
    } else {
        "dtx_exec"
    });
    let mut first_err = 0;
    if leader {
        let opcode = if punch {
            Opcode::TgtPunch
        } else {
            Opcode::TgtUpdate
        };
        for &to in &req.fwd {
            match forward(&sh, ctx, &req, &carried, to, opcode) {
                Ok(p) => parts.push(p),
                Err(rc) => {
                    first_err = rc;
                    break;
                }
            }
        }
    }
    if first_err == 0 {
        // DAOS's leader runs obj_tgt_update for its own target too (through
        // dtx_leader_exec_ops, replicated or not); a replica's is the
        // handler itself.
        let tgt = leader.then(|| sh.step("obj_tgt_update"));
        if let Err(rc) = obj_local_rw(&sh, ctx, &c, &req, data.bytes(), op, &mut parts) {
            first_err = rc;
        }
        if let Some(s) = tgt {
            s.end(first_err);
        }
    }
    exec.end(first_err);
    drop(data);
    // The end waits for every part (one, unreplicated: no vector).
    let one;
    let many: Vec<Task>;
    let deps: &[Task] = match &parts[..] {
        [p] => {
            one = [p.task().clone()];
            &one
        }
        ps => {
            many = ps.iter().map(|p| p.task().clone()).collect();
            &many
        }
    };
    let ctx2 = ctx.clone();
    let mut state = Some((parts, reply, req, c));
    let end = sh.create_named(
        if leader { "dtx_leader_end" } else { "dtx_end" },
        move |e| {
            let Some((parts, reply, req, c)) = state.take() else {
                return;
            };
            dtx_end(e, &ctx2, parts, reply, req, c, rpc, first_err);
        },
    );
    end.disable_propagate();
    let _ = end.register_deps(deps);
    let _ = end.schedule(true);
    complete_after(t, &end);
}

/// Makes the running task `t` complete once `dep` does (with its status),
/// also when `dep` already completed: a dependency registered on a
/// completed task does not count, so `t` would otherwise never finish.
fn complete_after(t: &Task, dep: &Task) {
    match dep.try_result() {
        Some(rc) => t.complete(rc),
        None => {
            if t.register_dep(dep).is_err() {
                t.complete(-der::DER_CANCELED);
            }
        }
    }
}

/// `dtx_leader_end` / `dtx_end`: every part finished. On success, reply
/// with the versions written here (a replica) or the epoch (the leader);
/// on failure, abort the versions that did get written, then reply with
/// the first error.
#[allow(clippy::too_many_arguments)]
fn dtx_end(
    e: &Task,
    ctx: &Rc<TgtCtx>,
    parts: Vec<Part>,
    reply: ReplyTo,
    req: ObjReq,
    c: Cont,
    rpc: Rpc,
    mut first_err: i32,
) {
    let rpc_id = rpc.rpc_id;
    let sh = e.sched();
    let mut undo_remote: Vec<(TargetId, Vec<Version>)> = Vec::new();
    for p in &parts {
        match p {
            Part::Local(t, _) => {
                let rc = t.result();
                if rc != 0 && first_err == 0 {
                    first_err = rc;
                }
            }
            Part::Remote(t, slot, to, id) => {
                let step = sh.step("dc_rw_cb");
                let mut rc = t.result();
                if rc == 0 {
                    match slot.take_reply(*id) {
                        Ok((rep, _)) => {
                            rc = rep.status;
                            if rc == 0 && !rep.versions.is_empty() {
                                undo_remote.push((*to, rep.versions));
                            }
                        }
                        Err(e) => rc = e,
                    }
                }
                step.end(rc);
                if rc != 0 && first_err == 0 {
                    first_err = rc;
                }
            }
        }
    }
    // The local operations that did get written: what an abort takes
    // back, and (on success, all of them) the versions a reply reports.
    let mut undo_local = parts.into_iter().filter_map(|p| match p {
        Part::Local(t, undo) if t.result() == 0 => Some(undo),
        _ => None,
    });
    if first_err == 0 {
        let step = sh.step("obj_rw_complete");
        step.end(0);
        let step = sh.step("obj_rw_reply");
        // A replica tells its leader the versions it wrote (to abort them
        // should the DTX fail); the client has no use for the leader's.
        let versions = match rpc.role {
            DtxRole::Leader => Vec::new(),
            DtxRole::Replica => undo_local.map(|u| u.version()).collect(),
        };
        let rep = ObjReply {
            epoch: req.epoch,
            versions,
            ..ObjReply::status(0)
        };
        send_reply(reply, rpc_id, &rep, Vec::new());
        step.end(0);
        e.complete(0);
        return;
    }
    // Abort what was written, then report the failure.
    let mut aborts = Vec::new();
    for undo in undo_local.by_ref() {
        if let Ok(t) = undo.abort(&c, &req) {
            aborts.push(t);
        }
    }
    for (to, vs) in undo_remote {
        let mut a = ObjReq::new(req.cont, req.oid, req.epoch);
        a.dkey = req.dkey.clone();
        a.iods = req.iods.clone();
        a.versions = vs;
        // How the versions are laid out (see `Undo::list`): an update's
        // are per record extent or single value, as a record punch's.
        a.punch = match rpc.op {
            RwOp::Punch => req.punch,
            RwOp::Update => PunchKind::Recx,
        };
        if let Ok(Part::Remote(t, ..)) = forward_abort(&sh, ctx, a, to) {
            aborts.push(t);
        }
    }
    let rc = first_err;
    let mut reply = Some(reply);
    let done = sh.create_named("obj_rw_reply", move |d| {
        if let Some(r) = reply.take() {
            send_reply(r, rpc_id, &ObjReply::status(rc), Vec::new());
        }
        d.complete(rc);
    });
    done.disable_propagate();
    let _ = done.register_deps(&aborts);
    let _ = done.schedule(true);
    complete_after(e, &done);
}

fn forward_abort(sh: &SchedHandle, ctx: &TgtCtx, a: ObjReq, to: TargetId) -> Result<Part, i32> {
    forward(
        sh,
        ctx,
        &a,
        &Carried::Desc(Vec::new()),
        to,
        Opcode::TgtAbort,
    )
}

/// `TgtAbort`: removes the given versions (see [`Undo::list`] for their
/// order), then answers.
fn abort_handler(t: &Task, c: &Cont, req: &ObjReq, reply: ReplyTo, rpc_id: u64) {
    let mut tasks = Vec::new();
    let mut rc = 0;
    match Undo::list(req) {
        Ok(list) => {
            for undo in &list {
                match undo.abort(c, req) {
                    Ok(t) => tasks.push(t),
                    Err(e) => rc = e.rc(),
                }
            }
        }
        Err(e) => rc = e,
    }
    let mut reply = Some(reply);
    let sh = t.sched();
    let done = sh.create_named("obj_rw_reply", move |d| {
        let rc = if rc != 0 { rc } else { d.result() };
        if let Some(r) = reply.take() {
            send_reply(r, rpc_id, &ObjReply::status(rc), Vec::new());
        }
        d.complete(rc);
    });
    let _ = done.register_deps(&tasks);
    let _ = done.schedule(true);
    complete_after(t, &done);
}

/// One vos fetch of a fetch request, and where its result lands.
enum FetchPart {
    Single(vos::FetchSlot<vos::SingleFetch>),
    Array(vos::FetchSlot<vos::ArrayFetch>, usize),
}

/// `ds_obj_rw_handler` for a fetch: `process_epoch`, then `obj_local_rw`
/// issues a vos fetch task for every single value and record extent of
/// the request at once, and `obj_rw_reply`, once all of them completed,
/// answers with the bytes (inline below the bulk threshold, by bulk
/// above it). No step waits: the target serves other requests while the
/// reads are in flight.
fn fetch(t: &Task, ctx: &TgtCtx, c: &Cont, req: ObjReq, reply: ReplyTo, rpc_id: u64) {
    let sh = t.sched();
    let fail = |rc: i32, reply: ReplyTo| {
        send_reply(reply, rpc_id, &ObjReply::status(rc), Vec::new());
        t.complete(rc);
    };
    let step = sh.step("process_epoch");
    let r = ctx.process_epoch(req.epoch, EpochAccess::Read);
    step.end(r.err().unwrap_or(0));
    if let Err(rc) = r {
        return fail(rc, reply);
    }
    let mut req = req;
    req.epoch = ctx.read_epoch(req.epoch);
    let step = sh.step("obj_local_rw");
    let r = fetch_begin(c, &req);
    step.end(r.as_ref().err().copied().unwrap_or(0));
    let (parts, tasks) = match r {
        Ok(x) => x,
        Err(rc) => return fail(rc, reply),
    };
    let mut state = Some((parts, reply, req));
    let done = sh.create_named("obj_rw_reply", move |d| {
        let Some((parts, reply, req)) = state.take() else {
            return;
        };
        let rc = match fetch_end(&req, parts) {
            Ok((data, holes, sizes)) => {
                let mut rep = ObjReply {
                    epoch: req.epoch,
                    holes,
                    sizes,
                    ..ObjReply::status(0)
                };
                let mut bulk = Vec::new();
                if data.len() < BULK_THRESHOLD {
                    rep.data = Some(DataDesc::Inline(data));
                } else {
                    rep.data = Some(DataDesc::Bulk(data.len() as u64));
                    bulk.push(BulkRef::from_vec(data));
                }
                send_reply(reply, rpc_id, &rep, bulk);
                0
            }
            Err(rc) => {
                send_reply(reply, rpc_id, &ObjReply::status(rc), Vec::new());
                rc
            }
        };
        d.complete(rc);
    });
    // Each part's result is read in the body.
    done.disable_propagate();
    let _ = done.register_deps(&tasks);
    let _ = done.schedule(true);
    complete_after(t, &done);
}

/// Issues the vos fetches of every iod (one per single value, one per
/// record extent), in request order.
fn fetch_begin(c: &Cont, req: &ObjReq) -> Result<(Vec<FetchPart>, Vec<Task>), i32> {
    array_bytes(req)?;
    let (mut parts, mut tasks) = (Vec::new(), Vec::new());
    for iod in &req.iods {
        if iod.single {
            let (t, slot) = c
                .fetch_single_task(req.oid, &req.dkey, &iod.akey, req.epoch)
                .map_err(|e| e.rc())?;
            tasks.push(t);
            parts.push(FetchPart::Single(slot));
            continue;
        }
        for rx in &iod.recxs {
            let (t, slot) = c
                .fetch_array_task(req.oid, &req.dkey, &iod.akey, req.epoch, *rx)
                .map_err(|e| e.rc())?;
            tasks.push(t);
            parts.push(FetchPart::Array(slot, (rx.nr * iod.rsize) as usize));
        }
    }
    Ok((parts, tasks))
}

/// What a fetch reply carries: the bytes, per iod the holes, per iod the
/// single value's length (`u64::MAX` when absent, 0 for arrays).
type Fetched = (Vec<u8>, Vec<Vec<Recx>>, Vec<u64>);

/// Bytes the array iods of a fetch ask for (`-DER_INVAL` on overflow).
fn array_bytes(req: &ObjReq) -> Result<u64, i32> {
    req.iods
        .iter()
        .filter(|i| !i.single)
        .try_fold(0u64, |a, i| i.data_len().and_then(|n| a.checked_add(n)))
        .ok_or(-der::DER_INVAL)
}

/// Assembles the reply's bytes from the finished parts of `fetch_begin`.
fn fetch_end(req: &ObjReq, parts: Vec<FetchPart>) -> Result<Fetched, i32> {
    let want = array_bytes(req)? as usize;
    let mut out = Vec::new();
    let mut holes = Vec::with_capacity(req.iods.len());
    let mut sizes = Vec::with_capacity(req.iods.len());
    let mut parts = parts.into_iter();
    for iod in &req.iods {
        if iod.single {
            let Some(FetchPart::Single(slot)) = parts.next() else {
                return Err(-der::DER_PROTO);
            };
            match taken(slot.borrow_mut().take())? {
                Some(v) => {
                    sizes.push(v.len() as u64);
                    out.extend_from_slice(&v);
                }
                None => sizes.push(u64::MAX),
            }
            holes.push(Vec::new());
            continue;
        }
        sizes.push(0);
        let mut h = Vec::new();
        for _ in &iod.recxs {
            let Some(FetchPart::Array(slot, n)) = parts.next() else {
                return Err(-der::DER_PROTO);
            };
            let (bytes, segs) = taken(slot.borrow_mut().take())?;
            let all_holes = segs.iter().all(|s| s.src.is_none());
            if bytes.len() == n && out.is_empty() {
                // The first (often the only) part: no copy, and room for
                // the rest of the array bytes.
                out = bytes;
                out.reserve(want.saturating_sub(n));
            } else if bytes.len() == n {
                out.extend_from_slice(&bytes);
            } else if all_holes {
                out.resize(out.len() + n, 0);
            } else {
                // Stored with another record size.
                return Err(-der::DER_INVAL);
            }
            h.extend(segs.iter().filter(|s| s.src.is_none()).map(|s| s.recx));
        }
        holes.push(h);
    }
    Ok((out, holes, sizes))
}

/// A finished vos fetch's value, or its status (`-DER_CANCELED` if it
/// never finished).
fn taken<T>(r: Option<Result<T, vos::VosError>>) -> Result<T, i32> {
    match r {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(e.rc()),
        None => Err(-der::DER_CANCELED),
    }
}
