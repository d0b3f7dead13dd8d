//! What crosses to the UI: the data-transfer types of every use case. TypeScript
//! declarations are generated from these (tests/bindings.rs) and CI fails when the
//! committed ones are stale.

use serde::{Deserialize, Serialize};
use xuncha_domain::{
    ConflictValue, Decision, Division, DivisionEntry, Field, FieldPath, FieldType, FieldVersion, Finding, FundIssue,
    GeoPoint, HistoryEntry, Informant, ItemField, ItemId, ItemList, Light, NextStep, Problem, Projection, Record,
    RecordId, RecordKind, ReviewStatus, RosterHousehold, Round, Shortfall, TeamRole, Vocabulary,
};

use xuncha_store::ListSort;

use crate::error::ErrorDto;

/// Where the app is: first run, locked, or unlocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// No device database yet: ask for the server and an enrollment code, then a PIN.
    Setup,
    /// The device database exists and is encrypted: ask for the PIN.
    Locked,
    Unlocked,
}

/// The app's state at start and after every unlock or lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AppStatus {
    pub stage: Stage,
    pub session: Option<SessionInfo>,
    /// Set only for the demo (`make run`): the PIN to show on the lock screen.
    pub demo_pin: Option<String>,
    pub version: String,
}

/// Who is signed in, on which device, against which server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionInfo {
    pub user_id: String,
    pub user_name: String,
    /// inspector, team_lead, supervisor or administrator.
    pub role: String,
    pub jurisdiction: String,
    pub device_id: String,
    /// The name this device enrolled with (empty if unknown).
    pub device_name: String,
    pub server_url: String,
    /// Whether the user reviews records: the office, team leads, and the 组长 and 副组长 of
    /// the teams on the device (as of unlocking).
    pub can_review: bool,
    pub records_on_device: i64,
}

/// First run: the server, the one-time enrollment code, this device's name and the PIN
/// that will encrypt the device database.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EnrollInput {
    pub server: String,
    pub code: String,
    pub device_name: String,
    pub pin: String,
    /// The pin of the server's TLS key from the QR code: the device enrolls only with a
    /// server presenting that key (without it, the key it is shown is pinned).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub server_pin: Option<String>,
}

/// What the record list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ListQuery {
    pub kind: Option<RecordKind>,
    pub status: Option<ReviewStatus>,
    pub township: Option<String>,
    pub village: Option<String>,
    pub round: Option<String>,
    /// Full-text search (Chinese phrases or words).
    pub text: Option<String>,
    #[serde(default)]
    pub conflicts_only: bool,
    /// Review queue: records waiting for a supervisor (submitted or needing more).
    #[serde(default)]
    pub review_queue: bool,
    /// Only the records the server refused, each with why.
    #[serde(default)]
    pub refused_only: bool,
    #[serde(default)]
    pub sort: ListSort,
    #[serde(default)]
    pub offset: u32,
    #[serde(default)]
    pub limit: u32,
}

/// One row of the record list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RecordRow {
    pub row: Projection,
    /// Changes on this device that the server has not acknowledged yet.
    pub pending: bool,
    /// While it is being rectified: the deadline's light, and the days left (negative:
    /// overdue).
    pub light: Option<Light>,
    pub days_left: Option<i64>,
    /// A step someone else took on the user's record that the user has not looked at (a
    /// 退回补充, a sign-off, a decision): cleared when the record is opened.
    pub news: bool,
    /// Why the server refused the record's last upload.
    pub refusal: Option<xuncha_domain::ErrorCode>,
    /// The name of who submitted it for review, from the user directory (else their id).
    pub submitter_name: String,
}

/// A page of the record list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ListPage {
    pub rows: Vec<RecordRow>,
    pub offset: u32,
    /// Whether this is the last page.
    pub done: bool,
    /// How many of the user's records have news, in the whole list (not only this page):
    /// the badge on the records tab.
    pub news: u32,
}

/// A new record: its kind and where it was made.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct NewRecordInput {
    pub kind: RecordKind,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub round: String,
    pub township: Option<Division>,
    pub village: Option<Division>,
    #[serde(default)]
    pub team: String,
}

