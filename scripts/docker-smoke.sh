#!/usr/bin/env bash
# npm run test:docker — build the image, run it, wait for readiness, classify a JPEG over HTTP,
# stop it with SIGTERM and check it exits 0. Prints image size, build time, time to ready.
# Skipped (exit 0, "skipped") when no Docker engine answers. Not part of `npm test`.
#
# Environment:
#   SMOKE_IMAGE=resnet-serve:smoke   tag to build (removed afterwards unless SMOKE_KEEP_IMAGE=1)
#   SMOKE_DOCKERFILE=Dockerfile      Dockerfile to build (the CUDA one needs a GPU host)
#   SMOKE_PORT=18080                 host port (127.0.0.1 only)
#   SMOKE_TIMEOUT=180                seconds to wait for readiness
#   SMOKE_STOP_TIMEOUT=30            docker stop timeout; above the server's SHUTDOWN_TIMEOUT_MS
#   SMOKE_NO_BUILD=1                 use an existing SMOKE_IMAGE instead of building
#   SMOKE_BUILD_ARGS='...'           extra docker build arguments
# The container runs the way deploy/deployment.yaml runs it: read-only root filesystem, a tmpfs
# /tmp, no capabilities, no privilege escalation.
set -Eeuo pipefail
cd "$(dirname "$0")/.."

IMAGE=${SMOKE_IMAGE:-resnet-serve:smoke}
DOCKERFILE=${SMOKE_DOCKERFILE:-Dockerfile}
PORT=${SMOKE_PORT:-18080}
TIMEOUT=${SMOKE_TIMEOUT:-180}
STOP_TIMEOUT=${SMOKE_STOP_TIMEOUT:-30}
NAME=resnet-serve-smoke-$$
CONTAINER_UP=0
WORKDIR=$(mktemp -d)

say() { printf 'docker-smoke: %s\n' "$*"; }
fail() { say "FAIL: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

cleanup() {
  if [ "$CONTAINER_UP" = 1 ]; then
    say "container logs (last 30 lines):"
    docker logs --tail 30 "$NAME" 2>&1 | sed 's/^/  | /' || true
    docker rm -f "$NAME" >/dev/null 2>&1 || true
  fi
  if [ "${SMOKE_KEEP_IMAGE:-0}" != 1 ] && [ "${SMOKE_NO_BUILD:-0}" != 1 ]; then
    docker image rm "$IMAGE" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORKDIR"
}
trap cleanup EXIT

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  say "skipped: no Docker engine answers ('docker info' failed); nothing was built or run"
  exit 0
fi
command -v curl >/dev/null 2>&1 || fail "curl is needed on the host"

# Engines without a bridge network (rootless setups, some CI sandboxes) need host networking, for
# npm in the build as for the container; then the server is told the port instead of mapping it.
NET_BUILD=() NET_RUN=(-p "127.0.0.1:$PORT:8080")
if ! docker network inspect bridge >/dev/null 2>&1; then
  say "no bridge network: building and running with --network host"
  NET_BUILD=(--network host) NET_RUN=(--network host -e HOST=127.0.0.1 -e "PORT=$PORT")
fi

# ---- build ------------------------------------------------------------------------------------
if [ "${SMOKE_NO_BUILD:-0}" = 1 ]; then
  say "using the existing image $IMAGE"
  BUILD=skipped
else
  say "building $IMAGE from $DOCKERFILE"
  t0=$(now)
  # shellcheck disable=SC2086 # SMOKE_BUILD_ARGS is a list of words on purpose
  docker build "${NET_BUILD[@]}" -f "$DOCKERFILE" -t "$IMAGE" ${SMOKE_BUILD_ARGS:-} . >"$WORKDIR/build.log" 2>&1 \
    || { tail -40 "$WORKDIR/build.log"; fail "docker build failed"; }
  BUILD="$(elapsed "$t0" "$(now)")s"
fi
SIZE_MB=$(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f", $1 / 1e6 }')

# ---- a JPEG to classify -------------------------------------------------------------------------
JPEG=$(find test/fixtures/images -maxdepth 1 -name '*.jpg' 2>/dev/null | sort | head -1 || true)
if [ -z "$JPEG" ]; then
  JPEG=$WORKDIR/gradient.jpg
  node -e "
    const sharp = require('sharp');
    const w = 320, h = 240, px = Buffer.alloc(w * h * 3);
    for (let i = 0; i < w * h; i++) px.set([i % w, (i / w) & 255, 128], i * 3);
    sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg().toFile(process.argv[1]);
  " "$JPEG" || fail "could not make a test JPEG with sharp (run npm ci first)"
fi

# ---- run and wait for readiness ---------------------------------------------------------------
say "starting $IMAGE"
t0=$(now)
docker run -d --name "$NAME" "${NET_RUN[@]}" \
  --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
  "$IMAGE" >/dev/null || fail "docker run failed"
CONTAINER_UP=1
BASE=http://127.0.0.1:$PORT
READY_S=
deadline=$(( $(date +%s) + TIMEOUT ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  [ "$(docker inspect -f '{{.State.Running}}' "$NAME")" = true ] || fail "the container exited before it was ready"
  if curl -fsS -o /dev/null --max-time 2 "$BASE/v2/health/ready" 2>/dev/null; then
    READY_S=$(elapsed "$t0" "$(now)")
    break
  fi
  sleep 0.25
done
[ -n "$READY_S" ] || fail "not ready within ${TIMEOUT}s"
say "ready after ${READY_S}s"

# ---- classify ---------------------------------------------------------------------------------
code=$(curl -sS -o "$WORKDIR/predict.json" -w '%{http_code}' --max-time 60 \
  -F "image=@$JPEG;type=image/jpeg" "$BASE/predict?topk=3") || fail "POST /predict did not answer"
[ "$code" = 200 ] || fail "POST /predict answered $code: $(head -c 500 "$WORKDIR/predict.json")"
node -e "
  const body = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));
  const p = body.results?.[0]?.predictions;
  const ok = typeof body.model === 'string' && Array.isArray(p) && p.length === 3 &&
    p.every((x, i) => Number.isInteger(x.index) && typeof x.label === 'string' &&
      x.score >= 0 && x.score <= 1 && (i === 0 || x.score <= p[i - 1].score));
  if (!ok) { console.error(JSON.stringify(body)); process.exit(1); }
  console.log('docker-smoke: POST /predict ' + body.model + ': ' + p.map((x) => x.label + ' ' + x.score.toFixed(4)).join(', '));
" "$WORKDIR/predict.json" || fail "POST /predict returned an unexpected body"

# ---- graceful stop ----------------------------------------------------------------------------
t0=$(now)
docker stop -t "$STOP_TIMEOUT" "$NAME" >/dev/null
STOP_S=$(elapsed "$t0" "$(now)")
EXIT_CODE=$(docker inspect -f '{{.State.ExitCode}}' "$NAME")
docker logs "$NAME" >"$WORKDIR/container.log" 2>&1 || true
CONTAINER_UP=0
docker rm "$NAME" >/dev/null

say "image $IMAGE: ${SIZE_MB} MB; build $BUILD; ready after ${READY_S}s; docker stop took ${STOP_S}s, exit code $EXIT_CODE"
if [ "$EXIT_CODE" != 0 ]; then
  tail -20 "$WORKDIR/container.log"
  fail "the container did not exit 0 on SIGTERM"
fi
say "PASS"
