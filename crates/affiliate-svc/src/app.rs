//! Load -> decide -> append, retried on a version conflict. A shop's outreach
//! is folded from its stream per command (it is small); the marketplace is
//! every creator's profile and reliability, folded from the whole log at
//! start and then from the log's tail (R-AFF-5): before every command and
//! every read it takes in what any replica committed since (one query that
//! is empty when nothing is new), so replicas answer alike (R-X-4).

use crate::domain::{Command, Event, Instant, Limits, Marketplace, Outreach, ShopOutreach, World};
use sellerdesk_core::Decider;
use sellerdesk_eventstore::{codec, EventStore, Follower, Metadata, RecordedEvent};
use sellerdesk_runtime::{
    command::{CommandPath, Target},
    Clock,
};
use std::sync::{Arc, RwLock};

pub use sellerdesk_runtime::errors::AppError;

pub const SCHEMA_VERSION: i32 = 1;
const READ_BATCH: i64 = 10_000;

pub fn shop_stream(shop: &str) -> String {
    format!("affiliate-shop-{shop}")
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
}

/// The marketplace and the log position it has folded.
#[derive(Debug, Default)]
struct Market {
    folded: Marketplace,
    position: i64,
}

impl Affiliate {
    pub async fn open(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        limits: Limits,
    ) -> Result<Arc<Self>, AppError> {
        let mut market = Marketplace::default();
        let after = sellerdesk_eventstore::replay_log(store.as_ref(), READ_BATCH, |e| {
            if e.stream_id.starts_with("affiliate-") {
                market.apply(&codec::decode(e)?);
            }
            Ok(())
        })
        .await?;
        Ok(Arc::new(Self {
            path: CommandPath::new(store, clock),
            limits,
            market: RwLock::new(Market {
                folded: market,
                position: after,
            }),
            following: tokio::sync::Mutex::new(()),
        }))
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
