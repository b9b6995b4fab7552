#!/usr/bin/env python3
"""How fast a killed chat replica's shops move to the survivors (issue 15
items 2 and 8), measured from outside.

Starts one faq-svc and N chat-svc processes (`sellerdesk serve`) on one
PostgreSQL database, each chat replica with its /metrics port. A client keeps
calling every survivor for shops spread over all replicas (some owned by the
one about to die, so those calls are forwarded until it dies). Then, round
after round: SIGKILL one replica; time until every survivor's
`sellerdesk_live_replicas` shows it gone (its shops have moved: the
survivors no longer forward to it); start it again and time until every
replica counts it back.

    python3 tests/chaos/failover.py --bin target/release/sellerdesk [--replicas 3] [--rounds 20]

Prints each round, then p50/p99/max of both times and the client's calls
that failed (a call to a survivor should never fail: while the dead owner is
still listed, the survivor serves the shop itself).
"""

import argparse
import os
import random
import shutil
import tempfile
import threading
import time
import urllib.request

import grpc

from chaos import (SERVICES, Process, Psql, database_url, free_port, say,  # noqa: E402
                   wait_port)
from wire_client import Api  # noqa: E402

CHAT = SERVICES["chat"]


def live_replicas(metrics_port):
    """The replica's count of live replicas, or None while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=1) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("sellerdesk_live_replicas{"):
                    return int(float(line.rsplit(" ", 1)[1]))
    except OSError:
        return None
    return None


def wait_until(predicate, timeout, step=0.01):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    return None


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    psql = Psql(base)
    run = f"failover_{os.getpid()}"
    work = tempfile.mkdtemp(prefix="sd-failover-")
    data = os.path.join(work, "data")
    os.makedirs(data)
    binary = os.path.abspath(args.bin)
    procs = []
    for db in ("chat", "faq"):
        psql.run(f'create database "{run}_{db}"')
    try:
        env = {**os.environ, "SELLERDESK_DATA_DIR": data, "SELLERDESK_LOG": "warn"}
        faq_port = free_port()
        faq = Process("faq", [binary, "serve", "faq", "--listen", f"127.0.0.1:{faq_port}"],
                      {**env, "SELLERDESK_DATABASE_URL": database_url(base, f"{run}_faq")},
                      faq_port, work)
        faq.start()
        procs.append(faq)
        wait_port(faq_port)
        chats = []
        for i in range(args.replicas):
            port, metrics = free_port(), free_port()
            p = Process(f"chat-{i}", [binary, "serve", "chat", "--listen", f"127.0.0.1:{port}"],
                        {**env, "SELLERDESK_DATABASE_URL": database_url(base, f"{run}_chat"),
                         "SELLERDESK_CHAT_FAQ_URL": f"http://127.0.0.1:{faq_port}",
                         "SELLERDESK_METRICS_PORT": str(metrics)}, port, work)
            p.metrics = metrics
            p.start()
            procs.append(p)
            chats.append(p)
        for p in chats:
            wait_port(p.port)
        n = args.replicas
        if wait_until(lambda: all(live_replicas(p.metrics) == n for p in chats), 30) is None:
            raise SystemExit("the replicas never saw each other")
        say(f"{n} chat replicas see each other")
        tokens = {}

        def token(shop):
            if shop not in tokens:
                out = os.popen(f"SELLERDESK_DATA_DIR={data} {binary} token --shop {shop} "
                               f"--role owner --account owner").read().strip()
                tokens[shop] = out
            return tokens[shop]

        shops = [f"fo-{i}" for i in range(24)]
        for s in shops:
            token(s)
        apis = {p.name: Api(grpc.insecure_channel(f"127.0.0.1:{p.port}"), CHAT) for p in chats}
        dead = set()
        stop = threading.Event()
        calls, failures = [0], []

        def client():
            while not stop.is_set():
                for p in chats:
                    if p.name in dead:
                        continue
                    shop = rng.choice(shops)
                    try:
                        apis[p.name].call("ListAgents", token(shop), shop_id=shop)
                        calls[0] += 1
                    except grpc.RpcError as e:
                        # The call raced the kill of the replica it went to.
                        if p.name not in dead:
                            failures.append((p.name, shop, e.code().name))
                time.sleep(0.005)

        worker = threading.Thread(target=client, daemon=True)
        worker.start()
        moved, rejoined = [], []
        for r in range(args.rounds):
            time.sleep(rng.uniform(0.5, 1.5))
            victim = rng.choice(chats)
            survivors = [p for p in chats if p is not victim]
            dead.add(victim.name)
            victim.kill_9()
            took = wait_until(lambda: all(live_replicas(p.metrics) == n - 1 for p in survivors), 30)
            victim.start()
            wait_port(victim.port)
            dead.discard(victim.name)
            back = wait_until(lambda: all(live_replicas(p.metrics) == n for p in chats), 30)
            say(f"round {r + 1}: SIGKILL {victim.name}; its shops moved in "
                f"{'never' if took is None else f'{took:.3f} s'}; back in "
                f"{'never' if back is None else f'{back:.3f} s'}")
            if took is None or back is None:
                raise SystemExit("a replica was never seen to go or come back")
            moved.append(took)
            rejoined.append(back)
        stop.set()
        worker.join(5)
        say(f"ownership moved after SIGKILL: p50 {percentile(moved, 50):.3f} s, "
            f"p99 {percentile(moved, 99):.3f} s, max {max(moved):.3f} s ({len(moved)} kills)")
        say(f"a restarted replica counted back: p50 {percentile(rejoined, 50):.3f} s, "
            f"max {max(rejoined):.3f} s")
        say(f"client calls to survivors: {calls[0]} answered, {len(failures)} failed {failures[:5]}")
        raise SystemExit(0 if not failures and max(moved) < 10 else 1)
    finally:
        for p in procs:
            p.kill_9()
        for db in ("chat", "faq"):
            try:
                psql.run(f'drop database if exists "{run}_{db}" with (force)')
            except SystemExit as e:
                print(e)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
