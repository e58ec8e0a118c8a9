#!/usr/bin/env bash
# quickstart.sh - the README's two commands.
#   ./quickstart.sh        install what is missing, build, train the default task
#   ./quickstart.sh test   install what is missing, build, run the whole test suite
# Idempotent: packages already installed are not touched, the build is incremental.
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-run}

packages=(build-essential cmake pkg-config libopenblas-dev libhdf5-dev libyaml-dev
          libcriterion-dev libzip-dev libprotobuf-c-dev protobuf-c-compiler
          libcairo2-dev openmpi-bin libopenmpi-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "quickstart: installing ${missing[*]}"
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

build=build
# One configuration for both modes, so switching between them does not rebuild.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRNNC_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

case "$mode" in
  run)
    # --overwrite: a run again replaces the previous run's checkpoints.
    exec "$build/rnnc" train examples/adding.yaml --save-weights "$build/adding.weights.h5" --overwrite
    ;;
  test)
    # test_distributed starts mpirun itself (as root too: it sets
    # OMPI_ALLOW_RUN_AS_ROOT for its own runs, with --oversubscribe).
    ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
    ;;
  *)
    echo "usage: ./quickstart.sh [run|test]" >&2
    exit 2
    ;;
esac
