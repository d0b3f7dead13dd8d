//! The server side of a team relay: the same sync protocol, rules and scoping as the
//! district server, over a storage of the relay's own on the team lead's device, serving the
//! lead's team only.
//!
//! - [`prepare`] seeds the relay's storage from what the lead's device knows: the reference
//!   data, the team's people (as users of the relay) and the lead's device as its host.
//! - `POST /v1/relay/join` lets a device of the team in, as the device the district server
//!   knows (same id, actor and keys), proven by its signature; anyone else is refused.
//! - [`store_host`] takes the host device's documents as they are (the host is the lead's
//!   own device, whose changes the district server checks when the lead syncs), and
//!   [`for_host`] reads back the changes the members brought, with their signatures, for
//!   the host to pass on to the district server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use xuncha_domain::{ProtectedDoc, RecordDoc, Reference, SyncDoc, Team};
use xuncha_protocol::relay::{JoinRequest, JoinResponse, join_message, joined_message};
use xuncha_protocol::{DocKey, ErrorCode, Outcome, Part, Role, Upload, codes};

use crate::bundles::Identity;
use crate::storage::{AuditEntry, Device, StorageError, StoredDoc, Tx, User, with_tx};
use crate::{ApiError, AppState, auth, blocking, check_protocol, read_body, scope, sync};

/// What a server serving as a team relay knows beyond a server: its team, the code members
/// join with, and its key.
pub struct Relay {
    pub team: String,
    code_hash: String,
    identity: Identity,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").field("team", &self.team).finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay for `team`, letting devices in with `code`, answering as `identity`.
    pub fn new(team: &str, code: &str, identity: Identity) -> Relay {
        Relay { team: team.to_owned(), code_hash: auth::hash_code(code), identity }
    }
}

/// The device a relay runs on: the team lead's, as the district server registered it.
#[derive(Debug, Clone)]
pub struct Host {
    pub device_id: String,
    pub device_name: String,
    pub user_id: String,
    pub actor: String,
    pub signing_key: String,
    pub sealing_key: String,
}

