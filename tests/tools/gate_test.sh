#!/usr/bin/env bash
# The merge gate judges outcomes before timings, end to end: ci/ab on the engine's precopy suite
# with a candidate migmon that corrupts one page on the destination (every timing as the
# baseline's) exits 1 naming the unverified runs; a candidate whose every migration fails exits 1;
# the baseline against itself exits 0; every run's result.json carries its test's verdict, and
# migtest-report shows each run folder's own verdict; ci/ab writes the A/B page beside the runs.
# Usage: gate_test.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -euo pipefail
src=$1 build=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
migmon="$build/workloads/migmon"
test=PrecopySlo.IdleGuestMigratesWithShortDowntime
fail() { echo "gate_test: $*" >&2; exit 1; }

# Candidates: a migmon whose destination damages page 3 before it verifies, and one whose every
# migration fails at once.
cat >"$work/corrupting-migmon" <<SH
#!/bin/sh
[ "\$1" = migrate ] && { shift; exec "$migmon" migrate --test-corrupt-page 3 "\$@"; }
exec "$migmon" "\$@"
SH
cat >"$work/failing-migmon" <<SH
#!/bin/sh
case "\$1 \$2" in
  "migrate --help") ;;
  migrate*) echo "migmon migrate: injected failure" >&2; exit 1 ;;
esac
exec "$migmon" "\$@"
SH
# And one that kills the candidate's suite process (ci/ab runs one per side, taking turns) in its
# second run, as a crash would: ci/ab must say so, start a new process for the runs left, and not
# let the gate pass.
cat >"$work/dying-migmon" <<SH
#!/bin/bash
case "\$1 \$*" in
  "migrate "*" -s "*"/candidate/run-2/"*)
    p=\$PPID
    while [ "\$p" -gt 1 ] && [ "\$(cat /proc/\$p/comm)" != suite_precopy ]; do
      p=\$(awk '{ print \$4 }' /proc/\$p/stat)
    done
    [ "\$p" -gt 1 ] && kill -9 "\$p"
    exit 1 ;;
esac
exec "$migmon" "\$@"
SH
chmod +x "$work/corrupting-migmon" "$work/failing-migmon" "$work/dying-migmon"

# ci/ab VERDICT_WANTED CANDIDATE LOG [RUNS]: runs the gate (RUNS, default 3, a side) and checks its
# exit status.
ab() {
  local want=$1 cand=$2 log=$3 runs=${4:-3} got=0
  TMPDIR="$work" "$src/ci/ab" --build-dir "$build" --suite precopy --repeat "$runs" \
    --baseline "$migmon" --candidate "$cand" -- --gtest_filter="$test" >"$log" 2>&1 || got=$?
  [ "$got" -eq "$want" ] || { cat "$log" >&2; fail "ci/ab with $cand exited $got, not $want"; }
  sed -n 's/^ci\/ab: .*results in \(.*\)$/\1/p' "$log" | tail -1
}

out=$(ab 1 "$work/corrupting-migmon" "$work/corrupting.log")
grep -q "REGRESSION $test: memory not verified in 3 of 3 candidate runs, in none of the baseline's 3" \
  "$work/corrupting.log" || { cat "$work/corrupting.log" >&2; fail "no unverified-memory finding"; }
grep -q "^verdict: REGRESSION: the candidate's outcomes regressed" "$work/corrupting.log" ||
  fail "the verdict line does not say the outcomes regressed"
grep -q "candidate: 3 failed tests" "$work/corrupting.log" || fail "failed SLOs per side not counted"
# The A/B page beside the runs, its path on ci/ab's last line, its verdict the text's.
[ "$(tail -1 "$work/corrupting.log")" = "ci/ab: A/B page $out/ab.html" ] ||
  fail "ci/ab's last line is not its A/B page: $(tail -1 "$work/corrupting.log")"
grep -q "<p class=\"verdictline\">verdict: REGRESSION: the candidate&#39;s outcomes regressed" \
  "$out/ab.html" || fail "$out/ab.html does not say the outcomes regressed"
# Each run's result.json carries its own test's verdict.
for k in 1 2 3; do
  dir="$out/candidate/run-$k/PrecopySlo/IdleGuestMigratesWithShortDowntime"
  grep -q '"outcome": "failed"' "$dir/result.json" || fail "$dir/result.json has no failed verdict"
  grep -q 'precopy_test.cc:[0-9]*: ' "$dir/result.json" || fail "$dir/result.json names no failure"
  [ "$(cat "$out/candidate/run-$k/exit-status")" = 1 ] || fail "run $k's exit status not kept"
  [ -s "$out/candidate/run-$k/junit.xml" ] || fail "run $k's JUnit not kept"
  grep -q '"outcome": "passed"' \
    "$out/baseline/run-$k/PrecopySlo/IdleGuestMigratesWithShortDowntime/result.json" ||
    fail "baseline run $k has no passed verdict"
done
# The report of the A/B folder: every run folder its own verdict.
"$build/tools/migtest-report" summary "$out" >"$work/report.txt" || true
for k in 1 2 3; do
  grep -Eq "^$test \[baseline/run-$k\] .* PASS" "$work/report.txt" ||
    { cat "$work/report.txt" >&2; fail "the report does not show baseline run $k as PASS"; }
  grep -Eq "^$test \[candidate/run-$k\] .* FAIL" "$work/report.txt" ||
    { cat "$work/report.txt" >&2; fail "the report does not show candidate run $k as FAIL"; }
done

ab 1 "$work/failing-migmon" "$work/failing.log" >/dev/null
grep -q "the migration did not complete in 3 of 3 candidate runs against 0 of 3 in the baseline" \
  "$work/failing.log" ||
  { cat "$work/failing.log" >&2; fail "no failure-rate finding"; }

out=$(ab 2 "$work/dying-migmon" "$work/dying.log" 4)
grep -q "the candidate suite process ended during run 2 (exit 137)" "$work/dying.log" ||
  { cat "$work/dying.log" >&2; fail "the dead suite process is not reported"; }
grep -q "0 baseline and 1 candidate runs ended with their suite process" "$work/dying.log" ||
  fail "the gate passed with a run that has no verdict"
[ "$(cat "$out/candidate/run-2/exit-status")" = 137 ] || fail "run 2's exit status is not SIGKILL's"
for k in 3 4; do  # the runs left, in a new process
  grep -q '"outcome": "passed"' "$out/candidate/run-$k/PrecopySlo/${test#PrecopySlo.}/result.json" ||
    fail "candidate run $k did not run after the crash"
done
pgrep -x suite_precopy >/dev/null && fail "a suite process outlived ci/ab"

ab 0 "$migmon" "$work/same.log" >/dev/null
grep -q "^verdict: no regression" "$work/same.log" || fail "the same migmon is not 'no regression'"
echo "gate: corrupting candidate exit 1, failing candidate exit 1, a crashed suite process exit 2," \
  "same binary exit 0"
