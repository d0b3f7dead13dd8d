//! The device database on real files: encryption, PINs, damaged files, edits, search.

use std::path::{Path, PathBuf};

use xuncha_domain::*;
use xuncha_store::*;

const PIN: &str = "246810";
const PHRASE: &str = "村委会主任截留危房改造补贴";

fn identity(n: u8) -> Identity {
    Identity {
        device_id: DeviceId::new(format!("tablet-{n}")).unwrap(),
        user_id: UserId::new(format!("inspector-{n}")).unwrap(),
        user_name: "张伟".into(),
        actor: ActorId::from([n; 16]),
    }
}

fn new_db(dir: &Path) -> (PathBuf, Store) {
    let path = dir.join("device.db");
    let store = Store::create(&path, PIN, &identity(1), KdfParams::FAST_INSECURE).unwrap();
    (path, store)
}

fn new_record(n: u8, title: &str) -> NewRecord {
    NewRecord {
        id: RecordId::new(1_700_000_000_000 + i64::from(n), &[n; 10]),
        kind: RecordKind::FundCheck,
        title: title.into(),
        round: "2024年第一轮".into(),
        township: Some(Division::new("110105001000", "建外街道")),
        village: Some(Division::new("110105001001", "光华村")),
        team: "第一巡察组".into(),
    }
}

fn snapshot_of_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_database_file_holds_no_plaintext_and_a_wrong_pin_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut store) = new_db(dir.path());
    let id = store.create_record(&new_record(1, PHRASE), &[Edit::Narrative { text: PHRASE.into() }], 1).unwrap();
    store.put_attachment(PHRASE.as_bytes(), "text/plain", 2).unwrap();
    drop(store);
    let needle = PHRASE.as_bytes();
    for (file, bytes) in snapshot_of_files(dir.path()) {
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "plaintext found in {}", file.display());
        assert!(!bytes.windows(6).any(|w| w == b"SQLite"), "unencrypted header in {}", file.display());
    }
    let before = snapshot_of_files(dir.path());
    let err = Store::open(&path, "135790").unwrap_err();
    assert!(matches!(err, StoreError::WrongPin), "{err}");
    assert_eq!(err.code(), "wrong_pin");
    assert!(snapshot_of_files(dir.path()) == before, "a wrong PIN changed the files");
    let store = Store::open(&path, PIN).unwrap();
    assert_eq!(store.record(id).unwrap().read().narrative, PHRASE);
}

#[test]
fn damaged_files_give_clear_errors_and_are_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut store) = new_db(dir.path());
    for n in 0..40 {
        store
            .create_record(&new_record(n, &format!("记录{n}")), &[Edit::Narrative { text: "情况".repeat(200) }], 1)
            .unwrap();
    }
    drop(store);
    let full = std::fs::read(&path).unwrap();

    // Truncated mid-page and at a page boundary.
    for cut in [full.len() / 2 + 100, (full.len() / 2) / 4096 * 4096] {
        std::fs::write(&path, &full[..cut]).unwrap();
        let err = Store::open(&path, PIN).unwrap_err();
        assert_eq!(err.code(), "corrupt", "cut at {cut}: {err}");
        assert_eq!(std::fs::read(&path).unwrap().len(), cut, "the damaged file was changed");
    }
    // Garbage in the first page.
    let mut garbled = full.clone();
    garbled[100..200].fill(0xAB);
    std::fs::write(&path, &garbled).unwrap();
    assert_eq!(Store::open(&path, PIN).unwrap_err().code(), "corrupt");
    assert!(std::fs::read(&path).unwrap() == garbled, "the garbled file was changed");

    // The key file missing.
    std::fs::write(&path, &full).unwrap();
    let key = key_file_path(&path);
    let key_text = std::fs::read(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    assert_eq!(Store::open(&path, PIN).unwrap_err().code(), "missing_key_file");
    std::fs::write(&key, b"{not json").unwrap();
    assert_eq!(Store::open(&path, PIN).unwrap_err().code(), "bad_key_file");
    std::fs::write(&key, &key_text).unwrap();

    // No database at all, and an existing one is never overwritten.
    assert_eq!(Store::open(&dir.path().join("missing.db"), PIN).unwrap_err().code(), "not_found");
    assert_eq!(Store::create(&path, PIN, &identity(1), KdfParams::FAST_INSECURE).unwrap_err().code(), "already_exists");
    assert_eq!(
        Store::create(&dir.path().join("weak.db"), "12", &identity(1), KdfParams::FAST_INSECURE).unwrap_err().code(),
        "weak_pin"
    );

    let store = Store::open(&path, PIN).unwrap();
    assert_eq!(store.count().unwrap(), 40);
    assert!(store.verify(|_, _| {}).unwrap().is_ok());
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = new_db(dir.path());
    drop(store);
    {
        // Simulate a newer app: bump the schema version with the real key.
        let store = Store::open(&path, PIN).unwrap();
        store.set_user_version_for_tests(DB_SCHEMA_VERSION + 5).unwrap();
    }
    let before = snapshot_of_files(dir.path());
    let err = Store::open(&path, PIN).unwrap_err();
    assert_eq!(err.code(), "newer_schema", "{err}");
    assert!(snapshot_of_files(dir.path()) == before, "a refused newer database was changed");
}

