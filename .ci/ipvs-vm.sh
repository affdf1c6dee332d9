#!/usr/bin/env bash
# CI hook for the ipvs L4 driver's test against real kernel IPVS
# (test/l4/ipvs-vm.test.ts, which boots Debian's kernel under qemu with
# test/l4/vm/run-ipvs-vm.sh; see test/l4/vm/README.md).
#   .ci/ipvs-vm.sh                 install the host packages, then run the VM test on its own
#   .ci/ipvs-vm.sh --install-only  only install them; `npm test` then runs the VM test with the rest
# Needs root (or sudo) for apt-get, and `npm ci` done before the test runs.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(qemu-system-x86 busybox-static ipvsadm iproute2 cpio time zstd)
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# run-ipvs-vm.sh fetches the kernel with apt-get download: the package lists must be there too
if [ ${#missing[@]} -gt 0 ] || ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
  echo "== IPVS VM: apt-get install ${packages[*]}"
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
fi
[ "${1:-}" = --install-only ] && exit 0

if [ ! -x node_modules/.bin/tap ]; then
  echo "node_modules is missing: run npm ci first" >&2
  exit 1
fi
echo "== IPVS VM: test/l4/ipvs-vm.test.ts"
# TCPVS_IPVS_VM=1: a missing prerequisite fails the test instead of skipping it
TCPVS_IPVS_VM=1 PATH="$PWD/node_modules/.bin:$PATH" npx tap --disable-coverage test/l4/ipvs-vm.test.ts
