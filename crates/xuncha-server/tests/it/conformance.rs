//! What every storage backend must do, written once against the `Storage`/`Tx` traits and
//! run against each backend (`conformance!` at the end makes one test per case and
//! backend). The sync logic above the traits relies on exactly these promises: a second
//! backend that passes them serves devices as the SQLite one does. Each case opens a new,
//! empty store.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use sha2::{Digest, Sha256};
use xuncha_domain::reference::RosterHousehold;
use xuncha_domain::{DivisionEntry, ReadScope, Roster, Round, Team, Yuan};
use xuncha_protocol::{DocKey, Part, Role};
use xuncha_server::chain;
use xuncha_server::storage::{
    AuditEntry, Device, DocScope, LoggedChange, Peer, Storage, StorageError, StoredDoc, Tx, User, Visibility, with_tx,
};

type Store = Arc<dyn Storage>;

pub(crate) const NOW: i64 = 1_780_000_000_000;
const TOWNSHIP: &str = "330102001000";
const VILLAGE: &str = "330102001001";
const OTHER_VILLAGE: &str = "330102002001";

fn write<T>(store: &Store, work: impl FnMut(&mut dyn Tx) -> Result<T, StorageError>) -> T {
    with_tx(&**store, true, work).expect("write transaction")
}

fn read<T>(store: &Store, work: impl FnMut(&mut dyn Tx) -> Result<T, StorageError>) -> T {
    with_tx(&**store, false, work).expect("read transaction")
}

pub(crate) fn user(id: &str, role: Role) -> User {
    User {
        id: id.into(),
        name: format!("{id} 的名字"),
        role,
        jurisdiction: "district".into(),
        created_at_ms: NOW,
        disabled_at_ms: None,
    }
}

pub(crate) fn device(id: &str, user_id: &str) -> Device {
    Device {
        id: id.into(),
        user_id: user_id.into(),
        name: format!("{id} 平板"),
        actor: format!("actor-{id}"),
        created_at_ms: NOW,
        token_issued_at_ms: NOW,
        revoked_at_ms: None,
        last_sync_ms: None,
        signing_key: None,
        sealing_key: None,
    }
}

/// A user with one device, `dev-<user>`, whose token is `token-<user>`.
fn person(store: &Store, id: &str) -> String {
    let device_id = format!("dev-{id}");
    write(store, |tx| {
        tx.add_user(&user(id, Role::Inspector))?;
        tx.add_device(&device(&device_id, id), &format!("token-{id}"))
    });
    device_id
}

fn key(n: u8, part: Part) -> DocKey {
    DocKey { record: vec![n; 16], part }
}

fn scope(kind: &str, place: &str, team: &str) -> DocScope {
    DocScope { kind: kind.into(), place: place.into(), team: team.into() }
}

fn doc(key: &DocKey, scope: &DocScope, owner: &str, snapshot: &[u8]) -> StoredDoc {
    StoredDoc { key: key.clone(), snapshot: snapshot.to_vec(), scope: scope.clone(), owner_device: owner.into() }
}

fn change(tag: &str, device: &str) -> LoggedChange {
    LoggedChange {
        hash: hex::encode(Sha256::digest(tag.as_bytes())),
        bytes: format!("change {tag}").into_bytes(),
        signature: Some(Sha256::digest(format!("signed {tag}").as_bytes()).to_vec()),
        device_id: device.into(),
    }
}

/// Everything in `places`, every gang clue and protected companion.
fn everything(device: &str) -> Visibility {
    Visibility {
        device_id: device.into(),
        scope: ReadScope {
            places: vec![String::new()],
            all_gang_clues: true,
            gang_teams: Vec::new(),
            all_protected: true,
            rosters: true,
        },
    }
}

fn inspector(device: &str, places: &[&str], teams: &[&str]) -> Visibility {
    Visibility {
        device_id: device.into(),
        scope: ReadScope {
            places: places.iter().map(|p| (*p).to_owned()).collect(),
            all_gang_clues: false,
            gang_teams: teams.iter().map(|t| (*t).to_owned()).collect(),
            all_protected: false,
            rosters: true,
        },
    }
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---- the cases -------------------------------------------------------------------------

fn users_and_their_state(store: Store) {
    write(&store, |tx| {
        tx.add_user(&user("zhang", Role::Inspector))?;
        tx.add_user(&user("li", Role::Supervisor))
    });
    let again = with_tx(&*store, true, |tx| tx.add_user(&user("zhang", Role::Administrator)));
    assert!(matches!(again, Err(StorageError::Conflict(_))), "a second user of one id is a conflict: {again:?}");
    let users = read(&store, |tx| tx.users());
    assert_eq!(users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), ["li", "zhang"], "in id order");
    assert_eq!(users[0], user("li", Role::Supervisor), "read back as written");
    assert!(write(&store, |tx| tx.set_user_disabled("zhang", Some(NOW + 5))));
    assert_eq!(read(&store, |tx| tx.user("zhang")).and_then(|u| u.disabled_at_ms), Some(NOW + 5));
    assert!(write(&store, |tx| tx.set_user_disabled("zhang", None)));
    assert_eq!(read(&store, |tx| tx.user("zhang")).map(|u| u.disabled_at_ms), Some(None));
    assert!(!write(&store, |tx| tx.set_user_disabled("nobody", Some(NOW))));
    assert_eq!(read(&store, |tx| tx.user("nobody")), None);
}

