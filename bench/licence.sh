#!/usr/bin/env bash
# bench/licence.sh — issue 7's targets on SQLite and on PostgreSQL side by side:
#   - the public licence status check by id ≥ 10,000/s on this machine, p99 ≤ 10 ms;
#   - verification of presented files (one SM2 verification per request) ≥ 90 % of the
#     machine's SM2-verify bound, `openssl speed sm2` verify/s × cores, printed beside it.
#
# For each store:
#   1. a fresh database, migrated by `ehall migrate`;
#   2. bench/licence_load.c seeds BENCH_LICENCE_N licence rows (identifiers with real
#      check characters; what the status check reads: state, valid_to_day, public_json;
#      one in 50 revoked, one in 50 past valid_to) — the sealed columns hold placeholders,
#      which the status check never reads;
#   3. `ehall serve` starts (per-client rate limit off: every request comes from
#      127.0.0.1) and licence_load runs BENCH_LICENCE_CLIENTS keep-alive connections
#      doing GET /api/v1/public/licences/<id>/status for WARMUP + SECONDS, ids round robin;
#   4. the same connections POST /api/v1/public/licences/verify with one signed licence
#      (JSON, ~1 KB; signed by licence_load with a department key it puts in the data
#      dir before the server starts): parse, canonical form, SM3, one SM2 verification,
#      the registry read — every answer must be "valid";
#   5. the server stops (flushing the usage-log buffer) and `ehall license report`
#      shows status checks served against logged (the log goes through the in-memory
#      buffer; see docs/licences.md "The usage log").
#   6. the wallet (BENCH_LICENCE_PARTS has "wallet"; a holder's licences in a store of
#      BENCH_LICENCE_WALLET_ROWS (10 million) licences, p99 ≤ 5 ms): another fresh
#      database; bench/cases_load registers and logs in BENCH_LICENCE_WALLET_PERSONS persons
#      (test mode); licence_load wallet-seed fills the licence table by SQL (one holder per
#      10 rows) and gives each person 10 licences under the blind index of their ID
#      number, as issuance stores them; then GET /api/v1/licences with the persons'
#      sessions in turn, with 1 client and with BENCH_LICENCE_WALLET_CLIENTS.
# Before the stores, `openssl speed -seconds 5 sm2` measures the SM2 verify/s of one core,
# and `licence_load sm2-speed 5` ehall's own (through EVP, and with the fixed-base tables
# the verify endpoint uses for a key in steady use, crypto_sm2_pub_prepare): the target
# is against openssl's figure, the tables' is printed beside it.
# PostgreSQL is a throwaway server started with scripts/pg-test-server.sh (skipped when
# its binaries are not installed).  Everything listens on 127.0.0.1; state lives in a
# mktemp dir removed on exit.  Prints a markdown report (also copied to
# build-bench/bench-licence-latest.md).
#
# Knobs (environment):
#   BENCH_LICENCE_PARTS="status wallet" status (with verify) and/or the wallet
#   BENCH_LICENCE_N=100000          licences in the store of the status and verify runs
#   BENCH_LICENCE_WALLET_ROWS=10000000  licences in the wallet's store
#   BENCH_LICENCE_WALLET_PERSONS=50 holders logged in for the wallet runs
#   BENCH_LICENCE_WALLET_CLIENTS=8  connections of the wallet's second run
#   BENCH_LICENCE_CLIENTS=32        concurrent keep-alive connections
#   BENCH_LICENCE_WARMUP=2          seconds not counted
#   BENCH_LICENCE_SECONDS=10        seconds counted
#   BENCH_LICENCE_DBS="sqlite postgres"
#   BENCH_LICENCE_HTTP_THREADS=0    http.threads of the server (0, the default: one per CPU on SQLite, four per CPU and at least 8 on PostgreSQL)
#   BENCH_KEEP=1                    keep the temp dir (logs)
#   BENCH_STRICT=1                  exit 1 when a target is missed
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # die, say, stop_pid, free_port, wait_http, …

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$REPO/build-bench"
NCPU=$(nproc)
PARTS=${BENCH_LICENCE_PARTS:-status wallet}
N=${BENCH_LICENCE_N:-100000}
WROWS=${BENCH_LICENCE_WALLET_ROWS:-10000000}
WPERSONS=${BENCH_LICENCE_WALLET_PERSONS:-50}
WCLIENTS=${BENCH_LICENCE_WALLET_CLIENTS:-8}
CLIENTS=${BENCH_LICENCE_CLIENTS:-32}
WARMUP=${BENCH_LICENCE_WARMUP:-2}
SECONDS_=${BENCH_LICENCE_SECONDS:-10}
DBS=${BENCH_LICENCE_DBS:-sqlite postgres}
HTTP_THREADS=${BENCH_LICENCE_HTTP_THREADS:-0}
KEEP=${BENCH_KEEP:-0}
STRICT=${BENCH_STRICT:-0}
TARGET_RATE=10000
TARGET_P99=10
TARGET_VERIFY_PCT=90
TARGET_WALLET_P99=5

