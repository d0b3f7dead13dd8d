//! Importing rosters and division tables from real `.xlsx` and `.csv` files, and refusing malformed ones.

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet};
use xuncha_domain::{DivisionEntry, RosterHousehold, Yuan};
use xuncha_server::import::{ImportError, read_divisions, read_roster, read_table};

/// The check digit of an ID number's first 17 digits (GB 11643), the test's own oracle.
fn check_digit(body: &str) -> char {
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body.chars().zip(weights).map(|(c, w)| c.to_digit(10).unwrap() * w).sum();
    ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'][(sum % 11) as usize]
}

/// The n-th distinct valid ID number.
fn id(n: u32) -> String {
    let body = format!("330199{:04}{:02}{:02}{:03}", 1940 + n % 60, 1 + n % 12, 1 + n % 28, n % 1000);
    format!("{body}{}", check_digit(&body))
}

/// The same number with its check digit wrong.
fn wrong_check(n: u32) -> String {
    let good = id(n);
    let wrong = if good.ends_with('1') { '2' } else { '1' };
    format!("{}{wrong}", &good[..17])
}

fn message(error: &ImportError) -> String {
    error.to_string()
}

fn assert_says(error: &ImportError, parts: &[&str]) {
    let text = message(error);
    for part in parts {
        assert!(text.contains(part), "expected {part:?} in:\n{text}");
    }
}

fn write_csv(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A sheet whose rows are all text.
fn write_text_xlsx(path: &Path, rows: &[&[&str]]) {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            if !cell.is_empty() {
                sheet.write_string(r as u32, c as u16, *cell).unwrap();
            }
        }
    }
    workbook.save(path).unwrap();
}

/// The household the 1,000-row roster holds at `i`, and how its cells are written.
fn household(i: u32) -> RosterHousehold {
    let fen = 10_000 + i64::from(i) * 137;
    RosterHousehold {
        head: format!("户主{i:04}"),
        id_number: id(i),
        account: format!("6217{:015}", 880_000_000_000_000 + u64::from(i)),
        entitled: Yuan::from_fen(fen),
        paid_on: if i % 10 == 9 { String::new() } else { format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28) },
        group: format!("{}组", i % 5 + 1),
        phone: format!("138{:08}", 10_000_000 + i),
    }
}

fn write_household(sheet: &mut Worksheet, row: u32, i: u32, date_format: &Format) {
    let h = household(i);
    sheet.write_number(row, 0, f64::from(i + 1)).unwrap();
    sheet.write_string(row, 1, &h.head).unwrap();
    sheet.write_string(row, 2, &h.id_number).unwrap();
    sheet.write_string(row, 3, &h.account).unwrap();
    let fen = h.entitled.fen();
    match i % 3 {
        // A number cell, as most offices keep amounts.
        0 => sheet.write_number(row, 4, fen as f64 / 100.0).unwrap(),
        1 => sheet.write_string(row, 4, format!("{},{:03}.{:02}", fen / 100_000, fen / 100 % 1000, fen % 100)).unwrap(),
        _ => sheet.write_string(row, 4, format!("{}元", h.entitled)).unwrap(),
    };
    if !h.paid_on.is_empty() {
        let (m, d) = (1 + i % 12, 1 + i % 28);
        if i.is_multiple_of(2) {
            let date = ExcelDateTime::from_ymd(2024, m as u8, d as u8).unwrap();
            sheet.write_datetime_with_format(row, 5, &date, date_format).unwrap();
        } else {
            sheet.write_string(row, 5, format!("2024年{m}月{d}日")).unwrap();
        }
    }
    sheet.write_string(row, 6, &h.group).unwrap();
    if i.is_multiple_of(4) {
        // An 11-digit phone number kept as a number: whole, so no ".0".
        sheet.write_number(row, 7, h.phone.parse::<f64>().unwrap()).unwrap();
    } else {
        sheet.write_string(row, 7, &h.phone).unwrap();
    }
}

