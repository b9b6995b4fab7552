//! One contract suite, run against SQLite and PostgreSQL with the same bodies.

use chrono::{TimeZone, Utc};
use sellerdesk_eventstore::{
    new_event_id, open, Append, AppendError, Document, DocumentQuery, EventStore, ExpectedVersion,
    Follower, Metadata, NewEvent, RecordedEvent, ReplayedEvent, Snapshot,
};
use sellerdesk_testkit::{fresh_postgres_url, TempSqlite};
use std::{collections::HashSet, sync::Arc, time::Duration};

/// A database that can be opened again (for the restart test).
struct Db {
    url: String,
    _sqlite: Option<TempSqlite>,
}

impl Db {
    async fn sqlite() -> Self {
        let dir = TempSqlite::new();
        Self {
            url: dir.url("events"),
            _sqlite: Some(dir),
        }
    }
    async fn postgres() -> Self {
        Self {
            url: fresh_postgres_url().await,
            _sqlite: None,
        }
    }
    async fn open(&self) -> Arc<dyn EventStore> {
        open(&self.url).await.expect("open store")
    }
}

fn event(shop: &str, n: i64) -> NewEvent {
    NewEvent {
        event_id: new_event_id(),
        event_type: "ThingHappened".into(),
        schema_version: 1,
        shop_id: shop.into(),
        occurred_at: Utc.timestamp_opt(1_700_000_000 + n, 0).unwrap(),
        metadata: Metadata {
            correlation_id: Some(new_event_id()),
            causation_id: None,
            actor: Some("tester".into()),
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        },
        payload: format!(r#"{{"n":{n}}}"#),
    }
}

async fn append_and_read(db: Db) {
    let store = db.open().await;
    let written = vec![event("s1", 1), event("s1", 2)];
    let done = store
        .append(Append::new(
            "shop-1",
            ExpectedVersion::NoStream,
            written.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(
        (done.stream_version, done.first_position, done.last_position),
        (2, 1, 2)
    );
    let read = store.read_stream("shop-1", 0, 100).await.unwrap();
    assert_eq!(read.len(), 2);
    for (i, (r, w)) in read.iter().zip(&written).enumerate() {
        assert_eq!(r.stream_version, i as i64 + 1);
        assert_eq!(r.event_id, w.event_id);
        assert_eq!(r.occurred_at, w.occurred_at);
        assert_eq!(r.metadata, w.metadata);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&r.payload).unwrap()["n"],
            i as i64 + 1
        );
    }
    assert_eq!(store.read_stream("shop-1", 1, 100).await.unwrap().len(), 1);
    assert!(store
        .read_stream("nobody", 0, 100)
        .await
        .unwrap()
        .is_empty());
}

/// A payload must be JSON text: anything else is refused and nothing of the
/// append is stored (the record separator is what SQLite's pages rely on).
async fn payloads_that_are_not_json_are_refused(db: Db) {
    let store = db.open().await;
    let mut bad = event("s", 2);
    bad.payload = "one\u{1e}two".into();
    let refused = store
        .append(Append::new(
            "s-bad",
            ExpectedVersion::Any,
            vec![event("s", 1), bad],
        ))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let mut empty = event("s", 2);
    empty.payload = String::new();
    let refused = store
        .append(Append::new("s-empty", ExpectedVersion::Any, vec![empty]))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(store.head().await.unwrap(), 0);
    assert!(store.read_all(0, 10).await.unwrap().is_empty());
    // Escaped, the same character is fine.
    let mut good = event("s", 3);
    good.payload = r#"{"text":"one\u001etwo"}"#.into();
    store
        .append(Append::new(
            "s-good",
            ExpectedVersion::Any,
            vec![good.clone()],
        ))
        .await
        .unwrap();
    assert_eq!(
        store.replay_all(0, 10).await.unwrap()[0].payload,
        good.payload
    );
}

async fn version_conflict(db: Db) {
    let store = db.open().await;
    store
        .append(Append::new(
            "a",
            ExpectedVersion::NoStream,
            vec![event("s", 1)],
        ))
        .await
        .unwrap();
    let err = store
        .append(Append::new(
            "a",
            ExpectedVersion::NoStream,
            vec![event("s", 2)],
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppendError::Conflict { actual: 1, .. }),
        "{err:?}"
    );
    let err = store
        .append(Append::new(
            "a",
            ExpectedVersion::Exact(5),
            vec![event("s", 2)],
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppendError::Conflict { actual: 1, .. }),
        "{err:?}"
    );
    // A failed append leaves nothing behind.
    assert_eq!(store.read_all(0, 100).await.unwrap().len(), 1);
    store
        .append(Append::new(
            "a",
            ExpectedVersion::Exact(1),
            vec![event("s", 2)],
        ))
        .await
        .unwrap();
    store
        .append(Append::new("a", ExpectedVersion::Any, vec![event("s", 3)]))
        .await
        .unwrap();
    assert_eq!(store.read_stream("a", 0, 10).await.unwrap().len(), 3);
}

/// Event `n` of shop "x", appended to `stream` whatever its version.
async fn append_one(store: &Arc<dyn EventStore>, stream: String, n: i64) {
    store
        .append(Append::new(
            stream,
            ExpectedVersion::Any,
            vec![event("x", n)],
        ))
        .await
        .unwrap();
}

async fn global_order(db: Db) {
    let store = db.open().await;
    for i in 0..6 {
        let stream = format!("s{}", i % 3);
        append_one(&store, stream, i).await;
    }
    let all = store.read_all(0, 100).await.unwrap();
    let positions: Vec<i64> = all.iter().map(|e| e.global_position).collect();
    assert_eq!(positions, (1..=6).collect::<Vec<_>>());
    let after = store.read_all(4, 100).await.unwrap();
    assert_eq!(
        after.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        vec![5, 6]
    );
    assert_eq!(store.head().await.unwrap(), 6);
}

/// A follower of some streams (faq's replica follower reads only the
/// knowledge bases' streams of a log that is mostly interactions): a range
/// read hands over those streams' events only, in global order, and the
/// follower passes ranges holding none of them and stops at the head.
async fn followers_of_some_streams_read_only_those(db: Db) {
    let store = db.open().await;
    for i in 0..40 {
        let stream = match i % 4 {
            0 => format!("kb-{}", i % 3),
            1 => "kbx".to_owned(),
            _ => format!("talk-{i}"),
        };
        append_one(&store, stream, i).await;
    }
    let head = store.head().await.unwrap();
    let wanted: Vec<i64> = store
        .read_all(0, 100)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.stream_id.starts_with("kb-"))
        .map(|e| e.global_position)
        .collect();
    assert_eq!(wanted.len(), 10);
    let read = store.read_streams_between("kb-", 0, head).await.unwrap();
    let positions: Vec<i64> = read.iter().map(|e| e.global_position).collect();
    assert_eq!(positions, wanted);
    assert!(read
        .iter()
        .all(|e| e.payload == event("x", e.global_position - 1).payload));
    let middle: Vec<i64> = store
        .read_streams_between("kb-", 9, 21)
        .await
        .unwrap()
        .iter()
        .map(|e| e.global_position)
        .collect();
    assert_eq!(middle, [13, 17, 21]);
    assert!(store
        .read_streams_between("kb-", 1, 4)
        .await
        .unwrap()
        .is_empty());
    for bad in ["", "kb%", "kb'", "kb_\\"] {
        assert!(
            store.read_streams_between(bad, 0, head).await.is_err(),
            "{bad:?} refused"
        );
    }
    // Three positions a read: most ranges hold no kb- event at all.
    let mut follower = Follower::after(store.clone(), "kb", 0, 3).only_streams("kb-");
    let mut seen = Vec::new();
    let handed = follower
        .catch_up(&mut |batch: Vec<sellerdesk_eventstore::RecordedEvent>| {
            seen.extend(batch.iter().map(|e| e.global_position));
            async { Ok::<_, std::convert::Infallible>(()) }
        })
        .await
        .unwrap();
    assert_eq!((handed, seen.clone()), (10, wanted.clone()));
    let again = follower
        .catch_up(&mut |_batch| async { Ok::<_, std::convert::Infallible>(()) })
        .await
        .unwrap();
    assert_eq!(again, 0, "at the head");
}

