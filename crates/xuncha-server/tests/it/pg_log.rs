//! The change-log cursor on PostgreSQL, where a position is handed out before its
//! transaction commits: a transaction that logs a change and commits late must not be
//! skipped by a device that read a later position meanwhile (../shared/notes/scale-out.md
//! measured 262 of 4,355 changes skipped with 8 writers and a plain sequence). The same
//! timeline runs against the real log, which must deliver both changes, and against the
//! naive one (a sequence, no single appender), which must skip the late one: proof that
//! the timeline can see the bug.
//!
//! Runs on the cluster `XUNCHA_TEST_POSTGRES` names (`tools/postgres/with-cluster`).

use std::sync::Arc;
use std::time::Duration;

use xuncha_domain::ReadScope;
use xuncha_protocol::{DocKey, Part};
use xuncha_server::PgStorage;
use xuncha_server::pg::ScratchDatabase;
use xuncha_server::storage::{Device, DocScope, LoggedChange, Storage, StoredDoc, User, Visibility, with_tx};

fn open(naive: bool) -> (ScratchDatabase, Arc<dyn Storage>) {
    let database = ScratchDatabase::from_env().expect("a scratch database");
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("randomness");
    let store = PgStorage::open(&database.url, xuncha_server::at_rest::MasterKey::from_bytes(bytes)).expect("open");
    let store = if naive { store.naive_log().expect("the naive log") } else { store };
    let store: Arc<dyn Storage> = Arc::new(store);
    with_tx(&*store, true, |tx| {
        tx.add_user(&User {
            id: "zhang".into(),
            name: "张".into(),
            role: xuncha_protocol::Role::Inspector,
            jurisdiction: "district".into(),
            created_at_ms: 0,
            disabled_at_ms: None,
        })?;
        tx.add_device(
            &Device {
                id: "dev-a".into(),
                user_id: "zhang".into(),
                name: "a".into(),
                actor: "actor-a".into(),
                created_at_ms: 0,
                token_issued_at_ms: 0,
                revoked_at_ms: None,
                last_sync_ms: None,
                signing_key: None,
                sealing_key: None,
            },
            "token-a",
        )
    })
    .expect("a device");
    (database, store)
}

/// Writes one change to its own record in one transaction that stays open `hold` after
/// logging it.
fn write_late(store: &Arc<dyn Storage>, n: u8, hold: Duration) {
    with_tx(&**store, true, |tx| {
        let doc = StoredDoc {
            key: DocKey { record: vec![n; 16], part: Part::Record },
            snapshot: vec![n],
            scope: DocScope { kind: "fund_check".into(), place: "330199101001".into(), team: String::new() },
            owner_device: "dev-a".into(),
        };
        let change =
            LoggedChange { hash: format!("{n:064x}"), bytes: vec![n], signature: None, device_id: "dev-a".into() };
        tx.put_doc(&doc, &[change], 0)?;
        std::thread::sleep(hold);
        Ok(())
    })
    .expect("a write");
}

/// The timeline: change 1 logged at 0 ms and committed at 900 ms; change 2 logged and
/// committed at 150 ms if nothing holds it back; a device reads the log at 450 ms and again
/// once both are done. Returns the changes it received.
fn timeline(naive: bool) -> Vec<u8> {
    let (_database, store) = open(naive);
    let reader = Visibility {
        device_id: "dev-reader".into(),
        scope: ReadScope {
            places: vec![String::new()],
            all_gang_clues: true,
            gang_teams: Vec::new(),
            all_protected: true,
            rosters: false,
        },
    };
    let slow = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || write_late(&store, 1, Duration::from_millis(900)))
    };
    std::thread::sleep(Duration::from_millis(150));
    let fast = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || write_late(&store, 2, Duration::ZERO))
    };
    std::thread::sleep(Duration::from_millis(300));
    let mut received = Vec::new();
    let (rows, cursor, _) = with_tx(&*store, false, |tx| tx.log_after(0, &reader, 100)).expect("read");
    received.extend(rows.iter().flat_map(|r| r.bytes.clone()));
    slow.join().expect("the slow writer");
    fast.join().expect("the fast writer");
    let (rows, _, _) = with_tx(&*store, false, |tx| tx.log_after(cursor, &reader, 100)).expect("read");
    received.extend(rows.iter().flat_map(|r| r.bytes.clone()));
    received
}

#[test]
fn a_change_that_commits_late_is_delivered() {
    let mut received = timeline(false);
    received.sort_unstable();
    assert_eq!(received, [1, 2], "both changes, once each");
}

#[test]
fn the_naive_log_skips_a_change_that_commits_late() {
    let received = timeline(true);
    assert_eq!(received, [2], "the naive reader passed change 1 before it committed, and never saw it");
}
