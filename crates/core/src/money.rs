//! Money and counters (R-X-3): integer fen, every sum checked.
//!
//! One amount in one request is at most [`MAX_AMOUNT_FEN`]; a running total
//! (a balance, a plan's revenue) at most [`MAX_TOTAL_FEN`]. Both are far above
//! any real shop and far below `i64::MAX`, so a total of bounded amounts is
//! checked once where it grows and the folds that replay it cannot wrap.
//! A sum past a bound is INVALID_ARGUMENT naming the request's field, never a
//! wrap.

use crate::Refusal;

/// 10^14 fen: one trillion yuan in one request.
pub const MAX_AMOUNT_FEN: i64 = 100_000_000_000_000;
/// 10^17 fen: what a running total may reach.
pub const MAX_TOTAL_FEN: i64 = 100_000_000_000_000_000;

/// An amount of money in a request: 1 to [`MAX_AMOUNT_FEN`] fen.
pub fn positive_amount(field: &str, fen: i64) -> Result<i64, Refusal> {
    if fen <= 0 {
        Err(Refusal::invalid(field, "must be a positive number of fen"))
    } else if fen > MAX_AMOUNT_FEN {
        Err(Refusal::invalid(
            field,
            format!("at most {MAX_AMOUNT_FEN} fen in one request"),
        ))
    } else {
        Ok(fen)
    }
}

/// An amount of money in a request that may be zero: 0 to [`MAX_AMOUNT_FEN`] fen.
pub fn amount(field: &str, fen: i64) -> Result<i64, Refusal> {
    if fen == 0 {
        Ok(0)
    } else {
        positive_amount(field, fen)
    }
}

/// `total + more`, refused (naming the request's `field`) past [`MAX_TOTAL_FEN`].
pub fn add_to_total(field: &str, total: i64, more: i64) -> Result<i64, Refusal> {
    total
        .checked_add(more)
        .filter(|t| (-MAX_TOTAL_FEN..=MAX_TOTAL_FEN).contains(t))
        .ok_or_else(|| {
            Refusal::invalid(
                field,
                format!("the total would pass {MAX_TOTAL_FEN} fen, the most this account can hold"),
            )
        })
}

/// `count + more` for a counter, refused (naming `field`) where it cannot be represented.
pub fn add_count(field: &str, count: u64, more: u64) -> Result<u64, Refusal> {
    count.checked_add(more).ok_or_else(|| {
        Refusal::invalid(field, format!("the running count would pass {}", u64::MAX))
    })
}

/// `amount × basis points / 10,000`, rounded down, computed without overflow.
pub fn share_bps(amount_fen: i64, bps: u32) -> i64 {
    // |amount| ≤ i64::MAX and bps ≤ u32::MAX: the product fits in i128, and
    // the share of an amount by at most 100% (checked by callers) fits in i64.
    let share = i128::from(amount_fen) * i128::from(bps) / 10_000;
    i64::try_from(share).unwrap_or(if share < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_x_3_sums_refuse_instead_of_wrapping() {
        assert!(add_to_total("amount_fen", MAX_TOTAL_FEN, 1).is_err());
        assert!(add_to_total("amount_fen", i64::MAX, 1).is_err());
        assert_eq!(add_to_total("amount_fen", 5, 7), Ok(12));
        assert!(add_count("stats.impressions", u64::MAX, 2).is_err());
        assert_eq!(add_count("stats.impressions", 1, 2), Ok(3));
        assert!(positive_amount("amount_fen", i64::MAX).is_err());
        assert!(positive_amount("amount_fen", 0).is_err());
        assert_eq!(share_bps(i64::MAX, 10_000), i64::MAX);
        assert_eq!(share_bps(10_001, 1_500), 1_500);
        match positive_amount("spec.amount_fen", -1) {
            Err(Refusal::Invalid(fields)) => assert_eq!(fields[0].0, "spec.amount_fen"),
            other => panic!("{other:?}"),
        }
    }
}
