//! chat-svc over real gRPC, with a real faq-svc as its robot: robot first and
//! handover (R-CHAT-6..8), permissions (R-CHAT-3, R-X-1), live inboxes and
//! resume (R-CHAT-5), service hours across a restart (R-CHAT-9), quick
//! phrases (R-CHAT-10), figures (R-CHAT-11), faq-svc down, PostgreSQL, the bus.

use chat_svc::{app::Chat, domain::Limits, Settings};
use chrono::{DateTime, Duration as Span, Utc};
use futures::StreamExt;
use sellerdesk_api::chat::v1::{self as pb, chat_service_client::ChatServiceClient};
use sellerdesk_bus::{EventBus, InProcessBus};
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{auth::Claims, server::Running, ManualClock, Role, TokenSigner};
use std::{sync::Arc, time::Duration};
use tonic::{transport::Channel, Code, Request};
use tonic_types::StatusExt;

const SHOP: &str = "shop-a";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Monday 2026-03-02 10:00 in Shanghai.
fn t0() -> DateTime<Utc> {
    t("2026-03-02T02:00:00Z")
}

async fn sqlite(dir: &tempfile::TempDir, name: &str) -> Arc<dyn EventStore> {
    sellerdesk_eventstore::open(&format!(
        "sqlite://{}",
        dir.path().join(format!("{name}.db")).display()
    ))
    .await
    .unwrap()
}

/// faq-svc on port 0, as chat-svc's robot.
async fn spawn_faq(store: Arc<dyn EventStore>, signer: &TokenSigner) -> Running {
    faq_svc::Application::spawn_local(faq_svc::Settings {
        store,
        bus: Arc::new(InProcessBus::new()),
        durable_bus: false,
        clock: Arc::new(ManualClock::new(t0())),
        verifier: signer.verifier(),
        request_timeout: Duration::from_secs(10),
        limits: faq_svc::domain::Limits::default(),
        follow_other_writers: false,
        cache_shops: 100,
        sentence_model: faq_svc::sentence::ModelSource::Off,
        sentence_share: 1.0,
    })
    .await
    .unwrap()
}

/// A test replica's settings: time is driven by the test (no scheduler).
fn chat_settings(
    store: Arc<dyn EventStore>,
    clock: &ManualClock,
    faq_endpoint: String,
    cache_shops: usize,
    signer: &TokenSigner,
    bus: Arc<InProcessBus>,
) -> Settings {
    Settings {
        store,
        bus,
        durable_bus: false,
        clock: Arc::new(clock.clone()),
        verifier: signer.verifier(),
        request_timeout: Duration::from_secs(10),
        limits: Limits::default(),
        faq_endpoint,
        robot_timeout: Duration::from_millis(500),
        run_scheduler: false,
        cache_shops,
        // Searches go through the lines' pairs (decision 0017); the scan
        // they fall back to is compared with them in `archive`'s tests.
        line_pairs: chat_svc::archive::LinePairs::Written,
    }
}

struct TestApp {
    client: ChatServiceClient<Channel>,
    signer: TokenSigner,
    clock: ManualClock,
    chat: Arc<Chat>,
    bus: Arc<InProcessBus>,
    service: Running,
}

async fn spawn_chat(
    store: Arc<dyn EventStore>,
    faq_endpoint: String,
    clock: ManualClock,
) -> TestApp {
    spawn_chat_as(store, faq_endpoint, clock, false).await
}

/// A chat replica; `by_shop`: one of several that each own some shops.
async fn spawn_chat_as(
    store: Arc<dyn EventStore>,
    faq_endpoint: String,
    clock: ManualClock,
    by_shop: bool,
) -> TestApp {
    let signer = TokenSigner::new("test");
    let bus = Arc::new(InProcessBus::new());
    let settings = chat_settings(store, &clock, faq_endpoint, 10_000, &signer, bus.clone());
    let (service, chat) = if by_shop {
        chat_svc::spawn_replica(settings).await
    } else {
        chat_svc::spawn_local(settings).await
    }
    .unwrap();
    let channel = Channel::from_shared(service.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    TestApp {
        client: ChatServiceClient::new(channel),
        signer,
        clock,
        chat,
        bus,
        service,
    }
}

impl TestApp {
    fn req<T>(&self, shop: &str, role: Role, account: &str, msg: T) -> Request<T> {
        let token = self.signer.mint(&Claims {
            shop: if role == Role::Platform {
                String::new()
            } else {
                shop.into()
            },
            sub: account.into(),
            role,
            exp: 4_000_000_000,
        });
        let mut r = Request::new(msg);
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        r
    }

    fn owner<T>(&self, msg: T) -> Request<T> {
        self.req(SHOP, Role::Owner, "owner", msg)
    }

    fn gateway<T>(&self, msg: T) -> Request<T> {
        self.req(SHOP, Role::Platform, "gateway", msg)
    }

    fn agent<T>(&self, id: &str, msg: T) -> Request<T> {
        self.req(SHOP, Role::Agent, id, msg)
    }

    /// Agent `a1` added to `shop` by its owner (the shop named only in the token).
    async fn add_agent_a1(&mut self, shop: &str) {
        let add = self.req(
            shop,
            Role::Owner,
            "owner",
            pb::AddAgentRequest {
                agent_id: "a1".into(),
                name: "客服a1".into(),
                phone: "13800000001".into(),
                role: pb::ServiceRole::Both as i32,
                ..Default::default()
            },
        );
        self.client.add_agent(add).await.unwrap();
    }

    /// An agent, verified and online.
    async fn online_agent(&mut self, id: &str, role: pb::ServiceRole, phone: &str) {
        let add = self.owner(pb::AddAgentRequest {
            agent_id: id.into(),
            name: format!("客服{id}"),
            phone: phone.into(),
            role: role as i32,
            permissions: Some(pb::Permissions {
                reply: true,
                ..Default::default()
            }),
            ..Default::default()
        });
        self.client.add_agent(add).await.unwrap();
        let verify = self.gateway(pb::VerifyAgentRealNameRequest {
            shop_id: SHOP.into(),
            agent_id: id.into(),
        });
        self.client.verify_agent_real_name(verify).await.unwrap();
        let online = self.agent(
            id,
            pb::SetAgentStatusRequest {
                status: pb::AgentStatus::Online as i32,
                ..Default::default()
            },
        );
        self.client.set_agent_status(online).await.unwrap();
    }

    async fn open(&mut self, conversation: &str) -> pb::OpenConversationResponse {
        let r = self.gateway(pb::OpenConversationRequest {
            shop_id: SHOP.into(),
            conversation_id: conversation.into(),
            buyer_id: format!("buyer-{conversation}"),
            buyer_name: "小王".into(),
            ..Default::default()
        });
        self.client.open_conversation(r).await.unwrap().into_inner()
    }

    async fn buyer(
        &mut self,
        conversation: &str,
        message: &str,
        text: &str,
    ) -> pb::SendBuyerMessageResponse {
        let r = self.gateway(pb::SendBuyerMessageRequest {
            shop_id: SHOP.into(),
            conversation_id: conversation.into(),
            message_id: message.into(),
            text: text.into(),
            attachment: None,
        });
        self.client
            .send_buyer_message(r)
            .await
            .unwrap()
            .into_inner()
    }

    async fn reply(
        &mut self,
        agent: &str,
        conversation: &str,
        message: &str,
    ) -> Result<pb::SendAgentReplyResponse, tonic::Status> {
        let r = self.agent(
            agent,
            pb::SendAgentReplyRequest {
                shop_id: String::new(),
                conversation_id: conversation.into(),
                message_id: message.into(),
                text: "亲，在的".into(),
                attachment: None,
            },
        );
        self.client
            .send_agent_reply(r)
            .await
            .map(|r| r.into_inner())
    }

    /// An agent closes a conversation.
    async fn close(&mut self, agent: &str, conversation: &str) {
        let r = self.agent(
            agent,
            pb::CloseConversationRequest {
                conversation_id: conversation.into(),
                ..Default::default()
            },
        );
        self.client.close_conversation(r).await.unwrap();
    }

    async fn conversation(&mut self, id: &str) -> pb::GetConversationResponse {
        let r = self.owner(pb::GetConversationRequest {
            shop_id: String::new(),
            conversation_id: id.into(),
        });
        self.client.get_conversation(r).await.unwrap().into_inner()
    }

    async fn inbox(&mut self, agent: &str, after: u64) -> tonic::Streaming<pb::WatchInboxResponse> {
        let r = self.agent(
            agent,
            pb::WatchInboxRequest {
                after_position: after,
                ..Default::default()
            },
        );
        self.client.watch_inbox(r).await.unwrap().into_inner()
    }
}

async fn next_item(s: &mut tonic::Streaming<pb::WatchInboxResponse>) -> pb::WatchInboxResponse {
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("an inbox item within 5 s")
        .expect("stream open")
        .expect("item")
}

/// The position of the next inbox item about `conversation`.
async fn next_of(s: &mut tonic::Streaming<pb::WatchInboxResponse>, conversation: &str) -> u64 {
    loop {
        let item = next_item(s).await;
        if item.conversation_id == conversation {
            return item.position;
        }
    }
}

/// chat-svc with a real faq-svc, both on SQLite.
async fn stack(dir: &tempfile::TempDir) -> (TestApp, Running) {
    let signer = TokenSigner::new("test");
    let faq = spawn_faq(sqlite(dir, "faq").await, &signer).await;
    let app = spawn_chat(
        sqlite(dir, "chat").await,
        faq.endpoint(),
        ManualClock::new(t0()),
    )
    .await;
    (app, faq)
}

#[tokio::test]
async fn r_chat_6_7_8_robot_first_then_a_human_with_the_greeting_from_faq_svc() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _faq) = stack(&dir).await;
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    let opened = app.open("c1").await;
    let greeting = &opened.replies[0];
    assert_eq!(greeting.sender, pb::Sender::System as i32);
    assert!(
        !greeting.cards.is_empty(),
        "FAQ cards come from faq-svc's presets (R-FAQ-5)"
    );
    // A question the presets answer: the robot replies, nobody is assigned.
    let r = app.buyer("c1", "m1", "什么时候发货呀").await;
    assert!(r.robot_available);
    assert_eq!(r.replies.len(), 1, "{r:?}");
    assert_eq!(r.replies[0].sender, pb::Sender::Robot as i32);
    let c = r.conversation.unwrap();
    assert!(c.unreplied, "R-CHAT-7: only the robot answered");
    assert!(c.assignee_agent_id.is_empty());
    // 转人工: handed to the online agent at once.
    let r = app.buyer("c1", "m2", "转人工").await;
    let c = r.conversation.clone().unwrap();
    assert_eq!(c.assignee_agent_id, "a1");
    assert!(r.replies.iter().any(|m| m.text.contains("客服a1")), "{r:?}");
    app.reply("a1", "c1", "r1").await.unwrap();
    let got = app.conversation("c1").await;
    assert!(!got.conversation.unwrap().unreplied);
    let senders: Vec<i32> = got.transcript.iter().map(|m| m.sender).collect();
    use pb::Sender::*;
    assert_eq!(
        senders,
        [System, Buyer, Robot, Buyer, System, Agent].map(|s| s as i32),
        "{:?}",
        got.transcript
    );
    assert_eq!(
        got.assignments[0].rule,
        pb::AssignmentRule::FewestOpen as i32
    );
    assert!(got.assignments[0].explanation.contains("R-CHAT-4"));
    // The robot's question reached faq-svc's record as an automatic answer (R-FAQ-8).
    app.service.stop().await.unwrap();
}

