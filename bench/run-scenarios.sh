#!/usr/bin/env bash
# The scenarios beside bench/run-ws-direct.sh, each measured against its peer in the same run on the same machine:
#
#   fanout   durable multicast to 1,000 offline inboxes, then 1,000 receivers drain: send and drain rates and the
#            server's bytes written to disk per message (/proc/PID/io write_bytes) and data-directory growth; Daakia
#            with 1 send of 1,000 recipients (Daakia:Core:MaxRecipients=1000) and with 10 sends of 100 (the default
#            limit), beside RabbitMQ (fanout exchange to 1,000 durable queues, persistent, confirms) with its defaults
#            (a message under 4 KiB is embedded in each queue's index) and with queue_index_embed_msgs_below = 0
#            (the body is kept once in the message store, each queue holds a reference)
#   tenants  64 pairs in one tenant against 64 pairs over 64 tenants, alternating on one server (TENANT_ROUNDS each)
#   stress   texto's stress-tool pattern, bounded: C texto connections each sending one message a second to a fresh
#            random UUID (STRESS_RECIPIENT=per-connection: one UUID per connection, as texto's tool does); accepted
#            msg/s, errors by code, RSS and data-directory size every 10 s; then the same with small quotas, so that
#            refusals (EDQUOT) show
#   nats     ws-direct on Daakia at durability os, on each store of NATS_STORAGES (default "sqlite journal"), beside
#            NATS JetStream (Debian's nats-server; file storage,
#            publish acks, durable pull consumers acking each message), same pairs, window and payload, after
#            WARMUP_ROUNDS (default 6) uncounted rounds of each
#   idle     RSS per idle connection, JSON API and texto, each on a fresh warmed-up server
#
# Every scenario exits non-zero on any loss, duplicate or reordering, and so does this script.
#
#   bench/run-scenarios.sh                             # all of them, about 10 minutes on 2 cores
#   SCENARIOS="fanout nats" bench/run-scenarios.sh     # a subset
#   KEEP=1 bench/run-scenarios.sh                      # keep the work directory (outputs, data directories)
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIOS=${SCENARIOS:-"fanout tenants stress nats idle"}
PAYLOAD=${PAYLOAD:-256}
FANOUT_MESSAGES=${FANOUT_MESSAGES:-50}
FANOUT_INBOXES=${FANOUT_INBOXES:-1000}
FANOUT_WINDOW=${FANOUT_WINDOW:-4}
TENANT_PAIRS=${TENANT_PAIRS:-64}
TENANT_MESSAGES=${TENANT_MESSAGES:-2000}
TENANT_WINDOW=${TENANT_WINDOW:-16}
TENANT_ROUNDS=${TENANT_ROUNDS:-3}
ROUNDS=${ROUNDS:-2}
STRESS_RECIPIENT=${STRESS_RECIPIENT:-fresh}
STRESS_CONNECTIONS=${STRESS_CONNECTIONS:-1000}
STRESS_SECONDS=${STRESS_SECONDS:-60}
STRESS_QUOTA_SECONDS=${STRESS_QUOTA_SECONDS:-20}
NATS_PAIRS=${NATS_PAIRS:-16}
NATS_MESSAGES=${NATS_MESSAGES:-10000}
NATS_WINDOW=${NATS_WINDOW:-64}
NATS_STORAGES=${NATS_STORAGES:-"sqlite journal"}
WARMUP_ROUNDS=${WARMUP_ROUNDS:-6}
IDLE=${IDLE:-10000}

. bench/lib.sh
build_all
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
summary="$work/summary.md"
: > "$summary"
say() { echo "$@" | tee -a "$summary"; }
has() { [[ " $SCENARIOS " == *" $1 "* ]]; }

echo
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Work directory: $work ($(fstype "$work"))"
[ "$(fstype "$work")" != tmpfs ] || echo "warning: $work is on tmpfs, where fsync costs nothing; set TMPDIR to a directory on a real disk" >&2
echo

kib() { awk -v b="$1" 'BEGIN{printf "%.1f", b/1024}'; }
mib() { awk -v b="$1" 'BEGIN{printf "%.1f", b/1048576}'; }

