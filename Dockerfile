# fastdav container image. Build: docker build -t fastdav .   or: podman build --format docker -t fastdav .
# (podman's default OCI format drops the HEALTHCHECK below; --format docker keeps it.)
# Two stages: `build` installs every dependency and compiles TypeScript; the runtime stage holds
# only the production dependencies and the compiled code, and runs as the unprivileged user node.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# Dependencies first: this layer is reused until package.json or the lock file change.
# --ignore-scripts: no dependency needs an install script (libsql ships prebuilt binaries;
# bcryptjs is plain JavaScript), and the project's own compile step comes below.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json && rm -f dist/.tsbuildinfo && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    FASTDAV_ROOT=/data \
    FASTDAV_HOST=0.0.0.0 \
    FASTDAV_PORT=8080
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The volume's mount point belongs to node, so a fresh named volume does too. The code stays
# root's: the server cannot change itself.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# Listening on 0.0.0.0, the server refuses to start without accounts (FASTDAV_USERS) or an
# explicit FASTDAV_ANONYMOUS: see README "Running in Docker".
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["node", "dist/healthcheck.js"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli.js"]
