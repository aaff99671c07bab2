//! The namespace's hard links, special files, directory link counts and
//! times, extended attributes and `renameat2` modes (issue 20 items 4-7),
//! over the whole in-process chain (object client -> engine -> vos ->
//! bio on a pool file), and a container whose records are in the
//! version 1 layout (before link counts) opened and changed by today's
//! code.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;
use common::Pool;

use rdaos::dfs::errno::libc;
use rdaos::dfs::inode::{Inode, INODE_AKEY, S_IFCHR, S_IFIFO, S_IFSOCK};
use rdaos::dfs::{Dfs, DfsAttr, DfsError, FileType, Obj, OpenFlags, Owner, RenameMode, XattrMode};
use rdaos::obj::cli::ObjClient;
use rdaos::obj::rpc::IodDesc;
use rdaos::obj::srv::Engine;
use rdaos::obj::transport::BulkRef;
use rdaos::tse::Sched;

/// An engine of 2 targets, a client and a fresh POSIX container.
struct Env {
    dfs: Dfs,
    cli: ObjClient,
    _sched: Sched,
    engine: Engine,
    _pool: Pool,
}

impl Env {
    fn new(name: &str) -> Env {
        let pool = Pool::new(name, 1, 2);
        let engine = pool.start();
        let sched = Sched::new();
        let cli = ObjClient::new(&sched.handle(), engine.transport());
        let attr = DfsAttr {
            chunk_size: 4096,
            ..DfsAttr::default()
        };
        Dfs::mkfs(&cli, name, attr).expect("mkfs");
        let dfs = Dfs::mount(&cli, name).expect("mount");
        Env {
            dfs,
            cli,
            _sched: sched,
            engine,
            _pool: pool,
        }
    }

    fn stop(self) {
        let Env {
            dfs, cli, engine, ..
        } = self;
        drop(dfs);
        drop(cli);
        engine.stop().unwrap();
    }
}

fn errno<T: std::fmt::Debug>(r: Result<T, DfsError>) -> i32 {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.errno(),
    }
}

fn file_with(d: &Dfs, dir: &Obj, name: &str, data: &[u8]) -> Obj {
    let f = d.create(dir, name, 0o644, OpenFlags::read_write()).unwrap();
    f.write_bytes(0, data).unwrap();
    let o = f.obj().clone();
    f.close().unwrap();
    o
}

fn read_all(d: &Dfs, dir: &Obj, name: &str) -> Vec<u8> {
    let f = d.open(dir, name, OpenFlags::read_only()).unwrap();
    let v = f.read(0, 1 << 20).unwrap();
    f.close().unwrap();
    v
}

