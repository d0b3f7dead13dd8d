//! A test district: a real server on a loopback port chosen by the OS, with its SQLite data
//! directory, and devices with real encrypted databases that enroll and sync over HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use xuncha_domain::{
    ActorId, DeviceId, Division, Edit, Field, NewRecord, RecordDoc, RecordId, RecordKind, UserId, Value, Yuan,
};
use xuncha_protocol::{DocKey, Part, Role};
use xuncha_server::storage::with_tx;
use xuncha_server::{AppState, SqliteStorage, Storage, admin};
use xuncha_store::{Identity, KdfParams, Store};
use xuncha_sync::{Client, SyncError, SyncReport};

pub const PIN: &str = "246810";
pub const EAST: (&str, &str) = ("330199101000", "东岭镇");
pub const WEST: (&str, &str) = ("330199102000", "西溪乡");

/// A running server.
#[derive(Debug)]
pub struct District {
    pub dir: tempfile::TempDir,
    pub storage: Arc<dyn Storage>,
    pub address: SocketAddr,
    pub runtime: tokio::runtime::Runtime,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The district's protected-data key (`AGE-SECRET-KEY-1…`), made when the district
    /// starts, as the administrator's offline file would hold it; supervisors' devices are
    /// granted it when they enroll.
    pub protected_secret: Option<String>,
    /// The limits the server serves under.
    limits: xuncha_server::limits::Limits,
    /// The server's TLS identity, when it terminates TLS itself.
    tls: Option<xuncha_server::Tls>,
    /// Added to the number of each new device (its id and actor): two districts that will
    /// exchange bundles number their devices apart, as random actors are in the field.
    device_base: u8,
    /// A district on PostgreSQL ([`District::start_postgres`]): its scratch database, and
    /// the S3-compatible store its attachments go to, if the tests were given one.
    postgres: Option<(xuncha_server::pg::ScratchDatabase, Option<String>)>,
}

/// A device: its database and its user.
#[derive(Debug)]
pub struct Device {
    pub name: String,
    pub store: Store,
    pub client: Client,
}

/// What a raw client must add to an upload of `changes` (a saved document or changes
/// with their history) for the server to take it: the device's signature of each change of
/// its own actor.
pub fn signatures(store: &Store, changes: &[u8]) -> Vec<xuncha_protocol::ChangeSignature> {
    let mut doc = automerge::AutoCommit::load(changes).expect("changes with their history");
    let actor = store.identity().actor.clone();
    doc.get_changes(&[])
        .into_iter()
        .filter(|c| *c.actor_id() == actor)
        .map(|c| xuncha_protocol::ChangeSignature {
            hash: c.hash().0.to_vec(),
            signature: xuncha_domain::signing::sign(&store.secrets().signing, &c.hash().0),
        })
        .collect()
}

