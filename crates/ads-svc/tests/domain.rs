//! The pure promotion-order domain, given/when/then, named by rule (R-ADS-*).

use ads_svc::domain::{
    recommendations, refund_due_by, Account, AdsAccount, Bid, Channel, Command, DomainError, Event,
    FundsMove, InvoiceKind, Objective, OrderSpec, OrderStatus, PaidStats, PaymentMethod, Product,
    Subject, Target, Targeting,
};
use chrono::{DateTime, Utc};
use sellerdesk_core::testing;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Wednesday 2026-03-04 10:00 in Shanghai.
fn t0() -> DateTime<Utc> {
    t("2026-03-04T02:00:00Z")
}

fn video() -> Target {
    Target::Video {
        video_id: "v1".into(),
        public: true,
        title: "春季新款连衣裙".into(),
        duration_secs: 30,
        has_shop_cart: true,
    }
}

fn spec() -> OrderSpec {
    OrderSpec {
        product: Product::XiaodianSuixintui,
        target: video(),
        objective: Objective::ProductPurchase,
        duration_hours: 6,
        targeting: Targeting::default(),
        bid: Bid::GoalAutomatic,
        amount_fen: 10_000,
        payment: PaymentMethod::DouyinPay,
    }
}

/// The shared given/when/then harness over the ads account, with helpers
/// for the steps most tests share.
struct Given(testing::Given<'static, Account>);

impl std::ops::Deref for Given {
    type Target = AdsAccount;
    fn deref(&self) -> &AdsAccount {
        &self.0.state
    }
}

/// Every state a rule's test builds must come back whole from a snapshot.
impl Drop for Given {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            testing::survives_snapshot(&self.0.state);
        }
    }
}

impl Given {
    fn new() -> Self {
        Given(testing::given::<Account>(&[]))
    }

    fn when(&mut self, c: Command) -> Result<Vec<Event>, DomainError> {
        self.0.when(&c).outcome
    }

    /// A top-up on the PC channel, confirmed by the payment provider (R-ADS-14).
    fn top_up(&mut self, amount_fen: i64) -> Result<Vec<Event>, DomainError> {
        let payment_id = format!(
            "p{}",
            self.pending_payments.len() + self.settled_payments.len()
        );
        self.when(Command::MoveFunds {
            movement: FundsMove::TopUp,
            amount_fen,
            channel: Channel::Pc,
            payment_id: payment_id.clone(),
            at: t0(),
        })?;
        self.when(Command::ConfirmPayment {
            payment_id,
            amount_fen,
            succeeded: true,
            at: t0(),
        })
    }

    fn place(&mut self, id: &str, spec: OrderSpec) -> Result<Vec<Event>, DomainError> {
        self.when(Command::PlaceOrder {
            order_id: id.into(),
            spec,
            at: t0(),
            on_record: false,
        })
    }

    fn delivering(&mut self, id: &str, spec: OrderSpec) {
        self.place(id, spec).unwrap();
        self.when(Command::DecideReview {
            order_id: id.into(),
            approve: true,
            reasons: vec![],
            at: t0(),
        })
        .unwrap();
    }
}

