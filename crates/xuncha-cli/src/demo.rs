//! The demo district (清河区): three townships, nine villages and every kind of record with
//! realistic content, generated from a seed. Its totals reproduce the figures the
//! commission publishes: 10 party members investigated for gang involvement, 6 of them
//! expelled; 1,780 contracts rectified; 2,200 mu of land and 36 million yuan a year of
//! collective income recovered.

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use xuncha_domain::{
    Capacity, ClueSource, Conclusion, ContractObject, ContractStatus, Disposition, Division, Edit, Field, FourWinds,
    FundIssue, FundType, Handover, HandoverTo, InactionType, InformantField, ItemField, ItemId, ItemList, LedgerChange,
    Mu, NewRecord, Outcome, PetitionChannel, RecordId, RecordKind, RectifyKind, RelationKind, ReviewStatus, Value,
    Yuan,
};
use xuncha_domain::{DivisionEntry, RosterHousehold};
use xuncha_server::Storage;
use xuncha_server::admin::{self, NewTeam};
use xuncha_store::Store;

use crate::args::DemoArgs;

/// 2024-03-04 09:00 China Standard Time.
const START_MS: i64 = 1_709_514_000_000;
const HOUR_MS: i64 = 3_600_000;

const ROUND: &str = "2024年第一轮";
const TOWNSHIPS: &[(&str, &str, &[&str])] = &[
    ("330199101000", "东岭镇", &["上坪村", "石门村", "枫林村"]),
    ("330199102000", "西溪乡", &["溪口村", "竹坞村", "茶园村"]),
    ("330199103000", "南塘镇", &["塘头村", "新屋村", "马岭村"]),
];
const TEAMS: &[&str] = &["第一巡察组", "第二巡察组", "第三巡察组"];
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗",
    "郑",
];
const GIVEN: &[&str] = &[
    "大福", "桂兰", "春生", "秀英", "建国", "玉梅", "志强", "金花", "德明", "小红", "国平", "海燕", "长根", "菊香",
    "永福", "冬梅", "树林", "月娥", "水生", "爱华", "伟", "芳", "军", "敏", "勇", "静", "磊", "丽",
];
const POSTS: &[&str] =
    &["村党支部书记", "村委会主任", "村会计", "村委委员", "镇农办主任", "镇财政所副所长", "村民小组长"];
const COUNTERPARTIES: &[&str] =
    &["清河绿源农业合作社", "个体户", "东岭石料厂", "溪口竹制品厂", "南塘水产养殖场", "茶园合作社", "新屋物流公司"];

/// Informants carry compound surnames that no subject or household in the demo has, so a
/// search for one shows that protected names never reach the index.
const INFORMANT_SURNAMES: &[&str] = &["欧阳", "司马", "上官", "诸葛"];
const INFORMANT_GIVEN: &[&str] = &["振华", "淑珍", "卫东", "丽萍", "建华", "秀兰", "新民", "晓燕"];

/// Someone's name.
fn name(rng: &mut StdRng) -> String {
    format!("{}{}", SURNAMES.choose(rng).unwrap_or(&"王"), GIVEN.choose(rng).unwrap_or(&"伟"))
}

/// Splits `total` into `parts` positive shares that add up exactly.
fn split_exact(rng: &mut StdRng, total: i64, parts: usize) -> Vec<i64> {
    let weights: Vec<i64> = (0..parts).map(|_| rng.random_range(50..150)).collect();
    let sum: i64 = weights.iter().sum();
    let mut shares: Vec<i64> = weights.iter().map(|w| total * w / sum).collect();
    let remainder = total - shares.iter().sum::<i64>();
    if let Some(first) = shares.first_mut() {
        *first += remainder;
    }
    shares
}

struct Place {
    township: Division,
    village: Division,
    team: &'static str,
}

fn places() -> Vec<Place> {
    let mut out = Vec::new();
    for (t, (code, name, villages)) in TOWNSHIPS.iter().enumerate() {
        for (v, village) in villages.iter().enumerate() {
            out.push(Place {
                township: Division::new(*code, *name),
                village: Division::new(format!("{}{:03}", &code[..9], v + 1), *village),
                team: TEAMS[t % TEAMS.len()],
            });
        }
    }
    out
}

struct Builder {
    rng: StdRng,
    now: i64,
    records: Vec<(NewRecord, Vec<Edit>, i64)>,
    /// The workflow steps after submission, each made by whoever holds its capacity
    /// (副组长, 组长, 巡察办) on their own device, in order.
    steps: Vec<(Capacity, RecordId, Vec<Edit>, i64)>,
    informants: Vec<(RecordId, String, String)>,
}

