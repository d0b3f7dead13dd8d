//! The app's errors: a stable code the UI branches on, the exact cause it words (both
//! from [`ErrorCode`]), the details its text may name, and a message (Chinese, then English)
//! for the command line and logs that the UI never shows.

use serde::{Serialize, Serializer};
use xuncha_domain::rules::Refusal;
use xuncha_domain::workflow::Who;
use xuncha_domain::{DomainError, ErrorCode};
use xuncha_report::ReportError;
use xuncha_store::StoreError;
use xuncha_sync::SyncError;
use xuncha_sync::bundle::BundleFailure;

use crate::export::ExportError;

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
    #[error(transparent)]
    BadInput(#[from] BadInput),
    /// A change the rules do not allow this user (the app checks before the server does).
    #[error(transparent)]
    Forbidden(Refusal),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("无法写入 {path}：{detail} / cannot write {path}: {detail}")]
    Io { path: String, detail: String },
    /// A document (PDF) could not be made: fonts missing, typesetting failed, or not made
    /// for this kind of record.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A workbook or archive could not be made.
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("导出已取消 / the export was cancelled")]
    Cancelled,
    #[error("另一项导出仍在进行，请等它完成或取消 / another export is still running; wait for it or cancel it")]
    ExportRunning,
    #[error(
        "本设备不能直接打开文件，请在文件管理器中打开 {path} / this device cannot open files itself; open {path} in a file manager"
    )]
    CannotOpen { path: String },
    /// A sync bundle that could not be read or written (for another side, altered, cut
    /// short, not a bundle at all).
    #[error(transparent)]
    Bundle(BundleFailure),
    /// The team relay could not start or run.
    #[error(transparent)]
    Relay(xuncha_relay::RelayError),
}

/// Input the app refuses before it touches anything, each with its own code.
#[derive(Debug, thiserror::Error)]
pub enum BadInput {
    #[error("“{0}” 不是乡镇或村，请选择乡镇或村 / {0} is not a township or a village; choose one")]
    NotAPlace(String),
    #[error("本机的区划表中没有 {0}，请从列表中选择 / {0} is not in this device's divisions; choose from the list")]
    UnknownPlace(String),
    #[error("记录还没有村，请先选择村 / the record has no village yet; choose its village first")]
    NoVillage,
    #[error("请先选择农户 / choose at least one household")]
    NoHouseholds,
    #[error(
        "花名册已更新，所选农户已不在其中，请重新选择 / the roster changed and a chosen household is no longer in it; choose again"
    )]
    RosterChanged,
    #[error(
        "该字段已无冲突（可能已被他人处理）/ this field no longer holds concurrent values; it may have been settled elsewhere"
    )]
    ConflictGone,
    #[error("所选的值已不在冲突中 / the chosen value is no longer one of the concurrent values")]
    ConflictValueGone,
    #[error(
        "审签状态的冲突由服务器按流程处理：请同步后查看，再按当前状态继续办理 / a status conflict is settled by the server's workflow: sync, then go on from the current status"
    )]
    StatusConflict,
    #[error("情况描述的冲突请直接修改文字 / settle the narrative by editing it")]
    NarrativeConflict,
    #[error("文件为空 / the file is empty; choose another")]
    EmptyFile,
    #[error(
        "文件过大（{size_mb} MB），上限 {limit_mb} MB / the file is too large ({size_mb} MB); the limit is {limit_mb} MB"
    )]
    FileTooLarge { size_mb: usize, limit_mb: usize },
    #[error(
        "照片像素过多（{megapixels} 百万像素），上限 {limit_megapixels} 百万像素，请降低相机分辨率后重拍 / the picture has too many pixels ({megapixels} MP); the limit is {limit_megapixels} MP: take it again at a lower camera resolution"
    )]
    ImageTooLarge { megapixels: u64, limit_megapixels: u64 },
    #[error("不支持的文件类型 {0}：请选择照片或 PDF / unsupported file type {0}: choose a photo or a PDF")]
    UnsupportedFile(String),
    #[error("系统未提供随机数 / the OS gave no randomness: {0}")]
    NoRandomness(String),
    #[error(
        "这不是巡察通的注册二维码，请扫描管理员提供的二维码，或手动填写服务器地址和注册码 / this is not a Xuncha enrollment code; scan the code from your administrator, or type the server address and code"
    )]
    NotAnEnrollmentLink,
    #[error("请填写注册码 / enter the enrollment code from your administrator")]
    NoEnrollmentCode,
    #[error("签字须为图片 / the signature must be a picture")]
    NotAPicture,
    #[error("佐证材料的大小不符（{sent} 字节，应为 {expected}）/ the files are {sent} bytes, not {expected}")]
    SizeMismatch { sent: usize, expected: usize },
    #[error("本设备上没有所引用的记录 / the cited record is not on this device")]
    CitedRecordMissing,
    #[error(
        "服务器地址 “{0}” 无效，应如 https://xuncha.example.gov.cn / the server address {0:?} is not valid; e.g. https://xuncha.example.gov.cn"
    )]
    BadServerAddress(String),
    #[error("请求无效：{0} / the request is malformed: {0}")]
    BadRequest(String),
    #[error("服务器密钥指纹应为 64 位十六进制 / the server key pin is 64 hex digits")]
    BadServerPin,
    #[error("当前筛选条件下没有记录，无需导出 / no record matches the filter; nothing to export")]
    NothingToExport,
    #[error(
        "这不是组内同步二维码，请扫描组长屏幕上的二维码 / this is not a team relay code; scan the code on the team lead's screen"
    )]
    NotARelayLink,
}

