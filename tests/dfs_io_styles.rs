//! The three ways to call dfs file I/O (blocking, async, event queue) over
//! the whole in-process chain: each writes its part of one file, every
//! part reads back the same through the other two, many operations are
//! in flight at once from one thread, and bad calls fail cleanly.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;
use common::Pool;

use futures::future::join_all;
use rdaos::dfs::errno::libc;
use rdaos::dfs::{Dfs, DfsAttr, OpenFlags};
use rdaos::obj::cli::ObjClient;
use rdaos::obj::transport::BulkRef;
use rdaos::tse::{Eq, Sched};

const BLOCK: u64 = 4096;

fn block(i: u64) -> Vec<u8> {
    (0..BLOCK)
        .map(|b| (i as u8).wrapping_mul(13) ^ (b as u8).wrapping_add((b >> 8) as u8))
        .collect()
}

#[test]
fn blocking_async_and_event_queue_share_one_file() {
    let pool = Pool::new("iostyles", 1, 4);
    let engine = pool.start();
    let sched = Sched::new();
    let h = sched.handle();
    let cli = ObjClient::new(&h, engine.transport());
    let attr = DfsAttr {
        chunk_size: 16 * BLOCK,
        ..DfsAttr::default()
    };
    Dfs::mkfs(&cli, "styles", attr).expect("mkfs");
    let dfs = Dfs::mount(&cli, "styles").expect("mount");
    let root = dfs.root();
    let flags = OpenFlags::read_write().create(0o644);

    // Blocks 0..16 blocking, 16..48 by the event queue, 48..80 async.
    let f = dfs.open(&root, "f", flags).expect("create");
    for i in 0..16 {
        f.write_bytes(i * BLOCK, &block(i)).expect("blocking write");
    }

    let eq = Eq::new(&h);
    for i in 16..48 {
        f.write_ev(&eq, i, i * BLOCK, BulkRef::from_vec(block(i)))
            .expect("launch");
    }
    assert_eq!(eq.inflight(), 32, "every launched write is in flight");
    let mut seen = Vec::new();
    while seen.len() < 32 {
        for ev in eq.poll(64, Some(std::time::Duration::from_secs(10))) {
            assert_eq!(ev.rc, 0, "event {}", ev.user_data);
            seen.push(ev.user_data);
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (16..48).collect::<Vec<_>>());

    let af = f.into_async();
    h.block_on(async {
        let writes = (48..80).map(|i| af.write(i * BLOCK, BulkRef::from_vec(block(i))));
        for r in join_all(writes).await {
            r.expect("async write");
        }
        assert_eq!(af.size().await.expect("size"), 80 * BLOCK);
        // Read everything back through the async API, one block a read.
        let reads = (0..80).map(|i| af.read(i * BLOCK, BLOCK));
        for (i, r) in join_all(reads).await.into_iter().enumerate() {
            assert_eq!(r.expect("async read"), block(i as u64), "block {i}");
        }
        // Past the end: nothing; across it: clipped.
        assert!(af.read(80 * BLOCK, 10).await.unwrap().is_empty());
        assert_eq!(af.read(79 * BLOCK, 2 * BLOCK).await.unwrap(), block(79));
    });

    // Through the event queue: many reads in flight, each into its cell.
    let f = af.into_blocking();
    let outs: Vec<_> = (0..80)
        .map(|i| f.read_ev(&eq, i, i * BLOCK, BLOCK).expect("launch read"))
        .collect();
    let mut done = 0;
    while done < 80 {
        for ev in eq.poll(80, Some(std::time::Duration::from_secs(10))) {
            assert_eq!(ev.rc, 0);
            let i = ev.user_data;
            let got = outs[i as usize].borrow_mut().take().expect("data");
            assert_eq!(got.data, block(i), "block {i}");
            done += 1;
        }
    }
    // And blocking, all of it at once.
    let all = f.read(0, 80 * BLOCK).expect("blocking read");
    let want: Vec<u8> = (0..80).flat_map(block).collect();
    assert_eq!(all, want);
    f.close().expect("close");

    // A read-only handle refuses writes in every style, with EBADF.
    let ro = dfs.open(&root, "f", OpenFlags::read_only()).expect("open");
    assert_eq!(
        ro.write_ev(&eq, 1, 0, BulkRef::from_vec(vec![1]))
            .unwrap_err()
            .errno(),
        libc::EBADF
    );
    let ro = ro.into_async();
    let e = h
        .block_on(ro.write(0, BulkRef::from_vec(vec![1])))
        .unwrap_err();
    assert_eq!(e.errno(), libc::EBADF);
    assert_eq!(eq.inflight(), 0, "refused calls leave nothing in flight");
    // ...and the data is untouched.
    assert_eq!(h.block_on(ro.read(0, BLOCK)).unwrap(), block(0));
    ro.close().unwrap();
    drop(dfs);
    engine.stop().expect("stop");
}
