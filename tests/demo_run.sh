#!/usr/bin/env bash
# demo_run.sh DEMO CONFIG: the README's first command's program, `twopc-demo`,
# as scripts/demo runs it. Passes when the demo does (exit 0: every outcome
# as expected) and it told where its metrics are served (a free loopback
# port) and ended with its own scrape: transfers committed in two phases.
# Run by ctest through tests/run-with-sandbox "east west".
set -euo pipefail
demo=$1
config=$2
out=$(dirname "$config")/demo.out
rc=0
"$demo" --config "$config" >"$out" 2>&1 || rc=$?
cat "$out"
grep -Eq '^metrics: http://127\.0\.0\.1:[0-9]+/metrics$' "$out" ||
  { echo "demo_run: no 'metrics: http://127.0.0.1:PORT/metrics' line" >&2; rc=1; }
grep -Eq '^  twopc_transactions_total\{outcome="committed",path="two_phase"\} [1-9]' "$out" ||
  { echo "demo_run: the closing scrape shows no two-phase commit" >&2; rc=1; }
exit "$rc"
