//! R-FAQ-9: the platform's help centre for merchants, imported from its FAQ
//! text (seed 001), not typed in by hand. The text is a list of sections
//! `(一)产品介绍`, each a list of `①问:...` questions followed by `答:...`
//! answers (the `答:` is sometimes missing; the answer is then the lines up to
//! the next question).

use crate::domain::{Category, Entry, EntryContent};

/// The help-centre FAQ this build ships (a verbatim copy of seed 001).
pub const SEED_001: &str = include_str!("../data/help-centre-001.txt");

/// One imported question and answer, with the section it sits in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpArticle {
    pub section: String,
    pub question: String,
    pub answer: String,
}

/// Parses a help-centre FAQ text.
pub fn parse(text: &str) -> Vec<HelpArticle> {
    let mut articles: Vec<HelpArticle> = Vec::new();
    let mut section = String::new();
    let mut answer: Option<Vec<String>> = None;
    let flush = |articles: &mut Vec<HelpArticle>, answer: &mut Option<Vec<String>>| {
        if let (Some(lines), Some(last)) = (answer.take(), articles.last_mut()) {
            last.answer = lines.join("\n").trim().to_owned();
        }
    };
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(title) = section_title(line) {
            flush(&mut articles, &mut answer);
            section = title;
            continue;
        }
        if let Some(question) = question_text(line) {
            flush(&mut articles, &mut answer);
            articles.push(HelpArticle {
                section: section.clone(),
                question,
                answer: String::new(),
            });
            answer = Some(Vec::new());
            continue;
        }
        if let Some(lines) = answer.as_mut() {
            let body = line
                .strip_prefix("答:")
                .or_else(|| line.strip_prefix("答："))
                .unwrap_or(line)
                .trim();
            if !body.is_empty() || !lines.is_empty() {
                lines.push(body.to_owned());
            }
        }
    }
    flush(&mut articles, &mut answer);
    articles.retain(|a| !a.question.is_empty() && !a.answer.is_empty());
    articles
}

/// `(一)产品介绍` or `(五) 充值问题` -> the title.
fn section_title(line: &str) -> Option<String> {
    let rest = line.strip_prefix('(').or_else(|| line.strip_prefix('（'))?;
    let (number, title) = rest.split_once([')', '）'])?;
    let numeral = |c: char| "一二三四五六七八九十".contains(c);
    (!number.is_empty() && number.chars().all(numeral)).then(|| title.trim().to_owned())
}

/// `①问:...` or `① 问：...` -> the question.
fn question_text(line: &str) -> Option<String> {
    let mut chars = line.chars();
    let first = chars.next()?;
    if !('\u{2460}'..='\u{2473}').contains(&first) {
        return None;
    }
    let rest = chars.as_str().trim_start();
    let q = rest
        .strip_prefix("问:")
        .or_else(|| rest.strip_prefix("问："))?;
    Some(q.trim().to_owned())
}

/// The help centre as knowledge-base entries, ids stable across imports
/// (`hc-<n>` in file order) so analytics keep pointing at the same article.
pub fn entries(articles: &[HelpArticle]) -> Vec<Entry> {
    articles
        .iter()
        .enumerate()
        .map(|(i, a)| Entry {
            id: format!("hc-{}", i + 1),
            content: EntryContent {
                standard_question: a.question.clone(),
                similar_questions: Vec::new(),
                answer: a.answer.clone(),
                category: Category::Other,
                enabled: true,
            },
            preset_key: None,
            revision: 0,
        })
        .collect()
}
