#!/usr/bin/env bash
# ci/run-suites and suites/flake-check empty their artifact folder before a run. They must refuse a
# MIGTEST_ARTIFACTS that holds someone's files (exit 2, saying so, the files kept, nothing
# installed or built), and still empty a folder they made before (their marker file).
# The scripts run from a copy of the tree whose PATH shadows apt-get, cmake, stress-ng, … with stubs
# that record being called (stub_sandbox.sh, shared with help_test.sh).
# Usage: artifacts_guard_test.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: artifacts_guard_test.sh SOURCE_DIR}
# shellcheck source=stub_sandbox.sh
. "$(dirname "$0")/stub_sandbox.sh"
stub_sandbox guard apt-get apt apt-cache dpkg dpkg-query sudo cmake ctest make ninja git stress-ng \
  qemu-system-x86_64 modprobe
cp -a "$src/ci" "$src/suites" "$src/CMakePresets.json" "$src/CMakeLists.txt" "$tree/"
run() {  # run SCRIPT ARTIFACTS [ARGS...]: its exit code in $rc, its stderr in $sandbox/err
  local script=$1 artifacts=$2
  shift 2
  : >"$calls"
  rc=0
  env -i PATH="$sandbox/stubs:/usr/bin:/bin" HOME="$sandbox/home" TMPDIR="$sandbox/home" \
    MIGTEST_ARTIFACTS="$artifacts" timeout 60 "$tree/$script" "$@" >"$sandbox/out" \
    2>"$sandbox/err" </dev/null || rc=$?
}
status=0
fail() {
  status=1
  echo "FAIL $*"
  sed 's/^/     stderr: /' "$sandbox/err" | tail -5
}

for case in "ci/run-suites .made-by-run-suites" "suites/flake-check .made-by-flake-check"; do
  read -r script marker <<<"$case"
  theirs=$sandbox/home/theirs-${script//\//-}
  mkdir -p "$theirs/results"
  echo precious >"$theirs/keep.txt"
  run "$script" "$theirs" 1
  [ "$rc" -eq 2 ] || fail "$script on a folder of someone's files: exit $rc, not 2"
  grep -q "holds files it did not make" "$sandbox/err" || fail "$script: no word of why"
  [ -f "$theirs/keep.txt" ] && [ -d "$theirs/results" ] || fail "$script deleted someone's files"
  [ -s "$calls" ] && fail "$script installed or built before refusing: $(tr '\n' ';' <"$calls")"

  ours=$sandbox/home/ours-${script//\//-}
  mkdir -p "$ours"
  touch "$ours/$marker" "$ours/stale-from-last-run"
  run "$script" "$ours" 1
  [ -e "$ours/stale-from-last-run" ] && fail "$script kept the last run's files in its own folder"
  [ -e "$ours/$marker" ] || fail "$script did not mark its folder"

  empty=$sandbox/home/empty-${script//\//-}
  mkdir -p "$empty"
  run "$script" "$empty" 1
  [ -e "$empty/$marker" ] || fail "$script refused or did not mark an empty folder (exit $rc)"
  [ "$status" -eq 0 ] && echo "ok   $script"
done
exit $status
