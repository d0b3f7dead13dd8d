//! `xuncha bench bundle`: the size and time of sync bundles across an air gap, for the demo
//! round (a week of a team's work) and for 10,000 records, beside the first HTTP sync of the
//! same records to a new supervisor's device on loopback (the route a bundle replaces).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use xuncha_domain::{ActorId, DeviceId, UserId};
use xuncha_server::bundles::{self, Identity};
use xuncha_server::{AppState, SqliteStorage, Storage, admin};
use xuncha_store::{KdfParams, Store};
use xuncha_sync::Client;

use crate::args::DemoArgs;

const PIN: &str = "246810";

/// Milliseconds of `work`, and what it returned.
fn timed<T>(work: impl FnOnce() -> Result<T>) -> Result<(f64, T)> {
    let started = Instant::now();
    let value = work()?;
    Ok((started.elapsed().as_secs_f64() * 1000.0, value))
}

/// One line of figures.
struct Figures {
    case: String,
    documents: usize,
    bundle_bytes: u64,
    export_ms: f64,
    import_ms: f64,
    receipt_ms: f64,
    tablet_bytes: u64,
    tablet_export_ms: f64,
    tablet_import_ms: f64,
    http_bytes: u64,
    http_ms: f64,
}

fn enrolled(
    storage: &dyn Storage,
    url: &str,
    dir: &std::path::Path,
    user: &str,
    n: u8,
    runtime: &tokio::runtime::Runtime,
) -> Result<(Store, Client)> {
    let code = admin::enrollment_code(storage, user, crate::now_ms()).map_err(|e| anyhow!("{e}"))?;
    let identity = xuncha_store::Identity {
        device_id: DeviceId::new(format!("bench-{n}"))?,
        user_id: UserId::new(user)?,
        user_name: user.into(),
        actor: ActorId::from([n; 16]),
    };
    let mut store = Store::create(&dir.join(format!("device-{n}.db")), PIN, &identity, KdfParams::FAST_INSECURE)?;
    let client = Client::new(url, Duration::from_secs(600))?;
    runtime.block_on(client.enroll(&mut store, &code, "bench"))?;
    Ok((store, client))
}

