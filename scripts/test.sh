#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds a normal and an
# ASan+UBSan build, starts a throwaway PostgreSQL, and runs every test on SQLite and
# on PostgreSQL in both builds; then builds the browser UI and runs the browser tests
# (headless Chromium against a real ehall on SQLite).  Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

jobs=$(nproc)
build() {
  local dir=$1; shift
  cmake -S . -B "$dir" -DBUILD_TESTING=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
}
build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
build build-asan -DCMAKE_BUILD_TYPE=Debug -DEHALL_SANITIZE=ON

pgdir=$(mktemp -d /tmp/ehall-pg-XXXXXX)
trap 'scripts/pg-test-server.sh stop "$pgdir"' EXIT
pgurl=$(scripts/pg-test-server.sh start "$pgdir")
echo "test PostgreSQL at $pgurl"

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

failed=()
run() {
  local name=$1 dir=$2 pg=$3
  echo "=== $name ==="
  # A test that fails is run once more, and the first failure stays in the output above
  # the retry: a timing-sensitive test on a loaded machine must not fail CI by chance (the
  # one known cause of flakes, an abort in libmicrohttpd's quiesce, is gone; see
  # docs/decisions.md).  A behaviour that is really broken fails both times.
  if ! EHALL_TEST_PG=$pg ctest --test-dir "$dir" --output-on-failure -j1 --repeat until-pass:2; then failed+=("$name"); fi
}
run "sqlite" build ""
run "postgres" build "$pgurl"
run "asan+ubsan sqlite" build-asan ""
run "asan+ubsan postgres" build-asan "$pgurl"

echo "=== browser ==="
# One file at a time (node --test runs them one by one on this machine anyway), and, as
# above, a file that fails is run once more with its first failure left in the output.
if npm run build; then
  for f in web/e2e/*.test.mjs; do
    if ! EHALL_BIN="$PWD/build/ehall" node --test "$f"; then
      echo "--- $f failed; running it once more ---"
      EHALL_BIN="$PWD/build/ehall" node --test "$f" || failed+=("browser: $f")
    fi
  done
else
  failed+=("browser build")
fi

if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test runs passed: sqlite, postgres, asan+ubsan sqlite, asan+ubsan postgres, browser"
