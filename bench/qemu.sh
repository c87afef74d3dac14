#!/usr/bin/env bash
# Runs the QEMU suite N times (default 3) and prints, per test, the spread of what it measured:
# total time, QEMU's downtime, the STOP→RESUME gap, the prober's blackout, postcopy per-fault p50
# and p99, the guest's verdict. The bounds in suites/qemu_test.cc come from these tables.
# Usage: bench/qemu.sh [RUNS] [extra suite_qemu arguments, e.g. --gtest_filter=...]
#        bench/qemu.sh --reuse [FILTER]   (default: the suite's precopy tests)
#   --reuse: the suite's tests run once with a fresh boot per test (MIGTEST_QEMU_REUSE=0) and once
#   on the pool of booted guests (=1), in one binary each; per test, side by side: the test's wall
#   time both ways, QEMU's own total_time, what each mode adds per migration beyond it, and the
#   ratio of the walls; then each migration's harness phases (extra.harness_ms) both ways, and the
#   binary's whole wall both ways. Builds only suite_qemu.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
cd "$(dirname "$0")/.."
if [ "${1:-}" = --reuse ]; then
  filter=${2:-'QemuSlo.*Precopy*:QemuSlo.TraceFigures*:QemuSlo.Multifd*:QemuSlo.OverDirtying*:QemuSlo.FastDirtying*:QemuSlo.GuestBlackout*'}
  preset="${MIGTEST_PRESET:-$([ -n "${CI:-}" ] && echo ci || echo default)}"
  [ -f "build/$preset/CMakeCache.txt" ] || cmake --preset "$preset" >/dev/null
  cmake --build "build/$preset" -j "${MIGTEST_JOBS:-$(nproc)}" --target suite_qemu >/dev/null
  bin="$PWD/build/$preset/suites/suite_qemu"
  out=$(mktemp -d /tmp/migtest-bench-reuse.XXXXXX)
  for reuse in 0 1; do
    echo "== MIGTEST_QEMU_REUSE=$reuse: $filter" >&2
    start=$(date +%s.%N)
    MIGTEST_QEMU_REUSE=$reuse MIGTEST_ARTIFACTS="$out/reuse-$reuse" "$bin" --gtest_brief=1 \
      --gtest_filter="$filter" --gtest_output="json:$out/reuse-$reuse.json" >&2 || true
    echo "$(date +%s.%N) - $start" | bc > "$out/wall-$reuse"
  done
  # Per test: its wall (gtest's time) both ways and QEMU's total_time (result.json, each mode's).
  for reuse in 0 1; do
    jq -r '.testsuites[].testsuite[] | "\(.classname).\(.name)\t\(.time | rtrimstr("s"))"' \
      "$out/reuse-$reuse.json" | sort > "$out/time-$reuse.tsv"
    find "$out/reuse-$reuse" -name result.json | while read -r f; do
      jq -r '[.test, (.migration.total_time_ms // "-")] | @tsv' "$f"
    done | sort > "$out/total-$reuse.tsv"
  done
  printf '%-58s %10s %10s %11s %11s %14s %14s %7s\n' test "fresh s" "reuse s" "QEMU s" \
    "QEMU s(r)" "fresh-QEMU s" "reuse-QEMU s" ratio
  join -t $'\t' "$out/time-0.tsv" "$out/time-1.tsv" | join -t $'\t' - "$out/total-0.tsv" |
    join -t $'\t' - "$out/total-1.tsv" | awk -F'\t' '{
      q0 = ($4 == "-") ? 0 : $4 / 1000; q1 = ($5 == "-") ? 0 : $5 / 1000
      printf "%-58s %10.2f %10.2f %11.2f %11.2f %14.2f %14.2f %7.2f\n", $1, $2, $3, q0, q1,
        $2 - q0, $3 - q1, ($3 > 0 ? $2 / $3 : 0) }'
  # Where each migration's wall went, by the harness's own clock (extra.harness_ms: VmmRun's
  # phases; drive holds QEMU's total_time) and what the test spent outside them.
  printf '\n%-58s %-6s %8s %8s %8s %8s %8s %8s\n' "harness phases (ms)" mode prepare start \
    drive watch stop collect
  for reuse in 0 1; do
    find "$out/reuse-$reuse" -name result.json | while read -r f; do
      jq -r --arg mode "$([ "$reuse" = 1 ] && echo reuse || echo fresh)" '
        def p(k): (.extra.harness_ms[k] // "-") | tostring;
        [.test, $mode, p("prepare"), p("start"), p("drive"), p("watch"), p("stop"), p("collect")]
        | @tsv' "$f"
    done
  done | sort | awk -F'\t' '{ printf "%-58s %-6s %8s %8s %8s %8s %8s %8s\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
  w0=$(cat "$out/wall-0"); w1=$(cat "$out/wall-1")
  printf 'binary wall: fresh %.1f s, reuse %.1f s (ratio %.2f); result files under %s\n' \
    "$w0" "$w1" "$(echo "$w0 / $w1" | bc -l)" "$out"
  exit 0
fi
runs=${1:-3}
shift || true
ci/install-deps bench guest >/dev/null
ci/install-qemu --with-7.2 >/dev/null
ci/build
preset="${MIGTEST_PRESET:-$([ -n "${CI:-}" ] && echo ci || echo default)}"
bin="$PWD/build/$preset/suites/suite_qemu"
out=$(mktemp -d /tmp/migtest-bench-qemu.XXXXXX)
for i in $(seq 1 "$runs"); do
  echo "== run $i of $runs" >&2
  MIGTEST_ARTIFACTS="$out/run-$i" "$bin" --gtest_brief=1 "$@" >&2 || true
done
# One line per result file: test, total, downtime, gap, blackout, p50, p99 (ms), guest.
find "$out" -name 'result*.json' | sort | while read -r f; do
  jq -r --arg f "$f" '
    def ms(x): if x == null then "-" else (x | tostring) end;
    [ (.test // $f),
      ms(.migration.total_time_ms), ms(.migration.downtime_ms), ms(.migration.stop_resume_gap_ms),
      ms(.probe.longest_blackout_ms),
      ms(if .migration.postcopy_latency_us.p50 then (.migration.postcopy_latency_us.p50 / 1000) else null end),
      ms(if .migration.postcopy_latency_us.p99 then (.migration.postcopy_latency_us.p99 / 1000) else null end),
      (if .guest == null then "-" elif (.guest.problems | length) == 0 then "ok"
       else "\(.guest.problems | length) problems" end),
      (.migration.status // "-") ] | @tsv' "$f"
done > "$out/rows.tsv"
# Spread per test: min–max (median) of each numeric column; the guest verdicts counted.
awk -F'\t' '
  function spread(list,   n, a, i, j, t) {
    n = split(list, a, " "); if (n == 0 || list == "") return "-"
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (n == 1) ? a[1] : sprintf("%s–%s (%s)", a[1], a[n], a[int((n + 1) / 2)])
  }
  { t = $1; runs[t]++; order[t] = order[t] ? order[t] : ++k; name[k] = t
    for (c = 2; c <= 7; c++) if ($c != "-") v[t, c] = v[t, c] " " $c
    g[t] = g[t] (g[t] ? "," : "") $8; s[t] = s[t] (s[t] ? "," : "") $9 }
  END {
    printf "%-58s %4s  %-22s %-18s %-18s %-20s %-18s %-18s %s\n", "test", "runs", "total ms", "downtime ms", "stop→resume ms", "blackout ms", "pc p50 ms", "pc p99 ms", "guest"
    for (i = 1; i <= k; i++) { t = name[i]
      printf "%-58s %4d  %-22s %-18s %-18s %-20s %-18s %-18s %s\n", t, runs[t], spread(substr(v[t,2],2)), spread(substr(v[t,3],2)), spread(substr(v[t,4],2)), spread(substr(v[t,5],2)), spread(substr(v[t,6],2)), spread(substr(v[t,7],2)), g[t] }
  }' "$out/rows.tsv"
echo "(numbers: min–max (median) over the runs; result files under $out)"
# The trace's figures, one row per run: QEMU's downtime beside the guest's pause (trace
# checkpoints), the three largest downtime phases, the worst dirty-bitmap sync, the worst device.
echo
printf '%-58s %-9s %-9s %-62s %-10s %s\n' "test" "QEMU ms" "pause ms" "largest phases (ms)" "sync ms" "worst device (us)"
find "$out" -name 'result*.json' | sort | while read -r f; do
  jq -r --arg f "$f" '
    def r1: . * 10 | round / 10;
    [ (.test // $f),
      (.migration.downtime_us // null | if . == null then "-" else (. / 1000 | r1 | tostring) end),
      (.migration.guest_pause_us // null | if . == null then "-" else (. / 1000 | r1 | tostring) end),
      ((.migration.downtime_breakdown // []) | sort_by(-.us) | .[0:3]
        | map("\(.phase)=\(.us / 1000 | r1)") | join(" ") | if . == "" then "-" else . end),
      ((.migration.iterations // []) | map(.sync_us // empty) | max
        | if . == null then "-" else (. / 1000 | r1 | tostring) end),
      ((.migration.downtime_devices // [])[0] | if . == null then "-"
        else "\(.device) \(.side) \(.us)" end) ] | @tsv' "$f"
done | awk -F'\t' '{ printf "%-58s %-9s %-9s %-62s %-10s %s\n", $1, $2, $3, $4, $5, $6 }'
