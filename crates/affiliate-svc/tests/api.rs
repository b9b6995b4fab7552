//! affiliate-svc over real gRPC: marketplace search (R-AFF-2), outreach and
//! its daily limit (R-AFF-3), plans (R-AFF-4, R-AFF-1), metrics from events
//! that survive a restart (R-AFF-5), permissions (R-X-1); SQLite and PostgreSQL.

use affiliate_svc::{domain::Limits, Application, Settings};
use chrono::{DateTime, Utc};
use sellerdesk_api::affiliate::v1::{self as pb, affiliate_service_client::AffiliateServiceClient};
use sellerdesk_bus::InProcessBus;
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{auth::Claims, server::Running, ManualClock, Role, TokenSigner};
use std::{sync::Arc, time::Duration};
use tonic::{transport::Channel, Code, Request};
use tonic_types::StatusExt;

const SHOP: &str = "shop-a";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
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

async fn spawn(
    store: Arc<dyn EventStore>,
    clock: &ManualClock,
    signer: &TokenSigner,
) -> (Running, AffiliateServiceClient<Channel>) {
    let service = Application::spawn_local(Settings {
        store,
        bus: Arc::new(InProcessBus::new()),
        durable_bus: false,
        clock: Arc::new(clock.clone()),
        verifier: signer.verifier(),
        request_timeout: Duration::from_secs(10),
        limits: Limits {
            daily_invitations: 3,
            ..Limits::default()
        },
    })
    .await
    .unwrap();
    let channel = Channel::from_shared(service.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    (service, AffiliateServiceClient::new(channel))
}

async fn publish_creators(
    client: &mut AffiliateServiceClient<Channel>,
    signer: &TokenSigner,
    n: usize,
) {
    for i in 0..n {
        let profile = pb::CreatorProfile {
            creator_id: format!("c{i}"),
            handle: format!("@creator{i}"),
            categories: vec![if i % 2 == 0 { "美妆" } else { "服饰" }.into()],
            followers: 10_000 * (i as u64 + 1),
            female_share_bps: 7_000,
            main_age_band: "24-30".into(),
            top_regions: vec!["浙江".into()],
            engagement_bps: 300 + i as u32,
            price_low_fen: 1_000,
            price_high_fen: 50_000,
            ..Default::default()
        };
        client
            .profile_creator(req(
                signer,
                "",
                Role::Platform,
                pb::ProfileCreatorRequest {
                    profile: Some(profile),
                },
            ))
            .await
            .unwrap();
    }
}

async fn outreach_story(store: Arc<dyn EventStore>, reopened: Arc<dyn EventStore>) {
    let signer = TokenSigner::new("test");
    let clock = ManualClock::new(t("2026-03-04T02:00:00Z"));
    let (service, mut client) = spawn(store, &clock, &signer).await;
    publish_creators(&mut client, &signer, 40).await;
    // R-AFF-2: search by category and followers, best first.
    let found = client
        .search_creators(req(
            &signer,
            SHOP,
            Role::Agent,
            pb::SearchCreatorsRequest {
                category: "美妆".into(),
                min_followers: Some(300_000),
                limit: 3,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .creators;
    let handles: Vec<String> = found
        .iter()
        .map(|c| c.profile.clone().unwrap().handle)
        .collect();
    assert_eq!(handles, ["@creator38", "@creator36", "@creator34"]);
    // R-AFF-3: three invitations a day here, then RESOURCE_EXHAUSTED; agents may not invite.
    let invite = |id: &str, creator: &str| pb::SendInvitationRequest {
        shop_id: String::new(),
        invitation_id: id.into(),
        creator_id: creator.into(),
        goal: pb::Goal::Sales as i32,
        message: "您好，想邀请您带货".into(),
    };
    let e = client
        .send_invitation(req(&signer, SHOP, Role::Agent, invite("i0", "c0")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    for i in 0..3 {
        let sent = client
            .send_invitation(req(
                &signer,
                SHOP,
                Role::Owner,
                invite(&format!("i{i}"), &format!("c{i}")),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(sent.remaining_today, 2 - i);
    }
    let e = client
        .send_invitation(req(&signer, SHOP, Role::Owner, invite("i3", "c3")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    // The creator answers after 10 minutes (R-AFF-5).
    clock.set(t("2026-03-04T02:10:00Z"));
    client
        .answer_invitation(req(
            &signer,
            SHOP,
            Role::Platform,
            pb::AnswerInvitationRequest {
                shop_id: SHOP.into(),
                invitation_id: "i0".into(),
                accepted: true,
            },
        ))
        .await
        .unwrap();
    // R-AFF-4: at most 30 creators, the field named.
    let plan = |ids: Vec<String>| pb::CreatePlanRequest {
        shop_id: String::new(),
        plan_id: "p1".into(),
        name: "春季定向计划".into(),
        goal: pb::Goal::Sales as i32,
        products: vec![pb::PlanProduct {
            product_id: "sku1".into(),
            commission_bps: 2_000,
        }],
        creator_ids: ids,
        source: pb::PlanSource::PlanManagement as i32,
        creator_handles: vec![],
    };
    let e = client
        .create_plan(req(
            &signer,
            SHOP,
            Role::Owner,
            plan((0..31).map(|i| format!("c{i}")).collect()),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        e.get_details_bad_request().unwrap().field_violations[0].field,
        "creator_ids"
    );
    client
        .create_plan(req(
            &signer,
            SHOP,
            Role::Owner,
            plan((0..30).map(|i| format!("c{i}")).collect()),
        ))
        .await
        .unwrap();
    client
        .answer_plan(req(
            &signer,
            SHOP,
            Role::Platform,
            pb::AnswerPlanRequest {
                shop_id: SHOP.into(),
                plan_id: "p1".into(),
                creator_id: "c3".into(),
                accepted: true,
            },
        ))
        .await
        .unwrap();
    let sold = client
        .record_plan_sale(req(
            &signer,
            SHOP,
            Role::Platform,
            pb::RecordPlanSaleRequest {
                shop_id: SHOP.into(),
                plan_id: "p1".into(),
                product_id: "sku1".into(),
                revenue_fen: 100_000,
                product_cost_fen: 40_000,
                order_id: "o1".into(),
                creator_id: "c3".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap()
        .sales
        .unwrap();
    assert_eq!(
        (sold.commission_fen, sold.roi_bps),
        (20_000, Some(6_666)),
        "R-AFF-1"
    );
    // Samples and content.
    client
        .ship_sample(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::ShipSampleRequest {
                shop_id: String::new(),
                sample_id: "s1".into(),
                creator_id: "c0".into(),
                product_id: "sku1".into(),
            },
        ))
        .await
        .unwrap();
    client
        .record_content_posted(req(
            &signer,
            SHOP,
            Role::Platform,
            pb::RecordContentPostedRequest {
                shop_id: SHOP.into(),
                sample_id: "s1".into(),
                kind: pb::ContentKind::Video as i32,
            },
        ))
        .await
        .unwrap();
    // Another shop sees nothing of this shop's plan.
    let e = client
        .get_plan(req(
            &signer,
            "shop-b",
            Role::Owner,
            pb::GetPlanRequest {
                shop_id: String::new(),
                plan_id: "p1".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    service.stop().await.unwrap();

    // Restarted on the same log: the metrics come back from the events (R-AFF-5).
    let (_service, mut client) = spawn(reopened, &clock, &signer).await;
    let c0 = client
        .get_creator(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::GetCreatorRequest {
                shop_id: String::new(),
                creator_id: "c0".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .creator
        .unwrap()
        .metrics
        .unwrap();
    assert_eq!(c0.fulfilment_bps, Some(10_000));
    assert_eq!(c0.reply_rate_bps, Some(10_000));
    assert_eq!(c0.mean_reply_secs, Some(600));
    let reliable = client
        .search_creators(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::SearchCreatorsRequest {
                min_fulfilment_bps: Some(5_000),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .creators;
    assert_eq!(reliable.len(), 1);
}

#[tokio::test]
async fn outreach_plans_and_metrics_over_grpc_on_sqlite_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("affiliate.db").display());
    let store = sellerdesk_eventstore::open(&url).await.unwrap();
    let reopened = sellerdesk_eventstore::open(&url).await.unwrap();
    outreach_story(store, reopened).await;
}

#[tokio::test]
async fn outreach_plans_and_metrics_over_grpc_on_postgresql() {
    let url = sellerdesk_testkit::fresh_postgres_url().await;
    let store = sellerdesk_eventstore::open(&url).await.unwrap();
    let reopened = sellerdesk_eventstore::open(&url).await.unwrap();
    outreach_story(store, reopened).await;
}

/// R-X-4 (issue 15): two replicas on one database. A creator profiled
/// through one is found and searchable through the other, which was
/// already running: the marketplace takes in the log's tail before a read.
#[tokio::test]
async fn r_x_4_the_marketplace_on_every_replica_has_every_replicas_writes() {
    let url = sellerdesk_testkit::fresh_postgres_url().await;
    let signer = TokenSigner::new("test");
    let clock = ManualClock::new(t("2026-03-04T02:00:00Z"));
    let (_a, mut a) = spawn(
        sellerdesk_eventstore::open(&url).await.unwrap(),
        &clock,
        &signer,
    )
    .await;
    let (_b, mut b) = spawn(
        sellerdesk_eventstore::open(&url).await.unwrap(),
        &clock,
        &signer,
    )
    .await;
    publish_creators(&mut a, &signer, 3).await;
    let found = b
        .get_creator(req(
            &signer,
            "shop-1",
            Role::Owner,
            pb::GetCreatorRequest {
                creator_id: "c2".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.creator.unwrap().profile.unwrap().handle, "@creator2");
    let searched = b
        .search_creators(req(
            &signer,
            "shop-1",
            Role::Owner,
            pb::SearchCreatorsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(searched.creators.len(), 3);
}

/// R-X-4: a replica starts from the marketplace's snapshot and the log's tail
/// past it, not from the whole log.
#[tokio::test]
async fn r_x_4_the_marketplace_starts_from_its_snapshot_and_the_tail() {
    use affiliate_svc::domain::{Command, CreatorProfile};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("affiliate.db").display());
    let store = sellerdesk_eventstore::open(&url).await.unwrap();
    let clock: Arc<dyn sellerdesk_runtime::Clock> = Arc::new(sellerdesk_runtime::SystemClock);
    let profile = |id: &str| Command::ProfileCreator {
        profile: CreatorProfile {
            creator_id: id.into(),
            handle: format!("@{id}"),
            followers: 1_000,
            ..CreatorProfile::default()
        },
    };
    let md = sellerdesk_eventstore::Metadata::default();
    let app = affiliate_svc::app::Affiliate::open(store.clone(), clock.clone(), Default::default())
        .await
        .unwrap();
    app.execute(None, &md, |_| profile("c1")).await.unwrap();
    assert!(app.save_market().await.unwrap());
    assert!(!app.save_market().await.unwrap(), "nothing new to save");
    // A creator the snapshot does not have yet: the tail brings it.
    app.execute(None, &md, |_| profile("c2")).await.unwrap();
    // The snapshot is what a start reads: one that says more than the log
    // (a creator no event ever profiled) shows through.
    let mut kept = store
        .load_snapshot("affiliate:marketplace")
        .await
        .unwrap()
        .unwrap();
    let mut market: serde_json::Value = serde_json::from_str(&kept.body).unwrap();
    let creators = market["creators"].as_array_mut().unwrap();
    let mut ghost = creators[0].clone();
    ghost["profile"]["creator_id"] = "ghost".into();
    ghost["profile"]["handle"] = "@ghost".into();
    creators.push(ghost);
    kept.body = market.to_string();
    store.save_snapshots(&[kept]).await.unwrap();
    let reopened = affiliate_svc::app::Affiliate::open(store.clone(), clock, Default::default())
        .await
        .unwrap();
    let ids = reopened
        .market_now(|m| {
            ["c1", "c2", "ghost"]
                .iter()
                .filter(|id| m.contains(id))
                .count()
        })
        .await
        .unwrap();
    assert_eq!(ids, 3, "c1 and ghost from the snapshot, c2 from the tail");
}

fn reason(e: &tonic::Status) -> String {
    e.get_details_precondition_failure()
        .and_then(|p| p.violations.first().map(|v| v.r#type.clone()))
        .unwrap_or_default()
}

/// R-CMP-13 (issue 19): affiliate-svc hears compliance-svc. Tier 3 (36
/// points) forbids new creator invitations with FAILED_PRECONDITION naming
/// the measure and its tier; a granted appeal lowers the tier and they are
/// accepted again; revoked rights (48 points) forbid them too.
#[tokio::test]
async fn r_cmp_13_penalties_from_compliance_stop_outreach_until_an_appeal() {
    use sellerdesk_api::compliance::v1::{
        self as cpb, compliance_service_client::ComplianceServiceClient,
    };
    let dir = tempfile::tempdir().unwrap();
    let db = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let signer = TokenSigner::new("test");
    let bus = Arc::new(InProcessBus::new());
    let clock = ManualClock::new(t("2026-03-04T02:00:00Z"));
    let compliance = compliance_svc::Application::spawn_local(compliance_svc::Settings {
        store: sellerdesk_eventstore::open(&db("compliance.db"))
            .await
            .unwrap(),
        bus: bus.clone(),
        durable_bus: false,
        clock: Arc::new(clock.clone()),
        clock_changes: None,
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
    let mut cmp = ComplianceServiceClient::new(channel);
    let service = Application::spawn_local(Settings {
        store: sellerdesk_eventstore::open(&db("affiliate.db"))
            .await
            .unwrap(),
        bus,
        durable_bus: false,
        clock: Arc::new(clock.clone()),
        verifier: signer.verifier(),
        request_timeout: Duration::from_secs(10),
        limits: Limits {
            daily_invitations: 100,
            ..Limits::default()
        },
    })
    .await
    .unwrap();
    let channel = Channel::from_shared(service.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = AffiliateServiceClient::new(channel);
    publish_creators(&mut client, &signer, 3).await;
    let invite = |id: &str, creator: &str| pb::SendInvitationRequest {
        shop_id: String::new(),
        invitation_id: id.into(),
        creator_id: creator.into(),
        goal: pb::Goal::Sales as i32,
        message: "您好，想邀请您带货".into(),
    };
    let record = |id: &str, points: u32| {
        req(
            &signer,
            SHOP,
            Role::Platform,
            cpb::RecordViolationRequest {
                shop_id: SHOP.into(),
                violation_id: id.into(),
                violation_type: "counterfeit".into(),
                points: Some(points),
                evidence: "".into(),
            },
        )
    };
    cmp.record_violation(record("v-36", 36)).await.unwrap();
    let mut refused = None;
    for i in 0..100 {
        match client
            .send_invitation(req(
                &signer,
                SHOP,
                Role::Owner,
                invite(&format!("i{i}"), "c0"),
            ))
            .await
        {
            // Until the tier change arrives, the first invitation may go
            // out; the next ones to c0 are then refused as pending.
            Err(e) if reason(&e) == "MEASURE_IN_FORCE" => {
                refused = Some(e);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let e = refused.expect("affiliate-svc learned of tier 3 within 5 s");
    let v = &e.get_details_precondition_failure().unwrap().violations[0];
    assert_eq!(v.r#type, "MEASURE_IN_FORCE");
    assert!(v.description.contains("tier"), "{}", v.description);
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
    let mut last = None;
    for _ in 0..100 {
        match client
            .send_invitation(req(
                &signer,
                SHOP,
                Role::Owner,
                invite("after-appeal", "c1"),
            ))
            .await
        {
            Ok(_) => {
                last = None;
                break;
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        last.is_none(),
        "the appeal lowered the tier and lifted the measures: {last:?}"
    );
    // 48 points: rights revoked, and outreach with them.
    cmp.record_violation(record("v-48", 48)).await.unwrap();
    let mut revoked = None;
    for i in 0..100 {
        match client
            .send_invitation(req(
                &signer,
                SHOP,
                Role::Owner,
                invite(&format!("r{i}"), "c2"),
            ))
            .await
        {
            Err(e) if reason(&e) == "SELLING_RIGHTS_REVOKED" => {
                revoked = Some(e);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    revoked.expect("affiliate-svc learned of the revocation within 5 s");
}

/// R-AFF-2 over the wire: paging with a token and a total, keyword and
/// handle search, a token replayed with other filters refused.
/// R-AFF-4, R-AFF-6: a plan from handles, edited, answered and ended.
#[tokio::test]
async fn r_aff_2_pages_and_r_aff_6_plan_lifecycle_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("affiliate.db").display());
    let store = sellerdesk_eventstore::open(&url).await.unwrap();
    let signer = TokenSigner::new("test");
    let clock = ManualClock::new(t("2026-03-04T02:00:00Z"));
    let (_service, mut client) = spawn(store, &clock, &signer).await;
    publish_creators(&mut client, &signer, 7).await;
    let search = |r: pb::SearchCreatorsRequest| req(&signer, SHOP, Role::Agent, r);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .search_creators(search(pb::SearchCreatorsRequest {
                limit: 3,
                page_token: token.clone(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.total, 7);
        seen.extend(
            page.creators
                .into_iter()
                .map(|c| c.profile.unwrap().creator_id),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen,
        ["c6", "c5", "c4", "c3", "c2", "c1", "c0"],
        "by followers, each once"
    );
    let first = client
        .search_creators(search(pb::SearchCreatorsRequest {
            limit: 1,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let e = client
        .search_creators(search(pb::SearchCreatorsRequest {
            limit: 1,
            category: "美妆".into(),
            page_token: first.next_page_token,
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.get_details_bad_request().unwrap().field_violations[0].field,
        "page_token"
    );
    let found = client
        .search_creators(search(pb::SearchCreatorsRequest {
            handle: "@CREATOR3".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            found.total,
            found.creators[0]
                .profile
                .as_ref()
                .unwrap()
                .creator_id
                .as_str()
        ),
        (1, "c3")
    );
    let found = client
        .search_creators(search(pb::SearchCreatorsRequest {
            keyword: "TOR".into(),
            category: "服饰".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.total, 3, "c1, c3, c5");

    // R-AFF-4: from handles; unknown ones reported one by one.
    let plan = |handles: &[&str]| pb::CreatePlanRequest {
        plan_id: "p1".into(),
        name: "春季定向计划".into(),
        goal: pb::Goal::Sales as i32,
        products: vec![pb::PlanProduct {
            product_id: "sku1".into(),
            commission_bps: 2_000,
        }],
        creator_handles: handles.iter().map(|h| h.to_string()).collect(),
        ..Default::default()
    };
    let e = client
        .create_plan(req(
            &signer,
            SHOP,
            Role::Owner,
            plan(&["@creator1", "@nobody", "@none"]),
        ))
        .await
        .unwrap_err();
    let fields: Vec<String> = e
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["creator_handles[1]", "creator_handles[2]"]);
    let created = client
        .create_plan(req(
            &signer,
            SHOP,
            Role::Owner,
            plan(&["@Creator1", "@creator2"]),
        ))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(created.creator_ids, ["c1", "c2"]);
    assert!(created
        .creators
        .iter()
        .all(|c| c.answer == pb::PlanAnswer::Pending as i32));
    // R-AFF-6: an agent may not edit it; the owner may.
    let edit = pb::EditPlanRequest {
        plan_id: "p1".into(),
        name: Some("夏季定向".into()),
        ..Default::default()
    };
    let e = client
        .edit_plan(req(&signer, SHOP, Role::Agent, edit.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let edited = client
        .edit_plan(req(&signer, SHOP, Role::Owner, edit.clone()))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(
        (edited.name.as_str(), edited.products.len()),
        ("夏季定向", 1)
    );
    let answered = client
        .answer_plan(req(
            &signer,
            "",
            Role::Platform,
            pb::AnswerPlanRequest {
                shop_id: SHOP.into(),
                plan_id: "p1".into(),
                creator_id: "c2".into(),
                accepted: true,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(answered.creators[1].answer, pb::PlanAnswer::Accepted as i32);
    let ended = client
        .end_plan(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::EndPlanRequest {
                plan_id: "p1".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert!(ended.ended_at.is_some());
    let e = client
        .edit_plan(req(&signer, SHOP, Role::Owner, edit))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (Code::FailedPrecondition, "PLAN_ENDED")
    );
}

/// Record `id` of a read model of records once its projector has written
/// it as `done` wants; None if that takes more than 5 s.
async fn projected<R: sellerdesk_runtime::records::Record>(
    url: &str,
    records: &sellerdesk_runtime::records::Records,
    id: &str,
    done: impl Fn(&R) -> bool,
) -> Option<R> {
    let reader = sellerdesk_eventstore::open(url).await.unwrap();
    let done = &done;
    sellerdesk_testkit::eventually(Duration::from_secs(5), || {
        let store = reader.clone();
        async move {
            records
                .get::<R>(store.as_ref(), SHOP, id)
                .await
                .unwrap()
                .filter(|r| done(r))
        }
    })
    .await
}

/// A plan: sku1 at 10% commission, sent to creator c0.
async fn create_commission_plan(
    client: &mut AffiliateServiceClient<Channel>,
    signer: &TokenSigner,
    plan_id: &str,
) -> pb::Plan {
    client
        .create_plan(req(
            signer,
            SHOP,
            Role::Owner,
            pb::CreatePlanRequest {
                plan_id: plan_id.into(),
                name: "佣金".into(),
                goal: pb::Goal::Sales as i32,
                products: vec![pb::PlanProduct {
                    product_id: "sku1".into(),
                    commission_bps: 1_000,
                }],
                creator_ids: vec!["c0".into()],
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap()
}

/// c0 accepts plan p1 (relayed by the platform).
async fn accept_commission_plan(
    client: &mut AffiliateServiceClient<Channel>,
    signer: &TokenSigner,
) {
    client
        .answer_plan(req(
            signer,
            "",
            Role::Platform,
            pb::AnswerPlanRequest {
                shop_id: SHOP.into(),
                plan_id: "p1".into(),
                creator_id: "c0".into(),
                accepted: true,
            },
        ))
        .await
        .unwrap();
}

/// Issue 19 over gRPC: an attributed order earns its creator a commission,
/// a refund claws back its share, settlements pay what is due once; the
/// shop's time zone is an IANA name.
#[tokio::test]
async fn commissions_settle_and_claw_back_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("affiliate.db").display());
    let store = sellerdesk_eventstore::open(&url).await.unwrap();
    let signer = TokenSigner::new("test");
    let clock = ManualClock::new(t("2026-03-04T02:00:00Z"));
    let (_service, mut client) = spawn(store, &clock, &signer).await;
    publish_creators(&mut client, &signer, 2).await;
    fn platform_as<T>(signer: &TokenSigner, m: T) -> Request<T> {
        req(signer, "", Role::Platform, m)
    }
    create_commission_plan(&mut client, &signer, "p1").await;
    let sale = pb::RecordPlanSaleRequest {
        shop_id: SHOP.into(),
        plan_id: "p1".into(),
        product_id: "sku1".into(),
        revenue_fen: 30_000,
        product_cost_fen: 10_000,
        order_id: "o1".into(),
        creator_id: "c0".into(),
    };
    let e = client
        .record_plan_sale(platform_as(&signer, sale.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (Code::FailedPrecondition, "PLAN_NOT_ACCEPTED")
    );
    accept_commission_plan(&mut client, &signer).await;
    client
        .record_plan_sale(platform_as(&signer, sale))
        .await
        .unwrap();
    let settle = |id: &str| pb::SettleCommissionsRequest {
        shop_id: SHOP.into(),
        settlement_id: id.into(),
    };
    let paid = client
        .settle_commissions(platform_as(&signer, settle("m1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (paid.lines[0].creator_id.as_str(), paid.lines[0].amount_fen),
        ("c0", 3_000)
    );
    assert!(client
        .settle_commissions(platform_as(&signer, settle("m1")))
        .await
        .unwrap()
        .into_inner()
        .lines
        .is_empty());
    let refund = |fen| pb::RecordOrderRefundRequest {
        shop_id: SHOP.into(),
        order_id: "o1".into(),
        refund_fen: fen,
    };
    let e = client
        .record_order_refund(platform_as(&signer, refund(30_001)))
        .await
        .unwrap_err();
    assert_eq!(
        e.get_details_bad_request().unwrap().field_violations[0].field,
        "refund_fen"
    );
    let refunded = client
        .record_order_refund(platform_as(&signer, refund(10_000)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refunded.commission_clawback_fen, 1_000);
    assert_eq!(refunded.plan.unwrap().sales.unwrap().refunded_fen, 10_000);
    let accounts = client
        .list_commissions(req(
            &signer,
            SHOP,
            Role::Agent,
            pb::ListCommissionsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .commissions;
    assert_eq!(
        (
            accounts[0].earned_fen,
            accounts[0].clawed_back_fen,
            accounts[0].settled_fen,
            accounts[0].due_fen
        ),
        (3_000, 1_000, 3_000, -1_000)
    );
    // R-X-3: a zone is an IANA name; owners set it.
    let zone = |z: &str| pb::SetTimeZoneRequest {
        time_zone: z.into(),
        ..Default::default()
    };
    let e = client
        .set_time_zone(req(&signer, SHOP, Role::Owner, zone("UTC+8")))
        .await
        .unwrap_err();
    assert_eq!(
        e.get_details_bad_request().unwrap().field_violations[0].field,
        "time_zone"
    );
    let e = client
        .set_time_zone(req(&signer, SHOP, Role::Agent, zone("Asia/Tokyo")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let set = client
        .set_time_zone(req(&signer, SHOP, Role::Owner, zone("Asia/Tokyo")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(set.time_zone, "Asia/Tokyo");
}

/// The first page (one invitation) of the shop's invitation history once
/// the projector has written what `done` wants, for up to 5 s.
async fn newest_invitation(
    client: &AffiliateServiceClient<Channel>,
    signer: &TokenSigner,
    done: fn(&pb::Invitation) -> bool,
) -> Option<pb::ListInvitationHistoryResponse> {
    sellerdesk_testkit::eventually(Duration::from_secs(5), || {
        let mut client = client.clone();
        let request = req(
            signer,
            SHOP,
            Role::Owner,
            pb::ListInvitationHistoryRequest {
                shop_id: String::new(),
                page: Some(sellerdesk_api::common::v1::PageRequest {
                    page_size: 1,
                    page_token: String::new(),
                }),
            },
        );
        async move {
            let page = client
                .list_invitation_history(request)
                .await
                .unwrap()
                .into_inner();
            page.invitations.first().is_some_and(done).then_some(page)
        }
    })
    .await
}

/// R-AFF-6, R-X-4 (decision 0022) over gRPC: an invitation sent 180 days
/// ago leaves the shop's outreach when it sends another. ListInvitations
/// no longer lists it; ListInvitationHistory still does, newest first and
/// a page at a time, as the outreach had it; its id stays taken and an
/// answer to it is refused as expired.
#[tokio::test]
async fn r_x_4_an_archived_invitation_is_listed_from_the_read_model_and_stays_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("affiliate.db").display());
    let store = sellerdesk_eventstore::open(&url).await.unwrap();
    let signer = TokenSigner::new("test");
    let clock = ManualClock::new(t("2026-03-04T02:00:00Z"));
    let (_service, mut client) = spawn(store, &clock, &signer).await;
    publish_creators(&mut client, &signer, 2).await;
    let invite = |id: &str, creator: &str| pb::SendInvitationRequest {
        shop_id: String::new(),
        invitation_id: id.into(),
        creator_id: creator.into(),
        goal: pb::Goal::Sales as i32,
        message: "合作吗".into(),
    };
    client
        .send_invitation(req(&signer, SHOP, Role::Owner, invite("old", "c0")))
        .await
        .unwrap();
    let answered = client
        .answer_invitation(req(
            &signer,
            SHOP,
            Role::Platform,
            pb::AnswerInvitationRequest {
                shop_id: SHOP.into(),
                invitation_id: "old".into(),
                accepted: true,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .invitation
        .unwrap();
    let history = |token: &str| pb::ListInvitationHistoryRequest {
        shop_id: String::new(),
        page: Some(sellerdesk_api::common::v1::PageRequest {
            page_size: 1,
            page_token: token.into(),
        }),
    };
    // 180 days pass: the projector has long written the answer by then.
    assert!(
        newest_invitation(&client, &signer, |i| i.answered)
            .await
            .is_some(),
        "the answer reached the read model within 5 s"
    );

    clock.set(t("2026-08-31T02:00:00Z"));
    let sent = client
        .send_invitation(req(&signer, SHOP, Role::Owner, invite("new", "c1")))
        .await
        .unwrap()
        .into_inner()
        .invitation
        .unwrap();
    let listed: Vec<String> = client
        .list_invitations(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::ListInvitationsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .invitations
        .into_iter()
        .map(|i| i.invitation_id)
        .collect();
    assert_eq!(listed, ["new"], "the old invitation left the outreach");
    let again = client
        .send_invitation(req(&signer, SHOP, Role::Owner, invite("old", "c0")))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    let late = client
        .answer_invitation(req(
            &signer,
            SHOP,
            Role::Platform,
            pb::AnswerInvitationRequest {
                shop_id: SHOP.into(),
                invitation_id: "old".into(),
                accepted: true,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);

    let first = newest_invitation(&client, &signer, |i| i.invitation_id == "new")
        .await
        .expect("the new invitation reached the read model within 5 s");
    assert_eq!(first.invitations, [sent]);
    let token = first.page.unwrap().next_page_token;
    let second = client
        .list_invitation_history(req(&signer, SHOP, Role::Owner, history(&token)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.invitations, [answered]);
    assert!(second.page.unwrap().next_page_token.is_empty());
}

/// R-AFF-6, R-X-4 (decision 0022) over gRPC: a sample request rejected 180
/// days ago leaves the outreach when another sample comes; GetSample still
/// reads it, from the samples read model, as it was; its id stays taken.
#[tokio::test]
async fn r_x_4_an_archived_sample_is_read_from_the_read_model_and_its_id_stays_taken() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("affiliate.db").display());
    let store = sellerdesk_eventstore::open(&url).await.unwrap();
    let signer = TokenSigner::new("test");
    let clock = ManualClock::new(t("2026-03-04T02:00:00Z"));
    let (_service, mut client) = spawn(store, &clock, &signer).await;
    publish_creators(&mut client, &signer, 1).await;
    let ask = |id: &str| pb::RequestSampleRequest {
        shop_id: SHOP.into(),
        sample_id: id.into(),
        creator_id: "c0".into(),
        product_id: "sku9".into(),
    };
    client
        .request_sample(req(&signer, SHOP, Role::Platform, ask("old")))
        .await
        .unwrap();
    let rejected = client
        .review_sample_request(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::ReviewSampleRequestRequest {
                shop_id: String::new(),
                sample_id: "old".into(),
                approved: false,
                reason: "库存不足".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .sample
        .unwrap();
    let get = |id: &str| {
        req(
            &signer,
            SHOP,
            Role::Owner,
            pb::GetSampleRequest {
                shop_id: String::new(),
                sample_id: id.into(),
            },
        )
    };
    // 180 days pass: the projector has long written the rejection by then.
    let projected = projected(
        &url,
        &affiliate_svc::samples::SAMPLES,
        "old",
        |s: &affiliate_svc::domain::Sample| s.settled_at.is_some(),
    )
    .await;
    assert!(
        projected.is_some(),
        "the rejection reached the read model within 5 s"
    );

    clock.set(t("2026-08-31T02:00:00Z"));
    client
        .request_sample(req(&signer, SHOP, Role::Platform, ask("new")))
        .await
        .unwrap();
    let read = client
        .get_sample(get("old"))
        .await
        .unwrap()
        .into_inner()
        .sample;
    assert_eq!(read, Some(rejected), "read back as it was when it settled");
    let review = |id: &str| {
        req(
            &signer,
            SHOP,
            Role::Owner,
            pb::ReviewSampleRequestRequest {
                shop_id: String::new(),
                sample_id: id.into(),
                approved: true,
                reason: String::new(),
            },
        )
    };
    let late = client
        .review_sample_request(review("old"))
        .await
        .unwrap_err();
    assert_eq!(
        (late.code(), reason(&late).as_str()),
        (Code::FailedPrecondition, "SAMPLE_ARCHIVED")
    );
    let unknown = client
        .review_sample_request(review("nowhere"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let again = client
        .request_sample(req(&signer, SHOP, Role::Platform, ask("old")))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    assert_eq!(
        client.get_sample(get("nowhere")).await.unwrap_err().code(),
        Code::NotFound
    );
}

/// R-AFF-1, R-X-4 (decision 0022) over gRPC: an attributed order sold 90
/// days ago leaves the outreach when another sale comes; the orders read
/// model still holds it, so a late refund is refused with its reason and
/// the order id stays taken.
#[tokio::test]
async fn r_x_4_an_archived_attributed_order_refuses_refunds_and_keeps_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("affiliate.db").display());
    let store = sellerdesk_eventstore::open(&url).await.unwrap();
    let signer = TokenSigner::new("test");
    let clock = ManualClock::new(t("2026-03-04T02:00:00Z"));
    let (_service, mut client) = spawn(store, &clock, &signer).await;
    publish_creators(&mut client, &signer, 1).await;
    create_commission_plan(&mut client, &signer, "p1").await;
    accept_commission_plan(&mut client, &signer).await;
    let sale = |id: &str| {
        req(
            &signer,
            "",
            Role::Platform,
            pb::RecordPlanSaleRequest {
                shop_id: SHOP.into(),
                plan_id: "p1".into(),
                product_id: "sku1".into(),
                revenue_fen: 30_000,
                product_cost_fen: 10_000,
                order_id: id.into(),
                creator_id: "c0".into(),
            },
        )
    };
    let refund = |id: &str| {
        req(
            &signer,
            "",
            Role::Platform,
            pb::RecordOrderRefundRequest {
                shop_id: SHOP.into(),
                order_id: id.into(),
                refund_fen: 1_000,
            },
        )
    };
    client.record_plan_sale(sale("old")).await.unwrap();
    let projected = projected(
        &url,
        &affiliate_svc::orders::ORDERS,
        "old",
        |_: &affiliate_svc::domain::AttributedOrder| true,
    )
    .await;
    assert_eq!(
        projected.map(|o| (o.revenue_fen, o.commission_fen)),
        Some((30_000, 3_000)),
        "the sale reached the read model within 5 s"
    );

    clock.set(t("2026-06-02T02:00:00Z"));
    client.record_plan_sale(sale("new")).await.unwrap();
    let late = client.record_order_refund(refund("old")).await.unwrap_err();
    assert_eq!(
        (late.code(), reason(&late).as_str()),
        (Code::FailedPrecondition, "ORDER_ARCHIVED")
    );
    let again = client.record_plan_sale(sale("old")).await.unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    let fresh = client
        .record_order_refund(refund("new"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fresh.commission_clawback_fen, 100);
    assert_eq!(
        client
            .record_order_refund(refund("nowhere"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
}

/// R-AFF-6, R-X-4 (decision 0022) over gRPC: a plan ended 180 days ago
/// leaves the outreach when another plan is created; GetPlan still reads
/// it, from the plans read model, as it ended; its id stays taken.
#[tokio::test]
async fn r_x_4_an_archived_plan_is_read_from_the_read_model_and_its_id_stays_taken() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("affiliate.db").display());
    let store = sellerdesk_eventstore::open(&url).await.unwrap();
    let signer = TokenSigner::new("test");
    let clock = ManualClock::new(t("2026-03-04T02:00:00Z"));
    let (_service, mut client) = spawn(store, &clock, &signer).await;
    publish_creators(&mut client, &signer, 1).await;
    create_commission_plan(&mut client, &signer, "old").await;
    let end = |id: &str| {
        req(
            &signer,
            SHOP,
            Role::Owner,
            pb::EndPlanRequest {
                shop_id: String::new(),
                plan_id: id.into(),
            },
        )
    };
    let ended = client
        .end_plan(end("old"))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    let projected = projected(
        &url,
        &affiliate_svc::plans::PLANS,
        "old",
        |p: &affiliate_svc::domain::Plan| p.ended_at.is_some(),
    )
    .await;
    assert!(
        projected.is_some(),
        "the end reached the read model within 5 s"
    );

    clock.set(t("2026-08-31T02:00:00Z"));
    create_commission_plan(&mut client, &signer, "new").await;
    let get = |id: &str| {
        req(
            &signer,
            SHOP,
            Role::Owner,
            pb::GetPlanRequest {
                shop_id: String::new(),
                plan_id: id.into(),
            },
        )
    };
    let read = client.get_plan(get("old")).await.unwrap().into_inner().plan;
    assert_eq!(read, Some(ended), "read back as it was when it ended");
    // A command on it is refused because it is archived, not because
    // nobody ever used the id.
    let late = client.end_plan(end("old")).await.unwrap_err();
    assert_eq!(
        (late.code(), reason(&late).as_str()),
        (Code::FailedPrecondition, "PLAN_ARCHIVED")
    );
    let unknown = client.end_plan(end("nowhere")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let again = client
        .create_plan(req(
            &signer,
            SHOP,
            Role::Owner,
            pb::CreatePlanRequest {
                plan_id: "old".into(),
                name: "佣金".into(),
                goal: pb::Goal::Sales as i32,
                creator_ids: vec!["c0".into()],
                products: vec![pb::PlanProduct {
                    product_id: "sku1".into(),
                    commission_bps: 1_000,
                }],
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    assert_eq!(
        client.get_plan(get("nowhere")).await.unwrap_err().code(),
        Code::NotFound
    );
}
