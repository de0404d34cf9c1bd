#!/usr/bin/env bash
# build-ndctl.sh check|build SOURCE PREFIX SCRATCH
#
# Builds ndctl and daxctl (ndctl v73 or later: meson) from SOURCE, a release tarball or an unpacked
# source tree, and installs them under PREFIX without touching the distribution's files:
#   PREFIX/bin (ndctl, daxctl, cxl), PREFIX/lib (their libraries), PREFIX/include, PREFIX/share/daxctl.
# The programs carry RUNPATH=PREFIX/lib, so they never load the distribution's older libndctl or
# libdaxctl. Configuration stays where the distribution's daxctl has it (/etc/daxctl.conf.d,
# /etc/modprobe.d/daxctl.conf), so both read the same; the example configuration, udev rule, systemd
# units, bash completion and man pages are not installed (the system_ram role writes the boot
# configuration it needs). PREFIX/.memtier-ndctl-version records the version installed.
#
#   check  only say whether a build is needed (the version installed under PREFIX differs)
#   build  build and install when needed
# SCRATCH is an empty directory for the unpacked source, the build and the staged install.
# Prints one JSON line: {"build": true|false, "version": "81", "installed": "76" or null}.
set -euo pipefail

mode=$1 source=$2 prefix=$3 scratch=$4
stamp=$prefix/.memtier-ndctl-version
mkdir -p "$scratch"   # a source tree is built from where it is: nothing else makes the scratch directory

fail() { echo "build-ndctl: $*" >&2; exit 1; }
json_string() { if [ -n "$1" ]; then printf '"%s"' "$1"; else printf null; fi; }

case "$mode" in check|build) ;; *) fail "usage: $0 check|build SOURCE PREFIX SCRATCH" ;; esac

# --- The source tree and its version -------------------------------------------------------
if [ -d "$source" ]; then
    tree=$source
elif [ -f "$source" ]; then
    mkdir -p "$scratch/src"
    tar -xf "$source" -C "$scratch/src" || fail "$source is not a tarball tar can unpack"
    # The top-level meson.build: the shortest path (a tarball may or may not have a top directory).
    top=$(find "$scratch/src" -maxdepth 2 -name meson.build | awk '{ print length($0), $0 }' | sort -n |
          head -n 1 | cut -d' ' -f2-)
    tree=${top%/meson.build}
else
    fail "system_ram_ndctl_source: $source does not exist on the host"
fi
if [ ! -f "$tree/meson.build" ] || ! grep -q "^project('ndctl'" "$tree/meson.build"; then
    fail "system_ram_ndctl_source: $source is not an ndctl source tree with a meson.build (ndctl v73 or later;" \
         "earlier releases build with autotools and are not supported)"
fi
version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$tree/meson.build" | head -n 1)
[ -n "$version" ] || fail "no version in $tree/meson.build"

installed=""
if [ -f "$stamp" ] && [ -x "$prefix/bin/daxctl" ]; then
    installed=$(cat "$stamp")
fi
report() { printf '{"build": %s, "version": "%s", "installed": %s}\n' "$1" "$version" "$(json_string "$installed")"; }

if [ "$installed" = "$version" ]; then
    report false
    exit 0
fi
if [ "$mode" = check ]; then
    report true
    exit 0
fi

# --- Build, stage, install under PREFIX -----------------------------------------------------
log=$scratch/build.log
step() {   # step NAME COMMAND...: run, and on failure show the end of the log
    if ! "${@:2}" >>"$log" 2>&1; then
        echo "build-ndctl: $1 failed; the last lines of its output:" >&2
        tail -n 25 "$log" >&2
        exit 1
    fi
}
options=(
    --buildtype=release --prefix="$prefix" -Drootprefix="$prefix" -Dlibdir=lib -Dsysconfdir=/etc
    -Dsystemd=disabled -Ddocs=disabled -Dasciidoctor=disabled -Dbashcompletiondir=no
    "-Dc_link_args=-Wl,-rpath,$prefix/lib"
)
# iniparser has no pkg-config file; Debian and others keep its headers in a subdirectory.
if [ -f /usr/include/iniparser/iniparser.h ]; then
    options+=(-Diniparserdir=/usr/include/iniparser)
fi
step "meson setup" meson setup "$scratch/build" "$tree" "${options[@]}"
step "meson compile" meson compile -C "$scratch/build"
step "meson install" meson install -C "$scratch/build" --destdir "$scratch/stage"

# Only what belongs under PREFIX leaves the staging area.
mkdir -p "$prefix"
cp -a "$scratch/stage$prefix/." "$prefix/"
"$prefix/bin/daxctl" --version >/dev/null || fail "the installed $prefix/bin/daxctl does not run"
echo "$version" > "$stamp"
report true
