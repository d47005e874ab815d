#!/usr/bin/env bash
# Cold start of the compiled binary in embedded mode: process start to the first `GET /health` 200, with
# hyperfine when it is installed (apt-get install hyperfine), else a timed loop. Also measures the size of
# the binary, its idle memory, the same start without bytecode, `--version` (runtime and bundle load
# only) and `healthcheck` (the Docker HEALTHCHECK). Every run uses a copy of the binary in a temporary
# directory with no node_modules. Writes the `## Binary cold start` section of bench/RESULTS.md
# (replacing an earlier one).
# Usage: bench/coldStart.sh [runs]   (default 30; builds dist/tickets when missing)
set -euo pipefail

if [ "${1:-}" = --once ]; then
  # One measured start: launch, poll /health with bash's own /dev/tcp (no process per probe), kill.
  # Usage: coldStart.sh --once BINARY DATA_DIR PORT
  bin=$2 data=$3 port=$4
  exec {pause}<> <(:)
  env -i PATH=/usr/bin:/bin DATA_DIR="$data" PORT="$port" LOG_LEVEL=silent "$bin" serve &
  pid=$!
  for _ in $(seq 20000); do
    if { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
      printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&"$fd"
      line=""
      read -r -t 2 line <&"$fd" || true
      exec {fd}>&-
      if [[ $line == "HTTP/1.1 200"* ]]; then
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null || true
        exit 0
      fi
    fi
    kill -0 "$pid" 2>/dev/null || { echo "the binary exited before /health answered 200" >&2; exit 1; }
    read -r -t 0.001 -u "$pause" || true
  done
  kill -KILL "$pid"
  echo "no /health 200 within 20 s" >&2
  exit 1
fi

cd "$(dirname "$0")/.."
RUNS=${1:-30}
[ -x dist/tickets ] || npm run build
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tickets-coldstart.XXXXXX")
SERVER=""
trap '[ -z "$SERVER" ] || kill -KILL "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
cp dist/tickets "$WORK/tickets"
node scripts/build-binary.mjs --no-bytecode --outfile "$WORK/tickets-nobytecode" >/dev/null
rm -f "$WORK/tickets-nobytecode.map"

free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    if ! { exec {probe}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then echo "$port"; return; fi
    exec {probe}>&-
  done
}
PORT=$(free_port)
wait_healthy() {
  for _ in $(seq 400); do
    env -i PATH=/usr/bin:/bin PORT="$PORT" "$WORK/tickets" healthcheck >/dev/null 2>&1 && return 0
    kill -0 "$SERVER" 2>/dev/null || { echo "!!! the server exited while starting" >&2; exit 1; }
    sleep 0.05
  done
  echo "!!! no /health 200 within 20 s" >&2
  exit 1
}
SELF="$PWD/bench/coldStart.sh"
"$WORK/tickets" --version >/dev/null
# A restart starts from the DATA_DIR of a service stopped cleanly by SIGTERM (store, bus, secret), not
# from the WAL a killed run leaves behind: each run gets a fresh copy of this template.
env -i PATH=/usr/bin:/bin DATA_DIR="$WORK/template" PORT="$PORT" LOG_LEVEL=silent "$WORK/tickets" serve &
SERVER=$!
wait_healthy
kill -TERM "$SERVER"
wait "$SERVER"
SERVER=""
restore() { echo "bash -c 'rm -rf $1 && cp -a $WORK/template $1'"; }

# name|command|prepare: the measured scenarios.
scenarios=(
  "first start (empty DATA_DIR: creates the database, applies the migrations)|bash $SELF --once $WORK/tickets $WORK/cold $PORT|rm -rf $WORK/cold"
  "restart (the DATA_DIR of a service stopped by SIGTERM)|bash $SELF --once $WORK/tickets $WORK/warm $PORT|$(restore "$WORK/warm")"
  "the same restart, built without --bytecode|bash $SELF --once $WORK/tickets-nobytecode $WORK/warm $PORT|$(restore "$WORK/warm")"
  "tickets --version (runtime and bundle load, no server)|$WORK/tickets --version|"
)

# Prints "mean stddev median min max" in milliseconds for one scenario.
measure() {
  local command=$1 prepare=$2
  if command -v hyperfine >/dev/null; then
    local args=(--style none --warmup 3 --runs "$RUNS" -N --export-json "$WORK/run.json")
    [ -z "$prepare" ] || args+=(--prepare "$prepare")
    hyperfine "${args[@]}" "$command" >/dev/null
    node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results[0];
      console.log([r.mean, r.stddev, r.median, r.min, r.max].map((s) => (s * 1000).toFixed(1)).join(" "));
    ' "$WORK/run.json"
  else
    local times=() started
    for _ in $(seq 3); do [ -z "$prepare" ] || eval "$prepare"; bash -c "$command" >/dev/null; done
    for _ in $(seq "$RUNS"); do
      [ -z "$prepare" ] || eval "$prepare"
      started=$(date +%s%N)
      bash -c "$command" >/dev/null
      times+=($(( $(date +%s%N) - started )))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '
      { t[NR] = $1 / 1e6; sum += t[NR] }
      END {
        mean = sum / NR; for (i = 1; i <= NR; i++) var += (t[i] - mean) ^ 2
        median = NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
        printf "%.1f %.1f %.1f %.1f %.1f\n", mean, sqrt(var / (NR > 1 ? NR - 1 : 1)), median, t[1], t[NR]
      }'
  fi
}

rows=()
medians=()
for scenario in "${scenarios[@]}"; do
  IFS='|' read -r name command prepare <<<"$scenario"
  read -r mean stddev median min max < <(measure "$command" "$prepare")
  [ -n "${max:-}" ] || { echo "!!! measuring \"$name\" failed" >&2; exit 1; }
  echo "$name: mean $mean ms ± $stddev, median $median, min $min, max $max"
  rows+=("| $name | $mean ± $stddev | $median | $min | $max |")
  medians+=("$median")
done

# Idle memory and the healthcheck, against one server left running.
eval "$(restore "$WORK/warm")"
env -i PATH=/usr/bin:/bin DATA_DIR="$WORK/warm" PORT="$PORT" LOG_LEVEL=silent "$WORK/tickets" serve &
SERVER=$!
wait_healthy
rss_kib() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$SERVER/status"; }
rss_ready=$(rss_kib VmRSS)
sleep 10
rss_idle=$(rss_kib VmRSS)
hwm=$(rss_kib VmHWM)
read -r hc_mean hc_stddev hc_median hc_min hc_max < <(measure "env -i PATH=/usr/bin:/bin PORT=$PORT $WORK/tickets healthcheck" "")
echo "healthcheck: mean $hc_mean ms ± $hc_stddev"
rows+=("| \`tickets healthcheck\` against the running server (Docker HEALTHCHECK) | $hc_mean ± $hc_stddev | $hc_median | $hc_min | $hc_max |")
kill -TERM "$SERVER"
wait "$SERVER" || true
SERVER=""

size=$(stat -c %s dist/tickets)
size_nobc=$(stat -c %s "$WORK/tickets-nobytecode")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
tool=$(command -v hyperfine >/dev/null && hyperfine --version || echo "a timed bash loop (hyperfine not installed)")
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(free -h | awk '/^Mem:/ { print $2 " total, " $7 " available" }')
load=$(cut -d' ' -f1-3 /proc/loadavg)

section=$(cat <<EOF
## Binary cold start

What it measures: the compiled binary (\`npm run build\`: \`bun build --compile --minify --bytecode\`,
sourcemap embedded) started in embedded mode with nothing configured but \`DATA_DIR\`, \`PORT\` and
\`LOG_LEVEL=silent\`, from process start to the first \`GET /health\` 200, then killed. Each run uses a
copy of the binary in a temporary directory with no node_modules. The probe is bash's own \`/dev/tcp\`,
polled every millisecond, so the figures include one bash start (about 1 ms).

Command: \`bash bench/coldStart.sh $RUNS\` ($tool, $RUNS runs and 3 warm-ups per row), from \`/work/main\`.

Machine: \`nproc\` $(nproc); CPU \`$cpu\`; \`free -h\`: $mem; $(uname -sr), Bun $(node_modules/.bin/bun --version).
Load average (1, 5, 15 min) when the run ended: $load; it counts the benchmark itself and any other work on the machine.

| Scenario | Mean ± σ (ms) | Median (ms) | Min (ms) | Max (ms) |
|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")

| Binary | Size |
|---|---|
| \`dist/tickets\` (bytecode, embedded sourcemap) | $(mib "$size") ($size bytes) |
| built without \`--bytecode\` | $(mib "$size_nobc") ($size_nobc bytes) |

Idle memory of \`tickets serve\` (embedded, migrated store, no traffic): RSS $((rss_ready / 1024)) MiB
when \`/health\` first answers, $((rss_idle / 1024)) MiB after 10 s idle (peak $((hwm / 1024)) MiB).

Bytecode: a restart takes ${medians[1]} ms instead of ${medians[2]} ms (medians) for
$(mib $((size - size_nobc))) more, because JavaScriptCore loads precompiled bytecode instead of parsing
and compiling the bundle at every start. \`tickets --version\` (${medians[3]} ms) is the floor of any
start: the runtime and every module of the bundle load before the arguments are read.
EOF
)

SECTION="$section" node -e '
  const fs = require("fs");
  const file = "bench/RESULTS.md";
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "# Benchmarks\n";
  const start = text.indexOf("\n## Binary cold start\n");
  let before = text, after = "";
  if (start >= 0) {
    before = text.slice(0, start);
    const next = text.indexOf("\n## ", start + 1);
    after = next >= 0 ? text.slice(next) : "";
  }
  fs.writeFileSync(file, `${before.trimEnd()}\n\n${process.env.SECTION}\n${after}`);
'
echo "wrote the \"## Binary cold start\" section of bench/RESULTS.md"
