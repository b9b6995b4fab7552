//! The matching robot's engine (R-FAQ-6, R-FAQ-7): an inverted index over
//! every enabled entry's fields (its standard and similar questions, its
//! answer, its category), scored by IDF-weighted similarity over jieba words
//! and character bigrams, with a confidence calibrated to mean "the share of
//! auto-answers at this score that are right". Pure: no I/O.
//!
//! Three signals per entry, each in [0, 1]:
//!
//! - `question`: cosine between the query and the entry's best question.
//!   1 for the question itself; falls with every word either side does not
//!   share. The strongest signal, and the one a buyer's paraphrase of a
//!   similar question hits.
//! - `answer`: the share of the query's weight that the answer contains.
//!   Catches what only the answer says (直播间涨粉, 按播放量出价).
//! - `entry`: the share of the query's weight found anywhere in the entry
//!   (questions, answer, category). Low when the query is about something the
//!   entry never mentions: the out-of-scope signal.
//!
//! IDF counts entries, not questions, so a word that most entries of a base
//! share (the product's name in a help centre about one product) weighs
//! little there, whatever the number of similar questions.
//!
//! Why it stays fast while the knowledge base changes: nothing stored depends
//! on document frequencies. An insert appends postings (O(features)); norms
//! are computed at query time for the candidates only, and kept with each
//! question until the index next changes (a base is asked far more often
//! than it is edited). Candidates come from
//! the query's selective features (those most entries do not share); the
//! common ones are then scored exactly for those candidates from the
//! candidates' own feature lists.

pub mod analyzer;
pub mod calibration;
pub mod second_stage;

pub use analyzer::{normalize, same_question, Analyzer, Features, FUNCTION_WORD_WEIGHT};
pub use calibration::{Calibration, Signals};
pub use second_stage::{Cosines, StageCalibration};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// How much of each signal comes from words; the rest from bigrams.
pub const WORD_SHARE: f64 = 0.6;

/// One ranked candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub entry_id: String,
    /// Calibrated: the measured share of auto-answers at this confidence
    /// that were right (docs/faq-matching.md).
    pub confidence: f64,
    /// The entry's question that matched best.
    pub matched_question: String,
    /// The raw signals behind the ranking.
    pub signals: Signals,
}

/// What the index reads of an entry.
#[derive(Debug, Clone, Copy)]
pub struct EntryText<'a> {
    pub questions: &'a [&'a str],
    pub answer: &'a str,
    /// The category's name in words (物流问题, 发票问题 ...).
    pub category: &'a str,
}

