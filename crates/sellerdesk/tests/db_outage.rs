//! R-X-4: a service started before its database (a cluster coming up, a
//! replica restarted while the others hold every connection) waits for it
//! and says so, instead of exiting, and serves once the database answers;
//! a service whose database goes away answers UNAVAILABLE, which a client
//! retries, not INTERNAL, reports `sellerdesk.database` NOT_SERVING, and
//! serves again when it returns. A [`PgGate`] in front of the real
//! PostgreSQL plays the database that is not there.

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
use tonic_health::pb::health_check_response::ServingStatus;

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

    async fn channel(&self) -> Channel {
        connect(&format!("http://127.0.0.1:{}", self.port)).await
    }

    async fn client(&self) -> ComplianceServiceClient<Channel> {
        ComplianceServiceClient::new(self.channel().await)
    }

    /// What the health service says of `name` ("" for the process), None
    /// when it does not answer within a second.
    async fn health(&self, name: &str) -> Option<ServingStatus> {
        common::health(self.channel().await, name).await
    }

    /// Waits up to `within` for `name` to report `status`.
    async fn until_health(&self, name: &str, status: ServingStatus, within: Duration) {
        let started = Instant::now();
        while self.health(name).await != Some(status) {
            assert!(
                started.elapsed() < within,
                "{name:?} is not {status:?}: {:?}; {}",
                self.health(name).await,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
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

const DATABASE: &str = "sellerdesk.database";

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
    service
        .until_health("", ServingStatus::Serving, Duration::from_secs(30))
        .await;
    let mut client = service.client().await;
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
    let soon = Duration::from_secs(10);
    service
        .until_health(DATABASE, ServingStatus::Serving, soon)
        .await;

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
    // The health service says which dependency is out; the process itself
    // stays SERVING, since every replica shares the outage.
    service
        .until_health(DATABASE, ServingStatus::NotServing, soon)
        .await;
    assert_eq!(service.health("").await, Some(ServingStatus::Serving));
    service.assert_running();

    // It is back: the write the client repeats is taken once, and the
    // standing counts each violation once.
    gate.set(Gate::Open);
    let refusals = service.record_until_taken(&mut client, shop, "v2", 3).await;
    println!("refusals after the database returned: {refusals:?}");
    service.record_until_taken(&mut client, shop, "v3", 4).await;
    assert_eq!(service.points(&mut client, shop).await, Ok(9));
    service
        .until_health(DATABASE, ServingStatus::Serving, soon)
        .await;
    service.assert_running();
}

/// The server ends the service's sessions under load, as a restart or a
/// failover of PostgreSQL does (FATAL 57P01, "terminating connection due
/// to administrator command"): a call caught in one is UNAVAILABLE, never
/// INTERNAL, and the service goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_ended_by_the_server_are_unavailable_not_internal() {
    let url = fresh_postgres_url().await;
    let gate = PgGate::new(&url, Gate::Open).await;
    let service = std::sync::Arc::new(Compliance::start(&gate));
    let database = url.rsplit('/').next().unwrap().to_owned();
    let mut client = service.client().await;
    service
        .record_until_taken(&mut client, "warm", "v0", 1)
        .await;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let service = service.clone();
            tokio::spawn(async move {
                let mut client = service.client().await;
                let mut codes = Vec::new();
                for i in 0..60 {
                    let shop = format!("ended-{w}");
                    if let Err(code) = service
                        .record(&mut client, &shop, &format!("v{i}"), 1)
                        .await
                    {
                        codes.push(code);
                    }
                }
                codes
            })
        })
        .collect();
    let admin_url = sellerdesk_testkit::postgres_admin_url().await;
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .unwrap();
    let mut ended = 0;
    for _ in 0..15 {
        let n: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind(&database)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        ended += n.len();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut codes = Vec::new();
    for w in writers {
        codes.extend(w.await.unwrap());
    }
    println!("sessions ended: {ended}; refusals: {codes:?}");
    assert!(ended > 0);
    assert!(
        !codes.contains(&Code::Internal),
        "INTERNAL for a session the server ended: {codes:?}; {}",
        service.log()
    );
}
