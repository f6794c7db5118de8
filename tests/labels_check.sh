#!/usr/bin/env bash
# labels_check.sh BUILD_DIR: every registered test carries one of the labels
# the stages of scripts/test select on. A test without one would silently
# run in no sanitizer stage.
set -euo pipefail
build_dir=${1:?usage: labels_check.sh BUILD_DIR}
known='unit|integration|crash|bench|install|valgrind|example|model|fuzz|lint'
unlabelled=$(ctest --test-dir "$build_dir" -N -LE "$known" | grep -E '^ *Test +#' || true)
if [[ -n "$unlabelled" ]]; then
  echo "labels_check: tests without a label ($known):"
  echo "$unlabelled"
  echo "labels_check: give them one (gtest_discover_tests(... PROPERTIES LABELS unit), set_tests_properties)"
  exit 1
fi
echo "labels_check: every test has a label"