/// Many appenders at once, with a follower reading the global order while they
/// write: no position is lost or duplicated, and the follower sees every event
/// exactly once (gap safety).
async fn concurrent_appenders_and_follower(db: Db) {
    let store = db.open().await;
    const WRITERS: i64 = 8;
    const APPENDS: i64 = 40;
    let total = (WRITERS * APPENDS * 2) as usize;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let following = tokio::spawn(Follower::after(store.clone(), "contract", 0, 64).run(
        move |batch: Vec<RecordedEvent>| {
            for e in batch {
                let _ = tx.send((e.global_position, e.event_id));
            }
            async { Ok::<_, std::convert::Infallible>(()) }
        },
    ));
    let follower = tokio::spawn(async move {
        let mut seen = Vec::with_capacity(total);
        while seen.len() < total {
            let e = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .expect("follower stalled")
                .unwrap();
            seen.push(e);
        }
        seen
    });
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..APPENDS {
                // Contended stream: retry on conflict, as command handlers do.
                loop {
                    let version =
                        store.read_stream("shared", 0, 10_000).await.unwrap().len() as i64;
                    let r = store
                        .append(Append::new(
                            "shared",
                            ExpectedVersion::Exact(version),
                            vec![event("x", w * 1000 + i)],
                        ))
                        .await;
                    match r {
                        Ok(_) => break,
                        Err(AppendError::Conflict { .. }) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
                store
                    .append(Append::new(
                        format!("own-{w}"),
                        ExpectedVersion::Any,
                        vec![event("x", i)],
                    ))
                    .await
                    .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let seen = follower.await.unwrap();
    following.abort();
    let positions: Vec<i64> = seen.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        positions,
        (1..=total as i64).collect::<Vec<_>>(),
        "follower saw a gap or a repeat"
    );
    let ids: HashSet<_> = seen.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids.len(), total);
    let shared = store.read_stream("shared", 0, 10_000).await.unwrap();
    let versions: Vec<i64> = shared.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, (1..=WRITERS * APPENDS).collect::<Vec<_>>());
}

