//! Documents that go upward: 问题底稿, 谈话记录, 入户核查表, 问题清单, 整改台账 and the
//! round's 情况统计表, typeset with Typst from the templates in `templates/` and the
//! bundled fonts, from domain values. It returns bytes: the caller reads the records and
//! attachments and writes the file.

mod documents;
pub mod fonts;
mod photos;
mod typeset;

use std::collections::BTreeMap;

pub use documents::{
    Context, RosterLine, Section, Summary, SummaryRow, draft, household, problems, rectification, summary, talk,
};
pub use fonts::Fonts;

/// The 密级 mark printed on every page unless another is set.
pub const DEFAULT_MARK: &str = "内部资料 注意保存";

/// A typeset document.
#[derive(Debug, Clone)]
pub struct Paper {
    /// The PDF.
    pub bytes: Vec<u8>,
    pub pages: usize,
}

/// Attachments' bytes by SHA-256 (only those the device holds; a missing one is listed
/// in the materials but not shown).
pub type Attachments = BTreeMap<String, Vec<u8>>;

/// Why a document could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "找不到报表字体（Noto Serif CJK SC），请运行 make setup 或把字体放到 XUNCHA_FONTS 指向的目录 / the report fonts (Noto Serif CJK SC) are missing: run `make setup`, or point XUNCHA_FONTS at a folder holding them (searched: {searched})"
    )]
    FontsMissing { searched: String },
    #[error(
        "报表字体无法读取：{path}：{message} / the report font {path} cannot be used: {message}; reinstall it with `make setup`"
    )]
    FontUnreadable { path: String, message: String },
    #[error("排版失败（{template}）：{message} / typesetting {template} failed: {message}")]
    Template { template: String, message: String },
    #[error("{zh} / {en}")]
    NotApplicable { zh: String, en: String },
}

impl ReportError {
    /// A stable code for the UI and the CLI's exit status.
    pub fn code(&self) -> &'static str {
        match self {
            ReportError::FontsMissing { .. } | ReportError::FontUnreadable { .. } => "report_fonts_missing",
            ReportError::Template { .. } => "report_failed",
            ReportError::NotApplicable { .. } => "report_not_applicable",
        }
    }
}

/// Lets the typesetter's caches shrink after a batch of documents (a long-running app
/// calls it after each export).
pub fn release_caches() {
    typeset::evict_caches();
}
