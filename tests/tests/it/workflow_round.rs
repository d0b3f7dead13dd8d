//! One whole round of the 巡察 workflow on a real server with a team's real devices: the
//! inspector records a 谈话记录 (signed by the person talked with) and two fund checks, one
//! citing the talk; the 副组长 reviews and the 组长 signs; the office approves both, hands
//! one over (移交, with its 文号) and sends the other for rectification; the team adds two
//! progress entries with photos; the deadline passes (a clock the test sets), the light
//! turns red and then overdue; the 组长 closes it out (销号). The totals and 整改完成率 match
//! what is counted by hand, and a step the inspector forges is refused and never seen.

use xuncha_domain::workflow::{self, Light};
use xuncha_domain::*;
use xuncha_protocol::Role;
use xuncha_store::{NewAttachment, TotalsFilter};
use xuncha_tests::{Device, District, EAST, new_record};

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn set(field: Field, text: &str) -> Edit {
    Edit::Set { field, value: Some(field.parse_value(text).unwrap()) }
}

fn photo(n: u8) -> NewAttachment {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(std::iter::repeat_n(n, 2_000));
    NewAttachment { bytes, mime: "image/png".into(), caption: format!("佐证材料{n}"), taken_at_ms: None, gps: None }
}

/// The workflow step `to` as `device`'s user may take it (by their place in the team the
/// record names, as the app works it out), or why not.
fn step(
    device: &Device,
    role: Role,
    id: RecordId,
    to: ReviewStatus,
    note: &str,
    conclusion: Option<Conclusion>,
    handover: Option<Handover>,
) -> Result<Edit, rules::Refusal> {
    let record = device.store.record(id).unwrap().read();
    let reader = xuncha_app::records::reader(role.code());
    let standing = xuncha_app::reference::standing(&device.store, reader, &record).unwrap();
    workflow::transition(standing, &record, to, note, conclusion, handover)
}

fn take(device: &mut Device, role: Role, id: RecordId, to: ReviewStatus, note: &str, conclusion: Option<Conclusion>) {
    let edit = step(device, role, id, to, note, conclusion, None).unwrap_or_else(|r| panic!("{to:?}: {r}"));
    device.edit(id, &[edit]);
}

fn synced(district: &District, device: &mut Device) {
    let report = district.sync(device).unwrap();
    assert!(report.refused.is_empty(), "{}: {:?}", device.name, report.refused);
}

