//! Printing records, lists, history, conflicts and totals for people (tables, Chinese
//! first) or for scripts (`--json`).

use anyhow::Result;
use chrono::{FixedOffset, TimeZone};
use xuncha_domain::{
    Conflict, FieldPath, FieldVersion, HistoryEntry, Informant, ItemList, Projection, RecordDoc, RecordKind,
    ReviewStatus, Value, validate,
};
use xuncha_store::Totals;

/// A time as China Standard Time, minute precision.
pub fn time(ms: i64) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("a valid offset");
    cst.timestamp_millis_opt(ms).single().map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

/// Text from outside (a device's name, say) for a terminal line: control characters are
/// shown escaped, so no name can end a line or forge the next one.
pub fn plain(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

fn yuan(fen: i64) -> String {
    xuncha_domain::Yuan::from_fen(fen).to_string()
}

pub fn json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Pads `text` to `width` terminal columns (CJK characters take two).
fn pad(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let w = if (ch as u32) >= 0x1100 { 2 } else { 1 };
        if used + w > width {
            break;
        }
        out.push(ch);
        used += w;
    }
    out.push_str(&" ".repeat(width.saturating_sub(used)));
    out
}

fn kind_zh(code: &str) -> &str {
    RecordKind::parse(code).map_or(code, |k| k.zh())
}

fn status_zh(code: &str) -> &str {
    ReviewStatus::parse(code).map_or(code, |s| s.zh())
}

/// A list of records.
pub fn rows(rows: &[Projection], as_json: bool) -> Result<()> {
    if as_json {
        return json(&rows);
    }
    if rows.is_empty() {
        println!("（没有记录 / no records）");
        return Ok(());
    }
    println!("{} {} {} {} {} 标题", pad("记录 id", 36), pad("类型", 16), pad("村", 8), pad("状态", 8), pad("更新", 16));
    for row in rows {
        let mut flags = String::new();
        if row.has_conflicts {
            flags.push_str(" ⚠冲突");
        }
        if row.problem_count > 0 {
            flags.push_str(&format!(" ({}项待补)", row.problem_count));
        }
        println!(
            "{} {} {} {} {} {}{}",
            row.record_id,
            pad(kind_zh(&row.kind), 16),
            pad(&row.village_name, 8),
            pad(status_zh(&row.status), 8),
            pad(&time(row.updated_at_ms), 16),
            row.title,
            flags
        );
    }
    Ok(())
}

/// District totals.
pub fn totals(totals: &Totals, as_json: bool) -> Result<()> {
    if as_json {
        return json(totals);
    }
    let mu = |centi: i64| xuncha_domain::Mu::from_hundredths(centi).to_string();
    println!("全区汇总 / district totals");
    println!("  记录 records ............................ {}", totals.records);
    println!(
        "    扶贫资金检查 {} · 涉黑涉恶线索 {} · 三资核查 {} · 作风问题 {}",
        totals.fund_checks, totals.gang_clues, totals.asset_checks, totals.conduct_issues
    );
    println!("  涉黑涉恶问题查处党员 party members investigated ... {}", totals.party_members);
    println!("    其中开除党籍 expelled ........................ {}", totals.party_members_expelled);
    println!("    涉及公职人员 public officials ................ {}", totals.public_officials);
    println!("  规范农村集体合同 contracts rectified ........ {} / {}", totals.contracts_rectified, totals.contracts);
    println!("  收回集体土地 land recovered (亩) ............ {}", mu(totals.land_recovered_centimu));
    println!("  增加集体收入 income recovered (元/年) ....... {}", yuan(totals.income_recovered_fen));
    println!("  扶贫资金 拨付 allocated (元) ................. {}", yuan(totals.allocated_fen));
    println!("           发放 disbursed (元) ................. {}", yuan(totals.disbursed_fen));
    println!("  入户核实 households verified ................. {} / {}", totals.households_verified, totals.households);
    println!("  有冲突待处理 records with conflicts .......... {}", totals.with_conflicts);
    let w = &totals.workflow;
    let counts = |list: &[xuncha_store::Count]| {
        list.iter().map(|c| format!("{} {}", c.label, c.count)).collect::<Vec<_>>().join(" · ")
    };
    let percent = |bp: i64| format!("{}.{:02}%", bp / 100, bp % 100);
    println!("巡察 / the round's figures (逾期 judged on {})", w.today);
    println!("  发现问题 problems found ..................... {} 个", w.problems_found);
    if !w.problems_by_kind.is_empty() {
        println!("    按类型 by kind: {}", counts(&w.problems_by_kind));
        println!("    按来源 by source: {}", counts(&w.problems_by_source));
    }
    println!("  移交问题线索 clues handed over .............. {} 件", w.handed_over);
    if !w.handed_over_by_destination.is_empty() {
        println!("    按移交对象 by destination: {}", counts(&w.handed_over_by_destination));
    }
    println!(
        "  整改 rectification: 整改中 {} · 已销号 {} · 逾期 {} (红灯 {} · 黄灯 {}) · 整改完成率 {}",
        w.rectifying,
        w.rectified,
        w.overdue,
        w.red,
        w.yellow,
        percent(w.rectification_rate_bp)
    );
    for (title, rows) in
        [("按轮次 by round", &w.by_round), ("按乡镇 by township", &w.by_township), ("按责任单位 by unit", &w.by_unit)]
    {
        if rows.is_empty() {
            continue;
        }
        let shown: Vec<String> =
            rows.iter().map(|r| format!("{} {}/{} {}", r.label, r.rectified, r.total, percent(r.rate_bp))).collect();
        println!("    {title}: {}", shown.join(" · "));
    }
    println!("  予以了结 closed {} · 审签中 in review {} · 退回补充 returned {}", w.closed, w.in_review, w.returned);
    println!("  谈话记录 talks {} · 信访件 petitions {}", w.talks, w.petitions);
    Ok(())
}

