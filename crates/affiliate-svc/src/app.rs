//! Load -> decide -> append, retried on a version conflict. A shop's outreach
//! is folded from its stream per command (it is small); the marketplace is
//! every creator's profile and reliability, folded from the whole log at
//! start and kept in step with each committed append (R-AFF-5). One process
//! writes the log (the Kubernetes manifest runs one replica).

use crate::domain::{Command, Event, Instant, Limits, Marketplace, Outreach, ShopOutreach, World};
use sellerdesk_core::Decider;
use sellerdesk_eventstore::{codec, EventStore, Metadata};
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
    market: RwLock<Marketplace>,
}

impl Affiliate {
    pub async fn open(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        limits: Limits,
    ) -> Result<Arc<Self>, AppError> {
        let mut market = Marketplace::default();
        let mut after = 0;
        loop {
            let page = store.replay_all(after, READ_BATCH).await?;
            for e in &page {
                after = e.global_position;
                if e.stream_id.starts_with("affiliate-") {
                    market.apply(&codec::decode(e)?);
                }
            }
            if (page.len() as i64) < READ_BATCH {
                break;
            }
        }
        Ok(Arc::new(Self {
            path: CommandPath::new(store, clock),
            limits,
            market: RwLock::new(market),
        }))
    }

    pub fn now(&self) -> Instant {
        self.path.now()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn market<R>(&self, f: impl FnOnce(&Marketplace) -> R) -> R {
        f(&self.market.read().expect("market lock"))
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
        // The marketplace follows what was committed (R-AFF-5).
        let mut market = self.market.write().expect("market lock");
        for e in &events {
            market.apply(e);
        }
        Ok((outreach, events))
    }
}