/// Everything the record screen shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RecordView {
    pub record: Record,
    /// What to fix, per field path (`allocated`, `beneficiaries/<id>/received`).
    pub problems: Vec<Problem>,
    pub conflicts: Vec<ConflictView>,
    /// The decision and comments of `record.review`, with who made them by name.
    pub review: ReviewView,
    pub pending: bool,
    /// Why the server refused this record's changes, if it did: a stable code (the UI
    /// says what it means and what to do).
    pub refusal: Option<RefusalView>,
    /// The informant of a gang clue, if this device holds it (supervisors, or the
    /// device that wrote it).
    pub informant: Option<Informant>,
    /// The workflow steps that follow the record's status, each with who takes it and
    /// whether this user may (the app offers those; the server enforces the same rules).
    pub next_steps: Vec<NextStep>,
    /// The rectification's deadline light while it is being rectified.
    pub light: Option<Light>,
    /// Days to the deadline while it is being rectified (negative: overdue).
    pub days_left: Option<i64>,
    /// The sources the record cites and the records that cite it (both ways), where this
    /// device holds them.
    pub links: Vec<LinkView>,
    /// Whether the user acts as the office (巡察办) on this record.
    pub can_review: bool,
    /// The document heads (hex): the version a decision made now would be pinned to.
    pub heads: Vec<String>,
    /// Fund checks: each household's 差额 and the table's totals (`None` for other kinds).
    pub shortfall: Option<Shortfall>,
    /// What a reviewer should look at, such as a household that received less than it
    /// was entitled to. Findings never block submitting.
    pub findings: Vec<Finding>,
    /// The record's township or village whose code the reference data on this device does
    /// not know (code `unknown_division`, path `township` or `village`): flagged, not
    /// refused. Empty while the device holds no divisions at all.
    pub unknown_places: Vec<Finding>,
}

/// The server's refusal of a record's changes (its message stays with the outbox, for the
/// command line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RefusalView {
    pub code: xuncha_domain::ErrorCode,
}

/// One change in a record's history, with its author's name. `author` is the user the
/// change's commit message names, which the server verified on upload.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HistoryEntryView {
    #[serde(flatten)]
    pub entry: HistoryEntry,
    /// The author's name in the user directory (`None`: not listed; show `author`).
    pub author_name: Option<String>,
    /// The device's name in the device directory (`None`: not listed; show `device`).
    pub device_name: Option<String>,
}

/// The value a field had after one change, with the change's author by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FieldVersionView {
    #[serde(flatten)]
    pub version: FieldVersion,
    /// The author's name in the user directory (`None`: not listed; show `author`).
    pub author_name: Option<String>,
    /// The device's name in the device directory (`None`: not listed; show `device`).
    pub device_name: Option<String>,
}

/// A field holding concurrent values, with who wrote each by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConflictView {
    pub path: FieldPath,
    pub label_zh: String,
    pub values: Vec<ConflictValueView>,
}

/// One of the concurrent values of a field, with its author by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConflictValueView {
    #[serde(flatten)]
    pub value: ConflictValue,
    /// The author's name in the user directory (`None`: not listed; show `author`).
    pub author_name: Option<String>,
    /// The device's name in the device directory (`None`: not listed; show `device`).
    pub device_name: Option<String>,
}

/// Who reviewed a record, by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReviewView {
    pub decision: Option<DecisionView>,
    /// Oldest first, as `record.review.comments`.
    pub comments: Vec<CommentView>,
    /// The names of the people in the record's workflow (who took each step, added
    /// progress, took a signature), by user id, from the user directory.
    pub names: std::collections::BTreeMap<String, String>,
}

/// A review decision with its reviewer by name. `by` is checked by the server: a decision
/// can only be made in the uploader's own name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DecisionView {
    #[serde(flatten)]
    pub decision: Decision,
    /// The reviewer's name in the user directory (`None`: not listed; show `by`).
    pub by_name: Option<String>,
}

