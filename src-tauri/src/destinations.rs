//! Where exported files end up. Started with `--export-dir DIR`, the app writes every export
//! straight into DIR and asks nothing (kiosks, tests, managed devices). Otherwise the app
//! writes each export into a pending folder of its own, and the user picks its place in the
//! system's Save dialog (the web view asks): the file is moved there, or removed when the
//! dialog is cancelled. A file saved where the user chose may be opened from there.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use xuncha_app::{AppError, BadInput};

type Result<T> = std::result::Result<T, AppError>;

/// Where exports go: stay where they are written, or where the user chooses.
#[derive(Debug)]
pub struct Destinations {
    /// `None`: exports stay where they are written, and nothing is asked.
    asking: Option<Asking>,
}

#[derive(Debug)]
struct Asking {
    /// Where exports wait until the user has chosen their place.
    pending: PathBuf,
    /// The folder the Save dialog opens in: the Downloads folder, then the one last chosen.
    folder: Mutex<Option<PathBuf>>,
    /// The files saved where the user chose (these may be opened).
    saved: Mutex<BTreeSet<PathBuf>>,
}

impl Destinations {
    /// Exports stay in the folder they are written to; nothing is asked.
    pub fn fixed() -> Destinations {
        Destinations { asking: None }
    }

    /// Exports are written into `pending` and saved where the user chooses; the Save
    /// dialog first opens in `folder`.
    pub fn asking(pending: PathBuf, folder: Option<PathBuf>) -> Destinations {
        Destinations {
            asking: Some(Asking { pending, folder: Mutex::new(folder), saved: Mutex::new(BTreeSet::new()) }),
        }
    }

    /// Removes the files an earlier run left waiting (it ended before the user chose).
    pub fn clear_pending(&self) {
        let Some(asking) = &self.asking else { return };
        let Ok(entries) = std::fs::read_dir(&asking.pending) else { return };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Where the Save dialog proposes to save the exported file `path`: its name in the
    /// folder last chosen (the Downloads folder at first). `None` when nothing is asked:
    /// the file stays where it is.
    pub fn proposal(&self, path: &str) -> Option<String> {
        let asking = self.asking.as_ref()?;
        let name = Path::new(path).file_name()?;
        let folder = asking.folder.lock().unwrap_or_else(PoisonError::into_inner);
        Some(folder.as_deref().map_or_else(|| PathBuf::from(name), |f| f.join(name)).display().to_string())
    }

    /// Moves the exported file `path` to `chosen`, which the Save dialog answered, and says
    /// where it is now: `chosen` ends in the file's extension (it is added when the user
    /// typed a name without it).
    pub fn save(&self, path: &str, chosen: &str) -> Result<String> {
        let asking = self.asking.as_ref().ok_or_else(|| bad(format!("exports stay where they are written: {path}")))?;
        let file = asking.pending(path)?;
        let chosen = Path::new(chosen);
        if !chosen.is_absolute() || chosen.file_name().is_none() {
            return Err(bad(format!("not a place to save a file: {}", chosen.display())));
        }
        let destination = with_extension_of(chosen, file.extension().unwrap_or_default());
        move_file(&file, &destination)
            .map_err(|e| AppError::Io { path: destination.display().to_string(), detail: e.to_string() })?;
        if let Some(folder) = destination.parent() {
            *asking.folder.lock().unwrap_or_else(PoisonError::into_inner) = Some(folder.to_path_buf());
        }
        asking.saved.lock().unwrap_or_else(PoisonError::into_inner).insert(destination.clone());
        Ok(destination.display().to_string())
    }

    /// Removes the exported file `path`, which the user chose not to save.
    pub fn discard(&self, path: &str) -> Result<()> {
        let asking = self.asking.as_ref().ok_or_else(|| bad(format!("exports stay where they are written: {path}")))?;
        let file = asking.pending(path)?;
        std::fs::remove_file(&file)
            .map_err(|e| AppError::Io { path: file.display().to_string(), detail: e.to_string() })
    }

    /// Whether `path` is a file saved where the user chose.
    pub fn is_saved(&self, path: &str) -> bool {
        self.asking.as_ref().is_some_and(|a| {
            a.saved.lock().unwrap_or_else(PoisonError::into_inner).contains(Path::new(path))
                && Path::new(path).is_file()
        })
    }
}

impl Asking {
    /// The file `path` if it waits in the pending folder; refused otherwise.
    fn pending(&self, path: &str) -> Result<PathBuf> {
        let refused = || bad(format!("not an exported file: {path}"));
        let folder = self.pending.canonicalize().map_err(|_| refused())?;
        let file = Path::new(path).canonicalize().map_err(|_| refused())?;
        if file.parent() != Some(folder.as_path()) || !file.is_file() {
            return Err(refused());
        }
        Ok(file)
    }
}

fn bad(message: String) -> AppError {
    AppError::BadInput(BadInput::BadRequest(message))
}

/// `chosen`, ending in `.{extension}`: the extension is added when the name ends in another
/// one or none (a name typed without it), and then a number too if that file exists (the
/// Save dialog asked about replacing `chosen`, not that file).
fn with_extension_of(chosen: &Path, extension: &OsStr) -> PathBuf {
    let matches = chosen.extension().is_some_and(|e| e.eq_ignore_ascii_case(extension));
    if matches || extension.is_empty() {
        return chosen.to_path_buf();
    }
    let stem = chosen.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let extension = extension.to_string_lossy();
    let mut path = chosen.with_file_name(format!("{stem}.{extension}"));
    let mut n = 2;
    while path.exists() {
        path = chosen.with_file_name(format!("{stem}-{n}.{extension}"));
        n += 1;
    }
    path
}

/// Moves a file: renamed where it can be (the same file system), else copied and removed.
fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if from == to {
        return Ok(());
    }
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(_) => copy_and_remove(from, to),
    }
}

