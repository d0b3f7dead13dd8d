//! Reference tables from spreadsheets (division lists, household rosters): rows of text, checked cell by cell.
//!
//! No I/O: the server reads a file into rows of text (`Vec<Vec<String>>`, row 0 is the
//! spreadsheet's row 1, column 0 its column A) and hands them to [`parse_divisions`] or
//! [`parse_roster`]. Either the whole table is accepted or the whole table is refused:
//! a [`TableError`] lists up to [`MAX_PROBLEMS`] problems (and counts the rest), each
//! naming the row and column as the person who keeps the spreadsheet sees them
//! (`第 7 行 D 列（应享金额）` / `row 7, column D (应享金额)`), what was found there and
//! what to do about it.
//!
//! Layout rules, common to both tables:
//! - The header row is the first non-blank row, among the first ten, that has a cell
//!   naming a known column (so a title row such as `2024年某某补贴花名册` above the header
//!   is passed over); when none does, the first non-blank row is taken as the header and
//!   the missing columns are reported. Rows above the header are ignored.
//! - Header cells are compared without spaces, without a leading or trailing `*`, without
//!   a trailing unit in brackets (`应享金额（元）` is `应享金额`), with full-width letters
//!   and digits read as ASCII, and ignoring ASCII case. Unknown columns (`序号`, `备注`, …)
//!   are ignored; two columns naming the same field are an error.
//! - Rows with nothing in any column the table uses (blank rows, rows of a template with
//!   only a `序号`) are skipped. Cells are trimmed.

use std::collections::HashMap;
use std::fmt;

use thiserror::Error;

use crate::field::is_date;
use crate::money::Yuan;
use crate::reference::{DivisionEntry, Level, RosterHousehold, level_of, prefix_of};

/// How many problems a [`TableError`] lists; the rest are only counted.
pub const MAX_PROBLEMS: usize = 20;

/// How many non-blank rows from the top are searched for the header row.
const HEADER_SEARCH_ROWS: usize = 10;

/// The spreadsheet letter of a column (0 → `A`, 25 → `Z`, 26 → `AA`).
pub fn column_letter(index: usize) -> String {
    let mut letters = Vec::new();
    let mut n = index + 1;
    while n > 0 {
        let rest = (n - 1) % 26;
        letters.push(char::from(b'A' + u8::try_from(rest).unwrap_or(0)));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// A cell as the spreadsheet user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellRef {
    /// The row number, counting from 1 (the spreadsheet's own numbering).
    pub row: usize,
    /// The column index, counting from 0 (column A).
    pub column: usize,
    /// The column's header as written in the file.
    pub header: String,
}

impl CellRef {
    /// The column letter (`A`, `B`, …).
    pub fn letter(&self) -> String {
        column_letter(self.column)
    }

    fn zh(&self) -> String {
        format!("第 {} 行 {} 列（{}）", self.row, self.letter(), self.header)
    }

    fn en(&self) -> String {
        format!("row {}, column {} ({})", self.row, self.letter(), self.header)
    }
}

/// What is wrong with one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CellProblem {
    /// A required cell is blank.
    Empty,
    /// Not an amount of yuan with at most two decimals.
    NotAmount,
    /// An amount below zero.
    NegativeAmount,
    /// An ID number of neither 18 nor 15 characters.
    IdLength { length: usize },
    /// An ID number with characters other than digits (and a final `X`).
    IdCharacters,
    /// An ID number Excel has turned into scientific notation (`3.30199E+17`).
    IdScientific,
    /// An ID number whose birth date does not exist.
    IdBirthDate,
    /// An ID number whose check digit (GB 11643) does not match.
    IdCheckDigit { expected: char },
    /// The same ID number (an old 15-digit number counts as its 18-digit form) in an
    /// earlier row.
    DuplicateId { first_row: usize },
    /// Not a date.
    NotDate,
    /// Not twelve digits.
    NotCode,
    /// Twelve digits, but no division has such a code (`00…`).
    NoLevel,
    /// The same division code in an earlier row.
    DuplicateCode { first_row: usize },
    /// A parent of the same or a lower level than the division itself.
    ParentNotAbove { level: Level },
    /// A division whose code does not lie inside its parent's.
    OutsideParent { code: String, prefix: String },
    /// A total row (`合计`) whose amount differs from the sum of the households above it.
    TotalMismatch { sum: Yuan },
}

fn level_en(level: Level) -> &'static str {
    match level {
        Level::Province => "province",
        Level::City => "city",
        Level::District => "district",
        Level::Township => "township",
        Level::Village => "village",
    }
}

