#!/usr/bin/env bash
# MQTT beside Debian's mosquitto, in one run on one machine: fan-in (PUBLISHERS publishers → one subscriber) at QoS 0
# and QoS 1, MQTT 5.0, the same load-generator run against each broker after WARMUP_ROUNDS uncounted rounds. Prints a
# table with each broker's figures and Daakia ÷ mosquitto, and exits non-zero on any duplicate, reordering, failed
# publish or (QoS 1) lost message.
#
#   bench/run-mqtt.sh
#   PUBLISHERS=16 MESSAGES=20000 WINDOW=64 bench/run-mqtt.sh
#   SOCKET_BUFFER=262144 bench/run-mqtt.sh    # the clients' socket buffers (MQTTnet's default is 8192)
#
# mosquitto runs on a private port with a minimal config in the work directory (no persistence: these are clean
# sessions; max_queued_messages raised so that it queues rather than drops what a busy subscriber has not taken yet,
# and Daakia gets the same bound: Daakia:Mqtt:OutboxCapacity 1,000,000 packets).
set -euo pipefail
cd "$(dirname "$0")/.."

PUBLISHERS=${PUBLISHERS:-8}
MESSAGES=${MESSAGES:-10000}
WINDOW=${WINDOW:-64}
PAYLOAD=${PAYLOAD:-256}
WARMUP_ROUNDS=${WARMUP_ROUNDS:-3}
SOCKET_BUFFER=${SOCKET_BUFFER:-8192}
IDLE=${IDLE:-10000}
SUBSCRIBERS=${SUBSCRIBERS:-100}
FANOUT_MESSAGES=${FANOUT_MESSAGES:-2000}

. bench/lib.sh
build_all
if ! command -v mosquitto >/dev/null; then
  echo "Installing mosquitto (Debian)…"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto
fi
service mosquitto stop >/dev/null 2>&1 || true

echo
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mosquitto: $(mosquitto -h 2>/dev/null | head -n1)"
echo

MOSQUITTO_PORT=$(free_port)
cat > "$work/mosquitto.conf" <<CONF
listener $MOSQUITTO_PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 1000000
max_inflight_messages 64
CONF
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.out" 2>&1 &
MOSQUITTO_PID=$!
pids+=("$MOSQUITTO_PID")
wait_port "$MOSQUITTO_PORT" 30

# The same queue bound on both: a subscriber's outbox of up to 1,000,000 packets (mosquitto's max_queued_messages above).
start_daakia mqtt os DAAKIA_Mqtt__OutboxCapacity=1000000 DAAKIA_Mqtt__OutboxBytes=1073741824
echo "Daakia MQTT on $DAAKIA_MQTT, mosquitto on 127.0.0.1:$MOSQUITTO_PORT"

run() { # broker endpoint pid qos label
  $LOADTEST mqtt-fanin --mqtt "$2" --pid "$3" --qos "$4" --publishers "$PUBLISHERS" --messages "$MESSAGES" --window "$WINDOW" --payload "$PAYLOAD" --socket-buffer "$SOCKET_BUFFER" | tee "$work/$5.txt"
}

# Idle connections first, on fresh brokers (after the fan-in, freed queue memory would hide what connections take):
# connection rate and RSS per idle connection; they close before the fan-in.
# One uncounted round of 1,000 first, so that Daakia's JIT and pools are not counted as connection memory.
$LOADTEST mqtt-idle --mqtt "$DAAKIA_MQTT" --pid "$DAAKIA_PID" --connections 1000 >/dev/null
$LOADTEST mqtt-idle --mqtt "127.0.0.1:$MOSQUITTO_PORT" --pid "$MOSQUITTO_PID" --connections 1000 >/dev/null
$LOADTEST mqtt-idle --mqtt "$DAAKIA_MQTT" --pid "$DAAKIA_PID" --connections "$IDLE" | tee "$work/daakia-idle.txt"
$LOADTEST mqtt-idle --mqtt "127.0.0.1:$MOSQUITTO_PORT" --pid "$MOSQUITTO_PID" --connections "$IDLE" | tee "$work/mosquitto-idle.txt"

for qos in 0 1; do
  for _ in $(seq "$WARMUP_ROUNDS"); do
    $LOADTEST mqtt-fanin --mqtt "$DAAKIA_MQTT" --qos "$qos" --publishers "$PUBLISHERS" --messages "$MESSAGES" --window "$WINDOW" --payload "$PAYLOAD" --socket-buffer "$SOCKET_BUFFER" >/dev/null
    $LOADTEST mqtt-fanin --mqtt "127.0.0.1:$MOSQUITTO_PORT" --qos "$qos" --publishers "$PUBLISHERS" --messages "$MESSAGES" --window "$WINDOW" --payload "$PAYLOAD" --socket-buffer "$SOCKET_BUFFER" >/dev/null
  done
  run daakia "$DAAKIA_MQTT" "$DAAKIA_PID" "$qos" "daakia-q$qos"
  run mosquitto "127.0.0.1:$MOSQUITTO_PORT" "$MOSQUITTO_PID" "$qos" "mosquitto-q$qos"
