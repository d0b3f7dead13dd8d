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

/// A workflow step in `capacity`, with a note.
fn step(to: ReviewStatus, capacity: Capacity, note: &str) -> Edit {
    Edit::Transition { to, capacity, note: note.into(), conclusion: None, handover: None }
}

fn submit() -> Edit {
    step(ReviewStatus::Submitted, Capacity::Handler, "")
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
fn submitting_needs_a_clean_record_and_a_step_is_voided_by_a_later_edit() {
    let mut a = fund_check();
    let heads = a.heads();
    let err = a.apply(&[submit()], &ctx("zhang", 1, 1)).unwrap_err();
    assert!(matches!(err, DomainError::NotReadyForReview { .. }), "{err}");
    // The failed batch left nothing behind.
    assert_eq!(a.read().review.status, ReviewStatus::Draft);
    assert_eq!(a.heads(), heads);
    a.apply(
        &[set(Field::FundName, "危房改造补助"), set(Field::FundType, "危房改造"), set(Field::Allocated, "50000")],
        &ctx("zhang", 1, 2),
    )
    .unwrap();
    a.apply(&[submit()], &ctx("zhang", 1, 3)).unwrap();
    a.apply(&[step(ReviewStatus::DeputyReviewed, Capacity::Deputy, "")], &ctx("zhao", 2, 4)).unwrap();
    a.apply(&[step(ReviewStatus::LeadSigned, Capacity::Lead, "")], &ctx("wang", 3, 5)).unwrap();
    let approve = Edit::Transition {
        to: ReviewStatus::OfficeApproved,
        capacity: Capacity::Office,
        note: "属实".into(),
        conclusion: Some(Conclusion::Confirmed),
        handover: None,
    };
    a.apply(&[approve], &ctx("sup", 9, 6)).unwrap();
    let review = a.read().review;
    assert_eq!(review.status, ReviewStatus::OfficeApproved);
    assert_eq!(review.conclusion, Some(Conclusion::Confirmed));
    let taken: Vec<_> = review.steps.iter().map(|s| (s.to, s.by.as_str(), s.capacity, s.void)).collect();
    assert_eq!(
        taken,
        vec![
            (ReviewStatus::Submitted, "zhang", Capacity::Handler, false),
            (ReviewStatus::DeputyReviewed, "zhao", Capacity::Deputy, false),
            (ReviewStatus::LeadSigned, "wang", Capacity::Lead, false),
            (ReviewStatus::OfficeApproved, "sup", Capacity::Office, false),
        ]
    );
    assert_eq!(review.last_step().map(|s| (s.by.as_str(), s.note.as_str())), Some(("sup", "属实")));
    a.apply(&[Edit::AddComment { id: ItemId::new(5, &[5; 10]), text: "已阅".into() }], &ctx("sup", 9, 7)).unwrap();
    assert!(a.read().review.steps.iter().all(|s| !s.void), "a comment does not void the steps");
    a.apply(&[set(Field::Disbursed, "10")], &ctx("zhang", 1, 8)).unwrap();
    assert!(a.read().review.steps.iter().all(|s| s.void), "an edit of the record voids the steps");
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
        step(ReviewStatus::Closed, Capacity::Office, "了结"),
        step(ReviewStatus::Submitted, Capacity::Office, ""),
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
fn a_step_taken_with_other_edits_covers_them() {
    let mut a = fund_check();
    a.apply(
        &[
            set(Field::FundName, "教育资助"),
            set(Field::FundType, "education_aid"),
            set(Field::Allocated, "3000"),
            submit(),
            step(ReviewStatus::Returned, Capacity::Deputy, "补充收据"),
        ],
        &ctx("zhao", 9, 1),
    )
    .unwrap();
    let review = a.read().review;
    assert_eq!(review.status, ReviewStatus::Returned);
    assert_eq!(review.steps.len(), 2);
    assert!(review.steps.iter().all(|s| !s.void));
    let mut b = a.fork(ActorId::from([2; 16]));
    b.apply(&[set(Field::Disbursed, "3000")], &ctx("zhang", 2, 2)).unwrap();
    a.merge(&mut b).unwrap();
    assert!(a.read().review.steps.iter().all(|s| s.void), "a concurrent edit merged later voids them");
}

#[test]
fn resubmitting_a_returned_record_with_other_edits_is_one_authored_change() {
    let mut a = fund_check();
    a.apply(
        &[set(Field::FundName, "教育资助"), set(Field::FundType, "education_aid"), set(Field::Allocated, "3000")],
        &ctx("zhang", 1, 1_000),
    )
    .unwrap();
    a.apply(&[submit()], &ctx("zhang", 1, 2_000)).unwrap();
    a.apply(&[step(ReviewStatus::Returned, Capacity::Deputy, "补充")], &ctx("zhao", 9, 3_000)).unwrap();
    let changes = a.history().len();
    // A refused batch on a returned record leaves nothing behind.
    let refused = a.apply(
        &[set(Field::Title, "改"), Edit::Set { field: Field::FundName, value: None }, submit()],
        &ctx("zhang", 1, 4_000),
    );
    assert!(matches!(refused, Err(DomainError::NotReadyForReview { .. })), "{refused:?}");
    assert_eq!(a.history().len(), changes);
    // A step from a status the record is not in is refused too.
    let refused =
        a.apply(&[set(Field::Title, "改"), step(ReviewStatus::LeadSigned, Capacity::Lead, "")], &ctx("wang", 1, 4_500));
    assert!(
        matches!(refused, Err(DomainError::Refused { code: xuncha_domain::ErrorCode::Transition, .. })),
        "{refused:?}"
    );
    assert_eq!(a.history().len(), changes);
    // An accepted batch is exactly one change, with its author.
    a.apply(&[set(Field::Title, "改"), submit()], &ctx("zhang", 1, 5_000)).unwrap();
    let history = a.history();
    assert_eq!(history.len(), changes + 1);
    assert!(history.iter().all(|h| h.author.is_some() && h.at_ms.unwrap_or(0) > 0), "{history:?}");
    let review = a.read().review;
    assert_eq!(review.status, ReviewStatus::Submitted);
    let path: Vec<_> = review.steps.iter().map(|s| (s.from, s.to)).collect();
    assert_eq!(
        path,
        vec![
            (ReviewStatus::Draft, ReviewStatus::Submitted),
            (ReviewStatus::Submitted, ReviewStatus::Returned),
            (ReviewStatus::Returned, ReviewStatus::Submitted),
        ]
    );
    // The step into the current status is the resubmission; the return's note stays on its step.
    assert_eq!(review.last_step().map(|s| s.by.as_str()), Some("zhang"));
    assert_eq!(review.steps[1].note, "补充");
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

fn gang_clue() -> RecordDoc {
    let new = NewRecord {
        id: RecordId::new(1_700_000_000_000, &[2; 10]),
        kind: RecordKind::GangClue,
        title: "村霸欺压群众线索".into(),
        round: "2024年第一轮".into(),
        township: Some(Division::new("110105001000", "建外街道")),
        village: Some(Division::new("110105001001", "光华村")),
        team: "第一巡察组".into(),
    };
    RecordDoc::create(&new, &ctx("zhang", 1, 1_700_000_000_000)).unwrap()
}

fn money(yuan: &str) -> Value {
    Value::Money(yuan.parse().unwrap())
}

fn household(n: u8, head: &str, entitled: Option<&str>, received: Option<&str>) -> Edit {
    let mut values = vec![(ItemField::Head, Value::Text(head.into()))];
    values.extend(entitled.map(|e| (ItemField::Entitled, money(e))));
    values.extend(received.map(|r| (ItemField::Received, money(r))));
    Edit::InsertItem { list: ItemList::Beneficiaries, id: ItemId::new(1_700_000_000_000, &[n; 10]), values }
}

#[test]
fn shortfall_per_household_totals_and_findings() {
    struct Case {
        households: &'static [(&'static str, Option<&'static str>, Option<&'static str>)],
        disbursed: Option<&'static str>,
        /// Differences of the households with both amounts, then entitled, received, shortfall totals.
        differences: &'static [&'static str],
        totals: (&'static str, &'static str, &'static str),
        findings: &'static [&'static str],
    }
    let cases = [
        Case {
            households: &[("王大福", Some("3000"), Some("2000")), ("李桂兰", Some("1500"), Some("1500"))],
            disbursed: Some("3500"),
            differences: &["1000.00", "0.00"],
            totals: ("4500.00", "3500.00", "1000.00"),
            findings: &["实领少于应享 1,000.00 元"],
        },
        Case {
            // Paid more than entitled: a validation problem, not a finding, and no credit.
            households: &[("赵春生", Some("3000"), Some("3200")), ("王大福", Some("3000"), Some("2999.99"))],
            disbursed: None,
            differences: &["-200.00", "0.01"],
            totals: ("6000.00", "6199.99", "0.01"),
            findings: &["实领少于应享 0.01 元"],
        },
        Case {
            households: &[("王大福", Some("1234567.89"), Some("0.89"))],
            disbursed: Some("54000"),
            differences: &["1234567.00"],
            totals: ("1234567.89", "0.89", "1234567.00"),
            findings: &["实领少于应享 1,234,567.00 元", "农户实领合计 0.89 元与发放金额 54,000.00 元不符"],
        },
        Case {
            // Only households with both amounts have a difference; the totals take every amount.
            households: &[("王大福", Some("3000"), None), ("李桂兰", None, Some("500"))],
            disbursed: Some("54000"),
            differences: &[],
            totals: ("3000.00", "500.00", "0.00"),
            findings: &["农户实领合计 500.00 元与发放金额 54,000.00 元不符"],
        },
        Case {
            // Nothing received entered yet: nothing to compare with the amount disbursed.
            households: &[("王大福", Some("3000"), None)],
            disbursed: Some("54000"),
            differences: &[],
            totals: ("3000.00", "0.00", "0.00"),
            findings: &[],
        },
        Case {
            households: &[],
            disbursed: Some("100"),
            differences: &[],
            totals: ("0.00", "0.00", "0.00"),
            findings: &[],
        },
    ];
    for (n, case) in cases.iter().enumerate() {
        let mut a = fund_check();
        let mut edits: Vec<Edit> = case
            .households
            .iter()
            .enumerate()
            .map(|(i, (head, entitled, received))| household(i as u8 + 1, head, *entitled, *received))
            .collect();
        edits.extend(case.disbursed.map(|d| set(Field::Disbursed, d)));
        if !edits.is_empty() {
            a.apply(&edits, &ctx("zhang", 1, 1)).unwrap();
        }
        let record = a.read();
        let table = record.shortfall();
        let differences: Vec<String> = table.households.iter().map(|h| h.difference.to_string()).collect();
        assert_eq!(differences, case.differences, "case {n}");
        let totals = (table.entitled.to_string(), table.received.to_string(), table.shortfall.to_string());
        assert_eq!(totals, (case.totals.0.into(), case.totals.1.into(), case.totals.2.into()), "case {n}");
        let found = findings(&record);
        assert_eq!(found.iter().map(|f| f.zh.as_str()).collect::<Vec<_>>(), case.findings, "case {n}");
        assert!(found.iter().all(|f| !f.en.is_empty()), "case {n}");
        assert_eq!(a.projection().shortfall_fen, table.shortfall.fen(), "case {n}");
    }
}

