//! An in-process Xuncha server for the fuzz targets: the real router (`xuncha_server::router`)
//! over a real SQLite (SQLCipher) data directory, driven with `tower::ServiceExt::oneshot`.
//!
//! A template district is made once per process: divisions, a round, a team over 东岭镇,
//! four users with one enrolled device each (enrolled over `POST /v1/enroll`, with their
//! own signing and sealing keys), and one record of the inspector's that references the
//! attachments of [`ATTACHMENTS`]. Every fuzz input gets a fresh copy of that data
//! directory, so an input's outcome never depends on the inputs before it and every crash
//! replays from its file alone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use ed25519_dalek::SigningKey;
use http::{HeaderMap, Method, Request, StatusCode};
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use xuncha_domain::{
    ActorId, AttachmentRef, DeviceId, Division, DivisionEntry, Edit, EditContext, Field, NewRecord, RecordDoc,
    RecordId, RecordKind, UserId, Value,
};
use xuncha_protocol::{
    ChangeSignature, DocKey, EnrollRequest, EnrollResponse, Outcome, PROTOCOL_HEADER, Part, Role, SyncRequest,
    SyncResponse, Upload,
};
use xuncha_server::{AppState, SqliteStorage, Storage, admin};

/// 东岭镇 (the team's township) and 西溪乡 (outside it).
pub const EAST: (&str, &str) = ("330199101000", "东岭镇");
pub const WEST: (&str, &str) = ("330199102000", "西溪乡");
/// A fixed clock for everything the harness writes, so seeds stay valid.
pub const NOW_MS: i64 = 1_717_200_000_000;
/// The wall clock (enrollment codes expire against it).
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The record of the template that references the attachments.
pub const ATTACHED_RECORD: [u8; 16] = [0x01, 0x8f, 0xd1, 0x5a, 0x60, 0x00, 0x70, 0x00, 0x80, 1, 2, 3, 4, 5, 6, 7];

/// The attachments the template's record references, by content.
pub fn attachment_contents() -> &'static [Vec<u8>] {
    static CONTENTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CONTENTS.get_or_init(|| {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut noise = |n: usize| {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect::<Vec<u8>>()
        };
        vec![Vec::new(), b"x".to_vec(), noise(3_000), noise(70_000)]
    })
}

/// How many attachments [`attachment_contents`] holds.
pub const ATTACHMENTS: usize = 4;

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One enrolled device of the template.
#[derive(Debug, Clone)]
pub struct FuzzDevice {
    pub user: &'static str,
    pub role: Role,
    pub token: String,
    pub actor: ActorId,
    pub signing: SigningKey,
    /// The id the device writes into its changes' author.
    pub local_id: String,
}

impl FuzzDevice {
    /// The edit context of a change made on this device.
    pub fn ctx(&self, now_ms: i64) -> EditContext {
        EditContext {
            author: UserId::new(self.user).expect("a user id"),
            device: DeviceId::new(self.local_id.clone()).expect("a device id"),
            actor: self.actor.clone(),
            now_ms,
        }
    }

    /// Signatures of every change of this device's actor among `changes` (a saved
    /// document or changes with their history; changes that do not load sign nothing).
    pub fn sign(&self, changes: &[u8]) -> Vec<ChangeSignature> {
        let mut doc = automerge::AutoCommit::new();
        if doc.load_incremental(changes).is_err() {
            return Vec::new();
        }
        doc.get_changes(&[])
            .into_iter()
            .filter(|c| *c.actor_id() == self.actor)
            .map(|c| ChangeSignature {
                hash: c.hash().0.to_vec(),
                signature: xuncha_domain::signing::sign(&self.signing, &c.hash().0),
            })
            .collect()
    }
}

/// The users of the template district: the team's inspector (member) and lead, a
/// supervisor over the district, and an inspector of 西溪乡 outside the team.
pub const USERS: [(&str, Role, &str); 4] = [
    ("fz-inspector", Role::Inspector, EAST.0),
    ("fz-lead", Role::TeamLead, EAST.0),
    ("fz-supervisor", Role::Supervisor, "district"),
    ("fz-west", Role::Inspector, WEST.0),
];

/// The template district, made once per process.
#[derive(Debug)]
pub struct Template {
    _root: tempfile::TempDir,
    data: PathBuf,
    pub devices: Vec<FuzzDevice>,
}

