#!/usr/bin/env bash
# Usage: tools/release.sh VERSION
#
# Makes release VERSION of the collection with antsibull-changelog: sets galaxy.yml's version to VERSION, lints
# the changelog fragments, runs `antsibull-changelog release --version VERSION` (the fragments in
# changelogs/fragments become VERSION's entries in changelogs/changelog.yaml and CHANGELOG.rst, with the modules,
# plugins and roles whose version_added is VERSION as new ones; the fragments are deleted, keep_fragments is
# false), then lints the fragments and changelogs/changelog.yaml again.
#
# It commits nothing. Review, then commit galaxy.yml, CHANGELOG.rst and changelogs/ (the deleted fragments
# too). galaxy.yml then says VERSION; set it to the next version when development of that version starts, so
# that what is built from the tree is never taken for VERSION.
#
# Run again for a VERSION already in changelog.yaml, it adds the fragments present to that release (its date
# stays). BIN (default .cache/venv/bin, made by `make venv`) holds antsibull-changelog and ansible-doc.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/.cache/venv/bin}

if [ $# -ne 1 ] || ! [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
    echo "usage: $0 VERSION (semantic version, for example 0.2.0 or 1.0.0-rc1)" >&2
    exit 2
fi
version=$1
for tool in antsibull-changelog ansible-doc; do
    [ -x "$BIN/$tool" ] || { echo "release: $BIN/$tool missing (make venv)" >&2; exit 1; }
done
[ "$(grep -c '^version: ' galaxy.yml)" = 1 ] || { echo "release: galaxy.yml needs exactly one 'version:' line" >&2; exit 1; }

sed -i "s/^version: .*/version: $version/" galaxy.yml
echo "release: galaxy.yml version $version"
"$BIN/antsibull-changelog" lint
echo "release: fragments: $(find changelogs/fragments -type f -printf '%f\n' 2>/dev/null | sort | tr '\n' ' ')"
# The plugin list is read afresh (ansible-doc on a copy of the git-visible files, vcs: auto) and its cache
# (changelogs/.plugin-cache.yaml) removed after, so that it is neither committed nor shipped.
"$BIN/antsibull-changelog" release --version "$version" --reload-plugins --ansible-doc-bin "$BIN/ansible-doc"
rm -f changelogs/.plugin-cache.yaml
"$BIN/antsibull-changelog" lint
"$BIN/antsibull-changelog" lint-changelog-yaml --strict changelogs/changelog.yaml
echo "release: $version made; to commit:"
git status --short -- galaxy.yml CHANGELOG.rst changelogs