impl Builder {
    fn id(&mut self) -> RecordId {
        let entropy: [u8; 10] = self.rng.random();
        RecordId::new(self.now, &entropy)
    }

    fn item(&mut self) -> ItemId {
        let entropy: [u8; 10] = self.rng.random();
        ItemId::new(self.now, &entropy)
    }

    fn tick(&mut self) {
        self.now += self.rng.random_range(1..6) * HOUR_MS;
    }

    fn new_record(&mut self, kind: RecordKind, title: String, place: &Place) -> NewRecord {
        self.tick();
        NewRecord {
            id: self.id(),
            kind,
            title,
            round: ROUND.to_owned(),
            township: Some(place.township.clone()),
            village: Some(place.village.clone()),
            team: place.team.to_owned(),
        }
    }

    fn push(&mut self, new: NewRecord, mut edits: Vec<Edit>, lifecycle: usize) {
        edits.push(Edit::Set {
            field: Field::Location,
            value: Some(Value::Gps(xuncha_domain::GeoPoint {
                lat: 28.6 + self.rng.random_range(0.0..0.3),
                lon: 115.8 + self.rng.random_range(0.0..0.3),
                accuracy_m: Some(8.0),
            })),
        });
        // Where the record's round has got to: every state of the workflow appears.
        let problem = xuncha_domain::workflow::is_problem(new.kind);
        let path: &[ReviewStatus] = match lifecycle % 9 {
            0 => &[],
            1 => &[ReviewStatus::Submitted],
            2 => &[ReviewStatus::Submitted, ReviewStatus::Returned],
            3 => &[ReviewStatus::Submitted, ReviewStatus::DeputyReviewed],
            4 => &[ReviewStatus::Submitted, ReviewStatus::DeputyReviewed, ReviewStatus::LeadSigned],
            5 if problem => &[
                ReviewStatus::Submitted,
                ReviewStatus::DeputyReviewed,
                ReviewStatus::LeadSigned,
                ReviewStatus::OfficeApproved,
                ReviewStatus::HandedOver,
            ],
            6 if problem => &[
                ReviewStatus::Submitted,
                ReviewStatus::DeputyReviewed,
                ReviewStatus::LeadSigned,
                ReviewStatus::OfficeApproved,
                ReviewStatus::Rectifying,
            ],
            7 if problem => &[
                ReviewStatus::Submitted,
                ReviewStatus::DeputyReviewed,
                ReviewStatus::LeadSigned,
                ReviewStatus::OfficeApproved,
                ReviewStatus::Rectifying,
                ReviewStatus::Rectified,
            ],
            _ => &[
                ReviewStatus::Submitted,
                ReviewStatus::DeputyReviewed,
                ReviewStatus::LeadSigned,
                ReviewStatus::OfficeApproved,
                ReviewStatus::Closed,
            ],
        };
        let mut at = self.now;
        for to in path {
            at += HOUR_MS;
            let (capacity, note) = match to {
                ReviewStatus::Submitted => (Capacity::Handler, ""),
                ReviewStatus::Returned => (Capacity::Deputy, "请补充入户核实的签字材料"),
                ReviewStatus::DeputyReviewed => (Capacity::Deputy, "材料齐全，同意报组长审签"),
                ReviewStatus::LeadSigned => (Capacity::Lead, "同意"),
                ReviewStatus::OfficeApproved => (Capacity::Office, "经核查，情况属实。"),
                ReviewStatus::HandedOver => (Capacity::Office, "涉嫌违纪，移交区纪委监委"),
                ReviewStatus::Rectifying => (Capacity::Office, "交被巡察党组织整改"),
                ReviewStatus::Rectified => (Capacity::Lead, "整改措施已落实，资金已退还，同意销号"),
                _ => (Capacity::Office, "情节轻微，已当场纠正，予以了结"),
            };
            let conclusion = (*to == ReviewStatus::OfficeApproved && problem).then_some(Conclusion::Confirmed);
            let handover = (*to == ReviewStatus::HandedOver).then(|| Handover {
                to: HandoverTo::Commission,
                unit: String::new(),
                number: format!("清巡移〔2024〕{}号", lifecycle + 1),
                date: xuncha_domain::workflow::date_of_ms(at),
            });
            let mut step = Vec::new();
            if *to == ReviewStatus::Rectified {
                // The team records what was done before closing it out (销号).
                step.push(Edit::AddProgress {
                    id: self.item(),
                    text: "已退还截留资金并张榜公示，相关责任人作书面检查".to_owned(),
                    attachments: Vec::new(),
                });
            }
            step.push(Edit::Transition { to: *to, capacity, note: note.to_owned(), conclusion, handover });
            if *to == ReviewStatus::Rectifying {
                // Deadlines from a month before the round ends to a month after: some overdue.
                let deadline =
                    xuncha_domain::workflow::date_of_ms(at + (lifecycle as i64 % 4 * 20 - 25) * 24 * HOUR_MS);
                step.push(Edit::Ledger {
                    change: LedgerChange {
                        unit: Some(format!("{}党总支", new.village.as_ref().map_or("", |v| v.name.as_str()))),
                        owner: Some(name(&mut self.rng)),
                        measures: Some("退还截留资金，完善公示和发放程序，对相关责任人批评教育".to_owned()),
                        deadline: Some(deadline),
                        kind: Some(if lifecycle.is_multiple_of(2) {
                            RectifyKind::Deadline
                        } else {
                            RectifyKind::Immediate
                        }),
                    },
                });
            }
            if capacity == Capacity::Handler {
                edits.extend(step);
            } else {
                self.steps.push((capacity, new.id, step, at));
            }
        }
        let now = self.now;
        self.records.push((new, edits, now));
    }
}

