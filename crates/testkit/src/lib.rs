//! Helpers for integration tests against real backends.
//!
//! Every test gets its own database, so tests run in parallel. The servers come
//! from `DATABASE_URL` and `NATS_URL` (defaults: this machine's 127.0.0.1:5432
//! and 127.0.0.1:4222); `scripts/test.sh` starts throw-away ones where none
//! answer. A backend that does not answer fails the test: nothing is skipped.
//! (sellerdesk in Docker for an outside suite is `sellerdesk-testcontainers`.)

mod pg_gate;
mod silenced;

pub use pg_gate::{Gate, PgGate};
pub use silenced::{
    all_to_silenced_or_skip, is_established, silenced_or_skip, the_connection_to, Silenced,
};
use sqlx::{Connection, Executor, PgConnection};
use std::{future::Future, time::Duration};

/// Asks `probe` every 50 ms until it answers, for at most `within`: for
/// what another task writes a moment after a call returns (a read model's
/// projector, a consumer of the bus). None if it never answered.
pub async fn eventually<T, F, Fut>(within: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(answer) = probe().await {
            return Some(answer);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The PostgreSQL server tests use (an admin database on it).
pub async fn postgres_admin_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => "postgres://postgres@127.0.0.1:5432/postgres".to_owned(),
    }
}

/// The NATS JetStream server tests use.
pub async fn nats_url() -> String {
    match std::env::var("NATS_URL") {
        Ok(url) => url,
        Err(_) => "nats://127.0.0.1:4222".to_owned(),
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

/// Ends, as a restart or a failover of PostgreSQL would, the session of the
/// database at `url` that holds the advisory lock `key` (a lease's key), and
/// waits (up to 5 s) until its backend is gone, so the holder's next query
/// fails; the sessions it ended, one for a lease that was held.
pub async fn end_session_holding(url: &str, key: i64) -> usize {
    let mut admin = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} does not answer: {e}"));
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks \
         WHERE locktype = 'advisory' AND ((classid::bigint << 32) | objid::bigint) = $1 \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(key)
    .fetch_all(&mut admin)
    .await
    .expect("end the session holding the lock");
    ended.into_iter().filter(|&ended| ended).count()
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
