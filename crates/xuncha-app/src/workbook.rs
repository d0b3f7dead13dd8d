//! Workbooks of records for the office upward: the records, each of their lists, the
//! sign-offs, the rectification ledger and the sources cited, as typed tables (amounts
//! numbers, dates dates), written as one XLSX or as a zip of UTF-8 CSV files. Pure: records
//! in, bytes out.

use std::io::{Cursor, Write};

use rust_xlsxwriter::{Color, DocProperties, ExcelDateTime, Format, FormatBorder, Workbook, Worksheet};
use xuncha_domain::workflow::{date_of_ms, day_number};
use xuncha_domain::{
    Field, FieldType, ItemField, ItemList, Mu, Record, RecordId, RecordKind, ReviewStatus, Value, Yuan, is_date,
};

use crate::export::ExportError;

/// The sheet of records, one row each.
pub const RECORDS: &str = "记录";
/// The sheet of workflow steps and signatures.
pub const SIGN_OFFS: &str = "审核签批";
/// The sheet of the rectification ledger.
pub const LEDGER: &str = "整改台账";
/// The sheet of the sources records cite.
pub const SOURCES: &str = "问题来源";

/// The number a record without one is shown with (a record outside the numbered set).
pub const UNNUMBERED: &str = "未编号";

/// Excel holds at most this many UTF-16 units in a cell; longer text is cut (the JSON
/// export keeps it whole).
const EXCEL_CELL_UNITS: usize = 32_767;
const CUT_MARK: &str = "…（已截断，全文见 JSON 导出）";

/// One typed cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Money(Yuan),
    Area(Mu),
    /// A count (items, progress entries).
    Count(u64),
    /// A calendar date, `YYYY-MM-DD`.
    Date(String),
    /// A moment, milliseconds since the Unix epoch, shown in China Standard Time.
    Time(i64),
    /// Yes or no, shown 是 / 否.
    Flag(bool),
}

impl Cell {
    fn text(text: impl Into<String>) -> Cell {
        let text = text.into();
        if text.is_empty() { Cell::Empty } else { Cell::Text(text) }
    }

    fn date(date: &str) -> Cell {
        let date = date.trim();
        if date.is_empty() {
            Cell::Empty
        } else if is_date(date) {
            Cell::Date(date.to_owned())
        } else {
            Cell::Text(date.to_owned())
        }
    }

    fn time(ms: i64) -> Cell {
        if ms > 0 { Cell::Time(ms) } else { Cell::Empty }
    }

    fn count(n: usize) -> Cell {
        Cell::Count(u64::try_from(n).unwrap_or(u64::MAX))
    }

    /// The cell of a field's value (a choice by its Chinese label, a place by its name).
    fn of_value(value: Option<&Value>, ty: FieldType) -> Cell {
        match value {
            None => Cell::Empty,
            Some(Value::Text(text)) => Cell::text(text.clone()),
            Some(Value::Date(date)) => Cell::date(date),
            Some(Value::Choice(code)) => match ty {
                FieldType::Choice(vocabulary) => Cell::text(vocabulary.zh(code)),
                _ => Cell::text(code.clone()),
            },
            Some(Value::Money(yuan)) => Cell::Money(*yuan),
            Some(Value::Area(mu)) => Cell::Area(*mu),
            Some(Value::Flag(flag)) => Cell::Flag(*flag),
            Some(Value::Division(division)) => Cell::text(division.name.clone()),
            Some(Value::Gps(point)) => Cell::Text(point.to_string()),
        }
    }

    /// The cell as CSV text: amounts and areas as plain decimals, times to the minute.
    pub fn csv_text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(text) => guard_formula(text),
            Cell::Money(yuan) => yuan.to_string(),
            Cell::Area(mu) => mu.to_string(),
            Cell::Count(n) => n.to_string(),
            Cell::Date(date) => date.clone(),
            Cell::Time(ms) => crate::export::time(*ms),
            Cell::Flag(flag) => if *flag { "是" } else { "否" }.to_owned(),
        }
    }

    /// How wide the cell shows, in columns of a Latin digit (a Chinese character takes two).
    fn width(&self) -> usize {
        match self {
            Cell::Empty => 0,
            Cell::Text(text) => display_width(text),
            Cell::Money(yuan) => yuan.grouped().len(),
            Cell::Area(mu) => mu.to_string().len() + 1,
            Cell::Count(n) => n.to_string().len(),
            Cell::Date(_) => 10,
            Cell::Time(_) => 16,
            Cell::Flag(_) => 2,
        }
    }
}

/// A spreadsheet program reads a CSV cell that starts with `=`, `+`, `-` or `@` as a
/// formula: such text is written with a leading apostrophe, as spreadsheets themselves do.
fn guard_formula(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() }
}

/// Columns a text takes on screen: CJK and other wide characters count two.
pub fn display_width(text: &str) -> usize {
    text.chars().map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 }).sum()
}

