//! The device's database: an encrypted SQLite file (SQLCipher, key from the PIN through
//! Argon2id) holding every record as an Automerge snapshot plus incremental chunks, the
//! projection index with bigram full-text search, attachments by SHA-256, and the outbox
//! of documents changed since the last sync. Synchronous; every write is one transaction.

pub mod attachments;
mod bundles;
mod docs;
mod error;
mod index;
mod key;
pub mod keys;
mod numbers;
mod reference;
mod schema;
mod seen;
mod sync;
mod text;
mod verify;

use std::path::{Path, PathBuf};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use xuncha_domain::{ActorId, DeviceId, EditContext, UserId};

pub use attachments::{AttachmentInfo, NewAttachment, sha256_hex};
pub use bundles::{Carried, CarriedOutcome, PeerMerge};
pub use docs::Part;
pub use error::{Result, StoreError};
pub use index::RecordFilter;
pub use index::{Count, Facet, Facets, ListFilter, ListSort, RateRow, Totals, TotalsFilter, WorkflowTotals};
pub use key::{KdfParams, key_file_path};
pub use schema::SCHEMA_VERSION as DB_SCHEMA_VERSION;
pub use sync::{Applied, Incoming, Outgoing, Received, UploadOutcome};
pub use verify::VerifyReport;

/// Who this device writes as: the device, its Automerge actor and the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub device_id: DeviceId,
    pub user_id: UserId,
    pub user_name: String,
    pub actor: ActorId,
}

/// An open device database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    identity: Identity,
    cache: docs::DocCache,
    /// The key the database was opened with, so that a second connection (background
    /// sync beside the UI) needs no second key derivation. Wiped when dropped.
    key: key::DbKey,
    /// The device's own private keys (`keys.rs`).
    secrets: keys::DeviceSecrets,
}

fn corrupt(path: &Path, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { path: path.to_owned(), detail: detail.to_string() }
}

fn is_not_a_database(error: &rusqlite::Error) -> bool {
    matches!(error.sqlite_error_code(), Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt))
}

