//! `xuncha bench sync`: the cursor protocol against the standard Automerge per-document
//! sync protocol over the same HTTP transport, on a real server on loopback, for several
//! numbers of documents, side by side in one run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use automerge::AutoCommit;
use automerge::sync::{Message, State, SyncDoc};
use xuncha_domain::{ActorId, DeviceId, Division, Edit, Field, NewRecord, RecordId, RecordKind, UserId, Value};
use xuncha_protocol::{DocKey, PROTOCOL_HEADER, Part, Role, SyncRequest};
use xuncha_server::baseline::BaselineMessage;
use xuncha_server::{AppState, SqliteStorage, Storage, admin};
use xuncha_store::{Identity, KdfParams, Store};
use xuncha_sync::Client;

const PIN: &str = "246810";

/// Requests, bytes and time of one way of syncing.
#[derive(Debug, Default, Clone, Copy)]
struct Cost {
    requests: u64,
    bytes: u64,
    seconds: f64,
}

struct Bench {
    dir: tempfile::TempDir,
    url: String,
    storage: Arc<dyn Storage>,
    http: reqwest::Client,
    devices: u8,
}

fn key(id: RecordId) -> DocKey {
    DocKey { record: id.uuid().as_bytes().to_vec(), part: Part::Record }
}

impl Bench {
    fn device(&mut self, user: &str, runtime: &tokio::runtime::Runtime) -> Result<Store> {
        self.devices += 1;
        let code = admin::enrollment_code(self.storage.as_ref(), user, crate::now_ms()).map_err(|e| anyhow!("{e}"))?;
        let identity = Identity {
            device_id: DeviceId::new(format!("bench-{}", self.devices))?,
            user_id: UserId::new(user)?,
            user_name: user.into(),
            actor: ActorId::from([self.devices; 16]),
        };
        let path = self.dir.path().join(format!("device-{}.db", self.devices));
        let mut store = Store::create(&path, PIN, &identity, KdfParams::FAST_INSECURE)?;
        let client = Client::new(&self.url, Duration::from_secs(600))?;
        runtime.block_on(client.enroll(&mut store, &code, "bench"))?;
        Ok(store)
    }

