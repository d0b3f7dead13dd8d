//! The Automerge schema of a record behind a typed wrapper: creating, loading, editing,
//! merging and saving. This module and `codec` are the only code that knows document keys.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc};
use serde::{Deserialize, Serialize};

use crate::codec::{self, keys};
use crate::codes::{RecordKind, ReviewStatus};
use crate::division::Division;
use crate::edit::{AttachmentRef, Edit, EditContext};
use crate::error::DomainError;
use crate::field::{Field, Value};
use crate::ids::RecordId;
use crate::record::Record;

/// The version of the document layout written by this code. Documents of a newer layout
/// are refused with a clear error rather than misread.
///
/// Layout 2 (the 巡察 workflow) adds workflow steps and the conclusion to the review block,
/// and the rectification ledger, sources and signatures at the root. Layout-1 documents
/// open as they are: their statuses and gang-clue codes are read as what they stand for
/// (see `ReviewStatus::from_stored`, `Vocabulary::upgrade`), and the first workflow edit
/// marks them layout 2.
pub const SCHEMA_VERSION: i64 = 2;

/// What a new record starts with. Everything but the kind may be filled in later: a draft
/// is always saved, validation only reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRecord {
    pub id: RecordId,
    pub kind: RecordKind,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub round: String,
    #[serde(default)]
    pub township: Option<Division>,
    #[serde(default)]
    pub village: Option<Division>,
    #[serde(default)]
    pub team: String,
}

/// Who made a change, as written into its commit message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeAuthor {
    /// User id.
    pub by: String,
    /// Device id.
    pub dev: String,
    /// Milliseconds since the Unix epoch, from the author's clock.
    pub at: i64,
}

impl ChangeAuthor {
    /// Reads the author from a commit message; `None` for changes not written by Xuncha.
    pub fn from_message(message: Option<&str>) -> Option<ChangeAuthor> {
        serde_json::from_str(message?).ok()
    }
}

/// One inspection record as an Automerge document.
#[derive(Debug)]
pub struct RecordDoc {
    pub(crate) doc: AutoCommit,
    id: RecordId,
    kind: RecordKind,
}

impl RecordDoc {
    /// Creates a record: one change that lays out the whole document, so that later
    /// changes from any device only ever edit it.
    pub fn create(new: &NewRecord, ctx: &EditContext) -> Result<RecordDoc, DomainError> {
        let mut doc = AutoCommit::new().with_actor(ctx.actor.clone());
        doc.put(ROOT, keys::SCHEMA, SCHEMA_VERSION)?;
        doc.put(ROOT, keys::ID, new.id.to_string())?;
        doc.put(ROOT, keys::KIND, new.kind.code())?;
        doc.put(ROOT, keys::CREATOR, ctx.author.as_str())?;
        doc.put(ROOT, keys::CREATED_AT, ctx.now_ms)?;
        doc.put_object(ROOT, keys::NARRATIVE, ObjType::Text)?;
        doc.put_object(ROOT, keys::TAGS, ObjType::Map)?;
        doc.put_object(ROOT, keys::ATTACHMENTS, ObjType::Map)?;
        let review = doc.put_object(ROOT, keys::REVIEW, ObjType::Map)?;
        doc.put(&review, keys::STATUS, ReviewStatus::Draft.code())?;
        doc.put_object(&review, keys::COMMENTS, ObjType::Map)?;
        for list in crate::field::ItemList::ALL.iter().filter(|l| l.kind() == new.kind) {
            doc.put_object(ROOT, list.key(), ObjType::Map)?;
        }
        if new.kind == RecordKind::FundCheck {
            doc.put_object(ROOT, keys::ISSUES, ObjType::Map)?;
        }
        doc.put_object(&review, keys::STEPS, ObjType::Map)?;
        for key in keys::WORKFLOW_MAPS {
            let map = doc.put_object(ROOT, key, ObjType::Map)?;
            if key == keys::RECTIFICATION {
                doc.put_object(&map, keys::PROGRESS, ObjType::Map)?;
            }
        }
        let initial = [
            (Field::Title, (!new.title.is_empty()).then(|| Value::Text(new.title.clone()))),
            (Field::Round, (!new.round.is_empty()).then(|| Value::Text(new.round.clone()))),
            (Field::Township, new.township.clone().map(Value::Division)),
            (Field::Village, new.village.clone().map(Value::Division)),
            (Field::Team, (!new.team.is_empty()).then(|| Value::Text(new.team.clone()))),
        ];
        for (field, value) in initial {
            if let Some(value) = value {
                codec::put_value(&mut doc, &ROOT, field.key(), &value)?;
            }
        }
        commit(&mut doc, ctx);
        Ok(RecordDoc { doc, id: new.id, kind: new.kind })
    }

