//! The app's use cases, with no Tauri: first-run enrollment (typed, or from the text of
//! an enrollment QR code), PIN unlock and lock, the record list and search, field-level
//! edits, the round's reference data (乡镇 → 村 pickers, the user's teams, households
//! from the village rosters), withdrawing drafts, attachments, history, conflicts, review,
//! district totals, CSV export, moving to a new server address and background sync. The
//! Tauri shell (`src-tauri`) maps each command onto one method of [`App`]; tests drive
//! [`App`] directly.

pub mod archive;
pub mod bundles;
pub mod dto;
mod error;
pub mod export;
pub mod photos;
pub mod records;
pub mod reference;
pub mod relay;
pub mod reports;
mod schema;
mod sync;
pub mod watermark;
pub mod workbook;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use xuncha_domain::{ActorId, DeviceId, DivisionEntry, Edit, Entropy, FieldPath, InformantField, RecordId, UserId};
use xuncha_store::{Facets, Identity, KdfParams, Store, StoreError, Totals, TotalsFilter};
use xuncha_sync::Client;

pub use dto::*;
pub use error::{AppError, BadInput, ErrorDto, ErrorParams, Result};
pub use schema::schema;

/// The name of the device database in the app's data directory.
pub const DB_FILE: &str = "device.db";

/// How long fetching one photo or file may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);

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
    /// Records (or the round's reference data) arrived from the server: lists, pickers and
    /// open records should be read again.
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
    /// Where the report fonts are (the Tauri app's resource folder); `None`: the search
    /// path of [`xuncha_report::Fonts::load`].
    pub fonts_dir: Option<PathBuf>,
    /// The longest side, in pixels, a photo is stored at: larger JPEG and PNG photos are
    /// downscaled on the device before they are stored and synced ([`photos`]).
    pub photo_long_side: u32,
    /// The JPEG quality (1–100) downscaled photos are stored at.
    pub photo_quality: u8,
    /// Where a 组长's device serves as its team's relay (on the hotspot).
    pub relay_listen: std::net::SocketAddr,
    /// The address members reach the relay at, for its QR code [default: this device's
    /// address on its network].
    pub relay_url: Option<String>,
    /// How often a device connected to its server syncs when nothing happens on it, to
    /// receive the others' edits [default: every 20 s].
    pub sync_every: std::time::Duration,
}

impl Config {
    /// The product configuration for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        let data_dir = data_dir.into();
        Config {
            export_dir: data_dir.join("exports"),
            data_dir,
            kdf: KdfParams::default(),
            demo_pin: None,
            fonts_dir: None,
            photo_long_side: photos::PhotoSettings::default().long_side,
            photo_quality: photos::PhotoSettings::default().quality,
            relay_listen: std::net::SocketAddr::from(([0, 0, 0, 0], 8471)),
            relay_url: None,
            sync_every: sync::SYNC_EVERY,
        }
    }
}

/// An unlocked device database and who is using it: what viewing and editing need, and
/// what locking drops.
#[derive(Debug)]
struct Session {
    store: Store,
    info: SessionInfo,
}

/// This device's name: as the device directory lists it, else as it enrolled (empty for a
/// device enrolled before names were kept, until the directory arrives).
pub(crate) fn device_name(store: &Store) -> Result<String> {
    let own = store.identity().device_id.to_string();
    let listed = store.devices()?.into_iter().find(|d| d.id == own).map(|d| d.name);
    Ok(listed.or(store.sync_value("device_name")?).unwrap_or_default())
}

/// The app: at most one unlocked session at a time, and the background sync worker.
///
/// The worker outlives locking: locking drops the [`Session`] (the connection the UI reads
/// and edits through, with every document it holds), so nothing can be read or edited
/// until the PIN is entered again, but the worker keeps its own connection, opened with
/// the key while the app was unlocked, and goes on sending the outbox and receiving
/// others' changes (a tablet in a bag syncs as it passes through coverage). The key
/// therefore stays in this process until the app closes, the PIN changes or the server
/// revokes the device. A new process starts locked with no key, so it syncs nothing until
/// the first unlock: the key exists only as the PIN.
#[derive(Debug)]
pub struct App {
    config: Config,
    session: Mutex<Option<Session>>,
    /// Started by the first unlock (or enrollment); reused by later unlocks while it runs.
    /// Lock order: `session` before `sync` when both are held.
    sync: Mutex<Option<sync::Worker>>,
    runtime: tokio::runtime::Runtime,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    /// The report fonts while a document or a watermark uses them (`reports`).
    fonts: Mutex<Weak<xuncha_report::Fonts>>,
    /// The export running, if any: one at a time (`reports`).
    export: Mutex<Option<Arc<reports::Job>>>,
    /// The team relay this device serves, if it does (`relay`).
    relay: Mutex<Option<relay::Running>>,
}

