#!/usr/bin/env bash
# npm run image:build [-- --target cpu|gpu] [--official] [--tag NAME]
#
# Builds petcut's container image from deploy/container/Dockerfile with buildah
# (no Docker daemon needed: vfs storage, chroot isolation), tags it
# localhost/petcut-<target>:dev and :<version>-<revision>, and writes what it
# measured (build time, image size) to out/image-build.json.
#
# Bases: by default the local ones scripts/container/local-base.sh makes (this
# machine has no registry); --official builds from the Dockerfile's pinned
# official images instead (needs docker.io and, for gpu, NVIDIA's download).
#
#   npm run image:build                      # CPU image from the local bases
#   npm run image:build -- --official        # the same from node:20-bookworm-slim
#   npm run image:build -- --target gpu --official
#
# Exit codes: 0 built, 1 the build failed (buildah's output says where), 2 bad usage.
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET=cpu OFFICIAL=0 TAG=""
while [ $# -gt 0 ]; do
  case "$1" in
    --target) TARGET=${2:-}; shift 2 ;;
    --target=*) TARGET=${1#*=}; shift ;;
    --official) OFFICIAL=1; shift ;;
    --tag) TAG=${2:-}; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "image:build: unknown argument \"$1\" (see --help)" >&2; exit 2 ;;
  esac
done
case "$TARGET" in cpu|gpu) ;; *) echo "image:build: --target must be cpu or gpu, got \"$TARGET\"" >&2; exit 2 ;; esac
command -v buildah >/dev/null || { echo "image:build: buildah is missing (apt-get install buildah)" >&2; exit 1; }

export STORAGE_DRIVER="${BUILDAH_STORAGE_DRIVER:-vfs}"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
VERSION=$(node -p 'require("./package.json").version')
REVISION=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then REVISION="$REVISION-dirty"; fi
SOURCE=$(git config --get remote.origin.url 2>/dev/null || echo https://github.com/perkieprints/petcut)
NAME=${TAG:-localhost/petcut-$TARGET}

ARGS=(--build-arg "NODE_MAJOR=$NODE_MAJOR" --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" --build-arg "SOURCE=$SOURCE")
if [ "$OFFICIAL" = 0 ]; then
  if [ "$TARGET" = gpu ]; then echo "image:build: the GPU image needs its CUDA base and NVIDIA's download: build it with --official where they are reachable" >&2; exit 2; fi
  bash scripts/container/local-base.sh
  ARGS+=(--build-arg "BASE=localhost/petcut-local-base:node$NODE_MAJOR" --build-arg "BUILD_BASE=localhost/petcut-local-build:node$NODE_MAJOR" --pull=never)
fi

# vfs keeps a full copy per layer: when the disk runs low, drop the layers no tag uses (the build cache with them).
STORE=$(buildah --storage-driver "$STORAGE_DRIVER" info --format '{{.store.GraphRoot}}' 2>/dev/null || echo /var/lib/containers/storage)
mkdir -p "$STORE"
if [ "$(df --output=avail -k "$STORE" | tail -1)" -lt $((20 * 1024 * 1024)) ]; then
  echo "image:build: less than 20 GB free under $STORE: pruning untagged layers (the next build starts without its cache)"
  buildah --storage-driver "$STORAGE_DRIVER" rmi --prune >/dev/null || true
fi

mkdir -p out
echo "image:build: building $NAME:dev (target $TARGET, Node $NODE_MAJOR, revision $REVISION)"
start=$(date +%s.%N)
buildah --storage-driver "$STORAGE_DRIVER" bud --isolation chroot --network host --layers \
  -f deploy/container/Dockerfile --target "$TARGET" "${ARGS[@]}" -t "$NAME:build" .
# The labels once more, on the built image: buildah 1.28's layer cache reuses a LABEL step (and the final
# image) even when the build argument it reads changed, which stamps a cached image with an old revision.
ctr=$(buildah --storage-driver "$STORAGE_DRIVER" from --pull=never "$NAME:build")
buildah --storage-driver "$STORAGE_DRIVER" config --label "org.opencontainers.image.revision=$REVISION" \
  --label "org.opencontainers.image.version=$VERSION" --label "org.opencontainers.image.source=$SOURCE" "$ctr"
# The image's size: its root file system, unpacked (what Cloud Run pulls is this, compressed).
size=$(du -sb "$(buildah --storage-driver "$STORAGE_DRIVER" mount "$ctr")" | cut -f1)
buildah --storage-driver "$STORAGE_DRIVER" umount "$ctr" >/dev/null
buildah --storage-driver "$STORAGE_DRIVER" commit --rm "$ctr" "$NAME:dev" >/dev/null
buildah --storage-driver "$STORAGE_DRIVER" tag "$NAME:dev" "$NAME:$VERSION-$REVISION"
echo "image:build: tagged $NAME:dev and $NAME:$VERSION-$REVISION"
seconds=$(node -p "(($(date +%s.%N)) - $start).toFixed(1)")
node -e 'const [name, target, seconds, size, revision] = process.argv.slice(1);
  const report = { image: name + ":dev", target, revision, buildSeconds: Number(seconds), sizeBytes: Number(size), sizeMB: Math.round(Number(size) / 1e6) };
  require("fs").writeFileSync("out/image-build.json", JSON.stringify(report, null, 2) + "\n"); console.log(JSON.stringify(report));' \
  "$NAME" "$TARGET" "$seconds" "$size" "$REVISION"