#[test]
fn a_database_of_the_release_before_gets_each_rows_latest_step_and_submission() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut store) = new_db(dir.path());
    let set = |field: Field, text: &str| Edit::Set { field, value: Some(field.parse_value(text).unwrap()) };
    let id = store
        .create_record(
            &new_record(1, "光华村到户补贴发放检查"),
            &[
                set(Field::FundName, "到户产业补贴"),
                set(Field::FundType, "household_subsidy"),
                set(Field::Allocated, "90000"),
            ],
            1_700_000_000_100,
        )
        .unwrap();
    let submit = Edit::Transition {
        to: ReviewStatus::Submitted,
        capacity: workflow::Capacity::Handler,
        note: String::new(),
        conclusion: None,
        handover: None,
    };
    store.edit(id, &[submit], 1_700_000_000_200).unwrap();
    let step = store.record(id).unwrap().read().review.steps.last().unwrap().clone();
    // The layout of schema 8, as the release before wrote it: no step columns, nothing seen.
    store
        .execute_batch_for_tests(
            "DROP INDEX records_creator; DROP TABLE record_seen; DROP TABLE ref_devices;
             DROP TABLE record_actors; DROP TABLE attachment_thumbs; DROP TABLE change_signatures; DROP TABLE bundle_peers; DROP TABLE peer_attachments;
             ALTER TABLE records DROP COLUMN last_step; ALTER TABLE records DROP COLUMN last_step_by;
             ALTER TABLE records DROP COLUMN last_step_to; ALTER TABLE records DROP COLUMN submitted_by;
             ALTER TABLE records DROP COLUMN submitted_at;",
        )
        .unwrap();
    store.set_user_version_for_tests(8).unwrap();
    drop(store);

    let mut store = Store::open(&path, PIN).unwrap();
    let row = store.list(&ListFilter::page(10)).unwrap().remove(0);
    assert_eq!(
        (row.last_step.as_str(), row.last_step_by.as_str(), row.last_step_to.as_str()),
        (step.id.as_str(), "inspector-1", "submitted")
    );
    assert_eq!((row.submitted_by.as_str(), row.submitted_at_ms), ("inspector-1", step.at_ms));
    // Nothing is news to the user who took the step; opening it marks it seen all the same.
    assert!(store.news("inspector-1").unwrap().is_empty());
    assert!(store.mark_seen(id).unwrap());
    assert!(!store.mark_seen(id).unwrap(), "seen once is seen");
    assert!(store.verify(|_, _| {}).unwrap().is_ok());
}

#[test]
fn a_database_of_schema_9_gets_an_empty_device_directory_and_fetches_the_reference_data_again() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut store) = new_db(dir.path());
    store.set_sync_value("reference_tag", "ab12").unwrap();
    assert_eq!(store.reference_tag().unwrap(), [0xab, 0x12]);
    // The layout of schema 9, as the release before wrote it: no device directory.
    store
        .execute_batch_for_tests(
            "DROP TABLE ref_devices; DROP TABLE record_actors; DROP TABLE attachment_thumbs;
             DROP TABLE change_signatures; DROP TABLE bundle_peers; DROP TABLE peer_attachments;",
        )
        .unwrap();
    store.set_user_version_for_tests(9).unwrap();
    drop(store);

    let store = Store::open(&path, PIN).unwrap();
    assert!(store.devices().unwrap().is_empty());
    assert!(store.reference_tag().unwrap().is_empty(), "the next sync brings the directory whole");
    assert!(store.verify(|_, _| {}).unwrap().is_ok());
}