fn text(field: Field, value: impl Into<String>) -> Edit {
    Edit::Set { field, value: Some(Value::Text(value.into())) }
}

fn choice(field: Field, code: &str) -> Edit {
    Edit::Set { field, value: Some(Value::Choice(code.to_owned())) }
}

fn fund_checks(b: &mut Builder, places: &[Place]) {
    let types = [
        (FundType::HouseholdSubsidy, 2_000..5_000),
        (FundType::DilapidatedHousing, 15_000..35_000),
        (FundType::EducationAid, 1_000..3_000),
        (FundType::MinimumLiving, 3_600..6_000),
        (FundType::IndustrySupport, 5_000..20_000),
    ];
    let mut n = 0;
    for place in places {
        for _ in 0..4 {
            let (fund_type, range) = types[n % types.len()].clone();
            let title = format!("{}{}{}资金发放检查", place.village.name, 2023, fund_type.zh());
            let new = b.new_record(RecordKind::FundCheck, title, place);
            let households = b.rng.random_range(5..11);
            let withheld = n % 3 == 0;
            let mut allocated = 0;
            let mut disbursed = 0;
            let mut edits = vec![
                text(Field::FundName, format!("2023年度{}{}", place.township.name, fund_type.zh())),
                choice(Field::FundType, fund_type.code()),
            ];
            let mut shortfall_heads = Vec::new();
            for h in 0..households {
                let entitled = b.rng.random_range(range.clone()) * 100;
                let received = if withheld && h % 3 == 0 { entitled - entitled / 5 } else { entitled };
                allocated += entitled;
                disbursed += received;
                let head = name(&mut b.rng);
                let remark = if received < entitled {
                    shortfall_heads.push(head.clone());
                    format!("实领少于应享 {} 元，称被村里“统筹”", Yuan::from_fen(entitled - received))
                } else {
                    String::new()
                };
                let id = b.item();
                edits.push(Edit::InsertItem {
                    list: ItemList::Beneficiaries,
                    id,
                    values: vec![
                        (ItemField::Head, Value::Text(head)),
                        (ItemField::Entitled, Value::Money(Yuan::from_fen(entitled))),
                        (ItemField::Received, Value::Money(Yuan::from_fen(received))),
                        (ItemField::Verified, Value::Flag(h % 4 != 3)),
                        (ItemField::Remark, Value::Text(remark)),
                    ],
                });
            }
            edits.push(Edit::Set { field: Field::Allocated, value: Some(Value::Money(Yuan::from_fen(allocated))) });
            edits.push(Edit::Set { field: Field::Disbursed, value: Some(Value::Money(Yuan::from_fen(disbursed))) });
            let narrative = if withheld {
                edits.push(Edit::SetIssue { issue: FundIssue::WithheldShared, present: true });
                edits.push(Edit::SetIssue { issue: FundIssue::ProcedureViolation, present: true });
                edits.push(Edit::AddTag { tag: "重点关注".to_owned() });
                format!(
                    "巡察组入户走访{households}户，发现{}等农户实领金额少于应享金额，村委会以“统筹使用”为由截留部分补贴，未经村民代表会议讨论，发放程序不规范。",
                    shortfall_heads.join("、")
                )
            } else if n % 5 == 1 {
                edits.push(Edit::SetIssue { issue: FundIssue::Favouritism, present: true });
                format!("入户核实{households}户，其中1户为村干部近亲属，评定程序存在优亲厚友问题，资金已足额发放。")
            } else {
                format!("入户核实{households}户，补贴均已足额发放至“一卡通”，未发现截留挪用问题。")
            };
            edits.push(Edit::Narrative { text: narrative });
            b.push(new, edits, n);
            n += 1;
        }
    }
}

