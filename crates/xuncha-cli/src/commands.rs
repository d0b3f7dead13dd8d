//! What each subcommand does, on top of the store and the domain.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use xuncha_domain::workflow::{self, Standing};
use xuncha_domain::{
    ActorId, DeviceId, Division, Edit, Field, FieldPath, FundIssue, InformantField, ItemField, ItemId, ItemList,
    NewRecord, RecordId, RecordKind, ReviewStatus, UserId,
};
use xuncha_domain::{Conclusion, Handover, HandoverTo, SignerRole};
use xuncha_store::{Identity, KdfParams, ListFilter, NewAttachment, Store};

use crate::args::{EditArgs, InitArgs, ListArgs, NewArgs, RecordCommand, TransitionArgs};
use crate::{entropy, now_ms, show};

/// Input that cannot be used as given (exit status 6).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// A workflow step the user may not take (exit status 9); the message says who may.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotAllowed(pub String);

/// A command given wrongly, like an unknown state (exit status 2, as clap's usage errors).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// `xuncha verify` (or `admin verify`, `evidence verify`) found problems (exit status 5).
#[derive(Debug, thiserror::Error)]
pub enum VerifyFailed {
    #[error("校验发现 {0} 个问题 / verification found {0} problem(s); see above")]
    Problems(usize),
    #[error("{0}")]
    Because(String),
}

impl VerifyFailed {
    /// Verification failed for the reason given.
    pub fn because(problem: String) -> VerifyFailed {
        VerifyFailed::Because(problem)
    }
}

fn bad(message: impl Into<String>) -> anyhow::Error {
    BadInput(message.into()).into()
}

/// Creates the device database with a new identity.
pub fn init(db: &Path, pin: &str, args: &InitArgs, kdf: KdfParams) -> Result<Store> {
    let mut actor = [0u8; 16];
    getrandom::fill(&mut actor).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let device = match &args.device {
        Some(device) => device.clone(),
        None => format!("dev-{}", RecordId::new(now_ms(), &entropy()?)),
    };
    let identity = Identity {
        device_id: DeviceId::new(device)?,
        user_id: UserId::new(args.user.clone())?,
        user_name: args.name.clone(),
        actor: ActorId::from(actor),
    };
    Ok(Store::create(db, pin, &identity, kdf)?)
}

pub fn parse_id(text: &str) -> Result<RecordId> {
    Ok(text.parse::<RecordId>()?)
}

fn split_kv(text: &str) -> Result<(&str, &str)> {
    text.split_once('=')
        .or_else(|| text.split_once('＝'))
        .ok_or_else(|| bad(format!("“{text}” 应写成 字段=值 / {text:?} must be FIELD=VALUE")))
}

fn parse_kind(text: &str) -> Result<RecordKind> {
    RecordKind::parse(text).ok_or_else(|| {
        xuncha_domain::DomainError::UnknownKind { input: text.to_owned(), expected: RecordKind::codes() }.into()
    })
}

fn parse_status(text: &str) -> Result<ReviewStatus> {
    ReviewStatus::parse(text).ok_or_else(|| {
        Usage(format!("未知的状态 “{text}”，可选：{} / unknown state {text:?}", ReviewStatus::codes())).into()
    })
}

/// The user's standing toward the record: their role (from enrollment) and their place in
/// the record's team. `None` on a device enrolled with no server (a local trial), where
/// no server enforces the workflow and each step is taken in the capacity it names.
fn standing_of(store: &Store, record: &xuncha_domain::Record) -> Result<Option<Standing>> {
    let Some(role) = store.sync_value("role")? else { return Ok(None) };
    Ok(Some(xuncha_app::reference::standing(store, xuncha_app::records::reader(&role), record)?))
}

