//! `POST /v1/sync`: one round trip. Uploaded changes are checked (every new change made
//! by the uploading device's actor, every record in its write scope) and stored with the
//! change log in one transaction; the answer carries the log after the device's cursor,
//! filtered to what the device may see.

use std::collections::{BTreeSet, HashMap};

use xuncha_domain::workflow::Standing;
use xuncha_domain::{Field, ProtectedDoc, ReadScope, RecordDoc, RecordId, SyncDoc, Team, numbering, rules, signing};
use xuncha_protocol::{
    Ack, DocKey, Entry, ErrorCode, Outcome, Part, RecordNumber, SyncRequest, SyncResponse, Upload, codes,
};

use crate::scope;
use crate::storage::{AuditEntry, Device, LoggedChange, Result, StoredDoc, Tx, User, Visibility};

/// The most whole documents in one response (first sync, documents asked for whole).
pub const SNAPSHOT_PAGE: u32 = 500;
/// A response stops adding documents or changes past this many bytes (always at least
/// one), well inside what a device accepts.
pub const RESPONSE_BUDGET: usize = 16 * 1024 * 1024;

/// The cursor a device carries: the log position, or a position in the first-sync walk
/// over whole documents.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cursor {
    Log { seq: u64 },
    Snapshots { until_seq: u64, after: Option<DocKey> },
}

fn part_byte(part: Part) -> u8 {
    match part {
        Part::Record => 0,
        Part::Protected => 1,
    }
}

/// A cursor, the fingerprint of the read scope it was made under (`None` in cursors of
/// servers before scopes), and the epoch it was made in (`None` before epochs): when the
/// device's scope changes, it is told what it may no longer hold, and the walk starts over
/// if it may now read more; a cursor of another epoch (another server, or this one before
/// a restore) starts the walk over.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    scope: Option<[u8; 8]>,
    epoch: Option<[u8; 8]>,
    cursor: Cursor,
}

impl Position {
    /// Tags 0 and 1 are the unscoped cursors of earlier servers; 2 and 3 the same with the
    /// scope's fingerprint after the tag; 4 and 5 with the scope's fingerprint and the epoch.
    fn encode(&self) -> Vec<u8> {
        let inner = self.cursor.encode();
        let mut out = Vec::with_capacity(inner.len() + 16);
        match (self.scope, self.epoch) {
            (None, _) => return inner,
            (Some(fingerprint), None) => {
                out.push(inner[0] + 2);
                out.extend_from_slice(&fingerprint);
            }
            (Some(fingerprint), Some(epoch)) => {
                out.push(inner[0] + 4);
                out.extend_from_slice(&fingerprint);
                out.extend_from_slice(&epoch);
            }
        }
        out.extend_from_slice(&inner[1..]);
        out
    }

    fn decode(bytes: &[u8]) -> std::result::Result<Option<Position>, String> {
        let eight = |at: usize| -> std::result::Result<[u8; 8], String> {
            bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).ok_or_else(|| "malformed cursor".to_owned())
        };
        let (scope, epoch, tag, rest) = match bytes.first() {
            None => return Ok(None),
            Some(0 | 1) => {
                return Ok(Cursor::decode(bytes)?.map(|cursor| Position { scope: None, epoch: None, cursor }));
            }
            Some(tag @ (2 | 3)) => (Some(eight(1)?), None, tag - 2, &bytes[9..]),
            Some(tag @ (4 | 5)) => (Some(eight(1)?), Some(eight(9)?), tag - 4, &bytes[17..]),
            Some(_) => return Err("malformed cursor".into()),
        };
        let mut inner = vec![tag];
        inner.extend_from_slice(rest);
        let cursor = Cursor::decode(&inner)?.ok_or("malformed cursor")?;
        Ok(Some(Position { scope, epoch, cursor }))
    }
}

impl Cursor {
    fn encode(&self) -> Vec<u8> {
        match self {
            Cursor::Log { seq } => {
                let mut out = vec![0u8];
                out.extend_from_slice(&seq.to_be_bytes());
                out
            }
            Cursor::Snapshots { until_seq, after } => {
                let mut out = vec![1u8];
                out.extend_from_slice(&until_seq.to_be_bytes());
                if let Some(key) = after {
                    out.push(part_byte(key.part));
                    out.extend_from_slice(&key.record);
                }
                out
            }
        }
    }

    /// `None` for a first sync; an error for bytes no server wrote.
    fn decode(bytes: &[u8]) -> std::result::Result<Option<Cursor>, String> {
        if bytes.is_empty() {
            return Ok(None);
        }
        let seq = bytes.get(1..9).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_be_bytes);
        match (bytes[0], seq) {
            (0, Some(seq)) if bytes.len() == 9 => Ok(Some(Cursor::Log { seq })),
            (1, Some(until_seq)) => {
                let after = match bytes.get(9..) {
                    None | Some([]) => None,
                    Some([part, record @ ..]) if record.len() == 16 => Some(DocKey {
                        record: record.to_vec(),
                        part: if *part == 1 { Part::Protected } else { Part::Record },
                    }),
                    Some(_) => return Err("malformed cursor".into()),
                };
                Ok(Some(Cursor::Snapshots { until_seq, after }))
            }
            _ => Err("malformed cursor".into()),
        }
    }
}