done


# Fan-out: one publisher → SUBSCRIBERS subscribers, QoS 0 and 1, one uncounted round each first.
for qos in 0 1; do
  for target in "$DAAKIA_MQTT:$DAAKIA_PID:daakia" "127.0.0.1:$MOSQUITTO_PORT:$MOSQUITTO_PID:mosquitto"; do
    IFS=: read -r h p pid name <<< "$target"
    fanout=(mqtt-fanout --mqtt "$h:$p" --pid "$pid" --qos "$qos" --subscribers "$SUBSCRIBERS" --messages "$FANOUT_MESSAGES" --window "$WINDOW" --payload "$PAYLOAD" --socket-buffer "$SOCKET_BUFFER")
    $LOADTEST "${fanout[@]}" >/dev/null
    $LOADTEST "${fanout[@]}" | tee "$work/$name-out-q$qos.txt"
  done
done

# QoS 1 latency unloaded: one publisher waiting for each PUBACK (window 1) → one subscriber, 5,000 messages.
for target in "$DAAKIA_MQTT:$DAAKIA_PID:daakia" "127.0.0.1:$MOSQUITTO_PORT:$MOSQUITTO_PID:mosquitto"; do
  IFS=: read -r h p pid name <<< "$target"
  rtt=(mqtt-fanout --mqtt "$h:$p" --pid "$pid" --qos 1 --subscribers 1 --messages 5000 --window 1 --payload "$PAYLOAD" --socket-buffer "$SOCKET_BUFFER")
  $LOADTEST "${rtt[@]}" >/dev/null
  $LOADTEST "${rtt[@]}" | tee "$work/$name-rtt.txt"
done

# row LABEL DAAKIA-FILE MOSQUITTO-FILE FIELD [QOS]: one table row, Daakia beside mosquitto and their ratio.
row() {
  local d n
  d=$(field "$2" "$4"); n=$(field "$3" "$4")
  awk -v q="${5:-}" -v l="$1" -v d="$d" -v n="$n" 'BEGIN{printf "|%s %s | %s | %s | %s |\n", (q==""?"":" " q " |"), l, d, n, (n>0?sprintf("%.2f×", d/n):"–")}'
}

# table TITLE PREFIX-DAAKIA PREFIX-MOSQUITTO QOS-LIST METRIC…: a table of METRIC ("label:field") per QoS (files PREFIX-qQOS.txt,
# or PREFIX.txt when QOS-LIST is "-").
table() {
  local title=$1 daakia=$2 mosquitto=$3 qoses=$4
  shift 4
  echo
  echo "$title"
  echo
  if [ "$qoses" = "-" ]; then
    echo "| metric | Daakia | mosquitto | Daakia ÷ mosquitto |"; echo "|---|---|---|---|"
    for m in "$@"; do row "${m%%:*}" "$daakia.txt" "$mosquitto.txt" "${m#*:}"; done
  else
    echo "| QoS | metric | Daakia | mosquitto | Daakia ÷ mosquitto |"; echo "|---|---|---|---|---|"
    for qos in $qoses; do
      for m in "$@"; do row "${m%%:*}" "$daakia-q$qos.txt" "$mosquitto-q$qos.txt" "${m#*:}" "$qos"; done
    done
  fi
}

table "fan-in: $PUBLISHERS publishers × $MESSAGES messages, ~$PAYLOAD B, window $WINDOW, MQTT 5.0, client socket buffers $SOCKET_BUFFER B" \
  "$work/daakia" "$work/mosquitto" "0 1" \
  "msg/s:msgs_per_sec" "publish→receive p50 ms:p50_ms" "publish→receive p99 ms:p99_ms" "server CPU µs/msg:cpu_us_per_msg" "lost (QoS 0):lost_qos0"
table "idle: $IDLE MQTT 3.1.1 connections" "$work/daakia-idle" "$work/mosquitto-idle" - \
  "connections/s:connects_per_sec" "RSS KiB per idle connection:kib_per_conn"
table "fan-out: 1 publisher × $FANOUT_MESSAGES messages → $SUBSCRIBERS subscribers" "$work/daakia-out" "$work/mosquitto-out" "0 1" \
  "deliveries/s:msgs_per_sec" "publish→receive p50 ms:p50_ms" "publish→receive p99 ms:p99_ms" "server CPU µs/delivery:cpu_us_per_msg" "lost (QoS 0):lost_qos0"
table "QoS 1 latency: one publisher, each PUBLISH after the last one's PUBACK → one subscriber, 5,000 messages" \
  "$work/daakia-rtt" "$work/mosquitto-rtt" - \
  "publish→receive p50 ms:p50_ms" "publish→receive p99 ms:p99_ms" "msg/s:msgs_per_sec"