impl BadInput {
    /// Exactly what is wrong with the input.
    pub fn code(&self) -> ErrorCode {
        match self {
            BadInput::NotAPlace(_) => ErrorCode::NotAPlace,
            BadInput::UnknownPlace(_) => ErrorCode::UnknownDivision,
            BadInput::NoVillage => ErrorCode::NoVillage,
            BadInput::NoHouseholds => ErrorCode::NoHouseholds,
            BadInput::RosterChanged => ErrorCode::RosterChanged,
            BadInput::ConflictGone | BadInput::ConflictValueGone => ErrorCode::ConflictGone,
            BadInput::StatusConflict => ErrorCode::StatusConflict,
            BadInput::NarrativeConflict => ErrorCode::NarrativeConflict,
            BadInput::EmptyFile => ErrorCode::EmptyFile,
            BadInput::FileTooLarge { .. } => ErrorCode::FileTooLarge,
            BadInput::ImageTooLarge { .. } => ErrorCode::ImageTooLarge,
            BadInput::UnsupportedFile(_) => ErrorCode::UnsupportedFile,
            BadInput::NoRandomness(_) => ErrorCode::NoRandomness,
            BadInput::NotAnEnrollmentLink => ErrorCode::NotAnEnrollmentLink,
            BadInput::NoEnrollmentCode => ErrorCode::NoEnrollmentCode,
            BadInput::NotAPicture => ErrorCode::NotAPicture,
            BadInput::SizeMismatch { .. } => ErrorCode::SizeMismatch,
            BadInput::CitedRecordMissing => ErrorCode::CitedRecordMissing,
            BadInput::BadServerAddress(_) => ErrorCode::BadServerAddress,
            BadInput::BadRequest(_) => ErrorCode::BadRequest,
            BadInput::BadServerPin => ErrorCode::BadServerPin,
            BadInput::NothingToExport => ErrorCode::NothingToExport,
            BadInput::NotARelayLink => ErrorCode::NotARelayLink,
        }
    }
}

