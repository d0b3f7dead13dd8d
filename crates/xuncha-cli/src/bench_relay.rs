//! `xuncha bench relay`: a team relay on the lead's device serving N member devices on
//! loopback, beside the same devices syncing with the district server on loopback (copies of
//! them, holding the same records): the time for every device to send its day's records, for
//! every device to receive everyone else's, and the rate of syncs with nothing new; then how
//! long the lead's device takes to take it all in and carry it to the server. Each device's
//! day includes photos, which travel with its records (to the relay or to the server) and
//! from the relay into the lead's device and on to the server.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use xuncha_domain::{ActorId, DeviceId, Division, Edit, Field, NewRecord, RecordId, RecordKind, UserId, Value, Yuan};
use xuncha_server::{AppState, SqliteStorage, Storage, admin};
use xuncha_store::{KdfParams, Store};
use xuncha_sync::Client;

const PIN: &str = "246810";
const TEAM: &str = "接力巡察组";
const TIMEOUT: Duration = Duration::from_secs(600);

/// A member's device: its folder (copied for the server's run) and identity.
struct Member {
    dir: std::path::PathBuf,
    user: String,
}

impl Member {
    fn db(&self) -> std::path::PathBuf {
        self.dir.join("device.db")
    }
}

fn enroll(
    storage: &dyn Storage,
    url: &str,
    db: &Path,
    user: &str,
    n: u8,
    runtime: &tokio::runtime::Runtime,
) -> Result<Store> {
    let code = admin::enrollment_code(storage, user, crate::now_ms()).map_err(|e| anyhow!("{e}"))?;
    let identity = xuncha_store::Identity {
        device_id: DeviceId::new(format!("relay-bench-{n}"))?,
        user_id: UserId::new(user)?,
        user_name: user.into(),
        actor: ActorId::from([n; 16]),
    };
    let mut store = Store::create(db, PIN, &identity, KdfParams::FAST_INSECURE)?;
    let client = Client::new(url, TIMEOUT)?;
    runtime.block_on(client.enroll(&mut store, &code, "bench"))?;
    let report = runtime.block_on(client.sync(&mut store, |_| {}))?;
    if !report.refused.is_empty() {
        return Err(anyhow!("a sync was refused: {:?}", report.refused));
    }
    Ok(store)
}

/// Copies a device's folder (database and key file).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// Runs `work` on every device at once, each in its own thread; the wall time in ms.
fn all_at_once(dbs: &[std::path::PathBuf], work: impl Fn(&mut Store) -> Result<()> + Sync) -> Result<f64> {
    let started = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = dbs
            .iter()
            .map(|db| {
                let work = &work;
                scope.spawn(move || -> Result<()> {
                    let mut store = Store::open(db, PIN)?;
                    work(&mut store)
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().map_err(|_| anyhow!("a device thread panicked"))?)
    })?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// The figures of one route.
#[derive(Debug, Default)]
struct Route {
    send_ms: f64,
    receive_ms: f64,
    idle_syncs_per_s: f64,
}

/// The size of each photo.
const PHOTO: usize = 1 << 20;

/// A photo's bytes: a JPEG's start, then noise (photos do not compress), different for
/// each `seed`.
fn photo(seed: u64) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    bytes.extend((0..PHOTO - 4).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x.to_le_bytes()[0]
    }));
    bytes
}

