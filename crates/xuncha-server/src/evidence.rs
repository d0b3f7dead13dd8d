//! Evidence bundles: one record's history that a third party verifies offline. A bundle
//! holds every change of the record as the server logged it (document, change hash,
//! uploading device, time, bytes), the hash chain from the record's first change up to a
//! checkpoint the server signed for the export (the other entries as digests only, so
//! nothing of other records leaks), the attachments the record references, the server's
//! public key, and (from version 2) each change's signature by the device that made it with
//! the public keys of those devices. `verify` recomputes all of it; a one-byte change
//! anywhere fails.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use xuncha_domain::{RecordDoc, RecordId};

use crate::chain::{self, Checkpoint, LogRow, ServerKey};
use crate::storage::{Result, Storage, StorageError, with_tx};

/// The bundle format's version (1: without device signatures).
pub const VERSION: u32 = 2;

/// One position of the chain segment: a change of the record in full, or another entry's
/// digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    Change(LogRow),
    Other {
        seq: u64,
        #[serde(with = "serde_bytes")]
        digest: Vec<u8>,
    },
}

/// An attachment of the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub sha256: String,
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

/// A change's signature by the device that uploaded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    pub seq: u64,
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// A device that made changes of the record: its user and the public key its signatures
/// verify with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKey {
    pub device_id: String,
    pub user_id: String,
    pub signing_key: String,
}

/// A record's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    pub version: u32,
    pub record: String,
    /// The chain's link before the segment's first entry.
    #[serde(with = "serde_bytes")]
    pub before: Vec<u8>,
    pub segment: Vec<Link>,
    pub checkpoint: Checkpoint,
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub signatures: Vec<Signed>,
    #[serde(default)]
    pub devices: Vec<DeviceKey>,
}

/// Writes the evidence of `record`, signing a checkpoint of the chain as it stands.
pub fn export(storage: &dyn Storage, key: &ServerKey, record: RecordId, now_ms: i64) -> Result<Vec<u8>> {
    let id = record.uuid().as_bytes().to_vec();
    let checkpoint = crate::admin::checkpoint(storage, key, true, now_ms)?
        .ok_or_else(|| StorageError::Backend("no checkpoint was made".into()))?;
    // The chain from the record's first change to the checkpoint. Its protected companion's
    // changes (an informant) stay digests: evidence never carries a protected value.
    let ours = |row: &LogRow| row.record == id && row.part == "record";
    let (mut before, mut previous) = (None, chain::GENESIS.to_vec());
    let mut segment = Vec::new();
    let mut after = 0;
    'walk: while after < checkpoint.seq {
        let page = with_tx(storage, false, |tx| tx.log_rows(after, 5_000))?;
        let Some((last, _)) = page.last() else { break };
        after = last.seq;
        for (row, link) in page {
            if row.seq > checkpoint.seq {
                break 'walk;
            }
            if before.is_none() {
                if !ours(&row) {
                    previous = link;
                    continue;
                }
                before = Some(previous.clone());
            }
            segment.push(if ours(&row) {
                Link::Change(row)
            } else {
                Link::Other { seq: row.seq, digest: row.digest().to_vec() }
            });
        }
    }
    let Some(before) = before else {
        return Err(StorageError::NotFound(format!(
            "记录 {record} 在服务器上没有修改记录 / no change of record {record} on this server"
        )));
    };
    let attachments = with_tx(storage, false, |tx| {
        let Some(doc) = tx.doc(&xuncha_protocol::DocKey { record: id.clone(), part: xuncha_protocol::Part::Record })?
        else {
            return Ok(Vec::new());
        };
        let record = RecordDoc::load(&doc.snapshot).map_err(|e| StorageError::Backend(e.to_string()))?.read();
        let mut out = Vec::new();
        for reference in record.all_attachments() {
            if tx.attachment_state(&reference.sha256)?.is_some_and(|s| s.complete) {
                out.push(Attachment {
                    bytes: tx.attachment_bytes(&reference.sha256, 0)?,
                    sha256: reference.sha256.clone(),
                });
            }
        }
        Ok(out)
    })?;
    let seqs: Vec<u64> =
        segment.iter().filter_map(|l| if let Link::Change(row) = l { Some(row.seq) } else { None }).collect();
    let (signatures, devices) = with_tx(storage, false, |tx| {
        let mut signatures = Vec::new();
        for seq in &seqs {
            if let Some(signature) = tx.change_signature(*seq)? {
                signatures.push(Signed { seq: *seq, signature });
            }
        }
        let used: std::collections::BTreeSet<&str> = segment
            .iter()
            .filter_map(|l| if let Link::Change(row) = l { Some(row.device_id.as_str()) } else { None })
            .collect();
        let devices = tx
            .devices()?
            .into_iter()
            .filter(|d| used.contains(d.id.as_str()))
            .filter_map(|d| Some(DeviceKey { signing_key: d.signing_key?, device_id: d.id, user_id: d.user_id }))
            .collect();
        Ok((signatures, devices))
    })?;
    let bundle = Bundle {
        version: VERSION,
        record: record.to_string(),
        before,
        segment,
        checkpoint,
        attachments,
        signatures,
        devices,
    };
    Ok(xuncha_protocol::encode(&bundle))
}

