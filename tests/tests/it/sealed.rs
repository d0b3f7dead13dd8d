//! Informants the server cannot read. Each protected value is sealed on the device that
//! writes it, to the district's protected-data key and to that device's own key; the server
//! stores and relays ciphertext only, and `grep` of its data directory finds no informant
//! and no narrative. Supervisors' devices, granted the district key by the administrator,
//! read every informant; the inspector who wrote one reads it; another inspector's device
//! never receives it. A companion a supervisor starts goes to the supervisor, not to the
//! record's creator; a colleague may add to an informant and then reads only their own.

use std::path::Path;

use xuncha_domain::{Edit, InformantField, ProtectedDoc, RecordKind};
use xuncha_protocol::{DocKey, Part, Role};
use xuncha_server::protected_key;
use xuncha_server::storage::with_tx;
use xuncha_tests::{District, EAST, new_record};

const NAME: &str = "王秀兰";
const PHONE: &str = "13912345678";
const NOTE: &str = "怕报复，只在晚上联系";
const NARRATIVE: &str = "在村委会后院交接现金八万元";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The files under `dir` that `grep -r` finds `needle` in.
fn grep(dir: &Path, needle: &str) -> String {
    let out =
        std::process::Command::new("grep").args(["-r", "-l", "-a", "-F", "--", needle]).arg(dir).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "grep failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the server's snapshot of a record's protected companion holds, as stored.
fn stored_informant(district: &District, id: xuncha_domain::RecordId) -> Option<xuncha_domain::Informant> {
    let key = DocKey { record: id.uuid().as_bytes().to_vec(), part: Part::Protected };
    let doc = with_tx(district.storage.as_ref(), false, |tx| tx.doc(&key)).unwrap()?;
    Some(ProtectedDoc::load_parts(&doc.snapshot, []).unwrap().informant())
}

#[test]
fn informants_are_sealed_on_the_devices_and_read_only_by_their_writers_and_supervisors() {
    let district = District::start();
    let storage = district.storage.as_ref();
    let mut li = district.device("li", Role::Supervisor, "district");
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    let mut chen = district.device("chen", Role::Inspector, EAST.0);
    // The district key was made when the server was set up (the administrator keeps it
    // offline as a file) and granted to the supervisor's device when it enrolled; every
    // device learnt its public half at enrollment.
    let status = protected_key::status(storage).unwrap();
    let recipient = status.recipient.unwrap();
    assert_eq!(status.devices.iter().map(|d| (d.user_id.as_str(), d.state)).collect::<Vec<_>>(), [("li", "granted")]);
    assert_eq!(zhang.store.protected_keys().unwrap().0.as_deref(), Some(recipient.as_str()));
    for device in [&mut li, &mut zhang, &mut chen] {
        district.sync(device).unwrap();
    }
    assert!(li.store.protected_keys().unwrap().1.is_some(), "the supervisor's device holds the district key");
    assert!(zhang.store.protected_keys().unwrap().1.is_none());
    assert_eq!(zhang.store.protected_keys().unwrap().0.as_deref(), Some(recipient.as_str()));

    // The inspector records a gang clue and its informant.
    let id = zhang.create(
        &new_record(RecordKind::GangClue, "某村霸插手工程线索", EAST, 1),
        &[Edit::Narrative { text: NARRATIVE.into() }],
    );
    let fields = [
        (InformantField::Name, Some(NAME)),
        (InformantField::Contact, Some(PHONE)),
        (InformantField::Note, Some(NOTE)),
    ];
    zhang.store.set_informant(id, &fields, now()).unwrap();
    assert!(district.sync(&mut zhang).unwrap().refused.is_empty());
    let stored = stored_informant(&district, id).expect("the companion reached the server");
    for value in [&stored.name, &stored.contact, &stored.note] {
        assert!(value.starts_with("age:") && !value.contains(NAME), "stored in the clear: {value}");
    }

    // The supervisor reads it; the writer still does; a colleague never receives it.
    district.sync(&mut li).unwrap();
    district.sync(&mut chen).unwrap();
    let read = li.store.informant(id).unwrap().expect("the supervisor received the informant");
    assert_eq!((read.name.as_str(), read.contact.as_str(), read.note.as_str()), (NAME, PHONE, NOTE));
    assert!(read.sealed.is_empty());
    assert_eq!(zhang.store.informant(id).unwrap().unwrap().name, NAME);
    assert!(chen.store.record(id).is_ok(), "the colleague holds the record itself");
    assert_eq!(chen.store.informant(id).unwrap(), None, "the colleague's device received the informant");

    // Nothing of it can be found in the server's data directory, WAL included.
    let data = district.dir.path().join("server");
    for needle in [NAME, PHONE, NOTE, NARRATIVE] {
        assert_eq!(grep(&data, needle), "", "{needle} found on the server");
    }

    // The supervisor adds to the note: the writer receives the change but cannot read it.
    li.store.set_informant(id, &[(InformantField::Note, Some("已核实身份"))], now()).unwrap();
    assert!(district.sync(&mut li).unwrap().refused.is_empty());
    district.sync(&mut zhang).unwrap();
    let seen = zhang.store.informant(id).unwrap().unwrap();
    assert_eq!(seen.name, NAME);
    assert_eq!(seen.note, "");
    assert_eq!(seen.sealed, [InformantField::Note]);

    // A colleague may add a contact (written without having seen the informant, so it
    // meets the inspector's concurrently); the colleague then receives the companion and
    // reads none of what others sealed, and the supervisor reads whichever value stands.
    chen.store.set_informant(id, &[(InformantField::Contact, Some("13700000000"))], now()).unwrap();
    assert!(district.sync(&mut chen).unwrap().refused.is_empty(), "a colleague's informant edit was refused");
    district.sync(&mut chen).unwrap();
    let colleague = chen.store.informant(id).unwrap().unwrap();
    assert!(colleague.sealed.contains(&InformantField::Name) && colleague.name.is_empty(), "{colleague:?}");
    district.sync(&mut li).unwrap();
    let contact = li.store.informant(id).unwrap().unwrap().contact;
    assert!(contact == PHONE || contact == "13700000000", "{contact}");

    // Cleared, the name is gone from the server's snapshot; it was never there in the clear.
    zhang.store.set_informant(id, &[(InformantField::Name, None)], now()).unwrap();
    district.sync(&mut zhang).unwrap();
    assert_eq!(stored_informant(&district, id).unwrap().name, "");
    district.sync(&mut li).unwrap();
    assert_eq!(li.store.informant(id).unwrap().unwrap().name, "");
    for needle in [NAME, PHONE, NOTE, NARRATIVE, "已核实身份", "13700000000"] {
        assert_eq!(grep(&data, needle), "", "{needle} found on the server");
    }
}

#[test]
fn an_informant_a_supervisor_starts_goes_to_the_supervisor_not_to_the_records_creator() {
    let district = District::start();
    let storage = district.storage.as_ref();
    let mut li = district.device("li", Role::Supervisor, "district");
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    let secret = district.protected_secret.clone().unwrap();
    let recipient = protected_key::status(storage).unwrap().recipient.unwrap();
    let id = zhang.create(&new_record(RecordKind::GangClue, "线索", EAST, 2), &[]);
    district.sync(&mut zhang).unwrap();
    district.sync(&mut li).unwrap();
    li.store.set_informant(id, &[(InformantField::Name, Some(NAME))], now()).unwrap();
    assert!(district.sync(&mut li).unwrap().refused.is_empty());
    district.sync(&mut zhang).unwrap();
    assert_eq!(zhang.store.informant(id).unwrap(), None, "the creator's device received the supervisor's informant");
    assert_eq!(li.store.informant(id).unwrap().unwrap().name, NAME);
    // A key file that is not the district's is refused, and inspectors never get a grant.
    let (_, stranger) = protected_key::generate();
    assert!(protected_key::grant(storage, &stranger, &[], now()).unwrap_err().to_string().contains("not the district"));
    assert!(
        protected_key::grant(storage, &secret, &["zhang".to_owned()], now())
            .unwrap_err()
            .to_string()
            .contains("not a supervisor")
    );
    assert!(protected_key::init(storage, &recipient, now()).is_err(), "a second district key was made");
}