/// The team a relay on a device of `user` serves: `wanted` if given (and theirs to lead),
/// or the one team of the current rounds they lead or deputise.
pub fn team_of(reference: &Reference, user: &str, wanted: Option<&str>) -> Result<Team, String> {
    let leads =
        |t: &&Team| matches!(t.role_of(user), Some(xuncha_domain::TeamRole::Lead | xuncha_domain::TeamRole::Deputy));
    if let Some(id) = wanted {
        return reference.teams.iter().filter(leads).find(|t| t.id == id).cloned().ok_or_else(|| {
            format!(
                "{user} 不是巡察组 {id} 的组长或副组长，不能为其开启组内同步 / {user} is not the lead or deputy of team {id} and cannot relay for it"
            )
        });
    }
    let mut led: Vec<&Team> = reference.teams.iter().filter(leads).collect();
    match led.len() {
        0 => Err(format!(
            "只有巡察组组长或副组长的设备能开启组内同步（{user} 不是，或本机尚未同步到巡察组）/ only a team lead's or deputy's device can serve as a team relay ({user} is neither, or this device has not synced its teams yet)"
        )),
        1 => Ok(led.remove(0).clone()),
        _ => Err(format!(
            "{user} 领导多个巡察组（{}），请用 --team 指定 / {user} leads several teams ({}); choose one with --team",
            led.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", "),
            led.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Seeds a relay's storage: the reference data the host holds, the team's people as users
/// (their role in the team decides their steps of the workflow, the team's places what they
/// read), and the host device. Idempotent: run at every start, it adds what is new.
pub fn prepare(
    tx: &mut dyn Tx,
    reference: &Reference,
    team: &Team,
    host: &Host,
    now_ms: i64,
) -> crate::storage::Result<()> {
    let have: std::collections::HashSet<String> = tx.divisions()?.into_iter().map(|d| d.code).collect();
    let divisions: Vec<_> = reference.divisions.iter().filter(|d| !have.contains(&d.code)).cloned().collect();
    let mut changed = !divisions.is_empty();
    tx.put_divisions(&divisions)?;
    let have: std::collections::HashSet<String> = tx.rounds()?.into_iter().map(|r| r.id).collect();
    for round in reference.rounds.iter().filter(|r| !have.contains(&r.id)) {
        tx.add_round(round)?;
        changed = true;
    }
    let teams: HashMap<String, Team> = tx.teams()?.into_iter().map(|t| (t.id.clone(), t)).collect();
    for each in &reference.teams {
        if teams.get(&each.id) != Some(each) {
            tx.put_team(each)?;
            changed = true;
        }
    }
    for roster in &reference.rosters {
        tx.put_roster(roster)?;
    }
    let names: HashMap<&str, &str> = reference.people.iter().map(|p| (p.id.as_str(), p.name.as_str())).collect();
    let people = std::iter::once(&team.lead).chain(&team.deputies).chain(&team.members);
    for person in people {
        if tx.user(person)?.is_some() {
            continue;
        }
        let role = if team.role_of(person) == Some(xuncha_domain::TeamRole::Member) {
            Role::Inspector
        } else {
            Role::TeamLead
        };
        tx.add_user(&User {
            id: person.clone(),
            name: names.get(person.as_str()).map_or_else(|| person.clone(), |n| (*n).to_owned()),
            role,
            // What they read is their team's places: the relay holds nothing else.
            jurisdiction: scope::DISTRICT.to_owned(),
            created_at_ms: now_ms,
            disabled_at_ms: None,
        })?;
    }
    if tx.device(&host.device_id)?.is_none() {
        // The host never syncs over HTTP: it has no usable token.
        tx.add_device(
            &Device {
                id: host.device_id.clone(),
                user_id: host.user_id.clone(),
                name: host.device_name.clone(),
                actor: host.actor.clone(),
                created_at_ms: now_ms,
                token_issued_at_ms: now_ms,
                revoked_at_ms: None,
                last_sync_ms: None,
                signing_key: Some(host.signing_key.clone()),
                sealing_key: Some(host.sealing_key.clone()),
            },
            &format!("host:{}", auth::new_token()),
        )?;
    }
    if changed {
        tx.bump_reference_version()?;
    }
    Ok(())
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
}

/// `POST /v1/relay/join`.
pub async fn join(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        check_protocol(&headers)?;
        let Some(relay) = state.relay.clone() else {
            return Err(ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "这不是组内同步点 / this is not a team relay"));
        };
        let address = crate::code_address(&state, peer, &headers)?;
        let body = read_body(&state, body, 64 * 1024).await?;
        let request: JoinRequest = serde_json::from_slice(&body).map_err(ApiError::bad_body)?;
        crate::check_device(&request.actor, &request.device_name)?;
        crate::check_keys(&request.keys)?;
        if !auth::code_matches(&relay.code_hash, &request.code) {
            state.failures.fail(&[address], state.clock.now_ms());
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                codes::BAD_ENROLLMENT_CODE,
                "组内同步码不对：请重新扫描组长屏幕上的二维码 / wrong relay code: scan the QR code on the team lead's screen again",
            ));
        }
        let message = join_message(&relay.identity.key.signing, &request.device_id, &request.actor);
        if !xuncha_protocol::relay::verify(&request.keys.signing, &message, &request.proof) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                codes::BAD_SIGNATURE,
                "加入请求不是发给本同步点的，或未经设备密钥签名：请重新扫描组长屏幕上的二维码 / the join request is meant for another relay or not signed by the device key it names: scan the QR code on the team lead's screen again",
            ));
        }
        blocking(move || join_now(&state, &relay, &request)).await
    }
    .await;
    match result {
        Ok(response) => Json(response).into_response(),
        Err(error) => error.into_response(),
    }
}

