//! Reading and writing typed values at document keys: the one place that maps between
//! `Value`s and Automerge scalars and objects.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};

use crate::codes::{Conclusion, FundIssue, HandoverTo, RecordKind, RectifyKind, ReviewStatus, SignerRole};
use crate::division::Division;
use crate::edit::AttachmentRef;
use crate::error::DomainError;
use crate::field::{Field, FieldType, GeoPoint, ItemList, Value};
use crate::ids::{ItemId, RecordId};
use crate::record::{Comment, Decision, Item, Record, Review, Withdrawal};
use crate::workflow::{Capacity, Citation, Handover, Progress, Rectification, Signature, Step};

/// The document keys that are not fields.
pub(crate) mod keys {
    pub const SCHEMA: &str = "schema";
    pub const ID: &str = "id";
    pub const KIND: &str = "kind";
    pub const CREATOR: &str = "creator";
    pub const CREATED_AT: &str = "created_at";
    pub const NARRATIVE: &str = "narrative";
    pub const TAGS: &str = "tags";
    pub const ISSUES: &str = "issues";
    pub const ATTACHMENTS: &str = "attachments";
    pub const REVIEW: &str = "review";
    pub const STATUS: &str = "status";
    pub const COMMENTS: &str = "comments";
    pub const DECISION: &str = "decision";
    pub const AUTHOR: &str = "author";
    pub const AT: &str = "at";
    pub const TEXT: &str = "text";
    pub const NOTE: &str = "note";
    pub const BY: &str = "by";
    pub const HEADS: &str = "heads";
    pub const CAPTION: &str = "caption";
    pub const MIME: &str = "mime";
    pub const SIZE: &str = "size";
    pub const TAKEN_AT: &str = "taken_at";
    pub const GPS: &str = "gps";
    pub const CODE: &str = "code";
    pub const NAME: &str = "name";
    pub const LAT: &str = "lat";
    pub const LON: &str = "lon";
    pub const ACCURACY: &str = "accuracy";
    /// Who withdrew the draft, and when: a map of `by` and `at` (absent until withdrawn).
    pub const WITHDRAWN: &str = "withdrawn";
    pub const SHA256: &str = "sha256";
    // The 巡察 workflow (layout 2): review/steps, review/conclusion, and at the root the
    // rectification ledger, the sources cited and the signatures.
    pub const STEPS: &str = "steps";
    pub const CONCLUSION: &str = "conclusion";
    pub const FROM: &str = "from";
    /// The step a workflow step followed (empty for the first): steps form one chain.
    pub const PREV: &str = "prev";
    pub const TO: &str = "to";
    pub const CAPACITY: &str = "capacity";
    pub const HANDOVER_TO: &str = "handover_to";
    pub const HANDOVER_UNIT: &str = "handover_unit";
    pub const HANDOVER_NUMBER: &str = "handover_number";
    pub const HANDOVER_DATE: &str = "handover_date";
    pub const RECTIFICATION: &str = "rectification";
    pub const UNIT: &str = "unit";
    pub const OWNER: &str = "owner";
    pub const MEASURES: &str = "measures";
    pub const DEADLINE: &str = "deadline";
    pub const RECTIFY_KIND: &str = "kind";
    pub const PROGRESS: &str = "progress";
    pub const SOURCES: &str = "sources";
    pub const SIGNATURES: &str = "signatures";
    pub const ROLE: &str = "role";
    pub const SIGNER: &str = "signer";
    pub const IMAGE: &str = "image";
    pub const STROKES: &str = "strokes";
    /// The maps a layout-2 document has from its first change (older documents get them
    /// on first use; see [`super::maps`]).
    pub const WORKFLOW_MAPS: [&str; 3] = [RECTIFICATION, SOURCES, SIGNATURES];
}

