#!/usr/bin/env bash
# The test scripts' missing components: skipped outside CI (exit 77), a failure naming what is
# missing when CI is set (exit 1). Each script runs with PATH an empty folder, so that the
# component is missing whatever this host has: lint_templates.sh without yamllint, packaging.sh's
# install mode without unshare.
# Usage: missing_test.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=$1 build=$2
bash=$(command -v bash)
empty=$(mktemp -d /tmp/migtest-empty-path.XXXXXX)
trap 'rmdir "$empty"' EXIT
status=0

# expect CODE PHRASE CI SCRIPT ARGS...: the script exits with CODE and says PHRASE.
expect() {
  local want=$1 phrase=$2 ci=$3 out code
  shift 3
  out=$(env -i PATH="$empty" CI="$ci" "$bash" "$@" 2>&1)
  code=$?
  if [ "$code" -ne "$want" ] || [[ "$out" != *"$phrase"* ]]; then
    echo "FAIL: CI='$ci' ${1##*/} ${*:2}: exit $code (expected $want), output: $out"
    status=1
  else
    echo "ok: CI='$ci' ${1##*/} ${*:2}: exit $code: $out"
  fi
}

lint=$src/tests/templates/lint_templates.sh
packaging=$src/tests/packaging/packaging.sh
expect 1 "yamllint is missing" true "$lint" "$src"
expect 77 "yamllint is missing" "" "$lint" "$src"
expect 1 "needs root and unshare" 1 "$packaging" install "$src" "$build"
expect 77 "needs root and unshare" "" "$packaging" fetchcontent "$src" "$build"
exit $status
