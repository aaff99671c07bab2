//! The POSIX namespace (`rdaos::dfs::Dfs`) over the whole in-process
//! chain (object client -> engine of 4 targets -> vos -> bio on one pool
//! file): random operation sequences against an in-memory model, one test
//! per POSIX error, persistence across an engine restart, resumable
//! readdir, unlink of open files, and the `dfs_write` task shape.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;
use common::Pool;
use std::cell::Cell;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use rdaos::dfs::errno::libc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rdaos::dfs::file::Access;
use rdaos::dfs::{Dfs, DfsAttr, DfsError, DirCursor, FileType, Obj, OpenFlags};
use rdaos::obj::cli::ObjClient;
use rdaos::obj::oclass::ObjClass;
use rdaos::obj::rpc::IodDesc;
use rdaos::obj::srv::Engine;
use rdaos::obj::transport::BulkRef;
use rdaos::tse::{Sched, Tracer};

const TARGETS: u32 = 4;

/// A client thread's scheduler and object client.
struct Client {
    cli: ObjClient,
    _sched: Sched,
}

impl Client {
    fn new(engine: &Engine) -> Client {
        let sched = Sched::new();
        let cli = ObjClient::new(&sched.handle(), engine.transport());
        Client { cli, _sched: sched }
    }
}

fn small_attr() -> DfsAttr {
    DfsAttr {
        chunk_size: 1024,
        ..DfsAttr::default()
    }
}

fn fresh(c: &Client, label: &str, attr: DfsAttr) -> Dfs {
    Dfs::mkfs(&c.cli, label, attr).expect("mkfs");
    Dfs::mount(&c.cli, label).expect("mount")
}

fn errno<T: std::fmt::Debug>(r: Result<T, DfsError>) -> i32 {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.errno(),
    }
}

fn rw() -> OpenFlags {
    OpenFlags::read_write()
}

fn pattern(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8 ^ (i >> 8) as u8))
        .collect()
}

// ---------------------------------------------------------------------
// The model.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File(usize),
    Dir,
    Link(String),
}

#[derive(Debug, Default)]
struct Model {
    nodes: BTreeMap<String, Node>,
    data: Vec<Vec<u8>>,
}

impl Model {
    /// The directories whose parent is `dir`.
    fn subdirs(&self, dir: &str) -> u32 {
        self.nodes
            .iter()
            .filter(|(k, n)| {
                let parent = match k.rsplit_once('/') {
                    Some(("", _)) => "/",
                    Some((p, _)) => p,
                    None => "",
                };
                matches!(n, Node::Dir) && k.as_str() != "/" && parent == dir
            })
            .count() as u32
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn parent_of(p: &str) -> &str {
    match p.rfind('/') {
        Some(0) => "/",
        Some(i) => &p[..i],
        None => "/",
    }
}

fn under(p: &str, anc: &str) -> bool {
    p == anc || p.starts_with(&format!("{anc}/"))
}

impl Model {
    fn new() -> Model {
        let mut m = Model::default();
        m.nodes.insert("/".into(), Node::Dir);
        m
    }

    fn dirs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, n)| **n == Node::Dir)
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn files(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, n)| matches!(n, Node::File(_)))
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn children(&self, dir: &str) -> BTreeMap<String, Node> {
        self.nodes
            .iter()
            .filter(|(p, _)| p.as_str() != "/" && parent_of(p) == dir)
            .map(|(p, n)| (p.rsplit('/').next().unwrap_or("").to_string(), n.clone()))
            .collect()
    }

    fn write(&mut self, id: usize, off: usize, src: &[u8]) {
        let d = &mut self.data[id];
        if src.is_empty() {
            return;
        }
        if d.len() < off + src.len() {
            d.resize(off + src.len(), 0);
        }
        d[off..off + src.len()].copy_from_slice(src);
    }

    fn read(&self, id: usize, off: usize, len: usize) -> Vec<u8> {
        let d = &self.data[id];
        if off >= d.len() {
            return Vec::new();
        }
        d[off..(off + len).min(d.len())].to_vec()
    }

    fn rename(&mut self, src: &str, dst: &str) -> Result<(), i32> {
        let Some(s) = self.nodes.get(src).cloned() else {
            return Err(libc::ENOENT);
        };
        if src == dst {
            return Ok(());
        }
        if s == Node::Dir && under(parent_of(dst), src) {
            return Err(libc::EINVAL);
        }
        if let Some(d) = self.nodes.get(dst) {
            match (s == Node::Dir, *d == Node::Dir) {
                (true, false) => return Err(libc::ENOTDIR),
                (false, true) => return Err(libc::EISDIR),
                (true, true) if !self.children(dst).is_empty() => return Err(libc::ENOTEMPTY),
                _ => {}
            }
        }
        self.nodes.remove(dst);
        let moved: Vec<(String, Node)> = self
            .nodes
            .iter()
            .filter(|(p, _)| under(p, src))
            .map(|(p, n)| (p.clone(), n.clone()))
            .collect();
        for (p, n) in moved {
            self.nodes.remove(&p);
            self.nodes.insert(format!("{dst}{}", &p[src.len()..]), n);
        }
        Ok(())
    }
}

const NAMES: [&str; 4] = ["a", "b", "c", "dd"];
const TARGETS_SL: [&str; 3] = ["/a", "b/c", "../x"];