/// Every map at `key`: the winning one first, then any a concurrent change also created
/// there. Maps added to older documents on first use can be created on two devices at
/// once; reading all of them loses neither device's entries.
pub(crate) fn maps(doc: &AutoCommit, obj: &ObjId, key: &str) -> Vec<ObjId> {
    let mut all: Vec<ObjId> = doc
        .get_all(obj, key)
        .map(|values| {
            values
                .into_iter()
                .filter(|(v, _)| matches!(v, automerge::Value::Object(ObjType::Map)))
                .map(|(_, id)| id)
                .collect()
        })
        .unwrap_or_default();
    if let Some(winner) = map_child(doc, obj, key)
        && let Some(at) = all.iter().position(|id| *id == winner)
    {
        all.swap(0, at);
    }
    all
}

/// The map at `key` to write into, created if there is none.
pub(crate) fn ensure_map(doc: &mut AutoCommit, obj: &ObjId, key: &str) -> Result<ObjId, DomainError> {
    match map_child(doc, obj, key) {
        Some(map) => Ok(map),
        None => Ok(doc.put_object(obj, key, ObjType::Map)?),
    }
}

/// The entry `entry` of any of the maps at `key` (see [`maps`]).
pub(crate) fn entry_in_maps(doc: &AutoCommit, obj: &ObjId, key: &str, entry: &str) -> Option<ObjId> {
    maps(doc, obj, key).into_iter().find_map(|map| map_child(doc, &map, entry))
}

