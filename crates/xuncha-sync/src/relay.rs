//! The device side of a team relay: joining the relay on the team lead's device (by the QR
//! code on its screen) and syncing with it over the same protocol as with the server.
//!
//! The relay is a second route beside the server, with its own state: its cursor, the heads
//! it acknowledged of each document (kept as for a bundle peer), and the documents it should
//! send whole. Syncing with it never touches what the server acknowledged: the device's own
//! changes stay in the outbox for the server. The relay sends every change with its author's
//! signature, which the device keeps, so that whatever of a teammate's work it later carries
//! to the server is accepted as the teammate's. Photos and files the server does not hold
//! yet go to the relay after the records, once; a teammate's are fetched from it on demand
//! while the server is out of reach ([`download_attachment_anywhere`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use xuncha_protocol::relay::{JoinRequest, JoinResponse, RelayLink, join_message, joined_message};
use xuncha_protocol::{Outcome, PROTOCOL_HEADER, PROTOCOL_VERSION, SyncRequest};
use xuncha_store::Store;

use crate::{Client, SyncError, carried_of, device_keys, key_of, upload_of};

/// Sync-state key of the relay this device joined.
const ROUTE: &str = "relay_route";

/// The relay a device joined, as kept in its (encrypted) database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub url: String,
    pub relay_id: String,
    /// The relay's public key, as its QR code showed it.
    pub key: String,
    pub team: String,
    pub token: String,
}

impl Route {
    /// The name under which the relay's acknowledgements are kept.
    fn peer(&self) -> String {
        format!("relay:{}", self.relay_id)
    }

    fn state_key(&self, what: &str) -> String {
        format!("relay_{what}:{}", self.relay_id)
    }

    /// A client for the relay, pinned to the key its QR code showed.
    fn client(&self, timeout: Duration) -> Result<Client, SyncError> {
        pinned(&self.url, &self.key, timeout)
    }
}

/// A client for the relay at `url` whose key is `key`: TLS pinned to that key.
fn pinned(url: &str, key: &str, timeout: Duration) -> Result<Client, SyncError> {
    let pin = xuncha_protocol::bundle::PeerKey::parse(key)
        .ok()
        .and_then(|key| xuncha_protocol::relay::tls_pin(&key))
        .ok_or_else(|| SyncError::NotTheRelay { url: url.to_owned() })?;
    Client::with_pin(url, timeout, Some(pin))
}

/// The relay this device joined, if any. A route of the first relays, which spoke plain
/// HTTP, is none: the device joins again (the relays now speak TLS only).
pub fn route(store: &Store) -> Result<Option<Route>, SyncError> {
    Ok(store
        .sync_value(ROUTE)?
        .and_then(|text| serde_json::from_str::<Route>(&text).ok())
        .filter(|route| route.url.starts_with("https://")))
}

