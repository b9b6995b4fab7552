//! Application-level tests against real stores (SQLite and PostgreSQL):
//! rebuild equals live, the scheduler announces expiry and survives restarts,
//! snapshots and as-of agree with full replay (property tests).

use chrono::{DateTime, Duration, Utc};
use compliance_svc::{
    app::Compliance,
    domain::{AppealOutcome, Command, Event, PolicyHistory, ShopState},
    store,
};
use proptest::prelude::*;
use sellerdesk_eventstore::{
    hooked::{Hooked, Hooks},
    open, DocumentQuery, EventStore, Metadata,
};
use sellerdesk_runtime::ManualClock;
use sellerdesk_testkit::{fresh_postgres_url, TempSqlite};
use std::sync::Arc;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn record(id: &str, points: u32) -> impl Fn(DateTime<Utc>) -> Command + '_ {
    move |at| Command::RecordViolation {
        violation_id: id.into(),
        violation_type: String::new(),
        points: Some(points),
        evidence: String::new(),
        at,
    }
}

/// A replica; the one holding the timekeeper lease calls `tick`.
async fn open_app(store: &Arc<dyn EventStore>, clock: &ManualClock) -> Arc<Compliance> {
    Compliance::open(store.clone(), Arc::new(clock.clone()), 10_000)
        .await
        .unwrap()
}

