#!/usr/bin/env bash
# Smoke test of the compiled binary, run from a fresh temporary directory with no node_modules and no
# repository around it, with an empty environment (embedded mode, nothing configured):
# --version, --help, migrate, serve on a port the OS picks, /health, /ready, /metrics, one show and one
# booking (201 each), a Link and RateLimit headers, the booking's timeline (actors show), healthcheck,
# then SIGTERM and exit 0.
# Fails loudly on the first problem and exits 1.
# Usage: scripts/smoke-binary.sh [path/to/tickets]   (default: dist/tickets)
set -euo pipefail

SOURCE=${1:-dist/tickets}
[ -x "$SOURCE" ] || { echo "!!! SMOKE FAILED: $SOURCE is not an executable; build it with npm run build" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tickets-smoke.XXXXXX")
BIN="$WORK/bin/tickets"
LOG="$WORK/serve.log"
PID=""

cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  printf '\n!!! SMOKE FAILED: %s\n' "$*" >&2
  if [ -s "$LOG" ]; then
    echo "--- last lines of the service log ($LOG):" >&2
    tail -n 40 "$LOG" >&2
  fi
  exit 1
}

ok() { printf '  ok  %s\n' "$*"; }

# The binary sees nothing of the caller's environment but a PATH, so it runs exactly as an operator's
# unconfigured first start would. An array, not a function: `"${clean[@]}" … &` then is the binary's own PID.
clean=(env -i PATH=/usr/bin:/bin HOME="$WORK")

mkdir -p "$WORK/bin" "$WORK/run"
cp "$SOURCE" "$BIN"
cd "$WORK/run"
dir=$WORK
while [ "$dir" != / ]; do
  [ ! -e "$dir/node_modules" ] || fail "$dir/node_modules exists: the smoke test must run where no node_modules can be found"
  dir=$(dirname "$dir")
done
echo "smoke: $SOURCE ($(stat -c %s "$BIN") bytes) copied to $BIN, running in $WORK/run"

version=$("${clean[@]}" "$BIN" --version) || fail "--version exited $?"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || fail "--version printed \"$version\", not a version"
ok "--version: $version"

help=$("${clean[@]}" "$BIN" --help) || fail "--help exited $?"
for word in serve migrate gateway 'projections rebuild' 'actors show'; do
  grep -q -- "$word" <<<"$help" || fail "--help does not mention \"$word\""
done
ok "--help lists every subcommand"

status=0
"${clean[@]}" "$BIN" no-such-command >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || fail "an unknown command exited $status, expected 2"
ok "an unknown command exits 2"

"${clean[@]}" "$BIN" migrate || fail "migrate (no configuration) exited $?"
[ -s data/tickets.db ] || fail "migrate with no configuration did not create ./data/tickets.db"
ok "migrate with no configuration: the embedded migrations created ./data/tickets.db"

DATA_DIR="$WORK/run/data"
started=$(date +%s%N)
"${clean[@]}" PORT=0 DATA_DIR="$DATA_DIR" "$BIN" serve >"$LOG" 2>&1 &
PID=$!

port=""
for _ in $(seq 200); do
  kill -0 "$PID" 2>/dev/null || fail "serve exited before it listened"
  port=$(grep -o '"msg":"service started".*"port":[0-9]*' "$LOG" | grep -o '"port":[0-9]*' | grep -o '[0-9]*' || true)
  [ -z "$port" ] || break
  sleep 0.1
done
[ -n "$port" ] || fail "serve did not log \"service started\" with its port within 20 s"
BASE="http://127.0.0.1:$port"

healthy=false
for _ in $(seq 200); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/health" || true)" = 200 ]; then healthy=true; break; fi
  kill -0 "$PID" 2>/dev/null || fail "serve exited while starting"
  sleep 0.1
done
[ "$healthy" = true ] || fail "GET /health did not answer 200 within 20 s"
ok "serve (embedded, PORT=0 → $port): GET /health 200 after $(( ($(date +%s%N) - started) / 1000000 )) ms"

# request METHOD PATH [JSON]: prints the body, then the status on a last line of its own.
request() {
  local args=(-s -X "$1" -w '\n%{http_code}' -H 'content-type: application/json')
  [ $# -lt 3 ] || args+=(--data "$3")
  curl "${args[@]}" "$BASE$2" || echo "curl failed with $?"
}

response=$(request GET /ready)
[ "$(tail -n 1 <<<"$response")" = 200 ] || fail "GET /ready: $response"
ok "GET /ready 200: $(head -n 1 <<<"$response")"

start_time=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)
response=$(request POST /api/shows "{\"dead_nation_id\":\"smoke-$$\",\"number_of_tickets\":10,\"start_time\":\"$start_time\",\"title\":\"Smoke test\",\"venue\":\"Nowhere\"}")
[ "$(tail -n 1 <<<"$response")" = 201 ] || fail "POST /api/shows: $response"
show_id=$(grep -o '"show_id":"[^"]*"' <<<"$response" | cut -d'"' -f4)
[ -n "$show_id" ] || fail "POST /api/shows returned no show_id: $response"
ok "POST /api/shows 201: show $show_id"

