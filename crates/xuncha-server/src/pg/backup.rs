//! Backups of a province's PostgreSQL database and its attachment store, and their
//! restore: the same promises as the SQLite backups (`crate::backup`), by other means.
//!
//! A backup is one file, encrypted with age to a passphrase (scrypt). Inside, after a line
//! that names the format and a manifest line (JSON): every table of the schema as
//! PostgreSQL's binary `COPY` output, all read in one repeatable-read, read-only
//! transaction, so the copy is one moment of the database while replicas go on serving;
//! then every object of the attachment store the copy names, sealed as it is stored. Each
//! section is a header line and length-prefixed frames ending in an empty one, and a last
//! line counts the sections, so a cut-off file is refused. The manifest carries the master
//! key that opens the attachments' keys and the checkpoint key, so the file alone (with its
//! passphrase) restores a province on new machines.
//!
//! A restore refuses while any `xuncha server` serves from the database (each holds a
//! shared advisory lock, the restore tries the exclusive one), replaces every table in one
//! transaction, re-wraps the attachments' keys if this replica's master key is another,
//! puts back the objects the store lacks (never overwriting one) and starts a new epoch,
//! so that devices walk every record again instead of skipping what the restored log
//! numbers differently.

use std::io::{BufRead, Read, Write};
use std::path::Path;

use age::secrecy::SecretString;
use postgres::IsolationLevel;
use serde::{Deserialize, Serialize};

use super::{PgStorage, lock_key, pg_error};
use crate::at_rest::{BlobKey, MasterKey};
use crate::backup::Manifest;
use crate::chain::ServerKey;
use crate::storage::{Result, StorageError};

/// The first line of a PostgreSQL backup, once decrypted.
const MAGIC: &[u8] = b"XUNCHA-BACKUP-PG 1\n";
/// The advisory lock every serving replica holds shared, and a restore exclusively.
pub(super) const SERVING: &str = "xuncha-serving";
/// Bytes per frame of a section.
const FRAME: usize = 1 << 20;

#[derive(Debug, Serialize, Deserialize)]
struct PgManifest {
    server_id: String,
    created_at_ms: i64,
    schema: i32,
    log_seq: u64,
    /// The master key (hex) the attachments' keys in the copy are wrapped with.
    master_key: String,
    checkpoint_key: Option<String>,
}

/// What follows in the file: a table's rows, an object, or the end.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "section", rename_all = "snake_case")]
enum Section {
    Table { name: String, columns: Vec<String> },
    Object { name: String },
    End { tables: usize, objects: usize, bytes: u64 },
}

fn io(what: &str, path: &Path, error: &std::io::Error) -> StorageError {
    StorageError::Backend(format!("{what} {}: {error}", path.display()))
}

fn cut_off(file: &Path) -> StorageError {
    StorageError::Conflict(format!("备份不完整 / the backup {} is incomplete or damaged", file.display()))
}

fn write_line(out: &mut dyn Write, value: &impl Serialize) -> std::io::Result<()> {
    let line = serde_json::to_string(value).map_err(std::io::Error::other)?;
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")
}

/// Copies `from` into `out` as frames (a length, then the bytes) ending in an empty one.
fn write_frames(from: &mut dyn Read, out: &mut dyn Write) -> std::io::Result<u64> {
    let mut buffer = vec![0u8; FRAME];
    let mut total = 0u64;
    let mut ended = false;
    while !ended {
        let mut filled = 0;
        // Not read again once it ended: a COPY stream read past its end asks the server
        // for more.
        while filled < FRAME {
            let n = from.read(&mut buffer[filled..])?;
            if n == 0 {
                ended = true;
                break;
            }
            filled += n;
        }
        if filled > 0 {
            out.write_all(&u32::try_from(filled).unwrap_or(0).to_be_bytes())?;
            out.write_all(&buffer[..filled])?;
            total += filled as u64;
        }
    }
    out.write_all(&0u32.to_be_bytes())?;
    Ok(total)
}

/// Reads frames written by [`write_frames`] into `out`.
fn read_frames(from: &mut dyn Read, out: &mut dyn Write) -> std::io::Result<u64> {
    let mut total = 0u64;
    let mut buffer = vec![0u8; FRAME];
    loop {
        let mut length = [0u8; 4];
        from.read_exact(&mut length)?;
        let length = u32::from_be_bytes(length) as usize;
        if length == 0 {
            return Ok(total);
        }
        if length > FRAME {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "a frame longer than any written"));
        }
        from.read_exact(&mut buffer[..length])?;
        out.write_all(&buffer[..length])?;
        total += length as u64;
    }
}

