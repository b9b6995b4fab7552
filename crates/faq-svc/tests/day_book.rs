//! The day book of the robot's interactions (R-FAQ-8, R-X-4): whatever the
//! window, the reader and however far the projector has got, its summary is
//! the fold of the interactions that reader sees in that window, on SQLite
//! and on PostgreSQL.

use chrono::{DateTime, Duration, Utc};
use faq_svc::{
    day_book::{self, Reader},
    domain::analytics::{self, Interaction, Window},
    store,
};
use sellerdesk_eventstore::{Append, EventStore, ExpectedVersion, Metadata, RecordedEvent};
use std::sync::Arc;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A small deterministic generator: the same interactions on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

const MERCHANTS: [&str; 3] = ["shop-a", "shop-b", "shop-c"];

/// Four days of help-centre interactions from three merchants, appended a
/// few at a time. Times mostly rise with the version, but some step back
/// (replicas' clocks), also across midnight.
async fn record(store: &Arc<dyn EventStore>) -> Vec<(String, DateTime<Utc>, Interaction)> {
    let mut rng = Lcg(7);
    let mut at = t("2026-03-01T20:00:00Z");
    let mut log = Vec::new();
    let stream = store::interactions_stream(store::HELP_CENTRE_KEY);
    while at < t("2026-03-05T04:00:00Z") {
        let mut events = Vec::new();
        for _ in 0..1 + rng.below(4) {
            at += Duration::seconds(30 + rng.below(900) as i64);
            // Clocks that disagree, one event in four by up to three
            // hours, so that a day's first and last versions hold some of
            // its neighbours' events.
            let behind = match rng.below(4) {
                0 => rng.below(3 * 3_600),
                _ => rng.below(120),
            };
            let skewed = at - Duration::seconds(behind as i64);
            let shop = MERCHANTS[rng.below(3) as usize];
            let entry_id = format!("e{}", rng.below(5));
            let query = ["钱怎么退", "退钱", "发票怎么开", "怎么开发票", "投放多久"]
                [rng.below(5) as usize]
                .to_owned();
            let interaction = match rng.below(3) {
                0 => Interaction::QuestionAutoAnswered {
                    query,
                    entry_id,
                    confidence: 0.8,
                    conversation_id: String::new(),
                },
                1 => Interaction::CardTapped {
                    entry_id,
                    conversation_id: String::new(),
                },
                _ => Interaction::QuestionMissed {
                    query,
                    best_entry_id: None,
                    confidence: 0.1,
                    conversation_id: String::new(),
                },
            };
            events.push(store::encode_interaction(
                shop,
                &interaction,
                skewed,
                &Metadata::default(),
            ));
            log.push((shop.to_owned(), skewed, interaction));
        }
        store
            .append(Append::new(stream.clone(), ExpectedVersion::Any, events))
            .await
            .unwrap();
    }
    log
}

/// Windows that hold whole days, cut days at either end, fall inside one
/// day, are open on either side, or hold nothing.
fn windows() -> Vec<Window> {
    let w = |from: Option<&str>, to: Option<&str>| Window {
        from: from.map(t),
        to: to.map(t),
    };
    vec![
        w(None, None),
        w(Some("2026-03-02T00:00:00Z"), Some("2026-03-04T00:00:00Z")),
        w(Some("2026-03-01T23:59:00Z"), Some("2026-03-04T00:01:00Z")),
        w(Some("2026-03-02T13:17:00Z"), Some("2026-03-04T09:00:00Z")),
        w(Some("2026-03-03T06:00:00Z"), Some("2026-03-03T18:00:00Z")),
        w(Some("2026-03-03T00:00:00Z"), None),
        w(None, Some("2026-03-02T12:00:00Z")),
        w(Some("2026-03-09T00:00:00Z"), None),
        w(Some("2026-03-03T00:00:00Z"), Some("2026-03-03T00:00:00Z")),
    ]
}

