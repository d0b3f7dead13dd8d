//! The 巡察 workflow, one state machine for every kind of record: 草稿 → 待审核 (the 承办人
//! submits) → 副组长审核 → 组长审签 (either may send it back, 退回补充, with a reason) →
//! 巡察办审核 → 已移交, 整改中 → 已销号, or 予以了结.
//!
//! Who may make each step is a function of the person's standing toward the record (role,
//! place in the record's team): the app asks it what to offer, the server asks it of every
//! uploaded step, so no client skips a level. The rectification ledger's deadline lights
//! (green, yellow, red) are here too, computed from dates passed in.

use serde::{Deserialize, Serialize};

use crate::ErrorCode;
use crate::codes::{Conclusion, HandoverTo, RecordKind, RectifyKind, ReviewStatus, SignerRole};
use crate::edit::AttachmentRef;
use crate::ids::{ItemId, RecordId};
use crate::reference::{Reader, TeamRole};
use crate::rules::{Refusal, refuse};

/// In what capacity a person makes a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Capacity {
    /// 承办人: a member of the team (or the record's creator) who submits.
    Handler,
    /// 副组长: reviews (审核).
    Deputy,
    /// 组长: signs off (审签).
    Lead,
    /// 巡察办: approves and disposes.
    Office,
}

impl Capacity {
    pub fn zh(self) -> &'static str {
        match self {
            Capacity::Handler => "承办人",
            Capacity::Deputy => "副组长",
            Capacity::Lead => "组长",
            Capacity::Office => "巡察办",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            Capacity::Handler => "the case handler",
            Capacity::Deputy => "the deputy team lead",
            Capacity::Lead => "the team lead",
            Capacity::Office => "the patrol office (a supervisor)",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Capacity::Handler => "handler",
            Capacity::Deputy => "deputy",
            Capacity::Lead => "lead",
            Capacity::Office => "office",
        }
    }

    pub fn parse(code: &str) -> Option<Capacity> {
        [Capacity::Handler, Capacity::Deputy, Capacity::Lead, Capacity::Office].into_iter().find(|c| c.code() == code)
    }
}

/// A person's standing toward one record: their role, and their place in the team the
/// record belongs to (`None` when they are not in it, or the record has no team).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub reader: Reader,
    pub team_role: Option<TeamRole>,
    /// Whether the record's team has a 副组长 (if not, its 组长 also reviews).
    pub team_has_deputy: bool,
}

impl Standing {
    /// A standing from the role alone (no team known).
    pub fn of_role(reader: Reader) -> Standing {
        Standing { reader, team_role: None, team_has_deputy: false }
    }

    /// The standing of `user` toward a record. `team` is the record's team when the user
    /// is in it or it is otherwise known; `record_has_team` says whether the record belongs
    /// to a team at all (one the user is not in makes them an outsider: no field role);
    /// `in_any_team` whether the user is in any team. On a record of no team, a field user
    /// handles it, and a team lead in no team at all (a district that has not set up teams)
    /// leads it, with no deputy.
    pub fn of(
        user: &str,
        reader: Reader,
        team: Option<&crate::reference::Team>,
        record_has_team: bool,
        in_any_team: bool,
    ) -> Standing {
        let in_field = matches!(reader, Reader::Inspector | Reader::TeamLead);
        match team {
            Some(team) => {
                Standing { reader, team_role: team.role_of(user), team_has_deputy: !team.deputies.is_empty() }
            }
            None if record_has_team || !in_field => Standing::of_role(reader),
            None if !in_any_team && reader == Reader::TeamLead => {
                Standing { reader, team_role: Some(TeamRole::Lead), team_has_deputy: false }
            }
            None => Standing { reader, team_role: Some(TeamRole::Member), team_has_deputy: false },
        }
    }

    /// Whether the person may act in `capacity` on the record.
    pub fn can_act_as(self, capacity: Capacity) -> bool {
        let in_field = matches!(self.reader, Reader::Inspector | Reader::TeamLead);
        let lead = self.team_role == Some(TeamRole::Lead);
        match capacity {
            Capacity::Handler => in_field && self.team_role.is_some(),
            Capacity::Deputy => {
                in_field && (self.team_role == Some(TeamRole::Deputy) || (lead && !self.team_has_deputy))
            }
            Capacity::Lead => in_field && lead,
            Capacity::Office => self.reader == Reader::Supervisor,
        }
    }
}