/// The edit that takes record `id` to `to`, if this user may (else [`NotAllowed`]).
pub fn transition_edit(
    store: &Store,
    id: RecordId,
    to: ReviewStatus,
    note: &str,
    conclusion: Option<Conclusion>,
    handover: Option<Handover>,
) -> Result<Edit> {
    let record = store.record(id)?.read();
    let refused = |refusal: xuncha_domain::rules::Refusal| -> anyhow::Error {
        if matches!(refusal.code, xuncha_domain::ErrorCode::TransitionRole | xuncha_domain::ErrorCode::Transition) {
            NotAllowed(refusal.to_string()).into()
        } else {
            BadInput(refusal.to_string()).into()
        }
    };
    match standing_of(store, &record)? {
        Some(standing) => workflow::transition(standing, &record, to, note, conclusion, handover).map_err(refused),
        None => {
            let rule = workflow::rule_for(record.kind, record.review.status, to).ok_or_else(|| {
                refused(
                    workflow::permit(
                        Standing::of_role(xuncha_domain::Reader::Supervisor),
                        record.kind,
                        record.review.status,
                        to,
                        &workflow::Asked::default(),
                        None,
                    )
                    .expect_err("no rule"),
                )
            })?;
            let asked = workflow::Asked { note, conclusion, handover: handover.as_ref() };
            workflow::check_step(
                record.kind,
                record.review.status,
                to,
                rule.who.first,
                &asked,
                record.review.conclusion,
            )
            .map_err(refused)?;
            Ok(Edit::Transition { to, capacity: rule.who.first, note: note.trim().to_owned(), conclusion, handover })
        }
    }
}

/// `record transition`: one workflow step.
fn transition(store: &mut Store, args: &TransitionArgs, json: bool) -> Result<()> {
    let id = parse_id(&args.id)?;
    let to = parse_status(&args.to)?;
    let conclusion = match &args.conclusion {
        Some(text) => Some(Conclusion::parse(text).ok_or_else(|| {
            bad(format!("未知的核实结论 “{text}”，可选：{} / unknown conclusion", Conclusion::codes()))
        })?),
        None => None,
    };
    let handover = match &args.handover_to {
        Some(text) => Some(Handover {
            to: HandoverTo::parse(text).ok_or_else(|| {
                bad(format!("未知的移交对象 “{text}”，可选：{} / unknown hand-over destination", HandoverTo::codes()))
            })?,
            unit: args.handover_unit.clone(),
            number: args.handover_no.clone().unwrap_or_default(),
            date: args.handover_date.clone().unwrap_or_default(),
        }),
        None if args.handover_no.is_some() || args.handover_date.is_some() => {
            bail!(bad("--handover-no 和 --handover-date 需要 --handover-to / they need --handover-to"))
        }
        None => None,
    };
    let edit = transition_edit(store, id, to, &args.note, conclusion, handover)?;
    store.edit(id, &[edit], now_ms())?;
    let record = store.record(id)?.read();
    if json {
        return show::json(&serde_json::json!({
            "id": id.to_string(),
            "status": record.review.status,
            "label": record.review.status.zh(),
            "step": record.review.steps.last(),
            "conclusion": record.review.conclusion,
        }));
    }
    println!("已转为“{}” / now {}", record.review.status.zh(), record.review.status.en());
    Ok(())
}