# --- fanout-durable -------------------------------------------------------------------------------------------------
if has fanout; then
  echo "== fanout: $FANOUT_MESSAGES messages × $FANOUT_INBOXES offline inboxes, ~$PAYLOAD B, window $FANOUT_WINDOW messages"
  start_daakia fanout-1000 fsync DAAKIA_Core__MaxRecipients="$FANOUT_INBOXES"
  $LOADTEST fanout-durable --url "$DAAKIA_WS" --inboxes "$FANOUT_INBOXES" --messages "$FANOUT_MESSAGES" --recipients-per-send "$FANOUT_INBOXES" \
    --payload "$PAYLOAD" --window "$FANOUT_WINDOW" --pid "$DAAKIA_PID" --dir "$DAAKIA_DIR" --label fanout-1x1000 | tee "$work/fanout-1000.txt"
  stop_pid "$DAAKIA_PID"
  start_daakia fanout-100 fsync
  $LOADTEST fanout-durable --url "$DAAKIA_WS" --inboxes "$FANOUT_INBOXES" --messages "$FANOUT_MESSAGES" --recipients-per-send 100 \
    --payload "$PAYLOAD" --window "$FANOUT_WINDOW" --pid "$DAAKIA_PID" --dir "$DAAKIA_DIR" --label fanout-10x100 | tee "$work/fanout-100.txt"
  stop_pid "$DAAKIA_PID"
  start_rabbit rabbit
  $LOADTEST rabbit-fanout --amqp "$RABBIT_AMQP" --inboxes "$FANOUT_INBOXES" --messages "$FANOUT_MESSAGES" --payload "$PAYLOAD" \
    --window "$FANOUT_WINDOW" ${RABBIT_PID:+--pid "$RABBIT_PID"} --dir "$RABBIT_DIR" | tee "$work/rabbit-fanout.txt"
  stop_rabbit
  start_rabbit rabbit-store "queue_index_embed_msgs_below = 0"
  $LOADTEST rabbit-fanout --amqp "$RABBIT_AMQP" --inboxes "$FANOUT_INBOXES" --messages "$FANOUT_MESSAGES" --payload "$PAYLOAD" \
    --window "$FANOUT_WINDOW" ${RABBIT_PID:+--pid "$RABBIT_PID"} --dir "$RABBIT_DIR" --label rabbit-fanout-store | tee "$work/rabbit-fanout-store.txt"
  stop_rabbit
  frow() { # label jq-field format [scale]
    local a b r q
    a=$(field "$work/fanout-1000.txt" "$2"); b=$(field "$work/fanout-100.txt" "$2")
    r=$(field "$work/rabbit-fanout.txt" "$2"); q=$(field "$work/rabbit-fanout-store.txt" "$2")
    awk -v l="$1" -v f="$3" -v s="${4:-1}" -v a="$a" -v b="$b" -v r="$r" -v q="$q" \
      'BEGIN{printf "| %s | " f " | " f " | " f " | " f " | %.2f× | %.2f× |\n", l, a/s, b/s, r/s, q/s, (r>0?a/r:0), (r>0?b/r:0)}' | tee -a "$summary"
  }
  say
  say "fanout-durable (fsync; data on $(fstype "$work"); RabbitMQ $RABBIT_VERSION): $FANOUT_MESSAGES messages × $FANOUT_INBOXES offline inboxes, ~$PAYLOAD B, window $FANOUT_WINDOW messages"
  say
  say "| metric | Daakia 1 send × 1,000 recipients | Daakia 10 sends × 100 | RabbitMQ (defaults: body in each queue index) | RabbitMQ (body once in the message store) | 1×1000 ÷ RabbitMQ defaults | 10×100 ÷ RabbitMQ defaults |"
  say "|---|---|---|---|---|---|---|"
  frow "send: messages/s" send_msgs_per_sec "%.1f"
  frow "send: letters (queue entries)/s" send_letters_per_sec "%d"
  frow "send → ack p50 ms" send_ack_p50_ms "%.1f"
  frow "send → ack p99 ms" send_ack_p99_ms "%.1f"
  frow "send: write_bytes per message, KiB" send_write_bytes_per_msg "%.1f" 1024
  frow "send: write_bytes per letter, B" send_write_bytes_per_letter "%d"
  frow "send: data dir growth per message, KiB" dir_growth_bytes_per_msg "%.1f" 1024
  frow "send: server CPU µs per letter" send_cpu_us_per_letter "%.1f"
  frow "drain: letters/s (1,000 receivers, connect included)" drain_letters_per_sec "%d"
  frow "drain: connecting the receivers, s" drain_connect_sec "%.2f"
  frow "drain: write_bytes per letter, B" drain_write_bytes_per_letter "%d"
  frow "drain: server CPU µs per letter" drain_cpu_us_per_letter "%.1f"
  frow "data dir after drain, MiB" dir_bytes_after_drain "%.1f" 1048576
  say