for v in N CLIENTS WARMUP SECONDS_ HTTP_THREADS WROWS WPERSONS WCLIENTS; do [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number"; done
((N >= 1 && CLIENTS >= 1 && CLIENTS <= 1000 && SECONDS_ >= 1)) || die "N, clients (1..1000) and seconds must be positive"
for db in $DBS; do [[ $db == sqlite || $db == postgres ]] || die "BENCH_LICENCE_DBS: unknown store '$db'"; done
for part in $PARTS; do [[ $part == status || $part == wallet ]] || die "BENCH_LICENCE_PARTS: unknown part '$part'"; done
((WPERSONS >= 1 && WPERSONS <= 999 && WROWS >= 10 * WPERSONS)) || die "wallet: 1..999 persons and at least 10 rows each"

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v cc >/dev/null || missing+=(gcc)
command -v python3 >/dev/null || missing+=(python3)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then die "missing: ${missing[*]} (sudo apt-get install ${missing[*]})"; fi
PSQL=""
if [[ " $DBS " == *" postgres "* ]]; then
    if ! ls -d /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        say "PostgreSQL server binaries not found: running on SQLite only (apt-get install postgresql)"
        DBS=${DBS//postgres/}
    else
        PSQL=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql | sort -V | tail -n 1)
    fi
fi

note_load "(other builders?)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ehall-bench-licence.XXXXXX")
EHALL_PID="" PG_DIR=""

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_pid "$EHALL_PID" TERM
    [[ -n $PG_DIR ]] && "$REPO/scripts/pg-test-server.sh" stop "$PG_DIR"
    if ((rc != 0)) || [[ $KEEP == 1 ]]; then say "temp dir kept: $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------- build ----------

say "building release ehall and bench/licence_load.c into $BUILD (log: $TMP/build.log)"
build_release
EHALL="$BUILD/ehall"
LOADER="$BUILD/licence_load"
# shellcheck disable=SC2046  # pkg-config's output is a list of flags
cc -std=c17 -O2 -Wall -Wextra -D_GNU_SOURCE -I"$REPO/src" \
    "$REPO/bench/licence_load.c" "$REPO/bench/loadlib.c" "$BUILD/libehallcore.a" \
    $(pkg-config --libs libmicrohttpd jansson sqlite3 libpq libcrypto zlib libqrencode) -lhpdf -pthread -lm \
    -o "$LOADER" >>"$TMP/build.log" 2>&1 || { tail -n 20 "$TMP/build.log" >&2; die "building licence_load failed"; }