async fn check_every_window(
    store: &Arc<dyn EventStore>,
    log: &[(String, DateTime<Utc>, Interaction)],
    stage: &str,
) {
    let readers = [
        Reader::Everyone,
        Reader::Asker("shop-a"),
        Reader::Asker("shop-c"),
        Reader::Asker("shop-never-asked"),
    ];
    for reader in readers {
        let seen: Vec<(DateTime<Utc>, Interaction)> = log
            .iter()
            .filter(|(shop, _, _)| match reader {
                Reader::Everyone => true,
                Reader::Asker(a) => a == shop,
            })
            .map(|(_, at, i)| (*at, i.clone()))
            .collect();
        for window in windows() {
            let read = day_book::summary(store, store::HELP_CENTRE_KEY, reader, window)
                .await
                .unwrap();
            assert_eq!(
                read,
                analytics::summarise(&seen, window),
                "{stage}: {reader:?} over {window:?}"
            );
        }
    }
}

/// Projects the log after `from` in batches of `batch`, up to `until` events.
async fn project(
    store: &Arc<dyn EventStore>,
    from: i64,
    batch: i64,
    until: usize,
) -> (i64, Vec<RecordedEvent>) {
    let mut position = from;
    let mut handed = 0;
    let mut last_batch = Vec::new();
    while handed < until {
        let page = store
            .read_all(position, batch.min((until - handed) as i64))
            .await
            .unwrap();
        let Some(last) = page.last().map(|e| e.global_position) else {
            break;
        };
        handed += page.len();
        position = last;
        last_batch = page.clone();
        day_book::project(&**store, page).await.unwrap();
    }
    (position, last_batch)
}

async fn a_window_reads_the_same_however_far_the_book_has_got(store: Arc<dyn EventStore>) {
    let log = record(&store).await;
    assert!(log.len() > 300, "{} interactions", log.len());
    // What the cut days are read around: events of a day recorded after
    // one of the next day.
    let mut latest = log[0].1.date_naive();
    let mut behind_a_later_day = 0;
    for (_, at, _) in &log {
        if at.date_naive() < latest {
            behind_a_later_day += 1;
        }
        latest = latest.max(at.date_naive());
    }
    assert!(behind_a_later_day >= 3, "{behind_a_later_day}");

    check_every_window(&store, &log, "nothing projected").await;

    let (position, last_batch) = project(&store, 0, 37, log.len() * 2 / 5).await;
    check_every_window(&store, &log, "two fifths projected").await;

    // A batch handed over again (a crash before the checkpoint moved)
    // counts nothing twice.
    day_book::project(&*store, last_batch).await.unwrap();
    check_every_window(&store, &log, "a batch projected twice").await;

    project(&store, position, 500, usize::MAX).await;
    check_every_window(&store, &log, "all projected").await;
}

#[tokio::test]
async fn r_faq_8_the_day_book_on_sqlite_reads_as_the_whole_stream_does() {
    let db = sellerdesk_testkit::TempSqlite::new();
    let store = sellerdesk_eventstore::open(&db.url("faq")).await.unwrap();
    a_window_reads_the_same_however_far_the_book_has_got(store).await;
}

#[tokio::test]
async fn r_faq_8_the_day_book_on_postgres_reads_as_the_whole_stream_does() {
    let url = sellerdesk_testkit::fresh_postgres_url().await;
    let store = sellerdesk_eventstore::open(&url).await.unwrap();
    a_window_reads_the_same_however_far_the_book_has_got(store).await;
}

#[tokio::test]
async fn r_x_1_a_merchant_reads_only_their_own_questions_from_the_book() {
    let db = sellerdesk_testkit::TempSqlite::new();
    let store = sellerdesk_eventstore::open(&db.url("faq")).await.unwrap();
    let log = record(&store).await;
    project(&store, 0, 1000, usize::MAX).await;
    let all = Window::default();
    let everyone = day_book::summary(&store, store::HELP_CENTRE_KEY, Reader::Everyone, all)
        .await
        .unwrap();
    let mut per_merchant = 0;
    for m in MERCHANTS {
        let own = day_book::summary(&store, store::HELP_CENTRE_KEY, Reader::Asker(m), all)
            .await
            .unwrap();
        let rate = own.answer_rate();
        assert!(rate.questions + rate.card_taps > 0, "{m} asked nothing");
        per_merchant += rate.questions + rate.card_taps;
    }
    let rate = everyone.answer_rate();
    assert_eq!(per_merchant, rate.questions + rate.card_taps);
    assert_eq!(per_merchant as usize, log.len());
    let stranger = day_book::summary(&store, store::HELP_CENTRE_KEY, Reader::Asker("shop-z"), all)
        .await
        .unwrap();
    assert_eq!(stranger, analytics::Summary::default());
}
