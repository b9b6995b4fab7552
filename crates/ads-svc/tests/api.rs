//! ads-svc over real gRPC: an order's life (R-ADS-1..8, R-ADS-11), permissions
//! and errors with details (R-X-1, R-ADS-12), and R-ADS-13 across services:
//! compliance-svc revokes and restores selling rights, publishes it, and
//! ads-svc, consuming the bus, refuses and then accepts orders.

use ads_svc::{Application, Settings};
use chrono::{DateTime, Utc};
use sellerdesk_api::{
    ads::v1::{self as pb, ads_service_client::AdsServiceClient},
    compliance::v1::{self as cpb, compliance_service_client::ComplianceServiceClient},
};
use sellerdesk_bus::InProcessBus;
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{auth::Claims, server::Running, ManualClock, Role, TokenSigner};
use sellerdesk_testkit::eventually;
use std::{sync::Arc, time::Duration};
use tonic::{transport::Channel, Code, Request, Status};
use tonic_types::StatusExt;

const SHOP: &str = "shop-a";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn sqlite(dir: &tempfile::TempDir, name: &str) -> Arc<dyn EventStore> {
    sellerdesk_eventstore::open(&format!(
        "sqlite://{}",
        dir.path().join(format!("{name}.db")).display()
    ))
    .await
    .unwrap()
}

