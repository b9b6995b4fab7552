//! Hardening item 11: a service whose NATS is down at start starts anyway,
//! takes writes into its outbox, reports the bus NOT_SERVING in health (the
//! service itself SERVING), and publishes what waited once NATS comes up.

mod common;

use common::{bin, connect, free_port, health, token, Killed};
use sellerdesk_api::compliance::v1::{
    compliance_service_client::ComplianceServiceClient, RecordViolationRequest,
};
use sellerdesk_bus::{EventBus, JetStreamBus};
use std::{
    process::{Command, Stdio},
    time::Duration,
};
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_starts_and_takes_writes_while_nats_is_down() {
    let data = tempfile::tempdir().unwrap();
    let (nats_port, grpc_port) = (free_port(), free_port());
    let nats_url = format!("nats://127.0.0.1:{nats_port}");
    let _service = Killed(
        Command::new(bin())
            .args(["serve", "compliance", "--listen"])
            .arg(format!("127.0.0.1:{grpc_port}"))
            .env("SELLERDESK_DATA_DIR", data.path())
            .env("SELLERDESK_NATS_URL", &nats_url)
            .env("SELLERDESK_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // It starts although nothing answers at the NATS URL yet.
    let channel = connect(&format!("http://127.0.0.1:{grpc_port}")).await;
    assert_eq!(
        health(channel.clone(), "").await,
        Some(ServingStatus::Serving)
    );
    let bus_down = async {
        loop {
            if health(channel.clone(), "sellerdesk.bus").await == Some(ServingStatus::NotServing) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), bus_down)
        .await
        .expect("the bus is reported NOT_SERVING");

    // A write is accepted into the outbox while NATS is down.
    let platform = token(data.path(), "", "platform", "outage-test");
    let mut client = ComplianceServiceClient::new(channel.clone());
    let mut request = tonic::Request::new(RecordViolationRequest {
        shop_id: "outage-shop".into(),
        violation_id: "v1".into(),
        points: Some(12),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {platform}").parse().unwrap(),
    );
    client.record_violation(request).await.unwrap();

    // NATS comes up: health turns SERVING and the waiting event is published.
    let nats_dir = tempfile::tempdir().unwrap();
    let _nats = Killed(
        Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &nats_port.to_string(),
                "-sd",
            ])
            .arg(nats_dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is installed (scripts/test.sh installs it)"),
    );
    let bus_up = async {
        loop {
            if health(channel.clone(), "sellerdesk.bus").await == Some(ServingStatus::Serving) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), bus_up)
        .await
        .expect("the bus is reported SERVING once NATS is up");
    let bus = JetStreamBus::connect(&nats_url).await.unwrap();
    let mut subscription = bus
        .subscribe("compliance", "outage-test", "sellerdesk.compliance.>")
        .await
        .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let d = subscription.next().await.expect("open").expect("a message");
            if d.message.shop_id == "outage-shop" {
                return d;
            }
        }
    })
    .await
    .expect("the event written while NATS was down is published");
    assert_eq!(delivery.message.event_type, "ViolationRecorded");
}