async fn reopen_after_restart(db: Db) {
    {
        let store = db.open().await;
        store
            .append(Append::new(
                "r",
                ExpectedVersion::NoStream,
                vec![event("s", 1), event("s", 2)],
            ))
            .await
            .unwrap();
        store.save_checkpoint("relay", 2).await.unwrap();
    }
    let store = db.open().await;
    assert_eq!(store.head().await.unwrap(), 2);
    assert_eq!(store.load_checkpoint("relay").await.unwrap(), 2);
    let done = store
        .append(Append::new(
            "r",
            ExpectedVersion::Exact(2),
            vec![event("s", 3)],
        ))
        .await
        .unwrap();
    assert_eq!((done.stream_version, done.last_position), (3, 3));
}

async fn inbox_makes_redelivery_harmless(db: Db) {
    let store = db.open().await;
    let upstream = new_event_id();
    store
        .append(
            Append::new("ads", ExpectedVersion::Any, vec![event("s", 1)])
                .with_inbox("ads", upstream),
        )
        .await
        .unwrap();
    let again = store
        .append(
            Append::new("ads", ExpectedVersion::Any, vec![event("s", 1)])
                .with_inbox("ads", upstream),
        )
        .await;
    assert!(matches!(again, Err(AppendError::AlreadyProcessed)));
    assert!(store.is_processed("ads", upstream).await.unwrap());
    assert!(!store.is_processed("other", upstream).await.unwrap());
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);
    // A conflict rolls the inbox mark back with the rest.
    let other = new_event_id();
    let err = store
        .append(
            Append::new("ads", ExpectedVersion::NoStream, vec![event("s", 2)])
                .with_inbox("ads", other),
        )
        .await;
    assert!(matches!(err, Err(AppendError::Conflict { .. })));
    assert!(!store.is_processed("ads", other).await.unwrap());
}

