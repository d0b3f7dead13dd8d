//! Sync through faults: a proxy between the devices and the server cuts connections at
//! random points of requests and responses, and the server process is killed (SIGKILL) and
//! restarted in the middle of syncs. Everything still converges; no change is lost, none is
//! applied twice, and log cursors only move forward.

use crate::common::ServerProcess;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use xuncha_domain::*;
use xuncha_store::{Identity, KdfParams, Store};
use xuncha_sync::Client;

const PIN: &str = "246810";
const ROUNDS: usize = 32;

/// A TCP proxy that cuts connections when told to.
struct Proxy {
    address: SocketAddr,
    upstream: Arc<Mutex<SocketAddr>>,
    /// Probability (in percent) that a connection is cut.
    cut_percent: Arc<AtomicUsize>,
    cuts: Arc<AtomicUsize>,
}

impl Proxy {
    fn start(runtime: &tokio::runtime::Runtime, upstream: SocketAddr) -> Proxy {
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address = listener.local_addr().unwrap();
        let upstream = Arc::new(Mutex::new(upstream));
        let cut_percent = Arc::new(AtomicUsize::new(0));
        let cuts = Arc::new(AtomicUsize::new(0));
        let (up, percent, count) = (Arc::clone(&upstream), Arc::clone(&cut_percent), Arc::clone(&cuts));
        runtime.spawn(async move {
            let mut seed = 7u64;
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                seed += 2;
                let target = *up.lock().unwrap();
                let (percent, count) = (Arc::clone(&percent), Arc::clone(&count));
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(target).await else { return };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let fault = Fault { percent, count };
                    let (up_fault, down_fault) = (fault.clone(), fault);
                    let upstream = async move { pipe(&mut cr, &mut sw, &up_fault, seed).await };
                    let downstream = async move { pipe(&mut sr, &mut cw, &down_fault, seed + 1).await };
                    // When either direction ends or is cut, drop both: the connection dies.
                    tokio::select! { _ = upstream => {}, _ = downstream => {} }
                });
            }
        });
        Proxy { address, upstream, cut_percent, cuts }
    }
}

/// When to cut: each chunk of a request or a response is cut short with this probability.
#[derive(Clone)]
struct Fault {
    percent: Arc<AtomicUsize>,
    count: Arc<AtomicUsize>,
}

async fn pipe(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    fault: &Fault,
    seed: u64,
) -> std::io::Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut buf = vec![0u8; 4096];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            // Keep the other direction open until it ends (responses follow requests).
            std::future::pending::<()>().await;
        }
        if rng.random_range(0..100) < fault.percent.load(Ordering::SeqCst) {
            // Pass a random part of this chunk, then drop the connection.
            fault.count.fetch_add(1, Ordering::SeqCst);
            let keep = rng.random_range(0..n);
            to.write_all(&buf[..keep]).await?;
            return Ok(());
        }
        to.write_all(&buf[..n]).await?;
    }
}

