#!/usr/bin/env bash
# `sellerdesk load chat` against N chat-svc replicas (`serve chat`, separate
# processes on one PostgreSQL database) and one faq-svc, with the driver's
# connections spread over the replicas. Prints the driver's figures and the
# replicas' CPU time over the run phase per 1,000 buyer messages. Compare
# 1 and 3 replicas in the same hour, interleaved:
#   scripts/chat-load-replicas.sh target/release/sellerdesk 3 [seconds]
# DATABASE_URL names a PostgreSQL server where databases may be created.
set -euo pipefail
bin=$(realpath "$1")
replicas=${2:-3}
seconds=${3:-15}
base=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
run="load_$$"
data=$(mktemp -d)
log="$data/load.log"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for db in chat faq; do psql "$base" -qc "drop database if exists ${run}_$db with (force)" >/dev/null 2>&1 || true; done
  rm -rf "$data"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for db in chat faq; do psql "$base" -qc "create database ${run}_$db" >/dev/null; done
url() { echo "${base%/*}/${run}_$1"; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
export SELLERDESK_DATA_DIR="$data" SELLERDESK_LOG=warn
faq_port=$(free_port)
SELLERDESK_DATABASE_URL=$(url faq) "$bin" serve faq --listen "127.0.0.1:$faq_port" >"$data/faq.log" 2>&1 &
pids+=("$!")
wait_port "$faq_port"
endpoints=()
chat_pids=()
for i in $(seq "$replicas"); do
  port=$(free_port)
  SELLERDESK_DATABASE_URL=$(url chat) SELLERDESK_CHAT_FAQ_URL="http://127.0.0.1:$faq_port" \
    "$bin" serve chat --listen "127.0.0.1:$port" >"$data/chat-$i.log" 2>&1 &
  pids+=("$!")
  chat_pids+=("$!")
  wait_port "$port"
  endpoints+=("http://127.0.0.1:$port")
done
ticks() { local t=0; for p in "${chat_pids[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
# shellcheck source=lib/chat-load.sh
source "$(dirname "$0")/lib/chat-load.sh"
run_chat_load "$replicas chat replicas:" "$log" \
  "$bin" load chat --endpoint "$(IFS=,; echo "${endpoints[*]}")" --duration "${seconds}s"
