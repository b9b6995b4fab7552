//! What every service's gRPC layer does the same way: the shop a request acts
//! for (R-X-1 plus the role check), the metadata its events carry, and
//! timestamps on the wire.

use crate::{errors, guard::Draining, telemetry::current_traceparent, Caller, Role};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use sellerdesk_eventstore::{new_event_id, Metadata};
use std::pin::Pin;
use tonic::{Request, Status};

/// Every role may read a shop's data (its own shop, or the named one for the platform).
pub const ANY_ROLE: &[Role] = &[Role::Owner, Role::Admin, Role::Agent, Role::Platform];
/// The shop's managers: owner and admin.
pub const MANAGERS: &[Role] = &[Role::Owner, Role::Admin];

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A wire timestamp as an instant; INVALID_ARGUMENT naming `field` if it is not one.
pub fn instant(t: &prost_types::Timestamp, field: &str) -> Result<DateTime<Utc>, Status> {
    DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
        .filter(|_| (0..1_000_000_000).contains(&t.nanos))
        .ok_or_else(|| errors::invalid_argument(&[(field, "not a valid timestamp".into())]))
}

pub fn check_shop_id(shop: &str) -> Result<(), Status> {
    let ok = !shop.is_empty()
        && shop.len() <= 64
        && shop
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(errors::invalid_argument(&[(
            "shop_id",
            "1 to 64 characters of A-Z, a-z, 0-9, '-' or '_'".into(),
        )]))
    }
}

/// The shop the request acts for, after R-X-1 and the role check.
pub fn authorize<T>(
    request: &Request<T>,
    shop_id: &str,
    roles: &[Role],
    action: &str,
) -> Result<(Caller, String), Status> {
    let caller = Caller::of(request)?;
    let shop = caller.shop(shop_id, "shop_id")?;
    caller.require(roles, action)?;
    check_shop_id(&shop)?;
    tracing::Span::current().record("shop_id", shop.as_str());
    Ok((caller, shop))
}

/// Metadata for the events one request appends: a fresh correlation id, the
/// actor, and the trace the request runs in.
pub fn command_metadata(caller: &Caller) -> Metadata {
    Metadata {
        correlation_id: Some(new_event_id()),
        causation_id: None,
        actor: Some(format!("{}:{}", caller.role().as_str(), caller.account())),
        traceparent: current_traceparent(),
    }
}

/// A server stream as every service answers it.
pub type LiveStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// What ends a live stream besides its source: the caller's token expiring
/// (UNAUTHENTICATED: reconnect with a fresh token) and the server stopping
/// (UNAVAILABLE: reconnect, resuming from the last position).
#[derive(Debug, Clone)]
pub struct StreamBounds {
    expires_at: i64,
    draining: Option<Draining>,
}

impl StreamBounds {
    /// The bounds of a stream opened by `request` (read before `into_inner`).
    pub fn of<T>(request: &Request<T>) -> Result<Self, Status> {
        Ok(Self {
            expires_at: Caller::of(request)?.expires_at(),
            draining: request.extensions().get::<Draining>().cloned(),
        })
    }

    /// `stream`, ended by an error item when the token expires or the server drains.
    pub fn apply<T, S>(self, stream: S) -> LiveStream<T>
    where
        S: Stream<Item = Result<T, Status>> + Send + 'static,
        T: Send + 'static,
    {
        let left = (self.expires_at - chrono::Utc::now().timestamp()).max(0);
        let expiry = Box::pin(tokio::time::sleep(std::time::Duration::from_secs(
            left.unsigned_abs(),
        )));
        let drained = Box::pin(async move {
            match self.draining {
                Some(Draining(mut rx)) => {
                    // A closed sender means the server is gone: drained too.
                    let _ = rx.wait_for(|d| *d).await;
                }
                None => std::future::pending::<()>().await,
            }
        });
        let state = (Box::pin(stream), expiry, drained, false);
        Box::pin(futures::stream::unfold(
            state,
            |(mut source, mut expiry, mut drained, ended)| async move {
                if ended {
                    return None;
                }
                tokio::select! {
                    item = source.next() => item.map(|i| (i, (source, expiry, drained, false))),
                    _ = &mut expiry => Some((
                        Err(Status::unauthenticated("the token expired: reconnect with a fresh one")),
                        (source, expiry, drained, true),
                    )),
                    _ = &mut drained => Some((
                        Err(Status::unavailable(
                            "the server is stopping: reconnect, resuming from your last position",
                        )),
                        (source, expiry, drained, true),
                    )),
                }
            },
        ))
    }
}