    /// Loads a saved document (a snapshot, optionally followed by incremental chunks).
    /// Bytes that are not a document are `Corrupt`, never a panic (see [`guarded`]).
    pub fn load(bytes: &[u8]) -> Result<RecordDoc, DomainError> {
        let doc = guarded(|| AutoCommit::load(bytes))?;
        RecordDoc::from_automerge(doc)
    }

    /// Loads a snapshot and then each incremental chunk in order.
    pub fn load_parts<'a>(
        snapshot: &[u8],
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<RecordDoc, DomainError> {
        let mut doc = guarded(|| AutoCommit::load(snapshot))?;
        for chunk in chunks {
            guarded(|| doc.load_incremental(chunk))?;
        }
        RecordDoc::from_automerge(doc)
    }

    /// Wraps an Automerge document after checking it is a record this code can read.
    pub fn from_automerge(doc: AutoCommit) -> Result<RecordDoc, DomainError> {
        let not_a_record = |reason: &str| DomainError::NotARecord { reason: reason.to_owned() };
        let schema = codec::scalar(&doc, &ROOT, keys::SCHEMA)
            .and_then(|s| s.as_i64())
            .ok_or_else(|| not_a_record("no schema version"))?;
        if schema > SCHEMA_VERSION {
            return Err(not_a_record(&format!(
                "written by a newer Xuncha (layout {schema}, this one reads up to {SCHEMA_VERSION}); update the app"
            )));
        }
        let id = codec::scalar(&doc, &ROOT, keys::ID)
            .and_then(|s| s.as_str().map(str::to_owned))
            .ok_or_else(|| not_a_record("no record id"))?
            .parse()?;
        let kind_code = codec::scalar(&doc, &ROOT, keys::KIND)
            .and_then(|s| s.as_str().map(str::to_owned))
            .ok_or_else(|| not_a_record("no record kind"))?;
        let kind = RecordKind::parse(&kind_code)
            .ok_or_else(|| DomainError::UnknownKind { input: kind_code.clone(), expected: RecordKind::codes() })?;
        Ok(RecordDoc { doc, id, kind })
    }

    /// The record's id.
    pub fn id(&self) -> RecordId {
        self.id
    }

    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// The current heads of the document.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The whole document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The changes made since `heads`, for an incremental chunk or a sync upload.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// Applies changes received from elsewhere (another device, a sync response).
    /// Returns how many changes were new. On an error the replica must be discarded
    /// (the caller's transaction rolls back), since part of the bytes may have applied.
    pub fn load_changes(&mut self, bytes: &[u8]) -> Result<usize, DomainError> {
        let before = self.doc.get_heads();
        guarded(|| self.doc.load_incremental(bytes))?;
        self.check_identity()?;
        Ok(self.doc.get_changes(&before).len())
    }

    /// Checks that merged changes left the record what it was: the same id and kind, a
    /// layout this code reads, and no concurrent ids.
    fn check_identity(&mut self) -> Result<(), DomainError> {
        let ids = self.doc.get_all(ROOT, keys::ID)?.len();
        let kinds = self.doc.get_all(ROOT, keys::KIND)?.len();
        if ids != 1 || kinds != 1 {
            return Err(DomainError::NotARecord { reason: "the changes belong to another record".to_owned() });
        }
        let doc = std::mem::take(&mut self.doc);
        let checked = RecordDoc::from_automerge(doc);
        match checked {
            Ok(checked) if checked.id == self.id && checked.kind == self.kind => {
                self.doc = checked.doc;
                Ok(())
            }
            Ok(checked) => {
                self.doc = checked.doc;
                Err(DomainError::NotARecord { reason: "the changes change the record's id or kind".to_owned() })
            }
            Err(error) => Err(error),
        }
    }

