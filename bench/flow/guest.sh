# shellcheck shell=bash
# Part of bench/flow.py, run as root in the guest (bash -s CMD < guest.sh). Untimed.
#   setup: label the NVDIMM of region0 (the seed's flow needs a labelled region), then remember the
#          starting state: memory size, whether kmem is loaded, and every file in the directories the
#          role writes to (with checksums).
#   reset: back to that starting state, the same way after every flow: every system-ram dax device
#          offline and back in devdax mode, every namespace of region0 destroyed, the files that are not
#          in the starting state removed (the role's boot configuration), kmem as it was at setup.
#          Fails when the state reached is not the starting state.
#   state: the state a flow left, as JSON (dax device modes, memory size, Movable pages on each node).
set -euo pipefail
trap 'echo "guest.sh line $LINENO: exit $?: $BASH_COMMAND" >&2' ERR
BOOT=/var/tmp/bench-flow
WATCH=(/etc/modules-load.d /etc/modprobe.d /etc/systemd/system /etc/udev/rules.d /etc/daxctl.conf.d
       /etc/memtier-pmem /usr/local/sbin /usr/local/lib/systemd)

memtotal() { awk '/^MemTotal:/ {print $2}' /proc/meminfo; }
kmem_loaded() { if [ -d /sys/module/kmem ]; then echo 1; else echo 0; fi; }
# ndctl and daxctl print one object unwrapped: make it a list.
as_list() { jq -c 'if type == "array" then .[] else . end'; }
files() { { find "${WATCH[@]}" -xdev 2>/dev/null || true; } | sort; }   # some of them do not exist
namespaces() { ndctl list --namespaces --region=region0 | as_list | wc -l; }

case "${1:?setup, reset or state}" in
setup)
  mkdir -p "$BOOT"
  # A fresh NVDIMM shows one label-less raw namespace and no free space until its labels are initialised.
  ndctl disable-region region0 >/dev/null 2>&1
  ndctl init-labels all >/dev/null 2>&1
  ndctl enable-region region0 >/dev/null 2>&1
  if [ "$(namespaces)" != 0 ]; then echo "region0 still has a namespace after init-labels" >&2; exit 1; fi
  memtotal > "$BOOT/memtotal"
  kmem_loaded > "$BOOT/kmem"
  files > "$BOOT/files"
  files | while read -r f; do [ -f "$f" ] && [ ! -L "$f" ] && md5sum "$f"; done > "$BOOT/md5" || true
  echo "{\"memtotal_kb\": $(memtotal), \"kmem_loaded\": $(kmem_loaded), \"watched_files\": $(wc -l < "$BOOT/files")}"
  ;;
reset)
  for dev in $(daxctl list | as_list | jq -r 'select(.mode == "system-ram") | .chardev'); do
    daxctl offline-memory "$dev" >/dev/null 2>&1 || true    # exits 1 when nothing was online
    daxctl reconfigure-device --mode=devdax "$dev" >/dev/null
  done
  ndctl destroy-namespace all --region=region0 --force >/dev/null 2>&1 || true
  files | comm -13 "$BOOT/files" - | sort -r | while read -r f; do
    if [ -d "$f" ] && [ ! -L "$f" ]; then rmdir "$f"; else rm -f "$f"; fi
  done
  systemctl daemon-reload
  udevadm control --reload
  if [ "$(cat "$BOOT/kmem")" = 0 ] && [ "$(kmem_loaded)" = 1 ]; then modprobe -r kmem; fi
  problems=()
  [ "$(namespaces)" = 0 ] || problems+=("namespaces left in region0")
  [ "$(memtotal)" = "$(cat "$BOOT/memtotal")" ] || problems+=("MemTotal $(memtotal) kB, was $(cat "$BOOT/memtotal") kB")
  [ "$(kmem_loaded)" = "$(cat "$BOOT/kmem")" ] || problems+=("kmem loaded: $(kmem_loaded), was $(cat "$BOOT/kmem")")
  [ "$(files)" = "$(cat "$BOOT/files")" ] || problems+=("files differ from the starting state")
  md5sum --quiet -c "$BOOT/md5" >/dev/null 2>&1 || problems+=("a file of the starting state was modified")
  if [ ${#problems[@]} -gt 0 ]; then printf 'reset failed: %s\n' "${problems[@]}" >&2; exit 1; fi
  echo '{"reset": true}'
  ;;
state)
  devices=$(daxctl list | as_list | jq -sc 'map({chardev, mode})')
  movable=$(awk '/^Node/ {node = $2; sub(",", "", node); zone = $4}
                 zone == "Movable" && $1 == "present" {printf "%s\"%s\": %d", sep, node, $2; sep = ", "}' /proc/zoneinfo)
  echo "{\"memtotal_kb\": $(memtotal), \"memtotal_added_kb\": $(( $(memtotal) - $(cat "$BOOT/memtotal") )),"\
       "\"dax_devices\": $devices, \"movable_present_pages\": {$movable}}"
  ;;
*) echo "unknown command $1" >&2; exit 2 ;;
esac
