#!/usr/bin/env bash
# Install the Debian packages that the VM harness, the demo and the tests need (run as root).
# Python packages come later, from requirements.txt into .cache/venv (make venv).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in qemu-system-x86 qemu-utils debootstrap e2fsprogs openssh-client python3-venv make git shellcheck; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-host: installing ${need[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi
