//! The PostgreSQL backend, for a province: any number of stateless `xuncha server`
//! replicas on one database. What the SQLite backend gets from serialising every write
//! transaction through one connection, this one gets from locks that hold across
//! connections and processes:
//!
//! - **The change log has a single appender.** A transaction that logs changes takes one
//!   transaction-scoped advisory lock first and numbers its entries after the chain's head;
//!   the lock is released only once its commit is visible. So positions become visible in
//!   order, with no gaps: a reader walking `seq > cursor` can never pass a change that
//!   commits later (the skip `../shared/notes/scale-out.md` measured with a sequence), and
//!   the hash chain links each entry to the one before it as on SQLite.
//! - **Records are locked before they are merged** ([`Tx::lock_records`]), so two replicas
//!   never merge into the same old snapshot.
//! - **Counters and one-time codes change in one statement** (record numbers under a lock
//!   of their round and team, the reference version, enrollment codes used once).
//! - Write transactions run at READ COMMITTED (each statement sees what committed before
//!   it, in particular after a lock was granted); reads at REPEATABLE READ, one snapshot.
//!   A serialization failure or deadlock runs the whole transaction again.
//!
//! Attachment pieces are sealed with a key of their own as on SQLite, and that key is
//! stored sealed under the server's master key: the database alone opens no attachment.
//! The schema is migrated under an advisory lock, so replicas may start together.

use std::time::Duration;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{IsolationLevel, NoTls, Row, Statement};
use sha2::{Digest, Sha256};
use xuncha_domain::numbering::Number;
use xuncha_domain::{DivisionEntry, ReadScope, Roster, Round, Team};
use xuncha_protocol::{DocKey, Part, Role};

pub mod backup;

use crate::at_rest::{BlobKey, MasterKey};
use crate::blobs::Blobs;
use crate::chain::{self, Checkpoint, LogRow};
use crate::storage::shared::{self, district_of, districts_of, part_code, part_from, township_of};
use crate::storage::{
    AttachmentState, AuditEntry, Device, DocMeta, DocScope, Epoch, LogEntry, LoggedChange, Peer, Result, Storage,
    StorageError, StorageStats, StoredDoc, Tx, UploadState, User, Visibility,
};

/// The statement of [`REFRESH_DISTRICTS`], as a literal the migrations can include.
macro_rules! refresh_districts {
    () => {
        "UPDATE changes c SET district = left(d.place, 6)
         FROM docs d WHERE d.record = c.record AND d.part = c.part AND c.district <> left(d.place, 6)"
    };
}

/// The schema, one entry per version (`xuncha_schema.version` counts them). Text that
/// pages or lists are ordered by is compared as bytes (`COLLATE "C"`), as on SQLite,
/// whatever the database's locale.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE meta (
        key   text COLLATE "C" PRIMARY KEY,
        value text NOT NULL
    );
    CREATE TABLE users (
        id           text COLLATE "C" PRIMARY KEY,
        name         text NOT NULL,
        role         text NOT NULL,
        jurisdiction text NOT NULL,
        created_at   bigint NOT NULL,
        disabled_at  bigint
    );
    CREATE TABLE enrollments (
        code_hash    text PRIMARY KEY,
        user_id      text NOT NULL REFERENCES users (id),
        created_at   bigint NOT NULL,
        expires_at   bigint NOT NULL,
        used_at      bigint,
        device_id    text,
        cancelled_at bigint
    );
    CREATE TABLE devices (
        id              text COLLATE "C" PRIMARY KEY,
        user_id         text NOT NULL REFERENCES users (id),
        name            text NOT NULL,
        actor           text NOT NULL UNIQUE,
        token_hash      text NOT NULL UNIQUE,
        created_at      bigint NOT NULL,
        revoked_at      bigint,
        last_sync       bigint,
        signing_key     text,
        sealing_key     text,
        token_issued_at bigint
    );
    CREATE TABLE docs (
        record       bytea NOT NULL,
        part         text COLLATE "C" NOT NULL,
        township     text NOT NULL,
        owner_device text NOT NULL,
        snapshot     bytea NOT NULL,
        kind         text NOT NULL DEFAULT '',
        place        text COLLATE "C" NOT NULL DEFAULT '',
        team         text NOT NULL DEFAULT '',
        PRIMARY KEY (record, part)
    );
    CREATE INDEX docs_place ON docs (place);
    CREATE TABLE changes (
        seq         bigint PRIMARY KEY,
        record      bytea NOT NULL,
        part        text COLLATE "C" NOT NULL,
        hash        text NOT NULL UNIQUE,
        bytes       bytea NOT NULL,
        device_id   text NOT NULL,
        received_at bigint NOT NULL,
        link        bytea NOT NULL,
        signature   bytea
    );
    CREATE INDEX changes_doc_device ON changes (record, part, device_id);
    CREATE TABLE audit (
        id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at        bigint NOT NULL,
        user_id   text,
        device_id text,
        action    text NOT NULL,
        detail    jsonb NOT NULL
    );
    CREATE TABLE attachments (
        sha256     text PRIMARY KEY,
        size       bigint NOT NULL,
        received   bigint NOT NULL,
        complete   boolean NOT NULL,
        created_at bigint NOT NULL,
        blob_key   bytea NOT NULL
    );
    CREATE TABLE attachment_pieces (
        sha256      text NOT NULL,
        byte_offset bigint NOT NULL,
        data        bytea NOT NULL,
        PRIMARY KEY (sha256, byte_offset)
    );
    CREATE TABLE attachment_refs (
        record bytea NOT NULL,
        sha256 text NOT NULL,
        PRIMARY KEY (record, sha256)
    );
    CREATE INDEX attachment_refs_sha ON attachment_refs (sha256);
    CREATE TABLE attachment_uploads (
        sha256     text NOT NULL,
        device_id  text NOT NULL,
        size       bigint NOT NULL,
        received   bigint NOT NULL,
        created_at bigint NOT NULL,
        blob_key   bytea NOT NULL,
        PRIMARY KEY (sha256, device_id)
    );
    CREATE INDEX attachment_uploads_device ON attachment_uploads (device_id);
    CREATE TABLE attachment_upload_pieces (
        sha256      text NOT NULL,
        device_id   text NOT NULL,
        byte_offset bigint NOT NULL,
        data        bytea NOT NULL,
        PRIMARY KEY (sha256, device_id, byte_offset)
    );
    CREATE TABLE attachment_holders (
        sha256    text NOT NULL,
        device_id text NOT NULL,
        size      bigint NOT NULL,
        held_at   bigint NOT NULL,
        PRIMARY KEY (sha256, device_id)
    );
    CREATE INDEX attachment_holders_device ON attachment_holders (device_id);
    CREATE TABLE divisions (
        code   text COLLATE "C" PRIMARY KEY,
        name   text NOT NULL,
        parent text NOT NULL
    );
    CREATE TABLE rounds (
        id       text PRIMARY KEY,
        name     text COLLATE "C" NOT NULL UNIQUE,
        start_on text COLLATE "C" NOT NULL,
        end_on   text NOT NULL,
        units    text NOT NULL
    );
    CREATE TABLE teams (
        id       text COLLATE "C" PRIMARY KEY,
        name     text COLLATE "C" NOT NULL,
        round_id text COLLATE "C" NOT NULL REFERENCES rounds (id),
        body     text NOT NULL,
        UNIQUE (round_id, name)
    );
    CREATE TABLE team_people (
        user_id text NOT NULL,
        team_id text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, team_id)
    );
    CREATE TABLE rosters (
        id          text PRIMARY KEY,
        village     text COLLATE "C" NOT NULL,
        fund        text COLLATE "C" NOT NULL,
        imported_at bigint NOT NULL,
        households  text NOT NULL,
        UNIQUE (village, fund)
    );
    CREATE TABLE scopes (
        fingerprint bytea PRIMARY KEY,
        scope       text NOT NULL
    );
    CREATE TABLE checkpoints (
        seq  bigint NOT NULL,
        at   bigint NOT NULL,
        body text NOT NULL
    );
    CREATE INDEX checkpoints_at ON checkpoints (at);
    CREATE TABLE protected_key (
        id         integer PRIMARY KEY CHECK (id = 1),
        recipient  text NOT NULL,
        created_at bigint NOT NULL
    );
    CREATE TABLE protected_grants (
        device_id  text PRIMARY KEY REFERENCES devices (id),
        wrapped    bytea NOT NULL,
        granted_at bigint NOT NULL
    );
    CREATE TABLE record_numbers (
        record      bytea PRIMARY KEY,
        round       text NOT NULL,
        team        text NOT NULL,
        ordinal     integer NOT NULL,
        assigned_at bigint NOT NULL,
        UNIQUE (round, team, ordinal)
    );
    CREATE TABLE peers (
        name      text COLLATE "C" PRIMARY KEY,
        key       text NOT NULL UNIQUE,
        signing   text NOT NULL UNIQUE,
        added_at  bigint NOT NULL,
        acked_seq bigint NOT NULL DEFAULT 0,
        wants     bytea NOT NULL DEFAULT ''
    );
