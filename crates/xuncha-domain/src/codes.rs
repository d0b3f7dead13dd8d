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
        Talk = "talk", "谈话记录", "Talk record";
        Petition = "petition", "信访件登记", "Petition register";
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

impl RecordKind {
    /// Whether records of this kind name a protected person, sealed on the device (a gang
    /// clue's informant 举报人, a petition's petitioner 反映人).
    pub fn has_protected_person(self) -> bool {
        matches!(self, RecordKind::GangClue | RecordKind::Petition)
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
        PetitionReport = "petition_report", "信访举报", "Letters, visits and reports";
        Patrol = "patrol", "巡察发现", "Found by the patrol";
        AuditReferral = "audit_referral", "审计移送", "Referred by audit";
        PoliceReferral = "police_referral", "公安机关移送", "Referred by the police";
        Assigned = "assigned", "上级交办", "Assigned from above";
        Other = "other", "其他", "Other";
    }
}

impl ClueSource {
    /// The source a code written before the 巡察 vocabulary (layout 1) stands for.
    pub fn upgrade(code: &str) -> Option<ClueSource> {
        Some(match code.trim() {
            "petition" | "report" | "信访" | "举报" => ClueSource::PetitionReport,
            "audit" | "审计" => ClueSource::AuditReferral,
            "巡察" => ClueSource::Patrol,
            "discipline_case" | "执纪" => ClueSource::Other,
            _ => return None,
        })
    }
}

vocabulary! {
    /// The four ways of disposing of a clue (问题线索处置方式) under the supervision rules.
    Disposition {
        TalkInquiry = "talk_inquiry", "谈话函询", "Talk or written inquiry";
        PreliminaryCheck = "preliminary_check", "初步核实", "Preliminary verification";
        HeldPending = "held_pending", "暂存待查", "Held for later";
        Concluded = "concluded", "予以了结", "Concluded";
    }
}

impl Disposition {
    /// The disposition, and the outcome it implied, that a code written before the 巡察
    /// vocabulary (layout 1) stands for: 立案调查, 开除党籍 and 移送司法 all followed a
    /// preliminary verification, and the last two are outcomes (处理结果), not ways.
    pub fn upgrade(code: &str) -> Option<(Disposition, Option<Outcome>)> {
        Some(match code.trim() {
            "case_opened" | "立案调查" | "初核" => (Disposition::PreliminaryCheck, None),
            "expelled_from_party" => (Disposition::PreliminaryCheck, Some(Outcome::Expelled)),
            "transferred_to_judiciary" | "移送司法" => {
                (Disposition::PreliminaryCheck, Some(Outcome::ToProcuratorate))
            }
            "not_filed" | "不予立案" => (Disposition::Concluded, None),
            _ => return None,
        })
    }
}

