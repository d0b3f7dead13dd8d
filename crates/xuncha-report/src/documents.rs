//! What each document shows, taken from domain values and handed to its template as
//! data: the template decides only the layout.

use std::collections::BTreeMap;

use chrono::{FixedOffset, NaiveDate, TimeZone};
use serde::Serialize;
use xuncha_domain::codes::{Conclusion, RecordKind, ReviewStatus, SignerRole};
use xuncha_domain::workflow::{self, Capacity};
use xuncha_domain::{Field, FieldType, ItemField, ItemList, Record, RecordId, Value, Yuan};

use crate::fonts::Fonts;
use crate::photos::{self, Picture};
use crate::typeset::{self, Job};
use crate::{Attachments, Paper, ReportError};

/// What every document needs besides its records.
pub struct Context<'a> {
    /// The 密级 mark on every page ("" for none).
    pub mark: &'a str,
    /// Today (`YYYY-MM-DD`, the commission's calendar): 编制日期, and what is overdue.
    pub today: NaiveDate,
    /// The display name of a user id (the id itself when the directory does not list it).
    pub names: &'a dyn Fn(&str) -> String,
    /// Every record's 编号 (see `xuncha_domain::numbering`).
    pub numbers: &'a BTreeMap<RecordId, String>,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("mark", &self.mark).field("today", &self.today).finish_non_exhaustive()
    }
}

impl Context<'_> {
    fn number(&self, id: RecordId) -> String {
        self.numbers.get(&id).cloned().unwrap_or_default()
    }

    fn date(&self) -> String {
        chinese_date(self.today)
    }

    fn today_text(&self) -> String {
        self.today.format("%Y-%m-%d").to_string()
    }
}

/// 2026年12月2日.
fn chinese_date(date: NaiveDate) -> String {
    date.format("%Y年%-m月%-d日").to_string()
}

/// A `YYYY-MM-DD` as 2026年12月2日 (kept as written when it is not a date).
fn chinese_day(text: &str) -> String {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_or_else(|_| text.trim().to_owned(), chinese_date)
}

/// A time as the commission reads it: China Standard Time, to the minute.
fn time(ms: i64) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("a valid offset");
    cst.timestamp_millis_opt(ms).single().map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

/// A value as a reader wants it: vocabulary labels, amounts grouped, yes/no in words.
fn shown(field_type: FieldType, value: &Value) -> String {
    match (field_type, value) {
        (FieldType::Choice(vocabulary), Value::Choice(code)) => vocabulary.zh(code),
        (_, Value::Money(yuan)) => yuan.grouped(),
        (_, Value::Division(division)) => division.name.clone(),
        (_, other) => other.to_string(),
    }
}

fn item_text(item: &xuncha_domain::Item, field: ItemField) -> String {
    item.values.get(&field).map(|v| shown(field.ty(), v)).unwrap_or_default()
}

/// Where the record was found: township and village by name.
fn place(record: &Record) -> String {
    [Field::Township, Field::Village]
        .into_iter()
        .filter_map(|f| record.division(f))
        .map(|d| d.name.trim())
        .filter(|n| !n.is_empty())
        .collect::<Vec<_>>()
        .join("")
}

fn text(record: &Record, field: Field) -> String {
    record.text(field).map(str::trim).unwrap_or_default().to_owned()
}

/// The heads as a reader checks them against the server: every change hash, in full.
fn heads_text(heads: &[String]) -> String {
    if heads.is_empty() {
        return "（无）".into();
    }
    heads.join(" ")
}

/// The PDF's stable identifier: the record and the heads it shows.
fn ident(record: &Record, heads: &[String]) -> String {
    format!("xuncha:{}:{}", record.id, heads.join(","))
}

fn not_applicable(zh: &str, en: &str) -> ReportError {
    ReportError::NotApplicable { zh: zh.to_owned(), en: en.to_owned() }
}

// ---------------------------------------------------------------------------------------
// 问题底稿

#[derive(Serialize)]
struct DraftData {
    doc_title: &'static str,
    mark: String,
    name: String,
    number: String,
    date: String,
    unit: String,
    round: String,
    team: String,
    kind: String,
    status: String,
    issues: String,
    sources: Vec<SourceLine>,
    summary: String,
    facts: Vec<Fact>,
    tables: Vec<Table>,
    conclusion: String,
    conclusion_note: String,
    materials: Vec<Material>,
    signoffs: Vec<SignOff>,
    photos: Vec<Photo>,
    record_id: String,
    heads: String,
}

