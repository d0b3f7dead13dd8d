//! `xuncha bench province` (`make bench-province`): a province on PostgreSQL and an
//! S3-compatible store, beside today's district server on SQLite, in one run.
//!
//! The province: 100 districts (10 townships of 10 villages each), `records` fund checks
//! spread evenly over them, loaded through the storage layer (real Automerge documents,
//! signed changes, the hash-chained log), then served by 1, 2 and 3 `xuncha server`
//! processes on the one database and bucket. The baseline: one district (the same number of
//! records per district) on a SQLite server process, as `make run` serves it. The same
//! measurements on both:
//!
//! - nothing-changed syncs per second from many devices (township inspectors whose cursors
//!   are at the head), with the p50 and p99 of each sync, through 1, 2, 3 replicas;
//! - commits per second: devices (village inspectors) each editing a record of their own and
//!   syncing, as fast as they can, with the p99 of those syncs; the time writers waited for
//!   their turn to append to the log (the single appender), and how long a change takes from
//!   its writer's acknowledgement to a reader on another replica;
//! - the first sync of a district's supervisor (a real device, every record of one district)
//!   and, on the province, of a province-wide role (every record: the server's side of it,
//!   the device applying none, which `xuncha bench sync` measures);
//! - 20 devices each syncing an 8 MB photo at once: throughput, and each server's resident
//!   memory before and at its peak.
//!
//! The devices run in this process, on the same machine as the database, the store and the
//! servers: on a 2-core machine more replicas cannot add throughput, and the figures say so.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use xuncha_domain::{
    ActorId, DeviceId, Division, DivisionEntry, Edit, EditContext, Field, NewRecord, RecordDoc, RecordId, RecordKind,
    SyncDoc, UserId, Value, Yuan,
};
use xuncha_protocol::{DocKey, PROTOCOL_HEADER, Part, Role, SyncRequest, SyncResponse};
use xuncha_server::storage::{DocScope, LoggedChange, StoredDoc, with_tx};
use xuncha_server::{SqliteStorage, Storage, admin};
use xuncha_store::{Identity, KdfParams, Store};
use xuncha_sync::Client;

const PIN: &str = "246810";
const TIMEOUT: Duration = Duration::from_secs(900);
const ROUND: &str = "2024年第一轮";
/// Districts of the province, townships of a district, villages of a township.
const DISTRICTS: usize = 100;
const TOWNSHIPS: usize = 10;
const VILLAGES: usize = 10;
/// Documents written per transaction while loading.
const LOAD_BATCH: usize = 500;

/// What the benchmark is asked for.
pub struct Options {
    pub records: usize,
    pub devices: usize,
    pub writers: usize,
    pub seconds: u64,
    pub uploads: usize,
    pub upload_mb: usize,
    pub postgres: String,
    pub attachments: String,
}

/// The division codes of district `d` (0-based): 10 cities of 10 districts.
fn district_code(d: usize) -> String {
    format!("33{:02}{:02}000000", d / 10 + 1, d % 10 + 1)
}

fn township_code(d: usize, t: usize) -> String {
    format!("{}{:03}000", &district_code(d)[..6], t + 1)
}

fn village_code(d: usize, t: usize, v: usize) -> String {
    format!("{}{:03}", &township_code(d, t)[..9], v + 1)
}

/// The division table of the first `districts` districts (the whole province for 100).
fn divisions(districts: usize) -> Vec<DivisionEntry> {
    let entry = |code: String, name: String, parent: String| DivisionEntry { code, name, parent };
    let mut out = vec![entry("330000000000".into(), "浙江省".into(), String::new())];
    for city in 0..districts.div_ceil(10) {
        out.push(entry(format!("33{:02}00000000", city + 1), format!("第{}市", city + 1), "330000000000".into()));
    }
    for d in 0..districts {
        out.push(entry(district_code(d), format!("第{}区", d + 1), format!("33{:02}00000000", d / 10 + 1)));
        for t in 0..TOWNSHIPS {
            out.push(entry(township_code(d, t), format!("{}区{}镇", d + 1, t + 1), district_code(d)));
            for v in 0..VILLAGES {
                out.push(entry(
                    village_code(d, t, v),
                    format!("{}区{}镇{}村", d + 1, t + 1, v + 1),
                    township_code(d, t),
                ));
            }
        }
    }
    out
}

