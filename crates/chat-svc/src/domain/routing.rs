//! R-CHAT-4: who takes a conversation. Only online, real-name verified agents
//! with the reply permission whose role fits the topic and who are below
//! their capacity; the fewest open conversations first; among equals the
//! one whose last assignment is oldest, then the agent id (deterministic, so
//! a replay routes the same way).

use super::{AgentStatus, CandidateLoad, ChatDesk, Topic};
use std::collections::HashMap;

/// Open conversations per agent while one decision hands several out.
#[derive(Debug, Clone, Default)]
pub struct Loads {
    extra: HashMap<String, i64>,
    /// Status changes this decision made (an agent going online or away).
    pub(crate) status: HashMap<String, AgentStatus>,
    order: HashMap<String, u64>,
    next: u64,
}

impl Loads {
    pub fn assign(&mut self, agent: &str, from: Option<&str>) {
        *self.extra.entry(agent.to_owned()).or_default() += 1;
        if let Some(f) = from {
            *self.extra.entry(f.to_owned()).or_default() -= 1;
        }
        self.next += 1;
        self.order
            .insert(agent.to_owned(), u64::MAX / 2 + self.next);
    }

    pub fn release(&mut self, agent: &str) {
        *self.extra.entry(agent.to_owned()).or_default() -= 1;
    }
}

/// Agents that could take a conversation about `topic`, with their load.
pub fn candidates(
    desk: &ChatDesk,
    loads: &Loads,
    topic: Topic,
    exclude: Option<&str>,
) -> Vec<CandidateLoad> {
    desk.agents
        .values()
        .filter(|a| {
            loads.status.get(&a.agent_id).copied().unwrap_or(a.status) == AgentStatus::Online
                && a.verified
                && a.permissions.reply
                && a.role.fits(topic)
                && Some(a.agent_id.as_str()) != exclude
        })
        .map(|a| CandidateLoad {
            agent_id: a.agent_id.clone(),
            open: (a.open.len() as i64 + loads.extra.get(&a.agent_id).copied().unwrap_or(0)).max(0)
                as u32,
            capacity: a.capacity(&desk.settings),
        })
        .collect()
}

/// The agent routing picks among `candidates`, if any has room.
pub fn choose(desk: &ChatDesk, loads: &Loads, candidates: &[CandidateLoad]) -> Option<String> {
    candidates
        .iter()
        .filter(|c| c.open < c.capacity)
        .min_by_key(|c| {
            let last = loads
                .order
                .get(&c.agent_id)
                .copied()
                .unwrap_or_else(|| desk.agents.get(&c.agent_id).map_or(0, |a| a.last_assigned));
            (c.open, last, c.agent_id.clone())
        })
        .map(|c| c.agent_id.clone())
}
