use crate::{
    documents,
    model::{in_log_order, Repeated},
    snapshot_body::{self, ByPrefix},
    Append, AppendError, Appended, Document, DocumentQuery, EventStore, Lease, Metadata,
    RecordedEvent, ReplayedEvent, Snapshot, StoreError,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    QueryBuilder, Row, Sqlite, SqlitePool,
};
use std::{str::FromStr, sync::Arc, time::Duration};
use tokio::sync::watch;
use uuid::Uuid;

/// Rows per INSERT statement: 14 parameters a row stays under SQLite's limit.
const ROWS_PER_STATEMENT: usize = 500;

/// The embedded event store: one SQLite file per service.
///
/// All writes go through a single connection, which is what makes the global
/// order gap-safe here: positions are assigned and committed one writer at a time.
#[derive(Debug, Clone)]
pub struct SqliteEventStore {
    writer: SqlitePool,
    reader: SqlitePool,
    head: Arc<watch::Sender<i64>>,
    leases: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

/// How SQLite spells what differs between the engines (its key index sorts
/// bytes already).
const DIALECT: documents::Dialect = documents::Dialect {
    placeholder: |n| format!("?{n}"),
    find: "instr",
    key_bytes: "key",
};

impl SqliteEventStore {
    /// `sqlite://path/to/file.db` (created if missing) or `sqlite::memory:`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL survives a process crash; a power cut may lose the last
            // commits, which the embedded mode accepts (production is PostgreSQL).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let memory = url.contains(":memory:");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        let reader = if memory {
            // An in-memory database exists only on its own connection.
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.read_only(true))
                .await?
        };
        let mut migrator = sqlx::migrate!("migrations/sqlite");
        migrator.set_ignore_missing(true);
        migrator.run(&writer).await?;
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_one(&writer)
            .await?;
        Ok(Self {
            writer,
            reader,
            head: Arc::new(watch::channel(head).0),
            leases: Arc::default(),
        })
    }

    /// The single-writer pool, for a service's own read-model migrations.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }
}

/// Reads return a whole page as one JSON row: sqlx hands each SQLite row to
/// the async side separately (~4 us a row), while SQLite builds the page in
/// C at millions of rows a second. The order is explicit in the aggregate.
/// A page as one JSON array built inside SQLite: one value crosses from the
/// connection's worker thread instead of a message per row. No ORDER BY in
/// the aggregate (it made SQLite sort through a temporary b-tree); the
/// subquery scans in order and [`decode_page`] checks it.
///
/// The payloads come apart, joined by U+001E, which JSON text cannot hold
/// unescaped. Inside the JSON page SQLite had to escape each payload (and the
/// reader to unescape it), or with `json(payload)` parse and re-render it:
/// 14% of a replay's instructions. Both aggregates see the rows in the same
/// order.
const PAGE: &str =
    "SELECT json_group_array(json_array(global_position, stream_id, stream_version, \
     hex(event_id), event_type, schema_version, shop_id, occurred_at, recorded_at, \
     hex(correlation_id), hex(causation_id), actor, traceparent)), \
     group_concat(payload, char(30)) FROM (SELECT * FROM events WHERE ";

/// The payloads of a page, in row order (see [`PAGE`]).
struct Payloads<'a>(Option<std::str::Split<'a, char>>);

impl<'a> Payloads<'a> {
    fn new(joined: Option<&'a str>) -> Self {
        Self(joined.map(|p| p.split('\u{1e}')))
    }

    fn next(&mut self) -> Result<&'a str, StoreError> {
        self.0
            .as_mut()
            .and_then(Iterator::next)
            .ok_or_else(|| StoreError::Corrupt("page: fewer payloads than rows".into()))
    }

    fn finish(mut self) -> Result<(), StoreError> {
        match self.0.as_mut().and_then(Iterator::next) {
            // Only a payload that is not JSON text could hold the separator.
            Some(_) => Err(StoreError::Corrupt(
                "page: more payloads than rows (a payload holds U+001E)".into(),
            )),
            None => Ok(()),
        }
    }
}

