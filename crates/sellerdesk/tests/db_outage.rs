//! R-X-4: a service started before its database (a cluster coming up, a
//! replica restarted while the others hold every connection) waits for it
//! and says so, instead of exiting, and serves once the database answers;
//! a service whose database goes away answers UNAVAILABLE, which a client
//! retries, not INTERNAL, and serves again when it returns. A [`PgGate`] in
//! front of the real PostgreSQL plays the database that is not there.

mod common;

use common::{bin, connect, free_port, token, Killed};
use sellerdesk::client::authed;
use sellerdesk_api::compliance::v1::{
    compliance_service_client::ComplianceServiceClient, GetStandingRequest, RecordViolationRequest,
};
use sellerdesk_testkit::{fresh_postgres_url, Gate, PgGate};
use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};
use tonic::{transport::Channel, Code};
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

/// compliance-svc as one process whose database is behind `gate`.
struct Compliance {
    process: Killed,
    port: u16,
    stderr: PathBuf,
    platform: String,
    _data: tempfile::TempDir,
}

impl Compliance {
    fn start(gate: &PgGate) -> Self {
        let data = tempfile::tempdir().unwrap();
        let platform = token(data.path(), "", "platform", "db-outage-test");
        let port = free_port();
        let stderr = data.path().join("stderr.log");
        let process = Killed(
            Command::new(bin())
                .args(["serve", "compliance", "--listen"])
                .arg(format!("127.0.0.1:{port}"))
                .env("SELLERDESK_DATA_DIR", data.path())
                .env("SELLERDESK_DATABASE_URL", gate.url())
                .env("SELLERDESK_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&stderr).unwrap())
                .spawn()
                .unwrap(),
        );
        Self {
            process,
            port,
            stderr,
            platform,
            _data: data,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        assert!(
            self.process.0.try_wait().unwrap().is_none(),
            "the service exited: {}",
            self.log()
        );
    }

    async fn client(&self) -> ComplianceServiceClient<Channel> {
        ComplianceServiceClient::new(connect(&format!("http://127.0.0.1:{}", self.port)).await)
    }

    async fn record(
        &self,
        client: &mut ComplianceServiceClient<Channel>,
        shop: &str,
        violation_id: &str,
        points: u32,
    ) -> Result<(), Code> {
        client
            .record_violation(authed(
                &self.platform,
                RecordViolationRequest {
                    shop_id: shop.into(),
                    violation_id: violation_id.into(),
                    points: Some(points),
                    ..Default::default()
                },
            ))
            .await
            .map(|_| ())
            .map_err(|s| s.code())
    }

    /// As a client does across an outage: the same request again until it
    /// is taken (it is idempotent by id). The codes of the refusals.
    async fn record_until_taken(
        &self,
        client: &mut ComplianceServiceClient<Channel>,
        shop: &str,
        violation_id: &str,
        points: u32,
    ) -> Vec<Code> {
        let started = Instant::now();
        let mut refusals = Vec::new();
        while let Err(code) = self.record(client, shop, violation_id, points).await {
            refusals.push(code);
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "not taken in a minute: {refusals:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        refusals
    }

    async fn points(
        &self,
        client: &mut ComplianceServiceClient<Channel>,
        shop: &str,
    ) -> Result<u32, Code> {
        let r = client
            .get_standing(authed(
                &self.platform,
                GetStandingRequest {
                    shop_id: shop.into(),
                    ..Default::default()
                },
            ))
            .await
            .map_err(|s| s.code())?;
        Ok(r.into_inner().standing.expect("a standing").points)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_started_before_its_database_serves_once_it_is_ready() {
    let gate = PgGate::new(&fresh_postgres_url().await, Gate::Starting).await;
    let mut service = Compliance::start(&gate);

    // PostgreSQL answers that it is starting for longer than the driver's
    // own retries (10 s): the service waits on, and says so in its log.
    let started = Instant::now();
    while !service.log().contains("waiting for the database") {
        service.assert_running();
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "no word of waiting: {}",
            service.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gate.connections() >= 2, "it asked more than once");
    service.assert_running();

    // The database is ready: the service serves, on the real database.
    gate.set(Gate::Open);
    let mut client = service.client().await;
    let mut health =
        HealthClient::new(connect(&format!("http://127.0.0.1:{}", service.port)).await);
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
        service.log()
    );
    let shop = "late-db-shop";
    service
        .record(&mut client, shop, "v1", 2)
        .await
        .expect("a write once the database is there");
    assert_eq!(service.points(&mut client, shop).await, Ok(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_whose_database_goes_away_serves_again_when_it_returns() {
    let gate = PgGate::new(&fresh_postgres_url().await, Gate::Open).await;
    let mut service = Compliance::start(&gate);
    let mut client = service.client().await;
    let shop = "db-gone-shop";
    assert!(service
        .record_until_taken(&mut client, shop, "v1", 2)
        .await
        .is_empty());

    // The database goes away: every connection closed, new ones refused.
    gate.set(Gate::Reset);
    gate.cut();
    let during = service.record(&mut client, shop, "v2", 3).await;
    println!("a write while the database is gone: {during:?}");
    assert_eq!(during, Err(Code::Unavailable));
    // A read does not answer from what the process remembers: another
    // replica may have written since (R-X-4).
    let read = service.points(&mut client, shop).await;
    println!("a read while the database is gone: {read:?}");
    assert_eq!(read, Err(Code::Unavailable));
    tokio::time::sleep(Duration::from_secs(3)).await;
    service.assert_running();

    // It is back: the write the client repeats is taken once, and the
    // standing counts each violation once.
    gate.set(Gate::Open);
    let refusals = service.record_until_taken(&mut client, shop, "v2", 3).await;
    println!("refusals after the database returned: {refusals:?}");
    service.record_until_taken(&mut client, shop, "v3", 4).await;
    assert_eq!(service.points(&mut client, shop).await, Ok(9));
    service.assert_running();
}