fn enrollment_codes_are_used_once(store: Store) {
    write(&store, |tx| {
        tx.add_user(&user("zhang", Role::Inspector))?;
        tx.add_user(&user("wang", Role::Inspector))?;
        tx.add_enrollment(&xuncha_server::auth::hash_code("AAAA-BBBB-CCCC-DDDD"), "zhang", NOW + 1000, NOW)?;
        tx.add_enrollment(&xuncha_server::auth::hash_code("EEEE-FFFF-GGGG-HHHH"), "zhang", NOW - 1, NOW - 10)?;
        tx.add_enrollment(&xuncha_server::auth::hash_code("JJJJ-KKKK-MMMM-NNNN"), "wang", NOW + 1000, NOW)?;
        tx.add_enrollment(&xuncha_server::auth::hash_code("PPPP-QQQQ-RRRR-SSSS"), "wang", NOW + 1000, NOW)
    });
    let redeem = |code: &str| with_tx(&*store, true, |tx| tx.redeem_enrollment(code, "dev-1", NOW));
    assert!(matches!(redeem("EEEE-FFFF-GGGG-HHHH"), Err(StorageError::BadCode(_))), "expired");
    assert!(matches!(redeem("2345-6789-ABCD-EFGH"), Err(StorageError::BadCode(_))), "unknown");
    // Typed in lower case and without dashes, as people do.
    assert_eq!(redeem("aaaabbbbccccdddd").map(|u| u.id).ok().as_deref(), Some("zhang"));
    assert!(matches!(redeem("AAAA-BBBB-CCCC-DDDD"), Err(StorageError::BadCode(_))), "used");

    // Cancelling: one code of a user, then all of them; cancelled codes are refused.
    assert_eq!(write(&store, |tx| tx.cancel_enrollments(Some("wang"), Some("JJJJ-KKKK-MMMM-NNNN"), NOW)), 1);
    assert!(matches!(redeem("JJJJ-KKKK-MMMM-NNNN"), Err(StorageError::BadCode(_))), "cancelled");
    assert_eq!(write(&store, |tx| tx.cancel_enrollments(Some("wang"), None, NOW)), 1);
    assert!(matches!(redeem("PPPP-QQQQ-RRRR-SSSS"), Err(StorageError::BadCode(_))), "cancelled with the rest");

    // A disabled user's code is refused, and works again once the user is enabled.
    write(&store, |tx| {
        tx.add_enrollment(&xuncha_server::auth::hash_code("TTTT-UUUU-VVVV-WWWW"), "wang", NOW + 1000, NOW)?;
        tx.set_user_disabled("wang", Some(NOW)).map(drop)
    });
    assert!(matches!(redeem("TTTT-UUUU-VVVV-WWWW"), Err(StorageError::BadCode(_))), "disabled user");
    write(&store, |tx| tx.set_user_disabled("wang", None).map(drop));
    assert_eq!(redeem("TTTT-UUUU-VVVV-WWWW").map(|u| u.id).ok().as_deref(), Some("wang"));
}

fn an_enrollment_code_redeemed_at_once_works_once(store: Store) {
    write(&store, |tx| {
        tx.add_user(&user("zhang", Role::Inspector))?;
        tx.add_enrollment(&xuncha_server::auth::hash_code("AAAA-BBBB-CCCC-DDDD"), "zhang", NOW + 1000, NOW)
    });
    const TRIES: usize = 8;
    let barrier = Arc::new(Barrier::new(TRIES));
    let handles: Vec<_> = (0..TRIES)
        .map(|i| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                with_tx(&*store, true, |tx| tx.redeem_enrollment("AAAA-BBBB-CCCC-DDDD", &format!("dev-{i}"), NOW))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("no panic")).collect();
    let redeemed = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(redeemed, 1, "one code, one device: {results:?}");
    assert!(results.iter().all(|r| r.is_ok() || matches!(r, Err(StorageError::BadCode(_)))), "{results:?}");
}

fn devices_tokens_and_keys(store: Store) {
    write(&store, |tx| tx.add_user(&user("zhang", Role::Inspector)));
    write(&store, |tx| tx.add_device(&device("dev-a", "zhang"), "token-a"));
    let mut twin = device("dev-b", "zhang");
    twin.actor = "actor-dev-a".into();
    let again = with_tx(&*store, true, |tx| tx.add_device(&twin, "token-b"));
    assert!(matches!(again, Err(StorageError::Conflict(_))), "one actor, one device: {again:?}");
    assert!(read(&store, |tx| tx.device("dev-b")).is_none(), "the refused device is not half-written");

    assert_eq!(read(&store, |tx| tx.device_by_token("token-a")).map(|d| d.id).as_deref(), Some("dev-a"));
    assert_eq!(read(&store, |tx| tx.device_by_actor("actor-dev-a")).map(|d| d.id).as_deref(), Some("dev-a"));
    write(&store, |tx| tx.rotate_token("dev-a", "token-a2", "新平板", NOW + 1));
    assert!(read(&store, |tx| tx.device_by_token("token-a")).is_none(), "the old token stops working");
    let rotated = read(&store, |tx| tx.device_by_token("token-a2")).expect("the new token works");
    assert_eq!((rotated.name.as_str(), rotated.token_issued_at_ms), ("新平板", NOW + 1));

    write(&store, |tx| tx.set_device_keys("dev-a", "signing-1", "age1sealing1"));
    write(&store, |tx| tx.set_device_keys("dev-a", "signing-2", "age1sealing2"));
    let keyed = read(&store, |tx| tx.device("dev-a")).expect("device");
    assert_eq!(
        (keyed.signing_key.as_deref(), keyed.sealing_key.as_deref()),
        (Some("signing-1"), Some("age1sealing1")),
        "keys, once registered, are not replaced"
    );
    write(&store, |tx| tx.touch_device("dev-a", NOW + 7));
    assert_eq!(read(&store, |tx| tx.device("dev-a")).and_then(|d| d.last_sync_ms), Some(NOW + 7));
    assert!(write(&store, |tx| tx.revoke_device("dev-a", NOW + 8)));
    assert!(write(&store, |tx| tx.revoke_device("dev-a", NOW + 9)), "revoking twice is no error");
    assert_eq!(
        read(&store, |tx| tx.device("dev-a")).and_then(|d| d.revoked_at_ms),
        Some(NOW + 8),
        "the first time stays"
    );
    assert!(!write(&store, |tx| tx.revoke_device("dev-none", NOW)));
    assert_eq!(read(&store, |tx| tx.devices()).len(), 1);
}

