//! The whole chain in-process: the array API (`dfs::darray::Array`) over
//! the object client and an engine of 4 targets on one pool file. Random
//! writes, reads, punches and size changes of random sizes and offsets
//! across chunk and dkey boundaries are checked against a byte model for
//! S1, SX and RP_2G1; writes below and above the 19,456-byte bulk
//! threshold, multi-piece sgls, reopening the array, bad input, the
//! seed's task shape, and reading everything back after an engine
//! restart.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;
use common::Pool;
use std::cell::Cell;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rdaos::dfs::array::ArrayError;
use rdaos::dfs::{Array, Range, ReadResult};
use rdaos::obj::cli::{ObjClient, ObjHandle};
use rdaos::obj::oclass::{generate_oid, ObjClass, ObjType};
use rdaos::obj::rpc::BULK_THRESHOLD;
use rdaos::obj::srv::Engine;
use rdaos::obj::transport::BulkRef;
use rdaos::tse::{Sched, Tracer};
use rdaos::vos::ContId;

const TARGETS: u32 = 4;

/// What the array should hold: its bytes and which cells hold data.
#[derive(Debug, Clone)]
struct Model {
    cell: usize,
    bytes: Vec<u8>,
    data: Vec<bool>,
}

impl Model {
    fn new(cell: u64) -> Model {
        Model {
            cell: cell as usize,
            bytes: Vec::new(),
            data: Vec::new(),
        }
    }

    fn grow(&mut self, cells: usize) {
        if self.data.len() < cells {
            self.data.resize(cells, false);
            self.bytes.resize(cells * self.cell, 0);
        }
    }

    fn write(&mut self, idx: u64, src: &[u8]) {
        let (idx, n) = (idx as usize, src.len() / self.cell);
        self.grow(idx + n);
        self.bytes[idx * self.cell..(idx + n) * self.cell].copy_from_slice(src);
        self.data[idx..idx + n].fill(true);
    }

    fn punch(&mut self, idx: u64, len: u64) {
        let end = idx.saturating_add(len).min(self.data.len() as u64) as usize;
        let idx = idx as usize;
        if idx < end {
            self.data[idx..end].fill(false);
            self.bytes[idx * self.cell..end * self.cell].fill(0);
        }
    }

    fn size(&self) -> u64 {
        self.data
            .iter()
            .rposition(|d| *d)
            .map_or(0, |i| i as u64 + 1)
    }

    fn set_size(&mut self, n: u64) {
        let cur = self.size();
        if n < cur {
            self.punch(n, cur - n);
        }
        if n > 0 && n != cur {
            let i = n as usize - 1;
            self.grow(i + 1);
            if !self.data[i] {
                self.data[i] = true;
                self.bytes[i * self.cell..(i + 1) * self.cell].fill(0);
            }
        }
    }

    fn read(&self, ranges: &[Range]) -> ReadResult {
        let mut data = Vec::new();
        let mut hole_cells = Vec::new();
        for r in ranges {
            for i in r.idx..r.idx + r.len {
                let i = i as usize;
                if i < self.data.len() && self.data[i] {
                    data.extend_from_slice(&self.bytes[i * self.cell..(i + 1) * self.cell]);
                } else {
                    data.extend(std::iter::repeat_n(0u8, self.cell));
                    hole_cells.push(i as u64);
                }
            }
        }
        hole_cells.sort_unstable();
        hole_cells.dedup();
        let mut holes: Vec<Range> = Vec::new();
        for i in hole_cells {
            match holes.last_mut() {
                Some(h) if h.idx + h.len == i => h.len += 1,
                _ => holes.push(Range { idx: i, len: 1 }),
            }
        }
        ReadResult { data, holes }
    }
}

fn pattern(seed: u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((seed as usize).wrapping_mul(131) + i * 7 + i / 253 + 1) as u8)
        .collect()
}

/// `data` as an sgl of views of one registered buffer, cut at `cuts`
/// (fractions of the length, in 1/65536ths; empty pieces included).
fn cut_sgl(data: Vec<u8>, cuts: &[u16]) -> Vec<BulkRef> {
    let n = data.len();
    let mut at: Vec<usize> = cuts.iter().map(|c| n * *c as usize / 65536).collect();
    at.sort_unstable();
    let buf = Arc::new(data);
    let mut sgl = Vec::new();
    let mut prev = 0;
    for a in at.into_iter().chain([n]) {
        sgl.push(BulkRef::new(buf.clone(), prev, a - prev).unwrap());
        prev = a;
    }
    sgl
}