/// POSIX `link()`: "the link count of the file shall be incremented";
/// `unlink()`: decremented, and the space freed only when it reaches 0
/// and no process has the file open. Data and attributes are one inode's.
#[test]
fn hard_links_share_one_inode_and_count_their_entries() {
    let e = Env::new("links");
    let (d, root) = (&e.dfs, e.dfs.root());
    let sub = d.mkdir(&root, "sub", 0o755).unwrap();
    let a = file_with(d, &root, "a", b"hello");
    let before = d.stat(&a).unwrap();
    assert_eq!(before.nlink, 1);
    let b = d.link(&a, &sub, "b").unwrap();
    let c = d.link(&a, &root, "c").unwrap();
    for o in [&a, &b, &c] {
        let st = d.stat(o).unwrap();
        assert_eq!((st.ino, st.nlink, st.size), (before.ino, 3, 5));
        // A link changes the inode's ctime, not its mtime.
        assert_eq!(st.mtime, before.mtime);
        assert!(st.ctime >= before.ctime);
    }
    // Data written through one name is read through the others.
    let f = d.open(&sub, "b", OpenFlags::read_write()).unwrap();
    f.write_bytes(5, b" world").unwrap();
    f.close().unwrap();
    assert_eq!(read_all(d, &root, "c"), b"hello world");
    // One mode, owner and times for all of them.
    d.chmod(&c, 0o600).unwrap();
    d.chown(&b, Some(4242), None).unwrap();
    let st = d.stat(&d.lookup("/a").unwrap()).unwrap();
    assert_eq!((st.mode & 0o7777, st.uid), (0o600, 4242));
    // Errors as link(2): EEXIST, EPERM for a directory, ENOENT.
    assert_eq!(errno(d.link(&a, &root, "sub")), libc::EEXIST);
    assert_eq!(errno(d.link(&sub, &root, "sub2")), libc::EPERM);
    // Unlinking counts down; the other names keep the data.
    d.unlink(&root, "a").unwrap();
    assert_eq!(d.stat(&b).unwrap().nlink, 2);
    // A handle whose own name went still reaches the inode.
    assert_eq!(d.stat(&a).unwrap().nlink, 2);
    // rename over another link of the same inode: nothing happens.
    d.rename(&sub, "b", &root, "c").unwrap();
    assert!(d.lookup("/sub/b").is_ok() && d.lookup("/c").is_ok());
    // rename of another file over a link drops that link.
    file_with(d, &root, "other", b"x");
    d.rename(&root, "other", &root, "c").unwrap();
    assert_eq!(d.stat(&b).unwrap().nlink, 1);
    // The last link open: the inode lives until the handle closes.
    let f = d.open(&sub, "b", OpenFlags::read_only()).unwrap();
    d.unlink(&sub, "b").unwrap();
    assert_eq!(f.stat().unwrap().nlink, 0);
    assert_eq!(f.read(0, 64).unwrap(), b"hello world");
    f.close().unwrap();
    assert_eq!(errno(d.link(&b, &root, "again")), libc::ENOENT);
    // Its object is gone: no cells left.
    let oh = e.cli.obj_open(d.cont(), b.oid()).unwrap();
    assert!(oh.list_dkeys(None).unwrap().is_empty());
    e.stop();
}

/// A directory's link count is 2 + its subdirectories, and every change
/// of its entries sets its mtime and ctime ("shall mark for update the
/// last data modification and last file status change timestamps of the
/// parent directory").
#[test]
fn directories_count_subdirectories_and_entry_changes_touch_them() {
    let e = Env::new("dirs");
    let (d, root) = (&e.dfs, e.dfs.root());
    let nlink = |p: &str| d.stat(&d.lookup(p).unwrap()).unwrap().nlink;
    let times = |p: &str| {
        let st = d.stat(&d.lookup(p).unwrap()).unwrap();
        (st.mtime, st.ctime)
    };
    assert_eq!(nlink("/"), 2);
    let a = d.mkdir(&root, "a", 0o755).unwrap();
    d.mkdir(&root, "b", 0o755).unwrap();
    d.mkdir(&a, "x", 0o755).unwrap();
    assert_eq!((nlink("/"), nlink("/a"), nlink("/b")), (4, 3, 2));
    // A directory moved from a to b: a loses a link, b gains one.
    d.rename(&a, "x", &d.lookup("/b").unwrap(), "x").unwrap();
    assert_eq!((nlink("/a"), nlink("/b")), (2, 3));
    d.rmdir(&d.lookup("/b").unwrap(), "x").unwrap();
    assert_eq!(nlink("/b"), 2);
    // A directory replacing an empty one: the count stays.
    d.mkdir(&a, "y", 0o755).unwrap();
    d.mkdir(&a, "z", 0o755).unwrap();
    d.rename(&a, "y", &a, "z").unwrap();
    assert_eq!(nlink("/a"), 3);
    // Each kind of change moves the directory's times.
    type Change<'a> = Box<dyn Fn(&Obj) + 'a>;
    let changes: Vec<(&str, Change)> = vec![
        ("create", Box::new(|dir| drop(file_with(d, dir, "f", b"1")))),
        (
            "mkdir",
            Box::new(|dir| drop(d.mkdir(dir, "m", 0o700).unwrap())),
        ),
        (
            "symlink",
            Box::new(|dir| drop(d.symlink(dir, "s", "f").unwrap())),
        ),
        (
            "mknod",
            Box::new(|dir| {
                drop(
                    d.mknod_as(dir, "p", S_IFIFO | 0o600, 0, Owner::process())
                        .unwrap(),
                )
            }),
        ),
        (
            "link",
            Box::new(|dir| drop(d.link(&d.lookup_rel(dir, "f").unwrap(), dir, "h").unwrap())),
        ),
        (
            "rename",
            Box::new(|dir| d.rename(dir, "h", dir, "h2").unwrap()),
        ),
        ("unlink", Box::new(|dir| d.unlink(dir, "h2").unwrap())),
        ("rmdir", Box::new(|dir| d.rmdir(dir, "m").unwrap())),
    ];
    for (what, change) in changes {
        let t0 = times("/b");
        std::thread::sleep(std::time::Duration::from_millis(2));
        change(&d.lookup("/b").unwrap());
        let t1 = times("/b");
        assert!(t1.0 > t0.0 && t1.1 > t0.1, "{what}: {t0:?} -> {t1:?}");
    }
    e.stop();
}

