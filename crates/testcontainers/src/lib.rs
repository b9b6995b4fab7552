//! sellerdesk in containers, for an integration suite outside this
//! repository:
//!
//! ```no_run
//! # async fn example() -> Result<(), String> {
//! use sellerdesk_testcontainers::{Layout, Role, Sellerdesk};
//! let sd = Sellerdesk::shared(Layout::Embedded).await?;
//! let mut compliance = sd.compliance("", Role::Platform).await?;
//! // compliance.record_violation(...).await
//! # Ok(()) }
//! ```
//!
//! - [`Layout::Embedded`]: one container running `sellerdesk up` (SQLite,
//!   in-process bus): quick, for a client's own tests.
//! - [`Layout::Stack`]: PostgreSQL, NATS JetStream and one container per
//!   service on a network of their own: the production shape.
//!
//! The image is `$SELLERDESK_IMAGE` (default `sellerdesk:local`, what
//! `docker-compose build` makes); PostgreSQL and NATS are `$POSTGRES_IMAGE`
//! (`postgres:15`) and `$NATS_IMAGE` (`nats:2.10`). Tokens are signed with a
//! key pair made for the run: the containers get its public JWKS only.
//!
//! Clean-up: containers belong to the [`Sellerdesk`] value and are removed
//! when it drops. [`Sellerdesk::shared`] hands every test of a binary the
//! same set while any test holds it; the last one out removes it. A run
//! killed before that leaves containers labelled with its process id: the
//! next start removes those whose process is gone.

use sellerdesk_api::{
    ads::v1::ads_service_client::AdsServiceClient,
    affiliate::v1::affiliate_service_client::AffiliateServiceClient,
    chat::v1::chat_service_client::ChatServiceClient,
    compliance::v1::compliance_service_client::ComplianceServiceClient,
    faq::v1::faq_service_client::FaqServiceClient,
};
pub use sellerdesk_runtime::Role;
use sellerdesk_runtime::{auth::Claims, TokenSigner};
use std::{
    collections::BTreeMap,
    sync::{Arc, Weak},
    time::Duration,
};
use testcontainers_modules::testcontainers::{
    core::{wait::HealthWaitStrategy, ContainerPort, Mount, WaitFor},
    runners::AsyncRunner,
    ContainerAsync, GenericImage, ImageExt,
};
use tonic::{
    metadata::MetadataValue, service::interceptor::InterceptedService, transport::Channel, Request,
    Status,
};

/// The services, their gRPC ports and databases.
pub const SERVICES: [(&str, u16); 5] = [
    ("compliance", 50051),
    ("faq", 50052),
    ("chat", 50053),
    ("affiliate", 50054),
    ("ads", 50055),
];

/// What runs in containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One container: `sellerdesk up`.
    Embedded,
    /// PostgreSQL, NATS JetStream and one container per service.
    Stack,
}

/// A running sellerdesk; its containers go when it drops.
pub struct Sellerdesk {
    layout: Layout,
    signer: TokenSigner,
    endpoints: BTreeMap<&'static str, String>,
    /// Removed in reverse order of start: services before their backends.
    containers: Vec<ContainerAsync<GenericImage>>,
    network: Option<String>,
    _keys: tempfile::TempDir,
}

impl Drop for Sellerdesk {
    fn drop(&mut self) {
        while let Some(c) = self.containers.pop() {
            drop(c);
        }
        if let Some(network) = self.network.take() {
            let _ = std::process::Command::new("docker")
                .args(["network", "rm", &network])
                .output();
        }
    }
}

impl std::fmt::Debug for Sellerdesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sellerdesk")
            .field("layout", &self.layout)
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

/// A bearer token on every call.
#[derive(Debug, Clone)]
pub struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

pub type Authed = InterceptedService<Channel, Bearer>;

const LABEL: &str = "sellerdesk.testcontainers.pid";

static SHARED: tokio::sync::Mutex<Option<(Layout, Weak<Sellerdesk>)>> =
    tokio::sync::Mutex::const_new(None);

fn image(var: &str, default: &str) -> (String, String) {
    let name = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    match name.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => (n.to_owned(), tag.to_owned()),
        _ => (name, "latest".to_owned()),
    }
}

/// Removes containers an earlier, killed run left (its process is gone).
fn remove_orphans() {
    let Ok(out) = std::process::Command::new("docker")
        .args(["ps", "-a", "--filter", &format!("label={LABEL}")])
        .args([
            "--format",
            &format!("{{{{.ID}}}} {{{{.Label \"{LABEL}\"}}}}"),
        ])
        .output()
    else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((id, pid)) = line.split_once(' ') else {
            continue;
        };
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", "-v", id])
                .output();
        }
    }
}

