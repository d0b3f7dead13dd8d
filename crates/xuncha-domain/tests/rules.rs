//! Who may change what (`rules::check`), table-driven: each case is a change someone makes to
//! a record in some state, and whether the rule lets it stand.

use xuncha_domain::rules::{Author, check};
use xuncha_domain::*;

fn ctx(user: &str, now_ms: i64) -> EditContext {
    EditContext {
        author: UserId::new(user).unwrap(),
        device: DeviceId::new(format!("device-{user}")).unwrap(),
        actor: ActorId::from(user.as_bytes().iter().copied().chain([0; 16]).take(16).collect::<Vec<u8>>()),
        now_ms,
    }
}

/// A clean fund check created by zhang, moved along `statuses` by `who`.
fn record_at(statuses: &[(ReviewStatus, &str)]) -> RecordDoc {
    let new = NewRecord {
        id: RecordId::new(1_700_000_000_000, &[1; 10]),
        kind: RecordKind::FundCheck,
        title: "到户补贴发放检查".into(),
        round: "2024年第一轮".into(),
        township: Some(Division::new("330199101000", "东岭镇")),
        village: Some(Division::new("330199101001", "上坪村")),
        team: "第一巡察组".into(),
    };
    let mut doc = RecordDoc::create(&new, &ctx("zhang", 1_700_000_000_000)).unwrap();
    let fill = [
        Edit::Set { field: Field::FundName, value: Some(Value::Text("到户补贴".into())) },
        Edit::Set { field: Field::FundType, value: Some(Value::Choice("household_subsidy".into())) },
        Edit::Set { field: Field::Allocated, value: Some(Value::Money(Yuan::from_yuan(1000))) },
    ];
    doc.apply(&fill, &ctx("zhang", 1_700_000_000_500)).unwrap();
    for (i, (status, who)) in statuses.iter().enumerate() {
        let edit = if status.is_review_decision() {
            Edit::Decide { status: *status, note: "依据充分".into() }
        } else {
            Edit::SetReviewStatus { status: *status }
        };
        doc.apply(&[edit], &ctx(who, 1_700_000_001_000 + i as i64)).unwrap();
    }
    doc
}

#[test]
fn only_supervisors_decide_and_only_in_their_own_name() {
    use ReviewStatus::*;
    let inspector = Author { user: "zhang", role: Reader::Inspector };
    let lead = Author { user: "wang", role: Reader::TeamLead };
    let boss = Author { user: "li", role: Reader::Supervisor };
    let admin = Author { user: "root", role: Reader::Administrator };
    // (the record's path so far, the change, who makes it, the refusal code or None)
    type Case<'a> = (&'a [(ReviewStatus, &'a str)], (ReviewStatus, &'a str), Author<'a>, Option<&'a str>);
    let cases: &[Case<'_>] = &[
        (&[], (Submitted, "zhang"), inspector, None),
        (&[], (Submitted, "wang"), lead, None),
        (&[(Submitted, "zhang")], (Verified, "li"), boss, None),
        (&[(Submitted, "zhang")], (Verified, "zhang"), inspector, Some("review_decision")),
        (&[(Submitted, "zhang")], (NeedsMore, "wang"), lead, Some("review_decision")),
        (&[(Submitted, "zhang")], (Verified, "zhang"), boss, Some("decision_author")),
        (&[(Submitted, "zhang"), (Verified, "li")], (CaseFiled, "li"), boss, None),
        (
            &[(Submitted, "zhang"), (Verified, "li"), (CaseFiled, "li")],
            (Closed, "zhang"),
            inspector,
            Some("review_decision"),
        ),
        (&[(Submitted, "zhang"), (NeedsMore, "li")], (Submitted, "zhang"), inspector, None),
        (&[], (Submitted, "root"), admin, Some("administrator_writes")),
    ];
    for (path, (status, who), author, expected) in cases {
        let mut doc = record_at(path);
        let before = doc.read();
        let edit = if status.is_review_decision() {
            Edit::Decide { status: *status, note: "决定".into() }
        } else {
            Edit::SetReviewStatus { status: *status }
        };
        doc.apply(&[edit], &ctx(who, 1_700_000_009_000)).unwrap();
        let got = check(*author, Some(&before), &doc.read()).err().map(|r| r.code);
        assert_eq!(got, *expected, "{path:?} → {status:?} by {author:?}");
    }
}

