//! A store that hands every call to another one, with places for a test to
//! step in: fail an append, or hold a read's answer until the test has made
//! something else happen first. Races between replicas (a read taken before
//! a write, answered after it) are made to happen in a chosen order this way
//! rather than hoped for under load, and a lease can be lost at a chosen
//! moment. Built only with the `testing` feature.

use crate::{
    Append, AppendError, Appended, Document, DocumentQuery, EventStore, Lease, RecordedEvent,
    ReplayedEvent, Snapshot, StoreError,
};
use async_trait::async_trait;
use std::sync::Arc;

/// Where a test steps in. Every method has a default that changes nothing.
#[async_trait]
pub trait Hooks: Send + Sync + std::fmt::Debug + 'static {
    /// Before an append reaches the store: an error here is the append's answer.
    async fn before_append(&self, _append: &Append) -> Result<(), AppendError> {
        Ok(())
    }

    /// After a stream was read from the store and before the reader has the
    /// answer: a test may hold it here.
    async fn after_read_stream(&self, _stream_id: &str, _read: &[RecordedEvent]) {}

    /// A lease the store granted, before its taker has it: a test may hand
    /// over one of its own that is lost when the test says, as a session
    /// ended by a restart of the database loses it.
    async fn lease_taken(&self, _name: &str, lease: Box<dyn Lease>) -> Box<dyn Lease> {
        lease
    }
}

/// `inner`, with `hooks` around its appends and stream reads.
#[derive(Debug)]
pub struct Hooked<H> {
    inner: Arc<dyn EventStore>,
    hooks: Arc<H>,
}

impl<H: Hooks> Hooked<H> {
    pub fn new(inner: Arc<dyn EventStore>, hooks: Arc<H>) -> Self {
        Self { inner, hooks }
    }
}

#[async_trait]
impl<H: Hooks> EventStore for Hooked<H> {
    async fn append(&self, append: Append) -> Result<Appended, AppendError> {
        self.hooks.before_append(&append).await?;
        self.inner.append(append).await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let read = self
            .inner
            .read_stream(stream_id, after_version, limit)
            .await?;
        self.hooks.after_read_stream(stream_id, &read).await;
        Ok(read)
    }

    async fn read_all(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after_position, limit).await
    }

    async fn read_streams_between(
        &self,
        stream_prefix: &str,
        after_position: i64,
        up_to: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner
            .read_streams_between(stream_prefix, after_position, up_to)
            .await
    }

    async fn replay_all(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<ReplayedEvent>, StoreError> {
        self.inner.replay_all(after_position, limit).await
    }

    async fn head(&self) -> Result<i64, StoreError> {
        self.inner.head().await
    }

    fn watch_head(&self) -> tokio::sync::watch::Receiver<i64> {
        self.inner.watch_head()
    }

    async fn load_checkpoint(&self, name: &str) -> Result<i64, StoreError> {
        self.inner.load_checkpoint(name).await
    }

    async fn save_checkpoint(&self, name: &str, position: i64) -> Result<(), StoreError> {
        self.inner.save_checkpoint(name, position).await
    }

    async fn is_processed(&self, consumer: &str, event_id: uuid::Uuid) -> Result<bool, StoreError> {
        self.inner.is_processed(consumer, event_id).await
    }

    async fn save_snapshots(&self, snapshots: &[Snapshot]) -> Result<(), StoreError> {
        self.inner.save_snapshots(snapshots).await
    }

    async fn load_snapshot(&self, key: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(key).await
    }

    async fn load_snapshots(&self, key_prefix: &str) -> Result<Vec<Snapshot>, StoreError> {
        self.inner.load_snapshots(key_prefix).await
    }

    async fn delete_snapshots(&self, key_prefix: &str) -> Result<u64, StoreError> {
        self.inner.delete_snapshots(key_prefix).await
    }

    async fn save_documents(&self, documents: &[Document]) -> Result<(), StoreError> {
        self.inner.save_documents(documents).await
    }

    async fn load_documents(
        &self,
        index: &str,
        shop_id: &str,
        doc_ids: &[String],
    ) -> Result<Vec<Document>, StoreError> {
        self.inner.load_documents(index, shop_id, doc_ids).await
    }

    async fn documents_with_term(
        &self,
        index: &str,
        shop_id: &str,
        term: &str,
    ) -> Result<Vec<Document>, StoreError> {
        self.inner.documents_with_term(index, shop_id, term).await
    }

    async fn term_postings(
        &self,
        index: &str,
        shop_id: &str,
        term: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.term_postings(index, shop_id, term, limit).await
    }

    async fn search_documents(&self, query: &DocumentQuery) -> Result<Vec<Document>, StoreError> {
        self.inner.search_documents(query).await
    }

    async fn delete_documents(&self, index: &str) -> Result<u64, StoreError> {
        self.inner.delete_documents(index).await
    }

    async fn try_lease(&self, name: &str) -> Result<Option<Box<dyn Lease>>, StoreError> {
        match self.inner.try_lease(name).await? {
            Some(lease) => Ok(Some(self.hooks.lease_taken(name, lease).await)),
            None => Ok(None),
        }
    }

    async fn leases_held(&self, names: &[String]) -> Result<Vec<bool>, StoreError> {
        self.inner.leases_held(names).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}
