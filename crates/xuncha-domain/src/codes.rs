//! The closed vocabularies of the commission's work programme (fund types, issue types,
//! dispositions, review statuses, ...), each with its stored code and its zh-CN and English label.

use serde::{Deserialize, Serialize};

/// Defines a closed vocabulary: a Rust enum whose values are stored as stable snake_case
/// codes, each with a Chinese and an English label.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $variant:ident = $code:literal, $zh:literal, $en:literal; )+
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
            /// Every value, in the order the work programme lists them.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The code stored in documents and databases; stable forever.
            pub fn code(self) -> &'static str {
                match self { $( $name::$variant => $code, )+ }
            }

            /// The Chinese label shown to inspectors.
            pub fn zh(self) -> &'static str {
                match self { $( $name::$variant => $zh, )+ }
            }

            /// The English label.
            pub fn en(self) -> &'static str {
                match self { $( $name::$variant => $en, )+ }
            }

            /// Parses a stored code, or a Chinese or English label.
            pub fn parse(text: &str) -> Option<$name> {
                let text = text.trim();
                $name::ALL.iter().copied().find(|v| {
                    v.code() == text || v.zh() == text || v.en().eq_ignore_ascii_case(text)
                })
            }

            /// The accepted codes, for error messages.
            pub fn codes() -> String {
                $name::ALL.iter().map(|v| format!("{} ({})", v.code(), v.zh())).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}

vocabulary! {
    /// The kind of an inspection record.
    RecordKind {
        FundCheck = "fund_check", "扶贫资金检查", "Poverty-alleviation fund check";
        GangClue = "gang_clue", "涉黑涉恶线索", "Gang-related clue";
        AssetCheck = "asset_check", "农村集体三资核查", "Collective asset check";
        ConductIssue = "conduct_issue", "作风问题", "Conduct issue";
    }
}

vocabulary! {
    /// The type of a poverty-alleviation fund.
    FundType {
        HouseholdSubsidy = "household_subsidy", "到户补贴", "Household subsidy";
        IndustrySupport = "industry_support", "产业扶贫", "Industry support";
        DilapidatedHousing = "dilapidated_housing", "危房改造", "Dilapidated housing renovation";
        EducationAid = "education_aid", "教育资助", "Education aid";
        MinimumLiving = "minimum_living", "低保", "Minimum living allowance";
        Other = "other", "其他", "Other";
    }
}

vocabulary! {
    /// An irregularity found in the handling of a fund.
    FundIssue {
        WithheldShared = "withheld_shared", "截留私分", "Withheld and shared out";
        FalseClaims = "false_claims", "虚报冒领", "False claims";
        Favouritism = "favouritism", "优亲厚友", "Favouring relatives and friends";
        Misappropriation = "misappropriation", "挪用", "Misappropriation";
        EmbezzledSubsidies = "embezzled_subsidies", "侵吞惠民补贴", "Embezzling subsidies";
        Extortion = "extortion", "吃拿卡要", "Extortion";
        ProcedureViolation = "procedure_violation", "程序不规范", "Procedure violations";
    }
}

vocabulary! {
    /// How two subjects of a gang clue are related.
    RelationKind {
        ProtectiveUmbrella = "protective_umbrella", "保护伞", "Protective umbrella";
        Kin = "kin", "亲属", "Kin";
        BenefitTransfer = "benefit_transfer", "利益输送", "Benefit transfer";
        Other = "other", "其他", "Other";
    }
}

vocabulary! {
    /// The political status (政治面貌) of a subject of a gang clue.
    PoliticalStatus {
        PartyMember = "party_member", "中共党员", "CPC member";
        Probationary = "probationary", "中共预备党员", "Probationary CPC member";
        LeagueMember = "league_member", "共青团员", "Communist Youth League member";
        DemocraticParty = "democratic_party", "民主党派", "Member of a democratic party";
        Masses = "masses", "群众", "No party affiliation";
    }
}

impl PoliticalStatus {
    /// Whether the status makes the person subject to Party discipline (full and probationary members).
    pub fn is_party_member(self) -> bool {
        matches!(self, PoliticalStatus::PartyMember | PoliticalStatus::Probationary)
    }
}

vocabulary! {
    /// Where a gang clue came from.
    ClueSource {
        Petition = "petition", "信访", "Petition";
        DisciplineCase = "discipline_case", "执纪", "Discipline case";
        Audit = "audit", "审计", "Audit";
        Patrol = "patrol", "巡察", "Patrol";
        Report = "report", "举报", "Report";
    }
}

vocabulary! {
    /// What was decided about a gang clue.
    Disposition {
        PreliminaryCheck = "preliminary_check", "初核", "Preliminary check";
        CaseOpened = "case_opened", "立案调查", "Case opened";
        ExpelledFromParty = "expelled_from_party", "开除党籍", "Expelled from the Party";
        TransferredToJudiciary = "transferred_to_judiciary", "移送司法", "Transferred to the judiciary";
        NotFiled = "not_filed", "不予立案", "Not filed";
    }
}

vocabulary! {
    /// What a collective contract lets out.
    ContractObject {
        Land = "land", "土地", "Land";
        Building = "building", "房屋", "Building";
        Facility = "facility", "设施", "Facility";
    }
}

