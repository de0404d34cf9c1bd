#!/usr/bin/env bash
# smoke.sh [SUITE ...]  --  boot a VM per suite (default: bullseye bookworm trixie) with
# one 4G NVDIMM and 2G RAM (playbooks/files/pmemvm.py, the launcher the collection ships for its lab),
# check the guest tools over ssh, stop it again.
# Prints the boot-to-ssh time per suite; exits non-zero on the first failure.
# State dirs live under ${MEMTIER_VM_SMOKE_DIR:-/tmp/memtier-vm-smoke} and are purged.
set -euo pipefail

HERE=$(dirname "$(readlink -f "$0")")
PMEMVM="python3 $HERE/../../playbooks/files/pmemvm.py"
BASE=${MEMTIER_VM_SMOKE_DIR:-/tmp/memtier-vm-smoke}
[ $# -gt 0 ] || set -- bullseye bookworm trixie

DIR=""
cleanup() { [ -z "$DIR" ] || $PMEMVM down --state-dir "$DIR" --purge || true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for suite in "$@"; do
    DIR=$BASE/$suite
    echo "=== $suite"
    $PMEMVM up --suite "$suite" --state-dir "$DIR" --ram 2G --nvdimm 4G --timeout 300
    # shellcheck disable=SC2016  # the script runs in the guest, which expands it
    $PMEMVM ssh --state-dir "$DIR" -- '
        set -e
        echo "uname: $(uname -r)"; echo "ndctl: $(ndctl --version)"
        echo "daxctl: $(daxctl --version)"; python3 --version
        ndctl list -R; numactl -H; sudo -n true; echo "sudo: ok"'
    boot=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["boot_seconds"])' \
        "$DIR/instance.json")
    $PMEMVM down --state-dir "$DIR" --purge
    DIR=""
    if pgrep -af "qemu.*$BASE/$suite/" >/dev/null; then
        echo "qemu still running for $suite" >&2; exit 1
    fi
    echo "=== $suite ok: boot-to-ssh ${boot}s"
done
