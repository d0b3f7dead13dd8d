//! Scenarios of the record model: merging, conflicts, history, review, validation.

use xuncha_domain::*;

fn ctx(user: &str, actor: u8, now_ms: i64) -> EditContext {
    EditContext {
        author: UserId::new(user).unwrap(),
        device: DeviceId::new(format!("device-{actor}")).unwrap(),
        actor: ActorId::from([actor; 16]),
        now_ms,
    }
}

fn fund_check() -> RecordDoc {
    let new = NewRecord {
        id: RecordId::new(1_700_000_000_000, &[1; 10]),
        kind: RecordKind::FundCheck,
        title: "2024年到户补贴发放检查".into(),
        round: "2024年第一轮".into(),
        township: Some(Division::new("110105001000", "建外街道")),
        village: Some(Division::new("110105001001", "光华村")),
        team: "第一巡察组".into(),
    };
    RecordDoc::create(&new, &ctx("zhang", 1, 1_700_000_000_000)).unwrap()
}

fn set(field: Field, text: &str) -> Edit {
    Edit::Set { field, value: Some(field.parse_value(text).unwrap()) }
}

#[test]
fn concurrent_amounts_conflict_and_a_later_edit_settles_them() {
    let mut a = fund_check();
    let mut b = a.fork(ActorId::from([2; 16]));
    a.apply(&[set(Field::Allocated, "120000")], &ctx("zhang", 1, 1_700_000_001_000)).unwrap();
    b.apply(&[set(Field::Allocated, "125000.50")], &ctx("li", 2, 1_700_000_002_000)).unwrap();
    b.apply(&[set(Field::FundName, "到户产业补贴")], &ctx("li", 2, 1_700_000_003_000)).unwrap();
    a.merge(&mut b).unwrap();
    let conflicts = a.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let conflict = &conflicts[0];
    assert_eq!(conflict.path, FieldPath::Field { field: Field::Allocated });
    let mut seen: Vec<(String, Option<String>)> =
        conflict.values.iter().map(|v| (v.display.clone(), v.author.clone())).collect();
    seen.sort();
    assert_eq!(seen, vec![("120000.00".into(), Some("zhang".into())), ("125000.50".into(), Some("li".into()))]);
    assert_eq!(conflict.values.iter().filter(|v| v.shown).count(), 1);
    assert!(a.projection().has_conflicts);
    // The other field merged cleanly.
    assert_eq!(a.read().text(Field::FundName), Some("到户产业补贴"));

    a.apply(&[set(Field::Allocated, "125000.50")], &ctx("wang", 3, 1_700_000_004_000)).unwrap();
    assert!(a.conflicts().is_empty());
    assert_eq!(a.read().money(Field::Allocated), Some(Yuan::from_fen(12_500_050)));
}

#[test]
fn households_added_offline_on_two_tablets_are_all_kept() {
    let mut a = fund_check();
    let mut b = a.fork(ActorId::from([2; 16]));
    let add = |id: u8, head: &str| Edit::InsertItem {
        list: ItemList::Beneficiaries,
        id: ItemId::new(1_700_000_000_000, &[id; 10]),
        values: vec![
            (ItemField::Head, Value::Text(head.into())),
            (ItemField::Entitled, Value::Money(Yuan::from_yuan(3000))),
        ],
    };
    a.apply(&[add(1, "王大福"), add(2, "李桂兰")], &ctx("zhang", 1, 1)).unwrap();
    b.apply(&[add(3, "赵春生")], &ctx("li", 2, 2)).unwrap();
    a.merge(&mut b).unwrap();
    b.merge(&mut a).unwrap();
    let heads: Vec<String> =
        a.read().items(ItemList::Beneficiaries).iter().map(|i| i.text(ItemField::Head).unwrap().to_owned()).collect();
    assert_eq!(heads.len(), 3);
    assert_eq!(a.read(), b.read());
}

#[test]
fn narrative_merges_character_by_character() {
    let mut a = fund_check();
    a.apply(&[Edit::Narrative { text: "村委会发放补贴。".into() }], &ctx("zhang", 1, 1)).unwrap();
    let mut b = a.fork(ActorId::from([2; 16]));
    a.apply(&[Edit::Narrative { text: "经查，村委会发放补贴。".into() }], &ctx("zhang", 1, 2)).unwrap();
    b.apply(&[Edit::Narrative { text: "村委会发放补贴，存在截留。".into() }], &ctx("li", 2, 3)).unwrap();
    a.merge(&mut b).unwrap();
    assert_eq!(a.read().narrative, "经查，村委会发放补贴，存在截留。");
}