/// Who may make a step: one capacity, or either of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Who {
    pub first: Capacity,
    pub or: Option<Capacity>,
}

impl Who {
    const fn one(capacity: Capacity) -> Who {
        Who { first: capacity, or: None }
    }

    const fn either(first: Capacity, or: Capacity) -> Who {
        Who { first, or: Some(or) }
    }

    /// The capacity `standing` makes the step in, if it may.
    pub fn capacity_of(self, standing: Standing) -> Option<Capacity> {
        [Some(self.first), self.or].into_iter().flatten().find(|c| standing.can_act_as(*c))
    }

    pub fn zh(self) -> String {
        match self.or {
            Some(or) => format!("{}或{}", self.first.zh(), or.zh()),
            None => self.first.zh().to_owned(),
        }
    }

    pub fn en(self) -> String {
        match self.or {
            Some(or) => format!("{} or {}", self.first.en(), or.en()),
            None => self.first.en().to_owned(),
        }
    }
}

/// One step the workflow allows, and what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Rule {
    pub from: ReviewStatus,
    pub to: ReviewStatus,
    pub who: Who,
    /// A reason is required (退回补充, 予以了结, 销号).
    pub needs_note: bool,
    /// A verification conclusion is required (for problems, at the office's approval).
    pub needs_conclusion: bool,
    /// Whom, by which 文号 and when it was handed over.
    pub needs_handover: bool,
    /// Only problem records (not talks or petitions) take this step.
    pub problems_only: bool,
}

const fn rule(from: ReviewStatus, to: ReviewStatus, who: Who) -> Rule {
    Rule { from, to, who, needs_note: false, needs_conclusion: false, needs_handover: false, problems_only: false }
}

/// Every step of the workflow.
pub const RULES: &[Rule] = {
    use Capacity::*;
    use ReviewStatus::*;
    &[
        rule(Draft, Submitted, Who::one(Handler)),
        rule(Returned, Submitted, Who::one(Handler)),
        rule(Submitted, DeputyReviewed, Who::one(Deputy)),
        Rule { needs_note: true, ..rule(Submitted, Returned, Who::either(Deputy, Lead)) },
        rule(DeputyReviewed, LeadSigned, Who::one(Lead)),
        Rule { needs_note: true, ..rule(DeputyReviewed, Returned, Who::one(Lead)) },
        Rule { needs_conclusion: true, ..rule(LeadSigned, OfficeApproved, Who::one(Office)) },
        Rule { needs_note: true, ..rule(LeadSigned, Returned, Who::one(Office)) },
        Rule { needs_handover: true, problems_only: true, ..rule(OfficeApproved, HandedOver, Who::one(Office)) },
        Rule { problems_only: true, ..rule(OfficeApproved, Rectifying, Who::one(Office)) },
        Rule { needs_note: true, ..rule(OfficeApproved, Closed, Who::one(Office)) },
        Rule { needs_note: true, ..rule(Rectifying, Rectified, Who::either(Lead, Office)) },
    ]
};

/// Whether records of `kind` are problems (问题), as opposed to their sources (talks,
/// petitions): only problems carry a conclusion, are handed over or rectified.
pub fn is_problem(kind: RecordKind) -> bool {
    !matches!(kind, RecordKind::Talk | RecordKind::Petition)
}

/// The steps from `from` that a record of `kind` may take, whoever makes them.
pub fn rules_from(kind: RecordKind, from: ReviewStatus) -> impl Iterator<Item = &'static Rule> {
    RULES.iter().filter(move |r| r.from == from && (is_problem(kind) || !r.problems_only))
}

/// The rule for the step `from` → `to`, if there is one for records of `kind`.
pub fn rule_for(kind: RecordKind, from: ReviewStatus, to: ReviewStatus) -> Option<&'static Rule> {
    rules_from(kind, from).find(|r| r.to == to)
}

/// A hand-over (移交) of a 问题线索.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Handover {
    pub to: HandoverTo,
    /// The receiving unit, in words (required for 其他).
    #[serde(default)]
    pub unit: String,
    /// 移交文号.
    pub number: String,
    /// 移交日期, `YYYY-MM-DD`.
    pub date: String,
}

