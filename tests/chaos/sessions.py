#!/usr/bin/env python3
"""Read-your-writes across two replicas while PostgreSQL ends every session
of the service over and over.

usage: sessions.py --bin PATH/TO/sellerdesk [--seconds 30] [--service ads|affiliate|chat|compliance|faq ...]

Uses DATABASE_URL (a database it may create others from) and NATS_URL (a
namespace of its own). For each service named (all five by default, one
after the other, each for --seconds), starts two of its processes on a fresh
database; eight shops' workers each write on a random replica (on the other
when one cannot answer) and, as soon as the write is acknowledged, read on
the other replica, which must show it:

- ads: PlaceOrder, then GetOrder must find it (then DecideReview, every
  third rejected);
- affiliate: SendInvitation, then ListInvitations must list it;
- chat: SendBuyerMessage (a conversation opened every eighth message), then
  GetConversation's transcript must hold it (chat forwards a shop's calls
  to the replica that owns the shop, so the read may go back to the writer;
  faq-svc is not started, so humans answer: R-CHAT-6's fallback);
- compliance: RecordViolation of one point, then GetStanding must count
  every point the shop was given so far (its standing is folded from the
  log, through the store's range reads);
- faq: CreateEntry, then GetEntry must find it.

Beside them, every 0.7-2 s, `pg_terminate_backend` ends every session of
the database, as a restart or a failover of PostgreSQL does.

Why: chaos.py ends the sessions once per run, and one run of 2026-12-06
read an acknowledged invitation as missing. Ending them every second or so
shows what once per run shows rarely: a log read (a COPY) cut off by the
fault left its pooled connection one answer behind, and the next query on it
returned nothing (6 stale reads of 2,611 in 60 s before the fix, 0 of
10,478 after; tests/contract.rs has the store-level test). The fix is in
the shared store, so a second service is driven too.

A connection out of step also shows in the services' logs, more often than
a stale read does: a query that meets another's answer fails with a driver's
"protocol error" (8 in the run above before the fix). The logs are searched
for it.

Exits 1 when a read was stale, when no read could be checked, when a worker
failed, or when a log shows a connection out of step; the service logs are
kept then.
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "wire"))
import grpc  # noqa: E402
from wire_client import Api  # noqa: E402
from chaos import free_port, out_of_step_lines  # noqa: E402

SERVICES = {
    "ads": "sellerdesk.ads.v1.AdsService",
    "affiliate": "sellerdesk.affiliate.v1.AffiliateService",
    "chat": "sellerdesk.chat.v1.ChatService",
    "compliance": "sellerdesk.compliance.v1.ComplianceService",
    "faq": "sellerdesk.faq.v1.FaqService",
}
SHOPS = 8
CREATORS = 40
# A replica that is reconnecting answers UNAVAILABLE; the call goes to the other.
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.ABORTED, grpc.StatusCode.CANCELLED}
T0 = time.monotonic()


def say(text):
    print(f"[{time.monotonic() - T0:6.1f}s] {text}", flush=True)


def psql(url, sql):
    out = subprocess.run(["psql", url, "-Atqc", sql], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"psql failed: {out.stderr}")
    return out.stdout.strip()


def with_database(url, name):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


class Replicas:
    def __init__(self, service, binary, database_url, nats_url, work, run_id):
        self.service, self.binary, self.work = service, binary, work
        self.env = dict(os.environ, SELLERDESK_DATA_DIR=os.path.join(work, "data"),
                        SELLERDESK_DATABASE_URL=database_url, SELLERDESK_NATS_URL=nats_url,
                        SELLERDESK_NATS_NAMESPACE=f"sessions{run_id}", SELLERDESK_LOG="warn",
                        SELLERDESK_LOG_FORMAT="json",
                        SELLERDESK_AFFILIATE_DAILY_INVITATIONS="1000000",
                        SELLERDESK_DATABASE_MAX_CONNECTIONS="8")
        self.ports = [free_port(), free_port()]
        self.children = []
        self.apis = []

    def token(self, shop, role, account):
        return subprocess.run([self.binary, "token", "--shop", shop, "--role", role, "--account", account],
                              env=self.env, capture_output=True, text=True, check=True).stdout.strip()

    def start(self):
        for i, port in enumerate(self.ports):
            log = open(os.path.join(self.work, f"{self.service}-{i}.log"), "ab")
            self.children.append(subprocess.Popen(
                [self.binary, "serve", self.service, "--listen", f"127.0.0.1:{port}"],
                env=self.env, stdout=log, stderr=log))
        for port in self.ports:
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            grpc.channel_ready_future(channel).result(timeout=60)
            self.apis.append(Api(channel, SERVICES[self.service]))

    def stop(self):
        for child in self.children:
            child.kill()
            child.wait()

    def call(self, method, token, done_codes=(), **fields):
        """(answer, replica that answered), trying the other replica while
        one cannot answer, for up to 60 s. `done_codes`: codes that, after
        an attempt whose answer was lost, mean that attempt took effect (a
        repeat the domain refuses, such as answering an invitation twice)."""
        first, attempt, deadline = random.randrange(2), 0, time.monotonic() + 60
        while True:
            r = (first + attempt) % 2
            try:
                return self.apis[r].call(method, token, **fields), r
            except grpc.RpcError as e:
                if attempt > 0 and e.code() in done_codes:
                    return None, r
                if e.code() not in RETRYABLE or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.service}-{r} {method}: {e.code().name} {e.details()}") from None
            attempt += 1
            time.sleep(0.05)


class Kind:
    """One service's write, and the read on the other replica that must
    show it; `after` moves what was written on (by default nothing)."""

    def __init__(self, replicas, platform):
        self.replicas, self.platform = replicas, platform

    def write(self, shop, owner, n):
        """(label, replica that acknowledged, (read method, its fields
        besides shop_id), check on the other replica's answer)"""
        raise NotImplementedError

    def after(self, shop, owner, n):
        pass


class Affiliate(Kind):
    """An invitation sent on one replica is listed by the other."""

    def __init__(self, replicas, platform):
        super().__init__(replicas, platform)
        self.creators = [f"creator-{n}" for n in range(CREATORS)]
        for n, creator in enumerate(self.creators):
            replicas.call("ProfileCreator", platform, profile=dict(
                creator_id=creator, handle=f"@creator{n}", categories=["美妆"], followers=1_000 * (n + 1),
                female_share_bps=6_000, main_age_band="24-30", engagement_bps=300,
                price_low_fen=1_000, price_high_fen=20_000))

    def write(self, shop, owner, n):
        invitation = f"i{n}"
        _, r = self.replicas.call("SendInvitation", owner, shop_id=shop, invitation_id=invitation,
                                  creator_id=self.creators[n % CREATORS], goal=2, message="春季新品合作")
        return (f"{shop}/{invitation}", r, ("ListInvitations", {}),
                lambda listed: any(i.invitation_id == invitation for i in listed.invitations))

    def after(self, shop, owner, n):
        # Answered, so the creator may be invited again (R-AFF-6).
        self.replicas.call("AnswerInvitation", self.platform, shop_id=shop, invitation_id=f"i{n}",
                           accepted=n % 4 == 0, done_codes=(grpc.StatusCode.FAILED_PRECONDITION,))


class Compliance(Kind):
    """A violation recorded on one replica counts in the other's standing."""

    def write(self, shop, owner, n):
        # One point each: after the n-th, the shop has n points (R-CMP-5);
        # a repeat after a lost answer is the same violation (R-CMP-12).
        _, r = self.replicas.call("RecordViolation", self.platform, shop_id=shop, violation_id=f"v{n}",
                                  points=1, violation_type="false_advertising", evidence="sessions.py")
        return (f"{shop}/v{n}", r, ("GetStanding", {}),
                lambda answer: answer.standing.points >= n)


class Ads(Kind):
    """A promotion order placed on one replica is found by the other."""

    def write(self, shop, owner, n):
        order = f"o{n}"
        # A repeat after a lost answer is the same order.
        _, r = self.replicas.call("PlaceOrder", owner, order_id=order, spec=dict(
            product=1, video=dict(video_id="v1", public=True, title="春季新款连衣裙", duration_secs=30,
                                  has_shop_cart=True),
            objective=1, duration_hours=6, bid_mode=1, amount_fen=20_000, payment=2),
            done_codes=(grpc.StatusCode.ALREADY_EXISTS,))
        return (f"{shop}/{order}", r, ("GetOrder", {"order_id": order}),
                lambda got: got.order.order_id == order)

    def after(self, shop, owner, n):
        # Reviewed, so the orders read model moves too (decision 0022);
        # a repeat after a lost answer finds the order reviewed.
        self.replicas.call("DecideReview", self.platform, shop_id=shop, order_id=f"o{n}", approve=n % 3 != 0,
                           reasons=[] if n % 3 else ["标题与内容不符"],
                           done_codes=(grpc.StatusCode.FAILED_PRECONDITION,))


class Chat(Kind):
    """A buyer's message taken on one replica is in the transcript the
    other gives (or forwards from the shop's owner)."""

    def write(self, shop, owner, n):
        conversation = f"c{(n - 1) // 8}"
        if n % 8 == 1:
            self.replicas.call("OpenConversation", self.platform, shop_id=shop, conversation_id=conversation,
                               buyer_id=f"buyer-{n}", buyer_name="小王",
                               done_codes=(grpc.StatusCode.ALREADY_EXISTS,))
        message = f"{conversation}-m{n}"
        # A message id makes a repeat after a lost answer the same message.
        _, r = self.replicas.call("SendBuyerMessage", self.platform, shop_id=shop, conversation_id=conversation,
                                  message_id=message, text=f"第{n}个问题：什么时候发货")
        return (f"{shop}/{message}", r, ("GetConversation", {"conversation_id": conversation}),
                lambda got: any(m.message_id == message for m in got.transcript))


class Faq(Kind):
    """An entry created on one replica is found by the other."""

    def write(self, shop, owner, n):
        entry = f"e{n}"
        _, r = self.replicas.call("CreateEntry", owner, entry_id=entry, content=dict(
            standard_question=f"第{n}号款可以刻字吗", answer=f"第{n}号款支持刻字。", category=1, enabled=True),
            done_codes=(grpc.StatusCode.ALREADY_EXISTS,))
        return (f"{shop}/{entry}", r, ("GetEntry", {"entry_id": entry}),
                lambda got: got.entry.entry_id == entry)


KINDS = {"ads": Ads, "affiliate": Affiliate, "chat": Chat, "compliance": Compliance, "faq": Faq}


def run(service, args, base_url, nats_url):
    """Drives one service's two replicas; True when every check held."""
    run_id = random.randrange(1 << 30)
    database = f"sessions_{run_id}"
    work = tempfile.mkdtemp(prefix=f"sd-sessions-{service}-")
    psql(base_url, f'create database "{database}"')
    replicas = Replicas(service, args.bin, with_database(base_url, database), nats_url, work, run_id)
    platform = replicas.token("", "platform", "sessions")
    owners = {f"shop-{i}": replicas.token(f"shop-{i}", "owner", "owner") for i in range(SHOPS)}
    stop = threading.Event()
    lock = threading.Lock()
    counts = {"checked": 0, "stale": 0, "skipped": 0, "ended": 0}
    failures = []
    try:
        replicas.start()
        kind = KINDS[service](replicas, platform)

        def shop_worker(shop):
            n = 0
            try:
                while not stop.is_set():
                    n += 1
                    label, r, (read, fields), holds = kind.write(shop, owners[shop], n)
                    try:
                        seen = holds(replicas.apis[1 - r].call(read, owners[shop], shop_id=shop, **fields))
                    except grpc.RpcError as e:
                        if e.code() == grpc.StatusCode.NOT_FOUND:
                            seen = False  # what was acknowledged is not there
                        elif e.code() in RETRYABLE:
                            seen = None  # the other replica cannot answer now
                        else:
                            raise
                    with lock:
                        counts["checked" if seen else "skipped" if seen is None else "stale"] += 1
                    if seen is False:
                        say(f"STALE: {label}, acknowledged by {service}-{r}, "
                            f"missing from {service}-{1 - r}'s {read}")
                    kind.after(shop, owners[shop], n)
            except Exception as e:  # a worker that dies is a finding, not a hang
                failures.append(f"{shop}: {e!r}")
                say(f"worker {shop} failed: {e!r}")

        def end_sessions():
            while not stop.wait(random.uniform(0.7, 2.0)):
                psql(base_url, "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                               f"where datname = '{database}'")
                with lock:
                    counts["ended"] += 1

        threads = [threading.Thread(target=shop_worker, args=(shop,), daemon=True) for shop in owners]
        threads.append(threading.Thread(target=end_sessions, daemon=True))
        for t in threads:
            t.start()
        stop.wait(args.seconds)
        stop.set()
        for t in threads:
            t.join(timeout=90)
    finally:
        stop.set()
        replicas.stop()
        psql(base_url, f'drop database if exists "{database}" with (force)')
    say(f"{service}: every session ended {counts['ended']} times; reads on the other replica right "
        f"after a write: {counts['checked']} saw it, {counts['stale']} stale, "
        f"{counts['skipped']} skipped (replica reconnecting)")
    out_of_step = out_of_step_lines(os.path.join(work, f) for f in os.listdir(work) if f.endswith(".log"))
    say(f"{service}: log lines of a connection out of step: {len(out_of_step)}")
    for line in out_of_step[:5]:
        say(f"  {line[:300]}")
    ok = counts["stale"] == 0 and counts["checked"] > 0 and not failures and not out_of_step
    if ok:
        shutil.rmtree(work, ignore_errors=True)
        say(f"{service}: PASS")
    else:
        say(f"{service}: FAIL; logs kept in {work}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--seconds", type=float, default=30, help="for each service")
    parser.add_argument("--service", action="append", choices=sorted(KINDS),
                        help="the services driven, one after the other (default: all)")
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    nats_url = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    results = [run(service, args, base_url, nats_url) for service in args.service or sorted(KINDS)]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
