//! The server side of the command line (`xuncha server`, `xuncha admin …`) and the device
//! side of sync (`xuncha enroll`, `xuncha sync`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use xuncha_protocol::Role;
use xuncha_server::limits::Limits;
use xuncha_server::{AppState, SqliteStorage, Storage, admin};
use xuncha_store::Store;
use xuncha_sync::Client;

use crate::args::{AdminArgs, AdminCommand, ServerArgs};
use crate::{now_ms, show};

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// The PostgreSQL database `xuncha admin --postgres` or `xuncha server --postgres` named,
/// set once before any storage is opened.
static POSTGRES: std::sync::OnceLock<String> = std::sync::OnceLock::new();
/// The attachment store `--attachments` named (as [`POSTGRES`]).
static ATTACHMENTS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The server's storage: the PostgreSQL database given with `--postgres`, its
/// attachments' keys sealed with the master key of the data directory (made there the
/// first time); otherwise the SQLite database in the data directory. Complete attachments
/// go to the store given with `--attachments`, else into the database.
pub fn storage(data: &std::path::Path) -> Result<Arc<dyn Storage>> {
    if let Some(storage) = postgres_storage(data)? {
        return Ok(Arc::new(storage));
    }
    let storage = SqliteStorage::open(data)?;
    Ok(Arc::new(match attachment_store()? {
        Some(blobs) => storage.with_attachments(blobs),
        None => storage,
    }))
}

/// The attachment store given with `--attachments`, if any.
fn attachment_store() -> Result<Option<Arc<xuncha_server::blobs::Blobs>>> {
    let Some(url) = ATTACHMENTS.get() else { return Ok(None) };
    let blobs = xuncha_server::blobs::Blobs::open(url).map_err(|e| crate::commands::BadInput(e.to_string()))?;
    Ok(Some(Arc::new(blobs)))
}

/// The PostgreSQL database given with `--postgres`, if any (see [`storage`]).
fn postgres_storage(data: &std::path::Path) -> Result<Option<xuncha_server::PgStorage>> {
    let Some(url) = POSTGRES.get() else { return Ok(None) };
    let key_file = xuncha_server::at_rest::key_file_for(data);
    if let Some(dir) = key_file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    }
    let key = xuncha_server::at_rest::MasterKey::read_or_create(&key_file)?;
    let storage = xuncha_server::PgStorage::open(url, key)?;
    Ok(Some(match attachment_store()? {
        Some(blobs) => storage.with_attachments(blobs),
        None => storage,
    }))
}

fn use_postgres(url: Option<&str>) {
    if let Some(url) = url.filter(|u| !u.trim().is_empty()) {
        let _ = POSTGRES.set(url.to_owned());
    }
}

fn use_attachments(url: Option<&str>) {
    if let Some(url) = url.filter(|u| !u.trim().is_empty()) {
        let _ = ATTACHMENTS.set(url.to_owned());
    }
}

/// A backup's passphrase: from the file given, XUNCHA_BACKUP_PASSPHRASE, or typed (twice
/// for a new backup).
fn backup_passphrase(given: &crate::args::Passphrase, new: bool) -> Result<age::secrecy::SecretString> {
    let text = if let Some(path) = &given.passphrase_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("无法读取口令文件 / cannot read the passphrase file {}", path.display()))?;
        text.lines().next().unwrap_or_default().to_owned()
    } else if let Ok(text) = std::env::var("XUNCHA_BACKUP_PASSPHRASE") {
        text
    } else if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let text = rpassword::prompt_password("备份口令 / backup passphrase: ")?;
        if new && rpassword::prompt_password("再输一次 / again: ")? != text {
            return Err(crate::commands::BadInput("两次口令不一致 / the passphrases differ".into()).into());
        }
        text
    } else {
        return Err(crate::commands::BadInput(
            "未提供备份口令：请用 --passphrase-file 或 XUNCHA_BACKUP_PASSPHRASE / no backup passphrase: give --passphrase-file or set XUNCHA_BACKUP_PASSPHRASE".into(),
        )
        .into());
    };
    if new && text.chars().count() < 12 {
        return Err(crate::commands::BadInput(
            "备份口令至少 12 个字符 / the backup passphrase must be at least 12 characters".into(),
        )
        .into());
    }
    Ok(age::secrecy::SecretString::from(text))
}

