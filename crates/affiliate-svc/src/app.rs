//! Load -> decide -> append, retried on a version conflict. A shop's outreach
//! is folded from its stream per command (it is small); the marketplace is
//! every creator's profile and reliability, folded from the whole log at
//! start and kept in step with each committed append (R-AFF-5). One process
//! writes the log (the Kubernetes manifest runs one replica).

use crate::domain::{decide, Command, Event, Instant, Limits, Marketplace, Outreach};
use sellerdesk_eventstore::{
    codec, Append, AppendError, EventStore, ExpectedVersion, Metadata, StoreError,
};
use sellerdesk_runtime::Clock;
use std::sync::{Arc, RwLock};

pub const SCHEMA_VERSION: i32 = 1;
const MAX_ATTEMPTS: usize = 16;
const READ_BATCH: i64 = 10_000;

pub fn shop_stream(shop: &str) -> String {
    format!("affiliate-shop-{shop}")
}

pub fn creator_stream(creator_id: &str) -> String {
    format!("affiliate-creator-{creator_id}")
}

pub use sellerdesk_runtime::errors::AppError;

#[derive(Debug)]
pub struct Affiliate {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
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
            store,
            clock,
            limits,
            market: RwLock::new(market),
        }))
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn market<R>(&self, f: impl FnOnce(&Marketplace) -> R) -> R {
        f(&self.market.read().expect("market lock"))
    }

    pub async fn outreach(&self, shop: &str) -> Result<Outreach, AppError> {
        let stream = shop_stream(shop);
        let mut outreach = Outreach::default();
        loop {
            let page = self
                .store
                .read_stream(&stream, outreach.version, READ_BATCH)
                .await?;
            for e in &page {
                outreach.apply(&codec::decode(e)?);
            }
            if (page.len() as i64) < READ_BATCH {
                return Ok(outreach);
            }
        }
    }

    /// Runs a shop's command (or, with `shop` None, the platform's creator
    /// profile); returns the outreach after it and the events it caused.
    pub async fn execute(
        &self,
        shop: Option<&str>,
        metadata: &Metadata,
        command: impl Fn(Instant) -> Command,
    ) -> Result<(Outreach, Vec<Event>), AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut outreach = match shop {
                Some(s) => self.outreach(s).await?,
                None => Outreach::default(),
            };
            let command = command(self.clock.now());
            let events = self.market(|m| decide(&outreach, m, &command, &self.limits))?;
            if events.is_empty() {
                return Ok((outreach, events));
            }
            let (stream, expected, envelope_shop) = match (shop, &command) {
                (None, Command::ProfileCreator { profile }) => (
                    creator_stream(&profile.creator_id),
                    ExpectedVersion::Any,
                    "",
                ),
                (Some(s), _) => (shop_stream(s), ExpectedVersion::after(outreach.version), s),
                (None, _) => unreachable!("only creator profiles are platform-wide"),
            };
            let at = self.clock.now();
            let new = events
                .iter()
                .map(|e| {
                    codec::encode(
                        e,
                        e.type_name(),
                        SCHEMA_VERSION,
                        envelope_shop,
                        at,
                        metadata,
                    )
                })
                .collect();
            match self.store.append(Append::new(&stream, expected, new)).await {
                Ok(_) => {
                    let mut market = self.market.write().expect("market lock");
                    for e in &events {
                        outreach.apply(e);
                        market.apply(e);
                    }
                    return Ok((outreach, events));
                }
                Err(AppendError::Conflict { .. }) => continue,
                Err(AppendError::Store(e)) => return Err(e.into()),
                Err(e) => return Err(StoreError::Corrupt(e.to_string()).into()),
            }
        }
        Err(AppError::Contended(
            shop.map(shop_stream).unwrap_or_default(),
        ))
    }
}
