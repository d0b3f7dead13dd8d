//! The bundled fonts: Noto Serif CJK (SIL OFL 1.1) regular and bold, the same files on
//! every machine, so a document comes out the same wherever it is made. No system font is
//! ever consulted.
//!
//! Where they are read from, first found wins: the folder named by `XUNCHA_FONTS`; `fonts/`
//! beside the executable (how the app and the CLI ship them); `../share/xuncha/fonts` beside
//! it; and, for a build from the repository, `crates/xuncha-report/fonts/`, which
//! `make setup` fills (fonts/README.md).

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// One font file: its range of the buffer all the files were read into.
struct Part {
    all: Arc<Vec<u8>>,
    range: Range<usize>,
}

impl AsRef<[u8]> for Part {
    fn as_ref(&self) -> &[u8] {
        &self.all[self.range.clone()]
    }
}

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
    ///
    /// The files are read into one buffer (some 53 MB), which every face points into, so
    /// that dropping the fonts gives the memory back to the system: the C allocator (glibc)
    /// maps a block that large on its own and unmaps it when freed, where it keeps freed
    /// blocks under 32 MiB on its heap, resident, for reuse. A long-running app can then
    /// load the fonts for a document or a watermark and drop them afterwards.
    pub fn load_from(dir: &Path) -> Result<Fonts, ReportError> {
        let total = FILES.iter().map(|(_, size, _)| *size as usize).sum();
        let mut all = Vec::with_capacity(total);
        let mut parts = Vec::new();
        for (name, size, _) in FILES {
            let path = dir.join(name);
            let unreadable =
                |message: String| ReportError::FontUnreadable { path: path.display().to_string(), message };
            let file = std::fs::File::open(&path).map_err(|e| unreadable(e.to_string()))?;
            // A cheap guard against another release of the font (whose metrics would move
            // lines and pages); `verify` checks the hash.
            let len = file.metadata().map_err(|e| unreadable(e.to_string()))?.len();
            if len != *size {
                return Err(unreadable(format!("{len} bytes where the pinned release has {size}")));
            }
            let start = all.len();
            file.take(*size).read_to_end(&mut all).map_err(|e| unreadable(e.to_string()))?;
            if (all.len() - start) as u64 != *size {
                return Err(unreadable(format!(
                    "{} bytes read where the pinned release has {size}",
                    all.len() - start
                )));
            }
            parts.push(start..all.len());
        }
        let all = Arc::new(all);
        let mut fonts = Vec::new();
        for range in parts {
            fonts.extend(Font::iter(Bytes::new(Part { all: Arc::clone(&all), range })));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The resident memory of this process, in bytes (Linux).
    fn resident() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
        let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
        pages * 4096
    }

    const CHILD: &str = "XUNCHA_FONTS_MEMORY_CHILD";

    /// Loaded, the fonts are resident; dropped, they are gone from the process, the first
    /// time and every time after (what a long-running app that loads them for each
    /// document or photo needs). Measured in a process of its own, as other tests running
    /// beside it would move the figures.
    #[test]
    fn dropped_fonts_give_their_memory_back_each_time() {
        let name = "fonts::tests::dropped_fonts_give_their_memory_back_each_time";
        if std::env::var_os(CHILD).is_none() {
            let exe = std::env::current_exe().expect("the test binary");
            let out = std::process::Command::new(exe)
                .args([name, "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD, "1")
                .output()
                .expect("the test binary runs");
            let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            eprint!("{said}");
            assert!(out.status.success(), "{said}");
            assert!(said.contains("loaded and dropped 3 times"), "the child did not measure: {said}");
            return;
        }
        let total: u64 = FILES.iter().map(|(_, size, _)| size).sum();
        for round in 1..=3 {
            let before = resident();
            let started = std::time::Instant::now();
            let fonts = Fonts::load().expect("the bundled fonts (make setup)");
            let took = started.elapsed();
            let loaded = resident();
            assert!(fonts.face(true).is_some());
            drop(fonts);
            let dropped = resident();
            eprintln!(
                "round {round}: loaded in {took:?}; resident {} MiB before, {} loaded, {} dropped",
                before >> 20,
                loaded >> 20,
                dropped >> 20
            );
            assert!(loaded >= before + total * 9 / 10, "round {round}: the fonts are not resident once loaded");
            assert!(
                dropped < before + total / 10,
                "round {round}: {} MiB stay resident after the fonts are dropped",
                (dropped - before) >> 20
            );
        }
        println!("loaded and dropped 3 times");
    }
}