fn req<T>(signer: &TokenSigner, shop: &str, role: Role, msg: T) -> Request<T> {
    let token = signer.mint(&Claims {
        shop: if role == Role::Platform {
            String::new()
        } else {
            shop.into()
        },
        sub: format!("{}-account", role.as_str()),
        role,
        exp: 4_000_000_000,
    });
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

const PAYMENT_SECRET: &str = "provider-secret";

/// The owner places `order_id` and the platform's review approves it.
async fn delivering(ads: &mut AdsServiceClient<Channel>, signer: &TokenSigner, order_id: &str) {
    ads.place_order(req(signer, SHOP, Role::Owner, order(order_id)))
        .await
        .unwrap();
    ads.decide_review(req(
        signer,
        SHOP,
        Role::Platform,
        pb::DecideReviewRequest {
            shop_id: SHOP.into(),
            order_id: order_id.into(),
            approve: true,
            reasons: vec![],
        },
    ))
    .await
    .unwrap();
}

async fn spawn_ads(
    store: Arc<dyn EventStore>,
    bus: Arc<InProcessBus>,
    signer: &TokenSigner,
) -> (Running, AdsServiceClient<Channel>) {
    let clock = ManualClock::new(t("2026-03-04T02:00:00Z"));
    spawn_ads_on(store, bus, signer, clock).await
}

async fn spawn_ads_on(
    store: Arc<dyn EventStore>,
    bus: Arc<InProcessBus>,
    signer: &TokenSigner,
    clock: ManualClock,
) -> (Running, AdsServiceClient<Channel>) {
    let service = Application::spawn_local(Settings {
        store,
        bus,
        durable_bus: false,
        clock: Arc::new(clock),
        verifier: signer.verifier(),
        request_timeout: Duration::from_secs(10),
        delivery_window_hours: 48,
        payment_secret: Some(PAYMENT_SECRET.into()),
    })
    .await
    .unwrap();
    let channel = Channel::from_shared(service.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    (service, AdsServiceClient::new(channel))
}

/// compliance-svc on its own database beside ads-svc, on one in-process
/// bus, keeping time by `clock` (its timekeeper wakes when the clock is
/// set); and a client for it.
async fn spawn_compliance(
    dir: &tempfile::TempDir,
    bus: &Arc<InProcessBus>,
    signer: &TokenSigner,
    clock: ManualClock,
) -> (Running, ComplianceServiceClient<Channel>) {
    let compliance = compliance_svc::Application::spawn_local(compliance_svc::Settings {
        store: sqlite(dir, "compliance").await,
        bus: bus.clone(),
        durable_bus: false,
        clock_changes: Some(clock.watch()),
        clock: Arc::new(clock),
        cache_shops: 10_000,
        verifier: signer.verifier(),
        request_timeout: Duration::from_secs(10),
    })
    .await
    .unwrap();
    let channel = Channel::from_shared(compliance.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    (compliance, ComplianceServiceClient::new(channel))
}

/// Places orders until ads-svc refuses one with FAILED_PRECONDITION, for up
/// to 5 s (it learns of compliance-svc's events a moment later): the
/// refusal, or None.
async fn refused_order(ads: &AdsServiceClient<Channel>, signer: &TokenSigner) -> Option<Status> {
    let mut n = 0;
    eventually(Duration::from_secs(5), || {
        n += 1;
        let (mut ads, id) = (ads.clone(), format!("o{n}"));
        async move {
            match ads
                .place_order(req(signer, SHOP, Role::Owner, order(&id)))
                .await
            {
                Err(e) if e.code() == Code::FailedPrecondition => Some(e),
                _ => None,
            }
        }
    })
    .await
}

fn order(id: &str) -> pb::PlaceOrderRequest {
    pb::PlaceOrderRequest {
        shop_id: String::new(),
        order_id: id.into(),
        spec: Some(pb::OrderSpec {
            product: pb::Product::XiaodianSuixintui as i32,
            target: Some(pb::order_spec::Target::Video(pb::Video {
                video_id: "v1".into(),
                public: true,
                title: "春季新款连衣裙".into(),
                duration_secs: 30,
                has_shop_cart: true,
            })),
            objective: pb::Objective::ProductPurchase as i32,
            duration_hours: 6,
            targeting: None,
            bid_mode: pb::BidMode::GoalAutomatic as i32,
            bid_fen: 0,
            amount_fen: 60_000,
            payment: pb::PaymentMethod::DouyinPay as i32,
        }),
    }
}

#[tokio::test]
async fn an_order_from_placement_to_invoice_with_permissions_and_error_details() {
    let dir = tempfile::tempdir().unwrap();
    let signer = TokenSigner::new("test");
    let (_service, mut ads) = spawn_ads(
        sqlite(&dir, "ads").await,
        Arc::new(InProcessBus::new()),
        &signer,
    )
    .await;
    // R-ADS-3: accepted, with the 24-hour advice above 500 CNY.
    let placed = ads
        .place_order(req(&signer, SHOP, Role::Owner, order("o1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        placed.order.unwrap().status,
        pb::OrderStatus::PendingReview as i32
    );
    assert_eq!(placed.recommendations.len(), 1);
    // Agents read but do not order; another shop sees nothing (R-X-1).
    let e = ads
        .place_order(req(&signer, SHOP, Role::Agent, order("o2")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = ads
        .get_order(req(
            &signer,
            "shop-b",
            Role::Owner,
            pb::GetOrderRequest {
                shop_id: SHOP.into(),
                order_id: "o1".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // R-ADS-2: INVALID_ARGUMENT naming the field.
    let mut cheap = order("o3");
    cheap.spec.as_mut().unwrap().amount_fen = 100;
    let e = ads
        .place_order(req(&signer, SHOP, Role::Owner, cheap))
        .await
        .unwrap_err();
    assert_eq!(
        e.get_details_bad_request().unwrap().field_violations[0].field,
        "spec.amount_fen"
    );
    // Review, delivery to the budget (R-ADS-8), invoice (R-ADS-11).
    ads.decide_review(req(
        &signer,
        SHOP,
        Role::Platform,
        pb::DecideReviewRequest {
            shop_id: SHOP.into(),
            order_id: "o1".into(),
            approve: true,
            reasons: vec![],
        },
    ))
    .await
    .unwrap();
    let done = ads
        .record_delivery(req(
            &signer,
            SHOP,
            Role::Platform,
            pb::RecordDeliveryRequest {
                shop_id: SHOP.into(),
                order_id: "o1".into(),
                spent_fen: 60_000,
                stats: Some(pb::PaidStats {
                    plays: 9_000,
                    likes: 120,
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(done.status, pb::OrderStatus::Completed as i32);
    ads.set_account_subject(req(
        &signer,
        SHOP,
        Role::Platform,
        pb::SetAccountSubjectRequest {
            shop_id: SHOP.into(),
            subject: Some(pb::Subject {
                kind: Some(pb::subject::Kind::Person("张三".into())),
            }),
        },
    ))
    .await
    .unwrap();
    let invoice = ads
        .request_invoice(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::RequestInvoiceRequest {
                shop_id: String::new(),
                order_id: "o1".into(),
                kind: pb::InvoiceKind::Personal as i32,
                title: "张三".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    assert_eq!(invoice.amount_fen, 60_000);
    // R-ADS-12: a mobile top-up is refused and names the PC channel.
    let e = ads
        .move_funds(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::MoveFundsRequest {
                shop_id: String::new(),
                movement: pb::FundsMovement::TopUp as i32,
                amount_fen: 10_000,
                channel: pb::Channel::Mobile as i32,
                payment_id: "m1".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(
        e.get_details_precondition_failure().unwrap().violations[0].r#type,
        "PC_CHANNEL_ONLY"
    );
    assert!(e.message().contains("电脑端"), "{}", e.message());
}

/// ListOrders pages the account in id order, by the one paging rule: a
/// size out of range is INVALID_ARGUMENT on `page.page_size`.
#[tokio::test]
async fn list_orders_pages_in_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let signer = TokenSigner::new("test");
    let (_service, mut ads) = spawn_ads(
        sqlite(&dir, "ads").await,
        Arc::new(InProcessBus::new()),
        &signer,
    )
    .await;
    for id in ["o3", "o1", "o2"] {
        ads.place_order(req(&signer, SHOP, Role::Owner, order(id)))
            .await
            .unwrap();
    }
    let list = |size: u32, token: String| {
        req(
            &signer,
            SHOP,
            Role::Agent,
            pb::ListOrdersRequest {
                shop_id: String::new(),
                page: Some(sellerdesk_api::common::v1::PageRequest {
                    page_size: size,
                    page_token: token,
                }),
            },
        )
    };
    let first = ads
        .list_orders(list(2, String::new()))
        .await
        .unwrap()
        .into_inner();
    let ids = |r: &pb::ListOrdersResponse| -> Vec<String> {
        r.orders.iter().map(|o| o.order_id.clone()).collect()
    };
    assert_eq!(ids(&first), ["o1", "o2"]);
    let token = first.page.unwrap().next_page_token;
    let second = ads.list_orders(list(2, token)).await.unwrap().into_inner();
    assert_eq!(ids(&second), ["o3"]);
    assert!(second.page.unwrap().next_page_token.is_empty());
    let e = ads.list_orders(list(501, String::new())).await.unwrap_err();
    assert_eq!(
        e.get_details_bad_request().unwrap().field_violations[0].field,
        "page.page_size"
    );
}

#[tokio::test]
async fn r_ads_13_orders_follow_the_selling_rights_compliance_svc_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let signer = TokenSigner::new("test");
    let bus = Arc::new(InProcessBus::new());
    let (_compliance, mut cmp) = spawn_compliance(
        &dir,
        &bus,
        &signer,
        ManualClock::new(t("2026-03-04T02:00:00Z")),
    )
    .await;
    let (_ads_service, mut ads) = spawn_ads(sqlite(&dir, "ads").await, bus, &signer).await;
    // 48 points: compliance-svc revokes the selling rights (R-CMP-3) and publishes it.
    cmp.record_violation(req(
        &signer,
        SHOP,
        Role::Platform,
        cpb::RecordViolationRequest {
            shop_id: SHOP.into(),
            violation_id: "v-48".into(),
            violation_type: "counterfeit".into(),
            points: Some(48),
            evidence: "".into(),
        },
    ))
    .await
    .unwrap();
    // The revocation reaches ads-svc through the bus, shortly after the commit (R-X-2).
    let mut revoked = false;
    for _ in 0..100 {
        let a = ads
            .get_account(req(
                &signer,
                SHOP,
                Role::Owner,
                pb::GetAccountRequest::default(),
            ))
            .await
            .unwrap();
        if !a.into_inner().may_place_orders {
            revoked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(revoked, "ads-svc learned of the revocation within 5 s");
    let e = ads
        .place_order(req(&signer, SHOP, Role::Owner, order("o1")))
        .await
        .unwrap_err();
    assert_eq!(
        e.get_details_precondition_failure().unwrap().violations[0].r#type,
        "SELLING_RIGHTS_REVOKED"
    );
    let account = ads
        .get_account(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::GetAccountRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!account.may_place_orders);
    // A granted appeal restores the rights (R-CMP-8): orders are accepted again.
    cmp.file_appeal(req(
        &signer,
        SHOP,
        Role::Owner,
        cpb::FileAppealRequest {
            shop_id: String::new(),
            violation_id: "v-48".into(),
            reason: "误判".into(),
            attachments: vec![],
        },
    ))
    .await
    .unwrap();
    cmp.decide_appeal(req(
        &signer,
        SHOP,
        Role::Platform,
        cpb::DecideAppealRequest {
            shop_id: SHOP.into(),
            violation_id: "v-48".into(),
            outcome: cpb::AppealOutcome::Granted as i32,
            note: "".into(),
        },
    ))
    .await
    .unwrap();
    let mut accepted = false;
    for _ in 0..100 {
        if ads
            .place_order(req(&signer, SHOP, Role::Owner, order("o2")))
            .await
            .is_ok()
        {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        accepted,
        "orders are accepted once compliance-svc restores the rights"
    );
}

/// R-CMP-13 (issue 19): tier 3 (36 points) brings measures that forbid new
/// promotion orders; ads-svc learns them from compliance-svc's TierChanged and
/// refuses with FAILED_PRECONDITION naming the measure and its tier. A granted
/// appeal lowers the tier and lifts the measures the violation caused.
#[tokio::test]
async fn r_cmp_13_a_tier_3_shop_places_no_order_until_an_appeal_lowers_the_tier() {
    let dir = tempfile::tempdir().unwrap();
    let signer = TokenSigner::new("test");
    let bus = Arc::new(InProcessBus::new());
    let (_compliance, mut cmp) = spawn_compliance(
        &dir,
        &bus,
        &signer,
        ManualClock::new(t("2026-03-04T02:00:00Z")),
    )
    .await;
    let (_ads_service, mut ads) = spawn_ads(sqlite(&dir, "ads").await, bus, &signer).await;
    cmp.record_violation(req(
        &signer,
        SHOP,
        Role::Platform,
        cpb::RecordViolationRequest {
            shop_id: SHOP.into(),
            violation_id: "v-36".into(),
            violation_type: "counterfeit".into(),
            points: Some(36),
            evidence: "".into(),
        },
    ))
    .await
    .unwrap();
    let e = refused_order(&ads, &signer)
        .await
        .expect("ads-svc learned of tier 3 within 5 s");
    let v = &e.get_details_precondition_failure().unwrap().violations[0];
    assert_eq!(v.r#type, "MEASURE_IN_FORCE");
    assert!(
        v.description.contains("restrict_marketing") && v.description.contains("tier 1")
            || v.description.contains("suspend_sales") && v.description.contains("tier 3"),
        "{}",
        v.description
    );
    let account = ads
        .get_account(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::GetAccountRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!account.may_place_orders);
    cmp.file_appeal(req(
        &signer,
        SHOP,
        Role::Owner,
        cpb::FileAppealRequest {
            shop_id: String::new(),
            violation_id: "v-36".into(),
            reason: "误判".into(),
            attachments: vec![],
        },
    ))
    .await
    .unwrap();
    cmp.decide_appeal(req(
        &signer,
        SHOP,
        Role::Platform,
        cpb::DecideAppealRequest {
            shop_id: SHOP.into(),
            violation_id: "v-36".into(),
            outcome: cpb::AppealOutcome::Granted as i32,
            note: "".into(),
        },
    ))
    .await
    .unwrap();
    let mut accepted = false;
    for _ in 0..100 {
        if ads
            .place_order(req(&signer, SHOP, Role::Owner, order("after-appeal")))
            .await
            .is_ok()
        {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        accepted,
        "the appeal lowered the tier and lifted the measures"
    );
}

/// R-ADS-14 (issue 19): the replica holding the delivery-windows lease ends
/// an under-spent order once its window has closed, refunds the remainder,
/// and does it once; the kept set of delivering orders empties with it.
/// R-X-4: an order the shop stopped leaves the set too. It used to stay,
/// and every round loaded its account again, for ever; a key such a keeper
/// left behind is dropped the first time the keeper finds its order ended.
#[tokio::test]
async fn r_ads_14_the_window_keeper_ends_under_spent_orders_once() {
    let dir = tempfile::tempdir().unwrap();
    let signer = TokenSigner::new("test");
    let store = sqlite(&dir, "ads").await;
    let (_service, mut ads) =
        spawn_ads(store.clone(), Arc::new(InProcessBus::new()), &signer).await;
    delivering(&mut ads, &signer, "o1").await;
    delivering(&mut ads, &signer, "o2").await;
    ads.terminate_order(req(
        &signer,
        SHOP,
        Role::Owner,
        pb::TerminateOrderRequest {
            order_id: "o2".into(),
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    ads.record_delivery(req(
        &signer,
        SHOP,
        Role::Platform,
        pb::RecordDeliveryRequest {
            shop_id: SHOP.into(),
            order_id: "o1".into(),
            spent_fen: 3_000,
            stats: Some(pb::PaidStats::default()),
        },
    ))
    .await
    .unwrap();
    // The service's clock says 2026-03-04T02:00Z; the keeper's runs ahead.
    let keeper =
        |at: &str| ads_svc::app::Ads::new(store.clone(), Arc::new(ManualClock::new(t(at))));
    assert_eq!(
        keeper("2026-03-06T01:59:00Z")
            .close_windows(48)
            .await
            .unwrap(),
        0
    );
    let kept = store.load_snapshots("ads:window/").await.unwrap();
    assert_eq!(kept.len(), 1, "the stopped order left the set");
    // What a keeper before this fix left behind for the stopped order.
    let left_behind = sellerdesk_eventstore::Snapshot {
        key: kept[0].key.replace("/o1/", "/o2/"),
        ..kept[0].clone()
    };
    store.save_snapshots(&[left_behind]).await.unwrap();
    let late = keeper("2026-03-06T02:00:00Z");
    assert_eq!(late.close_windows(48).await.unwrap(), 1);
    let account = late.load(SHOP).await.unwrap();
    let o = &account.orders["o1"];
    assert!(matches!(
        o.status,
        ads_svc::domain::OrderStatus::Completed { run_secs: 172_800 }
    ));
    let order_amount = o.spec.amount_fen;
    assert_eq!(o.refund.as_ref().unwrap().amount_fen, order_amount - 3_000);
    assert_eq!(late.close_windows(48).await.unwrap(), 0, "once");
    assert!(store
        .load_snapshots("ads:window/")
        .await
        .unwrap()
        .is_empty());
}

/// Issue 19, R-ADS-14 over gRPC: managers extend, add budget to and stop a
/// delivering order; agents may not; another shop finds nothing; bad input
/// names its field; the stopped order shows its refund.
#[tokio::test]
async fn r_ads_14_terminate_add_budget_and_extend_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let signer = TokenSigner::new("test");
    let store = sqlite(&dir, "ads").await;
    let (_service, mut ads) = spawn_ads(store, Arc::new(InProcessBus::new()), &signer).await;
    delivering(&mut ads, &signer, "o1").await;
    let placed = order("o1").spec.unwrap().amount_fen;
    let extend = |hours| pb::ExtendDeliveryRequest {
        order_id: "o1".into(),
        hours,
        ..Default::default()
    };
    let extended = ads
        .extend_delivery(req(&signer, SHOP, Role::Owner, extend(12)))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(extended.extended_hours, 12);
    let e = ads
        .extend_delivery(req(&signer, SHOP, Role::Owner, extend(7)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let fields: Vec<String> = e
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["hours"]);
    let add = |amount_fen| pb::AddBudgetRequest {
        order_id: "o1".into(),
        amount_fen,
        ..Default::default()
    };
    let e = ads
        .add_budget(req(&signer, SHOP, Role::Agent, add(10_000)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = ads
        .add_budget(req(
            &signer,
            "other-shop",
            Role::Owner,
            pb::AddBudgetRequest {
                shop_id: SHOP.into(),
                ..add(10_000)
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "R-X-1");
    let more = ads
        .add_budget(req(&signer, SHOP, Role::Owner, add(10_000)))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(more.spec.unwrap().amount_fen, placed + 10_000);
    let stopped = ads
        .terminate_order(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::TerminateOrderRequest {
                order_id: "o1".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(stopped.status(), pb::OrderStatus::Terminated);
    assert_eq!(stopped.refund.unwrap().amount_fen, placed + 10_000);
    let e = ads
        .terminate_order(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::TerminateOrderRequest {
                order_id: "o1".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
}

/// R-ADS-14 over gRPC: a top-up stays pending until the provider's signed
/// callback; a forged or unsigned callback is refused and credits nothing;
/// only the platform role may deliver the callback.
#[tokio::test]
async fn r_ads_14_a_top_up_is_credited_by_the_providers_signed_callback_only() {
    let dir = tempfile::tempdir().unwrap();
    let signer = TokenSigner::new("test");
    let store = sqlite(&dir, "ads").await;
    let (_service, mut ads) = spawn_ads(store, Arc::new(InProcessBus::new()), &signer).await;
    let requested = ads
        .move_funds(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::MoveFundsRequest {
                movement: pb::FundsMovement::TopUp as i32,
                amount_fen: 50_000,
                channel: pb::Channel::Pc as i32,
                payment_id: "pay-1".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (requested.balance_fen, requested.pending_top_up_fen),
        (0, 50_000)
    );
    let callback = |signature: String| pb::ConfirmPaymentRequest {
        shop_id: SHOP.into(),
        payment_id: "pay-1".into(),
        amount_fen: 50_000,
        succeeded: true,
        signature,
    };
    let forged = ads_svc::payments::sign("guess", SHOP, "pay-1", 50_000, true);
    let e = ads
        .confirm_payment(req(&signer, SHOP, Role::Platform, callback(forged)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let genuine = ads_svc::payments::sign(PAYMENT_SECRET, SHOP, "pay-1", 50_000, true);
    let e = ads
        .confirm_payment(req(&signer, SHOP, Role::Owner, callback(genuine.clone())))
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Code::PermissionDenied,
        "shops do not confirm their own payments"
    );
    let account = ads
        .get_account(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::GetAccountRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (account.balance_fen, account.pending_top_up_fen),
        (0, 50_000)
    );
    let confirmed = ads
        .confirm_payment(req(
            &signer,
            SHOP,
            Role::Platform,
            callback(genuine.clone()),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (confirmed.balance_fen, confirmed.pending_top_up_fen),
        (50_000, 0)
    );
    let again = ads
        .confirm_payment(req(&signer, SHOP, Role::Platform, callback(genuine)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.balance_fen, 50_000,
        "a repeated callback credits once"
    );
}

/// R-CMP-5, R-CMP-13 end to end: a policy published with a later effective
/// time puts a quiet shop's 10 points at tier 1 when it takes effect. Nothing
/// is written to the shop then; compliance-svc's timekeeper announces the
/// change by itself, and ads-svc refuses orders under tier 1's
/// restrict_marketing from then on.
#[tokio::test]
async fn r_cmp_13_a_policy_that_takes_effect_later_stops_orders_when_it_does() {
    let dir = tempfile::tempdir().unwrap();
    let signer = TokenSigner::new("test");
    let bus = Arc::new(InProcessBus::new());
    let clock = ManualClock::new(t("2026-03-04T01:00:00Z"));
    let (_compliance, mut cmp) = spawn_compliance(&dir, &bus, &signer, clock.clone()).await;
    let (_ads_service, mut ads) = spawn_ads(sqlite(&dir, "ads").await, bus, &signer).await;
    cmp.record_violation(req(
        &signer,
        SHOP,
        Role::Platform,
        cpb::RecordViolationRequest {
            shop_id: SHOP.into(),
            violation_id: "v-10".into(),
            violation_type: "late_shipping".into(),
            points: Some(10),
            evidence: "".into(),
        },
    ))
    .await
    .unwrap();
    let takes_effect = t("2026-03-04T01:30:00Z");
    let tier = |level: u32, threshold_points: u32, code: &str| cpb::Tier {
        level,
        threshold_points,
        measures: vec![cpb::Measure {
            code: code.into(),
            description: code.into(),
            duration_days: 7,
        }],
    };
    cmp.publish_policy(req(
        &signer,
        "",
        Role::Platform,
        cpb::PublishPolicyRequest {
            policy: Some(cpb::Policy {
                version: 0,
                effective_at: Some(prost_types::Timestamp {
                    seconds: takes_effect.timestamp(),
                    nanos: 0,
                }),
                tiers: vec![
                    tier(1, 10, "restrict_marketing"),
                    tier(2, 24, "restrict_traffic"),
                ],
                violation_types: vec![],
            }),
        },
    ))
    .await
    .unwrap();
    // Until the policy takes effect, 10 points are tier 0: orders go through.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ads.place_order(req(&signer, SHOP, Role::Owner, order("before")))
        .await
        .unwrap();

    clock.set(takes_effect + chrono::Duration::seconds(1));
    let e = refused_order(&ads, &signer)
        .await
        .expect("ads-svc learned of the policy's tier 1 within 5 s");
    let v = &e.get_details_precondition_failure().unwrap().violations[0];
    assert_eq!(v.r#type, "MEASURE_IN_FORCE");
    assert!(
        v.description.contains("restrict_marketing") && v.description.contains("tier 1"),
        "{}",
        v.description
    );
    let standing = cmp
        .get_standing(req(
            &signer,
            SHOP,
            Role::Owner,
            cpb::GetStandingRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .standing
        .unwrap();
    assert_eq!((standing.points, standing.tier), (10, 1));
}

/// R-X-4, R-ADS-11 (decision 0022) over gRPC: an order rejected 90 days ago
/// leaves the account when the shop places another. ListOrders no longer
/// lists it; GetOrder and ListOrderHistory still read it, from the orders
/// read model, as the account folded it; its id stays taken and an invoice
/// for it is refused as archived. The read model folds a delivering order
/// to what the account says of it.
#[tokio::test]
async fn r_x_4_an_archived_order_is_read_from_the_read_model_and_stays_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let signer = TokenSigner::new("test");
    let clock = ManualClock::new(t("2026-03-04T02:00:00Z"));
    let (_service, mut ads) = spawn_ads_on(
        sqlite(&dir, "ads").await,
        Arc::new(InProcessBus::new()),
        &signer,
        clock.clone(),
    )
    .await;
    ads.place_order(req(&signer, SHOP, Role::Owner, order("old")))
        .await
        .unwrap();
    let rejected = ads
        .decide_review(req(
            &signer,
            SHOP,
            Role::Platform,
            pb::DecideReviewRequest {
                shop_id: SHOP.into(),
                order_id: "old".into(),
                approve: false,
                reasons: vec!["画面模糊".into()],
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    // 90 days pass: the projector has long written the rejection by then.
    let projected = eventually(Duration::from_secs(5), || {
        let (mut ads, rejected) = (ads.clone(), rejected.clone());
        let request = req(
            &signer,
            SHOP,
            Role::Owner,
            pb::ListOrderHistoryRequest::default(),
        );
        async move {
            let page = ads.list_order_history(request).await.unwrap().into_inner();
            (page.orders == [rejected]).then_some(())
        }
    })
    .await;
    assert!(
        projected.is_some(),
        "the rejection reached the read model within 5 s"
    );

    clock.set(t("2026-06-02T02:00:00Z"));
    delivering(&mut ads, &signer, "new").await;
    ads.record_delivery(req(
        &signer,
        SHOP,
        Role::Platform,
        pb::RecordDeliveryRequest {
            shop_id: SHOP.into(),
            order_id: "new".into(),
            spent_fen: 12_345,
            stats: Some(pb::PaidStats {
                plays: 900,
                ..Default::default()
            }),
        },
    ))
    .await
    .unwrap();
    let listed = ads
        .list_orders(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::ListOrdersRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .orders;
    let ids: Vec<&str> = listed.iter().map(|o| o.order_id.as_str()).collect();
    assert_eq!(ids, ["new"], "the rejected order left the account");
    let got = ads
        .get_order(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::GetOrderRequest {
                shop_id: String::new(),
                order_id: "old".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(got, rejected, "read back as it was when it ended");

    let again = ads
        .place_order(req(&signer, SHOP, Role::Owner, order("old")))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    let invoice = ads
        .request_invoice(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::RequestInvoiceRequest {
                shop_id: String::new(),
                order_id: "old".into(),
                kind: pb::InvoiceKind::Personal as i32,
                title: "张三".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(invoice.code(), Code::FailedPrecondition);
    assert_eq!(
        invoice
            .get_details_precondition_failure()
            .unwrap()
            .violations[0]
            .r#type,
        "ORDER_ARCHIVED"
    );

    // Newest first, a page at a time; the delivering order as the account
    // has it, once the projector has caught up.
    let history = |token: &str| pb::ListOrderHistoryRequest {
        shop_id: String::new(),
        page: Some(sellerdesk_api::common::v1::PageRequest {
            page_size: 1,
            page_token: token.into(),
        }),
    };
    let first = eventually(Duration::from_secs(5), || {
        let mut ads = ads.clone();
        let (request, newest) = (req(&signer, SHOP, Role::Owner, history("")), listed.first());
        async move {
            let page = ads.list_order_history(request).await.unwrap().into_inner();
            (page.orders.first() == newest).then_some(page)
        }
    })
    .await
    .expect("the read model caught up with the account within 5 s");
    let token = first.page.unwrap().next_page_token;
    let second = ads
        .list_order_history(req(&signer, SHOP, Role::Owner, history(&token)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.orders, [rejected]);
    assert!(
        second.page.unwrap().next_page_token.is_empty(),
        "the last page says so"
    );
    let bad = ads
        .list_order_history(req(&signer, SHOP, Role::Owner, history("p1.bm9wZQ")))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}

/// Decision 0022 on PostgreSQL: the orders read model folds every order to
/// what the account says of it, whatever way the log is cut into batches,
/// and a batch handed over again (a crash before the checkpoint) changes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_x_4_the_orders_read_model_equals_the_account_across_batches_and_redelivery() {
    use ads_svc::{
        app::Ads,
        domain::{Command, Order},
        orders,
    };
    use sellerdesk_eventstore::Metadata;
    let store = sellerdesk_eventstore::open(&sellerdesk_testkit::fresh_postgres_url().await)
        .await
        .unwrap();
    let clock = ManualClock::new(t("2026-03-04T02:00:00Z"));
    let app = Ads::new(store.clone(), Arc::new(clock.clone()));
    use ads_svc::domain::{Bid, Objective, OrderSpec, PaymentMethod, Product, Target, Targeting};
    let spec = OrderSpec {
        product: Product::XiaodianSuixintui,
        target: Target::Video {
            video_id: "v1".into(),
            public: true,
            title: "春季新款连衣裙".into(),
            duration_secs: 30,
            has_shop_cart: true,
        },
        objective: Objective::ProductPurchase,
        duration_hours: 6,
        targeting: Targeting::default(),
        bid: Bid::GoalAutomatic,
        amount_fen: 60_000,
        payment: PaymentMethod::DouyinPay,
    };
    let run = |c: Command| {
        let app = &app;
        async move {
            app.execute(SHOP, &Metadata::default(), move |_| c.clone())
                .await
                .unwrap()
        }
    };
    let at = t("2026-03-04T02:00:00Z");
    for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
        run(Command::PlaceOrder {
            order_id: (*id).into(),
            spec: spec.clone(),
            at,
            on_record: false,
        })
        .await;
        if i > 0 {
            run(Command::DecideReview {
                order_id: (*id).into(),
                approve: i != 3,
                reasons: vec!["标题过短".into()],
                at,
            })
            .await;
        }
    }
    run(Command::RecordDelivery {
        order_id: "b".into(),
        spent_fen: 700,
        stats: Default::default(),
        at,
    })
    .await;
    run(Command::AddBudget {
        order_id: "b".into(),
        amount_fen: 10_000,
        at,
    })
    .await;
    run(Command::ExtendDelivery {
        order_id: "c".into(),
        hours: 6,
        window_hours: 48,
        at,
    })
    .await;
    run(Command::TerminateOrder {
        order_id: "c".into(),
        at,
    })
    .await;
    let (account, _) = run(Command::TerminateOrder {
        order_id: "b".into(),
        at,
    })
    .await;

    let log = store.read_all(0, 1_000).await.unwrap();
    let (first, rest) = log.split_at(log.len() / 2);
    let project = |batch| orders::ORDERS.project::<Order>(&store, batch);
    project(first).await.unwrap();
    project(rest).await.unwrap();
    project(&log).await.unwrap();
    for (id, held) in &account.orders {
        let kept: Order = orders::ORDERS
            .get(store.as_ref(), SHOP, id)
            .await
            .unwrap()
            .expect("every order is on record");
        assert_eq!(&kept, held, "order {id}");
    }
    assert_eq!(account.orders.len(), 4);
    let page = orders::ORDERS
        .page::<Order>(store.as_ref(), SHOP, None, 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 4);
}
