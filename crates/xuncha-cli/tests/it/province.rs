//! A province on PostgreSQL: three `xuncha server` replicas on one database, twelve
//! tablets in two districts and a supervisor, each sync through a replica picked at random.
//! One replica pauses between logging changes and committing them (an injected delay);
//! another is killed with SIGKILL while devices sync through it, and started again. At
//! the end every tablet holds exactly the records of its district, each with every item
//! anyone added to it, and the supervisor holds all of them: no change a device may see
//! was skipped, none leaked across districts.
//!
//! Every inspector also attaches a photo (one of them larger than an object chunk); the
//! replicas keep complete attachments in one S3-compatible bucket, so a photo uploaded
//! through one replica is fetched whole through another by a teammate, and refused to the
//! other district.
//!
//! A second test runs one late commit against the real log and against a deliberately naive
//! one (`seq > cursor`, numbers handed out at INSERT): the naive one must skip the late
//! record, which proves that the check can see the bug.
//!
//! The database is a throwaway one on the cluster `XUNCHA_TEST_POSTGRES` names
//! (`tools/postgres/with-cluster`), the bucket the SeaweedFS store `XUNCHA_TEST_S3` names
//! (`tools/s3/with-store`); `make test` runs the tests under both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::common::{Device, ServerProcess, admin_ok, json};
use xuncha_server::pg::ScratchDatabase;

const DIVISIONS: &str = "code,name,parent_code\n\
    330199000000,清河区,\n330199101000,东岭镇,330199000000\n330199101001,上坪村,330199101000\n\
    330188000000,白沙区,\n330188101000,南山镇,330188000000\n330188101001,下湾村,330188101000\n";

/// A district: its jurisdiction code and where its tablets record.
struct District {
    code: &'static str,
    township: &'static str,
    village: &'static str,
}

const DISTRICTS: [District; 2] = [
    District { code: "330199000000", township: "330199101000:东岭镇", village: "330199101001:上坪村" },
    District { code: "330188000000", township: "330188101000:南山镇", village: "330188101001:下湾村" },
];
const PER_DISTRICT: usize = 6;
/// Each record made: its district, the tablet that made it, the items added to it.
type Created = BTreeMap<String, (usize, usize, usize)>;
const ROUNDS: usize = 3;

/// A tiny random source (xorshift), seeded per tablet and round.
fn pick(seed: u64, n: usize) -> usize {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    usize::try_from(x % n as u64).unwrap_or(0)
}

struct Province {
    database: ScratchDatabase,
    /// The attachment store every replica is given.
    bucket: String,
    keys: tempfile::TempDir,
    /// Each replica's data directory (its keys, the same in each) and its process.
    replicas: Vec<(PathBuf, Option<ServerProcess>)>,
}

impl Province {
    /// A new database and bucket for three replicas (none started), with the two districts'
    /// divisions imported through `xuncha admin --postgres`.
    fn new() -> Province {
        let database = ScratchDatabase::from_env().expect("a scratch database on XUNCHA_TEST_POSTGRES");
        let bucket = std::env::var("XUNCHA_TEST_S3")
            .expect("XUNCHA_TEST_S3 names no S3-compatible store: run under tools/s3/with-store (make test does)");
        let keys = tempfile::tempdir().unwrap();
        let replicas = (0..3).map(|i| (keys.path().join(format!("replica-{i}")), None)).collect();
        let province = Province { database, bucket, keys, replicas };
        let csv = province.keys.path().join("divisions.csv");
        std::fs::write(&csv, DIVISIONS).unwrap();
        province.admin(&["divisions", "import", csv.to_str().unwrap()]);
        province
    }

    /// The keys every replica shares: made by the first command that needs them, copied.
    fn share_keys(&self) {
        self.admin(&["checkpoint"]);
        for i in 1..3 {
            copy_keys(&self.replicas[0].0, &self.replicas[i].0);
        }
    }

    fn admin(&self, args: &[&str]) -> String {
        let mut all = vec!["--postgres", self.database.url.as_str()];
        all.extend_from_slice(args);
        admin_ok(&self.replicas[0].0, &all)
    }

    fn start(&mut self, index: usize) {
        let delay: &[(&str, &str)] = if index == 2 { &[("XUNCHA_PG_COMMIT_DELAY_MS", "40")] } else { &[] };
        let (data, process) = &mut self.replicas[index];
        *process = Some(ServerProcess::start_with(
            data,
            &["--postgres", &self.database.url, "--attachments", &self.bucket],
            delay,
        ));
    }

    fn url(&self, index: usize) -> Option<String> {
        self.replicas[index].1.as_ref().map(ServerProcess::url)
    }

