//! Devices meet at the office: three tablets edit the same fund check offline and sync in
//! every order; scope, actor and protected-field rules hold; revoked devices are refused.

use xuncha_domain::*;
use xuncha_protocol::Role;
use xuncha_tests::{Device, District, EAST, WEST, new_record};

fn set(field: Field, text: &str) -> Edit {
    Edit::Set { field, value: Some(field.parse_value(text).unwrap()) }
}

fn household(seed: u8, head: &str) -> Edit {
    Edit::InsertItem {
        list: ItemList::Beneficiaries,
        id: ItemId::new(1_700_000_000_000, &[seed; 10]),
        values: vec![
            (ItemField::Head, Value::Text(head.into())),
            (ItemField::Entitled, Value::Money(Yuan::from_yuan(3_000))),
        ],
    }
}

fn narrative(device: &Device, id: RecordId, edit: impl Fn(&str) -> String) -> Edit {
    let current = device.store.record(id).unwrap().read().narrative;
    Edit::Narrative { text: edit(&current) }
}

/// One run: the three devices edit offline, then sync in `order`.
fn three_devices_converge(order: [usize; 3]) {
    let district = District::start();
    let mut devices = [
        district.device("zhang", Role::Inspector, EAST.0),
        district.device("wang", Role::TeamLead, EAST.0),
        district.device("zhao", Role::Inspector, EAST.0),
    ];
    let mut supervisor = district.device("li", Role::Supervisor, "district");
    let new = new_record(RecordKind::FundCheck, "上坪村危房改造资金检查", EAST, 1);
    let id = devices[0].create(&new, &[Edit::Narrative { text: "入户核查。".into() }]);
    for device in devices.iter_mut() {
        district.sync(device).unwrap();
    }

    // Offline in the village.
    let edits_a = vec![
        set(Field::FundName, "2023年度危房改造补助"),
        set(Field::Allocated, "120000"),
        household(1, "王大福"),
        narrative(&devices[0], id, |t| format!("张：{t}")),
    ];
    let edits_b = vec![
        set(Field::Disbursed, "90000"),
        set(Field::Allocated, "125000.50"),
        household(2, "李桂兰"),
        narrative(&devices[1], id, |t| format!("{t}王：发现截留。")),
    ];
    let edits_c = vec![
        set(Field::FundType, "危房改造"),
        household(3, "赵春生"),
        narrative(&devices[2], id, |t| t.replace("入户核查", "入户核查三户")),
    ];
    devices[0].edit(id, &edits_a);
    devices[1].edit(id, &edits_b);
    devices[2].edit(id, &edits_c);

    // Back at the office, in the given order, twice round so everyone hears everyone.
    for _ in 0..2 {
        for &i in &order {
            let report = district.sync(&mut devices[i]).unwrap();
            assert!(report.refused.is_empty(), "{:?}", report.refused);
            assert!(report.progress.round_trips <= 2, "{:?}", report.progress);
        }
    }
    district.sync(&mut supervisor).unwrap();

    let mut server = district.server_record(id).unwrap();
    let expected = server.read();
    for device in devices.iter().chain(std::iter::once(&supervisor)) {
        assert_eq!(device.store.record(id).unwrap().read(), expected, "{} differs from the server", device.name);
    }
    let heads: Vec<&str> =
        expected.items(ItemList::Beneficiaries).iter().filter_map(|i| i.text(ItemField::Head)).collect();
    for head in ["王大福", "李桂兰", "赵春生"] {
        assert!(heads.contains(&head), "{head} lost: {heads:?}");
    }
    for piece in ["张：", "王：发现截留。", "入户核查三户"] {
        assert!(expected.narrative.contains(piece), "{piece} lost from {:?}", expected.narrative);
    }
    assert_eq!(expected.text(Field::FundName), Some("2023年度危房改造补助"));
    assert_eq!(expected.money(Field::Disbursed), Some(Yuan::from_yuan(90_000)));
    let conflicts = supervisor.store.record(id).unwrap().conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].path, FieldPath::Field { field: Field::Allocated });
    let mut values: Vec<(String, String)> =
        conflicts[0].values.iter().map(|v| (v.display.clone(), v.author.clone().unwrap_or_default())).collect();
    values.sort();
    assert_eq!(values, vec![("120000.00".into(), "zhang".into()), ("125000.50".into(), "wang".into())]);
    assert_eq!(server.conflicts().len(), 1);
    // Nothing left to send anywhere, and another sync changes nothing.
    for device in devices.iter_mut() {
        assert_eq!(device.store.outbox_status().unwrap(), (0, 0));
        let report = district.sync(device).unwrap();
        assert_eq!((report.progress.round_trips, report.progress.documents_down), (1, 0));
    }
}

#[test]
fn three_devices_editing_offline_converge_in_every_sync_order() {
    for order in [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
        three_devices_converge(order);
    }
}

