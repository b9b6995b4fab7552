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
use sellerdesk_bus::EventBus;
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{
    auth::Authenticator,
    host::{Host, Hosting, Service, Tasks, Work},
    server, Clock, Config, TokenVerifier,
};
use std::{sync::Arc, time::Duration};

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
    /// Shops whose state a replica holds at most (least recently used go).
    pub cache_shops: usize,
}
sellerdesk_runtime::host_settings!(Settings);

/// compliance-svc as its host runs it.
#[derive(Debug)]
pub struct Compliance {
    pub app: Arc<app::Compliance>,
}

/// A built, bound compliance-svc, ready to run.
pub type Application = Host<Compliance>;

#[async_trait::async_trait]
impl Service for Compliance {
    const NAME: &'static str = SERVICE;
    const GRPC_SERVICE: &'static str = "sellerdesk.compliance.v1.ComplianceService";
    const DEFAULT_PORT: u16 = 50051;
    type Settings = Settings;

    fn settings(hosting: Hosting, config: &Config) -> Settings {
        sellerdesk_runtime::settings_from!(
            hosting,
            Settings {
                clock_changes: None,
                cache_shops: config.compliance_cache_shops,
            }
        )
    }

    async fn open(s: &Settings, _: &Tasks) -> Result<Self, String> {
        let app = app::Compliance::open(s.store.clone(), s.clock.clone(), s.cache_shops)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self { app })
    }

    fn routes(&self, auth: Authenticator) -> tonic::service::Routes {
        tonic::service::Routes::new(ComplianceServiceServer::with_interceptor(
            grpc::ComplianceApi::new(self.app.clone()),
            auth,
        ))
    }

    /// The scheduler (expiry, R-CMP-2) and the read-model projector.
    fn tasks(&self, s: &Settings) -> Vec<Work> {
        // One replica keeps time and the read models: the schedule is a
        // read model, so projecting and announcing run in one loop under
        // one lease. Its holder reads nothing at take-over but the log it
        // has not projected yet.
        let (app, changes) = (self.app.clone(), s.clock_changes.clone());
        let watchers = Work::Everywhere(Box::pin(self.app.clone().run_change_follower()));
        vec![
            Work::once("timekeeper", move || {
                Box::pin(app.clone().run_timekeeper(changes.clone()))
            }),
            // Every replica tells its own watchers of every replica's writes.
            watchers,
        ]
    }
}

/// A compliance-svc running in the background on a loopback port.
pub type Running = server::Running;