fn documents_and_the_change_log(store: Store) {
    let (a, b) = (person(&store, "zhang"), person(&store, "wang"));
    let record = key(1, Part::Record);
    let where_ = scope("fund_check", VILLAGE, "");
    let first =
        write(&store, |tx| tx.put_doc(&doc(&record, &where_, &a, b"v1"), &[change("a1", &a), change("a2", &a)], NOW));
    assert_eq!(first, 2);
    // The same change again (a retried upload) is not logged twice.
    let second =
        write(&store, |tx| tx.put_doc(&doc(&record, &where_, &a, b"v2"), &[change("a2", &a), change("b1", &b)], NOW));
    assert_eq!(second, 1, "only the new change is logged");
    let stored = read(&store, |tx| tx.doc(&record)).expect("stored");
    assert_eq!(stored, doc(&record, &where_, &a, b"v2"), "the latest snapshot; the first uploader stays the owner");
    assert!(read(&store, |tx| tx.doc(&key(9, Part::Record))).is_none());
    assert_eq!(read(&store, |tx| tx.max_seq()), 3, "a change skipped as logged takes no position");
    let (entries, breaks) = chain::verify(read(&store, |tx| tx.log_rows(0, 100)), &[], &[0; 32]);
    assert_eq!((entries, breaks.len()), (3, 0), "no gap in the chain: {breaks:?}");
    assert!(read(&store, |tx| tx.device_wrote(&record, &b)));
    assert!(!read(&store, |tx| tx.device_wrote(&key(1, Part::Protected), &b)));

    // The log, as each device reads it: not its own changes.
    let (rows, resume, full) = read(&store, |tx| tx.log_after(0, &everything(&b), 10));
    assert_eq!(rows.iter().map(|r| r.bytes.as_slice()).collect::<Vec<_>>(), [b"change a1", b"change a2"]);
    assert!(rows.iter().all(|r| r.key == record));
    assert!(!full);
    assert_eq!(resume, 3, "a short page resumes after everything read, the device's own changes too");
    let (rows, resume, full) = read(&store, |tx| tx.log_after(0, &everything(&a), 1));
    assert_eq!(rows.iter().map(|r| r.bytes.as_slice()).collect::<Vec<_>>(), [b"change b1"]);
    assert_eq!((resume, full), (rows[0].seq, true), "a page as long as the limit may have more after it");
    let (rows, resume, full) = read(&store, |tx| tx.log_after(0, &everything("dev-other"), 2));
    assert_eq!((rows.len(), resume, full), (2, rows[1].seq, true), "a full page resumes after its last row");
    let (rows, resume, _) = read(&store, |tx| tx.log_after(resume, &everything("dev-other"), 2));
    assert_eq!(rows.iter().map(|r| r.bytes.as_slice()).collect::<Vec<_>>(), [b"change b1"]);
    assert_eq!(resume, 3);
    assert!(read(&store, |tx| tx.log_after(3, &everything("dev-other"), 2)).0.is_empty());
    let seqs: Vec<u64> =
        read(&store, |tx| tx.log_after(0, &everything("dev-other"), 10)).0.iter().map(|r| r.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in log order: {seqs:?}");

    // Signatures, by change, in log order.
    let signatures = read(&store, |tx| tx.doc_signatures(&record));
    assert_eq!(
        signatures.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>(),
        [change("a1", &a).hash, change("a2", &a).hash, change("b1", &b).hash]
    );
    assert_eq!(read(&store, |tx| tx.change_signature(seqs[0])), change("a1", &a).signature);
    assert_eq!(read(&store, |tx| tx.change_signature(999)), None);

    // The protected companion is read where its record is, wherever it was written.
    let protected = key(1, Part::Protected);
    write(&store, |tx| tx.put_doc(&doc(&protected, &scope("", "", ""), &a, b"p1"), &[change("p1", &a)], NOW));
    let moved = scope("fund_check", OTHER_VILLAGE, "team-1");
    write(&store, |tx| tx.put_doc(&doc(&record, &moved, &a, b"v3"), &[change("a3", &a)], NOW));
    assert_eq!(read(&store, |tx| tx.doc(&protected)).map(|d| d.scope), Some(moved.clone()));
    let metas = read(&store, |tx| tx.doc_metas());
    assert_eq!(metas.len(), 2);
    assert!(metas.iter().all(|m| m.scope == moved && m.owner_device == a), "{metas:?}");
}

/// A province's reads, district by district: a district's (township's) device reads its own
/// district's documents and log, whole and in order, and none of another's; a province-wide
/// role reads them all; a record moved to another district takes its whole log with it.
fn districts_read_their_own_and_a_moved_record_takes_its_log(store: Store) {
    const THERE: &str = "330199101001";
    let a = person(&store, "zhang");
    let here_only = inspector("dev-here", &["330102"], &[]);
    let township = inspector("dev-township", &["330102001"], &[]);
    let there_only = inspector("dev-there", &["330199"], &[]);
    let both = inspector("dev-both", &["330102001", "330199"], &[]);
    let province = inspector("dev-province", &["33"], &[]);
    write(&store, |tx| {
        for n in 1..=6u8 {
            let place = if n % 2 == 0 { THERE } else { VILLAGE };
            tx.put_doc(
                &doc(&key(n, Part::Record), &scope("fund_check", place, ""), &a, &[n]),
                &[change(&format!("c{n}"), &a)],
                NOW,
            )?;
        }
        Ok(())
    });
    let log = |who: &Visibility| -> Vec<Vec<u8>> {
        read(&store, |tx| tx.log_after(0, who, 100)).0.into_iter().map(|r| r.bytes).collect()
    };
    let walk = |who: &Visibility| -> Vec<u8> {
        let mut out = Vec::new();
        let mut after: Option<DocKey> = None;
        loop {
            let (docs, more) = read(&store, |tx| tx.docs_after(after.as_ref(), who, 2));
            out.extend(docs.iter().map(|d| d.key.record[0]));
            after = docs.last().map(|d| d.key.clone());
            if !more || after.is_none() {
                return out;
            }
        }
    };
    let bytes = |ns: &[u8]| -> Vec<Vec<u8>> { ns.iter().map(|n| format!("change c{n}").into_bytes()).collect() };
    assert_eq!(log(&here_only), bytes(&[1, 3, 5]));
    assert_eq!(log(&township), bytes(&[1, 3, 5]));
    assert_eq!(log(&there_only), bytes(&[2, 4, 6]));
    assert_eq!(log(&both), bytes(&[1, 2, 3, 4, 5, 6]), "two districts' logs merged in log order");
    assert_eq!(log(&province), bytes(&[1, 2, 3, 4, 5, 6]));
    assert_eq!(walk(&here_only), [1, 3, 5]);
    assert_eq!(walk(&there_only), [2, 4, 6]);
    assert_eq!(walk(&both), [1, 2, 3, 4, 5, 6], "two districts' documents merged in key order");
    assert_eq!(walk(&province), [1, 2, 3, 4, 5, 6]);
    // A page as long as the limit resumes after its last entry, in either district.
    let (page, resume, full) = read(&store, |tx| tx.log_after(0, &both, 4));
    assert_eq!((page.len(), full), (4, true));
    let (rest, _, _) = read(&store, |tx| tx.log_after(resume, &both, 4));
    assert_eq!(rest.iter().map(|r| r.bytes.clone()).collect::<Vec<_>>(), bytes(&[5, 6]));

    // Record 1 moves to the other district, with a new change: its whole log goes with it.
    write(&store, |tx| {
        tx.put_doc(&doc(&key(1, Part::Record), &scope("fund_check", THERE, ""), &a, b"m"), &[change("c7", &a)], NOW)
    });
    assert_eq!(log(&here_only), bytes(&[3, 5]));
    let mut moved = bytes(&[1, 2, 4, 6]);
    moved.push(b"change c7".to_vec());
    assert_eq!(log(&there_only), moved, "the moved record's earlier changes too");
    assert_eq!(walk(&there_only), [1, 2, 4, 6]);
    assert_eq!(walk(&here_only), [3, 5]);
}

fn who_reads_what(store: Store) {
    let (a, b) = (person(&store, "zhang"), person(&store, "wang"));
    let fund = key(1, Part::Record);
    let clue_mine = key(2, Part::Record);
    let clue_theirs = key(3, Part::Record);
    let elsewhere = key(4, Part::Record);
    let informant = key(2, Part::Protected);
    write(&store, |tx| {
        tx.put_doc(&doc(&fund, &scope("fund_check", VILLAGE, "team-1"), &a, b"f"), &[change("f", &a)], NOW)?;
        tx.put_doc(&doc(&clue_mine, &scope("gang_clue", VILLAGE, "team-1"), &a, b"c"), &[change("c", &a)], NOW)?;
        tx.put_doc(&doc(&clue_theirs, &scope("gang_clue", VILLAGE, "team-2"), &a, b"t"), &[change("t", &a)], NOW)?;
        tx.put_doc(&doc(&elsewhere, &scope("fund_check", OTHER_VILLAGE, ""), &a, b"e"), &[change("e", &a)], NOW)?;
        tx.put_doc(&doc(&informant, &scope("gang_clue", VILLAGE, "team-1"), &a, b"i"), &[change("i", &a)], NOW)
    });
    let seen = |who: &Visibility| -> BTreeSet<DocKey> {
        let logged: BTreeSet<DocKey> =
            read(&store, |tx| tx.log_after(0, who, 100)).0.into_iter().map(|r| r.key).collect();
        let whole: BTreeSet<DocKey> =
            read(&store, |tx| tx.docs_after(None, who, 100)).0.into_iter().map(|d| d.key).collect();
        assert_eq!(logged, whole, "the log and the walk admit the same documents");
        logged
    };
    // b, of team 1, in the township of VILLAGE: the fund check and its own team's clue;
    // not the other team's clue, not the other township, not the informant of a record
    // it did not write.
    let team1 = inspector(&b, &["330102001"], &["team-1"]);
    assert_eq!(seen(&team1), BTreeSet::from([fund.clone(), clue_mine.clone()]));
    // A supervisor's device reads everything, informants too.
    assert_eq!(seen(&everything(&b)).len(), 5);
    // A device that wrote into the informant's companion reads it.
    write(&store, |tx| {
        tx.put_doc(&doc(&informant, &scope("gang_clue", VILLAGE, "team-1"), &a, b"i2"), &[change("i2", &b)], NOW)
    });
    assert!(seen(&team1).contains(&informant));
    // The owner reads its own companion; other devices' own changes never come back.
    let owner = inspector(&a, &["330102001"], &["team-1"]);
    assert_eq!(seen(&owner), BTreeSet::from([informant.clone()]), "only b's change, to the informant, is news to a");
    let whole: Vec<DocKey> = read(&store, |tx| tx.docs_after(None, &owner, 100)).0.into_iter().map(|d| d.key).collect();
    assert_eq!(whole, [informant], "the walk leaves out what only a itself wrote");
    // Numbers follow the same rule.
    write(&store, |tx| {
        tx.number_record(&clue_theirs.record, "round-1", "team-2", NOW)?;
        tx.number_record(&fund.record, "round-1", "team-1", NOW)
    });
    let numbered = read(&store, |tx| tx.record_numbers(&[fund.record.clone(), clue_theirs.record.clone()], &team1));
    assert_eq!(numbered.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(), vec![fund.record.clone()]);
}

fn the_walk_pages_in_key_order(store: Store) {
    let a = person(&store, "zhang");
    write(&store, |tx| {
        for n in (1..=25u8).rev() {
            let where_ = scope("fund_check", VILLAGE, "");
            tx.put_doc(&doc(&key(n, Part::Record), &where_, &a, &[n]), &[change(&format!("r{n}"), &a)], NOW)?;
            if n % 5 == 0 {
                tx.put_doc(&doc(&key(n, Part::Protected), &where_, &a, &[n]), &[change(&format!("p{n}"), &a)], NOW)?;
            }
        }
        Ok(())
    });
    let who = everything("dev-reader");
    let mut after: Option<DocKey> = None;
    let mut walked = Vec::new();
    loop {
        let (page, more) = read(&store, |tx| tx.docs_after(after.as_ref(), &who, 4));
        assert!(page.len() <= 4);
        walked.extend(page.iter().map(|d| d.key.clone()));
        after = page.last().map(|d| d.key.clone());
        if !more {
            break;
        }
    }
    let mut expected: Vec<DocKey> = (1..=25u8).map(|n| key(n, Part::Record)).collect();
    expected.extend((1..=5u8).map(|n| key(n * 5, Part::Protected)));
    expected.sort_by(|x, y| (&x.record, part_order(x.part)).cmp(&(&y.record, part_order(y.part))));
    assert_eq!(walked, expected, "every document once, record by record, the protected part after the record");
}

/// The parts as the walk orders them (by their stored names: `protected` < `record`).
fn part_order(part: Part) -> u8 {
    match part {
        Part::Protected => 0,
        Part::Record => 1,
    }
}

fn the_log_is_a_hash_chain(store: Store) {
    let a = person(&store, "zhang");
    assert_eq!(read(&store, |tx| tx.chain_head()), (0, chain::GENESIS));
    for n in 1..=5u8 {
        write(&store, |tx| {
            let changes: Vec<LoggedChange> = (0..n).map(|i| change(&format!("{n}-{i}"), &a)).collect();
            tx.put_doc(
                &doc(&key(n, Part::Record), &scope("fund_check", VILLAGE, ""), &a, &[n]),
                &changes,
                NOW + i64::from(n),
            )
        });
    }
    let rows = read(&store, |tx| tx.log_rows(0, 100));
    assert_eq!(rows.len(), 15);
    let (entries, breaks) = chain::verify(rows.clone(), &[], &[0; 32]);
    assert_eq!((entries, breaks.len()), (15, 0), "{breaks:?}");
    let (seq, link) = read(&store, |tx| tx.chain_head());
    assert_eq!(seq, rows.last().map(|(r, _)| r.seq).unwrap_or_default());
    assert_eq!(link.to_vec(), rows.last().map(|(_, l)| l.clone()).unwrap_or_default());
    assert_eq!(read(&store, |tx| tx.log_rows(rows[9].0.seq, 100)), rows[10..].to_vec(), "from a position on");
    assert_eq!(rows[0].0.received_at_ms, NOW + 1);
}

fn concurrent_writers_lose_nothing(store: Store) {
    const WRITERS: usize = 4;
    const ROUNDS: usize = 12;
    let devices: Vec<String> = (0..WRITERS).map(|i| person(&store, &format!("u{i}"))).collect();
    let shared = key(1, Part::Record);
    let barrier = Arc::new(Barrier::new(WRITERS + 1));
    let writers: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(i, device)| {
            let (store, barrier, device, shared) =
                (Arc::clone(&store), Arc::clone(&barrier), device.clone(), shared.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for round in 0..ROUNDS {
                    // Read, merge, write back: the snapshot is the list of every writer's marks.
                    write(&store, |tx| {
                        tx.lock_records(std::slice::from_ref(&shared.record))?;
                        let mut snapshot = tx.doc(&shared)?.map(|d| d.snapshot).unwrap_or_default();
                        snapshot.extend_from_slice(format!("{i}:{round};").as_bytes());
                        let stored = doc(&shared, &scope("fund_check", VILLAGE, ""), &device, &snapshot);
                        tx.put_doc(&stored, &[change(&format!("shared {i} {round}"), &device)], NOW)
                    });
                    // And a record of its own.
                    let own = key(u8::try_from(10 + i).unwrap_or(0), Part::Record);
                    write(&store, |tx| {
                        let stored = doc(&own, &scope("fund_check", VILLAGE, ""), &device, &[]);
                        tx.put_doc(&stored, &[change(&format!("own {i} {round}"), &device)], NOW)
                    });
                }
            })
        })
        .collect();
    // A reader polls the log while they write: every change reaches it once, none skipped.
    let reader = {
        let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
        std::thread::spawn(move || {
            barrier.wait();
            let who = everything("dev-reader");
            let mut cursor = 0;
            let mut seen = Vec::new();
            let mut quiet = 0;
            while quiet < 20 {
                let (rows, resume, _) = read(&store, |tx| tx.log_after(cursor, &who, 7));
                quiet = if rows.is_empty() { quiet + 1 } else { 0 };
                seen.extend(rows.into_iter().map(|r| r.bytes));
                cursor = resume;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            seen
        })
    };
    for writer in writers {
        writer.join().expect("writer");
    }
    let seen = reader.join().expect("reader");
    let total = WRITERS * ROUNDS * 2;
    let distinct: BTreeSet<&Vec<u8>> = seen.iter().collect();
    assert_eq!((seen.len(), distinct.len()), (total, total), "every change read once while they were written");
    let snapshot = String::from_utf8(read(&store, |tx| tx.doc(&shared)).expect("shared").snapshot).expect("utf-8");
    let marks: BTreeSet<&str> = snapshot.split(';').filter(|m| !m.is_empty()).collect();
    assert_eq!(marks.len(), WRITERS * ROUNDS, "no writer merged into a snapshot another had replaced: {snapshot}");
    let (entries, breaks) = chain::verify(read(&store, |tx| tx.log_rows(0, 1000)), &[], &[0; 32]);
    assert_eq!((entries, breaks.len()), (total as u64, 0), "the chain holds under concurrent writers: {breaks:?}");
}

