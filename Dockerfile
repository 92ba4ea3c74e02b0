# syntax=docker/dockerfile:1
#
# One multi-stage Dockerfile for the whole monorepo, one target per service:
#   docker build --target server   -t gatehouse-server .    (the default, last stage)
#   docker build --target dev-idp  -t gatehouse-dev-idp .
#   docker build --target demo-api -t gatehouse-demo-api .
# Why one file: every service shares one lockfile and one workspace, so one dependency install
# stage is built once and cached for all three images, and the build context is the repo root
# anyway (workspace packages live outside each app's directory).
#
# Node 24 runs the TypeScript sources directly (type stripping): there is no compile step, only
# the SPA is built. The sources must NOT end up under node_modules (Node refuses to strip types
# there), which is why this uses the workspace layout as-is instead of `pnpm deploy`.
# No secrets are baked in: every secret comes from the environment at run time.

ARG NODE_VERSION=24
ARG PNPM_VERSION=12.21.0

# ---- base: Node + pnpm, used only by the build stages --------------------------------------
FROM node:${NODE_VERSION}-slim AS base
ARG PNPM_VERSION
ENV CI=true
RUN npm install --global pnpm@${PNPM_VERSION} && npm cache clean --force
WORKDIR /app

# ---- manifests: just enough for `pnpm install`, so source edits do not bust the install cache.
# A frozen install needs every workspace project of the lockfile, e2e included.
FROM base AS manifests
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
# The patches pnpm applies to dependencies (pnpm-workspace.yaml's patchedDependencies).
COPY patches patches
COPY apps/server/package.json apps/server/
COPY apps/web/package.json apps/web/
COPY apps/dev-idp/package.json apps/dev-idp/
COPY apps/demo-api/package.json apps/demo-api/
COPY packages/gatehouse/package.json packages/gatehouse/
COPY packages/design/package.json packages/design/
COPY packages/client/package.json packages/client/
COPY packages/react/package.json packages/react/
COPY packages/testkit/package.json packages/testkit/
COPY packages/playwright/package.json packages/playwright/
COPY e2e/package.json e2e/
COPY examples/react-spa/package.json examples/react-spa/

# ---- deps: everything (vite and friends) to build the SPA -----------------------------------
# pnpm-workspace.yaml allows exactly one install script (esbuild); others are skipped.
FROM manifests AS deps
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --store-dir /pnpm/store

# ---- prod-deps: runtime dependencies only, copied into the runtime images -------------------
FROM manifests AS prod-deps
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --prod --store-dir /pnpm/store

# ---- web-build: the React SPA that the server serves from apps/web/dist --------------------
FROM deps AS web-build
COPY tsconfig.base.json ./
COPY packages/client packages/client
COPY packages/design packages/design
COPY apps/web apps/web
RUN pnpm --filter @gatehouse/web build

# ---- runtime: plain Node (no pnpm, no build tools), production deps, non-root ---------------
# Files stay owned by root and read-only for the `node` user: the process cannot rewrite its code.
FROM node:${NODE_VERSION}-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app /app
# The design system's stylesheet: Gatehouse's own pages and the dev IdP's read it at start-up.
COPY packages/design packages/design

# ---- dev-idp: the development identity provider (never deploy it) --------------------------
FROM runtime AS dev-idp
COPY apps/dev-idp/src apps/dev-idp/src
ENV PORT=4000 DEV_IDP_HOST=0.0.0.0
EXPOSE 4000
USER node
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/.well-known/openid-configuration').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "apps/dev-idp/src/main.ts"]

# ---- demo-api: the downstream resource server of the dev stack -----------------------------
FROM runtime AS demo-api
COPY apps/demo-api/src apps/demo-api/src
ENV PORT=4001 DEMO_API_HOST=0.0.0.0
EXPOSE 4001
USER node
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4001) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "apps/demo-api/src/main.ts"]

# ---- server: the deployable Gatehouse BFF (default target) ---------------------------------
# Liveness only (/healthz): readiness (/readyz, Redis reachable) is for load balancers and
# compose's depends_on, so a Redis outage does not mark every instance unhealthy.
FROM runtime AS server
COPY packages/gatehouse/src packages/gatehouse/src
COPY apps/server/src apps/server/src
COPY --from=web-build /app/apps/web/dist apps/web/dist
ENV PORT=3000 HOST=0.0.0.0 GATEHOUSE_STATIC_DIR=/app/apps/web/dist
EXPOSE 3000
USER node
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "apps/server/src/main.ts"]
