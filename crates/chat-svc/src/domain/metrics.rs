//! R-CHAT-11 (and R-CHAT-7): response-time figures, a pure function of the
//! folded log. A conversation belongs to the window its first buyer message
//! falls in (half-open, `from <= t < to`); its first response time is from
//! that message to the first human reply. Robot replies never count as a
//! response. Per agent, a conversation counts for the agent who first
//! answered it, or, unanswered, for the agent who has it now.

use super::{ChatDesk, Conversation, Instant};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: Instant,
    pub to: Instant,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Conversations whose first buyer message falls in the window.
    pub conversations: u32,
    /// Of those, answered by a human.
    pub answered: u32,
    pub answered_within_target: u32,
    /// R-CHAT-7: no human reply yet (robot replies do not count).
    pub unreplied: u32,
    /// Answered within the target over those that are due: answered, or
    /// unanswered for longer than the target already. None when none is due.
    pub within_target_share: Option<f64>,
    pub first_response_median_ms: Option<i64>,
    pub first_response_p90_ms: Option<i64>,
    pub ratings: u32,
    /// Mean buyer rating, 1..5.
    pub csat_mean: Option<f64>,
    /// Share of ratings that are 4 or 5.
    pub csat_satisfied_share: Option<f64>,
    pub robot_replies: u32,
    /// Buyer messages that found faq-svc unreachable (the degradation, visible).
    pub robot_unavailable: u32,
    first_responses_ms: Vec<i64>,
    rating_sum: u32,
    satisfied: u32,
    due: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub shop: Figures,
    pub agents: BTreeMap<String, Figures>,
}

impl Figures {
    fn add(&mut self, c: &Conversation, first: Instant, now: Instant, target_ms: i64) {
        self.conversations += 1;
        self.robot_replies += c.robot_replies;
        self.robot_unavailable += c.robot_unavailable;
        match c.first_human_reply_at {
            Some(reply) => {
                let ms = (reply - first).num_milliseconds();
                self.answered += 1;
                self.due += 1;
                if ms <= target_ms {
                    self.answered_within_target += 1;
                }
                self.first_responses_ms.push(ms);
                // R-CHAT-7 again (issue 18): a later buyer message no human
                // has answered makes the conversation unreplied once more.
                if c.unanswered_since.is_some() {
                    self.unreplied += 1;
                }
            }
            None => {
                self.unreplied += 1;
                if (now - first).num_milliseconds() > target_ms {
                    self.due += 1;
                }
            }
        }
        if let Some(r) = c.rating {
            self.ratings += 1;
            self.rating_sum += r as u32;
            if r >= 4 {
                self.satisfied += 1;
            }
        }
    }

    fn finish(&mut self) {
        self.within_target_share =
            (self.due > 0).then(|| self.answered_within_target as f64 / self.due as f64);
        self.first_responses_ms.sort_unstable();
        self.first_response_median_ms = percentile(&self.first_responses_ms, 0.5);
        self.first_response_p90_ms = percentile(&self.first_responses_ms, 0.9);
        self.csat_mean = (self.ratings > 0).then(|| self.rating_sum as f64 / self.ratings as f64);
        self.csat_satisfied_share =
            (self.ratings > 0).then(|| self.satisfied as f64 / self.ratings as f64);
    }
}

/// Nearest rank: the smallest value with at least `q` of the values at or below it.
fn percentile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// The figures for `window` as known at `now`, for the shop and per agent.
pub fn report(desk: &ChatDesk, window: Window, now: Instant) -> Report {
    let target_ms = desk.settings.response_target_secs as i64 * 1000;
    let mut report = Report::default();
    for c in desk.conversations.values() {
        let Some(first) = c.first_buyer_message_at else {
            continue;
        };
        if first < window.from || first >= window.to {
            continue;
        }
        report.shop.add(c, first, now, target_ms);
        let agent = c.first_responder.as_ref().or(c.assignee.as_ref());
        if let Some(a) = agent {
            report
                .agents
                .entry(a.clone())
                .or_default()
                .add(c, first, now, target_ms);
        }
    }
    report.shop.finish();
    for f in report.agents.values_mut() {
        f.finish();
    }
    report
}
