//! A round on one server: two teams in two townships of one district, and a second district.
//! Each device receives exactly its team's records and reference data; a team's gang clue
//! never reaches another team; a supervisor of district 2 sees nothing of district 1; moving
//! a user to another team changes what their device holds at its next sync, keeping the
//! device's own unsynced work.

use xuncha_domain::*;
use xuncha_protocol::Role;
use xuncha_server::admin::{self, NewTeam};
use xuncha_tests::{Device, District};

const D1: &str = "330199000000";
const D2: &str = "330198000000";
const EAST: (&str, &str) = ("330199101000", "东岭镇");
const WEST: (&str, &str) = ("330199102000", "西溪乡");
const NORTH: (&str, &str) = ("330198101000", "北山镇");

fn now() -> i64 {
    1_717_000_000_000
}

fn divisions() -> Vec<DivisionEntry> {
    let d = |code: &str, name: &str, parent: &str| DivisionEntry {
        code: code.into(),
        name: name.into(),
        parent: parent.into(),
    };
    vec![
        d("330000000000", "浙江省", ""),
        d("330100000000", "杭州市", "330000000000"),
        d(D1, "演示区", "330100000000"),
        d(D2, "第二区", "330100000000"),
        d(EAST.0, EAST.1, D1),
        d("330199101001", "上坪村", EAST.0),
        d("330199101002", "下坪村", EAST.0),
        d(WEST.0, WEST.1, D1),
        d("330199102001", "溪口村", WEST.0),
        d(NORTH.0, NORTH.1, D2),
        d("330198101001", "山前村", NORTH.0),
    ]
}

fn record(kind: RecordKind, title: &str, township: (&str, &str), village: &str, seed: u8) -> NewRecord {
    NewRecord {
        id: RecordId::new(now() + i64::from(seed), &[seed; 10]),
        kind,
        title: title.into(),
        round: "2024年第一轮".into(),
        township: Some(Division::new(township.0, township.1)),
        village: Some(Division::new(village, "村")),
        team: String::new(),
    }
}

fn subject(name: &str, seed: u8) -> Edit {
    Edit::InsertItem {
        list: ItemList::Subjects,
        id: ItemId::new(now(), &[seed; 10]),
        values: vec![(ItemField::Name, Value::Text(name.into()))],
    }
}

/// The ids of the records a device lists.
fn held(device: &Device) -> Vec<RecordId> {
    let mut ids: Vec<RecordId> = device
        .store
        .list(&xuncha_store::ListFilter::page(500))
        .unwrap()
        .into_iter()
        .map(|r| r.record_id.parse().unwrap())
        .collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<RecordId>) -> Vec<RecordId> {
    ids.sort();
    ids
}

fn household(head: &str, id_number: &str, entitled: i64) -> RosterHousehold {
    RosterHousehold {
        head: head.into(),
        id_number: id_number.into(),
        account: "6217001234567890".into(),
        entitled: Yuan::from_yuan(entitled),
        paid_on: "2024-01-15".into(),
        group: "一组".into(),
        phone: "13800001234".into(),
    }
}

