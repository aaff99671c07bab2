//! Open regular files (DAOS's `dfs_obj_t` of a file): `dfs_write` and
//! `dfs_read` as tasks stacked on the array's `dc_array_write` /
//! `dc_array_read`, truncate, punch, and the open flags.

use obj::transport::BulkRef;
use tse::Task;

use crate::array::Range;
use crate::darray::{Array, ReadOut};
use crate::errno::{Context, DfsError};
use crate::inode::{Inode, Stat, PERM_MASK, S_IFMT, S_IFREG};
use crate::namespace::{Dfs, Obj};

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only (`O_RDONLY`).
    ReadOnly,
    /// Writes only (`O_WRONLY`).
    WriteOnly,
    /// Both (`O_RDWR`).
    ReadWrite,
}

/// Flags of [`Dfs::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFlags {
    /// Read, write or both.
    pub access: Access,
    /// Create the file if it does not exist (`O_CREAT`).
    pub create: bool,
    /// With `create`: fail with `EEXIST` if it exists (`O_EXCL`).
    pub excl: bool,
    /// Truncate an existing file to 0 (`O_TRUNC`; needs write access).
    pub trunc: bool,
    /// Permission bits of a created file (type bits: none or `S_IFREG`).
    pub mode: u32,
}

impl OpenFlags {
    fn with(access: Access) -> OpenFlags {
        OpenFlags {
            access,
            create: false,
            excl: false,
            trunc: false,
            mode: 0o644,
        }
    }

    /// `O_RDONLY`.
    pub fn read_only() -> OpenFlags {
        OpenFlags::with(Access::ReadOnly)
    }

    /// `O_WRONLY`.
    pub fn write_only() -> OpenFlags {
        OpenFlags::with(Access::WriteOnly)
    }

    /// `O_RDWR`.
    pub fn read_write() -> OpenFlags {
        OpenFlags::with(Access::ReadWrite)
    }

    /// These flags with `O_EXCL`.
    pub fn excl(self) -> OpenFlags {
        OpenFlags { excl: true, ..self }
    }

    /// These flags with `O_TRUNC`.
    pub fn trunc(self) -> OpenFlags {
        OpenFlags {
            trunc: true,
            ..self
        }
    }

    /// These flags with `O_CREAT` and `mode`.
    pub fn create(self, mode: u32) -> OpenFlags {
        OpenFlags {
            create: true,
            mode,
            ..self
        }
    }

    /// From `open(2)` flags (`O_ACCMODE`, `O_CREAT`, `O_EXCL`, `O_TRUNC`;
    /// `O_NOFOLLOW`, `O_CLOEXEC`, `O_LARGEFILE` are accepted and mean
    /// nothing here) and `mode`. `EINVAL` for other bits or a bad access
    /// mode.
    pub fn from_libc(flags: i32, mode: u32) -> Result<OpenFlags, DfsError> {
        let known = libc::O_ACCMODE
            | libc::O_CREAT
            | libc::O_EXCL
            | libc::O_TRUNC
            | libc::O_NOFOLLOW
            | libc::O_CLOEXEC
            | libc::O_LARGEFILE;
        if flags & !known != 0 {
            return Err(DfsError::inval(format!("open flags {flags:#o}")));
        }
        let access = match flags & libc::O_ACCMODE {
            libc::O_RDONLY => Access::ReadOnly,
            libc::O_WRONLY => Access::WriteOnly,
            libc::O_RDWR => Access::ReadWrite,
            _ => return Err(DfsError::inval("access mode")),
        };
        let f = OpenFlags {
            access,
            create: flags & libc::O_CREAT != 0,
            excl: flags & libc::O_EXCL != 0,
            trunc: flags & libc::O_TRUNC != 0,
            mode,
        };
        f.check()?;
        Ok(f)
    }

    /// `EINVAL` for `excl` without `create`, `trunc` without write access,
    /// or a mode with bits besides `S_IFREG` and the permission bits.
    pub fn check(&self) -> Result<(), DfsError> {
        if self.excl && !self.create {
            return Err(DfsError::inval("O_EXCL without O_CREAT"));
        }
        if self.trunc && self.access == Access::ReadOnly {
            return Err(DfsError::inval("O_TRUNC on a read-only open"));
        }
        let t = self.mode & S_IFMT;
        if (t != 0 && t != S_IFREG) || self.mode & !(S_IFMT | PERM_MASK) != 0 {
            return Err(DfsError::inval(format!("file mode {:#o}", self.mode)));
        }
        Ok(())
    }
}

/// The array of the file whose record is `rec` (`daos_array_open_with_attr`:
/// no I/O).
pub(crate) fn array_of(dfs: &Dfs, rec: &Inode) -> Result<Array, DfsError> {
    Array::open_with_attr(&dfs.oh(rec.oid)?, 1, rec.chunk_size).ctx("open the file's array")
}

