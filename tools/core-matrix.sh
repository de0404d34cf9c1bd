#!/usr/bin/env bash
# ansible-test against the ansible-core versions this collection claims (meta/runtime.yml requires_ansible).
#
#   tools/core-matrix.sh [CORE...]        for each CORE (default: the oldest and the newest supported), a venv
#                                         .cache/venv-core<CORE> with the newest ansible-core==<CORE>.* from PyPI,
#                                         then on a copy of the collection: ansible-test sanity, ansible-test units,
#                                         the playbooks' syntax check and an ad-hoc pmem_info run on this machine
#                                         through each target Python (make core-matrix)
#   tools/core-matrix.sh --units [VENV]   ansible-test units only, with the ansible-core of VENV (default .cache/venv,
#                                         the pin of requirements.txt) (make units-targets)
#
# ansible-test wants the collection at ansible_collections/memtier/pmem: it tests a copy of the files git sees
# (tracked and untracked, not ignored), made under .cache/ as `make sanity` does, so nothing is written to the
# checkout. Unit tests run on each Python of TARGET_PYTHONS (pyenv's, each in a venv of its own under
# .cache/units-venvs/core<version>/, where ansible-test --requirements installs pytest and the rest): the
# module and module_utils tests on all of them, the controller tests (filter, role files) on those that can
# be a controller. Sanity runs on SANITY_PYTHON. Each step's whole output is in .cache/core-matrix/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CORES_DEFAULT="2.16 2.19"   # the oldest and the newest ansible-core that requires_ansible claims
TARGET_PYTHONS=${TARGET_PYTHONS:-3.8 3.12}
SANITY_PYTHON=${SANITY_PYTHON:-3.11}
LOGS=$ROOT/.cache/core-matrix
mkdir -p "$LOGS"

log() { printf 'core-matrix: %s\n' "$*" >&2; }