/// One sheet (or CSV file): its name, headers and rows of typed cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: &'static str,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    fn new(name: &'static str, headers: Vec<String>) -> Table {
        Table { name, headers, rows: Vec::new() }
    }

    /// The column whose header is `header`.
    pub fn column(&self, header: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == header)
    }
}

/// The record fields that get their own column in the records sheet (the place, round
/// and team come first under their own headers).
fn field_columns() -> Vec<(Field, String)> {
    let leading = [Field::Title, Field::Round, Field::Team, Field::Township, Field::Village];
    let fields: Vec<Field> = Field::ALL.iter().copied().filter(|f| !leading.contains(f)).collect();
    fields
        .iter()
        .map(|field| {
            // Two kinds label a field alike (职务): name the kind so each header is unique.
            let shared = fields.iter().filter(|f| f.zh() == field.zh()).count() > 1;
            let header = match field.kinds() {
                xuncha_domain::Kinds::Only(kind) if shared => format!("{}（{}）", field.zh(), kind.zh()),
                _ => field.zh().to_owned(),
            };
            (*field, header)
        })
        .collect()
}

fn headers(names: &[&str]) -> Vec<String> {
    names.iter().map(|h| (*h).to_owned()).collect()
}

/// The tables of `records`, in the order given. `number` gives each record's 编号 (see
/// `xuncha_domain::numbering`), `today` (`YYYY-MM-DD`) is the day rectifications are
/// judged overdue on.
pub fn tables(records: &[Record], number: &dyn Fn(RecordId) -> Option<String>, today: &str) -> Vec<Table> {
    let number = |id: RecordId| number(id).unwrap_or_else(|| UNNUMBERED.to_owned());
    let mut out = vec![records_table(records, &number)];
    for list in ItemList::ALL {
        out.push(list_table(*list, records, &number));
    }
    out.push(sign_offs_table(records, &number));
    out.push(ledger_table(records, &number, today));
    out.push(sources_table(records, &number));
    out
}

fn records_table(records: &[Record], number: &dyn Fn(RecordId) -> String) -> Table {
    let fields = field_columns();
    let mut names = headers(&[
        "编号",
        "记录id",
        "类型",
        "标题",
        "巡察轮次",
        "巡察组",
        "乡镇",
        "乡镇代码",
        "村",
        "村代码",
        "审核状态",
        "核实结论",
        "创建时间",
        "创建人",
    ]);
    names.extend(fields.iter().map(|(_, header)| header.clone()));
    names.extend(headers(&["差额合计（元）", "问题类型", "标签", "附件数", "情况描述"]));
    let mut table = Table::new(RECORDS, names);
    for record in records {
        let division = |field| record.division(field).cloned().unwrap_or_default();
        let (township, village) = (division(Field::Township), division(Field::Village));
        let mut row = vec![
            Cell::text(number(record.id)),
            Cell::Text(record.id.to_string()),
            Cell::text(record.kind.zh()),
            Cell::text(record.text(Field::Title).unwrap_or_default()),
            Cell::text(record.text(Field::Round).unwrap_or_default()),
            Cell::text(record.text(Field::Team).unwrap_or_default()),
            Cell::text(township.name),
            Cell::text(township.code),
            Cell::text(village.name),
            Cell::text(village.code),
            Cell::text(record.review.status.zh()),
            record.review.conclusion.map_or(Cell::Empty, |c| Cell::text(c.zh())),
            Cell::time(record.created_at_ms),
            Cell::text(record.creator.clone()),
        ];
        row.extend(fields.iter().map(|(field, _)| Cell::of_value(record.fields.get(field), field.ty())));
        let shortfall = record.shortfall();
        let shortfall = if record.kind == RecordKind::FundCheck && shortfall.any_received {
            Cell::Money(shortfall.shortfall)
        } else {
            Cell::Empty
        };
        row.extend([
            shortfall,
            Cell::text(record.issues.iter().map(|i| i.zh()).collect::<Vec<_>>().join("、")),
            Cell::text(record.tags.join("、")),
            Cell::count(record.all_attachments().count()),
            Cell::text(record.narrative.clone()),
        ]);
        table.rows.push(row);
    }
    table
}

fn list_table(list: ItemList, records: &[Record], number: &dyn Fn(RecordId) -> String) -> Table {
    let fields: Vec<ItemField> = list.fields().collect();
    let mut names = headers(&["编号", "记录id", "序号"]);
    names.extend(fields.iter().map(|f| f.zh().to_owned()));
    if list == ItemList::Beneficiaries {
        names.push("差额（元）".to_owned());
    }
    names.push("条目id".to_owned());
    let mut table = Table::new(list.zh(), names);
    for record in records {
        let shortfall = record.shortfall();
        for (index, item) in record.items(list).iter().enumerate() {
            let mut row =
                vec![Cell::text(number(record.id)), Cell::Text(record.id.to_string()), Cell::count(index + 1)];
            for field in &fields {
                let cell = match field {
                    // Relations name their subjects by item id: show the subject's name.
                    ItemField::From | ItemField::To => match item.text(*field) {
                        Some(id) => Cell::text(record.subject(id).map_or(id, |s| s.subject_name())),
                        None => Cell::Empty,
                    },
                    _ => Cell::of_value(item.values.get(field), field.ty()),
                };
                row.push(cell);
            }
            if list == ItemList::Beneficiaries {
                let difference = shortfall.households.iter().find(|h| h.item == item.id).map(|h| h.difference);
                row.push(difference.map_or(Cell::Empty, Cell::Money));
            }
            row.push(Cell::Text(item.id.to_string()));
            table.rows.push(row);
        }
    }
    table
}

