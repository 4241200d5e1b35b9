#!/usr/bin/env bash
# Pack a device check's $OUT so that all of it comes back: the device tool returns at most 8 files.
# The JSON results and summary.txt stay as they are; every other file (logs, stdout, the kernel
# table) goes into logs.tar.gz. Usage: bash bench/device_pack.sh OUT
set -euo pipefail
out=${1:?usage: device_pack.sh OUT}
cd "$out"
shopt -s nullglob
rest=()
for f in *; do
  [ -f "$f" ] || continue
  case "$f" in *.json|summary.txt|logs.tar.gz) ;; *) rest+=("$f") ;; esac
done
if [ ${#rest[@]} -gt 0 ]; then
  tar czf logs.tar.gz "${rest[@]}" && rm -f "${rest[@]}"
fi
n=$(find . -maxdepth 1 -type f | wc -l)
[ "$n" -le 8 ] || echo "device_pack: $n files in $out; only 8 come back" >&2
