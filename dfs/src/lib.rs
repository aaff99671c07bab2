//! # dfs: the POSIX namespace and the array layer
//!
//! The top of the seed: `dfs_write` (file -> array object, byte offset ->
//! array index) and the array layer (`dc_array_write`, `dc_array_io`,
//! `compute_dkey`, `create_sgl`: one object update per dkey, scheduled as a
//! task list) on top of [`obj`], and the FUSE daemon (`dfuse`) above it.
//!
//! The POSIX namespace (DAOS's `dfs_*`), top to bottom:
//!
//! * [`namespace`]: [`Dfs`] (`mkfs` / `mount` of a POSIX container),
//!   entry handles ([`Obj`]) and the directory operations: lookup, mkdir,
//!   open/create, mknod, readdir with a resumable cursor, stat, chmod, chown,
//!   utimens, unlink, rmdir, rename (and `renameat2`'s modes), link,
//!   symlink, readlink, extended attributes, statfs; its module doc says
//!   what is and is not atomic, and what unlinking an open file does.
//!   Each operation is a task, callable three ways: blocking
//!   (`dfs.mkdir(..)`), async (`dfs.mkdir_async(..).await`) and as a task
//!   named after DAOS's function (`dfs.mkdir_task(..)`: a [`DfsOp`] to
//!   launch on a [`tse::Eq`], schedule or depend on);
//! * [`task`](mod@task): [`DfsOp`], the task form of every namespace
//!   operation (and of a file's truncate, punch and release);
//! * [`file`](mod@file): open files ([`File`]): `dfs_write` / `dfs_read` as tasks
//!   stacked on the array's `dc_array_write` / `dc_array_read`, truncate,
//!   punch, fsync, and the open flags;
//! * [`aio`]: the async ([`AsyncFile`]) and event-queue
//!   ([`File::write_ev`] / [`File::read_ev`] on a [`tse::Eq`]) ways to do
//!   file I/O, beside the blocking methods: the same tasks underneath;
//! * [`sb`]: the superblock (magic, versions, chunk size, classes, the
//!   root's entry) and the container properties [`DfsAttr`];
//! * [`dirent`]: directory objects: one dkey per entry, the inode record
//!   under akey `DFS_INODE`, the parent link;
//! * [`inode`]: the inode record's layout, names and modes, [`Stat`];
//! * [`oidalloc`]: unique object ids (a counter in the superblock reserved
//!   in batches, and a random per-mount high word);
//! * [`errno`]: [`DfsError`] and its POSIX `errno` values.
//!
//! The array layer under it:
//!
//! * [`array`](mod@array): its arithmetic, splitting record ranges and a
//!   scatter-gather list into per-dkey I/Os (`compute_dkey`, `create_sgl`)
//!   with views of the caller's buffers, and the error type
//!   [`ArrayError`];
//! * [`darray`]: the array object (DAOS's `daos_array_*`): [`Array`]
//!   creates and opens an array (cell and chunk sizes kept in dkey 0),
//!   writes and reads it as the seed's task graph (`dc_array_write` /
//!   `dc_array_read` -> `dc_array_io` -> one `dc_obj_update_task` or
//!   `dc_obj_fetch_task` per dkey, scheduled as a list), and gets, sets
//!   and punches its size and cells.
//!
//! The FUSE daemon on top of it all:
//!
//! * [`fuse`]: [`Dfuse`] mounts a container on a directory (`dfuse`):
//!   the kernel's requests (`dfuse_cb_write`, `dfuse_cb_read`, ...) become
//!   namespace calls and `dfs_write` / `dfs_read` tasks on a dfs thread,
//!   many in flight at once; its module doc follows one request through.

pub mod aio;
pub mod array;
pub mod darray;
pub mod dirent;
pub mod errno;
pub mod file;
pub mod fuse;
pub mod inode;
pub mod namespace;
pub mod oidalloc;
pub mod sb;
pub mod task;

pub use aio::AsyncFile;
pub use array::{ArrayError, Range};
pub use darray::{Array, ReadOut, ReadResult};
pub use errno::DfsError;
pub use file::{Access, File, OpenFlags};
pub use fuse::{Dfuse, DfuseConfig, DfuseError, DfuseStats};
pub use inode::{FileType, Inode, Owner, Stat};
pub use namespace::{Dfs, DirCursor, DirEntry, MkfsStep, Obj, RenameMode, StatFs, XattrMode};
pub use obj;
pub use sb::DfsAttr;
pub use task::DfsOp;
