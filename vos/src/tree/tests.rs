//! Unit tests of the index: ops applied, read back at epochs, punched,
//! aborted and aggregated.

use super::*;
use crate::codec::Enc;

const C: ContId = ContId(1);

fn with_cont() -> Index {
    let mut i = Index::new();
    let create = IndexOp::ContCreate {
        cont: C,
        label: "c".into(),
    };
    i.apply(&create).unwrap();
    i
}

fn array(dkey: &[u8], v: Version, idx: u64, off: u64) -> IndexOp {
    IndexOp::UpdateArray {
        cont: C,
        oid: ObjId::new(1, 1),
        dkey: dkey.to_vec(),
        akey: b"a".to_vec(),
        v,
        recx: Recx::new(idx, 4),
        rsize: 1,
        data: Some(DataAddr {
            off,
            len: 4,
            csum: 0,
        }),
        chunks: None,
    }
}

fn single(dkey: &[u8], v: Version, data: Option<DataAddr>) -> IndexOp {
    IndexOp::UpdateSingle {
        cont: C,
        oid: ObjId::new(1, 1),
        dkey: dkey.to_vec(),
        akey: b"s".to_vec(),
        v,
        data,
    }
}

fn abort(dkey: &[u8], akey: &[u8], v: Version) -> IndexOp {
    IndexOp::Abort {
        cont: C,
        oid: ObjId::new(1, 1),
        dkey: dkey.to_vec(),
        akey: akey.to_vec(),
        v,
    }
}

/// The checkpoint form without the sequence (its first 8 bytes).
fn form(i: &Index) -> Vec<u8> {
    let mut e = Enc::new();
    i.encode(&mut e);
    e.buf.split_off(8)
}

fn v(epoch: Epoch, seq: u64) -> Version {
    Version { epoch, seq }
}

#[test]
fn abort_leaves_the_index_as_if_the_update_never_happened() {
    let d = |off| {
        Some(DataAddr {
            off,
            len: 3,
            csum: 0,
        })
    };
    let base = [array(b"k", v(1, 1), 0, 0), single(b"k", v(2, 2), d(100))];
    let aborted = [
        array(b"k", v(3, 3), 2, 200),     // over older data
        single(b"k", v(4, 4), d(300)),    // a newer single value
        single(b"k", v(5, 5), None),      // a single-value punch
        array(b"new", v(6, 6), 0, 400),   // a new dkey
        single(b"new2", v(7, 7), d(500)), // another new dkey
    ];
    let mut want = with_cont();
    for op in &base {
        want.apply(op).unwrap();
    }
    let mut got = with_cont();
    for op in base.iter().chain(&aborted) {
        got.apply(op).unwrap();
    }
    let mut freed = Vec::new();
    for op in &aborted {
        let (dkey, akey) = match op {
            IndexOp::UpdateArray { dkey, .. } => (dkey, b"a"),
            IndexOp::UpdateSingle { dkey, .. } => (dkey, b"s"),
            _ => unreachable!(),
        };
        let v = op.version().unwrap();
        freed.extend(got.apply(&abort(dkey, akey, v)).unwrap());
        // Again, and on a key that does not hold it: nothing changes.
        let before = form(&got);
        assert!(got.apply(&abort(dkey, akey, v)).unwrap().is_empty());
        assert!(got.apply(&abort(b"k", b"zz", v)).unwrap().is_empty());
        assert_eq!(form(&got), before);
    }
    assert_eq!(form(&got), form(&want));
    let offs: Vec<u64> = freed.iter().map(|a| a.off).collect();
    assert_eq!(offs, [200, 300, 400, 500]);
    // The akey a removed single value created takes an array now.
    let o = ObjId::new(1, 1);
    let mut onto_single = array(b"new2", v(8, 8), 0, 600);
    if let IndexOp::UpdateArray { akey, .. } = &mut onto_single {
        *akey = b"s".to_vec();
    }
    assert!(got.check(&onto_single).is_ok());
    assert!(want.check(&onto_single).is_ok());
    assert!(got.check(&single(b"k", v(8, 8), None)).is_ok());
    assert!(got.list_dkeys(C, o, 9) == [b"k".to_vec()]);
    // A version that never was: no change, but it is never handed out.
    got.apply(&abort(b"k", b"a", v(9, 50))).unwrap();
    assert_eq!(form(&got), form(&want));
    assert_eq!(got.next_version(9).unwrap(), v(9, 51));
    // Bad input is refused before anything changes.
    assert!(got.check(&abort(b"", b"a", v(9, 1))).is_err());
    assert!(got.check(&abort(b"k", b"a", v(0, 1))).is_err());
    let stranger = IndexOp::Abort {
        cont: ContId(9),
        oid: o,
        dkey: b"k".to_vec(),
        akey: b"a".to_vec(),
        v: v(1, 1),
    };
    assert!(matches!(got.check(&stranger), Err(VosError::NoCont(_))));
}

