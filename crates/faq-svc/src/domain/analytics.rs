//! R-FAQ-8: what the robot did with each buyer question, and the figures a
//! shop improves its replies with. Interactions live in their own stream per
//! shop so that the knowledge base stream stays small; a [`Summary`] folds
//! them one at a time for any window, and summaries of adjacent stretches
//! merge (the day book keeps one per day).

use super::Instant;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One thing the robot did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Interaction {
    /// A confident match was sent to the buyer.
    QuestionAutoAnswered {
        query: String,
        entry_id: String,
        confidence: f64,
        #[serde(default)]
        conversation_id: String,
    },
    /// A buyer tapped an FAQ card and got its answer (R-FAQ-5).
    CardTapped {
        entry_id: String,
        #[serde(default)]
        conversation_id: String,
    },
    /// Nothing was confident enough: the question goes to a human.
    QuestionMissed {
        query: String,
        best_entry_id: Option<String>,
        confidence: f64,
        #[serde(default)]
        conversation_id: String,
    },
}

impl Interaction {
    pub fn type_name(&self) -> &'static str {
        match self {
            Interaction::QuestionAutoAnswered { .. } => "QuestionAutoAnswered",
            Interaction::CardTapped { .. } => "CardTapped",
            Interaction::QuestionMissed { .. } => "QuestionMissed",
        }
    }
}

/// A half-open window `[from, to)`; `None` is unbounded on that side.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Window {
    pub from: Option<Instant>,
    pub to: Option<Instant>,
}

impl Window {
    pub fn contains(&self, at: Instant) -> bool {
        self.from.is_none_or(|f| at >= f) && self.to.is_none_or(|t| at < t)
    }
}

/// Everything the figures of R-FAQ-8 need from a window's interactions,
/// folded one interaction at a time. The service reads a stream a page at a
/// time into it, so memory holds a page and the summary, never the stream;
/// the day book keeps one per day, and summaries of adjacent stretches merge
/// into the summary of both (R-X-4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Hits per entry id.
    pub entries: BTreeMap<String, EntryHits>,
    pub auto_answered: u64,
    pub missed: u64,
    pub card_taps: u64,
    /// Missed questions by their exact text: the unanswered groups are
    /// formed when the figure is read, with the matcher's normalisation of
    /// that moment.
    pub missed_wordings: BTreeMap<String, Wording>,
}

/// Distinct unanswered wordings a summary keeps, so that a day's document
/// stays small when a flood of distinct questions goes unanswered. Below
/// it, counts are exact; past it, the most asked wordings stay and their
/// counts are upper bounds (the Space-Saving algorithm), and `missed` still
/// counts every question.
pub const MAX_WORDINGS: usize = 2_000;

/// How often one exact wording went unanswered, and when.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Wording {
    pub count: u64,
    pub first_at: Instant,
    pub last_at: Instant,
}

impl Wording {
    fn merge(&mut self, other: &Wording) {
        self.count = self.count.saturating_add(other.count);
        self.first_at = self.first_at.min(other.first_at);
        self.last_at = self.last_at.max(other.last_at);
    }
}

impl Summary {
    /// Folds one interaction in. The window is the caller's to apply.
    pub fn add(&mut self, at: Instant, i: &Interaction) {
        match i {
            Interaction::QuestionAutoAnswered { entry_id, .. } => {
                bump(&mut self.auto_answered);
                bump(
                    &mut self
                        .entries
                        .entry(entry_id.clone())
                        .or_default()
                        .auto_answers,
                );
            }
            Interaction::CardTapped { entry_id, .. } => {
                bump(&mut self.card_taps);
                bump(&mut self.entries.entry(entry_id.clone()).or_default().card_taps);
            }
            Interaction::QuestionMissed { query, .. } => {
                bump(&mut self.missed);
                let seen = Wording {
                    count: 1,
                    first_at: at,
                    last_at: at,
                };
                if let Some(w) = self.missed_wordings.get_mut(query) {
                    w.merge(&seen);
                } else if self.missed_wordings.len() < MAX_WORDINGS {
                    self.missed_wordings.insert(query.clone(), seen);
                } else {
                    // Full: the new wording takes the least asked one's
                    // place and count, plus one (Space-Saving).
                    let least = self
                        .missed_wordings
                        .iter()
                        .min_by(|a, b| a.1.count.cmp(&b.1.count).then_with(|| b.0.cmp(a.0)))
                        .map(|(text, w)| (text.clone(), w.count));
                    if let Some((text, count)) = least {
                        self.missed_wordings.remove(&text);
                        let taken = Wording {
                            count: count.saturating_add(1),
                            ..seen
                        };
                        self.missed_wordings.insert(query.clone(), taken);
                    }
                }
            }
        }
    }

    /// Adds another stretch's summary: the result is the summary of both.
    pub fn merge(&mut self, other: &Summary) {
        for (id, h) in &other.entries {
            let mine = self.entries.entry(id.clone()).or_default();
            mine.auto_answers = mine.auto_answers.saturating_add(h.auto_answers);
            mine.card_taps = mine.card_taps.saturating_add(h.card_taps);
        }
        self.auto_answered = self.auto_answered.saturating_add(other.auto_answered);
        self.missed = self.missed.saturating_add(other.missed);
        self.card_taps = self.card_taps.saturating_add(other.card_taps);
        for (text, w) in &other.missed_wordings {
            match self.missed_wordings.get_mut(text) {
                Some(mine) => mine.merge(w),
                None => {
                    self.missed_wordings.insert(text.clone(), *w);
                }
            }
        }
        if self.missed_wordings.len() > MAX_WORDINGS {
            // The most asked stay; the rest are counted in `missed` only.
            let mut by_count: Vec<(String, Wording)> = std::mem::take(&mut self.missed_wordings)
                .into_iter()
                .collect();
            by_count.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
            by_count.truncate(MAX_WORDINGS);
            self.missed_wordings = by_count.into_iter().collect();
        }
    }

