//! Pure fold throughput: `cargo bench -p compliance-svc --bench fold`.
//! Target (issue 4): >= 10,000,000 events/s.

use compliance_svc::{bench_support::history, domain::ShopState};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn fold(c: &mut Criterion) {
    let events = history(100_000);
    let mut g = c.benchmark_group("fold");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.sample_size(20);
    g.bench_function("100k events", |b| {
        // The service keeps the folded state; dropping it is not part of folding.
        b.iter_with_large_drop(|| {
            let mut s = ShopState::default();
            for (_, e) in &events {
                s.apply(e);
            }
            s
        })
    });
    g.finish();
}

criterion_group!(benches, fold);
criterion_main!(benches);
