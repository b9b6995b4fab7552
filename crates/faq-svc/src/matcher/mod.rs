//! The matching robot's engine (R-FAQ-6, R-FAQ-7): an incremental inverted
//! index over every enabled entry's standard and similar questions, scored by
//! IDF-weighted cosine similarity over jieba words and character bigrams.
//!
//! Why cosine and not raw BM25: the robot needs a confidence in [0, 1] that
//! means the same for every shop, whatever the size of its knowledge base,
//! so that one threshold can decide "answer" or "hand over". Cosine is 1 for
//! the same question and falls with every word either side does not share;
//! the IDF weights (BM25's formula, always positive) keep frequent words
//! cheap. Words catch synonyms and domain terms; bigrams catch wording jieba
//! splits differently. An entry scores its best question. Pure: no I/O.

pub mod analyzer;

pub use analyzer::{normalize, same_question, Analyzer, Features};
use std::collections::HashMap;

/// How much of the score comes from words; the rest from bigrams.
pub const WORD_SHARE: f64 = 0.6;

/// One ranked candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub entry_id: String,
    pub confidence: f64,
    /// The entry's question that matched best.
    pub matched_question: String,
}

#[derive(Debug, Clone)]
struct Doc {
    entry: u32,
    question: String,
    words: Vec<(u32, f64)>,
    bigrams: Vec<u32>,
}

/// The index of one knowledge base. Updated in place, one entry at a time, so
/// a change is visible to the next query without a rebuild.
#[derive(Debug, Default, Clone)]
pub struct Index {
    features: HashMap<String, u32>,
    /// Documents containing each feature (by feature id).
    postings: Vec<Vec<u32>>,
    docs: Vec<Option<Doc>>,
    free_docs: Vec<u32>,
    live_docs: usize,
    entry_ids: Vec<String>,
    entry_slots: HashMap<String, u32>,
    /// Documents of each entry, by entry slot.
    entry_docs: Vec<Vec<u32>>,
}

const WORD_PREFIX: char = 'w';
const BIGRAM_PREFIX: char = 'g';

impl Index {
    pub fn new() -> Self {
        Self::default()
    }

    /// Enabled entries indexed.
    pub fn len(&self) -> usize {
        self.entry_docs.iter().filter(|d| !d.is_empty()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.live_docs == 0
    }

    /// Indexes (or re-indexes) an entry's questions. A disabled entry is
    /// removed instead: it must never answer (R-FAQ-3 "disable").
    pub fn upsert<'q>(
        &mut self,
        analyzer: &Analyzer,
        entry_id: &str,
        enabled: bool,
        questions: impl IntoIterator<Item = &'q str>,
    ) {
        self.remove(entry_id);
        if !enabled {
            return;
        }
        let slot = match self.entry_slots.get(entry_id) {
            Some(s) => *s,
            None => {
                let s = self.entry_ids.len() as u32;
                self.entry_ids.push(entry_id.to_owned());
                self.entry_docs.push(Vec::new());
                self.entry_slots.insert(entry_id.to_owned(), s);
                s
            }
        };
        for question in questions {
            let f = analyzer.analyze(question);
            let words = f
                .words
                .iter()
                .map(|(w, weight)| (self.intern(WORD_PREFIX, w), *weight))
                .collect();
            let bigrams = f
                .bigrams
                .iter()
                .map(|g| self.intern(BIGRAM_PREFIX, g))
                .collect();
            let doc = Doc {
                entry: slot,
                question: question.to_owned(),
                words,
                bigrams,
            };
            let id = match self.free_docs.pop() {
                Some(id) => id,
                None => {
                    self.docs.push(None);
                    (self.docs.len() - 1) as u32
                }
            };
            for f in doc
                .words
                .iter()
                .map(|(f, _)| *f)
                .chain(doc.bigrams.iter().copied())
            {
                self.postings[f as usize].push(id);
            }
            self.docs[id as usize] = Some(doc);
            self.entry_docs[slot as usize].push(id);
            self.live_docs += 1;
        }
    }

    pub fn remove(&mut self, entry_id: &str) {
        let Some(&slot) = self.entry_slots.get(entry_id) else {
            return;
        };
        for id in std::mem::take(&mut self.entry_docs[slot as usize]) {
            if let Some(doc) = self.docs[id as usize].take() {
                for f in doc
                    .words
                    .iter()
                    .map(|(f, _)| *f)
                    .chain(doc.bigrams.iter().copied())
                {
                    self.postings[f as usize].retain(|d| *d != id);
                }
                self.free_docs.push(id);
                self.live_docs -= 1;
            }
        }
    }

    fn intern(&mut self, kind: char, text: &str) -> u32 {
        let mut key = String::with_capacity(text.len() + 1);
        key.push(kind);
        key.push_str(text);
        if let Some(id) = self.features.get(&key) {
            return *id;
        }
        let id = self.postings.len() as u32;
        self.postings.push(Vec::new());
        self.features.insert(key, id);
        id
    }

