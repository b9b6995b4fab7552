//! What an outside integration suite writes: sellerdesk in containers and
//! its clients. Needs a Docker engine and the image, so it is run by
//! scripts/containers.sh (`--run-ignored only`), which has both.

use sellerdesk_api::{
    ads::v1::GetAccountRequest,
    compliance::v1::{GetStandingRequest, RecordViolationRequest},
    faq::v1::MatchRequest,
};
use sellerdesk_testcontainers::{Layout, Role, Sellerdesk};

async fn record_and_read(sd: &Sellerdesk, shop: &str) {
    let mut platform = sd.compliance("", Role::Platform).await.unwrap();
    let recorded = platform
        .record_violation(RecordViolationRequest {
            shop_id: shop.into(),
            violation_id: "tc-1".into(),
            points: Some(12),
            violation_type: "false_advertising".into(),
            ..Default::default()
        })
        .await
        .expect("R-CMP-5 the platform records a violation")
        .into_inner();
    assert_eq!(recorded.standing.unwrap().tier, 1);
    let mut owner = sd.compliance(shop, Role::Owner).await.unwrap();
    let standing = owner
        .get_standing(GetStandingRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(standing.standing.unwrap().points, 12);
    // Another shop's token sees none of it (R-X-1).
    let mut other = sd.compliance("tc-other", Role::Owner).await.unwrap();
    let refused = other
        .get_standing(GetStandingRequest {
            shop_id: shop.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::NotFound);
}

#[tokio::test]
#[ignore = "needs Docker and the sellerdesk image: run by scripts/containers.sh"]
async fn embedded_container_answers_authenticated_clients() {
    let sd = Sellerdesk::shared(Layout::Embedded).await.unwrap();
    record_and_read(&sd, "tc-embedded").await;
    let mut faq = sd.faq("tc-embedded", Role::Agent).await.unwrap();
    let matched = faq
        .r#match(MatchRequest {
            query: "几天能发货".into(),
            ..Default::default()
        })
        .await
        .expect("R-FAQ-7 the robot answers from the presets")
        .into_inner();
    assert!(matched.best.is_some(), "{matched:?}");
}

#[tokio::test]
#[ignore = "needs Docker and the sellerdesk image: run by scripts/containers.sh"]
async fn the_whole_stack_on_postgres_and_nats() {
    let sd = Sellerdesk::start(Layout::Stack).await.unwrap();
    record_and_read(&sd, "tc-stack").await;
    // Tier 1 restricts marketing (R-CMP-5); ads-svc hears it over NATS and
    // stops taking orders (R-CMP-13).
    let mut ads = sd.ads("tc-stack", Role::Owner).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let account = ads
            .get_account(GetAccountRequest::default())
            .await
            .unwrap()
            .into_inner();
        if !account.may_place_orders {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tier 1 never reached ads-svc: {account:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
