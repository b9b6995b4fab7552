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
pub mod orders;
pub mod payments;

use sellerdesk_api::ads::v1::ads_service_server::AdsServiceServer;
use sellerdesk_bus::{consume, EventBus};
use sellerdesk_eventstore::EventStore;
use sellerdesk_runtime::{
    auth::Authenticator,
    host::{Host, Hosting, Service, Tasks, Work},
    Clock, Config, TokenVerifier,
};
use std::{sync::Arc, time::Duration};

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
    /// R-ADS-14: hours of delivery after which an order ends.
    pub delivery_window_hours: u32,
    /// R-ADS-14: the secret the payment provider signs its callbacks with;
    /// None: no provider, and top-ups stay pending.
    pub payment_secret: Option<String>,
}
sellerdesk_runtime::host_settings!(Settings);

/// ads-svc as its host runs it.
#[derive(Debug)]
pub struct Ads {
    pub app: Arc<app::Ads>,
    /// R-ADS-14: the delivery window, which ExtendDelivery adds to.
    window_hours: u32,
    payment_secret: Option<String>,
}

/// A built, bound ads-svc, ready to run.
pub type Application = Host<Ads>;

#[async_trait::async_trait]
impl Service for Ads {
    const NAME: &'static str = SERVICE;
    const GRPC_SERVICE: &'static str = "sellerdesk.ads.v1.AdsService";
    const DEFAULT_PORT: u16 = 50055;
    type Settings = Settings;

    fn settings(hosting: Hosting, config: &Config) -> Settings {
        sellerdesk_runtime::settings_from!(
            hosting,
            Settings {
                delivery_window_hours: config.ads_delivery_window_hours,
                payment_secret: config.ads_payment_secret.clone(),
            }
        )
    }

    async fn open(settings: &Settings, _: &Tasks) -> Result<Self, String> {
        Ok(Self {
            app: Arc::new(app::Ads::new(
                settings.store.clone(),
                settings.clock.clone(),
            )),
            window_hours: settings.delivery_window_hours,
            payment_secret: settings.payment_secret.clone(),
        })
    }

    fn routes(&self, auth: Authenticator) -> tonic::service::Routes {
        tonic::service::Routes::new(AdsServiceServer::with_interceptor(
            grpc::AdsApi::new(
                self.app.clone(),
                self.window_hours,
                self.payment_secret.clone(),
            ),
            auth,
        ))
    }

    /// The consumer of compliance-svc's events (R-ADS-13).
    fn tasks(&self, s: &Settings) -> Vec<Work> {
        let consumer = consume(
            s.bus.clone(),
            s.store.clone(),
            "compliance".into(),
            app::RIGHTS_CONSUMER.into(),
            "sellerdesk.compliance.*".into(),
            Arc::new(app::SellingRights {
                ads: self.app.clone(),
            }),
        );
        // Every replica consumes: the durable consumer shares the messages
        // out, and rights apply by the source's position (R-ADS-13).
        // Delivery windows close on one replica at a time (R-ADS-14).
        // The orders read model is written on one replica at a time too.
        let app = self.app.clone();
        let hours = s.delivery_window_hours;
        let store = s.store.clone();
        vec![
            Work::Everywhere(Box::pin(consumer)),
            Work::once("delivery-windows", move || {
                Box::pin(app.clone().keep_delivery_windows(hours))
            }),
            Work::once("orders", move || {
                Box::pin(orders::ORDERS.run::<domain::Order>(store.clone()))
            }),
        ]
    }
}