impl<'a> EntryText<'a> {
    /// An entry known by its questions alone (no answer text, no category).
    pub fn questions(questions: &'a [&'a str]) -> Self {
        Self {
            questions,
            answer: "",
            category: "",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word = 0,
    Bigram = 1,
}

/// Fields of an entry a feature occurs in (bit mask).
const IN_QUESTION: u8 = 1;
const IN_ANSWER: u8 = 2;
const IN_CATEGORY: u8 = 4;

#[derive(Debug, Clone)]
struct Question {
    /// Where its features end in [`Slot::question_features`] (they start
    /// where the previous question's end).
    end: u32,
    /// Its IDF-weighted norms as of one state of the index.
    norms: Norms,
}

/// A question's norms (words, bigrams) and the state of the index they were
/// computed in ([`Index::state`], plus one: 0 is none yet). They depend on
/// every feature's document frequency and the base's size, so any change to
/// the index makes them stale; but a base is asked far more often than it
/// changes, and recomputing them for every shortlisted question of every
/// query was the largest part of scoring at 30,000 entries (a random read
/// per feature). Filled by queries under the read lock, so atomics: within
/// one state every query computes the same values, and a change takes the
/// write lock, so a state read with the stamp is never mixed with another's.
#[derive(Debug, Default)]
struct Norms {
    state: AtomicU64,
    words: AtomicU64,
    bigrams: AtomicU64,
}

impl Clone for Norms {
    /// A copy starts empty: its index's states are counted apart from here.
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Norms {
    fn get(&self, state: u64) -> Option<[f64; 2]> {
        (self.state.load(Ordering::Acquire) == state.wrapping_add(1)).then(|| {
            [
                f64::from_bits(self.words.load(Ordering::Relaxed)),
                f64::from_bits(self.bigrams.load(Ordering::Relaxed)),
            ]
        })
    }

    fn set(&self, state: u64, norms: [f64; 2]) {
        self.words.store(norms[0].to_bits(), Ordering::Relaxed);
        self.bigrams.store(norms[1].to_bits(), Ordering::Relaxed);
        self.state.store(state.wrapping_add(1), Ordering::Release);
    }
}

/// One entry as scored. What a query reads of a shortlisted entry sits in
/// three arrays (its features, its questions' norms, its questions' features
/// one after another) rather than one per question: at 30,000 entries the
/// full scoring's cost was reaching each list (a cache miss), not walking it.
#[derive(Debug, Clone)]
struct Slot {
    entry_id: String,
    /// Every feature of the entry with the fields it occurs in, sorted.
    features: Box<[(u32, u8)]>,
    questions: Box<[Question]>,
    /// Each question's (feature, weight multiplier), each feature once and
    /// sorted by feature, the questions one after another.
    question_features: Box<[(u32, f32)]>,
    /// The questions' texts, in the same order (read only for the answer).
    texts: Box<[String]>,
}

impl Slot {
    /// Each question with its features.
    fn questions(&self) -> impl Iterator<Item = (&Question, &[(u32, f32)])> {
        let mut start = 0;
        self.questions.iter().map(move |q| {
            let end = q.end as usize;
            let features = &self.question_features[start..end];
            start = end;
            (q, features)
        })
    }
}

/// The index of one knowledge base. Updated in place, one entry at a time, so
/// a change is visible to the next query without a rebuild.
#[derive(Debug, Default, Clone)]
pub struct Index {
    features: HashMap<String, u32>,
    kinds: Vec<Kind>,
    /// The entries that contain each feature (in any field): its postings,
    /// whose length is the document frequency.
    postings: Vec<Vec<u32>>,
    /// `ln(df + 0.5)` of each feature, kept with its postings so a query
    /// computes IDFs (`ln(N + 1) - ln(df + 0.5)`) without a logarithm each.
    log_df: Vec<f64>,
    slots: Vec<Option<Slot>>,
    free_slots: Vec<u32>,
    by_id: HashMap<String, u32>,
    live: usize,
    calibration: Calibration,
    /// Counts the changes to postings and size, which every question's
    /// [`Norms`] depend on. Wraps only after 2^64 changes.
    state: u64,
}

/// A query feature the base knows, as scored.
struct QueryTerm {
    feature: u32,
    kind: Kind,
    /// Query weight multiplier times IDF.
    x: f64,
    /// The feature's IDF, which an entry's weight for it is a multiple of:
    /// kept so scoring does not read each feature's document frequency again.
    idf: f64,
}

/// How many entries are scored in full per query.
const SHORTLIST: usize = 64;

/// How many entries of one shared weight the shortlist keeps. Chosen on
/// half A of the development set against a 3,000-entry shop base: 8 and 16
/// gave the same figures as scoring every entry (top-1 70.1% -> 86.6%), 2
/// lost cases; 300- and 1,000-entry bases did not move.
const SAME_WEIGHT: usize = 16;

/// Entries whose ranking scores differ by less than this are tied. A large
/// shop base holds templates that differ only in the product's name
/// (面膜能换货吗, 口红能换货吗); a question that names no product scores them
/// alike, and the robot cannot tell which one the buyer means. Each of k
/// tied entries gets 1/k of its confidence: if one of them is right, picking
/// one is right that often. Chosen on half A of the development set (R-FAQ-7,
/// docs/faq-matching.md): at 0.001 and at 0.02 alike, no help-centre or
/// presets answer moved, and the 300-, 1,000- and 3,000-entry shop bases
/// stopped auto-answering a tied wrong entry.
const TIED: f64 = 1e-3;

thread_local! {
    /// Per-slot query weight shared on selective features, all zero between
    /// queries: reused so a query does not allocate one per entry.
    static SHARED: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Index {
    pub fn new() -> Self {
        Self::default()
    }

    /// Enabled entries indexed.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Indexes (or re-indexes) an entry. A disabled entry is removed instead:
    /// it must never answer (R-FAQ-3 "disable").
    pub fn upsert(&mut self, analyzer: &Analyzer, entry_id: &str, enabled: bool, text: EntryText) {
        self.remove(entry_id);
        if !enabled {
            return;
        }
        let mut fields: HashMap<u32, u8> = HashMap::new();
        let mut questions: Vec<Question> = Vec::new();
        let mut question_features: Vec<(u32, f32)> = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for q in text.questions {
            // The same question twice adds nothing.
            let norm = normalize(q);
            if norm.is_empty() || seen.contains(&norm) {
                continue;
            }
            seen.push(norm);
            let f = analyzer.analyze(q);
            let mut features = self.intern_all(&f, &mut fields, IN_QUESTION);
            // Sorted by feature id: scoring merges it with the query's.
            features.sort_unstable_by_key(|(f, _)| *f);
            features.dedup_by_key(|(f, _)| *f);
            question_features.extend(features);
            questions.push(Question {
                end: question_features.len() as u32,
                norms: Norms::default(),
            });
            texts.push((*q).to_owned());
        }
        if questions.is_empty() {
            return;
        }
        self.intern_all(&analyzer.analyze(text.answer), &mut fields, IN_ANSWER);
        self.intern_all(&analyzer.analyze(text.category), &mut fields, IN_CATEGORY);
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        let mut features: Vec<(u32, u8)> = fields.into_iter().collect();
        features.sort_unstable();
        for &(f, _) in &features {
            self.postings[f as usize].push(slot);
            self.log_df[f as usize] = (self.postings[f as usize].len() as f64 + 0.5).ln();
        }
        self.slots[slot as usize] = Some(Slot {
            entry_id: entry_id.to_owned(),
            features: features.into(),
            questions: questions.into(),
            question_features: question_features.into(),
            texts: texts.into(),
        });
        self.by_id.insert(entry_id.to_owned(), slot);
        self.live += 1;
        self.state = self.state.wrapping_add(1);
    }

    /// Indexes an entry's content: every question, the answer and the category.
    pub fn upsert_content(
        &mut self,
        analyzer: &Analyzer,
        entry_id: &str,
        content: &crate::domain::EntryContent,
    ) {
        let questions: Vec<&str> = content.questions().collect();
        let text = EntryText {
            questions: &questions,
            answer: &content.answer,
            category: content.category.label(),
        };
        self.upsert(analyzer, entry_id, content.enabled, text);
    }

    pub fn remove(&mut self, entry_id: &str) {
        let Some(slot) = self.by_id.remove(entry_id) else {
            return;
        };
        if let Some(s) = self.slots[slot as usize].take() {
            for &(f, _) in s.features.iter() {
                let p = &mut self.postings[f as usize];
                if let Some(i) = p.iter().position(|x| *x == slot) {
                    p.swap_remove(i);
                }
                self.log_df[f as usize] = (p.len() as f64 + 0.5).ln();
            }
            self.free_slots.push(slot);
            self.live -= 1;
            self.state = self.state.wrapping_add(1);
        }
    }

    /// The calibration confidences are computed with (the default one unless
    /// replaced, for instance by an evaluation fitting its own).
    pub fn set_calibration(&mut self, calibration: Calibration) {
        self.calibration = calibration;
    }

    fn intern_all(
        &mut self,
        f: &Features,
        fields: &mut HashMap<u32, u8>,
        field: u8,
    ) -> Vec<(u32, f32)> {
        let mut out = Vec::with_capacity(f.words.len() + f.bigrams.len());
        let words = f.words.iter().map(|(w, m)| (Kind::Word, w.as_str(), *m));
        let bigrams = f.bigrams.iter().map(|b| (Kind::Bigram, b.as_str(), 1.0));
        for (kind, text, m) in words.chain(bigrams) {
            let id = self.intern(kind, text);
            *fields.entry(id).or_default() |= field;
            out.push((id, m as f32));
        }
        out
    }

    fn key(kind: Kind, text: &str) -> String {
        let mut key = String::with_capacity(text.len() + 1);
        key.push(match kind {
            Kind::Word => 'w',
            Kind::Bigram => 'g',
        });
        key.push_str(text);
        key
    }

    fn intern(&mut self, kind: Kind, text: &str) -> u32 {
        let key = Self::key(kind, text);
        if let Some(id) = self.features.get(&key) {
            return *id;
        }
        let id = self.postings.len() as u32;
        self.postings.push(Vec::new());
        self.log_df.push(0.5f64.ln());
        self.kinds.push(kind);
        self.features.insert(key, id);
        id
    }

    fn log_n(&self) -> f64 {
        (self.live as f64 + 1.0).ln()
    }

    /// BM25's IDF over entries, never negative: `ln((N + 1) / (df + 0.5))`.
    fn idf(&self, df: usize) -> f64 {
        (self.log_n() - (df as f64 + 0.5).ln()).max(0.0)
    }

    /// The best `k` entries for `query`, best first, each with its confidence.
    pub fn search(&self, analyzer: &Analyzer, query: &str, k: usize) -> Vec<Scored> {
        self.search_features(&analyzer.analyze(query), k)
    }

    pub fn search_features(&self, query: &Features, k: usize) -> Vec<Scored> {
        let mut all = self.candidates(query);
        if k == 0 || all.is_empty() {
            return Vec::new();
        }
        let order = |a: &(Signals, f64, u32), b: &(Signals, f64, u32)| {
            b.1.total_cmp(&a.1).then_with(|| {
                let id = |s: u32| self.slots[s as usize].as_ref().map(|x| &x.entry_id);
                id(a.2).cmp(&id(b.2))
            })
        };
        all.sort_by(order);
        let scores: Vec<f64> = all.iter().map(|(_, score, _)| *score).collect();
        all.into_iter()
            .take(k)
            .filter_map(|(signals, score, slot)| {
                let s = self.slots[slot as usize].as_ref()?;
                let best = signals.best_question;
                let tied = scores.iter().filter(|x| (*x - score).abs() < TIED).count();
                Some(Scored {
                    entry_id: s.entry_id.clone(),
                    confidence: self.calibration.confidence(&signals) / tied.max(1) as f64,
                    matched_question: s.texts.get(best).cloned()?,
                    signals,
                })
            })
            .collect()
    }

    /// The candidate entries with their signals and ranking score.
    fn candidates(&self, query: &Features) -> Vec<(Signals, f64, u32)> {
        if self.live == 0 {
            return Vec::new();
        }
        let words = query
            .words
            .iter()
            .map(|(w, m)| (Kind::Word, w.as_str(), *m));
        let bigrams = query
            .bigrams
            .iter()
            .map(|b| (Kind::Bigram, b.as_str(), 1.0));
        let l = self.log_n();
        let mut terms: Vec<QueryTerm> = Vec::new();
        let mut q_norm = [0.0f64; 2];
        for (kind, text, m) in words.chain(bigrams) {
            let feature = self.features.get(&Self::key(kind, text)).copied();
            let df = feature.map_or(0, |f| self.postings[f as usize].len());
            let idf = self.idf(df);
            let x = idf * m;
            // Every feature counts in the query's norm, known or not: a word
            // the base has never seen is something it cannot answer.
            q_norm[kind as usize] += x * x;
            if let Some(f) = feature.filter(|_| df > 0) {
                terms.push(QueryTerm {
                    feature: f,
                    kind,
                    x,
                    idf,
                });
            }
        }
        // Sorted by feature id, to merge with each entry's sorted lists.
        terms.sort_unstable_by_key(|t| t.feature);
        terms.dedup_by_key(|t| t.feature);
        self.shortlist(&terms)
            .into_iter()
            .filter_map(|slot| {
                let s = self.slots[slot as usize].as_ref()?;
                let signals = self.signals(s, &terms, q_norm, l);
                let score = self.calibration.rank_score(&signals);
                Some((signals, score, slot))
            })
            .collect()
    }

    /// The entries worth scoring in full: those sharing the most query
    /// weight on its selective features (those most entries do not share),
    /// at most [`SHORTLIST`]. A selective feature's postings are short; a
    /// feature most entries share cannot tell them apart, and walking its
    /// postings would cost a pass over the whole base. When the query has
    /// nothing selective, its rarest features decide.
    fn shortlist(&self, terms: &[QueryTerm]) -> Vec<u32> {
        let cap = (self.live / 8).max(256);
        let mut by_df: Vec<(usize, usize)> = terms
            .iter()
            .enumerate()
            .map(|(i, t)| (self.postings[t.feature as usize].len(), i))
            .collect();
        by_df.sort_unstable();
        let selective = by_df.iter().take_while(|(df, _)| *df <= cap).count();
        let chosen = if selective > 0 {
            &by_df[..selective]
        } else {
            &by_df[..by_df.len().min(2)]
        };
        SHARED.with(|shared| {
            let mut shared = shared.borrow_mut();
            if shared.len() < self.slots.len() {
                shared.resize(self.slots.len(), 0.0);
            }
            let mut touched: Vec<u32> = Vec::new();
            for &(_, i) in chosen {
                let x = terms[i].x;
                for &slot in &self.postings[terms[i].feature as usize] {
                    let acc = &mut shared[slot as usize];
                    if *acc == 0.0 {
                        touched.push(slot);
                    }
                    *acc += x * x;
                }
            }
            let mut weighed: Vec<(f64, u32)> = touched
                .into_iter()
                .map(|slot| (std::mem::take(&mut shared[slot as usize]), slot))
                .collect();
            if weighed.len() > SHORTLIST {
                weighed = Self::varied(weighed);
            }
            weighed.into_iter().map(|(_, slot)| slot).collect()
        })
    }

    /// The [`SHORTLIST`] entries sharing the most query weight, with at most
    /// [`SAME_WEIGHT`] of any one weight. Entries that share exactly the same
    /// weight are one template for many products (面膜什么时候发货,
    /// 口红什么时候发货 ...): beyond a few of them, scoring more cannot change
    /// the answer (they tie, see [`TIED`]), and in a base of thousands they
    /// would fill the shortlist and push out the entry that differs, the
    /// shop's own 什么时候发货. Chosen among the best 4 x SHORTLIST, so the
    /// cost stays a selection, not a sort of everything touched.
    fn varied(mut weighed: Vec<(f64, u32)>) -> Vec<(f64, u32)> {
        let by_weight = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let window = 4 * SHORTLIST;
        if let Some(cut) = Self::cut(&weighed, window) {
            weighed.retain(|(w, _)| *w >= cut);
        }
        if weighed.len() > window {
            weighed.select_nth_unstable_by(window, by_weight);
            weighed.truncate(window);
        }
        weighed.sort_unstable_by(by_weight);
        let mut kept = Vec::with_capacity(SHORTLIST);
        let mut run = (f64::NAN, 0usize);
        for (w, slot) in weighed {
            run = if w == run.0 { (w, run.1 + 1) } else { (w, 1) };
            if run.1 <= SAME_WEIGHT {
                kept.push((w, slot));
                if kept.len() == SHORTLIST {
                    break;
                }
            }
        }
        kept
    }

    /// A weight that at least `window` of `weighed` reach, taken from a
    /// sample, so the selection runs on those alone. On a large base most
    /// entries touched share a single feature with the question (the
    /// product's name, one word of a template), and selecting among all of
    /// them was the largest part of a query at 30,000 entries. Exact: every
    /// entry of the window weighs at least the window's last, which weighs at
    /// least the cut once `window` entries reach it. None when the sample's
    /// cut would not leave that many, or the set is too small to gain.
    fn cut(weighed: &[(f64, u32)], window: usize) -> Option<f64> {
        const SAMPLE: usize = 64;
        let n = weighed.len();
        if n < 4 * window {
            return None;
        }
        let step = n / SAMPLE;
        let mut sample: [f64; SAMPLE] = std::array::from_fn(|i| weighed[i * step].0);
        sample.sort_unstable_by(|a, b| b.total_cmp(a));
        // The window is window/n of the entries; cut at twice that share of
        // the sample, so a sample that ranks it low still leaves enough.
        let rank = (2 * window * SAMPLE).div_ceil(n).min(SAMPLE - 1);
        let cut = sample[rank];
        let reaching = weighed.iter().filter(|(w, _)| *w >= cut).count();
        (reaching >= window).then_some(cut)
    }

    fn signals(&self, s: &Slot, terms: &[QueryTerm], q_norm: [f64; 2], l: f64) -> Signals {
        let blend = |v: [f64; 2]| WORD_SHARE * v[0] + (1.0 - WORD_SHARE) * v[1];
        let share = |num: [f64; 2]| {
            blend([0, 1].map(|k| {
                if q_norm[k] > 0.0 {
                    (num[k] / q_norm[k]).min(1.0)
                } else {
                    0.0
                }
            }))
        };
        let (mut in_questions, mut in_answer, mut in_entry) =
            ([0.0f64; 2], [0.0f64; 2], [0.0f64; 2]);
        merge(&s.features, terms, |&(_, fields), t| {
            let k = t.kind as usize;
            let xx = t.x * t.x;
            if fields & IN_QUESTION != 0 {
                in_questions[k] += xx;
            }
            if fields & IN_ANSWER != 0 {
                in_answer[k] += xx;
            }
            // Every feature of the entry is in one field or more.
            in_entry[k] += xx;
        });
        let mut best = (0.0f64, 0usize);
        for (i, (q, features)) in s.questions().enumerate() {
            let norm = q.norms.get(self.state).unwrap_or_else(|| {
                let mut norm = [0.0f64; 2];
                for &(f, m) in features {
                    let w = (l - self.log_df[f as usize]).max(0.0) * f64::from(m);
                    norm[self.kinds[f as usize] as usize] += w * w;
                }
                q.norms.set(self.state, norm);
                norm
            });
            let mut dot = [0.0f64; 2];
            // The same value as the norm's `(l - log_df).max(0.0)`: the
            // query's IDF was computed from the same df the same way.
            merge(features, terms, |&(_, m), t| {
                dot[t.kind as usize] += t.x * (t.idf * f64::from(m));
            });
            let cos = [0, 1].map(|k| {
                if q_norm[k] <= 0.0 || norm[k] <= 0.0 {
                    0.0
                } else {
                    (dot[k] / (q_norm[k] * norm[k]).sqrt()).clamp(0.0, 1.0)
                }
            });
            let c = blend(cos);
            if c > best.0 {
                best = (c, i);
            }
        }
        Signals {
            question: best.0,
            questions: share(in_questions),
            answer: share(in_answer),
            entry: share(in_entry),
            best_question: best.1,
            sentence: None,
        }
    }
}

/// Calls `each` for every item of `items` (sorted by feature id) whose feature
/// the query has (`terms`, sorted by feature id too).
fn merge<T>(items: &[(u32, T)], terms: &[QueryTerm], mut each: impl FnMut(&(u32, T), &QueryTerm)) {
    let (mut i, mut j) = (0, 0);
    while i < items.len() && j < terms.len() {
        match items[i].0.cmp(&terms[j].feature) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                each(&items[i], &terms[j]);
                i += 1;
                j += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed stream of pseudo-random numbers (xorshift64), so a failing
    /// case is the same case on every run.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// The shortlist as it was chosen before the cut: every touched entry
    /// sorted by weight (then slot), at most [`SAME_WEIGHT`] of one weight
    /// among the first 4 x [`SHORTLIST`].
    fn varied_by_sorting_all(mut weighed: Vec<(f64, u32)>) -> Vec<(f64, u32)> {
        weighed.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        weighed.truncate(4 * SHORTLIST);
        let mut kept = Vec::new();
        let mut run = (f64::NAN, 0usize);
        for (w, slot) in weighed {
            run = if w == run.0 { (w, run.1 + 1) } else { (w, 1) };
            if run.1 <= SAME_WEIGHT && kept.len() < SHORTLIST {
                kept.push((w, slot));
            }
        }
        kept
    }

    /// R-FAQ-6: the merge visits exactly the features both sorted lists
    /// hold, each once, in order, whatever their lengths and overlap.
    #[test]
    fn r_faq_6_the_merge_visits_exactly_the_shared_features() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        for _ in 0..2_000 {
            let range = 1 + next() % 200;
            let (a_len, b_len) = (next() % 60, next() % 30);
            let mut sorted_set = |len: u64| {
                let mut v: Vec<u32> = (0..len).map(|_| (next() % range) as u32).collect();
                v.sort_unstable();
                v.dedup();
                v
            };
            let items: Vec<(u32, ())> = sorted_set(a_len).into_iter().map(|f| (f, ())).collect();
            let terms: Vec<QueryTerm> = sorted_set(b_len)
                .into_iter()
                .map(|feature| QueryTerm {
                    feature,
                    kind: Kind::Word,
                    x: 1.0,
                    idf: 1.0,
                })
                .collect();
            let mut visited = Vec::new();
            merge(&items, &terms, |&(f, ()), t| {
                assert_eq!(f, t.feature);
                visited.push(f);
            });
            let expected: Vec<u32> = items
                .iter()
                .map(|(f, ())| *f)
                .filter(|f| terms.iter().any(|t| t.feature == *f))
                .collect();
            assert_eq!(visited, expected);
        }
    }

    /// R-FAQ-7 (speed without a different answer): the sampled cut before
    /// the selection keeps exactly the shortlist that sorting every touched
    /// entry gives, on sets like a large base's (a few weights shared by
    /// hundreds of entries: one feature of a template, the product's name)
    /// and on sets where the sample misleads.
    #[test]
    fn r_faq_7_the_shortlist_is_the_same_with_the_cut() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        let mut cut_taken = 0;
        for case in 0..400 {
            let n = 1_000 + (next() % 7_000) as usize;
            // A handful of weights shared by many, and a tail of distinct
            // ones that share two or more features.
            let shared: Vec<f64> = (0..1 + next() % 6)
                .map(|_| (next() % 1000) as f64 / 100.0)
                .collect();
            let distinct = match case % 4 {
                0 => 0,
                1 => 10,
                2 => 300,
                _ => n / 2,
            };
            let mut weighed: Vec<(f64, u32)> = (0..n as u32)
                .map(|slot| {
                    let w = if (slot as usize) < distinct {
                        (next() % 100_000) as f64 / 1000.0
                    } else {
                        shared[(next() % shared.len() as u64) as usize]
                    };
                    (w, slot)
                })
                .collect();
            if case % 5 == 4 {
                // A sample that misleads: every entry it reads weighs more
                // than the rest, so its cut leaves fewer than the window.
                let step = n / 64;
                for (i, (w, _)) in weighed.iter_mut().enumerate() {
                    *w = if i % step == 0 {
                        50.0 + (i % 7) as f64
                    } else {
                        1.0
                    };
                }
            } else {
                // The postings' order, not the slots'.
                for i in (1..weighed.len()).rev() {
                    weighed.swap(i, (next() % (i as u64 + 1)) as usize);
                }
            }
            if Index::cut(&weighed, 4 * SHORTLIST).is_some() {
                cut_taken += 1;
            }
            assert_eq!(
                Index::varied(weighed.clone()),
                varied_by_sorting_all(weighed),
                "case {case}"
            );
        }
        // The cut must have been taken often enough for the test to mean something.
        assert!(
            cut_taken > 100,
            "the cut was taken in {cut_taken} cases of 400"
        );
    }
}
