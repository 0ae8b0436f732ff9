#!/usr/bin/env bash
# Runs every test of Daakia: builds, installs what the tests need when it is missing, runs each test project,
# and prints one summary line last: `Tests: N passed, N failed, N skipped`. Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")"

need_apt=()
# The MQTT interop tests run Debian's mosquitto_pub / mosquitto_sub against the server.
command -v mosquitto_pub >/dev/null && command -v mosquitto_sub >/dev/null || need_apt+=(mosquitto-clients)
# The Zaqar compatibility test drives the server with the real python-zaqarclient (Debian's, on Debian's python3).
/usr/bin/python3 -c "import zaqarclient" 2>/dev/null || need_apt+=(python3-zaqarclient)
# E-mail notifications are sent to a real SMTP server: Debian's aiosmtpd, writing a Maildir.
/usr/bin/python3 -c "import aiosmtpd" 2>/dev/null || need_apt+=(python3-aiosmtpd)
# (Later suites add: redis-server for cluster tests, chromium for browser tests.)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "Installing: ${need_apt[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

results="$(pwd)/TestResults/run-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"

echo "Building…"
if ! dotnet build Daakia.slnx -c Release -nologo -v quiet; then
  echo "Tests: 0 passed, 1 failed, 0 skipped"
  echo "(the build failed)"
  exit 1
fi

status=0
for proj in tests/*.Tests/*.csproj; do
  name=$(basename "$proj" .csproj)
  echo "Running $name…"
  dotnet test "$proj" -c Release --no-build -nologo \
    --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
    --blame-hang-timeout 5m -- RunConfiguration.TreatNoTestsAsError=false || status=1
done

# The server's suite again on the journal store (Daakia:Storage=journal), leaving out the tests that are about SQLite
# itself (trait Store=sqlite): every protocol feature on both embedded stores.
echo "Running Daakia.Server.Tests on the journal store…"
DAAKIA_Storage=journal dotnet test tests/Daakia.Server.Tests/Daakia.Server.Tests.csproj -c Release --no-build -nologo \
  --filter "Store!=sqlite" --logger "trx;LogFileName=Daakia.Server.Tests.journal.trx" --results-directory "$results" \
  --blame-hang-timeout 5m -- RunConfiguration.TreatNoTestsAsError=false || status=1

passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  line=$(grep -o '<Counters [^>]*>' "$trx" | head -n1)
  get() { echo "$line" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  total=$(get total); executed=$(get executed); p=$(get passed); f=$(get failed); e=$(get error); t=$(get timeout); a=$(get aborted)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0} + ${t:-0} + ${a:-0}))
  skipped=$((skipped + ${total:-0} - ${executed:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # a test run crashed or hung without reporting a failed test
fi
echo "Tests: $passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
