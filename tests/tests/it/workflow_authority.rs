//! The server is the authority on the workflow: random step attempts by random members of
//! a real team, on their own enrolled devices against a real server, each in a random
//! capacity (the app's honest one, or a forged one a raw client could write). Every upload
//! the rules allow is accepted and every other is refused with the rule's code; the
//! office's device never shows a refused step; and every state the server holds is reached
//! from 草稿 through a chain of steps, each by someone who held its capacity.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xuncha_domain::workflow::{self, Asked};
use xuncha_domain::*;
use xuncha_protocol::Role;
use xuncha_tests::{District, EAST, new_record};

const PEOPLE: [(&str, Role); 5] = [
    ("zhang", Role::Inspector),
    ("zhao", Role::Inspector),
    ("wang", Role::TeamLead),
    ("sun", Role::TeamLead),
    ("li", Role::Supervisor),
];

fn set(field: Field, text: &str) -> Edit {
    Edit::Set { field, value: Some(field.parse_value(text).unwrap()) }
}

#[test]
fn random_steps_by_random_people_are_taken_exactly_when_the_rules_allow() {
    let district = District::start();
    let mut devices: Vec<_> = PEOPLE
        .iter()
        .map(|(user, role)| {
            let jurisdiction = if *role == Role::Supervisor { "district" } else { EAST.0 };
            (district.device(user, *role, jurisdiction), *role)
        })
        .collect();
    // sun leads no team of this round's: an outsider to its records.
    district.set_up_round("wang", &["zhao"], &["zhang"]);
    let kinds = [RecordKind::FundCheck, RecordKind::Talk, RecordKind::ConductIssue];
    let fill = |kind| match kind {
        RecordKind::FundCheck => {
            vec![
                set(Field::FundName, "到户补贴"),
                set(Field::FundType, "household_subsidy"),
                set(Field::Allocated, "1000"),
            ]
        }
        RecordKind::Talk => vec![
            set(Field::Interviewee, "陈某"),
            set(Field::TalkDate, "2024-03-12"),
            set(Field::Interviewers, "王组长"),
            set(Field::Recorder, "张巡察"),
        ],
        _ => vec![set(Field::Subject, "钱某"), set(Field::FourWinds, "formalism")],
    };
    let ids: Vec<RecordId> = kinds
        .iter()
        .enumerate()
        .map(|(n, kind)| {
            let mut edits = fill(*kind);
            if *kind == RecordKind::Talk {
                edits.push(Edit::Narrative { text: "谈话内容".into() });
            }
            devices[0].0.create(&new_record(*kind, "随机流程", EAST, n as u8 + 1), &edits)
        })
        .collect();
    for (device, _) in &mut devices {
        district.sync(device).unwrap();
    }
    let mut rng = StdRng::seed_from_u64(9);
    let (mut accepted, mut refused) = (0, 0);
    let capacities = [Capacity::Handler, Capacity::Deputy, Capacity::Lead, Capacity::Office];
    for attempt in 0..120 {
        let who = rng.random_range(0..devices.len());
        let id = ids[rng.random_range(0..ids.len())];
        let (device, role) = &mut devices[who];
        district.sync(device).unwrap();
        let record = device.store.record(id).unwrap().read();
        let standing =
            xuncha_app::reference::standing(&device.store, xuncha_app::records::reader(role.code()), &record).unwrap();
        // Mostly a step that follows the current status; sometimes any.
        let to = if rng.random_bool(0.8) {
            let next: Vec<_> = workflow::rules_from(record.kind, record.review.status).collect();
            if next.is_empty() {
                continue;
            }
            next[rng.random_range(0..next.len())].to
        } else {
            ReviewStatus::ALL[rng.random_range(0..ReviewStatus::ALL.len())]
        };
        let honest = rng.random_bool(0.5);
        let capacity = match workflow::rule_for(record.kind, record.review.status, to) {
            Some(rule) if honest => rule.who.capacity_of(standing).unwrap_or(rule.who.first),
            _ => capacities[rng.random_range(0..capacities.len())],
        };
        let note = if rng.random_bool(0.8) { "意见" } else { "" };
        let conclusion = (capacity != Capacity::Handler && rng.random_bool(0.7)).then_some(Conclusion::Confirmed);
        let handover = rng.random_bool(0.7).then(|| Handover {
            to: HandoverTo::Commission,
            unit: String::new(),
            number: format!("清巡移〔2024〕{attempt}号"),
            date: "2024-04-02".into(),
        });
        let edit = Edit::Transition { to, capacity, note: note.into(), conclusion, handover: handover.clone() };
        // What the rules say of it, as the app works it out.
        let asked = Asked { note, conclusion, handover: handover.as_ref() };
        let allowed =
            workflow::permit(standing, record.kind, record.review.status, to, &asked, record.review.conclusion).is_ok()
                && workflow::check_step(
                    record.kind,
                    record.review.status,
                    to,
                    capacity,
                    &asked,
                    record.review.conclusion,
                )
                .is_ok()
                && standing.can_act_as(capacity);
        // The document itself refuses some outright (no such step, nothing asked for).
        if device.store.edit(id, &[edit], chrono_ms()).is_err() {
            assert!(
                workflow::check_step(record.kind, record.review.status, to, capacity, &asked, record.review.conclusion)
                    .is_err()
            );
            continue;
        }
        let report = district.sync(device).unwrap();
        if allowed {
            assert!(
                report.refused.is_empty(),
                "attempt {attempt}: {} {to:?} as {capacity:?}: {:?}",
                device.name,
                report.refused
            );
            accepted += 1;
        } else {
            assert_eq!(
                report.refused.len(),
                1,
                "attempt {attempt}: {} {to:?} as {capacity:?} was accepted",
                device.name
            );
            assert!(
                [
                    "transition",
                    "transition_role",
                    "note_required",
                    "conclusion_required",
                    "handover_required",
                    "conclusion_by_reviewer"
                ]
                .contains(&report.refused[0].1.as_str()),
                "{:?}",
                report.refused
            );
            refused += 1;
            // The refused change stays on that device only: start it afresh.
            let (user, role) = PEOPLE[who];
            let jurisdiction = if role == Role::Supervisor { "district" } else { EAST.0 };
            devices[who].0 = district.device(user, role, jurisdiction);
            district.sync(&mut devices[who].0).unwrap();
        }
    }
    assert!(accepted >= 15 && refused >= 15, "accepted {accepted}, refused {refused}");

    // The server's records: each status reached from 草稿 by a chain of permitted steps; the
    // office's device shows exactly the server's steps.
    let office = devices.iter_mut().find(|(_, r)| *r == Role::Supervisor).unwrap();
    district.sync(&mut office.0).unwrap();
    for id in &ids {
        let server = district.server_record(*id).unwrap().read();
        let mut status = ReviewStatus::Draft;
        let mut prev = String::new();
        for step in &server.review.steps {
            assert_eq!((step.from, step.prev.as_str()), (status, prev.as_str()), "a chain");
            assert!(workflow::rule_for(server.kind, step.from, step.to).is_some());
            status = step.to;
            prev.clone_from(&step.id);
        }
        assert_eq!(server.review.status, status);
        let seen = office.0.store.record(*id).unwrap().read();
        let ids_of = |r: &Record| r.review.steps.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids_of(&seen), ids_of(&server), "the office sees exactly the server's steps");
    }
}

fn chrono_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}