/// Where a server that terminates TLS writes its key's pin, in its data directory.
const TLS_PIN_FILE: &str = "tls.pin";

/// The server's configuration file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerConfig {
    listen: Option<std::net::SocketAddr>,
    data: Option<std::path::PathBuf>,
    log: Option<String>,
    /// Connections served at once.
    max_connections: Option<usize>,
    /// Connections from one address at once.
    max_per_address: Option<usize>,
    /// Seconds a client has to send a request's headers (and an idle connection stays open).
    header_timeout_secs: Option<u64>,
    /// Seconds a client has to send a request's body.
    body_timeout_secs: Option<u64>,
    /// Proxies whose X-Forwarded-For names the client.
    #[serde(default)]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Uploads in one sync request.
    max_uploads: Option<usize>,
    /// Megabytes of attachments one device may hold on the server.
    attachment_quota_mb: Option<u64>,
    /// Days a device token stays valid after enrollment.
    token_lifetime_days: Option<u32>,
    /// The server's certificate chain (PEM), to terminate TLS itself.
    tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM).
    tls_key: Option<std::path::PathBuf>,
    /// The PostgreSQL database to keep the data in (`postgres://…`).
    postgres: Option<String>,
    /// Where complete attachments go (`s3://BUCKET?endpoint=…` or a folder).
    attachments: Option<String>,
}

impl ServerConfig {
    /// The limits to serve under: the file's, then the flags', over the defaults.
    fn limits(&self, args: &ServerArgs) -> Limits {
        let mut limits = Limits::default();
        let defaults = limits.clone();
        limits.max_connections = self.max_connections.unwrap_or(defaults.max_connections).max(1);
        limits.max_per_address = self.max_per_address.unwrap_or(defaults.max_per_address).max(1);
        limits.header_timeout = self.header_timeout_secs.map_or(defaults.header_timeout, Duration::from_secs);
        limits.body_timeout = self.body_timeout_secs.map_or(defaults.body_timeout, Duration::from_secs);
        limits.trusted_proxies = self.trusted_proxies.iter().chain(&args.trusted_proxy).copied().collect();
        limits.max_uploads = self.max_uploads.unwrap_or(defaults.max_uploads).max(1);
        limits.attachment_quota =
            self.attachment_quota_mb.map_or(defaults.attachment_quota, |mb| mb.saturating_mul(1024 * 1024));
        limits.token_lifetime_ms = args
            .token_lifetime_days
            .or(self.token_lifetime_days)
            .filter(|days| *days > 0)
            .map(|days| i64::from(days) * 24 * 3600 * 1000);
        limits
    }
}

