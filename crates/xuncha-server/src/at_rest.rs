//! The server's data at rest: the master key that opens `server.db` (SQLCipher), kept in a
//! file outside the database; the one-time conversion of a plaintext `server.db` from an
//! older release; and the per-attachment keys that seal every stored piece
//! (XChaCha20-Poly1305, the piece's place bound in as associated data).

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

use crate::storage::{Result, StorageError};

/// The master key's file in the data directory, unless [`KEY_FILE_ENV`] names another.
pub const KEY_FILE: &str = "server.key";
/// The environment variable that names the master key's file.
pub const KEY_FILE_ENV: &str = "XUNCHA_SERVER_KEY_FILE";
/// The database's file in the data directory.
pub const DB_FILE: &str = "server.db";
/// Where a plaintext database is copied, encrypted, before it replaces the original.
const ENCRYPTING_FILE: &str = "server.db.encrypting";
/// How every plaintext SQLite file begins; an encrypted one begins with random salt.
const PLAINTEXT_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// The master key's file for the data directory `dir`: `XUNCHA_SERVER_KEY_FILE` if set,
/// else `server.key` in `dir`.
pub fn key_file_for(dir: &Path) -> PathBuf {
    match std::env::var_os(KEY_FILE_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => dir.join(KEY_FILE),
    }
}

/// The 32-byte key `server.db` is encrypted with. Wiped from memory when dropped; never
/// written to the database.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A key kept elsewhere (a team relay's, inside the lead's encrypted device database).
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(Zeroizing::new(bytes))
    }

    /// The key in a key file of the format this module writes (64 hex digits), `None` if
    /// there is no such file.
    pub fn read(path: &Path) -> Result<Option<MasterKey>> {
        read_key(path)
    }

    /// The key's bytes, to keep it elsewhere.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key in `path`, made there (durably, readable by its owner only) if there is none.
    pub fn read_or_create(path: &Path) -> Result<MasterKey> {
        match read_key(path)? {
            Some(key) => Ok(key),
            None => create_key(path),
        }
    }

    /// A value only this key opens ([`MasterKey::opens`]), for a database to remember
    /// which key its sealed values need.
    #[cfg_attr(not(feature = "province"), allow(dead_code))] // used by PostgreSQL (pg.rs)
    pub(crate) fn check_value(&self) -> Result<Vec<u8>> {
        BlobKey(Zeroizing::new(*self.bytes())).seal(KEY_CHECK, 0, KEY_CHECK.as_bytes())
    }

    /// Whether `check` was made by [`MasterKey::check_value`] with this key.
    #[cfg_attr(not(feature = "province"), allow(dead_code))] // used by PostgreSQL (pg.rs)
    pub(crate) fn opens(&self, check: &[u8]) -> bool {
        BlobKey(Zeroizing::new(*self.bytes()))
            .open(KEY_CHECK, 0, check)
            .is_ok_and(|plain| plain == KEY_CHECK.as_bytes())
    }

    /// The key as SQLCipher's raw-key literal, `x'…'` (no passphrase derivation).
    fn raw_literal(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("x'{}'", hex::encode(self.0.as_ref())))
    }

    /// Keys a new connection; must come before anything else reads the file.
    fn apply(&self, conn: &Connection) -> Result<()> {
        let pragma = Zeroizing::new(format!("PRAGMA key = \"{}\";", self.raw_literal().as_str()));
        conn.execute_batch(pragma.as_str())?;
        Ok(())
    }
}

fn key_error(path: &Path, why_zh: &str, why_en: &str) -> StorageError {
    StorageError::Key(format!(
        "server.db 无法用此密钥打开：{why_zh}（密钥文件 {path}），请检查 {KEY_FILE_ENV} / server.db cannot be opened with this key: {why_en} (key file {path}); check {KEY_FILE_ENV}",
        path = path.display()
    ))
}

fn io_error(what: &str, path: &Path, error: &std::io::Error) -> StorageError {
    StorageError::Backend(format!("{what} {}: {error}", path.display()))
}

