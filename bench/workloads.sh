#!/usr/bin/env bash
# migmon's speed, side by side with reference tools, in one run; prints a ratio table.
#   vm precopy stream          vs iperf3 TCP on loopback              goal >= 0.95x
#   vm postcopy request p50    vs sockperf TCP ping-pong, 4 KiB, RTT  goal <= 2x
#   postcopy p50/p99 with the precopy stream on: urgent channel vs same socket
#   mm_dirty max touch rate    vs a plain loop, 1 byte per 4 KiB page goal >= 0.9x
#   mm_dirty max touch rate    vs mig_mon's mm_dirty (when MIG_MON is given) goal >= 1x
#   mm_dirty rate accuracy at 50, 200, 1000 MiB/s                     goal +-2 %
#   client_rr blackout vs a 400 ms SIGSTOP of server_rr at 1, 10, 20 ms: |error| <= max(2 ms, interval)
# Each measurement runs a few seconds (BENCH_SECONDS, default 3): the machine is shared.
# Needs iperf3, sockperf and jq (ci/install-deps bench). The mig_mon row needs a mig_mon binary
# you built (github.com/xzpeter/mig_mon; nothing is downloaded here): MIG_MON=/path/to/mig_mon,
# else the row says it was skipped.
# Usage: bench/workloads.sh       (MIGTEST_BUILD_DIR: the build folder, default build/default)
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
cd "$(dirname "$0")/.."
root=$PWD
secs="${BENCH_SECONDS:-3}"
build="${MIGTEST_BUILD_DIR:-build/default}"
for tool in iperf3 sockperf jq; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (ci/install-deps bench)" >&2; exit 1; }
done

if [ ! -f "$build/CMakeCache.txt" ]; then cmake --preset default >/dev/null; fi
cmake --build "$build" --target migmon touch_loop -j "${MIGTEST_JOBS:-2}" >/dev/null
migmon="$root/$build/workloads/migmon"
touch_loop="$root/$build/bench/touch_loop"