/// Joins the relay a QR code names, as the device the server enrolled (its id, actor and
/// keys), and keeps the route. The relay must prove it holds the key the QR code shows.
pub async fn join(
    store: &mut Store,
    link: &RelayLink,
    device_name: &str,
    timeout: Duration,
) -> Result<Route, SyncError> {
    let identity = store.identity().clone();
    let key = xuncha_protocol::bundle::PeerKey::parse(&link.key)
        .map_err(|_| SyncError::NotTheRelay { url: link.url.clone() })?;
    let actor = identity.actor.to_hex_string();
    let device_id = identity.device_id.to_string();
    let proof = xuncha_protocol::relay::sign(&store.secrets().signing, &join_message(&key.signing, &device_id, &actor));
    let request = JoinRequest {
        code: link.code.clone(),
        device_id: device_id.clone(),
        device_name: device_name.to_owned(),
        user_id: identity.user_id.to_string(),
        actor,
        keys: device_keys(store),
        proof,
    };
    let client = pinned(&link.url, &link.key, timeout)?;
    let response = client
        .http
        .post(format!("{}/v1/relay/join", client.base))
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .json(&request)
        .send()
        .await
        // Another key than the QR code's: not the lead's relay.
        .map_err(|e| match client.unreachable(e) {
            SyncError::WrongServerKey { url, .. } => SyncError::NotTheRelay { url },
            other => other,
        })?;
    if !response.status().is_success() {
        return Err(client.error_from(response).await);
    }
    let joined: JoinResponse = response.json().await.map_err(|e| SyncError::BadResponse(e.to_string()))?;
    let signed = joined_message(&joined.relay_id, &device_id, &joined.token);
    if !xuncha_protocol::relay::verify(&key.signing, &signed, &joined.proof) {
        return Err(SyncError::NotTheRelay { url: link.url.clone() });
    }
    let route = Route {
        url: link.url.trim_end_matches('/').to_owned(),
        relay_id: joined.relay_id,
        key: key.to_text(),
        team: joined.team,
        token: joined.token,
    };
    let text = serde_json::to_string(&route).map_err(|e| SyncError::BadResponse(e.to_string()))?;
    store.set_sync_value(ROUTE, &text)?;
    Ok(route)
}

/// What a sync with the relay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RelayReport {
    pub relay_id: String,
    pub team: String,
    pub round_trips: u32,
    /// Documents the relay stored from this device (new changes or not).
    pub sent: usize,
    /// Documents that received changes from the relay.
    pub received: usize,
    /// Uploads the relay refused: (document, code, message).
    pub refused: Vec<(String, String, String)>,
    /// Photos and files sent to the relay (those the district server does not hold yet).
    pub files_up: usize,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

/// The most documents of one request to the relay.
const BATCH_DOCS: usize = 200;