fn record_numbers_count_per_round_and_team(store: Store) {
    let a = person(&store, "zhang");
    write(&store, |tx| {
        for n in 1..=4u8 {
            tx.put_doc(&doc(&key(n, Part::Record), &scope("fund_check", VILLAGE, ""), &a, &[n]), &[], NOW)?;
        }
        tx.number_record(&[1; 16], "round-1", "team-1", NOW)?;
        tx.number_record(&[2; 16], "round-1", "team-1", NOW)?;
        tx.number_record(&[3; 16], "round-1", "team-2", NOW)?;
        tx.number_record(&[1; 16], "round-1", "team-2", NOW)?;
        tx.number_record(&[4; 16], "round-2", "team-1", NOW)
    });
    let records: Vec<Vec<u8>> = (1..=4u8).map(|n| vec![n; 16]).chain([vec![9; 16]]).collect();
    let numbers = read(&store, |tx| tx.record_numbers(&records, &everything("dev-reader")));
    let found: Vec<(u8, String, String, u32)> =
        numbers.into_iter().map(|(r, n)| (r[0], n.round, n.team, n.ordinal)).collect();
    assert_eq!(
        found,
        [
            (1, "round-1".into(), "team-1".into(), 1),
            (2, "round-1".into(), "team-1".into(), 2),
            (3, "round-1".into(), "team-2".into(), 1),
            (4, "round-2".into(), "team-1".into(), 1),
        ],
        "a record keeps its first number; numbers count per round and team; an unknown record has none"
    );
}