/// Reads the master key, `None` if the file does not exist.
fn read_key(path: &Path) -> Result<Option<MasterKey>> {
    let text = match fs::read(path) {
        Ok(text) => Zeroizing::new(text),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("cannot read the server key", path, &e)),
    };
    let hex_text = std::str::from_utf8(&text).map(str::trim).unwrap_or("");
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hex_text, key.as_mut())
        .map_err(|_| key_error(path, "密钥文件已损坏，应为 64 位十六进制数", "the key file is not 64 hex digits"))?;
    Ok(Some(MasterKey(key)))
}

/// Makes a new master key and writes it to `path` durably (a temporary file readable by
/// its owner only, fsync, rename, fsync of the folder).
/// The master key in `key_file` as SQLCipher's raw-key literal, made if there is none
/// (a restore into a new data directory).
pub(crate) fn key_literal(key_file: &Path) -> Result<Zeroizing<String>> {
    let key = match read_key(key_file)? {
        Some(key) => key,
        None => create_key(key_file)?,
    };
    Ok(key.raw_literal())
}

/// A fresh random key as SQLCipher's raw-key literal (a backup's copy of the database).
pub(crate) fn random_key_literal() -> Result<Zeroizing<String>> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut()).map_err(|e| StorageError::Backend(format!("no randomness for a key: {e}")))?;
    Ok(MasterKey(key).raw_literal())
}

fn create_key(path: &Path) -> Result<MasterKey> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut())
        .map_err(|e| StorageError::Backend(format!("no randomness for the server key: {e}")))?;
    let text = Zeroizing::new(format!("{}\n", hex::encode(key.as_ref())));
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let fail = |e: std::io::Error| io_error("cannot write the server key", path, &e);
    // A temporary file left by a crash may have other permissions: start afresh.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(fail(e)),
        _ => {}
    }
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(fail)?;
        file.write_all(text.as_bytes()).map_err(fail)?;
        file.sync_all().map_err(fail)?;
    }
    fs::rename(&tmp, path).map_err(fail)?;
    sync_folder(path);
    tracing::warn!(
        path = %path.display(),
        "made the server's master key: keep a copy apart from the data directory; without it server.db and its backups cannot be read"
    );
    Ok(MasterKey(key))
}

/// Makes a rename or removal in the folder of `path` durable (best effort).
fn sync_folder(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
}

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn file_len(path: &Path) -> Result<Option<u64>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(meta.len())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("cannot read", path, &e)),
    }
}

/// What is in the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Nothing,
    Plaintext,
    Encrypted,
}

fn found(db: &Path) -> Result<Found> {
    let len = file_len(db)?.unwrap_or(0);
    if len == 0 && file_len(&sibling(db, "-wal"))?.unwrap_or(0) == 0 {
        return Ok(Found::Nothing);
    }
    let mut header = [0u8; 16];
    let read = fs::File::open(db).and_then(|mut file| std::io::Read::read_exact(&mut file, &mut header));
    Ok(if read.is_ok() && &header == PLAINTEXT_HEADER { Found::Plaintext } else { Found::Encrypted })
}

/// Opens `server.db` in `dir` keyed with the master key from `key_file`: makes the key
/// for a new database, converts a plaintext database once, and refuses, having written
/// nothing, a key that is missing or does not open the database.
pub(crate) fn open_encrypted(dir: &Path, key_file: &Path) -> Result<Connection> {
    fs::create_dir_all(dir).map_err(|e| io_error("cannot create", dir, &e))?;
    let state = found(&dir.join(DB_FILE))?;
    let key = match (read_key(key_file)?, state) {
        (Some(key), _) => key,
        (None, Found::Nothing | Found::Plaintext) => create_key(key_file)?,
        (None, Found::Encrypted) => {
            return Err(key_error(key_file, "找不到密钥文件", "the key file is missing"));
        }
    };
    open_keyed(dir, &key, state).map_err(|e| match e {
        Mismatch::Key => {
            key_error(key_file, "密钥不符（或文件已损坏）", "the key does not match (or the file is damaged)")
        }
        Mismatch::Other(e) => e,
    })
}

