#!/usr/bin/env python3
"""Malformed requests for every RPC of a running sellerdesk, over the wire.

usage: fuzz.py CONFIG.json

CONFIG names each service's endpoint and SQLite file, and tokens for shop A
(owner, admin, agent), shop B's owner and the platform. Every RPC is found by
server reflection and every request is built from its descriptor: nothing here
knows the project's messages.

For each RPC the suite builds a plausible request, then one request per
(field, hostile value): empty, huge, extreme numbers, unknown enum values,
odd Unicode (NUL, controls, bidi overrides, only spaces), long lists, garbage
page tokens, invalid UTF-8 written on the wire by hand. Each is sent with
shop A's tokens and the platform's; then shop B's owner repeats the plausible
requests, and names shop A.

What it asserts, per answer:
- no INTERNAL, UNKNOWN or CANCELLED, and no unary call that hangs (a panic in
  a handler shows as CANCELLED or a reset);
- INVALID_ARGUMENT carries a google.rpc.BadRequest whose every field path
  exists in the request's own descriptor;
- no error message or detail echoes a long input (at most 512 characters);
- a refused call appends nothing (the service's event count is unchanged);
- nothing shop A wrote is readable by shop B: every string shop A's requests
  carried starts with "fzA", and no answer to shop B contains "fzA".

It prints the inputs tried, the count of each outcome, every failure (up to
a limit), and 'N passed, N failed' (a check a call); exit 1 on any failure.
"""
import json
import os
import random
import sqlite3
import sys
import time
from collections import Counter

import grpc
from google.protobuf import descriptor as D
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_status import rpc_status

BAD_CODES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED}
MAX_MESSAGE = 512
LEAK_MARK = "fzA"

HUGE = "长" * 700_000  # about 2 MB of UTF-8
HOSTILE_STRINGS = [
    "",
    "   ",
    "\t",
    "a\x00b",
    "\x07bell",
    "x\u202egnp.exe",
    "\u200b",
    "\ufeffbom",
    "x" * 2000,
    "x" * 65_536,
    "😀" * 300,
    "../../etc/passwd",
    "' OR 1=1 --",
    "%s%n{}",
]
INT_EDGES = {
    D.FieldDescriptor.TYPE_INT32: [-1, -(2**31), 2**31 - 1],
    D.FieldDescriptor.TYPE_SINT32: [-1, -(2**31), 2**31 - 1],
    D.FieldDescriptor.TYPE_SFIXED32: [-1, -(2**31), 2**31 - 1],
    D.FieldDescriptor.TYPE_INT64: [-1, -(2**63), 2**63 - 1],
    D.FieldDescriptor.TYPE_SINT64: [-1, -(2**63), 2**63 - 1],
    D.FieldDescriptor.TYPE_SFIXED64: [-1, -(2**63), 2**63 - 1],
    D.FieldDescriptor.TYPE_UINT32: [2**32 - 1, 2**31],
    D.FieldDescriptor.TYPE_FIXED32: [2**32 - 1],
    D.FieldDescriptor.TYPE_UINT64: [2**64 - 1, 2**63],
    D.FieldDescriptor.TYPE_FIXED64: [2**64 - 1],
}
GARBAGE_TOKENS = ["!!!", "AAAA", "eyJ4IjoxfQ", "9" * 40, "-1", "x" * 3000]


