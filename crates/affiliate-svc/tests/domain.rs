//! The pure affiliate domain, given/when/then, named by rule (R-AFF-*).

use affiliate_svc::domain::{
    Affiliation, Command, ContentKind, CreatorProfile, CreatorQuery, DomainError, Event, Goal,
    Limits, PlanProduct, PlanSource, SortBy,
};
use chrono::{DateTime, Duration, Utc};
use sellerdesk_core::testing;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn t0() -> DateTime<Utc> {
    t("2026-03-04T02:00:00Z")
}

/// The shared given/when/then harness over a shop's outreach and the
/// marketplace, with three creators published.
struct World(testing::Given<'static, Affiliation>);

impl std::ops::Deref for World {
    type Target = Affiliation;
    fn deref(&self) -> &Affiliation {
        &self.0.state
    }
}

/// Every shop outreach a rule's test builds must come back whole from a
/// snapshot.
impl Drop for World {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            testing::survives_snapshot(&self.0.state.outreach);
        }
    }
}

impl World {
    fn new() -> Self {
        Self::with(Limits::default())
    }

    fn with(limits: Limits) -> Self {
        let mut w = World(testing::given_with::<Affiliation>(limits, &[]));
        for (id, followers, female, engagement) in [
            ("c1", 1_200_000, 8_000, 450),
            ("c2", 80_000, 3_000, 900),
            ("c3", 500_000, 6_000, 300),
        ] {
            w.ok(Command::ProfileCreator {
                profile: CreatorProfile {
                    creator_id: id.into(),
                    handle: format!("@{id}"),
                    categories: vec!["美妆".into()],
                    followers,
                    female_share_bps: female,
                    main_age_band: "24-30".into(),
                    top_regions: vec!["广东".into()],
                    engagement_bps: engagement,
                    top_brands: vec!["花西子".into()],
                    price_band_fen: (5_000, 30_000),
                    ..Default::default()
                },
            });
        }
        w
    }

    fn when(&mut self, c: Command) -> Result<Vec<Event>, DomainError> {
        self.0.when(&c).outcome
    }

    fn ok(&mut self, c: Command) -> Vec<Event> {
        self.when(c).expect("accepted")
    }

