//! The POSIX namespace of a container (DAOS's `dfs_*`): [`Dfs`] (mkfs,
//! mount), handles to its entries ([`Obj`]) and the directory operations.
//! Open regular files are [`File`]s.
//!
//! Layout, as DAOS's dfs: the superblock object ([`crate::sb`]) holds the
//! container's properties and the root's entry; a directory is a hashed
//! key-value object whose dkeys are its entries' names, each holding an
//! inode record ([`crate::inode`]); a regular file is a byte-array object
//! (cell 1, the file's chunk size; no array metadata: the geometry is in
//! the inode, as `daos_array_open_with_attr`); a symbolic link is only its
//! entry (target in the record). Object ids come from
//! [`crate::oidalloc`].
//!
//! Every operation is made of object-layer tasks (fetch, update, punch,
//! enumerate; a file's I/O is the `dfs_write` / `dfs_read` task over the
//! array's) and is itself a task. Each is written once, as an `async fn`
//! awaiting those tasks, and called three ways:
//!
//! * blocking: `dfs.mkdir(&dir, "a", 0o755)` (runs the future with
//!   `block_on` on the client's scheduler);
//! * async: `dfs.mkdir_async(&dir, "a", 0o755).await` on the scheduler's
//!   thread (many at once with `futures::future::join_all` or `spawn`);
//! * task: `dfs.mkdir_task(&dir, "a", 0o755)`, a [`DfsOp`](crate::DfsOp)
//!   whose task is named as DAOS's function (`dfs_mkdir`, `dfs_lookup`,
//!   `dfs_open`, `dfs_readdir`, `dfs_ostat`, `dfs_chmod`, `dfs_osetattr`,
//!   `dfs_remove`, `dfs_move`, `dfs_statfs`, `dfs_mount`, ...): launch it
//!   on a [`tse::Eq`], schedule it, or make other tasks depend on it (see
//!   [`crate::task`]).
//!
//! Semantics worth knowing:
//!
//! * **Atomicity.** There is no conditional update or distributed
//!   transaction here: "does the entry exist" and "write the entry" are
//!   two steps, and `rename` writes the new entry before removing the old
//!   one (a crash in between leaves both names). One mount at a time per
//!   container is what these semantics are exact for.
//! * **Unlink of an open file** (also a file replaced by `rename`): the
//!   entry goes at once; the file's object stays until the last
//!   [`File`] of this mount on it is closed (dropped),
//!   then it is punched, as POSIX keeps an unlinked open file. Handles of
//!   other mounts are not known: for them the object is punched at once
//!   (DAOS's `dfs_remove` punches at once for everyone). A process that
//!   dies with an unlinked file open leaks its object.
//! * **Times.** Entries get atime = mtime = ctime at creation; `chmod`, `chown`,
//!   `utimens` and `rename` change ctime. File writes do not touch the
//!   record: as in DAOS, `stat` takes a file's mtime and ctime from its
//!   array's newest write epoch when that is later than the record's
//!   ctime (so a `utimens` after the writes keeps the time it set). A
//!   truncate or a hole punch sets mtime and ctime in the record (a punch
//!   of records is not counted in the object's newest epoch). atime is
//!   not updated by reads.
//! * **Stale handles.** An [`Obj`] names its entry by parent and name.
//!   If that entry is removed, or renamed by another call, `stat` of the
//!   handle reports its cached record with `nlink` 0, and `chmod` /
//!   `utimens` fail with `ENOENT`. A directory handle is not revalidated:
//!   entries made in a directory removed meanwhile are unreachable.
//! * **Durability.** An operation returns once every replica of every
//!   object it changed has it durably: [`File::fsync`](crate::file::File::fsync)
//!   has nothing left to do.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use obj::cli::{ObjClient, ObjHandle};
use obj::oclass::{generate_oid, ObjClass, ObjType};
use obj::vos::{ContId, ObjId};

use crate::dirent;
use crate::errno::{Context, DfsError};
use crate::file::{File, OpenFlags};
use crate::inode::{
    check_component, check_name, now_ns, FileType, Inode, Owner, Stat, NAME_MAX, PATH_MAX,
    PERM_MASK, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
};
use crate::oidalloc::{OidAlloc, FIRST_LO};
use crate::sb::{self, root_oid, sb_oid, DfsAttr, ROOT_DKEY};

/// Symbolic links followed while resolving one path before `ELOOP`
/// (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;
/// Directory levels `rename` walks up (parent links) before declaring
/// the tree corrupt.
const MAX_DEPTH: u32 = 4096;

/// A handle to an entry of the namespace: its object id, where its entry
/// is (parent directory and name) and its inode record as last read.
/// Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obj {
    parent: ObjId,
    name: Vec<u8>,
    inode: Inode,
}

impl Obj {
    /// The object id.
    pub fn oid(&self) -> ObjId {
        self.inode.oid
    }

    /// The entry's type.
    pub fn kind(&self) -> FileType {
        self.inode.kind()
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.kind() == FileType::Dir
    }

    /// The entry's name (`"/"` for the root).
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// The inode record as last read.
    pub fn inode(&self) -> &Inode {
        &self.inode
    }

    /// The object id of the directory holding the entry (the superblock's
    /// for the root).
    pub fn parent(&self) -> ObjId {
        self.parent
    }
}

