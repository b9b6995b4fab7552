#!/usr/bin/env python3
"""Drives a running sellerdesk over the wire with grpcio, as an outside user would.

Nothing here is generated from the project's protos: the client discovers the
API through server reflection and builds its messages from what the server says.

usage: compliance_wire.py write|verify ENDPOINT PLATFORM OWNER AGENT OTHER_OWNER CHAT_OWNER CHAT_AGENT CMP_OWNER CMP_AGENT
Prints 'N passed, N failed' and exits 1 if anything failed.
"""
import sys

import grpc
from wire_client import bad_request_fields, check, connect, error_of, finish

SERVICE = "sellerdesk.compliance.v1.ComplianceService"
SHOP = "wire-cmp"


def main():
    mode, endpoint, platform, _, _, other_owner = sys.argv[1:7]
    # Its own shop: the points it records restrict marketing (R-CMP-13), and
    # the other scripts place orders and invitations for wire-shop.
    owner, agent = sys.argv[9:11]
    api = connect(endpoint, SERVICE)

    if mode == "write":
        r = api.call("RecordViolation", platform, shop_id=SHOP, violation_id="w1", points=12,
                     violation_type="false_advertising", evidence="over the wire")
        check("R-CMP-5 RecordViolation reaches tier 1", r.standing.tier == 1 and r.standing.points == 12, r)
        again = api.call("RecordViolation", platform, shop_id=SHOP, violation_id="w1", points=12,
                         violation_type="false_advertising", evidence="over the wire")
        check("R-CMP-12 same id and content is idempotent", again.created is False, again)

        e = error_of(lambda: api.call("RecordViolation", platform, shop_id=SHOP, violation_id="w2", points=0))
        check("R-CMP-12 points 0 is INVALID_ARGUMENT", e is not None and e.code() == grpc.StatusCode.INVALID_ARGUMENT, e)
        if e is not None:
            fields = bad_request_fields(e)
            check("INVALID_ARGUMENT carries a BadRequest naming the field", "points" in fields, fields)

        e = error_of(lambda: api.call("GetStanding", None, shop_id=SHOP))
        check("no token is UNAUTHENTICATED", e is not None and e.code() == grpc.StatusCode.UNAUTHENTICATED, e)
        e = error_of(lambda: api.call("FileAppeal", agent, shop_id=SHOP, violation_id="w1"))
        check("roles: an agent may not appeal (owner or admin only)", e is not None and e.code() == grpc.StatusCode.PERMISSION_DENIED, e)
        e = error_of(lambda: api.call("RecordViolation", owner, shop_id=SHOP, violation_id="w3", points=3))
        check("only the platform records violations", e is not None and e.code() == grpc.StatusCode.PERMISSION_DENIED, e)
        e = error_of(lambda: api.call("GetStanding", other_owner, shop_id=SHOP))
        check("R-X-1 another shop gets NOT_FOUND", e is not None and e.code() == grpc.StatusCode.NOT_FOUND, e)
        appeal = api.call("FileAppeal", owner, shop_id=SHOP, violation_id="w1", reason="wrong product",
                          attachments=["s3://evidence/w1.png"])
        check("R-CMP-7 the owner files an appeal", len(appeal.violation.appeals) == 1, appeal)

    standing = api.call("GetStanding", agent, shop_id=SHOP).standing
    check(f"[{mode}] an agent reads the standing: 12 points, tier 1", (standing.points, standing.tier) == (12, 1), standing)
    page = api.call("GetHealthPage", owner)
    check(f"[{mode}] R-CMP-9 health page shows the violation with its pending appeal",
          len(page.violations) == 1 and page.violations[0].appeals[0].state == 1, page)

    finish()


if __name__ == "__main__":
    main()