/// The whole schedule, in due order: (shop, due, version, body).
async fn schedule(store: &Arc<dyn EventStore>) -> Vec<(String, i64, i64, String)> {
    let docs = store
        .search_documents(&DocumentQuery {
            index: store::DUE_INDEX.into(),
            shop_id: store::DUE_OWNER.into(),
            oldest_first: true,
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    docs.into_iter()
        .map(|d| (d.doc_id, d.starts_at, d.version, d.body))
        .collect()
}

/// A small shop history over a year, several shops.
async fn populate(app: &Compliance, clock: &ManualClock) {
    for (i, shop) in ["s1", "s2", "s3"].iter().enumerate() {
        for k in 0..6u32 {
            clock.set(t0() + Duration::days(i64::from(k) * 40 + i as i64));
            app.execute(
                shop,
                Metadata::default(),
                record(&format!("v{k}"), 5 + k + i as u32),
            )
            .await
            .unwrap();
        }
        app.execute(shop, Metadata::default(), |at| Command::FileAppeal {
            violation_id: "v5".into(),
            reason: String::new(),
            attachments: vec![],
            at,
        })
        .await
        .unwrap();
        app.execute(shop, Metadata::default(), |at| Command::DecideAppeal {
            violation_id: "v5".into(),
            outcome: Some(AppealOutcome::Granted),
            note: String::new(),
            at,
        })
        .await
        .unwrap();
    }
}

async fn rebuild_equals_live(store: Arc<dyn EventStore>) {
    let clock = ManualClock::new(t0());
    let live = open_app(&store, &clock).await;
    populate(&live, &clock).await;
    let probes = [
        t0() + Duration::days(10),
        t0() + Duration::days(150),
        t0() + Duration::days(400),
    ];
    let mut before = Vec::new();
    for shop in ["s1", "s2", "s3"] {
        for at in probes {
            before.push(live.standing(shop, Some(at)).await.unwrap());
        }
    }
    live.project_pending().await.unwrap();
    let schedule_before = schedule(&store).await;
    assert_eq!(schedule_before.len(), 3);

    let replayed = Compliance::rebuild(&store).await.unwrap();
    assert_eq!(replayed.events as i64, store.head().await.unwrap());
    assert_eq!(
        schedule_before,
        schedule(&store).await,
        "rebuilt read model equals the live one"
    );

    let rebuilt = open_app(&store, &clock).await;
    let mut after = Vec::new();
    for shop in ["s1", "s2", "s3"] {
        for at in probes {
            after.push(rebuilt.standing(shop, Some(at)).await.unwrap());
        }
    }
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_cmp_10_rebuild_equals_live_sqlite() {
    let dir = TempSqlite::new();
    rebuild_equals_live(open(&dir.url("c")).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_cmp_10_rebuild_equals_live_postgres() {
    rebuild_equals_live(open(&fresh_postgres_url().await).await.unwrap()).await;
}

/// Expiry changes the tier with no command; the scheduler announces it, also
/// after a restart that happened while it was due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_tier_change_is_announced_and_survives_restart() {
    let dir = TempSqlite::new();
    let store = open(&dir.url("c")).await.unwrap();
    let clock = ManualClock::new(t0());
    let app = open_app(&store, &clock).await;
    app.execute("s", Metadata::default(), record("v", 12))
        .await
        .unwrap();
    clock.set(t0() + Duration::days(100));
    assert_eq!(app.tick().await.unwrap(), 0, "nothing due yet");
    // The process dies before its projector wrote any read model.
    drop(app);
    // Down over the expiry instant; a new process picks it up from the read model.
    clock.set(t0() + Duration::days(200));
    let app = open_app(&store, &clock).await;
    assert_eq!(app.tick().await.unwrap(), 1);
    let events = store
        .read_stream(&store::shop_stream("s"), 0, 100)
        .await
        .unwrap();
    let last = store::decode_shop_event(events.last().unwrap()).unwrap();
    match last {
        Event::TierChanged {
            from: 1,
            to: 0,
            effective_at,
            ..
        } => assert_eq!(effective_at, t0() + Duration::days(180)),
        other => panic!("{other:?}"),
    }
    assert_eq!(app.tick().await.unwrap(), 0, "announced once");
}

/// The schedule is a read model, not the timekeeper's memory: a replica that
/// never kept time writes, a fresh one that took the lease announces every
/// due shop, several pages of them, once each, and moves the ones with
/// nothing to announce to their next change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_cmp_2_the_timekeeper_announces_from_the_schedule_page_by_page() {
    let dir = TempSqlite::new();
    let store = open(&dir.url("c")).await.unwrap();
    let clock = ManualClock::new(t0());
    let writer = open_app(&store, &clock).await;
    // 600 shops at tier 1 (12 points), 5 at tier 0 (1 point): both expire
    // on day 180, only the first change tier.
    let shops: Vec<String> = (0..605).map(|i| format!("s{i:03}")).collect();
    for (i, shop) in shops.iter().enumerate() {
        let points = if i < 600 { 12 } else { 1 };
        writer
            .execute(shop, Metadata::default(), record("v", points))
            .await
            .unwrap();
    }
    drop(writer);
    let keeper = open_app(&store, &clock).await;
    clock.set(t0() + Duration::days(179));
    assert_eq!(keeper.tick().await.unwrap(), 0, "nothing due yet");
    let expiry = (t0() + Duration::days(180)).timestamp_millis();
    assert!(schedule(&store)
        .await
        .iter()
        .all(|(_, due, _, _)| *due == expiry));

    clock.set(t0() + Duration::days(181));
    assert_eq!(
        keeper.tick().await.unwrap(),
        600,
        "one announcement per tier-1 shop"
    );
    assert_eq!(keeper.tick().await.unwrap(), 0, "announced once");
    let after = schedule(&store).await;
    assert_eq!(after.len(), 605);
    assert!(
        after.iter().all(|(_, due, _, _)| *due == i64::MAX),
        "nothing left to change for any shop"
    );
    for (i, shop) in shops.iter().enumerate() {
        let events = store
            .read_stream(&store::shop_stream(shop), 0, 10)
            .await
            .unwrap();
        let tier_changes = events
            .iter()
            .filter(|e| e.event_type == "TierChanged")
            .count();
        let expected = if i < 600 { 2 } else { 0 };
        assert_eq!(
            tier_changes, expected,
            "{shop}: to tier 1 and back, or never"
        );
    }
}

/// A database written before the schedule existed (decision 0020): its
/// projector's checkpoint is at the head and each shop has a summary
/// snapshot instead of an entry. The timekeeper adopts the summaries once,
/// so the expiry is still announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_cmp_2_summaries_of_an_older_release_become_the_schedule() {
    let dir = TempSqlite::new();
    let store = open(&dir.url("c")).await.unwrap();
    let clock = ManualClock::new(t0());
    let old = open_app(&store, &clock).await;
    old.execute("s", Metadata::default(), record("v", 12))
        .await
        .unwrap();
    drop(old);
    store
        .save_checkpoint("compliance-read-models", store.head().await.unwrap())
        .await
        .unwrap();
    let summary = store::ShopSummary {
        shop: "s".into(),
        points: 12,
        tier: 1,
        revoked: false,
        announced_tier: 1,
        // The measure's end, as the older release computed it.
        next_change_at: Some(t0() + Duration::days(7)),
        violations: 1,
    };
    store
        .save_snapshots(&[sellerdesk_eventstore::Snapshot {
            key: format!("{}s", store::OLD_SUMMARY_PREFIX),
            version: 2,
            position: store.head().await.unwrap(),
            body: serde_json::to_string(&summary).unwrap(),
        }])
        .await
        .unwrap();

    let keeper = open_app(&store, &clock).await;
    assert_eq!(keeper.adopt_old_summaries().await.unwrap(), 1);
    assert_eq!(keeper.adopt_old_summaries().await.unwrap(), 0, "once");
    assert!(store
        .load_snapshots(store::OLD_SUMMARY_PREFIX)
        .await
        .unwrap()
        .is_empty());
    clock.set(t0() + Duration::days(181));
    assert_eq!(keeper.tick().await.unwrap(), 1, "the expiry to tier 0");
    assert_eq!(keeper.tick().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_replica_catches_up_on_conflict() {
    let url = fresh_postgres_url().await;
    let clock = ManualClock::new(t0());
    let a = open_app(&open(&url).await.unwrap(), &clock).await;
    let b = open_app(&open(&url).await.unwrap(), &clock).await;
    a.execute("s", Metadata::default(), record("v1", 10))
        .await
        .unwrap();
    b.execute("s", Metadata::default(), record("v1", 10))
        .await
        .unwrap(); // b loads, sees v1: idempotent
    b.execute("s", Metadata::default(), record("v2", 10))
        .await
        .unwrap();
    // a's cache is stale (version 2 vs 3+): the append conflicts, a catches up and decides again.
    let out = a
        .execute("s", Metadata::default(), record("v3", 10))
        .await
        .unwrap();
    assert_eq!(
        out.state.standing(out.at, &PolicyHistory::default()).points,
        30
    );
}

/// R-X-4 (issue 15, item 1): a violation recorded through one replica is in
/// the next read through another, which had the shop cached already; so is
/// a policy published through the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_x_4_a_read_on_any_replica_sees_every_acknowledged_write() {
    let url = fresh_postgres_url().await;
    let clock = ManualClock::new(t0());
    let a = open_app(&open(&url).await.unwrap(), &clock).await;
    let b = open_app(&open(&url).await.unwrap(), &clock).await;
    a.execute("s", Metadata::default(), record("v1", 10))
        .await
        .unwrap();
    assert_eq!(b.standing("s", None).await.unwrap().points, 10);
    // b has the shop cached now; a writes again.
    a.execute("s", Metadata::default(), record("v2", 5))
        .await
        .unwrap();
    assert_eq!(b.standing("s", None).await.unwrap().points, 15);
    let mut policy = PolicyHistory::default().latest().clone();
    policy.effective_at = t0();
    policy.tiers[0].threshold_points = 16;
    a.publish_policy(policy, Metadata::default()).await.unwrap();
    let s = b.standing("s", None).await.unwrap();
    assert_eq!((s.points, s.tier, s.policy_version), (15, 0, 2));
}

/// R-X-4 (issue 15, item 4): a replica holds at most its configured number
/// of shops; an evicted shop comes back from its log with the same answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_x_4_the_shop_cache_is_bounded_and_evicted_shops_come_back_whole() {
    let dir = TempSqlite::new();
    let store = open(&dir.url("c")).await.unwrap();
    let clock = ManualClock::new(t0());
    let app = Compliance::open(store.clone(), Arc::new(clock.clone()), 20)
        .await
        .unwrap();
    for shop in 0..200u32 {
        for k in 0..3u32 {
            app.execute(
                &format!("s{shop}"),
                Metadata::default(),
                record(&format!("v{k}"), 1 + shop % 7 + k),
            )
            .await
            .unwrap();
        }
        assert!(
            app.cached_shops() <= 20,
            "{} shops held",
            app.cached_shops()
        );
    }
    for shop in [0u32, 57, 199] {
        let s = app.standing(&format!("s{shop}"), None).await.unwrap();
        assert_eq!(s.points, 3 * (1 + shop % 7) + 3, "shop {shop}");
        let earlier = app
            .standing(&format!("s{shop}"), Some(t0() - Duration::days(1)))
            .await
            .unwrap();
        assert_eq!(earlier.points, 0);
    }
    assert!(app.cached_shops() <= 20);
}

#[derive(Debug, Clone)]
enum Op {
    Record(u32),
    Appeal(usize),
    Decide(usize, bool),
}

fn op() -> impl Strategy<Value = (Op, u32)> {
    let o = prop_oneof![
        (1u32..=30).prop_map(Op::Record),
        (0usize..10).prop_map(Op::Appeal),
        ((0usize..10), any::<bool>()).prop_map(|(i, g)| Op::Decide(i, g)),
    ];
    // Gaps in hours, up to ~100 days, so expiry, windows and revocation all occur.
    (o, 0u32..2400)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// snapshot + tail == full replay, and as_of(T) from the full log == replay
    /// of the log cut at T (R-CMP-10).
    #[test]
    fn snapshots_and_as_of_agree_with_full_replay(ops in proptest::collection::vec(op(), 1..60), cut in 0usize..60, probe in 0u32..30_000) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let dir = TempSqlite::new();
            let store = open(&dir.url("c")).await.unwrap();
            let clock = ManualClock::new(t0());
            let app = open_app(&store, &clock).await;
            let mut now = t0();
            let mut recorded = 0usize;
            for (o, gap) in &ops {
                now += Duration::hours(i64::from(*gap));
                clock.set(now);
                let id = |i: usize| format!("v{}", i % recorded.max(1));
                let _ = match o {
                    Op::Record(p) => { recorded += 1; app.execute("s", Metadata::default(), record(&format!("v{}", recorded - 1), *p)).await }
                    Op::Appeal(i) => app.execute("s", Metadata::default(), |at| Command::FileAppeal { violation_id: id(*i), reason: String::new(), attachments: vec![], at }).await,
                    Op::Decide(i, g) => app.execute("s", Metadata::default(), |at| Command::DecideAppeal { violation_id: id(*i), outcome: Some(if *g { AppealOutcome::Granted } else { AppealOutcome::Rejected }), note: String::new(), at }).await,
                };
            }
            let policies = PolicyHistory::default();
            let log = store.read_stream(&store::shop_stream("s"), 0, 10_000).await.unwrap();
            let events: Vec<(DateTime<Utc>, Event)> = log.iter().map(|e| (e.occurred_at, store::decode_shop_event(e).unwrap())).collect();
            let mut full = ShopState::default();
            for (_, e) in &events { full.apply(e); }

            // Snapshot (through its JSON form) at any point + the tail == full replay.
            let k = cut.min(events.len());
            let mut head = ShopState::default();
            for (_, e) in &events[..k] { head.apply(e); }
            let mut resumed: ShopState = serde_json::from_str(&serde_json::to_string(&head).unwrap()).unwrap();
            for (_, e) in &events[k..] { resumed.apply(e); }
            assert_eq!(resumed, full);

            // as_of(T) through the service == fold of the log cut at T.
            let at = t0() + Duration::hours(i64::from(probe) * 4);
            let mut cut_state = ShopState::default();
            for (t, e) in &events { if *t <= at { cut_state.apply(e); } }
            let expected = cut_state.standing(at, &policies);
            let actual = app.standing("s", Some(at)).await.unwrap();
            assert_eq!(actual, expected);
        });
    }
}

