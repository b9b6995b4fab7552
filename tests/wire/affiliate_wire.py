#!/usr/bin/env python3
"""Drives affiliate-svc of a running sellerdesk over the wire with grpcio, via reflection.

usage: affiliate_wire.py write|verify ENDPOINT PLATFORM OWNER AGENT OTHER_OWNER ...
Prints 'N passed, N failed' and exits 1 if anything failed.
"""
import sys

import grpc
from wire_client import bad_request_fields, check, connect, error_of, finish

SERVICE = "sellerdesk.affiliate.v1.AffiliateService"
SHOP = "wire-shop"
SALES, PLAN_MANAGEMENT, VIDEO = 2, 1, 1


def main():
    mode, endpoint, platform, owner, agent, other_owner = sys.argv[1:7]
    api = connect(endpoint, SERVICE)

    if mode == "write":
        for i in range(3):
            api.call("ProfileCreator", platform, profile=dict(
                creator_id=f"wire-c{i}", handle=f"@wire{i}", categories=["美妆"], followers=10_000 * (i + 1),
                female_share_bps=7_000, main_age_band="24-30", engagement_bps=400, price_low_fen=1_000,
                price_high_fen=30_000))
        sent = api.call("SendInvitation", owner, invitation_id="wire-i1", creator_id="wire-c0", goal=SALES,
                        message="您好，想邀请您带货")
        check("R-AFF-3 the owner invites a creator", sent.invitation.creator_id == "wire-c0", sent)
        e = error_of(lambda: api.call("SendInvitation", agent, invitation_id="wire-i2", creator_id="wire-c1", goal=SALES))
        check("agents do not invite", e is not None and e.code() == grpc.StatusCode.PERMISSION_DENIED, e)
        e = error_of(lambda: api.call("CreatePlan", owner, plan_id="wire-p1", name="定向", goal=SALES,
                                      products=[dict(product_id="sku1", commission_bps=2_000)],
                                      creator_ids=[f"c{i}" for i in range(31)], source=PLAN_MANAGEMENT))
        check("R-AFF-4 more than 30 creators is INVALID_ARGUMENT naming creator_ids",
              e is not None and "creator_ids" in bad_request_fields(e), e)
        api.call("CreatePlan", owner, plan_id="wire-p1", name="定向", goal=SALES,
                 products=[dict(product_id="sku1", commission_bps=2_000)], creator_ids=["wire-c0", "wire-c1"],
                 source=PLAN_MANAGEMENT)
        api.call("ShipSample", owner, sample_id="wire-s1", creator_id="wire-c0", product_id="sku1")
        api.call("RecordContentPosted", platform, shop_id=SHOP, sample_id="wire-s1", kind=VIDEO)
        # R-AFF-4: a plan from handles, each unknown one named; R-AFF-6: answered, edited, ended.
        e = error_of(lambda: api.call("CreatePlan", owner, plan_id="wire-p2", name="按抖音号", goal=SALES,
                                      products=[dict(product_id="sku1", commission_bps=1_500)],
                                      creator_handles=["@WIRE1", "@nobody"], source=PLAN_MANAGEMENT))
        check("R-AFF-4 an unknown handle is named by its field",
              e is not None and bad_request_fields(e) == ["creator_handles[1]"], e)
        api.call("CreatePlan", owner, plan_id="wire-p2", name="按抖音号", goal=SALES,
                 products=[dict(product_id="sku1", commission_bps=1_500)], creator_handles=["@WIRE1", "@wire2"],
                 source=PLAN_MANAGEMENT)
        api.call("AnswerPlan", platform, shop_id=SHOP, plan_id="wire-p2", creator_id="wire-c1", accepted=True)
        api.call("EditPlan", owner, plan_id="wire-p2", name="按抖音号(改)")
        api.call("EndPlan", owner, plan_id="wire-p2")
        e = error_of(lambda: api.call("EditPlan", owner, plan_id="wire-p2", name="再改"))
        check("R-AFF-6 an ended plan is not edited",
              e is not None and e.code() == grpc.StatusCode.FAILED_PRECONDITION, e)
        # R-AFF-6: a requested sample is reviewed before it ships; delivery starts its deadline.
        api.call("RequestSample", platform, shop_id=SHOP, sample_id="wire-s2", creator_id="wire-c1",
                 product_id="sku1")
        e = error_of(lambda: api.call("ShipSample", owner, sample_id="wire-s2", creator_id="wire-c1",
                                      product_id="sku1"))
        check("R-AFF-6 a request ships only once approved",
              e is not None and e.code() == grpc.StatusCode.FAILED_PRECONDITION, e)
        api.call("ReviewSampleRequest", owner, sample_id="wire-s2", approved=True)
        api.call("ShipSample", owner, sample_id="wire-s2", creator_id="wire-c1", product_id="sku1")
        api.call("RecordSampleDelivered", platform, shop_id=SHOP, sample_id="wire-s2")

    found = api.call("SearchCreators", agent, category="美妆", min_followers=20_000)
    check(f"[{mode}] R-AFF-2 search filters and sorts by followers",
          [c.profile.creator_id for c in found.creators] == ["wire-c2", "wire-c1"], found)
    creator = api.call("GetCreator", owner, creator_id="wire-c0").creator
    check(f"[{mode}] R-AFF-5 reliability comes from the shipped sample and its content",
          creator.metrics.fulfilment_bps == 10_000 and creator.metrics.invitations_received == 1, creator)
    plan = api.call("GetPlan", owner, plan_id="wire-p1").plan
    check(f"[{mode}] R-AFF-4 the plan keeps its creators", list(plan.creator_ids) == ["wire-c0", "wire-c1"], plan)
    plan = api.call("GetPlan", owner, plan_id="wire-p2").plan
    check(f"[{mode}] R-AFF-6 the plan from handles was answered, edited and ended",
          list(plan.creator_ids) == ["wire-c1", "wire-c2"] and plan.name == "按抖音号(改)"
          and plan.creators[0].answer == 2 and plan.HasField("ended_at"), plan)
    sample = api.call("GetSample", agent, sample_id="wire-s2").sample
    check(f"[{mode}] R-AFF-6 the delivered sample has its content deadline",
          sample.approved and sample.HasField("content_due") and not sample.missed, sample)
    first = api.call("SearchCreators", agent, keyword="WIRE", limit=2)
    rest = api.call("SearchCreators", agent, keyword="WIRE", limit=2, page_token=first.next_page_token)
    check(f"[{mode}] R-AFF-2 keyword search pages with a token and a total",
          first.total == 3 and [c.profile.creator_id for c in list(first.creators) + list(rest.creators)]
          == ["wire-c2", "wire-c1", "wire-c0"] and not rest.next_page_token, (first, rest))
    e = error_of(lambda: api.call("GetPlan", other_owner, shop_id=SHOP, plan_id="wire-p1"))
    check(f"[{mode}] R-X-1 another shop gets NOT_FOUND", e is not None and e.code() == grpc.StatusCode.NOT_FOUND, e)
    finish()


if __name__ == "__main__":
    main()