/// One entry returned by [`Dfs::readdir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name.
    pub name: String,
    /// The type.
    pub kind: FileType,
    /// The inode number (as [`Stat::ino`]).
    pub ino: u64,
}

/// Where [`Dfs::readdir`] goes on: after the entry name it holds (names
/// come in bytewise order), so a listing resumes correctly across entries
/// added or removed between calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirCursor {
    after: Option<Vec<u8>>,
}

impl DirCursor {
    /// The start of a directory.
    pub fn start() -> DirCursor {
        DirCursor::default()
    }
}

/// What [`Dfs::statfs`] can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatFs {
    /// Preferred I/O size: the container's default chunk size.
    pub bsize: u64,
    /// Longest name.
    pub namemax: u32,
    /// Targets of the pool (from the pool map).
    pub targets: u32,
    /// The pool's capacity in bytes: the targets' data regions together
    /// (from the pool query). `None` only where the pool cannot say.
    pub capacity: Option<u64>,
    /// Bytes allocated in those data regions (every version of every
    /// container of the pool, not only this one's).
    pub used: Option<u64>,
}

/// Whether `mount` knows of open files on an object.
#[derive(Debug, Default)]
struct OpenState {
    count: usize,
    unlinked: bool,
}

pub(crate) struct Inner {
    pub(crate) cli: ObjClient,
    cont: ContId,
    label: String,
    attr: DfsAttr,
    sb: ObjHandle,
    root: Obj,
    oids: OidAlloc,
    open: RefCell<HashMap<ObjId, OpenState>>,
}

/// A mounted POSIX container (DAOS's `dfs_t`). Cheap to clone; not `Send`
/// (it uses the object client of the calling thread).
#[derive(Clone)]
pub struct Dfs {
    pub(crate) inner: Rc<Inner>,
}

impl std::fmt::Debug for Dfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dfs")
            .field("label", &self.inner.label)
            .field("attr", &self.inner.attr)
            .finish()
    }
}

fn new_inode(mode: u32, owner: Owner, oid: ObjId, oclass: ObjClass, chunk_size: u64) -> Inode {
    let now = now_ns();
    Inode {
        mode,
        uid: owner.uid,
        gid: owner.gid,
        oid,
        atime: now,
        mtime: now,
        ctime: now,
        size: 0,
        chunk_size,
        oclass,
        target: Vec::new(),
    }
}

fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// Checks a mode for a new entry of type `ty`: permission bits, with
/// either no type bits or `ty`'s.
fn check_mode(mode: u32, ty: u32) -> Result<u32, DfsError> {
    let t = mode & S_IFMT;
    if (t != 0 && t != ty) || mode & !(S_IFMT | PERM_MASK) != 0 {
        return Err(DfsError::inval(format!("mode {mode:#o}")));
    }
    Ok(ty | (mode & PERM_MASK))
}

/// A step of [`Dfs::mkfs_steps`], in the order they complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MkfsStep {
    /// The container exists on every target (empty).
    Container,
    /// The root directory's entry is written.
    Root,
    /// The superblock is written: the container is a POSIX container.
    Superblock,
}

impl MkfsStep {
    /// The step's name: `container`, `root` or `superblock`.
    pub fn name(self) -> &'static str {
        match self {
            MkfsStep::Container => "container",
            MkfsStep::Root => "root",
            MkfsStep::Superblock => "superblock",
        }
    }
}

impl Dfs {
    /// `dfs_cont_create`: creates container `label` as a POSIX container:
    /// the superblock with `attr`, and the root directory (mode 0755).
    /// `EEXIST` when the container exists; `EINVAL` for a chunk size of 0
    /// or a class the pool cannot hold.
    pub fn mkfs(cli: &ObjClient, label: &str, attr: DfsAttr) -> Result<(), DfsError> {
        cli.sched().block_on(Dfs::mkfs_async(cli, label, attr))
    }

    /// [`mkfs`](Self::mkfs) as a future (on `cli`'s scheduler).
    pub async fn mkfs_async(cli: &ObjClient, label: &str, attr: DfsAttr) -> Result<(), DfsError> {
        Dfs::mkfs_steps(cli, label, attr, |_| {}).await
    }

    /// [`mkfs_async`](Self::mkfs_async), calling `done` after each of its
    /// steps completed (for a caller that records its progress, or a
    /// test that stops a process at one).
    pub async fn mkfs_steps(
        cli: &ObjClient,
        label: &str,
        attr: DfsAttr,
        mut done: impl FnMut(MkfsStep),
    ) -> Result<(), DfsError> {
        if attr.chunk_size == 0 {
            return Err(DfsError::inval("chunk size 0"));
        }
        for (c, t) in [
            (attr.oclass, ObjType::ArrayByte),
            (attr.dir_oclass, ObjType::KvHashed),
        ] {
            cli.obj_open(ContId(0), generate_oid(0, FIRST_LO, t, c))
                .map_err(|e| DfsError::inval(format!("mkfs: object class {c}: {e}")))?;
        }
        let cont = cli
            .cont_create_async(label)
            .await
            .ctx("mkfs: create the container")?;
        done(MkfsStep::Container);
        let sb = cli.obj_open(cont, sb_oid()).ctx("mkfs")?;
        let root = root_oid(attr.dir_oclass);
        cli.obj_open(cont, root).ctx("mkfs")?;
        let rec = new_inode(S_IFDIR | 0o755, Owner::process(), root, attr.dir_oclass, 0);
        dirent::put_async(&sb, ROOT_DKEY, &rec).await?;
        done(MkfsStep::Root);
        sb::write_async(&sb, &attr, FIRST_LO).await?;
        done(MkfsStep::Superblock);
        Ok(())
    }