#[test]
fn each_device_holds_exactly_its_teams_records_and_reference_data() {
    let district = District::start();
    let storage = district.storage.as_ref();
    admin::import_divisions(storage, &divisions(), now()).unwrap();
    let mut ann = district.device("ann", Role::Inspector, D1);
    let mut lead1 = district.device("lead1", Role::TeamLead, D1);
    let mut bob = district.device("bob", Role::Inspector, D1);
    let mut lead2 = district.device("lead2", Role::TeamLead, D1);
    let mut boss1 = district.device("boss1", Role::Supervisor, D1);
    let mut boss2 = district.device("boss2", Role::Supervisor, D2);
    let mut carl = district.device("carl", Role::Inspector, D2);
    admin::add_round(storage, "2024年第一轮", "2024-03-01", "2024-05-31", &["东岭镇党委".into()], now()).unwrap();
    let team = |name: &str, lead: &str, member: &str, place: &str| NewTeam {
        name: name.into(),
        round: "2024年第一轮".into(),
        lead: lead.into(),
        members: vec![member.into()],
        places: vec![place.into()],
        ..NewTeam::default()
    };
    admin::add_team(storage, &team("第一巡察组", "lead1", "ann", EAST.0), now()).unwrap();
    admin::add_team(storage, &team("第二巡察组", "lead2", "bob", WEST.0), now()).unwrap();
    admin::import_roster(
        storage,
        "上坪村",
        "到户补贴",
        vec![household("王大福", "11010519491231002X", 3000), household("李桂兰", "110105195001010012", 2500)],
        now(),
    )
    .unwrap();
    admin::import_roster(storage, "溪口村", "低保", vec![household("赵春生", "110105195001010012", 1800)], now())
        .unwrap();

    // Each team records in its villages; carl works in the second district, in no team.
    let fund1 = ann.create(&record(RecordKind::FundCheck, "上坪村到户补贴", EAST, "330199101001", 1), &[]);
    let gang1 =
        ann.create(&record(RecordKind::GangClue, "下坪村涉黑线索", EAST, "330199101002", 2), &[subject("甲某", 2)]);
    let fund2 = bob.create(&record(RecordKind::FundCheck, "溪口村低保", WEST, "330199102001", 3), &[]);
    let gang2 =
        bob.create(&record(RecordKind::GangClue, "溪口村涉恶线索", WEST, "330199102001", 4), &[subject("乙某", 4)]);
    let north = carl.create(&record(RecordKind::ConductIssue, "山前村作风问题", NORTH, "330198101001", 5), &[]);
    for _ in 0..2 {
        for device in [&mut ann, &mut bob, &mut carl, &mut lead1, &mut lead2, &mut boss1, &mut boss2] {
            let report = district.sync(device).unwrap();
            assert!(report.refused.is_empty(), "{}: {:?}", device.name, report.refused);
        }
    }

    assert_eq!(held(&ann), sorted(vec![fund1, gang1]));
    assert_eq!(held(&lead1), sorted(vec![fund1, gang1]));
    assert_eq!(held(&bob), sorted(vec![fund2, gang2]));
    assert_eq!(held(&lead2), sorted(vec![fund2, gang2]));
    assert_eq!(held(&boss1), sorted(vec![fund1, gang1, fund2, gang2]));
    assert_eq!(held(&boss2), vec![north]);
    assert_eq!(held(&carl), vec![north]);
    // Not just hidden from lists: the gang clue's document never reached the other team.
    assert!(bob.store.record(gang1).is_err());
    assert!(lead2.store.record(gang1).is_err());
    assert!(boss2.store.record(fund1).is_err());

    // Reference data: each device receives its own places (with their ancestors), team,
    // round and rosters, the rosters masked; supervisors receive no rosters.
    let codes = |device: &Device| -> Vec<String> {
        device.store.reference().unwrap().divisions.into_iter().map(|d| d.code).collect()
    };
    assert_eq!(
        codes(&ann),
        ["330000000000", "330100000000", D1, EAST.0, "330199101001", "330199101002"].map(String::from)
    );
    assert_eq!(codes(&bob), ["330000000000", "330100000000", D1, WEST.0, "330199102001"].map(String::from));
    assert!(codes(&boss2).iter().all(|c| !c.starts_with("330199")), "{:?}", codes(&boss2));
    assert!(codes(&boss1).contains(&"330199102001".to_owned()));
    let ann_ref = ann.store.reference().unwrap();
    assert_eq!(ann_ref.teams.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["第一巡察组"]);
    assert_eq!(ann_ref.rounds.len(), 1);
    assert_eq!(ann_ref.rosters.len(), 1);
    let roster = &ann_ref.rosters[0];
    assert_eq!(roster.households[0].id_number, "**************002X");
    assert_eq!(roster.households[0].account, "************7890");
    assert_eq!(roster.households[0].entitled, Yuan::from_yuan(3000));
    assert_eq!(bob.store.reference().unwrap().rosters[0].fund, "低保");
    assert!(boss1.store.reference().unwrap().rosters.is_empty());
    // The user directory: a team member meets their team and the supervisors, by name.
    let people: Vec<String> = ann_ref.people.iter().map(|p| p.id.clone()).collect();
    assert_eq!(people, ["ann", "boss1", "boss2", "lead1"]);
    // And their devices, by the names they enrolled with: bob's is not among them.
    let devices: Vec<&str> = ann_ref.devices.iter().map(|d| d.user.as_str()).collect();
    assert!(devices.contains(&"ann") && !devices.contains(&"bob"), "{:?}", ann_ref.devices);
    assert!(ann_ref.devices.iter().all(|d| !d.name.trim().is_empty()), "{:?}", ann_ref.devices);
    assert_eq!(ann.store.devices().unwrap(), ann_ref.devices);
    assert_eq!(boss1.store.people().unwrap().len(), 7);
    assert_eq!(boss1.store.reference().unwrap().teams.len(), 2);
    assert!(boss2.store.reference().unwrap().teams.is_empty());

    // Writing outside the team's places is refused, whole.
    let stray = bob.create(&record(RecordKind::FundCheck, "越界记录", EAST, "330199101001", 6), &[]);
    let report = district.sync(&mut bob).unwrap();
    assert_eq!(report.refused.len(), 1, "{:?}", report.refused);
    assert_eq!(report.refused[0].1, xuncha_protocol::codes::OUT_OF_SCOPE);
    assert!(district.server_record(stray).is_none());

    // Ann moves to the second team. An edit of hers that has not reached the server stays
    // on her tablet; everything else of the first team leaves it, the second team's arrives.
    ann.edit(fund1, &[Edit::Narrative { text: "尚未同步的记录".into() }]);
    admin::move_member(storage, "ann", "2024年第一轮", "第二巡察组", now()).unwrap();
    let report = district.sync(&mut ann).unwrap();
    assert_eq!(report.dropped, 1, "{report:?}");
    assert_eq!(report.kept_out_of_scope, 1, "{report:?}");
    assert!(ann.store.record(gang1).is_err(), "the first team's gang clue is still on the tablet");
    assert_eq!(ann.store.record(fund1).unwrap().read().narrative, "尚未同步的记录");
    assert_eq!(held(&ann), sorted(vec![fund1, fund2, gang2]));
    assert_eq!(ann.store.reference().unwrap().teams[0].name, "第二巡察组");
    // Syncing again changes nothing more.
    let again = district.sync(&mut ann).unwrap();
    assert_eq!((again.dropped, again.progress.documents_down), (0, 0), "{again:?}");
    // The first team's lead still has everything of the first team.
    district.sync(&mut lead1).unwrap();
    assert_eq!(held(&lead1), sorted(vec![fund1, gang1]));
}

