//! A team relay in a village with no signal: the lead's device serves its team of three on
//! loopback (as on a phone hotspot). Members join with the code beside its QR code and see
//! each other's records and the lead's, over TLS pinned to the relay's key; a device of
//! another team, a wrong code and a relay that cannot prove its key are refused. Back at the office, the lead's device syncs with
//! the district server, which accepts the members' changes by their own signatures (the log
//! names their tablets, not the lead's) and refuses a change the relay forged in a member's
//! name. Photos travel the same way: a member's reach the lead's device (which takes them on
//! to the district server) and teammates (who fetch them from the relay while the server is
//! out of reach), and none goes back to where it came from.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use xuncha_domain::*;
use xuncha_protocol::Role;
use xuncha_protocol::relay::RelayLink;
use xuncha_relay::Relay;
use xuncha_server::storage::with_tx;
use xuncha_store::{Carried, Incoming, NewAttachment, Part};
use xuncha_sync::SyncError;
use xuncha_tests::{Device, District, EAST, WEST, fund_check, new_record};

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

const TIMEOUT: Duration = Duration::from_secs(20);

/// A photo of `len` bytes, different for each `seed`.
fn photo(seed: u8, len: usize) -> NewAttachment {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    let mut x = u32::from(seed) | 0x9E37_0000;
    bytes.extend((0..len).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    NewAttachment {
        bytes, mime: "image/jpeg".into(), caption: format!("现场照片{seed}"), taken_at_ms: None, gps: None
    }
}

/// The error code a refused join or sync answered with.
fn refusal(error: SyncError) -> String {
    match error {
        SyncError::Server { code, .. } => code.as_str().to_owned(),
        other => panic!("not a refusal: {other}"),
    }
}

#[test]
fn a_team_relay_serves_its_team_and_the_server_accepts_what_it_carries_by_signature() {
    let mut district = District::start();
    let mut lee = district.device("lee", Role::TeamLead, EAST.0);
    let mut wang = district.device("wang", Role::Inspector, EAST.0);
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    let mut zhao = district.device("zhao", Role::Inspector, "district");
    district.set_up_round("lee", &[], &["wang", "zhang"]);
    // zhao works in another team, in another township.
    let storage = district.storage.as_ref();
    let west = [
        xuncha_domain::DivisionEntry { code: WEST.0.into(), name: WEST.1.into(), parent: "330199000000".into() },
        xuncha_domain::DivisionEntry {
            code: format!("{}001", &WEST.0[..9]),
            name: "第一村".into(),
            parent: WEST.0.into(),
        },
    ];
    xuncha_server::admin::import_divisions(storage, &west, now_ms()).unwrap();
    let second = xuncha_server::admin::NewTeam {
        name: "第二巡察组".into(),
        round: "2024年第一轮".into(),
        lead: "zhao".into(),
        deputies: vec![],
        members: vec![],
        places: vec![WEST.0.into()],
        units: vec![],
    };
    xuncha_server::admin::add_team(storage, &second, now_ms()).unwrap();
    for device in [&mut lee, &mut wang, &mut zhang, &mut zhao] {
        district.synced(device);
    }
    // Something of the lead's, written in the village, not yet at the office.
    let (new, edits) = fund_check("东岭镇第一村危房改造资金检查", 1);
    let leads = lee.create(&new, &edits);
    let leads_photo = photo(1, 40_000);
    lee.store.edit_with_attachments(leads, &[], std::slice::from_ref(&leads_photo), now_ms()).unwrap();

    // 开启组内同步: only a lead's device can; the lead's shows the QR code.
    let relay_dir = tempfile::tempdir().unwrap();
    let not_a_lead = Relay::open(&mut wang.store, &relay_dir.path().join("wang"), None, "1");
    assert!(matches!(not_a_lead, Err(xuncha_relay::RelayError::NotALead(_))), "{not_a_lead:?}");
    let relay = Arc::new(Relay::open(&mut lee.store, &relay_dir.path().join("lee"), None, "4821 0937").unwrap());
    relay.bridge_records(&mut lee.store).unwrap();
    let listener = district.runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let link = RelayLink::parse(&relay.link(&url).to_uri()).unwrap();
    let Device { store: lee_store, client: lee_client, name: lee_name } = lee;
    let host = Arc::new(Mutex::new(lee_store));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = district.runtime.spawn(xuncha_relay::serve(
        Arc::clone(&relay),
        Arc::clone(&host),
        listener,
        Duration::from_millis(100),
        |_| {},
        async {
            let _ = stopped.await;
        },
    ));
    let join = |device: &mut Device, link: &RelayLink| {
        district.runtime.block_on(xuncha_sync::relay::join(&mut device.store, link, "平板", TIMEOUT))
    };
    let relay_sync =
        |device: &mut Device| district.runtime.block_on(xuncha_sync::relay::sync(&mut device.store, TIMEOUT)).unwrap();

    // Who may join: the team's own devices, with the code on the lead's screen.
    let wrong_code = RelayLink { code: "0000 0000".into(), ..link.clone() };
    assert_eq!(refusal(join(&mut wang, &wrong_code).unwrap_err()), "bad_enrollment_code");
    assert_eq!(refusal(join(&mut zhao, &link).unwrap_err()), "forbidden", "a device of another team");
    assert!(matches!(
        district.runtime.block_on(xuncha_sync::relay::sync(&mut zhao.store, TIMEOUT)),
        Err(SyncError::NotJoined)
    ));
    // A QR code naming another key than the relay's (a device on the hotspot posing as the
    // lead's relay, say): the TLS handshake already shows another key, and nothing is
    // joined or sent.
    let other_key = district.bundle_identity().key.to_text();
    let impostor = RelayLink { key: other_key, ..link.clone() };
    assert!(matches!(join(&mut wang, &impostor), Err(SyncError::NotTheRelay { .. })));
    // The relay speaks TLS only.
    let plain = RelayLink { url: url.replace("https://", "http://"), ..link.clone() };
    assert!(matches!(join(&mut wang, &plain), Err(SyncError::Unreachable { .. })));
    // A join whose proof is not the device's signature (someone replaying what they know
    // of wang's device) is refused by the relay itself.
    let (signing, sealing) = wang.store.public_keys();
    let identity = wang.store.identity().clone();
    let forged_join = xuncha_protocol::relay::JoinRequest {
        code: link.code.clone(),
        device_id: identity.device_id.to_string(),
        device_name: "平板".into(),
        user_id: identity.user_id.to_string(),
        actor: identity.actor.to_hex_string(),
        keys: xuncha_protocol::DeviceKeys { signing, sealing },
        proof: vec![0; 64],
    };
    let answer = district.runtime.block_on(async {
        let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
        let response = http
            .post(format!("{url}/v1/relay/join"))
            .header(xuncha_protocol::PROTOCOL_HEADER, xuncha_protocol::PROTOCOL_VERSION.to_string())
            .json(&forged_join)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap())
    });
    assert_eq!((answer.0, answer.1["code"].as_str()), (403, Some("bad_signature")), "{answer:?}");
    assert!(xuncha_sync::relay::route(&wang.store).unwrap().is_none());
    for device in [&mut wang, &mut zhang] {
        let route = join(device, &link).unwrap();
        assert_eq!(route.team, relay.team().id);
    }

    // In the village: wang and zhang each record a check; through the relay, each sees the
    // other's and the lead's, and the lead's device holds all three.
    let (new, edits) = fund_check("东岭镇第一村到户补贴发放检查", 2);
    let by_wang = wang.create(&new, &edits);
    let (new, edits) = fund_check("东岭镇第一村产业扶贫资金检查", 3);
    let by_zhang = zhang.create(&new, &edits);
    // A photo larger than one piece on every leg of its way.
    let wangs_photo = photo(2, 1_500_000);
    wang.store.edit_with_attachments(by_wang, &[], std::slice::from_ref(&wangs_photo), now_ms()).unwrap();
    let first = relay_sync(&mut wang);
    assert!(first.refused.is_empty(), "{:?}", first.refused);
    assert_eq!(first.files_up, 1, "{first:?}");
    let report = relay_sync(&mut zhang);
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    relay_sync(&mut wang);
    for (device, ids) in [(&wang, [leads, by_zhang]), (&zhang, [leads, by_wang])] {
        for id in ids {
            assert!(device.store.record(id).is_ok(), "{} lacks {id}", device.name);
        }
    }
    // Members' own records still wait for the district server; teammates' do not.
    assert_eq!(wang.store.pending_records().unwrap(), vec![by_wang]);
    // A second sync with nothing new sends nothing and receives nothing.
    let idle = relay_sync(&mut wang);
    assert_eq!((idle.sent, idle.received, idle.round_trips, idle.files_up), (0, 0, 1, 0), "{idle:?}");

    // Photos through the relay: zhang fetches wang's from it (the relay had it from wang)
    // and the lead's (the bridge took it in); the relay checks what the record shows.
    let (wang_sha, lead_sha) = (wangs_photo.reference().sha256, leads_photo.reference().sha256);
    let fetched = district
        .runtime
        .block_on(xuncha_sync::relay::download_attachment(&mut zhang.store, &wang_sha, "image/jpeg", TIMEOUT))
        .unwrap();
    assert_eq!(fetched, wangs_photo.bytes);
    // With the district server out of reach, the app's fetch goes to the relay.
    district.stop();
    let mut fetched = Err(SyncError::NotJoined);
    for _ in 0..50 {
        // The lead's photo reaches the relay with the next bridge pass.
        fetched = district.runtime.block_on(xuncha_sync::relay::download_attachment_anywhere(
            &mut zhang.store,
            &lead_sha,
            "image/jpeg",
            TIMEOUT,
        ));
        if fetched.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(fetched.unwrap(), leads_photo.bytes);
    district.resume();
    // What zhang fetched is the lead's to take to the server, and goes back to no relay.
    assert!(zhang.store.attachments_to_upload().unwrap().is_empty());
    let again = district.runtime.block_on(xuncha_sync::relay::sync(&mut zhang.store, TIMEOUT)).unwrap();
    assert_eq!(again.files_up, 0, "{again:?}");
    // wang still takes its own photo to the server itself (in case the lead's device is lost).
    assert_eq!(wang.store.attachments_to_upload().unwrap().len(), 1);

    // The relay closes (a last pass into the lead's database).
    stop.send(()).unwrap();
    district.runtime.block_on(serving).unwrap().unwrap();
    let Ok(host) = Arc::try_unwrap(host) else { panic!("the relay still holds the lead's database") };
    let mut lee = Device { store: host.into_inner().unwrap(), client: lee_client, name: lee_name };
    for id in [by_wang, by_zhang] {
        assert!(lee.store.pending_records().unwrap().contains(&id), "the lead's device carries {id} on");
    }
    assert_eq!(lee.store.attachment(&wang_sha).unwrap(), wangs_photo.bytes);
    let to_carry: Vec<String> = lee.store.attachments_to_upload().unwrap().into_iter().map(|a| a.sha256).collect();
    assert!(to_carry.contains(&wang_sha) && to_carry.contains(&lead_sha), "{to_carry:?}");

    // The relay forges a change in wang's name (wang's actor, signed with the lead's key).
    let forged_context = wang.store.edit_context(now_ms());
    let forged_new = new_record(RecordKind::ConductIssue, "伪造的问题线索", EAST, 9);
    let mut forged = RecordDoc::create(&forged_new, &forged_context).unwrap();
    let signatures = forged
        .heads()
        .into_iter()
        .map(|h| (h, xuncha_domain::signing::sign(&lee.store.secrets().signing, &h.0)))
        .collect();
    let carried = Carried {
        incoming: Incoming { record: forged_new.id, part: Part::Record, changes: forged.save() },
        signatures,
    };
    lee.store.apply_bundle(&[carried], true, now_ms()).unwrap();

    // Back at the office: the lead's sync takes everything on. The server takes each
    // member's record as theirs, by their signatures, and refuses the forgery.
    let report = district.sync(&mut lee).unwrap();
    let refused: Vec<(&str, &str)> =
        report.refused.iter().map(|(doc, code, _)| (doc.as_str(), code.as_str())).collect();
    assert_eq!(refused, [(forged_new.id.to_string().as_str(), "bad_signature")]);
    assert!(district.server_record(forged_new.id).is_none());
    // The photos reached the district server with the lead's sync.
    for sha in [&wang_sha, &lead_sha] {
        let held = with_tx(district.storage.as_ref(), false, |tx| tx.attachment_state(sha)).unwrap();
        assert!(held.is_some_and(|h| h.complete), "the server lacks {sha}");
    }
    for (id, author) in [(by_wang, "wang"), (by_zhang, "zhang"), (leads, "lee")] {
        let authors = district.logged_authors(id);
        assert!(!authors.is_empty() && authors.iter().all(|a| a == author), "{id}: {authors:?}");
    }
    // The members' own syncs find their work at the office already, and the other team
    // never saw any of it.
    for device in [&mut wang, &mut zhang] {
        district.synced(device);
        assert!(device.store.pending_records().unwrap().is_empty(), "{}", device.name);
    }
    district.synced(&mut zhao);
    for id in [leads, by_wang, by_zhang] {
        assert!(zhao.store.record(id).is_err(), "another team's device holds {id}");
    }
}

#[test]
fn the_relays_keys_live_in_the_lead_s_device_database_and_an_earlier_relays_key_files_move_in() {
    let district = District::start();
    let mut lee = district.device("lee", Role::TeamLead, EAST.0);
    district.set_up_round("lee", &[], &[]);
    district.synced(&mut lee);
    let dirs = tempfile::tempdir().unwrap();
    // A relay as the earlier release left it: its keys in files in its folder.
    let dir = dirs.path().join("device.db.relay");
    let (old_id, old_key) = {
        let storage = xuncha_server::SqliteStorage::open(&dir).unwrap();
        let identity = xuncha_server::bundles::identity(&storage, &dir).unwrap();
        (with_tx(&storage, false, |tx| tx.server_id()).unwrap(), identity.key.to_text())
    };
    let key_files = || -> Vec<String> {
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".key"))
            .collect()
    };
    assert_eq!(key_files().len(), 2, "the earlier release's server.key and checkpoint.key");

    // Opened now, it is the same relay (its id, the key its QR code shows), and its folder
    // keeps no key.
    let relay = Relay::open(&mut lee.store, &dir, None, "1").unwrap();
    assert_eq!(relay.relay_id(), old_id);
    assert_eq!(relay.link("http://127.0.0.1:1").key, old_key);
    assert!(key_files().is_empty(), "{:?}", key_files());
    drop(relay);
    let again = Relay::open(&mut lee.store, &dir, None, "2").unwrap();
    assert_eq!((again.relay_id(), again.link("http://127.0.0.1:1").key), (old_id.as_str(), old_key));
    drop(again);
    // The folder alone opens with no key: without the device database (and its PIN) the
    // team's records in it cannot be read.
    let guessed = xuncha_server::at_rest::MasterKey::from_bytes([0; 32]);
    assert!(xuncha_server::SqliteStorage::open_with_key(&dir, &guessed).is_err());
    assert!(xuncha_server::SqliteStorage::open(&dir).is_err(), "and no key file opens it");

    // A relay made now (its keys made now, in the device database) writes no key file.
    let elsewhere = District::start();
    let mut sun = elsewhere.device("sun", Role::TeamLead, EAST.0);
    elsewhere.set_up_round("sun", &[], &[]);
    elsewhere.synced(&mut sun);
    // Relay data this device holds no key for is refused, and no key is made for it.
    let foreign = dirs.path().join("foreign.relay");
    std::fs::create_dir_all(&foreign).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), foreign.join(entry.file_name())).unwrap();
    }
    let refused = Relay::open(&mut sun.store, &foreign, None, "3");
    assert!(
        matches!(refused, Err(xuncha_relay::RelayError::Protocol(ref m)) if m.contains("remove the folder")),
        "{refused:?}"
    );
    assert!(sun.store.sync_value("relay_storage_key").unwrap().is_none());
    let fresh = dirs.path().join("fresh.relay");
    Relay::open(&mut sun.store, &fresh, None, "3").unwrap();
    assert!(sun.store.sync_value("relay_storage_key").unwrap().is_some());
    let files: Vec<String> =
        std::fs::read_dir(&fresh).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(files.iter().all(|f| !f.ends_with(".key")), "{files:?}");
}
