//! The companion document of a record that holds protected fields (the informant of a
//! gang clue). It is a separate Automerge document because a change cannot be partly
//! redacted: the server sends it only to supervisors and to the device that wrote it.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ChangeHash, ObjType, ROOT, ReadDoc};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::doc::ChangeAuthor;
use crate::edit::EditContext;
use crate::error::DomainError;
use crate::field::{FieldType, Value};
use crate::ids::RecordId;

const RECORD_ID: &str = "record_id";
const INFORMANT: &str = "informant";
const KIND: &str = "kind";
const PROTECTED_KIND: &str = "protected";

/// A field of the informant of a gang clue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum InformantField {
    /// 举报人姓名
    Name,
    /// 联系方式
    Contact,
    /// 备注
    Note,
}

impl InformantField {
    /// Every field.
    pub const ALL: &'static [InformantField] = &[InformantField::Name, InformantField::Contact, InformantField::Note];

    /// The stored key.
    pub fn key(self) -> &'static str {
        match self {
            InformantField::Name => "name",
            InformantField::Contact => "contact",
            InformantField::Note => "note",
        }
    }

    /// Finds a field by key.
    pub fn parse(text: &str) -> Result<InformantField, DomainError> {
        InformantField::ALL.iter().copied().find(|f| f.key() == text.trim()).ok_or_else(|| DomainError::UnknownField {
            input: text.to_owned(),
            expected: "name, contact, note".to_owned(),
        })
    }
}

/// The informant, as read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Informant {
    pub name: String,
    pub contact: String,
    pub note: String,
    /// Fields sealed to keys this device does not hold (written by another device for the
    /// district's protected-data key): shown as such, never as empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sealed: Vec<InformantField>,
}

impl Informant {
    /// The value of a field.
    pub fn get(&self, field: InformantField) -> &str {
        match field {
            InformantField::Name => &self.name,
            InformantField::Contact => &self.contact,
            InformantField::Note => &self.note,
        }
    }

    /// The value of a field, to set.
    pub fn get_mut(&mut self, field: InformantField) -> &mut String {
        match field {
            InformantField::Name => &mut self.name,
            InformantField::Contact => &mut self.contact,
            InformantField::Note => &mut self.note,
        }
    }
}

/// The protected companion document of one record.
#[derive(Debug)]
pub struct ProtectedDoc {
    doc: AutoCommit,
    record_id: RecordId,
}

impl ProtectedDoc {
    /// Creates the companion document of `record_id`. Its first change is the same on
    /// every device (a fixed actor, no author, time 0): devices that each start the
    /// companion without having received it (a colleague adding to an informant, a
    /// supervisor) write into one informant map, not into rival ones.
    pub fn create(record_id: RecordId, ctx: &EditContext) -> Result<ProtectedDoc, DomainError> {
        let mut doc = genesis(record_id)?;
        doc.set_actor(ctx.actor.clone());
        Ok(ProtectedDoc { doc, record_id })
    }

    /// The hash of the first change every device writes for `record_id`'s companion (the
    /// server takes it from any device: it carries no author and no value).
    pub fn genesis_hash(record_id: RecordId) -> Result<ChangeHash, DomainError> {
        let mut doc = genesis(record_id)?;
        doc.get_heads().first().copied().ok_or_else(|| DomainError::Corrupt("empty genesis".into()))
    }

    /// Loads a snapshot and incremental chunks.
    pub fn load_parts<'a>(
        snapshot: &[u8],
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<ProtectedDoc, DomainError> {
        let mut doc = crate::doc::guarded(|| AutoCommit::load(snapshot))?;
        for chunk in chunks {
            crate::doc::guarded(|| doc.load_incremental(chunk))?;
        }
        let kind = codec::scalar(&doc, &ROOT, KIND).and_then(|s| s.as_str().map(str::to_owned));
        if kind.as_deref() != Some(PROTECTED_KIND) {
            return Err(DomainError::NotARecord { reason: "not a protected companion document".to_owned() });
        }
        let record_id = codec::scalar(&doc, &ROOT, RECORD_ID)
            .and_then(|s| s.as_str().map(str::to_owned))
            .ok_or_else(|| DomainError::NotARecord { reason: "no record id".to_owned() })?
            .parse()?;
        Ok(ProtectedDoc { doc, record_id })
    }