/// Appends to the chosen stream fail while the switch is on.
#[derive(Debug, Default)]
struct FailingStream(std::sync::Mutex<Option<String>>);

#[async_trait::async_trait]
impl Hooks for FailingStream {
    async fn before_append(
        &self,
        append: &sellerdesk_eventstore::Append,
    ) -> Result<(), sellerdesk_eventstore::AppendError> {
        if self.0.lock().unwrap().as_deref() == Some(append.stream_id.as_str()) {
            return Err(
                sellerdesk_eventstore::StoreError::Config("injected failure".into()).into(),
            );
        }
        Ok(())
    }
}

/// One shop failing to announce must not cost the other due shops their
/// announcement, and the failed one is tried again on the next tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_shop_does_not_drop_other_due_announcements() {
    let dir = TempSqlite::new();
    let failing = Arc::new(FailingStream::default());
    let store: Arc<dyn EventStore> = Arc::new(Hooked::new(
        open(&dir.url("c")).await.unwrap(),
        failing.clone(),
    ));
    let clock = ManualClock::new(t0());
    let app = open_app(&store, &clock).await;
    for shop in ["a", "b", "c"] {
        app.execute(shop, Metadata::default(), record("v", 12))
            .await
            .unwrap();
    }
    clock.set(t0() + Duration::days(200));
    *failing.0.lock().unwrap() = Some(store::shop_stream("b"));
    assert!(app.tick().await.is_err(), "the failure is reported");
    let announced = |shop: &'static str| {
        let store = store.clone();
        async move {
            let events = store
                .read_stream(&store::shop_stream(shop), 0, 100)
                .await
                .unwrap();
            events
                .iter()
                .filter(|e| e.event_type == "TierChanged")
                .count()
        }
    };
    assert_eq!(
        announced("a").await,
        2,
        "recorded at tier 1, then expiry to tier 0"
    );
    assert_eq!(announced("c").await, 2);
    assert_eq!(announced("b").await, 1, "b's expiry announcement failed");
    *failing.0.lock().unwrap() = None;
    assert_eq!(
        app.tick().await.unwrap(),
        1,
        "b is still due and announced now"
    );
    assert_eq!(announced("b").await, 2);
}