#[tokio::test]
async fn r_chat_3_and_r_x_1_who_may_do_what_and_errors_with_details() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _faq) = stack(&dir).await;
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    // Agents do not manage agents.
    let r = app.agent(
        "a1",
        pb::AddAgentRequest {
            agent_id: "x".into(),
            ..Default::default()
        },
    );
    assert_eq!(
        app.client.add_agent(r).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    // Another shop's data is not there.
    let r = app.req(
        "shop-b",
        Role::Owner,
        "owner-b",
        pb::ListAgentsRequest {
            shop_id: SHOP.into(),
        },
    );
    assert_eq!(
        app.client.list_agents(r).await.unwrap_err().code(),
        Code::NotFound
    );
    let r = app.req(
        "shop-b",
        Role::Owner,
        "owner-b",
        pb::ListAgentsRequest::default(),
    );
    assert!(app
        .client
        .list_agents(r)
        .await
        .unwrap()
        .into_inner()
        .agents
        .is_empty());
    // Only the gateway speaks for buyers.
    let r = app.owner(pb::SendBuyerMessageRequest {
        conversation_id: "c".into(),
        message_id: "m".into(),
        text: "hi".into(),
        ..Default::default()
    });
    assert_eq!(
        app.client.send_buyer_message(r).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    // Bad input names each field.
    let r = app.owner(pb::AddAgentRequest {
        agent_id: "b".into(),
        name: "".into(),
        phone: "x".into(),
        role: 0,
        ..Default::default()
    });
    let e = app.client.add_agent(r).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let r = app.owner(pb::AddAgentRequest {
        agent_id: "b".into(),
        name: "".into(),
        phone: "x".into(),
        role: 3,
        ..Default::default()
    });
    let e = app.client.add_agent(r).await.unwrap_err();
    let fields: Vec<String> = e
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["name", "phone"]);
    // An agent cannot reply where it is not assigned: FAILED_PRECONDITION with the reason.
    app.online_agent("a2", pb::ServiceRole::Both, "13800000002")
        .await;
    app.open("c1").await;
    app.buyer("c1", "m1", "转人工").await;
    let assignee = app
        .conversation("c1")
        .await
        .conversation
        .unwrap()
        .assignee_agent_id;
    let other = if assignee == "a1" { "a2" } else { "a1" };
    let e = app.reply(other, "c1", "r1").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(
        e.get_details_precondition_failure().unwrap().violations[0].r#type,
        "NOT_ASSIGNED"
    );
    // An unverified agent cannot go online (R-CHAT-2).
    let r = app.owner(pb::AddAgentRequest {
        agent_id: "new".into(),
        name: "新人".into(),
        phone: "13800000009".into(),
        role: 3,
        ..Default::default()
    });
    app.client.add_agent(r).await.unwrap();
    let r = app.agent(
        "new",
        pb::SetAgentStatusRequest {
            status: pb::AgentStatus::Online as i32,
            ..Default::default()
        },
    );
    let e = app.client.set_agent_status(r).await.unwrap_err();
    assert_eq!(
        e.get_details_precondition_failure().unwrap().violations[0].r#type,
        "REAL_NAME_NOT_VERIFIED"
    );
    // Agents act only as themselves.
    let r = app.agent(
        "a1",
        pb::SetAgentStatusRequest {
            agent_id: "a2".into(),
            status: 3,
            ..Default::default()
        },
    );
    assert_eq!(
        app.client.set_agent_status(r).await.unwrap_err().code(),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn r_chat_5_two_devices_see_the_same_inbox_and_a_reconnect_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _faq) = stack(&dir).await;
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    let mut phone = app.inbox("a1", 0).await;
    let mut pc = app.inbox("a1", 0).await;
    // Its own status change is the first item of its inbox.
    let first = next_item(&mut phone).await;
    assert!(matches!(
        first.item,
        Some(pb::watch_inbox_response::Item::Status(_))
    ));
    assert_eq!(next_item(&mut pc).await, first);
    app.open("c1").await;
    app.buyer("c1", "m1", "转人工").await;
    let on_phone = next_item(&mut phone).await;
    let on_pc = next_item(&mut pc).await;
    assert_eq!(on_phone, on_pc, "both devices see the same items");
    assert!(matches!(
        on_phone.item,
        Some(pb::watch_inbox_response::Item::Assigned(_))
    ));
    // The assignment brings what the buyer already said.
    let history: Vec<&str> = on_phone.history.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(history.last(), Some(&"转人工"), "{history:?}");
    let last_seen = on_phone.position;
    // The phone drops; messages keep coming.
    drop(phone);
    app.buyer("c1", "m2", "在吗").await;
    app.reply("a1", "c1", "r1").await.unwrap();
    app.buyer("c1", "m3", "好的谢谢").await;
    let live: Vec<_> = [
        next_item(&mut pc).await,
        next_item(&mut pc).await,
        next_item(&mut pc).await,
    ]
    .into();
    // The phone comes back with its last position: exactly what it missed, in order.
    let mut phone = app.inbox("a1", last_seen).await;
    let resumed: Vec<_> = [
        next_item(&mut phone).await,
        next_item(&mut phone).await,
        next_item(&mut phone).await,
    ]
    .into();
    assert_eq!(resumed, live);
    let texts: Vec<String> = resumed
        .iter()
        .map(|i| match &i.item {
            Some(pb::watch_inbox_response::Item::Message(m)) => m.text.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts, ["在吗", "亲，在的", "好的谢谢"]);
    // Nothing twice: no further item arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), phone.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn faq_svc_down_buyer_messages_still_go_to_humans_and_the_figures_show_it() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 9 (discard) here: faq-svc is down.
    let mut app = spawn_chat(
        sqlite(&dir, "chat").await,
        "http://127.0.0.1:9".into(),
        ManualClock::new(t0()),
    )
    .await;
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    let opened = app.open("c1").await;
    assert!(
        !opened.replies[0].text.is_empty(),
        "a plain greeting without faq-svc"
    );
    let r = app.buyer("c1", "m1", "什么时候发货").await;
    assert!(!r.robot_available);
    assert_eq!(
        r.conversation.unwrap().assignee_agent_id,
        "a1",
        "went to a human"
    );
    // While the breaker is open a new buyer's message does not wait for faq-svc.
    app.open("c2").await;
    let started = std::time::Instant::now();
    let r = app.buyer("c2", "m2", "还有别的颜色吗").await;
    assert!(!r.robot_available);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(app.chat.robot().failures() >= 1);
    let transcript = app.conversation("c1").await.transcript;
    assert_eq!(
        transcript
            .iter()
            .filter(|m| m.sender == pb::Sender::Buyer as i32)
            .count(),
        1,
        "nothing lost"
    );
    let r = app.owner(pb::GetResponseMetricsRequest {
        from: Some(sellerdesk_runtime::wire::timestamp(t0())),
        to: Some(sellerdesk_runtime::wire::timestamp(t0() + Span::hours(1))),
        ..Default::default()
    });
    let m = app
        .client
        .get_response_metrics(r)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        m.shop.unwrap().robot_unavailable,
        2,
        "both buyers' messages found faq-svc down"
    );
}

/// Two chat-svc replicas on one PostgreSQL database, with one clock and one
/// faq-svc.
async fn two_replicas(dir: &tempfile::TempDir) -> (TestApp, TestApp, Running) {
    let url = sellerdesk_testkit::fresh_postgres_url().await;
    let signer = TokenSigner::new("test");
    let faq = spawn_faq(sqlite(dir, "faq").await, &signer).await;
    let clock = ManualClock::new(t0());
    let a = spawn_chat(
        sellerdesk_eventstore::open(&url).await.unwrap(),
        faq.endpoint(),
        clock.clone(),
    )
    .await;
    let b = spawn_chat(
        sellerdesk_eventstore::open(&url).await.unwrap(),
        faq.endpoint(),
        clock,
    )
    .await;
    (a, b, faq)
}