fn refused(code: ErrorCode, message: impl Into<String>) -> Outcome {
    Outcome::Refused { code, message: message.into() }
}

fn heads_bytes(heads: &[xuncha_domain::ChangeHash]) -> Vec<serde_bytes::ByteBuf> {
    heads.iter().map(|h| serde_bytes::ByteBuf::from(h.0.to_vec())).collect()
}

/// Who uploads: the device, its user, what they read and the teams they belong to.
#[derive(Debug, Clone, Copy)]
pub struct Uploader<'a> {
    pub device: &'a Device,
    pub user: &'a User,
    pub who: &'a Visibility,
    pub teams: &'a [Team],
}

/// Who brings uploads to the server.
#[derive(Debug, Clone, Copy)]
pub enum Carrier<'a> {
    /// A device uploads over HTTP sync. Its own changes must be signed by it; a change of
    /// another device (one it received from a teammate's bundle or a team relay) must carry
    /// that device's signature, or the whole upload is refused.
    Device(Uploader<'a>),
    /// A bundle file: every new change is checked as its author's, whoever carried it.
    Bundle,
}

/// A device the server knows as the author of carried changes, with what its user may do.
#[derive(Debug)]
struct Signer {
    device: Device,
    user: User,
    who: Visibility,
    teams: Vec<Team>,
}

impl Signer {
    fn uploader(&self) -> Uploader<'_> {
        Uploader { device: &self.device, user: &self.user, who: &self.who, teams: &self.teams }
    }
}

/// New changes of one author, in the order they apply.
struct Run<'a> {
    by: Uploader<'a>,
    changes: Vec<xuncha_domain::RawChange>,
}

/// The devices whose actors made carried changes (other than the uploading device's own),
/// each registered here and neither it nor its user stopped; `Err` is the refusal of the
/// whole upload.
fn signers_of(
    tx: &mut dyn Tx,
    carrier: Carrier<'_>,
    new: &[xuncha_domain::RawChange],
    signatures: &HashMap<&[u8], &[u8]>,
) -> Result<std::result::Result<Vec<Signer>, Outcome>> {
    let mut signers: Vec<Signer> = Vec::new();
    for change in new {
        let actor = change.actor.to_hex_string();
        if signers.iter().any(|s| s.device.actor == actor) {
            continue;
        }
        if let Carrier::Device(by) = carrier {
            if by.device.actor == actor {
                continue;
            }
            // Not this device's, and not carried with its author's signature.
            if !signatures.contains_key(change.hash.0.as_slice()) {
                return Ok(Err(refused(
                    codes::FOREIGN_ACTOR,
                    format!(
                        "修改 {} 不是本设备所写，也没有其作者的签名，整条上传被拒绝 / change {} was not made by this device and carries no signature of its author; the whole upload was refused",
                        change.hash, change.hash
                    ),
                )));
            }
        }
        let Some(device) = tx.device_by_actor(&actor)? else {
            return Ok(Err(refused(
                codes::FOREIGN_ACTOR,
                format!(
                    "修改 {} 的作者设备未在本服务器登记，整条上传被拒绝：请先导入其服务器的同步包，或为其登记设备 / change {} was made by a device this server does not know; the whole upload was refused: import a bundle of its server first, or enroll the device",
                    change.hash, change.hash
                ),
            )));
        };
        let Some(user) = tx.user(&device.user_id)? else {
            return Ok(Err(refused(
                codes::FOREIGN_ACTOR,
                format!("设备 {} 的用户未登记 / the user of device {} is unknown", device.id, device.id),
            )));
        };
        if device.revoked_at_ms.is_some() {
            return Ok(Err(refused(
                codes::REVOKED,
                format!(
                    "修改 {} 的作者设备已被注销，整条上传被拒绝 / change {} was made by a revoked device; the whole upload was refused",
                    change.hash, change.hash
                ),
            )));
        }
        if user.disabled_at_ms.is_some() {
            return Ok(Err(refused(
                codes::USER_DISABLED,
                format!(
                    "修改 {} 的作者 {} 已被停用，整条上传被拒绝 / the author {} of change {} is disabled; the whole upload was refused",
                    change.hash, user.id, user.id, change.hash
                ),
            )));
        }
        let teams = tx.teams_of(&user.id)?;
        let who = Visibility { device_id: device.id.clone(), scope: scope::read_scope(&user, &teams) };
        signers.push(Signer { device, user, who, teams });
    }
    Ok(Ok(signers))
}

