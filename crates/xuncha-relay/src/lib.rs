//! A team relay: the team lead's tablet or laptop as the team's sync point in a village with
//! no signal, on a phone hotspot.
//!
//! The relay is the district server's own code (protocol, rules, scoping, limits) over a
//! storage of its own in a folder beside the lead's device database, serving the lead's team
//! only. It is bridged both ways to the lead's device database:
//!
//! - the lead's documents go into the relay as they are (their changes are the lead's and
//!   those the lead received from the district server), so members see them;
//! - the changes members bring go into the lead's database with their authors' signatures,
//!   waiting in its outbox, so that the lead's next sync with the district server (or a
//!   bundle) takes them there, where each is accepted by its author's signature;
//! - photos and files the district server does not hold yet, both ways: the lead's into the
//!   relay (members whose records reference them fetch them there), members' into the lead's
//!   database, to be taken on to the district server.
//!
//! Members join with the code shown beside the relay's QR code ([`Relay::link`]).
//!
//! Members reach it over TLS with a certificate for the relay's own signing key, which they
//! pin from the key in the QR code ([`xuncha_protocol::relay::tls_pin`]): a device on the
//! same hotspot can neither read a sync nor pose as the relay.
//!
//! The relay's folder holds no key: its storage's key and its signing key are kept in the
//! lead's device database (encrypted under the PIN), so a tablet lost in the village gives
//! away the team's records no more through the relay than through the device itself.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use xuncha_domain::Team;
use xuncha_protocol::Outcome;
use xuncha_protocol::bundle::PeerKey;
use xuncha_protocol::relay::RelayLink;
use xuncha_server::relay::{self as server_relay, Host, HostUpload};
use xuncha_server::storage::with_tx;
use xuncha_server::{AppState, SqliteStorage, Storage};
use xuncha_store::Store;

/// What can stop a relay.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// This device may not serve as its team's relay (not a lead, no teams yet).
    #[error("{0}")]
    NotALead(String),
    #[error("组内同步点的数据无法读写：{0} / the relay's data cannot be read or written: {0}")]
    Storage(#[from] xuncha_server::StorageError),
    #[error(transparent)]
    Store(#[from] xuncha_store::StoreError),
    #[error(transparent)]
    Identity(#[from] xuncha_server::bundles::ExchangeError),
    #[error(transparent)]
    Sync(#[from] xuncha_sync::SyncError),
    #[error("{0}")]
    Protocol(String),
}

/// How many documents or log entries one bridge transaction takes.
const BRIDGE_BATCH: usize = 500;

/// A team relay on the lead's device.
pub struct Relay {
    storage: Arc<SqliteStorage>,
    dir: PathBuf,
    /// The relay's signing key (the key its QR code shows).
    signing: ed25519_dalek::SigningKey,
    /// Files that could not be bridged (damaged, say): passed over until the next start.
    passed_over: Mutex<std::collections::HashSet<String>>,
    team: Team,
    host: Host,
    code: String,
    key: PeerKey,
    relay_id: String,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").field("dir", &self.dir).field("team", &self.team.id).finish_non_exhaustive()
    }
}

/// What one bridge pass moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Bridged {
    /// Documents of the lead's device the relay stored (with new changes or not).
    pub to_relay: usize,
    /// Documents of the lead's device that received members' changes.
    pub to_host: usize,
    /// Photos and files of the lead's device the relay took.
    pub files_to_relay: usize,
    /// Photos and files members brought, now on the lead's device.
    pub files_to_host: usize,
}

/// The folder a device database's relay keeps its data in: beside it.
pub fn dir_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".relay");
    PathBuf::from(name)
}

/// Where the device database keeps the relay storage's key, and the relay's signing key.
const STORAGE_KEY: &str = "relay_storage_key";
const SIGNING_KEY: &str = "relay_signing_key";

