//! The domain's typed errors. Every message says what was wrong and what to do.

use thiserror::Error;

use crate::ErrorCode;
use crate::codes::ReviewStatus;

/// What can go wrong when building or editing a record.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DomainError {
    #[error(
        "金额格式错误 “{input}”：请输入元，最多两位小数，如 1234.50 / malformed amount {input:?}: give yuan with at most two decimals, e.g. 1234.50"
    )]
    BadAmount { input: String },
    #[error(
        "面积格式错误 “{input}”：请输入亩数，最多两位小数，如 12.5 / malformed area {input:?}: give mu with at most two decimals, e.g. 12.5"
    )]
    BadArea { input: String },
    #[error("编号格式错误 “{input}” / malformed id {input:?}: copy the id exactly as `xuncha record list` shows it")]
    BadId { input: String },
    #[error("未知的记录类型 “{input}”，可选：{expected} / unknown record kind {input:?}; expected one of: {expected}")]
    UnknownKind { input: String, expected: String },
    #[error("未知的字段 “{input}”，可选：{expected} / unknown field {input:?}; expected one of: {expected}")]
    UnknownField { input: String, expected: String },
    #[error("字段 {field} 不属于 {kind} 记录 / field {field} does not belong to a {kind} record")]
    FieldNotInKind { field: String, kind: String },
    #[error("字段 {field} 的值 “{input}” 无效：{expected} / invalid value {input:?} for {field}: {expected}")]
    BadValue { field: String, input: String, expected: String },
    #[error("字段 {field} 创建后不可修改 / field {field} is set when the record is created and cannot be changed")]
    ReadOnlyField { field: String },
    #[error(
        "找不到条目 {item}（可能已被他人删除）/ no item {item} in this record (it may have been removed on another device); list the record again"
    )]
    ItemNotFound { item: String },
    #[error("条目 {item} 已存在 / item {item} already exists; use an update instead")]
    ItemExists { item: String },
    #[error("找不到附件 {sha256} / no attachment {sha256} on this record")]
    AttachmentNotFound { sha256: String },
    #[error(
        "审核状态不能从 {from} 变为 {to}；可选：{allowed} / review status cannot go from {from} to {to}; allowed next: {allowed}"
    )]
    BadTransition { from: String, to: String, allowed: String },
    #[error(
        "记录尚有 {count} 个问题，修正后才能提交审核：{summary} / the record has {count} problem(s) to fix before it can be submitted: {summary}"
    )]
    NotReadyForReview { count: usize, summary: String },
    #[error(
        "文档不是有效的巡察记录：{reason} / the document is not a valid inspection record: {reason}; run `xuncha verify`"
    )]
    NotARecord { reason: String },
    #[error("文档数据损坏：{0} / the document data is corrupt: {0}; run `xuncha verify`")]
    Corrupt(String),
    #[error("记录中还没有涉及人员，请先添加人员 / the record has no subjects yet; add the subject first")]
    NoSubjects,
    #[error(
        "记录中没有人员 “{input}”，请从这些人员中选择：{subjects} / no subject {input:?} in this record; choose one of: {subjects}"
    )]
    UnknownSubject { input: String, subjects: String },
    #[error(
        "记录中有多名人员叫 “{input}”，请用编号选择其中一人：{subjects} / more than one subject is named {input:?}; choose one by its id: {subjects}"
    )]
    AmbiguousSubject { input: String, subjects: String },
    #[error(
        "只有草稿可以撤回，这条记录已是“{}”；已提交的记录由审核人作出决定 / only drafts can be withdrawn and this record is {}; once submitted, a reviewer decides on it",
        .status.zh(),
        .status.en()
    )]
    NotADraft { status: ReviewStatus },
    #[error(
        "这条记录已由 {by} 撤回，不能再修改；如需继续，请新建记录 / this record was withdrawn by {by} and cannot be edited; create a new record instead"
    )]
    Withdrawn { by: String },
    /// A workflow step the rules do not allow (its code is the refusal's: `transition`,
    /// `transition_role`, `note_required`, `conclusion_required`, `handover_required`).
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
}

impl DomainError {
    /// The stable code of what went wrong (the UI words it; nothing reads the message).
    pub fn code(&self) -> ErrorCode {
        match self {
            DomainError::BadAmount { .. } => ErrorCode::BadAmount,
            DomainError::BadArea { .. } => ErrorCode::BadArea,
            DomainError::BadId { .. } => ErrorCode::BadId,
            DomainError::UnknownKind { .. } => ErrorCode::UnknownKind,
            DomainError::UnknownField { .. } => ErrorCode::UnknownField,
            DomainError::FieldNotInKind { .. } => ErrorCode::FieldNotInKind,
            DomainError::BadValue { .. } => ErrorCode::BadValue,
            DomainError::ReadOnlyField { .. } => ErrorCode::ReadOnlyField,
            DomainError::ItemNotFound { .. } => ErrorCode::ItemNotFound,
            DomainError::ItemExists { .. } => ErrorCode::ItemExists,
            DomainError::AttachmentNotFound { .. } => ErrorCode::AttachmentNotFound,
            DomainError::BadTransition { .. } => ErrorCode::BadTransition,
            DomainError::NotReadyForReview { .. } => ErrorCode::NotReady,
            DomainError::NotARecord { .. } => ErrorCode::NotARecord,
            DomainError::Corrupt(_) => ErrorCode::CorruptDocument,
            DomainError::NoSubjects => ErrorCode::NoSubjects,
            DomainError::UnknownSubject { .. } => ErrorCode::UnknownSubject,
            DomainError::AmbiguousSubject { .. } => ErrorCode::AmbiguousSubject,
            DomainError::NotADraft { .. } => ErrorCode::NotADraft,
            DomainError::Withdrawn { .. } => ErrorCode::Withdrawn,
            DomainError::Refused { code, .. } => *code,
        }
    }
}

impl From<automerge::AutomergeError> for DomainError {
    fn from(error: automerge::AutomergeError) -> DomainError {
        DomainError::Corrupt(error.to_string())
    }
}
