//! From an entry's signals to a ranking score, and from the best entry's
//! score to a confidence that means the same in every knowledge base: the
//! share of auto-answers at that confidence that were right, measured.
//!
//! The weights are fitted on one half of the development set
//! (`tests/eval/faq/dev`, half A) by `tests/eval/faq/tune.py` and checked on
//! the other half; docs/faq-matching.md has the figures and the procedure.
//! They are a handful of numbers over signals that are each in [0, 1] and
//! do not depend on the size of the base, which is why one fit serves a
//! 27-entry help centre and a 1,000-entry shop base alike. What a large base
//! adds is ties (one template for many products): the index shares the
//! confidence among tied entries (`TIED` in the matcher), so that it reads
//! the same there.

/// What the index measured between a query and one entry (each in [0, 1]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Signals {
    /// Cosine between the query and the entry's best question.
    pub question: f64,
    /// Share of the query's weight that the answer contains.
    pub answer: f64,
    /// Share of the query's weight found in any of the entry's questions.
    pub questions: f64,
    /// Share of the query's weight found anywhere in the entry.
    pub entry: f64,
    /// Which question matched best (index among the entry's questions).
    pub best_question: usize,
    /// A sentence model's cosines, when the second stage ran (decision 0023).
    pub sentence: Option<super::Cosines>,
}

/// Ranking weights and the logistic calibration of the best entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Ranking: `question + questions_weight * questions + answer_weight *
    /// answer + entry_weight * entry`.
    pub questions_weight: f64,
    pub answer_weight: f64,
    pub entry_weight: f64,
    /// Confidence: `sigmoid(bias + score * score_weight + entry *
    /// coverage_weight)` of the entry's ranking score and of the share of
    /// the query it covers at all.
    pub bias: f64,
    pub score_weight: f64,
    pub coverage_weight: f64,
}

impl Default for Calibration {
    fn default() -> Self {
        FITTED
    }
}

/// Fitted on half A of the development set (see the module doc).
pub const FITTED: Calibration = Calibration {
    questions_weight: 0.8,
    answer_weight: 0.0,
    entry_weight: 0.9,
    bias: -1.529,
    score_weight: 3.383,
    coverage_weight: 1.152,
};

impl Calibration {
    pub fn rank_score(&self, s: &Signals) -> f64 {
        s.question
            + self.questions_weight * s.questions
            + self.answer_weight * s.answer
            + self.entry_weight * s.entry
    }

    /// The confidence of an entry ranked with `score`.
    pub fn confidence(&self, s: &Signals, score: f64) -> f64 {
        let z = self.bias + self.score_weight * score + self.coverage_weight * s.entry;
        1.0 / (1.0 + (-z).exp())
    }
}