fn case(name: &str, extra: u32, runtime: &tokio::runtime::Runtime) -> Result<Figures> {
    let dir = tempfile::tempdir()?;
    let fail = |e: bundles::ExchangeError| anyhow!("{e}");
    // The office server, on loopback, with the demo round; the inspector's tablet syncs.
    let office_dir = dir.path().join("office");
    let office: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&office_dir).map_err(|e| anyhow!("{e}"))?);
    crate::demo::round(office.as_ref(), 2024, crate::now_ms())?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}", listener.local_addr()?);
    runtime.spawn(xuncha_server::serve(listener, AppState::new(office.clone()), std::future::pending()));
    let (mut tablet, client) = enrolled(office.as_ref(), &url, dir.path(), "demo-inspector", 1, runtime)?;
    crate::demo::populate(&mut tablet, &DemoArgs { seed: 2024, extra })?;
    let report = runtime.block_on(client.sync(&mut tablet, |_| {}))?;
    if !report.refused.is_empty() || tablet.outbox_status()? != (0, 0) {
        return Err(anyhow!("the demo records did not all reach the office: {:?}", report.refused));
    }

    // The air-gapped server, empty; the two trust each other.
    let inner_dir = dir.path().join("inner");
    let inner: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&inner_dir).map_err(|e| anyhow!("{e}"))?);
    let (office_id, inner_id): (Identity, Identity) = (
        bundles::identity(office.as_ref(), &office_dir).map_err(fail)?,
        bundles::identity(inner.as_ref(), &inner_dir).map_err(fail)?,
    );
    bundles::add_peer(office.as_ref(), "内网", &inner_id.key.to_text(), 0).map_err(fail)?;
    bundles::add_peer(inner.as_ref(), "office", &office_id.key.to_text(), 0).map_err(fail)?;

    // Office → 内网, and the receipt back.
    let file = dir.path().join("office.xcb");
    let (export_ms, exported) = timed(|| {
        let out = std::io::BufWriter::new(std::fs::File::create(&file)?);
        bundles::export(office.as_ref(), &office_id, &inner_id.key, true, out, "bench", crate::now_ms()).map_err(fail)
    })?;
    let (import_ms, imported) = timed(|| {
        let input = std::io::BufReader::new(std::fs::File::open(&file)?);
        bundles::import(inner.as_ref(), &inner_id, input, "receipt", crate::now_ms()).map_err(fail)
    })?;
    if !imported.refused.is_empty() || imported.stored != exported.documents {
        return Err(anyhow!("the bundle was not taken whole: {imported:?}"));
    }
    let receipt = imported.receipt.unwrap_or_default();
    let (receipt_ms, _) =
        timed(|| bundles::import(office.as_ref(), &office_id, receipt.as_slice(), "r", crate::now_ms()).map_err(fail))?;

    // The tablet straight into the 内网 server (which knows it by the office's word).
    let tablet_file = dir.path().join("tablet.xcb");
    let (tablet_export_ms, sent) = timed(|| {
        let out = std::io::BufWriter::new(std::fs::File::create(&tablet_file)?);
        Ok(xuncha_sync::bundle::export(&tablet, &inner_id.key, true, out, "tablet", crate::now_ms(), &mut |_| true)?)
    })?;
    let (tablet_import_ms, _) = timed(|| {
        let input = std::io::BufReader::new(std::fs::File::open(&tablet_file)?);
        bundles::import(inner.as_ref(), &inner_id, input, "r2", crate::now_ms()).map_err(fail)
    })?;

    // The route a bundle replaces: a new supervisor's device syncs everything over HTTP.
    let (mut fresh, client) = enrolled(office.as_ref(), &url, dir.path(), "demo-supervisor", 2, runtime)?;
    let (http_ms, report) = timed(|| Ok(runtime.block_on(client.sync(&mut fresh, |_| {}))?))?;
    let http_bytes = report.progress.bytes_up + report.progress.bytes_down;
    Ok(Figures {
        case: name.into(),
        documents: exported.documents,
        bundle_bytes: exported.bytes,
        export_ms,
        import_ms,
        receipt_ms,
        tablet_bytes: sent.bytes,
        tablet_export_ms,
        tablet_import_ms,
        http_bytes,
        http_ms,
    })
}

/// Runs the cases and prints their figures side by side.
pub fn bundle(records: &[u32]) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    println!(
        "xuncha bench bundle: office server → air-gapped server by bundle file (with attachments), and a tablet's own bundle to it; baseline: a new supervisor device's first HTTP sync of the same records on loopback\n"
    );
    let demo = case("demo round", 0, &runtime)?;
    let base = demo.documents as u32;
    let mut all = vec![demo];
    for &n in records {
        all.push(case(&format!("{n} records"), n.saturating_sub(base), &runtime)?);
    }
    println!(
        "| case | documents | bundle | export | import | receipt | tablet's bundle | its export | its import | HTTP first sync | HTTP time | bundle/HTTP bytes | (export+import)/HTTP time |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for f in &all {
        println!(
            "| {} | {} | {:.1} KB | {:.0} ms | {:.0} ms | {:.0} ms | {:.1} KB | {:.0} ms | {:.0} ms | {:.1} KB | {:.0} ms | {:.2} | {:.2} |",
            f.case,
            f.documents,
            f.bundle_bytes as f64 / 1024.0,
            f.export_ms,
            f.import_ms,
            f.receipt_ms,
            f.tablet_bytes as f64 / 1024.0,
            f.tablet_export_ms,
            f.tablet_import_ms,
            f.http_bytes as f64 / 1024.0,
            f.http_ms,
            f.bundle_bytes as f64 / f.http_bytes.max(1) as f64,
            (f.export_ms + f.import_ms) / f.http_ms.max(0.001),
        );
    }
    Ok(())
}
