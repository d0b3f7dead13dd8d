//! The bundled fonts: Noto Serif CJK (SIL OFL 1.1) regular and bold, the same files on
//! every machine, so a document comes out the same wherever it is made. No system font is
//! ever consulted.
//!
//! Where they are read from, first found wins: the folder named by `XUNCHA_FONTS`; `fonts/`
//! beside the executable (how the app and the CLI ship them); `../share/xuncha/fonts` beside
//! it; and, for a build from the repository, `crates/xuncha-report/fonts/`, which
//! `make setup` fills (fonts/README.md).

use std::path::{Path, PathBuf};

use typst::foundations::Bytes;
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;

use crate::ReportError;

/// The font files, their sizes and SHA-256, as `make setup` installs them (Debian's
/// fonts-noto-cjk 1:20220127+repack1-1, the upstream Noto CJK 2.001 release).
pub const FILES: &[(&str, u64, &str)] = &[
    ("NotoSerifCJK-Regular.ttc", 26_297_400, include_str!("../fonts/NotoSerifCJK-Regular.ttc.sha256")),
    ("NotoSerifCJK-Bold.ttc", 27_290_960, include_str!("../fonts/NotoSerifCJK-Bold.ttc.sha256")),
];

/// The family the templates name for body text and headings (the collections hold the
/// same design for several languages; the simplified-Chinese face is picked by name).
pub const FAMILY: &str = "Noto Serif CJK SC";

/// The loaded fonts and their book.
pub struct Fonts {
    pub(crate) book: LazyHash<FontBook>,
    pub(crate) fonts: Vec<Font>,
    /// The folder they came from.
    pub dir: PathBuf,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts").field("dir", &self.dir).field("faces", &self.fonts.len()).finish()
    }
}

/// The folders searched, in order.
pub fn search_path() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("XUNCHA_FONTS").filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)) {
        dirs.push(exe_dir.join("fonts"));
        dirs.push(exe_dir.join("../share/xuncha/fonts"));
        // Tauri's resources on Linux: /usr/lib/<app>/fonts beside /usr/bin/<app>.
        dirs.push(exe_dir.join("../lib/xuncha/fonts"));
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts"));
    dirs
}

impl Fonts {
    /// The fonts from the first folder of [`search_path`] that holds them all.
    pub fn load() -> Result<Fonts, ReportError> {
        let dirs = search_path();
        for dir in &dirs {
            if FILES.iter().all(|(name, _, _)| dir.join(name).is_file()) {
                return Fonts::load_from(dir);
            }
        }
        Err(ReportError::FontsMissing {
            searched: dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
        })
    }

    /// The fonts from `dir`, which must hold every file of [`FILES`] at its pinned size.
    pub fn load_from(dir: &Path) -> Result<Fonts, ReportError> {
        let mut fonts = Vec::new();
        for (name, size, _) in FILES {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(|e| ReportError::FontUnreadable {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            // A cheap guard against another release of the font (whose metrics would move
            // lines and pages); `verify` checks the hash.
            if bytes.len() as u64 != *size {
                return Err(ReportError::FontUnreadable {
                    path: path.display().to_string(),
                    message: format!("{} bytes where the pinned release has {size}", bytes.len()),
                });
            }
            fonts.extend(Font::iter(Bytes::new(bytes)));
        }
        if !fonts.iter().any(|f| f.info().family == FAMILY) {
            return Err(ReportError::FontUnreadable {
                path: dir.display().to_string(),
                message: format!("no {FAMILY} face in the collections"),
            });
        }
        let book = LazyHash::new(FontBook::from_fonts(&fonts));
        Ok(Fonts { book, fonts, dir: dir.to_path_buf() })
    }

    /// The simplified-Chinese face of the family, bold or regular, for drawing text outside
    /// a document (the photo watermark).
    pub fn face(&self, bold: bool) -> Option<&ttf_parser::Face<'_>> {
        let weight = if bold { 700 } else { 400 };
        self.fonts
            .iter()
            .find(|f| f.info().family == FAMILY && f.info().variant.weight.to_number() == weight)
            .map(Font::ttf)
    }

    /// Checks every file's SHA-256 against the pinned one (slow: a few hundred ms).
    pub fn verify(dir: &Path) -> Result<(), ReportError> {
        use sha2::{Digest, Sha256};
        for (name, _, sha) in FILES {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(|e| ReportError::FontUnreadable {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            let got = hex::encode(Sha256::digest(&bytes));
            if got != sha.trim() {
                return Err(ReportError::FontUnreadable {
                    path: path.display().to_string(),
                    message: format!("SHA-256 {got}, the pinned release is {}", sha.trim()),
                });
            }
        }
        Ok(())
    }
}
