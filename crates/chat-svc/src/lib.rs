//! chat-svc: buyer conversations, customer-service agents and routing,
//! robot-first replies through faq-svc, live inboxes and response-time
//! figures (R-CHAT-1..11).
//!
//! It owns the chat event log and nothing else: it asks faq-svc over its
//! public gRPC API ([`robot`]) and never reads faq-svc's data (R-X-2).
//! [`domain`] is pure (decide and apply, no I/O, no clock); [`app`] drives
//! one desk per shop and commits in groups; [`grpc`] maps the public API.

pub mod app;
pub mod archive;
pub mod bench_support;
pub mod domain;
pub mod grpc;
mod metrics;
pub mod robot;
pub mod store;

use sellerdesk_api::chat::v1::chat_service_server::ChatServiceServer;
use sellerdesk_bus::EventBus;
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{
    auth::Authenticator,
    host::{Host, Hosting, Service, Tasks, Work},
    server, Clock, Config, TokenVerifier,
};
use std::{sync::Arc, time::Duration};

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
    /// Shops whose desks a replica holds at most (idle ones go first).
    pub cache_shops: usize,
    /// Whether the projector writes each line's pairs of characters.
    pub line_pairs: archive::LinePairs,
}
sellerdesk_runtime::host_settings!(Settings);

/// chat-svc as its host runs it.
#[derive(Debug)]
pub struct Chat {
    pub app: Arc<app::Chat>,
}

/// A built, bound chat-svc, ready to run.
pub type Application = Host<Chat>;

/// Runs chat-svc on a free loopback port, handing back its application
/// (tests look at the desk through it).
pub async fn spawn_local(settings: Settings) -> Result<(server::Running, Arc<app::Chat>), String> {
    Application::spawn_local_with(settings, |c| c.app.clone()).await
}

/// As [`spawn_local`], as one of several replicas on one database, each
/// shop's requests served by the replica that owns it (decision 0016).
pub async fn spawn_replica(
    settings: Settings,
) -> Result<(server::Running, Arc<app::Chat>), String> {
    Application::spawn_local_as(settings, |c| c.app.clone(), true).await
}

#[async_trait::async_trait]
impl Service for Chat {
    const NAME: &'static str = SERVICE;
    const GRPC_SERVICE: &'static str = "sellerdesk.chat.v1.ChatService";
    const DEFAULT_PORT: u16 = 50053;
    /// A shop's desk lives on the replica that owns the shop (decision 0016).
    const OWNED_BY_SHOP: bool = true;
    type Settings = Settings;

    fn settings(hosting: Hosting, config: &Config) -> Settings {
        sellerdesk_runtime::settings_from!(
            hosting,
            Settings {
                limits: domain::Limits {
                    max_agents: config.chat_max_agents,
                    ..Default::default()
                },
                faq_endpoint: config.chat_faq_endpoint(),
                robot_timeout: Duration::from_millis(config.chat_robot_timeout_ms),
                run_scheduler: true,
                cache_shops: config.chat_cache_shops,
                line_pairs: archive::LinePairs::from_setting(config.chat_line_pairs),
            }
        )
    }

    async fn open(s: &Settings, tasks: &Tasks) -> Result<Self, String> {
        let robot = robot::Robot::new(&s.faq_endpoint, s.robot_timeout)?;
        let app = app::Chat::open(
            s.store.clone(),
            s.clock.clone(),
            s.limits,
            Arc::new(robot),
            tasks.clone(),
            s.cache_shops,
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(Self { app })
    }

    fn routes(&self, auth: Authenticator) -> tonic::service::Routes {
        tonic::service::Routes::new(ChatServiceServer::with_interceptor(
            grpc::ChatApi::new(self.app.clone()),
            auth,
        ))
    }

    /// The conversations' read model (issue 15 item 4), and the scheduler
    /// (queue, reassignment on silence) unless tests drive time.
    fn tasks(&self, s: &Settings) -> Vec<Work> {
        let (store, line_pairs) = (s.store.clone(), s.line_pairs);
        let mut work = vec![Work::once(archive::PROJECTOR, move || {
            Box::pin(archive::run(store.clone(), line_pairs))
        })];
        if s.run_scheduler {
            let app = self.app.clone();
            work.push(Work::once("scheduler", move || {
                Box::pin(app.clone().run_scheduler())
            }));
        }
        work
    }
}