impl CellProblem {
    fn zh(&self, found: &str) -> String {
        match self {
            CellProblem::Empty => "为空，请填写".to_owned(),
            CellProblem::NotAmount => format!("“{found}” 不是金额，请填写数字（最多两位小数），如 3000.00"),
            CellProblem::NegativeAmount => format!("“{found}” 是负数，应享金额不能为负，请改正"),
            CellProblem::IdLength { length } => {
                format!("“{found}” 有 {length} 位，身份证号应为 18 位（或旧的 15 位），请与户籍资料核对")
            }
            CellProblem::IdCharacters => {
                format!("“{found}” 含有数字以外的字符（只有第 18 位可以是 X），请改正")
            }
            CellProblem::IdScientific => {
                format!("“{found}” 是科学计数法，Excel 已丢失末尾数字；请把该列设置为文本格式，重新录入号码后再导入")
            }
            CellProblem::IdBirthDate => {
                format!("“{found}” 中的出生日期不存在，号码可能抄错，请与户籍资料核对")
            }
            CellProblem::IdCheckDigit { expected } => {
                format!("“{found}” 的校验位应为 {expected}，号码可能抄错，请与户籍资料核对")
            }
            CellProblem::DuplicateId { first_row } => {
                format!("“{found}” 与第 {first_row} 行重复，每户只能出现一次，请删除或改正其中一行")
            }
            CellProblem::NotDate => format!("“{found}” 不是日期，请写成 2024-03-05 的形式，或留空"),
            CellProblem::NotCode => {
                format!("“{found}” 不是 12 位区划代码，请填写完整的代码，如 330199101001")
            }
            CellProblem::NoLevel => format!("“{found}” 不是有效的区划代码（前两位不能是 00），请核对"),
            CellProblem::DuplicateCode { first_row } => {
                format!("“{found}” 与第 {first_row} 行重复，每个区划只能出现一次，请删除其中一行")
            }
            CellProblem::ParentNotAbove { level } => {
                format!("上级 “{found}” 的级别不高于本行的{}，请填写本区划所属的上级区划代码", level.zh())
            }
            CellProblem::OutsideParent { code, prefix } => {
                format!("本行代码 {code} 不在上级 “{found}” 之内（应以 {prefix} 开头），请核对代码或上级代码")
            }
            CellProblem::TotalMismatch { sum } => {
                format!("合计 “{found}” 与上方各户应享金额之和 {sum} 不符，请核对")
            }
        }
    }

    fn en(&self, found: &str) -> String {
        match self {
            CellProblem::Empty => "is empty; fill it in".to_owned(),
            CellProblem::NotAmount => {
                format!("\"{found}\" is not an amount; write a number (at most two decimals) such as 3000.00")
            }
            CellProblem::NegativeAmount => {
                format!("\"{found}\" is negative; an entitled amount cannot be: correct it")
            }
            CellProblem::IdLength { length } => format!(
                "\"{found}\" has {length} characters; an ID number has 18 (or the old 15): check it against the household register"
            ),
            CellProblem::IdCharacters => {
                format!("\"{found}\" has characters other than digits (only the 18th may be X); correct it")
            }
            CellProblem::IdScientific => format!(
                "\"{found}\" is in scientific notation, so Excel has lost the last digits: format the column as Text, type the numbers again and import the file again"
            ),
            CellProblem::IdBirthDate => format!(
                "the birth date in \"{found}\" does not exist; the number was probably mistyped: check it against the household register"
            ),
            CellProblem::IdCheckDigit { expected } => format!(
                "the check digit of \"{found}\" should be {expected}; a digit was probably mistyped: check it against the household register"
            ),
            CellProblem::DuplicateId { first_row } => format!(
                "\"{found}\" repeats row {first_row}; each household may appear only once: remove or correct one of the rows"
            ),
            CellProblem::NotDate => format!("\"{found}\" is not a date; write it like 2024-03-05, or leave it empty"),
            CellProblem::NotCode => {
                format!("\"{found}\" is not a 12-digit division code; write the full code, such as 330199101001")
            }
            CellProblem::NoLevel => {
                format!("\"{found}\" is not a valid division code (it cannot start with 00): check it")
            }
            CellProblem::DuplicateCode { first_row } => format!(
                "\"{found}\" repeats row {first_row}; each division may appear only once: remove one of the rows"
            ),
            CellProblem::ParentNotAbove { level } => format!(
                "the parent \"{found}\" is not of a higher level than this {}; write the code of the division it belongs to",
                level_en(*level)
            ),
            CellProblem::OutsideParent { code, prefix } => format!(
                "this row's code {code} does not lie inside the parent \"{found}\" (it should start with {prefix}): check the code or the parent code"
            ),
            CellProblem::TotalMismatch { sum } => format!(
                "the total \"{found}\" differs from the sum of the households' amounts above it, {sum}: check them"
            ),
        }
    }
}

fn cell_message(at: &CellRef, found: &str, problem: &CellProblem) -> String {
    format!("{}：{} / {}: {}", at.zh(), problem.zh(found), at.en(), problem.en(found))
}

/// One problem of a table.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TableProblem {
    #[error("表格是空的，请导入有表头和数据的文件 / the table is empty; import a file with a header row and data rows")]
    Empty,
    #[error(
        "缺少“{column}”列（第 {row} 行的表头为：{found}），请添加该列或改正表头 / the column {column} is missing (the header, row {row}, has: {found}); add the column or correct the header"
    )]
    MissingColumn {
        /// The column's name.
        column: String,
        /// The header's row number (from 1).
        row: usize,
        /// The header cells found, joined with `、`.
        found: String,
    },
    #[error(
        "第 {row} 行的 {first} 列和 {second} 列都是“{column}”，请删除或改名其中一列 / columns {first} and {second} of the header (row {row}) are both {column}; remove or rename one of them"
    )]
    DuplicateColumn { column: String, row: usize, first: String, second: String },
    #[error("{}", cell_message(.at, .found, .problem))]
    Cell {
        at: CellRef,
        /// The cell's text as found (trimmed).
        found: String,
        problem: CellProblem,
    },
    #[error(
        "表中没有{what_zh}，请确认文件选对了，数据在第一个工作表中 / the table has no {what_en}; check that this is the right file and that the data is on its first sheet"
    )]
    NoRows { what_zh: &'static str, what_en: &'static str },
}

/// Why a table was refused, whole: up to [`MAX_PROBLEMS`] problems in row order (layout
/// problems first), and how many more were found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct TableError {
    problems: Vec<TableProblem>,
    more: usize,
}

impl TableError {
    /// The problems listed (at least one).
    pub fn problems(&self) -> &[TableProblem] {
        &self.problems
    }

    /// How many further problems were found but not listed.
    pub fn more(&self) -> usize {
        self.more
    }