#[test]
fn findings_name_the_place_and_do_not_block_submitting() {
    let mut a = fund_check();
    a.apply(
        &[
            set(Field::FundName, "危房改造补助"),
            set(Field::FundType, "危房改造"),
            set(Field::Allocated, "60000"),
            set(Field::Disbursed, "54000"),
            household(1, "王大福", Some("30000"), Some("24000")),
        ],
        &ctx("zhang", 1, 1),
    )
    .unwrap();
    let record = a.read();
    let item = record.items(ItemList::Beneficiaries)[0].id;
    let found: Vec<(String, &str, String)> = findings(&record).into_iter().map(|f| (f.path, f.code, f.en)).collect();
    assert_eq!(
        found,
        vec![
            (
                format!("beneficiaries/{item}/received"),
                "received_below_entitled",
                "received 6,000.00 yuan less than entitled".to_owned()
            ),
            (
                "disbursed".to_owned(),
                "received_total_differs",
                "households received 24,000.00 yuan in total, but 54,000.00 yuan was disbursed".to_owned()
            ),
        ]
    );
    assert!(validate(&record).is_empty(), "{:?}", validate(&record));
    a.apply(&[submit()], &ctx("zhang", 1, 2)).unwrap();
    assert_eq!(a.projection().shortfall_fen, 600_000);
    assert_eq!(a.projection().status, "submitted");
    // Other kinds have no shortfall.
    assert!(findings(&gang_clue().read()).is_empty());
}