/// A step asked for: where to, and what comes with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Asked<'a> {
    pub note: &'a str,
    pub conclusion: Option<Conclusion>,
    pub handover: Option<&'a Handover>,
}

/// Whether `standing` may take a record of `kind` from `from` to `to` with what is asked;
/// returns the capacity the step is made in. `conclusion` is the record's conclusion
/// before the step (a step may also bring one).
pub fn permit(
    standing: Standing,
    kind: RecordKind,
    from: ReviewStatus,
    to: ReviewStatus,
    asked: &Asked<'_>,
    conclusion: Option<Conclusion>,
) -> Result<Capacity, Refusal> {
    let rule = find_rule(kind, from, to)?;
    let Some(capacity) = rule.who.capacity_of(standing) else {
        return Err(not_yours(rule));
    };
    check_needs(rule, kind, asked, conclusion)?;
    check_conclusion_by(capacity, asked)?;
    Ok(capacity)
}

/// Whether a step made in `capacity` is one the workflow has, with what it needs (the
/// document checks this on every edit; who the person is, `permit` checks).
pub fn check_step(
    kind: RecordKind,
    from: ReviewStatus,
    to: ReviewStatus,
    capacity: Capacity,
    asked: &Asked<'_>,
    conclusion: Option<Conclusion>,
) -> Result<(), Refusal> {
    let rule = find_rule(kind, from, to)?;
    if rule.who.first != capacity && rule.who.or != Some(capacity) {
        return Err(not_yours(rule));
    }
    check_needs(rule, kind, asked, conclusion)?;
    check_conclusion_by(capacity, asked)
}

/// A verification conclusion is the reviewers' (副组长, 组长, 巡察办), never the handler's.
fn check_conclusion_by(capacity: Capacity, asked: &Asked<'_>) -> Result<(), Refusal> {
    if capacity == Capacity::Handler && asked.conclusion.is_some() {
        return Err(refuse(
            ErrorCode::ConclusionByReviewer,
            "核实结论由副组长、组长或巡察办给出，承办人提交时不能填写",
            "a verification conclusion is given by the deputy lead, the team lead or the office, not by the handler submitting",
        ));
    }
    Ok(())
}

fn not_yours(rule: &Rule) -> Refusal {
    Refusal {
        who: Some(rule.who),
        ..refuse(
            ErrorCode::TransitionRole,
            format!("只有{}可以把记录从“{}”改为“{}”", rule.who.zh(), rule.from.zh(), rule.to.zh()),
            format!("only {} can move a record from {} to {}", rule.who.en(), rule.from.en(), rule.to.en()),
        )
    }
}

fn find_rule(kind: RecordKind, from: ReviewStatus, to: ReviewStatus) -> Result<&'static Rule, Refusal> {
    let Some(rule) = rule_for(kind, from, to) else {
        let allowed: Vec<String> =
            rules_from(kind, from).map(|r| format!("{}（{}）", r.to.zh(), r.to.code())).collect();
        let (zh_next, en_next) = if allowed.is_empty() {
            ("此后没有下一步".to_owned(), "nothing follows".to_owned())
        } else {
            (format!("可转为：{}", allowed.join("、")), format!("it can go to: {}", allowed.join(", ")))
        };
        return Err(refuse(
            ErrorCode::Transition,
            format!("记录不能从“{}”改为“{}”（{zh_next}；可能已被他人处理，请同步后查看）", from.zh(), to.zh()),
            format!(
                "a record cannot go from {} to {} ({en_next}; it may have been handled meanwhile: sync and look)",
                from.en(),
                to.en()
            ),
        ));
    };
    Ok(rule)
}