/// Every `(key, map)` entry of the maps at `key`, by key, each key once.
fn entries(doc: &AutoCommit, obj: &ObjId, key: &str) -> Vec<(String, ObjId)> {
    let mut out: Vec<(String, ObjId)> = Vec::new();
    for map in maps(doc, obj, key) {
        for entry in doc.keys(&map).collect::<Vec<_>>() {
            if out.iter().any(|(k, _)| *k == entry) {
                continue;
            }
            if let Some(child) = map_child(doc, &map, &entry) {
                out.push((entry, child));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn heads_at(doc: &AutoCommit, obj: &ObjId) -> Vec<String> {
    text_at(doc, obj, keys::HEADS)
        .map(|h| h.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Reads one attachment reference stored as a map.
fn read_attachment(doc: &AutoCommit, obj: &ObjId, sha256: String) -> AttachmentRef {
    AttachmentRef {
        mime: text_at(doc, obj, keys::MIME).unwrap_or_default(),
        size: scalar(doc, obj, keys::SIZE).and_then(|s| s.as_u64()).unwrap_or(0),
        caption: text_at(doc, obj, keys::CAPTION).unwrap_or_default(),
        taken_at_ms: int_at(doc, obj, keys::TAKEN_AT),
        gps: map_child(doc, obj, keys::GPS).and_then(|g| read_gps_obj(doc, &g)),
        sha256,
    }
}

/// The workflow steps under `review`, oldest first.
fn read_steps(doc: &AutoCommit, review: &ObjId) -> Vec<Step> {
    let steps: Vec<Step> = entries(doc, review, keys::STEPS)
        .into_iter()
        .filter_map(|(id, obj)| {
            let status = |key| text_at(doc, &obj, key).and_then(|s| ReviewStatus::from_stored(&s));
            let handover =
                text_at(doc, &obj, keys::HANDOVER_TO).and_then(|to| HandoverTo::parse(&to)).map(|to| Handover {
                    to,
                    unit: text_at(doc, &obj, keys::HANDOVER_UNIT).unwrap_or_default(),
                    number: text_at(doc, &obj, keys::HANDOVER_NUMBER).unwrap_or_default(),
                    date: text_at(doc, &obj, keys::HANDOVER_DATE).unwrap_or_default(),
                });
            Some(Step {
                from: status(keys::FROM)?,
                to: status(keys::TO)?,
                by: text_at(doc, &obj, keys::BY).unwrap_or_default(),
                capacity: text_at(doc, &obj, keys::CAPACITY).and_then(|c| Capacity::parse(&c))?,
                at_ms: int_at(doc, &obj, keys::AT).unwrap_or(0),
                note: text_at(doc, &obj, keys::NOTE).unwrap_or_default(),
                heads: heads_at(doc, &obj),
                conclusion: text_at(doc, &obj, keys::CONCLUSION).and_then(|c| Conclusion::parse(&c)),
                handover,
                prev: text_at(doc, &obj, keys::PREV).unwrap_or_default(),
                void: false,
                id,
            })
        })
        .collect();
    // In the order taken: by place in the chain of `prev` links (not by device clocks),
    // then time and id for steps taken concurrently on the same one.
    let depth_of = |steps: &[Step], start: &Step| {
        let mut depth = 0usize;
        let mut at = start.prev.as_str();
        while !at.is_empty() && depth <= steps.len() {
            depth += 1;
            at = steps.iter().find(|s| s.id == at).map_or("", |s| s.prev.as_str());
        }
        depth
    };
    let depths: Vec<usize> = steps.iter().map(|s| depth_of(&steps, s)).collect();
    let mut order: Vec<usize> = (0..steps.len()).collect();
    order.sort_by(|&a, &b| (depths[a], steps[a].at_ms, &steps[a].id).cmp(&(depths[b], steps[b].at_ms, &steps[b].id)));
    let mut sorted: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| sorted[i].take()).collect()
}

/// The steps under `review` in the order taken (for writing the next one's `prev`).
pub(crate) fn steps_of(doc: &AutoCommit, review: &ObjId) -> Vec<Step> {
    read_steps(doc, review)
}

/// The rectification ledger at the root, if one was started.
fn read_rectification(doc: &AutoCommit) -> Option<Rectification> {
    let all = maps(doc, &ROOT, keys::RECTIFICATION);
    let first_text = |key: &str| all.iter().find_map(|m| text_at(doc, m, key)).unwrap_or_default();
    let mut progress: Vec<Progress> = all
        .iter()
        .flat_map(|r| maps(doc, r, keys::PROGRESS))
        .flat_map(|map| {
            doc.keys(&map)
                .collect::<Vec<_>>()
                .into_iter()
                .filter_map(|key| {
                    let obj = map_child(doc, &map, &key)?;
                    let attachments = map_child(doc, &obj, keys::ATTACHMENTS)
                        .map(|a| {
                            doc.keys(&a)
                                .collect::<Vec<_>>()
                                .into_iter()
                                .filter_map(|sha| Some(read_attachment(doc, &map_child(doc, &a, &sha)?, sha)))
                                .collect()
                        })
                        .unwrap_or_default();
                    Some(Progress {
                        id: key.parse().ok()?,
                        text: text_at(doc, &obj, keys::TEXT).unwrap_or_default(),
                        by: text_at(doc, &obj, keys::BY).unwrap_or_default(),
                        at_ms: int_at(doc, &obj, keys::AT).unwrap_or(0),
                        attachments,
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    progress.sort_by_key(|p| (p.at_ms, p.id));
    progress.dedup_by_key(|p| p.id);
    let ledger = Rectification {
        unit: first_text(keys::UNIT),
        owner: first_text(keys::OWNER),
        measures: first_text(keys::MEASURES),
        deadline: Some(first_text(keys::DEADLINE)).filter(|d| !d.is_empty()),
        kind: RectifyKind::parse(&first_text(keys::RECTIFY_KIND)),
        progress,
    };
    (!ledger.is_empty()).then_some(ledger)
}

fn read_sources(doc: &AutoCommit) -> Vec<Citation> {
    entries(doc, &ROOT, keys::SOURCES)
        .into_iter()
        .filter_map(|(key, obj)| {
            Some(Citation {
                record: key.parse().ok()?,
                by: text_at(doc, &obj, keys::BY).unwrap_or_default(),
                at_ms: int_at(doc, &obj, keys::AT).unwrap_or(0),
            })
        })
        .collect()
}

fn read_signatures(doc: &AutoCommit) -> Vec<Signature> {
    let mut signatures: Vec<Signature> = entries(doc, &ROOT, keys::SIGNATURES)
        .into_iter()
        .filter_map(|(key, obj)| {
            let image = map_child(doc, &obj, keys::IMAGE)?;
            let sha256 = text_at(doc, &image, keys::SHA256)?;
            Some(Signature {
                id: key.parse().ok()?,
                role: SignerRole::parse(&text_at(doc, &obj, keys::ROLE)?)?,
                signer: text_at(doc, &obj, keys::SIGNER).unwrap_or_default(),
                by: text_at(doc, &obj, keys::BY).unwrap_or_default(),
                at_ms: int_at(doc, &obj, keys::AT).unwrap_or(0),
                heads: heads_at(doc, &obj),
                image: read_attachment(doc, &image, sha256),
                strokes: text_at(doc, &obj, keys::STROKES).unwrap_or_default(),
                void: false,
            })
        })
        .collect();
    signatures.sort_by_key(|s| (s.at_ms, s.id));
    signatures
}

/// The winning scalar at `key`, if the key holds a scalar.
pub(crate) fn scalar(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<ScalarValue> {
    match doc.get(obj, key).ok()?? {
        (automerge::Value::Scalar(value), _) => Some(value.into_owned()),
        _ => None,
    }
}

/// The object at `key`, if the key holds one.
pub(crate) fn child(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key).ok()?? {
        (automerge::Value::Object(_), id) => Some(id),
        _ => None,
    }
}

/// The map at `key`, if the key holds a map.
pub(crate) fn map_child(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key).ok()?? {
        (automerge::Value::Object(ObjType::Map), id) => Some(id),
        _ => None,
    }
}

fn text_at(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<String> {
    scalar(doc, obj, key).and_then(|s| s.as_str().map(str::to_owned))
}

fn int_at(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<i64> {
    scalar(doc, obj, key).and_then(|s| s.as_i64())
}

fn f64_at(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<f64> {
    scalar(doc, obj, key).and_then(|s| s.as_f64())
}

/// Refuses a value of the wrong type for a field.
pub(crate) fn check_type(field: &str, ty: FieldType, value: Option<&Value>) -> Result<(), DomainError> {
    match value {
        Some(value) if !ty.admits(value) => Err(DomainError::BadValue {
            field: field.to_owned(),
            input: value.to_string(),
            expected: match ty {
                FieldType::Choice(vocabulary) => vocabulary.codes(),
                other => format!("{other:?}"),
            },
        }),
        _ => Ok(()),
    }
}

/// Writes `value` at `key` (a scalar, or a small map for divisions and GPS points).
pub(crate) fn put_value(doc: &mut AutoCommit, obj: &ObjId, key: &str, value: &Value) -> Result<(), DomainError> {
    match value {
        Value::Text(text) | Value::Date(text) | Value::Choice(text) => doc.put(obj, key, text.as_str())?,
        Value::Money(yuan) => doc.put(obj, key, yuan.fen())?,
        Value::Area(mu) => doc.put(obj, key, mu.hundredths())?,
        Value::Flag(flag) => doc.put(obj, key, *flag)?,
        Value::Division(division) => {
            let map = doc.put_object(obj, key, ObjType::Map)?;
            doc.put(&map, keys::CODE, division.code.as_str())?;
            doc.put(&map, keys::NAME, division.name.as_str())?;
        }
        Value::Gps(point) => put_gps(doc, obj, key, point)?,
    }
    Ok(())
}

fn put_gps(doc: &mut AutoCommit, obj: &ObjId, key: &str, point: &GeoPoint) -> Result<(), DomainError> {
    let map = doc.put_object(obj, key, ObjType::Map)?;
    doc.put(&map, keys::LAT, point.lat)?;
    doc.put(&map, keys::LON, point.lon)?;
    if let Some(accuracy) = point.accuracy_m {
        doc.put(&map, keys::ACCURACY, accuracy)?;
    }
    Ok(())
}

/// Sets or clears `key`, writing nothing when the key already holds exactly that one value
/// (so re-saving a form creates no change), and overwriting every concurrent value
/// otherwise (which settles a conflict).
pub(crate) fn set_settling(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    ty: FieldType,
    value: Option<&Value>,
) -> Result<(), DomainError> {
    let current = doc.get_all(obj, key)?;
    match value {
        None => {
            if !current.is_empty() {
                doc.delete(obj, key)?;
            }
        }
        Some(value) => {
            let unchanged = current.len() == 1 && decode(doc, ty, &current[0].0, &current[0].1).as_ref() == Some(value);
            if current.len() > 1 {
                // Settling: Automerge keeps the existing op when the value put equals the
                // winning one, which would credit the settled value to whoever wrote it
                // first; clear the key so the settling write is a new op of its author.
                doc.delete(obj, key)?;
            }
            if !unchanged {
                put_value(doc, obj, key, value)?;
            }
        }
    }
    Ok(())
}

/// Reads one value of type `ty` (as returned by `get` or `get_all`).
pub(crate) fn decode(doc: &AutoCommit, ty: FieldType, value: &automerge::Value<'_>, id: &ObjId) -> Option<Value> {
    match (ty, value) {
        (FieldType::Text, automerge::Value::Scalar(s)) => s.as_str().map(|t| Value::Text(t.to_owned())),
        (FieldType::Date, automerge::Value::Scalar(s)) => s.as_str().map(|t| Value::Date(t.to_owned())),
        (FieldType::Choice(vocabulary), automerge::Value::Scalar(s)) => {
            s.as_str().map(|t| Value::Choice(vocabulary.upgrade(t)))
        }
        (FieldType::Money, automerge::Value::Scalar(s)) => s.as_i64().map(|f| Value::Money(crate::Yuan::from_fen(f))),
        (FieldType::Area, automerge::Value::Scalar(s)) => {
            s.as_i64().map(|h| Value::Area(crate::Mu::from_hundredths(h)))
        }
        (FieldType::Flag, automerge::Value::Scalar(s)) => s.as_bool().map(Value::Flag),
        (FieldType::Division, automerge::Value::Object(ObjType::Map)) => Some(Value::Division(Division::new(
            text_at(doc, id, keys::CODE).unwrap_or_default(),
            text_at(doc, id, keys::NAME).unwrap_or_default(),
        ))),
        (FieldType::Gps, automerge::Value::Object(ObjType::Map)) => read_gps_obj(doc, id).map(Value::Gps),
        _ => None,
    }
}

fn read_gps_obj(doc: &AutoCommit, obj: &ObjId) -> Option<GeoPoint> {
    Some(GeoPoint {
        lat: f64_at(doc, obj, keys::LAT)?,
        lon: f64_at(doc, obj, keys::LON)?,
        accuracy_m: f64_at(doc, obj, keys::ACCURACY),
    })
}

/// Reads the winning value of a field; a value of the wrong type reads as absent and is
/// reported by `malformed`.
pub(crate) fn read_value(
    doc: &AutoCommit,
    obj: &ObjId,
    key: &str,
    ty: FieldType,
    malformed: &mut Vec<String>,
    path: &str,
) -> Option<Value> {
    let (value, id) = doc.get(obj, key).ok()??;
    let decoded = decode(doc, ty, &value, &id);
    if decoded.is_none() {
        malformed.push(path.to_owned());
    }
    decoded
}

/// Adds an attachment reference.
pub(crate) fn put_attachment(
    doc: &mut AutoCommit,
    attachments: &ObjId,
    attachment: &AttachmentRef,
) -> Result<(), DomainError> {
    put_attachment_at(doc, attachments, attachment.sha256.as_str(), attachment)
}

/// Writes an attachment reference as a map at `key` (its hash inside as well, for
/// references not keyed by their hash).
pub(crate) fn put_attachment_at(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    attachment: &AttachmentRef,
) -> Result<(), DomainError> {
    let map = doc.put_object(obj, key, ObjType::Map)?;
    if key != attachment.sha256 {
        doc.put(&map, keys::SHA256, attachment.sha256.as_str())?;
    }
    doc.put(&map, keys::MIME, attachment.mime.as_str())?;
    doc.put(&map, keys::SIZE, ScalarValue::Uint(attachment.size))?;
    doc.put(&map, keys::CAPTION, attachment.caption.as_str())?;
    if let Some(taken_at) = attachment.taken_at_ms {
        doc.put(&map, keys::TAKEN_AT, taken_at)?;
    }
    if let Some(point) = &attachment.gps {
        put_gps(doc, &map, keys::GPS, point)?;
    }
    Ok(())
}

/// The keys of the map at `key` of `obj`, in sorted order.
pub(crate) fn map_keys(doc: &AutoCommit, obj: &ObjId, key: &str) -> Vec<String> {
    map_child(doc, obj, key).map(|map| doc.keys(&map).collect()).unwrap_or_default()
}

/// Reads the whole record.
pub(crate) fn read_record(doc: &AutoCommit, id: RecordId, kind: RecordKind) -> Record {
    let mut malformed = Vec::new();
    let mut fields = std::collections::BTreeMap::new();
    for field in Field::ALL.iter().filter(|f| f.kinds().contains(kind)) {
        if let Some(value) = read_value(doc, &ROOT, field.key(), field.ty(), &mut malformed, field.key()) {
            fields.insert(*field, value);
        }
    }
    // Layout 1 wrote 开除党籍 and 移送司法 as dispositions: they are outcomes now.
    if kind == RecordKind::GangClue
        && !fields.contains_key(&Field::Outcome)
        && let Some(raw) = text_at(doc, &ROOT, Field::Disposition.key())
        && let Some((_, Some(outcome))) = crate::codes::Disposition::upgrade(&raw)
    {
        fields.insert(Field::Outcome, Value::Choice(outcome.code().to_owned()));
    }
    let mut lists = std::collections::BTreeMap::new();
    for list in ItemList::ALL.iter().filter(|l| l.kind() == kind) {
        let mut items = Vec::new();
        if let Some(list_obj) = map_child(doc, &ROOT, list.key()) {
            for key in doc.keys(&list_obj).collect::<Vec<_>>() {
                let (Ok(item_id), Some(item_obj)) = (key.parse::<ItemId>(), map_child(doc, &list_obj, &key)) else {
                    malformed.push(format!("{}/{key}", list.key()));
                    continue;
                };
                let mut values = std::collections::BTreeMap::new();
                for field in list.fields() {
                    let path = format!("{}/{key}/{}", list.key(), field.key());
                    if let Some(value) = read_value(doc, &item_obj, field.key(), field.ty(), &mut malformed, &path) {
                        values.insert(field, value);
                    }
                }
                items.push(Item { id: item_id, values });
            }
        }
        lists.insert(*list, items);
    }
    let mut issues = Vec::new();
    for code in map_keys(doc, &ROOT, keys::ISSUES) {
        match FundIssue::parse(&code) {
            Some(issue) => issues.push(issue),
            None => malformed.push(format!("{}/{code}", keys::ISSUES)),
        }
    }
    let mut attachments = Vec::new();
    if let Some(map) = map_child(doc, &ROOT, keys::ATTACHMENTS) {
        for sha256 in doc.keys(&map).collect::<Vec<_>>() {
            let Some(obj) = map_child(doc, &map, &sha256) else {
                continue;
            };
            attachments.push(read_attachment(doc, &obj, sha256));
        }
    }
    let narrative = child(doc, &ROOT, keys::NARRATIVE).and_then(|t| doc.text(&t).ok()).unwrap_or_default();
    let review = map_child(doc, &ROOT, keys::REVIEW).map(|r| read_review(doc, &r)).unwrap_or_default();
    let withdrawn = map_child(doc, &ROOT, keys::WITHDRAWN).map(|obj| Withdrawal {
        by: text_at(doc, &obj, keys::BY).unwrap_or_default(),
        at_ms: int_at(doc, &obj, keys::AT).unwrap_or(0),
    });
    Record {
        id,
        kind,
        creator: text_at(doc, &ROOT, keys::CREATOR).unwrap_or_default(),
        created_at_ms: int_at(doc, &ROOT, keys::CREATED_AT).unwrap_or(0),
        fields,
        lists,
        tags: map_keys(doc, &ROOT, keys::TAGS),
        issues,
        attachments,
        narrative,
        review,
        rectification: read_rectification(doc),
        sources: read_sources(doc),
        signatures: read_signatures(doc),
        withdrawn,
        malformed,
    }
}

fn read_review(doc: &AutoCommit, review: &ObjId) -> Review {
    let status =
        text_at(doc, review, keys::STATUS).and_then(|s| ReviewStatus::from_stored(&s)).unwrap_or(ReviewStatus::Draft);
    let mut comments = Vec::new();
    if let Some(map) = map_child(doc, review, keys::COMMENTS) {
        for key in doc.keys(&map).collect::<Vec<_>>() {
            let (Ok(id), Some(obj)) = (key.parse::<ItemId>(), map_child(doc, &map, &key)) else {
                continue;
            };
            comments.push(Comment {
                id,
                author: text_at(doc, &obj, keys::AUTHOR).unwrap_or_default(),
                at_ms: int_at(doc, &obj, keys::AT).unwrap_or(0),
                text: text_at(doc, &obj, keys::TEXT).unwrap_or_default(),
            });
        }
    }
    comments.sort_by_key(|c| (c.at_ms, c.id));
    let decision = map_child(doc, review, keys::DECISION).map(|obj| Decision {
        status: text_at(doc, &obj, keys::STATUS)
            .and_then(|s| ReviewStatus::from_stored(&s))
            .unwrap_or(ReviewStatus::Draft),
        note: text_at(doc, &obj, keys::NOTE).unwrap_or_default(),
        by: text_at(doc, &obj, keys::BY).unwrap_or_default(),
        at_ms: int_at(doc, &obj, keys::AT).unwrap_or(0),
        heads: text_at(doc, &obj, keys::HEADS)
            .map(|h| h.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default(),
        void: false,
    });
    let conclusion = text_at(doc, review, keys::CONCLUSION).and_then(|c| Conclusion::parse(&c));
    Review { status, comments, decision, conclusion, steps: read_steps(doc, review) }
}

/// The map of item `id` in `list`.
pub(crate) fn item_obj(doc: &AutoCommit, list: ItemList, id: ItemId) -> Option<ObjId> {
    let list_obj = map_child(doc, &ROOT, list.key())?;
    map_child(doc, &list_obj, &id.key())
}

/// A scalar at `key` as it was at `heads`, as text.
pub(crate) fn scalar_at(doc: &AutoCommit, obj: &ObjId, key: &str, heads: &[automerge::ChangeHash]) -> Option<String> {
    match doc.get_at(obj, key, heads).ok()?? {
        (automerge::Value::Scalar(value), _) => Some(match value.as_ref() {
            ScalarValue::Str(s) => s.to_string(),
            other => other.to_string(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActorId, DeviceId, Edit, EditContext, ItemField, NewRecord, RecordDoc, UserId};

    /// New item fields and root maps (the withdrawal) are new keys, which readers that do not
    /// know them pass over: that is why they need no new layout version.
    #[test]
    fn readers_ignore_keys_they_do_not_know() {
        let ctx = EditContext {
            author: UserId::new("zhang").unwrap(),
            device: DeviceId::new("tablet-1").unwrap(),
            actor: ActorId::from([1; 16]),
            now_ms: 1,
        };
        let new = NewRecord {
            id: RecordId::new(1, &[1; 10]),
            kind: RecordKind::GangClue,
            title: "线索".into(),
            round: String::new(),
            township: None,
            village: None,
            team: String::new(),
        };
        let mut doc = RecordDoc::create(&new, &ctx).unwrap();
        let item = ItemId::new(2, &[2; 10]);
        let values = vec![(ItemField::Name, Value::Text("张三".into()))];
        doc.apply(&[Edit::InsertItem { list: ItemList::Subjects, id: item, values }], &ctx).unwrap();
        let before = doc.read();

        let am = doc.automerge();
        let future = am.put_object(ROOT, "future_block", ObjType::Map).unwrap();
        am.put(&future, "by", "someone").unwrap();
        let subject = item_obj(am, ItemList::Subjects, item).unwrap();
        am.put(&subject, "future_field", "新值").unwrap();
        am.commit();

        let after = doc.read();
        assert!(after.malformed.is_empty(), "{:?}", after.malformed);
        assert_eq!(after, before);
    }
}