#[test]
fn a_thousand_household_xlsx_roster_imports_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("花名册.xlsx");
    let date_format = Format::new().set_num_format("yyyy-mm-dd");
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.write_string(0, 0, "2024年某村耕地地力保护补贴花名册").unwrap();
    let header =
        ["序号", "户主", "身份证号", "一卡通/社保卡账号", " 应享金额（元）", "发放日期", "组别", "联系电话", "备注"];
    for (c, name) in header.iter().enumerate() {
        sheet.write_string(1, c as u16, *name).unwrap();
    }
    let mut row = 2;
    for i in 0..1000 {
        if i == 500 {
            row += 1; // a blank row in the middle
        }
        write_household(sheet, row, i, &date_format);
        row += 1;
    }
    let total: i64 = (0..1000).map(|i| household(i).entitled.fen()).sum();
    sheet.write_string(row, 0, "合计").unwrap();
    sheet.write_number(row, 4, total as f64 / 100.0).unwrap();
    sheet.write_string(row + 2, 0, "制表人：王五").unwrap();
    workbook.save(&path).unwrap();

    let households = read_roster(&path).unwrap();
    assert_eq!(households.len(), 1000);
    for (i, got) in households.iter().enumerate() {
        assert_eq!(*got, household(i as u32), "household {i}");
    }
    let sum: i64 = households.iter().map(|h| h.entitled.fen()).sum();
    assert_eq!(sum, total);
    // The server keeps the full numbers; only what a tablet receives is masked.
    assert!(households.iter().all(|h| !h.id_number.contains('*') && !h.account.contains('*')));
    assert!(households.iter().any(|h| h.id_number.ends_with('X')), "some ID numbers end in X");

    // The raw table: whole numbers without ".0", Excel dates as YYYY-MM-DD.
    let rows = read_table(&path).unwrap();
    assert_eq!(rows[2][0], "1");
    assert_eq!(rows[2][4], "100");
    assert_eq!(rows[2][5], "2024-01-01");
    assert_eq!(rows[2][7], "13810000000");
    assert_eq!(rows[1][4], " 应享金额（元）");
}

const HEADER: &str = "序号,户主,身份证号,一卡通/社保卡账号,应享金额,发放日期,组别,联系电话";

fn csv_roster() -> String {
    format!(
        "{HEADER}\r\n1,张三,{},6217000011112222,\"3,000.00\",2024/3/5,一组,13800001234\r\n\r\n2,李四,{},,1500.5,,二组,\r\n",
        id(1),
        id(2).to_lowercase()
    )
}

fn expected_csv_households() -> Vec<RosterHousehold> {
    vec![
        RosterHousehold {
            head: "张三".into(),
            id_number: id(1),
            account: "6217000011112222".into(),
            entitled: Yuan::from_fen(300_000),
            paid_on: "2024-03-05".into(),
            group: "一组".into(),
            phone: "13800001234".into(),
        },
        RosterHousehold {
            head: "李四".into(),
            id_number: id(2),
            account: String::new(),
            entitled: Yuan::from_fen(150_050),
            paid_on: String::new(),
            group: "二组".into(),
            phone: String::new(),
        },
    ]
}

#[test]
fn csv_rosters_import_from_utf8_with_bom_and_from_gbk() {
    let dir = tempfile::tempdir().unwrap();
    let text = csv_roster();
    let utf8 = write_csv(dir.path(), "utf8.csv", format!("\u{FEFF}{text}").as_bytes());
    assert_eq!(read_roster(&utf8).unwrap(), expected_csv_households());
    let plain = write_csv(dir.path(), "plain.CSV", text.as_bytes());
    assert_eq!(read_roster(&plain).unwrap(), expected_csv_households());
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&gbk).is_err(), "the GBK file is not also UTF-8");
    let gbk = write_csv(dir.path(), "gbk.csv", &gbk);
    assert_eq!(read_roster(&gbk).unwrap(), expected_csv_households());
}