    fn urls(&self) -> Vec<Option<String>> {
        (0..self.replicas.len()).map(|i| self.url(i)).collect()
    }
}

/// A new fund check in `district`'s village on `tablet`: its id.
fn new_fund_check(tablet: &Device, district: &District, title: &str) -> String {
    let out = tablet.ok(&[
        "record",
        "new",
        "--kind",
        "fund_check",
        "--title",
        title,
        "--township",
        district.township,
        "--village",
        district.village,
        "--json",
    ]);
    json(&out)["id"].as_str().unwrap().to_owned()
}

fn copy_keys(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in ["server.key", "checkpoint.key"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap_or_else(|e| panic!("copying {file}: {e}"));
    }
}

/// Syncs through the replica `urls[first]`, or the next one up when that one is down or
/// fails (a tablet whose server does not answer tries again later; here, at once).
fn sync_through(tablet: &Device, urls: &[Option<String>], first: usize) -> usize {
    for step in 0..urls.len() * 2 {
        let index = (first + step) % urls.len();
        let Some(url) = &urls[index] else { continue };
        // Pointing the tablet at a replica checks that it is the same server: a killed
        // one does not answer, and the next is tried.
        if tablet.run(&["server-address", url]).status.success() && tablet.run(&["sync"]).status.success() {
            return index;
        }
    }
    panic!("no replica took the sync");
}