/// The schema's tables (but the schema version's own) and their columns, in order.
fn tables(tx: &mut postgres::Transaction<'_>) -> Result<Vec<(String, Vec<String>)>> {
    let rows = tx
        .query(
            "SELECT c.table_name::text, array_agg(c.column_name::text ORDER BY c.ordinal_position)
             FROM information_schema.columns c
             JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
               AND c.table_name <> 'xuncha_schema'
             GROUP BY c.table_name ORDER BY c.table_name",
            &[],
        )
        .map_err(pg_error)?;
    let mut pending: Vec<(String, Vec<String>)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    // Referenced tables first, so that a restore fills them in an order every foreign key
    // accepts.
    let references: Vec<(String, String)> = tx
        .query(
            "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c
             JOIN pg_namespace n ON n.oid = c.connamespace
             WHERE c.contype = 'f' AND n.nspname = current_schema() AND c.conrelid <> c.confrelid",
            &[],
        )
        .map_err(pg_error)?
        .iter()
        .map(|row| {
            (row.get::<_, String>(0).trim_matches('"').to_owned(), row.get::<_, String>(1).trim_matches('"').to_owned())
        })
        .collect();
    let mut ordered = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending.iter().position(|(name, _)| {
            references.iter().all(|(from, to)| from != name || ordered.iter().any(|(done, _): &(String, _)| done == to))
        });
        match ready {
            Some(index) => ordered.push(pending.remove(index)),
            None => return Err(StorageError::Backend("the schema's foreign keys form a cycle".into())),
        }
    }
    Ok(ordered)
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("\"{}\"", n.replace('"', "\"\""))).collect::<Vec<_>>().join(", ")
}

/// Writes a backup of `storage` (and of its attachment store) to `out`, whole or not at
/// all, while replicas serve. `dir` is the data directory with the server's keys.
pub fn backup(storage: &PgStorage, dir: &Path, out: &Path, passphrase: &SecretString, now_ms: i64) -> Result<Manifest> {
    let partial = {
        let mut name = out.as_os_str().to_owned();
        name.push(".partial");
        std::path::PathBuf::from(name)
    };
    let checkpoint_key = match std::fs::read_to_string(dir.join(ServerKey::FILE)) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("cannot read", &dir.join(ServerKey::FILE), &e)),
    };
    let mut conn = storage.client()?;
    let mut tx = conn
        .client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(pg_error)?;
    let server_id: String =
        tx.query_one("SELECT value FROM meta WHERE key = 'server_id'", &[]).map_err(pg_error)?.get(0);
    let schema: i32 = tx.query_one("SELECT version FROM xuncha_schema", &[]).map_err(pg_error)?.get(0);
    let log_seq: i64 = tx.query_one("SELECT COALESCE(MAX(seq), 0) FROM changes", &[]).map_err(pg_error)?.get(0);
    let objects: Vec<String> = tx
        .query("SELECT object FROM attachments WHERE object IS NOT NULL ORDER BY object", &[])
        .map_err(pg_error)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if !objects.is_empty() && storage.blobs.is_none() {
        return Err(StorageError::Conflict(
            "数据库中的附件存放在附件存储中：请用 --attachments 指定该存储 / the database's attachments are in an attachment store: name it with --attachments".into(),
        ));
    }
    let manifest = PgManifest {
        server_id,
        created_at_ms: now_ms,
        schema,
        log_seq: u64::try_from(log_seq).unwrap_or(0),
        master_key: hex::encode(storage.master.bytes()),
        checkpoint_key,
    };
    let file = std::fs::File::create(&partial).map_err(|e| io("cannot write", &partial, &e))?;
    let written = (|| -> Result<u64> {
        let encryptor = age::Encryptor::with_user_passphrase(passphrase.clone());
        let mut writer =
            encryptor.wrap_output(std::io::BufWriter::new(file)).map_err(|e| io("cannot write", &partial, &e))?;
        let failed = |e: std::io::Error| io("cannot write", &partial, &e);
        writer.write_all(MAGIC).map_err(failed)?;
        write_line(&mut writer, &manifest).map_err(failed)?;
        let mut bytes = 0u64;
        let tables = tables(&mut tx)?;
        for (name, columns) in &tables {
            write_line(&mut writer, &Section::Table { name: name.clone(), columns: columns.clone() })
                .map_err(failed)?;
            let mut rows = tx
                .copy_out(&format!("COPY \"{name}\" ({}) TO STDOUT (FORMAT binary)", quoted(columns)))
                .map_err(pg_error)?;
            bytes += write_frames(&mut rows, &mut writer).map_err(failed)?;
        }
        for object in &objects {
            let blobs = storage.blobs.as_deref().ok_or_else(|| StorageError::Backend("no attachment store".into()))?;
            write_line(&mut writer, &Section::Object { name: object.clone() }).map_err(failed)?;
            let sealed = blobs.get(object)?;
            bytes += write_frames(&mut sealed.as_slice(), &mut writer).map_err(failed)?;
        }
        write_line(&mut writer, &Section::End { tables: tables.len(), objects: objects.len(), bytes })
            .map_err(failed)?;
        let file = writer
            .finish()
            .and_then(|w| w.into_inner().map_err(std::io::IntoInnerError::into_error))
            .map_err(failed)?;
        file.sync_all().map_err(failed)?;
        Ok(bytes)
    })();
    drop(tx);
    drop(conn);
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    std::fs::rename(&partial, out).map_err(|e| io("cannot write", out, &e))?;
    crate::storage::with_tx(storage, true, |tx| {
        tx.audit(&crate::storage::AuditEntry {
            at_ms: now_ms,
            user_id: None,
            device_id: None,
            action: "server.backup".into(),
            detail: serde_json::json!({ "log_seq": manifest.log_seq, "bytes": bytes, "objects": objects.len() }),
        })
    })?;
    Ok(Manifest::of(manifest.server_id, now_ms, i64::from(schema), manifest.log_seq, bytes))
}

