#!/usr/bin/env bash
# Installs what ehall needs to build, run and test, and only what is missing.
# Safe to run any number of times.  Debian packages only (plus `npm ci` once the
# browser UI has a package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # build
  build-essential cmake pkg-config clang clang-format
  # libraries ehall links
  libmicrohttpd-dev libjansson-dev libsqlite3-dev libpq-dev libssl-dev zlib1g-dev
  # tests
  libcmocka-dev libcurl4-openssl-dev postgresql sqlite3 openssl curl gzip procps
  # benchmarks
  wrk nginx-light
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "bootstrap: all packages present"
fi

if [ -f package-lock.json ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  fi
fi
