//! The payment provider's callback (R-ADS-14: funds are credited only when a
//! payment is confirmed). The provider signs what it says with a secret the
//! two sides share; ads-svc acts only on a callback whose signature checks.
//!
//! Signed text: `shop_id`, `payment_id`, `amount_fen` and `succeeded`
//! (`true`/`false`), each on its own line; signature: HMAC-SHA256 in lower
//! hex. `tests/wire/payment_provider.py` is a provider that signs this way.

use ring::hmac;

fn message(shop_id: &str, payment_id: &str, amount_fen: i64, succeeded: bool) -> String {
    format!("{shop_id}\n{payment_id}\n{amount_fen}\n{succeeded}")
}

/// The provider's signature (tests and the test provider).
pub fn sign(
    secret: &str,
    shop_id: &str,
    payment_id: &str,
    amount_fen: i64,
    succeeded: bool,
) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(
        &key,
        message(shop_id, payment_id, amount_fen, succeeded).as_bytes(),
    );
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `signature` is the provider's for these values (constant time).
pub fn verify(
    secret: &str,
    shop_id: &str,
    payment_id: &str,
    amount_fen: i64,
    succeeded: bool,
    signature: &str,
) -> bool {
    let Some(tag) = unhex(signature) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(
        &key,
        message(shop_id, payment_id, amount_fen, succeeded).as_bytes(),
        &tag,
    )
    .is_ok()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_ads_14_only_the_providers_signature_on_these_values_checks() {
        let sig = sign("s3cret", "shop", "p1", 10_000, true);
        assert_eq!(sig.len(), 64);
        assert!(verify("s3cret", "shop", "p1", 10_000, true, &sig));
        assert!(!verify("other", "shop", "p1", 10_000, true, &sig));
        assert!(!verify("s3cret", "shop", "p1", 10_001, true, &sig));
        assert!(!verify("s3cret", "shop", "p1", 10_000, false, &sig));
        assert!(!verify("s3cret", "shop2", "p1", 10_000, true, &sig));
        assert!(!verify("s3cret", "shop", "p1", 10_000, true, "zz"));
        assert!(!verify("s3cret", "shop", "p1", 10_000, true, "é"));
    }
}