fn attachments_upload_resumably(store: Store) {
    let (a, b) = (person(&store, "zhang"), person(&store, "wang"));
    let bytes: Vec<u8> = (0..10_000u32).map(|i| u8::try_from(i % 251).unwrap_or(0)).collect();
    let id = sha(&bytes);
    let size = bytes.len() as u64;
    let append = |device: &str, offset: usize, piece: &[u8]| {
        with_tx(&*store, true, |tx| tx.append_upload(&id, device, size, offset as u64, piece, NOW))
    };
    assert_eq!(append(&a, 0, &bytes[..4000]).ok(), Some(4000));
    assert!(matches!(append(&a, 1000, &bytes[1000..2000]), Err(StorageError::Resume(4000))), "resume where it ends");
    assert!(
        matches!(
            with_tx(&*store, true, |tx| tx.append_upload(&id, &a, size + 1, 4000, &bytes[4000..5000], NOW)),
            Err(StorageError::Conflict(_))
        ),
        "a size other than the one declared first"
    );
    let mut longer = bytes[4000..].to_vec();
    longer.push(0);
    assert!(matches!(append(&a, 4000, &longer), Err(StorageError::Conflict(_))), "more than declared");
    assert_eq!(append(&a, 4000, &[]).ok(), Some(4000), "an empty piece stores nothing");
    assert_eq!(
        read(&store, |tx| tx.upload_state(&id, &a)).map(|s| (s.size, s.received, s.held)),
        Some((size, 4000, false))
    );
    assert_eq!(read(&store, |tx| tx.attachment_usage(&a)), size, "declared sizes count");
    assert!(read(&store, |tx| tx.attachment_state(&id)).is_none(), "nothing whole yet");
    assert_eq!(append(&a, 4000, &bytes[4000..]).ok(), Some(size));
    assert_eq!(read(&store, |tx| tx.upload_digest(&id, &a)), id);

    // b sends other bytes under the same hash: discarded when they do not match.
    assert_eq!(append(&b, 0, &vec![7; bytes.len()]).ok(), Some(size));
    assert_ne!(read(&store, |tx| tx.upload_digest(&id, &b)), id);
    write(&store, |tx| tx.finish_upload(&id, &b, false, NOW));
    assert!(read(&store, |tx| tx.upload_state(&id, &b)).is_none(), "the bad upload is gone");
    assert_eq!(read(&store, |tx| tx.attachment_usage(&b)), 0);

    write(&store, |tx| tx.finish_upload(&id, &a, true, NOW + 1));
    let state = read(&store, |tx| tx.attachment_state(&id)).expect("whole");
    assert_eq!((state.size, state.received, state.complete), (size, size, true));
    assert_eq!(read(&store, |tx| tx.attachment_holders(&id)), vec![a.clone()]);
    assert_eq!(read(&store, |tx| tx.upload_state(&id, &a)).map(|s| s.held), Some(true));
    assert_eq!(read(&store, |tx| tx.attachment_bytes(&id, 0)), bytes);
    assert_eq!(read(&store, |tx| tx.attachment_bytes(&id, 9_000)), bytes[9_000..]);
    let mut offset = 0u64;
    let mut pieced = Vec::new();
    while let Some((start, piece)) = read(&store, |tx| tx.attachment_piece(&id, offset)) {
        assert!(start <= offset && offset < start + piece.len() as u64, "the piece holds the byte asked for");
        pieced.extend_from_slice(&piece[usize::try_from(offset - start).unwrap_or(0)..]);
        offset = start + piece.len() as u64;
    }
    assert_eq!(pieced, bytes, "piece by piece, the same bytes");
    assert!(read(&store, |tx| tx.attachment_piece(&id, size)).is_none(), "nothing past the end");

    // b now sends the right bytes: it becomes a holder; the attachment stays as it was.
    assert_eq!(append(&b, 0, &bytes).ok(), Some(size));
    write(&store, |tx| tx.finish_upload(&id, &b, true, NOW + 2));
    assert_eq!(
        read(&store, |tx| tx.attachment_holders(&id)),
        [a.clone(), b.clone()],
        "in the order they came to hold it"
    );
    assert_eq!(read(&store, |tx| tx.attachment_bytes(&id, 0)), bytes);
    assert_eq!(read(&store, |tx| tx.attachment_usage(&b)), size);
}

