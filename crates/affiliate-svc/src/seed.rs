//! Synthetic creators for a fresh stack and for benchmarks (issue 19):
//! `sellerdesk affiliate seed --creators N`. Deterministic for a seed, so a
//! benchmark on 1,000,000 creators is the same marketplace every time.
//!
//! The shapes follow what a short-video marketplace looks like rather than
//! uniform noise: followers spread over four orders of magnitude with few
//! large accounts, engagement falling as accounts grow, audiences that lean
//! by category (beauty mostly female, cars mostly male), content counts and
//! views tied to the account's size, price bands tied to the category.

use crate::domain::CreatorProfile;

/// SplitMix64: small, fast, and stable across releases (a generator from a
/// crate may change its stream between versions; the seed must not).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    /// 1..=max distinct items of `from`, the first weighted to `first`.
    fn some<'a>(&mut self, first: &'a str, from: &[&'a str], max: usize) -> Vec<String> {
        let mut out = vec![first.to_owned()];
        for _ in 1..1 + self.below(max) {
            let x = self.pick(from);
            if !out.iter().any(|o| o == x) {
                out.push(x.to_owned());
            }
        }
        out
    }
}

/// Category, share of female followers (bps), usual price band (fen), brands.
type Category = (&'static str, u32, (i64, i64), &'static [&'static str]);

const CATEGORIES: &[Category] = &[
    (
        "美妆",
        8_600,
        (3_900, 39_900),
        &["花西子", "完美日记", "珀莱雅", "薇诺娜", "欧莱雅", "兰蔻"],
    ),
    (
        "个护清洁",
        7_200,
        (1_900, 12_900),
        &["舒肤佳", "蓝月亮", "立白", "海飞丝", "滋源"],
    ),
    (
        "服饰内衣",
        7_800,
        (4_900, 29_900),
        &["优衣库", "太平鸟", "森马", "蕉内", "波司登"],
    ),
    (
        "鞋靴箱包",
        6_200,
        (9_900, 59_900),
        &["李宁", "安踏", "特步", "回力", "小CK"],
    ),
    (
        "食品饮料",
        5_900,
        (990, 9_900),
        &["三只松鼠", "良品铺子", "元气森林", "王小卤", "百草味"],
    ),
    (
        "母婴",
        9_100,
        (2_900, 29_900),
        &["好奇", "帮宝适", "飞鹤", "君乐宝", "babycare"],
    ),
    (
        "家居日用",
        6_800,
        (990, 19_900),
        &["网易严选", "九阳", "苏泊尔", "洁柔", "名创优品"],
    ),
    (
        "数码家电",
        2_900,
        (9_900, 599_900),
        &["小米", "华为", "vivo", "美的", "格力", "科沃斯"],
    ),
    (
        "运动户外",
        3_700,
        (4_900, 89_900),
        &["迪卡侬", "骆驼", "探路者", "Keep", "安踏"],
    ),
    (
        "珠宝饰品",
        8_300,
        (9_900, 299_900),
        &["周大福", "老凤祥", "潘多拉", "周生生"],
    ),
    (
        "图书教育",
        6_400,
        (1_900, 9_900),
        &["中信出版", "新东方", "作业帮", "得到"],
    ),
    (
        "宠物",
        7_000,
        (1_900, 19_900),
        &["麦富迪", "皇家", "伯纳天纯", "网易天成"],
    ),
    (
        "汽车用品",
        1_600,
        (2_900, 99_900),
        &["3M", "途虎", "固特异", "卡饰社"],
    ),
    (
        "生鲜",
        6_100,
        (1_900, 15_900),
        &["盒马", "褚橙", "佳沃", "正大"],
    ),
    (
        "酒水",
        2_400,
        (5_900, 199_900),
        &["茅台", "五粮液", "江小白", "青岛啤酒"],
    ),
];

const AGE_BANDS: &[&str] = &["18-23", "24-30", "24-30", "31-40", "31-40", "41-50", "50+"];

const REGIONS: &[&str] = &[
    "广东", "浙江", "江苏", "山东", "河南", "四川", "北京", "上海", "湖北", "湖南", "福建", "河北",
    "安徽", "陕西", "辽宁", "重庆", "云南", "广西", "江西", "天津",
];

const SYLLABLES: &[&str] = &[
    "xiao", "da", "mei", "tian", "yu", "lan", "chen", "li", "wang", "zhang", "yang", "liu", "an",
    "qing", "xin", "hua", "ming", "jia", "le", "bao", "tao", "zi", "yue", "yun", "feng", "shan",
];

/// The `n`th synthetic creator of the marketplace seeded with `seed`; ids
/// and handles are unique across `n`.
pub fn creator(seed: u64, n: u64) -> CreatorProfile {
    let mut r = Rng::new(seed ^ n.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let (category, female, (low, high), brands) = CATEGORIES[r.below(CATEGORIES.len())];
    let others: Vec<&str> = CATEGORIES.iter().map(|c| c.0).collect();
    // Followers: log-uniform from 1,000 to 10,000,000 with the tail thinned
    // (most accounts are small).
    let exponent = 3.0 + 4.0 * r.unit().powf(1.6);
    let followers = 10f64.powf(exponent) as u64;
    // Engagement falls as accounts grow: ~8% at 1k, ~1.5% at 10M.
    let engagement = (800.0 - 90.0 * (exponent - 3.0) * 1.8) * (0.5 + r.unit());
    let female_share = (i64::from(female) + (r.unit() * 3_000.0) as i64 - 1_500).clamp(0, 10_000);
    let videos = 10 + (r.unit() * 40.0 * (exponent - 2.0)).powf(1.5) as u32;
    let lives = if r.unit() < 0.45 {
        0
    } else {
        (r.unit() * 60.0 * (exponent - 2.5)) as u32
    };
    let region = r.pick(REGIONS);
    let handle = format!(
        "{}{}{}_{n:x}",
        r.pick(SYLLABLES),
        r.pick(SYLLABLES),
        r.pick(SYLLABLES)
    );
    CreatorProfile {
        creator_id: format!("cr{seed:x}-{n:07}"),
        handle,
        categories: r.some(category, &others, 3),
        followers,
        female_share_bps: female_share as u32,
        main_age_band: r.pick(AGE_BANDS).to_owned(),
        top_regions: r.some(region, REGIONS, 3),
        engagement_bps: engagement.clamp(10.0, 2_000.0) as u32,
        top_brands: r.some(brands[0], brands, 3),
        price_band_fen: (low, high * (1 + r.below(3) as i64)),
        videos,
        lives,
        avg_video_views: (followers as f64 * (0.02 + 0.25 * r.unit())) as u64,
        avg_live_viewers: if lives == 0 {
            0
        } else {
            (followers as f64 * (0.002 + 0.02 * r.unit())) as u64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_valid_creators_every_time() {
        let a: Vec<_> = (0..2_000).map(|n| creator(7, n)).collect();
        let b: Vec<_> = (0..2_000).map(|n| creator(7, n)).collect();
        assert_eq!(a, b);
        assert_ne!(a, (0..2_000).map(|n| creator(8, n)).collect::<Vec<_>>());
        let handles: std::collections::BTreeSet<_> = a.iter().map(|c| &c.handle).collect();
        assert_eq!(handles.len(), a.len(), "handles are unique");
        for c in &a {
            assert!((1_000..=10_000_000).contains(&c.followers), "{c:?}");
            assert!(c.female_share_bps <= 10_000 && c.engagement_bps <= 10_000);
            assert!(0 <= c.price_band_fen.0 && c.price_band_fen.0 <= c.price_band_fen.1);
            assert!(!c.categories.is_empty() && !c.top_regions.is_empty());
        }
        // Most accounts are small; a few are large.
        let small = a.iter().filter(|c| c.followers < 100_000).count();
        let large = a.iter().filter(|c| c.followers >= 1_000_000).count();
        assert!(small > a.len() / 2 && large > 0 && large < a.len() / 5);
    }
}
