//! Sync bundles on the server, for the air-gapped 内网: the server's bundle key, the servers
//! it trusts (peers), exporting what a peer server or an enrolled device lacks as one signed,
//! encrypted file, and importing a bundle from either. An imported change is checked as its
//! author's, exactly as on upload (signature, author, role, team, jurisdiction, workflow), in
//! one transaction per batch, and answered with a receipt; a peer's receipt marks what it has.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use serde::Serialize;
use xuncha_protocol::bundle::{self, Author, BundleError, BundleWriter, Header, Item, PeerKey};
use xuncha_protocol::{Ack, ChangeSignature, DeviceKeys, DocKey, Outcome, Part, Upload};

use crate::chain::ServerKey;
use crate::storage::{AuditEntry, Device, Peer, Storage, StorageError, Tx, User, with_tx};
use crate::{scope, sync};

/// Documents merged in one transaction of an import.
pub const IMPORT_BATCH: usize = 500;
/// Log entries read at a time while exporting.
const LOG_PAGE: u32 = 5_000;

/// Why an export or an import failed. Each says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(
        "此同步包来自未知的一方（{sender}）：请先用 `xuncha admin peer add` 信任该服务器，或为该设备登记 / this bundle comes from {sender}, whom this server does not know: trust that server first with `xuncha admin peer add NAME --key KEY`, or enroll the device"
    )]
    UnknownSender { sender: String },
    #[error(
        "未知的接收方 {receiver}：请先用 `xuncha admin peer add` 信任该服务器，或确认设备已登记 / {receiver} is neither a trusted server nor an enrolled device: add the server with `xuncha admin peer add NAME --key KEY`, or enroll the device and let it sync once"
    )]
    UnknownReceiver { receiver: String },
    #[error("此同步包的内容类型 {kind} 无法导入 / a bundle of kind {kind} cannot be imported here")]
    UnexpectedKind { kind: String },
}

impl ExchangeError {
    /// A stable code for the failure.
    pub fn code(&self) -> &'static str {
        match self {
            ExchangeError::Bundle(e) => e.code(),
            ExchangeError::Storage(_) => "storage",
            ExchangeError::UnknownSender { .. } => "unknown_sender",
            ExchangeError::UnknownReceiver { .. } => "unknown_receiver",
            ExchangeError::UnexpectedKind { .. } => "unexpected_bundle_kind",
        }
    }
}

type Result<T, E = ExchangeError> = std::result::Result<T, E>;

/// The server's bundle identity: its checkpoint key signs, an age X25519 key (kept in the
/// database, so backups carry it) opens what is sent to it.
pub struct Identity {
    pub key: PeerKey,
    signing: ed25519_dalek::SigningKey,
    sealing: age::x25519::Identity,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("key", &self.key.to_text()).finish_non_exhaustive()
    }
}

impl Identity {
    /// Signs `message` with the server's key (the key [`Identity::key`] names).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer;
        self.signing.sign(message).to_bytes().to_vec()
    }
}

/// The bundle identity of the server whose data directory is `dir`, made on first use.
pub fn identity(storage: &dyn Storage, dir: &Path) -> Result<Identity> {
    identity_with(storage, ServerKey::open(dir)?.signing_key().clone())
}

/// The bundle identity of a storage whose signing key the caller keeps (a team relay's, in
/// the lead's encrypted device database): that key, and the storage's bundle key.
pub fn identity_with(storage: &dyn Storage, signing: ed25519_dalek::SigningKey) -> Result<Identity> {
    let made = age::x25519::Identity::generate().to_string().expose_secret().to_owned();
    let text = with_tx(storage, true, |tx| tx.bundle_identity(&made))?;
    let sealing = age::x25519::Identity::from_str(&text)
        .map_err(|e| StorageError::Backend(format!("the server's bundle key is damaged: {e}")))?;
    let key = PeerKey::new(&hex::encode(signing.verifying_key().as_bytes()), &sealing.to_public().to_string())?;
    Ok(Identity { key, signing, sealing })
}