/// `xuncha server`: serves until Ctrl-C or SIGTERM, finishing syncs under way.
pub fn server(args: &ServerArgs) -> Result<()> {
    let config: ServerConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("无法读取配置 / cannot read {}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| {
                crate::commands::BadInput(format!(
                    "配置文件 {} 有误 / bad configuration file {}: {e}",
                    path.display(),
                    path.display()
                ))
            })?
        }
        None => ServerConfig::default(),
    };
    let limits = config.limits(args);
    use_postgres(args.postgres.as_deref().or(config.postgres.as_deref()));
    use_attachments(args.attachments.as_deref().or(config.attachments.as_deref()));
    let data = args.data.clone().or(config.data).unwrap_or_else(|| "xuncha-server-data".into());
    let listen = args.listen.or(config.listen).unwrap_or_else(|| ([127, 0, 0, 1], 8470).into());
    let filter = std::env::var("XUNCHA_LOG").ok().or(config.log).unwrap_or_else(|| "info".into());
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(filter)).try_init();
    let tls = match (
        args.tls_cert.as_ref().or(config.tls_cert.as_ref()),
        args.tls_key.as_ref().or(config.tls_key.as_ref()),
    ) {
        (Some(cert), Some(key)) => {
            let tls = xuncha_server::Tls::from_pem_files(cert, key).map_err(crate::commands::BadInput)?;
            // For `xuncha admin enroll --qr`, which puts the pin in the QR code.
            std::fs::create_dir_all(&data).ok();
            std::fs::write(data.join(TLS_PIN_FILE), format!("{}\n", tls.pin))
                .with_context(|| format!("cannot write {}", data.join(TLS_PIN_FILE).display()))?;
            Some(tls)
        }
        (None, None) => {
            // Plain HTTP (behind the commission's proxy): no pin to hand out.
            let _ = std::fs::remove_file(data.join(TLS_PIN_FILE));
            None
        }
        _ => {
            return Err(crate::commands::BadInput(
                "--tls-cert 与 --tls-key 须同时给出 / give both --tls-cert and --tls-key".into(),
            )
            .into());
        }
    };
    crate::raise_file_limit();
    // Held while serving: a restore cannot replace the database under a running server.
    let _lock = xuncha_server::backup::lock(&data).map_err(|e| crate::commands::BadInput(e.to_string()))?;
    let storage: Arc<dyn Storage> = match postgres_storage(&data)? {
        // A restore waits until no replica serves from the database.
        Some(pg) => Arc::new(naive_for_tests(pg.serving(POSTGRES.get().map_or("", String::as_str))?)?),
        None => storage(&data)?,
    };
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("无法监听 {listen} / cannot listen on {listen}"))?;
        let address = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let attachments = storage.blobs().map(|b| format!(", attachments: {}", b.location())).unwrap_or_default();
        match POSTGRES.get() {
            Some(url) => println!(
                "巡察通服务器 listening on {scheme}://{address} (data: PostgreSQL {}, keys: {}{attachments})",
                xuncha_server::pg::redact(url),
                data.display()
            ),
            None => println!("巡察通服务器 listening on {scheme}://{address} (data: {}{attachments})", data.display()),
        }
        if let Some(tls) = &tls {
            println!("TLS key pin / 服务器密钥指纹: {}", tls.pin);
        }
        // A signed checkpoint of the change log at start and then once a day.
        let key = Arc::new(xuncha_server::chain::ServerKey::open(&data).map_err(|e| anyhow!("{e}"))?);
        let daily = Arc::clone(&storage);
        tokio::spawn(async move {
            loop {
                let (storage, key) = (Arc::clone(&daily), Arc::clone(&key));
                let made =
                    tokio::task::spawn_blocking(move || admin::checkpoint(storage.as_ref(), &key, false, now_ms()));
                if let Ok(Err(error)) = made.await {
                    tracing::warn!(%error, "could not sign a checkpoint of the change log");
                }
                tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
            }
        });
        let state = AppState::new(storage).with_limits(limits);
        let shutdown = async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing the SIGTERM handler");
                tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            }
            #[cfg(not(unix))]
            {
                let _ = ctrl_c.await;
            }
            tracing::info!("shutting down after requests under way");
        };
        xuncha_server::serve_with(listener, state, tls, shutdown).await.context("serving")
    })
}