/// Record `i` of district `d`: a fund check in one of its villages, as a device makes it
/// (created, then its figures and narrative in a second change), signed by its loader device.
fn record(d: usize, i: usize, signer: &ed25519_dalek::SigningKey) -> Result<(StoredDoc, Vec<LoggedChange>)> {
    let (t, v) = (i % TOWNSHIPS, (i / TOWNSHIPS) % VILLAGES);
    let device = format!("loader-{d}");
    let mut entropy = [0u8; 10];
    entropy[..4].copy_from_slice(&u32::try_from(d)?.to_be_bytes());
    entropy[4..8].copy_from_slice(&u32::try_from(i)?.to_be_bytes());
    let now = 1_709_514_000_000 + i64::try_from(i)?;
    let new = NewRecord {
        id: RecordId::new(now, &entropy),
        kind: RecordKind::FundCheck,
        title: format!("{}区{}镇{}村到户补贴检查 {i}", d + 1, t + 1, v + 1),
        round: ROUND.into(),
        township: Some(Division::new(township_code(d, t), format!("{}区{}镇", d + 1, t + 1))),
        village: Some(Division::new(village_code(d, t, v), format!("{}区{}镇{}村", d + 1, t + 1, v + 1))),
        team: String::new(),
    };
    let mut actor = [0u8; 16];
    actor[..8].copy_from_slice(&(d as u64 + 1).to_be_bytes());
    let ctx = EditContext {
        author: UserId::new(&device)?,
        device: DeviceId::new(&device)?,
        actor: ActorId::from(actor),
        now_ms: now,
    };
    let mut doc = RecordDoc::create(&new, &ctx)?;
    doc.apply(
        &[
            Edit::Set { field: Field::FundName, value: Some(Value::Text("到户补贴".into())) },
            Edit::Set {
                field: Field::Allocated,
                value: Some(Value::Money(Yuan::from_yuan(30_000 + (i % 997) as i64))),
            },
            Edit::Narrative { text: format!("入户核查第{i}号，资金已到户。") },
        ],
        &ctx,
    )?;
    let changes = doc
        .changes_since(&[])
        .into_iter()
        .map(|c| LoggedChange {
            signature: Some(xuncha_domain::signing::sign(signer, &c.hash.0)),
            hash: c.hash.to_string(),
            bytes: c.bytes,
            device_id: device.clone(),
        })
        .collect();
    let stored = StoredDoc {
        key: DocKey { record: new.id.uuid().as_bytes().to_vec(), part: Part::Record },
        snapshot: doc.save(),
        scope: DocScope {
            kind: RecordKind::FundCheck.code().into(),
            place: village_code(d, t, v),
            team: String::new(),
        },
        owner_device: device,
    };
    Ok((stored, changes))
}

/// Loads `per_district` records into each of `districts` districts: one thread makes the
/// documents, this one writes them, `LOAD_BATCH` to a transaction.
fn load(storage: &dyn Storage, districts: usize, per_district: usize) -> Result<f64> {
    let started = Instant::now();
    let total = districts * per_district;
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<(StoredDoc, Vec<LoggedChange>)>>(8);
    let maker = std::thread::spawn(move || -> Result<()> {
        let signer = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
        let mut batch = Vec::with_capacity(LOAD_BATCH);
        // District by district in turn, as a province's devices upload.
        for i in 0..per_district {
            for d in 0..districts {
                batch.push(record(d, i, &signer)?);
                if batch.len() == LOAD_BATCH {
                    send.send(std::mem::replace(&mut batch, Vec::with_capacity(LOAD_BATCH)))?;
                }
            }
        }
        if !batch.is_empty() {
            send.send(batch)?;
        }
        Ok(())
    });
    let mut written = 0usize;
    let mut reported = Instant::now();
    for batch in receive {
        with_tx(storage, true, |tx| {
            for (doc, changes) in &batch {
                tx.put_doc(doc, changes, 1_709_514_000_000)?;
            }
            Ok(())
        })
        .map_err(|e| anyhow!("loading: {e}"))?;
        written += batch.len();
        if reported.elapsed() > Duration::from_secs(30) {
            reported = Instant::now();
            let rate = written as f64 / started.elapsed().as_secs_f64();
            eprintln!("  loaded {written} of {total} records ({rate:.0}/s)");
        }
    }
    maker.join().map_err(|_| anyhow!("the loader's maker thread panicked"))??;
    Ok(started.elapsed().as_secs_f64())
}

/// One `xuncha server` process, stopped when dropped.
struct Replica {
    child: Child,
    url: String,
}

