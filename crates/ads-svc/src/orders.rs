//! The orders read model (decision 0022): one document per order in the
//! ads database, the order as [`Order::apply`] folds it from its own events.
//! An account holds its running orders and those ended within
//! [`ORDER_KEPT_DAYS`]; this read model holds every order, so an order that
//! left the account is still read (GetOrder, ListArchivedOrders) and its id
//! stays taken. Written once across replicas, under the lease of its name.

use crate::{
    app::ACCOUNT_PREFIX,
    domain::{Event, Order},
};
use sellerdesk_eventstore::{
    codec, Document, DocumentQuery, EventStore, Follower, RecordedEvent, StoreError,
};
use std::{collections::HashMap, sync::Arc};

/// The index of the documents, and the projector's checkpoint and lease.
pub const ORDERS_INDEX: &str = "ads-orders";
const BATCH: i64 = 1_000;

/// Projects for ever (run under the lease `ads:orders`).
pub async fn run(store: Arc<dyn EventStore>) {
    Follower::project(store, ORDERS_INDEX, BATCH, |store, batch| async move {
        project(&store, &batch).await
    })
    .await
}

/// Writes the documents of the orders one batch of the log touched. An
/// event at or below a document's version was applied already (a batch
/// handed over again after a crash) and is skipped.
pub async fn project(
    store: &Arc<dyn EventStore>,
    batch: &[RecordedEvent],
) -> Result<(), StoreError> {
    let mut by_shop: HashMap<&str, Vec<(i64, Event)>> = HashMap::new();
    for r in batch {
        let Some(shop) = r.stream_id.strip_prefix(ACCOUNT_PREFIX) else {
            continue;
        };
        let event: Event = codec::decode(r)?;
        if event.order_id().is_some() {
            by_shop
                .entry(shop)
                .or_default()
                .push((r.stream_version, event));
        }
    }
    let mut written = Vec::new();
    for (shop, events) in by_shop {
        let mut ids: Vec<String> = events
            .iter()
            .filter_map(|(_, e)| e.order_id().map(str::to_owned))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut orders: HashMap<String, (Order, i64)> = HashMap::new();
        for doc in store.load_documents(ORDERS_INDEX, shop, &ids).await? {
            orders.insert(doc.doc_id.clone(), (decoded(&doc)?, doc.version));
        }
        for (version, event) in &events {
            let Some(id) = event.order_id() else { continue };
            match (orders.get_mut(id), event) {
                (Some((order, at)), _) if *version > *at => {
                    order.apply(event);
                    *at = *version;
                }
                (Some(_), _) => {}
                (None, Event::OrderPlaced { order_id, spec, at }) => {
                    orders.insert(
                        order_id.clone(),
                        (Order::placed(order_id, spec, *at), *version),
                    );
                }
                // Nothing is told of an order before it is placed.
                (None, _) => {}
            }
        }
        written.extend(
            orders
                .values()
                .map(|(order, version)| document(shop, order, *version)),
        );
    }
    store.save_documents(&written).await
}

fn document(shop: &str, order: &Order, version: i64) -> Document {
    Document {
        index: ORDERS_INDEX.to_owned(),
        shop_id: shop.to_owned(),
        doc_id: order.order_id.clone(),
        starts_at: order.placed_at.timestamp_millis(),
        ends_at: order.ended_at.map(|at| at.timestamp_millis()),
        version,
        terms: Vec::new(),
        text: String::new(),
        body: serde_json::to_string(order).expect("an order serialises"),
    }
}

fn decoded(doc: &Document) -> Result<Order, StoreError> {
    serde_json::from_str(&doc.body)
        .map_err(|e| StoreError::Corrupt(format!("order document {}: {e}", doc.doc_id)))
}

/// The order under `order_id` as the read model has it, if it has one.
pub async fn on_record(
    store: &dyn EventStore,
    shop: &str,
    order_id: &str,
) -> Result<Option<Order>, StoreError> {
    store
        .load_documents(ORDERS_INDEX, shop, &[order_id.to_owned()])
        .await?
        .first()
        .map(decoded)
        .transpose()
}

/// A page of the shop's orders, newest placed first, after `after` (the
/// last one of the previous page: placed-at milliseconds and id).
pub async fn page(
    store: &dyn EventStore,
    shop: &str,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<Order>, StoreError> {
    store
        .search_documents(&DocumentQuery {
            index: ORDERS_INDEX.to_owned(),
            shop_id: shop.to_owned(),
            after,
            limit,
            ..DocumentQuery::default()
        })
        .await?
        .iter()
        .map(decoded)
        .collect()
}
