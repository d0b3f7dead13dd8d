//! Record use cases over an open device database: list, read, create, edit (typed input
//! parsed here), settle conflicts, review, history. Who may do what is decided here; who
//! wrote what is shown by name from the user directory.

use xuncha_domain::rules::{self, Author};
use xuncha_domain::workflow::{self, Capacity};
use xuncha_domain::{
    Conflict, Edit, Entropy, FieldPath, InformantField, ItemField, NewRecord, Reader, RecordDoc, RecordId, RecordKind,
    ReviewStatus, findings, validate,
};
use xuncha_store::{ListFilter, NewAttachment, Store};

use crate::dto::{
    AttachmentInput, CommentView, ConflictValueView, ConflictView, DecisionView, FieldInput, FieldVersionView,
    HistoryEntryView, ListPage, ListQuery, NewRecordInput, RecordRow, RecordView, ReviewView,
};
use crate::error::{AppError, BadInput, Result};
use crate::reference::{self, Names};

/// The largest page the list asks for at once.
const MAX_PAGE: u32 = 500;

/// The largest attachment accepted (a photo or a scanned PDF).
pub const MAX_ATTACHMENT_BYTES: usize = 64 * 1024 * 1024;

/// A page of the record list.
pub fn list(store: &Store, query: &ListQuery, role: &str, today: &str) -> Result<ListPage> {
    let filter = list_filter(store, query, role)?;
    let rows = store.list(&filter)?;
    let pending = store.pending_records()?;
    let refused = store.refused()?;
    let news = store.news(&store.identity().user_id.to_string())?;
    let names = Names::of(store)?;
    let done = rows.len() < filter.limit as usize;
    let rows = rows
        .into_iter()
        .map(|row| {
            let id = row.record_id.parse::<RecordId>().ok();
            let is_pending = id.is_some_and(|id| pending.binary_search(&id).is_ok());
            let rectifying = row.status == ReviewStatus::Rectifying.code() && !row.rect_deadline.is_empty();
            let light = rectifying.then(|| workflow::light(&row.rect_deadline, today)).flatten();
            let days_left = rectifying.then(|| workflow::days_between(today, &row.rect_deadline)).flatten();
            let submitter = (!row.submitted_by.is_empty()).then_some(row.submitted_by.as_str());
            let submitter_name = names.name(submitter).unwrap_or_else(|| row.submitted_by.clone());
            RecordRow {
                pending: is_pending,
                light,
                days_left,
                news: id.is_some_and(|id| news.contains(&id)),
                refusal: id.and_then(|id| refused.get(&id).copied()),
                submitter_name,
                row,
            }
        })
        .collect();
    Ok(ListPage { rows, offset: query.offset, done, news: u32::try_from(news.len()).unwrap_or(u32::MAX) })
}