/// A 32-byte secret of the relay, kept in the device database (encrypted under the PIN)
/// under `name`: the one there; else the one a file of an earlier release left at `file`
/// (moved in, then the file removed); else a new one, unless the data it `opens` is there
/// already (then no new key would open it).
fn secret(
    store: &mut Store,
    name: &str,
    file: &Path,
    opens: Option<&Path>,
) -> Result<zeroize::Zeroizing<[u8; 32]>, RelayError> {
    let kept = store.sync_value(name)?.map(zeroize::Zeroizing::new);
    let from_file = xuncha_server::at_rest::MasterKey::read(file)?;
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    match (&kept, &from_file) {
        (Some(hex_text), _) => hex::decode_to_slice(hex_text.as_str(), bytes.as_mut())
            .map_err(|_| RelayError::Protocol(format!("the device database's {name} is damaged")))?,
        (None, Some(key)) => {
            bytes.copy_from_slice(key.bytes());
            store.set_sync_value(name, &zeroize::Zeroizing::new(hex::encode(bytes.as_ref())))?;
        }
        (None, None) if opens.is_some_and(Path::exists) => {
            // Data made with a key this device does not hold (its database was replaced,
            // say): a new key would never open it.
            return Err(RelayError::Protocol(format!(
                "组内同步点的数据（{dir}）不是用本机保存的密钥加密的，无法打开；如确认其中成员的修改已无需保留，可删除该文件夹后重新开启 / the relay's data in {dir} was not made with a key this device keeps and cannot be opened; if members' changes in it need not be kept, remove the folder and start the relay again",
                dir = file.parent().unwrap_or(file).display()
            )));
        }
        (None, None) => {
            getrandom::fill(bytes.as_mut())
                .map_err(|e| RelayError::Protocol(format!("no randomness from the OS: {e}")))?;
            store.set_sync_value(name, &zeroize::Zeroizing::new(hex::encode(bytes.as_ref())))?;
        }
    }
    if let Some(key) = from_file {
        if key.bytes() == &*bytes {
            // Kept in the device database now: the file goes.
            std::fs::remove_file(file)
                .map_err(|e| RelayError::Protocol(format!("cannot remove {}: {e}", file.display())))?;
        } else {
            tracing::warn!(file = %file.display(), "a key file in the relay's folder differs from the device's; left alone");
        }
    }
    Ok(bytes)
}