/// Syncs with the relay this device joined until both sides hold each other's changes:
/// sends what the relay has not acknowledged, receives its team's changes with their
/// signatures. Each answer is applied before the next request (the merge in one
/// transaction, the cursor last), so a sync cut short resumes without losing anything:
/// what arrives twice merges once.
pub async fn sync(store: &mut Store, timeout: Duration) -> Result<RelayReport, SyncError> {
    let route = route(store)?.ok_or(SyncError::NotJoined)?;
    let client = route.client(timeout)?;
    let peer = route.peer();
    let (cursor_key, wants_key, tag_key) =
        (route.state_key("cursor"), route.state_key("wants"), route.state_key("tag"));
    let mut report =
        RelayReport { relay_id: route.relay_id.clone(), team: route.team.clone(), ..RelayReport::default() };
    let mut pending = store.bundle_outgoing(&peer)?;
    // Bounded: every round trip settles uploads or moves the cursor.
    for _ in 0..100_000 {
        let take = pending.len().min(BATCH_DOCS);
        let batch: Vec<_> = pending.drain(..take).collect();
        let request = SyncRequest {
            cursor: store.sync_value(&cursor_key)?.and_then(|c| hex::decode(c).ok()).unwrap_or_default(),
            uploads: batch.iter().map(upload_of).collect(),
            want_full: store.peer_wants(&wants_key)?.into_iter().map(|(record, part)| key_of(record, part)).collect(),
            reference_tag: store.sync_value(&tag_key)?.and_then(|t| hex::decode(t).ok()).unwrap_or_default(),
            keys: None,
            want_numbers: Vec::new(),
            signatures: true,
        };
        let (response, up, down) = client.post_sync(&route.token, &request).await?;
        if response.acks.len() != batch.len() {
            return Err(SyncError::BadResponse(format!(
                "{} acknowledgements for {} uploads",
                response.acks.len(),
                batch.len()
            )));
        }
        let (mut acked, mut whole) = (Vec::new(), Vec::new());
        for (sent, ack) in batch.iter().zip(&response.acks) {
            match &ack.outcome {
                Outcome::Stored { .. } => acked.push((sent.record, sent.part, sent.heads.clone())),
                Outcome::NeedFull => whole.push((sent.record, sent.part)),
                Outcome::Refused { code, message } => {
                    report.refused.push((sent.part.doc_id(sent.record), code.as_str().to_owned(), message.clone()))
                }
            }
        }
        report.sent += acked.len();
        store.acknowledge_bundle(&peer, &acked)?;
        if !whole.is_empty() {
            store.forget_for_peer(&peer, &whole)?;
            for (record, part) in &whole {
                if let Some(again) = store.outgoing_whole(*record, *part)? {
                    pending.push(again);
                }
            }
        }
        let carried = response
            .entries
            .iter()
            .map(|e| carried_of(&e.doc, &e.changes, &e.signatures))
            .collect::<Result<Vec<_>, SyncError>>()?;
        let cursor = hex::encode(&response.cursor);
        // The server's reference data stays the device's: the relay's tag only spares
        // sending it again.
        let tag = response.reference.as_ref().map(|r| hex::encode(&r.tag));
        let mut values = vec![(cursor_key.as_str(), cursor.as_str())];
        if let Some(tag) = &tag {
            values.push((tag_key.as_str(), tag.as_str()));
        }
        // The relay passes the team's changes on to the server itself: they do not wait in
        // this device's outbox.
        let merged = store.merge_from_peer(&peer, &carried, false, now_ms(), Some(&wants_key), &values)?;
        report.received += merged.changed;
        report.round_trips += 1;
        report.bytes_up += up as u64;
        report.bytes_down += down as u64;
        // Documents asked for whole are asked for once a sync.
        if pending.is_empty() && !response.more && (merged.need_full.is_empty() || !request.want_full.is_empty()) {
            // Photos and files travel after the records that reference them.
            for info in store.attachments_for_peer(&peer)? {
                let upload = client.push_attachment(store, &route.token, &info, crate::ATTACHMENT_PIECE).await?;
                store.mark_attachment_held(&peer, &info.sha256)?;
                report.files_up += 1;
                report.bytes_up += upload.sent;
            }
            return Ok(report);
        }
    }
    Err(SyncError::BadResponse("sync with the relay did not settle".into()))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Fetches an attachment from the relay this device joined. The relay gives it only if a
/// record of the team references it; the lead's device takes it on to the district
/// server, so this device does not.
pub async fn download_attachment(
    store: &mut Store,
    sha256: &str,
    mime: &str,
    timeout: Duration,
) -> Result<Vec<u8>, SyncError> {
    let route = route(store)?.ok_or(SyncError::NotJoined)?;
    let client = route.client(timeout)?;
    let bytes = client.fetch_attachment(&route.token, sha256).await?;
    if xuncha_store::sha256_hex(&bytes) != sha256 {
        return Err(SyncError::BadResponse(format!("the relay sent other bytes than attachment {sha256}")));
    }
    store.put_attachment_from_peer(&route.peer(), &bytes, mime, false, now_ms())?;
    Ok(bytes)
}

/// Fetches an attachment from the district server, or from the team relay this device
/// joined (if any) while the server is out of reach or does not have it yet (a teammate's
/// photo the lead has not taken to the server).
pub async fn download_attachment_anywhere(
    store: &mut Store,
    sha256: &str,
    mime: &str,
    timeout: Duration,
) -> Result<Vec<u8>, SyncError> {
    let client = Client::for_device(store, timeout)?;
    match client.download_attachment(store, sha256, mime).await {
        Err(error)
            if (error.is_transient() || matches!(error, SyncError::Server { status: 404, .. }))
                && route(store)?.is_some() =>
        {
            tracing::info!(%error, sha256, "not from the server; fetching from the team relay");
            download_attachment(store, sha256, mime, timeout).await.map_err(|relayed| {
                tracing::warn!(%relayed, sha256, "the team relay could not give it either");
                error
            })
        }
        other => other,
    }
}
