#!/usr/bin/env bash
# `npm run bench [-- OPTIONS]`: fastdav against the reference WebDAV servers in one run of the shared
# harness (../shared/bench/bench.sh), on its scratch journaled ext4, report in test/bench/results/.
#
#   1. bench.sh fs-up (unless /mnt/webdav-bench is already mounted: then it is used and left mounted)
#   2. fixtures (bench.sh prepare) into one docroot per server on that filesystem
#   3. starts the peers (bench selftest/peers.sh: Apache mod_dav :18201, nginx dav :18202,
#      static nginx :18203 = the limit, rclone :18204) and fastdav (built dist/, NODE_ENV=production,
#      locking on, dead properties on as always, :18460); for the several-instances rows a private
#      PostgreSQL 15 (:18470, default durability) with fastdav-pg (one instance, same --workers,
#      :18462) and fastdav-cluster (three one-worker instances :18463-18465 on one folder behind
#      HAProxy :18466, docker/haproxy.cfg on loopback ports)
#   4. bench.sh run on all of them; report.md, raw.jsonl, summary.json, meta.json into
#      test/bench/results/run-<id>/
#   5. with fastdav-pg: the PostgreSQL round trips of each method (test/bench/db-round-trips.mjs,
#      statement log switched on after the run) into db-round-trips.md beside the report
#   6. stops every process it started, by PID, and runs bench.sh fs-down if it mounted the filesystem
#
# Options of this script (everything else goes to bench.sh run: --quick, --only get4k,pf10k, --reps 5, ...):
#   --targets LIST    servers to run (default fastdav,fastdav-pg,fastdav-cluster,apache,nginx-dav,rclone,nginx-static;
#                     fastdav-pg and fastdav-cluster need root, postgresql-15 and haproxy)
#   --workers N       fastdav --workers (default: FASTDAV_WORKERS or 2, one per core on the bench box)
#   --ab REF          also run the fastdav of git REF (built in a temporary folder) as target fastdav-REF,
#                     for same-run A/B comparisons of a change
#   --ab-workers N    --workers of that second fastdav (default: as the first; with --ab HEAD this
#                     compares worker counts)
#   --keep-fs         leave the scratch filesystem mounted at the end (faster repeated runs)
#   --fastdav-arg A   extra argument for fastdav (repeatable), e.g. --fastdav-arg --log-level=info
#   --pg-conf LINE    extra postgresql.conf line for the benchmark's PostgreSQL (repeatable),
#                     e.g. --pg-conf synchronous_commit=off to see what waiting for the WAL flush costs
#   --pg-cpu N        PostgreSQL alone on CPU N, everything else (servers, load generators, this
#                     script) on the other CPUs: the database on a host of its own, as in production,
#                     so that the rows compare what a round trip costs the server, not the CPU time
#                     PostgreSQL takes from it (on a 2-core box use it with --workers 1)
#
# Root: fs-up/fs-down (mount, losetup) and the peers (Apache and nginx switch to www-data) need it,
# as they do for bench.sh. Without root the run uses a folder under /tmp and measures fastdav alone.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=${FASTDAV_BENCH_HARNESS:-$REPO/../shared/bench}
[[ -x $SHARED/bench.sh ]] || SHARED=/work/shared/bench
BENCH=$SHARED/bench.sh
PEERS=$SHARED/selftest/peers.sh
FSMNT=${BENCH_FS:-/mnt/webdav-bench}
FASTDAV_PORT=18460
AB_PORT=18461

TARGETS=fastdav,fastdav-pg,fastdav-cluster,apache,nginx-dav,rclone,nginx-static
PG_BIN=/usr/lib/postgresql/15/bin PG_PORT=18470 PG_PORT_FASTDAV=18462 CLUSTER_PORTS=(18463 18464 18465) HAPROXY_PORT=18466
WORKERS=${FASTDAV_WORKERS:-2}
AB_REF="" AB_WORKERS="" KEEP_FS=0 PG_CPU=""
FASTDAV_ARGS=() PG_CONF=() PASS=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --targets) TARGETS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --ab) AB_REF=$2; shift 2 ;;
    --ab-workers) AB_WORKERS=$2; shift 2 ;;
    --keep-fs) KEEP_FS=1; shift ;;
    --fastdav-arg) FASTDAV_ARGS+=("$2"); shift 2 ;;
    --pg-conf) PG_CONF+=("$2"); shift 2 ;;
    --pg-cpu) PG_CPU=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) PASS+=("$1"); shift ;;
  esac