/// `xuncha admin …`.
pub fn admin(args: &AdminArgs, json: bool) -> Result<()> {
    use_postgres(args.postgres.as_deref());
    use_attachments(args.attachments.as_deref());
    let command = &args.command;
    let print = |value: serde_json::Value| {
        if json {
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        }
    };
    match command {
        AdminCommand::Identity { data } => crate::bundles::identity(&data.data, json)?,
        AdminCommand::Peer(command) => crate::bundles::peer(command, json)?,
        AdminCommand::Bundle(command) => crate::bundles::server(command, json)?,
        AdminCommand::Divisions(command) => crate::reference::divisions(command, json)?,
        AdminCommand::Round(command) => crate::reference::round(command, json)?,
        AdminCommand::Team(command) => crate::reference::team(command, json)?,
        AdminCommand::Roster(command) => crate::reference::roster(command, json)?,
        AdminCommand::Verify { data } => {
            let key = xuncha_server::chain::ServerKey::open(&data.data).map_err(|e| anyhow!("{e}"))?;
            let report = admin::verify_log(storage(&data.data)?.as_ref(), &key).map_err(|e| anyhow!("{e}"))?;
            print(serde_json::to_value(&report)?);
            if !json {
                println!(
                    "日志 log entries: {}  检查点 checkpoints: {}  公钥 key: {}",
                    report.entries, report.checkpoints, report.public_key
                );
                for b in &report.breaks {
                    println!("✗ {} / {}", b.zh, b.en);
                }
                if report.breaks.is_empty() {
                    println!("✓ 日志完整，与检查点一致 / the log is whole and matches its checkpoints");
                }
            }
            if !report.breaks.is_empty() {
                return Err(crate::commands::VerifyFailed::Problems(report.breaks.len()).into());
            }
        }
        AdminCommand::ProtectedKey(command) => protected_key(command, json)?,
        AdminCommand::Checkpoint { data } => {
            let key = xuncha_server::chain::ServerKey::open(&data.data).map_err(|e| anyhow!("{e}"))?;
            let checkpoint = admin::checkpoint(storage(&data.data)?.as_ref(), &key, true, now_ms())
                .map_err(|e| anyhow!("{e}"))?
                .ok_or_else(|| anyhow!("no checkpoint was made"))?;
            print(serde_json::json!({ "seq": checkpoint.seq, "link": hex::encode(&checkpoint.link) }));
            if !json {
                println!("已签署检查点 / signed a checkpoint at log entry {}", checkpoint.seq);
            }
        }
        AdminCommand::Demo { data, seed } => {
            crate::demo::round(storage(&data.data)?.as_ref(), *seed, now_ms())?;
            if !json {
                println!("演示巡察轮次已建立 / the demo round is set up: divisions, 2024年第一轮, 第一巡察组, rosters");
            }
        }
        AdminCommand::AddUser { data, id, name, role, jurisdiction } => {
            let role = Role::parse(role).ok_or_else(|| {
                crate::commands::BadInput(format!(
                    "未知的角色 “{role}” / unknown role {role:?}: inspector, team_lead, supervisor or administrator"
                ))
            })?;
            let user = admin::add_user(storage(data)?.as_ref(), id, name, role, jurisdiction, now_ms())
                .map_err(|e| crate::commands::BadInput(e.to_string()))?;
            print(serde_json::to_value(&user)?);
            if !json {
                println!(
                    "已添加用户 added user {} ({}, {}, {})",
                    user.id,
                    user.name,
                    user.role.code(),
                    user.jurisdiction
                );
            }
        }
        AdminCommand::Users { data } => {
            let users = admin::users(storage(data)?.as_ref()).map_err(|e| anyhow!("{e}"))?;
            print(serde_json::to_value(&users)?);
            if !json {
                for u in users {
                    let state = if u.disabled_at_ms.is_some() { "  已停用 disabled" } else { "" };
                    println!("{}  {}  {}  {}{state}", u.id, show::plain(&u.name), u.role.code(), u.jurisdiction);
                }
            }
        }
        AdminCommand::Enroll { data, user, qr, server, qr_png } => {
            let wants_qr = *qr || qr_png.is_some();
            let server = match (wants_qr, server) {
                (true, None) => {
                    return Err(crate::commands::BadInput(
                        "二维码需要服务器地址：请加 --server URL / a QR code needs the server's address: add --server URL"
                            .into(),
                    )
                    .into());
                }
                (_, server) => server.clone(),
            };
            let code = admin::enrollment_code(storage(data)?.as_ref(), user, now_ms())
                .map_err(|e| crate::commands::BadInput(e.to_string()))?;
            let png = match (&server, wants_qr) {
                (Some(server), true) => {
                    // A server that terminates TLS itself wrote its key's pin: the QR code
                    // carries it, and the tablet enrolls only with a server presenting that key.
                    let pin = server
                        .starts_with("https://")
                        .then(|| std::fs::read_to_string(data.join(TLS_PIN_FILE)).ok())
                        .flatten()
                        .and_then(|text| xuncha_protocol::pin::normalise(&text));
                    let link = xuncha_protocol::EnrollLink { server: server.clone(), code: code.clone(), pin };
                    let path = qr_png.clone().unwrap_or_else(|| format!("enroll-{user}.png").into());
                    let qr = crate::qr::QrCode::of(&link.to_uri())?;
                    crate::export::write_whole(&path, &qr.png(8)?)?;
                    if !json {
                        println!("{}", qr.terminal());
                    }
                    Some(path)
                }
                _ => None,
            };
            print(serde_json::json!({ "user": user, "code": code, "qr_png": png }));
            if !json {
                println!("{code}");
                eprintln!("一次性注册码，7 天内有效 / one-time enrollment code for {user}, valid for 7 days");
                if let Some(path) = png {
                    eprintln!("二维码图片 QR code image: {}", path.display());
                }
            }
        }
        AdminCommand::Devices { data } => {
            let devices = admin::devices(storage(data)?.as_ref()).map_err(|e| anyhow!("{e}"))?;
            print(serde_json::to_value(&devices)?);
            if !json {
                for d in devices {
                    let state = if d.revoked_at_ms.is_some() { "已注销 revoked" } else { "正常 active" };
                    let last = d.last_sync_ms.map(show::time).unwrap_or_else(|| "—".into());
                    println!("{}  {}  {}  {}  last sync {}", d.id, d.user_id, show::plain(&d.name), state, last);
                }
            }
        }
        AdminCommand::Backup { data, out, passphrase } => {
            let secret = backup_passphrase(passphrase, true)?;
            let manifest = match postgres_storage(&data.data)? {
                Some(pg) => xuncha_server::pg::backup::backup(&pg, &data.data, out, &secret, now_ms()),
                None => xuncha_server::backup::backup(&data.data, out, &secret, now_ms()),
            }
            .map_err(|e| crate::commands::BadInput(e.to_string()))?;
            print(serde_json::json!({
                "out": out,
                "server_id": manifest.server_id,
                "log_seq": manifest.log_seq,
                "db_bytes": manifest.db_bytes,
            }));
            if !json {
                println!(
                    "已备份到 {}（日志至第 {} 条，{} 字节）/ backed up to {} (log to entry {}, {} bytes)",
                    out.display(),
                    manifest.log_seq,
                    manifest.db_bytes,
                    out.display(),
                    manifest.log_seq,
                    manifest.db_bytes
                );
            }
        }
        AdminCommand::Restore { data, file, passphrase } => {
            let secret = backup_passphrase(passphrase, false)?;
            let manifest = match postgres_storage(&data.data)? {
                Some(pg) => xuncha_server::pg::backup::restore(&pg, &data.data, file, &secret, now_ms()),
                None => xuncha_server::backup::restore(&data.data, file, &secret, now_ms()),
            }
            .map_err(|e| crate::commands::BadInput(e.to_string()))?;
            print(serde_json::json!({
                "server_id": manifest.server_id,
                "backup_made_at_ms": manifest.created_at_ms,
                "log_seq": manifest.log_seq,
            }));
            if !json {
                println!(
                    "已恢复 {} 时的备份（日志至第 {} 条）；设备下次同步时将重新核对全部记录 / restored the backup of {} (log to entry {}); devices walk every record again on their next sync",
                    show::time(manifest.created_at_ms),
                    manifest.log_seq,
                    show::time(manifest.created_at_ms),
                    manifest.log_seq
                );
            }
        }
        AdminCommand::CancelCode { data, target } => {
            let cancelled = admin::cancel_codes(storage(data)?.as_ref(), target, now_ms())
                .map_err(|e| crate::commands::BadInput(e.to_string()))?;
            print(serde_json::json!({ "cancelled": cancelled }));
            if !json {
                println!("已作废 {cancelled} 个注册码 / {cancelled} enrollment code(s) cancelled");
            }
        }
        AdminCommand::DisableUser { data, user } | AdminCommand::EnableUser { data, user } => {
            let disable = matches!(command, AdminCommand::DisableUser { .. });
            admin::set_user_disabled(storage(data)?.as_ref(), user, disable, now_ms())
                .map_err(|e| crate::commands::BadInput(e.to_string()))?;
            print(serde_json::json!({ "user": user, "disabled": disable }));
            if !json {
                if disable {
                    println!("用户 {user} 已停用，其设备将被拒绝 / user {user} disabled; their devices are refused");
                } else {
                    println!("用户 {user} 已启用 / user {user} enabled");
                }
            }
        }
        AdminCommand::Revoke { data, device } => {
            admin::revoke(storage(data)?.as_ref(), device, now_ms())
                .map_err(|e| crate::commands::BadInput(e.to_string()))?;
            if !json {
                println!("设备 {device} 已注销；下次同步时将被要求清除数据 / device {device} revoked");
            }
        }
        AdminCommand::Audit { data, limit } => {
            let lines = admin::audit_log(storage(data)?.as_ref(), *limit).map_err(|e| anyhow!("{e}"))?;
            print(serde_json::to_value(&lines)?);
            if !json {
                for l in lines {
                    println!(
                        "{}  {}  {}  {}  {}",
                        show::time(l.at_ms),
                        l.user_id.unwrap_or_default(),
                        l.device_id.unwrap_or_default(),
                        l.action,
                        l.detail
                    );
                }
            }
        }
    }
    Ok(())
}

