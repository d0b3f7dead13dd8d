//! Who may change what: one pure function of the author and the record before and after a
//! change. The app runs it to hide what a user may not do; the server runs it on every
//! uploaded change, so a client that skips the app's checks gains nothing.

use serde::Serialize;

use crate::ErrorCode;
use crate::codes::{ReviewStatus, SignerRole};
use crate::record::Record;
use crate::reference::{Reader, TeamRole};
use crate::workflow::{self, Asked, Capacity, Standing, Who};

/// Who makes a change: the user, their role, and their place in the record's team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Author<'a> {
    pub user: &'a str,
    pub role: Reader,
    /// Their role in the team the record belongs to (`None`: not in it).
    pub team: Option<TeamRole>,
    /// Whether that team has a 副组长.
    pub team_has_deputy: bool,
}

impl<'a> Author<'a> {
    /// An author known by role only (in no team of the record's).
    pub fn new(user: &'a str, role: Reader) -> Author<'a> {
        Author { user, role, team: None, team_has_deputy: false }
    }

    /// The author's standing toward the record, for the workflow.
    pub fn standing(self) -> Standing {
        Standing { reader: self.role, team_role: self.team, team_has_deputy: self.team_has_deputy }
    }
}

/// Why a change is refused: a stable code (which the UI words), and what to do in Chinese
/// and English (for the command line and logs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{zh} / {en}")]
pub struct Refusal {
    pub code: ErrorCode,
    pub zh: String,
    pub en: String,
    /// Who may take the refused step, when that is what the refusal is about.
    pub who: Option<Who>,
}

pub(crate) fn refuse(code: ErrorCode, zh: impl Into<String>, en: impl Into<String>) -> Refusal {
    Refusal { code, zh: zh.into(), en: en.into(), who: None }
}

/// Whether `author` may turn `before` (`None`: the record is new) into `after`.
pub fn check(author: Author<'_>, before: Option<&Record>, after: &Record) -> Result<(), Refusal> {
    let supervisor = author.role == Reader::Supervisor;
    if author.role == Reader::Administrator {
        return Err(refuse(
            ErrorCode::AdministratorWrites,
            "管理员账号不能修改巡察记录",
            "administrator accounts do not change inspection records",
        ));
    }
    if let Some(before) = before
        && (before.kind != after.kind || before.creator != after.creator || before.created_at_ms != after.created_at_ms)
    {
        return Err(refuse(
            ErrorCode::IdentityChanged,
            "记录的类型、创建人和创建时间不能更改",
            "a record's kind, creator and creation time never change",
        ));
    }
    check_workflow(author, before, after)?;
    // Decisions belong to the layout before the workflow: they are never written again.
    let decided = |record: &Record| {
        record.review.decision.as_ref().map(|d| (d.status, d.note.clone(), d.by.clone(), d.at_ms, d.heads.clone()))
    };
    if before.and_then(decided) != decided(after) {
        return Err(refuse(
            ErrorCode::ReviewDecision,
            "审核决定已改为巡察流程的审签步骤，请更新应用后操作",
            "review decisions are now steps of the 巡察 workflow: update the app",
        ));
    }
    check_signatures(author, before, after)?;
    check_ledger(author, before, after)?;
    // Comments are added in their author's own name and never changed or removed after.
    let earlier: &[crate::record::Comment] = before.map_or(&[], |b| &b.review.comments);
    for comment in earlier {
        if !after
            .review
            .comments
            .iter()
            .any(|c| c.id == comment.id && c.author == comment.author && c.text == comment.text)
        {
            return Err(refuse(
                ErrorCode::CommentChanged,
                "已有的批注不能修改或删除",
                "a comment is never changed or removed",
            ));
        }
    }
    for comment in &after.review.comments {
        if !earlier.iter().any(|c| c.id == comment.id) && comment.author != author.user {
            return Err(refuse(
                ErrorCode::CommentAuthor,
                "批注只能以本人名义添加",
                "a comment can only be added in your own name",
            ));
        }
    }
    if after.withdrawn.is_some() && before.is_none_or(|b| b.withdrawn.is_none()) {
        let draft = before.is_none_or(|b| b.review.status == ReviewStatus::Draft);
        if !draft {
            return Err(refuse(ErrorCode::WithdrawSubmitted, "只有草稿可以撤回", "only a draft can be withdrawn"));
        }
        if !supervisor && after.creator != author.user {
            return Err(refuse(
                ErrorCode::WithdrawOthers,
                "只有创建人或审核人可以撤回草稿",
                "only the record's creator or a supervisor can withdraw a draft",
            ));
        }
    }
    Ok(())
}

/// The workflow: every step taken since `before` is the author's own, made in a capacity
/// they hold, allowed from the status it starts at (so concurrent steps on an older status
/// are refused: whoever uploads second syncs and looks), and the status is where the last
/// step leads. Steps once taken never change.
fn check_workflow(author: Author<'_>, before: Option<&Record>, after: &Record) -> Result<(), Refusal> {
    let earlier: &[workflow::Step] = before.map_or(&[], |b| &b.review.steps);
    for step in earlier {
        if !after.review.steps.iter().any(|s| s.same_as(step)) {
            return Err(refuse(
                ErrorCode::StepChanged,
                "已有的审签记录不能修改或删除",
                "a workflow step is never changed or removed",
            ));
        }
    }
    let mut status = before.map_or(ReviewStatus::Draft, |b| b.review.status);
    let mut conclusion = before.and_then(|b| b.review.conclusion);
    let standing = author.standing();
    let mut last = earlier.last().map(|s| s.id.clone()).unwrap_or_default();
    for step in after.review.steps.iter().filter(|s| !earlier.iter().any(|e| e.id == s.id)) {
        // Each step follows the one before it: a step taken on an older version of the
        // trail (the record went on meanwhile, even back to the same status) is stale.
        if step.prev != last {
            return Err(refuse(
                ErrorCode::Transition,
                format!("记录已被他人处理（“{}”之前又有新的审签步骤），请同步后查看", step.to.zh()),
                format!(
                    "the record was handled meanwhile (steps were taken before your {}): sync and look",
                    step.to.en()
                ),
            ));
        }
        last = step.id.clone();
        if step.by != author.user {
            return Err(refuse(
                ErrorCode::StepAuthor,
                "审签步骤只能以本人名义作出",
                "a workflow step can only be taken in your own name",
            ));
        }
        if step.from != status {
            return Err(refuse(
                ErrorCode::Transition,
                format!(
                    "记录已是“{}”，不能再从“{}”改为“{}”（可能已被他人处理，请同步后查看）",
                    status.zh(),
                    step.from.zh(),
                    step.to.zh()
                ),
                format!(
                    "the record is {} now and cannot go from {} to {} (it may have been handled meanwhile: sync and look)",
                    status.en(),
                    step.from.en(),
                    step.to.en()
                ),
            ));
        }
        let asked = Asked { note: &step.note, conclusion: step.conclusion, handover: step.handover.as_ref() };
        workflow::permit(standing, after.kind, step.from, step.to, &asked, conclusion)?;
        workflow::check_step(after.kind, step.from, step.to, step.capacity, &asked, conclusion)?;
        if !standing.can_act_as(step.capacity) {
            return Err(refuse(
                ErrorCode::TransitionRole,
                format!("您不能以{}身份处理这条记录", step.capacity.zh()),
                format!("you cannot act as {} on this record", step.capacity.en()),
            ));
        }
        status = step.to;
        conclusion = step.conclusion.or(conclusion);
    }
    if after.review.status != status {
        return Err(refuse(
            ErrorCode::Transition,
            format!("记录状态“{}”没有对应的审签步骤，请更新应用后操作", after.review.status.zh()),
            format!("the status {} was set without a workflow step: update the app", after.review.status.en()),
        ));
    }
    if after.review.conclusion != conclusion {
        return Err(refuse(
            ErrorCode::Conclusion,
            "核实结论只能随审签步骤给出",
            "a verification conclusion is given with a workflow step only",
        ));
    }
    Ok(())
}

/// Signatures are given in the signing device's user's name, by someone who holds the
/// role signed in (a 被谈话人 or a household signs on a team member's device), and never
/// change afterwards.
fn check_signatures(author: Author<'_>, before: Option<&Record>, after: &Record) -> Result<(), Refusal> {
    let earlier: &[workflow::Signature] = before.map_or(&[], |b| &b.signatures);
    for signature in earlier {
        let kept = after.signatures.iter().any(|s| {
            (s.id, s.role, &s.signer, &s.by, s.at_ms, &s.image.sha256, &s.strokes)
                == (
                    signature.id,
                    signature.role,
                    &signature.signer,
                    &signature.by,
                    signature.at_ms,
                    &signature.image.sha256,
                    &signature.strokes,
                )
        });
        if !kept {
            return Err(refuse(
                ErrorCode::SignatureChanged,
                "已有的签字不能修改或删除",
                "a signature is never changed or removed",
            ));
        }
    }
    let standing = author.standing();
    for signature in after.signatures.iter().filter(|s| !earlier.iter().any(|e| e.id == s.id)) {
        if signature.by != author.user {
            return Err(refuse(
                ErrorCode::SignatureAuthor,
                "签字只能在本人设备上采集",
                "a signature is taken on the signing user's own device",
            ));
        }
        let capacity = match signature.role {
            SignerRole::Handler | SignerRole::Interviewee | SignerRole::Household => Capacity::Handler,
            SignerRole::Deputy => Capacity::Deputy,
            SignerRole::Lead => Capacity::Lead,
        };
        if !standing.can_act_as(capacity) {
            return Err(refuse(
                ErrorCode::SignatureRole,
                format!("您不能以“{}”身份签字", signature.role.zh()),
                format!("you cannot sign as {}", signature.role.en()),
            ));
        }
    }
    Ok(())
}

/// The rectification ledger is filled in once the office has approved the problem, by the
/// office or the team's lead; progress is added (never changed) by the team or the office
/// while the rectification is under way.
fn check_ledger(author: Author<'_>, before: Option<&Record>, after: &Record) -> Result<(), Refusal> {
    let empty = workflow::Rectification::default();
    let was = before.and_then(|b| b.rectification.as_ref()).unwrap_or(&empty);
    let now = after.rectification.as_ref().unwrap_or(&empty);
    let standing = author.standing();
    let terms =
        |r: &workflow::Rectification| (r.unit.clone(), r.owner.clone(), r.measures.clone(), r.deadline.clone(), r.kind);
    if terms(was) != terms(now) {
        // The status before or after the change: terms set on approval in the change that
        // sends the problem to rectification, or closing out in the same change, are fine.
        let open = |status| matches!(status, ReviewStatus::OfficeApproved | ReviewStatus::Rectifying);
        if !open(after.review.status) && !before.is_some_and(|b| open(b.review.status)) {
            return Err(refuse(
                ErrorCode::LedgerState,
                "只有巡察办审核通过或整改中的问题才能填写整改台账",
                "the rectification ledger is filled in once the office has approved the problem, or while it is being rectified",
            ));
        }
        if !standing.can_act_as(Capacity::Office) && !standing.can_act_as(Capacity::Lead) {
            return Err(refuse(
                ErrorCode::LedgerRole,
                "只有巡察办或组长可以填写整改台账",
                "only the office or the team lead fills in the rectification ledger",
            ));
        }
    }
    for entry in &was.progress {
        if !now
            .progress
            .iter()
            .any(|p| p.id == entry.id && p.text == entry.text && p.by == entry.by && p.attachments == entry.attachments)
        {
            return Err(refuse(
                ErrorCode::ProgressChanged,
                "已有的整改进展不能修改或删除",
                "a progress entry is never changed or removed",
            ));
        }
    }
    for entry in now.progress.iter().filter(|p| !was.progress.iter().any(|w| w.id == p.id)) {
        if entry.by != author.user {
            return Err(refuse(
                ErrorCode::ProgressAuthor,
                "整改进展只能以本人名义添加",
                "progress can only be added in your own name",
            ));
        }
        // Progress goes with a rectification under way: added while rectifying, or in the
        // change that closes it out (销号).
        let rectifying = after.review.status == ReviewStatus::Rectifying
            || before.is_some_and(|b| b.review.status == ReviewStatus::Rectifying);
        if !rectifying {
            return Err(refuse(
                ErrorCode::LedgerState,
                "只有整改中的问题可以添加整改进展",
                "progress is added while the problem is being rectified",
            ));
        }
        if !standing.can_act_as(Capacity::Handler) && !standing.can_act_as(Capacity::Office) {
            return Err(refuse(
                ErrorCode::LedgerRole,
                "只有巡察组或巡察办可以添加整改进展",
                "only the team or the office adds progress",
            ));
        }
    }
    Ok(())
}