done
if [[ -n $PG_CPU ]]; then
  # This script and everything it starts stay off PostgreSQL's CPU (children inherit the affinity).
  OTHER_CPUS=$(seq 0 $(($(nproc) - 1)) | grep -vx "$PG_CPU" | paste -sd, -)
  [[ -n $OTHER_CPUS ]] || { echo "run.sh: --pg-cpu needs a machine with more than one CPU" >&2; exit 2; }
  taskset -pc "$OTHER_CPUS" $$ >/dev/null
fi
want() { [[ ,$TARGETS, == *",$1,"* ]]; }
log() { printf '%s run.sh: %s\n' "$(date +%T)" "$*" >&2; }

[[ -f $REPO/dist/cli.js ]] || { log "dist/cli.js missing: run npm run build (npm run bench does)"; exit 2; }
for tool in wrk curl; do command -v $tool >/dev/null || { log "$tool is missing (Debian: apt-get install $tool)"; exit 2; }; done

# ------------------------------------------------------------------ cleanup (always, by PID)
PIDS=() MOUNTED=0 PEERS_UP=0 AB_DIR="" PG_STATE=""
cleanup() {
  local rc=$? pid
  set +e
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "pid $pid ignored TERM, sending KILL"; kill -KILL "$pid"; }
    wait "$pid" 2>/dev/null
  done
  if [[ $PEERS_UP == 1 ]]; then "$PEERS" stop >&2; fi
  if [[ -n $PG_STATE ]]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_STATE/data" -m fast -w stop >/dev/null 2>&1
    rm -rf "$PG_STATE"
  fi
  if [[ -n $AB_DIR ]]; then rm -rf "$AB_DIR"; fi
  if [[ $MOUNTED == 1 && $KEEP_FS == 0 ]]; then "$BENCH" fs-down; fi
  exit $rc
}
trap 'log "failed: line $LINENO: $BASH_COMMAND"' ERR
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# ------------------------------------------------------------------ scratch filesystem
if [[ $(id -u) == 0 ]]; then
  if ! mountpoint -q "$FSMNT"; then "$BENCH" fs-up; MOUNTED=1; fi
  BASE=$FSMNT
else
  # The peers script starts Apache and nginx (which switch to www-data) along with rclone.
  log "not root: no scratch filesystem (bench.sh fs-up mounts), no peers (selftest/peers.sh switches users), no PostgreSQL: fastdav only"
  TARGETS=$(tr ',' '\n' <<<"$TARGETS" | grep -E '^fastdav$' | paste -sd, -)
  BASE=${TMPDIR:-/tmp}/fastdav-bench-$(id -u)
  mkdir -p "$BASE"
fi
if { want fastdav-pg || want fastdav-cluster; } && { [[ ! -x $PG_BIN/postgres ]] || ! command -v haproxy >/dev/null; }; then
  log "postgresql-15 or haproxy missing (apt-get install postgresql-15 haproxy): no fastdav-pg, fastdav-cluster"
  TARGETS=$(tr ',' '\n' <<<"$TARGETS" | grep -vE '^fastdav-(pg|cluster)$' | paste -sd, -)
fi
export PEERS_BASE=$BASE/peers
FASTDAV_ROOT=$BASE/fastdav
mkdir -p "$FASTDAV_ROOT" "$PEERS_BASE/root/apache" "$PEERS_BASE/root/nginx" "$PEERS_BASE/root/rclone"

# ------------------------------------------------------------------ targets file
TARGETS_FILE=$BASE/targets.txt
{
  if want fastdav; then echo "fastdav http://127.0.0.1:$FASTDAV_PORT/ $FASTDAV_ROOT pidfile=$BASE/fastdav.pid"; fi
  if want fastdav-pg; then echo "fastdav-pg http://127.0.0.1:$PG_PORT_FASTDAV/ $BASE/fastdav-pg pidfile=$BASE/fastdav-pg.pid"; fi
  if want fastdav-cluster; then echo "fastdav-cluster http://127.0.0.1:$HAPROXY_PORT/ $BASE/fastdav-cluster"; fi
  if [[ -n $AB_REF ]]; then echo "fastdav-$AB_REF${AB_WORKERS:+-w$AB_WORKERS} http://127.0.0.1:$AB_PORT/ $BASE/fastdav-ab pidfile=$BASE/fastdav-ab.pid"; fi
  "$PEERS" targets | grep -v '^#' | while read -r name rest; do if want "$name"; then echo "$name $rest"; fi; done
} >"$TARGETS_FILE"
if [[ -n $AB_REF ]]; then mkdir -p "$BASE/fastdav-ab"; fi
mkdir -p "$BASE/fastdav-pg" "$BASE/fastdav-cluster"
log "targets: $(cut -d' ' -f1 "$TARGETS_FILE" | paste -sd' ')"