# find_python X.Y: pyenv's newest X.Y, else pythonX.Y from the PATH if it runs (pyenv's shims do not run
# versions that are not selected).
find_python() {
    local candidate
    for candidate in $(printf '%s\n' "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/python"$1" | sort -V -r) \
                     "$(command -v "python$1" || true)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c '' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    log "no Python $1 (install it with pyenv, or put python$1 on the PATH)"
    return 1
}

# copy_collection DIR: DIR/ansible_collections/memtier/pmem, a fresh copy of the files git sees, as a git tree
# (ansible-test lists the files of a collection through git).
copy_collection() {
    local dest=$1/ansible_collections/memtier/pmem
    rm -rf "$1"
    mkdir -p "$dest"
    git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' file; do if [ -e "$file" ]; then printf '%s\0' "$file"; fi; done \
        | xargs -0 cp --parents -t "$dest"
    (cd "$dest" && git init -q && git add -A)
    echo "$dest"
}

# pip_bootstrap VENV: ansible-test bootstraps pip into its sanity venvs with a get-pip script it downloads from a
# host this machine cannot reach; put tools/get_pip_bootstrap.py in its place unless a real one is there.
pip_bootstrap() {
    local pipver cache
    pipver=$("$1/bin/python" -c "import ansible_test, os, re; f = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py'); print(re.search(r\"pip='([0-9.]+)'\", open(f).read()).group(1))")
    cache=$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py
    [ -s "$cache" ] || { mkdir -p "$(dirname "$cache")" && cp "$ROOT/tools/get_pip_bootstrap.py" "$cache"; }
}

core_version() { "$1/bin/python" -c 'from ansible.release import __version__; print(__version__)'; }

# core_venv CORE: .cache/venv-core<CORE> with the newest ansible-core CORE.* (made once; CORE_REFRESH=1 upgrades it).
core_venv() {
    local venv=$ROOT/.cache/venv-core$1
    if [ ! -x "$venv/bin/ansible-test" ] || [ -n "${CORE_REFRESH:-}" ]; then
        log "ansible-core $1.*: $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade "ansible-core==$1.*" 2>&1 \
            | grep -v "^WARNING: Location 'file:" >&2 || true
    fi
    echo "$venv"
}

# target_python VERSION X.Y: a venv of Python X.Y for the unit tests of ansible-core VERSION.
target_python() {
    local venv=$ROOT/.cache/units-venvs/core$1/python$2
    [ -x "$venv/bin/python" ] || "$(find_python "$2")" -m venv "$venv"
    echo "$venv/bin/python"
}

# run_logged NAME COMMAND...: COMMAND's output into $LOGS/NAME.log; on failure, its errors.
run_logged() {
    local name=$1 rc=0
    shift
    "$@" > "$LOGS/$name.log" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
        log "$name FAILED (rc $rc), from $LOGS/$name.log:"
        grep -E '^(ERROR|FATAL|FAILED|E  )|[0-9]+ (passed|failed)|unreachable|FAILED!' "$LOGS/$name.log" | tail -40 >&2 \
            || tail -40 "$LOGS/$name.log" >&2
    fi
    return $rc
}

# units VENV: ansible-test units with VENV's ansible-core, on every Python of TARGET_PYTHONS.
units() {
    local venv=$1 version dest python args=()
    version=$(core_version "$venv")
    for python in $TARGET_PYTHONS; do
        args+=(--target-python "$python@$(target_python "$version" "$python")")
    done
    dest=$(copy_collection "$ROOT/.cache/units/core$version")
    log "ansible-core $version: ansible-test units on Python ${TARGET_PYTHONS// /, }"
    (cd "$dest" && run_logged "core$version.units" "$venv/bin/ansible-test" units --color no --requirements "${args[@]}") \
        || return 1
    # "Unit test module_utils with Python 3.8: 120 passed in 4.93s"
    awk '/^Unit test .* with Python/ {t = $0} /^=+ .*(passed|failed|error).* =+$/ {gsub(/^=+ | =+$/, ""); print "  " t ": " $0}' \
        "$LOGS/core$version.units.log" >&2
}

# sanity VENV: ansible-test sanity with VENV's ansible-core on SANITY_PYTHON.
sanity() {
    local venv=$1 version dest
    version=$(core_version "$venv")
    pip_bootstrap "$venv"
    dest=$(copy_collection "$ROOT/.cache/core-matrix/core$version")
    log "ansible-core $version: ansible-test sanity on Python $SANITY_PYTHON"
    (cd "$dest" && run_logged "core$version.sanity" "$venv/bin/ansible-test" sanity --color no --python "$SANITY_PYTHON" --requirements) \
        || return 1
    log "  $(grep -c '^Running sanity test' "$LOGS/core$version.sanity.log") sanity tests, all passed"

}

# smoke VENV: with VENV's ansible-core and the copy that sanity made, the playbooks' syntax check, and
# memtier.pmem.pmem_info run ad hoc on this machine through each target Python (read-only; facts even without
# ndctl). The collection must not say that it does not support this ansible-core.
smoke() {
    local venv=$1 version playbook python out books=(playbooks/*.yml)
    version=$(core_version "$venv")
    log "ansible-core $version: playbooks syntax check, pmem_info on localhost with Python ${TARGET_PYTHONS// /, }"
    export ANSIBLE_COLLECTIONS_PATH=$ROOT/.cache/core-matrix/core$version
    {
        for playbook in "${books[@]}"; do
            "$venv/bin/ansible-playbook" -i localhost, --syntax-check "memtier.pmem.$(basename "$playbook" .yml)"
        done
        for python in $TARGET_PYTHONS; do
            "$venv/bin/ansible" localhost -i localhost, -c local -m memtier.pmem.pmem_info \
                -e "ansible_python_interpreter=$(target_python "$version" "$python")" -o
        done
    } > "$LOGS/core$version.smoke.log" 2>&1 || { log "smoke FAILED, from $LOGS/core$version.smoke.log:"; tail -20 "$LOGS/core$version.smoke.log" >&2; return 1; }
    if grep -q 'does not support Ansible version' "$LOGS/core$version.smoke.log"; then
        log "smoke FAILED: $(grep -m1 'does not support Ansible version' "$LOGS/core$version.smoke.log")"
        return 1
    fi
    out=$(grep -c '^localhost | SUCCESS' "$LOGS/core$version.smoke.log" || true)
    log "  ${#books[@]} playbooks pass the syntax check; pmem_info SUCCESS on $out Python(s)"
}

if [ "${1:-}" = --units ]; then
    venv=$(realpath -m "${2:-.cache/venv}")
    if [ ! -x "$venv/bin/ansible-test" ]; then
        log "${2:-.cache/venv} has no ansible-test (make venv makes .cache/venv)"
        exit 2
    fi
    units "$venv"
    exit
fi

cores=("$@")
[ ${#cores[@]} -gt 0 ] || read -r -a cores <<< "$CORES_DEFAULT"
failed=()
for core in "${cores[@]}"; do
    start=$(date +%s)
    venv=$(core_venv "$core")
    version=$(core_version "$venv")
    sanity "$venv" || failed+=("$version sanity")
    units "$venv" || failed+=("$version units")
    smoke "$venv" || failed+=("$version smoke")
    log "ansible-core $version: done in $(( $(date +%s) - start )) s"
done
if [ ${#failed[@]} -gt 0 ]; then
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "passed: ansible-core ${cores[*]} (sanity on Python $SANITY_PYTHON; units, syntax check and pmem_info on Python ${TARGET_PYTHONS// /, })"