    /// The record this document belongs to.
    pub fn record_id(&self) -> RecordId {
        self.record_id
    }

    /// Sets (or clears) one informant field as one change.
    pub fn set_informant(
        &mut self,
        field: InformantField,
        value: Option<&str>,
        ctx: &EditContext,
    ) -> Result<Option<ChangeHash>, DomainError> {
        self.doc.set_actor(ctx.actor.clone());
        let informant = codec::map_child(&self.doc, &ROOT, INFORMANT)
            .ok_or_else(|| DomainError::NotARecord { reason: "no informant map".to_owned() })?;
        let value = value.map(|v| Value::Text(v.to_owned()));
        if let Err(error) = codec::set_settling(&mut self.doc, &informant, field.key(), FieldType::Text, value.as_ref())
        {
            self.doc.rollback();
            return Err(error);
        }
        if self.doc.pending_ops() == 0 {
            self.doc.rollback();
            return Ok(None);
        }
        Ok(commit(&mut self.doc, ctx))
    }

    /// The informant.
    pub fn informant(&self) -> Informant {
        let Some(obj) = codec::map_child(&self.doc, &ROOT, INFORMANT) else {
            return Informant::default();
        };
        let text =
            |key| codec::scalar(&self.doc, &obj, key).and_then(|s| s.as_str().map(str::to_owned)).unwrap_or_default();
        Informant { name: text("name"), contact: text("contact"), note: text("note"), sealed: Vec::new() }
    }

    /// Current heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The whole document.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Changes since `heads`.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// Direct access for the crate's sync helpers.
    pub(crate) fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// Applies changes from elsewhere.
    pub fn load_changes(&mut self, bytes: &[u8]) -> Result<usize, DomainError> {
        let applied = crate::doc::guarded(|| self.doc.load_incremental(bytes))?;
        // Merged changes may not turn the companion into something else.
        let kinds = self.doc.get_all(ROOT, KIND)?;
        let records = self.doc.get_all(ROOT, RECORD_ID)?;
        let record = codec::scalar(&self.doc, &ROOT, RECORD_ID).and_then(|s| s.as_str().map(str::to_owned));
        if kinds.len() != 1 || records.len() != 1 || record.as_deref() != Some(self.record_id.to_string().as_str()) {
            return Err(DomainError::NotARecord { reason: "the changes change the companion's record".to_owned() });
        }
        Ok(applied)
    }
}

/// The actor of every companion's first change.
const GENESIS_ACTOR: &[u8; 16] = b"xuncha-protected";

fn genesis(record_id: RecordId) -> Result<AutoCommit, DomainError> {
    let mut doc = AutoCommit::new().with_actor(automerge::ActorId::from(GENESIS_ACTOR.as_slice()));
    doc.put(ROOT, KIND, PROTECTED_KIND)?;
    doc.put(ROOT, RECORD_ID, record_id.to_string())?;
    doc.put_object(ROOT, INFORMANT, ObjType::Map)?;
    doc.commit_with(CommitOptions::default().with_time(0));
    Ok(doc)
}

fn commit(doc: &mut AutoCommit, ctx: &EditContext) -> Option<ChangeHash> {
    let author = ChangeAuthor { by: ctx.author.to_string(), dev: ctx.device.to_string(), at: ctx.now_ms };
    let message = serde_json::to_string(&author).unwrap_or_default();
    doc.commit_with(CommitOptions::default().with_message(message).with_time(ctx.now_ms.div_euclid(1000)))
}
