//! The device side of sync: enrolling with the server, and syncing a device database in
//! one round trip per batch (send what changed, receive what others changed, move the
//! cursor), with retries and progress for the UI.

use std::time::Duration;

pub mod bundle;
pub mod relay;
pub mod tls;

use rand::Rng;
use xuncha_domain::{ChangeHash, RecordId};
use xuncha_protocol::{
    Ack, ChangeSignature, DeviceKeys, DocKey, EnrollRequest, EnrollResponse, ErrorBody, ErrorCode, Outcome,
    PROTOCOL_HEADER, PROTOCOL_VERSION, SYNC_CONTENT_TYPE, SyncRequest, SyncResponse, Upload,
};
use xuncha_store::{Incoming, Outgoing, Part, Received, Store, StoreError, UploadOutcome};

/// The size of one attachment upload request: an interrupted upload resumes from the last
/// whole piece the server received.
pub const ATTACHMENT_PIECE: usize = 256 * 1024;

/// Sync-state keys of a device's enrollment.
const SERVER_URL: &str = "server_url";
const DEVICE_TOKEN: &str = "device_token";
const SERVER_DEVICE_ID: &str = "server_device_id";
const ROLE: &str = "role";
const JURISDICTION: &str = "jurisdiction";
const SERVER_ID: &str = "server_id";
/// The pin of the server's TLS key, learned at enrollment.
const SERVER_PIN: &str = "server_pin";
/// Set once the server has registered this device's public keys (at enrollment, or with
/// the first sync of a device enrolled before keys): later requests leave them out.
const KEYS_REGISTERED: &str = "keys_registered";

