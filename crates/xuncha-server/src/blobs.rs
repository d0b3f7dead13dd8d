//! Complete attachments in an object store: an S3-compatible bucket (a province's photos
//! outgrow one disk) or a folder, through `object_store`.
//!
//! Uploads arrive in pieces and are resumed as before, each piece sealed in the database
//! until the last one is checked against the hash. The attachment then becomes one object:
//! the pieces opened in order, hashed again on the way (the object must be the bytes the
//! name promises), and sealed anew in chunks of [`CHUNK`] bytes under the upload's key, so
//! that any byte is read back with one ranged GET of one chunk. The object is written with
//! a create-only condition (`If-None-Match: *` on S3): nothing overwrites a stored
//! attachment. Its name depends on the key, so a write retried after a crash or a
//! collided transaction finds its own object there and is done; a stored object is never
//! another key's.
//!
//! The bucket holds only sealed chunks; their keys live in the database, sealed under the
//! server's master key on PostgreSQL and inside the encrypted `server.db` on SQLite. The
//! store alone opens nothing.
//!
//! `object_store` is async and the storage transactions are not: a [`Blobs`] owns a small
//! runtime of its own, and a transaction's thread waits on it.

use std::ops::Range;
#[cfg(feature = "province")]
use std::sync::Arc;

#[cfg(feature = "province")]
use object_store::aws::{AmazonS3Builder, Checksum};
#[cfg(feature = "province")]
use object_store::local::LocalFileSystem;
#[cfg(feature = "province")]
use object_store::path::Path as ObjectPath;
#[cfg(feature = "province")]
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use sha2::{Digest, Sha256};

use crate::at_rest::{BlobKey, SEAL_OVERHEAD};
use crate::storage::{Result, StorageError};

/// The plaintext bytes sealed together in an object: one ranged read serves this many.
pub const CHUNK: u64 = 1024 * 1024;
/// The environment variable that names the attachment store (as `--attachments`).
pub const ATTACHMENTS_ENV: &str = "XUNCHA_ATTACHMENTS";

/// An object store for complete attachments.
#[cfg(feature = "province")]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// Where, for messages: the URL without its query.
    location: String,
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

#[cfg(feature = "province")]
impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blobs").field("location", &self.location).finish_non_exhaustive()
    }
}

