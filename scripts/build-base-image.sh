#!/usr/bin/env bash
# Build a minimal Debian bookworm base image with python3 WITHOUT a container registry:
# debootstrap a root filesystem from Debian's apt mirror, trim it, and `docker import` it.
# Users who can pull images never need this: the Dockerfile defaults to python:3.11-slim.
# openssh-server is included (not started) so the ssh backend can be tested against containers.
#
# usage: scripts/build-base-image.sh [TAG]       (default tag: sinkron-base:bookworm)
# env:   SINKRON_DEBIAN_MIRROR (default http://deb.debian.org/debian), FORCE=1 to rebuild
set -euo pipefail
tag="${1:-sinkron-base:bookworm}"
mirror="${SINKRON_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag exists (FORCE=1 to rebuild)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "debootstrap needs root" >&2; exit 2; fi
if ! command -v debootstrap >/dev/null; then
  echo "installing debootstrap from Debian's packages"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

root=$(mktemp -d /tmp/sinkron-rootfs.XXXXXX)
cleanup() { rm -rf "$root"; }
trap cleanup EXIT

packages=python3,python3-venv,iproute2,iptables,procps,faketime,ca-certificates,curl,openssh-server
echo "debootstrap bookworm into $root (packages: $packages)"
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -20 "$root.log"; echo "debootstrap failed (log: $root.log)" >&2; exit 1; }
rm -f "$root.log"

# Trim what a container never needs: apt lists and caches, docs, man pages, locales.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
  "$root"/usr/share/locale/* "$root"/var/log/*.log "$root"/tmp/*
# A python3.11 name so the same Dockerfile lines work on this base and on python:3.11-slim.
[ -e "$root/usr/local/bin/python" ] || ln -s /usr/bin/python3 "$root/usr/local/bin/python"

echo "docker import -> $tag"
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  - "$tag" >/dev/null
docker image ls "$tag"
