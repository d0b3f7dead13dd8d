//! History: every change of a record in causal order (who, which device, when, which
//! fields), per field the sequence of values it took, and who wrote each review comment.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ChangeHash, ObjId, Patch, PatchAction, Prop, ROOT, ReadDoc};
use serde::Serialize;

use crate::codec::{self, keys};
use crate::conflict::{FieldPath, author_of};
use crate::doc::{ChangeAuthor, RecordDoc};
use crate::ids::ItemId;

/// One change in a record's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HistoryEntry {
    /// The change hash (hex).
    pub change: String,
    pub author: Option<String>,
    pub device: Option<String>,
    /// The Automerge actor (hex) that made the change.
    pub actor: String,
    /// When the author's clock says the change was made (ms since the epoch).
    pub at_ms: Option<i64>,
    /// The paths the change touched, e.g. `allocated`, `beneficiaries/<id>/received`.
    pub paths: Vec<String>,
    /// What the change did to the record as a whole, when it did more than edit fields,
    /// Chinese then English: `撤回草稿 / draft withdrawn`.
    pub summary: Option<String>,
}

/// The value a field had after one change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FieldVersion {
    pub change: String,
    pub author: Option<String>,
    pub device: Option<String>,
    pub at_ms: Option<i64>,
    /// The value after the change, as shown to a person (`None` when cleared).
    pub value: Option<String>,
}

/// The path of the value a patch changed, e.g. `beneficiaries/<id>/received`.
pub(crate) fn patch_path(patch: &Patch) -> String {
    let mut parts: Vec<String> = patch
        .path
        .iter()
        .map(|(_, prop)| match prop {
            Prop::Map(key) => key.clone(),
            Prop::Seq(index) => index.to_string(),
        })
        .collect();
    match &patch.action {
        PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => parts.push(key.clone()),
        PatchAction::Increment { prop: Prop::Map(key), .. } | PatchAction::Conflict { prop: Prop::Map(key) } => {
            parts.push(key.clone());
        }
        _ => {}
    }
    // Inside an attachment's GPS point or a division, the field is the parent.
    if parts.len() >= 2
        && matches!(
            parts.last().map(String::as_str),
            Some(keys::CODE | keys::NAME | keys::LAT | keys::LON | keys::ACCURACY)
        )
    {
        let parent = &parts[parts.len() - 2];
        if matches!(parent.as_str(), "township" | "village" | "location" | keys::GPS) {
            parts.pop();
        }
    }
    // Fields of a decision are the decision.
    if parts.len() > 2 && parts[0] == keys::REVIEW && parts[1] == keys::DECISION {
        parts.truncate(2);
    }
    // Who withdrew the draft and when are the withdrawal.
    if parts.len() > 1 && parts[0] == keys::WITHDRAWN {
        parts.truncate(1);
    }
    // Text edits inside a comment are the comment.
    if parts.len() > 3 && parts[0] == keys::REVIEW && parts[1] == keys::COMMENTS {
        parts.truncate(3);
    }
    parts.join("/")
}

impl RecordDoc {
    /// The paths each change touched, computed from the document itself (not from what
    /// the writer claimed).
    fn touched(&mut self, deps: &[ChangeHash], hash: ChangeHash) -> Vec<String> {
        let patches = self.automerge().diff(deps, &[hash]);
        let paths: BTreeSet<String> = patches.iter().map(patch_path).filter(|p| !p.is_empty()).collect();
        paths.into_iter().collect()
    }

    /// Every change of the record, in causal order.
    pub fn history(&mut self) -> Vec<HistoryEntry> {
        let metas: Vec<_> = self.automerge().get_changes_meta(&[]).into_iter().map(|m| m.into_owned()).collect();
        let mut entries = Vec::with_capacity(metas.len());
        for meta in metas {
            let author = ChangeAuthor::from_message(meta.message.as_deref());
            let paths = self.touched(&meta.deps, meta.hash);
            let summary = paths.iter().any(|p| p == keys::WITHDRAWN).then(|| "撤回草稿 / draft withdrawn".to_owned());
            entries.push(HistoryEntry {
                change: meta.hash.to_string(),
                author: author.as_ref().map(|a| a.by.clone()),
                device: author.as_ref().map(|a| a.dev.clone()),
                actor: meta.actor.to_hex_string(),
                at_ms: author.as_ref().map(|a| a.at).or(Some(meta.timestamp.saturating_mul(1000))),
                paths,
                summary,
            });
        }
        entries
    }

    /// The values `path` took, one per change that touched it, in causal order.
    pub fn field_history(&mut self, path: &FieldPath) -> Vec<FieldVersion> {
        let wanted = path.to_string();
        let parent = match path {
            FieldPath::Item { id, field } => Some(format!("{}/{}", field.list().key(), id.key())),
            FieldPath::AttachmentCaption { sha256 } => Some(format!("{}/{sha256}", keys::ATTACHMENTS)),
            _ => None,
        };
        let history = self.history();
        let mut versions = Vec::new();
        for entry in history {
            let touches = entry.paths.iter().any(|p| *p == wanted || parent.as_deref() == Some(p.as_str()));
            if !touches {
                continue;
            }
            let Ok(hash) = entry.change.parse::<ChangeHash>() else {
                continue;
            };
            let value = self.value_at(path, &[hash]);
            versions.push(FieldVersion {
                change: entry.change,
                author: entry.author,
                device: entry.device,
                at_ms: entry.at_ms,
                value,
            });
        }
        versions
    }