/// R-CMP-5, R-CMP-13: a policy published after a shop's last write moves its
/// tier when it takes effect. The entry the schedule holds for the shop was
/// written before the policy existed; the timekeeper, another replica than
/// the one that published, still announces the change at that moment, once,
/// named for the policy. A shop whose tier the policy leaves alone gets no
/// announcement.
async fn a_policy_is_announced_when_it_takes_effect(store: Arc<dyn EventStore>) {
    let clock = ManualClock::new(t0());
    let writer = open_app(&store, &clock).await;
    for (shop, points) in [("ten", 10), ("one", 1)] {
        writer
            .execute(shop, Metadata::default(), record("v", points))
            .await
            .unwrap();
    }
    let keeper = open_app(&store, &clock).await;
    assert_eq!(keeper.tick().await.unwrap(), 0);
    let takes_effect = t0() + Duration::days(10);
    let mut policy = PolicyHistory::default().latest().clone();
    policy.effective_at = takes_effect;
    policy.tiers[0].threshold_points = 10;
    writer
        .publish_policy(policy, Metadata::default())
        .await
        .unwrap();

    clock.set(takes_effect - Duration::seconds(1));
    assert_eq!(keeper.tick().await.unwrap(), 0, "not in force yet");
    clock.set(takes_effect + Duration::seconds(1));
    assert_eq!(keeper.tick().await.unwrap(), 1, "one shop moved tier");
    assert_eq!(keeper.tick().await.unwrap(), 0, "announced once");

    let events = store
        .read_stream(&store::shop_stream("ten"), 0, 10)
        .await
        .unwrap();
    match store::decode_shop_event(events.last().unwrap()).unwrap() {
        Event::TierChanged {
            from: 0,
            to: 1,
            reason,
            effective_at,
            measures_applied,
            ..
        } => {
            assert_eq!(reason, compliance_svc::domain::TierChangeReason::Policy);
            assert_eq!(effective_at, takes_effect);
            assert!(!measures_applied.is_empty(), "tier 1's measures apply");
        }
        other => panic!("{other:?}"),
    }
    let one = store
        .read_stream(&store::shop_stream("one"), 0, 10)
        .await
        .unwrap();
    assert_eq!(one.len(), 1, "nothing to announce for 1 point");
    let due: Vec<(String, i64)> = schedule(&store)
        .await
        .into_iter()
        .map(|(shop, due, _, _)| (shop, due))
        .collect();
    assert_eq!(
        due,
        [
            // restrict_marketing lasts 7 days, then the points expire.
            (
                "ten".into(),
                (takes_effect + Duration::days(7)).timestamp_millis()
            ),
            (
                "one".into(),
                (t0() + Duration::days(180)).timestamp_millis()
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_cmp_5_a_policy_is_announced_when_it_takes_effect_sqlite() {
    let dir = TempSqlite::new();
    a_policy_is_announced_when_it_takes_effect(open(&dir.url("c")).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_cmp_5_a_policy_is_announced_when_it_takes_effect_postgres() {
    a_policy_is_announced_when_it_takes_effect(open(&fresh_postgres_url().await).await.unwrap())
        .await;
}
