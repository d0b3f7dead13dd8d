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

fn step(to: ReviewStatus, capacity: Capacity, note: &str, conclusion: Option<Conclusion>) -> Edit {
    Edit::Transition { to, capacity, note: note.into(), conclusion, handover: None }
}

#[test]
fn an_inspector_cannot_sign_off_and_the_server_keeps_each_levels_step() {
    let district = District::start();
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    let mut wang = district.device("wang", Role::TeamLead, EAST.0);
    let mut li = district.device("li", Role::Supervisor, "district");
    let id = zhang.create(&new_record(RecordKind::FundCheck, "到户补贴检查", EAST, 1), &fill());
    zhang.edit(id, &[step(ReviewStatus::Submitted, Capacity::Handler, "", None)]);
    assert!(district.sync(&mut zhang).unwrap().refused.is_empty());

    // The inspector's own client signs as the team lead: refused whole, with the rule's code.
    zhang.edit(id, &[step(ReviewStatus::DeputyReviewed, Capacity::Deputy, "自己审核", None)]);
    let report = district.sync(&mut zhang).unwrap();
    assert_eq!(report.refused.len(), 1, "{report:?}");
    assert_eq!(report.refused[0].1, "transition_role");
    assert!(report.refused[0].2.contains("only the deputy team lead"), "{:?}", report.refused);
    // The device keeps the refusal with the record, for the record screen to show.
    let (code, message) = zhang.store.refusal(id).unwrap().expect("the refusal is kept with the record");
    assert_eq!(code, "transition_role");
    assert!(message.contains("只有副组长"), "{message}");
    let server = district.server_record(id).unwrap().read();
    assert_eq!(server.review.status, ReviewStatus::Submitted);
    assert_eq!(server.review.steps.len(), 1);

    // The team lead (of a district without teams: no deputy) reviews and signs.
    district.sync(&mut wang).unwrap();
    wang.edit(id, &[step(ReviewStatus::DeputyReviewed, Capacity::Deputy, "同意", None)]);
    wang.edit(id, &[step(ReviewStatus::LeadSigned, Capacity::Lead, "同意上报", None)]);
    assert!(district.sync(&mut wang).unwrap().refused.is_empty());
    // The office's approval needs a conclusion, and is the supervisor's.
    district.sync(&mut li).unwrap();
    li.edit(id, &[step(ReviewStatus::OfficeApproved, Capacity::Office, "证据充分", Some(Conclusion::Confirmed))]);
    assert!(district.sync(&mut li).unwrap().refused.is_empty());
    district.sync(&mut wang).unwrap();
    let seen = wang.store.record(id).unwrap().read();
    assert_eq!(seen.review.status, ReviewStatus::OfficeApproved);
    assert_eq!(seen.review.conclusion, Some(Conclusion::Confirmed));
    let trail: Vec<(&str, Capacity)> = seen.review.steps.iter().map(|s| (s.by.as_str(), s.capacity)).collect();
    assert_eq!(
        trail,
        [("zhang", Capacity::Handler), ("wang", Capacity::Deputy), ("wang", Capacity::Lead), ("li", Capacity::Office)]
    );
    assert!(seen.review.steps.iter().all(|s| !s.void));

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
        signatures: Vec::new(),
    };
    let token = zhang.store.sync_value("device_token").unwrap().unwrap();
    let (_, answer, body) =
        raw_sync(&district, &token, &xuncha_protocol::SyncRequest { uploads: vec![upload], ..Default::default() });
    let answer = answer.unwrap_or_else(|| panic!("{body}"));
    match &answer.acks[0].outcome {
        xuncha_protocol::Outcome::Refused { code, message } => {
            assert_eq!(code, xuncha_protocol::codes::FOREIGN_AUTHOR);
            assert!(message.contains("names li as its author"), "{message}");
        }
        other => panic!("a forged author was accepted: {other:?}"),
    }
    assert!(district.server_record(new.id).is_none());
}

fn raw_sync(
    district: &District,
    token: &str,
    request: &xuncha_protocol::SyncRequest,
) -> (u16, Option<xuncha_protocol::SyncResponse>, String) {
    district.raw_sync(token, request)
}

fn refusal(answer: &xuncha_protocol::SyncResponse) -> Option<(String, String)> {
    match &answer.acks[0].outcome {
        xuncha_protocol::Outcome::Refused { code, message } => Some((code.to_string(), message.clone())),
        _ => None,
    }
}