/// A directory on tmpfs when there is one: the server's SQLite syncs every commit.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new().prefix("xuncha-fuzz-").tempdir_in(shm);
    builder.or_else(|_| tempfile::Builder::new().prefix("xuncha-fuzz-").tempdir()).expect("a temporary directory")
}

/// The runtime every request runs on (one per process).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime"))
}

/// The template (made on first use).
pub fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(Template::make)
}

fn entry(code: &str, name: &str, parent: &str) -> DivisionEntry {
    DivisionEntry { code: code.into(), name: name.into(), parent: parent.into() }
}

/// The village 第一村 of a township.
pub fn village_of(township: &str) -> String {
    format!("{}001", &township[..9])
}

impl Template {
    fn make() -> Template {
        let root = scratch();
        let data = root.path().join("server");
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&data).expect("the template's storage"));
        let s = storage.as_ref();
        let (recipient, _secret) = xuncha_server::protected_key::generate();
        xuncha_server::protected_key::init(s, &recipient, NOW_MS).expect("a protected-data key");
        let divisions = [
            entry("330000000000", "浙江省", ""),
            entry("330100000000", "杭州市", "330000000000"),
            entry("330199000000", "清河区", "330100000000"),
            entry(EAST.0, EAST.1, "330199000000"),
            entry(&village_of(EAST.0), "第一村", EAST.0),
            entry(WEST.0, WEST.1, "330199000000"),
            entry(&village_of(WEST.0), "第一村", WEST.0),
        ];
        admin::import_divisions(s, &divisions, NOW_MS).expect("divisions");
        for (user, role, jurisdiction) in USERS {
            admin::add_user(s, user, user, role, jurisdiction, NOW_MS).expect("a user");
        }
        admin::add_round(s, "2024年第一轮", "2024-03-01", "2024-05-31", &[], NOW_MS).expect("a round");
        let team = admin::NewTeam {
            name: "第一巡察组".into(),
            round: "2024年第一轮".into(),
            lead: "fz-lead".into(),
            deputies: vec![],
            members: vec!["fz-inspector".into()],
            places: vec![EAST.0.into()],
            units: vec![],
        };
        admin::add_team(s, &team, NOW_MS).expect("a team");

        let router = xuncha_server::router(AppState::new(Arc::clone(&storage)));
        let mut devices = Vec::new();
        for (n, (user, role, _)) in USERS.into_iter().enumerate() {
            let n = u8::try_from(n).expect("few devices") + 1;
            let code = admin::enrollment_code(s, user, wall_clock_ms()).expect("an enrollment code");
            let signing = SigningKey::from_bytes(&[n; 32]);
            let (sealing, _) = xuncha_server::protected_key::generate();
            let actor = ActorId::from([0xf0 | n; 16]);
            let body = serde_json::to_vec(&EnrollRequest {
                code,
                device_name: format!("{user} tablet"),
                actor: actor.to_hex_string(),
                keys: Some(xuncha_protocol::DeviceKeys {
                    signing: hex::encode(signing.verifying_key().to_bytes()),
                    sealing,
                }),
            })
            .expect("JSON");
            let request = Request::post("/v1/enroll")
                .header(PROTOCOL_HEADER, "1")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .expect("a request");
            let (status, _, body) = call(&router, request);
            assert_eq!(status, StatusCode::OK, "enrollment: {}", String::from_utf8_lossy(&body));
            let enrolled: EnrollResponse = serde_json::from_slice(&body).expect("an enrollment response");
            devices.push(FuzzDevice {
                user,
                role,
                token: enrolled.token,
                actor,
                signing,
                local_id: format!("local-{n}"),
            });
        }

        // The inspector's record that references the attachments.
        let inspector = &devices[0];
        let mut doc = RecordDoc::create(&attached_record(), &inspector.ctx(NOW_MS)).expect("a record");
        let edits: Vec<Edit> = attachment_contents()
            .iter()
            .map(|content| Edit::AddAttachment {
                attachment: AttachmentRef {
                    sha256: sha256_hex(content),
                    mime: "image/jpeg".into(),
                    size: content.len() as u64,
                    caption: "收据".into(),
                    taken_at_ms: None,
                    gps: None,
                },
            })
            .chain([Edit::Set { field: Field::FundName, value: Some(Value::Text("到户补贴".into())) }])
            .collect();
        doc.apply(&edits, &inspector.ctx(NOW_MS + 1)).expect("attachments added");
        let changes = doc.save();
        let request = SyncRequest {
            uploads: vec![Upload {
                doc: DocKey { record: ATTACHED_RECORD.to_vec(), part: Part::Record },
                signatures: inspector.sign(&changes),
                changes,
            }],
            ..SyncRequest::default()
        };
        let (status, _, body) = call(&router, sync_request(&inspector.token, xuncha_protocol::encode(&request)));
        assert_eq!(status, StatusCode::OK, "the template's upload: {}", String::from_utf8_lossy(&body));
        let response: SyncResponse =
            xuncha_protocol::decode(&body, xuncha_protocol::MAX_DECODED_BYTES).expect("a sync response");
        assert!(
            matches!(response.acks[0].outcome, Outcome::Stored { .. }),
            "the template's record is stored: {:?}",
            response.acks[0].outcome
        );
        drop(router);
        drop(storage);
        Template { _root: root, data, devices }
    }

    /// A fresh copy of the template's data directory, served by a new router.
    pub fn server(&self) -> Server {
        let dir = scratch();
        let data = dir.path().join("server");
        std::fs::create_dir_all(&data).expect("a data directory");
        for entry in std::fs::read_dir(&self.data).expect("the template") {
            let entry = entry.expect("a template file");
            std::fs::copy(entry.path(), data.join(entry.file_name())).expect("a copy");
        }
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&data).expect("the copy opens"));
        Server { router: xuncha_server::router(AppState::new(storage)), _dir: dir }
    }
}

