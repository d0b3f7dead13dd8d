//! `xuncha relay …`: a team lead's device as its team's sync point, and a member's device
//! joining and syncing with it.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use xuncha_protocol::relay::RelayLink;
use xuncha_relay::{Relay, RelayError};
use xuncha_store::Store;

use crate::args::{RelayArgs, RelayCommand};
use crate::commands::BadInput;

/// How long a member's request to the relay may take.
const TIMEOUT: Duration = Duration::from_secs(120);

pub fn relay(mut store: Store, db: &Path, args: &RelayArgs, json: bool) -> Result<()> {
    match &args.command {
        Some(RelayCommand::Join { link, name }) => {
            let link = RelayLink::parse(link).ok_or_else(|| {
                BadInput("这不是组内同步二维码（应以 xuncha:relay? 开头）/ this is not a team relay QR code (it starts with xuncha:relay?)".into())
            })?;
            let route =
                crate::remote::runtime()?.block_on(xuncha_sync::relay::join(&mut store, &link, name, TIMEOUT))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "relay_id": route.relay_id, "team": route.team, "url": route.url, "key": route.key })
                );
            } else {
                println!(
                    "已加入巡察组 {} 的组内同步 / joined the relay of team {} at {}",
                    route.team, route.team, route.url
                );
            }
            Ok(())
        }
        Some(RelayCommand::Sync) => {
            let report = crate::remote::runtime()?.block_on(xuncha_sync::relay::sync(&mut store, TIMEOUT))?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "组内同步 relay {}: 发送 sent {} 份, 收到 received {} 份, 附件 files sent {} 个, {} 次往返 round trips",
                    report.team, report.sent, report.received, report.files_up, report.round_trips
                );
                for (doc, code, message) in &report.refused {
                    println!("✗ {doc} ({code}): {message}");
                }
            }
            Ok(())
        }
        None => {
            let Some(listen) = args.listen else {
                return Err(BadInput(
                    "请给出监听地址，如 xuncha relay --listen 0.0.0.0:8471 / give the address to serve on, e.g. xuncha relay --listen 0.0.0.0:8471".into(),
                )
                .into());
            };
            serve(store, db, args, listen, json)
        }
    }
}

fn serve(mut store: Store, db: &Path, args: &RelayArgs, listen: std::net::SocketAddr, json: bool) -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("XUNCHA_LOG").unwrap_or_else(|_| "info".into()),
        ))
        .with_writer(std::io::stderr)
        .try_init();
    let code = match &args.code {
        Some(code) => code.clone(),
        None => xuncha_relay::new_join_code()?,
    };
    let dir = xuncha_relay::dir_for(db);
    let relay = Relay::open(&mut store, &dir, args.team.as_deref(), &code).map_err(|e| match e {
        RelayError::NotALead(message) => anyhow::Error::from(BadInput(message)),
        other => other.into(),
    })?;
    // The team's records go to the relay before the link is printed: whoever reads it may
    // join at once and finds them there (photos follow while the relay serves).
    relay.bridge_records(&mut store)?;
    crate::remote::runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
            format!("无法监听 {listen}（端口可能已被占用）/ cannot listen on {listen} (is the port taken?)")
        })?;
        let address = listener.local_addr()?;
        let url = match &args.url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if address.ip().is_unspecified() => {
                return Err(BadInput(
                    "监听所有地址时请用 --url 给出成员可访问的地址，如 --url https://192.168.43.1:8471 / when listening on every address, give the address members reach with --url, e.g. --url https://192.168.43.1:8471".into(),
                )
                .into());
            }
            None => format!("https://{address}"),
        };
        let link = relay.link(&url);
        // The relay speaks TLS only: its link says https, whatever --url said.
        let url = link.url.clone();
        let uri = link.to_uri();
        let qr = crate::qr::QrCode::of(&uri)?;
        if let Some(path) = &args.qr {
            crate::export::write_whole(path, &qr.png(8)?)?;
        }
        if json {
            println!(
                "{}",
                serde_json::json!({ "listening": url, "relay_id": relay.relay_id(), "team": relay.team().id, "code": code, "link": uri })
            );
        } else {
            println!("{}", qr.terminal());
            println!(
                "组内同步已开启 / team relay of {} ({}) listening on {url}\n加入码 join code: {code}\n{uri}",
                relay.team().name,
                relay.team().id
            );
        }
        use std::io::Write;
        std::io::stdout().flush()?;
        let shutdown = async {
            let ctrl_c = tokio::signal::ctrl_c();
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            tracing::info!("closing the relay after requests under way");
        };
        let store = Arc::new(Mutex::new(store));
        xuncha_relay::serve(Arc::new(relay), store, listener, Duration::from_millis(args.bridge_ms.max(50)), |_| {}, shutdown)
            .await
            .map_err(anyhow::Error::from)
    })
}
