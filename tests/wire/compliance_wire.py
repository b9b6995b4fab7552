#!/usr/bin/env python3
"""Drives a running sellerdesk over the wire with grpcio, as an outside user would.

Nothing here is generated from the project's protos: the client discovers the
API through server reflection and builds its messages from what the server says.

usage: compliance_wire.py write|verify ENDPOINT PLATFORM OWNER AGENT OTHER_OWNER
Prints 'N passed, N failed' and exits 1 if anything failed.
"""
import sys

import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_status import rpc_status

SERVICE = "sellerdesk.compliance.v1.ComplianceService"
passed, failed = 0, 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


class Api:
    def __init__(self, channel):
        self.channel = channel
        self.pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        self.service = self.pool.FindServiceByName(SERVICE)

    def call(self, method_name, token, **fields):
        method = self.service.methods_by_name[method_name]
        request_type = GetMessageClass(method.input_type)
        response_type = GetMessageClass(method.output_type)
        stub = self.channel.unary_unary(
            f"/{SERVICE}/{method_name}",
            request_serializer=request_type.SerializeToString,
            response_deserializer=response_type.FromString,
        )
        metadata = [("authorization", f"Bearer {token}")] if token else []
        return stub(request_type(**fields), metadata=metadata, timeout=10)


def error_of(fn):
    try:
        fn()
        return None
    except grpc.RpcError as e:
        return e


def main():
    mode, endpoint, platform, owner, agent, other_owner = sys.argv[1:7]
    channel = grpc.insecure_channel(endpoint)
    grpc.channel_ready_future(channel).result(timeout=10)

    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE):
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
        check(f"health {service or '(server)'} SERVING", status == health_pb2.HealthCheckResponse.SERVING, status)

    db = ProtoReflectionDescriptorDatabase(channel)
    check("reflection lists the compliance API", SERVICE in db.get_services(), db.get_services())
    api = Api(channel)

    if mode == "write":
        r = api.call("RecordViolation", platform, shop_id="wire-shop", violation_id="w1", points=12,
                     violation_type="false_advertising", evidence="over the wire")
        check("R-CMP-5 RecordViolation reaches tier 1", r.standing.tier == 1 and r.standing.points == 12, r)
        again = api.call("RecordViolation", platform, shop_id="wire-shop", violation_id="w1", points=12,
                         violation_type="false_advertising", evidence="over the wire")
        check("R-CMP-12 same id and content is idempotent", again.created is False, again)

        e = error_of(lambda: api.call("RecordViolation", platform, shop_id="wire-shop", violation_id="w2", points=0))
        check("R-CMP-12 points 0 is INVALID_ARGUMENT", e is not None and e.code() == grpc.StatusCode.INVALID_ARGUMENT, e)
        if e is not None:
            status = rpc_status.from_call(e)
            fields = []
            for detail in status.details if status else []:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    fields += [v.field for v in bad.field_violations]
            check("INVALID_ARGUMENT carries a BadRequest naming the field", "points" in fields, fields)

        e = error_of(lambda: api.call("GetStanding", None, shop_id="wire-shop"))
        check("no token is UNAUTHENTICATED", e is not None and e.code() == grpc.StatusCode.UNAUTHENTICATED, e)
        e = error_of(lambda: api.call("FileAppeal", agent, shop_id="wire-shop", violation_id="w1"))
        check("roles: an agent may not appeal (owner or admin only)", e is not None and e.code() == grpc.StatusCode.PERMISSION_DENIED, e)
        e = error_of(lambda: api.call("RecordViolation", owner, shop_id="wire-shop", violation_id="w3", points=3))
        check("only the platform records violations", e is not None and e.code() == grpc.StatusCode.PERMISSION_DENIED, e)
        e = error_of(lambda: api.call("GetStanding", other_owner, shop_id="wire-shop"))
        check("R-X-1 another shop gets NOT_FOUND", e is not None and e.code() == grpc.StatusCode.NOT_FOUND, e)
        appeal = api.call("FileAppeal", owner, shop_id="wire-shop", violation_id="w1", reason="wrong product",
                          attachments=["s3://evidence/w1.png"])
        check("R-CMP-7 the owner files an appeal", len(appeal.violation.appeals) == 1, appeal)

    standing = api.call("GetStanding", agent, shop_id="wire-shop").standing
    check(f"[{mode}] an agent reads the standing: 12 points, tier 1", (standing.points, standing.tier) == (12, 1), standing)
    page = api.call("GetHealthPage", owner)
    check(f"[{mode}] R-CMP-9 health page shows the violation with its pending appeal",
          len(page.violations) == 1 and page.violations[0].appeals[0].state == 1, page)

    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
