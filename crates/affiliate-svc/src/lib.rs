//! affiliate-svc: the creator marketplace (达人广场), outreach (建联),
//! targeted plans (定向计划) and creator reliability (R-AFF-1..5).
//!
//! It owns the affiliate event log and nothing else (R-X-2). [`domain`] is
//! pure; [`app`] loads, decides and appends and keeps the marketplace in
//! step; [`grpc`] maps the public API.

pub mod app;
pub mod domain;
pub mod grpc;

use sellerdesk_api::affiliate::v1::affiliate_service_server::AffiliateServiceServer;
use sellerdesk_bus::{relay, EventBus, RelayOptions};
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{auth::Authenticator, server, Clock, TokenVerifier};
use std::{future::Future, sync::Arc, time::Duration};
use tokio::net::TcpListener;

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

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    app: Arc<app::Affiliate>,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings, listener: TcpListener) -> Result<Self, String> {
        let app = app::Affiliate::open(
            settings.store.clone(),
            settings.clock.clone(),
            settings.limits,
        )
        .await
        .map_err(|e| format!("affiliate-svc: {e}"))?;
        Ok(Self {
            listener,
            app,
            settings,
        })
    }

    pub fn port(&self) -> u16 {
        server::local_addr(&self.listener).port()
    }

    /// Builds the service on a free loopback port and runs it in the background.
    pub async fn spawn_local(settings: Settings) -> Result<server::Running, String> {
        let listener = server::bind("127.0.0.1", 0)
            .await
            .map_err(|e| e.to_string())?;
        let app = Self::build(settings, listener).await?;
        let port = app.port();
        Ok(server::Running::spawn(port, |stopped| app.run(stopped)))
    }

    /// Serves until `shutdown`, with the outbox relay beside it.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let s = &self.settings;
        let relay = tokio::spawn(relay(
            s.store.clone(),
            s.bus.clone(),
            RelayOptions::new(SERVICE, s.durable_bus),
        ));
        let api = AffiliateServiceServer::with_interceptor(
            grpc::AffiliateApi::new(self.app.clone()),
            Authenticator::new(s.verifier.clone()),
        );
        let served = server::serve(
            self.listener,
            tonic::service::Routes::new(api),
            &["sellerdesk.affiliate.v1.AffiliateService"],
            s.bus.clone(),
            s.request_timeout,
            shutdown,
        )
        .await;
        relay.abort();
        served
    }
}
