//! The Tauri shell: opens the window, owns the [`xuncha_app::App`], and maps each command
//! onto one of its methods. Events (sync status, records arriving) go to the web view.
//! No other crate knows Tauri; no command does more than call the app (or, for where an
//! export is saved, the [`Destinations`]).

mod destinations;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tauri::ipc::{InvokeBody, Request, Response};
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_opener::OpenerExt;
use xuncha_app::bundles::BundleImport;
use xuncha_app::relay::{RelayInfo, RelayJoined};
use xuncha_app::reports::{ExportProgress, ExportedFile};
use xuncha_app::{
    App, AppError, AppStatus, Assignment, AttachmentInput, Config, EnrollInput, EnrollLink, EventSink, ExportResult,
    FieldInput, FieldVersionView, HistoryEntryView, ListPage, ListQuery, NewRecordInput, ProblemRow, ProgressInput,
    RecordView, RosterKey, RosterPick, Schema, SignInput, SyncStatus, SystemClock, TransitionInput,
};
use xuncha_domain::{DivisionEntry, Edit, FieldPath, InformantField, ItemId, LedgerChange, RecordId};
use xuncha_store::{Facets, Totals, TotalsFilter};

use crate::destinations::Destinations;

type Result<T> = std::result::Result<T, AppError>;

/// Runs a use case on the blocking pool: they read and write the database and may wait
/// on the network, which must not hold the async runtime's threads.
async fn blocking<T: Send + 'static>(
    handle: AppHandle,
    f: impl FnOnce(&App) -> Result<T> + Send + 'static,
) -> Result<T> {
    tauri::async_runtime::spawn_blocking(move || f(&handle.state::<App>()))
        .await
        .map_err(|e| AppError::Io { path: "worker".into(), detail: e.to_string() })?
}

/// Moves or removes an exported file on the blocking pool (a large archive copied to
/// another disk takes a while).
async fn on_files<T: Send + 'static>(
    handle: AppHandle,
    f: impl FnOnce(&Destinations) -> Result<T> + Send + 'static,
) -> Result<T> {
    tauri::async_runtime::spawn_blocking(move || f(&handle.state::<Destinations>()))
        .await
        .map_err(|e| AppError::Io { path: "worker".into(), detail: e.to_string() })?
}

/// Sends the app's events to the web view.
#[derive(Debug)]
struct WebviewEvents(tauri::AppHandle);

impl EventSink for WebviewEvents {
    fn sync_status(&self, status: &SyncStatus) {
        let _ = self.0.emit("sync-status", status);
    }

    fn records_changed(&self) {
        let _ = self.0.emit("records-changed", ());
    }
}

#[tauri::command]
async fn app_status(handle: AppHandle) -> Result<AppStatus> {
    blocking(handle, move |app| Ok(app.status())).await
}

#[tauri::command]
async fn probe_server(handle: AppHandle, url: String) -> Result<()> {
    blocking(handle, move |app| app.probe_server(&url)).await
}

#[tauri::command]
async fn enroll_link(handle: AppHandle, text: String) -> Result<EnrollLink> {
    blocking(handle, move |app| app.enroll_link(&text)).await
}

#[tauri::command]
async fn enroll(handle: AppHandle, input: EnrollInput) -> Result<AppStatus> {
    blocking(handle, move |app| app.enroll(&input)).await
}

#[tauri::command]
async fn unlock(handle: AppHandle, pin: String) -> Result<AppStatus> {
    blocking(handle, move |app| app.unlock(&pin)).await
}

#[tauri::command]
async fn lock(handle: AppHandle) -> Result<AppStatus> {
    blocking(handle, move |app| Ok(app.lock())).await
}

#[tauri::command]
async fn change_pin(handle: AppHandle, old_pin: String, new_pin: String) -> Result<()> {
    blocking(handle, move |app| app.change_pin(&old_pin, &new_pin)).await
}

#[tauri::command]
async fn move_server(handle: AppHandle, url: String) -> Result<AppStatus> {
    blocking(handle, move |app| app.move_server(&url)).await
}