/// Trusts another server: bundles from it are imported, bundles to it exported.
pub fn add_peer(storage: &dyn Storage, name: &str, key: &str, now_ms: i64) -> Result<Peer> {
    let key = PeerKey::parse(key)?;
    let name = name.trim();
    if name.is_empty() {
        return Err(StorageError::Conflict("对端名称不能为空 / give the peer a name".into()).into());
    }
    let peer = Peer { name: name.to_owned(), key: key.to_text(), added_at_ms: now_ms, acked_seq: 0, wants: Vec::new() };
    with_tx(storage, true, |tx| {
        tx.add_peer(&peer)?;
        tx.audit(&AuditEntry {
            at_ms: now_ms,
            user_id: None,
            device_id: None,
            action: "peer_add".into(),
            detail: serde_json::json!({ "name": peer.name, "key": peer.key }),
        })
    })?;
    Ok(peer)
}

/// Who a bundle goes to or comes from.
enum Party {
    Peer(Peer),
    Device(Box<(Device, User)>),
}

impl Party {
    fn name(&self) -> String {
        match self {
            Party::Peer(peer) => format!("server {}", peer.name),
            Party::Device(found) => format!("device {} ({})", found.0.id, found.1.id),
        }
    }
}

fn party(tx: &mut dyn Tx, key: &PeerKey) -> crate::storage::Result<Option<Party>> {
    let text = key.to_text();
    if let Some(peer) = tx.peers()?.into_iter().find(|p| p.key == text) {
        return Ok(Some(Party::Peer(peer)));
    }
    let device = tx.devices()?.into_iter().find(|d| {
        d.revoked_at_ms.is_none()
            && d.signing_key.as_deref() == Some(key.signing.as_str())
            && d.sealing_key.as_deref() == Some(key.sealing.as_str())
    });
    let Some(device) = device else { return Ok(None) };
    Ok(tx
        .user(&device.user_id)?
        .filter(|u| u.disabled_at_ms.is_none())
        .map(|user| Party::Device(Box::new((device, user)))))
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exported {
    pub bundle: String,
    pub receiver: String,
    pub documents: usize,
    /// Signed changes carried.
    pub changes: usize,
    pub authors: usize,
    pub attachments: usize,
    /// The log position it covers (to a peer server).
    pub upto: Option<u64>,
    pub bytes: u64,
}

pub(crate) fn signature_items(
    hashes_and_signatures: impl IntoIterator<Item = (String, Vec<u8>)>,
) -> Vec<ChangeSignature> {
    hashes_and_signatures
        .into_iter()
        .filter_map(|(hash, signature)| Some(ChangeSignature { hash: hex::decode(hash).ok()?, signature }))
        .collect()
}

/// Every device with keys, as the author a peer needs to check its changes.
fn authors(tx: &mut dyn Tx) -> crate::storage::Result<Vec<Author>> {
    let users: HashMap<String, User> = tx.users()?.into_iter().map(|u| (u.id.clone(), u)).collect();
    Ok(tx
        .devices()?
        .into_iter()
        .filter_map(|d| {
            let user = users.get(&d.user_id)?;
            Some(Author {
                user_id: user.id.clone(),
                user_name: user.name.clone(),
                role: user.role,
                jurisdiction: user.jurisdiction.clone(),
                device_id: d.id,
                device_name: d.name,
                actor: d.actor,
                keys: DeviceKeys { signing: d.signing_key?, sealing: d.sealing_key? },
            })
        })
        .collect())
}

/// Changes of the log gathered by document, in the order documents first appear.
#[derive(Debug, Default)]
pub(crate) struct ByDoc {
    order: Vec<DocKey>,
    docs: HashMap<DocKey, Upload>,
    whole: std::collections::HashSet<DocKey>,
}

impl ByDoc {
    /// A document sent whole: its logged changes are in it already.
    pub(crate) fn whole(&mut self, upload: Upload) {
        self.order.push(upload.doc.clone());
        self.whole.insert(upload.doc.clone());
        self.docs.insert(upload.doc.clone(), upload);
    }

    /// Adds a logged change with its device's signature.
    pub(crate) fn add(&mut self, tx: &mut dyn Tx, row: &crate::chain::LogRow) -> crate::storage::Result<()> {
        let key = DocKey {
            record: row.record.clone(),
            part: if row.part == "protected" { Part::Protected } else { Part::Record },
        };
        if self.whole.contains(&key) {
            return Ok(());
        }
        let signature = tx.change_signature(row.seq)?;
        let upload = self.docs.entry(key.clone()).or_insert_with(|| {
            self.order.push(key.clone());
            Upload { doc: key, changes: Vec::new(), signatures: Vec::new() }
        });
        upload.changes.extend_from_slice(&row.bytes);
        if let (Some(signature), Ok(hash)) = (signature, hex::decode(&row.hash)) {
            upload.signatures.push(ChangeSignature { hash, signature });
        }
        Ok(())
    }

    /// The documents, records before their protected companions.
    pub(crate) fn uploads(mut self) -> Vec<Upload> {
        self.order.sort_by_key(|k| k.part == Part::Protected);
        self.order.into_iter().filter_map(|k| self.docs.remove(&k)).collect()
    }
}

/// The items of a bundle to a peer server: the authors, then every change of the log it
/// has not acknowledged, by document, records before their protected companions, and the
/// documents it asked for whole.
fn items_for_peer(tx: &mut dyn Tx, peer: &Peer) -> crate::storage::Result<(Vec<Item>, u64, usize)> {
    let upto = tx.max_seq()?;
    let mut items = vec![Item::Covers { upto }];
    items.push(Item::Reference { divisions: tx.divisions()?, rounds: tx.rounds()?, teams: tx.teams()? });
    items.extend(authors(tx)?.into_iter().map(Item::Author));
    let mut by_doc = ByDoc::default();
    for key in &peer.wants {
        if let Some(doc) = tx.doc(key)? {
            let signatures = signature_items(tx.doc_signatures(key)?);
            by_doc.whole(Upload { doc: key.clone(), changes: doc.snapshot, signatures });
        }
    }
    let mut after = peer.acked_seq;
    while after < upto {
        let rows = tx.log_rows(after, LOG_PAGE)?;
        let Some((last, _)) = rows.last() else { break };
        after = last.seq;
        for (row, _) in rows.iter().take_while(|(row, _)| row.seq <= upto) {
            by_doc.add(tx, row)?;
        }
    }
    let uploads = by_doc.uploads();
    let documents = uploads.len();
    items.extend(uploads.into_iter().map(|upload| Item::Changes { upload, heads: Vec::new() }));
    Ok((items, upto, documents))
}

/// The items of a bundle to an enrolled device: every document it may read, whole, with
/// the signatures of its changes (so that the device can pass them on).
fn items_for_device(tx: &mut dyn Tx, device: &Device, user: &User) -> crate::storage::Result<(Vec<Item>, usize)> {
    let who = scope::visibility(tx, device, user)?;
    let mut items = Vec::new();
    let mut after: Option<DocKey> = None;
    loop {
        let (docs, more) = tx.docs_after(after.as_ref(), &who, sync::SNAPSHOT_PAGE)?;
        for doc in docs {
            after = Some(doc.key.clone());
            let signatures = signature_items(tx.doc_signatures(&doc.key)?);
            items.push(Item::Changes {
                upload: Upload { doc: doc.key, changes: doc.snapshot, signatures },
                heads: Vec::new(),
            });
        }
        if !more {
            break;
        }
    }
    items.sort_by_key(|i| matches!(i, Item::Changes { upload, .. } if upload.doc.part == Part::Protected));
    let documents = items.len();
    Ok((items, documents))
}

/// The attachments the records among `items` name that this server holds whole, in pieces.
fn attachment_items(tx: &mut dyn Tx, items: &[Item]) -> crate::storage::Result<(Vec<Item>, usize)> {
    let mut hashes = std::collections::BTreeSet::new();
    for item in items {
        if let Item::Changes { upload, .. } = item
            && upload.doc.part == Part::Record
            && let Some(doc) = tx.doc(&upload.doc)?
            && let Ok(mut record) = xuncha_domain::RecordDoc::load(&doc.snapshot)
        {
            hashes.extend(record.read().all_attachments().map(|a| a.sha256.clone()));
        }
    }
    let mut out = Vec::new();
    let mut count = 0;
    for sha256 in hashes {
        let Some(state) = tx.attachment_state(&sha256)? else { continue };
        if !state.complete {
            continue;
        }
        count += 1;
        let mut offset = 0;
        while let Some((start, bytes)) = tx.attachment_piece(&sha256, offset)? {
            if bytes.is_empty() {
                break;
            }
            offset = start + bytes.len() as u64;
            out.push(Item::Attachment { sha256: sha256.clone(), size: state.size, offset: start, bytes });
            if offset >= state.size {
                break;
            }
        }
    }
    Ok((out, count))
}

/// Writes a bundle to `to` (a trusted server or an enrolled device) of what it lacks.
pub fn export(
    storage: &dyn Storage,
    me: &Identity,
    to: &PeerKey,
    attachments: bool,
    out: impl Write,
    bundle_id: &str,
    now_ms: i64,
) -> Result<Exported> {
    let (party, items, upto, documents, attachment_count) = with_tx(storage, false, |tx| {
        let Some(party) = party(tx, to)? else { return Ok(None) };
        let (mut items, upto, documents) = match &party {
            Party::Peer(peer) => {
                let (items, upto, documents) = items_for_peer(tx, peer)?;
                (items, Some(upto), documents)
            }
            Party::Device(found) => {
                let (items, documents) = items_for_device(tx, &found.0, &found.1)?;
                (items, None, documents)
            }
        };
        let mut attachment_count = 0;
        if attachments {
            let (pieces, count) = attachment_items(tx, &items)?;
            items.extend(pieces);
            attachment_count = count;
        }
        Ok(Some((party, items, upto, documents, attachment_count)))
    })?
    .ok_or_else(|| ExchangeError::UnknownReceiver { receiver: to.to_text() })?;
    let name = with_tx(storage, false, |tx| tx.server_id())?;
    let header = Header::new(bundle_id, bundle::KIND_CHANGES, me.key.clone(), &name, to.clone(), now_ms);
    let counter = bundle::Counting::new(out);
    let mut writer = BundleWriter::new(counter, &header, &me.signing)?;
    let mut changes = 0;
    let mut authors = 0;
    for item in &items {
        match item {
            Item::Changes { upload, .. } => changes += upload.signatures.len(),
            Item::Author(_) => authors += 1,
            _ => {}
        }
        writer.write(item)?;
    }
    let (counter, _) = writer.finish()?;
    let exported = Exported {
        bundle: bundle_id.to_owned(),
        receiver: party.name(),
        documents,
        changes,
        authors,
        attachments: attachment_count,
        upto,
        bytes: counter.bytes,
    };
    with_tx(storage, true, |tx| {
        tx.audit(&AuditEntry {
            at_ms: now_ms,
            user_id: None,
            device_id: None,
            action: "bundle_export".into(),
            detail: serde_json::to_value(&exported).unwrap_or_default(),
        })
    })?;
    Ok(exported)
}

/// One refused document of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub record: String,
    pub part: Part,
    pub code: String,
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Imported {
    pub bundle: String,
    pub kind: String,
    pub sender: String,
    pub documents: usize,
    /// Documents stored (new to this server or not).
    pub stored: usize,
    /// Changes new to this server.
    pub new_changes: u64,
    pub refused: Vec<Refusal>,
    /// Documents whose history this server lacks: the sender sends them whole next time.
    pub need_full: usize,
    pub authors_added: usize,
    pub attachments: usize,
    /// For a receipt: the log position the peer acknowledged.
    pub acknowledged: Option<u64>,
    /// The receipt to send back (for a bundle of changes).
    #[serde(skip)]
    pub receipt: Option<Vec<u8>>,
}

/// Registers a peer's author this server does not know (its user when unknown too); a user
/// or device already here is kept as it is. Returns whether a device was added.
fn register(tx: &mut dyn Tx, author: &Author, now_ms: i64) -> crate::storage::Result<bool> {
    if tx.device_by_actor(&author.actor)?.is_some() || tx.device(&author.device_id)?.is_some() {
        return Ok(false);
    }
    // A user this server has already is its own: a peer's word does not add devices to a
    // person it knows otherwise (another role or jurisdiction), lest a peer write in the name
    // of this server's supervisor. Their changes are then refused as of an unknown device.
    if let Some(user) = tx.user(&author.user_id)? {
        if user.role != author.role || user.jurisdiction != author.jurisdiction {
            tracing::warn!(
                user = %author.user_id,
                device = %author.device_id,
                "a peer's author is another person here: their device is not registered"
            );
            return Ok(false);
        }
    } else {
        tx.add_user(&User {
            id: author.user_id.clone(),
            name: author.user_name.clone(),
            role: author.role,
            jurisdiction: author.jurisdiction.clone(),
            created_at_ms: now_ms,
            disabled_at_ms: None,
        })?;
    }
    // No token: the device is known by its key and actor, and cannot sync here.
    let mut unusable = [0u8; 32];
    getrandom::fill(&mut unusable).map_err(|e| StorageError::Backend(e.to_string()))?;
    tx.add_device(
        &Device {
            id: author.device_id.clone(),
            user_id: author.user_id.clone(),
            name: author.device_name.clone(),
            actor: author.actor.clone(),
            created_at_ms: now_ms,
            token_issued_at_ms: now_ms,
            revoked_at_ms: None,
            last_sync_ms: None,
            signing_key: Some(author.keys.signing.clone()),
            sealing_key: Some(author.keys.sealing.clone()),
        },
        &format!("bundle:{}", hex::encode(unusable)),
    )?;
    Ok(true)
}

/// Adds the reference data of a peer this server lacks (divisions, rounds and teams by
/// code and id), keeping its own where both have one; devices are sent the new version.
fn add_reference(
    tx: &mut dyn Tx,
    divisions: &[xuncha_domain::DivisionEntry],
    rounds: &[xuncha_domain::Round],
    teams: &[xuncha_domain::Team],
) -> crate::storage::Result<()> {
    let have: std::collections::HashSet<String> = tx.divisions()?.into_iter().map(|d| d.code).collect();
    let new: Vec<_> = divisions.iter().filter(|d| !have.contains(&d.code)).cloned().collect();
    let mut changed = !new.is_empty();
    tx.put_divisions(&new)?;
    let have: std::collections::HashSet<String> = tx.rounds()?.into_iter().map(|r| r.id).collect();
    for round in rounds.iter().filter(|r| !have.contains(&r.id)) {
        tx.add_round(round)?;
        changed = true;
    }
    let have: std::collections::HashSet<String> = tx.teams()?.into_iter().map(|t| t.id).collect();
    for team in teams.iter().filter(|t| !have.contains(&t.id)) {
        tx.put_team(team)?;
        changed = true;
    }
    if changed {
        tx.bump_reference_version()?;
    }
    Ok(())
}

/// Imports a bundle sent to this server: a bundle of changes (from a trusted server or an
/// enrolled device), answered with a receipt, or a peer's receipt of a bundle this server
/// sent. Nothing is applied unless the whole bundle verifies.
pub fn import(
    storage: &dyn Storage,
    me: &Identity,
    input: impl Read,
    receipt_id: &str,
    now_ms: i64,
) -> Result<Imported> {
    let (header, items) = bundle::read_bundle::<_, Item>(input, &me.key, &me.sealing)?;
    let sender = with_tx(storage, false, |tx| party(tx, &header.sender))?.ok_or_else(|| {
        ExchangeError::UnknownSender { sender: format!("{} ({})", header.sender_name, header.sender) }
    })?;
    let mut imported = Imported {
        bundle: header.id.clone(),
        kind: header.kind.clone(),
        sender: sender.name(),
        documents: 0,
        stored: 0,
        new_changes: 0,
        refused: Vec::new(),
        need_full: 0,
        authors_added: 0,
        attachments: 0,
        acknowledged: None,
        receipt: None,
    };
    match header.kind.as_str() {
        bundle::KIND_RECEIPT => {
            if let Party::Peer(peer) = &sender {
                imported.acknowledged = apply_receipt(storage, peer, &items)?;
            }
            for item in &items {
                if let Item::Ack { ack, .. } = item {
                    imported.documents += 1;
                    note(&mut imported, ack);
                }
            }
            audit(storage, &imported, now_ms)?;
            return Ok(imported);
        }
        bundle::KIND_CHANGES => {}
        other => return Err(ExchangeError::UnexpectedKind { kind: other.to_owned() }),
    }
    let mut upto = None;
    let mut uploads: Vec<(&Upload, &Vec<serde_bytes::ByteBuf>)> = Vec::new();
    let mut authors = Vec::new();
    let mut reference = None;
    let from_peer = matches!(sender, Party::Peer(_));
    for item in &items {
        match item {
            Item::Covers { upto: at } => upto = Some(*at),
            Item::Changes { upload, heads } => uploads.push((upload, heads)),
            // A device vouches for no one and sets up nothing: only a trusted server's word
            // registers a device or adds reference data.
            Item::Author(author) if from_peer => authors.push(author),
            Item::Reference { divisions, rounds, teams } if from_peer => reference = Some((divisions, rounds, teams)),
            _ => {}
        }
    }
    imported.documents = uploads.len();
    if !authors.is_empty() || reference.is_some() {
        imported.authors_added = with_tx(storage, true, |tx| {
            let mut added = 0;
            for author in &authors {
                added += usize::from(register(tx, author, now_ms)?);
            }
            if let Some((divisions, rounds, teams)) = reference {
                add_reference(tx, divisions, rounds, teams)?;
            }
            Ok(added)
        })?;
    }
    let mut answers = vec![Item::Answers { bundle: header.id.clone(), upto }];
    for batch in uploads.chunks(IMPORT_BATCH) {
        let batch_uploads: Vec<Upload> = batch.iter().map(|(u, _)| (*u).clone()).collect();
        let acks = with_tx(storage, true, |tx| sync::store_carried(tx, &batch_uploads, now_ms))?;
        for (ack, (_, heads)) in acks.into_iter().zip(batch) {
            note(&mut imported, &ack);
            answers.push(Item::Ack { ack, sent: (*heads).clone() });
        }
    }
    imported.attachments = import_attachments(storage, &sender, &items, now_ms, &mut answers)?;
    let receipt_header = Header::new(
        receipt_id,
        bundle::KIND_RECEIPT,
        me.key.clone(),
        &with_tx(storage, false, |tx| tx.server_id())?,
        header.sender.clone(),
        now_ms,
    );
    let mut writer = BundleWriter::new(Vec::new(), &receipt_header, &me.signing)?;
    for item in &answers {
        writer.write(item)?;
    }
    imported.receipt = Some(writer.finish()?.0);
    audit(storage, &imported, now_ms)?;
    Ok(imported)
}

/// Counts one acknowledgement into the report.
fn note(imported: &mut Imported, ack: &Ack) {
    match &ack.outcome {
        Outcome::Stored { new } => {
            imported.stored += 1;
            imported.new_changes += u64::from(*new);
        }
        Outcome::Refused { code, message } => imported.refused.push(Refusal {
            record: sync::record_text(&ack.doc.record),
            part: ack.doc.part,
            code: code.as_str().to_owned(),
            message: message.clone(),
        }),
        Outcome::NeedFull => imported.need_full += 1,
    }
}

fn audit(storage: &dyn Storage, imported: &Imported, now_ms: i64) -> Result<()> {
    let detail = serde_json::json!({
        "bundle": imported.bundle,
        "kind": imported.kind,
        "sender": imported.sender,
        "documents": imported.documents,
        "stored": imported.stored,
        "new_changes": imported.new_changes,
        "refused": imported.refused.len(),
        "need_full": imported.need_full,
        "authors_added": imported.authors_added,
        "attachments": imported.attachments,
    });
    with_tx(storage, true, |tx| {
        tx.audit(&AuditEntry {
            at_ms: now_ms,
            user_id: None,
            device_id: None,
            action: "bundle_import".into(),
            detail: detail.clone(),
        })
    })?;
    Ok(())
}

/// Marks what a peer acknowledged: how far of the log, and the documents it wants whole.
fn apply_receipt(storage: &dyn Storage, peer: &Peer, items: &[Item]) -> Result<Option<u64>> {
    let upto = items.iter().find_map(|i| match i {
        Item::Answers { upto, .. } => *upto,
        _ => None,
    });
    let mut wants = peer.wants.clone();
    for item in items {
        if let Item::Ack { ack, .. } = item {
            match ack.outcome {
                Outcome::NeedFull if !wants.contains(&ack.doc) => wants.push(ack.doc.clone()),
                Outcome::Stored { .. } => wants.retain(|k| k != &ack.doc),
                _ => {}
            }
        }
    }
    let acked = upto.map_or(peer.acked_seq, |u| u.max(peer.acked_seq));
    with_tx(storage, true, |tx| tx.set_peer_state(&peer.name, acked, &wants))?;
    Ok(upto)
}

/// Stores the attachments a bundle carries, each checked against its hash in its own
/// transaction, held for the sending device (or, from a peer server, for the device that
/// owns a record naming it); answers each in the receipt. Returns how many were stored.
fn import_attachments(
    storage: &dyn Storage,
    sender: &Party,
    items: &[Item],
    now_ms: i64,
    answers: &mut Vec<Item>,
) -> Result<usize> {
    // Each attachment's hash, size and pieces (offset, bytes), in the order they came.
    type Pieces<'a> = Vec<(u64, &'a [u8])>;
    let mut files: Vec<(&str, u64, Pieces<'_>)> = Vec::new();
    for item in items {
        if let Item::Attachment { sha256, size, offset, bytes } = item {
            match files.last_mut() {
                Some((sha, _, pieces)) if *sha == sha256.as_str() => pieces.push((*offset, bytes)),
                _ => files.push((sha256, *size, vec![(*offset, bytes)])),
            }
        }
    }
    let everyone = crate::storage::Visibility {
        device_id: String::new(),
        scope: xuncha_domain::ReadScope::of(
            xuncha_domain::Reader::Supervisor,
            &xuncha_domain::Jurisdiction::All,
            "",
            &[],
        ),
    };
    let mut stored = 0;
    for (sha256, size, pieces) in files {
        let valid = with_tx(storage, true, |tx| {
            if tx.attachment_state(sha256)?.is_some_and(|s| s.complete) {
                return Ok(true);
            }
            let holder = match sender {
                Party::Device(found) => Some(found.0.id.clone()),
                Party::Peer(_) => {
                    let records = tx.attachment_records(sha256, &everyone)?;
                    let mut owner = None;
                    for record in records {
                        if let Some(doc) = tx.doc(&DocKey { record, part: Part::Record })? {
                            owner = Some(doc.owner_device);
                            break;
                        }
                    }
                    owner
                }
            };
            // No record here names it: nothing would ever serve it.
            let Some(holder) = holder else { return Ok(false) };
            let mut received = tx.upload_state(sha256, &holder)?.map_or(0, |u| u.received);
            for (offset, bytes) in &pieces {
                let end = offset + bytes.len() as u64;
                if end <= received {
                    continue;
                }
                if *offset > received {
                    return Ok(false);
                }
                let skip = usize::try_from(received - offset).unwrap_or(0);
                received = tx.append_upload(sha256, &holder, size, received, &bytes[skip..], now_ms)?;
            }
            if received < size {
                return Ok(false);
            }
            let valid = tx.upload_digest(sha256, &holder)? == sha256;
            tx.finish_upload(sha256, &holder, valid, now_ms)?;
            Ok(valid)
        })?;
        stored += usize::from(valid);
        answers.push(Item::AttachmentAck { sha256: sha256.to_owned(), stored: valid });
    }
    Ok(stored)
}