fn check_needs(
    rule: &Rule,
    kind: RecordKind,
    asked: &Asked<'_>,
    conclusion: Option<Conclusion>,
) -> Result<(), Refusal> {
    let to = rule.to;
    if rule.needs_note && asked.note.trim().is_empty() {
        return Err(refuse(
            ErrorCode::NoteRequired,
            format!("“{}”须写明理由", to.zh()),
            format!("moving a record to {} needs a reason (a note)", to.en()),
        ));
    }
    if rule.needs_conclusion && is_problem(kind) && asked.conclusion.or(conclusion).is_none() {
        return Err(refuse(
            ErrorCode::ConclusionRequired,
            format!(
                "“{}”须给出核实结论（{}）",
                to.zh(),
                Conclusion::ALL.iter().map(|c| c.zh()).collect::<Vec<_>>().join(" / ")
            ),
            format!(
                "moving a record to {} needs a verification conclusion ({})",
                to.en(),
                Conclusion::ALL.iter().map(|c| c.en()).collect::<Vec<_>>().join(" / ")
            ),
        ));
    }
    if rule.needs_handover {
        let complete = asked.handover.is_some_and(|h| {
            !h.number.trim().is_empty()
                && crate::field::is_date(h.date.trim())
                && (h.to != HandoverTo::Other || !h.unit.trim().is_empty())
        });
        if !complete {
            return Err(refuse(
                ErrorCode::HandoverRequired,
                "移交须写明移交对象（其他单位须写单位名称）、移交文号和移交日期（YYYY-MM-DD）",
                "a hand-over needs whom it goes to (the unit's name for 其他), its document number and its date (YYYY-MM-DD)",
            ));
        }
    }
    Ok(())
}

/// The edit that takes `record` to `to`, made by `standing`, or why they may not.
pub fn transition(
    standing: Standing,
    record: &crate::record::Record,
    to: ReviewStatus,
    note: &str,
    conclusion: Option<Conclusion>,
    handover: Option<Handover>,
) -> Result<crate::edit::Edit, Refusal> {
    let asked = Asked { note, conclusion, handover: handover.as_ref() };
    let capacity = permit(standing, record.kind, record.review.status, to, &asked, record.review.conclusion)?;
    Ok(crate::edit::Edit::Transition { to, capacity, note: note.trim().to_owned(), conclusion, handover })
}

/// A step a person may take now, for the app's buttons and `record transitions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct NextStep {
    pub to: ReviewStatus,
    pub who: Who,
    /// Whether the person asking may take it.
    pub allowed: bool,
    pub needs_note: bool,
    pub needs_conclusion: bool,
    pub needs_handover: bool,
}

/// The steps that follow the record's status, each with whether `standing` may take it.
pub fn next_steps(standing: Standing, kind: RecordKind, status: ReviewStatus) -> Vec<NextStep> {
    rules_from(kind, status)
        .map(|rule| NextStep {
            to: rule.to,
            who: rule.who,
            allowed: rule.who.capacity_of(standing).is_some(),
            needs_note: rule.needs_note,
            needs_conclusion: rule.needs_conclusion && is_problem(kind),
            needs_handover: rule.needs_handover,
        })
        .collect()
}

/// One step taken, as the record keeps it: who, in what capacity, when, on which
/// version of the record, and with what.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Step {
    /// The step's key in the document (its time and the writing device's actor).
    pub id: String,
    pub from: ReviewStatus,
    pub to: ReviewStatus,
    pub by: String,
    pub capacity: Capacity,
    pub at_ms: i64,
    pub note: String,
    /// The heads (hex change hashes) of the record the step was taken on.
    pub heads: Vec<String>,
    pub conclusion: Option<Conclusion>,
    pub handover: Option<Handover>,
    /// The id of the step this one followed (empty for the first).
    pub prev: String,
    /// Whether the record's content changed after the step (it covers an older version).
    pub void: bool,
}

impl Step {
    /// Whether two readings are the same step as taken (voiding follows from later edits).
    pub fn same_as(&self, other: &Step) -> bool {
        (
            &self.id,
            self.from,
            self.to,
            &self.by,
            self.capacity,
            self.at_ms,
            &self.note,
            &self.conclusion,
            &self.handover,
        ) == (
            &other.id,
            other.from,
            other.to,
            &other.by,
            other.capacity,
            other.at_ms,
            &other.note,
            &other.conclusion,
            &other.handover,
        )
    }
}

/// A signature on the record (签字), bound to the version it was given on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Signature {
    pub id: ItemId,
    pub role: SignerRole,
    /// The name of the person who signed (the 被谈话人, a household head, or the user).
    pub signer: String,
    /// The user whose device took the signature.
    pub by: String,
    pub at_ms: i64,
    pub heads: Vec<String>,
    /// The signature as a picture (PNG), or a photo of a thumbprint (按手印).
    pub image: AttachmentRef,
    /// The pen strokes as JSON (empty for a photo).
    pub strokes: String,
    /// Whether the record's content changed after the signature.
    pub void: bool,
}

