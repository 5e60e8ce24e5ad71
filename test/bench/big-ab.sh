#!/usr/bin/env bash
# Same-run A/B of the 1 GiB GET and PUT: two builds on the bench fixtures, curl alternating
# between them (each PUT replaces the previous upload, whose pages it then reuses, as bench.sh does).
#   test/bench/big-ab.sh DIST_A DIST_B [ROUNDS] [ROOT]
set -euo pipefail
A=$1 B=$2 N=${3:-8} ROOT=${4:-/mnt/webdav-bench/fastdav}
SRC=$ROOT/bench/big/1g.bin
NODE_ENV=production node "$A/cli.js" --root "$ROOT" --port 18466 --log-level warn >/dev/null & PA=$!
NODE_ENV=production node "$B/cli.js" --root "$ROOT" --port 18467 --log-level warn >/dev/null & PB=$!
trap 'kill $PA $PB 2>/dev/null; wait 2>/dev/null; rm -f "$ROOT/perf-ab-put.bin"' EXIT
for p in 18466 18467; do for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$p/ && break; sleep 0.1; done; done
cat "$SRC" >/dev/null
ga=() gb=() pa=() pb=()
for ((i = 0; i < N; i++)); do
  for p in $( ((i % 2)) && echo "18467 18466" || echo "18466 18467"); do
    g=$(curl -s -o /dev/null -w '%{speed_download}' http://127.0.0.1:$p/bench/big/1g.bin)
    u=$(curl -s -o /dev/null -H 'Expect:' -w '%{speed_upload}' -T "$SRC" http://127.0.0.1:$p/perf-ab-put.bin)
    if [[ $p == 18466 ]]; then ga+=("$g"); pa+=("$u"); else gb+=("$g"); pb+=("$u"); fi
  done
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.0f", a[int((NR+1)/2)] / 1e6}'; }
echo "GET 1 GiB MB/s, median of $N: A $(med "${ga[@]}")  B $(med "${gb[@]}")"
echo "PUT 1 GiB MB/s, median of $N: A $(med "${pa[@]}")  B $(med "${pb[@]}")"