impl Store {
    /// Creates a new encrypted device database at `path` for `identity`, keyed by `pin`.
    /// The database is built beside its final name and renamed into place only when it is
    /// complete, so a crash during creation leaves nothing half made.
    pub fn create(path: &Path, pin: &str, identity: &Identity, kdf: KdfParams) -> Result<Store> {
        if path.exists() {
            return Err(StoreError::AlreadyExists { path: path.to_owned() });
        }
        let (db_key, key_text) = key::new_key(pin, kdf)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        }
        let building = sibling(path, ".creating");
        for leftover in [building.clone(), sibling(&building, "-wal"), sibling(&building, "-shm")] {
            let _ = std::fs::remove_file(leftover);
        }
        {
            let mut conn = Connection::open_with_flags(
                &building,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| match e.sqlite_error_code() {
                Some(ErrorCode::CannotOpen) => {
                    StoreError::Io { path: path.to_owned(), source: std::io::Error::other(e) }
                }
                _ => StoreError::Sqlite(e),
            })?;
            conn.execute_batch(&format!("PRAGMA key = {};", db_key.pragma_literal().as_str()))?;
            configure(&conn)?;
            schema::migrate(&mut conn)?;
            let tx = conn.transaction()?;
            for (key, value) in [
                ("device_id", identity.device_id.to_string()),
                ("user_id", identity.user_id.to_string()),
                ("user_name", identity.user_name.clone()),
                ("actor", identity.actor.to_hex_string()),
            ] {
                tx.execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", params![key, value])?;
            }
            tx.commit()?;
            // Closing checkpoints the WAL into the file, so the file alone is complete.
        }
        key::write_durably(&key::key_file_path(path), &key_text)?;
        std::fs::rename(&building, path).map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
        Store::open(path, pin)
    }

    /// Opens the device database at `path` with `pin`. A wrong PIN, a missing key file,
    /// a truncated or damaged file and a database from a newer version each give their
    /// own error, and none of them writes anything.
    pub fn open(path: &Path, pin: &str) -> Result<Store> {
        let metadata = std::fs::metadata(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound { path: path.to_owned() },
            _ => StoreError::Io { path: path.to_owned(), source },
        })?;
        // Every key file the PIN opens; normally one, two only if a PIN change was cut short.
        let candidates = key::unlock(path, pin)?;
        let page_size = 4096;
        if metadata.len() < page_size || metadata.len() % page_size != 0 {
            return Err(corrupt(path, format!("the file is {} bytes, not a whole number of pages", metadata.len())));
        }
        // A WAL left by a crash (or by another process) must not be folded into a file we
        // refuse; with no WAL there is nothing to fold, and closing tidies up normally.
        let wal_len = std::fs::metadata(sibling(path, "-wal")).map(|m| m.len()).unwrap_or(0);
        let mut opened = None;
        let mut last_error = None;
        for (db_key, from_pending) in candidates {
            let conn =
                Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
            if wal_len > 0 {
                conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
            }
            conn.execute_batch(&format!("PRAGMA key = {};", db_key.pragma_literal().as_str()))?;
            match conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get::<_, i64>(0)) {
                Ok(_) => {
                    opened = Some((conn, from_pending, db_key));
                    break;
                }
                Err(error) if is_not_a_database(&error) => last_error = Some(error),
                Err(error) => return Err(error.into()),
            }
        }
        let Some((mut conn, from_pending, db_key)) = opened else {
            // A key file accepted the PIN, yet its key does not open the file: the file is
            // damaged, unless a PIN change was cut short and this PIN is the other one.
            return Err(if key::pending_exists(path) {
                StoreError::WrongPin
            } else {
                corrupt(path, last_error.map_or_else(|| "unreadable".to_owned(), |e| e.to_string()))
            });
        };
        if wal_len == 0 {
            let page_count: i64 = conn.query_row("PRAGMA page_count", [], |row| row.get(0))?;
            if u64::try_from(page_count).unwrap_or(0) * page_size != metadata.len() {
                return Err(corrupt(
                    path,
                    format!("the header counts {page_count} pages but the file holds {}", metadata.len() / page_size),
                ));
            }
        } else {
            // Left by a crash or by another process: the header alone cannot tell a
            // truncated file, so check the pages themselves.
            let check: String =
                conn.query_row("PRAGMA quick_check(1)", [], |row| row.get(0)).map_err(|e| corrupt(path, e))?;
            if check != "ok" {
                return Err(corrupt(path, check));
            }
        }
        schema::check_not_newer(&conn)?;
        let identity = read_identity(&conn).map_err(|e| match e {
            StoreError::Sqlite(e) if is_not_a_database(&e) => corrupt(path, e),
            StoreError::Corrupt { detail, .. } => corrupt(path, detail),
            other => other,
        })?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)?;
        configure(&conn)?;
        schema::migrate(&mut conn)?;
        key::finish_pending(path, from_pending)?;
        keys::ensure(&mut conn)?;
        let secrets = keys::load(&conn)?;
        Ok(Store { conn, path: path.to_owned(), identity, cache: docs::DocCache::default(), key: db_key, secrets })
    }

    /// A second connection to the same database, with the key this one was opened with:
    /// background sync writes through it while the UI keeps editing through this one
    /// (WAL lets both work; each write is still one transaction).
    pub fn open_another(&self) -> Result<Store> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch(&format!("PRAGMA key = {};", self.key.pragma_literal().as_str()))?;
        configure(&conn)?;
        schema::check_not_newer(&conn)?;
        let identity = read_identity(&conn)?;
        Ok(Store {
            conn,
            path: self.path.clone(),
            identity,
            cache: docs::DocCache::default(),
            key: self.key.clone(),
            secrets: self.secrets.clone(),
        })
    }

    /// Re-keys the database for a new PIN. The old PIN keeps working until the new one
    /// has taken over completely, whatever moment the device dies at.
    pub fn change_pin(&mut self, new_pin: &str, kdf: KdfParams) -> Result<()> {
        let (db_key, key_text) = key::new_key(new_pin, kdf)?;
        // SQLCipher re-keys a rollback-journal database atomically; leave WAL for the re-key.
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let mode: String = self.conn.query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(StoreError::Busy);
        }
        key::write_pending(&self.path, &key_text)?;
        let rekeyed = self.conn.execute_batch(&format!("PRAGMA rekey = {};", db_key.pragma_literal().as_str()));
        // Settle the key files first: whatever happens next, they must match the file.
        let settled = key::finish_pending(&self.path, rekeyed.is_ok());
        self.conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        rekeyed?;
        settled?;
        self.key = db_key;
        Ok(())
    }

    /// The path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Who this device writes as.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The device's private keys (signing changes, opening values sealed to it).
    pub fn secrets(&self) -> &keys::DeviceSecrets {
        &self.secrets
    }

    /// The public halves, as the server registers them.
    pub fn public_keys(&self) -> (String, String) {
        (self.secrets.signing_public(), self.secrets.sealing_public())
    }

    /// The district's protected-data recipient, once the server has sent it, and its
    /// identity on a device it was granted to.
    pub fn protected_keys(&self) -> Result<(Option<String>, Option<age::x25519::Identity>)> {
        keys::protected(&self.conn)
    }

    /// Stores the district's protected-data recipient (from enrollment), keeping any
    /// identity this device was granted.
    pub fn set_protected_recipient(&mut self, recipient: &str) -> Result<()> {
        keys::set_recipient(&self.conn, recipient)
    }

    /// What this device seals protected values to and opens them with.
    pub fn sealer(&self) -> Result<keys::Sealer> {
        keys::Sealer::of(&self.conn, &self.secrets)
    }

    /// The context of an edit made on this device at `now_ms`.
    pub fn edit_context(&self, now_ms: i64) -> EditContext {
        EditContext {
            author: self.identity.user_id.clone(),
            device: self.identity.device_id.clone(),
            actor: self.identity.actor.clone(),
            now_ms,
        }
    }

    /// Records the identity the server gave this device at enrollment: its device id and
    /// the user it belongs to. The Automerge actor stays the one registered.
    pub fn enrolled(&mut self, device_id: &str, user_id: &str, user_name: &str) -> Result<()> {
        let device = DeviceId::new(device_id)?;
        let user = UserId::new(user_id)?;
        let tx = self.conn.transaction()?;
        for (key, value) in [("device_id", device_id), ("user_id", user_id), ("user_name", user_name)] {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
        }
        tx.commit()?;
        self.identity.device_id = device;
        self.identity.user_id = user;
        self.identity.user_name = user_name.to_owned();
        Ok(())
    }

    /// A value of the sync state (cursor and the like).
    pub fn sync_value(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM sync_state WHERE key = ?1", [key], |row| row.get(0)).optional()?)
    }

    /// Sets a value of the sync state.
    pub fn set_sync_value(&mut self, key: &str, value: &str) -> Result<()> {
        set_value(&self.conn, key, value)
    }
}

