#!/usr/bin/env bash
# Every user-facing script (ci/*, bench/*.sh, suites/flake-check, fixtures/guest/build-guest)
# answers --help with its usage on stdout and exit 0, installing, building and running nothing.
# The scripts run from a copy of the tree in a sandbox whose PATH shadows apt-get, sudo, cmake,
# ctest, make, QEMU and the benchmarks' tools with stubs that record being called; the test fails
# when a script exits non-zero, prints no "Usage" line, calls a stub or leaves a file in the tree.
# Scripts are found by glob, so a new one is checked without editing this file.
# Usage: help_test.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: help_test.sh SOURCE_DIR}
# shellcheck source=stub_sandbox.sh
. "$(dirname "$0")/stub_sandbox.sh"
stub_sandbox help apt-get apt apt-cache dpkg sudo cmake ctest make ninja git clang-format \
  qemu-system-x86_64 qemu-img stress-ng iperf3 sockperf jq yamllint cpack modprobe
# The folders the scripts live in, and the files they may read (.clang-format, presets, .git).
for d in ci bench suites fixtures/guest; do
  mkdir -p "$tree/$(dirname "$d")"
  cp -a "$src/$d" "$tree/$d"
done
cp -a "$src/CMakePresets.json" "$src/CMakeLists.txt" "$tree/"

scripts=()
for f in "$tree"/ci/* "$tree"/bench/*.sh "$tree"/suites/* "$tree"/fixtures/guest/build-guest; do
  [ -f "$f" ] && [ -x "$f" ] && scripts+=("${f#"$tree"/}")
done
# Fewer than this means the globs broke, not that the scripts went away.
[ ${#scripts[@]} -ge 12 ] || { echo "found only ${#scripts[@]} scripts: ${scripts[*]}"; exit 1; }

before=$(cd "$tree" && find . | sort)
status=0
for s in "${scripts[@]}"; do
  : >"$calls"
  rc=0
  # No MIGTEST_* or CI from the caller's environment; a fake HOME and artifact folder outside the
  # tree, so whatever a script that ignores --help writes is caught or harmless.
  env -i PATH="$sandbox/stubs:/usr/bin:/bin" HOME="$sandbox/home" TMPDIR="$sandbox/home" \
    MIGTEST_ARTIFACTS="$sandbox/home/artifacts" MIGTEST_CACHE="$sandbox/home/cache" \
    timeout 30 "$tree/$s" --help >"$sandbox/out" 2>"$sandbox/err" </dev/null || rc=$?
  problems=()
  [ "$rc" -eq 0 ] || problems+=("exit code $rc")
  grep -qi 'usage' "$sandbox/out" || problems+=("no 'Usage' line on stdout")
  [ -s "$calls" ] && problems+=("called $(tr '\n' ';' <"$calls")")
  after=$(cd "$tree" && find . | sort)
  if [ "$after" != "$before" ]; then
    problems+=("left files in the tree: $(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')")
    before=$after
  fi
  if [ ${#problems[@]} -eq 0 ]; then
    echo "ok   $s --help ($(wc -l <"$sandbox/out") lines)"
  else
    status=1
    echo "FAIL $s --help: $(printf '%s; ' "${problems[@]}")"
    sed 's/^/     stdout: /' "$sandbox/out" | head -5
    sed 's/^/     stderr: /' "$sandbox/err" | head -5
  fi
done
exit $status
