//! The `rdaos` command end to end: the built binary against a fresh
//! storage directory in the temp directory (a real file system, for
//! O_DIRECT): pool create, list, query, container create with a class
//! and chunk size, query and get-prop showing them, list, destroy, and
//! the errors and exit codes of bad input.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A storage directory removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("rdaos-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        // The mount point the dfuse tests make beside it, once unmounted
        // and empty (never through a mount: remove_dir only takes an
        // empty directory).
        let _ = std::fs::remove_dir(self.0.with_extension("mnt"));
    }
}

/// Runs `rdaos --storage dir args...` with no RDAOS_STORAGE around it.
fn rdaos(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rdaos"))
        .arg("--storage")
        .arg(dir)
        .args(args)
        .env_remove("RDAOS_STORAGE")
        .output()
        .expect("run rdaos")
}

/// Runs it, expects success, returns stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let o = rdaos(dir, args);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "rdaos {args:?} failed: {err}{out}");
    assert!(err.is_empty(), "rdaos {args:?} wrote to stderr: {err}");
    out.into_owned()
}

/// Runs it, expects exit status `code` and one `rdaos: error:` line on
/// stderr containing `want`; nothing on stdout.
fn fails(dir: &Path, args: &[&str], code: i32, want: &str) {
    let o = rdaos(dir, args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "rdaos {args:?}: {err}");
    assert!(o.stdout.is_empty(), "rdaos {args:?} printed to stdout");
    assert_eq!(err.lines().count(), 1, "rdaos {args:?}: {err}");
    assert!(err.starts_with("rdaos: error: "), "{err}");
    assert!(err.contains(want), "rdaos {args:?}: {err:?} lacks {want:?}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The value of `name` in a `  name : value` listing.
fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(" : ")?;
            (k.trim() == name).then_some(v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

#[test]
fn pools_and_posix_containers_through_the_command() {
    let d = Dir::new("life");
    let s = d.0.as_path();

    let out = ok(s, &["pool", "list"]);
    assert!(out.starts_with("No pools in "), "{out}");

    let out = ok(
        s,
        &["pool", "create", "tank", "--size", "256M", "--targets", "2"],
    );
    assert_eq!(field(&out, "Label"), "tank");
    assert_eq!(field(&out, "Size"), "256.0 MiB");
    assert!(field(&out, "Targets").starts_with("2 "), "{out}");
    let uuid = field(&out, "UUID").to_string();
    assert_eq!(uuid.len(), 36);
    assert!(s.join("tank/pool.meta").is_file());
    assert_eq!(
        std::fs::metadata(s.join("tank/pool.dev")).unwrap().len(),
        256 << 20
    );

    let out = ok(s, &["pool", "list"]);
    let row = out.lines().find(|l| l.starts_with("tank ")).expect(&out);
    assert!(row.contains(&uuid) && row.contains("256.0 MiB"), "{row}");
    let out = ok(s, &["pool", "list", "--verbose"]);
    assert!(out.contains("Created") && out.contains("pool.dev"), "{out}");

    let out = ok(s, &["pool", "query", "tank"]);
    assert_eq!(field(&out, "UUID"), uuid);
    assert_eq!(field(&out, "Size"), "256.0 MiB");
    assert_eq!(field(&out, "Used"), "0 B (0%)");
    assert!(field(&out, "Free").ends_with(" MiB"), "{out}");
    assert!(field(&out, "Targets").starts_with("2 "), "{out}");

    let out = ok(
        s,
        &[
            "cont",
            "create",
            "tank",
            "posix",
            "--type",
            "POSIX",
            "--oclass",
            "SX",
            "--chunk-size",
            "512K",
        ],
    );
    assert_eq!(field(&out, "Type"), "POSIX");
    let cuuid = field(&out, "UUID").to_string();
    for verb in ["query", "get-prop"] {
        let out = ok(s, &["cont", verb, "tank", "posix"]);
        assert_eq!(field(&out, "Label"), "posix", "{verb}");
        assert_eq!(field(&out, "UUID"), cuuid, "{verb}");
        assert_eq!(field(&out, "Type"), "POSIX", "{verb}");
        assert_eq!(field(&out, "Object class"), "SX", "{verb}");
        assert_eq!(field(&out, "Dir object class"), "S1", "{verb}");
        assert_eq!(field(&out, "Chunk size"), "512 KiB", "{verb}");
    }
    // The defaults, and a replicated class the pool can hold.
    ok(s, &["cont", "create", "tank", "b", "--oclass", "rp_2g1"]);
    let out = ok(s, &["cont", "get-prop", "tank", "b"]);
    assert_eq!(field(&out, "Object class"), "RP_2G1");
    assert_eq!(field(&out, "Chunk size"), "1 MiB");
    let out = ok(s, &["cont", "list", "tank"]);
    let labels: Vec<&str> = out
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(labels, ["b", "posix"], "{out}");

    // The containers' metadata takes space now.
    let out = ok(s, &["pool", "query", "tank", "-v"]);
    assert_ne!(field(&out, "Used"), "0 B (0%)", "{out}");
    assert!(out.contains("Target") && out.contains("0.1"), "{out}");

    // Errors: one line, what is wrong, exit 1 (failed) or 2 (usage).
    let dir = s.display().to_string();
    fails(
        s,
        &["pool", "create", "tank", "--size", "256M"],
        1,
        "pool \"tank\" already exists",
    );
    fails(
        s,
        &["pool", "query", "nope"],
        1,
        &format!("pool \"nope\" not found in {dir}"),
    );
    fails(
        s,
        &["pool", "destroy", "nope"],
        1,
        "pool \"nope\" not found",
    );
    fails(
        s,
        &["cont", "create", "nope", "c"],
        1,
        "pool \"nope\" not found",
    );
    fails(
        s,
        &["cont", "create", "tank", "posix"],
        1,
        "container \"posix\" already exists in pool \"tank\"",
    );
    fails(
        s,
        &["cont", "query", "tank", "nope"],
        1,
        "container \"nope\" not found in pool \"tank\"",
    );
    fails(
        s,
        &["cont", "create", "tank", "c", "--oclass", "RP_3G1"],
        1,
        "RP_3G1 needs 3 targets",
    );
    fails(
        s,
        &["cont", "create", "tank", "c", "--oclass", "EC_2P1"],
        2,
        "unknown object class \"EC_2P1\"",
    );
    fails(
        s,
        &["cont", "create", "tank", "c", "--chunk-size", "0"],
        1,
        "bad chunk size",
    );
    fails(
        s,
        &["cont", "create", "tank", "c", "--type", "HDF5"],
        2,
        "possible values: POSIX",
    );
    fails(
        s,
        &["pool", "create", "x", "--size", "4X"],
        2,
        "unknown unit \"X\"",
    );
    fails(
        s,
        &["pool", "create", "x", "--size", "1000"],
        1,
        "not a multiple of 4 KiB",
    );
    fails(
        s,
        &["pool", "create", "x", "--size", "16M"],
        1,
        "too small for 4 targets",
    );
    fails(s, &["pool", "create", "x"], 2, "--size");
    fails(
        s,
        &["pool", "create", "a/b", "--size", "256M"],
        1,
        "bad pool label \"a/b\"",
    );
    fails(
        s,
        &["pool", "create", "x", "--size", "256M", "--targets", "0"],
        2,
        "--targets",
    );
    fails(s, &["bogus"], 2, "unrecognized subcommand");
    // A damaged metadata file is named, not trusted.
    let meta = s.join("tank/pool.meta");
    let good = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(&meta, good.replace("engines 1", "engines 2")).unwrap();
    fails(s, &["pool", "query", "tank"], 1, "crc32c mismatch");
    std::fs::write(&meta, &good).unwrap();
    // Failed commands left nothing behind.
    let names: Vec<String> = std::fs::read_dir(s)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["tank"]);

    // A pool with containers goes only with --recursive (DAOS 2.4+).
    fails(
        s,
        &["pool", "destroy", "tank"],
        1,
        "pool \"tank\" holds 2 containers (b, posix): destroy them first, or pass --recursive",
    );
    let out = ok(s, &["pool", "destroy", "tank", "--recursive"]);
    assert!(out.contains("destroyed"), "{out}");
    assert!(ok(s, &["pool", "list"]).starts_with("No pools"));
    assert_eq!(std::fs::read_dir(s).unwrap().count(), 0);
}

#[test]
fn help_and_storage_directory_choice() {
    let d = Dir::new("help");
    for args in [
        &["--help"][..],
        &["pool", "create", "--help"],
        &["cont", "create", "--help"],
    ] {
        let o = rdaos(&d.0, args);
        assert!(o.status.success(), "{args:?}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("Usage: rdaos"), "{out}");
    }
    // RDAOS_STORAGE is the directory when --storage is not given.
    let o = Command::new(env!("CARGO_BIN_EXE_rdaos"))
        .args(["pool", "create", "p", "--size", "64M", "--targets", "1"])
        .env("RDAOS_STORAGE", &d.0)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(d.0.join("p/pool.meta").is_file());
    // A storage path that is a file is an error, not a crash.
    fails(
        &d.0.join("p/pool.meta"),
        &["pool", "list"],
        1,
        "Not a directory",
    );
}

/// `rdaos dfuse` daemonizes once mounted, serves the container, stops at
/// `umount`, and a second mount shows what the first one acknowledged;
/// its bad inputs fail in the foreground. Needs root and /dev/fuse.
#[test]
fn dfuse_mounts_daemonizes_and_stops_at_umount() {
    // SAFETY: geteuid cannot fail and touches no memory.
    if !Path::new("/dev/fuse").exists() || unsafe { rdaos::dfs::errno::libc::geteuid() } != 0 {
        eprintln!("SKIP: rdaos dfuse needs root and /dev/fuse");
        return;
    }
    let d = Dir::new("dfuse");
    let s = d.0.as_path();
    let mnt = d.0.with_extension("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let m = mnt.to_str().unwrap();
    ok(
        s,
        &["pool", "create", "p", "--size", "256M", "--targets", "2"],
    );
    ok(s, &["cont", "create", "p", "c", "--type", "POSIX"]);

    fails(
        s,
        &["dfuse", "-m", "/nonexistent-dir", "-p", "p", "-c", "c"],
        1,
        "mountpoint /nonexistent-dir: No such file or directory",
    );
    fails(
        s,
        &["dfuse", "-m", m, "-p", "nope", "-c", "c"],
        1,
        "\"nope\" not found",
    );
    fails(
        s,
        &["dfuse", "-m", m, "-p", "p", "-c", "nope"],
        1,
        "container \"nope\" not found in pool \"p\"",
    );
    fails(s, &["dfuse", "-m", m, "-p", "p"], 2, "--cont");

    /// Lazily unmounts whatever is still mounted when the test ends.
    struct Guard(PathBuf);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).output();
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _guard = Guard(mnt.clone());
    let data: Vec<u8> = (0..3u32 << 20).map(|i| (i % 253) as u8).collect();
    let out = ok(s, &["dfuse", "-m", m, "-p", "p", "-c", "c"]);
    assert!(out.contains("mounted at"), "{out}");
    let unmount = || {
        let st = Command::new("umount").arg(&mnt).status().unwrap();
        assert!(st.success(), "umount {m}");
    };
    std::fs::write(mnt.join("f"), &data).unwrap();
    std::fs::create_dir(mnt.join("dir")).unwrap();
    // The mount holds the pool: other commands wait, then say so.
    fails(s, &["pool", "query", "p"], 1, "in use");
    unmount();
    // The daemon lets go of the pool at its umount.
    let q = ok(s, &["pool", "query", "p"]);
    assert!(field(&q, "Used").starts_with("3.0 MiB"), "{q}");

    ok(s, &["dfuse", "-m", m, "-p", "p", "-c", "c"]);
    let back = std::fs::read(mnt.join("f"));
    let dir_ok = mnt.join("dir").is_dir();
    unmount();
    assert_eq!(back.unwrap(), data, "the file after a remount");
    assert!(dir_ok, "the directory after a remount");
}

/// `pool create --path` does not overwrite a file holding data, nor make
/// a regular file in /dev for a mistyped device name, unless `--force`.
#[test]
fn pool_create_path_refuses_a_file_with_data_and_a_missing_device() {
    let d = Dir::new("path");
    let s = d.0.as_path();
    std::fs::create_dir_all(s).unwrap();
    let data = s.join("notes.txt");
    std::fs::write(&data, b"someone's notes\n").unwrap();
    let p = data.to_str().unwrap();
    let create = |label, path| {
        [
            "pool", "create", label, "--size", "64M", "-t", "1", "--path", path,
        ]
    };
    fails(s, &create("a", p), 1, "holding data");
    fails(s, &create("a", p), 1, "pass --force");
    assert_eq!(std::fs::read(&data).unwrap(), b"someone's notes\n");
    // A mistyped device name makes nothing in /dev.
    let typo = format!("/dev/nvme9n9-rdaos-test-{}", std::process::id());
    fails(s, &create("a", &typo), 1, "no such device");
    assert!(!Path::new(&typo).exists(), "{typo} was made");
    // A file only grown (all holes) holds nothing: used without --force.
    let sparse = s.join("sparse.img");
    let f = std::fs::File::create(&sparse).unwrap();
    f.set_len(64 << 20).unwrap();
    ok(s, &create("a", sparse.to_str().unwrap()));
    // --force overwrites the file with data.
    let mut forced = create("b", p).to_vec();
    forced.push("--force");
    ok(s, &forced);
    assert_ne!(
        std::fs::read(&data).unwrap()[..16],
        b"someone's notes\n"[..]
    );
    let list = ok(s, &["pool", "list"]);
    assert!(list.contains("\na ") && list.contains("\nb "), "{list}");
}

/// Labels starting with `.` are rdaos's own: refused at create. The
/// sweep of what killed creates and destroys left removes only what
/// rdaos made: not a user's directory of the same shape, not a whole
/// pool labelled so by an older build (which `pool list` shows).
#[test]
fn dot_labels_are_refused_and_the_sweep_removes_only_its_own() {
    use rdaos::storage::{PoolInfo, META_FILE};
    let d = Dir::new("labels");
    let s = d.0.as_path();
    // A process id that is known to be gone.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let swept_name = format!(".creating-x-{dead}-1");
    for label in [swept_name.as_str(), ".hidden", "."] {
        fails(
            s,
            &["pool", "create", label, "--size", "64M", "-t", "1"],
            1,
            &format!("bad pool label {label:?}"),
        );
    }
    fails(
        s,
        &["pool", "create", ".hidden", "--size", "64M", "-t", "1"],
        1,
        "cannot start with .",
    );
    // A pool an older build let a user label `.creating-x-<dead pid>-1`.
    ok(s, &["pool", "create", "old", "--size", "64M", "-t", "1"]);
    let from = s.join("old");
    let to = s.join(&swept_name);
    std::fs::rename(&from, &to).unwrap();
    let text = std::fs::read(to.join(META_FILE)).unwrap();
    let mut info = PoolInfo::decode(&text, &from, &from.join(META_FILE)).unwrap();
    info.label = swept_name.clone();
    info.dir = to.clone();
    info.device = to.join("pool.dev");
    std::fs::write(to.join(META_FILE), info.encode()).unwrap();
    // A user's directory shaped like a leftover.
    let users = s.join(format!(".creating-notes-{dead}-2"));
    std::fs::create_dir(&users).unwrap();
    std::fs::write(users.join("notes.txt"), b"mine").unwrap();
    // rdaos's own leftover of a killed create: marked with its name.
    let mine = s.join(format!(".creating-y-{dead}-3"));
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("pool.dev"), b"partial").unwrap();
    std::fs::write(
        mine.join("rdaos.leftover"),
        format!(".creating-y-{dead}-3\n"),
    )
    .unwrap();

    let list = ok(s, &["pool", "list"]);
    assert!(list.lines().any(|l| l.starts_with(&swept_name)), "{list}");
    let q = ok(s, &["pool", "query", &swept_name]);
    assert_eq!(field(&q, "Used"), "0 B (0%)", "{q}");
    assert!(to.join("pool.dev").is_file(), "the pool was swept");
    assert!(
        users.join("notes.txt").is_file(),
        "the user's files were swept"
    );
    assert!(!mine.exists(), "rdaos's own leftover stayed");
    ok(s, &["pool", "destroy", &swept_name]);
    assert!(!to.exists());
}

/// Runs rdaos with `RDAOS_KILL_AT=at`: it must die of SIGKILL there.
fn killed_at(dir: &Path, at: &str, args: &[&str]) {
    use std::os::unix::process::ExitStatusExt;
    let o = Command::new(env!("CARGO_BIN_EXE_rdaos"))
        .arg("--storage")
        .arg(dir)
        .args(args)
        .env_remove("RDAOS_STORAGE")
        .env("RDAOS_KILL_AT", at)
        .output()
        .expect("run rdaos");
    assert_eq!(
        o.status.signal(),
        Some(9),
        "rdaos {args:?} with RDAOS_KILL_AT={at} was not killed: {:?} {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The labels `cont list` shows.
fn conts(dir: &Path, pool: &str) -> Vec<String> {
    let out = ok(dir, &["cont", "list", pool]);
    if out.starts_with("No containers") {
        return Vec::new();
    }
    out.lines()
        .skip(2)
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect()
}

/// A `cont create` or `cont destroy` killed (SIGKILL, a real process)
/// after each of its steps leaves the container whole or absent, never
/// stuck: the next command sees it absent and can make it again, or
/// sees it whole. A half-made container (no superblock) is destroyable,
/// and a pool destroy refuses a pool with containers unless --recursive.
#[test]
fn cont_create_and_destroy_killed_at_every_step_leave_nothing_stuck() {
    let d = Dir::new("crash");
    let s = d.0.as_path();
    ok(
        s,
        &["pool", "create", "p", "--size", "128M", "--targets", "2"],
    );
    let create = ["cont", "create", "p", "c", "--type", "POSIX"];
    // Killed before the superblock is durable and the intent gone: the
    // container is absent, and can be made again.
    for step in ["intent", "container", "root", "superblock"] {
        killed_at(s, &format!("cont-create:{step}"), &create);
        assert_eq!(conts(s, "p"), Vec::<String>::new(), "after {step}");
        fails(
            s,
            &["cont", "query", "p", "c"],
            1,
            "container \"c\" not found in pool \"p\"",
        );
        let out = ok(s, &create);
        assert_eq!(field(&out, "Type"), "POSIX", "after {step}");
        let q = ok(s, &["cont", "query", "p", "c"]);
        assert_eq!(field(&q, "Type"), "POSIX", "after {step}");
        // Killed at any step of its destroy: gone by the next command.
        let at = match step {
            "intent" => "intent",
            "container" => "target-0",
            _ => "target-1",
        };
        killed_at(
            s,
            &format!("cont-destroy:{at}"),
            &["cont", "destroy", "p", "c"],
        );
        assert_eq!(conts(s, "p"), Vec::<String>::new(), "after destroy {at}");
        fails(
            s,
            &["cont", "destroy", "p", "c"],
            1,
            "container \"c\" not found in pool \"p\"",
        );
    }
    // Left whole by a create that finished: destroyed by its verb.
    ok(s, &create);
    assert_eq!(conts(s, "p"), ["c"]);
    let out = ok(s, &["cont", "destroy", "p", "c"]);
    assert!(out.contains("destroyed"), "{out}");
    assert_eq!(conts(s, "p"), Vec::<String>::new());

    // A half-made container as an older rdaos left it (on every target,
    // no superblock): shown as such, destroyable, then made again.
    {
        let st = rdaos::storage::Storage::open(s).unwrap();
        let conn = st.connect("p").unwrap();
        conn.client().cont_create("half").unwrap();
        conn.close().unwrap();
    }
    let q = ok(s, &["cont", "query", "p", "half"]);
    assert_eq!(field(&q, "Type"), "unknown");
    fails(s, &["cont", "create", "p", "half"], 1, "already exists");
    ok(s, &["cont", "destroy", "p", "half"]);
    ok(s, &["cont", "create", "p", "half"]);
    assert_eq!(conts(s, "p"), ["half"]);

    fails(
        s,
        &["pool", "destroy", "p"],
        1,
        "pool \"p\" holds 1 container (half): destroy it first, or pass --recursive",
    );
    ok(s, &["cont", "destroy", "p", "half"]);
    ok(s, &["pool", "destroy", "p"]);
    assert_eq!(std::fs::read_dir(s).unwrap().count(), 0, "leftovers");
}

/// `pool create -z` as in DAOS's `dmg pool create -z 4g`, with sizes in
/// DAOS's forms (`64m`, `64M`, `64MiB`, `64MB`: all binary here); `-s`
/// stays an alias.
#[test]
fn pool_create_takes_dmg_size_flag_and_forms() {
    let d = Dir::new("zsize");
    let s = d.0.as_path();
    for (label, flag, size) in [
        ("a", "-z", "64m"),
        ("b", "-z", "64M"),
        ("c", "--size", "64MiB"),
        ("e", "-z", "64mb"),
        ("f", "-s", "64M"),
    ] {
        let out = ok(s, &["pool", "create", label, flag, size, "-t", "1"]);
        assert_eq!(field(&out, "Size"), "64.0 MiB", "{flag} {size}");
        assert_eq!(
            std::fs::metadata(s.join(label).join("pool.dev"))
                .unwrap()
                .len(),
            64 << 20
        );
    }
    fails(s, &["pool", "create", "x", "-z", "4X"], 2, "unknown unit");
    fails(s, &["pool", "create", "x", "-t", "1"], 2, "--size");
}

/// `rdaos dfuse MOUNTPOINT POOL CONT`, dfuse's own form, beside the
/// flags; the two cannot be mixed for the same argument. The errors are
/// checked without root; with root and /dev/fuse a positional mount is
/// served and stops at umount.
#[test]
fn dfuse_takes_mountpoint_pool_and_container_as_positionals() {
    let d = Dir::new("dfusepos");
    let s = d.0.as_path();
    let mnt = d.0.with_extension("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let m = mnt.to_str().unwrap();
    ok(s, &["pool", "create", "p", "--size", "64M", "-t", "1"]);
    fails(
        s,
        &["dfuse", "/nonexistent-dir", "p", "c"],
        1,
        "mountpoint /nonexistent-dir: No such file or directory",
    );
    fails(s, &["dfuse", m, "nope", "c"], 1, "pool \"nope\" not found");
    fails(s, &["dfuse", m, "p"], 2, "CONT");
    fails(s, &["dfuse", m, "p", "c", "-c", "c"], 2, "cannot be used");
    // SAFETY: geteuid cannot fail and touches no memory.
    if !Path::new("/dev/fuse").exists() || unsafe { rdaos::dfs::errno::libc::geteuid() } != 0 {
        eprintln!("SKIP: the positional mount needs root and /dev/fuse");
        let _ = std::fs::remove_dir(&mnt);
        return;
    }
    fails(
        s,
        &["dfuse", m, "p", "c"],
        1,
        "container \"c\" not found in pool \"p\"",
    );
    ok(s, &["cont", "create", "p", "c"]);
    let out = ok(s, &["dfuse", m, "p", "c"]);
    assert!(out.contains(&format!("mounted at {m}")), "{out}");
    std::fs::write(mnt.join("f"), b"positional").unwrap();
    let st = Command::new("umount").arg(&mnt).status().unwrap();
    if !st.success() {
        let _ = Command::new("umount").arg("-l").arg(&mnt).status();
        panic!("umount {m}");
    }
    ok(s, &["dfuse", "-m", m, "-p", "p", "-c", "c"]);
    let back = std::fs::read(mnt.join("f"));
    let st = Command::new("umount").arg(&mnt).status().unwrap();
    assert!(st.success(), "umount {m}");
    assert_eq!(back.unwrap(), b"positional");
    let _ = std::fs::remove_dir(&mnt);
}

/// A JSON value as `--json` prints it, parsed strictly enough to prove
/// the output is JSON (RFC 8259 minus fractions and exponents, which
/// rdaos never prints).
#[derive(Debug, Clone, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(u64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    /// Parses a whole document (one line, as rdaos prints it).
    fn parse(text: &str) -> J {
        let t = text.strip_suffix('\n').unwrap_or(text);
        assert!(!t.contains('\n'), "JSON on more than one line: {text}");
        let mut p = Parser(t.as_bytes(), 0);
        let v = p.value();
        assert_eq!(p.1, t.len(), "trailing bytes after the JSON: {text}");
        v
    }

    /// The value of `key` in an object.
    fn get(&self, key: &str) -> &J {
        match self {
            J::Obj(kv) => kv
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no {key:?} in {self:?}")),
            _ => panic!("{self:?} is not an object"),
        }
    }

    /// An object's keys, in order.
    fn keys(&self) -> Vec<&str> {
        match self {
            J::Obj(kv) => kv.iter().map(|(k, _)| k.as_str()).collect(),
            _ => panic!("{self:?} is not an object"),
        }
    }

    fn num(&self) -> u64 {
        match self {
            J::Num(n) => *n,
            _ => panic!("{self:?} is not a number"),
        }
    }

    fn str(&self) -> &str {
        match self {
            J::Str(s) => s,
            _ => panic!("{self:?} is not a string"),
        }
    }

    fn arr(&self) -> &[J] {
        match self {
            J::Arr(v) => v,
            _ => panic!("{self:?} is not an array"),
        }
    }
}

struct Parser<'a>(&'a [u8], usize);

impl Parser<'_> {
    fn peek(&self) -> u8 {
        *self.0.get(self.1).expect("JSON ends early")
    }

    fn eat(&mut self, b: u8) {
        assert_eq!(self.peek() as char, b as char, "at byte {}", self.1);
        self.1 += 1;
    }

    fn lit(&mut self, word: &str, v: J) -> J {
        assert!(
            self.0[self.1..].starts_with(word.as_bytes()),
            "at {}",
            self.1
        );
        self.1 += word.len();
        v
    }

    fn value(&mut self) -> J {
        match self.peek() {
            b'n' => self.lit("null", J::Null),
            b't' => self.lit("true", J::Bool(true)),
            b'f' => self.lit("false", J::Bool(false)),
            b'"' => J::Str(self.string()),
            b'[' => {
                self.eat(b'[');
                let mut v = Vec::new();
                while self.peek() != b']' {
                    if !v.is_empty() {
                        self.eat(b',');
                    }
                    v.push(self.value());
                }
                self.eat(b']');
                J::Arr(v)
            }
            b'{' => {
                self.eat(b'{');
                let mut kv = Vec::new();
                while self.peek() != b'}' {
                    if !kv.is_empty() {
                        self.eat(b',');
                    }
                    let k = self.string();
                    self.eat(b':');
                    kv.push((k, self.value()));
                }
                self.eat(b'}');
                J::Obj(kv)
            }
            b'0'..=b'9' => {
                let start = self.1;
                while self.1 < self.0.len() && self.0[self.1].is_ascii_digit() {
                    self.1 += 1;
                }
                let digits = std::str::from_utf8(&self.0[start..self.1]).unwrap();
                assert!(digits == "0" || !digits.starts_with('0'), "{digits}");
                J::Num(digits.parse().unwrap())
            }
            b => panic!("unexpected {:?} at byte {}", b as char, self.1),
        }
    }

    fn string(&mut self) -> String {
        self.eat(b'"');
        let mut out = Vec::new();
        loop {
            let b = self.peek();
            self.1 += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let e = self.peek();
                    self.1 += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'u' => {
                            let hex = std::str::from_utf8(&self.0[self.1..self.1 + 4]).unwrap();
                            let c = char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap();
                            self.1 += 4;
                            out.extend(c.to_string().bytes());
                        }
                        e => panic!("bad escape \\{}", e as char),
                    }
                }
                b if b < 0x20 => panic!("raw control byte in a JSON string"),
                b => out.push(b),
            }
        }
        String::from_utf8(out).expect("UTF-8")
    }
}

