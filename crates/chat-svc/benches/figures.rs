//! What a live figures stream (WatchResponseMetrics) costs each second:
//! `cargo bench -p chat-svc --bench figures`.
//!
//! A shop with 100,000 conversations over the last 30 days, 500 of them in
//! the trailing hour. Before issue 18 the stream recomputed the figures over
//! every conversation of the shop each second (`report`); now events say
//! which conversations to look at and only those with something in the
//! window are recomputed (`report_on`). Both give the same figures, which
//! this bench checks before timing them.

use chat_svc::domain::{
    decide,
    metrics::{last_counted_at, report, report_on, Window},
    AgentStatus, BuyerNotice, ChatDesk, Command, Limits, Permissions, RobotVerdict, ServiceRole,
    Topic,
};
use chrono::{DateTime, Duration, Utc};
use criterion::Criterion;

fn run(desk: &mut ChatDesk, command: Command) {
    let limits = Limits::default();
    for e in decide(desk, &command, &limits).expect("accepted") {
        desk.apply(&e);
    }
}

/// `total` conversations spread over 30 days before `now`, the last
/// `active` of them inside the trailing hour; each asks for a human, gets
/// an answer and is closed.
fn shop(now: DateTime<Utc>, total: usize, active: usize) -> ChatDesk {
    let mut desk = ChatDesk::default();
    for a in 0..20 {
        let agent_id = format!("a{a}");
        run(
            &mut desk,
            Command::AddAgent {
                agent_id: agent_id.clone(),
                name: agent_id.clone(),
                phone: format!("1380000{a:04}"),
                role: ServiceRole::Both,
                permissions: Permissions {
                    reply: true,
                    ..Default::default()
                },
                capacity: Some(200),
            },
        );
        run(
            &mut desk,
            Command::VerifyAgentRealName {
                agent_id: agent_id.clone(),
            },
        );
        run(
            &mut desk,
            Command::SetAgentStatus {
                agent_id,
                status: AgentStatus::Online,
                at: now - Duration::days(31),
            },
        );
    }
    let old = total - active;
    for i in 0..total {
        let at = if i < old {
            now - Duration::days(30) + Duration::seconds((i * 25) as i64)
        } else {
            now - Duration::minutes(50) + Duration::seconds((i - old) as i64)
        };
        let id = format!("c{i}");
        run(
            &mut desk,
            Command::OpenConversation {
                conversation_id: id.clone(),
                buyer_id: format!("b{i}"),
                buyer_name: "买家".into(),
                order_id: None,
                topic: Some(Topic::PreSale),
                greeting: BuyerNotice::Greeting {
                    text: "您好".into(),
                    cards: vec![],
                },
                at,
            },
        );
        run(
            &mut desk,
            Command::ReceiveBuyerMessage {
                conversation_id: id.clone(),
                message_id: "m1".into(),
                text: "转人工".into(),
                attachment: None,
                robot: RobotVerdict::NotAsked,
                at,
            },
        );
        let agent_id = desk.conversation(&id).unwrap().assignee.clone().unwrap();
        run(
            &mut desk,
            Command::SendAgentReply {
                conversation_id: id.clone(),
                agent_id: agent_id.clone(),
                message_id: "r1".into(),
                text: "在的".into(),
                attachment: None,
                at: at + Duration::seconds((i % 60) as i64),
            },
        );
        run(
            &mut desk,
            Command::Close {
                conversation_id: id,
                by: agent_id,
                at: at + Duration::minutes(2),
            },
        );
    }
    desk
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let now: DateTime<Utc> = "2026-03-02T02:00:00Z".parse().unwrap();
    let desk = shop(now, 100_000, 500);
    let window = Window {
        from: now - Duration::hours(1),
        to: now + Duration::nanoseconds(1),
    };
    // What the stream keeps: the conversations with something in the window.
    let active: Vec<&str> = desk
        .conversations
        .values()
        .filter(|c| last_counted_at(c).is_some_and(|t| t >= window.from))
        .map(|c| c.conversation_id.as_str())
        .collect();
    assert_eq!(active.len(), 500);
    let on_active = || {
        report_on(
            &desk,
            active.iter().filter_map(|id| desk.conversation(id)),
            window,
            now,
        )
    };
    assert_eq!(report(&desk, window, now), on_active(), "the same figures");
    c.bench_function(
        "live figures, 100k conversations: scan the shop (before)",
        |b| b.iter(|| report(&desk, window, now)),
    );
    c.bench_function(
        "live figures, 100k conversations: the 500 active (now)",
        |b| b.iter(on_active),
    );
    c.final_summary();
}
