//! Attachments over HTTP, content addressed by SHA-256: `PUT` in pieces that resume from
//! the last byte the server holds, checked against the hash when complete, stored once
//! however many records use them; `GET` only for devices that may see a record that
//! references them. `HEAD` tells a device where to resume.

use axum::body::Body;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::storage::{StorageError, with_tx};
use crate::{ApiError, AppState, authenticate, blocking, check_protocol, guard, read_body};

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

/// `HEAD /v1/attachments/{sha256}`: how much the server holds.
pub async fn head(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
) -> Response {
    let result = async {
        check_protocol(&headers)?;
        valid_sha(&sha256)?;
        let token = crate::bearer(&headers)?;
        blocking(move || {
            guard(&state, peer.ip(), || authenticate(&state, &token))?;
            Ok(with_tx(state.storage.as_ref(), false, |tx| tx.attachment_state(&sha256))?)
        })
        .await
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

/// `PUT /v1/attachments/{sha256}?offset=N&size=S`: the bytes from `offset`.
pub async fn put(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
    Query(piece): Query<PieceQuery>,
    body: Body,
) -> Response {
    let result = async {
        check_protocol(&headers)?;
        valid_sha(&sha256)?;
        let token = crate::bearer(&headers)?;
        let bytes = read_body(body, MAX_PIECE).await?;
        blocking(move || {
            guard(&state, peer.ip(), || authenticate(&state, &token))?;
            let now = state.clock.now_ms();
            let storage = state.storage.as_ref();
            // The last piece, the check against the hash and the verdict are one transaction:
            // a crash can never leave a whole but unchecked attachment behind.
            let outcome = with_tx(storage, true, |tx| {
                let received = tx.append_attachment(&sha256, piece.size, piece.offset, &bytes, now)?;
                if received < piece.size {
                    return Ok((received, true));
                }
                let all = tx.attachment_bytes(&sha256, 0)?;
                let valid = hex::encode(Sha256::digest(&all)) == sha256;
                tx.finish_attachment(&sha256, valid)?;
                Ok((received, valid))
            })
            .map_err(|e| match e {
                StorageError::Conflict(message) if message.starts_with("resume from ") => {
                    let held = message.trim_start_matches("resume from ").parse().unwrap_or(0);
                    ApiError::new(StatusCode::CONFLICT, "resume", format!("resume from {held} / 请从第 {held} 字节续传"))
                }
                other => other.into(),
            })?;
            let (received, valid) = outcome;
            if !valid {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "attachment_mismatch",
                    "附件内容与哈希不符，已丢弃，请重新上传 / the bytes do not match their SHA-256; they were discarded, upload again",
                ));
            }
            Ok((received, piece.size))
        })
        .await
    }
    .await;
    match result {
        Ok((received, size)) => received_response(StatusCode::OK, received, size),
        Err(error) => error.into_response(),
    }
}

/// `GET /v1/attachments/{sha256}`: the bytes, for a device that may see a record using them.
pub async fn get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
) -> Response {
    let result = async {
        check_protocol(&headers)?;
        valid_sha(&sha256)?;
        let token = crate::bearer(&headers)?;
        blocking(move || {
            let (device, user) = guard(&state, peer.ip(), || authenticate(&state, &token))?;
            with_tx(state.storage.as_ref(), false, |tx| {
                let who = crate::scope::visibility(tx, &device, &user)?;
                let complete = tx.attachment_state(&sha256)?.is_some_and(|s| s.complete);
                if !complete || !tx.attachment_visible(&sha256, &who)? {
                    return Ok(None);
                }
                tx.attachment_bytes(&sha256, 0).map(Some)
            })?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "找不到附件或无权查看 / no such attachment for this device",
                )
            })
        })
        .await
    }
    .await;
    match result {
        Ok(bytes) => bytes.into_response(),
        Err(error) => error.into_response(),
    }
}