#[tauri::command]
async fn schema() -> Result<Schema> {
    Ok(xuncha_app::schema())
}

#[tauri::command]
async fn list_records(handle: AppHandle, query: ListQuery) -> Result<ListPage> {
    blocking(handle, move |app| app.list(&query)).await
}

#[tauri::command]
async fn mark_seen(handle: AppHandle, id: RecordId) -> Result<u32> {
    blocking(handle, move |app| app.mark_seen(id)).await
}

#[tauri::command]
async fn facets(handle: AppHandle) -> Result<Facets> {
    blocking(handle, move |app| app.facets()).await
}

#[tauri::command]
async fn totals(handle: AppHandle, township: Option<String>) -> Result<Totals> {
    blocking(handle, move |app| app.totals(township.as_deref())).await
}

#[tauri::command]
async fn record(handle: AppHandle, id: RecordId) -> Result<RecordView> {
    blocking(handle, move |app| app.record(id)).await
}

#[tauri::command]
async fn create_record(handle: AppHandle, input: NewRecordInput) -> Result<RecordView> {
    blocking(handle, move |app| app.create(&input)).await
}

#[tauri::command]
async fn edit_record(handle: AppHandle, id: RecordId, edits: Vec<Edit>) -> Result<RecordView> {
    blocking(handle, move |app| app.edit(id, &edits)).await
}

#[tauri::command]
async fn input_field(handle: AppHandle, id: RecordId, input: FieldInput) -> Result<RecordView> {
    blocking(handle, move |app| app.input(id, &input)).await
}

#[tauri::command]
async fn transition_record(handle: AppHandle, id: RecordId, input: TransitionInput) -> Result<RecordView> {
    blocking(handle, move |app| app.transition(id, &input)).await
}

#[tauri::command]
async fn withdraw_record(handle: AppHandle, id: RecordId) -> Result<RecordView> {
    blocking(handle, move |app| app.withdraw(id)).await
}

#[tauri::command]
async fn townships(handle: AppHandle) -> Result<Vec<DivisionEntry>> {
    blocking(handle, move |app| app.townships()).await
}

#[tauri::command]
async fn villages(handle: AppHandle, township: String) -> Result<Vec<DivisionEntry>> {
    blocking(handle, move |app| app.villages(&township)).await
}

#[tauri::command]
async fn assignment(handle: AppHandle) -> Result<Assignment> {
    blocking(handle, move |app| app.assignment()).await
}

#[tauri::command]
async fn place_record(handle: AppHandle, id: RecordId, code: String) -> Result<RecordView> {
    blocking(handle, move |app| app.place(id, &code)).await
}

#[tauri::command]
async fn search_roster(handle: AppHandle, id: RecordId, query: String) -> Result<Vec<RosterPick>> {
    blocking(handle, move |app| app.search_roster(id, &query)).await
}

#[tauri::command]
async fn add_from_roster(handle: AppHandle, id: RecordId, keys: Vec<RosterKey>) -> Result<RecordView> {
    blocking(handle, move |app| app.add_from_roster(id, &keys)).await
}

#[tauri::command]
async fn new_item_id(handle: AppHandle) -> Result<ItemId> {
    blocking(handle, move |app| app.new_item_id()).await
}

#[tauri::command]
async fn settle_conflict(handle: AppHandle, id: RecordId, path: FieldPath, change: String) -> Result<RecordView> {
    blocking(handle, move |app| app.settle(id, &path, &change)).await
}

#[tauri::command]
async fn record_history(handle: AppHandle, id: RecordId) -> Result<Vec<HistoryEntryView>> {
    blocking(handle, move |app| app.history(id)).await
}

#[tauri::command]
async fn field_history(handle: AppHandle, id: RecordId, path: FieldPath) -> Result<Vec<FieldVersionView>> {
    blocking(handle, move |app| app.field_history(id, &path)).await
}

/// The file's bytes travel as the raw request body; what the record says about them
/// travels in the `x-attachment` header (percent-encoded JSON).
#[tauri::command]
async fn add_attachment(handle: AppHandle, request: Request<'_>) -> Result<RecordView> {
    let (input, bytes) = attachment_request(&request)?;
    blocking(handle, move |app| app.attach(&input, bytes)).await
}

