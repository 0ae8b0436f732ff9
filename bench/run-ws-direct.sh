#!/usr/bin/env bash
# Side-by-side, one machine, one run: durable direct messaging on Daakia (WebSocket JSON API and texto, fsync
# durability) against RabbitMQ (durable queue per receiver, persistent messages, publisher confirms, manual acks),
# plus the disk's raw fsync rate and Daakia's memory per idle WebSocket connection. Fails when any run loses,
# duplicates or reorders a message.
#
#   bench/run-ws-direct.sh                  # defaults: PAIRS=16 MESSAGES=10000 PAYLOAD=256 WINDOW=64 IDLE=10000 WARMUP_ROUNDS=6
#   PAIRS=32 MESSAGES=5000 bench/run-ws-direct.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=${PAIRS:-16}
MESSAGES=${MESSAGES:-10000}
PAYLOAD=${PAYLOAD:-256}
WINDOW=${WINDOW:-64}
IDLE=${IDLE:-10000}
DURABILITY=${DURABILITY:-fsync}

. bench/lib.sh
build_all
start_rabbit
start_daakia daakia "$DURABILITY"
FSTYPE=$(fstype "$DAAKIA_DIR")

echo
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; Daakia durability: $DURABILITY; RabbitMQ $RABBIT_VERSION"
echo "Workload: $PAIRS pairs × $MESSAGES messages, ~$PAYLOAD B payload, window $WINDOW, per-message acks"
echo "Data directories: $work ($FSTYPE)"
[ "$FSTYPE" != tmpfs ] || echo "warning: $work is on tmpfs, where fsync costs nothing; set TMPDIR to a directory on a real disk" >&2
echo

$LOADTEST fsync --dir "$DAAKIA_DIR" --seconds 3 | tee "$work/fsync.txt"
# Warm-up of each broker with the same workload, not counted: a long-running server is measured in its steady
# state (.NET's tiered JIT and PGO settle within the first few hundred thousand requests; RabbitMQ's queues and
# page cache warm too). WARMUP_ROUNDS rounds each (default 6): code run once per connection (the handshake, the
# session's set-up) reaches the JIT's second tier only after ~30 connections, i.e. after two rounds of 2×PAIRS
# connections at the small sizes; with one round, a profile of the measured run showed 15-45 % of Daakia's CPU in
# the JIT compiling it, and CPU per message still fell through the sixth round (docs/benchmarks.md, 2026-12-02 22:10).
WARMUP=${WARMUP:-$MESSAGES}
WARMUP_ROUNDS=${WARMUP_ROUNDS:-6}
for _ in $(seq "$WARMUP_ROUNDS"); do
  $LOADTEST ws-direct --url "$DAAKIA_WS" --pairs "$PAIRS" --messages "$WARMUP" --payload "$PAYLOAD" --window "$WINDOW" >/dev/null
  $LOADTEST texto-direct --url "$DAAKIA_TEXTO" --pairs "$PAIRS" --messages "$WARMUP" --payload "$PAYLOAD" --window "$WINDOW" >/dev/null
  $LOADTEST rabbit-direct --amqp "$RABBIT_AMQP" --pairs "$PAIRS" --messages "$WARMUP" --payload "$PAYLOAD" --window "$WINDOW" >/dev/null
done
$LOADTEST ws-direct --url "$DAAKIA_WS" --pairs "$PAIRS" --messages "$MESSAGES" --payload "$PAYLOAD" --window "$WINDOW" --pid "$DAAKIA_PID" | tee "$work/daakia.txt"
$LOADTEST texto-direct --url "$DAAKIA_TEXTO" --pairs "$PAIRS" --messages "$MESSAGES" --payload "$PAYLOAD" --window "$WINDOW" --pid "$DAAKIA_PID" | tee "$work/texto.txt"
$LOADTEST rabbit-direct --amqp "$RABBIT_AMQP" --pairs "$PAIRS" --messages "$MESSAGES" --payload "$PAYLOAD" --window "$WINDOW" ${RABBIT_PID:+--pid "$RABBIT_PID"} | tee "$work/rabbit.txt"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
$LOADTEST ws-idle --url "$DAAKIA_WS" --connections "$IDLE" --pid "$DAAKIA_PID" | tee "$work/idle.txt"

row() { # label field format
  local d t r
  d=$(field "$work/daakia.txt" "$2"); t=$(field "$work/texto.txt" "$2"); r=$(field "$work/rabbit.txt" "$2")
  awk -v l="$1" -v f="$3" -v d="$d" -v t="$t" -v r="$r" \
    'BEGIN{printf "| %s | " f " | " f " | " f " | %.2f× | %.2f× |\n", l, d, t, r, d/r, t/r}'
}
fsync=$(field "$work/fsync.txt" fsync_per_sec); idle=$(field "$work/idle.txt" kib_per_conn)
d_rate=$(field "$work/daakia.txt" msgs_per_sec); t_rate=$(field "$work/texto.txt" msgs_per_sec)

echo
echo "| metric | Daakia ws-direct | Daakia texto | RabbitMQ | ws-direct ÷ RabbitMQ | texto ÷ RabbitMQ |"
echo "|---|---|---|---|---|---|"
row "durable direct msg/s" msgs_per_sec "%d"
row "send→receive p50 ms" p50_ms "%.2f"
row "send→receive p99 ms" p99_ms "%.2f"
row "server CPU µs/msg" cpu_us_per_msg "%.1f"
awk -v d="$d_rate" -v t="$t_rate" -v f="$fsync" 'BEGIN{printf "| disk fsync/s | %d | | | ws-direct = %.1f× the fsync rate | texto = %.1f× |\n", f, d/f, t/f}'
echo "| RSS per idle WebSocket connection | ${idle} KiB | | | | |"
