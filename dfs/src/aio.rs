//! The two non-blocking ways to call dfs, beside the blocking methods of
//! [`File`]; all three run the same tasks on the same engine.
//!
//! * **Async**: [`AsyncFile`] (from [`File::into_async`]) has
//!   `write(off, buf).await`, `read(off, len).await`, `size().await`. Its
//!   futures must be polled on the thread of the mount's scheduler
//!   (`sched.block_on(..)` or `sched.spawn(..)`): a write is the
//!   `dfs_write` task itself, awaited, so many writes awaited together
//!   (`futures::future::join_all`, or spawned) are in flight together.
//! * **Event queue** (DAOS's `daos_eq_*`): [`File::write_ev`] and
//!   [`File::read_ev`] launch the task on a [`tse::Eq`] with a user tag
//!   and return at once; [`tse::Eq::poll`] progresses the engine and hands
//!   back the finished events. One thread keeps any number in flight.
//!
//! The namespace operations of [`Dfs`](crate::Dfs) (lookup, create,
//! mkdir...) have async forms (`mkdir_async`, ...) to await here, and task
//! forms ([`DfsOp`](crate::DfsOp)) to launch on the same event queue.

use obj::transport::BulkRef;
use tse::{Eq, Task};

use crate::darray::ReadOut;
use crate::errno::{Context, DfsError};
use crate::file::File;
use crate::inode::Stat;

/// Schedules `t` now and awaits it; `op` names it in the error.
async fn run(t: Task, op: &'static str) -> Result<(), DfsError> {
    t.schedule(true).map_err(|e| DfsError::task(op, e.rc()))?;
    t.await.map_err(|e| DfsError::task(op, e.rc()))
}

/// An open file with an async API (see the [module doc](self)).
#[derive(Debug)]
pub struct AsyncFile {
    file: File,
}

impl File {
    /// The same open file, with an async API.
    pub fn into_async(self) -> AsyncFile {
        AsyncFile { file: self }
    }

    /// Event-queue `dfs_write`: launches [`write_task`](Self::write_task)
    /// on `eq` tagged `user_data` and returns; the event (with the task's
    /// status) comes out of [`Eq::poll`] once every replica has the data.
    pub fn write_ev(
        &self,
        eq: &Eq,
        user_data: u64,
        offset: u64,
        data: BulkRef,
    ) -> Result<(), DfsError> {
        let t = self.write_task(offset, data)?;
        eq.launch(&t, user_data)
            .map_err(|e| DfsError::task("dfs_write", e.rc()))
    }

    /// Event-queue `dfs_read` of `len` bytes at `offset` (holes and bytes
    /// past the end read as zeros; no clipping at the file's size): once
    /// the event tagged `user_data` came out of [`Eq::poll`] with status
    /// 0, the returned cell holds the bytes.
    pub fn read_ev(
        &self,
        eq: &Eq,
        user_data: u64,
        offset: u64,
        len: u64,
    ) -> Result<ReadOut, DfsError> {
        let (t, out) = self.read_task(offset, len)?;
        eq.launch(&t, user_data)
            .map_err(|e| DfsError::task("dfs_read", e.rc()))?;
        Ok(out)
    }
}

impl AsyncFile {
    /// The blocking handle underneath.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Back to the blocking API.
    pub fn into_blocking(self) -> File {
        self.file
    }

    /// `dfs_write` of `data` at byte `offset`: done once every replica has
    /// it durably. `EBADF` on a read-only handle.
    pub async fn write(&self, offset: u64, data: BulkRef) -> Result<(), DfsError> {
        match run(self.file.write_task(offset, data)?, "dfs_write").await {
            Err(e) => Err(self.file.explain_async(e).await),
            ok => ok,
        }
    }

    /// `dfs_read` of up to `len` bytes at `offset`: fewer at the end of the
    /// file, none past it (as [`File::read`]).
    pub async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, DfsError> {
        let size = self.size().await?;
        if offset >= size || len == 0 {
            return Ok(Vec::new());
        }
        let (t, out) = self.file.read_task(offset, len.min(size - offset))?;
        run(t, "dfs_read").await?;
        let r = out.borrow_mut().take();
        r.map(|r| r.data)
            .ok_or_else(|| DfsError::Corrupt("read completed without data".into()))
    }

    /// The file's size (`daos_array_get_size`).
    pub async fn size(&self) -> Result<u64, DfsError> {
        self.file.array().get_size_async().await.ctx("dfs_get_size")
    }

    /// `dfs_sync`: a write is durable when it completes, so nothing is
    /// left to flush (see [`File::fsync`]).
    pub async fn fsync(&self) -> Result<(), DfsError> {
        self.file.fsync()
    }

    /// `dfs_ostat` of the file (blocking, see the [module doc](self)).
    pub fn stat(&self) -> Result<Stat, DfsError> {
        self.file.stat()
    }

    /// `dfs_release` (see [`File::close`]).
    pub fn close(self) -> Result<(), DfsError> {
        self.file.close()
    }
}