"#,
    // 2: a complete attachment may be an object in an attachment store (`blobs.rs`): its
    // name, or NULL for pieces kept in this database.
    r#"
    ALTER TABLE attachments ADD COLUMN object text;
"#,
    // 3: a province's reads lead by district: each log entry carries the district (the
    // first six digits of the place) of its document, and a district device's log and walk
    // go through indexes that start with it, so they never scan the other districts.
    concat!(
        r#"
    ALTER TABLE changes ADD COLUMN district text COLLATE "C" NOT NULL DEFAULT '';
    CREATE INDEX changes_district ON changes (district, seq);
    CREATE INDEX docs_district ON docs ((left(place, 6)), record, part);
"#,
        refresh_districts!(),
        ";"
    ),
];

/// Gives every log entry the district its document is in now: migration 3, and a restore
/// of a backup made before log entries carried one.
pub(crate) const REFRESH_DISTRICTS: &str = refresh_districts!();

/// `XUNCHA_PG_COMMIT_DELAY_MS`: a pause after a transaction logs changes and before it
/// commits (fault injection for tests; unset in service).
static COMMIT_DELAY: std::sync::LazyLock<Option<Duration>> = std::sync::LazyLock::new(|| {
    std::env::var("XUNCHA_PG_COMMIT_DELAY_MS").ok().and_then(|ms| ms.parse().ok()).map(Duration::from_millis)
});

/// How often a transaction that collided with another (serialization failure, deadlock)
/// is run again before the caller is told the server is busy.
const ATTEMPTS: u32 = 8;

/// A connection, with the statements it prepared by their SQL (each is then one round
/// trip instead of two).
struct Conn {
    client: postgres::Client,
    statements: HashMap<String, Statement>,
}

/// Makes the pool's connections.
struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<Conn, postgres::Error> {
        Ok(Conn { client: self.config.connect(NoTls)?, statements: HashMap::new() })
    }

    fn is_valid(&self, conn: &mut Conn) -> std::result::Result<(), postgres::Error> {
        conn.client.simple_query("").map(drop)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.client.is_closed()
    }
}

type Pool = r2d2::Pool<Manager>;

/// The PostgreSQL backend: a pool of connections to one database.
pub struct PgStorage {
    /// Always `Some` until dropped.
    pool: Option<Pool>,
    master: MasterKey,
    /// Test only: log without the appender's lock, numbered by a sequence (see
    /// [`PgStorage::naive_log`]).
    naive: bool,
    counters: Counters,
    /// Where complete attachments go, if not into the database.
    blobs: Option<Arc<Blobs>>,
    /// A serving replica's connection that holds the shared serving lock (a restore waits
    /// for none).
    serving: Option<std::sync::Mutex<postgres::Client>>,
}

/// What `/metrics` reports of the backend.
#[derive(Debug, Default)]
struct Counters {
    commits: [AtomicU64; 2],
    retries: AtomicU64,
    gave_up: AtomicU64,
    log_wait_micros: AtomicU64,
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let connections = self.pool.as_ref().map_or(0, |p| p.state().connections);
        f.debug_struct("PgStorage").field("connections", &connections).finish_non_exhaustive()
    }
}

impl Drop for PgStorage {
    fn drop(&mut self) {
        // A blocking client closes its connection by blocking on a runtime of its own,
        // which panics on a thread that drives async tasks (where the server's state is
        // dropped when it stops): the connections are closed on a thread of their own.
        if let Some(pool) = self.pool.take() {
            let serving = self.serving.take();
            let _ = std::thread::Builder::new()
                .name("xuncha-pg-close".into())
                .spawn(move || {
                    drop(serving);
                    drop(pool);
                })
                .map(|t| t.join());
        }
    }
}

impl PgStorage {
    /// Connects to the database at `url` (`postgres://user@host:port/database`), brings its
    /// schema up to date (under a lock, so replicas may start together) and makes the
    /// server's identity the first time. `master` seals the attachments' keys: every
    /// replica of one database must be given the same.
    pub fn open(url: &str, master: MasterKey) -> Result<PgStorage> {
        let config: postgres::Config = url.parse().map_err(|e| {
            StorageError::Backend(format!(
                "PostgreSQL 地址无效 / the PostgreSQL URL is not valid ({e}): {}",
                redact(url)
            ))
        })?;
        let manager = Manager { config };
        let pool = r2d2::Pool::builder()
            .max_size(16)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| {
                StorageError::Backend(format!(
                    "无法连接 PostgreSQL / cannot connect to PostgreSQL at {}: {e}",
                    redact(url)
                ))
            })?;
        let storage = PgStorage {
            pool: Some(pool),
            master,
            naive: false,
            counters: Counters::default(),
            blobs: None,
            serving: None,
        };
        storage.migrate()?;
        Ok(storage)
    }

    fn migrate(&self) -> Result<()> {
        let mut conn = self.client()?;
        let mut tx = conn.client.transaction().map_err(pg_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key("xuncha-migrate")]).map_err(pg_error)?;
        // Asked rather than CREATE … IF NOT EXISTS, whose notice every start would log.
        let known_table: bool =
            tx.query_one("SELECT to_regclass('xuncha_schema') IS NOT NULL", &[]).map_err(pg_error)?.get(0);
        if !known_table {
            tx.batch_execute("CREATE TABLE xuncha_schema (version integer NOT NULL)").map_err(pg_error)?;
        }
        let version: Option<i32> =
            tx.query_opt("SELECT version FROM xuncha_schema", &[]).map_err(pg_error)?.map(|row| row.get(0));
        let known = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
        let version = match version {
            Some(v) => v,
            None => {
                tx.execute("INSERT INTO xuncha_schema (version) VALUES (0)", &[]).map_err(pg_error)?;
                0
            }
        };
        if version > known {
            return Err(StorageError::Backend(format!(
                "the database was written by a newer server (schema {version}, this one knows {known}); update the server"
            )));
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
            tx.batch_execute(sql).map_err(pg_error)?;
            let next = i32::try_from(index + 1).unwrap_or(i32::MAX);
            tx.execute("UPDATE xuncha_schema SET version = $1", &[&next]).map_err(pg_error)?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('server_id', $1) ON CONFLICT (key) DO NOTHING",
            &[&crate::auth::new_server_id()],
        )
        .map_err(pg_error)?;
        // Every replica must seal and open attachment keys with the same master key: the
        // first one to start leaves a value only its key opens, the others are checked
        // against it.
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('master_key_check', $1) ON CONFLICT (key) DO NOTHING",
            &[&hex::encode(self.master.check_value()?)],
        )
        .map_err(pg_error)?;
        let check: String =
            tx.query_one("SELECT value FROM meta WHERE key = 'master_key_check'", &[]).map_err(pg_error)?.get(0);
        if !hex::decode(&check).is_ok_and(|check| self.master.opens(&check)) {
            return Err(StorageError::Key(format!(
                "本服务器的主密钥不是该数据库使用的密钥：请把第一台服务器的密钥文件复制过来（{env}） / this server's master key is not the one the database was set up with: copy the first replica's key file here (see {env})",
                env = crate::at_rest::KEY_FILE_ENV
            )));
        }
        tx.commit().map_err(pg_error)
    }

    /// Marks this store as a serving replica's for as long as it lives: a connection of its
    /// own holds the serving lock shared, so that a restore refuses while any replica runs.
    pub fn serving(mut self, url: &str) -> Result<PgStorage> {
        let config: postgres::Config = url.parse().map_err(|e| StorageError::Backend(format!("{e}")))?;
        let mut client = config.connect(NoTls).map_err(pg_error)?;
        client.execute("SELECT pg_advisory_lock_shared($1)", &[&lock_key(backup::SERVING)]).map_err(pg_error)?;
        self.serving = Some(std::sync::Mutex::new(client));
        Ok(self)
    }

    /// Complete attachments from now on go to `blobs` (those already in the database
    /// stay there, and are read from there).
    pub fn with_attachments(mut self, blobs: Arc<Blobs>) -> PgStorage {
        self.blobs = Some(blobs);
        self
    }

    /// For tests only: the same store with the change log written the naive way, numbered
    /// by a sequence at INSERT and without the single appender, so that a transaction
    /// that commits late becomes visible after later numbers: a reader asking for
    /// `seq > cursor` then skips it. The test that shows the bug uses it, so that the
    /// test of the real log is known to be able to see it. (The hash chain is not kept.)
    #[doc(hidden)]
    pub fn naive_log(mut self) -> Result<PgStorage> {
        let mut conn = self.client()?;
        conn.client.batch_execute("CREATE SEQUENCE IF NOT EXISTS xuncha_naive_seq").map_err(pg_error)?;
        drop(conn);
        self.naive = true;
        Ok(self)
    }

    fn client(&self) -> Result<r2d2::PooledConnection<Manager>> {
        let pool = self.pool.as_ref().ok_or_else(|| StorageError::Backend("the storage was closed".into()))?;
        pool.get().map_err(|e| StorageError::Backend(format!("no PostgreSQL connection: {e}")))
    }
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// An advisory-lock key: the first 8 bytes of SHA-256 of what is locked.
fn lock_key(name: impl AsRef<[u8]>) -> i64 {
    let digest = Sha256::digest(name.as_ref());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// PostgreSQL's errors, as the storage trait's.
fn pg_error(error: postgres::Error) -> StorageError {
    let said = match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({}; {detail})", db.message(), db.code().code()),
            None => format!("{} ({})", db.message(), db.code().code()),
        },
        None => error.to_string(),
    };
    match error.code() {
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED => {
            StorageError::Busy(said)
        }
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => StorageError::Conflict(said),
        _ => StorageError::Backend(format!("PostgreSQL: {said}")),
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl Storage for PgStorage {
    fn transaction(&self, write: bool, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        let mut conn = self.client()?;
        let Conn { client, statements } = &mut *conn;
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                // Back off a little, more each time, so colliding transactions spread out.
                std::thread::sleep(Duration::from_millis(u64::from(attempt) * 5));
            }
            let level = if write { IsolationLevel::ReadCommitted } else { IsolationLevel::RepeatableRead };
            let tx = client.build_transaction().isolation_level(level).start().map_err(pg_error)?;
            if attempt > 0 {
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            let mut pg_tx = PgTx {
                tx,
                statements: &mut *statements,
                master: &self.master,
                naive: self.naive,
                log_wait: &self.counters.log_wait_micros,
                blobs: self.blobs.as_deref(),
            };
            match work(&mut pg_tx) {
                Ok(()) => match pg_tx.tx.commit().map_err(pg_error) {
                    Ok(()) => {
                        self.counters.commits[usize::from(write)].fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                    Err(StorageError::Busy(detail)) => last = detail,
                    Err(e) => return Err(e),
                },
                // Dropping the transaction rolls it back.
                Err(StorageError::Busy(detail)) => last = detail,
                Err(e) => return Err(e),
            }
        }
        self.counters.gave_up.fetch_add(1, Ordering::Relaxed);
        Err(StorageError::Busy(format!("gave up after {ATTEMPTS} attempts: {last}")))
    }

    fn stats(&self) -> StorageStats {
        let c = &self.counters;
        StorageStats {
            read_commits: c.commits[0].load(Ordering::Relaxed),
            write_commits: c.commits[1].load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            gave_up: c.gave_up.load(Ordering::Relaxed),
            log_wait_micros: c.log_wait_micros.load(Ordering::Relaxed),
        }
    }

    fn blobs(&self) -> Option<&Blobs> {
        self.blobs.as_deref()
    }
}

struct PgTx<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a mut HashMap<String, Statement>,
    master: &'a MasterKey,
    naive: bool,
    /// Where the time waited for the log's appender lock is added up.
    log_wait: &'a AtomicU64,
    blobs: Option<&'a Blobs>,
}