fn gang_clues(b: &mut Builder, places: &[Place]) {
    // (party members among the subjects, disposition): 10 party members, 6 of them expelled.
    let plan: [(usize, Disposition, Option<Outcome>, ClueSource); 8] = [
        (3, Disposition::PreliminaryCheck, Some(Outcome::Expelled), ClueSource::Patrol),
        (2, Disposition::PreliminaryCheck, Some(Outcome::Expelled), ClueSource::PetitionReport),
        (1, Disposition::PreliminaryCheck, Some(Outcome::Expelled), ClueSource::PetitionReport),
        (2, Disposition::PreliminaryCheck, Some(Outcome::Probation), ClueSource::AuditReferral),
        (1, Disposition::PreliminaryCheck, Some(Outcome::ToProcuratorate), ClueSource::PoliceReferral),
        (1, Disposition::TalkInquiry, None, ClueSource::Patrol),
        (0, Disposition::Concluded, None, ClueSource::Assigned),
        (0, Disposition::HeldPending, None, ClueSource::PetitionReport),
    ];
    let themes = [
        "强揽工程",
        "垄断砂石资源",
        "暴力拆迁",
        "把持基层选举",
        "欺行霸市",
        "非法采砂",
        "强收“保护费”",
        "插手土地流转",
    ];
    for (i, (party, disposition, outcome, source)) in plan.iter().enumerate() {
        let place = &places[(i * 2) % places.len()];
        let boss = name(&mut b.rng);
        let title = format!("{}{}等人{}线索", place.village.name, boss, themes[i]);
        let new = b.new_record(RecordKind::GangClue, title, place);
        let mut edits = vec![choice(Field::ClueSource, source.code()), choice(Field::Disposition, disposition.code())];
        if let Some(outcome) = outcome {
            edits.push(choice(Field::Outcome, outcome.code()));
        }
        let boss_id = b.item();
        edits.push(Edit::InsertItem {
            list: ItemList::Subjects,
            id: boss_id,
            values: vec![
                (ItemField::Name, Value::Text(boss.clone())),
                (ItemField::Role, Value::Text("涉恶团伙头目".into())),
                (ItemField::PartyMember, Value::Flag(false)),
                (ItemField::PublicOfficial, Value::Flag(false)),
            ],
        });
        let mut officials = Vec::new();
        for p in 0..*party {
            let id = b.item();
            let post = POSTS[(i + p) % POSTS.len()];
            edits.push(Edit::InsertItem {
                list: ItemList::Subjects,
                id,
                values: vec![
                    (ItemField::Name, Value::Text(name(&mut b.rng))),
                    (ItemField::Role, Value::Text("涉嫌充当“保护伞”".into())),
                    (ItemField::PartyMember, Value::Flag(true)),
                    (ItemField::PublicOfficial, Value::Flag(true)),
                    (ItemField::SubjectPost, Value::Text(post.into())),
                ],
            });
            officials.push(id);
        }
        for official in &officials {
            let rel = b.item();
            edits.push(Edit::InsertItem {
                list: ItemList::Relations,
                id: rel,
                values: vec![
                    (ItemField::From, Value::Text(official.to_string())),
                    (ItemField::To, Value::Text(boss_id.to_string())),
                    (ItemField::RelationKind, Value::Choice(RelationKind::ProtectiveUmbrella.code().into())),
                    (ItemField::Note, Value::Text("多次通风报信，收受财物".into())),
                ],
            });
        }
        edits.push(Edit::Narrative {
            text: format!(
                "群众反映{boss}长期在{}一带{}，{}。巡察组调阅相关合同及村务档案，走访群众12人，线索已移交{}。",
                place.village.name,
                themes[i],
                if *party > 0 {
                    format!("有{party}名党员干部涉嫌为其提供庇护")
                } else {
                    "暂未发现公职人员参与".to_owned()
                },
                disposition.zh()
            ),
        });
        let id = new.id;
        b.push(new, edits, i + 1);
        let informant = format!(
            "{}{}",
            INFORMANT_SURNAMES[i % INFORMANT_SURNAMES.len()],
            INFORMANT_GIVEN[i % INFORMANT_GIVEN.len()]
        );
        b.informants.push((id, informant, format!("13{:09}", b.rng.random_range(0..1_000_000_000u64))));
    }
}

