//! Namespace operations as tasks: [`DfsOp`], the handle of one `dfs_*`
//! call launched on the task engine.
//!
//! Every namespace operation of [`Dfs`] has three forms, all running the
//! same code (its `async fn`):
//!
//! * **blocking**: `dfs.mkdir(&dir, "a", 0o755)` runs it to the end on the
//!   mount's scheduler;
//! * **async**: `dfs.mkdir_async(&dir, "a", 0o755).await`, on the thread of
//!   the mount's scheduler (`sched.block_on`, `sched.spawn`, or
//!   `futures::future::join_all` of many);
//! * **task**: `dfs.mkdir_task(&dir, "a", 0o755)` makes a [`DfsOp`] whose
//!   [`task`](DfsOp::task) is named as DAOS's function (`dfs_mkdir`): a
//!   [`Task`] like any other, to launch on a [`tse::Eq`]
//!   ([`DfsOp::launch`]), to schedule, or to make other tasks depend on.
//!   When it runs it spawns the operation's future and completes with it;
//!   the object tasks the operation makes hang below it in a trace.
//!
//! The task's status is `0` or a `-DER_*` ([`DfsError::der`]); the exact
//! result, with its `errno`, is in the op ([`DfsOp::take`]).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};

use obj::cli::ObjClient;
use tse::{Eq, Task};

use crate::errno::DfsError;
use crate::file::{File, OpenFlags};
use crate::inode::Stat;
use crate::namespace::{Dfs, DirCursor, DirEntry, Obj, StatFs};

type Out<T> = Rc<RefCell<Option<Result<T, DfsError>>>>;

/// One namespace operation as a task (see the [module doc](self)): the
/// task, named as the DAOS function, and the cell its result lands in.
pub struct DfsOp<T> {
    name: &'static str,
    task: Task,
    out: Out<T>,
    taken: std::cell::Cell<bool>,
}

impl<T> std::fmt::Debug for DfsOp<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DfsOp")
            .field("name", &self.name)
            .field("done", &self.task.is_completed())
            .finish()
    }
}

/// Polls the operation's future with the client's trace parent set to the
/// op's task, so the object tasks it makes (also after its first poll,
/// which is the only one run inside its own task) hang below it.
struct Traced<F> {
    cli: ObjClient,
    id: u64,
    fut: Pin<Box<F>>,
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let prev = this.cli.swap_trace_parent(this.id);
        let r = this.fut.as_mut().poll(cx);
        this.cli.swap_trace_parent(prev);
        r
    }
}

impl<T: 'static> DfsOp<T> {
    /// Makes the task `name` that, when it runs, spawns `fut` on `cli`'s
    /// scheduler and completes with its result.
    pub(crate) fn new<F>(cli: &ObjClient, name: &'static str, fut: F) -> DfsOp<T>
    where
        F: Future<Output = Result<T, DfsError>> + 'static,
    {
        let out: Out<T> = Rc::new(RefCell::new(None));
        let cell = out.clone();
        let cli = cli.clone();
        let mut fut = Some(fut);
        let task = cli.sched().clone().create_named(name, move |t| {
            let Some(fut) = fut.take() else {
                return;
            };
            let me = t.clone();
            let cell = cell.clone();
            let traced = Traced {
                cli: cli.clone(),
                id: t.id(),
                fut: Box::pin(fut),
            };
            // Detached: the op's task is what others wait for.
            drop(t.sched().spawn(async move {
                let r = traced.await;
                let rc = r.as_ref().map_or_else(DfsError::der, |_| 0);
                *cell.borrow_mut() = Some(r);
                me.complete(rc);
            }));
        });
        DfsOp {
            name,
            task,
            out,
            taken: std::cell::Cell::new(false),
        }
    }

    /// The DAOS function this op is (`dfs_mkdir`, ...).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The op's task: created, not scheduled.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// Launches the op on event queue `eq` tagged `user_data`: the event
    /// comes out of [`Eq::poll`] when it is done; then [`take`](Self::take)
    /// its result.
    pub fn launch(&self, eq: &Eq, user_data: u64) -> Result<(), DfsError> {
        eq.launch(&self.task, user_data)
            .map_err(|e| DfsError::task(self.name, e.rc()))
    }

    /// Schedules the task to run now (or once its dependencies are done).
    pub fn schedule(&self) -> Result<(), DfsError> {
        self.task
            .schedule(true)
            .map_err(|e| DfsError::task(self.name, e.rc()))
    }

    /// The result once the task completed (`None` before, or after it was
    /// taken). A task that completed without running its operation (torn
    /// down scheduler, failed dependency) gives its status as the error.
    pub fn take(&self) -> Option<Result<T, DfsError>> {
        if let Some(r) = self.out.borrow_mut().take() {
            self.taken.set(true);
            return Some(r);
        }
        match self.task.try_result() {
            Some(rc) if rc != 0 && !self.taken.replace(true) => {
                Some(Err(DfsError::task(self.name, rc)))
            }
            _ => None,
        }
    }

    /// Blocking: schedules the task (if it was not) and progresses the
    /// scheduler until it is done; its result.
    pub fn wait(self) -> Result<T, DfsError> {
        if !self.task.is_completed() {
            // Scheduling twice is refused; then it is already on its way.
            let _ = self.task.schedule(true);
            self.task.sched().progress_until(&self.task);
        }
        self.take().unwrap_or_else(|| {
            Err(DfsError::task(
                self.name,
                self.task.try_result().unwrap_or(0),
            ))
        })
    }
}

