//! Namespace operations as tasks: many in flight at once from one thread
//! (event queue and async), errors carried through the task form, and the
//! trace of a `dfs_mkdir` task with its object update below it.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;
use common::Pool;

use std::time::Duration;

use futures::future::join_all;
use rdaos::dfs::errno::libc;
use rdaos::dfs::{Dfs, DfsAttr, DfsOp, DirCursor, FileType, OpenFlags};
use rdaos::obj::cli::ObjClient;
use rdaos::tse::{Eq, Sched, Tracer};

fn names_of(dfs: &Dfs, dir: &rdaos::dfs::Obj) -> Vec<String> {
    let (ents, more) = dfs
        .readdir(dir, &DirCursor::start(), 1000)
        .expect("readdir");
    assert!(more.is_none());
    ents.into_iter().map(|e| e.name).collect()
}

/// Polls `eq` until `n` events came out; their (tag, rc), sorted by tag.
fn drain(eq: &Eq, n: usize) -> Vec<(u64, i32)> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let evs = eq.poll(64, Some(Duration::from_secs(20)));
        assert!(!evs.is_empty(), "no event within 20 s");
        seen.extend(evs.into_iter().map(|e| (e.user_data, e.rc)));
    }
    seen.sort_unstable();
    seen
}

#[test]
fn many_namespace_tasks_in_flight_from_one_thread() {
    let pool = Pool::new("nstasks", 1, 4);
    let engine = pool.start();
    let sched = Sched::new();
    let h = sched.handle();
    let cli = ObjClient::new(&h, engine.transport());
    Dfs::mkfs(&cli, "ns", DfsAttr::default()).expect("mkfs");
    let dfs = Dfs::mount_task(&cli, "ns").wait().expect("mount task");
    let root = dfs.root();

    // 32 mkdir and 32 create tasks on one event queue, all launched
    // before any is polled.
    let eq = Eq::new(&h);
    let dirs: Vec<DfsOp<_>> = (0..32)
        .map(|i| dfs.mkdir_task(&root, &format!("d{i:02}"), 0o755))
        .collect();
    let files: Vec<DfsOp<_>> = (0..32)
        .map(|i| dfs.create_task(&root, &format!("f{i:02}"), 0o644, OpenFlags::read_write()))
        .collect();
    assert_eq!(dirs[0].name(), "dfs_mkdir");
    assert_eq!(files[0].name(), "dfs_open");
    for (i, op) in dirs.iter().enumerate() {
        op.launch(&eq, i as u64).expect("launch mkdir");
    }
    for (i, op) in files.iter().enumerate() {
        op.launch(&eq, 100 + i as u64).expect("launch create");
    }
    assert_eq!(eq.inflight(), 64, "every launched op is in flight");
    let evs = drain(&eq, 64);
    assert!(evs.iter().all(|(_, rc)| *rc == 0), "{evs:?}");
    let mut inos = std::collections::HashSet::new();
    for (i, op) in dirs.iter().enumerate() {
        let o = op.take().expect("done").expect("mkdir");
        assert!(o.is_dir());
        assert_eq!(o.name(), format!("d{i:02}"));
        assert!(inos.insert(o.inode().oid), "object ids are unique");
    }
    for (i, op) in files.iter().enumerate() {
        let f = op.take().expect("done").expect("create");
        f.write_bytes(0, format!("file {i}").as_bytes())
            .expect("write");
        assert!(inos.insert(f.obj().oid()), "object ids are unique");
        f.close_task().wait().expect("dfs_release");
    }
    assert!(dirs[0].take().is_none(), "a result is taken once");
    let mut want: Vec<String> = (0..32)
        .map(|i| format!("d{i:02}"))
        .chain((0..32).map(|i| format!("f{i:02}")))
        .collect();
    want.sort();
    assert_eq!(names_of(&dfs, &root), want);

    // readdir, stat, lookup, statfs as tasks.
    let rd = dfs.readdir_task(&root, &DirCursor::start(), 10);
    let st = dfs.stat_task(&dfs.lookup("/f03").expect("lookup"));
    let lk = dfs.lookup_task("/d07");
    let sf = dfs.statfs_task();
    for (i, t) in [rd.task(), st.task(), lk.task(), sf.task()]
        .into_iter()
        .enumerate()
    {
        eq.launch(t, i as u64).expect("launch");
    }
    assert!(drain(&eq, 4).iter().all(|(_, rc)| *rc == 0));
    let (ents, next) = rd.take().expect("done").expect("readdir");
    assert_eq!(ents.len(), 10);
    assert!(next.is_some());
    assert_eq!(st.take().expect("done").expect("stat").size, 6);
    assert_eq!(
        lk.take().expect("done").expect("lookup").kind(),
        FileType::Dir
    );
    assert!(sf.take().expect("done").expect("statfs").targets >= 4);

    // The async forms, awaited together.
    let futs = (0..16).map(|i| {
        let (dfs, root) = (dfs.clone(), root.clone());
        async move { dfs.mkdir_async(&root, &format!("a{i:02}"), 0o700).await }
    });
    let made = h.block_on(join_all(futs));
    assert!(made.iter().all(Result::is_ok), "{made:?}");
    let dir = dfs.lookup("/d00").expect("lookup d00");
    let renames = (0..16).map(|i| {
        let (dfs, root, dir) = (dfs.clone(), root.clone(), dir.clone());
        async move {
            dfs.rename_async(&root, &format!("a{i:02}"), &dir, &format!("b{i:02}"))
                .await
        }
    });
    assert!(h.block_on(join_all(renames)).iter().all(Result::is_ok));
    assert_eq!(names_of(&dfs, &dir).len(), 16);
    assert!(names_of(&dfs, &root).iter().all(|n| !n.starts_with('a')));

    // Chmod / utimens / symlink / unlink / rmdir as tasks on the queue.
    let d01 = dfs.lookup("/d01").expect("d01");
    let ops: Vec<(u64, rdaos::tse::Task)> = vec![
        (1, dfs.chmod_task(&d01, 0o711).task().clone()),
        (2, dfs.symlink_task(&root, "ln", "/d01").task().clone()),
        (3, dfs.unlink_task(&root, "f00").task().clone()),
        (4, dfs.rmdir_task(&root, "d02").task().clone()),
    ];
    for (tag, t) in &ops {
        eq.launch(t, *tag).expect("launch");
    }
    assert!(drain(&eq, 4).iter().all(|(_, rc)| *rc == 0));
    assert_eq!(dfs.stat(&d01).expect("stat").mode & 0o7777, 0o711);
    assert_eq!(dfs.lookup("/ln").expect("follow").oid(), d01.oid());
    let names = names_of(&dfs, &root);
    assert!(!names.contains(&"f00".to_string()));
    assert!(!names.contains(&"d02".to_string()));
    drop(dfs);
    drop(cli);
    drop(sched);
    drop(engine);
}

