//! R-CHAT-8: a buyer asks for a human (转人工 and the ways buyers write it).

/// Phrases that ask for a person whatever surrounds them.
const ASKS: &[&str] = &[
    "转人工",
    "人工客服",
    "人工服务",
    "真人",
    "活人",
    "找客服",
    "转客服",
    "联系客服",
    "客服在吗",
    "有人吗",
    "human",
    "realperson",
    "liveagent",
];
/// "人工" alone asks for a person, but not in 人工费 (labour cost) and the like.
const NOT_A_PERSON_AFTER: &[char] = &['费', '成', '智', '合', '湖', '草'];

/// Full-width to half-width, lower case, no spaces or punctuation: 转 人 工！ and
/// "Human" match as buyers type them.
fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

pub fn asks_for_human(text: &str) -> bool {
    let t = normalise(text);
    if ASKS.iter().any(|a| t.contains(a)) {
        return true;
    }
    t.match_indices("人工").any(|(i, m)| {
        t[i + m.len()..]
            .chars()
            .next()
            .is_none_or(|next| !NOT_A_PERSON_AFTER.contains(&next))
    })
}

#[cfg(test)]
mod tests {
    use super::asks_for_human;

    #[test]
    fn variants_and_false_friends() {
        for yes in [
            "转人工",
            "转 人 工！",
            "我要人工",
            "人工",
            "请帮我接人工客服",
            "找真人",
            "HUMAN please",
            "有人吗？",
        ] {
            assert!(asks_for_human(yes), "{yes}");
        }
        for no in [
            "几天发货",
            "安装要人工费吗",
            "这是人工智能吗",
            "退款多久到账",
        ] {
            assert!(!asks_for_human(no), "{no}");
        }
    }
}