vocabulary! {
    /// What came of a clue (处理结果): a Party or government sanction, or a referral.
    Outcome {
        Warning = "warning", "警告", "Warning";
        SeriousWarning = "serious_warning", "严重警告", "Serious warning";
        RemovedFromPost = "removed_from_post", "撤销党内职务", "Removed from Party post";
        Probation = "probation", "留党察看", "Party probation";
        Expelled = "expelled", "开除党籍", "Expelled from the Party";
        GovernmentSanction = "government_sanction", "政务处分", "Government sanction";
        ToProcuratorate = "to_procuratorate", "移送检察机关", "Referred to the procuratorate";
        ToPolice = "to_police", "移送公安机关", "Referred to the police";
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
    /// Where a record is in the 巡察 workflow (`workflow` says who moves it where).
    ReviewStatus {
        Draft = "draft", "草稿", "Draft";
        Submitted = "submitted", "待审核", "Submitted";
        DeputyReviewed = "deputy_reviewed", "副组长已审核", "Reviewed by the deputy lead";
        LeadSigned = "lead_signed", "组长已审签", "Signed off by the team lead";
        Returned = "returned", "退回补充", "Returned for more";
        OfficeApproved = "office_approved", "巡察办已审核", "Approved by the office";
        HandedOver = "handed_over", "已移交", "Handed over";
        Rectifying = "rectifying", "整改中", "Being rectified";
        Rectified = "rectified", "已销号", "Rectified and closed out";
        Closed = "closed", "予以了结", "Closed";
    }
}

impl ReviewStatus {
    /// A status as stored: a code of this vocabulary, or one written before the 巡察
    /// workflow (layout 1, the statuses of case investigation), read as the state it
    /// stands for: 需补充 is 退回补充, 已核实 is 巡察办已审核, 已立案 was a hand-over to the
    /// commission, and 不予立案 and 已结案 end the record.
    pub fn from_stored(code: &str) -> Option<ReviewStatus> {
        ReviewStatus::parse(code).or(match code.trim() {
            "needs_more" => Some(ReviewStatus::Returned),
            "verified" => Some(ReviewStatus::OfficeApproved),
            "case_filed" => Some(ReviewStatus::HandedOver),
            "not_pursued" => Some(ReviewStatus::Closed),
            _ => None,
        })
    }

    /// Whether the record's work is over (nothing follows).
    pub fn is_final(self) -> bool {
        matches!(self, ReviewStatus::HandedOver | ReviewStatus::Rectified | ReviewStatus::Closed)
    }

    /// Whether the office has approved the record (a found problem, counted upward).
    pub fn is_approved(self) -> bool {
        matches!(
            self,
            ReviewStatus::OfficeApproved
                | ReviewStatus::HandedOver
                | ReviewStatus::Rectifying
                | ReviewStatus::Rectified
                | ReviewStatus::Closed
        )
    }
}

vocabulary! {
    /// The verification conclusion of a problem (核实结论).
    Conclusion {
        Confirmed = "confirmed", "属实", "Confirmed";
        PartlyConfirmed = "partly_confirmed", "部分属实", "Partly confirmed";
        Unfounded = "unfounded", "不属实", "Unfounded";
        Unverifiable = "unverifiable", "无法核实", "Cannot be verified";
    }
}

vocabulary! {
    /// Whom a 问题线索 is handed over to (移交).
    HandoverTo {
        Commission = "commission", "纪委监委", "Discipline commission";
        Organization = "organization", "组织部", "Organization department";
        Police = "police", "公安机关", "Police";
        Other = "other", "其他", "Other";
    }
}

vocabulary! {
    /// The kind of a rectification (整改类型).
    RectifyKind {
        Immediate = "immediate", "立行立改", "Fix at once";
        Deadline = "deadline", "限期整改", "Fix by a deadline";
        LongTerm = "long_term", "长期坚持", "Ongoing";
    }
}

vocabulary! {
    /// How a petition came in (信访渠道).
    PetitionChannel {
        Letter = "letter", "来信", "Letter";
        Visit = "visit", "来访", "Visit";
        Online = "online", "网络", "Online";
        Phone = "phone", "电话", "Phone";
    }
}

vocabulary! {
    /// In what capacity someone signs a record.
    SignerRole {
        Handler = "handler", "承办人", "Case handler";
        Deputy = "deputy", "副组长", "Deputy team lead";
        Lead = "lead", "组长", "Team lead";
        Interviewee = "interviewee", "被谈话人", "Person talked with";
        Household = "household", "农户", "Household";
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
    Outcome,
    PetitionChannel,
}

impl Vocabulary {
    /// Normalises `text` (a code or a label) to the stored code, if it is one of the vocabulary's.
    pub fn parse(self, text: &str) -> Option<&'static str> {
        match self {
            Vocabulary::FundType => FundType::parse(text).map(FundType::code),
            Vocabulary::RelationKind => RelationKind::parse(text).map(RelationKind::code),
            Vocabulary::ClueSource => {
                ClueSource::parse(text).or_else(|| ClueSource::upgrade(text)).map(ClueSource::code)
            }
            Vocabulary::Disposition => {
                Disposition::parse(text).or_else(|| Disposition::upgrade(text).map(|(d, _)| d)).map(Disposition::code)
            }
            Vocabulary::ContractObject => ContractObject::parse(text).map(ContractObject::code),
            Vocabulary::ContractStatus => ContractStatus::parse(text).map(ContractStatus::code),
            Vocabulary::FourWinds => FourWinds::parse(text).map(FourWinds::code),
            Vocabulary::InactionType => InactionType::parse(text).map(InactionType::code),
            Vocabulary::PoliticalStatus => PoliticalStatus::parse(text).map(PoliticalStatus::code),
            Vocabulary::Outcome => Outcome::parse(text).map(Outcome::code),
            Vocabulary::PetitionChannel => PetitionChannel::parse(text).map(PetitionChannel::code),
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
            Vocabulary::Outcome => Outcome::codes(),
            Vocabulary::PetitionChannel => PetitionChannel::codes(),
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
            Vocabulary::Outcome => Outcome::parse(code).map(Outcome::zh),
            Vocabulary::PetitionChannel => PetitionChannel::parse(code).map(PetitionChannel::zh),
        };
        label.map_or_else(|| code.to_owned(), str::to_owned)
    }
}

impl Vocabulary {
    /// The code a value stored before the 巡察 vocabularies (layout 1) is read as; other
    /// codes are returned as they are.
    pub fn upgrade(self, code: &str) -> String {
        let upgraded = match self {
            Vocabulary::ClueSource => ClueSource::upgrade(code).map(ClueSource::code),
            Vocabulary::Disposition => Disposition::upgrade(code).map(|(d, _)| d.code()),
            _ => None,
        };
        upgraded.map_or_else(|| code.to_owned(), str::to_owned)
    }
}
