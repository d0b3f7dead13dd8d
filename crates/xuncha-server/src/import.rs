//! Reading reference tables from `.xlsx` and `.csv` files (UTF-8 or GBK) into rows of text for the domain's parsers.
//!
//! - `.xlsx`: the first worksheet, laid out as Excel shows it (row 1 is the first row even
//!   when it is empty, column A the first column). Numbers become the text Excel shows in
//!   the General format: at most 15 significant digits, whole numbers without `.0`
//!   (`3000`, not `3000.0`; a formula's `300.00000000000006` is `300`). Date cells become
//!   `YYYY-MM-DD` (with ` HH:MM:SS` when they carry a time of day). Error cells become
//!   their text (`#N/A`).
//! - `.csv`: comma-separated, UTF-8 with or without a byte-order mark; bytes that are not
//!   UTF-8 are decoded as GBK (GB18030), which is how Excel on a Chinese Windows saves
//!   "CSV (逗号分隔)". Blank lines count as rows, as Excel shows them; a quoted cell with
//!   line breaks is one row.
//!
//! Excel keeps only 15 significant digits of a number, so an 18-digit ID number (or a
//! 19-digit account) typed into a cell of the General or Number format has already lost
//! its last digits. [`read_roster`] refuses a 身份证号 column holding numbers, and both
//! [`read_roster`] and [`read_divisions`] refuse numbers of 16 or more digits in any
//! column they use, telling the office to format the column as Text and type the numbers
//! again. [`read_table`] itself refuses nothing: it returns what the file holds.
//!
//! Every refusal is of the whole file, and names the file.

use std::borrow::Cow;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx};
use thiserror::Error;
use xuncha_domain::tables::{self, Layout, RosterColumn, TableError, column_letter};
use xuncha_domain::{DivisionEntry, RosterHousehold};

/// The smallest magnitude at which Excel may have dropped digits of a whole number.
const EXCEL_EXACT_LIMIT: f64 = 1e15;

/// How many cells an error about numeric cells names.
const CELLS_NAMED: usize = 10;

/// Why a file was not imported. Nothing of a refused file is imported.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error(
        "无法读取文件 {}：{source}；请检查路径和权限 / cannot read {}: {source}; check the path and the permissions",
        .path.display(),
        .path.display()
    )]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "不支持的文件类型：{}；请在 Excel 中另存为 .xlsx 或 .csv 后再导入 / unsupported file type: {}; save it from Excel as .xlsx or .csv and import that",
        .path.display(),
        .path.display()
    )]
    UnknownType { path: PathBuf },
    #[error(
        "{} 不是可读取的 .xlsx 文件（{reason}）；如设有密码请先取消，然后用 Excel 另存为 .xlsx 再导入 / {} is not a readable .xlsx file ({reason}); remove any password, save it from Excel as .xlsx and import it again",
        .path.display(),
        .path.display()
    )]
    Workbook { path: PathBuf, reason: String },
    #[error(
        "{} 中没有工作表；请把数据放在第一个工作表中 / {} has no worksheet; put the data on its first sheet",
        .path.display(),
        .path.display()
    )]
    NoSheet { path: PathBuf },
    #[error(
        "{} 的编码既不是 UTF-8 也不是 GBK；请在 Excel 中另存为“CSV UTF-8（逗号分隔）”后再导入 / {} is neither UTF-8 nor GBK text; save it from Excel as \"CSV UTF-8 (Comma delimited)\" and import that",
        .path.display(),
        .path.display()
    )]
    Encoding { path: PathBuf },
    #[error(
        "{} 不是有效的 CSV 文件（{reason}）；请用 Excel 打开并重新另存为 CSV / {} is not a valid CSV file ({reason}); open it in Excel and save it as CSV again",
        .path.display(),
        .path.display()
    )]
    Csv { path: PathBuf, reason: String },
    #[error(
        "{}：{column} 列（{header}）第 {rows} 行存成了数字（共 {count} 个单元格）。Excel 只保留 15 位有效数字，身份证号的末尾数字会丢失，X 也无法存入；请把该列设置为“文本”格式，重新录入这些号码后再导入 / {}: column {column} ({header}) holds numbers in row(s) {rows} ({count} cell(s)). Excel keeps only 15 significant digits, so ID numbers lose their last digits (and cannot end in X): format the column as Text, type the numbers again and import the file again",
        .path.display(),
        .path.display()
    )]
    NumericId { path: PathBuf, column: String, header: String, rows: String, count: usize },
    #[error(
        "{}：单元格 {cells} 是超过 15 位的数字（共 {count} 个），Excel 已丢失其末尾数字；请把这些列设置为“文本”格式，重新录入号码后再导入 / {}: cell(s) {cells} hold numbers of more than 15 digits ({count} cell(s)), whose last digits Excel has lost: format those columns as Text, type the numbers again and import the file again",
        .path.display(),
        .path.display()
    )]
    LongNumber { path: PathBuf, cells: String, count: usize },
    #[error("{}：{source}", .path.display())]
    Table { path: PathBuf, source: TableError },
}