/// Geometries (cell bytes, cells per chunk): small and odd chunks so that
/// I/O crosses many dkeys, and chunks above the bulk threshold so that
/// one dkey's update goes by bulk.
const GEOMS: [(u64, u64); 6] = [
    (1, 3000),
    (1, 4096),
    (3, 1000),
    (8, 512),
    (1, 40_000),
    (4, 6000),
];

#[derive(Debug, Clone)]
enum Op {
    /// One range from one sgl cut in pieces.
    Write {
        idx: u64,
        len: u64,
        cuts: Vec<u16>,
        seed: u64,
    },
    /// Disjoint ranges (gap, len) in one write, in reverse order when
    /// `rev`.
    WriteMulti {
        start: u64,
        parts: Vec<(u64, u64)>,
        rev: bool,
        seed: u64,
    },
    /// Possibly overlapping ranges in one read.
    Read {
        ranges: Vec<(u64, u64)>,
    },
    /// A range punched; `to_end` punches from `idx` to the end of the
    /// index space.
    Punch {
        idx: u64,
        len: u64,
        to_end: bool,
    },
    SetSize(u64),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let pos = 0u64..1_000_000;
    prop_oneof![
        4 => (pos.clone(), pos.clone(), prop::collection::vec(any::<u16>(), 0..4), any::<u64>())
            .prop_map(|(idx, len, cuts, seed)| Op::Write { idx, len, cuts, seed }),
        2 => (pos.clone(), prop::collection::vec((0u64..1_000_000, 0u64..1_000_000), 1..4), any::<bool>(), any::<u64>())
            .prop_map(|(start, parts, rev, seed)| Op::WriteMulti { start, parts, rev, seed }),
        3 => prop::collection::vec((pos.clone(), pos.clone()), 1..3).prop_map(|ranges| Op::Read { ranges }),
        2 => (pos.clone(), pos.clone(), prop::bool::weighted(0.15))
            .prop_map(|(idx, len, to_end)| Op::Punch { idx, len, to_end }),
        1 => pos.prop_map(Op::SetSize),
        1 => Just(Op::Reopen),
    ]
}

/// Scales a `0..1_000_000` fraction to `0..max`.
fn scale(f: u64, max: u64) -> u64 {
    f * max / 1_000_000
}

fn check_read(a: &Array, m: &Model, ranges: &[Range], what: &str) -> Result<(), TestCaseError> {
    let got = a
        .read_ranges(ranges)
        .map_err(|e| TestCaseError::fail(format!("{what}: read {ranges:?}: {e}")))?;
    let want = m.read(ranges);
    prop_assert!(
        got.data == want.data,
        "{what}: data of {ranges:?} differs (first at byte {:?})",
        got.data.iter().zip(&want.data).position(|(a, b)| a != b)
    );
    prop_assert_eq!(&got.holes, &want.holes, "{}: holes of {:?}", what, ranges);
    Ok(())
}

fn fail(what: &str) -> impl Fn(ArrayError) -> TestCaseError + '_ {
    move |e| TestCaseError::fail(format!("{what}: {e}"))
}