#[test]
fn errors_come_through_the_task_form_with_their_errno() {
    let pool = Pool::new("nserr", 1, 2);
    let engine = pool.start();
    let sched = Sched::new();
    let h = sched.handle();
    let cli = ObjClient::new(&h, engine.transport());
    Dfs::mkfs(&cli, "ns", DfsAttr::default()).expect("mkfs");
    let dfs = Dfs::mount(&cli, "ns").expect("mount");
    let root = dfs.root();
    let a = dfs.mkdir(&root, "a", 0o755).expect("mkdir");
    dfs.mkdir(&a, "b", 0o755).expect("mkdir b");

    let eq = Eq::new(&h);
    let exists = dfs.mkdir_task(&root, "a", 0o755);
    let missing = dfs.lookup_task("/nope/x");
    let not_empty = dfs.rmdir_task(&root, "a");
    let bad = dfs.mkdir_task(&root, "..", 0o755);
    let not_dir = dfs.unlink_task(&root, "a");
    exists.launch(&eq, 1).expect("launch");
    missing.launch(&eq, 2).expect("launch");
    not_empty.launch(&eq, 3).expect("launch");
    bad.launch(&eq, 4).expect("launch");
    not_dir.launch(&eq, 5).expect("launch");
    let evs = drain(&eq, 5);
    use rdaos::tse::der;
    assert_eq!(
        evs,
        vec![
            (1, -der::DER_EXIST),
            (2, -der::DER_NONEXIST),
            (3, -der::DER_IO),
            (4, -der::DER_INVAL),
            (5, -der::DER_IO),
        ]
    );
    fn errno<T: 'static>(op: &DfsOp<T>) -> i32 {
        match op.take() {
            Some(Err(e)) => e.errno(),
            Some(Ok(_)) => panic!("{} succeeded", op.name()),
            None => panic!("{} not done", op.name()),
        }
    }
    assert_eq!(errno(&exists), libc::EEXIST);
    assert_eq!(errno(&missing), libc::ENOENT);
    assert_eq!(errno(&not_empty), libc::ENOTEMPTY);
    assert_eq!(errno(&bad), libc::EINVAL);
    assert_eq!(errno(&not_dir), libc::EISDIR);

    // The blocking wait of a task form and the async form agree.
    let e = dfs.rmdir_task(&root, "a").wait().expect_err("not empty");
    assert_eq!(e.errno(), libc::ENOTEMPTY);
    let e = h
        .block_on(dfs.open_async(&root, "none", OpenFlags::read_only()))
        .expect_err("no such file");
    assert_eq!(e.errno(), libc::ENOENT);
    // A task that never ran reports its status as the error.
    let op = dfs.mkdir_task(&root, "c", 0o755);
    op.task().complete(-der::DER_CANCELED);
    let e = op.take().expect("done").expect_err("canceled");
    assert_eq!(e.errno(), libc::EIO);
    assert!(dfs.lookup("/c").is_err(), "its body never ran");
}