fn sign_offs_table(records: &[Record], number: &dyn Fn(RecordId) -> String) -> Table {
    let mut table = Table::new(
        SIGN_OFFS,
        headers(&[
            "编号",
            "记录id",
            "类别",
            "原状态",
            "新状态",
            "经办人",
            "身份",
            "签字人",
            "时间",
            "意见",
            "核实结论",
            "移交对象",
            "移交单位",
            "移交文号",
            "移交日期",
            "已作废",
        ]),
    );
    for record in records {
        let key = || [Cell::text(number(record.id)), Cell::Text(record.id.to_string())];
        let mut rows: Vec<Vec<Cell>> = Vec::new();
        if let Some(decision) = &record.review.decision {
            let mut row = key().to_vec();
            row.extend([
                Cell::text("审核决定（旧版）"),
                Cell::Empty,
                Cell::text(decision.status.zh()),
                Cell::text(decision.by.clone()),
                Cell::Empty,
                Cell::Empty,
                Cell::time(decision.at_ms),
                Cell::text(decision.note.clone()),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                Cell::Flag(decision.void),
            ]);
            rows.push(row);
        }
        for step in &record.review.steps {
            let mut row = key().to_vec();
            let handover = step.handover.as_ref();
            row.extend([
                Cell::text("流程"),
                Cell::text(step.from.zh()),
                Cell::text(step.to.zh()),
                Cell::text(step.by.clone()),
                Cell::text(step.capacity.zh()),
                Cell::Empty,
                Cell::time(step.at_ms),
                Cell::text(step.note.clone()),
                step.conclusion.map_or(Cell::Empty, |c| Cell::text(c.zh())),
                handover.map_or(Cell::Empty, |h| Cell::text(h.to.zh())),
                handover.map_or(Cell::Empty, |h| Cell::text(h.unit.clone())),
                handover.map_or(Cell::Empty, |h| Cell::text(h.number.clone())),
                handover.map_or(Cell::Empty, |h| Cell::date(&h.date)),
                Cell::Flag(step.void),
            ]);
            rows.push(row);
        }
        for signature in &record.signatures {
            let mut row = key().to_vec();
            row.extend([
                Cell::text("签字"),
                Cell::Empty,
                Cell::Empty,
                Cell::text(signature.by.clone()),
                Cell::text(signature.role.zh()),
                Cell::text(signature.signer.clone()),
                Cell::time(signature.at_ms),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                Cell::Flag(signature.void),
            ]);
            rows.push(row);
        }
        // Steps in their chain's order (never by device clocks), then signatures by time.
        table.rows.extend(rows);
    }
    table
}

fn ledger_table(records: &[Record], number: &dyn Fn(RecordId) -> String, today: &str) -> Table {
    let mut table = Table::new(
        LEDGER,
        headers(&[
            "编号",
            "记录id",
            "标题",
            "审核状态",
            "责任单位",
            "责任人",
            "整改措施",
            "整改时限",
            "整改类型",
            "进展次数",
            "最近进展",
            "最近进展时间",
            "销号时间",
            "逾期",
        ]),
    );
    for record in records {
        let Some(ledger) = &record.rectification else { continue };
        let last = ledger.progress.last();
        let status = record.review.status;
        let closed_at = (status == ReviewStatus::Rectified)
            .then(|| record.review.last_step().map(|s| s.at_ms))
            .flatten()
            .map_or(Cell::Empty, Cell::time);
        let deadline = ledger.deadline.as_deref().unwrap_or_default();
        let overdue = status == ReviewStatus::Rectifying
            && xuncha_domain::workflow::days_between(today, deadline).is_some_and(|d| d < 0);
        table.rows.push(vec![
            Cell::text(number(record.id)),
            Cell::Text(record.id.to_string()),
            Cell::text(record.title_or_placeholder()),
            Cell::text(status.zh()),
            Cell::text(ledger.unit.clone()),
            Cell::text(ledger.owner.clone()),
            Cell::text(ledger.measures.clone()),
            Cell::date(deadline),
            ledger.kind.map_or(Cell::Empty, |k| Cell::text(k.zh())),
            Cell::count(ledger.progress.len()),
            last.map_or(Cell::Empty, |p| Cell::text(p.text.clone())),
            last.map_or(Cell::Empty, |p| Cell::time(p.at_ms)),
            closed_at,
            Cell::Flag(overdue),
        ]);
    }
    table
}