    /// Who wrote each review comment: the user named by the commit message of the change
    /// that added it (the server refuses a change naming anyone but the uploader), not the
    /// author the comment's own text names. Comments added by a change with no Xuncha
    /// commit message are left out.
    pub fn comment_authors(&mut self) -> BTreeMap<ItemId, String> {
        let doc = self.automerge();
        let comments: Vec<(ItemId, ObjId)> = codec::map_child(doc, &ROOT, keys::REVIEW)
            .and_then(|review| codec::map_child(doc, &review, keys::COMMENTS))
            .map(|map| {
                doc.keys(&map).filter_map(|key| Some((key.parse().ok()?, codec::map_child(doc, &map, &key)?))).collect()
            })
            .unwrap_or_default();
        comments.into_iter().filter_map(|(id, obj)| Some((id, author_of(doc, &obj).0?.by))).collect()
    }

    /// What `path` showed at `heads`.
    pub fn value_at(&mut self, path: &FieldPath, heads: &[ChangeHash]) -> Option<String> {
        let doc = self.automerge();
        let map_at = |obj: &automerge::ObjId, key: &str| -> Option<automerge::ObjId> {
            match doc.get_at(obj, key, heads).ok()?? {
                (automerge::Value::Object(_), id) => Some(id),
                _ => None,
            }
        };
        let read = |obj: &automerge::ObjId, key: &str, ty: crate::field::FieldType| -> Option<String> {
            let (value, id) = doc.get_at(obj, key, heads).ok()??;
            match (&value, ty) {
                (automerge::Value::Object(_), crate::field::FieldType::Division) => {
                    let code = codec::scalar_at(doc, &id, keys::CODE, heads).unwrap_or_default();
                    let name = codec::scalar_at(doc, &id, keys::NAME, heads).unwrap_or_default();
                    Some(format!("{code}:{name}"))
                }
                (automerge::Value::Object(_), crate::field::FieldType::Gps) => {
                    let lat = codec::scalar_at(doc, &id, keys::LAT, heads).unwrap_or_default();
                    let lon = codec::scalar_at(doc, &id, keys::LON, heads).unwrap_or_default();
                    Some(format!("{lat},{lon}"))
                }
                _ => codec::decode(doc, ty, &value, &id).map(|v| v.to_string()),
            }
        };
        match path {
            FieldPath::Field { field } => read(&ROOT, field.key(), field.ty()),
            FieldPath::Item { id, field } => {
                let list = map_at(&ROOT, field.list().key())?;
                let item = map_at(&list, &id.key())?;
                read(&item, field.key(), field.ty())
            }
            FieldPath::AttachmentCaption { sha256 } => {
                let attachments = map_at(&ROOT, keys::ATTACHMENTS)?;
                let attachment = map_at(&attachments, sha256)?;
                read(&attachment, keys::CAPTION, crate::field::FieldType::Text)
            }
            FieldPath::ReviewStatus => {
                let review = map_at(&ROOT, keys::REVIEW)?;
                read(&review, keys::STATUS, crate::field::FieldType::Text)
            }
            FieldPath::Decision => {
                let review = map_at(&ROOT, keys::REVIEW)?;
                let decision = map_at(&review, keys::DECISION)?;
                let status = codec::scalar_at(doc, &decision, keys::STATUS, heads).unwrap_or_default();
                let note = codec::scalar_at(doc, &decision, keys::NOTE, heads).unwrap_or_default();
                Some(format!("{status}: {note}"))
            }
            FieldPath::Narrative => {
                let text = map_at(&ROOT, keys::NARRATIVE)?;
                doc.text_at(&text, heads).ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::{CommitOptions, Transactable};
    use automerge::{ActorId, ObjType};

    use super::*;
    use crate::{DeviceId, Division, Edit, EditContext, NewRecord, RecordId, RecordKind, UserId};

    fn ctx(user: &str, actor: u8) -> EditContext {
        EditContext {
            author: UserId::new(user).unwrap(),
            device: DeviceId::new(format!("device-{actor}")).unwrap(),
            actor: ActorId::from([actor; 16]),
            now_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn a_comment_is_attributed_to_the_change_that_added_it_not_to_the_author_it_names() {
        let new = NewRecord {
            id: RecordId::new(1_700_000_000_000, &[1; 10]),
            kind: RecordKind::FundCheck,
            title: "检查".into(),
            round: String::new(),
            township: Some(Division::new("110105001000", "建外街道")),
            village: None,
            team: String::new(),
        };
        let mut doc = RecordDoc::create(&new, &ctx("zhang", 1)).unwrap();
        let honest = ItemId::new(2, &[2; 10]);
        doc.apply(&[Edit::AddComment { id: honest, text: "请补充银行流水".into() }], &ctx("sup", 9)).unwrap();

        // A change by `li` that adds a comment naming `sup` as its author.
        let forged = ItemId::new(3, &[3; 10]);
        let am = doc.automerge();
        let review = codec::map_child(am, &ROOT, keys::REVIEW).unwrap();
        let comments = codec::map_child(am, &review, keys::COMMENTS).unwrap();
        let comment = am.put_object(&comments, forged.key(), ObjType::Map).unwrap();
        am.put(&comment, keys::AUTHOR, "sup").unwrap();
        am.put(&comment, keys::AT, 1_700_000_000_001_i64).unwrap();
        am.put(&comment, keys::TEXT, "已核实").unwrap();
        let li = ChangeAuthor { by: "li".into(), dev: "device-2".into(), at: 1_700_000_000_001 };
        am.commit_with(CommitOptions::default().with_message(serde_json::to_string(&li).unwrap()));

        let named: Vec<_> = doc.read().review.comments.iter().map(|c| (c.id, c.author.clone())).collect();
        assert_eq!(named, vec![(honest, "sup".to_owned()), (forged, "sup".to_owned())]);
        let authors = doc.comment_authors();
        assert_eq!(authors, BTreeMap::from([(honest, "sup".to_owned()), (forged, "li".to_owned())]));
    }
}
