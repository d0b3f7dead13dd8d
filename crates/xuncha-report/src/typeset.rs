//! Typst as a library: one template from `templates/`, the record as JSON data, images as
//! files, the bundled fonts; out comes a PDF.

use std::collections::BTreeMap;

use typst::diag::{FileError, FileResult, Severity, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::layout::PagedDocument;
use typst::syntax::{FileId, Source, VirtualPath};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};

use crate::ReportError;
use crate::fonts::Fonts;

/// The layouts, compiled into the binary from `templates/`.
const TEMPLATES: &[(&str, &str)] = &[
    ("common.typ", include_str!("../templates/common.typ")),
    ("draft.typ", include_str!("../templates/draft.typ")),
    ("talk.typ", include_str!("../templates/talk.typ")),
    ("household.typ", include_str!("../templates/household.typ")),
    ("problems.typ", include_str!("../templates/problems.typ")),
    ("rectification.typ", include_str!("../templates/rectification.typ")),
    ("summary.typ", include_str!("../templates/summary.typ")),
];

/// One document to typeset: which template, its data, and the images it shows.
pub(crate) struct Job<'a> {
    pub template: &'static str,
    pub data: serde_json::Value,
    /// Files the template may read, by path (e.g. `img/3f…a1.jpg`).
    pub files: BTreeMap<String, Vec<u8>>,
    /// A stable identifier of the document (its record id and heads): the PDF's id.
    pub ident: &'a str,
    /// The day printed as 编制日期 and stored as the PDF's date (China Standard Time).
    pub today: chrono::NaiveDate,
}

struct Sandbox<'a> {
    library: LazyHash<Library>,
    book: &'a LazyHash<FontBook>,
    fonts: &'a [Font],
    main: FileId,
    sources: BTreeMap<FileId, Source>,
    files: BTreeMap<FileId, Bytes>,
    today: chrono::NaiveDate,
}

fn id(path: &str) -> FileId {
    FileId::new(None, VirtualPath::new(path))
}

impl World for Sandbox<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        self.book
    }

    fn main(&self) -> FileId {
        self.main
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        self.sources.get(&id).cloned().ok_or_else(|| FileError::NotFound(id.vpath().as_rootless_path().into()))
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if let Some(bytes) = self.files.get(&id) {
            return Ok(bytes.clone());
        }
        self.sources
            .get(&id)
            .map(|source| Bytes::from_string(source.text().to_owned()))
            .ok_or_else(|| FileError::NotFound(id.vpath().as_rootless_path().into()))
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<i64>) -> Option<Datetime> {
        use chrono::Datelike;
        Datetime::from_ymd(self.today.year(), self.today.month() as u8, self.today.day() as u8)
    }
}

/// Typesets `job` with `fonts`; returns the PDF and its page count.
pub(crate) fn pdf(fonts: &Fonts, job: Job<'_>) -> Result<(Vec<u8>, usize), ReportError> {
    // The templates are the only sources: nothing of a record is ever read as markup.
    let sources: BTreeMap<FileId, Source> = TEMPLATES
        .iter()
        .map(|(name, text)| {
            let file = id(&format!("/{name}"));
            (file, Source::new(file, (*text).to_owned()))
        })
        .collect();
    let main = id(&format!("/{}", job.template));
    if !sources.contains_key(&main) {
        return Err(ReportError::Template { template: job.template.to_owned(), message: "no such template".into() });
    }
    let mut files: BTreeMap<FileId, Bytes> =
        job.files.into_iter().map(|(path, bytes)| (id(&format!("/{path}")), Bytes::new(bytes))).collect();
    let data = serde_json::to_vec(&job.data)
        .map_err(|e| ReportError::Template { template: job.template.to_owned(), message: e.to_string() })?;
    files.insert(id("/data.json"), Bytes::new(data));
    let world = Sandbox {
        library: LazyHash::new(Library::builder().build()),
        book: &fonts.book,
        fonts: &fonts.fonts,
        main,
        sources,
        files,
        today: job.today,
    };
    let document: PagedDocument = typst::compile(&world).output.map_err(|errors| ReportError::Template {
        template: job.template.to_owned(),
        message: describe(&world, &errors),
    })?;
    let pages = document.pages.len();
    let timestamp = {
        use chrono::Datelike;
        Datetime::from_ymd(job.today.year(), job.today.month() as u8, job.today.day() as u8)
            .and_then(|date| typst_pdf::Timestamp::new_local(date, 8 * 60))
    };
    let options =
        typst_pdf::PdfOptions { ident: Smart::Custom(job.ident), timestamp, ..typst_pdf::PdfOptions::default() };
    let bytes = typst_pdf::pdf(&document, &options).map_err(|errors| ReportError::Template {
        template: job.template.to_owned(),
        message: describe(&world, &errors),
    })?;
    Ok((bytes, pages))
}

/// Typst's errors as one line each, with the template line they point at.
fn describe(world: &Sandbox<'_>, errors: &[SourceDiagnostic]) -> String {
    errors
        .iter()
        .filter(|e| e.severity == Severity::Error)
        .map(|e| {
            let at = e
                .span
                .id()
                .and_then(|file| world.sources.get(&file).map(|s| (file, s)))
                .and_then(|(file, source)| {
                    let range = source.range(e.span)?;
                    let line = source.lines().byte_to_line(range.start)? + 1;
                    Some(format!("{}:{line}: ", file.vpath().as_rootless_path().display()))
                })
                .unwrap_or_default();
            format!("{at}{}", e.message)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Empties the compiler's caches: each document is typeset once, so nothing is gained by
/// keeping them, and a long-running app must not grow.
pub(crate) fn evict_caches() {
    typst::comemo::evict(0);
}