#[derive(Serialize)]
struct SourceLine {
    kind: String,
    title: String,
    number: String,
}

#[derive(Serialize)]
struct Fact {
    label: &'static str,
    value: String,
}

/// A table of a record's list: headers, rows of text, which columns are numbers.
#[derive(Serialize)]
struct Table {
    title: String,
    headers: Vec<String>,
    widths: Vec<u32>,
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
    total: Option<Vec<String>>,
}

#[derive(Serialize)]
struct Material {
    n: usize,
    caption: String,
    mime: String,
    size: String,
    sha256: String,
}

#[derive(Serialize)]
struct SignOff {
    step: String,
    by: String,
    at: String,
    note: String,
    void: bool,
    signature: Option<String>,
}

#[derive(Serialize)]
struct Photo {
    n: usize,
    caption: String,
    file: String,
}

fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.0} KB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} 字节"),
    }
}

/// The scalar fields the record's kind has, with their values (the place, round and team
/// are in the form's head already).
fn facts(record: &Record) -> Vec<Fact> {
    Field::ALL
        .iter()
        .copied()
        .filter(|f| {
            f.kinds().contains(record.kind)
                && !matches!(f, Field::Title | Field::Round | Field::Team | Field::Township | Field::Village)
        })
        .filter_map(|f| {
            let value = record.fields.get(&f)?;
            let text = shown(f.ty(), value);
            (!text.trim().is_empty()).then_some(Fact { label: f.zh(), value: text })
        })
        .collect()
}

/// A record's lists as tables (the talk's turns excepted: they have their own layout).
fn tables(record: &Record) -> Vec<Table> {
    let mut tables = Vec::new();
    for list in ItemList::ALL.iter().copied().filter(|l| *l != ItemList::Turns) {
        let items = record.items(list);
        if items.is_empty() {
            continue;
        }
        let fields: Vec<ItemField> = list.fields().filter(|f| *f != ItemField::PartyMember).collect();
        let mut headers: Vec<String> = vec!["序号".into()];
        headers.extend(fields.iter().map(|f| f.zh().to_owned()));
        let mut numeric = vec![false];
        numeric.extend(fields.iter().map(|f| matches!(f.ty(), FieldType::Money | FieldType::Area)));
        let mut widths = vec![1];
        widths.extend(fields.iter().map(|f| match f.ty() {
            FieldType::Text if matches!(f, ItemField::Remark | ItemField::Note | ItemField::Employer) => 3,
            FieldType::Flag => 1,
            _ => 2,
        }));
        let rows = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let mut row = vec![(i + 1).to_string()];
                row.extend(fields.iter().map(|f| {
                    match f {
                        // Relations store subject ids: show the names.
                        ItemField::From | ItemField::To => item
                            .text(*f)
                            .and_then(|id| record.subject(id))
                            .map_or_else(|| item_text(item, *f), |s| s.subject_name().to_owned()),
                        _ => item_text(item, *f),
                    }
                }));
                row
            })
            .collect();
        let total = (list == ItemList::Beneficiaries).then(|| {
            let sum = |field| {
                items.iter().filter_map(|i| i.money(field)).fold(Yuan::ZERO, |a, b| a.checked_add(b).unwrap_or(a))
            };
            fields
                .iter()
                .map(|f| match f {
                    ItemField::Head => format!("合计 {} 户", items.len()),
                    ItemField::Entitled | ItemField::Received => sum(*f).grouped(),
                    _ => String::new(),
                })
                .fold(vec![String::new()], |mut row, cell| {
                    row.push(cell);
                    row
                })
        });
        tables.push(Table { title: list.zh().to_owned(), headers, widths, numeric, rows, total });
    }
    tables
}

/// The label of a workflow step on a paper: 承办人提交, 副组长审核, 组长审签, 巡察办审核 ...
fn step_label(capacity: Capacity, to: ReviewStatus) -> String {
    let act = match to {
        ReviewStatus::Submitted => "提交",
        ReviewStatus::DeputyReviewed => "审核",
        ReviewStatus::LeadSigned => "审签",
        ReviewStatus::Returned => "退回",
        ReviewStatus::OfficeApproved => "审核",
        ReviewStatus::HandedOver => "移交",
        ReviewStatus::Rectifying => "交办整改",
        ReviewStatus::Rectified => "销号",
        ReviewStatus::Closed => "了结",
        ReviewStatus::Draft => "撤回",
    };
    format!("{}{act}", capacity.zh())
}