/// A progress entry of a rectification (整改进展), with its 佐证材料.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Progress {
    pub id: ItemId,
    pub text: String,
    pub by: String,
    pub at_ms: i64,
    pub attachments: Vec<AttachmentRef>,
}

/// The rectification ledger entry of a problem (整改台账).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Rectification {
    /// 责任单位
    pub unit: String,
    /// 责任人
    pub owner: String,
    /// 整改措施
    pub measures: String,
    /// 整改时限, `YYYY-MM-DD`.
    pub deadline: Option<String>,
    pub kind: Option<RectifyKind>,
    pub progress: Vec<Progress>,
}

impl Rectification {
    /// Whether nothing has been entered yet.
    pub fn is_empty(&self) -> bool {
        self.unit.is_empty()
            && self.owner.is_empty()
            && self.measures.is_empty()
            && self.deadline.is_none()
            && self.kind.is_none()
            && self.progress.is_empty()
    }
}

/// What may change in the ledger (each `Some` is set; an empty text clears).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LedgerChange {
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub measures: Option<String>,
    #[serde(default)]
    pub deadline: Option<String>,
    #[serde(default)]
    pub kind: Option<RectifyKind>,
}

/// A record this one cites as a source (a talk, a petition, another record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Citation {
    pub record: RecordId,
    pub by: String,
    pub at_ms: i64,
}

/// How close a rectification is to its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Light {
    /// More than 20 days left.
    Green,
    /// 20 days or fewer left.
    Yellow,
    /// 10 days or fewer left, or overdue.
    Red,
}

impl Light {
    pub fn zh(self) -> &'static str {
        match self {
            Light::Green => "绿灯",
            Light::Yellow => "黄灯",
            Light::Red => "红灯",
        }
    }
}