/// Issue 15 item 2 (R-X-4, decision 0016): with two replicas that own
/// shops, a request that reaches the replica which does not own its shop is
/// served by the owner: each shop's desk is loaded on one replica only,
/// whichever replica the requests reached. When the owner stops, the
/// survivor serves its shops, with every write made before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_x_4_a_shops_requests_are_served_by_its_owner_and_move_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let url = sellerdesk_testkit::fresh_postgres_url().await;
    let faq = spawn_faq(sqlite(&dir, "faq").await, &TokenSigner::new("test")).await;
    let clock = ManualClock::new(t0());
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let store = sellerdesk_eventstore::open(&url).await.unwrap();
        replicas.push(spawn_chat_as(store, faq.endpoint(), clock.clone(), true).await);
    }
    let mut b = replicas.pop().unwrap();
    let mut a = replicas.pop().unwrap();
    // Each replica takes its membership lease and sees the other.
    a.service.until_replicas(2).await;
    b.service.until_replicas(2).await;
    let shops: Vec<String> = (0..16).map(|i| format!("shop-owned-{i}")).collect();
    for (i, shop) in shops.iter().enumerate() {
        // Half the writes reach A, half B; the shop id only in the token.
        let via = if i % 2 == 0 { &mut a } else { &mut b };
        via.add_agent_a1(shop).await;
    }
    for shop in &shops {
        // Every read through either replica sees the write.
        for via in [&mut a, &mut b] {
            let get = via.req(
                shop,
                Role::Owner,
                "owner",
                pb::GetAgentRequest {
                    shop_id: shop.clone(),
                    agent_id: "a1".into(),
                },
            );
            via.client.get_agent(get).await.unwrap();
        }
    }
    let (on_a, on_b) = (a.chat.loaded_desks(), b.chat.loaded_desks());
    assert_eq!(
        on_a + on_b,
        shops.len(),
        "each shop's desk on its owner only (A {on_a}, B {on_b})"
    );
    assert!(on_a > 0 && on_b > 0, "both own shops (A {on_a}, B {on_b})");
    // A stops; B serves A's shops, with A's writes, and loads their desks.
    a.service.stop().await.unwrap();
    for shop in &shops {
        let get = b.req(
            shop,
            Role::Owner,
            "owner",
            pb::GetAgentRequest {
                shop_id: String::new(),
                agent_id: "a1".into(),
            },
        );
        b.client.get_agent(get).await.expect("B serves A's shops");
    }
    assert_eq!(b.chat.loaded_desks(), shops.len());
}

/// Decision 0016: an inbox opened on the replica that does not own the shop
/// is relayed from the owner (whose desk feeds it as it commits), and when
/// the relaying replica stops, the stream ends with UNAVAILABLE at once, as
/// the replica's own streams do, instead of holding the stop open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_chat_5_an_inbox_relayed_from_the_owner_ends_unavailable_when_the_relay_stops() {
    let dir = tempfile::tempdir().unwrap();
    let url = sellerdesk_testkit::fresh_postgres_url().await;
    let faq = spawn_faq(sqlite(&dir, "faq").await, &TokenSigner::new("test")).await;
    let clock = ManualClock::new(t0());
    let a = spawn_chat_as(
        sellerdesk_eventstore::open(&url).await.unwrap(),
        faq.endpoint(),
        clock.clone(),
        true,
    )
    .await;
    let mut b = spawn_chat_as(
        sellerdesk_eventstore::open(&url).await.unwrap(),
        faq.endpoint(),
        clock,
        true,
    )
    .await;
    a.service.until_replicas(2).await;
    b.service.until_replicas(2).await;
    // A shop that A owns: a write to it through B loads no desk on B.
    let mut shop = None;
    for i in 0..32 {
        let candidate = format!("shop-relay-{i}");
        let held = b.chat.loaded_desks();
        b.add_agent_a1(&candidate).await;
        if b.chat.loaded_desks() == held {
            shop = Some((candidate, held));
            break;
        }
    }
    let (shop, held) = shop.expect("A owns one of 32 shops");
    let watch = b.req(&shop, Role::Agent, "a1", pb::WatchInboxRequest::default());
    let mut inbox = b.client.watch_inbox(watch).await.unwrap().into_inner();
    assert_eq!(
        b.chat.loaded_desks(),
        held,
        "the inbox is served by the owner"
    );
    let stopped = tokio::spawn(b.service.stop());
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match inbox.next().await {
                Some(Ok(_)) => continue,
                Some(Err(e)) => break Some(e),
                None => break None,
            }
        }
    })
    .await
    .expect("the relayed stream ends when the relay stops, not after the grace period")
    .expect("it ends with an error the client can act on");
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert!(ended.message().contains("resuming"), "{ended:?}");
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the stop is not held open by the relayed stream")
        .unwrap()
        .unwrap();
}

/// R-CHAT-9: Monday to Friday, 09:00-18:00 in Shanghai.
fn weekdays_nine_to_six() -> pb::ServiceHours {
    pb::ServiceHours {
        time_zone: "Asia/Shanghai".into(),
        weekly: (1..=5)
            .map(|d| pb::DayHours {
                weekday: d,
                ranges: vec![pb::TimeRange {
                    start_minute: 540,
                    end_minute: 1080,
                }],
            })
            .collect(),
        ..Default::default()
    }
}

/// A chat replica with a cache of `cache_shops` desks and no robot: the
/// scheduler's tests drive the desks with domain commands.
async fn replica_with_cache(
    store: Arc<dyn EventStore>,
    clock: ManualClock,
    cache_shops: usize,
) -> (Running, Arc<Chat>) {
    let settings = chat_settings(
        store,
        &clock,
        "http://127.0.0.1:9".into(),
        cache_shops,
        &TokenSigner::new("test"),
        Arc::new(InProcessBus::new()),
    );
    chat_svc::spawn_local(settings).await.unwrap()
}

/// R-CHAT-9 at `at` (a Saturday): an agent online and a buyer who asked for
/// a human, waiting for Monday's opening.
async fn shop_waiting_for_monday(chat: &Arc<Chat>, shop: &str, at: DateTime<Utc>) {
    let commands = chat_svc::bench_support::waiting_for_monday(at);
    for c in commands {
        chat.execute(shop, c, Default::default()).await.unwrap();
    }
}

async fn assignee(chat: &Arc<Chat>, shop: &str) -> Option<String> {
    chat.read(shop, |v| {
        v.desk.conversation("waiting").unwrap().assignee.clone()
    })
    .await
    .unwrap()
}

/// R-CHAT-9, R-X-4: the scheduler reads the shops that are due from the
/// schedule, a page at a time, and holds no more desks than its cache
/// allows: 300 shops whose buyers wait for Monday are all routed at
/// opening by a replica holding at most 8 desks, none is read before, and
/// none is due again once routed.
#[tokio::test]
async fn r_chat_9_the_scheduler_routes_every_due_shop_page_by_page_within_its_cache() {
    let dir = tempfile::tempdir().unwrap();
    let saturday = t("2026-03-07T04:00:00Z");
    let clock = ManualClock::new(saturday);
    let (writer, chat) = replica_with_cache(sqlite(&dir, "chat").await, clock.clone(), 8).await;
    let shops: Vec<String> = (0..300).map(|i| format!("shop-{i:03}")).collect();
    for shop in &shops {
        shop_waiting_for_monday(&chat, shop, saturday).await;
    }
    writer.stop().await.unwrap();
    drop(chat);
    let (_keeper, chat) = replica_with_cache(sqlite(&dir, "chat").await, clock.clone(), 8).await;
    assert_eq!(chat.take_over_time().await.unwrap(), 0);
    assert!(chat.loaded_desks() <= 8, "{} desks", chat.loaded_desks());
    // Sunday 23:59 in Shanghai: nothing is due, nothing is read.
    let before = chat.loaded_desks();
    clock.set(t("2026-03-08T15:59:00Z"));
    assert_eq!(chat.tick().await.unwrap(), 0);
    assert_eq!(chat.loaded_desks(), before);
    // Monday 09:00: every shop, across two pages of the schedule.
    clock.set(t("2026-03-09T01:00:00Z"));
    assert_eq!(chat.tick().await.unwrap(), 300);
    assert!(chat.loaded_desks() <= 8, "{} desks", chat.loaded_desks());
    for shop in [&shops[0], &shops[255], &shops[256], &shops[299]] {
        assert_eq!(assignee(&chat, shop).await.as_deref(), Some("a1"), "{shop}");
    }
    // a1 is each shop's only agent: time alone changes nothing more.
    clock.set(t("2026-03-09T05:00:00Z"));
    assert_eq!(chat.tick().await.unwrap(), 0);
    let waiting = chat
        .store()
        .search_documents(&sellerdesk_eventstore::DocumentQuery {
            index: chat_svc::store::DUE_INDEX.into(),
            shop_id: chat_svc::store::DUE_OWNER.into(),
            starts_before: Some(i64::MAX),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        waiting.is_empty(),
        "{} shops still scheduled",
        waiting.len()
    );
}

/// R-CHAT-9 across an upgrade: the release before the schedule kept a row
/// per shop with timers and had its checkpoint past their commands. The
/// shops it kept are adopted once, the rows deleted, and their buyers are
/// still routed at opening.
#[tokio::test]
async fn r_chat_9_shops_kept_by_an_older_release_are_still_routed_at_opening() {
    let dir = tempfile::tempdir().unwrap();
    let saturday = t("2026-03-07T04:00:00Z");
    let clock = ManualClock::new(saturday);
    let store = sqlite(&dir, "chat").await;
    let (writer, chat) = replica_with_cache(store.clone(), clock.clone(), 8).await;
    shop_waiting_for_monday(&chat, "old-shop", saturday).await;
    writer.stop().await.unwrap();
    drop(chat);
    // What the older release left: its checkpoint at the head, its row.
    store
        .save_checkpoint("chat-timers", store.head().await.unwrap())
        .await
        .unwrap();
    store
        .save_snapshots(&[sellerdesk_eventstore::Snapshot {
            key: format!("{}old-shop/", chat_svc::app::OLD_TIMED_PREFIX),
            version: 6,
            position: 0,
            body: String::new(),
        }])
        .await
        .unwrap();
    let (_keeper, chat) = replica_with_cache(store.clone(), clock.clone(), 8).await;
    assert_eq!(chat.take_over_time().await.unwrap(), 1);
    assert!(store
        .load_snapshots(chat_svc::app::OLD_TIMED_PREFIX)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(chat.take_over_time().await.unwrap(), 0, "adopted once");
    // Due at once, the first tick finds nothing to do before Monday...
    assert_eq!(chat.tick().await.unwrap(), 0);
    clock.set(t("2026-03-09T01:00:00Z"));
    assert_eq!(chat.tick().await.unwrap(), 1);
    assert_eq!(assignee(&chat, "old-shop").await.as_deref(), Some("a1"));
}

#[tokio::test]
async fn r_chat_9_outside_hours_the_buyer_waits_and_is_routed_at_opening_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, faq) = stack(&dir).await;
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    let hours = weekdays_nine_to_six();
    let r = app.owner(pb::SetServiceHoursRequest {
        shop_id: String::new(),
        hours: Some(hours),
    });
    app.client.set_service_hours(r).await.unwrap();
    // Saturday noon in Shanghai.
    app.clock.set(t("2026-03-07T04:00:00Z"));
    app.open("c1").await;
    let r = app.buyer("c1", "m1", "转人工").await;
    assert!(
        r.replies
            .iter()
            .any(|m| m.text.contains("2026-03-09 09:00")),
        "{r:?}"
    );
    let c = r.conversation.unwrap();
    assert!(c.assignee_agent_id.is_empty() && c.waiting_for_human);
    // A restart: state comes back from the log, and time still acts.
    let clock = app.clock.clone();
    app.service.stop().await.unwrap();
    drop(app.chat);
    let app = spawn_chat(sqlite(&dir, "chat").await, faq.endpoint(), clock).await;
    // Start-up read nothing (R-X-4); the replica that takes the scheduler
    // lease projects the log past its checkpoint into the schedule.
    assert_eq!(app.chat.loaded_desks(), 0);
    assert_eq!(
        app.chat.take_over_time().await.unwrap(),
        0,
        "no older release's kept set"
    );
    // Once more: the checkpoint is past every event now, so the shop comes
    // back only through the schedule, and not before it is due.
    let clock = app.clock.clone();
    app.service.stop().await.unwrap();
    drop(app.chat);
    let mut app = spawn_chat(sqlite(&dir, "chat").await, faq.endpoint(), clock).await;
    assert_eq!(app.chat.take_over_time().await.unwrap(), 0);
    assert_eq!(app.chat.loaded_desks(), 0, "taking time over loads no desk");
    // Sunday 23:59 in Shanghai: nothing is due yet.
    app.clock.set(t("2026-03-08T15:59:00Z"));
    assert_eq!(app.chat.tick().await.unwrap(), 0);
    assert_eq!(app.chat.loaded_desks(), 0, "a shop not due is not read");
    app.clock.set(t("2026-03-09T01:00:00Z"));
    assert_eq!(app.chat.tick().await.unwrap(), 1);
    let c = app.conversation("c1").await;
    assert_eq!(c.conversation.unwrap().assignee_agent_id, "a1");
    assert_eq!(c.assignments[0].rule, pb::AssignmentRule::FromQueue as i32);
    let r = app.owner(pb::GetServiceHoursRequest::default());
    assert!(
        app.client
            .get_service_hours(r)
            .await
            .unwrap()
            .into_inner()
            .open_now
    );
}

