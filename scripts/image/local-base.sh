#!/usr/bin/env bash
# Makes the image's base locally, for machines that cannot pull from a registry: a minimal Debian
# bookworm (debootstrap, from the Debian mirror apt uses) with Debian's Python 3.11, imported into
# the local container storage as $BASE_IMAGE. With a registry, use python:3.11-slim instead (the
# Containerfile's default BASE); docs/image.md.
# Needs root, debootstrap and podman. Usage: scripts/image/local-base.sh [IMAGE]
set -euo pipefail

BASE_IMAGE=${1:-localhost/berth-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PODMAN=(podman --storage-driver "${STORAGE_DRIVER:-vfs}")

if "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
    echo "base image $BASE_IMAGE exists"
    exit 0
fi
rootfs=$(mktemp -d /var/tmp/berth-base.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase \
    --include=python3.11,python3.11-venv,python3-venv,ca-certificates,tzdata \
    bookworm "$rootfs" "$MIRROR"
# What a container never needs: the package caches and lists, documentation, man pages, locales.
rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*
find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +
chmod 0755 "$rootfs"  # mktemp made it private: it is the image's /
tar --numeric-owner -C "$rootfs" -c . | "${PODMAN[@]}" import \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$BASE_IMAGE"
echo "base image $BASE_IMAGE made"
