//! Starts `sellerdesk up` as a process and drives it with a client that is not
//! this project's Rust code (Python grpcio, via reflection), across a restart.

mod common;

use common::{free_port, http_get, repo_root, start_with, stop, token};
use std::process::Command;

/// What ads-svc and the test payment provider (tests/wire/payment_provider.py) share.
const PAYMENT_SECRET: &str = "wire-payment-secret";

fn python(script: &str, mode: &str, endpoint: &str, tokens: &[String]) {
    let out = Command::new("python3")
        .env("SELLERDESK_ADS_PAYMENT_SECRET", PAYMENT_SECRET)
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
    let metrics_port = free_port();
    let (child, endpoints) = start_with(
        data.path(),
        &[
            ("SELLERDESK_METRICS_PORT", metrics_port.to_string()),
            ("SELLERDESK_ADS_PAYMENT_SECRET", PAYMENT_SECRET.into()),
        ],
    );
    for (service, script) in scripts {
        python(script, "write", &endpoints[service], &tokens);
    }
    // Across services: a revocation in compliance-svc stops ad orders.
    let revoked_owner = token(data.path(), "wire-rev", "owner", "cli");
    python(
        "penalties_wire.py",
        &endpoints["compliance"],
        &endpoints["ads"],
        &[tokens[0].clone(), revoked_owner],
    );
    scraped_metrics_show_the_clients_work(metrics_port);
    stop(child);
    // Same data directory: every service's log, and so what it answers,
    // survives the restart.
    let (child, endpoints) = start_with(
        data.path(),
        &[("SELLERDESK_ADS_PAYMENT_SECRET", PAYMENT_SECRET.into())],
    );
    for (service, script) in scripts {
        python(script, "verify", &endpoints[service], &tokens);
    }
    stop(child);
}

/// Issue 17, item 6: what the clients did shows on `/metrics`, as Prometheus
/// would scrape it.
fn scraped_metrics_show_the_clients_work(port: u16) {
    let (status, page) = http_get(port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK", "{page}");
    let value = |series: &str| -> f64 {
        page.lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    };
    for (series, why) in [
        (
            "sellerdesk_grpc_requests_total{method=\"sellerdesk.compliance.v1.ComplianceService/RecordViolation\",code=\"OK\"}",
            "calls by method and code",
        ),
        (
            "sellerdesk_grpc_requests_total{method=\"sellerdesk.ads.v1.AdsService/PlaceOrder\",code=\"INVALID_ARGUMENT\"}",
            "refusals count under their code",
        ),
        (
            "sellerdesk_grpc_request_duration_seconds_count{method=\"sellerdesk.faq.v1.FaqService/Match\"}",
            "latency by method",
        ),
        ("sellerdesk_store_appends_total{backend=\"sqlite\",outcome=\"ok\"}", "appends"),
        ("sellerdesk_store_append_duration_seconds_count", "append latency"),
        ("sellerdesk_outbox_published_events_total", "what the outbox relayed"),
        ("sellerdesk_consumer_messages_total", "what consumers handled"),
        ("sellerdesk_faq_robot_answers_total", "the robot's answer rate"),
        ("sellerdesk_chat_events_total{event=\"HumanRequested\"}", "chat events"),
        ("sellerdesk_chat_response_seconds_count", "chat response times"),
    ] {
        assert!(value(series) > 0.0, "{why}: no {series} in\n{page}");
    }
    assert!(page.contains("# TYPE sellerdesk_outbox_backlog_events gauge"));
    assert!(page.contains("# TYPE sellerdesk_chat_queued_conversations gauge"));
    // Paths that are not ours share one series: a client cannot add more.
    assert!(!page.contains("method=\"/"), "raw paths must not be labels");
    assert_eq!(http_get(port, "/").0, "HTTP/1.1 404 Not Found");
}