fn attachments_are_read_through_their_records(store: Store) {
    let (a, host) = (person(&store, "zhang"), person(&store, "relayhost"));
    let photo = b"a photo".to_vec();
    let stray = b"bytes no record names".to_vec();
    for bytes in [&photo, &stray] {
        let id = sha(bytes);
        write(&store, |tx| tx.append_upload(&id, &a, bytes.len() as u64, 0, bytes, NOW).map(drop));
        write(&store, |tx| tx.finish_upload(&id, &a, true, NOW));
    }
    let (in_village, elsewhere) = (key(1, Part::Record), key(2, Part::Record));
    write(&store, |tx| {
        tx.put_doc(&doc(&in_village, &scope("fund_check", VILLAGE, ""), &a, b"1"), &[change("1", &a)], NOW)?;
        tx.put_doc(&doc(&elsewhere, &scope("fund_check", OTHER_VILLAGE, ""), &a, b"2"), &[change("2", &a)], NOW)?;
        tx.set_attachment_refs(&in_village.record, &[sha(&photo)])?;
        tx.set_attachment_refs(&elsewhere.record, &[sha(&photo), sha(b"not yet uploaded")])
    });
    let team = inspector("dev-reader", &["330102001"], &[]);
    assert_eq!(read(&store, |tx| tx.attachment_records(&sha(&photo), &team)), vec![in_village.record.clone()]);
    assert_eq!(read(&store, |tx| tx.attachment_records(&sha(&photo), &everything("x"))).len(), 2);
    // References are replaced, not added to.
    write(&store, |tx| tx.set_attachment_refs(&in_village.record, &[]));
    assert!(read(&store, |tx| tx.attachment_records(&sha(&photo), &team)).is_empty());

    // What a relay's host still lacks: whole, referenced, not held by it.
    let lacking = read(&store, |tx| tx.attachments_not_held_by(&host, 10));
    assert_eq!(lacking, [(sha(&photo), photo.len() as u64)], "the stray bytes no record names are not taken on");
    write(&store, |tx| tx.hold_attachment(&sha(&photo), &host, NOW));
    assert!(read(&store, |tx| tx.attachments_not_held_by(&host, 10)).is_empty());
    assert!(read(&store, |tx| tx.attachment_holders(&sha(&photo))).contains(&host));
    write(&store, |tx| tx.hold_attachment(&sha(b"not yet uploaded"), &host, NOW));
    assert!(read(&store, |tx| tx.attachment_holders(&sha(b"not yet uploaded"))).is_empty(), "only whole ones are held");
}