fn signer_for(capacity: Capacity) -> Option<SignerRole> {
    match capacity {
        Capacity::Handler => Some(SignerRole::Handler),
        Capacity::Deputy => Some(SignerRole::Deputy),
        Capacity::Lead => Some(SignerRole::Lead),
        Capacity::Office => None,
    }
}

/// The sign-offs: every workflow step, with the signature given in that capacity by
/// that person when there is one.
fn signoffs(
    record: &Record,
    ctx: &Context<'_>,
    pictures: &mut Vec<Picture>,
    attachments: &Attachments,
) -> Vec<SignOff> {
    record
        .review
        .steps
        .iter()
        .map(|step| {
            let signature = signer_for(step.capacity)
                .and_then(|role| record.signatures.iter().rev().find(|s| s.role == role && s.by == step.by && !s.void));
            let picture =
                signature.and_then(|s| photos::prepare(&s.image, attachments, pictures, photos::Use::Signature));
            let mut note = step.note.trim().to_owned();
            if let Some(handover) = &step.handover {
                let unit =
                    if handover.unit.trim().is_empty() { handover.to.zh().to_owned() } else { handover.unit.clone() };
                note = format!(
                    "{note}{}移交{unit}，文号 {}，{}",
                    if note.is_empty() { "" } else { "；" },
                    handover.number,
                    chinese_day(&handover.date)
                );
            }
            if let Some(conclusion) = step.conclusion {
                note = format!("{note}{}核实结论：{}", if note.is_empty() { "" } else { "；" }, conclusion.zh());
            }
            SignOff {
                step: step_label(step.capacity, step.to),
                by: (ctx.names)(&step.by),
                at: time(step.at_ms),
                note,
                void: step.void,
                signature: picture,
            }
        })
        .collect()
}

/// 问题底稿 of a problem record. `sources` are the records it cites (those the device
/// holds); `heads` the document heads the paper shows.
pub fn draft(
    fonts: &Fonts,
    record: &Record,
    heads: &[String],
    sources: &[&Record],
    attachments: &Attachments,
    ctx: &Context<'_>,
) -> Result<Paper, ReportError> {
    if !workflow::is_problem(record.kind) {
        if record.kind == RecordKind::Talk {
            return talk(fonts, record, heads, attachments, ctx);
        }
        return Err(not_applicable(
            "信访件不是问题记录，没有问题底稿；请为其反映的问题建立问题记录并引用它",
            "a petition is not a problem record and has no 问题底稿: record the problem it raises and cite the petition",
        ));
    }
    let mut pictures = Vec::new();
    let signoffs = signoffs(record, ctx, &mut pictures, attachments);
    let mut materials = Vec::new();
    let mut shown_photos = Vec::new();
    for (i, attachment) in record.attachments.iter().enumerate() {
        let n = i + 1;
        let caption = if attachment.caption.trim().is_empty() {
            format!("附件 {n}")
        } else {
            attachment.caption.trim().to_owned()
        };
        materials.push(Material {
            n,
            caption: caption.clone(),
            mime: attachment.mime.clone(),
            size: size_text(attachment.size),
            sha256: attachment.sha256.clone(),
        });
        if let Some(file) = photos::prepare(attachment, attachments, &mut pictures, photos::Use::Photo) {
            shown_photos.push(Photo { n, caption, file });
        }
    }
    let sources = record
        .sources
        .iter()
        .map(|citation| match sources.iter().find(|s| s.id == citation.record) {
            Some(source) => SourceLine {
                kind: source.kind.zh().to_owned(),
                title: source.title_or_placeholder().to_owned(),
                number: ctx.number(source.id),
            },
            None => SourceLine {
                kind: "引用记录".into(),
                title: "（本机未同步该记录）".into(),
                number: citation.record.to_string(),
            },
        })
        .collect();
    let status = if record.review.status == ReviewStatus::Draft {
        "草稿（未提交）".to_owned()
    } else {
        record.review.status.zh().to_owned()
    };
    let conclusion_note = record
        .review
        .steps
        .iter()
        .rev()
        .find(|s| s.conclusion.is_some() && !s.void)
        .map(|s| format!("（{}，{}）", step_label(s.capacity, s.to), (ctx.names)(&s.by)))
        .unwrap_or_default();
    let data = DraftData {
        doc_title: "问题底稿",
        mark: ctx.mark.to_owned(),
        name: record.title_or_placeholder().to_owned(),
        number: ctx.number(record.id),
        date: ctx.date(),
        unit: place(record),
        round: text(record, Field::Round),
        team: text(record, Field::Team),
        kind: record.kind.zh().to_owned(),
        status,
        issues: record.issues.iter().map(|i| i.zh()).collect::<Vec<_>>().join("、"),
        sources,
        summary: record.narrative.trim().to_owned(),
        facts: facts(record),
        tables: tables(record),
        conclusion: record.review.conclusion.map(Conclusion::zh).unwrap_or("尚未作出").to_owned(),
        conclusion_note,
        materials,
        signoffs,
        photos: shown_photos,
        record_id: record.id.to_string(),
        heads: heads_text(heads),
    };
    render(fonts, "draft.typ", &data, pictures, &ident(record, heads), ctx)
}

