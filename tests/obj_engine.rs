//! The object layer end to end in one process: a client on the test's
//! thread, an engine of several targets (each its own thread, scheduler,
//! ring and VOS region of one O_DIRECT pool file), RPCs as checked frames.
//! Updates and fetches of every class, inline and bulk payloads, epoch
//! retry, a failing replica (the DTX of an update or punch is aborted
//! everywhere), bad input.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;
use common::Pool;
use rdaos::obj::cli::ObjClient;
use rdaos::obj::oclass::{generate_oid, ObjClass, ObjType};
use rdaos::obj::rpc::{IodDesc, PunchKind};
use rdaos::obj::srv::{Engine, EngineConfig, Fault};
use rdaos::obj::transport::BulkRef;
use rdaos::obj::ObjError;
use rdaos::tse::{der, Sched};
use rdaos::vos::Recx;

/// A pool of `engines x tpe` targets, its engine, a client scheduler and
/// client, and a container `name` (fields drop in reverse order: client
/// first, pool file last).
struct Setup {
    cont: rdaos::vos::ContId,
    cli: ObjClient,
    s: Sched,
    engine: Engine,
    _pool: Pool,
}

impl Setup {
    fn new(name: &str, engines: u32, tpe: u32) -> Setup {
        Setup::with(name, engines, tpe, |_| {})
    }

    fn with(name: &str, engines: u32, tpe: u32, cfg: impl FnOnce(&mut EngineConfig)) -> Setup {
        let pool = Pool::new(name, engines, tpe);
        let mut c = pool.config();
        cfg(&mut c);
        let engine = Engine::start(c).unwrap();
        let s = Sched::new();
        let cli = ObjClient::new(&s.handle(), engine.transport());
        let cont = cli.cont_create(name).unwrap();
        Setup {
            cont,
            cli,
            s,
            engine,
            _pool: pool,
        }
    }

    /// Stops the engine (closing every target) once the client is gone.
    fn finish(self) {
        drop(self.cli);
        self.engine.stop().unwrap();
    }
}

fn bytes(seed: u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (seed as usize * 31 + i * 7 + i / 251) as u8)
        .collect()
}

fn sgl(v: Vec<u8>) -> Vec<BulkRef> {
    vec![BulkRef::from_vec(v)]
}

#[test]
fn update_then_fetch_through_engine_targets_for_each_class() {
    let t = Setup::new("objrw", 1, 4);
    let (cli, cont) = (&t.cli, t.cont);
    assert_eq!(cli.cont_open("objrw").unwrap(), cont);
    for (i, class) in [ObjClass::S1, ObjClass::SX, ObjClass::RP_2G1]
        .into_iter()
        .enumerate()
    {
        let oid = generate_oid(1, i as u64, ObjType::ArrayByte, class);
        let h = cli.obj_open(cont, oid).unwrap();
        // Small (inline) and large (bulk) values in several dkeys.
        for (d, len) in [(1u64, 100usize), (2, 19_455), (3, 19_456), (7, 1 << 20)] {
            let data = bytes(d, len);
            let iod = IodDesc::array(
                b"0",
                1,
                vec![Recx {
                    idx: 10,
                    nr: len as u64,
                }],
            );
            h.update(&d.to_be_bytes(), vec![iod.clone()], sgl(data.clone()), None)
                .unwrap();
            let got = h.fetch(&d.to_be_bytes(), vec![iod], None).unwrap();
            assert_eq!(got.data, data, "class {class:?} dkey {d} len {len}");
            assert!(got.holes[0].is_empty());
        }
        // A read across written and never-written records reports holes.
        let iod = IodDesc::array(b"0", 1, vec![Recx { idx: 0, nr: 120 }]);
        let got = h.fetch(&1u64.to_be_bytes(), vec![iod], None).unwrap();
        assert_eq!(&got.data[..10], &[0u8; 10]);
        assert_eq!(&got.data[10..110], &bytes(1, 100)[..]);
        assert_eq!(
            got.holes[0],
            vec![Recx { idx: 0, nr: 10 }, Recx { idx: 110, nr: 10 }]
        );
        assert_eq!(
            h.query_key_max(b"0", None).unwrap(),
            Some((7, 10 + (1 << 20)))
        );
        assert_eq!(h.list_dkeys(None).unwrap().len(), 4);
        // Punch a dkey: it reads as holes and leaves the enumeration.
        h.punch(PunchKind::Dkey, &7u64.to_be_bytes(), vec![], None)
            .unwrap();
        assert_eq!(h.list_dkeys(None).unwrap().len(), 3);
        assert_eq!(h.query_key_max(b"0", None).unwrap(), Some((3, 10 + 19_456)));
    }
    t.finish();
}