#[cfg(feature = "province")]
impl Drop for Blobs {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics on a thread that drives async tasks
        // (where the server's state is dropped when it stops).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(feature = "province")]
fn store_error(location: &str, error: object_store::Error) -> StorageError {
    StorageError::Backend(format!("附件存储出错 / the attachment store at {location} failed: {error}"))
}

#[cfg(feature = "province")]
impl Blobs {
    /// The store at `url`: `s3://BUCKET?endpoint=URL&region=R` (credentials from
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, as every S3 tool reads them), or a
    /// folder (`file:///srv/xuncha/attachments` or a plain path), made if missing.
    pub fn open(url: &str) -> Result<Blobs> {
        let bad = |why: &str| {
            StorageError::Backend(format!(
                "附件存储地址无效 / the attachment store {url:?} is not valid: {why}; give s3://BUCKET?endpoint=http://HOST:PORT or a folder"
            ))
        };
        let (store, location): (Arc<dyn ObjectStore>, String) = if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
            let bucket = bucket.trim_end_matches('/');
            if bucket.is_empty() || bucket.contains('/') {
                return Err(bad("the bucket's name is missing or has a path"));
            }
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_checksum_algorithm(Checksum::SHA256)
                .with_virtual_hosted_style_request(false);
            if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
                builder = builder.with_region("us-east-1");
            }
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (name, value) = pair.split_once('=').ok_or_else(|| bad("a query part is not name=value"))?;
                builder = match name {
                    "endpoint" => builder.with_endpoint(value).with_allow_http(value.starts_with("http://")),
                    "region" => builder.with_region(value),
                    other => return Err(bad(&format!("unknown option {other} (endpoint and region are known)"))),
                };
            }
            let store = builder.build().map_err(|e| bad(&e.to_string()))?;
            let location = url.split('?').next().unwrap_or(url).to_owned();
            (Arc::new(store), location)
        } else {
            let folder = url.strip_prefix("file://").unwrap_or(url);
            if folder.is_empty() || url.contains("://") && !url.starts_with("file://") {
                return Err(bad("neither s3:// nor a folder"));
            }
            std::fs::create_dir_all(folder).map_err(|e| {
                StorageError::Backend(format!("无法创建附件文件夹 / cannot make the attachment folder {folder}: {e}"))
            })?;
            let store = LocalFileSystem::new_with_prefix(folder).map_err(|e| bad(&e.to_string()))?;
            (Arc::new(store), folder.to_owned())
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("xuncha-blobs")
            .enable_all()
            .build()
            .map_err(|e| StorageError::Backend(format!("cannot start the attachment store's runtime: {e}")))?;
        Ok(Blobs { store, location, runtime: Some(runtime) })
    }

    /// Where the store is (its URL without the query), for messages and `/readyz`.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Runs `work` on the store's runtime and waits for it, from any thread (also one that
    /// is itself inside a runtime).
    fn run<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> Result<T> {
        let runtime =
            self.runtime.as_ref().ok_or_else(|| StorageError::Backend("the attachment store is closed".into()))?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = sender.send(work.await);
        });
        let outcome = receiver
            .recv()
            .map_err(|_| StorageError::Backend(format!("the attachment store at {} stopped", self.location)))?;
        outcome.map_err(|e| store_error(&self.location, e))
    }

    /// Whether the store answers: a HEAD of an object that need not exist.
    pub fn check(&self) -> Result<()> {
        let store = self.store.clone();
        self.run(async move {
            match store.head(&ObjectPath::from("xuncha-readyz")).await {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(error) => Err(error),
            }
        })
    }

    fn read(&self, object: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let store = self.store.clone();
        let path = ObjectPath::from(object);
        let bytes = self.run(async move { store.get_range(&path, range).await })?;
        Ok(bytes.to_vec())
    }

    /// The names of every object under `prefix` (for backups and checks).
    pub fn list(&self, prefix: &str) -> Result<Vec<String>> {
        use futures_util::TryStreamExt;
        let store = self.store.clone();
        let prefix = ObjectPath::from(prefix);
        self.run(async move {
            let found: Vec<object_store::ObjectMeta> = store.list(Some(&prefix)).try_collect().await?;
            Ok(found.into_iter().map(|m| m.location.to_string()).collect())
        })
    }

    /// The whole object `name` (a backup copies objects as they are, sealed).
    pub fn get(&self, name: &str) -> Result<Vec<u8>> {
        let store = self.store.clone();
        let path = ObjectPath::from(name);
        self.run(async move { Ok(store.get(&path).await?.bytes().await?.to_vec()) })
    }

    /// Stores `bytes` as `name` unless an object of that name exists: never overwrites.
    pub fn put_new(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let store = self.store.clone();
        let path = ObjectPath::from(name);
        self.run(async move {
            let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
            match store.put_opts(&path, PutPayload::from(bytes), options).await {
                Ok(_) | Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                    Ok(())
                }
                Err(error) => Err(error),
            }
        })
    }
}

/// Built without the `province` feature (the fuzz targets' build, which leaves out
/// `object_store` and PostgreSQL): no attachment store can be opened, so the type has no
/// values and the storage code that would use one is never reached.
#[cfg(not(feature = "province"))]
#[derive(Debug)]
pub enum Blobs {}

#[cfg(not(feature = "province"))]
impl Blobs {
    /// Whether the store answers (never called: there is no store).
    pub fn check(&self) -> Result<()> {
        match *self {}
    }

    fn read(&self, _object: &str, _range: Range<u64>) -> Result<Vec<u8>> {
        match *self {}
    }

    fn put_new(&self, _name: &str, _bytes: Vec<u8>) -> Result<()> {
        match *self {}
    }
}

