//! Backups taken while devices sync, and a restore of an older one: the server starts a
//! new epoch, so no device skips a change made after the restore, however far its cursor
//! had gone before it.

use xuncha_domain::RecordKind;
use xuncha_protocol::Role;
use xuncha_tests::{District, EAST, age_secret, new_record};

const PASSPHRASE: &str = "东岭镇 backup passphrase";

#[test]
fn after_a_restore_no_device_skips_a_change_made_after_it() {
    no_device_skips_a_change_made_after_a_restore(District::start());
}

/// The same on PostgreSQL (and the S3-compatible store, when the tests have one): the
/// backup holds the database and the attachment objects, and the restore starts a new
/// epoch there too.
#[test]
fn after_a_restore_on_postgres_no_device_skips_a_change_made_after_it() {
    no_device_skips_a_change_made_after_a_restore(District::start_postgres());
}

fn no_device_skips_a_change_made_after_a_restore(mut district: District) {
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    let mut wang = district.device("wang", Role::Inspector, EAST.0);
    let mut li = district.device("li", Role::Supervisor, "district");
    let first = zhang.create(&new_record(RecordKind::FundCheck, "备份前", EAST, 1), &[]);
    district.sync(&mut zhang).unwrap();
    district.sync(&mut li).unwrap();

    // A backup, taken while the server serves.
    let file = district.dir.path().join("district.xbk");
    let server = district.dir.path().join("server");
    let photo: Vec<u8> = (0..1_200_000u32).map(|i| (i % 249) as u8).collect();
    let with_photo = zhang.create(&new_record(RecordKind::FundCheck, "有照片", EAST, 20), &[]);
    let attachment = xuncha_store::NewAttachment {
        bytes: photo.clone(),
        mime: "image/jpeg".into(),
        caption: "现场".into(),
        taken_at_ms: None,
        gps: None,
    };
    zhang.store.edit_with_attachments(with_photo, &[], &[attachment], 1).unwrap();
    district.sync(&mut zhang).unwrap();
    let manifest = district.backup(&file, PASSPHRASE);
    assert!(manifest.log_seq > 0);
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1"), "the backup is not encrypted");
    assert!(!bytes.windows("备份前".len()).any(|w| w == "备份前".as_bytes()));
    // A wrong passphrase restores nothing.
    let wrong = xuncha_server::backup::restore(
        &district.dir.path().join("elsewhere"),
        &file,
        &age_secret("not the passphrase"),
        2,
    );
    assert!(matches!(wrong, Err(xuncha_server::StorageError::Conflict(_))), "{wrong:?}");

    // Work goes on after the backup; the supervisor's cursor moves past it.
    for n in 2..8 {
        zhang.create(&new_record(RecordKind::FundCheck, "备份后", EAST, n), &[]);
    }
    district.sync(&mut zhang).unwrap();
    district.sync(&mut li).unwrap();

    // The server is restored to the backup: what came after is gone from it. A change
    // made now is numbered where the lost ones were.
    district.restore(&file, PASSPHRASE);
    assert!(district.server_record(first).is_some());
    let after = wang.create(&new_record(RecordKind::FundCheck, "恢复后", EAST, 9), &[]);
    district.sync(&mut wang).unwrap();
    assert!(district.server_record(after).is_some());

    // The supervisor, whose cursor had gone past those numbers, still receives it.
    district.sync(&mut li).unwrap();
    assert!(li.store.record(after).is_ok(), "the supervisor skipped a change made after the restore");
    assert!(li.store.record(first).is_ok());
    // The photo is whole after the restore, for a device that never had it.
    let sha = xuncha_store::sha256_hex(&photo);
    assert_eq!(
        district.runtime.block_on(li.client.download_attachment(&mut li.store, &sha, "image/jpeg")).unwrap(),
        photo
    );
    assert!(li.store.record(with_photo).is_ok());
    // Devices go on syncing, and (on SQLite) what the restore replaced is kept beside it.
    district.sync(&mut zhang).unwrap();
    assert!(district.is_postgres() || server.join("server.db.before-restore").exists());

    // The same backup restored on new machines (another database, another master key):
    // the attachments' keys are re-wrapped for it, and the photo opens there.
    if district.is_postgres() {
        let mut moved = District::start_postgres();
        moved.restore(&file, PASSPHRASE);
        let bytes = xuncha_server::storage::with_tx(moved.storage.as_ref(), false, |tx| tx.attachment_bytes(&sha, 0));
        assert_eq!(bytes.unwrap(), photo);
        assert!(moved.server_record(first).is_some());
    }
}

#[test]
fn a_restore_on_postgres_refuses_while_a_replica_serves() {
    let district = District::start_postgres();
    let file = district.dir.path().join("province.xbk");
    district.backup(&file, PASSPHRASE);
    let refused = district.restore_while_serving(&file, PASSPHRASE).unwrap_err();
    assert!(refused.to_string().contains("running server"), "{refused}");
    // A SQLite backup is not taken for one of PostgreSQL, and says so.
    let sqlite = District::start();
    let other = sqlite.dir.path().join("district.xbk");
    sqlite.backup(&other, PASSPHRASE);
    let refused = district.restore_while_serving(&other, PASSPHRASE).unwrap_err();
    assert!(refused.to_string().contains("without --postgres"), "{refused}");
}

#[test]
fn a_restore_refuses_while_a_server_holds_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _held = xuncha_server::backup::lock(dir.path()).unwrap();
    let refused = xuncha_server::backup::restore(dir.path(), &dir.path().join("none.xbk"), &age_secret(PASSPHRASE), 1)
        .unwrap_err();
    assert!(refused.to_string().contains("running server"), "{refused}");
}

#[test]
fn a_backup_taken_while_devices_sync_is_consistent() {
    let district = District::start();
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    for n in 0..5 {
        zhang.create(&new_record(RecordKind::FundCheck, "先有的", EAST, n), &[]);
    }
    district.sync(&mut zhang).unwrap();
    let server = district.dir.path().join("server");
    let files: Vec<_> = (0..3).map(|n| district.dir.path().join(format!("during-{n}.xbk"))).collect();
    let manifests = std::thread::scope(|scope| {
        let syncing = scope.spawn(|| {
            for n in 10..40 {
                zhang.create(&new_record(RecordKind::FundCheck, "备份时", EAST, n), &[]);
                district.sync(&mut zhang).unwrap();
            }
        });
        let manifests: Vec<_> = files
            .iter()
            .map(|file| xuncha_server::backup::backup(&server, file, &age_secret(PASSPHRASE), 1).unwrap())
            .collect();
        syncing.join().unwrap();
        manifests
    });
    // Each backup restores to a database whose change log is whole: every entry's link in
    // the hash chain holds, up to where the backup was taken.
    for (file, manifest) in files.iter().zip(&manifests) {
        let restored = district.dir.path().join(format!("restored-{}", manifest.log_seq));
        xuncha_server::backup::restore(&restored, file, &age_secret(PASSPHRASE), 2).unwrap();
        let storage = xuncha_server::SqliteStorage::open(&restored).unwrap();
        let key = xuncha_server::chain::ServerKey::open(&restored).unwrap();
        let report = xuncha_server::admin::verify_log(&storage, &key).unwrap();
        assert!(report.breaks.is_empty(), "{:?}", report.breaks);
        assert_eq!(report.entries, manifest.log_seq);
    }
}
