//! Concurrent values: every field that holds more than one value after a merge, with each
//! value and who wrote it. Automerge keeps them all; nothing concurrent is lost silently.

use std::fmt;

use automerge::{AutoCommit, ObjId, ROOT, ReadDoc};
use serde::{Deserialize, Serialize};

use crate::codec::{self, keys};
use crate::doc::{ChangeAuthor, RecordDoc};
use crate::field::{Field, FieldType, ItemField, ItemList};
use crate::ids::ItemId;

/// Where a value lives in a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum FieldPath {
    Field { field: Field },
    Item { id: ItemId, field: ItemField },
    AttachmentCaption { sha256: String },
    ReviewStatus,
    Decision,
    Narrative,
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldPath::Field { field } => f.write_str(field.key()),
            FieldPath::Item { id, field } => {
                write!(f, "{}/{}/{}", field.list().key(), id.key(), field.key())
            }
            FieldPath::AttachmentCaption { sha256 } => write!(f, "attachments/{sha256}/caption"),
            FieldPath::ReviewStatus => f.write_str("review/status"),
            FieldPath::Decision => f.write_str("review/decision"),
            FieldPath::Narrative => f.write_str("narrative"),
        }
    }
}

impl FieldPath {
    /// Parses the form `Display` writes.
    pub fn parse(text: &str) -> Option<FieldPath> {
        let parts: Vec<&str> = text.trim().split('/').collect();
        match parts.as_slice() {
            ["review", "status"] => Some(FieldPath::ReviewStatus),
            ["review", "decision"] => Some(FieldPath::Decision),
            ["narrative"] => Some(FieldPath::Narrative),
            ["attachments", sha, "caption"] => Some(FieldPath::AttachmentCaption { sha256: (*sha).to_owned() }),
            [list, id, field] => {
                let list = ItemList::parse(list).ok()?;
                Some(FieldPath::Item { id: id.parse().ok()?, field: ItemField::parse_in(list, field).ok()? })
            }
            [field] => Some(FieldPath::Field { field: Field::parse(field).ok()? }),
            _ => None,
        }
    }

    /// The Chinese label.
    pub fn zh(&self) -> String {
        match self {
            FieldPath::Field { field } => field.zh().to_owned(),
            FieldPath::Item { field, .. } => format!("{}·{}", field.list().zh(), field.zh()),
            FieldPath::AttachmentCaption { .. } => "附件说明".to_owned(),
            FieldPath::ReviewStatus => "审核状态".to_owned(),
            FieldPath::Decision => "审核决定".to_owned(),
            FieldPath::Narrative => "情况描述".to_owned(),
        }
    }
}

/// One of the concurrent values of a field.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConflictValue {
    /// The value as shown to a person.
    pub display: String,
    pub author: Option<String>,
    pub device: Option<String>,
    pub at_ms: Option<i64>,
    /// The change that wrote the value (hex).
    pub change: Option<String>,
    /// Whether this is the value reads show until the conflict is settled.
    pub shown: bool,
}

/// A field holding concurrent values.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Conflict {
    pub path: FieldPath,
    pub label_zh: String,
    pub values: Vec<ConflictValue>,
}

impl RecordDoc {
    /// Every field holding concurrent values, in a stable order.
    pub fn conflicts(&mut self) -> Vec<Conflict> {
        let kind = self.kind();
        let doc = self.automerge();
        let mut slots: Vec<(FieldPath, ObjId, String, FieldType)> = Vec::new();
        for field in Field::ALL.iter().filter(|f| f.kinds().contains(kind)) {
            slots.push((FieldPath::Field { field: *field }, ROOT, field.key().to_owned(), field.ty()));
        }
        for list in ItemList::ALL.iter().filter(|l| l.kind() == kind) {
            for key in codec::map_keys(doc, &ROOT, list.key()) {
                let Ok(id) = key.parse::<ItemId>() else {
                    continue;
                };
                let Some(item) = codec::item_obj(doc, *list, id) else {
                    continue;
                };
                for field in list.fields() {
                    slots.push((FieldPath::Item { id, field }, item.clone(), field.key().to_owned(), field.ty()));
                }
            }
        }
        if let Some(attachments) = codec::map_child(doc, &ROOT, keys::ATTACHMENTS) {
            for sha256 in doc.keys(&attachments).collect::<Vec<_>>() {
                if let Some(obj) = codec::map_child(doc, &attachments, &sha256) {
                    slots.push((
                        FieldPath::AttachmentCaption { sha256 },
                        obj,
                        keys::CAPTION.to_owned(),
                        FieldType::Text,
                    ));
                }
            }
        }
        if let Some(review) = codec::map_child(doc, &ROOT, keys::REVIEW) {
            slots.push((FieldPath::ReviewStatus, review.clone(), keys::STATUS.to_owned(), FieldType::Text));
            slots.push((FieldPath::Decision, review, keys::DECISION.to_owned(), FieldType::Text));
        }
        let mut conflicts = Vec::new();
        for (path, obj, key, ty) in slots {
            let all = doc.get_all(&obj, key.as_str()).unwrap_or_default();
            if all.len() < 2 {
                continue;
            }
            let shown = doc.get(&obj, key.as_str()).ok().flatten().map(|(_, id)| id);
            let displayed: Vec<(String, ObjId)> = all
                .iter()
                .map(|(value, id)| {
                    let display = match &path {
                        FieldPath::Decision => describe_decision(doc, id),
                        _ => codec::decode(doc, ty, value, id).map_or_else(|| format!("{value:?}"), |v| v.to_string()),
                    };
                    (display, id.clone())
                })
                .collect();
            drop(all);
            let mut values = Vec::new();
            for (display, id) in displayed {
                let (author, change) = author_of(doc, &id);
                values.push(ConflictValue {
                    display,
                    author: author.as_ref().map(|a| a.by.clone()),
                    device: author.as_ref().map(|a| a.dev.clone()),
                    at_ms: author.as_ref().map(|a| a.at),
                    change,
                    shown: shown.as_ref() == Some(&id),
                });
            }
            conflicts.push(Conflict { label_zh: path.zh(), path, values });
        }
        conflicts
    }

    /// Whether any field holds concurrent values (cheaper than listing them).
    pub fn has_conflicts(&mut self) -> bool {
        !self.conflicts().is_empty()
    }
}

fn describe_decision(doc: &AutoCommit, obj: &ObjId) -> String {
    let status = codec::scalar(doc, obj, keys::STATUS).and_then(|s| s.as_str().map(str::to_owned)).unwrap_or_default();
    let note = codec::scalar(doc, obj, keys::NOTE).and_then(|s| s.as_str().map(str::to_owned)).unwrap_or_default();
    format!("{status}: {note}")
}

/// The author of the change that made operation `id`, and that change's hash.
pub(crate) fn author_of(doc: &mut AutoCommit, id: &ObjId) -> (Option<ChangeAuthor>, Option<String>) {
    let Some(hash) = doc.hash_for_opid(id) else {
        return (None, None);
    };
    let author =
        doc.get_change_meta_by_hash(&hash).and_then(|meta| ChangeAuthor::from_message(meta.message.as_deref()));
    (author, Some(hash.to_string()))
}
