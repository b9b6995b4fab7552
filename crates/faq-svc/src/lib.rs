//! faq-svc: the shop's FAQ knowledge base, greeting and FAQ cards, and the
//! robot that answers buyers from it (R-FAQ-1..9).
//!
//! It owns the FAQ event log and nothing else. [`domain`] is pure (decide and
//! evolve, no I/O, no clock); [`matcher`] is the pure matching engine;
//! [`app`] loads, decides, appends and keeps each knowledge base's index;
//! [`grpc`] maps the public API onto it. Others learn of its changes from the
//! bus; it never reads another service's data.

pub mod app;
pub mod bench_support;
pub mod domain;
pub mod eval;
pub mod grpc;
pub mod help_centre;
pub mod matcher;
pub mod presets;
pub mod store;

use sellerdesk_api::faq::v1::faq_service_server::FaqServiceServer;
use sellerdesk_bus::{relay, EventBus, RelayOptions};
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{auth::Authenticator, server, Clock, TokenVerifier};
use std::{future::Future, sync::Arc, time::Duration};
use tokio::net::TcpListener;

/// The service's name in subjects, ports and database files.
pub const SERVICE: &str = "faq";

/// What the service needs from its host process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub store: Arc<dyn EventStore>,
    pub bus: Arc<dyn EventBus>,
    /// Whether the bus keeps messages across restarts (JetStream) or not (in-process).
    pub durable_bus: bool,
    pub clock: Arc<dyn Clock>,
    pub verifier: TokenVerifier,
    pub request_timeout: Duration,
    pub limits: domain::Limits,
    /// Whether other processes append to the same store (PostgreSQL replicas):
    /// then each follows the log to fold their knowledge-base changes. An
    /// embedded SQLite store has one writer, and following would only reread
    /// every recorded interaction.
    pub follow_other_writers: bool,
}

/// A built, bound faq-svc, ready to run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    app: Arc<app::Faq>,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings, listener: TcpListener) -> Result<Self, String> {
        let app = app::Faq::open(
            settings.store.clone(),
            settings.clock.clone(),
            presets::builtin(),
            settings.limits,
        )
        .await
        .map_err(|e| format!("faq-svc: {e}"))?;
        Ok(Self {
            listener,
            app,
            settings,
        })
    }

    pub fn port(&self) -> u16 {
        server::local_addr(&self.listener).port()
    }

    pub fn app(&self) -> Arc<app::Faq> {
        self.app.clone()
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

    /// Serves until `shutdown`, with the outbox relay and the replica follower beside it.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let follower = self
            .settings
            .follow_other_writers
            .then(|| tokio::spawn(self.app.clone().run_follower()));
        let relay = tokio::spawn(relay(
            self.settings.store.clone(),
            self.settings.bus.clone(),
            RelayOptions::new(SERVICE, self.settings.durable_bus),
        ));
        let api = FaqServiceServer::with_interceptor(
            grpc::FaqApi::new(self.app.clone()),
            Authenticator::new(self.settings.verifier.clone()),
        );
        let served = server::serve(
            self.listener,
            tonic::service::Routes::new(api),
            &["sellerdesk.faq.v1.FaqService"],
            self.settings.bus.clone(),
            self.settings.request_timeout,
            shutdown,
        )
        .await;
        if let Some(f) = follower {
            f.abort();
        }
        relay.abort();
        served
    }
}
