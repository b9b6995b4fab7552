//! Helpers the process-level tests share: start `sellerdesk up` on free
//! ports, stop it as Kubernetes would, mint tokens with its key.
#![allow(dead_code, unreachable_pub)]

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sellerdesk")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts the stack and returns it with each service's endpoint, by name.
pub fn start(data: &Path) -> (Stack, HashMap<String, String>) {
    start_with(data, &[])
}

/// As [`start`], with more `SELLERDESK_*` settings in the environment.
pub fn start_with(data: &Path, env: &[(&str, String)]) -> (Stack, HashMap<String, String>) {
    let mut command = Command::new(bin());
    command.args(["up", "--data-dir"]).arg(data);
    for (k, v) in env {
        command.env(k, v);
    }
    for service in ["COMPLIANCE", "FAQ", "CHAT", "AFFILIATE", "ADS"] {
        command.env(format!("SELLERDESK_{service}_PORT"), "0");
    }
    let mut child = command
        .env("SELLERDESK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sellerdesk up");
    let mut endpoints = HashMap::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some((name, address)) = line.trim().split_once(" grpc://") {
            endpoints.insert(name.trim().to_owned(), address.to_owned());
        }
        if line == "ready" {
            break;
        }
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    assert_eq!(
        endpoints.len(),
        5,
        "up printed every service's address: {endpoints:?}"
    );
    (Stack(Some(child)), endpoints)
}

/// Kills the stack if a test fails before stopping it, so no server outlives the test.
pub struct Stack(pub Option<Child>);

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn stop(mut stack: Stack) {
    let mut child = stack.0.take().expect("running");
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    for _ in 0..100 {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "graceful shutdown exits 0, got {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("sellerdesk did not stop on SIGTERM");
}

pub fn token(data: &Path, shop: &str, role: &str, account: &str) -> String {
    let out = Command::new(bin())
        .args([
            "token",
            "--shop",
            shop,
            "--role",
            role,
            "--account",
            account,
        ])
        .env("SELLERDESK_DATA_DIR", data)
        .output()
        .expect("sellerdesk token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `GET path` over plain HTTP/1.1 on a loopback port: the status line and the body.
#[allow(dead_code)]
pub fn http_get(port: u16, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

// Not every test binary that includes this module starts a server.
#[allow(unused_imports)]
pub use sellerdesk_testkit::free_port;

/// A child process killed (SIGKILL) when the test ends, pass or fail.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A throw-away nats-server with JetStream on a port of its own choosing;
/// its URL and the process (killed when dropped) with its store directory.
///
/// The server binds the port itself (`-p -1`) and writes it to a ports file,
/// which this waits for: a port picked here and handed over ([`free_port`])
/// can be taken by another process in between, and then the services would
/// talk to a NATS that is not there, or to another test's (rare: a random
/// port of about 14,000 in a window of milliseconds). Its log is kept beside
/// the store, and a server that exits before it listens fails the test with
/// it.
pub fn nats_server() -> (String, Killed, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("nats-server.log");
    let mut child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
        .arg(dir.path())
        .arg("-sd")
        .arg(dir.path().join("store"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("nats-server is installed (scripts/test.sh installs it)");
    let ports = dir.path().join(format!("nats-server_{}.ports", child.id()));
    let started = std::time::Instant::now();
    let url = loop {
        // The file is written whole once the server listens: {"nats":["nats://127.0.0.1:port"]}.
        let written = std::fs::read_to_string(&ports).unwrap_or_default();
        if let Some(url) = written.split('"').find(|part| part.starts_with("nats://")) {
            break url.to_owned();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "nats-server exited ({status}) before it listened: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nats-server did not listen within 30 s: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    (url, Killed(child), dir)
}

/// What `channel`'s health service says of `name` ("" for the process,
/// `sellerdesk.bus`, `sellerdesk.database`), None when it does not answer
/// within a second.
pub async fn health(
    channel: tonic::transport::Channel,
    name: &str,
) -> Option<tonic_health::pb::health_check_response::ServingStatus> {
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let r = tokio::time::timeout(
        Duration::from_secs(1),
        HealthClient::new(channel).check(HealthCheckRequest {
            service: name.into(),
        }),
    )
    .await
    .ok()?
    .ok()?;
    tonic_health::pb::health_check_response::ServingStatus::try_from(r.into_inner().status).ok()
}

/// A channel to `endpoint`, retried until it answers (30 s at most).
pub async fn connect(endpoint: &str) -> tonic::transport::Channel {
    let started = std::time::Instant::now();
    loop {
        if let Ok(c) = tonic::transport::Channel::from_shared(endpoint.to_owned())
            .unwrap()
            .connect()
            .await
        {
            return c;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{endpoint} did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