    /// Merges another replica of the same record into this one.
    pub fn merge(&mut self, other: &mut RecordDoc) -> Result<(), DomainError> {
        if other.id != self.id {
            return Err(DomainError::NotARecord {
                reason: format!("cannot merge record {} into record {}", other.id, self.id),
            });
        }
        self.doc.merge(&mut other.doc)?;
        self.check_identity()
    }

    /// An independent copy of this replica, writing as `actor` from now on.
    pub fn fork(&mut self, actor: automerge::ActorId) -> RecordDoc {
        RecordDoc { doc: self.doc.fork().with_actor(actor), id: self.id, kind: self.kind }
    }

    /// Applies `edits` as one change, or none if they change nothing. Either every edit
    /// applies or none does. A withdrawn record takes no edits (withdrawing it again changes
    /// nothing); changes merged from other devices still merge.
    pub fn apply(&mut self, edits: &[Edit], ctx: &EditContext) -> Result<Option<ChangeHash>, DomainError> {
        self.doc.set_actor(ctx.actor.clone());
        let heads = self.doc.get_heads();
        for edit in edits {
            if let Err(error) = self.apply_one(edit, ctx, &heads) {
                self.doc.rollback();
                return Err(error);
            }
        }
        if self.doc.pending_ops() == 0 {
            self.doc.rollback();
            return Ok(None);
        }
        Ok(commit(&mut self.doc, ctx))
    }