/// Opens `server.db` in `dir` keyed with `key`, held by the caller rather than in a file
/// (a team relay's storage, whose key the lead's encrypted device database keeps).
pub(crate) fn open_with_key(dir: &Path, key: &MasterKey) -> Result<Connection> {
    fs::create_dir_all(dir).map_err(|e| io_error("cannot create", dir, &e))?;
    let state = found(&dir.join(DB_FILE))?;
    open_keyed(dir, key, state).map_err(|e| match e {
        Mismatch::Key => StorageError::Key(format!(
            "{} 无法用所给密钥打开（密钥不符或文件已损坏）/ {} cannot be opened with the key given (it does not match, or the file is damaged)",
            dir.join(DB_FILE).display(),
            dir.join(DB_FILE).display()
        )),
        Mismatch::Other(e) => e,
    })
}

/// Why a database did not open with a key.
enum Mismatch {
    Key,
    Other(StorageError),
}

fn open_keyed(dir: &Path, key: &MasterKey, state: Found) -> std::result::Result<Connection, Mismatch> {
    if state == Found::Plaintext {
        encrypt_plaintext(dir, key).map_err(Mismatch::Other)?;
    }
    let conn = Connection::open(dir.join(DB_FILE)).map_err(|e| Mismatch::Other(e.into()))?;
    key.apply(&conn).map_err(Mismatch::Other)?;
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get::<_, i64>(0)) {
        Ok(_) => Ok(conn),
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::NotADatabase => Err(Mismatch::Key),
        Err(e) => Err(Mismatch::Other(e.into())),
    }
}

/// Converts the plaintext `server.db` of an older release: an encrypted copy beside it,
/// checked, made durable, then renamed over the original. Until the rename the original
/// is untouched and opens as before; a copy left by a crash is thrown away next time.
fn encrypt_plaintext(dir: &Path, key: &MasterKey) -> Result<()> {
    let db = dir.join(DB_FILE);
    let copy = dir.join(ENCRYPTING_FILE);
    let discard = |path: &Path| match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(io_error("cannot remove", path, &e)),
        _ => Ok(()),
    };
    discard(&copy)?;
    discard(&sibling(&copy, "-journal"))?;
    let copied = (|| -> Result<i64> {
        let conn = Connection::open(&db)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        let literal = key.raw_literal();
        conn.execute("ATTACH DATABASE ?1 AS encrypted KEY ?2", params![copy.to_string_lossy(), literal.as_str()])?;
        conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))?;
        conn.pragma_update(Some("encrypted"), "user_version", version)?;
        conn.execute_batch("DETACH DATABASE encrypted")?;
        // Fold the original's write-ahead log into it, so nothing of it lives in a log
        // that could outlast the rename.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        conn.close().map_err(|(_, e)| e)?;
        Ok(version)
    })();
    let version = match copied {
        Ok(version) => version,
        Err(e) => {
            let _ = discard(&copy);
            return Err(StorageError::Backend(format!(
                "server.db 加密失败，原文件未改动 / encrypting server.db failed, the original is untouched: {e}"
            )));
        }
    };
    let checked = (|| -> Result<()> {
        fs::File::open(&copy).and_then(|f| f.sync_all()).map_err(|e| io_error("cannot write", &copy, &e))?;
        let conn = Connection::open(&copy)?;
        key.apply(&conn)?;
        let ok: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
        let copied_version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if ok != "ok" || copied_version != version {
            return Err(StorageError::Backend(format!(
                "the encrypted copy fails its check ({ok}, schema {copied_version})"
            )));
        }
        conn.close().map_err(|(_, e)| e)?;
        if file_len(&sibling(&db, "-wal"))?.unwrap_or(0) > 0 {
            return Err(StorageError::Backend(
                "server.db is in use by another process; stop it and start again".into(),
            ));
        }
        Ok(())
    })();
    if let Err(e) = checked {
        let _ = discard(&copy);
        return Err(e);
    }
    fs::rename(&copy, &db).map_err(|e| io_error("cannot replace", &db, &e))?;
    tracing::info!(path = %db.display(), "server.db is now encrypted (it was plaintext)");
    sync_folder(&db);
    // The original's (emptied) log and index belong to the old file.
    discard(&sibling(&db, "-wal"))?;
    discard(&sibling(&db, "-shm"))?;
    sync_folder(&db);
    Ok(())
}