#[tokio::test]
async fn r_chat_10_quick_phrases_and_r_chat_11_figures_over_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _faq) = stack(&dir).await;
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    let r = app.owner(pb::CreateQuickPhraseRequest {
        shop_id: String::new(),
        phrase: Some(pb::QuickPhrase {
            phrase_id: "".into(),
            title: "问候".into(),
            text: "{buyer_name}您好，我是{agent_name}".into(),
            personal: false,
        }),
        personal: false,
    });
    let phrase = app
        .client
        .create_quick_phrase(r)
        .await
        .unwrap()
        .into_inner()
        .phrase
        .unwrap();
    let r = app.agent(
        "a1",
        pb::CreateQuickPhraseRequest {
            shop_id: String::new(),
            phrase: Some(phrase.clone()),
            personal: false,
        },
    );
    assert_eq!(
        app.client.create_quick_phrase(r).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    // Issue 18: the agent's own phrase, under the shop's id, wins for that
    // agent and is listed beside the shop's; owners keep none of their own.
    let own = pb::CreateQuickPhraseRequest {
        phrase: Some(pb::QuickPhrase {
            phrase_id: phrase.phrase_id.clone(),
            title: "我的".into(),
            text: "{buyer_name}亲，{agent_name}在的".into(),
            personal: true,
        }),
        personal: true,
        ..Default::default()
    };
    let r = app.owner(own.clone());
    assert_eq!(
        app.client.create_quick_phrase(r).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let r = app.agent("a1", own);
    assert!(
        app.client
            .create_quick_phrase(r)
            .await
            .unwrap()
            .into_inner()
            .phrase
            .unwrap()
            .personal
    );
    let r = app.agent("a1", pb::ListQuickPhrasesRequest::default());
    let listed = app
        .client
        .list_quick_phrases(r)
        .await
        .unwrap()
        .into_inner()
        .phrases;
    assert_eq!(
        listed.iter().map(|p| p.personal).collect::<Vec<_>>(),
        [false, true]
    );
    app.open("c1").await;
    app.buyer("c1", "m1", "转人工").await;
    let r = app.agent(
        "a1",
        pb::RenderQuickPhraseRequest {
            shop_id: String::new(),
            phrase_id: phrase.phrase_id.clone(),
            conversation_id: "c1".into(),
        },
    );
    assert_eq!(
        app.client
            .render_quick_phrase(r)
            .await
            .unwrap()
            .into_inner()
            .text,
        "小王亲，客服a1在的"
    );
    // A human reply 12 s after the buyer's first message.
    app.clock.set(t0() + Span::seconds(12));
    app.reply("a1", "c1", "r1").await.unwrap();
    let r = app.gateway(pb::RateConversationRequest {
        shop_id: SHOP.into(),
        conversation_id: "c1".into(),
        rating: 5,
    });
    app.client.rate_conversation(r).await.unwrap();
    let window = |app: &TestApp, agent: &str| {
        app.agent(
            agent,
            pb::GetResponseMetricsRequest {
                from: Some(sellerdesk_runtime::wire::timestamp(t0())),
                to: Some(sellerdesk_runtime::wire::timestamp(t0() + Span::hours(1))),
                ..Default::default()
            },
        )
    };
    let m = app
        .client
        .get_response_metrics(window(&app, "a1"))
        .await
        .unwrap()
        .into_inner();
    assert!(m.shop.is_none(), "an agent sees only itself");
    let f = m.agents[0].figures.unwrap();
    assert_eq!(
        (f.answered, f.answered_within_target, f.unreplied),
        (1, 1, 0)
    );
    assert_eq!(f.first_response_median_ms, Some(12_000));
    assert_eq!(f.csat_mean, Some(5.0));
    assert_eq!(m.response_target_secs, 30);
    // The owner's live view.
    let r = app.owner(pb::WatchResponseMetricsRequest {
        shop_id: String::new(),
        window_secs: 3600,
    });
    let mut live = app
        .client
        .watch_response_metrics(r)
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), live.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.shop.unwrap().conversations, 1);
    app.open("c2").await;
    app.buyer("c2", "m2", "转人工").await;
    let next = tokio::time::timeout(Duration::from_secs(5), live.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.shop.unwrap().conversations, 2);
}

