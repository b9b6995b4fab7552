//! Starts `sellerdesk up` as a process and drives it with a client that is not
//! this project's Rust code (Python grpcio, via reflection), across a restart.

use std::{
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

/// Starts the stack and returns it with the compliance, faq and chat endpoints.
fn start(data: &Path) -> (Stack, String, String, String) {
    let mut child = Command::new(bin())
        .args(["up", "--data-dir"])
        .arg(data)
        .env("SELLERDESK_COMPLIANCE_PORT", "0")
        .env("SELLERDESK_FAQ_PORT", "0")
        .env("SELLERDESK_CHAT_PORT", "0")
        .env("SELLERDESK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sellerdesk up");
    let mut endpoint = None;
    let mut faq = None;
    let mut chat = None;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("compliance  grpc://") {
            endpoint = Some(rest.to_owned());
        }
        if let Some(rest) = line.trim().strip_prefix("faq         grpc://") {
            faq = Some(rest.to_owned());
        }
        if let Some(rest) = line.trim().strip_prefix("chat        grpc://") {
            chat = Some(rest.to_owned());
        }
        if line == "ready" {
            break;
        }
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (
        Stack(Some(child)),
        endpoint.expect("up printed the compliance address"),
        faq.expect("up printed the faq address"),
        chat.expect("up printed the chat address"),
    )
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
    let (child, endpoint, faq, chat) = start(data.path());
    python("compliance_wire.py", "write", &endpoint, &tokens);
    python("faq_wire.py", "write", &faq, &tokens);
    python("chat_wire.py", "write", &chat, &tokens);
    stop(child);
    // Same data directory: the logs, and so the standing, the knowledge base
    // and the conversations, survive the restart.
    let (child, endpoint, faq, chat) = start(data.path());
    python("compliance_wire.py", "verify", &endpoint, &tokens);
    python("faq_wire.py", "verify", &faq, &tokens);
    python("chat_wire.py", "verify", &chat, &tokens);
    stop(child);
}
