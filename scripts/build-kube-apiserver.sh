#!/usr/bin/env bash
# Build kube-apiserver from Debian's `kubernetes` source package, for the
# real-API-server test tier (test/integration/k8s-real-*.test.ts).
#
# No kube-apiserver binary release can be downloaded on the project's machines,
# so this builds one from Debian's source (Kubernetes 1.20.2) with Debian's Go
# and caches it, keyed by version:
#
#   /var/cache/node-haproxy/kube-apiserver-<version>/kube-apiserver
#
# A cached binary is reused: the build (about 4 minutes on 2 cores) runs once
# per machine. Needs root and apt-get (it enables deb-src and installs golang-go,
# rsync, dpkg-dev and golang-github-modern-go-reflect2-dev). Prints the binary's
# path on its last line of stdout.
#
# Usage: scripts/build-kube-apiserver.sh [--print-path]
#   --print-path   only print where the binary is (or would be), build nothing
#   KUBE_APISERVER_CACHE_DIR overrides /var/cache/node-haproxy
set -euo pipefail

VERSION="1.20.2"
CACHE_ROOT="${KUBE_APISERVER_CACHE_DIR:-/var/cache/node-haproxy}"
OUT_DIR="$CACHE_ROOT/kube-apiserver-$VERSION"
BIN="$OUT_DIR/kube-apiserver"

if [[ "${1:-}" == "--print-path" ]]; then echo "$BIN"; exit 0; fi

if [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; then
  echo "build-kube-apiserver: cached $("$BIN" --version) at $BIN" >&2
  echo "$BIN"
  exit 0
fi

log() { echo "build-kube-apiserver: $*" >&2; }

if [[ "$(id -u)" != 0 ]]; then
  log "needs root to apt-get the build tools; run as root, or put a kube-apiserver $VERSION at $BIN"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
SRC_LIST=/etc/apt/sources.list.d/node-haproxy-deb-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  log "enabling deb-src in $SRC_LIST"
  cat >"$SRC_LIST" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
# Another apt-get may hold the locks for a while: wait for it (up to 10 minutes).
apt_get() {
  local i
  for i in $(seq 1 60); do
    if apt-get -o DPkg::Lock::Timeout=10 "$@" >&2; then return 0; fi
    log "apt-get $1 failed (a lock held?); trying again in 10 s"
    sleep 10
  done
  return 1
}
log "apt-get update"
apt_get update -qq
log "installing build tools"
apt_get install -y -qq --no-install-recommends golang-go rsync dpkg-dev make \
  golang-github-modern-go-reflect2-dev ca-certificates >&2

WORK="$(mktemp -d /tmp/kube-apiserver-build.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
# Debian 12 has two `kubernetes` source packages: 1.20.2 (repackaged as
# 1.20.5+really1.20.2, the one with kube-apiserver and a vendor/ tree) and a
# client-only 1.32. Take the 1.20 one.
SRC_VERSION="$(apt-cache showsrc kubernetes | awk '/^Version:/ {print $2}' | grep -E "(^|really)${VERSION//./\\.}(-|$)" | head -n1)"
if [[ -z "$SRC_VERSION" ]]; then
  log "no Debian source package of kubernetes $VERSION (apt-cache showsrc kubernetes lists: $(apt-cache showsrc kubernetes | awk '/^Version:/ {print $2}' | tr '\n' ' '))"
  exit 1
fi
log "apt-get source kubernetes=$SRC_VERSION (in $WORK)"
apt-get source -qq "kubernetes=$SRC_VERSION" >&2
SRC_DIR="$(ls -d "$WORK"/kubernetes-*/ | head -n1)"
SRC_DIR="${SRC_DIR%/}"
log "source in $SRC_DIR"
cd "$SRC_DIR"

# The vendored reflect2 1.0.1 crashes under Go 1.19 on the first custom-resource
# write (fatal error: fault in mapiterinit); Debian's 1.0.2 does not.
R2=/usr/share/gocode/src/github.com/modern-go/reflect2
if [[ -d "$R2" && -d vendor/github.com/modern-go/reflect2 ]]; then
  log "replacing vendor/github.com/modern-go/reflect2 with Debian's $(dpkg-query -W -f '${Version}' golang-github-modern-go-reflect2-dev)"
  rm -rf vendor/github.com/modern-go/reflect2
  cp -r "$R2" vendor/github.com/modern-go/reflect2
  rm -rf vendor/github.com/modern-go/reflect2/.git*
fi

mkdir -p .go/src/k8s.io
ln -sfn ../../.. .go/src/k8s.io/kubernetes
log "go build (about 4 minutes on 2 cores)"
GOPATH="$SRC_DIR/.go" CGO_ENABLED=0 make WHAT=cmd/kube-apiserver >&2
BUILT="$(find "$SRC_DIR/_output" -type f -name kube-apiserver -perm -u+x | head -n1)"
if [[ -z "$BUILT" ]]; then log "build produced no kube-apiserver"; exit 1; fi
mkdir -p "$OUT_DIR"
cp "$BUILT" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
log "built $("$BIN" --version) at $BIN"
echo "$BIN"
