//! Today's on-disk formats, kept as test data: two pools made by this
//! version of rdaos live in `tests/fixtures/` and every later version
//! must open them and read back what was written, so a format change that
//! forgets the pools already out there fails here instead of at a user's.
//!
//! Each fixture is a whole pool directory: `pool.meta` as it is, and the
//! device file packed (`pool.dev.fx`: only its non-zero 4 KiB blocks, see
//! [`pack`]). Between them they hold every format the store writes:
//!
//! * `clean`: a pool stopped cleanly (superblocks, checkpoint headers with
//!   the clean flag, the checkpointed trees, dfs's superblock, inodes,
//!   directory entries, a symlink and file data);
//! * `crashed`: the same pool written to again by a process that exited
//!   without stopping its engine, so opening it replays WAL frames and
//!   their commit records (with per-extent checksums) over the checkpoint.
//!
//! The fixtures were made with `RDAOS_MAKE_FIXTURES=1 cargo test --test
//! formats make_fixtures -- --ignored --nocapture` (which overwrites
//! them); do that again only on purpose, when the format version changes
//! and the old fixtures are kept beside the new ones under a new name.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rdaos::dfs::{Dfs, FileType, OpenFlags};
use rdaos::storage::Storage;

const BLOCK: usize = 4096;
const MAGIC: &[u8; 8] = b"rdaosfx1";
const CHILD_ENV: &str = "RDAOS_FORMATS_CHILD";
const POOL: &str = "fx";
const CONT: &str = "posix";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A deterministic byte pattern, different per `seed`.
fn pattern(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| seed.wrapping_mul(29).wrapping_add((i ^ (i >> 9)) as u8))
        .collect()
}

