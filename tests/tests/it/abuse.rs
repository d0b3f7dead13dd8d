//! The server tried as an attacker would, on loopback: each finding of the attack on the
//! server before it (idle connections, others' failures, attachments out of scope, heavy
//! and bomb bodies, leaked heads, forged device names, codes and tokens) reproduced, and
//! shown refused or harmless, with honest devices syncing throughout.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use xuncha_domain::{Edit, RecordKind};
use xuncha_protocol::{DocKey, ErrorBody, PROTOCOL_HEADER, Part, Role, SyncRequest, Upload, codes};
use xuncha_server::limits::Limits;
use xuncha_store::NewAttachment;
use xuncha_tests::{District, EAST, WEST, new_record};

/// A connection from `from` to the district's server.
async fn connect_from(district: &District, from: IpAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(district.address).await.unwrap()
}

/// Reads what the server sends until it closes the connection (or `wait` passes).
async fn read_all(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(wait, stream.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

/// A request with the device's token: status, headers and body.
fn call(
    district: &District,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    district.runtime.block_on(async {
        let response = reqwest::Client::new()
            .request(method, format!("{}{path}", district.url()))
            .header(PROTOCOL_HEADER, "1")
            .bearer_auth(token)
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, headers, response.bytes().await.unwrap().to_vec())
    })
}

fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .map(|e| e.code.to_string())
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into())
}

fn token(device: &xuncha_tests::Device) -> String {
    device.store.sync_value("device_token").unwrap().unwrap()
}

fn photo(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32).map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn idle_connections_are_capped_answered_busy_and_closed() {
    let mut district = District::start();
    let mut device = district.device("zhang", Role::Inspector, EAST.0);
    device.create(&new_record(RecordKind::FundCheck, "资金检查", EAST, 1), &[]);
    district.set_limits(Limits {
        max_connections: 120,
        max_per_address: 20,
        header_timeout: Duration::from_millis(1_500),
        ..Limits::default()
    });
    let runtime = &district.runtime;
    // From one address: twenty connections are served, the rest told to come back later.
    let (mut held, mut over) = runtime.block_on(async {
        let mut held = Vec::new();
        for _ in 0..20 {
            held.push(connect_from(&district, "127.0.0.2".parse().unwrap()).await);
        }
        let mut over = Vec::new();
        for _ in 0..5 {
            over.push(connect_from(&district, "127.0.0.2".parse().unwrap()).await);
        }
        (held, over)
    });
    for stream in &mut over {
        runtime.block_on(stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")).unwrap();
        let answer = runtime.block_on(read_all(stream, Duration::from_secs(5))).expect("refused at once");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("retry-after: 5"), "{answer}");
        assert!(answer.contains(codes::BUSY.as_str()), "{answer}");
    }
    // From many addresses, up to the cap on all connections: a device is then told to wait…
    runtime.block_on(async {
        for n in 0..100u8 {
            held.push(connect_from(&district, IpAddr::from([127, 0, 1, n / 20 + 1])).await);
        }
    });
    let busy = district.sync(&mut device).unwrap_err();
    assert!(matches!(&busy, xuncha_sync::SyncError::Server { status: 503, code, .. } if code == codes::BUSY), "{busy}");
    // …until the idle connections run out of time: each is closed by the server, without
    // a word, and the device syncs.
    for stream in held.iter_mut().take(10) {
        let answer = runtime.block_on(read_all(stream, Duration::from_secs(10))).expect("closed by the server");
        assert!(!answer.contains("200 OK"), "{answer}");
    }
    runtime.block_on(async { tokio::time::sleep(Duration::from_millis(500)).await });
    district.sync(&mut device).unwrap();
}

