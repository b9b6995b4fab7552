# Sourced by the chat load scripts: one `sellerdesk load chat` run, with the
# server's CPU time over the run phase (not the set-up) per 1,000 buyer
# messages. The caller defines `ticks` (the server processes' CPU ticks).
#   run_chat_load LABEL LOG COMMAND...
run_chat_load() {
  local label=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  local load=$!
  until grep -q "set up" "$log"; do kill -0 "$load" || { cat "$log"; return 1; }; sleep 0.1; done
  local t0 t1 sent hz
  t0=$(ticks)
  wait "$load"
  t1=$(ticks)
  grep -v INFO "$log"
  sent=$(grep -o '([0-9]* in' "$log" | tr -d '(' | awk '{print $1}')
  hz=$(getconf CLK_TCK)
  echo "$label CPU per 1,000 buyer messages: $(( (t1 - t0) * 1000 * 1000 / hz / sent )) ms (load average $(cut -d' ' -f1 /proc/loadavg))"
}
