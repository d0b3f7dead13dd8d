//! Documents written by the release before the 巡察 workflow (layout 1, `fixtures/v1`, see
//! its README): they open with their old statuses and gang-clue codes read as what they
//! stand for, keep their decisions, take workflow steps (which mark them layout 2), and
//! maps that layout 1 lacks, created by two devices at once, lose neither device's entries.

use std::path::Path;

use automerge::{ROOT, ReadDoc};
use serde_json::Value as Json;
use xuncha_domain::rules::{Author, check};
use xuncha_domain::workflow;
use xuncha_domain::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1");

/// One fixture as its manifest describes it, and its document.
struct Fixture {
    file: String,
    entry: Json,
    doc: RecordDoc,
}

impl Fixture {
    fn text(&self, key: &str) -> Option<&str> {
        self.entry[key].as_str()
    }

    fn copy(&mut self) -> RecordDoc {
        RecordDoc::load(&self.doc.save()).unwrap()
    }
}

fn fixtures() -> Vec<Fixture> {
    let manifest: Json =
        serde_json::from_str(&std::fs::read_to_string(Path::new(FIXTURES).join("manifest.json")).unwrap()).unwrap();
    let entries = manifest.as_array().unwrap();
    assert_eq!(entries.len(), 12);
    entries
        .iter()
        .map(|entry| {
            let file = entry["file"].as_str().unwrap().to_owned();
            let bytes = std::fs::read(Path::new(FIXTURES).join(&file)).unwrap();
            let doc = RecordDoc::load(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
            Fixture { file, entry: entry.clone(), doc }
        })
        .collect()
}

fn fixture(file: &str) -> Fixture {
    fixtures().into_iter().find(|f| f.file == file).unwrap()
}

/// The layout version stored in a saved document, read with Automerge itself.
fn schema_of(bytes: &[u8]) -> i64 {
    let doc = automerge::AutoCommit::load(bytes).unwrap();
    match doc.get(ROOT, "schema").unwrap() {
        Some((automerge::Value::Scalar(s), _)) => s.as_i64().unwrap(),
        other => panic!("no schema: {other:?}"),
    }
}

/// How many objects the key `steps` of the review block holds (concurrent ones included).
fn steps_maps(bytes: &[u8]) -> usize {
    let doc = automerge::AutoCommit::load(bytes).unwrap();
    let Some((_, review)) = doc.get(ROOT, "review").unwrap() else { panic!("no review") };
    doc.get_all(&review, "steps").unwrap().len()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Person {
    user: &'static str,
    actor: u8,
    role: Reader,
    team: Option<TeamRole>,
}

impl Person {
    fn author(self) -> Author<'static> {
        Author { user: self.user, role: self.role, team: self.team, team_has_deputy: true }
    }

    fn ctx(self, now_ms: i64) -> EditContext {
        EditContext {
            author: UserId::new(self.user).unwrap(),
            device: DeviceId::new(format!("device-{}", self.user)).unwrap(),
            // Not an actor of the fixtures (0x11, 0x22, 0x99).
            actor: ActorId::from([self.actor; 16]),
            now_ms,
        }
    }
}

/// The fund checks' inspector, now a member of the team.
const ZHANGLI: Person = Person { user: "zhangli", actor: 0xa1, role: Reader::Inspector, team: Some(TeamRole::Member) };
const WANGQIANG: Person =
    Person { user: "wangqiang", actor: 0xa2, role: Reader::Inspector, team: Some(TeamRole::Member) };
const DEPUTY: Person = Person { user: "zhao", actor: 0xa3, role: Reader::Inspector, team: Some(TeamRole::Deputy) };
const LEAD: Person = Person { user: "wang", actor: 0xa4, role: Reader::TeamLead, team: Some(TeamRole::Lead) };
/// The supervisor who made the old decisions.
const CHENJING: Person = Person { user: "chenjing", actor: 0xa5, role: Reader::Supervisor, team: None };

const NOW: i64 = 1_712_000_000_000;

/// Someone who may take `rule` (the record's creator for a handler's step).
fn taker(rule: &workflow::Rule, creator: &str) -> Person {
    let creator = [ZHANGLI, WANGQIANG].into_iter().find(|p| p.user == creator).unwrap();
    [creator, DEPUTY, LEAD, CHENJING]
        .into_iter()
        .find(|p| rule.who.capacity_of(p.author().standing()).is_some())
        .unwrap()
}

/// The step `rule` with all it needs, as `person` asks the app for it.
fn take(person: Person, record: &Record, rule: &workflow::Rule) -> Edit {
    let note = if rule.needs_note { "按新流程处理" } else { "" };
    let conclusion = rule.needs_conclusion.then_some(Conclusion::Confirmed);
    let handover = rule.needs_handover.then(|| Handover {
        to: HandoverTo::Commission,
        unit: String::new(),
        number: "东巡移〔2024〕1号".into(),
        date: "2024-04-01".into(),
    });
    workflow::transition(person.author().standing(), record, rule.to, note, conclusion, handover).unwrap()
}

#[test]
fn old_statuses_decisions_and_codes_read_as_what_they_stand_for() {
    let mut fixtures = fixtures();
    let (mut expelled, mut party_members, mut officials) = (0, 0, 0);
    for f in &mut fixtures {
        let file = f.file.clone();
        let record = f.doc.read();
        assert_eq!(record.id.to_string(), f.text("record_id").unwrap(), "{file}");
        assert_eq!(record.kind.code(), f.text("kind").unwrap(), "{file}");
        assert_eq!(record.text(Field::Title), f.text("title"), "{file}");
        // Old statuses.
        let old = f.text("old_status").unwrap().to_owned();
        let old = old.as_str();
        let status = match old {
            "draft" => ReviewStatus::Draft,
            "submitted" => ReviewStatus::Submitted,
            "needs_more" => ReviewStatus::Returned,
            "verified" => ReviewStatus::OfficeApproved,
            "case_filed" => ReviewStatus::HandedOver,
            "not_pursued" | "closed" => ReviewStatus::Closed,
            other => panic!("{file}: unexpected old status {other}"),
        };
        assert_eq!(record.review.status, status, "{file}");
        assert_eq!(f.doc.status(), status, "{file}");
        assert_eq!(ReviewStatus::from_stored(old), Some(status));
        assert_eq!(f.doc.projection().status, status.code(), "{file}");
        // Layout 1 has no steps (nor a map for them), no conclusion, no ledger, sources or signatures.
        assert!(record.review.steps.is_empty(), "{file}");
        assert_eq!(steps_maps(&f.doc.save()), 0, "{file}");
        assert_eq!(record.review.conclusion, None);
        assert!(record.rectification.is_none() && record.sources.is_empty() && record.signatures.is_empty());
        // Decisions are still there, with their statuses read the new way, and not void.
        match f.text("decision_status") {
            Some(decided) => {
                let decision = record.review.decision.as_ref().unwrap_or_else(|| panic!("{file}: decision lost"));
                assert_eq!(Some(decision.status), ReviewStatus::from_stored(decided), "{file}");
                assert_eq!(decision.by, "chenjing", "{file}");
                assert!(!decision.heads.is_empty(), "{file}");
                assert!(!decision.void, "{file}: decision void");
            }
            None => assert!(record.review.decision.is_none(), "{file}"),
        }
        assert_eq!(f.entry["has_decision"].as_bool(), Some(record.review.decision.is_some()));
        if old == "needs_more" {
            assert_eq!(record.review.comments.len(), 1, "{file}");
        }
        // Nothing unreadable, nothing unknown, nothing in conflict.
        assert!(record.malformed.is_empty(), "{file}: {:?}", record.malformed);
        let problems = validate(&record);
        assert!(problems.iter().all(|p| p.code != "unknown_code"), "{file}: {problems:?}");
        assert!(problems.is_empty(), "{file}: {problems:?}");
        assert!(f.doc.conflicts().is_empty(), "{file}");
        let projection = f.doc.projection();
        assert_eq!(projection.problem_count, 0, "{file}");
        match record.kind {
            RecordKind::FundCheck => {
                assert_eq!(f.entry["clue_source"], Json::Null);
                assert_eq!(
                    (projection.shortfall_fen, projection.households, projection.households_verified),
                    (60_000, 3, 2),
                    "{file}"
                );
            }
            RecordKind::GangClue => {
                let (source, outcome_expected) = (f.text("clue_source").unwrap(), f.text("disposition").unwrap());
                let want_source = match source {
                    "petition" | "report" => ClueSource::PetitionReport,
                    "audit" => ClueSource::AuditReferral,
                    "discipline_case" => ClueSource::Other,
                    "patrol" => ClueSource::Patrol,
                    other => panic!("{file}: unexpected clue source {other}"),
                };
                assert_eq!(record.text(Field::ClueSource), Some(want_source.code()), "{file}");
                let (want_disposition, want_outcome) = match outcome_expected {
                    "preliminary_check" | "case_opened" => (Disposition::PreliminaryCheck, None),
                    "expelled_from_party" => (Disposition::PreliminaryCheck, Some(Outcome::Expelled)),
                    "transferred_to_judiciary" => (Disposition::PreliminaryCheck, Some(Outcome::ToProcuratorate)),
                    "not_filed" => (Disposition::Concluded, None),
                    other => panic!("{file}: unexpected disposition {other}"),
                };
                assert_eq!(record.text(Field::Disposition), Some(want_disposition.code()), "{file}");
                assert_eq!(record.text(Field::Outcome), want_outcome.map(Outcome::code), "{file}");
                // The labels people search by are the new ones.
                assert!(projection.search_text.contains(want_source.zh()), "{file}");
                assert!(projection.search_text.contains(want_disposition.zh()), "{file}");
                expelled += projection.party_members_expelled;
                party_members += projection.party_members;
                officials += projection.public_officials;
            }
            other => panic!("{file}: unexpected kind {other:?}"),
        }
    }
    assert_eq!((expelled, party_members, officials), (1, 5, 5));
}

#[test]
fn a_workflow_edit_marks_the_document_layout_2_and_it_still_reads() {
    // The returned fund check, resubmitted by its handler.
    let mut f = fixture("fund_check_needs_more.automerge");
    assert_eq!(schema_of(&f.doc.save()), 1);
    let mut doc = f.copy();
    let before = doc.read();
    assert_eq!(before.review.status, ReviewStatus::Returned);
    // An edit of the content leaves the layout as it was (the old release still reads it),
    // and voids the old decision as it always did.
    let mut plain = f.copy();
    plain.apply(&[Edit::AddTag { tag: "复查".into() }], &ZHANGLI.ctx(NOW)).unwrap();
    assert_eq!(schema_of(&plain.save()), 1);
    assert!(plain.read().review.decision.unwrap().void);
    let resubmit = Edit::Transition {
        to: ReviewStatus::Submitted,
        capacity: Capacity::Handler,
        note: String::new(),
        conclusion: None,
        handover: None,
    };
    doc.apply(&[resubmit], &ZHANGLI.ctx(NOW + 1_000)).unwrap();
    let bytes = doc.save();
    assert_eq!(schema_of(&bytes), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 2);
    let mut reloaded = RecordDoc::load(&bytes).unwrap();
    let after = reloaded.read();
    assert_eq!(after, doc.read());
    assert_eq!(after.review.status, ReviewStatus::Submitted);
    let steps: Vec<_> = after.review.steps.iter().map(|s| (s.from, s.to, s.by.as_str(), s.capacity, s.void)).collect();
    assert_eq!(steps, vec![(ReviewStatus::Returned, ReviewStatus::Submitted, "zhangli", Capacity::Handler, false)]);
    assert_eq!(after.review.decision.as_ref().map(|d| (d.status, d.void)), Some((ReviewStatus::Returned, false)));
    assert_eq!(after.review.comments, before.review.comments);
    assert_eq!(after.text(Field::Title), before.text(Field::Title));
    assert_eq!(check(ZHANGLI.author(), Some(&before), &after), Ok(()));
    assert_eq!(reloaded.projection().status, "submitted");
    // It goes on along the workflow.
    let record = reloaded.read();
    let review =
        workflow::transition(DEPUTY.author().standing(), &record, ReviewStatus::DeputyReviewed, "", None, None);
    reloaded.apply(&[review.unwrap()], &DEPUTY.ctx(NOW + 2_000)).unwrap();
    assert_eq!(check(DEPUTY.author(), Some(&record), &reloaded.read()), Ok(()));
    assert_eq!(reloaded.read().review.steps.len(), 2);
}

/// Every layout-1 document takes every step the workflow has from its status, by someone
/// who may take it; the server lets it stand, and the document is layout 2 after.
#[test]
fn every_old_document_takes_every_step_open_to_it() {
    let mut taken = 0;
    for mut f in fixtures() {
        let record = f.doc.read();
        let rules: Vec<&workflow::Rule> = workflow::rules_from(record.kind, record.review.status).collect();
        if record.review.status.is_final() {
            assert!(rules.is_empty(), "{}", f.file);
        }
        for rule in rules {
            let mut doc = f.copy();
            let person = taker(rule, &record.creator);
            doc.apply(&[take(person, &record, rule)], &person.ctx(NOW)).unwrap();
            let bytes = doc.save();
            assert_eq!(schema_of(&bytes), 2, "{}", f.file);
            assert_eq!(steps_maps(&bytes), 1);
            let after = RecordDoc::load(&bytes).unwrap().read();
            assert_eq!(after.review.status, rule.to, "{}", f.file);
            assert_eq!(after.review.steps.len(), 1);
            assert_eq!(after.review.decision.as_ref().map(|d| d.void), record.review.decision.as_ref().map(|_| false));
            assert_eq!(check(person.author(), Some(&record), &after), Ok(()), "{}: {rule:?}", f.file);
            taken += 1;
        }
    }
    // draft ×2 and returned: 1 each; submitted ×4: 2 each; verified ×2: 3 each.
    assert_eq!(taken, 3 + 8 + 6);
}

#[test]
fn two_devices_taking_the_first_step_at_once_both_keep_their_step() {
    let mut f = fixture("fund_check_submitted.automerge");
    let record = f.doc.read();
    // The deputy reviews on one tablet, the lead returns it on another, neither having
    // heard of the other: each creates `review/steps`.
    let mut a = f.copy();
    let mut b = f.copy();
    let review =
        workflow::transition(DEPUTY.author().standing(), &record, ReviewStatus::DeputyReviewed, "", None, None);
    a.apply(&[review.unwrap()], &DEPUTY.ctx(NOW)).unwrap();
    let back =
        workflow::transition(LEAD.author().standing(), &record, ReviewStatus::Returned, "缺少发放名册", None, None);
    b.apply(&[back.unwrap()], &LEAD.ctx(NOW + 500)).unwrap();
    let server = a.read();
    a.merge(&mut b).unwrap();
    let bytes = a.save();
    assert_eq!(steps_maps(&bytes), 2, "both devices created the steps map");
    let merged = RecordDoc::load(&bytes).unwrap().read();
    let steps: Vec<_> = merged.review.steps.iter().map(|s| (s.from, s.to, s.by.as_str())).collect();
    assert_eq!(
        steps,
        vec![
            (ReviewStatus::Submitted, ReviewStatus::DeputyReviewed, "zhao"),
            (ReviewStatus::Submitted, ReviewStatus::Returned, "wang"),
        ]
    );
    assert_eq!(merged.review.steps[1].note, "缺少发放名册");
    // Both replicas read the same, whichever way they merged.
    b.merge(&mut a).unwrap();
    assert_eq!(b.read(), a.read());
    assert_eq!(a.read(), merged);
    // The server took the deputy's step first: the lead's comes from a status the record
    // has left, and is refused.
    assert_eq!(check(LEAD.author(), Some(&server), &merged).unwrap_err().code, "transition");
    // A later step (on the merged replica) is written into one of the maps and read with the others.
    let mut c = RecordDoc::load(&bytes).unwrap();
    let status = c.read().review.status;
    let next = workflow::rules_from(RecordKind::FundCheck, status).next().unwrap();
    let person = taker(next, &record.creator);
    let current = c.read();
    c.apply(&[take(person, &current, next)], &person.ctx(NOW + 1_000)).unwrap();
    assert_eq!(c.read().review.steps.len(), 3);
}

#[test]
fn maps_layout_1_lacks_created_on_two_devices_at_once_keep_both_entries() {
    let mut f = fixture("fund_check_verified.automerge");
    let base = f.doc.read();
    let source = |n: u8| RecordId::new(NOW, &[n; 10]);
    let image = |n: u8| AttachmentRef {
        sha256: format!("{n:02x}").repeat(32),
        mime: "image/png".into(),
        size: 1024,
        caption: String::new(),
        taken_at_ms: None,
        gps: None,
    };
    let sign = |n: u8, signer: &str| Edit::Sign {
        id: ItemId::new(NOW, &[n; 10]),
        role: SignerRole::Handler,
        signer: signer.into(),
        image: image(n),
        strokes: String::new(),
    };
    let ledger = |change: LedgerChange| Edit::Ledger { change };
    let mut a = f.copy();
    let mut b = f.copy();
    a.apply(
        &[
            Edit::Cite { source: source(1) },
            sign(1, "张丽"),
            ledger(LedgerChange { unit: Some("下坪村村委会".into()), ..LedgerChange::default() }),
        ],
        &ZHANGLI.ctx(NOW),
    )
    .unwrap();
    b.apply(
        &[
            Edit::Cite { source: source(2) },
            sign(2, "王强"),
            ledger(LedgerChange { owner: Some("李某".into()), ..LedgerChange::default() }),
        ],
        &WANGQIANG.ctx(NOW + 500),
    )
    .unwrap();
    a.merge(&mut b).unwrap();
    let merged = a.read();
    let mut sources: Vec<RecordId> = merged.sources.iter().map(|c| c.record).collect();
    sources.sort();
    assert_eq!(sources, vec![source(1), source(2)]);
    let signers: Vec<&str> = merged.signatures.iter().map(|s| s.signer.as_str()).collect();
    assert_eq!(signers, vec!["张丽", "王强"]);
    let ledger = merged.rectification.as_ref().unwrap();
    assert_eq!((ledger.unit.as_str(), ledger.owner.as_str()), ("下坪村村委会", "李某"));
    assert_eq!(merged.review.status, base.review.status);
    // Uncited on the merged replica, a source goes from whichever map held it.
    a.apply(&[Edit::Uncite { source: source(2) }], &ZHANGLI.ctx(NOW + 1_000)).unwrap();
    assert_eq!(a.read().sources.iter().map(|c| c.record).collect::<Vec<_>>(), vec![source(1)]);
}

/// Two devices add the first rectification progress of a layout-1 record at once: each
/// creates `rectification` (and `progress` in it). `codec::read_rectification` reads the
/// `progress` entry of the root maps through `entries`, which keeps each key once, so only
/// the winning map's `progress` is read and the other device's entry is lost from the read
/// (the data is still in the document). Fix: read every `progress` map of every
/// `rectification` map, e.g. in `read_rectification`:
/// `maps(doc, &ROOT, RECTIFICATION).iter().flat_map(|r| maps(doc, r, PROGRESS))` and
/// their entries, instead of `entries(doc, &ROOT, RECTIFICATION).filter(|(k, _)| k == PROGRESS)`.
#[test]

fn progress_added_on_two_devices_at_once_to_an_old_record_keeps_both() {
    let mut f = fixture("fund_check_verified.automerge");
    let record = f.doc.read();
    let mut server = f.copy();
    let rule =
        workflow::rule_for(RecordKind::FundCheck, ReviewStatus::OfficeApproved, ReviewStatus::Rectifying).unwrap();
    server.apply(&[take(CHENJING, &record, rule)], &CHENJING.ctx(NOW)).unwrap();
    let mut a = RecordDoc::load(&server.save()).unwrap();
    let mut b = RecordDoc::load(&server.save()).unwrap();
    let progress = |n: u8, text: &str| Edit::AddProgress {
        id: ItemId::new(NOW, &[n; 10]),
        text: text.into(),
        attachments: vec![],
    };
    a.apply(&[progress(1, "已追回 600 元")], &ZHANGLI.ctx(NOW + 1_000)).unwrap();
    b.apply(&[progress(2, "已张榜公示")], &LEAD.ctx(NOW + 1_500)).unwrap();
    a.merge(&mut b).unwrap();
    let texts: Vec<String> =
        a.read().rectification.map(|r| r.progress.into_iter().map(|p| p.text).collect()).unwrap_or_default();
    assert_eq!(texts, vec!["已追回 600 元".to_owned(), "已张榜公示".to_owned()]);
}

/// Two devices start the ledger of a layout-1 record at once (each creates
/// `rectification`): one enters the unit, the other the owner. Both read after the merge,
/// but clearing either afterwards writes to the winning map only (`codec::ensure_map` +
/// `set_settling`), so a term held by the other map stays. Fix: in `Edit::Ledger`, clear (and
/// settle) the key in every map `codec::maps(doc, &ROOT, RECTIFICATION)` returns, as
/// `Edit::Uncite` does for sources.
#[test]

fn ledger_terms_entered_on_two_devices_at_once_can_be_cleared() {
    let mut f = fixture("fund_check_verified.automerge");
    let mut a = f.copy();
    let mut b = f.copy();
    let ledger = |change: LedgerChange| Edit::Ledger { change };
    a.apply(
        &[ledger(LedgerChange { unit: Some("下坪村村委会".into()), ..LedgerChange::default() })],
        &ZHANGLI.ctx(NOW),
    )
    .unwrap();
    b.apply(
        &[ledger(LedgerChange { owner: Some("李某".into()), ..LedgerChange::default() })],
        &WANGQIANG.ctx(NOW + 500),
    )
    .unwrap();
    a.merge(&mut b).unwrap();
    let clear = LedgerChange { unit: Some(String::new()), owner: Some(String::new()), ..LedgerChange::default() };
    a.apply(&[ledger(clear)], &CHENJING.ctx(NOW + 1_000)).unwrap();
    let read = a.read().rectification.map(|r| (r.unit, r.owner));
    assert_eq!(read, None, "both terms cleared: the ledger is empty");
}