/// Runs `ops` on a new array of geometry `geom` in object `oh`.
fn run_ops(oh: &ObjHandle, geom: (u64, u64), ops: &[Op]) -> Result<(), TestCaseError> {
    let (cell, chunk) = geom;
    let mut a = Array::create(oh, cell, chunk).map_err(fail("create"))?;
    let mut m = Model::new(cell);
    // Offsets over ~6 chunks, lengths up to ~2.5 chunks.
    let span = 6 * chunk;
    let maxlen = 5 * chunk / 2;
    for (n, op) in ops.iter().enumerate() {
        let what = format!("op {n} {op:?}");
        match op {
            Op::Write {
                idx,
                len,
                cuts,
                seed,
            } => {
                let (idx, len) = (scale(*idx, span), 1 + scale(*len, maxlen));
                let data = pattern(*seed, (len * cell) as usize);
                m.write(idx, &data);
                let sgl = cut_sgl(data, cuts);
                a.write_ranges(&[Range { idx, len }], &sgl)
                    .map_err(fail(&what))?;
            }
            Op::WriteMulti {
                start,
                parts,
                rev,
                seed,
            } => {
                let mut at = scale(*start, span);
                let mut ranges = Vec::new();
                for (gap, len) in parts {
                    let r = Range {
                        idx: at + scale(*gap, chunk),
                        len: 1 + scale(*len, chunk),
                    };
                    at = r.idx + r.len;
                    ranges.push(r);
                }
                if *rev {
                    ranges.reverse();
                }
                let total: u64 = ranges.iter().map(|r| r.len * cell).sum();
                let data = pattern(*seed, total as usize);
                let mut off = 0;
                for r in &ranges {
                    let n = (r.len * cell) as usize;
                    m.write(r.idx, &data[off..off + n]);
                    off += n;
                }
                a.write_ranges(&ranges, &cut_sgl(data, &[20_000, 40_000]))
                    .map_err(fail(&what))?;
            }
            Op::Read { ranges } => {
                let ranges: Vec<Range> = ranges
                    .iter()
                    .map(|(i, l)| Range {
                        idx: scale(*i, span + chunk),
                        len: scale(*l, maxlen),
                    })
                    .collect();
                check_read(&a, &m, &ranges, &what)?;
            }
            Op::Punch { idx, len, to_end } => {
                let idx = scale(*idx, span);
                let len = if *to_end {
                    u64::MAX - idx
                } else {
                    1 + scale(*len, maxlen)
                };
                m.punch(idx, len);
                a.punch(&[Range { idx, len }]).map_err(fail(&what))?;
            }
            Op::SetSize(n) => {
                let n = scale(*n, span + chunk);
                m.set_size(n);
                a.set_size(n).map_err(fail(&what))?;
            }
            Op::Reopen => {
                a = Array::open(oh).map_err(fail(&what))?;
                prop_assert_eq!((a.cell_size(), a.chunk_size()), geom);
            }
        }
        let size = a.get_size().map_err(fail(&what))?;
        prop_assert_eq!(size, m.size(), "{}: get_size", what);
    }
    // Everything, and a chunk past the end.
    let all = [Range {
        idx: 0,
        len: m.size() + chunk,
    }];
    check_read(&a, &m, &all, "final read")?;
    a.destroy().map_err(fail("destroy"))?;
    prop_assert!(matches!(Array::open(oh), Err(ArrayError::NotFound)));
    Ok(())
}

fn random_io_against_the_model(class: ObjClass, label: &str, cases: u32) {
    let pool = Pool::new(label, 1, TARGETS);
    let engine = pool.start();
    let s = Sched::new();
    let cli = ObjClient::new(&s.handle(), engine.transport());
    let cont = cli.cont_create(label).unwrap();
    let next = Cell::new(0u64);
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0..GEOMS.len(), prop::collection::vec(op(), 20..40));
    let r = runner.run(&strategy, |(g, ops)| {
        let (cell, _) = GEOMS[g];
        let otype = if cell == 1 {
            ObjType::ArrayByte
        } else {
            ObjType::Array
        };
        next.set(next.get() + 1);
        let oh = cli
            .obj_open(cont, generate_oid(7, next.get(), otype, class))
            .unwrap();
        run_ops(&oh, GEOMS[g], &ops)
    });
    drop(cli);
    engine.stop().unwrap();
    if let Err(e) = r {
        panic!("{class}: {e}");
    }
}

#[test]
fn random_array_io_matches_a_byte_model_s1() {
    random_io_against_the_model(ObjClass::S1, "model-s1", 8);
}

#[test]
fn random_array_io_matches_a_byte_model_sx() {
    random_io_against_the_model(ObjClass::SX, "model-sx", 8);
}

#[test]
fn random_array_io_matches_a_byte_model_rp_2g1() {
    random_io_against_the_model(ObjClass::RP_2G1, "model-rp", 8);
}

struct Client {
    _s: Sched,
    cli: ObjClient,
    cont: ContId,
}

