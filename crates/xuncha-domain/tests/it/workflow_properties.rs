//! Property test of the workflow under sync: 2 or 3 replicas (devices, each of one person of
//! some standing toward the record) attempt random transitions (built by the app with
//! `workflow::transition`, or forged in a random capacity, sometimes in another person's
//! name, sometimes without the note, conclusion or hand-over they need), pull from a
//! simulated server, merge with each other in random orders, and upload. The server takes
//! a replica's new changes only if `rules::check` of the replica's owner passes on (server
//! before, server after merging them); refused, it keeps what it had and the device starts
//! again from the server's copy (as the app does after "sync and look"). Like the real
//! server (`xuncha-server`'s sync refuses changes "not made by this device"), it first
//! refuses an upload carrying new changes of another device's actor: a device relays no
//! one else's unsynced changes. (Without that, `rules::check` alone would let a step
//! refused on one device reach the server relayed by a device of the person it names.)
//!
//! Meanwhile others take honest steps on the server's own version (`Op::Elsewhere`), so
//! that records get far along the workflow and replicas fall behind.
//!
//! Whatever happens, the server's record stays one the workflow explains: every step is a
//! step of `RULES` made in a capacity its author holds, with what it needs; every status it
//! ever holds is reached from draft through the recorded steps; and nothing of a refused
//! upload ever reaches it. An honest step taken on the server's own version and uploaded
//! before anything else reaches the server is accepted. That the steps, as read, also form
//! one chain (each starting where the one before led) is the ignored
//! `the_servers_steps_form_one_chain`: it does not hold yet (see there).

use std::collections::BTreeSet;

use proptest::prelude::*;
use xuncha_domain::rules::{Author, check};
use xuncha_domain::workflow::{self, RULES};
use xuncha_domain::*;

