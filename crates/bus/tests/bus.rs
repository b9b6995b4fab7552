//! Bus behaviour against a real NATS JetStream server (and the in-process bus
//! with the same bodies where the behaviour is shared).

use async_trait::async_trait;
use chrono::Utc;
use sellerdesk_bus::{
    consume, relay, subject, BusMessage, EventBus, Handler, InProcessBus, JetStreamBus,
    RelayOptions,
};
use sellerdesk_eventstore::{
    new_event_id, open, Append, EventStore, ExpectedVersion, Metadata, NewEvent,
};
use sellerdesk_testkit::{nats_url, TempSqlite};
use std::{collections::HashSet, sync::Arc, time::Duration};

fn unique_service() -> String {
    format!("t{}", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

async fn jetstream() -> JetStreamBus {
    let url = nats_url().await;
    JetStreamBus::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("NATS JetStream at {url} does not answer: {e}"))
        .with_ack_wait(Duration::from_secs(1))
}

fn upstream_event(n: i64) -> NewEvent {
    NewEvent {
        event_id: new_event_id(),
        event_type: "ViolationRecorded".into(),
        schema_version: 1,
        shop_id: "shop-a".into(),
        occurred_at: Utc::now(),
        metadata: Metadata::default(),
        payload: format!(r#"{{"n":{n}}}"#),
    }
}

/// The consuming service's effect: one event per upstream event, in its own log.
struct Mirror;

#[async_trait]
impl Handler for Mirror {
    async fn handle(&self, message: &BusMessage) -> Result<Option<Append>, String> {
        let effect = NewEvent {
            event_id: new_event_id(),
            event_type: "Mirrored".into(),
            schema_version: 1,
            shop_id: message.shop_id.clone(),
            occurred_at: message.occurred_at,
            metadata: Metadata {
                causation_id: Some(message.event_id),
                ..Metadata::default()
            },
            payload: String::from_utf8(message.payload.to_vec()).unwrap(),
        };
        Ok(Some(Append::new(
            "mirror",
            ExpectedVersion::Any,
            vec![effect],
        )))
    }
}

async fn wait_for_effects(store: &Arc<dyn EventStore>, n: usize) -> Vec<uuid::Uuid> {
    // Up to a minute: a backlog of 200 slow messages takes 8 s alone and
    // three times that on a loaded machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let all = store.read_all(0, 100_000).await.unwrap();
        let effects: Vec<_> = all
            .iter()
            .filter(|e| e.event_type == "Mirrored")
            .map(|e| e.metadata.causation_id.unwrap())
            .collect();
        if effects.len() >= n {
            // Give a duplicate a moment to show up, if there were one.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let all = store.read_all(0, 100_000).await.unwrap();
            return all
                .iter()
                .filter(|e| e.event_type == "Mirrored")
                .map(|e| e.metadata.causation_id.unwrap())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("effects did not arrive");
}

/// A crash between commit and publish loses nothing, and a crash between
/// publish and checkpoint duplicates nothing: the relay follows the log from its
/// checkpoint and the bus deduplicates by event id.
async fn outbox_survives_crashes(bus: Arc<dyn EventBus>) -> String {
    let service = unique_service();
    let dir = TempSqlite::new();
    let producer = open(&dir.url("producer")).await.unwrap();
    let consumer_store = open(&dir.url("consumer")).await.unwrap();
    // Committed, then the process "crashed" before anything was published.
    let events: Vec<NewEvent> = (0..50).map(upstream_event).collect();
    producer
        .append(Append::new("shop-a", ExpectedVersion::NoStream, events))
        .await
        .unwrap();
    // A relay that published half and "crashed" before saving its checkpoint.
    let first_half: Vec<BusMessage> = producer
        .read_all(0, 25)
        .await
        .unwrap()
        .iter()
        .map(|e| BusMessage::from_event(&service, e))
        .collect();
    bus.publish(&first_half).await.unwrap();
    assert_eq!(
        producer
            .load_checkpoint(&RelayOptions::new(&service, true).checkpoint)
            .await
            .unwrap(),
        0
    );

    let relay_task = tokio::spawn(relay(
        producer.clone(),
        bus.clone(),
        RelayOptions::new(&service, true),
    ));
    let consumer_task = tokio::spawn(consume(
        bus.clone(),
        consumer_store.clone(),
        service.clone(),
        "mirror".into(),
        format!("sellerdesk.{service}.>"),
        Arc::new(Mirror),
    ));
    // Events appended while everything runs arrive too.
    producer
        .append(Append::new(
            "shop-a",
            ExpectedVersion::Exact(50),
            (50..60).map(upstream_event).collect(),
        ))
        .await
        .unwrap();
    let effects = wait_for_effects(&consumer_store, 60).await;
    relay_task.abort();
    consumer_task.abort();
    let expected: HashSet<_> = producer
        .read_all(0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(
        effects.len(),
        60,
        "each upstream event has exactly one effect"
    );
    assert_eq!(effects.into_iter().collect::<HashSet<_>>(), expected);
    service
}

/// A consumer that committed its effect but died before acking gets the
/// message again, and its inbox makes the redelivery a no-op.
async fn consumer_restart_resumes_without_loss_or_double_effect(bus: Arc<dyn EventBus>) -> String {
    let service = unique_service();
    let dir = TempSqlite::new();
    let store = open(&dir.url("consumer")).await.unwrap();
    let messages = messages_of(&service, 40);
    bus.publish(&messages).await.unwrap();
    // Publishing the same ids again is deduplicated (at-least-once publishing).
    bus.publish(&messages[..10]).await.unwrap();

    let filter = format!("sellerdesk.{service}.>");
    // First incarnation: processes 15, commits the 16th's effect, dies before its ack.
    {
        let mut sub = bus.subscribe(&service, "mirror", &filter).await.unwrap();
        for (i, expected) in messages.iter().enumerate().take(16) {
            let d = sub.next().await.unwrap().unwrap();
            assert_eq!(d.message.event_id, expected.event_id, "in order");
            let append = Mirror.handle(&d.message).await.unwrap().unwrap();
            store
                .append(append.with_inbox("mirror", d.message.event_id))
                .await
                .unwrap();
            if i < 15 {
                d.ack().await.unwrap();
            }
        }
    }
    // Second incarnation: the standard consumer loop.
    let task = tokio::spawn(consume(
        bus.clone(),
        store.clone(),
        service.clone(),
        "mirror".into(),
        filter.clone(),
        Arc::new(Mirror),
    ));
    let effects = wait_for_effects(&store, 40).await;
    task.abort();
    assert_eq!(effects.len(), 40, "no loss, no double effect");
    let ids: HashSet<_> = effects.into_iter().collect();
    assert_eq!(ids, messages.iter().map(|m| m.event_id).collect());
    service
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_outbox_survives_crashes() {
    let bus = jetstream().await;
    let service = outbox_survives_crashes(Arc::new(bus.clone())).await;
    bus.delete_stream(&service).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_consumer_restart_resumes_without_loss_or_double_effect() {
    let bus = jetstream().await;
    let service =
        consumer_restart_resumes_without_loss_or_double_effect(Arc::new(bus.clone())).await;
    bus.delete_stream(&service).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_outbox_survives_crashes() {
    outbox_survives_crashes(Arc::new(InProcessBus::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_consumer_restart_resumes_without_loss_or_double_effect() {
    consumer_restart_resumes_without_loss_or_double_effect(Arc::new(InProcessBus::new())).await;
}

/// Headers carry the envelope and the trace context across the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_message_round_trips_envelope() {
    let bus = jetstream().await;
    let service = unique_service();
    let m = BusMessage {
        subject: subject(&service, "SellingRightsRevoked"),
        event_id: new_event_id(),
        event_type: "SellingRightsRevoked".into(),
        schema_version: 2,
        shop_id: "shop-z".into(),
        stream_id: "shop-z".into(),
        global_position: 42,
        occurred_at: chrono::DateTime::from_timestamp_micros(1_767_225_600_123_456).unwrap(),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        payload: r#"{"a":1}"#.into(),
    };
    assert_eq!(
        m.subject,
        format!("sellerdesk.{service}.selling_rights_revoked")
    );
    bus.publish(std::slice::from_ref(&m)).await.unwrap();
    let mut sub = bus
        .subscribe(&service, "c", &format!("sellerdesk.{service}.>"))
        .await
        .unwrap();
    let d = sub.next().await.unwrap().unwrap();
    assert_eq!(d.message, m);
    assert_eq!(d.delivered, 1);
    d.ack().await.unwrap();
    bus.delete_stream(&service).await.unwrap();
}

/// R-X-4 (issue 15): two deployments sharing one NATS keep their streams,
/// subjects and consumers apart by namespace; the same service name in
/// both never crosses over, and a message keeps its own subject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_keep_deployments_apart_on_one_nats() {
    let service = unique_service();
    let (a_ns, b_ns) = (unique_service(), unique_service());
    let a = jetstream().await.with_namespace(&a_ns);
    let b = jetstream().await.with_namespace(&b_ns);
    let message = |shop: &str| BusMessage {
        subject: subject(&service, "SellingRightsRevoked"),
        event_id: new_event_id(),
        event_type: "SellingRightsRevoked".into(),
        schema_version: 1,
        shop_id: shop.into(),
        stream_id: shop.into(),
        global_position: 1,
        occurred_at: Utc::now(),
        traceparent: None,
        payload: r#"{"a":1}"#.into(),
    };
    let (from_a, from_b) = (message("shop-of-a"), message("shop-of-b"));
    a.publish(std::slice::from_ref(&from_a)).await.unwrap();
    b.publish(std::slice::from_ref(&from_b)).await.unwrap();
    let filter = format!("sellerdesk.{service}.>");
    for (bus, expected) in [(&a, &from_a), (&b, &from_b)] {
        let mut sub = bus.subscribe(&service, "c", &filter).await.unwrap();
        let d = sub.next().await.unwrap().unwrap();
        assert_eq!(
            &d.message, expected,
            "its own deployment's message, its own subject"
        );
        d.ack().await.unwrap();
        let nothing_more = tokio::time::timeout(Duration::from_millis(500), sub.next()).await;
        assert!(nothing_more.is_err(), "nothing of the other deployment");
    }
    a.delete_stream(&service).await.unwrap();
    b.delete_stream(&service).await.unwrap();
}

/// The [`Mirror`] effect, after `slow` on each of the first `slow_calls`
/// calls (a database away, a load that crawls), counting every call.
struct SlowMirror {
    slow: Duration,
    slow_calls: usize,
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl Handler for SlowMirror {
    async fn handle(&self, message: &BusMessage) -> Result<Option<Append>, String> {
        let call = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if call < self.slow_calls {
            tokio::time::sleep(self.slow).await;
        }
        Mirror.handle(message).await
    }
}

fn messages_of(service: &str, n: i64) -> Vec<BusMessage> {
    (0..n)
        .map(|n| {
            let e = upstream_event(n);
            BusMessage {
                subject: subject(service, &e.event_type),
                event_id: e.event_id,
                event_type: e.event_type,
                schema_version: 1,
                shop_id: e.shop_id,
                stream_id: "shop-a".into(),
                global_position: n + 1,
                occurred_at: e.occurred_at,
                traceparent: None,
                payload: e.payload.into(),
            }
        })
        .collect()
}

/// Runs the standard consumer loop over `n` messages with `handler` until
/// all their effects are in, and returns how many deliveries the server
/// made (its consumer sequence counts every delivery, a second one of a
/// message too; num_redelivered counts only those still unacknowledged).
async fn deliveries_for(bus: JetStreamBus, n: i64, handler: Arc<SlowMirror>) -> u64 {
    let service = unique_service();
    let dir = TempSqlite::new();
    let store = open(&dir.url("slow")).await.unwrap();
    bus.publish(&messages_of(&service, n)).await.unwrap();
    let task = tokio::spawn(consume(
        Arc::new(bus.clone()),
        store.clone(),
        service.clone(),
        "slow".into(),
        format!("sellerdesk.{service}.>"),
        handler.clone(),
    ));
    let effects = wait_for_effects(&store, n as usize).await;
    task.abort();
    assert_eq!(effects.len(), n as usize, "no loss, no double effect");
    let info = bus
        .ensure_stream(&service)
        .await
        .unwrap()
        .get_consumer::<async_nats::jetstream::consumer::pull::Config>("slow")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    bus.delete_stream(&service).await.unwrap();
    info.delivered.consumer_sequence
}

/// A consumer whose handler takes three ack waits keeps its delivery: it
/// tells the server it is still at work, so the message is not delivered
/// again meanwhile, to this replica or another (which would handle it too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_a_slow_handler_keeps_its_delivery() {
    let handler = Arc::new(SlowMirror {
        slow: Duration::from_secs(3),
        slow_calls: 1,
        calls: Default::default(),
    });
    // Ack wait 1 s.
    let deliveries = deliveries_for(jetstream().await, 1, handler).await;
    assert_eq!(deliveries, 1, "delivered again while its handler worked");
}

/// A backlog handled one message at a time is not delivered again while it
/// waits its turn: a pull brings only what the consumer handles well inside
/// the ack wait. Before, a pull of 1,000 left the tail of a backlog waiting
/// past it, and a chaos run's two ads replicas handled 3,358 deliveries of
/// 750 events; here 200 messages of 40 ms each (8 s) against a 5 s ack
/// wait were delivered 522 times with pulls of 1,000 (on a loaded machine).
/// A pull now asks for a quarter of the ack wait at the pace measured (31
/// messages at 40 ms), so its last message waits about 1.25 s however
/// loaded the machine is, once the pace is known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_a_backlog_is_not_delivered_again_while_it_waits() {
    let handler = Arc::new(SlowMirror {
        slow: Duration::from_millis(40),
        slow_calls: usize::MAX,
        calls: Default::default(),
    });
    let bus = jetstream().await.with_ack_wait(Duration::from_secs(5));
    let deliveries = deliveries_for(bus, 200, handler.clone()).await;
    assert_eq!(deliveries, 200, "the backlog was delivered again");
    assert_eq!(handler.calls.load(std::sync::atomic::Ordering::SeqCst), 200);
}

/// A quiet subscription keeps asking: each pull the server holds for a
/// while and then ends with a timeout, and the next goes out. Neither is
/// taken for a server that vanished (which would make the consumer
/// subscribe again every few seconds while nothing is published), and a
/// message published after several pulls ended arrives at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_a_quiet_subscription_hears_nothing_amiss_and_the_next_message() {
    let bus = jetstream().await;
    let service = unique_service();
    let mut sub = bus
        .subscribe(&service, "quiet", &format!("sellerdesk.{service}.>"))
        .await
        .unwrap();
    // Three pulls' worth of silence.
    let quiet = tokio::time::timeout(Duration::from_secs(10), sub.next()).await;
    assert!(quiet.is_err(), "a quiet subscription reported {quiet:?}");
    let m = messages_of(&service, 1);
    bus.publish(&m).await.unwrap();
    let d = tokio::time::timeout(Duration::from_secs(2), sub.next())
        .await
        .expect("the message came after the quiet pulls")
        .unwrap()
        .unwrap();
    assert_eq!(d.message, m[0]);
    d.ack().await.unwrap();
    bus.delete_stream(&service).await.unwrap();
}

/// A subscription to a fresh service's stream, the stream, and the name of
/// the durable consumer the subscription made on the server.
async fn subscribed(
    bus: &JetStreamBus,
    service: &str,
) -> (
    Box<dyn sellerdesk_bus::Subscription>,
    async_nats::jetstream::stream::Stream,
    String,
) {
    use futures::StreamExt;
    let sub = bus
        .subscribe(service, "deleted", &format!("sellerdesk.{service}.>"))
        .await
        .unwrap();
    let stream = bus.ensure_stream(service).await.unwrap();
    let names: Vec<String> = stream
        .consumer_names()
        .map(|name| name.unwrap())
        .collect()
        .await;
    assert_eq!(names.len(), 1, "{names:?}");
    (sub, stream, names[0].clone())
}

/// A consumer deleted on the server (by an operator, or lost with a
/// server's store) ends its subscription with `Gone`, so the consumer loop
/// subscribes again at once rather than after five failures in a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_a_subscription_whose_consumer_is_deleted_is_gone() {
    let bus = jetstream().await;
    let service = unique_service();
    let (mut sub, stream, consumer) = subscribed(&bus, &service).await;
    let next = tokio::spawn(async move { sub.next().await });
    // The pull is waiting on the server when its consumer goes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stream.delete_consumer(&consumer).await.unwrap();
    let told = tokio::time::timeout(Duration::from_secs(6), next)
        .await
        .expect("the subscription heard of it")
        .unwrap();
    assert!(
        matches!(told, Some(Err(sellerdesk_bus::BusError::Gone(_)))),
        "{told:?}"
    );
    bus.delete_stream(&service).await.unwrap();
}

/// A pull sent after its consumer was deleted goes to no one (the server
/// answers nothing, not even "no responders"): the subscription reports it
/// `Gone` once the pull has gone unanswered past the server's own expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_a_pull_for_a_deleted_consumer_is_gone() {
    let bus = jetstream().await;
    let service = unique_service();
    let (mut sub, stream, consumer) = subscribed(&bus, &service).await;
    stream.delete_consumer(&consumer).await.unwrap();
    let told = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("the subscription heard of it");
    assert!(
        matches!(told, Some(Err(sellerdesk_bus::BusError::Gone(_)))),
        "{told:?}"
    );
    bus.delete_stream(&service).await.unwrap();
}
