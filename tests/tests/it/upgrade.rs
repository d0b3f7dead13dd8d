//! Data written by the first release keeps working: its server data directory and an enrolled
//! device (with an edit never synced) open with today's code; the records list, the device
//! syncs its waiting edit to the upgraded server, a new supervisor receives every record,
//! and once the round's teams are defined the old device holds its team's records only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use xuncha_domain::numbering::{self, Numbered};
use xuncha_domain::{DivisionEntry, RecordId};
use xuncha_protocol::Role;
use xuncha_server::admin::{self, NewTeam};
use xuncha_store::{ListFilter, Store};
use xuncha_sync::Client;
use xuncha_tests::{Device, District};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/release-1")
}

fn now() -> i64 {
    1_733_000_000_000
}

#[test]
fn a_release_one_server_and_device_upgrade_and_sync() {
    let district = District::start_from(Some(&fixture().join("server")));
    // The plaintext server.db of the first release is encrypted on open (SQLCipher).
    let db = std::fs::read(district.dir.path().join("server/server.db")).unwrap();
    assert!(!db.starts_with(b"SQLite format 3\0"), "server.db is still plaintext");
    assert!(district.dir.path().join("server/server.key").exists());
    let dir = tempfile::tempdir().unwrap();
    for file in ["device.db", "device.db.key"] {
        std::fs::copy(fixture().join(file), dir.path().join(file)).unwrap();
    }
    let store = Store::open(&dir.path().join("device.db"), "246810").unwrap();
    assert!(store.verify(|_, _| {}).unwrap().is_ok());
    assert_eq!(store.list(&ListFilter::page(500)).unwrap().len(), 98);
    let pending: RecordId =
        std::fs::read_to_string(fixture().join("unsynced-record.txt")).unwrap().trim().parse().unwrap();
    assert_eq!(store.pending_records().unwrap(), vec![pending]);
    let client = Client::new(&district.url(), Duration::from_secs(20)).unwrap();
    let mut old = Device { name: "zhang".into(), store, client };

    // The waiting edit goes up to the upgraded server; nothing is dropped or refused.
    let report = district.sync(&mut old).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!((report.progress.documents_up, report.dropped), (1, 0), "{report:?}");
    assert_eq!(district.server_record(pending).unwrap().read().narrative, "升级前尚未同步的修改");
    assert!(old.store.pending_records().unwrap().is_empty());

    // A supervisor enrolled after the upgrade receives every record of the first release.
    let mut boss = district.device("wei", Role::Supervisor, "district");
    district.sync(&mut boss).unwrap();
    assert_eq!(boss.store.list(&ListFilter::page(500)).unwrap().len(), 98);

    // The upgraded server numbered the first release's records (编号) in the order that
    // release printed them (creation time, then id, within round and team). The old device,
    // which held them all before numbers, asked for them and holds the same as the new one.
    let rows = old.store.list(&ListFilter::page(500)).unwrap();
    let printed =
        numbering::numbers_of(rows.iter().filter_map(Numbered::of_row).filter(|n| !n.round.trim().is_empty()));
    assert!(printed.len() > 50, "{} of the records have a round", printed.len());
    assert_eq!(old.store.record_numbers().unwrap(), printed);
    assert_eq!(boss.store.record_numbers().unwrap(), printed);

    // The district defines its divisions and a team for zhang in 东岭镇 only: zhang's tablet
    // keeps that township's records and drops the others'.
    let storage = district.storage.as_ref();
    let entry = |code: &str, name: &str, parent: &str| DivisionEntry {
        code: code.into(),
        name: name.into(),
        parent: parent.into(),
    };
    admin::import_divisions(
        storage,
        &[entry("330199000000", "清河区", ""), entry("330199101000", "东岭镇", "330199000000")],
        now(),
    )
    .unwrap();
    admin::add_round(storage, "2024年第一轮", "2024-03-01", "2024-05-31", &[], now()).unwrap();
    let team = NewTeam {
        name: "第一巡察组".into(),
        round: "2024年第一轮".into(),
        lead: "li".into(),
        members: vec!["zhang".into()],
        places: vec!["330199101000".into()],
        ..NewTeam::default()
    };
    admin::add_team(storage, &team, now()).unwrap();
    let report = district.sync(&mut old).unwrap();
    let kept = old.store.list(&ListFilter::page(500)).unwrap();
    assert!(!kept.is_empty() && kept.len() < 98, "{} records kept", kept.len());
    assert!(kept.iter().all(|r| r.township_code == "330199101000"), "{kept:?}");
    // With the records go their numbers; the kept ones keep theirs.
    let numbers = old.store.record_numbers().unwrap();
    let kept_ids: std::collections::BTreeSet<String> = kept.iter().map(|r| r.record_id.clone()).collect();
    assert!(numbers.keys().all(|id| kept_ids.contains(&id.to_string())), "numbers of dropped records kept");
    assert!(numbers.iter().all(|(id, n)| printed.get(id) == Some(n)));
    // Dropped documents count the records and their informants' companions.
    assert!(report.dropped >= 98 - kept.len(), "{report:?}");
    // Gang clues zhang found before teams existed are counted to his team: he keeps them.
    assert!(kept.iter().any(|r| r.kind == "gang_clue"), "zhang lost his own gang clues");
    assert_eq!(old.store.reference().unwrap().teams.len(), 1);
    assert!(old.store.verify(|_, _| {}).unwrap().is_ok());
}