#[test]
fn replicas_hold_the_same_data_and_a_failed_replica_aborts_the_dtx() {
    let t = Setup::new("rp", 2, 2);
    let (cli, cont, engine) = (&t.cli, t.cont, &t.engine);
    let oid = generate_oid(2, 1, ObjType::ArrayByte, ObjClass::RP_2G1);
    let h = cli.obj_open(cont, oid).unwrap();
    let grp = h.layout().groups[0].clone();
    assert_eq!(grp.len(), 2);
    assert_ne!(grp[0].engine, grp[1].engine, "replicas on distinct engines");
    let dkey = 5u64.to_be_bytes();
    let iod = IodDesc::array(
        b"0",
        1,
        vec![Recx {
            idx: 0,
            nr: 64 << 10,
        }],
    );
    let v1 = bytes(1, 64 << 10);
    h.update(&dkey, vec![iod.clone()], sgl(v1.clone()), None)
        .unwrap();
    let e1 = cli.epoch_now();
    for &t in &grp {
        assert_eq!(
            h.fetch_from(t, &dkey, vec![iod.clone()], e1).unwrap().data,
            v1
        );
    }
    // Each replica in turn fails its local write: the update fails, and
    // after the DTX resolves neither replica shows the new version.
    for &bad in &grp {
        engine.inject(bad, Fault::UpdateIo(1)).unwrap();
        let v2 = bytes(2, 64 << 10);
        let err = h
            .update(&dkey, vec![iod.clone()], sgl(v2), None)
            .unwrap_err();
        assert_eq!(
            err,
            ObjError::Failed {
                op: "dc_obj_update",
                rc: -der::DER_IO
            }
        );
        let now = cli.epoch_now();
        for &t in &grp {
            assert_eq!(
                h.fetch_from(t, &dkey, vec![iod.clone()], now).unwrap().data,
                v1,
                "replica {t:?} after a failure on {bad:?}"
            );
        }
    }
    // Small (inline) updates replicate too.
    let small = IodDesc::array(b"0", 1, vec![Recx { idx: 8, nr: 16 }]);
    h.update(&dkey, vec![small.clone()], sgl(vec![9; 16]), None)
        .unwrap();
    let now = cli.epoch_now();
    for &t in &grp {
        assert_eq!(
            h.fetch_from(t, &dkey, vec![small.clone()], now)
                .unwrap()
                .data,
            vec![9; 16]
        );
    }
    t.finish();
}