/// A passphrase as the backup functions take it.
pub fn age_secret(text: &str) -> xuncha_server::backup::Secret {
    xuncha_server::backup::Secret::from(text.to_owned())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl District {
    /// Starts a server on 127.0.0.1, port 0.
    pub fn start() -> District {
        District::start_from(None)
    }

    /// Starts a server over a copy of the data directory `data` (written by an earlier
    /// release, say), or over a new one.
    pub fn start_from(data: Option<&std::path::Path>) -> District {
        let dir = tempfile::tempdir().unwrap();
        let server = dir.path().join("server");
        if let Some(data) = data {
            std::fs::create_dir_all(&server).unwrap();
            for entry in std::fs::read_dir(data).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), server.join(entry.file_name())).unwrap();
            }
        }
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&server).unwrap());
        let protected_secret = if with_tx(storage.as_ref(), false, |tx| tx.protected_key()).unwrap().is_none() {
            let (recipient, secret) = xuncha_server::protected_key::generate();
            xuncha_server::protected_key::init(storage.as_ref(), &recipient, now_ms()).unwrap();
            Some(secret.to_string())
        } else {
            None
        };
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let mut district = District {
            dir,
            storage,
            address: "127.0.0.1:0".parse().unwrap(),
            runtime,
            shutdown: None,
            server: None,
            protected_secret,
            limits: xuncha_server::limits::Limits::default(),
            tls: None,
            device_base: 0,
            postgres: None,
        };
        district.serve();
        district
    }

    /// Starts a server on 127.0.0.1, port 0, over a new database on the PostgreSQL server
    /// `XUNCHA_TEST_POSTGRES` names, its complete attachments in the S3-compatible store
    /// `XUNCHA_TEST_S3` names if set; it holds the serving lock, as `xuncha server` does.
    pub fn start_postgres() -> District {
        let database = xuncha_server::pg::ScratchDatabase::from_env().expect("XUNCHA_TEST_POSTGRES");
        let bucket = std::env::var("XUNCHA_TEST_S3").ok();
        let mut district = District::start();
        district.stop();
        district.postgres = Some((database, bucket));
        district.storage = Arc::new(district.open_postgres().serving(&district.postgres_url()).unwrap());
        let (recipient, secret) = xuncha_server::protected_key::generate();
        xuncha_server::protected_key::init(district.storage.as_ref(), &recipient, now_ms()).unwrap();
        district.protected_secret = Some(secret.to_string());
        district.serve();
        district
    }

    fn postgres_url(&self) -> String {
        self.postgres.as_ref().map(|(database, _)| database.url.clone()).expect("a district on PostgreSQL")
    }

    /// A new connection to this district's PostgreSQL database, with its attachment store.
    fn open_postgres(&self) -> xuncha_server::PgStorage {
        let key = xuncha_server::at_rest::MasterKey::read_or_create(&self.data_dir().join("server.key")).unwrap();
        let storage = xuncha_server::PgStorage::open(&self.postgres_url(), key).unwrap();
        match self.postgres.as_ref().and_then(|(_, bucket)| bucket.as_deref()) {
            Some(bucket) => storage.with_attachments(Arc::new(xuncha_server::blobs::Blobs::open(bucket).unwrap())),
            None => storage,
        }
    }

    /// Whether the district keeps its data in PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// A restore tried while this district's server serves from its PostgreSQL database.
    pub fn restore_while_serving(
        &self,
        file: &std::path::Path,
        passphrase: &str,
    ) -> Result<xuncha_server::backup::Manifest, xuncha_server::StorageError> {
        xuncha_server::pg::backup::restore(
            &self.open_postgres(),
            &self.data_dir(),
            file,
            &age_secret(passphrase),
            now_ms(),
        )
    }

    /// A backup of the server, taken while it serves (`xuncha admin backup`).
    pub fn backup(&self, file: &std::path::Path, passphrase: &str) -> xuncha_server::backup::Manifest {
        let passphrase = age_secret(passphrase);
        if self.postgres.is_some() {
            xuncha_server::pg::backup::backup(&self.open_postgres(), &self.data_dir(), file, &passphrase, now_ms())
                .unwrap()
        } else {
            xuncha_server::backup::backup(&self.data_dir(), file, &passphrase, now_ms()).unwrap()
        }
    }

    fn serve(&mut self) {
        self.serve_on("127.0.0.1:0".parse().unwrap());
    }

    fn serve_on(&mut self, address: SocketAddr) {
        let listener = self.runtime.block_on(tokio::net::TcpListener::bind(address)).unwrap();
        self.address = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = AppState::new(Arc::clone(&self.storage)).with_limits(self.limits.clone());
        self.server = Some(self.runtime.spawn(xuncha_server::serve_with(listener, state, self.tls.clone(), async {
            let _ = rx.await;
        })));
        self.shutdown = Some(tx);
    }

    /// Numbers this district's new devices from `base` + 1 on.
    pub fn set_device_base(&mut self, base: u8) {
        self.device_base = base;
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("server")
    }

    /// The server's bundle identity.
    pub fn bundle_identity(&self) -> xuncha_server::bundles::Identity {
        xuncha_server::bundles::identity(self.storage.as_ref(), &self.data_dir()).unwrap()
    }

    /// The server's base URL.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// Terminates TLS with `tls` from now on (or not, with `None`): the server is stopped
    /// and started again on the same address.
    pub fn set_tls(&mut self, tls: Option<xuncha_server::Tls>) {
        self.stop();
        self.tls = tls;
        self.resume();
    }

    /// Adds a user and enrolls a new device for them.
    pub fn device(&self, user: &str, role: Role, jurisdiction: &str) -> Device {
        let storage = self.storage.as_ref();
        if admin::users(storage).unwrap().iter().all(|u| u.id != user) {
            admin::add_user(storage, user, user, role, jurisdiction, now_ms()).unwrap();
        }
        let code = admin::enrollment_code(storage, user, now_ms()).unwrap();
        let n = self.device_base + admin::devices(storage).unwrap().len() as u8 + 1;
        let path = self.dir.path().join(format!("{user}-{n}.db"));
        let identity = Identity {
            device_id: DeviceId::new(format!("local-{n}")).unwrap(),
            user_id: UserId::new(user).unwrap(),
            user_name: user.into(),
            actor: ActorId::from([n; 16]),
        };
        let mut store = Store::create(&path, PIN, &identity, KdfParams::FAST_INSECURE).unwrap();
        // Over TLS, the device enrolls with the pin the QR code would carry.
        let pin = self.tls.as_ref().map(|tls| tls.pin.clone());
        let client = Client::with_pin(&self.url(), Duration::from_secs(20), pin).unwrap();
        self.runtime.block_on(client.enroll(&mut store, &code, &format!("{user} tablet"))).unwrap();
        let supervisor = admin::users(storage).unwrap().iter().any(|u| u.id == user && u.role == Role::Supervisor);
        if let (true, Some(secret)) = (supervisor, &self.protected_secret) {
            xuncha_server::protected_key::grant(storage, secret, &[user.to_owned()], now_ms()).unwrap();
        }
        Device { name: user.into(), store, client }
    }

    /// The round of the workflow tests: 东岭镇 and its 第一村, 2024年第一轮, and 第一巡察组 over
    /// 东岭镇 with `lead`, `deputies` and `members` (users the server already has).
    pub fn set_up_round(&self, lead: &str, deputies: &[&str], members: &[&str]) {
        let storage = self.storage.as_ref();
        let entry = |code: &str, name: &str, parent: &str| xuncha_domain::DivisionEntry {
            code: code.into(),
            name: name.into(),
            parent: parent.into(),
        };
        let divisions = [
            entry("330000000000", "浙江省", ""),
            entry("330100000000", "杭州市", "330000000000"),
            entry("330199000000", "清河区", "330100000000"),
            entry(EAST.0, EAST.1, "330199000000"),
            entry(&format!("{}001", &EAST.0[..9]), "第一村", EAST.0),
        ];
        admin::import_divisions(storage, &divisions, now_ms()).unwrap();
        admin::add_round(storage, "2024年第一轮", "2024-03-01", "2024-05-31", &[], now_ms()).unwrap();
        let names = |list: &[&str]| list.iter().map(|u| (*u).to_owned()).collect();
        let team = admin::NewTeam {
            name: "第一巡察组".into(),
            round: "2024年第一轮".into(),
            lead: lead.into(),
            deputies: names(deputies),
            members: names(members),
            places: vec![EAST.0.into()],
            units: vec![],
        };
        admin::add_team(storage, &team, now_ms()).unwrap();
    }

    /// The users whose devices the log names for each change of a record, in log order.
    pub fn logged_authors(&self, id: RecordId) -> Vec<String> {
        let record = id.uuid().as_bytes().to_vec();
        with_tx(self.storage.as_ref(), false, |tx| {
            let mut users = Vec::new();
            for (row, _) in tx.log_rows(0, 10_000)? {
                if row.record == record {
                    users.push(tx.device(&row.device_id)?.map(|d| d.user_id).unwrap_or_default());
                }
            }
            Ok(users)
        })
        .unwrap()
    }

    /// Syncs a device and expects nothing refused.
    pub fn synced(&self, device: &mut Device) {
        let report = self.sync(device).unwrap();
        assert!(report.refused.is_empty(), "{}: {:?}", device.name, report.refused);
    }

    /// Syncs a device.
    pub fn sync(&self, device: &mut Device) -> Result<SyncReport, SyncError> {
        self.runtime.block_on(device.client.sync(&mut device.store, |_| {}))
    }

    /// Posts a sync body as a raw client would, with `token`; the status and decoded answer.
    pub fn raw_sync(
        &self,
        token: &str,
        request: &xuncha_protocol::SyncRequest,
    ) -> (u16, Option<xuncha_protocol::SyncResponse>, String) {
        let body = xuncha_protocol::encode(request);
        self.runtime.block_on(async {
            let response = reqwest::Client::new()
                .post(format!("{}/v1/sync", self.url()))
                .header(xuncha_protocol::PROTOCOL_HEADER, "1")
                .bearer_auth(token)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let bytes = response.bytes().await.unwrap().to_vec();
            let decoded = xuncha_protocol::decode(&bytes, xuncha_protocol::MAX_DECODED_BYTES).ok();
            (status, decoded, String::from_utf8_lossy(&bytes).into_owned())
        })
    }

    /// The server's merged copy of a record.
    pub fn server_record(&self, id: RecordId) -> Option<RecordDoc> {
        let key = DocKey { record: id.uuid().as_bytes().to_vec(), part: Part::Record };
        let doc = with_tx(self.storage.as_ref(), false, |tx| tx.doc(&key)).unwrap()?;
        Some(RecordDoc::load(&doc.snapshot).unwrap())
    }

    /// Whether the server holds a protected document for a record.
    pub fn server_has_protected(&self, id: RecordId) -> bool {
        let key = DocKey { record: id.uuid().as_bytes().to_vec(), part: Part::Protected };
        with_tx(self.storage.as_ref(), false, |tx| tx.doc(&key)).unwrap().is_some()
    }

    /// Stops the server, finishing requests under way; devices find it unreachable.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = self.runtime.block_on(server);
        }
    }

    /// Restores the backup `file` into the server's data directory: the server is stopped,
    /// the backup put in place (a new epoch), and the server started again on the same
    /// address over it.
    pub fn restore(&mut self, file: &std::path::Path, passphrase: &str) -> xuncha_server::backup::Manifest {
        self.stop();
        if self.postgres.is_some() {
            // Every replica stops (this one lets go of its serving lock) before a restore.
            self.storage = Arc::new(SqliteStorage::open(&self.dir.path().join("scratch")).unwrap());
            let passphrase = age_secret(passphrase);
            let manifest = xuncha_server::pg::backup::restore(
                &self.open_postgres(),
                &self.data_dir(),
                file,
                &passphrase,
                now_ms(),
            )
            .unwrap();
            self.storage = Arc::new(self.open_postgres().serving(&self.postgres_url()).unwrap());
            self.resume();
            return manifest;
        }
        let dir = self.dir.path().join("server");
        // The open database is let go of before its file is replaced.
        self.storage = Arc::new(SqliteStorage::open(&self.dir.path().join("scratch")).unwrap());
        let passphrase = age_secret(passphrase);
        let manifest = xuncha_server::backup::restore(&dir, file, &passphrase, now_ms()).unwrap();
        self.storage = Arc::new(SqliteStorage::open(&dir).unwrap());
        self.resume();
        manifest
    }

    /// Serves under `limits` from now on: the server is stopped (finishing requests under
    /// way) and started again on the same address.
    pub fn set_limits(&mut self, limits: xuncha_server::limits::Limits) {
        self.stop();
        self.limits = limits;
        self.resume();
    }

    /// Starts the stopped server again on the same address.
    pub fn resume(&mut self) {
        self.serve_on(self.address);
    }

    /// Stops the server (finishing requests under way) and starts it again on a new port,
    /// over the same data directory.
    pub fn restart(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = self.runtime.block_on(server);
        }
        self.serve();
    }
}