type Params<'p> = [&'p (dyn ToSql + Sync)];

impl PgTx<'_> {
    /// `sql` prepared on this connection, once.
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(sql).map_err(pg_error)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn execute(&mut self, sql: &str, params: &Params<'_>) -> Result<u64> {
        let statement = self.statement(sql)?;
        self.tx.execute(&statement, params).map_err(pg_error)
    }

    fn query(&mut self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        self.tx.query(&statement, params).map_err(pg_error)
    }

    fn query_opt(&mut self, sql: &str, params: &Params<'_>) -> Result<Option<Row>> {
        let statement = self.statement(sql)?;
        self.tx.query_opt(&statement, params).map_err(pg_error)
    }

    fn query_one(&mut self, sql: &str, params: &Params<'_>) -> Result<Row> {
        let statement = self.statement(sql)?;
        self.tx.query_one(&statement, params).map_err(pg_error)
    }

    fn lock(&mut self, name: impl AsRef<[u8]>) -> Result<()> {
        self.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key(name)]).map(drop)
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>> {
        Ok(self.query_opt("SELECT value FROM meta WHERE key = $1", &[&key])?.map(|row| row.get(0)))
    }

    /// The key of an attachment (whole, or one device's upload when `device` is given).
    fn blob_key(&mut self, sha256: &str, device: Option<&str>) -> Result<BlobKey> {
        let row = match device {
            None => self.query_opt("SELECT blob_key FROM attachments WHERE sha256 = $1", &[&sha256])?,
            Some(device) => self.query_opt(
                "SELECT blob_key FROM attachment_uploads WHERE sha256 = $1 AND device_id = $2",
                &[&sha256, &device],
            )?,
        };
        let wrapped: Vec<u8> =
            row.map(|r| r.get(0)).ok_or_else(|| StorageError::NotFound(format!("attachment {sha256}")))?;
        BlobKey::unwrap(self.master, sha256, &wrapped)
    }

    /// The object a complete attachment is stored as, with its size and key; `None` for
    /// one whose pieces are in this database.
    fn stored_object(&mut self, sha256: &str) -> Result<Option<(&'_ Blobs, String, u64, BlobKey)>> {
        let Some(row) = self.query_opt(
            "SELECT object, size, blob_key FROM attachments WHERE sha256 = $1 AND object IS NOT NULL",
            &[&sha256],
        )?
        else {
            return Ok(None);
        };
        let key = BlobKey::unwrap(self.master, sha256, row.get::<_, &[u8]>(2))?;
        Ok(Some((shared::blobs_for(self.blobs, sha256)?, row.get(0), to_u64(row.get(1)), key)))
    }

    /// Writes `device_id`'s checked upload of an attachment into the attachment store as
    /// one object; its name.
    fn write_object(&mut self, blobs: &Blobs, sha256: &str, device_id: &str) -> Result<String> {
        let key = self.blob_key(sha256, Some(device_id))?;
        let size: i64 = self
            .query_one(
                "SELECT size FROM attachment_uploads WHERE sha256 = $1 AND device_id = $2",
                &[&sha256, &device_id],
            )?
            .get(0);
        let rows = self.query(
            "SELECT byte_offset, data FROM attachment_upload_pieces WHERE sha256 = $1 AND device_id = $2
             ORDER BY byte_offset",
            &[&sha256, &device_id],
        )?;
        let mut pieces = rows.iter().map(|row| Ok((to_u64(row.get(0)), row.get::<_, Vec<u8>>(1))));
        blobs.write(sha256, to_u64(size), &key, &mut pieces)
    }
}

const USER_COLUMNS: &str = "id, name, role, jurisdiction, created_at, disabled_at";

fn user_from(row: &Row) -> User {
    let role: String = row.get(2);
    User {
        id: row.get(0),
        name: row.get(1),
        role: Role::parse(&role).unwrap_or(Role::Inspector),
        jurisdiction: row.get(3),
        created_at_ms: row.get(4),
        disabled_at_ms: row.get(5),
    }
}

const DEVICE_COLUMNS: &str = "id, user_id, name, actor, created_at, revoked_at, last_sync, signing_key, sealing_key, \
     COALESCE(token_issued_at, created_at)";

fn device_from(row: &Row) -> Device {
    Device {
        id: row.get(0),
        user_id: row.get(1),
        name: row.get(2),
        actor: row.get(3),
        created_at_ms: row.get(4),
        revoked_at_ms: row.get(5),
        last_sync_ms: row.get(6),
        signing_key: row.get(7),
        sealing_key: row.get(8),
        token_issued_at_ms: row.get(9),
    }
}

const DOC_COLUMNS: &str = "d.record, d.part, d.kind, d.place, d.team, d.owner_device, d.snapshot";

fn doc_from(row: &Row) -> StoredDoc {
    let part: String = row.get(1);
    StoredDoc {
        key: DocKey { record: row.get(0), part: part_from(&part) },
        scope: DocScope { kind: row.get(2), place: row.get(3), team: row.get(4) },
        owner_device: row.get(5),
        snapshot: row.get(6),
    }
}

/// Who may read a document row `d`, over $1 the device, $2 the places (code prefixes),
/// $3 all gang clues, $4 the teams whose gang clues, $5 all protected companions: the
/// same rule as `ReadScope::admits` and the SQLite backend's.
const VISIBLE: &str = "EXISTS (SELECT 1 FROM unnest($2::text[]) p WHERE starts_with(d.place, p))
    AND (d.kind <> 'gang_clue' OR $3::boolean OR d.team = ANY($4::text[]))
    AND (d.part = 'record' OR $5::boolean OR d.owner_device = $1
         OR EXISTS (SELECT 1 FROM changes w WHERE w.record = d.record AND w.part = d.part AND w.device_id = $1))";

/// The parameters $1 to $5 of [`VISIBLE`].
struct Visible<'a> {
    device: &'a str,
    places: &'a [String],
    all_gang: bool,
    teams: &'a [String],
    all_protected: bool,
}

