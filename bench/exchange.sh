#!/usr/bin/env bash
# bench/exchange.sh — the exchange's drain rate (issue 4 target: a backlog of 100,000
# queue messages drains at ≥ 5,000/s through the simulated back-end), on SQLite and on
# PostgreSQL side by side in the same run.
#
# For each store and each batch size (exchange.batch):
#   1. a fresh database, migrated by `ehall migrate`;
#   2. the backlog is queued in bulk by bench/exchange_load.c through exchange_enqueue
#      (the server's own function), BENCH_EXCHANGE_CHUNK messages per transaction:
#      kind test.echo, connector sim, payload {"item":"BENCH-0001","form":{…}};
#   3. `ehall serve` starts with its exchange worker threads (exchange.workers) and
#      drains it: each message is leased, passed to the simulated back-end (which records
#      it in its ledger, sim_ledger) and completed with its result handler (test.echo
#      writes one row into exchange_test_effect) — the same path a case takes;
#   4. exchange_load watch times the drain from before the server starts until nothing
#      is queued or leased (server start-up included), then checks that every message is
#      done with exactly one effect and one back-end record;
#   5. `ehall reconcile --date <today>` reconciles the 100,000 entries (timed; must exit 0).
# PostgreSQL is a throwaway server started with scripts/pg-test-server.sh (skipped when
# its binaries are not installed).  Everything listens on 127.0.0.1; state lives in a
# mktemp dir removed on exit.  Prints a markdown report (also copied to
# build-bench/bench-exchange-latest.md).
#
# Knobs (environment):
#   BENCH_EXCHANGE_N=100000            messages in the backlog
#   BENCH_EXCHANGE_BATCHES="200 500 1000"   exchange.batch values to run (500 is the default)
#   BENCH_EXCHANGE_WORKERS=2           exchange.workers (the default)
#   BENCH_EXCHANGE_CHUNK=10000         messages queued per transaction
#   BENCH_EXCHANGE_DBS="sqlite postgres"
#   BENCH_KEEP=1                       keep the temp dir (logs)
#   BENCH_STRICT=1                     exit 1 when the target is missed at the default batch
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # die, say, stop_pid, free_port, wait_http, …

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$REPO/build-bench"
NCPU=$(nproc)
N=${BENCH_EXCHANGE_N:-100000}
BATCHES=${BENCH_EXCHANGE_BATCHES:-200 500 1000}
WORKERS=${BENCH_EXCHANGE_WORKERS:-2}
CHUNK=${BENCH_EXCHANGE_CHUNK:-10000}
DBS=${BENCH_EXCHANGE_DBS:-sqlite postgres}
KEEP=${BENCH_KEEP:-0}
STRICT=${BENCH_STRICT:-0}
DEFAULT_BATCH=500
TARGET=5000