fn render<T: Serialize>(
    fonts: &Fonts,
    template: &'static str,
    data: &T,
    pictures: Vec<Picture>,
    ident: &str,
    ctx: &Context<'_>,
) -> Result<Paper, ReportError> {
    let data = serde_json::to_value(data)
        .map_err(|e| ReportError::Template { template: template.to_owned(), message: e.to_string() })?;
    let files = pictures.into_iter().map(|p| (p.path, p.bytes)).collect();
    let (bytes, pages) = typeset::pdf(fonts, Job { template, data, files, ident, today: ctx.today })?;
    Ok(Paper { bytes, pages })
}

// ---------------------------------------------------------------------------------------
// 谈话记录

#[derive(Serialize)]
struct TalkData {
    doc_title: &'static str,
    mark: String,
    number: String,
    date: String,
    time: String,
    place: String,
    interviewers: String,
    recorder: String,
    interviewee: String,
    post: String,
    unit: String,
    team: String,
    round: String,
    turns: Vec<Turn>,
    problems: String,
    narrative: String,
    signature: Option<String>,
    record_id: String,
    heads: String,
}

#[derive(Serialize)]
struct Turn {
    question: String,
    answer: String,
}

/// 谈话记录 of a talk record: the person talked with signs every page (their signature,
/// when given on the tablet, is printed there).
pub fn talk(
    fonts: &Fonts,
    record: &Record,
    heads: &[String],
    attachments: &Attachments,
    ctx: &Context<'_>,
) -> Result<Paper, ReportError> {
    if record.kind != RecordKind::Talk {
        return Err(not_applicable("只有谈话记录能按谈话笔录排版", "only a talk record is laid out as a 谈话记录"));
    }
    let mut pictures = Vec::new();
    let signature = record
        .signatures
        .iter()
        .rev()
        .find(|s| s.role == SignerRole::Interviewee && !s.void)
        .and_then(|s| photos::prepare(&s.image, attachments, &mut pictures, photos::Use::Signature));
    let turns = record
        .items(ItemList::Turns)
        .iter()
        .map(|t| Turn {
            question: t.text(ItemField::Question).unwrap_or_default().trim().to_owned(),
            answer: t.text(ItemField::Answer).unwrap_or_default().trim().to_owned(),
        })
        .collect();
    let date = record.text(Field::TalkDate).map(chinese_day).unwrap_or_default();
    let data = TalkData {
        doc_title: "谈话记录",
        mark: ctx.mark.to_owned(),
        number: ctx.number(record.id),
        date,
        time: text(record, Field::TalkTime),
        place: text(record, Field::TalkPlace),
        interviewers: text(record, Field::Interviewers),
        recorder: text(record, Field::Recorder),
        interviewee: text(record, Field::Interviewee),
        post: text(record, Field::IntervieweePost),
        unit: text(record, Field::IntervieweeUnit),
        team: text(record, Field::Team),
        round: text(record, Field::Round),
        turns,
        problems: text(record, Field::ProblemsRaised),
        narrative: record.narrative.trim().to_owned(),
        signature,
        record_id: record.id.to_string(),
        heads: heads_text(heads),
    };
    render(fonts, "talk.typ", &data, pictures, &ident(record, heads), ctx)
}

