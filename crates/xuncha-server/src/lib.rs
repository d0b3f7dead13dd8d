//! The central Xuncha server (axum + tokio): device enrollment and authentication, roles
//! and jurisdictions, the one-round-trip sync endpoint, and the audit log. Storage sits
//! behind the [`Storage`] trait; SQLite in a data directory is the default backend.

pub mod admin;
pub mod at_rest;
pub mod attachments;
pub mod auth;
pub mod baseline;
pub mod chain;
mod error;
pub mod evidence;
pub mod import;
pub mod limits;
pub mod protected_key;
pub mod reference;
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
    /// Failed authentication per address.
    pub failures: Arc<limits::FailedAuth>,
}

impl AppState {
    /// A server over `storage`, on the system clock.
    pub fn new(storage: Arc<dyn Storage>) -> AppState {
        AppState { storage, clock: Arc::new(SystemClock), baseline: None, failures: Arc::default() }
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
        .route("/openapi.json", get(openapi))
        .route("/v1/info", get(info))
        .route("/v1/enroll", post(enroll))
        .route("/v1/sync", post(sync_handler))
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

/// Serves `router` on `listener` until `shutdown` resolves; requests under way finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

async fn healthz() -> &'static str {
    "ok"
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
        "认证失败次数过多，请一分钟后再试 / too many failed attempts from this address; wait a minute and try again",
    )
}

/// Refuses an address that failed authentication too often, and counts this request's
/// failure if it is one.
pub(crate) fn guard<T>(
    state: &AppState,
    ip: std::net::IpAddr,
    work: impl FnOnce() -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let now = state.clock.now_ms();
    if state.failures.blocked(ip, now) {
        return Err(rate_limited());
    }
    let result = work();
    if let Err(error) = &result
        && (error.code == codes::UNAUTHORIZED || error.message.contains("enrollment code"))
    {
        state.failures.fail(ip, now);
    }
    result
}

pub(crate) fn check_protocol(headers: &HeaderMap) -> Result<(), ApiError> {
    let version = headers.get(PROTOCOL_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u32>().ok());
    match version {
        Some(PROTOCOL_VERSION) => Ok(()),
        other => Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            codes::UPGRADE,
            format!(
                "协议版本 {} 与服务器（{PROTOCOL_VERSION}）不符，请更新巡察通 / protocol version {} does not match the server's ({PROTOCOL_VERSION}); update Xuncha",
                other.map_or("?".to_owned(), |v| v.to_string()),
                other.map_or("?".to_owned(), |v| v.to_string())
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

/// Reads a body of at most `limit` bytes.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::TOO_LARGE,
            format!("请求超过 {limit} 字节，请分批发送 / the request is larger than {limit} bytes; send it in smaller batches"),
        )
    })
}

async fn enroll(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        check_protocol(&headers)?;
        let body = read_body(body, 64 * 1024).await?;
        let request: EnrollRequest = serde_json::from_slice(&body).map_err(ApiError::bad_body)?;
        let actor_ok = request.actor.len() == 32 && request.actor.bytes().all(|b| b.is_ascii_hexdigit());
        if !actor_ok {
            return Err(ApiError::bad_body("actor must be 16 bytes of hex"));
        }
        if let Some(keys) = &request.keys {
            check_keys(keys)?;
        }
        blocking(move || guard(&state.clone(), peer.ip(), || {
            let now = state.clock.now_ms();
            let token = auth::new_token();
            let device_id = auth::new_device_id();
            let hash = auth::hash_secret(&auth::normalise_code(&request.code));
            let (user, server_id, protected_key) = with_tx(state.storage.as_ref(), true, |tx| {
                let user = tx.redeem_enrollment(&hash, &device_id, now).map_err(|e| match e {
                    StorageError::NotFound(_) => StorageError::Conflict(
                        "注册码无效，请向管理员索取新的注册码 / unknown enrollment code; ask the administrator for a new one".into(),
                    ),
                    other => other,
                })?;
                let device = Device {
                    id: device_id.clone(),
                    user_id: user.id.clone(),
                    name: request.device_name.clone(),
                    actor: request.actor.to_lowercase(),
                    created_at_ms: now,
                    revoked_at_ms: None,
                    last_sync_ms: None,
                    signing_key: request.keys.as_ref().map(|k| k.signing.trim().to_lowercase()),
                    sealing_key: request.keys.as_ref().map(|k| k.sealing.trim().to_owned()),
                };
                tx.add_device(&device, &auth::hash_secret(&token))?;
                tx.audit(&AuditEntry {
                    at_ms: now,
                    user_id: Some(user.id.clone()),
                    device_id: Some(device_id.clone()),
                    action: "device.enroll".into(),
                    detail: serde_json::json!({ "name": request.device_name }),
                })?;
                Ok((user, tx.server_id()?, tx.protected_key()?))
            })
            .map_err(|e| match e {
                // An unknown, used or expired code is a refusal, not a conflict of state.
                StorageError::Conflict(message) if message.contains("enrollment code") => {
                    ApiError::new(StatusCode::FORBIDDEN, "bad_enrollment_code", message)
                }
                other => other.into(),
            })?;
            Ok(EnrollResponse { device_id, token, user: user_info(&user), server_id, protected_key })
        }))
        .await
    }
    .await;
    match result {
        Ok(response) => Json(response).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Refuses public keys that are not a valid Ed25519 key and an X25519 `age1…` recipient.
fn check_keys(keys: &xuncha_protocol::DeviceKeys) -> Result<(), ApiError> {
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
    let result = async {
        check_protocol(&headers)?;
        let token = bearer(&headers)?;
        let body = read_body(body, xuncha_protocol::MAX_REQUEST_BYTES).await?;
        let request: SyncRequest =
            xuncha_protocol::decode(&body, xuncha_protocol::MAX_DECODED_BYTES).map_err(|e| match e {
                xuncha_protocol::ProtocolError::TooLarge { .. } => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, codes::TOO_LARGE, e.to_string())
                }
                other => ApiError::bad_body(other),
            })?;
        let bytes_in = body.len();
        blocking(move || guard(&state, peer.ip(), || sync_once(&state, &token, &request, bytes_in))).await
    }
    .await;
    match result {
        Ok(body) => {
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
    if user.role == Role::Administrator {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "管理员账号不同步巡察记录 / administrator accounts do not sync records",
        ));
    }
    Ok((device, user))
}

/// One sync, end to end, on the blocking pool.
fn sync_once(state: &AppState, token: &str, request: &SyncRequest, bytes_in: usize) -> Result<Vec<u8>, ApiError> {
    let storage = state.storage.as_ref();
    let now = state.clock.now_ms();
    let (mut device, user) = authenticate(state, token)?;
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
    let (page, reference) = with_tx(storage, false, |tx| {
        let page = sync::read_entries(tx, &who, &legacy, request)?;
        let reference = reference::update(tx, &who, &teams, &request.reference_tag)?;
        Ok((page, reference))
    })?;
    let response = SyncResponse {
        acks,
        entries: page.entries,
        cursor: page.cursor,
        more: page.more,
        dropped: page.dropped,
        reference,
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