/// A step of the workflow, as `capacity`, with a note.
fn step(to: ReviewStatus, capacity: workflow::Capacity, note: &str) -> Edit {
    Edit::Transition { to, capacity, note: note.into(), conclusion: None, handover: None }
}

#[test]
fn a_later_step_by_someone_else_is_news_to_the_creator_and_to_everyone_who_took_a_step() {
    let dir = tempfile::tempdir().unwrap();
    let open = |n: u8| {
        std::fs::create_dir_all(dir.path().join(n.to_string())).unwrap();
        Store::create(&dir.path().join(format!("{n}/device.db")), PIN, &identity(n), KdfParams::FAST_INSECURE).unwrap()
    };
    let (mut inspector, mut deputy, mut lead) = (open(1), open(2), open(3));
    let pass = |from: &Store, to: &mut Store, id| {
        to.merge_record(id, &from.record_changes(id, &[]).unwrap()).unwrap();
    };

    let set = |field: Field, text: &str| Edit::Set { field, value: Some(field.parse_value(text).unwrap()) };
    let filled = [
        set(Field::FundName, "到户产业补贴"),
        set(Field::FundType, "household_subsidy"),
        set(Field::Allocated, "90000"),
    ];
    let id = inspector.create_record(&new_record(1, "光华村补贴"), &filled, 1).unwrap();
    inspector.edit(id, &[step(ReviewStatus::Submitted, workflow::Capacity::Handler, "")], 2).unwrap();
    pass(&inspector, &mut deputy, id);
    deputy.edit(id, &[step(ReviewStatus::DeputyReviewed, workflow::Capacity::Deputy, "")], 3).unwrap();
    // The deputy's own step is news to the inspector, not to the deputy.
    pass(&deputy, &mut inspector, id);
    assert!(inspector.news("inspector-1").unwrap().contains(&id));
    assert!(deputy.news("inspector-2").unwrap().is_empty());
    assert!(inspector.mark_seen(id).unwrap());
    assert!(inspector.news("inspector-1").unwrap().is_empty());

    // The lead returns it: news to the inspector who made it and to the deputy who reviewed it.
    pass(&deputy, &mut lead, id);
    lead.edit(id, &[step(ReviewStatus::Returned, workflow::Capacity::Lead, "缺少发放凭证")], 4).unwrap();
    assert!(lead.news("inspector-3").unwrap().is_empty());
    pass(&lead, &mut deputy, id);
    pass(&lead, &mut inspector, id);
    assert!(inspector.news("inspector-1").unwrap().contains(&id));
    assert!(deputy.news("inspector-2").unwrap().contains(&id));
    // A user who took no step on it and did not make it hears nothing.
    assert!(deputy.news("inspector-4").unwrap().is_empty());

    // A database of schema 10 (no table of who took steps) learns them from its records, and
    // gets the bundle tables of schema 12: every document is new to any bundle peer.
    deputy
        .execute_batch_for_tests(
            "DROP TABLE record_actors; DROP TABLE attachment_thumbs; DROP TABLE change_signatures; DROP TABLE bundle_peers; DROP TABLE peer_attachments;",
        )
        .unwrap();
    deputy.set_user_version_for_tests(10).unwrap();
    drop(deputy);
    let mut deputy = Store::open(&dir.path().join("2/device.db"), PIN).unwrap();
    assert!(deputy.news("inspector-2").unwrap().contains(&id));
    assert_eq!(deputy.bundle_outgoing("xuncha1:peer").unwrap().len(), 1);
    assert!(deputy.verify(|_, _| {}).unwrap().is_ok());
    assert!(deputy.mark_seen(id).unwrap());
    assert!(deputy.news("inspector-2").unwrap().is_empty());
}

#[test]
fn changing_the_pin_rekeys_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut store) = new_db(dir.path());
    let id = store.create_record(&new_record(1, "PIN 更换"), &[], 1).unwrap();
    store.change_pin("864200", KdfParams::FAST_INSECURE).unwrap();
    store.edit(id, &[Edit::AddTag { tag: "复查".into() }], 2).unwrap();
    drop(store);
    assert_eq!(Store::open(&path, PIN).unwrap_err().code(), "wrong_pin");
    let store = Store::open(&path, "864200").unwrap();
    assert_eq!(store.record(id).unwrap().read().tags, vec!["复查".to_owned()]);
    assert!(store.verify(|_, _| {}).unwrap().is_ok());
}