/// The new changes of an upload split into runs by author, each run checked to name its
/// author's user and to be signed by its author's device; `Err` refuses the whole upload.
fn runs<'a>(
    carrier: Carrier<'a>,
    signers: &'a [Signer],
    new: Vec<xuncha_domain::RawChange>,
    signatures: &HashMap<&[u8], &[u8]>,
) -> std::result::Result<Vec<Run<'a>>, Outcome> {
    let mut runs: Vec<Run<'a>> = Vec::new();
    for change in new {
        let actor = change.actor.to_hex_string();
        match runs.last_mut() {
            Some(run) if run.by.device.actor == actor => run.changes.push(change),
            _ => {
                let by = match carrier {
                    Carrier::Device(by) if by.device.actor == actor => by,
                    _ => match signers.iter().find(|s| s.device.actor == actor) {
                        Some(signer) => signer.uploader(),
                        None => {
                            return Err(refused(
                                codes::FOREIGN_ACTOR,
                                format!(
                                    "修改 {} 的作者未知 / the author of change {} is unknown",
                                    change.hash, change.hash
                                ),
                            ));
                        }
                    },
                };
                runs.push(Run { by, changes: vec![change] });
            }
        }
    }
    for run in &runs {
        if let Some(outcome) =
            unattributable(&run.changes, run.by.user).or_else(|| unsigned(&run.changes, run.by.device, signatures))
        {
            return Err(outcome);
        }
    }
    Ok(runs)
}