    /// `dfs_mount`: opens container `label` and reads its superblock and
    /// root. `ENOENT` for no such container; `EINVAL` for a container that
    /// is not POSIX ([`DfsError::NotPosix`]) or of a newer layout
    /// ([`DfsError::NewerLayout`]); `EIO` for a damaged superblock.
    pub fn mount(cli: &ObjClient, label: &str) -> Result<Dfs, DfsError> {
        cli.sched().block_on(Dfs::mount_async(cli, label))
    }

    /// [`mount`](Self::mount) as a future (on `cli`'s scheduler).
    pub async fn mount_async(cli: &ObjClient, label: &str) -> Result<Dfs, DfsError> {
        let cont = cli
            .cont_open_async(label)
            .await
            .ctx("mount: open the container")?;
        let sbh = cli.obj_open(cont, sb_oid()).ctx("mount")?;
        let attr = sb::read_async(&sbh, label).await?;
        let rec = dirent::fetch_async(&sbh, ROOT_DKEY)
            .await?
            .ok_or_else(|| DfsError::Corrupt("superblock: no root entry".into()))?;
        if rec.kind() != FileType::Dir {
            return Err(DfsError::Corrupt(
                "superblock: the root is not a directory".into(),
            ));
        }
        cli.obj_open(cont, rec.oid)
            .map_err(|e| DfsError::Corrupt(format!("superblock: root object id: {e}")))?;
        let root = Obj {
            parent: sb_oid(),
            name: ROOT_DKEY.to_vec(),
            inode: rec,
        };
        Ok(Dfs {
            inner: Rc::new(Inner {
                cli: cli.clone(),
                cont,
                label: label.to_string(),
                attr,
                oids: OidAlloc::new(sbh.clone()),
                sb: sbh,
                root,
                open: RefCell::new(HashMap::new()),
            }),
        })
    }

    /// `dfs_umount`. Nothing is cached that needs writing back (the
    /// id counter is persisted before its ids are used). Files still open
    /// keep working until closed (they hold the mount).
    pub fn umount(self) -> Result<(), DfsError> {
        Ok(())
    }

    /// The container's properties.
    pub fn attr(&self) -> DfsAttr {
        self.inner.attr
    }

    /// The container.
    pub fn cont(&self) -> ContId {
        self.inner.cont
    }

    /// The object client.
    pub fn client(&self) -> &ObjClient {
        &self.inner.cli
    }

    /// The root directory.
    pub fn root(&self) -> Obj {
        self.inner.root.clone()
    }

    /// Runs `fut` to the end on the client's scheduler (the blocking
    /// forms).
    fn block<T>(&self, fut: impl std::future::Future<Output = T>) -> T {
        self.inner.cli.sched().block_on(fut)
    }

    pub(crate) fn oh(&self, oid: ObjId) -> Result<ObjHandle, DfsError> {
        self.inner
            .cli
            .obj_open(self.inner.cont, oid)
            .map_err(|e| DfsError::Corrupt(format!("object id {oid:?}: {e}")))
    }

    /// The object holding `o`'s entry.
    fn parent_oh(&self, o: &Obj) -> Result<ObjHandle, DfsError> {
        if o.parent == sb_oid() {
            Ok(self.inner.sb.clone())
        } else {
            self.oh(o.parent)
        }
    }

    fn dir_oh(&self, dir: &Obj) -> Result<ObjHandle, DfsError> {
        if !dir.is_dir() {
            return Err(DfsError::NotDir(dir.name()));
        }
        self.oh(dir.oid())
    }

    /// The entry `name` of `dir`, or `None`.
    async fn child_async(
        &self,
        dir: &Obj,
        dh: &ObjHandle,
        name: &[u8],
    ) -> Result<Option<Obj>, DfsError> {
        Ok(dirent::fetch_async(dh, name).await?.map(|inode| Obj {
            parent: dir.oid(),
            name: name.to_vec(),
            inode,
        }))
    }

    /// Entry `name` of `dir` (whose object handle is `dh`); `ENOENT` if
    /// there is none.
    async fn existing_child_async(
        &self,
        dir: &Obj,
        dh: &ObjHandle,
        name: &str,
    ) -> Result<Obj, DfsError> {
        self.child_async(dir, dh, name.as_bytes())
            .await?
            .ok_or_else(|| DfsError::NotFound(name.to_string()))
    }

    /// `dfs_lookup` without following a symlink in the last component
    /// (`lstat`'s view): resolves absolute `path` from the root. `.` and
    /// `..` are resolved on the way (`..` of the root is the root);
    /// symlinks in earlier components are followed (relative targets from
    /// the link's directory). `EINVAL` for a relative path, `ENOENT`,
    /// `ENOTDIR` for a non-directory followed by more components,
    /// `ENAMETOOLONG`, `ELOOP` after [`MAX_SYMLINKS`] links.
    pub fn lookup_nofollow(&self, path: &str) -> Result<Obj, DfsError> {
        self.block(self.lookup_nofollow_async(path))
    }