#[test]
fn skipped_transitions_changed_identities_and_foreign_withdrawals_are_refused() {
    let boss = Author { user: "li", role: Reader::Supervisor };
    let zhang = Author { user: "zhang", role: Reader::Inspector };
    let wang = Author { user: "wang", role: Reader::TeamLead };
    // A forged client takes a closed record back to a draft: the workflow never leads there.
    let closed = record_at(&[
        (ReviewStatus::Submitted, "zhang"),
        (ReviewStatus::Verified, "li"),
        (ReviewStatus::CaseFiled, "li"),
        (ReviewStatus::Closed, "li"),
    ])
    .read();
    let mut reopened = closed.clone();
    reopened.review.status = ReviewStatus::Submitted;
    assert_eq!(check(boss, Some(&closed), &reopened).unwrap_err().code, "transition");
    // Several steps at once (made offline) are fine where the workflow leads.
    let mut doc = record_at(&[]);
    let before = doc.read();
    assert!(check(boss, Some(&before), &closed).is_ok());
    // A new record decided by an inspector's client is refused; a new draft is not.
    assert_eq!(check(zhang, None, &closed).unwrap_err().code, "review_decision");
    assert!(check(zhang, None, &before).is_ok());
    // Nobody rewrites who created a record.
    let mut forged = before.clone();
    forged.creator = "wang".into();
    assert_eq!(check(wang, Some(&before), &forged).unwrap_err().code, "identity_changed");
    // Its creator or a supervisor withdraws a draft; a colleague does not; nobody withdraws
    // a submitted record.
    doc.apply(&[Edit::Withdraw], &ctx("zhang", 1_700_000_002_000)).unwrap();
    let withdrawn = doc.read();
    assert!(check(zhang, Some(&before), &withdrawn).is_ok());
    assert!(check(boss, Some(&before), &withdrawn).is_ok());
    assert_eq!(check(wang, Some(&before), &withdrawn).unwrap_err().code, "withdraw_others");
    // An edit after a decision voids it: that is not a decision of the editor's.
    let mut decided = record_at(&[(ReviewStatus::Submitted, "zhang"), (ReviewStatus::Verified, "li")]);
    let before_edit = decided.read();
    decided.apply(&[Edit::Narrative { text: "补充材料".into() }], &ctx("zhang", 1_700_000_003_000)).unwrap();
    let voided = decided.read();
    assert!(voided.review.decision.as_ref().is_some_and(|d| d.void));
    assert!(check(zhang, Some(&before_edit), &voided).is_ok());
    let submitted = record_at(&[(ReviewStatus::Submitted, "zhang")]).read();
    let mut pulled = submitted.clone();
    pulled.withdrawn = withdrawn.withdrawn.clone();
    assert_eq!(check(zhang, Some(&submitted), &pulled).unwrap_err().code, "withdraw_submitted");
}

#[test]
fn comments_are_added_in_ones_own_name_and_never_changed() {
    let zhang = Author { user: "zhang", role: Reader::Inspector };
    let li = Author { user: "li", role: Reader::Supervisor };
    let mut doc = record_at(&[]);
    let before = doc.read();
    doc.apply(
        &[Edit::AddComment { id: ItemId::new(1_700_000_009_000, &[9; 10]), text: "已核对银行流水".into() }],
        &ctx("zhang", 1_700_000_009_000),
    )
    .unwrap();
    let after = doc.read();
    assert_eq!(check(zhang, Some(&before), &after), Ok(()));
    // The same change uploaded by someone else names zhang as the comment's author.
    assert_eq!(check(li, Some(&before), &after).err().map(|r| r.code), Some("comment_author"));
    // A later change that drops the comment is refused, whoever makes it.
    assert_eq!(check(li, Some(&after), &before).err().map(|r| r.code), Some("comment_changed"));
}
