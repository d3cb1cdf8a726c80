# syntax=docker/dockerfile:1
#
# The Gito image: the program compiled to JavaScript (tsconfig.build.json), production
# dependencies only, running as the unprivileged `node` user.
#
#   docker build -t gito:local .
#   docker run --rm gito:local config        # the environment variables Gito reads
#   docker run --rm -p 8080:8080 -e GITO_HTTP_HOST=0.0.0.0 gito:local start
#
# docker-compose.yml runs `node` and `gateway` from it.

ARG NODE_IMAGE=node:20.19-bookworm-slim

# 1. Compile: every dependency (the TypeScript compiler is a dev dependency), then tsc into dist/,
#    plus the files the program reads at run time (SQL migrations, JSON schemas, worker entries).
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.build.json \
 && find bin app runtime cluster actors db gateway proto web -type f \
      ! -name '*.ts' ! -name '*.md' ! -name '*.proto' 2>/dev/null \
      | while read -r f; do mkdir -p "dist/$(dirname "$f")" && cp "$f" "dist/$f"; done \
 && node dist/bin/gito.js config > /dev/null

# 2. Production dependencies only.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# 3. The runtime image.
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    GITO_DATA_DIR=/app/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
RUN mkdir -p /app/data && chown node:node /app/data
USER node
# 8080: HTTP (gateway, /metrics, /healthz, /readyz); 7070: node-to-node gRPC; 1883: the
# in-process MQTT broker of `gito start`.
EXPOSE 8080 7070 1883
# Node runs as PID 1 under `docker run --init` or compose's `init: true`, which forwards SIGTERM:
# a node then hands its actors off and exits 0 (planned leave).
ENTRYPOINT ["node", "--enable-source-maps", "dist/bin/gito.js"]
CMD ["start"]
