#!/usr/bin/env bash
# One `sellerdesk load chat` run against `sellerdesk up` in its own process, on a
# fresh data directory, with the server's CPU time over the run phase (not the
# set-up) per 1,000 buyer messages. Interleave two server builds to compare them:
#   scripts/chat-load-out-of-process.sh target/release/sellerdesk [driver] [seconds]
set -euo pipefail
server=$(realpath "$1")
driver=$(realpath "${2:-$1}")
seconds=${3:-15}
data=$(mktemp -d)
log=$(mktemp)
(cd "$data" && exec "$server" up --data-dir "$data" >"$data/up.log" 2>&1) &
up=$!
cleanup() { kill "$up" 2>/dev/null || true; wait "$up" 2>/dev/null || true; rm -rf "$data" "$log"; }
trap cleanup EXIT
until grep -q '^ready' "$data/up.log" 2>/dev/null; do
  kill -0 "$up" || { cat "$data/up.log"; exit 1; }
  sleep 0.2
done
pid=$(pgrep -P "$up" -f " up --data-dir" || echo "$up")
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
# shellcheck source=lib/chat-load.sh
source "$(dirname "$0")/lib/chat-load.sh"
run_chat_load "server" "$log" \
  env SELLERDESK_DATA_DIR="$data" "$driver" load chat --endpoint http://127.0.0.1:50053 --duration "${seconds}s"
