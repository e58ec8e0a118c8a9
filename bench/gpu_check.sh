#!/usr/bin/env bash
# gpu_check.sh - everything issue 16 must run on a real GPU, as ONE prepared
# script for a session that is lent a GPU machine (about 15 minutes of device
# time in all, machine start included): it must finish well within 8 minutes.
#
#   bash bench/gpu_check.sh            (from anywhere; it works in the repository root)
#
# Steps, each with its own time limit (cut further so the whole stays within
# GPU_CHECK_BUDGET seconds, default 450; a step with no time left is skipped,
# saying so):
#   1. the machine: nvidia-smi -L (no GPU: says so and stops, exit 3), the
#      GPU, driver, CUDA and cuDNN versions, the CPU model -> machine.txt
#   2. the build dependencies of the README's install command
#      (quickstart.sh's Debian packages) plus nvcc and cudnn.h under
#      /usr/local/cuda; anything missing: says what and stops (exit 2;
#      the machine has no internet, so nothing is installed)
#   3. a CUDA Release build (-DRNNC_CUDA=ON, sm_90 only, MPI off) of the
#      program, the CUDA module and the GPU tests only
#   4. the real-GPU test cases: test_backend_ops's backend_ops_cuda_gpu/*,
#      test_backend_ops_gru's backend_ops_gru_cuda_gpu/*, test_cuda_gru,
#      test_device_fit's device_fit_gpu/*, test_device_bidirectional's
#      device_bidirectional_gpu/*, test_cuda_graphs's cuda_graphs_gpu/*,
#      test_backend_ops_lstm's backend_ops_lstm_cuda_gpu/*,
#      and test_device_model when it has any (a case that skips on a
#      machine with a GPU counts as a failure)
#   5. which Python has PyTorch with CUDA (python3, /usr/bin/python3, or
#      GPU_CHECK_PYTHON): the peer; none: the peer is skipped, saying so
#   6. rnnc bench gru --device cuda on the issue's large shape
#      (256,200,128,512) first, then on ../shared/bench/shapes.txt's shapes
#      (the list below when that file is not on the machine), against
#      PyTorch's cuDNN GRU
# Everything goes under "${OUT:-./gpu-check-out}": summary.txt (one line a
# step: ok / FAILED / TIMED OUT / skipped, seconds, log), machine.txt,
# nvidia-smi-L.txt, one .log per step.
#
# Exit status: 0 every step ran and passed; 1 a step failed, timed out or
# was skipped for time; 2 a build dependency is missing or the build
# failed; 3 no GPU (nothing built or run). GPU_CHECK_NO_GPU_OK=1 goes on
# without a GPU (a dry run of the whole flow: the GPU tests skip and the
# bench stops at its no-GPU line); GPU_CHECK_BUILD names the build folder
# (default build-gpu), GPU_CHECK_BUILD_LIMIT the build's limit (default 300
# s, for 16 cores), GPU_CHECK_PYTHON a Python to try first for the peer.
set -uo pipefail # not -e: a failed step is recorded and the next one runs

cd "$(dirname "$0")/.." || exit 2
OUT=${OUT:-./gpu-check-out}
BUILD=${GPU_CHECK_BUILD:-build-gpu}
BUDGET=${GPU_CHECK_BUDGET:-450}
mkdir -p "$OUT" || exit 2
summary=$OUT/summary.txt
: >"$summary"
start=$SECONDS
failed=0

# The shapes of ../shared/bench/shapes.txt (B T F U), used when that file
# is not on the machine (the device machine gets the repository only).
fallback_shapes="1,100,16,128;1,100,128,512;8,50,32,64;32,100,16,32;32,100,128,128;64,100,128,256;128,50,128,512;32,500,64,128"
large_shape="256,200,128,512"

say() { echo "gpu_check: $*" | tee -a "$summary"; }
left() { echo $((BUDGET - (SECONDS - start))); }

