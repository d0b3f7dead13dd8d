# Sourced by run.sh: how the fuzz targets are built on the stable toolchain. libFuzzer
# (from libfuzzer-sys, compiled with the system's C++ compiler) drives them; rustc's
# SanitizerCoverage pass, enabled with stable -C flags, gives it the edge counters, the
# PC table and the comparison operands it needs. No sanitizer: Rust is memory-safe, the
# bugs sought are panics, aborts, 5xx answers and broken invariants.
FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$FUZZ_DIR/target}"
FUZZ_TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
export FUZZ_TRIPLE
SANCOV="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares"
# What is instrumented: every crate (FUZZ_INSTRUMENT=all, the default, as cargo-fuzz does),
# or only the code the targets are after (=ours: Xuncha's crates, Automerge and its column
# encoding, the targets; see sancov-rustc). The bounded run of `make test` passes ours: its
# build is a fifth shorter (5 min 9 s against 6 min 40 s on 2 cores), it runs a fifth more
# inputs a second, and the committed corpora replay the same; libFuzzer sees no coverage
# inside the HTTP, TLS and JSON crates then, which long runs keep.
if [ "${FUZZ_INSTRUMENT:-all}" = ours ]; then
	export FUZZ_SANCOV_FLAGS="$SANCOV"
	export RUSTC_WRAPPER="$FUZZ_DIR/sancov-rustc"
	export RUSTFLAGS="--cfg fuzzing"
else
	export RUSTFLAGS="$SANCOV --cfg fuzzing"
fi
# Linked with mold where it is installed (make setup installs it): five large binaries.
if command -v mold >/dev/null; then
	RUSTFLAGS="$RUSTFLAGS -C link-arg=-fuse-ld=mold"
fi
# SQLCipher's OpenSSL: the system's (libssl-dev, which make setup installs) rather than
# the vendored copy, so that a cold build does not compile OpenSSL from source (minutes).
if [ -z "${OPENSSL_NO_VENDOR+x}" ] && [ -f /usr/include/openssl/crypto.h ]; then
	export OPENSSL_NO_VENDOR=1
fi
# How hard the targets are optimised: 3 (the profile's) for long runs; the bounded run of
# `make test` passes 1, which builds in much less time and fuzzes fast enough for seconds.
export CARGO_PROFILE_RELEASE_OPT_LEVEL="${FUZZ_OPT_LEVEL:-3}"
FUZZ_BIN_DIR="$CARGO_TARGET_DIR/$FUZZ_TRIPLE/release"
FUZZ_TARGETS=(protocol_decode sync_request sync_upload document_load attachment_protocol)

# The fuzz package resolves its dependencies from the workspace's lock file (so it builds
# the very versions the product does); only its own (libfuzzer-sys, arbitrary) are added.
cp "$FUZZ_DIR/../Cargo.lock" "$FUZZ_DIR/Cargo.lock"