#[test]
fn malformed_rosters_are_refused_with_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let one = |n: u32, amount: &str| format!("{n},户{n},{},,{amount},,,", id(n));

    // Missing column.
    let path =
        write_csv(dir.path(), "missing.csv", format!("序号,户主,身份证号,金额\n1,张三,{},3000\n", id(1)).as_bytes());
    let error = read_roster(&path).unwrap_err();
    assert!(matches!(error, ImportError::Table { .. }), "{error}");
    assert_says(
        &error,
        &["missing.csv", "缺少“应享金额”列", "序号、户主、身份证号、金额", "the column 应享金额 is missing"],
    );

    // Text in an amount; a blank line before it counts as a row, as Excel shows it.
    let text = format!("{HEADER}\n{}\n\n{}\n", one(1, "3000"), one(2, "三千"));
    let error = read_roster(&write_csv(dir.path(), "amount.csv", text.as_bytes())).unwrap_err();
    assert_says(
        &error,
        &[
            "第 4 行 E 列（应享金额）：“三千” 不是金额，请填写数字",
            "row 4, column E (应享金额): \"三千\" is not an amount; write a number",
            "文件未导入",
        ],
    );

    // Duplicate ID: both rows named.
    let text = format!("{HEADER}\n{}\n{}\n{},户3,{},,5,,,\n", one(1, "3000"), one(2, "3000"), 3, id(1));
    let error = read_roster(&write_csv(dir.path(), "dup.csv", text.as_bytes())).unwrap_err();
    assert_says(
        &error,
        &["第 4 行 C 列（身份证号）", &id(1), "与第 2 行重复", "row 4, column C (身份证号)", "repeats row 2"],
    );

    // Bad check digit.
    let text = format!("{HEADER}\n{}\n7,户7,{},,5,,,\n", one(1, "3000"), wrong_check(7));
    let error = read_roster(&write_csv(dir.path(), "check.csv", text.as_bytes())).unwrap_err();
    let expected = format!("的校验位应为 {}", &id(7)[17..]);
    assert_says(&error, &["第 3 行 C 列（身份证号）", &wrong_check(7), &expected, "check digit"]);

    // Several problems are listed at once.
    let text = format!("{HEADER}\n1,,{},,三千,2024-13-01,,\n", wrong_check(1));
    let error = read_roster(&write_csv(dir.path(), "many.csv", text.as_bytes())).unwrap_err();
    let ImportError::Table { source, .. } = &error else { panic!("{error}") };
    assert_eq!(source.count(), 4, "{error}");
    assert_says(&error, &["第 2 行 B 列（户主）：为空", "第 2 行 C 列", "第 2 行 E 列", "第 2 行 F 列（发放日期）"]);
}

#[test]
fn xlsx_rows_and_columns_are_the_sheets_own() {
    // The table starts at B2: the reported cell is still the one Excel shows.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("offset.xlsx");
    let id1 = id(1);
    write_text_xlsx(
        &path,
        &[&[], &["", "户主", "身份证号", "应享金额"], &["", "张三", &id1, "3000"], &["", "李四", &id(2), "3000.001"]],
    );
    let error = read_roster(&path).unwrap_err();
    assert_says(&error, &["第 4 行 D 列（应享金额）：“3000.001” 不是金额", "row 4, column D"]);
}

