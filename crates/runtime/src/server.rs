//! gRPC server bootstrap: every service gets health, reflection, request
//! spans, a default deadline and graceful shutdown the same way.

use std::{future::Future, net::SocketAddr, time::Duration};
use tokio::net::TcpListener;
use tonic::{service::Routes, transport::server::TcpIncoming};
use tonic_health::ServingStatus;

/// Binds a listener; port 0 picks a free one (tests).
pub async fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind((host, port)).await
}

/// Serves `routes` with `grpc.health.v1` (each of `services` and "" reported
/// SERVING until shutdown) and server reflection (v1) until `shutdown`
/// completes; in-flight calls finish first.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    services: &[&str],
    dependencies: Dependencies,
    request_timeout: Duration,
    forwarding: Option<crate::guard::Forwarding>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let Dependencies { bus, store } = dependencies;
    let (reporter, health) = tonic_health::server::health_reporter();
    // The bus and the database are reported apart, and "" stays SERVING
    // while either is out of reach. Without the bus the service still
    // serves (writes wait in its outbox); without the database every call
    // that needs it answers UNAVAILABLE, which clients retry, and a
    // readiness probe on "" must not take every replica out of the load
    // balancer for an outage they all share.
    let bus_health = tokio::spawn(report(
        reporter.clone(),
        BUS_HEALTH,
        Duration::from_secs(1),
        move || std::future::ready(bus.connected()),
        "the bus is unreachable: events wait in the outbox",
    ));
    let database_health = tokio::spawn(report(
        reporter.clone(),
        DATABASE_HEALTH,
        Duration::from_secs(2),
        move || {
            let store = store.clone();
            async move {
                let ping = tokio::time::timeout(Duration::from_secs(2), store.ping());
                matches!(ping.await, Ok(Ok(())))
            }
        },
        "the database is unreachable: calls that need it answer UNAVAILABLE",
    ));
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    for name in services {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    // Reflection lists what this port serves (not every sellerdesk service),
    // and knows the error detail types (google.rpc.BadRequest, ...) so tools
    // such as grpcurl can print a refusal's details.
    let reflection = || {
        let builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(sellerdesk_api::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health");
        services
            .iter()
            .fold(builder, |b, name| b.with_service_name(*name))
    };
    // v1 for current tools; v1alpha because grpcio's Python client still speaks only it.
    let reflection_v1 = reflection()
        .build_v1()
        .map_err(|e| format!("reflection: {e}"))?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| format!("reflection: {e}"))?;
    let names: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    let (drain, drain_rx) = tokio::sync::watch::channel(false);
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let draining = async move {
        shutdown.await;
        // Live streams end now (UNAVAILABLE, resume from position), so a
        // client's open stream cannot hold the stop open.
        let _ = drain.send(true);
        let _ = stopping.send(());
        // Load balancers stop sending new calls before the listener closes.
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        for name in &names {
            reporter
                .set_service_status(name.as_str(), ServingStatus::NotServing)
                .await;
        }
    };
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let serving = tonic::transport::Server::builder()
        .timeout(request_timeout)
        // A client that vanished without closing (no FIN, no RST) keeps its
        // streams open until a ping goes unanswered (crate::peer).
        .http2_keepalive_interval(Some(crate::peer::PING_EVERY))
        .http2_keepalive_timeout(Some(crate::peer::PING_ANSWER_WITHIN))
        .trace_fn(crate::telemetry::grpc_request_span)
        // Malformed input is refused once, here, for every RPC; a handler's
        // panic becomes INTERNAL instead of a reset stream.
        .layer(
            crate::guard::GuardLayer::new(crate::guard::InputGuard::for_api())
                .with_draining(crate::guard::Draining(drain_rx))
                .with_forwarding(forwarding),
        )
        .add_routes(routes)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(incoming, draining);
    tokio::pin!(serving);
    // In-flight calls get the grace period (less than Kubernetes' 30 s), then
    // the process stops whatever is still running.
    let grace = shutdown_grace();
    let _stop_bus_health = AbortOnDrop(bus_health);
    let _stop_database_health = AbortOnDrop(database_health);
    tokio::select! {
        r = &mut serving => r.map_err(|e| format!("gRPC server: {e}")),
        _ = async {
            if stopped.await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(?grace, "calls still in flight after the grace period: stopping anyway");
            Ok(())
        }
    }
}