#[test]
fn a_punch_that_fails_on_one_replica_is_aborted_on_the_others() {
    let t = Setup::new("rpp", 2, 2);
    let (cli, cont, engine) = (&t.cli, t.cont, &t.engine);
    let oid = generate_oid(4, 1, ObjType::ArrayByte, ObjClass::RP_2G1);
    let h = cli.obj_open(cont, oid).unwrap();
    let grp = h.layout().groups[0].clone();
    let dkey = 9u64.to_be_bytes();
    let arr = IodDesc::array(b"0", 1, vec![Recx { idx: 0, nr: 64 }]);
    let single = |len| IodDesc {
        akey: b"s".to_vec(),
        single: true,
        rsize: len,
        recxs: Vec::new(),
    };
    let (v_arr, v_single) = (bytes(3, 64), bytes(4, 24));
    let mut both = v_arr.clone();
    both.extend_from_slice(&v_single);
    h.update(&dkey, vec![arr.clone(), single(24)], sgl(both), None)
        .unwrap();
    // What every replica must still show: both akeys, whole.
    let intact = |why: &str| {
        let now = cli.epoch_now();
        for &tgt in &grp {
            let got = h
                .fetch_from(tgt, &dkey, vec![arr.clone(), single(0)], now)
                .unwrap();
            assert_eq!(&got.data[..64], &v_arr[..], "{why}: array on {tgt:?}");
            assert_eq!(got.holes[0], Vec::<Recx>::new(), "{why}: holes on {tgt:?}");
            assert_eq!(got.sizes[1], Some(24), "{why}: single value on {tgt:?}");
            assert_eq!(
                &got.data[64..],
                &v_single[..],
                "{why}: single value on {tgt:?}"
            );
        }
    };
    intact("before");
    // Records and a single value (two versions per replica), the akeys,
    // the dkey, the object: each kind fails on each replica in turn.
    let records = IodDesc::array(b"0", 1, vec![Recx { idx: 8, nr: 8 }]);
    let kinds = [
        (PunchKind::Recx, vec![records.clone(), single(0)]),
        (PunchKind::Akeys, vec![arr.clone(), single(0)]),
        (PunchKind::Dkey, vec![]),
        (PunchKind::Obj, vec![]),
    ];
    for (kind, iods) in &kinds {
        for &bad in &grp {
            engine.inject(bad, Fault::PunchIo(1)).unwrap();
            let err = h.punch(*kind, &dkey, iods.clone(), None).unwrap_err();
            assert_eq!(
                err,
                ObjError::Failed {
                    op: "dc_obj_punch",
                    rc: -der::DER_IO
                },
                "{kind:?} failing on {bad:?}"
            );
            intact(&format!("{kind:?} failed on {bad:?}"));
        }
    }
    // A punch that succeeds reaches both replicas.
    h.punch(PunchKind::Recx, &dkey, vec![records, single(0)], None)
        .unwrap();
    let now = cli.epoch_now();
    for &tgt in &grp {
        let got = h
            .fetch_from(tgt, &dkey, vec![arr.clone(), single(0)], now)
            .unwrap();
        assert_eq!(got.holes[0], vec![Recx { idx: 8, nr: 8 }], "on {tgt:?}");
        assert_eq!(got.sizes[1], None, "on {tgt:?}");
    }
    h.punch(PunchKind::Dkey, &dkey, vec![], None).unwrap();
    for &tgt in &grp {
        let got = h
            .fetch_from(tgt, &dkey, vec![arr.clone()], cli.epoch_now())
            .unwrap();
        assert_eq!(got.holes[0], vec![Recx { idx: 0, nr: 64 }], "on {tgt:?}");
    }
    t.finish();
}

#[test]
fn many_large_fetches_in_flight_on_one_target_all_finish() {
    // One target with 8 MiB of DMA buffers, and 32 fetches of 1 MiB in
    // flight at once: more than the buffers hold, so reads queue for
    // buffers while others complete, and every one returns its bytes.
    let t = Setup::with("many-fetch", 1, 1, |c| c.bio.dma_chunks = 8);
    let (cli, cont, s) = (&t.cli, t.cont, &t.s);
    let h = cli
        .obj_open(cont, generate_oid(9, 1, ObjType::ArrayByte, ObjClass::S1))
        .unwrap();
    let mib = 1u64 << 20;
    for d in 0..8u64 {
        let iod = IodDesc::array(b"0", 1, vec![Recx { idx: 0, nr: mib }]);
        h.update(
            &(d + 1).to_be_bytes(),
            vec![iod],
            sgl(bytes(d, mib as usize)),
            None,
        )
        .unwrap();
    }
    let mut reads = Vec::new();
    for i in 0..32u64 {
        let d = i % 8;
        let iod = IodDesc::array(b"0", 1, vec![Recx { idx: 0, nr: mib }]);
        let (task, out) = h
            .fetch_task(&(d + 1).to_be_bytes(), vec![iod], None)
            .unwrap();
        task.schedule(false).unwrap();
        reads.push((d, task, out));
    }
    let start = std::time::Instant::now();
    for (d, task, out) in reads {
        assert_eq!(s.progress_until(&task), 0);
        let got = out.borrow_mut().take().unwrap();
        assert!(got.data == bytes(d, mib as usize), "dkey {}", d + 1);
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(60));
    t.finish();
}

/// Progresses `s` until `task` completes or `limit` passes; its result,
/// `None` on a timeout (a wedged fetch fails the test instead of hanging).
fn progress_for(s: &Sched, task: &rdaos::tse::Task, limit: std::time::Duration) -> Option<i32> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if let Some(rc) = task.try_result() {
            return Some(rc);
        }
        if s.progress() == 0 {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
    task.try_result()
}