/// The record as each run but the last leaves it, from `start` (the stored document, or
/// none for a new one): what the next author's step is checked against.
fn stages(start: Option<&[u8]>, runs: &[Run<'_>]) -> std::result::Result<Vec<xuncha_domain::Record>, String> {
    let mut stages = Vec::new();
    let Some((_, earlier)) = runs.split_last() else { return Ok(stages) };
    let mut doc: Option<RecordDoc> = start.map(RecordDoc::load).transpose().map_err(|e| e.to_string())?;
    for run in earlier {
        let bytes: Vec<u8> = run.changes.iter().flat_map(|c| c.bytes.iter().copied()).collect();
        let mut next = match doc.take() {
            Some(mut d) => {
                d.load_changes(&bytes).map_err(|e| e.to_string())?;
                d
            }
            None => RecordDoc::load(&bytes).map_err(|e| e.to_string())?,
        };
        stages.push(next.read());
        doc = Some(next);
    }
    Ok(stages)
}

/// Checks and stores one upload inside the request's write transaction.
fn apply_upload(tx: &mut dyn Tx, carrier: Carrier<'_>, upload: &Upload, now_ms: i64) -> Result<Ack> {
    let signatures = signatures_of(upload);
    let Ok(uuid) = uuid_from(&upload.doc.record) else {
        let outcome = refused(codes::INVALID_DOCUMENT, "记录编号无效 / malformed record id");
        return Ok(Ack { doc: upload.doc.clone(), outcome, heads: vec![] });
    };
    let record_id: RecordId = match uuid.parse() {
        Ok(id) => id,
        Err(_) => {
            let outcome = refused(codes::INVALID_DOCUMENT, "记录编号无效 / malformed record id");
            return Ok(Ack { doc: upload.doc.clone(), outcome, heads: vec![] });
        }
    };
    let existing = tx.doc(&upload.doc)?;
    // What the server holds of a document the uploader may not read is not theirs to learn,
    // not even its heads: a refusal of it says only why. (Carried changes come from a peer
    // server or a device that forwards its team's changes; their receipt names heads.)
    let readable = match carrier {
        Carrier::Device(by) => existing.as_ref().is_none_or(|e| by.who.admits(&e.key, &e.scope, &e.owner_device)),
        Carrier::Bundle => true,
    };
    let ack = |outcome, heads: Vec<serde_bytes::ByteBuf>| Ack {
        doc: upload.doc.clone(),
        outcome,
        heads: if readable { heads } else { Vec::new() },
    };
    match upload.doc.part {
        Part::Record => {
            let mut previous = None;
            let (mut doc, before) = match &existing {
                Some(stored) => match RecordDoc::load(&stored.snapshot) {
                    Ok(mut doc) => {
                        let heads = doc.heads();
                        previous = Some(doc.read());
                        if let Err(error) = doc.load_changes(&upload.changes) {
                            return Ok(ack(refused(codes::INVALID_DOCUMENT, error.to_string()), heads_bytes(&heads)));
                        }
                        (doc, heads)
                    }
                    Err(error) => {
                        return Err(crate::storage::StorageError::Backend(format!(
                            "stored document unreadable: {error}"
                        )));
                    }
                },
                None => match RecordDoc::load(&upload.changes) {
                    Ok(doc) => (doc, Vec::new()),
                    // Changes without the record's beginning: ask for the whole document.
                    Err(_) if lacks_history(&upload.changes) => return Ok(ack(Outcome::NeedFull, vec![])),
                    Err(error) => return Ok(ack(refused(codes::INVALID_DOCUMENT, error.to_string()), vec![])),
                },
            };
            if !doc.missing_deps().is_empty() {
                return Ok(ack(Outcome::NeedFull, heads_bytes(&before)));
            }
            if doc.id() != record_id {
                return Ok(ack(
                    refused(codes::INVALID_DOCUMENT, "上传的文档与记录编号不符 / the document is not this record"),
                    vec![],
                ));
            }
            let new = doc.changes_since(&before);
            let signers = match signers_of(tx, carrier, &new, &signatures)? {
                Ok(signers) => signers,
                Err(outcome) => return Ok(ack(outcome, heads_bytes(&before))),
            };
            let runs = match runs(carrier, &signers, new, &signatures) {
                Ok(runs) => runs,
                Err(outcome) => return Ok(ack(outcome, heads_bytes(&before))),
            };
            // Who answers for each step from the stored record to the uploaded one: each run's
            // author, or (nothing new) the uploading device.
            let steps: Vec<Uploader<'_>> = match (carrier, runs.is_empty()) {
                (Carrier::Device(by), true) => vec![by],
                (Carrier::Bundle, true) => return Ok(ack(Outcome::Stored { new: 0 }, heads_bytes(&before))),
                (_, false) => runs.iter().map(|r| r.by).collect(),
            };
            let stages = match stages(existing.as_ref().map(|e| e.snapshot.as_slice()), &runs) {
                Ok(stages) => stages,
                Err(error) => return Ok(ack(refused(codes::INVALID_DOCUMENT, error), heads_bytes(&before))),
            };
            let record = doc.read();
            let place = scope::place_of(&record);
            let first = steps[0];
            // A record is counted to the team that found it: its first author's team whose
            // assignment covers its place when it first reaches the server.
            let team = existing.as_ref().map_or_else(
                || ReadScope::team_for(&first.user.id, &place, first.teams).map(|t| t.id.clone()).unwrap_or_default(),
                |e| e.scope.team.clone(),
            );
            let after = scope::doc_scope(&record, &team);
            for (at, by) in steps.iter().enumerate() {
                let state = stages.get(at).unwrap_or(&record);
                let prior = if at == 0 { previous.as_ref() } else { stages.get(at - 1) };
                let reached = scope::doc_scope(state, &team);
                let mut scopes = vec![&reached];
                if let Some(stored) = &existing {
                    scopes.push(&stored.scope);
                }
                if !scope::may_write(by.user, by.who, &scopes) {
                    let user = by.user;
                    return Ok(ack(
                        refused(
                            codes::OUT_OF_SCOPE,
                            format!(
                                "记录不在{}的巡察范围（{}）内：请核对乡镇和村，或请管理员调整巡察组 / the record is outside what {} may write ({}): check its township and village, or ask the administrator about the team",
                                user.id, user.jurisdiction, user.id, user.jurisdiction
                            ),
                        ),
                        heads_bytes(&before),
                    ));
                }
                // Every change of the step is its author's (checked above): what changed is
                // their doing. Their place in the record's team decides which workflow steps
                // are theirs.
                let record_team = by.teams.iter().find(|t| !team.is_empty() && t.id == team);
                let standing = Standing::of(
                    &by.user.id,
                    scope::reader(by.user.role),
                    record_team,
                    !team.is_empty(),
                    !by.teams.is_empty(),
                );
                let author = rules::Author {
                    user: &by.user.id,
                    role: standing.reader,
                    team: standing.team_role,
                    team_has_deputy: standing.team_has_deputy,
                };
                if let Err(refusal) = rules::check(author, prior, state) {
                    return Ok(ack(refused(refusal.code, refusal.to_string()), heads_bytes(&before)));
                }
            }
            let owner = existing.map_or_else(|| first.device.id.clone(), |e| e.owner_device);
            let attachments: Vec<String> = record.all_attachments().map(|a| a.sha256.clone()).collect();
            tx.set_attachment_refs(&upload.doc.record, &attachments)?;
            let (heads, snapshot) = (doc.heads(), doc.save());
            let new = runs.into_iter().flat_map(|r| r.changes.into_iter().map(move |c| (c, r.by.device.id.as_str())));
            let stored = StoredDoc { key: upload.doc.clone(), snapshot, scope: after, owner_device: owner };
            let outcome = store_new(tx, stored, &signatures, new.collect(), now_ms)?;
            let (round, team) =
                (record.text(Field::Round).unwrap_or_default(), record.text(Field::Team).unwrap_or_default());
            if let Some((round, team)) = numbering::group_of(round, team, record.withdrawn.is_some()) {
                tx.number_record(&upload.doc.record, &round, &team, now_ms)?;
            }
            Ok(ack(outcome, heads_bytes(&heads)))
        }
        Part::Protected => {
            let record_key = DocKey { record: upload.doc.record.clone(), part: Part::Record };
            let Some(record) = tx.doc(&record_key)? else {
                return Ok(ack(
                    refused(ErrorCode::UnknownRecord, "请先同步记录本身 / sync the record itself first"),
                    vec![],
                ));
            };
            // Its values are sealed on the devices (to the district's protected-data key and
            // the writing device's own), so whoever may write the record may add to them; the
            // companion is read by supervisors and by the devices that wrote into it (the
            // first of which owns it), never by the rest of the team.
            let may_not_write =
                || refused(codes::OUT_OF_SCOPE, "无权修改受保护信息 / you may not change this protected information");
            if let Carrier::Device(by) = carrier
                && !scope::may_write(by.user, by.who, &[&record.scope])
            {
                return Ok(ack(may_not_write(), vec![]));
            }
            let (mut doc, before) = match &existing {
                Some(stored) => {
                    let mut doc = ProtectedDoc::load_parts(&stored.snapshot, [])
                        .map_err(|e| crate::storage::StorageError::Backend(e.to_string()))?;
                    let heads = doc.heads();
                    if let Err(error) = doc.load_changes(&upload.changes) {
                        return Ok(ack(refused(codes::INVALID_DOCUMENT, error.to_string()), heads_bytes(&heads)));
                    }
                    (doc, heads)
                }
                None => match ProtectedDoc::load_parts(&upload.changes, []) {
                    Ok(doc) => (doc, Vec::new()),
                    Err(_) if lacks_history(&upload.changes) => return Ok(ack(Outcome::NeedFull, vec![])),
                    Err(error) => return Ok(ack(refused(codes::INVALID_DOCUMENT, error.to_string()), vec![])),
                },
            };
            if !doc.missing_deps().is_empty() {
                return Ok(ack(Outcome::NeedFull, heads_bytes(&before)));
            }
            if doc.record_id() != record_id {
                return Ok(ack(
                    refused(
                        codes::INVALID_DOCUMENT,
                        "受保护文档与记录不符 / the protected document is for another record",
                    ),
                    vec![],
                ));
            }
            let mut new = doc.changes_since(&before);
            // The companion's first change is the same from every device, authored by none.
            let genesis = ProtectedDoc::genesis_hash(record_id).ok();
            let genesis_change = new.iter().position(|c| Some(c.hash) == genesis).map(|at| new.remove(at));
            let signers = match signers_of(tx, carrier, &new, &signatures)? {
                Ok(signers) => signers,
                Err(outcome) => return Ok(ack(outcome, heads_bytes(&before))),
            };
            let runs = match runs(carrier, &signers, new, &signatures) {
                Ok(runs) => runs,
                Err(outcome) => return Ok(ack(outcome, heads_bytes(&before))),
            };
            if runs.iter().any(|r| !scope::may_write(r.by.user, r.by.who, &[&record.scope])) {
                return Ok(ack(may_not_write(), vec![]));
            }
            let first = match (carrier, runs.first()) {
                (_, Some(run)) => run.by.device.id.as_str(),
                (Carrier::Device(by), None) => by.device.id.as_str(),
                (Carrier::Bundle, None) => return Ok(ack(Outcome::Stored { new: 0 }, heads_bytes(&before))),
            };
            let owner = existing.as_ref().map_or(first, |e| e.owner_device.as_str()).to_owned();
            let mut new: Vec<(xuncha_domain::RawChange, &str)> = Vec::new();
            if let Some(genesis) = genesis_change {
                new.push((genesis, first));
            }
            new.extend(runs.iter().flat_map(|r| r.changes.iter().cloned().map(move |c| (c, r.by.device.id.as_str()))));
            let (heads, snapshot) = (doc.heads(), doc.save());
            let stored = StoredDoc { key: upload.doc.clone(), snapshot, scope: record.scope, owner_device: owner };
            store_new(tx, stored, &signatures, new, now_ms).map(|n| ack(n, heads_bytes(&heads)))
        }
    }
}

