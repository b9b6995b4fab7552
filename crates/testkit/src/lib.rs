//! Helpers for integration tests against real backends.
//!
//! Every test gets its own database, so tests run in parallel. The servers come
//! from `DATABASE_URL` and `NATS_URL` (defaults: this machine's 127.0.0.1:5432
//! and 127.0.0.1:4222); `scripts/test.sh` starts throw-away ones where none
//! answer. A backend that does not answer fails the test: nothing is skipped.
//! With the `testcontainers` feature and no URL set, [`containers`] starts
//! both servers in Docker instead (users' machines only; CI never enables it).

use sqlx::{Connection, Executor, PgConnection};

/// The PostgreSQL server tests use (an admin database on it).
pub async fn postgres_admin_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        #[cfg(feature = "testcontainers")]
        Err(_) => containers::postgres_url().await,
        #[cfg(not(feature = "testcontainers"))]
        Err(_) => "postgres://postgres@127.0.0.1:5432/postgres".to_owned(),
    }
}

/// The NATS JetStream server tests use.
pub async fn nats_url() -> String {
    match std::env::var("NATS_URL") {
        Ok(url) => url,
        #[cfg(feature = "testcontainers")]
        Err(_) => containers::nats_url().await,
        #[cfg(not(feature = "testcontainers"))]
        Err(_) => "nats://127.0.0.1:4222".to_owned(),
    }
}

/// The one place that knows about Docker: PostgreSQL 15 and NATS with
/// JetStream in containers, started once per test process and left to
/// testcontainers' cleanup when the process ends.
#[cfg(feature = "testcontainers")]
pub mod containers {
    use testcontainers_modules::{
        nats::{Nats, NatsServerCmd},
        postgres::Postgres,
        testcontainers::{runners::AsyncRunner, ContainerAsync, ImageExt},
    };
    use tokio::sync::OnceCell;

    static POSTGRES: OnceCell<(ContainerAsync<Postgres>, String)> = OnceCell::const_new();
    static NATS: OnceCell<(ContainerAsync<Nats>, String)> = OnceCell::const_new();

    pub async fn postgres_url() -> String {
        POSTGRES
            .get_or_init(|| async {
                let c = Postgres::default()
                    .with_tag("15-alpine")
                    .start()
                    .await
                    .expect("start a PostgreSQL container (is Docker running?)");
                let port = c.get_host_port_ipv4(5432).await.expect("PostgreSQL port");
                (
                    c,
                    format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres"),
                )
            })
            .await
            .1
            .clone()
    }

    pub async fn nats_url() -> String {
        NATS.get_or_init(|| async {
            let cmd = NatsServerCmd::default().with_jetstream();
            let c = Nats::default()
                .with_cmd(&cmd)
                .start()
                .await
                .expect("start a NATS container (is Docker running?)");
            let port = c.get_host_port_ipv4(4222).await.expect("NATS port");
            // The image's default credentials.
            (c, format!("nats://ruser:T0pS3cr3t@127.0.0.1:{port}"))
        })
        .await
        .1
        .clone()
    }
}

/// Creates an empty database named `sd_test_<random>` and returns its URL.
/// `scripts/test.sh` drops them all when the run ends.
pub async fn fresh_postgres_url() -> String {
    let admin = postgres_admin_url().await;
    let name = format!("sd_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} does not answer: {e}"));
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    let (base, _) = admin
        .rsplit_once('/')
        .expect("DATABASE_URL has a database name");
    let base = base.to_owned();
    // Keep any query string (sslmode, ...) the admin URL had.
    let query = admin
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{base}/{name}{query}")
}

/// A SQLite file in a fresh temporary directory; the directory lives as long as this value.
#[derive(Debug)]
pub struct TempSqlite {
    dir: tempfile::TempDir,
}

impl TempSqlite {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// URL of database `name` in this directory.
    pub fn url(&self, name: &str) -> String {
        format!(
            "sqlite://{}",
            self.dir.path().join(format!("{name}.db")).display()
        )
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Default for TempSqlite {
    fn default() -> Self {
        Self::new()
    }
}