fn sources_table(records: &[Record], number: &dyn Fn(RecordId) -> String) -> Table {
    let mut table = Table::new(
        SOURCES,
        headers(&["编号", "记录id", "标题", "来源编号", "来源记录id", "来源类型", "来源标题", "引用人", "引用时间"]),
    );
    for record in records {
        for citation in &record.sources {
            let source = records.iter().find(|r| r.id == citation.record);
            table.rows.push(vec![
                Cell::text(number(record.id)),
                Cell::Text(record.id.to_string()),
                Cell::text(record.title_or_placeholder()),
                Cell::text(number(citation.record)),
                Cell::Text(citation.record.to_string()),
                source.map_or(Cell::Empty, |s| Cell::text(s.kind.zh())),
                source.map_or(Cell::Empty, |s| Cell::text(s.title_or_placeholder())),
                Cell::text(citation.by.clone()),
                Cell::time(citation.at_ms),
            ]);
        }
    }
    table
}

/// An Excel date-time of a `YYYY-MM-DD` date, at `seconds` past midnight.
fn excel_datetime(date: &str, seconds: i64) -> Option<ExcelDateTime> {
    day_number(date)?;
    let (y, m, d) = (date[0..4].parse().ok()?, date[5..7].parse().ok()?, date[8..10].parse().ok()?);
    let (h, min, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    ExcelDateTime::from_ymd(y, m, d).ok()?.and_hms(u16::try_from(h).ok()?, u8::try_from(min).ok()?, s as f64).ok()
}

/// China Standard Time, UTC+8.
const CST_MS: i64 = 8 * 3_600_000;

/// An Excel date-time of a moment, in China Standard Time.
fn excel_moment(ms: i64) -> Option<ExcelDateTime> {
    let seconds = (ms + CST_MS).rem_euclid(86_400_000) / 1000;
    excel_datetime(&date_of_ms(ms), seconds)
}

/// An Excel date-time of a moment, in UTC (as a workbook's properties hold it).
fn excel_utc(ms: i64) -> Option<ExcelDateTime> {
    excel_moment(ms - CST_MS)
}

/// Text as Excel can hold it in one cell.
fn excel_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.encode_utf16().count() <= EXCEL_CELL_UNITS {
        return text.into();
    }
    let budget = EXCEL_CELL_UNITS - CUT_MARK.encode_utf16().count();
    let mut used = 0;
    let mut cut = String::new();
    for ch in text.chars() {
        used += ch.len_utf16();
        if used > budget {
            break;
        }
        cut.push(ch);
    }
    cut.push_str(CUT_MARK);
    cut.into()
}

/// The formats of a workbook's cells.
struct Formats {
    header: Format,
    money: Format,
    area: Format,
    date: Format,
    time: Format,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            header: Format::new()
                .set_bold()
                .set_background_color(Color::RGB(0x00DD_EBF7))
                .set_border_bottom(FormatBorder::Thin),
            money: Format::new().set_num_format("#,##0.00"),
            area: Format::new().set_num_format("#,##0.00"),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            time: Format::new().set_num_format("yyyy-mm-dd hh:mm"),
        }
    }
}

fn fen_as_number(fen: i64) -> f64 {
    // Exact for every amount below 2^53 fen; Excel holds doubles.
    fen as f64 / 100.0
}

fn write_cell(sheet: &mut Worksheet, row: u32, col: u16, cell: &Cell, f: &Formats) -> Result<(), ExportError> {
    match cell {
        Cell::Empty => {}
        Cell::Text(text) => {
            sheet.write_string(row, col, excel_text(text))?;
        }
        Cell::Money(yuan) => {
            sheet.write_number_with_format(row, col, fen_as_number(yuan.fen()), &f.money)?;
        }
        Cell::Area(mu) => {
            sheet.write_number_with_format(row, col, fen_as_number(mu.hundredths()), &f.area)?;
        }
        Cell::Count(n) => {
            sheet.write_number(row, col, *n as f64)?;
        }
        Cell::Date(date) => match excel_datetime(date, 0) {
            Some(when) => {
                sheet.write_datetime_with_format(row, col, &when, &f.date)?;
            }
            None => {
                sheet.write_string(row, col, date.as_str())?;
            }
        },
        Cell::Time(ms) => match excel_moment(*ms) {
            Some(when) => {
                sheet.write_datetime_with_format(row, col, &when, &f.time)?;
            }
            None => {
                sheet.write_string(row, col, ms.to_string())?;
            }
        },
        Cell::Flag(flag) => {
            sheet.write_string(row, col, if *flag { "是" } else { "否" })?;
        }
    }
    Ok(())
}

/// The rows of an Excel sheet, its header included.
const EXCEL_ROWS: usize = 1_048_576;

/// The widest a column is made; longer text runs on into the next cell or is read in the cell.
const MAX_WIDTH: usize = 60;