class Fuzz:
    def __init__(self, config):
        self.config = config
        self.rng = random.Random(config.get("seed", 7))
        self.outcomes = Counter()
        self.failures = []
        self.passed = 0
        self.tried = 0
        self.tenancy = 0
        self.deadline = time.monotonic() + config.get("seconds", 240)

    # ---- plausible values -------------------------------------------------

    def plausible(self, field, mark, shop):
        t = field.type
        if field.name == "shop_id":
            return shop
        if t == D.FieldDescriptor.TYPE_STRING:
            if "page_token" in field.name:
                return ""
            return f"{mark}-{field.name.replace('_', '-')}-{self.rng.randrange(1000)}"
        if t == D.FieldDescriptor.TYPE_BOOL:
            return True
        if t == D.FieldDescriptor.TYPE_ENUM:
            values = [v.number for v in field.enum_type.values if v.number != 0]
            return values[0] if values else 0
        if t in (D.FieldDescriptor.TYPE_DOUBLE, D.FieldDescriptor.TYPE_FLOAT):
            return 0.5
        if t == D.FieldDescriptor.TYPE_BYTES:
            return b"x"
        if field.name.endswith("_fen"):
            return 10_000
        if field.name == "page_size":
            return 10
        return 1

    def fill(self, message, mark, shop, depth=0):
        for field in message.DESCRIPTOR.fields:
            if field.containing_oneof is not None and field is not field.containing_oneof.fields[0]:
                continue
            if field.type == D.FieldDescriptor.TYPE_MESSAGE:
                if depth > 4 or field.message_type.GetOptions().map_entry:
                    continue
                if field.message_type.full_name == "google.protobuf.Timestamp":
                    sub = getattr(message, field.name).add() if is_repeated(field) else getattr(message, field.name)
                    sub.seconds = 1_767_225_600  # 2026-01-01
                    continue
                sub = getattr(message, field.name).add() if is_repeated(field) else getattr(message, field.name)
                self.fill(sub, mark, shop, depth + 1)
            elif is_repeated(field):
                getattr(message, field.name).append(self.plausible(field, mark, shop))
            else:
                setattr(message, field.name, self.plausible(field, mark, shop))

    # ---- hostile values ---------------------------------------------------

    def hostile(self, field):
        """(label, setter, must_refuse) for each hostile value of `field`:
        must_refuse where no RPC may accept it (a 2 MB string, 10,000
        elements, an enum value the proto does not declare, an id with white
        space, control or invisible characters)."""
        t = field.type
        out = []
        if is_repeated(field):
            if t == D.FieldDescriptor.TYPE_MESSAGE:
                out.append(("10,000 elements", lambda m, f=field: [getattr(m, f.name).add() for _ in range(10_000)], True))
            elif t == D.FieldDescriptor.TYPE_STRING:
                out.append(("10,000 elements", lambda m, f=field: getattr(m, f.name).extend(f"{LEAK_MARK}-{i}" for i in range(10_000)), True))
                for s in self.rng.sample(HOSTILE_STRINGS, 3):
                    out.append((f"element {s[:12]!r}", lambda m, f=field, s=s: getattr(m, f.name).append(s), is_id(field.name[:-1]) and bad_id(s)))
            elif t == D.FieldDescriptor.TYPE_ENUM:
                out.append(("unknown enum element", lambda m, f=field: getattr(m, f.name).append(99), True))
            else:
                out.append(("10,000 elements", lambda m, f=field: getattr(m, f.name).extend([1] * 10_000), True))
            out.append(("empty list", lambda m, f=field: m.ClearField(f.name), False))
            return out
        if t == D.FieldDescriptor.TYPE_STRING:
            values = GARBAGE_TOKENS if "page_token" in field.name else HOSTILE_STRINGS
            for s in values:
                out.append((f"{s[:12]!r}({len(s)})", lambda m, f=field, s=s: setattr(m, f.name, s),
                            is_id(field.name) and bad_id(s)))
            out.append(("2 MB", lambda m, f=field: setattr(m, f.name, HUGE), True))
        elif t == D.FieldDescriptor.TYPE_ENUM:
            for v in (0, 99, -5):
                out.append((f"enum {v}", lambda m, f=field, v=v: setattr(m, f.name, v), v != 0))
        elif t in INT_EDGES:
            for v in INT_EDGES[t] + [0]:
                out.append((f"{v}", lambda m, f=field, v=v: setattr(m, f.name, v), False))
        elif t in (D.FieldDescriptor.TYPE_DOUBLE, D.FieldDescriptor.TYPE_FLOAT):
            for v in (float("nan"), float("inf"), -1.0, 1e308):
                out.append((f"{v}", lambda m, f=field, v=v: setattr(m, f.name, v), v != v or v in (float("inf"),)))
        elif t == D.FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.full_name == "google.protobuf.Timestamp":
                for secs, nanos in ((2**62, 0), (-(2**62), 0), (0, -1), (0, 2_000_000_000), (253_402_300_800, 0)):
                    out.append((f"timestamp {secs}/{nanos}", lambda m, f=field, s=secs, n=nanos: set_ts(m, f, s, n),
                            not (-62_135_596_800 <= secs <= 253_402_300_799 and 0 <= nanos < 10**9)))
            else:
                out.append(("empty message", lambda m, f=field: m.ClearField(f.name), False))
        elif t == D.FieldDescriptor.TYPE_BOOL:
            out.append(("false", lambda m, f=field: setattr(m, f.name, False), False))
        return out

    # ---- calls ------------------------------------------------------------

    def call(self, channel, service, method, token, payload, stream):
        path = f"/{service}/{method.name}"
        metadata = [("authorization", f"Bearer {token}")]
        if stream:
            stub = channel.unary_stream(path, request_serializer=lambda b: b,
                                        response_deserializer=GetMessageClass(method.output_type).FromString)
            call = stub(payload, metadata=metadata, timeout=1.5)
            items = []
            try:
                for item in call:
                    items.append(item)
                    if len(items) >= 3:
                        break
                return "OK", items, None
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    return "OK", items, None  # a live stream that stays open
                return e.code().name, None, e
            finally:
                call.cancel()
        stub = channel.unary_unary(path, request_serializer=lambda b: b,
                                   response_deserializer=GetMessageClass(method.output_type).FromString)
        try:
            return "OK", [stub(payload, metadata=metadata, timeout=15)], None
        except grpc.RpcError as e:
            return e.code().name, None, e

    def events(self, name):
        db = self.config["databases"].get(name)
        if not db or not os.path.exists(db):
            return None
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as c:
            return c.execute("select count(*) from events").fetchone()[0]

    def judge(self, case, method, code, responses, error, before, after, reader_is_b):
        problems = []
        if error is not None and error.code() in BAD_CODES:
            problems.append(f"{code}: {error.details()[:200]!r}")
        if code == "DEADLINE_EXCEEDED":
            problems.append("a unary call did not answer in 15 s")
        if error is not None:
            text = error.details() or ""
            if len(text) > MAX_MESSAGE:
                problems.append(f"message of {len(text)} characters echoes the input")
            if code == "RESOURCE_EXHAUSTED" and "metadata" in text.lower():
                problems.append(f"the error did not fit in metadata: {text[:120]!r}")
            fields, detail_len = bad_request(error)
            if code == "INVALID_ARGUMENT":
                if not fields:
                    problems.append("INVALID_ARGUMENT without a BadRequest")
                for f in fields:
                    if not path_exists(method.input_type, f):
                        problems.append(f"BadRequest names {f!r}, not a field of {method.input_type.name}")
            if detail_len > 4 * MAX_MESSAGE:
                problems.append(f"details of {detail_len} bytes echo the input")
            if before is not None and after is not None and after != before:
                problems.append(f"refused ({code}) yet {after - before} events were appended")
        if reader_is_b:
            self.tenancy += 1
        if reader_is_b and responses:
            for r in responses:
                text = str(r)
                if LEAK_MARK in text:
                    i = text.index(LEAK_MARK)
                    problems.append(f"shop B read shop A's data: {text[max(0, i - 60):i + 40]!r}")
                    break
        self.outcomes[code] += 1
        self.tried += 1
        if os.environ.get("FUZZ_TRACE") and code in os.environ["FUZZ_TRACE"].split(","):
            print(f"TRACE {code} {case}: {(error.details() if error else '')[:160]!r}")
        if problems:
            self.failures.append(f"{case}: " + "; ".join(problems))
        else:
            self.passed += 1

    def run_case(self, channel, name, service, method, token, payload, case, reader_is_b=False,
                 must_refuse=False):
        stream = method.server_streaming
        before = self.events(name)
        code, responses, error = self.call(channel, service, method, token, payload, stream)
        after = self.events(name) if error is not None else None
        if must_refuse and code == "OK":
            self.outcomes[code] += 1
            self.tried += 1
            self.failures.append(f"{case}: accepted (no RPC may take this value)")
            return
        self.judge(case, method, code, responses, error, before, after, reader_is_b)

    def cases_for(self, method, mark, shop):
        """(label, payload bytes): the plausible request, then one hostile value per field."""
        cls = GetMessageClass(method.input_type)
        base = cls()
        self.fill(base, mark, shop)
        yield "plausible", base.SerializeToString(), False
        for path, field in walk_fields(method.input_type):
            for label, setter, must_refuse in self.hostile(field):
                m = cls()
                m.CopyFrom(base)
                target = resolve(m, path[:-1])
                try:
                    setter(target)
                except (ValueError, TypeError):
                    continue
                yield f"{'.'.join(path)}={label}", m.SerializeToString(), must_refuse
            if field.type == D.FieldDescriptor.TYPE_STRING and not is_repeated(field) and len(path) == 1:
                # Invalid UTF-8: the last occurrence of a field wins on the wire.
                raw = base.SerializeToString() + encode_len_field(field.number, b"\xff\xfe\x80bad")
                yield f"{field.name}=invalid UTF-8", raw, True
        for i in range(3):
            m = cls()
            m.CopyFrom(base)
            for path, field in walk_fields(method.input_type):
                if self.rng.random() < 0.4:
                    options = self.hostile(field)
                    if options:
                        try:
                            self.rng.choice(options)[1](resolve(m, path[:-1]))
                        except (ValueError, TypeError):
                            pass
            yield f"random mix {i}", m.SerializeToString(), False

    def run(self):
        endpoints = self.config["endpoints"]
        tokens = self.config["tokens"]
        shop_a, shop_b = self.config["shop_a"], self.config["shop_b"]
        plan = []
        for name, endpoint in endpoints.items():
            channel = grpc.insecure_channel(endpoint, options=[
                ("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)])
            grpc.channel_ready_future(channel).result(timeout=10)
            pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
            service = f"sellerdesk.{name}.v1.{name.capitalize()}Service"
            plan.append((name, channel, pool.FindServiceByName(service)))

        # Shop A and the platform (acting for A): every hostile case, all roles.
        roles_a = [("owner", tokens["owner_a"]), ("admin", tokens["admin_a"]),
                   ("agent", tokens["agent_a"]), ("platform", tokens["platform"])]
        for name, channel, svc in plan:
            for method in svc.methods:
                for i, (label, payload, must_refuse) in enumerate(self.cases_for(method, LEAK_MARK, shop_a)):
                    if time.monotonic() > self.deadline:
                        break
                    role, token = roles_a[i % len(roles_a)] if i else ("owner", tokens["owner_a"])
                    self.run_case(channel, name, svc.full_name, method, token, payload,
                                  f"{method.full_name} as {role} {label}", must_refuse=must_refuse)
                    if i == 0:
                        for role, token in roles_a[1:]:
                            self.run_case(channel, name, svc.full_name, method, token, payload,
                                          f"{method.full_name} as {role} {label}")
        # Shop B: its own plausible requests (nothing of A may come back) and
        # requests that name shop A (refused, nothing of A comes back).
        for name, channel, svc in plan:
            for method in svc.methods:
                cls = GetMessageClass(method.input_type)
                own = cls()
                self.fill(own, "fzB", shop_b)
                for kb_variant in knowledge_base_variants(own):
                    self.run_case(channel, name, svc.full_name, method, tokens["owner_b"],
                                  kb_variant.SerializeToString(), f"{method.full_name} as shop B", reader_is_b=True)
                    self.run_case(channel, name, svc.full_name, method, tokens["agent_b"],
                                  kb_variant.SerializeToString(), f"{method.full_name} as shop B's agent", reader_is_b=True)
                named = cls()
                self.fill(named, "fzB", shop_a)
                if "shop_id" in method.input_type.fields_by_name:
                    before = self.events(name)
                    code, responses, error = self.call(channel, svc.full_name, method, tokens["owner_b"],
                                                       named.SerializeToString(), method.server_streaming)
                    case = f"{method.full_name} as shop B naming shop A"
                    if code == "OK" and not (method.server_streaming and not responses):
                        self.failures.append(f"{case}: answered OK")
                        self.outcomes[code] += 1
                        self.tried += 1
                        self.tenancy += 1
                    else:
                        self.judge(case, method, code, responses, error, before,
                                   self.events(name) if error is not None else None, True)

    def report(self):
        print(f"inputs tried: {self.tried} (of them by shop B, against shop A's data: {self.tenancy})")
        print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())))
        for f in self.failures[:2000]:
            print(f"FAIL {f}")
        if len(self.failures) > 2000:
            print(f"... and {len(self.failures) - 2000} more failures")
        print(f"fuzz: {self.passed} passed, {len(self.failures)} failed")
        return not self.failures


