#!/usr/bin/env bash
# Builds HAProxy 3.0 LTS from Debian 13 (trixie)'s own source package and caches
# the binary, so the test suite and the benchmarks can run on it
# (HAPROXY_BIN=<printed path>). Prints the path of the binary on stdout, and
# nothing else; progress goes to stderr.
#
#   scripts/build-haproxy.sh            build (or reuse) HAProxy 3.0 and print its path
#
# Settings (environment):
#   NODE_HAPROXY_CACHE_DIR   where builds are cached (default /var/cache/node-haproxy)
#   HAPROXY_BUILD_JOBS       make -j (default: number of CPUs)
#
# What it does, as root on Debian/Ubuntu:
#   1. adds a deb-src entry for trixie (source packages only: no binary package
#      of the machine changes) in /etc/apt/sources.list.d/node-haproxy-trixie-src.sources;
#   2. installs the build dependencies from the machine's own release
#      (libssl-dev libpcre2-dev liblua5.4-dev zlib1g-dev build-essential dpkg-dev);
#   3. `apt-get source --download-only haproxy`; when the mirror lacks the newest
#      .dsc (security updates), takes the orig tarball from `--print-uris` alone;
#   4. make TARGET=linux-glibc USE_OPENSSL=1 USE_PCRE2=1 USE_PCRE2_JIT=1 USE_LUA=1
#      USE_PROMEX=1 USE_ZLIB=1, and copies the binary to
#      $NODE_HAPROXY_CACHE_DIR/haproxy-<version>/haproxy.
# A cached binary that runs is reused without touching apt or the network.
set -euo pipefail

CACHE_DIR="${NODE_HAPROXY_CACHE_DIR:-/var/cache/node-haproxy}"
JOBS="${HAPROXY_BUILD_JOBS:-$(nproc)}"
SRC_LIST=/etc/apt/sources.list.d/node-haproxy-trixie-src.sources
log() { echo "build-haproxy: $*" >&2; }

# 1. A cached build that runs is reused.
for bin in $(ls -d "$CACHE_DIR"/haproxy-3.0.*/haproxy 2>/dev/null | sort -V -r); do
  if "$bin" -v >/dev/null 2>&1; then
    log "reusing $bin ($("$bin" -v | sed -n 1p))"
    echo "$bin"
    exit 0
  fi
done

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  log "no cached HAProxy 3.0 under $CACHE_DIR, and building one needs root and apt-get."
  log "Run this script as root on Debian/Ubuntu, or build HAProxy 3.0 yourself and set HAPROXY_BIN to it."
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_retry() { # apt's lock may be held by another apt run on the machine
  local i
  for i in $(seq 1 60); do
    if "$@"; then return 0; fi
    log "'$*' failed (try $i of 60), retrying in 10 s"
    sleep 10
  done
  return 1
}

# 2. deb-src for trixie. Debian's own mirror; the URI follows the machine's
#    debian.sources when it names another mirror.
if [ ! -e "$SRC_LIST" ]; then
  mirror=http://deb.debian.org/debian
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    [ -n "$m" ] && mirror=$m
  fi
  log "adding $SRC_LIST (deb-src trixie from $mirror)"
  cat >"$SRC_LIST" <<EOF
# Added by node-haproxy scripts/build-haproxy.sh: source packages of Debian 13
# (trixie), to build HAProxy 3.0 LTS. Only deb-src: no binary package changes.
Types: deb-src
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi
apt_retry apt-get update -qq
apt_retry apt-get install -y -qq --no-install-recommends \
  build-essential dpkg-dev libssl-dev libpcre2-dev liblua5.4-dev zlib1g-dev ca-certificates >/dev/null

# 3. The source.
work=$(mktemp -d /tmp/node-haproxy-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
log "fetching haproxy's source package from trixie into $work"
if ! apt-get source --download-only -qq haproxy/trixie >&2 2>&1; then
  log "apt-get source failed (the mirror may lack the newest .dsc); fetching the orig tarball alone"
fi
orig=$(ls haproxy_*.orig.tar.* 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$orig" ]; then
  uri=$(apt-get source --print-uris -qq haproxy/trixie | tr -d "'" | awk '$1 ~ /\.orig\.tar\./ {print $1; exit}')
  [ -n "$uri" ] || { log "no orig tarball of haproxy in trixie's sources"; exit 1; }
  log "downloading $uri"
  orig=$(basename "$uri")
  # apt's own downloader: present wherever apt is (curl and wget may not be).
  /usr/lib/apt/apt-helper download-file "$uri" "$work/$orig" >&2
fi
version=$(echo "$orig" | sed -E 's/^haproxy_([0-9.]+)\.orig\.tar\..*$/\1/')
case "$version" in
  3.0.*) ;;
  *) log "trixie's haproxy is $version, not 3.0.x: update this script"; exit 1 ;;
esac
log "building HAProxy $version from $orig with $JOBS jobs"
tar -xf "$orig"
cd "haproxy-$version"

# 4. Build. Debian's -dev packages; the Makefile finds lua5.4 itself.
start=$(date +%s)
make -j"$JOBS" TARGET=linux-glibc USE_OPENSSL=1 USE_PCRE2=1 USE_PCRE2_JIT=1 USE_LUA=1 \
  USE_PROMEX=1 USE_ZLIB=1 >"$work/make.log" 2>&1 || {
  tail -n 40 "$work/make.log" >&2
  log "make failed (log above)"
  exit 1
}
log "built in $(($(date +%s) - start)) s: $(./haproxy -v | sed -n 1p)"
dest="$CACHE_DIR/haproxy-$version"
mkdir -p "$dest"
install -m 0755 haproxy "$dest/haproxy.tmp"
mv "$dest/haproxy.tmp" "$dest/haproxy"
echo "$dest/haproxy"