/// Restores the backup `file` into `storage`'s database (no replica may be serving from
/// it) and its attachment store, and starts a new epoch. `dir` is this replica's data
/// directory: the checkpoint key of the backup is put there.
pub fn restore(
    storage: &PgStorage,
    dir: &Path,
    file: &Path,
    passphrase: &SecretString,
    now_ms: i64,
) -> Result<Manifest> {
    let (mut reader, manifest) = crate::backup::open::<PgManifest>(
        file,
        passphrase,
        MAGIC,
        (
            b"XUNCHA-BACKUP 1",
            "是 SQLite 数据目录的备份，请不带 --postgres 恢复 / a backup of a SQLite data directory: restore it without --postgres",
        ),
    )?;
    let known = i32::try_from(super::MIGRATIONS.len()).unwrap_or(i32::MAX);
    if manifest.schema > known {
        return Err(StorageError::Conflict(format!(
            "备份来自更新版本的服务器（结构 {}，本服务器 {known}），请先升级 / the backup was made by a newer server (schema {}, this one knows {known}); update the server first",
            manifest.schema, manifest.schema
        )));
    }
    let source_master = hex::decode(&manifest.master_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(MasterKey::from_bytes)
        .ok_or_else(|| cut_off(file))?;

    let mut conn = storage.client()?;
    let mut tx = conn.client.transaction().map_err(pg_error)?;
    let free: bool =
        tx.query_one("SELECT pg_try_advisory_xact_lock($1)", &[&lock_key(SERVING)]).map_err(pg_error)?.get(0);
    if !free {
        return Err(StorageError::Conflict(
            "数据库正被运行中的服务器使用，请先停止所有副本 / the database is in use by a running server; stop every replica first".into(),
        ));
    }
    let present = tables(&mut tx)?;
    let names: Vec<String> = present.iter().map(|(name, _)| format!("\"{name}\"")).collect();
    tx.batch_execute(&format!("TRUNCATE {}", names.join(", "))).map_err(pg_error)?;
    let (mut tables_read, mut objects_read, mut bytes) = (0usize, 0usize, 0u64);
    let mut restored_objects = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|_| cut_off(file))? == 0 {
            return Err(cut_off(file));
        }
        match serde_json::from_str::<Section>(line.trim()).map_err(|_| cut_off(file))? {
            Section::Table { name, columns } => {
                let Some((_, known_columns)) = present.iter().find(|(n, _)| *n == name) else {
                    return Err(StorageError::Conflict(format!(
                        "the backup has a table this server does not know: {name}"
                    )));
                };
                if let Some(unknown) = columns.iter().find(|c| !known_columns.contains(c)) {
                    return Err(StorageError::Conflict(format!(
                        "the backup's table {name} has a column this server does not know: {unknown}"
                    )));
                }
                let mut sink = tx
                    .copy_in(&format!("COPY \"{name}\" ({}) FROM STDIN (FORMAT binary)", quoted(&columns)))
                    .map_err(pg_error)?;
                bytes += read_frames(&mut reader, &mut sink).map_err(|_| cut_off(file))?;
                sink.finish().map_err(pg_error)?;
                tables_read += 1;
            }
            Section::Object { name } => {
                let blobs = storage.blobs.as_deref().ok_or_else(|| {
                    StorageError::Conflict(
                        "备份中有附件存储中的附件：请用 --attachments 指定要恢复到的存储 / the backup holds attachments of an attachment store: name the store to restore them into with --attachments".into(),
                    )
                })?;
                let mut sealed = Vec::new();
                bytes += read_frames(&mut reader, &mut sealed).map_err(|_| cut_off(file))?;
                restored_objects.push(name.clone());
                // Never overwrites: an object of that name is the same sealed attachment.
                blobs.put_new(&name, sealed)?;
                objects_read += 1;
            }
            Section::End { tables, objects, bytes: total } => {
                if (tables, objects, total) != (tables_read, objects_read, bytes) {
                    return Err(cut_off(file));
                }
                break;
            }
        }
    }
    // A backup made before log entries carried their district leaves them none.
    tx.execute(super::REFRESH_DISTRICTS, &[]).map_err(pg_error)?;
    // Identity columns go on after the restored rows.
    let identities = tx
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND is_identity = 'YES'",
            &[],
        )
        .map_err(pg_error)?;
    for row in &identities {
        let (table, column): (String, String) = (row.get(0), row.get(1));
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX(\"{column}\") FROM \"{table}\"), 0) + 1, false)"
            ),
            &[&table, &column],
        )
        .map_err(pg_error)?;
    }
    // The attachments' keys, re-wrapped if this replica's master key is another.
    if source_master.bytes() != storage.master.bytes() {
        for table in ["attachments", "attachment_uploads"] {
            let key_column = if table == "attachments" { "sha256" } else { "sha256, device_id" };
            let rows = tx.query(&format!("SELECT {key_column}, blob_key FROM {table}"), &[]).map_err(pg_error)?;
            for row in &rows {
                let sha256: String = row.get(0);
                let wrapped: Vec<u8> = row.get(if table == "attachments" { 1 } else { 2 });
                let rewrapped = BlobKey::unwrap(&source_master, &sha256, &wrapped)?.wrap(&storage.master, &sha256)?;
                if table == "attachments" {
                    tx.execute("UPDATE attachments SET blob_key = $2 WHERE sha256 = $1", &[&sha256, &rewrapped])
                } else {
                    let device: String = row.get(1);
                    tx.execute(
                        "UPDATE attachment_uploads SET blob_key = $3 WHERE sha256 = $1 AND device_id = $2",
                        &[&sha256, &device, &rewrapped],
                    )
                }
                .map_err(pg_error)?;
            }
        }
        tx.execute(
            "UPDATE meta SET value = $1 WHERE key = 'master_key_check'",
            &[&hex::encode(storage.master.check_value()?)],
        )
        .map_err(pg_error)?;
    }
    let epoch = crate::auth::new_reference_id("epoch");
    for (key, value) in [("epoch", epoch), ("restored_at", now_ms.to_string())] {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )
        .map_err(pg_error)?;
    }
    let detail = serde_json::json!({
        "backup_made_at": manifest.created_at_ms, "log_seq": manifest.log_seq, "objects": restored_objects.len(),
    });
    tx.execute(
        "INSERT INTO audit (at, user_id, device_id, action, detail) VALUES ($1, NULL, NULL, 'server.restore', $2)",
        &[&now_ms, &detail],
    )
    .map_err(pg_error)?;
    // A backup of an older schema lacks only what later migrations added (columns with
    // defaults, tables), which stays empty or default.
    tx.commit().map_err(pg_error)?;
    drop(conn);
    if let Some(key) = &manifest.checkpoint_key {
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, &e))?;
        let path = dir.join(ServerKey::FILE);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(key.as_str()) {
            if path.exists() {
                let mut kept = path.as_os_str().to_owned();
                kept.push(".before-restore");
                std::fs::rename(&path, &kept).map_err(|e| io("cannot move", &path, &e))?;
            }
            std::fs::write(&path, key).map_err(|e| io("cannot write", &path, &e))?;
        }
    }
    Ok(Manifest::of(manifest.server_id, manifest.created_at_ms, i64::from(manifest.schema), manifest.log_seq, bytes))
}