/// Reports `name` SERVING or NOT_SERVING as `up` says, asked every
/// `every`; a change is logged (`down` at warn).
async fn report<F, Fut>(
    reporter: tonic_health::server::HealthReporter,
    name: &'static str,
    every: Duration,
    mut up: F,
    down: &'static str,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut last = None;
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = up().await;
        if last == Some(now) {
            continue;
        }
        let status = if now {
            if last.is_some() {
                tracing::info!(dependency = name, "reachable again");
            }
            ServingStatus::Serving
        } else {
            tracing::warn!(dependency = name, "{down}");
            ServingStatus::NotServing
        };
        reporter.set_service_status(name, status).await;
        last = Some(now);
    }
}

/// What a service depends on whose health is reported apart from its own
/// ([`BUS_HEALTH`], [`DATABASE_HEALTH`]).
#[derive(Debug)]
pub struct Dependencies {
    pub bus: std::sync::Arc<dyn sellerdesk_bus::EventBus>,
    pub store: std::sync::Arc<dyn sellerdesk_eventstore::EventStore>,
}

/// The health service name that reports the bus.
pub const BUS_HEALTH: &str = "sellerdesk.bus";

/// The health service name that reports the database.
pub const DATABASE_HEALTH: &str = "sellerdesk.database";

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

static SHUTDOWN_GRACE: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
/// The grace period when none is configured: under Kubernetes' 30 s.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Sets how long a stopping server waits for in-flight calls (once, at start).
pub fn set_shutdown_grace(grace: Duration) {
    let _ = SHUTDOWN_GRACE.set(grace);
}

fn shutdown_grace() -> Duration {
    *SHUTDOWN_GRACE.get().unwrap_or(&DEFAULT_SHUTDOWN_GRACE)
}

/// Completes on SIGTERM (Kubernetes, docker stop) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// The address a bound listener ended up on.
pub fn local_addr(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .expect("bound listener has an address")
}

/// A service running in the background on a loopback port (tests, the
/// scenario runner, load drivers, `sellerdesk up`).
#[derive(Debug)]
pub struct Running {
    pub port: u16,
    /// Which replica owns each shop, for a service owned by shop.
    pub ownership: Option<std::sync::Arc<crate::ownership::Ownership>>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl Running {
    /// Spawns `run`, handing it the future that completes on [`Running::stop`].
    pub fn spawn<F, Fut>(port: u16, run: F) -> Self
    where
        F: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(Box::pin(async {
            let _ = stopped.await;
        })));
        Self {
            port,
            ownership: None,
            stop,
            task,
        }
    }

    pub fn with_ownership(
        mut self,
        ownership: Option<std::sync::Arc<crate::ownership::Ownership>>,
    ) -> Self {
        self.ownership = ownership;
        self
    }

    /// Waits until this replica counts `n` live replicas (tests).
    pub async fn until_replicas(&self, n: usize) {
        let Some(o) = &self.ownership else { return };
        while o.members().len() != n {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Graceful shutdown: in-flight calls finish, then the server stops.
    pub async fn stop(self) -> Result<(), String> {
        let _ = self.stop.send(());
        self.task.await.map_err(|e| e.to_string())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

    /// A client that vanished with a stream open (a network cut: no FIN, no
    /// RST, and nothing for the server to send on an idle stream) kept its
    /// connection, and the stream's task, for good. The server pings its
    /// clients ([`crate::peer`]) and closes a connection whose ping goes
    /// unanswered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_vanished_clients_connection_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/s.db", dir.path().display());
        let store = sellerdesk_eventstore::open(&url).await.unwrap();
        let listener = bind("127.0.0.1", 0).await.unwrap();
        let port = local_addr(&listener).port();
        let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let dependencies = Dependencies {
            bus: std::sync::Arc::new(sellerdesk_bus::InProcessBus::new()),
            store,
        };
        tokio::spawn(serve(
            listener,
            Routes::default(),
            &[],
            dependencies,
            Duration::from_secs(30),
            None,
            async {
                let _ = stopped.await;
            },
        ));
        // A client of its own that never pings: a vanished one answers
        // nothing.
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let watched = HealthClient::new(channel)
            .watch(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap();
        let mut statuses = watched.into_inner();
        statuses.message().await.unwrap().expect("the first status");

        let (server, client) = sellerdesk_testkit::the_connection_to(&[port]);
        let Some(_cut) = sellerdesk_testkit::silenced_or_skip(server, client) else {
            return;
        };
        let started = std::time::Instant::now();
        while sellerdesk_testkit::is_established(server, client) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server still holds a silent client's connection after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!(
            "the server closed a silent client's connection {:?} after the cut",
            started.elapsed()
        );
    }
}