/// `xuncha enroll`.
pub fn enroll(store: &mut Store, server: &str, code: &str, name: &str, pin: Option<&str>) -> Result<()> {
    let pin = match pin {
        Some(text) => Some(xuncha_protocol::pin::normalise(text).ok_or_else(|| {
            crate::commands::BadInput("密钥指纹应为 64 位十六进制 / the pin is 64 hex digits".into())
        })?),
        None => None,
    };
    let client = Client::with_pin(server, Duration::from_secs(30), pin)?;
    let enrolled = runtime()?.block_on(client.enroll(store, code, name))?;
    println!(
        "已注册 / enrolled: device {} for {} ({}, {}, {})",
        enrolled.device_id,
        enrolled.user.id,
        enrolled.user.name,
        enrolled.user.role.code(),
        enrolled.user.jurisdiction
    );
    Ok(())
}

/// `xuncha sync --watch`: background sync until Ctrl-C.
pub fn watch(store: &mut Store) -> Result<()> {
    let client = Client::for_device(store, Duration::from_secs(60))?;
    runtime()?.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            let _ = stop_tx.send(true);
        });
        client
            .run_background(store, Duration::from_secs(15), stop_rx, |event| match event {
                xuncha_sync::BackgroundEvent::Offline => println!("{} 离线 offline", show::time(now_ms())),
                xuncha_sync::BackgroundEvent::Synced(report) => {
                    let p = report.progress;
                    if p.documents_up + p.documents_down > 0 {
                        println!(
                            "{} 已同步 synced: {} up, {} down",
                            show::time(now_ms()),
                            p.documents_up,
                            p.documents_down
                        );
                    }
                }
                xuncha_sync::BackgroundEvent::Failed(error) => {
                    println!("{} 同步失败，稍后重试 / failed, will retry: {error}", show::time(now_ms()))
                }
                xuncha_sync::BackgroundEvent::Progress(_) => {}
            })
            .await
    })?;
    Ok(())
}

