//! The server is the authority on who may change what: an inspector whose client skips the
//! app's checks (the store used directly, as a modified client would) cannot make a review
//! decision, jump the workflow or withdraw a colleague's draft; the refusal reaches the device
//! with the rule's code, and nothing of it is stored.

use xuncha_domain::*;
use xuncha_protocol::Role;
use xuncha_tests::{District, EAST, new_record};

fn fill() -> Vec<Edit> {
    vec![
        Edit::Set { field: Field::FundName, value: Some(Value::Text("到户补贴".into())) },
        Edit::Set { field: Field::FundType, value: Some(Value::Choice("household_subsidy".into())) },
        Edit::Set { field: Field::Allocated, value: Some(Value::Money(Yuan::from_yuan(1_000))) },
    ]
}

#[test]
fn an_inspector_cannot_decide_and_the_server_keeps_the_supervisors_decision() {
    let district = District::start();
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    let mut wang = district.device("wang", Role::TeamLead, EAST.0);
    let mut li = district.device("li", Role::Supervisor, "district");
    let id = zhang.create(&new_record(RecordKind::FundCheck, "到户补贴检查", EAST, 1), &fill());
    zhang.edit(id, &[Edit::SetReviewStatus { status: ReviewStatus::Submitted }]);
    assert!(district.sync(&mut zhang).unwrap().refused.is_empty());

    // The inspector's own client decides: refused whole, with the rule's code.
    zhang.edit(id, &[Edit::Decide { status: ReviewStatus::Verified, note: "自己核实".into() }]);
    let report = district.sync(&mut zhang).unwrap();
    assert_eq!(report.refused.len(), 1, "{report:?}");
    assert_eq!(report.refused[0].1, "review_decision");
    assert!(report.refused[0].2.contains("only a supervisor"), "{:?}", report.refused);
    let server = district.server_record(id).unwrap().read();
    assert_eq!(server.review.status, ReviewStatus::Submitted);
    assert!(server.review.decision.is_none());

    // The supervisor's decision is accepted and reaches the team.
    district.sync(&mut li).unwrap();
    li.edit(id, &[Edit::Decide { status: ReviewStatus::Verified, note: "证据充分".into() }]);
    assert!(district.sync(&mut li).unwrap().refused.is_empty());
    district.sync(&mut wang).unwrap();
    let seen = wang.store.record(id).unwrap().read();
    assert_eq!(seen.review.decision.map(|d| d.by), Some("li".to_owned()));

    // A colleague's draft cannot be withdrawn by a team lead's client; its creator can.
    let draft = zhang.create(&new_record(RecordKind::ConductIssue, "误建的草稿", EAST, 2), &[]);
    district.sync(&mut zhang).unwrap();
    district.sync(&mut wang).unwrap();
    wang.edit(draft, &[Edit::Withdraw]);
    let report = district.sync(&mut wang).unwrap();
    assert_eq!(report.refused.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(), ["withdraw_others"]);
    assert!(district.server_record(draft).unwrap().read().withdrawn.is_none());
    zhang.edit(draft, &[Edit::Withdraw]);
    assert!(district.sync(&mut zhang).unwrap().refused.is_empty());
    assert!(district.server_record(draft).unwrap().read().withdrawn.is_some());
}

#[test]
fn a_change_written_in_someone_elses_name_is_refused() {
    let district = District::start();
    let zhang = district.device("zhang", Role::Inspector, EAST.0);
    district.device("li", Role::Supervisor, "district");
    // A modified client writes with zhang's own registered actor, but names the supervisor
    // as the author of the change, hoping every device's history will show li.
    let forged = EditContext {
        author: UserId::new("li").unwrap(),
        device: zhang.store.identity().device_id.clone(),
        actor: zhang.store.identity().actor.clone(),
        now_ms: 1_717_000_000_000,
    };
    let new = new_record(RecordKind::FundCheck, "冒名记录", EAST, 9);
    let mut doc = RecordDoc::create(&new, &forged).unwrap();
    let upload = xuncha_protocol::Upload {
        doc: xuncha_protocol::DocKey { record: new.id.uuid().as_bytes().to_vec(), part: xuncha_protocol::Part::Record },
        changes: doc.save(),
    };
    let body = xuncha_protocol::encode(&xuncha_protocol::SyncRequest { uploads: vec![upload], ..Default::default() });
    let token = zhang.store.sync_value("device_token").unwrap().unwrap();
    let answer = district.runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/sync", district.url()))
            .header(xuncha_protocol::PROTOCOL_HEADER, "1")
            .bearer_auth(token)
            .body(body)
            .send()
            .await
            .unwrap();
        response.bytes().await.unwrap().to_vec()
    });
    let answer: xuncha_protocol::SyncResponse =
        xuncha_protocol::decode(&answer, xuncha_protocol::MAX_DECODED_BYTES).unwrap();
    match &answer.acks[0].outcome {
        xuncha_protocol::Outcome::Refused { code, message } => {
            assert_eq!(code, xuncha_protocol::codes::FOREIGN_AUTHOR);
            assert!(message.contains("names li as its author"), "{message}");
        }
        other => panic!("a forged author was accepted: {other:?}"),
    }
    assert!(district.server_record(new.id).is_none());
}