    /// [`lookup_nofollow`](Self::lookup_nofollow) as a future (on the client's
    /// scheduler).
    pub async fn lookup_nofollow_async(&self, path: &str) -> Result<Obj, DfsError> {
        self.resolve_async(path, false).await
    }

    /// `dfs_lookup` following symlinks in every component (`stat`'s view),
    /// otherwise as [`lookup_nofollow`](Self::lookup_nofollow).
    pub fn lookup(&self, path: &str) -> Result<Obj, DfsError> {
        self.block(self.lookup_async(path))
    }

    /// [`lookup`](Self::lookup) as a future (on the client's
    /// scheduler).
    pub async fn lookup_async(&self, path: &str) -> Result<Obj, DfsError> {
        self.resolve_async(path, true).await
    }

    async fn resolve_async(&self, path: &str, follow: bool) -> Result<Obj, DfsError> {
        if path.len() > PATH_MAX {
            return Err(DfsError::NameTooLong(path.len()));
        }
        if !path.starts_with('/') {
            return Err(DfsError::inval(format!("{path:?} is not an absolute path")));
        }
        let split = |p: &str| -> Vec<String> {
            p.split('/')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut todo: VecDeque<String> = split(path).into();
        let mut stack = vec![self.root()];
        let mut links = 0;
        while let Some(c) = todo.pop_front() {
            check_component(&c)?;
            let cur = stack.last().cloned().unwrap_or_else(|| self.root());
            if !cur.is_dir() {
                return Err(DfsError::NotDir(path.to_string()));
            }
            if c == "." {
                continue;
            }
            if c == ".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            let dh = self.oh(cur.oid())?;
            let child = self
                .child_async(&cur, &dh, c.as_bytes())
                .await?
                .ok_or_else(|| DfsError::NotFound(path.to_string()))?;
            if child.kind() == FileType::Symlink && (follow || !todo.is_empty()) {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(DfsError::Loop(path.to_string()));
                }
                let t = String::from_utf8(child.inode.target.clone())
                    .map_err(|_| DfsError::inval("symlink target is not UTF-8"))?;
                if t.starts_with('/') {
                    stack.truncate(1);
                }
                for c in split(&t).into_iter().rev() {
                    todo.push_front(c);
                }
                continue;
            }
            stack.push(child);
        }
        Ok(stack.pop().unwrap_or_else(|| self.root()))
    }

    /// `dfs_lookup_rel`: the entry `name` of `dir` (a symlink is not
    /// followed). `ENOTDIR` if `dir` is not a directory, `ENOENT`,
    /// `EINVAL` for `.`, `..` or a name with `/`.
    pub fn lookup_rel(&self, dir: &Obj, name: &str) -> Result<Obj, DfsError> {
        self.block(self.lookup_rel_async(dir, name))
    }

    /// [`lookup_rel`](Self::lookup_rel) as a future (on the client's
    /// scheduler).
    pub async fn lookup_rel_async(&self, dir: &Obj, name: &str) -> Result<Obj, DfsError> {
        check_name(name)?;
        let dh = self.dir_oh(dir)?;
        self.existing_child_async(dir, &dh, name).await
    }

    /// `dfs_mkdir`: makes directory `name` in `dir` with permission bits
    /// `mode` (type bits: none or `S_IFDIR`). `EEXIST` if the name is
    /// taken.
    pub fn mkdir(&self, dir: &Obj, name: &str, mode: u32) -> Result<Obj, DfsError> {
        self.block(self.mkdir_async(dir, name, mode))
    }

    /// [`mkdir`](Self::mkdir) as a future (on the client's
    /// scheduler).
    pub async fn mkdir_async(&self, dir: &Obj, name: &str, mode: u32) -> Result<Obj, DfsError> {
        self.mkdir_as_async(dir, name, mode, Owner::process()).await
    }

    /// [`mkdir`](Self::mkdir) with the new directory owned by `owner`
    /// (dfuse: the requesting process's uid and gid) instead of this
    /// process's.
    pub fn mkdir_as(
        &self,
        dir: &Obj,
        name: &str,
        mode: u32,
        owner: Owner,
    ) -> Result<Obj, DfsError> {
        self.block(self.mkdir_as_async(dir, name, mode, owner))
    }

    /// [`mkdir_as`](Self::mkdir_as) as a future (on the client's
    /// scheduler).
    pub async fn mkdir_as_async(
        &self,
        dir: &Obj,
        name: &str,
        mode: u32,
        owner: Owner,
    ) -> Result<Obj, DfsError> {
        check_name(name)?;
        let mode = check_mode(mode, S_IFDIR)?;
        let dh = self.dir_oh(dir)?;
        if dirent::fetch_async(&dh, name.as_bytes()).await?.is_some() {
            return Err(DfsError::Exists(name.to_string()));
        }
        let class = self.inner.attr.dir_oclass;
        let oid = self
            .inner
            .oids
            .alloc_async(ObjType::KvHashed, class)
            .await?;
        // The object first, then the entry: a crash leaves an orphan
        // object, never an entry without its object.
        dirent::set_parent_async(&self.oh(oid)?, dir.oid()).await?;
        let rec = new_inode(mode, owner, oid, class, 0);
        dirent::put_async(&dh, name.as_bytes(), &rec).await?;
        Ok(Obj {
            parent: dir.oid(),
            name: name.as_bytes().to_vec(),
            inode: rec,
        })
    }

