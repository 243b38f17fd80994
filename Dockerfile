# node-haproxy: the controller with Debian's HAProxy 2.6 in one image.
# Runs as the unprivileged user "node"; HAProxy may bind ports below 1024
# through a file capability (cap_net_bind_service) on its binary.

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
COPY package.json ./
COPY templates ./templates
COPY examples ./examples
COPY crds ./crds
USER node
# 8080: example data-plane port; 9090: controller HTTP (/metrics, /healthz, /readyz, API)
EXPOSE 8080 9090
# --heap-growing-percent=20 makes V8 collect before the heap grows to 3-4x what
# is live: at 100,000 servers the peak RSS is 266 MiB instead of ~450 MiB
# (bench/results/scale.md).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--heap-growing-percent=20", "/app/dist/src/cli.js"]
CMD ["run", "--source", "/etc/node-haproxy", "--state-dir", "/var/lib/node-haproxy"]