// ---------------------------------------------------------------------------------------
// 入户核查表

#[derive(Serialize)]
struct HouseholdData {
    doc_title: &'static str,
    mark: String,
    number: String,
    fund: String,
    fund_type: String,
    township: String,
    village: String,
    team: String,
    blank: bool,
    date: String,
    rows: Vec<HouseholdRow>,
    total_entitled: String,
    total_received: String,
    total_difference: String,
    record_id: String,
    heads: String,
}

#[derive(Serialize)]
struct HouseholdRow {
    n: usize,
    head: String,
    entitled: String,
    received: String,
    difference: String,
    verified: String,
    remark: String,
    signature: Option<String>,
}

/// A household to print on a blank 入户核查表: from the record, or from the village's
/// roster (花名册) when the record lists none yet.
#[derive(Debug, Clone)]
pub struct RosterLine {
    pub head: String,
    pub entitled: Yuan,
}

fn sum(amounts: impl Iterator<Item = Yuan>) -> Yuan {
    amounts.fold(Yuan::ZERO, |total, a| total.checked_add(a).unwrap_or(total))
}

/// 入户核查表 of a fund check: filled from the record, or `blank` for the visit (names and
/// entitled amounts pre-filled: the record's households, else `roster`).
pub fn household(
    fonts: &Fonts,
    record: &Record,
    heads: &[String],
    roster: &[RosterLine],
    blank: bool,
    attachments: &Attachments,
    ctx: &Context<'_>,
) -> Result<Paper, ReportError> {
    if record.kind != RecordKind::FundCheck {
        return Err(not_applicable(
            "入户核查表只用于扶贫资金检查记录",
            "a household check sheet (入户核查表) is made only for a fund check record",
        ));
    }
    let items = record.items(ItemList::Beneficiaries);
    let mut pictures = Vec::new();
    let rows: Vec<HouseholdRow> = if blank && items.is_empty() {
        roster
            .iter()
            .enumerate()
            .map(|(i, line)| HouseholdRow {
                n: i + 1,
                head: line.head.clone(),
                entitled: line.entitled.grouped(),
                received: String::new(),
                difference: String::new(),
                verified: String::new(),
                remark: String::new(),
                signature: None,
            })
            .collect()
    } else {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let head = item.text(ItemField::Head).unwrap_or_default().trim().to_owned();
                let entitled = item.money(ItemField::Entitled);
                let received = item.money(ItemField::Received);
                let signature = (!blank)
                    .then(|| {
                        record
                            .signatures
                            .iter()
                            .rev()
                            .find(|s| s.role == SignerRole::Household && s.signer.trim() == head && !s.void)
                    })
                    .flatten()
                    .and_then(|s| photos::prepare(&s.image, attachments, &mut pictures, photos::Use::Signature));
                let difference = match (entitled, received) {
                    (Some(e), Some(r)) => Some(Yuan::from_fen(e.fen() - r.fen())),
                    _ => None,
                };
                HouseholdRow {
                    n: i + 1,
                    head,
                    entitled: entitled.map(Yuan::grouped).unwrap_or_default(),
                    received: if blank { String::new() } else { received.map(Yuan::grouped).unwrap_or_default() },
                    difference: if blank { String::new() } else { difference.map(Yuan::grouped).unwrap_or_default() },
                    verified: if blank {
                        String::new()
                    } else if item.flag(ItemField::Verified) {
                        "是".into()
                    } else {
                        "否".into()
                    },
                    remark: if blank {
                        String::new()
                    } else {
                        item.text(ItemField::Remark).unwrap_or_default().trim().to_owned()
                    },
                    signature,
                }
            })
            .collect()
    };
    let (total_entitled, total_received) = if blank && items.is_empty() {
        (sum(roster.iter().map(|l| l.entitled)), Yuan::ZERO)
    } else {
        (
            sum(items.iter().filter_map(|i| i.money(ItemField::Entitled))),
            sum(items.iter().filter_map(|i| i.money(ItemField::Received))),
        )
    };
    let data = HouseholdData {
        doc_title: "入户核查表",
        mark: ctx.mark.to_owned(),
        number: ctx.number(record.id),
        fund: text(record, Field::FundName),
        fund_type: record.fields.get(&Field::FundType).map(|v| shown(Field::FundType.ty(), v)).unwrap_or_default(),
        township: record.division(Field::Township).map(|d| d.name.clone()).unwrap_or_default(),
        village: record.division(Field::Village).map(|d| d.name.clone()).unwrap_or_default(),
        team: text(record, Field::Team),
        blank,
        date: ctx.date(),
        rows,
        total_entitled: total_entitled.grouped(),
        total_received: if blank { String::new() } else { total_received.grouped() },
        total_difference: if blank {
            String::new()
        } else {
            Yuan::from_fen(total_entitled.fen() - total_received.fen()).grouped()
        },
        record_id: if blank { String::new() } else { record.id.to_string() },
        heads: heads_text(heads),
    };
    render(fonts, "household.typ", &data, pictures, &ident(record, heads), ctx)
}

