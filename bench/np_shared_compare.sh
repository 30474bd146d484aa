#!/usr/bin/env bash
# demos/np_shared against the same pipeline in Python (bench/np_shared.py), end to end,
# interleaved: ROUNDS rounds of (shmpool, Python) at ROWS x COLS; prints both medians and the
# ratio. Usage: bench/np_shared_compare.sh [BUILD_DIR] [ROUNDS] [ROWS] [COLS]
# With SHM_DIR=DIR in the environment both sides keep their array in DIR instead of /dev/shm
# (shmpool through SHMPOOL_SHM_DIR, Python through --shm-dir): for instance a tmpfs mounted
# with huge=within_size, to measure what 2 MiB pages change.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:-$here/../build/release}"
rounds="${2:-5}" rows="${3:-10000}" cols="${4:-8000}"
python=/usr/bin/python3
py_args=() where=/dev/shm
if [[ -n "${SHM_DIR:-}" ]]; then
    export SHMPOOL_SHM_DIR="$SHM_DIR"
    py_args=(--shm-dir "$SHM_DIR") where="$SHM_DIR"
fi
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
shm=() py=()
for ((i = 0; i < rounds; i++)); do
    start=$(date +%s.%N)
    "$build/demos/np_shared" --rows "$rows" --cols "$cols" > /dev/null
    shm+=("$(echo "$(date +%s.%N) - $start" | bc -l)")
    start=$(date +%s.%N)
    "$python" "$here/np_shared.py" --rows "$rows" --cols "$cols" "${py_args[@]}" > /dev/null
    py+=("$(echo "$(date +%s.%N) - $start" | bc -l)")
done
s=$(printf '%s\n' "${shm[@]}" | median)
p=$(printf '%s\n' "${py[@]}" | median)
printf 'np_shared %sx%s in %s, %s rounds, end to end (process start to exit), medians:\n' \
    "$rows" "$cols" "$where" "$rounds"
printf '  shmpool demos/np_shared   %8.3f s   (runs: %s)\n' "$s" "${shm[*]}"
printf '  Python bench/np_shared.py %8.3f s   (runs: %s)\n' "$p" "${py[*]}"
printf '  ratio (Python / shmpool)  %8.1fx   (target >= 10x)\n' "$(echo "$p / $s" | bc -l)"
