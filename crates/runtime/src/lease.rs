//! Work that must run once across replicas (the outbox relay, projectors,
//! schedulers) runs under a lease from the service's own database: the
//! replica that holds it works, the others wait and take over when its
//! session ends (a killed process frees it at once; PostgreSQL closes the
//! session with the socket).

use sellerdesk_eventstore::EventStore;
use std::{future::Future, sync::Arc, time::Duration};

/// How often a waiting replica asks for the lease, and how often the holder
/// checks it still has it: a survivor takes over within about this long.
pub const LEASE_INTERVAL: Duration = Duration::from_secs(1);

/// Runs `start()`'s work while this replica holds the lease `name`, for
/// ever: waits for the lease, works, and stops the work the moment the lease
/// is lost (then waits again). Safe to abort: the work and the lease go with it.
pub async fn run_once<F, W>(store: Arc<dyn EventStore>, name: String, start: F)
where
    F: Fn() -> W + Send,
    W: Future<Output = ()> + Send,
{
    loop {
        match store.try_lease(&name).await {
            Ok(Some(mut lease)) => {
                tracing::info!(lease = %name, "lease taken; running");
                let mut work = Box::pin(start());
                loop {
                    tokio::select! {
                        () = work.as_mut() => break,
                        () = tokio::time::sleep(LEASE_INTERVAL) => {
                            if !lease.held().await {
                                break;
                            }
                        }
                    }
                }
                // The work stops before the lease is given up.
                drop(work);
                drop(lease);
                tracing::warn!(lease = %name, "lease given up");
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(lease = %name, error = %e, "cannot ask for the lease"),
        }
        tokio::time::sleep(LEASE_INTERVAL).await;
    }
}