fn invalid(r: Result<Vec<Event>, DomainError>) -> Vec<String> {
    match r {
        Err(DomainError::Invalid(f)) => f.into_iter().map(|(f, _)| f).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn precondition(r: Result<Vec<Event>, DomainError>) -> &'static str {
    match r {
        Err(DomainError::Precondition { reason, .. }) => reason,
        other => panic!("expected a precondition, got {other:?}"),
    }
}

#[test]
fn r_ads_1_an_order_is_placed_with_all_its_parts_and_retries_are_idempotent() {
    let mut g = Given::new();
    let e = g.place("o1", spec()).unwrap();
    assert!(matches!(&e[0], Event::OrderPlaced { spec: s, .. } if *s == spec()));
    assert_eq!(g.orders["o1"].status, OrderStatus::PendingReview);
    assert!(g.place("o1", spec()).unwrap().is_empty());
    let other = OrderSpec {
        amount_fen: 20_000,
        ..spec()
    };
    assert!(matches!(
        g.place("o1", other),
        Err(DomainError::AlreadyExists { .. })
    ));
}

#[test]
fn r_ads_2_and_r_ads_3_amount_at_least_100_cny_and_four_durations() {
    let mut g = Given::new();
    assert_eq!(
        invalid(g.place(
            "o",
            OrderSpec {
                amount_fen: 9_999,
                ..spec()
            }
        )),
        ["spec.amount_fen"]
    );
    assert_eq!(
        invalid(g.place(
            "o",
            OrderSpec {
                duration_hours: 3,
                ..spec()
            }
        )),
        ["spec.duration_hours"]
    );
    for hours in [2, 6, 12, 24] {
        g.place(
            &format!("o{hours}"),
            OrderSpec {
                duration_hours: hours,
                ..spec()
            },
        )
        .unwrap();
    }
    // Above 500 CNY, 24 hours is advice, not a refusal.
    assert_eq!(
        recommendations(&OrderSpec {
            amount_fen: 50_001,
            ..spec()
        })
        .len(),
        1
    );
    assert!(recommendations(&OrderSpec {
        amount_fen: 50_001,
        duration_hours: 24,
        ..spec()
    })
    .is_empty());
    assert!(recommendations(&OrderSpec {
        amount_fen: 50_000,
        ..spec()
    })
    .is_empty());
}

#[test]
fn r_ads_4_and_r_ads_5_objectives_and_bidding_fit_the_target() {
    let mut g = Given::new();
    let live = Target::LiveRoom {
        room_id: "r1".into(),
    };
    assert_eq!(
        invalid(g.place(
            "o",
            OrderSpec {
                target: live.clone(),
                ..spec()
            }
        )),
        ["spec.objective"]
    );
    assert_eq!(
        invalid(g.place(
            "o",
            OrderSpec {
                objective: Objective::RoomSales,
                ..spec()
            }
        )),
        ["spec.objective"]
    );
    let live_spec = OrderSpec {
        target: live,
        objective: Objective::RoomSales,
        ..spec()
    };
    assert_eq!(
        invalid(g.place(
            "o",
            OrderSpec {
                bid: Bid::PerPlay,
                ..live_spec.clone()
            }
        )),
        ["spec.bid_mode"]
    );
    g.place("live", live_spec).unwrap();
    g.place(
        "play",
        OrderSpec {
            bid: Bid::PerPlay,
            ..spec()
        },
    )
    .unwrap();
    g.place(
        "manual",
        OrderSpec {
            bid: Bid::GoalManual { bid_fen: 50 },
            ..spec()
        },
    )
    .unwrap();
    assert_eq!(
        invalid(g.place(
            "o",
            OrderSpec {
                bid: Bid::GoalManual { bid_fen: 0 },
                ..spec()
            }
        )),
        ["spec.bid_fen"]
    );
}

#[test]
fn r_ads_6_and_r_ads_7_a_video_that_fails_review_is_rejected_and_refunded_within_7_business_days() {
    let mut g = Given::new();
    let bad = Target::Video {
        video_id: "v2".into(),
        public: false,
        title: "新款".into(),
        duration_secs: 3,
        has_shop_cart: false,
    };
    // What review would certainly refuse is a request error at placement,
    // naming each field, and nothing is placed (issue 19).
    let r = g.place(
        "o1",
        OrderSpec {
            target: bad,
            ..spec()
        },
    );
    assert_eq!(
        invalid(r),
        [
            "spec.video.public",
            "spec.video.title",
            "spec.video.duration_secs"
        ]
    );
    assert!(!g.orders.contains_key("o1"));
    // Exactly at the limits is accepted: 5 characters, 4 seconds.
    let edge = Target::Video {
        video_id: "v3".into(),
        public: true,
        title: "新款连衣裙".into(),
        duration_secs: 4,
        has_shop_cart: false,
    };
    g.place(
        "o0",
        OrderSpec {
            target: edge,
            ..spec()
        },
    )
    .unwrap();
    assert!(matches!(g.orders["o0"].status, OrderStatus::PendingReview));
    // The content review by the platform can reject too, with reasons.
    g.place("o2", spec()).unwrap();
    let r = g.when(Command::DecideReview {
        order_id: "o2".into(),
        approve: false,
        reasons: vec![],
        at: t0(),
    });
    assert_eq!(invalid(r), ["reasons"]);
    let e = g
        .when(Command::DecideReview {
            order_id: "o2".into(),
            approve: false,
            reasons: vec!["不符合电商广告审核规则".into()],
            at: t0(),
        })
        .unwrap();
    let Event::ReviewRejected { refund, .. } = &e[0] else {
        panic!("{e:?}")
    };
    assert_eq!(refund.amount_fen, 10_000);
    assert_eq!(
        refund.to,
        PaymentMethod::DouyinPay,
        "to the original payment account"
    );
    assert_eq!(
        refund.due_by,
        refund_due_by(t0(), sellerdesk_core::zone::DEFAULT)
    );
    assert!(matches!(
        g.orders["o2"].status,
        OrderStatus::Rejected { .. }
    ));
    // Wednesday + 7 business days = the next week's Friday, end of day in Shanghai.
    assert_eq!(
        refund_due_by(t0(), sellerdesk_core::zone::DEFAULT),
        t("2026-03-13T16:00:00Z")
    );
    // Paid from the balance, the refund comes back to the balance.
    g.top_up(10_000).unwrap();
    g.place(
        "o3",
        OrderSpec {
            payment: PaymentMethod::AccountBalance,
            ..spec()
        },
    )
    .unwrap();
    assert_eq!(g.balance_fen, 0);
    g.when(Command::DecideReview {
        order_id: "o3".into(),
        approve: false,
        reasons: vec!["x".into()],
        at: t0(),
    })
    .unwrap();
    assert_eq!(g.balance_fen, 10_000);
}

#[test]
fn r_ads_8_delivery_ends_when_the_budget_is_spent_with_the_actual_run_time() {
    let mut g = Given::new();
    g.delivering("o1", spec());
    let half = PaidStats {
        plays: 500,
        likes: 20,
        ..Default::default()
    };
    let e = g
        .when(Command::RecordDelivery {
            order_id: "o1".into(),
            spent_fen: 5_000,
            stats: half,
            at: t("2026-03-04T03:00:00Z"),
        })
        .unwrap();
    assert_eq!(e.len(), 1, "still delivering");
    let e = g
        .when(Command::RecordDelivery {
            order_id: "o1".into(),
            spent_fen: 5_000,
            stats: half,
            at: t("2026-03-04T05:30:00Z"),
        })
        .unwrap();
    assert!(
        matches!(
            e[1],
            Event::DeliveryCompleted {
                run_secs: 12_600,
                ..
            }
        ),
        "3.5 h, not the 6 h chosen: {e:?}"
    );
    let over = g.when(Command::RecordDelivery {
        order_id: "o1".into(),
        spent_fen: 1,
        stats: half,
        at: t0(),
    });
    assert_eq!(precondition(over), "NOT_DELIVERING");
}

#[test]
fn r_ads_9_dou_plus_is_refused_with_a_cart_and_running_dou_plus_orders_stop_when_a_room_uses_it() {
    let mut g = Given::new();
    let dou = OrderSpec {
        product: Product::DouPlus,
        ..spec()
    };
    assert_eq!(precondition(g.place("d1", dou)), "ONLY_XIAODIAN_SUIXINTUI");
    let room = OrderSpec {
        product: Product::DouPlus,
        target: Target::LiveRoom {
            room_id: "r1".into(),
        },
        objective: Objective::RoomPopularity,
        ..spec()
    };
    g.delivering("d2", room.clone());
    g.when(Command::RecordDelivery {
        order_id: "d2".into(),
        spent_fen: 3_000,
        stats: PaidStats::default(),
        at: t0(),
    })
    .unwrap();
    let e = g
        .when(Command::ReportShoppingCartUsed {
            room_id: "r1".into(),
            at: t0(),
        })
        .unwrap();
    let Event::DouPlusOrderTerminated { refund, .. } = &e[1] else {
        panic!("{e:?}")
    };
    assert_eq!(refund.amount_fen, 7_000, "the unspent budget");
    assert_eq!(g.orders["d2"].status, OrderStatus::Terminated);
    assert_eq!(
        precondition(g.place("d3", room.clone())),
        "ONLY_XIAODIAN_SUIXINTUI"
    );
    g.place(
        "x1",
        OrderSpec {
            product: Product::XiaodianSuixintui,
            ..room
        },
    )
    .unwrap();
}

#[test]
fn r_ads_10_delivery_counts_only_grow() {
    let mut g = Given::new();
    g.delivering("o1", spec());
    let r = g.when(Command::RecordDelivery {
        order_id: "o1".into(),
        spent_fen: -1,
        stats: PaidStats::default(),
        at: t0(),
    });
    assert_eq!(invalid(r), ["spent_fen"]);
    let likes = PaidStats {
        likes: 3,
        ..Default::default()
    };
    g.when(Command::RecordDelivery {
        order_id: "o1".into(),
        spent_fen: 100,
        stats: likes,
        at: t0(),
    })
    .unwrap();
    g.when(Command::RecordDelivery {
        order_id: "o1".into(),
        spent_fen: 100,
        stats: likes,
        at: t0(),
    })
    .unwrap();
    assert_eq!(g.orders["o1"].stats.likes, 6);
}

#[test]
fn r_ads_11_invoices_after_delivery_for_the_bound_subject_only() {
    let mut g = Given::new();
    g.delivering("o1", spec());
    let ask = |kind, title: &str| Command::RequestInvoice {
        order_id: "o1".into(),
        kind,
        title: title.into(),
        at: t0(),
        on_record: false,
    };
    assert_eq!(
        precondition(g.when(ask(InvoiceKind::Personal, "张三"))),
        "DELIVERY_NOT_ENDED"
    );
    g.when(Command::RecordDelivery {
        order_id: "o1".into(),
        spent_fen: 10_000,
        stats: PaidStats::default(),
        at: t0(),
    })
    .unwrap();
    g.when(Command::SetSubject {
        subject: Subject::Person {
            name: "张三".into(),
        },
    })
    .unwrap();
    assert_eq!(
        precondition(g.when(ask(InvoiceKind::Personal, "李四"))),
        "PERSONAL_SUBJECT_ONLY"
    );
    assert_eq!(
        precondition(g.when(ask(InvoiceKind::Company, "某公司"))),
        "PERSONAL_SUBJECT_ONLY"
    );
    let e = g.when(ask(InvoiceKind::Personal, "张三")).unwrap();
    assert!(matches!(
        e[0],
        Event::InvoiceIssued {
            amount_fen: 10_000,
            ..
        }
    ));
    // A company invoice needs company certification.
    let mut c = Given::new();
    c.when(Command::SetSubject {
        subject: Subject::Company {
            name: "某公司".into(),
            certified: false,
        },
    })
    .unwrap();
    c.delivering("o1", spec());
    c.when(Command::RecordDelivery {
        order_id: "o1".into(),
        spent_fen: 10_000,
        stats: PaidStats::default(),
        at: t0(),
    })
    .unwrap();
    assert_eq!(
        precondition(c.when(ask(InvoiceKind::Company, "某公司"))),
        "COMPANY_NOT_CERTIFIED"
    );
    c.when(Command::SetSubject {
        subject: Subject::Company {
            name: "某公司".into(),
            certified: true,
        },
    })
    .unwrap();
    c.when(ask(InvoiceKind::Company, "某公司")).unwrap();
}

#[test]
fn r_ads_12_funds_move_on_the_pc_channel_only() {
    let mut g = Given::new();
    for movement in [
        FundsMove::TopUp,
        FundsMove::Withdraw,
        FundsMove::CompanyTopUp,
    ] {
        let r = g.when(Command::MoveFunds {
            movement,
            amount_fen: 100,
            channel: Channel::Mobile,
            payment_id: "m1".into(),
            at: t0(),
        });
        match r {
            Err(DomainError::Precondition {
                reason: "PC_CHANNEL_ONLY",
                why,
                ..
            }) => assert!(why.contains("电脑端"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
    g.top_up(100).unwrap();
    let r = g.when(Command::MoveFunds {
        movement: FundsMove::Withdraw,
        amount_fen: 101,
        channel: Channel::Pc,
        payment_id: String::new(),
        at: t0(),
    });
    assert_eq!(precondition(r), "INSUFFICIENT_BALANCE");
    let r = g.when(Command::MoveFunds {
        movement: FundsMove::CompanyTopUp,
        amount_fen: 1,
        channel: Channel::Pc,
        payment_id: "c1".into(),
        at: t0(),
    });
    assert_eq!(precondition(r), "NOT_A_COMPANY");
}

#[test]
fn r_ads_13_no_new_orders_while_selling_rights_are_revoked() {
    let mut g = Given::new();
    g.when(Command::RecordRightsRevoked {
        at: t0(),
        source_position: 10,
    })
    .unwrap();
    assert!(
        g.when(Command::RecordRightsRevoked {
            at: t0(),
            source_position: 10,
        })
        .unwrap()
        .is_empty(),
        "a redelivery changes nothing"
    );
    assert_eq!(
        precondition(g.place("o1", spec())),
        "SELLING_RIGHTS_REVOKED"
    );
    g.when(Command::RecordRightsRestored {
        at: t0(),
        source_position: 11,
    })
    .unwrap();
    g.place("o1", spec()).unwrap();
}

/// Hardening item 1 (R-ADS-13): after a crash the ack-wait redelivers an
/// older Revoked after the newer Restored was applied; position order wins,
/// so the shop is not blocked for good.
#[test]
fn r_ads_13_an_older_rights_event_never_undoes_a_newer_one() {
    let mut g = Given::new();
    g.when(Command::RecordRightsRevoked {
        at: t0(),
        source_position: 5,
    })
    .unwrap();
    g.when(Command::RecordRightsRestored {
        at: t0(),
        source_position: 9,
    })
    .unwrap();
    // The Revoked at 7 (a second revocation before the restore) arrives late.
    assert!(g
        .when(Command::RecordRightsRevoked {
            at: t0(),
            source_position: 7,
        })
        .unwrap()
        .is_empty());
    g.place("o1", spec()).unwrap();
    // Restored first, then its older Revoked: still restored.
    let mut g = Given::new();
    g.when(Command::RecordRightsRestored {
        at: t0(),
        source_position: 20,
    })
    .unwrap();
    assert!(g
        .when(Command::RecordRightsRevoked {
            at: t0(),
            source_position: 19,
        })
        .unwrap()
        .is_empty());
    assert!(!g.selling_rights_revoked);
    // Any arrival order of any set of events ends where position order ends.
    let events: Vec<(i64, bool)> = vec![(1, true), (2, false), (3, true), (4, false), (5, true)];
    for rotation in 0..events.len() {
        let mut g = Given::new();
        for (position, revoke) in events.iter().cycle().skip(rotation).take(events.len()) {
            let at = t0();
            let source_position = *position;
            let _ = g.when(if *revoke {
                Command::RecordRightsRevoked {
                    at,
                    source_position,
                }
            } else {
                Command::RecordRightsRestored {
                    at,
                    source_position,
                }
            });
        }
        assert!(g.selling_rights_revoked, "position 5 revokes last");
        assert_eq!(g.rights_source_position, 5);
    }
}

/// Hardening item 3 (R-X-3): money and counters never wrap.
#[test]
fn r_x_3_balances_and_counters_refuse_instead_of_wrapping() {
    let mut g = Given::new();
    assert!(matches!(g.top_up(i64::MAX), Err(DomainError::Invalid(_))));
    // Up to the total the account may hold, then refused.
    let max = sellerdesk_core::money::MAX_AMOUNT_FEN;
    for _ in 0..1_000 {
        g.top_up(max).unwrap();
    }
    let r = g.top_up(1);
    assert!(
        matches!(&r, Err(DomainError::Invalid(f)) if f[0].0 == "amount_fen"),
        "{r:?}"
    );
    assert!(g.balance_fen > 0);

    // Counters: u64::MAX then +2 is refused naming the request's field.
    let mut g = Given::new();
    g.place("o1", spec()).unwrap();
    g.when(Command::DecideReview {
        order_id: "o1".into(),
        approve: true,
        reasons: vec![],
        at: t0(),
    })
    .unwrap();
    let report = |impressions, spent_fen| Command::RecordDelivery {
        order_id: "o1".into(),
        spent_fen,
        stats: PaidStats {
            impressions,
            ..PaidStats::default()
        },
        at: t0(),
    };
    g.when(report(u64::MAX, 1)).unwrap();
    let r = g.when(report(2, 1));
    assert!(
        matches!(&r, Err(DomainError::Invalid(f)) if f[0].0 == "stats.impressions"),
        "{r:?}"
    );
    assert_eq!(g.orders["o1"].stats.impressions, u64::MAX);
    assert!(matches!(
        g.when(report(0, i64::MAX)),
        Err(DomainError::Invalid(_))
    ));
    assert_eq!(g.orders["o1"].spent_fen, 1);
}

/// R-ADS-13 in the harness's own words: given a revocation, an order is refused
/// by name; given the restore after it, the same order goes through.
#[test]
fn r_ads_13_given_when_then() {
    let revoked = Event::SellingRightsRevokedNoted {
        at: t0(),
        source_position: 3,
    };
    let place = Command::PlaceOrder {
        order_id: "o1".into(),
        spec: spec(),
        at: t0(),
        on_record: false,
    };
    testing::given::<Account>(std::slice::from_ref(&revoked))
        .when(&place)
        .then_refused("SELLING_RIGHTS_REVOKED");
    let restored = Event::SellingRightsRestoredNoted {
        at: t0(),
        source_position: 4,
    };
    testing::given::<Account>(&[revoked, restored])
        .when(&place)
        .then(|events| assert!(matches!(events[0], Event::OrderPlaced { .. })));
}

/// R-CMP-13 and issue 15 item 3: TierChanged deliveries count once each, in
/// whatever order they come: the measures accumulate, the newest position
/// sets the tier, and an appeal's change lifts what its violation caused.
#[test]
fn r_cmp_13_tier_changes_count_once_in_any_order() {
    use ads_svc::domain::{decide, NotedMeasure, TierChange};
    let measure = |tier: u32, code: &str, days: Option<i64>| NotedMeasure {
        tier,
        code: code.into(),
        started_at: t0(),
        ends_at: days.map(|d| t0() + chrono::Duration::days(d)),
        caused_by: Some("v1".into()),
    };
    let up = Command::RecordTierChanged {
        change: TierChange {
            to: 3,
            overturned: None,
            measures: vec![
                measure(1, "warning", None),
                measure(3, "suspend_sales", Some(30)),
            ],
        },
        at: t0(),
        source_position: 10,
    };
    let appeal = Command::RecordTierChanged {
        change: TierChange {
            to: 0,
            overturned: Some("v1".into()),
            measures: vec![],
        },
        at: t0() + chrono::Duration::days(1),
        source_position: 20,
    };
    let fold = |commands: &[&Command]| {
        let mut a = AdsAccount::default();
        for c in commands {
            for e in decide(&a, c).unwrap() {
                a.apply(&e);
            }
        }
        a
    };
    let in_order = fold(&[&up, &appeal]);
    let reversed = fold(&[&appeal, &up]);
    let twice = fold(&[&up, &appeal, &up, &appeal]);
    for a in [&in_order, &reversed, &twice] {
        assert_eq!(a.penalties.tier, 0);
        assert!(a
            .penalties
            .in_force(t0() + chrono::Duration::days(2), &["suspend_sales"])
            .is_none());
    }
    assert_eq!(in_order.penalties.measures, reversed.penalties.measures);
    assert_eq!(
        twice.penalties.measures.len(),
        2,
        "a redelivery adds nothing"
    );
    // Before the appeal: suspended for 30 days, then free.
    let up_only = fold(&[&up]);
    let m = up_only
        .penalties
        .in_force(t0() + chrono::Duration::days(29), &["suspend_sales"])
        .unwrap();
    assert_eq!((m.code.as_str(), m.tier), ("suspend_sales", 3));
    assert!(up_only
        .penalties
        .in_force(t0() + chrono::Duration::days(30), &["suspend_sales"])
        .is_none());
}

/// R-ADS-14 (issue 19): an order that under-spends ends when its delivery
/// window closes, reports its actual run time, and the remainder is refunded
/// as its own event; then it can be invoiced (R-ADS-11).
#[test]
fn r_ads_14_an_under_spent_order_ends_at_its_window_and_refunds_the_rest() {
    let mut g = Given::new();
    g.delivering("o1", spec());
    let started = match g.orders["o1"].status {
        OrderStatus::Delivering { since } => since,
        ref other => panic!("{other:?}"),
    };
    g.when(Command::RecordDelivery {
        order_id: "o1".into(),
        spent_fen: 3_000,
        stats: PaidStats::default(),
        at: started + chrono::Duration::hours(1),
    })
    .unwrap();
    let close = |hours: i64| Command::CloseDeliveryWindow {
        order_id: "o1".into(),
        window_hours: 48,
        at: started + chrono::Duration::hours(hours),
    };
    assert!(g.when(close(47)).unwrap().is_empty(), "the window is open");
    let e = g.when(close(48)).unwrap();
    assert!(
        matches!(e[0], Event::DeliveryCompleted { run_secs, .. } if run_secs == 48 * 3_600),
        "{e:?}"
    );
    let Event::RemainderRefunded { refund, .. } = &e[1] else {
        panic!("{e:?}")
    };
    assert_eq!(refund.amount_fen, 7_000);
    assert_eq!(refund.to, PaymentMethod::DouyinPay);
    assert!(matches!(
        g.orders["o1"].status,
        OrderStatus::Completed { .. }
    ));
    assert!(g.when(close(60)).unwrap().is_empty(), "it ended once");
    assert_eq!(g.orders["o1"].spent_fen, 3_000);
    g.when(Command::SetSubject {
        subject: Subject::Person {
            name: "张三".into(),
        },
    })
    .unwrap();
    g.when(Command::RequestInvoice {
        order_id: "o1".into(),
        kind: InvoiceKind::Personal,
        title: "张三".into(),
        at: started + chrono::Duration::hours(49),
        on_record: false,
    })
    .unwrap();
    let (_, _, invoiced) = g.orders["o1"].invoice.clone().unwrap();
    assert_eq!(invoiced, 3_000, "the invoice is for what was spent");
}

fn delivery_start(g: &Given, id: &str) -> chrono::DateTime<chrono::Utc> {
    match g.orders[id].status {
        OrderStatus::Delivering { since } => since,
        ref other => panic!("{other:?}"),
    }
}

/// Issue 19, R-ADS-14: the shop stops an order. Delivering, it ends now with
/// its run time and the unspent remainder is refunded; under review, the
/// whole amount is; an ended order cannot be stopped again.
#[test]
fn r_ads_14_terminating_refunds_what_was_not_spent() {
    let mut g = Given::new();
    g.delivering("o1", spec());
    let started = delivery_start(&g, "o1");
    g.when(Command::RecordDelivery {
        order_id: "o1".into(),
        spent_fen: 2_500,
        stats: PaidStats::default(),
        at: started + chrono::Duration::minutes(30),
    })
    .unwrap();
    let e = g
        .when(Command::TerminateOrder {
            order_id: "o1".into(),
            at: started + chrono::Duration::hours(2),
        })
        .unwrap();
    assert!(
        matches!(
            &e[0],
            Event::OrderTerminated {
                run_secs: Some(7_200),
                ..
            }
        ),
        "{e:?}"
    );
    let Event::RemainderRefunded { refund, .. } = &e[1] else {
        panic!("{e:?}")
    };
    assert_eq!(refund.amount_fen, 7_500);
    assert_eq!(g.orders["o1"].status, OrderStatus::Terminated);
    let again = g
        .when(Command::TerminateOrder {
            order_id: "o1".into(),
            at: started + chrono::Duration::hours(3),
        })
        .unwrap_err();
    assert!(again.to_string().contains("no longer running"), "{again}");
    // Under review: nothing was spent, everything comes back (to the balance
    // when it was paid from there).
    g.top_up(10_000).unwrap();
    g.place(
        "o2",
        OrderSpec {
            payment: PaymentMethod::AccountBalance,
            ..spec()
        },
    )
    .unwrap();
    assert_eq!(g.balance_fen, 0);
    let e = g
        .when(Command::TerminateOrder {
            order_id: "o2".into(),
            at: t0(),
        })
        .unwrap();
    assert!(
        matches!(&e[0], Event::OrderTerminated { run_secs: None, .. }),
        "{e:?}"
    );
    assert_eq!(g.balance_fen, 10_000);
}

/// Issue 19: budget added to a delivering order: at least 100 CNY (R-ADS-2),
/// the total checked (R-X-3), from the balance only if it holds it; the
/// order then ends when the larger budget is spent (R-ADS-8).
#[test]
fn r_ads_2_and_8_added_budget_is_checked_and_moves_the_end() {
    let mut g = Given::new();
    g.delivering("o1", spec());
    let started = delivery_start(&g, "o1");
    let add = |amount_fen| Command::AddBudget {
        order_id: "o1".into(),
        amount_fen,
        at: started + chrono::Duration::hours(1),
    };
    assert!(matches!(
        g.when(add(9_999)).unwrap_err(),
        DomainError::Invalid(ref f) if f[0].0 == "amount_fen"
    ));
    assert!(matches!(
        g.when(add(i64::MAX)).unwrap_err(),
        DomainError::Invalid(ref f) if f[0].0 == "amount_fen"
    ));
    g.when(add(10_000)).unwrap();
    assert_eq!(g.orders["o1"].spec.amount_fen, 20_000);
    // The first 100 CNY spent no longer ends it; 200 CNY does.
    let report = |spent_fen, hours| Command::RecordDelivery {
        order_id: "o1".into(),
        spent_fen,
        stats: PaidStats::default(),
        at: started + chrono::Duration::hours(hours),
    };
    assert_eq!(g.when(report(10_000, 2)).unwrap().len(), 1);
    let e = g.when(report(10_000, 3)).unwrap();
    assert!(matches!(e[1], Event::DeliveryCompleted { .. }), "{e:?}");
    assert!(g
        .when(add(10_000))
        .unwrap_err()
        .to_string()
        .contains("not delivering"));
    // Paid from the balance: refused while the balance cannot pay.
    g.delivering(
        "o2",
        OrderSpec {
            payment: PaymentMethod::DouyinPay,
            ..spec()
        },
    );
    g.top_up(10_000).unwrap();
    g.delivering(
        "o3",
        OrderSpec {
            payment: PaymentMethod::AccountBalance,
            ..spec()
        },
    );
    let e = g
        .when(Command::AddBudget {
            order_id: "o3".into(),
            amount_fen: 10_000,
            at: t0(),
        })
        .unwrap_err();
    assert!(e.to_string().contains("balance"), "{e}");
}

/// Issue 19, R-ADS-14: the window is extended by one of the durations
/// (R-ADS-3), 24 hours in all at most, only while it is open; the order then
/// ends at the later time.
#[test]
fn r_ads_14_extending_moves_the_window_within_its_limit() {
    let mut g = Given::new();
    g.delivering("o1", spec());
    let started = delivery_start(&g, "o1");
    let extend = |hours, at_hours| Command::ExtendDelivery {
        order_id: "o1".into(),
        hours,
        window_hours: 48,
        at: started + chrono::Duration::hours(at_hours),
    };
    assert!(matches!(
        g.when(extend(5, 1)).unwrap_err(),
        DomainError::Invalid(ref f) if f[0].0 == "hours"
    ));
    g.when(extend(12, 1)).unwrap();
    g.when(extend(12, 2)).unwrap();
    let e = g.when(extend(2, 3)).unwrap_err();
    assert!(e.to_string().contains("24 hours in all"), "{e}");
    let close = |hours| Command::CloseDeliveryWindow {
        order_id: "o1".into(),
        window_hours: 48,
        at: started + chrono::Duration::hours(hours),
    };
    assert!(g.when(close(48)).unwrap().is_empty(), "extended to 72 h");
    let e = g.when(close(72)).unwrap();
    assert!(
        matches!(e[0], Event::DeliveryCompleted { run_secs, .. } if run_secs == 72 * 3_600),
        "{e:?}"
    );
    // A closed window is not extended.
    g.delivering("o2", spec());
    let started = delivery_start(&g, "o2");
    let e = g
        .when(Command::ExtendDelivery {
            order_id: "o2".into(),
            hours: 2,
            window_hours: 48,
            at: started + chrono::Duration::hours(48),
        })
        .unwrap_err();
    assert!(e.to_string().contains("has closed"), "{e}");
}

/// R-ADS-13 with issue 19's order changes: a revoked shop may stop an order
/// (the remainder comes back) but not put more into promotion.
#[test]
fn r_ads_13_a_revoked_shop_stops_orders_but_adds_nothing() {
    let mut g = Given::new();
    g.delivering("o1", spec());
    g.when(Command::RecordRightsRevoked {
        at: t0(),
        source_position: 1,
    })
    .unwrap();
    for refused in [
        Command::AddBudget {
            order_id: "o1".into(),
            amount_fen: 10_000,
            at: t0(),
        },
        Command::ExtendDelivery {
            order_id: "o1".into(),
            hours: 2,
            window_hours: 48,
            at: t0(),
        },
    ] {
        let e = g.when(refused).unwrap_err();
        assert!(e.to_string().contains("revoked"), "{e}");
    }
    g.when(Command::TerminateOrder {
        order_id: "o1".into(),
        at: t0(),
    })
    .unwrap();
    assert_eq!(g.orders["o1"].status, OrderStatus::Terminated);
}

/// R-ADS-14 (issue 19): a top-up is a payment, credited only when the
/// provider confirms it; answered once; a failed one credits nothing.
#[test]
fn r_ads_14_top_ups_are_credited_only_when_the_payment_is_confirmed() {
    let mut g = Given::new();
    let request = |payment_id: &str, amount_fen| Command::MoveFunds {
        movement: FundsMove::TopUp,
        amount_fen,
        channel: Channel::Pc,
        payment_id: payment_id.into(),
        at: t0(),
    };
    let answer = |payment_id: &str, amount_fen, succeeded| Command::ConfirmPayment {
        payment_id: payment_id.into(),
        amount_fen,
        succeeded,
        at: t0(),
    };
    assert!(matches!(
        g.when(request("", 10_000)),
        Err(DomainError::Invalid(ref f)) if f[0].0 == "payment_id"
    ));
    g.when(request("pay-1", 10_000)).unwrap();
    assert_eq!(g.balance_fen, 0, "nothing is credited on request");
    assert!(
        g.when(request("pay-1", 10_000)).unwrap().is_empty(),
        "a retry"
    );
    assert!(matches!(
        g.when(request("pay-1", 20_000)),
        Err(DomainError::AlreadyExists { .. })
    ));
    // An order paid from the balance cannot use money that is only pending.
    let e = g
        .place(
            "o1",
            OrderSpec {
                payment: PaymentMethod::AccountBalance,
                ..spec()
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("balance"), "{e}");
    assert!(matches!(
        g.when(answer("pay-1", 9_999, true)),
        Err(DomainError::Invalid(ref f)) if f[0].0 == "amount_fen"
    ));
    assert!(matches!(
        g.when(answer("nope", 10_000, true)),
        Err(DomainError::NotFound { .. })
    ));
    g.when(answer("pay-1", 10_000, true)).unwrap();
    assert_eq!(g.balance_fen, 10_000);
    assert!(
        g.when(answer("pay-1", 10_000, true)).unwrap().is_empty(),
        "a repeated callback changes nothing"
    );
    assert!(matches!(
        g.when(request("pay-1", 10_000)),
        Err(DomainError::AlreadyExists { .. })
    ));
    g.when(request("pay-2", 5_000)).unwrap();
    g.when(answer("pay-2", 5_000, false)).unwrap();
    assert_eq!(g.balance_fen, 10_000, "a failed payment credits nothing");
    assert!(g.pending_payments.is_empty());
}

/// R-ADS-7, R-ADS-14 (issue 19): refund due dates count China's business
/// days: the Spring Festival 2026 (15-23 February) is off, and Saturday 14
/// February, worked in its place (调休), counts.
#[test]
fn r_ads_7_refund_due_dates_skip_holidays_and_count_adjusted_workdays() {
    // Wednesday 11 February 2026, noon in Shanghai: Thu 12, Fri 13, Sat 14
    // (worked), then Tue 24 .. Fri 27 are the 7 business days.
    assert_eq!(
        refund_due_by(t("2026-02-11T04:00:00Z"), sellerdesk_core::zone::DEFAULT),
        t("2026-02-27T16:00:00Z")
    );
    // An ordinary week is Monday to Friday.
    assert_eq!(
        refund_due_by(t("2026-03-04T04:00:00Z"), sellerdesk_core::zone::DEFAULT),
        t("2026-03-13T16:00:00Z")
    );
}

/// R-X-3 (issue 19): refund due dates count in the shop's time zone.
/// Thursday 5 March 2026, 20:00 UTC, is already Friday in Shanghai, so its
/// 7 business days are 9-13, 16 and 17 March, due at midnight ending the
/// 17th there; in Los Angeles it is still Thursday: 6, 9-13 and 16 March,
/// due at midnight ending the 16th in Pacific daylight time.
#[test]
fn r_x_3_refund_due_dates_count_in_the_shops_time_zone() {
    let at = t("2026-03-05T20:00:00Z");
    let la: chrono_tz::Tz = "America/Los_Angeles".parse().unwrap();
    assert_eq!(
        refund_due_by(at, sellerdesk_core::zone::DEFAULT),
        t("2026-03-17T16:00:00Z")
    );
    assert_eq!(refund_due_by(at, la), t("2026-03-17T07:00:00Z"));
    // A shop sets its zone; a bad name is refused on the field.
    let mut account = ads_svc::domain::AdsAccount::default();
    let set = |z: &str| ads_svc::domain::Command::SetTimeZone {
        time_zone: z.into(),
        at,
    };
    assert!(matches!(
        ads_svc::domain::decide(&account, &set("UTC+8")),
        Err(ads_svc::domain::DomainError::Invalid(f)) if f[0].0 == "time_zone"
    ));
    for e in ads_svc::domain::decide(&account, &set("America/Los_Angeles")).unwrap() {
        account.apply(&e);
    }
    assert_eq!(account.zone(), la);
    assert!(
        ads_svc::domain::decide(&account, &set("America/Los_Angeles"))
            .unwrap()
            .is_empty()
    );
}

/// Decision 0018: a snapshot is read only if it was written in today's
/// `SHAPE`. These are the fields shape 3 holds (2: a rejected order has an
/// end, and long-ended orders retire; 3: settled payments keep their time
/// and retire); change them, or what the fold makes of an event, and raise
/// `AdsAccount::SHAPE` with this list.
#[test]
fn r_x_4_the_account_snapshot_shape_names_its_fields() {
    use sellerdesk_core::Snapshotted;
    let mut g = Given::new();
    g.place("o1", spec()).unwrap();
    assert_eq!(AdsAccount::SHAPE, 3);
    assert_eq!(
        testing::stored_fields(&*g),
        [
            "balance_fen",
            "orders",
            "penalties",
            "pending_payments",
            "rights_source_position",
            "rooms_with_cart",
            "selling_rights_revoked",
            "settled_payments",
            "subject",
            "time_zone",
            "version"
        ]
    );
    assert_eq!(
        testing::stored_fields(&g.orders["o1"]),
        [
            "ended_at",
            "extended_hours",
            "invoice",
            "order_id",
            "placed_at",
            "refund",
            "spec",
            "spent_fen",
            "stats",
            "status"
        ]
    );
}

/// R-X-4, R-ADS-11 (decision 0022): an order that ended more than
/// ORDER_KEPT_DAYS ago leaves the account when a new order is placed, by
/// the events' time. Its id stays taken, and an invoice for it is refused
/// as archived; an order the account still holds is decided as before.
#[test]
fn r_x_4_an_order_long_ended_leaves_the_account_and_stays_read_only() {
    let days = |n: i64| t0() + chrono::Duration::days(n);
    let mut g = Given::new();
    g.place("old", spec()).unwrap();
    g.when(Command::DecideReview {
        order_id: "old".into(),
        approve: false,
        reasons: vec!["画面模糊".into()],
        at: t0(),
    })
    .unwrap();
    assert_eq!(g.orders["old"].ended_at, Some(t0()), "a rejection ends it");
    let place_at = |g: &mut Given, id: &str, at, on_record| {
        g.when(Command::PlaceOrder {
            order_id: id.into(),
            spec: spec(),
            at,
            on_record,
        })
    };
    place_at(
        &mut g,
        "day-89",
        days(ads_svc::domain::ORDER_KEPT_DAYS - 1),
        false,
    )
    .unwrap();
    assert!(g.orders.contains_key("old"), "kept within the days");
    // Still held: the read model's word changes nothing, a retry is a retry.
    assert!(place_at(&mut g, "old", days(89), true).unwrap().is_empty());

    place_at(
        &mut g,
        "day-90",
        days(ads_svc::domain::ORDER_KEPT_DAYS),
        false,
    )
    .unwrap();
    assert!(!g.orders.contains_key("old"), "gone at exactly the days");
    assert!(
        g.orders.contains_key("day-89"),
        "an order under review is running and stays"
    );
    assert!(matches!(
        place_at(&mut g, "old", days(91), true),
        Err(DomainError::AlreadyExists { kind: "order", .. })
    ));
    let invoice = |on_record| Command::RequestInvoice {
        order_id: "old".into(),
        kind: InvoiceKind::Personal,
        title: "张三".into(),
        at: days(91),
        on_record,
    };
    assert_eq!(precondition(g.when(invoice(true))), "ORDER_ARCHIVED");
    assert!(matches!(
        g.when(invoice(false)),
        Err(DomainError::NotFound { kind: "order", .. })
    ));
}

/// R-ADS-14, R-X-4: a settled payment's id is known for
/// PAYMENT_IDS_KEPT_DAYS: a repeated callback is a no-op and a repeated
/// request is refused. After them, when the shop tops up again, the id is
/// forgotten: the account does not grow with every payment it ever made.
#[test]
fn r_x_4_settled_payment_ids_are_kept_for_their_days_then_forgotten() {
    let days = |n: i64| t0() + chrono::Duration::days(n);
    let kept = ads_svc::domain::PAYMENT_IDS_KEPT_DAYS;
    let request = |id: &str, at| Command::MoveFunds {
        movement: FundsMove::TopUp,
        amount_fen: 50_000,
        channel: Channel::Pc,
        payment_id: id.into(),
        at,
    };
    let confirm = |id: &str, at| Command::ConfirmPayment {
        payment_id: id.into(),
        amount_fen: 50_000,
        succeeded: true,
        at,
    };
    let mut g = Given::new();
    g.when(request("p1", t0())).unwrap();
    g.when(confirm("p1", t0())).unwrap();
    assert_eq!(g.balance_fen, 50_000);
    assert!(g.when(confirm("p1", days(kept - 1))).unwrap().is_empty());
    assert!(matches!(
        g.when(request("p1", days(kept - 1))),
        Err(DomainError::AlreadyExists {
            kind: "payment",
            ..
        })
    ));
    g.when(request("p2", days(kept))).unwrap();
    assert!(
        !g.settled_payments.contains_key("p1"),
        "forgotten when a payment comes {kept} days later"
    );
    assert!(matches!(
        g.when(confirm("p1", days(kept + 1))),
        Err(DomainError::NotFound {
            kind: "payment",
            ..
        })
    ));
    assert_eq!(g.balance_fen, 50_000, "credited once");
}
