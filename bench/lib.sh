# Shared by bench/run-ws-direct.sh and bench/run-scenarios.sh (sourced, not run). Every server the scripts start is a
# private process on free loopback ports with its data under one work directory ($work, under $TMPDIR or /tmp: put it
# on a real disk, not tmpfs), stopped by its pid on exit.

work=$(mktemp -d "${TMPDIR:-/tmp}/daakia-bench.XXXXXX")
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

fstype() { findmnt -n -o FSTYPE -T "$1" 2>/dev/null || stat -f -c %T "$1"; }

command -v jq >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null
# A field of the RESULT line in a load generator's output file (a jq path: `msgs_per_sec`, `errors.EDQUOT`).
field() { grep '^RESULT ' "$1" | head -n1 | cut -c8- | jq -r ".$2 // empty"; }

# Stops one process this script started, by its pid, and forgets it.
stop_pid() {
  local p=$1 kept=()
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  for q in "${pids[@]}"; do [ "$q" = "$p" ] || kept+=("$q"); done
  pids=("${kept[@]}")
}

build_all() {
  echo "Building…"
  dotnet build -c Release -nologo -v quiet src/Daakia.Host >/dev/null
  dotnet build -c Release -nologo -v quiet bench/Daakia.LoadTest >/dev/null
  LOADTEST="dotnet bench/Daakia.LoadTest/bin/Release/net10.0/Daakia.LoadTest.dll"
}

# start_daakia NAME DURABILITY [VAR=VALUE …]: a Daakia server with its own data directory $work/NAME and the given
# DAAKIA_ configuration. Sets DAAKIA_PID, DAAKIA_DIR, DAAKIA_HTTP, DAAKIA_WS, DAAKIA_TEXTO.
start_daakia() {
  local name=$1 durability=$2
  shift 2
  DAAKIA_DIR="$work/$name"
  env "$@" dotnet src/Daakia.Host/bin/Release/net10.0/daakia.dll serve --http-port 0 --mqtt-port 0 --data-dir "$DAAKIA_DIR" --durability "$durability" > "$work/$name.out" 2>&1 &
  DAAKIA_PID=$!
  pids+=("$DAAKIA_PID")
  local deadline=$((SECONDS + 60))
  until grep -q "Daakia listening" "$work/$name.out"; do
    [ $SECONDS -lt $deadline ] && kill -0 "$DAAKIA_PID" 2>/dev/null || { cat "$work/$name.out"; exit 1; }
    sleep 0.2
  done
  DAAKIA_HTTP=$(grep -o 'http=http://[^ ,]*' "$work/$name.out" | head -n1 | cut -d= -f2)
  DAAKIA_MQTT=$(grep -o 'mqtt=mqtt://[^ ,]*' "$work/$name.out" | head -n1 | cut -d/ -f3)
  DAAKIA_WS="ws://${DAAKIA_HTTP#http://}/v1/ws"
  DAAKIA_TEXTO="ws://${DAAKIA_HTTP#http://}/v1/texto"
}

