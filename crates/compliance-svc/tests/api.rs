//! The public API over real gRPC: policies (R-CMP-5), the live standing
//! stream, and the events other services consume (R-ADS-13) on the bus.

use chrono::{DateTime, Duration, Utc};
use compliance_svc::{Application, Settings};
use sellerdesk_api::compliance::v1::{
    self as pb, compliance_service_client::ComplianceServiceClient,
};
use sellerdesk_bus::{EventBus, InProcessBus};
use sellerdesk_runtime::{auth::Claims, ManualClock, Role, TokenSigner};
use std::{sync::Arc, time::Duration as StdDuration};
use tonic::{transport::Channel, Code, Request};

struct TestApp {
    client: ComplianceServiceClient<Channel>,
    clock: ManualClock,
    bus: Arc<InProcessBus>,
    signer: TokenSigner,
    _service: compliance_svc::Running,
    _dir: tempfile::TempDir,
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

/// A compliance-svc on port 0 with its own database and a manual clock.
async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    spawn_app_on(&url, ManualClock::new(t("2026-01-01T00:00:00Z")), dir).await
}

/// A replica on the store at `url`, with `clock`.
async fn spawn_app_on(url: &str, clock: ManualClock, dir: tempfile::TempDir) -> TestApp {
    let store = sellerdesk_eventstore::open(url).await.unwrap();
    let bus = Arc::new(InProcessBus::new());
    let signer = TokenSigner::new("test");
    let settings = Settings {
        store,
        bus: bus.clone(),
        durable_bus: false,
        clock: Arc::new(clock.clone()),
        clock_changes: Some(clock.watch()),
        cache_shops: 10_000,
        verifier: signer.verifier(),
        request_timeout: StdDuration::from_secs(10),
    };
    let service = Application::spawn_local(settings).await.unwrap();
    let channel = Channel::from_shared(service.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    TestApp {
        client: ComplianceServiceClient::new(channel),
        clock,
        bus,
        signer,
        _service: service,
        _dir: dir,
    }
}

impl TestApp {
    fn req<T>(&self, shop: &str, role: Role, msg: T) -> Request<T> {
        let token = self.signer.mint(&Claims {
            shop: shop.into(),
            sub: "t".into(),
            role,
            exp: 4_000_000_000,
        });
        let mut r = Request::new(msg);
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        r
    }
    async fn record(&mut self, shop: &str, id: &str, points: u32) -> pb::RecordViolationResponse {
        let r = self.req(
            "",
            Role::Platform,
            pb::RecordViolationRequest {
                shop_id: shop.into(),
                violation_id: id.into(),
                points: Some(points),
                ..Default::default()
            },
        );
        self.client.record_violation(r).await.unwrap().into_inner()
    }
    async fn standing(&mut self, shop: &str, as_of: Option<DateTime<Utc>>) -> pb::Standing {
        let r = self.req(
            shop,
            Role::Owner,
            pb::GetStandingRequest {
                shop_id: String::new(),
                as_of: as_of.map(ts),
            },
        );
        self.client
            .get_standing(r)
            .await
            .unwrap()
            .into_inner()
            .standing
            .unwrap()
    }
}

fn policy(effective_at: DateTime<Utc>, thresholds: &[u32]) -> pb::Policy {
    pb::Policy {
        version: 0,
        effective_at: Some(ts(effective_at)),
        tiers: thresholds
            .iter()
            .enumerate()
            .map(|(i, p)| pb::Tier {
                level: i as u32 + 1,
                threshold_points: *p,
                measures: vec![],
            })
            .collect(),
        violation_types: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_cmp_5_a_published_policy_applies_from_its_effective_time_only() {
    let mut app = spawn_app().await;
    app.record("s", "v1", 10).await;
    assert_eq!(app.standing("s", None).await.tier, 0);
    // From March, tier 1 starts at 10 points.
    let r = app.req(
        "",
        Role::Platform,
        pb::PublishPolicyRequest {
            policy: Some(policy(t("2026-03-01T00:00:00Z"), &[10, 20, 30, 48])),
        },
    );
    let published = app
        .client
        .publish_policy(r)
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    assert_eq!(published.version, 2);
    app.clock.set(t("2026-03-02T00:00:00Z"));
    let now = app.standing("s", None).await;
    assert_eq!((now.points, now.tier, now.policy_version), (10, 1, 2));
    // The past keeps the policy that was in force then.
    let before = app.standing("s", Some(t("2026-02-01T00:00:00Z"))).await;
    assert_eq!((before.tier, before.policy_version), (0, 1));
    let r = app.req("s", Role::Owner, pb::ListPoliciesRequest {});
    assert_eq!(
        app.client
            .list_policies(r)
            .await
            .unwrap()
            .into_inner()
            .policies
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_cmp_5_policies_are_validated_and_never_rewrite_the_past() {
    let mut app = spawn_app().await;
    let past = app.req(
        "",
        Role::Platform,
        pb::PublishPolicyRequest {
            policy: Some(policy(t("2025-01-01T00:00:00Z"), &[12, 24])),
        },
    );
    assert_eq!(
        app.client.publish_policy(past).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    let bad = app.req(
        "",
        Role::Platform,
        pb::PublishPolicyRequest {
            policy: Some(policy(t("2026-02-01T00:00:00Z"), &[24, 12])),
        },
    );
    let err = app.client.publish_policy(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("policy.tiers.threshold_points"),
        "{}",
        err.message()
    );
    let owner = app.req(
        "s",
        Role::Owner,
        pb::PublishPolicyRequest {
            policy: Some(policy(t("2026-02-01T00:00:00Z"), &[12])),
        },
    );
    assert_eq!(
        app.client.publish_policy(owner).await.unwrap_err().code(),
        Code::PermissionDenied
    );
}

async fn next(s: &mut tonic::Streaming<pb::WatchStandingResponse>) -> pb::Standing {
    tokio::time::timeout(StdDuration::from_secs(10), s.message())
        .await
        .expect("a standing arrives")
        .unwrap()
        .unwrap()
        .standing
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_standing_streams_changes_including_expiry() {
    let mut app = spawn_app().await;
    let r = app.req(
        "w",
        Role::Agent,
        pb::WatchStandingRequest {
            shop_id: String::new(),
        },
    );
    let mut stream = app.client.watch_standing(r).await.unwrap().into_inner();
    assert_eq!(
        next(&mut stream).await.points,
        0,
        "the current standing first"
    );
    app.record("w", "v1", 12).await;
    let s = next(&mut stream).await;
    assert_eq!((s.points, s.tier), (12, 1));
    // 180 days later the points expire with no command: the scheduler tells watchers.
    app.clock
        .set(t("2026-01-01T00:00:00Z") + Duration::days(181));
    let s = next(&mut stream).await;
    assert_eq!((s.points, s.tier), (0, 0));
}

/// R-X-4 (issue 15, item 1): a watcher on one replica hears of a violation
/// recorded through another, and of a policy published there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_x_4_watch_standing_on_one_replica_sees_writes_through_another() {
    let url = sellerdesk_testkit::fresh_postgres_url().await;
    let clock = ManualClock::new(t("2026-01-01T00:00:00Z"));
    let mut a = spawn_app_on(&url, clock.clone(), tempfile::tempdir().unwrap()).await;
    let mut b = spawn_app_on(&url, clock.clone(), tempfile::tempdir().unwrap()).await;
    let r = b.req(
        "w",
        Role::Owner,
        pb::WatchStandingRequest {
            shop_id: String::new(),
        },
    );
    let mut stream = b.client.watch_standing(r).await.unwrap().into_inner();
    assert_eq!(next(&mut stream).await.points, 0);
    a.record("w", "v1", 12).await;
    let s = next(&mut stream).await;
    assert_eq!(
        (s.points, s.tier),
        (12, 1),
        "heard through the log from replica A"
    );
    a.record("w", "v2", 12).await;
    assert_eq!(next(&mut stream).await.points, 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_ads_13_revocation_and_restoration_are_published_on_the_bus() {
    let mut app = spawn_app().await;
    let mut sub = app
        .bus
        .subscribe("compliance", "ads-test", "sellerdesk.compliance.>")
        .await
        .unwrap();
    app.record("r", "v1", 40).await;
    app.record("r", "v2", 8).await;
    let r = app.req(
        "r",
        Role::Owner,
        pb::FileAppealRequest {
            violation_id: "v2".into(),
            ..Default::default()
        },
    );
    app.client.file_appeal(r).await.unwrap();
    let r = app.req(
        "",
        Role::Platform,
        pb::DecideAppealRequest {
            shop_id: "r".into(),
            violation_id: "v2".into(),
            outcome: pb::AppealOutcome::Granted as i32,
            note: String::new(),
        },
    );
    app.client.decide_appeal(r).await.unwrap();
    let mut subjects = Vec::new();
    while !subjects
        .iter()
        .any(|s: &String| s.ends_with("selling_rights_restored"))
    {
        let d = tokio::time::timeout(StdDuration::from_secs(10), sub.next())
            .await
            .expect("published")
            .unwrap()
            .unwrap();
        assert_eq!(d.message.shop_id, "r");
        subjects.push(d.message.subject.clone());
        d.ack().await.unwrap();
    }
    for expected in [
        "violation_recorded",
        "tier_changed",
        "selling_rights_revoked",
        "appeal_filed",
        "appeal_decided",
        "selling_rights_restored",
    ] {
        assert!(
            subjects.contains(&format!("sellerdesk.compliance.{expected}")),
            "{expected} missing from {subjects:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_violations_pages_stay_stable_while_new_ones_arrive() {
    let mut app = spawn_app().await;
    for i in 0..5 {
        app.record("p", &format!("v{i}"), 1).await;
    }
    let page = |token: &str| pb::ListViolationsRequest {
        shop_id: String::new(),
        page: Some(sellerdesk_api::common::v1::PageRequest {
            page_size: 2,
            page_token: token.into(),
        }),
    };
    let r = app.req("p", Role::Agent, page(""));
    let first = app.client.list_violations(r).await.unwrap().into_inner();
    let ids: Vec<_> = first
        .violations
        .iter()
        .map(|v| v.violation_id.clone())
        .collect();
    assert_eq!(ids, ["v4", "v3"], "newest first");
    app.record("p", "v5", 1).await;
    let token = first.page.unwrap().next_page_token;
    let r = app.req("p", Role::Agent, page(&token));
    let second = app.client.list_violations(r).await.unwrap().into_inner();
    let ids: Vec<_> = second
        .violations
        .iter()
        .map(|v| v.violation_id.clone())
        .collect();
    assert_eq!(
        ids,
        ["v2", "v1"],
        "a new violation does not shift the pages"
    );
    let r = app.req("p", Role::Agent, page("garbage"));
    assert_eq!(
        app.client.list_violations(r).await.unwrap_err().code(),
        Code::InvalidArgument
    );
}
