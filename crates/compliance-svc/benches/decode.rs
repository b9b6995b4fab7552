//! Decoding stored events (the rebuild's per-event cost besides reading):
//! `cargo bench -p compliance-svc --bench decode`.

use chrono::DateTime;
use compliance_svc::{bench_support::history, store};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sellerdesk_eventstore::{Metadata, RecordedEvent};

fn decode(c: &mut Criterion) {
    let recorded: Vec<RecordedEvent> = history(100_000)
        .iter()
        .enumerate()
        .map(|(i, (at, e))| {
            let new = store::encode_shop_event("s", e, *at, &Metadata::default());
            RecordedEvent {
                global_position: i as i64 + 1,
                stream_id: store::shop_stream("s"),
                stream_version: i as i64 + 1,
                event_id: new.event_id,
                event_type: new.event_type,
                schema_version: new.schema_version,
                shop_id: new.shop_id,
                occurred_at: *at,
                recorded_at: DateTime::UNIX_EPOCH,
                metadata: new.metadata,
                payload: new.payload,
            }
        })
        .collect();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(recorded.len() as u64));
    g.sample_size(10);
    g.bench_function("100k stored events", |b| {
        b.iter_with_large_drop(|| {
            recorded
                .iter()
                .map(|e| store::decode_shop_event(e).unwrap())
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
