//! Histories written the way the service would, for the benches
//! (`sellerdesk bench chat-memory`) and the tests that need many shops.

use crate::domain::{
    AgentStatus, BuyerNotice, Command, Instant, Permissions, RobotVerdict, ServiceHours,
    ServiceRole,
};

/// Workday hours, an agent online and a buyer asking for a human at `at`
/// (a Saturday): the buyer waits for Monday's opening.
pub fn waiting_for_monday(at: Instant) -> Vec<Command> {
    vec![
        Command::SetServiceHours {
            hours: ServiceHours::workdays_nine_to_six("Asia/Shanghai"),
        },
        Command::AddAgent {
            agent_id: "a1".into(),
            name: "客服a1".into(),
            phone: "13800000001".into(),
            role: ServiceRole::Both,
            permissions: Permissions {
                reply: true,
                ..Default::default()
            },
            capacity: None,
        },
        Command::VerifyAgentRealName {
            agent_id: "a1".into(),
        },
        Command::SetAgentStatus {
            agent_id: "a1".into(),
            status: AgentStatus::Online,
            at,
        },
        Command::OpenConversation {
            conversation_id: "waiting".into(),
            buyer_id: "bw".into(),
            buyer_name: "买家".into(),
            order_id: None,
            topic: None,
            greeting: BuyerNotice::Greeting {
                text: "您好".into(),
                cards: Vec::new(),
            },
            at,
        },
        Command::ReceiveBuyerMessage {
            conversation_id: "waiting".into(),
            message_id: "mw".into(),
            text: "转人工".into(),
            attachment: None,
            robot: RobotVerdict::NotAsked,
            at,
        },
    ]
}