    fn lookup(&self, kind: char, text: &str) -> Option<u32> {
        let mut key = String::with_capacity(text.len() + 1);
        key.push(kind);
        key.push_str(text);
        self.features.get(&key).copied()
    }

    /// BM25's IDF: positive for every document frequency, highest for
    /// features no document has.
    fn idf(&self, df: usize) -> f64 {
        let n = self.live_docs as f64;
        let df = df as f64;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    fn feature_idf(&self, f: u32) -> f64 {
        self.idf(self.postings[f as usize].len())
    }

    /// The best `k` entries for `query`, best first, each with its confidence.
    pub fn search(&self, analyzer: &Analyzer, query: &str, k: usize) -> Vec<Scored> {
        self.search_features(&analyzer.analyze(query), k)
    }

    pub fn search_features(&self, query: &Features, k: usize) -> Vec<Scored> {
        if k == 0 || self.live_docs == 0 {
            return Vec::new();
        }
        let unseen = self.idf(0);
        // Query side: weights of every feature, known or not (an unknown word
        // is something the knowledge base cannot answer and lowers the score).
        let mut q_words: Vec<(Option<u32>, f64)> = Vec::with_capacity(query.words.len());
        let mut q_word_norm = 0.0;
        for (w, weight) in &query.words {
            let f = self.lookup(WORD_PREFIX, w);
            let x = f.map_or(unseen, |f| self.feature_idf(f)) * weight;
            q_word_norm += x * x;
            q_words.push((f, x));
        }
        let mut q_gram_norm = 0.0;
        let mut q_grams: Vec<(Option<u32>, f64)> = Vec::with_capacity(query.bigrams.len());
        for g in &query.bigrams {
            let f = self.lookup(BIGRAM_PREFIX, g);
            let x = f.map_or(unseen, |f| self.feature_idf(f));
            q_gram_norm += x * x;
            q_grams.push((f, x));
        }
        // Dot products per touched document.
        let mut word_dot: HashMap<u32, f64> = HashMap::new();
        let mut gram_dot: HashMap<u32, f64> = HashMap::new();
        for (f, x) in &q_words {
            let Some(f) = f else { continue };
            for &d in &self.postings[*f as usize] {
                let doc = self.docs[d as usize].as_ref().expect("posted docs live");
                let weight = doc
                    .words
                    .iter()
                    .find(|(g, _)| g == f)
                    .map_or(1.0, |(_, w)| *w);
                *word_dot.entry(d).or_default() += x * self.feature_idf(*f) * weight;
            }
        }
        for (f, x) in &q_grams {
            let Some(f) = f else { continue };
            for &d in &self.postings[*f as usize] {
                *gram_dot.entry(d).or_default() += x * self.feature_idf(*f);
            }
        }
        let mut best: HashMap<u32, (f64, u32)> = HashMap::new();
        let candidates = word_dot.keys().chain(gram_dot.keys());
        for &d in candidates {
            let doc = self.docs[d as usize].as_ref().expect("posted docs live");
            let word_norm: f64 = doc
                .words
                .iter()
                .map(|(f, w)| (self.feature_idf(*f) * w).powi(2))
                .sum();
            let gram_norm: f64 = doc
                .bigrams
                .iter()
                .map(|f| self.feature_idf(*f).powi(2))
                .sum();
            let cos = |dot: f64, a: f64, b: f64| {
                if a <= 0.0 || b <= 0.0 {
                    0.0
                } else {
                    (dot / (a.sqrt() * b.sqrt())).clamp(0.0, 1.0)
                }
            };
            let score = WORD_SHARE
                * cos(
                    word_dot.get(&d).copied().unwrap_or(0.0),
                    q_word_norm,
                    word_norm,
                )
                + (1.0 - WORD_SHARE)
                    * cos(
                        gram_dot.get(&d).copied().unwrap_or(0.0),
                        q_gram_norm,
                        gram_norm,
                    );
            let e = best.entry(doc.entry).or_insert((score, d));
            if score > e.0 || (score == e.0 && d < e.1) {
                *e = (score, d);
            }
        }
        let mut ranked: Vec<(u32, f64, u32)> =
            best.into_iter().map(|(e, (s, d))| (e, s, d)).collect();
        ranked.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| self.entry_ids[a.0 as usize].cmp(&self.entry_ids[b.0 as usize]))
        });
        ranked
            .into_iter()
            .take(k)
            .map(|(e, s, d)| Scored {
                entry_id: self.entry_ids[e as usize].clone(),
                confidence: s,
                matched_question: self.docs[d as usize]
                    .as_ref()
                    .map(|d| d.question.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }
}
