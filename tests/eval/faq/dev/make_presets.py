# Writes presets.jsonl: the development set over the platform presets every new
# shop starts with, as buyers type. Written before any tuning; split into
# halves by a hash of the query (see faq eval --half).
import json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from batches import joined, write  # noqa: E402
presets = json.load(open(os.path.join(here, "../../../../crates/faq-svc/data/presets.json"), encoding="utf-8"))
std = {e["key"]: e["standard_question"] for e in presets["entries"]}

Q = {
 "greeting-hello": ["亲在吗", "有客服在吗？", "hi"],
 "greeting-thanks": ["好的 谢谢啦", "谢了亲", "麻烦你了 感谢"],
 "greeting-bye": ["没事了 拜拜", "好的就这样 再见"],
 "greeting-wait": ["怎么半天没人理我", "客服回一下消息啊", "等了好久都没回复"],
 "greeting-human": ["机器人听不懂 我要人工", "转人工", "能不能让真人跟我说"],
 "greeting-hours": ["你们客服几点上班", "半夜有人工客服吗", "客服什么时间在线"],
 "presale-stock": ["这个还有货吗", "l码还有吗 是不是卖完了", "现在下单有现货吗还是要等"],
 "presale-size": ["160斤穿什么码", "我平时穿m 这款要拍大一码吗", "尺码偏小吗"],
 "presale-discount": ["有券吗", "能不能便宜一点", "现在有什么活动吗 满减啥的"],
 "presale-genuine": ["是正品吗 会不会是假的", "保真吗", "能验货吗是不是专柜正品"],
 "presale-material": ["这件衣服什么面料的", "是纯棉的吗", "材质是啥"],
 "presale-color": ["除了图上这个色还有别的吗", "有没有黑色的", "颜色只有这几种吗"],
 "presale-price-protect": ["刚买完就降价了 能退差价吗", "价保几天", "买贵了怎么办"],
 "presale-invoice": ["能开电子发票吗", "需要发票怎么弄", "可以开票吗 公司报销用"],
 "presale-gift": ["买这个送东西吗", "有没有赠品啊", "赠品是什么"],
 "presale-usage": ["这个东西怎么用啊", "有使用教程吗", "不会用"],
 "presale-shelf-life": ["保质期是多久", "生产日期新鲜吗", "能放多长时间"],
 "presale-bulk": ["买两件能便宜吗", "我要买100件能给批发价吗", "多买有没有优惠"],
 "logistics-when": ["什么时候能发货", "今天拍明天能发吗", "付款后几天发出"],
 "logistics-courier": ["发什么快递啊", "可以发顺丰吗", "默认是哪个快递公司"],
 "logistics-track": ["我的快递到哪里了", "怎么看物流", "帮我查下物流"],
 "logistics-time": ["几天能到上海", "发货后多久能收到", "快递一般几天到"],
 "logistics-free": ["包不包邮", "新疆包邮吗", "要不要运费"],
 "logistics-address": ["地址写错了 能改吗", "收货地址想换一个", "下单后还能改收件地址吗"],
 "logistics-stuck": ["物流三天没更新了", "快递怎么一直不动", "物流信息卡住不走了"],
 "logistics-damaged": ["快递箱子破了", "收到的时候外包装都烂了", "东西寄过来压坏了"],
 "logistics-missing": ["少了一件", "买了三个只收到两个", "漏发了怎么办"],
 "logistics-sign": ["显示已签收但我没拿到", "快递说签收了 我根本没收到", "包裹被人签收了不是我"],
 "aftersale-return": ["我想退货 怎么操作", "退货怎么弄", "怎么申请退货退款"],
 "aftersale-7days": ["支持七天无理由吗", "不喜欢能退吗", "7天无理由退货可以吗"],
 "aftersale-refund-time": ["退款几天到账", "退的钱啥时候能回来", "退款多久能收到"],
 "aftersale-exchange": ["能换货吗", "尺码不合适可以换吗", "想换个颜色"],
 "aftersale-quality": ["质量太差了 刚用就坏了", "商品有质量问题", "用了一天就开线了怎么办"],
 "aftersale-wrong": ["你们发的货跟我下单的不一样", "颜色发错了 我买的是白色", "收到的不是我买的款"],
 "aftersale-return-shipping": ["退货运费谁出", "退回去的邮费我要付吗", "有运费险吗 退货运费怎么算"],
 "aftersale-cancel": ["拍错了 能取消订单吗", "订单还没发能直接取消不", "不想要了 订单能取消吗"],
 "aftersale-return-address": ["退货地址在哪", "退货寄到哪里", "退货地址发我一下"],
 "aftersale-warranty": ["保修多长时间", "坏了可以免费修吗", "质保几年"],
 "aftersale-complaint": ["我要投诉你们", "服务太差了 我要投诉", "投诉"],
 "aftersale-partial": ["只退其中一件行吗", "买了两件只想退一件", "能部分退款吗"],
 "other-member": ["咋样才能当你们店的会员", "会员怎么加入", "入会有什么好处"],
 "other-live": ["今晚直播吗", "什么时候开播", "下一场直播是几点"],
 "other-coupon-fail": ["下单时优惠券抵扣不了", "领的券怎么不能用", "券为什么抵扣不了"],
 "other-points": ["攒的积分能干嘛", "积分能抵钱吗", "积分怎么兑换"],
 "other-cooperation": ["想跟你们合作", "我是做直播的 能合作吗", "商务合作找谁"],
 "other-privacy": ["我的个人信息安全吗", "会不会泄露我的手机号", "你们会卖我的信息吗"],
}
missing = set(std) - set(Q)
assert not missing, missing