/// The pad's picture travels as the raw request body; the rest in the `x-sign` header.
#[tauri::command]
async fn sign_record(handle: AppHandle, request: Request<'_>) -> Result<RecordView> {
    let (input, bytes) = raw_request::<SignInput>(&request, "x-sign")?;
    blocking(handle, move |app| app.sign(&input, bytes)).await
}

/// The 佐证材料 travel as the raw request body, one after another; the rest in the
/// `x-progress` header.
#[tauri::command]
async fn add_progress(handle: AppHandle, request: Request<'_>) -> Result<RecordView> {
    let (input, bytes) = raw_request::<ProgressInput>(&request, "x-progress")?;
    blocking(handle, move |app| app.add_progress(&input, bytes)).await
}

#[tauri::command]
async fn rectify_record(handle: AppHandle, id: RecordId, change: LedgerChange) -> Result<RecordView> {
    blocking(handle, move |app| app.rectify(id, &change)).await
}

#[tauri::command]
async fn cite_record(handle: AppHandle, id: RecordId, source: RecordId, cite: bool) -> Result<RecordView> {
    blocking(handle, move |app| app.cite(id, source, cite)).await
}

#[tauri::command]
async fn problem_list(handle: AppHandle, filter: TotalsFilter) -> Result<Vec<ProblemRow>> {
    blocking(handle, move |app| app.problems(&filter)).await
}

#[tauri::command]
async fn totals_filtered(handle: AppHandle, filter: TotalsFilter) -> Result<Totals> {
    blocking(handle, move |app| app.totals_for(&filter)).await
}

#[tauri::command]
async fn attachment(handle: AppHandle, sha256: String, mime: String) -> Result<Response> {
    blocking(handle, move |app| app.attachment(&sha256, &mime).map(Response::new)).await
}

#[tauri::command]
async fn download_attachments(handle: AppHandle, query: ListQuery) -> Result<xuncha_app::DownloadReport> {
    blocking(handle, move |app| app.download_attachments(&query)).await
}

/// A photo's thumbnail as raw bytes (a JPEG); empty when the file is no photo to shrink.
#[tauri::command]
async fn attachment_thumbnail(handle: AppHandle, sha256: String, mime: String) -> Result<Response> {
    blocking(handle, move |app| app.attachment_thumbnail(&sha256, &mime).map(|t| Response::new(t.unwrap_or_default())))
        .await
}

#[tauri::command]
async fn set_informant(handle: AppHandle, id: RecordId, values: Vec<(InformantField, String)>) -> Result<RecordView> {
    blocking(handle, move |app| app.set_informant(id, &values)).await
}

#[tauri::command]
async fn sync_status(handle: AppHandle) -> Result<SyncStatus> {
    blocking(handle, move |app| app.sync_status()).await
}

#[tauri::command]
async fn sync_now(handle: AppHandle) -> Result<SyncStatus> {
    blocking(handle, move |app| app.sync_now()).await
}

#[tauri::command]
async fn export_csv(handle: AppHandle) -> Result<ExportResult> {
    blocking(handle, move |app| app.export_csv()).await
}

#[tauri::command]
async fn report_draft(handle: AppHandle, id: RecordId) -> Result<ExportedFile> {
    blocking(handle, move |app| app.report_draft(id)).await
}

#[tauri::command]
async fn report_household(handle: AppHandle, id: RecordId) -> Result<ExportedFile> {
    blocking(handle, move |app| app.report_household(id)).await
}

#[tauri::command]
async fn export_workbook(handle: AppHandle, filter: TotalsFilter) -> Result<ExportedFile> {
    blocking(handle, move |app| app.export_workbook(&filter)).await
}

#[tauri::command]
async fn report_problems(handle: AppHandle, filter: TotalsFilter) -> Result<ExportedFile> {
    blocking(handle, move |app| app.report_problems(&filter)).await
}

#[tauri::command]
async fn report_rectification(handle: AppHandle, filter: TotalsFilter) -> Result<ExportedFile> {
    blocking(handle, move |app| app.report_rectification(&filter)).await
}