/// The record that references the template's attachments.
pub fn attached_record() -> NewRecord {
    NewRecord {
        id: RecordId::from_bytes(ATTACHED_RECORD),
        kind: RecordKind::FundCheck,
        title: "到户补贴发放检查".into(),
        round: "2024年第一轮".into(),
        township: Some(Division::new(EAST.0, EAST.1)),
        village: Some(Division::new(village_of(EAST.0), "第一村")),
        team: "第一巡察组".into(),
    }
}

/// A `POST /v1/sync` with `token` and `body`.
pub fn sync_request(token: &str, body: Vec<u8>) -> Request<Body> {
    Request::post("/v1/sync")
        .header(PROTOCOL_HEADER, "1")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", xuncha_protocol::SYNC_CONTENT_TYPE)
        .body(Body::from(body))
        .expect("a request")
}

/// Sends one request through the router as if from 127.0.0.1, and reads the whole answer.
pub fn call(router: &Router, mut request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let peer: SocketAddr = "127.0.0.1:40000".parse().expect("an address");
    request.extensions_mut().insert(ConnectInfo(peer));
    let method = request.method().clone();
    let uri = request.uri().clone();
    runtime().block_on(async {
        let response = router.clone().oneshot(request).await.expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_else(|e| panic!("{method} {uri}: the body failed mid-stream: {e}"));
        (parts.status, parts.headers, body)
    })
}

/// A fresh copy of the template district.
#[derive(Debug)]
pub struct Server {
    pub router: Router,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Sends a request; a 5xx answer is a failure of the server.
    pub fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
        let what = format!("{} {}", request.method(), request.uri());
        let (status, headers, body) = call(&self.router, request);
        if std::env::var_os("XUNCHA_FUZZ_TRACE").is_some() {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
            eprintln!(
                "{what} -> {status} received={} size={} {}",
                header("x-xuncha-received"),
                header("x-xuncha-size"),
                if status.is_success() {
                    String::new()
                } else {
                    String::from_utf8_lossy(&body[..body.len().min(160)]).into_owned()
                }
            );
        }
        assert!(
            !status.is_server_error(),
            "{what} answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(2_000)])
        );
        (status, headers, body)
    }

    /// Sends a sync body with a device's token.
    pub fn sync(&self, device: &FuzzDevice, body: Vec<u8>) -> (StatusCode, Bytes) {
        let (status, _, body) = self.send(sync_request(&device.token, body));
        (status, body)
    }
}

/// A request with a method, a path and query (already escaped), a device's token and a body.
pub fn request(method: Method, uri: &str, token: &str, body: Vec<u8>) -> Option<Request<Body>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(PROTOCOL_HEADER, "1")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body))
        .ok()
}
