#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then builds and runs an
# outside program against it: through find_package(rnnc) and through
# pkg-config, shared and static; runs it and the installed rnnc program
# with LD_LIBRARY_PATH unset (they find librnnc through their RUNPATH).
# The C API examples are built both ways too and run (predict against
# Keras's outputs for a committed fixture).
# Usage: check_install.sh BUILD_DIR
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset LD_LIBRARY_PATH
cmake --install "$build" --prefix "$work/prefix" >/dev/null
prefix="$work/prefix"

echo "== find_package(rnnc)"
cmake -S "$here" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
"$work/cmake-build/consumer"
if [ -x "$work/cmake-build/consumer_static" ]; then
  "$work/cmake-build/consumer_static"
  if ldd "$work/cmake-build/consumer_static" | grep -q librnnc; then
    echo "consumer_static links librnnc.so, not librnnc.a"; exit 1
  fi
fi

echo "== pkg-config"
pcdir=$(dirname "$(find "$prefix" -name rnnc.pc | head -1)")
export PKG_CONFIG_PATH="$pcdir"
# A prefix off the loader's path: the program carries its own RUNPATH.
rpath="-Wl,-rpath,$(pkg-config --variable=libdir rnnc)"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "$here/consumer.c" -o "$work/consumer-pc" $(pkg-config --cflags --libs rnnc) "$rpath"
"$work/consumer-pc"
libdir=$(pkg-config --variable=libdir rnnc)
if [ -f "$libdir/librnnc.a" ]; then
  # librnnc.a with its dependencies from Requires.private / Libs.private.
  # shellcheck disable=SC2046
  cc -std=c11 -Wall -Werror "$here/consumer.c" -o "$work/consumer-pc-static" \
    $(pkg-config --cflags rnnc) $(pkg-config --static --libs rnnc | sed "s#-lrnnc#$libdir/librnnc.a#")
  "$work/consumer-pc-static"
fi

echo "== the examples, built with pkg-config"
case=$here/../fixtures/roundtrip
for ex in custom_loop fit predict custom_layer; do
  # shellcheck disable=SC2046
  cc -std=c11 -Wall -Wextra -Werror -pedantic "$here/../../examples/c/$ex.c" -o "$work/$ex-pc" \
    $(pkg-config --cflags --libs rnnc) -lm "$rpath"
done
(cd "$work" && ./custom_loop-pc >/dev/null && ./fit-pc fit.keras | tail -1 && ./custom_layer-pc)
# The same examples from the find_package build.
(cd "$work" && cmake-build/custom_loop >/dev/null && cmake-build/custom_layer && cmake-build/fit fit2.keras | tail -1)
"$work/predict-pc" "$case/func_chain.keras" "$case/func_chain_io.h5" "$case/func_chain_io.h5"
"$work/cmake-build/predict" "$case/func_chain.keras" "$case/func_chain_io.h5" "$case/func_chain_io.h5"

echo "== the installed program"
"$prefix/bin/rnnc" --version
echo "install check: find_package and pkg-config (shared and static) and the program work without LD_LIBRARY_PATH"