#[tauri::command]
async fn report_summary(handle: AppHandle, filter: TotalsFilter) -> Result<ExportedFile> {
    blocking(handle, move |app| app.report_summary(&filter)).await
}

#[tauri::command]
async fn export_media(handle: AppHandle, filter: TotalsFilter) -> Result<ExportedFile> {
    blocking(handle, move |app| app.export_media(&filter)).await
}

#[tauri::command]
async fn bundle_key(handle: AppHandle) -> Result<String> {
    blocking(handle, move |app| app.bundle_key()).await
}

#[tauri::command]
async fn export_bundle(handle: AppHandle, to: String, attachments: bool) -> Result<ExportedFile> {
    blocking(handle, move |app| app.export_bundle(&to, attachments)).await
}

#[tauri::command]
async fn import_bundle(handle: AppHandle, path: String) -> Result<BundleImport> {
    blocking(handle, move |app| app.import_bundle(&path)).await
}

#[tauri::command]
async fn start_relay(handle: AppHandle) -> Result<RelayInfo> {
    blocking(handle, move |app| app.start_relay()).await
}

#[tauri::command]
async fn stop_relay(handle: AppHandle) -> Result<()> {
    blocking(handle, move |app| app.stop_relay()).await
}

#[tauri::command]
async fn relay_info(handle: AppHandle) -> Result<Option<RelayInfo>> {
    blocking(handle, move |app| Ok(app.relay_info())).await
}

#[tauri::command]
async fn join_relay(handle: AppHandle, link: String) -> Result<RelayJoined> {
    blocking(handle, move |app| app.join_relay(&link)).await
}

#[tauri::command]
async fn export_progress(handle: AppHandle) -> Result<ExportProgress> {
    blocking(handle, move |app| Ok(app.export_progress())).await
}

#[tauri::command]
async fn cancel_export(handle: AppHandle) -> Result<ExportProgress> {
    blocking(handle, move |app| Ok(app.cancel_export())).await
}

/// Opens an exported file with the system's viewer (where it can be printed): one saved
/// where the user chose, or one in the export folder.
#[tauri::command]
async fn open_exported(handle: AppHandle, path: String) -> Result<()> {
    if handle.state::<Destinations>().is_saved(&path) {
        return handle.opener().open_path(&path, None::<&str>).map_err(|_| AppError::CannotOpen { path });
    }
    blocking(handle, move |app| app.open_exported(&path)).await
}

/// Opens a PDF attachment with the system's viewer.
#[tauri::command]
async fn open_attachment(handle: AppHandle, sha256: String) -> Result<()> {
    blocking(handle, move |app| app.open_attachment(&sha256)).await
}

/// Where the Save dialog proposes to save the exported file `path`; `None`: it stays where
/// it was written, and nothing is asked (`--export-dir`).
#[tauri::command]
async fn export_destination(handle: AppHandle, path: String) -> Result<Option<String>> {
    Ok(handle.state::<Destinations>().proposal(&path))
}

/// Moves the exported file `path` where the user chose in the Save dialog; answers where it is.
#[tauri::command]
async fn save_exported(handle: AppHandle, path: String, destination: String) -> Result<String> {
    on_files(handle, move |files| files.save(&path, &destination)).await
}

/// Removes the exported file `path`: the Save dialog was cancelled.
#[tauri::command]
async fn discard_exported(handle: AppHandle, path: String) -> Result<()> {
    on_files(handle, move |files| files.discard(&path)).await
}

fn bad(message: &str) -> AppError {
    AppError::BadInput(xuncha_app::BadInput::BadRequest(message.to_owned()))
}

fn attachment_request(request: &Request<'_>) -> Result<(AttachmentInput, Vec<u8>)> {
    raw_request(request, "x-attachment")
}

