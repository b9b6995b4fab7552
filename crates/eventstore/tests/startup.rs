//! R-X-4: a replica that starts before its database, or restarts while the
//! others hold every connection the server has, waits for it and comes up
//! (`open_waiting`); a database that will never be there stops it at once.
//! A [`PgGate`] stands in front of the real server and answers as
//! PostgreSQL does when it is not ready.

use sellerdesk_eventstore::{
    new_event_id, open_waiting, unavailable, Append, ExpectedVersion, Metadata, NewEvent,
    StoreError,
};
use sellerdesk_testkit::{fresh_postgres_url, Gate, PgGate};
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

fn errors_seen() -> (Arc<Mutex<Vec<String>>>, impl FnMut(&StoreError)) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    (seen, move |e: &StoreError| {
        assert!(
            unavailable(e),
            "only a database not ready is waited for: {e}"
        );
        log.lock().unwrap().push(format!("{e:?}"));
    })
}

async fn until(seen: &Arc<Mutex<Vec<String>>>, what: &str, within: Duration) {
    let started = Instant::now();
    while !seen.lock().unwrap().iter().any(|e| e.contains(what)) {
        assert!(
            started.elapsed() < within,
            "no wait on {what}: {:?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_opened_before_its_database_is_ready_comes_up_with_it() {
    let gate = PgGate::new(&fresh_postgres_url().await, Gate::Reset).await;
    let (seen, waiting) = errors_seen();
    let url = gate.url().to_owned();
    let opening =
        tokio::spawn(async move { open_waiting(&url, 2, Duration::from_secs(90), waiting).await });

    // Nothing answers: a connection closed unanswered is waited on.
    until(&seen, "Io", Duration::from_secs(10)).await;
    // The server answers that it has no connection to spare. The driver
    // tries again itself for its acquire timeout (10 s) and then gives up;
    // the store waits on.
    gate.set(Gate::Full);
    until(&seen, "PoolTimedOut", Duration::from_secs(30)).await;
    assert!(!opening.is_finished(), "still waiting, not failed");

    gate.set(Gate::Open);
    let store = tokio::time::timeout(Duration::from_secs(30), opening)
        .await
        .expect("it comes up once the database is ready")
        .unwrap()
        .expect("the store opens");
    // It is a working store on the real database, migrated.
    let event = NewEvent {
        event_id: new_event_id(),
        event_type: "ViolationRecorded".into(),
        schema_version: 1,
        shop_id: "shop-1".into(),
        occurred_at: chrono::Utc::now(),
        metadata: Metadata::default(),
        payload: r#"{"points":2}"#.into(),
    };
    let appended = store
        .append(Append::new(
            "shop-1",
            ExpectedVersion::NoStream,
            vec![event],
        ))
        .await
        .expect("append through the gate");
    assert_eq!(appended.stream_version, 1);
    let read = store.read_stream("shop-1", 0, 10).await.unwrap();
    assert_eq!(read.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_does_not_exist_stops_the_start_at_once() {
    let gate = PgGate::new(&fresh_postgres_url().await, Gate::NoSuchDatabase).await;
    let started = Instant::now();
    let mut waited = 0;
    let r = open_waiting(gate.url(), 2, Duration::from_secs(90), |_| waited += 1).await;
    let Err(StoreError::Database(sqlx::Error::Database(e))) = r else {
        panic!("a database error, got {:?}", r.map(|_| ()));
    };
    assert_eq!(e.code().as_deref(), Some("3D000"));
    assert_eq!(waited, 0);
    assert!(gate.connections() >= 1, "it asked the server");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not waited for: {:?}",
        started.elapsed()
    );
}
