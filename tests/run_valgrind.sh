#!/usr/bin/env bash
# run_valgrind.sh - runs the test executables of a plain (non-sanitizer)
# build under valgrind memcheck and fails on any error: invalid read/write,
# use of uninitialised values, bad free, or a leak "definitely" or
# "indirectly" lost. "Still reachable" and "possibly lost" are not errors.
#
# Criterion runs each test in a child process (fork + exec of the test
# executable) and ignores how the child exits after the test has reported, so
# valgrind's --error-exitcode alone would let an error inside a test pass.
# Each process therefore writes its own log (--log-file=...%p) and every log
# is checked: a non-zero "ERROR SUMMARY", or, for a process that never wrote
# one (killed by a test, or one that exec'd), any error report in it.
#
# Not under valgrind here:
# - the rnnc program that test_cli starts (~100 runs, some training for
#   seconds natively, one killed on purpose after a delay): traced, that test
#   alone takes well over half an hour and its timing-based cases stop
#   meaning anything. The program gets its own check instead, the pseudo-test
#   "rnnc_app": train, resume, evaluate, inspect a tiny spec, then predict
#   with two models of the interop corpus (when shared/interop is there).
# - test_distributed's mpirun cases (they skip themselves when LD_PRELOAD
#   names valgrind): an mpirun job traced with --trace-children takes minutes
#   per case and Open MPI's start-up is not memcheck-clean; its in-process
#   cases (row reader, gradient hook, one-rank communicator) run here.
# - test_yaml_reader's two "*_is_rejected_quickly" cases: they assert wall
#   times (< 3 s, < 1 s) that valgrind's ~50x slow-down breaks; the code
#   they reach is run by the other cases, and by the fuzzer under ASan.
#
# Usage: tests/run_valgrind.sh BUILD_DIR [TEST...]
#   BUILD_DIR  a build with tests, e.g.
#              cmake -S . -B build-valgrind -DCMAKE_BUILD_TYPE=Debug -DRNNC_CUDA=OFF
#   TEST       test executable names (test_ops ...), custom_loop, fit,
#              predict or custom_layer (the C API examples) or rnnc_app (see
#              above); default: every tests/test_* executable, those
#              examples and rnnc_app.
# Env: RNNC_VALGRIND_JOBS  executables run at once (default: nproc).
# An executable with errors is run again with --track-origins=yes (slower) so
# its logs say where uninitialised values come from. Logs go to
# BUILD_DIR/valgrind/<test>/. Suppressions (third-party internals only):
# tests/valgrind.supp. Exits 0 when every run is clean, 1 otherwise, 2 on
# usage errors.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILD_DIR [TEST...]" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
shift
command -v valgrind >/dev/null || { echo "run_valgrind: valgrind not found" >&2; exit 2; }
if grep -q '^RNNC_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  echo "run_valgrind: $build is a sanitizer build; valgrind needs a plain one" >&2
  exit 2
fi
jobs=${RNNC_VALGRIND_JOBS:-$(nproc 2>/dev/null || echo 1)}

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  for t in "$build"/tests/test_*; do
    [ -f "$t" ] && [ -x "$t" ] && tests+=("$(basename "$t")")
  done
  for ex in custom_loop fit predict custom_layer; do
    [ -x "$build/$ex" ] && tests+=("$ex")
  done
  [ -x "$build/rnnc" ] && tests+=(rnnc_app)