/// A reviewer's comment with its author by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CommentView {
    pub id: ItemId,
    /// The user the commit message of the change that added the comment names (verified
    /// by the server), not the author the comment's own text names; that one only when
    /// the change names no one.
    pub author: String,
    /// The author's name in the user directory (`None`: not listed, or not verified; show
    /// `author`).
    pub author_name: Option<String>,
    pub at_ms: i64,
    pub text: String,
}

/// What an enrollment QR code holds: the server's address and the one-time code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EnrollLink {
    pub server: String,
    pub code: String,
    /// The pin of the server's TLS key, for a server that terminates TLS itself.
    pub server_pin: Option<String>,
}

/// The user's place in one team of a round: what new records there are counted to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TeamAssignment {
    pub team_id: String,
    /// The team's name (巡察组), as records store it.
    pub team: String,
    pub round_id: String,
    /// The round's name, as records store it (empty when the round is not on the device).
    pub round: String,
    /// 组长, 副组长 or 组员.
    pub role: TeamRole,
    /// The team's assigned townships and villages, with their names where known.
    pub places: Vec<DivisionEntry>,
}

/// Where the user works this round, from the reference data: their teams and roles, and
/// the rounds the device knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Assignment {
    pub teams: Vec<TeamAssignment>,
    pub rounds: Vec<Round>,
    /// Whether the device holds any divisions (else places are typed as `CODE:NAME`).
    pub has_divisions: bool,
}

/// One household of the record's village rosters, as the roster picker lists it: the ID
/// and account numbers masked to their last four digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RosterPick {
    /// Which household: its roster and place in it.
    pub key: RosterKey,
    /// The fund of the roster (资金或项目名称).
    pub fund: String,
    pub household: RosterHousehold,
    /// Whether a beneficiary of the record already has this head's name.
    pub added: bool,
}

/// A household of a roster: the roster's id and the household's place in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RosterKey {
    pub roster: String,
    pub index: u32,
}

/// What a person typed into one field, parsed by Rust according to the field's type.
/// Empty text clears the field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "at", rename_all = "snake_case")]
pub enum FieldInput {
    Field { field: Field, text: String },
    Item { id: ItemId, field: ItemField, text: String },
}

/// A photo or document to attach.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AttachmentInput {
    pub record: RecordId,
    pub mime: String,
    #[serde(default)]
    pub caption: String,
    pub taken_at_ms: Option<i64>,
    pub gps: Option<GeoPoint>,
    /// Burn the on-site watermark (time, place, inspector, 编号) into a photo.
    #[serde(default)]
    pub watermark: bool,
    /// The long side, in pixels, to store a photo at; none: the app's setting.
    #[serde(default)]
    pub long_side: Option<u32>,
    /// Also keep the file as chosen, beside the downscaled or watermarked copy.
    #[serde(default)]
    pub keep_original: bool,
}

/// What fetching a place's photos and documents for offline use did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DownloadReport {
    /// The records looked at.
    pub records: u32,
    /// The files they name that the device did not hold.
    pub missing: u32,
    /// Those fetched now, and their bytes.
    pub fetched: u32,
    pub bytes: u64,
    /// Those the server could not give (they are fetched when opened, if it can then).
    pub failed: u32,
}

/// Where an export was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ExportResult {
    pub path: String,
    pub records: usize,
}

/// What sync is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Not started yet (just unlocked).
    Idle,
    /// The server does not answer: changes wait on the device.
    Offline,
    Syncing,
    Synced,
    /// The last attempt failed; `error` says why and what to do.
    Error,
}

/// Progress of the sync under way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncProgress {
    pub round_trips: u32,
    pub documents_up: u32,
    pub documents_down: u32,
    pub bytes_up: u32,
    pub bytes_down: u32,
}

/// The always-visible sync status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncStatus {
    pub state: SyncState,
    /// Documents changed on this device and not yet acknowledged.
    pub pending: i64,
    /// Documents the server refused (see the record for why).
    pub refused: i64,
    pub last_synced_ms: Option<i64>,
    pub progress: Option<SyncProgress>,
    pub error: Option<ErrorDto>,
    pub server_url: String,
    /// The route of the last sync that went through: the server, or (in a village with no
    /// signal) the team relay this device joined.
    pub route: Option<SyncRoute>,
    /// When it last synced with the team relay (its changes still wait for the server).
    pub relay_synced_ms: Option<i64>,
}

