//! 导出同步包 / 导入同步包: sync by file, on removable media, where no network reaches (the
//! air-gapped 内网, a village with no signal). A bundle of what another side has not
//! acknowledged goes into the export folder (then where the user saves it); a bundle the
//! user picks is checked whole and merged, and answered with a receipt in the export folder;
//! a receipt marks what the other side now holds.

use serde::Serialize;
use xuncha_protocol::bundle::PeerKey;
use xuncha_sync::bundle::{self, BundleFailure, Stage, Step};

use crate::App;
use crate::error::{AppError, BadInput, Result};
use crate::reports::{DocumentKind, ExportStage, ExportedFile, Running};

/// One document the other side refused, as its receipt says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BundleRefusal {
    pub record: String,
    pub code: xuncha_domain::ErrorCode,
}

/// What importing a bundle or a receipt did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BundleImport {
    /// Whether it was a receipt (of a bundle this device sent) rather than changes.
    pub receipt: bool,
    /// Who sent it (a device's user, or a server's id).
    pub sender: String,
    pub documents: u32,
    /// Documents that received changes new to this device.
    pub merged: u32,
    pub attachments: u32,
    /// For a receipt: documents the other side acknowledged, and those it refused.
    pub acknowledged: u32,
    pub refused: Vec<BundleRefusal>,
    /// The receipt to give back to the sender (for a bundle of changes).
    pub answer: Option<ExportedFile>,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl From<BundleFailure> for AppError {
    fn from(failure: BundleFailure) -> AppError {
        match failure {
            BundleFailure::Store(error) => AppError::Store(error),
            BundleFailure::Cancelled => AppError::Cancelled,
            other => AppError::Bundle(other),
        }
    }
}

/// Passes a bundle's progress on to the running job; `false` (stop) once cancelling was
/// asked for.
pub(crate) fn watch(job: &Running<'_>, importing: bool) -> impl FnMut(Step) -> bool {
    move |step| {
        let stage = match step.stage {
            Stage::Reading => ExportStage::Reading,
            Stage::Files if importing => ExportStage::Storing,
            Stage::Files => ExportStage::Archiving,
            Stage::Verifying => ExportStage::Verifying,
            Stage::Merging => ExportStage::Merging,
            Stage::Writing => ExportStage::Writing,
        };
        job.set(stage, step.done, step.total);
        !job.cancelled()
    }
}

impl App {
    /// This device's bundle key (`xuncha1:…`): what another side names to send it a bundle.
    pub fn bundle_key(&self) -> Result<String> {
        self.with(|s| Ok(bundle::identity(&s.store)?.to_text()))
    }

    /// 导出同步包: a bundle to `to` (another device's or a server's key) of every change it
    /// has not acknowledged, with the records' photos and files when `attachments`, in the
    /// export folder.
    pub fn export_bundle(&self, to: &str, attachments: bool) -> Result<ExportedFile> {
        let to = PeerKey::parse(to).map_err(|e| AppError::Bundle(BundleFailure::Bundle(e)))?;
        let job = self.start_export(DocumentKind::Bundle)?;
        let store = self.export_store()?;
        let id = self.new_bundle_id()?;
        let path = self.export_path(DocumentKind::Bundle.zh(), xuncha_protocol::bundle::EXTENSION)?;
        let mut bytes = Vec::new();
        let now = self.clock.now_ms();
        let exported = bundle::export(&store, &to, attachments, &mut bytes, &id, now, &mut watch(&job, false))?;
        self.write(&path, &bytes)?;
        Ok(ExportedFile { openable: false, ..self.exported(&path, DocumentKind::Bundle, exported.documents) })
    }

    /// 导入同步包: checks the bundle at `path` whole and merges it in one transaction (a
    /// receipt to give back is written to the export folder), or marks what a receipt says.
    /// It runs as a job (its progress asked for like an export's; cancelled while it is
    /// read, nothing is applied); the reading, the long part, holds up nothing else.
    pub fn import_bundle(&self, path: &str) -> Result<BundleImport> {
        let io = |e: std::io::Error| AppError::Io { path: path.to_owned(), detail: e.to_string() };
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let job = self.start_job(DocumentKind::Bundle, true)?;
        let id = self.new_bundle_id()?;
        let now = self.clock.now_ms();
        let mut watch = watch(&job, true);
        // Read and checked on a connection of its own (the UI goes on meanwhile); merged on
        // the session's, so the UI's own writes wait for the merge rather than fail.
        let verified = bundle::verify(&self.export_store()?, std::io::BufReader::new(file), size, &mut watch)?;
        let imported = self.with(|s| Ok(bundle::apply(&mut s.store, verified, &id, now, &mut watch)?))?;
        self.changed();
        let answer = match &imported.receipt {
            Some(bytes) => {
                let path = self.export_path(DocumentKind::Receipt.zh(), xuncha_protocol::bundle::EXTENSION)?;
                self.write(&path, bytes)?;
                Some(ExportedFile {
                    openable: false,
                    ..self.exported(&path, DocumentKind::Receipt, imported.documents)
                })
            }
            None => None,
        };
        Ok(BundleImport {
            receipt: imported.kind == xuncha_protocol::bundle::KIND_RECEIPT,
            sender: imported.sender,
            documents: count(imported.documents),
            merged: count(imported.merged),
            attachments: count(imported.attachments),
            acknowledged: count(imported.acknowledged),
            refused: imported
                .refused
                .into_iter()
                .map(|r| BundleRefusal { record: r.record, code: xuncha_domain::ErrorCode::parse(&r.code) })
                .collect(),
            answer,
        })
    }

    fn new_bundle_id(&self) -> Result<String> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| AppError::BadInput(BadInput::NoRandomness(e.to_string())))?;
        Ok(hex::encode(bytes))
    }
}
