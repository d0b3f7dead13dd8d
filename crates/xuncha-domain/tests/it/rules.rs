//! Who may change what (`rules::check`), table-driven: each case is a change someone makes
//! to a record in some state, uploaded by someone of some standing toward the record, and
//! whether the rules let it stand. Every transition of `workflow::RULES` is tried by every
//! standing; the refusals are checked by their codes.
//!
//! Changes are made with `RecordDoc::apply` where the document lets them be made at all;
//! what only a forged client could upload (a removed step, a status set without a step) is
//! made by editing the `Record` read back, as the server would read it.

use std::sync::atomic::{AtomicI64, Ordering};

use xuncha_domain::rules::{Author, check};
use xuncha_domain::workflow::{self, RULES, Rule};
use xuncha_domain::*;

/// A person and their standing toward the records of these tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Person {
    user: &'static str,
    /// The first byte of their devices' actors.
    tag: u8,
    role: Reader,
    team: Option<TeamRole>,
    has_deputy: bool,
}

impl Person {
    fn author(self) -> Author<'static> {
        Author { user: self.user, role: self.role, team: self.team, team_has_deputy: self.has_deputy }
    }

    fn standing(self) -> Standing {
        self.author().standing()
    }
}

/// 组员 (an inspector in the record's team, which has a deputy); the records' creator.
const MEMBER: Person =
    Person { user: "zhang", tag: 1, role: Reader::Inspector, team: Some(TeamRole::Member), has_deputy: true };
/// 副组长 of the record's team.
const DEPUTY: Person =
    Person { user: "zhao", tag: 2, role: Reader::Inspector, team: Some(TeamRole::Deputy), has_deputy: true };
/// 组长 of the record's team (which has a deputy).
const LEAD: Person =
    Person { user: "wang", tag: 3, role: Reader::TeamLead, team: Some(TeamRole::Lead), has_deputy: true };
/// 组长 of a team without a deputy: reviews as well as signs.
const LONE_LEAD: Person =
    Person { user: "qian", tag: 4, role: Reader::TeamLead, team: Some(TeamRole::Lead), has_deputy: false };
/// 巡察办.
const SUPERVISOR: Person = Person { user: "li", tag: 5, role: Reader::Supervisor, team: None, has_deputy: false };
const ADMIN: Person = Person { user: "root", tag: 6, role: Reader::Administrator, team: None, has_deputy: false };
/// 组长 of another team (not in the record's team).
const OTHER_LEAD: Person = Person { user: "sun", tag: 7, role: Reader::TeamLead, team: None, has_deputy: false };

const EVERYONE: [Person; 7] = [MEMBER, DEPUTY, LEAD, LONE_LEAD, SUPERVISOR, ADMIN, OTHER_LEAD];

/// Every change a later time than the one before, across the tests of this file.
fn now() -> i64 {
    static NOW: AtomicI64 = AtomicI64::new(1_717_200_000_000);
    NOW.fetch_add(1_000, Ordering::SeqCst)
}

fn ctx_as(user: &str, tag: u8) -> EditContext {
    let mut actor = [tag; 16];
    actor[1..1 + user.len().min(15)].copy_from_slice(&user.as_bytes()[..user.len().min(15)]);
    EditContext {
        author: UserId::new(user).unwrap(),
        device: DeviceId::new(format!("device-{user}")).unwrap(),
        actor: ActorId::from(actor),
        now_ms: now(),
    }
}

fn ctx(person: Person) -> EditContext {
    ctx_as(person.user, person.tag)
}

/// A clean record of `kind` (ready to submit), created by the member.
fn record(kind: RecordKind) -> RecordDoc {
    let new = NewRecord {
        id: RecordId::new(1_717_000_000_000, &[kind as u8 + 1; 10]),
        kind,
        title: "上坪村巡察记录".into(),
        round: "2024年第一轮".into(),
        township: Some(Division::new("330199101000", "东岭镇")),
        village: Some(Division::new("330199101001", "上坪村")),
        team: "第一巡察组".into(),
    };
    let mut doc = RecordDoc::create(&new, &ctx(MEMBER)).unwrap();
    let text = |field, text: &str| Edit::Set { field, value: Some(Value::Text(text.into())) };
    let fill = match kind {
        RecordKind::FundCheck => vec![
            text(Field::FundName, "到户补贴"),
            Edit::Set { field: Field::FundType, value: Some(Value::Choice("household_subsidy".into())) },
            Edit::Set { field: Field::Allocated, value: Some(Value::Money(Yuan::from_yuan(1000))) },
        ],
        RecordKind::Talk => vec![
            text(Field::Interviewee, "张某"),
            Edit::Set { field: Field::TalkDate, value: Some(Value::Date("2024-05-06".into())) },
            text(Field::Interviewers, "张某某、赵某某"),
            text(Field::Recorder, "张某某"),
            Edit::Narrative { text: "问：村里的补贴是怎么发的？答：按名单发放。".into() },
        ],
        other => panic!("no clean {other:?} in these tests"),
    };
    doc.apply(&fill, &ctx(MEMBER)).unwrap();
    assert!(validate(&doc.read()).is_empty(), "{:?}", validate(&doc.read()));
    doc
}

fn handover() -> Handover {
    Handover {
        to: HandoverTo::Commission,
        unit: String::new(),
        number: "东巡移〔2024〕3号".into(),
        date: "2024-06-20".into(),
    }
}

/// What a step needs, given in full.
fn asks(rule: &Rule) -> (String, Option<Conclusion>, Option<Handover>) {
    (
        if rule.needs_note { "材料不全，请补充".to_owned() } else { String::new() },
        rule.needs_conclusion.then_some(Conclusion::Confirmed),
        rule.needs_handover.then(handover),
    )
}

fn rule(from: ReviewStatus, to: ReviewStatus) -> &'static Rule {
    RULES.iter().find(|r| r.from == from && r.to == to).unwrap()
}

/// The step `person` asks the app for, as the app builds it (with all it needs).
fn step_by(person: Person, record: &Record, to: ReviewStatus) -> Result<Edit, rules::Refusal> {
    let (note, conclusion, handover) = match workflow::rule_for(record.kind, record.review.status, to) {
        Some(rule) => asks(rule),
        None => (String::new(), None, None),
    };
    workflow::transition(person.standing(), record, to, &note, conclusion, handover)
}

/// The same step forged by a client, in `capacity` whatever the person holds.
fn forged(rule: &Rule, capacity: Capacity) -> Edit {
    let (note, conclusion, handover) = asks(rule);
    Edit::Transition { to: rule.to, capacity, note, conclusion, handover }
}

