#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then builds and runs an
# outside program against it twice: through find_package(rnnc) and through
# pkg-config. Usage: check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$here" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}" "$work/cmake-build/consumer"
pcdir=$(dirname "$(find "$work/prefix" -name rnnc.pc | head -1)")
flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs rnnc)
# shellcheck disable=SC2086
cc -std=c11 "$here/consumer.c" -o "$work/consumer-pc" $flags
LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}" "$work/consumer-pc"
echo "install check: find_package and pkg-config both work"