/// The refusal of an upload whose new changes (of one author's device) do not all name that
/// device's user as their author, so that the history every device shows cannot be written
/// in someone else's name.
fn unattributable(new: &[xuncha_domain::RawChange], user: &User) -> Option<Outcome> {
    let forged = new.iter().find(|c| c.author.as_ref().is_none_or(|a| a.by != user.id))?;
    let claimed = forged.author.as_ref().map_or("?", |a| a.by.as_str());
    Some(refused(
        codes::FOREIGN_AUTHOR,
        format!(
            "修改 {} 署名为 {claimed}，而其设备属于 {}，整条上传被拒绝 / change {} names {claimed} as its author, but its device belongs to {}; the whole upload was refused",
            forged.hash, user.id, forged.hash, user.id
        ),
    ))
}

/// An upload's signatures by change hash, looked up once per change.
fn signatures_of(upload: &Upload) -> HashMap<&[u8], &[u8]> {
    upload.signatures.iter().map(|s| (s.hash.as_slice(), s.signature.as_slice())).collect()
}

/// The refusal of an upload whose new changes are not each signed by the device's
/// registered key: the signature is what lets anyone check later, without trusting the
/// server, who made a change.
fn unsigned(new: &[xuncha_domain::RawChange], device: &Device, signatures: &HashMap<&[u8], &[u8]>) -> Option<Outcome> {
    if new.is_empty() {
        return None;
    }
    let Some(key) = device.signing_key.as_deref().and_then(signing::public_key) else {
        return Some(refused(
            codes::UNSIGNED,
            "本设备尚未登记签名密钥，请更新应用后再同步 / this device has no registered signing key; update the app and sync again",
        ));
    };
    for change in new {
        let Some(signature) = signatures.get(change.hash.0.as_slice()) else {
            return Some(refused(
                codes::UNSIGNED,
                format!(
                    "修改 {} 没有其设备的签名，整条上传被拒绝 / change {} carries no signature of the device that made it; the whole upload was refused",
                    change.hash, change.hash
                ),
            ));
        };
        if !signing::verify(&key, &change.hash.0, signature) {
            return Some(refused(
                codes::BAD_SIGNATURE,
                format!(
                    "修改 {} 的签名无效，整条上传被拒绝 / the signature of change {} does not verify with the key of the device that made it; the whole upload was refused",
                    change.hash, change.hash
                ),
            ));
        }
    }
    None
}

