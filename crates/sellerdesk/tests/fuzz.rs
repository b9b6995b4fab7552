//! Hardening (issue 13): malformed requests for every RPC over the wire,
//! generated from the descriptors the server reflects, for every role and
//! another shop's token. The Python suite (`tests/fuzz/fuzz.py`) prints what
//! it tried and the outcome counts; any INTERNAL/UNKNOWN/CANCELLED, BadRequest
//! path outside the request, echoed input, append on a refusal, or read of
//! another shop's data fails this test.

mod common;

use common::{repo_root, start, stop, token};
use std::process::Command;

#[test]
fn every_rpc_survives_malformed_input_for_every_role() {
    let data = tempfile::tempdir().unwrap();
    let (stack, endpoints) = start(data.path());
    let tokens = serde_json::json!({
        "platform": token(data.path(), "", "platform", "fuzz"),
        "owner_a": token(data.path(), "fuzz-a", "owner", "fuzz-owner"),
        "admin_a": token(data.path(), "fuzz-a", "admin", "fuzz-admin"),
        "agent_a": token(data.path(), "fuzz-a", "agent", "fuzz-agent"),
        "owner_b": token(data.path(), "fuzz-b", "owner", "fuzz-owner-b"),
        "agent_b": token(data.path(), "fuzz-b", "agent", "fuzz-agent-b"),
    });
    let databases: serde_json::Map<String, serde_json::Value> = endpoints
        .keys()
        .map(|name| {
            let db = data.path().join(format!("{name}.db"));
            (name.clone(), db.display().to_string().into())
        })
        .collect();
    let config = serde_json::json!({
        "endpoints": endpoints,
        "databases": databases,
        "tokens": tokens,
        "shop_a": "fuzz-a",
        "shop_b": "fuzz-b",
        // Fixed in CI, so a failure repeats; another seed tries other values.
        "seed": std::env::var("SELLERDESK_FUZZ_SEED").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(13),
        // Bounded in CI: the suite stops starting cases after this.
        "seconds": std::env::var("SELLERDESK_FUZZ_SECONDS").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(300),
    });
    let config_path = data.path().join("fuzz.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let out = Command::new("python3")
        .arg(repo_root().join("tests/fuzz/fuzz.py"))
        .arg(&config_path)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    stop(stack);
    assert!(
        out.status.success(),
        "fuzz suite failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