fi
[ ${#tests[@]} -gt 0 ] || { echo "run_valgrind: no test executables in $build" >&2; exit 2; }

# One BLAS thread: valgrind runs threads one at a time anyway, and OpenBLAS's
# thread pool only adds start-up cost.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
vg_base=(valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect
         --show-leak-kinds=definite,indirect --num-callers=40 --error-exitcode=99
         --trace-children=yes --trace-children-skip='*/rnnc'
         --suppressions="$root/tests/valgrind.supp")
# What an error report starts with (for logs cut short without a summary).
errors_re='== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap|[0-9,]+ bytes in [0-9,]+ blocks are (definitely|indirectly) lost|Argument .* of function)'

# The logs in folder $1 that hold an error.
bad_logs()
{
  local f
  for f in "$1"/vg.*.log; do
    [ -f "$f" ] || continue
    if grep -q 'ERROR SUMMARY: ' "$f"; then
      grep -q 'ERROR SUMMARY: 0 errors' "$f" || echo "$f"
    elif grep -Eq "$errors_re" "$f"; then
      echo "$f"
    fi
  done
}

# rnnc_app: the program on a tiny spec and on interop models, in a scratch
# folder under the logs ($1). Uses the array vg.
run_app()
{
  local dir=$1
  mkdir -p "$dir/work"
  cat >"$dir/work/tiny.yaml" <<'YAML'
model:
  class_name: Sequential
  config:
    name: tiny
    layers:
      - class_name: InputLayer
        config: {batch_shape: [null, 10, 2]}
      - class_name: GRU
        config: {name: gru, units: 8}
      - class_name: Dense
        config: {name: dense, units: 1}
compile:
  optimizer: {class_name: Adam, config: {learning_rate: 0.01}}
  loss: mse
  metrics: [mae]
fit: {epochs: 2, batch_size: 16, seed: 1}
data: {task: adding, timesteps: 10, samples: 64, validation_samples: 16, test_samples: 16, seed: 7}
checkpoint: {directory: ckpt, every: 1, keep: 1}
YAML
  (cd "$dir/work" &&
   "${vg[@]}" --log-file="$dir/vg.%p.log" "$build/rnnc" train tiny.yaml --save-weights tiny.weights.h5 &&
   "${vg[@]}" --log-file="$dir/vg.%p.log" "$build/rnnc" train tiny.yaml --resume ckpt --epochs 3 &&
   "${vg[@]}" --log-file="$dir/vg.%p.log" "$build/rnnc" evaluate tiny.yaml --weights tiny.weights.h5 &&
   "${vg[@]}" --log-file="$dir/vg.%p.log" "$build/rnnc" inspect tiny.weights.h5) || return 1
  # A .keras archive (Masking, BatchNormalization, Bidirectional GRU) and a
  # legacy .h5 Functional model, when the shared/ corpus is there.
  local interop
  interop=$(sed -n 's/^RNNC_SHARED_DIR:PATH=//p' "$build/CMakeCache.txt")/interop
  if [ ! -d "$interop" ]; then
    echo "run_valgrind: no interop corpus at $interop; predict not checked"
    return 0
  fi
  (cd "$dir/work" &&
   "${vg[@]}" --log-file="$dir/vg.%p.log" "$build/rnnc" predict \
       --model "$interop/sleepecg-ws-gru-mesa/classifier.keras" \
       --input "$interop/sleepecg-ws-gru-mesa/input.h5" --output sleepecg.out.h5 &&
   "${vg[@]}" --log-file="$dir/vg.%p.log" "$build/rnnc" predict \
       --model "$interop/heitao-gru-relu/gru.h5" \
       --input "$interop/heitao-gru-relu/input.h5" --output heitao.out.h5)
}

# Runs test $1 under valgrind (extra valgrind options after it); sets rc.
run_under_valgrind()
{
  local name=$1 exe cwd logs=$build/valgrind/$1
  shift
  local vg=("${vg_base[@]}" "$@")
  local args=()
  case $name in
    custom_loop | custom_layer) exe=$build/$name; cwd=$build ;;
    fit) exe=$build/fit; cwd=$build; args=("$build/fit_example.keras") ;;
    predict)
      exe=$build/predict; cwd=$build
      args=("$root/tests/fixtures/roundtrip/func_chain.keras" "$root/tests/fixtures/roundtrip/func_chain_io.h5"
            "$root/tests/fixtures/roundtrip/func_chain_io.h5") ;;
    rnnc_app) exe=$build/rnnc; cwd=$build ;;
    *) exe=$build/tests/$name; cwd=$build/tests; args=(--jobs 1) ;;
  esac
  [ "$name" = test_yaml_reader ] && args+=(--filter '!(yaml_reader/*_is_rejected_quickly)')
  rm -rf "$logs"
  mkdir -p "$logs"
  if [ ! -x "$exe" ]; then
    echo "run_valgrind: no executable $exe" >"$logs/output.txt"
    rc=127
  elif [ "$name" = rnnc_app ]; then
    run_app "$logs" >"$logs/output.txt" 2>&1
    rc=$?
  else
    (cd "$cwd" && "${vg[@]}" --log-file="$logs/vg.%p.log" "$exe" "${args[@]}") >"$logs/output.txt" 2>&1
    rc=$?
  fi
}

# Runs one test and writes its report to BUILD_DIR/valgrind/<test>.report;
# the first line is "ok" or "FAIL".
run_one()
{
  local name=$1 logs=$build/valgrind/$1 t0 t1 bad nlogs status f rc
  t0=$(date +%s)
  run_under_valgrind "$name"
  bad=$(bad_logs "$logs" | wc -l)
  if [ "$bad" -gt 0 ]; then
    run_under_valgrind "$name" --track-origins=yes
    bad=$(bad_logs "$logs" | wc -l)
  fi
  t1=$(date +%s)
  nlogs=$(find "$logs" -maxdepth 1 -name 'vg.*.log' | wc -l)
  status=ok
  if [ "$bad" -gt 0 ]; then
    status="FAIL: valgrind errors in $bad of $nlogs processes"
  elif [ "$rc" -ne 0 ]; then
    status="FAIL: exit status $rc"
  fi
  {
    [ "$status" = ok ] && echo ok || echo FAIL
    printf '%-22s %5ss %5s processes  %s\n' "$name" $((t1 - t0)) "$nlogs" "$status"
    if [ "$status" != ok ]; then
      for f in $(bad_logs "$logs" | head -3); do
        echo "---- $f ($(grep -m1 'Command:' "$f" | sed 's/^==[0-9]*== //'))"
        # Each error report: from its first line to the blank line after it.
        awk -v re="$errors_re" '$0 ~ re {p = 1} p {print} p && /^==[0-9]+== $/ {p = 0}' "$f" | head -80
      done
      [ "$bad" -eq 0 ] && tail -n 30 "$logs/output.txt"
    fi
  } >"$build/valgrind/$name.report"
}

mkdir -p "$build/valgrind"
start=$(date +%s)
echo "run_valgrind: ${#tests[@]} executables, $jobs at a time"
running=0
for name in "${tests[@]}"; do
  rm -f "$build/valgrind/$name.report"
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_one "$name" &
  running=$((running + 1))
done
wait

failed=()
for name in "${tests[@]}"; do
  report=$build/valgrind/$name.report
  if [ ! -f "$report" ]; then
    echo "$name: no report"
    failed+=("$name")
    continue
  fi
  tail -n +2 "$report"
  [ "$(head -n 1 "$report")" = ok ] || failed+=("$name")
done
echo "run_valgrind: ${#tests[@]} executables in $(($(date +%s) - start)) s; logs in $build/valgrind"
if [ ${#failed[@]} -gt 0 ]; then
  echo "run_valgrind: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "run_valgrind: clean"
