# Sourced by migtest's test scripts. `missing WHAT` ends a script whose host lacks a component:
# outside CI it is skipped (exit 77, ctest's SKIP_RETURN_CODE); with CI set (non-empty) it fails
# (exit 1), as the C++ tests do (README, Environment: CI). Bash builtins only, so that it works
# whatever PATH holds.
missing() {
  if [ -n "${CI:-}" ]; then
    echo "${0##*/}: $1 (CI is set: a missing component is a failure)" >&2
    exit 1
  fi
  echo "${0##*/}: $1: skipped" >&2
  exit 77
}
