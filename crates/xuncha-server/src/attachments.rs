//! Attachments over HTTP, content addressed by SHA-256.
//!
//! - `PUT` sends a device's own upload in pieces that resume from the last byte the server
//!   holds of *that device's* upload; a size claim binds no other device. When the last
//!   piece arrives the bytes are hashed a piece at a time; if they match, the device holds
//!   the attachment (it proved it has the bytes) and the attachment is stored once, however
//!   many devices and records use it. Each device may hold or send so many bytes (quota).
//! - `GET` streams the bytes a piece at a time, to a device that may see a record that
//!   references the attachment, when a device holding it could see that record too: a hash
//!   copied into another township's record reads nothing.
//! - `HEAD` tells a device where to resume its own upload, and nothing about anyone else's.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use xuncha_protocol::{ErrorCode, codes};

use crate::storage::{Device, Tx, User, with_tx};
use crate::{ApiError, AppState, authenticated, blocking, read_body, scope};

/// The header that carries how many bytes of an attachment the server holds.
pub const RECEIVED_HEADER: &str = "x-xuncha-received";
/// The largest piece one `PUT` may carry.
pub const MAX_PIECE: usize = 4 * 1024 * 1024;

fn valid_sha(sha256: &str) -> Result<(), ApiError> {
    if sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(ApiError::bad_body("the attachment name must be a lower-case hex SHA-256"))
    }
}

fn received_response(status: StatusCode, received: u64, size: u64) -> Response {
    let mut response = status.into_response();
    let headers = response.headers_mut();
    headers.insert(RECEIVED_HEADER, HeaderValue::from(received));
    headers.insert("x-xuncha-size", HeaderValue::from(size));
    response
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "找不到附件或无权查看 / no such attachment for this device",
    )
}

/// `HEAD /v1/attachments/{sha256}`: how much of its own upload the server holds.
pub async fn head(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
) -> Response {
    let result = async {
        valid_sha(&sha256)?;
        let (device, _) = authenticated(&state, peer, &headers).await?;
        blocking(move || Ok(with_tx(state.storage.as_ref(), false, |tx| tx.upload_state(&sha256, &device.id))?)).await
    }
    .await;
    match result {
        Ok(Some(s)) => received_response(StatusCode::OK, s.received, s.size),
        Ok(None) => received_response(StatusCode::NOT_FOUND, 0, 0),
        Err(error) => error.into_response(),
    }
}

/// Where a piece goes.
#[derive(Debug, Deserialize)]
pub struct PieceQuery {
    pub offset: u64,
    pub size: u64,
}

fn over_quota(used: u64, size: u64, quota: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::QUOTA,
        format!(
            "本设备在服务器上的附件已达上限（已用 {used} 字节，本附件 {size} 字节，上限 {quota} 字节），请联系管理员 / this device's attachments on the server would exceed its quota ({used} bytes used, {size} more, {quota} allowed); ask the administrator"
        ),
    )
}