#[test]
fn numeric_id_and_long_number_cells_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("numeric.xlsx");
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, name) in ["户主", "身份证号", "应享金额"].iter().enumerate() {
        sheet.write_string(0, c as u16, *name).unwrap();
    }
    sheet.write_string(1, 0, "张三").unwrap();
    sheet.write_string(1, 1, id(1)).unwrap();
    sheet.write_number(1, 2, 3000).unwrap();
    sheet.write_string(2, 0, "李四").unwrap();
    // What Excel holds after someone types an 18-digit number into a General cell.
    sheet.write_number(2, 1, 330_199_198_001_011_234.0).unwrap();
    sheet.write_number(2, 2, 3000).unwrap();
    workbook.save(&path).unwrap();
    let error = read_roster(&path).unwrap_err();
    assert!(matches!(error, ImportError::NumericId { count: 1, .. }), "{error}");
    assert_says(
        &error,
        &[
            "numeric.xlsx",
            "B 列（身份证号）第 3 行存成了数字",
            "文本",
            "column B (身份证号)",
            "row(s) 3",
            "format the column as Text",
        ],
    );
    // read_table returns what the file holds.
    assert_eq!(read_table(&path).unwrap()[2][1], "330199198001011000");

    // A 19-digit account number kept as a number has lost digits too.
    let path = dir.path().join("account.xlsx");
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, name) in ["户主", "身份证号", "社保卡账号", "应享金额"].iter().enumerate() {
        sheet.write_string(0, c as u16, *name).unwrap();
    }
    sheet.write_string(1, 0, "张三").unwrap();
    sheet.write_string(1, 1, id(1)).unwrap();
    sheet.write_number(1, 2, 6_217_000_011_112_222_333.0).unwrap();
    sheet.write_number(1, 3, 3000).unwrap();
    // A number in an ignored column does not matter.
    sheet.write_number(1, 5, 6_217_000_011_112_222_333.0).unwrap();
    workbook.save(&path).unwrap();
    let error = read_roster(&path).unwrap_err();
    assert!(matches!(error, ImportError::LongNumber { count: 1, .. }), "{error}");
    assert_says(&error, &["C2", "超过 15 位", "more than 15 digits"]);
}

#[test]
fn files_that_are_not_tables_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let error = read_roster(&write_csv(dir.path(), "roster.xls", b"whatever")).unwrap_err();
    assert!(matches!(error, ImportError::UnknownType { .. }), "{error}");
    assert_says(&error, &["roster.xls", ".xlsx 或 .csv"]);
    let error = read_roster(&dir.path().join("absent.csv")).unwrap_err();
    assert!(matches!(error, ImportError::Io { .. }), "{error}");
    let error = read_roster(&write_csv(dir.path(), "fake.xlsx", b"not a zip")).unwrap_err();
    assert!(matches!(error, ImportError::Workbook { .. }), "{error}");
    let error = read_roster(&write_csv(dir.path(), "utf16.csv", b"\xFF\xFE\xFF\xFF")).unwrap_err();
    assert!(matches!(error, ImportError::Encoding { .. }), "{error}");
    let error = read_roster(&write_csv(dir.path(), "empty.csv", b"")).unwrap_err();
    assert_says(&error, &["表格是空的"]);
}

#[test]
fn division_tables_import_and_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = "code,name,parent_code\n\
                330199000000,某区,\n\
                330199101000,甲镇,330199000000\n\
                330199101001,一村,330199101000\n\
                330199101002,二村,330199101000\n";
    let entries = read_divisions(&write_csv(dir.path(), "good.csv", good.as_bytes())).unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(
        entries[3],
        DivisionEntry { code: "330199101002".into(), name: "二村".into(), parent: "330199101000".into() }
    );
    // Chinese headers, in an xlsx.
    let path = dir.path().join("divisions.xlsx");
    write_text_xlsx(&path, &[&["区划代码", "名称", "上级代码"], &["330199102000", "乙镇", "330199000000"]]);
    assert_eq!(read_divisions(&path).unwrap()[0].parent, "330199000000");

    let bad: &[(&str, &[&str])] = &[
        (
            "330199101001,一村,330199101000\n330199101001,又一村,330199101000\n",
            &["第 3 行 A 列（code）", "与第 2 行重复", "row 3, column A (code)", "repeats row 2"],
        ),
        (
            "330199101001,一村,330199102000\n",
            &["第 2 行 C 列（parent_code）", "不在上级 “330199102000” 之内", "does not lie inside the parent"],
        ),
        (
            "3301991010,一村,\n",
            &["第 2 行 A 列（code）：“3301991010” 不是 12 位区划代码", "not a 12-digit division code"],
        ),
    ];
    for (i, (body, parts)) in bad.iter().enumerate() {
        let path = write_csv(dir.path(), &format!("bad{i}.csv"), format!("code,name,parent_code\n{body}").as_bytes());
        let error = read_divisions(&path).unwrap_err();
        assert_says(&error, parts);
    }
}