fn subject(n: u8, name: &str, extra: Vec<(ItemField, Value)>) -> (ItemId, Edit) {
    let id = ItemId::new(1_700_000_000_000, &[n; 10]);
    let mut values = vec![(ItemField::Name, Value::Text(name.into()))];
    values.extend(extra);
    (id, Edit::InsertItem { list: ItemList::Subjects, id, values })
}

fn relation(n: u8, from: Option<String>, to: Option<String>) -> (ItemId, Edit) {
    let id = ItemId::new(1_700_000_000_000, &[n; 10]);
    let mut values = vec![(ItemField::RelationKind, Value::Choice("kin".into()))];
    values.extend(from.map(|f| (ItemField::From, Value::Text(f))));
    values.extend(to.map(|t| (ItemField::To, Value::Text(t))));
    (id, Edit::InsertItem { list: ItemList::Relations, id, values })
}

#[test]
fn subjects_are_picked_by_name_or_id_with_errors_that_list_them() {
    let mut a = gang_clue();
    assert!(matches!(a.read().subject_id("张三"), Err(DomainError::NoSubjects)));
    let employer = |e: &str| vec![(ItemField::Employer, Value::Text(e.into()))];
    let (zhang_a, add_a) = subject(1, "张三", employer("光华村委会"));
    let (li, add_li) = subject(2, "李四", vec![]);
    let (zhang_b, add_b) = subject(3, "张三", employer("建外街道办"));
    a.apply(&[add_a, add_li, add_b], &ctx("zhang", 1, 1)).unwrap();
    let record = a.read();
    let simple = li.to_string();
    let hyphenated = [&simple[..8], &simple[8..12], &simple[12..16], &simple[16..20], &simple[20..]].join("-");
    let ok_cases: &[(String, ItemId)] = &[
        ("李四".into(), li),
        (" 李四 ".into(), li),
        (hyphenated, li),
        (zhang_a.to_string(), zhang_a),
        (zhang_b.to_string(), zhang_b),
    ];
    for (input, want) in ok_cases {
        assert_eq!(record.subject_id(input).unwrap(), *want, "{input:?}");
    }
    let unknown = record.subject_id("王五").unwrap_err();
    assert!(matches!(unknown, DomainError::UnknownSubject { .. }), "{unknown}");
    let text = unknown.to_string();
    assert!(text.contains("王五") && text.contains("李四") && text.contains(&li.to_string()), "{text}");
    let ambiguous = record.subject_id("张三").unwrap_err();
    assert!(matches!(ambiguous, DomainError::AmbiguousSubject { .. }), "{ambiguous}");
    let text = ambiguous.to_string();
    for part in ["光华村委会", "建外街道办", &zhang_a.to_string(), &zhang_b.to_string()] {
        assert!(text.contains(part), "{part} missing from {text}");
    }
    assert!(!text.contains("李四"), "{text}");
}