#[tokio::test]
async fn r_chat_4_routing_on_postgresql_and_events_on_the_bus() {
    let url = sellerdesk_testkit::fresh_postgres_url().await;
    let store = sellerdesk_eventstore::open(&url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let signer = TokenSigner::new("test");
    let faq = spawn_faq(sqlite(&dir, "faq").await, &signer).await;
    let mut app = spawn_chat(store, faq.endpoint(), ManualClock::new(t0())).await;
    let mut assigned = app
        .bus
        .subscribe("chat", "test", "sellerdesk.chat.conversation_assigned")
        .await
        .unwrap();
    app.online_agent("pre", pb::ServiceRole::PreSale, "13800000001")
        .await;
    app.online_agent("after", pb::ServiceRole::AfterSale, "13800000002")
        .await;
    let r = app.gateway(pb::OpenConversationRequest {
        shop_id: SHOP.into(),
        conversation_id: "order-chat".into(),
        buyer_id: "b".into(),
        order_id: "O-1001".into(),
        ..Default::default()
    });
    let opened = app.client.open_conversation(r).await.unwrap().into_inner();
    assert_eq!(
        opened.conversation.unwrap().topic,
        pb::Topic::AfterSale as i32,
        "an order makes it after-sale"
    );
    let r = app.buyer("order-chat", "m1", "我要人工").await;
    assert_eq!(r.conversation.unwrap().assignee_agent_id, "after");
    // Concurrent buyers in one shop: every message committed, nothing lost.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let mut client = app.client.clone();
        let req = app.gateway(pb::OpenConversationRequest {
            shop_id: SHOP.into(),
            conversation_id: format!("c{i}"),
            buyer_id: format!("b{i}"),
            ..Default::default()
        });
        let msg = app.gateway(pb::SendBuyerMessageRequest {
            shop_id: SHOP.into(),
            conversation_id: format!("c{i}"),
            message_id: "m".into(),
            text: "转人工".into(),
            attachment: None,
        });
        tasks.push(tokio::spawn(async move {
            client.open_conversation(req).await.unwrap();
            client.send_buyer_message(msg).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let agents = app
        .client
        .list_agents(app.owner(pb::ListAgentsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .agents;
    let pre = agents.iter().find(|a| a.agent_id == "pre").unwrap();
    assert_eq!(pre.open_conversations, 10, "capacity 10");
    let waiting = app
        .client
        .list_conversations(app.owner(pb::ListConversationsRequest {
            waiting_only: true,
            page: Some(sellerdesk_api::common::v1::PageRequest {
                page_size: 100,
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .conversations;
    assert_eq!(waiting.len(), 30);
    let places: std::collections::BTreeSet<u32> = waiting.iter().map(|c| c.queue_place).collect();
    assert_eq!(
        places,
        (1..=30).collect(),
        "every waiting buyer has a distinct place"
    );
    let delivery = tokio::time::timeout(Duration::from_secs(5), assigned.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(delivery.message.shop_id, SHOP);
}

/// Hardening item 5 (R-CHAT-2, R-CHAT-3): a removed agent's token, or an
/// agent token for an account the shop never added, reads nothing: not the
/// conversations (buyer names, orders, transcripts), not the agents' phones.
#[tokio::test]
async fn r_chat_2_3_a_removed_agents_token_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _faq) = stack(&dir).await;
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    app.open("c1").await;
    let list = app.agent("a1", pb::ListConversationsRequest::default());
    app.client.list_conversations(list).await.unwrap();
    app.client
        .remove_agent(app.owner(pb::RemoveAgentRequest {
            shop_id: String::new(),
            agent_id: "a1".into(),
        }))
        .await
        .unwrap();
    for account in ["a1", "never-an-agent"] {
        let e = app
            .client
            .list_conversations(app.agent(account, pb::ListConversationsRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{account}: {e:?}");
        let e = app
            .client
            .get_conversation(app.agent(
                account,
                pb::GetConversationRequest {
                    shop_id: String::new(),
                    conversation_id: "c1".into(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        let e = app
            .client
            .list_agents(app.agent(account, pb::ListAgentsRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        // Nor replies: the reply's own decision refuses an account the desk
        // no longer has, and says so the same way.
        let e = app
            .client
            .send_agent_reply(app.agent(
                account,
                pb::SendAgentReplyRequest {
                    conversation_id: "c1".into(),
                    message_id: "late".into(),
                    text: "还在".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{account}: {e:?}");
    }
    // The owner still reads.
    app.client
        .list_conversations(app.owner(pb::ListConversationsRequest::default()))
        .await
        .unwrap();
}

/// R-X-4 (issue 15, item 4): a replica holds at most its configured number
/// of desks; an evicted shop's desk comes back from its stream whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_x_4_desks_are_bounded_and_evicted_shops_come_back_whole() {
    fn owner<T>(signer: &TokenSigner, shop: &str, msg: T) -> Request<T> {
        let token = signer.mint(&Claims {
            shop: shop.into(),
            sub: "owner".into(),
            role: Role::Owner,
            exp: 4_000_000_000,
        });
        let mut r = Request::new(msg);
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        r
    }
    let dir = tempfile::tempdir().unwrap();
    let signer = TokenSigner::new("test");
    let faq = spawn_faq(sqlite(&dir, "faq").await, &signer).await;
    let (service, chat) = chat_svc::spawn_local(chat_settings(
        sqlite(&dir, "chat").await,
        &ManualClock::new(t0()),
        faq.endpoint(),
        5,
        &signer,
        Arc::new(InProcessBus::new()),
    ))
    .await
    .unwrap();
    let mut client = ChatServiceClient::new(
        Channel::from_shared(service.endpoint())
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    for i in 0..40 {
        let shop = format!("shop-{i}");
        for a in 0..2 {
            client
                .add_agent(owner(
                    &signer,
                    &shop,
                    pb::AddAgentRequest {
                        agent_id: format!("a{a}"),
                        name: format!("客服{a}"),
                        role: pb::ServiceRole::Both as i32,
                        phone: format!("1380000000{a}"),
                        ..Default::default()
                    },
                ))
                .await
                .unwrap();
        }
        assert!(
            chat.loaded_desks() <= 5,
            "{} desks held",
            chat.loaded_desks()
        );
    }
    for i in [0, 17, 39] {
        let agents = client
            .list_agents(owner(
                &signer,
                &format!("shop-{i}"),
                pb::ListAgentsRequest::default(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(agents.agents.len(), 2, "shop-{i}");
    }
    assert!(chat.loaded_desks() <= 5);
}

/// R-X-4: reading a shop that never wrote anything answers its empty desk
/// and creates nothing (no desk, no task, no event); its first command does.
#[tokio::test]
async fn r_x_4_reading_an_unknown_shop_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _faq) = stack(&dir).await;
    let list = app
        .client
        .list_conversations(app.owner(pb::ListConversationsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(list.conversations.is_empty());
    let agents = app
        .client
        .list_agents(app.owner(pb::ListAgentsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(agents.agents.is_empty());
    app.client
        .get_service_hours(app.owner(pb::GetServiceHoursRequest::default()))
        .await
        .unwrap();
    assert_eq!(app.chat.loaded_desks(), 0, "a read started a desk");
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    assert_eq!(app.chat.loaded_desks(), 1);
}

/// R-X-4 (issue 15, item 1): two chat replicas on one database. A write
/// through either is in the next read through the other; a buyer message
/// taken by one reaches the assigned agent's inbox on the other, once; both
/// replicas agree on who has the conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_x_4_two_chat_replicas_read_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b, _faq) = two_replicas(&dir).await;
    a.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    let on_b = b
        .client
        .list_agents(b.owner(pb::ListAgentsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(on_b.agents.len(), 1, "B reads A's write");
    // B writes on a desk it loaded; A reads it.
    b.online_agent("a2", pb::ServiceRole::Both, "13800000002")
        .await;
    let on_a = a
        .client
        .list_agents(a.owner(pb::ListAgentsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(on_a.agents.len(), 2, "A reads B's write");
    // A command refused on B's stale desk would append nothing, so no
    // conflict would tell B that A wrote: B decides it on the stream's head.
    // (Both desks are loaded: the refusal came from B's memory before.)
    a.client
        .add_agent(a.owner(pb::AddAgentRequest {
            agent_id: "a3".into(),
            name: "客服a3".into(),
            phone: "13800000003".into(),
            role: pb::ServiceRole::Both as i32,
            ..Default::default()
        }))
        .await
        .unwrap();
    b.client
        .verify_agent_real_name(b.gateway(pb::VerifyAgentRealNameRequest {
            shop_id: SHOP.into(),
            agent_id: "a3".into(),
        }))
        .await
        .expect("B verifies the agent A added");
    // A takes a conversation for a human; its agent watches on B.
    a.open("c1").await;
    let sent = a.buyer("c1", "m1", "我要人工").await;
    let assignee = sent.conversation.unwrap().assignee_agent_id;
    assert!(!assignee.is_empty());
    let mut inbox = b.inbox(&assignee, 0).await;
    let before = next_of(&mut inbox, "c1").await;
    // A's next message to the conversation reaches B's inbox live.
    a.buyer("c1", "m2", "在吗").await;
    let after = next_of(&mut inbox, "c1").await;
    assert!(after > before, "{before} then {after}");
    // And nothing twice: the next item, if any, is past it.
    if let Ok(Some(Ok(item))) =
        tokio::time::timeout(Duration::from_millis(2500), inbox.next()).await
    {
        assert!(item.position > after, "delivered again: {}", item.position);
    }
    let seen_on_b = b.conversation("c1").await.conversation.unwrap();
    assert_eq!(
        seen_on_b.assignee_agent_id, assignee,
        "one assignee on both"
    );
    // R-CHAT-13 across replicas: the buyer watches on B, the agent replies
    // through A; the reply arrives on B's stream, once.
    let mut side = watch(&mut b, "c1", after).await;
    let reply = a
        .reply(&assignee, "c1", "r1")
        .await
        .unwrap()
        .message
        .unwrap();
    let item = loop {
        let item = next_buyer_item(&mut side).await;
        if item.position == reply.position {
            break item;
        }
        assert!(item.position < reply.position, "{item:?}");
    };
    assert!(matches!(
        item.item,
        Some(pb::watch_conversation_response::Item::Message(m)) if m.text == "亲，在的"
    ));
    if let Ok(Some(Ok(item))) = tokio::time::timeout(Duration::from_millis(2500), side.next()).await
    {
        assert!(
            item.position > reply.position,
            "delivered again: {}",
            item.position
        );
    }
    // The owner removes the agent through B. A's view may still show it,
    // but the reply through A is decided on the stream's head and refused
    // as the check before it would have refused it.
    b.client
        .remove_agent(b.owner(pb::RemoveAgentRequest {
            shop_id: String::new(),
            agent_id: assignee.clone(),
        }))
        .await
        .unwrap();
    let e = a.reply(&assignee, "c1", "r2").await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
}

/// R-CHAT-9 at two replicas (R-X-4): a buyer queued outside service hours
/// through B is routed at opening by A's scheduler tick. A's desk task had
/// decided its earlier commands on its own copy; the buyer reached A's view
/// only (a read's catch-up; in production the scheduler's follower), and a
/// tick decided on the stale copy found nothing due.
#[tokio::test]
async fn r_chat_9_a_tick_routes_a_buyer_queued_through_the_other_replica() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b, _faq) = two_replicas(&dir).await;
    let clock = a.clock.clone();
    a.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    let hours = weekdays_nine_to_six();
    a.client
        .set_service_hours(a.owner(pb::SetServiceHoursRequest {
            shop_id: String::new(),
            hours: Some(hours),
        }))
        .await
        .unwrap();
    // Saturday noon in Shanghai: B takes the buyer, who waits.
    clock.set(t("2026-03-07T04:00:00Z"));
    b.open("c1").await;
    let waiting = b.buyer("c1", "m1", "转人工").await.conversation.unwrap();
    assert!(waiting.assignee_agent_id.is_empty() && waiting.waiting_for_human);
    // A reads the conversation: its view has the buyer now.
    assert!(
        a.conversation("c1")
            .await
            .conversation
            .unwrap()
            .waiting_for_human
    );
    // Monday 09:00: A keeps time and routes the buyer.
    clock.set(t("2026-03-09T01:00:00Z"));
    assert_eq!(
        a.chat.tick().await.unwrap(),
        1,
        "A's tick saw the buyer B queued"
    );
    let c = b.conversation("c1").await.conversation.unwrap();
    assert_eq!(c.assignee_agent_id, "a1");
}

/// Hardening item 5: a live stream ends with UNAUTHENTICATED when its token
/// expires, instead of delivering for as long as the connection lives.
#[tokio::test]
async fn a_live_stream_ends_when_its_token_expires() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _faq) = stack(&dir).await;
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    let token = app.signer.mint(&Claims {
        shop: SHOP.into(),
        sub: "a1".into(),
        role: Role::Agent,
        exp: chrono::Utc::now().timestamp() + 2,
    });
    let mut r = Request::new(pb::WatchInboxRequest::default());
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let mut stream = app.client.watch_inbox(r).await.unwrap().into_inner();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.next().await {
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Some(e),
                None => return None,
            }
        }
    })
    .await
    .expect("the stream ends within 10 s of a 2 s token");
    assert_eq!(ended.map(|e| e.code()), Some(Code::Unauthenticated));
}

/// R-CHAT-14 over gRPC: the gateway files an after-sale request; an agent
/// without review_after_sale is PERMISSION_DENIED, one with it decides; order
/// actions need handle_orders; every step is a line of the transcript and
/// reaches the agent's inbox.
#[tokio::test]
async fn r_chat_14_after_sale_over_grpc_gated_by_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _faq) = stack(&dir).await;
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    app.open("c1").await;
    app.buyer("c1", "m1", "我要退货，转人工").await;
    let mut inbox = app.inbox("a1", 0).await;
    let file = app.gateway(pb::FileAfterSaleRequest {
        shop_id: SHOP.into(),
        conversation_id: "c1".into(),
        request_id: "r1".into(),
        order_id: "ord-1".into(),
        kind: pb::AfterSaleKind::RefundOnly as i32,
        reason: "质量问题".into(),
        amount_fen: 9_900,
        order_amount_fen: 9_900,
    });
    let filed = app.client.file_after_sale(file).await.unwrap().into_inner();
    assert_eq!(filed.message.unwrap().after_sale.unwrap().amount_fen, 9_900);
    let decide = |approve| pb::DecideAfterSaleRequest {
        conversation_id: "c1".into(),
        request_id: "r1".into(),
        approve,
        reason: "已核实，同意退款".into(),
        ..Default::default()
    };
    let e = app
        .client
        .decide_after_sale(app.agent("a1", decide(true)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("review_after_sale"), "{}", e.message());
    let e = app
        .client
        .send_order_card(app.agent(
            "a1",
            pb::SendOrderCardRequest {
                conversation_id: "c1".into(),
                card: Some(pb::OrderCard {
                    order_id: "ord-1".into(),
                    title: "连衣裙".into(),
                    price_fen: 9_900,
                    status: "已签收".into(),
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // The owner grants the permissions.
    let grant = app.owner(pb::UpdateAgentRequest {
        agent_id: "a1".into(),
        name: "客服a1".into(),
        role: pb::ServiceRole::Both as i32,
        permissions: Some(pb::Permissions {
            reply: true,
            handle_orders: true,
            review_after_sale: true,
        }),
        ..Default::default()
    });
    app.client.update_agent(grant).await.unwrap();
    let decided = app
        .client
        .decide_after_sale(app.agent("a1", decide(true)))
        .await
        .unwrap()
        .into_inner()
        .message
        .unwrap();
    assert!(decided
        .after_sale
        .as_ref()
        .is_some_and(|a| a.decided && a.approved));
    let marked = app
        .client
        .mark_address_changed(app.agent(
            "a1",
            pb::MarkAddressChangedRequest {
                conversation_id: "c1".into(),
                order_id: "ord-1".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .message
        .unwrap();
    assert_eq!(marked.address_changed_order_id, "ord-1");
    let transcript = app.conversation("c1").await.transcript;
    assert!(transcript
        .iter()
        .any(|m| m.after_sale.as_ref().is_some_and(|a| !a.decided)));
    assert!(transcript
        .iter()
        .any(|m| m.after_sale.as_ref().is_some_and(|a| a.decided)));
    assert!(transcript
        .iter()
        .any(|m| m.address_changed_order_id == "ord-1"));
    // The inbox carries the decision (and everything before it).
    let mut saw_decision = false;
    for _ in 0..20 {
        let item = next_item(&mut inbox).await;
        if let Some(pb::watch_inbox_response::Item::Message(m)) = item.item {
            if m.after_sale.is_some_and(|a| a.decided) {
                saw_decision = true;
                break;
            }
        }
    }
    assert!(saw_decision);
}

/// Issue 18 item 5 over gRPC: a tag finds the conversation; a private note is
/// in the shop's transcript and not in what the buyer gateway reads.
#[tokio::test]
async fn r_chat_15_tags_find_conversations_and_notes_stay_with_the_shop() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _faq) = stack(&dir).await;
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    app.open("c1").await;
    app.open("c2").await;
    let tag = app.agent(
        "a1",
        pb::TagConversationRequest {
            conversation_id: "c2".into(),
            tag: "投诉".into(),
            ..Default::default()
        },
    );
    let tagged = app.client.tag_conversation(tag).await.unwrap().into_inner();
    assert_eq!(tagged.conversation.unwrap().tags, ["投诉"]);
    let list = app.owner(pb::ListConversationsRequest {
        tag: "投诉".into(),
        ..Default::default()
    });
    let found = app
        .client
        .list_conversations(list)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        found
            .conversations
            .iter()
            .map(|c| c.conversation_id.as_str())
            .collect::<Vec<_>>(),
        ["c2"]
    );
    let note = app.owner(pb::AddNoteRequest {
        conversation_id: "c2".into(),
        note_id: "n1".into(),
        text: "上次已补偿".into(),
        ..Default::default()
    });
    assert!(
        app.client
            .add_note(note)
            .await
            .unwrap()
            .into_inner()
            .note
            .unwrap()
            .private_note
    );
    let gateway_note = app.gateway(pb::AddNoteRequest {
        shop_id: SHOP.into(),
        conversation_id: "c2".into(),
        note_id: "n2".into(),
        text: "x".into(),
    });
    assert_eq!(
        app.client.add_note(gateway_note).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert!(app
        .conversation("c2")
        .await
        .transcript
        .iter()
        .any(|m| m.private_note));
    let read = app.gateway(pb::GetConversationRequest {
        shop_id: SHOP.into(),
        conversation_id: "c2".into(),
    });
    let seen = app
        .client
        .get_conversation(read)
        .await
        .unwrap()
        .into_inner();
    assert!(!seen.transcript.is_empty() && seen.transcript.iter().all(|m| !m.private_note));
    assert!(
        seen.conversation.unwrap().tags.is_empty(),
        "tags are the shop's too"
    );
}

async fn watch(
    app: &mut TestApp,
    conversation: &str,
    after: u64,
) -> tonic::Streaming<pb::WatchConversationResponse> {
    let r = app.gateway(pb::WatchConversationRequest {
        shop_id: SHOP.into(),
        conversation_id: conversation.into(),
        after_position: after,
    });
    app.client.watch_conversation(r).await.unwrap().into_inner()
}

async fn next_buyer_item(
    s: &mut tonic::Streaming<pb::WatchConversationResponse>,
) -> pb::WatchConversationResponse {
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("a buyer item within 5 s")
        .expect("stream open")
        .expect("item")
}

#[tokio::test]
async fn r_chat_13_the_buyers_stream_shows_every_reply_once_in_order_across_reconnects() {
    use pb::watch_conversation_response::Item;
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _faq) = stack(&dir).await;
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    app.open("c1").await;
    let mut phone = watch(&mut app, "c1", 0).await;
    let mut pad = watch(&mut app, "c1", 0).await;
    // The greeting first, as a notice.
    let greeting = next_buyer_item(&mut phone).await;
    let Some(Item::Message(m)) = &greeting.item else {
        panic!("{greeting:?}")
    };
    assert_eq!(m.kind, pb::MessageKind::Notice as i32);
    assert_eq!(next_buyer_item(&mut pad).await, greeting);
    // Asking for a human: the buyer's own line, the handover, the agent joining.
    app.buyer("c1", "m1", "转人工").await;
    let own = next_buyer_item(&mut phone).await;
    assert!(
        matches!(&own.item, Some(Item::Message(m)) if m.sender == pb::Sender::Buyer as i32 && m.text == "转人工")
    );
    let handover = next_buyer_item(&mut phone).await;
    assert_eq!(
        handover.item,
        Some(Item::Handover(pb::HandoverReason::BuyerAsked as i32))
    );
    let joined = next_buyer_item(&mut phone).await;
    assert!(matches!(&joined.item, Some(Item::Message(m)) if m.text.contains("客服a1")));
    // The shop's private note never reaches the buyer.
    let note = app.owner(pb::AddNoteRequest {
        shop_id: String::new(),
        conversation_id: "c1".into(),
        note_id: "n1".into(),
        text: "老客户，优先处理".into(),
    });
    app.client.add_note(note).await.unwrap();
    // An agent reply carrying a product card.
    let r = app.agent(
        "a1",
        pb::SendAgentReplyRequest {
            shop_id: String::new(),
            conversation_id: "c1".into(),
            message_id: "r1".into(),
            text: "这款可以看看".into(),
            attachment: Some(pb::Attachment {
                content: Some(pb::attachment::Content::Product(pb::ProductCard {
                    product_id: "p-9".into(),
                    title: "真丝连衣裙".into(),
                    price_fen: 29_900,
                })),
            }),
        },
    );
    app.client.send_agent_reply(r).await.unwrap();
    let card = next_buyer_item(&mut phone).await;
    let Some(Item::Message(m)) = &card.item else {
        panic!("{card:?}")
    };
    assert_eq!(m.kind, pb::MessageKind::ProductCard as i32);
    assert!(matches!(
        &m.attachment.as_ref().unwrap().content,
        Some(pb::attachment::Content::Product(p)) if p.price_fen == 29_900
    ));
    // The buyer reads it: the agent's inbox shows the receipt.
    let mut inbox = app.inbox("a1", card.position).await;
    let r = app.gateway(pb::MarkReadRequest {
        shop_id: SHOP.into(),
        conversation_id: "c1".into(),
        up_to_position: card.position,
    });
    let c = app.client.mark_read(r).await.unwrap().into_inner();
    assert_eq!(c.conversation.unwrap().buyer_read_up_to, card.position);
    let receipt = next_item(&mut inbox).await;
    assert!(matches!(
        receipt.item,
        Some(pb::watch_inbox_response::Item::Read(pb::ReadReceipt { reader, up_to_position, .. }))
            if reader == pb::Sender::Buyer as i32 && up_to_position == card.position
    ));
    let seen = next_buyer_item(&mut phone).await;
    assert!(matches!(seen.item, Some(Item::Read(_))), "{seen:?}");
    // The phone drops; a picture and another reply arrive meanwhile.
    let last_seen = seen.position;
    drop(phone);
    let r = app.gateway(pb::SendBuyerMessageRequest {
        shop_id: SHOP.into(),
        conversation_id: "c1".into(),
        message_id: "m2".into(),
        text: String::new(),
        attachment: Some(pb::Attachment {
            content: Some(pb::attachment::Content::ImageUrl(
                "https://media.example.com/p/1.jpg".into(),
            )),
        }),
    });
    app.client.send_buyer_message(r).await.unwrap();
    app.reply("a1", "c1", "r2").await.unwrap();
    let r = app.owner(pb::CloseConversationRequest {
        shop_id: String::new(),
        conversation_id: "c1".into(),
    });
    app.client.close_conversation(r).await.unwrap();
    // The pad stayed: everything since the greeting, once, in order.
    let mut on_pad = Vec::new();
    while on_pad
        .last()
        .is_none_or(|i: &pb::WatchConversationResponse| !matches!(i.item, Some(Item::Closed(_))))
    {
        on_pad.push(next_buyer_item(&mut pad).await);
    }
    assert!(
        on_pad
            .iter()
            .all(|i| !matches!(&i.item, Some(Item::Message(m)) if m.private_note)),
        "no note on the buyer's side"
    );
    let positions: Vec<u64> = on_pad.iter().map(|i| i.position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    // The phone resumes from its last position: exactly the rest.
    let mut phone = watch(&mut app, "c1", last_seen).await;
    let tail: Vec<_> = on_pad
        .iter()
        .filter(|i| i.position > last_seen)
        .cloned()
        .collect();
    let mut resumed = Vec::new();
    for _ in 0..tail.len() {
        resumed.push(next_buyer_item(&mut phone).await);
    }
    assert_eq!(resumed, tail);
    let kinds: Vec<i32> = tail
        .iter()
        .filter_map(|i| match &i.item {
            Some(Item::Message(m)) => Some(m.kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [pb::MessageKind::Image as i32, pb::MessageKind::Text as i32]
    );
    assert_eq!(
        tail.last().unwrap().item,
        Some(Item::Closed(pb::ConversationEnded {
            rating_requested: true
        }))
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), phone.next())
            .await
            .is_err(),
        "nothing twice"
    );
    // Only the gateway watches, and only conversations that exist.
    let r = app.agent(
        "a1",
        pb::WatchConversationRequest {
            shop_id: String::new(),
            conversation_id: "c1".into(),
            after_position: 0,
        },
    );
    assert_eq!(
        app.client.watch_conversation(r).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let r = app.gateway(pb::WatchConversationRequest {
        shop_id: SHOP.into(),
        conversation_id: "nope".into(),
        after_position: 0,
    });
    assert_eq!(
        app.client.watch_conversation(r).await.unwrap_err().code(),
        Code::NotFound
    );
    // R-CHAT-12 over the wire: the two buyer messages that waited, both answered.
    let r = app.owner(pb::GetResponseMetricsRequest {
        shop_id: String::new(),
        from: Some(prost_types::Timestamp {
            seconds: t0().timestamp() - 60,
            nanos: 0,
        }),
        to: Some(prost_types::Timestamp {
            seconds: t0().timestamp() + 60,
            nanos: 0,
        }),
        agent_id: String::new(),
    });
    let shop = app
        .client
        .get_response_metrics(r)
        .await
        .unwrap()
        .into_inner()
        .shop
        .unwrap();
    assert_eq!((shop.messages, shop.messages_answered), (2, 2));
    assert_eq!(shop.messages_within_target_share, Some(1.0));
}

#[tokio::test]
async fn r_chat_15_a_buyer_leaves_a_message_outside_hours_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _faq) = stack(&dir).await;
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    let r = app.owner(pb::SetServiceHoursRequest {
        shop_id: String::new(),
        hours: Some(pb::ServiceHours {
            time_zone: "Asia/Shanghai".into(),
            weekly: (1..=5)
                .map(|d| pb::DayHours {
                    weekday: d,
                    ranges: vec![pb::TimeRange {
                        start_minute: 540,
                        end_minute: 1080,
                    }],
                })
                .collect(),
            ..Default::default()
        }),
    });
    app.client.set_service_hours(r).await.unwrap();
    app.open("c1").await;
    // Inside hours with an agent free: not offered.
    let leave = |app: &TestApp, id: &str| {
        app.gateway(pb::LeaveMessageRequest {
            shop_id: SHOP.into(),
            conversation_id: "c1".into(),
            message_id: id.into(),
            text: "请尽快联系我".into(),
        })
    };
    let e = app
        .client
        .leave_message(leave(&app, "x"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    // Saturday: the buyer is offered to leave a message, and leaves one.
    app.clock.set(t("2026-03-07T04:00:00Z"));
    let r = app.buyer("c1", "m1", "转人工").await;
    assert!(r.conversation.unwrap().leave_message_offered);
    let left = app
        .client
        .leave_message(leave(&app, "m2"))
        .await
        .unwrap()
        .into_inner();
    assert!(left.replies[0].text.contains("留言"), "{:?}", left.replies);
    let c = left.conversation.unwrap();
    assert!(c.left_message_at.is_some() && c.queue_place == 0);
    assert_eq!(c.messages_waiting, 2);
    let r = app.owner(pb::ListConversationsRequest {
        left_message_only: true,
        ..Default::default()
    });
    let left_list = app.client.list_conversations(r).await.unwrap().into_inner();
    assert_eq!(left_list.conversations.len(), 1, "the 留言 list");
    let bad = app
        .client
        .leave_message(app.gateway(pb::LeaveMessageRequest {
            shop_id: SHOP.into(),
            conversation_id: "c1".into(),
            message_id: String::new(),
            text: " ".into(),
        }))
        .await
        .unwrap_err();
    let fields: Vec<String> = bad
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["message_id", "text"]);
    // Monday 09:00: routed to the agent who is online.
    app.clock.set(t("2026-03-09T01:00:00Z"));
    assert_eq!(app.chat.tick().await.unwrap(), 1);
    let c = app.conversation("c1").await.conversation.unwrap();
    assert_eq!(c.assignee_agent_id, "a1");
    assert!(c.left_message_at.is_none());
}

/// Searches until the read model shows `expect` conversations (the projector
/// runs a pass behind the log), then returns the page.
async fn search_until(
    app: &mut TestApp,
    shop: &str,
    request: pb::SearchConversationsRequest,
    expect: usize,
) -> pb::SearchConversationsResponse {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.req(shop, Role::Owner, "owner", request.clone());
        let found = app
            .client
            .search_conversations(r)
            .await
            .unwrap()
            .into_inner();
        if found.conversations.len() == expect || std::time::Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ids_of(found: &pb::SearchConversationsResponse) -> Vec<&str> {
    found
        .conversations
        .iter()
        .map(|c| c.conversation_id.as_str())
        .collect()
}

/// R-X-4 (issue 15 item 4): conversations, open and closed, are found in the
/// read model by buyer, order, agent, status, time and text, paged newest
/// first; transcripts come from the read model and the log, whichever
/// replica answers; one shop never finds another's.
#[tokio::test]
async fn r_x_4_conversations_are_searched_in_the_read_model_not_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _faq) = stack(&dir).await;
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    app.open("c1").await;
    app.buyer("c1", "m1", "我的快递怎么还没到").await;
    app.clock.set(t0() + Span::hours(2));
    let open = app.gateway(pb::OpenConversationRequest {
        shop_id: SHOP.into(),
        conversation_id: "c2".into(),
        buyer_id: "buyer-9".into(),
        buyer_name: "小李".into(),
        order_id: "o-77".into(),
        ..Default::default()
    });
    app.client.open_conversation(open).await.unwrap();
    app.buyer("c2", "m2", "转人工").await;
    app.reply("a1", "c2", "r1").await.unwrap();
    app.close("a1", "c2").await;
    // Another shop's conversation, with the same words.
    let other = app.req(
        "shop-b",
        Role::Platform,
        "gateway",
        pb::OpenConversationRequest {
            shop_id: "shop-b".into(),
            conversation_id: "c9".into(),
            buyer_id: "buyer-9".into(),
            ..Default::default()
        },
    );
    app.client.open_conversation(other).await.unwrap();

    let all = search_until(&mut app, SHOP, Default::default(), 2).await;
    assert_eq!(ids_of(&all), ["c2", "c1"], "newest opened first");
    let by = |f: &dyn Fn(&mut pb::SearchConversationsRequest)| {
        let mut r = pb::SearchConversationsRequest::default();
        f(&mut r);
        r
    };
    // The closing and the reply are projected by now or soon.
    let closed = search_until(
        &mut app,
        SHOP,
        by(&|r| r.status = pb::ConversationStatus::Closed as i32),
        1,
    )
    .await;
    assert_eq!(ids_of(&closed), ["c2"]);
    assert_eq!(
        closed.conversations[0].status,
        pb::ConversationStatus::Closed as i32
    );
    let cases: Vec<(pb::SearchConversationsRequest, Vec<&str>)> = vec![
        (by(&|r| r.buyer_id = "buyer-9".into()), vec!["c2"]),
        (by(&|r| r.order_id = "o-77".into()), vec!["c2"]),
        (by(&|r| r.text = "快递".into()), vec!["c1"]),
        (by(&|r| r.text = "在的".into()), vec!["c2"]),
        (
            by(&|r| {
                r.opened_from = Some(prost_types::Timestamp {
                    seconds: (t0() + Span::hours(1)).timestamp(),
                    nanos: 0,
                })
            }),
            vec!["c2"],
        ),
        (
            by(&|r| {
                r.opened_before = Some(prost_types::Timestamp {
                    seconds: (t0() + Span::hours(1)).timestamp(),
                    nanos: 0,
                })
            }),
            vec!["c1"],
        ),
        (by(&|r| r.buyer_id = "nobody".into()), vec![]),
    ];
    for (request, expect) in cases {
        let found = search_until(&mut app, SHOP, request.clone(), expect.len()).await;
        assert_eq!(ids_of(&found), expect, "{request:?}");
    }
    let handled = search_until(&mut app, SHOP, by(&|r| r.agent_id = "a1".into()), 1).await;
    assert!(
        ids_of(&handled).contains(&"c2"),
        "the agent who answered finds it"
    );
    // Pages of one: c2, then c1, then no further page.
    let first = search_until(
        &mut app,
        SHOP,
        by(&|r| {
            r.page = Some(sellerdesk_api::common::v1::PageRequest {
                page_size: 1,
                page_token: String::new(),
            })
        }),
        1,
    )
    .await;
    assert_eq!(ids_of(&first), ["c2"]);
    let token = first.page.unwrap().next_page_token;
    let second = search_until(
        &mut app,
        SHOP,
        by(&|r| {
            r.page = Some(sellerdesk_api::common::v1::PageRequest {
                page_size: 1,
                page_token: token.clone(),
            })
        }),
        1,
    )
    .await;
    assert_eq!(ids_of(&second), ["c1"]);
    assert!(second.page.unwrap().next_page_token.is_empty());
    // One shop never finds another's.
    let theirs = search_until(&mut app, "shop-b", Default::default(), 1).await;
    assert_eq!(ids_of(&theirs), ["c9"]);
    // Bad input: INVALID_ARGUMENT naming the request's own fields.
    let bad = [
        (by(&|r| r.text = "长".repeat(101)), "text"),
        (
            by(&|r| {
                r.opened_from = Some(prost_types::Timestamp {
                    seconds: 100,
                    nanos: 0,
                });
                r.opened_before = Some(prost_types::Timestamp {
                    seconds: 100,
                    nanos: 0,
                });
            }),
            "opened_before",
        ),
        (by(&|r| r.status = 9), "status"),
        (
            by(&|r| {
                r.page = Some(sellerdesk_api::common::v1::PageRequest {
                    page_size: 1,
                    page_token: "p1.bm9wZQ".into(),
                })
            }),
            "page.page_token",
        ),
    ];
    for (request, field) in bad {
        let e = app
            .client
            .search_conversations(app.owner(request))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{field}");
        assert_eq!(
            e.get_details_bad_request().unwrap().field_violations[0].field,
            field
        );
    }
    // The transcript is whole without any line held in memory: the read
    // model's lines and the log after its mark.
    let c2 = app.conversation("c2").await;
    let said: Vec<&str> = c2.transcript.iter().map(|m| m.text.as_str()).collect();
    assert!(
        said.contains(&"转人工") && said.contains(&"亲，在的"),
        "{said:?}"
    );
    assert_eq!(c2.assignments.len(), 1);
}

/// R-X-4 (issue 15 item 4): a conversation closed over a week ago leaves the
/// desk; it is still read (GetConversation, SearchConversations), counted in
/// the figures exactly as before, its id is not free again, and it is
/// read-only (FAILED_PRECONDITION CONVERSATION_ARCHIVED).
#[tokio::test]
async fn r_x_4_a_conversation_closed_a_week_ago_leaves_the_desk_and_is_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _faq) = stack(&dir).await;
    app.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    app.open("c1").await;
    app.buyer("c1", "m1", "转人工").await;
    app.clock.set(t0() + Span::seconds(20));
    app.reply("a1", "c1", "r1").await.unwrap();
    app.close("a1", "c1").await;
    let figures = |app: &TestApp| {
        app.owner(pb::GetResponseMetricsRequest {
            from: Some(prost_types::Timestamp {
                seconds: (t0() - Span::hours(1)).timestamp(),
                nanos: 0,
            }),
            to: Some(prost_types::Timestamp {
                seconds: (t0() + Span::days(1)).timestamp(),
                nanos: 0,
            }),
            ..Default::default()
        })
    };
    let before = app
        .client
        .get_response_metrics(figures(&app))
        .await
        .unwrap()
        .into_inner()
        .shop
        .unwrap();
    assert_eq!(before.messages_answered, 1);
    let closed = pb::SearchConversationsRequest {
        status: pb::ConversationStatus::Closed as i32,
        ..Default::default()
    };
    assert_eq!(
        ids_of(&search_until(&mut app, SHOP, closed.clone(), 1).await),
        ["c1"]
    );

    // A week and a day later a new conversation opens: c1 leaves the desk.
    app.clock.set(t0() + Span::days(8));
    app.open("c2").await;
    assert!(
        app.chat
            .read(SHOP, |v| v.desk.conversation("c1").is_none())
            .await
            .unwrap(),
        "c1 left the desk"
    );
    let after = app
        .client
        .get_response_metrics(figures(&app))
        .await
        .unwrap()
        .into_inner()
        .shop
        .unwrap();
    assert_eq!(after, before, "the figures read it from the read model");
    let c1 = app.conversation("c1").await;
    assert_eq!(
        c1.conversation.unwrap().status,
        pb::ConversationStatus::Closed as i32
    );
    assert!(c1.transcript.iter().any(|m| m.text == "转人工"));
    assert_eq!(
        ids_of(&search_until(&mut app, SHOP, closed, 1).await),
        ["c1"]
    );
    let listed = app
        .client
        .list_conversations(app.owner(pb::ListConversationsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed
            .conversations
            .iter()
            .map(|c| c.conversation_id.as_str())
            .collect::<Vec<_>>(),
        ["c2"],
        "the desk lists what it holds"
    );
    let rate = app.gateway(pb::RateConversationRequest {
        shop_id: SHOP.into(),
        conversation_id: "c1".into(),
        rating: 5,
    });
    let e = app.client.rate_conversation(rate).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(
        e.get_details_precondition_failure().unwrap().violations[0].r#type,
        "CONVERSATION_ARCHIVED"
    );
    // The id is not free again: the same buyer's open is a repeat, another
    // buyer's is ALREADY_EXISTS.
    let again = app.open("c1").await;
    assert_eq!(
        again.conversation.unwrap().status,
        pb::ConversationStatus::Closed as i32
    );
    let other = app.gateway(pb::OpenConversationRequest {
        shop_id: SHOP.into(),
        conversation_id: "c1".into(),
        buyer_id: "someone-else".into(),
        ..Default::default()
    });
    assert_eq!(
        app.client
            .open_conversation(other)
            .await
            .unwrap_err()
            .code(),
        Code::AlreadyExists
    );
}

/// A desk as it answers: its version, agents, conversations and queue
/// (Debug of sorted parts, so two folds of one log compare equal).
async fn desk_as_read(chat: &Arc<Chat>, shop: &str) -> String {
    chat.read(shop, |v| {
        let d = &v.desk;
        let mut agents: Vec<_> = d
            .agents
            .values()
            .map(|a| {
                let mut open: Vec<_> = a.open.iter().cloned().collect();
                open.sort();
                (a.agent_id.clone(), a.status, open, a.last_assigned)
            })
            .collect();
        agents.sort_by(|x, y| x.0.cmp(&y.0));
        let mut conversations: Vec<_> = d
            .conversations
            .values()
            .map(|c| {
                let mut ids: Vec<_> = c.message_ids.keys().cloned().collect();
                ids.sort();
                (
                    c.conversation_id.clone(),
                    c.status,
                    c.assignee.clone(),
                    c.buyer_messages,
                    ids,
                )
            })
            .collect();
        conversations.sort_by(|x, y| x.0.cmp(&y.0));
        format!(
            "{} {agents:?} {conversations:?} {:?} {:?}",
            d.version, d.queue, d.retired_before
        )
    })
    .await
    .unwrap()
}

/// R-X-4 (issue 15 item 4): a desk whose load folded a long stream is saved
/// as a snapshot; the next load reads the snapshot and only the events after
/// it, and answers exactly as a fold of the whole stream. A snapshot of
/// another form is not trusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_x_4_a_desk_loads_from_its_snapshot_and_the_stream_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let signer = TokenSigner::new("test");
    let store = sqlite(&dir, "chat").await;
    let faq = spawn_faq(sqlite(&dir, "faq").await, &signer).await;
    let clock = ManualClock::new(t0());
    let mut a = spawn_chat(store.clone(), faq.endpoint(), clock.clone()).await;
    a.online_agent("a1", pb::ServiceRole::Both, "13800000001")
        .await;
    for n in 0..110 {
        let c = format!("c{n}");
        a.open(&c).await;
        a.buyer(&c, "m1", "转人工").await;
        if n % 3 == 0 {
            let close = a.owner(pb::CloseConversationRequest {
                conversation_id: c.clone(),
                ..Default::default()
            });
            a.client.close_conversation(close).await.unwrap();
        }
    }
    let key = "chat:desk/shop-a";
    assert!(store.load_snapshot(key).await.unwrap().is_none());
    // A fresh replica folds the whole stream once, and saves what it made.
    let b = spawn_chat(store.clone(), faq.endpoint(), clock.clone()).await;
    let whole = desk_as_read(&a.chat, SHOP).await;
    assert_eq!(desk_as_read(&b.chat, SHOP).await, whole);
    let saved = store
        .load_snapshot(key)
        .await
        .unwrap()
        .expect("snapshot saved");
    let head = store
        .read_stream("chat-desk-shop-a", 0, 100_000)
        .await
        .unwrap()
        .len() as i64;
    assert_eq!(saved.version, head);
    // More happens; the next fresh replica reads the snapshot and the rest.
    for n in 110..115 {
        a.open(&format!("c{n}")).await;
    }
    let c = spawn_chat(store.clone(), faq.endpoint(), clock.clone()).await;
    assert_eq!(
        desk_as_read(&c.chat, SHOP).await,
        desk_as_read(&a.chat, SHOP).await
    );
    // A snapshot of another form (an empty desk at the head's version):
    // folded again from the log, not trusted.
    let head = store
        .read_stream("chat-desk-shop-a", 0, 100_000)
        .await
        .unwrap()
        .len() as i64;
    let mut empty = chat_svc::domain::ChatDesk::default();
    empty.version = head;
    let wrong = sellerdesk_eventstore::Snapshot {
        body: serde_json::json!({ "form": 99, "desk": empty }).to_string(),
        version: head,
        ..saved
    };
    store.save_snapshots(&[wrong]).await.unwrap();
    let d = spawn_chat(store.clone(), faq.endpoint(), clock).await;
    assert_eq!(
        desk_as_read(&d.chat, SHOP).await,
        desk_as_read(&a.chat, SHOP).await
    );
}