vocabulary! {
    /// Whether a collective contract is in order.
    ContractStatus {
        Compliant = "compliant", "规范", "Compliant";
        NonCompliant = "non_compliant", "不规范", "Non-compliant";
        Rectified = "rectified", "已整改", "Rectified";
    }
}

vocabulary! {
    /// The "four winds" category of a conduct issue.
    FourWinds {
        Formalism = "formalism", "形式主义", "Formalism";
        Bureaucratism = "bureaucratism", "官僚主义", "Bureaucratism";
        Hedonism = "hedonism", "享乐主义", "Hedonism";
        Extravagance = "extravagance", "奢靡之风", "Extravagance";
    }
}

vocabulary! {
    /// The form of official inaction (为官不为).
    InactionType {
        Idleness = "idleness", "懒政怠政", "Idleness";
        BuckPassing = "buck_passing", "推诿扯皮", "Passing the buck";
        Perfunctory = "perfunctory", "敷衍塞责", "Perfunctory work";
        Delay = "delay", "拖延办理", "Delay";
        Other = "other", "其他", "Other";
    }
}

vocabulary! {
    /// Where a record is in review, in the order of DESIGN.md section 2.
    ReviewStatus {
        Draft = "draft", "草稿", "Draft";
        Submitted = "submitted", "待审核", "Submitted";
        NeedsMore = "needs_more", "需补充", "Needs more evidence";
        Verified = "verified", "已核实", "Verified";
        CaseFiled = "case_filed", "已立案", "Case filed";
        NotPursued = "not_pursued", "不予立案", "Not pursued";
        Closed = "closed", "已结案", "Closed";
    }
}

impl ReviewStatus {
    /// The statuses a record may move to from this one.
    pub fn next(self) -> &'static [ReviewStatus] {
        use ReviewStatus::*;
        match self {
            Draft => &[Submitted],
            Submitted => &[NeedsMore, Verified],
            NeedsMore => &[Submitted, Verified],
            Verified => &[CaseFiled, NotPursued, NeedsMore],
            CaseFiled => &[Closed],
            NotPursued => &[Closed],
            Closed => &[],
        }
    }

    /// Whether a reviewer (not the inspector) makes this transition.
    pub fn is_review_decision(self) -> bool {
        !matches!(self, ReviewStatus::Draft | ReviewStatus::Submitted)
    }
}

/// Which closed vocabulary a field draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Vocabulary {
    FundType,
    RelationKind,
    ClueSource,
    Disposition,
    ContractObject,
    ContractStatus,
    FourWinds,
    InactionType,
    PoliticalStatus,
}

impl Vocabulary {
    /// Normalises `text` (a code or a label) to the stored code, if it is one of the vocabulary's.
    pub fn parse(self, text: &str) -> Option<&'static str> {
        match self {
            Vocabulary::FundType => FundType::parse(text).map(FundType::code),
            Vocabulary::RelationKind => RelationKind::parse(text).map(RelationKind::code),
            Vocabulary::ClueSource => ClueSource::parse(text).map(ClueSource::code),
            Vocabulary::Disposition => Disposition::parse(text).map(Disposition::code),
            Vocabulary::ContractObject => ContractObject::parse(text).map(ContractObject::code),
            Vocabulary::ContractStatus => ContractStatus::parse(text).map(ContractStatus::code),
            Vocabulary::FourWinds => FourWinds::parse(text).map(FourWinds::code),
            Vocabulary::InactionType => InactionType::parse(text).map(InactionType::code),
            Vocabulary::PoliticalStatus => PoliticalStatus::parse(text).map(PoliticalStatus::code),
        }
    }

    /// The accepted codes, for error messages.
    pub fn codes(self) -> String {
        match self {
            Vocabulary::FundType => FundType::codes(),
            Vocabulary::RelationKind => RelationKind::codes(),
            Vocabulary::ClueSource => ClueSource::codes(),
            Vocabulary::Disposition => Disposition::codes(),
            Vocabulary::ContractObject => ContractObject::codes(),
            Vocabulary::ContractStatus => ContractStatus::codes(),
            Vocabulary::FourWinds => FourWinds::codes(),
            Vocabulary::InactionType => InactionType::codes(),
            Vocabulary::PoliticalStatus => PoliticalStatus::codes(),
        }
    }

    /// The Chinese label of a stored code, or the code itself when it is unknown
    /// (a record written by a newer version).
    pub fn zh(self, code: &str) -> String {
        let label = match self {
            Vocabulary::FundType => FundType::parse(code).map(FundType::zh),
            Vocabulary::RelationKind => RelationKind::parse(code).map(RelationKind::zh),
            Vocabulary::ClueSource => ClueSource::parse(code).map(ClueSource::zh),
            Vocabulary::Disposition => Disposition::parse(code).map(Disposition::zh),
            Vocabulary::ContractObject => ContractObject::parse(code).map(ContractObject::zh),
            Vocabulary::ContractStatus => ContractStatus::parse(code).map(ContractStatus::zh),
            Vocabulary::FourWinds => FourWinds::parse(code).map(FourWinds::zh),
            Vocabulary::InactionType => InactionType::parse(code).map(InactionType::zh),
            Vocabulary::PoliticalStatus => PoliticalStatus::parse(code).map(PoliticalStatus::zh),
        };
        label.map_or_else(|| code.to_owned(), str::to_owned)
    }
}
