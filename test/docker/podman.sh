#!/usr/bin/env bash
# `docker`-like front for podman where there is no container engine daemon and no systemd in
# charge of cgroups (a CI runner, a container): runc with the cgroupfs manager, and explicit
# nofile/nproc limits for containers (podman otherwise copies the host's rlimits, which a capped
# runner may refuse to raise). Used by test/docker/image.test.ts; any podman works for users.
# Usage: test/docker/podman.sh build -t fastdav .   |   test/docker/podman.sh run --rm fastdav
set -euo pipefail
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
printf '[containers]\ndefault_ulimits = []\n' >"$conf"
cmd=${1:-}
shift || true
common=(--runtime runc --cgroup-manager=cgroupfs)
case "$cmd" in
  run | create | build) CONTAINERS_CONF=$conf podman "${common[@]}" "$cmd" --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$@" ;;
  *) CONTAINERS_CONF=$conf podman "${common[@]}" "$cmd" "$@" ;;
esac
