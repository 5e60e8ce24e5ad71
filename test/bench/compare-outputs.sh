#!/usr/bin/env bash
# Sends the same requests to two fastdav builds serving the same folder and compares the answers
# byte for byte (status, body, the headers that matter): a performance change must not change them.
#   test/bench/compare-outputs.sh DIST_A DIST_B      (e.g. /tmp/head/dist dist)
# COMPARE_ARGS: more server flags for both, e.g. object storage (--metadata-url … --s3-bucket …,
# AWS_* in the environment; the database should be fresh: the fixture goes to /d/).
set -euo pipefail
A=$1 B=$2
ROOT=$(mktemp -d /tmp/perf-compare.XXXXXX)
PA=18466 PB=18467
node "$A/cli.js" --root "$ROOT" --port $PA --log-level warn ${COMPARE_ARGS:-} & PIDA=$!
node "$B/cli.js" --root "$ROOT" --port $PB --log-level warn ${COMPARE_ARGS:-} & PIDB=$!
trap 'kill $PIDA $PIDB 2>/dev/null; wait 2>/dev/null; rm -rf "$ROOT" "$ROOT.a" "$ROOT.b" "$ROOT.big"' EXIT
for p in $PA $PB; do for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$p/ && break; sleep 0.1; done; done

# Fixture (through A): folders, files of several types, odd names, dead properties, a lock.
u=http://127.0.0.1:$PA
curl -s -o /dev/null -X MKCOL $u/d/
curl -s -o /dev/null -X MKCOL $u/d/sub/
for n in a.txt b.html c.JSON README 'sp ace.bin' 'ü&<x>.xml' noext. .hidden; do
  curl -s -o /dev/null -T /etc/hostname "$u/d/$(node -e 'console.log(encodeURIComponent(process.argv[1]))' "$n")"
done
head -c 200000 /dev/urandom >"$ROOT.big"
curl -s -o /dev/null -T "$ROOT.big" $u/d/big.bin
curl -s -o /dev/null -T /etc/hostname $u/d/sub/x.txt
curl -s -o /dev/null -X PROPPATCH -H 'Content-Type: application/xml' --data-binary '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:color xml:lang="en">red <b xmlns="">bold</b></Z:color><D:displayname>Shown</D:displayname></D:prop></D:set></D:propertyupdate>' $u/d/a.txt
curl -s -o /dev/null -X PROPPATCH --data-binary '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="">empty ns</x></D:prop></D:set></D:propertyupdate>' $u/d/sub/
curl -s -o /dev/null -X LOCK -H 'Depth: 0' -H 'Timeout: Second-100000' --data-binary '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>me</D:owner></D:lockinfo>' $u/d/b.html
curl -s -o /dev/null -X LOCK -H 'Depth: infinity' --data-binary '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>' $u/d/sub/

PF='<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:getetag/><D:getcontenttype/><D:displayname/></D:prop></D:propfind>'
MISS='<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:color/><Z:nothing/><D:getcontentlength/><D:quota-used-bytes/><D:lockdiscovery/></D:prop></D:propfind>'
NAMES='<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>'
INCL='<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/><D:include><D:quota-available-bytes/></D:include></D:propfind>'
ONLYMISS='<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop><Z:nothing/></D:prop></D:propfind>'
fails=0 n=0
norm() { LC_ALL=C sed -E 's/Second-[0-9]+/Second-N/g; s/(quota-[a-z]+-bytes>)[0-9]+/\1N/g' | LC_ALL=C grep -aviE '^(date|keep-alive|connection):'; }
check() { # label curl-args...
  local label=$1; shift
  curl -s -D - "$@" "http://127.0.0.1:$PA$URLPATH" | norm >"$ROOT.a"
  curl -s -D - "$@" "http://127.0.0.1:$PB$URLPATH" | norm >"$ROOT.b"
  n=$((n + 1))
  if ! cmp -s "$ROOT.a" "$ROOT.b"; then
    fails=$((fails + 1)); echo "DIFFERENT: $label $URLPATH"
    diff -a "$ROOT.a" "$ROOT.b" | head -20 | cut -c1-300 || true
  fi
}
for URLPATH in / /d/ /d/sub/ /d/a.txt /d/sub/x.txt /nothing; do
  for depth in 0 1 infinity; do
    check "allprop d$depth" -X PROPFIND -H "Depth: $depth"
    check "props d$depth" -X PROPFIND -H "Depth: $depth" --data-binary "$PF"
    check "missing d$depth" -X PROPFIND -H "Depth: $depth" --data-binary "$MISS"
    check "propname d$depth" -X PROPFIND -H "Depth: $depth" --data-binary "$NAMES"
    check "include d$depth" -X PROPFIND -H "Depth: $depth" --data-binary "$INCL"
    check "only-missing d$depth" -X PROPFIND -H "Depth: $depth" --data-binary "$ONLYMISS"
  done
  check GET
  check HEAD -I
  check "GET range" -H 'Range: bytes=2-5'
  check "GET inm" -H 'If-None-Match: *'
done
for URLPATH in /d/big.bin /d/README /d/c.JSON /d/noext. '/d/%C3%BC%26%3Cx%3E.xml' '/d/sp%20ace.bin'; do
  check GET; check HEAD -I; check "GET range" -H 'Range: bytes=100-150000'; check "GET suffix" -H 'Range: bytes=-10'
  check "GET bad range" -H 'Range: bytes=999999-'
done
echo "$n comparisons, $fails different"
[[ $fails == 0 ]]
