use crate::{
    documents, keepalive,
    snapshot_body::{self, ByPrefix},
    Append, AppendError, Appended, Document, DocumentQuery, EventStore, Lease, Metadata,
    RecordedEvent, ReplayedEvent, Snapshot, StoreError,
};
use async_trait::async_trait;

use sqlx::{postgres::PgPoolOptions, PgPool, Row};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

/// Advisory lock key that serialises appenders: positions are taken and
/// committed in one order, so a follower never skips a late commit (the bug
/// Marten shipped; message-db solves it the same way). "sdlog" in ASCII.
const APPEND_LOCK: i64 = 0x0073_646c_6f67;

/// The production event store.
#[derive(Debug, Clone)]
pub struct PgEventStore {
    pool: PgPool,
    head: Arc<watch::Sender<i64>>,
    writer: mpsc::Sender<Pending>,
}

/// An append waiting for the group-commit writer.
#[derive(Debug)]
struct Pending {
    append: Append,
    reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// Appends taken into one transaction at most.
const MAX_GROUP: usize = 512;

/// How PostgreSQL spells what differs between the engines. The snapshot key
/// is compared in "C" order, which migration 0008 indexes: the primary key's
/// index follows the database's collation, which need not sort bytes.
const DIALECT: documents::Dialect = documents::Dialect {
    placeholder: |n| format!("${n}"),
    find: "strpos",
    key_bytes: "key COLLATE \"C\"",
};

impl PgEventStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, crate::DEFAULT_MAX_CONNECTIONS).await
    }

    /// A store whose pool holds at most `max_connections`. Connections idle
    /// for a minute are closed: after a burst, a process gives back what it
    /// no longer uses, so a replica starting beside it finds some free.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options: sqlx::postgres::PgConnectOptions = url.parse()?;
        let pool = pool_options(max_connections, options.get_port())
            .idle_timeout(std::time::Duration::from_secs(60))
            .connect_with(options)
            .await?;
        Self::with_pool(pool).await
    }

    /// Runs the event-store migrations on `pool` and opens the store. The
    /// pool's sessions should be set up as [`pool_options`] does.
    async fn with_pool(pool: PgPool) -> Result<Self, StoreError> {
        let mut migrator = sqlx::migrate!("migrations/postgres");
        // Services keep their own migrations in the same database.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        // Lookups by id in the snapshots and documents tables are planned
        // well only with statistics: without them the planner may pick an
        // index that reads every document of a shop's index (measured: a
        // projector's batch 1.8 s instead of 12 ms). Autovacuum keeps them;
        // a server that runs without it is told here, once.
        let autovacuum: String = sqlx::query_scalar("SHOW autovacuum")
            .fetch_one(&pool)
            .await?;
        if autovacuum != "on" {
            tracing::warn!(
                "PostgreSQL runs with autovacuum off: read models and snapshots get no \
                 statistics, and lookups by id may slow down as they grow; turn it on \
                 or run ANALYZE regularly"
            );
        }
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_one(&pool)
            .await?;
        let head = Arc::new(watch::channel(head).0);
        let (writer, requests) = mpsc::channel(4 * MAX_GROUP);
        spawn_writer(&pool, head.clone(), requests)?;
        Ok(Self { pool, head, writer })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

const COLUMNS: &str = "global_position, stream_id, stream_version, event_id, event_type, schema_version, \
     shop_id, occurred_at, recorded_at, correlation_id, causation_id, actor, traceparent, payload::text";

fn decode(row: &sqlx::postgres::PgRow) -> Result<RecordedEvent, sqlx::Error> {
    Ok(RecordedEvent {
        global_position: row.try_get(0)?,
        stream_id: row.try_get(1)?,
        stream_version: row.try_get(2)?,
        event_id: row.try_get(3)?,
        event_type: row.try_get(4)?,
        schema_version: row.try_get(5)?,
        shop_id: row.try_get(6)?,
        occurred_at: row.try_get(7)?,
        recorded_at: row.try_get(8)?,
        metadata: Metadata {
            correlation_id: row.try_get(9)?,
            causation_id: row.try_get(10)?,
            actor: row.try_get(11)?,
            traceparent: row.try_get(12)?,
        },
        payload: row.try_get(13)?,
    })
}

#[async_trait]
impl EventStore for PgEventStore {
    async fn append(&self, append: Append) -> Result<Appended, AppendError> {
        crate::metrics::metered("postgres", append.events.len(), async {
            let (reply, answer) = oneshot::channel();
            self.writer
                .send(Pending { append, reply })
                .await
                .map_err(|_| StoreError::Config("the append writer stopped".into()))?;
            answer.await.map_err(|_| {
                AppendError::Store(StoreError::Config("the append writer stopped".into()))
            })?
        })
        .await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $2 \
             ORDER BY stream_version LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(stream_id)
            .bind(after_version)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(decode).collect::<Result<_, _>>()?)
    }

    async fn read_all(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        crate::model::read_page(after_position, limit, |from, to| {
            let pool = self.pool.clone();
            async move { crate::pg_copy::read_range(&pool, from, to).await }
        })
        .await
    }

    async fn read_streams_between(
        &self,
        stream_prefix: &str,
        after_position: i64,
        up_to: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        crate::pg_copy::read_range_of(&self.pool, stream_prefix, after_position, up_to).await
    }

    async fn replay_all(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<ReplayedEvent>, StoreError> {
        crate::model::read_page(after_position, limit, |from, to| {
            let pool = self.pool.clone();
            async move { crate::pg_copy::replay_range(&pool, from, to).await }
        })
        .await
    }

    async fn head(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    fn watch_head(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    async fn load_checkpoint(&self, name: &str) -> Result<i64, StoreError> {
        let p: Option<i64> = sqlx::query_scalar("SELECT position FROM checkpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(p.unwrap_or(0))
    }

    async fn save_checkpoint(&self, name: &str, position: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checkpoints (name, position) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
        )
        .bind(name)
        .bind(position)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn is_processed(&self, consumer: &str, event_id: Uuid) -> Result<bool, StoreError> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2",
        )
        .bind(consumer)
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn save_snapshots(&self, snapshots: &[Snapshot]) -> Result<(), StoreError> {
        for chunk in snapshots.chunks(1000) {
            let keys: Vec<&str> = chunk.iter().map(|s| s.key.as_str()).collect();
            let versions: Vec<i64> = chunk.iter().map(|s| s.version).collect();
            let positions: Vec<i64> = chunk.iter().map(|s| s.position).collect();
            let (bodies, compressed): (Vec<&str>, Vec<Option<Vec<u8>>>) =
                chunk.iter().map(|s| snapshot_body::pack(&s.body)).unzip();
            sqlx::query(
                "INSERT INTO snapshots (key, version, position, body, body_lz4) \
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::text[], \
                 $5::bytea[]) \
                 ON CONFLICT (key) DO UPDATE SET version = EXCLUDED.version, \
                 position = EXCLUDED.position, body = EXCLUDED.body, body_lz4 = EXCLUDED.body_lz4",
            )
            .bind(&keys)
            .bind(&versions)
            .bind(&positions)
            .bind(&bodies)
            .bind(&compressed)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    async fn load_snapshot(&self, key: &str) -> Result<Option<Snapshot>, StoreError> {
        let row = sqlx::query(
            "SELECT key, version, position, body, body_lz4 FROM snapshots WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| decode_snapshot(&r)).transpose()?)
    }

    async fn load_snapshots(&self, key_prefix: &str) -> Result<Vec<Snapshot>, StoreError> {
        let (sql, binds) = snapshot_body::by_prefix_sql(ByPrefix::Load, &DIALECT, key_prefix);
        let rows = documents::bound(&sql, binds).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(decode_snapshot).collect::<Result<_, _>>()?)
    }

    async fn delete_snapshots(&self, key_prefix: &str) -> Result<u64, StoreError> {
        let (sql, binds) = snapshot_body::by_prefix_sql(ByPrefix::Delete, &DIALECT, key_prefix);
        let done = documents::bound(&sql, binds).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn save_documents(&self, documents: &[Document]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for chunk in documents.chunks(1000) {
            let column = |f: fn(&Document) -> &str| -> Vec<&str> { chunk.iter().map(f).collect() };
            let (indexes, shops, ids) = (
                column(|d| &d.index),
                column(|d| &d.shop_id),
                column(|d| &d.doc_id),
            );
            let terms = chunk
                .iter()
                .map(|d| documents::join_terms(&d.terms))
                .collect::<Result<Vec<_>, _>>()?;
            let texts: Vec<String> = chunk
                .iter()
                .map(|d| documents::searchable(&d.text))
                .collect();
            let (bodies, compressed): (Vec<&str>, Vec<Option<Vec<u8>>>) =
                chunk.iter().map(|d| snapshot_body::pack(&d.body)).unzip();
            // A document is replaced only by one at the same version or a
            // later one: a projector that lost its lease and still writes
            // (for up to a lease's length) must not roll a newer document
            // back. The upsert itself says what happened to each written
            // row's terms (`terms_changed`, compared with the row it
            // replaced), so only rows whose terms changed get their term
            // rows rewritten (a conversation rewritten for a new line keeps
            // its terms), and no statement looks the old rows up: that
            // lookup was a plan, and a planner without statistics made it a
            // scan of the shop's whole index per row.
            let written: Vec<(String, String, String, Option<bool>)> = sqlx::query_as(
                "INSERT INTO documents (index_name, shop_id, doc_id, starts_at, ends_at, \
                 version, terms, search_text, body, body_lz4) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], \
                 $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::bytea[]) \
                 ON CONFLICT (index_name, shop_id, doc_id) DO UPDATE SET \
                 starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, \
                 version = EXCLUDED.version, terms = EXCLUDED.terms, \
                 search_text = EXCLUDED.search_text, body = EXCLUDED.body, \
                 body_lz4 = EXCLUDED.body_lz4, \
                 terms_changed = documents.terms IS DISTINCT FROM EXCLUDED.terms \
                 WHERE documents.version <= EXCLUDED.version \
                 RETURNING index_name, shop_id, doc_id, terms_changed",
            )
            .bind(&indexes)
            .bind(&shops)
            .bind(&ids)
            .bind(chunk.iter().map(|d| d.starts_at).collect::<Vec<_>>())
            .bind(chunk.iter().map(|d| d.ends_at).collect::<Vec<_>>())
            .bind(chunk.iter().map(|d| d.version).collect::<Vec<_>>())
            .bind(&terms)
            .bind(&texts)
            .bind(&bodies)
            .bind(&compressed)
            .fetch_all(&mut *tx)
            .await?;
            // (index, shop, id, whether it replaced a document), for each
            // row written whose terms are new or changed.
            let changed: Vec<(String, String, String, bool)> = written
                .into_iter()
                .filter_map(|(i, s, d, terms_changed)| match terms_changed {
                    None => Some((i, s, d, false)),
                    Some(true) => Some((i, s, d, true)),
                    Some(false) => None,
                })
                .collect();
            if changed.is_empty() {
                continue;
            }
            // Only documents that existed before can have stale term rows.
            let replaced: Vec<&(String, String, String, bool)> =
                changed.iter().filter(|c| c.3).collect();
            if !replaced.is_empty() {
                sqlx::query(
                    "DELETE FROM document_terms t USING UNNEST($1::text[], $2::text[], \
                     $3::text[]) AS d(index_name, shop_id, doc_id) \
                     WHERE t.index_name = d.index_name \
                     AND t.shop_id = d.shop_id AND t.doc_id = d.doc_id",
                )
                .bind(replaced.iter().map(|c| c.0.as_str()).collect::<Vec<_>>())
                .bind(replaced.iter().map(|c| c.1.as_str()).collect::<Vec<_>>())
                .bind(replaced.iter().map(|c| c.2.as_str()).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await?;
            }
            let written: std::collections::HashSet<(&str, &str, &str)> = changed
                .iter()
                .map(|c| (c.0.as_str(), c.1.as_str(), c.2.as_str()))
                .collect();
            let (mut t_indexes, mut t_shops, mut t_terms, mut t_ids) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for d in chunk {
                let key = (d.index.as_str(), d.shop_id.as_str(), d.doc_id.as_str());
                if !written.contains(&key) {
                    continue;
                }
                for t in &d.terms {
                    t_indexes.push(key.0);
                    t_shops.push(key.1);
                    t_terms.push(t.as_str());
                    t_ids.push(key.2);
                }
            }
            if !t_indexes.is_empty() {
                sqlx::query(
                    "INSERT INTO document_terms (index_name, shop_id, term, doc_id) \
                     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&t_indexes)
                .bind(&t_shops)
                .bind(&t_terms)
                .bind(&t_ids)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn load_documents(
        &self,
        index: &str,
        shop_id: &str,
        doc_ids: &[String],
    ) -> Result<Vec<Document>, StoreError> {
        // Planned for its own ids each time (an unnamed statement): a cached
        // generic plan cannot see how few ids there are and, without
        // statistics, walked the shop's whole index by start time to filter
        // them (4-28 ms for one id in a shop of 5,000 conversations, against
        // 0.05 ms by the key).
        let rows = sqlx::query(&format!(
            "SELECT {} FROM documents WHERE index_name = $1 AND shop_id = $2 \
             AND doc_id = ANY($3)",
            documents::COLUMNS
        ))
        .persistent(false)
        .bind(index)
        .bind(shop_id)
        .bind(doc_ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(documents::decode).collect()
    }

    async fn documents_with_term(
        &self,
        index: &str,
        shop_id: &str,
        term: &str,
    ) -> Result<Vec<Document>, StoreError> {
        // Two probes rather than a join: a fresh table has no statistics,
        // and a planner that guesses may walk the whole shop instead.
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT doc_id FROM document_terms WHERE index_name = $1 AND shop_id = $2 AND term = $3",
        )
        .bind(index)
        .bind(shop_id)
        .bind(term)
        .fetch_all(&self.pool)
        .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.load_documents(index, shop_id, &ids).await
    }

    async fn term_postings(
        &self,
        index: &str,
        shop_id: &str,
        term: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT doc_id FROM document_terms WHERE index_name = $1 AND shop_id = $2 \
             AND term = $3 ORDER BY doc_id LIMIT $4",
        )
        .bind(index)
        .bind(shop_id)
        .bind(term)
        .bind(limit.max(0))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn search_documents(&self, query: &DocumentQuery) -> Result<Vec<Document>, StoreError> {
        if let Some(ids) = &query.ids {
            let found = self
                .load_documents(&query.index, &query.shop_id, ids)
                .await?;
            return Ok(documents::page_among(query, found));
        }
        let (sql, binds) = documents::search_sql(query, &DIALECT);
        let rows = documents::bound(&sql, binds).fetch_all(&self.pool).await?;
        rows.iter().map(documents::decode).collect()
    }

    async fn delete_documents(&self, index: &str) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(documents::DELETE_TERMS)
            .bind(index)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query(documents::DELETE_DOCUMENTS)
            .bind(index)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn try_lease(&self, name: &str) -> Result<Option<Box<dyn Lease>>, StoreError> {
        // A session-level advisory lock on a connection of its own, taken out
        // of the pool: it is released when the connection closes, whether
        // the lease is dropped or the process dies.
        // Its session, as every session of the store, is ended by the
        // server soon after its machine vanishes (`SESSION_SETTINGS`).
        let mut conn = self.pool.acquire().await?.detach();
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(crate::lease_key(name))
            .fetch_one(&mut conn)
            .await?;
        Ok(taken.then(|| {
            Box::new(PgLease {
                name: name.to_owned(),
                conn,
            }) as Box<dyn Lease>
        }))
    }

    async fn leases_held(&self, names: &[String]) -> Result<Vec<bool>, StoreError> {
        let keys: Vec<i64> = names.iter().map(|n| crate::lease_key(n)).collect();
        Ok(sqlx::query_scalar(LEASES_HELD)
            .bind(&keys)
            .fetch_all(&self.pool)
            .await?)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// `pg_locks` shows a bigint advisory key as two unsigned halves: the high
/// 32 bits in `classid`, the low in `objid`, with `objsubid` 1.
const LEASES_HELD: &str = "\
    SELECT EXISTS (\
        SELECT 1 FROM pg_locks l \
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
          AND l.classid::bigint = (k.key >> 32) & 4294967295 \
          AND l.objid::bigint = k.key & 4294967295) \
    FROM unnest($1::bigint[]) WITH ORDINALITY AS k(key, n) ORDER BY k.n";

async fn append_one(
    conn: &mut sqlx::PgConnection,
    head_watch: &watch::Sender<i64>,
    append: Append,
) -> Result<Appended, AppendError> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(APPEND_LOCK)
        .execute(&mut *tx)
        .await?;
    if let Some(inbox) = &append.inbox {
        let marked = sqlx::query(
            "INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ($1, $2, now()) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&inbox.consumer)
        .bind(inbox.event_id)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() == 0 {
            return Err(AppendError::AlreadyProcessed);
        }
    }
    let actual: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(stream_version), 0) FROM events WHERE stream_id = $1",
    )
    .bind(&append.stream_id)
    .fetch_one(&mut *tx)
    .await?;
    if let Err(conflict) = append.expected.check(&append.stream_id, actual) {
        drop(tx);
        return match already_written(conn, &append).await? {
            Some(written) => Ok(written),
            None => Err(conflict),
        };
    }
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
        .fetch_one(&mut *tx)
        .await?;
    let n = append.events.len() as i64;
    let mut rows = Rows::default();
    rows.push(&append.stream_id, &append.events, actual, head);
    if let Err(e) = rows.insert(&mut tx).await {
        drop(tx);
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                if let Some(written) = already_written(conn, &append).await? {
                    return Ok(written);
                }
            }
        }
        return Err(unique_violation_to_conflict(e, &append, actual));
    }
    tx.commit().await?;
    let last = head + n;
    crate::model::advance_head(head_watch, last);
    Ok(Appended {
        stream_version: actual + n,
        first_position: if n > 0 { head + 1 } else { head },
        last_position: last,
    })
}

/// The answer to `append` when its events are in the log already, written
/// by an earlier try whose answer was lost: a group whose statement
/// committed while its connection broke is appended again one by one, and
/// each append must then be answered with what was written, not refused as
/// a conflict with itself (a command would be decided again on a state
/// holding its own change, and an append at any version would meet the
/// events' unique ids).
async fn already_written(
    conn: &mut sqlx::PgConnection,
    append: &Append,
) -> Result<Option<Appended>, sqlx::Error> {
    let Some(first) = append.events.first() else {
        return Ok(None);
    };
    let written: Option<(String, i64, i64)> = sqlx::query_as(
        "SELECT stream_id, stream_version, global_position FROM events WHERE event_id = $1",
    )
    .bind(first.event_id)
    .fetch_optional(&mut *conn)
    .await?;
    let n = append.events.len() as i64;
    Ok(match written {
        // One append's events are written together, at consecutive versions
        // and positions.
        Some((stream, version, position)) if stream == append.stream_id => Some(Appended {
            stream_version: version + n - 1,
            first_position: position,
            last_position: position + n - 1,
        }),
        _ => None,
    })
}

/// What every session of the store asks the server for, and the local port
/// the server sees it on. A client whose machine vanishes (a network cut, a
/// host lost: no FIN, no RST) keeps its session, and the locks it holds,
/// until the server's keepalive gives up on it, which by default is the
/// kernel's: over two hours. Its locks are a lease's advisory lock, or the
/// append lock of a transaction it was in the middle of, behind which every
/// other replica's appends wait. The server probes a silent client as the
/// client probes the server ([`keepalive`]): after 5 s, and ends its session
/// after 3 unanswered probes 2 s apart. Set when each connection is made (not
/// as startup options, which a pooler such as PgBouncer refuses).
fn session_settings() -> String {
    format!(
        "SELECT set_config('tcp_keepalives_idle', '{}', false), \
         set_config('tcp_keepalives_interval', '{}', false), \
         set_config('tcp_keepalives_count', '{}', false), inet_client_port()",
        keepalive::IDLE.as_secs(),
        keepalive::INTERVAL.as_secs(),
        keepalive::PROBES
    )
}

/// A pool of at most `max_connections` to a server on `server_port`, whose
/// connections are watched from both ends: the session by the server
/// ([`session_settings`]), the socket by this process's kernel
/// ([`keepalive::watch`]).
fn pool_options(max_connections: u32, server_port: u16) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(std::time::Duration::from_secs(10))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                let row = sqlx::query(&session_settings()).fetch_one(conn).await?;
                // NULL over a Unix socket, which has no network to go silent.
                if let Some(local) = row.try_get::<Option<i32>, _>(3)? {
                    let watched = u16::try_from(local)
                        .map_err(std::io::Error::other)
                        .and_then(|local| keepalive::watch(local, server_port));
                    match watched {
                        Ok(keepalive::Watched::Exact) => {}
                        Ok(keepalive::Watched::ToThePort(set)) => tracing::debug!(
                            local,
                            server_port,
                            set,
                            "no socket of this process has the store connection's ports \
                             (a pooler or NAT in between): the sockets to the server's \
                             port that were not probed yet are"
                        ),
                        Err(e) => tracing::warn!(
                            error = %e,
                            "the store connection's socket could not be set to probe a \
                             silent server: only the server probes it"
                        ),
                    }
                }
                Ok(())
            })
        })
}

/// Starts the store's one writer on a thread of its own, with its own
/// connections. Every append waits for the writer's round trips, one group
/// at a time (decision 0001); on the service's runtime each of the writer's
/// wake-ups queued behind whatever the workers were doing (32 clients'
/// questions being matched), and that wait was paid by every append behind
/// it. Its thread ends when the last handle to the store is dropped.
fn spawn_writer(
    pool: &PgPool,
    head: Arc<watch::Sender<i64>>,
    requests: mpsc::Receiver<Pending>,
) -> Result<(), StoreError> {
    // One connection: the writer never holds one while it asks for another.
    let options = (*pool.connect_options()).clone();
    let own = pool_options(1, options.get_port()).connect_lazy_with(options);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Config(format!("the append writer's runtime: {e}")))?;
    std::thread::Builder::new()
        .name("sd-append-writer".into())
        .spawn(move || runtime.block_on(group_commit(own, head, requests)))
        .map_err(|e| StoreError::Config(format!("the append writer's thread: {e}")))?;
    Ok(())
}

/// How long the writer waits for the database to answer one append or
/// one group. Its round trips take milliseconds; one that has not answered
/// in this time is on a connection that went silent (a network cut of that
/// one connection: the writer has sent its query and waits), or waits for
/// the append lock that another replica holds; every append of the process
/// queues behind it. The connection is closed, and the appends are answered
/// as the one-by-one path answers them, on a new one. (The kernel gives a
/// silent connection up a little later, [`keepalive::GIVE_UP`].)
const ROUND_TRIP: std::time::Duration = std::time::Duration::from_secs(10);

fn silent() -> StoreError {
    StoreError::Unavailable(format!(
        "the database did not answer the append writer within {ROUND_TRIP:?}"
    ))
}

/// The single writer of this store: takes every append waiting and commits
/// them in one transaction under the append lock (group commit), so the
/// serialised writer costs one commit per group rather than per command.
/// Appends with an inbox mark go alone (their effect depends on the mark).
/// An append whose caller has gone (its request cancelled, its deadline
/// passed) is not made.
async fn group_commit(
    pool: PgPool,
    head: Arc<watch::Sender<i64>>,
    mut requests: mpsc::Receiver<Pending>,
) {
    while let Some(first) = requests.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match requests.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        let (alone, group): (Vec<Pending>, Vec<Pending>) = group
            .into_iter()
            .filter(|p| !p.reply.is_closed())
            .partition(|p| p.append.inbox.is_some() || p.append.events.is_empty());
        for p in alone {
            let result = append_alone(&pool, &head, p.append).await;
            let _ = p.reply.send(result);
        }
        if group.is_empty() {
            continue;
        }
        let mut conn = match pool.acquire().await {
            Ok(conn) => conn,
            Err(e) => {
                // Nothing was sent: every append of the group gets the error.
                let e = StoreError::from(e);
                tracing::warn!(error = %e, "no connection for the append writer");
                for p in group {
                    let _ = p.reply.send(Err(AppendError::Store(e.shared())));
                }
                continue;
            }
        };
        let outcome = within_round_trip(&mut conn, async |c| append_group(c, &group).await)
            .await
            .map_or_else(|| Err(silent()), |o| o.map_err(StoreError::from));
        drop(conn);
        match outcome {
            Ok((results, last)) => {
                crate::model::advance_head(&head, last);
                for (p, r) in group.into_iter().zip(results) {
                    let _ = p.reply.send(r);
                }
            }
            Err(e) => {
                // One append the function refused (a writer outside this
                // store's lock), or a connection broken or silent with the
                // group's statement sent: it may have committed with only
                // its answer lost. One by one, each append is answered with
                // what was written if it was (`already_written`).
                tracing::warn!(error = %e, "group commit failed; appending one by one");
                for p in group.into_iter().filter(|p| !p.reply.is_closed()) {
                    let result = append_alone(&pool, &head, p.append).await;
                    let _ = p.reply.send(result);
                }
            }
        }
    }
}

/// One append in a transaction of its own, on a connection of the
/// writer's pool, within [`ROUND_TRIP`].
async fn append_alone(
    pool: &PgPool,
    head: &watch::Sender<i64>,
    append: Append,
) -> Result<Appended, AppendError> {
    let mut conn = pool.acquire().await?;
    within_round_trip(&mut conn, async |c| append_one(c, head, append).await)
        .await
        .unwrap_or_else(|| Err(AppendError::Store(silent())))
}

/// `round_trip` on `conn`, or None when the database has not answered it
/// within [`ROUND_TRIP`]; the connection is then closed when it is dropped,
/// not handed back to the pool in the middle of a query.
async fn within_round_trip<T>(
    conn: &mut sqlx::pool::PoolConnection<sqlx::Postgres>,
    round_trip: impl AsyncFnOnce(&mut sqlx::PgConnection) -> T,
) -> Option<T> {
    let answered = tokio::time::timeout(ROUND_TRIP, round_trip(conn))
        .await
        .ok();
    if answered.is_none() {
        conn.close_on_drop();
    }
    answered
}

/// Many appends in one round trip: `sellerdesk_append_group` (migration 0002)
/// takes the append lock, checks each append against its stream's version as
/// left by the appends before it in the group, and inserts the events of
/// those that pass, all in the implicit transaction of one statement. One
/// statement instead of six matters because the writer is serialised: each
/// round trip it waits on (and each wake-up on a busy runtime) is paid by
/// every append queued behind it.
async fn append_group(
    conn: &mut sqlx::PgConnection,
    group: &[Pending],
) -> Result<(Vec<Result<Appended, AppendError>>, i64), sqlx::Error> {
    let mut call = GroupCall::default();
    for (i, p) in group.iter().enumerate() {
        call.push(i as i32 + 1, &p.append);
    }
    let query = sqlx::query(
        "SELECT append_index, actual_version, first_position FROM sellerdesk_append_group(\
         $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(APPEND_LOCK)
    .bind(&call.streams)
    .bind(&call.expected)
    .bind(&call.counts)
    .bind(&call.append_of)
    .bind(&call.offsets);
    let rows = call.columns.bind(query).fetch_all(&mut *conn).await?;
    let mut results: Vec<Option<Result<Appended, AppendError>>> =
        std::iter::repeat_with(|| None).take(group.len()).collect();
    let mut head = 0;
    for row in &rows {
        let (index, actual, first): (i32, i64, Option<i64>) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let Some(p) = usize::try_from(index - 1).ok().and_then(|i| group.get(i)) else {
            return Err(sqlx::Error::Protocol(format!(
                "append function answered for append {index} of {}",
                group.len()
            )));
        };
        let a = &p.append;
        let n = a.events.len() as i64;
        results[index as usize - 1] = Some(match first {
            Some(first) => {
                head = head.max(first + n - 1);
                Ok(Appended {
                    stream_version: actual + n,
                    first_position: first,
                    last_position: first + n - 1,
                })
            }
            None => Err(AppendError::Conflict {
                stream_id: a.stream_id.clone(),
                expected: a.expected,
                actual,
            }),
        });
    }
    let results = results
        .into_iter()
        .map(|r| r.ok_or_else(|| sqlx::Error::Protocol("append function skipped an append".into())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((results, head))
}

/// The arguments of one `sellerdesk_append_group` call.
#[derive(Default)]
struct GroupCall<'a> {
    streams: Vec<&'a str>,
    expected: Vec<i64>,
    counts: Vec<i32>,
    append_of: Vec<i32>,
    offsets: Vec<i32>,
    columns: EventColumns<'a>,
}

impl<'a> GroupCall<'a> {
    fn push(&mut self, index: i32, append: &'a Append) {
        self.streams.push(&append.stream_id);
        self.expected.push(match append.expected {
            crate::ExpectedVersion::Any => -1,
            crate::ExpectedVersion::NoStream => 0,
            // No stream is at a negative version; -1 would read as `Any`.
            crate::ExpectedVersion::Exact(v) if v < 0 => -2,
            crate::ExpectedVersion::Exact(v) => v,
        });
        self.counts.push(append.events.len() as i32);
        for (k, e) in append.events.iter().enumerate() {
            self.append_of.push(index);
            self.offsets.push(k as i32);
            self.columns.push(e);
        }
    }
}

/// The per-event column arrays both append statements take, bound in this
/// order after their own arguments.
#[derive(Default)]
struct EventColumns<'a> {
    ids: Vec<Uuid>,
    types: Vec<&'a str>,
    schemas: Vec<i32>,
    shops: Vec<&'a str>,
    occurred: Vec<chrono::DateTime<chrono::Utc>>,
    correlations: Vec<Option<Uuid>>,
    causations: Vec<Option<Uuid>>,
    actors: Vec<Option<&'a str>>,
    traces: Vec<Option<&'a str>>,
    payloads: Vec<&'a str>,
}

impl<'a> EventColumns<'a> {
    fn push(&mut self, e: &'a crate::NewEvent) {
        self.ids.push(e.event_id);
        self.types.push(&e.event_type);
        self.schemas.push(e.schema_version);
        self.shops.push(&e.shop_id);
        self.occurred.push(e.occurred_at);
        self.correlations.push(e.metadata.correlation_id);
        self.causations.push(e.metadata.causation_id);
        self.actors.push(e.metadata.actor.as_deref());
        self.traces.push(e.metadata.traceparent.as_deref());
        self.payloads.push(&e.payload);
    }

    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.ids)
            .bind(&self.types)
            .bind(&self.schemas)
            .bind(&self.shops)
            .bind(&self.occurred)
            .bind(&self.correlations)
            .bind(&self.causations)
            .bind(&self.actors)
            .bind(&self.traces)
            .bind(&self.payloads)
    }
}

