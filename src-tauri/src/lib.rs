//! The Tauri shell: opens the window, owns the [`xuncha_app::App`], and maps each command
//! onto one of its methods. Events (sync status, records arriving) go to the web view.
//! No other crate knows Tauri; no command does more than call the app.

use std::path::PathBuf;
use std::sync::Arc;

use tauri::ipc::{InvokeBody, Request, Response};
use tauri::{AppHandle, Emitter, Manager};
use xuncha_app::reports::{ExportProgress, ExportedFile};
use xuncha_app::{
    App, AppError, AppStatus, Assignment, AttachmentInput, Config, EnrollInput, EnrollLink, EventSink, ExportResult,
    FieldInput, FieldVersionView, HistoryEntryView, ListPage, ListQuery, NewRecordInput, ProblemRow, ProgressInput,
    RecordView, RosterKey, RosterPick, Schema, SignInput, SyncStatus, SystemClock, TransitionInput,
};
use xuncha_domain::{DivisionEntry, Edit, FieldPath, InformantField, ItemId, LedgerChange, RecordId};
use xuncha_store::{Facets, Totals, TotalsFilter};

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
async fn export_progress(handle: AppHandle) -> Result<ExportProgress> {
    blocking(handle, move |app| Ok(app.export_progress())).await
}

#[tauri::command]
async fn cancel_export(handle: AppHandle) -> Result<ExportProgress> {
    blocking(handle, move |app| Ok(app.cancel_export())).await
}

#[tauri::command]
async fn open_exported(handle: AppHandle, path: String) -> Result<()> {
    blocking(handle, move |app| app.open_exported(&path)).await
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
/// somewhere else than the platform's app-data folder, `--export-dir DIR` writes exports
/// somewhere else than the Downloads folder (tests, the demo).
fn dir_arg(name: &str) -> Option<PathBuf> {
    let args: Vec<_> = std::env::args_os().collect();
    args.windows(2).find(|pair| pair[0] == name).map(|pair| PathBuf::from(&pair[1]))
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
    tauri::Builder::default()
        .setup(|app| {
            let data_dir = match dir_arg("--data-dir") {
                Some(dir) => dir,
                None => app.path().app_data_dir()?,
            };
            let mut config = Config::new(&data_dir);
            // Exports go where the user finds them: the Downloads folder (the app's data
            // folder only where the system names none).
            if let Some(dir) = dir_arg("--export-dir").or_else(|| app.path().download_dir().ok()) {
                config.export_dir = dir;
            }
            config.demo_pin = std::env::var("XUNCHA_DEMO_PIN").ok().filter(|p| !p.is_empty());
            let events = Arc::new(WebviewEvents(app.handle().clone()));
            app.manage(App::new(config, events, Arc::new(SystemClock))?);
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
            export_progress,
            cancel_export,
            open_exported,
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