/// `xuncha sync`.
/// `xuncha attachment SHA256` of an attachment this device does not hold: from the
/// server (or the team relay), kept on the device.
pub fn download_attachment(store: &mut Store, sha256: &str) -> Result<Vec<u8>> {
    let mime = attachment_mime(store, sha256)?;
    Ok(runtime()?.block_on(xuncha_sync::relay::download_attachment_anywhere(
        store,
        sha256,
        &mime,
        Duration::from_secs(120),
    ))?)
}

/// The type a record on this device gives attachment `sha256`.
fn attachment_mime(store: &Store, sha256: &str) -> Result<String> {
    let mut offset = 0;
    loop {
        let page =
            store.list(&xuncha_store::ListFilter { limit: 500, offset, ..xuncha_store::ListFilter::default() })?;
        for projection in &page {
            let record = store.record(projection.record_id.parse()?)?.read();
            if let Some(found) = record.attachments.iter().find(|a| a.sha256 == sha256) {
                return Ok(found.mime.clone());
            }
        }
        if page.len() < 500 {
            return Ok("application/octet-stream".into());
        }
        offset += 500;
    }
}

pub fn sync(store: &mut Store, attempts: u32, json: bool) -> Result<()> {
    let client = Client::for_device(store, Duration::from_secs(60))?;
    let report = runtime()?.block_on(client.sync_with_retry(store, attempts.max(1), |_| {}))?;
    let p = report.progress;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "round_trips": p.round_trips, "documents_up": p.documents_up, "documents_down": p.documents_down,
                "bytes_up": p.bytes_up, "bytes_down": p.bytes_down,
                "refused": report.refused.iter().map(|(d, c, m)| serde_json::json!({"doc": d, "code": c, "message": m})).collect::<Vec<_>>(),
            })
        );
    } else {
        println!(
            "同步完成 / synced: {} round trip(s), {} document(s) up, {} down, {} bytes up, {} bytes down",
            p.round_trips, p.documents_up, p.documents_down, p.bytes_up, p.bytes_down
        );
        for (doc, code, message) in &report.refused {
            println!("✗ {doc}: {code}: {message}");
        }
    }
    Ok(())
}

