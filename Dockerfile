# resnet-serve, CPU image: onnxruntime-node (CPU) + sharp + Fastify on Node.js LTS, Debian slim.
# onnxruntime-node and sharp ship glibc binaries, hence Debian and not Alpine.
#
#   docker build -t resnet-serve .
#   docker run --rm -p 8080:8080 resnet-serve
#
# The image holds a ResNet-50 with seeded (untrained) weights, built from code at image build time,
# so it serves on start; mount real weights with MODEL_PATH or MODEL_WEIGHTS (see README, Deploy).
# The CUDA variant is Dockerfile.cuda.

ARG NODE_VERSION=24
ARG DEBIAN_RELEASE=bookworm

# ---- deps: every dependency, for the TypeScript build and the model build ------------------------
FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS deps
WORKDIR /app
# .npmrc runs no dependency install scripts: onnxruntime-node's would fetch CUDA from NuGet, and its
# CPU binaries are in the npm package.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund

# ---- build: TypeScript -> dist/, then the default model -> models/resnet50.onnx + .json -----------
FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY models ./models
RUN npm run build
# The same defaults as `npm run build:model` (ResNet-50 v1.5, seed 0), written where MODEL_PATH's
# default points.
RUN node dist/model/cli.js --out models/resnet50.onnx

# ---- prod-deps: runtime dependencies only ---------------------------------------------------------
FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# onnxruntime-node bundles its native library for every OS and CPU (~290 MB); keep this platform's.
RUN npm ci --omit=dev --no-audit --no-fund \
 && keep="linux/$(node -p process.arch)" \
 && cd node_modules/onnxruntime-node/bin/napi-v6 \
 && for d in */*; do [ "$d" = "$keep" ] || rm -rf "$d"; done \
 && find . -mindepth 1 -maxdepth 1 -type d -empty -delete \
 && test -f "$keep/onnxruntime_binding.node"

# ---- runtime ---------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="resnet-serve" \
      org.opencontainers.image.description="ResNet image classification: an ONNX graph built from TypeScript, onnxruntime-node with dynamic batching, POST /predict and the KServe V2 REST API" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim"
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    MODEL_PATH=/app/models/resnet50.onnx \
    MODEL_CACHE_DIR=/app/models/cache \
    JPEG_DECODER=libjpeg-turbo
# libturbojpeg decodes JPEG uploads for a third of libvips' CPU (docs/preprocessing.md, "Decoding
# JPEG"); JPEG_DECODER=libjpeg-turbo makes a missing library a startup error, not a slower image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libturbojpeg0 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# package.json carries "type": "module", which dist/*.js need.
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/models ./models
# Code and the default model stay root-owned and read-only to the service; only the cache of models
# built from MODEL_WEIGHTS is the service's to write (mount a volume there to keep it across runs).
RUN mkdir -p /app/models/cache && chown node:node /app/models/cache
USER node
EXPOSE 8080 8081
# No curl in slim images: Node's own fetch asks the V2 readiness route.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/v2/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node runs as PID 1, with no shell or entrypoint script in between: docker stop's SIGTERM reaches
# it, and the server's handler (close-with-grace) drains in-flight requests and exits 0. It starts no
# child processes (the engine is a worker thread), so no init is needed to reap zombies.
ENTRYPOINT []
# --initial-old-space-size and --no-memory-reducer: see docs/performance.md, "Garbage collection" and
# "JIT warm-up and idle" (the same flags as npm start).
CMD ["node", "--enable-source-maps", "--initial-old-space-size=128", "--no-memory-reducer", "dist/server/main.js"]