fn asset_checks(b: &mut Builder, places: &[Place]) {
    let checks = places.len() * 4;
    let rectified = split_exact(&mut b.rng, 1_780, checks);
    let land = split_exact(&mut b.rng, 2_200 * 100, checks);
    let income = split_exact(&mut b.rng, 36_000_000 * 100, checks);
    let mut n = 0;
    for place in places {
        for _ in 0..4 {
            let title = format!("{}集体“三资”清理核查（第{}批）", place.village.name, n % 4 + 1);
            let new = b.new_record(RecordKind::AssetCheck, title, place);
            let mut edits = vec![
                Edit::Set { field: Field::LandRecovered, value: Some(Value::Area(Mu::from_hundredths(land[n]))) },
                Edit::Set { field: Field::IncomeRecovered, value: Some(Value::Money(Yuan::from_fen(income[n]))) },
            ];
            let compliant = b.rng.random_range(8..20);
            let open = b.rng.random_range(0..4);
            let total = usize::try_from(rectified[n]).unwrap_or(0) + compliant + open;
            for c in 0..total {
                let status = if c < usize::try_from(rectified[n]).unwrap_or(0) {
                    ContractStatus::Rectified
                } else if c < total - open {
                    ContractStatus::Compliant
                } else {
                    ContractStatus::NonCompliant
                };
                let object =
                    [ContractObject::Land, ContractObject::Land, ContractObject::Building, ContractObject::Facility]
                        [c % 4];
                let start_year = b.rng.random_range(2005..2020);
                let id = b.item();
                edits.push(Edit::InsertItem {
                    list: ItemList::Contracts,
                    id,
                    values: vec![
                        (
                            ItemField::Number,
                            Value::Text(format!("{}-{}-{:03}", &place.village.code[6..], start_year, c + 1)),
                        ),
                        (
                            ItemField::Counterparty,
                            Value::Text(if c % 3 == 0 {
                                name(&mut b.rng)
                            } else {
                                (*COUNTERPARTIES.choose(&mut b.rng).unwrap_or(&"个体户")).to_owned()
                            }),
                        ),
                        (ItemField::Object, Value::Choice(object.code().into())),
                        (ItemField::AreaMu, Value::Area(Mu::from_hundredths(b.rng.random_range(200..8_000)))),
                        (ItemField::AnnualFee, Value::Money(Yuan::from_yuan(b.rng.random_range(800..60_000)))),
                        (ItemField::TermStart, Value::Date(format!("{start_year}-01-01"))),
                        (ItemField::TermEnd, Value::Date(format!("{}-12-31", start_year + b.rng.random_range(5..30)))),
                        (ItemField::Status, Value::Choice(status.code().into())),
                    ],
                });
            }
            edits.push(Edit::Narrative {
                text: format!(
                    "清查集体合同{total}份，其中{}份存在租金过低、期限超长、未经民主程序等问题，已督促整改并重新签订；收回被侵占集体土地{}亩，每年增加集体收入{}元。",
                    rectified[n],
                    Mu::from_hundredths(land[n]),
                    Yuan::from_fen(income[n])
                ),
            });
            b.push(new, edits, n);
            n += 1;
        }
    }
}

fn conduct_issues(b: &mut Builder, places: &[Place]) {
    let cases = [
        (Some(FourWinds::Formalism), None, "填表报数多、督查检查频繁，基层负担重"),
        (Some(FourWinds::Bureaucratism), Some(InactionType::BuckPassing), "群众办事多次往返，部门之间推诿扯皮"),
        (None, Some(InactionType::Idleness), "对村民反映的饮水问题长期不回应"),
        (Some(FourWinds::Hedonism), None, "工作日午间饮酒"),
        (Some(FourWinds::Extravagance), None, "违规公款宴请，超标准接待"),
        (None, Some(InactionType::Delay), "危房改造验收拖延半年"),
    ];
    for (i, place) in places.iter().enumerate() {
        for j in 0..2 {
            let (winds, inaction, summary) = cases[(i * 2 + j) % cases.len()];
            let subject = name(&mut b.rng);
            let post = POSTS[(i + j) % POSTS.len()];
            let new = b.new_record(RecordKind::ConductIssue, format!("{post}{subject}{summary}"), place);
            let mut edits = vec![text(Field::Subject, subject.clone()), text(Field::Post, post)];
            if let Some(winds) = winds {
                edits.push(choice(Field::FourWinds, winds.code()));
            }
            if let Some(inaction) = inaction {
                edits.push(choice(Field::Inaction, inaction.code()));
            }
            if winds == Some(FourWinds::Hedonism) {
                edits.push(text(Field::AfterHours, "八小时以外经常出入私人会所打牌"));
            }
            edits.push(Edit::Narrative {
                text: format!("经走访了解，{post}{subject}存在{summary}的问题，群众反映强烈。"),
            });
            b.push(new, edits, i + j);
        }
    }
}