#[test]
fn edits_are_indexed_listed_and_found_by_chinese_phrases() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut store) = new_db(dir.path());
    let a = store.create_record(&new_record(1, "光华村低保资金检查"), &[], 1).unwrap();
    let b = store.create_record(&new_record(2, "危房改造项目"), &[], 2).unwrap();
    store.edit(a, &[Edit::Narrative { text: "发现村干部优亲厚友，将低保名额分给亲属。".into() }], 3).unwrap();
    let ids = |rows: Vec<Projection>| rows.into_iter().map(|r| r.record_id).collect::<Vec<_>>();
    assert_eq!(ids(store.search("优亲厚友", 10).unwrap()), vec![a.to_string()]);
    assert_eq!(ids(store.search("低保", 10).unwrap()), vec![a.to_string()]);
    assert_eq!(ids(store.search("危房改造", 10).unwrap()), vec![b.to_string()]);
    assert!(store.search("不存在的短语", 10).unwrap().is_empty());
    assert_eq!(ids(store.list(&ListFilter::page(10)).unwrap()), vec![a.to_string(), b.to_string()]);
    let filter = ListFilter { village_code: Some("110105001001".into()), limit: 1, ..ListFilter::default() };
    assert_eq!(store.list(&filter).unwrap().len(), 1);
    assert_eq!(store.outbox_len().unwrap(), 2);
    // An edit that changes nothing writes nothing.
    assert_eq!(
        store.edit(a, &[Edit::Narrative { text: "发现村干部优亲厚友，将低保名额分给亲属。".into() }], 4).unwrap(),
        None
    );
    // A refused edit changes nothing.
    let bad = Edit::Set { field: Field::ClueSource, value: Some(Value::Choice("audit".into())) };
    assert_eq!(store.edit(a, &[bad], 5).unwrap_err().code(), "invalid_edit");
    assert!(store.verify(|_, _| {}).unwrap().is_ok());
}

#[test]
fn many_edits_compact_into_snapshots_and_reload_identically() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut store) = new_db(dir.path());
    let id = store.create_record(&new_record(1, "逐字保存"), &[], 1).unwrap();
    let mut text = String::new();
    for (n, ch) in "经查该村2019年至2021年危房改造补贴发放不规范存在虚报冒领".chars().cycle().take(300).enumerate()
    {
        text.push(ch);
        store.edit(id, &[Edit::Narrative { text: text.clone() }], 10 + n as i64).unwrap();
    }
    drop(store);
    let store = Store::open(&path, PIN).unwrap();
    assert_eq!(store.record(id).unwrap().read().narrative, text);
    assert!(store.verify(|_, _| {}).unwrap().is_ok());
}

#[test]
fn a_record_read_from_memory_is_never_older_than_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut store) = new_db(dir.path());
    let id = store.create_record(&new_record(1, "逐字保存"), &[], 1).unwrap();
    store.edit(id, &[Edit::Narrative { text: "经查".into() }], 2).unwrap();
    let mut doc = store.check_out(id).unwrap();
    assert_eq!(doc.read().narrative, "经查");
    store.check_in(doc);
    // Another connection (the sync worker's) writes the record meanwhile.
    let mut other = store.open_another().unwrap();
    other.edit(id, &[Edit::Narrative { text: "经查该村".into() }], 3).unwrap();
    assert_eq!(store.check_out(id).unwrap().read().narrative, "经查该村");
    // Kept or not, the next edit starts from what the database holds.
    store.edit(id, &[Edit::Narrative { text: "经查该村存在问题".into() }], 4).unwrap();
    assert_eq!(other.record(id).unwrap().read().narrative, "经查该村存在问题");
    assert!(store.check_out(RecordId::new(9, &[9; 10])).is_err());
}

#[test]
fn attachments_are_content_addressed_and_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut store) = new_db(dir.path());
    let photo: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    let first = store.put_attachment(&photo, "image/jpeg", 1).unwrap();
    let second = store.put_attachment(&photo, "image/jpeg", 2).unwrap();
    assert_eq!(first, second);
    assert_eq!(store.attachments().unwrap().len(), 1);
    assert_eq!(store.attachment(&first.sha256).unwrap(), photo);
    assert_eq!(store.attachment(&"0".repeat(64)).unwrap_err().code(), "attachment_not_found");
}

