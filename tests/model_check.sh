#!/usr/bin/env bash
# model_check.sh MODEL: checks a Promela model of the protocol with spin
# (ctest model_check, model_check_llr). The model as written must have no
# error in any reachable state; every deliberately broken variant (one safety
# rule taken out) must be caught, which shows the checks can fail. The
# variants are the "-DNAME" lines of the model's header comment, so a model
# lists its own. Prints one line per run, and the usual closing line.
set -euo pipefail

model=${1:?usage: model_check.sh MODEL.pml}
if ! command -v spin > /dev/null; then
  echo "model_check: spin is not installed (Debian package spin; scripts/install-deps installs it)" >&2
  exit 1
fi
work=$(mktemp -d /tmp/twopc-model-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -- "$model" "$work/model.pml"
cd "$work"

# Runs one variant; prints pan's error count, or "fail" if it could not run.
check() {
  local define=$1
  rm -f pan pan.* model.pml.trail
  spin -a ${define:+-D"$define"} model.pml > spin.out 2>&1 || { cat spin.out >&2; echo fail; return; }
  gcc -O2 -w -DSAFETY -o pan pan.c > gcc.out 2>&1 || { cat gcc.out >&2; echo fail; return; }
  ./pan -m100000 > pan.out 2>&1 || true
  local errors states
  errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out | head -1)
  states=$(sed -n 's/^ *\([0-9]*\) states, stored.*/\1/p' pan.out | head -1)
  echo "${errors:-fail} ${states:-?}"
}

passed=0
failed=0
read -r errors states < <(check "")
if [[ "$errors" == 0 ]]; then
  echo "model: no violation in $states states"
  passed=$((passed + 1))
else
  echo "model: FAILED ($errors errors); pan said:"
  cat pan.out
  failed=$((failed + 1))
fi
variants=$(grep -oE '^ \*   -D[A-Z_]+' model.pml | sed 's/.*-D//')
if [[ -z "$variants" ]]; then
  echo "model_check: $model lists no broken variant (' *   -DNAME' lines in its header)" >&2
  exit 1
fi
for variant in $variants; do
  read -r errors states < <(check "$variant")
  if [[ "$errors" =~ ^[1-9][0-9]*$ ]]; then
    echo "model -D$variant: caught ($(grep -m1 -E 'assertion violated|invalid end state' pan.out | sed 's/^pan:[0-9]*: //'))"
    passed=$((passed + 1))
  else
    echo "model -D$variant: NOT caught (errors: $errors): the model no longer checks that rule"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
