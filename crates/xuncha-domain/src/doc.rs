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
pub const SCHEMA_VERSION: i64 = 1;

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
    pub fn load(bytes: &[u8]) -> Result<RecordDoc, DomainError> {
        let doc = AutoCommit::load(bytes).map_err(|e| DomainError::Corrupt(e.to_string()))?;
        RecordDoc::from_automerge(doc)
    }

    /// Loads a snapshot and then each incremental chunk in order.
    pub fn load_parts<'a>(
        snapshot: &[u8],
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<RecordDoc, DomainError> {
        let mut doc = AutoCommit::load(snapshot).map_err(|e| DomainError::Corrupt(e.to_string()))?;
        for chunk in chunks {
            doc.load_incremental(chunk).map_err(|e| DomainError::Corrupt(e.to_string()))?;
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
        self.doc.load_incremental(bytes).map_err(|e| DomainError::Corrupt(e.to_string()))?;
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
            Edit::SetReviewStatus { status } => self.set_status(*status),
            Edit::Decide { status, note } => {
                if !status.is_review_decision() {
                    return Err(DomainError::BadTransition {
                        from: self.status().code().to_owned(),
                        to: status.code().to_owned(),
                        allowed: "needs_more, verified, case_filed, not_pursued, closed".to_owned(),
                    });
                }
                self.set_status(*status)?;
                let review = self.map_at_root(keys::REVIEW)?;
                let decision = self.doc.put_object(&review, keys::DECISION, ObjType::Map)?;
                self.doc.put(&decision, keys::STATUS, status.code())?;
                self.doc.put(&decision, keys::NOTE, note.as_str())?;
                self.doc.put(&decision, keys::BY, ctx.author.as_str())?;
                self.doc.put(&decision, keys::AT, ctx.now_ms)?;
                let pinned: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
                self.doc.put(&decision, keys::HEADS, pinned.join(","))?;
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

    fn set_status(&mut self, to: ReviewStatus) -> Result<(), DomainError> {
        let from = self.status();
        if from == to {
            return Ok(());
        }
        if !from.next().contains(&to) {
            return Err(DomainError::BadTransition {
                from: format!("{} {}", from.code(), from.zh()),
                to: format!("{} {}", to.code(), to.zh()),
                allowed: from.next().iter().map(|s| format!("{} {}", s.code(), s.zh())).collect::<Vec<_>>().join(", "),
            });
        }
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
            .and_then(|s| s.as_str().and_then(ReviewStatus::parse))
            .unwrap_or(ReviewStatus::Draft)
    }

    /// Reads the whole record into typed values (where fields conflict, the value
    /// Automerge picks deterministically; see [`RecordDoc::conflicts`] for all of them).
    pub fn read(&mut self) -> Record {
        let mut record = codec::read_record(&self.doc, self.id, self.kind);
        if let Some(decision) = &mut record.review.decision {
            decision.void = self.decision_void(&decision.heads);
        }
        record
    }

    /// Whether the record changed outside its review block after the decision: the
    /// decision covers the record as of the change that made it (`pinned` are that
    /// change's parents, kept for the audit trail).
    fn decision_void(&mut self, pinned: &[String]) -> bool {
        let decision = codec::map_child(&self.doc, &ROOT, keys::REVIEW)
            .and_then(|review| codec::map_child(&self.doc, &review, keys::DECISION));
        let covered = match decision.and_then(|obj| self.doc.hash_for_opid(&obj)) {
            Some(change) => vec![change],
            None => match pinned.iter().map(|h| h.parse::<ChangeHash>()).collect::<Result<Vec<_>, _>>() {
                Ok(heads) if heads.iter().all(|h| self.doc.get_change_meta_by_hash(h).is_some()) => heads,
                _ => return true,
            },
        };
        let current = self.doc.get_heads();
        let patches = self.doc.diff(&covered, &current);
        patches.iter().any(|patch| {
            let path = crate::history::patch_path(patch);
            path.split('/').next() != Some(keys::REVIEW)
        })
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

/// Commits the open transaction with the author, device and time of `ctx`.
fn commit(doc: &mut AutoCommit, ctx: &EditContext) -> Option<ChangeHash> {
    let author = ChangeAuthor { by: ctx.author.to_string(), dev: ctx.device.to_string(), at: ctx.now_ms };
    let message = serde_json::to_string(&author).unwrap_or_default();
    doc.commit_with(CommitOptions::default().with_message(message).with_time(ctx.now_ms.div_euclid(1000)))
}
