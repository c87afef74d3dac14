#!/usr/bin/env bash
# The ways a VMM repository takes migtest, each tried for real (ctest label packaging):
#   install      install into a prefix, move the prefix, build examples/consumer against it with
#                find_package, then run its engine migration with this source and build tree
#                hidden (an empty tmpfs over them in a private mount namespace): only the prefix
#                can serve it.
#   component    find_package(migtest COMPONENTS results) against the prefix with GoogleTest and
#                Boost made unfindable: parse_one builds and reads a seed; asking for fixtures then
#                fails naming Boost.
#   fetchcontent examples/fetchcontent takes this source tree with FetchContent and runs the same
#                migration with this build tree hidden.
#   deb          cpack -G DEB, dpkg -x into a scratch root, migtest-parse and migmon run from it.
# Usage: packaging.sh MODE SOURCE_DIR BUILD_DIR
set -euo pipefail
. "${BASH_SOURCE[0]%/*}/../lib/missing.sh"
mode=$1 src=$(cd "$2" && pwd) build=$(cd "$3" && pwd)
case "$mode" in
  install | fetchcontent)
    # Checked first (bash builtins only), before anything is built.
    if [ "$EUID" -ne 0 ] || ! command -v unshare >/dev/null; then
      missing "mode $mode hides the build tree in a mount namespace: it needs root and unshare"
    fi
    ;;
esac
jobs=${MIGTEST_JOBS:-2}
tmp=$(mktemp -d /tmp/migtest-packaging.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
seed=$src/tests/results/data/tlmz_seed.log

# Runs "$@" with the source and build trees hidden (root and unshare: checked at the start).
hidden() {
  (cd "$tmp" && unshare --mount --propagation private -- bash -c '
    set -e
    mount -t tmpfs migtest-hidden "$1"
    if [ -d "$2" ]; then mount -t tmpfs migtest-hidden "$2"; fi
    shift 2
    exec "$@"' hide "$build" "$src" "$@")
}

install_prefix() {
  cmake --install "$build" --prefix "$tmp/stage" >/dev/null
  mv "$tmp/stage" "$tmp/prefix"  # relocatable: nothing may remember where it was installed
  for f in bin/migmon libexec/migtest/build-guest libexec/migtest/init; do
    [ -x "$tmp/prefix/$f" ] || { echo "packaging.sh: the install lacks $f" >&2; exit 1; }
  done
}

case "$mode" in
  install)
    install_prefix
    cmake -S "$src/examples/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$tmp/consumer" -j "$jobs" >/dev/null
    "$tmp/consumer/parse_one" "$seed" | grep -x "downtime_ms 65475"
    MIGTEST_ARTIFACTS="$tmp/artifacts" hidden "$tmp/consumer/engine_consumer" \
      --gtest_output="xml:$tmp/consumer.xml"
    grep -o 'value="[^"]*migmon"' "$tmp/consumer.xml"
    grep -q "value=\"$tmp/prefix/bin/migmon\"" "$tmp/consumer.xml" || {
      echo "packaging.sh: the consumer did not run the prefix's migmon" >&2; exit 1; }
    ;;
  component)
    install_prefix
    cmake -S "$src/examples/consumer" -B "$tmp/results-only" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
      -DMIGTEST_COMPONENTS=results -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON \
      -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON >/dev/null
    cmake --build "$tmp/results-only" -j "$jobs" >/dev/null
    "$tmp/results-only/parse_one" "$seed" | grep -x "downtime_ms 65475"
    if cmake -S "$src/examples/consumer" -B "$tmp/no-boost" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
        -DMIGTEST_COMPONENTS=fixtures -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON >"$tmp/no-boost.log" 2>&1; then
      echo "packaging.sh: COMPONENTS fixtures configured without Boost" >&2; exit 1
    fi
    grep -q Boost "$tmp/no-boost.log" || { cat "$tmp/no-boost.log" >&2; exit 1; }
    echo "fixtures without Boost: refused, naming Boost"
    ;;
  fetchcontent)
    # Unoptimised (no build type: 2.3x quicker to compile than RelWithDebInfo) and only what the
    # consumer links and runs (its libraries and migmon): the FetchContent wiring is under test,
    # and its compile was the longest packaging step.
    cmake -S "$src/examples/fetchcontent" -B "$tmp/fc" -DMIGTEST_SOURCE="$src" \
      -DCMAKE_BUILD_TYPE= >/dev/null
    cmake --build "$tmp/fc" -j "$jobs" --target engine_consumer >/dev/null
    # Only this build tree is hidden: FetchContent builds from the source tree.
    build_only() {
      (cd "$tmp" && unshare --mount --propagation private -- bash -c \
        'mount -t tmpfs migtest-hidden "$1"; shift; exec "$@"' hide "$build" "$@")
    }
    MIGTEST_ARTIFACTS="$tmp/artifacts" build_only "$tmp/fc/engine_consumer" \
      --gtest_output="xml:$tmp/fc.xml"
    grep -q "value=\"$tmp/fc/_deps/migtest-build/workloads/migmon\"" "$tmp/fc.xml" || {
      grep -o 'value="[^"]*migmon"' "$tmp/fc.xml" >&2
      echo "packaging.sh: the consumer did not run its own FetchContent build's migmon" >&2; exit 1; }
    echo "fetchcontent consumer: migrated with its own migmon"
    ;;
  deb)
    (cd "$tmp" && cpack -G DEB --config "$build/CPackConfig.cmake" >/dev/null)
    deb=$(ls "$tmp"/migtest_*.deb)
    dpkg-deb -f "$deb" Package Version Depends
    dpkg -x "$deb" "$tmp/root"
    "$tmp/root/usr/bin/migtest-parse" --summary "$seed"
    "$tmp/root/usr/bin/migmon" mm_dirty --help >/dev/null
    [ -x "$tmp/root/usr/libexec/migtest/build-guest" ]
    [ -f "$tmp/root/usr/lib/cmake/migtest/migtestConfig.cmake" ] ||
      ls "$tmp"/root/usr/lib/*/cmake/migtest/migtestConfig.cmake
    echo "deb: $(basename "$deb") unpacks and runs"
    ;;
  *) echo "packaging.sh: unknown mode '$mode'" >&2; exit 2 ;;
esac
