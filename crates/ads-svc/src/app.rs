//! Load -> decide -> append, retried on a version conflict; and the consumer
//! of compliance-svc's published events (R-ADS-13). A shop's account is small
//! (its orders), so every command folds it from the log: nothing to keep in
//! step, and the consumer's writes are visible to the next command at once.

use crate::domain::{decide, Account, AdsAccount, Command, Event, Instant, TierChange};
use async_trait::async_trait;
use sellerdesk_bus::{BusMessage, Handler};
use sellerdesk_eventstore::{Append, EventStore, Metadata};
use sellerdesk_runtime::{
    command::{CommandPath, Target},
    Clock,
};
use std::sync::Arc;

pub use sellerdesk_runtime::errors::AppError;

pub const SCHEMA_VERSION: i32 = 1;
/// The consumer's name in the inbox and on the bus.
pub const RIGHTS_CONSUMER: &str = "ads-selling-rights";

pub fn account_stream(shop: &str) -> String {
    format!("ads-account-{shop}")
}

fn target<'a>(stream: &'a str, shop: &'a str) -> Target<'a> {
    Target {
        stream,
        shop,
        schema_version: SCHEMA_VERSION,
        fold: true,
    }
}

#[derive(Debug)]
pub struct Ads {
    path: CommandPath,
}

impl Ads {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            path: CommandPath::new(store, clock),
        }
    }

    pub fn now(&self) -> Instant {
        self.path.now()
    }

    /// The shop's account as its log says now.
    pub async fn load(&self, shop: &str) -> Result<AdsAccount, AppError> {
        self.path.load::<Account>(&account_stream(shop)).await
    }

    /// Runs the command the closure builds at the command's instant; returns
    /// the account after it and the events it caused.
    pub async fn execute(
        &self,
        shop: &str,
        metadata: &Metadata,
        command: impl Fn(Instant) -> Command,
    ) -> Result<(AdsAccount, Vec<Event>), AppError> {
        let stream = account_stream(shop);
        self.path
            .execute::<Account>(target(&stream, shop), metadata, |account, at| {
                decide(account, &command(at))
            })
            .await
    }
}

/// R-ADS-13: compliance-svc's SellingRightsRevoked and SellingRightsRestored,
/// and (R-CMP-13) its TierChanged with the measures it applied, as published
/// (the contract is the event, not compliance-svc's code).
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
            "TierChanged" => Command::RecordTierChanged {
                change: TierChange::from_payload(&message.payload)?,
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
        let stream = account_stream(shop);
        Ok(Some(self.ads.path.append_after::<Account>(
            target(&stream, shop),
            &account,
            &events,
            &metadata,
        )))
    }
}