    /// Every problem found, listed or not.
    pub fn count(&self) -> usize {
        self.problems.len() + self.more
    }
}

impl From<TableProblem> for TableError {
    fn from(problem: TableProblem) -> TableError {
        TableError { problems: vec![problem], more: 0 }
    }
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.count();
        write!(
            f,
            "文件未导入：共 {count} 处问题，请全部改正后重新导入 / the file was not imported: {count} problem(s); fix them all and import it again"
        )?;
        for (i, problem) in self.problems.iter().enumerate() {
            write!(f, "\n  {}. {problem}", i + 1)?;
        }
        if self.more > 0 {
            write!(f, "\n  …另有 {} 处问题未列出 / … and {} more not listed", self.more, self.more)?;
        }
        Ok(())
    }
}

/// Collects problems up to [`MAX_PROBLEMS`].
#[derive(Debug, Default)]
struct Problems {
    list: Vec<TableProblem>,
    more: usize,
}

impl Problems {
    fn push(&mut self, problem: TableProblem) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(problem);
        } else {
            self.more += 1;
        }
    }

    fn cell(&mut self, at: CellRef, found: &str, problem: CellProblem) {
        self.push(TableProblem::Cell { at, found: found.to_owned(), problem });
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn finish(self) -> Result<(), TableError> {
        if self.list.is_empty() { Ok(()) } else { Err(TableError { problems: self.list, more: self.more }) }
    }
}

// ---------------------------------------------------------------------------------------
// Text helpers

/// `text` with full-width ASCII (`０-９`, `Ａ-Ｚ`, `（`, `，`, …) and the ideographic space
/// read as ASCII.
fn halfwidth(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .collect()
}

/// `text` half-width, without any whitespace.
fn compact(text: &str) -> String {
    halfwidth(text).chars().filter(|c| !c.is_whitespace()).collect()
}

/// A header cell as compared with column names.
fn header_key(text: &str) -> String {
    let mut key = compact(text).to_ascii_lowercase();
    key = key.trim_matches('*').to_owned();
    if key.ends_with(')')
        && let Some(open) = key.rfind('(')
        && open > 0
    {
        key.truncate(open);
    }
    key.trim_matches('*').to_owned()
}

fn is_blank(row: &[String]) -> bool {
    row.iter().all(|cell| cell.trim().is_empty())
}

// ---------------------------------------------------------------------------------------
// Layouts

/// The columns of a table kind.
trait ColumnSpec: Copy + Eq + 'static {
    const ALL: &'static [Self];
    fn names(self) -> &'static [&'static str];
    fn required(self) -> bool;
    fn zh(self) -> &'static str;
}

/// The columns of a household roster (花名册), as a township's 一卡通 system exports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RosterColumn {
    /// 户主 (required)
    Head,
    /// 身份证号 (required)
    IdNumber,
    /// 一卡通/社保卡账号
    Account,
    /// 应享金额 (required)
    Entitled,
    /// 发放日期
    PaidOn,
    /// 组别
    Group,
    /// 联系电话
    Phone,
}

impl ColumnSpec for RosterColumn {
    const ALL: &'static [RosterColumn] = &[
        RosterColumn::Head,
        RosterColumn::IdNumber,
        RosterColumn::Account,
        RosterColumn::Entitled,
        RosterColumn::PaidOn,
        RosterColumn::Group,
        RosterColumn::Phone,
    ];

    fn names(self) -> &'static [&'static str] {
        match self {
            RosterColumn::Head => &["户主", "户主姓名", "head"],
            RosterColumn::IdNumber => &["身份证号", "身份证号码", "户主身份证号", "公民身份号码", "id_number"],
            RosterColumn::Account => {
                &["一卡通/社保卡账号", "一卡通(社保卡)账号", "一卡通账号", "社保卡账号", "账号", "account"]
            }
            RosterColumn::Entitled => &["应享金额", "应享受金额", "entitled"],
            RosterColumn::PaidOn => &["发放日期", "发放时间", "paid_on"],
            RosterColumn::Group => &["组别", "村民小组", "group"],
            RosterColumn::Phone => &["联系电话", "电话", "手机号", "手机号码", "phone"],
        }
    }

    fn required(self) -> bool {
        matches!(self, RosterColumn::Head | RosterColumn::IdNumber | RosterColumn::Entitled)
    }

    fn zh(self) -> &'static str {
        self.names()[0]
    }
}

impl RosterColumn {
    /// The column's name as exports usually write it.
    pub fn name(self) -> &'static str {
        ColumnSpec::zh(self)
    }
}

/// The columns of a division table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DivisionColumn {
    /// `code` / 区划代码
    Code,
    /// `name` / 名称
    Name,
    /// `parent_code` / 上级代码 (cells may be empty)
    Parent,
}

impl ColumnSpec for DivisionColumn {
    const ALL: &'static [DivisionColumn] = &[DivisionColumn::Code, DivisionColumn::Name, DivisionColumn::Parent];

    fn names(self) -> &'static [&'static str] {
        match self {
            DivisionColumn::Code => &["code", "区划代码", "统计用区划代码", "行政区划代码"],
            DivisionColumn::Name => &["name", "名称", "区划名称"],
            DivisionColumn::Parent => &["parent_code", "parent", "上级代码", "上级区划代码"],
        }
    }

    fn required(self) -> bool {
        true
    }

    fn zh(self) -> &'static str {
        match self {
            DivisionColumn::Code => "区划代码 code",
            DivisionColumn::Name => "名称 name",
            DivisionColumn::Parent => "上级代码 parent_code",
        }
    }
}

impl DivisionColumn {
    /// The column's name, in Chinese and English.
    pub fn name(self) -> &'static str {
        ColumnSpec::zh(self)
    }
}