fn value_text(value: &Value) -> String {
    value.to_string()
}

/// One whole record, with its number (编号) if the server has given it one.
pub fn record(doc: &mut RecordDoc, number: Option<&str>, informant: Option<&Informant>, as_json: bool) -> Result<()> {
    let record = doc.read();
    let problems = validate(&record);
    let conflicts = doc.conflicts();
    if as_json {
        return json(&serde_json::json!({
            "record": record,
            "number": number,
            "problems": problems,
            "conflicts": conflicts,
            "informant": informant,
        }));
    }
    println!("{}  [{}] {}", record.title_or_placeholder(), record.kind.zh(), record.review.status.zh());
    match number {
        Some(number) => println!("编号 number: {number}"),
        None => println!("编号 number: 待编号（同步后由服务器编号） / none yet (the server numbers it when it syncs)"),
    }
    println!("记录 id: {}", record.id);
    println!("创建 created: {} by {}", time(record.created_at_ms), record.creator);
    for (field, value) in &record.fields {
        let text = match field.ty() {
            xuncha_domain::FieldType::Choice(vocabulary) => match value {
                Value::Choice(code) => vocabulary.zh(code),
                other => value_text(other),
            },
            _ => value_text(value),
        };
        println!("{}: {}", field.zh(), text);
    }
    if !record.issues.is_empty() {
        println!("问题类型: {}", record.issues.iter().map(|i| i.zh()).collect::<Vec<_>>().join("、"));
    }
    if !record.tags.is_empty() {
        println!("标签 tags: {}", record.tags.join("、"));
    }
    for list in ItemList::ALL {
        let items = record.items(*list);
        if items.is_empty() {
            continue;
        }
        println!("\n{}（{}）", list.zh(), items.len());
        for item in items {
            let fields: Vec<String> = item
                .values
                .iter()
                .map(|(field, value)| {
                    let text = match (field.ty(), value) {
                        (xuncha_domain::FieldType::Choice(vocabulary), Value::Choice(code)) => vocabulary.zh(code),
                        _ => value_text(value),
                    };
                    format!("{}={}", field.zh(), text)
                })
                .collect();
            println!("  {}  {}", item.id, fields.join("  "));
        }
    }
    if let Some(informant) = informant {
        println!("\n举报人（保护字段）: {} {}", informant.name, informant.contact);
    }
    if !record.attachments.is_empty() {
        println!("\n附件 attachments");
        for a in &record.attachments {
            println!("  {}  {}  {} bytes  {}", a.sha256, a.mime, a.size, a.caption);
        }
    }
    if !record.narrative.is_empty() {
        println!("\n情况描述:\n{}", record.narrative);
    }
    if !record.review.comments.is_empty() || record.review.decision.is_some() {
        println!("\n审核 review");
        for c in &record.review.comments {
            println!("  {} {}: {}", time(c.at_ms), c.author, c.text);
        }
        if let Some(d) = &record.review.decision {
            let void =
                if d.void { "（记录已修改，此决定已失效 / void: the record changed since）" } else { "" };
            println!("  决定 decision: {} by {} at {} — {}{}", d.status.zh(), d.by, time(d.at_ms), d.note, void);
        }
    }
    let older =
        |void: bool| if void { "（此后记录已修改，对应旧版本 / covers an older version）" } else { "" };
    if !record.review.steps.is_empty() {
        println!(
            "
审签流程 workflow"
        );
        for step in &record.review.steps {
            let mut extra = Vec::new();
            if let Some(c) = step.conclusion {
                extra.push(format!("核实结论 {}", c.zh()));
            }
            if let Some(h) = &step.handover {
                extra.push(format!("移交 {}{} {} {}", h.to.zh(), h.unit, h.number, h.date));
            }
            println!(
                "  {} {}（{}）{} → {} {}{}{}",
                time(step.at_ms),
                step.by,
                step.capacity.zh(),
                step.from.zh(),
                step.to.zh(),
                step.note,
                if extra.is_empty() { String::new() } else { format!(" [{}]", extra.join("; ")) },
                older(step.void)
            );
        }
    }
    if let Some(ledger) = &record.rectification {
        println!(
            "
整改台账 rectification"
        );
        println!(
            "  责任单位 {} · 责任人 {} · 时限 {} · {}",
            ledger.unit,
            ledger.owner,
            ledger.deadline.as_deref().unwrap_or("—"),
            ledger.kind.map_or("—", |k| k.zh())
        );
        println!("  措施 {}", ledger.measures);
        for p in &ledger.progress {
            println!("  {} {}: {}（佐证材料 {} 件）", time(p.at_ms), p.by, p.text, p.attachments.len());
        }
    }
    if !record.sources.is_empty() {
        println!(
            "
问题来源 sources"
        );
        for c in &record.sources {
            println!("  {}", c.record);
        }
    }
    for s in &record.signatures {
        println!("签字 signed: {}（{}）by {} at {}{}", s.signer, s.role.zh(), s.by, time(s.at_ms), older(s.void));
    }
    if !conflicts.is_empty() {
        println!("\n⚠ {} 个字段有并发修改，请运行 `xuncha record conflicts {}`", conflicts.len(), record.id);
    }
    if !problems.is_empty() {
        println!("\n待补充 / to fix before submitting:");
        for p in &problems {
            println!("  · {}: {} / {}", p.path, p.zh, p.en);
        }
    }
    Ok(())
}