pub fn relay(devices: usize, records: usize, idle_rounds: usize, photos: usize) -> Result<()> {
    if !(1..=200).contains(&devices) {
        return Err(crate::commands::BadInput("--devices must be between 1 and 200".into()).into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let dir = tempfile::tempdir()?;
    let now = crate::now_ms();
    let fail = |e: xuncha_server::StorageError| anyhow!("{e}");
    // The district server with the demo round and a team of `devices` members and a lead.
    let office: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&dir.path().join("office")).map_err(fail)?);
    crate::demo::round(office.as_ref(), 2024, now)?;
    admin::add_user(office.as_ref(), "relay-lead", "接力组长", xuncha_protocol::Role::TeamLead, "330199000000", now)
        .map_err(fail)?;
    let users: Vec<String> = (1..=devices).map(|i| format!("relay-m{i}")).collect();
    for user in &users {
        admin::add_user(office.as_ref(), user, user, xuncha_protocol::Role::Inspector, "330199000000", now)
            .map_err(fail)?;
    }
    let team = admin::NewTeam {
        name: TEAM.into(),
        round: "2024年第一轮".into(),
        lead: "relay-lead".into(),
        members: users.clone(),
        places: vec!["330199101000".into()],
        ..admin::NewTeam::default()
    };
    admin::add_team(office.as_ref(), &team, now).map_err(fail)?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let office_url = format!("http://{}", listener.local_addr()?);
    runtime.spawn(xuncha_server::serve(listener, AppState::new(office.clone()), std::future::pending()));

    let lead_db = dir.path().join("lead").join("device.db");
    std::fs::create_dir_all(lead_db.parent().unwrap_or(dir.path()))?;
    let mut lead = enroll(office.as_ref(), &office_url, &lead_db, "relay-lead", 1, &runtime)?;
    let mut members = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let member = Member { dir: dir.path().join(format!("m{i}")), user: user.clone() };
        std::fs::create_dir_all(&member.dir)?;
        let n = u8::try_from(i + 2).map_err(|_| anyhow!("too many devices"))?;
        let mut store = enroll(office.as_ref(), &office_url, &member.db(), &member.user, n, &runtime)?;
        // A day's work: `records` fund checks with their figures.
        for r in 0..records {
            let new = NewRecord {
                id: RecordId::new(now + r as i64, &[n, (r % 251) as u8, (r / 251) as u8, 7, 7, 7, 7, 7, 7, 7]),
                kind: RecordKind::FundCheck,
                title: format!("上坪村到户补贴检查 {user} {r}"),
                round: "2024年第一轮".into(),
                township: Some(Division::new("330199101000", "东岭镇")),
                village: Some(Division::new("330199101001", "上坪村")),
                team: TEAM.into(),
            };
            let edits = [
                Edit::Set { field: Field::FundName, value: Some(Value::Text("到户补贴".into())) },
                Edit::Set { field: Field::Allocated, value: Some(Value::Money(Yuan::from_yuan(30_000 + r as i64))) },
                Edit::Set { field: Field::FundType, value: Some(Value::Choice("household_subsidy".into())) },
            ];
            store.create_record(&new, &edits, now)?;
            if r < photos {
                let file = xuncha_store::NewAttachment {
                    bytes: photo((n as u64) << 32 | r as u64),
                    mime: "image/jpeg".into(),
                    caption: format!("现场照片 {r}"),
                    taken_at_ms: Some(now),
                    gps: None,
                };
                store.edit_with_attachments(new.id, &[], &[file], now)?;
            }
        }
        drop(store);
        members.push(member);
    }
    // The same devices for the server's run: copies, holding the same records.
    let mut copies = Vec::new();
    for (i, member) in members.iter().enumerate() {
        let copy = dir.path().join(format!("c{i}"));
        copy_dir(&member.dir, &copy)?;
        copies.push(copy.join("device.db"));
    }
    let originals: Vec<_> = members.iter().map(Member::db).collect();

    // The relay on the lead's device, on loopback.
    let relay = Arc::new(xuncha_relay::Relay::open(&mut lead, &xuncha_relay::dir_for(&lead_db), None, "1234 5678")?);
    relay.bridge_records(&mut lead)?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let link = relay.link(&format!("https://{}", listener.local_addr()?));
    let host = Arc::new(Mutex::new(lead));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(xuncha_relay::serve(
        relay.clone(),
        host.clone(),
        listener,
        Duration::from_secs(3600),
        |_| {},
        async {
            let _ = stopped.await;
        },
    ));
    for db in &originals {
        let mut store = Store::open(db, PIN)?;
        runtime.block_on(xuncha_sync::relay::join(&mut store, &link, "bench", TIMEOUT))?;
    }
    let relay_sync = |store: &mut Store| -> Result<()> {
        let report = runtime.block_on(xuncha_sync::relay::sync(store, TIMEOUT))?;
        if report.refused.is_empty() { Ok(()) } else { Err(anyhow!("the relay refused: {:?}", report.refused)) }
    };
    let server_sync = |store: &mut Store| -> Result<()> {
        let client = Client::new(&office_url, TIMEOUT)?;
        let report = runtime.block_on(client.sync(store, |_| {}))?;
        if report.refused.is_empty() { Ok(()) } else { Err(anyhow!("the server refused: {:?}", report.refused)) }
    };
    let idle = |sync: &(dyn Fn(&mut Store) -> Result<()> + Sync), dbs: &[std::path::PathBuf]| -> Result<f64> {
        let ms = all_at_once(dbs, |store| (0..idle_rounds).try_for_each(|_| sync(store)))?;
        Ok((dbs.len() * idle_rounds) as f64 / (ms / 1000.0))
    };
    let mut via_relay = Route { send_ms: all_at_once(&originals, relay_sync)?, ..Route::default() };
    via_relay.receive_ms = all_at_once(&originals, relay_sync)?;
    via_relay.idle_syncs_per_s = idle(&relay_sync, &originals)?;
    let mut via_server = Route { send_ms: all_at_once(&copies, server_sync)?, ..Route::default() };
    via_server.receive_ms = all_at_once(&copies, server_sync)?;
    via_server.idle_syncs_per_s = idle(&server_sync, &copies)?;

    // Everyone holds everyone's records, by either route.
    let total = devices * records;
    let photos_sent = devices * photos.min(records);
    for db in originals.iter().chain(&copies) {
        let store = Store::open(db, PIN)?;
        let held = usize::try_from(store.count()?).unwrap_or(0);
        if held < total {
            return Err(anyhow!("{} holds {held} of {total} records", db.display()));
        }
    }

    // The relay closes; the lead's device takes the team's work in and to the server.
    let started = Instant::now();
    stop.send(()).map_err(|()| anyhow!("the relay stopped early"))?;
    runtime.block_on(serving)??;
    let bridge_ms = started.elapsed().as_secs_f64() * 1000.0;
    let Ok(host) = Arc::try_unwrap(host) else { return Err(anyhow!("the relay still holds the lead's database")) };
    let mut lead = host.into_inner().map_err(|_| anyhow!("poisoned"))?;
    let carried = lead.attachments_to_upload()?.len();
    if carried < photos_sent {
        return Err(anyhow!("the lead's device holds {carried} of the team's {photos_sent} photos"));
    }
    let started = Instant::now();
    server_sync(&mut lead)?;
    let carry_ms = started.elapsed().as_secs_f64() * 1000.0;

    println!(
        "xuncha bench relay: {devices} member devices with {records} new records and {} photos of 1 MiB each, syncing at once with the lead's relay on loopback; baseline: the same devices (copies) syncing with the district server on loopback\n",
        photos.min(records)
    );
    println!("| step | relay | server | relay/server time |");
    println!("|---|---|---|---|");
    let row = |step: &str, relay: f64, server: f64| {
        println!("| {step} | {relay:.0} ms | {server:.0} ms | {:.2} |", relay / server.max(0.001));
    };
    row(
        &format!("every device sends its {records} records and {} photos", photos.min(records)),
        via_relay.send_ms,
        via_server.send_ms,
    );
    row(
        &format!("every device receives the other {} devices' records", devices - 1),
        via_relay.receive_ms,
        via_server.receive_ms,
    );
    println!(
        "| syncs with nothing new ({} per device) | {:.0} /s | {:.0} /s | {:.2} |",
        idle_rounds,
        via_relay.idle_syncs_per_s,
        via_server.idle_syncs_per_s,
        via_server.idle_syncs_per_s / via_relay.idle_syncs_per_s.max(0.001)
    );
    println!(
        "\nrecords through the relay: {:.0} /s in, {:.0} /s out; the lead's device takes the team's {total} records and {photos_sent} photos in {bridge_ms:.0} ms and carries them to the server in {carry_ms:.0} ms",
        total as f64 / (via_relay.send_ms / 1000.0),
        (total * (devices - 1)) as f64 / (via_relay.receive_ms / 1000.0),
    );
    Ok(())
}
