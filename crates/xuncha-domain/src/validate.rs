//! Validation of each kind of record, with messages in Chinese and English that say what
//! to fix. Validation never blocks saving a draft; submitting for review needs a clean record.

use serde::Serialize;

use crate::codes::RecordKind;
use crate::field::{Field, FieldType, ItemField, ItemList, Value, is_date};
use crate::record::{Item, Record};

/// One thing to fix in a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Problem {
    /// Where: a field key or `list/item/field`.
    pub path: String,
    /// A stable code the UI can branch on.
    pub code: &'static str,
    pub zh: String,
    pub en: String,
}

fn problem(path: impl Into<String>, code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> Problem {
    Problem { path: path.into(), code, zh: zh.into(), en: en.into() }
}

fn required(path: &str, zh_label: &str, en_label: &str) -> Problem {
    problem(path, "required", format!("请填写{zh_label}"), format!("{en_label} is required"))
}

fn is_blank(value: Option<&str>) -> bool {
    value.is_none_or(|v| v.trim().is_empty())
}

/// Every problem of `record`, in field order.
pub fn validate(record: &Record) -> Vec<Problem> {
    let mut problems = Vec::new();
    for path in &record.malformed {
        problems.push(problem(
            path.clone(),
            "malformed",
            format!("{path} 的值无法读取，请重新填写"),
            format!("the value at {path} cannot be read; enter it again"),
        ));
    }
    let mut required_fields = vec![Field::Title, Field::Round, Field::Township, Field::Village];
    required_fields.extend(match record.kind {
        RecordKind::FundCheck => vec![Field::FundName, Field::FundType, Field::Allocated],
        RecordKind::GangClue => vec![Field::ClueSource],
        RecordKind::AssetCheck => vec![],
        RecordKind::ConductIssue => vec![Field::Subject],
        RecordKind::Talk => vec![Field::Interviewee, Field::TalkDate, Field::Interviewers, Field::Recorder],
        RecordKind::Petition => vec![Field::Channel, Field::ReceivedOn, Field::MainProblems],
    });
    for field in required_fields {
        let missing = match record.fields.get(&field) {
            None => true,
            Some(Value::Text(text)) => text.trim().is_empty(),
            Some(_) => false,
        };
        if missing {
            problems.push(required(field.key(), field.zh(), field.en()));
        }
    }
    for (field, value) in &record.fields {
        check_value(field.key(), field.zh(), field.ty(), value, &mut problems);
    }
    if let (Some(township), Some(village)) = (record.division(Field::Township), record.division(Field::Village)) {
        if !township.is_township_code() {
            problems.push(problem(
                "township",
                "division_shape",
                format!("乡镇区划代码 “{}” 应为 12 位数字，以 000 结尾", township.code),
                format!("township code {:?} must be 12 digits ending in 000", township.code),
            ));
        } else if !village.has_code_shape() || village.code.ends_with("000") {
            problems.push(problem(
                "village",
                "division_shape",
                format!("村区划代码 “{}” 应为 12 位数字，且不以 000 结尾", village.code),
                format!("village code {:?} must be 12 digits not ending in 000", village.code),
            ));
        } else if !village.is_village_code_in(township) {
            problems.push(problem(
                "village",
                "village_outside_township",
                format!("村 “{}” 不属于乡镇 “{}”：村代码前 9 位应与乡镇相同", village.name, township.name),
                format!(
                    "village {} is not in township {}: the first 9 digits of the codes must match",
                    village.name, township.name
                ),
            ));
        }
    }
    if let Some(point) = record.location()
        && !point.is_plausible()
    {
        problems.push(problem("location", "gps_range", "GPS 坐标超出范围", "the GPS point is out of range"));
    }
    match record.kind {
        RecordKind::FundCheck => validate_fund_check(record, &mut problems),
        RecordKind::GangClue => validate_gang_clue(record, &mut problems),
        RecordKind::AssetCheck => validate_asset_check(record, &mut problems),
        RecordKind::ConductIssue => {
            if !record.fields.contains_key(&Field::FourWinds) && !record.fields.contains_key(&Field::Inaction) {
                problems.push(problem(
                    "four_winds",
                    "required",
                    "请选择四风类别或为官不为类型",
                    "choose a four-winds category or an inaction type",
                ));
            }
        }
        RecordKind::Talk => {
            if record.items(crate::field::ItemList::Turns).is_empty() && record.narrative.trim().is_empty() {
                problems.push(problem(
                    "turns",
                    "required",
                    "请记录谈话内容（问答或正文）",
                    "record what was said (question and answer turns, or the text)",
                ));
            }
        }
        RecordKind::Petition => {}
    }
    problems
}

fn check_value(path: &str, zh_label: &str, ty: FieldType, value: &Value, problems: &mut Vec<Problem>) {
    match (ty, value) {
        (FieldType::Money, Value::Money(yuan)) if yuan.is_negative() => problems.push(problem(
            path,
            "negative_amount",
            format!("{zh_label}不能为负数（现为 {yuan}）"),
            format!("{path} cannot be negative (it is {yuan})"),
        )),
        (FieldType::Money, Value::Money(yuan)) if yuan.fen() > crate::Yuan::MAX_FEN => problems.push(problem(
            path,
            "amount_too_large",
            format!("{zh_label}超过一万亿元，请核对"),
            format!("{path} is more than one trillion yuan; check it"),
        )),
        (FieldType::Area, Value::Area(mu)) if mu.is_negative() => problems.push(problem(
            path,
            "negative_area",
            format!("{zh_label}不能为负数（现为 {mu}）"),
            format!("{path} cannot be negative (it is {mu})"),
        )),
        (FieldType::Choice(vocabulary), Value::Choice(code)) if vocabulary.parse(code) != Some(code.as_str()) => {
            problems.push(problem(
                path,
                "unknown_code",
                format!("{zh_label}的值 “{code}” 不在可选范围内：{}", vocabulary.codes()),
                format!("{path} has the unknown value {code:?}; choose one of: {}", vocabulary.codes()),
            ));
        }
        (FieldType::Date, Value::Date(date)) if !is_date(date) => problems.push(problem(
            path,
            "date_shape",
            format!("{zh_label} “{date}” 不是有效日期（YYYY-MM-DD）"),
            format!("{path} {date:?} is not a date (YYYY-MM-DD)"),
        )),
        _ => {}
    }
}

fn item_path(list: ItemList, item: &Item, field: ItemField) -> String {
    format!("{}/{}/{}", list.key(), item.id, field.key())
}

fn check_items(record: &Record, list: ItemList, problems: &mut Vec<Problem>) {
    for item in record.items(list) {
        for (field, value) in &item.values {
            let path = item_path(list, item, *field);
            check_value(&path, field.zh(), field.ty(), value, problems);
        }
    }
}

fn validate_fund_check(record: &Record, problems: &mut Vec<Problem>) {
    if let (Some(allocated), Some(disbursed)) = (record.money(Field::Allocated), record.money(Field::Disbursed))
        && disbursed > allocated
    {
        problems.push(problem(
            "disbursed",
            "disbursed_above_allocated",
            format!("发放金额 {disbursed} 元超过拨付金额 {allocated} 元，请核对"),
            format!("disbursed {disbursed} yuan is more than allocated {allocated} yuan; check both amounts"),
        ));
    }
    let list = ItemList::Beneficiaries;
    check_items(record, list, problems);
    for item in record.items(list) {
        if is_blank(item.text(ItemField::Head)) {
            problems.push(required(&item_path(list, item, ItemField::Head), "户主姓名", "the head of household"));
        }
        if let (Some(entitled), Some(received)) = (item.money(ItemField::Entitled), item.money(ItemField::Received))
            && received > entitled
        {
            let head = item.text(ItemField::Head).unwrap_or("?");
            problems.push(problem(
                item_path(list, item, ItemField::Received),
                "received_above_entitled",
                format!("{head} 实领 {received} 元超过应享 {entitled} 元，请核对"),
                format!("{head} received {received} yuan, more than the {entitled} yuan entitled; check both"),
            ));
        }
    }
}

fn validate_gang_clue(record: &Record, problems: &mut Vec<Problem>) {
    let subjects = record.items(ItemList::Subjects);
    if subjects.is_empty() {
        problems.push(problem("subjects", "required", "请至少添加一名涉及人员", "add at least one subject"));
    }
    check_items(record, ItemList::Subjects, problems);
    check_items(record, ItemList::Relations, problems);
    for item in subjects {
        if is_blank(item.text(ItemField::Name)) {
            problems.push(required(
                &item_path(ItemList::Subjects, item, ItemField::Name),
                "人员姓名",
                "the subject's name",
            ));
        }
    }
    let names = subjects.iter().map(Item::subject_name).collect::<Vec<_>>();
    let (options_zh, options_en) = if names.is_empty() {
        ("记录中还没有涉及人员，请先添加".to_owned(), "the record has no subjects yet; add one first".to_owned())
    } else {
        (format!("可选：{}", names.join("、")), format!("one of: {}", names.join(", ")))
    };
    for item in record.items(ItemList::Relations) {
        let mut ends = Vec::new();
        for end in [ItemField::From, ItemField::To] {
            let path = item_path(ItemList::Relations, item, end);
            let (label_zh, label_en) = (end.zh(), end.en().to_lowercase());
            match item.text(end).map(str::trim).filter(|id| !id.is_empty()) {
                None => problems.push(problem(
                    path,
                    "relation_subject_missing",
                    format!("请选择关系的{label_zh}，{options_zh}"),
                    format!("choose the relation's {label_en}, {options_en}"),
                )),
                Some(id) => match record.subject(id) {
                    Some(subject) => ends.push(subject),
                    None => problems.push(problem(
                        path,
                        "relation_subject_missing",
                        format!("关系的{label_zh}（编号 {id}）已不在涉及人员中，请重新选择，{options_zh}"),
                        format!("the relation's {label_en} ({id}) is not a subject of the record; choose again, {options_en}"),
                    )),
                },
            }
        }
        if let [from, to] = ends.as_slice()
            && from.id == to.id
        {
            let name = from.subject_name();
            problems.push(problem(
                item_path(ItemList::Relations, item, ItemField::To),
                "relation_to_self",
                format!("关系的人员甲和人员乙是同一人（{name}），请另选一人"),
                format!("the relation goes from {name} to {name}; choose another subject for one end"),
            ));
        }
        if !item.values.contains_key(&ItemField::RelationKind) {
            problems.push(required(
                &item_path(ItemList::Relations, item, ItemField::RelationKind),
                "关系类型",
                "the relation kind",
            ));
        }
    }
}

fn validate_asset_check(record: &Record, problems: &mut Vec<Problem>) {
    let list = ItemList::Contracts;
    check_items(record, list, problems);
    for item in record.items(list) {
        if is_blank(item.text(ItemField::Number)) {
            problems.push(required(&item_path(list, item, ItemField::Number), "合同编号", "the contract number"));
        }
        if is_blank(item.text(ItemField::Counterparty)) {
            problems.push(required(&item_path(list, item, ItemField::Counterparty), "承包方", "the counterparty"));
        }
        if let (Some(start), Some(end)) = (item.text(ItemField::TermStart), item.text(ItemField::TermEnd))
            && is_date(start)
            && is_date(end)
            && end < start
        {
            problems.push(problem(
                item_path(list, item, ItemField::TermEnd),
                "term_order",
                format!("合同终止日期 {end} 早于起始日期 {start}"),
                format!("the contract ends ({end}) before it starts ({start})"),
            ));
        }
    }
}