#[test]
fn a_thumbnail_is_kept_per_attachment_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut store) = new_db(dir.path());
    let photo = store.put_attachment(b"\xff\xd8\xff\xe0 photo", "image/jpeg", 1).unwrap();
    assert_eq!(store.attachment_thumbnail(&photo.sha256, 400).unwrap(), None);
    store.put_attachment_thumbnail(&photo.sha256, 400, b"small").unwrap();
    store.put_attachment_thumbnail(&photo.sha256, 800, b"larger").unwrap();
    assert_eq!(store.attachment_thumbnail(&photo.sha256, 400).unwrap().as_deref(), Some(&b"small"[..]));
    store.put_attachment_thumbnail(&photo.sha256, 400, b"again").unwrap();
    assert_eq!(store.attachment_thumbnail(&photo.sha256, 400).unwrap().as_deref(), Some(&b"again"[..]));
    assert_eq!(store.attachment_thumbnail(&photo.sha256, 800).unwrap().as_deref(), Some(&b"larger"[..]));
    // Only of an attachment the device holds.
    let missing = "0".repeat(64);
    assert_eq!(store.put_attachment_thumbnail(&missing, 400, b"x").unwrap_err().code(), "attachment_not_found");
    assert_eq!(store.attachment_thumbnail(&missing, 400).unwrap(), None);
    assert!(store.verify(|_, _| {}).unwrap().is_ok());
    drop(store);
    let store = Store::open(&path, PIN).unwrap();
    assert_eq!(store.attachment_thumbnail(&photo.sha256, 400).unwrap().as_deref(), Some(&b"again"[..]));
}

#[test]
fn the_informant_lives_in_a_protected_companion_document() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut store) = new_db(dir.path());
    let mut clue = new_record(3, "某村霸强揽工程线索");
    clue.kind = RecordKind::GangClue;
    let id = store.create_record(&clue, &[], 1).unwrap();
    store.set_informant(id, &[(InformantField::Name, Some("李举报"))], 2).unwrap();
    assert_eq!(store.informant(id).unwrap().unwrap().name, "李举报");
    assert!(!store.record(id).unwrap().projection().search_text.contains("李举报"));
    assert!(store.search("李举报", 10).unwrap().is_empty());
    let fund = store.create_record(&new_record(4, "资金"), &[], 3).unwrap();
    assert!(store.set_informant(fund, &[(InformantField::Name, Some("x"))], 4).is_err());
    assert!(store.verify(|_, _| {}).unwrap().is_ok());
}

#[test]
fn a_pin_change_cut_short_at_either_moment_leaves_a_pin_that_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut store) = new_db(dir.path());
    let id = store.create_record(&new_record(1, "PIN 中断"), &[], 1).unwrap();
    let key = key_file_path(&path);
    let pending = dir.path().join("device.db.key.new");

    // Cut before the re-key: a pending key file for the same PIN (new salt) beside the
    // current one. The same PIN still opens, and the stale pending file is dropped.
    let other = tempfile::tempdir().unwrap();
    drop(Store::create(&other.path().join("x.db"), PIN, &identity(2), KdfParams::FAST_INSECURE).unwrap());
    std::fs::copy(other.path().join("x.db.key"), &pending).unwrap();
    drop(store);
    let store = Store::open(&path, PIN).unwrap();
    assert!(!pending.exists());
    drop(store);

    // Cut after the re-key, before the new key file replaced the old one.
    let old_key = std::fs::read(&key).unwrap();
    let mut store = Store::open(&path, PIN).unwrap();
    store.change_pin("864200", KdfParams::FAST_INSECURE).unwrap();
    drop(store);
    std::fs::rename(&key, &pending).unwrap();
    std::fs::write(&key, &old_key).unwrap();
    assert_eq!(Store::open(&path, PIN).unwrap_err().code(), "wrong_pin");
    let store = Store::open(&path, "864200").unwrap();
    assert!(!pending.exists());
    assert_eq!(store.record(id).unwrap().read().text(Field::Title), Some("PIN 中断"));
}

