#!/usr/bin/env bash
# Run molecule scenarios, JOBS at a time (default 1; see the Makefile for why not 2).
# Each scenario's output goes to .cache/logs/<scenario>.log; a failed scenario's log tail is printed.
# Usage: tools/run-scenarios.sh scenario...
set -uo pipefail
jobs=${JOBS:-1}
mkdir -p .cache/logs

run_one() {
  local scenario=$1 start rc
  start=$(date +%s)
  molecule test -s "$scenario" > ".cache/logs/$scenario.log" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "scenario $scenario: passed in $(( $(date +%s) - start )) s"
  else
    sed 's/\x1b\[[0-9;]*m//g' ".cache/logs/$scenario.log" | tail -150
    echo "scenario $scenario: FAILED (rc=$rc) after $(( $(date +%s) - start )) s"
  fi
  return "$rc"
}

# With JOBS > 1, build the guest images first, one at a time, so that parallel scenarios do not race to
# build them. One at a time, each scenario's create builds (or reuses) the image of its own suite.
if [ "$jobs" -gt 1 ]; then
  for suite in bullseye bookworm trixie; do
    playbooks/files/build-image.sh "$suite" > /dev/null || exit 1
  done
fi

failed=0
running=0
for scenario in "$@"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=$((failed + 1))
    running=$((running - 1))
  fi
  run_one "$scenario" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=$((failed + 1))
  running=$((running - 1))
done
echo "molecule: $(( $# - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
