//! The typed fields of a record and of its list items, their value types, and the values
//! themselves. Callers name fields with these enums; only `doc.rs` knows the document keys.

use serde::{Deserialize, Serialize};

use crate::codes::{RecordKind, Vocabulary};
use crate::division::Division;
use crate::error::DomainError;
use crate::money::{Mu, Yuan};

/// What kind of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum FieldType {
    Text,
    Money,
    Area,
    Flag,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    Choice(Vocabulary),
    Division,
    Gps,
}

impl FieldType {
    /// Parses what a person typed into a value of this type.
    pub fn parse(self, field: &str, input: &str) -> Result<Value, DomainError> {
        let bad = |expected: &str| DomainError::BadValue {
            field: field.to_owned(),
            input: input.to_owned(),
            expected: expected.to_owned(),
        };
        Ok(match self {
            FieldType::Text => Value::Text(input.to_owned()),
            FieldType::Money => Value::Money(input.parse()?),
            FieldType::Area => Value::Area(input.parse()?),
            FieldType::Flag => match input.trim() {
                "yes" | "true" | "1" | "是" | "y" => Value::Flag(true),
                "no" | "false" | "0" | "否" | "n" => Value::Flag(false),
                _ => return Err(bad("是/否 (yes/no)")),
            },
            FieldType::Date => {
                if !is_date(input.trim()) {
                    return Err(bad("日期 YYYY-MM-DD (a date, YYYY-MM-DD)"));
                }
                Value::Date(input.trim().to_owned())
            }
            FieldType::Choice(vocabulary) => match vocabulary.parse(input) {
                Some(code) => Value::Choice(code.to_owned()),
                None => return Err(bad(&vocabulary.codes())),
            },
            FieldType::Division => match Division::parse(input) {
                Some(division) => Value::Division(division),
                None => return Err(bad("区划代码:名称，如 110105001000:建外街道 (CODE:NAME)")),
            },
            FieldType::Gps => {
                let parsed = input.split_once(',').and_then(|(lat, lon)| {
                    Some(GeoPoint { lat: lat.trim().parse().ok()?, lon: lon.trim().parse().ok()?, accuracy_m: None })
                });
                match parsed {
                    Some(point) if point.is_plausible() => Value::Gps(point),
                    _ => return Err(bad("纬度,经度，如 39.9087,116.3975 (lat,lon)")),
                }
            }
        })
    }

    /// Whether `value` is of this type (and, for a choice, one of the vocabulary's codes).
    pub fn admits(self, value: &Value) -> bool {
        match (self, value) {
            (FieldType::Text, Value::Text(_))
            | (FieldType::Money, Value::Money(_))
            | (FieldType::Area, Value::Area(_))
            | (FieldType::Flag, Value::Flag(_))
            | (FieldType::Division, Value::Division(_)) => true,
            (FieldType::Date, Value::Date(date)) => is_date(date),
            (FieldType::Gps, Value::Gps(point)) => point.is_plausible(),
            (FieldType::Choice(vocabulary), Value::Choice(code)) => vocabulary.parse(code) == Some(code.as_str()),
            _ => false,
        }
    }
}

/// Whether `text` is a real calendar date written `YYYY-MM-DD`.
pub fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 || !text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d) && (1900..=2200).contains(&y)
}

/// A GPS point in WGS-84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
}

impl GeoPoint {
    /// Whether the point is a real place on Earth.
    pub fn is_plausible(&self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
            && self.accuracy_m.is_none_or(|a| a.is_finite() && a >= 0.0)
    }
}

impl std::fmt::Display for GeoPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.6},{:.6}", self.lat, self.lon)
    }
}

/// A typed field value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Value {
    Text(String),
    Money(Yuan),
    Area(Mu),
    Flag(bool),
    Date(String),
    /// A vocabulary code.
    Choice(String),
    Division(Division),
    Gps(GeoPoint),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Text(text) | Value::Date(text) | Value::Choice(text) => f.write_str(text),
            Value::Money(yuan) => write!(f, "{yuan}"),
            Value::Area(mu) => write!(f, "{mu}"),
            Value::Flag(flag) => f.write_str(if *flag { "是" } else { "否" }),
            Value::Division(division) => write!(f, "{division}"),
            Value::Gps(point) => write!(f, "{point}"),
        }
    }
}