impl Replica {
    fn start(data: &Path, more: &[&str]) -> Result<Replica> {
        let exe = std::env::current_exe().context("this program's path")?;
        let mut child = Command::new(exe)
            .args(["server", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(more)
            .env("XUNCHA_LOG", "warn")
            .env_remove("XUNCHA_SERVER_KEY_FILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting a server")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no output from the server"))?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let url = loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                let _ = child.kill();
                return Err(anyhow!("the server stopped before it listened"));
            }
            if let Some(rest) = line.split("http://").nth(1) {
                break format!("http://{}", rest.split_whitespace().next().unwrap_or_default());
            }
        };
        // Keep reading its output so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        Ok(Replica { child, url })
    }

    /// Resident memory now, in MiB.
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// A counter of its `/metrics`.
    fn metric(&self, runtime: &tokio::runtime::Runtime, name: &str) -> f64 {
        let text = runtime
            .block_on(async { reqwest::get(format!("{}/metrics", self.url)).await?.text().await })
            .unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(name).filter(|rest| rest.starts_with(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The deployment under test: its storage (for the administrator's steps) and its servers.
struct Deployment {
    name: &'static str,
    storage: Arc<dyn Storage>,
    replicas: Vec<Replica>,
    districts: usize,
    dir: PathBuf,
    devices: u32,
    http: reqwest::Client,
}

/// A device that speaks the protocol itself and keeps nothing but its cursor: for the rates,
/// where the devices' own work would hide the server's.
struct Raw {
    token: String,
    cursor: Vec<u8>,
    reference_tag: Vec<u8>,
}

/// What one walk to the head of the log cost.
#[derive(Default, Clone, Copy)]
struct Walk {
    requests: u64,
    bytes: u64,
    entries: u64,
    seconds: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

impl Deployment {
    fn fail(e: xuncha_server::StorageError) -> anyhow::Error {
        anyhow!("{e}")
    }

    fn add_user(&self, id: &str, role: Role, jurisdiction: &str) -> Result<()> {
        admin::add_user(self.storage.as_ref(), id, id, role, jurisdiction, crate::now_ms())
            .map_err(Deployment::fail)?;
        Ok(())
    }

    /// A new device of `user`, enrolled through replica `replica`.
    fn store(&mut self, user: &str, replica: usize, runtime: &tokio::runtime::Runtime) -> Result<Store> {
        self.devices += 1;
        let n = self.devices;
        let code = admin::enrollment_code(self.storage.as_ref(), user, crate::now_ms()).map_err(Deployment::fail)?;
        let mut actor = [0xA5u8; 16];
        actor[12..].copy_from_slice(&n.to_be_bytes());
        let identity = Identity {
            device_id: DeviceId::new(format!("bench-{n}"))?,
            user_id: UserId::new(user)?,
            user_name: user.into(),
            actor: ActorId::from(actor),
        };
        let path = self.dir.join(format!("device-{}-{n}.db", self.name));
        let mut store = Store::create(&path, PIN, &identity, KdfParams::FAST_INSECURE)?;
        let client = Client::new(&self.replicas[replica].url, TIMEOUT)?;
        runtime.block_on(client.enroll(&mut store, &code, "bench"))?;
        Ok(store)
    }

    /// A raw device of `user`, enrolled, walked to the head of the log.
    fn raw(&mut self, user: &str, runtime: &tokio::runtime::Runtime) -> Result<(Raw, Walk)> {
        let store = self.store(user, 0, runtime)?;
        let token = store.sync_value("device_token")?.ok_or_else(|| anyhow!("no token after enrolling"))?;
        let mut raw = Raw { token, cursor: Vec::new(), reference_tag: Vec::new() };
        let walk = runtime.block_on(self.walk(&mut raw, 0))?;
        Ok((raw, walk))
    }

    /// One sync of a raw device through replica `replica`.
    async fn post(&self, raw: &Raw, replica: usize) -> Result<(SyncResponse, u64)> {
        let request = SyncRequest {
            cursor: raw.cursor.clone(),
            reference_tag: raw.reference_tag.clone(),
            ..SyncRequest::default()
        };
        let body = xuncha_protocol::encode(&request);
        let sent = body.len() as u64;
        let response = self
            .http
            .post(format!("{}/v1/sync", self.replicas[replica].url))
            .header(PROTOCOL_HEADER, "1")
            .bearer_auth(&raw.token)
            .body(body)
            .send()
            .await?
            .error_for_status()?;
        let bytes = response.bytes().await?;
        let decoded: SyncResponse = xuncha_protocol::decode(&bytes, xuncha_protocol::MAX_DECODED_BYTES)?;
        Ok((decoded, sent + bytes.len() as u64))
    }

    /// Syncs a raw device until nothing more waits, keeping only its cursor.
    async fn walk(&self, raw: &mut Raw, replica: usize) -> Result<Walk> {
        let started = Instant::now();
        let mut walk = Walk::default();
        loop {
            let (response, bytes) = self.post(raw, replica).await?;
            walk.requests += 1;
            walk.bytes += bytes;
            walk.entries += response.entries.len() as u64;
            raw.cursor = response.cursor;
            if let Some(reference) = response.reference {
                raw.reference_tag = reference.tag;
            }
            if !response.more {
                break;
            }
        }
        walk.seconds = started.elapsed().as_secs_f64();
        Ok(walk)
    }

    /// Nothing-changed syncs of `devices` through the first `replicas` replicas for `seconds`:
    /// the rate, and the p50 and p99 of a sync in milliseconds.
    fn idle_rate(
        &self,
        devices: &[Raw],
        replicas: usize,
        seconds: u64,
        runtime: &tokio::runtime::Runtime,
    ) -> (f64, f64, f64) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let times: Arc<Mutex<Vec<f64>>> = Arc::default();
        runtime.block_on(async {
            let mut tasks = Vec::new();
            for (i, raw) in devices.iter().enumerate() {
                let url = format!("{}/v1/sync", self.replicas[i % replicas].url);
                let body = xuncha_protocol::encode(&SyncRequest {
                    cursor: raw.cursor.clone(),
                    reference_tag: raw.reference_tag.clone(),
                    ..SyncRequest::default()
                });
                let (http, token, times) = (self.http.clone(), raw.token.clone(), Arc::clone(&times));
                tasks.push(tokio::spawn(async move {
                    let mine = crate::bench::repeat_sync(&http, &url, &token, &body, deadline).await;
                    if let Ok(mut all) = times.lock() {
                        all.extend(mine);
                    }
                }));
            }
            for task in tasks {
                let _ = task.await;
            }
        });
        let mut times = times.lock().map(|t| t.clone()).unwrap_or_default();
        times.sort_by(f64::total_cmp);
        (times.len() as f64 / seconds as f64, percentile(&times, 0.5), percentile(&times, 0.99))
    }
}

/// What each deployment measured.
#[derive(Default)]
struct Figures {
    load_seconds: f64,
    idle: Vec<(usize, f64, f64, f64)>,
    commits_per_second: f64,
    commit_p99_ms: f64,
    append_wait_ms: f64,
    lag_p50_ms: f64,
    lag_max_ms: f64,
    district_first: Walk,
    district_records: i64,
    province_first: Option<Walk>,
    upload_mb_per_s: f64,
    rss_before_mib: Vec<f64>,
    rss_peak_mib: Vec<f64>,
}

/// A photo of `size` bytes: a JPEG's start, then noise (photos do not compress).
fn photo(seed: u64, size: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    bytes.extend((0..size.saturating_sub(4) / 8).flat_map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x.to_le_bytes()
    }));
    bytes
}

/// Runs the measurements on a deployment whose records are loaded and whose replicas run.
fn measure(
    deployment: &mut Deployment,
    options: &Options,
    figures: &mut Figures,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let districts = deployment.districts;
    let name = deployment.name;
    // The people: a supervisor of the first district, a province-wide supervisor, township
    // inspectors for the rates, village inspectors who write, and one who watches.
    deployment.add_user("district-supervisor", Role::Supervisor, &district_code(0))?;
    deployment.add_user("province-supervisor", Role::Supervisor, "330000000000")?;
    for i in 0..options.devices {
        let (d, t) = (i % districts, (i / districts) % TOWNSHIPS);
        deployment.add_user(&format!("reader-{i}"), Role::Inspector, &township_code(d, t))?;
    }
    for i in 0..options.writers.max(options.uploads) {
        let (d, v) = (i % districts, (i / districts) % VILLAGES);
        deployment.add_user(&format!("writer-{i}"), Role::Inspector, &village_code(d, 9, v))?;
    }
    deployment.add_user("watcher", Role::Inspector, &village_code(0, 9, 0))?;

    // The first sync of the district's supervisor: a real device, every record of a district.
    let mut supervisor = deployment.store("district-supervisor", 0, runtime)?;
    let client = Client::new(&deployment.replicas[0].url, TIMEOUT)?;
    let started = Instant::now();
    let report = runtime.block_on(client.sync(&mut supervisor, |_| {}))?;
    figures.district_first = Walk {
        requests: u64::from(report.progress.round_trips),
        bytes: report.progress.bytes_up + report.progress.bytes_down,
        entries: report.progress.documents_down,
        seconds: started.elapsed().as_secs_f64(),
    };
    figures.district_records = supervisor.count()?;
    drop(supervisor);
    eprintln!("  {name}: a district supervisor's first sync: {:.1} s", figures.district_first.seconds);

    if districts > 1 {
        let (_, walk) = deployment.raw("province-supervisor", runtime)?;
        eprintln!("  {name}: a province-wide role's first sync: {:.1} s", walk.seconds);
        figures.province_first = Some(walk);
    }

    // The readers, at the head of the log.
    let mut readers = Vec::new();
    for i in 0..options.devices {
        readers.push(deployment.raw(&format!("reader-{i}"), runtime)?.0);
    }
    for replicas in 1..=deployment.replicas.len() {
        let (rate, p50, p99) = deployment.idle_rate(&readers, replicas, options.seconds, runtime);
        eprintln!("  {name}: {replicas} replica(s): {rate:.0} nothing-changed syncs/s, p99 {p99:.1} ms");
        figures.idle.push((replicas, rate, p50, p99));
    }

    // The writers: each makes a record of its own, then edits it and syncs, through the
    // replicas in turn, as fast as it can.
    let mut writers = Vec::new();
    for i in 0..options.writers.max(options.uploads) {
        let mut store = deployment.store(&format!("writer-{i}"), i % deployment.replicas.len(), runtime)?;
        let (d, v) = (i % districts, (i / districts) % VILLAGES);
        let id = RecordId::new(crate::now_ms(), &[0xB0, (i >> 8) as u8, i as u8, 1, 2, 3, 4, 5, 6, 7]);
        let new = NewRecord {
            id,
            kind: RecordKind::FundCheck,
            title: format!("写入基准 {i}"),
            round: ROUND.into(),
            township: Some(Division::new(township_code(d, 9), "镇")),
            village: Some(Division::new(village_code(d, 9, v), "村")),
            team: String::new(),
        };
        store.create_record(&new, &[], crate::now_ms())?;
        let client = Client::new(&deployment.replicas[0].url, TIMEOUT)?;
        runtime.block_on(client.sync(&mut store, |_| {}))?;
        writers.push((store, id));
    }
    let urls: Vec<String> = deployment.replicas.iter().map(|r| r.url.clone()).collect();
    let wait_before: f64 =
        deployment.replicas.iter().map(|r| r.metric(runtime, "xuncha_log_append_wait_seconds_total")).sum();
    let commits_before: f64 =
        deployment.replicas.iter().map(|r| r.metric(runtime, "xuncha_storage_commits_total{kind=\"write\"}")).sum();
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let times: Mutex<Vec<f64>> = Mutex::default();
    let failed = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for (i, (store, id)) in writers.iter_mut().take(options.writers).enumerate() {
            let (urls, times, failed) = (&urls, &times, &failed);
            scope.spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
                let mut mine = Vec::new();
                let mut n = 0usize;
                while Instant::now() < deadline {
                    n += 1;
                    let amount = Value::Money(Yuan::from_yuan(10_000 + n as i64));
                    if store
                        .edit(*id, &[Edit::Set { field: Field::Allocated, value: Some(amount) }], crate::now_ms())
                        .is_err()
                    {
                        failed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let Ok(client) = Client::new(&urls[(i + n) % urls.len()], TIMEOUT) else { return };
                    let at = Instant::now();
                    match runtime.block_on(client.sync(store, |_| {})) {
                        Ok(report) if report.refused.is_empty() => mine.push(at.elapsed().as_secs_f64() * 1e3),
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                if let Ok(mut all) = times.lock() {
                    all.extend(mine);
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut times = times.into_inner().unwrap_or_default();
    if failed.load(Ordering::Relaxed) > 0 {
        return Err(anyhow!("{} of the writers' syncs failed", failed.load(Ordering::Relaxed)));
    }
    times.sort_by(f64::total_cmp);
    let commits_after: f64 =
        deployment.replicas.iter().map(|r| r.metric(runtime, "xuncha_storage_commits_total{kind=\"write\"}")).sum();
    let wait_after: f64 =
        deployment.replicas.iter().map(|r| r.metric(runtime, "xuncha_log_append_wait_seconds_total")).sum();
    figures.commits_per_second = (commits_after - commits_before) / elapsed;
    figures.commit_p99_ms = percentile(&times, 0.99);
    let writes = (commits_after - commits_before).max(1.0);
    figures.append_wait_ms = (wait_after - wait_before) * 1e3 / writes;
    eprintln!("  {name}: {:.0} commits/s (p99 sync {:.0} ms)", figures.commits_per_second, figures.commit_p99_ms);

    // From a writer's acknowledgement to a reader on another replica: 20 changes.
    let (mut watcher, _) = deployment.raw("watcher", runtime)?;
    let mut lags = Vec::new();
    let (store, id) = &mut writers[0];
    let key = id.uuid().as_bytes().to_vec();
    for n in 0..20usize {
        let amount = Value::Money(Yuan::from_yuan(50_000 + n as i64));
        store.edit(*id, &[Edit::Set { field: Field::Allocated, value: Some(amount) }], crate::now_ms())?;
        let client = Client::new(&urls[n % urls.len()], TIMEOUT)?;
        runtime.block_on(client.sync(store, |_| {}))?;
        let acknowledged = Instant::now();
        let reader = (n + 1) % urls.len();
        loop {
            let (response, _) = runtime.block_on(deployment.post(&watcher, reader))?;
            watcher.cursor = response.cursor;
            if response.entries.iter().any(|e| e.doc.record == key) {
                break;
            }
            if acknowledged.elapsed() > Duration::from_secs(30) {
                return Err(anyhow!("a change acknowledged 30 s ago has not reached a reader"));
            }
        }
        lags.push(acknowledged.elapsed().as_secs_f64() * 1e3);
    }
    lags.sort_by(f64::total_cmp);
    figures.lag_p50_ms = percentile(&lags, 0.5);
    figures.lag_max_ms = lags.last().copied().unwrap_or_default();

    // Photos: `uploads` writers each attach one and sync at once.
    let size = options.upload_mb << 20;
    for (i, (store, id)) in writers.iter_mut().take(options.uploads).enumerate() {
        let file = xuncha_store::NewAttachment {
            bytes: photo(i as u64 + 1, size),
            mime: "image/jpeg".into(),
            caption: format!("现场照片 {i}"),
            taken_at_ms: Some(crate::now_ms()),
            gps: None,
        };
        store.edit_with_attachments(*id, &[], &[file], crate::now_ms())?;
    }
    figures.rss_before_mib = deployment.replicas.iter().map(Replica::rss_mib).collect();
    let peaks: Vec<Mutex<f64>> = figures.rss_before_mib.iter().map(|r| Mutex::new(*r)).collect();
    let done = AtomicBool::new(false);
    let started = Instant::now();
    let failed = AtomicU64::new(0);
    std::thread::scope(|scope| {
        let (replicas, peaks, done) = (&deployment.replicas, &peaks, &done);
        scope.spawn(move || {
            while !done.load(Ordering::Relaxed) {
                for (replica, peak) in replicas.iter().zip(peaks) {
                    let now = replica.rss_mib();
                    if let Ok(mut p) = peak.lock() {
                        *p = p.max(now);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let mut uploaders = Vec::new();
        for (i, (store, _)) in writers.iter_mut().take(options.uploads).enumerate() {
            let (urls, failed) = (&urls, &failed);
            uploaders.push(scope.spawn(move || {
                let done = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()
                    .zip(Client::new(&urls[i % urls.len()], TIMEOUT).ok())
                    .and_then(|(runtime, client)| runtime.block_on(client.sync(store, |_| {})).ok());
                if done.is_none_or(|r| !r.refused.is_empty()) {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for uploader in uploaders {
            let _ = uploader.join();
        }
        done.store(true, Ordering::Relaxed);
    });
    let elapsed = started.elapsed().as_secs_f64();
    if failed.load(Ordering::Relaxed) > 0 {
        return Err(anyhow!("{} of the photo uploads failed", failed.load(Ordering::Relaxed)));
    }
    for (store, _) in writers.iter().take(options.uploads) {
        let waiting = store.attachments_to_upload()?.len();
        if waiting > 0 {
            return Err(anyhow!("a device still has {waiting} photo(s) to upload after its sync"));
        }
    }
    figures.upload_mb_per_s = (options.uploads * options.upload_mb) as f64 / elapsed;
    figures.rss_peak_mib = peaks.iter().map(|p| p.lock().map(|v| *v).unwrap_or_default()).collect();
    eprintln!("  {name}: {} photos of {} MB: {:.0} MB/s", options.uploads, options.upload_mb, figures.upload_mb_per_s);
    Ok(())
}

fn ratio(ours: f64, base: f64) -> String {
    if base <= 0.0 { "—".into() } else { format!("{:.2}×", ours / base) }
}

fn mib(values: &[f64]) -> String {
    values.iter().map(|v| format!("{v:.0}")).collect::<Vec<_>>().join(" / ")
}

/// Runs the benchmark.
pub fn province(options: &Options) -> Result<()> {
    if options.records < DISTRICTS {
        return Err(
            crate::commands::BadInput(format!("--records must be at least {DISTRICTS} (one per district)")).into()
        );
    }
    let per_district = options.records / DISTRICTS;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let dir = tempfile::tempdir()?;
    let machine = machine();
    println!(
        "xuncha bench province: {} records in {DISTRICTS} districts on PostgreSQL + an S3-compatible store, 1–3 replicas; baseline: one district ({per_district} records) on SQLite, one server; loopback, {machine}\n",
        per_district * DISTRICTS
    );

    // The baseline first: today's district server.
    let mut sqlite_figures = Figures::default();
    {
        let data = dir.path().join("district");
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&data).map_err(Deployment::fail)?);
        admin::import_divisions(storage.as_ref(), &divisions(1), 0).map_err(Deployment::fail)?;
        eprintln!("SQLite: loading {per_district} records");
        sqlite_figures.load_seconds = load(storage.as_ref(), 1, per_district)?;
        let replica = Replica::start(&data, &[])?;
        let mut deployment = Deployment {
            name: "SQLite",
            storage,
            replicas: vec![replica],
            districts: 1,
            dir: dir.path().to_owned(),
            devices: 0,
            http: reqwest::Client::new(),
        };
        measure(&mut deployment, options, &mut sqlite_figures, &runtime)?;
    }

    // The province.
    let mut pg_figures = Figures::default();
    let database = xuncha_server::pg::ScratchDatabase::create(&options.postgres).map_err(Deployment::fail)?;
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys)?;
    let key = xuncha_server::at_rest::MasterKey::read_or_create(&keys.join("server.key")).map_err(Deployment::fail)?;
    xuncha_server::chain::ServerKey::open(&keys).map_err(Deployment::fail)?;
    let storage: Arc<dyn Storage> =
        Arc::new(xuncha_server::PgStorage::open(&database.url, key).map_err(Deployment::fail)?);
    admin::import_divisions(storage.as_ref(), &divisions(DISTRICTS), 0).map_err(Deployment::fail)?;
    eprintln!("PostgreSQL: loading {} records", per_district * DISTRICTS);
    pg_figures.load_seconds = load(storage.as_ref(), DISTRICTS, per_district)?;
    let mut replicas = Vec::new();
    for i in 0..3 {
        let data = dir.path().join(format!("replica-{i}"));
        std::fs::create_dir_all(&data)?;
        for file in ["server.key", "checkpoint.key"] {
            std::fs::copy(keys.join(file), data.join(file))?;
        }
        replicas.push(Replica::start(&data, &["--postgres", &database.url, "--attachments", &options.attachments])?);
    }
    let mut deployment = Deployment {
        name: "PostgreSQL",
        storage,
        replicas,
        districts: DISTRICTS,
        dir: dir.path().to_owned(),
        devices: 0,
        http: reqwest::Client::new(),
    };
    measure(&mut deployment, options, &mut pg_figures, &runtime)?;
    let table_bytes = database_size(&database.url).unwrap_or_default();
    drop(deployment);

    let (s, p) = (&sqlite_figures, &pg_figures);
    println!("| | PostgreSQL + S3 (province) | SQLite (district) | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| records on the server | {} ({:.0} MB in PostgreSQL) | {per_district} | |",
        per_district * DISTRICTS,
        table_bytes as f64 / 1e6
    );
    println!(
        "| loading them (storage layer, 500 a transaction) | {:.0} s ({:.0}/s) | {:.1} s ({:.0}/s) | |",
        p.load_seconds,
        (per_district * DISTRICTS) as f64 / p.load_seconds,
        s.load_seconds,
        per_district as f64 / s.load_seconds
    );
    let base = s.idle.first().copied().unwrap_or_default();
    for &(replicas, rate, p50, p99) in &p.idle {
        println!(
            "| nothing-changed syncs per second, {} devices, {replicas} replica{} | {rate:.0}/s (p50 {p50:.1} ms, p99 {p99:.1} ms) | {:.0}/s (p50 {:.1} ms, p99 {:.1} ms) | {} |",
            options.devices,
            if replicas == 1 { "" } else { "s" },
            base.1,
            base.2,
            base.3,
            ratio(rate, base.1)
        );
    }
    println!(
        "| commits per second, {} writing devices, 3 replicas | {:.0}/s (sync p99 {:.0} ms) | {:.0}/s (sync p99 {:.0} ms) | {} |",
        options.writers,
        p.commits_per_second,
        p.commit_p99_ms,
        s.commits_per_second,
        s.commit_p99_ms,
        ratio(p.commits_per_second, s.commits_per_second)
    );
    println!(
        "| a writer's wait for the log appender, per write | {:.2} ms | {:.2} ms | |",
        p.append_wait_ms, s.append_wait_ms
    );
    println!(
        "| from a writer's acknowledgement to a reader on another replica (horizon lag), p50 / max | {:.1} / {:.1} ms | {:.1} / {:.1} ms | |",
        p.lag_p50_ms, p.lag_max_ms, s.lag_p50_ms, s.lag_max_ms
    );
    println!(
        "| first sync of a district supervisor's device ({} records) | {:.1} s, {} requests, {:.1} MB | {:.1} s, {} requests, {:.1} MB | {} |",
        p.district_records,
        p.district_first.seconds,
        p.district_first.requests,
        p.district_first.bytes as f64 / 1e6,
        s.district_first.seconds,
        s.district_first.requests,
        s.district_first.bytes as f64 / 1e6,
        ratio(p.district_first.seconds, s.district_first.seconds)
    );
    if let Some(walk) = p.province_first {
        println!(
            "| first sync of a province-wide role ({} documents; the server's side) | {:.0} s, {} requests, {:.0} MB ({:.0} documents/s) | — | |",
            walk.entries,
            walk.seconds,
            walk.requests,
            walk.bytes as f64 / 1e6,
            walk.entries as f64 / walk.seconds
        );
    }
    println!(
        "| {} devices each syncing a {} MB photo at once | {:.0} MB/s | {:.0} MB/s | {} |",
        options.uploads,
        options.upload_mb,
        p.upload_mb_per_s,
        s.upload_mb_per_s,
        ratio(p.upload_mb_per_s, s.upload_mb_per_s)
    );
    println!(
        "| each server's resident memory before → at its peak during the photos (MiB) | {} → {} | {} → {} | |",
        mib(&p.rss_before_mib),
        mib(&p.rss_peak_mib),
        mib(&s.rss_before_mib),
        mib(&s.rss_peak_mib)
    );
    if p.district_records as usize != per_district || s.district_records as usize != per_district {
        return Err(anyhow!(
            "a district supervisor received {} (PostgreSQL) and {} (SQLite) records of the district's {per_district}",
            p.district_records,
            s.district_records
        ));
    }
    if let Some(walk) = p.province_first
        && walk.entries < (per_district * DISTRICTS) as u64
    {
        return Err(anyhow!(
            "the province-wide role received {} of {} documents",
            walk.entries,
            per_district * DISTRICTS
        ));
    }
    Ok(())
}

/// The database's size on disk, in bytes.
fn database_size(url: &str) -> Result<i64> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    Ok(client.query_one("SELECT pg_database_size(current_database())", &[])?.get(0))
}

/// The machine, as the figures should name it.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_else(|| "an unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| l.strip_prefix("MemTotal:")?.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!("{cores} cores ({cpu}), {memory:.0} GiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_province_has_a_hundred_districts_of_a_hundred_villages() {
        let table = divisions(DISTRICTS);
        let villages = table
            .iter()
            .filter(|d| xuncha_domain::reference::level_of(&d.code) == Some(xuncha_domain::Level::Village))
            .count();
        assert_eq!(villages, DISTRICTS * TOWNSHIPS * VILLAGES);
        let codes: std::collections::BTreeSet<&str> = table.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes.len(), table.len(), "every code once");
        assert!(
            table.iter().all(|d| d.parent.is_empty() || codes.contains(d.parent.as_str())),
            "every parent is in the table"
        );
        assert_eq!(district_code(99), "331010000000");
        assert_eq!(village_code(99, 9, 9), "331010010010");
    }

    #[test]
    fn records_lie_in_their_district() {
        let signer = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let (doc, changes) = record(42, 1234, &signer).unwrap();
        assert!(doc.scope.place.starts_with(&district_code(42)[..6]));
        assert_eq!(changes.len(), 2, "created, then filled in");
        assert!(changes.iter().all(|c| c.signature.as_ref().is_some_and(|s| s.len() == 64)));
    }
}