/// `record transitions`: what may follow, who may take it, and whether this user may.
fn transitions(store: &Store, id: RecordId, json: bool) -> Result<()> {
    let record = store.record(id)?.read();
    let standing = standing_of(store, &record)?;
    let steps = workflow::next_steps(
        standing.unwrap_or(Standing::of_role(xuncha_domain::Reader::Administrator)),
        record.kind,
        record.review.status,
    );
    let steps: Vec<_> =
        steps.into_iter().map(|s| workflow::NextStep { allowed: s.allowed || standing.is_none(), ..s }).collect();
    if json {
        return show::json(&serde_json::json!({
            "id": id.to_string(),
            "status": record.review.status,
            "label": record.review.status.zh(),
            "next": steps.iter().map(|s| serde_json::json!({
                "to": s.to,
                "label": s.to.zh(),
                "who": s.who.zh(),
                "who_en": s.who.en(),
                "allowed": s.allowed,
                "needs_note": s.needs_note,
                "needs_conclusion": s.needs_conclusion,
                "needs_handover": s.needs_handover,
            })).collect::<Vec<_>>(),
        }));
    }
    println!("当前状态 now: {} ({})", record.review.status.zh(), record.review.status.code());
    if steps.is_empty() {
        println!("  此后没有下一步 / nothing follows");
    }
    for step in &steps {
        let mut needs = Vec::new();
        if step.needs_note {
            needs.push("须写理由 --note");
        }
        if step.needs_conclusion {
            needs.push("须给核实结论 --conclusion");
        }
        if step.needs_handover {
            needs.push("须写移交对象、文号、日期 --handover-to/--handover-no/--handover-date");
        }
        println!(
            "  → {} ({})  由{}办理{}{}",
            step.to.zh(),
            step.to.code(),
            step.who.zh(),
            if step.allowed { "  ✓ 您可办理 / you may" } else { "" },
            if needs.is_empty() { String::new() } else { format!("  [{}]", needs.join("; ")) }
        );
    }
    Ok(())
}

fn parse_division(text: &str) -> Result<Division> {
    Division::parse(text)
        .ok_or_else(|| bad(format!("“{text}” 应写成 区划代码:名称 / must be CODE:NAME, e.g. 330199101000:东岭镇")))
}

fn set_edit(text: &str) -> Result<Edit> {
    let (key, value) = split_kv(text)?;
    let field = Field::parse(key)?;
    Ok(Edit::Set { field, value: Some(field.parse_value(value)?) })
}

fn item_values(list: ItemList, text: &str) -> Result<Vec<(ItemField, xuncha_domain::Value)>> {
    let mut values = Vec::new();
    for pair in text.split([',', '，']).filter(|p| !p.trim().is_empty()) {
        let (key, value) = split_kv(pair)?;
        let field = ItemField::parse_in(list, key)?;
        values.push((field, field.ty().parse(field.key(), value)?));
    }
    Ok(values)
}

/// Finds which list an item belongs to, by looking at the record.
fn item_list(store: &Store, id: RecordId, item: ItemId) -> Result<ItemList> {
    let record = store.record(id)?.read();
    for (list, items) in &record.lists {
        if items.iter().any(|i| i.id == item) {
            return Ok(*list);
        }
    }
    Err(xuncha_domain::DomainError::ItemNotFound { item: item.to_string() }.into())
}

fn edits_from_args(store: &mut Store, id: RecordId, args: &EditArgs) -> Result<Vec<Edit>> {
    let mut edits = Vec::new();
    for text in &args.set {
        edits.push(set_edit(text)?);
    }
    for key in &args.clear {
        edits.push(Edit::Set { field: Field::parse(key)?, value: None });
    }
    if let Some(text) = &args.narrative {
        edits.push(Edit::Narrative { text: text.clone() });
    }
    for name in &args.add_household_from_roster {
        edits.push(crate::reference::household_from_roster(store, id, name)?);
    }
    for pair in args.add_item.chunks(2) {
        let list = ItemList::parse(&pair[0])?;
        let mut values = item_values(list, &pair[1])?;
        if list == ItemList::Relations {
            // 人员甲/人员乙 name subjects of the record (by name, or by item id).
            let record = store.record(id)?.read();
            for (field, value) in &mut values {
                if let (ItemField::From | ItemField::To, xuncha_domain::Value::Text(who)) = (*field, &*value) {
                    *value = xuncha_domain::Value::Text(record.subject_id(who)?.to_string());
                }
            }
        }
        edits.push(Edit::InsertItem { list, id: ItemId::new(now_ms(), &entropy()?), values });
    }
    for pair in args.update_item.chunks(2) {
        let item: ItemId = pair[0].parse()?;
        let list = item_list(store, id, item)?;
        let (key, value) = split_kv(&pair[1])?;
        let field = ItemField::parse_in(list, key)?;
        let value = if value.is_empty() { None } else { Some(field.ty().parse(field.key(), value)?) };
        edits.push(Edit::UpdateItem { id: item, field, value });
    }
    for pair in args.remove_item.chunks(2) {
        edits.push(Edit::RemoveItem { list: ItemList::parse(&pair[0])?, id: pair[1].parse()? });
    }
    edits.extend(args.tag.iter().map(|tag| Edit::AddTag { tag: tag.clone() }));
    edits.extend(args.untag.iter().map(|tag| Edit::RemoveTag { tag: tag.clone() }));
    for (texts, present) in [(&args.issue, true), (&args.no_issue, false)] {
        for text in texts {
            let issue = FundIssue::parse(text).ok_or_else(|| {
                bad(format!("未知的问题类型 “{text}”，可选：{} / unknown issue type", FundIssue::codes()))
            })?;
            edits.push(Edit::SetIssue { issue, present });
        }
    }
    if let Some(text) = &args.comment {
        edits.push(Edit::AddComment { id: ItemId::new(now_ms(), &entropy()?), text: text.clone() });
    }
    if let Some(status) = &args.status {
        edits.push(transition_edit(store, id, parse_status(status)?, &args.note, None, None)?);
    }
    if edits.is_empty() && args.attach.is_empty() {
        bail!(bad(
            "没有要修改的内容：请给出 --set、--narrative 等 / nothing to change: give --set, --narrative, ... (see --help)"
        ));
    }
    Ok(edits)
}

