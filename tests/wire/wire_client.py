"""Shared by the wire clients: reflection-driven calls and PASS/FAIL bookkeeping.

Nothing here is generated from the project's protos: a client discovers the
API through server reflection and builds its messages from what the server says.
"""
import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_status import rpc_status

results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    if ok:
        results["passed"] += 1
        print(f"PASS {name}")
    else:
        results["failed"] += 1
        print(f"FAIL {name} {detail}")


class Api:
    def __init__(self, channel, service):
        self.channel = channel
        self.name = service
        self.pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        self.service = self.pool.FindServiceByName(service)

    def call(self, method_name, token, **fields):
        method = self.service.methods_by_name[method_name]
        request_type = GetMessageClass(method.input_type)
        response_type = GetMessageClass(method.output_type)
        stub = self.channel.unary_unary(
            f"/{self.name}/{method_name}",
            request_serializer=request_type.SerializeToString,
            response_deserializer=response_type.FromString,
        )
        metadata = [("authorization", f"Bearer {token}")] if token else []
        return stub(request_type(**fields), metadata=metadata, timeout=10)


    def enum_name(self, enum, number):
        """The name the server's descriptors give `number` of `enum` (in the service's package)."""
        package = self.name.rsplit(".", 1)[0]
        return self.pool.FindEnumTypeByName(f"{package}.{enum}").values_by_number[number].name

    def stream(self, method_name, token, limit, **fields):
        """Up to `limit` messages of a server stream (fewer if none comes for 5 s)."""
        method = self.service.methods_by_name[method_name]
        request_type = GetMessageClass(method.input_type)
        response_type = GetMessageClass(method.output_type)
        stub = self.channel.unary_stream(
            f"/{self.name}/{method_name}",
            request_serializer=request_type.SerializeToString,
            response_deserializer=response_type.FromString,
        )
        metadata = [("authorization", f"Bearer {token}")] if token else []
        call = stub(request_type(**fields), metadata=metadata, timeout=5)
        items = []
        try:
            for item in call:
                items.append(item)
                if len(items) >= limit:
                    break
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
        finally:
            call.cancel()
        return items


def error_of(fn):
    try:
        fn()
        return None
    except grpc.RpcError as e:
        return e


def bad_request_fields(error):
    status = rpc_status.from_call(error)
    fields = []
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


def connect(endpoint, service):
    """A ready channel, health checked for the server and `service`, and its reflected API."""
    channel = grpc.insecure_channel(endpoint)
    grpc.channel_ready_future(channel).result(timeout=10)
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", service):
        status = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
        check(f"health {name or '(server)'} SERVING", status == health_pb2.HealthCheckResponse.SERVING, status)
    db = ProtoReflectionDescriptorDatabase(channel)
    listed = set(db.get_services())
    check(f"reflection lists {service}", service in listed, listed)
    others = {s for s in listed if s.startswith("sellerdesk.") and s != service}
    check("reflection lists only what this port serves", not others, others)
    # Error details are typed messages a client can look up by name.
    pool = DescriptorPool(db)
    try:
        pool.FindMessageTypeByName("google.rpc.BadRequest")
        served = True
    except KeyError as e:
        served = e
    check("reflection serves google.rpc.BadRequest", served is True, served)
    return Api(channel, service)


def finish():
    print(f"{results['passed']} passed, {results['failed']} failed")
    raise SystemExit(1 if results["failed"] else 0)
