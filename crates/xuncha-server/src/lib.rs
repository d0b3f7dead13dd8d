//! The central Xuncha server (axum + tokio): device enrollment and authentication, roles
//! and jurisdictions, the one-round-trip sync endpoint, and the audit log. Storage sits
//! behind the [`Storage`] trait; SQLite in a data directory is the default backend.

pub mod admin;
pub mod at_rest;
pub mod attachments;
pub mod auth;
pub mod backup;
pub mod baseline;
pub mod blobs;
pub mod bundles;
pub mod chain;
mod error;
pub mod evidence;
pub mod import;
pub mod limits;
pub mod listen;
pub mod metrics;
#[cfg(feature = "province")]
pub mod pg;
pub mod protected_key;
pub mod reference;
pub mod relay;
pub mod scope;
pub mod sqlite;
pub mod storage;
mod sync;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use xuncha_protocol::{
    EnrollRequest, EnrollResponse, PROTOCOL_HEADER, PROTOCOL_VERSION, Role, SYNC_CONTENT_TYPE, SyncRequest,
    SyncResponse, UserInfo, codes,
};

pub use error::ApiError;
#[cfg(feature = "province")]
pub use pg::PgStorage;
pub use sqlite::SqliteStorage;
pub use storage::{Storage, StorageError};

use crate::storage::{AuditEntry, Device, User, with_tx};

/// The wall clock, behind a trait so tests and simulations can set the time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub storage: Arc<dyn Storage>,
    pub clock: Arc<dyn Clock>,
    /// The standard Automerge sync protocol endpoint, for benchmarks only.
    pub baseline: Option<Arc<baseline::Baseline>>,
    /// Failed authentication per address and per credential.
    pub failures: Arc<limits::FailedAuth>,
    /// The limits the server serves under.
    pub limits: Arc<limits::Limits>,
    /// Set when the server serves as a team relay on a team lead's device.
    pub relay: Option<Arc<relay::Relay>>,
    /// What `/metrics` reports.
    pub metrics: Arc<metrics::Metrics>,
}

impl AppState {
    /// A server over `storage`, on the system clock.
    pub fn new(storage: Arc<dyn Storage>) -> AppState {
        AppState {
            storage,
            clock: Arc::new(SystemClock),
            baseline: None,
            failures: Arc::default(),
            limits: Arc::default(),
            relay: None,
            metrics: Arc::default(),
        }
    }

    /// Serves under `limits` instead of the defaults.
    pub fn with_limits(mut self, limits: limits::Limits) -> AppState {
        self.limits = Arc::new(limits);
        self
    }

    /// Also serve the standard Automerge sync protocol, as a benchmark baseline.
    pub fn with_baseline(mut self) -> AppState {
        self.baseline = Some(Arc::new(baseline::Baseline::default()));
        self
    }
}

impl std::fmt::Debug for dyn Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Storage")
    }
}

/// The HTTP API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .route("/openapi.json", get(openapi))
        .route("/v1/info", get(info))
        .route("/v1/enroll", post(enroll))
        .route("/v1/sync", post(sync_handler))
        .route("/v1/relay/join", post(relay::join))
        .route("/v1/bench/automerge-sync", post(baseline::handler))
        .route(
            "/v1/attachments/{sha256}",
            axum::routing::put(attachments::put).get(attachments::get).head(attachments::head),
        )
        // Bodies are read with their own limits below, so that an oversized body gets
        // the same clear error body as every other refusal.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

pub use listen::{Tls, serve, serve_with};