#[test]
fn fetches_of_more_small_extents_than_dma_buffers_all_finish() {
    // One target with 1 MiB of DMA buffers (256 blocks) and an array
    // written by 1,200 one-record appends, each its own extent: a fetch of
    // the whole range reads 1,200 blocks, several fetches of 300 records
    // at once read 1,200 together. Reads that hold buffers until their
    // fetch's other reads finish must not wait for each other for ever.
    // A wedged engine cannot be stopped: a failure leaks it to the process
    // exit instead of hanging in its drop.
    let t = std::mem::ManuallyDrop::new(Setup::with("frag-fetch", 1, 1, |c| c.bio.dma_chunks = 1));
    let (cli, cont, s) = (&t.cli, t.cont, &t.s);
    let h = cli
        .obj_open(cont, generate_oid(9, 2, ObjType::ArrayByte, ObjClass::S1))
        .unwrap();
    let n = 1200u64;
    let want = bytes(5, n as usize);
    for i in 0..n {
        let iod = IodDesc::array(b"0", 1, vec![Recx { idx: i, nr: 1 }]);
        let data = vec![want[i as usize]];
        h.update(b"d", vec![iod], sgl(data), None).unwrap();
    }
    let limit = std::time::Duration::from_secs(60);
    let fetch = |idx: u64, nr: u64| {
        let iod = IodDesc::array(b"0", 1, vec![Recx { idx, nr }]);
        let (task, out) = h.fetch_task(b"d", vec![iod], None).unwrap();
        task.schedule(false).unwrap();
        (idx, nr, task, out)
    };
    let mut all = vec![fetch(0, n)];
    all.extend((0..4).map(|i| fetch(i * 300, 300)));
    all.extend((0..4).map(|i| fetch(i * 300, 300)));
    for (idx, nr, task, out) in all {
        let rc = progress_for(s, &task, limit);
        assert_ne!(
            rc, None,
            "the fetch of {nr} records at {idx} did not finish within {limit:?}"
        );
        assert_eq!(rc, Some(0), "fetch of {nr} records at {idx}");
        let got = out.borrow_mut().take().unwrap();
        assert!(got.holes[0].is_empty());
        assert!(
            got.data == want[idx as usize..(idx + nr) as usize],
            "records {idx}+{nr}"
        );
    }
    std::mem::ManuallyDrop::into_inner(t).finish();
}

#[test]
fn large_fetches_keep_finishing_while_overwrites_aggregate_and_checkpoint() {
    // Reads of 1 MiB in flight beside overwrites that the target
    // aggregates every millisecond (an aggregation that frees space
    // checkpoints, and the checkpoint needs DMA buffers too), with few
    // buffers: every read returns its bytes and the run ends. The
    // property is counted, never timed: at least READS reads complete,
    // and the pool's free space is seen to come back (an aggregation and
    // its checkpoint ran) at least AGGREGATIONS times while reads are in
    // flight. The deadline only turns a hang into a failure.
    const READS: u64 = 32;
    const AGGREGATIONS: u32 = 3;
    let t = Setup::with("fetch-agg", 1, 1, |c| {
        c.bio.dma_chunks = 8;
        c.aggregation = Some(std::time::Duration::from_millis(1));
        c.window_ns = 20_000_000;
    });
    let (cli, cont, s) = (&t.cli, t.cont, &t.s);
    let h = cli
        .obj_open(cont, generate_oid(10, 1, ObjType::ArrayByte, ObjClass::S1))
        .unwrap();
    let mib = 1u64 << 20;
    let whole = || vec![IodDesc::array(b"0", 1, vec![Recx { idx: 0, nr: mib }])];
    for d in 0..8u64 {
        h.update(
            &(d + 1).to_be_bytes(),
            whole(),
            sgl(bytes(d, mib as usize)),
            None,
        )
        .unwrap();
    }
    let buf = BulkRef::from_vec(bytes(99, mib as usize));
    let hang = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let (mut reads, mut writes) = (std::collections::VecDeque::new(), Vec::new());
    let (mut n, mut done, mut comebacks) = (0u64, 0u64, 0u32);
    let mut last_free = cli.pool_query().unwrap().free;
    let more = |done: u64, comebacks: u32| done < READS || comebacks < AGGREGATIONS;
    while more(done, comebacks) || !reads.is_empty() {
        assert!(
            std::time::Instant::now() < hang,
            "hung: {done} reads done, free space came back {comebacks} times"
        );
        while reads.len() < 12 && more(done, comebacks) {
            let d = n % 8;
            n += 1;
            let (task, out) = h.fetch_task(&(d + 1).to_be_bytes(), whole(), None).unwrap();
            task.schedule(false).unwrap();
            reads.push_back((d, task, out));
            // An overwrite of dkeys 9..12 beside every read.
            let w = h
                .update_task(&(9 + n % 4).to_be_bytes(), whole(), vec![buf.clone()], None)
                .unwrap();
            w.schedule(false).unwrap();
            writes.push(w);
        }
        let Some((d, task, out)) = reads.pop_front() else {
            break;
        };
        assert_eq!(s.progress_until(&task), 0);
        let got = out.borrow_mut().take().unwrap();
        assert!(got.data == bytes(d, mib as usize), "dkey {}", d + 1);
        done += 1;
        // Reads are still in flight here: space coming back now was freed
        // by an aggregation and checkpoint that ran beside them.
        let free = cli.pool_query().unwrap().free;
        if free > last_free && !reads.is_empty() {
            comebacks += 1;
        }
        last_free = free;
        // Keep the overwrites from piling up past the pool's space.
        if writes.len() >= 16 {
            for w in writes.drain(..) {
                assert_eq!(s.progress_until(&w), 0);
            }
        }
    }
    for w in writes {
        assert_eq!(s.progress_until(&w), 0);
    }
    assert!(done >= READS && comebacks >= AGGREGATIONS);
    t.finish();
}

