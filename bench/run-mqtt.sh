#!/usr/bin/env bash
# MQTT beside Debian's mosquitto and MQTTnet.Server 5.2 (the library we chose not to build on, in a minimal console
# host: bench/MqttNetBroker), in one run on one machine: idle connections, fan-in (PUBLISHERS publishers → one
# subscriber) and fan-out (one publisher → SUBSCRIBERS subscribers) at QoS 0 and 1, each with MQTTnet clients and with
# bare socket clients (--client raw), and the QoS 1 round trip, MQTT 5.0,
# the same load-generator run against each broker after WARMUP_ROUNDS uncounted rounds. Prints tables with each
# broker's figures and Daakia ÷ each, and exits non-zero on any duplicate, reordering, failed publish or (QoS 1) lost
# message.
#
#   bench/run-mqtt.sh
#   PUBLISHERS=16 MESSAGES=20000 WINDOW=64 bench/run-mqtt.sh
#   SOCKET_BUFFER=262144 bench/run-mqtt.sh    # the clients' socket buffers (MQTTnet's default is 8192)
#   PACE_BYTES=0 bench/run-mqtt.sh            # Daakia without publisher pacing (Daakia:Mqtt:PaceBytes, default 262144)
#
# mosquitto runs on a private port with a minimal config in the work directory (no persistence: these are clean
# sessions; max_queued_messages raised so that it queues rather than drops what a busy subscriber has not taken yet,
# and Daakia gets the same bound: Daakia:Mqtt:OutboxCapacity 1,000,000 packets; MQTTnet.Server the same as its
# MaxPendingMessagesPerClient). Persistent sessions: bench/run-mqtt-sessions.sh.
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
PACE_BYTES=${PACE_BYTES:-262144}
RAW_MESSAGES=${RAW_MESSAGES:-50000}          # per publisher, fan-in with bare socket clients (they are quicker: longer runs)
RAW_FANOUT_MESSAGES=${RAW_FANOUT_MESSAGES:-10000}

. bench/lib.sh
build_all
dotnet build -c Release -nologo -v quiet bench/MqttNetBroker >/dev/null
start_mosquitto "persistence false" "max_queued_messages 1000000" "max_inflight_messages 64"

echo
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mosquitto: $(mosquitto -h 2>/dev/null | head -n1)"
echo

MQTTNET_PORT=$(free_port)
dotnet bench/MqttNetBroker/bin/Release/net10.0/MqttNetBroker.dll "$MQTTNET_PORT" 1000000 > "$work/mqttnet.out" 2>&1 &
MQTTNET_PID=$!
pids+=("$MQTTNET_PID")
wait_port "$MQTTNET_PORT" 60

# The same queue bound on all: a subscriber's outbox of up to 1,000,000 packets (mosquitto's max_queued_messages above).
start_daakia mqtt os DAAKIA_Mqtt__OutboxCapacity=1000000 DAAKIA_Mqtt__OutboxBytes=1073741824 DAAKIA_Mqtt__PaceBytes="$PACE_BYTES"
echo "Daakia MQTT on $DAAKIA_MQTT, mosquitto on 127.0.0.1:$MOSQUITTO_PORT, MQTTnet.Server on 127.0.0.1:$MQTTNET_PORT"

# The brokers as "endpoint:pid:name", Daakia first.
brokers=("$DAAKIA_MQTT:$DAAKIA_PID:daakia" "127.0.0.1:$MOSQUITTO_PORT:$MOSQUITTO_PID:mosquitto" "127.0.0.1:$MQTTNET_PORT:$MQTTNET_PID:mqttnet")

# Idle connections first, on fresh brokers (after the fan-in, freed queue memory would hide what connections take):
# connection rate and RSS per idle connection; they close before the fan-in.
# One uncounted round of 1,000 first, so that JIT and pools are not counted as connection memory.
for b in "${brokers[@]}"; do
  IFS=: read -r h p pid name <<< "$b"
  $LOADTEST mqtt-idle --mqtt "$h:$p" --pid "$pid" --connections 1000 >/dev/null
  $LOADTEST mqtt-idle --mqtt "$h:$p" --pid "$pid" --connections "$IDLE" | tee "$work/$name-idle.txt"
done

# Fan-in with MQTTnet clients, then with bare socket clients (--client raw: packets written by hand, several per send),
# which leave more of the two cores to the broker, so that its own cost decides more of the rate.
for client in mqttnet raw; do
  suffix=$([ "$client" = raw ] && echo "-raw" || true)
  for qos in 0 1; do
    for b in "${brokers[@]}"; do
      IFS=: read -r h p pid name <<< "$b"
      count=$([ "$client" = raw ] && echo "$RAW_MESSAGES" || echo "$MESSAGES")
      fanin=(mqtt-fanin --client "$client" --mqtt "$h:$p" --qos "$qos" --publishers "$PUBLISHERS" --messages "$count" --window "$WINDOW" --payload "$PAYLOAD" --socket-buffer "$SOCKET_BUFFER")
      for _ in $(seq "$WARMUP_ROUNDS"); do $LOADTEST "${fanin[@]}" >/dev/null; done
      $LOADTEST "${fanin[@]}" --pid "$pid" | tee "$work/$name$suffix-q$qos.txt"
    done
  done
done