# Fixtures before any server starts: rclone caches directory listings.
# (bench.sh prepare exits 1 when the last target has no owner=, so check the fixtures instead)
"$BENCH" prepare -f "$TARGETS_FILE" || true
while read -r _ _ root _; do
  [[ -f $root/bench/.fixture-v1 ]] || { log "fixtures missing in $root"; exit 1; }
done <"$TARGETS_FILE"
# rclone drops the pages of every file it reads from the page cache (fadvise DONTNEED). With the
# fixtures hardlinked, those are everyone's pages: whoever follows rclone in the rotation (always
# the same target) then reads the 2,000-file tree or the 1 GiB file from disk (COPY: 0.07-0.13 s
# warm, 0.33-0.38 s after rclone). rclone gets its own copy, so it only evicts its own pages.
if want rclone; then
  rc_root=$PEERS_BASE/root/rclone
  if [[ $(stat -c %h "$rc_root/bench/big/1g.bin") != 1 ]]; then
    log "giving rclone its own copy of the fixtures (not hardlinks)"
    if [[ -n ${BENCH_WORK:-} ]]; then master=$BENCH_WORK/master
    elif mountpoint -q "$FSMNT"; then master=$FSMNT/work/master
    else master=/tmp/webdav-bench-work/master; fi
    rm -rf "$rc_root/bench" && cp -a "$master/bench" "$rc_root/bench"
  fi
fi

# ------------------------------------------------------------------ servers
. "$REPO/test/bench/lib.sh"   # wait_http
start_fastdav() { # dist-dir root port pidfile logfile workers [more fastdav arguments]
  rm -rf "$2/.fastdav" # fresh metadata store each run
  local extra=("${FASTDAV_ARGS[@]}" "${@:7}")
  # (an --ab build from before the workers setting has no such flag)
  if [[ -n $6 ]] && grep -q "'workers'" "$1/config.js"; then extra+=(--workers "$6"); fi
  NODE_ENV=production node "$1/cli.js" --root "$2" --host 127.0.0.1 --port "$3" --log-level warn "${extra[@]}" \
    </dev/null >"$5" 2>&1 &
  local pid=$!
  PIDS+=("$pid"); echo "$pid" >"$4"
  wait_http "http://127.0.0.1:$3/" "$pid"
  log "fastdav $1 up on :$3 (pid $pid, ${6:-1} workers)"
}

if want apache || want nginx-dav || want nginx-static || want rclone; then
  PEERS_UP=1
  "$PEERS" start >&2
fi
if want fastdav; then start_fastdav "$REPO/dist" "$FASTDAV_ROOT" $FASTDAV_PORT "$BASE/fastdav.pid" "$BASE/fastdav.log" "$WORKERS"; fi