/// `rdaos pool get-prop` shows the pool's properties (one with PROP),
/// the durability contract as chosen and as in force; `set-prop`
/// relabels the pool (directory and metadata: its engine, device and
/// containers follow), refusing a taken or bad label, changes the
/// contract stored in pool.meta (in force from the next engine start),
/// and refuses the read-only properties by name.
#[test]
fn pool_get_prop_and_set_prop() {
    let d = Dir::new("props");
    let s = d.0.as_path();
    let out = ok(s, &["pool", "create", "tank", "--size", "64M", "-t", "1"]);
    let uuid = field(&out, "UUID").to_string();
    ok(s, &["cont", "create", "tank", "c"]);

    let out = ok(s, &["pool", "get-prop", "tank"]);
    assert!(out.starts_with("Properties of pool \"tank\"\n"), "{out}");
    assert_eq!(field(&out, "label"), "tank");
    assert_eq!(field(&out, "uuid"), uuid);
    assert_eq!(field(&out, "size"), "64.0 MiB");
    assert_eq!(field(&out, "targets"), "1");
    let dur = field(&out, "durability");
    assert!(dur.starts_with("auto (in force: "), "{dur}");
    assert!(dur.contains("the device has "), "{dur}");
    let out = ok(s, &["pool", "get-prop", "tank", "size"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_eq!(field(&out, "size"), "64.0 MiB");

    // The contract: stored in pool.meta, in force from the next start.
    let out = ok(s, &["pool", "set-prop", "tank", "durability=flush"]);
    assert!(out.contains("durability flush (was auto)"), "{out}");
    assert!(out.contains("next engine start"), "{out}");
    let meta = std::fs::read_to_string(s.join("tank/pool.meta")).unwrap();
    assert!(meta.contains("\ndurability flush\n"), "{meta}");
    let out = ok(s, &["pool", "get-prop", "tank", "durability"]);
    assert!(
        field(&out, "durability").starts_with("flush (in force: flush; "),
        "{out}"
    );
    let q = ok(s, &["pool", "query", "tank"]);
    assert!(field(&q, "Durability").starts_with("flush "), "{q}");
    // DAOS's NAME:VALUE form too.
    ok(s, &["pool", "set-prop", "tank", "durability:device"]);
    let out = ok(s, &["pool", "get-prop", "tank", "durability"]);
    assert!(field(&out, "durability").starts_with("device (in force: device; "));
    fails(
        s,
        &["pool", "set-prop", "tank", "durability=fast"],
        1,
        "unknown durability",
    );

    // Relabel: the directory moves, the pool and its container follow.
    let out = ok(s, &["pool", "set-prop", "tank", "label=vat"]);
    assert!(
        out.contains("Pool \"tank\" is now labelled \"vat\""),
        "{out}"
    );
    assert!(!s.join("tank").exists());
    assert!(s.join("vat/pool.dev").is_file());
    let meta = std::fs::read_to_string(s.join("vat/pool.meta")).unwrap();
    assert!(meta.contains("\nlabel vat\n"), "{meta}");
    let q = ok(s, &["pool", "query", "vat"]);
    assert_eq!(field(&q, "UUID"), uuid);
    assert_eq!(conts(s, "vat"), ["c"]);
    fails(s, &["pool", "query", "tank"], 1, "pool \"tank\" not found");
    // Taken, bad or hidden labels are refused; the pool stays.
    ok(s, &["pool", "create", "other", "--size", "64M", "-t", "1"]);
    fails(
        s,
        &["pool", "set-prop", "vat", "label=other"],
        1,
        "pool \"other\" already exists",
    );
    std::fs::create_dir(s.join("empty")).unwrap();
    fails(
        s,
        &["pool", "set-prop", "vat", "label=empty"],
        1,
        "pool \"empty\" already exists",
    );
    for (bad, why) in [
        ("a/b", "uses only"),
        (".h", "cannot start with ."),
        ("", "1 to 127"),
    ] {
        fails(
            s,
            &["pool", "set-prop", "vat", &format!("label={bad}")],
            1,
            why,
        );
    }
    fails(
        s,
        &["pool", "set-prop", "nope", "label=x"],
        1,
        "pool \"nope\" not found",
    );
    let out = ok(s, &["pool", "set-prop", "vat", "label=vat"]);
    assert!(out.contains("nothing changed"), "{out}");
    assert_eq!(field(&ok(s, &["pool", "query", "vat"]), "UUID"), uuid);

    // Read-only properties are refused by name; unknown ones are usage errors.
    for prop in ["uuid", "size", "targets", "engines", "device", "created"] {
        fails(
            s,
            &["pool", "set-prop", "vat", &format!("{prop}=1")],
            1,
            &format!("pool property {prop} is read-only"),
        );
    }
    fails(
        s,
        &["pool", "set-prop", "vat", "reclaim=lazy"],
        2,
        "unknown pool property \"reclaim\" (known: label, uuid",
    );
    fails(
        s,
        &["pool", "set-prop", "vat", "label"],
        2,
        "is not PROP=VALUE",
    );
    fails(
        s,
        &["pool", "get-prop", "vat", "nope"],
        2,
        "possible values",
    );
    let names: Vec<String> = std::fs::read_dir(s)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, ["empty", "other", "vat"]);
}

/// A relabel killed (SIGKILL) after each of its durable steps leaves the
/// pool whole under one label, with its container, and the next command
/// tidies up what the relabel left.
#[test]
fn pool_relabel_killed_at_every_step_leaves_one_whole_pool() {
    let d = Dir::new("relabel-crash");
    let s = d.0.as_path();
    let out = ok(s, &["pool", "create", "a", "--size", "64M", "-t", "1"]);
    let uuid = field(&out, "UUID").to_string();
    ok(s, &["cont", "create", "a", "c"]);
    for (step, from, to, lands) in [("next", "a", "b", "a"), ("dir", "a", "b", "b")] {
        killed_at(
            s,
            &format!("pool-relabel:{step}"),
            &["pool", "set-prop", from, &format!("label={to}")],
        );
        let list = ok(s, &["pool", "list"]);
        let labels: Vec<&str> = list
            .lines()
            .skip(2)
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(labels, [lands], "after {step}: {list}");
        assert!(
            !s.join(lands).join("pool.meta.next").exists(),
            "after {step}: the relabel's file stayed"
        );
        let q = ok(s, &["pool", "query", lands]);
        assert_eq!(field(&q, "UUID"), uuid, "after {step}");
        assert_eq!(conts(s, lands), ["c"], "after {step}");
        let other = if lands == from { to } else { from };
        fails(
            s,
            &["pool", "query", other],
            1,
            &format!("pool {other:?} not found"),
        );
    }
    // And it can be relabelled back whole.
    ok(s, &["pool", "set-prop", "b", "label=a"]);
    assert_eq!(conts(s, "a"), ["c"]);
}

/// `--json` (`-j`) on every query and list verb: one line of JSON with
/// snake_case keys, sizes in bytes as numbers, the same facts as the
/// tables.
#[test]
fn query_and_list_verbs_print_json() {
    let d = Dir::new("json");
    let s = d.0.as_path();
    let j = |args: &[&str]| J::parse(&ok(s, args));
    let v = j(&["pool", "list", "--json"]);
    assert_eq!(v.keys(), ["storage", "pools", "unreadable"]);
    assert!(v.get("pools").arr().is_empty());
    let out = ok(s, &["pool", "create", "tank", "--size", "128M", "-t", "2"]);
    let uuid = field(&out, "UUID").to_string();
    ok(
        s,
        &["cont", "create", "tank", "posix", "--chunk-size", "512K"],
    );
    std::fs::create_dir(s.join("junk")).unwrap();

    let pool_keys = [
        "label",
        "uuid",
        "size",
        "engines",
        "targets",
        "targets_per_engine",
        "device",
        "created",
        "durability",
    ];
    let v = j(&["pool", "list", "-j"]);
    assert_eq!(v.get("storage").str(), s.to_str().unwrap());
    let pools = v.get("pools").arr();
    assert_eq!(pools.len(), 1);
    let p = &pools[0];
    // POOL's keys, then the space read from the pool's checkpoints.
    let mut list_keys = pool_keys.to_vec();
    list_keys.extend(["data_space", "used", "free", "space_exact"]);
    assert_eq!(p.keys(), list_keys);
    assert_eq!(p.get("label").str(), "tank");
    assert_eq!(p.get("uuid").str(), uuid);
    assert_eq!(p.get("size").num(), 128 << 20);
    assert_eq!(p.get("targets").num(), 2);
    assert_eq!(p.get("engines").num(), 1);
    assert_eq!(p.get("durability").str(), "auto");
    assert!(p.get("created").num() > 1_600_000_000);
    assert_eq!(
        p.get("device").str(),
        s.join("tank/pool.dev").to_str().unwrap()
    );
    let bad = v.get("unreadable").arr();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].get("label").str(), "junk");
    assert!(bad[0].get("error").str().contains("not a pool"));
    std::fs::remove_dir(s.join("junk")).unwrap();

    let v = j(&["pool", "get-prop", "tank", "--json"]);
    let mut keys = pool_keys.to_vec();
    keys.extend(["durability_in_force", "device_write_cache"]);
    assert_eq!(v.keys(), keys);
    assert_eq!(v.get("size").num(), 128 << 20);
    assert!(["device", "flush"].contains(&v.get("durability_in_force").str()));
    let v = j(&["pool", "get-prop", "tank", "uuid", "-j"]);
    assert_eq!(v, J::Obj(vec![("uuid".into(), J::Str(uuid.clone()))]));

    let v = j(&["pool", "query", "tank", "-j"]);
    for k in ["uuid", "size", "data_space", "used", "free", "per_target"] {
        v.get(k);
    }
    let (total, used, free) = (
        v.get("data_space").num(),
        v.get("used").num(),
        v.get("free").num(),
    );
    assert!(
        used > 0 && total == used + free && total < 128 << 20,
        "{v:?}"
    );
    let per = v.get("per_target").arr();
    assert_eq!(per.len(), 2);
    assert_eq!(
        per[1].keys(),
        ["engine", "target", "data_space", "used", "free"]
    );
    assert_eq!(per[1].get("target").num(), 1);
    let sum: u64 = per.iter().map(|t| t.get("free").num()).sum();
    assert_eq!(sum, free);

    let v = j(&["cont", "list", "tank", "-j"]);
    assert_eq!(v.get("pool").str(), "tank");
    let cs = v.get("containers").arr();
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0].keys(), ["uuid", "label"]);
    assert_eq!(cs[0].get("label").str(), "posix");
    let cuuid = cs[0].get("uuid").str().to_string();

    let v = j(&["cont", "get-prop", "tank", "posix", "-j"]);
    assert_eq!(
        v.keys(),
        [
            "label",
            "uuid",
            "type",
            "oclass",
            "dir_oclass",
            "chunk_size"
        ]
    );
    assert_eq!(v.get("uuid").str(), cuuid);
    assert_eq!(v.get("type").str(), "POSIX");
    assert_eq!(v.get("oclass").str(), "SX");
    assert_eq!(v.get("chunk_size").num(), 512 << 10);

    let v = j(&["cont", "query", "tank", "posix", "--json"]);
    assert_eq!(v.get("pool").str(), "tank");
    assert_eq!(v.get("pool_uuid").str(), uuid);
    assert_eq!(v.get("chunk_size").num(), 512 << 10);
    assert_eq!(v.get("pool_data_space").num(), total);
    assert_eq!(v.get("pool_used").num(), used);
    // The table says the same, and whose space it is.
    let q = ok(s, &["cont", "query", "tank", "posix"]);
    assert!(
        field(&q, "Pool used").ends_with("shared by the pool's containers"),
        "{q}"
    );
    assert!(field(&q, "Pool free").ends_with("MiB"), "{q}");
}