async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: whether this replica can serve, its storage and its attachment store
/// answering (a load balancer sends no syncs to one that cannot reach either).
async fn readyz(State(state): State<AppState>) -> Response {
    let storage = state.storage.clone();
    match blocking(move || Ok(with_tx(storage.as_ref(), false, |tx| tx.server_id())?)).await {
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(message = %error.message, "not ready: storage does not answer");
            return (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response();
        }
    }
    let storage = state.storage.clone();
    match blocking(move || Ok(storage.blobs().map(|b| b.check()).transpose()?)).await {
        Ok(_) => "ready".into_response(),
        Err(error) => {
            tracing::warn!(message = %error.message, "not ready: the attachment store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "attachment store unavailable").into_response()
        }
    }
}

/// `GET /metrics`, for a scraper on the replica's own host: a request from elsewhere, or
/// passed on by a proxy, is answered as an unknown path.
async fn metrics_handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !peer.ip().is_loopback() || headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let storage = state.storage.clone();
    let head = blocking(move || Ok(with_tx(storage.as_ref(), false, |tx| tx.max_seq())?)).await.ok();
    let text = state.metrics.render(&state.storage.stats(), head);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// `GET /v1/info`: the server's identity, for a device checking a new address.
async fn info(State(state): State<AppState>) -> Response {
    let storage = state.storage.clone();
    match blocking(move || Ok(with_tx(storage.as_ref(), false, |tx| tx.server_id())?)).await {
        Ok(server_id) => Json(xuncha_protocol::ServerInfo { server_id, protocol: PROTOCOL_VERSION }).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

fn rate_limited() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        codes::RATE_LIMITED,
        "认证失败次数过多，请一分钟后再试 / too many failed attempts; wait a minute and try again",
    )
}

/// The device and user behind a request's token, on the blocking pool, before any of its
/// body is read. A valid token is always let through; an unknown one is counted against
/// itself and against the client's address, and refused for a minute once either has
/// failed too often.
pub(crate) async fn authenticated(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<(Device, User), ApiError> {
    check_protocol(headers)?;
    let token = bearer(headers)?;
    let client = state.limits.client(peer.ip(), headers);
    let state = state.clone();
    blocking(move || {
        let now = state.clock.now_ms();
        let credential = limits::Key::Credential(auth::hash_secret(&token));
        if state.failures.blocked(&credential, now) {
            return Err(rate_limited());
        }
        match authenticate(&state, &token) {
            Err(error) if error.code == codes::UNAUTHORIZED => {
                let address = limits::Key::Address(client);
                let blocked = state.failures.blocked(&address, now);
                state.failures.fail(&[credential, address], now);
                Err(if blocked { rate_limited() } else { error })
            }
            other => other,
        }
    })
    .await
}

pub(crate) fn check_protocol(headers: &HeaderMap) -> Result<(), ApiError> {
    let version = headers.get(PROTOCOL_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u32>().ok());
    match version {
        Some(PROTOCOL_VERSION) => Ok(()),
        // Every Xuncha app sends a version: a request without one (or with no number) did
        // not come from one, and telling its user to update would mislead.
        None | Some(0) => Err(ApiError::bad_body(format!(
            "缺少协议版本头 {PROTOCOL_HEADER}（应为 {PROTOCOL_VERSION}） / the {PROTOCOL_HEADER} header is missing or not a version number (this server speaks {PROTOCOL_VERSION})"
        ))),
        Some(other) => Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            codes::UPGRADE,
            format!(
                "协议版本 {other} 与服务器（{PROTOCOL_VERSION}）不符，请更新巡察通 / protocol version {other} does not match the server's ({PROTOCOL_VERSION}); update Xuncha"
            ),
        )),
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthorized)
}

pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)?
}

/// Reads a body of at most `limit` bytes, within the body timeout.
pub(crate) async fn read_body(state: &AppState, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let timeout = state.limits.body_timeout;
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::TOO_LARGE,
            format!(
                "请求超过 {limit} 字节，请分批发送 / the request is larger than {limit} bytes; send it in smaller batches"
            ),
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            codes::TIMEOUT,
            format!(
                "请求未在 {} 秒内传完，请在网络较好时重试 / the request did not arrive within {} seconds; retry on a better connection",
                timeout.as_secs(),
                timeout.as_secs()
            ),
        )),
    }
}