/// The record kinds a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kinds {
    All,
    Only(RecordKind),
}

impl Kinds {
    /// Whether a record of `kind` has the field.
    pub fn contains(self, kind: RecordKind) -> bool {
        match self {
            Kinds::All => true,
            Kinds::Only(only) => only == kind,
        }
    }
}

/// Defines a set of typed fields: each with its document key, value type, the kinds it
/// belongs to, and its labels.
macro_rules! fields {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $variant:ident = $key:literal, $ty:expr, $kinds:expr, $zh:literal, $en:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        pub enum $name {
            $( #[doc = $zh] $variant, )+
        }

        impl $name {
            /// Every field, in display order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The key under which the field is stored; stable forever.
            pub fn key(self) -> &'static str {
                match self { $( $name::$variant => $key, )+ }
            }

            /// The type of the field's value.
            pub fn ty(self) -> FieldType {
                match self { $( $name::$variant => $ty, )+ }
            }

            /// Which record kinds have the field.
            pub fn kinds(self) -> Kinds {
                match self { $( $name::$variant => $kinds, )+ }
            }

            /// The Chinese label.
            pub fn zh(self) -> &'static str {
                match self { $( $name::$variant => $zh, )+ }
            }

            /// The English label.
            pub fn en(self) -> &'static str {
                match self { $( $name::$variant => $en, )+ }
            }

            /// Finds a field by its key or its Chinese label.
            pub fn parse(text: &str) -> Result<$name, DomainError> {
                let text = text.trim();
                $name::ALL.iter().copied().find(|f| f.key() == text || f.zh() == text).ok_or_else(|| {
                    DomainError::UnknownField {
                        input: text.to_owned(),
                        expected: $name::ALL.iter().map(|f| f.key()).collect::<Vec<_>>().join(", "),
                    }
                })
            }

            /// Parses what a person typed into a value for this field.
            pub fn parse_value(self, input: &str) -> Result<Value, DomainError> {
                self.ty().parse(self.key(), input)
            }
        }
    };
}

use FieldType as T;
use RecordKind as K;

fields! {
    /// A single-valued field of a record.
    Field {
        Title = "title", T::Text, Kinds::All, "标题", "Title";
        Round = "round", T::Text, Kinds::All, "巡察轮次", "Inspection round";
        Township = "township", T::Division, Kinds::All, "乡镇", "Township";
        Village = "village", T::Division, Kinds::All, "村", "Village";
        Team = "team", T::Text, Kinds::All, "巡察组", "Team";
        Location = "location", T::Gps, Kinds::All, "GPS 位置", "GPS location";
        FundName = "fund_name", T::Text, Kinds::Only(K::FundCheck), "资金或项目名称", "Fund or project";
        FundType = "fund_type", T::Choice(Vocabulary::FundType), Kinds::Only(K::FundCheck), "资金类型", "Fund type";
        Allocated = "allocated", T::Money, Kinds::Only(K::FundCheck), "拨付金额（元）", "Allocated (yuan)";
        Disbursed = "disbursed", T::Money, Kinds::Only(K::FundCheck), "发放金额（元）", "Disbursed (yuan)";
        ClueSource = "clue_source", T::Choice(Vocabulary::ClueSource), Kinds::Only(K::GangClue), "线索来源", "Clue source";
        Disposition = "disposition", T::Choice(Vocabulary::Disposition), Kinds::Only(K::GangClue), "处置方式", "Disposition";
        Outcome = "outcome", T::Choice(Vocabulary::Outcome), Kinds::Only(K::GangClue), "处理结果", "Outcome";
        LandRecovered = "land_recovered", T::Area, Kinds::Only(K::AssetCheck), "收回土地（亩）", "Land recovered (mu)";
        IncomeRecovered = "income_recovered", T::Money, Kinds::Only(K::AssetCheck), "增加集体收入（元/年）", "Collective income recovered (yuan/year)";
        FourWinds = "four_winds", T::Choice(Vocabulary::FourWinds), Kinds::Only(K::ConductIssue), "四风类别", "Four-winds category";
        Inaction = "inaction", T::Choice(Vocabulary::InactionType), Kinds::Only(K::ConductIssue), "为官不为类型", "Inaction type";
        AfterHours = "after_hours", T::Text, Kinds::Only(K::ConductIssue), "八小时以外行为", "After-hours conduct";
        Subject = "subject", T::Text, Kinds::Only(K::ConductIssue), "当事人", "Subject";
        Post = "post", T::Text, Kinds::Only(K::ConductIssue), "职务", "Post";
        Interviewee = "interviewee", T::Text, Kinds::Only(K::Talk), "被谈话人", "Person talked with";
        IntervieweeUnit = "interviewee_unit", T::Text, Kinds::Only(K::Talk), "工作单位", "Unit";
        IntervieweePost = "interviewee_post", T::Text, Kinds::Only(K::Talk), "职务", "Position";
        TalkDate = "talk_date", T::Date, Kinds::Only(K::Talk), "谈话日期", "Date of the talk";
        TalkTime = "talk_time", T::Text, Kinds::Only(K::Talk), "起止时间", "From and to";
        TalkPlace = "talk_place", T::Text, Kinds::Only(K::Talk), "谈话地点", "Place";
        Interviewers = "interviewers", T::Text, Kinds::Only(K::Talk), "谈话人", "Talked with by";
        Recorder = "recorder", T::Text, Kinds::Only(K::Talk), "记录人", "Written down by";
        ProblemsRaised = "problems_raised", T::Text, Kinds::Only(K::Talk), "反映的问题", "Problems raised";
        Channel = "channel", T::Choice(Vocabulary::PetitionChannel), Kinds::Only(K::Petition), "信访渠道", "Channel";
        ReceivedOn = "received_on", T::Date, Kinds::Only(K::Petition), "收件日期", "Received on";
        Reported = "reported", T::Text, Kinds::Only(K::Petition), "被反映人", "Person reported";
        ReportedUnit = "reported_unit", T::Text, Kinds::Only(K::Petition), "被反映人单位及职务", "Their unit and position";
        MainProblems = "main_problems", T::Text, Kinds::Only(K::Petition), "主要问题", "Main problems";
        Handling = "handling", T::Text, Kinds::Only(K::Petition), "办理情况", "How it was handled";
    }
}

