//! `xuncha`: the command line for device databases: create and edit records, search,
//! export, verify and fill a demo district.

mod args;
mod bench;
mod bench_abuse;
mod bench_bundle;
mod bench_province;
mod bench_relay;
mod bench_report;
mod bundles;
mod commands;
mod demo;
mod export;
mod qr;
mod rectify;
mod reference;
mod relay;
mod remote;
mod report;
mod show;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use xuncha_domain::DomainError;
use xuncha_store::{KdfParams, Store, StoreError};

use crate::args::{Cli, Command};

/// Exit statuses: 0 ok, 1 other failure, 2 bad usage (clap), 3 wrong PIN or server key,
/// 4 not found, 5 damaged data or failed verification (a bundle altered or cut short), 6
/// invalid input (or a document the record has none of; a bundle for another side), 7 server
/// unreachable, 8 device revoked (wipe), 9 a workflow step the user may not take.
fn exit_code(error: &anyhow::Error) -> u8 {
    if let Some(store) = error.downcast_ref::<StoreError>() {
        return match store {
            StoreError::WrongPin => 3,
            StoreError::WeakPin => 6,
            StoreError::NotFound { .. } | StoreError::RecordNotFound { .. } | StoreError::AttachmentNotFound { .. } => {
                4
            }
            StoreError::UnknownDivision { .. }
            | StoreError::AmbiguousDivision { .. }
            | StoreError::BadFilter { .. } => 6,
            StoreError::Corrupt { .. }
            | StoreError::MissingKeyFile { .. }
            | StoreError::BadKeyFile { .. }
            | StoreError::AttachmentMismatch { .. } => 5,
            StoreError::Domain(_) => 6,
            _ => 1,
        };
    }
    if let Some(xuncha_server::StorageError::Key(_)) = error.downcast_ref() {
        return 3;
    }
    if error.downcast_ref::<DomainError>().is_some() {
        return 6;
    }
    if let Some(report) = error.downcast_ref::<xuncha_report::ReportError>() {
        return match report {
            xuncha_report::ReportError::NotApplicable { .. } => 6,
            _ => 1,
        };
    }
    if error.downcast_ref::<commands::VerifyFailed>().is_some() {
        return 5;
    }
    let bundle = error
        .downcast_ref::<xuncha_sync::bundle::BundleFailure>()
        .and_then(|f| match f {
            xuncha_sync::bundle::BundleFailure::Bundle(e) => Some(e),
            xuncha_sync::bundle::BundleFailure::BadRecord => Some(&xuncha_protocol::bundle::BundleError::NotABundle),
            _ => None,
        })
        .or_else(|| match error.downcast_ref::<xuncha_server::bundles::ExchangeError>() {
            Some(xuncha_server::bundles::ExchangeError::Bundle(e)) => Some(e),
            _ => None,
        })
        .or_else(|| error.downcast_ref::<xuncha_protocol::bundle::BundleError>());
    if let Some(bundle) = bundle {
        use xuncha_protocol::bundle::BundleError;
        return match bundle {
            BundleError::BadSignature { .. } | BundleError::Truncated { .. } | BundleError::Damaged { .. } => 5,
            BundleError::Io(_) => 1,
            _ => 6,
        };
    }
    if let Some(
        xuncha_server::bundles::ExchangeError::UnknownSender { .. }
        | xuncha_server::bundles::ExchangeError::UnknownReceiver { .. }
        | xuncha_server::bundles::ExchangeError::UnexpectedKind { .. },
    ) = error.downcast_ref()
    {
        return 6;
    }
    if let Some(xuncha_sync::bundle::BundleFailure::UnexpectedKind { .. }) = error.downcast_ref() {
        return 6;
    }
    if error.downcast_ref::<commands::BadInput>().is_some() {
        return 6;
    }
    if error.downcast_ref::<commands::NotAllowed>().is_some() {
        return 9;
    }
    if error.downcast_ref::<commands::Usage>().is_some() {
        return 2;
    }
    if let Some(sync) = error.downcast_ref::<xuncha_sync::SyncError>() {
        return match sync {
            xuncha_sync::SyncError::Unreachable { .. } => 7,
            xuncha_sync::SyncError::Revoked => 8,
            xuncha_sync::SyncError::NotEnrolled
            | xuncha_sync::SyncError::Unauthorized
            | xuncha_sync::SyncError::NotJoined => 4,
            xuncha_sync::SyncError::NotTheRelay { .. } => 3,
            xuncha_sync::SyncError::OtherServer { .. } => 6,
            _ => 1,
        };
    }
    1
}

/// Output piped into a program that stopped reading (`xuncha record list | head`) ends the
/// command quietly, as other command-line tools do, instead of with a panic: Rust ignores
/// SIGPIPE, so `println!` meets a broken pipe as an error and panics on it.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("错误 / error: {error:#}");
            ExitCode::from(exit_code(&error))
        }
    }
}

