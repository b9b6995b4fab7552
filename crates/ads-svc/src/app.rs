//! Load -> decide -> append, retried on a version conflict; and the consumer
//! of compliance-svc's published events (R-ADS-13). A shop's account is small
//! (its orders), so every command folds it from the log: nothing to keep in
//! step, and the consumer's writes are visible to the next command at once.

use crate::domain::{decide, AdsAccount, Command, Event, Instant};
use async_trait::async_trait;
use sellerdesk_bus::{BusMessage, Handler};
use sellerdesk_eventstore::{
    codec, Append, AppendError, EventStore, ExpectedVersion, Metadata, RecordedEvent, StoreError,
};
use sellerdesk_runtime::Clock;
use std::sync::Arc;

pub const SCHEMA_VERSION: i32 = 1;
const MAX_ATTEMPTS: usize = 16;
const READ_BATCH: i64 = 10_000;
/// The consumer's name in the inbox and on the bus.
pub const RIGHTS_CONSUMER: &str = "ads-selling-rights";

pub fn account_stream(shop: &str) -> String {
    format!("ads-account-{shop}")
}

pub use sellerdesk_runtime::errors::AppError;

#[derive(Debug)]
pub struct Ads {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
}

impl Ads {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The shop's account as its log says now.
    pub async fn load(&self, shop: &str) -> Result<AdsAccount, AppError> {
        let stream = account_stream(shop);
        let mut account = AdsAccount::default();
        loop {
            let page = self
                .store
                .read_stream(&stream, account.version, READ_BATCH)
                .await?;
            for e in &page {
                account.apply(&decode(e)?);
            }
            if (page.len() as i64) < READ_BATCH {
                return Ok(account);
            }
        }
    }

    fn append_for(
        &self,
        shop: &str,
        account: &AdsAccount,
        events: &[Event],
        metadata: &Metadata,
    ) -> Append {
        let at = self.clock.now();
        let new = events
            .iter()
            .map(|e| codec::encode(e, e.type_name(), SCHEMA_VERSION, shop, at, metadata))
            .collect();
        let expected = ExpectedVersion::after(account.version);
        Append::new(account_stream(shop), expected, new)
    }

    /// Runs the command the closure builds at the current instant; returns the
    /// account after it and the events it caused.
    pub async fn execute(
        &self,
        shop: &str,
        metadata: &Metadata,
        command: impl Fn(Instant) -> Command,
    ) -> Result<(AdsAccount, Vec<Event>), AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut account = self.load(shop).await?;
            let events = decide(&account, &command(self.clock.now()))?;
            if events.is_empty() {
                return Ok((account, events));
            }
            match self
                .store
                .append(self.append_for(shop, &account, &events, metadata))
                .await
            {
                Ok(_) => {
                    for e in &events {
                        account.apply(e);
                    }
                    return Ok((account, events));
                }
                Err(AppendError::Conflict { .. }) => continue,
                Err(AppendError::Store(e)) => return Err(e.into()),
                Err(e) => return Err(StoreError::Corrupt(e.to_string()).into()),
            }
        }
        Err(AppError::Contended(account_stream(shop)))
    }
}

fn decode(e: &RecordedEvent) -> Result<Event, StoreError> {
    codec::decode(e)
}

/// R-ADS-13: compliance-svc's SellingRightsRevoked and SellingRightsRestored,
/// as published (the contract is the event, not compliance-svc's code).
#[derive(Debug)]
pub struct SellingRights {
    pub ads: Arc<Ads>,
}

#[async_trait]
impl Handler for SellingRights {
    async fn handle(&self, message: &BusMessage) -> Result<Option<Append>, String> {
        let command = match message.event_type.as_str() {
            "SellingRightsRevoked" => Command::RecordRightsRevoked {
                at: message.occurred_at,
                source_position: message.global_position,
            },
            "SellingRightsRestored" => Command::RecordRightsRestored {
                at: message.occurred_at,
                source_position: message.global_position,
            },
            _ => return Ok(None),
        };
        let shop = &message.shop_id;
        let account = self.ads.load(shop).await.map_err(|e| e.to_string())?;
        let events = decide(&account, &command).map_err(|e| e.to_string())?;
        if events.is_empty() {
            return Ok(None);
        }
        tracing::info!(shop, event = %message.event_type, "selling rights changed: orders follow");
        let metadata = Metadata {
            correlation_id: None,
            causation_id: Some(message.event_id),
            actor: Some("system:compliance".into()),
            traceparent: message.traceparent.clone(),
        };
        Ok(Some(
            self.ads.append_for(shop, &account, &events, &metadata),
        ))
    }
}