impl<'a> Visible<'a> {
    fn of(who: &'a Visibility) -> Visible<'a> {
        Visible {
            device: &who.device_id,
            places: &who.scope.places,
            all_gang: who.scope.all_gang_clues,
            teams: &who.scope.gang_teams,
            all_protected: who.scope.all_protected,
        }
    }

    /// The five parameters, then `more`.
    fn with<'p>(&'p self, more: &[&'p (dyn ToSql + Sync)]) -> Vec<&'p (dyn ToSql + Sync)> {
        let mut params: Vec<&'p (dyn ToSql + Sync)> =
            vec![&self.device, &self.places, &self.all_gang, &self.teams, &self.all_protected];
        params.extend_from_slice(more);
        params
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StorageError::Backend(format!("a stored value does not read back: {e}")))
}

fn log_row_from(row: &Row) -> (LogRow, Vec<u8>) {
    (
        LogRow {
            seq: to_u64(row.get(0)),
            record: row.get(1),
            part: row.get(2),
            hash: row.get(3),
            device_id: row.get(4),
            received_at_ms: row.get(5),
            bytes: row.get(6),
        },
        row.get(7),
    )
}

impl Tx for PgTx<'_> {
    fn add_user(&mut self, user: &User) -> Result<()> {
        let inserted = self.execute(
            "INSERT INTO users (id, name, role, jurisdiction, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO NOTHING",
            &[&user.id, &user.name, &user.role.code(), &user.jurisdiction, &user.created_at_ms],
        )?;
        if inserted == 0 {
            return Err(shared::user_exists(&user.id));
        }
        Ok(())
    }

    fn user(&mut self, id: &str) -> Result<Option<User>> {
        Ok(self.query_opt(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"), &[&id])?.map(|r| user_from(&r)))
    }

    fn users(&mut self) -> Result<Vec<User>> {
        Ok(self.query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"), &[])?.iter().map(user_from).collect())
    }

    fn add_enrollment(&mut self, code_hash: &str, user_id: &str, expires_at_ms: i64, now_ms: i64) -> Result<()> {
        self.execute(
            "INSERT INTO enrollments (code_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            &[&code_hash, &user_id, &now_ms, &expires_at_ms],
        )
        .map(drop)
    }

    fn redeem_enrollment(&mut self, code: &str, device_id: &str, now_ms: i64) -> Result<User> {
        let outstanding: Vec<(String, String)> = self
            .query(
                "SELECT code_hash, user_id FROM enrollments
                 WHERE used_at IS NULL AND cancelled_at IS NULL AND expires_at >= $1",
                &[&now_ms],
            )?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let (stored, user_id) = outstanding
            .into_iter()
            .find(|(stored, _)| crate::auth::code_matches(stored, code))
            .ok_or_else(shared::code_refused)?;
        let user = self.user(&user_id)?.ok_or_else(shared::code_refused)?;
        if user.disabled_at_ms.is_some() {
            return Err(shared::user_disabled(&user.id));
        }
        // Used once, whoever asks at the same moment: the UPDATE waits for another
        // redemption of the row and then finds it used.
        let used = self.execute(
            "UPDATE enrollments SET used_at = $2, device_id = $3
             WHERE code_hash = $1 AND used_at IS NULL AND cancelled_at IS NULL",
            &[&stored, &now_ms, &device_id],
        )?;
        if used == 0 {
            return Err(shared::code_refused());
        }
        Ok(user)
    }

    fn cancel_enrollments(&mut self, user_id: Option<&str>, code: Option<&str>, now_ms: i64) -> Result<usize> {
        let outstanding: Vec<String> = self
            .query(
                "SELECT code_hash FROM enrollments
                 WHERE ($1::text IS NULL OR user_id = $1) AND used_at IS NULL AND cancelled_at IS NULL
                   AND expires_at >= $2",
                &[&user_id, &now_ms],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let mut cancelled = 0;
        for stored in outstanding.iter().filter(|s| code.is_none_or(|c| crate::auth::code_matches(s, c))) {
            cancelled += self.execute(
                "UPDATE enrollments SET cancelled_at = $2 WHERE code_hash = $1 AND cancelled_at IS NULL",
                &[stored, &now_ms],
            )?;
        }
        Ok(usize::try_from(cancelled).unwrap_or(usize::MAX))
    }

    fn set_user_disabled(&mut self, user_id: &str, disabled_at_ms: Option<i64>) -> Result<bool> {
        Ok(self.execute("UPDATE users SET disabled_at = $2 WHERE id = $1", &[&user_id, &disabled_at_ms])? > 0)
    }

    fn add_device(&mut self, device: &Device, token_hash: &str) -> Result<()> {
        let inserted = self.execute(
            "INSERT INTO devices (id, user_id, name, actor, token_hash, created_at, signing_key, sealing_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &device.id,
                &device.user_id,
                &device.name,
                &device.actor,
                &token_hash,
                &device.created_at_ms,
                &device.signing_key,
                &device.sealing_key,
            ],
        );
        match inserted {
            Err(StorageError::Conflict(_)) => Err(shared::actor_taken()),
            other => other.map(drop),
        }
    }

    fn device_by_token(&mut self, token_hash: &str) -> Result<Option<Device>> {
        Ok(self
            .query_opt(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = $1"), &[&token_hash])?
            .map(|r| device_from(&r)))
    }

    fn device_by_actor(&mut self, actor: &str) -> Result<Option<Device>> {
        Ok(self
            .query_opt(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE actor = $1"), &[&actor])?
            .map(|r| device_from(&r)))
    }

    fn rotate_token(&mut self, device_id: &str, token_hash: &str, name: &str, now_ms: i64) -> Result<()> {
        self.execute(
            "UPDATE devices SET token_hash = $2, name = $3, token_issued_at = $4 WHERE id = $1",
            &[&device_id, &token_hash, &name, &now_ms],
        )
        .map(drop)
    }

    fn devices(&mut self) -> Result<Vec<Device>> {
        Ok(self
            .query(&format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY created_at, id"), &[])?
            .iter()
            .map(device_from)
            .collect())
    }

    fn revoke_device(&mut self, device_id: &str, now_ms: i64) -> Result<bool> {
        Ok(self.execute(
            "UPDATE devices SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
            &[&device_id, &now_ms],
        )? > 0)
    }

    fn touch_device(&mut self, device_id: &str, now_ms: i64) -> Result<()> {
        self.execute("UPDATE devices SET last_sync = $2 WHERE id = $1", &[&device_id, &now_ms]).map(drop)
    }

    fn set_device_keys(&mut self, device_id: &str, signing_key: &str, sealing_key: &str) -> Result<()> {
        self.execute(
            "UPDATE devices SET signing_key = $2, sealing_key = $3 WHERE id = $1 AND signing_key IS NULL",
            &[&device_id, &signing_key, &sealing_key],
        )
        .map(drop)
    }

    fn lock_records(&mut self, records: &[Vec<u8>]) -> Result<()> {
        let mut keys: Vec<i64> = records.iter().map(|r| lock_key([b"record/".as_slice(), r].concat())).collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            self.execute("SELECT pg_advisory_xact_lock($1)", &[&key])?;
        }
        Ok(())
    }

    fn doc(&mut self, key: &DocKey) -> Result<Option<StoredDoc>> {
        Ok(self
            .query_opt(
                &format!("SELECT {DOC_COLUMNS} FROM docs d WHERE d.record = $1 AND d.part = $2"),
                &[&key.record, &part_code(key.part)],
            )?
            .map(|r| doc_from(&r)))
    }

    fn put_doc(&mut self, doc: &StoredDoc, changes: &[LoggedChange], now_ms: i64) -> Result<u32> {
        let part = part_code(doc.key.part);
        let scope = &doc.scope;
        let township = township_of(&scope.place);
        let district = district_of(&scope.place);
        // Its place before (none for a new document), read in the statement's snapshot.
        let before: Option<String> = self
            .query_one(
                "WITH old AS (SELECT place FROM docs WHERE record = $1 AND part = $2)
                 INSERT INTO docs (record, part, township, owner_device, snapshot, kind, place, team)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (record, part) DO UPDATE SET township = excluded.township, snapshot = excluded.snapshot,
                     kind = excluded.kind, place = excluded.place, team = excluded.team
                 RETURNING (SELECT place FROM old)",
                &[
                    &doc.key.record,
                    &part,
                    &township,
                    &doc.owner_device,
                    &doc.snapshot,
                    &scope.kind,
                    &scope.place,
                    &scope.team,
                ],
            )?
            .get(0);
        if doc.key.part == Part::Record {
            self.execute(
                "UPDATE docs SET township = $2, kind = $3, place = $4, team = $5 WHERE record = $1 AND part = 'protected'",
                &[&doc.key.record, &township, &scope.kind, &scope.place, &scope.team],
            )?;
            // A record moved to another district takes its log with it, so the new
            // district's devices find all of it where they read.
            if before.as_deref().is_some_and(|old| district_of(old) != district) {
                self.execute(
                    "UPDATE changes SET district = $2 WHERE record = $1 AND district <> $2",
                    &[&doc.key.record, &district],
                )?;
            }
        }
        if changes.is_empty() {
            return Ok(0);
        }
        // The single appender: held to the end of the transaction, so entries become
        // visible in the order they are numbered.
        if !self.naive {
            let asked = std::time::Instant::now();
            self.lock("xuncha-log")?;
            self.log_wait.fetch_add(u64::try_from(asked.elapsed().as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        let (head, mut previous) = self.chain_head()?;
        let mut next = head + 1;
        let mut new = 0u32;
        for change in changes {
            if self.naive {
                next = to_u64(self.query_one("SELECT nextval('xuncha_naive_seq')", &[])?.get(0));
            }
            let row = LogRow {
                seq: next,
                record: doc.key.record.clone(),
                part: part.to_owned(),
                hash: change.hash.clone(),
                device_id: change.device_id.clone(),
                received_at_ms: now_ms,
                bytes: change.bytes.clone(),
            };
            let link = chain::link(&previous, &row.digest());
            let inserted = self.execute(
                "INSERT INTO changes (seq, record, part, hash, bytes, device_id, received_at, signature, link, district)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (hash) DO NOTHING",
                &[
                    &to_i64(next),
                    &doc.key.record,
                    &part,
                    &change.hash,
                    &change.bytes,
                    &change.device_id,
                    &now_ms,
                    &change.signature,
                    &link.as_slice(),
                    &district,
                ],
            )?;
            if inserted == 0 {
                continue;
            }
            previous = link;
            next += 1;
            new += 1;
        }
        if let Some(delay) = *COMMIT_DELAY {
            // Fault injection for the province test: a slow transaction between its log
            // entries' insert and its commit, which a reader must not skip past.
            std::thread::sleep(delay);
        }
        Ok(new)
    }

    fn log_after(&mut self, after: u64, who: &Visibility, limit: u32) -> Result<(Vec<LogEntry>, u64, bool)> {
        let max = self.max_seq()?;
        let visible = Visible::of(who);
        let (after_i, limit_i) = (to_i64(after), i64::from(limit));
        const ENTRIES: &str = "SELECT c.seq, c.record, c.part, c.bytes FROM changes c
                 JOIN docs d ON d.record = c.record AND d.part = c.part";
        let rows = match districts_of(&who.scope.places) {
            // A district's (or township's, or village's) device: each of its districts'
            // entries in order from the index that leads by district, then merged.
            Some(districts) => self.query(
                &format!(
                    "SELECT e.* FROM unnest($8::text[]) AS district(code) CROSS JOIN LATERAL (
                         {ENTRIES}
                         WHERE c.district = district.code AND c.seq > $6 AND c.device_id <> $1 AND {VISIBLE}
                         ORDER BY c.seq LIMIT $7) e
                     ORDER BY e.seq LIMIT $7"
                ),
                &visible.with(&[&after_i, &limit_i, &districts]),
            )?,
            None => self.query(
                &format!(
                    "{ENTRIES} WHERE c.seq > $6 AND c.device_id <> $1 AND {VISIBLE}
                     ORDER BY c.seq LIMIT $7"
                ),
                &visible.with(&[&after_i, &limit_i]),
            )?,
        };
        let rows: Vec<LogEntry> = rows
            .iter()
            .map(|row| {
                let part: String = row.get(2);
                LogEntry {
                    seq: to_u64(row.get(0)),
                    key: DocKey { record: row.get(1), part: part_from(&part) },
                    bytes: row.get(3),
                }
            })
            .collect();
        let full = rows.len() >= usize::try_from(limit).unwrap_or(usize::MAX);
        let resume = if full { rows.last().map_or(after, |r| r.seq) } else { max.max(after) };
        Ok((rows, resume, full))
    }

    fn docs_after(&mut self, after: Option<&DocKey>, who: &Visibility, limit: u32) -> Result<(Vec<StoredDoc>, bool)> {
        let (record, part) = after.map_or((Vec::new(), ""), |k| (k.record.clone(), part_code(k.part)));
        let visible = Visible::of(who);
        let limit_i = i64::from(limit);
        const WANTED: &str = "(d.record, d.part) > ($6::bytea, $7::text COLLATE \"C\")
                   AND (d.owner_device <> $1
                        OR EXISTS (SELECT 1 FROM changes c
                                   WHERE c.record = d.record AND c.part = d.part AND c.device_id <> $1))";
        let rows = match districts_of(&who.scope.places) {
            // A district's device walks its districts' documents by the index that leads
            // by district, each in key order, merged.
            Some(districts) => self.query(
                &format!(
                    "SELECT w.* FROM unnest($9::text[]) AS district(code) CROSS JOIN LATERAL (
                         SELECT {DOC_COLUMNS} FROM docs d
                         WHERE left(d.place, 6) = district.code AND {WANTED} AND {VISIBLE}
                         ORDER BY d.record, d.part LIMIT $8) w
                     ORDER BY w.record, w.part LIMIT $8"
                ),
                &visible.with(&[&record, &part, &limit_i, &districts]),
            )?,
            None => self.query(
                &format!(
                    "SELECT {DOC_COLUMNS} FROM docs d WHERE {WANTED} AND {VISIBLE}
                     ORDER BY d.record, d.part LIMIT $8"
                ),
                &visible.with(&[&record, &part, &limit_i]),
            )?,
        };
        let docs: Vec<StoredDoc> = rows.iter().map(doc_from).collect();
        let more = docs.len() >= usize::try_from(limit).unwrap_or(usize::MAX);
        Ok((docs, more))
    }

    fn max_seq(&mut self) -> Result<u64> {
        let max: Option<i64> = self.query_one("SELECT max(seq) FROM changes", &[])?.get(0);
        Ok(max.map_or(0, to_u64))
    }

    fn number_record(&mut self, record: &[u8], round: &str, team: &str, now_ms: i64) -> Result<()> {
        // Two replicas numbering in one round and team at once would both take max + 1.
        self.lock(format!("number/{round}/{team}"))?;
        self.execute(
            "INSERT INTO record_numbers (record, round, team, ordinal, assigned_at)
             SELECT $1, $2, $3, coalesce(max(ordinal), 0) + 1, $4 FROM record_numbers WHERE round = $2 AND team = $3
             ON CONFLICT (record) DO NOTHING",
            &[&record, &round, &team, &now_ms],
        )
        .map(drop)
    }

    fn record_numbers(&mut self, records: &[Vec<u8>], who: &Visibility) -> Result<Vec<(Vec<u8>, Number)>> {
        let visible = Visible::of(who);
        let sql = format!(
            "SELECT n.round, n.team, n.ordinal FROM record_numbers n
             JOIN docs d ON d.record = n.record AND d.part = 'record'
             WHERE n.record = $6 AND {VISIBLE}"
        );
        let mut found = Vec::new();
        for record in records {
            if let Some(row) = self.query_opt(&sql, &visible.with(&[record]))? {
                let ordinal: i32 = row.get(2);
                let number =
                    Number { round: row.get(0), team: row.get(1), ordinal: u32::try_from(ordinal).unwrap_or(0) };
                found.push((record.clone(), number));
            }
        }
        Ok(found)
    }

    fn audit(&mut self, entry: &AuditEntry) -> Result<()> {
        self.execute(
            "INSERT INTO audit (at, user_id, device_id, action, detail) VALUES ($1, $2, $3, $4, $5)",
            &[&entry.at_ms, &entry.user_id, &entry.device_id, &entry.action, &entry.detail],
        )
        .map(drop)
    }

    fn audit_log(&mut self, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = self.query(
            "SELECT at, user_id, device_id, action, detail FROM audit ORDER BY id DESC LIMIT $1",
            &[&i64::from(limit)],
        )?;
        Ok(rows
            .iter()
            .map(|row| AuditEntry {
                at_ms: row.get(0),
                user_id: row.get(1),
                device_id: row.get(2),
                action: row.get(3),
                detail: row.get(4),
            })
            .collect())
    }

    fn set_attachment_refs(&mut self, record: &[u8], sha256s: &[String]) -> Result<()> {
        self.execute("DELETE FROM attachment_refs WHERE record = $1", &[&record])?;
        self.execute(
            "INSERT INTO attachment_refs (record, sha256) SELECT $1, s FROM unnest($2::text[]) s ON CONFLICT DO NOTHING",
            &[&record, &sha256s],
        )
        .map(drop)
    }

    fn attachment_records(&mut self, sha256: &str, who: &Visibility) -> Result<Vec<Vec<u8>>> {
        let visible = Visible::of(who);
        let rows = self.query(
            &format!(
                "SELECT a.record FROM attachment_refs a JOIN docs d ON d.record = a.record AND d.part = 'record'
                 WHERE a.sha256 = $6 AND {VISIBLE} ORDER BY a.record"
            ),
            &visible.with(&[&sha256]),
        )?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn attachment_holders(&mut self, sha256: &str) -> Result<Vec<String>> {
        let rows = self.query(
            "SELECT device_id FROM attachment_holders WHERE sha256 = $1 ORDER BY held_at, device_id",
            &[&sha256],
        )?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn attachment_state(&mut self, sha256: &str) -> Result<Option<AttachmentState>> {
        Ok(self.query_opt("SELECT size, received, complete FROM attachments WHERE sha256 = $1", &[&sha256])?.map(
            |row| AttachmentState { size: to_u64(row.get(0)), received: to_u64(row.get(1)), complete: row.get(2) },
        ))
    }

    fn upload_state(&mut self, sha256: &str, device_id: &str) -> Result<Option<UploadState>> {
        if let Some(row) = self.query_opt(
            "SELECT size FROM attachment_holders WHERE sha256 = $1 AND device_id = $2",
            &[&sha256, &device_id],
        )? {
            let size = to_u64(row.get(0));
            return Ok(Some(UploadState { size, received: size, held: true }));
        }
        Ok(self
            .query_opt(
                "SELECT size, received FROM attachment_uploads WHERE sha256 = $1 AND device_id = $2",
                &[&sha256, &device_id],
            )?
            .map(|row| UploadState { size: to_u64(row.get(0)), received: to_u64(row.get(1)), held: false }))
    }

    fn attachment_usage(&mut self, device_id: &str) -> Result<u64> {
        let used: i64 = self
            .query_one(
                "SELECT (COALESCE((SELECT SUM(size) FROM attachment_uploads WHERE device_id = $1), 0)
                      + COALESCE((SELECT SUM(size) FROM attachment_holders WHERE device_id = $1), 0))::bigint",
                &[&device_id],
            )?
            .get(0);
        Ok(to_u64(used))
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
        let new_key = BlobKey::generate()?.wrap(self.master, sha256)?;
        self.execute(
            "INSERT INTO attachment_uploads (sha256, device_id, size, received, created_at, blob_key)
             VALUES ($1, $2, $3, 0, $4, $5) ON CONFLICT (sha256, device_id) DO NOTHING",
            &[&sha256, &device_id, &to_i64(size), &now_ms, &new_key],
        )?;
        // A piece retried through another replica waits here for the first one.
        let row = self.query_one(
            "SELECT size, received FROM attachment_uploads WHERE sha256 = $1 AND device_id = $2 FOR UPDATE",
            &[&sha256, &device_id],
        )?;
        let (declared, received) = (to_u64(row.get(0)), to_u64(row.get(1)));
        let after = shared::check_piece(declared, received, size, offset, bytes.len())?;
        if bytes.is_empty() {
            return Ok(received);
        }
        let key = self.blob_key(sha256, Some(device_id))?;
        self.execute(
            "INSERT INTO attachment_upload_pieces (sha256, device_id, byte_offset, data) VALUES ($1, $2, $3, $4)",
            &[&sha256, &device_id, &to_i64(offset), &key.seal(sha256, offset, bytes)?],
        )?;
        self.execute(
            "UPDATE attachment_uploads SET received = $3 WHERE sha256 = $1 AND device_id = $2",
            &[&sha256, &device_id, &to_i64(after)],
        )?;
        Ok(after)
    }

    fn upload_digest(&mut self, sha256: &str, device_id: &str) -> Result<String> {
        let key = self.blob_key(sha256, Some(device_id))?;
        let rows = self.query(
            "SELECT byte_offset, data FROM attachment_upload_pieces WHERE sha256 = $1 AND device_id = $2
             ORDER BY byte_offset",
            &[&sha256, &device_id],
        )?;
        let mut digest = Sha256::new();
        for row in &rows {
            let sealed: &[u8] = row.get(1);
            digest.update(key.open(sha256, to_u64(row.get(0)), sealed)?);
        }
        Ok(hex::encode(digest.finalize()))
    }

    fn finish_upload(&mut self, sha256: &str, device_id: &str, valid: bool, now_ms: i64) -> Result<()> {
        // Two devices completing one attachment at once: one makes it whole.
        self.lock(format!("attachment/{sha256}"))?;
        if valid {
            let whole = self.attachment_state(sha256)?.is_some_and(|s| s.complete);
            if !whole {
                // Into one object in the attachment store, or the pieces as they are.
                let object = match self.blobs {
                    Some(blobs) => Some(self.write_object(blobs, sha256, device_id)?),
                    None => None,
                };
                self.execute("DELETE FROM attachment_pieces WHERE sha256 = $1", &[&sha256])?;
                self.execute("DELETE FROM attachments WHERE sha256 = $1", &[&sha256])?;
                self.execute(
                    "INSERT INTO attachments (sha256, size, received, complete, created_at, blob_key, object)
                     SELECT sha256, size, received, true, $3, blob_key, $4 FROM attachment_uploads
                     WHERE sha256 = $1 AND device_id = $2",
                    &[&sha256, &device_id, &now_ms, &object],
                )?;
                if object.is_none() {
                    self.execute(
                        "INSERT INTO attachment_pieces (sha256, byte_offset, data)
                         SELECT sha256, byte_offset, data FROM attachment_upload_pieces
                         WHERE sha256 = $1 AND device_id = $2",
                        &[&sha256, &device_id],
                    )?;
                }
            }
            self.execute(
                "INSERT INTO attachment_holders (sha256, device_id, size, held_at)
                 SELECT sha256, device_id, size, $3 FROM attachment_uploads WHERE sha256 = $1 AND device_id = $2
                 ON CONFLICT DO NOTHING",
                &[&sha256, &device_id, &now_ms],
            )?;
        }
        self.execute(
            "DELETE FROM attachment_upload_pieces WHERE sha256 = $1 AND device_id = $2",
            &[&sha256, &device_id],
        )?;
        self.execute("DELETE FROM attachment_uploads WHERE sha256 = $1 AND device_id = $2", &[&sha256, &device_id])?;
        Ok(())
    }

    fn attachment_piece(&mut self, sha256: &str, offset: u64) -> Result<Option<(u64, Vec<u8>)>> {
        if let Some((blobs, object, size, key)) = self.stored_object(sha256)? {
            return blobs.chunk(&object, sha256, size, &key, offset);
        }
        let Some(row) = self.query_opt(
            "SELECT byte_offset, data FROM attachment_pieces WHERE sha256 = $1 AND byte_offset <= $2
             ORDER BY byte_offset DESC LIMIT 1",
            &[&sha256, &to_i64(offset)],
        )?
        else {
            return Ok(None);
        };
        let start = to_u64(row.get(0));
        let sealed: &[u8] = row.get(1);
        let data = self.blob_key(sha256, None)?.open(sha256, start, sealed)?;
        if start + data.len() as u64 <= offset {
            return Ok(None);
        }
        Ok(Some((start, data)))
    }

    fn attachment_bytes(&mut self, sha256: &str, offset: u64) -> Result<Vec<u8>> {
        if let Some((blobs, object, size, key)) = self.stored_object(sha256)? {
            return blobs.bytes(&object, sha256, size, &key, offset);
        }
        let key = self.blob_key(sha256, None)?;
        let rows = self.query(
            "SELECT byte_offset, data FROM attachment_pieces WHERE sha256 = $1 ORDER BY byte_offset",
            &[&sha256],
        )?;
        let pieces = rows.iter().map(|row| Ok((to_u64(row.get(0)), row.get::<_, Vec<u8>>(1))));
        shared::assemble(sha256, offset, crate::at_rest::SEAL_OVERHEAD, pieces, |start, stored| {
            key.open(sha256, start, &stored)
        })
    }

    fn attachments_not_held_by(&mut self, device_id: &str, limit: u32) -> Result<Vec<(String, u64)>> {
        let rows = self.query(
            "SELECT a.sha256, a.size FROM attachments a
             WHERE a.complete
               AND EXISTS (SELECT 1 FROM attachment_refs r WHERE r.sha256 = a.sha256)
               AND NOT EXISTS (SELECT 1 FROM attachment_holders h WHERE h.sha256 = a.sha256 AND h.device_id = $1)
             ORDER BY a.created_at, a.sha256 LIMIT $2",
            &[&device_id, &i64::from(limit)],
        )?;
        Ok(rows.iter().map(|row| (row.get(0), to_u64(row.get(1)))).collect())
    }

    fn hold_attachment(&mut self, sha256: &str, device_id: &str, now_ms: i64) -> Result<()> {
        self.execute(
            "INSERT INTO attachment_holders (sha256, device_id, size, held_at)
             SELECT sha256, $2, size, $3 FROM attachments WHERE sha256 = $1 AND complete
             ON CONFLICT DO NOTHING",
            &[&sha256, &device_id, &now_ms],
        )
        .map(drop)
    }

    fn device(&mut self, device_id: &str) -> Result<Option<Device>> {
        Ok(self
            .query_opt(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1"), &[&device_id])?
            .map(|r| device_from(&r)))
    }

    fn epoch(&mut self) -> Result<Epoch> {
        let server_id = self.server_id()?;
        let epoch = self.meta("epoch")?.unwrap_or_default();
        let restored = self.meta("restored_at")?.is_some();
        Ok(Epoch::derive(&server_id, &epoch, restored))
    }

    fn doc_metas(&mut self) -> Result<Vec<DocMeta>> {
        let rows = self.query("SELECT record, part, kind, place, team, owner_device FROM docs", &[])?;
        Ok(rows
            .iter()
            .map(|row| {
                let part: String = row.get(1);
                DocMeta {
                    key: DocKey { record: row.get(0), part: part_from(&part) },
                    scope: DocScope { kind: row.get(2), place: row.get(3), team: row.get(4) },
                    owner_device: row.get(5),
                }
            })
            .collect())
    }

    fn remember_scope(&mut self, fingerprint: &[u8], scope: &ReadScope) -> Result<()> {
        self.execute(
            "INSERT INTO scopes (fingerprint, scope) VALUES ($1, $2) ON CONFLICT (fingerprint) DO NOTHING",
            &[&fingerprint, &json(scope)],
        )
        .map(drop)
    }

    fn scope(&mut self, fingerprint: &[u8]) -> Result<Option<ReadScope>> {
        let text: Option<String> =
            self.query_opt("SELECT scope FROM scopes WHERE fingerprint = $1", &[&fingerprint])?.map(|row| row.get(0));
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    fn put_divisions(&mut self, divisions: &[DivisionEntry]) -> Result<()> {
        let codes: Vec<&str> = divisions.iter().map(|d| d.code.as_str()).collect();
        let names: Vec<&str> = divisions.iter().map(|d| d.name.as_str()).collect();
        let parents: Vec<&str> = divisions.iter().map(|d| d.parent.as_str()).collect();
        // One statement for a whole table (tens of thousands of villages in a province);
        // the last entry of a code wins, as entry by entry.
        self.execute(
            "INSERT INTO divisions (code, name, parent)
             SELECT DISTINCT ON (code) code, name, parent
             FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t (code, name, parent, n)
             ORDER BY code, n DESC
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent",
            &[&codes, &names, &parents],
        )
        .map(drop)
    }

    fn divisions(&mut self) -> Result<Vec<DivisionEntry>> {
        let rows = self.query("SELECT code, name, parent FROM divisions ORDER BY code", &[])?;
        Ok(rows.iter().map(|row| DivisionEntry { code: row.get(0), name: row.get(1), parent: row.get(2) }).collect())
    }

    fn division(&mut self, code: &str) -> Result<Option<DivisionEntry>> {
        Ok(self
            .query_opt("SELECT code, name, parent FROM divisions WHERE code = $1", &[&code])?
            .map(|row| DivisionEntry { code: row.get(0), name: row.get(1), parent: row.get(2) }))
    }

    fn add_round(&mut self, round: &Round) -> Result<()> {
        let inserted = self.execute(
            "INSERT INTO rounds (id, name, start_on, end_on, units) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&round.id, &round.name, &round.start, &round.end, &json(&round.units)],
        )?;
        if inserted == 0 {
            return Err(shared::round_exists(&round.name));
        }
        Ok(())
    }

    fn rounds(&mut self) -> Result<Vec<Round>> {
        let rows = self.query("SELECT id, name, start_on, end_on, units FROM rounds ORDER BY start_on, name", &[])?;
        rows.iter()
            .map(|row| {
                Ok(Round {
                    id: row.get(0),
                    name: row.get(1),
                    start: row.get(2),
                    end: row.get(3),
                    units: from_json(row.get(4))?,
                })
            })
            .collect()
    }

    fn put_team(&mut self, team: &Team) -> Result<()> {
        self.execute(
            "INSERT INTO teams (id, name, round_id, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, round_id = excluded.round_id, body = excluded.body",
            &[&team.id, &team.name, &team.round, &json(team)],
        )?;
        self.execute("DELETE FROM team_people WHERE team_id = $1", &[&team.id])?;
        let people: Vec<&str> = team.people().collect();
        self.execute(
            "INSERT INTO team_people (user_id, team_id) SELECT u, $2 FROM unnest($1::text[]) u ON CONFLICT DO NOTHING",
            &[&people, &team.id],
        )
        .map(drop)
    }

    fn teams(&mut self) -> Result<Vec<Team>> {
        let rows = self.query("SELECT body FROM teams ORDER BY round_id, name", &[])?;
        rows.iter().map(|row| from_json(row.get(0))).collect()
    }

    fn teams_of(&mut self, user_id: &str) -> Result<Vec<Team>> {
        let rows = self.query(
            "SELECT t.body FROM team_people p JOIN teams t ON t.id = p.team_id WHERE p.user_id = $1 ORDER BY t.id",
            &[&user_id],
        )?;
        rows.iter().map(|row| from_json(row.get(0))).collect()
    }

    fn claim_for_team(&mut self, team: &Team) -> Result<usize> {
        let people: Vec<&str> = team.people().collect();
        let places: Vec<&str> = team.places.iter().filter_map(|p| xuncha_domain::reference::prefix_of(p)).collect();
        let claimed = self.execute(
            "UPDATE docs SET team = $1 WHERE team = '' AND place <> ''
               AND owner_device IN (SELECT id FROM devices WHERE user_id = ANY($2::text[]))
               AND EXISTS (SELECT 1 FROM unnest($3::text[]) p WHERE starts_with(docs.place, p))",
            &[&team.id, &people, &places],
        )?;
        Ok(usize::try_from(claimed).unwrap_or(usize::MAX))
    }

    fn put_roster(&mut self, roster: &Roster) -> Result<()> {
        self.execute("DELETE FROM rosters WHERE village = $1 AND fund = $2", &[&roster.village, &roster.fund])?;
        self.execute(
            "INSERT INTO rosters (id, village, fund, imported_at, households) VALUES ($1, $2, $3, $4, $5)",
            &[&roster.id, &roster.village, &roster.fund, &roster.imported_at_ms, &json(&roster.households)],
        )
        .map(drop)
    }

    fn rosters(&mut self, prefixes: &[String]) -> Result<Vec<Roster>> {
        let rows = self.query(
            "SELECT id, village, fund, imported_at, households FROM rosters r
             WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) p WHERE starts_with(r.village, p))
             ORDER BY village, fund",
            &[&prefixes],
        )?;
        rows.iter()
            .map(|row| {
                Ok(Roster {
                    id: row.get(0),
                    village: row.get(1),
                    fund: row.get(2),
                    imported_at_ms: row.get(3),
                    households: from_json(row.get(4))?,
                })
            })
            .collect()
    }

    fn reference_version(&mut self) -> Result<u64> {
        Ok(self.meta("reference_version")?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    fn bump_reference_version(&mut self) -> Result<u64> {
        // In one statement: two administrators changing reference data at once both bump.
        let value: String = self
            .query_one(
                "INSERT INTO meta (key, value) VALUES ('reference_version', '1')
                 ON CONFLICT (key) DO UPDATE SET value = (meta.value::bigint + 1)::text
                 RETURNING value",
                &[],
            )?
            .get(0);
        value
            .parse()
            .map_err(|e| StorageError::Backend(format!("the reference version {value:?} is not a number: {e}")))
    }

    fn add_peer(&mut self, peer: &Peer) -> Result<()> {
        let signing = peer.key.split(':').nth(1).unwrap_or_default();
        let inserted = self.execute(
            "INSERT INTO peers (name, key, signing, added_at) VALUES ($1, $2, $3, $4)",
            &[&peer.name, &peer.key, &signing, &peer.added_at_ms],
        );
        match inserted {
            Err(StorageError::Conflict(_)) => Err(shared::peer_exists(&peer.name)),
            other => other.map(drop),
        }
    }

    fn peers(&mut self) -> Result<Vec<Peer>> {
        let rows = self.query("SELECT name, key, added_at, acked_seq, wants FROM peers ORDER BY name", &[])?;
        rows.iter()
            .map(|row| {
                Ok(Peer {
                    name: row.get(0),
                    key: row.get(1),
                    added_at_ms: row.get(2),
                    acked_seq: to_u64(row.get(3)),
                    wants: shared::decode_wants(row.get(4))?,
                })
            })
            .collect()
    }

    fn set_peer_state(&mut self, name: &str, acked_seq: u64, wants: &[DocKey]) -> Result<()> {
        self.execute(
            "UPDATE peers SET acked_seq = $2, wants = $3 WHERE name = $1",
            &[&name, &to_i64(acked_seq), &shared::encode_wants(wants)?],
        )
        .map(drop)
    }

    fn bundle_identity(&mut self, made: &str) -> Result<String> {
        self.execute(
            "INSERT INTO meta (key, value) VALUES ('bundle_identity', $1) ON CONFLICT (key) DO NOTHING",
            &[&made],
        )?;
        self.meta("bundle_identity")?.ok_or_else(|| StorageError::Backend("the bundle identity was not stored".into()))
    }

    fn server_id(&mut self) -> Result<String> {
        self.meta("server_id")?
            .ok_or_else(|| StorageError::Backend("the server has no id; its database is damaged".into()))
    }

    fn chain_head(&mut self) -> Result<(u64, [u8; 32])> {
        let head = self.query_opt("SELECT seq, link FROM changes ORDER BY seq DESC LIMIT 1", &[])?;
        Ok(match head {
            None => (0, chain::GENESIS),
            Some(row) => {
                let seq: i64 = row.get(0);
                let link: Vec<u8> = row.get(1);
                let link = link.try_into().map_err(|_| {
                    StorageError::Backend(format!("log entry {seq} has a damaged link; run xuncha admin verify"))
                })?;
                (to_u64(seq), link)
            }
        })
    }

    fn log_rows(&mut self, after: u64, limit: u32) -> Result<Vec<(LogRow, Vec<u8>)>> {
        let rows = self.query(
            "SELECT seq, record, part, hash, device_id, received_at, bytes, link FROM changes
             WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&to_i64(after), &i64::from(limit)],
        )?;
        Ok(rows.iter().map(log_row_from).collect())
    }

    fn device_wrote(&mut self, key: &DocKey, device_id: &str) -> Result<bool> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM changes WHERE record = $1 AND part = $2 AND device_id = $3 LIMIT 1",
                &[&key.record, &part_code(key.part), &device_id],
            )?
            .is_some())
    }

    fn protected_key(&mut self) -> Result<Option<String>> {
        Ok(self.query_opt("SELECT recipient FROM protected_key WHERE id = 1", &[])?.map(|row| row.get(0)))
    }

    fn set_protected_key(&mut self, recipient: &str, now_ms: i64) -> Result<()> {
        self.execute(
            "INSERT INTO protected_key (id, recipient, created_at) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET recipient = excluded.recipient, created_at = excluded.created_at",
            &[&recipient, &now_ms],
        )
        .map(drop)
    }

    fn protected_grant(&mut self, device_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .query_opt("SELECT wrapped FROM protected_grants WHERE device_id = $1", &[&device_id])?
            .map(|row| row.get(0)))
    }

    fn grant_protected(&mut self, device_id: &str, wrapped: &[u8], now_ms: i64) -> Result<()> {
        self.execute(
            "INSERT INTO protected_grants (device_id, wrapped, granted_at) VALUES ($1, $2, $3)
             ON CONFLICT (device_id) DO UPDATE SET wrapped = excluded.wrapped, granted_at = excluded.granted_at",
            &[&device_id, &wrapped, &now_ms],
        )
        .map(drop)
    }

    fn doc_signatures(&mut self, key: &DocKey) -> Result<Vec<(String, Vec<u8>)>> {
        let rows = self.query(
            "SELECT hash, signature FROM changes WHERE record = $1 AND part = $2 AND signature IS NOT NULL ORDER BY seq",
            &[&key.record, &part_code(key.part)],
        )?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn change_signature(&mut self, seq: u64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .query_opt("SELECT signature FROM changes WHERE seq = $1", &[&to_i64(seq)])?
            .and_then(|row| row.get::<_, Option<Vec<u8>>>(0)))
    }

    fn add_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        self.execute(
            "INSERT INTO checkpoints (seq, at, body) VALUES ($1, $2, $3)",
            &[&to_i64(checkpoint.seq), &checkpoint.at_ms, &json(checkpoint)],
        )
        .map(drop)
    }

    fn checkpoints(&mut self) -> Result<Vec<Checkpoint>> {
        let rows = self.query("SELECT body FROM checkpoints ORDER BY seq, at", &[])?;
        rows.iter().map(|row| from_json(row.get(0))).collect()
    }
}

/// A throwaway database on a PostgreSQL server, for tests and benchmarks: made empty
/// under a random name, dropped (with its connections) when this goes.
#[derive(Debug)]
pub struct ScratchDatabase {
    admin: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl ScratchDatabase {
    /// A new database on the server `admin_url` names (a URL ending in a database name
    /// the user may connect to and create databases from, e.g. `…/postgres`).
    pub fn create(admin_url: &str) -> Result<ScratchDatabase> {
        let (base, _) = admin_url
            .rsplit_once('/')
            .filter(|(base, _)| base.contains("://"))
            .ok_or_else(|| StorageError::Backend(format!("not a postgres://…/database URL: {}", redact(admin_url))))?;
        let mut suffix = [0u8; 6];
        getrandom::fill(&mut suffix).map_err(|e| StorageError::Backend(format!("no randomness: {e}")))?;
        let name = format!("xuncha_scratch_{}", hex::encode(suffix));
        let mut client = postgres::Client::connect(admin_url, NoTls).map_err(pg_error)?;
        client.batch_execute(&format!("CREATE DATABASE {name}")).map_err(pg_error)?;
        Ok(ScratchDatabase { admin: admin_url.to_owned(), url: format!("{base}/{name}"), name })
    }

    /// `XUNCHA_TEST_POSTGRES`, which `tools/postgres/with-cluster` (and so `make test`)
    /// sets; a clear error without it.
    pub fn from_env() -> Result<ScratchDatabase> {
        let admin = std::env::var("XUNCHA_TEST_POSTGRES").map_err(|_| {
            StorageError::Backend(
                "XUNCHA_TEST_POSTGRES is not set: run under tools/postgres/with-cluster (make test does), or set it to a \
                 postgres://…/postgres URL of a PostgreSQL 15 server on loopback you may create databases on"
                    .into(),
            )
        })?;
        ScratchDatabase::create(&admin)
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, NoTls) {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(
            redact("postgres://xuncha:s3cret@db.internal:5432/xuncha"),
            "postgres://xuncha@db.internal:5432/xuncha"
        );
        assert_eq!(redact("postgres://xuncha@127.0.0.1/x"), "postgres://xuncha@127.0.0.1/x");
        assert_eq!(redact("host=127.0.0.1 user=x"), "host=127.0.0.1 user=x");
    }

    /// A database the previous release left (schema 2: log entries without their district)
    /// opened by this one: the migration gives every entry its record's district, and a
    /// district's device reads them through the district's index. (Needs the cluster of
    /// `XUNCHA_TEST_POSTGRES`, as every PostgreSQL test.)
    #[test]
    fn a_database_of_the_previous_release_gets_its_log_districts() {
        let database = ScratchDatabase::from_env().expect("a scratch database on XUNCHA_TEST_POSTGRES");
        let mut old = postgres::Client::connect(&database.url, NoTls).expect("connect");
        old.batch_execute(
            "CREATE TABLE xuncha_schema (version integer NOT NULL); INSERT INTO xuncha_schema VALUES (2);",
        )
        .unwrap();
        for sql in &MIGRATIONS[..2] {
            old.batch_execute(sql).unwrap();
        }
        let record = vec![1u8; 16];
        for (place, part) in [("330102001001", "record"), ("330102001001", "protected")] {
            old.execute(
                "INSERT INTO docs (record, part, township, owner_device, snapshot, kind, place, team)
                 VALUES ($1, $2, '330102001000', 'dev-a', '\\x00', 'fund_check', $3, '')",
                &[&record, &part, &place],
            )
            .unwrap();
        }
        for (seq, part) in [(1i64, "record"), (2, "protected")] {
            old.execute(
                "INSERT INTO changes (seq, record, part, hash, bytes, device_id, received_at, link)
                 VALUES ($1, $2, $3, $4, 'change', 'dev-a', 0, '\\x00')",
                &[&seq, &record, &part, &format!("h{seq}")],
            )
            .unwrap();
        }
        drop(old);

        let store = PgStorage::open(&database.url, MasterKey::from_bytes([7; 32])).expect("opened and migrated");
        let mut client = postgres::Client::connect(&database.url, NoTls).unwrap();
        let districts: Vec<String> =
            client.query("SELECT district FROM changes ORDER BY seq", &[]).unwrap().iter().map(|r| r.get(0)).collect();
        assert_eq!(districts, ["330102", "330102"]);
        let version: i32 = client.query_one("SELECT version FROM xuncha_schema", &[]).unwrap().get(0);
        assert_eq!(version, i32::try_from(MIGRATIONS.len()).unwrap());
        let district = Visibility {
            device_id: "dev-b".into(),
            scope: xuncha_domain::ReadScope {
                places: vec!["330102".into()],
                all_gang_clues: true,
                gang_teams: Vec::new(),
                all_protected: true,
                rosters: true,
            },
        };
        let (rows, resume, _) =
            crate::storage::with_tx(&store, false, |tx| tx.log_after(0, &district, 10)).expect("read");
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(resume, 2);
    }

    #[test]
    fn lock_keys_differ_by_name() {
        assert_ne!(lock_key("xuncha-log"), lock_key("xuncha-migrate"));
        assert_eq!(lock_key("record/a"), lock_key("record/a"));
    }
}
