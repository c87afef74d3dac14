#!/usr/bin/env bash
# The CI templates a VMM repository copies (ci/templates/): valid YAML by yamllint, and every
# migtest script and tool they name exists (ci/<script> executable; build/<preset>/tools/<tool> a
# CMake target of tools/).
# Usage: lint_templates.sh SOURCE_DIR
set -euo pipefail
. "${BASH_SOURCE[0]%/*}/../lib/missing.sh"
src=$1
command -v yamllint >/dev/null || missing "yamllint is missing (ci/install-deps lint)"
status=0
config='{extends: default, rules: {line-length: {max: 120}, document-start: disable, truthy: disable}}'
for t in "$src"/ci/templates/*.yml; do
  yamllint -s -d "$config" "$t" || status=1
  while read -r script; do
    [ -x "$src/ci/$script" ] || { echo "$t names migtest/ci/$script, which does not exist"; status=1; }
  done < <(grep -o 'migtest/ci/[A-Za-z0-9_-]*' "$t" | sed 's|migtest/ci/||' | sort -u)
  while read -r tool; do
    grep -q "add_executable($tool " "$src/tools/CMakeLists.txt" ||
      { echo "$t names tool $tool, which tools/CMakeLists.txt does not build"; status=1; }
  done < <(grep -o 'migtest/build/[a-z]*/tools/[A-Za-z0-9_-]*' "$t" | sed 's|.*/tools/||' | sort -u)
done
[ "$status" -eq 0 ] && echo "templates: $(ls "$src"/ci/templates/*.yml | wc -l) files lint clean, every path exists"
exit $status
