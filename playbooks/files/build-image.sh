#!/usr/bin/env bash
# build-image.sh SUITE  --  build (or reuse) a cached Debian guest image for NVDIMM tests.
#
#   SUITE: bullseye | bookworm | trixie
#
# Builds, with debootstrap --variant=minbase from the Debian mirror that this host's
# apt configuration names, a guest that pmemvm.py boots with -kernel/-initrd:
#   $CACHE/images/SUITE-HASH/rootfs.ext4   raw ext4 image, 3G sparse (root=/dev/vda)
#                            vmlinuz, initrd.img
#                            id_ed25519[.pub]  key authorized for users memtier and root
#                            info.json         suite, kernel and package versions, cmdline
#                            .complete         written last: the image is usable
# CACHE is ${MEMTIER_VM_CACHE:-/var/cache/memtier-pmem}; HASH is a short sha256 of this
# script (the whole recipe lives here), so changing the recipe rebuilds.
#
# Environment:
#   MEMTIER_VM_CACHE   cache directory (default /var/cache/memtier-pmem)
#   MEMTIER_VM_MIRROR  Debian mirror URL, instead of the one from the host's apt config
#   MEMTIER_VM_SECURITY_MIRROR  debian-security URL (default: from apt config, else derived)
#
# Idempotent (an existing complete image is reused at once), atomic (built in a temp dir
# and renamed), safe to run concurrently (one lock per suite/recipe). Progress goes to
# stderr; the last line on stdout is the image directory. Needs root.
set -euo pipefail

SUITE=${1:-}
case "$SUITE" in
    bullseye|bookworm|trixie) ;;
    *) echo "usage: $0 bullseye|bookworm|trixie" >&2; exit 2 ;;
esac

SELF=$(readlink -f "${BASH_SOURCE[0]}")
HASH=$(sha256sum < "$SELF" | cut -c1-12)
CACHE=${MEMTIER_VM_CACHE:-/var/cache/memtier-pmem}
IMAGES=$CACHE/images
FINAL=$IMAGES/$SUITE-$HASH

# Fast path: the complete image already exists.
if [ -f "$FINAL/.complete" ]; then
    echo "$FINAL"
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "build-image.sh: must run as root (debootstrap, chroot)" >&2; exit 1; }

# Keep stdout for the final path only; everything else goes to stderr.
exec 3>&1 1>&2

mkdir -p "$IMAGES"
exec 9>"$IMAGES/.$SUITE-$HASH.lock"
flock 9
if [ -f "$FINAL/.complete" ]; then   # built by a concurrent run while we waited
    echo "$FINAL" >&3
    exit 0
fi
rm -rf --one-file-system "$FINAL"    # incomplete leftover (should not happen: we rename)