async fn checkpoints_and_snapshots(db: Db) {
    let store = db.open().await;
    assert_eq!(store.load_checkpoint("p").await.unwrap(), 0);
    store.save_checkpoint("p", 7).await.unwrap();
    store.save_checkpoint("p", 9).await.unwrap();
    assert_eq!(store.load_checkpoint("p").await.unwrap(), 9);
    let snaps: Vec<Snapshot> = (0..1200)
        .map(|i| Snapshot {
            key: format!("svc/shop/{i:05}"),
            version: i,
            position: i,
            body: format!("{{\"i\":{i}}}"),
        })
        .collect();
    store.save_snapshots(&snaps).await.unwrap();
    store
        .save_snapshots(&[Snapshot {
            key: "svc/shop/00001".into(),
            version: 99,
            position: 99,
            body: "{}".into(),
        }])
        .await
        .unwrap();
    store
        .save_snapshots(&[Snapshot {
            key: "svc_other".into(),
            version: 1,
            position: 1,
            body: "{}".into(),
        }])
        .await
        .unwrap();
    assert_eq!(
        store
            .load_snapshot("svc/shop/00001")
            .await
            .unwrap()
            .unwrap()
            .version,
        99
    );
    assert_eq!(store.load_snapshots("svc/shop/").await.unwrap().len(), 1200);
    // Prefixes are literal: '_' and '%' are not wildcards.
    assert_eq!(store.load_snapshots("svc_").await.unwrap().len(), 1);
    // A prefix is a byte range: the character after '/' ("svc0") and other
    // cases ("SVC/") are outside it, a CJK key inside it.
    for key in ["svc0", "SVC/shop", "svc/店铺"] {
        store
            .save_snapshots(&[Snapshot {
                key: key.into(),
                version: 1,
                position: 1,
                body: "{}".into(),
            }])
            .await
            .unwrap();
    }
    let keys: Vec<String> = store
        .load_snapshots("svc/")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(keys.len(), 1201);
    assert!(keys.contains(&"svc/店铺".to_owned()));
    assert_eq!(store.load_snapshots("svc/店").await.unwrap().len(), 1);
    assert_eq!(store.delete_snapshots("svc/").await.unwrap(), 1201);
    assert!(store.load_snapshot("svc0").await.unwrap().is_some());
    assert!(store.load_snapshot("SVC/shop").await.unwrap().is_some());
    assert!(store
        .load_snapshot("svc/shop/00001")
        .await
        .unwrap()
        .is_none());
    assert!(store.load_snapshot("svc_other").await.unwrap().is_some());

    // Large bodies (stored compressed) come back whole, also when a large body
    // replaces a small one and the other way round.
    let large = |n: usize| {
        format!(
            "[{}]",
            vec![r#"["违规\"x",1,1577836800000000000]"#; n].join(",")
        )
    };
    let mut docs = vec![
        Snapshot {
            key: "big/a".into(),
            version: 1,
            position: 1,
            body: large(10_000),
        },
        Snapshot {
            key: "big/b".into(),
            version: 1,
            position: 1,
            body: "{}".into(),
        },
    ];
    store.save_snapshots(&docs).await.unwrap();
    assert_eq!(store.load_snapshots("big/").await.unwrap(), docs);
    docs[0].body = "{\"small\":true}".into();
    docs[1].body = large(3_000);
    store.save_snapshots(&docs).await.unwrap();
    assert_eq!(store.load_snapshots("big/").await.unwrap(), docs);
    assert_eq!(
        store.load_snapshot("big/b").await.unwrap().as_ref(),
        Some(&docs[1])
    );
}

/// Appends that reach the writer together are checked one by one, also
/// against streams that do not exist yet and against long streams.
async fn concurrent_appends_are_each_checked(db: Db) {
    let store = db.open().await;
    let long: Vec<_> = (0..300).map(|i| event("x", i)).collect();
    store
        .append(Append::new("long", ExpectedVersion::NoStream, long))
        .await
        .unwrap();
    let mut appends = Vec::new();
    for i in 0..20 {
        appends.push(Append::new(
            format!("new-{i}"),
            ExpectedVersion::NoStream,
            vec![event("x", i)],
        ));
    }
    for racer in 0..2 {
        appends.push(Append::new(
            "raced",
            ExpectedVersion::NoStream,
            vec![event("r", racer)],
        ));
        appends.push(Append::new(
            "long",
            ExpectedVersion::Exact(300),
            vec![event("l", racer)],
        ));
    }
    let results = futures::future::join_all(appends.into_iter().map(|a| {
        let store = store.clone();
        async move { store.append(a).await }
    }))
    .await;
    assert!(
        results[..20].iter().all(|r| r.is_ok()),
        "new streams: {results:?}"
    );
    for stream in [20, 21] {
        let won = [&results[stream], &results[stream + 2]]
            .iter()
            .filter(|r| r.is_ok())
            .count();
        let lost = [&results[stream], &results[stream + 2]]
            .iter()
            .filter(|r| matches!(r, Err(AppendError::Conflict { .. })))
            .count();
        assert_eq!((won, lost), (1, 1), "exactly one racer wins: {results:?}");
    }
    assert_eq!(
        store.read_stream("long", 0, 1_000).await.unwrap().len(),
        301
    );
    assert_eq!(store.read_stream("raced", 0, 10).await.unwrap().len(), 1);
}

/// Large pages are read as several position ranges at once (and on
/// PostgreSQL through binary COPY): every field must come back as written,
/// NULL metadata included, in global order, whatever the page boundaries.
async fn large_pages_read_every_field(db: Db) {
    let store = db.open().await;
    let mut written = Vec::new();
    for b in 0..50i64 {
        let events: Vec<NewEvent> = (0..101)
            .map(|i| {
                let mut e = event("大店", b * 101 + i);
                if i % 3 == 0 {
                    e.metadata = Metadata::default();
                }
                if i % 5 == 0 {
                    e.payload = r#"{"text":"引号\"和\\斜杠","n":[1,2]}"#.into();
                }
                e
            })
            .collect();
        written.extend(events.clone());
        store
            .append(Append::new(
                format!("big-{}", b % 7),
                ExpectedVersion::Any,
                events,
            ))
            .await
            .unwrap();
    }
    let mut read = Vec::new();
    for limit in [10_000, 2_001, 4_999] {
        read.clear();
        let mut position = 0;
        loop {
            let page = store.read_all(position, limit).await.unwrap();
            let Some(last) = page.last() else { break };
            position = last.global_position;
            read.extend(page);
        }
        assert_eq!(read.len(), written.len(), "page size {limit}");
        for (i, (r, w)) in read.iter().zip(&written).enumerate() {
            assert_eq!(r.global_position, i as i64 + 1);
            assert_eq!((r.event_id, &r.metadata), (w.event_id, &w.metadata));
            assert_eq!((&r.event_type, &r.shop_id), (&w.event_type, &w.shop_id));
            assert_eq!(
                (r.schema_version, r.occurred_at),
                (w.schema_version, w.occurred_at)
            );
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&r.payload).unwrap(),
                serde_json::from_str::<serde_json::Value>(&w.payload).unwrap()
            );
        }
    }
    // A replay reads the same events without their metadata, payloads
    // byte for byte, whatever the page size.
    for limit in [10_000, 2_001, 4_999] {
        let mut replayed = Vec::new();
        let mut position = 0;
        loop {
            let page = store.replay_all(position, limit).await.unwrap();
            let Some(last) = page.last() else { break };
            position = last.global_position;
            replayed.extend(page);
        }
        let expected: Vec<ReplayedEvent> = read.iter().cloned().map(ReplayedEvent::from).collect();
        assert_eq!(replayed, expected, "replay page size {limit}");
        for (r, w) in replayed.iter().zip(&written) {
            assert_eq!(r.payload, w.payload);
        }
        // Consecutive rows of one stream mostly share their stream id (not
        // where a range begins, nor where a scan's physical order differs
        // from position order).
        let same_stream = replayed
            .windows(2)
            .filter(|w| w[0].stream_id == w[1].stream_id);
        let unshared = same_stream
            .clone()
            .filter(|w| !Arc::ptr_eq(&w[0].stream_id, &w[1].stream_id))
            .count();
        assert!(unshared * 10 < same_stream.count(), "{unshared}");
    }
    let stream: Vec<_> = store.read_stream("big-3", 0, 10_000).await.unwrap();
    let from_all: Vec<_> = read
        .into_iter()
        .filter(|e| e.stream_id == "big-3")
        .collect();
    assert_eq!(stream, from_all);
}