/// Where a table's header is and which columns hold what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout<C> {
    /// The header's index in the rows (its row number minus one).
    pub header_row: usize,
    /// Each known column found: which it is, its index, its header as written.
    pub columns: Vec<(C, usize, String)>,
}

impl<C: Copy + Eq> Layout<C> {
    /// The index of a column, if the table has it.
    pub fn column(&self, which: C) -> Option<usize> {
        self.columns.iter().find(|(c, _, _)| *c == which).map(|(_, index, _)| *index)
    }

    /// Whether `row` has nothing in any column the table uses.
    pub fn is_empty_row(&self, row: &[String]) -> bool {
        self.columns.iter().all(|(_, index, _)| row.get(*index).is_none_or(|cell| cell.trim().is_empty()))
    }

    /// The cell of `which` in `row` (trimmed; empty when the column or the cell is absent).
    fn text<'a>(&self, row: &'a [String], which: C) -> &'a str {
        self.column(which).and_then(|index| row.get(index)).map_or("", |cell| cell.trim())
    }

    /// The reference of the cell of `which` in the row at `index`.
    fn at(&self, index: usize, which: C) -> CellRef {
        let (column, header) = self
            .columns
            .iter()
            .find(|(c, _, _)| *c == which)
            .map_or((0, String::new()), |(_, column, header)| (*column, header.clone()));
        CellRef { row: index + 1, column, header }
    }
}

fn matches_column<C: ColumnSpec>(cell: &str) -> Option<C> {
    let key = header_key(cell);
    if key.is_empty() {
        return None;
    }
    C::ALL.iter().copied().find(|c| c.names().iter().any(|name| header_key(name) == key))
}

fn layout<C: ColumnSpec>(rows: &[Vec<String>]) -> Result<Layout<C>, TableError> {
    let non_blank: Vec<usize> = (0..rows.len()).filter(|&i| !is_blank(&rows[i])).take(HEADER_SEARCH_ROWS).collect();
    let Some(&first) = non_blank.first() else {
        return Err(TableProblem::Empty.into());
    };
    let header_row = non_blank
        .iter()
        .copied()
        .find(|&i| rows[i].iter().any(|cell| matches_column::<C>(cell).is_some()))
        .unwrap_or(first);
    let header = &rows[header_row];
    let mut problems = Problems::default();
    let mut columns: Vec<(C, usize, String)> = Vec::new();
    for (index, cell) in header.iter().enumerate() {
        let Some(which) = matches_column::<C>(cell) else { continue };
        if let Some((_, earlier, _)) = columns.iter().find(|(c, _, _)| *c == which) {
            problems.push(TableProblem::DuplicateColumn {
                column: which.zh().to_owned(),
                row: header_row + 1,
                first: column_letter(*earlier),
                second: column_letter(index),
            });
            continue;
        }
        columns.push((which, index, cell.trim().to_owned()));
    }
    let found: Vec<&str> = header.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
    for which in C::ALL.iter().copied().filter(|c| c.required()) {
        if !columns.iter().any(|(c, _, _)| *c == which) {
            problems.push(TableProblem::MissingColumn {
                column: which.zh().to_owned(),
                row: header_row + 1,
                found: if found.is_empty() { "（无）".to_owned() } else { found.join("、") },
            });
        }
    }
    problems.finish()?;
    Ok(Layout { header_row, columns })
}

/// Finds a roster's header row and columns; refuses a table without 户主, 身份证号 or
/// 应享金额.
pub fn roster_layout(rows: &[Vec<String>]) -> Result<Layout<RosterColumn>, TableError> {
    layout(rows)
}

/// Finds a division table's header row and columns; refuses a table without `code`,
/// `name` or `parent_code`.
pub fn division_layout(rows: &[Vec<String>]) -> Result<Layout<DivisionColumn>, TableError> {
    layout(rows)
}

// ---------------------------------------------------------------------------------------
// Values

/// Checks a resident ID number (居民身份证号码, GB 11643): 18 characters, 17 digits and a
/// digit or `X`, a birth date that exists and the ISO 7064 MOD 11-2 check digit; or an old
/// 15-digit number with a birth date that exists. Spaces and full-width characters are
/// dropped or read as ASCII, `x` as `X`. Returns the number as written (so cleaned) and
/// its 18-digit form (an old number gains `19` and its check digit), by which duplicates
/// are found.
pub fn check_id_number(text: &str) -> Result<(String, String), CellProblem> {
    let id = compact(text).to_ascii_uppercase();
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if id.contains('E') && id.contains('+') {
        return Err(CellProblem::IdScientific);
    }
    if !id.is_ascii() {
        return Err(CellProblem::IdCharacters);
    }
    let length = id.len();
    match length {
        18 => {
            if !digits(&id[..17]) || !(digits(&id[17..]) || &id[17..] == "X") {
                return Err(CellProblem::IdCharacters);
            }
            if !is_date(&format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14])) {
                return Err(CellProblem::IdBirthDate);
            }
            let expected = id_check_digit(&id[..17]);
            if !id.ends_with(expected) {
                return Err(CellProblem::IdCheckDigit { expected });
            }
            Ok((id.clone(), id))
        }
        15 if digits(&id) => {
            if !is_date(&format!("19{}-{}-{}", &id[6..8], &id[8..10], &id[10..12])) {
                return Err(CellProblem::IdBirthDate);
            }
            let body = format!("{}19{}", &id[..6], &id[6..]);
            let long = format!("{body}{}", id_check_digit(&body));
            Ok((id, long))
        }
        _ if id.chars().all(|c| c.is_ascii_digit() || c == 'X') => Err(CellProblem::IdLength { length }),
        _ => Err(CellProblem::IdCharacters),
    }
}