impl Client {
    fn new(engine: &Engine, label: &str, create: bool) -> Client {
        let s = Sched::new();
        let cli = ObjClient::new(&s.handle(), engine.transport());
        let cont = if create {
            cli.cont_create(label).unwrap()
        } else {
            cli.cont_open(label).unwrap()
        };
        Client { _s: s, cli, cont }
    }

    fn obj(&self, lo: u64, otype: ObjType, class: ObjClass) -> ObjHandle {
        self.cli
            .obj_open(self.cont, generate_oid(9, lo, otype, class))
            .unwrap()
    }
}

#[test]
fn bulk_and_inline_writes_multi_piece_sgls_and_bad_input() {
    let pool = Pool::new("bulk", 1, TARGETS);
    let engine = pool.start();
    let c = Client::new(&engine, "bulk", true);
    let chunk = 64 << 10;
    let oh = c.obj(1, ObjType::ArrayByte, ObjClass::SX);
    let a = Array::create(&oh, 1, chunk).unwrap();
    let mut m = Model::new(1);
    // Per-dkey updates just below, at and above the bulk threshold, and
    // one write of 1 MiB over 17 dkeys from a 3-piece sgl.
    let mut at = 0u64;
    for (i, len) in [100, BULK_THRESHOLD - 1, BULK_THRESHOLD, BULK_THRESHOLD + 1]
        .into_iter()
        .enumerate()
    {
        let data = pattern(i as u64, len);
        m.write(at, &data);
        a.write(at, BulkRef::from_vec(data)).unwrap();
        at += chunk;
    }
    let big = pattern(9, 1 << 20);
    m.write(chunk * 5 + 333, &big);
    a.write_ranges(
        &[Range {
            idx: chunk * 5 + 333,
            len: 1 << 20,
        }],
        &cut_sgl(big, &[1000, 30_000]),
    )
    .unwrap();
    assert_eq!(a.get_size().unwrap(), m.size());
    let all = [Range {
        idx: 0,
        len: m.size() + 10,
    }];
    assert_eq!(a.read_ranges(&all).unwrap(), m.read(&all));
    // A read within one dkey, and one through the task API.
    let one = [Range {
        idx: 2 * chunk + 5,
        len: 100,
    }];
    assert_eq!(a.read_ranges(&one).unwrap(), m.read(&one));
    let (t, out) = a.read_task(&all[..]).unwrap();
    t.schedule(false).unwrap();
    assert_eq!(c.cli.sched().progress_until(&t), 0);
    assert_eq!(out.borrow_mut().take().unwrap(), m.read(&all));
    // Reopen: the geometry comes back from dkey 0.
    let b = Array::open(&oh).unwrap();
    assert_eq!((b.cell_size(), b.chunk_size()), (1, chunk));
    assert_eq!(b.read_ranges(&all).unwrap(), m.read(&all));
    // Nothing to do is not an error.
    a.write_ranges(&[], &[]).unwrap();
    a.write(7, BulkRef::from_vec(Vec::new())).unwrap();
    assert_eq!(a.read(7, 0).unwrap(), ReadResult::default());
    // Bad input: clean errors, no I/O.
    assert!(matches!(
        a.write_ranges(
            &[Range { idx: 0, len: 10 }],
            &[BulkRef::from_vec(vec![1; 9])]
        ),
        Err(ArrayError::SizeMismatch {
            ranges: 10,
            buffers: 9
        })
    ));
    assert!(matches!(
        a.write(u64::MAX, BulkRef::from_vec(vec![1; 2])),
        Err(ArrayError::Inval(_))
    ));
    assert!(matches!(a.read(u64::MAX - 1, 5), Err(ArrayError::Inval(_))));
    assert!(matches!(a.read(0, u64::MAX), Err(ArrayError::TooLarge(_))));
    assert!(matches!(
        a.punch(&[Range {
            idx: 5,
            len: u64::MAX
        }]),
        Err(ArrayError::Inval(_))
    ));
    assert!(matches!(
        Array::create(&oh, 1, chunk),
        Err(ArrayError::Exists)
    ));
    assert_eq!(a.read_ranges(&all).unwrap(), m.read(&all));
    // Cells of 4 bytes: buffers must be whole cells.
    let oh4 = c.obj(2, ObjType::Array, ObjClass::RP_2G1);
    assert!(matches!(Array::open(&oh4), Err(ArrayError::NotFound)));
    for (cell, chunk) in [(0, 10), (4, 0), (1 << 33, 1 << 33)] {
        assert!(matches!(
            Array::create(&oh4, cell, chunk),
            Err(ArrayError::BadGeometry { .. })
        ));
    }
    let a4 = Array::create(&oh4, 4, 1000).unwrap();
    assert!(matches!(
        a4.write(3, BulkRef::from_vec(vec![1; 7])),
        Err(ArrayError::NotCellMultiple { len: 7, cell: 4 })
    ));
    assert!(matches!(
        Array::create(&c.obj(3, ObjType::ArrayByte, ObjClass::S1), 4, 1000),
        Err(ArrayError::BadGeometry { .. })
    ));
    assert!(matches!(
        Array::create(&c.obj(4, ObjType::KvHashed, ObjClass::S1), 1, 1000),
        Err(ArrayError::NotArray(_))
    ));
    // A punch wider than PUNCH_SPLIT_MAX dkeys enumerates them instead;
    // then the array is empty and a set_size grows it back with a hole.
    a.punch(&[Range {
        idx: 10,
        len: u64::MAX - 10,
    }])
    .unwrap();
    m.punch(10, u64::MAX - 10);
    assert_eq!(a.get_size().unwrap(), 10);
    assert_eq!(a.read_ranges(&all).unwrap(), m.read(&all));
    a.set_size(3 * chunk + 1).unwrap();
    m.set_size(3 * chunk + 1);
    assert_eq!(a.get_size().unwrap(), 3 * chunk + 1);
    assert_eq!(a.read_ranges(&all).unwrap(), m.read(&all));
    a.set_size(5).unwrap();
    m.set_size(5);
    assert_eq!(a.get_size().unwrap(), 5);
    assert_eq!(a.read_ranges(&all).unwrap(), m.read(&all));
    a.set_size(0).unwrap();
    assert_eq!(a.get_size().unwrap(), 0);
    // The metadata survives set_size(0); destroy removes it.
    let a = Array::open(&oh).unwrap();
    a.destroy().unwrap();
    assert!(matches!(Array::open(&oh), Err(ArrayError::NotFound)));
    drop(c);
    engine.stop().unwrap();
}