/// The XLSX of `tables`: one sheet each, headers bold and frozen, a filter on the header
/// row, columns as wide as their Chinese text. Values only: no cell holds a formula.
/// `now_ms` is the workbook's creation time.
pub fn xlsx(tables: &[Table], now_ms: i64) -> Result<Vec<u8>, ExportError> {
    let mut workbook = Workbook::new();
    let mut properties = DocProperties::new().set_title("巡察通导出").set_author("巡察通 Xuncha");
    if let Some(created) = excel_utc(now_ms) {
        properties = properties.set_creation_datetime(&created);
    }
    workbook.set_properties(&properties);
    let formats = Formats::new();
    for table in tables {
        if table.rows.len() >= EXCEL_ROWS {
            return Err(ExportError::TooManyRows { sheet: table.name, rows: table.rows.len() });
        }
        let sheet = workbook.add_worksheet();
        sheet.set_name(table.name)?;
        let mut widths: Vec<usize> = table.headers.iter().map(|h| display_width(h)).collect();
        for (col, header) in table.headers.iter().enumerate() {
            sheet.write_string_with_format(0, column(col)?, header.as_str(), &formats.header)?;
        }
        for (index, cells) in table.rows.iter().enumerate() {
            let row = u32::try_from(index + 1).unwrap_or(u32::MAX);
            for (col, cell) in cells.iter().enumerate() {
                write_cell(sheet, row, column(col)?, cell, &formats)?;
                if let Some(width) = widths.get_mut(col) {
                    *width = (*width).max(cell.width().min(MAX_WIDTH));
                }
            }
        }
        for (col, width) in widths.iter().enumerate() {
            sheet.set_column_width(column(col)?, (*width).clamp(6, MAX_WIDTH) as f64 + 2.0)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        if !table.headers.is_empty() {
            let last_row = u32::try_from(table.rows.len()).unwrap_or(u32::MAX);
            sheet.autofilter(0, 0, last_row, column(table.headers.len() - 1)?)?;
        }
    }
    Ok(workbook.save_to_buffer()?)
}

fn column(index: usize) -> Result<u16, ExportError> {
    u16::try_from(index).map_err(|_| ExportError::TooManyColumns)
}

/// The CSV of one table: UTF-8 with a BOM (so spreadsheet programs read the Chinese).
pub fn csv(table: &Table) -> Result<Vec<u8>, ExportError> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut writer = csv::Writer::from_writer(&mut out);
        writer.write_record(&table.headers)?;
        for row in &table.rows {
            writer.write_record(row.iter().map(Cell::csv_text))?;
        }
        writer.flush().map_err(csv::Error::from)?;
    }
    Ok(out)
}

