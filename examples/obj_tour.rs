//! obj_tour: one array write through the middle of the seed, in one
//! process: a client on this thread, an engine of 2 x 2 targets (each its
//! own thread, scheduler, io_uring ring and VOS region of one O_DIRECT
//! pool file), an RP_2G1 array whose chunks are replicated on two
//! engines. Writes 1 MiB and a small piece, reads them back, then prints
//! the traced first write as a PlantUML sequence diagram in the seed's
//! shape (or writes it to the file named by `RDAOS_TRACE`).
//!
//! `cargo run --release --example obj_tour [-- --pool FILE]`

use std::time::Instant;

use rdaos::dfs::darray::Array;
use rdaos::dfs::Range;
use rdaos::obj::cli::ObjClient;
use rdaos::obj::oclass::{generate_oid, ObjClass, ObjType};
use rdaos::obj::srv::{pool_create, Engine, EngineConfig};
use rdaos::obj::trace;
use rdaos::obj::transport::BulkRef;
use rdaos::tse::{Sched, Tracer};

fn main() {
    if let Err(e) = run() {
        eprintln!("obj_tour: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut pool = std::env::temp_dir().join(format!("rdaos-obj-tour-{}.pool", std::process::id()));
    let mut keep = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--pool" => {
                pool = args.next().ok_or("--pool needs a file")?.into();
                keep = true;
            }
            _ => {
                return Err(
                    format!("unknown argument {a:?} (usage: obj_tour [--pool FILE])").into(),
                )
            }
        }
    }
    let t0 = Instant::now();
    let info = pool_create(&pool, 512 << 20, 0x70u128, 2, 2)?;
    println!(
        "pool {}: {} targets of {} MiB",
        pool.display(),
        info.nr_targets,
        info.region_len >> 20
    );
    let tracer = Tracer::new();
    let mut cfg = EngineConfig::new(&pool, 2, 2);
    cfg.tracer = Some(tracer.clone());
    let engine = Engine::start(cfg)?;
    let s = Sched::new();
    s.set_tracer("client", Some(tracer.clone()));
    let cli = ObjClient::new(&s.handle(), engine.transport());
    let cont = cli.cont_create("tour")?;
    let oh = cli.obj_open(
        cont,
        generate_oid(1, 1, ObjType::ArrayByte, ObjClass::RP_2G1),
    )?;
    println!(
        "object {:?}: replicas on {:?}",
        oh.oid(),
        oh.layout().groups[0]
    );
    let array = Array::create(&oh, 1, 1 << 20)?;
    tracer.clear();

    let big: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let w = Instant::now();
    array.write(0, BulkRef::from_vec(big.clone()))?;
    println!(
        "wrote 1 MiB at offset 0 in {:.2} ms",
        w.elapsed().as_secs_f64() * 1e3
    );
    array.write(3 << 20, BulkRef::from_vec(b"hello, rdaos".to_vec()))?;
    let back = array.read(0, 1 << 20)?;
    if back.data != big {
        return Err("the 1 MiB read back differs from what was written".into());
    }
    let small = array.read_ranges(&[Range {
        idx: (3 << 20) - 4,
        len: 16,
    }])?;
    println!(
        "read back: 1 MiB matches; [3 MiB - 4, +16) = {:?} with holes {:?}",
        String::from_utf8_lossy(&small.data),
        small.holes
    );
    println!("array size {} bytes", array.get_size()?);
    drop(cli);
    engine.stop()?;
    println!(
        "engine stopped cleanly in {:.0} ms total",
        t0.elapsed().as_secs_f64() * 1e3
    );

    let spans = tracer.spans();
    let diagram = trace::op_diagram(&spans, "dc_array_write")?;
    match trace::env_path() {
        Some(p) => {
            std::fs::write(&p, &diagram)?;
            println!(
                "trace of the first write ({} spans) written to {}",
                spans.len(),
                p.display()
            );
        }
        None => {
            println!(
                "\ntrace of the first write (set {} to write it to a file):\n",
                trace::TRACE_ENV
            );
            print!("{diagram}");
        }
    }
    if !keep {
        std::fs::remove_file(&pool)?;
    }
    Ok(())
}