/// Which way a sync went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SyncRoute {
    Server,
    Relay,
}

/// A choice of a closed vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ChoiceInfo {
    pub code: String,
    pub zh: String,
    pub en: String,
}

/// An issue type a fund check can mark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FundIssueInfo {
    pub issue: FundIssue,
    pub zh: String,
    pub en: String,
}

/// A field of a record, as the editor renders it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FieldInfo {
    pub field: Field,
    /// The stored key, as problem paths name it.
    pub key: String,
    pub zh: String,
    pub en: String,
    pub ty: FieldType,
    /// Empty: every kind.
    pub kinds: Vec<RecordKind>,
}

/// A field of a list item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ItemFieldInfo {
    pub field: ItemField,
    /// The stored key, as problem and conflict paths name it.
    pub key: String,
    pub zh: String,
    pub en: String,
    pub ty: FieldType,
}

/// A list of items (households, subjects, relations, contracts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ListInfo {
    pub list: ItemList,
    pub key: String,
    pub zh: String,
    pub en: String,
    pub kind: RecordKind,
    pub fields: Vec<ItemFieldInfo>,
}

/// A record kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KindInfo {
    pub kind: RecordKind,
    pub zh: String,
    pub en: String,
}

/// A review status and where it may go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StatusInfo {
    pub status: ReviewStatus,
    pub zh: String,
    pub en: String,
    pub next: Vec<ReviewStatus>,
    /// Made by a reviewer, not the inspector.
    pub review_decision: bool,
}

/// A vocabulary's choices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VocabularyInfo {
    pub vocabulary: Vocabulary,
    pub choices: Vec<ChoiceInfo>,
}

/// Everything the editor needs to render every kind of record: fields, lists,
/// vocabularies and the review workflow, with their labels. Built from the domain's
/// definitions, so the UI never repeats them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Schema {
    pub kinds: Vec<KindInfo>,
    pub fields: Vec<FieldInfo>,
    pub lists: Vec<ListInfo>,
    pub vocabularies: Vec<VocabularyInfo>,
    pub statuses: Vec<StatusInfo>,
    pub fund_issues: Vec<FundIssueInfo>,
}

/// A workflow step asked for in the app: where to, with the note (required to return or
/// close), the verification conclusion (at the office's approval) and the hand-over.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TransitionInput {
    pub to: ReviewStatus,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub conclusion: Option<xuncha_domain::Conclusion>,
    #[serde(default)]
    pub handover: Option<xuncha_domain::Handover>,
}

/// A signature given in the app: the pad's picture travels as the raw request body; this
/// travels beside it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SignInput {
    pub record: RecordId,
    pub role: xuncha_domain::SignerRole,
    /// The signer's name (the user's own name when empty, for 承办人, 副组长, 组长).
    #[serde(default)]
    pub signer: String,
    /// The pad's strokes as JSON (empty for a photo of a thumbprint).
    #[serde(default)]
    pub strokes: String,
    /// `image/png` from the pad, or a photo's type.
    pub mime: String,
}

/// A progress entry of a rectification with its 佐证材料, given in the app: each file's
/// bytes travel in the raw body, one after another, `sizes` long.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProgressInput {
    pub record: RecordId,
    pub text: String,
    #[serde(default)]
    pub files: Vec<ProgressFile>,
}

/// One 佐证材料 file of a progress entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProgressFile {
    pub mime: String,
    #[serde(default)]
    pub caption: String,
    pub size: u32,
}

/// A record linked to the one shown: a source it cites, or a record that cites it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LinkView {
    pub id: RecordId,
    pub kind: RecordKind,
    pub title: String,
    pub status: ReviewStatus,
    /// Whether the record shown cites this one (a source), or this one cites it.
    pub cited: bool,
}

/// One line of the 问题清单: the problem, its state, its sources and its rectification light.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProblemRow {
    pub row: Projection,
    pub sources: Vec<LinkView>,
    pub light: Option<Light>,
    pub days_left: Option<i64>,
}