/// What a bundle proves, once verified.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub record: String,
    pub title: String,
    pub kind: String,
    pub creator: String,
    pub changes: usize,
    /// Devices that uploaded the record's changes.
    pub devices: Vec<String>,
    pub first_ms: i64,
    pub last_ms: i64,
    pub attachments: usize,
    /// Changes whose device signature verified.
    pub signed: usize,
    /// Changes logged before devices signed their changes (covered by the chain alone).
    pub unsigned: usize,
    /// Each device's user and signing key, as the bundle names them.
    pub signers: Vec<DeviceKey>,
    pub checkpoint_seq: u64,
    pub checkpoint_at_ms: i64,
    pub server_id: String,
    /// The key that signed the checkpoint (compare it with the one the commission publishes).
    pub server_key: String,
}

/// Checks a bundle with nothing but itself (and, if given, the server key it must carry).
pub fn verify(bytes: &[u8], expected_key: Option<&str>) -> std::result::Result<Verified, String> {
    let bundle: Bundle = xuncha_protocol::decode(bytes, 512 * 1024 * 1024)
        .map_err(|e| format!("证据包损坏，无法读取：{e} / the bundle is damaged and cannot be read: {e}"))?;
    if bundle.version == 0 || bundle.version > VERSION {
        return Err(format!("未知的证据包版本 {} / unknown bundle version {}", bundle.version, bundle.version));
    }
    let checkpoint = &bundle.checkpoint;
    if !checkpoint.verify() {
        return Err("检查点签名无效 / the checkpoint's signature does not verify".into());
    }
    let server_key = hex::encode(&checkpoint.public_key);
    if let Some(expected) = expected_key
        && !expected.eq_ignore_ascii_case(&server_key)
    {
        return Err(format!(
            "检查点由另一把密钥签署：{server_key} / the checkpoint was signed by another key: {server_key}"
        ));
    }
    let mut link: [u8; 32] =
        bundle.before.as_slice().try_into().map_err(|_| "证据包损坏：链起点 / damaged chain start".to_owned())?;
    let mut changes = Vec::new();
    let mut expected_seq = None;
    for entry in &bundle.segment {
        let (seq, digest) = match entry {
            Link::Change(row) => (row.seq, row.digest()),
            Link::Other { seq, digest } => (
                *seq,
                digest.as_slice().try_into().map_err(|_| format!("证据包损坏：第 {seq} 条 / damaged entry {seq}"))?,
            ),
        };
        if expected_seq.is_some_and(|e| e != seq) {
            return Err(format!("链在第 {seq} 条处断开 / the chain breaks at entry {seq}"));
        }
        expected_seq = Some(seq + 1);
        link = chain::link(&link, &digest);
        if let Link::Change(row) = entry {
            changes.push(row);
        }
    }
    if expected_seq.map(|e| e - 1) != Some(checkpoint.seq) || link.as_slice() != checkpoint.link.as_slice() {
        return Err(format!(
            "修改记录与签名的检查点（第 {} 条）不符 / the changes do not lead to the signed checkpoint (entry {})",
            checkpoint.seq, checkpoint.seq
        ));
    }
    let record_id: RecordId =
        bundle.record.parse().map_err(|_| "证据包损坏：记录编号 / damaged record id".to_owned())?;
    let mut bytes = Vec::new();
    for row in changes.iter().filter(|r| r.part == "record") {
        if row.record != record_id.uuid().as_bytes() {
            return Err(format!("第 {} 条属于另一条记录 / entry {} belongs to another record", row.seq, row.seq));
        }
        let change = automerge::Change::try_from(row.bytes.as_slice()).map_err(|e| {
            format!("第 {} 条修改无法读取：{e} / change at entry {} cannot be read: {e}", row.seq, row.seq)
        })?;
        if change.hash().to_string() != row.hash {
            return Err(format!(
                "第 {} 条修改的哈希不符 / the change at entry {} does not match its hash",
                row.seq, row.seq
            ));
        }
        bytes.extend_from_slice(&row.bytes);
    }
    let mut doc = RecordDoc::load(&bytes)
        .map_err(|e| format!("记录无法由其修改重建：{e} / the record cannot be rebuilt from its changes: {e}"))?;
    if doc.id() != record_id {
        return Err("证据包中的修改属于另一条记录 / the changes are of another record".into());
    }
    let record = doc.read();
    for attachment in &bundle.attachments {
        if hex::encode(Sha256::digest(&attachment.bytes)) != attachment.sha256 {
            return Err(format!(
                "附件 {} 与其哈希不符 / attachment {} does not match its hash",
                attachment.sha256, attachment.sha256
            ));
        }
        if !record.all_attachments().any(|a| a.sha256 == attachment.sha256) {
            return Err(format!(
                "附件 {} 不属于此记录 / attachment {} is not the record's",
                attachment.sha256, attachment.sha256
            ));
        }
    }
    // Each change signed by its device: the signature covers the change hash, which
    // covers its author, time and content.
    let mut signed = 0;
    for row in changes.iter().filter(|r| r.part == "record") {
        let Some(signature) = bundle.signatures.iter().find(|s| s.seq == row.seq) else { continue };
        let key = bundle
            .devices
            .iter()
            .find(|d| d.device_id == row.device_id)
            .and_then(|d| xuncha_domain::signing::public_key(&d.signing_key))
            .ok_or_else(|| {
                format!("第 {} 条修改的设备没有公钥 / no public key for the device of entry {}", row.seq, row.seq)
            })?;
        let hash = hex::decode(&row.hash).unwrap_or_default();
        if !xuncha_domain::signing::verify(&key, &hash, &signature.signature) {
            return Err(format!(
                "第 {} 条修改的设备签名无效 / the device signature of the change at entry {} does not verify",
                row.seq, row.seq
            ));
        }
        signed += 1;
    }
    if bundle.signatures.iter().any(|s| !changes.iter().any(|r| r.seq == s.seq && r.part == "record")) {
        return Err("证据包中有不属于其修改的签名 / the bundle carries a signature of no change in it".into());
    }
    let record_changes = changes.iter().filter(|r| r.part == "record").count();
    let mut devices: Vec<String> = changes.iter().map(|r| r.device_id.clone()).collect();
    devices.sort();
    devices.dedup();
    Ok(Verified {
        record: bundle.record.clone(),
        title: record.title_or_placeholder().to_owned(),
        kind: record.kind.zh().to_owned(),
        creator: record.creator.clone(),
        changes: changes.len(),
        devices,
        first_ms: changes.iter().map(|r| r.received_at_ms).min().unwrap_or(0),
        last_ms: changes.iter().map(|r| r.received_at_ms).max().unwrap_or(0),
        attachments: bundle.attachments.len(),
        signed,
        unsigned: record_changes - signed,
        signers: bundle.devices.clone(),
        checkpoint_seq: checkpoint.seq,
        checkpoint_at_ms: checkpoint.at_ms,
        server_id: checkpoint.server_id.clone(),
        server_key,
    })
}
