//! Crash consistency of a vos target on an O_DIRECT file: a child process
//! (this test binary, re-executed) writes updates of random sizes and
//! records each acknowledged one in a side log; the parent kills it with
//! SIGKILL at a random moment, reopens the target (replaying the WAL) and
//! checks that every acknowledged update reads back exactly at its epoch.
//! Checksums on every extent mean a torn value can only show up as an
//! error, which fails the test. 20 rounds, each continuing the same pool,
//! under each durability contract: a process kill is what both promise
//! to survive (`device` without a single flush on the write path).

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rdaos::bio::{BioConfig, BioCtx, DevKind, DevOpts, Durability};
use rdaos::tse::Sched;
use rdaos::vos::{Cont, ContId, ObjId, Recx, Target};

/// The container every test here writes into.
const CONT: ContId = ContId(0x5eed);

fn co(t: &Target) -> Cont {
    t.cont_open(CONT).expect("the test container exists")
}

const REGION: u64 = 256 << 20;
const ROUNDS: u64 = 20;
const CHILD_ENV: &str = "RDAOS_CRASH_CHILD";

fn oid() -> ObjId {
    ObjId::new(0x0201_0001_0000_0000, 7)
}

fn value(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn open_ctx(s: &Sched, pool: &Path, durability: Durability) -> BioCtx {
    let opts = DevOpts {
        kind: DevKind::File,
        create_size: Some(REGION),
        iopoll: None,
    };
    let cfg = BioConfig {
        durability,
        ..BioConfig::default()
    };
    let ctx = BioCtx::open(s, pool, &opts, &cfg).expect("open pool file");
    assert_eq!(ctx.durability(), durability);
    ctx
}

/// The child: open the pool and write until killed. Each acknowledged
/// update is appended to the side log (and flushed) only after its task
/// completed, so the log never names an update that was not durable.
fn child(pool: &Path, side: &Path, round: u64, durability: Durability) {
    let s = Sched::new();
    let ctx = open_ctx(&s, pool, durability);
    let t = Target::open(&ctx, 0).expect("child opens the pool");
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(side)
        .unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (round << 32);
    for i in 0u64.. {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let dkey = 1 + x % 40;
        let len = match x % 4 {
            0 => 1 + (x >> 8) % 512,
            1 => 4096,
            2 => 20_000 + (x >> 8) % 20_000,
            _ => 40_000 + (x >> 8) % 100_000,
        } as usize;
        let epoch = 1 + round * 1_000_000 + i;
        let seed = x;
        let task = co(&t)
            .update_array(
                oid(),
                &dkey.to_be_bytes(),
                b"0",
                epoch,
                Recx::new(0, len as u64),
                1,
                &value(seed, len),
            )
            .expect("update accepted");
        if s.progress_until(&task) != 0 {
            panic!("update failed");
        }
        // One write per line (writeln! may split it across several), so a
        // kill leaves at worst one unterminated line, which the parent cuts.
        log.write_all(format!("{dkey} {epoch} {len} {seed}\n").as_bytes())
            .unwrap();
        log.sync_data().unwrap();
        if i % 64 == 63 {
            t.checkpoint().expect("checkpoint");
        }
    }
}

#[test]
fn crash_child_writer() {
    // Only does something when re-executed by the parent test below.
    let (Ok(pool), Ok(side), Ok(round), Ok(durability)) = (
        std::env::var(CHILD_ENV),
        std::env::var("RDAOS_CRASH_SIDE"),
        std::env::var("RDAOS_CRASH_ROUND"),
        std::env::var("RDAOS_CRASH_DURABILITY"),
    ) else {
        return;
    };
    child(
        Path::new(&pool),
        Path::new(&side),
        round.parse().unwrap(),
        durability.parse().unwrap(),
    );
}

#[test]
fn acknowledged_updates_survive_sigkill_under_flush() {
    sigkill_rounds(Durability::Flush);
}

#[test]
fn acknowledged_updates_survive_sigkill_under_device() {
    sigkill_rounds(Durability::Device);
}

fn sigkill_rounds(durability: Durability) {
    let dir = std::env::temp_dir().join(format!("rdaos-crash-{durability}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pool: PathBuf = dir.join("pool");
    let side: PathBuf = dir.join("acked.log");
    {
        let s = Sched::new();
        let ctx = open_ctx(&s, &pool, durability);
        let t = Target::create(&ctx, 0, REGION, 0xc0ffee, 0, 1).unwrap();
        t.cont_create(CONT, "crash").unwrap();
        t.close().unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let mut total_acked = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &pool)
            .env("RDAOS_CRASH_SIDE", &side)
            .env("RDAOS_CRASH_ROUND", round.to_string())
            .env("RDAOS_CRASH_DURABILITY", durability.name())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("child-{round}.err"))).unwrap())
            .spawn()
            .unwrap();
        // Let it run a random while, then SIGKILL (std's kill sends SIGKILL).
        // On a loaded machine the writer may not have acknowledged anything
        // by then: wait for its first acknowledgement of this round (a new
        // whole line in the side log) before killing it.
        let before = std::fs::metadata(&side).map_or(0, |m| m.len());
        std::thread::sleep(Duration::from_millis(150 + (round * 7919) % 400));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let log = std::fs::read(&side).unwrap_or_default();
            let new = log.get(before as usize..).unwrap_or_default();
            if new.contains(&b'\n') || child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Ok(Some(status)) = child.try_wait() {
            let err =
                std::fs::read_to_string(dir.join(format!("child-{round}.err"))).unwrap_or_default();
            panic!("writer exited on its own in round {round}: {status}\n{err}");
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let s = Sched::new();
        let ctx = open_ctx(&s, &pool, durability);
        let t = Target::open(&ctx, 0).unwrap_or_else(|e| panic!("reopen after round {round}: {e}"));
        let mut acked = std::fs::read_to_string(&side).unwrap_or_default();
        // A line the kill cut short records an acknowledged update whose
        // details are lost: drop it, and cut the file back to whole lines
        // so the next round's first line does not run into it.
        let whole = acked.rfind('\n').map_or(0, |i| i + 1);
        if whole < acked.len() {
            acked.truncate(whole);
            std::fs::write(&side, &acked).unwrap();
        }
        let lines: Vec<&str> = acked.lines().collect();
        for l in &lines {
            let f: Vec<u64> = l.split(' ').map(|x| x.parse().unwrap()).collect();
            let (dkey, epoch, len, seed) = (f[0], f[1], f[2] as usize, f[3]);
            let (got, segs) = co(&t)
                .fetch_array(
                    oid(),
                    &dkey.to_be_bytes(),
                    b"0",
                    epoch,
                    Recx::new(0, len as u64),
                )
                .unwrap_or_else(|e| panic!("round {round}: dkey {dkey} epoch {epoch}: {e}"));
            assert!(
                segs.iter().all(|s| s.src.is_some()),
                "round {round}: acked update has holes"
            );
            assert!(
                got == value(seed, len),
                "round {round}: dkey {dkey} epoch {epoch} reads back wrong"
            );
        }
        assert!(
            lines.len() > total_acked,
            "round {round} acknowledged nothing"
        );
        total_acked = lines.len();
        t.close().unwrap();
    }
    eprintln!("{ROUNDS} SIGKILL rounds, {total_acked} acknowledged updates all intact");
    let _ = std::fs::remove_dir_all(&dir);
}
