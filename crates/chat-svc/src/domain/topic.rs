//! Issue 18 item 3: routing follows what the buyer asks. A conversation
//! opens pre-sale, or after-sale when it names an order; each buyer message
//! may move it: words that only an order's trouble uses (退货, 退款, 换货 ...)
//! make it after-sale, words of someone still choosing (有货吗, 优惠 ...)
//! pre-sale, and otherwise the category of the FAQ entry that answered.
//! The words win over the entry: the buyer's own words are the stronger
//! signal. The reason goes into the assignment's explanation.

use super::{RobotVerdict, Topic};

/// Words of an order's trouble: after-sale.
const AFTER_SALE: &[&str] = &[
    "退货",
    "退款",
    "换货",
    "退钱",
    "售后",
    "补发",
    "破损",
    "坏了",
    "质量问题",
    "少发",
    "漏发",
    "发错",
    "维修",
    "保修",
    "退换",
];

/// Words of someone still choosing: pre-sale.
const PRE_SALE: &[&str] = &[
    "有货吗",
    "有现货",
    "还有货",
    "多少钱",
    "优惠",
    "便宜点",
    "包邮吗",
    "尺码推荐",
    "怎么选",
    "能便宜",
    "有没有货",
    "什么时候上新",
];

/// The topic the buyer's message points to, with why; None when it does not.
pub fn from_message(text: &str, robot: &RobotVerdict) -> Option<(Topic, String)> {
    if let Some(w) = AFTER_SALE.iter().find(|w| text.contains(*w)) {
        return Some((Topic::AfterSale, format!("the buyer wrote 「{w}」")));
    }
    if let Some(w) = PRE_SALE.iter().find(|w| text.contains(*w)) {
        return Some((Topic::PreSale, format!("the buyer wrote 「{w}」")));
    }
    match robot {
        RobotVerdict::Answered {
            entry_id,
            topic: Some(t),
            ..
        } => Some((
            *t,
            format!("FAQ entry {entry_id} answered, in that category"),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(topic: Option<Topic>) -> RobotVerdict {
        RobotVerdict::Answered {
            entry_id: "e1".into(),
            answer: "a".into(),
            confidence: 0.9,
            topic,
        }
    }

    #[test]
    fn the_buyers_words_then_the_faq_category_decide_the_topic() {
        let none = RobotVerdict::NotAsked;
        assert_eq!(
            from_message("我要退货", &none).map(|t| t.0),
            Some(Topic::AfterSale)
        );
        assert_eq!(
            from_message("这个有货吗", &none).map(|t| t.0),
            Some(Topic::PreSale)
        );
        assert_eq!(from_message("你好", &none), None);
        // The words win over the entry's category.
        let pre = answered(Some(Topic::PreSale));
        assert_eq!(
            from_message("收到的坏了", &pre).map(|t| t.0),
            Some(Topic::AfterSale)
        );
        let (t, why) = from_message("什么时候发", &answered(Some(Topic::AfterSale))).unwrap();
        assert_eq!(t, Topic::AfterSale);
        assert!(why.contains("e1"), "{why}");
        assert_eq!(from_message("什么时候发", &answered(None)), None);
    }
}
