//! R-CHAT-11, R-CHAT-12 (and R-CHAT-7): response-time figures, a pure
//! function of the folded log.
//!
//! - Per message (R-CHAT-12): every buyer message that waited for a human
//!   and was sent in the window (half-open, `from <= t < to`) counts once:
//!   answered with its wait as the reply recorded it ([`super::response`]),
//!   or still waiting. Only time inside service hours is on the clock.
//! - Per conversation (R-CHAT-11): a conversation belongs to the window its
//!   first buyer message falls in; its first response runs from that message
//!   (or a left message's pickup) to the first human reply, inside service
//!   hours. Robot replies never count as one (R-CHAT-7).
//! - Per agent: an answered message counts for the agent who answered it, a
//!   waiting one for the agent who has the conversation now; a conversation
//!   for the agent who first answered it, or, unanswered, who has it now.

use super::{response, ChatDesk, Conversation, Instant, ServiceHours};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: Instant,
    pub to: Instant,
}

impl Window {
    fn holds(&self, t: Instant) -> bool {
        self.from <= t && t < self.to
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Conversations whose first buyer message falls in the window.
    pub conversations: u32,
    /// Of those, answered by a human.
    pub answered: u32,
    /// Of those, whose first response came within the target.
    pub answered_within_target: u32,
    /// R-CHAT-7: no human reply yet (robot replies do not count), or a later
    /// buyer message still waiting for one.
    pub unreplied: u32,
    /// First responses within the target over those due: answered, or
    /// waiting longer than the target already. None when none is due.
    pub within_target_share: Option<f64>,
    pub first_response_median_ms: Option<i64>,
    pub first_response_p90_ms: Option<i64>,
    /// R-CHAT-12: buyer messages sent in the window that waited for a human.
    pub messages: u32,
    pub messages_answered: u32,
    pub messages_answered_within_target: u32,
    pub messages_within_target_share: Option<f64>,
    pub every_response_median_ms: Option<i64>,
    pub every_response_p90_ms: Option<i64>,
    pub ratings: u32,
    /// Mean buyer rating, 1..5.
    pub csat_mean: Option<f64>,
    /// Share of ratings that are 4 or 5.
    pub csat_satisfied_share: Option<f64>,
    pub robot_replies: u32,
    /// Buyer messages that found faq-svc unreachable (the degradation, visible).
    pub robot_unavailable: u32,
    first_responses_ms: Vec<i64>,
    every_response_ms: Vec<i64>,
    rating_sum: u32,
    satisfied: u32,
    due: u32,
    messages_due: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub shop: Figures,
    pub agents: BTreeMap<String, Figures>,
}

/// What deciding whether a wait is in time needs.
#[derive(Clone, Copy)]
struct Clock<'a> {
    hours: &'a ServiceHours,
    target_ms: i64,
    now: Instant,
}

impl Figures {
    fn add_conversation(&mut self, c: &Conversation, clock: &Clock) {
        self.conversations += 1;
        self.robot_replies += c.robot_replies;
        self.robot_unavailable += c.robot_unavailable;
        if c.first_human_reply_at.is_some() {
            self.answered += 1;
        }
        // R-CHAT-7, and again (issue 18) for a later buyer message no human
        // has answered.
        if c.first_human_reply_at.is_none() || c.unanswered_since.is_some() {
            self.unreplied += 1;
        }
        // R-CHAT-11 with R-CHAT-7: from the first buyer message (robot
        // replies do not stop the clock) to the first human reply, inside
        // service hours; a message left for later from its pickup.
        match (c.first_clock_from, c.first_human_reply_at) {
            (Some(from), Some(reply)) => {
                let ms = clock.hours.open_millis(from, reply);
                self.due += 1;
                if ms <= clock.target_ms {
                    self.answered_within_target += 1;
                }
                self.first_responses_ms.push(ms);
            }
            (Some(from), None) => {
                if clock.hours.open_millis(from, clock.now) > clock.target_ms {
                    self.due += 1;
                }
            }
            // Not yet picked up (a left message), or answered before any
            // buyer message: nothing on the clock.
            (None, _) => {}
        }
        if let Some(r) = c.rating {
            self.ratings += 1;
            self.rating_sum += r as u32;
            if r >= 4 {
                self.satisfied += 1;
            }
        }
    }