/// One cell as read: its text, and whether the file stored it as a number.
#[derive(Debug, Clone, PartialEq)]
struct Cell {
    text: String,
    /// The number when the cell held one (a `.xlsx` number cell; never in a `.csv`).
    number: Option<f64>,
}

/// The cells of a sheet, row by row.
type Cells = Vec<Vec<Cell>>;

impl Cell {
    fn text(text: String) -> Cell {
        Cell { text, number: None }
    }
}

/// Reads the rows of a `.xlsx` (its first worksheet) or `.csv` file as text, row 0 being
/// the spreadsheet's row 1 and column 0 its column A. See the module documentation for
/// how numbers, dates and encodings are read.
pub fn read_table(path: &Path) -> Result<Vec<Vec<String>>, ImportError> {
    Ok(texts(&read_cells(path)?))
}

/// Reads and checks a household roster (花名册): [`read_table`], the numeric-cell checks,
/// then [`tables::parse_roster`]. ID, account and phone numbers are kept in full.
pub fn read_roster(path: &Path) -> Result<Vec<RosterHousehold>, ImportError> {
    let cells = read_cells(path)?;
    let rows = texts(&cells);
    let layout = tables::roster_layout(&rows).map_err(|source| table_error(path, source))?;
    if let Some(column) = layout.column(RosterColumn::IdNumber) {
        let numeric: Vec<usize> = cells
            .iter()
            .enumerate()
            .skip(layout.header_row + 1)
            .filter(|(_, row)| row.get(column).is_some_and(|cell| cell.number.is_some()))
            .map(|(index, _)| index + 1)
            .collect();
        if !numeric.is_empty() {
            let header = rows[layout.header_row].get(column).map_or("", |h| h.trim()).to_owned();
            let mut named: Vec<String> = numeric.iter().take(CELLS_NAMED).map(usize::to_string).collect();
            if numeric.len() > CELLS_NAMED {
                named.push("…".to_owned());
            }
            return Err(ImportError::NumericId {
                path: path.to_owned(),
                column: column_letter(column),
                header,
                rows: named.join("、"),
                count: numeric.len(),
            });
        }
    }
    check_long_numbers(path, &cells, &layout)?;
    tables::parse_roster(&rows).map_err(|source| table_error(path, source))
}

/// Reads and checks a division table: [`read_table`], the long-number check, then
/// [`tables::parse_divisions`].
pub fn read_divisions(path: &Path) -> Result<Vec<DivisionEntry>, ImportError> {
    let cells = read_cells(path)?;
    let rows = texts(&cells);
    let layout = tables::division_layout(&rows).map_err(|source| table_error(path, source))?;
    check_long_numbers(path, &cells, &layout)?;
    tables::parse_divisions(&rows).map_err(|source| table_error(path, source))
}

