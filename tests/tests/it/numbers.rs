//! Record numbers (编号) are the server's: stable whatever order offline records arrive in,
//! never handed out twice, kept on the devices, and given only to those who may read them.

use xuncha_domain::*;
use xuncha_protocol::Role;
use xuncha_tests::{Device, District, EAST, WEST, new_record};

const ROUND: &str = "2024年第一轮";
const TEAM: &str = "第一巡察组";

fn number(device: &Device, id: RecordId) -> Option<String> {
    device.store.record_number(id).unwrap()
}

fn created_at(new: &NewRecord, at_ms: i64) -> NewRecord {
    NewRecord { id: RecordId::new(at_ms, &[at_ms as u8; 10]), ..new.clone() }
}

#[test]
fn numbers_are_the_servers_and_an_older_record_arriving_late_shifts_none() {
    let district = District::start();
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    let mut zhao = district.device("zhao", Role::Inspector, EAST.0);
    district.device("wang", Role::TeamLead, EAST.0);
    district.set_up_round("wang", &[], &["zhang", "zhao"]);
    let mut far = district.device("qian", Role::Inspector, WEST.0);
    let base = new_record(RecordKind::FundCheck, "危房改造资金检查", EAST, 1);

    // Offline in two villages: zhao's record is the older one, but zhang syncs first.
    let older = zhao.create(&created_at(&base, 1_709_514_000_000), &[]);
    let newer = zhang.create(&created_at(&base, 1_709_600_000_000), &[]);
    assert_eq!(number(&zhang, newer), None, "a device never numbers a record itself");
    district.sync(&mut zhang).unwrap();
    assert_eq!(number(&zhang, newer).as_deref(), Some(format!("{ROUND}-{TEAM}-001").as_str()));

    district.sync(&mut zhao).unwrap();
    assert_eq!(number(&zhao, older).as_deref(), Some(format!("{ROUND}-{TEAM}-002").as_str()));
    // zhao received zhang's record with its number; zhang receives zhao's, and keeps his own.
    assert_eq!(number(&zhao, newer).as_deref(), Some(format!("{ROUND}-{TEAM}-001").as_str()));
    district.sync(&mut zhang).unwrap();
    assert_eq!(number(&zhang, newer).as_deref(), Some(format!("{ROUND}-{TEAM}-001").as_str()));
    assert_eq!(number(&zhang, older).as_deref(), Some(format!("{ROUND}-{TEAM}-002").as_str()));

    // A draft without a round waits for one; editing a numbered record keeps its number.
    let unplaced = zhang.create(&NewRecord { round: String::new(), ..created_at(&base, 1_709_700_000_000) }, &[]);
    district.sync(&mut zhang).unwrap();
    assert_eq!(number(&zhang, unplaced), None);
    zhang.edit(unplaced, &[Edit::Set { field: Field::Round, value: Some(Value::Text(ROUND.into())) }]);
    zhang.edit(newer, &[Edit::Set { field: Field::Title, value: Some(Value::Text("改了标题".into())) }]);
    district.sync(&mut zhang).unwrap();
    assert_eq!(number(&zhang, unplaced).as_deref(), Some(format!("{ROUND}-{TEAM}-003").as_str()));
    assert_eq!(number(&zhang, newer).as_deref(), Some(format!("{ROUND}-{TEAM}-001").as_str()));

    // A device of another township neither receives the records nor learns their numbers,
    // even when it asks for them by id.
    district.sync(&mut far).unwrap();
    assert!(far.store.record_numbers().unwrap().is_empty());
    let storage = district.storage.as_ref();
    let who = xuncha_server::storage::Visibility {
        device_id: "local-4".into(),
        scope: ReadScope {
            places: vec![WEST.0[..9].to_owned()],
            all_gang_clues: true,
            gang_teams: vec![],
            all_protected: false,
            rosters: true,
        },
    };
    let asked: Vec<Vec<u8>> = [older, newer].iter().map(|id| id.uuid().as_bytes().to_vec()).collect();
    let told = xuncha_server::storage::with_tx(storage, false, |tx| tx.record_numbers(&asked, &who)).unwrap();
    assert!(told.is_empty(), "{told:?}");

    // A device that lost its numbers (or held its records before numbers) asks and gets them.
    let mut boss = district.device("li", Role::Supervisor, "district");
    district.sync(&mut boss).unwrap();
    let all = boss.store.record_numbers().unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    let distinct: std::collections::BTreeSet<&String> = all.values().collect();
    assert_eq!(distinct.len(), 3, "one number twice: {all:?}");
}