tmp=$(mktemp -d)
cleanup() {  # our still-running background jobs only (finished ones are not signalled)
  for p in $(jobs -p); do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

rows=()
row() { rows+=("$(printf '%-44s %14s %14s %8s  %s' "$@")"); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
wait_port() {  # file -> the port in its "listening port=N" line
  for _ in $(seq 200); do
    if p=$(grep -o 'listening port=[0-9]*' "$1" 2>/dev/null | head -1 | cut -d= -f2) && [ -n "$p" ]; then
      echo "$p"; return 0
    fi
    sleep 0.02
  done
  echo "bench: no port in $1" >&2; return 1
}
free_port() { shuf -i 20000-60000 -n 1; }  # iperf3/sockperf need a port given; collisions are unlikely

# ---- vm precopy vs iperf3 (alternating, best of 2 each: the machine is shared)
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
iperf_mib=0; mig_mib=0
for _ in 1 2; do
  port=$(free_port)
  iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
  sleep 0.3
  v=$(iperf3 -c 127.0.0.1 -p "$port" -t "$secs" -J | jq '.end.sum_received.bits_per_second / 8 / 1048576')
  iperf_mib=$(max "$iperf_mib" "$v")
  "$migmon" vm -d -p 0 --once >"$tmp/dst.txt" 2>&1 &
  p=$(wait_port "$tmp/dst.txt")
  "$migmon" vm -s -H 127.0.0.1 -p "$p" -t precopy --duration "$secs" --json >"$tmp/src.json" 2>/dev/null
  v=$(jq '.migration.bytes.transferred / 1048576 / (.migration.total_time_ms / 1000)' "$tmp/src.json")
  mig_mib=$(max "$mig_mib" "$v")
done
row "vm precopy stream (MiB/s) vs iperf3" "$(printf %.0f "$mig_mib")" "$(printf %.0f "$iperf_mib")" \
  "$(ratio "$mig_mib" "$iperf_mib")" "goal >= 0.95 (best of 2 each)"

# ---- postcopy latency vs sockperf ping-pong (RTT, 4 KiB)
port=$(free_port)
sockperf sr --tcp -p "$port" >/dev/null 2>&1 & sppid=$!
sleep 0.5
sockperf pp --tcp -i 127.0.0.1 -p "$port" -m 4096 -t "$secs" --full-rtt >"$tmp/sockperf.txt" 2>&1 || true
kill "$sppid"; wait "$sppid" 2>/dev/null || true
sp_p50=$(grep -o 'percentile 50.000 = *[0-9.]*' "$tmp/sockperf.txt" | awk '{print $NF}')
[ -n "$sp_p50" ] || { echo "bench: no p50 in sockperf's output:" >&2; cat "$tmp/sockperf.txt" >&2; exit 1; }
"$migmon" vm -d -p 0 --once --json >"$tmp/dst.json" 2>"$tmp/dst.txt" & dpid=$!
p=$(wait_port "$tmp/dst.txt")
"$migmon" vm -s -H 127.0.0.1 -p "$p" -t postcopy --duration "$secs" >/dev/null 2>&1
wait "$dpid" || true
pc_p50=$(jq '.migration.postcopy_latency_us.p50' "$tmp/dst.json")
row "postcopy request p50 (us) vs sockperf RTT" "$pc_p50" "${sp_p50:-n/a}" \
  "$(ratio "$pc_p50" "${sp_p50:-0}")" "goal <= 2"

# ---- urgent channel vs same socket, precopy on
lat() {  # extra flags -> "p50 p99" of postcopy requests with the precopy stream on
  "$migmon" vm -d -p 0 --once --json >"$tmp/dst.json" 2>"$tmp/dst.txt" & local d=$!
  local pp; pp=$(wait_port "$tmp/dst.txt")
  "$migmon" vm -s -H 127.0.0.1 -p "$pp" -t precopy -t postcopy --duration "$secs" "$@" >/dev/null 2>&1
  wait "$d" || true
  jq -r '.migration.postcopy_latency_us | "\(.p50) \(.p99)"' "$tmp/dst.json"
}
read -r same50 same99 < <(lat)
read -r urg50 urg99 < <(lat --urgent-channel)
row "precopy on: urgent p50 (us) vs same socket" "$urg50" "$same50" "$(ratio "$urg50" "$same50")" "lower is better"
row "precopy on: urgent p99 (us) vs same socket" "$urg99" "$same99" "$(ratio "$urg99" "$same99")" "lower is better"

# ---- mm_dirty max touch rate vs a plain loop and mig_mon (alternating, best of 3 each)
mig_mon="${MIG_MON:-}"
if [ -n "$mig_mon" ] && [ ! -x "$mig_mon" ]; then
  echo "bench: MIG_MON=$mig_mon is not an executable" >&2; exit 1
fi
# mig_mon's mm_dirty runs until a signal; its per-second "dirty-rate: N (MB/s)" lines count MiB
# (256 pages of 4 KiB). Its first line also covers the prefault: the mean of the next $secs.
mig_mon_rate() {  # pattern -> MiB/s
  { timeout -s INT "$((secs + 3))" stdbuf -oL "$mig_mon" mm_dirty -m 256 -p "$1" 2>/dev/null || true; } |
    awk -v n="$secs" '/^dirty-rate:/ { if (++l > 1 && l <= 1 + n) { s += $2; k++ } }
                      END { printf "%.1f\n", k ? s / k : 0 }'
}
for pattern in sequential random; do
  ref=0; mm=0; peer=0
  for _ in 1 2 3; do
    ref=$(max "$ref" "$("$touch_loop" 256 "$secs" "$pattern")")
    v=$("$migmon" mm_dirty -m 256 -p "$pattern" --duration "$secs" --json 2>/dev/null |
        jq '[.dirty.rate_mib_s[]] | add / length')
    mm=$(max "$mm" "$v")
    if [ -n "$mig_mon" ]; then peer=$(max "$peer" "$(mig_mon_rate "$pattern")"); fi
  done
  row "mm_dirty max $pattern (MiB/s) vs loop" "$(printf %.0f "$mm")" "$(printf %.0f "$ref")" \
    "$(ratio "$mm" "$ref")" "goal >= 0.9 (best of 3 each)"
  if [ -n "$mig_mon" ]; then
    row "mm_dirty max $pattern (MiB/s) vs mig_mon" "$(printf %.0f "$mm")" \
      "$(printf %.0f "$peer")" "$(ratio "$mm" "$peer")" "goal >= 1 (best of 3 each)"
  else
    row "mm_dirty max $pattern vs mig_mon" "-" "-" "-" \
      "skipped: set MIG_MON=/path/to/mig_mon (a build of xzpeter/mig_mon)"
  fi
done

# ---- rate accuracy
for rate in 50 200 1000; do
  "$migmon" mm_dirty -m 512 -r "$rate" --duration "$((secs + 1))" --json 2>/dev/null >"$tmp/mm.json"
  read -r mean worst < <(jq -r --argjson r "$rate" '[.dirty.rate_mib_s[]] |
      "\(add / length) \(map(. - $r | fabs) | max / $r * 100)"' "$tmp/mm.json")
  row "mm_dirty -r $rate: mean (MiB/s), worst sec" "$(printf %.1f "$mean")" "$rate" \
    "$(ratio "$mean" "$rate")" "worst second off by $(printf %.1f "$worst") % (goal 2 %)"
done

# ---- prober accuracy against a 400 ms SIGSTOP
for interval in 1 10 20; do
  "$migmon" server_rr -p 0 >"$tmp/srv.txt" 2>&1 & spid=$!
  p=$(wait_port "$tmp/srv.txt")
  "$migmon" client_rr 127.0.0.1 "$interval" -p "$p" --duration 2.5 --json >"$tmp/cl.json" 2>/dev/null & cpid=$!
  sleep 1
  # $EPOCHREALTIME is a bash builtin (no fork), and kill is too: the window is the stop itself.
  t0=$EPOCHREALTIME; kill -STOP "$spid"; sleep 0.4; kill -CONT "$spid"; t1=$EPOCHREALTIME
  wait "$cpid"
  kill "$spid"; wait "$spid" 2>/dev/null || true
  injected=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
  measured=$(jq '.extra.longest_blackout_us / 1000' "$tmp/cl.json")
  err=$(awk -v m="$measured" -v i="$injected" 'BEGIN { printf "%+.1f", m - i }')
  bound=$(( interval > 2 ? interval : 2 ))
  row "prober blackout at ${interval} ms (ms) vs injected" "$(printf %.1f "$measured")" "$injected" \
    "$(ratio "$measured" "$injected")" "error $err ms (goal |error| <= $bound ms)"
done

printf '%-44s %14s %14s %8s  %s\n' "measurement" "migmon" "reference" "ratio" "note"
printf '%s\n' "${rows[@]}"
