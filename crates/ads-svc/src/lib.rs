//! ads-svc: promotion orders (小店随心推) and the shop's promotion account
//! (R-ADS-1..13).
//!
//! It owns the ads event log and nothing else. It learns that a shop's
//! selling rights were revoked or restored from compliance-svc's published
//! events (R-ADS-13, [`app::SellingRights`]), never from its database
//! (R-X-2). [`domain`] is pure; [`app`] loads, decides and appends; [`grpc`]
//! maps the public API.

pub mod app;
pub mod domain;
pub mod grpc;

use sellerdesk_api::ads::v1::ads_service_server::AdsServiceServer;
use sellerdesk_bus::{consume, relay, EventBus, RelayOptions};
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{auth::Authenticator, server, Clock, TokenVerifier};
use std::{future::Future, sync::Arc, time::Duration};
use tokio::net::TcpListener;

/// The service's name in subjects, ports and database files.
pub const SERVICE: &str = "ads";

#[derive(Debug, Clone)]
pub struct Settings {
    pub store: Arc<dyn EventStore>,
    pub bus: Arc<dyn EventBus>,
    pub durable_bus: bool,
    pub clock: Arc<dyn Clock>,
    pub verifier: TokenVerifier,
    pub request_timeout: Duration,
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    app: Arc<app::Ads>,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings, listener: TcpListener) -> Result<Self, String> {
        let app = Arc::new(app::Ads::new(
            settings.store.clone(),
            settings.clock.clone(),
        ));
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

    /// Serves until `shutdown`, with the outbox relay and the consumer of
    /// compliance-svc's events beside it.
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
        let rights = tokio::spawn(consume(
            s.bus.clone(),
            s.store.clone(),
            "compliance".into(),
            app::RIGHTS_CONSUMER.into(),
            "sellerdesk.compliance.*".into(),
            Arc::new(app::SellingRights {
                ads: self.app.clone(),
            }),
        ));
        let api = AdsServiceServer::with_interceptor(
            grpc::AdsApi::new(self.app.clone()),
            Authenticator::new(s.verifier.clone()),
        );
        let served = server::serve(
            self.listener,
            tonic::service::Routes::new(api),
            &["sellerdesk.ads.v1.AdsService"],
            s.bus.clone(),
            s.request_timeout,
            shutdown,
        )
        .await;
        rights.abort();
        relay.abort();
        served
    }
}