impl Sellerdesk {
    /// The set every test of this binary shares while any holds it.
    pub async fn shared(layout: Layout) -> Result<Arc<Self>, String> {
        let mut shared = SHARED.lock().await;
        if let Some((l, weak)) = shared.as_ref() {
            if *l == layout {
                if let Some(s) = weak.upgrade() {
                    return Ok(s);
                }
            }
        }
        let started = Arc::new(Self::start(layout).await?);
        *shared = Some((layout, Arc::downgrade(&started)));
        Ok(started)
    }

    /// A set of its own.
    pub async fn start(layout: Layout) -> Result<Self, String> {
        remove_orphans();
        let keys = tempfile::tempdir().map_err(|e| e.to_string())?;
        let signer = TokenSigner::generate();
        // The containers' user reads the public half; the private key never
        // leaves this process.
        let public = keys.path().join("public");
        std::fs::create_dir(&public).map_err(|e| e.to_string())?;
        let jwks = serde_json_jwks(&signer);
        std::fs::write(public.join("jwks.json"), jwks).map_err(|e| e.to_string())?;
        std::fs::write(public.join("revoked-tokens"), "").map_err(|e| e.to_string())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for (p, mode) in [
                (keys.path().to_path_buf(), 0o755),
                (public.clone(), 0o755),
                (public.join("jwks.json"), 0o644),
                (public.join("revoked-tokens"), 0o644),
            ] {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| e.to_string())?;
            }
        }
        let auth = Mount::bind_mount(public.to_string_lossy().into_owned(), "/auth");
        let (containers, endpoints, network) = match layout {
            Layout::Embedded => embedded(auth).await?,
            Layout::Stack => stack(auth).await?,
        };
        Ok(Self {
            layout,
            signer,
            endpoints,
            containers,
            network,
            _keys: keys,
        })
    }

    /// `http://127.0.0.1:<port>` of a service (`compliance`, `faq`, ...).
    pub fn endpoint(&self, service: &str) -> Option<&str> {
        self.endpoints.get(service).map(String::as_str)
    }

    /// A token for `shop` (empty for the platform) as `role`, valid one hour.
    pub fn token(&self, shop: &str, role: Role, account: &str) -> String {
        self.signer.mint(&Claims {
            shop: shop.to_owned(),
            sub: account.to_owned(),
            role,
            exp: chrono::Utc::now().timestamp() + 3600,
        })
    }

    async fn channel(&self, service: &str, shop: &str, role: Role) -> Result<Authed, String> {
        let endpoint = self
            .endpoint(service)
            .ok_or_else(|| format!("no service {service}"))?;
        let channel = Channel::from_shared(endpoint.to_owned())
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| format!("{service} at {endpoint}: {e}"))?;
        let token = self.token(shop, role, "testcontainers");
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| "token is not ASCII".to_owned())?;
        Ok(InterceptedService::new(channel, Bearer(value)))
    }

    pub async fn compliance(
        &self,
        shop: &str,
        role: Role,
    ) -> Result<ComplianceServiceClient<Authed>, String> {
        Ok(ComplianceServiceClient::new(
            self.channel("compliance", shop, role).await?,
        ))
    }

    pub async fn faq(&self, shop: &str, role: Role) -> Result<FaqServiceClient<Authed>, String> {
        Ok(FaqServiceClient::new(
            self.channel("faq", shop, role).await?,
        ))
    }

    pub async fn chat(&self, shop: &str, role: Role) -> Result<ChatServiceClient<Authed>, String> {
        Ok(ChatServiceClient::new(
            self.channel("chat", shop, role).await?,
        ))
    }

    pub async fn affiliate(
        &self,
        shop: &str,
        role: Role,
    ) -> Result<AffiliateServiceClient<Authed>, String> {
        Ok(AffiliateServiceClient::new(
            self.channel("affiliate", shop, role).await?,
        ))
    }

    pub async fn ads(&self, shop: &str, role: Role) -> Result<AdsServiceClient<Authed>, String> {
        Ok(AdsServiceClient::new(
            self.channel("ads", shop, role).await?,
        ))
    }
}

fn serde_json_jwks(signer: &TokenSigner) -> String {
    format!("{{\"keys\":[{}]}}", signer.public_jwk())
}

fn sellerdesk_image() -> GenericImage {
    let (name, tag) = image("SELLERDESK_IMAGE", "sellerdesk:local");
    GenericImage::new(name, tag)
        // The image's HEALTHCHECK asks every service's gRPC health.
        .with_wait_for(WaitFor::Healthcheck(
            HealthWaitStrategy::default().with_poll_interval(Duration::from_millis(250)),
        ))
}

async fn started(
    request: testcontainers_modules::testcontainers::ContainerRequest<GenericImage>,
    what: &str,
) -> Result<ContainerAsync<GenericImage>, String> {
    request
        .with_label(LABEL, std::process::id().to_string())
        .with_startup_timeout(Duration::from_secs(120))
        .start()
        .await
        .map_err(|e| format!("{what}: {e} (is Docker running, and the image built?)"))
}