for v in N WORKERS CHUNK; do [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number"; done
for b in $BATCHES; do [[ $b =~ ^[0-9]+$ ]] && ((b >= 1 && b <= 10000)) || die "batch sizes are 1..10000"; done
((N >= 1 && WORKERS >= 1 && WORKERS <= 64 && CHUNK >= 1)) || die "N, workers (1..64) and chunk must be positive"
for db in $DBS; do [[ $db == sqlite || $db == postgres ]] || die "BENCH_EXCHANGE_DBS: unknown store '$db'"; done

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v cc >/dev/null || missing+=(gcc)
command -v python3 >/dev/null || missing+=(python3)
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

note_load

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ehall-bench-exchange.XXXXXX")
EHALL_PID="" WATCH_PID="" PG_DIR=""

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_pid "$WATCH_PID" TERM
    stop_pid "$EHALL_PID" TERM
    [[ -n $PG_DIR ]] && "$REPO/scripts/pg-test-server.sh" stop "$PG_DIR"
    if ((rc != 0)) || [[ $KEEP == 1 ]]; then say "temp dir kept: $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------- build ----------

say "building release ehall and bench/exchange_load.c into $BUILD (log: $TMP/build.log)"
build_release
EHALL="$BUILD/ehall"
LOADER="$BUILD/exchange_load"
# shellcheck disable=SC2046  # pkg-config's output is a list of flags
cc -std=c17 -O2 -Wall -Wextra -D_GNU_SOURCE -I"$REPO/src" \
    "$REPO/bench/exchange_load.c" "$REPO/bench/loadlib.c" "$BUILD/libehallcore.a" \
    $(pkg-config --libs libmicrohttpd jansson sqlite3 libpq libcrypto zlib) -pthread -lm \
    -o "$LOADER" >>"$TMP/build.log" 2>&1 || { tail -n 20 "$TMP/build.log" >&2; die "building exchange_load failed"; }

# ---------- runs ----------

unset EHALL_CONFIG EHALL_DATA EHALL_DB EHALL_LISTEN
export EHALL_EXCHANGE_WORKERS=$WORKERS EHALL_EXCHANGE_SIM_FAIL_RATE=0 EHALL_EXCHANGE_SIM_DELAY_US=0
export EHALL_EXCHANGE_SIM_DIR="$TMP/testdata" # no BENCH-0001.json: the back-end approves everything
mkdir -p "$TMP/testdata"

declare -A R
PGURL=""

one_run() { # DB BATCH
    local db=$1 batch=$2 name="$1-b$2" url dbargs=() port f
    local data="$TMP/$name"
    if [[ $db == postgres ]]; then
        "$PSQL" -q "$PGURL" -c "CREATE DATABASE \"b_$batch\"" >>"$TMP/psql.log" 2>&1 || die "CREATE DATABASE failed"
        url="${PGURL%/*}/b_$batch"
    else
        url="sqlite:$data/ehall.db"
    fi
    dbargs=(--data "$data" --db "$url")
    "$EHALL" "${dbargs[@]}" migrate >"$TMP/$name-migrate.log" 2>&1 || { cat "$TMP/$name-migrate.log" >&2; die "migrate failed"; }
    say "[$db] batch $batch: queueing $N messages ($CHUNK per transaction)"
    f=$("$LOADER" enqueue "$url" "$N" "$CHUNK" bench) || die "enqueue failed"
    R[$name,enq]=$(kv "$f" rate) R[$name,enq_s]=$(kv "$f" seconds)
    say "[$db]   $f"
    "$LOADER" watch "$url" "$N" 600 >"$TMP/$name-watch.txt" &
    WATCH_PID=$!
    free_port
    port=$PORT
    EHALL_EXCHANGE_BATCH=$batch "$EHALL" "${dbargs[@]}" serve --listen "127.0.0.1:$port" >"$TMP/$name-serve.log" 2>&1 &
    EHALL_PID=$!
    local rc=0
    wait "$WATCH_PID" || rc=$?
    WATCH_PID=""
    stop_pid "$EHALL_PID" TERM
    EHALL_PID=""
    f=$(cat "$TMP/$name-watch.txt")
    say "[$db]   $f"
    ((rc == 0)) || { tail -n 5 "$TMP/$name-serve.log" >&2; die "[$db] batch $batch: the backlog did not drain correctly"; }
    R[$name,rate]=$(kv "$f" rate) R[$name,secs]=$(kv "$f" seconds) R[$name,busy]=$(kv "$f" busy_rate)
    R[$name,check]="$(kv "$f" done) done, $(kv "$f" effects) effects, $(kv "$f" ledger) back-end records, $(kv "$f" dead) dead"
    local day t0 t1
    day=$(TZ=Asia/Shanghai date +%F)
    t0=${EPOCHREALTIME/[.,]/}
    rc=0
    "$EHALL" "${dbargs[@]}" reconcile --date "$day" >"$TMP/$name-reconcile.txt" 2>&1 || rc=$?
    t1=${EPOCHREALTIME/[.,]/}
    R[$name,recon]=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", (b - a) / 1e6}')
    R[$name,recon_rc]=$rc
    say "[$db]   reconcile $day: exit $rc in ${R[$name,recon]} s: $(head -n 2 "$TMP/$name-reconcile.txt" | tail -n 1)"
}

RUN_DBS=()
for db in $DBS; do
    if [[ $db == postgres ]]; then
        PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ehall-bench-pg.XXXXXX")
        say "starting a throwaway PostgreSQL (scripts/pg-test-server.sh)"
        PGURL=$("$REPO/scripts/pg-test-server.sh" start "$PG_DIR" 2>"$TMP/pg-start.log") ||
            { cat "$TMP/pg-start.log" >&2; die "PostgreSQL did not start"; }
    fi
    for b in $BATCHES; do one_run "$db" "$b"; done
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
    echo "## ehall exchange benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $NCPU CPUs, ${cpu:-$(uname -m)}, Linux $(uname -r); load average $LOAD_BEFORE at start, $LOAD_AFTER at the end"
    echo "- $("$EHALL" version 2>/dev/null | head -n 1) (Release build, commit $commit); exchange.workers = $WORKERS threads in \`ehall serve\`"
    echo "- backlog: $N messages (test.echo → sim, one effect row each), queued before the server starts"
    echo
    echo "| store | exchange.batch | drained msg/s (wall, start-up included) | msg/s first→last completion | seconds | queued msg/s | reconcile s (exit) | check |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    for db in "${RUN_DBS[@]}"; do
        for b in $BATCHES; do
            n="$db-b$b"
            mark=""
            [[ $b == "$DEFAULT_BATCH" ]] && mark=" (default)"
            echo "| $db | $b$mark | **${R[$n,rate]}** | ${R[$n,busy]} | ${R[$n,secs]} | ${R[$n,enq]} | ${R[$n,recon]} (${R[$n,recon_rc]}) | ${R[$n,check]} |"
        done
    done
    echo
    echo "### Target"
    echo
    echo "| check | target | measured | result |"
    echo "|---|---|---:|---|"
    for db in "${RUN_DBS[@]}"; do
        for b in $BATCHES; do
            [[ $b == "$DEFAULT_BATCH" ]] || continue
            n="$db-b$b"
            res=PASS
            awk -v r="${R[$n,rate]}" -v t=$TARGET 'BEGIN {exit !(r >= t)}' || res="**FAIL**"
            echo "| $db: $N-message backlog drained, default batch | ≥ $TARGET msg/s | ${R[$n,rate]} msg/s | $res |"
        done
    done
} >"$REPORT"
MISSED=$(grep -c 'FAIL\*\* |$' "$REPORT" || true)
cat "$REPORT"
mkdir -p "$BUILD"
cp "$REPORT" "$BUILD/bench-exchange-latest.md"
echo
echo "results: $BUILD/bench-exchange-latest.md"
if ((MISSED > 0)); then
    echo "$MISSED check(s) missed the target."
    [[ $STRICT == 1 ]] && exit 1
fi
exit 0