/// Column arrays for one UNNEST insert.
#[derive(Default)]
struct Rows<'a> {
    positions: Vec<i64>,
    streams: Vec<&'a str>,
    versions: Vec<i64>,
    columns: EventColumns<'a>,
}

impl<'a> Rows<'a> {
    fn push(
        &mut self,
        stream_id: &'a str,
        events: &'a [crate::NewEvent],
        version: i64,
        position: i64,
    ) {
        for (i, e) in events.iter().enumerate() {
            self.positions.push(position + 1 + i as i64);
            self.streams.push(stream_id);
            self.versions.push(version + 1 + i as i64);
            self.columns.push(e);
        }
    }

    async fn insert(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ) -> Result<(), sqlx::Error> {
        if self.positions.is_empty() {
            return Ok(());
        }
        let query = sqlx::query(
            "INSERT INTO events (global_position, stream_id, stream_version, event_id, event_type, \
             schema_version, shop_id, occurred_at, recorded_at, correlation_id, causation_id, actor, \
             traceparent, payload) \
             SELECT p, st, v, id, t, s, shop, o, now(), c, ca, a, tp, pl::json FROM UNNEST(\
             $1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::int[], $7::text[], \
             $8::timestamptz[], $9::uuid[], $10::uuid[], $11::text[], $12::text[], $13::text[]) \
             AS x(p, st, v, id, t, s, shop, o, c, ca, a, tp, pl)",
        )
        .bind(&self.positions)
        .bind(&self.streams)
        .bind(&self.versions);
        self.columns.bind(query).execute(&mut **tx).await?;
        Ok(())
    }
}

