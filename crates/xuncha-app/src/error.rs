//! The app's errors: a stable code the UI branches on, and a message (Chinese, then
//! English) that says what to do next.

use serde::{Serialize, Serializer};
use xuncha_domain::DomainError;
use xuncha_store::StoreError;
use xuncha_sync::SyncError;

/// What went wrong in a use case.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("应用已锁定，请输入 PIN 解锁 / the app is locked; enter the PIN to unlock it")]
    Locked,
    #[error(
        "本机尚未注册，请先填写服务器地址和注册码 / this device is not set up; enter the server address and enrollment code"
    )]
    NotSetUp,
    #[error("本机已注册，不能重复注册 / this device is already set up; unlock it with its PIN")]
    AlreadySetUp,
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("无法写入 {path}：{detail} / cannot write {path}: {detail}")]
    Io { path: String, detail: String },
}

impl AppError {
    /// The stable code the UI branches on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Locked => "locked",
            AppError::NotSetUp => "not_set_up",
            AppError::AlreadySetUp => "already_set_up",
            AppError::BadInput(_) => "bad_input",
            AppError::Forbidden(_) => "forbidden",
            AppError::Domain(error) | AppError::Store(StoreError::Domain(error)) => domain_code(error),
            AppError::Store(error) => error.code(),
            AppError::Sync(error) => error.code(),
            AppError::Io { .. } => "io",
        }
    }
}

/// The code of a refused edit: the ones the UI branches on, else `bad_input` (shown on
/// the field as not saved).
fn domain_code(error: &DomainError) -> &'static str {
    match error {
        DomainError::NotReadyForReview { .. } => "not_ready",
        DomainError::BadTransition { .. } => "bad_transition",
        DomainError::NotADraft { .. } => "not_a_draft",
        DomainError::Withdrawn { .. } => "withdrawn",
        _ => "bad_input",
    }
}

/// What the UI receives for an error: `{ code, message }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorDto {
    pub code: String,
    pub message: String,
}

impl From<&AppError> for ErrorDto {
    fn from(error: &AppError) -> ErrorDto {
        ErrorDto { code: error.code().to_owned(), message: error.to_string() }
    }
}

impl Serialize for AppError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ErrorDto::from(self).serialize(serializer)
    }
}

/// The result of a use case.
pub type Result<T, E = AppError> = std::result::Result<T, E>;