/// A file to attach, read from `path` and prepared as the app prepares a chosen photo: a
/// large JPEG or PNG stored at 2,560 px on the long side, upright, with the time and place
/// its EXIF block says it was taken (`xuncha_app::photos`); anything else as it is.
pub fn attachment_file(path: &Path, caption: String) -> Result<NewAttachment> {
    let bytes = std::fs::read(path).with_context(|| format!("无法读取附件 / cannot read {}", path.display()))?;
    let prepared = xuncha_app::photos::prepare(bytes, mime_of(path), xuncha_app::photos::PhotoSettings::default())
        .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
    Ok(NewAttachment {
        bytes: prepared.bytes,
        mime: prepared.mime,
        caption,
        taken_at_ms: prepared.taken_at_ms,
        gps: prepared.gps,
    })
}

pub fn mime_of(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("heic") => "image/heic",
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    }
}

fn new_record(store: &mut Store, args: &NewArgs, json: bool) -> Result<()> {
    let now = now_ms();
    let township = args.township.as_deref().map(parse_division).transpose()?;
    let placement = crate::reference::place(store, township, args.village.as_deref(), &args.round, &args.team)?;
    let new = NewRecord {
        id: RecordId::new(now, &entropy()?),
        kind: parse_kind(&args.kind)?,
        title: args.title.clone(),
        round: placement.round,
        township: placement.township,
        village: placement.village,
        team: placement.team,
    };
    let edits = args.set.iter().map(|s| set_edit(s)).collect::<Result<Vec<_>>>()?;
    let id = store.create_record(&new, &edits, now)?;
    if json {
        println!("{}", serde_json::json!({ "id": id.to_string() }));
    } else {
        println!("{id}");
    }
    Ok(())
}

fn list(store: &Store, args: &ListArgs, json: bool) -> Result<()> {
    let filter = ListFilter {
        kind: args.kind.as_deref().map(parse_kind).transpose()?,
        status: args.status.as_deref().map(parse_status).transpose()?,
        township_code: args.township.clone(),
        village_code: args.village.clone(),
        round: args.round.clone(),
        conflicts_only: args.conflicts,
        text: None,
        limit: args.limit,
        offset: args.offset,
        ..ListFilter::default()
    };
    show::rows(&store.list(&filter)?, json)
}

