# Sourced by the script tests: a sandbox folder (removed on exit) for the caller's copy of the tree,
# and a folder of stubs that shadow real tools on PATH, each recording its call in $calls.
# Usage: stub_sandbox NAME TOOL... sets $sandbox, $tree (empty, for the caller to fill), $calls,
# and creates $sandbox/stubs and $sandbox/home.
stub_sandbox() {
  local name=$1
  shift
  sandbox=$(mktemp -d "${TMPDIR:-/tmp}/migtest-$name.XXXXXX")
  trap 'rm -rf "$sandbox"' EXIT
  tree=$sandbox/tree
  calls=$sandbox/calls.log
  mkdir -p "$tree" "$sandbox/stubs" "$sandbox/home"
  : >"$calls"
  local tool
  for tool in "$@"; do
    printf '#!/bin/sh\necho "%s $*" >>"%s"\nexit 0\n' "$tool" "$calls" >"$sandbox/stubs/$tool"
    chmod +x "$sandbox/stubs/$tool"
  done
}
