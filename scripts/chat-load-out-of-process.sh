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
SELLERDESK_DATA_DIR="$data" "$driver" load chat --endpoint http://127.0.0.1:50053 \
  --duration "${seconds}s" >"$log" 2>&1 &
load=$!
until grep -q "set up" "$log"; do kill -0 "$load" || { cat "$log"; exit 1; }; sleep 0.1; done
t0=$(ticks)
wait "$load"
t1=$(ticks)
grep -v INFO "$log"
sent=$(grep -o '([0-9]* in' "$log" | tr -d '(' | awk '{print $1}')
hz=$(getconf CLK_TCK)
echo "server CPU per 1,000 buyer messages: $(( (t1 - t0) * 1000 * 1000 / hz / sent )) ms (load average $(cut -d' ' -f1 /proc/loadavg))"
