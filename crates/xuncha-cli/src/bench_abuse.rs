//! `xuncha bench abuse`: honest devices syncing on a real server on loopback, first alone
//! (the baseline), then while attackers hold idle connections open and send abusive
//! requests; the latency of every honest sync in both runs, side by side, as a ratio.
//!
//! The attack: `idle` connections that never send a byte, from many loopback addresses,
//! reopened as the server closes them; and `abusive` requests a minute, taking turns:
//! guessed tokens (from the honest devices' own address too), a deflate bomb behind a
//! guessed token, a garbled body with a valid-looking header, a guessed enrollment code.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use xuncha_domain::{ActorId, DeviceId, Division, NewRecord, RecordId, RecordKind, UserId};
use xuncha_protocol::{PROTOCOL_HEADER, Role, SyncRequest};
use xuncha_server::{AppState, SqliteStorage, admin};
use xuncha_store::{Identity, KdfParams, Store};
use xuncha_sync::Client;

const TOWNSHIP: (&str, &str) = ("330199101000", "东岭镇");

/// What one run measured.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Run {
    pub syncs: usize,
    pub failed: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Idle connections held open at the end, and abusive requests sent (with their answers).
    pub idle_open: usize,
    pub abusive_sent: u64,
    pub abusive_refused: u64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn new_record(n: u64) -> NewRecord {
    let mut entropy = [0u8; 10];
    entropy[..8].copy_from_slice(&n.to_be_bytes());
    NewRecord {
        id: RecordId::new(crate::now_ms(), &entropy),
        kind: RecordKind::FundCheck,
        title: format!("压力测试 {n}"),
        round: String::new(),
        township: Some(Division { code: TOWNSHIP.0.into(), name: TOWNSHIP.1.into() }),
        village: None,
        team: String::new(),
    }
}