/// A new join code: eight random digits, easy to read out beside the QR code.
pub fn new_join_code() -> Result<String, RelayError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| RelayError::Protocol(format!("no randomness from the OS: {e}")))?;
    let digits: String = bytes.iter().map(|b| char::from(b'0' + b % 10)).collect();
    Ok(format!("{} {}", &digits[..4], &digits[4..]))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Relay {
    /// Opens (or makes) the relay of the device `store` in `dir`, for `team` (or the one team
    /// the device's user leads), with a new join `code`, seeded with what the device knows.
    /// Its keys are the device database's (made the first time; moved in from the files an
    /// earlier release left in `dir`).
    pub fn open(store: &mut Store, dir: &Path, team: Option<&str>, code: &str) -> Result<Relay, RelayError> {
        let reference = store.reference()?;
        let identity = store.identity().clone();
        let team = server_relay::team_of(&reference, identity.user_id.as_str(), team).map_err(RelayError::NotALead)?;
        let (signing_key, sealing) = store.public_keys();
        let device_id = identity.device_id.to_string();
        let device_name = reference
            .devices
            .iter()
            .find(|d| d.id == device_id)
            .map_or_else(|| format!("{} 的设备", identity.user_name), |d| d.name.clone());
        let host = Host {
            device_id,
            device_name,
            user_id: identity.user_id.to_string(),
            actor: identity.actor.to_hex_string(),
            signing_key,
            sealing_key: sealing,
        };
        let db = dir.join(xuncha_server::at_rest::DB_FILE);
        let storage_key = secret(store, STORAGE_KEY, &dir.join(xuncha_server::at_rest::KEY_FILE), Some(&db))?;
        let storage =
            Arc::new(SqliteStorage::open_with_key(dir, &xuncha_server::at_rest::MasterKey::from_bytes(*storage_key))?);
        let signing_secret = secret(store, SIGNING_KEY, &dir.join(xuncha_server::chain::ServerKey::FILE), None)?;
        let signing = ed25519_dalek::SigningKey::from_bytes(&signing_secret);
        let server_identity = xuncha_server::bundles::identity_with(storage.as_ref(), signing.clone())?;
        let key = server_identity.key.clone();
        let now = now_ms();
        let relay_id = with_tx(storage.as_ref(), true, |tx| {
            server_relay::prepare(tx, &reference, &team, &host, now)?;
            tx.server_id()
        })?;
        Ok(Relay {
            storage,
            dir: dir.to_owned(),
            signing,
            passed_over: Mutex::default(),
            team,
            host,
            code: code.to_owned(),
            key,
            relay_id,
        })
    }

    /// The team the relay serves.
    pub fn team(&self) -> &Team {
        &self.team
    }

    /// The relay's identity (its storage's server id).
    pub fn relay_id(&self) -> &str {
        &self.relay_id
    }

    /// What the QR code on the lead's screen holds, for a relay reached at `url` (its
    /// address, with or without `https://`: the relay speaks TLS only).
    pub fn link(&self, url: &str) -> RelayLink {
        let address = url.trim().trim_end_matches('/');
        let address = address.strip_prefix("https://").or_else(|| address.strip_prefix("http://")).unwrap_or(address);
        RelayLink {
            url: format!("https://{address}"),
            key: self.key.to_text(),
            code: self.code.clone(),
            team: self.team.id.clone(),
        }
    }

    /// The relay's TLS identity: a self-signed certificate for its own signing key (made
    /// anew at each start; the key, and so the pin, stays).
    pub fn tls(&self) -> Result<xuncha_server::Tls, RelayError> {
        let secret = zeroize::Zeroizing::new(self.signing.to_bytes());
        let public = self.signing.verifying_key().to_bytes();
        // PKCS #8 v2 of an Ed25519 key: version 1, the algorithm, the seed, the public key
        // (85 bytes, allocated once, so no copy of the seed is left behind unwiped).
        let mut pkcs8 = zeroize::Zeroizing::new(Vec::with_capacity(85));
        pkcs8.extend_from_slice(&[0x30, 0x53, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]);
        pkcs8.extend_from_slice(&[0x04, 0x22, 0x04, 0x20]);
        pkcs8.extend_from_slice(secret.as_ref());
        pkcs8.extend_from_slice(&[0xa1, 0x23, 0x03, 0x21, 0x00]);
        pkcs8.extend_from_slice(&public);
        let fail = |e: rcgen::Error| RelayError::Protocol(format!("the relay's certificate cannot be made: {e}"));
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_slice());
        let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ED25519).map_err(fail)?;
        let mut params = rcgen::CertificateParams::new(vec!["xuncha-relay".to_owned()]).map_err(fail)?;
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("巡察通组内同步 {}", self.team.name));
        let cert = params.self_signed(&pair).map_err(fail)?;
        let pin = xuncha_protocol::pin::of_ed25519(&public);
        let private = rustls_pki_types::PrivateKeyDer::Pkcs8(pkcs8.to_vec().into());
        xuncha_server::Tls::from_der(vec![cert.der().clone()], private, pin).map_err(RelayError::Protocol)
    }

    /// The server state the relay serves with.
    pub fn state(&self) -> Result<AppState, RelayError> {
        let identity = xuncha_server::bundles::identity_with(self.storage.as_ref(), self.signing.clone())?;
        let storage: Arc<dyn Storage> = self.storage.clone();
        let relay = server_relay::Relay::new(&self.team.id, &self.code, identity);
        Ok(server_relay::with_relay(AppState::new(storage), relay))
    }

    /// The name under which the lead's device keeps what the relay acknowledged.
    fn peer(&self) -> String {
        format!("relay:{}", self.relay_id)
    }

    /// One pass both ways: records, then photos and files ([`Relay::bridge_files`]).
    pub fn bridge(&self, store: &mut Store) -> Result<Bridged, RelayError> {
        let records = self.bridge_records(store)?;
        let files = self.bridge_files(store)?;
        Ok(Bridged { files_to_relay: files.files_to_relay, files_to_host: files.files_to_host, ..records })
    }

    /// Records both ways: the lead's documents the relay lacks into it, then the changes
    /// members brought into the lead's database (each batch one transaction on each side).
    pub fn bridge_records(&self, store: &mut Store) -> Result<Bridged, RelayError> {
        let mut bridged = Bridged::default();
        let peer = self.peer();
        let now = now_ms();
        let outgoing = store.bundle_outgoing(&peer)?;
        for batch in outgoing.chunks(BRIDGE_BATCH) {
            let outcomes = with_tx(self.storage.as_ref(), true, |tx| {
                batch
                    .iter()
                    .map(|o| {
                        let upload = xuncha_sync::upload_of(o);
                        server_relay::store_host(tx, &self.host.device_id, &self.team.id, &upload, now)
                    })
                    .collect::<Result<Vec<_>, _>>()
            })?;
            let (mut acked, mut whole) = (Vec::new(), Vec::new());
            for (sent, outcome) in batch.iter().zip(outcomes) {
                match outcome {
                    Outcome::Stored { .. } => acked.push((sent.record, sent.part, sent.heads.clone())),
                    // History the relay lacks: sent whole on the next pass.
                    _ => whole.push((sent.record, sent.part)),
                }
            }
            bridged.to_relay += acked.len();
            store.acknowledge_bundle(&peer, &acked)?;
            store.forget_for_peer(&peer, &whole)?;
        }
        let seq_key = format!("relay_host_seq:{}", self.relay_id);
        let mut after: u64 = store.sync_value(&seq_key)?.and_then(|s| s.parse().ok()).unwrap_or(0);
        loop {
            let (uploads, reached) = with_tx(self.storage.as_ref(), false, |tx| {
                server_relay::for_host(tx, &self.host.device_id, after, BRIDGE_BATCH as u32)
            })?;
            if reached == after {
                break;
            }
            let carried = uploads
                .iter()
                .map(|u| xuncha_sync::carried_of(&u.doc, &u.changes, &u.signatures))
                .collect::<Result<Vec<_>, _>>()?;
            // Members' changes wait in the outbox: the lead's next sync takes them on. The
            // position reached in the relay's log is kept with the merge.
            let reached_text = reached.to_string();
            let merged = store.merge_from_peer(&peer, &carried, true, now, None, &[(&seq_key, &reached_text)])?;
            bridged.to_host += merged.changed;
            for (record, _) in &merged.need_full {
                tracing::warn!(%record, "the relay sent changes whose history the lead's device lacks");
            }
            after = reached;
        }
        Ok(bridged)
    }

    /// Photos and files both ways, at most [`FILES_BATCH`] each way a pass (the next pass
    /// goes on): the lead's that the district server does not hold yet into the relay
    /// (members whose records reference them can fetch them), and those members brought for
    /// the team's records into the lead's database, to be taken on to the district server.
    /// A file that cannot be moved is passed over (and said once); the others still move.
    pub fn bridge_files(&self, store: &mut Store) -> Result<Bridged, RelayError> {
        let mut bridged = Bridged::default();
        let (peer, now) = (self.peer(), now_ms());
        let host = self.host.device_id.as_str();
        let mut outgoing = store.attachments_for_peer(&peer)?;
        outgoing.retain(|info| !self.passed_over(&info.sha256));
        for info in outgoing.into_iter().take(FILES_BATCH as usize) {
            let mut piece = |offset| store.attachment_range(&info.sha256, offset, PIECE).map_err(|e| e.to_string());
            // One piece a transaction: members' syncs go on meanwhile.
            let moved = loop {
                let step = with_tx(self.storage.as_ref(), true, |tx| {
                    server_relay::store_host_piece(tx, host, &info.sha256, info.size, &mut piece, now)
                });
                match step {
                    Ok(HostUpload::Received(_)) => continue,
                    Ok(HostUpload::Held) => break Ok(()),
                    Ok(HostUpload::Mismatch) => break Err("its bytes do not match its hash".to_owned()),
                    Err(error) => break Err(error.to_string()),
                }
            };
            match moved {
                Ok(()) => {
                    store.mark_attachment_held(&peer, &info.sha256)?;
                    bridged.files_to_relay += 1;
                }
                Err(why) => {
                    self.pass_over(&info.sha256, &format!("the lead's attachment cannot go into the relay: {why}"))
                }
            }
        }
        let skipped = self.passed_over_count();
        let wanted = with_tx(self.storage.as_ref(), false, |tx| {
            server_relay::attachments_for_host(tx, host, FILES_BATCH + skipped)
        })?;
        for (sha256, _) in wanted.iter().filter(|(sha256, _)| !self.passed_over(sha256)).take(FILES_BATCH as usize) {
            let bytes = with_tx(self.storage.as_ref(), false, |tx| tx.attachment_bytes(sha256, 0))?;
            if xuncha_store::sha256_hex(&bytes) != *sha256 {
                self.pass_over(sha256, "the relay's copy of a member's attachment is damaged");
                continue;
            }
            // The lead's device carries members' files on to the district server.
            if let Err(error) = store.put_attachment_from_peer(&peer, &bytes, sniff_mime(&bytes), true, now) {
                self.pass_over(
                    sha256,
                    &format!("a member's attachment cannot be stored on the lead's device: {error}"),
                );
                continue;
            }
            with_tx(self.storage.as_ref(), true, |tx| tx.hold_attachment(sha256, host, now))?;
            bridged.files_to_host += 1;
        }
        Ok(bridged)
    }

    fn passed_over(&self, sha256: &str) -> bool {
        self.passed_over.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(sha256)
    }

    fn passed_over_count(&self) -> u32 {
        let count = self.passed_over.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// Passes a file over until the relay starts again, saying why once.
    fn pass_over(&self, sha256: &str, why: &str) {
        tracing::warn!(sha256, "{why}; passed over until the relay starts again");
        self.passed_over.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(sha256.to_owned());
    }
}

