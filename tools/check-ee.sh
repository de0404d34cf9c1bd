#!/usr/bin/env bash
# What an execution environment (EE) built with this collection gets from it, checked the way ansible-builder
# would do it, without building an image:
#   1. the collection as users get it (the built tarball, installed), run through `ansible-builder introspect`:
#      its system requirements are found, and bindep selects none of them for an EE build (the default, compile
#      and epel profiles that ansible-builder's assemble script asks for, on dpkg and rpm platforms), while
#      the "target" profile still lists the managed hosts' tools; no Python requirement comes from it;
#   2. `ansible-builder create` with a minimal execution-environment.yml that installs that tarball: every COPY
#      of the Containerfile has its source in the context, and the context's galaxy requirements install the
#      collection from the context alone (what the galaxy stage runs in /build), after which the context's own
#      introspect script (the builder stage) again yields nothing to install.
# Exits non-zero on the first failure. BIN (default .cache/venv/bin) is where ansible-builder, ansible-galaxy,
# bindep and the Python that has bindep live.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/.cache/venv/bin}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check-ee: FAIL: $*" >&2; exit 1; }
step() { echo "check-ee: $*"; }

# The packages of bindep file $1 for profiles $2... on dpkg and rpm platforms, one "platform: packages" line each.
selected() {
    "$BIN/python" - "$@" <<'EOF'
import sys
from bindep.depends import Depends
path, profiles = sys.argv[1], sys.argv[2:]
with open(path) as f:
    depends = Depends(f.read())
for platform in (['platform:dpkg', 'platform:debian'], ['platform:rpm', 'platform:redhat', 'platform:centos']):
    names = sorted(rule[0] for rule in depends.active_rules(profiles + platform))
    print(platform[0] + ':', ' '.join(names))
EOF
}

# Fails unless bindep file $1 selects nothing for an EE build.
nothing_for_ee() {
    local profiles out
    for profiles in default compile epel; do
        out=$(selected "$1" "$profiles")
        if grep -q ': .' <<<"$out"; then
            fail "$2: bindep profile '$profiles' would install in the EE: $(tr '\n' ' ' <<<"$out")"
        fi
    done
}

step "building and installing the collection tarball"
"$BIN/ansible-galaxy" collection build --output-path "$work/dist" . >/dev/null
tarball=$(echo "$work"/dist/memtier-pmem-*.tar.gz)
[ -f "$tarball" ] || fail "no tarball built"
"$BIN/ansible-galaxy" collection install --offline --force -p "$work/installed" "$tarball" >/dev/null 2>&1 \
    || fail "ansible-galaxy could not install $tarball"

step "ansible-builder introspect of the installed collection"
"$BIN/ansible-builder" introspect --sanitize "$work/installed" \
    --write-bindep "$work/bindep.txt" --write-pip "$work/pip.txt" | sed 's/^/  /'
grep -q '# from collection memtier.pmem' "$work/bindep.txt" 2>/dev/null \
    || fail "introspect found no system requirements of memtier.pmem (bindep.txt not read?): the check proves nothing"
if grep -qs 'from collection memtier.pmem' "$work/pip.txt"; then
    fail "memtier.pmem gives the EE Python requirements: $(cat "$work/pip.txt")"
fi
nothing_for_ee "$work/bindep.txt" "introspect"
out=$("$BIN/bindep" -f "$work/bindep.txt" -l newline) || fail "bindep could not read the introspected bindep.txt"
[ -z "$out" ] || fail "bindep on this host would install: $out"
for line in "dpkg: daxctl ndctl numactl" "rpm: daxctl ndctl numactl"; do
    grep -qx "platform:$line" <<<"$(selected "$work/bindep.txt" target)" \
        || fail "the target profile no longer lists the managed hosts' tools on platform:${line%%:*}"
done
step "  an EE build selects nothing; the target profile lists daxctl ndctl numactl (dpkg, rpm)"

step "ansible-builder create with a minimal execution-environment.yml"
mkdir "$work/ee"
cp "$tarball" "$work/ee/"
cat >"$work/ee/execution-environment.yml" <<EOF
---
version: 3
dependencies:
  ansible_core:
    package_pip: ansible-core
  ansible_runner:
    package_pip: ansible-runner
  galaxy:
    collections:
      - name: collections/$(basename "$tarball")
        type: file
additional_build_files:
  - src: $(basename "$tarball")
    dest: collections
EOF
(cd "$work/ee" && "$BIN/ansible-builder" create -f execution-environment.yml -c context --output-filename Containerfile >/dev/null) \
    || fail "ansible-builder create failed"
context=$work/ee/context
[ -f "$context/Containerfile" ] || fail "no Containerfile in the context"
# Every COPY from the context (not --from another stage) must find its source there.
while read -r src; do
    [ -e "$context/$src" ] || fail "Containerfile copies $src, which is not in the context"
done < <(awk '$1 == "COPY" && $2 !~ /^--from=/ { print $2 }' "$context/Containerfile")
grep -q '^COPY _build /build' "$context/Containerfile" || fail "the context's _build is not copied to /build"
# The galaxy stage: ansible-galaxy collection install -r requirements.yml in /build, from the context alone.
(cd "$context/_build" && "$BIN/ansible-galaxy" collection install --offline --force -r requirements.yml \
    --collections-path "$work/ee-collections" >/dev/null 2>&1) \
    || fail "the context's requirements.yml does not install from the context alone"
[ -f "$work/ee-collections/ansible_collections/memtier/pmem/MANIFEST.json" ] \
    || fail "the galaxy stage would not install memtier.pmem"
# The builder stage: the context's own introspect script on what the galaxy stage installed.
"$BIN/python" "$context/_build/scripts/introspect.py" introspect --sanitize "$work/ee-collections" \
    --write-bindep "$work/ee-bindep.txt" --write-pip "$work/ee-pip.txt" >/dev/null \
    || fail "the context's introspect script failed"
nothing_for_ee "$work/ee-bindep.txt" "builder stage"
if grep -qs 'from collection memtier.pmem' "$work/ee-pip.txt"; then
    fail "the builder stage gets Python requirements from memtier.pmem: $(cat "$work/ee-pip.txt")"
fi
step "  context complete: $(awk '$1 == "COPY" && $2 !~ /^--from=/' "$context/Containerfile" | wc -l) COPY sources present, requirements.yml installs from it"
step "ok"
