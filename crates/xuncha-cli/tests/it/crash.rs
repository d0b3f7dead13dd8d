//! Crash safety: a child `xuncha record apply` writes edits in a loop and is killed with
//! SIGKILL at random moments. After every kill the database opens, SQLite's integrity check
//! passes, `xuncha verify` passes, and every edit the child acknowledged is there.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{Device, PIN};
use rand::{Rng, SeedableRng};
use xuncha_domain::{Edit, ItemField, ItemId, ItemList, RecordId, Value, Yuan};
use xuncha_store::Store;

const KILLS: usize = 24;

fn edit_line(round: usize, n: usize) -> (ItemId, String) {
    let mut entropy = [0u8; 10];
    entropy[..4].copy_from_slice(&u32::try_from(round).unwrap().to_be_bytes());
    entropy[4..8].copy_from_slice(&u32::try_from(n).unwrap().to_be_bytes());
    let id = ItemId::new(1_700_000_000_000, &entropy);
    let edit = Edit::InsertItem {
        list: ItemList::Beneficiaries,
        id,
        values: vec![
            (ItemField::Head, Value::Text(format!("户主{round}-{n}"))),
            (ItemField::Entitled, Value::Money(Yuan::from_yuan(i64::try_from(n).unwrap()))),
        ],
    };
    let mut edits = vec![edit];
    if n.is_multiple_of(5) {
        edits.push(Edit::Narrative { text: format!("第{round}轮第{n}次保存：入户核查进行中。") });
    }
    (id, serde_json::to_string(&edits).unwrap())
}

#[test]
fn acknowledged_edits_survive_sigkill_at_random_moments() {
    let device = Device::new();
    device.init();
    let record: RecordId = device.new_fund_check().parse().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_240_304);
    let mut acknowledged: Vec<ItemId> = Vec::new();
    let mut rounds_with_acks = 0;

    for round in 0..KILLS {
        let mut child = device
            .cmd(&["record", "apply", &record.to_string(), "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines: Vec<(ItemId, String)> = (0..4_000).map(|n| edit_line(round, n)).collect();
        let ids: Vec<ItemId> = lines.iter().map(|(id, _)| *id).collect();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            for (_, line) in lines {
                if writeln!(stdin, "{line}").is_err() {
                    break;
                }
            }
        });
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let reader = {
            let acked = Arc::clone(&acked);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(n) = line.strip_prefix("committed ") {
                        acked.lock().unwrap().push(n.trim().parse::<usize>().unwrap());
                    }
                }
            })
        };
        // Kill at a random moment: sometimes while the PIN is being checked, mostly mid-stream.
        let delay = Duration::from_millis(rng.random_range(150..1_200));
        let started = Instant::now();
        while started.elapsed() < delay {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        writer.join().unwrap();
        let acked = acked.lock().unwrap().clone();
        if !acked.is_empty() {
            rounds_with_acks += 1;
        }
        acknowledged.extend(acked.iter().map(|line| ids[line - 1]));

        // The database opens, passes SQLite's integrity check and `xuncha verify`, and
        // holds every acknowledged edit.
        let store =
            Store::open(&device.db, PIN).unwrap_or_else(|e| panic!("round {round}: cannot open after SIGKILL: {e}"));
        let report = store.verify(|_, _| {}).unwrap();
        assert!(report.is_ok(), "round {round}: {:?}", report.problems);
        let items: std::collections::BTreeSet<ItemId> =
            store.record(record).unwrap().read().items(ItemList::Beneficiaries).iter().map(|i| i.id).collect();
        for id in &acknowledged {
            assert!(items.contains(id), "round {round}: acknowledged edit {id} lost");
        }
        drop(store);
        device.ok(&["verify"]);
    }
    eprintln!(
        "{KILLS} kills, {} acknowledged edits survived, {rounds_with_acks} rounds killed mid-stream",
        acknowledged.len()
    );
    assert!(rounds_with_acks >= KILLS / 2, "only {rounds_with_acks} of {KILLS} rounds got edits in before the kill");
    assert!(acknowledged.len() > 100, "only {} edits acknowledged", acknowledged.len());
}
