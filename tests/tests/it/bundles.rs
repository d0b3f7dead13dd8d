//! Sync across an air gap by bundle files: an office server A on the internet side, an
//! air-gapped 内网 server B (two data directories, no network between them), a team of three
//! tablets syncing with A and a supervisor's tablet on B. A's records reach B only as bundle
//! files and B's decisions come back the same way; a tablet feeds B straight from a file; at
//! the end every server and tablet holds the same records. Importing every bundle again, and
//! in reverse order, changes nothing; a bundle with one flipped byte, one for another
//! receiver and one cut in half are each refused with nothing applied.

use std::path::{Path, PathBuf};

use xuncha_domain::*;
use xuncha_protocol::Role;
use xuncha_server::bundles::{self, ExchangeError, Imported};
use xuncha_server::storage::with_tx;
use xuncha_sync::bundle::Stage;
use xuncha_tests::{Device, District, EAST, fund_check, new_record};

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn step(to: ReviewStatus, capacity: Capacity, note: &str, conclusion: Option<Conclusion>) -> Edit {
    Edit::Transition { to, capacity, note: note.into(), conclusion, handover: None }
}

/// Exports from `from` to `to` into a file in `dir`.
fn export(from: &District, to: &District, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let me = from.bundle_identity();
    let file = std::fs::File::create(&path).unwrap();
    bundles::export(from.storage.as_ref(), &me, &to.bundle_identity().key, false, file, name, now_ms()).unwrap();
    path
}

/// Imports `file` into `into`, writing the receipt beside it.
fn import(into: &District, file: &Path) -> Result<Imported, ExchangeError> {
    let me = into.bundle_identity();
    let imported =
        bundles::import(into.storage.as_ref(), &me, std::fs::File::open(file).unwrap(), "receipt", now_ms())?;
    if let Some(receipt) = &imported.receipt {
        std::fs::write(file.with_extension("receipt"), receipt).unwrap();
    }
    Ok(imported)
}

fn heads_on_server(district: &District, id: RecordId) -> Vec<ChangeHash> {
    let mut heads = district.server_record(id).unwrap_or_else(|| panic!("the server lacks {id}")).heads();
    heads.sort();
    heads
}

fn heads_on(device: &Device, id: RecordId) -> Vec<ChangeHash> {
    let mut heads = device.store.record(id).unwrap_or_else(|e| panic!("{} lacks {id}: {e}", device.name)).heads();
    heads.sort();
    heads
}

fn log_length(district: &District) -> u64 {
    with_tx(district.storage.as_ref(), false, |tx| tx.max_seq()).unwrap()
}