/// What a store does with an attachment, the same over any store.
impl Blobs {
    /// Stores a complete attachment and names its object. `pieces` are the upload's pieces
    /// as the database holds them (`(offset, sealed bytes)`, in order), sealed with `key`;
    /// they are opened, hashed again and sealed anew in chunks. Refused if the bytes are
    /// not `size` long or do not hash to `sha256`.
    pub(crate) fn write(
        &self,
        sha256: &str,
        size: u64,
        key: &BlobKey,
        pieces: &mut dyn Iterator<Item = Result<(u64, Vec<u8>)>>,
    ) -> Result<String> {
        let capacity = usize::try_from(size + size.div_ceil(CHUNK) * SEAL_OVERHEAD as u64).unwrap_or(0);
        let mut object = Vec::with_capacity(capacity);
        let mut digest = Sha256::new();
        let mut pending: Vec<u8> = Vec::with_capacity(usize::try_from(CHUNK.min(size)).unwrap_or(0));
        let mut sealed_up_to = 0u64;
        let mut next = 0u64;
        for piece in pieces {
            let (offset, sealed) = piece?;
            if offset != next {
                return Err(StorageError::Backend(format!(
                    "attachment {sha256}: a piece starts at byte {offset}, not {next}; the upload is damaged"
                )));
            }
            let plain = key.open(sha256, offset, &sealed)?;
            next += plain.len() as u64;
            digest.update(&plain);
            let mut rest = plain.as_slice();
            while !rest.is_empty() {
                let room = usize::try_from(CHUNK).unwrap_or(usize::MAX) - pending.len();
                let (take, after) = rest.split_at(room.min(rest.len()));
                pending.extend_from_slice(take);
                rest = after;
                if pending.len() as u64 == CHUNK {
                    object.extend_from_slice(&key.seal(sha256, sealed_up_to, &pending)?);
                    sealed_up_to += CHUNK;
                    pending.clear();
                }
            }
        }
        if !pending.is_empty() {
            object.extend_from_slice(&key.seal(sha256, sealed_up_to, &pending)?);
        }
        if next != size || hex::encode(digest.finalize()) != sha256 {
            return Err(StorageError::Backend(format!(
                "attachment {sha256}: the stored pieces are not the bytes the hash names; the upload is damaged"
            )));
        }
        let name = object_name(sha256, key);
        // One there already was written by an earlier attempt with this key: whole (a
        // create is atomic) and opened by the same key.
        self.put_new(&name, object)?;
        Ok(name)
    }

    /// The chunk of an object that holds byte `offset`: where it starts, and its bytes;
    /// `None` past the end.
    pub(crate) fn chunk(
        &self,
        object: &str,
        sha256: &str,
        size: u64,
        key: &BlobKey,
        offset: u64,
    ) -> Result<Option<(u64, Vec<u8>)>> {
        if offset >= size {
            return Ok(None);
        }
        let start = offset / CHUNK * CHUNK;
        let sealed = self.read(object, stored_range(start, size))?;
        Ok(Some((start, key.open(sha256, start, &sealed)?)))
    }

    /// The bytes of an object from `offset`.
    pub(crate) fn bytes(&self, object: &str, sha256: &str, size: u64, key: &BlobKey, offset: u64) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(size.saturating_sub(offset)).unwrap_or(0));
        let mut at = offset;
        while let Some((start, data)) = self.chunk(object, sha256, size, key, at)? {
            let skip = usize::try_from(at - start).unwrap_or(0);
            out.extend_from_slice(&data[skip.min(data.len())..]);
            at = start + data.len() as u64;
        }
        Ok(out)
    }
}

/// Where the sealed chunk that starts at plaintext byte `start` lies in the object.
fn stored_range(start: u64, size: u64) -> Range<u64> {
    let index = start / CHUNK;
    let plain = CHUNK.min(size - start);
    let from = index * (CHUNK + SEAL_OVERHEAD as u64);
    from..from + plain + SEAL_OVERHEAD as u64
}

/// The object of attachment `sha256` sealed with `key`: the hash first (a listing groups
/// an attachment's objects), then a tag of the key, which reveals nothing of it.
fn object_name(sha256: &str, key: &BlobKey) -> String {
    let tag = Sha256::new().chain_update(b"xuncha object name\0").chain_update(key.as_bytes()).finalize();
    format!("attachments/{}/{sha256}.{}", &sha256[..2], hex::encode(&tag[..12]))
}

#[cfg(all(test, feature = "province"))]
mod tests {
    use super::*;

    fn sealed_pieces(sha256: &str, key: &BlobKey, data: &[u8], piece: usize) -> Vec<Result<(u64, Vec<u8>)>> {
        data.chunks(piece)
            .enumerate()
            .map(|(i, p)| Ok(((i * piece) as u64, key.seal(sha256, (i * piece) as u64, p).unwrap())))
            .collect()
    }