/// Whether bytes that are not a document on their own are changes whose history is missing
/// (as opposed to garbage, or a document this server cannot read).
pub(crate) fn lacks_history(bytes: &[u8]) -> bool {
    let mut doc = automerge::AutoCommit::new();
    xuncha_domain::guarded(|| doc.load_incremental(bytes)).is_ok() && !doc.get_missing_deps(&[]).is_empty()
}

/// Stores an accepted upload: the merged snapshot and its new changes in the log, each
/// with the device that made it.
pub(crate) fn store_new(
    tx: &mut dyn Tx,
    stored: StoredDoc,
    signatures: &HashMap<&[u8], &[u8]>,
    new: Vec<(xuncha_domain::RawChange, &str)>,
    now_ms: i64,
) -> Result<Outcome> {
    if new.is_empty() {
        return Ok(Outcome::Stored { new: 0 });
    }
    let logged: Vec<LoggedChange> = new
        .into_iter()
        .map(|(c, device)| LoggedChange {
            signature: signatures.get(c.hash.0.as_slice()).map(|s| s.to_vec()),
            hash: c.hash.to_string(),
            bytes: c.bytes,
            device_id: device.to_owned(),
        })
        .collect();
    Ok(Outcome::Stored { new: tx.put_doc(&stored, &logged, now_ms)? })
}

/// The 16 bytes of a record id as a UUID string.
fn uuid_from(bytes: &[u8]) -> std::result::Result<String, ()> {
    let array: [u8; 16] = bytes.try_into().map_err(|_| ())?;
    Ok(uuid_string(&array))
}

/// A record id as people read it: its UUID, or the bytes in hex when they are no record id.
pub(crate) fn record_text(bytes: &[u8]) -> String {
    uuid_from(bytes).unwrap_or_else(|()| hex::encode(bytes))
}

