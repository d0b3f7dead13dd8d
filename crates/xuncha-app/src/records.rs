//! Record use cases over an open device database: list, read, create, edit (typed input
//! parsed here), settle conflicts, review. Who may do what is decided here.

use xuncha_domain::{
    Edit, Entropy, FieldPath, InformantField, NewRecord, RecordId, RecordKind, ReviewStatus, validate,
};
use xuncha_store::{ListFilter, NewAttachment, Store};

use crate::dto::{AttachmentInput, FieldInput, ListPage, ListQuery, NewRecordInput, RecordRow, RecordView};
use crate::error::{AppError, Result};

/// The largest page the list asks for at once.
const MAX_PAGE: u32 = 500;

/// The largest attachment accepted (a photo or a scanned PDF).
pub const MAX_ATTACHMENT_BYTES: usize = 64 * 1024 * 1024;

/// A page of the record list.
pub fn list(store: &Store, query: &ListQuery) -> Result<ListPage> {
    let limit = query.limit.clamp(1, MAX_PAGE);
    let status = match (query.status, query.review_queue) {
        (Some(status), _) => Some(status),
        (None, true) => Some(ReviewStatus::Submitted),
        (None, false) => None,
    };
    let blank = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let filter = ListFilter {
        kind: query.kind,
        status,
        township_code: blank(&query.township),
        village_code: blank(&query.village),
        round: blank(&query.round),
        conflicts_only: query.conflicts_only,
        text: blank(&query.text),
        limit,
        offset: query.offset,
    };
    let rows = store.list(&filter)?;
    let pending = store.pending_records()?;
    let done = rows.len() < limit as usize;
    let rows = rows
        .into_iter()
        .map(|row| {
            let is_pending = row.record_id.parse::<RecordId>().is_ok_and(|id| pending.binary_search(&id).is_ok());
            RecordRow { row, pending: is_pending }
        })
        .collect();
    Ok(ListPage { rows, offset: query.offset, done })
}

/// The statuses `can_review` lets the user move a record in `status` to.
fn next_statuses(status: ReviewStatus, can_review: bool) -> Vec<ReviewStatus> {
    status.next().iter().copied().filter(|s| can_review || !s.is_review_decision()).collect()
}

/// Everything the record screen shows.
pub fn view(store: &mut Store, id: RecordId, can_review: bool) -> Result<RecordView> {
    let mut doc = store.record(id)?;
    let record = doc.read();
    let problems = validate(&record);
    let conflicts = doc.conflicts();
    let heads = doc.heads().iter().map(ToString::to_string).collect();
    let pending = store.pending_records()?.binary_search(&id).is_ok();
    // Only gang clues have an informant: no companion lookup on other records' keystrokes.
    let informant = if record.kind == RecordKind::GangClue { store.informant(id)? } else { None };
    let next_statuses = next_statuses(record.review.status, can_review);
    Ok(RecordView { record, problems, conflicts, pending, informant, next_statuses, can_review, heads })
}

/// Creates a record; returns its id.
pub fn create(store: &mut Store, input: &NewRecordInput, now_ms: i64, entropy: &Entropy) -> Result<RecordId> {
    let new = NewRecord {
        id: RecordId::new(now_ms, entropy),
        kind: input.kind,
        title: input.title.trim().to_owned(),
        round: input.round.trim().to_owned(),
        township: input.township.clone(),
        village: input.village.clone(),
        team: input.team.trim().to_owned(),
    };
    Ok(store.create_record(&new, &[], now_ms)?)
}

/// Refuses edits the user's role may not make: review decisions are a reviewer's.
pub fn check_allowed(edits: &[Edit], can_review: bool) -> Result<()> {
    if can_review {
        return Ok(());
    }
    for edit in edits {
        let review_only = match edit {
            Edit::Decide { .. } => true,
            Edit::SetReviewStatus { status } => status.is_review_decision(),
            _ => false,
        };
        if review_only {
            return Err(AppError::Forbidden(
                "只有审核人可以作出审核决定 / only a supervisor can make review decisions; submit the record for review instead"
                    .to_owned(),
            ));
        }
    }
    Ok(())
}

