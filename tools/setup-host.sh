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

# CXL guests (Debian 13) need the cxl tool, which the guest images do not have (the system_ram role will install
# it; the cxl-trixie scenario and make demo CXL=1 copy these into the guest and dpkg -i them). trixie's cxl and the
# three libraries it needs beyond the image's ndctl/daxctl are downloaded with a private apt configuration from
# the Debian mirror the trixie image is built from (deb.debian.org unless MEMTIER_VM_MIRROR; the host's own apt
# sources need not name trixie), into $CXL_DEBS_DIR, once.
CXL_DEBS_DIR=${MEMTIER_VM_CACHE:-/var/cache/memtier-pmem}/cxl-debs
CXL_DEBS=(cxl libcxl1 libtracefs1 libtraceevent1)
if [ ! -f "$CXL_DEBS_DIR/.complete" ]; then
  echo "setup-host: downloading Debian trixie's ${CXL_DEBS[*]} into $CXL_DEBS_DIR for CXL guests"
  mirror=${MEMTIER_VM_MIRROR:-http://deb.debian.org/debian}
  mirror=${mirror%/}
  mkdir -p "$CXL_DEBS_DIR/apt/lists/partial" "$CXL_DEBS_DIR/apt/cache/archives/partial"
  key=/usr/share/keyrings/debian-archive-keyring.gpg
  printf 'deb [signed-by=%s] %s %s main\n' "$key" "$mirror" trixie "$key" "$mirror" trixie-updates \
    "$key" "${mirror%/debian}/debian-security" trixie-security > "$CXL_DEBS_DIR/apt/sources.list"
  apt_opts=(-o APT::Sandbox::User=root -o "Dir::Etc::SourceList=$CXL_DEBS_DIR/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$CXL_DEBS_DIR/apt/lists" -o "Dir::Cache=$CXL_DEBS_DIR/apt/cache" -o APT::Architecture=amd64)
  apt-get "${apt_opts[@]}" update -q
  rm -rf "$CXL_DEBS_DIR/new" && mkdir "$CXL_DEBS_DIR/new"
  (cd "$CXL_DEBS_DIR/new" && apt-get "${apt_opts[@]}" download "${CXL_DEBS[@]}")
  rm -f "$CXL_DEBS_DIR"/*.deb && mv "$CXL_DEBS_DIR"/new/*.deb "$CXL_DEBS_DIR"/ && rmdir "$CXL_DEBS_DIR/new"
  date -u +%Y-%m-%dT%H:%M:%SZ > "$CXL_DEBS_DIR/.complete"
fi
