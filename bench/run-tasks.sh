#!/usr/bin/env bash
# Worker task dispatch, side by side in one run: Daakia's tasks (WebSocket JSON API workers and submitters, and the same
# over MQTT 5 with MQTTnet clients on $tasks/… topics; fsync
# durability: a submit is answered once durable, a result reaches its submitter as a durable letter) against the way
# worker pools are built on RabbitMQ (one durable work queue, persistent messages, publisher confirms, manual acks,
# prefetch = C, each result published persistent and confirmed to the submitter's durable reply queue before the task
# is acked). For each W in WORKERS: W workers of capacity C, S submitters of TASKS tasks each with WINDOW unanswered.
# Prints tasks/s end to end, dispatch latency (submit sent → worker has it) p50/p99, server CPU per task, and the
# ratios; exits non-zero on any lost, duplicated or out-of-order task.
#
#   bench/run-tasks.sh                      # defaults: WORKERS="1 4 16 64" CAPACITY=8 SUBMITTERS=4 TASKS=2000 WINDOW=16
#   WORKERS="4 16" TASKS=5000 bench/run-tasks.sh
#   RATE=2000 WORKERS="16 64" bench/run-tasks.sh   # offered at 2000 tasks/s: latency below saturation
#
# With S × WINDOW = 64 tasks out at once, W × C < 64 (W = 1, 4) keeps every worker busy and tasks wait in the queue
# (their dispatch latency is mostly that wait); from W = 8 there is always a free worker (the latency is the broker's).
set -euo pipefail
cd "$(dirname "$0")/.."

WORKERS=${WORKERS:-"1 4 16 64"}
CAPACITY=${CAPACITY:-8}
SUBMITTERS=${SUBMITTERS:-4}
TASKS=${TASKS:-2000}
WINDOW=${WINDOW:-16}
PAYLOAD=${PAYLOAD:-256}
DURABILITY=${DURABILITY:-fsync}
STORAGE=${STORAGE:-sqlite}
WARMUP_ROUNDS=${WARMUP_ROUNDS:-3}
RATE=${RATE:-0}

. bench/lib.sh
build_all
start_rabbit
start_daakia tasks "$DURABILITY" "DAAKIA_Storage=$STORAGE"

echo
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Daakia ($STORAGE, durability $DURABILITY) at $DAAKIA_WS; RabbitMQ $RABBIT_VERSION"
echo "Workload: W workers × capacity $CAPACITY, $SUBMITTERS submitters × $TASKS tasks of ~$PAYLOAD B, window $WINDOW, offered rate ${RATE} tasks/s (0: unpaced)"
echo

common=(--capacity "$CAPACITY" --submitters "$SUBMITTERS" --window "$WINDOW" --payload "$PAYLOAD")
# Offered load: RATE tasks/s spread evenly over the submitters (0: each submits as fast as its window allows). The
# warm-up runs unpaced.
paced=(--rate "$RATE")
# Uncounted warm-up of both (the JIT's tiers and PGO, RabbitMQ's queues and page cache).
for _ in $(seq "$WARMUP_ROUNDS"); do
  $LOADTEST tasks --url "$DAAKIA_WS" --workers 4 --tasks "$TASKS" "${common[@]}" >/dev/null
  $LOADTEST mqtt-tasks --mqtt "$DAAKIA_MQTT" --workers 4 --tasks "$TASKS" "${common[@]}" >/dev/null
  $LOADTEST rabbit-tasks --amqp "$RABBIT_AMQP" --workers 4 --tasks "$TASKS" "${common[@]}" >/dev/null
done

for w in $WORKERS; do
  $LOADTEST tasks --url "$DAAKIA_WS" --workers "$w" --tasks "$TASKS" "${common[@]}" "${paced[@]}" --pid "$DAAKIA_PID" | tee "$work/daakia-$w.txt"
  $LOADTEST mqtt-tasks --mqtt "$DAAKIA_MQTT" --workers "$w" --tasks "$TASKS" "${common[@]}" "${paced[@]}" --pid "$DAAKIA_PID" | tee "$work/mqtt-$w.txt"
  $LOADTEST rabbit-tasks --amqp "$RABBIT_AMQP" --workers "$w" --tasks "$TASKS" "${common[@]}" "${paced[@]}" ${RABBIT_PID:+--pid "$RABBIT_PID"} | tee "$work/rabbit-$w.txt"
done

echo
echo "| W | Daakia WebSocket tasks/s | Daakia MQTT tasks/s | RabbitMQ tasks/s | WebSocket ÷ RabbitMQ | MQTT ÷ RabbitMQ | dispatch p50 / p99 ms: WebSocket | MQTT | RabbitMQ | CPU µs/task: WebSocket | MQTT | RabbitMQ |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for w in $WORKERS; do
  d="$work/daakia-$w.txt"; m="$work/mqtt-$w.txt"; r="$work/rabbit-$w.txt"
  awk -v w="$w" -v dr="$(field "$d" msgs_per_sec)" -v mr="$(field "$m" msgs_per_sec)" -v rr="$(field "$r" msgs_per_sec)" \
    -v d50="$(field "$d" p50_ms)" -v d99="$(field "$d" p99_ms)" -v m50="$(field "$m" p50_ms)" -v m99="$(field "$m" p99_ms)" \
    -v r50="$(field "$r" p50_ms)" -v r99="$(field "$r" p99_ms)" \
    -v dc="$(field "$d" cpu_us_per_msg)" -v mc="$(field "$m" cpu_us_per_msg)" -v rc="$(field "$r" cpu_us_per_msg)" \
    'BEGIN{printf "| %s | %d | %d | %d | %.2f× | %.2f× | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f | %.0f | %.0f | %.0f |\n", w, dr, mr, rr, dr/rr, mr/rr, d50, d99, m50, m99, r50, r99, dc, mc, rc}'
done
