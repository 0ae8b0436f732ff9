#!/usr/bin/env bash
# Zaqar's v2 REST API: Daakia beside the reference Zaqar 15 (Debian's zaqar-server on Redis, started from
# ../shared/zaqar-reference with its two fixes), the same `queue` load-generator run against each after WARMUP_ROUNDS
# uncounted rounds (default 3, of WARMUP_MESSAGES per producer), ROUNDS counted rounds alternating. PRODUCERS post
# batches of BATCH messages of ~PAYLOAD bytes and wait for each 201; CONSUMERS claim (limit LIMIT) and delete by ids.
# Prints a table with each one's figures and Daakia ÷ Zaqar; exits non-zero on any loss, duplicate or failed request.
#
#   bench/run-queue.sh
#   PRODUCERS=8 CONSUMERS=8 MESSAGES=2000 bench/run-queue.sh
#   DURABILITY=os bench/run-queue.sh         # Daakia without fsync (the reference's Redis runs without persistence)
#
# Daakia runs with fsync on by default: every 201 is on disk. The reference Zaqar's Redis has persistence off.
set -euo pipefail
cd "$(dirname "$0")/.."

PRODUCERS=${PRODUCERS:-4}
CONSUMERS=${CONSUMERS:-4}
MESSAGES=${MESSAGES:-1000}
BATCH=${BATCH:-10}
PAYLOAD=${PAYLOAD:-1024}
LIMIT=${LIMIT:-10}
ROUNDS=${ROUNDS:-2}
WARMUP_ROUNDS=${WARMUP_ROUNDS:-3}
# Messages per producer in a warm-up round: Daakia's JIT (tiered, with PGO) settles only after ~40,000 messages of this
# workload (server CPU per message 215 → 144 → 103 → 100 → 95 µs over five rounds of 20,000); with one warm-up round of
# 4,000 the timed rounds ran partly on unoptimised code (~20 % of Daakia's CPU in the JIT, perf).
WARMUP_MESSAGES=${WARMUP_MESSAGES:-5000}
DURABILITY=${DURABILITY:-fsync}
STORAGE=${STORAGE:-sqlite}
REF=${ZAQAR_REFERENCE:-../shared/zaqar-reference}

. bench/lib.sh
build_all

for pkg in zaqar-server python3-zaqarclient python3-redis redis-server; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing_pkgs+=("$pkg")
done
if [ -n "${missing_pkgs:-}" ]; then
  echo "Installing ${missing_pkgs[*]} (Debian)…"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_pkgs[@]}"
fi

export ZAQAR_REF_RUN="$work/zaqar-ref"
export ZAQAR_REF_REDIS_PORT; ZAQAR_REF_REDIS_PORT=$(free_port)
export ZAQAR_REF_HTTP_PORT; ZAQAR_REF_HTTP_PORT=$(free_port)
"$REF/stop.sh" >/dev/null 2>&1 || true
"$REF/start.sh" --no-ws > "$work/zaqar-start.out" 2>&1 || { cat "$work/zaqar-start.out"; exit 1; }
trap '"$REF/stop.sh" >/dev/null 2>&1 || true; cleanup' EXIT
ZAQAR_URL="http://127.0.0.1:$ZAQAR_REF_HTTP_PORT"
ZAQAR_PID=$(cat "$ZAQAR_REF_RUN/zaqar.pid")
REDIS_PID=$(cat "$ZAQAR_REF_RUN/redis.pid")

start_daakia queue "$DURABILITY" "DAAKIA_Storage=$STORAGE"
echo
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Daakia at $DAAKIA_HTTP ($STORAGE, durability $DURABILITY); Zaqar $(dpkg-query -W -f='${Version}' zaqar-server) at $ZAQAR_URL (Redis, no persistence)"

# CPU seconds of a process so far (utime + stime from /proc/PID/stat).
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

run() { # name url pid round [messages] → RESULT line in $work/name-rROUND.txt (for Zaqar also its Redis's CPU in $work/redis-rROUND.txt)
  local name=$1 url=$2 pid=$3 round=$4 messages=${5:-$MESSAGES} before
  before=$(cpu_of "$REDIS_PID")
  local connection=keep-alive
  [ "$name" = zaqar ] && connection=close   # its WSGIServer answers HTTP/1.0 and closes after each request
  $LOADTEST queue --url "$url" --pid "$pid" --connection "$connection" --producers "$PRODUCERS" --consumers "$CONSUMERS" --messages "$messages" \
    --batch "$BATCH" --payload "$PAYLOAD" --limit "$LIMIT" | tee "$work/$name-r$round.txt"
  echo "$(cpu_of "$REDIS_PID") $before" > "$work/$name-redis-r$round.txt"
}

for _ in $(seq "$WARMUP_ROUNDS"); do
  run daakia "$DAAKIA_HTTP" "$DAAKIA_PID" warm "$WARMUP_MESSAGES" >/dev/null || true
  run zaqar "$ZAQAR_URL" "$ZAQAR_PID" warm "$WARMUP_MESSAGES" >/dev/null || true
done
status=0
for r in $(seq "$ROUNDS"); do
  run daakia "$DAAKIA_HTTP" "$DAAKIA_PID" "$r" || status=1
  run zaqar "$ZAQAR_URL" "$ZAQAR_PID" "$r" || status=1
done

echo
echo "queue: $PRODUCERS producers × $MESSAGES messages of ~$PAYLOAD B in posts of $BATCH, $CONSUMERS consumers claiming $LIMIT and deleting"
echo
echo "| round | metric | Daakia | Zaqar | Daakia ÷ Zaqar |"
echo "|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
  for m in "post msg/s:post_msgs_per_sec" "claim+delete msg/s:consume_msgs_per_sec" "post → 201 p99 ms:post_p99_ms" \
           "post → claimed p50 ms:claim_p50_ms" "post → claimed p99 ms:claim_p99_ms" "server CPU µs/msg:cpu_us_per_msg" "queue depth max:depth_max" \
           "posts without an answer:posts_unanswered"; do
    d=$(field "$work/daakia-r$r.txt" "${m#*:}"); z=$(field "$work/zaqar-r$r.txt" "${m#*:}")
    awk -v r="$r" -v l="${m%%:*}" -v d="$d" -v z="$z" 'BEGIN{printf "| %s | %s | %s | %s | %s |\n", r, l, d, z, (z>0?sprintf("%.2f×", d/z):"–")}'
  done
  # Zaqar's whole cost: zaqar-server's CPU (above) plus its Redis's, per message consumed.
  d=$(field "$work/daakia-r$r.txt" cpu_us_per_msg); n=$(field "$work/zaqar-r$r.txt" msgs)
  z=$(awk -v c="$(field "$work/zaqar-r$r.txt" cpu_us_per_msg)" -v n="$n" '{printf "%.1f", c + ($1 - $2) * 1e6 / (n > 0 ? n : 1)}' "$work/zaqar-redis-r$r.txt")
  awk -v r="$r" -v d="$d" -v z="$z" 'BEGIN{printf "| %s | server CPU µs/msg, Zaqar with its Redis | %s | %s | %s |\n", r, d, z, (z>0?sprintf("%.2f×", d/z):"–")}'
done
exit $status