# step NAME LIMIT CMD...: CMD with its output in $OUT/NAME.log, killed after
# LIMIT seconds or when the budget runs out; one summary line.
step() {
  local name=$1 limit=$2
  shift 2
  local l
  l=$(($(left) - 10))
  if [ "$l" -lt 15 ]; then
    say "$name: skipped (no time left of the ${BUDGET} s budget)"
    failed=1
    return 1
  fi
  [ "$limit" -gt "$l" ] && limit=$l
  local t0=$SECONDS rc
  timeout -k 5 "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  local dt=$((SECONDS - t0))
  if [ "$rc" -eq 0 ]; then
    say "$name: ok (${dt} s, $OUT/$name.log)"
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    say "$name: TIMED OUT after ${limit} s ($OUT/$name.log)"
    failed=1
  else
    say "$name: FAILED, exit $rc (${dt} s; its first errors and the end of $OUT/$name.log:)"
    { grep -m 3 -E '(^|[^A-Za-z_])error' "$OUT/$name.log"; tail -n 5 "$OUT/$name.log"; } |
      awk '!seen[$0]++' | sed 's/^/    /' | tee -a "$summary"
    failed=1
  fi
  # Criterion's count line, when the step is a test executable, and its
  # skipped cases (not those a --filter disabled): with a GPU present a
  # skipped GPU case is a failure (a driver older than the toolkit, say)
  grep -h "Synthesis:" "$OUT/$name.log" 2>/dev/null | sed "s/^/    $name: /" | tee -a "$summary"
  local skips
  skips=$(grep '^\[SKIP\]' "$OUT/$name.log" 2>/dev/null | grep -vc 'Test is disabled')
  if [ "$skips" -gt 0 ]; then
    say "$name: $skips case(s) skipped, the first: $(grep '^\[SKIP\]' "$OUT/$name.log" | grep -v 'Test is disabled' | head -n 1 | cut -c 1-300)"
    if [ -z "$gpu_missing" ]; then
      say "$name: a case skipped on a machine with a GPU counts as a failure"
      failed=1
      rc=1
    fi
  fi
  return "$rc"
}

# ---- 1. the machine -----------------------------------------------------------
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "host: $(uname -srm)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($(git status --short 2>/dev/null | wc -l) paths changed)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  echo "memory: $(grep -m1 MemTotal /proc/meminfo 2>/dev/null | awk '{printf "%.0f GiB", $2 / 1048576}')"
} >"$OUT/machine.txt"
if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu: nvidia-smi not found" >>"$OUT/machine.txt"
  gpu_missing="nvidia-smi not found"
elif ! timeout 30 nvidia-smi -L >"$OUT/nvidia-smi-L.txt" 2>&1 || ! grep -q '^GPU ' "$OUT/nvidia-smi-L.txt"; then
  gpu_missing="nvidia-smi -L lists no GPU: $(head -n 1 "$OUT/nvidia-smi-L.txt")"
else
  gpu_missing=
  {
    timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
    timeout 30 nvidia-smi
  } >>"$OUT/machine.txt" 2>&1
