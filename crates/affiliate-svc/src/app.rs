//! Load -> decide -> append, retried on a version conflict. A shop's outreach
//! is folded from its stream per command (it is small); the marketplace is
//! every creator's profile and reliability, folded from the whole log at
//! start and then from the log's tail (R-AFF-5): before every command and
//! every read it takes in what any replica committed since (one query that
//! is empty when nothing is new), so replicas answer alike (R-X-4).

use crate::domain::{Command, Event, Instant, Limits, Marketplace, Outreach, ShopOutreach, World};
use sellerdesk_core::Decider;
use sellerdesk_eventstore::{codec, EventStore, Follower, Metadata, RecordedEvent, Snapshot};
use sellerdesk_runtime::{
    command::{CommandPath, Target},
    Clock,
};
use std::sync::{Arc, RwLock};

pub use sellerdesk_runtime::errors::AppError;

pub const SCHEMA_VERSION: i32 = 1;
const READ_BATCH: i64 = 10_000;

/// A shop's outreach stream is this and the shop id.
pub const SHOP_STREAM_PREFIX: &str = "affiliate-shop-";

pub fn shop_stream(shop: &str) -> String {
    format!("{SHOP_STREAM_PREFIX}{shop}")
}

pub fn creator_stream(creator_id: &str) -> String {
    format!("affiliate-creator-{creator_id}")
}

#[derive(Debug)]
pub struct Affiliate {
    path: CommandPath,
    limits: Limits,
    market: RwLock<Market>,
    /// One catch-up at a time: each event is folded once, in log order.
    following: tokio::sync::Mutex<()>,
    /// The log position of the last snapshot this replica saved or started from.
    saved: std::sync::atomic::AtomicI64,
}

/// The marketplace's snapshot key, and how often the replica holding the
/// lease saves it.
const MARKET_SNAPSHOT: &str = "affiliate:marketplace";
const SNAPSHOT_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// The marketplace and the log position it has folded.
#[derive(Debug, Default)]
struct Market {
    folded: Marketplace,
    position: i64,
}

impl Affiliate {
    /// Opens the service from the marketplace's snapshot and the log's tail
    /// past it; the whole log only when there is no snapshot yet.
    pub async fn open(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        limits: Limits,
    ) -> Result<Arc<Self>, AppError> {
        let market = match store.load_snapshot(MARKET_SNAPSHOT).await? {
            Some(kept) => match serde_json::from_str(&kept.body) {
                Ok(folded) => Market {
                    folded,
                    position: kept.position,
                },
                // A snapshot of an older layout: the log is the truth, so
                // fold it again; the snapshot task saves the new layout.
                Err(e) => {
                    tracing::warn!(error = %e, "the marketplace snapshot does not read; folding the log");
                    Market::default()
                }
            },
            None => Market::default(),
        };
        let saved = market.position;
        let app = Arc::new(Self {
            path: CommandPath::new(store, clock),
            limits,
            market: RwLock::new(market),
            following: tokio::sync::Mutex::new(()),
            saved: std::sync::atomic::AtomicI64::new(saved),
        });
        app.catch_up_market().await?;
        Ok(app)
    }