impl Dfs {
    fn op<T: 'static>(
        &self,
        name: &'static str,
        fut: impl Future<Output = Result<T, DfsError>> + 'static,
    ) -> DfsOp<T> {
        DfsOp::new(self.client(), name, fut)
    }

    /// [`lookup`](Self::lookup) as a `dfs_lookup` task.
    pub fn lookup_task(&self, path: &str) -> DfsOp<Obj> {
        let (d, p) = (self.clone(), path.to_string());
        self.op("dfs_lookup", async move { d.lookup_async(&p).await })
    }

    /// [`lookup_nofollow`](Self::lookup_nofollow) as a `dfs_lookup` task.
    pub fn lookup_nofollow_task(&self, path: &str) -> DfsOp<Obj> {
        let (d, p) = (self.clone(), path.to_string());
        self.op(
            "dfs_lookup",
            async move { d.lookup_nofollow_async(&p).await },
        )
    }

    /// [`lookup_rel`](Self::lookup_rel) as a `dfs_lookup_rel` task.
    pub fn lookup_rel_task(&self, dir: &Obj, name: &str) -> DfsOp<Obj> {
        let (d, dir, n) = (self.clone(), dir.clone(), name.to_string());
        self.op("dfs_lookup_rel", async move {
            d.lookup_rel_async(&dir, &n).await
        })
    }

    /// [`mkdir`](Self::mkdir) as a `dfs_mkdir` task.
    pub fn mkdir_task(&self, dir: &Obj, name: &str, mode: u32) -> DfsOp<Obj> {
        let (d, dir, n) = (self.clone(), dir.clone(), name.to_string());
        self.op(
            "dfs_mkdir",
            async move { d.mkdir_async(&dir, &n, mode).await },
        )
    }

    /// [`open`](Self::open) as a `dfs_open` task.
    pub fn open_task(&self, dir: &Obj, name: &str, flags: OpenFlags) -> DfsOp<File> {
        let (d, dir, n) = (self.clone(), dir.clone(), name.to_string());
        self.op(
            "dfs_open",
            async move { d.open_async(&dir, &n, flags).await },
        )
    }

    /// [`create`](Self::create) as a `dfs_open` task (with `O_CREAT`).
    pub fn create_task(&self, dir: &Obj, name: &str, mode: u32, flags: OpenFlags) -> DfsOp<File> {
        let (d, dir, n) = (self.clone(), dir.clone(), name.to_string());
        self.op("dfs_open", async move {
            d.create_async(&dir, &n, mode, flags).await
        })
    }

    /// [`readdir`](Self::readdir) as a `dfs_readdir` task.
    pub fn readdir_task(
        &self,
        dir: &Obj,
        cursor: &DirCursor,
        max: usize,
    ) -> DfsOp<(Vec<DirEntry>, Option<DirCursor>)> {
        let (d, dir, c) = (self.clone(), dir.clone(), cursor.clone());
        self.op("dfs_readdir", async move {
            d.readdir_async(&dir, &c, max).await
        })
    }

    /// [`stat`](Self::stat) as a `dfs_ostat` task.
    pub fn stat_task(&self, o: &Obj) -> DfsOp<Stat> {
        let (d, o) = (self.clone(), o.clone());
        self.op("dfs_ostat", async move { d.stat_async(&o).await })
    }

    /// [`chmod`](Self::chmod) as a `dfs_chmod` task.
    pub fn chmod_task(&self, o: &Obj, mode: u32) -> DfsOp<Obj> {
        let (d, o) = (self.clone(), o.clone());
        self.op("dfs_chmod", async move { d.chmod_async(&o, mode).await })
    }

    /// [`chown`](Self::chown) as a `dfs_chown` task.
    pub fn chown_task(&self, o: &Obj, uid: Option<u32>, gid: Option<u32>) -> DfsOp<Obj> {
        let (d, o) = (self.clone(), o.clone());
        self.op(
            "dfs_chown",
            async move { d.chown_async(&o, uid, gid).await },
        )
    }

    /// [`utimens`](Self::utimens) as a `dfs_osetattr` task.
    pub fn utimens_task(&self, o: &Obj, atime: Option<u64>, mtime: Option<u64>) -> DfsOp<Obj> {
        let (d, o) = (self.clone(), o.clone());
        self.op("dfs_osetattr", async move {
            d.utimens_async(&o, atime, mtime).await
        })
    }

    /// [`unlink`](Self::unlink) as a `dfs_remove` task.
    pub fn unlink_task(&self, dir: &Obj, name: &str) -> DfsOp<()> {
        let (d, dir, n) = (self.clone(), dir.clone(), name.to_string());
        self.op("dfs_remove", async move { d.unlink_async(&dir, &n).await })
    }

    /// [`rmdir`](Self::rmdir) as a `dfs_remove` task.
    pub fn rmdir_task(&self, dir: &Obj, name: &str) -> DfsOp<()> {
        let (d, dir, n) = (self.clone(), dir.clone(), name.to_string());
        self.op("dfs_remove", async move { d.rmdir_async(&dir, &n).await })
    }

    /// [`rename`](Self::rename) as a `dfs_move` task.
    pub fn rename_task(
        &self,
        src_dir: &Obj,
        src_name: &str,
        dst_dir: &Obj,
        dst_name: &str,
    ) -> DfsOp<()> {
        let d = self.clone();
        let (sd, sn) = (src_dir.clone(), src_name.to_string());
        let (dd, dn) = (dst_dir.clone(), dst_name.to_string());
        self.op("dfs_move", async move {
            d.rename_async(&sd, &sn, &dd, &dn).await
        })
    }

    /// [`symlink`](Self::symlink) as a `dfs_open` task (`S_IFLNK`).
    pub fn symlink_task(&self, dir: &Obj, name: &str, target: &str) -> DfsOp<Obj> {
        let (d, dir, n, t) = (
            self.clone(),
            dir.clone(),
            name.to_string(),
            target.to_string(),
        );
        self.op(
            "dfs_open",
            async move { d.symlink_async(&dir, &n, &t).await },
        )
    }

    /// [`statfs`](Self::statfs) as a `dfs_statfs` task.
    pub fn statfs_task(&self) -> DfsOp<StatFs> {
        let d = self.clone();
        self.op("dfs_statfs", async move { d.statfs_async().await })
    }

    /// [`mount`](Self::mount) as a `dfs_mount` task.
    pub fn mount_task(cli: &ObjClient, label: &str) -> DfsOp<Dfs> {
        let (c, l) = (cli.clone(), label.to_string());
        DfsOp::new(
            cli,
            "dfs_mount",
            async move { Dfs::mount_async(&c, &l).await },
        )
    }
}

impl File {
    /// [`truncate`](Self::truncate) as a `dfs_punch` task. Consumes a
    /// clone-free handle: the file is given back with the result.
    pub fn truncate_task(self, size: u64) -> DfsOp<File> {
        let cli = self.dfs_client();
        DfsOp::new(&cli, "dfs_punch", async move {
            self.truncate_async(size).await?;
            Ok(self)
        })
    }

    /// [`punch`](Self::punch) as a `dfs_punch` task; the file is given
    /// back with the result.
    pub fn punch_task(self, offset: u64, len: u64) -> DfsOp<File> {
        let cli = self.dfs_client();
        DfsOp::new(&cli, "dfs_punch", async move {
            self.punch_async(offset, len).await?;
            Ok(self)
        })
    }

    /// [`close`](Self::close) as a `dfs_release` task.
    pub fn close_task(self) -> DfsOp<()> {
        let cli = self.dfs_client();
        DfsOp::new(&cli, "dfs_release", self.close_async())
    }
}