type PageRow = (
    i64,
    String,
    i64,
    String,
    String,
    i32,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn uuid_hex(s: &str) -> Result<Uuid, StoreError> {
    Uuid::try_parse(s).map_err(|e| StoreError::Corrupt(format!("uuid {s:?}: {e}")))
}

/// [`PAGE`] without the metadata (see [`ReplayedEvent`]).
const REPLAY_PAGE: &str =
    "SELECT json_group_array(json_array(global_position, stream_id, stream_version, event_type, \
     schema_version, occurred_at)), group_concat(payload, char(30)) \
     FROM (SELECT * FROM events WHERE ";

#[derive(serde::Deserialize)]
struct ReplayRow<'a>(
    i64,
    #[serde(borrow)] std::borrow::Cow<'a, str>,
    i64,
    #[serde(borrow)] std::borrow::Cow<'a, str>,
    i32,
    i64,
);

fn decode_replay_page(
    page: &str,
    payloads: Option<&str>,
) -> Result<Vec<ReplayedEvent>, StoreError> {
    let rows: Vec<ReplayRow> =
        serde_json::from_str(page).map_err(|e| StoreError::Corrupt(format!("page: {e}")))?;
    let mut payloads = Payloads::new(payloads);
    let (mut streams, mut types) = (Repeated::default(), Repeated::default());
    let mut events = Vec::with_capacity(rows.len());
    for r in rows {
        events.push(ReplayedEvent {
            global_position: r.0,
            stream_id: streams.share(&r.1),
            stream_version: r.2,
            event_type: types.share(&r.3),
            schema_version: r.4,
            occurred_at: instant(r.5)?,
            payload: payloads.next()?.to_owned(),
        });
    }
    payloads.finish()?;
    Ok(in_log_order(events))
}

fn decode_page(page: &str, payloads: Option<&str>) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows: Vec<PageRow> =
        serde_json::from_str(page).map_err(|e| StoreError::Corrupt(format!("page: {e}")))?;
    let mut payloads = Payloads::new(payloads);
    let mut events = Vec::with_capacity(rows.len());
    for r in rows {
        events.push(RecordedEvent {
            global_position: r.0,
            stream_id: r.1,
            stream_version: r.2,
            event_id: uuid_hex(&r.3)?,
            event_type: r.4,
            schema_version: r.5,
            shop_id: r.6,
            occurred_at: instant(r.7)?,
            recorded_at: instant(r.8)?,
            metadata: Metadata {
                // hex(NULL) is '' in SQLite.
                correlation_id: r
                    .9
                    .as_deref()
                    .filter(|h| !h.is_empty())
                    .map(uuid_hex)
                    .transpose()?,
                causation_id: r
                    .10
                    .as_deref()
                    .filter(|h| !h.is_empty())
                    .map(uuid_hex)
                    .transpose()?,
                actor: r.11,
                traceparent: r.12,
            },
            payload: payloads.next()?.to_owned(),
        });
    }
    payloads.finish()?;
    // Both page queries order by a key that rises with the global position.
    Ok(in_log_order(events))
}

/// Positions `from < p <= to` through one of the page queries and its decoder.
async fn read_range<T>(
    reader: SqlitePool,
    page_query: &'static str,
    from: i64,
    to: i64,
    decode: fn(&str, Option<&str>) -> Result<Vec<T>, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let sql = format!(
        "{page_query}global_position > ?1 AND global_position <= ?2 ORDER BY global_position)"
    );
    let (page, payloads): (String, Option<String>) = sqlx::query_as(&sql)
        .bind(from)
        .bind(to)
        .fetch_one(&reader)
        .await?;
    decode(&page, payloads.as_deref())
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn instant(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("instant out of range: {us}")))
}

