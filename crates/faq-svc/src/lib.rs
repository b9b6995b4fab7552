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
pub mod day_book;
pub mod domain;
pub mod entry_vectors;
pub mod eval;
pub mod grpc;
pub mod help_centre;
pub mod matcher;
pub mod presets;
pub mod sentence;
pub mod store;

use sellerdesk_api::faq::v1::faq_service_server::FaqServiceServer;
use sellerdesk_bus::EventBus;
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{
    auth::Authenticator,
    host::{Host, Hosting, Service, Tasks, Work},
    Clock, Config, TokenVerifier,
};
use std::{sync::Arc, time::Duration};

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
    /// At most this many written knowledge bases in memory (R-X-4).
    pub cache_shops: usize,
    /// The sentence model of the second stages (decisions 0023, 0024).
    pub sentence_model: sentence::ModelSource,
    /// The share of one core the model may use, averaged (decision 0024).
    pub sentence_share: f64,
}
sellerdesk_runtime::host_settings!(Settings);

/// faq-svc as its host runs it.
#[derive(Debug)]
pub struct Faq {
    pub app: Arc<app::Faq>,
}

/// A built, bound faq-svc, ready to run.
pub type Application = Host<Faq>;

#[async_trait::async_trait]
impl Service for Faq {
    const NAME: &'static str = SERVICE;
    const GRPC_SERVICE: &'static str = "sellerdesk.faq.v1.FaqService";
    const DEFAULT_PORT: u16 = 50052;
    type Settings = Settings;

    fn settings(hosting: Hosting, config: &Config) -> Settings {
        sellerdesk_runtime::settings_from!(
            hosting,
            Settings {
                follow_other_writers: !config.database_url_for(SERVICE).starts_with("sqlite:"),
                limits: domain::Limits {
                    max_cards: config.faq_card_limit,
                    ..Default::default()
                },
                cache_shops: config.faq_cache_shops,
                sentence_model: config
                    .faq_sentence_model
                    .parse()
                    .unwrap_or(sentence::ModelSource::Off),
                sentence_share: config.faq_sentence_share,
            }
        )
    }

    async fn open(s: &Settings, tasks: &Tasks) -> Result<Self, String> {
        let app = app::Faq::open(
            s.store.clone(),
            s.clock.clone(),
            presets::builtin(),
            s.limits,
            s.cache_shops,
            &sentence::SentenceSettings {
                model: s.sentence_model.clone(),
                share: s.sentence_share,
            },
            tasks,
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(Self { app })
    }

    fn routes(&self, auth: Authenticator) -> tonic::service::Routes {
        tonic::service::Routes::new(FaqServiceServer::with_interceptor(
            grpc::FaqApi::new(self.app.clone()),
            auth,
        ))
    }

    /// The day book of interactions the figures read (once, under its
    /// lease), and the follower of other replicas' knowledge-base changes
    /// (PostgreSQL).
    fn tasks(&self, s: &Settings) -> Vec<Work> {
        let store = s.store.clone();
        let mut work = vec![Work::once(day_book::PROJECTOR, move || {
            Box::pin(day_book::run(store.clone()))
        })];
        if self.app.has_model() {
            // Once: the shops' own entries embedded and stored (decision 0025).
            let (app, store) = (self.app.clone(), s.store.clone());
            work.push(Work::once(entry_vectors::PROJECTOR, move || {
                Box::pin(entry_vectors::run(app.clone(), store.clone()))
            }));
        }
        if s.follow_other_writers {
            // Every replica: it keeps this replica's knowledge bases current.
            work.push(Work::Everywhere(Box::pin(self.app.clone().run_follower())));
        }
        work
    }
}