fn table_error(path: &Path, source: TableError) -> ImportError {
    ImportError::Table { path: path.to_owned(), source }
}

fn texts(cells: &[Vec<Cell>]) -> Vec<Vec<String>> {
    cells.iter().map(|row| row.iter().map(|cell| cell.text.clone()).collect()).collect()
}

/// Refuses whole numbers Excel cannot hold exactly, in the columns the table uses.
fn check_long_numbers<C: Copy + Eq>(path: &Path, cells: &[Vec<Cell>], layout: &Layout<C>) -> Result<(), ImportError> {
    let used: Vec<usize> = layout.columns.iter().map(|(_, index, _)| *index).collect();
    let mut long = Vec::new();
    for (index, row) in cells.iter().enumerate().skip(layout.header_row + 1) {
        for &column in &used {
            if row.get(column).and_then(|cell| cell.number).is_some_and(|n| n.abs() >= EXCEL_EXACT_LIMIT) {
                long.push(format!("{}{}", column_letter(column), index + 1));
            }
        }
    }
    if long.is_empty() {
        return Ok(());
    }
    let count = long.len();
    if count > CELLS_NAMED {
        long.truncate(CELLS_NAMED);
        long.push("…".to_owned());
    }
    Err(ImportError::LongNumber { path: path.to_owned(), cells: long.join("、"), count })
}

fn read_cells(path: &Path) -> Result<Cells, ImportError> {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    let reader: fn(&Path, Vec<u8>) -> Result<Cells, ImportError> = match extension.as_str() {
        "xlsx" | "xlsm" => read_xlsx,
        "csv" => read_csv,
        _ => return Err(ImportError::UnknownType { path: path.to_owned() }),
    };
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io { path: path.to_owned(), source })?;
    reader(path, bytes)
}

fn read_xlsx(path: &Path, bytes: Vec<u8>) -> Result<Cells, ImportError> {
    let workbook_error =
        |error: calamine::XlsxError| ImportError::Workbook { path: path.to_owned(), reason: error.to_string() };
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(workbook_error)?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| ImportError::NoSheet { path: path.to_owned() })?
        .map_err(workbook_error)?;
    // The range starts at its first used cell; pad so that indices are the sheet's own.
    let Some((top, left)) = range.start() else { return Ok(Vec::new()) };
    let (top, left) = (top as usize, left as usize);
    let mut rows: Vec<Vec<Cell>> = vec![Vec::new(); top];
    for row in range.rows() {
        let mut cells = vec![Cell::text(String::new()); left];
        cells.extend(row.iter().map(xlsx_cell));
        while cells.last().is_some_and(|cell| cell.text.is_empty()) {
            cells.pop();
        }
        rows.push(cells);
    }
    Ok(rows)
}

fn xlsx_cell(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::text(String::new()),
        Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => Cell::text(text.clone()),
        // The float is only compared with 1e15; the text is exact.
        Data::Int(n) => Cell { text: n.to_string(), number: Some(*n as f64) },
        Data::Float(n) => Cell { text: number_text(*n), number: Some(*n) },
        Data::Bool(b) => Cell::text(if *b { "TRUE" } else { "FALSE" }.to_owned()),
        Data::Error(error) => Cell::text(error.to_string()),
        Data::DateTime(datetime) if datetime.is_datetime() => {
            let (year, month, day, hour, minute, second, milli) = datetime.to_ymd_hms_milli();
            let date = format!("{year:04}-{month:02}-{day:02}");
            if (hour, minute, second, milli) == (0, 0, 0, 0) {
                Cell::text(date)
            } else {
                Cell::text(format!("{date} {hour:02}:{minute:02}:{second:02}"))
            }
        }
        Data::DateTime(duration) => Cell::text(number_text(duration.as_f64())),
    }
}