impl SqliteEventStore {
    async fn append_unmetered(&self, append: Append) -> Result<Appended, AppendError> {
        // PostgreSQL's json column refuses what is not JSON text; here what a
        // page could not read back is refused (see [`PAGE`]): a separator
        // inside a payload, or an empty payload, which `group_concat` may
        // join without one.
        if let Some(e) = append
            .events
            .iter()
            .find(|e| e.payload.is_empty() || e.payload.contains('\u{1e}'))
        {
            return Err(StoreError::PayloadNotJson(e.event_id).into());
        }
        let mut tx = self.writer.begin().await?;
        if let Some(inbox) = &append.inbox {
            let marked = sqlx::query(
                "INSERT INTO processed_events (consumer, event_id, processed_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&inbox.consumer)
            .bind(inbox.event_id)
            .bind(micros(Utc::now()))
            .execute(&mut *tx)
            .await?;
            if marked.rows_affected() == 0 {
                return Err(AppendError::AlreadyProcessed);
            }
        }
        let actual: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(stream_version), 0) FROM events WHERE stream_id = ?1",
        )
        .bind(&append.stream_id)
        .fetch_one(&mut *tx)
        .await?;
        append.expected.check(&append.stream_id, actual)?;
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_one(&mut *tx)
            .await?;
        let recorded_at = micros(Utc::now());
        for (chunk_index, chunk) in append.events.chunks(ROWS_PER_STATEMENT).enumerate() {
            let offset = (chunk_index * ROWS_PER_STATEMENT) as i64;
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO events (global_position, stream_id, stream_version, event_id, event_type, \
                 schema_version, shop_id, occurred_at, recorded_at, correlation_id, causation_id, actor, traceparent, payload) ",
            );
            q.push_values(chunk.iter().enumerate(), |mut b, (i, e)| {
                let n = offset + i as i64 + 1;
                b.push_bind(head + n)
                    .push_bind(&append.stream_id)
                    .push_bind(actual + n)
                    .push_bind(e.event_id)
                    .push_bind(&e.event_type)
                    .push_bind(e.schema_version)
                    .push_bind(&e.shop_id)
                    .push_bind(micros(e.occurred_at))
                    .push_bind(recorded_at)
                    .push_bind(e.metadata.correlation_id)
                    .push_bind(e.metadata.causation_id)
                    .push_bind(&e.metadata.actor)
                    .push_bind(&e.metadata.traceparent)
                    .push_bind(&e.payload);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let n = append.events.len() as i64;
        let last = head + n;
        crate::model::advance_head(&self.head, last);
        Ok(Appended {
            stream_version: actual + n,
            first_position: if n > 0 { head + 1 } else { head },
            last_position: last,
        })
    }
}

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn append(&self, append: Append) -> Result<Appended, AppendError> {
        crate::metrics::metered("sqlite", append.events.len(), self.append_unmetered(append)).await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "{PAGE}stream_id = ?1 AND stream_version > ?2 ORDER BY stream_version LIMIT ?3)"
        );
        let (page, payloads): (String, Option<String>) = sqlx::query_as(&sql)
            .bind(stream_id)
            .bind(after_version)
            .bind(limit)
            .fetch_one(&self.reader)
            .await?;
        decode_page(&page, payloads.as_deref())
    }

    async fn read_all(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        crate::model::read_page(after_position, limit, |from, to| {
            read_range(self.reader.clone(), PAGE, from, to, decode_page)
        })
        .await
    }

    async fn read_streams_between(
        &self,
        stream_prefix: &str,
        after_position: i64,
        up_to: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // Checked as on PostgreSQL, so a prefix that works here works there.
        let prefix = crate::model::checked_prefix(stream_prefix)?;
        let sql = format!(
            "{PAGE}global_position > ?1 AND global_position <= ?2 \
             AND substr(stream_id, 1, length(?3)) = ?3 ORDER BY global_position)"
        );
        let (page, payloads): (String, Option<String>) = sqlx::query_as(&sql)
            .bind(after_position)
            .bind(up_to)
            .bind(prefix)
            .fetch_one(&self.reader)
            .await?;
        decode_page(&page, payloads.as_deref())
    }

    async fn replay_all(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<ReplayedEvent>, StoreError> {
        crate::model::read_page(after_position, limit, |from, to| {
            read_range(
                self.reader.clone(),
                REPLAY_PAGE,
                from,
                to,
                decode_replay_page,
            )
        })
        .await
    }

    async fn head(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    fn watch_head(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    async fn load_checkpoint(&self, name: &str) -> Result<i64, StoreError> {
        let p: Option<i64> = sqlx::query_scalar("SELECT position FROM checkpoints WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        Ok(p.unwrap_or(0))
    }

    async fn save_checkpoint(&self, name: &str, position: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checkpoints (name, position) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET position = excluded.position",
        )
        .bind(name)
        .bind(position)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn is_processed(&self, consumer: &str, event_id: Uuid) -> Result<bool, StoreError> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM processed_events WHERE consumer = ?1 AND event_id = ?2",
        )
        .bind(consumer)
        .bind(event_id)
        .fetch_optional(&self.reader)
        .await?;
        Ok(found.is_some())
    }

    async fn save_snapshots(&self, snapshots: &[Snapshot]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        for chunk in snapshots.chunks(ROWS_PER_STATEMENT) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO snapshots (key, version, position, body, body_lz4) ",
            );
            q.push_values(chunk, |mut b, s| {
                let (body, compressed) = snapshot_body::pack(&s.body);
                b.push_bind(&s.key)
                    .push_bind(s.version)
                    .push_bind(s.position)
                    .push_bind(body)
                    .push_bind(compressed);
            });
            q.push(
                " ON CONFLICT (key) DO UPDATE SET version = excluded.version, \
                 position = excluded.position, body = excluded.body, body_lz4 = excluded.body_lz4",
            );
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn load_snapshot(&self, key: &str) -> Result<Option<Snapshot>, StoreError> {
        let row = sqlx::query(
            "SELECT key, version, position, body, body_lz4 FROM snapshots WHERE key = ?1",
        )
        .bind(key)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|r| decode_snapshot(&r)).transpose()?)
    }

    async fn load_snapshots(&self, key_prefix: &str) -> Result<Vec<Snapshot>, StoreError> {
        let (sql, binds) = snapshot_body::by_prefix_sql(ByPrefix::Load, &DIALECT, key_prefix);
        let rows = documents::bound(&sql, binds)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(decode_snapshot).collect::<Result<_, _>>()?)
    }

    async fn delete_snapshots(&self, key_prefix: &str) -> Result<u64, StoreError> {
        let (sql, binds) = snapshot_body::by_prefix_sql(ByPrefix::Delete, &DIALECT, key_prefix);
        let done = documents::bound(&sql, binds).execute(&self.writer).await?;
        Ok(done.rows_affected())
    }

    async fn save_documents(&self, documents: &[Document]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        for d in documents {
            let (body, compressed) = snapshot_body::pack(&d.body);
            let terms = documents::join_terms(&d.terms)?;
            // As on PostgreSQL: never replaced by an older version (a
            // projector past its lease), and term rows rewritten only when
            // the terms changed.
            let old: Option<String> = sqlx::query_scalar(
                "SELECT terms FROM documents WHERE index_name = ?1 AND shop_id = ?2 AND doc_id = ?3",
            )
            .bind(&d.index)
            .bind(&d.shop_id)
            .bind(&d.doc_id)
            .fetch_optional(&mut *tx)
            .await?;
            let written = sqlx::query(
                "INSERT INTO documents (index_name, shop_id, doc_id, starts_at, ends_at, version, \
                 terms, search_text, body, body_lz4) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                 ON CONFLICT (index_name, shop_id, doc_id) DO UPDATE SET \
                 starts_at = excluded.starts_at, ends_at = excluded.ends_at, \
                 version = excluded.version, terms = excluded.terms, \
                 search_text = excluded.search_text, body = excluded.body, \
                 body_lz4 = excluded.body_lz4 WHERE documents.version <= excluded.version",
            )
            .bind(&d.index)
            .bind(&d.shop_id)
            .bind(&d.doc_id)
            .bind(d.starts_at)
            .bind(d.ends_at)
            .bind(d.version)
            .bind(&terms)
            .bind(documents::searchable(&d.text))
            .bind(body)
            .bind(compressed)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if written == 0 || old.as_deref() == Some(terms.as_str()) {
                continue;
            }
            if old.is_some() {
                sqlx::query(
                    "DELETE FROM document_terms WHERE index_name = ?1 AND shop_id = ?2 AND doc_id = ?3",
                )
                .bind(&d.index)
                .bind(&d.shop_id)
                .bind(&d.doc_id)
                .execute(&mut *tx)
                .await?;
            }
            for term in &d.terms {
                sqlx::query(
                    "INSERT OR IGNORE INTO document_terms (index_name, shop_id, term, doc_id) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .bind(&d.index)
                .bind(&d.shop_id)
                .bind(term)
                .bind(&d.doc_id)
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
        let mut found = Vec::with_capacity(doc_ids.len());
        for id in doc_ids {
            let row = sqlx::query(&format!(
                "SELECT {} FROM documents WHERE index_name = ?1 AND shop_id = ?2 AND doc_id = ?3",
                documents::COLUMNS
            ))
            .bind(index)
            .bind(shop_id)
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
            if let Some(row) = row {
                found.push(documents::decode(&row)?);
            }
        }
        Ok(found)
    }

    async fn documents_with_term(
        &self,
        index: &str,
        shop_id: &str,
        term: &str,
    ) -> Result<Vec<Document>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM document_terms t JOIN documents d \
             ON d.index_name = t.index_name AND d.shop_id = t.shop_id AND d.doc_id = t.doc_id \
             WHERE t.index_name = ?1 AND t.shop_id = ?2 AND t.term = ?3",
            documents::COLUMNS
                .split(", ")
                .map(|c| format!("d.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(index)
        .bind(shop_id)
        .bind(term)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(documents::decode).collect()
    }

    async fn term_postings(
        &self,
        index: &str,
        shop_id: &str,
        term: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT doc_id FROM document_terms WHERE index_name = ?1 AND shop_id = ?2 \
             AND term = ?3 ORDER BY doc_id LIMIT ?4",
        )
        .bind(index)
        .bind(shop_id)
        .bind(term)
        .bind(limit.max(0))
        .fetch_all(&self.reader)
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
        let rows = documents::bound(&sql, binds)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(documents::decode).collect()
    }

    async fn delete_documents(&self, index: &str) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin().await?;
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
        // One process writes an embedded store: leases only keep two holders
        // inside it apart.
        let mut held = self.leases.lock().expect("lease lock");
        if !held.insert(name.to_owned()) {
            return Ok(None);
        }
        Ok(Some(Box::new(SqliteLease {
            name: name.to_owned(),
            held: self.leases.clone(),
        })))
    }

    async fn leases_held(&self, names: &[String]) -> Result<Vec<bool>, StoreError> {
        let held = self.leases.lock().expect("lease lock");
        Ok(names.iter().map(|n| held.contains(n)).collect())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }
}

fn decode_snapshot(row: &sqlx::sqlite::SqliteRow) -> Result<Snapshot, StoreError> {
    let key: String = row.try_get(0)?;
    let body = snapshot_body::unpack(&key, row.try_get(3)?, row.try_get(4)?)?;
    Ok(Snapshot {
        key,
        version: row.try_get(1)?,
        position: row.try_get(2)?,
        body,
    })
}

/// A lease within the one process of an embedded store.
#[derive(Debug)]
struct SqliteLease {
    name: String,
    held: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl Drop for SqliteLease {
    fn drop(&mut self) {
        self.held.lock().expect("lease lock").remove(&self.name);
    }
}

#[async_trait]
impl Lease for SqliteLease {
    async fn held(&mut self) -> bool {
        true
    }
}