    fn invite(
        &mut self,
        id: &str,
        creator: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Event>, DomainError> {
        self.when(Command::SendInvitation {
            invitation_id: id.into(),
            creator_id: creator.into(),
            goal: Goal::Sales,
            message: "合作吗".into(),
            at,
            on_record: false,
        })
    }
}

fn plan(ids: Vec<String>) -> Command {
    Command::CreatePlan {
        plan_id: "p1".into(),
        name: "春季定向".into(),
        goal: Goal::Sales,
        products: vec![PlanProduct {
            product_id: "sku1".into(),
            commission_bps: 2_000,
        }],
        creator_ids: ids,
        creator_handles: vec![],
        source: PlanSource::PlanManagement,
        at: t0(),
        on_record: false,
    }
}

/// R-AFF-6: the creator accepts plan p1.
fn accept(creator: &str) -> Command {
    Command::AnswerPlan {
        plan_id: "p1".into(),
        creator_id: creator.into(),
        accepted: true,
        at: t0(),
    }
}

/// An order of sku1 in plan p1 attributed to c1.
fn sale(order: &str, revenue_fen: i64, product_cost_fen: i64) -> Command {
    Command::RecordPlanSale {
        order_id: order.into(),
        plan_id: "p1".into(),
        creator_id: "c1".into(),
        product_id: "sku1".into(),
        revenue_fen,
        product_cost_fen,
        at: t0(),
        on_record: false,
    }
}

/// A sale of 10,000 fen of sku1 in plan p1, attributed to c1, at `at`.
fn sale_at(order: &str, at: DateTime<Utc>, on_record: bool) -> Command {
    Command::RecordPlanSale {
        order_id: order.into(),
        plan_id: "p1".into(),
        creator_id: "c1".into(),
        product_id: "sku1".into(),
        revenue_fen: 10_000,
        product_cost_fen: 0,
        at,
        on_record,
    }
}

fn ids(w: &World, q: &CreatorQuery) -> Vec<String> {
    w.market
        .search(q, None, usize::MAX)
        .creators
        .iter()
        .map(|c| c.profile.creator_id.clone())
        .collect()
}

#[test]
fn r_aff_1_a_sales_plan_is_judged_on_roi_after_product_cost_and_commission() {
    let mut w = World::new();
    w.ok(plan(vec!["c1".into()]));
    w.ok(accept("c1"));
    w.ok(sale("o1", 100_000, 40_000));
    let sales = w.outreach.plans["p1"].sales;
    assert_eq!(sales.commission_fen, 20_000, "20% of the revenue");
    // (100000 - 40000 - 20000) / (40000 + 20000) = 66.66%
    assert_eq!(sales.roi_bps(), Some(6_666));
}

/// Hardening item 3 (R-X-3): revenue and cost at i64::MAX gave a commission
/// of -1; now an amount past the bound is refused, naming the request's own
/// field, and a plan's totals never wrap.
#[test]
fn r_x_3_plan_sales_refuse_instead_of_wrapping() {
    let mut w = World::new();
    w.ok(plan(vec!["c1".into()]));
    w.ok(accept("c1"));
    let mut n = 0;
    let mut sale = |revenue_fen, product_cost_fen| {
        n += 1;
        sale(&format!("o{n}"), revenue_fen, product_cost_fen)
    };
    let field = |r: Result<Vec<Event>, DomainError>| match r {
        Err(DomainError::Invalid(f)) => f[0].0.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(field(w.when(sale(i64::MAX, i64::MAX))), "revenue_fen");
    assert_eq!(field(w.when(sale(100, i64::MAX))), "product_cost_fen");
    assert_eq!(field(w.when(sale(100, -1))), "product_cost_fen");
    let max = sellerdesk_core::money::MAX_AMOUNT_FEN;
    for _ in 0..1_000 {
        w.ok(sale(max, max));
    }
    assert_eq!(field(w.when(sale(max, 0))), "revenue_fen");
    let sales = w.outreach.plans["p1"].sales;
    assert_eq!(sales.commission_fen, max / 5 * 1_000, "20% of each sale");
    assert!(sales.roi_bps().is_some_and(|r| r < 0));
}

#[test]
fn r_aff_2_the_marketplace_filters_on_profile_and_reliability() {
    let mut w = World::new();
    assert_eq!(
        ids(&w, &CreatorQuery::default()),
        ["c1", "c3", "c2"],
        "by followers"
    );
    let female = CreatorQuery {
        mostly_female: Some(true),
        ..Default::default()
    };
    assert_eq!(ids(&w, &female), ["c1", "c3"]);
    let engaged = CreatorQuery {
        min_engagement_bps: Some(400),
        ..Default::default()
    };
    assert_eq!(ids(&w, &engaged), ["c1", "c2"]);
    let by_engagement = CreatorQuery {
        sort: SortBy::Engagement,
        ..Default::default()
    };
    assert_eq!(ids(&w, &by_engagement), ["c2", "c1", "c3"]);
    let pricey = CreatorQuery {
        price_fen: Some(50_000),
        ..Default::default()
    };
    assert!(ids(&w, &pricey).is_empty());
    // Reliability: c2 fulfils its sample, c1 does not.
    for (s, c) in [("s1", "c1"), ("s2", "c2")] {
        w.ok(Command::ShipSample {
            sample_id: s.into(),
            creator_id: c.into(),
            product_id: "sku1".into(),
            at: t0(),
            on_record: false,
        });
    }
    w.ok(Command::RecordContentPosted {
        sample_id: "s2".into(),
        kind: ContentKind::Video,
        at: t0(),
    });
    let reliable = CreatorQuery {
        min_fulfilment_bps: Some(5_000),
        ..Default::default()
    };
    assert_eq!(ids(&w, &reliable), ["c2"]);
}

#[test]
fn r_aff_3_outreach_has_a_daily_limit_per_shop_in_shop_time() {
    let mut w = World::new();
    w.0.context_mut().daily_invitations = 2;
    w.invite("i1", "c1", t0()).unwrap();
    w.invite("i2", "c2", t0()).unwrap();
    assert!(matches!(
        w.invite("i3", "c3", t0()),
        Err(DomainError::LimitReached(_))
    ));
    // Midnight in Shanghai (16:00 UTC) starts a new day.
    w.invite("i3", "c3", t("2026-03-04T16:00:00Z")).unwrap();
    // The same invitation again is a retry; a second one to a creator who has not answered is refused.
    assert!(w.invite("i1", "c1", t0()).unwrap().is_empty());
    assert!(matches!(
        w.invite("i4", "c1", t("2026-03-05T16:00:00Z")),
        Err(DomainError::Precondition {
            reason: "INVITATION_PENDING",
            ..
        })
    ));
    assert!(matches!(
        w.invite("i5", "nobody", t("2026-03-05T16:00:00Z")),
        Err(DomainError::NotFound { .. })
    ));
}

/// R-AFF-3, R-X-4: the daily count keeps the last days only, so a shop that
/// invites every day does not grow its state with every day it ever did;
/// today's limit still holds.
#[test]
fn r_aff_3_the_daily_count_forgets_days_that_can_no_longer_count() {
    let mut w = World::new();
    w.0.context_mut().daily_invitations = 1;
    for day in 0..30 {
        let at = t0() + chrono::Duration::days(day);
        w.ok(Command::ProfileCreator {
            profile: CreatorProfile {
                creator_id: format!("d{day}"),
                handle: format!("@d{day}"),
                ..Default::default()
            },
        });
        w.invite(&format!("i{day}"), &format!("d{day}"), at)
            .unwrap();
    }
    assert_eq!(
        w.outreach.sent_per_day.len(),
        3,
        "today and two days before"
    );
    let last = t0() + chrono::Duration::days(29);
    assert!(matches!(
        w.invite("again", "d0", last),
        Err(DomainError::LimitReached(_))
    ));
}

#[test]
fn r_aff_4_a_targeted_plan_holds_at_most_30_creators() {
    let mut w = World::new();
    for i in 0..31 {
        w.ok(Command::ProfileCreator {
            profile: CreatorProfile {
                creator_id: format!("x{i}"),
                handle: format!("@x{i}"),
                ..Default::default()
            },
        });
    }
    let many: Vec<String> = (0..31).map(|i| format!("x{i}")).collect();
    assert!(
        matches!(w.when(plan(many.clone())), Err(DomainError::Invalid(f)) if f[0].0 == "creator_ids")
    );
    w.ok(plan(many[..29].to_vec()));
    w.ok(Command::AddPlanCreators {
        plan_id: "p1".into(),
        creator_ids: vec!["x29".into()],
    });
    assert!(matches!(
        w.when(Command::AddPlanCreators {
            plan_id: "p1".into(),
            creator_ids: vec!["x30".into()]
        }),
        Err(DomainError::Invalid(_))
    ));
    // From a creator's page: that one creator.
    let page = Command::CreatePlan {
        plan_id: "p2".into(),
        name: "达人页".into(),
        goal: Goal::BrandPromotion,
        products: vec![PlanProduct {
            product_id: "sku1".into(),
            commission_bps: 1_500,
        }],
        creator_ids: vec!["c1".into(), "c2".into()],
        creator_handles: vec![],
        source: PlanSource::CreatorPage,
        at: t0(),
        on_record: false,
    };
    assert!(matches!(w.when(page), Err(DomainError::Invalid(_))));
}

#[test]
fn r_aff_5_creator_metrics_follow_samples_content_and_answers() {
    let mut w = World::new();
    w.invite("i1", "c1", t0()).unwrap();
    w.ok(Command::AnswerInvitation {
        invitation_id: "i1".into(),
        accepted: true,
        at: t0() + Duration::minutes(30),
        on_record: false,
    });
    w.invite("i2", "c2", t0()).unwrap();
    for s in ["s1", "s2"] {
        w.ok(Command::ShipSample {
            sample_id: s.into(),
            creator_id: "c1".into(),
            product_id: "sku1".into(),
            at: t0(),
            on_record: false,
        });
    }
    for s in ["s1", "s2"] {
        w.ok(Command::RecordSampleDelivered {
            sample_id: s.into(),
            at: t0(),
        });
    }
    w.ok(Command::RecordContentPosted {
        sample_id: "s1".into(),
        kind: ContentKind::Live,
        at: t0(),
    });
    // s2's deadline (15 days after delivery) is ahead: not judged yet.
    let soon = w.market.creator("c1", t0() + Duration::days(1)).unwrap();
    assert_eq!(soon.metrics.fulfilment_bps(), Some(10_000));
    assert_eq!(soon.open_deadlines, [t0() + Duration::days(15)]);
    let c1 = w
        .market
        .creator("c1", t0() + Duration::days(16))
        .unwrap()
        .metrics;
    assert_eq!((c1.samples_fulfilled, c1.samples_missed), (1, 1));
    assert_eq!(c1.fulfilment_bps(), Some(5_000));
    assert_eq!(c1.reply_rate_bps(), Some(10_000));
    assert_eq!(c1.mean_reply_secs(), Some(1_800));
    let c2 = w.market.creator("c2", t0()).unwrap().metrics;
    assert_eq!(c2.reply_rate_bps(), Some(0), "invited, not answered");
}

/// R-AFF-6 (issue 19): an unanswered invitation expires after its days
/// (7 by default): until then it blocks another to the same creator; after,
/// the creator can no longer answer it and the shop may invite again.
#[test]
fn r_aff_6_an_unanswered_invitation_expires_and_frees_the_creator() {
    let mut w = World::new();
    w.invite("i1", "c1", t0()).unwrap();
    let e = w.invite("i2", "c1", t0() + Duration::days(6)).unwrap_err();
    assert!(e.to_string().contains("not answered"), "{e}");
    let late = w
        .when(Command::AnswerInvitation {
            invitation_id: "i1".into(),
            accepted: true,
            at: t0() + Duration::days(7),
            on_record: false,
        })
        .unwrap_err();
    assert!(
        matches!(
            late,
            DomainError::Precondition {
                reason: "INVITATION_EXPIRED",
                ..
            }
        ),
        "{late:?}"
    );
    w.invite("i2", "c1", t0() + Duration::days(7)).unwrap();
    // The new one stands for its own 7 days.
    w.ok(Command::AnswerInvitation {
        invitation_id: "i2".into(),
        accepted: true,
        at: t0() + Duration::days(13),
        on_record: false,
    });
}

#[test]
fn r_aff_4_a_plan_from_plan_management_names_creators_by_handle_each_unknown_one_reported() {
    let mut w = World::new();
    let by_handles = |handles: &[&str]| match plan(vec!["c1".into()]) {
        Command::CreatePlan {
            plan_id,
            name,
            goal,
            products,
            creator_ids,
            source,
            at,
            ..
        } => Command::CreatePlan {
            plan_id,
            name,
            goal,
            products,
            creator_ids,
            creator_handles: handles.iter().map(|h| h.to_string()).collect(),
            source,
            at,
            on_record: false,
        },
        other => other,
    };
    match w.when(by_handles(&["@nobody", "@C2", "@ghost"])) {
        Err(DomainError::Invalid(fields)) => {
            let named: Vec<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
            assert_eq!(named, ["creator_handles[0]", "creator_handles[2]"]);
        }
        other => panic!("{other:?}"),
    }
    // A handle naming a creator already listed by id is a repeat.
    assert!(matches!(
        w.when(by_handles(&["@c1"])),
        Err(DomainError::Invalid(f)) if f[0].0 == "creator_handles[0]"
    ));
    let events = w.ok(by_handles(&["@C2", "@c3"]));
    assert!(
        matches!(&events[..], [Event::PlanCreated { creator_ids, .. }]
        if creator_ids == &["c1", "c2", "c3"])
    );
    assert!(
        w.ok(by_handles(&["@c2", "@c3"])).is_empty(),
        "a retry changes nothing"
    );
}

#[test]
fn r_aff_6_a_plan_is_edited_answered_by_each_creator_and_ended() {
    let mut w = World::new();
    w.ok(plan(vec!["c1".into(), "c2".into()]));
    let edit = |name: Option<&str>, commission_bps: u32| Command::EditPlan {
        plan_id: "p1".into(),
        name: name.map(str::to_owned),
        products: Some(vec![PlanProduct {
            product_id: "sku1".into(),
            commission_bps,
        }]),
        at: t0(),
    };
    assert!(
        matches!(w.when(edit(None, 0)), Err(DomainError::Invalid(f)) if f[0].0 == "products[0].commission_bps")
    );
    w.ok(edit(Some("夏季定向"), 2_500));
    let plan_now = w.outreach.plans["p1"].clone();
    assert_eq!(
        (plan_now.name.as_str(), plan_now.products[0].commission_bps),
        ("夏季定向", 2_500)
    );
    // Each creator answers once; only the plan's creators answer.
    let answer = |creator: &str, accepted| Command::AnswerPlan {
        plan_id: "p1".into(),
        creator_id: creator.into(),
        accepted,
        at: t0(),
    };
    w.ok(answer("c1", true));
    assert!(w.ok(answer("c1", true)).is_empty(), "a redelivered answer");
    assert!(matches!(
        w.when(answer("c1", false)),
        Err(DomainError::Precondition {
            reason: "ALREADY_ANSWERED",
            ..
        })
    ));
    assert!(matches!(
        w.when(answer("c3", true)),
        Err(DomainError::Invalid(_))
    ));
    w.ok(answer("c2", false));
    assert_eq!(w.outreach.plans["p1"].answers.get("c2"), Some(&false));
    // Ended: nothing changes it any more, and ending again is a no-op.
    w.ok(Command::EndPlan {
        plan_id: "p1".into(),
        at: t0(),
    });
    assert!(w
        .ok(Command::EndPlan {
            plan_id: "p1".into(),
            at: t0()
        })
        .is_empty());
    let ended = |r: Result<Vec<Event>, DomainError>| {
        matches!(
            r,
            Err(DomainError::Precondition {
                reason: "PLAN_ENDED",
                ..
            })
        )
    };
    assert!(ended(w.when(edit(Some("再改"), 2_000))));
    assert!(ended(w.when(Command::AddPlanCreators {
        plan_id: "p1".into(),
        creator_ids: vec!["c3".into()]
    })));
    assert!(ended(w.when(sale("o1", 10_000, 5_000))));
}

/// R-AFF-6: a sample a creator asks for is reviewed before it ships (a
/// rejection says why); its content deadline runs from delivery; content
/// after it counts as missed, and fulfilment is judged only then.
#[test]
fn r_aff_6_a_requested_sample_is_reviewed_shipped_delivered_and_judged_at_its_deadline() {
    let mut w = World::new();
    let request = |id: &str| Command::RequestSample {
        sample_id: id.into(),
        creator_id: "c2".into(),
        product_id: "sku9".into(),
        at: t0(),
        on_record: false,
    };
    let ship = |id: &str| Command::ShipSample {
        sample_id: id.into(),
        creator_id: "c2".into(),
        product_id: "sku9".into(),
        at: t0(),
        on_record: false,
    };
    let review = |id: &str, approved: bool, reason: &str| Command::ReviewSampleRequest {
        sample_id: id.into(),
        approved,
        reason: reason.into(),
        at: t0(),
    };
    w.ok(request("s1"));
    w.ok(request("s2"));
    assert!(matches!(
        w.when(ship("s1")),
        Err(DomainError::Precondition {
            reason: "SAMPLE_NOT_APPROVED",
            ..
        })
    ));
    assert!(
        matches!(w.when(review("s2", false, " ")), Err(DomainError::Invalid(f)) if f[0].0 == "reason")
    );
    w.ok(review("s2", false, "库存不足"));
    assert!(matches!(
        w.when(ship("s2")),
        Err(DomainError::Precondition {
            reason: "SAMPLE_REJECTED",
            ..
        })
    ));
    w.ok(review("s1", true, ""));
    assert!(matches!(
        w.when(review("s1", false, "改主意")),
        Err(DomainError::Precondition {
            reason: "ALREADY_REVIEWED",
            ..
        })
    ));
    w.ok(ship("s1"));
    let delivered = t0() + Duration::days(3);
    let events = w.ok(Command::RecordSampleDelivered {
        sample_id: "s1".into(),
        at: delivered,
    });
    assert!(
        matches!(&events[..], [Event::SampleDelivered { content_due, .. }]
        if *content_due == delivered + Duration::days(15))
    );
    assert_eq!(
        w.market
            .creator("c2", delivered)
            .unwrap()
            .metrics
            .fulfilment_bps(),
        None,
        "not judged yet"
    );
    // Posted a day late: missed, the deadline closed.
    let events = w.ok(Command::RecordContentPosted {
        sample_id: "s1".into(),
        kind: ContentKind::Video,
        at: delivered + Duration::days(16),
    });
    assert!(matches!(
        &events[..],
        [Event::ContentPosted { late: true, .. }]
    ));
    let c2 = w
        .market
        .creator("c2", delivered + Duration::days(30))
        .unwrap();
    assert_eq!(
        (c2.metrics.samples_missed, c2.metrics.fulfilment_bps()),
        (1, Some(0))
    );
    assert!(c2.open_deadlines.is_empty());
}

/// Issue 19 item 4 (R-AFF-1, R-AFF-6, R-X-3): commissions come from orders
/// attributed to a creator who accepted the plan; a refund claws back the
/// commission of its share (never more than the order earned); a
/// settlement pays what is due, and a refund after it is deducted next time.
#[test]
fn commissions_are_settled_from_attributed_orders_with_refunds_clawed_back() {
    let mut w = World::new();
    w.ok(plan(vec!["c1".into(), "c2".into()]));
    assert!(matches!(
        w.when(sale("o1", 10_001, 0)),
        Err(DomainError::Precondition {
            reason: "PLAN_NOT_ACCEPTED",
            ..
        })
    ));
    w.ok(accept("c1"));
    // 20% of 10,001 fen, rounded down.
    let events = w.ok(sale("o1", 10_001, 0));
    assert!(matches!(
        &events[..],
        [Event::PlanSaleRecorded {
            commission_fen: 2_000,
            ..
        }]
    ));
    assert!(
        w.ok(sale("o1", 10_001, 0)).is_empty(),
        "a redelivered order"
    );
    assert!(matches!(
        w.when(sale("o1", 9_999, 0)),
        Err(DomainError::AlreadyExists { .. })
    ));
    w.ok(sale("o2", 50_000, 0));
    let settle = |id: &str| Command::SettleCommissions {
        settlement_id: id.into(),
        at: t0(),
    };
    let lines = |events: Vec<Event>| match &events[..] {
        [Event::CommissionsSettled { lines, .. }] => lines
            .iter()
            .map(|l| (l.creator_id.clone(), l.amount_fen))
            .collect::<Vec<_>>(),
        [] => vec![],
        other => panic!("{other:?}"),
    };
    assert_eq!(lines(w.ok(settle("2026-03"))), [("c1".to_owned(), 12_000)]);
    assert!(w.ok(settle("2026-03")).is_empty(), "settled once");
    // Refunds in three parts: each claws back its share, and all of them
    // together exactly the order's commission.
    let refund = |fen| Command::RecordOrderRefund {
        order_id: "o1".into(),
        refund_fen: fen,
        at: t0(),
        on_record: false,
    };
    let clawed = |events: Vec<Event>| match &events[..] {
        [Event::OrderRefunded {
            commission_clawback_fen,
            ..
        }] => *commission_clawback_fen,
        other => panic!("{other:?}"),
    };
    // floor(2000 × 3333 / 10001) = 666; floor(2000 × 6666 / 10001) = 1333.
    assert_eq!(clawed(w.ok(refund(3_333))), 666);
    assert_eq!(clawed(w.ok(refund(3_333))), 667);
    assert!(
        matches!(w.when(refund(3_336)), Err(DomainError::Invalid(f)) if f[0].0 == "refund_fen")
    );
    assert_eq!(clawed(w.ok(refund(3_335))), 667);
    assert_eq!(w.outreach.commissions["c1"].clawed_back_fen, 2_000);
    // Paid before the refunds: the next settlement deducts them.
    assert_eq!(lines(w.ok(settle("2026-04"))), [("c1".to_owned(), -2_000)]);
    assert_eq!(w.outreach.commissions["c1"].due_fen(), 0);
    let sales = w.outreach.plans["p1"].sales;
    assert_eq!((sales.refunded_fen, sales.commission_fen), (10_001, 10_000));
    assert!(matches!(
        w.when(Command::RecordOrderRefund {
            order_id: "o1".into(),
            refund_fen: i64::MAX,
            at: t0(),
            on_record: false,
        }),
        Err(DomainError::Invalid(_))
    ));
}

/// R-AFF-6, R-X-4 (decision 0022): a plan leaves the outreach
/// PLAN_KEPT_DAYS after it ended, when another plan is created; a running
/// plan stays however old. An archived id stays taken.
#[test]
fn r_x_4_a_plan_long_ended_leaves_the_outreach_and_a_running_one_stays() {
    let kept = affiliate_svc::domain::PLAN_KEPT_DAYS;
    let days = |n: i64| t0() + Duration::days(n);
    let mut w = World::new();
    let create = |id: &str, at, on_record| match plan(vec!["c1".into()]) {
        Command::CreatePlan {
            name,
            goal,
            products,
            creator_ids,
            creator_handles,
            source,
            ..
        } => Command::CreatePlan {
            plan_id: id.into(),
            name,
            goal,
            products,
            creator_ids,
            creator_handles,
            source,
            at,
            on_record,
        },
        other => other,
    };
    w.ok(create("ended", t0(), false));
    w.ok(Command::EndPlan {
        plan_id: "ended".into(),
        at: t0(),
    });
    w.ok(create("running", t0(), false));
    w.ok(create("day-179", days(kept - 1), false));
    assert!(
        w.outreach.plans.contains_key("ended"),
        "kept within the days"
    );
    w.ok(create("day-180", days(kept), false));
    assert!(
        !w.outreach.plans.contains_key("ended"),
        "gone at exactly the days"
    );
    assert!(
        w.outreach.plans.contains_key("running"),
        "a running plan stays"
    );
    assert!(matches!(
        w.when(create("ended", days(kept), true)),
        Err(DomainError::AlreadyExists { kind: "plan", .. })
    ));
    // Held: the read model's word changes nothing, a retry is a retry.
    assert!(w.when(create("running", t0(), true)).unwrap().is_empty());
}

/// R-AFF-1, R-X-4 (decision 0022): an attributed order takes refunds for
/// ORDER_KEPT_DAYS from its sale, and leaves the outreach when a sale comes
/// after them. A late refund is refused with the reason, whether the order
/// has left yet or not; an archived order's id stays taken.
#[test]
fn r_x_4_an_attributed_order_takes_refunds_for_its_days_then_leaves_the_outreach() {
    let kept = affiliate_svc::domain::ORDER_KEPT_DAYS;
    let days = |n: i64| t0() + Duration::days(n);
    let mut w = World::new();
    w.ok(plan(vec!["c1".into()]));
    w.ok(accept("c1"));
    let refund_at = |order: &str, at, on_record| Command::RecordOrderRefund {
        order_id: order.into(),
        refund_fen: 1_000,
        at,
        on_record,
    };
    w.ok(sale_at("o1", t0(), false));
    w.ok(sale_at("o2", t0(), false));
    assert_eq!(w.ok(refund_at("o1", days(kept - 1), false)).len(), 1);
    // The window closed, though no sale has come to drop the order yet.
    assert!(w.outreach.orders.contains_key("o2"));
    assert!(matches!(
        w.when(refund_at("o2", days(kept), false)),
        Err(DomainError::Precondition {
            reason: "ORDER_ARCHIVED",
            ..
        })
    ));
    w.ok(sale_at("o3", days(kept - 1), false));
    assert!(w.outreach.orders.contains_key("o1"), "kept within the days");
    w.ok(sale_at("o4", days(kept), false));
    assert_eq!(
        w.outreach.orders.keys().collect::<Vec<_>>(),
        ["o3", "o4"],
        "sold exactly the days before the new sale: gone"
    );
    // What the orders and the commissions add up to is unchanged by it.
    assert_eq!(w.outreach.commissions["c1"].earned_fen, 8_000);
    assert_eq!(w.outreach.commissions["c1"].clawed_back_fen, 200);
    assert_eq!(w.outreach.plans["p1"].sales.revenue_fen, 40_000);
    // Gone from the outreach, on record in the read model.
    assert!(matches!(
        w.when(refund_at("o1", days(kept), true)),
        Err(DomainError::Precondition {
            reason: "ORDER_ARCHIVED",
            ..
        })
    ));
    assert!(matches!(
        w.when(sale_at("o1", days(kept), true)),
        Err(DomainError::AlreadyExists { kind: "order", .. })
    ));
    // Held: the read model's word changes nothing.
    assert!(w.when(sale_at("o4", days(kept), true)).unwrap().is_empty());
    assert_eq!(w.ok(refund_at("o4", days(kept), true)).len(), 1);
    assert!(matches!(
        w.when(refund_at("nowhere", days(kept), false)),
        Err(DomainError::NotFound { kind: "order", .. })
    ));
}

/// R-AFF-1, R-X-4: a settlement's id is known for SETTLEMENT_IDS_KEPT_DAYS
/// after it paid, so a repeat within them pays nothing, whatever became due
/// since; ids paid earlier leave the outreach when a settlement comes after
/// them, and a repeat that late is a new settlement of what is due then.
#[test]
fn r_x_4_a_settlement_id_is_known_for_its_days_then_leaves_the_outreach() {
    let kept = affiliate_svc::domain::SETTLEMENT_IDS_KEPT_DAYS;
    let days = |n: i64| t0() + Duration::days(n);
    let mut w = World::new();
    w.ok(plan(vec!["c1".into()]));
    w.ok(accept("c1"));
    let settle_at = |id: &str, at| Command::SettleCommissions {
        settlement_id: id.into(),
        at,
    };
    let paid = |events: Vec<Event>| match &events[..] {
        [Event::CommissionsSettled { lines, .. }] => lines.iter().map(|l| l.amount_fen).sum(),
        [] => 0,
        other => panic!("{other:?}"),
    };
    w.ok(sale_at("o1", t0(), false));
    assert_eq!(paid(w.ok(settle_at("s1", t0()))), 2_000);
    w.ok(sale_at("o2", days(kept - 1), false));
    assert_eq!(
        paid(w.ok(settle_at("s1", days(kept - 1)))),
        0,
        "a repeat within the days is a repeat"
    );
    assert_eq!(paid(w.ok(settle_at("s2", days(kept - 1)))), 2_000);
    w.ok(sale_at("o3", days(kept), false));
    assert_eq!(
        w.outreach.settlements.keys().collect::<Vec<_>>(),
        ["s1", "s2"],
        "nothing retires until a settlement comes"
    );
    assert_eq!(
        paid(w.ok(settle_at("s1", days(kept)))),
        2_000,
        "forgotten: a new settlement of what is due, paid once"
    );
    assert_eq!(
        w.outreach.settlements.keys().collect::<Vec<_>>(),
        ["s1", "s2"],
        "the first s1 left, the new one and s2 stay"
    );
    assert_eq!(w.outreach.settlements["s1"], days(kept));
    w.ok(sale_at("o4", days(2 * kept - 1), false));
    assert_eq!(paid(w.ok(settle_at("s3", days(2 * kept - 1)))), 2_000);
    assert_eq!(
        w.outreach.settlements.keys().collect::<Vec<_>>(),
        ["s1", "s3"],
        "s2 paid exactly the days before the new settlement: gone"
    );
    assert_eq!(w.outreach.commissions["c1"].due_fen(), 0);
    assert_eq!(w.outreach.commissions["c1"].settled_fen, 8_000);
}

/// R-X-3, R-AFF-3 (issue 19): the daily limit counts the shop's days. At
/// 2026-03-04 15:30 UTC it is 23:30 on the 4th in Shanghai but 00:30 on the
/// 5th in Tokyo: with one invitation a day, a Shanghai shop that invited at
/// 15:00 UTC is out for the day, a Tokyo shop is on a new day.
#[test]
fn r_x_3_the_daily_invitation_limit_counts_the_shops_days() {
    let limits = Limits {
        daily_invitations: 1,
        ..Limits::default()
    };
    let first = t("2026-03-04T14:00:00Z");
    let later = t("2026-03-04T15:30:00Z");
    let mut shanghai = World::with(limits);
    shanghai.invite("i1", "c1", first).unwrap();
    assert!(matches!(
        shanghai.invite("i2", "c2", later),
        Err(DomainError::LimitReached(_))
    ));
    let mut tokyo = World::with(limits);
    assert!(matches!(
        tokyo.when(Command::SetTimeZone { time_zone: "Mars/Olympus".into(), at: first }),
        Err(DomainError::Invalid(f)) if f[0].0 == "time_zone"
    ));
    tokyo.ok(Command::SetTimeZone {
        time_zone: "Asia/Tokyo".into(),
        at: first,
    });
    tokyo.invite("i1", "c1", first).unwrap();
    tokyo.invite("i2", "c2", later).unwrap();
}

/// Decision 0018: a snapshot is read only if it was written in today's
/// `SHAPE`. These are the fields shape 6 holds (2: only the last days of
/// `sent_per_day`; 3: invitations retire; 4: samples know when they
/// settled, and retire; 5: orders and ended plans retire; 6: settlement ids
/// retire); change them (or the records' fields, or what the
/// fold makes of an event), raise `Outreach::SHAPE` and this list together.
#[test]
fn r_x_4_the_outreach_snapshot_shape_names_its_fields() {
    use sellerdesk_core::Snapshotted;
    let w = World::new();
    assert_eq!(affiliate_svc::domain::Outreach::SHAPE, 6);
    assert_eq!(
        testing::stored_fields(&w.outreach),
        [
            "commissions",
            "invitations",
            "orders",
            "penalties",
            "plans",
            "rights_position",
            "samples",
            "selling_rights_revoked",
            "sent_per_day",
            "settlements",
            "time_zone",
            "version"
        ]
    );
}

/// R-AFF-6, R-X-4 (decision 0022): an invitation sent INVITATION_KEPT_DAYS
/// ago leaves the outreach when another is sent, by the events' time. Its
/// id stays taken, and an answer to it is refused as expired; one the
/// outreach still holds is decided as before.
#[test]
fn r_x_4_an_invitation_long_sent_leaves_the_outreach_and_stays_read_only() {
    let kept = affiliate_svc::domain::INVITATION_KEPT_DAYS;
    let days = |n: i64| t0() + Duration::days(n);
    let mut w = World::new();
    w.invite("old", "c1", t0()).unwrap();
    w.ok(Command::AnswerInvitation {
        invitation_id: "old".into(),
        accepted: true,
        at: days(1),
        on_record: false,
    });
    w.invite("day-179", "c2", days(kept - 1)).unwrap();
    assert!(
        w.outreach.invitations.contains_key("old"),
        "kept within the days"
    );
    w.invite("day-180", "c3", days(kept)).unwrap();
    assert!(
        !w.outreach.invitations.contains_key("old"),
        "gone at exactly the days"
    );
    assert!(w.outreach.invitations.contains_key("day-179"));
    let send_again = |on_record| Command::SendInvitation {
        invitation_id: "old".into(),
        creator_id: "c1".into(),
        goal: Goal::Sales,
        message: "合作吗".into(),
        at: days(kept),
        on_record,
    };
    assert!(matches!(
        w.when(send_again(true)),
        Err(DomainError::AlreadyExists {
            kind: "invitation",
            ..
        })
    ));
    let answer = |on_record| Command::AnswerInvitation {
        invitation_id: "old".into(),
        accepted: true,
        at: days(kept),
        on_record,
    };
    assert!(matches!(
        w.when(answer(true)),
        Err(DomainError::Precondition {
            reason: "INVITATION_EXPIRED",
            ..
        })
    ));
    assert!(matches!(
        w.when(answer(false)),
        Err(DomainError::NotFound { .. })
    ));
    // Held: the read model's word changes nothing.
    let retry = Command::AnswerInvitation {
        invitation_id: "day-179".into(),
        accepted: false,
        at: days(kept),
        on_record: true,
    };
    assert_eq!(w.ok(retry).len(), 1);
}

/// R-AFF-6, R-X-4 (decision 0022): a sample leaves the outreach
/// SAMPLE_KEPT_DAYS after it settled (its request rejected, or its content
/// posted), when another sample comes; one still open stays however old.
/// An archived id stays taken.
#[test]
fn r_x_4_a_sample_long_settled_leaves_the_outreach_and_an_open_one_stays() {
    let kept = affiliate_svc::domain::SAMPLE_KEPT_DAYS;
    let days = |n: i64| t0() + Duration::days(n);
    let mut w = World::new();
    let request = |id: &str, at, on_record| Command::RequestSample {
        sample_id: id.into(),
        creator_id: "c2".into(),
        product_id: "sku9".into(),
        at,
        on_record,
    };
    w.ok(request("rejected", t0(), false));
    w.ok(Command::ReviewSampleRequest {
        sample_id: "rejected".into(),
        approved: false,
        reason: "库存不足".into(),
        at: t0(),
    });
    w.ok(request("open", t0(), false));
    w.ok(request("day-179", days(kept - 1), false));
    assert!(
        w.outreach.samples.contains_key("rejected"),
        "kept within the days"
    );
    w.ok(request("day-180", days(kept), false));
    assert!(
        !w.outreach.samples.contains_key("rejected"),
        "gone at exactly the days"
    );
    assert!(
        w.outreach.samples.contains_key("open"),
        "a request never reviewed is open, and stays"
    );
    assert!(matches!(
        w.when(request("rejected", days(kept), true)),
        Err(DomainError::AlreadyExists { kind: "sample", .. })
    ));
    // Held: the read model's word changes nothing, a retry is a retry.
    assert!(w
        .when(request("open", days(kept), true))
        .unwrap()
        .is_empty());
}
