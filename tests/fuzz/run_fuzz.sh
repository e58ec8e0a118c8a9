#!/bin/sh
# run_fuzz.sh - builds the libFuzzer target for the spec reader with clang
# (-fsanitize=fuzzer,address,undefined) and runs it for N seconds (default
# 30) over a scratch copy of tests/fuzz/corpus, so the committed seeds stay
# as they are. Exits non-zero if the fuzzer finds a crash, leak or timeout;
# the reproducer is left in the scratch directory, whose path is printed.
# Usage: tests/fuzz/run_fuzz.sh [seconds]   (env: CC=clang-14, FUZZ_DIR=...)
set -eu
seconds=${1:-30}
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-clang}
work=${FUZZ_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/rnnc_fuzz.XXXXXX")}
mkdir -p "$work/corpus" "$work/artifacts"
cp "$root"/tests/fuzz/corpus/* "$work/corpus/"

"$cc" -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root" \
    "$root/tests/fuzz/fuzz_spec_reader.c" \
    "$root/framework/status.c" "$root/framework/config.c" \
    "$root/io/yaml_reader.c" "$root/io/json_writer.c" \
    -lyaml -lm -o "$work/fuzz_spec_reader"

echo "run_fuzz: fuzzing for $seconds s in $work"
# -timeout: one input may take at most 10 s; -rss_limit_mb bounds memory.
if "$work/fuzz_spec_reader" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" >"$work/fuzz.log" 2>&1; then
    tail -n 12 "$work/fuzz.log"
    echo "run_fuzz: no crash in $seconds s"
    [ -n "${FUZZ_DIR:-}" ] || rm -rf "$work"
    exit 0
fi
tail -n 60 "$work/fuzz.log"
echo "run_fuzz: FAILED; reproducers in $work/artifacts" >&2
exit 1