    fn add_answer(&mut self, a: &response::Answered, clock: &Clock) {
        self.messages += 1;
        self.messages_answered += 1;
        self.messages_due += 1;
        if a.waited_ms <= clock.target_ms {
            self.messages_answered_within_target += 1;
        }
        self.every_response_ms.push(a.waited_ms);
    }

    fn add_waiting(&mut self, w: &response::WaitingMessage, clock: &Clock) {
        self.messages += 1;
        if response::waiting_ms(w, clock.hours, clock.now).is_some_and(|ms| ms > clock.target_ms) {
            self.messages_due += 1;
        }
    }

    fn finish(&mut self) {
        let share = |part: u32, whole: u32| (whole > 0).then(|| part as f64 / whole as f64);
        self.within_target_share = share(self.answered_within_target, self.due);
        self.messages_within_target_share =
            share(self.messages_answered_within_target, self.messages_due);
        self.first_responses_ms.sort_unstable();
        self.first_response_median_ms = percentile(&self.first_responses_ms, 0.5);
        self.first_response_p90_ms = percentile(&self.first_responses_ms, 0.9);
        self.every_response_ms.sort_unstable();
        self.every_response_median_ms = percentile(&self.every_response_ms, 0.5);
        self.every_response_p90_ms = percentile(&self.every_response_ms, 0.9);
        self.csat_mean = (self.ratings > 0).then(|| self.rating_sum as f64 / self.ratings as f64);
        self.csat_satisfied_share = share(self.satisfied, self.ratings);
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
    report_on(desk, desk.conversations.values(), window, now)
}

/// As [`report`], over some of the desk's conversations: the live figures
/// pass only those with something in the window.
pub fn report_on<'a>(
    desk: &ChatDesk,
    conversations: impl IntoIterator<Item = &'a Conversation>,
    window: Window,
    now: Instant,
) -> Report {
    let clock = Clock {
        hours: &desk.hours,
        target_ms: desk.settings.response_target_secs as i64 * 1000,
        now,
    };
    let mut report = Report::default();
    for c in conversations {
        // A conversation closed with messages still waiting keeps them: they
        // were never answered, and closing must not hide a miss. Their clocks
        // stop at the close, so a figure read later does not keep growing them.
        let clock = &Clock {
            now: c
                .closed_at
                .map_or(clock.now, |closed| closed.min(clock.now)),
            ..clock
        };
        if c.first_buyer_message_at.is_some_and(|t| window.holds(t)) {
            report.shop.add_conversation(c, clock);
            if let Some(a) = c.first_responder.as_ref().or(c.assignee.as_ref()) {
                report
                    .agents
                    .entry(a.clone())
                    .or_default()
                    .add_conversation(c, clock);
            }
        }
        for a in c.responses.iter().filter(|a| window.holds(a.message_at)) {
            report.shop.add_answer(a, clock);
            report
                .agents
                .entry(a.agent_id.clone())
                .or_default()
                .add_answer(a, clock);
        }
        for w in c.waiting_messages.iter().filter(|w| window.holds(w.at)) {
            report.shop.add_waiting(w, clock);
            if let Some(agent) = &c.assignee {
                report
                    .agents
                    .entry(agent.clone())
                    .or_default()
                    .add_waiting(w, clock);
            }
        }
    }
    report.shop.finish();
    for f in report.agents.values_mut() {
        f.finish();
    }
    report
}

/// The last instant at which `c` has something a window starting then
/// would count: its first buyer message, an answered or a waiting message.
pub fn last_counted_at(c: &Conversation) -> Option<Instant> {
    let answered = c.responses.iter().map(|a| a.message_at).max();
    let waiting = c.waiting_messages.iter().map(|w| w.at).max();
    [c.first_buyer_message_at, answered, waiting]
        .into_iter()
        .flatten()
        .max()
}