fn uuid_string(b: &[u8; 16]) -> String {
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Stores the uploads of one request, in one write transaction, with its audit entry.
pub fn store_uploads(tx: &mut dyn Tx, by: &Uploader<'_>, request: &SyncRequest, now_ms: i64) -> Result<Vec<Ack>> {
    lock_uploaded(tx, &request.uploads)?;
    let mut acks = Vec::with_capacity(request.uploads.len());
    for upload in &request.uploads {
        acks.push(apply_upload(tx, Carrier::Device(*by), upload, now_ms)?);
    }
    tx.touch_device(&by.device.id, now_ms)?;
    Ok(acks)
}

/// Stores uploads carried for their authors (from a bundle, or a team relay's): each new
/// change is checked as its author's by its signature, whoever carried it.
pub fn store_carried(tx: &mut dyn Tx, uploads: &[Upload], now_ms: i64) -> Result<Vec<Ack>> {
    lock_uploaded(tx, uploads)?;
    uploads.iter().map(|upload| apply_upload(tx, Carrier::Bundle, upload, now_ms)).collect()
}

/// Holds the records `uploads` write to, all at once before any is read (see
/// [`Tx::lock_records`]).
fn lock_uploaded(tx: &mut dyn Tx, uploads: &[Upload]) -> Result<()> {
    let mut records: Vec<Vec<u8>> = uploads.iter().map(|u| u.doc.record.clone()).collect();
    records.sort_unstable();
    records.dedup();
    tx.lock_records(&records)
}

/// One response's worth of what a device receives.
#[derive(Debug)]
pub struct Page {
    pub entries: Vec<Entry>,
    pub cursor: Vec<u8>,
    pub more: bool,
    /// Documents the device read before its scope changed and may no longer hold.
    pub dropped: Vec<DocKey>,
}

/// Where reading resumes for `who`, and what the device must drop: a cursor made under
/// another scope names the documents that scope admitted and this one does not, and
/// starts the walk over when this scope admits documents the other did not. `legacy` is
/// the scope of cursors made before scopes (the user's role and jurisdiction alone).
fn resume(
    tx: &mut dyn Tx,
    who: &Visibility,
    legacy: &ReadScope,
    position: Option<Position>,
) -> Result<(Option<Cursor>, Vec<DocKey>)> {
    let Some(position) = position else { return Ok((None, Vec::new())) };
    let current = who.scope.fingerprint();
    let before = match position.scope {
        Some(fingerprint) if fingerprint == current => return Ok((Some(position.cursor), Vec::new())),
        Some(fingerprint) => tx.scope(&fingerprint)?.unwrap_or_else(|| legacy.clone()),
        None => legacy.clone(),
    };
    if before == who.scope {
        return Ok((Some(position.cursor), Vec::new()));
    }
    let old = Visibility { device_id: who.device_id.clone(), scope: before };
    let mut dropped = Vec::new();
    let mut gained = false;
    for meta in tx.doc_metas()? {
        let (was, is) = (
            old.admits(&meta.key, &meta.scope, &meta.owner_device),
            who.admits(&meta.key, &meta.scope, &meta.owner_device),
        );
        if was && !is {
            dropped.push(meta.key);
        }
        gained |= is && !was;
    }
    Ok((if gained { None } else { Some(position.cursor) }, dropped))
}

/// What the device receives: whole documents on a first sync (and those it asks for
/// whole), then the log after its cursor.
pub fn read_entries(tx: &mut dyn Tx, who: &Visibility, legacy: &ReadScope, request: &SyncRequest) -> Result<Page> {
    let mut page = read_page(tx, who, legacy, request)?;
    if request.signatures {
        // A device that passes changes on keeps their authors' signatures with them.
        for entry in &mut page.entries {
            entry.signatures = crate::bundles::signature_items(tx.doc_signatures(&entry.doc)?);
        }
    }
    Ok(page)
}

fn read_page(tx: &mut dyn Tx, who: &Visibility, legacy: &ReadScope, request: &SyncRequest) -> Result<Page> {
    // A cursor this server cannot read (another server, a restored backup, damage) starts
    // the walk over: the device is sent everything again, which merging makes harmless.
    let position = Position::decode(&request.cursor).unwrap_or(None);
    // A cursor of another epoch, or one made before epochs on a server restored since, may
    // point past changes this server now numbers differently: the walk starts over.
    let epoch = tx.epoch()?;
    let position = position.filter(|p| match p.epoch {
        Some(tag) => tag == epoch.tag,
        None => !epoch.restored,
    });
    let (cursor, dropped) = resume(tx, who, legacy, position)?;
    let mut entries = Vec::new();
    let mut bytes = 0usize;
    for key in request.want_full.iter().take(SNAPSHOT_PAGE as usize) {
        if bytes >= RESPONSE_BUDGET {
            break;
        }
        if let Some(doc) = tx.doc(key)?
            && (who.admits(&doc.key, &doc.scope, &doc.owner_device)
                || (doc.key.part == Part::Protected
                    && doc.scope.admitted_by(&who.scope)
                    && tx.device_wrote(&doc.key, &who.device_id)?))
        {
            bytes += doc.snapshot.len();
            entries.push(Entry { doc: doc.key, changes: doc.snapshot, full: true, signatures: Vec::new() });
        }
    }
    let (cursor, more) = match cursor {
        None | Some(Cursor::Snapshots { .. }) => {
            let (until_seq, after) = match cursor {
                Some(Cursor::Snapshots { until_seq, after }) => (until_seq, after),
                _ => (tx.max_seq()?, None),
            };
            let (docs, mut more) = tx.docs_after(after.as_ref(), who, SNAPSHOT_PAGE)?;
            let mut last = after;
            for doc in docs {
                if bytes >= RESPONSE_BUDGET {
                    more = true;
                    break;
                }
                bytes += doc.snapshot.len();
                last = Some(doc.key.clone());
                entries.push(Entry { doc: doc.key, changes: doc.snapshot, full: true, signatures: Vec::new() });
            }
            if more {
                (Cursor::Snapshots { until_seq, after: last }, true)
            } else {
                (Cursor::Log { seq: until_seq }, false)
            }
        }
        Some(Cursor::Log { seq }) => {
            let (rows, resume, mut more) = tx.log_after(seq, who, xuncha_protocol::MAX_ENTRIES)?;
            let mut reached = resume;
            for row in rows {
                if bytes >= RESPONSE_BUDGET {
                    more = true;
                    break;
                }
                bytes += row.bytes.len();
                reached = row.seq;
                match entries.last_mut() {
                    Some(last) if last.doc == row.key && !last.full => last.changes.extend_from_slice(&row.bytes),
                    _ => entries.push(Entry { doc: row.key, changes: row.bytes, full: false, signatures: Vec::new() }),
                }
            }
            (Cursor::Log { seq: if more { reached } else { resume } }, more)
        }
    };
    let cursor = Position { scope: Some(who.scope.fingerprint()), epoch: Some(epoch.tag), cursor }.encode();
    Ok(Page { entries, cursor, more, dropped })
}

/// The numbers (编号) a response carries: of the records stored from this request, of those
/// among its entries, and of those the device asked for (at most [`MAX_ENTRIES`]), as far
/// as the device may read them.
///
/// [`MAX_ENTRIES`]: xuncha_protocol::MAX_ENTRIES
pub fn numbers_for(
    tx: &mut dyn Tx,
    who: &Visibility,
    request: &SyncRequest,
    acks: &[Ack],
    entries: &[Entry],
) -> Result<Vec<RecordNumber>> {
    let stored = acks.iter().filter(|a| matches!(a.outcome, Outcome::Stored { .. })).map(|a| &a.doc);
    let asked = request.want_numbers.iter().take(xuncha_protocol::MAX_ENTRIES as usize).map(|r| r.to_vec());
    let records: BTreeSet<Vec<u8>> = stored
        .chain(entries.iter().map(|e| &e.doc))
        .filter(|doc| doc.part == Part::Record)
        .map(|doc| doc.record.clone())
        .chain(asked)
        .collect();
    let records: Vec<Vec<u8>> = records.into_iter().collect();
    Ok(tx
        .record_numbers(&records, who)?
        .into_iter()
        .map(|(record, number)| RecordNumber { record, number: number.to_string() })
        .collect())
}

/// Records named in a sync's audit row, of those stored and of those refused.
pub const AUDIT_NAMED: usize = 50;

/// The audit entry of one sync.
pub fn audit_entry(
    device: &Device,
    request: &SyncRequest,
    response: &SyncResponse,
    bytes_in: usize,
    bytes_out: usize,
    now_ms: i64,
) -> AuditEntry {
    // Bounded, whatever a request carries: the first records by name, and how many in all.
    let named = |refused: bool| {
        let matching = response.acks.iter().filter(move |a| match a.outcome {
            Outcome::Stored { new } => !refused && new > 0,
            Outcome::Refused { .. } => refused,
            _ => false,
        });
        let names: Vec<String> =
            matching.clone().take(AUDIT_NAMED).filter_map(|a| uuid_from(&a.doc.record).ok()).collect();
        (names, matching.count())
    };
    let (stored, stored_count) = named(false);
    let (refused, refused_count) = named(true);
    AuditEntry {
        at_ms: now_ms,
        user_id: Some(device.user_id.clone()),
        device_id: Some(device.id.clone()),
        action: "sync".into(),
        detail: serde_json::json!({
            "uploads": request.uploads.len(),
            "stored": stored,
            "stored_count": stored_count,
            "refused": refused,
            "refused_count": refused_count,
            "entries": response.entries.len(),
            "bytes_in": bytes_in,
            "bytes_out": bytes_out,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for cursor in [
            Cursor::Log { seq: 0 },
            Cursor::Log { seq: u64::MAX },
            Cursor::Snapshots { until_seq: 9, after: None },
            Cursor::Snapshots { until_seq: 9, after: Some(DocKey { record: vec![7; 16], part: Part::Protected }) },
        ] {
            assert_eq!(Cursor::decode(&cursor.encode()), Ok(Some(cursor.clone())));
            for (scope, epoch) in [(None, None), (Some([7u8; 8]), None), (Some([7u8; 8]), Some([9u8; 8]))] {
                let position = Position { scope, epoch, cursor: cursor.clone() };
                assert_eq!(Position::decode(&position.encode()), Ok(Some(position)));
            }
        }
        // Cursors of servers before scopes still read, as unscoped positions.
        let old = Cursor::Log { seq: 42 }.encode();
        assert_eq!(
            Position::decode(&old),
            Ok(Some(Position { scope: None, epoch: None, cursor: Cursor::Log { seq: 42 } }))
        );
        assert!(Position::decode(&[2, 1, 2]).is_err());
        assert!(Position::decode(&[4, 1, 2, 3, 4, 5, 6, 7, 8, 9]).is_err());
        assert_eq!(Cursor::decode(&[]), Ok(None));
        for garbage in [&[0u8, 1, 2][..], &[9; 9], &[1, 0, 0, 0, 0, 0, 0, 0, 0, 5]] {
            assert!(Cursor::decode(garbage).is_err());
        }
    }
}