/// An open regular file. Closing it ([`close`](Self::close), or dropping
/// it) punches the object if the file was unlinked meanwhile and this was
/// the mount's last handle on it.
pub struct File {
    dfs: Dfs,
    obj: Obj,
    array: Array,
    access: Access,
    open: bool,
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field("obj", &self.obj)
            .field("access", &self.access)
            .finish()
    }
}

/// Makes the running task `t` complete with `child` (not scheduled yet;
/// traced as `t`'s child), then schedules `child` to run now.
fn stack_on(t: &Task, child: &Task) {
    child.set_parent(t.id());
    if let Err(e) = t.register_dep(child) {
        return t.complete(e.rc());
    }
    if let Err(e) = child.schedule(true) {
        t.complete(e.rc());
    }
}

impl File {
    pub(crate) fn new(dfs: &Dfs, obj: Obj, access: Access) -> Result<File, DfsError> {
        let array = array_of(dfs, obj.inode())?;
        dfs.opened(obj.oid());
        Ok(File {
            dfs: dfs.clone(),
            obj,
            array,
            access,
            open: true,
        })
    }

    /// The mount's object client.
    pub(crate) fn dfs_client(&self) -> obj::cli::ObjClient {
        self.dfs.client().clone()
    }

    /// The file's handle in the namespace.
    pub fn obj(&self) -> &Obj {
        &self.obj
    }

    /// The file's array.
    pub fn array(&self) -> &Array {
        &self.array
    }

    fn writable(&self) -> Result<(), DfsError> {
        match self.access {
            Access::ReadOnly => Err(DfsError::BadHandle("opened read-only")),
            _ => Ok(()),
        }
    }

    fn readable(&self) -> Result<(), DfsError> {
        match self.access {
            Access::WriteOnly => Err(DfsError::BadHandle("opened write-only")),
            _ => Ok(()),
        }
    }

    fn wait(&self, t: &Task, op: &'static str) -> Result<(), DfsError> {
        t.schedule(true).map_err(|e| DfsError::task(op, e.rc()))?;
        self.dfs.client().wait(t, op).ctx(op).map_err(|e| match e {
            // Say where the space ran out (see `DfsError::explain_nospace`).
            DfsError::NoSpace { .. } => match self.dfs.client().pool_query() {
                Ok(space) => e.explain_nospace(&space),
                Err(_) => e,
            },
            e => e,
        })
    }

    /// [`DfsError::explain_nospace`] with a pool query made now, for the
    /// async API; other errors unchanged.
    pub(crate) async fn explain_async(&self, e: DfsError) -> DfsError {
        if !matches!(e, DfsError::NoSpace { .. }) {
            return e;
        }
        match self.dfs.client().pool_query_async().await {
            Ok(space) => e.explain_nospace(&space),
            Err(_) => e,
        }
    }

    /// `dfs_write` as a task (created, not scheduled): writes `data` at
    /// byte `offset`, one array range `{offset, len}`. When it runs it
    /// schedules the array's `dc_array_write` task (one object update per
    /// chunk) and completes with it. The data is not copied: the engine
    /// reads from `data`'s buffer. `EBADF` for a read-only handle, `EINVAL`
    /// for a range past the end of the index space.
    pub fn write_task(&self, offset: u64, data: BulkRef) -> Result<Task, DfsError> {
        self.writable()?;
        let len = data.len() as u64;
        let child = self
            .array
            .write_task(&[Range { idx: offset, len }], &[data])
            .ctx("dfs_write")?;
        let mut child = Some(child);
        Ok(self
            .dfs
            .client()
            .sched()
            .create_named("dfs_write", move |t| {
                if let Some(c) = child.take() {
                    // DAOS's dfs_write calls daos_array_write, which
                    // creates and schedules dc_array_write.
                    let api = t.sched().step("daos_array_write");
                    stack_on(t, &c);
                    if api.id() != 0 {
                        c.set_parent(api.id());
                    }
                    api.end(0);
                }
            }))
    }

    /// Blocking [`write_task`](Self::write_task).
    pub fn write(&self, offset: u64, data: BulkRef) -> Result<(), DfsError> {
        let t = self.write_task(offset, data)?;
        self.wait(&t, "dfs_write")
    }

    /// Blocking write of a copy of `data`.
    pub fn write_bytes(&self, offset: u64, data: &[u8]) -> Result<(), DfsError> {
        self.write(offset, BulkRef::from_vec(data.to_vec()))
    }

    /// `dfs_read` as a task (created, not scheduled): reads `len` bytes at
    /// `offset` through the array's `dc_array_read` (holes and bytes past
    /// the end read as zeros; no clipping at the file's size). Once it
    /// succeeded the returned cell holds the bytes.
    pub fn read_task(&self, offset: u64, len: u64) -> Result<(Task, ReadOut), DfsError> {
        self.readable()?;
        let (child, out) = self
            .array
            .read_task(&[Range { idx: offset, len }])
            .ctx("dfs_read")?;
        let mut child = Some(child);
        let t = self
            .dfs
            .client()
            .sched()
            .create_named("dfs_read", move |t| {
                if let Some(c) = child.take() {
                    stack_on(t, &c);
                }
            });
        Ok((t, out))
    }