    /// The answer rate of the summarised interactions.
    pub fn answer_rate(&self) -> AnswerRate {
        let questions = self.auto_answered.saturating_add(self.missed);
        AnswerRate {
            questions,
            auto_answered: self.auto_answered,
            missed: self.missed,
            card_taps: self.card_taps,
            rate: if questions > 0 {
                self.auto_answered as f64 / questions as f64
            } else {
                0.0
            },
        }
    }

    /// The most frequent unanswered questions, near-duplicates grouped, most
    /// asked first. `normalize` is the matcher's text normalisation: wordings
    /// it makes equal are one, shown as the one asked first.
    pub fn unanswered_groups(
        &self,
        normalize: impl Fn(&str) -> String,
        limit: usize,
    ) -> Vec<UnansweredGroup> {
        let mut earliest_first: Vec<(&String, &Wording)> = self.missed_wordings.iter().collect();
        earliest_first.sort_by(|a, b| a.1.first_at.cmp(&b.1.first_at).then_with(|| a.0.cmp(b.0)));
        let mut wordings: HashMap<String, (String, u64, Instant)> = HashMap::new();
        for (text, w) in earliest_first {
            let key = normalize(text);
            if key.is_empty() {
                continue;
            }
            let same = wordings.entry(key).or_insert((text.clone(), 0, w.last_at));
            same.1 = same.1.saturating_add(w.count);
            same.2 = same.2.max(w.last_at);
        }
        group_wordings(wordings, limit)
    }
}

fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}

/// The summary of the interactions of `window`.
pub fn summarise<'a>(
    interactions: impl IntoIterator<Item = &'a (Instant, Interaction)>,
    window: Window,
) -> Summary {
    let mut summary = Summary::default();
    for (at, i) in interactions {
        if window.contains(*at) {
            summary.add(*at, i);
        }
    }
    summary
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryHits {
    pub auto_answers: u64,
    pub card_taps: u64,
}

/// Per-entry hit counts in the window, by entry id.
pub fn entry_hits<'a>(
    interactions: impl IntoIterator<Item = &'a (Instant, Interaction)>,
    window: Window,
) -> BTreeMap<String, EntryHits> {
    summarise(interactions, window).entries
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AnswerRate {
    pub questions: u64,
    pub auto_answered: u64,
    pub missed: u64,
    pub card_taps: u64,
    /// auto_answered / questions; 0 when there were none. Card taps are not
    /// free-text questions and do not count.
    pub rate: f64,
}

pub fn answer_rate<'a>(
    interactions: impl IntoIterator<Item = &'a (Instant, Interaction)>,
    window: Window,
) -> AnswerRate {
    summarise(interactions, window).answer_rate()
}

/// Unanswered questions that say nearly the same thing.
#[derive(Debug, Clone, PartialEq)]
pub struct UnansweredGroup {
    /// The most frequent wording in the group.
    pub representative: String,
    pub count: u64,
    /// Distinct wordings, most frequent first.
    pub examples: Vec<(String, u64)>,
    pub last_asked_at: Instant,
}

/// Two questions are near-duplicates when their character-bigram sets overlap
/// this much (Jaccard). Bigrams, not words: misses are exactly the questions
/// the knowledge base has no vocabulary for.
pub const NEAR_DUPLICATE_SIMILARITY: f64 = 0.5;

/// The most frequent unanswered questions in the window, near-duplicates
/// grouped, most asked first. `normalize` is the matcher's text normalisation.
pub fn unanswered_groups<'a>(
    interactions: impl IntoIterator<Item = &'a (Instant, Interaction)>,
    window: Window,
    normalize: impl Fn(&str) -> String,
    limit: usize,
) -> Vec<UnansweredGroup> {
    summarise(interactions, window).unanswered_groups(normalize, limit)
}

fn group_wordings(
    wordings: HashMap<String, (String, u64, Instant)>,
    limit: usize,
) -> Vec<UnansweredGroup> {
    let mut wordings: Vec<(String, String, u64, Instant)> = wordings
        .into_iter()
        .map(|(k, (text, n, at))| (k, text, n, at))
        .collect();
    wordings.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));

    // Greedy single-link grouping against each group's founding wording: the
    // most frequent wordings found groups, rarer ones join the closest.
    let mut groups: Vec<(HashSet<(char, char)>, UnansweredGroup)> = Vec::new();
    for (key, text, n, at) in wordings {
        let grams = bigrams(&key);
        let best = groups
            .iter_mut()
            .map(|(g, group)| (jaccard(g, &grams), group))
            .filter(|(s, _)| *s >= NEAR_DUPLICATE_SIMILARITY)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        match best {
            Some((_, group)) => {
                group.count += n;
                group.examples.push((text, n));
                group.last_asked_at = group.last_asked_at.max(at);
            }
            None => groups.push((
                grams,
                UnansweredGroup {
                    representative: text.clone(),
                    count: n,
                    examples: vec![(text, n)],
                    last_asked_at: at,
                },
            )),
        }
    }
    let mut groups: Vec<UnansweredGroup> = groups.into_iter().map(|(_, g)| g).collect();
    groups.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.representative.cmp(&b.representative))
    });
    groups.truncate(limit);
    groups
}

fn bigrams(text: &str) -> HashSet<(char, char)> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() == 1 {
        return HashSet::from([(chars[0], '\0')]);
    }
    chars.windows(2).map(|w| (w[0], w[1])).collect()
}

fn jaccard(a: &HashSet<(char, char)>, b: &HashSet<(char, char)>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / union as f64
}
