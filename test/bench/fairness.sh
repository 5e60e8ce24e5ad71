#!/usr/bin/env bash
# Fairness under a slow disk (issue 13): does one client's listing make the others wait?
#
# For each delay (default 0, 1 and 5 ms per metadata call) the fixtures are served through
# test/bench/slowfs/slowfs.py (a FUSE passthrough that sleeps in every metadata call, caches off)
# by fastdav (this tree's dist/) and Apache mod_dav, one after the other, and test/bench/fairness.mjs
# measures for each: GET of a 4 KiB file p50/p99 alone, the same while 1 and while 4 other clients
# list a 1,000-file folder (PROPFIND Depth 1, allprop) in a loop, and the listing time.
#
#   bash test/bench/fairness.sh [--ms "0 1 5"] [--seconds 10] [--ab REF] [--targets fastdav,apache]
#                               [--workers N] [--fastdav-arg ARG]...
#
#   --ab REF     also measure the fastdav of git REF (built in a temporary folder) as fastdav-REF
#   --seconds S  length of each measured phase (default 10; plus 1 s warm-up)
#
# Report: test/bench/results/fairness-<date>/report.md (+ raw.jsonl). Needs root (FUSE allow_other;
# Apache switches to www-data), fusermount3 (fuse3), Debian's python3-fusepy and apache2; it says
# which is missing. Everything binds 127.0.0.1 on free ports; every process it starts is stopped
# by its PID at the end and the mount is removed.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/test/bench
MS_LIST="0 1 5" SECONDS_PER_PHASE=10 AB_REF="" TARGETS=fastdav,apache WORKERS=1
FASTDAV_ARGS=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --ms) MS_LIST=$2; shift 2 ;;
    --seconds) SECONDS_PER_PHASE=$2; shift 2 ;;
    --ab) AB_REF=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --fastdav-arg) FASTDAV_ARGS+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
log() { printf '%s fairness.sh: %s\n' "$(date +%T)" "$*" >&2; }
want() { [[ ,$TARGETS, == *",$1,"* ]]; }

# ------------------------------------------------------------------ requirements, said plainly
[[ $(id -u) == 0 ]] || { log "needs root (FUSE allow_other, Apache as www-data)"; exit 2; }
command -v fusermount3 >/dev/null || { log "fusermount3 missing: apt-get install fuse3"; exit 2; }
/usr/bin/python3 -c 'import fusepy' 2>/dev/null || { log "python3-fusepy missing: apt-get install python3-fusepy"; exit 2; }
if want apache; then command -v apache2 >/dev/null || { log "apache2 missing: apt-get install apache2"; exit 2; }; fi
[[ -f $REPO/dist/cli.js ]] || { log "dist/cli.js missing: run npm run build"; exit 2; }

