//! chat-svc: buyer conversations, customer-service agents and routing,
//! robot-first replies through faq-svc, live inboxes and response-time
//! figures (R-CHAT-1..11).
//!
//! It owns the chat event log and nothing else: it asks faq-svc over its
//! public gRPC API ([`robot`]) and never reads faq-svc's data (R-X-2).
//! [`domain`] is pure (decide and apply, no I/O, no clock); [`app`] drives
//! one desk per shop and commits in groups; [`grpc`] maps the public API.

pub mod app;
pub mod domain;
pub mod grpc;
pub mod robot;
pub mod store;

use sellerdesk_api::chat::v1::chat_service_server::ChatServiceServer;
use sellerdesk_bus::{relay, EventBus, RelayOptions};
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{auth::Authenticator, server, Clock, TokenVerifier};
use std::{future::Future, sync::Arc, time::Duration};
use tokio::net::TcpListener;

/// The service's name in subjects, ports and database files.
pub const SERVICE: &str = "chat";

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
    /// faq-svc's gRPC endpoint, e.g. `http://127.0.0.1:50052`.
    pub faq_endpoint: String,
    /// How long a buyer message waits for the robot before going to humans.
    pub robot_timeout: Duration,
    /// Whether the scheduler lets time act (tests drive it by hand instead).
    pub run_scheduler: bool,
}

/// A built, bound chat-svc, ready to run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    app: Arc<app::Chat>,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings, listener: TcpListener) -> Result<Self, String> {
        let robot = robot::Robot::new(&settings.faq_endpoint, settings.robot_timeout)?;
        let app = app::Chat::open(
            settings.store.clone(),
            settings.clock.clone(),
            settings.limits,
            Arc::new(robot),
        )
        .await
        .map_err(|e| format!("chat-svc: {e}"))?;
        Ok(Self {
            listener,
            app,
            settings,
        })
    }

    pub fn port(&self) -> u16 {
        server::local_addr(&self.listener).port()
    }

    pub fn app(&self) -> Arc<app::Chat> {
        self.app.clone()
    }

    /// Builds the service on a free loopback port and runs it in the background.
    pub async fn spawn_local(
        settings: Settings,
    ) -> Result<(server::Running, Arc<app::Chat>), String> {
        let listener = server::bind("127.0.0.1", 0)
            .await
            .map_err(|e| e.to_string())?;
        let app = Self::build(settings, listener).await?;
        let (port, chat) = (app.port(), app.app());
        Ok((
            server::Running::spawn(port, |stopped| app.run(stopped)),
            chat,
        ))
    }

    /// Serves until `shutdown`, with the outbox relay and the scheduler beside it.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let scheduler = self
            .settings
            .run_scheduler
            .then(|| tokio::spawn(self.app.clone().run_scheduler()));
        let relay = tokio::spawn(relay(
            self.settings.store.clone(),
            self.settings.bus.clone(),
            RelayOptions::new(SERVICE, self.settings.durable_bus),
        ));
        let api = ChatServiceServer::with_interceptor(
            grpc::ChatApi::new(self.app.clone()),
            Authenticator::new(self.settings.verifier.clone()),
        );
        let served = server::serve(
            self.listener,
            tonic::service::Routes::new(api),
            &["sellerdesk.chat.v1.ChatService"],
            self.settings.bus.clone(),
            self.settings.request_timeout,
            shutdown,
        )
        .await;
        if let Some(s) = scheduler {
            s.abort();
        }
        relay.abort();
        served
    }
}
