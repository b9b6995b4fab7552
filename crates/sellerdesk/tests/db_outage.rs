//! R-X-4: a service started before its database (a cluster coming up, a
//! replica restarted while the others hold every connection) waits for it
//! and says so, instead of exiting, and serves once the database answers.
//! A [`PgGate`] in front of the real PostgreSQL answers "starting up" until
//! the test opens it.

mod common;

use common::{bin, connect, free_port, token, Killed};
use sellerdesk::client::authed;
use sellerdesk_api::compliance::v1::{
    compliance_service_client::ComplianceServiceClient, GetStandingRequest, RecordViolationRequest,
};
use sellerdesk_testkit::{fresh_postgres_url, Gate, PgGate};
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_started_before_its_database_serves_once_it_is_ready() {
    let data = tempfile::tempdir().unwrap();
    let platform = token(data.path(), "", "platform", "db-outage-test");
    let gate = PgGate::new(&fresh_postgres_url().await, Gate::Starting).await;
    let grpc_port = free_port();
    let stderr = data.path().join("stderr.log");
    let mut service = Killed(
        Command::new(bin())
            .args(["serve", "compliance", "--listen"])
            .arg(format!("127.0.0.1:{grpc_port}"))
            .env("SELLERDESK_DATA_DIR", data.path())
            .env("SELLERDESK_DATABASE_URL", gate.url())
            .env("SELLERDESK_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap(),
    );

    // PostgreSQL answers that it is starting for longer than the driver's
    // own retries (10 s): the service waits on, and says so in its log.
    let started = Instant::now();
    while !std::fs::read_to_string(&stderr)
        .unwrap_or_default()
        .contains("waiting for the database")
    {
        assert!(
            service.0.try_wait().unwrap().is_none(),
            "the service exited instead of waiting: {}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "no word of waiting: {}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gate.connections() >= 2, "it asked more than once");
    assert!(service.0.try_wait().unwrap().is_none(), "still running");

    // The database is ready: the service serves, on the real database.
    gate.set(Gate::Open);
    let endpoint = format!("http://127.0.0.1:{grpc_port}");
    let channel = connect(&endpoint).await;
    let mut health = HealthClient::new(channel.clone());
    let serving = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let status = tokio::time::timeout(
                Duration::from_secs(1),
                health.check(HealthCheckRequest {
                    service: String::new(),
                }),
            )
            .await;
            if let Ok(Ok(r)) = status {
                if r.into_inner().status == ServingStatus::Serving as i32 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(
        serving.is_ok(),
        "not serving 30 s after the database opened: {}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    let mut client = ComplianceServiceClient::new(channel);
    client
        .record_violation(authed(
            &platform,
            RecordViolationRequest {
                shop_id: "late-db-shop".into(),
                violation_id: "v1".into(),
                points: Some(2),
                ..Default::default()
            },
        ))
        .await
        .expect("a write once the database is there");
    let standing = client
        .get_standing(authed(
            &platform,
            GetStandingRequest {
                shop_id: "late-db-shop".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("a read")
        .into_inner()
        .standing
        .expect("a standing");
    assert_eq!(standing.points, 2, "{standing:?}");
}

/// Records `violation_id` for `shop`, as a client does across an outage:
/// the same request again until it is taken (idempotent by id). The codes
/// of the refusals on the way.
async fn record_until_taken(
    client: &mut ComplianceServiceClient<tonic::transport::Channel>,
    platform: &str,
    shop: &str,
    violation_id: &str,
    points: u32,
) -> Vec<tonic::Code> {
    let started = Instant::now();
    let mut refusals = Vec::new();
    loop {
        let r = client
            .record_violation(authed(
                platform,
                RecordViolationRequest {
                    shop_id: shop.into(),
                    violation_id: violation_id.into(),
                    points: Some(points),
                    ..Default::default()
                },
            ))
            .await;
        match r {
            Ok(_) => return refusals,
            Err(status) => refusals.push(status.code()),
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not taken in a minute: {refusals:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_whose_database_goes_away_serves_again_when_it_returns() {
    let data = tempfile::tempdir().unwrap();
    let platform = token(data.path(), "", "platform", "db-outage-test");
    let gate = PgGate::new(&fresh_postgres_url().await, Gate::Open).await;
    let grpc_port = free_port();
    let stderr = data.path().join("stderr.log");
    let mut service = Killed(
        Command::new(bin())
            .args(["serve", "compliance", "--listen"])
            .arg(format!("127.0.0.1:{grpc_port}"))
            .env("SELLERDESK_DATA_DIR", data.path())
            .env("SELLERDESK_DATABASE_URL", gate.url())
            .env("SELLERDESK_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap(),
    );
    let channel = connect(&format!("http://127.0.0.1:{grpc_port}")).await;
    let mut client = ComplianceServiceClient::new(channel);
    let shop = "db-gone-shop";
    assert!(record_until_taken(&mut client, &platform, shop, "v1", 2)
        .await
        .is_empty());

    // The database goes away: every connection closed, new ones refused.
    gate.set(Gate::Reset);
    gate.cut();
    let during = client
        .record_violation(authed(
            &platform,
            RecordViolationRequest {
                shop_id: shop.into(),
                violation_id: "v2".into(),
                points: Some(3),
                ..Default::default()
            },
        ))
        .await;
    let code = during
        .as_ref()
        .map(|_| tonic::Code::Ok)
        .unwrap_or_else(|s| s.code());
    println!("a write while the database is gone: {code:?}");
    assert_eq!(code, tonic::Code::Unavailable, "{during:?}");
    // A read does not answer from what the process remembers: another
    // replica may have written since (R-X-4).
    let read = client
        .get_standing(authed(
            &platform,
            GetStandingRequest {
                shop_id: shop.into(),
                ..Default::default()
            },
        ))
        .await;
    let code = read
        .as_ref()
        .map(|_| tonic::Code::Ok)
        .unwrap_or_else(|s| s.code());
    println!("a read while the database is gone: {code:?}");
    assert_eq!(code, tonic::Code::Unavailable, "{read:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        service.0.try_wait().unwrap().is_none(),
        "the service exited: {}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );

    // It is back: the write the client repeats is taken once, and the
    // standing counts each violation once.
    gate.set(Gate::Open);
    let refusals = record_until_taken(&mut client, &platform, shop, "v2", 3).await;
    println!("refusals after the database returned: {refusals:?}");
    record_until_taken(&mut client, &platform, shop, "v3", 4).await;
    let standing = client
        .get_standing(authed(
            &platform,
            GetStandingRequest {
                shop_id: shop.into(),
                ..Default::default()
            },
        ))
        .await
        .expect("a read")
        .into_inner()
        .standing
        .expect("a standing");
    assert_eq!(standing.points, 9, "{standing:?}");
    assert!(service.0.try_wait().unwrap().is_none(), "still running");
}
