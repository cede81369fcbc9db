#!/usr/bin/env bash
# Installs what ehall needs to build, run and test, and only what is missing.
# Safe to run any number of times.  Debian packages only, plus `npm ci` for the
# browser UI (package-lock.json pins every npm package; nothing is fetched at run time).
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
  # the browser UI's tests: Debian's Chromium (driven by playwright-core, no browser
  # download) and CJK fonts for its screenshots
  chromium fonts-noto-cjk
  # the licence PDF (src/licence/pdf.c): libharu, libqrencode, a TrueType CJK font it can
  # embed, and the tools its test checks the file with
  libhpdf-dev libqrencode-dev fonts-wqy-zenhei qpdf poppler-utils zbar-tools
)
# Node.js and npm build the browser UI (web/).  Debian's nodejs (18) is enough; a node
# already installed from elsewhere (nodesource bundles npm) is left alone, since
# Debian's npm package would conflict with it.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

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
  else
    echo "bootstrap: npm packages present"
  fi
fi