/// Where io_uring cannot be set up (kernel.io_uring_disabled, a seccomp
/// profile, an old kernel), every verb that starts an engine fails with
/// one line that says so and what to change. The failure is injected
/// with strace (the same errno the kernel gives when io_uring is
/// disabled, without changing the machine's sysctl); skipped without
/// strace.
#[test]
fn io_uring_that_cannot_be_set_up_is_explained() {
    let traced = Command::new("strace").arg("-V").output();
    if !traced.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIP: needs strace to inject io_uring_setup errors");
        return;
    }
    let d = Dir::new("uring");
    let s = d.0.as_path();
    ok(s, &["pool", "create", "p", "--size", "64M", "-t", "1"]);
    let with_errno = |errno: &str, args: &[&str]| {
        let o = Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=io_uring_setup"])
            .arg(format!("-einject=io_uring_setup:error={errno}"))
            .arg(env!("CARGO_BIN_EXE_rdaos"))
            .arg("--storage")
            .arg(s)
            .args(args)
            .env_remove("RDAOS_STORAGE")
            .output()
            .expect("run strace");
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        err
    };
    for args in [
        &["pool", "query", "p"][..],
        &["pool", "create", "q", "--size", "64M", "-t", "1"],
    ] {
        let err = with_errno("EPERM", args);
        assert!(
            err.contains("setting up io_uring: Operation not permitted"),
            "{err}"
        );
        assert!(err.contains("kernel.io_uring_disabled"), "{err}");
        // The errno is said once, as the system says it.
        assert_eq!(err.matches("os error 1)").count(), 1, "{err}");
        assert!(!err.contains("(errno"), "{err}");
    }
    let err = with_errno("ENOSYS", &["cont", "list", "p"]);
    assert!(err.contains("this kernel has no io_uring"), "{err}");
    let err = with_errno("EINVAL", &["pool", "query", "p"]);
    assert!(err.contains("Linux 5.19 or later"), "{err}");
    // Nothing was left by the failed create.
    let list = ok(s, &["pool", "list"]);
    assert_eq!(list.lines().count(), 3, "{list}");
}