/// The edit for what a person typed into a field. Empty text clears the field.
pub fn input_edit(input: &FieldInput) -> Result<Edit> {
    Ok(match input {
        FieldInput::Field { field, text } => {
            let value = if text.trim().is_empty() { None } else { Some(field.parse_value(text)?) };
            Edit::Set { field: *field, value }
        }
        FieldInput::Item { id, field, text } => {
            let value = if text.trim().is_empty() { None } else { Some(field.parse_value(text)?) };
            Edit::UpdateItem { id: *id, field: *field, value }
        }
    })
}

/// The edit that settles the conflict at `path` on the value written by `change`.
pub fn settle_edit(store: &mut Store, id: RecordId, path: &FieldPath, change: &str) -> Result<Edit> {
    let mut doc = store.record(id)?;
    let conflict = doc.conflicts().into_iter().find(|c| &c.path == path).ok_or_else(|| {
        AppError::BadInput(
            "该字段已无冲突（可能已被他人处理）/ this field no longer holds concurrent values; it may have been settled elsewhere"
                .to_owned(),
        )
    })?;
    let value = conflict.values.iter().find(|v| v.change.as_deref() == Some(change)).ok_or_else(|| {
        AppError::BadInput(
            "所选的值已不在冲突中 / the chosen value is no longer one of the concurrent values".to_owned(),
        )
    })?;
    let display = value.display.as_str();
    Ok(match path {
        FieldPath::Field { field } => Edit::Set { field: *field, value: Some(field.parse_value(display)?) },
        FieldPath::Item { id, field } => {
            Edit::UpdateItem { id: *id, field: *field, value: Some(field.parse_value(display)?) }
        }
        FieldPath::AttachmentCaption { sha256 } => {
            Edit::SetAttachmentCaption { sha256: sha256.clone(), caption: display.to_owned() }
        }
        FieldPath::ReviewStatus => Edit::SetReviewStatus {
            status: ReviewStatus::parse(display).ok_or_else(|| {
                AppError::BadInput(format!("无法识别的审核状态 “{display}” / unknown status {display:?}"))
            })?,
        },
        FieldPath::Decision | FieldPath::Narrative => {
            return Err(AppError::BadInput(
                "审核决定或情况描述的冲突请直接重新作出决定或修改文字 / settle a decision by deciding again, and the narrative by editing it"
                    .to_owned(),
            ));
        }
    })
}

/// Stores a photo or document and adds it to its record, in one transaction.
pub fn attach(store: &mut Store, input: &AttachmentInput, bytes: Vec<u8>, now_ms: i64) -> Result<()> {
    if bytes.is_empty() {
        return Err(AppError::BadInput("文件为空 / the file is empty; choose another".to_owned()));
    }
    if bytes.len() > MAX_ATTACHMENT_BYTES {
        return Err(AppError::BadInput(format!(
            "文件过大（{} MB），上限 {} MB / the file is too large ({} MB); the limit is {} MB",
            bytes.len() >> 20,
            MAX_ATTACHMENT_BYTES >> 20,
            bytes.len() >> 20,
            MAX_ATTACHMENT_BYTES >> 20
        )));
    }
    let mime = input.mime.trim();
    if !(mime.starts_with("image/") || mime == "application/pdf") {
        return Err(AppError::BadInput(format!(
            "不支持的文件类型 {mime}：请选择照片或 PDF / unsupported file type {mime}: choose a photo or a PDF"
        )));
    }
    let file = NewAttachment {
        bytes,
        mime: mime.to_owned(),
        caption: input.caption.trim().to_owned(),
        taken_at_ms: input.taken_at_ms,
        gps: input.gps,
    };
    store.edit_with_attachments(input.record, &[], std::slice::from_ref(&file), now_ms)?;
    Ok(())
}

/// Sets the informant of a gang clue (empty values clear a field).
pub fn set_informant(store: &mut Store, id: RecordId, values: &[(InformantField, String)], now_ms: i64) -> Result<()> {
    let fields: Vec<(InformantField, Option<&str>)> =
        values.iter().map(|(f, v)| (*f, Some(v.trim()).filter(|v| !v.is_empty()))).collect();
    store.set_informant(id, &fields, now_ms)?;
    Ok(())
}