/// Applies JSON lines of edits, one change per line, acknowledging each once committed.
fn apply_lines(store: &mut Store, id: RecordId, input: &str) -> Result<()> {
    let reader: Box<dyn BufRead> = if input == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(std::fs::File::open(input).with_context(|| format!("cannot open {input}"))?))
    };
    let stdout = std::io::stdout();
    for (n, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let edits: Vec<Edit> = match serde_json::from_str::<Vec<Edit>>(&line) {
            Ok(edits) => edits,
            Err(_) => vec![serde_json::from_str::<Edit>(&line).map_err(|e| {
                bad(format!("第 {} 行不是有效的修改 / line {} is not a valid edit: {e}", n + 1, n + 1))
            })?],
        };
        store.edit(id, &edits, now_ms())?;
        let mut out = stdout.lock();
        writeln!(out, "committed {}", n + 1)?;
        out.flush()?;
    }
    Ok(())
}

/// Runs a `record` subcommand.
pub fn record(store: &mut Store, command: &RecordCommand, json: bool) -> Result<()> {
    match command {
        RecordCommand::New(args) => new_record(store, args, json),
        RecordCommand::List(args) => list(store, args, json),
        RecordCommand::Show { id } => {
            let id = parse_id(id)?;
            let mut doc = store.record(id)?;
            let informant = store.informant(id)?;
            let number = store.record_number(id)?;
            show::record(&mut doc, number.as_deref(), informant.as_ref(), json)
        }
        RecordCommand::Edit(args) => {
            let id = parse_id(&args.id)?;
            let edits = edits_from_args(store, id, args)?;
            let mut files = Vec::new();
            for path in &args.attach {
                files.push(attachment_file(path, args.caption.clone())?);
            }
            let change = store.edit_with_attachments(id, &edits, &files, now_ms())?;
            if json {
                println!("{}", serde_json::json!({ "id": id.to_string(), "change": change.map(|c| c.to_string()) }));
                return Ok(());
            }
            match change {
                Some(change) => println!("已保存 / saved: change {change}"),
                None => println!("没有变化 / nothing changed"),
            }
            Ok(())
        }
        RecordCommand::Apply { id, input } => apply_lines(store, parse_id(id)?, input),
        RecordCommand::Transition(args) => transition(store, args, json),
        RecordCommand::Transitions { id } => transitions(store, parse_id(id)?, json),
        RecordCommand::Sign { id, role, image, signer, strokes } => {
            let id = parse_id(id)?;
            let role = SignerRole::parse(role).ok_or_else(|| {
                Usage(format!("未知的签字身份 “{role}”，可选：{} / unknown role", SignerRole::codes()))
            })?;
            let signer = match signer.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(name) => name.to_owned(),
                None if matches!(role, SignerRole::Interviewee | SignerRole::Household) => {
                    bail!(bad(
                        "被谈话人或农户签字须写明 --signer 姓名 / give --signer NAME for a 被谈话人 or a household"
                    ))
                }
                None => store.identity().user_name.clone(),
            };
            let bytes =
                std::fs::read(image).with_context(|| format!("无法读取签字图片 / cannot read {}", image.display()))?;
            let mime = mime_of(image);
            if !mime.starts_with("image/") {
                bail!(bad(format!(
                    "签字须为 PNG 或 JPEG 图片 / the signature must be a PNG or JPEG picture: {}",
                    image.display()
                )));
            }
            let strokes = match strokes {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("无法读取笔迹 / cannot read {}", path.display()))?,
                None => String::new(),
            };
            let file = NewAttachment {
                bytes,
                mime: mime.to_owned(),
                caption: format!("{}签字", role.zh()),
                taken_at_ms: None,
                gps: None,
            };
            let edit =
                Edit::Sign { id: ItemId::new(now_ms(), &entropy()?), role, signer, image: file.reference(), strokes };
            if let Some(user_role) = store.sync_value("role")? {
                xuncha_app::records::check_allowed(store, id, std::slice::from_ref(&edit), &user_role, now_ms())
                    .map_err(|error| match error {
                        xuncha_app::AppError::Forbidden(refusal) => {
                            anyhow::Error::from(NotAllowed(refusal.to_string()))
                        }
                        other => anyhow::Error::from(other),
                    })?;
            }
            let change = store.edit_with_files(id, &[edit], &[file], now_ms())?;
            let record = store.record(id)?.read();
            let signature = record.signatures.last();
            if json {
                return show::json(&serde_json::json!({
                    "id": id.to_string(), "change": change.map(|c| c.to_string()), "signature": signature,
                }));
            }
            if let Some(s) = signature {
                println!("已签字 / signed: {}（{}）, 对应版本 covers {}", s.signer, s.role.zh(), s.heads.join(","));
            }
            Ok(())
        }
        RecordCommand::Cite { id, source, remove } => {
            let id = parse_id(id)?;
            let source = parse_id(source)?;
            store.record(source).map_err(|_| {
                BadInput(format!(
                    "本设备上没有记录 {source} / no record {source} on this device: sync first, or check the id"
                ))
            })?;
            let edit = if *remove { Edit::Uncite { source } } else { Edit::Cite { source } };
            let change = store.edit(id, &[edit], now_ms())?;
            if json {
                return show::json(&serde_json::json!({
                    "id": id.to_string(), "source": source.to_string(), "cited": !remove,
                    "change": change.map(|c| c.to_string()),
                }));
            }
            println!("{} / {}", if *remove { "已取消引用" } else { "已引用" }, source);
            Ok(())
        }
        RecordCommand::Withdraw { id } => {
            let id = parse_id(id)?;
            let change = store.edit(id, &[Edit::Withdraw], now_ms())?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "id": id.to_string(), "withdrawn": true, "change": change.map(|c| c.to_string()) })
                );
            } else {
                println!("草稿已撤回 / the draft was withdrawn: {id}");
            }
            Ok(())
        }
        RecordCommand::History { id, field } => {
            let mut doc = store.record(parse_id(id)?)?;
            match field {
                None => show::history(&doc.history(), &show::Names::of(store)?, json),
                Some(path) => {
                    let path = FieldPath::parse(path)
                        .ok_or_else(|| bad(format!("未知的字段路径 “{path}” / unknown field path {path:?}; e.g. allocated, narrative, beneficiaries/<item>/received")))?;
                    show::field_history(&path, &doc.field_history(&path), &show::Names::of(store)?, json)
                }
            }
        }
        RecordCommand::Conflicts { id } => {
            let mut doc = store.record(parse_id(id)?)?;
            show::conflicts(&doc.conflicts(), &show::Names::of(store)?, json)
        }
        RecordCommand::Informant { id, set } => {
            let id = parse_id(id)?;
            let mut fields = Vec::new();
            for text in set {
                let (key, value) = split_kv(text)?;
                fields.push((InformantField::parse(key)?, (!value.is_empty()).then_some(value)));
            }
            if !fields.is_empty() {
                store.set_informant(id, &fields, now_ms())?;
            }
            let informant = store.informant(id)?.unwrap_or_default();
            if json {
                println!("{}", serde_json::to_string_pretty(&informant)?);
            } else {
                let shown = |field: InformantField| {
                    if informant.sealed.contains(&field) {
                        "〔已加密：由其他设备填写，本设备无权查看 / sealed: written on another device, not readable here〕"
                            .to_owned()
                    } else {
                        informant.get(field).to_owned()
                    }
                };
                println!(
                    "举报人 informant: {}\n联系方式 contact: {}\n备注 note: {}",
                    shown(InformantField::Name),
                    shown(InformantField::Contact),
                    shown(InformantField::Note)
                );
            }
            Ok(())
        }
    }
}

/// Verifies the database, with a progress bar; fails (status 5) on any problem.
pub fn verify(store: &Store, json: bool) -> Result<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("校验 verify {bar:40} {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let report = store.verify(|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "文档 documents: {}  记录 records: {}  附件 attachments: {}",
            report.documents, report.records, report.attachments
        );
        for problem in &report.problems {
            println!("✗ {problem}");
        }
        if report.is_ok() {
            println!("✓ 数据库完好 / the database is sound");
        }
    }
    if !report.is_ok() {
        return Err(VerifyFailed::Problems(report.problems.len()).into());
    }
    Ok(())
}
