#!/usr/bin/env bash
# bench_smoke.sh TWOPC_BENCH: the benchmark's smoke test (ctest bench_smoke).
#
# Runs twopc-bench for seconds on throwaway servers, every mode it was built
# with, and lets the bench judge its own results (--check, then
# --check-results on the written results.json, which must parse): zero final
# violations for 2PC, committed + aborted == attempted for every mode. Then the
# order workload with 5% business failures through 2PC: the refused orders
# must abort (aborted_business > 0) and leave no violation. Then crash mode.
# The first run also serves --metrics on a free port: the address must be
# printed, and a scrape during the run (bash's /dev/tcp: curl may be
# missing) must show the coordinators' and the sagas' counters.
set -euo pipefail

bench=${1:?usage: bench_smoke.sh TWOPC_BENCH}
out=$(mktemp -d /tmp/twopc-bench-smoke-XXXXXX)
trap 'rm -rf "$out"' EXIT

modes=none,2pc,saga,saga-outbox,null

# One GET /metrics over HTTP/1.0 (the server closes after the answer).
scrape() {
  local host=${1%:*} port=${1##*:}
  # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
  timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1" &&
    printf "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n" "$0" >&3 && cat <&3' "$host" "$port"
}

"$bench" --sandbox 3 --mode "$modes" --workload transfer --clients 4 --duration 2 \
  --warmup 0 --out "$out/transfer" --check --metrics 127.0.0.1:0 2> >(tee "$out/stderr" >&2) &
bench_pid=$!
# The registry outlives each point's coordinator, so the families stay
# once a point has opened one: poll until both kinds are there.
addr="" scraped=""
while kill -0 "$bench_pid" 2>/dev/null; do
  if [[ -z "$addr" ]]; then
    # tee may not have created the file yet: with pipefail, sed's "no such
    # file" would otherwise end the script (set -e) while the bench runs on.
    addr=$(sed -n 's|^metrics: http://\(.*\)/metrics$|\1|p' "$out/stderr" 2>/dev/null | head -1 || true)
  fi
  if [[ -n "$addr" ]]; then
    body=$(scrape "$addr" || true)
    if grep -q '^twopc_transactions_total{' <<<"$body" &&
       grep -q '^twopc_sagas_total{outcome="completed"}' <<<"$body"; then
      scraped=yes
      break
    fi
  fi
  sleep 0.2
done
wait "$bench_pid" || { echo "bench_smoke: the first run exited with $?" >&2; exit 1; }
grep -q '^metrics: http://127\.0\.0\.1:[0-9]*/metrics$' "$out/stderr" ||
  { echo "bench_smoke: --metrics printed no 'metrics: http://127.0.0.1:PORT/metrics' line" >&2; exit 1; }
[[ -n "$scraped" ]] ||
  { echo "bench_smoke: no scrape of $addr showed twopc_transactions_total and twopc_sagas_total" >&2; exit 1; }
"$bench" --check-results "$out/transfer/results.json"
for f in results.csv results.md latency_percentiles.svg; do
  [[ -s "$out/transfer/$f" ]] || { echo "bench_smoke: $f missing" >&2; exit 1; }
done

"$bench" --sandbox 3 --mode 2pc --workload order --failure-rate 0.05 --clients 4 \
  --duration 2 --warmup 0 --out "$out/order" --check
"$bench" --check-results "$out/order/results.json"
# Column 10 of results.csv is aborted_business.
business=$(awk -F, 'NR == 2 { print $10 }' "$out/order/results.csv")
if [[ -z "$business" || "$business" -eq 0 ]]; then
  echo "bench_smoke: the order workload refused no order at failure rate 0.05" >&2
  exit 1
fi
# Crash mode, two runs of one point: the coordinator process is SIGKILLed
# after a second, restarted, recovered. --check-results holds the point to
# its crash accounting: nothing acknowledged lost, and the committed
# operations of both runs = acknowledged + in flight then applied, summed.
"$bench" --sandbox 2 --mode 2pc --workload transfer --clients 4 --duration 2 --warmup 0 \
  --crash-after 1 --repeat 2 --out "$out/crash" --check
"$bench" --check-results "$out/crash/results.json"

echo "bench_smoke: passed ($business orders refused for business reasons, all aborted cleanly; crash mode recovered)"
