#!/usr/bin/env python3
"""Drives ads-svc of a running sellerdesk over the wire with grpcio, via reflection.

usage: ads_wire.py write|verify ENDPOINT PLATFORM OWNER AGENT OTHER_OWNER ...
Prints 'N passed, N failed' and exits 1 if anything failed.
"""
import sys

import grpc
from payment_provider import confirm
from wire_client import bad_request_fields, check, connect, error_of, finish

SERVICE = "sellerdesk.ads.v1.AdsService"
SHOP = "wire-shop"
XIAODIAN, PRODUCT_PURCHASE, GOAL_AUTOMATIC, DOUYIN_PAY = 1, 1, 3, 2
PENDING_REVIEW, DELIVERING = 1, 3
TOP_UP, MOBILE = 1, 1


def spec(amount):
    return dict(product=XIAODIAN,
                video=dict(video_id="v1", public=True, title="春季新款连衣裙", duration_secs=30, has_shop_cart=True),
                objective=PRODUCT_PURCHASE, duration_hours=24, bid_mode=GOAL_AUTOMATIC,
                amount_fen=amount, payment=DOUYIN_PAY)


def main():
    mode, endpoint, platform, owner, agent, other_owner = sys.argv[1:7]
    api = connect(endpoint, SERVICE)

    if mode == "write":
        placed = api.call("PlaceOrder", owner, order_id="wire-o1", spec=spec(20_000))
        check("R-ADS-1 the owner places a 小店随心推 order, pending review",
              placed.order.status == PENDING_REVIEW, placed)
        e = error_of(lambda: api.call("PlaceOrder", owner, order_id="wire-o2", spec=spec(9_999)))
        check("R-ADS-2 under 100 CNY is INVALID_ARGUMENT naming spec.amount_fen",
              e is not None and "spec.amount_fen" in bad_request_fields(e), e)
        e = error_of(lambda: api.call("PlaceOrder", agent, order_id="wire-o3", spec=spec(20_000)))
        check("agents do not place orders", e is not None and e.code() == grpc.StatusCode.PERMISSION_DENIED, e)
        e = error_of(lambda: api.call("MoveFunds", owner, movement=TOP_UP, amount_fen=10_000, channel=MOBILE))
        check("R-ADS-12 a mobile top-up is refused and names the PC channel",
              e is not None and e.code() == grpc.StatusCode.FAILED_PRECONDITION and "电脑端" in e.details(), e)
        # R-ADS-14: a top-up waits for the payment provider's signed callback.
        PC = 2
        pending = api.call("MoveFunds", owner, movement=TOP_UP, amount_fen=30_000, channel=PC,
                           payment_id="wire-pay-1")
        check("R-ADS-14 a top-up is pending, not credited",
              pending.balance_fen == 0 and pending.pending_top_up_fen == 30_000, pending)
        e = error_of(lambda: confirm(api, platform, SHOP, "wire-pay-1", 30_000, secret="forged"))
        check("a forged callback is PERMISSION_DENIED",
              e is not None and e.code() == grpc.StatusCode.PERMISSION_DENIED, e)
        paid = confirm(api, platform, SHOP, "wire-pay-1", 30_000)
        check("R-ADS-14 the provider's signed callback credits it", paid.balance_fen == 30_000, paid)
        api.call("DecideReview", platform, shop_id=SHOP, order_id="wire-o1", approve=True)
        api.call("RecordDelivery", platform, shop_id=SHOP, order_id="wire-o1", spent_fen=5_000,
                 stats=dict(plays=800, likes=30))

        # Issue 19: a delivering order gets more budget and time, then the
        # shop stops it and the unspent amount comes back.
        api.call("PlaceOrder", owner, order_id="wire-o4", spec=spec(20_000))
        api.call("DecideReview", platform, shop_id=SHOP, order_id="wire-o4", approve=True)
        more = api.call("AddBudget", owner, order_id="wire-o4", amount_fen=10_000).order
        check("R-ADS-2 added budget joins the order", more.spec.amount_fen == 30_000, more)
        longer = api.call("ExtendDelivery", owner, order_id="wire-o4", hours=6).order
        check("R-ADS-14 the window is extended", longer.extended_hours == 6, longer)
        e = error_of(lambda: api.call("ExtendDelivery", owner, order_id="wire-o4", hours=5))
        check("R-ADS-3 an extension is one of the durations (BadRequest names hours)",
              e is not None and "hours" in bad_request_fields(e), e)
        e = error_of(lambda: api.call("AddBudget", agent, order_id="wire-o4", amount_fen=10_000))
        check("agents do not add budget", e is not None and e.code() == grpc.StatusCode.PERMISSION_DENIED, e)
        api.call("TerminateOrder", owner, order_id="wire-o4")

    stopped = api.call("GetOrder", owner, order_id="wire-o4").order
    check(f"[{mode}] R-ADS-14 a stopped order refunds what it did not spend",
          api.enum_name("OrderStatus", stopped.status) == "ORDER_STATUS_TERMINATED"
          and stopped.refund.amount_fen == 30_000, stopped)
    got = api.call("GetOrder", owner, order_id="wire-o1").order
    check(f"[{mode}] R-ADS-8/10 the order delivers with its paid spend and interactions",
          got.status == DELIVERING and got.spent_fen == 5_000 and got.stats.likes == 30, got)
    e = error_of(lambda: api.call("GetOrder", other_owner, shop_id=SHOP, order_id="wire-o1"))
    check(f"[{mode}] R-X-1 another shop gets NOT_FOUND", e is not None and e.code() == grpc.StatusCode.NOT_FOUND, e)
    account = api.call("GetAccount", agent)
    check(f"[{mode}] R-ADS-14 the confirmed top-up is in the balance",
          account.balance_fen == 30_000 and account.pending_top_up_fen == 0, account)
    check(f"[{mode}] R-ADS-13 a shop in good standing may place orders", account.may_place_orders, account)
    finish()


if __name__ == "__main__":
    main()