    fn apply_one(&mut self, edit: &Edit, ctx: &EditContext, heads: &[ChangeHash]) -> Result<(), DomainError> {
        let kind = self.kind;
        // Read with the batch's own ops, so a withdrawal also ends the batch it is in.
        if let Some(withdrawn) = codec::map_child(&self.doc, &ROOT, keys::WITHDRAWN) {
            if matches!(edit, Edit::Withdraw) {
                return Ok(());
            }
            let by = codec::scalar(&self.doc, &withdrawn, keys::BY).and_then(|s| s.as_str().map(str::to_owned));
            return Err(DomainError::Withdrawn { by: by.unwrap_or_default() });
        }
        match edit {
            Edit::Set { field, value } => {
                if !field.kinds().contains(kind) {
                    return Err(DomainError::FieldNotInKind {
                        field: field.key().to_owned(),
                        kind: kind.code().to_owned(),
                    });
                }
                codec::check_type(field.key(), field.ty(), value.as_ref())?;
                codec::set_settling(&mut self.doc, &ROOT, field.key(), field.ty(), value.as_ref())
            }
            Edit::InsertItem { list, id, values } => {
                if list.kind() != kind {
                    return Err(DomainError::FieldNotInKind {
                        field: list.key().to_owned(),
                        kind: kind.code().to_owned(),
                    });
                }
                let list_obj = self.map_at_root(list.key())?;
                if self.doc.get(&list_obj, id.key())?.is_some() {
                    return Err(DomainError::ItemExists { item: id.to_string() });
                }
                let item = self.doc.put_object(&list_obj, id.key(), ObjType::Map)?;
                for (field, value) in values {
                    if field.list() != *list {
                        return Err(DomainError::FieldNotInKind {
                            field: field.key().to_owned(),
                            kind: list.key().to_owned(),
                        });
                    }
                    codec::check_type(field.key(), field.ty(), Some(value))?;
                    codec::put_value(&mut self.doc, &item, field.key(), value)?;
                }
                Ok(())
            }
            Edit::UpdateItem { id, field, value } => {
                let list = field.list();
                if list.kind() != kind {
                    return Err(DomainError::FieldNotInKind {
                        field: field.key().to_owned(),
                        kind: kind.code().to_owned(),
                    });
                }
                codec::check_type(field.key(), field.ty(), value.as_ref())?;
                let list_obj = self.map_at_root(list.key())?;
                let item = codec::map_child(&self.doc, &list_obj, &id.key())
                    .ok_or_else(|| DomainError::ItemNotFound { item: id.to_string() })?;
                codec::set_settling(&mut self.doc, &item, field.key(), field.ty(), value.as_ref())
            }
            Edit::RemoveItem { list, id } => {
                let list_obj = self.map_at_root(list.key())?;
                if self.doc.get(&list_obj, id.key())?.is_none() {
                    return Err(DomainError::ItemNotFound { item: id.to_string() });
                }
                // Relations that point at a removed subject go with it.
                if *list == crate::field::ItemList::Subjects {
                    let relations = self.map_at_root(crate::field::ItemList::Relations.key())?;
                    let subject = id.to_string();
                    let dangling: Vec<String> = self
                        .doc
                        .keys(&relations)
                        .filter(|key| {
                            codec::map_child(&self.doc, &relations, key).is_some_and(|rel| {
                                [crate::field::ItemField::From, crate::field::ItemField::To].iter().any(|end| {
                                    codec::scalar(&self.doc, &rel, end.key())
                                        .and_then(|v| v.as_str().map(|s| s == subject))
                                        .unwrap_or(false)
                                })
                            })
                        })
                        .collect();
                    for key in dangling {
                        self.doc.delete(&relations, key.as_str())?;
                    }
                }
                self.doc.delete(&list_obj, id.key())?;
                Ok(())
            }
            Edit::Narrative { text } => {
                let narrative = codec::child(&self.doc, &ROOT, keys::NARRATIVE)
                    .ok_or_else(|| DomainError::NotARecord { reason: "no narrative".to_owned() })?;
                if self.doc.text(&narrative)? != *text {
                    self.doc.update_text(&narrative, text)?;
                }
                Ok(())
            }
            Edit::AddTag { tag } => {
                let tag = tag.trim();
                if tag.is_empty() {
                    return Err(DomainError::BadValue {
                        field: "tags".into(),
                        input: String::new(),
                        expected: "非空标签 (a non-empty tag)".into(),
                    });
                }
                let tags = self.map_at_root(keys::TAGS)?;
                if self.doc.get(&tags, tag)?.is_none() {
                    self.doc.put(&tags, tag, true)?;
                }
                Ok(())
            }
            Edit::RemoveTag { tag } => {
                let tags = self.map_at_root(keys::TAGS)?;
                if self.doc.get(&tags, tag.trim())?.is_some() {
                    self.doc.delete(&tags, tag.trim())?;
                }
                Ok(())
            }
            Edit::SetIssue { issue, present } => {
                if kind != RecordKind::FundCheck {
                    return Err(DomainError::FieldNotInKind {
                        field: keys::ISSUES.to_owned(),
                        kind: kind.code().to_owned(),
                    });
                }
                let issues = self.map_at_root(keys::ISSUES)?;
                let exists = self.doc.get(&issues, issue.code())?.is_some();
                if *present && !exists {
                    self.doc.put(&issues, issue.code(), true)?;
                } else if !*present && exists {
                    self.doc.delete(&issues, issue.code())?;
                }
                Ok(())
            }
            Edit::AddAttachment { attachment } => {
                if !AttachmentRef::is_valid_hash(&attachment.sha256) {
                    return Err(DomainError::BadValue {
                        field: "attachments".into(),
                        input: attachment.sha256.clone(),
                        expected: "64 位小写十六进制 SHA-256 (a lower-case hex SHA-256)".into(),
                    });
                }
                let attachments = self.map_at_root(keys::ATTACHMENTS)?;
                if self.doc.get(&attachments, attachment.sha256.as_str())?.is_none() {
                    codec::put_attachment(&mut self.doc, &attachments, attachment)?;
                }
                Ok(())
            }
            Edit::SetAttachmentCaption { sha256, caption } => {
                let attachments = self.map_at_root(keys::ATTACHMENTS)?;
                let attachment = codec::map_child(&self.doc, &attachments, sha256)
                    .ok_or_else(|| DomainError::AttachmentNotFound { sha256: sha256.clone() })?;
                codec::set_settling(
                    &mut self.doc,
                    &attachment,
                    keys::CAPTION,
                    crate::field::FieldType::Text,
                    Some(&Value::Text(caption.clone())),
                )
            }
            Edit::RemoveAttachment { sha256 } => {
                let attachments = self.map_at_root(keys::ATTACHMENTS)?;
                if self.doc.get(&attachments, sha256.as_str())?.is_none() {
                    return Err(DomainError::AttachmentNotFound { sha256: sha256.clone() });
                }
                self.doc.delete(&attachments, sha256.as_str())?;
                Ok(())
            }
            Edit::AddComment { id, text } => {
                if text.trim().is_empty() {
                    return Err(DomainError::BadValue {
                        field: "comment".into(),
                        input: String::new(),
                        expected: "非空意见 (a non-empty comment)".into(),
                    });
                }
                let review = self.map_at_root(keys::REVIEW)?;
                let comments = codec::map_child(&self.doc, &review, keys::COMMENTS)
                    .ok_or_else(|| DomainError::NotARecord { reason: "no review comments".to_owned() })?;
                if self.doc.get(&comments, id.key())?.is_some() {
                    return Err(DomainError::ItemExists { item: id.to_string() });
                }
                let comment = self.doc.put_object(&comments, id.key(), ObjType::Map)?;
                self.doc.put(&comment, keys::AUTHOR, ctx.author.as_str())?;
                self.doc.put(&comment, keys::AT, ctx.now_ms)?;
                self.doc.put(&comment, keys::TEXT, text.as_str())?;
                Ok(())
            }
            Edit::Transition { to, capacity, note, conclusion, handover } => {
                let from = self.status();
                let asked = crate::workflow::Asked { note, conclusion: *conclusion, handover: handover.as_ref() };
                let review = self.map_at_root(keys::REVIEW)?;
                let current = codec::scalar(&self.doc, &review, keys::CONCLUSION)
                    .and_then(|c| c.as_str().and_then(crate::codes::Conclusion::parse));
                crate::workflow::check_step(kind, from, *to, *capacity, &asked, current)
                    .map_err(|refusal| DomainError::Refused { code: refusal.code, message: refusal.to_string() })?;
                self.set_status(*to)?;
                self.mark_layout()?;
                let prev = codec::steps_of(&self.doc, &review).last().map(|s| s.id.clone()).unwrap_or_default();
                let steps = codec::ensure_map(&mut self.doc, &review, keys::STEPS)?;
                let actor = ctx.actor.to_hex_string();
                let count =
                    codec::maps(&self.doc, &review, keys::STEPS).iter().map(|m| self.doc.length(m)).sum::<usize>();
                let key = format!("{:013}{count:04}-{}", ctx.now_ms.max(0), &actor[..actor.len().min(8)]);
                let step = self.doc.put_object(&steps, key.as_str(), ObjType::Map)?;
                self.doc.put(&step, keys::PREV, prev.as_str())?;
                self.doc.put(&step, keys::FROM, from.code())?;
                self.doc.put(&step, keys::TO, to.code())?;
                self.doc.put(&step, keys::BY, ctx.author.as_str())?;
                self.doc.put(&step, keys::CAPACITY, capacity.code())?;
                self.doc.put(&step, keys::AT, ctx.now_ms)?;
                self.doc.put(&step, keys::NOTE, note.trim())?;
                let pinned: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
                self.doc.put(&step, keys::HEADS, pinned.join(","))?;
                if let Some(conclusion) = conclusion {
                    self.doc.put(&step, keys::CONCLUSION, conclusion.code())?;
                    codec::set_settling(
                        &mut self.doc,
                        &review,
                        keys::CONCLUSION,
                        crate::field::FieldType::Text,
                        Some(&Value::Text(conclusion.code().to_owned())),
                    )?;
                }
                if let Some(handover) = handover {
                    self.doc.put(&step, keys::HANDOVER_TO, handover.to.code())?;
                    self.doc.put(&step, keys::HANDOVER_UNIT, handover.unit.trim())?;
                    self.doc.put(&step, keys::HANDOVER_NUMBER, handover.number.trim())?;
                    self.doc.put(&step, keys::HANDOVER_DATE, handover.date.trim())?;
                }
                Ok(())
            }
            Edit::Ledger { change } => {
                if !crate::workflow::is_problem(kind) {
                    return Err(DomainError::FieldNotInKind {
                        field: keys::RECTIFICATION.to_owned(),
                        kind: kind.code().to_owned(),
                    });
                }
                if let Some(deadline) = &change.deadline
                    && !deadline.trim().is_empty()
                    && !crate::field::is_date(deadline.trim())
                {
                    return Err(DomainError::BadValue {
                        field: keys::DEADLINE.into(),
                        input: deadline.clone(),
                        expected: "日期 YYYY-MM-DD (a date, YYYY-MM-DD)".into(),
                    });
                }
                self.mark_layout()?;
                let ledger = codec::ensure_map(&mut self.doc, &ROOT, keys::RECTIFICATION)?;
                let texts = [
                    (keys::UNIT, change.unit.clone()),
                    (keys::OWNER, change.owner.clone()),
                    (keys::MEASURES, change.measures.clone()),
                    (keys::DEADLINE, change.deadline.clone()),
                    (keys::RECTIFY_KIND, change.kind.map(|k| k.code().to_owned())),
                ];
                for (key, text) in texts {
                    if let Some(text) = text {
                        let text = text.trim();
                        let value = (!text.is_empty()).then(|| Value::Text(text.to_owned()));
                        codec::set_settling(
                            &mut self.doc,
                            &ledger,
                            key,
                            crate::field::FieldType::Text,
                            value.as_ref(),
                        )?;
                        // A map another device created at once may hold the term too.
                        for other in codec::maps(&self.doc, &ROOT, keys::RECTIFICATION).into_iter().skip(1) {
                            codec::set_settling(&mut self.doc, &other, key, crate::field::FieldType::Text, None)?;
                        }
                    }
                }
                Ok(())
            }
            Edit::AddProgress { id, text, attachments } => {
                if text.trim().is_empty() {
                    return Err(DomainError::BadValue {
                        field: keys::PROGRESS.into(),
                        input: String::new(),
                        expected: "整改进展的说明 (what was done)".into(),
                    });
                }
                if let Some(bad) = attachments.iter().find(|a| !AttachmentRef::is_valid_hash(&a.sha256)) {
                    return Err(DomainError::BadValue {
                        field: keys::PROGRESS.into(),
                        input: bad.sha256.clone(),
                        expected: "64 位小写十六进制 SHA-256 (a lower-case hex SHA-256)".into(),
                    });
                }
                self.mark_layout()?;
                let ledger = codec::ensure_map(&mut self.doc, &ROOT, keys::RECTIFICATION)?;
                let progress = codec::ensure_map(&mut self.doc, &ledger, keys::PROGRESS)?;
                if self.doc.get(&progress, id.key())?.is_some() {
                    return Err(DomainError::ItemExists { item: id.to_string() });
                }
                let entry = self.doc.put_object(&progress, id.key(), ObjType::Map)?;
                self.doc.put(&entry, keys::TEXT, text.trim())?;
                self.doc.put(&entry, keys::BY, ctx.author.as_str())?;
                self.doc.put(&entry, keys::AT, ctx.now_ms)?;
                let files = self.doc.put_object(&entry, keys::ATTACHMENTS, ObjType::Map)?;
                for attachment in attachments {
                    codec::put_attachment(&mut self.doc, &files, attachment)?;
                }
                Ok(())
            }
            Edit::Cite { source } => {
                if *source == self.id {
                    return Err(DomainError::BadValue {
                        field: keys::SOURCES.into(),
                        input: source.to_string(),
                        expected: "另一条记录 (another record)".into(),
                    });
                }
                let key = source.to_string();
                if codec::entry_in_maps(&self.doc, &ROOT, keys::SOURCES, &key).is_some() {
                    return Ok(());
                }
                self.mark_layout()?;
                let sources = codec::ensure_map(&mut self.doc, &ROOT, keys::SOURCES)?;
                let entry = self.doc.put_object(&sources, key.as_str(), ObjType::Map)?;
                self.doc.put(&entry, keys::BY, ctx.author.as_str())?;
                self.doc.put(&entry, keys::AT, ctx.now_ms)?;
                Ok(())
            }
            Edit::Uncite { source } => {
                let key = source.to_string();
                for map in codec::maps(&self.doc, &ROOT, keys::SOURCES) {
                    if self.doc.get(&map, key.as_str())?.is_some() {
                        self.doc.delete(&map, key.as_str())?;
                    }
                }
                Ok(())
            }
            Edit::Sign { id, role, signer, image, strokes } => {
                if signer.trim().is_empty() {
                    return Err(DomainError::BadValue {
                        field: keys::SIGNER.into(),
                        input: String::new(),
                        expected: "签字人姓名 (the signer's name)".into(),
                    });
                }
                if !AttachmentRef::is_valid_hash(&image.sha256) {
                    return Err(DomainError::BadValue {
                        field: keys::SIGNATURES.into(),
                        input: image.sha256.clone(),
                        expected: "64 位小写十六进制 SHA-256 (a lower-case hex SHA-256)".into(),
                    });
                }
                self.mark_layout()?;
                let signatures = codec::ensure_map(&mut self.doc, &ROOT, keys::SIGNATURES)?;
                if self.doc.get(&signatures, id.key())?.is_some() {
                    return Err(DomainError::ItemExists { item: id.to_string() });
                }
                let entry = self.doc.put_object(&signatures, id.key(), ObjType::Map)?;
                self.doc.put(&entry, keys::ROLE, role.code())?;
                self.doc.put(&entry, keys::SIGNER, signer.trim())?;
                self.doc.put(&entry, keys::BY, ctx.author.as_str())?;
                self.doc.put(&entry, keys::AT, ctx.now_ms)?;
                let pinned: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
                self.doc.put(&entry, keys::HEADS, pinned.join(","))?;
                self.doc.put(&entry, keys::STROKES, strokes.as_str())?;
                codec::put_attachment_at(&mut self.doc, &entry, keys::IMAGE, image)?;
                Ok(())
            }
            Edit::Withdraw => {
                let status = self.status();
                if status != ReviewStatus::Draft {
                    return Err(DomainError::NotADraft { status });
                }
                let withdrawn = self.doc.put_object(ROOT, keys::WITHDRAWN, ObjType::Map)?;
                self.doc.put(&withdrawn, keys::BY, ctx.author.as_str())?;
                self.doc.put(&withdrawn, keys::AT, ctx.now_ms)?;
                Ok(())
            }
        }
    }