/// 个别谈话 and 信访件 of the round, each cited by the problem it led to.
fn talks_and_petitions(b: &mut Builder, places: &[Place]) {
    let problems: Vec<usize> = b
        .records
        .iter()
        .enumerate()
        .filter(|(_, (new, ..))| matches!(new.kind, RecordKind::FundCheck | RecordKind::ConductIssue))
        .map(|(i, _)| i)
        .step_by(5)
        .collect();
    let channels = [PetitionChannel::Letter, PetitionChannel::Visit, PetitionChannel::Online, PetitionChannel::Phone];
    for (n, at) in problems.into_iter().enumerate() {
        let place = &places[n % places.len()];
        let cited_title = b.records[at].0.title.clone();
        let (source, edits) = if n % 2 == 0 {
            let person = name(&mut b.rng);
            let new =
                b.new_record(RecordKind::Talk, format!("与{}村干部{person}的个别谈话", place.village.name), place);
            let day = Value::Date(xuncha_domain::workflow::date_of_ms(b.now));
            let mut edits = vec![
                text(Field::Interviewee, person),
                text(Field::IntervieweeUnit, format!("{}村民委员会", place.village.name)),
                text(Field::IntervieweePost, "村委会委员"),
                Edit::Set { field: Field::TalkDate, value: Some(day) },
                text(Field::TalkTime, "09:30—10:40"),
                text(Field::TalkPlace, format!("{}巡察组驻地谈话室", place.township.name)),
                text(Field::Interviewers, "演示组长、演示巡察员"),
                text(Field::Recorder, "演示巡察员"),
                text(Field::ProblemsRaised, format!("反映“{cited_title}”所涉资金发放不透明")),
            ];
            for (question, answer) in [
                ("你对村里补贴发放情况是否了解？", "听农户说过有的钱没有发足，村里说是统筹了。"),
                ("统筹的资金用在了哪里？", "没有上过村民代表会议，账上也没公示。"),
            ] {
                edits.push(Edit::InsertItem {
                    list: ItemList::Turns,
                    id: b.item(),
                    values: vec![
                        (ItemField::Question, Value::Text(question.into())),
                        (ItemField::Answer, Value::Text(answer.into())),
                    ],
                });
            }
            (new, edits)
        } else {
            let title = format!("关于{}补贴发放问题的信访件", place.village.name);
            let new = b.new_record(RecordKind::Petition, title, place);
            let day = Value::Date(xuncha_domain::workflow::date_of_ms(b.now));
            let edits = vec![
                choice(Field::Channel, channels[n % channels.len()].code()),
                Edit::Set { field: Field::ReceivedOn, value: Some(day) },
                text(Field::Reported, name(&mut b.rng)),
                text(Field::ReportedUnit, format!("{}村委会主任", place.village.name)),
                text(Field::MainProblems, format!("反映村干部截留补贴，涉及“{cited_title}”")),
                text(Field::Handling, "已转巡察组核实，列入问题清单"),
            ];
            let petitioner = name(&mut b.rng);
            b.informants.push((new.id, petitioner, "138****0000".to_owned()));
            (new, edits)
        };
        let source_id = source.id;
        b.push(source, edits, n);
        b.records[at].1.insert(0, Edit::Cite { source: source_id });
    }
}

fn extra(b: &mut Builder, places: &[Place], count: u32) {
    for n in 0..count {
        let place = &places[n as usize % places.len()];
        let new = b.new_record(RecordKind::FundCheck, format!("{}补充核查记录{n}", place.village.name), place);
        let households = b.rng.random_range(1..4);
        let mut edits =
            vec![text(Field::FundName, "2023年度到户补贴"), choice(Field::FundType, FundType::HouseholdSubsidy.code())];
        for _ in 0..households {
            let id = b.item();
            let head = name(&mut b.rng);
            edits.push(Edit::InsertItem {
                list: ItemList::Beneficiaries,
                id,
                values: vec![
                    (ItemField::Head, Value::Text(head)),
                    (ItemField::Entitled, Value::Money(Yuan::from_yuan(3_000))),
                ],
            });
        }
        edits.push(Edit::Narrative { text: format!("补充核查第{n}号，入户{households}户。") });
        b.push(new, edits, 0);
    }
}