/// `mknod` / `mkfifo` / a socket's name: the type and device number are
/// stored and returned.
#[test]
fn special_files_keep_their_type_and_device_number() {
    let e = Env::new("special");
    let (d, root) = (&e.dfs, e.dfs.root());
    let me = Owner::process();
    let dev = d
        .mknod_as(&root, "null", S_IFCHR | 0o666, 0x0103, me)
        .unwrap();
    d.mknod_as(&root, "fifo", S_IFIFO | 0o640, 0, me).unwrap();
    d.mknod_as(&root, "sock", S_IFSOCK | 0o755, 0, me).unwrap();
    let st = d.stat(&dev).unwrap();
    assert_eq!(
        (st.mode, st.rdev, st.size, st.nlink),
        (S_IFCHR | 0o666, 0x0103, 0, 1)
    );
    let kinds: Vec<(String, FileType)> = d
        .readdir(&root, &Default::default(), 10)
        .unwrap()
        .0
        .into_iter()
        .map(|e| (e.name, e.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("fifo".to_string(), FileType::Fifo),
            ("null".to_string(), FileType::CharDev),
            ("sock".to_string(), FileType::Socket)
        ]
    );
    assert_eq!(d.lookup("/fifo").unwrap().inode().mode, S_IFIFO | 0o640);
    // Not a regular file or directory (those have their own calls).
    assert_eq!(
        errno(d.mknod_as(&root, "r", 0o100_644, 0, me)),
        libc::EINVAL
    );
    assert_eq!(
        errno(d.mknod_as(&root, "fifo", S_IFIFO, 0, me)),
        libc::EEXIST
    );
    assert_eq!(
        errno(d.open(&root, "fifo", OpenFlags::read_only())),
        libc::EINVAL
    );
    // Links and removal.
    d.link(&dev, &root, "null2").unwrap();
    assert_eq!(d.stat(&dev).unwrap().nlink, 2);
    d.unlink(&root, "null").unwrap();
    let st = d.stat(&d.lookup("/null2").unwrap()).unwrap();
    assert_eq!((st.nlink, st.rdev), (1, 0x0103));
    d.unlink(&root, "null2").unwrap();
    d.unlink(&root, "fifo").unwrap();
    e.stop();
}

