//! Online, consistent, encrypted backups of a server's data directory, and their restore.
//!
//! A backup is one file, encrypted with age to a passphrase (scrypt). Inside: a line that
//! names the format, a manifest (JSON, one line), the checkpoint signing key, and a copy
//! of `server.db` exported in one read transaction while devices go on syncing, keyed with
//! a random key the manifest carries. Nothing of it is written to disk unencrypted.
//!
//! A restore checks the copy, keys it with the data directory's master key, starts a new
//! epoch (so cursors handed out before the restore make their devices walk everything
//! again instead of skipping what the restored log numbers differently), and only then
//! puts it in place of `server.db`, keeping the replaced files beside it. It refuses while
//! a server holds the data directory.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;

/// A backup's passphrase.
pub type Secret = SecretString;
use serde::{Deserialize, Serialize};

use crate::at_rest;
use crate::chain::ServerKey;
use crate::sqlite::SqliteStorage;
use crate::storage::{AuditEntry, Result, StorageError, with_tx};

/// The first line of a backup, once decrypted.
const MAGIC: &[u8] = b"XUNCHA-BACKUP 1\n";
/// The lock a running server holds on its data directory.
pub const LOCK_FILE: &str = "server.lock";

/// What a backup holds, besides the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub server_id: String,
    pub created_at_ms: i64,
    /// The schema version of the database copy.
    pub schema: i64,
    /// The last sequence number of the change log in the copy.
    pub log_seq: u64,
    /// The copy's size in bytes.
    pub db_bytes: u64,
    /// The SQLCipher key of the copy (`x'…'`).
    db_key: String,
    /// The checkpoint signing key file's contents, if the server has one.
    checkpoint_key: Option<String>,
}

impl Manifest {
    /// What a backup made otherwise (of PostgreSQL) reports.
    #[cfg_attr(not(feature = "province"), allow(dead_code))] // used by PostgreSQL (pg.rs)
    pub(crate) fn of(server_id: String, created_at_ms: i64, schema: i64, log_seq: u64, bytes: u64) -> Manifest {
        Manifest {
            server_id,
            created_at_ms,
            schema,
            log_seq,
            db_bytes: bytes,
            db_key: String::new(),
            checkpoint_key: None,
        }
    }
}

fn io(what: &str, path: &Path, error: &std::io::Error) -> StorageError {
    StorageError::Backend(format!("{what} {}: {error}", path.display()))
}

/// A path beside `path` with `suffix` added to its name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Removes a file if it is there.
fn discard(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("cannot remove", path, &e)),
        _ => Ok(()),
    }
}

/// Takes the data directory's lock, held for as long as the returned file is open: a
/// server holds it while serving, a restore while it replaces the database.
pub fn lock(dir: &Path) -> Result<fs::File> {
    fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, &e))?;
    let path = dir.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io("cannot open", &path, &e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(StorageError::Conflict(format!(
            "数据目录 {} 正被运行中的服务器使用，请先停止服务器 / the data directory {} is in use by a running server; stop it first",
            dir.display(),
            dir.display()
        ))),
        Err(fs::TryLockError::Error(e)) => Err(io("cannot lock", &path, &e)),
    }
}

/// Writes a backup of the data directory `dir` to `out` (whole or not at all), encrypted
/// to `passphrase`, while a server may be serving from `dir`.
pub fn backup(dir: &Path, out: &Path, passphrase: &SecretString, now_ms: i64) -> Result<Manifest> {
    if !dir.join(at_rest::DB_FILE).exists() {
        return Err(StorageError::NotFound(format!("{}/{}", dir.display(), at_rest::DB_FILE)));
    }
    let storage = SqliteStorage::open(dir)?;
    let copy = beside(out, ".db-export");
    let partial = beside(out, ".partial");
    discard(&copy)?;
    discard(&partial)?;
    let written = (|| -> Result<Manifest> {
        let key = at_rest::random_key_literal()?;
        let (server_id, schema, log_seq) = storage.export_to(&copy, key.as_str())?;
        let db_bytes = fs::metadata(&copy).map_err(|e| io("cannot read", &copy, &e))?.len();
        let checkpoint_key = match fs::read_to_string(dir.join(ServerKey::FILE)) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io("cannot read", &dir.join(ServerKey::FILE), &e)),
        };
        let manifest = Manifest {
            server_id,
            created_at_ms: now_ms,
            schema,
            log_seq,
            db_bytes,
            db_key: key.to_string(),
            checkpoint_key,
        };
        let file = fs::File::create(&partial).map_err(|e| io("cannot write", &partial, &e))?;
        let encryptor = age::Encryptor::with_user_passphrase(passphrase.clone());
        let mut writer =
            encryptor.wrap_output(std::io::BufWriter::new(file)).map_err(|e| io("cannot write", &partial, &e))?;
        let line = serde_json::to_string(&manifest).map_err(|e| StorageError::Backend(e.to_string()))?;
        let mut db = fs::File::open(&copy).map_err(|e| io("cannot read", &copy, &e))?;
        (|| -> std::io::Result<()> {
            writer.write_all(MAGIC)?;
            writer.write_all(line.as_bytes())?;
            writer.write_all(b"\n")?;
            std::io::copy(&mut db, &mut writer)?;
            let file = writer.finish()?.into_inner().map_err(std::io::IntoInnerError::into_error)?;
            file.sync_all()
        })()
        .map_err(|e| io("cannot write", &partial, &e))?;
        fs::rename(&partial, out).map_err(|e| io("cannot write", out, &e))?;
        Ok(manifest)
    })();
    discard(&copy)?;
    if written.is_err() {
        let _ = discard(&partial);
    }
    let manifest = written?;
    with_tx(&storage, true, |tx| {
        tx.audit(&AuditEntry {
            at_ms: now_ms,
            user_id: None,
            device_id: None,
            action: "server.backup".into(),
            detail: serde_json::json!({ "log_seq": manifest.log_seq, "bytes": manifest.db_bytes }),
        })
    })?;
    Ok(manifest)
}

