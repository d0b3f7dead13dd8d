//! The standard Automerge sync protocol, one document per exchange, over the same HTTP
//! transport: the baseline `xuncha bench sync` measures the cursor protocol against. Off
//! unless the server is started for a benchmark.

use std::collections::HashMap;
use std::sync::Mutex;

use automerge::AutoCommit;
use automerge::sync::{Message, State, SyncDoc};
use axum::body::Body;
use axum::extract::{ConnectInfo, State as AxumState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use xuncha_protocol::DocKey;

use crate::storage::{StoredDoc, with_tx};
use crate::{ApiError, AppState, authenticated, blocking, check_protocol, read_body};

/// One message of the standard protocol for one document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineMessage {
    pub doc: DocKey,
    #[serde(with = "serde_bytes")]
    pub message: Vec<u8>,
}

/// The server's side of each (device, document) conversation.
#[derive(Debug, Default)]
pub struct Baseline {
    states: Mutex<HashMap<(String, DocKey), State>>,
}

/// `POST /v1/bench/automerge-sync`.
pub async fn handler(
    AxumState(state): AxumState<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        check_protocol(&headers)?;
        let Some(baseline) = state.baseline.clone() else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                xuncha_protocol::ErrorCode::NotFound,
                "baseline sync is off",
            ));
        };
        // As on every route: the token is known before a byte of the body is read.
        let (device, _) = authenticated(&state, peer, &headers).await?;
        let body = read_body(&state, body, xuncha_protocol::MAX_REQUEST_BYTES).await?;
        let request: BaselineMessage =
            xuncha_protocol::decode(&body, xuncha_protocol::MAX_DECODED_BYTES).map_err(ApiError::bad_body)?;
        blocking(move || {
            let message = Message::decode(&request.message).map_err(ApiError::bad_body)?;
            let storage = state.storage.as_ref();
            let stored = with_tx(storage, false, |tx| tx.doc(&request.doc))?;
            let mut doc = match &stored {
                Some(stored) => AutoCommit::load(&stored.snapshot).map_err(ApiError::internal)?,
                None => AutoCommit::new(),
            };
            let before = doc.get_heads();
            let mut states = baseline.states.lock().map_err(ApiError::internal)?;
            let sync_state = states.entry((device.id.clone(), request.doc.clone())).or_default();
            doc.sync().receive_sync_message(sync_state, message).map_err(ApiError::bad_body)?;
            let reply = doc.sync().generate_sync_message(sync_state).map(Message::encode).unwrap_or_default();
            drop(states);
            if doc.get_heads() != before {
                let scope = stored.as_ref().map(|s| s.scope.clone()).unwrap_or_default();
                let owner = stored.as_ref().map_or_else(|| device.id.clone(), |s| s.owner_device.clone());
                let snapshot = StoredDoc { key: request.doc.clone(), snapshot: doc.save(), scope, owner_device: owner };
                with_tx(storage, true, |tx| tx.put_doc(&snapshot, &[], 0))?;
            }
            Ok(xuncha_protocol::encode(&BaselineMessage { doc: request.doc, message: reply }))
        })
        .await
    }
    .await;
    match result {
        Ok(body) => body.into_response(),
        Err(error) => error.into_response(),
    }
}
