//! 组内同步 in the app: a 组长's device serves as the team's sync point in a village with no
//! signal (on the phone hotspot), showing the QR code members join with; a member's device
//! joins by that code, and syncs with the relay whenever the server is out of reach (the
//! background sync does, [`crate::sync`]); the lead's device later takes everything on to
//! the server with its own sync.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use xuncha_protocol::relay::RelayLink;
use xuncha_relay::{Relay, RelayError};

use crate::App;
use crate::error::{AppError, Result};

/// A QR code's modules, row by row ('1' dark), for the screen to draw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct QrModules {
    pub width: u32,
    pub modules: String,
}

/// The relay this device serves, as its screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RelayInfo {
    pub team: String,
    pub team_name: String,
    /// Where members reach it.
    pub url: String,
    /// What the QR code holds (also to copy and send).
    pub link: String,
    /// The join code shown beside the QR code.
    pub code: String,
    pub qr: QrModules,
}

/// The relay this device joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RelayJoined {
    pub team: String,
    pub url: String,
}

/// A relay running in this app.
#[derive(Debug)]
pub(crate) struct Running {
    info: RelayInfo,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::result::Result<(), RelayError>>,
}

/// How long a member's request to the relay may take.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl From<RelayError> for AppError {
    fn from(error: RelayError) -> AppError {
        match error {
            RelayError::Store(error) => AppError::Store(error),
            RelayError::Sync(error) => AppError::Sync(error),
            other => AppError::Relay(other),
        }
    }
}

fn qr(text: &str) -> Result<QrModules> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| AppError::Relay(RelayError::Protocol(e.to_string())))?;
    let modules = code.to_colors().into_iter().map(|c| if c == qrcode::Color::Dark { '1' } else { '0' }).collect();
    Ok(QrModules { width: u32::try_from(code.width()).unwrap_or(0), modules })
}

/// This machine's address on the network it would route to others by (the hotspot's), or
/// loopback when it has none. No packet is sent: a UDP socket only picks its route.
fn local_address() -> IpAddr {
    let probe = || -> std::io::Result<IpAddr> {
        let socket = std::net::UdpSocket::bind("0.0.0.0:0")?;
        socket.connect("10.255.255.255:1")?;
        Ok(socket.local_addr()?.ip())
    };
    probe().ok().filter(|ip| !ip.is_unspecified()).unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

impl App {
    fn lock_relay(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.relay.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// 开启组内同步: serves this (组长's) device as its team's relay on the local network,
    /// and returns what its screen shows. Already serving: the same again.
    pub fn start_relay(&self) -> Result<RelayInfo> {
        let mut running = self.lock_relay();
        if let Some(relay) = running.as_ref().filter(|r| !r.task.is_finished()) {
            return Ok(relay.info.clone());
        }
        let mut store = self.with(|s| Ok(s.store.open_another()?))?;
        let code = xuncha_relay::new_join_code()?;
        let relay = Relay::open(&mut store, &xuncha_relay::dir_for(&self.db_path()), None, &code)?;
        // The team's records go to the relay before its QR code is shown: a member who scans
        // it at once finds them there (photos follow while the relay serves).
        relay.bridge_records(&mut store)?;
        let listen = self.config.relay_listen;
        let listener = self
            .runtime
            .block_on(tokio::net::TcpListener::bind(listen))
            .map_err(|e| AppError::Relay(RelayError::Protocol(format!("{listen}: {e}"))))?;
        let address = listener.local_addr().map_err(|e| AppError::Relay(RelayError::Protocol(e.to_string())))?;
        let url = match &self.config.relay_url {
            Some(url) => url.clone(),
            None if address.ip().is_unspecified() => {
                format!("https://{}", SocketAddr::new(local_address(), address.port()))
            }
            None => format!("https://{address}"),
        };
        let link: RelayLink = relay.link(&url);
        let uri = link.to_uri();
        let info = RelayInfo {
            team: relay.team().id.clone(),
            team_name: relay.team().name.clone(),
            url: link.url,
            qr: qr(&uri)?,
            link: uri,
            code,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let events = Arc::clone(&self.events);
        let task = self.runtime.spawn(xuncha_relay::serve(
            Arc::new(relay),
            Arc::new(Mutex::new(store)),
            listener,
            std::time::Duration::from_secs(2),
            move |moved: xuncha_relay::Bridged| {
                // Members' records or photos arrived: the lists show them.
                if moved.to_host > 0 || moved.files_to_host > 0 {
                    events.records_changed();
                }
            },
            async {
                let _ = stopped.await;
            },
        ));
        *running = Some(Running { info: info.clone(), stop: Some(stop), task });
        Ok(info)
    }

    /// 关闭组内同步: stops serving, after a last pass of members' changes into this device
    /// (they wait in its outbox for the server).
    pub fn stop_relay(&self) -> Result<()> {
        let Some(mut running) = self.lock_relay().take() else { return Ok(()) };
        if let Some(stop) = running.stop.take() {
            let _ = stop.send(());
        }
        match self.runtime.block_on(running.task) {
            Ok(served) => served.map_err(AppError::from),
            Err(error) => Err(AppError::Relay(RelayError::Protocol(error.to_string()))),
        }?;
        self.changed();
        Ok(())
    }

    /// The relay this device serves, if it does.
    pub fn relay_info(&self) -> Option<RelayInfo> {
        self.lock_relay().as_ref().filter(|r| !r.task.is_finished()).map(|r| r.info.clone())
    }

    /// 加入组内同步: joins the relay a 组长's QR code names (what it holds, as text).
    pub fn join_relay(&self, link: &str) -> Result<RelayJoined> {
        let link = RelayLink::parse(link).ok_or(AppError::BadInput(crate::error::BadInput::NotARelayLink))?;
        let (mut store, name) = self.with(|s| Ok((s.store.open_another()?, crate::device_name(&s.store)?)))?;
        let name = if name.trim().is_empty() { "平板".to_owned() } else { name };
        // On a connection of its own: the UI is not held while the relay answers.
        let route = self.runtime.block_on(xuncha_sync::relay::join(&mut store, &link, &name, TIMEOUT))?;
        self.sync_now()?;
        Ok(RelayJoined { team: route.team, url: route.url })
    }
}