#[test]
fn chunk_checksums_live_exactly_as_long_as_their_extent() {
    let big = |v: Version, off: u64| {
        let mut op = array(b"k", v, 0, off);
        if let IndexOp::UpdateArray {
            recx, data, chunks, ..
        } = &mut op
        {
            *recx = Recx::new(0, 1 << 16);
            *data = Some(DataAddr {
                off,
                len: 1 << 16,
                csum: off as u32,
            });
            *chunks = Some(ChunkCsums {
                chunk: 1 << 15,
                sums: vec![1, 2].into(),
            });
        }
        op
    };
    let addr = |off| DataAddr {
        off,
        len: 1 << 16,
        csum: off as u32,
    };
    let mut i = with_cont();
    // Sums that do not fit the data are refused.
    let mut bad = big(v(1, 1), 0);
    if let IndexOp::UpdateArray { chunks, .. } = &mut bad {
        *chunks = Some(ChunkCsums {
            chunk: 1 << 15,
            sums: vec![1].into(),
        });
    }
    assert!(i.check(&bad).is_err());
    i.apply(&big(v(1, 1), 0)).unwrap();
    assert!(i.chunk_csums(&addr(0)).is_some());
    // An abort frees the extent, and its sums go with it.
    i.apply(&abort(b"k", b"a", v(1, 1))).unwrap();
    assert!(i.chunks.is_empty());
    // Aggregation of an extent overwritten whole.
    i.apply(&big(v(2, 2), 1 << 20)).unwrap();
    i.apply(&big(v(3, 3), 2 << 20)).unwrap();
    assert_eq!(i.aggregate(5), vec![addr(1 << 20)]);
    assert!(i.chunk_csums(&addr(1 << 20)).is_none());
    assert!(i.chunk_csums(&addr(2 << 20)).is_some());
    // A container destroy.
    i.apply(&IndexOp::ContDestroy { cont: C }).unwrap();
    assert!(i.chunks.is_empty());
}

fn abort_punch(dkey: Option<&[u8]>, v: Version) -> IndexOp {
    IndexOp::AbortPunch {
        cont: C,
        oid: ObjId::new(1, 1),
        dkey: dkey.map(<[u8]>::to_vec),
        v,
    }
}

#[test]
fn abort_punch_shows_what_an_object_or_dkey_punch_hid() {
    let o = ObjId::new(1, 1);
    let base = [array(b"k", v(1, 1), 0, 0), single(b"j", v(2, 2), None)];
    let mut want = with_cont();
    for op in &base {
        want.apply(op).unwrap();
    }
    let punches = [
        IndexOp::PunchDkey {
            cont: C,
            oid: o,
            dkey: b"k".to_vec(),
            v: v(3, 3),
        },
        // A dkey that exists only through its punch.
        IndexOp::PunchDkey {
            cont: C,
            oid: o,
            dkey: b"never".to_vec(),
            v: v(4, 4),
        },
        IndexOp::PunchObj {
            cont: C,
            oid: o,
            v: v(5, 5),
        },
        // An object that exists only through its punch.
        IndexOp::PunchObj {
            cont: C,
            oid: ObjId::new(2, 2),
            v: v(6, 6),
        },
    ];
    let mut got = with_cont();
    for op in base.iter().chain(&punches) {
        got.apply(op).unwrap();
    }
    assert!(got.list_dkeys(C, o, 9).is_empty(), "punched");
    // Each abort takes back its own punch only: naming the object
    // punch's version at the dkey level (or the other way) changes
    // nothing.
    let before = form(&got);
    assert!(got
        .apply(&abort_punch(Some(b"k"), v(5, 5)))
        .unwrap()
        .is_empty());
    got.apply(&abort_punch(None, v(3, 3))).unwrap();
    // Nor does naming the version of an update that created the key.
    got.apply(&abort_punch(Some(b"k"), v(1, 1))).unwrap();
    got.apply(&abort_punch(None, v(1, 1))).unwrap();
    assert_eq!(form(&got), before);
    got.apply(&abort_punch(None, v(5, 5))).unwrap();
    assert!(
        got.list_dkeys(C, o, 9).is_empty(),
        "the dkey punch still hides k"
    );
    got.apply(&abort_punch(Some(b"k"), v(3, 3))).unwrap();
    assert_eq!(got.list_dkeys(C, o, 9), [b"k".to_vec()]);
    got.apply(&abort_punch(Some(b"never"), v(4, 4))).unwrap();
    let stray = IndexOp::AbortPunch {
        cont: C,
        oid: ObjId::new(2, 2),
        dkey: None,
        v: v(6, 6),
    };
    got.apply(&stray).unwrap();
    assert_eq!(form(&got), form(&want));
    // Again: nothing changes. A bad dkey is refused.
    got.apply(&stray).unwrap();
    assert_eq!(form(&got), form(&want));
    assert!(got.check(&abort_punch(Some(b""), v(7, 7))).is_err());
}