#[test]
fn epoch_restarts_are_retried_with_a_new_epoch_and_bad_input_is_refused() {
    let t = Setup::new("ep", 1, 2);
    let (cli, cont, engine) = (&t.cli, t.cont, &t.engine);
    let oid = generate_oid(3, 1, ObjType::ArrayByte, ObjClass::S1);
    let h = cli.obj_open(cont, oid).unwrap();
    let leader = h.layout().groups[0][0];
    let dkey = 1u64.to_be_bytes();
    let iod = IodDesc::array(b"0", 1, vec![Recx { idx: 0, nr: 8 }]);
    // Two refusals: the task re-runs with fresh epochs and succeeds.
    engine.inject(leader, Fault::EpochRestart(2)).unwrap();
    h.update(&dkey, vec![iod.clone()], sgl(vec![1; 8]), None)
        .unwrap();
    assert_eq!(
        h.fetch(&dkey, vec![iod.clone()], None).unwrap().data,
        vec![1; 8]
    );
    // An epoch chosen by the caller is never changed: a future epoch
    // outside the window comes back as -DER_TX_RESTART.
    let far = cli.epoch_now() + 60_000_000_000u64;
    let err = h
        .update(&dkey, vec![iod.clone()], sgl(vec![2; 8]), Some(far))
        .unwrap_err();
    assert_eq!(
        err,
        ObjError::Failed {
            op: "dc_obj_update",
            rc: -der::DER_TX_RESTART
        }
    );
    assert_eq!(
        h.fetch(&dkey, vec![iod.clone()], None).unwrap().data,
        vec![1; 8]
    );
    // Retries are bounded.
    engine.inject(leader, Fault::EpochRestart(1000)).unwrap();
    let err = h
        .update(&dkey, vec![iod.clone()], sgl(vec![3; 8]), None)
        .unwrap_err();
    assert_eq!(
        err,
        ObjError::Failed {
            op: "dc_obj_update",
            rc: -der::DER_TX_RESTART
        }
    );
    engine.inject(leader, Fault::EpochRestart(0)).unwrap();
    // Bad input: clean errors, nothing sent.
    assert!(matches!(
        h.update(&dkey, vec![iod.clone()], sgl(vec![0; 7]), None),
        Err(ObjError::Inval(_))
    ));
    assert!(matches!(
        h.update(&[], vec![iod.clone()], sgl(vec![0; 8]), None),
        Err(ObjError::Inval(_))
    ));
    assert!(matches!(
        h.update(&dkey, vec![], sgl(vec![]), None),
        Err(ObjError::Inval(_))
    ));
    let bad_class = rdaos::vos::ObjId::new(0, 1);
    assert!(matches!(
        cli.obj_open(cont, bad_class),
        Err(ObjError::BadClass(_))
    ));
    let too_wide = generate_oid(3, 2, ObjType::ArrayByte, ObjClass::RP_3G1);
    assert!(matches!(
        cli.obj_open(cont, too_wide),
        Ok(_) | Err(ObjError::BadClass(_))
    ));
    assert!(
        matches!(cli.cont_open("nope"), Err(ObjError::Failed { rc, .. }) if rc == -der::DER_NONEXIST)
    );
    // Nothing acknowledged was lost along the way.
    assert_eq!(h.fetch(&dkey, vec![iod], None).unwrap().data, vec![1; 8]);
    t.finish();
}