/// What `xuncha demo` does on a device: on an inspector's, the records as their author
/// makes them (up to 待审核); on the 副组长's, the 组长's and a supervisor's, the workflow
/// steps they take on the demo records the device has received (审核, 审签, 巡察办审核, 移交,
/// 整改); on a device not enrolled with any server, all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoPart {
    Records,
    Steps(Capacity),
    Both,
}

impl DemoPart {
    /// The part for a device, from the role it enrolled with and its user's place in the
    /// demo team.
    pub fn of(store: &Store) -> Result<DemoPart> {
        let user = store.identity().user_id.to_string();
        let in_team = store.teams()?.iter().find_map(|t| t.role_of(&user));
        Ok(match (store.sync_value("role")?.as_deref(), in_team) {
            (None, _) => DemoPart::Both,
            (Some("supervisor"), _) => DemoPart::Steps(Capacity::Office),
            (_, Some(xuncha_domain::TeamRole::Deputy)) => DemoPart::Steps(Capacity::Deputy),
            (_, Some(xuncha_domain::TeamRole::Lead)) => DemoPart::Steps(Capacity::Lead),
            _ => DemoPart::Records,
        })
    }
}

/// Fills `store` with the demo district (see [`DemoPart`]).
pub fn populate(store: &mut Store, args: &DemoArgs) -> Result<()> {
    let part = DemoPart::of(store)?;
    let places = places();
    let mut b = Builder {
        rng: StdRng::seed_from_u64(args.seed),
        now: START_MS,
        records: Vec::new(),
        steps: Vec::new(),
        informants: Vec::new(),
    };
    fund_checks(&mut b, &places);
    gang_clues(&mut b, &places);
    asset_checks(&mut b, &places);
    conduct_issues(&mut b, &places);
    talks_and_petitions(&mut b, &places);
    extra(&mut b, &places, args.extra);
    if let DemoPart::Steps(capacity) = part {
        return take_steps(store, &b.steps, &[capacity]);
    }
    let bar = ProgressBar::new(b.records.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("演示数据 demo {bar:40} {pos}/{len} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for batch in b.records.chunks(200) {
        store.create_records(batch)?;
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    for (id, informant, contact) in &b.informants {
        store.set_informant(
            *id,
            &[(InformantField::Name, Some(informant.as_str())), (InformantField::Contact, Some(contact.as_str()))],
            b.now,
        )?;
    }
    if part == DemoPart::Both {
        take_steps(store, &b.steps, &[Capacity::Deputy, Capacity::Lead, Capacity::Office])?;
    }
    Ok(())
}

/// The workflow steps made in `capacities`, on records this device holds, in order; a
/// record whose earlier steps have not reached this device yet waits for them.
fn take_steps(
    store: &mut Store,
    steps: &[(Capacity, RecordId, Vec<Edit>, i64)],
    capacities: &[Capacity],
) -> Result<()> {
    let mut missing = 0;
    let mine: Vec<_> = steps.iter().filter(|(c, ..)| capacities.contains(c)).collect();
    for (_, id, edits, at) in &mine {
        if store.record(*id).is_err() {
            missing += 1;
            continue;
        }
        let Some((to, capacity)) = edits.iter().find_map(|e| match e {
            Edit::Transition { to, capacity, .. } => Some((to, capacity)),
            _ => None,
        }) else {
            continue;
        };
        let status = store.record(*id)?.read().review.status;
        if xuncha_domain::workflow::rule_for(store.record(*id)?.kind(), status, *to)
            .is_none_or(|r| r.who.first != *capacity && r.who.or != Some(*capacity))
        {
            // Already taken (a second run), or its earlier steps are not here yet.
            continue;
        }
        store.edit(*id, edits, *at)?;
    }
    if missing == mine.len() && missing > 0 {
        anyhow::bail!(
            "此设备上没有演示记录：请先在巡察员设备上运行 xuncha demo 并同步，再在此同步 / no demo records on this device: run xuncha demo on an inspector's device and sync, then sync here first"
        );
    }
    Ok(())
}

/// The demo district's divisions: province, city, district, the three townships of the
/// demo records and their villages, and a fourth township for a second team.
fn demo_divisions() -> Vec<DivisionEntry> {
    let entry = |code: &str, name: &str, parent: &str| DivisionEntry {
        code: code.to_owned(),
        name: name.to_owned(),
        parent: parent.to_owned(),
    };
    let mut out = vec![
        entry("330000000000", "浙江省", ""),
        entry("330100000000", "杭州市", "330000000000"),
        entry("330199000000", "清河区", "330100000000"),
        entry("330199104000", "北峰镇", "330199000000"),
        entry("330199104001", "峰下村", "330199104000"),
    ];
    for (code, name, villages) in TOWNSHIPS {
        out.push(entry(code, name, "330199000000"));
        for (v, village) in villages.iter().enumerate() {
            out.push(entry(&format!("{}{:03}", &code[..9], v + 1), village, code));
        }
    }
    out
}

/// A valid 18-digit ID number (GB 11643 check digit) for a demo household.
fn id_number(rng: &mut StdRng) -> String {
    let body = format!(
        "330199{}{:02}{:02}{:03}",
        rng.random_range(1940..2000),
        rng.random_range(1..13),
        rng.random_range(1..29),
        rng.random_range(0..1000)
    );
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body.bytes().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

/// `xuncha admin demo`: the demo round on a server: the divisions, the round, its teams
/// (the demo inspector and team lead in 第一巡察组) and a 到户补贴 roster for every village
/// of 东岭镇. The users demo-inspector, demo-lead and demo-supervisor are added if missing.
pub fn round(storage: &dyn Storage, seed: u64, now_ms: i64) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let users = admin::users(storage).map_err(|e| anyhow::anyhow!("{e}"))?;
    for (id, name, role) in [
        ("demo-inspector", "演示巡察员", xuncha_protocol::Role::Inspector),
        ("demo-lead", "演示组长", xuncha_protocol::Role::TeamLead),
        ("demo-deputy", "演示副组长", xuncha_protocol::Role::TeamLead),
        ("demo-lead2", "北峰组组长", xuncha_protocol::Role::TeamLead),
        ("demo-supervisor", "演示审核人", xuncha_protocol::Role::Supervisor),
    ] {
        if users.iter().all(|u| u.id != id) {
            admin::add_user(storage, id, name, role, "330199000000", now_ms).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    let fail = |e: xuncha_server::StorageError| anyhow::anyhow!("{e}");
    admin::import_divisions(storage, &demo_divisions(), now_ms).map_err(fail)?;
    admin::add_round(
        storage,
        ROUND,
        "2024-03-01",
        "2024-05-31",
        &["东岭镇党委".into(), "西溪乡党委".into(), "南塘镇党委".into()],
        now_ms,
    )
    .map_err(fail)?;
    let first = NewTeam {
        name: TEAMS[0].into(),
        round: ROUND.into(),
        lead: "demo-lead".into(),
        deputies: vec!["demo-deputy".into()],
        members: vec!["demo-inspector".into()],
        places: TOWNSHIPS.iter().map(|(code, _, _)| (*code).to_owned()).collect(),
        units: vec!["东岭镇党委".into(), "西溪乡党委".into(), "南塘镇党委".into()],
    };
    admin::add_team(storage, &first, now_ms).map_err(fail)?;
    let second = NewTeam {
        name: "北峰巡察组".into(),
        round: ROUND.into(),
        lead: "demo-lead2".into(),
        places: vec!["330199104000".into()],
        ..NewTeam::default()
    };
    admin::add_team(storage, &second, now_ms).map_err(fail)?;
    let (code, _, villages) = TOWNSHIPS[0];
    for v in 0..villages.len() {
        let households = (0..24)
            .map(|_| RosterHousehold {
                head: name(&mut rng),
                id_number: id_number(&mut rng),
                account: format!("62170{:011}", rng.random_range(0..100_000_000_000u64)),
                entitled: Yuan::from_yuan(rng.random_range(10..40) * 100),
                paid_on: "2024-01-15".into(),
                group: format!("{}组", ["一", "二", "三", "四"].choose(&mut rng).unwrap_or(&"一")),
                phone: format!("138{:08}", rng.random_range(0..100_000_000u32)),
            })
            .collect();
        let village = format!("{}{:03}", &code[..9], v + 1);
        admin::import_roster(storage, &village, "到户补贴", households, now_ms).map_err(fail)?;
    }
    Ok(())
}