fi

# --- tenant scaling -------------------------------------------------------------------------------------------------
if has tenants; then
  echo "== tenants: $TENANT_PAIRS pairs × $TENANT_MESSAGES, window $TENANT_WINDOW; 1 tenant against $TENANT_PAIRS tenants, $TENANT_ROUNDS rounds"
  tenant_env=(DAAKIA_OpenTenants__0=default)
  for i in $(seq 0 $((TENANT_PAIRS - 1))); do tenant_env+=("DAAKIA_OpenTenants__$((i + 1))=t$i"); done
  start_daakia tenants fsync "${tenant_env[@]}"
  # Warm-up (not counted): the same workload once in each layout.
  $LOADTEST ws-direct --url "$DAAKIA_WS" --pairs "$TENANT_PAIRS" --messages "$TENANT_MESSAGES" --payload "$PAYLOAD" --window "$TENANT_WINDOW" --tenants 1 >/dev/null
  $LOADTEST ws-direct --url "$DAAKIA_WS" --pairs "$TENANT_PAIRS" --messages "$TENANT_MESSAGES" --payload "$PAYLOAD" --window "$TENANT_WINDOW" --tenants "$TENANT_PAIRS" >/dev/null
  for round in $(seq 1 "$TENANT_ROUNDS"); do
    for t in 1 "$TENANT_PAIRS"; do
      $LOADTEST ws-direct --url "$DAAKIA_WS" --pairs "$TENANT_PAIRS" --messages "$TENANT_MESSAGES" --payload "$PAYLOAD" --window "$TENANT_WINDOW" \
        --tenants "$t" --label "tenants-$t" --pid "$DAAKIA_PID" --metrics "$DAAKIA_HTTP/metrics" | tee "$work/tenants-$t-$round.txt"
    done
  done
  stop_pid "$DAAKIA_PID"
  say
  say "tenant scaling (fsync): $TENANT_PAIRS pairs × $TENANT_MESSAGES messages, ~$PAYLOAD B, window $TENANT_WINDOW, alternating on one server"
  say
  say "| round | tenants | msg/s | send→receive p50 ms | p99 ms | send→ack p50 ms | p99 ms | server CPU µs/msg | lock contentions per 1,000 msgs |"
  say "|---|---|---|---|---|---|---|---|---|"
  for round in $(seq 1 "$TENANT_ROUNDS"); do
    for t in 1 "$TENANT_PAIRS"; do
      f="$work/tenants-$t-$round.txt"
      say "| $round | $t | $(field "$f" msgs_per_sec) | $(field "$f" p50_ms) | $(field "$f" p99_ms) | $(field "$f" ack_p50_ms) | $(field "$f" ack_p99_ms) | $(field "$f" cpu_us_per_msg) | $(field "$f" lock_contentions_per_1k_msgs) |"
    done
  done
  mean() { for r in $(seq 1 "$TENANT_ROUNDS"); do field "$work/tenants-$1-$r.txt" "$2"; done | awk '{s+=$1} END{printf "%.2f", s/NR}'; }
  one=$(mean 1 msgs_per_sec); many=$(mean "$TENANT_PAIRS" msgs_per_sec)
  cpu1=$(mean 1 cpu_us_per_msg); cpun=$(mean "$TENANT_PAIRS" cpu_us_per_msg)
  say
  awk -v a="$one" -v b="$many" -v c="$cpu1" -v d="$cpun" -v n="$TENANT_PAIRS" \
    'BEGIN{printf "mean: 1 tenant %d msg/s, %.1f µs/msg; %d tenants %d msg/s, %.1f µs/msg; %d tenants ÷ 1 tenant = %.2f× throughput, %.2f× CPU per message\n", a, c, n, b, d, n, b/a, d/c}' | tee -a "$summary"
  say