/// `cont set-prop POOL CONT label=NEW` relabels a container on every
/// target, keeping its id and layout; read-only properties and taken or
/// bad labels are refused with one line. Killed (SIGKILL, a real
/// process) after each of its steps, the container is whole under one
/// of its two labels at the next command, never both or neither, and no
/// intent file stays.
#[test]
fn cont_relabel_killed_at_every_step_leaves_one_whole_container() {
    let d = Dir::new("cont-relabel");
    let s = d.0.as_path();
    ok(s, &["pool", "create", "p", "--size", "96M", "-t", "3"]);
    let out = ok(
        s,
        &[
            "cont",
            "create",
            "p",
            "a",
            "--oclass",
            "S2",
            "--chunk-size",
            "512K",
        ],
    );
    let uuid = field(&out, "UUID").to_string();
    ok(s, &["cont", "create", "p", "other"]);
    let props = |label: &str| {
        let q = ok(s, &["cont", "get-prop", "p", label]);
        assert_eq!(field(&q, "Label"), label, "{q}");
        assert_eq!(field(&q, "UUID"), uuid, "{q}");
        assert_eq!(field(&q, "Type"), "POSIX", "{q}");
        assert_eq!(field(&q, "Object class"), "S2", "{q}");
        assert_eq!(field(&q, "Chunk size"), "512 KiB", "{q}");
    };
    // Refusals first: nothing changes.
    fails(
        s,
        &["cont", "set-prop", "p", "a", "label=other"],
        1,
        "already exists",
    );
    fails(
        s,
        &["cont", "set-prop", "p", "a", "label=no spaces"],
        1,
        "bad container label",
    );
    fails(
        s,
        &["cont", "set-prop", "p", "a", "oclass=S1"],
        1,
        "read-only",
    );
    fails(
        s,
        &["cont", "set-prop", "p", "a", "color=red"],
        2,
        "unknown container property",
    );
    fails(
        s,
        &["cont", "set-prop", "p", "nope", "label=b"],
        1,
        "not found",
    );
    let out = ok(s, &["cont", "set-prop", "p", "a", "label=a"]);
    assert!(out.contains("nothing changed"), "{out}");
    props("a");

    let steps = ["intent", "target-0", "target-1", "target-2"];
    let (mut from, mut to) = ("a", "b");
    for step in steps {
        killed_at(
            s,
            &format!("cont-relabel:{step}"),
            &["cont", "set-prop", "p", from, &format!("label={to}")],
        );
        // The next engine start finishes it: the new label, whole.
        let mut labels = conts(s, "p");
        labels.sort();
        let mut want = vec![to.to_string(), "other".to_string()];
        want.sort();
        assert_eq!(labels, want, "after {step}");
        props(to);
        fails(s, &["cont", "get-prop", "p", from], 1, "not found");
        let left: Vec<String> = std::fs::read_dir(s.join("p"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("intent"))
            .collect();
        assert!(left.is_empty(), "after {step}: {left:?}");
        (from, to) = (to, from);
    }
    // Uninterrupted, and DAOS's NAME:VALUE spelling.
    let out = ok(s, &["cont", "set-prop", "p", from, "label:renamed"]);
    assert!(out.contains("now labelled \"renamed\""), "{out}");
    props("renamed");
    let j = J::parse(&ok(s, &["cont", "get-prop", "p", "renamed", "--json"]));
    assert_eq!(j.get("label").str(), "renamed");
    assert_eq!(j.get("uuid").str(), uuid);
    // The old label is free for a new container.
    ok(s, &["cont", "create", "p", from]);
    ok(s, &["cont", "destroy", "p", from]);
}

/// `RDAOS_KILL_AT` is a test hook: only its documented values arm it
/// (and the process says so on stderr); any other value is refused
/// before anything runs, so a stray setting neither kills a command nor
/// goes unnoticed.
#[test]
fn the_kill_hook_takes_only_its_documented_values() {
    let d = Dir::new("kill-hook");
    let s = d.0.as_path();
    for bad in [
        "1",
        "cont-create",
        "cont-create:superblock ",
        "pool-relabel:nex",
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_rdaos"))
            .arg("--storage")
            .arg(s)
            .args(["pool", "list"])
            .env_remove("RDAOS_STORAGE")
            .env("RDAOS_KILL_AT", bad)
            .output()
            .expect("run rdaos");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {err}");
        assert!(
            err.contains("is not one of the test hook's values"),
            "{err}"
        );
        assert!(err.contains("cont-relabel:target-N"), "{err}");
    }
    // A documented value of another verb: armed, said, and harmless here.
    let o = Command::new(env!("CARGO_BIN_EXE_rdaos"))
        .arg("--storage")
        .arg(s)
        .args(["pool", "list"])
        .env_remove("RDAOS_STORAGE")
        .env("RDAOS_KILL_AT", "pool-relabel:dir")
        .output()
        .expect("run rdaos");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("test hook armed"), "{err}");
}

