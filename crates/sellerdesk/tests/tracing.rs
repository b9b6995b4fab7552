//! Trace context crosses the system: `traceparent` in gRPC metadata parents
//! the request span, the span's context is stored with the event, and the
//! outbox relay puts it in the bus message's headers. Own test binary: the
//! telemetry subscriber is process-global.

use compliance_svc::{Application, Settings};
use sellerdesk_api::compliance::v1 as pb;
use sellerdesk_bus::{EventBus, InProcessBus};
use sellerdesk_runtime::{telemetry, Config, Role, SystemClock, TokenSigner};
use std::{sync::Arc, time::Duration};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_flows_from_grpc_metadata_to_the_event_and_the_bus() {
    let config = Config {
        log_filter: "warn".into(), // quiet logs must not lose trace context
        ..Config::default()
    };
    let _guard = telemetry::init(&config, "tracing-test").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store =
        sellerdesk_eventstore::open(&format!("sqlite://{}", dir.path().join("c.db").display()))
            .await
            .unwrap();
    let bus = Arc::new(InProcessBus::new());
    let signer = TokenSigner::new("t");
    let service = Application::spawn_local(Settings {
        store: store.clone(),
        bus: bus.clone(),
        durable_bus: false,
        clock: Arc::new(SystemClock),
        clock_changes: None,
        cache_shops: 10_000,
        verifier: signer.verifier(),
        request_timeout: Duration::from_secs(10),
    })
    .await
    .unwrap();
    let mut client = sellerdesk::client::compliance(
        sellerdesk::client::channel(&service.endpoint())
            .await
            .unwrap(),
    );
    let token = sellerdesk::client::token(&signer, "", Role::Platform, "tracer", 1);
    let mut request = sellerdesk::client::authed(
        &token,
        pb::RecordViolationRequest {
            shop_id: "traced".into(),
            violation_id: "v1".into(),
            points: Some(3),
            ..Default::default()
        },
    );
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    client.record_violation(request).await.unwrap();

    let events = store.read_all(0, 10).await.unwrap();
    let stored = events[0]
        .metadata
        .traceparent
        .clone()
        .expect("the event records its trace");
    assert!(stored.contains(TRACE_ID), "{stored}");
    assert_eq!(events[0].metadata.actor.as_deref(), Some("platform:tracer"));

    let mut sub = bus
        .subscribe("compliance", "trace-test", "sellerdesk.compliance.>")
        .await
        .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(delivery
        .message
        .traceparent
        .unwrap_or_default()
        .contains(TRACE_ID));
    service.stop().await.unwrap();
}