    /// `dfs_open`: opens the regular file `name` of `dir` as `flags` say,
    /// creating it (class and chunk size: the container's defaults) with
    /// `flags.mode` when `flags.create` is set and it does not exist.
    /// `EEXIST` with `excl` when it exists, `ENOENT` without `create` when
    /// it does not, `EISDIR` for a directory, `ELOOP` for a symlink (open
    /// does not follow it, as `O_NOFOLLOW`: resolve it with
    /// [`lookup`](Self::lookup) first), `EINVAL` for bad flags or mode.
    pub fn open(&self, dir: &Obj, name: &str, flags: OpenFlags) -> Result<File, DfsError> {
        self.block(self.open_async(dir, name, flags))
    }

    /// [`open`](Self::open) as a future (on the client's
    /// scheduler).
    pub async fn open_async(
        &self,
        dir: &Obj,
        name: &str,
        flags: OpenFlags,
    ) -> Result<File, DfsError> {
        self.open_as_async(dir, name, flags, Owner::process()).await
    }

    /// [`open`](Self::open) with a file it creates owned by `owner`
    /// (dfuse: the requesting process's uid and gid) instead of this
    /// process's; an existing file keeps its owner.
    pub fn open_as(
        &self,
        dir: &Obj,
        name: &str,
        flags: OpenFlags,
        owner: Owner,
    ) -> Result<File, DfsError> {
        self.block(self.open_as_async(dir, name, flags, owner))
    }

    /// [`open_as`](Self::open_as) as a future (on the client's
    /// scheduler).
    pub async fn open_as_async(
        &self,
        dir: &Obj,
        name: &str,
        flags: OpenFlags,
        owner: Owner,
    ) -> Result<File, DfsError> {
        check_name(name)?;
        flags.check()?;
        let dh = self.dir_oh(dir)?;
        let existing = self.child_async(dir, &dh, name.as_bytes()).await?;
        let (obj, created) = match existing {
            None if !flags.create => return Err(DfsError::NotFound(name.to_string())),
            None => {
                let mode = check_mode(flags.mode, S_IFREG)?;
                let a = self.inner.attr;
                let oid = self
                    .inner
                    .oids
                    .alloc_async(ObjType::ArrayByte, a.oclass)
                    .await?;
                let rec = new_inode(mode, owner, oid, a.oclass, a.chunk_size);
                dirent::put_async(&dh, name.as_bytes(), &rec).await?;
                let o = Obj {
                    parent: dir.oid(),
                    name: name.as_bytes().to_vec(),
                    inode: rec,
                };
                (o, true)
            }
            Some(_) if flags.create && flags.excl => {
                return Err(DfsError::Exists(name.to_string()))
            }
            Some(o) => match o.kind() {
                FileType::Dir => return Err(DfsError::IsDir(name.to_string())),
                FileType::Symlink => return Err(DfsError::Loop(name.to_string())),
                FileType::File => (o, false),
            },
        };
        let f = File::new(self, obj, flags.access)?;
        if flags.trunc && !created {
            f.truncate_async(0).await?;
        }
        Ok(f)
    }

    /// `dfs_open` with `O_CREAT`: [`open`](Self::open) with
    /// `flags.create` set and `flags.mode = mode`.
    pub fn create(
        &self,
        dir: &Obj,
        name: &str,
        mode: u32,
        flags: OpenFlags,
    ) -> Result<File, DfsError> {
        self.block(self.create_async(dir, name, mode, flags))
    }

    /// [`create`](Self::create) as a future (on the client's scheduler).
    pub async fn create_async(
        &self,
        dir: &Obj,
        name: &str,
        mode: u32,
        flags: OpenFlags,
    ) -> Result<File, DfsError> {
        self.open_async(
            dir,
            name,
            OpenFlags {
                create: true,
                mode,
                ..flags
            },
        )
        .await
    }

    /// `dfs_readdir`: up to `max` entries of `dir` after `cursor`, in
    /// bytewise name order, and the cursor to go on from (`None`: the
    /// listing is complete). Each call enumerates the directory's names
    /// and fetches the returned entries' records at once (one fetch task
    /// each, scheduled as a list). `EINVAL` for `max` 0.
    pub fn readdir(
        &self,
        dir: &Obj,
        cursor: &DirCursor,
        max: usize,
    ) -> Result<(Vec<DirEntry>, Option<DirCursor>), DfsError> {
        self.block(self.readdir_async(dir, cursor, max))
    }

    /// [`readdir`](Self::readdir) as a future (on the client's scheduler).
    pub async fn readdir_async(
        &self,
        dir: &Obj,
        cursor: &DirCursor,
        max: usize,
    ) -> Result<(Vec<DirEntry>, Option<DirCursor>), DfsError> {
        if max == 0 {
            return Err(DfsError::inval("readdir of 0 entries"));
        }
        let dh = self.dir_oh(dir)?;
        let mut names = dirent::names_async(&dh).await?;
        if let Some(a) = &cursor.after {
            names.retain(|n| n > a);
        }
        let more = names.len() > max;
        names.truncate(max);
        let recs = dirent::fetch_many_async(&dh, &names).await?;
        let next = if more {
            names.last().map(|n| DirCursor {
                after: Some(n.clone()),
            })
        } else {
            None
        };
        let entries = names
            .iter()
            .zip(recs)
            .filter_map(|(n, r)| {
                r.map(|r| DirEntry {
                    name: show(n),
                    kind: r.kind(),
                    ino: r.oid.lo,
                })
            })
            .collect();
        Ok((entries, next))
    }