/// The check digit of the first 17 digits of an ID number (ISO 7064 MOD 11-2).
fn id_check_digit(body: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const DIGITS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    let sum: u32 = body.chars().zip(WEIGHTS).map(|(c, w)| c.to_digit(10).unwrap_or(0) * w).sum();
    DIGITS[(sum % 11) as usize]
}

/// Reads an amount of yuan as offices write it: `3000`, `3000.5`, `3,000.00`, `3000元`,
/// `¥3,000.00`, full-width digits; at most two decimals, never rounded. Words (`三千`)
/// and negative amounts are refused.
pub fn parse_amount(text: &str) -> Result<Yuan, CellProblem> {
    let cleaned = compact(text);
    let cleaned = cleaned.trim_start_matches(['¥', '￥']);
    let amount: Yuan = cleaned.parse().map_err(|_| CellProblem::NotAmount)?;
    if amount.is_negative() {
        return Err(CellProblem::NegativeAmount);
    }
    Ok(amount)
}

/// Reads a date as `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD`, `YYYY年M月D日` or `YYYYMMDD`
/// (months and days may have one digit; a time of day after the date is dropped) and
/// writes it as `YYYY-MM-DD`. `None` when it is not a date that exists.
pub fn parse_date(text: &str) -> Option<String> {
    let text = halfwidth(text);
    let text = text.trim();
    // A time of day after the date ("2024-03-05 00:00:00", "2024-03-05T08:30").
    let date = match text.split_once([' ', 'T']) {
        Some((date, time))
            if !time.trim().is_empty() && time.trim().chars().all(|c| c.is_ascii_digit() || c == ':' || c == '.') =>
        {
            date
        }
        _ => text,
    };
    let parts: Vec<&str> = if let Some(rest) = date.strip_suffix('日') {
        rest.split(['年', '月']).collect()
    } else if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) {
        vec![&date[..4], &date[4..6], &date[6..]]
    } else {
        date.split(['-', '/', '.']).collect()
    };
    let [year, month, day] = parts.as_slice() else { return None };
    let number = |s: &str, max_len: usize| {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    if year.len() != 4 {
        return None;
    }
    let (year, month, day) = (number(year, 4)?, number(month, 2)?, number(day, 2)?);
    let normal = format!("{year:04}-{month:02}-{day:02}");
    is_date(&normal).then_some(normal)
}

// ---------------------------------------------------------------------------------------
// Tables

/// Parses a division table: columns `code`, `name`, `parent_code` (or 区划代码, 名称,
/// 上级代码). Every code is twelve digits of a division of some level (`level_of`), and
/// appears once; every name is filled in; a parent is empty (the top of the table) or
/// the code of a division of a higher level whose prefix the code starts with. A parent
/// need not be in the same table (it may already be on the server); the server checks
/// that when it stores the table.
pub fn parse_divisions(rows: &[Vec<String>]) -> Result<Vec<DivisionEntry>, TableError> {
    let layout = division_layout(rows)?;
    let mut problems = Problems::default();
    let mut entries = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, row) in rows.iter().enumerate().skip(layout.header_row + 1) {
        if layout.is_empty_row(row) {
            continue;
        }
        let raw_code = layout.text(row, DivisionColumn::Code);
        let name = layout.text(row, DivisionColumn::Name);
        let raw_parent = layout.text(row, DivisionColumn::Parent);
        let code = compact(raw_code);
        let parent = compact(raw_parent);
        let code_at = layout.at(index, DivisionColumn::Code);
        let level = if code.is_empty() {
            problems.cell(code_at, raw_code, CellProblem::Empty);
            None
        } else if !(code.len() == 12 && code.bytes().all(|b| b.is_ascii_digit())) {
            problems.cell(code_at, raw_code, CellProblem::NotCode);
            None
        } else if let Some(level) = level_of(&code) {
            if let Some(&first_row) = seen.get(&code) {
                problems.cell(code_at, raw_code, CellProblem::DuplicateCode { first_row });
            } else {
                seen.insert(code.clone(), index + 1);
            }
            Some(level)
        } else {
            problems.cell(code_at, raw_code, CellProblem::NoLevel);
            None
        };
        if name.is_empty() {
            problems.cell(layout.at(index, DivisionColumn::Name), name, CellProblem::Empty);
        }
        if !parent.is_empty() {
            let parent_at = layout.at(index, DivisionColumn::Parent);
            if !(parent.len() == 12 && parent.bytes().all(|b| b.is_ascii_digit())) {
                problems.cell(parent_at, raw_parent, CellProblem::NotCode);
            } else if let (Some(parent_level), Some(prefix)) = (level_of(&parent), prefix_of(&parent)) {
                if let Some(level) = level {
                    if parent_level >= level {
                        problems.cell(parent_at, raw_parent, CellProblem::ParentNotAbove { level });
                    } else if !code.starts_with(prefix) {
                        let problem = CellProblem::OutsideParent { code: code.clone(), prefix: prefix.to_owned() };
                        problems.cell(parent_at, raw_parent, problem);
                    }
                }
            } else {
                problems.cell(parent_at, raw_parent, CellProblem::NoLevel);
            }
        }
        entries.push(DivisionEntry { code, name: name.to_owned(), parent });
    }
    if problems.is_empty() && entries.is_empty() {
        problems.push(TableProblem::NoRows { what_zh: "区划", what_en: "divisions" });
    }
    problems.finish()?;
    Ok(entries)
}

/// Whether a row without an ID number is a total row: its first filled cell starts with
/// 合计 or 总计.
fn is_total_row(row: &[String]) -> bool {
    row.iter()
        .map(|cell| compact(cell))
        .find(|cell| !cell.is_empty())
        .is_some_and(|first| first.starts_with("合计") || first.starts_with("总计"))
}