/// How a record gets to each status, and who takes each step.
fn path_to(status: ReviewStatus) -> Vec<(ReviewStatus, Person)> {
    use ReviewStatus::*;
    let via = |before: ReviewStatus, last: (ReviewStatus, Person)| {
        let mut path = path_to(before);
        path.push(last);
        path
    };
    match status {
        Draft => vec![],
        Submitted => vec![(Submitted, MEMBER)],
        DeputyReviewed => via(Submitted, (DeputyReviewed, DEPUTY)),
        LeadSigned => via(DeputyReviewed, (LeadSigned, LEAD)),
        Returned => via(Submitted, (Returned, DEPUTY)),
        OfficeApproved => via(LeadSigned, (OfficeApproved, SUPERVISOR)),
        HandedOver | Rectifying | Closed => via(OfficeApproved, (status, SUPERVISOR)),
        Rectified => via(Rectifying, (Rectified, LEAD)),
    }
}

/// A clean record of `kind` taken to `status` along `path_to`, each step checked as it goes.
fn record_at(kind: RecordKind, status: ReviewStatus) -> RecordDoc {
    let mut doc = record(kind);
    for (to, by) in path_to(status) {
        let before = doc.read();
        let edit = step_by(by, &before, to).unwrap();
        doc.apply(&[edit], &ctx(by)).unwrap();
        let after = doc.read();
        assert_eq!(
            check(by.author(), Some(&before), &after),
            Ok(()),
            "{:?} → {to:?} by {}",
            before.review.status,
            by.user
        );
    }
    assert_eq!(doc.read().review.status, status);
    doc
}

/// An independent copy of `doc`.
fn copy(doc: &mut RecordDoc) -> RecordDoc {
    RecordDoc::load(&doc.save()).unwrap()
}

fn code(result: Result<(), rules::Refusal>) -> Option<&'static str> {
    result.err().map(|r| r.code.as_str())
}

/// The step of `after` that `before` does not have.
fn new_step<'a>(before: &Record, after: &'a mut Record) -> &'a mut Step {
    after.review.steps.iter_mut().find(|s| !before.review.steps.iter().any(|e| e.id == s.id)).unwrap()
}

/// A step of the workflow, and who may take it in what capacity.
type Row = (ReviewStatus, ReviewStatus, Vec<(Person, Capacity)>);

/// Who may take each step of the workflow, and in what capacity: written out by hand, so
/// that a change to `RULES` or to `Standing::can_act_as` shows here.
fn table() -> Vec<Row> {
    use Capacity::*;
    use ReviewStatus::*;
    // A lead of another team is no handler of this team's records.
    let handlers = vec![(MEMBER, Handler), (DEPUTY, Handler), (LEAD, Handler), (LONE_LEAD, Handler)];
    let office = vec![(SUPERVISOR, Office)];
    vec![
        (Draft, Submitted, handlers.clone()),
        (Returned, Submitted, handlers),
        (Submitted, DeputyReviewed, vec![(DEPUTY, Deputy), (LONE_LEAD, Deputy)]),
        (Submitted, Returned, vec![(DEPUTY, Deputy), (LEAD, Lead), (LONE_LEAD, Deputy)]),
        (DeputyReviewed, LeadSigned, vec![(LEAD, Lead), (LONE_LEAD, Lead)]),
        (DeputyReviewed, Returned, vec![(LEAD, Lead), (LONE_LEAD, Lead)]),
        (LeadSigned, OfficeApproved, office.clone()),
        (LeadSigned, Returned, office.clone()),
        (OfficeApproved, HandedOver, office.clone()),
        (OfficeApproved, Rectifying, office.clone()),
        (OfficeApproved, Closed, office),
        (Rectifying, Rectified, vec![(LEAD, Lead), (LONE_LEAD, Lead), (SUPERVISOR, Office)]),
    ]
}

#[test]
fn the_table_covers_every_rule_once() {
    let table = table();
    assert_eq!(table.len(), RULES.len());
    for rule in RULES {
        assert_eq!(table.iter().filter(|(from, to, _)| (*from, *to) == (rule.from, rule.to)).count(), 1, "{rule:?}");
    }
}

#[test]
fn every_transition_by_every_standing() {
    let kind = RecordKind::FundCheck;
    for (from, to, allowed) in table() {
        let rule = rule(from, to);
        let mut base = record_at(kind, from);
        for person in EVERYONE {
            let expected = allowed.iter().find(|(p, _)| *p == person).map(|(_, c)| *c);
            let mut doc = copy(&mut base);
            let before = doc.read();
            // What the app offers agrees with the table.
            let offered = workflow::next_steps(person.standing(), kind, from);
            let offer = offered.iter().find(|s| s.to == to).unwrap();
            assert_eq!(offer.allowed, expected.is_some(), "{from:?} → {to:?} offered to {}", person.user);
            assert_eq!(
                (offer.needs_note, offer.needs_conclusion, offer.needs_handover),
                (rule.needs_note, rule.needs_conclusion, rule.needs_handover)
            );
            let edit = match step_by(person, &before, to) {
                Ok(edit) => {
                    assert!(expected.is_some(), "{from:?} → {to:?} built for {}", person.user);
                    edit
                }
                Err(refusal) => {
                    assert_eq!(expected, None, "{from:?} → {to:?} not built for {}: {refusal}", person.user);
                    assert_eq!(refusal.code, "transition_role");
                    // A client that skips the app's checks claims the rule's capacity.
                    forged(rule, rule.who.first)
                }
            };
            doc.apply(&[edit], &ctx(person)).unwrap();
            let after = doc.read();
            let step = after.review.steps.last().unwrap();
            assert_eq!((step.from, step.to, step.by.as_str()), (from, to, person.user));
            if let Some(capacity) = expected {
                assert_eq!(step.capacity, capacity, "{from:?} → {to:?} by {}", person.user);
            }
            let want = match (person, expected) {
                (ADMIN, _) => Some("administrator_writes"),
                (_, Some(_)) => None,
                (_, None) => Some("transition_role"),
            };
            assert_eq!(
                code(check(person.author(), Some(&before), &after)),
                want,
                "{from:?} → {to:?} by {}",
                person.user
            );
        }
    }
}