fi
if [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "nvcc: $(/usr/local/cuda/bin/nvcc --version | tail -n 2 | tr '\n' ' ')" >>"$OUT/machine.txt"
fi
cudnn_h=
for d in /usr/local/cuda/include /usr/include /usr/include/x86_64-linux-gnu; do
  [ -f "$d/cudnn_version.h" ] && cudnn_h=$d/cudnn_version.h && break
  [ -f "$d/cudnn.h" ] && cudnn_h=$d/cudnn.h
done
if [ -n "$cudnn_h" ]; then
  echo "cudnn: $(grep -hE '#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ' "$cudnn_h" | awk '{print $3}' | tr '\n' '.' | sed 's/\.$//')" >>"$OUT/machine.txt"
fi
sed 's/^/    /' "$OUT/machine.txt" | head -n 6
if [ -n "$gpu_missing" ]; then
  if [ "${GPU_CHECK_NO_GPU_OK:-0}" != 1 ]; then
    say "no GPU ($gpu_missing): stopping; nothing was built or run"
    exit 3
  fi
  say "no GPU ($gpu_missing): going on anyway (GPU_CHECK_NO_GPU_OK=1, a dry run)"
else
  say "GPU: $(head -n 1 "$OUT/nvidia-smi-L.txt")"
fi

# ---- 2. build dependencies --------------------------------------------------
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in build-essential cmake pkg-config libopenblas-dev libhdf5-dev libyaml-dev \
    libcriterion-dev libzip-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
else
  for c in cmake cc make pkg-config; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
fi
[ -x /usr/local/cuda/bin/nvcc ] || missing+=("/usr/local/cuda/bin/nvcc")
[ -n "$cudnn_h" ] || missing+=("cudnn.h (cuDNN >= 8)")
if [ ${#missing[@]} -gt 0 ]; then
  say "missing build dependencies: ${missing[*]} (this machine has no internet: nothing installed); stopping"
  exit 2
fi

# ---- 3. build ----------------------------------------------------------------
export PATH=/usr/local/cuda/bin:$PATH
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache)
# The tests with real-GPU cases, each with the Criterion filter that picks
# them ("" = every case): a test whose source is not in the tree is left
# out, and so is one that never asks for the real CUDA backend (an
# emulation-only test proves nothing here and costs device time).
gpu_tests=(test_backend_ops 'backend_ops_cuda_gpu/*' test_backend_ops_gru 'backend_ops_gru_cuda_gpu/*'
  test_cuda_gru '' test_device_fit 'device_fit_gpu/*' test_device_model ''
  test_device_bidirectional 'device_bidirectional_gpu/*' test_cuda_graphs 'cuda_graphs_gpu/*'
  test_backend_ops_lstm 'backend_ops_lstm_cuda_gpu/*')
tests=()
filters=()
for ((i = 0; i < ${#gpu_tests[@]}; i += 2)); do
  t=${gpu_tests[i]}
  if [ ! -f "tests/$t.c" ]; then
    say "$t: not in this tree, left out"
  elif ! grep -qE 'rnnc_backend_ops_get\(RNNC_DEVICE_CUDA|rnnc_backend_cuda(_table)?\(|use_real_gpu' "tests/$t.c"; then
    say "$t: has no real-GPU case (emulation only), left out"
  else
    tests+=("$t")
    filters+=("${gpu_tests[i + 1]}")
  fi
done
if ! step configure 120 cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DRNNC_CUDA=ON \
  -DRNNC_WERROR=OFF -DRNNC_MPI=OFF -DCMAKE_CUDA_ARCHITECTURES="${GPU_CHECK_ARCH:-90}" \
  "${launcher[@]}"; then
  say "the CUDA configure failed: stopping"
  exit 2
fi
if ! step build "${GPU_CHECK_BUILD_LIMIT:-300}" cmake --build "$BUILD" -j "$(nproc)" --target rnnc_app rnnc_cuda_module "${tests[@]}"; then
  say "the build failed: stopping"
  exit 2
fi

# ---- 4. the GPU tests ----------------------------------------------------------
for i in "${!tests[@]}"; do
  filter=()
  [ -n "${filters[i]}" ] && filter=(--filter "${filters[i]}")
  step "${tests[i]}" 120 "$BUILD/tests/${tests[i]}" "${filter[@]}" --verbose --jobs 1
  ran=$(grep -E '^\[(PASS|FAIL|SKIP)\] ' "$OUT/${tests[i]}.log" 2>/dev/null | grep -vc 'Test is disabled')
  if [ -f "$OUT/${tests[i]}.log" ] && [ "$ran" -eq 0 ]; then
    say "${tests[i]}: no case ran (filter '${filters[i]}' matches none?): counted as a failure"
    failed=1
  fi
done

# ---- 5. the peer's Python ----------------------------------------------------
peer=(--peer none)
py_found=
for py in ${GPU_CHECK_PYTHON:-} python3 /usr/bin/python3; do
  command -v "$py" >/dev/null 2>&1 || continue
  if timeout 90 "$py" -c 'import sys, torch
print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())
sys.exit(0 if torch.cuda.is_available() else 3)' >"$OUT/python.log" 2>&1; then
    py_found=$(command -v "$py")
    break
  fi
done
if [ -n "$py_found" ]; then
  peer=(--peer torch --python "torch=$py_found")
  say "peer: $py_found, $(tail -n 1 "$OUT/python.log")"
else
  say "peer skipped: no Python here imports torch with CUDA ($(tail -n 1 "$OUT/python.log" 2>/dev/null))"
fi

# ---- 6. the benchmark ------------------------------------------------------------
shapes=$fallback_shapes
if [ -f ../shared/bench/shapes.txt ]; then
  shapes=$(sed 's/#.*//' ../shared/bench/shapes.txt | awk 'NF == 4 { printf "%s%s,%s,%s,%s", sep, $1, $2, $3, $4; sep = ";" }')
fi
step bench_large 150 "$BUILD/rnnc" bench gru --device cuda --shapes "$large_shape" --rounds 3 \
  --min-time 0.3 "${peer[@]}"
step bench_shapes 240 "$BUILD/rnnc" bench gru --device cuda --shapes "$shapes" --rounds 2 \
  --min-time 0.2 "${peer[@]}"
for b in bench_large bench_shapes; do
  [ -f "$OUT/$b.log" ] && echo "gpu_check: $b's table:" && grep -E '^ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ (cudnn|generic)|^# (rnnc bench|GRU through|peer)|^rnnc bench' "$OUT/$b.log" | sed 's/^/    /'
done

say "done in $((SECONDS - start)) s; $( [ "$failed" = 0 ] && echo 'every step passed' || echo 'some step failed or was skipped (above)'); everything under $OUT"
exit "$failed"