#[test]
fn failures_behind_a_proxy_block_the_failing_client_only() {
    let mut district = District::start();
    let mut device = district.device("zhang", Role::Inspector, EAST.0);
    // The commission's proxy is 127.0.0.1: what it forwards names the client.
    district.set_limits(Limits { trusted_proxies: vec!["127.0.0.1".parse().unwrap()], ..Limits::default() });
    let body = xuncha_protocol::encode(&SyncRequest::default());
    let guess = |district: &District, forwarded: &str, attempt: u32| {
        district.runtime.block_on(async {
            reqwest::Client::new()
                .post(format!("{}/v1/sync", district.url()))
                .header(PROTOCOL_HEADER, "1")
                .header("x-forwarded-for", forwarded)
                .bearer_auth(format!("guess-{attempt}"))
                .body(body.clone())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    let statuses: Vec<u16> =
        (0..=xuncha_server::limits::MAX_FAILURES).map(|n| guess(&district, "10.0.0.66", n)).collect();
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Another client behind the same proxy is not refused for the first one's failures…
    assert_eq!(guess(&district, "10.0.0.67", 99), 401);
    // …nor is a device with a valid token, coming through the same proxy.
    for _ in 0..3 {
        district.sync(&mut device).unwrap();
    }
    // An address forwarded by a client that is no trusted proxy counts for nothing: the
    // failures are still counted against the connection's own address.
    district.set_limits(Limits::default());
    let statuses: Vec<u16> =
        (0..=xuncha_server::limits::MAX_FAILURES).map(|n| guess(&district, &format!("10.1.0.{n}"), n)).collect();
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    district.sync(&mut device).unwrap();
}

#[test]
fn a_body_is_not_read_before_the_token_is_known_and_heavy_requests_are_capped() {
    let district = District::start();
    let mut device = district.device("zhang", Role::Inspector, EAST.0);
    // A deflate bomb (64 KiB that inflate to 64 MiB) behind an unknown token, its declared
    // length never sent in full: refused at once, the body unread.
    let mut bomb = vec![1u8]; // the deflate frame tag
    {
        use std::io::Write;
        let mut encoder = flate2::write::DeflateEncoder::new(&mut bomb, flate2::Compression::best());
        encoder.write_all(&vec![0u8; 64 * 1024 * 1024]).unwrap();
        encoder.finish().unwrap();
    }
    assert!(bomb.len() < 100 * 1024, "{}", bomb.len());
    let answer = district.runtime.block_on(async {
        let mut stream = connect_from(&district, "127.0.0.3".parse().unwrap()).await;
        let head = format!(
            "POST /v1/sync HTTP/1.1\r\nhost: x\r\n{PROTOCOL_HEADER}: 1\r\nauthorization: Bearer nope\r\ncontent-length: {}\r\n\r\n",
            bomb.len() + 1_000_000
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&bomb).await.unwrap();
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
            .await
            .expect("answered without waiting for the body")
            .unwrap();
        String::from_utf8_lossy(&answer[..n]).into_owned()
    });
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    // With a valid token: more uploads than one request may carry are refused whole,
    // before any is looked at, and so is a body that inflates past the limit.
    let token = token(&device);
    let garbage = |n: usize| {
        let uploads = (0..n)
            .map(|i| Upload {
                doc: DocKey { record: (i as u128).to_be_bytes().to_vec(), part: Part::Record },
                changes: vec![],
                signatures: vec![],
            })
            .collect();
        xuncha_protocol::encode(&SyncRequest { uploads, ..SyncRequest::default() })
    };
    let (status, _, body) =
        call(&district, reqwest::Method::POST, "/v1/sync", &token, garbage(Limits::default().max_uploads + 1));
    assert_eq!((status, error_code(&body).as_str()), (413, codes::TOO_LARGE.as_str()));
    let million = garbage(1_000_000);
    assert!(million.len() <= xuncha_protocol::MAX_REQUEST_BYTES, "{}", million.len());
    let (status, _, body) = call(&district, reqwest::Method::POST, "/v1/sync", &token, million);
    assert_eq!((status, error_code(&body).as_str()), (413, codes::TOO_LARGE.as_str()));
    let (status, _, body) = call(&district, reqwest::Method::POST, "/v1/sync", &token, bomb);
    assert_eq!((status, error_code(&body).as_str()), (413, codes::TOO_LARGE.as_str()));
    // A full request's audit row stays small: records are named up to a bound and counted.
    let (status, _, _) =
        call(&district, reqwest::Method::POST, "/v1/sync", &token, garbage(Limits::default().max_uploads));
    assert_eq!(status, 200);
    let audit = xuncha_server::admin::audit_log(district.storage.as_ref(), 1).unwrap();
    let row = serde_json::to_string(&audit[0].detail).unwrap();
    assert_eq!(audit[0].detail["refused_count"], Limits::default().max_uploads);
    assert!(row.len() < 8 * 1024, "{} bytes", row.len());
    // The device syncs on.
    device.create(&new_record(RecordKind::FundCheck, "资金检查", EAST, 2), &[]);
    district.sync(&mut device).unwrap();
}

#[test]
fn attachments_stay_in_scope_bound_to_the_devices_that_sent_them() {
    let mut district = District::start();
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    let mut chen = district.device("chen", Role::Inspector, WEST.0);
    let mut li = district.device("li", Role::Supervisor, "district");
    let bytes = photo(300_000, 1);
    let sha = sha256_hex(&bytes);
    let file = NewAttachment {
        bytes: bytes.clone(),
        mime: "image/jpeg".into(),
        caption: "东岭镇收据".into(),
        taken_at_ms: None,
        gps: None,
    };
    let reference = file.reference();

    // Before the photo goes up, chen claims its hash with a wrong size: his claim is his own.
    let (status, _, _) = call(
        &district,
        reqwest::Method::PUT,
        &format!("/v1/attachments/{sha}?offset=0&size=999"),
        &token(&chen),
        vec![1, 2, 3],
    );
    assert_eq!(status, 200);
    let id = zhang.create(&new_record(RecordKind::FundCheck, "附件", EAST, 1), &[]);
    zhang.store.edit_with_attachments(id, &[], &[file], 1).unwrap();
    district.sync(&mut zhang).unwrap();
    let uploads = district.runtime.block_on(zhang.client.upload_attachments(&mut zhang.store, 64 * 1024)).unwrap();
    assert!(uploads.is_empty() || uploads.iter().all(|u| u.sent > 0), "{uploads:?}");
    assert!(zhang.store.attachments_to_upload().unwrap().is_empty(), "the rightful upload did not complete");

    // HEAD tells only the uploader about its upload.
    let head = |device: &xuncha_tests::Device| {
        let (status, headers, _) =
            call(&district, reqwest::Method::HEAD, &format!("/v1/attachments/{sha}"), &token(device), vec![]);
        (status, headers.get("x-xuncha-received").map(|v| v.to_str().unwrap().to_owned()))
    };
    assert_eq!(head(&zhang), (200, Some(bytes.len().to_string())));
    assert_eq!(head(&li).0, 404, "HEAD told another device the attachment exists");
    assert_eq!(head(&chen), (200, Some("3".to_owned())), "chen sees his own claim, nothing else");

    // The supervisor reads it, streamed with its length.
    district.sync(&mut li).unwrap();
    let (status, headers, got) =
        call(&district, reqwest::Method::GET, &format!("/v1/attachments/{sha}"), &token(&li), vec![]);
    assert_eq!(status, 200);
    assert_eq!(headers["content-length"].to_str().unwrap(), bytes.len().to_string());
    assert!(got == bytes, "the photo came back different");

    // chen copies the hash into a record of his own township: it references the photo,
    // but its uploader could never see that record, so chen reads nothing.
    chen.create(
        &new_record(RecordKind::FundCheck, "借用哈希", WEST, 2),
        &[Edit::AddAttachment { attachment: reference }],
    );
    district.sync(&mut chen).unwrap();
    let (status, _, _) =
        call(&district, reqwest::Method::GET, &format!("/v1/attachments/{sha}"), &token(&chen), vec![]);
    assert_eq!(status, 404, "a hash copied into another township's record read the photo");

    // An empty piece in the middle of an upload stores nothing and wedges nothing (found
    // by fuzzing): the next piece resumes where the server says.
    let receipt = photo(3_000, 9);
    let path = format!("/v1/attachments/{}?offset=0&size=3000", sha256_hex(&receipt));
    assert_eq!(call(&district, reqwest::Method::PUT, &path, &token(&zhang), vec![]).0, 200);
    let (status, headers, _) = call(&district, reqwest::Method::PUT, &path, &token(&zhang), receipt.clone());
    assert_eq!((status, headers["x-xuncha-received"].to_str().unwrap()), (200, "3000"));
    // A device that holds it is told what the server holds, whatever it claims.
    let claim = format!("/v1/attachments/{}?offset=0&size=2526", sha256_hex(&receipt));
    let (status, headers, _) = call(&district, reqwest::Method::PUT, &claim, &token(&zhang), vec![1]);
    assert_eq!(status, 200);
    assert_eq!(headers["x-xuncha-size"].to_str().unwrap(), "3000");

    // Each device may hold so many bytes on the server.
    district.set_limits(Limits { attachment_quota: 500_000, ..Limits::default() });
    let big = photo(400_000, 2);
    let (status, _, body) = call(
        &district,
        reqwest::Method::PUT,
        &format!("/v1/attachments/{}?offset=0&size={}", sha256_hex(&big), big.len()),
        &token(&zhang),
        big[..1000].to_vec(),
    );
    assert_eq!((status, error_code(&body).as_str()), (413, codes::QUOTA.as_str()));
    let small = photo(100_000, 3);
    let (status, _, _) = call(
        &district,
        reqwest::Method::PUT,
        &format!("/v1/attachments/{}?offset=0&size={}", sha256_hex(&small), small.len()),
        &token(&zhang),
        small,
    );
    assert_eq!(status, 200, "within the quota");

    // A piece without its offset and size gets the same JSON error as every refusal.
    let other = photo(1_000, 4);
    for query in ["", "?offset=0", "?offset=-1&size=3", "?offset=0&size=many"] {
        let (status, _, body) = call(
            &district,
            reqwest::Method::PUT,
            &format!("/v1/attachments/{}{query}", sha256_hex(&other)),
            &token(&zhang),
            vec![1],
        );
        assert_eq!((status, error_code(&body).as_str()), (400, codes::BAD_BODY.as_str()), "{query}");
    }
}

#[test]
fn a_refusal_says_why_and_nothing_of_another_townships_record() {
    let district = District::start();
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    let mut chen = district.device("chen", Role::Inspector, WEST.0);
    let id = zhang.create(&new_record(RecordKind::FundCheck, "东岭镇的记录", EAST, 1), &[]);
    district.sync(&mut zhang).unwrap();
    // chen knows the record's id, and writes a record of that id in his own township.
    let mut forged = new_record(RecordKind::FundCheck, "冒名", WEST, 2);
    forged.id = id;
    chen.create(&forged, &[]);
    let changes = chen.store.record_changes(id, &[]).unwrap();
    let upload = Upload {
        doc: DocKey { record: id.uuid().as_bytes().to_vec(), part: Part::Record },
        signatures: xuncha_tests::signatures(&chen.store, &changes),
        changes,
    };
    let body = xuncha_protocol::encode(&SyncRequest { uploads: vec![upload], ..SyncRequest::default() });
    let (status, _, body) = call(&district, reqwest::Method::POST, "/v1/sync", &token(&chen), body);
    assert_eq!(status, 200);
    let response: xuncha_protocol::SyncResponse =
        xuncha_protocol::decode(&body, xuncha_protocol::MAX_DECODED_BYTES).unwrap();
    let ack = &response.acks[0];
    assert!(matches!(&ack.outcome, xuncha_protocol::Outcome::Refused { .. }), "{:?}", ack.outcome);
    assert!(ack.heads.is_empty(), "the refusal told chen the heads of a record he may not read");
    assert_eq!(district.server_record(id).unwrap().read().title_or_placeholder(), "东岭镇的记录");
}

#[test]
fn device_names_codes_users_and_tokens_are_the_administrators_to_control() {
    let mut district = District::start();
    let storage = std::sync::Arc::clone(&district.storage);
    let enroll = |code: &str, name: &str| {
        let request = serde_json::to_vec(&xuncha_protocol::EnrollRequest {
            code: code.into(),
            device_name: name.into(),
            actor: hex::encode(rand_bytes()),
            keys: None,
        })
        .unwrap();
        district.runtime.block_on(async {
            let response = reqwest::Client::new()
                .post(format!("{}/v1/enroll", district.url()))
                .header(PROTOCOL_HEADER, "1")
                .body(request)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.bytes().await.unwrap().to_vec())
        })
    };
    xuncha_server::admin::add_user(storage.as_ref(), "wang", "王芳", Role::Inspector, EAST.0, 1).unwrap();
    // A device name that would forge a line of the administrator's device list.
    let code = xuncha_server::admin::enrollment_code(storage.as_ref(), "wang", now_ms()).unwrap();
    let (status, body) = enroll(&code, "平板\ndev-0000  admin  伪造  正常 active");
    assert_eq!((status, error_code(&body).as_str()), (400, codes::BAD_BODY.as_str()));
    // Codes: 16 symbols, stored salted; a cancelled code enrolls nothing.
    assert_eq!(code.replace('-', "").len(), 16, "{code}");
    let stored = enrollment_hashes(&district);
    assert!(!stored.is_empty() && stored.iter().all(|h| h.starts_with("s1$")), "{stored:?}");
    assert_eq!(xuncha_server::admin::cancel_codes(storage.as_ref(), &code, now_ms()).unwrap(), 1);
    let (status, body) = enroll(&code, "平板");
    assert_eq!((status, error_code(&body).as_str()), (403, codes::BAD_ENROLLMENT_CODE.as_str()));

    // A disabled user's devices are refused, and syncing again when enabled.
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    xuncha_server::admin::set_user_disabled(storage.as_ref(), "zhang", true, now_ms()).unwrap();
    let refused = district.sync(&mut zhang).unwrap_err();
    assert!(
        matches!(&refused, xuncha_sync::SyncError::Server { code, .. } if code == codes::USER_DISABLED),
        "{refused}"
    );
    assert!(xuncha_server::admin::enrollment_code(storage.as_ref(), "zhang", now_ms()).is_err());
    xuncha_server::admin::set_user_disabled(storage.as_ref(), "zhang", false, now_ms()).unwrap();
    district.sync(&mut zhang).unwrap();

    // Tokens expire when the server says so: the device must enroll again.
    district.set_limits(Limits { token_lifetime_ms: Some(1), ..Limits::default() });
    std::thread::sleep(Duration::from_millis(5));
    let expired = district.sync(&mut zhang).unwrap_err();
    assert!(
        matches!(&expired, xuncha_sync::SyncError::Server { code, .. } if code == codes::TOKEN_EXPIRED),
        "{expired}"
    );
    // Enrolling again, the tablet keeps its device and gets a new token; the old one is dead.
    district.set_limits(Limits { token_lifetime_ms: Some(3_600_000), ..Limits::default() });
    let old_token = token(&zhang);
    let device_before = zhang.store.sync_value("server_device_id").unwrap();
    let code = xuncha_server::admin::enrollment_code(storage.as_ref(), "zhang", now_ms()).unwrap();
    district.runtime.block_on(zhang.client.enroll(&mut zhang.store, &code, "张的平板")).unwrap();
    assert_eq!(zhang.store.sync_value("server_device_id").unwrap(), device_before);
    assert_ne!(token(&zhang), old_token);
    district.sync(&mut zhang).unwrap();
    let body = xuncha_protocol::encode(&SyncRequest::default());
    let (status, _, body) = call(&district, reqwest::Method::POST, "/v1/sync", &old_token, body);
    assert_eq!((status, error_code(&body).as_str()), (401, codes::UNAUTHORIZED.as_str()));
    // Another user's code does not take the tablet over.
    let code = xuncha_server::admin::enrollment_code(storage.as_ref(), "wang", now_ms()).unwrap();
    let taken = district.runtime.block_on(zhang.client.enroll(&mut zhang.store, &code, "平板"));
    assert!(matches!(&taken, Err(xuncha_sync::SyncError::Server { status: 409, .. })), "{taken:?}");
    district.sync(&mut zhang).unwrap();
}

/// The enrollment codes as the server stores them.
fn enrollment_hashes(district: &District) -> Vec<String> {
    let dir = district.dir.path().join("server");
    let key = std::fs::read_to_string(dir.join("server.key")).unwrap();
    let conn = rusqlite::Connection::open(dir.join("server.db")).unwrap();
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", key.trim())).unwrap();
    let mut stmt = conn.prepare("SELECT code_hash FROM enrollments").unwrap();
    stmt.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

fn rand_bytes() -> [u8; 16] {
    rand::random()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn two_hundred_concurrent_syncs_from_one_address_all_succeed() {
    let district = District::start();
    let devices: Vec<_> =
        (0..20).map(|n| district.device(&format!("inspector-{n}"), Role::Inspector, EAST.0)).collect();
    let tokens: Vec<String> = devices.iter().map(token).collect();
    let body = xuncha_protocol::encode(&SyncRequest::default());
    let statuses = district.runtime.block_on(async {
        let client = reqwest::Client::new();
        let requests = (0..200).map(|n| {
            let request = client
                .post(format!("{}/v1/sync", district.url()))
                .header(PROTOCOL_HEADER, "1")
                .bearer_auth(&tokens[n % tokens.len()])
                .body(body.clone());
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) })
        });
        let mut statuses = Vec::new();
        for task in requests.collect::<Vec<_>>() {
            statuses.push(task.await.unwrap());
        }
        statuses
    });
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}