    /// Marks a layout-1 document as layout 2 once it holds workflow data, so that older
    /// versions refuse it rather than misread it.
    fn mark_layout(&mut self) -> Result<(), DomainError> {
        let schema = codec::scalar(&self.doc, &ROOT, keys::SCHEMA).and_then(|s| s.as_i64()).unwrap_or(1);
        if schema < SCHEMA_VERSION {
            self.doc.put(ROOT, keys::SCHEMA, SCHEMA_VERSION)?;
        }
        Ok(())
    }

    fn set_status(&mut self, to: ReviewStatus) -> Result<(), DomainError> {
        if to == ReviewStatus::Submitted {
            // Read without the decision check: it diffs heads, which would close the
            // transaction this batch of edits is building.
            let problems = crate::validate::validate(&codec::read_record(&self.doc, self.id, self.kind));
            if !problems.is_empty() {
                let summary =
                    problems.iter().take(5).map(|p| format!("{}: {}", p.path, p.zh)).collect::<Vec<_>>().join("; ");
                return Err(DomainError::NotReadyForReview { count: problems.len(), summary });
            }
        }
        let review = self.map_at_root(keys::REVIEW)?;
        codec::set_settling(
            &mut self.doc,
            &review,
            keys::STATUS,
            crate::field::FieldType::Text,
            Some(&Value::Text(to.code().to_owned())),
        )
    }