/// A lease has one holder at a time and is free again once dropped.
async fn leases_have_one_holder(db: Db) {
    let store = db.open().await;
    let first = store.try_lease("relay").await.unwrap();
    let mut first = first.expect("a free lease is taken");
    assert!(first.held().await);
    assert!(
        store.try_lease("relay").await.unwrap().is_none(),
        "held twice"
    );
    let other = store.try_lease("projector").await.unwrap();
    assert!(other.is_some(), "leases of other names are apart");
    let names = ["relay", "nobody", "projector"].map(String::from);
    assert_eq!(
        store.leases_held(&names).await.unwrap(),
        [true, false, true],
        "who holds a lease is seen, in the order asked"
    );
    drop(first);
    // PostgreSQL frees it when the session closes, which follows the drop.
    let mut again = None;
    for _ in 0..50 {
        again = store.try_lease("relay").await.unwrap();
        if again.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a dropped lease is free again");
}

/// On PostgreSQL, a group of appends whose statement committed while its
/// connection broke is appended again one by one: an append whose events
/// are in the log already is answered with what was written, not refused
/// (an append at any version met the events' unique ids and was answered
/// INTERNAL). The same ids on another stream are still refused.
#[tokio::test]
async fn an_append_tried_again_is_answered_with_what_was_written() {
    let store = Db::postgres().await.open().await;
    let events = vec![event("s1", 1), event("s1", 2)];
    let again = || Append::new("s-again", ExpectedVersion::Any, events.clone());
    let first = store.append(again()).await.unwrap();
    store
        .append(Append::new(
            "s-again",
            ExpectedVersion::Any,
            vec![event("s1", 3)],
        ))
        .await
        .unwrap();
    let second = store.append(again()).await.unwrap();
    assert_eq!(second, first);
    assert_eq!(store.read_stream("s-again", 0, 10).await.unwrap().len(), 3);
    assert!(store
        .append(Append::new("s-other", ExpectedVersion::Any, events.clone()))
        .await
        .is_err());
}

/// On PostgreSQL, a holder whose session dies (its process killed) loses the
/// lease at once, and knows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_whose_session_dies_passes_to_another_process() {
    let db = Db::postgres().await;
    let (a, b) = (db.open().await, db.open().await);
    let mut held = a.try_lease("timekeeper").await.unwrap().expect("taken");
    assert!(b.try_lease("timekeeper").await.unwrap().is_none());
    let key = sellerdesk_eventstore::lease_key("timekeeper");
    let ended = sellerdesk_testkit::end_session_holding(&db.url, key).await;
    assert_eq!(ended, 1, "one session held it");
    assert!(!held.held().await, "the holder learns it lost the lease");
    // The backend frees its locks as it exits, just after telling the client.
    let mut seen_free = false;
    for _ in 0..50 {
        if b.leases_held(&["timekeeper".into()]).await.unwrap() == [false] {
            seen_free = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen_free, "the others see the lease free");
    let mut taken = None;
    for _ in 0..50 {
        taken = b.try_lease("timekeeper").await.unwrap();
        if taken.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(taken.is_some(), "another process takes it");
}

fn conversation(
    shop: &str,
    id: &str,
    opened: i64,
    closed: Option<i64>,
    terms: &[&str],
    text: &str,
) -> Document {
    Document {
        index: "conversations".into(),
        shop_id: shop.into(),
        doc_id: id.into(),
        starts_at: opened,
        ends_at: closed,
        version: opened,
        terms: terms.iter().map(|t| t.to_string()).collect(),
        text: text.into(),
        body: format!("{{\"id\":\"{id}\"}}"),
    }
}

fn ids(found: &[Document]) -> Vec<&str> {
    found.iter().map(|d| d.doc_id.as_str()).collect()
}

/// Issue 15 item 4: searchable documents are found by shop, terms, time
/// windows and text, a page at a time, and a rewrite replaces the old terms.
async fn documents_are_searched_and_paged(db: Db) {
    let store = db.open().await;
    let q = |shop: &str| DocumentQuery {
        index: "conversations".into(),
        shop_id: shop.into(),
        limit: 10,
        ..Default::default()
    };
    store
        .save_documents(&[
            conversation(
                "s1",
                "c1",
                100,
                Some(150),
                &["buyer:b1", "agent:a1"],
                "我要退款 Refund",
            ),
            conversation("s1", "c2", 200, None, &["buyer:b2", "agent:a1"], "发货了吗"),
            conversation("s1", "c3", 300, Some(400), &["buyer:b1"], "什么时候发货"),
            conversation("s2", "c1", 100, None, &["buyer:b1"], "退款"),
        ])
        .await
        .unwrap();
    assert_eq!(
        ids(&store.search_documents(&q("s1")).await.unwrap()),
        ["c3", "c2", "c1"]
    );
    assert_eq!(
        ids(&store.search_documents(&q("s2")).await.unwrap()),
        ["c1"],
        "one shop sees only its own"
    );
    let with = |f: &dyn Fn(&mut DocumentQuery)| {
        let mut query = q("s1");
        f(&mut query);
        query
    };
    let found = |query: DocumentQuery| {
        let store = store.clone();
        async move {
            ids(&store.search_documents(&query).await.unwrap())
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        found(with(&|q| q.terms = vec!["buyer:b1".into()])).await,
        ["c3", "c1"]
    );
    assert_eq!(
        found(with(
            &|q| q.terms = vec!["buyer:b1".into(), "agent:a1".into()]
        ))
        .await,
        ["c1"]
    );
    assert_eq!(
        found(with(&|q| q.text = Some("发货".into()))).await,
        ["c3", "c2"]
    );
    assert_eq!(
        found(with(&|q| q.text = Some("REFUND".into()))).await,
        ["c1"],
        "any case"
    );
    assert_eq!(
        found(with(&|q| {
            q.starts_from = Some(150);
            q.starts_before = Some(300)
        }))
        .await,
        ["c2"]
    );
    assert_eq!(
        found(with(&|q| {
            q.ends_from = Some(150);
            q.ends_before = Some(401)
        }))
        .await,
        ["c3", "c1"],
        "an open one never ends in a window"
    );
    assert_eq!(
        found(with(&|q| q.oldest_first = true)).await,
        ["c1", "c2", "c3"]
    );
    // Pages: two, then the rest after the last one seen.
    let first = store
        .search_documents(&with(&|q| q.limit = 2))
        .await
        .unwrap();
    assert_eq!(ids(&first), ["c3", "c2"]);
    let last = first.last().unwrap();
    assert_eq!(
        found(with(
            &|q| q.after = Some((last.starts_at, last.doc_id.clone()))
        ))
        .await,
        ["c1"]
    );
    // A rewrite replaces the terms: b1 no longer finds c3.
    store
        .save_documents(&[conversation("s1", "c3", 300, Some(400), &["buyer:b9"], "")])
        .await
        .unwrap();
    assert_eq!(
        found(with(&|q| q.terms = vec!["buyer:b1".into()])).await,
        ["c1"]
    );
    // A writer behind the stored version (a projector that lost its lease)
    // changes nothing: neither the document nor its terms.
    let mut stale = conversation("s1", "c3", 300, None, &["buyer:b1"], "stale");
    stale.version = 299;
    store.save_documents(&[stale]).await.unwrap();
    assert_eq!(
        found(with(&|q| q.terms = vec!["buyer:b1".into()])).await,
        ["c1"],
        "an older version does not bring its terms back"
    );
    assert_eq!(
        found(with(&|q| q.text = Some("stale".into()))).await,
        Vec::<String>::new(),
        "nor its text"
    );
    // A rewrite with the same terms (a conversation's new line) keeps them,
    // twice in a row, so what the last write did to them is not kept instead.
    for text in ["a new line", "another line"] {
        store
            .save_documents(&[conversation(
                "s1",
                "c3",
                300,
                Some(400),
                &["buyer:b9"],
                text,
            )])
            .await
            .unwrap();
        assert_eq!(
            found(with(&|q| q.terms = vec!["buyer:b9".into()])).await,
            ["c3"],
            "terms kept over a rewrite with the same terms"
        );
    }
    let loaded = store
        .load_documents("conversations", "s1", &["c3".into(), "missing".into()])
        .await
        .unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].terms, ["buyer:b9"]);
    assert_eq!(loaded[0].ends_at, Some(400));
    let mut with_a1: Vec<String> = store
        .documents_with_term("conversations", "s1", "agent:a1")
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.doc_id)
        .collect();
    with_a1.sort();
    assert_eq!(with_a1, ["c1", "c2"]);
    assert!(store
        .documents_with_term("conversations", "s2", "agent:a1")
        .await
        .unwrap()
        .is_empty());
    // A large body comes back whole (stored compressed).
    let mut big = conversation("s1", "big", 500, None, &[], "");
    big.body = "对".repeat(40_000);
    store.save_documents(&[big.clone()]).await.unwrap();
    let back = store
        .load_documents("conversations", "s1", &["big".into()])
        .await
        .unwrap();
    assert_eq!(back, [big]);
    assert_eq!(store.delete_documents("conversations").await.unwrap(), 5);
    assert!(store.search_documents(&q("s1")).await.unwrap().is_empty());
    assert!(store
        .search_documents(&with(&|q| q.terms = vec!["buyer:b9".into()]))
        .await
        .unwrap()
        .is_empty());
}