#[test]
fn a_write_is_the_seeds_task_graph() {
    let pool = Pool::new("trace", 1, TARGETS);
    let engine = pool.start();
    let c = Client::new(&engine, "trace", true);
    let a = Array::create(&c.obj(1, ObjType::ArrayByte, ObjClass::SX), 1, 4096).unwrap();
    let tracer = Tracer::new();
    c.cli.sched().set_tracer("client", Some(tracer.clone()));
    // Two writes scheduled as one list, each across 3 dkeys.
    let w1 = a
        .write_task(
            &[Range {
                idx: 4000,
                len: 5000,
            }],
            &[BulkRef::from_vec(pattern(1, 5000))],
        )
        .unwrap();
    let w2 = a
        .write_task(
            &[Range {
                idx: 40_000,
                len: 8000,
            }],
            &[BulkRef::from_vec(pattern(2, 8000))],
        )
        .unwrap();
    rdaos::tse::list_sched(&[w1.clone(), w2.clone()], true).unwrap();
    assert_eq!(c.cli.sched().progress_until(&w1), 0);
    assert_eq!(c.cli.sched().progress_until(&w2), 0);
    c.cli.sched().set_tracer("client", None);
    let spans = tracer.spans();
    let find = |name: &str| -> Vec<_> { spans.iter().filter(|s| s.name == name).collect() };
    let writes = find("dc_array_write");
    assert_eq!(writes.len(), 2);
    let ios = find("dc_array_io");
    assert_eq!(ios.len(), 2);
    for io in &ios {
        assert!(writes.iter().any(|w| w.id == io.parent), "{io:?}");
    }
    for step in [
        "compute_dkey",
        "create_sgl",
        "tse_task_register_deps",
        "tse_task_list_sched",
    ] {
        let s = find(step);
        assert_eq!(s.len(), 2, "{step}");
        assert!(s.iter().all(|s| ios.iter().any(|io| io.id == s.parent)));
    }
    let updates = find("dc_obj_update_task");
    assert_eq!(updates.len(), 6, "one update per dkey");
    assert!(updates.iter().all(|u| u.rc == 0));
    // Each write completed after its updates.
    for w in &writes {
        let io = ios.iter().find(|io| io.parent == w.id).unwrap();
        let mine: Vec<_> = updates.iter().filter(|u| u.parent == io.id).collect();
        assert_eq!(mine.len(), 3);
        assert!(mine.iter().all(|u| u.end_ns <= w.end_ns));
    }
    let mut m = Model::new(1);
    m.write(4000, &pattern(1, 5000));
    m.write(40_000, &pattern(2, 8000));
    let all = [Range {
        idx: 0,
        len: 50_000,
    }];
    assert_eq!(a.read_ranges(&all).unwrap(), m.read(&all));
    drop(c);
    engine.stop().unwrap();
}

