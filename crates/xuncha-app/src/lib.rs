//! The app's use cases, with no Tauri: first-run enrollment, PIN unlock and lock, the
//! record list and search, field-level edits, attachments, history, conflicts, review,
//! district totals, CSV export and background sync. The Tauri shell (`src-tauri`) maps
//! each command onto one method of [`App`]; tests drive [`App`] directly.

pub mod dto;
mod error;
pub mod export;
mod records;
mod schema;
mod sync;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use xuncha_domain::{
    ActorId, DeviceId, Edit, Entropy, FieldPath, FieldVersion, HistoryEntry, InformantField, RecordId, UserId,
};
use xuncha_store::{Facets, Identity, KdfParams, Store, StoreError, Totals};
use xuncha_sync::Client;

pub use dto::*;
pub use error::{AppError, ErrorDto, Result};
pub use schema::schema;

/// The name of the device database in the app's data directory.
pub const DB_FILE: &str = "device.db";

/// Where the app reads the time (the edge of the system: the domain never does).
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// What the app tells the UI without being asked.
pub trait EventSink: Send + Sync + std::fmt::Debug {
    /// The sync status changed.
    fn sync_status(&self, status: &SyncStatus);
    /// Records arrived from the server: lists and open records should be read again.
    fn records_changed(&self);
}

/// An event sink that drops everything (for a UI that only polls).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn sync_status(&self, _: &SyncStatus) {}
    fn records_changed(&self) {}
}

/// How the app is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Holds the encrypted device database.
    pub data_dir: PathBuf,
    /// Where exports are written.
    pub export_dir: PathBuf,
    /// Key derivation cost (the default in products; cheaper only in tests).
    pub kdf: KdfParams,
    /// The demo PIN to show on the lock screen (`make run` only).
    pub demo_pin: Option<String>,
}

impl Config {
    /// The product configuration for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        let data_dir = data_dir.into();
        Config { export_dir: data_dir.join("exports"), data_dir, kdf: KdfParams::default(), demo_pin: None }
    }
}

/// An unlocked device database and who is using it.
#[derive(Debug)]
struct Session {
    store: Store,
    info: SessionInfo,
    sync: sync::Worker,
}

/// The app: at most one unlocked session at a time.
#[derive(Debug)]
pub struct App {
    config: Config,
    session: Mutex<Option<Session>>,
    runtime: tokio::runtime::Runtime,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
}

fn entropy() -> Result<Entropy> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::BadInput(format!("系统未提供随机数 / the OS gave no randomness: {e}")))?;
    Ok(bytes)
}

fn can_review(role: &str) -> bool {
    matches!(role, "supervisor" | "administrator")
}