    /// The current review status (a status this version does not know reads as draft).
    pub fn status(&self) -> ReviewStatus {
        codec::child(&self.doc, &ROOT, keys::REVIEW)
            .and_then(|review| codec::scalar(&self.doc, &review, keys::STATUS))
            .and_then(|s| s.as_str().and_then(ReviewStatus::from_stored))
            .unwrap_or(ReviewStatus::Draft)
    }

    /// Reads the whole record into typed values (where fields conflict, the value
    /// Automerge picks deterministically; see [`RecordDoc::conflicts`] for all of them).
    pub fn read(&mut self) -> Record {
        let mut record = codec::read_record(&self.doc, self.id, self.kind);
        let review = codec::map_child(&self.doc, &ROOT, keys::REVIEW);
        let mut voids = VoidCache::default();
        if let Some(decision) = &mut record.review.decision {
            let obj = review.as_ref().and_then(|r| codec::map_child(&self.doc, r, keys::DECISION));
            decision.void = self.covers_older(&mut voids, obj, &decision.heads);
        }
        for step in &mut record.review.steps {
            let obj = review.as_ref().and_then(|r| codec::entry_in_maps(&self.doc, r, keys::STEPS, &step.id));
            step.void = self.covers_older(&mut voids, obj, &step.heads);
        }
        for signature in &mut record.signatures {
            let obj = codec::entry_in_maps(&self.doc, &ROOT, keys::SIGNATURES, &signature.id.key());
            signature.void = self.covers_older(&mut voids, obj, &signature.heads);
        }
        record
    }

