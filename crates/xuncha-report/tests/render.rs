//! Every template typesets from domain values, including the awkward ones: an untitled
//! draft with nothing filled in, text that looks like Typst markup (it must print as
//! written, never run), long unbroken text, and a record of every kind. The PDFs are read
//! back with `pdftotext` (poppler), an independent reader.

use std::collections::BTreeMap;
use std::process::Command;

use xuncha_domain::{
    ActorId, DeviceId, Division, Edit, EditContext, Field, ItemField, ItemId, ItemList, NewRecord, Record, RecordDoc,
    RecordId, RecordKind, UserId, Value,
};
use xuncha_report::{Attachments, Context, Fonts, RosterLine, Section, Summary};

const NOW: i64 = 1_719_900_000_000;

fn ctx_edit(n: i64) -> EditContext {
    EditContext {
        author: UserId::new("zhang.wei").unwrap(),
        device: DeviceId::new("tablet-1").unwrap(),
        actor: ActorId::from(vec![7u8; 16]),
        now_ms: NOW + n,
    }
}

fn record(kind: RecordKind, title: &str, edits: &[Edit]) -> (Record, Vec<String>) {
    let new = NewRecord {
        id: RecordId::new(NOW, &[kind as u8; 10]),
        kind,
        title: title.to_owned(),
        round: "2024年第一轮".into(),
        township: Some(Division::new("330199101000", "东岭镇")),
        village: Some(Division::new("330199101001", "上坪村")),
        team: "第一巡察组".into(),
    };
    let mut doc = RecordDoc::create(&new, &ctx_edit(0)).unwrap();
    if !edits.is_empty() {
        doc.apply(edits, &ctx_edit(1)).unwrap();
    }
    let heads = doc.heads().iter().map(|h| h.to_string()).collect();
    (doc.read(), heads)
}

fn text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext")
        .args([path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils; make setup installs it)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().chars().filter(|c| !c.is_whitespace()).collect()
}

fn names(id: &str) -> String {
    match id {
        "zhang.wei" => "张伟".into(),
        other => other.into(),
    }
}

