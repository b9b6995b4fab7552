//! The second stage (decision 0023): when the lexical matcher is unsure of a
//! help-centre question, a sentence model's cosines re-rank its candidates
//! and a second calibration gives the confidence. Pure: the cosines arrive
//! computed ([`crate::sentence`] computes them).
//!
//! Why it exists: most of the help centre's misses share no word with their
//! entry (花不出去 against 消耗慢, 50块钱 against 100元起), which no lexical
//! signal can see and no synonym line may cover without learning the test
//! set (issue 16).

use super::{Calibration, Scored};

/// A query's cosines against one entry, from a sentence model.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cosines {
    /// Against the entry's best question.
    pub question: f64,
    /// Against its standard question followed by its answer.
    pub whole: f64,
}

/// How the cosines join the lexical ranking score, and the confidence of
/// the re-ranked best entry: `sigmoid(bias + score_weight * score +
/// coverage_weight * entry + cosine_weight * whole)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageCalibration {
    pub question_weight: f64,
    pub whole_weight: f64,
    pub bias: f64,
    pub score_weight: f64,
    pub coverage_weight: f64,
    pub cosine_weight: f64,
}

/// How many of the lexical candidates the stage re-ranks. The dumps it was
/// fitted on hold the best 30.
pub const RERANKED: usize = 30;

/// Fitted on half A of the development set, the cases the lexical matcher
/// was unsure of, over the three bases the stage serves: the help centre,
/// the presets, and the 1,000-entry shop base with its own entries embedded
/// (`tests/eval/faq/e5_stage.py`; decision 0025, docs/faq-matching.md has
/// the figures). Until decision 0025 the shop base took no part, and the
/// weights were 6 and 6.
pub const FITTED_STAGE: StageCalibration = StageCalibration {
    question_weight: 9.0,
    whole_weight: 13.0,
    bias: -42.66,
    score_weight: 2.538,
    coverage_weight: 2.795,
    cosine_weight: -9.368,
};

impl StageCalibration {
    fn confidence(&self, score: f64, entry: f64, whole: f64) -> f64 {
        let z = self.bias
            + self.score_weight * score
            + self.coverage_weight * entry
            + self.cosine_weight * whole;
        1.0 / (1.0 + (-z).exp())
    }
}

/// Re-ranks the lexical candidates (best first, at most [`RERANKED`] of
/// them) with their cosines, best first, each with the stage's confidence.
/// A candidate without cosines keeps its lexical score and 0 for them.
pub fn rerank(
    lexical: Vec<Scored>,
    cosines: impl Fn(&Scored) -> Option<Cosines>,
    calibration: &Calibration,
    stage: &StageCalibration,
) -> Vec<Scored> {
    let mut scored: Vec<(f64, Scored)> = lexical
        .into_iter()
        .map(|mut s| {
            let c = cosines(&s).unwrap_or_default();
            let score = calibration.rank_score(&s.signals)
                + stage.question_weight * c.question
                + stage.whole_weight * c.whole;
            s.confidence = stage.confidence(score, s.signals.entry, c.whole);
            s.signals.sentence = Some(c);
            (score, s)
        })
        .collect();
    // Ties keep the lexical order (a stable sort).
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::Signals;

    fn hit(id: &str, question: f64, entry: f64) -> Scored {
        Scored {
            entry_id: id.into(),
            confidence: 0.0,
            matched_question: id.into(),
            signals: Signals {
                question,
                entry,
                ..Signals::default()
            },
        }
    }

    // Issue 16: an entry that shares no word with the query but means the
    // same comes first once the model says so, and its confidence rises
    // with the model's agreement.
    #[test]
    fn r_faq_7_the_model_lifts_the_entry_that_means_the_same() {
        let stage = StageCalibration {
            question_weight: 6.0,
            whole_weight: 6.0,
            bias: -20.0,
            score_weight: 2.0,
            coverage_weight: 0.5,
            cosine_weight: 3.0,
        };
        let lexical = vec![hit("shares-words", 0.4, 0.5), hit("means-it", 0.1, 0.2)];
        let cos = |s: &Scored| {
            Some(if s.entry_id == "means-it" {
                Cosines {
                    question: 0.92,
                    whole: 0.88,
                }
            } else {
                Cosines {
                    question: 0.75,
                    whole: 0.74,
                }
            })
        };
        let out = rerank(lexical, cos, &Calibration::default(), &stage);
        assert_eq!(out[0].entry_id, "means-it");
        assert!(out[0].confidence > out[1].confidence);
        assert_eq!(out[0].signals.sentence.map(|c| c.whole), Some(0.88));
        // Without cosines the lexical order stands.
        let lexical = vec![hit("shares-words", 0.4, 0.5), hit("means-it", 0.1, 0.2)];
        let out = rerank(lexical, |_| None, &Calibration::default(), &stage);
        assert_eq!(out[0].entry_id, "shares-words");
    }
}