async fn enroll(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        check_protocol(&headers)?;
        let address = code_address(&state, peer, &headers)?;
        let body = read_body(&state, body, 64 * 1024).await?;
        let request: EnrollRequest = serde_json::from_slice(&body).map_err(ApiError::bad_body)?;
        check_device(&request.actor, &request.device_name)?;
        if let Some(keys) = &request.keys {
            check_keys(keys)?;
        }
        let credential = limits::Key::Credential(auth::hash_secret(&auth::normalise_code(&request.code)));
        if state.failures.blocked(&credential, state.clock.now_ms()) {
            return Err(rate_limited());
        }
        blocking(move || {
            let now = state.clock.now_ms();
            let token = auth::new_token();
            let actor = request.actor.to_lowercase();
            let (device_id, user, server_id, protected_key) = with_tx(state.storage.as_ref(), true, |tx| {
                // A tablet enrolling again (same actor) keeps its device and gets a new
                // token; the old one stops working.
                let existing = tx.device_by_actor(&actor)?;
                let device_id = existing.as_ref().map_or_else(auth::new_device_id, |d| d.id.clone());
                let user = tx.redeem_enrollment(&request.code, &device_id, now)?;
                let action = match existing {
                    Some(existing) => {
                        again(&existing, &user, request.keys.as_ref())?;
                        tx.rotate_token(&existing.id, &auth::hash_secret(&token), &request.device_name, now)?;
                        "device.reenroll"
                    }
                    None => {
                        let device = Device {
                            id: device_id.clone(),
                            user_id: user.id.clone(),
                            name: request.device_name.clone(),
                            actor: actor.clone(),
                            created_at_ms: now,
                            token_issued_at_ms: now,
                            revoked_at_ms: None,
                            last_sync_ms: None,
                            signing_key: request.keys.as_ref().map(|k| k.signing.trim().to_lowercase()),
                            sealing_key: request.keys.as_ref().map(|k| k.sealing.trim().to_owned()),
                        };
                        tx.add_device(&device, &auth::hash_secret(&token))?;
                        "device.enroll"
                    }
                };
                tx.audit(&AuditEntry {
                    at_ms: now,
                    user_id: Some(user.id.clone()),
                    device_id: Some(device_id.clone()),
                    action: action.into(),
                    detail: serde_json::json!({ "name": request.device_name }),
                })?;
                Ok((device_id, user, tx.server_id()?, tx.protected_key()?))
            })
            .map_err(|e| match e {
                // An unknown, used, cancelled or expired code is a refusal, not a conflict of state.
                StorageError::BadCode(message) => {
                    state.failures.fail(&[credential, address], now);
                    ApiError::new(StatusCode::FORBIDDEN, codes::BAD_ENROLLMENT_CODE, message)
                }
                other => other.into(),
            })?;
            Ok(EnrollResponse { device_id, token, user: user_info(&user), server_id, protected_key })
        })
        .await
    }
    .await;
    match result {
        Ok(response) => Json(response).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The address of a request that offers a code, unless it failed too often: codes are
/// guessable in a way tokens are not, so such an address is refused before it may try
/// another.
pub(crate) fn code_address(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> Result<limits::Key, ApiError> {
    let address = limits::Key::Address(state.limits.client(peer.ip(), headers));
    if state.failures.blocked(&address, state.clock.now_ms()) {
        return Err(rate_limited());
    }
    Ok(address)
}

/// Refuses a device's actor that is not 16 bytes of hex, and a bad device name.
pub(crate) fn check_device(actor: &str, name: &str) -> Result<(), ApiError> {
    if actor.len() != 32 || !actor.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_body("actor must be 16 bytes of hex"));
    }
    check_device_name(name)
}

/// Whether a device already registered may enroll again for `user`: the same user, not
/// revoked, the same keys.
fn again(existing: &Device, user: &User, keys: Option<&xuncha_protocol::DeviceKeys>) -> Result<(), StorageError> {
    if existing.user_id != user.id {
        return Err(StorageError::Conflict(format!(
            "此平板已为用户 {} 注册，请先清除本机数据再为 {} 注册 / this tablet is enrolled for user {}; wipe it before enrolling it for {}",
            existing.user_id, user.id, existing.user_id, user.id
        )));
    }
    if existing.revoked_at_ms.is_some() {
        return Err(StorageError::Conflict(
            "此平板已被注销，请清除本机数据后作为新设备注册 / this tablet was revoked; wipe it and enroll it as a new device".into(),
        ));
    }
    let same_keys = match (keys, &existing.signing_key) {
        (Some(keys), Some(registered)) => registered.eq_ignore_ascii_case(keys.signing.trim()),
        _ => true,
    };
    if !same_keys {
        return Err(StorageError::Conflict(
            "此平板的密钥与登记的不符，请清除本机数据后作为新设备注册 / this tablet's keys differ from the ones registered; wipe it and enroll it as a new device".into(),
        ));
    }
    Ok(())
}

