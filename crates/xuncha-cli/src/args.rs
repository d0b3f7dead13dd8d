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
    /// This device's public key (`xuncha1:<signing>:<sealing>`): what another side names
    /// to send it a sync bundle. With --json, also the device and the user.
    Identity,
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
    /// and the round's figures upward: problems found (by kind and source), clues handed
    /// over (by destination), rectifying, rectified and overdue, 整改完成率.
    Totals(TotalsArgs),
    /// The rectification ledger (整改台账) of a problem the office has approved:
    /// `rectify ID --unit … --owner … --deadline … --kind … --measures …` starts or amends it
    /// (整改中), `--progress TEXT [--attach FILE]` adds progress with 佐证材料, `--close
    /// --note TEXT` closes it out (销号); `rectify list [--overdue]` lists the ledger.
    Rectify(RectifyArgs),
    /// Export records: xlsx (a workbook: records, every list, sign-offs, the ledger), csv-zip
    /// (the same tables as CSV), media (the attachments with a SHA-256 manifest), automerge
    /// (each record as a standard Automerge file), csv (one row per record) or json.
    Export(ExportArgs),
    /// Documents that go upward, as PDF: `report draft ID` (问题底稿; 谈话记录 for a talk),
    /// `report household ID [--blank]` (入户核查表), `report problems|rectification|summary
    /// --round NAME` (问题清单, 整改台账, 情况统计表), each `--out FILE.pdf`.
    Report(crate::report::ReportArgs),
    /// Check the integrity of every document, the index and the attachments.
    Verify,
    /// Fill the database with a demo district: townships, villages, all four kinds of
    /// record with realistic content.
    Demo(DemoArgs),
    /// Change the PIN (re-keys the database).
    Pin,
    /// Run the central server (SQLite in a data directory, or PostgreSQL with --postgres;
    /// loopback by default).
    Server(ServerArgs),
    /// Administer the server's users and devices (run on the server, against its data
    /// directory, or with --postgres against the province's database).
    Admin(AdminArgs),
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
        /// The server's key pin (printed by `xuncha server --tls-cert`, carried by the QR
        /// code): enroll only with a server presenting that key. Without it, an https
        /// server must have a certificate a public authority signed; its key is pinned.
        #[arg(long)]
        pin: Option<String>,
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
    /// The reference data this device received: divisions, rounds, teams, rosters.
    Reference,
    /// Household rosters (花名册) this device received, with numbers masked.
    #[command(subcommand)]
    Roster(RosterCommand),
    /// Move this device to a new address of its server (checked to be the same server).
    ServerAddress {
        /// The server's new address, e.g. https://xuncha.example.gov.cn.
        url: String,
    },
    /// Evidence bundles: a record's signed history that anyone can check offline.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Sync by file across an air gap: a bundle of what another side (a server, or another
    /// device) lacks, signed by this device and readable only by that side; and importing
    /// a bundle or a receipt sent to this device.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// A team relay in a village with no signal. `xuncha relay --listen ADDR` serves this
    /// team lead's device as its team's sync point on the local network (a phone hotspot)
    /// and shows the QR code members join with; `relay join LINK` joins one from a member's
    /// device; `relay sync` syncs with the relay joined. The relay passes everything on to
    /// the server with the lead's next `xuncha sync` (or bundle).
    Relay(RelayArgs),
    /// Save an attachment's bytes to a file.
    Attachment {
        /// The attachment's SHA-256.
        sha256: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RelayArgs {
    #[command(subcommand)]
    pub command: Option<RelayCommand>,
    /// Where to serve, e.g. 0.0.0.0:8471 on the hotspot (port 0: any free port).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// The address members reach the relay at, for the QR code [default: https://LISTEN;
    /// required when listening on 0.0.0.0]. The relay speaks TLS only, with a certificate
    /// for its own key (members pin it from the QR code).
    #[arg(long)]
    pub url: Option<String>,
    /// The team to relay for, when this user leads several.
    #[arg(long)]
    pub team: Option<String>,
    /// The join code shown beside the QR code [default: a new random one].
    #[arg(long, env = "XUNCHA_RELAY_CODE")]
    pub code: Option<String>,
    /// Also write the QR code as a PNG here.
    #[arg(long)]
    pub qr: Option<PathBuf>,
    /// Milliseconds between passes of members' changes into this device's database.
    #[arg(long, default_value_t = 1_000)]
    pub bridge_ms: u64,
}

#[derive(Debug, Subcommand)]
pub enum RelayCommand {
    /// Join the team relay a QR code names (`xuncha:relay?…`), as this enrolled device.
    Join {
        /// What the relay's QR code holds.
        link: String,
        /// A name for this device, as the relay shows it.
        #[arg(long, default_value = "平板")]
        name: String,
    },
    /// Sync with the team relay this device joined.
    Sync,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Honest devices syncing alone, then while attackers hold idle connections open and
    /// send abusive requests: the latency of every honest sync, side by side.
    Abuse {
        /// Honest devices.
        #[arg(long, default_value_t = 20)]
        devices: usize,
        /// Idle connections the attackers hold open.
        #[arg(long, default_value_t = 1_000)]
        idle: usize,
        /// Abusive requests a minute.
        #[arg(long, default_value_t = 200)]
        abusive_per_minute: u64,
        /// Seconds of each run.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// The time and size of a 问题底稿 with six photos and of the 问题清单 of a round,
    /// beside the JSON and CSV exports of the same records.
    Report {
        /// Problems in the 问题清单.
        #[arg(long, default_value_t = 300)]
        problems: usize,
        /// Runs of each; the median is reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Sync bundles across an air gap: the office server's bundle to an air-gapped server
    /// and a tablet's own, for the demo round and for larger numbers of records, beside the
    /// first HTTP sync of the same records to a new device.
    Bundle {
        /// Numbers of records besides the demo round, comma separated.
        #[arg(long, value_delimiter = ',', default_values_t = [10_000u32])]
        records: Vec<u32>,
    },
    /// A team relay on the lead's device serving member devices at once on loopback, beside
    /// the same devices syncing with the district server.
    Relay {
        /// Member devices.
        #[arg(long, default_value_t = 10)]
        devices: usize,
        /// New records on each device.
        #[arg(long, default_value_t = 50)]
        records: usize,
        /// Syncs with nothing new per device, for the rate.
        #[arg(long, default_value_t = 20)]
        idle: usize,
        /// Photos (1 MiB each) on each device, sent with its records.
        #[arg(long, default_value_t = 2)]
        photos: usize,
    },
    /// A new device receiving a province's division table in its first sync.
    Reference {
        /// Villages in the table.
        #[arg(long, default_value_t = 30_000)]
        villages: usize,
    },
    /// A province on PostgreSQL and an S3-compatible store (100 districts, 1 to 3 server
    /// processes) beside one district on SQLite: nothing-changed syncs per second with p50
    /// and p99, commits per second, the lag from a write to a reader on another replica, the
    /// first sync of a district's and of a province-wide role, 8 MB photos uploaded at once
    /// with the servers' memory. `make bench-province` runs it with a throwaway PostgreSQL
    /// cluster and store.
    Province {
        /// Records in the province, spread over its 100 districts.
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        /// Devices syncing with nothing new, for the rate.
        #[arg(long, default_value_t = 50)]
        devices: usize,
        /// Devices writing at once, for the commit rate.
        #[arg(long, default_value_t = 20)]
        writers: usize,
        /// Seconds of each rate's run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Devices uploading a photo at once.
        #[arg(long, default_value_t = 20)]
        uploads: usize,
        /// Each photo's size in MB.
        #[arg(long, default_value_t = 8)]
        upload_mb: usize,
        /// A PostgreSQL server to make a throwaway database on
        /// (`postgres://user@host:port/postgres`) [default: XUNCHA_TEST_POSTGRES].
        #[arg(long)]
        postgres: Option<String>,
        /// The attachment store (`s3://BUCKET?endpoint=…`) [default: XUNCHA_TEST_S3].
        #[arg(long)]
        attachments: Option<String>,
    },
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
        /// Where the server keeps its data: sqlite (a district) or postgres (a province).
        #[arg(long, value_parser = ["sqlite", "postgres"], default_value = "sqlite")]
        backend: String,
        /// With --backend postgres: a PostgreSQL server to make a throwaway database on
        /// (`postgres://user@host:port/postgres`) [default: XUNCHA_TEST_POSTGRES].
        #[arg(long)]
        postgres: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// A JSON configuration file: {"listen": "127.0.0.1:8470", "data": "/srv/xuncha", "log": "info",
    /// "postgres": "postgres://…", "attachments": "s3://…"},
    /// and the limits: "max_connections", "max_per_address", "header_timeout_secs",
    /// "body_timeout_secs", "trusted_proxies", "max_uploads", "attachment_quota_mb",
    /// "token_lifetime_days". Flags and XUNCHA_* environment variables override it.
    #[arg(long, env = "XUNCHA_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Where the server keeps its data [default: xuncha-server-data]: the SQLite database,
    /// or with --postgres only the server's keys.
    #[arg(long, env = "XUNCHA_SERVER_DATA")]
    pub data: Option<std::path::PathBuf>,
    /// Keep the data in this PostgreSQL database
    /// (`postgres://user:password@host:port/database`), which any number of servers may
    /// share, each with the same key files in its data directory.
    #[arg(long, env = "XUNCHA_POSTGRES")]
    pub postgres: Option<String>,
    /// Keep complete attachments in this store rather than in the database: an
    /// S3-compatible bucket (`s3://BUCKET?endpoint=http://HOST:PORT&region=R`, credentials
    /// from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) or a folder. Every replica of one
    /// database must be given the same.
    #[arg(long, env = "XUNCHA_ATTACHMENTS")]
    pub attachments: Option<String>,
    /// The address to listen on [default: 127.0.0.1:8470].
    #[arg(long, env = "XUNCHA_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
    /// A proxy in front of the server whose X-Forwarded-For names the client (repeat for
    /// several); others' X-Forwarded-For is ignored.
    #[arg(long)]
    pub trusted_proxy: Vec<std::net::IpAddr>,
    /// Days a device token stays valid after enrollment; then the device enrolls again
    /// [default: no expiry].
    #[arg(long)]
    pub token_lifetime_days: Option<u32>,
    /// Terminate TLS with this certificate chain (PEM, the server's first); devices
    /// enrolled by QR code pin its key. Without it, serve plain HTTP behind a proxy.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// On the server: write a record's evidence (its changes as logged, the hash chain to a
    /// checkpoint signed now, its attachments, the server's public key).
    Export {
        #[command(flatten)]
        data: DataDir,
        /// The record's id.
        id: String,
        /// The bundle file to write (written whole or not at all).
        #[arg(long)]
        out: PathBuf,
    },
    /// Anywhere, with no server: check a bundle; any change to it is reported (exit status 5).
    Verify {
        file: PathBuf,
        /// The server key the commission publishes (hex); the bundle must be signed with it.
        #[arg(long)]
        server_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// The households of a village's rosters.
    List {
        /// The village: its 12-digit code or its name.
        #[arg(long)]
        village: String,
    },
}

/// A backup's passphrase.
#[derive(Debug, Clone, Args)]
pub struct Passphrase {
    /// A file whose first line is the passphrase [default: XUNCHA_BACKUP_PASSPHRASE, or typed].
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
}

/// The server's data directory.
#[derive(Debug, Clone, Args)]
pub struct DataDir {
    #[arg(long, env = "XUNCHA_SERVER_DATA", default_value = "xuncha-server-data")]
    pub data: std::path::PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ProtectedKeyCommand {
    /// Make the district's protected-data key, once: the server keeps its public half; the
    /// private half is written to --out (mode 0600) for the commission to keep offline.
    /// Without that file no new supervisor device can ever read informants.
    Init {
        #[command(flatten)]
        data: DataDir,
        /// Where to write the private key (must not exist).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Seal the key in --key to supervisors' devices (every supervisor's, or those of
    /// --user); each receives it with its next sync. A device must have synced once since
    /// enrolling (so its own key is registered).
    Grant {
        #[command(flatten)]
        data: DataDir,
        /// The private key file written by `init`.
        #[arg(long)]
        key: std::path::PathBuf,
        /// Only this supervisor's devices (repeatable).
        #[arg(long = "user")]
        users: Vec<String>,
    },
    /// The public key and every supervisor device: granted, pending, or waiting for its keys.
    Status {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Debug, Subcommand)]
pub enum DivisionsCommand {
    /// Import administrative divisions from a CSV file with the columns code,name,parent_code
    /// (province down to village); existing codes take the new names.
    Import {
        #[command(flatten)]
        data: DataDir,
        file: std::path::PathBuf,
    },
    /// List divisions, all or those under a code of any level.
    List {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        under: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoundCommand {
    /// Add an inspection round (巡察轮次) with the units it inspects.
    Add {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        name: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        start: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        end: String,
        /// A unit inspected (被巡察单位); repeatable.
        #[arg(long = "unit")]
        units: Vec<String>,
    },
    /// List rounds and their teams.
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Add a team (巡察组) to a round: 组长, 副组长, members and assigned villages.
    Add {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        name: String,
        /// The round's name.
        #[arg(long)]
        round: String,
        /// The 组长's user id.
        #[arg(long)]
        lead: String,
        /// A 副组长's user id; repeatable.
        #[arg(long = "deputy")]
        deputies: Vec<String>,
        /// Members' user ids, comma separated.
        #[arg(long, value_delimiter = ',')]
        members: Vec<String>,
        /// Assigned villages or townships (codes or names), comma separated.
        #[arg(long, value_delimiter = ',')]
        villages: Vec<String>,
        /// Assigned units (被巡察单位), comma separated.
        #[arg(long, value_delimiter = ',')]
        units: Vec<String>,
    },
    /// Move a user into a team of a round (out of the round's other teams).
    Move {
        #[command(flatten)]
        data: DataDir,
        user: String,
        #[arg(long)]
        round: String,
        /// The team's name.
        #[arg(long)]
        team: String,
    },
    /// List teams.
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Debug, Subcommand)]
pub enum RosterAdminCommand {
    /// Import a fund's household roster (花名册) of a village from .xlsx or .csv, with the
    /// Chinese headers of the township's 一卡通 system (户主, 身份证号, 一卡通/社保卡账号,
    /// 应享金额, 发放日期, 组别, 联系电话). A bad file imports nothing.
    Import {
        #[command(flatten)]
        data: DataDir,
        /// The village: its 12-digit code or its name.
        #[arg(long)]
        village: String,
        /// The fund (资金或项目名称).
        #[arg(long)]
        fund: String,
        file: std::path::PathBuf,
    },
}

/// What to export, to whom.
#[derive(Debug, Clone, Args)]
pub struct BundleExport {
    /// The receiver's key (`xuncha1:…`), as `xuncha identity` or `xuncha admin identity`
    /// prints it there.
    #[arg(long)]
    pub to: String,
    /// The bundle file to write (`.xcb`).
    #[arg(long)]
    pub out: PathBuf,
    /// Take the photos and files the records name too.
    #[arg(long)]
    pub attachments: bool,
}

/// What to import, and where its receipt goes.
#[derive(Debug, Clone, Args)]
pub struct BundleImport {
    pub file: PathBuf,
    /// Where to write the receipt (default: beside FILE, as NAME.receipt.xcb).
    #[arg(long)]
    pub receipt: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Write a bundle to KEY of every change it has not acknowledged (all, the first time).
    Export(BundleExport),
    /// Import a bundle sent to this side: its changes are merged, and a receipt is written
    /// for the sender to import; or import a receipt, which marks what the other side now
    /// holds.
    Import(BundleImport),
}

#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Trust another server for sync bundles (the air-gapped 内网 server and the office's
    /// trust each other): bundles from it are imported, bundles to it exported.
    Add {
        #[command(flatten)]
        data: DataDir,
        /// What to call it, e.g. 内网.
        name: String,
        /// Its key, as `xuncha admin identity` prints it there.
        #[arg(long)]
        key: String,
    },
    /// The servers this one trusts, and how far of its log each has acknowledged.
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminBundleCommand {
    /// Write a bundle to KEY (a trusted server, or an enrolled device) of what it lacks.
    Export {
        #[command(flatten)]
        data: DataDir,
        #[command(flatten)]
        export: BundleExport,
    },
    /// Import a bundle from a trusted server or an enrolled device (every change checked as
    /// on upload, answered with a receipt: what was accepted, refused and why), or a trusted
    /// server's receipt.
    Import {
        #[command(flatten)]
        data: DataDir,
        #[command(flatten)]
        import: BundleImport,
    },
}

#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// Administer the server whose data is in this PostgreSQL database
    /// (`postgres://user:password@host:port/database`) rather than in the data
    /// directory's SQLite file; the data directory still holds the server's keys.
    #[arg(long, env = "XUNCHA_POSTGRES", global = true)]
    pub postgres: Option<String>,
    /// The attachment store the server was given (`--attachments` of `xuncha server`), for
    /// the commands that read or copy attachments (backup, restore, bundles). Given before
    /// the command (`xuncha admin --attachments URL backup …`) or as XUNCHA_ATTACHMENTS:
    /// after it, `bundle export --attachments` is the switch that puts attachments in a bundle.
    #[arg(long = "attachments", id = "attachment_store", value_name = "URL", env = "XUNCHA_ATTACHMENTS")]
    pub attachments: Option<String>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// This server's key (`xuncha1:<signing>:<sealing>`): what another side names to send it
    /// a sync bundle.
    Identity {
        #[command(flatten)]
        data: DataDir,
    },
    /// Other servers this one exchanges sync bundles with.
    #[command(subcommand)]
    Peer(PeerCommand),
    /// Sync bundles: across the air gap to the 内网 server, or to and from a device.
    #[command(subcommand)]
    Bundle(AdminBundleCommand),
    /// Administrative divisions (区划), province down to village.
    #[command(subcommand)]
    Divisions(DivisionsCommand),
    /// Inspection rounds (巡察轮次).
    #[command(subcommand)]
    Round(RoundCommand),
    /// Inspection teams (巡察组).
    #[command(subcommand)]
    Team(TeamCommand),
    /// Household rosters (花名册).
    #[command(subcommand)]
    Roster(RosterAdminCommand),
    /// Check the change log: every entry's link in the hash chain and every signed
    /// checkpoint; says where an entry was altered, removed or reordered (exit status 5).
    Verify {
        #[command(flatten)]
        data: DataDir,
    },
    /// The district's protected-data key (informants are sealed to it on the devices; the
    /// server never holds it): make it, grant it to supervisors' devices, see who holds it.
    #[command(subcommand)]
    ProtectedKey(ProtectedKeyCommand),
    /// Sign the change log where it stands now (the server also does so once a day).
    Checkpoint {
        #[command(flatten)]
        data: DataDir,
    },
    /// Set up the demo round: divisions of the demo district, the round, its teams (the
    /// demo inspector, lead and deputy in 第一巡察组) and 到户补贴 rosters of 东岭镇's villages.
    Demo {
        #[command(flatten)]
        data: DataDir,
        #[arg(long, default_value_t = 2024)]
        seed: u64,
    },
    /// Add a user: role inspector, team_lead, supervisor or administrator; jurisdiction
    /// `district` (everything on this server) or a 12-digit division code of any level
    /// (province, city, district, township).
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
    /// Make a one-time enrollment code for a user (valid for 7 days); with --qr, also as a
    /// QR code (in the terminal, and as a PNG with --qr-png) that the app's first-run
    /// screen scans, holding the server's address and the code.
    Enroll {
        #[arg(long, env = "XUNCHA_SERVER_DATA", default_value = "xuncha-server-data")]
        data: std::path::PathBuf,
        user: String,
        /// Show the code as a QR code too (needs --server).
        #[arg(long)]
        qr: bool,
        /// The server's address as tablets reach it, for the QR code.
        #[arg(long, env = "XUNCHA_SERVER")]
        server: Option<String>,
        /// Write the QR code to this PNG file (default with --qr: enroll-USER.png).
        #[arg(long)]
        qr_png: Option<std::path::PathBuf>,
    },
    /// List devices.
    Devices {
        #[arg(long, env = "XUNCHA_SERVER_DATA", default_value = "xuncha-server-data")]
        data: std::path::PathBuf,
    },
    /// Back the server up while it serves: one file, encrypted to a passphrase (from
    /// --passphrase-file, XUNCHA_BACKUP_PASSPHRASE, or typed), written whole or not at all.
    Backup {
        #[command(flatten)]
        data: DataDir,
        /// The backup file to write.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        passphrase: Passphrase,
    },
    /// Restore a backup into the data directory (stop the server first). Devices then walk
    /// everything again rather than skip what the restored server numbers differently; the
    /// database replaced is kept as server.db.before-restore.
    Restore {
        #[command(flatten)]
        data: DataDir,
        /// The backup file.
        file: PathBuf,
        #[command(flatten)]
        passphrase: Passphrase,
    },
    /// Cancel enrollment codes not yet used: all of a user's (give the user id), or one
    /// (give the code as it was handed out).
    CancelCode {
        #[arg(long, env = "XUNCHA_SERVER_DATA", default_value = "xuncha-server-data")]
        data: std::path::PathBuf,
        /// A user id, or an enrollment code.
        target: String,
    },
    /// Disable a user: their devices are refused from their next request, their
    /// outstanding codes cancelled, and no new code can be made for them.
    DisableUser {
        #[arg(long, env = "XUNCHA_SERVER_DATA", default_value = "xuncha-server-data")]
        data: std::path::PathBuf,
        user: String,
    },
    /// Enable a disabled user again (their devices sync again).
    EnableUser {
        #[arg(long, env = "XUNCHA_SERVER_DATA", default_value = "xuncha-server-data")]
        data: std::path::PathBuf,
        user: String,
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
    /// The record list, one row per record (UTF-8 with a BOM).
    Csv,
    /// Whole records with their problems and conflicts.
    Json,
    /// A workbook: records, one sheet per list, sign-offs, the rectification ledger, sources.
    Xlsx,
    /// The workbook's tables as CSV files in one zip (UTF-8 with a BOM).
    CsvZip,
    /// A folder of standard Automerge documents (and protected companions) with a manifest.
    Automerge,
    /// A zip of the attachments named by record number and caption, with a SHA-256 manifest.
    Media,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// The file to write, or for `automerge` a new (or empty) folder; written whole or not
    /// at all.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub scope: Scope,
}

/// Which records an export or a round's document covers: `xuncha export` and `xuncha report
/// problems|rectification|summary` take the same options, read by the store's one filter
/// (`xuncha_store::RecordFilter`). Each left out takes every value.
#[derive(Debug, Clone, Default, Args)]
pub struct Scope {
    /// Only records of this round (its name as records carry it, e.g. 2024年第一轮; 未定轮次:
    /// of no round).
    #[arg(long)]
    pub round: Option<String>,
    /// Only this team's records (its name).
    #[arg(long)]
    pub team: Option<String>,
    /// Only records of this township (its name or 12-digit code).
    #[arg(long)]
    pub township: Option<String>,
    /// Only records of this kind (fund_check, gang_clue, asset_check, conduct_issue, talk,
    /// petition, or the Chinese name).
    #[arg(long)]
    pub kind: Option<String>,
    /// Only records in this state (a code such as office_approved or rectifying, or the
    /// Chinese name such as 巡察办已审核).
    #[arg(long)]
    pub status: Option<String>,
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
    /// Take the record one step along the 巡察 workflow (submitted, deputy_reviewed,
    /// lead_signed, returned, office_approved, handed_over, rectifying, rectified, closed;
    /// by code or label). A step you may not take exits with status 9 and says who may.
    Transition(TransitionArgs),
    /// Who may take the record where next, and whether you may.
    Transitions { id: String },
    /// Sign the record (签字): a picture of the signature (or of a thumbprint, 按手印),
    /// bound to the record's current version, in a role: 承办人 handler, 副组长 deputy,
    /// 组长 lead, 被谈话人 interviewee, 农户 household.
    Sign {
        id: String,
        /// The role signed in (code or label).
        #[arg(long = "as")]
        role: String,
        /// The signature picture (PNG or JPEG).
        #[arg(long)]
        image: PathBuf,
        /// The signer's name (default: your own name; required for 被谈话人 and 农户).
        #[arg(long)]
        signer: Option<String>,
        /// The pen strokes as JSON, if the picture came from a pad.
        #[arg(long)]
        strokes: Option<PathBuf>,
    },
    /// Cite another record (a 谈话记录, a 信访件, another problem) as a source of this one.
    Cite {
        id: String,
        /// The record cited.
        #[arg(long)]
        source: String,
        /// Remove the citation instead.
        #[arg(long)]
        remove: bool,
    },
    /// Withdraw a draft created by mistake: it leaves lists, totals and exports on every
    /// device; its history stays on the server. Submitted records cannot be withdrawn.
    Withdraw { id: String },
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
    /// Inspection round, e.g. 2024年第一轮 (default: the round of your team there).
    #[arg(long, default_value = "")]
    pub round: String,
    /// CODE:NAME, e.g. 330199101000:东岭镇 (default: the village's township).
    #[arg(long)]
    pub township: Option<String>,
    /// The village's name or code, resolved through the reference data (e.g. 上坪村), or
    /// CODE:NAME.
    #[arg(long)]
    pub village: Option<String>,
    /// The team (default: your team whose assignment covers the village).
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
    /// Add a household from the village's roster (花名册) by the head's name, with its
    /// entitled amount; NAME#1234 picks among namesakes by the ID number's last four digits.
    #[arg(long = "add-household-from-roster", value_name = "NAME")]
    pub add_household_from_roster: Vec<String>,
    /// Add an item: LIST FIELD=VALUE,FIELD=VALUE, e.g. beneficiaries head=王大福,entitled=3000;
    /// a relation names its subjects, e.g. relations from=张某,to=李某,kind=保护伞.
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
    /// Take a workflow step (as `record transition --to`): submitted, deputy_reviewed, …
    #[arg(long)]
    pub status: Option<String>,
    /// The step's note (a reason is required to return or close).
    #[arg(long, default_value = "")]
    pub note: String,
}

#[derive(Debug, Args)]
pub struct TransitionArgs {
    pub id: String,
    /// Where to: a state's code or label (submitted 待审核, deputy_reviewed 副组长已审核,
    /// lead_signed 组长已审签, returned 退回补充, office_approved 巡察办已审核, handed_over
    /// 已移交, rectifying 整改中, rectified 已销号, closed 予以了结).
    #[arg(long)]
    pub to: String,
    /// The note: the reason to return (退回补充) or close (予以了结), the 销号 note, …
    #[arg(long, default_value = "")]
    pub note: String,
    /// The verification conclusion: 属实, 部分属实, 不属实 or 无法核实.
    #[arg(long)]
    pub conclusion: Option<String>,
    /// Whom a 问题线索 is handed over to: 纪委监委, 组织部, 公安机关 or 其他.
    #[arg(long)]
    pub handover_to: Option<String>,
    /// The receiving unit's name (required with 其他).
    #[arg(long, default_value = "")]
    pub handover_unit: String,
    /// 移交文号.
    #[arg(long)]
    pub handover_no: Option<String>,
    /// 移交日期, YYYY-MM-DD.
    #[arg(long)]
    pub handover_date: Option<String>,
}

#[derive(Debug, Args)]
pub struct TotalsArgs {
    /// Only this township (12-digit code).
    #[arg(long)]
    pub township: Option<String>,
    /// Only this round (its name, e.g. 2024年第一轮).
    #[arg(long)]
    pub round: Option<String>,
    /// Only this team (its name, e.g. 第一巡察组).
    #[arg(long)]
    pub team: Option<String>,
    /// Only records created on or after this day (YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Only records created on or before this day (YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
    /// Judge overdue rectifications as of this day (YYYY-MM-DD; default today).
    #[arg(long)]
    pub today: Option<String>,
}

#[derive(Debug, Args)]
pub struct RectifyArgs {
    /// The problem's record id, or `list`.
    pub target: String,
    /// 责任单位
    #[arg(long)]
    pub unit: Option<String>,
    /// 责任人
    #[arg(long)]
    pub owner: Option<String>,
    /// 整改时限, YYYY-MM-DD.
    #[arg(long)]
    pub deadline: Option<String>,
    /// 整改类型: 立行立改, 限期整改 or 长期坚持.
    #[arg(long)]
    pub kind: Option<String>,
    /// 整改措施
    #[arg(long)]
    pub measures: Option<String>,
    /// Add a progress entry (整改进展) with this text.
    #[arg(long)]
    pub progress: Option<String>,
    /// 佐证材料 for the progress entry (photos, scans; repeatable).
    #[arg(long)]
    pub attach: Vec<PathBuf>,
    /// Close the rectification out (销号), with --note.
    #[arg(long)]
    pub close: bool,
    /// The 销号 note.
    #[arg(long, default_value = "")]
    pub note: String,
    /// With `list`: only rectifications past their deadline.
    #[arg(long)]
    pub overdue: bool,
    /// Judge deadlines as of this day (YYYY-MM-DD; default today).
    #[arg(long)]
    pub today: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    fn parse(line: &[&str]) -> Cli {
        Cli::try_parse_from(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The store an administrative command reads attachments from, and the switch that puts
    /// attachments into a bundle, share a name at different levels and must not collide.
    #[test]
    fn the_attachment_store_and_the_bundle_switch_do_not_collide() {
        let cli = parse(&["xuncha", "admin", "bundle", "export", "--to", "K", "--out", "b.xcb", "--attachments"]);
        let Command::Admin(admin) = cli.command else { panic!("not admin") };
        assert_eq!(admin.attachments, None);
        let AdminCommand::Bundle(AdminBundleCommand::Export { export, .. }) = admin.command else {
            panic!("not export")
        };
        assert!(export.attachments);

        let cli = parse(&[
            "xuncha",
            "admin",
            "--postgres",
            "postgres://p",
            "--attachments",
            "s3://b",
            "backup",
            "--out",
            "f",
        ]);
        let Command::Admin(admin) = cli.command else { panic!("not admin") };
        assert_eq!(admin.postgres.as_deref(), Some("postgres://p"));
        assert_eq!(admin.attachments.as_deref(), Some("s3://b"));
        assert!(matches!(admin.command, AdminCommand::Backup { .. }));
    }
}