fn reference_data(store: Store) {
    write(&store, |tx| {
        tx.put_divisions(&[
            DivisionEntry { code: TOWNSHIP.into(), name: "某镇".into(), parent: "330102000000".into() },
            DivisionEntry { code: VILLAGE.into(), name: "某村".into(), parent: TOWNSHIP.into() },
        ])
    });
    write(&store, |tx| {
        tx.put_divisions(&[DivisionEntry { code: VILLAGE.into(), name: "新村".into(), parent: TOWNSHIP.into() }])
    });
    assert_eq!(read(&store, |tx| tx.divisions()).len(), 2);
    assert_eq!(read(&store, |tx| tx.division(VILLAGE)).map(|d| d.name).as_deref(), Some("新村"), "renamed in place");
    assert!(read(&store, |tx| tx.division("330102999999")).is_none());

    let round = |id: &str, name: &str, start: &str| Round {
        id: id.into(),
        name: name.into(),
        start: start.into(),
        end: "2027-01-31".into(),
        units: vec!["某单位".into()],
    };
    write(&store, |tx| {
        tx.add_round(&round("round-2", "第二轮", "2026-11-01"))?;
        tx.add_round(&round("round-1", "第一轮", "2026-09-01"))
    });
    let again = with_tx(&*store, true, |tx| tx.add_round(&round("round-1", "第一轮", "2026-09-01")));
    assert!(matches!(again, Err(StorageError::Conflict(_))), "{again:?}");
    let rounds = read(&store, |tx| tx.rounds());
    assert_eq!(rounds.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["round-1", "round-2"], "by start");
    assert_eq!(rounds[0], round("round-1", "第一轮", "2026-09-01"));

    let a = person(&store, "zhang");
    let b = person(&store, "wang");
    let mut team = Team {
        id: "team-1".into(),
        name: "第一组".into(),
        round: "round-1".into(),
        lead: "zhang".into(),
        deputies: vec!["li".into()],
        members: vec!["wang".into()],
        places: vec![TOWNSHIP.into()],
        units: Vec::new(),
    };
    // Documents written before teams: the team claims those its people wrote in its places.
    write(&store, |tx| {
        tx.put_doc(&doc(&key(1, Part::Record), &scope("fund_check", VILLAGE, ""), &a, b"1"), &[], NOW)?;
        tx.put_doc(&doc(&key(2, Part::Record), &scope("fund_check", OTHER_VILLAGE, ""), &b, b"2"), &[], NOW)?;
        tx.put_doc(&doc(&key(3, Part::Record), &scope("fund_check", VILLAGE, "team-9"), &b, b"3"), &[], NOW)?;
        tx.put_team(&team)
    });
    assert_eq!(write(&store, |tx| tx.claim_for_team(&team)), 1, "in its places, no team yet");
    assert_eq!(read(&store, |tx| tx.doc(&key(1, Part::Record))).map(|d| d.scope.team).as_deref(), Some("team-1"));
    assert_eq!(read(&store, |tx| tx.teams_of("li")), [team.clone()]);
    team.deputies.clear();
    team.name = "第一组（调整）".into();
    write(&store, |tx| tx.put_team(&team));
    assert!(read(&store, |tx| tx.teams_of("li")).is_empty(), "a replaced team's people are its new ones");
    assert_eq!(read(&store, |tx| tx.teams()), [team.clone()]);

    let household = RosterHousehold {
        head: "户主甲".into(),
        id_number: "330102198001011234".into(),
        account: "6228480000000000000".into(),
        entitled: Yuan::from_fen(123_456),
        paid_on: "2026-10-01".into(),
        group: "一组".into(),
        phone: "13800000000".into(),
    };
    let roster = |id: &str, village: &str, fund: &str| Roster {
        id: id.into(),
        village: village.into(),
        fund: fund.into(),
        imported_at_ms: NOW,
        households: vec![household.clone()],
    };
    write(&store, |tx| {
        tx.put_roster(&roster("r1", VILLAGE, "低保"))?;
        tx.put_roster(&roster("r2", VILLAGE, "低保"))?;
        tx.put_roster(&roster("r3", VILLAGE, "残疾人补贴"))?;
        tx.put_roster(&roster("r4", OTHER_VILLAGE, "低保"))
    });
    let ids = |prefixes: &[&str]| -> Vec<String> {
        let prefixes: Vec<String> = prefixes.iter().map(|p| (*p).to_owned()).collect();
        read(&store, |tx| tx.rosters(&prefixes)).into_iter().map(|r| r.id).collect()
    };
    assert_eq!(
        ids(&["330102001"]),
        ["r2", "r3"],
        "one roster per village and fund, the latest; by village, then fund as bytes"
    );
    assert_eq!(ids(&["330102001", "330102002"]).len(), 3);
    assert!(ids(&[]).is_empty());
    assert_eq!(read(&store, |tx| tx.rosters(&["330102002".into()]))[0], roster("r4", OTHER_VILLAGE, "低保"));

    assert_eq!(read(&store, |tx| tx.reference_version()), 0);
    assert_eq!(write(&store, |tx| tx.bump_reference_version()), 1);
    assert_eq!(write(&store, |tx| tx.bump_reference_version()), 2);
    assert_eq!(read(&store, |tx| tx.reference_version()), 2);
}

fn peers_and_their_receipts(store: Store) {
    let peer = |name: &str, key: &str| Peer {
        name: name.into(),
        key: key.into(),
        added_at_ms: NOW,
        acked_seq: 0,
        wants: Vec::new(),
    };
    write(&store, |tx| tx.add_peer(&peer("内网", "xuncha1:aaaa:age1aaaa")));
    for twin in [peer("内网", "xuncha1:bbbb:age1bbbb"), peer("office", "xuncha1:aaaa:age1aaaa")] {
        let again = with_tx(&*store, true, |tx| tx.add_peer(&twin));
        assert!(matches!(again, Err(StorageError::Conflict(_))), "a name or key trusted already: {again:?}");
    }
    let wants = vec![key(1, Part::Record), key(2, Part::Protected)];
    write(&store, |tx| tx.set_peer_state("内网", 42, &wants));
    let peers = read(&store, |tx| tx.peers());
    assert_eq!(peers.len(), 1);
    assert_eq!((peers[0].acked_seq, peers[0].wants.clone()), (42, wants));
    write(&store, |tx| tx.set_peer_state("内网", 43, &[]));
    assert!(read(&store, |tx| tx.peers())[0].wants.is_empty());
}

fn identity_keys_scopes_and_audit(store: Store) {
    let id = read(&store, |tx| tx.server_id());
    assert!(id.starts_with("srv-"), "{id}");
    assert_eq!(read(&store, |tx| tx.server_id()), id, "made once");
    let epoch = read(&store, |tx| tx.epoch());
    assert!(!epoch.restored);
    assert_eq!(read(&store, |tx| tx.epoch()), epoch, "stable until a restore");
    assert_eq!(write(&store, |tx| tx.bundle_identity("AGE-SECRET-KEY-FIRST")), "AGE-SECRET-KEY-FIRST");
    assert_eq!(
        write(&store, |tx| tx.bundle_identity("AGE-SECRET-KEY-SECOND")),
        "AGE-SECRET-KEY-FIRST",
        "the first stays"
    );

    assert_eq!(read(&store, |tx| tx.protected_key()), None);
    write(&store, |tx| tx.set_protected_key("age1first", NOW));
    write(&store, |tx| tx.set_protected_key("age1second", NOW + 1));
    assert_eq!(read(&store, |tx| tx.protected_key()).as_deref(), Some("age1second"));
    let (a, b) = (person(&store, "zhang"), person(&store, "wang"));
    write(&store, |tx| tx.grant_protected(&a, b"wrapped-1", NOW));
    write(&store, |tx| tx.grant_protected(&a, b"wrapped-2", NOW));
    assert_eq!(read(&store, |tx| tx.protected_grant(&a)), Some(b"wrapped-2".to_vec()));
    assert_eq!(read(&store, |tx| tx.protected_grant(&b)), None);

    let narrow = inspector("d", &["330102001"], &["team-1"]).scope;
    write(&store, |tx| tx.remember_scope(b"fp-1", &narrow));
    write(&store, |tx| tx.remember_scope(b"fp-1", &everything("d").scope));
    assert_eq!(read(&store, |tx| tx.scope(b"fp-1")), Some(narrow), "a fingerprint names one scope");
    assert_eq!(read(&store, |tx| tx.scope(b"fp-2")), None);

    let checkpoint = |seq: u64, at_ms: i64| chain::Checkpoint {
        seq,
        link: vec![u8::try_from(seq).unwrap_or(0); 32],
        at_ms,
        server_id: id.clone(),
        public_key: vec![1; 32],
        signature: vec![2; 64],
    };
    write(&store, |tx| {
        tx.add_checkpoint(&checkpoint(5, NOW + 1))?;
        tx.add_checkpoint(&checkpoint(0, NOW))
    });
    assert_eq!(read(&store, |tx| tx.checkpoints()), [checkpoint(0, NOW), checkpoint(5, NOW + 1)], "in log order");

    for n in 0..5 {
        write(&store, |tx| {
            tx.audit(&AuditEntry {
                at_ms: NOW + n,
                user_id: Some("admin".into()),
                device_id: (n % 2 == 0).then(|| a.clone()),
                action: format!("action-{n}"),
                detail: serde_json::json!({ "n": n, "名": "值" }),
            })
        });
    }
    let log = read(&store, |tx| tx.audit_log(3));
    assert_eq!(log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["action-4", "action-3", "action-2"]);
    assert_eq!(log[0].detail, serde_json::json!({ "n": 4, "名": "值" }));
    assert_eq!((log[1].device_id.as_deref(), log[1].at_ms), (None, NOW + 3));
}