/// Sets a value of the sync state (inside the caller's transaction, if it has one).
pub(crate) fn set_value(conn: &rusqlite::Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO sync_state (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Connection settings: WAL, full fsync at commit (an acknowledged edit survives power
/// loss), foreign keys, and a busy timeout for a second process (the CLI beside the app).
fn configure(conn: &Connection) -> Result<()> {
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA temp_store = MEMORY;",
    )?;
    Ok(())
}

fn read_identity(conn: &Connection) -> Result<Identity> {
    let get = |key: &str| -> Result<String> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0)).optional()?.ok_or_else(|| {
            StoreError::Corrupt { path: PathBuf::new(), detail: format!("the device identity lacks {key}") }
        })
    };
    let actor_hex = get("actor")?;
    let actor_bytes = hex::decode(&actor_hex)
        .map_err(|e| StoreError::Corrupt { path: PathBuf::new(), detail: format!("bad actor id: {e}") })?;
    Ok(Identity {
        device_id: DeviceId::new(get("device_id")?)?,
        user_id: UserId::new(get("user_id")?)?,
        user_name: get("user_name")?,
        actor: ActorId::from(actor_bytes),
    })
}

impl Store {
    /// Sets the schema version, as a newer release would. For tests of version checks.
    #[doc(hidden)]
    pub fn set_user_version_for_tests(&self, version: i64) -> Result<()> {
        self.conn.pragma_update(None, "user_version", version)?;
        Ok(())
    }

    /// Runs SQL on the database as it is, as an older release left it. For tests of
    /// migrations (a layout put back as the release before wrote it).
    #[doc(hidden)]
    pub fn execute_batch_for_tests(&self, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql)?;
        Ok(())
    }
}