# Fan-out: one publisher → SUBSCRIBERS subscribers, QoS 0 and 1, one uncounted round each first.
for client in mqttnet raw; do
  suffix=$([ "$client" = raw ] && echo "-raw" || true)
  count=$([ "$client" = raw ] && echo "$RAW_FANOUT_MESSAGES" || echo "$FANOUT_MESSAGES")
  for qos in 0 1; do
    for b in "${brokers[@]}"; do
      IFS=: read -r h p pid name <<< "$b"
      fanout=(mqtt-fanout --client "$client" --mqtt "$h:$p" --qos "$qos" --subscribers "$SUBSCRIBERS" --messages "$count" --window "$WINDOW" --payload "$PAYLOAD" --socket-buffer "$SOCKET_BUFFER")
      $LOADTEST "${fanout[@]}" >/dev/null
      $LOADTEST "${fanout[@]}" --pid "$pid" | tee "$work/$name-out$suffix-q$qos.txt"
    done
  done
done

# QoS 1 latency unloaded: one publisher waiting for each PUBACK (window 1) → one subscriber, 5,000 messages.
for b in "${brokers[@]}"; do
  IFS=: read -r h p pid name <<< "$b"
  rtt=(mqtt-fanout --mqtt "$h:$p" --qos 1 --subscribers 1 --messages 5000 --window 1 --payload "$PAYLOAD" --socket-buffer "$SOCKET_BUFFER")
  $LOADTEST "${rtt[@]}" >/dev/null
  $LOADTEST "${rtt[@]}" --pid "$pid" | tee "$work/$name-rtt.txt"
done

# row LABEL FILE-SUFFIX FIELD [QOS]: one table row, Daakia beside mosquitto and MQTTnet.Server and its ratio to each.
row() {
  local d n m
  d=$(field "$work/daakia$2.txt" "$3"); n=$(field "$work/mosquitto$2.txt" "$3"); m=$(field "$work/mqttnet$2.txt" "$3")
  awk -v q="${4:-}" -v l="$1" -v d="$d" -v n="$n" -v m="$m" 'BEGIN{printf "|%s %s | %s | %s | %s | %s | %s |\n", (q==""?"":" " q " |"), l, d, n, m, (n>0?sprintf("%.2f×", d/n):"–"), (m>0?sprintf("%.2f×", d/m):"–")}'
}

# table TITLE SUFFIX QOS-LIST METRIC…: a table of METRIC ("label:field") per QoS (files NAME-SUFFIX-qQOS.txt, or
# NAME-SUFFIX.txt when QOS-LIST is "-"; SUFFIX may be empty).
table() {
  local title=$1 suffix=$2 qoses=$3
  shift 3
  echo
  echo "$title"
  echo
  if [ "$qoses" = "-" ]; then
    echo "| metric | Daakia | mosquitto | MQTTnet.Server | Daakia ÷ mosquitto | Daakia ÷ MQTTnet |"; echo "|---|---|---|---|---|---|"
    for m in "$@"; do row "${m%%:*}" "$suffix" "${m#*:}"; done
  else
    echo "| QoS | metric | Daakia | mosquitto | MQTTnet.Server | Daakia ÷ mosquitto | Daakia ÷ MQTTnet |"; echo "|---|---|---|---|---|---|---|"
    for qos in $qoses; do
      for m in "$@"; do row "${m%%:*}" "$suffix-q$qos" "${m#*:}" "$qos"; done
    done
  fi
}

table "fan-in: $PUBLISHERS publishers × $MESSAGES messages, ~$PAYLOAD B, window $WINDOW, MQTT 5.0, client socket buffers $SOCKET_BUFFER B" \
  "" "0 1" \
  "msg/s:msgs_per_sec" "publish→receive p50 ms:p50_ms" "publish→receive p99 ms:p99_ms" "server CPU µs/msg:cpu_us_per_msg" "lost (QoS 0):lost_qos0"
table "fan-in, bare socket clients (--client raw): $PUBLISHERS publishers × $RAW_MESSAGES messages, ~$PAYLOAD B, window $WINDOW, MQTT 5.0, socket buffers $SOCKET_BUFFER B" \
  "-raw" "0 1" \
  "msg/s:msgs_per_sec" "publish→receive p50 ms:p50_ms" "publish→receive p99 ms:p99_ms" "server CPU µs/msg:cpu_us_per_msg" "lost (QoS 0):lost_qos0"
table "idle: $IDLE MQTT 3.1.1 connections" "-idle" - \
  "connections/s:connects_per_sec" "RSS KiB per idle connection:kib_per_conn"
table "fan-out: 1 publisher × $FANOUT_MESSAGES messages → $SUBSCRIBERS subscribers" "-out" "0 1" \
  "deliveries/s:msgs_per_sec" "publish→receive p50 ms:p50_ms" "publish→receive p99 ms:p99_ms" "server CPU µs/delivery:cpu_us_per_msg" "lost (QoS 0):lost_qos0"
table "fan-out, bare socket clients (--client raw): 1 publisher × $RAW_FANOUT_MESSAGES messages → $SUBSCRIBERS subscribers" "-out-raw" "0 1" \
  "deliveries/s:msgs_per_sec" "publish→receive p50 ms:p50_ms" "publish→receive p99 ms:p99_ms" "server CPU µs/delivery:cpu_us_per_msg" "lost (QoS 0):lost_qos0"
table "QoS 1 latency: one publisher, each PUBLISH after the last one's PUBACK → one subscriber, 5,000 messages" "-rtt" - \
  "publish→receive p50 ms:p50_ms" "publish→receive p99 ms:p99_ms" "msg/s:msgs_per_sec"