/// Fetches `wanted` (from [`missing_attachments`]) into the device, one by one, each stored
/// as it arrives, from the server (or the team relay while the server is out of reach). A
/// file that cannot be had is counted and skipped; if none arrives and some failed, the
/// first failure is the answer (the server is unreachable, say).
pub async fn download(
    store: &mut Store,
    timeout: std::time::Duration,
    records: u32,
    wanted: &[(String, String)],
) -> Result<crate::dto::DownloadReport> {
    let mut report = crate::dto::DownloadReport {
        records,
        missing: u32::try_from(wanted.len()).unwrap_or(u32::MAX),
        ..Default::default()
    };
    let mut first_error = None;
    for (sha256, mime) in wanted {
        match xuncha_sync::relay::download_attachment_anywhere(store, sha256, mime, timeout).await {
            Ok(bytes) => {
                report.fetched += 1;
                report.bytes += bytes.len() as u64;
            }
            Err(error) => {
                report.failed += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) if report.fetched == 0 => Err(error.into()),
        _ => Ok(report),
    }
}

/// The store's filter for a list query (the review queue follows the user's place).
fn list_filter(store: &Store, query: &ListQuery, role: &str) -> Result<ListFilter> {
    let statuses = match (query.status, query.review_queue) {
        (Some(status), _) => vec![status],
        (None, true) => queue(store, role)?,
        (None, false) => Vec::new(),
    };
    let blank = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    Ok(ListFilter {
        kind: query.kind,
        status: None,
        statuses,
        township_code: blank(&query.township),
        village_code: blank(&query.village),
        round: blank(&query.round),
        conflicts_only: query.conflicts_only,
        text: blank(&query.text),
        refused_only: query.refused_only,
        sort: query.sort,
        limit: query.limit.clamp(1, MAX_PAGE),
        offset: query.offset,
    })
}

/// The attachments of the records `query` picks (every page) that this device does not hold:
/// what to fetch so a place's records can be read offline. Returns how many records were
/// looked at, and each missing file once (SHA-256 and media type).
pub fn missing_attachments(store: &Store, query: &ListQuery, role: &str) -> Result<(u32, Vec<(String, String)>)> {
    let held: std::collections::HashSet<String> = store.attachments()?.into_iter().map(|a| a.sha256).collect();
    let mut seen = std::collections::HashSet::new();
    let mut missing = Vec::new();
    let mut records = 0u32;
    let mut page = ListQuery { offset: 0, limit: MAX_PAGE, ..query.clone() };
    loop {
        let rows = store.list(&list_filter(store, &page, role)?)?;
        for row in &rows {
            let Ok(id) = row.record_id.parse::<RecordId>() else { continue };
            records += 1;
            for file in store.record(id)?.read().all_attachments() {
                if !held.contains(&file.sha256) && seen.insert(file.sha256.clone()) {
                    missing.push((file.sha256.clone(), file.mime.clone()));
                }
            }
        }
        if rows.len() < MAX_PAGE as usize {
            return Ok((records, missing));
        }
        page.offset += MAX_PAGE;
    }
}

/// What the review queue holds: what waits for this user's level. The office takes records
/// the 组长 signed; in the round's teams, a 副组长 takes the submitted ones and a 组长 those
/// the 副组长 reviewed (one person may be both, in two teams). Without a team on the
/// device, the role says: a team lead's queue is the reviewed records, others' the
/// submitted ones.
fn queue(store: &Store, role: &str) -> Result<Vec<ReviewStatus>> {
    if reader(role) == Reader::Supervisor {
        return Ok(vec![ReviewStatus::LeadSigned]);
    }
    let user = store.identity().user_id.to_string();
    let mut statuses = Vec::new();
    for team in store.teams()? {
        let status = match team.role_of(&user) {
            Some(xuncha_domain::TeamRole::Deputy) => ReviewStatus::Submitted,
            Some(xuncha_domain::TeamRole::Lead) => ReviewStatus::DeputyReviewed,
            _ => continue,
        };
        if !statuses.contains(&status) {
            statuses.push(status);
        }
    }
    if statuses.is_empty() {
        statuses.push(if reader(role) == Reader::TeamLead {
            ReviewStatus::DeputyReviewed
        } else {
            ReviewStatus::Submitted
        });
    }
    Ok(statuses)
}

/// Marks what is new on a record seen (the user opened it); returns how many of the
/// user's records still have news (the records tab's badge).
pub fn mark_seen(store: &mut Store, id: RecordId) -> Result<u32> {
    store.mark_seen(id)?;
    let news = store.news(&store.identity().user_id.to_string())?;
    Ok(u32::try_from(news.len()).unwrap_or(u32::MAX))
}

pub fn view(store: &mut Store, id: RecordId, role: &str, today: &str) -> Result<RecordView> {
    let mut doc = store.check_out(id)?;
    let record = doc.read();
    let standing = reference::standing(store, reader(role), &record)?;
    let problems = validate(&record);
    let conflicts = doc.conflicts();
    // The directory is read only when someone is to be named (not on every keystroke).
    let anyone = !conflicts.is_empty()
        || record.review.decision.is_some()
        || !record.review.comments.is_empty()
        || !record.review.steps.is_empty()
        || !record.signatures.is_empty();
    let names = if anyone { Names::of(store)? } else { Names::default() };
    let review = review_view(&mut doc, &record, &names);
    let conflicts = conflicts.into_iter().map(|c| conflict_view(c, &names)).collect();
    let heads = doc.heads().iter().map(ToString::to_string).collect();
    store.check_in(doc);
    let pending = store.pending_records()?.binary_search(&id).is_ok();
    let refusal = if pending { store.refusal(id)?.map(|(code, _)| crate::dto::RefusalView { code }) } else { None };
    // Only gang clues (举报人) and petitions (反映人) name a protected person: no companion
    // lookup on other records' keystrokes.
    let informant = if record.kind.has_protected_person() { store.informant(id)? } else { None };
    let next_steps = workflow::next_steps(standing, record.kind, record.review.status);
    let deadline = match (&record.rectification, record.review.status) {
        (Some(ledger), ReviewStatus::Rectifying) => ledger.deadline.as_deref(),
        _ => None,
    };
    let light = deadline.and_then(|d| workflow::light(d, today));
    let days_left = deadline.and_then(|d| workflow::days_between(today, d));
    let mut links = Vec::new();
    let cited_by = store.cited_by(id)?;
    for (other, cited) in
        record.sources.iter().map(|c| (c.record, true)).chain(cited_by.into_iter().map(|r| (r, false)))
    {
        // From the index: no document is decoded on a keystroke.
        if let Some(row) = store.row(other)? {
            links.push(crate::dto::LinkView {
                id: other,
                kind: RecordKind::parse(&row.kind).unwrap_or(RecordKind::FundCheck),
                title: if row.title.trim().is_empty() { "（未命名）".to_owned() } else { row.title },
                status: ReviewStatus::from_stored(&row.status).unwrap_or_default(),
                cited,
            });
        }
    }
    let shortfall = (record.kind == RecordKind::FundCheck).then(|| record.shortfall());
    let findings = findings(&record);
    let unknown_places = reference::unknown_places(store, &record)?;
    Ok(RecordView {
        record,
        problems,
        conflicts,
        review,
        pending,
        refusal,
        informant,
        next_steps,
        light,
        days_left,
        links,
        can_review: standing.can_act_as(Capacity::Office),
        heads,
        shortfall,
        findings,
        unknown_places,
    })
}

/// A conflict with each value's author by name.
fn conflict_view(conflict: Conflict, names: &Names) -> ConflictView {
    let values = conflict
        .values
        .into_iter()
        .map(|value| ConflictValueView {
            author_name: names.name(value.author.as_deref()),
            device_name: names.device(value.device.as_deref()),
            value,
        })
        .collect();
    ConflictView { path: conflict.path, label_zh: conflict.label_zh, values }
}

/// The decision and comments of `review` by name; each comment attributed to the change
/// that added it.
fn review_view(doc: &mut RecordDoc, record: &xuncha_domain::Record, names: &Names) -> ReviewView {
    let review = &record.review;
    let decision =
        review.decision.clone().map(|decision| DecisionView { by_name: names.name(Some(&decision.by)), decision });
    let verified = if review.comments.is_empty() { Default::default() } else { doc.comment_authors() };
    let comments = review
        .comments
        .iter()
        .map(|c| {
            let (author, author_name) = match verified.get(&c.id) {
                Some(by) => (by.clone(), names.name(Some(by))),
                None => (c.author.clone(), None),
            };
            CommentView { id: c.id, author, author_name, at_ms: c.at_ms, text: c.text.clone() }
        })
        .collect();
    let people = review
        .steps
        .iter()
        .map(|s| s.by.as_str())
        .chain(record.signatures.iter().map(|s| s.by.as_str()))
        .chain(record.rectification.iter().flat_map(|r| r.progress.iter().map(|p| p.by.as_str())));
    let names = people.filter_map(|id| Some((id.to_owned(), names.name(Some(id))?))).collect();
    ReviewView { decision, comments, names }
}

/// Every change of a record, its author by name.
pub fn history(store: &Store, id: RecordId) -> Result<Vec<HistoryEntryView>> {
    let entries = store.record(id)?.history();
    let names = Names::of(store)?;
    Ok(entries
        .into_iter()
        .map(|entry| HistoryEntryView {
            author_name: names.name(entry.author.as_deref()),
            device_name: names.device(entry.device.as_deref()),
            entry,
        })
        .collect())
}

/// The values one field took, change by change, each change's author by name.
pub fn field_history(store: &Store, id: RecordId, path: &FieldPath) -> Result<Vec<FieldVersionView>> {
    let versions = store.record(id)?.field_history(path);
    let names = Names::of(store)?;
    Ok(versions
        .into_iter()
        .map(|version| FieldVersionView {
            author_name: names.name(version.author.as_deref()),
            device_name: names.device(version.device.as_deref()),
            version,
        })
        .collect())
}

/// Creates a record; returns its id. A village the reference data knows brings its
/// township, and the round and team of the user's team there, where the input leaves
/// them out; a place it does not know is kept as given (and flagged in the view).
pub fn create(store: &mut Store, input: &NewRecordInput, now_ms: i64, entropy: &Entropy) -> Result<RecordId> {
    let mut new = NewRecord {
        id: RecordId::new(now_ms, entropy),
        kind: input.kind,
        title: input.title.trim().to_owned(),
        round: input.round.trim().to_owned(),
        township: input.township.clone(),
        village: input.village.clone(),
        team: input.team.trim().to_owned(),
    };
    let place = new.village.as_ref().or(new.township.as_ref()).map(|d| d.code.clone());
    if let Some(placement) = place.map(|code| reference::placement(store, &code)).transpose()?.flatten() {
        if new.township.is_none() {
            new.township = placement.township;
        }
        if new.round.is_empty() {
            new.round = placement.round;
        }
        if new.team.is_empty() {
            new.team = placement.team;
        }
    }
    Ok(store.create_record(&new, &[], now_ms)?)
}

/// A relation's 人员甲 or 人员乙 typed or picked as a subject's name or item id becomes the
/// subject's id, as relations store it; other input is left as it is.
pub fn resolve_subject(store: &Store, id: RecordId, input: FieldInput) -> Result<FieldInput> {
    match input {
        FieldInput::Item { id: item, field: field @ (ItemField::From | ItemField::To), text }
            if !text.trim().is_empty() =>
        {
            let record = store.record(id)?.read();
            let subject = record.subject_id(&text)?;
            Ok(FieldInput::Item { id: item, field, text: subject.to_string() })
        }
        other => Ok(other),
    }
}

/// The domain's name for a role.
pub fn reader(role: &str) -> Reader {
    match role {
        "team_lead" => Reader::TeamLead,
        "supervisor" => Reader::Supervisor,
        "administrator" => Reader::Administrator,
        _ => Reader::Inspector,
    }
}

/// Refuses, before the store is touched, edits the server would refuse from this user:
/// the domain's `rules::check` (the same function the server runs on every upload) on the
/// record before and after the edits. Only edits the rules govern (review statuses,
/// decisions, withdrawal) are tried out; a keystroke is never slowed.
pub fn check_allowed(store: &mut Store, id: RecordId, edits: &[Edit], role: &str, now_ms: i64) -> Result<()> {
    let governed = edits.iter().any(|e| {
        matches!(
            e,
            Edit::Transition { .. }
                | Edit::Withdraw
                | Edit::Ledger { .. }
                | Edit::AddProgress { .. }
                | Edit::Sign { .. }
        )
    });
    if !governed {
        return Ok(());
    }
    let mut doc = store.record(id)?;
    let before = doc.read();
    let standing = reference::standing(store, reader(role), &before)?;
    let user = store.identity().user_id.to_string();
    let author = Author {
        user: &user,
        role: standing.reader,
        team: standing.team_role,
        team_has_deputy: standing.team_has_deputy,
    };
    let mut trial = doc.fork(store.identity().actor.clone());
    // Edits the document itself refuses are reported by the real edit, with its reason.
    if trial.apply(edits, &store.edit_context(now_ms)).is_err() {
        return Ok(());
    }
    rules::check(author, Some(&before), &trial.read()).map_err(AppError::Forbidden)
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
    let conflict = doc
        .conflicts()
        .into_iter()
        .find(|c| &c.path == path)
        .ok_or_else(|| AppError::BadInput(BadInput::ConflictGone))?;
    let value = conflict
        .values
        .iter()
        .find(|v| v.change.as_deref() == Some(change))
        .ok_or_else(|| AppError::BadInput(BadInput::ConflictValueGone))?;
    let display = value.display.as_str();
    Ok(match path {
        FieldPath::Field { field } => Edit::Set { field: *field, value: Some(field.parse_value(display)?) },
        FieldPath::Item { id, field } => {
            Edit::UpdateItem { id: *id, field: *field, value: Some(field.parse_value(display)?) }
        }
        FieldPath::AttachmentCaption { sha256 } => {
            Edit::SetAttachmentCaption { sha256: sha256.clone(), caption: display.to_owned() }
        }
        FieldPath::ReviewStatus | FieldPath::Decision => {
            return Err(AppError::BadInput(BadInput::StatusConflict));
        }
        FieldPath::Narrative => {
            return Err(AppError::BadInput(BadInput::NarrativeConflict));
        }
    })
}

/// The long sides a photo may be stored at: from a legible 花名册 page to a full frame.
pub const LONG_SIDES: std::ops::RangeInclusive<u32> = 640..=8192;

/// Stores a photo or document and adds it to its record, in one transaction. A large photo
/// is stored downscaled ([`crate::photos`]) to `input.long_side` (else `photos`), with the
/// on-site watermark if `input.watermark` and a font is given ([`crate::watermark`]); its
/// EXIF capture time and GPS point, when it has them, win over those `input` brings (the
/// file's modification time, the record's point). With `input.keep_original`, the file as
/// chosen is attached too, captioned as the original, when the stored copy differs from it.
pub fn attach(
    store: &mut Store,
    input: &AttachmentInput,
    bytes: Vec<u8>,
    photos: crate::photos::PhotoSettings,
    watermark: Option<(&ttf_parser::Face<'_>, &str)>,
    now_ms: i64,
) -> Result<()> {
    if bytes.is_empty() {
        return Err(AppError::BadInput(BadInput::EmptyFile));
    }
    if bytes.len() > MAX_ATTACHMENT_BYTES {
        return Err(AppError::BadInput(BadInput::FileTooLarge {
            size_mb: bytes.len() >> 20,
            limit_mb: MAX_ATTACHMENT_BYTES >> 20,
        }));
    }
    let mime = input.mime.trim();
    if !(mime.starts_with("image/") || mime == "application/pdf") {
        return Err(AppError::BadInput(BadInput::UnsupportedFile(mime.to_owned())));
    }
    let settings = crate::photos::PhotoSettings {
        long_side: input.long_side.map_or(photos.long_side, |side| side.clamp(*LONG_SIDES.start(), *LONG_SIDES.end())),
        ..photos
    };
    let stamp = match watermark {
        Some((face, inspector)) if input.watermark && mime.starts_with("image/") => {
            Some((face, stamp(store, input, inspector, now_ms)?))
        }
        _ => None,
    };
    let original = input.keep_original.then(|| bytes.clone());
    let mark = stamp.as_ref().map(|(face, stamp)| crate::photos::Mark { face, stamp });
    let prepared = crate::photos::prepare_marked(bytes, mime, settings, mark).map_err(AppError::BadInput)?;
    let caption = input.caption.trim().to_owned();
    let taken_at_ms = prepared.taken_at_ms.or(input.taken_at_ms);
    let gps = prepared.gps.or(input.gps);
    let mut files =
        vec![NewAttachment { bytes: prepared.bytes, mime: prepared.mime, caption: caption.clone(), taken_at_ms, gps }];
    if let Some(original) = original.filter(|o| *o != files[0].bytes) {
        let caption = if caption.is_empty() { "原图".to_owned() } else { format!("{caption}（原图）") };
        files.push(NewAttachment { bytes: original, mime: mime.to_owned(), caption, taken_at_ms, gps });
    }
    store.edit_with_attachments(input.record, &[], &files, now_ms)?;
    Ok(())
}

/// What the watermark of a photo for `input.record` says: the record's township and
/// village, its 编号, who is taking it, and when and where the input says it was taken
/// (the photo's EXIF, read later, wins over both).
fn stamp(store: &Store, input: &AttachmentInput, inspector: &str, now_ms: i64) -> Result<crate::watermark::Stamp> {
    let record = store.record(input.record)?.read();
    let place: Vec<&str> = [xuncha_domain::Field::Township, xuncha_domain::Field::Village]
        .into_iter()
        .filter_map(|f| record.division(f).map(|d| d.name.trim()).filter(|n| !n.is_empty()))
        .collect();
    let number = xuncha_domain::numbering::number_or_provisional(&store.record_numbers()?, input.record);
    Ok(crate::watermark::Stamp {
        taken_at_ms: input.taken_at_ms.unwrap_or(now_ms),
        place: place.join(" "),
        gps: input.gps.or_else(|| record.location()),
        inspector: inspector.to_owned(),
        number,
    })
}

/// Sets the informant of a gang clue (empty values clear a field).
pub fn set_informant(store: &mut Store, id: RecordId, values: &[(InformantField, String)], now_ms: i64) -> Result<()> {
    let fields: Vec<(InformantField, Option<&str>)> =
        values.iter().map(|(f, v)| (*f, Some(v.trim()).filter(|v| !v.is_empty()))).collect();
    store.set_informant(id, &fields, now_ms)?;
    Ok(())
}

/// The 问题清单 of the records `filter` picks: each problem with its state, the sources it
/// cites (talks, petitions, records) and, while rectifying, its deadline light.
pub fn problems(
    store: &Store,
    filter: &xuncha_store::TotalsFilter,
    today: &str,
) -> Result<Vec<crate::dto::ProblemRow>> {
    let mut out = Vec::new();
    for row in store.problems(filter)? {
        let mut sources = Vec::new();
        for source in store.sources_of(&row.record_id)? {
            let Ok(id) = source.parse::<RecordId>() else { continue };
            if let Some(cited) = store.row(id)? {
                sources.push(crate::dto::LinkView {
                    id,
                    kind: RecordKind::parse(&cited.kind).unwrap_or(RecordKind::FundCheck),
                    title: cited.title,
                    status: ReviewStatus::from_stored(&cited.status).unwrap_or_default(),
                    cited: true,
                });
            }
        }
        let rectifying = row.status == ReviewStatus::Rectifying.code() && !row.rect_deadline.is_empty();
        let light = rectifying.then(|| workflow::light(&row.rect_deadline, today)).flatten();
        let days_left = rectifying.then(|| workflow::days_between(today, &row.rect_deadline)).flatten();
        out.push(crate::dto::ProblemRow { row, sources, light, days_left });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! Who wrote what, by name: the user directory names the authors of changes, conflict
    //! values, decisions and comments; the device's own user is named from its identity;
    //! anyone else shows as the id.

    use xuncha_domain::{ActorId, DeviceEntry, DeviceId, Division, EditContext, Field, Person, Reference, UserId};
    use xuncha_store::{Identity, KdfParams, Received};

    use super::*;
    use crate::dto::NewRecordInput;

    const T0: i64 = 1_700_000_000_000;

    /// A device database of `wang` (王巡察, whom the directory does not list) holding a
    /// directory of `lee` (李组长) and `sun` (孙书记), and a fund check wang created.
    pub(super) fn set_up() -> (tempfile::TempDir, Store, RecordId) {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity {
            device_id: DeviceId::new("dev-wang").unwrap(),
            user_id: UserId::new("wang").unwrap(),
            user_name: "王巡察".into(),
            actor: ActorId::from([1; 16]),
        };
        let mut store =
            Store::create(&dir.path().join("device.db"), "246810", &identity, KdfParams::FAST_INSECURE).unwrap();
        let people = [("lee", "李组长"), ("sun", "孙书记")]
            .map(|(id, name)| Person { id: id.into(), name: name.into() })
            .to_vec();
        let devices = vec![DeviceEntry { id: "dev-lee".into(), name: "李组长的平板".into(), user: "lee".into() }];
        let reference = Reference { people, devices, ..Reference::default() };
        let received = Received {
            cursor: b"c1",
            dropped: &[],
            reference: Some((b"t1", &reference)),
            protected: None,
            numbers: &[],
        };
        store.apply_sync(&[], &[], &received).unwrap();
        let input = NewRecordInput {
            kind: RecordKind::FundCheck,
            title: "到户补贴发放检查".into(),
            round: "2024年第一轮".into(),
            township: Some(Division::new("330199101000", "东岭镇")),
            village: Some(Division::new("330199101001", "上坪村")),
            team: "第一巡察组".into(),
        };
        let id = create(&mut store, &input, T0, &[7; 10]).unwrap();
        (dir, store, id)
    }

    /// `user`'s device editing its copy of the record, merged into `store`.
    fn edit_as(store: &mut Store, id: RecordId, base: &mut RecordDoc, user: &str, actor: u8, edits: &[Edit]) {
        let mut doc = base.fork(ActorId::from([actor; 16]));
        let ctx = EditContext {
            author: UserId::new(user).unwrap(),
            device: DeviceId::new(format!("dev-{user}")).unwrap(),
            actor: ActorId::from([actor; 16]),
            now_ms: T0 + i64::from(actor),
        };
        doc.apply(edits, &ctx).unwrap();
        store.merge_record(id, &doc.save()).unwrap();
    }

    fn set(field: Field, text: &str) -> Edit {
        Edit::Set { field, value: Some(field.parse_value(text).unwrap()) }
    }

    #[test]
    fn history_and_conflicts_name_known_authors_and_show_unknown_ones_by_id() {
        let (_dir, mut store, id) = set_up();
        // lee (in the directory) and zhao (not in it) change the amount at the same time.
        let mut base = store.record(id).unwrap();
        edit_as(&mut store, id, &mut base, "lee", 2, &[set(Field::Allocated, "100")]);
        edit_as(&mut store, id, &mut base, "zhao", 3, &[set(Field::Allocated, "200")]);

        let named = |author: Option<String>, name: Option<String>| (author.unwrap_or_default(), name);
        let mut authors: Vec<_> =
            history(&store, id).unwrap().into_iter().map(|e| named(e.entry.author, e.author_name)).collect();
        authors.sort();
        let expected = vec![
            ("lee".to_owned(), Some("李组长".to_owned())),
            ("wang".to_owned(), Some("王巡察".to_owned())),
            ("zhao".to_owned(), None),
        ];
        assert_eq!(authors, expected);

        let path = FieldPath::Field { field: Field::Allocated };
        let mut versions: Vec<_> = field_history(&store, id, &path)
            .unwrap()
            .into_iter()
            .map(|v| named(v.version.author, v.author_name))
            .collect();
        versions.sort();
        assert_eq!(versions, expected[..1].iter().chain(&expected[2..]).cloned().collect::<Vec<_>>());

        let view = view(&mut store, id, "inspector", "2024-06-01").unwrap();
        assert_eq!(view.conflicts.len(), 1, "{:?}", view.conflicts);
        let mut values: Vec<_> =
            view.conflicts[0].values.iter().map(|v| named(v.value.author.clone(), v.author_name.clone())).collect();
        values.sort();
        assert_eq!(values, vec![("lee".to_owned(), Some("李组长".to_owned())), ("zhao".to_owned(), None)]);

        // Devices by the name they enrolled with, where the device directory lists them.
        let mut devices: Vec<_> = view.conflicts[0]
            .values
            .iter()
            .map(|v| (v.value.device.clone().unwrap_or_default(), v.device_name.clone()))
            .collect();
        devices.sort();
        assert_eq!(
            devices,
            vec![("dev-lee".to_owned(), Some("李组长的平板".to_owned())), ("dev-zhao".to_owned(), None)]
        );
        let lee = history(&store, id).unwrap().into_iter().find(|e| e.entry.author.as_deref() == Some("lee")).unwrap();
        assert_eq!(lee.device_name.as_deref(), Some("李组长的平板"));
    }

    #[test]
    fn steps_and_comments_name_their_authors() {
        let (_dir, mut store, id) = set_up();
        let ready =
            [set(Field::FundName, "到户产业补贴"), set(Field::FundType, "产业扶贫"), set(Field::Allocated, "100")];
        store.edit(id, &ready, T0 + 1).unwrap();
        let submit = Edit::Transition {
            to: ReviewStatus::Submitted,
            capacity: xuncha_domain::Capacity::Handler,
            note: String::new(),
            conclusion: None,
            handover: None,
        };
        store.edit(id, &[submit], T0 + 2).unwrap();
        let mut base = store.record(id).unwrap();
        let by_sun = Edit::AddComment { id: xuncha_domain::ItemId::new(T0, &[5; 10]), text: "已阅".into() };
        edit_as(&mut store, id, &mut base, "sun", 4, &[by_sun]);
        let mut base = store.record(id).unwrap();
        let by_zhao = Edit::AddComment { id: xuncha_domain::ItemId::new(T0, &[6; 10]), text: "收到".into() };
        edit_as(&mut store, id, &mut base, "zhao", 5, &[by_zhao]);

        let view = view(&mut store, id, "inspector", "2024-06-01").unwrap();
        assert_eq!(view.record.review.steps.iter().map(|s| s.by.as_str()).collect::<Vec<_>>(), ["wang"]);
        let comments: Vec<_> =
            view.review.comments.iter().map(|c| (c.author.as_str(), c.author_name.as_deref())).collect();
        assert_eq!(comments, vec![("sun", Some("孙书记")), ("zhao", None)]);
        // The inspector may not review: the next steps say who may.
        let next: Vec<_> = view.next_steps.iter().map(|s| (s.to, s.allowed)).collect();
        assert_eq!(next, [(ReviewStatus::DeputyReviewed, false), (ReviewStatus::Returned, false)]);
    }
}

#[cfg(test)]
mod attach_tests {
    //! Attaching photos and documents: a camera photo is stored downscaled with its own EXIF
    //! time and place in the record, small files and PDFs byte for byte, and a picture of too
    //! many pixels is refused with nothing stored.

    use xuncha_domain::{ErrorCode, GeoPoint};

    use super::*;
    use crate::photos::PhotoSettings;
    use crate::photos::tests::{Exif, jpeg, png_header};

    const T1: i64 = 1_700_000_100_000;

    /// What the UI sends along: the file's modification time and the record's point.
    fn input(record: RecordId, mime: &str) -> AttachmentInput {
        AttachmentInput {
            record,
            mime: mime.into(),
            caption: " 发放花名册 ".into(),
            taken_at_ms: Some(1_699_999_000_000),
            gps: Some(GeoPoint { lat: 30.0, lon: 120.0, accuracy_m: Some(15.0) }),
            watermark: false,
            long_side: None,
            keep_original: false,
        }
    }

    /// Pixels near white in all three channels within `area` (x, y, width, height).
    fn white_pixels(picture: &image::RgbImage, (x0, y0, w, h): (u32, u32, u32, u32)) -> usize {
        (y0..y0 + h)
            .flat_map(|y| (x0..x0 + w).map(move |x| (x, y)))
            .filter(|&(x, y)| picture.get_pixel(x, y).0.iter().all(|&c| c > 235))
            .count()
    }

    #[test]
    fn a_watermarked_photo_is_stored_at_the_size_asked_with_its_original_beside_it() {
        let fonts = xuncha_report::Fonts::load().expect("the bundled fonts (make setup)");
        let face = fonts.face(true).expect("the bold SC face");
        let (_dir, mut store, id) = super::tests::set_up();
        // Small enough to need no downscaling at the default size: marked all the same.
        let original = jpeg(1600, 1200, None);
        let asked =
            AttachmentInput { watermark: true, keep_original: true, long_side: Some(1000), ..input(id, "image/jpeg") };
        attach(&mut store, &asked, original.clone(), PhotoSettings::default(), Some((face, "王巡察")), T1).unwrap();

        let record = store.record(id).unwrap().read();
        assert_eq!(record.attachments.len(), 2, "{:?}", record.attachments);
        let captioned = |caption: &str| record.attachments.iter().find(|a| a.caption == caption).unwrap();
        let (marked, kept) = (captioned("发放花名册"), captioned("发放花名册（原图）"));
        assert_eq!(store.attachment(&kept.sha256).unwrap(), original, "the original byte for byte");
        let picture = image::load_from_memory(&store.attachment(&marked.sha256).unwrap()).unwrap().into_rgb8();
        assert_eq!(picture.dimensions(), (1000, 750));
        // The test picture has no white near its left edge; the stamp's text is white.
        let corner = (0, 450, 500, 300);
        let before = image::load_from_memory(&original)
            .unwrap()
            .resize(1000, 1000, image::imageops::FilterType::Triangle)
            .into_rgb8();
        assert_eq!(white_pixels(&before, corner), 0);
        assert!(white_pixels(&picture, corner) > 500, "stamped: {} white pixels", white_pixels(&picture, corner));
        // Unasked, nothing is marked and no original is kept.
        attach(
            &mut store,
            &input(id, "image/jpeg"),
            jpeg(800, 600, None),
            PhotoSettings::default(),
            Some((face, "王巡察")),
            T1 + 1,
        )
        .unwrap();
        assert_eq!(store.record(id).unwrap().read().attachments.len(), 3);
    }

    #[test]
    fn a_camera_photo_is_stored_small_and_upright_with_its_own_time_and_place() {
        let (_dir, mut store, id) = super::tests::set_up();
        let exif = Exif { orientation: 6, taken: "2026:11:30 14:05:09", offset: None, gps: Some((29.8683, 121.5440)) };
        let original = jpeg(6000, 4000, Some(&exif));
        attach(&mut store, &input(id, "image/jpeg"), original, PhotoSettings::default(), None, T1).unwrap();

        let record = store.record(id).unwrap().read();
        let [attachment] = record.attachments.as_slice() else { panic!("{:?}", record.attachments) };
        // The store checks the bytes against the hash the record names.
        let stored = store.attachment(&attachment.sha256).unwrap();
        assert_eq!(attachment.size, stored.len() as u64);
        assert_eq!(attachment.mime, "image/jpeg");
        assert_eq!(attachment.caption, "发放花名册");
        assert!(stored.len() < 1_500_000, "{} bytes", stored.len());
        let picture = image::load_from_memory(&stored).unwrap();
        assert_eq!((picture.width(), picture.height()), (1707, 2560));
        assert_eq!(attachment.taken_at_ms, Some(1_796_018_709_000), "EXIF time, not the file's");
        let gps = attachment.gps.unwrap();
        assert!((gps.lat - 29.8683).abs() < 1e-4 && (gps.lon - 121.5440).abs() < 1e-4, "EXIF point: {gps:?}");
    }

    #[test]
    fn small_photos_and_pdfs_are_stored_as_chosen_with_the_time_and_place_sent() {
        let (_dir, mut store, id) = super::tests::set_up();
        let small = jpeg(800, 600, None);
        let pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".to_vec();
        attach(&mut store, &input(id, "image/jpeg"), small.clone(), PhotoSettings::default(), None, T1).unwrap();
        attach(&mut store, &input(id, "application/pdf"), pdf.clone(), PhotoSettings::default(), None, T1 + 1).unwrap();

        let record = store.record(id).unwrap().read();
        for (bytes, mime) in [(small, "image/jpeg"), (pdf, "application/pdf")] {
            let attachment = record.attachments.iter().find(|a| a.mime == mime).unwrap();
            assert_eq!(store.attachment(&attachment.sha256).unwrap(), bytes);
            assert_eq!((attachment.mime.as_str(), attachment.size), (mime, bytes.len() as u64));
            assert_eq!(attachment.taken_at_ms, Some(1_699_999_000_000));
            assert_eq!(attachment.gps.map(|p| (p.lat, p.lon)), Some((30.0, 120.0)));
        }
    }

    #[test]
    fn a_picture_of_too_many_pixels_is_refused_and_nothing_is_stored() {
        let (_dir, mut store, id) = super::tests::set_up();
        let refused =
            attach(&mut store, &input(id, "image/png"), png_header(20_000, 10_000), PhotoSettings::default(), None, T1)
                .unwrap_err();
        assert_eq!(refused.code(), ErrorCode::BadInput);
        assert_eq!(refused.cause(), Some(ErrorCode::ImageTooLarge));
        assert!(refused.to_string().contains("百万像素") && refused.to_string().contains("MP"), "{refused}");
        assert!(store.record(id).unwrap().read().attachments.is_empty());
        assert!(store.attachments().unwrap().is_empty());
    }
}