impl Drop for District {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A 到户补贴 fund check in 东岭镇's first village, with its fund and allocation.
pub fn fund_check(title: &str, seed: u8) -> (NewRecord, Vec<Edit>) {
    (
        new_record(RecordKind::FundCheck, title, EAST, seed),
        vec![
            Edit::Set { field: Field::FundName, value: Some(Value::Text("到户补贴".into())) },
            Edit::Set { field: Field::FundType, value: Some(Value::Choice("household_subsidy".into())) },
            Edit::Set { field: Field::Allocated, value: Some(Value::Money(Yuan::from_yuan(90_000))) },
        ],
    )
}

/// A new record in a township's first village.
pub fn new_record(kind: RecordKind, title: &str, township: (&str, &str), seed: u8) -> NewRecord {
    NewRecord {
        id: RecordId::new(now_ms(), &[seed; 10]),
        kind,
        title: title.into(),
        round: "2024年第一轮".into(),
        township: Some(Division::new(township.0, township.1)),
        village: Some(Division::new(format!("{}001", &township.0[..9]), "第一村")),
        team: "第一巡察组".into(),
    }
}

impl Device {
    /// Creates a record on this device.
    pub fn create(&mut self, new: &NewRecord, edits: &[Edit]) -> RecordId {
        self.store.create_record(new, edits, now_ms()).unwrap()
    }

    /// Edits a record on this device.
    pub fn edit(&mut self, id: RecordId, edits: &[Edit]) {
        self.store.edit(id, edits, now_ms()).unwrap();
    }
}
