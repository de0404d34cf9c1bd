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

# CXL guests need QEMU >= 8 (cxl-type3 volatile-memdev); Debian 12's QEMU 7.2 lacks it. The system's QEMU
# stays (every NVDIMM scenario is proven on it): bookworm-backports' QEMU is downloaded with a private apt
# configuration and unpacked, not installed, under $QEMU_CXL_DIR/root, where pmemvm.py --cxl finds it
# (shared libraries from the system; firmware from the copy, given to QEMU with -L).
QEMU_CXL_DIR=/var/cache/memtier-pmem/qemu-10
if ! qemu-system-x86_64 -device cxl-type3,help 2>/dev/null | grep -q volatile-memdev \
   && ! "$QEMU_CXL_DIR/root/usr/bin/qemu-system-x86_64" -device cxl-type3,help 2>/dev/null | grep -q volatile-memdev; then
  # shellcheck source=/dev/null
  . /etc/os-release
  if [ "${VERSION_CODENAME:-}" != bookworm ]; then
    echo "setup-host: no QEMU with volatile CXL memory here and no recipe for ${VERSION_CODENAME:-this system}; CXL guests will not boot" >&2
  else
    echo "setup-host: unpacking bookworm-backports' QEMU into $QEMU_CXL_DIR/root for CXL guests"
    mkdir -p "$QEMU_CXL_DIR/apt/lists/partial" "$QEMU_CXL_DIR/apt/cache/archives/partial" "$QEMU_CXL_DIR/debs"
    key=/usr/share/keyrings/debian-archive-keyring.gpg
    printf 'deb [signed-by=%s] http://deb.debian.org/debian %s main\n' "$key" bookworm-backports "$key" bookworm \
      > "$QEMU_CXL_DIR/apt/sources.list"
    apt_opts=(-o APT::Sandbox::User=root -o "Dir::Etc::SourceList=$QEMU_CXL_DIR/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$QEMU_CXL_DIR/apt/lists" -o "Dir::Cache=$QEMU_CXL_DIR/apt/cache")
    apt-get "${apt_opts[@]}" update -q
    rm -f "$QEMU_CXL_DIR"/debs/*.deb
    (cd "$QEMU_CXL_DIR/debs" && apt-get "${apt_opts[@]}" download qemu-system-x86/bookworm-backports \
       qemu-system-common/bookworm-backports qemu-system-data/bookworm-backports seabios/bookworm-backports)
    rm -rf "$QEMU_CXL_DIR/root.new"
    for deb in "$QEMU_CXL_DIR"/debs/*.deb; do dpkg -x "$deb" "$QEMU_CXL_DIR/root.new"; done
    "$QEMU_CXL_DIR/root.new/usr/bin/qemu-system-x86_64" -device cxl-type3,help | grep -q volatile-memdev
    rm -rf "$QEMU_CXL_DIR/root" && mv "$QEMU_CXL_DIR/root.new" "$QEMU_CXL_DIR/root"
  fi
fi
