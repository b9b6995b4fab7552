use crate::{EventStore, RecordedEvent, StoreError};
use futures::Stream;
use std::{sync::Arc, time::Duration};

/// How often a follower looks for events appended by other processes.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
const BATCH: i64 = 1000;

/// Every event after `after_position`, in global order, then each new one as it
/// commits; never ends by itself. Because the global order is gap-safe, the
/// follower sees each event exactly once.
pub fn follow(
    store: Arc<dyn EventStore>,
    after_position: i64,
) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + Send {
    let mut head = store.watch_head();
    async_stream(move |tx| async move {
        let mut position = after_position;
        loop {
            let batch = match store.read_all(position, BATCH).await {
                Ok(b) => b,
                Err(e) => {
                    if tx.send(Err(e)).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(POLL_INTERVAL).await;
                    continue;
                }
            };
            let full = batch.len() as i64 == BATCH;
            for event in batch {
                position = event.global_position;
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            if !full {
                // Woken by a local commit, or by the poll for remote writers.
                let _ = tokio::time::timeout(POLL_INTERVAL, head.changed()).await;
            }
        }
    })
}

/// A small channel-backed stream, so this crate needs no stream macro crate.
fn async_stream<T, F, Fut>(f: F) -> impl Stream<Item = T> + Send
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(f(tx));
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