#[test]
fn a_change_without_its_devices_valid_signature_is_refused_and_signatures_are_kept() {
    let district = District::start();
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    let token = zhang.store.sync_value("device_token").unwrap().unwrap();
    // A raw client writes a record in zhang's own name with zhang's actor...
    let new = new_record(RecordKind::FundCheck, "未签名的记录", EAST, 3);
    let mut doc = RecordDoc::create(&new, &zhang.store.edit_context(1_717_000_000_000)).unwrap();
    let changes = doc.save();
    let key =
        xuncha_protocol::DocKey { record: new.id.uuid().as_bytes().to_vec(), part: xuncha_protocol::Part::Record };
    let upload = |signatures| xuncha_protocol::SyncRequest {
        uploads: vec![xuncha_protocol::Upload { doc: key.clone(), changes: changes.clone(), signatures }],
        ..Default::default()
    };
    // ...without signatures,
    let (status, answer, _) = raw_sync(&district, &token, &upload(Vec::new()));
    assert_eq!(status, 200);
    let (code, message) = refusal(&answer.unwrap()).expect("an unsigned change was accepted");
    assert_eq!(code, xuncha_protocol::codes::UNSIGNED);
    assert!(message.contains("carries no signature"), "{message}");
    // ...signed with a key that is not the device's,
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let good = xuncha_tests::signatures(&zhang.store, &changes);
    assert_eq!(good.len(), 1);
    let forged: Vec<_> = good
        .iter()
        .map(|s| xuncha_protocol::ChangeSignature {
            hash: s.hash.clone(),
            signature: xuncha_domain::signing::sign(&stranger, &s.hash),
        })
        .collect();
    let (_, answer, _) = raw_sync(&district, &token, &upload(forged));
    assert_eq!(refusal(&answer.unwrap()).map(|r| r.0).as_deref(), Some(xuncha_protocol::codes::BAD_SIGNATURE.as_str()));
    // ...or with the device's signature altered by one bit.
    let mut altered = good.clone();
    altered[0].signature[5] ^= 1;
    let (_, answer, _) = raw_sync(&district, &token, &upload(altered));
    assert_eq!(refusal(&answer.unwrap()).map(|r| r.0).as_deref(), Some(xuncha_protocol::codes::BAD_SIGNATURE.as_str()));
    assert!(district.server_record(new.id).is_none(), "a refused upload stored something");

    // Signed by the device, it is taken, and the signature is logged beside the change.
    let (_, answer, _) = raw_sync(&district, &token, &upload(good.clone()));
    assert_eq!(refusal(&answer.unwrap()), None);
    assert!(district.server_record(new.id).is_some());
    // The stock client signs every change it sends.
    zhang.create(&new_record(RecordKind::ConductIssue, "正常记录", EAST, 4), &[]);
    assert!(district.sync(&mut zhang).unwrap().refused.is_empty());
    let rows = xuncha_server::storage::with_tx(district.storage.as_ref(), false, |tx| {
        let rows = tx.log_rows(0, 1_000)?;
        rows.into_iter().map(|(row, _)| Ok((row.seq, tx.change_signature(row.seq)?))).collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    assert!(rows.len() >= 2);
    assert!(rows.iter().all(|(_, s)| s.as_ref().is_some_and(|s| s.len() == 64)), "{rows:?}");
    assert_eq!(rows[0].1.as_deref(), Some(good[0].signature.as_slice()));
}

#[test]
fn a_device_from_before_keys_registers_them_once_and_cannot_swap_them() {
    let district = District::start();
    let storage = district.storage.as_ref();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    xuncha_server::admin::add_user(storage, "zhao", "赵巡察", Role::Inspector, EAST.0, now).unwrap();
    let code = xuncha_server::admin::enrollment_code(storage, "zhao", now).unwrap();
    // An app of the release before keys enrolls without them.
    let enrolled: xuncha_protocol::EnrollResponse = district.runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/v1/enroll", district.url()))
            .header(xuncha_protocol::PROTOCOL_HEADER, "1")
            .json(&xuncha_protocol::EnrollRequest {
                code,
                device_name: "旧平板".into(),
                actor: "ab".repeat(16),
                keys: None,
            })
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let device = |id: &str| xuncha_server::admin::devices(storage).unwrap().into_iter().find(|d| d.id == id).unwrap();
    assert_eq!(device(&enrolled.device_id).signing_key, None);
    // Updated, its first sync registers its keys...
    let mine = xuncha_protocol::DeviceKeys {
        signing: hex::encode(ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key().to_bytes()),
        sealing: "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".into(),
    };
    let request = xuncha_protocol::SyncRequest { keys: Some(mine.clone()), ..Default::default() };
    assert_eq!(raw_sync(&district, &enrolled.token, &request).0, 200);
    assert_eq!(device(&enrolled.device_id).signing_key, Some(mine.signing.clone()));
    assert_eq!(raw_sync(&district, &enrolled.token, &request).0, 200);
    // ...and a stolen token with other keys cannot replace them.
    let other = xuncha_protocol::DeviceKeys {
        signing: hex::encode(ed25519_dalek::SigningKey::from_bytes(&[4; 32]).verifying_key().to_bytes()),
        ..mine.clone()
    };
    let (status, _, body) =
        raw_sync(&district, &enrolled.token, &xuncha_protocol::SyncRequest { keys: Some(other), ..Default::default() });
    assert_eq!(status, 403);
    assert!(body.contains(xuncha_protocol::codes::KEY_MISMATCH.as_str()), "{body}");
    assert_eq!(device(&enrolled.device_id).signing_key, Some(mine.signing));
    // Malformed keys are a bad request.
    let bad = xuncha_protocol::DeviceKeys { signing: "zz".into(), sealing: "nope".into() };
    let admin_code = xuncha_server::admin::enrollment_code(storage, "zhao", now).unwrap();
    let status = district.runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/v1/enroll", district.url()))
            .header(xuncha_protocol::PROTOCOL_HEADER, "1")
            .json(&xuncha_protocol::EnrollRequest {
                code: admin_code,
                device_name: "坏钥匙".into(),
                actor: "cd".repeat(16),
                keys: Some(bad),
            })
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 400);
}