#[test]
fn relations_say_which_end_is_wrong_and_whom_to_pick() {
    let mut a = gang_clue();
    let (zhang, add_zhang) = subject(1, "张三", vec![]);
    let (li, add_li) = subject(2, "李四", vec![]);
    let gone = ItemId::new(1, &[9; 10]).to_string();
    let (to_self, rel_self) = relation(3, Some(zhang.to_string()), Some(zhang.to_string()));
    let (half, rel_half) = relation(4, Some(li.to_string()), None);
    let (dangling, rel_dangling) = relation(5, Some(gone.clone()), Some(zhang.to_string()));
    let (fine, rel_fine) = relation(6, Some(zhang.to_string()), Some(li.to_string()));
    a.apply(&[add_zhang, add_li, rel_self, rel_half, rel_dangling, rel_fine], &ctx("zhang", 1, 1)).unwrap();
    let problems = validate(&a.read());
    let relation_problems: Vec<(String, &str, String)> =
        problems.into_iter().filter(|p| p.path.starts_with("relations/")).map(|p| (p.path, p.code, p.zh)).collect();
    assert_eq!(
        relation_problems,
        vec![
            (
                format!("relations/{to_self}/to"),
                "relation_to_self",
                "关系的人员甲和人员乙是同一人（张三），请另选一人".into()
            ),
            (format!("relations/{half}/to"), "relation_subject_missing", "请选择关系的人员乙，可选：张三、李四".into()),
            (
                format!("relations/{dangling}/from"),
                "relation_subject_missing",
                format!("关系的人员甲（编号 {gone}）已不在涉及人员中，请重新选择，可选：张三、李四")
            ),
        ]
    );
    assert!(!format!("{relation_problems:?}").contains(&fine.to_string()));
    // Picked by name, the relation validates.
    let record = a.read();
    let (from, to) = (record.subject_id("李四").unwrap(), record.subject_id("张三").unwrap());
    a.apply(
        &[Edit::UpdateItem { id: to_self, field: ItemField::From, value: Some(Value::Text(from.to_string())) }],
        &ctx("zhang", 1, 2),
    )
    .unwrap();
    assert_eq!(to, zhang);
    assert!(!validate(&a.read()).iter().any(|p| p.path.contains(&to_self.to_string())));
}