#[test]
fn history_names_author_device_and_fields() {
    let mut a = fund_check();
    a.apply(&[set(Field::Disbursed, "100")], &ctx("zhang", 1, 10_000)).unwrap();
    a.apply(&[set(Field::Disbursed, "90")], &ctx("li", 1, 20_000)).unwrap();
    let history = a.history();
    assert_eq!(history.len(), 3);
    assert_eq!(history[1].paths, vec!["disbursed".to_owned()]);
    assert_eq!(history[2].author.as_deref(), Some("li"));
    assert_eq!(history[2].device.as_deref(), Some("device-1"));
    let versions = a.field_history(&FieldPath::Field { field: Field::Disbursed });
    let values: Vec<_> = versions.iter().map(|v| v.value.clone().unwrap()).collect();
    assert_eq!(values, vec!["100.00", "90.00"]);
}

#[test]
fn submitting_needs_a_clean_record_and_a_decision_is_voided_by_a_later_edit() {
    let mut a = fund_check();
    let err = a.apply(&[Edit::SetReviewStatus { status: ReviewStatus::Submitted }], &ctx("zhang", 1, 1)).unwrap_err();
    assert!(matches!(err, DomainError::NotReadyForReview { .. }), "{err}");
    // The failed batch left nothing behind.
    assert_eq!(a.read().review.status, ReviewStatus::Draft);
    a.apply(
        &[set(Field::FundName, "危房改造补助"), set(Field::FundType, "危房改造"), set(Field::Allocated, "50000")],
        &ctx("zhang", 1, 2),
    )
    .unwrap();
    a.apply(&[Edit::SetReviewStatus { status: ReviewStatus::Submitted }], &ctx("zhang", 1, 3)).unwrap();
    a.apply(&[Edit::Decide { status: ReviewStatus::Verified, note: "属实".into() }], &ctx("sup", 9, 4)).unwrap();
    let review = a.read().review;
    assert_eq!(review.status, ReviewStatus::Verified);
    assert!(!review.decision.as_ref().unwrap().void);
    a.apply(&[Edit::AddComment { id: ItemId::new(5, &[5; 10]), text: "已阅".into() }], &ctx("sup", 9, 5)).unwrap();
    assert!(!a.read().review.decision.unwrap().void, "a comment does not void the decision");
    a.apply(&[set(Field::Disbursed, "10")], &ctx("zhang", 1, 6)).unwrap();
    assert!(a.read().review.decision.unwrap().void, "an edit of the record voids the decision");
}

#[test]
fn validation_reports_what_to_fix_in_both_languages() {
    let mut a = fund_check();
    let item = ItemId::new(1, &[7; 10]);
    a.apply(
        &[
            set(Field::Allocated, "100"),
            set(Field::Disbursed, "150"),
            Edit::InsertItem {
                list: ItemList::Beneficiaries,
                id: item,
                values: vec![
                    (ItemField::Entitled, Value::Money(Yuan::from_yuan(10))),
                    (ItemField::Received, Value::Money(Yuan::from_yuan(12))),
                ],
            },
            Edit::Set { field: Field::Village, value: Some(Value::Division(Division::new("110106001001", "外村"))) },
        ],
        &ctx("zhang", 1, 1),
    )
    .unwrap();
    let codes: Vec<&str> = validate(&a.read()).iter().map(|p| p.code).collect();
    for want in ["required", "disbursed_above_allocated", "received_above_entitled", "village_outside_township"] {
        assert!(codes.contains(&want), "{want} missing from {codes:?}");
    }
    assert!(validate(&a.read()).iter().all(|p| !p.zh.is_empty() && !p.en.is_empty()));
}

#[test]
fn bad_edits_are_refused_and_change_nothing() {
    let mut a = fund_check();
    let heads = a.heads();
    let cases = vec![
        Edit::Set { field: Field::ClueSource, value: Some(Value::Choice("petition".into())) },
        Edit::Set { field: Field::FundType, value: Some(Value::Choice("lottery".into())) },
        Edit::Set { field: Field::Allocated, value: Some(Value::Text("lots".into())) },
        Edit::UpdateItem { id: ItemId::new(1, &[1; 10]), field: ItemField::Head, value: None },
        Edit::SetReviewStatus { status: ReviewStatus::Closed },
    ];
    for edit in cases {
        let result = a.apply(&[set(Field::Title, "changed"), edit.clone()], &ctx("zhang", 1, 1));
        assert!(result.is_err(), "{edit:?} was accepted");
        assert_eq!(a.heads(), heads);
        assert_eq!(a.read().text(Field::Title), Some("2024年到户补贴发放检查"));
    }
    assert!("12.345".parse::<Yuan>().is_err());
    assert!(RecordKind::parse("lottery").is_none());
}