TMP=""
cleanup() {
    local rc=$?
    if [ -n "$TMP" ] && [ -d "$TMP" ]; then
        # Unmount whatever is still mounted below TMP, deepest first, then remove it.
        awk -v p="$TMP/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r |
            while read -r m; do umount -l "$m" || true; done
        rm -rf --one-file-system "$TMP"
    fi
    [ $rc = 0 ] || echo "build-image.sh: build of $SUITE failed (rc=$rc)" >&2
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TMP=$(mktemp -d "$IMAGES/.$SUITE-$HASH.tmp.XXXXXX")
ROOT=$TMP/rootfs
START=$(date +%s)
log() { echo "build-image[$SUITE]: $*"; }

# --- Mirrors: from the host's apt configuration unless overridden -------------------
# A host's deb.debian.org-style entries: the site serving "<codename>" is the main
# archive, the one serving "<codename>-security" is debian-security.
apt_site() {   # $1: regexp on the Release (suite) name
    # shellcheck disable=SC2016  # $(...) here is apt's format syntax, not the shell's
    apt-get indextargets --format '$(TARGET_OF) $(RELEASE) $(SITE)' 2>/dev/null |
        awk -v re="$1" '$1 == "deb" && $2 ~ re { print $3; exit }'
}
. /etc/os-release
HOST_CODENAME=${VERSION_CODENAME:-}
MIRROR=${MEMTIER_VM_MIRROR:-$(apt_site "^${HOST_CODENAME}\$")}
[ -n "$MIRROR" ] || MIRROR=$(apt_site '^[a-z]+$')
[ -n "$MIRROR" ] || { echo "build-image.sh: no Debian mirror in apt config; set MEMTIER_VM_MIRROR" >&2; exit 1; }
MIRROR=${MIRROR%/}
SECURITY=${MEMTIER_VM_SECURITY_MIRROR:-}
if [ -z "$SECURITY" ]; then
    if [ -n "${MEMTIER_VM_MIRROR:-}" ]; then
        SECURITY=${MIRROR%/debian}/debian-security
    else
        SECURITY=$(apt_site '-security$')
        [ -n "$SECURITY" ] || SECURITY=${MIRROR%/debian}/debian-security
    fi
fi
SECURITY=${SECURITY%/}
log "mirror $MIRROR, security $SECURITY, temp dir $TMP"

# --- debootstrap ---------------------------------------------------------------------
PACKAGES=systemd-sysv,udev,dbus,kmod,iproute2,openssh-server,sudo,python3,ndctl,daxctl
PACKAGES=$PACKAGES,numactl,util-linux,procps,initramfs-tools,zstd,jq,ca-certificates
log "debootstrap --variant=minbase"
debootstrap --variant=minbase --components=main --include="$PACKAGES" \
    "$SUITE" "$ROOT" "$MIRROR"

# --- Guest configuration, written from the host -------------------------------------
HOSTNAME=memtier-$SUITE
rm -f "$ROOT/etc/apt/sources.list"
cat > "$ROOT/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main

Types: deb
URIs: $SECURITY
Suites: $SUITE-security
Components: main
EOF
cat > "$ROOT/etc/apt/apt.conf.d/90memtier" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
echo "$HOSTNAME" > "$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
    "$HOSTNAME" > "$ROOT/etc/hosts"
printf '/dev/vda\t/\text4\trw,relatime\t0\t0\n' > "$ROOT/etc/fstab"
echo 'nameserver 10.0.2.3' > "$ROOT/etc/resolv.conf"          # QEMU user-net DNS
echo 'LANG=C.UTF-8' > "$ROOT/etc/default/locale"
mkdir -p "$ROOT/etc/systemd/network"
cat > "$ROOT/etc/systemd/network/10-eth0.network" <<'EOF'
[Match]
Name=eth0

[Network]
DHCP=ipv4
EOF
mkdir -p "$ROOT/etc/ssh/sshd_config.d"
cat > "$ROOT/etc/ssh/sshd_config.d/memtier.conf" <<'EOF'
UseDNS no
PasswordAuthentication no
PermitRootLogin prohibit-password
EOF
echo 'memtier ALL=(ALL) NOPASSWD:ALL' > "$ROOT/etc/sudoers.d/memtier"
chmod 0440 "$ROOT/etc/sudoers.d/memtier"
# Small initramfs: only what mounting /dev/vda needs.
printf 'virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n' >> "$ROOT/etc/initramfs-tools/modules"
echo 'MODULES=list' > "$ROOT/etc/initramfs-tools/conf.d/memtier.conf"
# No daemons start inside the chroot.
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"

ssh-keygen -q -t ed25519 -N '' -C "memtier-vm-$SUITE" -f "$TMP/id_ed25519"
cp "$TMP/id_ed25519.pub" "$ROOT/tmp/authorized_keys"

# --- Inside the chroot: updates, kernel, user, services --------------------------------
cat > "$ROOT/tmp/setup.sh" <<'EOF'
set -eux
export DEBIAN_FRONTEND=noninteractive
apt-get -q update
apt-get -q -y dist-upgrade
apt-get -q -y install linux-image-amd64
# trixie split systemd-networkd out of the systemd package.
if apt-cache show systemd-networkd >/dev/null 2>&1; then
    apt-get -q -y install systemd-networkd
fi
useradd -m -s /bin/bash memtier
usermod -p '*' memtier                  # no password, but not "locked" for sshd
for user in root memtier; do
    home=$(getent passwd $user | cut -d: -f6)
    install -d -m 700 -o $user -g $user "$home/.ssh"
    install -m 600 -o $user -g $user /tmp/authorized_keys "$home/.ssh/authorized_keys"
done
systemctl enable systemd-networkd.service ssh.service
systemctl disable ndctl-monitor.service 2>/dev/null || true
# Nothing should run apt or scrub disks behind the tests' back.
for t in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
    systemctl mask "$t" 2>/dev/null || true
done
apt-get clean
# A fresh machine-id per VM (systemd creates it at first boot of each overlay).
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
EOF
mount -t proc proc "$ROOT/proc"
log "configuring in chroot (updates, kernel)"
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    /bin/bash /tmp/setup.sh
umount "$ROOT/proc"

KVER=$(find "$ROOT/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)
cp "$ROOT/boot/vmlinuz-$KVER" "$TMP/vmlinuz"
cp "$ROOT/boot/initrd.img-$KVER" "$TMP/initrd.img"
# shellcheck disable=SC2016  # ${Version} is dpkg-query's format syntax
pkgver() { chroot "$ROOT" dpkg-query -W -f '${Version}' "$1"; }
ndctl_version=$(chroot "$ROOT" ndctl --version)
cat > "$TMP/info.json" <<EOF
{
  "suite": "$SUITE",
  "recipe": "$HASH",
  "kernel": "$KVER",
  "ndctl": "$ndctl_version",
  "packages": {
    "linux-image": "$(pkgver "linux-image-$KVER")",
    "ndctl": "$(pkgver ndctl)",
    "daxctl": "$(pkgver daxctl)",
    "python3": "$(pkgver python3)",
    "systemd": "$(pkgver systemd)"
  },
  "cmdline": "root=/dev/vda rw console=ttyS0 net.ifnames=0",
  "user": "memtier",
  "mirror": "$MIRROR",
  "security_mirror": "$SECURITY",
  "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF
rm -f "$ROOT/usr/sbin/policy-rc.d" "$ROOT/tmp/setup.sh" "$ROOT/tmp/authorized_keys"

log "mkfs.ext4 -d"
mkfs.ext4 -q -F -L memtier-root -d "$ROOT" "$TMP/rootfs.ext4" 3G
rm -rf --one-file-system "$ROOT"

chmod 0755 "$TMP"
date -u +%Y-%m-%dT%H:%M:%SZ > "$TMP/.complete"
mv -T "$TMP" "$FINAL"
TMP=""
log "done in $(( $(date +%s) - START ))s: $FINAL"
echo "$FINAL" >&3