#[test]
fn a_capacity_the_author_does_not_hold_is_refused() {
    let kind = RecordKind::FundCheck;
    let mut tried = 0;
    for rule in RULES {
        let mut base = record_at(kind, rule.from);
        for person in EVERYONE.into_iter().filter(|p| *p != ADMIN) {
            // Each capacity the rule takes that the person does not hold (a deputy claiming
            // the lead's, a lead the office's): the document takes it, the server refuses.
            for capacity in [Some(rule.who.first), rule.who.or].into_iter().flatten() {
                if person.standing().can_act_as(capacity) {
                    continue;
                }
                let mut doc = copy(&mut base);
                let before = doc.read();
                doc.apply(&[forged(rule, capacity)], &ctx(person)).unwrap();
                let got = code(check(person.author(), Some(&before), &doc.read()));
                assert_eq!(got, Some("transition_role"), "{rule:?} as {capacity:?} by {}", person.user);
                tried += 1;
            }
        }
        // A capacity the rule does not take at all: the document refuses to write it, and a
        // forged step carrying it is refused, even when the author holds that capacity.
        let (first, first_capacity) = table()
            .into_iter()
            .find(|(from, to, _)| (*from, *to) == (rule.from, rule.to))
            .map(|(_, _, allowed)| allowed[0])
            .unwrap();
        for capacity in [Capacity::Handler, Capacity::Deputy, Capacity::Lead, Capacity::Office] {
            if rule.who.first == capacity || rule.who.or == Some(capacity) {
                continue;
            }
            let mut doc = copy(&mut base);
            let heads = doc.heads();
            let err = doc.apply(&[forged(rule, capacity)], &ctx(first)).unwrap_err();
            assert!(
                matches!(err, DomainError::Refused { code: xuncha_domain::ErrorCode::TransitionRole, .. }),
                "{rule:?} as {capacity:?}: {err}"
            );
            assert_eq!(doc.heads(), heads);
            let before = doc.read();
            doc.apply(&[forged(rule, first_capacity)], &ctx(first)).unwrap();
            let mut after = doc.read();
            assert_eq!(check(first.author(), Some(&before), &after), Ok(()));
            new_step(&before, &mut after).capacity = capacity;
            let holder = EVERYONE.into_iter().find(|p| *p != ADMIN && p.standing().can_act_as(capacity)).unwrap();
            for author in [first, holder] {
                let mut after = after.clone();
                new_step(&before, &mut after).by = author.user.to_owned();
                let got = code(check(author.author(), Some(&before), &after));
                assert_eq!(got, Some("transition_role"), "{rule:?} as {capacity:?} by {}", author.user);
                tried += 1;
            }
        }
    }
    assert!(tried > 60, "{tried}");
}

#[test]
fn steps_in_someone_elses_name_are_refused() {
    let kind = RecordKind::FundCheck;
    for (from, to, allowed) in table() {
        let mut base = record_at(kind, from);
        for (person, _) in &allowed {
            // The step made on the person's device, uploaded by anyone else who could
            // have made it (or by the office).
            let mut doc = copy(&mut base);
            let before = doc.read();
            doc.apply(&[step_by(*person, &before, to).unwrap()], &ctx(*person)).unwrap();
            let after = doc.read();
            assert_eq!(check(person.author(), Some(&before), &after), Ok(()));
            for other in allowed.iter().map(|(p, _)| *p).chain([SUPERVISOR, MEMBER]).filter(|o| o.user != person.user) {
                let got = code(check(other.author(), Some(&before), &after));
                assert_eq!(got, Some("step_author"), "{from:?} → {to:?} by {} uploaded by {}", person.user, other.user);
            }
            // The step written in another name on the person's own device.
            let mut doc = copy(&mut base);
            let edit = step_by(*person, &before, to).unwrap();
            doc.apply(&[edit], &ctx_as("mallory", person.tag)).unwrap();
            let got = code(check(person.author(), Some(&before), &doc.read()));
            assert_eq!(got, Some("step_author"), "{from:?} → {to:?} as mallory on {}'s device", person.user);
        }
    }
}

/// A step made on a replica that had not heard of a step taken meanwhile: it starts from a
/// status the record is no longer in.
#[test]
fn a_step_from_a_status_the_record_has_left_is_refused() {
    let kind = RecordKind::FundCheck;
    for (from, to, allowed) in table() {
        let mut base = record_at(kind, from);
        // What got to the server first: another step from the same status, or the same one
        // by someone else where nothing else follows.
        let (first_to, first_by) = table()
            .into_iter()
            .filter(|(f, t, _)| *f == from && *t != to)
            .map(|(_, t, who)| (t, who[0].0))
            .next()
            .unwrap_or_else(|| (to, allowed.last().unwrap().0));
        let mut server = copy(&mut base);
        let record = server.read();
        server.apply(&[step_by(first_by, &record, first_to).unwrap()], &ctx(first_by)).unwrap();
        let before = server.read();
        assert_eq!(before.review.status, first_to);
        for (person, _) in &allowed {
            // (on another of the person's devices than any that wrote to the server)
            let mut late = copy(&mut base);
            let record = late.read();
            late.apply(&[step_by(*person, &record, to).unwrap()], &ctx_as(person.user, person.tag | 0x80)).unwrap();
            let mut merged = copy(&mut server);
            merged.merge(&mut late).unwrap();
            let after = merged.read();
            assert_eq!(after.review.steps.len(), before.review.steps.len() + 1);
            let got = code(check(person.author(), Some(&before), &after));
            assert_eq!(got, Some("transition"), "{from:?} → {to:?} by {} after {first_to:?}", person.user);
            // The app, given the record as the server has it, would not even offer it
            // (unless the same step happens to be open again).
            if workflow::rule_for(kind, first_to, to).is_none() {
                assert_eq!(step_by(*person, &before, to).unwrap_err().code, "transition");
            }
        }
    }
}

/// The deputy returns and resubmits a submitted record on a tablet that has not synced,
/// while on the server the record is reviewed (by the deputy's other device), returned by
/// the lead and resubmitted by the handler. When the tablet uploads, the record is
/// submitted again, so `rules::check_workflow` (which compares a new step's `from` with
/// the status only) accepts two steps taken on the older visit of that status: read by
/// time, the server's steps are then no chain (submitted → reviewed, then submitted →
/// returned). Found by `workflow_properties.rs`. Fix: have each step name the step it
/// follows (a `prev` key written by `Edit::Transition`: the id of the last step, read into
/// `Step`), and in `check_workflow` refuse ("transition") a new step whose `prev` is not the
/// last step so far; read the steps in that chain's order rather than by `at_ms` (device
/// clocks). (Until then the step key's `{count:04}`, the steps the writer had seen, gives
/// the same check: it must equal the number of steps before it.)
#[test]

fn a_step_taken_on_an_older_visit_of_the_status_is_refused() {
    use ReviewStatus::*;
    let mut server = record_at(RecordKind::FundCheck, Submitted);
    let mut tablet = copy(&mut server);
    let advance = |doc: &mut RecordDoc, person: Person, device: u8, to: ReviewStatus| {
        let record = doc.read();
        doc.apply(&[step_by(person, &record, to).unwrap()], &ctx_as(person.user, device)).unwrap();
    };
    advance(&mut server, DEPUTY, DEPUTY.tag | 0x80, DeputyReviewed);
    advance(&mut tablet, DEPUTY, DEPUTY.tag, Returned);
    advance(&mut tablet, DEPUTY, DEPUTY.tag, Submitted);
    advance(&mut server, LEAD, LEAD.tag, Returned);
    advance(&mut server, MEMBER, MEMBER.tag, Submitted);
    let before = server.read();
    server.merge(&mut tablet).unwrap();
    let after = server.read();
    let read: Vec<_> = after.review.steps.iter().map(|s| (s.from, s.to, s.by.as_str())).collect();
    assert_eq!(read[2], (Submitted, Returned, "zhao"), "{read:?}");
    assert_eq!(code(check(DEPUTY.author(), Some(&before), &after)), Some("transition"), "{read:?}");
}

