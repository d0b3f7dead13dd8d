//! The store's typed errors. Each message says what happened and what to do next; the UI
//! branches on [`StoreError::code`], never on the text.

use std::path::PathBuf;

use thiserror::Error;
use xuncha_domain::{DomainError, ErrorCode};

/// What can go wrong with the device database.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A filter given wrongly (a date not written YYYY-MM-DD).
    #[error("{detail}")]
    BadFilter { detail: String },
    #[error("PIN 错误，数据库未改动。请重新输入 / wrong PIN; the database was not touched. Enter the PIN again")]
    WrongPin,
    #[error("PIN 至少 6 位 / the PIN must have at least 6 characters")]
    WeakPin,
    #[error(
        "找不到设备数据库 {path}。请先运行 `xuncha init` / no device database at {path}; create one with `xuncha init`"
    )]
    NotFound { path: PathBuf },
    #[error(
        "{path} 已存在，不会覆盖 / {path} already exists and will not be overwritten; choose another path or remove it yourself"
    )]
    AlreadyExists { path: PathBuf },
    #[error(
        "找不到密钥文件 {path}（与数据库放在一起）/ the key file {path} is missing; it must stay next to the database. Restore it from the device backup"
    )]
    MissingKeyFile { path: PathBuf },
    #[error(
        "密钥文件 {path} 损坏：{detail} / the key file {path} is damaged ({detail}); restore it from the device backup"
    )]
    BadKeyFile { path: PathBuf, detail: String },
    #[error(
        "数据库 {path} 已损坏或被截断：{detail}。数据库未改动，请从备份恢复或重新同步 / the database {path} is damaged or truncated ({detail}); it was not touched. Restore it from a backup or sync it again from the server"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "数据库由更新版本的巡察通创建（结构版本 {found}，本版本支持到 {supported}），请升级应用 / the database was written by a newer Xuncha (schema {found}; this version reads up to {supported}); update the app. Nothing was changed"
    )]
    NewerSchema { found: i64, supported: i64 },
    #[error("找不到记录 {id} / no record {id} on this device; list records with `xuncha record list`")]
    RecordNotFound { id: String },
    #[error(
        "找不到村 “{input}”。相近的有：{candidates}。村名来自服务器的区划表，请同步后重试 / no village {input:?} in the reference data (similar: {candidates}); sync, then try again"
    )]
    UnknownDivision { input: String, candidates: String },
    #[error(
        "“{input}” 有多个：{candidates}；请写区划代码 / {input:?} names several villages: {candidates}; give the code instead"
    )]
    AmbiguousDivision { input: String, candidates: String },
    #[error("找不到附件 {sha256} / no attachment {sha256} on this device")]
    AttachmentNotFound { sha256: String },
    #[error(
        "附件内容与哈希不符 {sha256} / the attachment bytes do not match their hash {sha256}; the transfer was damaged, fetch it again"
    )]
    AttachmentMismatch { sha256: String },
    #[error(
        "数据库正被其他程序使用，请关闭巡察通应用后重试 / the database is in use by another program; close the Xuncha app and try again"
    )]
    Busy,
    #[error("{0}")]
    Keys(String),
    #[error("{0}")]
    Domain(#[from] DomainError),
    #[error("无法访问 {path}：{source} / cannot access {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("数据库错误：{0} / database error: {0}; run `xuncha verify`")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    /// A stable code for the UI.
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::BadFilter { .. } => ErrorCode::BadFilter,
            StoreError::WrongPin => ErrorCode::WrongPin,
            StoreError::WeakPin => ErrorCode::WeakPin,
            StoreError::NotFound { .. } => ErrorCode::NotFound,
            StoreError::AlreadyExists { .. } => ErrorCode::AlreadyExists,
            StoreError::MissingKeyFile { .. } => ErrorCode::MissingKeyFile,
            StoreError::BadKeyFile { .. } => ErrorCode::BadKeyFile,
            StoreError::Corrupt { .. } => ErrorCode::Corrupt,
            StoreError::NewerSchema { .. } => ErrorCode::NewerSchema,
            StoreError::Keys(_) => ErrorCode::Keys,
            StoreError::RecordNotFound { .. } => ErrorCode::RecordNotFound,
            StoreError::UnknownDivision { .. } => ErrorCode::UnknownDivision,
            StoreError::AmbiguousDivision { .. } => ErrorCode::AmbiguousDivision,
            StoreError::AttachmentNotFound { .. } => ErrorCode::AttachmentNotFound,
            StoreError::AttachmentMismatch { .. } => ErrorCode::AttachmentMismatch,
            StoreError::Busy => ErrorCode::DatabaseBusy,
            StoreError::Domain(_) => ErrorCode::InvalidEdit,
            StoreError::Io { .. } => ErrorCode::Io,
            StoreError::Sqlite(_) => ErrorCode::Database,
        }
    }
}

/// Shorthand.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