/// The longest device name, in characters.
pub const MAX_DEVICE_NAME: usize = 64;

/// Refuses a device name that is empty, too long, or holds control characters (which
/// could forge lines of the administrator's device list).
fn check_device_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().count() > MAX_DEVICE_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::bad_body(format!(
            "设备名称须为 1 至 {MAX_DEVICE_NAME} 个字符且不含控制字符 / the device name must be 1 to {MAX_DEVICE_NAME} characters without control characters"
        )));
    }
    Ok(())
}

/// Refuses public keys that are not a valid Ed25519 key and an X25519 `age1…` recipient.
pub(crate) fn check_keys(keys: &xuncha_protocol::DeviceKeys) -> Result<(), ApiError> {
    if xuncha_domain::signing::public_key(&keys.signing).is_none() {
        return Err(ApiError::bad_body("the signing key must be an Ed25519 public key in hex"));
    }
    if <age::x25519::Recipient as std::str::FromStr>::from_str(keys.sealing.trim()).is_err() {
        return Err(ApiError::bad_body("the sealing key must be an age X25519 recipient (age1…)"));
    }
    Ok(())
}

/// Registers the keys of a device enrolled before keys existed (on its first sync that
/// sends them, under its token), and refuses a device whose keys changed: the keys are
/// what its changes are checked against, so they never change silently.
fn register_keys(
    state: &AppState,
    device: &mut Device,
    keys: Option<&xuncha_protocol::DeviceKeys>,
) -> Result<(), ApiError> {
    let Some(keys) = keys else { return Ok(()) };
    match &device.signing_key {
        Some(registered) if registered.eq_ignore_ascii_case(keys.signing.trim()) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::KEY_MISMATCH,
            "本设备的密钥与登记的不符，请管理员注销本设备后重新注册 / this device's keys differ from the ones registered for it; ask the administrator to revoke it, then enroll again",
        )),
        None => {
            check_keys(keys)?;
            let (signing, sealing) = (keys.signing.trim().to_lowercase(), keys.sealing.trim().to_owned());
            with_tx(state.storage.as_ref(), true, |tx| {
                tx.set_device_keys(&device.id, &signing, &sealing)?;
                tx.audit(&AuditEntry {
                    at_ms: state.clock.now_ms(),
                    user_id: Some(device.user_id.clone()),
                    device_id: Some(device.id.clone()),
                    action: "device.keys".into(),
                    detail: serde_json::json!({ "signing_key": signing }),
                })
            })?;
            device.signing_key = Some(signing);
            device.sealing_key = Some(sealing);
            Ok(())
        }
    }
}

fn user_info(user: &User) -> UserInfo {
    UserInfo { id: user.id.clone(), name: user.name.clone(), role: user.role, jurisdiction: user.jurisdiction.clone() }
}

async fn sync_handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = std::time::Instant::now();
    let metrics = Arc::clone(&state.metrics);
    let result = async {
        // Nothing of the body is read, let alone inflated or parsed, before the token is known.
        let (device, user) = authenticated(&state, peer, &headers).await?;
        let body = read_body(&state, body, xuncha_protocol::MAX_REQUEST_BYTES).await?;
        let request: SyncRequest =
            xuncha_protocol::decode(&body, xuncha_protocol::MAX_REQUEST_DECODED_BYTES).map_err(|e| match e {
                xuncha_protocol::ProtocolError::TooLarge { .. } => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, codes::TOO_LARGE, e.to_string())
                }
                other => ApiError::bad_body(other),
            })?;
        let max = state.limits.max_uploads;
        if request.uploads.len() > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::TOO_LARGE,
                format!(
                    "一次同步最多上传 {max} 份文档（本次 {}），请更新巡察通 / at most {max} uploads per sync request ({} sent); update Xuncha",
                    request.uploads.len(),
                    request.uploads.len()
                ),
            ));
        }
        let bytes_in = body.len();
        blocking(move || sync_once(&state, device, user, &request, bytes_in)).await.map(|out| (out, bytes_in))
    }
    .await;
    metrics.sync(
        result.is_ok(),
        started.elapsed(),
        result.as_ref().map_or(0, |(_, bytes_in)| *bytes_in),
        result.as_ref().map_or(0, |(out, _)| out.len()),
    );
    match result {
        Ok((body, _)) => {
            let mut response = body.into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SYNC_CONTENT_TYPE));
            response
        }
        Err(error) => error.into_response(),
    }
}

