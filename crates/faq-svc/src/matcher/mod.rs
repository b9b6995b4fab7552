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
//!
//! Why it stays fast while the knowledge base changes: BM25's IDF is
//! `ln(N+1) - ln(df+0.5)`, so a document's squared norm over its features,
//! `sum m^2 (L - g)^2` with `L = ln(N+1)` and `g = ln(df+0.5)`, expands to
//! `L^2*A - 2L*B + C` with per-document sums `A = sum m^2`, `B = sum m^2 g`,
//! `C = sum m^2 g^2`. Only B and C depend on document frequencies, and a
//! change touches only the documents sharing a feature with it, so each
//! update adjusts those sums and every query computes exact norms in O(1).

pub mod analyzer;

pub use analyzer::{normalize, same_question, Analyzer, Features};
use std::collections::{HashMap, HashSet};

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

/// Per-document sums from which its norm follows for any N (see the module doc).
#[derive(Debug, Clone, Copy, Default)]
struct NormSums {
    a: f64,
    b: f64,
    c: f64,
}

impl NormSums {
    fn norm_squared(&self, l: f64) -> f64 {
        (l * l * self.a - 2.0 * l * self.b + self.c).max(0.0)
    }
}

#[derive(Debug, Clone)]
struct Doc {
    entry: u32,
    question: String,
    /// (feature, weight multiplier); each feature once.
    features: Vec<(u32, f64)>,
    words: NormSums,
    bigrams: NormSums,
}

