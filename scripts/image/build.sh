#!/usr/bin/env bash
# Builds berth's image with buildah: `make image`. Without a registry (these machines), the base is
# made locally first (scripts/image/local-base.sh); with one, BASE=docker.io/library/python:3.11-slim.
# Environment: BASE, IMAGE (default localhost/berth), STORAGE_DRIVER (default vfs).
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=${IMAGE:-localhost/berth}
BASE=${BASE:-localhost/berth-base:bookworm}
STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)

if [[ $BASE == localhost/berth-base:* ]]; then
    scripts/image/local-base.sh "$BASE"
fi
# chroot isolation and the host's network: no container runtime or network setup for RUN steps
# (these machines have neither a Docker engine nor bridge networking for containers).
# CA_BUNDLE: the CA certificates pip trusts inside the build (a TLS-intercepting proxy's, here);
# PIP_CACHE: the host's pip cache, lent to the build stage (nothing of it reaches the image).
build_options=()
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[[ -s $CA_BUNDLE ]] && build_options+=(--secret "id=ca,src=$CA_BUNDLE")
PIP_CACHE=${PIP_CACHE:-$HOME/.cache/pip}
[[ -d $PIP_CACHE ]] && build_options+=(--volume "$PIP_CACHE:/root/.cache/pip")
buildah --storage-driver "$STORAGE_DRIVER" bud --layers --format docker --isolation chroot --network host \
    "${build_options[@]}" \
    --build-arg "BASE=$BASE" \
    --build-arg "VERSION=$VERSION" \
    --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --tag "$IMAGE:$VERSION" --tag "$IMAGE:latest" \
    --file Containerfile .
buildah --storage-driver "$STORAGE_DRIVER" images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$IMAGE:latest"
