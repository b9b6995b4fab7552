//! The pure domain, given/when/then, one test per rule (R-FAQ-*).

use chrono::{DateTime, Duration, Utc};
use faq_svc::{
    domain::{
        analytics::{self, Interaction, Window},
        decide, Category, Command, DomainError, EntryContent, Event, Kb, KnowledgeBase, Limits,
    },
    matcher::Analyzer,
    presets,
};
use sellerdesk_core::testing;

/// The knowledge base after `events`, through the shared harness.
fn given(events: &[Event]) -> KnowledgeBase {
    testing::given_with::<Kb>(Limits::default(), events).state
}

/// What `command` does to `kb` (the shared harness's decision, unapplied).
fn then(kb: &KnowledgeBase, command: Command) -> Result<Vec<Event>, DomainError> {
    let mut g = testing::given_with::<Kb>(Limits::default(), &[]);
    g.state = kb.clone();
    g.when(&command).outcome
}

fn content(q: &str, a: &str) -> EntryContent {
    EntryContent {
        standard_question: q.into(),
        similar_questions: vec![],
        answer: a.into(),
        category: Category::PreSale,
        enabled: true,
    }
}

fn installed() -> Vec<Event> {
    then(
        &KnowledgeBase::default(),
        Command::InstallPresets {
            presets: presets::builtin(),
        },
    )
    .unwrap()
}