#[test]
fn a_whole_round_from_talk_to_close_out() {
    let district = District::start();
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    let mut zhao = district.device("zhao", Role::Inspector, EAST.0);
    let mut wang = district.device("wang", Role::TeamLead, EAST.0);
    let mut li = district.device("li", Role::Supervisor, "district");
    district.set_up_round("wang", &["zhao"], &["zhang"]);
    for device in [&mut zhang, &mut zhao, &mut wang, &mut li] {
        synced(&district, device);
    }

    // The inspector: a talk, signed by the person talked with, and two fund checks.
    let talk = zhang.create(
        &new_record(RecordKind::Talk, "与第一村会计的个别谈话", EAST, 1),
        &[
            set(Field::Interviewee, "陈会计"),
            set(Field::IntervieweeUnit, "第一村村民委员会"),
            set(Field::TalkDate, "2024-03-12"),
            set(Field::Interviewers, "王组长、张巡察"),
            set(Field::Recorder, "张巡察"),
            Edit::InsertItem {
                list: ItemList::Turns,
                id: ItemId::new(now_ms(), &[1; 10]),
                values: vec![
                    (ItemField::Question, Value::Text("补贴是否足额发放？".into())),
                    (ItemField::Answer, Value::Text("有三户少发了，说是统筹。".into())),
                ],
            },
        ],
    );
    let signature = photo(9);
    let sign = Edit::Sign {
        id: ItemId::new(now_ms(), &[2; 10]),
        role: SignerRole::Interviewee,
        signer: "陈会计".into(),
        image: signature.reference(),
        strokes: "[[{\"x\":1,\"y\":2,\"t\":0,\"p\":0.5}]]".into(),
    };
    zhang.store.edit_with_files(talk, &[sign], &[signature], now_ms()).unwrap();
    let fund = |title: &str, seed: u8| {
        (
            new_record(RecordKind::FundCheck, title, EAST, seed),
            vec![
                set(Field::FundName, "到户产业补贴"),
                set(Field::FundType, "household_subsidy"),
                set(Field::Allocated, "90000"),
            ],
        )
    };
    let (new, edits) = fund("第一村到户补贴发放检查", 2);
    let handed = zhang.create(&new, &edits);
    zhang.edit(handed, &[Edit::Cite { source: talk }]);
    let (new, edits) = fund("第一村危房改造补贴检查", 3);
    let rectified = zhang.create(&new, &edits);
    for id in [talk, handed, rectified] {
        take(&mut zhang, Role::Inspector, id, ReviewStatus::Submitted, "", None);
    }
    // The inspector may not review their own records.
    let refused = step(&zhang, Role::Inspector, handed, ReviewStatus::DeputyReviewed, "", None, None).unwrap_err();
    assert_eq!(refused.code, "transition_role");
    synced(&district, &mut zhang);

    // 副组长 审核, 组长 审签.
    synced(&district, &mut zhao);
    for id in [talk, handed, rectified] {
        take(&mut zhao, Role::Inspector, id, ReviewStatus::DeputyReviewed, "材料齐全", None);
    }
    synced(&district, &mut zhao);
    synced(&district, &mut wang);
    for id in [talk, handed, rectified] {
        take(&mut wang, Role::TeamLead, id, ReviewStatus::LeadSigned, "同意上报", None);
    }
    synced(&district, &mut wang);

    // The inspector's client forges the office's approval: refused, never seen.
    synced(&district, &mut zhang);
    zhang.edit(
        handed,
        &[Edit::Transition {
            to: ReviewStatus::OfficeApproved,
            capacity: Capacity::Office,
            note: "自批".into(),
            conclusion: Some(Conclusion::Confirmed),
            handover: None,
        }],
    );
    let report = district.sync(&mut zhang).unwrap();
    assert_eq!(report.refused.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(), ["transition_role"]);

    // 巡察办: approve both with conclusions; hand one over, send the other for rectification.
    synced(&district, &mut li);
    assert_eq!(li.store.record(handed).unwrap().read().review.status, ReviewStatus::LeadSigned);
    take(&mut li, Role::Supervisor, handed, ReviewStatus::OfficeApproved, "属实", Some(Conclusion::Confirmed));
    take(
        &mut li,
        Role::Supervisor,
        rectified,
        ReviewStatus::OfficeApproved,
        "部分属实",
        Some(Conclusion::PartlyConfirmed),
    );
    take(&mut li, Role::Supervisor, talk, ReviewStatus::OfficeApproved, "已核", None);
    take(&mut li, Role::Supervisor, talk, ReviewStatus::Closed, "谈话记录归档", None);
    let handover = Handover {
        to: HandoverTo::Commission,
        unit: String::new(),
        number: "清巡移〔2024〕3号".into(),
        date: "2024-04-02".into(),
    };
    let edit = step(&li, Role::Supervisor, handed, ReviewStatus::HandedOver, "", None, Some(handover.clone())).unwrap();
    li.edit(handed, &[edit]);
    let to_rectify = step(&li, Role::Supervisor, rectified, ReviewStatus::Rectifying, "", None, None).unwrap();
    let ledger = Edit::Ledger {
        change: LedgerChange {
            unit: Some("第一村党支部".into()),
            owner: Some("村支书刘某".into()),
            measures: Some("退还少发补贴，完善公示".into()),
            deadline: Some("2024-06-30".into()),
            kind: Some(RectifyKind::Deadline),
        },
    };
    li.edit(rectified, &[to_rectify, ledger]);
    synced(&district, &mut li);

    // The team adds two progress entries with photos.
    synced(&district, &mut zhang);
    for n in 0..2u8 {
        let file = photo(n);
        let progress = Edit::AddProgress {
            id: ItemId::new(now_ms() + i64::from(n), &[10 + n; 10]),
            text: format!("第{}次整改进展：已退还 {} 户补贴", n + 1, n + 1),
            attachments: vec![file.reference()],
        };
        zhang.store.edit_with_files(rectified, &[progress], &[file], now_ms()).unwrap();
    }
    synced(&district, &mut zhang);
    // The photos and the signature went up with the sync (nothing is left to send).
    district
        .runtime
        .block_on(zhang.client.upload_attachments(&mut zhang.store, xuncha_sync::ATTACHMENT_PIECE))
        .unwrap();
    assert!(zhang.store.attachments_to_upload().unwrap().is_empty());
    synced(&district, &mut li);
    let record = li.store.record(rectified).unwrap().read();
    let ledger = record.rectification.as_ref().unwrap();
    assert_eq!(ledger.progress.len(), 2);
    assert!(ledger.progress.iter().all(|p| p.attachments.len() == 1 && p.by == "zhang"));
    assert!(record.review.steps.iter().all(|s| !s.void), "progress does not void the sign-offs");
    // The office fetches the evidence from the server (it is in the record's scope).
    let evidence = &ledger.progress[0].attachments[0];
    let fetched = district
        .runtime
        .block_on(li.client.download_attachment(&mut li.store, &evidence.sha256, &evidence.mime))
        .unwrap();
    assert_eq!(fetched, photo(0).bytes, "the office reads the photo");

    // The deadline approaches and passes (the clock is the test's).
    let all = TotalsFilter::default();
    let light_on = |today: &str| workflow::light(ledger.deadline.as_deref().unwrap(), today);
    assert_eq!(light_on("2024-05-01"), Some(Light::Green));
    assert_eq!(light_on("2024-06-12"), Some(Light::Yellow));
    assert_eq!(light_on("2024-06-25"), Some(Light::Red));
    let before = li.store.totals_for(&all, "2024-06-25").unwrap().workflow;
    assert_eq!((before.rectifying, before.rectified, before.overdue, before.red), (1, 0, 0, 1));
    let late = li.store.totals_for(&all, "2024-07-05").unwrap().workflow;
    assert_eq!((late.rectifying, late.overdue, late.red, late.rectification_rate_bp), (1, 1, 1, 0));

    // 销号 by the 组长; the figures upward, as counted by hand.
    synced(&district, &mut wang);
    take(&mut wang, Role::TeamLead, rectified, ReviewStatus::Rectified, "已全部退还，同意销号", None);
    synced(&district, &mut wang);
    synced(&district, &mut li);
    let w = li.store.totals_for(&all, "2024-07-05").unwrap().workflow;
    assert_eq!(w.problems_found, 2, "two fund checks approved; the talk is a source, not a problem");
    assert_eq!(w.problems_by_kind.iter().map(|c| (c.code.as_str(), c.count)).collect::<Vec<_>>(), [("fund_check", 2)]);
    let mut sources: Vec<(&str, i64)> = w.problems_by_source.iter().map(|c| (c.code.as_str(), c.count)).collect();
    sources.sort();
    assert_eq!(sources, [("patrol", 1), ("talk", 1)]);
    assert_eq!(w.handed_over, 1);
    assert_eq!(
        w.handed_over_by_destination.iter().map(|c| (c.label.as_str(), c.count)).collect::<Vec<_>>(),
        [("纪委监委", 1)]
    );
    assert_eq!((w.rectifying, w.rectified, w.overdue), (0, 1, 0));
    assert_eq!(w.rectification_rate_bp, 10_000);
    assert_eq!(w.by_unit.len(), 1);
    assert_eq!((w.by_unit[0].label.as_str(), w.by_unit[0].rectified, w.by_unit[0].total), ("第一村党支部", 1, 1));
    assert_eq!((w.talks, w.closed), (1, 0), "the talk was filed (予以了结) but is not a problem");
    // Filtered by round and by a team that has none of them.
    let round = TotalsFilter { round: Some("2024年第一轮".into()), ..TotalsFilter::default() };
    assert_eq!(li.store.totals_for(&round, "2024-07-05").unwrap().workflow.problems_found, 2);
    let other = TotalsFilter { team: Some("第二巡察组".into()), ..TotalsFilter::default() };
    assert_eq!(li.store.totals_for(&other, "2024-07-05").unwrap().workflow.problems_found, 0);

    // The trail of the handed-over record, each step by its own level; the citation both ways.
    let record = li.store.record(handed).unwrap().read();
    let trail: Vec<(&str, Capacity, ReviewStatus)> =
        record.review.steps.iter().map(|s| (s.by.as_str(), s.capacity, s.to)).collect();
    assert_eq!(
        trail,
        [
            ("zhang", Capacity::Handler, ReviewStatus::Submitted),
            ("zhao", Capacity::Deputy, ReviewStatus::DeputyReviewed),
            ("wang", Capacity::Lead, ReviewStatus::LeadSigned),
            ("li", Capacity::Office, ReviewStatus::OfficeApproved),
            ("li", Capacity::Office, ReviewStatus::HandedOver),
        ]
    );
    assert_eq!(record.review.steps.last().unwrap().handover.as_ref(), Some(&handover));
    assert!(!record.review.steps.iter().any(|s| s.note == "自批"), "the forged approval never reached the office");
    assert_eq!(record.sources.iter().map(|c| c.record).collect::<Vec<_>>(), [talk]);
    assert_eq!(li.store.cited_by(talk).unwrap(), [handed]);
    let signed = li.store.record(talk).unwrap().read();
    assert_eq!(signed.signatures.len(), 1);
    assert_eq!((signed.signatures[0].signer.as_str(), signed.signatures[0].role), ("陈会计", SignerRole::Interviewee));
}
