//! Writes the sample device database of this release (document layout 2 since the 巡察
//! workflow; `fixtures/v1` was written by the release before it) that
//! `tests/samples.rs` opens in every later release:
//! `cargo run -p xuncha-store --example write_sample -- crates/xuncha-store/tests/fixtures/vN`.

use std::path::PathBuf;

use xuncha_domain::*;
use xuncha_store::*;

const PIN: &str = "246810";

fn ctx_for(actor: u8, user: &str, now_ms: i64) -> EditContext {
    EditContext {
        author: UserId::new(user).unwrap(),
        device: DeviceId::new(format!("tablet-{actor}")).unwrap(),
        actor: ActorId::from([actor; 16]),
        now_ms,
    }
}

fn id(n: u8) -> RecordId {
    RecordId::new(1_709_514_000_000 + i64::from(n), &[n; 10])
}

fn item(n: u8) -> ItemId {
    ItemId::new(1_709_514_000_000, &[n; 10])
}

fn new(n: u8, kind: RecordKind, title: &str) -> NewRecord {
    NewRecord {
        id: id(n),
        kind,
        title: title.into(),
        round: "2024年第一轮".into(),
        township: Some(Division::new("330199101000", "东岭镇")),
        village: Some(Division::new("330199101001", "上坪村")),
        team: "第一巡察组".into(),
    }
}

fn money(field: Field, yuan: &str) -> Edit {
    Edit::Set { field, value: Some(Value::Money(yuan.parse().unwrap())) }
}

fn main() {
    let dir: PathBuf = std::env::args().nth(1).expect("usage: write_sample <folder>").into();
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["device.db", "device.db.key"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let identity = Identity {
        device_id: DeviceId::new("tablet-1").unwrap(),
        user_id: UserId::new("zhang.wei").unwrap(),
        user_name: "张伟".into(),
        actor: ActorId::from([1u8; 16]),
    };
    let mut store = Store::create(&dir.join("device.db"), PIN, &identity, KdfParams::FAST_INSECURE).unwrap();
    let t = 1_709_514_000_000;
    let fund = new(1, RecordKind::FundCheck, "上坪村危房改造资金检查");
    store
        .create_record(
            &fund,
            &[
                Edit::Set { field: Field::FundName, value: Some(Value::Text("2023年度危房改造补助".into())) },
                Edit::Set { field: Field::FundType, value: Some(Value::Choice("dilapidated_housing".into())) },
                money(Field::Allocated, "60000"),
                Edit::InsertItem {
                    list: ItemList::Beneficiaries,
                    id: item(1),
                    values: vec![
                        (ItemField::Head, Value::Text("王大福".into())),
                        (ItemField::Entitled, Value::Money(Yuan::from_yuan(30_000))),
                        (ItemField::Received, Value::Money(Yuan::from_yuan(24_000))),
                        (ItemField::Verified, Value::Flag(true)),
                    ],
                },
                Edit::SetIssue { issue: FundIssue::WithheldShared, present: true },
                Edit::Narrative { text: "入户核实发现补贴被截留六千元。".into() },
            ],
            t,
        )
        .unwrap();
    // A concurrent edit of the allocated amount on another tablet, merged in: a conflict.
    let mut other = store.record(fund.id).unwrap().fork(ActorId::from([2u8; 16]));
    other.apply(&[money(Field::Allocated, "62000")], &ctx_for(2, "li.na", t + 2_000)).unwrap();
    store.edit(fund.id, &[money(Field::Disbursed, "54000"), money(Field::Allocated, "61000")], t + 1_000).unwrap();
    store.merge_record(fund.id, &other.save()).unwrap();
    let photo = store.put_attachment(b"\xff\xd8\xff\xe0 sample receipt", "image/jpeg", t + 3_000).unwrap();
    store
        .edit(
            fund.id,
            &[Edit::AddAttachment {
                attachment: AttachmentRef {
                    sha256: photo.sha256,
                    mime: "image/jpeg".into(),
                    size: photo.size,
                    caption: "收据".into(),
                    taken_at_ms: Some(t + 3_000),
                    gps: Some(GeoPoint { lat: 28.7, lon: 115.9, accuracy_m: Some(5.0) }),
                },
            }],
            t + 3_000,
        )
        .unwrap();

    let clue = new(2, RecordKind::GangClue, "上坪村某某强揽工程线索");
    store
        .create_record(
            &clue,
            &[
                Edit::Set { field: Field::ClueSource, value: Some(Value::Choice("patrol".into())) },
                Edit::InsertItem {
                    list: ItemList::Subjects,
                    id: item(2),
                    values: vec![
                        (ItemField::Name, Value::Text("赵某".into())),
                        (ItemField::PartyMember, Value::Flag(true)),
                    ],
                },
            ],
            t + 4_000,
        )
        .unwrap();
    store.set_informant(clue.id, &[(InformantField::Name, Some("欧阳振华"))], t + 5_000).unwrap();

    let asset = new(3, RecordKind::AssetCheck, "上坪村三资核查");
    store
        .create_record(
            &asset,
            &[
                Edit::Set { field: Field::LandRecovered, value: Some(Value::Area("12.5".parse().unwrap())) },
                Edit::InsertItem {
                    list: ItemList::Contracts,
                    id: item(3),
                    values: vec![
                        (ItemField::Number, Value::Text("001-2015-001".into())),
                        (ItemField::Counterparty, Value::Text("绿源合作社".into())),
                        (ItemField::TermStart, Value::Date("2015-01-01".into())),
                        (ItemField::TermEnd, Value::Date("2035-12-31".into())),
                        (ItemField::Status, Value::Choice("rectified".into())),
                    ],
                },
            ],
            t + 6_000,
        )
        .unwrap();

    let conduct = new(4, RecordKind::ConductIssue, "村会计工作日午间饮酒");
    store
        .create_record(
            &conduct,
            &[
                Edit::Set { field: Field::Subject, value: Some(Value::Text("钱某".into())) },
                Edit::Set { field: Field::FourWinds, value: Some(Value::Choice("hedonism".into())) },
                Edit::Transition {
                    to: ReviewStatus::Submitted,
                    capacity: Capacity::Handler,
                    note: String::new(),
                    conclusion: None,
                    handover: None,
                },
                Edit::Transition {
                    to: ReviewStatus::DeputyReviewed,
                    capacity: Capacity::Deputy,
                    note: "同意".into(),
                    conclusion: None,
                    handover: None,
                },
                Edit::Transition {
                    to: ReviewStatus::LeadSigned,
                    capacity: Capacity::Lead,
                    note: "同意".into(),
                    conclusion: None,
                    handover: None,
                },
                Edit::Transition {
                    to: ReviewStatus::OfficeApproved,
                    capacity: Capacity::Office,
                    note: "属实".into(),
                    conclusion: Some(Conclusion::Confirmed),
                    handover: None,
                },
            ],
            t + 7_000,
        )
        .unwrap();
    drop(store);
    // Leave no WAL beside the sample: checkpoint by opening and closing cleanly.
    drop(Store::open(&dir.join("device.db"), PIN).unwrap());
}
