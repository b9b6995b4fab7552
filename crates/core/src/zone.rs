//! R-X-3: business days and daily limits count in the shop's time zone, an
//! IANA name the shop sets (Asia/Shanghai until it does). A shop records
//! it in each service whose rules count days (ads-svc for refund due dates,
//! affiliate-svc for the daily invitation limit): R-X-2, no service reads
//! another's.

use crate::Refusal;

/// The zone of a shop that never set one (R-X-3).
pub const DEFAULT: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// The zone `name` names, or the refusal naming the request's `field`.
pub fn parse(field: &str, name: &str) -> Result<chrono_tz::Tz, Refusal> {
    name.trim().parse().map_err(|_| {
        Refusal::invalid(
            field,
            format!("{name:?} is not an IANA time zone (such as Asia/Shanghai)"),
        )
    })
}

/// A shop's zone as its log recorded it; one that no longer parses (a
/// zone database without it) falls back to the default.
pub fn or_default(recorded: Option<&str>) -> chrono_tz::Tz {
    recorded.and_then(|n| n.parse().ok()).unwrap_or(DEFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_x_3_a_zone_is_an_iana_name_and_shanghai_by_default() {
        assert_eq!(
            parse("time_zone", " Asia/Tokyo ").unwrap(),
            chrono_tz::Asia::Tokyo
        );
        assert!(parse("time_zone", "UTC+8").is_err());
        assert_eq!(or_default(None), DEFAULT);
        assert_eq!(or_default(Some("Nowhere/City")), DEFAULT);
    }
}
