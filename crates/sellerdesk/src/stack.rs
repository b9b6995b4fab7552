//! Starting services: every one in one process (`up`, embedded defaults) or
//! one against PostgreSQL and NATS (`serve`, what containers run).
//!
//! [`SERVICES`] is the one list of what this build runs: a sixth service is
//! one line here (and its crate).

use sellerdesk_bus::{EventBus, InProcessBus, JetStreamBus};
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{
    host::{Host, Hosting, Service},
    server, Clock, Config,
};
use std::{future::Future, pin::Pin, sync::Arc, time::Duration};
use tokio::net::TcpListener;

/// The services this build runs, in start order (chat asks faq).
pub const SERVICES: [Entry; 5] = [
    entry::<compliance_svc::Compliance>(),
    entry::<faq_svc::Faq>(),
    entry::<chat_svc::Chat>(),
    entry::<affiliate_svc::Affiliate>(),
    entry::<ads_svc::Ads>(),
];

/// One service in the table: its name, its default port and how it is built.
pub struct Entry {
    pub name: &'static str,
    pub default_port: u16,
    build: for<'a> fn(&'a Config, Common, TcpListener) -> BuildFuture<'a>,
}

type BuildFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<Built>> + Send + 'a>>;

const fn entry<S>() -> Entry
where
    S: Service + std::fmt::Debug,
    S::Settings: std::fmt::Debug,
{
    Entry {
        name: S::NAME,
        default_port: S::DEFAULT_PORT,
        build: |config, common, listener| Box::pin(hosted::<S>(config, common, listener)),
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.name)
            .field("default_port", &self.default_port)
            .finish()
    }
}

impl Entry {
    /// Builds the service on `listener` with its configured store.
    pub async fn build(
        &self,
        config: &Config,
        common: Common,
        listener: TcpListener,
    ) -> anyhow::Result<Built> {
        (self.build)(config, common, listener).await
    }
}

/// The table entry named `service`.
pub fn entry_named(service: &str) -> anyhow::Result<&'static Entry> {
    SERVICES.iter().find(|e| e.name == service).ok_or_else(|| {
        let names: Vec<_> = SERVICES.iter().map(|e| e.name).collect();
        anyhow::anyhow!("unknown service {service:?}; one of {names:?}")
    })
}

/// Gives every service its port: the configured one, else its default. A
/// configured name that no service has is a mistake, refused.
pub fn resolve_ports(config: &mut Config) -> anyhow::Result<()> {
    for name in config.ports.0.keys() {
        entry_named(name).map_err(|e| anyhow::anyhow!("[ports] {e}"))?;
    }
    for e in &SERVICES {
        if config.ports.of(e.name).is_none() {
            config.ports.set(e.name, e.default_port);
        }
    }
    Ok(())
}

/// What every service in a process shares: the bus and the clock.
#[derive(Debug, Clone)]
pub struct Common {
    pub bus: Arc<dyn EventBus>,
    /// Whether the bus keeps messages across restarts (JetStream).
    pub durable_bus: bool,
    pub clock: Arc<dyn Clock>,
}

/// The configured bus: JetStream when a NATS URL is set, else in-process.
pub async fn common(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Common> {
    let (bus, durable_bus): (Arc<dyn EventBus>, bool) = match &config.nats_url {
        Some(url) => (
            Arc::new(
                JetStreamBus::connect(url)
                    .await?
                    .with_namespace(&config.nats_namespace)
                    .with_max_age(Duration::from_secs(config.nats_max_age_hours * 3600))
                    .with_max_bytes(config.nats_max_bytes)
                    .with_replicas(config.nats_replicas),
            ),
            true,
        ),
        None => (Arc::new(InProcessBus::new()), false),
    };
    Ok(Common {
        bus,
        durable_bus,
        clock,
    })
}

/// How long a starting service waits for a database that is not ready
/// (unreachable, starting, or without a connection to spare) before it
/// gives up. A replica restarted while the others hold the server's
/// connections gets one as they release their idle ones (a minute).
const STORE_WAIT: Duration = Duration::from_secs(90);

/// The service's own database (R-X-2), migrated.
async fn store(config: &Config, service: &str) -> anyhow::Result<Arc<dyn EventStore>> {
    let url = config.database_url_for(service);
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)?;
    }
    Ok(sellerdesk_eventstore::open_waiting(
        &url,
        config.database_max_connections,
        STORE_WAIT,
        |e| tracing::warn!(service, error = %e, "waiting for the database"),
    )
    .await?)
}

/// How often a service rereads its JWKS and revoked-token files.
const KEY_REFRESH: Duration = Duration::from_secs(5);

/// `S`'s settings: its store and the public keys it verifies tokens with
/// (it never holds a private one), and its own part of `config`.
pub async fn settings<S: Service>(config: &Config, common: Common) -> anyhow::Result<S::Settings> {
    let verifier = config.token_verifier().map_err(anyhow::Error::msg)?;
    verifier.spawn_refresh(KEY_REFRESH);
    let hosting = Hosting {
        store: store(config, S::NAME).await?,
        bus: common.bus,
        durable_bus: common.durable_bus,
        clock: common.clock,
        verifier,
        request_timeout: Duration::from_millis(config.request_timeout_ms),
    };
    Ok(S::settings(hosting, config))
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

/// Any service, built by the one host.
async fn hosted<S>(config: &Config, common: Common, listener: TcpListener) -> anyhow::Result<Built>
where
    S: Service + std::fmt::Debug,
    S::Settings: std::fmt::Debug,
{
    let settings = settings::<S>(config, common).await?;
    let host = Host::<S>::build(settings, listener)
        .await
        .map_err(anyhow::Error::msg)?
        .advertise(config.advertise_url.clone());
    Ok(Built {
        service: S::NAME,
        port: host.port(),
        run: Box::new(|stop| Box::pin(host.run(stop))),
    })
}

/// Binds `service`'s port (after [`resolve_ports`]) on the configured host.
pub async fn listen(config: &Config, service: &str) -> anyhow::Result<TcpListener> {
    let port = config.ports.of(service).unwrap_or(0);
    server::bind(&config.host, port)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{port}: {e}", config.host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_has_its_own_name_and_port() {
        let mut names: Vec<_> = SERVICES.iter().map(|e| e.name).collect();
        let mut ports: Vec<_> = SERVICES.iter().map(|e| e.default_port).collect();
        names.sort();
        names.dedup();
        ports.sort();
        ports.dedup();
        assert_eq!((names.len(), ports.len()), (SERVICES.len(), SERVICES.len()));
    }

    #[test]
    fn configured_ports_win_and_unknown_names_are_refused() {
        let mut config = Config::default();
        config.ports.set("faq", 7000);
        resolve_ports(&mut config).unwrap();
        assert_eq!(config.ports.of("faq"), Some(7000));
        assert_eq!(config.ports.of("chat"), Some(50053));
        assert_eq!(config.chat_faq_endpoint(), "http://127.0.0.1:7000");
        config.ports.set("fqa", 7001);
        assert!(resolve_ports(&mut config)
            .unwrap_err()
            .to_string()
            .contains("fqa"));
    }
}