/// A number as Excel's General format shows it: rounded to 15 significant digits, without
/// trailing zeros or a trailing point (`3000`, `1234.56`, `330199198001011000`).
fn number_text(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value == 0.0 {
        return "0".to_owned();
    }
    // `d.dddddddddddddde±x`: fifteen significant digits, correctly rounded.
    let scientific = format!("{value:.14e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let (whole, fraction) = if exponent >= 0 {
        let point = usize::try_from(exponent).unwrap_or(0) + 1;
        if point >= digits.len() {
            (format!("{digits}{}", "0".repeat(point - digits.len())), String::new())
        } else {
            (digits[..point].to_owned(), digits[point..].to_owned())
        }
    } else {
        let zeros = usize::try_from(-exponent - 1).unwrap_or(0);
        ("0".to_owned(), format!("{}{digits}", "0".repeat(zeros)))
    };
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() { format!("{sign}{whole}") } else { format!("{sign}{whole}.{fraction}") }
}

/// The text of a CSV file: UTF-8 (a byte-order mark dropped), else GBK.
fn decode(path: &Path, bytes: &[u8]) -> Result<String, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    encoding_rs::GBK
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(Cow::into_owned)
        .ok_or_else(|| ImportError::Encoding { path: path.to_owned() })
}

fn read_csv(path: &Path, bytes: Vec<u8>) -> Result<Cells, ImportError> {
    let text = decode(path, &bytes)?;
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| ImportError::Csv { path: path.to_owned(), reason: error.to_string() })?;
        // The reader skips blank lines, which Excel shows as rows: a record's position is
        // where reading began, before the blank lines it skipped.
        // (A position between the `\r` and the `\n` of a line end is not a blank line.)
        let bytes = text.as_bytes();
        let mut start = record.position().and_then(|p| usize::try_from(p.byte()).ok()).unwrap_or(bytes.len());
        if start > 0 && bytes.get(start - 1) == Some(&b'\r') && bytes.get(start) == Some(&b'\n') {
            start += 1;
        }
        let blank = bytes.get(start..).unwrap_or_default();
        let blank_lines = blank.iter().take_while(|b| matches!(b, b'\r' | b'\n')).filter(|b| **b == b'\n').count();
        rows.extend(std::iter::repeat_with(Vec::new).take(blank_lines));
        rows.push(record.iter().map(|field| Cell::text(field.to_owned())).collect());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_excel_shows_them() {
        let cases: &[(f64, &str)] = &[
            (3000.0, "3000"),
            (1234.56, "1234.56"),
            (0.1 + 0.2, "0.3"),
            (300.000_000_000_000_06, "300"),
            (-12.5, "-12.5"),
            (0.0, "0"),
            (0.05, "0.05"),
            (330_199_101_001.0, "330199101001"),
            (330_199_198_001_011_234.0, "330199198001011000"),
            (1e20, "100000000000000000000"),
            (1.5e-7, "0.00000015"),
        ];
        for (value, want) in cases {
            assert_eq!(number_text(*value), *want, "{value}");
        }
    }

    #[test]
    fn csv_text_is_utf8_or_gbk() {
        let path = Path::new("x.csv");
        assert_eq!(decode(path, "\u{FEFF}户主,金额".as_bytes()).unwrap(), "户主,金额");
        let (gbk, _, _) = encoding_rs::GBK.encode("户主,金额");
        assert_eq!(decode(path, &gbk).unwrap(), "户主,金额");
        assert!(matches!(decode(path, b"\xFF\xFE\x00h"), Err(ImportError::Encoding { .. })));
    }

    #[test]
    fn csv_rows_are_numbered_as_excel_shows_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "\n\na,b\r\n1,2\r\n\r\n\"x\ny\",3\n\n4,5\n").unwrap();
        let rows = read_table(&path).unwrap();
        let want: Vec<Vec<String>> = [&[][..], &[], &["a", "b"], &["1", "2"], &[], &["x\ny", "3"], &[], &["4", "5"]]
            .iter()
            .map(|row| row.iter().map(|c| (*c).to_owned()).collect())
            .collect();
        assert_eq!(rows, want);
    }
}
