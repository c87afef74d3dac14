#!/usr/bin/env bash
# The embedded migration engine's speed and behaviour, side by side with iperf3 in one run:
#   1 GiB idle guest over loopback: total time vs 1 GiB / iperf3's loopback bandwidth   goal <= 1.3x
#   idle downtime                                                                        goal <= 10 ms
#   busy guest (dirty rate below the link): converges
#   over-dirtying guest (dirty rate above a capped link): precopy does not converge; postcopy completes
# Needs iperf3 and jq (ci/install-deps bench). BENCH_MEMORY (default 1G) sets the guest size.
# Usage: bench/engine.sh          (MIGTEST_BUILD_DIR: the build folder, default build/default)
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
cd "$(dirname "$0")/.."
root=$PWD
build="${MIGTEST_BUILD_DIR:-build/default}"
memory="${BENCH_MEMORY:-1G}"
for tool in iperf3 jq; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (ci/install-deps bench)" >&2; exit 1; }
done
if [ ! -f "$build/CMakeCache.txt" ]; then cmake --preset default >/dev/null; fi
cmake --build "$build" --target migmon -j "${MIGTEST_JOBS:-2}" >/dev/null
migmon="$root/$build/workloads/migmon"

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# migrate NAME ARGS...: one migration; its source result.json lands in $tmp/NAME.json
migrate() {
  local name=$1; shift
  "$migmon" migrate -d -p 0 -m "$2" >"$tmp/$name.dst" 2>&1 & local dpid=$!; pids+=($dpid)
  local port=""
  for _ in $(seq 200); do
    port=$(grep -o 'ready port=[0-9]*' "$tmp/$name.dst" 2>/dev/null | cut -d= -f2) && [ -n "$port" ] && break
    sleep 0.02
  done
  [ -n "$port" ] || { echo "bench: the destination did not get ready" >&2; exit 1; }
  "$migmon" migrate -s -H 127.0.0.1 -p "$port" --json "$tmp/$name.json" "$@" 2>"$tmp/$name.err" || true
  wait "$dpid" || true
}
field() { jq -r "$2 | if . == null then \"-\" else tostring end" "$tmp/$1.json"; }

port=$(shuf -i 20000-60000 -n 1)
iperf3 -s -1 -p "$port" >/dev/null 2>&1 & pids+=($!)
sleep 0.3
iperf_mib=$(iperf3 -c 127.0.0.1 -p "$port" -t 3 -J | jq '.end.sum_received.bits_per_second / 8 / 1048576')
bytes=$(numfmt --from=iec "$memory")
ideal_ms=$(awk -v b="$bytes" -v bw="$iperf_mib" 'BEGIN { printf "%.0f", b / 1048576 / bw * 1000 }')

migrate idle -m "$memory"
idle_total=$(field idle .migration.total_time_ms)
idle_down=$(field idle .migration.downtime_us)
migrate busy -m 512M --dirty-rate 200M --vcpus 2 --downtime-limit 50
migrate over_pre -m 256M --dirty-rate 300M --max-bandwidth 100M --downtime-limit 20 --max-iterations 5
migrate over_post -m 256M --dirty-rate 300M --max-bandwidth 100M --postcopy-after 1

printf '%-52s %14s %14s %8s\n' "measure" "migmon" "reference" "ratio"
printf '%-52s %14s %14s %8s\n' "$memory idle total time (ms) vs size/iperf3 bw" "$idle_total" "$ideal_ms" \
  "$(awk -v a="$idle_total" -v b="$ideal_ms" 'BEGIN { printf "%.2f", a / b }')"
printf '%-52s %14s\n' "iperf3 loopback bandwidth (MiB/s)" "$(printf '%.0f' "$iperf_mib")"
printf '%-52s %14s\n' "$memory idle downtime (ms, goal <= 10)" "$(awk -v u="$idle_down" 'BEGIN { printf "%.1f", u / 1000 }')"
for run in busy over_pre over_post; do
  printf '%-52s %14s\n' "$run: status / converged / verified" \
    "$(field $run .migration.status)/$(field $run .migration.converged)/$(field $run .migration.verified)"
  printf '%-52s %14s\n' "$run: iterations, downtime ms, total ms" \
    "$(jq -r '(.migration.iterations | length | tostring) + ", " + (.migration.downtime_ms|tostring) + ", " + (.migration.total_time_ms|tostring)' "$tmp/$run.json")"
done
printf '%-52s %14s\n' "over_post: page requests, p50 / p99 (us)" \
  "$(jq -r '(.migration.postcopy_latency_us.count|tostring) + ", " + (.migration.postcopy_latency_us.p50|tostring) + " / " + (.migration.postcopy_latency_us.p99|tostring)' "$tmp/over_post.json")"
