//! The default storage backend: one SQLite file in the server's data directory (WAL,
//! append-only migrations), encrypted with SQLCipher (`at_rest.rs`). Writes are serialised
//! through one connection; the blocking calls run on tokio's blocking pool, never on the
//! async runtime.

use crate::storage::AttachmentState;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use xuncha_protocol::{DocKey, Part, Role};

use xuncha_domain::numbering::{self, Number};
use xuncha_domain::{DivisionEntry, ReadScope, Roster, Round, Team};

use crate::at_rest::{self, BlobKey};
use crate::blobs::Blobs;
use crate::chain::{self, Checkpoint, LogRow};

use crate::storage::shared::{self, part_code, part_from, township_of};
use crate::storage::{
    AuditEntry, Device, DocMeta, DocScope, Epoch, LogEntry, LoggedChange, Peer, Result, Storage, StorageError,
    StorageStats, StoredDoc, Tx, UploadState, User, Visibility,
};

const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE users (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        role         TEXT NOT NULL,
        jurisdiction TEXT NOT NULL,
        created_at   INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE enrollments (
        code_hash  TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users (id),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at    INTEGER,
        device_id  TEXT
    ) WITHOUT ROWID;
    CREATE TABLE devices (
        id         TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users (id),
        name       TEXT NOT NULL,
        actor      TEXT NOT NULL UNIQUE,
        token_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER,
        last_sync  INTEGER
    ) WITHOUT ROWID;
    -- Every document, merged, as one snapshot; township decides who sees it.
    CREATE TABLE docs (
        record       BLOB NOT NULL,
        part         TEXT NOT NULL,
        township     TEXT NOT NULL,
        owner_device TEXT NOT NULL,
        snapshot     BLOB NOT NULL,
        PRIMARY KEY (record, part)
    ) WITHOUT ROWID;
    CREATE INDEX docs_township ON docs (township);
    -- The append-only change log: the sync cursor walks it, and it is the audit trail of
    -- every change (who uploaded it, when).
    CREATE TABLE changes (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        record      BLOB NOT NULL,
        part        TEXT NOT NULL,
        hash        TEXT NOT NULL UNIQUE,
        bytes       BLOB NOT NULL,
        device_id   TEXT NOT NULL,
        received_at INTEGER NOT NULL
    );
    CREATE TABLE audit (
        id        INTEGER PRIMARY KEY,
        at        INTEGER NOT NULL,
        user_id   TEXT,
        device_id TEXT,
        action    TEXT NOT NULL,
        detail    TEXT NOT NULL
    );
"#,
    // 2: attachments, received in pieces and resumable, and which records reference them.
    r#"
    CREATE TABLE attachments (
        sha256    TEXT PRIMARY KEY,
        size      INTEGER NOT NULL,
        received  INTEGER NOT NULL,
        complete  INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE attachment_pieces (
        sha256 TEXT NOT NULL,
        offset INTEGER NOT NULL,
        data   BLOB NOT NULL,
        PRIMARY KEY (sha256, offset)
    ) WITHOUT ROWID;
    CREATE TABLE attachment_refs (
        record BLOB NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (record, sha256)
    ) WITHOUT ROWID;
    CREATE INDEX attachment_refs_sha ON attachment_refs (sha256);
"#,
    // 3: which devices wrote a document's changes (a first sync skips documents that only
    // the asking device ever wrote: it has them).
    r#"
    CREATE INDEX changes_doc_device ON changes (record, part, device_id);
"#,
    // 4: the round's reference data (divisions, rounds, teams, rosters); what decides who
    // reads a document (its kind, its place and the team that found it), filled in from the
    // documents by `backfill_scopes`; the read scopes device cursors name by fingerprint;
    // the server's own identity.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE divisions (
        code   TEXT PRIMARY KEY,
        name   TEXT NOT NULL,
        parent TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE rounds (
        id    TEXT PRIMARY KEY,
        name  TEXT NOT NULL UNIQUE,
        start TEXT NOT NULL,
        end   TEXT NOT NULL,
        units TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE teams (
        id       TEXT PRIMARY KEY,
        name     TEXT NOT NULL,
        round_id TEXT NOT NULL REFERENCES rounds (id),
        body     TEXT NOT NULL,
        UNIQUE (round_id, name)
    ) WITHOUT ROWID;
    CREATE TABLE team_people (
        user_id TEXT NOT NULL,
        team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, team_id)
    ) WITHOUT ROWID;
    CREATE TABLE rosters (
        id          TEXT PRIMARY KEY,
        village     TEXT NOT NULL,
        fund        TEXT NOT NULL,
        imported_at INTEGER NOT NULL,
        households  TEXT NOT NULL,
        UNIQUE (village, fund)
    ) WITHOUT ROWID;
    CREATE TABLE scopes (
        fingerprint BLOB PRIMARY KEY,
        scope       TEXT NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE docs ADD COLUMN kind TEXT NOT NULL DEFAULT '';
    ALTER TABLE docs ADD COLUMN place TEXT NOT NULL DEFAULT '';
    ALTER TABLE docs ADD COLUMN team TEXT NOT NULL DEFAULT '';
    CREATE INDEX docs_place ON docs (place);
"#,
    // 5: the change log as a hash chain (`chain.rs`): each entry's link commits to the entry
    // and to the link before it, filled in for older entries by `backfill_links`; signed
    // checkpoints of the chain.
    r#"
    ALTER TABLE changes ADD COLUMN link BLOB;
    CREATE TABLE checkpoints (
        seq  INTEGER NOT NULL,
        at   INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX checkpoints_at ON checkpoints (at);
"#,
    // 6: devices' public keys (Ed25519 for change signatures, X25519 for sealed values),
    // each change's signature beside it, the district's protected-data recipient and its
    // identity wrapped to each supervisor device it was granted to; each attachment's own
    // key (32 random bytes) that seals its pieces (`at_rest.rs`; NULL for attachments
    // stored before, sealed when the server opens).
    r#"
    ALTER TABLE devices ADD COLUMN signing_key TEXT;
    ALTER TABLE devices ADD COLUMN sealing_key TEXT;
    ALTER TABLE changes ADD COLUMN signature BLOB;
    CREATE TABLE protected_key (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        recipient  TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE protected_grants (
        device_id  TEXT PRIMARY KEY REFERENCES devices (id),
        wrapped    BLOB NOT NULL,
        granted_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE attachments ADD COLUMN blob_key BLOB;
"#,
    // 7: enrollment codes the administrator cancelled; users the administrator disabled.
    // Codes are stored salted (`s1$salt$hash`) from now on; older rows keep their hash.
    r#"
    ALTER TABLE enrollments ADD COLUMN cancelled_at INTEGER;
    ALTER TABLE users ADD COLUMN disabled_at INTEGER;
"#,
    // 8: attachments bound to the devices that sent them. Each device's upload is its own
    // (a size claim binds no one else's); a device that sent every byte, matching the
    // hash, holds the attachment, and the whole attachment is stored once. Attachments
    // already whole are held by the devices that own the records referencing them;
    // uploads under way start again.
    r#"
    CREATE TABLE attachment_uploads (
        sha256     TEXT NOT NULL,
        device_id  TEXT NOT NULL,
        size       INTEGER NOT NULL,
        received   INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        blob_key   BLOB NOT NULL,
        PRIMARY KEY (sha256, device_id)
    ) WITHOUT ROWID;
    CREATE INDEX attachment_uploads_device ON attachment_uploads (device_id);
    CREATE TABLE attachment_upload_pieces (
        sha256    TEXT NOT NULL,
        device_id TEXT NOT NULL,
        offset    INTEGER NOT NULL,
        data      BLOB NOT NULL,
        PRIMARY KEY (sha256, device_id, offset)
    ) WITHOUT ROWID;
    CREATE TABLE attachment_holders (
        sha256    TEXT NOT NULL,
        device_id TEXT NOT NULL,
        size      INTEGER NOT NULL,
        held_at   INTEGER NOT NULL,
        PRIMARY KEY (sha256, device_id)
    ) WITHOUT ROWID;
    CREATE INDEX attachment_holders_device ON attachment_holders (device_id);
    INSERT INTO attachment_holders (sha256, device_id, size, held_at)
        SELECT a.sha256, d.owner_device, a.size, a.created_at
        FROM attachments a
        JOIN attachment_refs r ON r.sha256 = a.sha256
        JOIN docs d ON d.record = r.record AND d.part = 'record'
        WHERE a.complete = 1
        ON CONFLICT DO NOTHING;
    DELETE FROM attachment_pieces WHERE sha256 IN (SELECT sha256 FROM attachments WHERE complete = 0);
    DELETE FROM attachments WHERE complete = 0;
"#,
    // 9: when each device's current token was issued: a device enrolling again gets a new
    // token (the old one stops working), and tokens expire counted from their issue.
    r#"
    ALTER TABLE devices ADD COLUMN token_issued_at INTEGER;
"#,
    // 10: record numbers (编号), handed out by the server: the first time it stores a record
    // with a round, the next ordinal of the record's round and team; never changed or
    // reused. Records stored before are numbered by `backfill_numbers` in the order earlier
    // versions printed (creation time, then id), at time 0.
    r#"
    CREATE TABLE record_numbers (
        record      BLOB PRIMARY KEY,
        round       TEXT NOT NULL,
        team        TEXT NOT NULL,
        ordinal     INTEGER NOT NULL,
        assigned_at INTEGER NOT NULL,
        UNIQUE (round, team, ordinal)
    ) WITHOUT ROWID;
"#,
    // 11: other servers this one exchanges sync bundles with (an air-gapped 内网 server and
    // the office's): their key, how far of this server's log they have acknowledged, and
    // the documents they asked for whole.
    r#"
    CREATE TABLE peers (
        name      TEXT PRIMARY KEY,
        key       TEXT NOT NULL UNIQUE,
        signing   TEXT NOT NULL UNIQUE,
        added_at  INTEGER NOT NULL,
        acked_seq INTEGER NOT NULL DEFAULT 0,
        wants     BLOB NOT NULL DEFAULT x''
    );
"#,
    // 12: a complete attachment may be an object in an attachment store (`blobs.rs`):
    // its name, or NULL for pieces kept in this database.
    r#"
    ALTER TABLE attachments ADD COLUMN object TEXT;
"#,
];

const LOG_COLUMNS: &str = "seq, record, part, hash, device_id, received_at, bytes, link";

fn log_row_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<(LogRow, Vec<u8>)> {
    Ok((
        LogRow {
            seq: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
            record: row.get(1)?,
            part: row.get(2)?,
            hash: row.get(3)?,
            device_id: row.get(4)?,
            received_at_ms: row.get(5)?,
            bytes: row.get(6)?,
        },
        row.get::<_, Option<Vec<u8>>>(7)?.unwrap_or_default(),
    ))
}

/// Chains the entries logged before migration 5, in order.
fn backfill_links(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let rows: Vec<(LogRow, Vec<u8>)> = {
        let mut stmt = tx.prepare(&format!("SELECT {LOG_COLUMNS} FROM changes ORDER BY seq"))?;
        stmt.query_map([], log_row_from)?.collect::<Result<Vec<_>, _>>()?
    };
    let mut previous = chain::GENESIS;
    let mut update = tx.prepare("UPDATE changes SET link = ?2 WHERE seq = ?1")?;
    for (row, _) in rows {
        previous = chain::link(&previous, &row.digest());
        update.execute(params![i64::try_from(row.seq).unwrap_or(i64::MAX), previous.as_slice()])?;
    }
    Ok(())
}

/// Fills in the read scope of documents stored before migration 4, from the documents.
fn backfill_scopes(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let rows: Vec<(Vec<u8>, Vec<u8>)> = {
        let mut stmt = tx.prepare("SELECT record, snapshot FROM docs WHERE part = 'record'")?;
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<Vec<_>, _>>()?
    };
    for (record, snapshot) in rows {
        let Ok(mut doc) = xuncha_domain::RecordDoc::load(&snapshot) else { continue };
        let scope = crate::scope::doc_scope(&doc.read(), "");
        tx.execute(
            "UPDATE docs SET kind = ?2, place = ?3 WHERE record = ?1",
            params![record, scope.kind, scope.place],
        )?;
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('server_id', ?1) ON CONFLICT (key) DO NOTHING",
        [crate::auth::new_server_id()],
    )?;
    Ok(())
}

/// Numbers the records stored before migration 10, as earlier versions printed them.
fn backfill_numbers(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let snapshots: Vec<Vec<u8>> = {
        let mut stmt = tx.prepare("SELECT snapshot FROM docs WHERE part = 'record'")?;
        stmt.query_map([], |row| row.get(0))?.collect::<Result<Vec<_>, _>>()?
    };
    let records: Vec<xuncha_domain::Record> = snapshots
        .iter()
        .filter_map(|snapshot| xuncha_domain::RecordDoc::load(snapshot).ok().map(|mut doc| doc.read()))
        .collect();
    let numbered = records.iter().filter_map(numbering::Numbered::of_record);
    let mut insert = tx
        .prepare("INSERT INTO record_numbers (record, round, team, ordinal, assigned_at) VALUES (?1, ?2, ?3, ?4, 0)")?;
    for (id, number) in numbering::continue_numbering(numbered, &std::collections::BTreeMap::new()) {
        insert.execute(params![id.uuid().as_bytes().as_slice(), number.round, number.team, number.ordinal])?;
    }
    Ok(())
}

/// SQLite's errors, as the storage trait's (which knows no backend).
impl From<rusqlite::Error> for StorageError {
    fn from(error: rusqlite::Error) -> StorageError {
        StorageError::Backend(error.to_string())
    }
}

/// The SQLite backend.
#[derive(Debug)]
pub struct SqliteStorage {
    conn: Mutex<Connection>,
    /// Where complete attachments go, if not into the database.
    blobs: Option<Arc<Blobs>>,
    /// Commits of read and of write transactions (`/metrics`).
    commits: [std::sync::atomic::AtomicU64; 2],
    /// Microseconds write transactions waited for the connection.
    waited_micros: std::sync::atomic::AtomicU64,
}

impl SqliteStorage {
    /// Opens (creating if needed) `server.db` in `dir`, encrypted with the master key from
    /// `XUNCHA_SERVER_KEY_FILE`, else `server.key` in `dir` (see [`at_rest`]).
    pub fn open(dir: &Path) -> Result<SqliteStorage> {
        SqliteStorage::open_with_key_file(dir, &at_rest::key_file_for(dir))
    }

    /// Opens (creating if needed) `server.db` in `dir`, encrypted with the master key in
    /// `key_file` (made there for a new database).
    pub fn open_with_key_file(dir: &Path, key_file: &Path) -> Result<SqliteStorage> {
        SqliteStorage::prepare(at_rest::open_encrypted(dir, key_file)?)
    }

    /// Opens (creating if needed) `server.db` in `dir`, encrypted with `key`, which the
    /// caller keeps (no key file is read or written).
    pub fn open_with_key(dir: &Path, key: &at_rest::MasterKey) -> Result<SqliteStorage> {
        SqliteStorage::prepare(at_rest::open_with_key(dir, key)?)
    }

    /// Sets an opened database up and brings its schema up to date.
    fn prepare(mut conn: Connection) -> Result<SqliteStorage> {
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if version > known {
            return Err(StorageError::Backend(format!(
                "the data directory was written by a newer server (schema {version}, this one knows {known}); update the server"
            )));
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            if index == 3 {
                backfill_scopes(&tx)?;
            }
            if index == 4 {
                backfill_links(&tx)?;
            }
            if index == 9 {
                backfill_numbers(&tx)?;
            }
            tx.pragma_update(None, "user_version", i64::try_from(index + 1).unwrap_or(i64::MAX))?;
            tx.commit()?;
        }
        at_rest::seal_plaintext_attachments(&mut conn)?;
        Ok(SqliteStorage {
            conn: Mutex::new(conn),
            blobs: None,
            commits: Default::default(),
            waited_micros: Default::default(),
        })
    }

    /// Complete attachments from now on go to `blobs` (those already in the database
    /// stay there, and are read from there).
    pub fn with_attachments(mut self, blobs: Arc<Blobs>) -> SqliteStorage {
        self.blobs = Some(blobs);
        self
    }
}

impl SqliteStorage {
    /// Folds the write-ahead log into the database file.
    pub fn fold_log(&self) -> Result<()> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Copies the whole database, as it stands at one moment, into a new SQLCipher file at
    /// `path` keyed with `key_literal` (`x'…'`), in one read transaction: devices go on
    /// syncing meanwhile, and what they write after that moment is not in the copy.
    /// Returns the server's id, the schema version and the last sequence number of the log.
    pub fn export_to(&self, path: &Path, key_literal: &str) -> Result<(String, i64, u64)> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        conn.execute("ATTACH DATABASE ?1 AS backup KEY ?2", params![path.to_string_lossy(), key_literal])?;
        let exported = (|| -> Result<(String, i64, u64)> {
            conn.execute_batch("BEGIN")?;
            let read = (|| -> Result<(String, i64, u64)> {
                let server_id: String =
                    conn.query_row("SELECT value FROM main.meta WHERE key = 'server_id'", [], |row| row.get(0))?;
                let schema: i64 = conn.query_row("PRAGMA main.user_version", [], |row| row.get(0))?;
                let seq: i64 =
                    conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM main.changes", [], |row| row.get(0))?;
                conn.query_row("SELECT sqlcipher_export('backup')", [], |_| Ok(()))?;
                conn.pragma_update(Some("backup"), "user_version", schema)?;
                Ok((server_id, schema, u64::try_from(seq).unwrap_or(0)))
            })();
            conn.execute_batch(if read.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
            read
        })();
        conn.execute_batch("DETACH DATABASE backup")?;
        exported
    }
}

impl Storage for SqliteStorage {
    fn transaction(&self, write: bool, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        // A panic under the lock rolled its transaction back (rusqlite rolls back on drop),
        // so the connection is consistent: keep serving.
        let asked = std::time::Instant::now();
        let mut conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if write {
            // Every writer appends to the log through this one connection: its wait is
            // the log's.
            let waited = u64::try_from(asked.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.waited_micros.fetch_add(waited, std::sync::atomic::Ordering::Relaxed);
        }
        let behavior =
            if write { rusqlite::TransactionBehavior::Immediate } else { rusqlite::TransactionBehavior::Deferred };
        let tx = conn.transaction_with_behavior(behavior)?;
        let mut sql = SqlTx { tx: &tx, blobs: self.blobs.as_deref() };
        work(&mut sql)?;
        tx.commit()?;
        self.commits[usize::from(write)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn stats(&self) -> StorageStats {
        let load = |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
        StorageStats {
            read_commits: load(&self.commits[0]),
            write_commits: load(&self.commits[1]),
            retries: 0,
            gave_up: 0,
            log_wait_micros: load(&self.waited_micros),
        }
    }

    fn blobs(&self) -> Option<&Blobs> {
        self.blobs.as_deref()
    }
}

struct SqlTx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    blobs: Option<&'a Blobs>,
}

impl SqlTx<'_> {
    /// The key that seals an attachment's pieces; `None` for pieces stored in the clear
    /// by an older server and not yet sealed.
    fn blob_key(&self, sha256: &str) -> Result<Option<BlobKey>> {
        let stored: Option<Option<Vec<u8>>> = self
            .tx
            .query_row("SELECT blob_key FROM attachments WHERE sha256 = ?1", [sha256], |row| row.get(0))
            .optional()?;
        BlobKey::from_column(sha256, stored.flatten())
    }

    /// The object a complete attachment is stored as, with its size and key; `None` for
    /// one whose pieces are in this database.
    fn stored_object(&self, sha256: &str) -> Result<Option<(&Blobs, String, u64, BlobKey)>> {
        let found: Option<(String, i64, Vec<u8>)> = self
            .tx
            .query_row(
                "SELECT object, size, blob_key FROM attachments WHERE sha256 = ?1 AND object IS NOT NULL",
                [sha256],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        let Some((object, size, key)) = found else { return Ok(None) };
        let key = BlobKey::from_column(sha256, Some(key))?
            .ok_or_else(|| StorageError::Backend(format!("attachment {sha256} has no key")))?;
        Ok(Some((shared::blobs_for(self.blobs, sha256)?, object, u64::try_from(size).unwrap_or(0), key)))
    }

    /// The key that seals `device_id`'s upload of an attachment.
    fn upload_key(&self, sha256: &str, device_id: &str) -> Result<BlobKey> {
        let key: Vec<u8> = self.tx.query_row(
            "SELECT blob_key FROM attachment_uploads WHERE sha256 = ?1 AND device_id = ?2",
            [sha256, device_id],
            |row| row.get(0),
        )?;
        BlobKey::from_column(sha256, Some(key))?
            .ok_or_else(|| StorageError::Backend(format!("the upload of {sha256} has no key")))
    }

    /// Writes `device_id`'s checked upload of an attachment into the attachment store as
    /// one object; its name.
    fn write_object(&self, blobs: &Blobs, sha256: &str, device_id: &str) -> Result<String> {
        let key = self.upload_key(sha256, device_id)?;
        let size: i64 = self.tx.query_row(
            "SELECT size FROM attachment_uploads WHERE sha256 = ?1 AND device_id = ?2",
            [sha256, device_id],
            |row| row.get(0),
        )?;
        let mut stmt = self.tx.prepare(
            "SELECT offset, data FROM attachment_upload_pieces WHERE sha256 = ?1 AND device_id = ?2 ORDER BY offset",
        )?;
        let mut pieces = stmt.query_map([sha256, device_id], |row| {
            Ok((u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0), row.get::<_, Vec<u8>>(1)?))
        })?;
        let mut pieces = std::iter::from_fn(|| pieces.next().map(|p| p.map_err(StorageError::from)));
        blobs.write(sha256, u64::try_from(size).unwrap_or(0), &key, &mut pieces)
    }
}

fn user_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get(2)?;
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Inspector),
        jurisdiction: row.get(3)?,
        created_at_ms: row.get(4)?,
        disabled_at_ms: row.get(5)?,
    })
}

fn device_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<Device> {
    Ok(Device {
        id: row.get(0)?,
        user_id: row.get(1)?,
        name: row.get(2)?,
        actor: row.get(3)?,
        created_at_ms: row.get(4)?,
        revoked_at_ms: row.get(5)?,
        last_sync_ms: row.get(6)?,
        signing_key: row.get(7)?,
        sealing_key: row.get(8)?,
        token_issued_at_ms: row.get(9)?,
    })
}

const DEVICE_COLUMNS: &str = "id, user_id, name, actor, created_at, revoked_at, last_sync, signing_key, sealing_key, \
     COALESCE(token_issued_at, created_at)";

fn doc_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredDoc> {
    let part: String = row.get(1)?;
    Ok(StoredDoc {
        key: DocKey { record: row.get(0)?, part: part_from(&part) },
        scope: DocScope { kind: row.get(2)?, place: row.get(3)?, team: row.get(4)? },
        owner_device: row.get(5)?,
        snapshot: row.get(6)?,
    })
}

const DOC_COLUMNS: &str = "d.record, d.part, d.kind, d.place, d.team, d.owner_device, d.snapshot";

/// Who may read a document row `d`, as SQL over the parameters ?1 device, ?2 the places
/// (a JSON array of code prefixes), ?3 all gang clues, ?4 the teams whose gang clues
/// (JSON array), ?5 all protected companions: the same rule as `ReadScope::admits`; a
/// protected companion also goes to every device that wrote into it.
const VISIBLE: &str = "EXISTS (SELECT 1 FROM json_each(?2) p WHERE substr(d.place, 1, length(p.value)) = p.value)
    AND (d.kind != 'gang_clue' OR ?3 OR d.team IN (SELECT value FROM json_each(?4)))
    AND (d.part = 'record' OR ?5 OR d.owner_device = ?1
         OR EXISTS (SELECT 1 FROM changes w WHERE w.record = d.record AND w.part = d.part AND w.device_id = ?1))";

/// The parameters ?1 to ?5 of [`VISIBLE`].
fn visible_params(who: &Visibility) -> (String, String, bool, String, bool) {
    let scope = &who.scope;
    (
        who.device_id.clone(),
        serde_json::to_string(&scope.places).unwrap_or_default(),
        scope.all_gang_clues,
        serde_json::to_string(&scope.gang_teams).unwrap_or_default(),
        scope.all_protected,
    )
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn round_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<Round> {
    Ok(Round {
        id: row.get(0)?,
        name: row.get(1)?,
        start: row.get(2)?,
        end: row.get(3)?,
        units: from_json(&row.get::<_, String>(4)?)?,
    })
}

fn roster_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<Roster> {
    Ok(Roster {
        id: row.get(0)?,
        village: row.get(1)?,
        fund: row.get(2)?,
        imported_at_ms: row.get(3)?,
        households: from_json(&row.get::<_, String>(4)?)?,
    })
}

impl Tx for SqlTx<'_> {
    fn add_user(&mut self, user: &User) -> Result<()> {
        let inserted = self.tx.execute(
            "INSERT INTO users (id, name, role, jurisdiction, created_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
            params![user.id, user.name, user.role.code(), user.jurisdiction, user.created_at_ms],
        )?;
        if inserted == 0 {
            return Err(shared::user_exists(&user.id));
        }
        Ok(())
    }

    fn user(&mut self, id: &str) -> Result<Option<User>> {
        Ok(self
            .tx
            .query_row(
                "SELECT id, name, role, jurisdiction, created_at, disabled_at FROM users WHERE id = ?1",
                [id],
                user_from,
            )
            .optional()?)
    }

    fn users(&mut self) -> Result<Vec<User>> {
        let mut stmt =
            self.tx.prepare("SELECT id, name, role, jurisdiction, created_at, disabled_at FROM users ORDER BY id")?;
        Ok(stmt.query_map([], user_from)?.collect::<Result<Vec<_>, _>>()?)
    }

    fn add_enrollment(&mut self, code_hash: &str, user_id: &str, expires_at_ms: i64, now_ms: i64) -> Result<()> {
        self.tx.execute(
            "INSERT INTO enrollments (code_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![code_hash, user_id, now_ms, expires_at_ms],
        )?;
        Ok(())
    }

    fn redeem_enrollment(&mut self, code: &str, device_id: &str, now_ms: i64) -> Result<User> {
        // Each code has its own salt, so the outstanding ones (a few per user) are tried in turn.
        let outstanding: Vec<(String, String)> = {
            let mut stmt = self.tx.prepare(
                "SELECT code_hash, user_id FROM enrollments
                 WHERE used_at IS NULL AND cancelled_at IS NULL AND expires_at >= ?1",
            )?;
            stmt.query_map([now_ms], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<_, _>>()?
        };
        let (stored, user_id) = outstanding
            .into_iter()
            .find(|(stored, _)| crate::auth::code_matches(stored, code))
            .ok_or_else(shared::code_refused)?;
        let user = self.user(&user_id)?.ok_or_else(shared::code_refused)?;
        if user.disabled_at_ms.is_some() {
            return Err(shared::user_disabled(&user.id));
        }
        self.tx.execute(
            "UPDATE enrollments SET used_at = ?2, device_id = ?3 WHERE code_hash = ?1",
            params![stored, now_ms, device_id],
        )?;
        Ok(user)
    }

    fn cancel_enrollments(&mut self, user_id: Option<&str>, code: Option<&str>, now_ms: i64) -> Result<usize> {
        let outstanding: Vec<String> = {
            let mut stmt = self.tx.prepare(
                "SELECT code_hash FROM enrollments
                 WHERE (?1 IS NULL OR user_id = ?1) AND used_at IS NULL AND cancelled_at IS NULL AND expires_at >= ?2",
            )?;
            stmt.query_map(params![user_id, now_ms], |row| row.get(0))?.collect::<Result<_, _>>()?
        };
        let mut cancelled = 0;
        for stored in outstanding.iter().filter(|s| code.is_none_or(|c| crate::auth::code_matches(s, c))) {
            cancelled += self
                .tx
                .execute("UPDATE enrollments SET cancelled_at = ?2 WHERE code_hash = ?1", params![stored, now_ms])?;
        }
        Ok(cancelled)
    }

    fn set_user_disabled(&mut self, user_id: &str, disabled_at_ms: Option<i64>) -> Result<bool> {
        let changed =
            self.tx.execute("UPDATE users SET disabled_at = ?2 WHERE id = ?1", params![user_id, disabled_at_ms])?;
        Ok(changed > 0)
    }

    fn add_device(&mut self, device: &Device, token_hash: &str) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO devices (id, user_id, name, actor, token_hash, created_at, signing_key, sealing_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    device.id,
                    device.user_id,
                    device.name,
                    device.actor,
                    token_hash,
                    device.created_at_ms,
                    device.signing_key,
                    device.sealing_key
                ],
            )
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => shared::actor_taken(),
                _ => e.into(),
            })?;
        Ok(())
    }

    fn device_by_token(&mut self, token_hash: &str) -> Result<Option<Device>> {
        Ok(self
            .tx
            .query_row(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = ?1"),
                [token_hash],
                device_from,
            )
            .optional()?)
    }

    fn device_by_actor(&mut self, actor: &str) -> Result<Option<Device>> {
        Ok(self
            .tx
            .query_row(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE actor = ?1"), [actor], device_from)
            .optional()?)
    }

    fn rotate_token(&mut self, device_id: &str, token_hash: &str, name: &str, now_ms: i64) -> Result<()> {
        self.tx.execute(
            "UPDATE devices SET token_hash = ?2, name = ?3, token_issued_at = ?4 WHERE id = ?1",
            params![device_id, token_hash, name, now_ms],
        )?;
        Ok(())
    }

    fn devices(&mut self) -> Result<Vec<Device>> {
        let mut stmt = self.tx.prepare(&format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY created_at, id"))?;
        Ok(stmt.query_map([], device_from)?.collect::<Result<Vec<_>, _>>()?)
    }

    fn revoke_device(&mut self, device_id: &str, now_ms: i64) -> Result<bool> {
        let changed = self.tx.execute(
            "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
            params![device_id, now_ms],
        )?;
        Ok(changed > 0)
    }

    fn set_device_keys(&mut self, device_id: &str, signing_key: &str, sealing_key: &str) -> Result<()> {
        self.tx.execute(
            "UPDATE devices SET signing_key = ?2, sealing_key = ?3 WHERE id = ?1 AND signing_key IS NULL",
            params![device_id, signing_key, sealing_key],
        )?;
        Ok(())
    }

    fn touch_device(&mut self, device_id: &str, now_ms: i64) -> Result<()> {
        self.tx.execute("UPDATE devices SET last_sync = ?2 WHERE id = ?1", params![device_id, now_ms])?;
        Ok(())
    }

    fn lock_records(&mut self, _records: &[Vec<u8>]) -> Result<()> {
        // Every write transaction here holds the database's write lock from its start
        // (BEGIN IMMEDIATE under one connection's mutex): records are held already.
        Ok(())
    }

    fn doc(&mut self, key: &DocKey) -> Result<Option<StoredDoc>> {
        Ok(self
            .tx
            .query_row(
                &format!("SELECT {DOC_COLUMNS} FROM docs d WHERE d.record = ?1 AND d.part = ?2"),
                params![key.record, part_code(key.part)],
                doc_from,
            )
            .optional()?)
    }

    fn put_doc(&mut self, doc: &StoredDoc, changes: &[LoggedChange], now_ms: i64) -> Result<u32> {
        let part = part_code(doc.key.part);
        let scope = &doc.scope;
        // `township` is kept for older tools reading the file: the place's township.
        let township = township_of(&scope.place);
        self.tx.execute(
            "INSERT INTO docs (record, part, township, owner_device, snapshot, kind, place, team)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (record, part) DO UPDATE SET township = excluded.township, snapshot = excluded.snapshot,
                 kind = excluded.kind, place = excluded.place, team = excluded.team",
            params![
                doc.key.record,
                part,
                township,
                doc.owner_device,
                doc.snapshot,
                scope.kind,
                scope.place,
                scope.team
            ],
        )?;
        if doc.key.part == Part::Record {
            // The protected companion is read where its record is.
            self.tx.execute(
                "UPDATE docs SET township = ?2, kind = ?3, place = ?4, team = ?5 WHERE record = ?1 AND part = 'protected'",
                params![doc.key.record, township, scope.kind, scope.place, scope.team],
            )?;
        }
        // Positions are given here, one after the chain's head, rather than by
        // AUTOINCREMENT, which spends a number on a change skipped as already logged: the
        // log has no gaps, which `xuncha admin verify` reports as missing entries.
        let mut insert = self.tx.prepare_cached(
            "INSERT INTO changes (seq, record, part, hash, bytes, device_id, received_at, signature)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (hash) DO NOTHING RETURNING seq",
        )?;
        let mut chain = self.tx.prepare_cached("UPDATE changes SET link = ?2 WHERE seq = ?1")?;
        let (head, mut previous) = self.chain_head()?;
        let mut next = i64::try_from(head).unwrap_or(i64::MAX) + 1;
        let mut new = 0u32;
        for change in changes {
            let seq: Option<i64> = insert
                .query_row(
                    params![
                        next,
                        doc.key.record,
                        part,
                        change.hash,
                        change.bytes,
                        change.device_id,
                        now_ms,
                        change.signature
                    ],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(seq) = seq else { continue };
            next = seq + 1;
            let row = LogRow {
                seq: u64::try_from(seq).unwrap_or(0),
                record: doc.key.record.clone(),
                part: part.to_owned(),
                hash: change.hash.clone(),
                device_id: change.device_id.clone(),
                received_at_ms: now_ms,
                bytes: change.bytes.clone(),
            };
            previous = chain::link(&previous, &row.digest());
            chain.execute(params![seq, previous.as_slice()])?;
            new += 1;
        }
        Ok(new)
    }

    fn log_after(&mut self, after: u64, who: &Visibility, limit: u32) -> Result<(Vec<LogEntry>, u64, bool)> {
        let after_i = i64::try_from(after).unwrap_or(i64::MAX);
        let max = self.max_seq()?;
        let (device, places, all_gang, teams, all_protected) = visible_params(who);
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT c.seq, c.record, c.part, c.bytes FROM changes c
             JOIN docs d ON d.record = c.record AND d.part = c.part
             WHERE c.seq > ?6 AND c.device_id != ?1 AND {VISIBLE}
             ORDER BY c.seq LIMIT ?7"
        ))?;
        let rows = stmt
            .query_map(params![device, places, all_gang, teams, all_protected, after_i, limit], |row| {
                let part: String = row.get(2)?;
                Ok(LogEntry {
                    seq: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                    key: DocKey { record: row.get(1)?, part: part_from(&part) },
                    bytes: row.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let full = rows.len() >= usize::try_from(limit).unwrap_or(usize::MAX);
        let resume = if full { rows.last().map_or(after, |r| r.seq) } else { max.max(after) };
        Ok((rows, resume, full))
    }

    fn docs_after(&mut self, after: Option<&DocKey>, who: &Visibility, limit: u32) -> Result<(Vec<StoredDoc>, bool)> {
        let (record, part) = after.map_or((Vec::new(), ""), |k| (k.record.clone(), part_code(k.part)));
        let (device, places, all_gang, teams, all_protected) = visible_params(who);
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {DOC_COLUMNS} FROM docs d
             WHERE (d.record, d.part) > (?6, ?7) AND {VISIBLE}
               AND (d.owner_device != ?1
                    OR EXISTS (SELECT 1 FROM changes c
                               WHERE c.record = d.record AND c.part = d.part AND c.device_id != ?1))
             ORDER BY d.record, d.part LIMIT ?8"
        ))?;
        let rows = stmt
            .query_map(params![device, places, all_gang, teams, all_protected, record, part, limit], doc_from)?
            .collect::<Result<Vec<_>, _>>()?;
        let more = rows.len() >= usize::try_from(limit).unwrap_or(usize::MAX);
        Ok((rows, more))
    }

    fn number_record(&mut self, record: &[u8], round: &str, team: &str, now_ms: i64) -> Result<()> {
        self.tx.execute(
            "INSERT INTO record_numbers (record, round, team, ordinal, assigned_at)
             SELECT ?1, ?2, ?3, coalesce(max(ordinal), 0) + 1, ?4 FROM record_numbers WHERE round = ?2 AND team = ?3
             ON CONFLICT (record) DO NOTHING",
            params![record, round, team, now_ms],
        )?;
        Ok(())
    }

    fn record_numbers(&mut self, records: &[Vec<u8>], who: &Visibility) -> Result<Vec<(Vec<u8>, Number)>> {
        let (device, places, all_gang, teams, all_protected) = visible_params(who);
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT n.round, n.team, n.ordinal FROM record_numbers n
             JOIN docs d ON d.record = n.record AND d.part = 'record'
             WHERE n.record = ?6 AND {VISIBLE}"
        ))?;
        let mut found = Vec::new();
        for record in records {
            let number = stmt
                .query_row(params![device, places, all_gang, teams, all_protected, record], |row| {
                    Ok(Number { round: row.get(0)?, team: row.get(1)?, ordinal: row.get(2)? })
                })
                .optional()?;
            found.extend(number.map(|n| (record.clone(), n)));
        }
        Ok(found)
    }

    fn max_seq(&mut self) -> Result<u64> {
        let max: Option<i64> = self.tx.query_row("SELECT max(seq) FROM changes", [], |row| row.get(0))?;
        Ok(max.map_or(0, |m| u64::try_from(m).unwrap_or(0)))
    }

    fn audit(&mut self, entry: &AuditEntry) -> Result<()> {
        self.tx.execute(
            "INSERT INTO audit (at, user_id, device_id, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![entry.at_ms, entry.user_id, entry.device_id, entry.action, entry.detail.to_string()],
        )?;
        Ok(())
    }

    fn audit_log(&mut self, limit: u32) -> Result<Vec<AuditEntry>> {
        let mut stmt =
            self.tx.prepare("SELECT at, user_id, device_id, action, detail FROM audit ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt
            .query_map([limit], |row| {
                let detail: String = row.get(4)?;
                Ok(AuditEntry {
                    at_ms: row.get(0)?,
                    user_id: row.get(1)?,
                    device_id: row.get(2)?,
                    action: row.get(3)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn set_attachment_refs(&mut self, record: &[u8], sha256s: &[String]) -> Result<()> {
        self.tx.execute("DELETE FROM attachment_refs WHERE record = ?1", [record])?;
        for sha in sha256s {
            self.tx.execute(
                "INSERT INTO attachment_refs (record, sha256) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![record, sha],
            )?;
        }
        Ok(())
    }

    fn attachment_records(&mut self, sha256: &str, who: &Visibility) -> Result<Vec<Vec<u8>>> {
        let (device, places, all_gang, teams, all_protected) = visible_params(who);
        let mut stmt = self.tx.prepare(&format!(
            "SELECT a.record FROM attachment_refs a JOIN docs d ON d.record = a.record AND d.part = 'record'
             WHERE a.sha256 = ?6 AND {VISIBLE} ORDER BY a.record"
        ))?;
        let records = stmt
            .query_map(params![device, places, all_gang, teams, all_protected, sha256], |row| row.get(0))?
            .collect::<Result<Vec<Vec<u8>>, _>>()?;
        Ok(records)
    }

    fn attachment_holders(&mut self, sha256: &str) -> Result<Vec<String>> {
        let mut stmt =
            self.tx.prepare("SELECT device_id FROM attachment_holders WHERE sha256 = ?1 ORDER BY held_at")?;
        let holders = stmt.query_map([sha256], |row| row.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(holders)
    }

    fn attachment_state(&mut self, sha256: &str) -> Result<Option<AttachmentState>> {
        Ok(self
            .tx
            .query_row("SELECT size, received, complete FROM attachments WHERE sha256 = ?1", [sha256], |row| {
                Ok(AttachmentState {
                    size: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                    received: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                    complete: row.get(2)?,
                })
            })
            .optional()?)
    }

    fn upload_state(&mut self, sha256: &str, device_id: &str) -> Result<Option<UploadState>> {
        let held: Option<i64> = self
            .tx
            .query_row(
                "SELECT size FROM attachment_holders WHERE sha256 = ?1 AND device_id = ?2",
                [sha256, device_id],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(size) = held {
            let size = u64::try_from(size).unwrap_or(0);
            return Ok(Some(UploadState { size, received: size, held: true }));
        }
        Ok(self
            .tx
            .query_row(
                "SELECT size, received FROM attachment_uploads WHERE sha256 = ?1 AND device_id = ?2",
                [sha256, device_id],
                |row| {
                    Ok(UploadState {
                        size: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                        received: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                        held: false,
                    })
                },
            )
            .optional()?)
    }

    fn attachment_usage(&mut self, device_id: &str) -> Result<u64> {
        let used: i64 = self.tx.query_row(
            "SELECT COALESCE((SELECT SUM(size) FROM attachment_uploads WHERE device_id = ?1), 0)
                  + COALESCE((SELECT SUM(size) FROM attachment_holders WHERE device_id = ?1), 0)",
            [device_id],
            |row| row.get(0),
        )?;
        Ok(u64::try_from(used).unwrap_or(0))
    }

    fn append_upload(
        &mut self,
        sha256: &str,
        device_id: &str,
        size: u64,
        offset: u64,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<u64> {
        let size_i = i64::try_from(size).unwrap_or(i64::MAX);
        let new_key = BlobKey::generate()?;
        self.tx.execute(
            "INSERT INTO attachment_uploads (sha256, device_id, size, received, created_at, blob_key)
             VALUES (?1, ?2, ?3, 0, ?4, ?5)
             ON CONFLICT (sha256, device_id) DO NOTHING",
            params![sha256, device_id, size_i, now_ms, new_key.as_bytes()],
        )?;
        let (declared, received): (i64, i64) = self.tx.query_row(
            "SELECT size, received FROM attachment_uploads WHERE sha256 = ?1 AND device_id = ?2",
            [sha256, device_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let (declared, received) = (u64::try_from(declared).unwrap_or(0), u64::try_from(received).unwrap_or(0));
        let after = shared::check_piece(declared, received, size, offset, bytes.len())?;
        if bytes.is_empty() {
            // Nothing to store: an empty piece would only take the offset the next one needs.
            return Ok(received);
        }
        let key = self.upload_key(sha256, device_id)?;
        self.tx.execute(
            "INSERT INTO attachment_upload_pieces (sha256, device_id, offset, data) VALUES (?1, ?2, ?3, ?4)",
            params![sha256, device_id, i64::try_from(offset).unwrap_or(i64::MAX), key.seal(sha256, offset, bytes)?],
        )?;
        self.tx.execute(
            "UPDATE attachment_uploads SET received = ?3 WHERE sha256 = ?1 AND device_id = ?2",
            params![sha256, device_id, i64::try_from(after).unwrap_or(i64::MAX)],
        )?;
        Ok(after)
    }

    fn upload_digest(&mut self, sha256: &str, device_id: &str) -> Result<String> {
        let key = self.upload_key(sha256, device_id)?;
        let mut stmt = self.tx.prepare(
            "SELECT offset, data FROM attachment_upload_pieces WHERE sha256 = ?1 AND device_id = ?2 ORDER BY offset",
        )?;
        let mut rows = stmt.query([sha256, device_id])?;
        let mut digest = Sha256::new();
        while let Some(row) = rows.next()? {
            let offset = u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0);
            let sealed = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            digest.update(key.open(sha256, offset, sealed)?);
        }
        Ok(hex::encode(digest.finalize()))
    }

    fn finish_upload(&mut self, sha256: &str, device_id: &str, valid: bool, now_ms: i64) -> Result<()> {
        if valid {
            let whole = self.attachment_state(sha256)?.is_some_and(|s| s.complete);
            if !whole {
                // The first device to complete it makes the attachment whole: its key moves
                // over, and its pieces too, or into one object in the attachment store.
                let object = match self.blobs {
                    Some(blobs) => Some(self.write_object(blobs, sha256, device_id)?),
                    None => None,
                };
                self.tx.execute("DELETE FROM attachment_pieces WHERE sha256 = ?1", [sha256])?;
                self.tx.execute("DELETE FROM attachments WHERE sha256 = ?1", [sha256])?;
                self.tx.execute(
                    "INSERT INTO attachments (sha256, size, received, complete, created_at, blob_key, object)
                     SELECT sha256, size, received, 1, ?3, blob_key, ?4 FROM attachment_uploads
                     WHERE sha256 = ?1 AND device_id = ?2",
                    params![sha256, device_id, now_ms, object],
                )?;
                if object.is_none() {
                    self.tx.execute(
                        "INSERT INTO attachment_pieces (sha256, offset, data)
                         SELECT sha256, offset, data FROM attachment_upload_pieces WHERE sha256 = ?1 AND device_id = ?2",
                        [sha256, device_id],
                    )?;
                }
            }
            self.tx.execute(
                "INSERT INTO attachment_holders (sha256, device_id, size, held_at)
                 SELECT sha256, device_id, size, ?3 FROM attachment_uploads WHERE sha256 = ?1 AND device_id = ?2
                 ON CONFLICT DO NOTHING",
                params![sha256, device_id, now_ms],
            )?;
        }
        self.tx.execute(
            "DELETE FROM attachment_upload_pieces WHERE sha256 = ?1 AND device_id = ?2",
            [sha256, device_id],
        )?;
        self.tx.execute("DELETE FROM attachment_uploads WHERE sha256 = ?1 AND device_id = ?2", [sha256, device_id])?;
        Ok(())
    }

    fn attachments_not_held_by(&mut self, device_id: &str, limit: u32) -> Result<Vec<(String, u64)>> {
        let mut stmt = self.tx.prepare(
            "SELECT a.sha256, a.size FROM attachments a
             WHERE a.complete = 1
               AND EXISTS (SELECT 1 FROM attachment_refs r WHERE r.sha256 = a.sha256)
               AND NOT EXISTS (SELECT 1 FROM attachment_holders h WHERE h.sha256 = a.sha256 AND h.device_id = ?1)
             ORDER BY a.created_at, a.sha256 LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![device_id, limit], |row| {
                Ok((row.get::<_, String>(0)?, u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0)))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn hold_attachment(&mut self, sha256: &str, device_id: &str, now_ms: i64) -> Result<()> {
        self.tx.execute(
            "INSERT INTO attachment_holders (sha256, device_id, size, held_at)
             SELECT sha256, ?2, size, ?3 FROM attachments WHERE sha256 = ?1 AND complete = 1
             ON CONFLICT DO NOTHING",
            params![sha256, device_id, now_ms],
        )?;
        Ok(())
    }

    fn attachment_piece(&mut self, sha256: &str, offset: u64) -> Result<Option<(u64, Vec<u8>)>> {
        if let Some((blobs, object, size, key)) = self.stored_object(sha256)? {
            return blobs.chunk(&object, sha256, size, &key, offset);
        }
        let key = self.blob_key(sha256)?;
        let row: Option<(i64, Vec<u8>)> = self
            .tx
            .query_row(
                "SELECT offset, data FROM attachment_pieces WHERE sha256 = ?1 AND offset <= ?2
                 ORDER BY offset DESC LIMIT 1",
                params![sha256, i64::try_from(offset).unwrap_or(i64::MAX)],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((start, stored)) = row else { return Ok(None) };
        let start = u64::try_from(start).unwrap_or(0);
        let data = match &key {
            Some(key) => key.open(sha256, start, &stored)?,
            None => stored,
        };
        if start + data.len() as u64 <= offset {
            return Ok(None);
        }
        Ok(Some((start, data)))
    }

    fn epoch(&mut self) -> Result<Epoch> {
        let server_id = self.server_id()?;
        let meta = |tx: &rusqlite::Transaction<'_>, key: &str| -> Result<Option<String>> {
            Ok(tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0)).optional()?)
        };
        let epoch = meta(self.tx, "epoch")?.unwrap_or_default();
        let restored = meta(self.tx, "restored_at")?.is_some();
        Ok(Epoch::derive(&server_id, &epoch, restored))
    }

    fn device(&mut self, device_id: &str) -> Result<Option<Device>> {
        Ok(self
            .tx
            .query_row(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1"), [device_id], device_from)
            .optional()?)
    }

    fn attachment_bytes(&mut self, sha256: &str, offset: u64) -> Result<Vec<u8>> {
        if let Some((blobs, object, size, key)) = self.stored_object(sha256)? {
            return blobs.bytes(&object, sha256, size, &key, offset);
        }
        let key = self.blob_key(sha256)?;
        let mut stmt =
            self.tx.prepare("SELECT offset, data FROM attachment_pieces WHERE sha256 = ?1 ORDER BY offset")?;
        let pieces = stmt.query_map([sha256], |row| {
            Ok((u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0), row.get::<_, Vec<u8>>(1)?))
        })?;
        let overhead = if key.is_some() { at_rest::SEAL_OVERHEAD } else { 0 };
        shared::assemble(sha256, offset, overhead, pieces.map(|p| p.map_err(StorageError::from)), |start, stored| {
            match &key {
                Some(key) => key.open(sha256, start, &stored),
                None => Ok(stored),
            }
        })
    }

    fn doc_metas(&mut self) -> Result<Vec<DocMeta>> {
        let mut stmt = self.tx.prepare("SELECT record, part, kind, place, team, owner_device FROM docs")?;
        let rows = stmt
            .query_map([], |row| {
                let part: String = row.get(1)?;
                Ok(DocMeta {
                    key: DocKey { record: row.get(0)?, part: part_from(&part) },
                    scope: DocScope { kind: row.get(2)?, place: row.get(3)?, team: row.get(4)? },
                    owner_device: row.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn remember_scope(&mut self, fingerprint: &[u8], scope: &ReadScope) -> Result<()> {
        self.tx.execute(
            "INSERT INTO scopes (fingerprint, scope) VALUES (?1, ?2) ON CONFLICT (fingerprint) DO NOTHING",
            params![fingerprint, json(scope)],
        )?;
        Ok(())
    }

    fn scope(&mut self, fingerprint: &[u8]) -> Result<Option<ReadScope>> {
        let text: Option<String> = self
            .tx
            .query_row("SELECT scope FROM scopes WHERE fingerprint = ?1", [fingerprint], |row| row.get(0))
            .optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    fn put_divisions(&mut self, divisions: &[DivisionEntry]) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO divisions (code, name, parent) VALUES (?1, ?2, ?3)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent",
        )?;
        for d in divisions {
            stmt.execute(params![d.code, d.name, d.parent])?;
        }
        Ok(())
    }

    fn divisions(&mut self) -> Result<Vec<DivisionEntry>> {
        let mut stmt = self.tx.prepare("SELECT code, name, parent FROM divisions ORDER BY code")?;
        let rows = stmt
            .query_map([], |row| Ok(DivisionEntry { code: row.get(0)?, name: row.get(1)?, parent: row.get(2)? }))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn division(&mut self, code: &str) -> Result<Option<DivisionEntry>> {
        Ok(self
            .tx
            .query_row("SELECT code, name, parent FROM divisions WHERE code = ?1", [code], |row| {
                Ok(DivisionEntry { code: row.get(0)?, name: row.get(1)?, parent: row.get(2)? })
            })
            .optional()?)
    }

    fn add_round(&mut self, round: &Round) -> Result<()> {
        let inserted = self.tx.execute(
            "INSERT INTO rounds (id, name, start, end, units) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![round.id, round.name, round.start, round.end, json(&round.units)],
        )?;
        if inserted == 0 {
            return Err(shared::round_exists(&round.name));
        }
        Ok(())
    }

    fn rounds(&mut self) -> Result<Vec<Round>> {
        let mut stmt = self.tx.prepare("SELECT id, name, start, end, units FROM rounds ORDER BY start, name")?;
        Ok(stmt.query_map([], round_from)?.collect::<Result<Vec<_>, _>>()?)
    }

    fn put_team(&mut self, team: &Team) -> Result<()> {
        self.tx.execute(
            "INSERT INTO teams (id, name, round_id, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, round_id = excluded.round_id, body = excluded.body",
            params![team.id, team.name, team.round, json(team)],
        )?;
        self.tx.execute("DELETE FROM team_people WHERE team_id = ?1", [&team.id])?;
        for user in team.people() {
            self.tx.execute(
                "INSERT INTO team_people (user_id, team_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![user, team.id],
            )?;
        }
        Ok(())
    }

    fn teams(&mut self) -> Result<Vec<Team>> {
        let mut stmt = self.tx.prepare("SELECT body FROM teams ORDER BY round_id, name")?;
        Ok(stmt.query_map([], |row| from_json(&row.get::<_, String>(0)?))?.collect::<Result<Vec<_>, _>>()?)
    }

    fn teams_of(&mut self, user_id: &str) -> Result<Vec<Team>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT t.body FROM team_people p JOIN teams t ON t.id = p.team_id WHERE p.user_id = ?1 ORDER BY t.id",
        )?;
        Ok(stmt.query_map([user_id], |row| from_json(&row.get::<_, String>(0)?))?.collect::<Result<Vec<_>, _>>()?)
    }

    fn claim_for_team(&mut self, team: &Team) -> Result<usize> {
        let people: Vec<&str> = team.people().collect();
        let places: Vec<&str> = team.places.iter().filter_map(|p| xuncha_domain::reference::prefix_of(p)).collect();
        Ok(self.tx.execute(
            "UPDATE docs SET team = ?1 WHERE team = '' AND place != ''
               AND owner_device IN (SELECT id FROM devices WHERE user_id IN (SELECT value FROM json_each(?2)))
               AND EXISTS (SELECT 1 FROM json_each(?3) p WHERE substr(docs.place, 1, length(p.value)) = p.value)",
            params![team.id, json(&people), json(&places)],
        )?)
    }

    fn put_roster(&mut self, roster: &Roster) -> Result<()> {
        self.tx
            .execute("DELETE FROM rosters WHERE village = ?1 AND fund = ?2", params![roster.village, roster.fund])?;
        self.tx.execute(
            "INSERT INTO rosters (id, village, fund, imported_at, households) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![roster.id, roster.village, roster.fund, roster.imported_at_ms, json(&roster.households)],
        )?;
        Ok(())
    }

    fn rosters(&mut self, prefixes: &[String]) -> Result<Vec<Roster>> {
        let mut stmt = self.tx.prepare(
            "SELECT id, village, fund, imported_at, households FROM rosters r
             WHERE EXISTS (SELECT 1 FROM json_each(?1) p WHERE substr(r.village, 1, length(p.value)) = p.value)
             ORDER BY village, fund",
        )?;
        Ok(stmt.query_map([json(&prefixes)], roster_from)?.collect::<Result<Vec<_>, _>>()?)
    }

    fn reference_version(&mut self) -> Result<u64> {
        let value: Option<String> = self
            .tx
            .query_row("SELECT value FROM meta WHERE key = 'reference_version'", [], |row| row.get(0))
            .optional()?;
        Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    fn bump_reference_version(&mut self) -> Result<u64> {
        let next = self.reference_version()? + 1;
        self.tx.execute(
            "INSERT INTO meta (key, value) VALUES ('reference_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [next.to_string()],
        )?;
        Ok(next)
    }

    fn chain_head(&mut self) -> Result<(u64, [u8; 32])> {
        let head: Option<(i64, Option<Vec<u8>>)> = self
            .tx
            .query_row("SELECT seq, link FROM changes ORDER BY seq DESC LIMIT 1", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        Ok(match head {
            None => (0, chain::GENESIS),
            Some((seq, link)) => (
                u64::try_from(seq).unwrap_or(0),
                link.and_then(|l| l.try_into().ok()).ok_or_else(|| {
                    StorageError::Backend(format!("log entry {seq} has no link; run xuncha admin verify"))
                })?,
            ),
        })
    }

    fn device_wrote(&mut self, key: &DocKey, device_id: &str) -> Result<bool> {
        Ok(self
            .tx
            .query_row(
                "SELECT 1 FROM changes WHERE record = ?1 AND part = ?2 AND device_id = ?3 LIMIT 1",
                params![key.record, part_code(key.part), device_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn protected_key(&mut self) -> Result<Option<String>> {
        Ok(self.tx.query_row("SELECT recipient FROM protected_key WHERE id = 1", [], |row| row.get(0)).optional()?)
    }

    fn set_protected_key(&mut self, recipient: &str, now_ms: i64) -> Result<()> {
        self.tx.execute(
            "INSERT INTO protected_key (id, recipient, created_at) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET recipient = excluded.recipient, created_at = excluded.created_at",
            params![recipient, now_ms],
        )?;
        Ok(())
    }

    fn protected_grant(&mut self, device_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tx
            .query_row("SELECT wrapped FROM protected_grants WHERE device_id = ?1", [device_id], |row| row.get(0))
            .optional()?)
    }

    fn grant_protected(&mut self, device_id: &str, wrapped: &[u8], now_ms: i64) -> Result<()> {
        self.tx.execute(
            "INSERT INTO protected_grants (device_id, wrapped, granted_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (device_id) DO UPDATE SET wrapped = excluded.wrapped, granted_at = excluded.granted_at",
            params![device_id, wrapped, now_ms],
        )?;
        Ok(())
    }

    fn doc_signatures(&mut self, key: &DocKey) -> Result<Vec<(String, Vec<u8>)>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT hash, signature FROM changes WHERE record = ?1 AND part = ?2 AND signature IS NOT NULL ORDER BY seq",
        )?;
        Ok(stmt
            .query_map(params![key.record, part_code(key.part)], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?)
    }

    fn change_signature(&mut self, seq: u64) -> Result<Option<Vec<u8>>> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        Ok(self
            .tx
            .query_row("SELECT signature FROM changes WHERE seq = ?1", [seq], |row| row.get::<_, Option<Vec<u8>>>(0))
            .optional()?
            .flatten())
    }

    fn log_rows(&mut self, after: u64, limit: u32) -> Result<Vec<(LogRow, Vec<u8>)>> {
        let mut stmt = self
            .tx
            .prepare_cached(&format!("SELECT {LOG_COLUMNS} FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2"))?;
        Ok(stmt
            .query_map(params![i64::try_from(after).unwrap_or(i64::MAX), limit], log_row_from)?
            .collect::<Result<Vec<_>, _>>()?)
    }

    fn add_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        self.tx.execute(
            "INSERT INTO checkpoints (seq, at, body) VALUES (?1, ?2, ?3)",
            params![i64::try_from(checkpoint.seq).unwrap_or(i64::MAX), checkpoint.at_ms, json(checkpoint)],
        )?;
        Ok(())
    }

    fn checkpoints(&mut self) -> Result<Vec<Checkpoint>> {
        let mut stmt = self.tx.prepare("SELECT body FROM checkpoints ORDER BY seq, at")?;
        Ok(stmt.query_map([], |row| from_json(&row.get::<_, String>(0)?))?.collect::<Result<Vec<_>, _>>()?)
    }

    fn add_peer(&mut self, peer: &Peer) -> Result<()> {
        let signing = peer.key.split(':').nth(1).unwrap_or_default();
        self.tx
            .execute(
                "INSERT INTO peers (name, key, signing, added_at) VALUES (?1, ?2, ?3, ?4)",
                params![peer.name, peer.key, signing, peer.added_at_ms],
            )
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => shared::peer_exists(&peer.name),
                _ => e.into(),
            })?;
        Ok(())
    }

    fn peers(&mut self) -> Result<Vec<Peer>> {
        let mut stmt = self.tx.prepare("SELECT name, key, added_at, acked_seq, wants FROM peers ORDER BY name")?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?, row.get::<_, i64>(3)?, row.get::<_, Vec<u8>>(4)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, key, added_at_ms, acked, wants) = row?;
            let wants = shared::decode_wants(&wants)?;
            out.push(Peer { name, key, added_at_ms, acked_seq: u64::try_from(acked).unwrap_or(0), wants });
        }
        Ok(out)
    }

    fn set_peer_state(&mut self, name: &str, acked_seq: u64, wants: &[DocKey]) -> Result<()> {
        let bytes = shared::encode_wants(wants)?;
        self.tx.execute(
            "UPDATE peers SET acked_seq = ?2, wants = ?3 WHERE name = ?1",
            params![name, i64::try_from(acked_seq).unwrap_or(i64::MAX), bytes],
        )?;
        Ok(())
    }

    fn bundle_identity(&mut self, made: &str) -> Result<String> {
        self.tx.execute(
            "INSERT INTO meta (key, value) VALUES ('bundle_identity', ?1) ON CONFLICT (key) DO NOTHING",
            [made],
        )?;
        Ok(self.tx.query_row("SELECT value FROM meta WHERE key = 'bundle_identity'", [], |row| row.get(0))?)
    }

    fn server_id(&mut self) -> Result<String> {
        self.tx
            .query_row("SELECT value FROM meta WHERE key = 'server_id'", [], |row| row.get(0))
            .optional()?
            .ok_or_else(|| StorageError::Backend("the server has no id; its data directory is damaged".into()))
    }
}