#[test]
fn a_damaged_key_file_is_not_mistaken_for_a_wrong_pin() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = new_db(dir.path());
    drop(store);
    let key = key_file_path(&path);
    let text = std::fs::read_to_string(&key).unwrap();
    for (from, to) in
        [("\"iterations\": 1", "\"iterations\": 2"), ("\"memory_kib\": 1024", "\"memory_kib\": 4000000000")]
    {
        assert!(text.contains(from), "{text}");
        std::fs::write(&key, text.replace(from, to)).unwrap();
        assert_eq!(Store::open(&path, PIN).unwrap_err().code(), "bad_key_file");
    }
    std::fs::write(&key, &text).unwrap();
    Store::open(&path, PIN).unwrap();
}

#[test]
fn after_a_crash_a_truncated_file_with_its_wal_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut store) = new_db(dir.path());
    for n in 0..60 {
        store
            .create_record(&new_record(n, &format!("崩溃{n}")), &[Edit::Narrative { text: "内容".repeat(300) }], 1)
            .unwrap();
    }
    // Copy the files while the store is still open: the state a crash leaves.
    let crashed = tempfile::tempdir().unwrap();
    let copy = crashed.path().join("device.db");
    for suffix in ["", "-wal", ".key"] {
        let from = format!("{}{suffix}", path.display());
        if std::path::Path::new(&from).exists() {
            std::fs::copy(&from, format!("{}{suffix}", copy.display())).unwrap();
        }
    }
    drop(store);
    assert!(std::fs::metadata(format!("{}-wal", copy.display())).unwrap().len() > 0, "no WAL to recover");
    let full = std::fs::read(&copy).unwrap();
    let wal = std::fs::read(format!("{}-wal", copy.display())).unwrap();
    let cut = (full.len() / 2) / 4096 * 4096;
    std::fs::write(&copy, &full[..cut]).unwrap();
    assert_eq!(Store::open(&copy, PIN).unwrap_err().code(), "corrupt");
    assert_eq!(std::fs::read(&copy).unwrap().len(), cut, "the truncated file was changed");
    assert!(std::fs::read(format!("{}-wal", copy.display())).unwrap() == wal, "the WAL was folded in");
    // Whole, the same crashed files recover every committed record.
    std::fs::write(&copy, &full).unwrap();
    let recovered = Store::open(&copy, PIN).unwrap();
    assert_eq!(recovered.count().unwrap(), 60);
    assert!(recovered.verify(|_, _| {}).unwrap().is_ok());
}

fn household(n: u8, head: &str, entitled: i64, received: i64) -> Edit {
    Edit::InsertItem {
        list: ItemList::Beneficiaries,
        id: ItemId::new(1_700_000_000_000, &[n; 10]),
        values: vec![
            (ItemField::Head, Value::Text(head.into())),
            (ItemField::Entitled, Value::Money(Yuan::from_yuan(entitled))),
            (ItemField::Received, Value::Money(Yuan::from_yuan(received))),
        ],
    }
}

#[test]
fn the_shortfall_is_in_each_row_and_in_the_totals() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut store) = new_db(dir.path());
    let a = store
        .create_record(
            &new_record(1, "到户补贴"),
            &[household(1, "王大福", 3000, 2000), household(2, "李桂兰", 1500, 1500)],
            1,
        )
        .unwrap();
    let mut other = new_record(2, "危房改造");
    other.township = Some(Division::new("110105002000", "朝外街道"));
    other.village = Some(Division::new("110105002001", "吉祥村"));
    let b = store.create_record(&other, &[household(1, "赵春生", 500, 0)], 2).unwrap();
    let shortfalls = |store: &Store| -> Vec<(String, i64)> {
        let mut rows: Vec<_> =
            store.list(&ListFilter::page(10)).unwrap().into_iter().map(|p| (p.record_id, p.shortfall_fen)).collect();
        rows.sort();
        rows
    };
    let mut want = vec![(a.to_string(), 100_000), (b.to_string(), 50_000)];
    want.sort();
    assert_eq!(shortfalls(&store), want);
    assert_eq!(store.totals(None).unwrap().shortfall_fen, 150_000);
    assert_eq!(store.totals(Some("110105002000")).unwrap().shortfall_fen, 50_000);
    // Paying the household settles it.
    let item = ItemId::new(1_700_000_000_000, &[1; 10]);
    store
        .edit(
            a,
            &[Edit::UpdateItem {
                id: item,
                field: ItemField::Received,
                value: Some(Value::Money(Yuan::from_yuan(3000))),
            }],
            3,
        )
        .unwrap();
    assert_eq!(store.totals(None).unwrap().shortfall_fen, 50_000);
    assert!(store.verify(|_, _| {}).unwrap().is_ok());
}

