#!/usr/bin/env bash
# The API contract against a running `earshot serve`: the served OpenAPI
# document must be valid, and schemathesis, fuzzing every operation for a
# bounded time, must see no 5xx and no response outside the document.
#
#   scripts/contract-check.sh            # builds the binary if needed
#   EARSHOT_BIN=path/to/earshot CONTRACT_MAX_TIME=60 scripts/contract-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

venv="$(pwd)/${CONTRACT_VENV:-target/ci-venv}"
max_time="${CONTRACT_MAX_TIME:-150}"
max_examples="${CONTRACT_MAX_EXAMPLES:-25}"
bin="${EARSHOT_BIN:-target/debug/earshot}"

# A venv whose tools do not run (e.g. the checkout moved, breaking their
# shebangs) is made anew.
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1 \
  || ! "$venv/bin/openapi-spec-validator" --help >/dev/null 2>&1; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'schemathesis>=4,<5' openapi-spec-validator
fi
if [ -z "${EARSHOT_BIN:-}" ]; then
  cargo build -q -p earshot
fi

work="$(mktemp -d)"
token="contract-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# A free port: bind 0, read it back, let it go.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"

# The per-token rate limit is off here: it has its own test, and with it on
# most generated requests would only meet 429s.
EARSHOT_BOOTSTRAP_TOKEN="$token" EARSHOT_LOG=warn EARSHOT_RATE_LIMIT=off \
  "$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
stop() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT

for _ in $(seq 1 100); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.2
done

curl -fsS "$base/api/v1/openapi.json" -o "$work/openapi.json"
"$venv/bin/openapi-spec-validator" "$work/openapi.json"

start=$(date +%s)
run_schemathesis() {  # $1 = seed; the report goes to stdout and $work/report.txt
  # From the temp dir, so schemathesis's caches stay out of the checkout.
  (cd "$work" && "$venv/bin/schemathesis" run "$base/api/v1/openapi.json" \
    -H "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --phases coverage,fuzzing \
    --max-examples "$max_examples" --max-time "$max_time" \
    --workers 2 --seed "$1" \
    --no-color --output-truncate true) 2>&1 | tee "$work/report.txt"
  return "${PIPESTATUS[0]}"
}
status=0
run_schemathesis "${CONTRACT_SEED:-1}" || status=$?
# schemathesis can crash inside hypothesis ("Runtime Error", an IndexError in
# its optimiser) without any check failing. That is the tool's bug, not a
# finding about Earshot: run again with another seed (at most four more
# times: it crashed in about half the runs here, in the coverage phase too),
# and fail if the last run fails too. A real failure (a FAILURES section) is
# never retried.
for retry in 1 2 3 4; do
  if [ "$status" -ne 0 ] && grep -q "Runtime Error" "$work/report.txt" \
    && ! grep -q "= FAILURES =" "$work/report.txt"; then
    echo "schemathesis crashed internally without a failed check; running it again with another seed"
    status=0
    run_schemathesis "$(( ${CONTRACT_SEED:-1} + retry ))" || status=$?
  fi
done
echo "schemathesis took $(( $(date +%s) - start ))s"
if [ "$status" -ne 0 ] && grep -q panicked "$work/server.log"; then
  grep -A5 panicked "$work/server.log" | head -40
fi
exit "$status"