fn rdaos(storage: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_rdaos"))
        .arg("--storage")
        .arg(storage)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rdaos {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Packs `dev` as: `MAGIC`, its length (u64 LE), then for every non-zero
/// 4 KiB block its offset (u64 LE) and its bytes; unpacked, holes read
/// as zeros, as they did in the sparse original.
fn pack(dev: &Path, out: &Path) {
    let mut f = File::open(dev).unwrap();
    let len = f.metadata().unwrap().len();
    let mut w = Vec::new();
    w.extend_from_slice(MAGIC);
    w.extend_from_slice(&len.to_le_bytes());
    let mut blk = vec![0u8; BLOCK];
    let mut off = 0u64;
    while off < len {
        f.read_exact(&mut blk).unwrap();
        if blk.iter().any(|&b| b != 0) {
            w.extend_from_slice(&off.to_le_bytes());
            w.extend_from_slice(&blk);
        }
        off += BLOCK as u64;
    }
    std::fs::write(out, w).unwrap();
}

/// Unpacks what [`pack`] made into a sparse file `dev`.
fn unpack(packed: &Path, dev: &Path) {
    let b = std::fs::read(packed).unwrap();
    assert_eq!(
        &b[..8],
        MAGIC,
        "{} is not a packed device",
        packed.display()
    );
    let len = u64::from_le_bytes(b[8..16].try_into().unwrap());
    let f = File::create(dev).unwrap();
    f.set_len(len).unwrap();
    let mut at = 16;
    while at < b.len() {
        let off = u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        f.write_all_at(&b[at + 8..at + 8 + BLOCK], off).unwrap();
        at += 8 + BLOCK;
    }
    f.sync_all().unwrap();
}

/// Copies fixture `name` into a fresh storage directory and returns it.
fn unpack_fixture(name: &str) -> PathBuf {
    let storage = std::env::temp_dir().join(format!("rdaos-formats-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&storage);
    let pool = storage.join(POOL);
    std::fs::create_dir_all(&pool).unwrap();
    let src = fixtures().join(name);
    std::fs::copy(src.join("pool.meta"), pool.join("pool.meta")).unwrap();
    unpack(&src.join("pool.dev.fx"), &pool.join("pool.dev"));
    storage
}

/// The first writes: a small file, a file over several chunks with a hole,
/// a directory with a file, a symlink.
fn write_first(dfs: &Dfs) {
    let root = dfs.root();
    let f = dfs
        .open(&root, "small", OpenFlags::read_write().create(0o640))
        .unwrap();
    f.write_bytes(0, b"hello, formats\n").unwrap();
    let f = dfs
        .open(&root, "big", OpenFlags::read_write().create(0o600))
        .unwrap();
    f.write_bytes(0, &pattern(1, 96 << 10)).unwrap();
    f.write_bytes(160 << 10, &pattern(2, 40 << 10)).unwrap();
    let d = dfs.mkdir(&root, "dir", 0o750).unwrap();
    let g = dfs
        .open(&d, "inner", OpenFlags::read_write().create(0o644))
        .unwrap();
    g.write_bytes(0, &pattern(3, 5000)).unwrap();
    dfs.symlink(&root, "link", "dir/inner").unwrap();
}

/// The second writes, left in the WAL by a process that does not stop its
/// engine: an overwrite inside "big" and a new file.
fn write_second(dfs: &Dfs) {
    let root = dfs.root();
    let f = dfs.open(&root, "big", OpenFlags::read_write()).unwrap();
    f.write_bytes(8 << 10, &pattern(4, 12 << 10)).unwrap();
    let n = dfs
        .open(&root, "after", OpenFlags::read_write().create(0o644))
        .unwrap();
    n.write_bytes(0, &pattern(5, 3000)).unwrap();
}

fn read_all(dfs: &Dfs, path: &str) -> Vec<u8> {
    let (dir, name) = path.rsplit_once('/').unwrap();
    let dir = dfs.lookup(if dir.is_empty() { "/" } else { dir }).unwrap();
    let f = dfs.open(&dir, name, OpenFlags::read_only()).unwrap();
    let size = f.size().unwrap();
    f.read(0, size).unwrap()
}

/// Checks what [`write_first`] (and, with `second`, [`write_second`]) wrote.
fn check(dfs: &Dfs, second: bool) {
    assert_eq!(read_all(dfs, "/small"), b"hello, formats\n");
    let mut big = pattern(1, 96 << 10);
    big.resize(160 << 10, 0);
    big.extend_from_slice(&pattern(2, 40 << 10));
    if second {
        big[8 << 10..20 << 10].copy_from_slice(&pattern(4, 12 << 10));
    }
    let got = read_all(dfs, "/big");
    assert_eq!(got.len(), big.len(), "size of big");
    assert!(got == big, "contents of big");
    assert_eq!(read_all(dfs, "/dir/inner"), pattern(3, 5000));
    let link = dfs.lookup_nofollow("/link").unwrap();
    assert_eq!(dfs.readlink(&link).unwrap(), "dir/inner");
    let st = dfs.stat(&dfs.lookup("/small").unwrap()).unwrap();
    assert_eq!(st.mode & 0o7777, 0o640);
    assert_eq!(dfs.lookup("/dir").unwrap().kind(), FileType::Dir);
    if second {
        assert_eq!(read_all(dfs, "/after"), pattern(5, 3000));
    } else {
        assert!(
            dfs.lookup("/after").is_err(),
            "after exists before it was written"
        );
    }
}

/// The child for `crashed`: writes the second set and exits without
/// stopping the engine, as a crash would, so the WAL keeps its frames.
#[test]
fn formats_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let st = Storage::open(&dir).unwrap();
    let conn = st.connect(POOL).unwrap();
    let dfs = Dfs::mount(conn.client(), CONT).unwrap();
    write_second(&dfs);
    std::process::exit(0);
}

/// Makes both fixtures (run on purpose only: see the module doc).
#[test]
#[ignore = "makes the fixtures; run only on purpose"]
fn make_fixtures() {
    if std::env::var_os("RDAOS_MAKE_FIXTURES").is_none() {
        eprintln!("set RDAOS_MAKE_FIXTURES=1 to overwrite tests/fixtures");
        return;
    }
    let storage = std::env::temp_dir().join(format!("rdaos-mkfx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&storage);
    std::fs::create_dir_all(&storage).unwrap();
    rdaos(
        &storage,
        &["pool", "create", POOL, "--size", "32M", "--targets", "2"],
    );
    rdaos(
        &storage,
        &[
            "cont",
            "create",
            POOL,
            CONT,
            "--type",
            "POSIX",
            "--chunk-size",
            "64K",
        ],
    );
    {
        let st = Storage::open(&storage).unwrap();
        let conn = st.connect(POOL).unwrap();
        let dfs = Dfs::mount(conn.client(), CONT).unwrap();
        write_first(&dfs);
        check(&dfs, false);
        dfs.umount().unwrap();
        conn.close().unwrap();
    }
    let save = |name: &str| {
        let out = fixtures().join(name);
        std::fs::create_dir_all(&out).unwrap();
        let pool = storage.join(POOL);
        std::fs::copy(pool.join("pool.meta"), out.join("pool.meta")).unwrap();
        pack(&pool.join("pool.dev"), &out.join("pool.dev.fx"));
    };
    save("clean");
    let st = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "formats_child_writer", "--nocapture"])
        .env(CHILD_ENV, &storage)
        .status()
        .unwrap();
    assert!(st.success());
    save("crashed");
    let _ = std::fs::remove_dir_all(&storage);
}

/// Opens fixture `name` with today's code and checks every byte.
fn open_and_check(name: &str, second: bool) {
    let storage = unpack_fixture(name);
    let st = Storage::open(&storage).unwrap();
    let report = st.pool_check(POOL).unwrap();
    assert!(
        report.iter().all(|t| t.log.damage.is_none()),
        "pool check of fixture {name}: {report:?}"
    );
    // The crashed pool's writes are in its WAL only: opening it must
    // replay them; the clean one has nothing to replay.
    let replayable: u64 = report.iter().map(|t| t.log.replayable).sum();
    if second {
        assert!(replayable > 0, "fixture {name} has no records to replay");
    } else {
        assert_eq!(replayable, 0, "fixture {name}: {report:?}");
    }
    {
        let conn = st.connect(POOL).unwrap();
        let dfs = Dfs::mount(conn.client(), CONT).unwrap();
        check(&dfs, second);
        dfs.umount().unwrap();
        conn.close().unwrap();
    }
    // Once opened and closed by today's code, it opens again.
    {
        let conn = st.connect(POOL).unwrap();
        let dfs = Dfs::mount(conn.client(), CONT).unwrap();
        check(&dfs, second);
        dfs.umount().unwrap();
        conn.close().unwrap();
    }
    std::fs::remove_dir_all(&storage).unwrap();
}

#[test]
fn a_pool_stopped_cleanly_by_the_first_format_opens_and_reads_back() {
    open_and_check("clean", false);
}

#[test]
fn a_pool_crashed_with_records_in_its_wal_replays_and_reads_back() {
    open_and_check("crashed", true);
}