/// `setxattr` / `getxattr` / `listxattr` / `removexattr` with
/// `XATTR_CREATE` / `XATTR_REPLACE`, `ENODATA`, the size limits, on
/// files, directories, symlinks and hard links.
#[test]
fn extended_attributes() {
    let e = Env::new("xattr");
    let (d, root) = (&e.dfs, e.dfs.root());
    let f = file_with(d, &root, "f", b"data");
    let dir = d.mkdir(&root, "d", 0o755).unwrap();
    let l = d.symlink(&root, "l", "f").unwrap();
    for o in [&f, &dir, &l] {
        assert_eq!(d.listxattr(o).unwrap(), Vec::<String>::new());
        assert_eq!(errno(d.getxattr(o, "user.a")), libc::ENODATA);
        d.setxattr(o, "user.a", b"1", XattrMode::Any).unwrap();
        d.setxattr(o, "user.empty", b"", XattrMode::Create).unwrap();
        assert_eq!(
            errno(d.setxattr(o, "user.a", b"2", XattrMode::Create)),
            libc::EEXIST
        );
        assert_eq!(
            errno(d.setxattr(o, "user.b", b"2", XattrMode::Replace)),
            libc::ENODATA
        );
        d.setxattr(o, "user.a", b"22", XattrMode::Replace).unwrap();
        assert_eq!(d.getxattr(o, "user.a").unwrap(), b"22");
        assert_eq!(d.getxattr(o, "user.empty").unwrap(), b"");
        assert_eq!(d.listxattr(o).unwrap(), ["user.a", "user.empty"]);
        d.removexattr(o, "user.empty").unwrap();
        assert_eq!(errno(d.removexattr(o, "user.empty")), libc::ENODATA);
        assert_eq!(d.listxattr(o).unwrap(), ["user.a"]);
    }
    // Limits: names of 1..=255 bytes (ERANGE), values up to 64 KiB (E2BIG).
    assert_eq!(errno(d.setxattr(&f, "", b"", XattrMode::Any)), libc::ERANGE);
    let long = format!("user.{}", "n".repeat(251));
    assert_eq!(
        errno(d.setxattr(&f, &long, b"", XattrMode::Any)),
        libc::ERANGE
    );
    let big = vec![7u8; 65536];
    d.setxattr(&f, "user.big", &big, XattrMode::Any).unwrap();
    assert_eq!(d.getxattr(&f, "user.big").unwrap(), big);
    assert_eq!(
        errno(d.setxattr(&f, "user.big", &[0; 65537], XattrMode::Any)),
        libc::E2BIG
    );
    // The attributes are the inode's: every link sees them.
    let h = d.link(&f, &dir, "h").unwrap();
    assert_eq!(d.getxattr(&h, "user.a").unwrap(), b"22");
    d.setxattr(&h, "user.c", b"3", XattrMode::Any).unwrap();
    assert_eq!(d.getxattr(&f, "user.c").unwrap(), b"3");
    // Setting one changes ctime, not mtime (nor a file's size).
    let st0 = d.stat(&f).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    d.setxattr(&f, "user.t", b"t", XattrMode::Any).unwrap();
    let st1 = d.stat(&f).unwrap();
    assert_eq!((st1.mtime, st1.size), (st0.mtime, 4));
    assert!(st1.ctime > st0.ctime);
    // A rename keeps them; the inode's end takes them.
    d.rename(&root, "l", &dir, "l2").unwrap();
    assert_eq!(
        d.getxattr(&d.lookup_nofollow("/d/l2").unwrap(), "user.a")
            .unwrap(),
        b"22"
    );
    d.unlink(&root, "f").unwrap();
    d.unlink(&dir, "h").unwrap();
    d.unlink(&dir, "l2").unwrap();
    for oid in [f.oid(), l.oid()] {
        let oh = e.cli.obj_open(d.cont(), oid).unwrap();
        assert!(oh.list_dkeys(None).unwrap().is_empty());
    }
    e.stop();
}

