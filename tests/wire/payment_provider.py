"""A test payment provider: signs its callback as ads-svc expects
(crates/ads-svc/src/payments.rs) and delivers it over the wire.

The secret is the one ads-svc is configured with (SELLERDESK_ADS_PAYMENT_SECRET).
"""
import hashlib
import hmac
import os


def signature(secret, shop_id, payment_id, amount_fen, succeeded):
    text = f"{shop_id}\n{payment_id}\n{amount_fen}\n{'true' if succeeded else 'false'}"
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def confirm(api, platform_token, shop_id, payment_id, amount_fen, succeeded=True, secret=None):
    """The provider's callback: ConfirmPayment, signed."""
    secret = secret if secret is not None else os.environ["SELLERDESK_ADS_PAYMENT_SECRET"]
    return api.call("ConfirmPayment", platform_token, shop_id=shop_id, payment_id=payment_id,
                    amount_fen=amount_fen, succeeded=succeeded,
                    signature=signature(secret, shop_id, payment_id, amount_fen, succeeded))