#[test]
fn a_user_in_no_team_keeps_the_jurisdiction_rule() {
    let district = District::start();
    let mut old = district.device("zhang", Role::Inspector, EAST.0);
    let mut other = district.device("wang", Role::Inspector, WEST.0);
    let mut boss = district.device("li", Role::Supervisor, "district");
    let east = old.create(&record(RecordKind::GangClue, "东岭镇线索", EAST, "330199101001", 1), &[subject("甲", 1)]);
    let west = other.create(&record(RecordKind::FundCheck, "西溪乡检查", WEST, "330199102001", 2), &[]);
    for device in [&mut old, &mut other, &mut boss] {
        district.sync(device).unwrap();
    }
    district.sync(&mut old).unwrap();
    assert_eq!(held(&old), vec![east]);
    assert_eq!(held(&boss), sorted(vec![east, west]));
    // Teams defined later in another township do not change what zhang reads.
    admin::add_round(district.storage.as_ref(), "第二轮", "2024-06-01", "2024-07-31", &[], now()).unwrap();
    let team = NewTeam {
        name: "第三巡察组".into(),
        round: "第二轮".into(),
        lead: "wang".into(),
        places: vec![WEST.0.into()],
        ..NewTeam::default()
    };
    admin::add_team(district.storage.as_ref(), &team, now()).unwrap();
    let report = district.sync(&mut old).unwrap();
    assert_eq!(report.dropped, 0);
    assert_eq!(held(&old), vec![east]);
}