// ---------------------------------------------------------------------------------------
// 问题清单 and 整改台账

#[derive(Serialize)]
struct ProblemsData {
    doc_title: &'static str,
    mark: String,
    scope: String,
    date: String,
    rows: Vec<ProblemRow>,
}

#[derive(Serialize)]
struct ProblemRow {
    n: usize,
    number: String,
    title: String,
    kind: String,
    unit: String,
    source: String,
    conclusion: String,
    status: String,
    destination: String,
}

/// Where a problem went: the hand-over, the rectification, or why it was closed.
fn destination(record: &Record, ctx: &Context<'_>) -> String {
    match record.review.status {
        ReviewStatus::HandedOver => record
            .review
            .steps
            .iter()
            .rev()
            .find_map(|s| s.handover.as_ref())
            .map(|h| {
                let unit = if h.unit.trim().is_empty() { h.to.zh().to_owned() } else { h.unit.trim().to_owned() };
                format!("移交{unit}（{}，{}）", h.number.trim(), chinese_day(&h.date))
            })
            .unwrap_or_else(|| "已移交".into()),
        ReviewStatus::Rectifying | ReviewStatus::Rectified => match &record.rectification {
            Some(r) => {
                let overdue = record.review.status == ReviewStatus::Rectifying
                    && r.deadline
                        .as_deref()
                        .and_then(|d| workflow::days_between(&ctx.today_text(), d))
                        .is_some_and(|d| d < 0);
                format!(
                    "{}：{}{}",
                    if record.review.status == ReviewStatus::Rectified { "已销号" } else { "整改中" },
                    r.unit.trim(),
                    if overdue { "（逾期）" } else { "" }
                )
            }
            None => record.review.status.zh().to_owned(),
        },
        ReviewStatus::Closed => {
            let note = record.review.last_step().map(|s| s.note.trim().to_owned()).unwrap_or_default();
            if note.is_empty() { "予以了结".into() } else { format!("予以了结：{note}") }
        }
        _ => String::new(),
    }
}

fn source_text(record: &Record, all: &[&Record], ctx: &Context<'_>) -> String {
    if record.sources.is_empty() {
        return match record.fields.get(&Field::ClueSource) {
            Some(v) => shown(Field::ClueSource.ty(), v),
            None => "巡察发现".into(),
        };
    }
    record
        .sources
        .iter()
        .map(|c| match all.iter().find(|r| r.id == c.record) {
            Some(source) => format!("{} {}", source.kind.zh(), ctx.number(source.id)),
            None => c.record.to_string(),
        })
        .collect::<Vec<_>>()
        .join("；")
}

/// 问题清单 of `records` (the problems of a round, filtered by the caller), in 编号 order.
/// `all` are the records they may cite; `scope` says which round and filter.
pub fn problems(
    fonts: &Fonts,
    records: &[&Record],
    all: &[&Record],
    scope: &str,
    ctx: &Context<'_>,
) -> Result<Paper, ReportError> {
    let mut problems: Vec<&Record> = records.iter().copied().filter(|r| workflow::is_problem(r.kind)).collect();
    problems.sort_by_key(|r| (ctx.number(r.id), r.id));
    let rows = problems
        .iter()
        .enumerate()
        .map(|(i, r)| ProblemRow {
            n: i + 1,
            number: ctx.number(r.id),
            title: r.title_or_placeholder().to_owned(),
            kind: r.kind.zh().to_owned(),
            unit: place(r),
            source: source_text(r, all, ctx),
            conclusion: r.review.conclusion.map(Conclusion::zh).unwrap_or("—").to_owned(),
            status: r.review.status.zh().to_owned(),
            destination: destination(r, ctx),
        })
        .collect();
    let data = ProblemsData {
        doc_title: "巡察发现问题清单",
        mark: ctx.mark.to_owned(),
        scope: scope.to_owned(),
        date: ctx.date(),
        rows,
    };
    render(fonts, "problems.typ", &data, Vec::new(), &format!("xuncha:problems:{scope}"), ctx)
}