#[test]
fn scope_actor_and_protected_field_rules_hold() {
    let district = District::start();
    let mut east = district.device("zhang", Role::Inspector, EAST.0);
    let mut east_colleague = district.device("zhao", Role::Inspector, EAST.0);
    let mut west = district.device("chen", Role::Inspector, WEST.0);
    let mut supervisor = district.device("li", Role::Supervisor, "district");

    // A clue in the east with a protected informant.
    let clue = east.create(&new_record(RecordKind::GangClue, "强揽工程线索", EAST, 2), &[]);
    east.store.set_informant(clue, &[(InformantField::Name, Some("欧阳振华"))], 1).unwrap();
    // A record in the west.
    let western = west.create(&new_record(RecordKind::AssetCheck, "西溪乡三资核查", WEST, 3), &[]);
    for device in [&mut east, &mut west, &mut east_colleague, &mut supervisor] {
        let report = district.sync(device).unwrap();
        assert!(report.refused.is_empty(), "{:?}", report.refused);
    }
    assert!(district.server_has_protected(clue));

    // Townships see only their own records; the supervisor sees all.
    assert!(east_colleague.store.has_record(clue).unwrap());
    assert!(!east_colleague.store.has_record(western).unwrap(), "an east device received a west record");
    assert!(!west.store.has_record(clue).unwrap(), "a west device received an east record");
    assert!(supervisor.store.has_record(clue).unwrap() && supervisor.store.has_record(western).unwrap());
    // The informant reaches the supervisor, never another inspector.
    assert_eq!(supervisor.store.informant(clue).unwrap().unwrap().name, "欧阳振华");
    assert!(east_colleague.store.informant(clue).unwrap().is_none(), "an inspector received the informant");

    // A west device may not write an east record: a record it forges into the east
    // township is refused whole, and nothing of it is stored.
    let forged = west.create(&new_record(RecordKind::ConductIssue, "越权记录", EAST, 4), &[]);
    let report = district.sync(&mut west).unwrap();
    assert_eq!(report.refused.len(), 1, "{:?}", report.refused);
    assert_eq!(report.refused[0].1, "out_of_scope");
    assert!(district.server_record(forged).is_none());
    assert_eq!(west.store.outbox_status().unwrap(), (0, 1));

    // A device uploading a change made by another device's actor is refused whole.
    let mut doc = east.store.record(clue).unwrap();
    let mut foreign = doc.fork(ActorId::from([99u8; 16]));
    let ctx = EditContext {
        author: UserId::new("zhang").unwrap(),
        device: DeviceId::new("stolen").unwrap(),
        actor: ActorId::from([99u8; 16]),
        now_ms: 5,
    };
    foreign.apply(&[set(Field::Title, "篡改")], &ctx).unwrap();
    east.store.merge_record(clue, &foreign.save()).unwrap();
    east.edit(clue, &[set(Field::ClueSource, "巡察")]);
    let report = district.sync(&mut east).unwrap();
    assert_eq!(report.refused.len(), 1, "{:?}", report.refused);
    assert_eq!(report.refused[0].1, "foreign_actor");
    let server = district.server_record(clue).unwrap().read();
    assert_eq!(server.text(Field::Title), Some("强揽工程线索"), "a foreign change was stored");
    assert_eq!(server.text(Field::ClueSource), None, "part of a refused upload was stored");

    // A colleague may add to the informant (sealed to the district and to their own
    // device); the writer then cannot read the colleague's value, the supervisor can.
    east_colleague.store.set_informant(clue, &[(InformantField::Contact, Some("13800000000"))], 7).unwrap();
    let report = district.sync(&mut east_colleague).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    district.sync(&mut supervisor).unwrap();
    let read = supervisor.store.informant(clue).unwrap().unwrap();
    assert_eq!((read.name.as_str(), read.contact.as_str()), ("欧阳振华", "13800000000"));
    district.sync(&mut east).unwrap();
    let own = east.store.informant(clue).unwrap().unwrap();
    assert_eq!((own.name.as_str(), own.sealed.as_slice()), ("欧阳振华", [InformantField::Contact].as_slice()));
    // A west inspector may not write an east clue's informant.
    let west_informant = west.store.set_informant(clue, &[(InformantField::Name, Some("冒名者"))], 8);
    assert!(west_informant.is_err(), "a west device holds the east clue");

    // A revoked device is told to wipe.
    xuncha_server::admin::revoke(district.storage.as_ref(), &east_colleague.store.identity().device_id.to_string(), 9)
        .unwrap();
    let error = district.sync(&mut east_colleague).unwrap_err();
    assert_eq!(error.code(), "revoked", "{error}");
}

#[test]
fn a_companion_refused_with_its_record_goes_up_once_the_record_is_fixed() {
    let district = District::start();
    let mut west = district.device("chen", Role::Inspector, WEST.0);
    let mut supervisor = district.device("li", Role::Supervisor, "district");
    // A clue put in the wrong township, with its informant: both refused.
    let clue = west.create(&new_record(RecordKind::GangClue, "线索", EAST, 5), &[]);
    west.store.set_informant(clue, &[(InformantField::Name, Some("欧阳振华"))], 1).unwrap();
    let report = district.sync(&mut west).unwrap();
    let mut codes: Vec<&str> = report.refused.iter().map(|r| r.1.as_str()).collect();
    codes.sort();
    assert_eq!(codes, vec!["out_of_scope", "unknown_record"], "{:?}", report.refused);
    // The inspector corrects the township: the record and then its informant go up.
    west.edit(
        clue,
        &[
            Edit::Set { field: Field::Township, value: Some(Value::Division(Division::new(WEST.0, WEST.1))) },
            Edit::Set {
                field: Field::Village, value: Some(Value::Division(Division::new("330199102001", "第一村")))
            },
        ],
    );
    let report = district.sync(&mut west).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(west.store.outbox_status().unwrap(), (0, 0));
    assert!(district.server_has_protected(clue));
    district.sync(&mut supervisor).unwrap();
    assert_eq!(supervisor.store.informant(clue).unwrap().unwrap().name, "欧阳振华");
}