/// Who user ids are, from the reference data's user directory.
#[derive(Debug, Default)]
pub struct Names(std::collections::HashMap<String, String>);

impl Names {
    /// The directory this device holds.
    pub fn of(store: &xuncha_store::Store) -> Result<Names> {
        Ok(Names(store.people()?.into_iter().map(|p| (p.id, p.name)).collect()))
    }

    /// `张伟(zhang.wei)` for a known user, the id alone otherwise.
    pub fn who(&self, id: Option<&str>) -> String {
        match id {
            Some(id) => self.0.get(id).map_or_else(|| id.to_owned(), |name| format!("{name}({id})")),
            None => "?".to_owned(),
        }
    }
}

/// A record's changes.
pub fn history(entries: &[HistoryEntry], names: &Names, as_json: bool) -> Result<()> {
    if as_json {
        return json(&entries);
    }
    for e in entries {
        println!(
            "{}  {}  {}@{}  {}  ",
            &e.change[..12.min(e.change.len())],
            e.at_ms.map(time).unwrap_or_default(),
            names.who(e.author.as_deref()),
            e.device.as_deref().unwrap_or("?"),
            e.paths.join(", ")
        );
    }
    Ok(())
}

/// One field's values over time.
pub fn field_history(path: &FieldPath, versions: &[FieldVersion], names: &Names, as_json: bool) -> Result<()> {
    if as_json {
        return json(&versions);
    }
    println!("{}（{}）", path.zh(), path);
    for v in versions {
        println!(
            "  {}  {}@{}  → {}",
            v.at_ms.map(time).unwrap_or_default(),
            names.who(v.author.as_deref()),
            v.device.as_deref().unwrap_or("?"),
            v.value.as_deref().unwrap_or("（清除）")
        );
    }
    Ok(())
}

/// The fields holding concurrent values.
pub fn conflicts(conflicts: &[Conflict], names: &Names, as_json: bool) -> Result<()> {
    if as_json {
        return json(&conflicts);
    }
    if conflicts.is_empty() {
        println!("没有冲突 / no conflicts");
        return Ok(());
    }
    for c in conflicts {
        println!("{}（{}）", c.label_zh, c.path);
        for v in &c.values {
            println!(
                "  {} {}  ← {}@{} {}",
                if v.shown { "●" } else { "○" },
                v.display,
                names.who(v.author.as_deref()),
                v.device.as_deref().unwrap_or("?"),
                v.at_ms.map(time).unwrap_or_default()
            );
        }
    }
    println!("用 `xuncha record edit <id> --set 字段=值` 选定一个值即可解决 / settle one with an edit of the field");
    Ok(())
}
