//! affiliate-svc: the creator marketplace (达人广场), outreach (建联),
//! targeted plans (定向计划) and creator reliability (R-AFF-1..5).
//!
//! It owns the affiliate event log and nothing else (R-X-2). [`domain`] is
//! pure; [`app`] loads, decides and appends and keeps the marketplace in
//! step; [`grpc`] maps the public API.

pub mod app;
pub mod domain;
pub mod grpc;
pub mod invitations;
pub mod orders;
pub mod plans;
pub mod samples;
pub mod seed;

use sellerdesk_api::affiliate::v1::affiliate_service_server::AffiliateServiceServer;
use sellerdesk_bus::{consume, EventBus};
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{
    auth::Authenticator,
    host::{Host, Hosting, Service, Tasks, Work},
    Clock, Config, TokenVerifier,
};
use std::{sync::Arc, time::Duration};

/// The service's name in subjects, ports and database files.
pub const SERVICE: &str = "affiliate";

#[derive(Debug, Clone)]
pub struct Settings {
    pub store: Arc<dyn EventStore>,
    pub bus: Arc<dyn EventBus>,
    pub durable_bus: bool,
    pub clock: Arc<dyn Clock>,
    pub verifier: TokenVerifier,
    pub request_timeout: Duration,
    pub limits: domain::Limits,
}
sellerdesk_runtime::host_settings!(Settings);

/// affiliate-svc as its host runs it.
#[derive(Debug)]
pub struct Affiliate {
    pub app: Arc<app::Affiliate>,
}

/// A built, bound affiliate-svc, ready to run.
pub type Application = Host<Affiliate>;

#[async_trait::async_trait]
impl Service for Affiliate {
    const NAME: &'static str = SERVICE;
    const GRPC_SERVICE: &'static str = "sellerdesk.affiliate.v1.AffiliateService";
    const DEFAULT_PORT: u16 = 50054;
    type Settings = Settings;

    fn settings(hosting: Hosting, config: &Config) -> Settings {
        sellerdesk_runtime::settings_from!(
            hosting,
            Settings {
                limits: domain::Limits {
                    daily_invitations: config.affiliate_daily_invitations,
                    invitation_days: config.affiliate_invitation_days,
                    sample_content_days: config.affiliate_sample_content_days,
                },
            }
        )
    }

    async fn open(s: &Settings, _: &Tasks) -> Result<Self, String> {
        let app = app::Affiliate::open(s.store.clone(), s.clock.clone(), s.limits)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self { app })
    }

    /// The marketplace snapshot, kept by one replica at a time; the consumer
    /// of compliance-svc's penalties (R-CMP-13) on every replica (the
    /// durable consumer shares the messages out; each applies by position).
    fn tasks(&self, s: &Settings) -> Vec<Work> {
        let app = self.app.clone();
        let consumer = consume(
            s.bus.clone(),
            s.store.clone(),
            "compliance".into(),
            app::COMPLIANCE_CONSUMER.into(),
            "sellerdesk.compliance.*".into(),
            Arc::new(app::CompliancePenalties {
                affiliate: self.app.clone(),
            }),
        );
        let (store, samples_store, orders_store, plans_store) = (
            s.store.clone(),
            s.store.clone(),
            s.store.clone(),
            s.store.clone(),
        );
        vec![
            Work::once("marketplace-snapshot", move || {
                Box::pin(app.clone().keep_market_snapshot())
            }),
            Work::Everywhere(Box::pin(consumer)),
            // The read models of records are written on one replica at a time.
            Work::once("invitations", move || {
                Box::pin(invitations::INVITATIONS.run::<domain::Invitation>(store.clone()))
            }),
            Work::once("samples", move || {
                Box::pin(samples::SAMPLES.run::<domain::Sample>(samples_store.clone()))
            }),
            Work::once("orders", move || {
                Box::pin(orders::ORDERS.run::<domain::AttributedOrder>(orders_store.clone()))
            }),
            Work::once("plans", move || {
                Box::pin(plans::PLANS.run::<domain::Plan>(plans_store.clone()))
            }),
        ]
    }

    fn routes(&self, auth: Authenticator) -> tonic::service::Routes {
        tonic::service::Routes::new(AffiliateServiceServer::with_interceptor(
            grpc::AffiliateApi::new(self.app.clone()),
            auth,
        ))
    }
}
