#!/usr/bin/env bash
# demo_loop.sh DEMO CONFIG: `twopc-demo --loop`, two copies on one config
# with [log] store = "postgres" (the README's "Two replicas on one config").
# Both run side by side without clobbering each other's accounts, stop
# cleanly at SIGTERM (exit 0: nothing in doubt), and the money is conserved.
# Each serves its metrics on a port of its own and ends with its scrape.
# Run by ctest through tests/run-with-sandbox "east west".
set -euo pipefail
demo=$1
config=$2
dir=$(dirname "$config")
replicas=$dir/replicas.toml
sed 's/^path = .*/store = "postgres"/' "$config" >"$replicas"

wait_for() {  # FILE TEXT: until FILE has a line with TEXT (30 s at most)
  for _ in $(seq 300); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "demo_loop: no '$2' in $1:" >&2
  cat "$1" >&2
  return 1
}

"$demo" --config "$replicas" --loop --pause-ms 5 >"$dir/one.out" 2>&1 &
one=$!
wait_for "$dir/one.out" "^looping:"
"$demo" --config "$replicas" --loop --pause-ms 5 >"$dir/two.out" 2>&1 &
two=$!
wait_for "$dir/two.out" "^looping:"
sleep 2
kill -TERM "$one" "$two"
rc=0
wait "$one" || rc=$?
wait "$two" || rc=$?
cat "$dir/one.out" "$dir/two.out"
ports=$(sed -n 's|^metrics: http://127\.0\.0\.1:\([0-9]*\)/metrics$|\1|p' "$dir/one.out" "$dir/two.out" | sort -u | wc -l)
[[ "$ports" -eq 2 ]] || { echo "demo_loop: the two copies do not serve metrics on two ports" >&2; rc=1; }
for out in "$dir/one.out" "$dir/two.out"; do
  grep -q "decisions in the participants (store postgres)" "$out" || { echo "demo_loop: $out: not the postgres store" >&2; rc=1; }
  grep -q "^stopped: [1-9][0-9]* committed" "$out" || { echo "demo_loop: $out: nothing committed" >&2; rc=1; }
  # 2 participants x 3 accounts x 100: transfers only move money.
  grep -q "total balance: 600$" "$out" || { echo "demo_loop: $out: money not conserved" >&2; rc=1; }
  grep -Eq '^metrics: http://127\.0\.0\.1:[0-9]+/metrics$' "$out" || { echo "demo_loop: $out: no metrics line" >&2; rc=1; }
  grep -q '^  twopc_transactions_total{' "$out" || { echo "demo_loop: $out: no closing scrape" >&2; rc=1; }
done
exit "$rc"
