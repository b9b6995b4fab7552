//! One host for every service: a service says its name, how it opens, its
//! gRPC routes and the work that runs beside them; [`Host`] binds, serves,
//! runs the outbox relay and that work, and stops all of it together.
//!
//! A service crate is its domain, its gRPC mapping and an `impl Service`.

use crate::{auth::Authenticator, lease::run_once, server, Clock, TokenVerifier};
use sellerdesk_bus::{relay, EventBus, RelayOptions};
use sellerdesk_eventstore::EventStore;
use std::{future::Future, pin::Pin, sync::Arc, time::Duration};
use tokio::{net::TcpListener, task::JoinSet};
use tonic::service::Routes;

/// Work that runs beside the server until it stops.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Work beside the server, and where it runs.
pub enum Work {
    /// On every replica (a follower that keeps this replica's memory up to
    /// date, a consumer whose effects are idempotent and ordered).
    Everywhere(Task),
    /// On one replica at a time, under the lease `name` in the service's
    /// database (a relay, a projector, a scheduler); `start` begins it again
    /// whenever this replica takes the lease.
    Once {
        name: &'static str,
        start: Box<dyn Fn() -> Task + Send + Sync>,
    },
}

/// The lease in a service's database under which its work `name` runs on
/// one replica at a time ([`Work::Once`]); an offline tool that must not run
/// beside that work (a read model's rebuild) takes the same lease.
pub fn lease_name(service: &str, work: &str) -> String {
    format!("{service}:{work}")
}

impl Work {
    /// Work for one replica at a time.
    pub fn once(name: &'static str, start: impl Fn() -> Task + Send + Sync + 'static) -> Self {
        Self::Once {
            name,
            start: Box::new(start),
        }
    }
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Everywhere(_) => f.write_str("Everywhere"),
            Self::Once { name, .. } => write!(f, "Once({name})"),
        }
    }
}

/// The tasks a service starts while it runs (a desk per shop, a recorder):
/// the host owns them and stops every one when the service stops.
#[derive(Debug, Clone, Default)]
pub struct Tasks(Arc<std::sync::Mutex<JoinSet<()>>>);

impl Tasks {
    /// Runs `task` until it ends or the service stops.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut set = self.0.lock().expect("tasks lock");
        // Forget tasks that ended, so the set holds only running ones.
        while set.try_join_next().is_some() {}
        set.spawn(task);
    }

    /// Stops every task.
    pub fn abort_all(&self) {
        self.0.lock().expect("tasks lock").abort_all();
    }
}

/// What every service gets from the process that hosts it.
#[derive(Debug, Clone)]
pub struct Hosting {
    pub store: Arc<dyn EventStore>,
    pub bus: Arc<dyn EventBus>,
    /// Whether the bus keeps messages across restarts (JetStream) or not (in-process).
    pub durable_bus: bool,
    pub clock: Arc<dyn Clock>,
    pub verifier: TokenVerifier,
    pub request_timeout: Duration,
}

/// A service's settings: the common part, and whatever else it needs.
pub trait HostSettings: Send + Sync + 'static {
    fn hosting(&self) -> Hosting;
}

impl HostSettings for Hosting {
    fn hosting(&self) -> Hosting {
        self.clone()
    }
}

/// Implements [`HostSettings`] for a settings struct that has the common
/// fields (`store`, `bus`, `durable_bus`, `clock`, `verifier`, `request_timeout`).
#[macro_export]
macro_rules! host_settings {
    ($settings:ty) => {
        impl $crate::host::HostSettings for $settings {
            fn hosting(&self) -> $crate::host::Hosting {
                $crate::host::Hosting {
                    store: self.store.clone(),
                    bus: self.bus.clone(),
                    durable_bus: self.durable_bus,
                    clock: self.clock.clone(),
                    verifier: self.verifier.clone(),
                    request_timeout: self.request_timeout,
                }
            }
        }
    };
}

/// A service's settings from what the host gives every service and the
/// service's own fields: `settings_from!(hosting, Settings { limits: l })`.
/// The other half of [`host_settings!`], so no service copies the common fields.
#[macro_export]
macro_rules! settings_from {
    ($hosting:expr, $settings:ident { $($field:ident : $value:expr),* $(,)? }) => {{
        let hosting: $crate::host::Hosting = $hosting;
        $settings {
            store: hosting.store,
            bus: hosting.bus,
            durable_bus: hosting.durable_bus,
            clock: hosting.clock,
            verifier: hosting.verifier,
            request_timeout: hosting.request_timeout,
            $($field: $value),*
        }
    }};
}

/// A sellerdesk service, as the host runs it.
#[async_trait::async_trait]
pub trait Service: Sized + Send + Sync + 'static {
    /// `ads`: its subjects, port and database file are named after it.
    const NAME: &'static str;
    /// The gRPC service health reports (`sellerdesk.ads.v1.AdsService`).
    const GRPC_SERVICE: &'static str;
    /// The port it listens on unless `[ports]` says otherwise.
    const DEFAULT_PORT: u16;
    type Settings: HostSettings;

    /// Its settings: what the host gives every service, and its own part of
    /// the configuration.
    fn settings(hosting: Hosting, config: &crate::Config) -> Self::Settings;

    /// Opens the service's state. What it must run while it serves it
    /// spawns through `tasks`, which the host stops with it.
    async fn open(settings: &Self::Settings, tasks: &Tasks) -> Result<Self, String>;

    /// The gRPC routes, each behind `auth`.
    fn routes(&self, auth: Authenticator) -> Routes;

    /// Whether a request for a shop is served by the replica that owns the
    /// shop ([`crate::ownership`]): for a service whose per-shop state in
    /// memory is costly to keep on every replica (chat's desks).
    const OWNED_BY_SHOP: bool = false;

    /// Work beside the server besides the outbox relay (schedulers,
    /// consumers, followers); the host stops it when the server stops.
    fn tasks(&self, settings: &Self::Settings) -> Vec<Work> {
        let _ = settings;
        Vec::new()
    }
}

