//! The command line: every subcommand, its flags and its help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// 巡察通 Xuncha: offline inspection records for patrol inspection teams.
///
/// The device database is encrypted with a key derived from your PIN. Give the PIN in the
/// XUNCHA_PIN environment variable for scripts, or type it when asked.
#[derive(Debug, Parser)]
#[command(name = "xuncha", version, about, long_about, propagate_version = true)]
pub struct Cli {
    /// The device database file.
    #[arg(long, global = true, env = "XUNCHA_DB", default_value = "xuncha-device.db")]
    pub db: PathBuf,

    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an encrypted device database (asks for a new PIN, or reads XUNCHA_PIN).
    Init(InitArgs),
    /// Create, list, show and edit inspection records.
    #[command(subcommand)]
    Record(RecordCommand),
    /// Full-text search (Chinese phrases of any length).
    Search {
        /// What to look for, e.g. 优亲厚友 or "危房改造 截留".
        query: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// District totals: party members investigated and expelled, contracts rectified,
    /// land and income recovered, funds checked.
    Totals {
        /// Only this township (12-digit code).
        #[arg(long)]
        township: Option<String>,
    },
    /// Export records to CSV (one row per record) or JSON (whole records).
    Export(ExportArgs),
    /// Check the integrity of every document, the index and the attachments.
    Verify,
    /// Fill the database with a demo district: townships, villages, all four kinds of
    /// record with realistic content.
    Demo(DemoArgs),
    /// Change the PIN (re-keys the database).
    Pin,
    /// Run the central server (SQLite in a data directory; loopback by default).
    Server(ServerArgs),
    /// Administer the server's users and devices (run on the server, against its data directory).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Enroll this device with the server, using a one-time code from the administrator.
    Enroll {
        /// The server, e.g. http://127.0.0.1:8470.
        #[arg(long, env = "XUNCHA_SERVER")]
        server: String,
        /// The one-time enrollment code.
        #[arg(long)]
        code: String,
        /// A name for this device, as the administrator will see it.
        #[arg(long, default_value = "平板")]
        name: String,
    },
    /// Sync with the server now: send this device's changes, receive everyone else's.
    Sync {
        /// Try this many times while the server is unreachable.
        #[arg(long, default_value_t = 1)]
        attempts: u32,
        /// Keep running: sync by itself whenever the server is reachable, until Ctrl-C.
        #[arg(long)]
        watch: bool,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Save an attachment's bytes to a file.
    Attachment {
        /// The attachment's SHA-256.
        sha256: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Sync cost against the standard Automerge sync protocol, on a server on loopback.
    Sync {
        /// Numbers of documents on the server, comma separated.
        #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 10_000, 100_000])]
        docs: Vec<usize>,
        /// Simulated devices for the concurrency figure.
        #[arg(long, default_value_t = 50)]
        devices: usize,
        /// Seconds of the concurrency run.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// A JSON configuration file: {"listen": "127.0.0.1:8470", "data": "/srv/xuncha", "log": "info"}.
    /// Flags and XUNCHA_* environment variables override it.
    #[arg(long, env = "XUNCHA_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Where the server keeps its data [default: xuncha-server-data].
    #[arg(long, env = "XUNCHA_SERVER_DATA")]
    pub data: Option<std::path::PathBuf>,
    /// The address to listen on [default: 127.0.0.1:8470].
    #[arg(long, env = "XUNCHA_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Add a user: role inspector, team_lead, supervisor or administrator; jurisdiction
    /// `district` or a 12-digit township code.
    AddUser {
        #[arg(long, env = "XUNCHA_SERVER_DATA", default_value = "xuncha-server-data")]
        data: std::path::PathBuf,
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "inspector")]
        role: String,
        #[arg(long, default_value = "district")]
        jurisdiction: String,
    },
    /// List users.
    Users {
        #[arg(long, env = "XUNCHA_SERVER_DATA", default_value = "xuncha-server-data")]
        data: std::path::PathBuf,
    },
    /// Make a one-time enrollment code for a user (valid for 7 days).
    Enroll {
        #[arg(long, env = "XUNCHA_SERVER_DATA", default_value = "xuncha-server-data")]
        data: std::path::PathBuf,
        user: String,
    },
    /// List devices.
    Devices {
        #[arg(long, env = "XUNCHA_SERVER_DATA", default_value = "xuncha-server-data")]
        data: std::path::PathBuf,
    },
    /// Revoke a lost or retired device: its next sync tells it to wipe its data.
    Revoke {
        #[arg(long, env = "XUNCHA_SERVER_DATA", default_value = "xuncha-server-data")]
        data: std::path::PathBuf,
        device: String,
    },
    /// The audit log, newest first.
    Audit {
        #[arg(long, env = "XUNCHA_SERVER_DATA", default_value = "xuncha-server-data")]
        data: std::path::PathBuf,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The user id of the person using this device.
    #[arg(long, default_value = "demo-inspector")]
    pub user: String,
    /// The person's name, as shown in history.
    #[arg(long, default_value = "演示巡察员")]
    pub name: String,
    /// The device id (a new one is made when not given).
    #[arg(long)]
    pub device: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// The file to write (written whole or not at all).
    #[arg(long)]
    pub out: PathBuf,
    /// Only records of this kind (fund_check, gang_clue, asset_check, conduct_issue).
    #[arg(long)]
    pub kind: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed of the generator: the same seed makes the same district.
    #[arg(long, default_value_t = 2024)]
    pub seed: u64,
    /// Extra generated records beyond the demo district (for trying large databases).
    #[arg(long, default_value_t = 0)]
    pub extra: u32,
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Create a record and print its id.
    New(NewArgs),
    /// List records, newest first.
    List(ListArgs),
    /// Show a record with its items, narrative, review, problems and conflicts.
    Show { id: String },
    /// Edit a record: each flag is one field-level edit; all flags together are one change.
    Edit(EditArgs),
    /// Apply edits read as JSON lines (one change per line) and acknowledge each line once
    /// it is on disk: `committed <line>`.
    Apply {
        id: String,
        /// The file of JSON lines, or - for standard input.
        #[arg(default_value = "-")]
        input: String,
    },
    /// Every change of a record (who, device, when, fields), or one field's values.
    History {
        id: String,
        /// A field path, e.g. allocated or beneficiaries/<item>/received.
        #[arg(long)]
        field: Option<String>,
    },
    /// Fields holding concurrent values, with each value and who wrote it.
    Conflicts { id: String },
    /// Show or set the informant of a gang clue (protected: never leaves the device
    /// except to supervisors).
    Informant {
        id: String,
        /// name=…, contact=… or note=…
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// fund_check, gang_clue, asset_check or conduct_issue (or the Chinese name).
    #[arg(long)]
    pub kind: String,
    #[arg(long, default_value = "")]
    pub title: String,
    /// Inspection round, e.g. 2024年第一轮.
    #[arg(long, default_value = "")]
    pub round: String,
    /// CODE:NAME, e.g. 330199101000:东岭镇.
    #[arg(long)]
    pub township: Option<String>,
    /// CODE:NAME, e.g. 330199101001:上坪村.
    #[arg(long)]
    pub village: Option<String>,
    #[arg(long, default_value = "")]
    pub team: String,
    /// More fields, FIELD=VALUE (repeatable), e.g. --set allocated=120000.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub set: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub township: Option<String>,
    #[arg(long)]
    pub village: Option<String>,
    #[arg(long)]
    pub round: Option<String>,
    /// Only records with concurrent values to settle.
    #[arg(long)]
    pub conflicts: bool,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    pub id: String,
    /// Set a field: FIELD=VALUE (repeatable). Setting a field that has concurrent values settles it.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub set: Vec<String>,
    /// Clear a field.
    #[arg(long = "clear", value_name = "FIELD")]
    pub clear: Vec<String>,
    /// Replace the narrative (merged with other devices character by character).
    #[arg(long)]
    pub narrative: Option<String>,
    /// Add an item: LIST FIELD=VALUE,FIELD=VALUE, e.g. beneficiaries head=王大福,entitled=3000.
    #[arg(long = "add-item", num_args = 2, value_names = ["LIST", "FIELDS"])]
    pub add_item: Vec<String>,
    /// Update an item field: ITEM FIELD=VALUE.
    #[arg(long = "update-item", num_args = 2, value_names = ["ITEM", "FIELD=VALUE"])]
    pub update_item: Vec<String>,
    /// Remove an item: LIST ITEM.
    #[arg(long = "remove-item", num_args = 2, value_names = ["LIST", "ITEM"])]
    pub remove_item: Vec<String>,
    #[arg(long)]
    pub tag: Vec<String>,
    #[arg(long)]
    pub untag: Vec<String>,
    /// Mark an issue type of a fund check, e.g. withheld_shared or 截留私分.
    #[arg(long)]
    pub issue: Vec<String>,
    /// Unmark an issue type.
    #[arg(long = "no-issue")]
    pub no_issue: Vec<String>,
    /// Attach a file (photo, PDF); stored encrypted, referenced by SHA-256.
    #[arg(long)]
    pub attach: Vec<PathBuf>,
    /// Caption of the attachments given with --attach.
    #[arg(long, default_value = "")]
    pub caption: String,
    /// Add a review comment.
    #[arg(long)]
    pub comment: Option<String>,
    /// Move along the review workflow: submitted, needs_more, verified, case_filed, not_pursued, closed.
    #[arg(long)]
    pub status: Option<String>,
    /// Record a review decision pinned to the current version (with --status).
    #[arg(long)]
    pub decide: bool,
    /// The decision's note.
    #[arg(long, default_value = "")]
    pub note: String,
}