def is_repeated(field):
    # protobuf 6 has `is_repeated`; older releases only `label`.
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return repeated() if callable(repeated) else repeated
    return field.label == D.FieldDescriptor.LABEL_REPEATED


def is_id(name):
    return name == "id" or name.endswith("_id")


def bad_id(s):
    """An id no RPC may accept: white space, control or invisible characters, over 128 bytes."""
    invisible = {"\u00ad", "\u061c", "\u180e", "\ufeff"} | {chr(c) for c in range(0x200B, 0x2010)} \
        | {chr(c) for c in range(0x202A, 0x202F)} | {chr(c) for c in range(0x2060, 0x2070)}
    return s != "" and (len(s.encode()) > 128 or any(c.isspace() or ord(c) < 32 or 0x7F <= ord(c) < 0xA0
                                                    or c in invisible for c in s))


def set_ts(message, field, seconds, nanos):
    ts = getattr(message, field.name)
    ts.seconds = seconds
    ts.nanos = nanos


def walk_fields(descriptor, prefix=(), depth=0):
    for field in descriptor.fields:
        path = prefix + (field.name,)
        yield path, field
        if (field.type == D.FieldDescriptor.TYPE_MESSAGE and not is_repeated(field) and depth < 3
                and field.message_type.full_name != "google.protobuf.Timestamp"):
            yield from walk_fields(field.message_type, path, depth + 1)


