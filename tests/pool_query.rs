//! The pool query RPC end to end: every target reports its data capacity
//! and free bytes, `ObjClient::pool_query` adds them up, writes take
//! space from the targets they land on, and `Dfs::statfs` reports the
//! same numbers. `ObjClient::cont_list` lists the pool's containers.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;
use common::Pool;
use rdaos::dfs::{Dfs, DfsAttr, OpenFlags};
use rdaos::obj::cli::ObjClient;
use rdaos::obj::oclass::{generate_oid, ObjClass, ObjType};
use rdaos::obj::rpc::IodDesc;
use rdaos::obj::transport::BulkRef;
use rdaos::tse::Sched;
use rdaos::vos::Recx;

#[test]
fn pool_query_sums_every_target_and_sees_writes() {
    let pool = Pool::new("pool-query", 2, 2);
    let engine = pool.start();
    let s = Sched::new();
    let cli = ObjClient::new(&s.handle(), engine.transport());

    let before = cli.pool_query().unwrap();
    assert_eq!(before.targets, 4);
    assert_eq!(before.per_target.len(), 4);
    assert_eq!(
        before.total,
        before.per_target.iter().map(|t| t.1.capacity).sum::<u64>()
    );
    assert_eq!(
        before.free,
        before.per_target.iter().map(|t| t.1.free).sum::<u64>()
    );
    // A 256 MiB pool: the data regions are most of it, but not all (each
    // target keeps a WAL and two checkpoint slots).
    assert!(before.total > 128 << 20 && before.total < 256 << 20);
    assert_eq!(before.used(), 0, "a fresh pool has nothing allocated");
    let order: Vec<_> = before.per_target.iter().map(|t| t.0).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "targets in pool-map order");

    // 1 MiB into a one-shard object: its target loses at least 1 MiB.
    let cont = cli.cont_create("space").unwrap();
    let oid = generate_oid(0, 7, ObjType::ArrayByte, ObjClass::S1);
    let h = cli.obj_open(cont, oid).unwrap();
    let data = vec![0x5a; 1 << 20];
    h.update(
        &0u64.to_be_bytes(),
        vec![IodDesc::array(
            b"0",
            1,
            vec![Recx {
                idx: 0,
                nr: 1 << 20,
            }],
        )],
        vec![BulkRef::from_vec(data)],
        None,
    )
    .unwrap();
    let after = cli.pool_query().unwrap();
    assert_eq!(after.total, before.total);
    assert!(after.used() >= 1 << 20, "used {}", after.used());
    let shard = h.layout().groups[0][0];
    for ((t, b), (_, a)) in before.per_target.iter().zip(&after.per_target) {
        if *t == shard {
            assert!(b.free - a.free >= 1 << 20);
        } else {
            assert_eq!(a.free, b.free, "target {t:?} untouched");
        }
    }

    // statfs on a POSIX container of the same pool says the same.
    Dfs::mkfs(&cli, "fs", DfsAttr::default()).unwrap();
    let d = Dfs::mount(&cli, "fs").unwrap();
    let f = d
        .create(&d.root(), "f", 0o644, OpenFlags::read_write())
        .unwrap();
    f.write(0, BulkRef::from_vec(vec![1; 64 << 10])).unwrap();
    let now = cli.pool_query().unwrap();
    let sfs = d.statfs().unwrap();
    assert_eq!(sfs.targets, 4);
    assert_eq!(sfs.capacity, Some(now.total));
    assert_eq!(sfs.used, Some(now.used()));
    assert!(now.used() >= after.used() + (64 << 10));

    // Every container of the pool, by label.
    let labels: Vec<String> = cli.cont_list().unwrap().into_iter().map(|c| c.1).collect();
    assert_eq!(labels, ["fs", "space"]);
    drop((f, d, h, cli));
    engine.stop().unwrap();
}