#[test]
fn three_replicas_on_one_database_deliver_every_change_once_to_those_who_may_see_it() {
    // The reference data and the people, through `xuncha admin --postgres`.
    let mut province = Province::new();
    let mut people = Vec::new();
    for (d, district) in DISTRICTS.iter().enumerate() {
        for i in 0..PER_DISTRICT {
            let user = format!("d{d}-inspector{i}");
            province.admin(&[
                "add-user",
                &user,
                "--name",
                &user,
                "--role",
                "inspector",
                "--jurisdiction",
                district.code,
            ]);
            people.push((user, Some(d)));
        }
    }
    province.admin(&[
        "add-user",
        "supervisor",
        "--name",
        "审核人",
        "--role",
        "supervisor",
        "--jurisdiction",
        "district",
    ]);
    people.push(("supervisor".to_owned(), None));
    province.share_keys();
    for i in 0..3 {
        province.start(i);
    }

    // Each tablet enrolls through a replica of its own.
    let tablets: Vec<(Device, Option<usize>, String)> = people
        .iter()
        .enumerate()
        .map(|(n, (user, district))| {
            let tablet = Device::new();
            tablet.ok(&["init", "--user", user, "--name", user, "--device", &format!("tablet-{n}")]);
            let code = province.admin(&["enroll", user]);
            let url = province.url(n % 3).unwrap();
            tablet.ok(&["enroll", "--server", &url, "--code", code.trim()]);
            (tablet, *district, user.clone())
        })
        .collect();

    // Rounds of work: every inspector records a fund check and adds an item to each of its
    // records, then syncs through a replica picked at random. In the second round replica 1
    // is killed (SIGKILL) while they sync, and started again after.
    let created: Arc<Mutex<Created>> = Arc::default();
    let tablets = Arc::new(tablets);
    for round in 0..ROUNDS {
        let urls = province.urls();
        let workers: Vec<_> = (0..tablets.len())
            .map(|n| {
                let (tablets, created, urls) = (Arc::clone(&tablets), Arc::clone(&created), urls.clone());
                std::thread::spawn(move || {
                    let (tablet, district, user) = &tablets[n];
                    if let Some(d) = district {
                        let district = &DISTRICTS[*d];
                        let id = new_fund_check(tablet, district, &format!("{user} 第{round}轮"));
                        created.lock().unwrap().insert(id.clone(), (*d, n, 0));
                        if round == 0 {
                            // A photo of its own: tablet 0's spans two object chunks.
                            let photo = tablet.dir.path().join("photo.jpg");
                            std::fs::write(&photo, photo_bytes(n)).unwrap();
                            tablet.ok(&["record", "edit", &id, "--attach", photo.to_str().unwrap()]);
                        }
                        let mine: Vec<String> = created
                            .lock()
                            .unwrap()
                            .iter()
                            .filter(|(_, (_, by, _))| *by == n)
                            .map(|(id, _)| id.clone())
                            .collect();
                        for id in mine {
                            tablet.ok(&[
                                "record",
                                "edit",
                                &id,
                                "--add-item",
                                "beneficiaries",
                                &format!("head={user}-{round},entitled=100"),
                            ]);
                            created.lock().unwrap().entry(id).and_modify(|(_, _, items)| *items += 1);
                        }
                    }
                    sync_through(tablet, &urls, pick((n * 31 + round) as u64, urls.len()));
                })
            })
            .collect();
        if round == 1 {
            std::thread::sleep(std::time::Duration::from_millis(1500));
            let (_, process) = &mut province.replicas[1];
            let mut killed = process.take().expect("replica 1 runs");
            killed.child.kill().unwrap(); // SIGKILL
            let _ = killed.child.wait();
        }
        for worker in workers {
            worker.join().expect("a tablet's round");
        }
        if round == 1 {
            province.start(1);
        }
    }

    // Everyone syncs twice more, so that what others sent last reaches them.
    let urls = province.urls();
    for pass in 0..2 {
        for (n, (tablet, _, _)) in tablets.iter().enumerate() {
            sync_through(tablet, &urls, pick((n * 7 + pass + 100) as u64, urls.len()));
        }
    }

    let created = created.lock().unwrap().clone();
    assert_eq!(created.len(), DISTRICTS.len() * PER_DISTRICT * ROUNDS);
    for (tablet, district, user) in tablets.iter() {
        let list = json(&tablet.ok(&["record", "list", "--json"]));
        let held: BTreeMap<String, u64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["record_id"].as_str().unwrap().to_owned(), r["item_count"].as_u64().unwrap()))
            .collect();
        let expected: BTreeMap<String, u64> = created
            .iter()
            .filter(|(_, (d, _, _))| district.is_none_or(|mine| mine == *d))
            .map(|(id, (_, _, items))| (id.clone(), *items as u64))
            .collect();
        let missing: BTreeSet<&String> = expected.keys().filter(|id| !held.contains_key(*id)).collect();
        let foreign: BTreeSet<&String> = held.keys().filter(|id| !expected.contains_key(*id)).collect();
        assert!(missing.is_empty(), "{user} lacks {} record(s) it may see: {missing:?}", missing.len());
        assert!(foreign.is_empty(), "{user} holds {} record(s) of another district: {foreign:?}", foreign.len());
        assert_eq!(held, expected, "{user}: every item added to every record reached it");
    }

    // Every photo is one object in the bucket, uploaded through whichever replica its tablet
    // synced with; a teammate fetches it whole through another, the other district gets
    // nothing.
    let objects = xuncha_server::blobs::Blobs::open(&province.bucket).unwrap().list("attachments").unwrap();
    let urls = province.urls();
    for (n, (_, district, user)) in tablets.iter().enumerate() {
        let Some(d) = district else { continue };
        let photo = photo_bytes(n);
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&photo));
        assert_eq!(
            objects.iter().filter(|o| o.contains(&sha)).count(),
            1,
            "{user}'s photo is one object in the bucket: {objects:?}"
        );
        let teammate = (0..tablets.len()).find(|m| *m != n && tablets[*m].1 == Some(*d)).unwrap();
        let stranger = (0..tablets.len()).find(|m| tablets[*m].1.is_some_and(|other| other != *d)).unwrap();
        for (m, may) in [(teammate, true), (stranger, false)] {
            let tablet = &tablets[m].0;
            let replica = urls[(n + m + 1) % urls.len()].as_ref().unwrap();
            tablet.ok(&["server-address", replica]);
            let out = tablet.dir.path().join(format!("fetched-{n}.jpg"));
            let fetched = tablet.run(&["attachment", &sha, "--out", out.to_str().unwrap()]);
            if may {
                assert!(fetched.status.success(), "{}", String::from_utf8_lossy(&fetched.stderr));
                assert!(std::fs::read(&out).unwrap() == photo, "{user}'s photo came back different through {replica}");
            } else {
                assert!(!fetched.status.success(), "another district fetched {user}'s photo");
                assert!(!out.exists());
            }
        }
    }

    // Each replica reports its work to a scraper on its host, and only there; every replica
    // reads the same log head.
    let mut heads = BTreeSet::new();
    for url in province.urls().into_iter().flatten() {
        let address = url.trim_start_matches("http://");
        let (status, text) = http_get(address, "/metrics", "");
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("# TYPE xuncha_sync_duration_seconds histogram"), "{text}");
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
                .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
        };
        assert!(value("xuncha_syncs_total{outcome=\"ok\"}") >= 1.0, "{text}");
        assert!(value("xuncha_storage_commits_total{kind=\"write\"}") >= 1.0, "{text}");
        heads.insert(value("xuncha_log_head") as u64);
        let (status, _) = http_get(address, "/metrics", "x-forwarded-for: 203.0.113.9\r\n");
        assert_eq!(status, 404, "metrics passed on by a proxy are not served");
    }
    assert_eq!(heads.len(), 1, "the replicas read one log: {heads:?}");

    // The log the replicas wrote together is one unbroken chain under one key.
    let verified = json(&province.admin(&["verify", "--json"]));
    assert_eq!(verified["breaks"].as_array().map(Vec::len), Some(0), "{verified}");
}

