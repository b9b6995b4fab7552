//! Starts `sellerdesk up` as a process and drives it with a client that is not
//! this project's Rust code (Python grpcio, via reflection), across a restart.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sellerdesk")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts the stack and returns it with each service's endpoint, by name.
fn start(data: &Path) -> (Stack, HashMap<String, String>) {
    let mut command = Command::new(bin());
    command.args(["up", "--data-dir"]).arg(data);
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
struct Stack(Option<Child>);

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn stop(mut stack: Stack) {
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

fn token(data: &Path, shop: &str, role: &str, account: &str) -> String {
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

fn python(script: &str, mode: &str, endpoint: &str, tokens: &[String]) {
    let out = Command::new("python3")
        .arg(repo_root().join("tests/wire").join(script))
        .arg(mode)
        .arg(endpoint)
        .args(tokens)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "python client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn python_grpcio_client_over_the_wire_across_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let tokens = vec![
        token(data.path(), "", "platform", "cli"),
        token(data.path(), "wire-shop", "owner", "cli"),
        token(data.path(), "wire-shop", "agent", "cli"),
        token(data.path(), "other-shop", "owner", "cli"),
        // chat-svc's robot questions count in faq-svc's analytics of their
        // shop (R-FAQ-8), so the chat client has a shop of its own.
        token(data.path(), "wire-chat", "owner", "cli"),
        token(data.path(), "wire-chat", "agent", "wire-agent"),
    ];
    let scripts = [
        ("compliance", "compliance_wire.py"),
        ("faq", "faq_wire.py"),
        ("chat", "chat_wire.py"),
        ("affiliate", "affiliate_wire.py"),
        ("ads", "ads_wire.py"),
    ];
    let (child, endpoints) = start(data.path());
    for (service, script) in scripts {
        python(script, "write", &endpoints[service], &tokens);
    }
    stop(child);
    // Same data directory: every service's log, and so what it answers,
    // survives the restart.
    let (child, endpoints) = start(data.path());
    for (service, script) in scripts {
        python(script, "verify", &endpoints[service], &tokens);
    }
    stop(child);
}