/// The lists of items a record can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ItemList {
    /// 受益农户
    Beneficiaries,
    /// 涉及人员
    Subjects,
    /// 人员关系
    Relations,
    /// 合同
    Contracts,
    /// 谈话内容（问答）
    Turns,
}

impl ItemList {
    /// Every list.
    pub const ALL: &'static [ItemList] =
        &[ItemList::Beneficiaries, ItemList::Subjects, ItemList::Relations, ItemList::Contracts, ItemList::Turns];

    /// The key under which the list is stored.
    pub fn key(self) -> &'static str {
        match self {
            ItemList::Beneficiaries => "beneficiaries",
            ItemList::Subjects => "subjects",
            ItemList::Relations => "relations",
            ItemList::Contracts => "contracts",
            ItemList::Turns => "turns",
        }
    }

    /// The kind of record that has this list.
    pub fn kind(self) -> RecordKind {
        match self {
            ItemList::Beneficiaries => RecordKind::FundCheck,
            ItemList::Subjects | ItemList::Relations => RecordKind::GangClue,
            ItemList::Contracts => RecordKind::AssetCheck,
            ItemList::Turns => RecordKind::Talk,
        }
    }

    /// The Chinese label.
    pub fn zh(self) -> &'static str {
        match self {
            ItemList::Beneficiaries => "受益农户",
            ItemList::Subjects => "涉及人员",
            ItemList::Relations => "人员关系",
            ItemList::Contracts => "合同",
            ItemList::Turns => "谈话内容",
        }
    }

    /// Finds a list by its key.
    pub fn parse(text: &str) -> Result<ItemList, DomainError> {
        ItemList::ALL.iter().copied().find(|l| l.key() == text.trim()).ok_or_else(|| DomainError::UnknownField {
            input: text.to_owned(),
            expected: ItemList::ALL.iter().map(|l| l.key()).collect::<Vec<_>>().join(", "),
        })
    }

    /// The fields of an item of this list.
    pub fn fields(self) -> impl Iterator<Item = ItemField> {
        ItemField::ALL.iter().copied().filter(move |f| f.list() == self)
    }
}