    /// Whether the record's content (anything outside the review block, the ledger and the
    /// signatures) changed after the change that wrote `obj` (a decision, a step, a
    /// signature): then it covers an older version. `pinned` (the heads it was given on)
    /// stand in when the writing change cannot be found.
    fn covers_older(&mut self, voids: &mut VoidCache, obj: Option<ObjId>, pinned: &[String]) -> bool {
        let covered = match obj.and_then(|obj| self.doc.hash_for_opid(&obj)) {
            Some(change) => vec![change],
            None => match pinned.iter().map(|h| h.parse::<ChangeHash>()).collect::<Result<Vec<_>, _>>() {
                Ok(heads) if heads.iter().all(|h| self.doc.get_change_meta_by_hash(h).is_some()) => heads,
                _ => return true,
            },
        };
        if let Some((_, void)) = voids.0.iter().find(|(c, _)| *c == covered) {
            return *void;
        }
        let current = self.doc.get_heads();
        let patches = self.doc.diff(&covered, &current);
        let void = patches.iter().any(|patch| {
            let path = crate::history::patch_path(patch);
            !matches!(
                path.split('/').next(),
                Some(keys::REVIEW | keys::SIGNATURES | keys::RECTIFICATION | keys::SCHEMA)
            )
        });
        voids.0.push((covered, void));
        void
    }