/// Parses a household roster (花名册) as a township's 一卡通 system exports it: columns
/// 户主, 身份证号 and 应享金额 (required), 一卡通/社保卡账号 (or 一卡通账号, 社保卡账号,
/// 账号), 发放日期, 组别 and 联系电话 (optional); 序号 and other columns are ignored.
///
/// - 户主 is filled in.
/// - 身份证号 passes [`check_id_number`] and appears once (an old 15-digit number and its
///   18-digit form are the same person); it is kept in full, as written: masking is for
///   what a tablet receives ([`RosterHousehold::masked`]), not for what the server keeps.
/// - 应享金额 passes [`parse_amount`] (exact fen; `三千` is an error).
/// - 发放日期 is empty or passes [`parse_date`] and is stored as `YYYY-MM-DD`.
/// - Account and phone numbers lose their spaces; 组别 is kept as written.
/// - A row without an ID number whose first filled cell starts with 合计 or 总计 is a
///   total row, not a household: when its 应享金额 is filled in it must equal the sum of
///   the households above it. Below a total row, rows with neither an ID number nor an
///   amount (signatures, notes) are ignored.
/// - At least one household.
pub fn parse_roster(rows: &[Vec<String>]) -> Result<Vec<RosterHousehold>, TableError> {
    use RosterColumn as C;
    let layout = roster_layout(rows)?;
    let mut problems = Problems::default();
    let mut households: Vec<RosterHousehold> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut sum: i128 = 0;
    let mut totals: Vec<(CellRef, String, i128)> = Vec::new();
    let mut below_total = false;
    for (index, row) in rows.iter().enumerate().skip(layout.header_row + 1) {
        if layout.is_empty_row(row) {
            continue;
        }
        let raw_id = layout.text(row, C::IdNumber);
        let raw_amount = layout.text(row, C::Entitled);
        if raw_id.is_empty() && is_total_row(row) {
            below_total = true;
            if !raw_amount.is_empty() {
                totals.push((layout.at(index, C::Entitled), raw_amount.to_owned(), sum));
            }
            continue;
        }
        if below_total && raw_id.is_empty() && raw_amount.is_empty() {
            continue;
        }
        let head = layout.text(row, C::Head);
        if head.is_empty() {
            problems.cell(layout.at(index, C::Head), head, CellProblem::Empty);
        }
        let id_number = if raw_id.is_empty() {
            problems.cell(layout.at(index, C::IdNumber), raw_id, CellProblem::Empty);
            String::new()
        } else {
            match check_id_number(raw_id) {
                Ok((id, long)) => {
                    if let Some(&first_row) = seen.get(&long) {
                        problems.cell(layout.at(index, C::IdNumber), raw_id, CellProblem::DuplicateId { first_row });
                    } else {
                        seen.insert(long, index + 1);
                    }
                    id
                }
                Err(problem) => {
                    problems.cell(layout.at(index, C::IdNumber), raw_id, problem);
                    String::new()
                }
            }
        };
        let entitled = if raw_amount.is_empty() {
            problems.cell(layout.at(index, C::Entitled), raw_amount, CellProblem::Empty);
            Yuan::ZERO
        } else {
            parse_amount(raw_amount).unwrap_or_else(|problem| {
                problems.cell(layout.at(index, C::Entitled), raw_amount, problem);
                Yuan::ZERO
            })
        };
        sum += i128::from(entitled.fen());
        let raw_date = layout.text(row, C::PaidOn);
        let paid_on = if raw_date.is_empty() {
            String::new()
        } else {
            parse_date(raw_date).unwrap_or_else(|| {
                problems.cell(layout.at(index, C::PaidOn), raw_date, CellProblem::NotDate);
                String::new()
            })
        };
        households.push(RosterHousehold {
            head: head.to_owned(),
            id_number,
            account: compact(layout.text(row, C::Account)),
            entitled,
            paid_on,
            group: layout.text(row, C::Group).to_owned(),
            phone: compact(layout.text(row, C::Phone)),
        });
    }
    // Totals are checked only when every amount could be read.
    if problems.is_empty() {
        for (at, found, sum) in totals {
            match parse_amount(&found) {
                Ok(total) if i128::from(total.fen()) == sum => {}
                Ok(_) => {
                    let sum = Yuan::from_fen(i64::try_from(sum).unwrap_or(i64::MAX));
                    problems.cell(at, &found, CellProblem::TotalMismatch { sum });
                }
                Err(problem) => problems.cell(at, &found, problem),
            }
        }
    }
    if problems.is_empty() && households.is_empty() {
        problems.push(TableProblem::NoRows { what_zh: "任何一户", what_en: "households" });
    }
    problems.finish()?;
    Ok(households)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Vec<Vec<String>> {
        text.lines().map(|line| line.split('|').map(str::to_owned).collect()).collect()
    }

    /// A valid 18-digit ID number from its first 17 digits.
    fn id(body: &str) -> String {
        format!("{body}{}", id_check_digit(body))
    }

    #[test]
    fn column_letters_count_like_a_spreadsheet() {
        for (index, letter) in
            [(0, "A"), (3, "D"), (25, "Z"), (26, "AA"), (27, "AB"), (51, "AZ"), (52, "BA"), (701, "ZZ"), (702, "AAA")]
        {
            assert_eq!(column_letter(index), letter, "{index}");
        }
    }

    #[test]
    fn id_numbers_are_checked_by_gb_11643() {
        // The standard's own example.
        assert_eq!(id_check_digit("11010519491231002"), 'X');
        let good = id("33019919800101123");
        let cases: Vec<(String, Result<String, CellProblem>)> = vec![
            (good.clone(), Ok(good.clone())),
            ("11010519491231002x".into(), Ok("11010519491231002X".into())),
            (format!(" {} ", good.replace('3', "３")), Ok(good.clone())),
            ("330199800101123".into(), Ok("330199800101123".into())),
            ("11010519491231002Y".into(), Err(CellProblem::IdCharacters)),
            ("1101051949123100X2".into(), Err(CellProblem::IdCharacters)),
            ("3301991980010112".into(), Err(CellProblem::IdLength { length: 16 })),
            ("3.30199E+17".into(), Err(CellProblem::IdScientific)),
            ("110105194902300021".into(), Err(CellProblem::IdBirthDate)),
            ("110105194912310021".into(), Err(CellProblem::IdCheckDigit { expected: 'X' })),
            ("330199801301123".into(), Err(CellProblem::IdBirthDate)),
            ("张三".into(), Err(CellProblem::IdCharacters)),
        ];
        for (input, want) in cases {
            assert_eq!(check_id_number(&input).map(|(id, _)| id), want, "{input:?}");
        }
        // An old number and its new form are one person.
        assert_eq!(check_id_number("330199800101123").unwrap().1, id("33019919800101123"));
    }

    #[test]
    fn amounts_and_dates_are_read_as_offices_write_them() {
        let amounts: &[(&str, Result<i64, CellProblem>)] = &[
            ("3000", Ok(300_000)),
            ("3,000.00", Ok(300_000)),
            ("3000元", Ok(300_000)),
            ("￥3,000.50", Ok(300_050)),
            ("¥ 12.3", Ok(1230)),
            ("３０００", Ok(300_000)),
            ("0", Ok(0)),
            ("三千", Err(CellProblem::NotAmount)),
            ("3000.005", Err(CellProblem::NotAmount)),
            ("3e3", Err(CellProblem::NotAmount)),
            ("-5", Err(CellProblem::NegativeAmount)),
        ];
        for (input, want) in amounts {
            assert_eq!(parse_amount(input).map(Yuan::fen), *want, "{input:?}");
        }
        let dates: &[(&str, Option<&str>)] = &[
            ("2024-03-05", Some("2024-03-05")),
            ("2024/3/5", Some("2024-03-05")),
            ("2024.03.05", Some("2024-03-05")),
            ("2024年3月5日", Some("2024-03-05")),
            ("2024年03月05日", Some("2024-03-05")),
            ("20240305", Some("2024-03-05")),
            ("2024-03-05 00:00:00", Some("2024-03-05")),
            ("2024-03-05T08:30", Some("2024-03-05")),
            ("2024-02-29", Some("2024-02-29")),
            ("2023-02-29", None),
            ("2024-13-01", None),
            ("24-03-05", None),
            ("2024年3月", None),
            ("三月五日", None),
            ("45356", None),
            ("2024-03-05 上午", None),
        ];
        for (input, want) in dates {
            assert_eq!(parse_date(input).as_deref(), *want, "{input:?}");
        }
    }

    #[test]
    fn rosters_parse_with_chinese_headers() {
        let (a, b) = (id("33019919800101123"), id("33019919751231002"));
        let rows = table(&format!(
            "2024年某村补贴花名册|||||||\n\
             序号| 户主 |身份证号|一卡通/社保卡账号|应享金额（元）|发放日期|组别|联系电话|备注\n\
             1|张三|{a}|6217 0000 1111 2222|3,000.00|2024/3/5|一组|138 0000 1234|\n\
             ||||||||\n\
             2|李四|{}|6217000011113333|1500.5元|2024年3月6日|二组||低保\n\
             3||||||||\n\
             合计||||4500.50||||\n\
             制表人：王五||||||||",
            b.to_lowercase()
        ));
        let households = parse_roster(&rows).unwrap();
        assert_eq!(
            households,
            vec![
                RosterHousehold {
                    head: "张三".into(),
                    id_number: a.clone(),
                    account: "6217000011112222".into(),
                    entitled: Yuan::from_fen(300_000),
                    paid_on: "2024-03-05".into(),
                    group: "一组".into(),
                    phone: "13800001234".into(),
                },
                RosterHousehold {
                    head: "李四".into(),
                    id_number: b,
                    account: "6217000011113333".into(),
                    entitled: Yuan::from_fen(150_050),
                    paid_on: "2024-03-06".into(),
                    group: "二组".into(),
                    phone: String::new(),
                },
            ]
        );
        // Only the required columns, other aliases.
        let rows = table(&format!("户主姓名|公民身份号码|应享金额\n赵六|{a}|0"));
        let households = parse_roster(&rows).unwrap();
        assert_eq!(households[0].account, "");
        assert_eq!(households[0].entitled, Yuan::ZERO);
    }

    /// The first problem's message of a refused roster.
    fn refusal(text: &str) -> (TableError, String) {
        let error = parse_roster(&table(text)).unwrap_err();
        let first = error.problems()[0].to_string();
        (error, first)
    }

    #[test]
    fn roster_refusals_name_the_row_and_column() {
        let a = id("33019919800101123");
        let bad_check = format!("{}{}", &a[..17], if a.ends_with('1') { '2' } else { '1' });
        let h = "序号|户主|身份证号|一卡通账号|应享金额|发放日期";
        let cases: Vec<(String, &str)> = vec![
            (
                format!("{h}\n1|张三|{a}||三千|"),
                "第 2 行 E 列（应享金额）：“三千” 不是金额，请填写数字（最多两位小数），如 3000.00 / row 2, column E (应享金额): \"三千\" is not an amount; write a number (at most two decimals) such as 3000.00",
            ),
            (format!("{h}\n1|张三|{a}||-3|"), "第 2 行 E 列（应享金额）：“-3” 是负数"),
            (
                format!("{h}\n1|张三|{a}|||"),
                "第 2 行 E 列（应享金额）：为空，请填写 / row 2, column E (应享金额): is empty",
            ),
            (format!("{h}\n1||{a}||3|"), "第 2 行 B 列（户主）：为空"),
            (format!("{h}\n1|张三|{bad_check}||3|"), "第 2 行 C 列（身份证号）：“"),
            (format!("{h}\n1|张三|{a}||3|\n2|李四|{a}||3|"), "第 3 行 C 列（身份证号）：“"),
            (format!("{h}\n1|张三|{a}||3|2024-02-30"), "第 2 行 F 列（发放日期）：“2024-02-30” 不是日期"),
            (
                format!("{h}\n1|张三|{a}||3|\n合计||||4|"),
                "第 3 行 E 列（应享金额）：合计 “4” 与上方各户应享金额之和 3.00 不符",
            ),
            (
                "序号|姓名|身份证号|金额\n1|张三|1|3".to_owned(),
                "缺少“户主”列（第 1 行的表头为：序号、姓名、身份证号、金额），请添加该列或改正表头 / the column 户主 is missing (the header, row 1, has: 序号、姓名、身份证号、金额)",
            ),
            (format!("户主|身份证号|身份证号码|应享金额\n张三|{a}|{a}|3"), "第 1 行的 B 列和 C 列都是“身份证号”"),
            (h.to_owned(), "表中没有任何一户"),
            ("||\n ".to_owned(), "表格是空的"),
        ];
        for (text, want) in cases {
            let (error, first) = refusal(&text);
            assert!(first.starts_with(want), "{text:?}\n got: {first}\nwant: {want}");
            assert!(error.to_string().contains(&first), "{error}");
            assert!(error.to_string().starts_with("文件未导入"), "{error}");
        }
        let (_, first) = refusal(&format!("{h}\n1|张三|{bad_check}||3|"));
        assert!(first.contains(&format!("的校验位应为 {}", &a[17..])), "{first}");
        let (_, first) = refusal(&format!("{h}\n1|张三|{a}||3|\n2|李四|{a}||3|"));
        assert!(first.contains("与第 2 行重复") && first.contains("repeats row 2"), "{first}");
        let (error, _) = refusal(&format!("{h}\n1|张三|{bad_check}||3|"));
        assert_eq!(error.count(), 1);
    }

    #[test]
    fn a_refusal_lists_every_problem_up_to_the_limit() {
        let mut text = "户主|身份证号|应享金额".to_owned();
        for _ in 0..30 {
            text.push_str("\n张三|123|三千");
        }
        let error = parse_roster(&table(&text)).unwrap_err();
        assert_eq!(error.problems().len(), MAX_PROBLEMS);
        assert_eq!(error.count(), 60);
        assert!(error.to_string().contains("另有 40 处问题未列出"), "{error}");
        // Missing columns are all named at once.
        let error = parse_roster(&table("序号|备注\n1|x")).unwrap_err();
        assert_eq!(error.count(), 3, "{error}");
    }

    #[test]
    fn divisions_parse_and_refuse() {
        let good = table(
            "区划代码|名称|上级代码\n\
             330199000000|某区|\n\
             330199101000|甲镇|330199000000\n\
             ||\n\
             330199101001|一村|330199101000\n\
             330199102001|二村|330199000000\n\
             330199103001|三村|330199103000",
        );
        let entries = parse_divisions(&good).unwrap();
        assert_eq!(entries.len(), 5);
        assert_eq!(
            entries[2],
            DivisionEntry { code: "330199101001".into(), name: "一村".into(), parent: "330199101000".into() }
        );
        assert_eq!(entries[0].parent, "");
        let english = table("code,name,parent_code\n330199101001,一村,330199101000".replace(',', "|").as_str());
        assert_eq!(parse_divisions(&english).unwrap().len(), 1);

        let h = "code|name|parent_code";
        let cases: &[(&str, &str)] = &[
            ("330199101001|一村|\n330199101001|又一村|", "第 3 行 A 列（code）：“330199101001” 与第 2 行重复"),
            (
                "330199101001|一村|330199102000",
                "第 2 行 C 列（parent_code）：本行代码 330199101001 不在上级 “330199102000” 之内（应以 330199102 开头）",
            ),
            (
                "330199101000|甲镇|330199101001",
                "第 2 行 C 列（parent_code）：上级 “330199101001” 的级别不高于本行的乡镇",
            ),
            ("330199101000|甲镇|330199101000", "第 2 行 C 列（parent_code）：上级 “330199101000” 的级别不高于"),
            ("33019910100|一村|", "第 2 行 A 列（code）：“33019910100” 不是 12 位区划代码"),
            ("33019910100a|一村|", "第 2 行 A 列（code）：“33019910100a” 不是 12 位区划代码"),
            ("000000000001|一村|", "第 2 行 A 列（code）：“000000000001” 不是有效的区划代码"),
            ("|一村|", "第 2 行 A 列（code）：为空"),
            ("330199101001||", "第 2 行 B 列（name）：为空"),
            ("330199101001|一村|3301", "第 2 行 C 列（parent_code）：“3301” 不是 12 位区划代码"),
            ("", "表中没有区划"),
        ];
        for (body, want) in cases {
            let error = parse_divisions(&table(&format!("{h}\n{body}"))).unwrap_err();
            let first = error.problems()[0].to_string();
            assert!(first.starts_with(want), "{body:?}\n got: {first}\nwant: {want}");
        }
        let error = parse_divisions(&table("code|名称\n330199101001|一村")).unwrap_err();
        assert!(error.problems()[0].to_string().contains("缺少“上级代码 parent_code”列"), "{error}");
    }
}
