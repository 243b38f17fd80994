# node-haproxy: the controller with Debian's HAProxy 2.6 in one image.
# Runs as the unprivileged user "node"; HAProxy may bind ports below 1024
# through a file capability (cap_net_bind_service) on its binary.
# test/integration/dockerfile.test.ts checks this file against the repository
# without Docker (COPY sources, the build, ports, flags, dependencies).

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
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