#[test]
fn saved_documents_load_back_identically() {
    let mut a = fund_check();
    a.apply(&[set(Field::Allocated, "1"), Edit::AddTag { tag: "重点".into() }], &ctx("zhang", 1, 1)).unwrap();
    let mut loaded = RecordDoc::load(&a.save()).unwrap();
    assert_eq!(loaded.read(), a.read());
    assert!(RecordDoc::load(b"not automerge").is_err());
    let bytes = a.save();
    assert!(RecordDoc::load(&bytes[..bytes.len() / 2]).is_err());
}

#[test]
fn a_decision_made_with_other_edits_covers_them() {
    let mut a = fund_check();
    a.apply(
        &[
            set(Field::FundName, "教育资助"),
            set(Field::FundType, "education_aid"),
            set(Field::Allocated, "3000"),
            Edit::SetReviewStatus { status: ReviewStatus::Submitted },
            Edit::Decide { status: ReviewStatus::NeedsMore, note: "补充收据".into() },
        ],
        &ctx("sup", 9, 1),
    )
    .unwrap();
    assert!(!a.read().review.decision.unwrap().void);
    let mut b = a.fork(ActorId::from([2; 16]));
    b.apply(&[set(Field::Disbursed, "3000")], &ctx("zhang", 2, 2)).unwrap();
    a.merge(&mut b).unwrap();
    assert!(a.read().review.decision.unwrap().void, "a concurrent edit merged later voids it");
}

#[test]
fn submitting_a_decided_record_with_other_edits_is_one_authored_change() {
    let mut a = fund_check();
    a.apply(
        &[set(Field::FundName, "教育资助"), set(Field::FundType, "education_aid"), set(Field::Allocated, "3000")],
        &ctx("zhang", 1, 1_000),
    )
    .unwrap();
    a.apply(&[Edit::SetReviewStatus { status: ReviewStatus::Submitted }], &ctx("zhang", 1, 2_000)).unwrap();
    a.apply(&[Edit::Decide { status: ReviewStatus::NeedsMore, note: "补充".into() }], &ctx("sup", 9, 3_000)).unwrap();
    let changes = a.history().len();
    // A refused batch on a decided record leaves nothing behind.
    let refused = a.apply(
        &[
            set(Field::Title, "改"),
            Edit::Set { field: Field::FundName, value: None },
            Edit::SetReviewStatus { status: ReviewStatus::Submitted },
        ],
        &ctx("zhang", 1, 4_000),
    );
    assert!(refused.is_err());
    assert_eq!(a.history().len(), changes);
    // An accepted batch is exactly one change, with its author.
    a.apply(
        &[set(Field::Title, "改"), Edit::SetReviewStatus { status: ReviewStatus::Submitted }],
        &ctx("zhang", 1, 5_000),
    )
    .unwrap();
    let history = a.history();
    assert_eq!(history.len(), changes + 1);
    assert!(history.iter().all(|h| h.author.is_some() && h.at_ms.unwrap_or(0) > 0), "{history:?}");
}

#[test]
fn merged_changes_may_not_change_a_records_identity() {
    let mut a = fund_check();
    // Another record's creation change merged in: refused.
    let mut other = RecordDoc::create(
        &NewRecord {
            id: RecordId::new(1, &[2; 10]),
            kind: RecordKind::GangClue,
            title: String::new(),
            round: String::new(),
            township: None,
            village: None,
            team: String::new(),
        },
        &ctx("li", 2, 1),
    )
    .unwrap();
    let bytes = other.save();
    let mut copy = RecordDoc::load(&a.save()).unwrap();
    assert!(copy.load_changes(&bytes).is_err());
    assert!(a.merge(&mut other).is_err());
    // Duplicate changes count as nothing new.
    let mut b = fund_check();
    let again = b.save();
    assert_eq!(b.load_changes(&again).unwrap(), 0);
}