#[test]
fn arrays_read_back_after_an_engine_restart() {
    let pool = Pool::new("restart", 1, TARGETS);
    let classes = [ObjClass::S1, ObjClass::SX, ObjClass::RP_2G1];
    let mut models = Vec::new();
    {
        let engine = pool.start();
        let c = Client::new(&engine, "restart", true);
        for (i, class) in classes.into_iter().enumerate() {
            let (cell, chunk) = GEOMS[i * 2 + 1];
            let a = Array::create(&c.obj(i as u64, ObjType::Array, class), cell, chunk).unwrap();
            let mut m = Model::new(cell);
            for k in 0..12u64 {
                let idx = (k * 7919 * (i as u64 + 1)) % (6 * chunk);
                let len = 1 + (k * 4099) % (2 * chunk);
                let data = pattern(k + 100 * i as u64, (len * cell) as usize);
                m.write(idx, &data);
                a.write_ranges(&[Range { idx, len }], &cut_sgl(data, &[30_000]))
                    .unwrap();
            }
            let p = Range {
                idx: chunk / 2,
                len: chunk,
            };
            a.punch(&[p]).unwrap();
            m.punch(p.idx, p.len);
            let n = m.size() - 17;
            a.set_size(n).unwrap();
            m.set_size(n);
            models.push(m);
        }
        drop(c);
        engine.stop().unwrap();
    }
    let engine = pool.start();
    let c = Client::new(&engine, "restart", false);
    for (i, class) in classes.into_iter().enumerate() {
        let a = Array::open(&c.obj(i as u64, ObjType::Array, class)).unwrap();
        assert_eq!((a.cell_size(), a.chunk_size()), GEOMS[i * 2 + 1]);
        let m = &models[i];
        assert_eq!(a.get_size().unwrap(), m.size(), "{class}");
        let all = [Range {
            idx: 0,
            len: m.size() + a.chunk_size(),
        }];
        let got = a.read_ranges(&all).unwrap();
        assert!(got == m.read(&all), "{class}: data differs after restart");
    }
    drop(c);
    engine.stop().unwrap();
}

/// A record punch carries no data although its iods describe
/// `nr * rsize` bytes: the engine must not check it as an update's data
/// (it once refused every record punch with `-DER_INVAL`).
#[test]
fn obj_record_punch_makes_holes() {
    use rdaos::obj::rpc::{IodDesc, PunchKind};
    use rdaos::vos::Recx;
    let pool = Pool::new("recxpunch", 1, TARGETS);
    let engine = pool.start();
    let c = Client::new(&engine, "recxpunch", true);
    let h = c.obj(1, ObjType::ArrayByte, ObjClass::S1);
    let dkey = 1u64.to_be_bytes();
    let all = IodDesc::array(b"0", 1, vec![Recx::new(0, 100)]);
    h.update(
        &dkey,
        vec![all.clone()],
        vec![BulkRef::from_vec(vec![7; 100])],
        None,
    )
    .unwrap();
    let cut = IodDesc::array(b"0", 1, vec![Recx::new(10, 10)]);
    let r = h.punch(PunchKind::Recx, &dkey, vec![cut], None);
    let got = h.fetch(&dkey, vec![all], None).unwrap();
    drop(c);
    engine.stop().unwrap();
    r.unwrap();
    assert_eq!(got.holes[0], [Recx::new(10, 10)]);
}