/// A zip of one CSV file per table (`记录.csv`, `受益农户.csv`, …), dated `now_ms`.
pub fn csv_zip(tables: &[Table], now_ms: i64) -> Result<Vec<u8>, ExportError> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = crate::archive::file_options(now_ms, true);
    for table in tables {
        zip.start_file(format!("{}.csv", table.name), options)?;
        zip.write_all(&csv(table)?).map_err(|e| ExportError::Io { path: table.name.to_owned(), source: e })?;
    }
    Ok(zip.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use xuncha_domain::workflow::Handover;
    use xuncha_domain::{
        ActorId, Capacity, Conclusion, DeviceId, Division, Edit, EditContext, HandoverTo, ItemId, LedgerChange,
        NewRecord, RecordDoc, RectifyKind, UserId,
    };

    const T0: i64 = 1_709_514_000_000; // 2024-03-04 09:00 CST

    fn ctx(now_ms: i64) -> EditContext {
        EditContext {
            author: UserId::new("zhang.wei").unwrap(),
            device: DeviceId::new("tablet-1").unwrap(),
            actor: ActorId::from([7u8; 16]),
            now_ms,
        }
    }

    fn record(kind: RecordKind, n: u8, edits: &[Edit]) -> Record {
        let new = NewRecord {
            id: RecordId::new(T0 + i64::from(n), &[n; 10]),
            kind,
            title: format!("记录{n}"),
            round: "2024年第一轮".into(),
            township: Some(Division::new("330199101000", "东岭镇")),
            village: Some(Division::new("330199101001", "上坪村")),
            team: "第一巡察组".into(),
        };
        let mut doc = RecordDoc::create(&new, &ctx(T0)).unwrap();
        for (i, edit) in edits.iter().enumerate() {
            doc.apply(std::slice::from_ref(edit), &ctx(T0 + 1000 * (i as i64 + 1))).unwrap();
        }
        doc.read()
    }

    fn item(n: u8) -> ItemId {
        ItemId::new(T0, &[n; 10])
    }

    fn money(text: &str) -> Value {
        Value::Money(text.parse().unwrap())
    }

    fn set(field: Field, value: Value) -> Edit {
        Edit::Set { field, value: Some(value) }
    }

    fn fund_check() -> Record {
        let household = |n: u8, head: &str, entitled: &str, received: &str| Edit::InsertItem {
            list: ItemList::Beneficiaries,
            id: item(n),
            values: vec![
                (ItemField::Head, Value::Text(head.into())),
                (ItemField::Entitled, money(entitled)),
                (ItemField::Received, money(received)),
                (ItemField::Verified, Value::Flag(n == 1)),
            ],
        };
        record(
            RecordKind::FundCheck,
            1,
            &[
                set(Field::Allocated, money("120000.50")),
                set(Field::FundType, Value::Choice("household_subsidy".into())),
                household(1, "王大福", "3000", "2500.25"),
                household(2, "=SUM(A1)", "1200", "1200"),
                Edit::Narrative { text: "村委会发放补贴".into() },
            ],
        )
    }

    fn gang_clue() -> Record {
        let subject = |n: u8, name: &str| Edit::InsertItem {
            list: ItemList::Subjects,
            id: item(n),
            values: vec![(ItemField::Name, Value::Text(name.into()))],
        };
        record(
            RecordKind::GangClue,
            2,
            &[
                subject(1, "张三"),
                subject(2, "李四"),
                Edit::InsertItem {
                    list: ItemList::Relations,
                    id: item(3),
                    values: vec![
                        (ItemField::From, Value::Text(item(1).to_string())),
                        (ItemField::To, Value::Text(item(2).to_string())),
                        (ItemField::RelationKind, Value::Choice("kin".into())),
                    ],
                },
            ],
        )
    }

    fn by(table: &Table, header: &str, row: usize) -> Cell {
        table.rows[row][table.column(header).unwrap_or_else(|| panic!("no column {header} in {}", table.name))].clone()
    }

    fn number(id: RecordId) -> Option<String> {
        Some(format!("N-{}", &id.to_string()[..8]))
    }

    #[test]
    fn every_list_gets_a_sheet_with_one_row_per_item_keyed_by_number_and_typed_cells() {
        let records = vec![fund_check(), gang_clue(), record(RecordKind::Talk, 3, &[])];
        let tables = tables(&records, &number, "2024-06-01");
        let names: Vec<&str> = tables.iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            ["记录", "受益农户", "涉及人员", "人员关系", "合同", "谈话内容", "审核签批", "整改台账", "问题来源"]
        );
        let sheet = |name: &str| tables.iter().find(|t| t.name == name).unwrap();
        // (sheet, rows)
        for (name, rows) in
            [("记录", 3), ("受益农户", 2), ("涉及人员", 2), ("人员关系", 1), ("合同", 0), ("谈话内容", 0)]
        {
            assert_eq!(sheet(name).rows.len(), rows, "{name}");
            assert!(sheet(name).rows.iter().all(|r| r.len() == sheet(name).headers.len()), "{name}");
        }
        let records_sheet = sheet("记录");
        // (header, row, expected cell)
        let cases = [
            ("编号", 0, Cell::Text(number(records[0].id).unwrap())),
            ("类型", 1, Cell::text("涉黑涉恶线索")),
            ("乡镇", 0, Cell::text("东岭镇")),
            ("村代码", 0, Cell::text("330199101001")),
            ("审核状态", 0, Cell::text("草稿")),
            ("拨付金额（元）", 0, Cell::Money(Yuan::from_fen(12_000_050))),
            ("拨付金额（元）", 1, Cell::Empty),
            ("资金类型", 0, Cell::text("到户补贴")),
            ("差额合计（元）", 0, Cell::Money(Yuan::from_fen(49_975))),
            ("差额合计（元）", 1, Cell::Empty),
            ("创建时间", 0, Cell::Time(T0)),
            ("情况描述", 0, Cell::text("村委会发放补贴")),
        ];
        for (header, row, expected) in cases {
            assert_eq!(by(records_sheet, header, row), expected, "{header} row {row}");
        }
        // Two kinds' 职务 each have their own column.
        assert!(
            records_sheet.column("职务（作风问题）").is_some() && records_sheet.column("职务（谈话记录）").is_some()
        );
        let households = sheet("受益农户");
        let cases = [
            ("编号", 0, Cell::Text(number(records[0].id).unwrap())),
            ("记录id", 1, Cell::Text(records[0].id.to_string())),
            ("序号", 1, Cell::Count(2)),
            ("户主", 0, Cell::text("王大福")),
            ("实领金额（元）", 0, Cell::Money(Yuan::from_fen(250_025))),
            ("已入户核实", 0, Cell::Flag(true)),
            ("已入户核实", 1, Cell::Flag(false)),
            ("差额（元）", 0, Cell::Money(Yuan::from_fen(49_975))),
            ("条目id", 0, Cell::Text(item(1).to_string())),
        ];
        for (header, row, expected) in cases {
            assert_eq!(by(households, header, row), expected, "{header} row {row}");
        }
        // Relations show the subjects' names, not their item ids.
        let relations = sheet("人员关系");
        assert_eq!(by(relations, "人员甲", 0), Cell::text("张三"));
        assert_eq!(by(relations, "人员乙", 0), Cell::text("李四"));
        assert_eq!(by(relations, "关系类型", 0), Cell::text("亲属"));
    }

    #[test]
    fn steps_signatures_the_ledger_and_sources_each_get_their_rows() {
        let source = record(RecordKind::Petition, 4, &[]);
        let handover = Handover {
            to: HandoverTo::Commission,
            unit: String::new(),
            number: "清巡移〔2024〕3号".into(),
            date: "2024-05-20".into(),
        };
        let transition = |to, capacity, note: &str, conclusion| Edit::Transition {
            to,
            capacity,
            note: note.into(),
            conclusion,
            handover: None,
        };
        let ledger = |deadline: &str| Edit::Ledger {
            change: LedgerChange {
                unit: Some("上坪村委会".into()),
                owner: Some("村主任".into()),
                measures: Some("退还资金".into()),
                deadline: Some(deadline.into()),
                kind: Some(RectifyKind::Deadline),
            },
        };
        let through_office = |n: u8, last: Vec<Edit>| {
            let mut edits = vec![
                set(Field::FundName, Value::Text("到户补贴".into())),
                set(Field::FundType, Value::Choice("household_subsidy".into())),
                set(Field::Allocated, money("100")),
                set(Field::Disbursed, money("100")),
                Edit::Cite { source: source.id },
                transition(ReviewStatus::Submitted, Capacity::Handler, "", None),
                transition(ReviewStatus::DeputyReviewed, Capacity::Deputy, "", None),
                transition(ReviewStatus::LeadSigned, Capacity::Lead, "同意", None),
                transition(ReviewStatus::OfficeApproved, Capacity::Office, "", Some(Conclusion::Confirmed)),
            ];
            edits.extend(last);
            record(RecordKind::FundCheck, n, &edits)
        };
        let handed_over = through_office(
            5,
            vec![Edit::Transition {
                to: ReviewStatus::HandedOver,
                capacity: Capacity::Office,
                note: String::new(),
                conclusion: None,
                handover: Some(handover),
            }],
        );
        let late = through_office(
            6,
            vec![transition(ReviewStatus::Rectifying, Capacity::Office, "", None), ledger("2024-05-31")],
        );
        let in_time = through_office(
            7,
            vec![transition(ReviewStatus::Rectifying, Capacity::Office, "", None), ledger("2024-07-31")],
        );
        let records = vec![handed_over, late, in_time, source];
        let tables = tables(&records, &number, "2024-06-01");
        let sheet = |name: &str| tables.iter().find(|t| t.name == name).unwrap();
        let sign_offs = sheet("审核签批");
        assert_eq!(sign_offs.rows.len(), 5 + 5 + 5);
        assert_eq!(by(sign_offs, "新状态", 0), Cell::text("待审核"));
        assert_eq!(by(sign_offs, "身份", 1), Cell::text("副组长"));
        assert_eq!(by(sign_offs, "核实结论", 3), Cell::text("属实"));
        assert_eq!(by(sign_offs, "移交对象", 4), Cell::text("纪委监委"));
        assert_eq!(by(sign_offs, "移交日期", 4), Cell::Date("2024-05-20".into()));
        assert_eq!(by(sign_offs, "已作废", 4), Cell::Flag(false));
        let ledger_sheet = sheet("整改台账");
        assert_eq!(ledger_sheet.rows.len(), 2);
        // (row, overdue on 2024-06-01)
        for (row, overdue) in [(0, true), (1, false)] {
            assert_eq!(by(ledger_sheet, "逾期", row), Cell::Flag(overdue), "row {row}");
            assert_eq!(by(ledger_sheet, "整改类型", row), Cell::text("限期整改"));
            assert_eq!(by(ledger_sheet, "进展次数", row), Cell::Count(0));
        }
        let sources = sheet("问题来源");
        assert_eq!(sources.rows.len(), 3);
        assert_eq!(by(sources, "来源编号", 0), Cell::Text(number(records[3].id).unwrap()));
        assert_eq!(by(sources, "来源类型", 0), Cell::text("信访件登记"));
    }

    #[test]
    fn cells_become_csv_text_and_excel_widths_as_people_read_them() {
        // (cell, CSV text, width)
        let cases = [
            (Cell::Empty, "", 0),
            (Cell::text("上坪村"), "上坪村", 6),
            (Cell::text("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")", 15),
            (Cell::text("-5"), "'-5", 2),
            (Cell::Money(Yuan::from_fen(123_456_780)), "1234567.80", 12),
            (Cell::Money(Yuan::from_fen(-5)), "-0.05", 5),
            (Cell::Area(Mu::from_hundredths(220_000)), "2200.00", 8),
            (Cell::Count(12), "12", 2),
            (Cell::Date("2024-05-20".into()), "2024-05-20", 10),
            (Cell::Time(T0), "2024-03-04 09:00", 16),
            (Cell::Flag(true), "是", 2),
        ];
        for (cell, text, width) in cases {
            assert_eq!(cell.csv_text(), text, "{cell:?}");
            assert_eq!(cell.width(), width, "{cell:?}");
        }
        assert_eq!(Cell::date("2024-02-30"), Cell::Text("2024-02-30".into()));
        assert_eq!(Cell::date(" "), Cell::Empty);
    }

    #[test]
    fn moments_are_china_standard_time_and_long_text_is_cut_to_what_excel_holds() {
        // (ms, Excel serial date-time)
        let cases = [(T0, 45_355.375), (1_709_222_400_000 - 1, 45_351.999_988_425_9), (1_709_222_400_000, 45_352.0)];
        for (ms, serial) in cases {
            let got = excel_moment(ms).unwrap().to_excel();
            assert!((got - serial).abs() < 1e-6, "{ms}: {got} != {serial}");
        }
        assert_eq!(excel_datetime("2024-05-20", 0).unwrap().to_excel(), 45_432.0);
        assert!(excel_datetime("2024-13-01", 0).is_none());
        let long = "长".repeat(40_000);
        let cut = excel_text(&long);
        assert!(cut.encode_utf16().count() <= EXCEL_CELL_UNITS && cut.ends_with(CUT_MARK));
        assert_eq!(excel_text("短"), "短");
    }

    #[test]
    fn the_xlsx_reads_back_typed_with_frozen_headers_widths_for_chinese_and_no_formulas() {
        use calamine::{Data, Reader, Xlsx};
        let records = vec![fund_check(), gang_clue()];
        let tables = tables(&records, &number, "2024-06-01");
        let bytes = xlsx(&tables, T0).unwrap();
        let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.clone())).unwrap();
        let names: Vec<String> = tables.iter().map(|t| t.name.to_owned()).collect();
        assert_eq!(book.sheet_names(), names);
        for table in &tables {
            let range = book.worksheet_range(table.name).unwrap();
            assert_eq!(range.height(), table.rows.len() + 1, "{}", table.name);
            let formulas = book.worksheet_formula(table.name).unwrap();
            assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "{} holds a formula", table.name);
            assert!(range.used_cells().all(|(_, _, c)| !matches!(c, Data::Error(_))), "{}", table.name);
        }
        let households = book.worksheet_range("受益农户").unwrap();
        let sheet = &tables[1];
        let at = |header: &str, row: u32| households.get_value((row, sheet.column(header).unwrap() as u32)).cloned();
        // (header, row, what the reader sees)
        let cases = [
            ("户主", 0, Some(Data::String("户主".into()))),
            ("户主", 1, Some(Data::String("王大福".into()))),
            ("户主", 2, Some(Data::String("=SUM(A1)".into()))),
            ("实领金额（元）", 1, Some(Data::Float(2500.25))),
            ("差额（元）", 1, Some(Data::Float(499.75))),
            ("差额（元）", 2, Some(Data::Float(0.0))),
            ("备注", 1, Some(Data::Empty)),
            ("已入户核实", 1, Some(Data::String("是".into()))),
        ];
        for (header, row, expected) in cases {
            assert_eq!(at(header, row), expected, "{header} row {row}");
        }
        let records_sheet = book.worksheet_range("记录").unwrap();
        let created = records_sheet.get_value((1, tables[0].column("创建时间").unwrap() as u32)).unwrap();
        match created {
            Data::DateTime(when) => assert!(when.is_datetime() && (when.as_f64() - 45_355.375).abs() < 1e-6),
            other => panic!("the creation time is {other:?}, not a date"),
        }
        // Frozen header rows and widths that fit Chinese, in the sheets' XML.
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut xml = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("xl/worksheets/sheet2.xml").unwrap(), &mut xml).unwrap();
        assert!(xml.contains(r#"ySplit="1""#) && xml.contains(r#"state="frozen""#), "{xml}");
        assert!(xml.contains("<autoFilter"), "no filter on the header row");
        // 户主 holds 王大福 (6 columns) and =SUM(A1) (8): the column is at least 8 + 2 wide.
        let col = sheet.column("户主").unwrap() + 1;
        let width: f64 = xml
            .split("<col ")
            .find(|c| c.contains(&format!(r#"min="{col}""#)))
            .and_then(|c| c.split(r#"width=""#).nth(1))
            .and_then(|w| w.split('"').next())
            .and_then(|w| w.parse().ok())
            .unwrap();
        assert!((10.0..=12.0).contains(&width), "{width}");
    }

    #[test]
    fn the_csv_zip_holds_one_bom_prefixed_csv_per_table() {
        let tables = tables(&[fund_check()], &number, "2024-06-01");
        let bytes = csv_zip(&tables, T0).unwrap();
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(zip.len(), tables.len());
        let mut households = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("受益农户.csv").unwrap(), &mut households).unwrap();
        assert!(households.starts_with('\u{feff}'));
        let lines: Vec<&str> = households.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[1].contains("王大福") && lines[1].contains("2500.25") && lines[1].contains(",是,"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains("'=SUM(A1)"), "{}", lines[2]);
    }
}