/// `xuncha admin protected-key …`.
fn protected_key(command: &crate::args::ProtectedKeyCommand, json: bool) -> Result<()> {
    use crate::args::ProtectedKeyCommand;
    use xuncha_server::protected_key;
    match command {
        ProtectedKeyCommand::Init { data, out } => {
            if out.exists() {
                return Err(crate::commands::BadInput(format!(
                    "{} 已存在，不会覆盖 / {} exists and will not be overwritten",
                    out.display(),
                    out.display()
                ))
                .into());
            }
            let storage = storage(&data.data)?;
            // The file first: a key the server knows but nobody holds would seal
            // informants no new supervisor could ever read.
            let identity = age_identity_file()?;
            write_secret_file(out, &identity.1)?;
            let recipient = match protected_key::init(storage.as_ref(), &identity.0, now_ms()) {
                Ok(recipient) => recipient,
                Err(error) => {
                    let _ = std::fs::remove_file(out);
                    return Err(crate::commands::BadInput(error.to_string()).into());
                }
            };
            if json {
                println!("{}", serde_json::json!({ "recipient": recipient, "key_file": out }));
            } else {
                println!("已建立受保护信息密钥 / made the district's protected-data key");
                println!("公钥 public key: {recipient}");
                println!(
                    "私钥已写入 {}：请离线保管（如加密U盘放入保密柜），并删除本机上的副本。用它向审核人的设备授权：xuncha admin protected-key grant --key {}",
                    out.display(),
                    out.display()
                );
                println!(
                    "the private key is in {}: keep it offline (e.g. an encrypted USB stick in the safe) and delete this copy; grant it to supervisors' devices with `xuncha admin protected-key grant --key {}`",
                    out.display(),
                    out.display()
                );
            }
        }
        ProtectedKeyCommand::Grant { data, key, users } => {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(key).with_context(|| format!("无法读取 / cannot read {}", key.display()))?,
            );
            let granted = protected_key::grant(storage(&data.data)?.as_ref(), &text, users, now_ms())
                .map_err(|e| crate::commands::BadInput(e.to_string()))?;
            let status = protected_key::status(storage(&data.data)?.as_ref()).map_err(|e| anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::json!({ "granted": granted, "devices": status.devices }));
            } else {
                println!("已授权 {} 台设备 / granted {} device(s)", granted.len(), granted.len());
                for g in &granted {
                    println!("  ✓ {}（{}）{} {}", g.user_name, g.user_id, g.device_name, g.device_id);
                }
                for d in status.devices.iter().filter(|d| d.state == "waiting_for_keys") {
                    println!(
                        "  … {}（{}）{}：设备尚未登记密钥，同步一次后再授权 / has not registered its keys yet: sync it once, then grant again",
                        d.user_name, d.user_id, d.device_name
                    );
                }
            }
        }
        ProtectedKeyCommand::Status { data } => {
            let status = protected_key::status(storage(&data.data)?.as_ref()).map_err(|e| anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                match &status.recipient {
                    Some(r) => println!("受保护信息公钥 protected-data key: {r}"),
                    None => println!(
                        "尚未建立受保护信息密钥 / no protected-data key yet: `xuncha admin protected-key init --out FILE`"
                    ),
                }
                for d in &status.devices {
                    println!("  {:<16} {}（{}）{} {}", d.state, d.user_name, d.user_id, d.device_name, d.device_id);
                }
            }
        }
    }
    Ok(())
}

