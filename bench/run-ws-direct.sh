#!/usr/bin/env bash
# Side-by-side, one machine, one run: durable direct messaging on Daakia (WebSocket JSON API and texto, fsync
# durability) against RabbitMQ (durable queue per receiver, persistent messages, publisher confirms, manual acks),
# plus the disk's raw fsync rate and Daakia's memory per idle WebSocket connection. Fails when any run loses,
# duplicates or reorders a message.
#
#   bench/run-ws-direct.sh                  # defaults: PAIRS=16 MESSAGES=10000 PAYLOAD=256 WINDOW=64 IDLE=10000
#   PAIRS=32 MESSAGES=5000 bench/run-ws-direct.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=${PAIRS:-16}
MESSAGES=${MESSAGES:-10000}
PAYLOAD=${PAYLOAD:-256}
WINDOW=${WINDOW:-64}
IDLE=${IDLE:-10000}
DURABILITY=${DURABILITY:-fsync}

work=$(mktemp -d /tmp/daakia-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${RABBITMQ_NODENAME:-}" ] && rabbitmqctl -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${ERL_EPMD_PORT:-}" ] && epmd -kill >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (echo > /dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
}

wait_port() { # port seconds
  local deadline=$((SECONDS + $2))
  until (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "port $1 did not open in $2 s" >&2; return 1; }
    sleep 0.2
  done
}

if ! command -v rabbitmq-server >/dev/null; then
  echo "Installing rabbitmq-server (Debian)…"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server
fi
# A packaged service may have started on the default ports; the bench uses a private node instead.
service rabbitmq-server stop >/dev/null 2>&1 || true

echo "Building…"
dotnet build -c Release -nologo -v quiet src/Daakia.Host >/dev/null
dotnet build -c Release -nologo -v quiet bench/Daakia.LoadTest >/dev/null
LOADTEST="dotnet bench/Daakia.LoadTest/bin/Release/net10.0/Daakia.LoadTest.dll"

# --- RabbitMQ: a private node on free ports ---
export HOME="$work/rabbit-home"; mkdir -p "$HOME"
export RABBITMQ_NODENAME="daakiabench$$@localhost"
export RABBITMQ_NODE_PORT=$(free_port)
export RABBITMQ_DIST_PORT=$(free_port)
export ERL_EPMD_PORT=$(free_port)
export RABBITMQ_MNESIA_BASE="$work/rabbit/mnesia"
export RABBITMQ_LOG_BASE="$work/rabbit/log"
export RABBITMQ_CONFIG_FILE="$work/rabbit/rabbitmq.conf"
export RABBITMQ_ENABLED_PLUGINS_FILE="$work/rabbit/enabled_plugins"
export ERL_CRASH_DUMP="$work/rabbit/erl_crash.dump"
mkdir -p "$work/rabbit"
echo "[]." > "$RABBITMQ_ENABLED_PLUGINS_FILE"
printf 'listeners.tcp.default = 127.0.0.1:%s\nloopback_users = none\n' "$RABBITMQ_NODE_PORT" > "$RABBITMQ_CONFIG_FILE"
# Debian's wrapper drops root to the rabbitmq user: it must own the node's directories.
chmod 755 "$work"
id rabbitmq >/dev/null 2>&1 && chown -R rabbitmq:rabbitmq "$work/rabbit" "$HOME"
rabbitmq-server > "$work/rabbit.out" 2>&1 &
pids+=($!)
wait_port "$RABBITMQ_NODE_PORT" 120
RABBIT_PID=$(ss -ltnp 2>/dev/null | grep ":$RABBITMQ_NODE_PORT " | grep -o "pid=[0-9]*" | head -n1 | cut -d= -f2 || true)
[ -n "$RABBIT_PID" ] || echo "warning: RabbitMQ pid not found; its CPU will read 0" >&2
RABBIT_VERSION=$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo unknown)

# --- Daakia: the embedded default on a free port ---
dotnet src/Daakia.Host/bin/Release/net10.0/daakia.dll serve --http-port 0 --data-dir "$work/daakia" --durability "$DURABILITY" > "$work/daakia.out" 2>&1 &
DAAKIA_PID=$!
pids+=($DAAKIA_PID)
deadline=$((SECONDS + 60))
until grep -q "Daakia listening" "$work/daakia.out"; do
  [ $SECONDS -lt $deadline ] || { cat "$work/daakia.out"; exit 1; }
  sleep 0.2
done
DAAKIA_HTTP=$(grep -o 'http=http://[^ ,]*' "$work/daakia.out" | head -n1 | cut -d= -f2)
DAAKIA_WS="ws://${DAAKIA_HTTP#http://}/v1/ws"
DAAKIA_TEXTO="ws://${DAAKIA_HTTP#http://}/v1/texto"
FSTYPE=$(findmnt -n -o FSTYPE -T "$work/daakia" 2>/dev/null || stat -f -c %T "$work/daakia")

echo
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; Daakia durability: $DURABILITY; RabbitMQ $RABBIT_VERSION"
echo "Workload: $PAIRS pairs × $MESSAGES messages, ~$PAYLOAD B payload, window $WINDOW, per-message acks"
echo "Data directories: $work ($FSTYPE)"
[ "$FSTYPE" != tmpfs ] || echo "warning: $work is on tmpfs, where fsync costs nothing; set TMPDIR to a directory on a real disk" >&2
echo

$LOADTEST fsync --dir "$work/daakia" --seconds 3 | tee "$work/fsync.txt"
# Warm-up of each broker with the same workload, not counted: a long-running server is measured in its steady
# state (.NET's tiered JIT and PGO settle within the first few hundred thousand requests; RabbitMQ's queues and
# page cache warm too).
WARMUP=${WARMUP:-$MESSAGES}
$LOADTEST ws-direct --url "$DAAKIA_WS" --pairs "$PAIRS" --messages "$WARMUP" --payload "$PAYLOAD" --window "$WINDOW" >/dev/null
$LOADTEST texto-direct --url "$DAAKIA_TEXTO" --pairs "$PAIRS" --messages "$WARMUP" --payload "$PAYLOAD" --window "$WINDOW" >/dev/null
$LOADTEST rabbit-direct --amqp "amqp://guest:guest@127.0.0.1:$RABBITMQ_NODE_PORT/" --pairs "$PAIRS" --messages "$WARMUP" --payload "$PAYLOAD" --window "$WINDOW" >/dev/null
$LOADTEST ws-direct --url "$DAAKIA_WS" --pairs "$PAIRS" --messages "$MESSAGES" --payload "$PAYLOAD" --window "$WINDOW" --pid "$DAAKIA_PID" | tee "$work/daakia.txt"
$LOADTEST texto-direct --url "$DAAKIA_TEXTO" --pairs "$PAIRS" --messages "$MESSAGES" --payload "$PAYLOAD" --window "$WINDOW" --pid "$DAAKIA_PID" | tee "$work/texto.txt"
$LOADTEST rabbit-direct --amqp "amqp://guest:guest@127.0.0.1:$RABBITMQ_NODE_PORT/" --pairs "$PAIRS" --messages "$MESSAGES" --payload "$PAYLOAD" --window "$WINDOW" ${RABBIT_PID:+--pid "$RABBIT_PID"} | tee "$work/rabbit.txt"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
$LOADTEST ws-idle --url "$DAAKIA_WS" --connections "$IDLE" --pid "$DAAKIA_PID" | tee "$work/idle.txt"

field() { grep '^RESULT ' "$1" | sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p"; }
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