/// A built, bound service, ready to run.
#[derive(Debug)]
pub struct Host<S: Service> {
    listener: TcpListener,
    service: S,
    settings: S::Settings,
    tasks: Tasks,
    /// This replica's view of which replica owns each shop, for a service
    /// owned by shop with an address to advertise; `None`: it serves every
    /// shop itself.
    ownership: Option<Arc<crate::ownership::Ownership>>,
}

impl<S: Service + std::fmt::Debug> Host<S>
where
    S::Settings: std::fmt::Debug,
{
    /// Opens `S` on `listener`.
    pub async fn build(settings: S::Settings, listener: TcpListener) -> Result<Self, String> {
        let tasks = Tasks::default();
        let service = S::open(&settings, &tasks)
            .await
            .map_err(|e| format!("{}-svc: {e}", S::NAME))?;
        Ok(Self {
            listener,
            service,
            settings,
            tasks,
            ownership: None,
        })
    }

    /// Where other replicas reach this one (`http://10.0.0.7:50053`), for a
    /// service owned by shop. Unset, a listener bound to one address
    /// advertises that address; one bound to every interface (0.0.0.0)
    /// cannot say which of them others reach, so the replica serves every
    /// shop itself.
    pub fn advertise(mut self, url: Option<String>) -> Self {
        let bound = server::local_addr(&self.listener);
        let url = url.or_else(|| (!bound.ip().is_unspecified()).then(|| format!("http://{bound}")));
        self.ownership = url
            .filter(|_| S::OWNED_BY_SHOP)
            .map(|url| crate::ownership::Ownership::new(S::NAME, url));
        self
    }

    pub fn port(&self) -> u16 {
        server::local_addr(&self.listener).port()
    }

    pub fn service(&self) -> &S {
        &self.service
    }

    /// Builds the service on a free loopback port and runs it in the
    /// background (tests, the scenario runner, load drivers).
    pub async fn spawn_local(settings: S::Settings) -> Result<server::Running, String> {
        Ok(Self::spawn_local_with(settings, |_| ()).await?.0)
    }

    /// As [`Host::spawn_local`], handing back what `keep` takes from the
    /// service first (its application, for tests that look inside).
    pub async fn spawn_local_with<R>(
        settings: S::Settings,
        keep: impl FnOnce(&S) -> R,
    ) -> Result<(server::Running, R), String> {
        Self::spawn_local_as(settings, keep, false).await
    }

    /// As [`Host::spawn_local_with`], as one of several replicas that forward
    /// a shop's requests to its owner when `by_shop` (and `S::OWNED_BY_SHOP`).
    pub async fn spawn_local_as<R>(
        settings: S::Settings,
        keep: impl FnOnce(&S) -> R,
        by_shop: bool,
    ) -> Result<(server::Running, R), String> {
        let listener = server::bind("127.0.0.1", 0)
            .await
            .map_err(|e| e.to_string())?;
        let mut host = Self::build(settings, listener).await?;
        if by_shop {
            host = host.advertise(None);
        }
        let kept = keep(&host.service);
        let port = host.port();
        let ownership = host.ownership.clone();
        Ok((
            server::Running::spawn(port, |stopped| host.run(stopped)).with_ownership(ownership),
            kept,
        ))
    }

    /// Serves until `shutdown`, with the outbox relay and the service's
    /// tasks beside it; every one of them is stopped before this returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let hosting = self.settings.hosting();
        let mut tasks = JoinSet::new();
        let (store, bus) = (hosting.store.clone(), hosting.bus.clone());
        let relayed = Work::once("outbox-relay", move || {
            Box::pin(relay(
                store.clone(),
                bus.clone(),
                RelayOptions::new(S::NAME, hosting.durable_bus),
            ))
        });
        for work in std::iter::once(relayed).chain(self.service.tasks(&self.settings)) {
            match work {
                Work::Everywhere(task) => {
                    tasks.spawn(task);
                }
                Work::Once { name, start } => {
                    let lease = lease_name(S::NAME, name);
                    tasks.spawn(run_once(hosting.store.clone(), lease, start));
                }
            }
        }
        let forwarding = self.ownership.map(|ownership| {
            tasks.spawn(ownership.clone().keep_membership(hosting.store.clone()));
            crate::guard::Forwarding::by_shop(
                ownership,
                &crate::guard::InputGuard::for_api(),
                S::GRPC_SERVICE,
            )
        });
        let routes = self
            .service
            .routes(Authenticator::new(hosting.verifier.clone()));
        let served = server::serve(
            self.listener,
            routes,
            &[S::GRPC_SERVICE],
            server::Dependencies {
                bus: hosting.bus.clone(),
                store: hosting.store.clone(),
            },
            hosting.request_timeout,
            forwarding,
            shutdown,
        )
        .await;
        tasks.shutdown().await;
        self.tasks.abort_all();
        served
    }
}
