//! Starting services: every one in one process (`up`, embedded defaults) or
//! one against PostgreSQL and NATS (`serve`, what containers run).

use compliance_svc::Settings;
use sellerdesk_bus::{EventBus, InProcessBus, JetStreamBus};
use sellerdesk_runtime::{Clock, Config, TokenSigner};
use std::{sync::Arc, time::Duration};

/// Services this build can run. faq, chat, affiliate and ads have their own
/// issues and are not built yet; `up` says so instead of pretending.
pub const IMPLEMENTED: [&str; 1] = ["compliance"];

pub async fn bus(config: &Config) -> anyhow::Result<(Arc<dyn EventBus>, bool)> {
    Ok(match &config.nats_url {
        Some(url) => (Arc::new(JetStreamBus::connect(url).await?), true),
        None => (Arc::new(InProcessBus::new()), false),
    })
}

pub async fn compliance_settings(
    config: &Config,
    bus: Arc<dyn EventBus>,
    durable_bus: bool,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Settings> {
    let url = config.database_url_for(compliance_svc::SERVICE);
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)?;
    }
    let store = sellerdesk_eventstore::open(&url).await?;
    Ok(Settings {
        store,
        bus,
        durable_bus,
        clock,
        clock_changes: None,
        signer: TokenSigner::new(config.auth_secret().map_err(anyhow::Error::msg)?),
        request_timeout: Duration::from_millis(config.request_timeout_ms),
    })
}