impl AppError {
    /// The stable code the UI branches on: what kind of failure this is.
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Locked => ErrorCode::Locked,
            AppError::NotSetUp => ErrorCode::NotSetUp,
            AppError::AlreadySetUp => ErrorCode::AlreadySetUp,
            AppError::BadInput(_) => ErrorCode::BadInput,
            AppError::Forbidden(_) => ErrorCode::Forbidden,
            AppError::Domain(error) | AppError::Store(StoreError::Domain(error)) => domain_code(error),
            AppError::Store(error) => error.code(),
            AppError::Sync(error) => error.code(),
            AppError::Io { .. } => ErrorCode::Io,
            AppError::Report(error) => report_code(error),
            AppError::Export(error) => export_code(error),
            AppError::Cancelled => ErrorCode::Cancelled,
            AppError::ExportRunning => ErrorCode::ExportRunning,
            AppError::CannotOpen { .. } => ErrorCode::CannotOpen,
            AppError::Bundle(failure) => ErrorCode::parse(failure.code()),
            AppError::Relay(xuncha_relay::RelayError::NotALead(_)) => ErrorCode::NotATeamLead,
            AppError::Relay(_) => ErrorCode::RelayFailed,
        }
    }

    /// Exactly why, where [`AppError::code`] names only the kind (`bad_input`, `forbidden`,
    /// `server`, `store`): the input's problem, the rule's refusal, the server's code.
    pub fn cause(&self) -> Option<ErrorCode> {
        match self {
            AppError::BadInput(input) => Some(input.code()),
            AppError::Forbidden(refusal) => Some(refusal.code),
            AppError::Domain(error) | AppError::Store(StoreError::Domain(error)) => {
                Some(error.code()).filter(|&cause| cause != domain_code(error))
            }
            AppError::Sync(error) => error.cause(),
            AppError::Export(ExportError::Store(StoreError::Domain(error)) | ExportError::Domain(error)) => {
                Some(error.code()).filter(|&cause| cause != domain_code(error))
            }
            AppError::Export(
                ExportError::UnknownTownship { .. }
                | ExportError::UnknownRound { .. }
                | ExportError::UnknownTeam { .. },
            ) => Some(ErrorCode::BadFilter),
            _ => None,
        }
    }

    /// The details the UI's text may name.
    pub fn params(&self) -> ErrorParams {
        let mut params = ErrorParams::default();
        match self {
            AppError::BadInput(BadInput::FileTooLarge { limit_mb, .. }) => {
                params.limit_mb = Some(u32::try_from(*limit_mb).unwrap_or(u32::MAX));
            }
            AppError::Forbidden(refusal) => params.who = refusal.who,
            AppError::Domain(error) | AppError::Store(StoreError::Domain(error)) => match error {
                DomainError::NotReadyForReview { count, .. } => {
                    params.count = Some(u32::try_from(*count).unwrap_or(u32::MAX));
                }
                DomainError::Withdrawn { by } => params.user = Some(by.clone()),
                _ => {}
            },
            AppError::Sync(SyncError::Server { status, .. }) => params.http_status = Some(*status),
            _ => {}
        }
        params
    }
}

/// The code of a document that could not be made.
fn report_code(error: &ReportError) -> ErrorCode {
    match error {
        ReportError::FontsMissing { .. } | ReportError::FontUnreadable { .. } => ErrorCode::ReportFontsMissing,
        ReportError::Template { .. } => ErrorCode::ReportFailed,
        ReportError::NotApplicable { .. } => ErrorCode::ReportNotApplicable,
    }
}

/// The code of a workbook or archive that could not be made.
fn export_code(error: &ExportError) -> ErrorCode {
    match error {
        ExportError::Store(StoreError::Domain(error)) | ExportError::Domain(error) => domain_code(error),
        ExportError::Store(error) => error.code(),
        ExportError::Io { .. } | ExportError::NotAFolder { .. } => ErrorCode::Io,
        ExportError::NotEmpty { .. } => ErrorCode::AlreadyExists,
        ExportError::UnknownTownship { .. } | ExportError::UnknownRound { .. } | ExportError::UnknownTeam { .. } => {
            ErrorCode::BadInput
        }
        // Too many rows or columns for a sheet among them: a narrower filter helps.
        _ => ErrorCode::ExportFailed,
    }
}

/// The code of a refused edit: the ones the UI branches on, else `bad_input` (shown on
/// the field as not saved, worded by its cause).
fn domain_code(error: &DomainError) -> ErrorCode {
    match error.code() {
        code @ (ErrorCode::NotReady | ErrorCode::BadTransition | ErrorCode::NotADraft | ErrorCode::Withdrawn) => code,
        _ => ErrorCode::BadInput,
    }
}

/// What an error's text may name, from structured fields (never a sentence of Rust's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorParams {
    /// Who may take the refused step.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub who: Option<Who>,
    /// A limit in megabytes (a file too large).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub limit_mb: Option<u32>,
    /// How many (problems to fix before submitting).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub count: Option<u32>,
    /// A user, by id (who withdrew the record).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub user: Option<String>,
    /// The HTTP status the server answered with.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub http_status: Option<u16>,
}

/// What the UI receives for an error. It words `cause` (else `code`) itself, naming
/// `params`; `message` is for logs and is never shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorDto {
    /// What kind of failure: the UI branches on this.
    pub code: ErrorCode,
    /// Exactly why, when `code` names only the kind.
    pub cause: Option<ErrorCode>,
    pub params: ErrorParams,
    /// Rust's message, Chinese then English.
    pub message: String,
}

impl From<&AppError> for ErrorDto {
    fn from(error: &AppError) -> ErrorDto {
        ErrorDto { code: error.code(), cause: error.cause(), params: error.params(), message: error.to_string() }
    }
}

impl Serialize for AppError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ErrorDto::from(self).serialize(serializer)
    }
}

/// The result of a use case.
pub type Result<T, E = AppError> = std::result::Result<T, E>;