/// `PUT /v1/attachments/{sha256}?offset=N&size=S`: the bytes from `offset` of the
/// device's own upload.
pub async fn put(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
    piece: Result<Query<PieceQuery>, QueryRejection>,
    body: Body,
) -> Response {
    let result = async {
        valid_sha(&sha256)?;
        // A missing or malformed offset or size gets the same JSON error body as every other
        // refusal, not the framework's plain-text one.
        let Query(piece) = piece.map_err(|_| {
            ApiError::bad_body(
                "偏移量和大小须为非负整数（?offset=N&size=S） / offset and size must be non-negative integers (?offset=N&size=S)",
            )
        })?;
        let (device, _) = authenticated(&state, peer, &headers).await?;
        let quota = state.limits.attachment_quota;
        if piece.size > quota {
            return Err(over_quota(0, piece.size, quota));
        }
        let bytes = read_body(&state, body, MAX_PIECE).await?;
        blocking(move || {
            let now = state.clock.now_ms();
            // The last piece, the check against the hash and the verdict are one transaction:
            // a crash can never leave a whole but unchecked attachment behind.
            let (received, size, valid) = with_tx(state.storage.as_ref(), true, |tx| {
                match tx.upload_state(&sha256, &device.id)? {
                    // Held already: what the server holds, whatever this request claims.
                    Some(held) if held.held => return Ok(Ok((held.size, held.size, true))),
                    Some(_) => {}
                    None => {
                        let used = tx.attachment_usage(&device.id)?;
                        if used.saturating_add(piece.size) > quota {
                            return Ok(Err(over_quota(used, piece.size, quota)));
                        }
                    }
                }
                let received = tx.append_upload(&sha256, &device.id, piece.size, piece.offset, &bytes, now)?;
                if received < piece.size {
                    return Ok(Ok((received, piece.size, true)));
                }
                let valid = tx.upload_digest(&sha256, &device.id)? == sha256;
                tx.finish_upload(&sha256, &device.id, valid, now)?;
                Ok(Ok((received, piece.size, valid)))
            })??;
            if !valid {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorCode::AttachmentMismatch,
                    "附件内容与哈希不符，已丢弃，请重新上传 / the bytes do not match their SHA-256; they were discarded, upload again",
                ));
            }
            Ok((received, size))
        })
        .await
    }
    .await;
    match result {
        Ok((received, size)) => received_response(StatusCode::OK, received, size),
        Err(error) => error.into_response(),
    }
}

/// Whether `device` (of `user`) may read the attachment: a record it may see references
/// it, and a device holding the attachment could see that record too.
pub fn may_read(tx: &mut dyn Tx, sha256: &str, device: &Device, user: &User) -> crate::storage::Result<bool> {
    let reader = scope::visibility(tx, device, user)?;
    let records = tx.attachment_records(sha256, &reader)?;
    if records.is_empty() {
        return Ok(false);
    }
    for holder in tx.attachment_holders(sha256)? {
        if holder == device.id {
            return Ok(true);
        }
        let Some(holder) = tx.device(&holder)? else { continue };
        let Some(holder_user) = tx.user(&holder.user_id)? else { continue };
        let theirs = scope::visibility(tx, &holder, &holder_user)?;
        if tx.attachment_records(sha256, &theirs)?.iter().any(|r| records.contains(r)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `GET /v1/attachments/{sha256}`: the bytes, streamed a piece at a time.
pub async fn get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
) -> Response {
    let result = async {
        valid_sha(&sha256)?;
        let (device, user) = authenticated(&state, peer, &headers).await?;
        let storage = state.storage.clone();
        let sha = sha256.clone();
        let size = blocking(move || {
            with_tx(storage.as_ref(), false, |tx| {
                let Some(held) = tx.attachment_state(&sha)?.filter(|s| s.complete) else { return Ok(None) };
                Ok(may_read(tx, &sha, &device, &user)?.then_some(held.size))
            })?
            .ok_or_else(not_found)
        })
        .await?;
        Ok::<_, ApiError>((size, stream(&state, sha256)))
    }
    .await;
    match result {
        Ok((size, body)) => {
            let mut response = body.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            response
        }
        Err(error) => error.into_response(),
    }
}

/// The bytes of a complete attachment as a body: one piece in memory at a time, each read
/// in its own short transaction.
fn stream(state: &AppState, sha256: String) -> Body {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let storage = state.storage.clone();
    tokio::task::spawn_blocking(move || {
        let mut offset = 0u64;
        loop {
            let piece = with_tx(storage.as_ref(), false, |tx| tx.attachment_piece(&sha256, offset));
            let item = match piece {
                Ok(Some((start, data))) => {
                    let skip = usize::try_from(offset - start).unwrap_or(0);
                    offset = start + data.len() as u64;
                    Ok(Bytes::from(data).slice(skip..))
                }
                Ok(None) => return,
                Err(error) => {
                    tracing::error!(%error, sha256, "reading an attachment failed");
                    Err(std::io::Error::other(error.to_string()))
                }
            };
            let failed = item.is_err();
            if sender.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    Body::from_stream(futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    }))
}
