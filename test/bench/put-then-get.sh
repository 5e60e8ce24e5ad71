#!/usr/bin/env bash
# `bash test/bench/put-then-get.sh FIXTURE.json [DIST] [ROUNDS]`: the collector's cost on a GET that
# follows big PUTs (test/bench/NOTES.md, "the collector"). On the engines of s3-fixture.ts (give
# it BENCH_MEMSTORE_BYTES=8589934592 for room), one fastdav from DIST (default dist) under
# node --trace-gc, ROUNDS times (default 1): two 1 GiB PUTs, then three GETs of the second file,
# each with the server's CPU seconds (/proc) and the number of full collections (Mark-Compact)
# it ran; the files are deleted and `fastdav gc --grace 0` empties the bucket after each round.
# NODE_FLAGS adds node flags (e.g. --heap-growing-percent=0 for V8's own choice).
set -euo pipefail
fixture=${1:?usage: put-then-get.sh FIXTURE.json [DIST] [ROUNDS]}
dist=${2:-dist}
rounds=${3:-1}
export $(jq -r '.env|to_entries[]|"\(.key)=\(.value)"' "$fixture")
read -r -a args < <(jq -r '.args|join(" ")' "$fixture")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c $((1024 * 1024 * 1024)) /dev/urandom > "$work/1g.bin"
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
tick=$(getconf CLK_TCK)

for round in $(seq "$rounds"); do
  # shellcheck disable=SC2086
  node --trace-gc ${NODE_FLAGS:-} "$dist/cli.js" "${args[@]}" --host 127.0.0.1 --port "$port" --log-level warn > "$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  cpu() { awk -v t="$tick" '{printf "%.2f", ($14 + $15) / t}' "/proc/$pid/stat"; }
  collections() { grep -c 'Mark-Compact' "$work/server.log" || true; }
  for n in 1 2; do
    curl -s -o /dev/null -w "round $round: PUT $n %{http_code} %{time_total} s\n" -T "$work/1g.bin" "http://127.0.0.1:$port/put-then-get-$n.bin"
  done
  for g in 1 2 3; do
    c0=$(cpu); m0=$(collections)
    rate=$(curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$port/put-then-get-2.bin")
    c1=$(cpu); m1=$(collections)
    echo "round $round: GET $g $((${rate%.*} / 1048576)) MiB/s, $(echo "$c1 - $c0" | bc) CPU s, $((m1 - m0)) full collections"
  done
  grep -E 'VmHWM' "/proc/$pid/status" | sed "s/^/round $round: /"
  for n in 1 2; do curl -s -o /dev/null -X DELETE "http://127.0.0.1:$port/put-then-get-$n.bin"; done
  kill "$pid"; wait "$pid" || true
  node "$dist/cli.js" gc --grace 0 "${args[@]}" | tail -1
done
