//! Who may change what: one pure function of the author and the record before and after a
//! change. The app runs it to hide what a user may not do; the server runs it on every
//! uploaded change, so a client that skips the app's checks gains nothing.

use serde::Serialize;

use crate::codes::ReviewStatus;
use crate::record::Record;
use crate::reference::Reader;

/// Who makes a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Author<'a> {
    pub user: &'a str,
    pub role: Reader,
}

/// Why a change is refused: a stable code and what to do, in Chinese and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{zh} / {en}")]
pub struct Refusal {
    pub code: &'static str,
    pub zh: String,
    pub en: String,
}

fn refuse(code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> Refusal {
    Refusal { code, zh: zh.into(), en: en.into() }
}

/// Whether the workflow leads from `from` to `to` (a device may upload several steps at
/// once: a supervisor's 已核实 → 已立案 → 已结案 made offline arrives as one change set).
fn reachable(from: ReviewStatus, to: ReviewStatus) -> bool {
    let mut seen = vec![from];
    let mut at = 0;
    while let Some(&status) = seen.get(at) {
        for next in status.next() {
            if *next == to {
                return true;
            }
            if !seen.contains(next) {
                seen.push(*next);
            }
        }
        at += 1;
    }
    false
}

/// Whether `author` may turn `before` (`None`: the record is new) into `after`.
pub fn check(author: Author<'_>, before: Option<&Record>, after: &Record) -> Result<(), Refusal> {
    let supervisor = author.role == Reader::Supervisor;
    if author.role == Reader::Administrator {
        return Err(refuse(
            "administrator_writes",
            "管理员账号不能修改巡察记录",
            "administrator accounts do not change inspection records",
        ));
    }
    if let Some(before) = before
        && (before.kind != after.kind || before.creator != after.creator || before.created_at_ms != after.created_at_ms)
    {
        return Err(refuse(
            "identity_changed",
            "记录的类型、创建人和创建时间不能更改",
            "a record's kind, creator and creation time never change",
        ));
    }
    let from = before.map_or(ReviewStatus::Draft, |b| b.review.status);
    let to = after.review.status;
    if from != to {
        if to.is_review_decision() && !supervisor {
            return Err(refuse(
                "review_decision",
                format!("只有审核人可以把记录改为“{}”；请提交审核", to.zh()),
                format!("only a supervisor can move a record to {}; submit it for review instead", to.en()),
            ));
        }
        if !reachable(from, to) {
            return Err(refuse(
                "transition",
                format!("记录不能从“{}”改为“{}”（可能已被他人审核，请同步后查看）", from.zh(), to.zh()),
                format!(
                    "a record cannot go from {} to {} (it may have been reviewed meanwhile: sync and look)",
                    from.en(),
                    to.en()
                ),
            ));
        }
    }
    // Whether a decision is void follows from later edits; what was decided is what counts.
    let decided = |record: &Record| {
        record.review.decision.as_ref().map(|d| (d.status, d.note.clone(), d.by.clone(), d.at_ms, d.heads.clone()))
    };
    if before.and_then(decided) != decided(after) {
        if !supervisor {
            return Err(refuse(
                "review_decision",
                "只有审核人可以作出审核决定",
                "only a supervisor can make a review decision",
            ));
        }
        if after.review.decision.as_ref().is_some_and(|d| d.by != author.user) {
            return Err(refuse(
                "decision_author",
                "审核决定只能以本人名义作出",
                "a review decision can only be made in your own name",
            ));
        }
    }
    // Comments are added in their author's own name and never changed or removed after.
    let earlier: &[crate::record::Comment] = before.map_or(&[], |b| &b.review.comments);
    for comment in earlier {
        if !after
            .review
            .comments
            .iter()
            .any(|c| c.id == comment.id && c.author == comment.author && c.text == comment.text)
        {
            return Err(refuse("comment_changed", "已有的批注不能修改或删除", "a comment is never changed or removed"));
        }
    }
    for comment in &after.review.comments {
        if !earlier.iter().any(|c| c.id == comment.id) && comment.author != author.user {
            return Err(refuse(
                "comment_author",
                "批注只能以本人名义添加",
                "a comment can only be added in your own name",
            ));
        }
    }
    if after.withdrawn.is_some() && before.is_none_or(|b| b.withdrawn.is_none()) {
        let draft = before.is_none_or(|b| b.review.status == ReviewStatus::Draft);
        if !draft {
            return Err(refuse("withdraw_submitted", "只有草稿可以撤回", "only a draft can be withdrawn"));
        }
        if !supervisor && after.creator != author.user {
            return Err(refuse(
                "withdraw_others",
                "只有创建人或审核人可以撤回草稿",
                "only the record's creator or a supervisor can withdraw a draft",
            ));
        }
    }
    Ok(())
}