    #[test]
    fn a_folder_store_writes_once_and_reads_every_byte_back() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path().join("objects").to_str().unwrap()).unwrap();
        blobs.check().unwrap();
        let data: Vec<u8> = (0..(2 * CHUNK + 12345)).map(|i| (i % 251) as u8).collect();
        let sha = hex::encode(Sha256::digest(&data));
        let key = BlobKey::generate().unwrap();
        let name = blobs
            .write(&sha, data.len() as u64, &key, &mut sealed_pieces(&sha, &key, &data, 700_000).into_iter())
            .unwrap();
        // Again (a retried transaction): the same object, nothing overwritten.
        let again = blobs
            .write(&sha, data.len() as u64, &key, &mut sealed_pieces(&sha, &key, &data, 300_000).into_iter())
            .unwrap();
        assert_eq!(name, again);
        assert_eq!(blobs.list("attachments").unwrap(), vec![name.clone()]);
        let size = data.len() as u64;
        assert_eq!(blobs.bytes(&name, &sha, size, &key, 0).unwrap(), data);
        assert_eq!(blobs.bytes(&name, &sha, size, &key, CHUNK + 5).unwrap(), &data[(CHUNK + 5) as usize..]);
        let (start, chunk) = blobs.chunk(&name, &sha, size, &key, 2 * CHUNK + 1).unwrap().unwrap();
        assert_eq!((start, chunk.as_slice()), (2 * CHUNK, &data[(2 * CHUNK) as usize..]));
        assert!(blobs.chunk(&name, &sha, size, &key, size).unwrap().is_none());
        // The stored object is sealed: no run of the plaintext is in it.
        let stored = blobs.get(&name).unwrap();
        assert!(!stored.windows(64).any(|w| w == &data[1000..1064]));
        // Another key opens nothing.
        let other = BlobKey::generate().unwrap();
        assert!(blobs.chunk(&name, &sha, size, &other, 0).is_err());
    }

    #[test]
    fn bytes_that_do_not_hash_to_the_name_are_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path().to_str().unwrap()).unwrap();
        let data = vec![7u8; 5000];
        let sha = hex::encode(Sha256::digest(b"something else"));
        let key = BlobKey::generate().unwrap();
        let refused = blobs.write(&sha, 5000, &key, &mut sealed_pieces(&sha, &key, &data, 1000).into_iter());
        assert!(refused.unwrap_err().to_string().contains("not the bytes the hash names"));
        assert!(blobs.list("attachments").unwrap().is_empty());
    }

    #[test]
    fn a_bad_url_says_what_to_give() {
        for url in ["s3://", "s3://bucket/path", "s3://b?endpoint", "s3://b?colour=red", "ftp://x/y"] {
            let error = Blobs::open(url).unwrap_err().to_string();
            assert!(error.contains("s3://BUCKET?endpoint="), "{url}: {error}");
        }
    }

    /// Against the real S3-compatible store the tests start (`tools/s3/with-store` exports
    /// `XUNCHA_TEST_S3`); skipped, and says so, where there is none.
    #[test]
    fn an_s3_store_refuses_to_overwrite_and_serves_ranges() {
        let Ok(url) = std::env::var("XUNCHA_TEST_S3") else {
            eprintln!("XUNCHA_TEST_S3 is not set: the S3 test is skipped (tools/s3/with-store sets it)");
            return;
        };
        let blobs = Blobs::open(&url).unwrap();
        blobs.check().unwrap();
        let data: Vec<u8> = (0..(CHUNK + 99)).map(|i| (i * 7 % 253) as u8).collect();
        let sha = hex::encode(Sha256::digest(&data));
        let key = BlobKey::generate().unwrap();
        let size = data.len() as u64;
        let name = blobs.write(&sha, size, &key, &mut sealed_pieces(&sha, &key, &data, 400_000).into_iter()).unwrap();
        let first = blobs.get(&name).unwrap();
        // The create-only condition holds on the real store: a second write leaves the first.
        blobs.write(&sha, size, &key, &mut sealed_pieces(&sha, &key, &data, 400_000).into_iter()).unwrap();
        assert_eq!(blobs.get(&name).unwrap(), first, "the object was overwritten");
        assert_eq!(blobs.bytes(&name, &sha, size, &key, 0).unwrap(), data);
        assert_eq!(blobs.bytes(&name, &sha, size, &key, CHUNK).unwrap(), &data[CHUNK as usize..]);
    }
}
