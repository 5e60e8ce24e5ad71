#!/usr/bin/env bash
# Makes sure the Dockerfile's base image (node:20-bookworm-slim) is in local storage, for runners
# that reach Debian's package mirror but no container registry: when the image is neither present
# nor pullable, it builds a local stand-in under localhost/ (podman finds a short name there
# first): Debian bookworm minbase + this machine's Node.js 20 and npm in /usr/local, a `node` user
# (uid 1000), the image's usual ENV and CMD, and this machine's CA bundle (for npm ci in a build
# stage). Root only; 2-4 minutes the first time, nothing when the image is there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pm="$here/podman.sh"
BASE=node:20-bookworm-slim
"$pm" image exists "$BASE" && { echo "$BASE present"; exit 0; }
timeout 30 "$pm" pull -q "$BASE" >/dev/null 2>&1 && { echo "$BASE pulled"; exit 0; }
case "$(node --version)" in v20.*) ;; *) echo "node-base.sh: needs Node.js 20 on this machine" >&2; exit 2 ;; esac
command -v debootstrap >/dev/null || { echo "node-base.sh: needs debootstrap" >&2; exit 2; }
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "node-base.sh: no Debian mirror configured in apt's sources" >&2; exit 2; }
node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
root=$(mktemp -d /var/tmp/fastdav-node-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
install -m 0755 "$node_bin" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/etc" "$root/etc/ssl/certs"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
chroot "$root" sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf 'cafile=/etc/ssl/certs/ca-certificates.crt\naudit=false\nfund=false\nupdate-notifier=false\n' >"$root/usr/local/etc/npmrc"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | "$pm" import --change 'ENV NODE_VERSION=20' --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["node"]' - "localhost/$BASE" >/dev/null
echo "built localhost/$BASE"