response=$(request POST /api/book-tickets "{\"show_id\":\"$show_id\",\"number_of_tickets\":2,\"customer_email\":\"smoke@example.com\"}")
[ "$(tail -n 1 <<<"$response")" = 201 ] || fail "POST /api/book-tickets: $response"
booking_id=$(grep -o '"booking_id":"[^"]*"' <<<"$response" | cut -d'"' -f4)
[ -n "$booking_id" ] || fail "POST /api/book-tickets returned no booking_id: $response"
ok "POST /api/book-tickets 201: booking $booking_id"

# Headers hooks and handlers add through Elysia's `set`: the bundled binary once lost some that the
# sources keep (a login's RateLimit headers), so the binary is asked for them itself.
response=$(request POST /api/shows "{\"dead_nation_id\":\"smoke-2-$$\",\"number_of_tickets\":1,\"start_time\":\"$start_time\",\"title\":\"Smoke test 2\",\"venue\":\"Nowhere\"}")
[ "$(tail -n 1 <<<"$response")" = 201 ] || fail "POST /api/shows (a second show): $response"
headers=$(curl -s -D - -o /dev/null "$BASE/api/shows?limit=1")
grep -qi '^link: <.*cursor=.*>; rel="next"' <<<"$headers" || fail "GET /api/shows?limit=1 has no Link header: $headers"
ok "GET /api/shows?limit=1 announces the next page in Link"

response=$(request POST /api/auth/register '{"email":"smoke@example.com","password":"Smoke-password-1"}')
[ "$(tail -n 1 <<<"$response")" = 201 ] || fail "POST /api/auth/register: $response"
for password in Smoke-password-1 wrong-password-1; do
  headers=$(curl -s -D - -o /dev/null -H 'content-type: application/json' --data "{\"email\":\"smoke@example.com\",\"password\":\"$password\"}" "$BASE/api/auth/login")
  grep -qi '^ratelimit: "auth";r=' <<<"$headers" && grep -qi '^ratelimit-policy: ' <<<"$headers" || fail "POST /api/auth/login has no RateLimit headers: $headers"
done
ok "POST /api/auth/login (200 and 401) carries RateLimit and RateLimit-Policy"

response=$(request GET /metrics)
grep -q '^http_requests_total{.*route="/api/book-tickets".*status="201"' <<<"$response" || fail "GET /metrics does not count the booking in http_requests_total"
ok "GET /metrics counts the booking"

timeline=$("${clean[@]}" DATA_DIR="$DATA_DIR" "$BIN" actors show "booking/$booking_id") || fail "actors show booking/$booking_id exited $?: $timeline"
grep -q "^booking/$booking_id: machine " <<<"$timeline" || fail "actors show printed no header: $timeline"
ok "actors show booking/$booking_id (while serving):"
sed 's/^/        /' <<<"$timeline"

status=0
unknown=$("${clean[@]}" DATA_DIR="$DATA_DIR" "$BIN" actors show booking/00000000-0000-0000-0000-000000000000 2>&1) || status=$?
[ "$status" -eq 1 ] && grep -q 'unknown actor' <<<"$unknown" || fail "actors show of an unknown actor exited $status: $unknown"
ok "actors show of an unknown actor exits 1: $unknown"

"${clean[@]}" PORT="$port" "$BIN" healthcheck /ready >/dev/null || fail "healthcheck /ready exited $?"
status=0
"${clean[@]}" PORT="$port" "$BIN" healthcheck /no-such-path >/dev/null || status=$?
[ "$status" -eq 1 ] || fail "healthcheck of a 404 exited $status, expected 1"
ok "healthcheck: 0 on /ready, 1 on a 404"

stopping=$(date +%s%N)
kill -TERM "$PID"
for _ in $(seq 200); do
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$PID" 2>/dev/null && fail "serve still running 20 s after SIGTERM"
status=0
wait "$PID" || status=$?
PID=""
[ "$status" -eq 0 ] || fail "serve exited $status after SIGTERM, expected 0"
grep -q '"msg":"service stopped"' "$LOG" || fail "serve exited without logging \"service stopped\""
ok "SIGTERM: serve stopped and exited 0 in $(( ($(date +%s%N) - stopping) / 1000000 )) ms"

echo "smoke: passed"