/// The honest devices: each creates a record and syncs, again and again, for `seconds`;
/// every sync's latency (or failure).
async fn honest(url: &str, stores: &mut [Store], seconds: u64) -> Result<(Vec<f64>, usize)> {
    let until = Instant::now() + Duration::from_secs(seconds);
    let counter = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for store in stores.iter_mut() {
        // Each device syncs on a task of its own; the stores are handed back at the end.
        let mut store = store.open_another()?;
        let (url, counter) = (url.to_owned(), Arc::clone(&counter));
        tasks.push(tokio::spawn(async move {
            let client = Client::new(&url, Duration::from_secs(30))?;
            let (mut latencies, mut failed) = (Vec::new(), 0usize);
            while Instant::now() < until {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                store.create_record(&new_record(n), &[], crate::now_ms())?;
                let started = Instant::now();
                match client.sync(&mut store, |_| {}).await {
                    Ok(_) => latencies.push(started.elapsed().as_secs_f64() * 1000.0),
                    Err(error) => {
                        failed += 1;
                        eprintln!("honest sync failed: {error}");
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            anyhow::Ok((latencies, failed))
        }));
    }
    let (mut all, mut failed) = (Vec::new(), 0);
    for task in tasks {
        let (latencies, f) = task.await??;
        all.extend(latencies);
        failed += f;
    }
    Ok((all, failed))
}

/// Keeps `count` idle connections open (reopening those the server closes) until `stop`.
async fn idle(address: SocketAddr, count: usize, stop: Arc<AtomicBool>, open: Arc<AtomicU64>) {
    let mut tasks = Vec::new();
    for n in 0..count {
        let (stop, open) = (Arc::clone(&stop), Arc::clone(&open));
        // Twenty connections per address, from 127.0.1.1 up.
        let from = IpAddr::from([127, 0, 1, u8::try_from(n / 20 + 1).unwrap_or(255)]);
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(socket) = tokio::net::TcpSocket::new_v4() else { break };
                if socket.bind(SocketAddr::new(from, 0)).is_err() {
                    break;
                }
                let Ok(mut stream) = socket.connect(address).await else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                open.fetch_add(1, Ordering::Relaxed);
                let mut sink = [0u8; 256];
                // Never a byte sent: wait until the server gives up on the connection.
                loop {
                    tokio::select! {
                        read = tokio::io::AsyncReadExt::read(&mut stream, &mut sink) => {
                            if !matches!(read, Ok(n) if n > 0) { break; }
                        }
                        () = tokio::time::sleep(Duration::from_millis(500)) => {
                            if stop.load(Ordering::Relaxed) { break; }
                        }
                    }
                }
                open.fetch_sub(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// Sends `per_minute` abusive requests a minute until `stop`; how many were answered with a
/// refusal (4xx or 503) and how many were sent.
async fn abusive(url: String, per_minute: u64, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>, refused: Arc<AtomicU64>) {
    let mut bomb = vec![1u8];
    {
        use std::io::Write;
        let mut encoder = flate2::write::DeflateEncoder::new(&mut bomb, flate2::Compression::best());
        let _ = encoder.write_all(&vec![0u8; 16 * 1024 * 1024]);
        let _ = encoder.finish();
    }
    let garbled = vec![0xA5u8; 4096];
    let empty = xuncha_protocol::encode(&SyncRequest::default());
    let interval = Duration::from_millis(60_000 / per_minute.max(1));
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        // Half from the honest devices' own address, half from addresses of their own.
        let from = if n.is_multiple_of(2) {
            IpAddr::from([127, 0, 0, 1])
        } else {
            IpAddr::from([127, 0, 2, (n % 50) as u8 + 1])
        };
        let Ok(client) = reqwest::Client::builder().local_address(from).timeout(Duration::from_secs(10)).build() else {
            break;
        };
        let request = match n % 4 {
            0 => client.post(format!("{url}/v1/sync")).bearer_auth(format!("guess-{n}")).body(empty.clone()),
            1 => client.post(format!("{url}/v1/sync")).bearer_auth(format!("guess-{n}")).body(bomb.clone()),
            2 => client.post(format!("{url}/v1/sync")).bearer_auth("x".repeat(64)).body(garbled.clone()),
            _ => client.post(format!("{url}/v1/enroll")).body(
                serde_json::json!({ "code": format!("ZZZZ-ZZZZ-ZZZZ-{:04}", n % 10_000), "device_name": "x", "actor": "00".repeat(16) })
                    .to_string(),
            ),
        };
        sent.fetch_add(1, Ordering::Relaxed);
        if let Ok(response) = request.header(PROTOCOL_HEADER, "1").send().await {
            let status = response.status().as_u16();
            if (400..500).contains(&status) || status == 503 {
                refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// One run: honest devices for `seconds`, with the attack when `idle_count` or
/// `per_minute` is above zero.
fn run(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    address: SocketAddr,
    stores: &mut [Store],
    seconds: u64,
    idle_count: usize,
    per_minute: u64,
) -> Result<Run> {
    let stop = Arc::new(AtomicBool::new(false));
    let (open, sent, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let attack = (idle_count > 0 || per_minute > 0).then(|| {
        let idle_task = runtime.spawn(idle(address, idle_count, Arc::clone(&stop), Arc::clone(&open)));
        let abuse_task = (per_minute > 0).then(|| {
            runtime.spawn(abusive(
                url.to_owned(),
                per_minute,
                Arc::clone(&stop),
                Arc::clone(&sent),
                Arc::clone(&refused),
            ))
        });
        (idle_task, abuse_task)
    });
    if attack.is_some() {
        // Let the idle connections pile up before the honest devices start.
        let wanted = idle_count as u64;
        let started = Instant::now();
        while open.load(Ordering::Relaxed) < wanted && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let (mut latencies, failed) = runtime.block_on(honest(url, stores, seconds))?;
    let idle_open = usize::try_from(open.load(Ordering::Relaxed)).unwrap_or(0);
    stop.store(true, Ordering::Relaxed);
    if let Some((idle_task, abuse_task)) = attack {
        let _ = runtime.block_on(idle_task);
        if let Some(task) = abuse_task {
            let _ = runtime.block_on(task);
        }
    }
    latencies.sort_by(f64::total_cmp);
    Ok(Run {
        syncs: latencies.len() + failed,
        failed,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        max_ms: latencies.last().copied().unwrap_or(0.0),
        idle_open,
        abusive_sent: sent.load(Ordering::Relaxed),
        abusive_refused: refused.load(Ordering::Relaxed),
    })
}

/// `xuncha bench abuse`.
pub fn abuse(devices: usize, idle_count: usize, per_minute: u64, seconds: u64, json: bool) -> Result<()> {
    crate::raise_file_limit();
    let dir = tempfile::tempdir()?;
    let storage = Arc::new(SqliteStorage::open(&dir.path().join("server"))?);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let address = listener.local_addr()?;
    let url = format!("http://{address}");
    runtime.spawn(xuncha_server::serve(listener, AppState::new(storage.clone()), std::future::pending()));
    let mut stores = Vec::new();
    for n in 0..devices {
        let user = format!("inspector-{n}");
        admin::add_user(storage.as_ref(), &user, &user, Role::Inspector, TOWNSHIP.0, crate::now_ms())
            .map_err(|e| anyhow!("{e}"))?;
        let code = admin::enrollment_code(storage.as_ref(), &user, crate::now_ms()).map_err(|e| anyhow!("{e}"))?;
        let identity = Identity {
            device_id: DeviceId::new(format!("abuse-{n}"))?,
            user_id: UserId::new(&user)?,
            user_name: user.clone(),
            actor: ActorId::from([u8::try_from(n + 1).unwrap_or(255); 16]),
        };
        let mut store =
            Store::create(&dir.path().join(format!("{user}.db")), "246810", &identity, KdfParams::FAST_INSECURE)?;
        runtime.block_on(Client::new(&url, Duration::from_secs(30))?.enroll(&mut store, &code, "平板"))?;
        stores.push(store);
    }
    let alone = run(&runtime, &url, address, &mut stores, seconds, 0, 0)?;
    let attacked = run(&runtime, &url, address, &mut stores, seconds, idle_count, per_minute)?;
    let ratio = if alone.p99_ms > 0.0 { attacked.p99_ms / alone.p99_ms } else { 0.0 };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "devices": devices, "idle": idle_count, "abusive_per_minute": per_minute, "seconds": seconds,
                "alone": alone, "attacked": attacked, "p99_ratio": ratio,
            }))?
        );
    } else {
        println!(
            "{devices} honest devices, {seconds} s each run; attack: {idle_count} idle connections, {per_minute} abusive requests/min"
        );
        println!("                 syncs  failed   p50 ms   p99 ms   max ms");
        for (name, r) in [("alone", &alone), ("under attack", &attacked)] {
            println!(
                "{name:<16} {:>5}  {:>6}  {:>7.1}  {:>7.1}  {:>7.1}",
                r.syncs, r.failed, r.p50_ms, r.p99_ms, r.max_ms
            );
        }
        println!(
            "idle connections open at the end: {}; abusive requests sent {}, refused {}; p99 under attack / alone: {ratio:.2}",
            attacked.idle_open, attacked.abusive_sent, attacked.abusive_refused
        );
    }
    if alone.failed + attacked.failed > 0 {
        return Err(anyhow!("{} honest syncs failed", alone.failed + attacked.failed));
    }
    Ok(())
}