    /// Saves the marketplace as a snapshot when the log has moved since the
    /// last one. Run by one replica at a time (a lease); any replica starts
    /// from what it saved.
    pub async fn save_market(&self) -> Result<bool, AppError> {
        self.catch_up_market().await?;
        let (body, position) = {
            let market = self.market.read().expect("market lock");
            if market.position <= self.saved.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(false);
            }
            let body = serde_json::to_string(&market.folded).map_err(|e| {
                AppError::Store(sellerdesk_eventstore::StoreError::Corrupt(e.to_string()))
            })?;
            (body, market.position)
        };
        let kept = Snapshot {
            key: MARKET_SNAPSHOT.to_owned(),
            version: position,
            position,
            body,
        };
        self.path.store().save_snapshots(&[kept]).await?;
        self.saved
            .store(position, std::sync::atomic::Ordering::Relaxed);
        Ok(true)
    }

    /// Saves the marketplace every `SNAPSHOT_EVERY`, for ever.
    pub async fn keep_market_snapshot(self: Arc<Self>) {
        loop {
            tokio::time::sleep(SNAPSHOT_EVERY).await;
            if let Err(e) = self.save_market().await {
                tracing::warn!(error = %e, "saving the marketplace snapshot failed; next round retries");
            }
        }
    }

    /// Folds what the log has past the marketplace's position.
    async fn catch_up_market(&self) -> Result<(), AppError> {
        let _one = self.following.lock().await;
        let position = self.market.read().expect("market lock").position;
        let mut follower = Follower::after(
            self.path.store().clone(),
            "affiliate-market",
            position,
            READ_BATCH,
        );
        follower
            .catch_up(&mut |batch: Vec<RecordedEvent>| async move {
                let mut market = self.market.write().expect("market lock");
                for e in &batch {
                    if e.stream_id.starts_with("affiliate-") {
                        market.folded.apply(&codec::decode(e)?);
                    }
                    market.position = e.global_position;
                }
                Ok::<_, sellerdesk_eventstore::StoreError>(())
            })
            .await
            .map_err(|e| match e {
                sellerdesk_eventstore::FollowError::Store(e)
                | sellerdesk_eventstore::FollowError::Handler(e) => AppError::Store(e),
            })?;
        Ok(())
    }

    /// Reads the marketplace with every replica's commits in it.
    pub async fn market_now<R>(&self, f: impl FnOnce(&Marketplace) -> R) -> Result<R, AppError> {
        self.catch_up_market().await?;
        Ok(self.market(f))
    }

    pub fn now(&self) -> Instant {
        self.path.now()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn market<R>(&self, f: impl FnOnce(&Marketplace) -> R) -> R {
        f(&self.market.read().expect("market lock").folded)
    }

    /// The record under `id` in one of the read models of records
    /// (invitations, samples: every one, archived ones included), if any.
    pub async fn on_record<R: sellerdesk_runtime::records::Record>(
        &self,
        records: &sellerdesk_runtime::records::Records,
        shop: &str,
        id: &str,
    ) -> Result<Option<R>, AppError> {
        Ok(records.get(self.path.store().as_ref(), shop, id).await?)
    }

    /// A page of every invitation the shop sent, newest first, with ids.
    pub async fn invitation_history(
        &self,
        shop: &str,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<(String, crate::domain::Invitation)>, AppError> {
        Ok(crate::invitations::INVITATIONS
            .page(self.path.store().as_ref(), shop, after, limit)
            .await?)
    }

    pub async fn outreach(&self, shop: &str) -> Result<Outreach, AppError> {
        self.path.load::<ShopOutreach>(&shop_stream(shop)).await
    }

    /// Runs a shop's command (or, with `shop` None, the platform's creator
    /// profile, which stands alone in the creator's stream); returns the
    /// outreach after it and the events it caused.
    pub async fn execute(
        &self,
        shop: Option<&str>,
        metadata: &Metadata,
        command: impl Fn(Instant) -> Command,
    ) -> Result<(Outreach, Vec<Event>), AppError> {
        let (stream, target_shop, fold) = match shop {
            Some(s) => (shop_stream(s), s, true),
            None => match command(self.now()) {
                Command::ProfileCreator { profile } => {
                    (creator_stream(&profile.creator_id), "", false)
                }
                other => {
                    return Err(AppError::Store(sellerdesk_eventstore::StoreError::Corrupt(
                        format!("only creator profiles are platform-wide, not {other:?}"),
                    )))
                }
            },
        };
        let target = Target {
            stream: &stream,
            shop: target_shop,
            schema_version: SCHEMA_VERSION,
            fold,
        };
        self.catch_up_market().await?;
        let (outreach, events) = self
            .path
            .execute::<ShopOutreach>(target, metadata, |outreach, at| {
                self.market(|market| {
                    let world = World {
                        market,
                        limits: &self.limits,
                    };
                    ShopOutreach::decide(&command(at), outreach, &world)
                })
            })
            .await?;
        // The marketplace takes in what was committed, in log order (R-AFF-5).
        if !events.is_empty() {
            self.catch_up_market().await?;
        }
        Ok((outreach, events))
    }
}

/// What a bulk publication of creator profiles did.
#[derive(Debug, Default)]
pub struct Published {
    /// New creators and changed profiles, appended.
    pub published: usize,
    /// Profiles the marketplace already had as they are.
    pub unchanged: usize,
    /// Refused profiles: their index in the input and why.
    pub refused: Vec<(usize, crate::domain::DomainError)>,
}

impl Affiliate {
    /// Publishes many creator profiles at once (the importer and the seed):
    /// each is decided as ProfileCreator decides it (validated, one handle
    /// per creator, unchanged ones skipped); a creator named twice takes
    /// the later profile. The appends go out concurrently, so the store
    /// groups them into few round trips.
    pub async fn publish_creators(
        &self,
        profiles: &[crate::domain::CreatorProfile],
        metadata: &Metadata,
    ) -> Result<Published, AppError> {
        use futures::StreamExt;
        self.catch_up_market().await?;
        let at = self.now();
        let mut out = Published::default();
        // creator -> its append; handle -> the creator claiming it here.
        let mut appends: std::collections::HashMap<&str, sellerdesk_eventstore::Append> =
            std::collections::HashMap::new();
        let mut claimed: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
        self.market(|market| {
            for (i, p) in profiles.iter().enumerate() {
                let command = Command::ProfileCreator { profile: p.clone() };
                let decided =
                    crate::domain::decide(&Outreach::default(), market, &command, &self.limits);
                let handle = p.handle.trim().to_lowercase();
                match decided {
                    Err(e) => out.refused.push((i, e)),
                    Ok(_) if claimed.get(&handle).is_some_and(|c| *c != p.creator_id) => {
                        out.refused.push((
                            i,
                            crate::domain::DomainError::Invalid(vec![(
                                "profile.handle".into(),
                                format!(
                                    "already the handle of creator {:?} in this import",
                                    claimed[&handle]
                                ),
                            )]),
                        ))
                    }
                    Ok(events) if events.is_empty() => out.unchanged += 1,
                    Ok(events) => {
                        claimed.insert(handle, &p.creator_id);
                        let new = events
                            .iter()
                            .map(|e| {
                                codec::encode(e, e.type_name(), SCHEMA_VERSION, "", at, metadata)
                            })
                            .collect();
                        let append = sellerdesk_eventstore::Append::new(
                            creator_stream(&p.creator_id),
                            sellerdesk_eventstore::ExpectedVersion::Any,
                            new,
                        );
                        if appends.insert(&p.creator_id, append).is_none() {
                            out.published += 1;
                        }
                    }
                }
            }
        });
        let store = self.path.store().clone();
        let mut done = futures::stream::iter(appends.into_values())
            .map(|a| {
                let store = store.clone();
                async move { store.append(a).await }
            })
            .buffer_unordered(64);
        while let Some(appended) = done.next().await {
            appended.map_err(AppError::from)?;
        }
        self.catch_up_market().await?;
        Ok(out)
    }
}

/// The durable consumer of compliance-svc's events in affiliate-svc.
pub const COMPLIANCE_CONSUMER: &str = "affiliate-compliance";

/// R-CMP-13: compliance-svc's SellingRightsRevoked / Restored and
/// TierChanged, as published, so outreach refuses what they forbid. Each
/// applies by its position in compliance-svc's log, never by arrival.
#[derive(Debug)]
pub struct CompliancePenalties {
    pub affiliate: Arc<Affiliate>,
}

#[async_trait::async_trait]
impl sellerdesk_bus::Handler for CompliancePenalties {
    async fn handle(
        &self,
        message: &sellerdesk_bus::BusMessage,
    ) -> Result<Option<sellerdesk_eventstore::Append>, String> {
        let (at, source_position) = (message.occurred_at, message.global_position);
        let command = match message.event_type.as_str() {
            "SellingRightsRevoked" | "SellingRightsRestored" => Command::RecordSellingRights {
                revoked: message.event_type == "SellingRightsRevoked",
                at,
                source_position,
            },
            "TierChanged" => Command::RecordTierChanged {
                change: crate::domain::TierChange::from_payload(&message.payload)?,
                at,
                source_position,
            },
            _ => return Ok(None),
        };
        let shop = &message.shop_id;
        let outreach = self
            .affiliate
            .outreach(shop)
            .await
            .map_err(|e| e.to_string())?;
        let events = crate::domain::decide(
            &outreach,
            &Marketplace::default(),
            &command,
            &self.affiliate.limits,
        )
        .map_err(|e| e.to_string())?;
        if events.is_empty() {
            return Ok(None);
        }
        let metadata = Metadata {
            correlation_id: None,
            causation_id: Some(message.event_id),
            actor: Some("system:compliance".into()),
            traceparent: message.traceparent.clone(),
        };
        let stream = shop_stream(shop);
        let target = Target {
            stream: &stream,
            shop,
            schema_version: SCHEMA_VERSION,
            fold: true,
        };
        Ok(Some(self.affiliate.path.append_after::<ShopOutreach>(
            target, &outreach, &events, &metadata,
        )))
    }
}
