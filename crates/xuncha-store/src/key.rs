//! The database key: derived from the user's PIN with Argon2id and a per-device salt. The
//! salt and the KDF parameters live in a small key file next to the database, with a check
//! value that tells a wrong PIN from a damaged database before the database is touched.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Result, StoreError};

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl KdfParams {
    /// The product's parameters: 64 MiB, 3 passes (about a third of a second on a tablet).
    pub const DEFAULT: KdfParams = KdfParams { memory_kib: 64 * 1024, iterations: 3, parallelism: 1 };

    /// Cheap parameters for tests that open many databases. Never for real devices.
    pub const FAST_INSECURE: KdfParams = KdfParams { memory_kib: 1024, iterations: 1, parallelism: 1 };
}

impl Default for KdfParams {
    fn default() -> KdfParams {
        KdfParams::DEFAULT
    }
}

/// The key file's contents.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyFile {
    version: u32,
    kdf: String,
    params: KdfParams,
    salt: String,
    check: String,
    /// A checksum of everything above, so damage is told apart from a wrong PIN.
    sum: String,
}

impl KeyFile {
    fn checksum(&self) -> String {
        let p = self.params;
        let text = format!(
            "{}|{}|{}|{}|{}|{}|{}",
            self.version, self.kdf, p.memory_kib, p.iterations, p.parallelism, self.salt, self.check
        );
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// Whether the parameters are ones this code would ever write (a damaged number must
    /// not make Argon2 allocate terabytes).
    fn params_are_sane(&self) -> bool {
        let p = self.params;
        (8..=2 * 1024 * 1024).contains(&p.memory_kib)
            && (1..=100).contains(&p.iterations)
            && (1..=16).contains(&p.parallelism)
            && self.salt.len() == 32
    }
}

/// A 32-byte database key, wiped from memory when dropped.
#[derive(Clone)]
pub(crate) struct DbKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey(..)")
    }
}

impl DbKey {
    /// The key as SQLCipher's raw-key literal, `x'…'`.
    pub(crate) fn pragma_literal(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("\"x'{}'\"", hex::encode(self.0.as_ref())))
    }

    fn check_value(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"xuncha-key-check-v1");
        hasher.update(self.0.as_ref());
        hex::encode(hasher.finalize())
    }
}

/// The key file that belongs to `db`.
pub fn key_file_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

fn pending_key_file_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".key.new");
    PathBuf::from(name)
}

/// Checks that a PIN is acceptable.
pub(crate) fn check_pin(pin: &str) -> Result<()> {
    if pin.chars().count() < 6 {
        return Err(StoreError::WeakPin);
    }
    Ok(())
}

fn derive(pin: &str, salt: &[u8], params: KdfParams) -> Result<DbKey> {
    let argon_params = Params::new(params.memory_kib, params.iterations, params.parallelism, Some(32))
        .map_err(|e| StoreError::BadKeyFile { path: PathBuf::new(), detail: e.to_string() })?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(pin.as_bytes(), salt, key.as_mut())
        .map_err(|e| StoreError::BadKeyFile { path: PathBuf::new(), detail: e.to_string() })?;
    Ok(DbKey(key))
}

/// A fresh salt and the key derived from `pin`, with the key file text to write.
pub(crate) fn new_key(pin: &str, params: KdfParams) -> Result<(DbKey, String)> {
    check_pin(pin)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| StoreError::Io { path: PathBuf::new(), source: std::io::Error::other(e.to_string()) })?;
    let key = derive(pin, &salt, params)?;
    let mut file = KeyFile {
        version: 1,
        kdf: "argon2id".into(),
        params,
        salt: hex::encode(salt),
        check: key.check_value(),
        sum: String::new(),
    };
    file.sum = file.checksum();
    let text = serde_json::to_string_pretty(&file).unwrap_or_default();
    salt.zeroize();
    Ok((key, text))
}

fn read_key_file(path: &Path) -> Result<KeyFile> {
    let text = fs::read_to_string(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => StoreError::MissingKeyFile { path: path.to_owned() },
        _ => StoreError::Io { path: path.to_owned(), source },
    })?;
    let file: KeyFile = serde_json::from_str(&text)
        .map_err(|e| StoreError::BadKeyFile { path: path.to_owned(), detail: e.to_string() })?;
    if file.version != 1 || file.kdf != "argon2id" {
        return Err(StoreError::BadKeyFile {
            path: path.to_owned(),
            detail: format!("unknown key file version {}", file.version),
        });
    }
    if file.sum != file.checksum() || !file.params_are_sane() {
        return Err(StoreError::BadKeyFile { path: path.to_owned(), detail: "its checksum does not match".to_owned() });
    }
    Ok(file)
}

fn key_from_file(path: &Path, file: &KeyFile, pin: &str) -> Result<Option<DbKey>> {
    let salt =
        hex::decode(&file.salt).map_err(|e| StoreError::BadKeyFile { path: path.to_owned(), detail: e.to_string() })?;
    let key = derive(pin, &salt, file.params).map_err(|e| match e {
        StoreError::BadKeyFile { detail, .. } => StoreError::BadKeyFile { path: path.to_owned(), detail },
        other => other,
    })?;
    Ok((key.check_value() == file.check).then_some(key))
}

/// The keys `pin` derives from the key files of `db` that accept it: the pending one of
/// an interrupted PIN change first (flagged `true`), then the current one. A PIN no key
/// file accepts is [`StoreError::WrongPin`].
///
/// A PIN change writes the new key file beside the old one before re-keying, so if the
/// device died in between, both may accept the PIN (the same PIN chosen again): the caller
/// tries each against the database and [`finish_pending`] settles which file stays.
pub(crate) fn unlock(db: &Path, pin: &str) -> Result<Vec<(DbKey, bool)>> {
    let mut keys = Vec::new();
    let pending = pending_key_file_path(db);
    if pending.exists()
        && let Ok(file) = read_key_file(&pending)
        && let Some(key) = key_from_file(&pending, &file, pin)?
    {
        keys.push((key, true));
    }
    let path = key_file_path(db);
    let file = read_key_file(&path)?;
    if let Some(key) = key_from_file(&path, &file, pin)? {
        keys.push((key, false));
    }
    if keys.is_empty() {
        return Err(StoreError::WrongPin);
    }
    Ok(keys)
}

/// Whether a PIN change was cut short.
pub(crate) fn pending_exists(db: &Path) -> bool {
    pending_key_file_path(db).exists()
}

/// Writes `text` to `path` durably: a temporary file, fsync, rename, fsync of the folder.
pub(crate) fn write_durably(path: &Path, text: &str) -> Result<()> {
    let io = |source| StoreError::Io { path: path.to_owned(), source };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    {
        let mut file = fs::File::create(&tmp).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Writes the key file of a PIN change in progress.
pub(crate) fn write_pending(db: &Path, text: &str) -> Result<()> {
    write_durably(&pending_key_file_path(db), text)
}

/// After a re-key has committed (`rekeyed`), the pending key file becomes the key file;
/// otherwise the pending one is dropped.
pub(crate) fn finish_pending(db: &Path, rekeyed: bool) -> Result<()> {
    let pending = pending_key_file_path(db);
    if !pending.exists() {
        return Ok(());
    }
    if rekeyed {
        fs::rename(&pending, key_file_path(db)).map_err(|source| StoreError::Io { path: pending.clone(), source })?;
    } else {
        fs::remove_file(&pending).map_err(|source| StoreError::Io { path: pending.clone(), source })?;
    }
    Ok(())
}