impl Doc {
    fn sums(&mut self, kind: Kind) -> &mut NormSums {
        match kind {
            Kind::Word => &mut self.words,
            Kind::Bigram => &mut self.bigrams,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Bigram,
}

thread_local! {
    /// Per-document dot products of the query being scored, all zero between
    /// queries: reused so a query does not allocate and clear one per document.
    static SCRATCH: std::cell::RefCell<Vec<[f64; 2]>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `g(df) = ln(df + 0.5)`: the document-frequency half of BM25's IDF.
fn g(df: usize) -> f64 {
    (df as f64 + 0.5).ln()
}

/// The index of one knowledge base. Updated in place, one entry at a time, so
/// a change is visible to the next query without a rebuild.
#[derive(Debug, Default, Clone)]
pub struct Index {
    features: HashMap<String, u32>,
    kinds: Vec<Kind>,
    /// (document, weight multiplier) for each feature.
    postings: Vec<Vec<(u32, f64)>>,
    docs: Vec<Option<Doc>>,
    free_docs: Vec<u32>,
    live_docs: usize,
    entry_ids: Vec<String>,
    entry_slots: HashMap<String, u32>,
    /// Documents of each entry, by entry slot.
    entry_docs: Vec<Vec<u32>>,
}

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
        let mut seen = HashSet::new();
        for question in questions {
            // The same question twice would only double its weight in df.
            if !seen.insert(normalize(question)) {
                continue;
            }
            let f = analyzer.analyze(question);
            let mut features: Vec<(u32, f64)> = f
                .words
                .iter()
                .map(|(w, weight)| (self.intern(Kind::Word, w), *weight))
                .collect();
            features.extend(
                f.bigrams
                    .iter()
                    .map(|b| (self.intern(Kind::Bigram, b), 1.0)),
            );
            let id = match self.free_docs.pop() {
                Some(id) => id,
                None => {
                    self.docs.push(None);
                    (self.docs.len() - 1) as u32
                }
            };
            for &(f, m) in &features {
                self.shift_df(f, 1);
                self.postings[f as usize].push((id, m));
            }
            let mut doc = Doc {
                entry: slot,
                question: question.to_owned(),
                features,
                words: NormSums::default(),
                bigrams: NormSums::default(),
            };
            for i in 0..doc.features.len() {
                let (f, m) = doc.features[i];
                let gf = g(self.postings[f as usize].len());
                let s = doc.sums(self.kinds[f as usize]);
                s.a += m * m;
                s.b += m * m * gf;
                s.c += m * m * gf * gf;
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
                for &(f, _) in &doc.features {
                    self.postings[f as usize].retain(|(d, _)| *d != id);
                    self.shift_df(f, -1);
                }
                self.free_docs.push(id);
                self.live_docs -= 1;
            }
        }
    }

    /// Feature `f`'s document frequency is about to move by `delta` (+1 before
    /// a posting is added, -1 after one is removed): the other documents with
    /// `f` keep their norm sums exact.
    fn shift_df(&mut self, f: u32, delta: i64) {
        let current = self.postings[f as usize].len();
        let (before, after) = if delta > 0 {
            (current, current + 1)
        } else {
            (current + 1, current)
        };
        let dg = g(after) - g(before);
        let dg2 = g(after).powi(2) - g(before).powi(2);
        let kind = self.kinds[f as usize];
        for &(d, m) in &self.postings[f as usize] {
            if let Some(doc) = self.docs[d as usize].as_mut() {
                let s = doc.sums(kind);
                s.b += m * m * dg;
                s.c += m * m * dg2;
            }
        }
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
        self.kinds.push(kind);
        self.features.insert(key, id);
        id
    }

    /// The best `k` entries for `query`, best first, each with its confidence.
    pub fn search(&self, analyzer: &Analyzer, query: &str, k: usize) -> Vec<Scored> {
        self.search_features(&analyzer.analyze(query), k)
    }

    pub fn search_features(&self, query: &Features, k: usize) -> Vec<Scored> {
        if k == 0 || self.live_docs == 0 {
            return Vec::new();
        }
        let l = (self.live_docs as f64 + 1.0).ln();
        let idf = |df: usize| (l - g(df)).max(0.0);
        // Query side: every feature counts in its norm, known or not (an
        // unknown word is something the knowledge base cannot answer).
        let mut q_norm = [0.0f64; 2];
        let mut terms: Vec<(u32, f64)> =
            Vec::with_capacity(query.words.len() + query.bigrams.len());
        let words = query
            .words
            .iter()
            .map(|(w, m)| (Kind::Word, w.as_str(), *m));
        let bigrams = query
            .bigrams
            .iter()
            .map(|b| (Kind::Bigram, b.as_str(), 1.0));
        for (kind, text, m) in words.chain(bigrams) {
            let f = self.features.get(&Self::key(kind, text)).copied();
            let df = f.map_or(0, |f| self.postings[f as usize].len());
            let x = idf(df) * m;
            q_norm[kind as usize] += x * x;
            if let Some(f) = f.filter(|_| df > 0) {
                terms.push((f, idf(df).powi(2) * m));
            }
        }
        SCRATCH.with(|scratch| {
            let mut dots = scratch.borrow_mut();
            if dots.len() < self.docs.len() {
                dots.resize(self.docs.len(), [0.0; 2]);
            }
            let mut touched: Vec<u32> = Vec::new();
            for &(f, w) in &terms {
                let kind = self.kinds[f as usize] as usize;
                for &(d, m) in &self.postings[f as usize] {
                    let acc = &mut dots[d as usize];
                    if acc[0] == 0.0 && acc[1] == 0.0 {
                        touched.push(d);
                    }
                    acc[kind] += w * m;
                }
            }
            let cos = |dot: f64, a: f64, b: f64| {
                if a <= 0.0 || b <= 0.0 {
                    0.0
                } else {
                    (dot / (a * b).sqrt()).clamp(0.0, 1.0)
                }
            };
            let mut scored: Vec<(f64, u32)> = Vec::with_capacity(touched.len());
            for d in touched {
                let [wd, gd] = std::mem::take(&mut dots[d as usize]);
                if let Some(doc) = self.docs[d as usize].as_ref() {
                    let score = WORD_SHARE * cos(wd, q_norm[0], doc.words.norm_squared(l))
                        + (1.0 - WORD_SHARE) * cos(gd, q_norm[1], doc.bigrams.norm_squared(l));
                    scored.push((score, d));
                }
            }
            self.top_entries(scored, k)
        })
    }

    /// The best `k` entries among scored documents, each entry by its best
    /// document; ties go to the smaller entry id, so answers are repeatable.
    fn top_entries(&self, mut scored: Vec<(f64, u32)>, k: usize) -> Vec<Scored> {
        let order = |a: &(f64, u32), b: &(f64, u32)| {
            b.0.total_cmp(&a.0).then_with(|| {
                let entry = |d: u32| self.docs[d as usize].as_ref().map(|x| x.entry);
                let ea = entry(a.1).map(|e| &self.entry_ids[e as usize]);
                let eb = entry(b.1).map(|e| &self.entry_ids[e as usize]);
                ea.cmp(&eb).then(a.1.cmp(&b.1))
            })
        };
        // Most queries touch thousands of documents and want a handful of
        // entries: sort only a head wide enough for k distinct entries.
        let mut head = (k * 8 + 32).min(scored.len());
        loop {
            if head < scored.len() {
                scored.select_nth_unstable_by(head, order);
            }
            let mut top = scored[..head].to_vec();
            top.sort_by(order);
            let picked = self.distinct_entries(&top, k);
            if picked.len() == k || head == scored.len() {
                return picked;
            }
            head = (head * 4).min(scored.len());
        }
    }

    fn distinct_entries(&self, sorted: &[(f64, u32)], k: usize) -> Vec<Scored> {
        let mut out: Vec<Scored> = Vec::with_capacity(k);
        let mut entries_seen = HashSet::new();
        for &(score, d) in sorted {
            let Some(doc) = self.docs[d as usize].as_ref() else {
                continue;
            };
            if !entries_seen.insert(doc.entry) {
                continue;
            }
            out.push(Scored {
                entry_id: self.entry_ids[doc.entry as usize].clone(),
                confidence: score,
                matched_question: doc.question.clone(),
            });
            if out.len() == k {
                break;
            }
        }
        out
    }
}
