#!/usr/bin/env bash
# lab-bookworm: the lab as a user gets it (issue 11, item 5). Builds the collection tarball, installs it into an
# empty collections path in a temporary directory, writes there the molecule scenario that README.md gives (its
# ```yaml blocks whose first line is "# molecule/default/FILE") plus this directory's verify.yml, and runs
# `molecule test` in that directory with HOME and ANSIBLE_COLLECTIONS_PATH there too: nothing of the checkout,
# of ~/.ansible or of the venv's site-packages is found, only the installed collection (verify.yml checks it).
# The VM: Debian 12 with one 4 GiB NVDIMM; converge makes 2 GiB of it system RAM; verify runs the README's ad-hoc
# seed flow (1 GiB instead of 12, twice: changed, then not), then purges ndctl and daxctl and runs an ad-hoc
# `ansible -m memtier.pmem.pmem_info` against it (rc 0, versions null).
# tools/run-scenarios.sh runs this instead of `molecule test` (there is no molecule.yml here).
# Needs molecule and ansible-core on the PATH (make molecule puts .cache/venv/bin first). KEEP=1 keeps the
# temporary directory.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/memtier-lab.XXXXXX")
cleanup() {
  local rc=$? dir
  # molecule's own destroy runs even after a failure; this only catches a VM left by an interrupted run.
  while IFS= read -r dir; do
    python3 "$root/playbooks/files/pmemvm.py" down --purge --state-dir "$dir" || true
  done < <(find "$work" -name qemu.pid -printf '%h\n' 2>/dev/null)
  if [ "${KEEP:-0}" = 1 ]; then echo "lab-bookworm: kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "lab-bookworm: building and installing the collection in $work"
ansible-galaxy collection build --output-path "$work/dist" "$root"
# With the configured collections path (make's points at the checkout) ansible-galaxy would find the collection
# already installed and install nothing.
ANSIBLE_COLLECTIONS_PATH="$work/collections" \
  ansible-galaxy collection install --offline -p "$work/collections" "$work"/dist/memtier-pmem-*.tar.gz
[ -f "$work/collections/ansible_collections/memtier/pmem/MANIFEST.json" ] ||
  { echo "lab-bookworm: the collection was not installed into $work/collections" >&2; exit 1; }

project=$work/project
mkdir -p "$project/molecule/default" "$work/home"
# The README's scenario, file by file.
awk -v dir="$project" '
  /^```yaml$/ { inblock = 1; first = 1; next }
  /^```$/ { inblock = 0; out = ""; next }
  inblock && first { first = 0; if ($0 ~ /^# molecule\/default\/[a-z_]+\.yml$/) out = dir "/" substr($0, 3) }
  inblock && out != "" { print > out }
' "$root/README.md"
for f in molecule.yml create.yml destroy.yml converge.yml; do
  [ -s "$project/molecule/default/$f" ] || { echo "lab-bookworm: README.md has no molecule/default/$f block" >&2; exit 1; }
done
cp "$here/verify.yml" "$project/molecule/default/verify.yml"
# The README's ad-hoc seed flow ("ansible pmemhosts ..." lines of the sh block under "### The seed flow, ad hoc"),
# which verify.yml runs against the lab VM.
awk '/^### The seed flow, ad hoc$/ { sect = 1; next } /^### / { sect = 0 }
     sect && /^```sh$/ { inblock = 1; next } inblock && /^```$/ { exit } inblock && /^ansible pmemhosts / { print }' \
  "$root/README.md" > "$project/molecule/default/adhoc.txt"
[ "$(wc -l < "$project/molecule/default/adhoc.txt")" -ge 4 ] ||
  { echo "lab-bookworm: README.md's ad-hoc seed flow not found" >&2; exit 1; }

cd "$project"
# pyenv shims find their root through HOME.
env PYENV_ROOT="${PYENV_ROOT:-$HOME/.pyenv}" HOME="$work/home" ANSIBLE_COLLECTIONS_PATH="$work/collections" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
  MEMTIER_LAB_COLLECTIONS="$work/collections" molecule test
