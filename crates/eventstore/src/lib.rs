//! The append-only event log every sellerdesk service keeps its changes in (R-X-2).
//!
//! One trait, [`EventStore`], with two implementations: [`PgEventStore`]
//! (production) and [`SqliteEventStore`] (the embedded default). Streams are
//! appended with an expected version; the global order is *gap-safe*: a reader
//! that has seen position P never later finds a newly committed event below P,
//! because writers are serialised (see `docs/event-store.md`). The store also
//! keeps follower checkpoints, the consumer inbox and read-model snapshots, so
//! that a service's effect and its bookkeeping commit together.
//!
//! This crate never interprets payloads: domain types belong to the services,
//! and the steps that bring old schema versions forward to each stream kind
//! in the core ([`codec::decode_in`] applies them).

pub mod codec;
mod documents;
mod follow;
#[cfg(feature = "testing")]
pub mod hooked;
mod keepalive;
mod metrics;
mod model;
mod pg_copy;
mod postgres;
mod snapshot_body;
mod sqlite;

pub use follow::{replay_log, FollowError, Follower, POLL_INTERVAL, RETRY_INTERVAL};
pub use metrics::{append_totals, AppendTotals};
pub use model::*;
pub use postgres::PgEventStore;
pub use sqlite::SqliteEventStore;

use async_trait::async_trait;
use std::sync::Arc;

/// The event log of one service. Cheap to clone behind an [`Arc`].
#[async_trait]
pub trait EventStore: Send + Sync + std::fmt::Debug + 'static {
    /// Appends `events` to one stream atomically, if the stream is at `expected`.
    /// With an inbox mark, also records that the consumer processed that upstream
    /// event; if it already had, nothing is appended ([`AppendError::AlreadyProcessed`]).
    async fn append(&self, append: Append) -> Result<Appended, AppendError>;

    /// Events of one stream with `stream_version > after_version`, in order, at most `limit`.
    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Events with `global_position > after_position`, in global order, at most `limit`.
    async fn read_all(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The events of the streams whose id starts with `stream_prefix`, with
    /// `after_position < global_position <= up_to`, in global order: for a
    /// follower of a few streams of a busy log, which then neither receives
    /// nor decodes the rest. `stream_prefix` holds only ASCII letters,
    /// digits, `-` and `_`.
    async fn read_streams_between(
        &self,
        stream_prefix: &str,
        after_position: i64,
        up_to: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// [`Self::read_all`] without the metadata: for rebuilding read models
    /// from the whole log, where only positions, types and payloads count.
    async fn replay_all(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<ReplayedEvent>, StoreError>;

    /// The highest committed global position (0 when empty).
    async fn head(&self) -> Result<i64, StoreError>;

    /// Wakes when this process commits an append; carries the new head.
    /// Followers also poll, for appends by other processes.
    fn watch_head(&self) -> tokio::sync::watch::Receiver<i64>;

    /// The stored position of a named follower (0 if it never saved one).
    async fn load_checkpoint(&self, name: &str) -> Result<i64, StoreError>;
    async fn save_checkpoint(&self, name: &str, position: i64) -> Result<(), StoreError>;

    /// Whether `consumer` has already processed upstream event `event_id`.
    async fn is_processed(&self, consumer: &str, event_id: uuid::Uuid) -> Result<bool, StoreError>;

    /// Read-model documents and snapshots: derived data, safe to drop.
    async fn save_snapshots(&self, snapshots: &[Snapshot]) -> Result<(), StoreError>;
    async fn load_snapshot(&self, key: &str) -> Result<Option<Snapshot>, StoreError>;
    async fn load_snapshots(&self, key_prefix: &str) -> Result<Vec<Snapshot>, StoreError>;
    async fn delete_snapshots(&self, key_prefix: &str) -> Result<u64, StoreError>;

    /// Writes searchable documents and their terms, together. A document
    /// replaces the stored one with the same index, shop and id only when its
    /// version is the same or later: a writer that fell behind (a projector
    /// that lost its lease) never rolls a document back.
    async fn save_documents(&self, documents: &[Document]) -> Result<(), StoreError>;
    /// The documents with these ids that exist, in no particular order.
    async fn load_documents(
        &self,
        index: &str,
        shop_id: &str,
        doc_ids: &[String],
    ) -> Result<Vec<Document>, StoreError>;
    /// Every document of a shop's index that has `term`, in no particular
    /// order: for small sets (one conversation's lines). Found through the
    /// term's own index and then each document's key, whatever the planner
    /// knows of the tables.
    async fn documents_with_term(
        &self,
        index: &str,
        shop_id: &str,
        term: &str,
    ) -> Result<Vec<Document>, StoreError>;
    /// The ids of at most `limit` documents of a shop's index that have
    /// `term`, in id order: one walk of the term's own index, reading no
    /// document. A caller asks for one more than it will use to learn
    /// whether a term is rare enough to drive a search.
    async fn term_postings(
        &self,
        index: &str,
        shop_id: &str,
        term: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError>;
    /// One page of the documents that match, in `starts_at` order (ties by id).
    async fn search_documents(&self, query: &DocumentQuery) -> Result<Vec<Document>, StoreError>;
    /// Drops a whole index (a rebuild projects it again).
    async fn delete_documents(&self, index: &str) -> Result<u64, StoreError>;

    /// Takes the lease `name` if no other process holds it: work that must
    /// run once (a relay, a projector, a scheduler) runs while its holder
    /// lives. `None` when another holds it. The lease ends when the guard is
    /// dropped or the holder's session dies (a killed process frees it at once).
    async fn try_lease(&self, name: &str) -> Result<Option<Box<dyn Lease>>, StoreError>;

    /// Which of the leases `names` some process holds now (in order): how
    /// replicas that each hold a lease of their own learn who is alive
    /// (`runtime::ownership`), from the same engine that frees a killed
    /// process's lease.
    async fn leases_held(&self, names: &[String]) -> Result<Vec<bool>, StoreError>;

    /// One round trip to the database: whether it answers now (the health
    /// service's `sellerdesk.database`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A held lease; dropping it gives the lease up.
#[async_trait]
pub trait Lease: Send + std::fmt::Debug {
    /// Whether the lease is still held (its session is alive). Once false,
    /// the holder must stop the work, as another may take the lease.
    async fn held(&mut self) -> bool;
}

/// A stable 64-bit key for a lease name (FNV-1a): PostgreSQL's advisory
/// locks are keyed by integers.
pub fn lease_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash as i64
}

/// The most connections a PostgreSQL store's pool holds unless configured
/// (`database_max_connections`).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

/// Opens the store a URL names: `postgres://...` or `sqlite://path` (created if missing).
/// Migrations run before this returns.
pub async fn open(url: &str) -> Result<Arc<dyn EventStore>, StoreError> {
    open_with(url, DEFAULT_MAX_CONNECTIONS).await
}

/// [`open`], with at most `max_connections` to PostgreSQL.
pub async fn open_with(url: &str, max_connections: u32) -> Result<Arc<dyn EventStore>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            PgEventStore::connect_with(url, max_connections).await?,
        ))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteEventStore::connect(url).await?))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL {url:?}: use postgres://... or sqlite://path"
        )))
    }
}