/// Days from `from` to `to` (both `YYYY-MM-DD`); negative when `to` is earlier.
pub fn days_between(from: &str, to: &str) -> Option<i64> {
    Some(day_number(to)? - day_number(from)?)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (the proleptic Gregorian calendar).
pub fn day_number(date: &str) -> Option<i64> {
    if !crate::field::is_date(date) {
        return None;
    }
    let y: i64 = date[0..4].parse().ok()?;
    let m: i64 = date[5..7].parse().ok()?;
    let d: i64 = date[8..10].parse().ok()?;
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The date (`YYYY-MM-DD`, UTC+8, the commission's calendar) of a time in milliseconds.
pub fn date_of_ms(ms: i64) -> String {
    let days = (ms + 8 * 3_600_000).div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The light of a rectification due on `deadline`, seen on `today`: red with 10 days or
/// fewer left (or overdue), yellow with 20 or fewer, else green. `None` without a
/// readable deadline.
pub fn light(deadline: &str, today: &str) -> Option<Light> {
    let left = days_between(today, deadline)?;
    Some(if left <= 10 {
        Light::Red
    } else if left <= 20 {
        Light::Yellow
    } else {
        Light::Green
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_days_across_months_years_and_leap_days() {
        assert_eq!(day_number("1970-01-01"), Some(0));
        assert_eq!(days_between("2024-02-28", "2024-03-01"), Some(2));
        assert_eq!(days_between("2023-02-28", "2023-03-01"), Some(1));
        assert_eq!(days_between("2024-12-31", "2025-01-01"), Some(1));
        assert_eq!(days_between("2024-05-01", "2024-04-30"), Some(-1));
        assert_eq!(days_between("2024-13-01", "2024-04-30"), None);
        for ms in [0, 1_709_251_200_000, 1_735_660_800_000 - 8 * 3_600_000, 4_102_444_800_000] {
            let date = date_of_ms(ms);
            assert_eq!(day_number(&date), Some((ms + 8 * 3_600_000).div_euclid(86_400_000)), "{date}");
        }
        // Midnight in Beijing is 16:00 UTC the day before.
        assert_eq!(date_of_ms(1_709_222_400_000), "2024-03-01");
        assert_eq!(date_of_ms(1_709_222_400_000 - 1), "2024-02-29");
    }

    #[test]
    fn lights_turn_yellow_at_twenty_days_and_red_at_ten() {
        assert_eq!(light("2024-06-30", "2024-06-01"), Some(Light::Green));
        assert_eq!(light("2024-06-21", "2024-06-01"), Some(Light::Yellow));
        assert_eq!(light("2024-06-11", "2024-06-01"), Some(Light::Red));
        assert_eq!(light("2024-06-12", "2024-06-01"), Some(Light::Yellow));
        assert_eq!(light("2024-05-01", "2024-06-01"), Some(Light::Red));
        assert_eq!(light("", "2024-06-01"), None);
    }

    #[test]
    fn each_level_is_its_own_and_a_team_without_a_deputy_has_its_lead_review() {
        let inspector =
            Standing { reader: Reader::Inspector, team_role: Some(TeamRole::Member), team_has_deputy: true };
        let deputy = Standing { team_role: Some(TeamRole::Deputy), ..inspector };
        let lead = Standing { reader: Reader::TeamLead, team_role: Some(TeamRole::Lead), team_has_deputy: true };
        let office = Standing::of_role(Reader::Supervisor);
        use ReviewStatus::*;
        let k = RecordKind::FundCheck;
        let no = Asked::default();
        assert!(permit(inspector, k, Draft, Submitted, &no, None).is_ok());
        assert_eq!(permit(inspector, k, Submitted, DeputyReviewed, &no, None).unwrap_err().code, "transition_role");
        assert_eq!(permit(deputy, k, Submitted, DeputyReviewed, &no, None), Ok(Capacity::Deputy));
        assert_eq!(permit(lead, k, Submitted, DeputyReviewed, &no, None).unwrap_err().code, "transition_role");
        let lone_lead = Standing { team_has_deputy: false, ..lead };
        assert_eq!(permit(lone_lead, k, Submitted, DeputyReviewed, &no, None), Ok(Capacity::Deputy));
        assert_eq!(permit(lead, k, DeputyReviewed, LeadSigned, &no, None), Ok(Capacity::Lead));
        assert_eq!(permit(office, k, DeputyReviewed, LeadSigned, &no, None).unwrap_err().code, "transition_role");
        assert_eq!(permit(deputy, k, Submitted, Returned, &no, None).unwrap_err().code, "note_required");
        let why = Asked { note: "缺少发放凭证", ..Asked::default() };
        assert!(permit(deputy, k, Submitted, Returned, &why, None).is_ok());
        assert_eq!(permit(office, k, LeadSigned, OfficeApproved, &no, None).unwrap_err().code, "conclusion_required");
        let concluded = Asked { conclusion: Some(Conclusion::Confirmed), ..Asked::default() };
        assert!(permit(office, k, LeadSigned, OfficeApproved, &concluded, None).is_ok());
        assert!(permit(office, RecordKind::Talk, LeadSigned, OfficeApproved, &no, None).is_ok());
        assert_eq!(permit(office, k, OfficeApproved, HandedOver, &no, None).unwrap_err().code, "handover_required");
        let handover = Handover {
            to: HandoverTo::Commission,
            unit: String::new(),
            number: "清巡移〔2024〕3号".into(),
            date: "2024-05-20".into(),
        };
        let handed = Asked { handover: Some(&handover), ..Asked::default() };
        assert!(permit(office, k, OfficeApproved, HandedOver, &handed, None).is_ok());
        assert_eq!(
            permit(office, RecordKind::Petition, OfficeApproved, HandedOver, &handed, None).unwrap_err().code,
            "transition"
        );
        assert_eq!(permit(office, k, Draft, OfficeApproved, &concluded, None).unwrap_err().code, "transition");
        assert!(permit(lead, k, Rectifying, Rectified, &why, None).is_ok());
        assert_eq!(permit(inspector, k, Rectifying, Rectified, &why, None).unwrap_err().code, "transition_role");
        assert!(!Standing::of_role(Reader::Administrator).can_act_as(Capacity::Handler));
        // The handler gives no conclusion; a lead of another team is no handler.
        assert_eq!(
            permit(inspector, k, Draft, Submitted, &concluded, None).unwrap_err().code,
            "conclusion_by_reviewer"
        );
        let outsider = Standing { team_role: None, ..lead };
        assert_eq!(permit(outsider, k, Draft, Submitted, &no, None).unwrap_err().code, "transition_role");
    }
}