/// One attachment's key: 32 random bytes kept in its row of the (encrypted) database.
pub(crate) struct BlobKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobKey(..)")
    }
}

const NONCE_LEN: usize = 24;
/// What a master key's check value seals.
#[cfg_attr(not(feature = "province"), allow(dead_code))] // used by PostgreSQL (pg.rs)
const KEY_CHECK: &str = "xuncha-master-key-check-v1";
/// The offset a wrapped attachment key is sealed at: no piece starts there.
#[cfg_attr(not(feature = "province"), allow(dead_code))] // used by PostgreSQL (pg.rs)
const WRAPPED_KEY_AT: u64 = u64::MAX;
/// How many bytes sealing adds to a piece: the nonce before it, the tag after it.
pub(crate) const SEAL_OVERHEAD: usize = NONCE_LEN + 16;

impl BlobKey {
    /// A fresh random key.
    pub(crate) fn generate() -> Result<BlobKey> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut())
            .map_err(|e| StorageError::Backend(format!("no randomness for an attachment key: {e}")))?;
        Ok(BlobKey(key))
    }

    /// The key as stored; `None` for an attachment stored before keys (plaintext pieces).
    pub(crate) fn from_column(sha256: &str, stored: Option<Vec<u8>>) -> Result<Option<BlobKey>> {
        let Some(stored) = stored.map(Zeroizing::new) else { return Ok(None) };
        let bytes: [u8; 32] = stored.as_slice().try_into().map_err(|_| {
            StorageError::Backend(format!("attachment {sha256} has a damaged key; the data directory is damaged"))
        })?;
        Ok(Some(BlobKey(Zeroizing::new(bytes))))
    }

    /// The key's bytes, for its column.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_ref()
    }

    /// The key sealed under the server's master key, bound to its attachment: for a
    /// backend whose rows are not themselves encrypted (PostgreSQL), so that the database
    /// alone opens no attachment.
    #[cfg_attr(not(feature = "province"), allow(dead_code))] // used by PostgreSQL (pg.rs)
    pub(crate) fn wrap(&self, master: &MasterKey, sha256: &str) -> Result<Vec<u8>> {
        BlobKey(Zeroizing::new(*master.bytes())).seal(sha256, WRAPPED_KEY_AT, self.as_bytes())
    }

    /// A key [`BlobKey::wrap`] sealed for `sha256`.
    #[cfg_attr(not(feature = "province"), allow(dead_code))] // used by PostgreSQL (pg.rs)
    pub(crate) fn unwrap(master: &MasterKey, sha256: &str, wrapped: &[u8]) -> Result<BlobKey> {
        let bytes = Zeroizing::new(BlobKey(Zeroizing::new(*master.bytes())).open(sha256, WRAPPED_KEY_AT, wrapped)?);
        BlobKey::from_column(sha256, Some(bytes.to_vec()))?
            .ok_or_else(|| StorageError::Backend(format!("attachment {sha256} has no key")))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_ref().into())
    }

    /// Seals the piece of attachment `sha256` that starts at `offset`: a random nonce, then
    /// the ciphertext and its tag. The attachment and the offset are bound in, so a piece
    /// moved to another place or another attachment fails to open.
    pub(crate) fn seal(&self, sha256: &str, offset: u64, plain: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| StorageError::Backend(format!("no randomness for a nonce: {e}")))?;
        let aad = associated_data(sha256, offset);
        let sealed = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: &aad })
            .map_err(|_| StorageError::Backend(format!("cannot seal a piece of attachment {sha256}")))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a piece [`BlobKey::seal`] sealed for this attachment and offset.
    pub(crate) fn open(&self, sha256: &str, offset: u64, sealed: &[u8]) -> Result<Vec<u8>> {
        let damaged = || {
            StorageError::Backend(format!(
                "附件 {sha256} 在第 {offset} 字节处的数据已损坏 / the piece of attachment {sha256} at byte {offset} fails its check: the data directory is damaged"
            ))
        };
        if sealed.len() < NONCE_LEN {
            return Err(damaged());
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let aad = associated_data(sha256, offset);
        self.cipher().decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: &aad }).map_err(|_| damaged())
    }
}