/// Raw bytes in the body, and what goes with them as percent-encoded JSON in `header`.
fn raw_request<T: serde::de::DeserializeOwned>(request: &Request<'_>, header: &str) -> Result<(T, Vec<u8>)> {
    let InvokeBody::Raw(bytes) = request.body() else {
        return Err(bad("the file must be sent as raw bytes"));
    };
    let value = request.headers().get(header).ok_or_else(|| bad(&format!("no {header} header")))?;
    let json = value
        .to_str()
        .ok()
        .and_then(xuncha_protocol::percent_decode)
        .ok_or_else(|| bad("the header is not encoded text"))?;
    let input: T = serde_json::from_str(&json).map_err(|e| bad(&e.to_string()))?;
    Ok((input, bytes.clone()))
}

/// An option from the command line (desktop): `--data-dir DIR` keeps the device database
/// somewhere else than the platform's app-data folder. `--export-dir DIR` writes every
/// export straight into DIR without asking, for kiosks, tests and managed devices (a Save
/// dialog cannot be answered there); without it, the user chooses where each one is saved.
fn dir_arg(name: &str) -> Option<PathBuf> {
    let args: Vec<_> = std::env::args_os().collect();
    args.windows(2).find(|pair| pair[0] == name).map(|pair| PathBuf::from(&pair[1]))
}

/// `--window-size WIDTHxHEIGHT` (desktop): the window's size in CSS px, as a tablet held
/// upright (800x1280) would show the app; the end-to-end tests run in both orientations.
fn window_size_arg() -> Option<tauri::LogicalSize<f64>> {
    let args: Vec<String> = std::env::args().collect();
    let text = args.windows(2).find(|pair| pair[0] == "--window-size").map(|pair| pair[1].clone())?;
    let (width, height) = text.split_once('x')?;
    Some(tauri::LogicalSize::new(width.trim().parse().ok()?, height.trim().parse().ok()?))
}

/// `--sync-every SECONDS` (desktop): how often the app, connected to its server and idle,
/// syncs to receive the others' edits [default: 20]. A desk that must see new decisions
/// sooner may set less; the end-to-end tests, which wait for other devices' edits, set 3.
/// A value that is not a number of seconds, 1 or more, is refused with a warning on
/// standard error, and the default kept.
fn sync_every_arg() -> Option<std::time::Duration> {
    let args: Vec<String> = std::env::args().collect();
    let text = args.windows(2).find(|pair| pair[0] == "--sync-every").map(|pair| pair[1].clone())?;
    match text.trim().parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 1.0 => Some(std::time::Duration::from_secs_f64(seconds)),
        _ => {
            tracing::warn!(value = %text, "--sync-every takes a number of seconds, 1 or more; the default interval is kept");
            None
        }
    }
}

/// The folder of the data folder where exports wait until the user has chosen their place.
const PENDING_EXPORTS: &str = "exports-pending";

/// The report fonts the app ships as resources (`fonts/` in its resource folder; see
/// tauri.conf.json), where they are all there.
fn bundled_fonts(resources: &Path) -> Option<PathBuf> {
    let dir = resources.join("fonts");
    xuncha_report::fonts::FILES.iter().all(|(name, _, _)| dir.join(name).is_file()).then_some(dir)
}

/// Whether the web view may draw with the graphics card: `--gpu` on the command line or
/// `XUNCHA_GPU=1` (desktop).
#[cfg(target_os = "linux")]
fn gpu_asked() -> bool {
    std::env::args().any(|a| a == "--gpu") || std::env::var_os("XUNCHA_GPU").is_some_and(|v| v == "1")
}

/// On Linux the app draws its pages in software unless asked otherwise ([`gpu_asked`]).
/// WebKitGTK's accelerated compositing keeps OpenGL buffers in its web process (without
/// it, that process holds 90 MiB less of its own memory and the start is faster); GTK's own
/// OpenGL (GLX) is not needed either. The app's pages are forms, lists and tables that
/// software draws as fast. Measured by `make bench-app`, both ways side by side (README).
/// It also sidesteps the blank windows WebKitGTK's compositing is known for on some
/// drivers. What the user has set for these variables is kept. The app process is then kept
/// free of the OpenGL driver ([`keep_the_gl_driver_out_of_the_app_process`]).
///
/// The variables are set before GTK starts and before any thread does, through glib (the
/// C library reads them; the workspace allows no `unsafe`, which `std::env::set_var` needs).
#[cfg(target_os = "linux")]
fn draw_in_software_unless_asked() {
    if gpu_asked() {
        return;
    }
    for (name, value) in [("WEBKIT_DISABLE_COMPOSITING_MODE", "1"), ("GDK_GL", "disable")] {
        if let Err(error) = glib::setenv(name, value, false) {
            tracing::warn!(%error, name, "could not choose software drawing");
        }
    }
    keep_the_gl_driver_out_of_the_app_process();
}