#[test]
fn subjects_carry_id_number_employer_political_status_and_umbrella() {
    let mut a = gang_clue();
    let status = |text: &str| ItemField::PoliticalStatus.parse_value(text).unwrap();
    let (_, old_style) = subject(1, "张三", vec![(ItemField::PartyMember, Value::Flag(true))]);
    let (probationary, new_style) = subject(
        2,
        "李四",
        vec![
            (ItemField::IdNumber, Value::Text("110105198001011234".into())),
            (ItemField::Employer, Value::Text("光华村委会".into())),
            (ItemField::PoliticalStatus, status("中共预备党员")),
            (ItemField::Umbrella, Value::Flag(true)),
        ],
    );
    let (_, masses) = subject(3, "王五", vec![(ItemField::PoliticalStatus, status("masses"))]);
    a.apply(&[old_style, new_style, masses], &ctx("zhang", 1, 1)).unwrap();
    let record = a.read();
    let li = record.items(ItemList::Subjects).iter().find(|s| s.id == probationary).unwrap();
    assert_eq!(li.text(ItemField::PoliticalStatus), Some("probationary"));
    assert_eq!(li.text(ItemField::Employer), Some("光华村委会"));
    assert!(li.flag(ItemField::Umbrella));
    let members: Vec<bool> = record.items(ItemList::Subjects).iter().map(Item::is_party_member).collect();
    assert_eq!(members, vec![true, true, false]);
    let projection = a.projection();
    assert_eq!(projection.party_members, 2);
    assert!(projection.search_text.contains("中共预备党员") && projection.search_text.contains("光华村委会"));
    assert!(ItemField::PoliticalStatus.parse_value("党员").is_err());
    assert_eq!(ItemField::parse_in(ItemList::Subjects, "政治面貌").unwrap(), ItemField::PoliticalStatus);
}

#[test]
fn only_a_draft_can_be_withdrawn() {
    // (edits before the withdrawal, whether it is allowed)
    let clean =
        || vec![set(Field::FundName, "危房改造补助"), set(Field::FundType, "危房改造"), set(Field::Allocated, "50000")];
    let cases: Vec<(Vec<Edit>, Option<ReviewStatus>)> = vec![
        (vec![], None),
        (clean(), None),
        ([clean(), vec![submit()]].concat(), Some(ReviewStatus::Submitted)),
        (
            [clean(), vec![submit(), step(ReviewStatus::Returned, Capacity::Deputy, "补充")]].concat(),
            Some(ReviewStatus::Returned),
        ),
    ];
    for (before, refused) in cases {
        let mut a = fund_check();
        if !before.is_empty() {
            a.apply(&before, &ctx("sup", 9, 1)).unwrap();
        }
        let heads = a.heads();
        let result = a.apply(&[Edit::Withdraw], &ctx("zhang", 1, 2_000));
        match refused {
            Some(status) => {
                let err = result.unwrap_err();
                assert_eq!(err, DomainError::NotADraft { status });
                assert!(err.to_string().contains("只有草稿可以撤回"), "{err}");
                assert_eq!(a.heads(), heads);
                assert!(a.read().withdrawn.is_none());
            }
            None => {
                assert!(result.unwrap().is_some());
                assert_eq!(a.read().withdrawn, Some(Withdrawal { by: "zhang".into(), at_ms: 2_000 }));
                assert!(a.projection().withdrawn);
            }
        }
    }
}

