#!/usr/bin/env bash
# Every environment variable migtest reads is in README.md's Environment table. Read means:
# getenv("NAME") or a "MIGTEST_…" string literal (a name handed to a getenv helper) in the C++ of
# the libraries, tools, workloads and suites; $NAME or ${NAME…} of MIGTEST_*, BENCH_* or CI in the
# scripts (ci/, bench/, suites/, fixtures/guest/); $ENV{NAME} in CMake files. HOME, PATH and TMPDIR
# are the system's, not ours; migtest's own tests (tests/) may pass private variables to their
# helpers. Fails naming each variable read but not documented.
# Usage: env_doc_test.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: env_doc_test.sh SOURCE_DIR}
cd "$src"

prune=(-name build -prune -o -name .git -prune -o)
read_names() {
  find results matchers workloads fixtures tools suites examples "${prune[@]}" -type f \
    \( -name '*.cc' -o -name '*.hpp' -o -name '*.h' -o -name '*.cpp' \) -print0 |
    xargs -0 grep -ohE 'getenv\("[A-Za-z_][A-Za-z0-9_]*"\)|"MIGTEST_[A-Z0-9_]+"' |
    sed -E 's/getenv\("//; s/"\)?//g'
  scripts=()
  for f in ci/* bench/*.sh suites/* fixtures/guest/*; do
    [ -f "$f" ] && [ -x "$f" ] && scripts+=("$f")
  done
  grep -ohE '\$\{?(MIGTEST_[A-Z0-9_]+|BENCH_[A-Z0-9_]+|CI)\b' "${scripts[@]}" | sed -E 's/^\$\{?//'
  find . "${prune[@]}" -type f \( -name CMakeLists.txt -o -name '*.cmake' -o -name '*.cmake.in' \) \
    -print0 | xargs -0 grep -ohE '\$ENV\{[A-Za-z_][A-Za-z0-9_]*\}' | sed -E 's/^\$ENV\{//; s/\}$//'
}
mapfile -t used < <(read_names | grep -vxE 'HOME|PATH|TMPDIR' | sort -u)
# Fewer than this means the greps broke, not that the code stopped reading its variables.
[ ${#used[@]} -ge 15 ] || { echo "found only ${#used[@]} variables read: ${used[*]}"; exit 1; }

# The table: the rows of README.md's "## Environment" section; names are the first cell's
# `backticked` words.
mapfile -t documented < <(
  awk '/^## /{on = ($0 == "## Environment")} on && /^\| `/' README.md |
    cut -d'|' -f2 | grep -oE '`[A-Za-z_][A-Za-z0-9_]*`' | tr -d '`' | sort -u)
[ ${#documented[@]} -gt 0 ] || { echo "README.md has no '## Environment' table"; exit 1; }

missing=$(comm -23 <(printf '%s\n' "${used[@]}") <(printf '%s\n' "${documented[@]}"))
unread=$(comm -13 <(printf '%s\n' "${used[@]}") <(printf '%s\n' "${documented[@]}"))
[ -z "$unread" ] || echo "note: documented but not read here: $(echo $unread)"
if [ -n "$missing" ]; then
  echo "read but not in README.md's Environment table: $(echo $missing)"
  exit 1
fi
echo "all ${#used[@]} variables read are documented: ${used[*]}"