fields! {
    /// A field of an item in one of a record's lists.
    ItemField {
        Head = "head", T::Text, Kinds::Only(K::FundCheck), "户主", "Head of household";
        Entitled = "entitled", T::Money, Kinds::Only(K::FundCheck), "应享金额（元）", "Entitled (yuan)";
        Received = "received", T::Money, Kinds::Only(K::FundCheck), "实领金额（元）", "Received (yuan)";
        Verified = "verified", T::Flag, Kinds::Only(K::FundCheck), "已入户核实", "Visited and verified";
        Remark = "remark", T::Text, Kinds::Only(K::FundCheck), "备注", "Remark";
        Name = "name", T::Text, Kinds::Only(K::GangClue), "姓名", "Name";
        Role = "role", T::Text, Kinds::Only(K::GangClue), "角色", "Role";
        IdNumber = "id_number", T::Text, Kinds::Only(K::GangClue), "身份证号", "ID number";
        Employer = "employer", T::Text, Kinds::Only(K::GangClue), "工作单位", "Employer";
        SubjectPost = "post", T::Text, Kinds::Only(K::GangClue), "职务", "Post";
        PoliticalStatus = "political_status", T::Choice(Vocabulary::PoliticalStatus), Kinds::Only(K::GangClue), "政治面貌", "Political status";
        PartyMember = "party_member", T::Flag, Kinds::Only(K::GangClue), "党员", "Party member";
        PublicOfficial = "public_official", T::Flag, Kinds::Only(K::GangClue), "公职人员", "Public official";
        Umbrella = "umbrella", T::Flag, Kinds::Only(K::GangClue), "是否“保护伞”", "Protective umbrella";
        From = "from", T::Text, Kinds::Only(K::GangClue), "人员甲", "From subject";
        To = "to", T::Text, Kinds::Only(K::GangClue), "人员乙", "To subject";
        RelationKind = "kind", T::Choice(Vocabulary::RelationKind), Kinds::Only(K::GangClue), "关系类型", "Relation";
        Note = "note", T::Text, Kinds::Only(K::GangClue), "说明", "Note";
        Number = "number", T::Text, Kinds::Only(K::AssetCheck), "合同编号", "Contract number";
        Counterparty = "counterparty", T::Text, Kinds::Only(K::AssetCheck), "承包方", "Counterparty";
        Object = "object", T::Choice(Vocabulary::ContractObject), Kinds::Only(K::AssetCheck), "标的", "Object";
        AreaMu = "area", T::Area, Kinds::Only(K::AssetCheck), "面积（亩）", "Area (mu)";
        AnnualFee = "annual_fee", T::Money, Kinds::Only(K::AssetCheck), "年承包费（元）", "Annual fee (yuan)";
        TermStart = "term_start", T::Date, Kinds::Only(K::AssetCheck), "起始日期", "Term start";
        TermEnd = "term_end", T::Date, Kinds::Only(K::AssetCheck), "终止日期", "Term end";
        Status = "status", T::Choice(Vocabulary::ContractStatus), Kinds::Only(K::AssetCheck), "合同状态", "Status";
        Question = "question", T::Text, Kinds::Only(K::Talk), "问", "Question";
        Answer = "answer", T::Text, Kinds::Only(K::Talk), "答", "Answer";
    }
}

impl ItemField {
    /// The list whose items have this field.
    pub fn list(self) -> ItemList {
        use ItemField::*;
        match self {
            Head | Entitled | Received | Verified | Remark => ItemList::Beneficiaries,
            Name | Role | IdNumber | Employer | SubjectPost | PoliticalStatus | PartyMember | PublicOfficial
            | Umbrella => ItemList::Subjects,
            From | To | RelationKind | Note => ItemList::Relations,
            Number | Counterparty | Object | AreaMu | AnnualFee | TermStart | TermEnd | Status => ItemList::Contracts,
            Question | Answer => ItemList::Turns,
        }
    }

    /// Finds a field of `list` by key or Chinese label (keys repeat across lists, e.g. `post`).
    pub fn parse_in(list: ItemList, text: &str) -> Result<ItemField, DomainError> {
        let text = text.trim();
        list.fields().find(|f| f.key() == text || f.zh() == text).ok_or_else(|| DomainError::UnknownField {
            input: text.to_owned(),
            expected: list.fields().map(|f| f.key()).collect::<Vec<_>>().join(", "),
        })
    }
}