fi

# --- texto-stress ---------------------------------------------------------------------------------------------------
if has stress; then
  echo "== stress: $STRESS_CONNECTIONS texto connections × 1 send/s (recipient: $STRESS_RECIPIENT UUID) for $STRESS_SECONDS s"
  start_daakia stress fsync
  $LOADTEST texto-stress --url "$DAAKIA_TEXTO" --connections "$STRESS_CONNECTIONS" --seconds "$STRESS_SECONDS" --recipient "$STRESS_RECIPIENT" \
    --pid "$DAAKIA_PID" --dir "$DAAKIA_DIR" | tee "$work/stress.txt"
  stop_pid "$DAAKIA_PID"
  # The same against small quotas (64 KiB per inbox, 1 MiB per tenant): the tenant fills within seconds, and every send
  # after that must be refused with EDQUOT, with nothing lost among those accepted.
  start_daakia stress-quota fsync DAAKIA_Core__MaxInboxBytes=65536 DAAKIA_Core__MaxTenantStoredBytes=1048576
  $LOADTEST texto-stress --url "$DAAKIA_TEXTO" --connections "$STRESS_CONNECTIONS" --seconds "$STRESS_QUOTA_SECONDS" --recipient "$STRESS_RECIPIENT" \
    --pid "$DAAKIA_PID" --dir "$DAAKIA_DIR" | tee "$work/stress-quota.txt"
  stop_pid "$DAAKIA_PID"
  say
  say "texto-stress (fsync): $STRESS_CONNECTIONS connections × 1 send/s (recipient: $STRESS_RECIPIENT UUID), $STRESS_SECONDS s"
  say
  sed -n '/^| t (s)/,/^$/p' "$work/stress.txt" | tee -a "$summary"
  for f in stress stress-quota; do
    o="$work/$f.txt"
    say "$f: accepted $(field "$o" accepted) of $(field "$o" sent) = $(field "$o" accepted_per_sec) msg/s; errors by code $(grep '^RESULT ' "$o" | cut -c8- | jq -c .errors); no reply $(field "$o" no_reply); RSS $(mib $(( $(field "$o" rss_start_kib) * 1024 ))) → $(mib $(( $(field "$o" rss_end_kib) * 1024 ))) MiB; data dir $(mib "$(field "$o" dir_start_bytes)") → $(mib "$(field "$o" dir_end_bytes)") MiB ($(field "$o" dir_bytes_per_accepted) B and $(field "$o" write_bytes_per_accepted) B written per accepted message); server CPU $(field "$o" cpu_us_per_msg) µs per accepted message"
  done
  say
fi