# ------------------------------------------------------------------ cleanup (always, by PID)
WORK=$(mktemp -d /tmp/fastdav-fairness.XXXXXX)
chmod 755 "$WORK"   # Apache (www-data) walks through it to the mount
SRC=$WORK/src MNT=$WORK/mnt
PIDS=() FUSE_PID=""
stop_pid() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$1" 2>/dev/null && kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null || true
}
unmount() {
  if mountpoint -q "$MNT"; then
    for _ in $(seq 20); do fusermount3 -u "$MNT" 2>/dev/null && break; sleep 0.25; done
    mountpoint -q "$MNT" && fusermount3 -uz "$MNT"
  fi
  if [[ -n $FUSE_PID ]]; then stop_pid "$FUSE_PID"; FUSE_PID=""; fi
}
cleanup() {
  local rc=$? pid
  set +e
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  unmount
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
. "$HERE/lib.sh"   # wait_http

# ------------------------------------------------------------------ fixtures (local disk)
mkdir -p "$SRC/big" "$MNT"
head -c 4096 /dev/urandom >"$SRC/small.bin"
for i in $(seq -w 1 1000); do printf 'file %s\n' "$i" >"$SRC/big/f$i.txt"; done
chmod -R a+rX "$SRC"

# ------------------------------------------------------------------ builds
declare -A DIST=([fastdav]=$REPO/dist)
NAMES=()
want fastdav && NAMES+=(fastdav)
if [[ -n $AB_REF ]]; then
  AB_DIR=$WORK/ab
  mkdir -p "$AB_DIR"
  git -C "$REPO" archive "$AB_REF" | tar -x -C "$AB_DIR"
  ln -s "$REPO/node_modules" "$AB_DIR/node_modules"
  (cd "$AB_DIR" && "$REPO/node_modules/.bin/tsc" -p tsconfig.json)
  DIST[fastdav-$AB_REF]=$AB_DIR/dist
  NAMES+=("fastdav-$AB_REF")
fi
want apache && NAMES+=(apache)

start_fastdav() { # name port -> pid in SERVER_PID
  local meta=$WORK/meta-$1
  rm -rf "$meta"; mkdir -p "$meta"
  NODE_ENV=production node "${DIST[$1]}/cli.js" --root "$MNT" --metadata-dir "$meta" --host 127.0.0.1 --port "$2" \
    --log-level warn --workers "$WORKERS" "${FASTDAV_ARGS[@]}" </dev/null >"$WORK/$1.log" 2>&1 &
  SERVER_PID=$!
}
start_apache() { # port: mod_dav + mod_dav_fs on the mount, event MPM, as www-data
  local st=$WORK/apache M=/usr/lib/apache2/modules
  rm -rf "$st"; mkdir -p "$st/lock"; chown www-data:www-data "$st/lock"
  cat >"$st/httpd.conf" <<CONF
ServerRoot "$st"
ServerName 127.0.0.1
Listen 127.0.0.1:$1
PidFile "$st/httpd.pid"
DefaultRuntimeDir "$st"
ErrorLog "$st/error.log"
LogLevel warn
Mutex file:$st default
User www-data
Group www-data
LoadModule mpm_event_module $M/mod_mpm_event.so
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule mime_module $M/mod_mime.so
LoadModule dav_module $M/mod_dav.so
LoadModule dav_fs_module $M/mod_dav_fs.so
TypesConfig /etc/mime.types
DAVLockDB "$st/lock/DAVLock"
DocumentRoot "$MNT"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "$MNT">
    Dav On
    Options None
    AllowOverride None
    Require all granted
</Directory>
CONF
  apache2 -f "$st/httpd.conf" -DFOREGROUND </dev/null >"$st/server.log" 2>&1 &
  SERVER_PID=$!
}

# ------------------------------------------------------------------ run
ID=$(date +%Y%m%d-%H%M%S)
OUT=$REPO/test/bench/results/fairness-$ID
mkdir -p "$OUT"
RAW=$OUT/raw.jsonl
for ms in $MS_LIST; do
  log "mounting slowfs at $ms ms per metadata call"
  setsid "$HERE/slowfs/slowfs.py" "$SRC" "$MNT" "$ms" </dev/null >>"$WORK/slowfs.log" 2>&1 &
  FUSE_PID=$!
  for _ in $(seq 100); do mountpoint -q "$MNT" && break; sleep 0.1; done
  mountpoint -q "$MNT" || { log "slowfs did not mount:"; cat "$WORK/slowfs.log" >&2; exit 3; }
  for name in "${NAMES[@]}"; do
    port=$(free_port)
    if [[ $name == apache ]]; then start_apache "$port"; else start_fastdav "$name" "$port"; fi
    PIDS+=("$SERVER_PID")
    wait_http "http://127.0.0.1:$port/small.bin" "$SERVER_PID"
    for listers in 0 1 4; do
      log "$name, $ms ms, $listers listers"
      line=$(node "$HERE/fairness.mjs" --url "http://127.0.0.1:$port" --get /small.bin --list /big/ \
        --listers "$listers" --seconds "$SECONDS_PER_PHASE")
      echo "{\"target\":\"$name\",\"ms\":$ms,${line#\{}" | tee -a "$RAW" >&2
    done
    stop_pid "$SERVER_PID"
    unset 'PIDS[-1]'
  done
  unmount
done

# ------------------------------------------------------------------ report
node - "$RAW" "$OUT/report.md" "$SECONDS_PER_PHASE" <<'JS'
const fs = require('node:fs');
const [raw, out, secs] = process.argv.slice(2);
const rows = fs.readFileSync(raw, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const f = (x) => (x == null ? '–' : x < 10 ? x.toFixed(1) : Math.round(x).toLocaleString('en'));
const key = (r) => `${r.ms}|${r.target}`;
const groups = new Map();
for (const r of rows) { if (!groups.has(key(r))) groups.set(key(r), {}); groups.get(key(r))[r.listers] = r; }
const lines = [
  `GET of a 4 KiB file (ms) alone and while 1 / 4 clients list a 1,000-file folder (PROPFIND Depth 1), ${secs} s per phase;`,
  'listing time (ms, median) with 1 / 4 listers; "t/o": GETs over 5 s.',
  '',
  '| delay | server | GET p50 / p99 alone | 1 lister p50 / p99 | 4 listers p50 / p99 | p99 ratio 4 listers / alone | t/o | listing 1 / 4 |',
  '|--:|---|--:|--:|--:|--:|--:|--:|',
];
for (const g of groups.values()) {
  const a = g[0], b = g[1], c = g[4];
  const pair = (r) => (r ? `${f(r.get_p50)} / ${f(r.get_p99)}` : '–');
  const to = [a, b, c].reduce((s, r) => s + (r ? r.timeouts : 0), 0);
  const ratio = a && c && a.get_p99 && c.get_p99 ? (c.get_p99 / a.get_p99).toFixed(1) + '×' : '–';
  lines.push(`| ${a?.ms ?? b?.ms} ms | ${(a ?? b).target} | ${pair(a)} | ${pair(b)} | ${pair(c)} | ${ratio} | ${to} | ${f(b?.list_p50)} / ${f(c?.list_p50)} |`);
}
fs.writeFileSync(out, lines.join('\n') + '\n');
console.log(lines.join('\n'));
JS
log "report: $OUT/report.md"