/// Whether `p` is a mount point now (in /proc/self/mounts).
fn is_mounted(p: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let p = p.to_str().unwrap();
    mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(p))
}

/// Root and /dev/fuse, or a printed reason to skip.
fn fuse_as_root(what: &str) -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    if !Path::new("/dev/fuse").exists() || unsafe { rdaos::dfs::errno::libc::geteuid() } != 0 {
        eprintln!("SKIP: {what} needs root and /dev/fuse");
        return false;
    }
    true
}

/// A `rdaos dfuse --foreground` child, its standard error read line by
/// line on a thread (the daemon's log in the foreground).
struct Daemon {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
    mnts: Vec<PathBuf>,
}

impl Daemon {
    /// Starts `rdaos --storage dir dfuse -f args...` and waits until every
    /// mount point of `mnts` is mounted.
    fn start(dir: &Path, args: &[&str], mnts: &[&Path]) -> Daemon {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_rdaos"))
            .arg("--storage")
            .arg(dir)
            .args(["dfuse", "--foreground"])
            .args(args)
            .env_remove("RDAOS_STORAGE")
            .env("RDAOS_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run rdaos dfuse");
        let err = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(err).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut d = Daemon {
            child,
            lines,
            seen: Vec::new(),
            mnts: mnts.iter().map(|m| m.to_path_buf()).collect(),
        };
        for m in mnts {
            d.wait_line(&format!("mounted at {}", m.display()));
        }
        for m in mnts {
            assert!(is_mounted(m), "{} is not mounted", m.display());
        }
        d
    }