def resolve(message, path):
    for name in path:
        message = getattr(message, name)
    return message


def path_exists(descriptor, path):
    """`spec.target.video_id`, `items[3].name`: every segment a field of the one before."""
    current = descriptor
    for segment in path.split("."):
        name = segment.split("[", 1)[0]
        if current is None or name not in current.fields_by_name:
            return False
        field = current.fields_by_name[name]
        current = field.message_type if field.type == D.FieldDescriptor.TYPE_MESSAGE else None
    return True


def bad_request(error):
    try:
        status = rpc_status.from_call(error)
    except Exception:  # noqa: BLE001 - a malformed status is itself reported by length
        return [], 0
    fields, size = [], 0
    for detail in status.details if status else []:
        size += len(detail.value)
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields, size


def encode_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_len_field(number, data):
    return encode_varint(number << 3 | 2) + encode_varint(len(data)) + data


def knowledge_base_variants(message):
    """Shop B's request as it is and, where it names a knowledge base, for each one."""
    field = message.DESCRIPTOR.fields_by_name.get("knowledge_base")
    if field is None or field.type != D.FieldDescriptor.TYPE_ENUM:
        return [message]
    out = []
    for value in field.enum_type.values:
        m = type(message)()
        m.CopyFrom(message)
        setattr(m, "knowledge_base", value.number)
        out.append(m)
    return out


def main():
    with open(sys.argv[1]) as f:
        config = json.load(f)
    fuzz = Fuzz(config)
    started = time.monotonic()
    fuzz.run()
    ok = fuzz.report()
    print(f"took {time.monotonic() - started:.0f} s")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
