#!/usr/bin/env bash
# run.sh build_dir=DIR cmake=PATH generator=NAME cxx=PATH build_type=TYPE
#        cxx_flags=FLAGS linker_flags=FLAGS
#
# Installs the twopc build in BUILD_DIR into a temporary prefix, configures and
# builds the consumer project next to this script against that prefix only,
# runs it, and removes everything again. Exits non-zero at the first failure.
#
# The installed library must be free of the test-only crash points, even when
# BUILD_DIR is a test build: no sync point symbol in libtwopc.a, no
# TWOPC_SYNC_POINTS in the exported targets, and an application that commits
# a two-phase transaction with TWOPC_CRASH_AT=before_decision set survives.
set -euo pipefail

build_dir="" cmake=cmake generator=Ninja cxx=c++ build_type="" cxx_flags="" linker_flags=""
for arg in "$@"; do
  case "$arg" in
    build_dir=*) build_dir=${arg#*=} ;;
    cmake=*) cmake=${arg#*=} ;;
    generator=*) generator=${arg#*=} ;;
    cxx=*) cxx=${arg#*=} ;;
    build_type=*) build_type=${arg#*=} ;;
    cxx_flags=*) cxx_flags=${arg#*=} ;;
    linker_flags=*) linker_flags=${arg#*=} ;;
    *)
      echo "$0: unknown argument '$arg'" >&2
      exit 2
      ;;
  esac
done
if [[ -z "$build_dir" ]]; then
  echo "usage: $0 build_dir=DIR [cmake=PATH] [generator=NAME] [cxx=PATH]" \
    "[build_type=TYPE] [cxx_flags=FLAGS] [linker_flags=FLAGS]" >&2
  exit 2
fi
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"

work="$(mktemp -d /tmp/twopc-find-package-XXXXXX)"
trap 'rm -rf -- "$work"' EXIT
prefix="$work/prefix"

# Runs a step with its output in a log that is shown only if it fails.
step() {
  local name=$1
  shift
  if ! "$@" >"$work/$name.log" 2>&1; then
    echo "find_package test: $name failed: $*" >&2
    cat "$work/$name.log" >&2
    exit 1
  fi
}

step install "$cmake" --install "$build_dir" --prefix "$prefix"
step configure "$cmake" -S "$here" -B "$work/build" -G "$generator" \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE="$build_type" \
  -DCMAKE_CXX_FLAGS="$cxx_flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$linker_flags"

# The package must have come from the temporary prefix, not from a build tree
# or a system-wide installation.
found="$(sed -n 's/^twopc_DIR:PATH=//p' "$work/build/CMakeCache.txt")"
if [[ "$found" != "$prefix"/* ]]; then
  echo "find_package test: twopc was found in '$found', not under $prefix" >&2
  exit 1
fi
echo "twopc package: $found"

step build "$cmake" --build "$work/build"
"$work/build/app" "$work"

lib="$(find "$prefix" -name libtwopc.a -print -quit)"
if [[ -z "$lib" ]]; then
  echo "find_package test: no libtwopc.a under $prefix" >&2
  exit 1
fi
if nm -C "$lib" | grep -q 'ReachSyncPoint'; then
  echo "find_package test: the installed $lib contains sync points:" >&2
  nm -C "$lib" | grep 'ReachSyncPoint' >&2
  exit 1
fi
if grep -rn 'TWOPC_SYNC_POINTS' "$(dirname -- "$found")" >&2; then
  echo "find_package test: the installed package defines TWOPC_SYNC_POINTS for applications" >&2
  exit 1
fi
echo "installed library: no sync points"
if ! TWOPC_CRASH_AT=before_decision "$here/../run-with-sandbox" "left right" \
    "$work/build/app" "$work" @CONFIG@; then
  echo "find_package test: the application did not survive TWOPC_CRASH_AT=before_decision" >&2
  exit 1
fi