#[derive(Debug, Clone)]
enum Op {
    Create(usize, usize, bool),
    Mkdir(usize, usize),
    Write(usize, u16, u16, u8),
    Read(usize, u16, u16),
    Truncate(usize, u16),
    Unlink(usize, usize),
    Rmdir(usize, usize),
    Rename(usize, usize, usize, usize),
    Symlink(usize, usize, usize),
    Readdir(usize, usize),
    Stat(usize, usize),
    Open(usize, usize),
    HWrite(usize, u16, u16, u8),
    HRead(usize, u16, u16),
    Close(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let i = || 0usize..64;
    let n = || 0usize..NAMES.len();
    prop_oneof![
        3 => (i(), n(), any::<bool>()).prop_map(|(d, n, x)| Op::Create(d, n, x)),
        3 => (i(), n()).prop_map(|(d, n)| Op::Mkdir(d, n)),
        3 => (i(), 0u16..3000, 0u16..2500, any::<u8>()).prop_map(|(f, o, l, b)| Op::Write(f, o, l, b)),
        2 => (i(), 0u16..4000, 0u16..4000).prop_map(|(f, o, l)| Op::Read(f, o, l)),
        1 => (i(), 0u16..3000).prop_map(|(f, s)| Op::Truncate(f, s)),
        2 => (i(), n()).prop_map(|(d, n)| Op::Unlink(d, n)),
        2 => (i(), n()).prop_map(|(d, n)| Op::Rmdir(d, n)),
        3 => (i(), n(), i(), n()).prop_map(|(a, b, c, d)| Op::Rename(a, b, c, d)),
        1 => (i(), n(), 0usize..TARGETS_SL.len()).prop_map(|(d, n, t)| Op::Symlink(d, n, t)),
        1 => (i(), 1usize..4).prop_map(|(d, m)| Op::Readdir(d, m)),
        2 => (i(), n()).prop_map(|(d, n)| Op::Stat(d, n)),
        2 => (i(), n()).prop_map(|(d, n)| Op::Open(d, n)),
        2 => (i(), 0u16..3000, 1u16..2000, any::<u8>()).prop_map(|(h, o, l, b)| Op::HWrite(h, o, l, b)),
        2 => (i(), 0u16..4000, 0u16..4000).prop_map(|(h, o, l)| Op::HRead(h, o, l)),
        1 => i().prop_map(Op::Close),
    ]
}

fn check(
    what: &str,
    got: Result<(), DfsError>,
    want: Result<(), i32>,
) -> Result<(), TestCaseError> {
    let got = got.map_err(|e| e.errno());
    prop_assert_eq!(got, want, "{}", what);
    Ok(())
}

fn fail(e: DfsError) -> TestCaseError {
    TestCaseError::fail(format!("unexpected error: {e}"))
}

/// The whole tree as the implementation sees it, by readdir and stat.
fn walk(dfs: &Dfs, dir: &Obj, path: &str, out: &mut BTreeMap<String, (FileType, u64)>) {
    let mut cur = DirCursor::start();
    loop {
        let (ents, next) = dfs.readdir(dir, &cur, 3).expect("readdir");
        for e in ents {
            let p = join(path, &e.name);
            let o = dfs.lookup_rel(dir, &e.name).expect("lookup_rel");
            assert_eq!(o.kind(), e.kind, "{p}");
            let st = dfs.stat(&o).expect("stat");
            out.insert(p.clone(), (e.kind, st.size));
            if e.kind == FileType::Dir {
                walk(dfs, &o, &p, out);
            }
        }
        match next {
            Some(c) => cur = c,
            None => break,
        }
    }
}

fn run_ops(dfs: &Dfs, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut m = Model::new();
    let mut handles: Vec<(rdaos::dfs::File, usize)> = Vec::new();
    let pick = |v: &[String], i: usize| -> Option<String> {
        (!v.is_empty()).then(|| v[i % v.len()].clone())
    };
    let dir_obj = |p: &str| dfs.lookup(p).map_err(fail);
    for (step, op) in ops.iter().enumerate() {
        let what = format!("step {step}: {op:?}");
        match *op {
            Op::Create(d, n, excl) => {
                let dir = pick(&m.dirs(), d).unwrap_or_default();
                let p = join(&dir, NAMES[n]);
                let flags = if excl { rw().excl() } else { rw() };
                let got = dfs.create(&dir_obj(&dir)?, NAMES[n], 0o640, flags);
                let want = match m.nodes.get(&p) {
                    Some(_) if excl => Err(libc::EEXIST),
                    Some(Node::Dir) => Err(libc::EISDIR),
                    Some(Node::Link(_)) => Err(libc::ELOOP),
                    Some(Node::File(_)) => Ok(()),
                    None => {
                        m.data.push(Vec::new());
                        m.nodes.insert(p.clone(), Node::File(m.data.len() - 1));
                        Ok(())
                    }
                };
                check(&what, got.map(drop), want)?;
            }
            Op::Mkdir(d, n) => {
                let dir = pick(&m.dirs(), d).unwrap_or_default();
                let p = join(&dir, NAMES[n]);
                let got = dfs.mkdir(&dir_obj(&dir)?, NAMES[n], 0o755);
                let want = match m.nodes.entry(p) {
                    Entry::Occupied(_) => Err(libc::EEXIST),
                    Entry::Vacant(v) => {
                        v.insert(Node::Dir);
                        Ok(())
                    }
                };
                check(&what, got.map(drop), want)?;
            }
            Op::Write(f, off, len, b) => {
                let Some(p) = pick(&m.files(), f) else {
                    continue;
                };
                let Some(Node::File(id)) = m.nodes.get(&p).cloned() else {
                    continue;
                };
                let file = dfs
                    .open(&dir_obj(parent_of(&p))?, base_name(&p), rw())
                    .map_err(fail)?;
                let data = pattern(b, len as usize);
                file.write_bytes(off as u64, &data).map_err(fail)?;
                m.write(id, off as usize, &data);
                file.close().map_err(fail)?;
            }
            Op::Read(f, off, len) => {
                let Some(p) = pick(&m.files(), f) else {
                    continue;
                };
                let Some(Node::File(id)) = m.nodes.get(&p).cloned() else {
                    continue;
                };
                let file = dfs
                    .open(
                        &dir_obj(parent_of(&p))?,
                        base_name(&p),
                        OpenFlags::read_only(),
                    )
                    .map_err(fail)?;
                let got = file.read(off as u64, len as u64).map_err(fail)?;
                prop_assert_eq!(got, m.read(id, off as usize, len as usize), "{}", what);
            }
            Op::Truncate(f, size) => {
                let Some(p) = pick(&m.files(), f) else {
                    continue;
                };
                let Some(Node::File(id)) = m.nodes.get(&p).cloned() else {
                    continue;
                };
                let file = dfs
                    .open(&dir_obj(parent_of(&p))?, base_name(&p), rw())
                    .map_err(fail)?;
                file.truncate(size as u64).map_err(fail)?;
                m.data[id].resize(size as usize, 0);
                prop_assert_eq!(file.size().map_err(fail)?, size as u64, "{}", what);
            }
            Op::Unlink(d, n) => {
                let dir = pick(&m.dirs(), d).unwrap_or_default();
                let p = join(&dir, NAMES[n]);
                let got = dfs.unlink(&dir_obj(&dir)?, NAMES[n]);
                let want = match m.nodes.get(&p) {
                    None => Err(libc::ENOENT),
                    Some(Node::Dir) => Err(libc::EISDIR),
                    Some(_) => {
                        m.nodes.remove(&p);
                        Ok(())
                    }
                };
                check(&what, got, want)?;
            }
            Op::Rmdir(d, n) => {
                let dir = pick(&m.dirs(), d).unwrap_or_default();
                let p = join(&dir, NAMES[n]);
                let got = dfs.rmdir(&dir_obj(&dir)?, NAMES[n]);
                let want = match m.nodes.get(&p) {
                    None => Err(libc::ENOENT),
                    Some(Node::Dir) if !m.children(&p).is_empty() => Err(libc::ENOTEMPTY),
                    Some(Node::Dir) => {
                        m.nodes.remove(&p);
                        Ok(())
                    }
                    Some(_) => Err(libc::ENOTDIR),
                };
                check(&what, got, want)?;
            }
            Op::Rename(sd, sn, dd, dn) => {
                let dirs = m.dirs();
                let (sdir, ddir) = (
                    pick(&dirs, sd).unwrap_or_default(),
                    pick(&dirs, dd).unwrap_or_default(),
                );
                let got = dfs.rename(&dir_obj(&sdir)?, NAMES[sn], &dir_obj(&ddir)?, NAMES[dn]);
                let want = m.rename(&join(&sdir, NAMES[sn]), &join(&ddir, NAMES[dn]));
                check(&what, got, want)?;
            }
            Op::Symlink(d, n, t) => {
                let dir = pick(&m.dirs(), d).unwrap_or_default();
                let p = join(&dir, NAMES[n]);
                let got = dfs.symlink(&dir_obj(&dir)?, NAMES[n], TARGETS_SL[t]);
                let want = match m.nodes.entry(p) {
                    Entry::Occupied(_) => Err(libc::EEXIST),
                    Entry::Vacant(v) => {
                        v.insert(Node::Link(TARGETS_SL[t].into()));
                        Ok(())
                    }
                };
                check(&what, got.map(drop), want)?;
            }
            Op::Readdir(d, max) => {
                let dir = pick(&m.dirs(), d).unwrap_or_default();
                let o = dir_obj(&dir)?;
                let mut got = BTreeMap::new();
                let mut cur = DirCursor::start();
                loop {
                    let (ents, next) = dfs.readdir(&o, &cur, max).map_err(fail)?;
                    prop_assert!(ents.len() <= max);
                    for e in ents {
                        prop_assert!(
                            got.insert(e.name.clone(), e.kind).is_none(),
                            "{} twice",
                            e.name
                        );
                    }
                    match next {
                        Some(c) => cur = c,
                        None => break,
                    }
                }
                let want: BTreeMap<String, FileType> = m
                    .children(&dir)
                    .into_iter()
                    .map(|(n, k)| {
                        let t = match k {
                            Node::File(_) => FileType::File,
                            Node::Dir => FileType::Dir,
                            Node::Link(_) => FileType::Symlink,
                        };
                        (n, t)
                    })
                    .collect();
                prop_assert_eq!(got, want, "{}", what);
            }
            Op::Stat(d, n) => {
                let dir = pick(&m.dirs(), d).unwrap_or_default();
                let p = join(&dir, NAMES[n]);
                let got = dfs.lookup_rel(&dir_obj(&dir)?, NAMES[n]);
                match m.nodes.get(&p) {
                    None => {
                        prop_assert_eq!(got.map(drop).map_err(|e| e.errno()), Err(libc::ENOENT))
                    }
                    Some(node) => {
                        let o = got.map_err(fail)?;
                        let st = dfs.stat(&o).map_err(fail)?;
                        let (kind, size, nlink) = match node {
                            Node::File(id) => (FileType::File, m.data[*id].len() as u64, 1),
                            // 2 + its subdirectories.
                            Node::Dir => (FileType::Dir, 0, 2 + m.subdirs(&p)),
                            Node::Link(t) => {
                                prop_assert_eq!(&dfs.readlink(&o).map_err(fail)?, t);
                                (FileType::Symlink, t.len() as u64, 1)
                            }
                        };
                        prop_assert_eq!(o.kind(), kind, "{}", what);
                        prop_assert_eq!(st.size, size, "{}", what);
                        prop_assert_eq!(st.nlink, nlink, "{}", what);
                        prop_assert_eq!(st.ino, o.oid().lo);
                    }
                }
            }
            Op::Open(d, n) => {
                let dir = pick(&m.dirs(), d).unwrap_or_default();
                let p = join(&dir, NAMES[n]);
                let got = dfs.open(&dir_obj(&dir)?, NAMES[n], rw());
                match m.nodes.get(&p) {
                    Some(Node::File(id)) => {
                        let f = got.map_err(fail)?;
                        if handles.len() < 4 {
                            handles.push((f, *id));
                        }
                    }
                    other => {
                        let want = match other {
                            None => libc::ENOENT,
                            Some(Node::Dir) => libc::EISDIR,
                            _ => libc::ELOOP,
                        };
                        prop_assert_eq!(
                            got.map(drop).map_err(|e| e.errno()),
                            Err(want),
                            "{}",
                            what
                        );
                    }
                }
            }
            Op::HWrite(h, off, len, b) => {
                if handles.is_empty() {
                    continue;
                }
                let (f, id) = &handles[h % handles.len()];
                let data = pattern(b, len as usize);
                f.write(off as u64, BulkRef::from_vec(data.clone()))
                    .map_err(fail)?;
                m.write(*id, off as usize, &data);
            }
            Op::HRead(h, off, len) => {
                if handles.is_empty() {
                    continue;
                }
                let (f, id) = &handles[h % handles.len()];
                let got = f.read(off as u64, len as u64).map_err(fail)?;
                prop_assert_eq!(got, m.read(*id, off as usize, len as usize), "{}", what);
            }
            Op::Close(h) => {
                if handles.is_empty() {
                    continue;
                }
                let (f, _) = handles.remove(h % handles.len());
                f.close().map_err(fail)?;
            }
        }
    }
    for (f, _) in handles {
        f.close().map_err(fail)?;
    }
    // The whole tree, by readdir and stat.
    let mut got = BTreeMap::new();
    walk(dfs, &dfs.root(), "/", &mut got);
    let want: BTreeMap<String, (FileType, u64)> = m
        .nodes
        .iter()
        .filter(|(p, _)| p.as_str() != "/")
        .map(|(p, n)| {
            let v = match n {
                Node::File(id) => (FileType::File, m.data[*id].len() as u64),
                Node::Dir => (FileType::Dir, 0),
                Node::Link(t) => (FileType::Symlink, t.len() as u64),
            };
            (p.clone(), v)
        })
        .collect();
    prop_assert_eq!(got, want);
    Ok(())
}

fn base_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or("")
}

