#!/usr/bin/env bash
# What recording letter sends and acks in the activity log costs on the durable direct path: two Daakia servers side
# by side, one with Core:RecordMessageActivity on and one with it off (the default), the same ws-direct load against
# each in alternating rounds after WARMUP_ROUNDS uncounted rounds. Prints msg/s, latency and server CPU per message of
# each round and the ratio of the means; exits non-zero on any loss, duplicate or reordering.
#
#   bench/run-activity-cost.sh              # defaults: PAIRS=16 MESSAGES=5000 PAYLOAD=256 WINDOW=64 ROUNDS=3 WARMUP_ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=${PAIRS:-16}
MESSAGES=${MESSAGES:-5000}
PAYLOAD=${PAYLOAD:-256}
WINDOW=${WINDOW:-64}
ROUNDS=${ROUNDS:-3}
WARMUP_ROUNDS=${WARMUP_ROUNDS:-3}

. bench/lib.sh
build_all
start_daakia activity-on fsync DAAKIA_Core__RecordMessageActivity=true
ON_WS=$DAAKIA_WS; ON_PID=$DAAKIA_PID; ON_DIR=$DAAKIA_DIR
start_daakia activity-off fsync DAAKIA_Core__RecordMessageActivity=false
OFF_WS=$DAAKIA_WS; OFF_PID=$DAAKIA_PID

echo
echo "Machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg); $PAIRS pairs × $MESSAGES messages, window $WINDOW"
load=(--pairs "$PAIRS" --messages "$MESSAGES" --payload "$PAYLOAD" --window "$WINDOW")
for _ in $(seq "$WARMUP_ROUNDS"); do
  $LOADTEST ws-direct --url "$ON_WS" "${load[@]}" >/dev/null
  $LOADTEST ws-direct --url "$OFF_WS" "${load[@]}" >/dev/null
done

echo "| round | activity | msg/s | send→receive p50 / p99 ms | send→ack p99 ms | server CPU µs/msg |"
echo "|---|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
  for mode in on off; do
    if [ "$mode" = on ]; then url=$ON_WS; pid=$ON_PID; else url=$OFF_WS; pid=$OFF_PID; fi
    $LOADTEST ws-direct --url "$url" "${load[@]}" --pid "$pid" > "$work/$mode-$r.txt"
    f="$work/$mode-$r.txt"
    echo "| $r | $mode | $(field "$f" msgs_per_sec) | $(field "$f" p50_ms) / $(field "$f" p99_ms) | $(field "$f" ack_p99_ms) | $(field "$f" cpu_us_per_msg) |"
  done
done
mean() { for r in $(seq "$ROUNDS"); do field "$work/$1-$r.txt" "$2"; done | awk '{s+=$1} END {printf "%.1f", s/NR}'; }
awk -v a="$(mean on msgs_per_sec)" -v b="$(mean off msgs_per_sec)" -v c="$(mean on cpu_us_per_msg)" -v d="$(mean off cpu_us_per_msg)" \
  'BEGIN{printf "\nmean: on %.0f msg/s, off %.0f msg/s (on ÷ off %.3f); CPU on %.1f, off %.1f µs/msg (on ÷ off %.3f)\n", a, b, a/b, c, d, c/d}'
echo "the 'on' server's log: $(curl -s "$(echo "$ON_WS" | sed 's#^ws://#http://#; s#/v1/ws$##')/v1/activity?kind=sent&limit=1000" | jq -r '.entries | length') sent entries on its first page"