impl App {
    /// The app over `config`, reporting to `events`.
    pub fn new(config: Config, events: Arc<dyn EventSink>, clock: Arc<dyn Clock>) -> Result<App> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("xuncha-sync")
            .enable_all()
            .build()
            .map_err(|e| AppError::Io { path: "runtime".into(), detail: e.to_string() })?;
        Ok(App { config, session: Mutex::new(None), runtime, events, clock })
    }

    fn db_path(&self) -> PathBuf {
        self.config.data_dir.join(DB_FILE)
    }

    fn lock_session(&self) -> MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the unlocked session.
    fn with<T>(&self, f: impl FnOnce(&mut Session) -> Result<T>) -> Result<T> {
        let mut guard = self.lock_session();
        let session = guard.as_mut().ok_or(AppError::Locked)?;
        f(session)
    }

    /// Where the app is, and who is signed in.
    pub fn status(&self) -> AppStatus {
        let guard = self.lock_session();
        let stage = match (&*guard, self.db_path().exists()) {
            (Some(_), _) => Stage::Unlocked,
            (None, true) => Stage::Locked,
            (None, false) => Stage::Setup,
        };
        AppStatus {
            stage,
            session: guard.as_ref().map(|s| s.info.clone()),
            demo_pin: self.config.demo_pin.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// Whether the server at `url` answers (the first-run screen checks before asking
    /// for a PIN).
    pub fn probe_server(&self, url: &str) -> Result<()> {
        let url = normalise_url(url)?;
        let client = Client::new(&url, Duration::from_secs(5))?;
        if self.runtime.block_on(client.reachable()) {
            Ok(())
        } else {
            Err(AppError::Sync(xuncha_sync::SyncError::Unreachable {
                url,
                detail: "no answer from /healthz".to_owned(),
            }))
        }
    }

    /// First run: creates the encrypted device database under the PIN, enrolls it with
    /// the server and unlocks. If enrollment fails nothing is left behind, so the person
    /// can correct the address or code and try again.
    pub fn enroll(&self, input: &EnrollInput) -> Result<AppStatus> {
        if self.db_path().exists() {
            return Err(AppError::AlreadySetUp);
        }
        let url = normalise_url(&input.server)?;
        let code = input.code.trim();
        if code.is_empty() {
            return Err(AppError::BadInput("请填写注册码 / enter the enrollment code from your administrator".into()));
        }
        let device_name = match input.device_name.trim() {
            "" => "巡察平板".to_owned(),
            name => name.to_owned(),
        };
        std::fs::create_dir_all(&self.config.data_dir)
            .map_err(|e| AppError::Io { path: self.config.data_dir.display().to_string(), detail: e.to_string() })?;
        let mut actor = [0u8; 16];
        getrandom::fill(&mut actor)
            .map_err(|e| AppError::BadInput(format!("系统未提供随机数 / the OS gave no randomness: {e}")))?;
        let now = self.clock.now_ms();
        let provisional = Identity {
            device_id: DeviceId::new(format!("pending-{}", RecordId::new(now, &entropy()?)))?,
            user_id: UserId::new("pending")?,
            user_name: String::new(),
            actor: ActorId::from(actor),
        };
        let path = self.db_path();
        let mut store = Store::create(&path, &input.pin, &provisional, self.config.kdf)?;
        let enrolled = Client::new(&url, Duration::from_secs(30))
            .map_err(AppError::from)
            .and_then(|client| Ok(self.runtime.block_on(client.enroll(&mut store, code, &device_name))?));
        if let Err(error) = enrolled {
            drop(store);
            remove_database(&path);
            return Err(error);
        }
        self.start_session(store)?;
        Ok(self.status())
    }

    /// Unlocks the device database with the PIN.
    pub fn unlock(&self, pin: &str) -> Result<AppStatus> {
        let path = self.db_path();
        if !path.exists() {
            return Err(AppError::NotSetUp);
        }
        if self.lock_session().is_some() {
            return Ok(self.status());
        }
        let store = Store::open(&path, pin)?;
        self.start_session(store)?;
        Ok(self.status())
    }

    fn start_session(&self, store: Store) -> Result<()> {
        let role = store.sync_value("role")?.unwrap_or_else(|| "inspector".to_owned());
        let info = SessionInfo {
            user_id: store.identity().user_id.to_string(),
            user_name: store.identity().user_name.clone(),
            can_review: can_review(&role),
            role,
            jurisdiction: store.sync_value("jurisdiction")?.unwrap_or_default(),
            device_id: store.identity().device_id.to_string(),
            server_url: store.sync_value("server_url")?.unwrap_or_default(),
            records_on_device: store.count()?,
        };
        let sync_store = store.open_another()?;
        let sync =
            sync::Worker::start(self.runtime.handle(), sync_store, Arc::clone(&self.events), Arc::clone(&self.clock));
        *self.lock_session() = Some(Session { store, info, sync });
        Ok(())
    }

    /// Locks the app: closes the database (its key leaves memory) and stops sync.
    pub fn lock(&self) -> AppStatus {
        self.lock_session().take();
        self.status()
    }

    /// Changes the PIN (re-keys the database).
    pub fn change_pin(&self, old_pin: &str, new_pin: &str) -> Result<()> {
        let path = self.db_path();
        // Check the old PIN the way unlocking does, before touching anything.
        drop(Store::open(&path, old_pin)?);
        let kdf = self.config.kdf;
        let events = Arc::clone(&self.events);
        let clock = Arc::clone(&self.clock);
        self.with(|s| {
            s.store.change_pin(new_pin, kdf)?;
            // The sync connection was opened with the old key.
            s.sync = sync::Worker::start(self.runtime.handle(), s.store.open_another()?, events, clock);
            Ok(())
        })
    }

    /// A page of the record list.
    pub fn list(&self, query: &ListQuery) -> Result<ListPage> {
        self.with(|s| records::list(&s.store, query))
    }

    /// The villages, townships, rounds, kinds and statuses on the device, with counts.
    pub fn facets(&self) -> Result<Facets> {
        self.with(|s| Ok(s.store.facets()?))
    }

    /// District totals (or one township's).
    pub fn totals(&self, township: Option<&str>) -> Result<Totals> {
        self.with(|s| Ok(s.store.totals(township.filter(|t| !t.is_empty()))?))
    }

    /// One record, with its problems and conflicts.
    pub fn record(&self, id: RecordId) -> Result<RecordView> {
        self.with(|s| records::view(&mut s.store, id, s.info.can_review))
    }

    /// Creates a record.
    pub fn create(&self, input: &NewRecordInput) -> Result<RecordView> {
        let now = self.clock.now_ms();
        let view = self.with(|s| {
            let id = records::create(&mut s.store, input, now, &entropy()?)?;
            records::view(&mut s.store, id, s.info.can_review)
        })?;
        self.changed();
        Ok(view)
    }

    /// Applies field-level edits as one change; returns the record as it now is.
    pub fn edit(&self, id: RecordId, edits: &[Edit]) -> Result<RecordView> {
        let now = self.clock.now_ms();
        let view = self.with(|s| {
            records::check_allowed(edits, s.info.can_review)?;
            s.store.edit(id, edits, now)?;
            records::view(&mut s.store, id, s.info.can_review)
        })?;
        self.changed();
        Ok(view)
    }

    /// Saves what a person typed into one field, parsed by the field's type.
    pub fn input(&self, id: RecordId, input: &FieldInput) -> Result<RecordView> {
        self.edit(id, &[records::input_edit(input)?])
    }

    /// A new list item id (households, subjects, relations, contracts).
    pub fn new_item_id(&self) -> Result<xuncha_domain::ItemId> {
        Ok(xuncha_domain::ItemId::new(self.clock.now_ms(), &entropy()?))
    }

    /// Settles a conflict on the value written by `change`: the settling is an edit.
    pub fn settle(&self, id: RecordId, path: &FieldPath, change: &str) -> Result<RecordView> {
        let edit = self.with(|s| records::settle_edit(&mut s.store, id, path, change))?;
        self.edit(id, &[edit])
    }

    /// Every change of a record.
    pub fn history(&self, id: RecordId) -> Result<Vec<HistoryEntry>> {
        self.with(|s| Ok(s.store.record(id)?.history()))
    }

    /// The values one field took, change by change.
    pub fn field_history(&self, id: RecordId, path: &FieldPath) -> Result<Vec<FieldVersion>> {
        self.with(|s| Ok(s.store.record(id)?.field_history(path)))
    }

    /// Attaches a photo or document.
    pub fn attach(&self, input: &AttachmentInput, bytes: Vec<u8>) -> Result<RecordView> {
        let now = self.clock.now_ms();
        let view = self.with(|s| {
            records::attach(&mut s.store, input, bytes, now)?;
            records::view(&mut s.store, input.record, s.info.can_review)
        })?;
        self.changed();
        Ok(view)
    }

    /// An attachment's bytes: from the device, or fetched from the server if another
    /// device added it (`mime` is what the record says of it).
    pub fn attachment(&self, sha256: &str, mime: &str) -> Result<Vec<u8>> {
        let local = self.with(|s| match s.store.attachment(sha256) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(StoreError::AttachmentNotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        })?;
        if let Some(bytes) = local {
            return Ok(bytes);
        }
        // Download on a connection of its own, so the UI is not held while it runs.
        let mut store = self.with(|s| Ok(s.store.open_another()?))?;
        let client = Client::for_device(&store, Duration::from_secs(120))?;
        Ok(self.runtime.block_on(client.download_attachment(&mut store, sha256, mime))?)
    }

    /// The informant of a gang clue.
    pub fn set_informant(&self, id: RecordId, values: &[(InformantField, String)]) -> Result<RecordView> {
        let now = self.clock.now_ms();
        let view = self.with(|s| {
            records::set_informant(&mut s.store, id, values, now)?;
            records::view(&mut s.store, id, s.info.can_review)
        })?;
        self.changed();
        Ok(view)
    }

    /// The sync status.
    pub fn sync_status(&self) -> Result<SyncStatus> {
        self.with(|s| Ok(s.sync.status()))
    }

    /// Syncs now (the result arrives as sync-status events).
    pub fn sync_now(&self) -> Result<SyncStatus> {
        self.with(|s| {
            s.sync.now();
            Ok(s.sync.status())
        })
    }

    /// Writes the record list to a CSV file in the export folder.
    pub fn export_csv(&self) -> Result<ExportResult> {
        let rows = self.with(|s| Ok(export::all_rows(&s.store, None)?))?;
        let bytes = export::csv_bytes(&rows).map_err(|e| AppError::Io { path: "csv".into(), detail: e.to_string() })?;
        let dir = &self.config.export_dir;
        let io = |e: std::io::Error| AppError::Io { path: dir.display().to_string(), detail: e.to_string() };
        std::fs::create_dir_all(dir).map_err(io)?;
        let stamp = chrono::DateTime::from_timestamp_millis(self.clock.now_ms())
            .map(|t| t.format("%Y%m%d-%H%M%S").to_string())
            .unwrap_or_default();
        let path = dir.join(format!("xuncha-records-{stamp}.csv"));
        export::write_whole(&path, &bytes).map_err(io)?;
        Ok(ExportResult { path: path.display().to_string(), records: rows.len() })
    }

    /// After a local write: update the waiting count and let sync run soon.
    fn changed(&self) {
        let guard = self.lock_session();
        if let Some(s) = guard.as_ref() {
            let (pending, refused) = s.store.outbox_status().unwrap_or((0, 0));
            s.sync.changed(self.events.as_ref(), pending, refused);
        }
    }
}

/// Accepts `host:port` or a full URL; refuses anything else with what to type.
fn normalise_url(text: &str) -> Result<String> {
    let text = text.trim().trim_end_matches('/');
    let url = if text.starts_with("http://") || text.starts_with("https://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    let host = url.split("://").nth(1).unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(AppError::BadInput(format!(
            "服务器地址 “{text}” 无效，应如 https://xuncha.example.gov.cn / the server address {text:?} is not valid; e.g. https://xuncha.example.gov.cn"
        )));
    }
    Ok(url)
}

/// Removes a device database that was never enrolled, with its key file.
fn remove_database(path: &Path) {
    let mut names = vec![path.to_owned(), xuncha_store::key_file_path(path)];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        names.push(PathBuf::from(name));
    }
    for name in names {
        let _ = std::fs::remove_file(name);
    }
}