fn join_now(state: &AppState, relay: &Relay, request: &JoinRequest) -> Result<JoinResponse, ApiError> {
    let now = state.clock.now_ms();
    let token = auth::new_token();
    let actor = request.actor.to_lowercase();
    let signing = request.keys.signing.trim().to_lowercase();
    let (relay_id, team) = with_tx(state.storage.as_ref(), true, |tx| {
        let team = tx.teams()?.into_iter().find(|t| t.id == relay.team);
        let member = team.as_ref().and_then(|t| t.role_of(&request.user_id)).is_some();
        let user = tx.user(&request.user_id)?.filter(|_| member);
        let Some(user) = user else {
            return Ok(Err(forbidden(format!(
                "{} 不是巡察组 {} 的成员，不能加入其组内同步 / {} is not a member of team {} and cannot join its relay",
                request.user_id, relay.team, request.user_id, relay.team
            ))));
        };
        let by_actor = tx.device_by_actor(&actor)?;
        let by_id = tx.device(&request.device_id)?;
        let same = |d: &Device| {
            d.id == request.device_id
                && d.actor == actor
                && d.user_id == user.id
                && d.signing_key.as_deref() == Some(signing.as_str())
        };
        match (by_actor, by_id) {
            (None, None) => tx.add_device(
                &Device {
                    id: request.device_id.clone(),
                    user_id: user.id.clone(),
                    name: request.device_name.clone(),
                    actor: actor.clone(),
                    created_at_ms: now,
                    token_issued_at_ms: now,
                    revoked_at_ms: None,
                    last_sync_ms: None,
                    signing_key: Some(signing.clone()),
                    sealing_key: Some(request.keys.sealing.trim().to_owned()),
                },
                &auth::hash_secret(&token),
            )?,
            (Some(device), _) if same(&device) && device.revoked_at_ms.is_none() => {
                tx.rotate_token(&device.id, &auth::hash_secret(&token), &request.device_name, now)?;
            }
            _ => {
                return Err(StorageError::Conflict(format!(
                    "设备 {} 已以其他身份加入本组内同步 / device {} joined this relay before as someone else",
                    request.device_id, request.device_id
                )));
            }
        }
        tx.audit(&AuditEntry {
            at_ms: now,
            user_id: Some(user.id.clone()),
            device_id: Some(request.device_id.clone()),
            action: "relay.join".into(),
            detail: serde_json::json!({ "name": request.device_name, "team": relay.team }),
        })?;
        Ok(Ok((tx.server_id()?, relay.team.clone())))
    })??;
    let proof = relay.identity.sign(&joined_message(&relay_id, &request.device_id, &token));
    Ok(JoinResponse { relay_id, token, team, proof })
}

/// Merges a document of the host device as it is, logging its new changes with the
/// signatures the host sent (its own, and those it keeps for others' changes): the host is
/// the relay's own device, and the district server checks every change when it arrives
/// there. A change whose author is a member registered here is logged as theirs.
pub fn store_host(
    tx: &mut dyn Tx,
    host: &str,
    team: &str,
    upload: &Upload,
    now_ms: i64,
) -> crate::storage::Result<Outcome> {
    let signatures: HashMap<&[u8], &[u8]> =
        upload.signatures.iter().map(|s| (s.hash.as_slice(), s.signature.as_slice())).collect();
    let existing = tx.doc(&upload.doc)?;
    let bad = |e: String| StorageError::Backend(format!("the host's document is unreadable: {e}"));
    let (new, snapshot, scope) = match upload.doc.part {
        Part::Record => {
            let (mut doc, before) = match &existing {
                Some(stored) => {
                    let mut doc = RecordDoc::load(&stored.snapshot).map_err(|e| bad(e.to_string()))?;
                    let before = doc.heads();
                    doc.load_changes(&upload.changes).map_err(|e| bad(e.to_string()))?;
                    (doc, before)
                }
                None => match RecordDoc::load(&upload.changes) {
                    Ok(doc) => (doc, Vec::new()),
                    Err(_) if sync::lacks_history(&upload.changes) => return Ok(Outcome::NeedFull),
                    Err(e) => return Err(bad(e.to_string())),
                },
            };
            if !doc.missing_deps().is_empty() {
                return Ok(Outcome::NeedFull);
            }
            let record = doc.read();
            // A record new here is one the lead holds: it is counted to the lead's team.
            let counted = existing.as_ref().map_or_else(|| team.to_owned(), |e| e.scope.team.clone());
            let attachments: Vec<String> = record.all_attachments().map(|a| a.sha256.clone()).collect();
            tx.set_attachment_refs(&upload.doc.record, &attachments)?;
            (doc.changes_since(&before), doc.save(), scope::doc_scope(&record, &counted))
        }
        Part::Protected => {
            let record_key = DocKey { record: upload.doc.record.clone(), part: Part::Record };
            let Some(record) = tx.doc(&record_key)? else { return Ok(Outcome::NeedFull) };
            let (mut doc, before) = match &existing {
                Some(stored) => {
                    let mut doc = ProtectedDoc::load_parts(&stored.snapshot, []).map_err(|e| bad(e.to_string()))?;
                    let before = doc.heads();
                    doc.load_changes(&upload.changes).map_err(|e| bad(e.to_string()))?;
                    (doc, before)
                }
                None => match ProtectedDoc::load_parts(&upload.changes, []) {
                    Ok(doc) => (doc, Vec::new()),
                    Err(_) if sync::lacks_history(&upload.changes) => return Ok(Outcome::NeedFull),
                    Err(e) => return Err(bad(e.to_string())),
                },
            };
            if !doc.missing_deps().is_empty() {
                return Ok(Outcome::NeedFull);
            }
            (doc.changes_since(&before), doc.save(), record.scope)
        }
    };
    let mut authored = Vec::with_capacity(new.len());
    for change in new {
        let device = tx.device_by_actor(&change.actor.to_hex_string())?.map_or_else(|| host.to_owned(), |d| d.id);
        authored.push((change, device));
    }
    let owner = existing.map_or_else(
        || authored.iter().find(|(c, _)| c.author.is_some()).map_or_else(|| host.to_owned(), |(_, d)| d.clone()),
        |e| e.owner_device,
    );
    let stored = StoredDoc { key: upload.doc.clone(), snapshot, scope, owner_device: owner };
    let new = authored.iter().map(|(c, d)| (c.clone(), d.as_str())).collect();
    sync::store_new(tx, stored, &signatures, new, now_ms)
}

