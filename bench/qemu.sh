#!/usr/bin/env bash
# Runs the QEMU suite N times (default 3) and prints, per test, the spread of what it measured:
# total time, QEMU's downtime, the STOP→RESUME gap, the prober's blackout, postcopy per-fault p50
# and p99, the guest's verdict. The bounds in suites/qemu_test.cc come from these tables.
# Usage: bench/qemu.sh [RUNS] [extra suite_qemu arguments, e.g. --gtest_filter=...]
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
cd "$(dirname "$0")/.."
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