fn invalid_fields(r: Result<Vec<Event>, DomainError>) -> Vec<String> {
    match r {
        Err(DomainError::Invalid(fields)) => fields.into_iter().map(|(f, _)| f).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn r_faq_3_presets_cover_every_category_with_similar_questions() {
    let p = presets::builtin();
    assert!(p.entries.len() >= 40, "{} presets", p.entries.len());
    for c in Category::ALL {
        let n = p.entries.iter().filter(|e| e.content.category == c).count();
        assert!(n >= 3, "{c:?} has {n} presets");
    }
    for e in &p.entries {
        assert!(
            !e.content.similar_questions.is_empty(),
            "{} has no similar questions",
            e.key
        );
        assert!(validate_ok(&e.content), "{} is invalid", e.key);
    }
    for card in &p.cards {
        assert!(p.entry(card).is_some(), "card {card} is not a preset");
    }
}

fn validate_ok(c: &EntryContent) -> bool {
    faq_svc::domain::validate_content(c, &Limits::default(), "").is_empty()
}

#[test]
fn r_faq_3_a_new_shop_starts_with_the_presets_once() {
    let events = installed();
    let kb = given(&events);
    assert_eq!(kb.entries.len(), presets::builtin().entries.len());
    assert!(!kb.greeting.is_empty());
    assert!(!kb.cards.is_empty());
    assert_eq!(
        then(
            &kb,
            Command::InstallPresets {
                presets: presets::builtin()
            }
        )
        .unwrap(),
        vec![]
    );
}

#[test]
fn r_faq_3_editing_a_preset_changes_the_shop_copy_and_reset_restores_it() {
    let kb = given(&installed());
    let id = "preset-logistics-free".to_string();
    let mut edited = kb.entries[&id].content.clone();
    edited.answer = "全国包邮，港澳台除外。".into();
    let events = then(
        &kb,
        Command::EditEntry {
            id: id.clone(),
            content: edited.clone(),
        },
    )
    .unwrap();
    let mut all = installed();
    all.extend(events);
    let kb = given(&all);
    assert_eq!(kb.entries[&id].content.answer, "全国包邮，港澳台除外。");
    assert_eq!(
        kb.entries[&id].preset_key.as_deref(),
        Some("logistics-free")
    );
    // The platform's text is untouched.
    assert_ne!(
        presets::builtin()
            .entry("logistics-free")
            .unwrap()
            .content
            .answer,
        edited.answer
    );
    let reset = then(
        &kb,
        Command::ResetEntry {
            id: id.clone(),
            presets: presets::builtin(),
        },
    )
    .unwrap();
    all.extend(reset);
    let kb = given(&all);
    assert_eq!(
        kb.entries[&id].content,
        presets::builtin().entry("logistics-free").unwrap().content
    );
}

#[test]
fn r_faq_3_reset_of_a_shop_written_entry_is_refused() {
    let mut events = installed();
    events.push(Event::EntryCreated {
        entry: faq_svc::domain::Entry {
            id: "own".into(),
            content: content("自己的问题", "自己的答案"),
            preset_key: None,
            revision: 0,
        },
    });
    let kb = given(&events);
    assert_eq!(
        then(
            &kb,
            Command::ResetEntry {
                id: "own".into(),
                presets: presets::builtin()
            }
        ),
        Err(DomainError::NotAPreset("own".into()))
    );
}

#[test]
fn r_faq_1_entry_needs_question_and_answer_and_names_each_bad_field() {
    let kb = given(&installed());
    let mut bad = content(" ", "");
    bad.similar_questions = vec!["".into(), "同一个".into(), "同一个".into()];
    let fields = invalid_fields(then(
        &kb,
        Command::CreateEntry {
            id: "x".into(),
            content: bad,
        },
    ));
    assert!(
        fields.contains(&"content.standard_question".to_string()),
        "{fields:?}"
    );
    assert!(fields.contains(&"content.answer".to_string()), "{fields:?}");
    assert!(
        fields.contains(&"content.similar_questions[0]".to_string()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"content.similar_questions[2]".to_string()),
        "{fields:?}"
    );
}

#[test]
fn r_faq_1_creation_is_idempotent_by_id() {
    let kb = given(&installed());
    let c = content("可以刻字吗", "支持免费刻字。");
    let created = then(
        &kb,
        Command::CreateEntry {
            id: "engrave".into(),
            content: c.clone(),
        },
    )
    .unwrap();
    let mut all = installed();
    all.extend(created);
    let kb = given(&all);
    assert_eq!(
        then(
            &kb,
            Command::CreateEntry {
                id: "engrave".into(),
                content: c
            }
        )
        .unwrap(),
        vec![]
    );
    assert_eq!(
        then(
            &kb,
            Command::CreateEntry {
                id: "engrave".into(),
                content: content("别的", "别的")
            }
        ),
        Err(DomainError::EntryExists("engrave".into()))
    );
}

#[test]
fn r_faq_5_cards_are_ordered_limited_and_only_enabled_existing_entries() {
    let kb = given(&installed());
    let ids: Vec<String> = kb.entries.keys().take(3).cloned().collect();
    let reversed: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(
        then(
            &kb,
            Command::ArrangeCards {
                entry_ids: reversed.clone()
            }
        )
        .unwrap(),
        vec![Event::CardsArranged {
            entry_ids: reversed
        }]
    );
    let eleven: Vec<String> = kb.entries.keys().take(11).cloned().collect();
    assert_eq!(
        invalid_fields(then(&kb, Command::ArrangeCards { entry_ids: eleven })),
        vec!["entry_ids"]
    );
    let fields = invalid_fields(then(
        &kb,
        Command::ArrangeCards {
            entry_ids: vec![ids[0].clone(), "nope".into(), ids[0].clone()],
        },
    ));
    assert_eq!(fields, vec!["entry_ids[1]", "entry_ids[2]"]);
    // The limit is the operator's.
    let small = Limits {
        max_cards: 2,
        ..Limits::default()
    };
    assert!(decide(&kb, &Command::ArrangeCards { entry_ids: ids }, &small).is_err());
}

#[test]
fn r_faq_5_a_deleted_entry_leaves_the_cards_and_a_disabled_one_is_hidden() {
    let mut events = installed();
    let kb = given(&events);
    let first = kb.cards[0].clone();
    let second = kb.cards[1].clone();
    events.extend(then(&kb, Command::DeleteEntry { id: first.clone() }).unwrap());
    let kb = given(&events);
    assert!(!kb.cards.contains(&first));
    let mut disabled = kb.entries[&second].content.clone();
    disabled.enabled = false;
    events.extend(
        then(
            &kb,
            Command::EditEntry {
                id: second.clone(),
                content: disabled,
            },
        )
        .unwrap(),
    );
    let kb = given(&events);
    assert!(kb.cards.contains(&second));
    assert!(kb.visible_cards().iter().all(|e| e.id != second));
}

#[test]
fn r_faq_5_greeting_must_be_text_within_the_limit() {
    let kb = given(&installed());
    assert_eq!(
        invalid_fields(then(&kb, Command::SetGreeting { text: "  ".into() })),
        vec!["greeting"]
    );
    assert_eq!(
        invalid_fields(then(
            &kb,
            Command::SetGreeting {
                text: "好".repeat(501)
            }
        )),
        vec!["greeting"]
    );
    assert_eq!(
        then(
            &kb,
            Command::SetGreeting {
                text: "欢迎！".into()
            }
        )
        .unwrap(),
        vec![Event::GreetingSet {
            text: "欢迎！".into()
        }]
    );
}

#[test]
fn r_faq_7_threshold_is_within_zero_and_one() {
    let kb = given(&installed());
    for bad in [-0.1, 1.5, f64::NAN] {
        assert_eq!(
            invalid_fields(then(&kb, Command::SetThreshold { threshold: bad })),
            vec!["threshold"]
        );
    }
    let events = then(&kb, Command::SetThreshold { threshold: 0.8 }).unwrap();
    let mut all = installed();
    all.extend(events);
    assert_eq!(given(&all).threshold(), 0.8);
}

#[test]
fn r_faq_4_every_change_but_preset_installation_needs_a_manager() {
    assert!(!Command::InstallPresets {
        presets: presets::builtin()
    }
    .needs_manager());
    assert!(Command::SetGreeting { text: "x".into() }.needs_manager());
    assert!(Command::DeleteEntry { id: "x".into() }.needs_manager());
}

fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::minutes(minutes)
}

fn answered(q: &str, entry: &str) -> Interaction {
    Interaction::QuestionAutoAnswered {
        query: q.into(),
        entry_id: entry.into(),
        confidence: 0.9,
        conversation_id: String::new(),
    }
}

fn missed(q: &str) -> Interaction {
    Interaction::QuestionMissed {
        query: q.into(),
        best_entry_id: None,
        confidence: 0.0,
        conversation_id: String::new(),
    }
}

#[test]
fn r_faq_8_hits_and_answer_rate_over_a_half_open_window() {
    let log = vec![
        (at(0), answered("包邮吗", "a")),
        (at(1), answered("包邮不", "a")),
        (
            at(2),
            Interaction::CardTapped {
                entry_id: "b".into(),
                conversation_id: String::new(),
            },
        ),
        (at(3), missed("能刻字吗")),
        (at(10), answered("包邮吗", "a")),
    ];
    let w = Window {
        from: Some(at(0)),
        to: Some(at(10)),
    };
    let hits = analytics::entry_hits(&log, w);
    assert_eq!(hits["a"].auto_answers, 2);
    assert_eq!(hits["b"].card_taps, 1);
    let rate = analytics::answer_rate(&log, w);
    assert_eq!(
        (
            rate.questions,
            rate.auto_answered,
            rate.missed,
            rate.card_taps
        ),
        (3, 2, 1, 1)
    );
    assert!((rate.rate - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(analytics::answer_rate(&log, Window::default()).questions, 4);
}

#[test]
fn r_faq_8_unanswered_questions_are_grouped_when_near_duplicates() {
    let analyzer = Analyzer::new();
    let log = vec![
        (at(0), missed("可以刻字吗")),
        (at(1), missed("可以刻字吗？")),
        (at(2), missed("可以刻字么")),
        (at(3), missed("支持货到付款吗")),
        (at(4), missed("可以刻字吗")),
        (at(5), missed("支持货到付款不")),
        (at(6), missed("你们老板是谁")),
    ];
    let groups =
        analytics::unanswered_groups(&log, Window::default(), |q| analyzer.canonical_text(q), 10);
    assert_eq!(groups.len(), 3, "{groups:#?}");
    assert_eq!(groups[0].count, 4);
    assert_eq!(groups[0].representative, "可以刻字吗");
    assert_eq!(groups[1].count, 2);
    assert_eq!(groups[2].count, 1);
    let limited = analytics::unanswered_groups(
        &log,
        Window {
            from: Some(at(3)),
            to: None,
        },
        |q| analyzer.canonical_text(q),
        1,
    );
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].count, 2);
}

#[test]
fn r_faq_8_a_flood_of_distinct_misses_keeps_the_most_asked_wordings_and_every_count() {
    // Every tenth question is the same; the others are all different, far
    // more of them than a summary keeps.
    let flood = analytics::MAX_WORDINGS * 3;
    let log: Vec<(chrono::DateTime<chrono::Utc>, Interaction)> = (0..flood)
        .map(|i| {
            let q = if i % 10 == 0 {
                "能开专票吗".to_owned()
            } else {
                format!("随机问题{i}")
            };
            (at(i as i64 % 50), missed(&q))
        })
        .collect();
    let summary = analytics::summarise(&log, Window::default());
    assert_eq!(summary.missed, flood as u64);
    assert_eq!(summary.missed_wordings.len(), analytics::MAX_WORDINGS);
    assert!(summary.missed_wordings["能开专票吗"].count >= (flood / 10) as u64);

    // Two halves, each at the bound, merge within it and keep the wording.
    let (a, b) = log.split_at(flood / 2);
    let mut merged = analytics::summarise(a, Window::default());
    merged.merge(&analytics::summarise(b, Window::default()));
    assert_eq!(merged.missed, flood as u64);
    assert_eq!(merged.missed_wordings.len(), analytics::MAX_WORDINGS);
    assert!(merged.missed_wordings["能开专票吗"].count >= (flood / 10) as u64);
}