    /// The record of `o`'s entry now, or `None` when the entry is gone or
    /// names another object.
    async fn refetch_async(&self, o: &Obj) -> Result<Option<Inode>, DfsError> {
        let ph = self.parent_oh(o)?;
        Ok(dirent::fetch_async(&ph, &o.name)
            .await?
            .filter(|r| r.oid == o.oid()))
    }

    /// `dfs_ostat`: the entry's attributes, its record read again (see the
    /// module doc for a handle whose entry is gone), a file's size from
    /// its array.
    pub fn stat(&self, o: &Obj) -> Result<Stat, DfsError> {
        self.block(self.stat_async(o))
    }

    /// [`stat`](Self::stat) as a future (on the client's
    /// scheduler).
    pub async fn stat_async(&self, o: &Obj) -> Result<Stat, DfsError> {
        let (rec, nlink) = match self.refetch_async(o).await? {
            Some(r) => {
                let n = if r.kind() == FileType::Dir { 2 } else { 1 };
                (r, n)
            }
            None => (o.inode.clone(), 0),
        };
        let (size, written) = match rec.kind() {
            FileType::File => crate::file::array_of(self, &rec)?
                .stat_async()
                .await
                .ctx("dfs_ostat: file size")?,
            FileType::Symlink => (rec.target.len() as u64, 0),
            FileType::Dir => (0, 0),
        };
        let (mtime, ctime) = crate::inode::file_times(&rec, written);
        Ok(Stat {
            ino: rec.oid.lo,
            mode: rec.mode,
            nlink,
            uid: rec.uid,
            gid: rec.gid,
            size,
            blksize: if rec.chunk_size > 0 {
                rec.chunk_size
            } else {
                self.inner.attr.chunk_size
            },
            atime: rec.atime,
            mtime,
            ctime,
        })
    }

    /// Changes `o`'s record with `f` (ctime set to now) and writes it
    /// back; the new handle.
    pub(crate) async fn update_entry_async(
        &self,
        o: &Obj,
        f: impl FnOnce(&mut Inode),
    ) -> Result<Obj, DfsError> {
        let ph = self.parent_oh(o)?;
        let mut rec = dirent::fetch_async(&ph, &o.name)
            .await?
            .filter(|r| r.oid == o.oid())
            .ok_or_else(|| DfsError::NotFound(o.name()))?;
        f(&mut rec);
        rec.ctime = now_ns();
        dirent::put_async(&ph, &o.name, &rec).await?;
        Ok(Obj {
            inode: rec,
            ..o.clone()
        })
    }

    /// `dfs_chmod`: sets the permission bits (`mode & 0o7777`; other bits
    /// are `EINVAL`). Returns the updated handle.
    pub fn chmod(&self, o: &Obj, mode: u32) -> Result<Obj, DfsError> {
        self.block(self.chmod_async(o, mode))
    }

    /// [`chmod`](Self::chmod) as a future (on the client's
    /// scheduler).
    pub async fn chmod_async(&self, o: &Obj, mode: u32) -> Result<Obj, DfsError> {
        if mode & !PERM_MASK != 0 {
            return Err(DfsError::inval(format!("mode {mode:#o}")));
        }
        self.update_entry_async(o, |r| r.mode = (r.mode & S_IFMT) | mode)
            .await
    }

    /// `dfs_chown`: sets the owner (`uid`) and/or group (`gid`) in the
    /// entry's record (`None` leaves one as it is; ctime is set). No
    /// permission check: the namespace does not know who calls (dfuse
    /// checks POSIX's rules with the requester's ids first). The mode is
    /// left alone: clearing set-id bits is the caller's rule to apply.
    /// Returns the updated handle.
    pub fn chown(&self, o: &Obj, uid: Option<u32>, gid: Option<u32>) -> Result<Obj, DfsError> {
        self.block(self.chown_async(o, uid, gid))
    }