fn decode_snapshot(row: &sqlx::postgres::PgRow) -> Result<Snapshot, StoreError> {
    let key: String = row.try_get(0)?;
    let body = snapshot_body::unpack(&key, row.try_get(3)?, row.try_get(4)?)?;
    Ok(Snapshot {
        key,
        version: row.try_get(1)?,
        position: row.try_get(2)?,
        body,
    })
}

/// Appends are serialised, so a unique violation on (stream_id, stream_version)
/// can only come from a writer outside this store's lock; it is still a conflict.
fn unique_violation_to_conflict(e: sqlx::Error, append: &Append, actual: i64) -> AppendError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => AppendError::Conflict {
            stream_id: append.stream_id.clone(),
            expected: append.expected,
            actual,
        },
        _ => AppendError::from(e),
    }
}

/// An advisory lock held by its own session.
struct PgLease {
    name: String,
    conn: sqlx::PgConnection,
}

impl std::fmt::Debug for PgLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLease").field("name", &self.name).finish()
    }
}

#[async_trait]
impl Lease for PgLease {
    async fn held(&mut self) -> bool {
        let probe = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&mut self.conn);
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(2), probe).await,
            Ok(Ok(1))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{new_event_id, ExpectedVersion, NewEvent};
    use std::time::Duration;

    fn event(n: i64) -> NewEvent {
        NewEvent {
            event_id: new_event_id(),
            event_type: "ThingHappened".into(),
            schema_version: 1,
            shop_id: "s1".into(),
            occurred_at: chrono::DateTime::from_timestamp(1_700_000_000 + n, 0).unwrap(),
            metadata: Metadata::default(),
            payload: format!(r#"{{"n":{n}}}"#),
        }
    }

    /// The connection from local port `client` to the server of `url` made
    /// silent, as a network cut makes it (None where this machine cannot,
    /// outside CI).
    fn silence(url: &str, client: i32) -> Option<sellerdesk_testkit::Silenced> {
        let server: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
        let client = u16::try_from(client).expect("a TCP connection to the server");
        sellerdesk_testkit::silenced_or_skip(server.get_port(), client)
    }

    /// A replica whose machine vanished in the middle of an append (a
    /// network cut: no FIN, no RST) held the append lock until the server's
    /// keepalive gave up on its session, over two hours by default, and
    /// every other replica's appends waited behind it. The store's sessions
    /// ask to be probed after 5 s of silence: another store's append goes
    /// through in seconds (16 measured; the bound here is 30 s, under the minute in
    /// which the silenced queue lets one packet through).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_append_lock_of_a_vanished_replica_is_freed_in_seconds() {
        let url = sellerdesk_testkit::fresh_postgres_url().await;
        let vanishing = PgEventStore::connect(&url).await.unwrap();
        let mut tx = vanishing.pool().begin().await.unwrap();
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK)
            .execute(&mut *tx)
            .await
            .unwrap();
        let client: i32 = sqlx::query_scalar("SELECT inet_client_port()")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let Some(_cut) = silence(&url, client) else {
            return;
        };
        let other = PgEventStore::connect(&url).await.unwrap();
        // Tried again as a client does while the writer answers UNAVAILABLE
        // (each of its round trips waits 10 s at most); the same events,
        // so a try whose answer was lost is not appended twice.
        let append = Append::new("s-after-cut", ExpectedVersion::Any, vec![event(1)]);
        let started = std::time::Instant::now();
        let deadline = started + Duration::from_secs(30);
        let appended = loop {
            let tried =
                tokio::time::timeout_at(deadline.into(), other.append(append.clone())).await;
            match tried {
                Ok(Err(AppendError::Store(e))) if crate::unavailable(&e) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                tried => break tried,
            }
        };
        assert!(
            matches!(appended, Ok(Ok(_))),
            "the append lock is still held after 30 s: {appended:?}"
        );
        eprintln!("appended {:?} after the cut", started.elapsed());
        assert_eq!(
            other.read_stream("s-after-cut", 0, 10).await.unwrap().len(),
            1
        );
        // Its session is gone: the transaction is not rolled back over it.
        std::mem::forget(tx);
    }

    /// The append writer's connection silenced after it sent a group (a
    /// network cut of that one connection: neither end notices for many
    /// minutes, and the writer had nothing unacknowledged to retry) held
    /// every later append of the process behind it. The writer gives a
    /// round trip 10 s, then closes the connection and appends the group
    /// one by one on a new one: the append is answered, once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_go_on_when_the_writers_connection_goes_silent() {
        let url = sellerdesk_testkit::fresh_postgres_url().await;
        let store = PgEventStore::connect(&url).await.unwrap();
        let mut n = 0;
        let mut append = |stream: &str| {
            n += 1;
            Append::new(stream, ExpectedVersion::Any, vec![event(n)])
        };
        store.append(append("s-before")).await.unwrap();
        let writer: i32 = sqlx::query_scalar(
            "SELECT client_port FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE '%sellerdesk_append_group%' \
               AND pid <> pg_backend_pid()",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        let Some(_cut) = silence(&url, writer) else {
            return;
        };
        let started = std::time::Instant::now();
        let appended =
            tokio::time::timeout(Duration::from_secs(30), store.append(append("s-after"))).await;
        assert!(
            matches!(appended, Ok(Ok(_))),
            "no append went through in 30 s: {appended:?}"
        );
        eprintln!("appended {:?} after the cut", started.elapsed());
        let after = store.read_stream("s-after", 0, 10).await.unwrap();
        assert_eq!(after.len(), 1, "the append is written once");
    }

    /// A pooled connection silenced (a network cut of that one connection)
    /// held every read that got it until the read's deadline, and then
    /// stayed in the pool's count until the network came back: the pool
    /// checks a returned connection with a query, which waited too. The
    /// store's sockets are probed by the kernel after 5 s of silence and
    /// given up after 11 s, so a read on such a connection is answered
    /// UNAVAILABLE (or on a new connection) in seconds, and the next read
    /// finds a new connection.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_go_on_when_a_pooled_connection_goes_silent() {
        let url = sellerdesk_testkit::fresh_postgres_url().await;
        let store = PgEventStore::connect_with(&url, 1).await.unwrap();
        let append = Append::new("s-read", ExpectedVersion::Any, vec![event(1)]);
        store.append(append).await.unwrap();
        let client: i32 = sqlx::query_scalar("SELECT inet_client_port()")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let Some(cut) = silence(&url, client) else {
            return;
        };
        reads_go_on(&store, cut).await;
    }

    /// A read of the one event of "s-read" on `store`, some of whose
    /// connections `cut` made silent, is answered (or refused as
    /// UNAVAILABLE) in seconds, not after the request's 30 s; the next read
    /// finds a new connection, which the cut leaves alone.
    async fn reads_go_on(store: &PgEventStore, cut: sellerdesk_testkit::Silenced) {
        let started = std::time::Instant::now();
        let read = store.read_stream("s-read", 0, 10);
        match tokio::time::timeout(Duration::from_secs(30), read).await {
            Ok(Ok(events)) => assert_eq!(events.len(), 1),
            Ok(Err(e)) => assert!(crate::unavailable(&e), "{e}"),
            Err(_) => panic!("a read on a silenced connection waited 30 s"),
        }
        eprintln!(
            "the first read after the cut answered in {:?}",
            started.elapsed()
        );
        let next = store.read_stream("s-read", 0, 10);
        let next = tokio::time::timeout(Duration::from_secs(30), next)
            .await
            .expect("the next read waited 30 s")
            .expect("the next read, on a new connection");
        assert_eq!(next.len(), 1);
        drop(cut);
    }

    /// The same behind a pooler (here a plain TCP relay in front of the
    /// server): the server reports the relay's port, which no socket of
    /// this process has, so the store probes its sockets to the relay's
    /// port instead. With every connection to the relay silent, a read is
    /// answered within seconds, not after the request's 30 s, and the next
    /// one goes through a new connection.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_go_on_when_the_connections_to_a_pooler_go_silent() {
        let url = sellerdesk_testkit::fresh_postgres_url().await;
        let relay = sellerdesk_testkit::PgGate::new(&url, sellerdesk_testkit::Gate::Open).await;
        let store = PgEventStore::connect_with(relay.url(), 1).await.unwrap();
        let append = Append::new("s-read", ExpectedVersion::Any, vec![event(1)]);
        store.append(append).await.unwrap();
        let relay_port: sqlx::postgres::PgConnectOptions = relay.url().parse().unwrap();
        let Some(cut) = sellerdesk_testkit::all_to_silenced_or_skip(relay_port.get_port()) else {
            return;
        };
        reads_go_on(&store, cut).await;
    }

    /// The writer's one-by-one path after a failed group: an append at an
    /// exact version whose events the group did write is answered with
    /// them, so its command is not decided again on a state holding its own
    /// change; another append at that version is still a conflict.
    #[tokio::test]
    async fn an_append_whose_events_are_written_is_answered_with_them() {
        let store = PgEventStore::connect(&sellerdesk_testkit::fresh_postgres_url().await)
            .await
            .unwrap();
        let append = Append::new(
            "s-exact",
            ExpectedVersion::NoStream,
            vec![event(1), event(2)],
        );
        let written = store.append(append.clone()).await.unwrap();
        let head = watch::channel(0).0;
        let mut conn = store.pool().acquire().await.unwrap();
        let again = append_one(&mut conn, &head, append).await.unwrap();
        assert_eq!(again, written);
        let other = Append::new("s-exact", ExpectedVersion::NoStream, vec![event(3)]);
        assert!(matches!(
            append_one(&mut conn, &head, other).await,
            Err(AppendError::Conflict { actual: 2, .. })
        ));
    }
}
