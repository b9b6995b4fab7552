//! Starts `sellerdesk up` as a process and drives it with a client that is not
//! this project's Rust code (Python grpcio, via reflection), across a restart.

mod common;

use common::{repo_root, start, stop, token};
use std::process::Command;

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
        // compliance-svc's penalties reach ads-svc and affiliate-svc
        // (R-CMP-13): the shop that collects points is not the one whose
        // orders and invitations the other scripts place.
        token(data.path(), "wire-cmp", "owner", "cli"),
        token(data.path(), "wire-cmp", "agent", "cli"),
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
