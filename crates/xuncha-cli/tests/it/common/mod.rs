//! Running the real `xuncha` binary against real database files in a temporary folder.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const PIN: &str = "246810";

/// A temporary device folder with a database path.
#[derive(Debug)]
pub struct Device {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl Device {
    pub fn new() -> Device {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.db");
        Device { dir, db }
    }

    /// A `xuncha` command on this device, with the PIN in the environment and HOME
    /// pointed into the temporary folder.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xuncha"));
        cmd.args(args)
            .env("XUNCHA_DB", &self.db)
            .env("XUNCHA_PIN", PIN)
            .env("HOME", self.dir.path())
            .env_remove("XUNCHA_NEW_PIN");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "xuncha {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn init(&self) {
        self.ok(&["init", "--user", "zhang.wei", "--name", "张伟", "--device", "tablet-1"]);
    }

    /// Creates a fund check and returns its id.
    pub fn new_fund_check(&self) -> String {
        self.ok(&[
            "record",
            "new",
            "--kind",
            "fund_check",
            "--title",
            "光华村危房改造资金检查",
            "--round",
            "2024年第一轮",
            "--township",
            "330199101000:东岭镇",
            "--village",
            "330199101001:上坪村",
        ])
        .trim()
        .to_owned()
    }
}

/// Every file in `dir` with its bytes, for "nothing changed" checks.
pub fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// `xuncha server` as a real process on a loopback port the OS picks; killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub address: std::net::SocketAddr,
}

impl ServerProcess {
    /// Starts a server over the data directory `data` and waits until it listens.
    pub fn start(data: &Path) -> ServerProcess {
        ServerProcess::start_with(data, &[], &[])
    }

    /// Starts a server over `data` with more arguments and environment, and waits until it
    /// listens.
    pub fn start_with(data: &Path, args: &[&str], envs: &[(&str, &str)]) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xuncha"))
            .args(["server", "--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(envs.iter().copied())
            .env("XUNCHA_LOG", "warn")
            .env_remove("XUNCHA_SERVER_KEY_FILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The line that names the address; a log line may come first (say, that the server's
        // master key was just made).
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("http://") {
            line.clear();
            assert!(reader.read_line(&mut line).unwrap() > 0, "the server stopped before it listened");
        }
        let address =
            line.split("http://").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap().parse().unwrap();
        ServerProcess { child, address }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `xuncha admin ARGS` on the server data directory `data`.
pub fn admin(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xuncha"))
        .arg("admin")
        .args(args)
        .env("XUNCHA_SERVER_DATA", data)
        .env_remove("XUNCHA_SERVER_KEY_FILE")
        .output()
        .unwrap()
}

/// The demo district's server over `data` (`xuncha admin demo`), running, and its demo
/// inspector's tablet that made the demo records (`xuncha demo`) and synced them.
pub fn demo_office(data: &Path) -> (ServerProcess, Device) {
    assert!(admin(data, &["demo"]).status.success());
    let server = ServerProcess::start(data);
    let tablet = Device::new();
    tablet.ok(&["init", "--user", "demo-inspector", "--name", "演示巡察员"]);
    let code = String::from_utf8(admin(data, &["enroll", "demo-inspector"]).stdout).unwrap();
    tablet.ok(&["enroll", "--server", &server.url(), "--code", code.trim()]);
    tablet.ok(&["demo"]);
    tablet.ok(&["sync"]);
    (server, tablet)
}

/// `xuncha admin ARGS` on `data`, expected to succeed; its standard output.
pub fn admin_ok(data: &Path, args: &[&str]) -> String {
    let out = admin(data, args);
    assert!(out.status.success(), "xuncha admin {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Output read as JSON, or a failure naming what was not.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