async fn host_endpoint(c: &ContainerAsync<GenericImage>, port: u16) -> Result<String, String> {
    let host = c
        .get_host_port_ipv4(ContainerPort::Tcp(port))
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!("http://127.0.0.1:{host}"))
}

type Started = (
    Vec<ContainerAsync<GenericImage>>,
    BTreeMap<&'static str, String>,
    Option<String>,
);

async fn embedded(auth: Mount) -> Result<Started, String> {
    let mut image = sellerdesk_image();
    for (_, port) in SERVICES {
        image = image.with_exposed_port(ContainerPort::Tcp(port));
    }
    let request = image
        .with_cmd(["up"])
        .with_env_var("SELLERDESK_AUTH_JWKS_FILE", "/auth/jwks.json")
        .with_env_var("SELLERDESK_AUTH_REVOKED_FILE", "/auth/revoked-tokens")
        .with_mount(auth);
    let c = started(request, "sellerdesk up").await?;
    let mut endpoints = BTreeMap::new();
    for (name, port) in SERVICES {
        endpoints.insert(name, host_endpoint(&c, port).await?);
    }
    Ok((vec![c], endpoints, None))
}

async fn stack(auth: Mount) -> Result<Started, String> {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let network = format!("sellerdesk-{run}");
    let name = |what: &str| format!("sd-{what}-{run}");
    let mut containers = Vec::new();

    let (pg_name, pg_tag) = image("POSTGRES_IMAGE", "postgres:15");
    let databases: String = SERVICES
        .iter()
        .filter(|(s, _)| *s != "compliance")
        .map(|(s, _)| format!("CREATE DATABASE {s};\n"))
        .collect();
    let pg = started(
        GenericImage::new(pg_name, pg_tag)
            .with_exposed_port(ContainerPort::Tcp(5432))
            .with_network(network.clone())
            .with_container_name(name("postgres"))
            .with_env_var("POSTGRES_PASSWORD", "sellerdesk")
            .with_env_var("POSTGRES_DB", "compliance")
            .with_copy_to(
                "/docker-entrypoint-initdb.d/10-databases.sql",
                databases.into_bytes(),
            ),
        "PostgreSQL",
    )
    .await?;
    // Ready when the last database the init script makes answers (the
    // server restarts once after its first initialisation).
    let pg_port = pg
        .get_host_port_ipv4(ContainerPort::Tcp(5432))
        .await
        .map_err(|e| e.to_string())?;
    wait_for_postgres(&format!(
        "postgres://postgres:sellerdesk@127.0.0.1:{pg_port}/ads"
    ))
    .await?;
    containers.push(pg);

    let (nats_name, nats_tag) = image("NATS_IMAGE", "nats:2.10");
    let nats = started(
        GenericImage::new(nats_name, nats_tag)
            .with_wait_for(WaitFor::message_on_stderr("Server is ready"))
            .with_network(network.clone())
            .with_container_name(name("nats"))
            .with_cmd(["-js"]),
        "NATS",
    )
    .await?;
    containers.push(nats);

    let mut endpoints = BTreeMap::new();
    for (service, port) in SERVICES {
        let request = sellerdesk_image()
            .with_exposed_port(ContainerPort::Tcp(port))
            .with_network(network.clone())
            .with_container_name(name(service))
            .with_cmd(["serve", service])
            .with_env_var(
                "SELLERDESK_DATABASE_URL",
                format!(
                    "postgres://postgres:sellerdesk@{}:5432/{service}",
                    name("postgres")
                ),
            )
            .with_env_var(
                "SELLERDESK_NATS_URL",
                format!("nats://{}:4222", name("nats")),
            )
            .with_env_var(
                "SELLERDESK_CHAT_FAQ_URL",
                format!("http://{}:50052", name("faq")),
            )
            .with_env_var("SELLERDESK_AUTH_JWKS_FILE", "/auth/jwks.json")
            .with_env_var("SELLERDESK_AUTH_REVOKED_FILE", "/auth/revoked-tokens")
            .with_mount(auth.clone());
        let c = started(request, service).await?;
        endpoints.insert(service, host_endpoint(&c, port).await?);
        containers.push(c);
    }
    Ok((containers, endpoints, Some(network)))
}

async fn wait_for_postgres(url: &str) -> Result<(), String> {
    use sqlx::Connection;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match sqlx::PgConnection::connect(url).await {
            Ok(c) => {
                let _ = c.close().await;
                return Ok(());
            }
            Err(e) if std::time::Instant::now() > deadline => {
                return Err(format!("PostgreSQL did not answer: {e}"))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}
