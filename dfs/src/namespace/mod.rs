//! The POSIX namespace of a container (DAOS's `dfs_*`): [`Dfs`] (mkfs,
//! mount), handles to its entries ([`Obj`]) and the directory operations.
//! Open regular files are [`File`](crate::File)s.
//!
//! Layout, as DAOS's dfs: the superblock object ([`crate::sb`]) holds the
//! container's properties and the root's entry; a directory is a hashed
//! key-value object whose dkeys are its entries' names, each holding an
//! inode record ([`crate::inode`]); a regular file is a byte-array object
//! (cell 1, the file's chunk size; no array metadata: the geometry is in
//! the inode, as `daos_array_open_with_attr`); a symbolic link, FIFO,
//! device node or socket is only its entry (target, device number in the
//! record), with an object id reserved for its inode number. Object ids
//! come from [`crate::oidalloc`].
//!
//! The operations live by concept: lookups, readdir and statfs here;
//! making and removing entries in `entries`; reading and changing an
//! inode's record (stat, chmod, chown, utimens, a directory's link count
//! and times) in `attrs`; hard links in `links`; rename in `rename`;
//! extended attributes in `xattr`.
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
//!   [`File`](crate::File) of this mount on it is closed (dropped),
//!   then it is punched, as POSIX keeps an unlinked open file. Handles of
//!   other mounts are not known: for them the object is punched at once
//!   (DAOS's `dfs_remove` punches at once for everyone). A process that
//!   dies with an unlinked file open leaks its object.
//! * **Hard links.** `link` makes a second entry naming the same
//!   inode (any type but a directory). The inode's record then moves into
//!   its own object with a link count (see [`crate::inode`]), so every
//!   entry sees one mode, owner, times and size; `unlink` and `rename`
//!   over an entry decrement it, and the inode (a file's data) goes with
//!   its last link and, for a file open on this mount, its last handle.
//! * **Directories** count their links: 2 + their subdirectories
//!   (`mkdir`, `rmdir` and `rename` of a directory keep it; a directory
//!   of a version 1 container is counted once, then kept). Every change
//!   of entries (create, mkdir, mknod, symlink, link, unlink, rmdir,
//!   rename) sets the directory's mtime and ctime.
//! * **Times.** Entries get atime = mtime = ctime at creation; `chmod`, `chown`,
//!   `utimens`, `link`, `unlink` of another link, extended attribute
//!   changes and `rename` change ctime. File writes do not touch the
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
use crate::inode::{
    check_component, check_name, now_ns, FileType, Inode, Owner, INODE_DKEY, NAME_MAX, PATH_MAX,
    PERM_MASK, S_IFDIR, S_IFMT,
};
use crate::oidalloc::{OidAlloc, FIRST_LO};
use crate::sb::{self, root_oid, sb_oid, DfsAttr, ROOT_DKEY};

mod attrs;
mod entries;
mod links;
mod rename;
mod xattr;

pub use rename::RenameMode;
pub use xattr::{XattrMode, XATTR_FORMAT};

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
    /// The inode number (as [`Stat::ino`](crate::Stat::ino)).
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
    /// Inodes counted as in use: the object ids this container has
    /// handed out (see [`crate::oidalloc::OidAlloc::handed_out_async`]: an
    /// upper bound, as ids are never reused). What more can be made is
    /// bounded by the free space: each inode's entry takes at least one
    /// block of the pool.
    pub inodes_used: u64,
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
        nlink: if mode & S_IFMT == S_IFDIR { 2 } else { 1 },
        flags: 0,
        rdev: 0,
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

    /// The entry `name` of `dir`, or `None`. A hard link's handle holds
    /// its inode's record (from the inode's object).
    async fn child_async(
        &self,
        dir: &Obj,
        dh: &ObjHandle,
        name: &[u8],
    ) -> Result<Option<Obj>, DfsError> {
        let Some(rec) = dirent::fetch_async(dh, name).await? else {
            return Ok(None);
        };
        let inode = if rec.is_hlink() {
            // The entry's copy stands in should the inode's own record be
            // missing (a crash while the first link was made).
            dirent::fetch_async(&self.oh(rec.oid)?, INODE_DKEY)
                .await?
                .unwrap_or(rec)
        } else {
            rec
        };
        Ok(Some(Obj {
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
        let inodes_used = self.inner.oids.handed_out_async().await?;
        Ok(StatFs {
            bsize: self.inner.attr.chunk_size,
            namemax: NAME_MAX as u32,
            targets: space.targets,
            capacity: Some(space.total),
            used: Some(space.used()),
            inodes_used,
        })
    }
}