/// `renameat2`: `RENAME_NOREPLACE` fails with `EEXIST`; `RENAME_EXCHANGE`
/// swaps two entries of any type, across directories, keeping the link
/// counts, and needs both (`ENOENT`).
#[test]
fn rename_noreplace_and_exchange() {
    let e = Env::new("rename2");
    let (d, root) = (&e.dfs, e.dfs.root());
    let a = d.mkdir(&root, "a", 0o755).unwrap();
    let b = d.mkdir(&root, "b", 0o755).unwrap();
    file_with(d, &a, "f", b"file");
    d.mkdir(&b, "sub", 0o755).unwrap();
    file_with(d, &b, "g", b"gee");
    assert_eq!(
        errno(d.rename2(&a, "f", &b, "g", RenameMode::NoReplace)),
        libc::EEXIST
    );
    d.rename2(&a, "f", &b, "new", RenameMode::NoReplace)
        .unwrap();
    d.rename2(&b, "new", &a, "f", RenameMode::NoReplace)
        .unwrap();
    assert_eq!(
        errno(d.rename2(&a, "f", &b, "none", RenameMode::Exchange)),
        libc::ENOENT
    );
    // A file and a directory swap places across directories.
    d.rename2(&a, "f", &b, "sub", RenameMode::Exchange).unwrap();
    assert_eq!(d.lookup("/a/f").unwrap().kind(), FileType::Dir);
    assert_eq!(read_all(d, &b, "sub"), b"file");
    let nlink = |p: &str| d.stat(&d.lookup(p).unwrap()).unwrap().nlink;
    assert_eq!((nlink("/a"), nlink("/b")), (3, 2));
    // The moved directory's parent is now a: a directory cannot go below
    // itself by an exchange either.
    assert_eq!(
        errno(d.rename2(
            &root,
            "a",
            &d.lookup("/a/f").unwrap(),
            "x",
            RenameMode::Replace
        )),
        libc::EINVAL
    );
    file_with(d, &d.lookup("/a/f").unwrap(), "deep", b"d");
    assert_eq!(
        errno(d.rename2(
            &root,
            "a",
            &d.lookup("/a/f").unwrap(),
            "deep",
            RenameMode::Exchange
        )),
        libc::EINVAL
    );
    // Two files in one directory.
    d.rename2(&b, "g", &b, "sub", RenameMode::Exchange).unwrap();
    assert_eq!(read_all(d, &b, "g"), b"file");
    assert_eq!(read_all(d, &b, "sub"), b"gee");
    e.stop();
}

/// A container made before link counts (version 1 inode records, as the
/// layout before this one wrote them) still mounts; its directories are
/// counted, then kept; its files link and unlink.
#[test]
fn version_1_records_are_read_and_upgraded_on_change() {
    let e = Env::new("v1");
    let (d, root) = (&e.dfs, e.dfs.root());
    let top = d.mkdir(&root, "top", 0o755).unwrap();
    d.mkdir(&top, "s1", 0o755).unwrap();
    d.mkdir(&top, "s2", 0o755).unwrap();
    file_with(d, &top, "f", b"old data");
    // Rewrite every entry of /top and /top itself in the old layout.
    let v1 = |dir: &Obj, name: &str| {
        let rec: Inode = d.lookup_rel(dir, name).unwrap().inode().clone();
        let oh = e.cli.obj_open(d.cont(), dir.oid()).unwrap();
        let b = rec.encode_v1();
        let iod = IodDesc {
            akey: INODE_AKEY.to_vec(),
            single: true,
            rsize: b.len() as u64,
            recxs: vec![],
        };
        oh.update(name.as_bytes(), vec![iod], vec![BulkRef::from_vec(b)], None)
            .unwrap();
    };
    for n in ["s1", "s2", "f"] {
        v1(&top, n);
    }
    v1(&root, "top");
    drop(top);
    let d = Dfs::mount(&e.cli, "v1").unwrap();
    let top = d.lookup("/top").unwrap();
    assert_eq!(top.inode().nlink, 0, "read as version 1");
    assert_eq!(d.stat(&top).unwrap().nlink, 4);
    let f = d.lookup("/top/f").unwrap();
    assert_eq!(d.stat(&f).unwrap().nlink, 1);
    d.link(&f, &top, "g").unwrap();
    assert_eq!(d.stat(&f).unwrap().nlink, 2);
    assert_eq!(read_all(&d, &top, "g"), b"old data");
    d.rmdir(&top, "s1").unwrap();
    let top = d.lookup("/top").unwrap();
    assert_eq!((top.inode().nlink, d.stat(&top).unwrap().nlink), (3, 3));
    drop(d);
    e.stop();
}