fn fixture_two() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/release-2")
}

#[test]
fn a_release_two_server_keeps_its_photo_readable_and_its_devices_syncing() {
    let district = District::start_from(Some(&fixture_two().join("server")));
    let dir = tempfile::tempdir().unwrap();
    for file in ["device.db", "device.db.key"] {
        std::fs::copy(fixture_two().join(file), dir.path().join(file)).unwrap();
    }
    let record: RecordId = std::fs::read_to_string(fixture_two().join("record.txt")).unwrap().trim().parse().unwrap();
    let sha = std::fs::read_to_string(fixture_two().join("photo.sha256")).unwrap().trim().to_owned();
    let store = Store::open(&dir.path().join("device.db"), "246810").unwrap();
    let client = Client::new(&district.url(), Duration::from_secs(20)).unwrap();
    let mut old = Device { name: "zhang".into(), store, client };

    // The photo uploaded before attachments were bound to their devices is held by the
    // device that owns its record: a supervisor enrolled after the upgrade reads it.
    let mut boss = district.device("wei", Role::Supervisor, "district");
    district.sync(&mut boss).unwrap();
    assert!(boss.store.record(record).is_ok());
    let photo =
        district.runtime.block_on(boss.client.download_attachment(&mut boss.store, &sha, "image/jpeg")).unwrap();
    assert_eq!(photo.len(), 300_000);

    // The old device's cursor, made before epochs, still reads on a server never restored:
    // its new record goes up and reaches the supervisor, and it receives nothing twice.
    let new = old
        .create(&xuncha_tests::new_record(xuncha_domain::RecordKind::FundCheck, "升级后", xuncha_tests::EAST, 3), &[]);
    let report = district.sync(&mut old).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.progress.documents_down, 0, "{report:?}");
    district.sync(&mut boss).unwrap();
    assert!(boss.store.record(new).is_ok());
    // Numbers (编号): the new record has one from its first sync; the second release's record,
    // made without a round, has none until it is given one.
    let first = old.store.record_number(new).unwrap().expect("the new record's number");
    assert_eq!(first, "2024年第一轮-第一巡察组-001");
    assert_eq!(boss.store.record_number(new).unwrap().as_deref(), Some(first.as_str()));
    assert_eq!(old.store.record_number(record).unwrap(), None);
    old.edit(
        record,
        &[xuncha_domain::Edit::Set {
            field: xuncha_domain::Field::Round,
            value: Some(xuncha_domain::Value::Text("2024年第一轮".into())),
        }],
    );
    district.sync(&mut old).unwrap();
    let numbers = old.store.record_numbers().unwrap();
    assert!(numbers[&record].starts_with("2024年第一轮-") && numbers[&record].ends_with("-001"), "{numbers:?}");
    // Its own photo it still has, and the server tells it so.
    assert!(old.store.attachments_to_upload().unwrap().is_empty());
}
