#!/usr/bin/env bash
# Mesa's lavapipe (a software Vulkan driver) from Debian's bookworm-backports, so that Dawn (the `webgpu` package)
# finds a WebGPU adapter on a machine without a GPU and the webgpu tests run instead of skipping
# (../shared/notes/webgpu-on-cpu.md: Debian 12's own Mesa 22.3 is refused by Dawn; 25.0 works).
# Idempotent: does nothing when a Mesa >= 25 lavapipe is installed. Needs root and apt-get; otherwise it says why
# and exits 0 (the webgpu tests then skip, saying why). Usage: bash scripts/ci/install-lavapipe.sh
set -uo pipefail

mesa_version() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true; }
have_lavapipe() {
  local v; v=$(mesa_version)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 25 && ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 &&
    ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'
}

if have_lavapipe; then
  echo "lavapipe: Mesa $(mesa_version) already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: lavapipe (Mesa >= 25) is missing and cannot be installed here (needs root and apt-get); the webgpu tests will be skipped"
  exit 0
fi
if ! grep -qs 'VERSION_CODENAME=bookworm' /etc/os-release; then
  echo "note: not Debian bookworm ($(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-unknown}")): lavapipe from bookworm-backports not installed; the webgpu tests will be skipped"
  exit 0
fi
# the machine's own Debian mirror (the registry this machine reaches), from its sources
uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v security | head -1 | awk '{print $2}')
[ -z "$uri" ] && uri=$(grep -hs '^deb ' /etc/apt/sources.list 2>/dev/null | grep -v security | head -1 | awk '{print $2}')
[ -z "$uri" ] && uri=http://deb.debian.org/debian
src=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -qs 'bookworm-backports' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null; then
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" >"$src"
fi
echo "installing lavapipe (mesa-vulkan-drivers from bookworm-backports, $uri) for the webgpu tests"
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq libvulkan1 >/dev/null && apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null; then
  echo "lavapipe: Mesa $(mesa_version) installed"
else
  echo "note: could not install lavapipe; the webgpu tests will be skipped"
fi
exit 0
