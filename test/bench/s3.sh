#!/usr/bin/env bash
# `bash test/bench/s3.sh [OPTIONS]`: issue 10's object-storage speed rows in one run, fastdav in
# object-storage mode beside fastdav on the filesystem and nginx dav (test/bench/object-storage.ts
# does the work; this script builds, runs it and keeps the report).
#
#   1. builds dist/ (the servers run as their own processes: node dist/cli.js)
#   2. starts PostgreSQL 15 and a single-node Ceph with radosgw on memstore through the project's
#      test helpers (test/helpers/postgres.ts, rgw.ts), nginx with the dav-ext module
#      (test/helpers/nginx.ts), fastdav in object-storage mode and fastdav on a folder that nginx
#      serves too; every one on free loopback ports, stopped by PID at the end
#   3. measures: PROPFIND Depth 1 of 10,000 files (all three), COPY/MOVE/DELETE of the 2,000-file
#      tree (both fastdavs), PUT/GET of 1 GiB through fastdav against a plain S3 client (AWS SDK
#      Upload/GetObject) on the same radosgw, and the fastdav process's RSS growth during the PUT
#   4. writes report.md (with the load averages) and summary.json into
#      test/bench/results/s3-<date>/ and prints the report
#
# Options:
#   --bytes N        size of the bulk PUT/GET (default 1073741824 = 1 GiB)
#   --bulk-reps N    PUT/GET repetitions, interleaved with the plain client's (default 3)
#   --pf-reps N      PROPFIND samples per server, the servers taking turns (default 5)
#   --pf-warmup N    PROPFINDs per server before the counted ones (default 5)
#   --tree-reps N    COPY/MOVE/DELETE rounds (default 5)
#   --out DIR        where to write the report (default test/bench/results/s3-<date>)
#
# Needs: postgresql-15, ceph-mon, ceph-osd, radosgw, nginx and libnginx-mod-http-dav-ext (root,
# as the test helpers do). About 5 minutes with 1 GiB on a 2-core machine.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT="$REPO/test/bench/results/s3-$(date +%Y%m%d-%H%M%S)"
while [[ $# -gt 0 ]]; do
  case $1 in
    --bytes) export BENCH_BYTES=$2; shift 2 ;;
    --bulk-reps) export BENCH_BULK_REPS=$2; shift 2 ;;
    --pf-reps) export BENCH_PF_REPS=$2; shift 2 ;;
    --pf-warmup) export BENCH_PF_WARMUP=$2; shift 2 ;;
    --tree-reps) export BENCH_TREE_REPS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "s3.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -f /usr/lib/nginx/modules/ngx_http_dav_ext_module.so ]] || { echo "s3.sh: nginx's dav-ext module is missing (apt-get install libnginx-mod-http-dav-ext)" >&2; exit 2; }
cd "$REPO"
npx tsc -p tsconfig.json
mkdir -p "$OUT"
echo "s3.sh: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); report in $OUT" >&2
# No time limit: a 1 GiB round on a busy machine takes minutes. The full TAP output stays beside the report.
BENCH_OUT=$OUT npx tap --timeout=0 --reporter=tap test/bench/object-storage.ts >"$OUT/tap.txt" 2>&1 || { tail -40 "$OUT/tap.txt" >&2; exit 1; }
printf '\nBuild: %s%s\n' "$(git rev-parse --short HEAD)" "$(git diff --quiet HEAD -- src || echo ' with uncommitted changes in src/')" >>"$OUT/report.md"
cat "$OUT/report.md"