#[test]
fn random_namespace_ops_match_the_model() {
    let pool = Pool::new("model", 1, TARGETS);
    let engine = pool.start();
    let c = Client::new(&engine);
    let case = Cell::new(0u32);
    let mut runner = TestRunner::new(Config {
        cases: 16,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(op(), 30..60), |ops| {
            case.set(case.get() + 1);
            let label = format!("model{}", case.get());
            let dfs = fresh(&c, &label, small_attr());
            run_ops(&dfs, &ops)
        })
        .unwrap();
    drop(c);
    engine.stop().unwrap();
}

// ---------------------------------------------------------------------
// One test per POSIX error.

/// An engine, a client and a fresh POSIX container on it.
struct Env {
    dfs: Dfs,
    c: Client,
    engine: Engine,
    _pool: Pool,
}

impl Env {
    fn new(name: &str, attr: DfsAttr) -> Env {
        let pool = Pool::new(name, 1, TARGETS);
        let engine = pool.start();
        let c = Client::new(&engine);
        let dfs = fresh(&c, name, attr);
        Env {
            dfs,
            c,
            engine,
            _pool: pool,
        }
    }

    fn stop(self) {
        let Env {
            dfs,
            c,
            engine,
            _pool,
        } = self;
        drop(dfs);
        drop(c);
        engine.stop().unwrap();
    }
}

#[test]
fn enoent() {
    let e = Env::new("enoent", small_attr());
    let (d, root) = (&e.dfs, e.dfs.root());
    assert_eq!(errno(d.lookup("/nope")), libc::ENOENT);
    assert_eq!(errno(d.lookup_rel(&root, "nope")), libc::ENOENT);
    assert_eq!(errno(d.open(&root, "nope", rw())), libc::ENOENT);
    assert_eq!(errno(d.unlink(&root, "nope")), libc::ENOENT);
    assert_eq!(errno(d.rmdir(&root, "nope")), libc::ENOENT);
    assert_eq!(errno(d.rename(&root, "nope", &root, "x")), libc::ENOENT);
    assert_eq!(
        errno(Dfs::mount(&e.c.cli, "no-such-container")),
        libc::ENOENT
    );
    e.stop();
}

#[test]
fn eexist() {
    let e = Env::new("eexist", small_attr());
    let (d, root) = (&e.dfs, e.dfs.root());
    d.mkdir(&root, "d", 0o755).unwrap();
    d.create(&root, "f", 0o644, rw()).unwrap().close().unwrap();
    assert_eq!(errno(d.mkdir(&root, "d", 0o755)), libc::EEXIST);
    assert_eq!(errno(d.mkdir(&root, "f", 0o755)), libc::EEXIST);
    assert_eq!(
        errno(d.create(&root, "f", 0o644, rw().excl())),
        libc::EEXIST
    );
    assert_eq!(errno(d.symlink(&root, "f", "/d")), libc::EEXIST);
    // Without O_EXCL, create opens the existing file.
    d.create(&root, "f", 0o644, rw()).unwrap().close().unwrap();
    assert_eq!(
        errno(Dfs::mkfs(&e.c.cli, "eexist", DfsAttr::default())),
        libc::EEXIST
    );
    e.stop();
}

#[test]
fn enotdir() {
    let e = Env::new("enotdir", small_attr());
    let (d, root) = (&e.dfs, e.dfs.root());
    d.create(&root, "f", 0o644, rw()).unwrap().close().unwrap();
    d.mkdir(&root, "d", 0o755).unwrap();
    let f = d.lookup("/f").unwrap();
    assert_eq!(errno(d.lookup("/f/x")), libc::ENOTDIR);
    assert_eq!(errno(d.lookup("/f/..")), libc::ENOTDIR);
    assert_eq!(errno(d.mkdir(&f, "x", 0o755)), libc::ENOTDIR);
    assert_eq!(errno(d.readdir(&f, &DirCursor::start(), 8)), libc::ENOTDIR);
    assert_eq!(errno(d.rmdir(&root, "f")), libc::ENOTDIR);
    assert_eq!(errno(d.rename(&root, "d", &root, "f")), libc::ENOTDIR);
    e.stop();
}

#[test]
fn eisdir() {
    let e = Env::new("eisdir", small_attr());
    let (d, root) = (&e.dfs, e.dfs.root());
    d.create(&root, "f", 0o644, rw()).unwrap().close().unwrap();
    d.mkdir(&root, "d", 0o755).unwrap();
    assert_eq!(errno(d.open(&root, "d", rw())), libc::EISDIR);
    assert_eq!(errno(d.create(&root, "d", 0o644, rw())), libc::EISDIR);
    assert_eq!(errno(d.unlink(&root, "d")), libc::EISDIR);
    assert_eq!(errno(d.rename(&root, "f", &root, "d")), libc::EISDIR);
    e.stop();
}

#[test]
fn enotempty() {
    let e = Env::new("enotempty", small_attr());
    let (d, root) = (&e.dfs, e.dfs.root());
    let a = d.mkdir(&root, "a", 0o755).unwrap();
    d.mkdir(&a, "x", 0o755).unwrap();
    d.mkdir(&root, "b", 0o755).unwrap();
    assert_eq!(errno(d.rmdir(&root, "a")), libc::ENOTEMPTY);
    // A directory over a non-empty directory.
    assert_eq!(errno(d.rename(&root, "b", &root, "a")), libc::ENOTEMPTY);
    // Over an empty one it replaces it.
    d.rename(&root, "a", &root, "b").unwrap();
    assert_eq!(errno(d.lookup("/a")), libc::ENOENT);
    assert!(d.lookup("/b/x").unwrap().is_dir());
    d.rmdir(&d.lookup("/b").unwrap(), "x").unwrap();
    d.rmdir(&root, "b").unwrap();
    e.stop();
}

#[test]
fn enametoolong() {
    let e = Env::new("enametoolong", small_attr());
    let (d, root) = (&e.dfs, e.dfs.root());
    let long = "n".repeat(256);
    let ok = "n".repeat(255);
    assert_eq!(errno(d.mkdir(&root, &long, 0o755)), libc::ENAMETOOLONG);
    assert_eq!(
        errno(d.create(&root, &long, 0o644, rw())),
        libc::ENAMETOOLONG
    );
    assert_eq!(errno(d.lookup(&format!("/{long}"))), libc::ENAMETOOLONG);
    assert_eq!(
        errno(d.symlink(&root, "s", &"t".repeat(4097))),
        libc::ENAMETOOLONG
    );
    assert_eq!(errno(d.lookup(&"/x".repeat(2049))), libc::ENAMETOOLONG);
    d.create(&root, &ok, 0o644, rw()).unwrap().close().unwrap();
    assert_eq!(d.lookup(&format!("/{ok}")).unwrap().name(), ok);
    e.stop();
}

#[test]
fn einval() {
    let e = Env::new("einval", small_attr());
    let (d, root) = (&e.dfs, e.dfs.root());
    for bad in ["", "a/b", ".", ".."] {
        assert_eq!(errno(d.mkdir(&root, bad, 0o755)), libc::EINVAL, "{bad:?}");
        assert_eq!(
            errno(d.create(&root, bad, 0o644, rw())),
            libc::EINVAL,
            "{bad:?}"
        );
        assert_eq!(errno(d.unlink(&root, bad)), libc::EINVAL, "{bad:?}");
        assert_eq!(errno(d.rmdir(&root, bad)), libc::EINVAL, "{bad:?}");
        assert_eq!(errno(d.symlink(&root, bad, "/x")), libc::EINVAL, "{bad:?}");
    }
    // Bad flags and modes.
    assert_eq!(errno(OpenFlags::from_libc(0x4000_0000, 0)), libc::EINVAL);
    assert_eq!(
        errno(OpenFlags::from_libc(libc::O_ACCMODE, 0)),
        libc::EINVAL
    );
    assert_eq!(
        errno(OpenFlags::from_libc(libc::O_RDONLY | libc::O_TRUNC, 0)),
        libc::EINVAL
    );
    let f = OpenFlags::from_libc(libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, 0o600).unwrap();
    assert_eq!(
        (f.access, f.create, f.excl),
        (Access::ReadWrite, true, true)
    );
    assert_eq!(errno(d.open(&root, "x", rw().excl())), libc::EINVAL);
    assert_eq!(errno(d.create(&root, "x", 0o040_755, rw())), libc::EINVAL);
    assert_eq!(errno(d.mkdir(&root, "x", 0o100_755)), libc::EINVAL);
    let dir = d.mkdir(&root, "d", 0o755).unwrap();
    assert_eq!(errno(d.chmod(&dir, 0o100_755)), libc::EINVAL);
    assert_eq!(errno(d.readdir(&dir, &DirCursor::start(), 0)), libc::EINVAL);
    assert_eq!(errno(d.readlink(&dir)), libc::EINVAL);
    assert_eq!(errno(d.lookup("relative/path")), libc::EINVAL);
    assert_eq!(errno(d.symlink(&root, "s", "")), libc::EINVAL);
    // A directory below itself.
    let sub = d.mkdir(&dir, "sub", 0o755).unwrap();
    assert_eq!(errno(d.rename(&root, "d", &sub, "x")), libc::EINVAL);
    assert_eq!(errno(d.rename(&root, "d", &dir, "x")), libc::EINVAL);
    assert_eq!(
        errno(Dfs::mkfs(
            &e.c.cli,
            "zero-chunk",
            DfsAttr {
                chunk_size: 0,
                ..DfsAttr::default()
            }
        )),
        libc::EINVAL
    );
    assert_eq!(
        errno(Dfs::mkfs(
            &e.c.cli,
            "too-wide",
            DfsAttr {
                oclass: ObjClass::parse("S2").unwrap(),
                dir_oclass: rdaos::obj::oclass::ObjClass {
                    grp_size: 5,
                    nr_grps: 1
                },
                ..DfsAttr::default()
            }
        )),
        libc::EINVAL
    );
    e.stop();
}

#[test]
fn eloop_and_symlinks() {
    let e = Env::new("eloop", small_attr());
    let (d, root) = (&e.dfs, e.dfs.root());
    let dir = d.mkdir(&root, "d", 0o755).unwrap();
    d.create(&dir, "f", 0o644, rw()).unwrap().close().unwrap();
    d.symlink(&root, "abs", "/d").unwrap();
    d.symlink(&dir, "rel", "../d/f").unwrap();
    d.symlink(&root, "l1", "l2").unwrap();
    d.symlink(&root, "l2", "/l1").unwrap();
    // Symlinks are followed in the middle and, with lookup, at the end.
    assert_eq!(d.lookup("/abs/f").unwrap().kind(), FileType::File);
    assert_eq!(
        d.lookup("/abs/rel").unwrap().oid(),
        d.lookup("/d/f").unwrap().oid()
    );
    let s = d.lookup_nofollow("/d/rel").unwrap();
    assert_eq!(s.kind(), FileType::Symlink);
    assert_eq!(d.readlink(&s).unwrap(), "../d/f");
    assert_eq!(d.stat(&s).unwrap().size, 6);
    assert_eq!(d.lookup("/d/./../d/f").unwrap().kind(), FileType::File);
    assert_eq!(errno(d.lookup("/l1")), libc::ELOOP);
    assert_eq!(errno(d.lookup("/l1/x")), libc::ELOOP);
    assert_eq!(d.lookup_nofollow("/l1").unwrap().kind(), FileType::Symlink);
    // open does not follow a symlink.
    assert_eq!(errno(d.open(&dir, "rel", rw())), libc::ELOOP);
    e.stop();
}

#[test]
fn writes_and_truncates_move_mtime_and_utimens_after_them_holds() {
    let e = Env::new("mtime", small_attr());
    let (d, root) = (&e.dfs, e.dfs.root());
    let now = rdaos::dfs::inode::now_ns;
    let nap = || std::thread::sleep(std::time::Duration::from_millis(5));
    let f = d.create(&root, "f", 0o644, rw()).unwrap();
    let o = d.lookup("/f").unwrap();
    let made = d.stat(&o).unwrap();
    assert_eq!(made.mtime, made.ctime);
    // A write: mtime and ctime become the time of the write.
    nap();
    let before = now();
    f.write_bytes(0, &pattern(1, 3000)).unwrap();
    let after = now();
    let w = d.stat(&o).unwrap();
    assert!(w.mtime > made.mtime, "{w:?} after {made:?}");
    // The time of the write, within a second (the epoch's clock drops
    // its low 16 bits, and a guest's clock can step).
    let second = 1_000_000_000;
    assert!(
        w.mtime + second >= before && w.mtime <= after + second,
        "{w:?} for a write between {before} and {after}"
    );
    assert_eq!((w.ctime, w.size), (w.mtime, 3000));
    // utimens after the writes (cp -p, rsync -t): the time it sets holds.
    let past = 1_000_000_000;
    d.utimens(&o, None, Some(past)).unwrap();
    assert_eq!(d.stat(&o).unwrap().mtime, past);
    // A write after that moves it again, a truncate too.
    nap();
    f.write_bytes(100, b"x").unwrap();
    let w2 = d.stat(&o).unwrap();
    assert!(w2.mtime > w.mtime, "{w2:?}");
    nap();
    let before = now();
    f.truncate(10).unwrap();
    let t = d.stat(&o).unwrap();
    assert!(
        t.mtime >= before && t.ctime >= before && t.size == 10,
        "{t:?}"
    );
    // A hole punched inside the file too.
    nap();
    let before = now();
    f.punch(2, 3).unwrap();
    let t = d.stat(&o).unwrap();
    assert!(t.mtime >= before && t.size == 10, "{t:?}");
    // Reads change nothing; the same file seen through another handle
    // has the same times.
    assert_eq!(f.read(0, 10).unwrap().len(), 10);
    let again = d.stat(&d.lookup("/f").unwrap()).unwrap();
    assert_eq!((again.mtime, again.ctime), (t.mtime, t.ctime));
    f.close().unwrap();
    e.stop();
}

#[test]
fn ebadf() {
    let e = Env::new("ebadf", small_attr());
    let (d, root) = (&e.dfs, e.dfs.root());
    d.create(&root, "f", 0o644, rw()).unwrap().close().unwrap();
    let ro = d.open(&root, "f", OpenFlags::read_only()).unwrap();
    assert_eq!(errno(ro.write_bytes(0, b"x")), libc::EBADF);
    assert_eq!(errno(ro.truncate(0)), libc::EBADF);
    let wo = d.open(&root, "f", OpenFlags::write_only()).unwrap();
    assert_eq!(errno(wo.read(0, 1)), libc::EBADF);
    wo.write_bytes(0, b"abc").unwrap();
    assert_eq!(ro.read(0, 10).unwrap(), b"abc");
    e.stop();
}

#[test]
fn enospc() {
    // Files of class S1: all of a file on one target's quarter of the pool.
    let e = Env::new(
        "enospc",
        DfsAttr {
            oclass: ObjClass::S1,
            ..DfsAttr::default()
        },
    );
    let (d, root) = (&e.dfs, e.dfs.root());
    let f = d.create(&root, "big", 0o644, rw()).unwrap();
    let mb = BulkRef::from_vec(vec![0x5a; 1 << 20]);
    let mut err = None;
    for i in 0..128u64 {
        if let Err(x) = f.write(i << 20, mb.clone()) {
            err = Some(x);
            break;
        }
    }
    let err = err.expect("a 64 MiB target region filled up without error");
    assert_eq!(err.errno(), libc::ENOSPC, "{err}");
    assert!(matches!(err, DfsError::NoSpace { .. }), "{err:?}");
    e.stop();
}

#[test]
fn mount_refuses_foreign_damaged_and_newer_containers() {
    let e = Env::new("mount", small_attr());
    let cli = &e.c.cli;
    // A container that is not POSIX.
    cli.cont_create("plain").unwrap();
    let err = Dfs::mount(cli, "plain").unwrap_err();
    assert!(matches!(err, DfsError::NotPosix(_)), "{err:?}");
    assert_eq!(err.errno(), libc::EINVAL);
    let sb = cli
        .obj_open(e.dfs.cont(), rdaos::dfs::sb::sb_oid())
        .unwrap();
    let put = |akey: &[u8], v: Vec<u8>| {
        let iod = IodDesc {
            akey: akey.to_vec(),
            single: true,
            rsize: v.len() as u64,
            recxs: vec![],
        };
        sb.update(
            rdaos::dfs::sb::SB_DKEY,
            vec![iod],
            vec![BulkRef::from_vec(v)],
            None,
        )
        .unwrap();
    };
    // A newer superblock version.
    put(b"DFS_SB_VERSION", 9u16.to_le_bytes().to_vec());
    let err = Dfs::mount(cli, "mount").unwrap_err();
    assert!(
        matches!(err, DfsError::NewerLayout { found: 9, .. }),
        "{err:?}"
    );
    assert_eq!(err.errno(), libc::EINVAL);
    put(b"DFS_SB_VERSION", 1u16.to_le_bytes().to_vec());
    Dfs::mount(cli, "mount").unwrap();
    // A damaged field.
    put(b"DFS_CHUNK_SIZE", vec![1, 2, 3]);
    let err = Dfs::mount(cli, "mount").unwrap_err();
    assert!(matches!(err, DfsError::Corrupt(_)), "{err:?}");
    assert_eq!(err.errno(), libc::EIO);
    // A bad magic.
    put(b"DFS_MAGIC", vec![0; 8]);
    assert!(matches!(
        Dfs::mount(cli, "mount"),
        Err(DfsError::NotPosix(_))
    ));
    // A damaged inode record reads as EIO.
    let dfs = fresh(&e.c, "mount2", small_attr());
    dfs.mkdir(&dfs.root(), "d", 0o755).unwrap();
    let root = cli.obj_open(dfs.cont(), dfs.root().oid()).unwrap();
    let iod = IodDesc {
        akey: b"DFS_INODE".to_vec(),
        single: true,
        rsize: 5,
        recxs: vec![],
    };
    root.update(b"d", vec![iod], vec![BulkRef::from_vec(vec![1; 5])], None)
        .unwrap();
    assert_eq!(errno(dfs.lookup("/d")), libc::EIO);
    e.stop();
}

// ---------------------------------------------------------------------

#[test]
fn readdir_with_a_small_max_returns_every_entry_once() {
    let e = Env::new("readdir", small_attr());
    let (d, root) = (&e.dfs, e.dfs.root());
    let dir = d.mkdir(&root, "big", 0o755).unwrap();
    let mut want = BTreeSet::new();
    for i in 0..200 {
        let name = format!("entry-{i:03}-{}", "x".repeat(i % 7));
        if i % 10 == 0 {
            d.mkdir(&dir, &name, 0o755).unwrap();
        } else {
            d.create(&dir, &name, 0o644, rw()).unwrap().close().unwrap();
        }
        want.insert(name);
    }
    let mut seen = BTreeSet::new();
    let mut inos = BTreeSet::new();
    let mut cur = DirCursor::start();
    let mut calls = 0;
    loop {
        let (ents, next) = d.readdir(&dir, &cur, 7).unwrap();
        calls += 1;
        assert!(ents.len() <= 7);
        for en in ents {
            assert!(inos.insert(en.ino), "inode number {} twice", en.ino);
            assert!(seen.insert(en.name.clone()), "{} twice", en.name);
            let dirlike =
                en.name.starts_with("entry-") && en.name[6..9].parse::<u32>().unwrap() % 10 == 0;
            assert_eq!(en.kind == FileType::Dir, dirlike, "{}", en.name);
        }
        match next {
            Some(c) => cur = c,
            None => break,
        }
    }
    assert_eq!(seen, want);
    assert_eq!(calls, 200usize.div_ceil(7));
    // A cursor survives changes between calls: entries removed before it
    // are not returned again, entries after it still come.
    let (first, next) = d.readdir(&dir, &DirCursor::start(), 5).unwrap();
    for en in &first {
        if en.kind == FileType::File {
            d.unlink(&dir, &en.name).unwrap();
        } else {
            d.rmdir(&dir, &en.name).unwrap();
        }
    }
    d.create(&dir, "zzz-late", 0o644, rw())
        .unwrap()
        .close()
        .unwrap();
    let mut rest = Vec::new();
    let mut cur = next;
    while let Some(c) = cur {
        let (ents, n) = d.readdir(&dir, &c, 50).unwrap();
        rest.extend(ents.into_iter().map(|e| e.name));
        cur = n;
    }
    assert_eq!(rest.len(), 196);
    assert_eq!(rest.last().map(String::as_str), Some("zzz-late"));
    e.stop();
}

#[test]
fn unlinked_open_file_lives_until_closed() {
    let e = Env::new("unlink-open", small_attr());
    let (d, root) = (&e.dfs, e.dfs.root());
    let f = d.create(&root, "f", 0o600, rw()).unwrap();
    f.write_bytes(0, &pattern(1, 5000)).unwrap();
    let g = d.open(&root, "f", OpenFlags::read_only()).unwrap();
    let oid = f.obj().oid();
    d.unlink(&root, "f").unwrap();
    assert_eq!(errno(d.lookup("/f")), libc::ENOENT);
    // Both handles still work.
    f.write_bytes(5000, b"tail").unwrap();
    assert_eq!(
        g.read(4998, 100).unwrap(),
        [&pattern(1, 5000)[4998..], b"tail"].concat()
    );
    let st = g.stat().unwrap();
    assert_eq!((st.nlink, st.size), (0, 5004));
    // A new file of the same name is another object.
    let h = d.create(&root, "f", 0o600, rw().excl()).unwrap();
    assert_ne!(h.obj().oid(), oid);
    assert_eq!(h.size().unwrap(), 0);
    f.close().unwrap();
    assert_eq!(g.size().unwrap(), 5004, "one handle left");
    g.close().unwrap();
    // The last close punched the object.
    let arr = rdaos::dfs::Array::open_with_attr(&e.c.cli.obj_open(d.cont(), oid).unwrap(), 1, 1024)
        .unwrap();
    assert_eq!(arr.get_size().unwrap(), 0);
    // A file replaced by rename while open: the same.
    h.write_bytes(0, b"old").unwrap();
    d.create(&root, "new", 0o600, rw())
        .unwrap()
        .write_bytes(0, b"newer")
        .unwrap();
    d.rename(&root, "new", &root, "f").unwrap();
    assert_eq!(h.read(0, 10).unwrap(), b"old");
    let hid = h.obj().oid();
    drop(h);
    let arr = rdaos::dfs::Array::open_with_attr(&e.c.cli.obj_open(d.cont(), hid).unwrap(), 1, 1024)
        .unwrap();
    assert_eq!(arr.get_size().unwrap(), 0);
    let f = d.open(&root, "f", OpenFlags::read_only()).unwrap();
    assert_eq!(f.read(0, 10).unwrap(), b"newer");
    e.stop();
}

#[test]
fn file_io_truncate_punch_and_attributes() {
    let e = Env::new("fileio", small_attr());
    let (d, root) = (&e.dfs, e.dfs.root());
    let f = d.create(&root, "f", 0o640, rw()).unwrap();
    let data = pattern(3, 40_000);
    f.write_bytes(100, &data).unwrap();
    let mut want = vec![0u8; 100];
    want.extend_from_slice(&data);
    assert_eq!(f.read(0, 1 << 20).unwrap(), want);
    assert_eq!(f.size().unwrap(), 40_100);
    // A hole in the middle keeps the size; a punch to the end truncates.
    f.punch(1000, 3000).unwrap();
    want[1000..4000].fill(0);
    assert_eq!(f.read(0, 1 << 20).unwrap(), want);
    f.punch(30_000, 1 << 30).unwrap();
    want.truncate(30_000);
    assert_eq!(f.size().unwrap(), 30_000);
    f.truncate(50_000).unwrap();
    want.resize(50_000, 0);
    assert_eq!(f.read(0, 1 << 20).unwrap(), want);
    f.truncate(7).unwrap();
    assert_eq!(f.read(0, 100).unwrap(), &want[..7]);
    f.fsync().unwrap();
    // O_TRUNC.
    let t = d.open(&root, "f", rw().trunc()).unwrap();
    assert_eq!(t.size().unwrap(), 0);
    // Attributes.
    let o = d.lookup("/f").unwrap();
    let st = d.stat(&o).unwrap();
    assert_eq!(st.mode, 0o100_640);
    assert_eq!(st.blksize, 1024);
    assert_eq!(st.ino, o.oid().lo);
    let o = d.chmod(&o, 0o600).unwrap();
    let o = d.utimens(&o, Some(11), Some(22)).unwrap();
    let st2 = d.stat(&o).unwrap();
    assert_eq!((st2.mode, st2.atime, st2.mtime), (0o100_600, 11, 22));
    assert!(st2.ctime >= st.ctime);
    let r = d.chmod(&d.root(), 0o700).unwrap();
    assert_eq!(d.stat(&r).unwrap().mode, 0o040_700);
    assert_eq!(d.stat(&r).unwrap().nlink, 2);
    let sfs = d.statfs().unwrap();
    assert_eq!((sfs.bsize, sfs.namemax, sfs.targets), (1024, 255, TARGETS));
    // The pool query's numbers: what was written here takes space.
    let (cap, used) = (sfs.capacity.unwrap(), sfs.used.unwrap());
    assert!(used > 0 && used < cap, "used {used} of {cap}");
    e.stop();
}

#[test]
fn dfs_write_is_a_task_over_dc_array_write() {
    let e = Env::new("trace", small_attr());
    let (d, root) = (&e.dfs, e.dfs.root());
    let f = d.create(&root, "f", 0o644, rw()).unwrap();
    let tracer = Tracer::new();
    let sh = e.c.cli.sched().clone();
    sh.set_tracer("client", Some(tracer.clone()));
    // 3000 bytes at 1000: chunks 0..=3 of 1024 bytes, 4 updates.
    let t = f
        .write_task(1000, BulkRef::from_vec(pattern(9, 3000)))
        .unwrap();
    t.schedule(true).unwrap();
    assert_eq!(sh.progress_until(&t), 0);
    let (r, out) = f.read_task(1000, 3000).unwrap();
    r.schedule(true).unwrap();
    assert_eq!(sh.progress_until(&r), 0);
    sh.set_tracer("client", None);
    assert_eq!(out.borrow().as_ref().unwrap().data, pattern(9, 3000));
    let spans = tracer.spans();
    let find = |n: &str| spans.iter().filter(|s| s.name == n).collect::<Vec<_>>();
    let (w, api, aw) = (
        find("dfs_write"),
        find("daos_array_write"),
        find("dc_array_write"),
    );
    assert_eq!((w.len(), api.len(), aw.len()), (1, 1, 1));
    // dfs_write -> daos_array_write (the API call) -> dc_array_write.
    assert_eq!(api[0].parent, w[0].id);
    assert_eq!(aw[0].parent, api[0].id);
    assert!(aw[0].end_ns <= w[0].end_ns);
    assert_eq!(find("dc_obj_update_task").len(), 4);
    let (rd, ar) = (find("dfs_read"), find("dc_array_read"));
    assert_eq!((rd.len(), ar.len()), (1, 1));
    assert_eq!(ar[0].parent, rd[0].id);
    e.stop();
}

// ---------------------------------------------------------------------

/// Every entry under `dir`: kind, mode, size, symlink target, file bytes.
type Snapshot = BTreeMap<String, (FileType, u32, u64, String, Vec<u8>)>;

fn snapshot(dfs: &Dfs, dir: &Obj, path: &str, out: &mut Snapshot) {
    let mut cur = DirCursor::start();
    loop {
        let (ents, next) = dfs.readdir(dir, &cur, 16).unwrap();
        for en in ents {
            let p = join(path, &en.name);
            let o = dfs.lookup_rel(dir, &en.name).unwrap();
            let st = dfs.stat(&o).unwrap();
            let (target, bytes) = match en.kind {
                FileType::Symlink => (dfs.readlink(&o).unwrap(), Vec::new()),
                FileType::File => {
                    let f = dfs.open(dir, &en.name, OpenFlags::read_only()).unwrap();
                    (String::new(), f.read(0, st.size).unwrap())
                }
                _ => (String::new(), Vec::new()),
            };
            out.insert(p.clone(), (en.kind, st.mode, st.size, target, bytes));
            if en.kind == FileType::Dir {
                snapshot(dfs, &o, &p, out);
            }
        }
        match next {
            Some(c) => cur = c,
            None => break,
        }
    }
}

#[test]
fn the_namespace_survives_an_engine_restart() {
    let pool = Pool::new("persist", 1, TARGETS);
    let engine = pool.start();
    let c = Client::new(&engine);
    let dfs = fresh(&c, "persist", small_attr());
    let root = dfs.root();
    let a = dfs.mkdir(&root, "a", 0o750).unwrap();
    let b = dfs.mkdir(&a, "b", 0o700).unwrap();
    for (i, dir) in [&root, &a, &b].into_iter().enumerate() {
        for j in 0..3 {
            let f = dfs.create(dir, &format!("f{j}"), 0o600 + j, rw()).unwrap();
            f.write_bytes(
                j as u64 * 700,
                &pattern((i * 3 + j as usize) as u8, 2500 * (j as usize + 1)),
            )
            .unwrap();
        }
    }
    dfs.symlink(&b, "up", "../../a").unwrap();
    dfs.rename(&a, "f1", &root, "moved").unwrap();
    dfs.unlink(&b, "f2").unwrap();
    let mut before = Snapshot::new();
    snapshot(&dfs, &root, "/", &mut before);
    let mut inos: BTreeSet<u64> = before
        .keys()
        .map(|p| dfs.stat(&dfs.lookup_nofollow(p).unwrap()).unwrap().ino)
        .collect();
    assert_eq!(inos.len(), before.len());
    dfs.umount().unwrap();
    drop(c);
    engine.stop().unwrap();

    let engine = pool.start();
    let c = Client::new(&engine);
    let dfs = Dfs::mount(&c.cli, "persist").unwrap();
    assert_eq!(dfs.attr(), small_attr());
    let mut after = Snapshot::new();
    snapshot(&dfs, &dfs.root(), "/", &mut after);
    assert_eq!(after, before);
    assert_eq!(dfs.lookup("/a/b/up/f0").unwrap().kind(), FileType::File);
    // Ids are never reused after a remount.
    for i in 0..5 {
        let f = dfs
            .create(&dfs.root(), &format!("new{i}"), 0o644, rw())
            .unwrap();
        assert!(inos.insert(f.stat().unwrap().ino), "inode number reused");
    }
    drop(dfs);
    drop(c);
    engine.stop().unwrap();
}

/// Data that fails its checksum on the device reaches a reader as EIO
/// (`-DER_CSUM` from vos, mapped as DAOS's `daos_der2errno`), never as
/// EINVAL, and never as wrong bytes; the rest of the file still reads.
#[test]
fn a_corrupted_extent_reads_as_eio() {
    let pool = Pool::new("csum", 1, 1);
    let engine = pool.start();
    let c = Client::new(&engine);
    let attr = DfsAttr {
        chunk_size: 64 << 10,
        oclass: ObjClass::S1,
        ..DfsAttr::default()
    };
    let dfs = fresh(&c, "csum", attr);
    let root = dfs.root();
    // Two chunks: one is damaged below, the other stays readable.
    let good: Vec<u8> = (0..64u32 << 10).map(|i| (i % 251) as u8 ^ 0x5a).collect();
    let doomed: Vec<u8> = (0..64u32 << 10).map(|i| (i % 241) as u8 ^ 0xa5).collect();
    let f = dfs.create(&root, "f", 0o644, rw()).unwrap();
    f.write_bytes(0, &good).unwrap();
    f.write_bytes(64 << 10, &doomed).unwrap();
    drop(f);
    dfs.umount().unwrap();
    drop(c);
    engine.stop().unwrap();

    common::corrupt_first(&pool.path, &doomed[1000..1256]);

    let engine = pool.start();
    let c = Client::new(&engine);
    let dfs = Dfs::mount(&c.cli, "csum").unwrap();
    let f = dfs.open(&dfs.root(), "f", rw()).unwrap();
    assert_eq!(f.read(0, 64 << 10).unwrap(), good);
    let err = f.read(64 << 10, 64 << 10).unwrap_err();
    assert_eq!(err.errno(), libc::EIO, "{err}");
    assert_eq!(err.der(), -rdaos::tse::der::DER_CSUM, "{err}");
    // A read across both fails too: no partial, unchecked bytes.
    assert_eq!(errno(f.read(0, 128 << 10)), libc::EIO);
    drop(f);
    drop(dfs);
    drop(c);
    engine.stop().unwrap();
}
