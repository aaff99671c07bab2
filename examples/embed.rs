//! embed: how another storage service embeds rdaos. The service runs on
//! its own thread with its own task scheduler, owns the engine and the
//! mount, and serves requests as async tasks: many in flight at once.
//! Callers on other threads reach it through an async channel.
//!
//! `cargo run --release --example embed`

use futures::channel::{mpsc, oneshot};
use futures::{executor::block_on, future::join_all, StreamExt};
use rdaos::dfs::{Dfs, DfsAttr, DfsError, OpenFlags};
use rdaos::obj::{cli::ObjClient, srv, transport::BulkRef};
use rdaos::tse::Sched;

/// The service's requests: store or load a named blob.
enum Req {
    Put(String, Vec<u8>, Reply<Result<(), DfsError>>),
    Get(String, Reply<Result<Vec<u8>, DfsError>>),
}
type Reply<T> = oneshot::Sender<T>;
type Tx = mpsc::UnboundedSender<Req>;
type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One request, as an async task on the service's scheduler.
async fn serve(dfs: Dfs, req: Req) {
    let root = dfs.root();
    match req {
        Req::Put(name, data, done) => {
            let r = async {
                let flags = OpenFlags::read_write().create(0o644).trunc();
                let f = dfs.open(&root, &name, flags)?.into_async();
                f.write(0, BulkRef::from_vec(data)).await?;
                f.close()
            };
            let _ = done.send(r.await);
        }
        Req::Get(name, done) => {
            let r = async {
                let f = dfs.open(&root, &name, OpenFlags::read_only())?.into_async();
                let data = f.read(0, f.size().await?).await?;
                f.close()?;
                Ok(data)
            };
            let _ = done.send(r.await);
        }
    }
}

/// The service thread: engine, scheduler, mount, then requests until the
/// channel closes; then the pool file goes.
fn service(pool: std::path::PathBuf, mut rx: mpsc::UnboundedReceiver<Req>) -> Res<()> {
    srv::pool_create(&pool, 1 << 30, 7, 1, 2)?;
    let engine = srv::Engine::start(srv::EngineConfig::new(&pool, 1, 2))?;
    let sched = Sched::new();
    let h = sched.handle();
    let cli = ObjClient::new(&h, engine.transport());
    Dfs::mkfs(&cli, "blobs", DfsAttr::default())?;
    let dfs = Dfs::mount(&cli, "blobs")?;
    h.block_on(async {
        while let Some(req) = rx.next().await {
            // Detached: the service takes the next request at once.
            drop(h.spawn(serve(dfs.clone(), req)));
        }
    });
    h.drain(std::time::Duration::from_secs(30));
    drop(dfs);
    engine.stop()?;
    Ok(std::fs::remove_file(&pool)?)
}

/// Sends one request; its answer arrives on the returned receiver.
fn call<T>(tx: &Tx, req: impl FnOnce(Reply<T>) -> Req) -> oneshot::Receiver<T> {
    let (done, r) = oneshot::channel();
    let _ = tx.unbounded_send(req(done));
    r
}

fn main() -> Res<()> {
    let pool = std::env::temp_dir().join(format!("rdaos-embed-{}.pool", std::process::id()));
    let (tx, rx) = mpsc::unbounded();
    let svc = std::thread::spawn(move || service(pool, rx));
    // The caller's side: 8 puts in flight, then 8 gets.
    let blob = |i: usize| vec![i as u8; 100_000 + i];
    let puts = (0..8).map(|i| call(&tx, |d| Req::Put(format!("blob{i}"), blob(i), d)));
    for r in block_on(join_all(puts)) {
        r??;
    }
    let gets = (0..8).map(|i| call(&tx, |d| Req::Get(format!("blob{i}"), d)));
    for (i, r) in block_on(join_all(gets)).into_iter().enumerate() {
        if r?? != blob(i) {
            return Err(format!("blob{i} read back different").into());
        }
    }
    println!("embed: 8 blobs stored and read back through the embedded service");
    drop(tx);
    svc.join().map_err(|_| "service thread panicked")?
}
