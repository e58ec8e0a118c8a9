#!/usr/bin/env bash
# CI: builds the Debian packages from a build folder (cpack -G DEB), installs
# them with apt-get, builds the outside program and the examples against the
# system's rnnc (pkg-config and find_package, no paths given), runs them and
# the installed rnnc with LD_LIBRARY_PATH unset, then removes the packages.
# Needs root (apt-get). Usage: check_debs.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
packages=(rnnc librnnc-dev librnnc0)
cleanup()
{
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${packages[@]}" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
unset LD_LIBRARY_PATH

if dpkg-query -W -f='${Status}' librnnc0 2>/dev/null | grep -q "install ok installed"; then
  echo "check_debs: librnnc0 is already installed; remove it first" >&2
  trap 'rm -rf "$work"' EXIT
  exit 1
fi
(cd "$build" && cpack -G DEB -B "$work/debs" >/dev/null)
for p in "${packages[@]}"; do
  ls "$work/debs/${p}_"*.deb >/dev/null
done
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$work"/debs/*.deb >/dev/null
echo "installed: $(dpkg-query -W -f='${Package} ${Version}  ' "${packages[@]}")"

cc -std=c11 -Wall -Werror "$here/consumer.c" -o "$work/consumer" $(pkg-config --cflags --libs rnnc)
"$work/consumer"
cmake -S "$here" -B "$work/cmake-build" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
"$work/cmake-build/consumer"
"$work/cmake-build/custom_layer"
case=$here/../fixtures/roundtrip
"$work/cmake-build/predict" "$case/func_chain.keras" "$case/func_chain_io.h5" "$case/func_chain_io.h5"
rnnc --version
echo "debs check: librnnc0, librnnc-dev and rnnc install, build and run"