    /// [`chown`](Self::chown) as a future (on the client's scheduler).
    pub async fn chown_async(
        &self,
        o: &Obj,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<Obj, DfsError> {
        self.update_entry_async(o, |r| {
            if let Some(u) = uid {
                r.uid = u;
            }
            if let Some(g) = gid {
                r.gid = g;
            }
        })
        .await
    }

    /// `dfs_osetattr` of times (`utimensat`): sets atime and/or mtime (ns
    /// since the Unix epoch; `None` leaves one as it is). Returns the
    /// updated handle.
    pub fn utimens(
        &self,
        o: &Obj,
        atime: Option<u64>,
        mtime: Option<u64>,
    ) -> Result<Obj, DfsError> {
        self.block(self.utimens_async(o, atime, mtime))
    }

    /// [`utimens`](Self::utimens) as a future (on the client's scheduler).
    pub async fn utimens_async(
        &self,
        o: &Obj,
        atime: Option<u64>,
        mtime: Option<u64>,
    ) -> Result<Obj, DfsError> {
        self.update_entry_async(o, |r| {
            if let Some(a) = atime {
                r.atime = a;
            }
            if let Some(m) = mtime {
                r.mtime = m;
            }
        })
        .await
    }

    /// Gets rid of a file's object whose entry is gone: now, or when the
    /// last handle of this mount on it closes.
    async fn release_file_async(&self, oid: ObjId) -> Result<(), DfsError> {
        {
            let mut open = self.inner.open.borrow_mut();
            if let Some(s) = open.get_mut(&oid) {
                s.unlinked = true;
                return Ok(());
            }
        }
        dirent::punch_obj_async(&self.oh(oid)?).await
    }

    /// A file handle of this mount opened on `oid`.
    pub(crate) fn opened(&self, oid: ObjId) {
        self.inner.open.borrow_mut().entry(oid).or_default().count += 1;
    }

    /// A file handle of this mount on `oid` closed: punches the object if
    /// it was the last and the file was unlinked.
    pub(crate) fn closed(&self, oid: ObjId) -> Result<(), DfsError> {
        self.block(self.closed_async(oid))
    }

    /// [`closed`](Self::closed) as a future.
    pub(crate) async fn closed_async(&self, oid: ObjId) -> Result<(), DfsError> {
        let punch = {
            let mut open = self.inner.open.borrow_mut();
            match open.get_mut(&oid) {
                Some(s) if s.count > 1 => {
                    s.count -= 1;
                    false
                }
                Some(_) => open.remove(&oid).is_some_and(|s| s.unlinked),
                None => false,
            }
        };
        if punch {
            dirent::punch_obj_async(&self.oh(oid)?).await?;
        }
        Ok(())
    }

    /// `dfs_remove` of a non-directory: removes entry `name` of `dir`; a
    /// file's object is punched (when its last handle closes if it is open,
    /// see the module doc). `EISDIR` for a directory, `ENOENT`.
    pub fn unlink(&self, dir: &Obj, name: &str) -> Result<(), DfsError> {
        self.block(self.unlink_async(dir, name))
    }

    /// [`unlink`](Self::unlink) as a future (on the client's
    /// scheduler).
    pub async fn unlink_async(&self, dir: &Obj, name: &str) -> Result<(), DfsError> {
        check_name(name)?;
        let dh = self.dir_oh(dir)?;
        let o = self.existing_child_async(dir, &dh, name).await?;
        if o.is_dir() {
            return Err(DfsError::IsDir(name.to_string()));
        }
        dirent::remove_async(&dh, name.as_bytes()).await?;
        if o.kind() == FileType::File {
            self.release_file_async(o.oid()).await?;
        }
        Ok(())
    }

    /// `dfs_remove` of a directory: removes the empty directory `name` of
    /// `dir` and punches its object. `ENOTDIR` if it is not a directory,
    /// `ENOTEMPTY`, `ENOENT`.
    pub fn rmdir(&self, dir: &Obj, name: &str) -> Result<(), DfsError> {
        self.block(self.rmdir_async(dir, name))
    }

    /// [`rmdir`](Self::rmdir) as a future (on the client's
    /// scheduler).
    pub async fn rmdir_async(&self, dir: &Obj, name: &str) -> Result<(), DfsError> {
        check_name(name)?;
        let dh = self.dir_oh(dir)?;
        let o = self.existing_child_async(dir, &dh, name).await?;
        if !o.is_dir() {
            return Err(DfsError::NotDir(name.to_string()));
        }
        let oh = self.oh(o.oid())?;
        if !dirent::names_async(&oh).await?.is_empty() {
            return Err(DfsError::NotEmpty(name.to_string()));
        }
        dirent::remove_async(&dh, name.as_bytes()).await?;
        dirent::punch_obj_async(&oh).await
    }

    /// True if directory `oid` is `anc` or below it (parent links).
    async fn is_below_async(&self, oid: ObjId, anc: ObjId) -> Result<bool, DfsError> {
        let root = self.inner.root.oid();
        let mut cur = oid;
        for _ in 0..MAX_DEPTH {
            if cur == anc {
                return Ok(true);
            }
            if cur == root {
                return Ok(false);
            }
            match dirent::parent_async(&self.oh(cur)?).await? {
                Some(p) => cur = p,
                None => return Ok(false),
            }
        }
        Err(DfsError::Corrupt(format!(
            "more than {MAX_DEPTH} directory levels above {oid:?}"
        )))
    }

    /// `dfs_move`: renames entry `src_name` of `src_dir` to `dst_name` of
    /// `dst_dir`, replacing what is there: a file or symlink by anything
    /// but a directory, an empty directory by a directory. `ENOTDIR` for a
    /// directory over a non-directory, `EISDIR` for a non-directory over a
    /// directory, `ENOTEMPTY` for a directory over a non-empty one,
    /// `EINVAL` for moving a directory below itself, `ENOENT` when the
    /// source does not exist. A replaced file is unlinked (see
    /// [`unlink`](Self::unlink)), a replaced directory punched.
    pub fn rename(
        &self,
        src_dir: &Obj,
        src_name: &str,
        dst_dir: &Obj,
        dst_name: &str,
    ) -> Result<(), DfsError> {
        self.block(self.rename_async(src_dir, src_name, dst_dir, dst_name))
    }

    /// [`rename`](Self::rename) as a future (on the client's scheduler).
    pub async fn rename_async(
        &self,
        src_dir: &Obj,
        src_name: &str,
        dst_dir: &Obj,
        dst_name: &str,
    ) -> Result<(), DfsError> {
        check_name(src_name)?;
        check_name(dst_name)?;
        let sh = self.dir_oh(src_dir)?;
        let dh = self.dir_oh(dst_dir)?;
        let src = self.existing_child_async(src_dir, &sh, src_name).await?;
        if src_dir.oid() == dst_dir.oid() && src_name == dst_name {
            return Ok(());
        }
        if src.is_dir() && self.is_below_async(dst_dir.oid(), src.oid()).await? {
            return Err(DfsError::inval(format!(
                "cannot move {src_name:?} below itself"
            )));
        }
        let dst = self.child_async(dst_dir, &dh, dst_name.as_bytes()).await?;
        if let Some(d) = &dst {
            match (src.is_dir(), d.is_dir()) {
                (true, false) => return Err(DfsError::NotDir(dst_name.to_string())),
                (false, true) => return Err(DfsError::IsDir(dst_name.to_string())),
                (true, true) if !dirent::names_async(&self.oh(d.oid())?).await?.is_empty() => {
                    return Err(DfsError::NotEmpty(dst_name.to_string()))
                }
                _ => {}
            }
        }
        let mut rec = src.inode.clone();
        rec.ctime = now_ns();
        dirent::put_async(&dh, dst_name.as_bytes(), &rec).await?;
        dirent::remove_async(&sh, src_name.as_bytes()).await?;
        if src.is_dir() && src_dir.oid() != dst_dir.oid() {
            dirent::set_parent_async(&self.oh(src.oid())?, dst_dir.oid()).await?;
        }
        match dst {
            Some(d) if d.oid() != src.oid() => match d.kind() {
                FileType::File => self.release_file_async(d.oid()).await,
                FileType::Dir => dirent::punch_obj_async(&self.oh(d.oid())?).await,
                FileType::Symlink => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// `dfs_open` with `S_IFLNK`: makes symlink `name` in `dir` pointing to
    /// `target` (stored as is, not resolved). `EEXIST`, `EINVAL` for an
    /// empty target or one with NUL, `ENAMETOOLONG` for one longer than
    /// `PATH_MAX`.
    pub fn symlink(&self, dir: &Obj, name: &str, target: &str) -> Result<Obj, DfsError> {
        self.block(self.symlink_async(dir, name, target))
    }

    /// [`symlink`](Self::symlink) as a future (on the client's
    /// scheduler).
    pub async fn symlink_async(
        &self,
        dir: &Obj,
        name: &str,
        target: &str,
    ) -> Result<Obj, DfsError> {
        self.symlink_as_async(dir, name, target, Owner::process())
            .await
    }

    /// [`symlink`](Self::symlink) with the link owned by `owner` (dfuse:
    /// the requesting process's uid and gid) instead of this process's.
    pub fn symlink_as(
        &self,
        dir: &Obj,
        name: &str,
        target: &str,
        owner: Owner,
    ) -> Result<Obj, DfsError> {
        self.block(self.symlink_as_async(dir, name, target, owner))
    }

    /// [`symlink_as`](Self::symlink_as) as a future (on the client's
    /// scheduler).
    pub async fn symlink_as_async(
        &self,
        dir: &Obj,
        name: &str,
        target: &str,
        owner: Owner,
    ) -> Result<Obj, DfsError> {
        check_name(name)?;
        if target.is_empty() || target.contains('\0') {
            return Err(DfsError::inval("symlink target empty or with NUL"));
        }
        if target.len() > PATH_MAX {
            return Err(DfsError::NameTooLong(target.len()));
        }
        let dh = self.dir_oh(dir)?;
        if dirent::fetch_async(&dh, name.as_bytes()).await?.is_some() {
            return Err(DfsError::Exists(name.to_string()));
        }
        // An id for the inode number only: no object is made.
        let oid = self
            .inner
            .oids
            .alloc_async(ObjType::KvHashed, ObjClass::S1)
            .await?;
        let mut rec = new_inode(S_IFLNK | 0o777, owner, oid, ObjClass::S1, 0);
        rec.target = target.as_bytes().to_vec();
        rec.size = rec.target.len() as u64;
        dirent::put_async(&dh, name.as_bytes(), &rec).await?;
        Ok(Obj {
            parent: dir.oid(),
            name: name.as_bytes().to_vec(),
            inode: rec,
        })
    }

    /// `dfs_get_symlink_value`: a symlink's target. `EINVAL` for anything
    /// else.
    pub fn readlink(&self, o: &Obj) -> Result<String, DfsError> {
        if o.kind() != FileType::Symlink {
            return Err(DfsError::inval(format!("{} is not a symlink", o.name())));
        }
        Ok(show(&o.inode.target))
    }

    /// `dfs_statfs`: the namespace's limits and, from a pool query to
    /// every target (`daos_pool_query`, as DAOS's `dfs_statfs` does), the
    /// pool's capacity and usage. Fails (`EIO`, or the target's error)
    /// when a target does not answer.
    pub fn statfs(&self) -> Result<StatFs, DfsError> {
        self.block(self.statfs_async())
    }

    /// [`statfs`](Self::statfs) as a future (on the client's
    /// scheduler).
    pub async fn statfs_async(&self) -> Result<StatFs, DfsError> {
        let space = self.inner.cli.pool_query_async().await.ctx("dfs_statfs")?;
        Ok(StatFs {
            bsize: self.inner.attr.chunk_size,
            namemax: NAME_MAX as u32,
            targets: space.targets,
            capacity: Some(space.total),
            used: Some(space.used()),
        })
    }
}
