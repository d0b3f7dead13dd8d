//! Background sync: with the server down the device keeps its edits and reports being
//! offline; when the server comes back, the device syncs by itself.

use std::sync::Arc;
use std::time::Duration;

use xuncha_domain::RecordKind;
use xuncha_protocol::Role;
use xuncha_server::AppState;
use xuncha_sync::BackgroundEvent;
use xuncha_tests::{District, EAST, new_record};

#[test]
fn a_device_syncs_by_itself_when_the_server_becomes_reachable() {
    let mut district = District::start();
    let mut device = district.device("zhang", Role::Inspector, EAST.0);
    district.stop();
    let id = device.create(&new_record(RecordKind::FundCheck, "离线记录", EAST, 1), &[]);
    assert!(district.runtime.block_on(device.client.sync(&mut device.store, |_| {})).unwrap_err().is_transient());

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (event_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let client = device.client.clone();
    let store = &mut device.store;
    let (address, storage) = (district.address, Arc::clone(&district.storage));
    let offline = district.runtime.block_on(async {
        let background = client.run_background(store, Duration::from_millis(50), stop_rx, move |event| {
            let _ = event_tx.send(event);
        });
        let observer = async {
            let mut offline = 0;
            while let Some(event) = events.recv().await {
                match event {
                    BackgroundEvent::Offline => {
                        offline += 1;
                        if offline == 3 {
                            // The server comes back on its address.
                            let listener = tokio::net::TcpListener::bind(address).await.unwrap();
                            let state = AppState::new(Arc::clone(&storage));
                            tokio::spawn(xuncha_server::serve(listener, state, std::future::pending()));
                        }
                    }
                    BackgroundEvent::Synced(report) if report.progress.documents_up >= 1 => {
                        let _ = stop_tx.send(true);
                        return offline;
                    }
                    _ => {}
                }
            }
            offline
        };
        let (result, offline) = tokio::join!(background, observer);
        result.unwrap();
        offline
    });
    assert!(offline >= 3, "the device never reported being offline");
    assert!(district.server_record(id).is_some(), "the record did not reach the server");
    assert_eq!(device.store.outbox_status().unwrap(), (0, 0));
}