# PostgreSQL 15 for fastdav-pg and fastdav-cluster: initdb in a private folder, run as postgres,
# loopback only, durability as shipped (fsync and synchronous_commit on); a database for each.
pg_up() {
  PG_STATE=$(mktemp -d /tmp/fastdav-bench-pg.XXXXXX)
  chown postgres:postgres "$PG_STATE"; chmod 700 "$PG_STATE"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_STATE/data" -U postgres -E UTF8 --locale=C --auth-local=trust --auth-host=trust >"$PG_STATE/initdb.log"
  printf '%s\n' "listen_addresses = '127.0.0.1'" "port = $PG_PORT" "unix_socket_directories = '$PG_STATE'" \
    "max_connections = 100" "log_line_prefix = '%d '" "${PG_CONF[@]}" >>"$PG_STATE/data/postgresql.conf"
  ${PG_CPU:+taskset -c "$PG_CPU"} runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_STATE/data" -l "$PG_STATE/postgres.log" -w start >/dev/null
  local db
  for db in fastdav_pg fastdav_cluster; do
    runuser -u postgres -- "$PG_BIN/psql" -h "$PG_STATE" -p $PG_PORT -U postgres -qAt -c "CREATE DATABASE $db" >/dev/null
  done
  log "postgres up on :$PG_PORT ($PG_STATE)"
}
pg_url() { echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"; }
# HAProxy with the documented configuration (docker/haproxy.cfg) on loopback ports, without its access log.
haproxy_up() { # port backend-ports...
  local port=$1 cfg=$BASE/haproxy.cfg pid; shift
  awk -v port="$port" -v backends="$*" '
    /^resolvers /{skip=1; next} /^[^ \t]/{skip=0} skip{next}
    /^ +bind :8080$/{print "    bind 127.0.0.1:" port; next}
    /^ +default-server /{sub(/ resolvers docker init-addr [^ ]+/, ""); print; next}
    /^ +server /{ if (!done) { n=split(backends, b, " "); for (i=1;i<=n;i++) print "    server s" i " 127.0.0.1:" b[i]; done=1 } next }
    /^ +(log stdout|option httplog)/{next}
    {print}' "$REPO/docker/haproxy.cfg" >"$cfg"
  haproxy -c -q -f "$cfg"
  haproxy -db -f "$cfg" </dev/null >"$BASE/haproxy.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_http "http://127.0.0.1:$port/.well-known/fastdav/health" "$pid"
  log "haproxy up on :$port in front of $*"
}
if want fastdav-pg || want fastdav-cluster; then pg_up; fi
if want fastdav-pg; then
  start_fastdav "$REPO/dist" "$BASE/fastdav-pg" $PG_PORT_FASTDAV "$BASE/fastdav-pg.pid" "$BASE/fastdav-pg.log" "$WORKERS" --metadata-url "$(pg_url fastdav_pg)"
fi
if want fastdav-cluster; then
  for p in "${CLUSTER_PORTS[@]}"; do
    start_fastdav "$REPO/dist" "$BASE/fastdav-cluster" "$p" "$BASE/fastdav-cluster-$p.pid" "$BASE/fastdav-cluster-$p.log" 1 --metadata-url "$(pg_url fastdav_cluster)"
  done
  haproxy_up $HAPROXY_PORT "${CLUSTER_PORTS[@]}"
fi
if [[ -n $AB_REF ]]; then
  AB_DIR=$(mktemp -d /tmp/fastdav-ab.XXXXXX)
  git -C "$REPO" archive "$AB_REF" | tar -x -C "$AB_DIR"
  ln -s "$REPO/node_modules" "$AB_DIR/node_modules"
  (cd "$AB_DIR" && "$REPO/node_modules/.bin/tsc" -p tsconfig.json)
  start_fastdav "$AB_DIR/dist" "$BASE/fastdav-ab" $AB_PORT "$BASE/fastdav-ab.pid" "$BASE/fastdav-ab.log" "${AB_WORKERS:-$WORKERS}"
fi

# ------------------------------------------------------------------ run
ID=$(date +%Y%m%d-%H%M%S)
OUT=$REPO/test/bench/results/run-$ID
log "bench.sh run ${PASS[*]} -> $OUT"
"$BENCH" run -f "$TARGETS_FILE" --out "$OUT" --title "fastdav $(git -C "$REPO" describe --always --dirty) vs peers${PG_CPU:+ (PostgreSQL alone on CPU $PG_CPU, the rest on CPU $OTHER_CPUS)}" "${PASS[@]}"
log "report: $OUT/report.md"

if want fastdav-pg; then
  # Every statement logged (switched on only now, so the run itself was not slowed by it).
  runuser -u postgres -- "$PG_BIN/psql" -h "$PG_STATE" -p $PG_PORT -U postgres -qAt \
    -c "ALTER SYSTEM SET log_statement = 'all'" -c "SELECT pg_reload_conf()" >/dev/null
  node "$REPO/test/bench/db-round-trips.mjs" "http://127.0.0.1:$PG_PORT_FASTDAV/" "$(pg_url fastdav_pg)" "$PG_STATE/postgres.log" fastdav_pg "$OUT/db-round-trips.md" >&2 \
    || log "db-round-trips.mjs failed"
fi
