//! Text to features (R-FAQ-7): normalisation, synonyms, jieba segmentation and
//! character bigrams. Shared by every knowledge base of the process: building
//! it loads jieba's dictionary, which takes a while.

use aho_corasick::{AhoCorasick, MatchKind};
use jieba_rs::Jieba;
use std::collections::HashSet;

/// Domain terms jieba must keep whole, one a line (`#` comments).
const DICTIONARY: &str = include_str!("../../data/dictionary.txt");
/// `canonical: variant, variant, ...` one a line (`#` comments).
const SYNONYMS: &str = include_str!("../../data/synonyms.txt");

/// Words that carry the sentence's grammar, not its topic: they still count,
/// at a fraction of their weight, so "what is X" and "how to X" stay apart
/// without outweighing X.
const FUNCTION_WORDS: &[&str] = &[
    "的",
    "了",
    "吗",
    "呢",
    "啊",
    "呀",
    "吧",
    "嘛",
    "哦",
    "哈",
    "么",
    "是",
    "我",
    "你",
    "您",
    "我们",
    "你们",
    "他",
    "她",
    "它",
    "这",
    "那",
    "这个",
    "那个",
    "一下",
    "请问",
    "请",
    "在",
    "有",
    "和",
    "与",
    "及",
    "或",
    "就",
    "都",
    "也",
    "还",
    "又",
    "要",
    "想",
    "能",
    "会",
    "可以",
    "可",
    "吗",
    "怎么",
    "如何",
    "什么",
    "哪",
    "哪里",
    "哪儿",
    "哪些",
    "为什么",
    "多少",
    "多久",
    "几",
    "时",
    "后",
    "中",
    "过",
    "给",
    "被",
    "把",
    "让",
    "从",
    "到",
    "对",
    "自己",
    "已经",
    "一个",
    "个",
    "些",
    "里",
    "上",
    "下",
    "不",
    "不能",
    "能不能",
    "有没有",
    "是不是",
    "不是",
    "一点",
    "没",
    "没有",
    "时候",
    "问题",
    "怎么办",
    "怎么样",
    "谁",
];
/// The weight a function word keeps.
pub const FUNCTION_WORD_WEIGHT: f64 = 0.3;

/// One analysed text: word features and character-bigram features.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    /// Distinct words with their weight multiplier (1, or FUNCTION_WORD_WEIGHT).
    pub words: Vec<(String, f64)>,
    /// Distinct character bigrams of the normalised, synonym-folded text.
    pub bigrams: Vec<String>,
}

#[derive(Debug)]
pub struct Analyzer {
    jieba: Jieba,
    synonyms: AhoCorasick,
    /// The canonical form of each synonym pattern, by pattern index.
    canonical: Vec<String>,
    function_words: HashSet<&'static str>,
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl Analyzer {
    pub fn new() -> Self {
        let mut jieba = Jieba::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut canonical: Vec<String> = Vec::new();
        for line in lines(SYNONYMS) {
            let Some((canon, variants)) = line.split_once(':') else {
                continue;
            };
            let canon = normalize(canon);
            for v in variants.split(',').map(normalize).chain([canon.clone()]) {
                if !v.is_empty() && !patterns.contains(&v) {
                    patterns.push(v);
                    canonical.push(canon.clone());
                }
            }
            jieba.add_word(&canon, Some(100_000), None);
        }
        for word in lines(DICTIONARY) {
            jieba.add_word(&normalize(word), Some(100_000), None);
        }
        let synonyms = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .expect("synonym patterns build");
        Self {
            jieba,
            synonyms,
            canonical,
            function_words: FUNCTION_WORDS.iter().copied().collect(),
        }
    }

    /// Normalised text with every synonym replaced by its canonical form.
    pub fn canonical_text(&self, text: &str) -> String {
        let text = normalize(text);
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in self.synonyms.find_iter(&text) {
            out.push_str(&text[last..m.start()]);
            out.push_str(&self.canonical[m.pattern().as_usize()]);
            last = m.end();
        }
        out.push_str(&text[last..]);
        out
    }

    pub fn analyze(&self, text: &str) -> Features {
        let text = self.canonical_text(text);
        let mut words: Vec<(String, f64)> = Vec::new();
        for token in self.jieba.cut_for_search(&text, true) {
            let w = token.word;
            if words.iter().any(|(x, _)| x == w) {
                continue;
            }
            let weight = if self.function_words.contains(w) {
                FUNCTION_WORD_WEIGHT
            } else {
                1.0
            };
            words.push((w.to_owned(), weight));
        }
        let chars: Vec<char> = text.chars().collect();
        let mut bigrams: Vec<String> = Vec::new();
        if chars.len() == 1 {
            bigrams.push(chars[0].to_string());
        }
        if UNIGRAMS {
            for c in chars.iter().filter(|c| is_cjk(**c)) {
                let g = c.to_string();
                if !bigrams.contains(&g) {
                    bigrams.push(g);
                }
            }
        }
        for pair in chars.windows(2) {
            let g: String = pair.iter().collect();
            if !bigrams.contains(&g) {
                bigrams.push(g);
            }
        }
        Features { words, bigrams }
    }
}

const UNIGRAMS: bool = false;

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF)
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
}

/// Full-width to half-width, lower case, and every character that is neither a
/// letter, a digit, CJK nor `+` dropped (spaces and punctuation carry nothing
/// in a question; `+` does, in DOU+).
pub fn normalize(text: &str) -> String {
    text.chars()
        .filter_map(|c| {
            let c = match c as u32 {
                0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                0x3000 => ' ',
                _ => c,
            };
            if c.is_alphanumeric() || c == '+' {
                Some(c.to_lowercase().next().unwrap_or(c))
            } else {
                None
            }
        })
        .collect()
}

/// The comparison the evaluation contract uses for standard questions:
/// whitespace and punctuation removed (ASCII and full-width), nothing else.
pub fn same_question(a: &str, b: &str) -> bool {
    let strip = |s: &str| -> String {
        s.chars()
            .map(|c| match c as u32 {
                0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                _ => c,
            })
            .filter(|c| !c.is_whitespace() && !c.is_ascii_punctuation() && !is_cjk_punct(*c))
            .collect()
    };
    strip(a) == strip(b)
}

fn is_cjk_punct(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303F | 0xFF00..=0xFF0F | 0x2018..=0x201F | 0x2026 | 0x00B7)
}
