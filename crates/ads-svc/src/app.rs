//! Load -> decide -> append, retried on a version conflict; and the consumer
//! of compliance-svc's published events (R-ADS-13). Every command loads the
//! shop's account from the log (its snapshot and the events after it):
//! nothing to keep in step between replicas, and the consumer's writes are
//! visible to the next command at once.

use crate::domain::{decide, Account, AdsAccount, Command, Event, Instant, Order, TierChange};
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

    /// The order under `order_id` in the orders read model (every order,
    /// archived ones included), if there is one.
    pub async fn on_record(&self, shop: &str, order_id: &str) -> Result<Option<Order>, AppError> {
        Ok(crate::orders::ORDERS
            .get(self.path.store().as_ref(), shop, order_id)
            .await?)
    }

    /// A page of every order the shop placed, newest first (the read model).
    pub async fn order_history(
        &self,
        shop: &str,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<Order>, AppError> {
        let page = crate::orders::ORDERS
            .page(self.path.store().as_ref(), shop, after, limit)
            .await?;
        Ok(page.into_iter().map(|(_, order)| order).collect())
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

/// R-ADS-14: the delivery windows. The replica holding the lease follows the
/// log from a checkpoint and keeps one snapshot row per delivering order
/// (`ads:window/<shop>/<order>/`, its start in the body); every
/// [`WINDOW_TICK`] it ends the orders whose window has closed. Memory and
/// start-up hold the delivering orders only, never the log.
pub const WINDOW_CHECKPOINT: &str = "ads-windows";
const WINDOW_PREFIX: &str = "ads:window/";
pub const WINDOW_TICK: std::time::Duration = std::time::Duration::from_secs(30);
pub const ACCOUNT_PREFIX: &str = "ads-account-";

fn window_key(shop: &str, order_id: &str) -> String {
    format!("{WINDOW_PREFIX}{shop}/{order_id}/")
}

impl Ads {
    /// Folds what the log has past the checkpoint into the kept set of
    /// delivering orders.
    async fn follow_windows(&self) -> Result<(), AppError> {
        let store = self.path.store().clone();
        let mut follower =
            sellerdesk_eventstore::Follower::checkpointed(store.clone(), WINDOW_CHECKPOINT, 1_000);
        follower
            .catch_up(&mut |batch: Vec<sellerdesk_eventstore::RecordedEvent>| {
                let store = store.clone();
                async move {
                    for r in &batch {
                        let Some(shop) = r.stream_id.strip_prefix(ACCOUNT_PREFIX) else {
                            continue;
                        };
                        match sellerdesk_eventstore::codec::decode::<Event>(r)? {
                            Event::ReviewApproved { order_id, at } => {
                                store
                                    .save_snapshots(&[sellerdesk_eventstore::Snapshot {
                                        key: window_key(shop, &order_id),
                                        version: r.stream_version,
                                        position: r.global_position,
                                        body: at.to_rfc3339(),
                                    }])
                                    .await?
                            }
                            // Every way delivery ends: a key left here would
                            // be loaded again every round, for ever.
                            Event::DeliveryCompleted { order_id, .. }
                            | Event::OrderTerminated { order_id, .. }
                            | Event::DouPlusOrderTerminated { order_id, .. } => {
                                store.delete_snapshots(&window_key(shop, &order_id)).await?;
                            }
                            _ => {}
                        }
                    }
                    Ok::<_, sellerdesk_eventstore::StoreError>(())
                }
            })
            .await
            .map_err(|e| match e {
                sellerdesk_eventstore::FollowError::Store(e)
                | sellerdesk_eventstore::FollowError::Handler(e) => AppError::Store(e),
            })?;
        Ok(())
    }

    /// One round: the kept set brought up to date, then every order whose
    /// window has closed ended (R-ADS-14). Returns how many ended. An order
    /// that fails is logged and tried again next round; it does not hold up
    /// the orders after it.
    pub async fn close_windows(&self, window_hours: u32) -> Result<usize, AppError> {
        self.follow_windows().await?;
        let now = self.now();
        let window = chrono::Duration::hours(i64::from(window_hours));
        let mut ended = 0;
        for kept in self.path.store().load_snapshots(WINDOW_PREFIX).await? {
            let Some((shop, order_id)) = kept
                .key
                .strip_prefix(WINDOW_PREFIX)
                .and_then(|k| k.strip_suffix('/'))
                .and_then(|k| k.rsplit_once('/'))
            else {
                continue;
            };
            let Ok(since) = chrono::DateTime::parse_from_rfc3339(&kept.body) else {
                continue;
            };
            if now < since.with_timezone(&chrono::Utc) + window {
                continue;
            }
            let metadata = Metadata {
                actor: Some("system:delivery-window".into()),
                ..Metadata::default()
            };
            let closed = self
                .execute(shop, &metadata, |at| Command::CloseDeliveryWindow {
                    order_id: order_id.to_owned(),
                    window_hours,
                    at,
                })
                .await;
            match closed {
                Ok((account, events)) => {
                    ended += usize::from(!events.is_empty());
                    // Ended now, or before by a way the set missed (a key
                    // an older keeper left for a stopped order): either
                    // way nothing is left for this key to wait on.
                    if !account.orders.get(order_id).is_some_and(|o| o.running()) {
                        self.path.store().delete_snapshots(&kept.key).await?;
                    }
                }
                Err(e) => {
                    tracing::warn!(shop, order_id, error = %e, "closing a delivery window failed; next round retries")
                }
            }
        }
        Ok(ended)
    }

    /// Ends closed delivery windows every [`WINDOW_TICK`], for ever.
    pub async fn keep_delivery_windows(self: Arc<Self>, window_hours: u32) {
        loop {
            if let Err(e) = self.close_windows(window_hours).await {
                tracing::warn!(error = %e, "closing delivery windows failed; next round retries");
            }
            tokio::time::sleep(WINDOW_TICK).await;
        }
    }
}