#[test]
fn a_withdrawn_draft_leaves_lists_search_and_totals_but_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut store) = new_db(dir.path());
    let kept = store.create_record(&new_record(1, "光华村低保资金检查"), &[], 1).unwrap();
    let gone =
        store.create_record(&new_record(2, "光华村危房改造检查"), &[household(1, "王大福", 3000, 0)], 2).unwrap();
    // Another tablet's edit, made before it heard of the withdrawal.
    let mut elsewhere = store.record(gone).unwrap().fork(ActorId::from([2; 16]));
    let before = elsewhere.heads();
    let ctx = EditContext { actor: ActorId::from([2; 16]), ..store.edit_context(4) };
    elsewhere.apply(&[Edit::Narrative { text: "补充：光华村入户核查".into() }], &ctx).unwrap();

    assert!(store.edit(gone, &[Edit::Withdraw], 3).unwrap().is_some());
    let ids = |rows: Vec<Projection>| rows.into_iter().map(|r| r.record_id).collect::<Vec<_>>();
    let only_kept = vec![kept.to_string()];
    let check = |store: &Store| {
        assert_eq!(ids(store.list(&ListFilter::page(10)).unwrap()), only_kept);
        assert_eq!(ids(store.search("光华村", 10).unwrap()), only_kept);
        assert!(store.search("危房改造", 10).unwrap().is_empty());
        let totals = store.totals(None).unwrap();
        assert_eq!((totals.records, totals.fund_checks, totals.households, totals.shortfall_fen), (1, 1, 0, 0));
        assert_eq!(store.facets().unwrap().villages[0].count, 1);
        assert_eq!(store.count().unwrap(), 1);
        let report = store.verify(|_, _| {}).unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!(report.records, 2);
        // The document stays, with the withdrawal in its history.
        let mut doc = store.record(gone).unwrap();
        assert_eq!(doc.read().withdrawn.map(|w| w.by), Some("inspector-1".to_owned()));
        assert!(doc.history().iter().any(|h| h.summary.as_deref() == Some("撤回草稿 / draft withdrawn")));
    };
    check(&store);
    assert_eq!(store.edit(gone, &[Edit::AddTag { tag: "重点".into() }], 5).unwrap_err().code(), "invalid_edit");
    assert!(store.record_ids().unwrap().contains(&gone));

    // The other tablet's edit merges and the record stays withdrawn.
    assert_eq!(store.merge_record(gone, &elsewhere.save_after(&before)).unwrap(), 1);
    assert_eq!(store.record(gone).unwrap().read().narrative, "补充：光华村入户核查");
    check(&store);
    drop(store);
    check(&Store::open(&path, PIN).unwrap());
}

#[test]
fn an_upgraded_v1_database_has_its_rows_rebuilt_from_the_documents() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1");
    let dir = tempfile::tempdir().unwrap();
    for name in ["device.db", "device.db.key"] {
        std::fs::copy(fixture.join(name), dir.path().join(name)).unwrap();
    }
    let path = dir.path().join("device.db");
    // Written before the shortfall column: 王大福 was entitled to 30,000 and received 24,000.
    let fund = RecordId::new(1_709_514_000_001, &[1; 10]);
    for _ in 0..2 {
        let store = Store::open(&path, PIN).unwrap();
        let rows = store.list(&ListFilter { kind: Some(RecordKind::FundCheck), ..ListFilter::page(10) }).unwrap();
        assert_eq!(
            rows.iter().map(|r| (r.record_id.clone(), r.shortfall_fen)).collect::<Vec<_>>(),
            vec![(fund.to_string(), 600_000)]
        );
        assert_eq!(store.totals(None).unwrap().shortfall_fen, 600_000);
        let report = store.verify(|_, _| {}).unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        let found = findings(&store.record(fund).unwrap().read());
        assert_eq!(
            found.iter().map(|f| f.zh.as_str()).collect::<Vec<_>>(),
            vec!["实领少于应享 6,000.00 元", "农户实领合计 24,000.00 元与发放金额 54,000.00 元不符"]
        );
    }
}