/// What can go wrong while syncing. The UI branches on [`SyncError::code`].
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("此设备尚未注册，请先运行 `xuncha enroll` / this device is not enrolled; run `xuncha enroll` first")]
    NotEnrolled,
    #[error(
        "无法连接服务器 {url}：{detail}；有网络时会自动重试 / cannot reach the server at {url}: {detail}; sync retries when a connection appears"
    )]
    Unreachable { url: String, detail: String },
    #[error("此设备已被注销，须清除本机数据 / this device was revoked: its local data must be wiped")]
    Revoked,
    #[error("设备令牌无效，请重新注册 / the device token was refused; enroll the device again")]
    Unauthorized,
    #[error("请更新巡察通：{0} / update Xuncha: {0}")]
    UpgradeRequired(String),
    #[error("服务器拒绝请求（{code}）：{message}")]
    Server { status: u16, code: ErrorCode, message: String },
    #[error("服务器的回答无法读取：{0}；请稍后重试 / the server's answer could not be read: {0}; retry later")]
    BadResponse(String),
    #[error(
        "{url} 不是本设备注册的服务器（应为 {expected}，实为 {found}），地址未更改 / {url} is not the server this device enrolled with (expected {expected}, found {found}); the address was not changed"
    )]
    OtherServer { url: String, expected: String, found: String },
    #[error(
        "{url} 出示的密钥与注册时的不同（应为 {expected}，实为 {found}）：可能有人冒充服务器，未发送任何数据 / {url} presented another key than the one this device enrolled with (expected {expected}, found {found}): someone may be posing as the server; nothing was sent"
    )]
    WrongServerKey { url: String, expected: String, found: String },
    #[error(
        "此设备尚未加入组内同步，请扫描组长屏幕上的二维码 / this device has not joined a team relay; scan the QR code on the team lead's screen"
    )]
    NotJoined,
    #[error(
        "{url} 不是二维码所示的组内同步点（其签名不符），未加入 / {url} is not the team relay the QR code shows (its signature does not match); nothing was joined"
    )]
    NotTheRelay { url: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// A stable code for the UI.
    pub fn code(&self) -> ErrorCode {
        match self {
            SyncError::NotEnrolled => ErrorCode::NotEnrolled,
            SyncError::Unreachable { .. } => ErrorCode::Offline,
            SyncError::Revoked => ErrorCode::Revoked,
            SyncError::Unauthorized => ErrorCode::Unauthorized,
            SyncError::UpgradeRequired(_) => ErrorCode::UpgradeRequired,
            SyncError::Server { .. } => ErrorCode::Server,
            SyncError::BadResponse(_) => ErrorCode::BadResponse,
            SyncError::OtherServer { .. } => ErrorCode::OtherServer,
            SyncError::WrongServerKey { .. } => ErrorCode::WrongServerKey,
            SyncError::NotTheRelay { .. } => ErrorCode::NotTheRelay,
            SyncError::NotJoined => ErrorCode::NotJoined,
            SyncError::Store(_) => ErrorCode::Store,
        }
    }

    /// Exactly why, within [`SyncError::code`]: the server's own code, or the device
    /// database's.
    pub fn cause(&self) -> Option<ErrorCode> {
        match self {
            SyncError::Server { code, .. } => Some(*code),
            SyncError::Store(error) => Some(error.code()),
            _ => None,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Unreachable { .. } | SyncError::BadResponse(_) => true,
            SyncError::Server { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Progress of a sync, for a progress bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub round_trips: u32,
    pub documents_up: u64,
    pub documents_down: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub progress: Progress,
    /// Uploads the server refused: (document, code, message).
    pub refused: Vec<(String, String, String)>,
    /// Documents removed because the user may no longer see them (moved to another team).
    pub dropped: usize,
    /// Such documents kept because they hold this device's changes not yet acknowledged.
    pub kept_out_of_scope: usize,
    /// Whether new reference data (divisions, rounds, teams, rosters) arrived.
    pub reference_updated: bool,
}

/// What background sync reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackgroundEvent {
    /// The server did not answer; the device waits and looks again.
    Offline,
    /// A round trip finished.
    Progress(Progress),
    /// A sync finished.
    Synced(SyncReport),
    /// A sync failed in a way that may pass; it is tried again after a pause.
    Failed(String),
}

/// One attachment upload: where it resumed and how many bytes went over the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentUpload {
    pub sha256: String,
    pub size: u64,
    pub resumed_from: u64,
    pub sent: u64,
}

fn received_of(response: &reqwest::Response) -> u64 {
    response.headers().get("x-xuncha-received").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// How a device talks to its server.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    /// The key pin this client enforces, if any.
    pin: Option<String>,
    /// The pin of the key the server presented last (over TLS).
    seen: tls::Presented,
}

/// The device's public keys, as the server registers them.
pub(crate) fn device_keys(store: &Store) -> DeviceKeys {
    let (signing, sealing) = store.public_keys();
    DeviceKeys { signing, sealing }
}

/// A device document's key on the wire.
pub fn key_of(record: RecordId, part: Part) -> DocKey {
    DocKey {
        record: record.uuid().as_bytes().to_vec(),
        part: match part {
            Part::Record => xuncha_protocol::Part::Record,
            Part::Protected => xuncha_protocol::Part::Protected,
        },
    }
}

/// A key from the wire as a device document's record and part.
pub fn from_key(key: &DocKey) -> Result<(RecordId, Part), SyncError> {
    let bytes: [u8; 16] =
        key.record.as_slice().try_into().map_err(|_| SyncError::BadResponse("a record id is not 16 bytes".into()))?;
    let part = match key.part {
        xuncha_protocol::Part::Record => Part::Record,
        xuncha_protocol::Part::Protected => Part::Protected,
    };
    Ok((RecordId::from_bytes(bytes), part))
}

/// What goes on the wire of changes to send: the document's key, its changes and their
/// signatures.
pub fn upload_of(outgoing: &Outgoing) -> Upload {
    Upload {
        doc: key_of(outgoing.record, outgoing.part),
        changes: outgoing.changes.clone(),
        signatures: outgoing
            .signatures
            .iter()
            .map(|(hash, signature)| ChangeSignature { hash: hash.0.to_vec(), signature: signature.clone() })
            .collect(),
    }
}

/// Changes that came with their authors' signatures, as a device merges them.
pub fn carried_of(
    doc: &DocKey,
    changes: &[u8],
    signatures: &[ChangeSignature],
) -> Result<xuncha_store::Carried, SyncError> {
    let (record, part) = from_key(doc)?;
    let signatures = signatures
        .iter()
        .filter_map(|s| Some((ChangeHash::try_from(s.hash.as_slice()).ok()?, s.signature.clone())))
        .collect();
    Ok(xuncha_store::Carried { incoming: Incoming { record, part, changes: changes.to_vec() }, signatures })
}

fn number_from(number: &xuncha_protocol::RecordNumber) -> Result<(RecordId, String), SyncError> {
    let bytes: [u8; 16] = number
        .record
        .as_slice()
        .try_into()
        .map_err(|_| SyncError::BadResponse("a numbered record's id is not 16 bytes".into()))?;
    Ok((RecordId::from_bytes(bytes), number.number.clone()))
}

fn outcome(ack: &Ack) -> UploadOutcome {
    match &ack.outcome {
        Outcome::Stored { .. } => UploadOutcome::Stored {
            server_heads: ack.heads.iter().filter_map(|h| ChangeHash::try_from(h.as_slice()).ok()).collect(),
        },
        Outcome::Refused { code, message } => UploadOutcome::Refused { code: *code, message: message.clone() },
        Outcome::NeedFull => UploadOutcome::NeedFull,
    }
}

impl Client {
    /// A client of the server at `base` (e.g. `http://127.0.0.1:8470`).
    pub fn new(base: &str, timeout: Duration) -> Result<Client, SyncError> {
        Client::with_pin(base, timeout, None)
    }

    /// A client that talks over TLS only to a server presenting the key `pin` names (see
    /// [`xuncha_protocol::pin`]); without a pin, to one the public authorities vouch for.
    pub fn with_pin(base: &str, timeout: Duration, pin: Option<String>) -> Result<Client, SyncError> {
        let unreachable = |detail: String| SyncError::Unreachable { url: base.to_owned(), detail };
        let (tls, seen) = tls::config(pin.clone()).map_err(unreachable)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            // Well inside the server's idle timeout, so a pooled connection is never
            // reused just as the server closes it.
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(Client { http, base: base.trim_end_matches('/').to_owned(), pin, seen })
    }

    /// The pin of the key the server presented on the last TLS connection.
    pub fn presented_pin(&self) -> Option<String> {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Remembers, for a device, the key of the server it just reached over TLS: the one
    /// this client was told to expect, or the one it was shown.
    fn pin_server(&self, store: &mut Store) -> Result<(), SyncError> {
        if self.base.starts_with("https://")
            && let Some(pin) = self.pin.clone().or_else(|| self.presented_pin())
        {
            store.set_sync_value(SERVER_PIN, &pin)?;
        }
        Ok(())
    }

    /// A request to the server carrying the protocol version and the device token.
    fn request(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .bearer_auth(token)
    }

    pub(crate) fn unreachable(&self, error: reqwest::Error) -> SyncError {
        // The verifier notes the key it was shown: another than the pinned one is no
        // network trouble to wait out, but a server that is not this device's.
        if let (Some(pin), Some(found)) = (&self.pin, self.presented_pin())
            && *pin != found
        {
            return SyncError::WrongServerKey { url: self.base.clone(), expected: pin.clone(), found };
        }
        SyncError::Unreachable { url: self.base.clone(), detail: error.to_string() }
    }

    pub(crate) async fn error_from(&self, response: reqwest::Response) -> SyncError {
        let status = response.status().as_u16();
        let body: Option<ErrorBody> = response.json().await.ok();
        let (code, message) =
            body.map_or_else(|| (ErrorCode::Unknown, format!("HTTP {status}")), |b| (b.code, b.message));
        match code {
            ErrorCode::Revoked => SyncError::Revoked,
            ErrorCode::Unauthorized => SyncError::Unauthorized,
            ErrorCode::UpgradeRequired => SyncError::UpgradeRequired(message),
            _ => SyncError::Server { status, code, message },
        }
    }

    /// Exchanges a one-time enrollment code for this device's token, registering its
    /// actor, and stores the enrollment in the (encrypted) device database.
    pub async fn enroll(&self, store: &mut Store, code: &str, device_name: &str) -> Result<EnrollResponse, SyncError> {
        let request = EnrollRequest {
            code: code.to_owned(),
            device_name: device_name.to_owned(),
            actor: store.identity().actor.to_hex_string(),
            keys: Some(device_keys(store)),
        };
        let response = self
            .http
            .post(format!("{}/v1/enroll", self.base))
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .json(&request)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(self.error_from(response).await);
        }
        let enrolled: EnrollResponse = response.json().await.map_err(|e| SyncError::BadResponse(e.to_string()))?;
        store.enrolled(&enrolled.device_id, &enrolled.user.id, &enrolled.user.name)?;
        store.set_sync_value(SERVER_URL, &self.base)?;
        store.set_sync_value(DEVICE_TOKEN, &enrolled.token)?;
        store.set_sync_value(SERVER_DEVICE_ID, &enrolled.device_id)?;
        store.set_sync_value(ROLE, enrolled.user.role.code())?;
        store.set_sync_value(JURISDICTION, &enrolled.user.jurisdiction)?;
        if !enrolled.server_id.is_empty() {
            store.set_sync_value(SERVER_ID, &enrolled.server_id)?;
        }
        self.pin_server(store)?;
        store.set_sync_value(KEYS_REGISTERED, "1")?;
        if let Some(recipient) = &enrolled.protected_key {
            store.set_protected_recipient(recipient)?;
        }
        Ok(enrolled)
    }

    /// Who the server at this address is.
    pub async fn info(&self) -> Result<xuncha_protocol::ServerInfo, SyncError> {
        let response = self
            .http
            .get(format!("{}/v1/info", self.base))
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(self.error_from(response).await);
        }
        response.json().await.map_err(|e| SyncError::BadResponse(e.to_string()))
    }

    /// Moves a device to this address of its server: accepted only when the server here
    /// proves to be the one the device enrolled with (the same server id). A device
    /// enrolled before servers had ids takes the id of the first server it moves to.
    pub async fn move_device_here(&self, store: &mut Store) -> Result<String, SyncError> {
        store.sync_value(DEVICE_TOKEN)?.ok_or(SyncError::NotEnrolled)?;
        let found = self.info().await?.server_id;
        match store.sync_value(SERVER_ID)? {
            Some(expected) if expected != found => {
                return Err(SyncError::OtherServer { url: self.base.clone(), expected, found });
            }
            Some(_) => {}
            None => store.set_sync_value(SERVER_ID, &found)?,
        }
        store.set_sync_value(SERVER_URL, &self.base)?;
        self.pin_server(store)?;
        Ok(found)
    }

    /// The client for the server a device is enrolled with.
    pub fn for_device(store: &Store, timeout: Duration) -> Result<Client, SyncError> {
        let base = store.sync_value(SERVER_URL)?.ok_or(SyncError::NotEnrolled)?;
        Client::with_pin(&base, timeout, store.sync_value(SERVER_PIN)?)
    }

    /// One request: send `request`, return the decoded answer and the body sizes.
    pub(crate) async fn post_sync(
        &self,
        token: &str,
        request: &SyncRequest,
    ) -> Result<(SyncResponse, usize, usize), SyncError> {
        let body = xuncha_protocol::encode(request);
        let sent = body.len();
        let send = || {
            self.request(reqwest::Method::POST, "/v1/sync", token)
                .header(reqwest::header::CONTENT_TYPE, SYNC_CONTENT_TYPE)
                .body(body.clone())
                .send()
        };
        // A kept-alive connection the server (or a NAT) closed while it idled fails the
        // request on it at once; a sync is safe to send again, so it goes once more on a
        // new connection before the server counts as unreachable.
        let response = match send().await {
            Err(error) if error.is_request() && !error.is_connect() && !error.is_timeout() => send().await,
            other => other,
        }
        .map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(self.error_from(response).await);
        }
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        let decoded = xuncha_protocol::decode(&bytes, xuncha_protocol::MAX_DECODED_BYTES)
            .map_err(|e| SyncError::BadResponse(e.to_string()))?;
        Ok((decoded, sent, bytes.len()))
    }

    /// Syncs until the device has sent everything and received everything: usually one
    /// round trip. Each response is applied in one transaction before the next request,
    /// so an interrupted sync resumes where it stopped. `progress` is called after each
    /// round trip.
    pub async fn sync(&self, store: &mut Store, mut progress: impl FnMut(Progress)) -> Result<SyncReport, SyncError> {
        let token = store.sync_value(DEVICE_TOKEN)?.ok_or(SyncError::NotEnrolled)?;
        let mut report = SyncReport::default();
        // Bounded: every round trip either moves the cursor or settles uploads.
        for _ in 0..100_000 {
            let outgoing = store.outgoing(xuncha_protocol::UPLOAD_BATCH_BYTES, xuncha_protocol::MAX_UPLOADS)?;
            let wants = store.sync_wants()?;
            let numbers_wanted = store.numbers_wanted(xuncha_protocol::MAX_ENTRIES as usize)?;
            let request = SyncRequest {
                cursor: store.sync_cursor()?,
                uploads: outgoing.iter().map(upload_of).collect(),
                want_full: wants.iter().map(|(record, part)| key_of(*record, *part)).collect(),
                reference_tag: store.reference_tag()?,
                keys: if store.sync_value(KEYS_REGISTERED)?.is_none() { Some(device_keys(store)) } else { None },
                want_numbers: numbers_wanted
                    .iter()
                    .map(|id| serde_bytes::ByteBuf::from(id.uuid().as_bytes().to_vec()))
                    .collect(),
                signatures: false,
            };
            let (response, sent, received) = self.post_sync(&token, &request).await?;
            if request.keys.is_some() {
                store.set_sync_value(KEYS_REGISTERED, "1")?;
            }
            if response.acks.len() != outgoing.len() {
                return Err(SyncError::BadResponse(format!(
                    "{} acknowledgements for {} uploads",
                    response.acks.len(),
                    outgoing.len()
                )));
            }
            let settled: Vec<(Outgoing, UploadOutcome)> =
                outgoing.into_iter().zip(response.acks.iter().map(outcome)).collect();
            let need_full = settled.iter().any(|(_, o)| *o == UploadOutcome::NeedFull);
            let incoming = response
                .entries
                .iter()
                .map(|e| from_key(&e.doc).map(|(record, part)| Incoming { record, part, changes: e.changes.clone() }))
                .collect::<Result<Vec<_>, _>>()?;
            let dropped = response.dropped.iter().map(from_key).collect::<Result<Vec<_>, _>>()?;
            let numbers = response.numbers.iter().map(number_from).collect::<Result<Vec<_>, _>>()?;
            let answer = Received {
                cursor: &response.cursor,
                dropped: &dropped,
                reference: response.reference.as_ref().map(|r| (r.tag.as_slice(), &r.data)),
                protected: response
                    .reference
                    .as_ref()
                    .and_then(|r| r.protected.as_ref())
                    .map(|p| (p.recipient.as_str(), p.wrapped.as_deref())),
                numbers: &numbers,
            };
            let applied = store.apply_sync(&settled, &incoming, &answer)?;
            report.dropped += applied.dropped;
            report.kept_out_of_scope += applied.kept;
            report.reference_updated |= response.reference.is_some();
            report.refused.extend(applied.refused);
            let p = &mut report.progress;
            p.round_trips += 1;
            p.documents_up += applied.stored as u64;
            p.documents_down += applied.documents as u64;
            p.bytes_up += sent as u64;
            p.bytes_down += received as u64;
            progress(report.progress);
            // Numbers come a page at a time to a device that held many records before the
            // server handed numbers out.
            let more_numbers = numbers_wanted.len() == xuncha_protocol::MAX_ENTRIES as usize && !numbers.is_empty();
            let still_wanted = (!store.sync_wants()?.is_empty() && !incoming.is_empty()) || more_numbers;
            if !response.more && !need_full && !still_wanted && store.outbox_status()?.0 == 0 {
                // Attachments travel after the records that reference them.
                for upload in self.upload_attachments(store, ATTACHMENT_PIECE).await? {
                    report.progress.bytes_up += upload.sent;
                }
                return Ok(report);
            }
        }
        Err(SyncError::BadResponse("sync did not settle".into()))
    }

    /// Uploads every attachment the server does not hold whole, each resuming from the last
    /// byte the server has, in pieces of `piece` bytes.
    pub async fn upload_attachments(
        &self,
        store: &mut Store,
        piece: usize,
    ) -> Result<Vec<AttachmentUpload>, SyncError> {
        let token = store.sync_value(DEVICE_TOKEN)?.ok_or(SyncError::NotEnrolled)?;
        let mut done = Vec::new();
        for info in store.attachments_to_upload()? {
            done.push(self.push_attachment(store, &token, &info, piece).await?);
            store.mark_attachment_uploaded(&info.sha256)?;
        }
        Ok(done)
    }

    /// Sends one attachment to this server with `token`, resuming from the last byte it
    /// holds of this device's upload, in pieces of `piece` bytes. (`store` is taken
    /// mutably only so that the future stays `Send`: a shared `Store` is not `Sync`.)
    pub(crate) async fn push_attachment(
        &self,
        store: &mut Store,
        token: &str,
        info: &xuncha_store::AttachmentInfo,
        piece: usize,
    ) -> Result<AttachmentUpload, SyncError> {
        let path = format!("/v1/attachments/{}", info.sha256);
        let head = self.request(reqwest::Method::HEAD, &path, token).send().await.map_err(|e| self.unreachable(e))?;
        let mut offset: u64 = match head.status().as_u16() {
            200 => received_of(&head),
            404 => 0,
            _ => return Err(self.error_from(head).await),
        };
        let resumed_from = offset;
        let mut sent = 0u64;
        while offset < info.size {
            let bytes = store.attachment_range(&info.sha256, offset, piece)?;
            let len = bytes.len() as u64;
            let response = self
                .request(reqwest::Method::PUT, &format!("{path}?offset={offset}&size={}", info.size), token)
                .body(bytes)
                .send()
                .await
                .map_err(|e| self.unreachable(e))?;
            if !response.status().is_success() {
                return Err(self.error_from(response).await);
            }
            sent += len;
            offset = received_of(&response);
        }
        Ok(AttachmentUpload { sha256: info.sha256.clone(), size: info.size, resumed_from, sent })
    }

    /// Fetches an attachment this device does not hold (on demand: photos are large).
    pub async fn download_attachment(&self, store: &mut Store, sha256: &str, mime: &str) -> Result<Vec<u8>, SyncError> {
        let token = store.sync_value(DEVICE_TOKEN)?.ok_or(SyncError::NotEnrolled)?;
        let bytes = self.fetch_attachment(&token, sha256).await?;
        store.put_downloaded_attachment(sha256, &bytes, mime, 0)?;
        Ok(bytes)
    }

    /// An attachment's bytes from this server, fetched with `token`.
    pub(crate) async fn fetch_attachment(&self, token: &str, sha256: &str) -> Result<Vec<u8>, SyncError> {
        let response = self
            .request(reqwest::Method::GET, &format!("/v1/attachments/{sha256}"), token)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(self.error_from(response).await);
        }
        Ok(response.bytes().await.map_err(|e| self.unreachable(e))?.to_vec())
    }

    /// Whether the server answers at all (a short health check).
    pub async fn reachable(&self) -> bool {
        let probe = self.http.get(format!("{}/healthz", self.base)).timeout(Duration::from_secs(3)).send().await;
        probe.is_ok_and(|r| r.status().is_success())
    }

    /// Background sync: whenever the server is reachable, sync; when it is not, wait and
    /// look again, backing off while syncs fail. Runs until `stop` turns true, or until the
    /// server says the device is revoked or unknown. Every attempt is reported to `on_event`.
    pub async fn run_background(
        &self,
        store: &mut Store,
        every: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
        mut on_event: impl FnMut(BackgroundEvent),
    ) -> Result<(), SyncError> {
        let mut wait = every;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            if self.reachable().await {
                match self.sync(store, |p| on_event(BackgroundEvent::Progress(p))).await {
                    Ok(report) => {
                        on_event(BackgroundEvent::Synced(report));
                        wait = every;
                    }
                    Err(error) if error.is_transient() => {
                        on_event(BackgroundEvent::Failed(error.to_string()));
                        wait = (wait * 2).min(Duration::from_secs(300));
                    }
                    Err(error) => return Err(error),
                }
            } else {
                on_event(BackgroundEvent::Offline);
                wait = every;
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// [`Client::sync`], retried with exponential backoff and jitter while the failure is
    /// transient (no connection, server busy), at most `attempts` times.
    pub async fn sync_with_retry(
        &self,
        store: &mut Store,
        attempts: u32,
        mut progress: impl FnMut(Progress),
    ) -> Result<SyncReport, SyncError> {
        let mut delay = Duration::from_millis(200);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.sync(store, &mut progress).await {
                Err(error) if error.is_transient() && attempt < attempts => {
                    let jitter = rand::rng().random_range(0..=delay.as_millis() as u64 / 2);
                    tracing::info!(%error, attempt, "sync failed; retrying");
                    tokio::time::sleep(delay + Duration::from_millis(jitter)).await;
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
                other => return other,
            }
        }
    }
}