#[test]
fn a_withdrawn_draft_takes_no_edits_but_merges_and_keeps_its_history() {
    let mut a = fund_check();
    a.apply(&[set(Field::Allocated, "100")], &ctx("zhang", 1, 1_000)).unwrap();
    let mut b = a.fork(ActorId::from([2; 16]));
    // Withdrawing with other edits in one batch: the edits before it apply, after it refuse.
    let heads = a.heads();
    let err = a.apply(&[Edit::Withdraw, set(Field::Title, "改")], &ctx("zhang", 1, 2_000)).unwrap_err();
    assert_eq!(err, DomainError::Withdrawn { by: "zhang".into() });
    assert_eq!(a.heads(), heads);
    a.apply(&[set(Field::Title, "改"), Edit::Withdraw], &ctx("zhang", 1, 2_000)).unwrap();
    assert_eq!(a.read().text(Field::Title), Some("改"));

    let heads = a.heads();
    for edit in
        [set(Field::Disbursed, "50"), Edit::Narrative { text: "补记".into() }, Edit::AddTag { tag: "重点".into() }]
    {
        let err = a.apply(&[edit], &ctx("li", 1, 3_000)).unwrap_err();
        assert!(err.to_string().contains("已由 zhang 撤回"), "{err}");
        assert_eq!(a.heads(), heads);
    }
    // Withdrawing again changes nothing.
    assert_eq!(a.apply(&[Edit::Withdraw], &ctx("li", 1, 3_000)).unwrap(), None);

    let entry = a.history().pop().unwrap();
    assert_eq!(entry.paths, vec!["title".to_owned(), "withdrawn".to_owned()]);
    assert_eq!(entry.summary.as_deref(), Some("撤回草稿 / draft withdrawn"));
    assert!(a.history().iter().rev().skip(1).all(|e| e.summary.is_none()));
    assert_eq!(Edit::Withdraw.describe(), "withdrawn");
    assert_eq!(serde_json::to_string(&Edit::Withdraw).unwrap(), r#"{"op":"withdraw"}"#);
    assert_eq!(serde_json::from_str::<Edit>(r#"{"op":"withdraw"}"#).unwrap(), Edit::Withdraw);

    // A concurrent edit made on another tablet before it heard of the withdrawal merges.
    b.apply(&[set(Field::Disbursed, "90")], &ctx("li", 2, 2_500)).unwrap();
    a.merge(&mut b).unwrap();
    let merged = a.read();
    assert_eq!(merged.money(Field::Disbursed), Some(Yuan::from_yuan(90)));
    assert!(merged.withdrawn.is_some());
    b.merge(&mut a).unwrap();
    assert!(b.apply(&[set(Field::Disbursed, "80")], &ctx("li", 2, 4_000)).is_err());
    assert_eq!(RecordDoc::load(&a.save()).unwrap().read(), merged);
}

#[test]
fn settling_on_a_value_someone_else_wrote_first_credits_the_settler() {
    // 张 and 李 disagree on the amount; 王 settles on 李's value. The settled value is 王's
    // write (王 decided it), and a value written concurrently with the settlement still
    // shows as a conflict beside it.
    let mut a = fund_check();
    let mut b = a.fork(ActorId::from([2; 16]));
    let mut c = a.fork(ActorId::from([3; 16]));
    a.apply(&[set(Field::Disbursed, "200")], &ctx("zhang", 1, 1_700_000_001_000)).unwrap();
    b.apply(&[set(Field::Title, "新标题")], &ctx("li", 2, 1_700_000_002_000)).unwrap();
    b.apply(&[set(Field::Disbursed, "100")], &ctx("li", 2, 1_700_000_003_000)).unwrap();
    a.merge(&mut b).unwrap();
    a.apply(&[set(Field::Disbursed, "100")], &ctx("wang", 1, 1_700_000_004_000)).unwrap();
    assert!(a.conflicts().is_empty());
    c.apply(&[set(Field::Disbursed, "300")], &ctx("zhao", 3, 1_700_000_005_000)).unwrap();
    a.merge(&mut c).unwrap();
    let conflicts = a.conflicts();
    let mut values: Vec<(String, Option<String>)> =
        conflicts[0].values.iter().map(|v| (v.display.clone(), v.author.clone())).collect();
    values.sort();
    assert_eq!(values, vec![("100.00".into(), Some("wang".into())), ("300.00".into(), Some("zhao".into()))]);
}