#[test]
fn one_traced_update_shows_the_seed_steps_in_order() {
    let tracer = rdaos::tse::Tracer::new();
    let tr = tracer.clone();
    let t = Setup::with("tr", 2, 2, move |c| c.tracer = Some(tr));
    t.s.set_tracer("client", Some(tracer.clone()));
    let (cli, cont) = (&t.cli, t.cont);
    let h = cli
        .obj_open(
            cont,
            generate_oid(4, 1, ObjType::ArrayByte, ObjClass::RP_2G1),
        )
        .unwrap();
    tracer.clear();
    let iod = IodDesc::array(
        b"0",
        1,
        vec![Recx {
            idx: 0,
            nr: 64 << 10,
        }],
    );
    h.update(
        &1u64.to_be_bytes(),
        vec![iod],
        sgl(bytes(1, 64 << 10)),
        None,
    )
    .unwrap();
    t.finish();
    let spans = tracer.spans();
    let text = rdaos::obj::trace::op_diagram(&spans, "dc_obj_update_task").unwrap();
    if let Some(p) = rdaos::obj::trace::env_path() {
        std::fs::write(p, &text).unwrap();
    }
    // The path down, each step below the one before it (parent links).
    let chain = [
        "dc_obj_update_task",
        "dc_obj_update",
        "obj_req_fanout",
        "dc_obj_shard_rw",
        "crt_req_send",
        "ds_obj_rw_handler",
        "dtx_leader_exec_ops",
        "obj_tgt_update",
        "obj_local_rw",
        "vos_update_begin",
    ];
    let by_name =
        |n: &str| -> Vec<&rdaos::tse::Span> { spans.iter().filter(|s| s.name == n).collect() };
    for w in chain.windows(2) {
        let parents = by_name(w[0]);
        let kids = by_name(w[1]);
        assert!(
            kids.iter()
                .any(|k| parents.iter().any(|p| k.parent == p.id)),
            "{} is not below {}:\n{text}",
            w[1],
            w[0]
        );
    }
    // Each seed step appears, in the seed's order of first start.
    let seed = [
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
        "bio_iod_post",
        "data_completion",
        "wal_completion",
        "vos_update_end",
        "dtx_leader_end",
        "obj_rw_complete",
        "obj_rw_reply",
        "dc_rw_cb",
    ];
    // Client steps on the client, engine steps on the leader (the replica
    // runs its own copy of the engine steps meanwhile).
    let leader = by_name("ds_obj_rw_handler")[0].sched;
    let first = |n: &str| {
        by_name(n)
            .iter()
            .filter(|s| {
                let client = matches!(rdaos::obj::trace::layer_of(n), "obj" | "array" | "dfs");
                s.sched == if client { "client" } else { leader }
            })
            .map(|s| s.start_ns)
            .min()
            .unwrap_or_else(|| panic!("no span {n}:\n{text}"))
    };
    for w in seed.windows(2) {
        assert!(
            first(w[0]) <= first(w[1]),
            "{} starts before {}:\n{text}",
            w[1],
            w[0]
        );
    }
    // The replica's side is there too, on another target.
    let tgt_handler = by_name("ds_obj_tgt_update_handler");
    assert_eq!(tgt_handler.len(), 1, "{text}");
    assert_ne!(tgt_handler[0].sched, leader);
    assert!(text.starts_with("@startuml") && text.contains("srv_obj") && text.contains("vos "));
}