    /// Our sync, measured.
    fn ours(&self, store: &mut Store, runtime: &tokio::runtime::Runtime) -> Result<Cost> {
        let client = Client::new(&self.url, Duration::from_secs(600))?;
        let started = Instant::now();
        let report = runtime.block_on(client.sync(store, |_| {}))?;
        let p = report.progress;
        Ok(Cost {
            requests: u64::from(p.round_trips),
            bytes: p.bytes_up + p.bytes_down,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// One document through the standard protocol with a fresh sync state (a new session).
    async fn baseline_doc(&self, token: &str, key: DocKey, doc: &mut AutoCommit) -> Result<Cost> {
        let mut state = State::new();
        let mut cost = Cost::default();
        loop {
            let next = doc.sync().generate_sync_message(&mut state);
            let Some(message) = next else { break };
            let body = xuncha_protocol::encode(&BaselineMessage { doc: key.clone(), message: message.encode() });
            cost.bytes += body.len() as u64;
            let response = self
                .http
                .post(format!("{}/v1/bench/automerge-sync", self.url))
                .header(PROTOCOL_HEADER, "1")
                .bearer_auth(token)
                .body(body)
                .send()
                .await?;
            let bytes = response.error_for_status()?.bytes().await?;
            cost.requests += 1;
            cost.bytes += bytes.len() as u64;
            let reply: BaselineMessage = xuncha_protocol::decode(&bytes, xuncha_protocol::MAX_DECODED_BYTES)?;
            if reply.message.is_empty() {
                break;
            }
            doc.sync().receive_sync_message(&mut state, Message::decode(&reply.message)?)?;
        }
        Ok(cost)
    }

    /// Every document of `docs` through the standard protocol, one after another.
    fn baseline(
        &self,
        token: &str,
        docs: &mut [(RecordId, AutoCommit)],
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Cost> {
        let started = Instant::now();
        let mut total = Cost::default();
        runtime.block_on(async {
            for (id, doc) in docs.iter_mut() {
                let cost = self.baseline_doc(token, key(*id), doc).await?;
                total.requests += cost.requests;
                total.bytes += cost.bytes;
            }
            Ok::<_, anyhow::Error>(())
        })?;
        total.seconds = started.elapsed().as_secs_f64();
        Ok(total)
    }
}

fn local_docs(store: &Store) -> Result<Vec<(RecordId, AutoCommit)>> {
    store.record_ids()?.into_iter().map(|id| Ok((id, AutoCommit::load(&store.record_changes(id, &[])?)?))).collect()
}

fn records(n: usize, start: usize) -> Vec<(NewRecord, Vec<Edit>, i64)> {
    (start..start + n)
        .map(|i| {
            let mut entropy = [0u8; 10];
            entropy[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let now = 1_709_514_000_000 + i as i64;
            let new = NewRecord {
                id: RecordId::new(now, &entropy),
                kind: RecordKind::FundCheck,
                title: format!("基准记录{i}"),
                round: "2024年第一轮".into(),
                township: Some(Division::new("330199101000", "东岭镇")),
                village: Some(Division::new("330199101001", "上坪村")),
                team: String::new(),
            };
            (new, vec![Edit::Narrative { text: format!("入户核查第{i}号。") }], now)
        })
        .collect()
}

fn ratio(base: f64, ours: f64) -> String {
    if ours <= 0.0 { "—".into() } else { format!("{:.1}×", base / ours) }
}

/// Nothing-changed syncs per second from `devices` concurrent devices for `seconds`.
fn throughput(
    bench: &Bench,
    tokens: &[String],
    cursor: Vec<u8>,
    seconds: u64,
    runtime: &tokio::runtime::Runtime,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let body = xuncha_protocol::encode(&SyncRequest { cursor, ..SyncRequest::default() });
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for token in tokens {
            let (http, url, token, body, done) =
                (bench.http.clone(), bench.url.clone(), token.clone(), body.clone(), Arc::clone(&done));
            tasks.push(tokio::spawn(async move {
                let times = repeat_sync(&http, &format!("{url}/v1/sync"), &token, &body, deadline).await;
                done.fetch_add(times.len() as u64, Ordering::Relaxed);
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
    done.load(Ordering::Relaxed) as f64 / seconds as f64
}

/// One device's same sync request sent over and over until `deadline`: the time of each
/// that was answered, in milliseconds.
pub(crate) async fn repeat_sync(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &[u8],
    deadline: Instant,
) -> Vec<f64> {
    let mut times = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let sent = http.post(url).header(PROTOCOL_HEADER, "1").bearer_auth(token).body(body.to_vec()).send().await;
        if let Ok(response) = sent
            && response.status().is_success()
            && response.bytes().await.is_ok()
        {
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    times
}

/// Where the benchmarked server keeps its data.
pub enum Backend {
    /// A SQLite data directory (a district's server).
    Sqlite,
    /// A new database on the PostgreSQL server at this URL (a province's), dropped after.
    Postgres(String),
}

impl Backend {
    fn open(&self, dir: &std::path::Path) -> Result<(Arc<dyn Storage>, Option<xuncha_server::pg::ScratchDatabase>)> {
        match self {
            Backend::Sqlite => {
                Ok((Arc::new(SqliteStorage::open(&dir.join("server")).map_err(|e| anyhow!("{e}"))?), None))
            }
            Backend::Postgres(url) => {
                let database = xuncha_server::pg::ScratchDatabase::create(url).map_err(|e| anyhow!("{e}"))?;
                let key = xuncha_server::at_rest::MasterKey::read_or_create(&dir.join("server.key"))
                    .map_err(|e| anyhow!("{e}"))?;
                let storage = xuncha_server::PgStorage::open(&database.url, key).map_err(|e| anyhow!("{e}"))?;
                Ok((Arc::new(storage), Some(database)))
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        }
    }
}

/// Runs the benchmark for each number of documents.
pub fn sync(sizes: &[usize], devices: usize, seconds: u64, backend: &Backend) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    println!(
        "xuncha bench sync: cursor protocol (ours) vs standard Automerge sync per document (baseline), same HTTP transport, loopback, server on {}\n",
        backend.name()
    );
    for &n in sizes {
        let dir = tempfile::tempdir()?;
        let (storage, _database) = backend.open(dir.path())?;
        let state = AppState::new(storage.clone()).with_baseline();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let url = format!("http://{}", listener.local_addr()?);
        runtime.spawn(xuncha_server::serve(listener, state, std::future::pending()));
        for (user, role) in [("inspector", Role::Inspector), ("supervisor", Role::Supervisor)] {
            admin::add_user(storage.as_ref(), user, user, role, "district", 0).map_err(|e| anyhow!("{e}"))?;
        }
        let mut bench = Bench { dir, url, storage, http: reqwest::Client::new(), devices: 0 };
        let mut device = bench.device("inspector", &runtime)?;
        let started = Instant::now();
        for batch in records(n, 0).chunks(1_000) {
            device.create_records(batch)?;
        }
        let created = started.elapsed().as_secs_f64();
        let upload = bench.ours(&mut device, &runtime).context("the first upload")?;
        let token = device.sync_value("device_token")?.unwrap_or_default();

        // Nothing changed.
        let ours_idle = bench.ours(&mut device, &runtime)?;
        let mut docs = local_docs(&device)?;
        let base_idle = bench.baseline(&token, &mut docs, &runtime)?;

        // 100 changed documents: ours on one hundred, the baseline on another hundred.
        let ids = device.record_ids()?;
        let change = |store: &mut Store, slice: &[RecordId]| -> Result<()> {
            for id in slice {
                store.edit(
                    *id,
                    &[Edit::Set { field: Field::Team, value: Some(Value::Text("第二巡察组".into())) }],
                    1,
                )?;
            }
            Ok(())
        };
        let hundred = 100.min(n / 2);
        change(&mut device, &ids[..hundred])?;
        let ours_changed = bench.ours(&mut device, &runtime)?;
        change(&mut device, &ids[hundred..2 * hundred])?;
        let mut docs = local_docs(&device)?;
        let base_changed = bench.baseline(&token, &mut docs, &runtime)?;

        // First sync of a new supervisor device.
        let mut fresh = bench.device("supervisor", &runtime)?;
        let ours_first = bench.ours(&mut fresh, &runtime)?;
        let mut empty = bench.device("supervisor", &runtime)?;
        let empty_token = empty.sync_value("device_token")?.unwrap_or_default();
        let mut blank: Vec<(RecordId, AutoCommit)> = ids.iter().map(|id| (*id, AutoCommit::new())).collect();
        let base_first = bench.baseline(&empty_token, &mut blank, &runtime)?;
        let received = fresh.count()?;
        let _ = &mut empty;

        // Concurrent nothing-changed syncs from many devices.
        let mut tokens = Vec::new();
        for _ in 0..devices {
            let store = bench.device("inspector", &runtime)?;
            tokens.push(store.sync_value("device_token")?.unwrap_or_default());
        }
        let cursor = device.sync_cursor()?;
        let per_second = throughput(&bench, &tokens, cursor, seconds, &runtime);
        // The baseline's equivalent of one sync is one exchange per document.
        let base_per_second = if base_idle.seconds > 0.0 { 1.0 / base_idle.seconds } else { 0.0 };

        println!(
            "== {n} documents on the server (built in {created:.1} s; first upload {:.1} s, {} requests)",
            upload.seconds, upload.requests
        );
        println!("{:<44} {:>16} {:>20} {:>10}", "", "ours", "baseline", "ratio");
        let row = |name: &str, ours: Cost, base: Cost| {
            println!(
                "{name:<44} {:>16} {:>20} {:>10}",
                format!("{} req", ours.requests),
                format!("{} req", base.requests),
                ratio(base.requests as f64, ours.requests as f64)
            );
            println!(
                "{:<44} {:>16} {:>20} {:>10}",
                "",
                format!("{} B", ours.bytes),
                format!("{} B", base.bytes),
                ratio(base.bytes as f64, ours.bytes as f64)
            );
        };
        row("nothing changed", ours_idle, base_idle);
        row(&format!("{hundred} changed documents"), ours_changed, base_changed);
        row("first sync of a new device", ours_first, base_first);
        println!(
            "{:<44} {:>16} {:>20} {:>10}",
            "",
            format!("{:.2} s", ours_first.seconds),
            format!("{:.2} s", base_first.seconds),
            ratio(base_first.seconds, ours_first.seconds)
        );
        println!(
            "{:<44} {:>16} {:>20} {:>10}",
            format!("syncs per second, {devices} devices, nothing changed"),
            format!("{per_second:.0}/s"),
            format!("{base_per_second:.2}/s"),
            ratio(per_second, base_per_second)
        );
        println!("(the new device received {received} records)\n");
        assert_eq!(received as usize, n, "the new device did not receive every record");
    }
    Ok(())
}

/// A province-sized division table: `villages` villages under 11 cities, 8 districts each,
/// and townships of 25 villages, with names as long as real ones.
fn province(villages: usize) -> Vec<xuncha_domain::DivisionEntry> {
    use xuncha_domain::DivisionEntry;
    let entry = |code: String, name: String, parent: String| DivisionEntry { code, name, parent };
    let mut out = vec![entry("330000000000".into(), "浙江省".into(), String::new())];
    let names = ["东", "西", "南", "北", "上", "下", "新", "石", "桥", "溪", "山", "塘", "岭", "湖", "林", "田"];
    let name =
        |n: usize, suffix: &str| format!("{}{}{}{suffix}", names[n % 16], names[(n / 16) % 16], names[(n / 256) % 16]);
    let (mut v, mut t) = (0usize, 0usize);
    'all: for city in 1..=11 {
        let city_code = format!("33{city:02}00000000");
        out.push(entry(city_code.clone(), name(city, "市"), "330000000000".into()));
        for district in 1..=8 {
            let district_code = format!("33{city:02}{district:02}000000");
            out.push(entry(district_code.clone(), name(city * 8 + district, "区"), city_code.clone()));
            for township in 1..=999 {
                let township_code = format!("33{city:02}{district:02}{township:03}000");
                out.push(entry(township_code.clone(), name(t, "镇"), district_code.clone()));
                t += 1;
                for village in 1..=25 {
                    out.push(entry(
                        format!("33{city:02}{district:02}{township:03}{village:03}"),
                        name(v, "村"),
                        township_code.clone(),
                    ));
                    v += 1;
                    if v >= villages {
                        break 'all;
                    }
                }
                if township * 25 * 8 * 11 >= villages {
                    break;
                }
            }
        }
    }
    out
}

/// `xuncha bench reference`: a new supervisor device of a province receiving the whole
/// division table in its first sync, against the same table as a CSV file (the office's
/// import) and against a first sync with no reference data; then a sync with nothing new.
pub fn reference(villages: usize) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let dir = tempfile::tempdir()?;
    let storage: Arc<dyn Storage> =
        Arc::new(SqliteStorage::open(&dir.path().join("server")).map_err(|e| anyhow!("{e}"))?);
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}", listener.local_addr()?);
    runtime.spawn(xuncha_server::serve(listener, AppState::new(storage.clone()), std::future::pending()));
    for user in ["empty", "province"] {
        admin::add_user(storage.as_ref(), user, user, Role::Supervisor, "330000000000", 0)
            .map_err(|e| anyhow!("{e}"))?;
    }
    let mut bench = Bench { dir, url, storage, http: reqwest::Client::new(), devices: 0 };
    let mut empty = bench.device("empty", &runtime)?;
    let without = bench.ours(&mut empty, &runtime)?;
    let table = province(villages);
    let csv: usize = table.iter().map(|d| d.code.len() + d.name.len() + d.parent.len() + 3).sum::<usize>() + 22;
    let counted = table.len();
    admin::import_divisions(bench.storage.as_ref(), &table, 0).map_err(|e| anyhow!("{e}"))?;
    let mut device = bench.device("province", &runtime)?;
    let first = bench.ours(&mut device, &runtime)?;
    let held = device.divisions()?.len();
    let again = bench.ours(&mut device, &runtime)?;
    println!("xuncha bench reference: a new supervisor device of a province, first sync, loopback\n");
    println!("{villages} villages, {counted} divisions in all (received: {held})");
    println!("| | requests | bytes | seconds |");
    println!("|---|---|---|---|");
    println!("| first sync with the division table | {} | {} | {:.2} |", first.requests, first.bytes, first.seconds);
    println!(
        "| first sync with no reference data (baseline) | {} | {} | {:.2} |",
        without.requests, without.bytes, without.seconds
    );
    println!("| the same table as a CSV file (baseline) | — | {csv} | — |");
    println!("| next sync, nothing changed | {} | {} | {:.3} |", again.requests, again.bytes, again.seconds);
    println!(
        "\nthe CSV is {} the bytes on the wire; the table adds {:.2} s to a first sync",
        ratio(csv as f64, first.bytes as f64),
        first.seconds - without.seconds
    );
    Ok(())
}