/// One late commit, on a log that is correct or deliberately naive (`XUNCHA_PG_NAIVE_LOG=1`,
/// honoured by test builds only): tablet A's upload goes through a replica that pauses three
/// seconds between logging its changes and committing them; meanwhile tablet B uploads
/// through another replica, and tablet C reads through a third. Returns the records C
/// lacks at the end, after syncing again: what its log skipped for good.
fn late_commit_skips(naive: bool) -> BTreeSet<String> {
    let mut province = Province::new();
    let district = &DISTRICTS[0];
    for user in ["a", "b", "c"] {
        province.admin(&["add-user", user, "--name", user, "--role", "inspector", "--jurisdiction", district.code]);
    }
    province.share_keys();
    let url = province.database.url.clone();
    let naive_env: &[(&str, &str)] = if naive { &[("XUNCHA_PG_NAIVE_LOG", "1")] } else { &[] };
    for (i, delay) in [(0, None), (1, None), (2, Some("3000"))] {
        let mut envs = naive_env.to_vec();
        if let Some(ms) = delay {
            envs.push(("XUNCHA_PG_COMMIT_DELAY_MS", ms));
        }
        let (data, process) = &mut province.replicas[i];
        *process = Some(ServerProcess::start_with(data, &["--postgres", &url], &envs));
    }
    let urls: Vec<String> = province.urls().into_iter().map(Option::unwrap).collect();
    // A syncs through the pausing replica 2, B through 0, C through 1.
    let tablets: Vec<Device> = [("a", 2), ("b", 0), ("c", 1)]
        .iter()
        .map(|(user, replica)| {
            let tablet = Device::new();
            tablet.ok(&["init", "--user", user, "--name", user, "--device", &format!("late-{user}")]);
            let code = province.admin(&["enroll", user]);
            tablet.ok(&["enroll", "--server", &urls[*replica], "--code", code.trim()]);
            tablet
        })
        .collect();
    let (a, b, c) = (&tablets[0], &tablets[1], &tablets[2]);
    // B's record is numbered and stored first: B's upload in the window is an edit, which
    // waits for no lock A holds (a new record would wait for A's numbering).
    let early = new_fund_check(b, district, "先提交的记录");
    b.ok(&["sync"]);
    c.ok(&["sync"]);
    let late = new_fund_check(a, district, "晚提交的记录");
    b.ok(&["record", "edit", &early, "--add-item", "beneficiaries", "head=张三,entitled=100"]);
    std::thread::scope(|scope| {
        // A's changes are logged at once, committed three seconds later.
        let slow = scope.spawn(|| a.ok(&["sync"]));
        // Until A's transaction has logged its changes and waits to commit (idle in it for
        // longer than between two statements).
        let mut database = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let started = std::time::Instant::now();
        while database
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND state = 'idle in transaction'
                   AND clock_timestamp() - state_change > interval '300 milliseconds'",
                &[],
            )
            .unwrap()
            .get::<_, i64>(0)
            == 0
        {
            assert!(started.elapsed().as_secs() < 20, "A's upload never reached its commit");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        b.ok(&["sync"]);
        c.ok(&["sync"]);
        slow.join().unwrap();
    });
    c.ok(&["sync"]);
    c.ok(&["sync"]);
    let held: BTreeSet<String> = json(&c.ok(&["record", "list", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(held.contains(&early), "C received B's record");
    [late, early].into_iter().filter(|id| !held.contains(id)).collect()
}

/// The check above can see the bug it guards against: on the naive log (numbers handed out
/// at INSERT, read as `seq > cursor`) the record that committed late never reaches the
/// reader; on the real log it does.
#[test]
fn a_late_commit_is_skipped_by_a_naive_log_and_delivered_by_the_real_one() {
    let skipped = late_commit_skips(true);
    assert_eq!(skipped.len(), 1, "the naive log skips the late record: the test can see skips");
    let skipped = late_commit_skips(false);
    assert!(skipped.is_empty(), "the real log delivered everything: {skipped:?}");
}

/// Tablet `n`'s photo: its own bytes, tablet 0's larger than one object chunk.
fn photo_bytes(n: usize) -> Vec<u8> {
    let size = if n == 0 { 1_300_000 } else { 150_000 + n * 1000 };
    let mut bytes = vec![0xff, 0xd8, 0xff, 0xe0];
    bytes.extend((0..size).map(|i| u8::try_from((i * 31 + n * 7) % 251).unwrap_or(0)));
    bytes
}

/// A GET over a plain TCP connection: the status and the body.
fn http_get(address: &str, path: &str, extra_headers: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n{extra_headers}\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
