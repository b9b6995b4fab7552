//! `sellerdesk load chat`: simulated buyers and agents over gRPC against a
//! running stack (or one this command starts on embedded defaults), printing
//! buyer messages/s, the delay from a buyer's send to the message arriving
//! on the agent's inbox stream (R-CHAT-5), and the delay from an agent's reply
//! to its arrival on the buyer's stream (R-CHAT-13): every conversation with
//! a human has its buyer stream open, and agents answer every fourth buyer
//! message they receive. Loopback only; bounded in time.

use crate::client::{authed, channel, token};
use anyhow::Context;
use futures::StreamExt;
use hdrhistogram::Histogram;
use sellerdesk_api::chat::v1::{self as pb, chat_service_client::ChatServiceClient};
use sellerdesk_runtime::{Role, TokenSigner};
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tonic::transport::Channel;

#[derive(Debug, Clone)]
pub struct ChatLoad {
    /// chat-svc's endpoint; None: start faq and chat in this process on SQLite.
    pub endpoint: Option<String>,
    /// Signs tokens for the endpoint's shops (the stack's secret).
    pub signer: TokenSigner,
    pub duration: Duration,
    pub shops: usize,
    pub agents_per_shop: usize,
    pub conversations: usize,
    /// Buyer messages per second to aim at.
    pub rate: u64,
    /// Concurrent simulated buyers.
    pub buyers: usize,
}

/// "30s", "2m", "500ms" or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: a duration like 30s, 2m or 500ms"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(60 * n)),
        _ => Err(format!("{s:?}: a duration like 30s, 2m or 500ms")),
    }
}

/// Questions the platform presets answer (robot conversations).
fn robot_questions() -> Vec<String> {
    faq_svc::presets::builtin()
        .entries
        .iter()
        .flat_map(|e| e.content.similar_questions.iter().take(1).cloned())
        .collect()
}

/// HTTP/2 connections the simulated buyer gateway keeps to chat-svc.
const GATEWAY_CONNECTIONS: usize = 16;

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

struct Running {
    _dir: tempfile::TempDir,
    faq: sellerdesk_runtime::server::Running,
    chat: sellerdesk_runtime::server::Running,
}

/// faq-svc and chat-svc in this process on SQLite, as `sellerdesk up` runs them.
async fn embedded(signer: &TokenSigner) -> anyhow::Result<Running> {
    let dir = tempfile::tempdir()?;
    let config = sellerdesk_runtime::Config {
        data_dir: dir.path().to_owned(),
        ..Default::default()
    };
    let common = crate::stack::common(&config, Arc::new(sellerdesk_runtime::SystemClock)).await?;
    let mut faq_settings = crate::stack::settings::<faq_svc::Faq>(&config, common.clone()).await?;
    // chat-svc passes the gateway's token on to faq-svc: both trust the load's key.
    faq_settings.verifier = signer.verifier();
    let faq = faq_svc::Application::spawn_local(faq_settings)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut chat_settings = crate::stack::settings::<chat_svc::Chat>(&config, common).await?;
    chat_settings.faq_endpoint = faq.endpoint();
    chat_settings.verifier = signer.verifier();
    let (chat, _) = chat_svc::spawn_local(chat_settings)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(Running {
        _dir: dir,
        faq,
        chat,
    })
}

