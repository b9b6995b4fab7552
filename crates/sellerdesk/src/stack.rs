//! Starting services: every one in one process (`up`, embedded defaults) or
//! one against PostgreSQL and NATS (`serve`, what containers run).

use sellerdesk_bus::{EventBus, InProcessBus, JetStreamBus};
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{
    host::{Host, Service},
    server, Clock, Config, TokenVerifier,
};
use std::{future::Future, pin::Pin, sync::Arc, time::Duration};
use tokio::net::TcpListener;

/// Services this build can run, in start order (chat asks faq).
pub const IMPLEMENTED: [&str; 5] = ["compliance", "faq", "chat", "affiliate", "ads"];

pub async fn bus(config: &Config) -> anyhow::Result<(Arc<dyn EventBus>, bool)> {
    Ok(match &config.nats_url {
        Some(url) => (
            Arc::new(
                JetStreamBus::connect(url)
                    .await?
                    .with_namespace(&config.nats_namespace)
                    .with_max_age(Duration::from_secs(config.nats_max_age_hours * 3600)),
            ),
            true,
        ),
        None => (Arc::new(InProcessBus::new()), false),
    })
}

/// The service's own database (R-X-2), migrated.
async fn store(config: &Config, service: &str) -> anyhow::Result<Arc<dyn EventStore>> {
    let url = config.database_url_for(service);
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)?;
    }
    Ok(sellerdesk_eventstore::open(&url).await?)
}

/// How often a service rereads its JWKS and revoked-token files.
const KEY_REFRESH: Duration = Duration::from_secs(5);

/// The public keys a service verifies tokens with (it never holds a private one).
fn verifier(config: &Config) -> anyhow::Result<TokenVerifier> {
    let verifier = config.token_verifier().map_err(anyhow::Error::msg)?;
    verifier.spawn_refresh(KEY_REFRESH);
    Ok(verifier)
}

pub async fn compliance_settings(
    config: &Config,
    bus: Arc<dyn EventBus>,
    durable_bus: bool,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<compliance_svc::Settings> {
    Ok(compliance_svc::Settings {
        store: store(config, compliance_svc::SERVICE).await?,
        bus,
        durable_bus,
        clock,
        clock_changes: None,
        verifier: verifier(config)?,
        request_timeout: Duration::from_millis(config.request_timeout_ms),
    })
}

pub async fn faq_settings(
    config: &Config,
    bus: Arc<dyn EventBus>,
    durable_bus: bool,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<faq_svc::Settings> {
    Ok(faq_svc::Settings {
        follow_other_writers: !config
            .database_url_for(faq_svc::SERVICE)
            .starts_with("sqlite:"),
        store: store(config, faq_svc::SERVICE).await?,
        bus,
        durable_bus,
        clock,
        verifier: verifier(config)?,
        request_timeout: Duration::from_millis(config.request_timeout_ms),
        limits: faq_svc::domain::Limits {
            max_cards: config.faq_card_limit,
            ..Default::default()
        },
    })
}

pub async fn chat_settings(
    config: &Config,
    bus: Arc<dyn EventBus>,
    durable_bus: bool,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<chat_svc::Settings> {
    Ok(chat_svc::Settings {
        store: store(config, chat_svc::SERVICE).await?,
        bus,
        durable_bus,
        clock,
        verifier: verifier(config)?,
        request_timeout: Duration::from_millis(config.request_timeout_ms),
        limits: chat_svc::domain::Limits {
            max_agents: config.chat_max_agents,
            ..Default::default()
        },
        faq_endpoint: config.chat_faq_endpoint(),
        robot_timeout: Duration::from_millis(config.chat_robot_timeout_ms),
        run_scheduler: true,
    })
}

/// A built service, bound to its port, not yet serving.
pub struct Built {
    pub service: &'static str,
    pub port: u16,
    pub run: Box<dyn FnOnce(ShutdownSignal) -> RunFuture + Send>,
}

pub type ShutdownSignal = Pin<Box<dyn Future<Output = ()> + Send>>;
pub type RunFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("service", &self.service)
            .field("port", &self.port)
            .finish()
    }
}

/// Builds `service` on `listener` with the configured store and `bus`.
pub async fn build(
    config: &Config,
    service: &str,
    listener: TcpListener,
    bus: Arc<dyn EventBus>,
    durable_bus: bool,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Built> {
    match service {
        compliance_svc::SERVICE => {
            let settings = compliance_settings(config, bus, durable_bus, clock).await?;
            hosted::<compliance_svc::Compliance>(settings, listener).await
        }
        faq_svc::SERVICE => {
            let settings = faq_settings(config, bus, durable_bus, clock).await?;
            hosted::<faq_svc::Faq>(settings, listener).await
        }
        chat_svc::SERVICE => {
            let settings = chat_settings(config, bus, durable_bus, clock).await?;
            hosted::<chat_svc::Chat>(settings, listener).await
        }
        affiliate_svc::SERVICE => {
            let settings = affiliate_svc::Settings {
                store: store(config, affiliate_svc::SERVICE).await?,
                bus,
                durable_bus,
                clock,
                verifier: verifier(config)?,
                request_timeout: Duration::from_millis(config.request_timeout_ms),
                limits: affiliate_svc::domain::Limits {
                    daily_invitations: config.affiliate_daily_invitations,
                },
            };
            hosted::<affiliate_svc::Affiliate>(settings, listener).await
        }
        ads_svc::SERVICE => {
            let settings = ads_svc::Settings {
                store: store(config, ads_svc::SERVICE).await?,
                bus,
                durable_bus,
                clock,
                verifier: verifier(config)?,
                request_timeout: Duration::from_millis(config.request_timeout_ms),
            };
            hosted::<ads_svc::Ads>(settings, listener).await
        }
        other => anyhow::bail!("unknown service {other:?}; one of {:?}", IMPLEMENTED),
    }
}

/// Any service, built by the one host.
async fn hosted<S>(settings: S::Settings, listener: TcpListener) -> anyhow::Result<Built>
where
    S: Service + std::fmt::Debug,
    S::Settings: std::fmt::Debug,
{
    let host = Host::<S>::build(settings, listener)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(Built {
        service: S::NAME,
        port: host.port(),
        run: Box::new(|stop| Box::pin(host.run(stop))),
    })
}

/// Binds `service`'s configured port on the configured host.
pub async fn listen(config: &Config, service: &str) -> anyhow::Result<TcpListener> {
    let port = config.ports.of(service).unwrap_or(0);
    server::bind(&config.host, port)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{port}: {e}", config.host))
}
