//! R-FAQ-8: what the robot did with each buyer question, and the figures a
//! shop improves its replies with. Interactions live in their own stream per
//! shop so that the knowledge base stream stays small; the tallies here fold
//! them one at a time for any window.

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

/// A figure folded one interaction at a time: the service reads a stream a
/// page at a time into it, so memory holds a page and the figure, never the
/// whole stream (R-X-4). The window is applied before folding.
pub trait Tally {
    fn add(&mut self, at: Instant, interaction: &Interaction);
}

/// Folds the interactions of `window` into `tally`.
fn fold_window<'a, T: Tally>(
    mut tally: T,
    interactions: impl IntoIterator<Item = &'a (Instant, Interaction)>,
    window: Window,
) -> T {
    for (at, i) in interactions {
        if window.contains(*at) {
            tally.add(*at, i);
        }
    }
    tally
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryHits {
    pub auto_answers: u64,
    pub card_taps: u64,
}

/// Per-entry hit counts, by entry id.
#[derive(Debug, Default)]
pub struct EntryHitsTally(pub BTreeMap<String, EntryHits>);

impl Tally for EntryHitsTally {
    fn add(&mut self, _: Instant, i: &Interaction) {
        match i {
            Interaction::QuestionAutoAnswered { entry_id, .. } => {
                self.0.entry(entry_id.clone()).or_default().auto_answers += 1
            }
            Interaction::CardTapped { entry_id, .. } => {
                self.0.entry(entry_id.clone()).or_default().card_taps += 1
            }
            Interaction::QuestionMissed { .. } => {}
        }
    }
}

/// Per-entry hit counts in the window, by entry id.
pub fn entry_hits<'a>(
    interactions: impl IntoIterator<Item = &'a (Instant, Interaction)>,
    window: Window,
) -> BTreeMap<String, EntryHits> {
    fold_window(EntryHitsTally::default(), interactions, window).0
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

impl Tally for AnswerRate {
    fn add(&mut self, _: Instant, i: &Interaction) {
        match i {
            Interaction::QuestionAutoAnswered { .. } => self.auto_answered += 1,
            Interaction::QuestionMissed { .. } => self.missed += 1,
            Interaction::CardTapped { .. } => self.card_taps += 1,
        }
    }
}

impl AnswerRate {
    /// The counts with their total and rate: what a tally of them says.
    pub fn finished(self) -> Self {
        let questions = self.auto_answered + self.missed;
        Self {
            questions,
            rate: if questions > 0 {
                self.auto_answered as f64 / questions as f64
            } else {
                0.0
            },
            ..self
        }
    }
}

pub fn answer_rate<'a>(
    interactions: impl IntoIterator<Item = &'a (Instant, Interaction)>,
    window: Window,
) -> AnswerRate {
    fold_window(AnswerRate::default(), interactions, window).finished()
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

/// Unanswered questions by exact wording (after `normalize`, the matcher's
/// text normalisation): the first wording seen, how often, and when last.
/// Memory holds distinct wordings, not questions.
pub struct UnansweredTally<N> {
    normalize: N,
    wordings: HashMap<String, (String, u64, Instant)>,
}

impl<N> std::fmt::Debug for UnansweredTally<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnansweredTally")
            .field("wordings", &self.wordings.len())
            .finish()
    }
}

impl<N: Fn(&str) -> String> UnansweredTally<N> {
    pub fn new(normalize: N) -> Self {
        Self {
            normalize,
            wordings: HashMap::new(),
        }
    }

    /// The most frequent unanswered questions, near-duplicates grouped,
    /// most asked first.
    pub fn groups(self, limit: usize) -> Vec<UnansweredGroup> {
        group_wordings(self.wordings, limit)
    }
}

impl<N: Fn(&str) -> String> Tally for UnansweredTally<N> {
    fn add(&mut self, at: Instant, i: &Interaction) {
        if let Interaction::QuestionMissed { query, .. } = i {
            let key = (self.normalize)(query);
            if key.is_empty() {
                return;
            }
            let w = self.wordings.entry(key).or_insert((query.clone(), 0, at));
            w.1 += 1;
            w.2 = w.2.max(at);
        }
    }
}

/// The most frequent unanswered questions in the window, near-duplicates
/// grouped, most asked first. `normalize` is the matcher's text normalisation.
pub fn unanswered_groups<'a>(
    interactions: impl IntoIterator<Item = &'a (Instant, Interaction)>,
    window: Window,
    normalize: impl Fn(&str) -> String,
    limit: usize,
) -> Vec<UnansweredGroup> {
    fold_window(UnansweredTally::new(normalize), interactions, window).groups(limit)
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