/// How many attachments one pass looks up at a time.
const FILES_BATCH: u32 = 50;
/// The size of one piece of an attachment written into the relay.
const PIECE: usize = 1024 * 1024;

/// The media type of an attachment's bytes, by their first bytes: the relay's storage keeps
/// no media type (the records that reference a file name it; the screens go by those).
fn sniff_mime(bytes: &[u8]) -> &'static str {
    const KNOWN: [(&[u8], &str); 4] = [
        (b"\xFF\xD8\xFF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"%PDF-", "application/pdf"),
        (b"GIF8", "image/gif"),
    ];
    if bytes.get(4..12).is_some_and(|brand| brand == b"ftypheic" || brand == b"ftypmif1") {
        return "image/heic";
    }
    KNOWN.iter().find(|(magic, _)| bytes.starts_with(magic)).map_or("application/octet-stream", |(_, mime)| mime)
}

/// Serves `relay` on `listener` until `shutdown`, bridging it with the lead's device
/// database at once, then every `every`, and once more at the end; `bridged` hears of every
/// pass that moved something.
///
/// It answers from the start. So the caller moves the team's records into the relay
/// ([`Relay::bridge_records`], quick) before it shows anyone the link: a member who joins at
/// once then finds them there, and is not kept waiting on a pass (on a busy tablet, longer
/// than its connect timeout). Photos and files follow with the passes here.
pub async fn serve(
    relay: Arc<Relay>,
    store: Arc<Mutex<Store>>,
    listener: tokio::net::TcpListener,
    every: std::time::Duration,
    bridged: impl Fn(Bridged) + Send + Sync + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), RelayError> {
    let state = relay.state()?;
    // A pass of the bridge (records and files), as a blocking task.
    let pass = {
        let (relay, store) = (relay.clone(), store.clone());
        move || -> Result<Bridged, RelayError> {
            let mut store =
                store.lock().map_err(|_| RelayError::Protocol("the device database lock was poisoned".into()))?;
            relay.bridge(&mut store)
        }
    };
    let tls = relay.tls()?;
    let bridged = Arc::new(bridged);
    let ticker = {
        let (pass, bridged) = (pass.clone(), bridged.clone());
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            loop {
                interval.tick().await;
                match tokio::task::spawn_blocking(pass.clone()).await {
                    Ok(Ok(moved)) if moved != Bridged::default() => {
                        tracing::info!(to_relay = moved.to_relay, to_host = moved.to_host, "bridged");
                        bridged(moved);
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => tracing::warn!(%error, "bridge failed; trying again"),
                    Err(error) => tracing::warn!(%error, "bridge task failed"),
                }
            }
        })
    };
    let served = xuncha_server::serve_with(listener, state, Some(tls), shutdown).await;
    ticker.abort();
    let last = tokio::task::spawn_blocking(pass).await.map_err(|e| RelayError::Protocol(e.to_string()))??;
    if last != Bridged::default() {
        bridged(last);
    }
    served.map_err(|e| RelayError::Protocol(e.to_string()))
}
