#!/usr/bin/env bash
# What the edge check of request frames costs (UTF-8 and lone-surrogate escapes, src/Daakia.Server/WebSockets/FrameText.cs):
# the same server built twice — as shipped, and with the check compiled out (DAAKIA_NO_EDGE_CHECK, a build for this
# script only) — runs the ws-direct and texto-direct loads in alternating rounds, each round on a fresh server and data
# directory with a warm-up first. Reports server CPU per message and msg/s of each build and the ratio. Fails when any run
# loses, duplicates or reorders a message.
#
#   bench/run-edge-cost.sh                    # defaults: ROUNDS=3 PAIRS=8 MESSAGES=5000 PAYLOAD=256 WINDOW=32
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
PAIRS=${PAIRS:-8}
MESSAGES=${MESSAGES:-5000}
PAYLOAD=${PAYLOAD:-256}
WINDOW=${WINDOW:-32}
DURABILITY=${DURABILITY:-fsync}

. bench/lib.sh
build_all
echo "Building the server without the edge check…"
dotnet build -c EdgeCheckOff -p:Optimize=true -p:DefineConstants=DAAKIA_NO_EDGE_CHECK -nologo -v quiet src/Daakia.Host >/dev/null
SHIPPED=src/Daakia.Host/bin/Release/net10.0/daakia.dll
NOCHECK=src/Daakia.Host/bin/EdgeCheckOff/net10.0/daakia.dll
echo "Workload: $PAIRS pairs × $MESSAGES messages, ~$PAYLOAD B payload, window $WINDOW, durability $DURABILITY; $ROUNDS rounds; load $(cut -d' ' -f1-3 /proc/loadavg)"

run_build() { # label dll round
  local label=$1 dll=$2 round=$3 dir="$work/$1-$3"
  : > "$dir.out"
  dotnet "$dll" serve --http-port 0 --data-dir "$dir" --durability "$DURABILITY" > "$dir.out" 2>&1 &
  local pid=$! deadline=$((SECONDS + 60))
  pids+=("$pid")
  until grep -q "Daakia listening" "$dir.out"; do
    [ $SECONDS -lt $deadline ] && kill -0 "$pid" 2>/dev/null || { cat "$dir.out"; exit 1; }
    sleep 0.2
  done
  local http ws texto
  http=$(grep -o 'http=http://[^ ,]*' "$dir.out" | head -n1 | cut -d= -f2)
  ws="ws://${http#http://}/v1/ws"; texto="ws://${http#http://}/v1/texto"
  $LOADTEST ws-direct --url "$ws" --pairs "$PAIRS" --messages "$MESSAGES" --payload "$PAYLOAD" --window "$WINDOW" >/dev/null
  $LOADTEST texto-direct --url "$texto" --pairs "$PAIRS" --messages "$MESSAGES" --payload "$PAYLOAD" --window "$WINDOW" >/dev/null
  $LOADTEST ws-direct --url "$ws" --pairs "$PAIRS" --messages "$MESSAGES" --payload "$PAYLOAD" --window "$WINDOW" --pid "$pid" > "$work/$label-ws-$round.txt"
  $LOADTEST texto-direct --url "$texto" --pairs "$PAIRS" --messages "$MESSAGES" --payload "$PAYLOAD" --window "$WINDOW" --pid "$pid" > "$work/$label-texto-$round.txt"
  stop_pid "$pid"
  printf '%s round %s: ws %s µs/msg %s msg/s; texto %s µs/msg %s msg/s\n' "$label" "$round" \
    "$(field "$work/$label-ws-$round.txt" cpu_us_per_msg)" "$(field "$work/$label-ws-$round.txt" msgs_per_sec)" \
    "$(field "$work/$label-texto-$round.txt" cpu_us_per_msg)" "$(field "$work/$label-texto-$round.txt" msgs_per_sec)"
}

for round in $(seq 1 "$ROUNDS"); do
  run_build shipped "$SHIPPED" "$round"
  run_build nocheck "$NOCHECK" "$round"
done

mean() { # label wire field
  for f in "$work/$1-$2-"*.txt; do field "$f" "$3"; done | awk '{s+=$1; n++} END {printf "%.1f", s/n}'
}
echo
echo "| wire | CPU µs/msg, shipped | CPU µs/msg, check compiled out | shipped ÷ without | msg/s, shipped | msg/s, without |"
echo "|---|---|---|---|---|---|"
for wire in ws texto; do
  a=$(mean shipped $wire cpu_us_per_msg); b=$(mean nocheck $wire cpu_us_per_msg)
  ra=$(mean shipped $wire msgs_per_sec); rb=$(mean nocheck $wire msgs_per_sec)
  awk -v w="$wire" -v a="$a" -v b="$b" -v ra="$ra" -v rb="$rb" 'BEGIN{printf "| %s | %.1f | %.1f | %.3f | %.0f | %.0f |\n", w, a, b, a/b, ra, rb}'
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
