//! Garbled, truncated, oversized and wrong-version requests each get a 4xx with a clear
//! message, nothing is stored, and the server goes on serving. A retried request is harmless.

use xuncha_domain::{RecordId, RecordKind};
use xuncha_protocol::{ErrorBody, PROTOCOL_HEADER, Role, SyncRequest, Upload};
use xuncha_tests::{District, EAST, new_record};

fn post(district: &District, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> (u16, Vec<u8>) {
    district.runtime.block_on(async {
        let mut request = reqwest::Client::new().post(format!("{}{path}", district.url())).body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
    })
}

#[test]
fn bad_requests_get_clear_4xx_answers_and_the_server_goes_on() {
    let district = District::start();
    let mut device = district.device("zhang", Role::Inspector, EAST.0);
    let id = device.create(&new_record(RecordKind::FundCheck, "资金检查", EAST, 1), &[]);
    let token = device.store.sync_value("device_token").unwrap().unwrap();
    let auth = ("authorization", format!("Bearer {token}"));
    let version = (PROTOCOL_HEADER, "1".to_owned());
    let upload = Upload {
        doc: xuncha_protocol::DocKey { record: id.uuid().as_bytes().to_vec(), part: xuncha_protocol::Part::Record },
        changes: device.store.record_changes(id, &[]).unwrap(),
        signatures: Vec::new(),
    };
    let upload = Upload { signatures: xuncha_tests::signatures(&device.store, &upload.changes), ..upload };
    let good = xuncha_protocol::encode(&SyncRequest { uploads: vec![upload.clone()], ..SyncRequest::default() });

    let mut garbled = good.clone();
    for byte in garbled.iter_mut().skip(3).step_by(5) {
        *byte ^= 0xA5;
    }
    // (case, headers, body, status, error code)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("garbled", vec![auth.clone(), version.clone()], garbled, 400, "bad_body"),
        ("truncated", vec![auth.clone(), version.clone()], good[..good.len() / 2].to_vec(), 400, "bad_body"),
        ("empty", vec![auth.clone(), version.clone()], vec![], 400, "bad_body"),
        (
            "oversized",
            vec![auth.clone(), version.clone()],
            vec![0; xuncha_protocol::MAX_REQUEST_BYTES + 1],
            413,
            "too_large",
        ),
        ("wrong version", vec![auth.clone(), (PROTOCOL_HEADER, "99".into())], good.clone(), 426, "upgrade_required"),
        ("no version", vec![auth.clone()], good.clone(), 400, "bad_body"),
        ("version not a number", vec![auth.clone(), (PROTOCOL_HEADER, "one".into())], good.clone(), 400, "bad_body"),
        ("no token", vec![version.clone()], good.clone(), 401, "unauthorized"),
        (
            "bad token",
            vec![("authorization", "Bearer nope".into()), version.clone()],
            good.clone(),
            401,
            "unauthorized",
        ),
    ];
    for (name, headers, body, status, code) in cases {
        let (got, body) = post(&district, "/v1/sync", &headers, body);
        assert_eq!(got, status, "{name}: {}", String::from_utf8_lossy(&body));
        let error: ErrorBody =
            serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{name}: not an error body: {e}"));
        assert_eq!(error.code, code, "{name}");
        assert!(error.message.contains(" / "), "{name}: the message is not bilingual: {}", error.message);
        assert!(district.server_record(id).is_none(), "{name}: something was stored");
    }
    // A cursor this server never wrote starts the walk over rather than stopping sync.
    let strange = xuncha_protocol::encode(&SyncRequest { cursor: vec![7, 7], ..SyncRequest::default() });
    assert_eq!(post(&district, "/v1/sync", &[auth.clone(), version.clone()], strange).0, 200);
    let (status, body) = post(&district, "/v1/enroll", std::slice::from_ref(&version), b"{not json".to_vec());
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let wrong_code = serde_json::to_vec(&xuncha_protocol::EnrollRequest {
        code: "ZZZZ-ZZZZ-ZZZZ-ZZZZ".into(),
        device_name: "x".into(),
        actor: "00".repeat(16),
        keys: None,
    })
    .unwrap();
    let (status, body) = post(&district, "/v1/enroll", std::slice::from_ref(&version), wrong_code);
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let error: ErrorBody = serde_json::from_slice(&body).unwrap();
    assert_eq!(error.code, "bad_enrollment_code");

    // The server goes on serving, and a retried request is harmless.
    for attempt in 0..2 {
        let (status, body) = post(&district, "/v1/sync", &[auth.clone(), version.clone()], good.clone());
        assert_eq!(status, 200, "attempt {attempt}");
        let response: xuncha_protocol::SyncResponse =
            xuncha_protocol::decode(&body, xuncha_protocol::MAX_DECODED_BYTES).unwrap();
        match &response.acks[0].outcome {
            xuncha_protocol::Outcome::Stored { new } => {
                assert!(if attempt == 0 { *new >= 1 } else { *new == 0 }, "attempt {attempt}: {new} new changes")
            }
            other => panic!("attempt {attempt}: {other:?}"),
        }
    }
    let stored: RecordId = district.server_record(id).unwrap().id();
    assert_eq!(stored, id);
}

#[test]
fn the_api_is_described_and_guessing_tokens_is_rate_limited() {
    let district = District::start();
    let description: serde_json::Value = district.runtime.block_on(async {
        reqwest::get(format!("{}/openapi.json", district.url())).await.unwrap().json().await.unwrap()
    });
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/info",
        "/v1/enroll",
        "/v1/sync",
        "/v1/relay/join",
        "/v1/attachments/{sha256}",
    ] {
        assert!(description["paths"].get(path).is_some(), "{path} is not described");
    }
    let mut device = district.device("zhang", Role::Inspector, EAST.0);
    let version = (PROTOCOL_HEADER, "1".to_owned());
    let body = xuncha_protocol::encode(&SyncRequest::default());
    let mut statuses = Vec::new();
    for attempt in 0..xuncha_server::limits::MAX_FAILURES + 1 {
        let guess = ("authorization", format!("Bearer guess-{attempt}"));
        statuses.push(post(&district, "/v1/sync", &[guess, version.clone()], body.clone()).0);
    }
    assert!(statuses[..statuses.len() - 1].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429));
    // While the address is refused, a real token is still let through: others' failures
    // never block it.
    district.sync(&mut device).unwrap();
    // One token tried over and over is refused, from whatever address.
    let mut statuses = Vec::new();
    for _ in 0..xuncha_server::limits::MAX_FAILURES + 1 {
        let guess = ("authorization", "Bearer the-same-guess".to_owned());
        statuses.push(post_from(&district, "127.0.0.7", "/v1/sync", &[guess, version.clone()], body.clone()));
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Enrollment codes are guessed from an address: a refused address may not try one more.
    let code = serde_json::to_vec(&xuncha_protocol::EnrollRequest {
        code: "ZZZZ-ZZZZ-ZZZZ-ZZZZ".into(),
        device_name: "x".into(),
        actor: "00".repeat(16),
        keys: None,
    })
    .unwrap();
    assert_eq!(post(&district, "/v1/enroll", std::slice::from_ref(&version), code).0, 429);
}

/// A POST from a given loopback address, its status.
fn post_from(district: &District, from: &str, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> u16 {
    district.runtime.block_on(async {
        let client =
            reqwest::Client::builder().local_address(from.parse::<std::net::IpAddr>().unwrap()).build().unwrap();
        let mut request = client.post(format!("{}{path}", district.url())).body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send().await.unwrap().status().as_u16()
    })
}