#[test]
fn a_dfs_mkdir_task_has_its_object_update_below_it_in_the_trace() {
    let pool = Pool::new("nstrace", 1, 2);
    let engine = pool.start();
    let sched = Sched::new();
    let h = sched.handle();
    let cli = ObjClient::new(&h, engine.transport());
    Dfs::mkfs(&cli, "ns", DfsAttr::default()).expect("mkfs");
    let dfs = Dfs::mount(&cli, "ns").expect("mount");
    let root = dfs.root();
    let tracer = Tracer::new();
    h.set_tracer("client", Some(tracer.clone()));
    dfs.mkdir_task(&root, "traced", 0o755)
        .wait()
        .expect("mkdir");
    h.set_tracer("client", None);
    let spans = tracer.spans();
    let mk: Vec<_> = spans.iter().filter(|s| s.name == "dfs_mkdir").collect();
    assert_eq!(mk.len(), 1, "{spans:#?}");
    let root_id = mk[0].id;
    assert_eq!(mk[0].rc, 0);
    let below = |mut id: u64| -> bool {
        for _ in 0..64 {
            if id == root_id {
                return true;
            }
            match spans.iter().find(|s| s.id == id) {
                Some(s) => id = s.parent,
                None => return false,
            }
        }
        false
    };
    let updates: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "dc_obj_update_task")
        .collect();
    // The parent link, the oid counter and the entry: every one below.
    assert!(updates.len() >= 2, "{spans:#?}");
    assert!(
        updates.iter().all(|u| below(u.parent)),
        "an update is not below dfs_mkdir: {spans:#?}"
    );
    let fetches: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "dc_obj_fetch_task")
        .collect();
    assert!(!fetches.is_empty() && fetches.iter().all(|f| below(f.parent)));
    // The shard RPCs hang below their update.
    assert!(spans
        .iter()
        .filter(|s| s.name == "dc_obj_shard_rw")
        .all(|s| below(s.parent)));
}