/// The EGL loader's list of drivers (libglvnd's "vendors"), read once per process.
#[cfg(target_os = "linux")]
const EGL_VENDORS: &str = "__EGL_VENDOR_LIBRARY_FILENAMES";

/// In software drawing the app process draws nothing with OpenGL, yet WebKitGTK opens an
/// EGL display in it whatever the mode, and on Mesa that maps the driver with its LLVM: 50
/// of the app process's 186 MiB resident with 10,000 records (`make bench-app`). libglvnd,
/// the EGL loader of Linux distributions, chooses a process's drivers once, at its first EGL
/// call, from [`EGL_VENDORS`] when that is set. So the app makes that first call itself with
/// the list empty, then puts the variable back as it was: the app process has no EGL driver
/// (WebKitGTK's side of the window then does without one, as software drawing needs none),
/// and WebKit's web process, started later with the environment as it was, loads its driver
/// as before (it needs one: without it, it stops at "Could not create surfaceless EGL
/// display"). Where EGL is not libglvnd, the variable means nothing and nothing changes.
/// The end-to-end run checks both: no driver in the app process, the window drawn.
#[cfg(target_os = "linux")]
fn keep_the_gl_driver_out_of_the_app_process() {
    let before = glib::getenv(EGL_VENDORS);
    if let Err(error) = glib::setenv(EGL_VENDORS, "", true) {
        tracing::warn!(%error, "could not keep the OpenGL driver out of the app process");
        return;
    }
    // The client extensions are the loader's own and its drivers': none, with no driver.
    let egl = khronos_egl::Instance::new(khronos_egl::Static);
    let extensions = egl.query_string(None, khronos_egl::EXTENSIONS);
    tracing::debug!(?extensions, "EGL drivers chosen for the app process");
    let restored = match &before {
        Some(value) => glib::setenv(EGL_VENDORS, value, true),
        None => {
            glib::unsetenv(EGL_VENDORS);
            Ok(())
        }
    };
    if let Err(error) = restored {
        tracing::error!(%error, "could not give WebKit's web process back its OpenGL driver");
    }
}

/// The C allocator's setting the app runs with on Linux (glibc): every block of 1 MiB or
/// more is mapped on its own and given back to the system when freed.
#[cfg(target_os = "linux")]
const MALLOC_TUNABLE: &str = "glibc.malloc.mmap_threshold=1048576";