/// Tablets' clocks disagree (and get corrected): the member's says an hour later than the
/// deputy's, and the lone lead's goes back a minute between two steps taken offline.
/// `codec::read_steps` orders steps by `at_ms` (the writing device's clock), so the
/// record reads the review before the submission, and `check_workflow`, which walks the
/// new steps in that order, refuses the lead's upload ("transition"). Fix: order steps by
/// the steps their writer had seen (the key's `{count:04}`, or the `prev` chain suggested
/// in `a_step_taken_on_an_older_visit_of_the_status_is_refused`), then `at_ms` and id.
#[test]

fn steps_read_in_the_order_they_were_taken_whatever_the_clocks() {
    use ReviewStatus::*;
    let at = |person: Person, now_ms: i64| EditContext { now_ms, ..ctx(person) };
    let mut doc = record(RecordKind::FundCheck);
    let t = now();
    let record = doc.read();
    doc.apply(&[step_by(MEMBER, &record, Submitted).unwrap()], &at(MEMBER, t + 3_600_000)).unwrap();
    let before = doc.read();
    doc.apply(&[step_by(DEPUTY, &before, DeputyReviewed).unwrap()], &at(DEPUTY, t + 1_000)).unwrap();
    let after = doc.read();
    assert_eq!(check(DEPUTY.author(), Some(&before), &after), Ok(()));
    let read: Vec<_> = after.review.steps.iter().map(|s| (s.from, s.to)).collect();
    assert_eq!(read, vec![(Draft, Submitted), (Submitted, DeputyReviewed)]);

    let mut doc = record_at(RecordKind::FundCheck, Submitted);
    let before = doc.read();
    let t = now();
    doc.apply(&[step_by(LONE_LEAD, &before, DeputyReviewed).unwrap()], &at(LONE_LEAD, t)).unwrap();
    let reviewed = doc.read();
    doc.apply(&[step_by(LONE_LEAD, &reviewed, LeadSigned).unwrap()], &at(LONE_LEAD, t - 60_000)).unwrap();
    assert_eq!(doc.read().review.status, LeadSigned);
    assert_eq!(check(LONE_LEAD.author(), Some(&before), &doc.read()), Ok(()));
}