fn admin(data: &Path, args: &[&str]) -> String {
    let out =
        Command::new(env!("CARGO_BIN_EXE_xuncha")).arg("admin").args(args).arg("--data").arg(data).output().unwrap();
    assert!(out.status.success(), "admin {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn log_seq(cursor: &[u8]) -> Option<u64> {
    (cursor.len() == 9 && cursor[0] == 0).then(|| u64::from_be_bytes(cursor[1..9].try_into().unwrap()))
}

fn household(head: &str) -> Edit {
    let mut entropy = [0u8; 10];
    for (i, b) in head.bytes().enumerate() {
        entropy[i % 10] = entropy[i % 10].wrapping_mul(31).wrapping_add(b);
    }
    Edit::InsertItem {
        list: ItemList::Beneficiaries,
        id: ItemId::new(1_700_000_000_000, &entropy),
        values: vec![(ItemField::Head, Value::Text(head.into()))],
    }
}

#[test]
fn sync_converges_through_cut_connections_and_server_kills() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    admin(&data, &["add-user", "zhang", "--name", "张伟", "--role", "inspector", "--jurisdiction", "330199101000"]);
    let mut server = ServerProcess::start(&data);
    let proxy = Proxy::start(&runtime, server.address);
    let url = format!("http://{}", proxy.address);

    let mut devices: Vec<Store> = (0..3u8)
        .map(|n| {
            let identity = Identity {
                device_id: DeviceId::new(format!("local-{n}")).unwrap(),
                user_id: UserId::new("zhang").unwrap(),
                user_name: "张伟".into(),
                actor: ActorId::from([n + 1; 16]),
            };
            let mut store =
                Store::create(&dir.path().join(format!("d{n}.db")), PIN, &identity, KdfParams::FAST_INSECURE).unwrap();
            let code = admin(&data, &["enroll", "zhang"]);
            let client = Client::new(&url, Duration::from_secs(5)).unwrap();
            runtime.block_on(client.enroll(&mut store, &code, "平板")).unwrap();
            store
        })
        .collect();
    let client = Client::new(&url, Duration::from_secs(5)).unwrap();

    // Shared records, created on the first device and synced to all.
    let records: Vec<RecordId> = (0..6u8)
        .map(|n| {
            let new = NewRecord {
                id: RecordId::new(1_700_000_000_000 + i64::from(n), &[n; 10]),
                kind: RecordKind::FundCheck,
                title: format!("记录{n}"),
                round: "2024年第一轮".into(),
                township: Some(Division::new("330199101000", "东岭镇")),
                village: Some(Division::new("330199101001", "上坪村")),
                team: String::new(),
            };
            devices[0].create_record(&new, &[], 1).unwrap()
        })
        .collect();
    for store in devices.iter_mut() {
        runtime.block_on(client.sync(store, |_| {})).unwrap();
    }

    proxy.cut_percent.store(40, Ordering::SeqCst);
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    let mut written: Vec<String> = Vec::new();
    let mut last_seq: Vec<Option<u64>> = vec![None; devices.len()];
    let mut kills = 0;
    for round in 0..ROUNDS {
        for (n, store) in devices.iter_mut().enumerate() {
            for k in 0..rng.random_range(1..3) {
                let head = format!("户{n}-{round}-{k}");
                let record = records[rng.random_range(0..records.len())];
                store.edit(record, &[household(&head)], 1_700_000_000_000 + round as i64).unwrap();
                written.push(head);
            }
            // Every fourth round, kill the server in the middle of this device's sync.
            let killer = (round % 4 == 3 && n == 1).then(|| {
                let pid = server.child.id();
                let delay = rng.random_range(0..40);
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(delay));
                    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                })
            });
            let result = runtime.block_on(client.sync_with_retry(store, 4, |_| {}));
            if let Some(killer) = killer {
                killer.join().unwrap();
                let _ = server.child.wait();
                server = ServerProcess::start(&data);
                *proxy.upstream.lock().unwrap() = server.address;
                kills += 1;
            }
            if result.is_ok() {
                let seq = log_seq(&store.sync_cursor().unwrap());
                if let (Some(before), Some(after)) = (last_seq[n], seq) {
                    assert!(after >= before, "device {n}'s cursor moved back from {before} to {after}");
                }
                last_seq[n] = seq.or(last_seq[n]);
            }
        }
    }
    let cuts = proxy.cuts.load(Ordering::SeqCst);

    // The network heals: everyone syncs until nothing moves.
    proxy.cut_percent.store(0, Ordering::SeqCst);
    for _ in 0..2 {
        for store in devices.iter_mut() {
            let report = runtime.block_on(client.sync_with_retry(store, 5, |_| {})).unwrap();
            assert!(report.refused.is_empty(), "{:?}", report.refused);
        }
    }
    let storage = xuncha_server::SqliteStorage::open(&data).unwrap();
    let mut all_heads: Vec<String> = Vec::new();
    for record in &records {
        let reference = devices[0].record(*record).unwrap().read();
        for store in &devices[1..] {
            assert_eq!(store.record(*record).unwrap().read(), reference, "devices differ on {record}");
        }
        let key =
            xuncha_protocol::DocKey { record: record.uuid().as_bytes().to_vec(), part: xuncha_protocol::Part::Record };
        let server_doc = xuncha_server::storage::with_tx(&storage, false, |tx| tx.doc(&key)).unwrap().unwrap();
        assert_eq!(RecordDoc::load(&server_doc.snapshot).unwrap().read(), reference, "the server differs on {record}");
        all_heads.extend(
            reference.items(ItemList::Beneficiaries).iter().filter_map(|i| i.text(ItemField::Head).map(str::to_owned)),
        );
    }
    let mut sorted = all_heads.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), all_heads.len(), "an edit was applied twice");
    let mut expected = written.clone();
    expected.sort();
    assert_eq!(sorted, expected, "an edit was lost");
    for store in &devices {
        assert_eq!(store.outbox_status().unwrap(), (0, 0));
    }
    eprintln!("{} edits, {cuts} connections cut, {kills} server kills", written.len());
    assert!(cuts >= 50, "only {cuts} cuts");
    assert!(kills >= 5, "only {kills} kills");
    let _ = server.child.kill();
}