fn associated_data(sha256: &str, offset: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + sha256.len() + 8);
    aad.extend_from_slice(b"xuncha-piece-v1\0");
    aad.extend_from_slice(sha256.as_bytes());
    aad.extend_from_slice(&offset.to_be_bytes());
    aad
}

/// Seals the pieces of attachments stored before keys, one attachment per transaction.
pub(crate) fn seal_plaintext_attachments(conn: &mut Connection) -> Result<()> {
    let plain: Vec<String> = {
        let mut stmt = conn.prepare("SELECT sha256 FROM attachments WHERE blob_key IS NULL")?;
        stmt.query_map([], |row| row.get(0))?.collect::<Result<Vec<_>, _>>()?
    };
    for sha256 in plain {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have sealed it since the list was read.
        let still_plain: Option<bool> = tx
            .query_row("SELECT blob_key IS NULL FROM attachments WHERE sha256 = ?1", [&sha256], |row| row.get(0))
            .optional()?;
        if still_plain != Some(true) {
            continue;
        }
        let key = BlobKey::generate()?;
        let pieces: Vec<(i64, Vec<u8>)> = {
            let mut stmt = tx.prepare("SELECT offset, data FROM attachment_pieces WHERE sha256 = ?1")?;
            stmt.query_map([&sha256], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<Vec<_>, _>>()?
        };
        for (offset, data) in pieces {
            let sealed = key.seal(&sha256, u64::try_from(offset).unwrap_or(0), &data)?;
            tx.execute(
                "UPDATE attachment_pieces SET data = ?3 WHERE sha256 = ?1 AND offset = ?2",
                params![sha256, offset, sealed],
            )?;
        }
        tx.execute("UPDATE attachments SET blob_key = ?2 WHERE sha256 = ?1", params![sha256, key.as_bytes()])?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

    #[test]
    fn a_sealed_piece_opens_only_at_its_place_with_its_key() {
        let key = BlobKey::generate().unwrap();
        let first = key.seal(SHA, 0, b"first piece of a receipt").unwrap();
        let second = key.seal(SHA, 24, b"second piece").unwrap();
        assert_eq!(key.open(SHA, 0, &first).unwrap(), b"first piece of a receipt");
        assert_eq!(key.open(SHA, 24, &second).unwrap(), b"second piece");
        assert!(!first.windows(5).any(|w| w == b"piece"), "the piece is stored in the clear");

        // Swapped pieces, a piece moved to another attachment, another key: all refused.
        assert!(key.open(SHA, 0, &second).is_err());
        assert!(key.open(SHA, 24, &first).is_err());
        let other_sha = SHA.replace('5', "6");
        assert!(key.open(&other_sha, 0, &first).is_err());
        assert!(BlobKey::generate().unwrap().open(SHA, 0, &first).is_err());
        // Any altered byte (nonce, ciphertext, tag), a cut piece: refused.
        for at in [0, NONCE_LEN, first.len() - 1] {
            let mut altered = first.clone();
            altered[at] ^= 1;
            assert!(key.open(SHA, 0, &altered).is_err(), "a change at byte {at} went unnoticed");
        }
        assert!(key.open(SHA, 0, &first[..first.len() - 1]).is_err());
        assert!(key.open(SHA, 0, &first[..10]).is_err());
    }

    #[test]
    fn the_same_bytes_seal_differently_each_time() {
        let key = BlobKey::generate().unwrap();
        assert_ne!(key.seal(SHA, 0, b"same").unwrap(), key.seal(SHA, 0, b"same").unwrap());
    }

    #[test]
    fn a_new_key_file_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let made = create_key(&path).unwrap();
        assert_eq!(read_key(&path).unwrap().unwrap().0.as_ref(), made.0.as_ref());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(read_key(&dir.path().join("absent")).unwrap().is_none());
        fs::write(&path, "not hex").unwrap();
        assert!(matches!(read_key(&path), Err(StorageError::Key(_))));
    }
}
