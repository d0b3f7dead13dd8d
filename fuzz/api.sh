#!/usr/bin/env bash
# The HTTP API driven by an API fuzzer (Schemathesis) from its OpenAPI description, against
# a real `xuncha server` on a free loopback port, with a real enrolled device's token.
#
#   fuzz/api.sh [MAX_EXAMPLES_PER_OPERATION] [MAX_SECONDS]      defaults 100 and 120
#
# Passes when no request got a 5xx (the `not_a_server_error` check). A second, advisory
# run (FUZZ_API_CONFORMANCE=1) applies every Schemathesis check and lists where the
# answers and the description disagree, without failing.
#
# Needs: the CLI (built here with cargo), curl, and Python 3 with venv (Schemathesis is
# installed into fuzz/.venv, pinned).
set -euo pipefail
cd "$(dirname "$0")"
FUZZ_DIR="$(pwd)"
ROOT="$(cd .. && pwd)"
EXAMPLES="${1:-100}"
MAX_TIME="${2:-120}"
SCHEMATHESIS_VERSION=4.32.5
PYTHON="${FUZZ_PYTHON:-/usr/bin/python3}"
command -v "$PYTHON" >/dev/null || PYTHON=python3

if ! .venv/bin/st --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
	echo "== api: installing Schemathesis $SCHEMATHESIS_VERSION into fuzz/.venv"
	rm -rf .venv
	"$PYTHON" -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

echo "== api: building the CLI"
# The whole workspace, as make test builds it: built for xuncha-cli alone, the dependencies'
# features resolve differently and a good part of them would compile again (minutes).
(cd "$ROOT" && cargo build --locked --workspace --all-targets 2>&1 | grep -Ev '^\s+(Compiling|Checking|Blocking)' || true)
X="$ROOT/target/debug/xuncha"
[ -x "$X" ] || { echo "api: $X did not build"; exit 1; }

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
	if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
export XUNCHA_SERVER_DATA="$WORK/server"

# A real district: the demo round, its users and teams; then a one-time code for the demo
# inspector, redeemed over HTTP below.
"$X" admin demo >/dev/null
CODE="$("$X" admin enroll demo-inspector 2>/dev/null | tail -1)"

"$X" server --listen 127.0.0.1:0 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
URL=""
for _ in $(seq 200); do
	URL="$(sed -n 's/.*listening on \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$WORK/server.log" | head -1)"
	[ -n "$URL" ] && break
	kill -0 "$SERVER_PID" 2>/dev/null || break
	sleep 0.1
done
[ -n "$URL" ] || { cat "$WORK/server.log"; echo "api: the server did not start"; exit 1; }
echo "== api: server at $URL"

ACTOR="$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')"
ENROLLED="$(curl -sS --fail-with-body -X POST "$URL/v1/enroll" -H 'x-xuncha-protocol: 1' \
	-H 'content-type: application/json' \
	--data "{\"code\":\"$CODE\",\"device_name\":\"api-fuzz\",\"actor\":\"$ACTOR\"}")"
TOKEN="$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["token"])' "$ENROLLED")"
echo "== api: device enrolled as demo-inspector"

run_st() {
	local name="$1"
	shift
	set +e
	# From the temporary directory, where Hypothesis and Schemathesis keep their caches.
	(cd "$WORK" && PYTHONPATH="$FUZZ_DIR" SCHEMATHESIS_HOOKS=api_hooks "$FUZZ_DIR/.venv/bin/st" run "$URL/openapi.json" \
		-H "Authorization: Bearer $TOKEN" -H "x-xuncha-protocol: 1" \
		--max-examples "$EXAMPLES" --max-time "$MAX_TIME" --seed 2024 --workers 1 \
		--request-timeout 30 --report ndjson --report-ndjson-path "$WORK/$name.ndjson" \
		--output-truncate true --no-color "$@" >"$WORK/$name.log" 2>&1)
	local status=$?
	set -e
	sed -n '/SUMMARY/,$p' "$WORK/$name.log" | head -60
	echo "$status" >"$WORK/$name.status"
}

echo "== api: schemathesis (not_a_server_error, at most $EXAMPLES examples per operation, $MAX_TIME s)"
run_st gate --checks not_a_server_error
status=$(cat "$WORK/gate.status")
"$PYTHON" - "$WORK/gate.ndjson" <<'EOF'
import json, sys, collections
ops, cases, failures, statuses = set(), 0, 0, collections.Counter()
for line in open(sys.argv[1]):
    event = json.loads(line)
    for kind, body in event.items():
        if kind == "ScenarioFinished":
            for case in (body.get("recorder", {}).get("cases") or {}).values():
                cases += 1
            for interaction in (body.get("recorder", {}).get("interactions") or {}).values():
                response = interaction.get("response") or {}
                if response.get("status_code"):
                    statuses[response["status_code"]] += 1
            label = body.get("recorder", {}).get("label")
            if label:
                ops.add(label)
            for checks in (body.get("recorder", {}).get("checks") or {}).values():
                failures += sum(1 for c in checks if c.get("status") == "FAILURE")
print(f"api: operations {len(ops)}, test cases {cases}, responses {sum(statuses.values())}, "
      f"failed checks {failures}, 5xx {sum(n for s, n in statuses.items() if s >= 500)}")
print("api: responses by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
EOF

if [ "${FUZZ_API_CONFORMANCE:-0}" = 1 ]; then
	echo "== api: advisory run, every check"
	run_st conformance --checks all || true
fi

mkdir -p "$FUZZ_DIR/target/api" && cp "$WORK"/*.log "$WORK"/*.ndjson "$FUZZ_DIR/target/api/" 2>/dev/null || true
kill -0 "$SERVER_PID" 2>/dev/null || { echo "api: the server died"; cat "$WORK/server.log" | tail -20; exit 1; }
if [ "$status" != 0 ]; then
	echo "api: Schemathesis found failures (exit $status); its log:"
	tail -80 "$WORK/gate.log"
	exit 1
fi
echo "== api: passed"