    /// Blocking read of up to `len` bytes at `offset`: the file's size is
    /// read first (`daos_array_get_size`), then the bytes before it
    /// (fewer than `len` at the end of the file, none past it).
    pub fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, DfsError> {
        self.readable()?;
        let size = self.size()?;
        if offset >= size || len == 0 {
            return Ok(Vec::new());
        }
        let n = len.min(size - offset);
        let (t, out) = self.read_task(offset, n)?;
        self.wait(&t, "dfs_read")?;
        let r = out.borrow_mut().take();
        r.map(|r| r.data)
            .ok_or_else(|| DfsError::Corrupt("read completed without data".into()))
    }

    /// The file's size (`daos_array_get_size`).
    pub fn size(&self) -> Result<u64, DfsError> {
        self.array.get_size().ctx("dfs_get_size")
    }

    /// [`size`](Self::size) as a future (on the client's scheduler).
    pub async fn size_async(&self) -> Result<u64, DfsError> {
        self.array.get_size_async().await.ctx("dfs_get_size")
    }

    /// Runs `fut` to the end on the client's scheduler.
    fn block<T>(&self, fut: impl std::future::Future<Output = T>) -> T {
        self.dfs.client().sched().block_on(fut)
    }

    /// `dfs_punch` to the end / `ftruncate`: sets the size to `size`
    /// (`daos_array_set_size`: shrinking punches what is past it, growing
    /// leaves a hole). `EBADF` for a read-only handle.
    pub fn truncate(&self, size: u64) -> Result<(), DfsError> {
        self.block(self.truncate_async(size))
    }

    /// [`truncate`](Self::truncate) as a future (on the client's
    /// scheduler).
    pub async fn truncate_async(&self, size: u64) -> Result<(), DfsError> {
        self.writable()?;
        self.array.set_size_async(size).await.ctx("dfs_punch")?;
        self.data_changed_async().await
    }

    /// Sets mtime and ctime in the file's record to now, as POSIX wants
    /// after a truncate or a hole punch (record punches do not count in
    /// the object's newest epoch, from which `stat` takes the times of
    /// writes). An unlinked file has no record left to change.
    async fn data_changed_async(&self) -> Result<(), DfsError> {
        match self
            .dfs
            .update_entry_async(&self.obj, |r| r.mtime = crate::inode::now_ns())
            .await
        {
            Ok(_) | Err(DfsError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `dfs_punch`: the bytes `[offset, offset + len)` read as zeros
    /// afterwards. As DAOS: a range reaching the end of the file
    /// truncates it to `offset`; one inside it leaves the size alone; one
    /// past it does nothing. `EBADF` for a read-only handle.
    pub fn punch(&self, offset: u64, len: u64) -> Result<(), DfsError> {
        self.block(self.punch_async(offset, len))
    }

    /// [`punch`](Self::punch) as a future (on the client's scheduler).
    pub async fn punch_async(&self, offset: u64, len: u64) -> Result<(), DfsError> {
        self.writable()?;
        let end = offset
            .checked_add(len)
            .ok_or_else(|| DfsError::inval("punch past the end of the index space"))?;
        let size = self.size_async().await?;
        if offset >= size || len == 0 {
            return Ok(());
        }
        if end >= size {
            return self.truncate_async(offset).await;
        }
        self.array
            .punch_async(&[Range { idx: offset, len }])
            .await
            .ctx("dfs_punch")?;
        self.data_changed_async().await
    }

    /// `dfs_sync`: nothing to do. A write returns (its task completes)
    /// only once every replica has it durably (written through the
    /// engine's WAL), so there is nothing buffered to flush.
    pub fn fsync(&self) -> Result<(), DfsError> {
        Ok(())
    }

    /// `dfs_ostat` of the file.
    pub fn stat(&self) -> Result<Stat, DfsError> {
        self.dfs.stat(&self.obj)
    }

    /// `dfs_release`: closes the handle; if the file was unlinked and this
    /// was the mount's last handle on it, its object is punched now (the
    /// error of that punch is returned).
    pub fn close(self) -> Result<(), DfsError> {
        let dfs = self.dfs.clone();
        dfs.client().sched().block_on(self.close_async())
    }

    /// [`close`](Self::close) as a future (on the client's scheduler).
    pub async fn close_async(mut self) -> Result<(), DfsError> {
        self.open = false;
        self.dfs.closed_async(self.obj.oid()).await
    }
}

impl Drop for File {
    fn drop(&mut self) {
        if self.open {
            // Nowhere to report a failed punch from a drop: use `close`.
            let _ = self.dfs.closed(self.obj.oid());
        }
    }
}
