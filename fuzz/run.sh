#!/usr/bin/env bash
# Builds every fuzz target (libFuzzer, stable toolchain, SanitizerCoverage via -C flags; see
# env.sh) and runs each for a bounded time against its committed corpus.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     default 30 s, every target
#
# New inputs that raise coverage go to fuzz/target/corpus/<target> (not committed; the
# committed fuzz/corpus/<target> is only read, unless FUZZ_MERGE=1). A crash is written to
# fuzz/artifacts/<target>/ and makes the script exit non-zero: minimise it (README.md), keep
# it under fuzz/regressions/<target>/, and the regression test replays it from then on.
#
# Environment: FUZZ_JOBS=N runs N targets at a time (default 1); FUZZ_MERGE=1 merges the
# new inputs that add coverage into the committed corpus afterwards (inputs up to
# FUZZ_MERGE_MAX_LEN bytes, default 1024); FUZZ_MAX_LEN is the longest input generated
# (default 65536); FUZZ_RSS_MB is libFuzzer's memory limit (default 2048).
set -euo pipefail
cd "$(dirname "$0")"
source ./env.sh

SECONDS_PER_TARGET="${1:-30}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${FUZZ_TARGETS[@]}")
MAX_LEN="${FUZZ_MAX_LEN:-65536}"
RSS_MB="${FUZZ_RSS_MB:-2048}"
JOBS="${FUZZ_JOBS:-1}"

command -v c++ >/dev/null || { echo "fuzz: libFuzzer needs a C++ compiler (apt-get install g++)"; exit 1; }

start=$(date +%s)
stamp="$CARGO_TARGET_DIR/fuzz-logs/.started"
mkdir -p "$CARGO_TARGET_DIR/fuzz-logs" && touch "$stamp"
echo "== fuzz: building ${#TARGETS[@]} targets (release, SanitizerCoverage, debug assertions)"
bins=()
for t in "${TARGETS[@]}"; do bins+=(--bin "$t"); done
cargo build --release --features libfuzzer --target "$FUZZ_TRIPLE" "${bins[@]}" 2>&1 | grep -Ev '^\s+(Compiling|Checking|Blocking)' || true
for t in "${TARGETS[@]}"; do
	[ -x "$FUZZ_BIN_DIR/$t" ] || { echo "fuzz: $t did not build"; exit 1; }
done
built=$(date +%s)
echo "== fuzz: built in $((built - start)) s"

mkdir -p "$CARGO_TARGET_DIR/fuzz-logs"
run_one() {
	local t="$1" log="$CARGO_TARGET_DIR/fuzz-logs/$1.log"
	local work="$CARGO_TARGET_DIR/corpus/$t" artifacts="$FUZZ_DIR/artifacts/$t"
	mkdir -p "$work" "$artifacts" "corpus/$t"
	local status=0
	# The kept crashers are read as seeds: libFuzzer runs every seed before it mutates, so a
	# regression fails the run like a new crash.
	local seeds=("corpus/$t")
	[ -d "regressions/$t" ] && seeds+=("regressions/$t")
	"$FUZZ_BIN_DIR/$t" "$work" "${seeds[@]}" -max_total_time="$SECONDS_PER_TARGET" -max_len="$MAX_LEN" \
		-rss_limit_mb="$RSS_MB" -timeout=30 -print_final_stats=1 -artifact_prefix="$artifacts/" \
		>"$log" 2>&1 || status=$?
	echo "$status" >"$log.status"
}

pids=()
for t in "${TARGETS[@]}"; do
	run_one "$t" &
	pids+=($!)
	if [ ${#pids[@]} -ge "$JOBS" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done

failed=0
printf '\n%-20s %10s %8s %7s %7s %9s %8s  %s\n' target execs exec/s cov ft corpus crashes result
for t in "${TARGETS[@]}"; do
	log="$CARGO_TARGET_DIR/fuzz-logs/$t.log"
	status=$(cat "$log.status")
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	# The last status line libFuzzer printed: "#N  DONE/REDUCE/NEW  cov: C ft: F corp: U/S ..."
	last=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -1 || true)
	cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
	crashes=$(find "$FUZZ_DIR/artifacts/$t" -type f -newer "$stamp" \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'slow-unit-*' \) 2>/dev/null | wc -l)
	result=ok
	if [ "$status" != 0 ]; then
		result="FAILED (exit $status; log $log)"
		failed=1
	fi
	printf '%-20s %10s %8s %7s %7s %9s %8s  %s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" "$result"
	if [ "$status" != 0 ]; then
		grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -8 | sed 's/^/    /'
	fi
done

if [ "${FUZZ_MERGE:-0}" = 1 ]; then
	# Only inputs up to FUZZ_MERGE_MAX_LEN bytes, and only those that add features to what
	# the committed corpus covers (greedy set cover), so the committed corpus stays small.
	MERGE_MAX_LEN="${FUZZ_MERGE_MAX_LEN:-1024}"
	for t in "${TARGETS[@]}"; do
		small="$CARGO_TARGET_DIR/merge/$t"
		rm -rf "$small" && mkdir -p "$small"
		find "$CARGO_TARGET_DIR/corpus/$t" -type f -size -"$MERGE_MAX_LEN"c -exec cp {} "$small/" \;
		before=$(find "corpus/$t" -type f | wc -l)
		"$FUZZ_BIN_DIR/$t" -set_cover_merge=1 "corpus/$t" "$small" \
			>"$CARGO_TARGET_DIR/fuzz-logs/$t.merge.log" 2>&1 || { echo "fuzz: merging $t failed"; failed=1; }
		echo "== fuzz: corpus/$t: $before -> $(find "corpus/$t" -type f | wc -l) files, $(du -sb "corpus/$t" | cut -f1) bytes"
	done
fi

echo "== fuzz: $(($(date +%s) - start)) s in all (build $((built - start)) s)"
exit "$failed"
