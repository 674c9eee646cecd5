#!/usr/bin/env bash
# Installs everything curvecp needs to build and test, from Debian 12 packages only.
# Idempotent: safe to run again. Run as root (or it uses sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libsodium-dev libuv1-dev libcli11-dev doctest-dev
  nacl-tools            # reference CurveCP tools for the interoperability tests
  clang libclang-rt-14-dev  # libFuzzer targets and sanitizer runtime
  iproute2 procps psmisc coreutils python3 groff-base man-db  # man-db, groff: the man page test
  iputils-ping ethtool iperf3  # netlab: base RTT probes, offloads off, kernel-TCP anchor
  systemd man-db        # systemd-analyze verify of contrib/curvecp-serve.service (Documentation= via man)
  gnuplot-nox  # netlab_report: one plot per scenario
  openssh-server openssh-client curl  # e2e_forward: a real service (sshd) and clients through the forward
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