# --- NATS JetStream against Daakia at durability os ----------------------------------------------------------------
if has nats; then
  echo "== nats: $NATS_PAIRS pairs × $NATS_MESSAGES, window $NATS_WINDOW; Daakia --durability os (stores: $NATS_STORAGES) against JetStream"
  # One Daakia per store, all up beside JetStream for the whole run; rounds alternate between them.
  declare -A store_pid store_ws
  for s in $NATS_STORAGES; do
    start_daakia "nats-os-$s" os DAAKIA_Storage="$s"
    store_pid[$s]=$DAAKIA_PID; store_ws[$s]=$DAAKIA_WS
  done
  start_nats
  # Warm-up rounds of each, not counted: Daakia's CPU per message falls for about six rounds of this workload while
  # tiered compilation with dynamic PGO re-compiles hot code (docs/benchmarks.md, 2026-12-02 22:10).
  for _ in $(seq "$WARMUP_ROUNDS"); do
    for s in $NATS_STORAGES; do
      $LOADTEST ws-direct --url "${store_ws[$s]}" --pairs "$NATS_PAIRS" --messages "$NATS_MESSAGES" --payload "$PAYLOAD" --window "$NATS_WINDOW" >/dev/null
    done
    $LOADTEST nats-direct --nats "$NATS_URL" --pairs "$NATS_PAIRS" --messages "$NATS_MESSAGES" --payload "$PAYLOAD" --window "$NATS_WINDOW" >/dev/null
  done
  for round in $(seq 1 "$ROUNDS"); do
    for s in $NATS_STORAGES; do
      $LOADTEST ws-direct --url "${store_ws[$s]}" --pairs "$NATS_PAIRS" --messages "$NATS_MESSAGES" --payload "$PAYLOAD" --window "$NATS_WINDOW" --pid "${store_pid[$s]}" | tee "$work/os-daakia-$s-$round.txt"
    done
    $LOADTEST nats-direct --nats "$NATS_URL" --pairs "$NATS_PAIRS" --messages "$NATS_MESSAGES" --payload "$PAYLOAD" --window "$NATS_WINDOW" --pid "$NATS_PID" | tee "$work/os-nats-$round.txt"
  done
  for s in $NATS_STORAGES; do stop_pid "${store_pid[$s]}"; done
  stop_pid "$NATS_PID"
  say
  say "durability os: Daakia ws-direct against NATS JetStream $NATS_VERSION (file storage; fsync every 2 min by default): $NATS_PAIRS pairs × $NATS_MESSAGES, ~$PAYLOAD B, window $NATS_WINDOW"
  say
  say "| round | metric | store | Daakia (os) | NATS JetStream | Daakia ÷ NATS |"
  say "|---|---|---|---|---|---|"
  for round in $(seq 1 "$ROUNDS"); do
    for m in "msg/s:msgs_per_sec" "send→receive p50 ms:p50_ms" "send→receive p99 ms:p99_ms" "send→ack p50 ms:ack_p50_ms" "send→ack p99 ms:ack_p99_ms" "server CPU µs/msg:cpu_us_per_msg"; do
      for s in $NATS_STORAGES; do
        d=$(field "$work/os-daakia-$s-$round.txt" "${m#*:}"); n=$(field "$work/os-nats-$round.txt" "${m#*:}")
        awk -v r="$round" -v l="${m%%:*}" -v st="$s" -v d="$d" -v n="$n" 'BEGIN{printf "| %s | %s | %s | %s | %s | %.2f× |\n", r, l, st, d, n, (n>0?d/n:0)}' | tee -a "$summary"
      done
    done
  done
  say
fi

# --- idle connections -----------------------------------------------------------------------------------------------
if has idle; then
  echo "== idle: $IDLE connections, JSON API and texto, each on a fresh server after a warm-up"
  start_daakia idle-ws fsync
  $LOADTEST ws-direct --url "$DAAKIA_WS" --pairs 16 --messages 5000 --payload "$PAYLOAD" --window 64 >/dev/null
  $LOADTEST ws-idle --url "$DAAKIA_WS" --connections "$IDLE" --hold-seconds 10 --pid "$DAAKIA_PID" --metrics "$DAAKIA_HTTP/metrics" | tee "$work/idle-ws.txt"
  stop_pid "$DAAKIA_PID"
  start_daakia idle-texto fsync
  $LOADTEST texto-direct --url "$DAAKIA_TEXTO" --pairs 16 --messages 5000 --payload "$PAYLOAD" --window 64 >/dev/null
  $LOADTEST texto-idle --url "$DAAKIA_TEXTO" --connections "$IDLE" --hold-seconds 10 --pid "$DAAKIA_PID" --metrics "$DAAKIA_HTTP/metrics" | tee "$work/idle-texto.txt"
  stop_pid "$DAAKIA_PID"
  say
  say "idle connections ($IDLE each, after a 16 × 5,000 warm-up on the same protocol):"
  say
  say "| protocol | RSS before MiB | RSS after MiB | RSS KiB per idle connection | managed heap KiB per connection (GC.GetTotalMemory) | server CPU while idle (10 s) |"
  say "|---|---|---|---|---|---|"
  for p in ws texto; do
    f="$work/idle-$p.txt"
    say "| $([ $p = ws ] && echo 'JSON API (/v1/ws)' || echo 'texto (/v1/texto)') | $(mib $(( $(field "$f" rss_before_kib) * 1024 ))) | $(mib $(( $(field "$f" rss_after_kib) * 1024 ))) | $(field "$f" kib_per_conn) | $(field "$f" heap_kib_per_conn) | $(field "$f" idle_cpu_pct)% |"
  done
  say
fi

echo
echo "================ summary ================"
cat "$summary"