/// Copies `from` beside `to` under a hidden name, then renames it to `to` (so `to` is never
/// half written) and removes `from`.
fn copy_and_remove(from: &Path, to: &Path) -> std::io::Result<()> {
    let name = to.file_name().unwrap_or_default().to_string_lossy();
    let partial = to.with_file_name(format!(".{name}.partial"));
    let copied = std::fs::copy(from, &partial).and_then(|_| std::fs::rename(&partial, to));
    if copied.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    copied?;
    std::fs::remove_file(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pending folder holding one export, the Downloads folder, and the destinations.
    fn set_up() -> (tempfile::TempDir, Destinations, String) {
        let dir = tempfile::tempdir().unwrap();
        let pending = dir.path().join("pending");
        std::fs::create_dir_all(&pending).unwrap();
        std::fs::create_dir_all(dir.path().join("Downloads")).unwrap();
        let file = pending.join("问题底稿-2024年第一轮-第一巡察组-002-20240702-101500.pdf");
        std::fs::write(&file, b"%PDF-1.7").unwrap();
        let destinations = Destinations::asking(pending, Some(dir.path().join("Downloads")));
        (dir, destinations, file.display().to_string())
    }

    #[test]
    fn an_export_is_proposed_in_the_downloads_folder_and_saved_where_the_user_chose() {
        let (dir, destinations, file) = set_up();
        let proposed = destinations.proposal(&file).unwrap();
        let name = "问题底稿-2024年第一轮-第一巡察组-002-20240702-101500.pdf";
        assert_eq!(Path::new(&proposed), dir.path().join("Downloads").join(name));

        let chosen = dir.path().join("报送").join("底稿.pdf");
        std::fs::create_dir_all(chosen.parent().unwrap()).unwrap();
        let saved = destinations.save(&file, &chosen.display().to_string()).unwrap();
        assert_eq!(Path::new(&saved), chosen);
        assert_eq!(std::fs::read(&chosen).unwrap(), b"%PDF-1.7");
        assert!(!Path::new(&file).exists(), "moved, not copied");
        assert!(destinations.is_saved(&saved));
        // The next Save dialog opens where the user saved last.
        let next = destinations.proposal(&file).unwrap();
        assert_eq!(Path::new(&next), dir.path().join("报送").join(name));
    }

    #[test]
    fn a_cancelled_dialog_removes_the_export() {
        let (_dir, destinations, file) = set_up();
        destinations.discard(&file).unwrap();
        assert!(!Path::new(&file).exists());
        assert!(!destinations.is_saved(&file));
    }

    #[test]
    fn only_pending_exports_are_saved_or_removed() {
        let (dir, destinations, file) = set_up();
        let elsewhere = dir.path().join("device.db");
        std::fs::write(&elsewhere, b"secret").unwrap();
        let target = dir.path().join("Downloads").join("x.pdf").display().to_string();
        for path in [elsewhere.display().to_string(), dir.path().join("pending").display().to_string()] {
            let refused = destinations.save(&path, &target).unwrap_err();
            assert_eq!(refused.code(), xuncha_domain::ErrorCode::BadInput, "{path}");
            assert!(destinations.discard(&path).is_err(), "{path}");
        }
        assert!(elsewhere.exists());
        // Nor to a relative path.
        assert!(destinations.save(&file, "x.pdf").is_err());
        assert!(Path::new(&file).exists());
        // With --export-dir nothing is asked, moved or removed.
        let fixed = Destinations::fixed();
        assert_eq!(fixed.proposal(&file), None);
        assert!(fixed.save(&file, &target).is_err());
        assert!(fixed.discard(&file).is_err());
        assert!(Path::new(&file).exists());
    }

    #[test]
    fn a_saved_file_ends_in_its_extension() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("清单.pdf"), b"").unwrap();
        let pdf = OsStr::new("pdf");
        let cases: &[(&str, &OsStr, &str)] = &[
            ("底稿.pdf", pdf, "底稿.pdf"),
            ("底稿.PDF", pdf, "底稿.PDF"),
            ("底稿", pdf, "底稿.pdf"),
            ("2024.05 底稿", pdf, "2024.05 底稿.pdf"),
            ("记录.xlsx", OsStr::new("zip"), "记录.xlsx.zip"),
            // 清单.pdf exists, and the dialog asked about 清单 only.
            ("清单", pdf, "清单-2.pdf"),
            ("无扩展名", OsStr::new(""), "无扩展名"),
        ];
        for (chosen, extension, expected) in cases {
            assert_eq!(with_extension_of(&dir.path().join(chosen), extension), dir.path().join(expected), "{chosen}");
        }
    }

    #[test]
    fn a_file_is_copied_whole_where_it_cannot_be_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("a.zip");
        std::fs::write(&from, b"PK").unwrap();
        let to = dir.path().join("b.zip");
        copy_and_remove(&from, &to).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"PK");
        assert!(!from.exists());
        assert!(!dir.path().join(".b.zip.partial").exists());
        // A folder that does not exist: the error, and nothing left behind.
        std::fs::write(&from, b"PK").unwrap();
        assert!(move_file(&from, &dir.path().join("missing").join("c.zip")).is_err());
        assert!(from.exists());
    }

    #[test]
    fn files_left_waiting_are_removed_at_start() {
        let (_dir, destinations, file) = set_up();
        destinations.clear_pending();
        assert!(!Path::new(&file).exists());
    }
}
