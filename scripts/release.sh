#!/usr/bin/env bash
# scripts/release.sh --env staging|production --project ID [--region us-central1] [--target cpu|gpu] [--builder docker|buildah] [--dry-run]
#
# From a commit to a deployed revision, the way CI runs it (deploy/pipeline/cloudbuild.yaml):
#   1. build   the image (deploy/container/Dockerfile, official pinned bases)
#   2. smoke   run the CPU image's own entrypoint: /readyz, a real cut-out, /metrics, SIGTERM
#              (a GPU image cannot run on a build machine without a GPU: its CPU twin from the
#              same build stage is smoke-tested instead, see docs/container.md)
#   3. push    to Artifact Registry; the digest is what gets deployed, never the tag
#   4. render  staging: the Cloud Run service with that digest (petcut deploy render)
#   5. deploy  staging: gcloud run services replace (a new revision takes the traffic);
#              production: petcut rollout (blue-green with analysis and automatic rollback,
#              docs/rollout.md) with the digest; its exit code is the release's
# Each step prints its time; out/release.json keeps them with the image digest.
#
#   scripts/release.sh --env staging --project perkieprints --dry-run
#   scripts/release.sh --env production --project perkieprints --target gpu
#
# Exit codes: 0 released (or, with --dry-run, the plan printed), 1 a step failed (named), 2 bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."

ENV="" PROJECT="" REGION=us-central1 TARGET="" BUILDER=docker DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV=${2:-}; shift 2 ;;
    --project) PROJECT=${2:-}; shift 2 ;;
    --region) REGION=${2:-}; shift 2 ;;
    --target) TARGET=${2:-}; shift 2 ;;
    --builder) BUILDER=${2:-}; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "release: unknown argument \"$1\" (see --help)" >&2; exit 2 ;;
  esac
done
case "$ENV" in staging|production) ;; *) echo "release: --env must be staging or production, got \"$ENV\"" >&2; exit 2 ;; esac
[ -n "$PROJECT" ] || { echo "release: --project is required (the Google Cloud project id)" >&2; exit 2; }
[[ "$PROJECT" =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] || { echo "release: --project \"$PROJECT\" is not a Google Cloud project id (6-30 lower-case letters, digits, hyphens)" >&2; exit 2; }
case "$BUILDER" in docker|buildah) ;; *) echo "release: --builder must be docker or buildah, got \"$BUILDER\"" >&2; exit 2 ;; esac
# Production runs on the L4 (deploy/cloudrun/production.yml), staging on CPU by default.
if [ -z "$TARGET" ]; then if [ "$ENV" = production ]; then TARGET=gpu; else TARGET=cpu; fi; fi
case "$TARGET" in cpu|gpu) ;; *) echo "release: --target must be cpu or gpu, got \"$TARGET\"" >&2; exit 2 ;; esac

REVISION=$(git rev-parse --short=12 HEAD)
SERVICE="petcut-$ENV"
REPO="$REGION-docker.pkg.dev/$PROJECT/petcut"
IMAGE="$REPO/petcut-$TARGET:$REVISION"
SMOKE_IMAGE="$REPO/petcut-cpu:$REVISION"
mkdir -p out
declare -A SECONDS_OF

run() { # <step> <command...>: prints, times and runs (or only prints, with --dry-run)
  local step=$1; shift
  echo "release: [$step] $*"
  [ "$DRY" = 1 ] && return 0
  local start; start=$(date +%s)
  "$@" || { echo "release: step \"$step\" failed: $*" >&2; exit 1; }
  SECONDS_OF[$step]=$(( ${SECONDS_OF[$step]:-0} + $(date +%s) - start ))
}

build() { # <target> <tag>
  if [ "$BUILDER" = docker ]; then
    run build docker build -f deploy/container/Dockerfile --target "$1" --build-arg "REVISION=$REVISION" --build-arg "VERSION=$(node -p 'require("./package.json").version')" -t "$2" .
  else
    run build bash scripts/container/build.sh --official --target "$1" --tag "${2%:*}"
  fi
}

build cpu "$SMOKE_IMAGE"
[ "$TARGET" = gpu ] && build gpu "$IMAGE"
run smoke node scripts/container/smoke.mjs --runtime "$BUILDER" "$SMOKE_IMAGE"
if [ "$BUILDER" = docker ]; then
  run push docker push "$IMAGE"
  DIGEST_REF=$([ "$DRY" = 1 ] && echo "$REPO/petcut-$TARGET@sha256:<digest>" || docker image inspect --format '{{index .RepoDigests 0}}' "$IMAGE")
else
  run push buildah --storage-driver "${BUILDAH_STORAGE_DRIVER:-vfs}" push --digestfile out/image.digest "${IMAGE%:*}:dev" "docker://$IMAGE"
  DIGEST_REF="$REPO/petcut-$TARGET@$([ "$DRY" = 1 ] && echo 'sha256:<digest>' || cat out/image.digest)"
fi
GPU_FLAG=$([ "$TARGET" = gpu ] && echo --gpu || echo --cpu)
MANIFEST="out/$SERVICE.yaml"

if [ "$ENV" = staging ]; then
  run render node dist/cli/index.js deploy render --env "$ENV" --image "$DIGEST_REF" "$GPU_FLAG" -o "$MANIFEST"
  run deploy gcloud run services replace "$MANIFEST" --project "$PROJECT" --region "$REGION"
else
  # Blue-green (docs/rollout.md): the candidate at 0 % with a tag, smoke-tested, 10 -> 50 -> 100 % watched,
  # rolled back automatically; needs PETCUT_PROMETHEUS_URL (and PETCUT_ROLLOUT_WEBHOOK to tell the team).
  run deploy node dist/cli/index.js rollout --env "$ENV" --project "$PROJECT" --region "$REGION" --image "$DIGEST_REF" --revision-suffix "r$REVISION"
fi

[ "$DRY" = 1 ] && exit 0
node -e 'const [image, env, ...pairs] = process.argv.slice(1); const steps = {}; for (let i = 0; i < pairs.length; i += 2) steps[pairs[i]] = Number(pairs[i + 1]);
  require("fs").writeFileSync("out/release.json", JSON.stringify({ image, env, steps, totalSeconds: Object.values(steps).reduce((a, b) => a + b, 0) }, null, 2) + "\n");' \
  "$DIGEST_REF" "$ENV" $(for step in "${!SECONDS_OF[@]}"; do echo "$step ${SECONDS_OF[$step]}"; done)
echo "release: done: $DIGEST_REF on $SERVICE ($(node -p 'require("./out/release.json").totalSeconds') s)"
