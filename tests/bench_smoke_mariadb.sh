#!/usr/bin/env bash
# bench_smoke_mariadb.sh TWOPC_BENCH: the mixed pair's smoke test (ctest
# bench_smoke_mariadb).
#
# Two PostgreSQL databases and one MariaDB database (--sandbox 2 --mariadb 1),
# the transfer workload for seconds in none, 2pc and saga, over the PostgreSQL
# pair and the mixed pair side by side (--over p1,p2 --over p1,m1). The bench
# judges its own results: committed + aborted == attempted everywhere, zero
# final violations (total balance, prepared branches left) for 2pc.
set -euo pipefail

bench=${1:?usage: bench_smoke_mariadb.sh TWOPC_BENCH}
out=$(mktemp -d /tmp/twopc-bench-smoke-mdb-XXXXXX)
trap 'rm -rf "$out"' EXIT

"$bench" --sandbox 2 --mariadb 1 --sandbox-fsync off --mode none,2pc,saga --workload transfer \
  --over p1,p2 --over p1,m1 --clients 4 --accounts 1000 --duration 2 --warmup 0 \
  --out "$out/mixed" --check
"$bench" --check-results "$out/mixed/results.json"
# Every mode ran over the mixed pair and committed something there.
mixed=$(awk -F, 'NR > 1 && $NF == "p1+m1" && $8 > 0 { n++ } END { print n + 0 }' \
  "$out/mixed/results.csv")
if [[ "$mixed" -ne 3 ]]; then
  echo "bench_smoke_mariadb: expected 3 modes with commits over p1+m1, got $mixed" >&2
  cat "$out/mixed/results.csv" >&2
  exit 1
fi
echo "bench_smoke_mariadb: passed (none, 2pc and saga over p1+p2 and p1+m1)"