    /// Waits for a line of the log containing `want`; returns it.
    fn wait_line(&mut self, want: &str) -> String {
        loop {
            match self.lines.recv_timeout(std::time::Duration::from_secs(120)) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(want) {
                        return l;
                    }
                }
                Err(_) => panic!("no log line with {want:?}; the log: {:#?}", self.seen),
            }
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill touches no memory; the child is ours and alive.
        unsafe { rdaos::dfs::errno::libc::kill(self.child.id() as i32, sig) };
    }

    /// Waits for the daemon to exit; its status and the rest of its log.
    fn wait(mut self) -> (std::process::ExitStatus, String) {
        let st = self.child.wait().unwrap();
        while let Ok(l) = self.lines.recv_timeout(std::time::Duration::from_secs(10)) {
            self.seen.push(l);
        }
        (st, self.seen.join("\n"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for m in &self.mnts {
            let _ = Command::new("umount").arg("-l").arg(m).output();
        }
    }
}

/// Every target of `pool check` replays nothing: the pool was closed
/// with a checkpoint and reopens clean.
fn reopens_clean(s: &Path, pool: &str) {
    let out = ok(s, &["pool", "check", pool]);
    for row in out.lines().skip(3) {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols.get(3), Some(&"0"), "replays after the stop: {out}");
        assert_eq!(cols.get(4), Some(&"ok"), "{out}");
    }
}