NULL = [
 "可以货到付款吗", "能用花呗分期吗", "你们老板是谁", "店铺在哪个城市", "实体店在哪里",
 "你们招代理吗", "这个能带上飞机吗", "适合几岁的小孩", "孕妇能用吗", "能帮我写作业吗",
 "今天天气怎么样", "讲个笑话", "你叫什么名字", "抖音怎么开直播", "随心推怎么投",
 "千川怎么充值", "淘宝上也有卖吗", "拼多多更便宜", "手机壳适配iphone15吗", "这个洗衣机几级能效",
 "能寄到国外吗", "这个电池能用多久", "你们是厂家吗",
 "帮我推荐一款", "和上次买的有什么区别", "可以定制logo吗", "支持以旧换新吗",
 "会不会掉色", "适合油皮吗", "甜不甜",
 "你是真人吗", "我的抖音号被封了", "怎么注销账号", "直播间人好少",
 "这个能机洗吗", "有现货的话能开视频看看吗", "电视多大尺寸合适", "我想学做菜",
 "猫粮适合几个月的猫", "能送货上门安装吗",
 "你们直播间的主播叫什么", "工厂在哪里", "这个和那个哪个好", "支持数字人民币吗", "我想应聘客服",
]

# A second batch, written on 2026-12-05 (evening) from the answers' content,
# before any run on it, to give both halves more cases for the stage's fit.
# Kinds: clipped and colloquial forms, numbers and Latin letters (xl, 3q,
# 88), what only the answer says (专柜验货, 7天价保, 驿站, 原路返回). A query
# must not repeat one of the first batch (checked below).
Q2 = {
 "greeting-hello": ["在不在呀", "哈喽 有人吗", "客服你好 问一下"],
 "greeting-thanks": ["ok 谢谢", "3q", "辛苦了 谢谢"],
 "greeting-bye": ["好的 没别的问题了", "88", "那先这样 拜"],
 "greeting-wait": ["人呢？", "客服能不能快点回", "发了半天消息没人回"],
 "greeting-human": ["找个活人", "人工人工", "我不要机器人回复"],
 "greeting-hours": ["客服几点下班", "周末有人工吗", "晚上十点以后还有客服吗"],
 "presale-stock": ["xl的还有吗", "这款断货了吗", "库存还有多少"],
 "presale-size": ["165cm 110斤选哪个码", "这个码数正不正", "身高170穿L可以吗"],
 "presale-discount": ["优惠券在哪领", "直播间有福利吗", "能再优惠点不"],
 "presale-genuine": ["是不是高仿的", "可以专柜验货吗", "假一赔十是真的吗"],
 "presale-material": ["含棉量多少", "是真皮的吗", "什么料子"],
 "presale-color": ["有白色吗", "还有其他色号吗", "图片以外的颜色有吗"],
 "presale-price-protect": ["买完第二天降价了", "保价多少天", "降价能补钱吗"],
 "presale-invoice": ["发票在哪里申请", "确认收货后能开票吗", "能开个人抬头的发票吗"],
 "presale-gift": ["送不送小样", "买了有礼品吗", "赠品什么时候发"],
 "presale-usage": ["说明书在哪", "有没有视频教程", "第一次用要注意什么"],
 "presale-shelf-life": ["什么时候生产的", "会不会快过期了", "保质期几个月"],
 "presale-bulk": ["拿货量大有折扣吗", "团购价多少", "买三件打折吗"],
 "logistics-when": ["多久能发出", "预售的什么时候发", "下午下单今天发吗"],
 "logistics-courier": ["能发邮政吗", "用的什么快递公司", "指定顺丰要加钱吗"],
 "logistics-track": ["物流单号多少", "包裹到哪了", "看不到物流信息"],
 "logistics-time": ["到北京要几天", "大概什么时候能收到", "偏远地区几天到"],
 "logistics-free": ["西藏包邮吗", "运费怎么算", "需要另外付邮费吗"],
 "logistics-address": ["收件人电话填错了", "能改地址吗 还没发货", "已经发货了还能改地址吗"],
 "logistics-stuck": ["物流一直显示揽收", "快递好几天没动静", "物流停在中转站了"],
 "logistics-damaged": ["收到东西碎了", "包装破损了怎么办", "盒子被压扁了"],
 "logistics-missing": ["少寄了一个", "配件少了一个", "一单两件只到了一件"],
 "logistics-sign": ["物流显示已签收 可是我没收到", "快递员说放驿站了 我没找到", "被别人签收了怎么办"],
 "aftersale-return": ["退货流程是啥", "怎么退回去", "申请售后退货在哪点"],
 "aftersale-7days": ["没拆封能退吗", "七天内可以无理由退吗", "不合适可以退吗"],
 "aftersale-refund-time": ["钱多久能退回", "寄回去以后几天退款", "退款原路返回吗"],
 "aftersale-exchange": ["能换大一码吗", "怎么申请换货", "换个尺寸可以吗"],
 "aftersale-quality": ["收到就是坏的", "衣服有破洞", "质量问题怎么处理"],
 "aftersale-wrong": ["发的码数不对", "款式发错了", "寄来的东西和我拍的不一样"],
 "aftersale-return-shipping": ["退货要我出邮费吗", "运费险怎么赔", "退货快递费谁付"],
 "aftersale-cancel": ["还没发货我不想要了", "下错单了怎么撤销", "能帮我把订单取消掉吗"],
 "aftersale-return-address": ["退回的地址是哪里", "售后寄回地址", "东西寄回哪"],
 "aftersale-warranty": ["质保多久", "坏了保修吗", "维修要钱吗"],
 "aftersale-complaint": ["你们态度太差了", "我要差评加投诉", "怎么投诉商家"],
 "aftersale-partial": ["退一部分可以吗", "两件里退一件", "只退一个行不行"],
 "other-member": ["会员有什么福利", "怎么入会", "关注店铺算会员吗"],
 "other-live": ["直播几点开始", "明天直播吗", "有直播预告吗"],
 "other-coupon-fail": ["券用不上是怎么回事", "为什么优惠券不能抵扣", "满减券失效了"],
 "other-points": ["积分怎么兑换礼品", "积分可以抵扣吗", "我的积分有啥用"],
 "other-cooperation": ["怎么成为你们的代理", "想谈合作", "有合作渠道吗"],
 "other-privacy": ["你们会泄露地址吗", "个人信息会被卖吗", "隐私怎么保护"],
}
assert set(Q2) == set(Q)

NULL2 = [
 "支持分期付款吗", "能用信用卡吗", "你们有线下门店吗", "这个是哪里产的", "适合老人用吗",
 "儿童可以用吗", "能放冰箱吗", "有没有大码女装", "这个是什么品牌", "可以刻字吗",
 "男生能用吗", "耗电吗", "有没有声音", "重不重", "好不好用",
 "值得买吗", "你们店开多久了", "销量怎么样", "能试用吗", "能做礼盒包装吗",
 "有什么推荐的", "今天几号", "你喜欢什么颜色", "我心情不好", "给我唱首歌",
 "抖音怎么赚钱", "小店怎么入驻", "我想开网店", "随心推多少钱", "dou+怎么买",
 "帮我点个赞", "这件和那件一样吗", "什么时候上新", "有同款吗", "适合夏天穿吗",
 "能手洗吗", "充电器通用吗", "这个要插电吗", "配件单独卖吗", "可以预约安装吗",
 "主播身上那件是哪个链接", "怎么加粉丝群", "你们有app吗", "能寄到香港吗", "尺寸有多大",
 "是几寸的",
]

Q, NULL = joined(Q, NULL, Q2, NULL2)
write(os.path.join(here, "presets.jsonl"), Q, NULL, lambda k: std[k])
