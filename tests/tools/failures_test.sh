#!/usr/bin/env bash
# ci/failures on a ctest LastTest.log made for the purpose: a whole-binary test that failed one of
# its gtest tests among others that passed, a sanitizer report, and a ctest test that passed.
# Each failure's block must be printed under its ctest test's name, ending where the next gtest
# test starts; nothing of the passing tests; nothing at all for a build folder without failures.
# Usage: failures_test.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src=$1 work=$2
fail() { echo "failures_test: $*" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work/bad/Testing/Temporary" "$work/good/Testing/Temporary"
cat >"$work/bad/Testing/Temporary/LastTest.log" <<'LOG'
Start testing: Dec 06 21:03 UTC
----------------------------------------------------------
1/3 Testing: suites.catalogue
1/3 Test: suites.catalogue
Output:
----------------------------------------------------------
[ RUN      ] Qemu/Catalogue.Scenario/precopy_tcp
ROW-THAT-PASSED says this
[       OK ] Qemu/Catalogue.Scenario/precopy_tcp (3458 ms)
[ RUN      ] Qemu/Catalogue.Scenario/multifd_zlib
/src/suites/catalogue_test.cc:724: Failure
Value of: run.migration
  Actual: section ram (id 1) stalled 1862.3ms
[ migtest   ] artifacts of this failure: /tmp/a/summary.txt
[  FAILED  ] Qemu/Catalogue.Scenario/multifd_zlib (17695 ms)
[ RUN      ] Qemu/Catalogue.Scenario/multifd_zstd
NEXT-ROW says this
[       OK ] Qemu/Catalogue.Scenario/multifd_zstd (3014 ms)
<end of output>
Test time = 228.31 sec
----------------------------------------------------------
Test Failed.
2/3 Testing: MigmonTest.Prober
2/3 Test: MigmonTest.Prober
Output:
----------------------------------------------------------
==123==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010
    #0 0x55 in Prober::Run probe.cc:300
<end of output>
Test time = 1.00 sec
----------------------------------------------------------
Test Failed.
3/3 Testing: tools.ok
3/3 Test: tools.ok
Output:
----------------------------------------------------------
/src/x.cc:1: Failure
PASSING-TEST-OUTPUT
<end of output>
Test time = 1.00 sec
----------------------------------------------------------
Test Passed.
LOG
cat >"$work/good/Testing/Temporary/LastTest.log" <<'LOG'
1/1 Testing: tools.ok
Output:
fine
<end of output>
Test time = 1.00 sec
Test Passed.
LOG

out=$("$src/ci/failures" "$work/bad" "$work/good" "$work/missing")
echo "$out"
grep -qx -- "--- $work/bad: suites.catalogue" <<<"$out" || fail "no heading for suites.catalogue"
grep -q "catalogue_test.cc:724: Failure" <<<"$out" || fail "the Failure line is missing"
grep -q "stalled 1862.3ms" <<<"$out" || fail "the failure's figures are missing"
grep -q "artifacts of this failure: /tmp/a/summary.txt" <<<"$out" || fail "no artifact folder"
grep -q "FAILED  \] Qemu/Catalogue.Scenario/multifd_zlib" <<<"$out" || fail "no FAILED line"
grep -qx -- "--- $work/bad: MigmonTest.Prober" <<<"$out" || fail "no heading for the ASan report"
grep -q "AddressSanitizer: heap-use-after-free" <<<"$out" || fail "the sanitizer report is missing"
for noise in ROW-THAT-PASSED NEXT-ROW PASSING-TEST-OUTPUT tools.ok; do
  grep -q "$noise" <<<"$out" && fail "printed '$noise', which is no failure"
done
[ -z "$("$src/ci/failures" "$work/good")" ] || fail "a build folder without failures printed something"
echo "failures: 2 failed ctest tests shown, passing output left out"