/// The backup `file` decrypted with `passphrase`: checks that it starts with `magic`
/// (a file of the `other` format, `(its magic, the advice)`, is refused with that advice)
/// and reads its manifest line. Returns the reader at the first byte after the manifest.
pub(crate) fn open<M: serde::de::DeserializeOwned>(
    file: &Path,
    passphrase: &SecretString,
    magic: &[u8],
    other: (&[u8], &str),
) -> Result<(BufReader<impl Read + use<M>>, M)> {
    let input = fs::File::open(file).map_err(|e| io("cannot read", file, &e))?;
    let decryptor = age::Decryptor::new(BufReader::new(input)).map_err(|_| wrong_file(file))?;
    let identity = age::scrypt::Identity::new(passphrase.clone());
    let reader = decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)).map_err(|_| wrong_file(file))?;
    let mut reader = BufReader::new(reader);
    let mut first = vec![0u8; magic.len()];
    reader.read_exact(&mut first).map_err(|_| wrong_file(file))?;
    if first != magic {
        let (other_magic, advice) = other;
        if first.starts_with(other_magic) {
            return Err(StorageError::Conflict(format!("{}: {advice}", file.display())));
        }
        return Err(wrong_file(file));
    }
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|_| wrong_file(file))?;
    let manifest = serde_json::from_str(line.trim()).map_err(|_| wrong_file(file))?;
    Ok((reader, manifest))
}

fn wrong_file(file: &Path) -> StorageError {
    StorageError::Conflict(format!(
        "{} 不是巡察通备份，或口令不对 / {} is not a Xuncha backup, or the passphrase is wrong",
        file.display(),
        file.display()
    ))
}

/// Restores the backup `file` into the data directory `dir` (new or existing; no server
/// may be running on it) and starts a new epoch. The database it replaces is kept beside
/// it as `server.db.before-restore`.
pub fn restore(dir: &Path, file: &Path, passphrase: &SecretString, now_ms: i64) -> Result<Manifest> {
    let _lock = lock(dir)?;
    let (mut reader, manifest) = open::<Manifest>(
        file,
        passphrase,
        MAGIC,
        (
            b"XUNCHA-BACKUP-PG",
            "是 PostgreSQL 数据库的备份，请加 --postgres 恢复 / a backup of a PostgreSQL database: restore it with --postgres",
        ),
    )?;

    let db = dir.join(at_rest::DB_FILE);
    let incoming = beside(&db, ".restoring");
    discard(&incoming)?;
    let placed = (|| -> Result<()> {
        let mut out = fs::File::create(&incoming).map_err(|e| io("cannot write", &incoming, &e))?;
        let copied = std::io::copy(&mut reader, &mut out).map_err(|_| wrong_file(file))?;
        if copied != manifest.db_bytes {
            return Err(StorageError::Conflict(format!(
                "备份不完整（{copied} / {} 字节）/ the backup is incomplete ({copied} of {} bytes)",
                manifest.db_bytes, manifest.db_bytes
            )));
        }
        out.sync_all().map_err(|e| io("cannot write", &incoming, &e))?;
        drop(out);
        // Checked, keyed with this directory's master key, and given a new epoch before it
        // takes the place of anything.
        let conn = rusqlite::Connection::open(&incoming)?;
        conn.execute_batch(&format!("PRAGMA key = \"{}\";", manifest.db_key))?;
        let ok: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0)).map_err(|_| wrong_file(file))?;
        if ok != "ok" {
            return Err(StorageError::Conflict(format!(
                "备份中的数据库已损坏 / the database in the backup is damaged: {ok}"
            )));
        }
        let master = at_rest::key_literal(&at_rest::key_file_for(dir))?;
        conn.execute_batch(&format!("PRAGMA rekey = \"{}\";", master.as_str()))?;
        let epoch = crate::auth::new_reference_id("epoch");
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('epoch', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [&epoch],
        )?;
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('restored_at', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [now_ms.to_string()],
        )?;
        conn.execute(
            "INSERT INTO audit (at, user_id, device_id, action, detail) VALUES (?1, NULL, NULL, 'server.restore', ?2)",
            rusqlite::params![
                now_ms,
                serde_json::json!({ "backup_made_at": manifest.created_at_ms, "log_seq": manifest.log_seq })
                    .to_string()
            ],
        )?;
        conn.close().map_err(|(_, e)| e)?;
        Ok(())
    })();
    if let Err(error) = placed {
        let _ = discard(&incoming);
        return Err(error);
    }
    // The database it replaces, with its log folded in, is kept beside it.
    if db.exists() {
        if let Ok(old) = SqliteStorage::open(dir) {
            old.fold_log()?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let from = beside(&db, suffix);
            if from.exists() {
                fs::rename(&from, beside(&db, &format!(".before-restore{suffix}")))
                    .map_err(|e| io("cannot move", &from, &e))?;
            }
        }
    }
    fs::rename(&incoming, &db).map_err(|e| io("cannot write", &db, &e))?;
    if let Some(key) = &manifest.checkpoint_key {
        let path = dir.join(ServerKey::FILE);
        if fs::read_to_string(&path).ok().as_deref() != Some(key.as_str()) {
            if path.exists() {
                fs::rename(&path, beside(&path, ".before-restore")).map_err(|e| io("cannot move", &path, &e))?;
            }
            fs::write(&path, key).map_err(|e| io("cannot write", &path, &e))?;
        }
    }
    Ok(manifest)
}