const CASES: u32 = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Person {
    user: &'static str,
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

const PEOPLE: [Person; 7] = [
    Person { user: "zhang", role: Reader::Inspector, team: Some(TeamRole::Member), has_deputy: true },
    Person { user: "zhao", role: Reader::Inspector, team: Some(TeamRole::Deputy), has_deputy: true },
    Person { user: "wang", role: Reader::TeamLead, team: Some(TeamRole::Lead), has_deputy: true },
    // The lead of a team without a deputy (for this person, the record's team has none).
    Person { user: "qian", role: Reader::TeamLead, team: Some(TeamRole::Lead), has_deputy: false },
    Person { user: "li", role: Reader::Supervisor, team: None, has_deputy: false },
    Person { user: "root", role: Reader::Administrator, team: None, has_deputy: false },
    // The lead of another team.
    Person { user: "sun", role: Reader::TeamLead, team: None, has_deputy: false },
];

const CAPACITIES: [Capacity; 4] = [Capacity::Handler, Capacity::Deputy, Capacity::Lead, Capacity::Office];

fn person(user: &str) -> Option<Person> {
    PEOPLE.into_iter().find(|p| p.user == user)
}

#[derive(Debug, Clone)]
enum Op {
    /// The replica's owner (or, `impostor`, someone writing in another's name on it) tries
    /// a step: one the workflow has from the replica's status (`pick` among them) unless
    /// `wild`, then any status; built by the app unless `forge` names a capacity.
    Attempt {
        replica: usize,
        pick: u8,
        wild: bool,
        forge: Option<usize>,
        impostor: Option<usize>,
        bare: bool,
    },
    Upload {
        replica: usize,
    },
    Pull {
        replica: usize,
    },
    Peer {
        into: usize,
        from: usize,
    },
    /// Someone else takes a step on the server's version from a device always in sync
    /// (the rest of the team and the office at work): one of the steps open on the server
    /// (`pick`), by the `by`-th of the people who may take it.
    Elsewhere {
        pick: u8,
        by: u8,
    },
}

fn op(replicas: usize) -> impl Strategy<Value = Op> {
    let attempt = (
        0..replicas,
        any::<u8>(),
        prop::bool::weighted(0.15),
        prop::option::weighted(0.25, 0..CAPACITIES.len()),
        prop::option::weighted(0.1, 0..PEOPLE.len()),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(replica, pick, wild, forge, impostor, bare)| Op::Attempt {
            replica,
            pick,
            wild,
            forge,
            impostor,
            bare,
        });
    prop_oneof![
        5 => attempt,
        4 => (0..replicas).prop_map(|replica| Op::Upload { replica }),
        2 => (0..replicas).prop_map(|replica| Op::Pull { replica }),
        1 => (0..replicas, 0..replicas).prop_map(|(into, from)| Op::Peer { into, from }),
        3 => (any::<u8>(), any::<u8>()).prop_map(|(pick, by)| Op::Elsewhere { pick, by }),
    ]
}

/// (a talk rather than a fund check, the owner of each replica, the operations)
fn scenario() -> impl Strategy<Value = (bool, Vec<usize>, Vec<Op>)> {
    (2usize..=3).prop_flat_map(|n| {
        (any::<bool>(), prop::collection::vec(0..PEOPLE.len(), n), prop::collection::vec(op(n), 1..80))
    })
}

struct Replica {
    doc: RecordDoc,
    owner: Person,
    /// Actors are never reused: a device that starts again writes as a new actor.
    generation: u8,
    /// The server's heads when this replica last held exactly them, if since then it took
    /// only honest steps of its owner's on top.
    honest_on: Option<Vec<ChangeHash>>,
}

fn actor(replica: usize, generation: u8) -> ActorId {
    let mut bytes = [0x5a; 16];
    bytes[0] = 0x10 + replica as u8;
    bytes[1] = generation;
    ActorId::from(bytes)
}

fn record(talk: bool) -> RecordDoc {
    let kind = if talk { RecordKind::Talk } else { RecordKind::FundCheck };
    let creator = EditContext {
        author: UserId::new("zhang").unwrap(),
        device: DeviceId::new("device-zhang").unwrap(),
        actor: ActorId::from([0xee; 16]),
        now_ms: 1_717_000_000_000,
    };
    let new = NewRecord {
        id: RecordId::new(1_717_000_000_000, &[7; 10]),
        kind,
        title: "石门村巡察记录".into(),
        round: "2024年第二轮".into(),
        township: Some(Division::new("330199101000", "东岭镇")),
        village: Some(Division::new("330199101003", "石门村")),
        team: "第二巡察组".into(),
    };
    let mut doc = RecordDoc::create(&new, &creator).unwrap();
    let text = |field, text: &str| Edit::Set { field, value: Some(Value::Text(text.into())) };
    let fill = if talk {
        vec![
            text(Field::Interviewee, "郑某"),
            Edit::Set { field: Field::TalkDate, value: Some(Value::Date("2024-06-03".into())) },
            text(Field::Interviewers, "张某、赵某"),
            text(Field::Recorder, "张某"),
            Edit::Narrative { text: "问：合同是怎么签的？答：村委会统一签订。".into() },
        ]
    } else {
        vec![
            text(Field::FundName, "危房改造补助"),
            Edit::Set { field: Field::FundType, value: Some(Value::Choice("dilapidated_housing".into())) },
            Edit::Set { field: Field::Allocated, value: Some(Value::Money(Yuan::from_yuan(60_000))) },
        ]
    };
    doc.apply(&fill, &EditContext { now_ms: 1_717_000_000_500, ..creator }).unwrap();
    doc
}

/// The record the server holds is one the workflow explains: every step is a step of
/// `RULES` made in a capacity its author holds, with what it needs; every status it was
/// ever in (each step's start) and the one it is in are reachable from draft through the
/// recorded steps; with `chain`, the steps (as read, oldest first) also form one chain from
/// draft to the status, each starting where the one before led. Nothing refused is on it.
fn assert_explained(server: &Record, refused: &BTreeSet<ChangeHash>, held: &BTreeSet<ChangeHash>, chain: bool) {
    let steps = &server.review.steps;
    for step in steps {
        let rule = workflow::rule_for(server.kind, step.from, step.to)
            .unwrap_or_else(|| panic!("no rule for {:?} → {:?} of a {:?}", step.from, step.to, server.kind));
        assert!(
            rule.who.first == step.capacity || rule.who.or == Some(step.capacity),
            "{step:?} in a capacity {rule:?} does not take"
        );
        let author = person(&step.by).unwrap_or_else(|| panic!("a step by nobody known: {step:?}"));
        assert!(author.standing().can_act_as(step.capacity), "{} does not hold {:?}: {step:?}", step.by, step.capacity);
        if rule.needs_note {
            assert!(!step.note.trim().is_empty(), "{step:?}");
        }
        if rule.needs_handover {
            assert!(step.handover.is_some(), "{step:?}");
        }
    }
    let mut reached = BTreeSet::from([ReviewStatus::Draft]);
    while let Some(next) = steps.iter().find(|s| reached.contains(&s.from) && !reached.contains(&s.to)) {
        reached.insert(next.to);
    }
    for status in steps.iter().map(|s| s.from).chain([server.review.status]) {
        assert!(reached.contains(&status), "{status:?} is not reached from draft by the steps: {steps:#?}");
    }
    if chain {
        let mut status = ReviewStatus::Draft;
        for step in steps {
            assert_eq!(step.from, status, "the steps do not form a chain: {steps:#?}");
            status = step.to;
        }
        assert_eq!(server.review.status, status, "the status is not where the steps lead: {steps:#?}");
    } else if let Some(last) = steps.last() {
        // Without the chain, still: the status is where a step into it led.
        assert!(steps.iter().any(|s| s.to == server.review.status), "{:?} by no step: {last:?}", server.review.status);
    } else {
        assert_eq!(server.review.status, ReviewStatus::Draft);
    }
    if workflow::is_problem(server.kind) && server.review.status.is_approved() {
        assert!(server.review.conclusion.is_some(), "approved without a conclusion");
    }
    assert!(refused.is_disjoint(held), "a refused change reached the server");
}

#[derive(Debug, Default)]
struct Tally {
    accepted_steps: usize,
    refused_uploads: usize,
    foreign_uploads: usize,
    statuses: BTreeSet<ReviewStatus>,
}

fn run(talk: bool, owners: &[usize], ops: &[Op], chain: bool) -> Tally {
    let mut tally = Tally::default();
    let mut server = record(talk);
    let kind = server.kind();
    let mut replicas: Vec<Replica> = owners
        .iter()
        .enumerate()
        .map(|(i, owner)| Replica {
            doc: server.fork(actor(i, 0)),
            owner: PEOPLE[*owner],
            generation: 0,
            honest_on: None,
        })
        .collect();
    let mut refused: BTreeSet<ChangeHash> = BTreeSet::new();
    let mut clock = 1_717_000_001_000;
    let mut elsewhere: u16 = 0;
    for op in ops {
        match *op {
            Op::Attempt { replica, pick, wild, forge, impostor, bare } => {
                clock += 1_000;
                let r = &mut replicas[replica];
                let record = r.doc.read();
                let open: Vec<&workflow::Rule> = workflow::rules_from(kind, record.review.status).collect();
                // Mostly one the owner may take, when there is one.
                let theirs: Vec<&workflow::Rule> =
                    open.iter().copied().filter(|rule| rule.who.capacity_of(r.owner.standing()).is_some()).collect();
                let open = if theirs.is_empty() || pick % 4 == 0 { open } else { theirs };
                let to = if wild || open.is_empty() {
                    ReviewStatus::ALL[usize::from(pick) % ReviewStatus::ALL.len()]
                } else {
                    open[usize::from(pick) % open.len()].to
                };
                let rule = workflow::rule_for(kind, record.review.status, to);
                let (note, conclusion, handover) = if bare {
                    (String::new(), None, None)
                } else {
                    (
                        "依据材料处理".to_owned(),
                        rule.is_some_and(|r| r.needs_conclusion).then_some(Conclusion::PartlyConfirmed),
                        rule.is_some_and(|r| r.needs_handover).then(|| Handover {
                            to: HandoverTo::Police,
                            unit: String::new(),
                            number: "东巡移〔2024〕9号".into(),
                            date: "2024-07-01".into(),
                        }),
                    )
                };
                let edit = match forge {
                    None => match workflow::transition(r.owner.standing(), &record, to, &note, conclusion, handover) {
                        Ok(edit) => edit,
                        // The app does not offer it.
                        Err(_) => continue,
                    },
                    Some(c) => Edit::Transition { to, capacity: CAPACITIES[c], note, conclusion, handover },
                };
                let writer = impostor.map_or(r.owner, |i| PEOPLE[i]);
                let ctx = EditContext {
                    author: UserId::new(writer.user).unwrap(),
                    device: DeviceId::new(format!("device-{replica}")).unwrap(),
                    actor: actor(replica, r.generation),
                    now_ms: clock,
                };
                let heads = r.doc.heads();
                match r.doc.apply(&[edit], &ctx) {
                    Ok(_) => {
                        let honest = forge.is_none() && writer == r.owner;
                        let server_heads = server.heads();
                        r.honest_on = if !honest {
                            None
                        } else if heads == server_heads {
                            Some(server_heads)
                        } else {
                            // More honest steps on top: expected while the server has not moved.
                            r.honest_on.take().filter(|h| *h == server_heads)
                        };
                    }
                    Err(_) => assert_eq!(r.doc.heads(), heads, "a refused edit left a change"),
                }
            }
            Op::Upload { replica } => {
                let before = server.read();
                let server_heads = server.heads();
                let mut candidate = server.fork(ActorId::from([0xff; 16]));
                candidate.merge(&mut replicas[replica].doc).unwrap();
                let new = candidate.changes_since(&server_heads);
                if new.is_empty() {
                    continue;
                }
                let after = candidate.read();
                let r = &mut replicas[replica];
                let own = actor(replica, r.generation);
                let foreign = new.iter().any(|c| c.actor != own);
                let verdict = if foreign {
                    tally.foreign_uploads += 1;
                    Err("another device's changes".to_owned())
                } else {
                    check(r.owner.author(), Some(&before), &after).map_err(|refusal| refusal.to_string())
                };
                let expected = r.honest_on.as_ref().is_some_and(|h| *h == server_heads);
                match verdict {
                    Ok(()) => {
                        tally.accepted_steps += after.review.steps.len() - before.review.steps.len();
                        server = candidate;
                    }
                    Err(refusal) => {
                        assert!(!expected, "an honest step on the server's version was refused: {refusal}");
                        tally.refused_uploads += 1;
                        // What this device wrote is refused (and dropped with its copy);
                        // another device's changes it carried are that device's to upload.
                        refused.extend(new.iter().filter(|c| c.actor == own).map(|c| c.hash));
                        // The device starts again from the server's copy, as a new actor.
                        r.generation += 1;
                        r.doc = server.fork(actor(replica, r.generation));
                    }
                }
                r.honest_on = None;
            }
            Op::Elsewhere { pick, by } => {
                let before = server.read();
                let open: Vec<&workflow::Rule> = workflow::rules_from(kind, before.review.status).collect();
                if open.is_empty() {
                    continue;
                }
                let rule = open[usize::from(pick) % open.len()];
                let able: Vec<Person> =
                    PEOPLE.into_iter().filter(|p| rule.who.capacity_of(p.standing()).is_some()).collect();
                let who = able[usize::from(by) % able.len()];
                clock += 1_000;
                elsewhere += 1;
                let ctx = EditContext {
                    author: UserId::new(who.user).unwrap(),
                    device: DeviceId::new("device-elsewhere").unwrap(),
                    actor: ActorId::from([
                        0x70,
                        0x70,
                        (elsewhere >> 8) as u8,
                        elsewhere as u8,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                    ]),
                    now_ms: clock,
                };
                let handover = Handover {
                    to: HandoverTo::Other,
                    unit: "县审计局".into(),
                    number: "东巡移〔2024〕12号".into(),
                    date: "2024-07-02".into(),
                };
                let edit = workflow::transition(
                    who.standing(),
                    &before,
                    rule.to,
                    "依据材料处理",
                    rule.needs_conclusion.then_some(Conclusion::Unverifiable),
                    rule.needs_handover.then_some(handover),
                )
                .unwrap();
                let mut device = server.fork(ctx.actor.clone());
                device.apply(&[edit], &ctx).unwrap();
                let after = device.read();
                assert_eq!(
                    check(who.author(), Some(&before), &after),
                    Ok(()),
                    "an honest step on the server's version"
                );
                tally.accepted_steps += 1;
                server = device;
            }
            Op::Pull { replica } => {
                let r = &mut replicas[replica];
                r.doc.merge(&mut server).unwrap();
                r.honest_on = (r.doc.heads() == server.heads()).then(|| server.heads());
            }
            Op::Peer { into, from } => {
                if into == from {
                    continue;
                }
                let (a, b) = if into < from {
                    let (left, right) = replicas.split_at_mut(from);
                    (&mut left[into], &mut right[0])
                } else {
                    let (left, right) = replicas.split_at_mut(into);
                    (&mut right[0], &mut left[from])
                };
                a.doc.merge(&mut b.doc).unwrap();
                a.honest_on = None;
            }
        }
        let held: BTreeSet<ChangeHash> = server.changes_since(&[]).iter().map(|c| c.hash).collect();
        let record = server.read();
        assert_explained(&record, &refused, &held, chain);
        tally.statuses.insert(record.review.status);
    }
    // Everyone syncs at the end: every replica without changes of its own reads as the server.
    for r in &mut replicas {
        r.doc.merge(&mut server).unwrap();
        if r.doc.heads() == server.heads() {
            assert_eq!(r.doc.read(), server.read());
        }
    }
    tally
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn the_server_holds_only_what_the_workflow_explains((talk, owners, ops) in scenario()) {
        run(talk, &owners, &ops, false);
    }

    /// The same, and the server's steps, as read, form one chain. A replica's steps taken
    /// on an older visit of the record's current status (say a return and a resubmission
    /// made while the server had the record reviewed, returned and resubmitted by others)
    /// are accepted, since `rules::check_workflow` only compares a new step's `from` with
    /// the status; read by time, they then sit between the server's steps (see
    /// `rules.rs`, `a_step_taken_on_an_older_visit_of_the_status_is_refused`).
    #[test]

    fn the_servers_steps_form_one_chain((talk, owners, ops) in scenario()) {
        run(talk, &owners, &ops, true);
    }
}

/// The random scenarios do reach every status (a generator that never left draft would
/// make the property vacuous): the same simulation, driven by a fixed script.
#[test]
fn a_scripted_run_reaches_the_end_of_the_workflow() {
    use Op::*;
    let honest = |replica, pick| Attempt { replica, pick, wild: false, forge: None, impostor: None, bare: false };
    // Owners: 0 the member, 1 the deputy, 2 the lead; the supervisor on 3.
    let ops = vec![
        honest(0, 0),
        Upload { replica: 0 },
        Pull { replica: 1 },
        Pull { replica: 2 },
        // The deputy reviews, the lead (not having heard) returns it: the lead's is refused.
        honest(1, 0),
        honest(2, 1),
        Upload { replica: 1 },
        Upload { replica: 2 },
        Pull { replica: 2 },
        honest(2, 0),
        Upload { replica: 2 },
        Pull { replica: 3 },
        // LeadSigned → OfficeApproved, then → Rectifying (the second rule from approved).
        honest(3, 0),
        honest(3, 1),
        Upload { replica: 3 },
        // A forged step in the lead's name on the member's device is refused.
        Pull { replica: 0 },
        Attempt { replica: 0, pick: 0, wild: false, forge: Some(2), impostor: Some(2), bare: false },
        Upload { replica: 0 },
        Pull { replica: 2 },
        honest(2, 0),
        Upload { replica: 2 },
    ];
    let tally = run(false, &[0, 1, 2, 4], &ops, true);
    assert_eq!(tally.accepted_steps, 6, "{tally:?}");
    assert_eq!(tally.refused_uploads, 2, "{tally:?}");
    assert!(tally.statuses.contains(&ReviewStatus::Rectified), "{tally:?}");
    assert_eq!(RULES.len(), 12);
}
