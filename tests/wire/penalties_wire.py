#!/usr/bin/env python3
"""Across services over the wire: points recorded in compliance-svc revoke the
shop's selling rights, and ads-svc (which hears it over the bus) refuses the
shop's next ad order (R-CMP-13, R-ADS-13).

usage: penalties_wire.py COMPLIANCE_ENDPOINT ADS_ENDPOINT PLATFORM_TOKEN OWNER_TOKEN [SHOP]
The owner token is for SHOP (default wire-rev). Prints 'N passed, N failed'; exits 1 on a failure.
"""
import sys
import time

import grpc
from wire_client import check, connect, error_of, finish

def main():
    compliance_endpoint, ads_endpoint, platform, owner = sys.argv[1:5]
    shop = sys.argv[5] if len(sys.argv) > 5 else "wire-rev"
    compliance = connect(compliance_endpoint, "sellerdesk.compliance.v1.ComplianceService")
    ads = connect(ads_endpoint, "sellerdesk.ads.v1.AdsService")
    check("a shop in good standing may place orders", ads.call("GetAccount", owner).may_place_orders)
    for i in range(4):
        standing = compliance.call("RecordViolation", platform, shop_id=shop, violation_id=f"rev-{i}",
                                   points=12, violation_type="false_advertising", evidence="wire").standing
    check("R-CMP-5 48 points", standing.points == 48, standing)
    deadline = time.monotonic() + 30
    account = ads.call("GetAccount", owner)
    while account.may_place_orders and time.monotonic() < deadline:
        time.sleep(0.2)
        account = ads.call("GetAccount", owner)
    check("R-ADS-13 the revocation reaches ads-svc over the bus", not account.may_place_orders, account)
    spec = dict(product=1, video=dict(video_id="v1", public=True, title="春季新款连衣裙", duration_secs=30,
                                      has_shop_cart=True),
                objective=1, duration_hours=24, bid_mode=3, amount_fen=20_000, payment=2)
    e = error_of(lambda: ads.call("PlaceOrder", owner, order_id="rev-o1", spec=spec))
    check("R-CMP-13 a revoked shop's ad order is FAILED_PRECONDITION",
          e is not None and e.code() == grpc.StatusCode.FAILED_PRECONDITION, e)
    finish()


if __name__ == "__main__":
    main()