/// Decision 0017 (chat's text search): a term's postings are read a bounded
/// number at a time in id order, one shop's only, and a search can be
/// limited to a list of ids, still paged in the index's order.
async fn documents_are_found_through_a_terms_postings(db: Db) {
    let store = db.open().await;
    let mut docs: Vec<Document> = (0..5)
        .map(|i| {
            conversation(
                "s1",
                &format!("c{i}"),
                100 * i,
                None,
                &[
                    "said:退款",
                    if i % 2 == 0 {
                        "said:多久"
                    } else {
                        "said:快递"
                    },
                ],
                "",
            )
        })
        .collect();
    docs.push(conversation("s2", "c9", 0, None, &["said:退款"], ""));
    store.save_documents(&docs).await.unwrap();
    let postings = |shop: &'static str, term: &'static str, limit: i64| {
        let store = store.clone();
        async move {
            store
                .term_postings("conversations", shop, term, limit)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        postings("s1", "said:退款", 10).await,
        ["c0", "c1", "c2", "c3", "c4"]
    );
    assert_eq!(
        postings("s1", "said:退款", 2).await,
        ["c0", "c1"],
        "bounded"
    );
    assert_eq!(postings("s1", "said:多久", 10).await, ["c0", "c2", "c4"]);
    assert_eq!(postings("s2", "said:退款", 10).await, ["c9"], "one shop's");
    assert!(postings("s1", "said:没有", 10).await.is_empty());
    assert!(postings("s1", "said:退款", 0).await.is_empty());
    let among = |ids: &[&str], after: Option<(i64, String)>, limit: i64| DocumentQuery {
        index: "conversations".into(),
        shop_id: "s1".into(),
        ids: Some(ids.iter().map(|s| s.to_string()).collect()),
        after,
        limit,
        ..Default::default()
    };
    let found = store
        .search_documents(&among(&["c4", "c0", "c3", "c9", "nope"], None, 2))
        .await
        .unwrap();
    assert_eq!(
        ids(&found),
        ["c4", "c3"],
        "newest first, s2's c9 is not s1's"
    );
    let rest = store
        .search_documents(&among(&["c4", "c0", "c3"], Some((300, "c3".into())), 2))
        .await
        .unwrap();
    assert_eq!(ids(&rest), ["c0"]);
    let mut windowed = among(&["c4", "c0", "c3", "c3"], None, 10);
    windowed.starts_from = Some(1);
    windowed.starts_before = Some(400);
    windowed.oldest_first = true;
    assert_eq!(
        ids(&store.search_documents(&windowed).await.unwrap()),
        ["c3"],
        "the window and the order apply to the ids, each once"
    );
    let mut none = among(&[], None, 10);
    assert!(store.search_documents(&none).await.unwrap().is_empty());
    none.ids = Some(vec!["c1".into()]);
    none.terms = vec!["said:多久".into()];
    assert!(
        store.search_documents(&none).await.unwrap().is_empty(),
        "ids and terms together"
    );
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Db::sqlite().await).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Db::postgres().await).await })*
        }
    };
}