fn a_failed_transaction_leaves_nothing(store: Store) {
    let a = person(&store, "zhang");
    let failed = with_tx(&*store, true, |tx| -> Result<(), StorageError> {
        tx.add_user(&user("ghost", Role::Inspector))?;
        tx.put_doc(&doc(&key(1, Part::Record), &scope("fund_check", VILLAGE, ""), &a, b"x"), &[change("x", &a)], NOW)?;
        tx.bump_reference_version()?;
        Err(StorageError::Conflict("stop here".into()))
    });
    assert!(failed.is_err());
    assert!(read(&store, |tx| tx.user("ghost")).is_none());
    assert!(read(&store, |tx| tx.doc(&key(1, Part::Record))).is_none());
    assert_eq!(read(&store, |tx| tx.max_seq()), 0);
    assert_eq!(read(&store, |tx| tx.reference_version()), 0);
    // And the store goes on serving.
    write(&store, |tx| tx.add_user(&user("ghost", Role::Inspector)));
    assert!(read(&store, |tx| tx.user("ghost")).is_some());
}

fn closes_quietly_where_the_server_drops_it(store: Store) {
    // The server's state, the store with it, is dropped on a thread that drives async
    // tasks when it stops: closing must not block on a runtime there.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let held = Arc::clone(&store);
        tokio::task::spawn_blocking(move || person(&held, "zhang")).await.expect("a write");
        tokio::spawn(async move { drop(store) }).await.expect("dropped on a worker thread without a panic");
    });
}

// ---- the backends ----------------------------------------------------------------------

mod open {
    use super::Store;
    use std::sync::Arc;

    fn random_key() -> xuncha_server::at_rest::MasterKey {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source");
        xuncha_server::at_rest::MasterKey::from_bytes(bytes)
    }

    /// A new, empty database on the PostgreSQL server `XUNCHA_TEST_POSTGRES` names
    /// (`tools/postgres/with-cluster`, which `make test` runs the tests under, starts
    /// one), dropped when the guard goes.
    pub fn postgres() -> (xuncha_server::pg::ScratchDatabase, Store) {
        let database = xuncha_server::pg::ScratchDatabase::from_env().expect("a scratch database");
        let store = xuncha_server::PgStorage::open(&database.url, random_key()).expect("open PostgreSQL");
        (database, Arc::new(store))
    }

    /// A new SQLite store in a temporary directory (kept while the guard lives).
    pub fn sqlite() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = xuncha_server::SqliteStorage::open_with_key(dir.path(), &random_key()).expect("open");
        (dir, Arc::new(store))
    }

    /// A new SQLite store whose complete attachments go to a folder (`--attachments DIR`).
    pub fn sqlite_and_folder() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let blobs = xuncha_server::blobs::Blobs::open(dir.path().join("objects").to_str().expect("a UTF-8 path"))
            .expect("a folder store");
        let store = xuncha_server::SqliteStorage::open_with_key(dir.path(), &random_key())
            .expect("open")
            .with_attachments(Arc::new(blobs));
        (dir, Arc::new(store))
    }

    /// A new PostgreSQL database whose complete attachments go to the S3-compatible store
    /// `XUNCHA_TEST_S3` names (`tools/s3/with-store`, which `make test` runs the tests
    /// under, starts SeaweedFS on loopback).
    pub fn postgres_and_s3() -> (xuncha_server::pg::ScratchDatabase, Store) {
        let url = std::env::var("XUNCHA_TEST_S3").expect(
            "XUNCHA_TEST_S3 names no S3-compatible store: run the tests under tools/s3/with-store (make test does)",
        );
        let blobs = xuncha_server::blobs::Blobs::open(&url).expect("the S3 store");
        let database = xuncha_server::pg::ScratchDatabase::from_env().expect("a scratch database");
        let store = xuncha_server::PgStorage::open(&database.url, random_key())
            .expect("open PostgreSQL")
            .with_attachments(Arc::new(blobs));
        (database, Arc::new(store))
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        conformance!(@backend on_sqlite, sqlite: $($case),*);
        conformance!(@backend on_postgres, postgres: $($case),*);
        conformance!(@backend on_sqlite_and_a_folder, sqlite_and_folder: $($case),*);
        conformance!(@backend on_postgres_and_s3, postgres_and_s3: $($case),*);
    };
    (@backend $module:ident, $open:ident: $($case:ident),*) => {
        mod $module {
            $(
                #[test]
                fn $case() {
                    let (_guard, store) = super::open::$open();
                    super::$case(store);
                }
            )*
        }
    };
}

conformance!(
    users_and_their_state,
    enrollment_codes_are_used_once,
    an_enrollment_code_redeemed_at_once_works_once,
    devices_tokens_and_keys,
    documents_and_the_change_log,
    who_reads_what,
    districts_read_their_own_and_a_moved_record_takes_its_log,
    the_walk_pages_in_key_order,
    the_log_is_a_hash_chain,
    concurrent_writers_lose_nothing,
    record_numbers_count_per_round_and_team,
    attachments_upload_resumably,
    attachments_are_read_through_their_records,
    reference_data,
    peers_and_their_receipts,
    identity_keys_scopes_and_audit,
    a_failed_transaction_leaves_nothing,
    closes_quietly_where_the_server_drops_it,
);