    fn map_at_root(&self, key: &str) -> Result<ObjId, DomainError> {
        codec::map_child(&self.doc, &ROOT, key)
            .ok_or_else(|| DomainError::NotARecord { reason: format!("no {key} map") })
    }

    /// Direct read access for the crate's read-side modules.
    pub(crate) fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }
}

/// Whether each covering change (by its hashes) was found void, within one read.
#[derive(Default)]
struct VoidCache(Vec<(Vec<ChangeHash>, bool)>);

/// Commits the open transaction with the author, device and time of `ctx`.
fn commit(doc: &mut AutoCommit, ctx: &EditContext) -> Option<ChangeHash> {
    let author = ChangeAuthor { by: ctx.author.to_string(), dev: ctx.device.to_string(), at: ctx.now_ms };
    let message = serde_json::to_string(&author).unwrap_or_default();
    doc.commit_with(CommitOptions::default().with_message(message).with_time(ctx.now_ms.div_euclid(1000)))
}

thread_local! {
    /// How deep this thread is in [`guarded`] loads.
    static GUARDED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether this thread is inside a [`guarded`] load, where a panic is Automerge's and is
/// caught. A panic hook that aborts on every panic (libFuzzer's) asks this first.
pub fn inside_guarded() -> bool {
    GUARDED.with(|depth| depth.get() > 0)
}

/// Runs an Automerge load of bytes from elsewhere (a device, the server, a file). Some
/// malformed bytes make Automerge panic rather than fail (a short read unwrapped in its
/// column decoder, found by fuzzing): that is `Corrupt` too, like every other malformed
/// input, so no upload can make the server answer 500 and no download can crash a device.
/// A replica that was loading when it failed must be discarded, as for any error.
pub fn guarded<T>(load: impl FnOnce() -> Result<T, automerge::AutomergeError>) -> Result<T, DomainError> {
    GUARDED.with(|depth| depth.set(depth.get() + 1));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(load));
    GUARDED.with(|depth| depth.set(depth.get() - 1));
    match outcome {
        Ok(result) => result.map_err(|e| DomainError::Corrupt(e.to_string())),
        Err(_) => Err(DomainError::Corrupt("the bytes are not a valid Automerge document".into())),
    }
}