/// [`open_with`], tried again while the database is only not ready: not
/// reachable yet, starting, or with no connection to spare (a replica
/// restarted under load, a cluster coming up). Up to `wait`, every two
/// seconds, telling `waiting` each time; any other error at once.
pub async fn open_waiting(
    url: &str,
    max_connections: u32,
    wait: std::time::Duration,
    mut waiting: impl FnMut(&StoreError),
) -> Result<Arc<dyn EventStore>, StoreError> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match open_with(url, max_connections).await {
            Err(e) if unavailable(&e) && std::time::Instant::now() < deadline => {
                waiting(&e);
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            other => return other,
        }
    }
}

/// Whether the database is unavailable to this process for now, so the same
/// request may succeed later: not reachable (down, restarting, failing
/// over), starting up, without a connection to spare, the session ended by
/// the server, or the connection lost (decision 0029). A starting service
/// waits ([`open_waiting`]); a request answers UNAVAILABLE, which clients
/// retry, instead of INTERNAL.
pub fn unavailable(e: &StoreError) -> bool {
    let sqlx_error = match e {
        StoreError::Unavailable(_) => return true,
        StoreError::Database(e) => e,
        StoreError::Migration(sqlx::migrate::MigrateError::Execute(e)) => e,
        _ => return false,
    };
    match sqlx_error {
        // No connection to be had in time, the socket failed, the pool
        // closed under a call as the process stops, or the connection lost
        // its place in the protocol (the server ended the session in the
        // middle of a pipelined query: a chaos run's "expected
        // ParseComplete, got ReadyForQuery").
        sqlx::Error::PoolTimedOut
        | sqlx::Error::Io(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::Protocol(_) => true,
        // 53300 too_many_connections; 57P01 admin_shutdown and 57P02
        // crash_shutdown (the server ended the session: a restart, a
        // failover); 57P03 cannot_connect_now (starting up); class 08:
        // the connection itself failed.
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            matches!(c.as_ref(), "53300" | "57P01" | "57P02" | "57P03") || c.starts_with("08")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod open_tests {
    use super::*;

    // A starting replica waits for a database that is only not ready, and
    // stops at once on anything else (a wrong URL, a broken migration).
    #[test]
    fn only_an_unavailable_database_is_waited_for() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let timed_out = StoreError::Database(sqlx::Error::PoolTimedOut);
        assert!(unavailable(&timed_out));
        assert!(unavailable(&StoreError::Database(sqlx::Error::Io(refused))));
        assert!(unavailable(&StoreError::Database(sqlx::Error::PoolClosed)));
        assert!(!unavailable(&StoreError::Database(
            sqlx::Error::RowNotFound
        )));
        assert!(!unavailable(&StoreError::Config("mysql://".into())));
        assert!(!unavailable(&StoreError::Corrupt("row".into())));
        // A shared write's waiters keep the difference.
        assert!(unavailable(&timed_out.shared()));
        let corrupt = StoreError::Corrupt("row".into()).shared();
        assert!(matches!(corrupt, StoreError::WriteFailed(_)));
        assert!(!unavailable(&corrupt));
    }

    #[tokio::test]
    async fn a_url_no_engine_serves_is_refused_without_waiting() {
        let mut waited = 0;
        let r = open_waiting("mysql://x", 1, std::time::Duration::from_secs(60), |_| {
            waited += 1
        })
        .await;
        assert!(matches!(r, Err(StoreError::Config(_))));
        assert_eq!(waited, 0);
    }
}