/// The changes members brought to the relay after log position `after` (those the host did
/// not make), by document in log order, each with its author's signature; and the position
/// they reach. At most about `limit` log entries are read.
pub fn for_host(tx: &mut dyn Tx, host: &str, after: u64, limit: u32) -> crate::storage::Result<(Vec<Upload>, u64)> {
    let rows = tx.log_rows(after, limit)?;
    let reached = rows.last().map_or(after, |(row, _)| row.seq);
    let mut by_doc = crate::bundles::ByDoc::default();
    for (row, _) in rows.iter().filter(|(row, _)| row.device_id != host) {
        by_doc.add(tx, row)?;
    }
    Ok((by_doc.uploads(), reached))
}

/// Where taking one of the host's attachments into the relay stands after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostUpload {
    /// Bytes up to this offset are in; more steps to go.
    Received(u64),
    /// The relay holds it whole, the host as its holder.
    Held,
    /// All its bytes came, but they do not match the hash: discarded.
    Mismatch,
}

/// One step of taking an attachment of the host device's into the relay (one piece, or
/// the check against the hash at the end), so that members whose records reference it can
/// fetch it. Each step is its own short transaction: members' syncs go on meanwhile, and a
/// step cut short resumes from the bytes held. `piece` reads the host's bytes from an
/// offset.
pub fn store_host_piece(
    tx: &mut dyn Tx,
    host: &str,
    sha256: &str,
    size: u64,
    piece: &mut dyn FnMut(u64) -> Result<Vec<u8>, String>,
    now_ms: i64,
) -> crate::storage::Result<HostUpload> {
    let state = tx.upload_state(sha256, host)?;
    if state.as_ref().is_some_and(|s| s.held) {
        return Ok(HostUpload::Held);
    }
    let received = state.map_or(0, |s| s.received);
    if received < size {
        let bytes = piece(received).map_err(StorageError::Backend)?;
        if bytes.is_empty() {
            return Err(StorageError::Backend(format!(
                "the host's attachment {sha256} ends at {received} of {size} bytes"
            )));
        }
        return Ok(HostUpload::Received(tx.append_upload(sha256, host, size, received, &bytes, now_ms)?));
    }
    let valid = tx.upload_digest(sha256, host)? == sha256;
    tx.finish_upload(sha256, host, valid, now_ms)?;
    Ok(if valid { HostUpload::Held } else { HostUpload::Mismatch })
}

/// Attachments members brought to the relay that a record there references and the host
/// does not hold yet: their hashes and sizes, at most `limit`.
pub fn attachments_for_host(tx: &mut dyn Tx, host: &str, limit: u32) -> crate::storage::Result<Vec<(String, u64)>> {
    tx.attachments_not_held_by(host, limit)
}

/// Serves as a team relay.
pub fn with_relay(state: AppState, relay: Relay) -> AppState {
    AppState { relay: Some(Arc::new(relay)), ..state }
}
