//! The poller mechanism against a real io_uring ring: each operation is a
//! task, its SQE's user_data is an OpTable key, and the poller registered
//! with the scheduler reaps CQEs and completes the tasks. Stale user_data
//! (a key whose slot was reused) is caught, not delivered.

use std::cell::RefCell;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use io_uring::{opcode, types, IoUring};
use tse::{der, OpTable, Poller, Sched, Task};

struct Op {
    task: Task,
    buf: Option<Vec<u8>>,
}

struct Ring {
    ring: IoUring,
    ops: OpTable<Op>,
    stale: u32,
    reads: Vec<Vec<u8>>,
}

impl Ring {
    fn submit(&mut self, entry: io_uring::squeue::Entry, op: Op) {
        let ud = self.ops.insert(op);
        // SAFETY: the entry's buffers (if any) are owned by `op`, which
        // stays in the table until its CQE is reaped.
        unsafe {
            self.ring
                .submission()
                .push(&entry.user_data(ud))
                .expect("sq has room")
        };
        self.ring.submit().expect("submit");
    }
}

struct RingPoller(Rc<RefCell<Ring>>);

impl Poller for RingPoller {
    fn poll(&mut self) -> usize {
        let mut r = self.0.borrow_mut();
        let done: Vec<(u64, i32)> = r
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        let mut finished = Vec::new();
        for (ud, res) in &done {
            match r.ops.remove(*ud) {
                Some(mut op) => {
                    if let Some(b) = op.buf.take() {
                        r.reads.push(b[..(*res).max(0) as usize].to_vec());
                    }
                    finished.push((op.task, if *res < 0 { -der::DER_IO } else { 0 }));
                }
                None => r.stale += 1,
            }
        }
        drop(r);
        // Complete outside the ring borrow: callbacks may submit more.
        for (t, rc) in finished {
            t.complete(rc);
        }
        done.len()
    }

    fn busy(&self) -> bool {
        !self.0.borrow().ops.is_empty()
    }
}

#[test]
fn poller_completes_tasks_by_user_data() {
    let s = Sched::new();
    let ring = Rc::new(RefCell::new(Ring {
        ring: IoUring::new(64).expect("io_uring available"),
        ops: OpTable::with_capacity(64),
        stale: 0,
        reads: Vec::new(),
    }));
    let id = s.register_poller(Box::new(RingPoller(ring.clone())));

    // 32 NOPs, each the I/O of a task; a parent depends on all of them.
    let parent = s.create(|t| t.complete(0));
    let mut kids = Vec::new();
    for _ in 0..32 {
        let r = ring.clone();
        let k = s.create(move |t| {
            r.borrow_mut().submit(
                opcode::Nop::new().build(),
                Op {
                    task: t.clone(),
                    buf: None,
                },
            );
        });
        kids.push(k);
    }
    parent.register_deps(&kids).unwrap();
    parent.schedule(false).unwrap();
    tse::list_sched(&kids, true).unwrap();
    assert_eq!(s.progress_until(&parent), 0);

    // A real read of a file through the same ring.
    let path = std::env::temp_dir().join(format!("tse-poller-{}", std::process::id()));
    std::fs::File::create(&path)
        .unwrap()
        .write_all(b"dfs_write -> nvme_rw")
        .unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let fd = file.as_raw_fd();
    let r = ring.clone();
    let read = s.create(move |t| {
        let mut buf = vec![0u8; 64];
        let e = opcode::Read::new(types::Fd(fd), buf.as_mut_ptr(), buf.len() as u32).build();
        r.borrow_mut().submit(
            e,
            Op {
                task: t.clone(),
                buf: Some(buf),
            },
        );
    });
    read.schedule(true).unwrap();
    assert_eq!(s.progress_until(&read), 0);
    assert_eq!(ring.borrow().reads, vec![b"dfs_write -> nvme_rw".to_vec()]);
    drop(file);
    std::fs::remove_file(&path).unwrap();

    // A CQE whose key is stale (its slot since reused) is not delivered.
    let stale_key = {
        let mut r = ring.borrow_mut();
        let k = r.ops.insert(Op {
            task: s.create_empty("gone"),
            buf: None,
        });
        r.ops.remove(k).unwrap();
        k
    };
    let victim = s.create_empty("victim");
    victim.schedule(false).unwrap();
    {
        let mut r = ring.borrow_mut();
        let live = r.ops.insert(Op {
            task: victim.clone(),
            buf: None,
        });
        assert_eq!(
            live & 0xffff_ffff,
            stale_key & 0xffff_ffff,
            "same slot reused"
        );
        let e = opcode::Nop::new().build().user_data(stale_key);
        // SAFETY: a NOP carries no buffer.
        unsafe { r.ring.submission().push(&e).unwrap() };
        r.ring.submit_and_wait(1).unwrap();
    }
    s.progress();
    assert_eq!(ring.borrow().stale, 1);
    assert!(
        !victim.is_completed(),
        "the stale CQE must not complete the new op"
    );
    assert!(s.unregister_poller(id));
    victim.complete(0);
}
