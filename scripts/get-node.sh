#!/usr/bin/env bash
# Fetches a Node.js binary from the npm registry's `node-linux-<arch>` package
# (the only download source CI allows) and caches it. Prints the path of the
# `node` executable on stdout, and nothing else; progress goes to stderr.
#
#   scripts/get-node.sh [MAJOR]      default 24 (the current LTS line)
#
# Settings (environment):
#   NODE_HAPROXY_CACHE_DIR   cache root (default /var/cache/node-haproxy)
#
# The newest MAJOR.x the registry has is used; a cached one is reused without
# asking the registry again when NODE_HAPROXY_OFFLINE=1, or when the registry
# cannot be reached.
set -euo pipefail

MAJOR="${1:-24}"
CACHE_DIR="${NODE_HAPROXY_CACHE_DIR:-/var/cache/node-haproxy}"
log() { echo "get-node: $*" >&2; }
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) log "no npm node binary package for $(uname -m)"; exit 1 ;;
esac
pkg="node-linux-$arch"

cached() { ls -d "$CACHE_DIR"/node-v"$MAJOR".*/bin/node 2>/dev/null | sort -V | tail -n 1; }

version=""
if [ "${NODE_HAPROXY_OFFLINE:-0}" != 1 ]; then
  version=$(npm view "$pkg@$MAJOR" version --json 2>/dev/null | tr -d '", []' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | tail -n 1 || true)
fi
if [ -z "$version" ]; then
  bin=$(cached)
  if [ -n "$bin" ]; then log "registry not asked or not reachable; reusing $bin"; echo "$bin"; exit 0; fi
  log "cannot find $pkg@$MAJOR on the npm registry and none is cached under $CACHE_DIR"
  exit 1
fi

dest="$CACHE_DIR/node-v$version"
if [ -x "$dest/bin/node" ] && "$dest/bin/node" --version >/dev/null 2>&1; then
  log "reusing $dest/bin/node ($version)"
  echo "$dest/bin/node"
  exit 0
fi

work=$(mktemp -d /tmp/node-haproxy-node.XXXXXX)
trap 'rm -rf "$work"' EXIT
log "npm pack $pkg@$version"
(cd "$work" && npm pack --silent "$pkg@$version" >/dev/null)
tar -xzf "$work"/"$pkg"-"$version".tgz -C "$work"
# The package holds bin/node (and its LICENSE); the tarball's root is package/.
[ -x "$work/package/bin/node" ] || { log "$pkg@$version has no package/bin/node"; exit 1; }
mkdir -p "$dest.tmp/bin"
cp "$work/package/bin/node" "$dest.tmp/bin/node"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
"$dest/bin/node" --version >&2
echo "$dest/bin/node"
