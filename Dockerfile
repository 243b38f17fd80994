# node-haproxy: the controller on Node.js 24 (LTS) with HAProxy 3.0 (LTS,
# Debian's package), on Debian 13 (trixie), in one image. Outside the image
# the controller supports HAProxy 2.6 or newer and Node.js 20 or newer.
# Runs as the unprivileged user "node" (uid 1000); HAProxy may bind ports below
# 1024 through a file capability (cap_net_bind_service) on its binary, see
# docs/kubernetes.md ("Ports below 1024").
# Where no registry is reachable (CI), scripts/build-base-image.sh assembles
# the base image named below from Debian's packages and the npm registry.
# test/integration/dockerfile.test.ts builds this file with Docker and runs it.

FROM node:24-trixie-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund

FROM node:24-trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends haproxy libcap2-bin tini \
 && setcap 'cap_net_bind_service=+ep' /usr/sbin/haproxy \
 && apt-get purge -y libcap2-bin \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/node-haproxy /etc/node-haproxy \
 && chown node:node /var/lib/node-haproxy
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# package.json's "type": "module" makes Node load dist/ as ES modules.
COPY package.json ./
# Read at run time from the folder above dist/src (src/paths.ts): the
# configuration templates, and the manifests the demo command serves.
COPY templates ./templates
COPY examples ./examples
USER node
# 8080: the examples' data-plane port; 9101: the controller's HTTP server
# (/metrics, /healthz, /readyz, /stream, REST API), run's default --http-address.
EXPOSE 8080 9101
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/src/cli.js"]
CMD ["run", "--source", "/etc/node-haproxy", "--state-dir", "/var/lib/node-haproxy"]
