#!/usr/bin/env bash
# Persistent sessions beside Debian's mosquitto, in one run: SESSIONS offline MQTT 5.0 sessions (clean start 0,
# session expiry 1 h) subscribed at QoS 1 to one topic, one publisher sending MESSAGES QoS 1 messages (window WINDOW)
# while they are away, then every session back to drain its queue (the mqtt-sessions load scenario). Prints each
# broker's figures and Daakia ÷ mosquitto, and exits non-zero on any loss, duplicate or reordering.
#
#   bench/run-mqtt-sessions.sh
#   SESSIONS=1000 MESSAGES=200 WARMUP_ROUNDS=1 bench/run-mqtt-sessions.sh
#
# mosquitto runs with persistence on (its queues are in memory and written to mosquitto.db every autosave_interval,
# its default 1800 s: a crash loses what came since), max_queued_messages raised to hold every message. Daakia runs
# on each store of STORAGES (default "sqlite journal") at durability `os` (each commit written, not fsynced: the
# closest to mosquitto) and `fsync` (its default: each PUBACK after an fsync).
set -euo pipefail
cd "$(dirname "$0")/.."

SESSIONS=${SESSIONS:-1000}
MESSAGES=${MESSAGES:-300}
WINDOW=${WINDOW:-64}
PAYLOAD=${PAYLOAD:-256}
STORAGES=${STORAGES:-"sqlite journal"}
WARMUP_ROUNDS=${WARMUP_ROUNDS:-2}

. bench/lib.sh
build_all
mkdir -p "$work/mosquitto-data"
start_mosquitto "persistence true" "persistence_location $work/mosquitto-data/" "max_queued_messages $((MESSAGES * 2))" "max_inflight_messages 64"

echo
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mosquitto: $(mosquitto -h 2>/dev/null | head -n1); data on $(fstype "$work")"
echo

scenario=(mqtt-sessions --sessions "$SESSIONS" --messages "$MESSAGES" --window "$WINDOW" --payload "$PAYLOAD")
status=0
configs=()
first=1
for storage in $STORAGES; do
  for durability in os fsync; do
    c="$storage-$durability"; configs+=("$c")
    start_daakia "daakia-$c" "$durability" DAAKIA_Storage="$storage" DAAKIA_Core__MaxSessionQueuedMessages=$((MESSAGES * 2))
    # WARMUP_ROUNDS uncounted rounds of the same size first (the JIT's tiers reach the per-copy loops only after a few
    # hundred thousand copies), on Daakia and once on mosquitto (which has nothing to warm: the same for fairness).
    for _ in $(seq "$WARMUP_ROUNDS"); do
      $LOADTEST "${scenario[@]}" --mqtt "$DAAKIA_MQTT" >/dev/null || status=1
      if [ "$first" = 1 ]; then
        $LOADTEST "${scenario[@]}" --mqtt "127.0.0.1:$MOSQUITTO_PORT" >/dev/null || status=1
      fi
    done
    first=0
    $LOADTEST "${scenario[@]}" --mqtt "$DAAKIA_MQTT" --pid "$DAAKIA_PID" | tee "$work/daakia-$c.txt" || status=1
    stop_pid "$DAAKIA_PID"
  done
done
$LOADTEST "${scenario[@]}" --mqtt "127.0.0.1:$MOSQUITTO_PORT" --pid "$MOSQUITTO_PID" | tee "$work/mosquitto.txt" || status=1

echo
echo "$SESSIONS offline sessions × $MESSAGES QoS 1 messages of ~$PAYLOAD B (window $WINDOW), MQTT 5.0"
echo
header="| metric |"; rule="|---|"
for c in "${configs[@]}"; do header+=" Daakia $c |"; rule+="---|"; done
header+=" mosquitto (persistence on) |"; rule+="---|"
for c in "${configs[@]}"; do header+=" $c ÷ mosquitto |"; rule+="---|"; done
echo "$header"; echo "$rule"
for m in "publish msg/s (each PUBACK = $SESSIONS copies kept):publish_msgs_per_sec" "copies queued/s:queued_copies_per_sec" \
         "copies drained/s on reconnect:drain_copies_per_sec" "server CPU µs per queued copy:cpu_us_per_queued_copy" \
         "server CPU µs per drained copy:cpu_us_per_drained_copy" "RSS growth B per queued copy:rss_bytes_per_queued_copy" \
         "bytes written to disk per message (/proc/PID/io):write_bytes_per_msg"; do
  label=${m%%:*}; key=${m#*:}
  n=$(field "$work/mosquitto.txt" "$key")
  row="| $label |"; ratios=""
  for c in "${configs[@]}"; do
    d=$(field "$work/daakia-$c.txt" "$key")
    row+=" $d |"
    ratios+=$(awk -v d="$d" -v n="$n" 'BEGIN{printf " %s |", (n>0?sprintf("%.2f×", d/n):"–")}')
  done
  echo "$row $n |$ratios"
done
exit $status