/// The wall clock, read only here at the edge; everything below takes the time as a value.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Ten random bytes for new ids.
pub fn entropy() -> Result<xuncha_domain::Entropy> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(bytes)
}

/// Raises the limit on open files to what the system allows: a server (or a load test)
/// holds a socket per connection.
pub(crate) fn raise_file_limit() {
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(%error, "could not raise the limit on open files");
    }
}

/// The PIN from XUNCHA_PIN, or typed at a prompt.
fn read_pin(prompt: &str) -> Result<String> {
    if let Ok(pin) = std::env::var("XUNCHA_PIN") {
        return Ok(pin);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no PIN: set XUNCHA_PIN, or run in a terminal to type it / 未提供 PIN：请设置 XUNCHA_PIN 或在终端中输入");
    }
    Ok(rpassword::prompt_password(prompt)?)
}

/// A new PIN: from XUNCHA_NEW_PIN, typed twice at a prompt, or (for `init` only, where
/// there is no old PIN) from XUNCHA_PIN.
fn new_pin(allow_current: bool) -> Result<String> {
    if let Ok(pin) = std::env::var("XUNCHA_NEW_PIN") {
        return Ok(pin);
    }
    if allow_current && let Ok(pin) = std::env::var("XUNCHA_PIN") {
        return Ok(pin);
    }
    let first = read_pin("新 PIN / new PIN: ")?;
    let second = read_pin("再次输入 / repeat: ")?;
    if first != second {
        bail!("两次输入的 PIN 不一致 / the two PINs differ; try again");
    }
    Ok(first)
}

fn open(cli: &Cli) -> Result<Store> {
    let pin = read_pin("PIN: ")?;
    Ok(Store::open(&cli.db, &pin)?)
}

fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Init(args) => {
            let pin = new_pin(true)?;
            let store = commands::init(&cli.db, &pin, args, KdfParams::DEFAULT)?;
            let identity = store.identity();
            println!(
                "已创建加密设备数据库 {} / created encrypted device database\n设备 device: {}\n用户 user: {} ({})",
                cli.db.display(),
                identity.device_id,
                identity.user_id,
                identity.user_name
            );
            Ok(())
        }
        Command::Identity => {
            let store = open(&cli)?;
            let (signing, sealing) = store.public_keys();
            let key = xuncha_protocol::bundle::PeerKey::new(&signing, &sealing)?;
            let identity = store.identity();
            if cli.json {
                let out = serde_json::json!({
                    "key": key.to_text(),
                    "device_id": identity.device_id.to_string(),
                    "user_id": identity.user_id.to_string(),
                    "user_name": identity.user_name,
                });
                println!("{out}");
            } else {
                println!("{key}");
            }
            Ok(())
        }
        Command::Record(command) => {
            let mut store = open(&cli)?;
            commands::record(&mut store, command, cli.json)
        }
        Command::Search { query, limit } => {
            let store = open(&cli)?;
            let rows = store.search(query, *limit)?;
            show::rows(&rows, cli.json)
        }
        Command::Totals(args) => {
            let store = open(&cli)?;
            let filter = xuncha_store::TotalsFilter {
                township: args.township.clone(),
                round: args.round.clone(),
                team: args.team.clone(),
                from: args.from.clone(),
                to: args.to.clone(),
            };
            let today = match args.today.as_deref() {
                Some(day) if xuncha_domain::is_date(day.trim()) => day.trim().to_owned(),
                Some(day) => anyhow::bail!(commands::BadInput(format!(
                    "日期 “{day}” 应写成 YYYY-MM-DD / the date {day:?} must be YYYY-MM-DD"
                ))),
                None => xuncha_domain::workflow::date_of_ms(now_ms()),
            };
            let totals = store.totals_for(&filter, &today)?;
            show::totals(&totals, cli.json)
        }
        Command::Rectify(args) => {
            let mut store = open(&cli)?;
            rectify::run(&mut store, args, cli.json)
        }
        Command::Export(args) => {
            let store = open(&cli)?;
            let count = export::export(&store, args)?;
            println!("已导出 {count} 条记录到 {} / exported {count} records", args.out.display());
            Ok(())
        }
        Command::Report(args) => report::run(&open(&cli)?, args, cli.json),
        Command::Verify => {
            let store = open(&cli)?;
            commands::verify(&store, cli.json)
        }
        Command::Demo(args) => {
            let mut store = open(&cli)?;
            demo::populate(&mut store, args)?;
            let totals = store.totals(None)?;
            show::totals(&totals, cli.json)?;
            let rows = store.list(&xuncha_store::ListFilter::page(8))?;
            if !cli.json {
                println!();
                show::rows(&rows, false)?;
            }
            Ok(())
        }
        Command::Pin => {
            let mut store = open(&cli)?;
            let pin = new_pin(false).context("reading the new PIN (XUNCHA_NEW_PIN, or type it)")?;
            store.change_pin(&pin, KdfParams::DEFAULT)?;
            println!("PIN 已更换，数据库已重新加密 / PIN changed; the database is re-keyed");
            Ok(())
        }
        Command::Server(args) => remote::server(args),
        Command::Bench(args::BenchCommand::Sync { docs, devices, seconds, backend, postgres }) => {
            let backend = match backend.as_str() {
                "postgres" => bench::Backend::Postgres(
                    postgres.clone().or_else(|| std::env::var("XUNCHA_TEST_POSTGRES").ok()).ok_or_else(|| {
                        commands::BadInput(
                            "--backend postgres 需要 PostgreSQL 服务器：--postgres URL 或 XUNCHA_TEST_POSTGRES / --backend postgres needs a PostgreSQL server: give --postgres URL or set XUNCHA_TEST_POSTGRES".into(),
                        )
                    })?,
                ),
                _ => bench::Backend::Sqlite,
            };
            bench::sync(docs, *devices, *seconds, &backend)
        }
        Command::Bench(args::BenchCommand::Province {
            records,
            devices,
            writers,
            seconds,
            uploads,
            upload_mb,
            postgres,
            attachments,
        }) => {
            let from_env = |given: &Option<String>, env: &str, what: &str| {
                given.clone().or_else(|| std::env::var(env).ok()).ok_or_else(|| {
                    commands::BadInput(format!(
                        "需要{what}：用 make bench-province 运行，或给出选项 / needs {what}: run make bench-province, or give the option or {env}"
                    ))
                })
            };
            bench_province::province(&bench_province::Options {
                records: *records,
                devices: *devices,
                writers: *writers,
                seconds: *seconds,
                uploads: *uploads,
                upload_mb: *upload_mb,
                postgres: from_env(postgres, "XUNCHA_TEST_POSTGRES", "PostgreSQL (--postgres)")?,
                attachments: from_env(attachments, "XUNCHA_TEST_S3", "an S3-compatible store (--attachments)")?,
            })
        }
        Command::Bench(args::BenchCommand::Reference { villages }) => bench::reference(*villages),
        Command::Bench(args::BenchCommand::Bundle { records }) => bench_bundle::bundle(records),
        Command::Bench(args::BenchCommand::Relay { devices, records, idle, photos }) => {
            bench_relay::relay(*devices, *records, *idle, *photos)
        }
        Command::Bench(args::BenchCommand::Report { problems, runs }) => {
            bench_report::report(*problems, *runs, cli.json)
        }
        Command::Bench(args::BenchCommand::Abuse { devices, idle, abusive_per_minute, seconds }) => {
            bench_abuse::abuse(*devices, *idle, *abusive_per_minute, *seconds, cli.json)
        }
        Command::Admin(args) => remote::admin(args, cli.json),
        Command::Enroll { server, code, name, pin } => {
            let mut store = open(&cli)?;
            remote::enroll(&mut store, server, code, name, pin.as_deref())
        }
        Command::Sync { attempts, watch } => {
            let mut store = open(&cli)?;
            if *watch { remote::watch(&mut store) } else { remote::sync(&mut store, *attempts, cli.json) }
        }
        Command::Evidence(command) => remote::evidence(command, cli.json),
        Command::Bundle(command) => {
            let mut store = open(&cli)?;
            bundles::device(&mut store, command, cli.json)
        }
        Command::Relay(args) => {
            let store = open(&cli)?;
            relay::relay(store, &cli.db, args, cli.json)
        }
        Command::Reference => reference::show_reference(&open(&cli)?, cli.json),
        Command::Roster(command) => reference::roster_list(&open(&cli)?, command, cli.json),
        Command::ServerAddress { url } => reference::server_address(&mut open(&cli)?, url, cli.json),
        Command::Attachment { sha256, out } => {
            let mut store = open(&cli)?;
            let bytes = match store.attachment(sha256) {
                // Not on this device (another's photo): fetched from the server, or the
                // team relay, and kept, as the app does when a record is opened.
                Err(missing @ StoreError::AttachmentNotFound { .. }) => {
                    match remote::download_attachment(&mut store, sha256) {
                        // Not enrolled anywhere: it is simply not here.
                        Err(error) if matches!(error.downcast_ref(), Some(xuncha_sync::SyncError::NotEnrolled)) => {
                            return Err(missing.into());
                        }
                        other => other?,
                    }
                }
                other => other?,
            };
            export::write_whole(out, &bytes)?;
            println!("{} bytes → {}", bytes.len(), out.display());
            Ok(())
        }
    }
}