#[test]
fn every_template_typesets_and_markup_in_a_record_prints_as_written() {
    let fonts = Fonts::load().expect("the bundled fonts (make setup)");
    let tricky = "#set page(paper: \"a5\") *粗体* $x^2$ <label> @ref [括号] \\ // 注释 = 标题";
    let long = "截留".repeat(400);
    let item = |n: i64, values: Vec<(ItemField, Value)>| Edit::InsertItem {
        list: values.first().map(|(f, _)| f.list()).unwrap_or(ItemList::Beneficiaries),
        id: ItemId::new(NOW + n, &[n as u8; 10]),
        values,
    };
    let (fund, fund_heads) = record(
        RecordKind::FundCheck,
        tricky,
        &[
            Edit::Set { field: Field::FundName, value: Some(Value::Text("危房改造补助".into())) },
            Edit::Set { field: Field::Allocated, value: Some(Value::Money("120000".parse().unwrap())) },
            Edit::Narrative { text: format!("{tricky}\n{long}") },
            item(
                1,
                vec![
                    (ItemField::Head, Value::Text("王大山".into())),
                    (ItemField::Entitled, Value::Money("8000".parse().unwrap())),
                ],
            ),
        ],
    );
    let (empty, empty_heads) = record(RecordKind::ConductIssue, "", &[]);
    let (talk, talk_heads) = record(
        RecordKind::Talk,
        "与村会计的个别谈话",
        &[
            Edit::Set { field: Field::Interviewee, value: Some(Value::Text("陈会计".into())) },
            item(
                2,
                vec![
                    (ItemField::Question, Value::Text("补助发了吗？".into())),
                    (ItemField::Answer, Value::Text(tricky.into())),
                ],
            ),
        ],
    );
    let (clue, clue_heads) =
        record(RecordKind::GangClue, "某村霸线索", &[item(3, vec![(ItemField::Name, Value::Text("张某".into()))])]);
    let all: Vec<&Record> = vec![&fund, &empty, &talk, &clue];
    let numbers: BTreeMap<RecordId, String> = xuncha_domain::numbering::numbers(&all);
    let ctx = Context {
        mark: xuncha_report::DEFAULT_MARK,
        today: chrono::NaiveDate::from_ymd_opt(2024, 7, 2).unwrap(),
        names: &names,
        numbers: &numbers,
    };
    let none = Attachments::new();

    let paper = xuncha_report::draft(&fonts, &fund, &fund_heads, &[], &none, &ctx).unwrap();
    let read = text(&paper.bytes);
    for word in
        ["问题底稿", "危房改造补助", "120,000.00", "王大山", "内部资料注意保存", "2024年7月2日", &numbers[&fund.id]]
    {
        assert!(read.contains(word), "{word:?} missing: {read}");
    }
    let as_written: String = tricky.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(read.contains(&as_written), "markup in a record must print as written: {read}");
    assert!(paper.pages >= 2, "the long narrative runs on: {}", paper.pages);

    let paper = xuncha_report::draft(&fonts, &empty, &empty_heads, &[], &none, &ctx).unwrap();
    assert!(text(&paper.bytes).contains("（未命名）"));
    let paper = xuncha_report::draft(&fonts, &clue, &clue_heads, &[], &none, &ctx).unwrap();
    assert!(text(&paper.bytes).contains("张某"));

    // A talk's draft is its 谈话记录.
    let paper = xuncha_report::draft(&fonts, &talk, &talk_heads, &[], &none, &ctx).unwrap();
    let read = text(&paper.bytes);
    assert!(read.contains("谈话记录") && read.contains("陈会计") && read.contains("补助发了吗？"), "{read}");

    let roster = [RosterLine { head: "李小梅".into(), entitled: "6000".parse().unwrap() }];
    let paper = xuncha_report::household(&fonts, &fund, &fund_heads, &roster, true, &none, &ctx).unwrap();
    let read = text(&paper.bytes);
    assert!(read.contains("王大山") && read.contains("8,000.00"), "the record's households first: {read}");
    let paper = xuncha_report::household(&fonts, &empty, &empty_heads, &roster, true, &none, &ctx);
    assert!(paper.is_err(), "only a fund check has a household sheet");

    let paper = xuncha_report::problems(&fonts, &all, &all, "2024年第一轮", &ctx).unwrap();
    let read = text(&paper.bytes);
    assert!(read.contains("某村霸线索") && !read.contains("与村会计的个别谈话"), "problems only: {read}");
    let paper = xuncha_report::rectification(&fonts, &all, "2024年第一轮", &ctx).unwrap();
    assert!(text(&paper.bytes).contains("台账为空"));
    let figures = Summary {
        sections: vec![Section::new("一、巡察发现问题", [("发现问题".to_owned(), "3 个".to_owned())])],
    };
    let paper = xuncha_report::summary(&fonts, &figures, "2024年第一轮", &ctx).unwrap();
    assert_eq!(paper.pages, 1);
    assert!(text(&paper.bytes).contains("发现问题3个"));
}

#[test]
fn the_same_record_makes_the_same_pdf() {
    let fonts = Fonts::load().expect("the bundled fonts (make setup)");
    let (fund, heads) = record(RecordKind::FundCheck, "上坪村到户补贴发放检查", &[]);
    let numbers = xuncha_domain::numbering::numbers(&[&fund]);
    let ctx = Context {
        mark: "",
        today: chrono::NaiveDate::from_ymd_opt(2024, 7, 2).unwrap(),
        names: &names,
        numbers: &numbers,
    };
    let a = xuncha_report::draft(&fonts, &fund, &heads, &[], &Attachments::new(), &ctx).unwrap();
    let b = xuncha_report::draft(&fonts, &fund, &heads, &[], &Attachments::new(), &ctx).unwrap();
    assert_eq!(a.bytes, b.bytes, "typesetting is deterministic");
    assert!(!text(&a.bytes).contains("内部资料"), "no mark when none is set");
}

#[test]
fn the_installed_fonts_are_the_pinned_release() {
    let fonts = Fonts::load().expect("the bundled fonts (make setup)");
    Fonts::verify(&fonts.dir).unwrap();
}
