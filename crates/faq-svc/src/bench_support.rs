//! Synthetic knowledge bases of any size for benchmarks and load drivers:
//! product x question-template combinations, realistic in length and wording.

use crate::domain::{Category, EntryContent};

const PRODUCTS: &[&str] = &[
    "羽绒服",
    "连衣裙",
    "牛仔裤",
    "运动鞋",
    "手机壳",
    "蓝牙耳机",
    "保温杯",
    "面膜",
    "口红",
    "洗面奶",
    "猫粮",
    "狗粮",
    "婴儿车",
    "奶粉",
    "纸尿裤",
    "电饭煲",
    "空气炸锅",
    "扫地机器人",
    "台灯",
    "床单",
    "枕头",
    "行李箱",
    "双肩包",
    "手表",
    "项链",
    "茶叶",
    "坚果",
    "咖啡豆",
    "蜂蜜",
    "大米",
    "瑜伽垫",
    "跑步机",
    "钓鱼竿",
    "帐篷",
    "自行车",
    "充电宝",
    "数据线",
    "键盘",
    "鼠标",
    "显示器",
];

const TEMPLATES: &[(&str, &[&str], &str, Category)] = &[
    (
        "{p}有现货吗",
        &["{p}还有库存吗", "{p}缺货吗"],
        "{p}有现货，付款后48小时内发货。",
        Category::PreSale,
    ),
    (
        "{p}怎么选尺寸",
        &["{p}选多大的", "{p}尺码怎么挑"],
        "{p}请参考详情页的尺寸表。",
        Category::PreSale,
    ),
    (
        "{p}是正品吗",
        &["{p}是不是假货", "{p}保真吗"],
        "{p}为品牌正品，支持验货。",
        Category::PreSale,
    ),
    (
        "{p}有什么颜色",
        &["{p}有几种颜色", "{p}还有别的颜色吗"],
        "{p}颜色以商品页规格为准。",
        Category::PreSale,
    ),
    (
        "{p}有优惠吗",
        &["{p}能便宜点吗", "{p}有券吗"],
        "{p}可领取店铺优惠券。",
        Category::PreSale,
    ),
    (
        "{p}什么时候发货",
        &["{p}多久发货", "{p}几天能发出"],
        "{p}付款后48小时内发货。",
        Category::Logistics,
    ),
    (
        "{p}发什么快递",
        &["{p}用哪家快递", "{p}能发顺丰吗"],
        "{p}默认发中通。",
        Category::Logistics,
    ),
    (
        "{p}包邮吗",
        &["{p}运费多少", "{p}要运费吗"],
        "{p}全国包邮，偏远地区除外。",
        Category::Logistics,
    ),
    (
        "{p}多久能到",
        &["{p}几天能收到", "{p}快递要几天"],
        "{p}发货后2-5天送达。",
        Category::Logistics,
    ),
    (
        "{p}怎么退货",
        &["{p}不想要了能退吗", "{p}退货流程"],
        "{p}可在订单页申请售后退货。",
        Category::AfterSale,
    ),
    (
        "{p}坏了怎么办",
        &["{p}有质量问题", "{p}用不了了"],
        "{p}质量问题包退换。",
        Category::AfterSale,
    ),
    (
        "{p}能换货吗",
        &["{p}想换一个", "{p}换个颜色可以吗"],
        "{p}支持换货。",
        Category::AfterSale,
    ),
    (
        "{p}保修多久",
        &["{p}有没有保修", "{p}坏了能修吗"],
        "{p}享受一年质保。",
        Category::AfterSale,
    ),
    (
        "{p}怎么使用",
        &["{p}使用方法", "{p}有说明书吗"],
        "{p}内附使用说明。",
        Category::Other,
    ),
    (
        "{p}能开发票吗",
        &["{p}可以开票吗", "{p}发票怎么开"],
        "{p}支持电子发票。",
        Category::Other,
    ),
    (
        "{p}有赠品吗",
        &["{p}送什么", "{p}买了送东西吗"],
        "{p}赠品以活动页为准。",
        Category::Other,
    ),
    (
        "{p}保质期多久",
        &["{p}能放多久", "{p}生产日期"],
        "{p}保质期见包装。",
        Category::Other,
    ),
    (
        "{p}适合送人吗",
        &["{p}可以当礼物吗", "{p}有礼盒吗"],
        "{p}有礼盒包装可选。",
        Category::Other,
    ),
    (
        "{p}怎么清洗",
        &["{p}能水洗吗", "{p}怎么保养"],
        "{p}清洗方式见吊牌。",
        Category::Other,
    ),
    (
        "{p}是哪里产的",
        &["{p}产地在哪", "{p}是国产的吗"],
        "{p}产地见商品参数。",
        Category::Other,
    ),
    (
        "{p}有几种规格",
        &["{p}有大号吗", "{p}有小号吗"],
        "{p}规格以商品页为准。",
        Category::PreSale,
    ),
    (
        "{p}可以定制吗",
        &["{p}能刻字吗", "{p}可以印图案吗"],
        "{p}暂不支持定制。",
        Category::PreSale,
    ),
    (
        "{p}收到破损了",
        &["{p}压坏了", "{p}包装烂了"],
        "{p}破损请拍照联系客服补发。",
        Category::Logistics,
    ),
    (
        "{p}少发了",
        &["{p}漏发了", "{p}数量不对"],
        "{p}漏发请联系客服补发。",
        Category::Logistics,
    ),
    (
        "{p}退款多久到账",
        &["{p}钱什么时候退", "{p}退款几天到"],
        "{p}退款1-3个工作日到账。",
        Category::AfterSale,
    ),
];

/// `n` distinct entries (ids `e<i>`), cycling products and templates.
pub fn entries(n: usize) -> Vec<(String, EntryContent)> {
    (0..n)
        .map(|i| {
            let (q, similar, a, category) = TEMPLATES[i % TEMPLATES.len()];
            let round = i / TEMPLATES.len();
            let product = PRODUCTS[round % PRODUCTS.len()];
            // Beyond products x templates, a model number keeps entries distinct.
            let p = match round / PRODUCTS.len() {
                0 => product.to_owned(),
                k => format!("{product}{k}号款"),
            };
            let fill = |s: &str| s.replace("{p}", &p);
            (
                format!("e{i}"),
                EntryContent {
                    standard_question: fill(q),
                    similar_questions: similar.iter().map(|s| fill(s)).collect(),
                    answer: fill(a),
                    category,
                    enabled: true,
                },
            )
        })
        .collect()
}

/// Buyer questions worded unlike any stored question, for entries of `entries(n)`.
pub fn queries(n: usize, count: usize) -> Vec<String> {
    const WORDINGS: &[&str] = &[
        "请问{p}现在有货没",
        "{p}几天发货啊",
        "{p}坏了能退吗",
        "{p}包不包邮",
        "{p}有没有优惠券",
        "这个{p}是正品吗",
        "{p}能开票不",
        "{p}送不送赠品",
        "我买的{p}还没到",
        "{p}可以换个颜色吗",
    ];
    (0..count)
        .map(|i| {
            let product =
                PRODUCTS[(i * 7) % PRODUCTS.len().min(n.div_ceil(TEMPLATES.len()).max(1))];
            WORDINGS[i % WORDINGS.len()].replace("{p}", product)
        })
        .collect()
}