/// The device and user behind a token; revoked devices are told to wipe, administrators
/// do not sync records.
pub(crate) fn authenticate(state: &AppState, token: &str) -> Result<(Device, User), ApiError> {
    let token_hash = auth::hash_secret(token);
    let (device, user) = with_tx(state.storage.as_ref(), false, |tx| {
        let Some(device) = tx.device_by_token(&token_hash)? else { return Ok(None) };
        let user = tx.user(&device.user_id)?;
        Ok(user.map(|u| (device, u)))
    })?
    .ok_or_else(ApiError::unauthorized)?;
    if device.revoked_at_ms.is_some() {
        return Err(ApiError::revoked());
    }
    if user.disabled_at_ms.is_some() {
        return Err(ApiError::disabled());
    }
    if let Some(lifetime) = state.limits.token_lifetime_ms
        && device.token_issued_at_ms.saturating_add(lifetime) < state.clock.now_ms()
    {
        return Err(ApiError::expired());
    }
    if user.role == Role::Administrator {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            xuncha_protocol::ErrorCode::Forbidden,
            "管理员账号不同步巡察记录 / administrator accounts do not sync records",
        ));
    }
    Ok((device, user))
}

/// One sync, end to end, on the blocking pool.
fn sync_once(
    state: &AppState,
    mut device: Device,
    user: User,
    request: &SyncRequest,
    bytes_in: usize,
) -> Result<Vec<u8>, ApiError> {
    let storage = state.storage.as_ref();
    let now = state.clock.now_ms();
    register_keys(state, &mut device, request.keys.as_ref())?;
    let teams = with_tx(storage, false, |tx| tx.teams_of(&user.id))?;
    let who = storage::Visibility { device_id: device.id.clone(), scope: scope::read_scope(&user, &teams) };
    let acks = if request.uploads.is_empty() {
        Vec::new()
    } else {
        let by = sync::Uploader { device: &device, user: &user, who: &who, teams: &teams };
        with_tx(storage, true, |tx| sync::store_uploads(tx, &by, request, now))?
    };
    let legacy = scope::read_scope(&user, &[]);
    let (page, reference, numbers) = with_tx(storage, false, |tx| {
        let page = sync::read_entries(tx, &who, &legacy, request)?;
        let reference = reference::update(tx, &who, &teams, &request.reference_tag)?;
        let numbers = sync::numbers_for(tx, &who, request, &acks, &page.entries)?;
        Ok((page, reference, numbers))
    })?;
    let response = SyncResponse {
        acks,
        entries: page.entries,
        cursor: page.cursor,
        more: page.more,
        dropped: page.dropped,
        reference,
        numbers,
    };
    let body = xuncha_protocol::encode(&response);
    let entry = sync::audit_entry(&device, request, &response, bytes_in, body.len(), now);
    tracing::info!(
        device = %device.id,
        user = %device.user_id,
        uploads = request.uploads.len(),
        entries = response.entries.len(),
        bytes_in,
        bytes_out = body.len(),
        more = response.more,
        "sync"
    );
    with_tx(storage, true, |tx| {
        if request.uploads.is_empty() {
            tx.touch_device(&device.id, now)?;
        }
        // The cursor names the scope it was made under; remember what that scope was.
        tx.remember_scope(&who.scope.fingerprint(), &who.scope)?;
        tx.audit(&entry)
    })?;
    Ok(body)
}