#[derive(Serialize)]
struct LedgerData {
    doc_title: &'static str,
    mark: String,
    scope: String,
    date: String,
    rows: Vec<LedgerRow>,
    closed: usize,
    overdue: usize,
}

#[derive(Serialize)]
struct LedgerRow {
    n: usize,
    number: String,
    title: String,
    unit: String,
    owner: String,
    measures: String,
    deadline: String,
    overdue: bool,
    progress: String,
    state: String,
}

/// 整改台账 of `records`: every problem with a rectification entry, overdue ones marked.
pub fn rectification(fonts: &Fonts, records: &[&Record], scope: &str, ctx: &Context<'_>) -> Result<Paper, ReportError> {
    let mut entries: Vec<&Record> = records.iter().copied().filter(|r| r.rectification.is_some()).collect();
    entries.sort_by_key(|r| (ctx.number(r.id), r.id));
    let today = ctx.today_text();
    let rows: Vec<LedgerRow> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let entry = r.rectification.as_ref()?;
            let done = r.review.status == ReviewStatus::Rectified;
            let overdue = !done
                && entry.deadline.as_deref().and_then(|d| workflow::days_between(&today, d)).is_some_and(|d| d < 0);
            let progress = entry
                .progress
                .last()
                .map(|p| format!("{}（{}，共 {} 次报告）", p.text.trim(), time(p.at_ms), entry.progress.len()))
                .unwrap_or_else(|| "尚无进展报告".into());
            let state = if done {
                "已销号".to_owned()
            } else {
                entry.kind.map_or_else(|| "整改中".to_owned(), |k| format!("整改中（{}）", k.zh()))
            };
            Some(LedgerRow {
                n: i + 1,
                number: ctx.number(r.id),
                title: r.title_or_placeholder().to_owned(),
                unit: entry.unit.trim().to_owned(),
                owner: entry.owner.trim().to_owned(),
                measures: entry.measures.trim().to_owned(),
                deadline: entry.deadline.as_deref().map(chinese_day).unwrap_or_else(|| "—".into()),
                overdue,
                progress,
                state,
            })
        })
        .collect();
    let data = LedgerData {
        doc_title: "巡察整改台账",
        mark: ctx.mark.to_owned(),
        scope: scope.to_owned(),
        date: ctx.date(),
        closed: entries.iter().filter(|r| r.review.status == ReviewStatus::Rectified).count(),
        overdue: rows.iter().filter(|r| r.overdue).count(),
        rows,
    };
    render(fonts, "rectification.typ", &data, Vec::new(), &format!("xuncha:rectification:{scope}"), ctx)
}

// ---------------------------------------------------------------------------------------
// 情况统计表

/// The figures of a round summary, grouped as the dashboard shows them.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub sections: Vec<Section>,
}

/// One group of figures: a title and labelled values.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub title: String,
    pub rows: Vec<SummaryRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    pub label: String,
    pub value: String,
}

impl Section {
    pub fn new(title: impl Into<String>, rows: impl IntoIterator<Item = (String, String)>) -> Section {
        Section {
            title: title.into(),
            rows: rows.into_iter().map(|(label, value)| SummaryRow { label, value }).collect(),
        }
    }
}

#[derive(Serialize)]
struct SummaryData<'a> {
    doc_title: &'static str,
    mark: String,
    scope: String,
    date: String,
    sections: &'a [Section],
}

/// The round's 情况统计表: one page of the dashboard's figures.
pub fn summary(fonts: &Fonts, figures: &Summary, scope: &str, ctx: &Context<'_>) -> Result<Paper, ReportError> {
    let data = SummaryData {
        doc_title: "巡察工作情况统计表",
        mark: ctx.mark.to_owned(),
        scope: scope.to_owned(),
        date: ctx.date(),
        sections: &figures.sections,
    };
    render(fonts, "summary.typ", &data, Vec::new(), &format!("xuncha:summary:{scope}"), ctx)
}
