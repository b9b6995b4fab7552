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
/// `scripts/test.sh` drops them all when the run ends; a run without it
/// (bare `cargo nextest`, a killed run) leaves them, so each new one first
/// drops a few that are [`LEFT_OVER_AFTER`] old.
pub async fn fresh_postgres_url() -> String {
    let admin = postgres_admin_url().await;
    let name = format!("sd_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} does not answer: {e}"));
    drop_left_over(&mut conn, std::time::SystemTime::now()).await;
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

/// Test databases older than this were left by a run that did not drop
/// them: no test lasts this long, so none is in use.
pub const LEFT_OVER_AFTER: Duration = Duration::from_secs(6 * 3600);

/// How many left-over databases one new test database drops: enough to
/// drain a pile faster than a run adds to it (each test drops up to this
/// many and adds one), few enough that no test waits long on the drops.
const DROP_AT_ONCE: i64 = 4;

/// The smallest test database name made at `at`: a v7 UUID starts with its
/// milliseconds since the epoch in 12 hex digits, so names sort by age.
fn test_database_name_at(at: std::time::SystemTime) -> String {
    let millis = at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    format!("sd_test_{millis:012x}")
}

/// Drops up to [`DROP_AT_ONCE`] test databases made [`LEFT_OVER_AFTER`]
/// before `now`; the names of those it dropped. One that cannot be dropped
/// (someone still connected to it, another test dropping it too) is left
/// for a later call: cleaning up never fails a test.
pub async fn drop_left_over(conn: &mut PgConnection, now: std::time::SystemTime) -> Vec<String> {
    let Some(cutoff) = now.checked_sub(LEFT_OVER_AFTER) else {
        return Vec::new();
    };
    let old: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database \
         WHERE datname LIKE 'sd\\_test\\_%' AND datname < $1 ORDER BY datname LIMIT $2",
    )
    .bind(test_database_name_at(cutoff))
    .bind(DROP_AT_ONCE)
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    let mut dropped = Vec::new();
    for name in old {
        // The name came from pg_database and matched the pattern above, but
        // it is quoted all the same.
        let drop = format!("DROP DATABASE IF EXISTS \"{}\"", name.replace('"', "\"\""));
        if conn.execute(drop.as_str()).await.is_ok() {
            dropped.push(name);
        }
    }
    dropped
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

/// A loopback port that nothing listens on now, for a server that a test
/// starts a moment later (a nats-server, a service). It is drawn from below
/// the kernel's ephemeral range: a port that a bind to port 0 handed out and
/// gave back can be handed to another test's bind or outgoing connection
/// before the server binds it, and one below the range cannot.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    const LOWEST: u16 = 20_000;
    let ephemeral_from = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    if ephemeral_from > LOWEST + 1_000 {
        let span = u64::from(ephemeral_from - LOWEST);
        for attempt in 0..200u64 {
            // RandomState is seeded per process and per call: tests in other
            // processes draw other ports.
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(attempt);
            hasher.write_u32(std::process::id());
            let port = LOWEST + (hasher.finish() % span) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}