#[test]
fn records_cross_the_air_gap_as_bundle_files_and_decisions_come_back() {
    let files = tempfile::tempdir().unwrap();
    let a = District::start();
    let mut b = District::start();
    b.set_device_base(100);
    let mut zhang = a.device("zhang", Role::Inspector, EAST.0);
    let mut zhao = a.device("zhao", Role::Inspector, EAST.0);
    let mut wang = a.device("wang", Role::TeamLead, EAST.0);
    a.set_up_round("wang", &["zhao"], &["zhang"]);
    for device in [&mut zhang, &mut zhao, &mut wang] {
        a.synced(device);
    }
    // The two servers trust each other, each told the other's key by its administrator.
    bundles::add_peer(a.storage.as_ref(), "内网", &b.bundle_identity().key.to_text(), now_ms()).unwrap();
    bundles::add_peer(b.storage.as_ref(), "office", &a.bundle_identity().key.to_text(), now_ms()).unwrap();

    // The team's work on A: two fund checks; the 副组长 reviews one and the 组长 signs it.
    let (new, edits) = fund_check("第一村到户补贴发放检查", 1);
    let signed = zhang.create(&new, &edits);
    zhang.edit(signed, &[step(ReviewStatus::Submitted, Capacity::Handler, "", None)]);
    let (new, edits) = fund_check("第一村危房改造补贴检查", 2);
    let draft = zhao.create(&new, &edits);
    a.synced(&mut zhang);
    a.synced(&mut zhao);
    a.synced(&mut zhao);
    zhao.edit(signed, &[step(ReviewStatus::DeputyReviewed, Capacity::Deputy, "属实", None)]);
    a.synced(&mut zhao);
    a.synced(&mut wang);
    wang.edit(signed, &[step(ReviewStatus::LeadSigned, Capacity::Lead, "同意上报", None)]);
    a.synced(&mut wang);

    // A → B by file: the people, the round and every change, each checked on B as on upload.
    let first = export(&a, &b, files.path(), "a-to-b-1.xcb");
    let imported = import(&b, &first).unwrap();
    assert!(imported.refused.is_empty(), "{:?}", imported.refused);
    assert_eq!((imported.documents, imported.stored), (2, 2));
    assert_eq!(imported.authors_added, 3);
    assert_eq!(heads_on_server(&b, signed), heads_on_server(&a, signed));
    assert_eq!(b.server_record(signed).unwrap().read().review.status, ReviewStatus::LeadSigned);
    // A learns from B's receipt what B holds: the next bundle carries only what is new.
    let receipt = import(&a, &first.with_extension("receipt")).unwrap();
    assert_eq!(receipt.acknowledged, Some(log_length(&a)));
    let empty = export(&a, &b, files.path(), "a-to-b-empty.xcb");
    assert_eq!(import(&b, &empty).unwrap().documents, 0);

    // On B, the office approves; the decision goes back to A by file.
    let mut li = b.device("li", Role::Supervisor, "district");
    b.synced(&mut li);
    assert_eq!(heads_on(&li, signed), heads_on_server(&b, signed));
    li.edit(signed, &[step(ReviewStatus::OfficeApproved, Capacity::Office, "证据充分", Some(Conclusion::Confirmed))]);
    b.synced(&mut li);
    let back = export(&b, &a, files.path(), "b-to-a-1.xcb");
    let imported = import(&a, &back).unwrap();
    assert!(imported.refused.is_empty(), "{:?}", imported.refused);
    assert!(imported.new_changes >= 1, "{imported:?}");
    // Li's device is registered on A by B's word, and the decision is li's on A too.
    let on_a = a.server_record(signed).unwrap().read();
    assert_eq!(on_a.review.status, ReviewStatus::OfficeApproved);
    assert_eq!(on_a.review.steps.last().map(|s| s.by.as_str()), Some("li"));
    import(&b, &back.with_extension("receipt")).unwrap();

    // A tablet feeds B straight from a file: zhao, offline, finishes the draft and exports it
    // to B; B's receipt marks it on the tablet.
    zhao.edit(draft, &[step(ReviewStatus::Submitted, Capacity::Handler, "", None)]);
    let tablet = files.path().join("zhao-to-b.xcb");
    let to_b = b.bundle_identity().key;
    let out = std::fs::File::create(&tablet).unwrap();
    xuncha_sync::bundle::export(&zhao.store, &to_b, false, out, "t1", now_ms(), &mut |_| true).unwrap();
    let imported = import(&b, &tablet).unwrap();
    assert!(imported.refused.is_empty(), "{:?}", imported.refused);
    assert_eq!(b.server_record(draft).unwrap().read().review.status, ReviewStatus::Submitted);
    let receipt = std::fs::read(tablet.with_extension("receipt")).unwrap();
    let marked = xuncha_sync::bundle::import(
        &mut zhao.store,
        receipt.as_slice(),
        receipt.len() as u64,
        "r",
        now_ms(),
        &mut |_| true,
    )
    .unwrap();
    assert_eq!(marked.acknowledged, 2);
    // What B has acknowledged is not sent again.
    let again = files.path().join("zhao-to-b-2.xcb");
    let out = std::fs::File::create(&again).unwrap();
    let exported = xuncha_sync::bundle::export(&zhao.store, &to_b, false, out, "t2", now_ms(), &mut |_| true).unwrap();
    assert_eq!(exported.documents, 0);

    // Everything ends up everywhere.
    let back = export(&b, &a, files.path(), "b-to-a-2.xcb");
    import(&a, &back).unwrap();
    for device in [&mut zhang, &mut zhao, &mut wang] {
        a.synced(device);
    }
    b.synced(&mut li);
    for id in [signed, draft] {
        let expected = heads_on_server(&a, id);
        assert_eq!(heads_on_server(&b, id), expected, "B");
        for device in [&zhang, &zhao, &wang, &li] {
            assert_eq!(heads_on(device, id), expected, "{}", device.name);
        }
    }
    assert_eq!(zhang.store.record(signed).unwrap().read().review.status, ReviewStatus::OfficeApproved);

    // Every bundle imported again, last first, changes nothing.
    let (a_log, b_log) = (log_length(&a), log_length(&b));
    let mut all: Vec<PathBuf> = std::fs::read_dir(files.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xcb"))
        .collect();
    all.sort();
    all.reverse();
    for file in &all {
        for server in [&a, &b] {
            match import(server, file) {
                Ok(imported) => assert_eq!(imported.new_changes, 0, "{}: {imported:?}", file.display()),
                Err(error) => assert_eq!(error.code(), "wrong_receiver", "{}", file.display()),
            }
        }
    }
    assert_eq!((log_length(&a), log_length(&b)), (a_log, b_log));

    // A new change for B, then three bad copies of its bundle: each refused, nothing applied.
    let (new, edits) = fund_check("第一村光伏收益分配检查", 3);
    let late = zhang.create(&new, &edits);
    a.synced(&mut zhang);
    let good = std::fs::read(export(&a, &b, files.path(), "a-to-b-2.xcb")).unwrap();
    let bad = |name: &str, bytes: &[u8]| {
        let path = files.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        import(&b, &path).unwrap_err().code()
    };
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    assert!(matches!(bad("flipped.bin", &flipped), "bad_signature" | "bundle_damaged"));
    assert!(matches!(bad("half.bin", &good[..good.len() / 2]), "bundle_truncated" | "bundle_damaged"));
    let other = District::start();
    let stray = export(&a, &b, files.path(), "for-b.xcb");
    let me = other.bundle_identity();
    let error =
        bundles::import(other.storage.as_ref(), &me, std::fs::File::open(&stray).unwrap(), "r", now_ms()).unwrap_err();
    assert_eq!(error.code(), "wrong_receiver");
    assert_eq!(log_length(&b), b_log, "nothing of a refused bundle is applied");
    // The good copy goes in.
    let path = files.path().join("good.xcb");
    std::fs::write(&path, &good).unwrap();
    let imported = import(&b, &path).unwrap();
    assert!(imported.refused.is_empty() && imported.new_changes >= 1, "{imported:?}");
    assert_eq!(heads_on_server(&b, late), heads_on_server(&a, late));
}

/// The user of the device the log names for each change of a record.
#[test]
fn a_teammates_changes_carried_by_another_tablet_keep_their_author_and_forgeries_are_refused() {
    let files = tempfile::tempdir().unwrap();
    let a = District::start();
    let mut zhang = a.device("zhang", Role::Inspector, EAST.0);
    let mut zhao = a.device("zhao", Role::Inspector, EAST.0);
    a.device("wang", Role::TeamLead, EAST.0);
    a.set_up_round("wang", &["zhao"], &["zhang"]);
    for device in [&mut zhang, &mut zhao] {
        a.synced(device);
    }

    // In the village, zhang's tablet hands a new record to zhao's by file; zhao's tablet
    // reaches the office first and carries it there with zhang's signature.
    let (new, edits) = fund_check("第一村到户补贴发放检查", 5);
    let id = zhang.create(&new, &edits);
    let file = files.path().join("zhang-to-zhao.xcb");
    let to_zhao = xuncha_sync::bundle::identity(&zhao.store).unwrap();
    let mut exporting = Vec::new();
    let out = std::fs::File::create(&file).unwrap();
    let mut watch = |step: xuncha_sync::bundle::Step| {
        exporting.push(step);
        true
    };
    xuncha_sync::bundle::export(&zhang.store, &to_zhao, false, out, "h", now_ms(), &mut watch).unwrap();
    let mut stages: Vec<_> = exporting.iter().map(|s| s.stage).collect();
    stages.dedup();
    assert_eq!(stages, [Stage::Reading, Stage::Writing], "{exporting:?}");
    let read = exporting.iter().rfind(|s| s.stage == Stage::Reading).unwrap();
    assert_eq!((read.done, read.total), (1, 1), "the reading reaches its end");
    // An import stopped while the bundle is read applies nothing; then it goes through,
    // saying how far it is at each stage.
    let bytes = std::fs::read(&file).unwrap();
    let size = bytes.len() as u64;
    let stopped = xuncha_sync::bundle::import(&mut zhao.store, bytes.as_slice(), size, "r", now_ms(), &mut |step| {
        step.stage != Stage::Verifying
    });
    assert!(matches!(stopped, Err(xuncha_sync::bundle::BundleFailure::Cancelled)), "{stopped:?}");
    assert!(zhao.store.record(id).is_err(), "a cancelled import applied something");
    let mut importing = Vec::new();
    let took = xuncha_sync::bundle::import(&mut zhao.store, bytes.as_slice(), size, "r", now_ms(), &mut |step| {
        importing.push(step);
        true
    })
    .unwrap();
    let read = importing.iter().rfind(|s| s.stage == Stage::Verifying).unwrap();
    assert_eq!((read.done, read.total), (size.div_ceil(1024), size.div_ceil(1024)), "the reading reaches its end");
    let merging = importing.iter().find(|s| s.stage == Stage::Merging).unwrap();
    assert_eq!(merging.total, 1);
    assert_eq!(importing.last().unwrap().stage, Stage::Writing, "{importing:?}");
    assert_eq!((took.documents, took.merged), (1, 1));
    assert!(zhao.store.pending_records().unwrap().contains(&id), "waits to go to the server");
    a.synced(&mut zhao);
    let on_server = a.server_record(id).expect("carried to the server").read();
    assert_eq!(on_server.text(Field::Title), Some("第一村到户补贴发放检查"));
    let authors = a.logged_authors(id);
    assert!(
        !authors.is_empty() && authors.iter().all(|u| u == "zhang"),
        "the log names the author's tablet: {authors:?}"
    );
    // When zhang's tablet syncs, nothing is new; it is told the record is stored.
    a.synced(&mut zhang);
    assert!(zhang.store.pending_records().unwrap().is_empty());
    assert_eq!(a.logged_authors(id), authors);

    // zhao's tablet tries to pass off changes as zhang's: written with zhang's actor and
    // signed with its own key, written with zhang's actor and not signed, or written with
    // its own actor in zhang's name. Each is refused whole, and nothing is stored.
    let token = zhao.store.sync_value("device_token").unwrap().unwrap();
    let forge = |context: EditContext, sign_with: Option<&Device>, seed: u8| {
        let new = new_record(RecordKind::ConductIssue, "伪造的记录", EAST, seed);
        let mut doc = RecordDoc::create(&new, &context).unwrap();
        let changes = doc.save();
        let mut heads = doc.heads();
        let signatures = sign_with
            .map(|device| {
                heads
                    .drain(..)
                    .map(|h| xuncha_protocol::ChangeSignature {
                        hash: h.0.to_vec(),
                        signature: xuncha_domain::signing::sign(&device.store.secrets().signing, &h.0),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let key =
            xuncha_protocol::DocKey { record: new.id.uuid().as_bytes().to_vec(), part: xuncha_protocol::Part::Record };
        let request = xuncha_protocol::SyncRequest {
            uploads: vec![xuncha_protocol::Upload { doc: key, changes, signatures }],
            ..Default::default()
        };
        let (_, answer, body) = a.raw_sync(&token, &request);
        let answer = answer.unwrap_or_else(|| panic!("{body}"));
        assert!(a.server_record(new.id).is_none(), "a forged record was stored");
        match &answer.acks[0].outcome {
            xuncha_protocol::Outcome::Refused { code, .. } => code.as_str().to_owned(),
            other => panic!("a forgery was accepted: {other:?}"),
        }
    };
    let as_zhang = zhang.store.edit_context(1_717_000_000_000);
    assert_eq!(forge(as_zhang.clone(), Some(&zhao), 6), "bad_signature");
    assert_eq!(forge(as_zhang, None, 7), "foreign_actor");
    let mut in_zhangs_name = zhao.store.edit_context(1_717_000_000_000);
    in_zhangs_name.author = UserId::new("zhang").unwrap();
    assert_eq!(forge(in_zhangs_name, Some(&zhao), 8), "foreign_author");
}

#[test]
fn a_peer_cannot_register_a_device_for_a_person_this_server_knows_otherwise() {
    let files = tempfile::tempdir().unwrap();
    let a = District::start();
    let mut b = District::start();
    b.set_device_base(100);
    let mut zhang = a.device("zhang", Role::Inspector, EAST.0);
    // B's own supervisor happens to be called zhang too (or a peer lies about who zhang is).
    xuncha_server::admin::add_user(b.storage.as_ref(), "zhang", "张处长", Role::Supervisor, "district", now_ms())
        .unwrap();
    bundles::add_peer(a.storage.as_ref(), "内网", &b.bundle_identity().key.to_text(), now_ms()).unwrap();
    bundles::add_peer(b.storage.as_ref(), "office", &a.bundle_identity().key.to_text(), now_ms()).unwrap();
    let (new, edits) = fund_check("第一村到户补贴发放检查", 9);
    let id = zhang.create(&new, &edits);
    a.synced(&mut zhang);
    let imported = import(&b, &export(&a, &b, files.path(), "a-to-b.xcb")).unwrap();
    assert_eq!(imported.authors_added, 0);
    assert_eq!(imported.refused.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(), ["foreign_actor"]);
    assert!(b.server_record(id).is_none());
}