# start_rabbit [NAME [extra rabbitmq.conf line …]]: a private RabbitMQ node (Debian's rabbitmq-server, installed if
# missing) with its files in $work/NAME (default rabbit). Sets RABBITMQ_NODE_PORT, RABBIT_PID (the Erlang VM),
# RABBIT_WRAPPER_PID, RABBIT_VERSION, RABBIT_DIR (its data directory), RABBIT_AMQP. One node at a time: stop_rabbit first.
start_rabbit() {
  local name=${1:-rabbit}
  [ $# -eq 0 ] || shift
  if ! command -v rabbitmq-server >/dev/null; then
    echo "Installing rabbitmq-server (Debian)…"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server
  fi
  # A packaged service may have started on the default ports; the bench uses a private node instead.
  service rabbitmq-server stop >/dev/null 2>&1 || true
  export HOME="$work/rabbit-home"; mkdir -p "$HOME"
  export RABBITMQ_NODENAME="daakiabench$$@localhost"
  export RABBITMQ_NODE_PORT; RABBITMQ_NODE_PORT=$(free_port)
  export RABBITMQ_DIST_PORT; RABBITMQ_DIST_PORT=$(free_port)
  # One epmd for every node of the run (the cleanup stops the one on this port).
  export ERL_EPMD_PORT; ERL_EPMD_PORT=${ERL_EPMD_PORT:-$(free_port)}
  export RABBITMQ_MNESIA_BASE="$work/$name/mnesia"
  export RABBITMQ_LOG_BASE="$work/$name/log"
  export RABBITMQ_CONFIG_FILE="$work/$name/rabbitmq.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$work/$name/enabled_plugins"
  export ERL_CRASH_DUMP="$work/$name/erl_crash.dump"
  mkdir -p "$work/$name" "$RABBITMQ_MNESIA_BASE"
  echo "[]." > "$RABBITMQ_ENABLED_PLUGINS_FILE"
  printf 'listeners.tcp.default = 127.0.0.1:%s\nloopback_users = none\n' "$RABBITMQ_NODE_PORT" > "$RABBITMQ_CONFIG_FILE"
  for line in "$@"; do echo "$line" >> "$RABBITMQ_CONFIG_FILE"; done
  # Debian's wrapper drops root to the rabbitmq user: it must own the node's directories.
  chmod 755 "$work"
  id rabbitmq >/dev/null 2>&1 && chown -R rabbitmq:rabbitmq "$work/$name" "$HOME"
  rabbitmq-server > "$work/$name.out" 2>&1 &
  RABBIT_WRAPPER_PID=$!
  pids+=("$RABBIT_WRAPPER_PID")
  wait_port "$RABBITMQ_NODE_PORT" 120
  RABBIT_PID=$(ss -ltnp 2>/dev/null | grep ":$RABBITMQ_NODE_PORT " | grep -o "pid=[0-9]*" | head -n1 | cut -d= -f2 || true)
  [ -n "$RABBIT_PID" ] || echo "warning: RabbitMQ pid not found; its CPU and disk writes will read 0" >&2
  RABBIT_VERSION=$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo unknown)
  RABBIT_DIR="$RABBITMQ_MNESIA_BASE"
  RABBIT_AMQP="amqp://guest:guest@127.0.0.1:$RABBITMQ_NODE_PORT/"
}

# Stops the node start_rabbit started (its own way, then its wrapper process).
stop_rabbit() {
  rabbitmqctl -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1 || true
  stop_pid "$RABBIT_WRAPPER_PID"
}

# start_nats: a private nats-server (Debian's, installed if missing) with JetStream on, file storage in $work/nats.
# Sets NATS_PID, NATS_URL, NATS_VERSION, NATS_DIR.
start_nats() {
  if ! command -v nats-server >/dev/null; then
    echo "Installing nats-server (Debian)…"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server
  fi
  local port
  port=$(free_port)
  NATS_DIR="$work/nats"
  mkdir -p "$NATS_DIR"
  printf 'listen: 127.0.0.1:%s\njetstream {\n  store_dir: "%s"\n}\n' "$port" "$NATS_DIR" > "$work/nats.conf"
  nats-server -c "$work/nats.conf" > "$work/nats.out" 2>&1 &
  NATS_PID=$!
  pids+=("$NATS_PID")
  wait_port "$port" 30
  NATS_URL="nats://127.0.0.1:$port"
  NATS_VERSION=$(nats-server --version 2>/dev/null | sed 's/^nats-server: //')
}

# start_mosquitto [extra mosquitto.conf line …]: Debian's mosquitto (installed if missing; the system service stopped)
# on a private loopback port with a minimal config in $work plus the given lines. Sets MOSQUITTO_PORT, MOSQUITTO_PID.
start_mosquitto() {
  if ! command -v mosquitto >/dev/null; then
    echo "Installing mosquitto (Debian)…"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto
  fi
  service mosquitto stop >/dev/null 2>&1 || true
  MOSQUITTO_PORT=$(free_port)
  {
    echo "listener $MOSQUITTO_PORT 127.0.0.1"
    echo "allow_anonymous true"
    printf '%s\n' "$@"
  } > "$work/mosquitto.conf"
  mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.out" 2>&1 &
  MOSQUITTO_PID=$!
  pids+=("$MOSQUITTO_PID")
  wait_port "$MOSQUITTO_PORT" 30
}
