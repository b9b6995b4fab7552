//! What every service's gRPC layer does the same way: the shop a request acts
//! for (R-X-1 plus the role check), the metadata its events carry, and
//! timestamps on the wire.

use crate::{errors, telemetry::current_traceparent, Caller, Role};
use chrono::{DateTime, Utc};
use sellerdesk_eventstore::{new_event_id, Metadata};
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
