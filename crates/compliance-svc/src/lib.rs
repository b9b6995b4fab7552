//! compliance-svc: violation points, penalty tiers and appeals (R-CMP-1..12).
//!
//! It owns the compliance event log and nothing else. [`domain`] is pure
//! (decide/evolve, no I/O, no clock); [`app`] loads, decides and appends with
//! retries and keeps the read models; [`grpc`] maps the public API onto it.
//! It must never read another service's database: others learn of its changes
//! from the bus (`SellingRightsRevoked`, `SellingRightsRestored`, ...).

pub mod app;
pub mod bench_support;
pub mod domain;
pub mod grpc;
pub mod store;

use sellerdesk_api::compliance::v1::compliance_service_server::ComplianceServiceServer;
use sellerdesk_bus::{relay, EventBus, RelayOptions};
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{auth::Authenticator, server, Clock, TokenVerifier};
use std::{future::Future, sync::Arc, time::Duration};
use tokio::net::TcpListener;

/// The service's name in subjects, ports and database files.
pub const SERVICE: &str = "compliance";

/// What the service needs from its host process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub store: Arc<dyn EventStore>,
    pub bus: Arc<dyn EventBus>,
    /// Whether the bus keeps messages across restarts (JetStream) or not (in-process).
    pub durable_bus: bool,
    pub clock: Arc<dyn Clock>,
    /// Wakes the scheduler when a manual clock jumps (tests, scenario runner).
    pub clock_changes: Option<tokio::sync::watch::Receiver<domain::Instant>>,
    pub verifier: TokenVerifier,
    pub request_timeout: Duration,
}

/// A built, bound compliance-svc, ready to run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    app: Arc<app::Compliance>,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings, listener: TcpListener) -> Result<Self, String> {
        let app = app::Compliance::open(settings.store.clone(), settings.clock.clone())
            .await
            .map_err(|e| format!("compliance-svc: {e}"))?;
        Ok(Self {
            listener,
            app,
            settings,
        })
    }

    pub fn port(&self) -> u16 {
        server::local_addr(&self.listener).port()
    }

    pub fn app(&self) -> Arc<app::Compliance> {
        self.app.clone()
    }

    /// Builds the service on a free loopback port and runs it in the background
    /// (tests, the scenario runner, load drivers).
    pub async fn spawn_local(settings: Settings) -> Result<server::Running, String> {
        let listener = server::bind("127.0.0.1", 0)
            .await
            .map_err(|e| e.to_string())?;
        let app = Self::build(settings, listener).await?;
        let port = app.port();
        Ok(server::Running::spawn(port, |stopped| app.run(stopped)))
    }

    /// Serves until `shutdown`, with the scheduler and the outbox relay beside it.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let scheduler = tokio::spawn(
            self.app
                .clone()
                .run_scheduler(self.settings.clock_changes.clone()),
        );
        let projector = tokio::spawn(self.app.clone().run_projector());
        let relay = tokio::spawn(relay(
            self.settings.store.clone(),
            self.settings.bus.clone(),
            RelayOptions::new(SERVICE, self.settings.durable_bus),
        ));
        let api = ComplianceServiceServer::with_interceptor(
            grpc::ComplianceApi::new(self.app.clone()),
            Authenticator::new(self.settings.verifier.clone()),
        );
        let routes = tonic::service::Routes::new(api);
        let served = server::serve(
            self.listener,
            routes,
            &["sellerdesk.compliance.v1.ComplianceService"],
            self.settings.bus.clone(),
            self.settings.request_timeout,
            shutdown,
        )
        .await;
        scheduler.abort();
        projector.abort();
        relay.abort();
        served
    }
}

/// A compliance-svc running in the background on a loopback port.
pub type Running = server::Running;