/// A new protected-data identity: its recipient and the key file's text.
fn age_identity_file() -> Result<(String, zeroize::Zeroizing<String>)> {
    let (recipient, secret) = xuncha_server::protected_key::generate();
    let text = zeroize::Zeroizing::new(format!(
        "# 巡察通受保护信息私钥 / Xuncha protected-data key\n# public key: {recipient}\n{}\n",
        secret.as_str()
    ));
    Ok((recipient, text))
}

/// Writes a secret file readable by its owner only, durably, refusing to overwrite.
fn write_secret_file(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("无法写入 / cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// `xuncha evidence …`.
pub fn evidence(command: &crate::args::EvidenceCommand, json: bool) -> Result<()> {
    match command {
        crate::args::EvidenceCommand::Export { data, id, out } => {
            let record: xuncha_domain::RecordId =
                id.parse().map_err(|e: xuncha_domain::DomainError| crate::commands::BadInput(e.to_string()))?;
            let key = xuncha_server::chain::ServerKey::open(&data.data).map_err(|e| anyhow!("{e}"))?;
            let bytes = xuncha_server::evidence::export(storage(&data.data)?.as_ref(), &key, record, now_ms())
                .map_err(|e| crate::commands::BadInput(e.to_string()))?;
            crate::export::write_whole(out, &bytes)?;
            if json {
                println!("{}", serde_json::json!({ "record": id, "out": out, "bytes": bytes.len() }));
            } else {
                println!("已导出证据包 / wrote the evidence of {id} to {} ({} bytes)", out.display(), bytes.len());
            }
        }
        crate::args::EvidenceCommand::Verify { file, server_key } => {
            let bytes = std::fs::read(file).with_context(|| format!("无法读取 / cannot read {}", file.display()))?;
            match xuncha_server::evidence::verify(&bytes, server_key.as_deref()) {
                Ok(verified) => {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&verified)?);
                    } else {
                        println!("✓ 证据包完好 / the bundle verifies");
                        println!(
                            "记录 record: {}（{}，{}）创建人 creator {}",
                            verified.title, verified.kind, verified.record, verified.creator
                        );
                        println!(
                            "修改 changes: {}，设备 devices: {}，{} 至 {}",
                            verified.changes,
                            verified.devices.join("、"),
                            show::time(verified.first_ms),
                            show::time(verified.last_ms)
                        );
                        println!("附件 attachments: {}", verified.attachments);
                        println!(
                            "设备签名 device signatures: {} 条有效 verified{}",
                            verified.signed,
                            if verified.unsigned > 0 {
                                format!(
                                    "，{} 条早于签名功能 / {} from before signatures",
                                    verified.unsigned, verified.unsigned
                                )
                            } else {
                                String::new()
                            }
                        );
                        for signer in &verified.signers {
                            println!("  {} ({}) 公钥 key {}", signer.device_id, signer.user_id, signer.signing_key);
                        }
                        println!(
                            "检查点 checkpoint: 第 {} 条，{}，服务器 {}，公钥 {}",
                            verified.checkpoint_seq,
                            show::time(verified.checkpoint_at_ms),
                            verified.server_id,
                            verified.server_key
                        );
                    }
                }
                Err(problem) => return Err(crate::commands::VerifyFailed::because(problem).into()),
            }
        }
    }
    Ok(())
}

/// In test builds only (debug assertions on), `XUNCHA_PG_NAIVE_LOG=1` serves the change log
/// the naive way (a sequence number at INSERT, no single appender), so that the province
/// test can show that its devices see the changes such a log skips. Release builds ignore it.
fn naive_for_tests(storage: xuncha_server::PgStorage) -> Result<xuncha_server::PgStorage> {
    if cfg!(debug_assertions) && std::env::var("XUNCHA_PG_NAIVE_LOG").is_ok_and(|v| v == "1") {
        tracing::warn!("XUNCHA_PG_NAIVE_LOG=1: the change log is the naive one, which skips changes (tests only)");
        return Ok(storage.naive_log()?);
    }
    Ok(storage)
}