/// SIGINT / SIGTERM of `rdaos dfuse` with a file held open: the mount is
/// unmounted at once (lazily), the log says how many files are open and
/// how long it waits; closing the file lets it stop cleanly (status 0).
/// With a file still open, a second signal stops it at once, and so does
/// the end of the wait (status 1, saying so); either way the pool is
/// closed with a checkpoint (it reopens with nothing to replay) and
/// every write that was acknowledged (fsync) is there at the next mount.
#[test]
fn dfuse_on_a_signal_says_what_is_open_and_a_second_one_stops_it_at_once() {
    use rdaos::dfs::errno::libc::{SIGINT, SIGTERM};
    use std::io::Write;
    if !fuse_as_root("the dfuse signal test") {
        return;
    }
    let d = Dir::new("dfuse-sig");
    let s = d.0.as_path();
    let mnt = d.0.with_extension("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let m = mnt.to_str().unwrap();
    ok(s, &["pool", "create", "p", "--size", "128M", "-t", "2"]);
    ok(s, &["cont", "create", "p", "c"]);
    let args = ["-m", m, "-p", "p", "-c", "c", "--request-timeout", "600"];

    // 1. SIGTERM, then the file is closed: a clean stop.
    let mut dm = Daemon::start(s, &args, &[&mnt]);
    let mut held = std::fs::File::create(mnt.join("held")).unwrap();
    held.write_all(b"first").unwrap();
    held.sync_all().unwrap();
    dm.signal(SIGTERM);
    let l = dm.wait_line("still open");
    assert!(l.contains("SIGTERM"), "{l}");
    assert!(l.contains("with 1 file still open"), "{l}");
    assert!(l.contains("waiting up to 600 s"), "{l}");
    assert!(dm.child.try_wait().unwrap().is_none(), "it did not wait");
    assert!(!is_mounted(&mnt), "not unmounted at the signal");
    drop(held);
    let (st, log) = dm.wait();
    assert_eq!(st.code(), Some(0), "{log}");
    reopens_clean(s, "p");

    // 2. SIGINT, then SIGINT again with the file still open.
    let mut dm = Daemon::start(s, &args, &[&mnt]);
    assert_eq!(std::fs::read(mnt.join("held")).unwrap(), b"first");
    let mut held = std::fs::OpenOptions::new()
        .append(true)
        .open(mnt.join("held"))
        .unwrap();
    held.write_all(b" second").unwrap();
    held.sync_all().unwrap();
    dm.signal(SIGINT);
    let l = dm.wait_line("still open");
    assert!(l.contains("SIGINT") && l.contains("1 file"), "{l}");
    dm.signal(SIGINT);
    let (st, log) = dm.wait();
    assert_eq!(st.code(), Some(1), "{log}");
    assert!(
        log.contains("SIGINT again: stopping at once with 1 file still open"),
        "{log}"
    );
    assert!(
        log.contains("stopped with 1 file still open (a second signal)"),
        "{log}"
    );
    // The daemon is gone: the file's mount answers no more.
    let e = held.write_all(b"late").and_then(|()| held.sync_all());
    assert!(e.is_err(), "a write after the daemon exited succeeded");
    drop(held);
    reopens_clean(s, "p");

    // 3. SIGTERM, and the wait runs out with the file still open.
    let short = ["-m", m, "-p", "p", "-c", "c", "--request-timeout", "1"];
    let mut dm = Daemon::start(s, &short, &[&mnt]);
    let held = std::fs::File::open(mnt.join("held")).unwrap();
    dm.signal(SIGTERM);
    dm.wait_line("still open");
    let (st, log) = dm.wait();
    assert_eq!(st.code(), Some(1), "{log}");
    assert!(log.contains("still open after 1 s"), "{log}");
    assert!(log.contains("the wait for them ran out"), "{log}");
    drop(held);
    reopens_clean(s, "p");

    // Everything acknowledged is there.
    let _dm = Daemon::start(s, &args, &[&mnt]);
    assert_eq!(std::fs::read(mnt.join("held")).unwrap(), b"first second");
}

/// Several containers of one pool mounted by one `rdaos dfuse` (the Nth
/// --mountpoint mounts the Nth --cont): one engine, one FUSE session
/// each; writes in both read back, one mount unmounted from outside
/// leaves the other served, and the daemon stops once both are gone;
/// a remount of each shows its own files. Unpaired or repeated mounts
/// are usage errors.
#[test]
fn dfuse_mounts_several_containers_of_a_pool_in_one_process() {
    let d = Dir::new("dfuse-two");
    let s = d.0.as_path();
    let (ma, mb) = (d.0.with_extension("a"), d.0.with_extension("b"));
    std::fs::create_dir_all(&ma).unwrap();
    std::fs::create_dir_all(&mb).unwrap();
    let (a, b) = (ma.to_str().unwrap(), mb.to_str().unwrap());
    ok(s, &["pool", "create", "p", "--size", "128M", "-t", "2"]);
    fails(
        s,
        &["dfuse", "-p", "p", "-m", a, "-c", "x", "-m", b],
        2,
        "2 mount points and 1 containers",
    );
    fails(
        s,
        &["dfuse", "-p", "p", "-m", a, "-c", "x", "-m", a, "-c", "y"],
        2,
        "given twice",
    );
    fails(
        s,
        &["dfuse", "-p", "p", "-m", a, "-c", "x", "-m", b, "-c", "x"],
        2,
        "given twice",
    );
    if !fuse_as_root("mounting two containers") {
        return;
    }
    ok(s, &["cont", "create", "p", "x"]);
    fails(
        s,
        &["dfuse", "-p", "p", "-m", a, "-c", "x", "-m", b, "-c", "y"],
        1,
        "container \"y\" not found in pool \"p\"",
    );
    assert!(!is_mounted(&ma));
    ok(s, &["cont", "create", "p", "y"]);
    let two = ["-p", "p", "-m", a, "-c", "x", "-m", b, "-c", "y"];
    let dm = Daemon::start(s, &two, &[&ma, &mb]);
    let (da, db) = (vec![0xAAu8; 3 << 20], vec![0xBBu8; 5 << 20]);
    std::fs::write(ma.join("f"), &da).unwrap();
    std::fs::write(mb.join("f"), &db).unwrap();
    std::fs::create_dir(mb.join("only-in-y")).unwrap();
    assert_eq!(std::fs::read(ma.join("f")).unwrap(), da);
    assert_eq!(std::fs::read(mb.join("f")).unwrap(), db);
    assert!(!ma.join("only-in-y").exists());
    // One unmounted from outside: the other is still served.
    assert!(Command::new("umount").arg(&ma).status().unwrap().success());
    assert_eq!(std::fs::read(mb.join("f")).unwrap(), db);
    assert!(Command::new("umount").arg(&mb).status().unwrap().success());
    let (st, log) = dm.wait();
    assert_eq!(st.code(), Some(0), "{log}");
    reopens_clean(s, "p");
    // Daemonized, both again: each container kept its own files.
    let out = ok(
        s,
        &["dfuse", "-p", "p", "-m", b, "-c", "x", "-m", a, "-c", "y"],
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    let (xa, yb) = (std::fs::read(mb.join("f")), std::fs::read(ma.join("f")));
    let dir_y = ma.join("only-in-y").is_dir();
    for m in [&ma, &mb] {
        assert!(Command::new("umount").arg(m).status().unwrap().success());
    }
    assert_eq!(xa.unwrap(), da);
    assert_eq!(yb.unwrap(), db);
    assert!(dir_y);
    // The daemon let go of the pool.
    let mut tries = 0;
    while rdaos(s, &["pool", "query", "p"]).status.code() != Some(0) {
        tries += 1;
        assert!(tries < 100, "the daemon kept the pool");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = std::fs::remove_dir(&ma);
    let _ = std::fs::remove_dir(&mb);
}

/// A system user made for one test and removed after it (fusermount3
/// needs the caller's uid in the user database).
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl TestUser {
    fn new(name: &str) -> Option<TestUser> {
        let _ = Command::new("userdel").arg(name).output();
        let made = Command::new("useradd")
            .args(["--system", "--no-create-home", "--user-group"])
            .args(["--shell", "/usr/sbin/nologin", name])
            .output()
            .ok()?;
        if !made.status.success() {
            eprintln!("useradd {name}: {}", String::from_utf8_lossy(&made.stderr));
            return None;
        }
        let id = |flag: &str| -> u32 {
            let o = Command::new("id").args([flag, name]).output().unwrap();
            String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
        };
        Some(TestUser {
            name: name.to_string(),
            uid: id("-u"),
            gid: id("-g"),
        })
    }

    /// `program args...` as this user (its own group only).
    fn cmd(&self, program: &str, args: &[&str]) -> Command {
        use std::os::unix::process::CommandExt;
        let (uid, gid) = (self.uid, self.gid);
        let mut c = Command::new(program);
        c.args(args).env_remove("RDAOS_STORAGE").current_dir("/");
        // SAFETY: between fork and exec the closure makes only the
        // async-signal-safe calls setgroups, setresgid and setresuid.
        unsafe {
            c.pre_exec(move || {
                use rdaos::dfs::errno::libc;
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setresgid(gid, gid, gid) != 0
                    || libc::setresuid(uid, uid, uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        c
    }

    /// Runs it, expects success, returns stdout.
    fn ok(&self, program: &str, args: &[&str]) -> String {
        let o = self.cmd(program, args).output().expect("run as the user");
        assert!(
            o.status.success(),
            "{program} {args:?} as {}: {}{}",
            self.name,
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel")
            .args(["--force", &self.name])
            .output();
    }
}

/// `rdaos dfuse` by a user who is not root, on a directory the user
/// owns: the mount goes through fusermount3 (libfuse's setuid helper),
/// serves that user, stops at the user's `fusermount3 -u`, and on
/// SIGTERM unmounts through the helper too. The user is made by the
/// test (root is needed for that); skipped, saying why, where
/// fusermount3 cannot run: not installed, or /dev/fuse not open to
/// users (a container without udev's rule for it).
#[test]
fn dfuse_without_root_mounts_through_fusermount3() {
    use std::os::unix::fs::PermissionsExt;
    if !fuse_as_root("making a user for the fusermount3 test") {
        return;
    }
    let Some(helper) = ["/usr/bin/fusermount3", "/bin/fusermount3"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
    else {
        eprintln!("SKIP: fusermount3 is not installed (apt package fuse3)");
        return;
    };
    let mode = std::fs::metadata("/dev/fuse").unwrap().permissions().mode();
    if mode & 0o006 != 0o006 {
        eprintln!(
            "SKIP: /dev/fuse is mode {:o}: fusermount3 opens it as the user, so users cannot \
             mount here (udev's rule makes it 0666; `chmod 0666 /dev/fuse` does the same)",
            mode & 0o777
        );
        return;
    }
    let Some(u) = TestUser::new(&format!("rdaos-t{}", std::process::id() % 100_000)) else {
        eprintln!("SKIP: cannot make a user (useradd)");
        return;
    };
    let d = Dir::new("nonroot");
    let base = d.0.as_path();
    let (s, mnt) = (base.join("s"), base.join("m"));
    std::fs::create_dir_all(&mnt).unwrap();
    for p in [base, &mnt] {
        std::os::unix::fs::chown(p, Some(u.uid), Some(u.gid)).unwrap();
    }
    let (sa, m) = (s.to_str().unwrap(), mnt.to_str().unwrap());
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).output();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let bin = env!("CARGO_BIN_EXE_rdaos");
    let rd = |args: &[&str]| {
        let mut all = vec!["--storage", sa];
        all.extend_from_slice(args);
        u.ok(bin, &all)
    };
    rd(&["pool", "create", "p", "--size", "64M", "-t", "1"]);
    rd(&["cont", "create", "p", "c"]);
    let out = rd(&["dfuse", m, "p", "c"]);
    assert!(out.contains("mounted at"), "{out}");
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let line = mounts
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(m))
        .unwrap_or_else(|| panic!("{m} not mounted: {mounts}"));
    assert!(line.contains(&format!("user_id={}", u.uid)), "{line}");
    u.ok(
        "bash",
        &["-c", &format!("printf 'not root' > {m}/f && mkdir {m}/d")],
    );
    let ls = u.ok("stat", &["-c", "%u %g %n", &format!("{m}/f")]);
    assert_eq!(ls.trim(), format!("{} {} {m}/f", u.uid, u.gid));
    u.ok(helper, &["-u", m]);
    // The daemon stops at the unmount and lets go of the pool.
    let mut tries = 0;
    while u
        .cmd(bin, &["--storage", sa, "pool", "query", "p"])
        .output()
        .unwrap()
        .status
        .code()
        != Some(0)
    {
        tries += 1;
        assert!(tries < 100, "the daemon kept the pool");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // In the foreground, SIGTERM unmounts through the helper.
    /// The foreground daemon, killed if the test fails first.
    struct Kill(Option<std::process::Child>);
    impl Drop for Kill {
        fn drop(&mut self) {
            if let Some(c) = &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let mut child = Kill(Some(
        u.cmd(bin, &["--storage", sa, "dfuse", "-f", m, "p", "c"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let mut tries = 0;
    while !is_mounted(&mnt) {
        tries += 1;
        let exited = child.0.as_mut().unwrap().try_wait().unwrap();
        assert!(
            tries < 600 && exited.is_none(),
            "the foreground daemon did not mount"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(u.ok("cat", &[&format!("{m}/f")]), "not root");
    u.ok("test", &["-d", &format!("{m}/d")]);
    let child = child.0.take().unwrap();
    // SAFETY: kill touches no memory; the child is ours.
    unsafe { rdaos::dfs::errno::libc::kill(child.id() as i32, rdaos::dfs::errno::libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!is_mounted(&mnt), "still mounted after SIGTERM");
}

#[test]
fn pool_list_shows_used_and_free_that_follow_writes_and_deletes() {
    use rdaos::dfs::{Dfs, DfsAttr, OpenFlags};
    use rdaos::obj::transport::BulkRef;
    use rdaos::storage::Storage;

    let d = Dir::new("space");
    let s = d.0.as_path();
    ok(s, &["pool", "create", "tank", "--size", "128M", "-t", "2"]);
    let pool = |v: &J| -> (u64, u64, u64, bool) {
        let p = &v.get("pools").arr()[0];
        let exact = matches!(p.get("space_exact"), J::Bool(true));
        (
            p.get("data_space").num(),
            p.get("used").num(),
            p.get("free").num(),
            exact,
        )
    };
    let list = || pool(&J::parse(&ok(s, &["pool", "list", "--json"])));
    let (space, used, free, exact) = list();
    assert!(space > 64 << 20 && space < 128 << 20, "data space {space}");
    assert_eq!((used, free, exact), (0, space, true));
    let text = ok(s, &["pool", "list"]);
    let head = text.lines().next().unwrap();
    assert!(head.contains("Used") && head.contains("Free"), "{text}");
    assert!(text.contains("0 B (0%)"), "{text}");

    // 8 MiB written through the library; the engine's stop checkpoints.
    let st = Storage::open(s).unwrap();
    let conn = st.connect("tank").unwrap();
    conn.cont_create_posix("posix", DfsAttr::default(), &mut |_| {})
        .unwrap();
    let dfs = Dfs::mount(conn.client(), "posix").unwrap();
    let f = dfs
        .create(&dfs.root(), "f", 0o644, OpenFlags::read_write())
        .unwrap();
    for i in 0..8u64 {
        f.write(i << 20, BulkRef::from_vec(vec![7; 1 << 20]))
            .unwrap();
    }
    f.close().unwrap();
    // In use: read from the last checkpoints, and marked so.
    let (_, _, _, exact) = list();
    assert!(!exact, "an engine holds the pool");
    let text = ok(s, &["pool", "list"]);
    assert!(
        text.contains("* as of the pool's last checkpoints"),
        "{text}"
    );
    drop(dfs);
    conn.close().unwrap();
    let (_, used, free, exact) = list();
    assert!(exact);
    assert!((8 << 20..9 << 20).contains(&used), "used {used}");
    assert_eq!(used + free, space);

    // Deleted: the space is back at rest too.
    let conn = st.connect("tank").unwrap();
    let dfs = Dfs::mount(conn.client(), "posix").unwrap();
    dfs.unlink(&dfs.root(), "f").unwrap();
    drop(dfs);
    conn.close().unwrap();
    let (_, after, _, exact) = list();
    assert!(exact);
    assert!(after < 1 << 20, "used after the delete {after}");
}

/// A mount point left by a daemon that died without unmounting (SIGKILL)
/// answers every access with ENOTCONN: `rdaos dfuse` on it says so and
/// names the command that clears it, instead of "not a directory"; once
/// cleared, the same command mounts again.
#[test]
fn dfuse_explains_a_stale_mount_point_and_how_to_clear_it() {
    use rdaos::dfs::errno::libc::SIGKILL;
    if !fuse_as_root("the stale mount point test") {
        return;
    }
    let d = Dir::new("dfuse-stale");
    let s = d.0.as_path();
    let mnt = d.0.with_extension("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let m = mnt.to_str().unwrap();
    ok(s, &["pool", "create", "p", "--size", "128M", "-t", "2"]);
    ok(s, &["cont", "create", "p", "c"]);
    let args = ["-m", m, "-p", "p", "-c", "c"];
    let mut dm = Daemon::start(s, &args, &[&mnt]);
    dm.signal(SIGKILL);
    let _ = dm.child.wait();
    // The kernel keeps the mount; its daemon is gone.
    let e = std::fs::metadata(&mnt).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(107), "{e}");
    fails(
        s,
        &["dfuse", "-m", m, "-p", "p", "-c", "c"],
        1,
        "a stale mount, left by a dfuse that ended without unmounting",
    );
    let o = rdaos(s, &["dfuse", "-m", m, "-p", "p", "-c", "c"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("fusermount3 -u {m}")), "{err}");
    // Cleared as the message says, it mounts again.
    let u = Command::new("umount").arg("-l").arg(&mnt).output().unwrap();
    assert!(u.status.success());
    drop(dm);
    let dm = Daemon::start(s, &args, &[&mnt]);
    assert!(is_mounted(&mnt));
    drop(dm);
}