/// glibc keeps freed blocks under 32 MiB on its heap, resident, for reuse, one heap per
/// thread that allocated: each photo the app takes (a 10 MB file, a 2,560 px image) left
/// some 33 MiB behind, and four left 100 MiB, the app process growing from 133 to 238 MiB
/// (`make bench-app`). With blocks of 1 MiB or more mapped on their own, a photo's buffers
/// go back to the system when it is stored. The setting is read when the process starts
/// (`GLIBC_TUNABLES`), and the workspace allows no `unsafe` for `mallopt`, so the app starts
/// itself again with it, once, before anything else: the same process (`exec`), the same
/// arguments. A setting of the user's own is kept.
#[cfg(target_os = "linux")]
fn give_large_blocks_back() {
    use std::os::unix::process::CommandExt;
    let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if current.contains("glibc.malloc.mmap_threshold") {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let tunables = if current.is_empty() { MALLOC_TUNABLE.to_owned() } else { format!("{current}:{MALLOC_TUNABLE}") };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(name) = args.next() {
        command.arg0(name);
    }
    // Returns only if the start failed; the app then runs as it is.
    let error = command.args(args).env("GLIBC_TUNABLES", tunables).exec();
    tracing::warn!(%error, "could not restart with the allocator's setting; freed memory may stay resident");
}

/// Runs the app.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    // Logs go to standard error, filtered by XUNCHA_LOG (for example `xuncha_app=debug`).
    let filter = std::env::var("XUNCHA_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
    #[cfg(target_os = "linux")]
    give_large_blocks_back();
    #[cfg(target_os = "linux")]
    draw_in_software_unless_asked();
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        // Only Rust opens files (those the user saved); links are not taken over.
        .plugin(tauri_plugin_opener::Builder::new().open_js_links_on_click(false).build())
        .setup(|app| {
            let data_dir = match dir_arg("--data-dir") {
                Some(dir) => dir,
                None => app.path().app_data_dir()?,
            };
            let mut config = Config::new(&data_dir);
            // Exports go where the user chooses (a Save dialog, which opens in the Downloads
            // folder); they wait in the data folder meanwhile. With --export-dir, straight
            // into that folder.
            let destinations = match dir_arg("--export-dir") {
                Some(dir) => {
                    config.export_dir = dir;
                    Destinations::fixed()
                }
                None => {
                    config.export_dir = data_dir.join(PENDING_EXPORTS);
                    Destinations::asking(config.export_dir.clone(), app.path().download_dir().ok())
                }
            };
            config.fonts_dir = app.path().resource_dir().ok().and_then(|dir| bundled_fonts(&dir));
            config.demo_pin = std::env::var("XUNCHA_DEMO_PIN").ok().filter(|p| !p.is_empty());
            // Where 开启组内同步 serves (the end-to-end tests keep it on loopback).
            if let Some(listen) = std::env::var("XUNCHA_RELAY_LISTEN").ok().and_then(|a| a.parse().ok()) {
                config.relay_listen = listen;
            }
            if let Some(every) = sync_every_arg() {
                config.sync_every = every;
            }
            let events = Arc::new(WebviewEvents(app.handle().clone()));
            app.manage(App::new(config, events, Arc::new(SystemClock))?);
            destinations.clear_pending();
            app.manage(destinations);
            if let (Some(size), Some(window)) = (window_size_arg(), app.get_webview_window("main")) {
                window.set_size(size)?;
            }
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            app_status,
            probe_server,
            enroll_link,
            enroll,
            unlock,
            lock,
            change_pin,
            move_server,
            schema,
            list_records,
            mark_seen,
            facets,
            totals,
            record,
            create_record,
            edit_record,
            input_field,
            transition_record,
            sign_record,
            add_progress,
            rectify_record,
            cite_record,
            totals_filtered,
            problem_list,
            withdraw_record,
            townships,
            villages,
            assignment,
            place_record,
            search_roster,
            add_from_roster,
            new_item_id,
            settle_conflict,
            record_history,
            field_history,
            add_attachment,
            attachment,
            set_informant,
            sync_status,
            sync_now,
            export_csv,
            report_draft,
            report_household,
            export_workbook,
            report_problems,
            report_rectification,
            report_summary,
            export_media,
            bundle_key,
            export_bundle,
            import_bundle,
            start_relay,
            stop_relay,
            relay_info,
            join_relay,
            export_progress,
            cancel_export,
            open_exported,
            open_attachment,
            attachment_thumbnail,
            download_attachments,
            export_destination,
            save_exported,
            discard_exported,
        ])
        .run(tauri::generate_context!())
        .unwrap_or_else(|error| {
            eprintln!("巡察通无法启动 / Xuncha could not start: {error}");
            std::process::exit(1);
        });
}

#[cfg(test)]
mod tests {

    #[test]
    fn percent_decoding_reads_what_encode_uri_component_writes() {
        assert_eq!(
            xuncha_protocol::percent_decode("%7B%22caption%22%3A%22%E6%94%B6%E6%8D%AE%22%7D").as_deref(),
            Some("{\"caption\":\"收据\"}")
        );
        assert_eq!(xuncha_protocol::percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(xuncha_protocol::percent_decode("%E6%9"), None);
        assert_eq!(xuncha_protocol::percent_decode("%ZZ"), None);
    }
}