if has_part wallet; then
    pkg-config --exists libcurl 2>/dev/null || die "missing libcurl4-openssl-dev (for bench/cases_load.c)"
    # shellcheck disable=SC2046
    cc -std=c17 -O2 -Wall -Wextra -D_GNU_SOURCE -DLOADLIB_CURL -I"$REPO/src" \
        "$REPO/bench/cases_load.c" "$REPO/bench/loadlib.c" "$BUILD/libehallcore.a" \
        $(pkg-config --libs libcurl libmicrohttpd jansson sqlite3 libpq libcrypto zlib libqrencode) -lhpdf -pthread -lm \
        -o "$BUILD/cases_load" >>"$TMP/build.log" 2>&1 || { tail -n 20 "$TMP/build.log" >&2; die "building cases_load failed"; }
fi

# ---------- runs ----------

unset EHALL_CONFIG EHALL_DATA EHALL_DB EHALL_LISTEN
export EHALL_HTTP_CLIENT_RATE=0 EHALL_HTTP_CLIENT_CONCURRENCY=100000 EHALL_EXCHANGE_WORKERS=0
export EHALL_HTTP_THREADS=$HTTP_THREADS

declare -A R
PGURL=""

one_run() { # DB
    local db=$1 url port f data="$TMP/$1"
    if [[ $db == postgres ]]; then
        "$PSQL" -q "$PGURL" -c "CREATE DATABASE lic_status" >>"$TMP/psql.log" 2>&1 || die "CREATE DATABASE failed"
        url="${PGURL%/*}/lic_status"
    else
        url="sqlite:$data/ehall.db"
    fi
    local dbargs=(--data "$data" --db "$url")
    "$EHALL" "${dbargs[@]}" migrate >"$TMP/$db-migrate.log" 2>&1 || { cat "$TMP/$db-migrate.log" >&2; die "migrate failed"; }
    say "[$db] seeding $N licences"
    f=$("$LOADER" seed "$url" "$N" "$TMP/$db-ids.txt") || die "seeding failed"
    say "[$db]   $f"
    f=$("$LOADER" sign "$data" "$(sed -n 2p "$TMP/$db-ids.txt")" "$TMP/$db-licence.json") || die "signing failed"
    free_port
    port=$PORT
    "$EHALL" "${dbargs[@]}" serve --listen "127.0.0.1:$port" >"$TMP/$db-serve.log" 2>&1 &
    EHALL_PID=$!
    local i
    for ((i = 0; i < 200; i++)); do
        curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" && break
        sleep 0.05
    done
    curl -fs -o /dev/null "http://127.0.0.1:$port/api/v1/public/licences/$(head -n 2 "$TMP/$db-ids.txt" | tail -n 1)/status" ||
        die "[$db] the status check does not answer 200"
    say "[$db] $CLIENTS clients, ${WARMUP} s warm-up + ${SECONDS_} s"
    f=$("$LOADER" status "127.0.0.1:$port" "$TMP/$db-ids.txt" "$CLIENTS" "$WARMUP" "$SECONDS_") || die "load failed"
    say "[$db]   $f"
    R[$db,rate]=$(kv "$f" rate) R[$db,p50]=$(kv "$f" p50_ms) R[$db,p90]=$(kv "$f" p90_ms)
    R[$db,p99]=$(kv "$f" p99_ms) R[$db,max]=$(kv "$f" max_ms) R[$db,req]=$(kv "$f" requests)
    R[$db,err]=$(kv "$f" errors) R[$db,non200]=$(kv "$f" non200)
    say "[$db] presented files: $CLIENTS clients POST /api/v1/public/licences/verify, ${WARMUP} s warm-up + ${SECONDS_} s"
    f=$("$LOADER" verify "127.0.0.1:$port" "$TMP/$db-licence.json" "$CLIENTS" "$WARMUP" "$SECONDS_") || die "verify load failed"
    say "[$db]   $f"
    R[$db,vrate]=$(kv "$f" rate) R[$db,vp50]=$(kv "$f" p50_ms) R[$db,vp99]=$(kv "$f" p99_ms)
    R[$db,vbad]=$(( $(kv "$f" errors) + $(kv "$f" non200) ))
    stop_pid "$EHALL_PID" TERM
    EHALL_PID=""
    local rep # today in the server's zone (the timezone setting), like the log's days
    rep=$("$EHALL" "${dbargs[@]}" license report 2>&1 || true)
    R[$db,report]=$(python3 -c 'import json,sys
d=json.loads(sys.argv[1]); a=[x for x in d["actions"] if x["action"]=="status"][0]
print("served %d, logged %d, dropped %d" % (a["served"], a["logged"], a["dropped"]))' "$rep" 2>/dev/null || echo "report: $rep")
    say "[$db]   usage log: ${R[$db,report]}"
}

wallet_run() { # DB
    local db=$1 url port f data="$TMP/$1-wallet" i
    if [[ $db == postgres ]]; then
        "$PSQL" -q "$PGURL" -c "CREATE DATABASE lic_wallet" >>"$TMP/psql.log" 2>&1 || die "CREATE DATABASE failed"
        url="${PGURL%/*}/lic_wallet"
    else
        url="sqlite:$data/ehall.db"
    fi
    local dbargs=(--data "$data" --db "$url")
    "$EHALL" "${dbargs[@]}" migrate >"$TMP/$db-wallet-migrate.log" 2>&1 || { cat "$TMP/$db-wallet-migrate.log" >&2; die "migrate failed"; }
    wallet_serve() {
        free_port
        port=$PORT
        EHALL_TEST_MODE=1 EHALL_AUTH_PASSWORD_ITERATIONS=1000 EHALL_SESSION_IDLE_TIMEOUT=86400 \
            EHALL_SESSION_MAX_LIFETIME=604800 "$EHALL" "${dbargs[@]}" serve --listen "127.0.0.1:$port" >>"$TMP/$db-wallet-serve.log" 2>&1 &
        EHALL_PID=$!
        for ((i = 0; i < 200; i++)); do
            curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" && break
            sleep 0.05
        done
    }
    wallet_serve
    say "[$db] wallet: registering $WPERSONS persons"
    "$BUILD/cases_load" persons "http://127.0.0.1:$port" "$WPERSONS" "Bench-2026-pass" wl "$TMP/$db-wallet-persons.txt" >"$TMP/$db-wallet-persons.out" 2>&1 ||
        { tail -n 5 "$TMP/$db-wallet-persons.out" >&2; die "registering persons failed"; }
    stop_pid "$EHALL_PID" TERM
    EHALL_PID=""
    say "[$db] wallet: $WROWS licences, 10 for each person (log: $TMP/$db-wallet-seed.log)"
    f=$("$LOADER" wallet-seed "$data" "$url" "$WROWS" "$WPERSONS" 2>"$TMP/$db-wallet-seed.log") || { tail -n 5 "$TMP/$db-wallet-seed.log" >&2; die "seeding the wallet failed"; }
    say "[$db]   $f"
    R[$db,wseed]=$(kv "$f" seconds)
    [[ $db == postgres ]] && "$PSQL" -q "$url" -c "ANALYZE licence" >>"$TMP/psql.log" 2>&1
    wallet_serve
    local c
    for c in 1 "$WCLIENTS"; do
        say "[$db] wallet: $c client(s), ${WARMUP} s warm-up + ${SECONDS_} s"
        f=$("$LOADER" wallet "127.0.0.1:$port" "$TMP/$db-wallet-persons.txt" "$c" "$WARMUP" "$SECONDS_") || die "wallet load failed"
        say "[$db]   $f"
        R[$db,w$c,rate]=$(kv "$f" rate) R[$db,w$c,p50]=$(kv "$f" p50_ms) R[$db,w$c,p99]=$(kv "$f" p99_ms)
        R[$db,w$c,bad]=$(($(kv "$f" errors) + $(kv "$f" non200)))
    done
    stop_pid "$EHALL_PID" TERM
    EHALL_PID=""
}

# the machine's SM2 bound: one core's verify/s (openssl speed, 5 s) × cores
SM2_ONE=0 SM2_BOUND=0 SM2_EVP=0 SM2_TAB=0 SM2_TAB_BOUND=0
if has_part status; then
    say "openssl speed -seconds 5 sm2 (one core)"
    SM2_ONE=$(openssl speed -seconds 5 sm2 2>/dev/null | awk '/SM2/ && $NF ~ /^[0-9.]+$/ {v = $NF} END {print v + 0}')
    [[ $SM2_ONE != 0 ]] || die "openssl speed sm2 printed no verify/s"
    SM2_BOUND=$(awk -v v="$SM2_ONE" -v n="$NCPU" 'BEGIN {printf "%.0f", v * n}')
    say "  SM2 verify/s: $SM2_ONE on one core, bound $SM2_BOUND on $NCPU"
    # ehall's own verification on one core, the EVP way and with fixed-base tables
    say "licence_load sm2-speed 5 (one core, each way)"
    f=$("$LOADER" sm2-speed 5) || die "licence_load sm2-speed failed"
    SM2_EVP=$(kv "$f" evp_per_s) SM2_TAB=$(kv "$f" table_per_s)
    SM2_TAB_BOUND=$(awk -v v="$SM2_TAB" -v n="$NCPU" 'BEGIN {printf "%.0f", v * n}')
    say "  ehall: $SM2_EVP/s through EVP, $SM2_TAB/s with tables on one core"
fi

RUN_DBS=()
for db in $DBS; do
    if [[ $db == postgres ]]; then
        PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ehall-bench-pg.XXXXXX")
        say "starting a throwaway PostgreSQL (scripts/pg-test-server.sh)"
        PGURL=$("$REPO/scripts/pg-test-server.sh" start "$PG_DIR" 2>"$TMP/pg-start.log") ||
            { cat "$TMP/pg-start.log" >&2; die "PostgreSQL did not start"; }
    fi
    if has_part status; then one_run "$db"; fi
    if has_part wallet; then wallet_run "$db"; fi
    if [[ $db == postgres ]]; then
        "$REPO/scripts/pg-test-server.sh" stop "$PG_DIR"
        PG_DIR=""
    fi
    RUN_DBS+=("$db")
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------- report ----------

cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$REPO" status --porcelain -- src 2>/dev/null) ]] && commit+=" (src/ modified)"
REPORT="$TMP/results.md"
{
    echo "## ehall licence benchmark: $PARTS — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $NCPU CPUs, ${cpu:-$(uname -m)}, Linux $(uname -r); load average $LOAD_BEFORE at start, $LOAD_AFTER at the end"
    echo "- $("$EHALL" version 2>/dev/null | head -n 1) (Release build, commit $commit); the load generator runs on the same CPUs"
    echo "- ${WARMUP} s warm-up, ${SECONDS_} s counted per run; http.threads = $HTTP_THREADS (0: one per CPU on SQLite, four per CPU and at least 8 on PostgreSQL)"
    echo
    if has_part status; then
        echo "Status checks: $N licences, $CLIENTS keep-alive connections."
        echo
        echo "| store | status checks/s | p50 ms | p90 ms | p99 ms | max ms | requests | errors | non-200 | usage log (status) |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        for db in "${RUN_DBS[@]}"; do
            echo "| $db | **${R[$db,rate]}** | ${R[$db,p50]} | ${R[$db,p90]} | **${R[$db,p99]}** | ${R[$db,max]} | ${R[$db,req]} | ${R[$db,err]} | ${R[$db,non200]} | ${R[$db,report]} |"
        done
        echo
        echo "Presented files (POST /api/v1/public/licences/verify, one SM2 verification each, $CLIENTS connections) beside \`openssl speed sm2\`:"
        echo "$SM2_ONE verify/s on one core × $NCPU cores = **$SM2_BOUND/s**."
        echo "ehall's own verification on one core in the same run: $SM2_EVP/s through EVP (as \`openssl speed\`),"
        echo "$SM2_TAB/s with the fixed-base tables the endpoint uses (× $NCPU = $SM2_TAB_BOUND/s)."
        echo
        echo "| store | verifications/s | % of the SM2 bound | % of the tables' bound | p50 ms | p99 ms | errors or not valid |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        for db in "${RUN_DBS[@]}"; do
            echo "| $db | **${R[$db,vrate]}** | $(awk -v r="${R[$db,vrate]}" -v b="$SM2_BOUND" 'BEGIN {printf "%.0f %%", 100 * r / b}') | $(awk -v r="${R[$db,vrate]}" -v b="$SM2_TAB_BOUND" 'BEGIN {printf "%.0f %%", 100 * r / b}') | ${R[$db,vp50]} | ${R[$db,vp99]} | ${R[$db,vbad]} |"
        done
        echo
    fi
    if has_part wallet; then
        echo "The wallet: GET /api/v1/licences, $WPERSONS holders with 10 licences each in a store of $WROWS licences."
        echo
        echo "| store | seeding s | clients | requests/s | p50 ms | p99 ms | errors or not 10 |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        for db in "${RUN_DBS[@]}"; do
            for c in 1 "$WCLIENTS"; do
                echo "| $db | ${R[$db,wseed]} | $c | ${R[$db,w$c,rate]} | ${R[$db,w$c,p50]} | **${R[$db,w$c,p99]}** | ${R[$db,w$c,bad]} |"
            done
        done
        echo
    fi
    echo "### Targets"
    echo
    echo "| check | target | measured | result |"
    echo "|---|---|---:|---|"
    for db in "${RUN_DBS[@]}"; do
        if has_part status; then
            res=PASS
            awk -v r="${R[$db,rate]}" -v t=$TARGET_RATE 'BEGIN {exit !(r >= t)}' || res="**FAIL**"
            echo "| $db: status checks by id | ≥ $TARGET_RATE/s | ${R[$db,rate]}/s | $res |"
            res=PASS
            awk -v r="${R[$db,p99]}" -v t=$TARGET_P99 'BEGIN {exit !(r <= t)}' || res="**FAIL**"
            echo "| $db: p99 latency | ≤ $TARGET_P99 ms | ${R[$db,p99]} ms | $res |"
            res=PASS
            awk -v r="${R[$db,vrate]}" -v b="$SM2_BOUND" -v t=$TARGET_VERIFY_PCT 'BEGIN {exit !(100 * r >= t * b)}' || res="**FAIL**"
            [[ ${R[$db,vbad]} == 0 ]] || res="**FAIL**"
            echo "| $db: presented files verified | ≥ $TARGET_VERIFY_PCT % of $SM2_BOUND/s | ${R[$db,vrate]}/s | $res |"
        fi
        if has_part wallet; then
            for c in 1 "$WCLIENTS"; do
                res=PASS
                awk -v r="${R[$db,w$c,p99]}" -v t=$TARGET_WALLET_P99 'BEGIN {exit !(r <= t)}' || res="**FAIL**"
                [[ ${R[$db,w$c,bad]} == 0 ]] || res="**FAIL**"
                echo "| $db: a holder's licences among $WROWS, $c client(s), p99 | ≤ $TARGET_WALLET_P99 ms | ${R[$db,w$c,p99]} ms | $res |"
            done
        fi
    done
} >"$REPORT"
MISSED=$(grep -c 'FAIL\*\* |$' "$REPORT" || true)
cat "$REPORT"
mkdir -p "$BUILD"
cp "$REPORT" "$BUILD/bench-licence-latest.md"
echo
echo "results: $BUILD/bench-licence-latest.md"
if ((MISSED > 0)); then
    echo "$MISSED check(s) missed the target."
    [[ $STRICT == 1 ]] && exit 1
fi
exit 0
