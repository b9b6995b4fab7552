//! What the store exports to Prometheus: appends by backend and outcome, and
//! how long they take (queueing for the group commit included).

use crate::{AppendError, Appended};
use sellerdesk_metrics::{Counter, Histogram, LATENCY_BUCKETS};
use std::{future::Future, sync::LazyLock};

static APPENDS: LazyLock<Counter> = LazyLock::new(|| {
    Counter::new(
        "sellerdesk_store_appends_total",
        "Appends to the event log, by backend and outcome (ok, conflict, duplicate, error).",
        &["backend", "outcome"],
    )
});

static APPENDED_EVENTS: LazyLock<Counter> = LazyLock::new(|| {
    Counter::new(
        "sellerdesk_store_appended_events_total",
        "Events written to the event log, by backend.",
        &["backend"],
    )
});

static APPEND_LATENCY: LazyLock<Histogram> = LazyLock::new(|| {
    Histogram::new(
        "sellerdesk_store_append_duration_seconds",
        "Time from asking for an append to its commit (or refusal), by backend.",
        &["backend"],
        LATENCY_BUCKETS,
    )
});

/// This process's appends to one backend so far (benches read them).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AppendTotals {
    pub appends: u64,
    pub events: u64,
    /// Summed time from asking for each append to its commit.
    pub seconds: f64,
}

/// [`AppendTotals`] of `backend` ("postgres" or "sqlite").
pub fn append_totals(backend: &str) -> AppendTotals {
    AppendTotals {
        appends: APPEND_LATENCY.count(&[backend]),
        events: APPENDED_EVENTS.get(&[backend]),
        seconds: APPEND_LATENCY.sum(&[backend]),
    }
}

pub(crate) async fn metered(
    backend: &'static str,
    events: usize,
    append: impl Future<Output = Result<Appended, AppendError>>,
) -> Result<Appended, AppendError> {
    let started = std::time::Instant::now();
    let result = append.await;
    let outcome = match &result {
        Ok(_) => {
            APPENDED_EVENTS.add(&[backend], events as u64);
            "ok"
        }
        Err(AppendError::Conflict { .. }) => "conflict",
        Err(AppendError::AlreadyProcessed) => "duplicate",
        Err(AppendError::Store(_)) => "error",
    };
    APPENDS.inc(&[backend, outcome]);
    APPEND_LATENCY.observe(&[backend], started.elapsed());
    result
}