#[test]
fn notes_conclusions_and_hand_overs_are_required_where_the_rule_says() {
    use ReviewStatus::*;
    let kind = RecordKind::FundCheck;
    let mut checked = 0;
    for (from, to, allowed) in table() {
        let rule = rule(from, to);
        let (person, capacity) = allowed[0];
        let mut base = record_at(kind, from);
        let before = base.read();
        let (note, conclusion, given) = asks(rule);
        let mut lacking: Vec<(Edit, &str)> = Vec::new();
        let with = |note: &str, conclusion: Option<Conclusion>, handover: Option<Handover>| Edit::Transition {
            to,
            capacity,
            note: note.into(),
            conclusion,
            handover,
        };
        if rule.needs_note {
            lacking.push((with("", conclusion, given.clone()), "note_required"));
            lacking.push((with(" \n ", conclusion, given.clone()), "note_required"));
        }
        if rule.needs_conclusion {
            lacking.push((with(&note, None, given.clone()), "conclusion_required"));
        }
        if rule.needs_handover {
            let h = handover();
            let incomplete = [
                None,
                Some(Handover { number: " ".into(), ..h.clone() }),
                Some(Handover { date: "2024-13-01".into(), ..h.clone() }),
                Some(Handover { date: "20240620".into(), ..h.clone() }),
                Some(Handover { to: HandoverTo::Other, unit: String::new(), ..h.clone() }),
            ];
            for handover in incomplete {
                lacking.push((with(&note, conclusion, handover), "handover_required"));
            }
        }
        // The document refuses to write the step, and the app refuses to build it.
        for (edit, want) in &lacking {
            let mut doc = copy(&mut base);
            let heads = doc.heads();
            let err = doc.apply(std::slice::from_ref(edit), &ctx(person)).unwrap_err();
            assert!(matches!(err, DomainError::Refused { code, .. } if code == *want), "{edit:?}: {err}");
            assert_eq!(doc.heads(), heads);
            let Edit::Transition { note, conclusion, handover, .. } = edit else { unreachable!() };
            let built = workflow::transition(person.standing(), &before, to, note, *conclusion, handover.clone());
            assert_eq!(built.unwrap_err().code, *want);
            checked += 1;
        }
        // The complete step is taken; forged without what it needs, it is refused.
        let mut doc = copy(&mut base);
        doc.apply(&[with(&note, conclusion, given.clone())], &ctx(person)).unwrap();
        let after = doc.read();
        assert_eq!(check(person.author(), Some(&before), &after), Ok(()));
        let mut forged: Vec<(Record, &str)> = Vec::new();
        if rule.needs_note {
            let mut bare = after.clone();
            new_step(&before, &mut bare).note = String::new();
            forged.push((bare, "note_required"));
        }
        if rule.needs_conclusion {
            let mut bare = after.clone();
            new_step(&before, &mut bare).conclusion = None;
            bare.review.conclusion = None;
            forged.push((bare, "conclusion_required"));
        }
        if rule.needs_handover {
            let mut bare = after.clone();
            new_step(&before, &mut bare).handover = None;
            forged.push((bare, "handover_required"));
            let mut no_number = after.clone();
            new_step(&before, &mut no_number).handover.as_mut().unwrap().number = String::new();
            forged.push((no_number, "handover_required"));
        }
        for (after, want) in forged {
            assert_eq!(code(check(person.author(), Some(&before), &after)), Some(want), "{from:?} → {to:?}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked}");

    // A hand-over to another unit names it; talks and petitions need no conclusion.
    let mut doc = record_at(kind, OfficeApproved);
    let before = doc.read();
    let other = Handover { to: HandoverTo::Other, unit: "县审计局".into(), ..handover() };
    let edit = workflow::transition(SUPERVISOR.standing(), &before, HandedOver, "", None, Some(other.clone())).unwrap();
    doc.apply(&[edit], &ctx(SUPERVISOR)).unwrap();
    let after = doc.read();
    assert_eq!(check(SUPERVISOR.author(), Some(&before), &after), Ok(()));
    assert_eq!(after.review.steps.last().unwrap().handover, Some(other));
    let mut talk = record_at(RecordKind::Talk, LeadSigned);
    let before = talk.read();
    let edit = workflow::transition(SUPERVISOR.standing(), &before, OfficeApproved, "", None, None).unwrap();
    talk.apply(&[edit], &ctx(SUPERVISOR)).unwrap();
    let after = talk.read();
    assert_eq!(check(SUPERVISOR.author(), Some(&before), &after), Ok(()));
    assert_eq!(after.review.conclusion, None);
}

#[test]
fn talks_and_petitions_are_not_handed_over_or_rectified() {
    use ReviewStatus::*;
    let mut base = record_at(RecordKind::Talk, OfficeApproved);
    let before = base.read();
    for to in [HandedOver, Rectifying] {
        let rule = rule(OfficeApproved, to);
        assert_eq!(step_by(SUPERVISOR, &before, to).unwrap_err().code, "transition");
        let mut doc = copy(&mut base);
        let err = doc.apply(&[forged(rule, Capacity::Office)], &ctx(SUPERVISOR)).unwrap_err();
        assert!(matches!(err, DomainError::Refused { code: xuncha_domain::ErrorCode::Transition, .. }), "{err}");
        // Forged as the server would read it: the step a fund check takes, on the talk.
        let mut problem = record_at(RecordKind::FundCheck, OfficeApproved);
        problem.apply(&[forged(rule, Capacity::Office)], &ctx(SUPERVISOR)).unwrap();
        let mut after = before.clone();
        after.review.steps.push(problem.read().review.steps.last().unwrap().clone());
        after.review.status = to;
        assert_eq!(code(check(SUPERVISOR.author(), Some(&before), &after)), Some("transition"));
    }
    let offered: Vec<ReviewStatus> =
        workflow::next_steps(SUPERVISOR.standing(), RecordKind::Talk, OfficeApproved).iter().map(|s| s.to).collect();
    assert_eq!(offered, vec![Closed]);
    let mut doc = copy(&mut base);
    doc.apply(&[step_by(SUPERVISOR, &before, Closed).unwrap()], &ctx(SUPERVISOR)).unwrap();
    assert_eq!(check(SUPERVISOR.author(), Some(&before), &doc.read()), Ok(()));
}

#[test]
fn several_steps_in_one_upload_are_fine_where_the_workflow_leads() {
    use ReviewStatus::*;
    // The lead of a team without a deputy reviews and signs offline, then uploads both.
    let mut doc = record_at(RecordKind::FundCheck, Submitted);
    let before = doc.read();
    for to in [DeputyReviewed, LeadSigned] {
        let record = doc.read();
        doc.apply(&[step_by(LONE_LEAD, &record, to).unwrap()], &ctx(LONE_LEAD)).unwrap();
    }
    let after = doc.read();
    assert_eq!(check(LONE_LEAD.author(), Some(&before), &after), Ok(()));
    // Two steps in one change.
    let mut base = record_at(RecordKind::FundCheck, Submitted);
    let before = base.read();
    let mut doc = copy(&mut base);
    let reviewed = Edit::Transition {
        to: DeputyReviewed,
        capacity: Capacity::Deputy,
        note: String::new(),
        conclusion: None,
        handover: None,
    };
    let signed = Edit::Transition {
        to: LeadSigned,
        capacity: Capacity::Lead,
        note: String::new(),
        conclusion: None,
        handover: None,
    };
    doc.apply(&[reviewed.clone(), signed.clone()], &ctx(LONE_LEAD)).unwrap();
    let after = doc.read();
    assert_eq!(
        after.review.steps.iter().map(|s| s.to).collect::<Vec<_>>(),
        vec![Submitted, DeputyReviewed, LeadSigned]
    );
    assert_eq!(check(LONE_LEAD.author(), Some(&before), &after), Ok(()));
    // A lead with a deputy cannot take the deputy's step on the way.
    assert_eq!(code(check(LEAD.author(), Some(&before), &after)), Some("step_author"));
    let mut doc = copy(&mut base);
    doc.apply(&[reviewed, signed], &ctx(LEAD)).unwrap();
    assert_eq!(code(check(LEAD.author(), Some(&before), &doc.read())), Some("transition_role"));
    // The deputy's review and the lead's signature from one device: not all the uploader's.
    let mut doc = copy(&mut base);
    let record = doc.read();
    doc.apply(&[step_by(DEPUTY, &record, DeputyReviewed).unwrap()], &ctx(DEPUTY)).unwrap();
    let record = doc.read();
    doc.apply(&[step_by(LEAD, &record, LeadSigned).unwrap()], &ctx(LEAD)).unwrap();
    let after = doc.read();
    assert_eq!(code(check(LEAD.author(), Some(&before), &after)), Some("step_author"));
    assert_eq!(code(check(DEPUTY.author(), Some(&before), &after)), Some("step_author"));
}

#[test]
fn a_status_set_without_a_step_is_refused() {
    let kind = RecordKind::FundCheck;
    let statuses = ReviewStatus::ALL;
    let mut tried = 0;
    for from in statuses {
        let before = record_at(kind, *from).read();
        for to in statuses.iter().filter(|to| *to != from) {
            let mut after = before.clone();
            after.review.status = *to;
            for person in EVERYONE.into_iter().filter(|p| *p != ADMIN) {
                let got = code(check(person.author(), Some(&before), &after));
                assert_eq!(got, Some("transition"), "{from:?} → {to:?} by {} without a step", person.user);
                tried += 1;
            }
        }
    }
    assert_eq!(tried, 10 * 9 * 6);
    // A new record that arrives past draft needs its steps; with them, they must be the
    // uploader's own.
    let submitted = record_at(kind, ReviewStatus::Submitted).read();
    assert_eq!(check(MEMBER.author(), None, &submitted), Ok(()));
    assert_eq!(code(check(DEPUTY.author(), None, &submitted)), Some("step_author"));
    let mut stepless = submitted.clone();
    stepless.review.steps.clear();
    assert_eq!(code(check(MEMBER.author(), None, &stepless)), Some("transition"));
    let reviewed = record_at(kind, ReviewStatus::DeputyReviewed).read();
    assert_eq!(code(check(DEPUTY.author(), None, &reviewed)), Some("step_author"));
}

#[test]
fn steps_are_never_changed_or_removed() {
    let mut doc = record_at(RecordKind::FundCheck, ReviewStatus::Rectified);
    let before = doc.read();
    assert_eq!(before.review.steps.len(), 6);
    let mut forgeries: Vec<(String, Record)> = Vec::new();
    for (i, step) in before.review.steps.iter().enumerate() {
        let mut removed = before.clone();
        removed.review.steps.remove(i);
        forgeries.push((format!("step {i} removed"), removed));
        type Change = (&'static str, fn(&mut Step));
        let changes: [Change; 8] = [
            ("note", |s| s.note.push('！')),
            ("by", |s| s.by = "mallory".into()),
            ("capacity", |s| {
                s.capacity = if s.capacity == Capacity::Office { Capacity::Lead } else { Capacity::Office }
            }),
            ("at", |s| s.at_ms += 1),
            ("to", |s| s.to = ReviewStatus::Closed),
            ("from", |s| s.from = ReviewStatus::Draft),
            ("conclusion", |s| s.conclusion = Some(Conclusion::Unfounded)),
            ("handover", |s| s.handover = Some(handover())),
        ];
        for (what, change) in changes {
            let mut changed = before.clone();
            change(&mut changed.review.steps[i]);
            if changed.review.steps[i].same_as(step) {
                continue;
            }
            forgeries.push((format!("step {i} ({:?} → {:?}) {what} changed", step.from, step.to), changed));
        }
    }
    assert!(forgeries.len() > 40, "{}", forgeries.len());
    for (what, after) in &forgeries {
        for person in [SUPERVISOR, LEAD, MEMBER] {
            assert_eq!(
                code(check(person.author(), Some(&before), after)),
                Some("step_changed"),
                "{what} by {}",
                person.user
            );
        }
    }
    // A later edit of the record's content voids the steps (they cover an older version):
    // that is not a change of the steps.
    doc.apply(&[Edit::Narrative { text: "整改后补充说明".into() }], &ctx(MEMBER)).unwrap();
    let after = doc.read();
    assert!(after.review.steps.iter().all(|s| s.void), "{:?}", after.review.steps);
    assert_eq!(check(MEMBER.author(), Some(&before), &after), Ok(()));
    // A comment does not void them.
    let mut doc = record_at(RecordKind::FundCheck, ReviewStatus::LeadSigned);
    let before = doc.read();
    doc.apply(&[Edit::AddComment { id: ItemId::new(now(), &[3; 10]), text: "已阅".into() }], &ctx(SUPERVISOR)).unwrap();
    let after = doc.read();
    assert!(after.review.steps.iter().all(|s| !s.void));
    assert_eq!(check(SUPERVISOR.author(), Some(&before), &after), Ok(()));
}

#[test]
fn a_conclusion_is_given_with_a_step_only() {
    use ReviewStatus::*;
    let kind = RecordKind::FundCheck;
    let approved = record_at(kind, OfficeApproved).read();
    assert_eq!(approved.review.conclusion, Some(Conclusion::Confirmed));
    for status in [Draft, Submitted, LeadSigned, OfficeApproved, Rectifying] {
        let before = record_at(kind, status).read();
        for conclusion in Conclusion::ALL {
            if before.review.conclusion == Some(*conclusion) {
                continue;
            }
            let mut after = before.clone();
            after.review.conclusion = Some(*conclusion);
            for person in [SUPERVISOR, LEAD, MEMBER] {
                let got = code(check(person.author(), Some(&before), &after));
                assert_eq!(got, Some("conclusion"), "{status:?}: {conclusion:?} by {}", person.user);
            }
        }
    }
    // With the office's approval, it is.
    let mut doc = record_at(kind, LeadSigned);
    let before = doc.read();
    let edit = workflow::transition(
        SUPERVISOR.standing(),
        &before,
        OfficeApproved,
        "",
        Some(Conclusion::PartlyConfirmed),
        None,
    );
    doc.apply(&[edit.unwrap()], &ctx(SUPERVISOR)).unwrap();
    let after = doc.read();
    assert_eq!(after.review.conclusion, Some(Conclusion::PartlyConfirmed));
    assert_eq!(check(SUPERVISOR.author(), Some(&before), &after), Ok(()));
}

/// A forged client deletes the approved record's verification conclusion (`review/conclusion`)
/// without a step. `check_workflow` only refuses a changed conclusion when the new one is
/// `Some`, so the deletion passes. Fix: in `rules::check_workflow`, refuse whenever
/// `after.review.conclusion != conclusion` (drop `&& after.review.conclusion.is_some()`).
#[test]

fn a_conclusion_is_never_removed_without_a_step() {
    let before = record_at(RecordKind::FundCheck, ReviewStatus::OfficeApproved).read();
    let mut after = before.clone();
    after.review.conclusion = None;
    assert_eq!(code(check(MEMBER.author(), Some(&before), &after)), Some("conclusion"));
}

fn image(n: u8) -> AttachmentRef {
    AttachmentRef {
        sha256: format!("{n:02x}").repeat(32),
        mime: "image/png".into(),
        size: 2048,
        caption: String::new(),
        taken_at_ms: None,
        gps: None,
    }
}

fn sign(n: u8, role: SignerRole, signer: &str) -> Edit {
    Edit::Sign {
        id: ItemId::new(now(), &[n; 10]),
        role,
        signer: signer.into(),
        image: image(n),
        strokes: "[[0,0],[1,1]]".into(),
    }
}

#[test]
fn signatures_are_taken_on_the_signers_device_in_a_role_they_hold_and_never_changed() {
    use SignerRole::*;
    // (who signs on their own device, in which role, the refusal)
    let cases: &[(Person, SignerRole, Option<&str>)] = &[
        (MEMBER, Handler, None),
        (MEMBER, Interviewee, None),
        (MEMBER, Household, None),
        (MEMBER, Deputy, Some("signature_role")),
        (MEMBER, Lead, Some("signature_role")),
        (DEPUTY, Deputy, None),
        (DEPUTY, Handler, None),
        (DEPUTY, Lead, Some("signature_role")),
        (LEAD, Lead, None),
        (LEAD, Deputy, Some("signature_role")),
        (LONE_LEAD, Deputy, None),
        (LONE_LEAD, Lead, None),
        (OTHER_LEAD, Handler, Some("signature_role")),
        (OTHER_LEAD, Lead, Some("signature_role")),
        (OTHER_LEAD, Deputy, Some("signature_role")),
        (SUPERVISOR, Handler, Some("signature_role")),
        (SUPERVISOR, Household, Some("signature_role")),
        (SUPERVISOR, Lead, Some("signature_role")),
        (ADMIN, Handler, Some("administrator_writes")),
    ];
    let mut base = record_at(RecordKind::FundCheck, ReviewStatus::Submitted);
    for (n, (person, role, want)) in cases.iter().enumerate() {
        let mut doc = copy(&mut base);
        let before = doc.read();
        doc.apply(&[sign(n as u8 + 1, *role, "签字人")], &ctx(*person)).unwrap();
        let after = doc.read();
        assert_eq!(after.signatures.len(), 1);
        assert_eq!(code(check(person.author(), Some(&before), &after)), *want, "{role:?} by {}", person.user);
        // Uploaded by someone else, it is not theirs to give.
        let other = if *person == MEMBER { DEPUTY } else { MEMBER };
        assert_eq!(
            code(check(other.author(), Some(&before), &after)),
            Some("signature_author"),
            "{role:?} by {} uploaded by {}",
            person.user,
            other.user
        );
    }
    // Once given, a signature never changes and is never removed.
    let mut doc = copy(&mut base);
    let before = doc.read();
    doc.apply(&[sign(40, Interviewee, "张某")], &ctx(MEMBER)).unwrap();
    let signed = doc.read();
    assert_eq!(check(MEMBER.author(), Some(&before), &signed), Ok(()));
    let changes: [fn(&mut Signature); 6] = [
        |s| s.signer = "李某".into(),
        |s| s.role = Household,
        |s| s.by = "zhao".into(),
        |s| s.at_ms += 1,
        |s| s.image.sha256 = "ab".repeat(32),
        |s| s.strokes = "[]".into(),
    ];
    for (i, change) in changes.iter().enumerate() {
        let mut after = signed.clone();
        change(&mut after.signatures[0]);
        for person in [MEMBER, SUPERVISOR, LEAD] {
            assert_eq!(code(check(person.author(), Some(&signed), &after)), Some("signature_changed"), "change {i}");
        }
    }
    let mut removed = signed.clone();
    removed.signatures.clear();
    assert_eq!(code(check(SUPERVISOR.author(), Some(&signed), &removed)), Some("signature_changed"));
    // A later edit voids it visibly; that is no change of the signature.
    doc.apply(&[Edit::Narrative { text: "补记".into() }], &ctx(MEMBER)).unwrap();
    let after = doc.read();
    assert!(after.signatures[0].void);
    assert_eq!(check(MEMBER.author(), Some(&signed), &after), Ok(()));
}

fn ledger() -> Edit {
    Edit::Ledger {
        change: LedgerChange {
            unit: Some("上坪村村委会".into()),
            owner: Some("王某".into()),
            measures: Some("追回资金并公示".into()),
            deadline: Some("2024-09-30".into()),
            kind: Some(RectifyKind::Deadline),
        },
    }
}

fn progress(n: u8, text: &str) -> Edit {
    Edit::AddProgress { id: ItemId::new(now(), &[n; 10]), text: text.into(), attachments: vec![image(n)] }
}

#[test]
fn the_ledger_is_filled_in_by_the_office_or_the_lead_once_approved() {
    use ReviewStatus::*;
    let kind = RecordKind::FundCheck;
    for status in ReviewStatus::ALL {
        let mut base = record_at(kind, *status);
        for person in EVERYONE {
            let mut doc = copy(&mut base);
            let before = doc.read();
            doc.apply(&[ledger()], &ctx(person)).unwrap();
            let after = doc.read();
            assert_eq!(after.rectification.as_ref().unwrap().unit, "上坪村村委会");
            let open = matches!(status, OfficeApproved | Rectifying);
            let may = matches!(person, SUPERVISOR | LEAD | LONE_LEAD);
            let want = if person == ADMIN {
                Some("administrator_writes")
            } else if !open {
                Some("ledger_state")
            } else if !may {
                Some("ledger_role")
            } else {
                None
            };
            assert_eq!(code(check(person.author(), Some(&before), &after)), want, "{status:?} by {}", person.user);
        }
    }
    // The office starts the rectification and fills in the ledger in one change.
    let mut doc = record_at(kind, OfficeApproved);
    let before = doc.read();
    let start = step_by(SUPERVISOR, &before, Rectifying).unwrap();
    doc.apply(&[start, ledger()], &ctx(SUPERVISOR)).unwrap();
    assert_eq!(check(SUPERVISOR.author(), Some(&before), &doc.read()), Ok(()));
    // Each term, and clearing one, is a change of the ledger.
    let mut doc = record_at(kind, Rectifying);
    doc.apply(&[ledger()], &ctx(LEAD)).unwrap();
    let before = doc.read();
    let clear = Edit::Ledger { change: LedgerChange { deadline: Some(String::new()), ..LedgerChange::default() } };
    doc.apply(&[clear], &ctx(MEMBER)).unwrap();
    let after = doc.read();
    assert_eq!(after.rectification.as_ref().unwrap().deadline, None);
    assert_eq!(code(check(MEMBER.author(), Some(&before), &after)), Some("ledger_role"));
    assert_eq!(check(LEAD.author(), Some(&before), &after), Ok(()));
    // Talks have no ledger.
    let mut talk = record_at(RecordKind::Talk, OfficeApproved);
    assert!(matches!(talk.apply(&[ledger()], &ctx(SUPERVISOR)), Err(DomainError::FieldNotInKind { .. })));
}

#[test]
fn progress_is_added_in_ones_own_name_while_rectifying_and_never_changed() {
    use ReviewStatus::*;
    let kind = RecordKind::FundCheck;
    for status in [OfficeApproved, Rectifying, Rectified, HandedOver] {
        let mut base = record_at(kind, status);
        for person in EVERYONE {
            let mut doc = copy(&mut base);
            let before = doc.read();
            doc.apply(&[progress(1, "已追回资金 600 元")], &ctx(person)).unwrap();
            let after = doc.read();
            // The record's team adds progress, and the office; not a lead of another team.
            let want = if person == ADMIN {
                Some("administrator_writes")
            } else if status != Rectifying {
                Some("ledger_state")
            } else if person == OTHER_LEAD {
                Some("ledger_role")
            } else {
                None
            };
            assert_eq!(code(check(person.author(), Some(&before), &after)), want, "{status:?} by {}", person.user);
            if person != ADMIN {
                let other = if person == MEMBER { SUPERVISOR } else { MEMBER };
                assert_eq!(code(check(other.author(), Some(&before), &after)), Some("progress_author"));
            }
        }
    }
    let mut doc = record_at(kind, Rectifying);
    doc.apply(&[ledger()], &ctx(LEAD)).unwrap();
    let before = doc.read();
    doc.apply(&[progress(2, "已公示")], &ctx(MEMBER)).unwrap();
    let after = doc.read();
    assert_eq!(check(MEMBER.author(), Some(&before), &after), Ok(()));
    let changes: [fn(&mut Progress); 3] =
        [|p| p.text.push_str("（改）"), |p| p.by = "li".into(), |p| p.attachments.clear()];
    for change in changes {
        let mut changed = after.clone();
        change(&mut changed.rectification.as_mut().unwrap().progress[0]);
        assert_eq!(code(check(SUPERVISOR.author(), Some(&after), &changed)), Some("progress_changed"));
    }
    let mut removed = after.clone();
    removed.rectification.as_mut().unwrap().progress.clear();
    assert_eq!(code(check(SUPERVISOR.author(), Some(&after), &removed)), Some("progress_changed"));
    // Closing the rectification out keeps the progress.
    let mut closing = copy(&mut doc);
    let record = closing.read();
    closing.apply(&[step_by(LEAD, &record, Rectified).unwrap()], &ctx(LEAD)).unwrap();
    let closed = closing.read();
    assert_eq!(closed.rectification.as_ref().unwrap().progress.len(), 1);
    assert_eq!(check(LEAD.author(), Some(&after), &closed), Ok(()));
}

#[test]
fn identity_never_changes() {
    let before = record_at(RecordKind::FundCheck, ReviewStatus::Submitted).read();
    let forgeries: [fn(&mut Record); 3] =
        [|r| r.kind = RecordKind::GangClue, |r| r.creator = "wang".into(), |r| r.created_at_ms += 1];
    for forge in forgeries {
        let mut after = before.clone();
        forge(&mut after);
        for person in EVERYONE.into_iter().filter(|p| *p != ADMIN) {
            assert_eq!(
                code(check(person.author(), Some(&before), &after)),
                Some("identity_changed"),
                "{}",
                person.user
            );
        }
    }
}

#[test]
fn administrators_never_write() {
    let mut doc = record(RecordKind::FundCheck);
    let before = doc.read();
    assert_eq!(code(check(ADMIN.author(), None, &before)), Some("administrator_writes"));
    assert_eq!(code(check(ADMIN.author(), Some(&before), &before)), Some("administrator_writes"));
    doc.apply(&[Edit::AddTag { tag: "重点".into() }], &ctx(ADMIN)).unwrap();
    assert_eq!(code(check(ADMIN.author(), Some(&before), &doc.read())), Some("administrator_writes"));
    // Anyone else may upload a change that breaks no rule.
    assert_eq!(check(SUPERVISOR.author(), Some(&before), &before), Ok(()));
    assert_eq!(check(MEMBER.author(), Some(&before), &doc.read()), Ok(()));
}

#[test]
fn drafts_only_are_withdrawn_by_their_creator_or_a_supervisor() {
    let mut doc = record(RecordKind::FundCheck);
    let before = doc.read();
    doc.apply(&[Edit::Withdraw], &ctx(MEMBER)).unwrap();
    let withdrawn = doc.read();
    assert!(withdrawn.withdrawn.is_some());
    // (who uploads it, the refusal)
    let cases = [
        (MEMBER, None),
        (SUPERVISOR, None),
        (DEPUTY, Some("withdraw_others")),
        (LEAD, Some("withdraw_others")),
        (LONE_LEAD, Some("withdraw_others")),
        (OTHER_LEAD, Some("withdraw_others")),
        (ADMIN, Some("administrator_writes")),
    ];
    for (person, want) in cases {
        assert_eq!(code(check(person.author(), Some(&before), &withdrawn)), want, "{}", person.user);
    }
    // A new record that arrives withdrawn: its creator's.
    assert_eq!(check(MEMBER.author(), None, &withdrawn), Ok(()));
    assert_eq!(code(check(DEPUTY.author(), None, &withdrawn)), Some("withdraw_others"));
    // Nothing past draft is withdrawn: the document refuses, and a forged withdrawal too.
    for status in ReviewStatus::ALL.iter().filter(|s| **s != ReviewStatus::Draft) {
        let mut doc = record_at(RecordKind::FundCheck, *status);
        assert_eq!(doc.apply(&[Edit::Withdraw], &ctx(MEMBER)).unwrap_err(), DomainError::NotADraft { status: *status });
        let before = doc.read();
        let mut pulled = before.clone();
        pulled.withdrawn = withdrawn.withdrawn.clone();
        for person in [MEMBER, SUPERVISOR] {
            assert_eq!(code(check(person.author(), Some(&before), &pulled)), Some("withdraw_submitted"), "{status:?}");
        }
    }
}

#[test]
fn comments_are_added_in_ones_own_name_and_never_changed() {
    let mut doc = record_at(RecordKind::FundCheck, ReviewStatus::Submitted);
    let before = doc.read();
    doc.apply(&[Edit::AddComment { id: ItemId::new(now(), &[9; 10]), text: "已核对银行流水".into() }], &ctx(MEMBER))
        .unwrap();
    let after = doc.read();
    assert_eq!(check(MEMBER.author(), Some(&before), &after), Ok(()));
    // The same change uploaded by someone else names zhang as the comment's author.
    for person in [DEPUTY, LEAD, SUPERVISOR] {
        assert_eq!(code(check(person.author(), Some(&before), &after)), Some("comment_author"));
    }
    // A later change that drops or edits the comment is refused, whoever makes it.
    assert_eq!(code(check(SUPERVISOR.author(), Some(&after), &before)), Some("comment_changed"));
    let mut edited = after.clone();
    edited.review.comments[0].text.push_str("（改）");
    assert_eq!(code(check(MEMBER.author(), Some(&after), &edited)), Some("comment_changed"));
    let mut renamed = after.clone();
    renamed.review.comments[0].author = "li".into();
    assert_eq!(code(check(SUPERVISOR.author(), Some(&after), &renamed)), Some("comment_changed"));
}

/// Decisions belong to the layout before the workflow: a record written then keeps its
/// decision, and nobody writes one again.
#[test]
fn decisions_of_older_records_are_never_written_again() {
    let bytes = include_bytes!("../fixtures/v1/fund_check_verified.automerge");
    let mut doc = RecordDoc::load(bytes).unwrap();
    let before = doc.read();
    let decision = before.review.decision.clone().unwrap();
    assert_eq!(decision.status, ReviewStatus::OfficeApproved);
    let forgeries: [fn(&mut Decision); 4] =
        [|d| d.note.push('！'), |d| d.status = ReviewStatus::Closed, |d| d.by = "mallory".into(), |d| d.at_ms += 1];
    for forge in forgeries {
        let mut after = before.clone();
        forge(after.review.decision.as_mut().unwrap());
        assert_eq!(code(check(SUPERVISOR.author(), Some(&before), &after)), Some("review_decision"));
    }
    let mut dropped = before.clone();
    dropped.review.decision = None;
    assert_eq!(code(check(SUPERVISOR.author(), Some(&before), &dropped)), Some("review_decision"));
    // A step on it leaves the decision as it was.
    let edit =
        workflow::transition(SUPERVISOR.standing(), &before, ReviewStatus::Closed, "不予追究", None, None).unwrap();
    doc.apply(&[edit], &ctx(SUPERVISOR)).unwrap();
    let after = doc.read();
    assert_eq!(after.review.decision.as_ref().map(|d| (&d.note, d.void)), Some((&decision.note, false)));
    assert_eq!(check(SUPERVISOR.author(), Some(&before), &after), Ok(()));
}

/// The last progress goes up in the change that closes the rectification out (销号).
#[test]
fn progress_in_the_change_that_closes_out_is_taken() {
    let mut base = record_at(RecordKind::FundCheck, ReviewStatus::Rectifying);
    let mut doc = copy(&mut base);
    let before = doc.read();
    let close = step_by(LEAD, &before, ReviewStatus::Rectified).unwrap();
    doc.apply(&[progress(7, "已全部退还"), close], &ctx(LEAD)).unwrap();
    let after = doc.read();
    assert_eq!(after.review.status, ReviewStatus::Rectified);
    assert_eq!(check(LEAD.author(), Some(&before), &after), Ok(()));
    // But not on a record already closed out.
    let mut closed = copy(&mut base);
    let rectified = closed.read();
    closed.apply(&[step_by(LEAD, &rectified, ReviewStatus::Rectified).unwrap()], &ctx(LEAD)).unwrap();
    let done = closed.read();
    closed.apply(&[progress(8, "事后补记")], &ctx(LEAD)).unwrap();
    assert_eq!(code(check(LEAD.author(), Some(&done), &closed.read())), Some("ledger_state"));
}