fn entropy() -> Result<Entropy> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).map_err(|e| AppError::BadInput(BadInput::NoRandomness(e.to_string())))?;
    Ok(bytes)
}

/// Whether the user has a review queue: the office (supervisors, administrators), team
/// leads, and anyone who is a 组长 or 副组长 of a team on the device.
fn can_review(store: &Store, role: &str) -> bool {
    if matches!(role, "supervisor" | "administrator" | "team_lead") {
        return true;
    }
    let user = store.identity().user_id.to_string();
    store.teams().is_ok_and(|teams| {
        teams
            .iter()
            .any(|t| matches!(t.role_of(&user), Some(xuncha_domain::TeamRole::Lead | xuncha_domain::TeamRole::Deputy)))
    })
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
        Ok(App {
            config,
            session: Mutex::new(None),
            sync: Mutex::new(None),
            runtime,
            events,
            clock,
            fonts: Mutex::new(Weak::new()),
            export: Mutex::new(None),
            relay: Mutex::new(None),
        })
    }

    fn db_path(&self) -> PathBuf {
        self.config.data_dir.join(DB_FILE)
    }

    fn lock_session(&self) -> MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_sync(&self) -> MutexGuard<'_, Option<sync::Worker>> {
        self.sync.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the unlocked session.
    fn with<T>(&self, f: impl FnOnce(&mut Session) -> Result<T>) -> Result<T> {
        let mut guard = self.lock_session();
        let session = guard.as_mut().ok_or(AppError::Locked)?;
        f(session)
    }

    /// Today's date on the commission's calendar (deadline lights are seen from it).
    fn today(&self) -> String {
        xuncha_domain::workflow::date_of_ms(self.clock.now_ms())
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

    /// Reads the text of an enrollment QR code (`xuncha:enroll?server=…&code=…`): the
    /// first-run screen fills in the server and the code from it.
    pub fn enroll_link(&self, text: &str) -> Result<EnrollLink> {
        let link = xuncha_protocol::EnrollLink::parse(text)
            .ok_or_else(|| AppError::BadInput(BadInput::NotAnEnrollmentLink))?;
        Ok(EnrollLink { server: link.server, code: link.code, server_pin: link.pin })
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
            return Err(AppError::BadInput(BadInput::NoEnrollmentCode));
        }
        let device_name = match input.device_name.trim() {
            "" => "巡察平板".to_owned(),
            name => name.to_owned(),
        };
        std::fs::create_dir_all(&self.config.data_dir)
            .map_err(|e| AppError::Io { path: self.config.data_dir.display().to_string(), detail: e.to_string() })?;
        let mut actor = [0u8; 16];
        getrandom::fill(&mut actor).map_err(|e| AppError::BadInput(BadInput::NoRandomness(e.to_string())))?;
        let now = self.clock.now_ms();
        let provisional = Identity {
            device_id: DeviceId::new(format!("pending-{}", RecordId::new(now, &entropy()?)))?,
            user_id: UserId::new("pending")?,
            user_name: String::new(),
            actor: ActorId::from(actor),
        };
        let path = self.db_path();
        let mut store = Store::create(&path, &input.pin, &provisional, self.config.kdf)?;
        let server_pin = match input.server_pin.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(text) => {
                Some(xuncha_protocol::pin::normalise(text).ok_or_else(|| AppError::BadInput(BadInput::BadServerPin))?)
            }
            None => None,
        };
        let enrolled = Client::with_pin(&url, Duration::from_secs(30), server_pin)
            .map_err(AppError::from)
            .and_then(|client| Ok(self.runtime.block_on(client.enroll(&mut store, code, &device_name))?));
        // The name it enrolled with, for 我的 before the device directory arrives.
        let enrolled = enrolled.and_then(|_| Ok(store.set_sync_value("device_name", &device_name)?));
        if let Err(error) = enrolled {
            drop(store);
            remove_database(&path);
            return Err(error);
        }
        self.start_session(store, true)?;
        Ok(self.status())
    }

    /// Unlocks the device database with the PIN, for viewing and editing. Background sync
    /// that kept running while the app was locked carries on (the same worker); the first
    /// unlock after the app starts (or after sync stopped, as on revocation) starts it.
    /// A wrong PIN changes nothing: the app stays locked and sync keeps running.
    pub fn unlock(&self, pin: &str) -> Result<AppStatus> {
        let path = self.db_path();
        if !path.exists() {
            return Err(AppError::NotSetUp);
        }
        if self.lock_session().is_some() {
            return Ok(self.status());
        }
        let store = Store::open(&path, pin)?;
        self.start_session(store, false)?;
        Ok(self.status())
    }

    /// Makes `store` the UI's session; starts background sync on a connection of its own
    /// unless a worker is still running (and `fresh_sync` is not asked for).
    fn start_session(&self, store: Store, fresh_sync: bool) -> Result<()> {
        let role = store.sync_value("role")?.unwrap_or_else(|| "inspector".to_owned());
        let info = SessionInfo {
            user_id: store.identity().user_id.to_string(),
            user_name: store.identity().user_name.clone(),
            can_review: can_review(&store, &role),
            role,
            jurisdiction: store.sync_value("jurisdiction")?.unwrap_or_default(),
            device_id: store.identity().device_id.to_string(),
            device_name: device_name(&store)?,
            server_url: store.sync_value("server_url")?.unwrap_or_default(),
            records_on_device: store.count()?,
        };
        {
            let mut worker = self.lock_sync();
            if fresh_sync || !worker.as_ref().is_some_and(sync::Worker::is_running) {
                if let Some(old) = worker.take() {
                    old.stop(&self.runtime);
                }
                *worker = Some(self.start_worker(store.open_another()?));
            }
        }
        *self.lock_session() = Some(Session { store, info });
        Ok(())
    }

    fn start_worker(&self, store: Store) -> sync::Worker {
        sync::Worker::start(
            self.runtime.handle(),
            store,
            Arc::clone(&self.events),
            Arc::clone(&self.clock),
            self.config.sync_every,
        )
    }

    /// Moves the device to a new address of its server (我的 → 服务器地址): accepted only
    /// when the server there is the one the device enrolled with (`other_server`
    /// otherwise, and nothing changes). Background sync starts again on the new address.
    pub fn move_server(&self, url: &str) -> Result<AppStatus> {
        let url = normalise_url(url)?;
        // On a connection of its own, so the UI is not held while the server answers.
        let mut store = self.with(|s| Ok(s.store.open_another()?))?;
        let client = Client::new(&url, Duration::from_secs(30))?;
        self.runtime.block_on(client.move_device_here(&mut store))?;
        let server_url = store.sync_value("server_url")?.unwrap_or(url);
        {
            let mut worker = self.lock_sync();
            if let Some(old) = worker.take() {
                old.stop(&self.runtime);
            }
            *worker = Some(self.start_worker(store));
        }
        self.with(|s| {
            s.info.server_url = server_url;
            Ok(())
        })?;
        Ok(self.status())
    }

    /// Locks the app: closes the UI's connection to the database, so no record can be read
    /// or edited until the PIN is entered again. Background sync keeps running on its own
    /// connection (and keeps reporting its status); see [`App`].
    pub fn lock(&self) -> AppStatus {
        self.lock_session().take();
        self.status()
    }

    /// Changes the PIN (re-keys the database). Background sync stops first (its connection
    /// holds the old key and would keep the database busy during the re-key) and starts
    /// again on a connection opened with the new key.
    pub fn change_pin(&self, old_pin: &str, new_pin: &str) -> Result<()> {
        let path = self.db_path();
        // Check the old PIN the way unlocking does, before touching anything.
        drop(Store::open(&path, old_pin)?);
        let kdf = self.config.kdf;
        self.with(|s| {
            if let Some(old) = self.lock_sync().take() {
                old.stop(&self.runtime);
            }
            let changed = s.store.change_pin(new_pin, kdf);
            // Sync starts again whatever happened: on the new key, or on the old one.
            let worker = self.start_worker(s.store.open_another()?);
            *self.lock_sync() = Some(worker);
            changed.map_err(AppError::from)
        })
    }

    /// A page of the record list.
    pub fn list(&self, query: &ListQuery) -> Result<ListPage> {
        self.with(|s| records::list(&s.store, query, &s.info.role, &self.today()))
    }

    /// Marks what is new on a record seen (its row and the records tab lose their badge);
    /// returns how many of the user's records still have news.
    pub fn mark_seen(&self, id: RecordId) -> Result<u32> {
        self.with(|s| records::mark_seen(&mut s.store, id))
    }

    /// The villages, townships, rounds, kinds and statuses on the device, with counts.
    pub fn facets(&self) -> Result<Facets> {
        self.with(|s| Ok(s.store.facets()?))
    }

    /// District totals (or one township's).
    pub fn totals(&self, township: Option<&str>) -> Result<Totals> {
        let filter = TotalsFilter { township: township.map(str::to_owned), ..TotalsFilter::default() };
        self.totals_for(&filter)
    }

    /// The totals and the figures upward over the records `filter` picks (round, township,
    /// team, date range), overdue judged on today's date.
    pub fn totals_for(&self, filter: &TotalsFilter) -> Result<Totals> {
        self.with(|s| Ok(s.store.totals_for(filter, &self.today())?))
    }

    /// The 问题清单 (a round's problems with their sources and states).
    pub fn problems(&self, filter: &TotalsFilter) -> Result<Vec<ProblemRow>> {
        self.with(|s| records::problems(&s.store, filter, &self.today()))
    }

    /// Signs the record with a picture from the pad (or a photo of a thumbprint), bound to
    /// its current version. The picture and the signature land in one transaction.
    pub fn sign(&self, input: &SignInput, image: Vec<u8>) -> Result<RecordView> {
        if image.is_empty() || !input.mime.starts_with("image/") {
            return Err(AppError::BadInput(BadInput::NotAPicture));
        }
        let now = self.clock.now_ms();
        let file = xuncha_store::NewAttachment {
            bytes: image,
            mime: input.mime.clone(),
            caption: format!("{}签字", input.role.zh()),
            taken_at_ms: Some(now),
            gps: None,
        };
        let view = self.with(|s| {
            let signer = match input.signer.trim() {
                "" => s.info.user_name.clone(),
                name => name.to_owned(),
            };
            let edit = Edit::Sign {
                id: xuncha_domain::ItemId::new(now, &entropy()?),
                role: input.role,
                signer,
                image: file.reference(),
                strokes: input.strokes.clone(),
            };
            records::check_allowed(&mut s.store, input.record, std::slice::from_ref(&edit), &s.info.role, now)?;
            s.store.edit_with_files(input.record, &[edit], std::slice::from_ref(&file), now)?;
            records::view(&mut s.store, input.record, &s.info.role, &self.today())
        })?;
        self.changed();
        Ok(view)
    }

    /// Fills in the rectification ledger (责任单位, 责任人, 措施, 时限, 类型). On a problem the
    /// office has approved, hands it over for rectification (整改中) in the same change.
    pub fn rectify(&self, id: RecordId, change: &xuncha_domain::LedgerChange) -> Result<RecordView> {
        let edits = self.with(|s| {
            let record = s.store.record(id)?.read();
            let mut edits = Vec::new();
            if record.review.status == xuncha_domain::ReviewStatus::OfficeApproved {
                let standing = reference::standing(&s.store, records::reader(&s.info.role), &record)?;
                edits.push(
                    xuncha_domain::workflow::transition(
                        standing,
                        &record,
                        xuncha_domain::ReviewStatus::Rectifying,
                        "",
                        None,
                        None,
                    )
                    .map_err(AppError::Forbidden)?,
                );
            }
            edits.push(Edit::Ledger { change: change.clone() });
            Ok(edits)
        })?;
        self.edit(id, &edits)
    }

    /// Adds a progress entry (整改进展) with its 佐证材料 (`bytes` holds the files one after
    /// another, as `input.files` gives their sizes), in one transaction.
    pub fn add_progress(&self, input: &ProgressInput, bytes: Vec<u8>) -> Result<RecordView> {
        let total: usize = input.files.iter().map(|f| f.size as usize).sum();
        if total != bytes.len() {
            return Err(AppError::BadInput(BadInput::SizeMismatch { sent: bytes.len(), expected: total }));
        }
        let now = self.clock.now_ms();
        let mut files = Vec::new();
        let mut at = 0;
        for file in &input.files {
            let end = at + file.size as usize;
            files.push(xuncha_store::NewAttachment {
                bytes: bytes[at..end].to_vec(),
                mime: file.mime.clone(),
                caption: file.caption.clone(),
                taken_at_ms: Some(now),
                gps: None,
            });
            at = end;
        }
        let edit = Edit::AddProgress {
            id: xuncha_domain::ItemId::new(now, &entropy()?),
            text: input.text.clone(),
            attachments: files.iter().map(xuncha_store::NewAttachment::reference).collect(),
        };
        let view = self.with(|s| {
            records::check_allowed(&mut s.store, input.record, std::slice::from_ref(&edit), &s.info.role, now)?;
            s.store.edit_with_files(input.record, &[edit], &files, now)?;
            records::view(&mut s.store, input.record, &s.info.role, &self.today())
        })?;
        self.changed();
        Ok(view)
    }

    /// Cites another record on this device as a source (or removes the citation).
    pub fn cite(&self, id: RecordId, source: RecordId, cite: bool) -> Result<RecordView> {
        self.with(|s| {
            s.store.record(source).map(|_| ()).map_err(|_| AppError::BadInput(BadInput::CitedRecordMissing))
        })?;
        let edit = if cite { Edit::Cite { source } } else { Edit::Uncite { source } };
        self.edit(id, &[edit])
    }

    /// One record, with its problems and conflicts.
    pub fn record(&self, id: RecordId) -> Result<RecordView> {
        self.with(|s| records::view(&mut s.store, id, &s.info.role, &self.today()))
    }

    /// Creates a record.
    pub fn create(&self, input: &NewRecordInput) -> Result<RecordView> {
        let now = self.clock.now_ms();
        let view = self.with(|s| {
            let id = records::create(&mut s.store, input, now, &entropy()?)?;
            records::view(&mut s.store, id, &s.info.role, &self.today())
        })?;
        self.changed();
        Ok(view)
    }

    /// Applies field-level edits as one change; returns the record as it now is.
    pub fn edit(&self, id: RecordId, edits: &[Edit]) -> Result<RecordView> {
        let now = self.clock.now_ms();
        let asked = std::time::Instant::now();
        let view = self.with(|s| {
            let started = std::time::Instant::now();
            records::check_allowed(&mut s.store, id, edits, &s.info.role, now)?;
            let checked = std::time::Instant::now();
            s.store.edit(id, edits, now)?;
            let saved = std::time::Instant::now();
            let view = records::view(&mut s.store, id, &s.info.role, &self.today())?;
            tracing::debug!(
                record = %id,
                waited_ms = (started - asked).as_secs_f64() * 1e3,
                checked_ms = (checked - started).as_secs_f64() * 1e3,
                saved_ms = (saved - checked).as_secs_f64() * 1e3,
                view_ms = saved.elapsed().as_secs_f64() * 1e3,
                "edit"
            );
            Ok(view)
        })?;
        self.changed();
        Ok(view)
    }

    /// Saves what a person typed into one field, parsed by the field's type. A relation's
    /// 人员甲 or 人员乙 may be given as a subject's name (or picked by its id): the
    /// subject's id is stored.
    pub fn input(&self, id: RecordId, input: &FieldInput) -> Result<RecordView> {
        let input = self.with(|s| records::resolve_subject(&s.store, id, input.clone()))?;
        self.edit(id, &[records::input_edit(&input)?])
    }

    /// Takes the record one step along the 巡察 workflow (submit, 审核, 审签, 退回补充,
    /// 巡察办审核, 移交, 整改, 销号, 了结), in the capacity the user holds toward it. A step
    /// the user may not take is refused with who may.
    pub fn transition(&self, id: RecordId, input: &TransitionInput) -> Result<RecordView> {
        let edit = self.with(|s| {
            let record = s.store.record(id)?.read();
            let standing = reference::standing(&s.store, records::reader(&s.info.role), &record)?;
            xuncha_domain::workflow::transition(
                standing,
                &record,
                input.to,
                &input.note,
                input.conclusion,
                input.handover.clone(),
            )
            .map_err(AppError::Forbidden)
        })?;
        self.edit(id, &[edit])
    }

    /// Withdraws a draft (撤回草稿): it leaves lists, search and totals, and takes no more
    /// edits. Refused for a record that is no longer a draft, with the domain's message.
    pub fn withdraw(&self, id: RecordId) -> Result<RecordView> {
        self.edit(id, &[Edit::Withdraw])
    }

    /// The townships the user works in (the 乡镇 picker), by code.
    pub fn townships(&self) -> Result<Vec<DivisionEntry>> {
        self.with(|s| reference::townships(&s.store))
    }

    /// The villages of a township (the 村 picker), by name.
    pub fn villages(&self, township: &str) -> Result<Vec<DivisionEntry>> {
        self.with(|s| reference::villages(&s.store, township))
    }

    /// The user's teams, roles in them and rounds.
    pub fn assignment(&self) -> Result<Assignment> {
        self.with(|s| reference::assignment(&s.store))
    }

    /// Moves a record to a township or village picked by name (its code): the village's
    /// township with it, and the round and team of the user's team there where the record
    /// has none. One change.
    pub fn place(&self, id: RecordId, code: &str) -> Result<RecordView> {
        let edits = self.with(|s| {
            let record = s.store.record(id)?.read();
            reference::place_edits(&s.store, &record, code)
        })?;
        self.edit(id, &edits)
    }

    /// Households of the record's village rosters whose head's name contains a word of
    /// `query` (several words: any of them; empty: every household).
    pub fn search_roster(&self, id: RecordId, query: &str) -> Result<Vec<RosterPick>> {
        self.with(|s| reference::search_roster(&s.store, &s.store.record(id)?.read(), query))
    }

    /// Adds the picked roster households as beneficiaries (head and entitled amount), in
    /// one change.
    pub fn add_from_roster(&self, id: RecordId, keys: &[RosterKey]) -> Result<RecordView> {
        let now = self.clock.now_ms();
        let edits = self.with(|s| {
            let record = s.store.record(id)?.read();
            reference::households_from_roster(&s.store, &record, keys, now, entropy)
        })?;
        self.edit(id, &edits)
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

    /// Every change of a record, its author by name.
    pub fn history(&self, id: RecordId) -> Result<Vec<HistoryEntryView>> {
        self.with(|s| records::history(&s.store, id))
    }

    /// The values one field took, change by change, each change's author by name.
    pub fn field_history(&self, id: RecordId, path: &FieldPath) -> Result<Vec<FieldVersionView>> {
        self.with(|s| records::field_history(&s.store, id, path))
    }

    /// Attaches a photo or document.
    pub fn attach(&self, input: &AttachmentInput, bytes: Vec<u8>) -> Result<RecordView> {
        let now = self.clock.now_ms();
        // The font is read before the session is held (the first time, some 50 MB).
        let fonts = if input.watermark && input.mime.trim().starts_with("image/") { Some(self.fonts()?) } else { None };
        let face = fonts
            .as_ref()
            .map(|f| {
                f.face(true).ok_or(AppError::Report(xuncha_report::ReportError::FontsMissing {
                    searched: f.dir.display().to_string(),
                }))
            })
            .transpose()?;
        let view = self.with(|s| {
            let settings =
                photos::PhotoSettings { long_side: self.config.photo_long_side, quality: self.config.photo_quality };
            let who = if s.info.user_name.trim().is_empty() { &s.info.user_id } else { &s.info.user_name };
            let mark = face.map(|face| (face, who.as_str()));
            records::attach(&mut s.store, input, bytes, settings, mark, now)?;
            records::view(&mut s.store, input.record, &s.info.role, &self.today())
        })?;
        self.changed();
        Ok(view)
    }

    /// An attachment's bytes: from the device, or fetched from the server (or the team
    /// relay while the server is out of reach) if another device added it (`mime` is what
    /// the record says of it).
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
        let fetched = xuncha_sync::relay::download_attachment_anywhere(&mut store, sha256, mime, DOWNLOAD_TIMEOUT);
        Ok(self.runtime.block_on(fetched)?)
    }

    /// Fetches every photo and document of the records `query` picks that this device does
    /// not hold (a village's, before going there), on a connection of its own.
    pub fn download_attachments(&self, query: &ListQuery) -> Result<DownloadReport> {
        let (records, wanted) = self.with(|s| records::missing_attachments(&s.store, query, &s.info.role))?;
        if wanted.is_empty() {
            return Ok(DownloadReport { records, ..DownloadReport::default() });
        }
        let mut store = self.with(|s| Ok(s.store.open_another()?))?;
        self.runtime.block_on(records::download(&mut store, DOWNLOAD_TIMEOUT, records, &wanted))
    }

    /// A photo's thumbnail ([`photos::thumbnail`]): the one kept on the device, or else one
    /// made from the bytes [`App::attachment`] gives, outside the session (decoding takes
    /// tens of milliseconds), and kept; `None` for a file that is not a photo this build
    /// decodes (the screen shows its kind instead).
    pub fn attachment_thumbnail(&self, sha256: &str, mime: &str) -> Result<Option<Vec<u8>>> {
        let side = photos::THUMBNAIL_SIDE;
        if let Some(kept) = self.with(|s| Ok(s.store.attachment_thumbnail(sha256, side)?))? {
            return Ok(Some(kept));
        }
        let bytes = self.attachment(sha256, mime)?;
        let Some(small) = photos::thumbnail(&bytes, side) else {
            return Ok(None);
        };
        // Kept for next time; if it cannot be, it is only made again then.
        if let Err(error) = self.with(|s| Ok(s.store.put_attachment_thumbnail(sha256, side, &small)?)) {
            tracing::warn!(%error, sha256, "a thumbnail could not be kept");
        }
        Ok(Some(small))
    }

    /// The informant of a gang clue.
    pub fn set_informant(&self, id: RecordId, values: &[(InformantField, String)]) -> Result<RecordView> {
        let now = self.clock.now_ms();
        let view = self.with(|s| {
            records::set_informant(&mut s.store, id, values, now)?;
            records::view(&mut s.store, id, &s.info.role, &self.today())
        })?;
        self.changed();
        Ok(view)
    }

    /// The sync status. It holds no record data, so it is answered while the app is locked
    /// too (sync keeps running then); only before the first unlock is there none.
    pub fn sync_status(&self) -> Result<SyncStatus> {
        self.lock_sync().as_ref().map(sync::Worker::status).ok_or(AppError::Locked)
    }

    /// Syncs now (the result arrives as sync-status events). Asked from the unlocked app;
    /// while locked, sync runs by itself.
    pub fn sync_now(&self) -> Result<SyncStatus> {
        self.with(|_| Ok(()))?;
        let worker = self.lock_sync();
        let worker = worker.as_ref().ok_or(AppError::Locked)?;
        worker.now();
        Ok(worker.status())
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
        let Ok((pending, refused)) = self.with(|s| Ok(s.store.outbox_status().unwrap_or((0, 0)))) else {
            return;
        };
        if let Some(worker) = self.lock_sync().as_ref() {
            worker.changed(self.events.as_ref(), pending, refused);
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
        return Err(AppError::BadInput(BadInput::BadServerAddress(text.to_owned())));
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

#[cfg(test)]
mod tests {
    //! Locking and the background sync worker, with no server: the worker runs against an
    //! address where nothing listens and reports being offline. (`tests/tests/it/app.rs` in
    //! the workspace's `tests` crate syncs a locked app against a real server.)

    use super::*;

    const PIN: &str = "246810";

    /// A device database enrolled (as far as the worker can tell) with a server that does
    /// not answer, and an app over it that has just started: locked.
    fn set_up() -> (tempfile::TempDir, App) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path());
        config.kdf = KdfParams::FAST_INSECURE;
        let identity = Identity {
            device_id: DeviceId::new("dev-1").unwrap(),
            user_id: UserId::new("wang").unwrap(),
            user_name: "王巡察".into(),
            actor: ActorId::from([7; 16]),
        };
        let mut store = Store::create(&dir.path().join(DB_FILE), PIN, &identity, config.kdf).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        store.set_sync_value("server_url", &url).unwrap();
        drop(store);
        (dir, App::new(config, Arc::new(NoEvents), Arc::new(SystemClock)).unwrap())
    }

    /// The worker (to compare by identity) and whether it runs.
    fn worker(app: &App) -> Option<(Arc<sync::Shared>, bool)> {
        app.lock_sync().as_ref().map(|w| (w.shared(), w.is_running()))
    }

    fn assert_locked<T: std::fmt::Debug>(what: &str, result: Result<T>) {
        assert!(matches!(result, Err(AppError::Locked)), "{what} answered {result:?} while locked");
    }

    #[test]
    fn locking_keeps_sync_running_and_unlocking_reuses_it() {
        let (_dir, app) = set_up();
        // A process that has just started holds no key: locked, and no sync.
        assert_eq!(app.status().stage, Stage::Locked);
        assert!(worker(&app).is_none());
        assert_locked("sync_status", app.sync_status());

        app.unlock(PIN).unwrap();
        let (first, running) = worker(&app).unwrap();
        assert!(running);

        // Locked: nothing reads or writes records, but the same worker keeps running.
        assert_eq!(app.lock().stage, Stage::Locked);
        assert!(app.status().session.is_none());
        let id = RecordId::new(0, &[1; 10]);
        assert_locked("list", app.list(&ListQuery::default()));
        assert_locked("facets", app.facets());
        assert_locked("totals", app.totals(None));
        assert_locked("record", app.record(id));
        assert_locked("history", app.history(id));
        assert_locked("field_history", app.field_history(id, &FieldPath::ReviewStatus));
        assert_locked("edit", app.edit(id, &[]));
        assert_locked("settle", app.settle(id, &FieldPath::ReviewStatus, "x"));
        assert_locked("attachment", app.attachment("00", "image/jpeg"));
        assert_locked("set_informant", app.set_informant(id, &[]));
        assert_locked("export_csv", app.export_csv());
        assert_locked("sync_now", app.sync_now());
        assert_locked("change_pin", app.change_pin(PIN, "864200"));
        let (same, running) = worker(&app).unwrap();
        assert!(Arc::ptr_eq(&first, &same) && running);
        // Its status holds no record data and is still answered.
        assert_eq!(app.sync_status().unwrap().server_url, first.status().server_url);

        // A wrong PIN changes nothing.
        assert_eq!(app.unlock("135790").unwrap_err().code(), "wrong_pin");
        assert_eq!(app.status().stage, Stage::Locked);
        let (same, running) = worker(&app).unwrap();
        assert!(Arc::ptr_eq(&first, &same) && running);

        // The right one opens the records again, with the same worker.
        assert_eq!(app.unlock(PIN).unwrap().stage, Stage::Unlocked);
        assert!(app.list(&ListQuery::default()).unwrap().rows.is_empty());
        let (same, running) = worker(&app).unwrap();
        assert!(Arc::ptr_eq(&first, &same) && running);

        // A PIN change stops the worker (its connection has the old key) and starts one on the new key.
        app.change_pin(PIN, "864200").unwrap();
        let (second, running) = worker(&app).unwrap();
        assert!(!Arc::ptr_eq(&first, &second) && running);
        app.lock();
        assert_eq!(app.unlock(PIN).unwrap_err().code(), "wrong_pin");
        app.unlock("864200").unwrap();
        let (same, running) = worker(&app).unwrap();
        assert!(Arc::ptr_eq(&second, &same) && running);
    }

    #[test]
    fn closing_the_app_stops_sync_and_closes_its_connection() {
        let (dir, app) = set_up();
        app.unlock(PIN).unwrap();
        app.lock();
        assert!(worker(&app).unwrap().1);
        // Locked, the worker's connection is open (SQLite keeps a write-ahead log beside it).
        let wal = dir.path().join(format!("{DB_FILE}-wal"));
        assert!(wal.exists());
        drop(app);
        // The last connection closed: SQLite folded its write-ahead log into the file.
        assert!(!wal.exists(), "a connection is still open after the app closed");
    }
}