contract!(
    append_and_read,
    version_conflict,
    global_order,
    followers_of_some_streams_read_only_those,
    concurrent_appenders_and_follower,
    concurrent_appends_are_each_checked,
    reopen_after_restart,
    inbox_makes_redelivery_harmless,
    checkpoints_and_snapshots,
    large_pages_read_every_field,
    payloads_that_are_not_json_are_refused,
    leases_have_one_holder,
    documents_are_searched_and_paged,
    documents_are_found_through_a_terms_postings,
);

/// On PostgreSQL, a read of the log (a COPY) abandoned half-way, as a
/// cancelled request or an aborted follower abandons it, must not leave its
/// connection to the next query. The driver does not count a COPY's
/// ReadyForQuery as pending, so the connection went back to the pool one
/// message behind: the next query read the COPY's end (or the one before
/// it) as its own answer and found nothing, and a replica answered a read
/// right after another replica's write without it (the chaos run of
/// 2026-12-06, seed 1796558057).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_read_abandoned_half_way_leaves_the_next_query_its_own_answer() {
    let url = fresh_postgres_url().await;
    // One connection for every read, so the abandoned one is reused.
    let store = sellerdesk_eventstore::PgEventStore::connect_with(&url, 1)
        .await
        .unwrap();
    let big = "好".repeat(300);
    let mut total = 0;
    for batch in 0..10 {
        let events: Vec<NewEvent> = (0..1_000)
            .map(|n| NewEvent {
                payload: format!(r#"{{"n":{n},"text":"{big}"}}"#),
                ..event("s1", batch * 1_000 + n)
            })
            .collect();
        total += events.len() as i64;
        store
            .append(Append::new(
                format!("bulk-{batch}"),
                ExpectedVersion::Any,
                events,
            ))
            .await
            .unwrap();
    }
    let mut abandoned = 0;
    for round in 0..40u64 {
        // From a few microseconds (before the COPY's first answer) to
        // milliseconds (in the middle of its rows).
        let patience = Duration::from_micros(50 + round * round * 20);
        if tokio::time::timeout(patience, store.read_all(0, total))
            .await
            .is_err()
        {
            abandoned += 1;
        }
        let page = store.read_stream("bulk-3", 0, 3).await.unwrap_or_else(|e| {
            panic!("round {round}: the read after an abandoned one failed: {e}")
        });
        let versions: Vec<i64> = page.iter().map(|e| e.stream_version).collect();
        assert_eq!(versions, vec![1, 2, 3], "round {round}");
        assert_eq!(store.head().await.unwrap(), total, "round {round}");
    }
    assert!(abandoned > 5, "only {abandoned} reads were abandoned");
}
