#!/usr/bin/env bash
# check_layering.sh BUILD_DIR - which source file calls which, read from the
# built objects (nm), against rnnc's layering:
#   framework <- layers, optim <- io <- apps
# (an arrow: "is called by"; layers and optim do not call each other) and
# no pair of files that call each other among those once cyclic
# (optim/progress.c <-> optim/trainer.c, the CUDA allocator <-> context).
# Includes, read from the sources, follow the same layers, and no library
# part includes another's private header (*_internal.h; apps/, the rnnc
# program built in this tree, may).
set -euo pipefail
build=${1:?usage: check_layering.sh BUILD_DIR}
command -v nm >/dev/null || { echo "check_layering: nm not found: skipped"; exit 77; }
syms=$(mktemp)
trap 'rm -f "$syms"' EXIT
found=0
while IFS= read -r -d '' o; do
  rel=${o#*.dir/}
  rel=${rel%.o}
  case $rel in framework/*|layers/*|optim/*|io/*|apps/*) ;; *) continue ;; esac
  found=1
  nm "$o" | awk -v f="$rel" '$1 == "U" { print "U", f, $2 } NF == 3 && $2 ~ /^[TDBRC]$/ { print "D", f, $3 }'
done < <(find "$build/CMakeFiles" -path '*/rnnc_*.dir/*' -name '*.o' -print0) > "$syms"
[ "$found" = 1 ] || { echo "check_layering: no objects under $build/CMakeFiles (build first)"; exit 1; }

# caller callee, one line per pair of files
edges=$(awk 'NR == FNR { if ($1 == "D" && !($3 in own)) own[$3] = $2; next }
             $1 == "U" && ($3 in own) && own[$3] != $2 { print $2, own[$3] }' "$syms" "$syms" | sort -u)

status=0
rank() {
  case ${1%%/*} in framework) echo 0 ;; layers|optim) echo 1 ;; io) echo 2 ;; apps) echo 3 ;; esac
}
while read -r from to; do
  [ -n "$from" ] || continue
  df=${from%%/*} dt=${to%%/*}
  [ "$df" = "$dt" ] && continue
  rf=$(rank "$from") rt=$(rank "$to")
  if [ "$rt" -ge "$rf" ]; then
    syms_used=$(awk -v f="$from" -v t="$to" 'NR == FNR { if ($1 == "D") own[$3] = $2; next }
                $1 == "U" && $2 == f && own[$3] == t { printf " %s", $3 }' "$syms" "$syms")
    echo "check_layering: $from ($df) calls $to ($dt):$syms_used; $df may only call lower layers (framework <- layers, optim <- io <- apps)"
    status=1
  fi
done <<< "$edges"

# The same for #include, from the sources; and no library part includes
# another's private header (*_internal.h); the program (apps/) may.
src=$(cd "$(dirname "$0")/.." && pwd)
while IFS=: read -r file inc; do
  df=${file%%/*} dt=${inc%%/*}
  [ "$df" = "$dt" ] && continue
  if [ "$(rank "$inc")" -ge "$(rank "$file")" ]; then
    echo "check_layering: $file includes $inc; $df may only include lower layers (framework <- layers, optim <- io <- apps)"
    status=1
  fi
  case $df:$inc in apps:*) ;; *_internal.h)
    echo "check_layering: $file includes $inc, private to $dt"
    status=1 ;;
  esac
done < <(cd "$src" && grep -rHoE '#include "(framework|layers|optim|io|apps)/[^"]+"' framework layers optim io apps \
           --include='*.c' --include='*.h' --include='*.cu' | sed -E 's/#include "([^"]+)"/\1/')

for pair in "optim/progress.c optim/trainer.c" \
            "framework/backend/cuda/cuda_alloc.c framework/backend/cuda/cuda_context.c"; do
  set -- $pair
  if grep -qx "$1 $2" <<< "$edges" && grep -qx "$2 $1" <<< "$edges"; then
    echo "check_layering: $1 and $2 call each other; one of them must depend on the other only"
    status=1
  fi
done
[ "$status" = 0 ] && echo "check_layering: $(wc -l <<< "$edges") file-to-file call edges, layering kept"
exit $status