pub async fn chat(options: ChatLoad) -> anyhow::Result<()> {
    let (embedded_stack, endpoint, signer) = match &options.endpoint {
        Some(e) => (None, e.clone(), options.signer.clone()),
        None => {
            let signer = TokenSigner::new("load");
            let running = embedded(&signer).await?;
            let endpoint = running.chat.endpoint();
            println!("started faq-svc and chat-svc in this process on SQLite ({endpoint})");
            (Some(running), endpoint, signer)
        }
    };
    // Connections as the real clients hold them: the buyer gateway keeps a
    // pool (one HTTP/2 connection is one task on each side, so 5,000 buyer
    // streams on one would measure that task), and each agent's desk app is
    // its own device with its own connection.
    // Several replicas (a comma-separated list): the connections are spread
    // over them, as a Kubernetes Service spreads them.
    let endpoints: Vec<String> = endpoint.split(',').map(|e| e.trim().to_owned()).collect();
    let mut gateway = Vec::with_capacity(GATEWAY_CONNECTIONS);
    for i in 0..GATEWAY_CONNECTIONS {
        let endpoint = &endpoints[i % endpoints.len()];
        gateway.push(
            channel(endpoint)
                .await
                .with_context(|| format!("cannot reach chat-svc at {endpoint}"))?,
        );
    }
    let pooled = |i: usize| gateway[i % gateway.len()].clone();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let shops: Vec<String> = (0..options.shops)
        .map(|i| format!("load-{}-{i}", &run[20..]))
        .collect();
    let platform = token(&signer, "", Role::Platform, "load-gateway", 2);
    let epoch = Instant::now();

    // Agents: verified, online, with room for their share of conversations.
    let setup = Instant::now();
    let per_agent = (options.conversations / (options.shops * options.agents_per_shop).max(1) + 1)
        .clamp(1, 200) as u32;
    let mut work = Vec::new();
    for (i, shop) in shops.iter().enumerate() {
        let (mut client, shop, platform) = (
            ChatServiceClient::new(pooled(i)),
            shop.clone(),
            platform.clone(),
        );
        let (signer, agents) = (signer.clone(), options.agents_per_shop);
        work.push(tokio::spawn(async move {
            let owner = token(&signer, &shop, Role::Owner, "load-owner", 2);
            client
                .update_desk_settings(authed(
                    &owner,
                    pb::UpdateDeskSettingsRequest {
                        shop_id: String::new(),
                        settings: Some(pb::DeskSettings {
                            response_target_secs: 30,
                            reassign_after_secs: 86_400,
                            queue_capacity: 100_000,
                            default_agent_capacity: per_agent,
                        }),
                    },
                ))
                .await?;
            for a in 0..agents {
                let agent_id = format!("agent-{a}");
                client
                    .add_agent(authed(
                        &owner,
                        pb::AddAgentRequest {
                            agent_id: agent_id.clone(),
                            name: format!("客服{a}"),
                            phone: format!("1380000{a:04}"),
                            role: pb::ServiceRole::Both as i32,
                            permissions: Some(pb::Permissions {
                                reply: true,
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                    ))
                    .await?;
                client
                    .verify_agent_real_name(authed(
                        &platform,
                        pb::VerifyAgentRealNameRequest {
                            shop_id: shop.clone(),
                            agent_id: agent_id.clone(),
                        },
                    ))
                    .await?;
                let me = token(&signer, &shop, Role::Agent, &agent_id, 2);
                client
                    .set_agent_status(authed(
                        &me,
                        pb::SetAgentStatusRequest {
                            status: pb::AgentStatus::Online as i32,
                            ..Default::default()
                        },
                    ))
                    .await?;
            }
            Ok::<_, tonic::Status>(())
        }));
    }
    for w in work {
        w.await??;
    }

    // One inbox stream per agent: each buyer message's delivery delay. The
    // agent answers every fourth buyer message it receives.
    let delivery = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let delivered = Arc::new(AtomicU64::new(0));
    let replies = Arc::new(AtomicU64::new(0));
    let mut streams = 0;
    for shop in &shops {
        for a in 0..options.agents_per_shop {
            let me = token(&signer, shop, Role::Agent, &format!("agent-{a}"), 2);
            let device = channel(&endpoints[streams % endpoints.len()]).await?;
            let mut inbox = ChatServiceClient::new(device.clone())
                .watch_inbox(authed(&me, pb::WatchInboxRequest::default()))
                .await?
                .into_inner();
            streams += 1;
            let (delivery, delivered) = (delivery.clone(), delivered.clone());
            let (replier, replies) = (ChatServiceClient::new(device), replies.clone());
            tokio::spawn(async move {
                let mut received = 0u64;
                while let Some(Ok(item)) = inbox.next().await {
                    // A message that handed the conversation over arrives as the
                    // last line of the assignment's history.
                    let m = match item.item {
                        Some(pb::watch_inbox_response::Item::Message(m)) => m,
                        Some(pb::watch_inbox_response::Item::Assigned(_)) => {
                            match item
                                .history
                                .into_iter()
                                .rfind(|m| m.sender() == pb::Sender::Buyer)
                            {
                                Some(m) => m,
                                None => continue,
                            }
                        }
                        _ => continue,
                    };
                    // Message ids end in the send instant, micros since the driver's epoch.
                    let sent = m
                        .message_id
                        .rsplit('-')
                        .next()
                        .and_then(|s| s.parse::<u64>().ok());
                    if let (pb::Sender::Buyer, Some(sent)) = (m.sender(), sent) {
                        let now = epoch.elapsed().as_micros() as u64;
                        delivery
                            .lock()
                            .expect("histogram")
                            .record(now.saturating_sub(sent))
                            .ok();
                        delivered.fetch_add(1, Ordering::Relaxed);
                        received += 1;
                        if received.is_multiple_of(4) {
                            // The reply's id ends in its send instant too.
                            let (mut client, me) = (replier.clone(), me.clone());
                            let replies = replies.clone();
                            let has_buyer_stream = m
                                .conversation_id
                                .strip_prefix("conv-")
                                .and_then(|n| n.parse::<usize>().ok())
                                .is_some_and(|n| n.is_multiple_of(2));
                            tokio::spawn(async move {
                                let message_id = format!(
                                    "{}-r{received}-{}",
                                    m.conversation_id,
                                    epoch.elapsed().as_micros()
                                );
                                let r = client
                                    .send_agent_reply(authed(
                                        &me,
                                        pb::SendAgentReplyRequest {
                                            shop_id: String::new(),
                                            conversation_id: m.conversation_id,
                                            message_id,
                                            text: "亲，在的".into(),
                                            attachment: None,
                                        },
                                    ))
                                    .await;
                                // Conversations the robot handed over have no buyer
                                // stream in this driver: only the others count.
                                if r.is_ok() && has_buyer_stream {
                                    replies.fetch_add(1, Ordering::Relaxed);
                                }
                            });
                        }
                    }
                }
            });
        }
    }

    // Conversations: even ones go to a human (转人工), odd ones stay with the robot.
    let conversations: Vec<(String, String, bool)> = (0..options.conversations)
        .map(|i| {
            (
                shops[i % shops.len()].clone(),
                format!("conv-{i}"),
                i % 2 == 0,
            )
        })
        .collect();
    let conversations = Arc::new(conversations);
    let opened = Arc::new(AtomicU64::new(0));
    let mut work = Vec::new();
    for w in 0..options.buyers {
        let (mut client, platform) = (ChatServiceClient::new(pooled(w)), platform.clone());
        let (conversations, opened, buyers) =
            (conversations.clone(), opened.clone(), options.buyers);
        work.push(tokio::spawn(async move {
            for (shop, id, human) in conversations.iter().skip(w).step_by(buyers) {
                client
                    .open_conversation(authed(
                        &platform,
                        pb::OpenConversationRequest {
                            shop_id: shop.clone(),
                            conversation_id: id.clone(),
                            buyer_id: format!("buyer-{id}"),
                            buyer_name: "买家".into(),
                            ..Default::default()
                        },
                    ))
                    .await?;
                if *human {
                    client
                        .send_buyer_message(authed(
                            &platform,
                            pb::SendBuyerMessageRequest {
                                shop_id: shop.clone(),
                                conversation_id: id.clone(),
                                message_id: format!("{id}-open"),
                                text: "转人工".into(),
                                attachment: None,
                            },
                        ))
                        .await?;
                }
                opened.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, tonic::Status>(())
        }));
    }
    for w in work {
        w.await??;
    }
    // R-CHAT-13: the buyer's stream of every conversation with a human, as
    // the buyer gateway holds it: each agent reply's delivery delay.
    let reply_delivery = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let replies_delivered = Arc::new(AtomicU64::new(0));
    let mut buyer_streams = 0;
    for (i, (shop, id, _)) in conversations
        .iter()
        .filter(|(_, _, human)| *human)
        .enumerate()
    {
        let mut side = ChatServiceClient::new(pooled(i))
            .watch_conversation(authed(
                &platform,
                pb::WatchConversationRequest {
                    shop_id: shop.clone(),
                    conversation_id: id.clone(),
                    after_position: 0,
                },
            ))
            .await?
            .into_inner();
        buyer_streams += 1;
        let (reply_delivery, replies_delivered) =
            (reply_delivery.clone(), replies_delivered.clone());
        tokio::spawn(async move {
            while let Some(Ok(item)) = side.next().await {
                let Some(pb::watch_conversation_response::Item::Message(m)) = item.item else {
                    continue;
                };
                let sent = m
                    .message_id
                    .rsplit('-')
                    .next()
                    .and_then(|s| s.parse::<u64>().ok());
                if let (pb::Sender::Agent, Some(sent)) = (m.sender(), sent) {
                    let now = epoch.elapsed().as_micros() as u64;
                    reply_delivery
                        .lock()
                        .expect("histogram")
                        .record(now.saturating_sub(sent))
                        .ok();
                    replies_delivered.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    println!(
        "set up {} shops, {} agents online with {streams} inbox streams, {} open conversations ({} with a human, each with its buyer stream: {buyer_streams}) in {:.1} s",
        shops.len(),
        shops.len() * options.agents_per_shop,
        opened.load(Ordering::Relaxed),
        options.conversations.div_ceil(2),
        setup.elapsed().as_secs_f64()
    );
    let delivered_before = delivered.load(Ordering::Relaxed);
    let replies_before = replies.load(Ordering::Relaxed);
    let replies_delivered_before = replies_delivered.load(Ordering::Relaxed);
    *delivery.lock().expect("histogram") = Histogram::<u64>::new(3)?;
    *reply_delivery.lock().expect("histogram") = Histogram::<u64>::new(3)?;

    // The run: each buyer paced at rate / buyers, alternating human and robot conversations.
    let questions = Arc::new(robot_questions());
    let sent = Arc::new(AtomicU64::new(0));
    let robot_sent = Arc::new(AtomicU64::new(0));
    let auto_replies = Arc::new(AtomicU64::new(0));
    let to_humans = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let rpc = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let started = Instant::now();
    let deadline = started + options.duration;
    let interval = Duration::from_secs_f64(options.buyers as f64 / options.rate.max(1) as f64);
    let mut work = Vec::new();
    for w in 0..options.buyers {
        let mut client: ChatServiceClient<Channel> = ChatServiceClient::new(pooled(w));
        let platform = platform.clone();
        let (conversations, questions) = (conversations.clone(), questions.clone());
        let (sent, robot_sent, auto_replies, errors, rpc) = (
            sent.clone(),
            robot_sent.clone(),
            auto_replies.clone(),
            errors.clone(),
            rpc.clone(),
        );
        let to_humans = to_humans.clone();
        let buyers = options.buyers;
        work.push(tokio::spawn(async move {
            let mut pace = tokio::time::interval(interval);
            // A late response is made up for, so the rate holds while the server keeps up.
            pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mine: Vec<_> = conversations.iter().skip(w).step_by(buyers).collect();
            let mut n = 0usize;
            while Instant::now() < deadline {
                pace.tick().await;
                let (shop, id, human) = mine[n % mine.len()];
                let text = if *human {
                    format!("还在吗{n}")
                } else {
                    questions[(w + n) % questions.len()].clone()
                };
                n += 1;
                let t = Instant::now();
                let message_id = format!("{id}-{n}-{}", epoch.elapsed().as_micros());
                let r = client
                    .send_buyer_message(authed(
                        &platform,
                        pb::SendBuyerMessageRequest {
                            shop_id: shop.clone(),
                            conversation_id: id.clone(),
                            message_id,
                            text,
                            attachment: None,
                        },
                    ))
                    .await;
                rpc.lock()
                    .expect("histogram")
                    .record(t.elapsed().as_micros() as u64)
                    .ok();
                match r {
                    Ok(r) => {
                        let r = r.into_inner();
                        sent.fetch_add(1, Ordering::Relaxed);
                        if !*human {
                            robot_sent.fetch_add(1, Ordering::Relaxed);
                            if r.replies.iter().any(|m| m.sender() == pb::Sender::Robot) {
                                auto_replies.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        // Delivered to an inbox: the conversation had (or now has) a human.
                        if r.conversation
                            .is_some_and(|c| !c.assignee_agent_id.is_empty())
                        {
                            to_humans.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for w in work {
        w.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Let the last deliveries land.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = sent.load(Ordering::Relaxed);
    let robot = robot_sent.load(Ordering::Relaxed);
    let delivered = delivered.load(Ordering::Relaxed) - delivered_before;
    let d = delivery.lock().expect("histogram").clone();
    let r = rpc.lock().expect("histogram").clone();
    println!(
        "buyer messages: {:.0}/s sustained ({sent} in {elapsed:.1} s, {} errors, target rate {}/s)",
        sent as f64 / elapsed,
        errors.load(Ordering::Relaxed),
        options.rate
    );
    println!(
        "  robot lookups through faq-svc: {:.0}/s ({robot} messages, {} answered automatically)",
        robot as f64 / elapsed,
        auto_replies.load(Ordering::Relaxed)
    );
    println!(
        "  SendBuyerMessage round trip: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(&r, 0.5),
        ms(&r, 0.99),
        r.max() as f64 / 1000.0
    );
    println!(
        "  buyer send -> agent inbox stream: {delivered} of {} messages to conversations a human has, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        to_humans.load(Ordering::Relaxed),
        ms(&d, 0.5),
        ms(&d, 0.99),
        d.max() as f64 / 1000.0
    );
    let rd = reply_delivery.lock().expect("histogram").clone();
    println!(
        "  agent reply -> buyer stream: {} of {} replies, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        replies_delivered.load(Ordering::Relaxed) - replies_delivered_before,
        replies.load(Ordering::Relaxed) - replies_before,
        ms(&rd, 0.5),
        ms(&rd, 0.99),
        rd.max() as f64 / 1000.0
    );
    if let Some(running) = embedded_stack {
        running.chat.stop().await.map_err(anyhow::Error::msg)?;
        running.faq.stop().await.map_err(anyhow::Error::msg)?;
    }
    Ok(())
}
