#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then compiles every
# installed header on its own (`#include <rnnc/X.h>` and nothing else) with
# -std=c11 -Wall -Wextra -Werror -pedantic and only the flags pkg-config
# gives, and checks that no internal header was installed.
# Usage: check_headers.sh BUILD_DIR
set -euo pipefail
build=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
inc="$work/prefix/include"
pcdir=$(dirname "$(find "$work/prefix" -name rnnc.pc | head -1)")
cflags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags rnnc)
fail=0
internal=$(cd "$inc/rnnc" && find . -name '*_internal.h' -o -name 'h5_util.h' -o -name 'legacy_h5.h' \
             -o -name '*_fused.h' -o -name 'cuda_api.h' -o -name '*_fused_impl.h' -o -name '*_rows.h' -o -path '*/cuda/*')
if [ -n "$internal" ]; then
  echo "internal headers installed: $internal"
  fail=1
fi
if grep -rl 'hdf5\.h\|cuda_runtime\|cudnn\.h' "$inc/rnnc"; then
  echo "installed headers above include another package's headers"
  fail=1
fi
n=0
while IFS= read -r h; do
  rel=${h#"$inc/"}
  printf '#include <%s>\nint rnnc_header_check_%d;\n' "$rel" "$n" >"$work/h$n.c"
  # shellcheck disable=SC2086
  if ! cc -std=c11 -Wall -Wextra -Werror -pedantic $cflags -fsyntax-only "$work/h$n.c" 2>"$work/h$n.err"; then
    echo "== $rel does not compile on its own:"
    cat "$work/h$n.err"
    fail=1
  fi
  n=$((n + 1))
done < <(find "$inc/rnnc" -name '*.h' | sort)
# rnnc.h is the whole public API: it includes every other installed header.
while IFS= read -r rel; do
  grep -q "#include \"$rel\"" "$inc/rnnc/rnnc.h" || { echo "rnnc.h does not include $rel (add it there; an internal header is named *_internal.h and not installed)"; fail=1; }
done < <(cd "$inc/rnnc" && find . -name '*.h' ! -name rnnc.h | sed 's#^\./##' | sort)
[ "$n" -gt 40 ] || { echo "only $n headers installed"; fail=1; }
[ "$fail" -eq 0 ] && echo "header check: $n installed headers compile on their own"
exit "$fail"
