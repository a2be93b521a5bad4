#!/usr/bin/env bash
# Makes the two local base images the container build starts from on machines
# without a registry (this one, CI): Debian bookworm (debootstrap, minbase) with
# this machine's Node (the `nodejs` package's files, so the image runs the Node
# major the tests run on) and tini, and a build base with python3, make and g++
# on top (better-sqlite3 compiles from source when its prebuilt binary cannot be
# downloaded). Elsewhere the Dockerfile's defaults (the official images, pinned
# by digest) are used and this script is not needed.
#
#   scripts/container/local-base.sh            # build them unless present
#   scripts/container/local-base.sh --rebuild  # build them again
#
# Needs root, debootstrap and buildah (apt-get install debootstrap buildah).
# Exit codes: 0 ready, 1 a step failed (its output says which), 2 bad usage.
set -euo pipefail

REBUILD=0
case "${1:-}" in
  '') ;;
  --rebuild) REBUILD=1 ;;
  -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "local-base.sh: unknown argument \"$1\" (use --rebuild or --help)" >&2; exit 2 ;;
esac

: "${BUILDAH_STORAGE_DRIVER:=vfs}"
export STORAGE_DRIVER="$BUILDAH_STORAGE_DRIVER"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
RUNTIME_TAG="localhost/petcut-local-base:node${NODE_MAJOR}"
BUILD_TAG="localhost/petcut-local-build:node${NODE_MAJOR}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
WORK="${PETCUT_BASE_WORKDIR:-/var/tmp/petcut-base}"

for tool in debootstrap buildah dpkg-query; do
  command -v "$tool" >/dev/null || { echo "local-base.sh: $tool is missing: apt-get install debootstrap buildah" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "local-base.sh: debootstrap needs root" >&2; exit 1; }
dpkg-query -W nodejs >/dev/null 2>&1 || { echo "local-base.sh: this machine's Node is not the Debian/NodeSource 'nodejs' package; install it that way or pass --build-arg BASE=<an image with Node ${NODE_MAJOR}>" >&2; exit 1; }

present() { buildah --storage-driver "$STORAGE_DRIVER" inspect --type image "$1" >/dev/null 2>&1; }
if [ "$REBUILD" = 0 ] && present "$RUNTIME_TAG" && present "$BUILD_TAG"; then
  echo "local-base.sh: $RUNTIME_TAG and $BUILD_TAG are present (--rebuild to make them again)"
fi

# One root file system per base: debootstrap, then this machine's Node copied in.
make_rootfs() { # <dir> <extra packages, comma-separated> <all|binary: what of the nodejs package>
  local dir=$1 include=$2 node_files=$3
  rm -rf "$dir"
  echo "local-base.sh: debootstrap bookworm into $dir (+ $include)"
  debootstrap --variant=minbase --include="$include" bookworm "$dir" "$MIRROR" >"$dir.log" 2>&1 \
    || { tail -20 "$dir.log" >&2; echo "local-base.sh: debootstrap failed (log: $dir.log); is $MIRROR reachable?" >&2; exit 1; }
  # The nodejs package's own file list: node, npm, corepack, headers (node-gyp's nodedir); the runtime only needs node.
  dpkg-query -L nodejs | while read -r path; do
    if [ -f "$path" ] || [ -L "$path" ]; then
      case "$node_files:$path" in all:/usr/share/doc/*|all:/usr/share/man/*|all:/usr/lib/node_modules/*) ;; all:*|binary:/usr/bin/node) printf '%s\n' "$path" ;; esac
    fi
  done \
    | tar --no-recursion -cf - -T - 2>/dev/null | tar -C "$dir" -xf -
  # npm and corepack as they are now (npm may have been upgraded past the package's own files).
  if [ "$node_files" = all ]; then tar -C / -cf - usr/lib/node_modules | tar -C "$dir" -xf -; fi
  chroot "$dir" /usr/bin/node -e 'process.exit(0)' || { echo "local-base.sh: node does not run inside the new root (missing libraries?)" >&2; exit 1; }
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* "$dir"/usr/share/man/*
}

commit_rootfs() { # <dir> <tag>
  local dir=$1 tag=$2 archive="$1.tar" ctr
  tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -C "$dir" -cf "$archive" .
  ctr=$(buildah --storage-driver "$STORAGE_DRIVER" from scratch)
  buildah --storage-driver "$STORAGE_DRIVER" add "$ctr" "$archive" / >/dev/null
  buildah --storage-driver "$STORAGE_DRIVER" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --label org.opencontainers.image.description="petcut local base: debootstrap bookworm minbase + the host's Node $(node -v)" "$ctr"
  buildah --storage-driver "$STORAGE_DRIVER" commit --rm "$ctr" "$tag" >/dev/null
  rm -f "$archive"
  echo "local-base.sh: committed $tag ($(du -sh "$dir" | cut -f1) on disk)"
}

mkdir -p "$WORK"
if [ "$REBUILD" = 1 ] || ! present "$RUNTIME_TAG"; then
  make_rootfs "$WORK/runtime" ca-certificates,tini binary
  commit_rootfs "$WORK/runtime" "$RUNTIME_TAG"
fi
if [ "$REBUILD" = 1 ] || ! present "$BUILD_TAG"; then
  make_rootfs "$WORK/build" ca-certificates,tini,python3,make,g++ all
  commit_rootfs "$WORK/build" "$BUILD_TAG"
fi
rm -rf "$WORK/runtime" "$WORK/build"

# The build base downloads packages (npm ci): it trusts what this machine trusts. Where egress
# goes through a TLS-inspecting proxy, its CA is among /usr/local/share/ca-certificates, and
# without it npm fails with SELF_SIGNED_CERT_IN_CHAIN. Idempotent: the label records the set.
CAS=$(ls /usr/local/share/ca-certificates/*.crt 2>/dev/null | sort || true)
CAS_ID=$( { [ -n "$CAS" ] && cat $CAS; } | sha256sum | cut -c1-16)
if [ -n "$CAS" ] && [ "$(buildah --storage-driver "$STORAGE_DRIVER" inspect --type image --format '{{index .OCIv1.Config.Labels "petcut.host-cas"}}' "$BUILD_TAG")" != "$CAS_ID" ]; then
  ctr=$(buildah --storage-driver "$STORAGE_DRIVER" from --pull=never "$BUILD_TAG")
  for ca in $CAS; do buildah --storage-driver "$STORAGE_DRIVER" copy "$ctr" "$ca" /usr/local/share/ca-certificates/ >/dev/null; done
  buildah --storage-driver "$STORAGE_DRIVER" run --isolation chroot "$ctr" -- update-ca-certificates >/dev/null
  buildah --storage-driver "$STORAGE_DRIVER" config --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt --label petcut.host-cas="$CAS_ID" "$ctr"
  buildah --storage-driver "$STORAGE_DRIVER" commit --rm "$ctr" "$BUILD_TAG" >/dev/null
  echo "local-base.sh: $BUILD_TAG trusts this machine's CA certificates ($(echo "$CAS" | wc -l) from /usr/local/share/ca-certificates)"
fi
