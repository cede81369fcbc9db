#!/usr/bin/env bash
# bench/cases.sh — the case engine's performance targets (issue 4), SQLite and PostgreSQL
# side by side in the same run:
#
#  1. Case submission ≥ 2,000/s on SQLite, p99 ≤ 50 ms.  The one-request apply,
#     POST /api/v1/cases {"item":"GA-HJ-0003","form":{…},"submit":true} (draft and
#     submission in one transaction: validate, store, enqueue the pre-check, audit,
#     committed before the 201), driven by bench/cases_load.c: BENCH_CASES_CONNS
#     keep-alive connections, each a thread, spread over BENCH_CASES_PERSONS applicants
#     logged in beforehand.  Each run is BENCH_CASES_WARMUP + BENCH_CASES_SECONDS, the
#     report gives the median over BENCH_CASES_ROUNDS runs.  Two settings:
#       - "alone": the exchange's in-process workers paused (exchange.workers = 0), so
#         the figure is the submission path itself; the pre-check messages stay queued;
#       - "with worker": the default 2 exchange workers drain the pre-checks through the
#         simulated back-end at the same time, sharing the CPUs and, on SQLite, the one
#         writer (the drain itself is bench/exchange.sh's target, not measured here).
#     After the runs the script checks that every acknowledged submission is in the
#     database (submitted cases ≥ 201s received) and that `ehall audit verify` passes.
#  2. "My cases" (GET /api/v1/cases) and the staff queues
#     (GET /api/v1/workbench/queue?name=to_sign, GET /api/v1/workbench/counts) p99 ≤ 5 ms
#     with BENCH_CASES_ROWS (10 million) cases in the database.  The data is generated
#     with SQL (SQLite: recursive CTEs; PostgreSQL: generate_series) into a database kept
#     under build-bench/cases-data/ between runs (regenerated when the row count, the
#     schema's case tables or this generator change).  Measured with 1 client and with
#     BENCH_CASES_LIST_CONNS clients.  EXPLAIN output goes to the report's log.
#
# PostgreSQL: a throwaway server from scripts/pg-test-server.sh for part 1; for part 2 a
# server whose data directory lives in build-bench/cases-data/postgres (started and
# stopped by this script, kept).  Everything listens on 127.0.0.1 only; the server runs
# in test mode (EHALL_TEST_MODE=1: captcha answers and SMS codes through the API) with
# the per-client limits lifted.  Prints a markdown report (also copied to
# build-bench/bench-cases-latest.md).
#
# Knobs (environment):
#   BENCH_CASES_PARTS="submit list"   which targets to measure
#   BENCH_CASES_DBS="sqlite postgres" stores to run on (postgres skipped if not installed)
#   BENCH_CASES_PERSONS=64            applicants registered and logged in (part 1)
#   BENCH_CASES_CONNS=32              concurrent submitting connections
#   BENCH_CASES_SECONDS=10            measured seconds of each submission run
#   BENCH_CASES_WARMUP=2              unmeasured seconds at the start of each run
#   BENCH_CASES_ROUNDS=3              runs of each setting; medians
#   BENCH_CASES_HTTP_THREADS=32       the server's http.threads (see docs/performance.md)
#   BENCH_CASES_ROWS=10000000         cases generated for part 2
#   BENCH_CASES_LIST_CONNS=8          concurrent clients of the part 2 "several" runs
#   BENCH_CASES_LIST_SECONDS=5        measured seconds of each part 2 run
#   BENCH_KEEP=1                      keep the temp dir (server logs, raw outputs)
#   BENCH_STRICT=1                    exit 1 when a target is missed (default: report only)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # die, say, stop_pid, free_port, wait_http, …

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$REPO/build-bench"
DATA="$BUILD/cases-data"
NCPU=$(nproc)
PARTS=${BENCH_CASES_PARTS:-submit list}
DBS=${BENCH_CASES_DBS:-sqlite postgres}
PERSONS=${BENCH_CASES_PERSONS:-64}
CONNS=${BENCH_CASES_CONNS:-32}
SECS=${BENCH_CASES_SECONDS:-10}
WARM=${BENCH_CASES_WARMUP:-2}
ROUNDS=${BENCH_CASES_ROUNDS:-3}
HTTP_THREADS=${BENCH_CASES_HTTP_THREADS:-32}
ROWS=${BENCH_CASES_ROWS:-10000000}
LCONNS=${BENCH_CASES_LIST_CONNS:-8}
LSECS=${BENCH_CASES_LIST_SECONDS:-5}
KEEP=${BENCH_KEEP:-0}
STRICT=${BENCH_STRICT:-0}
PASSWORD="Bench-2026-pass"
ITEM=GA-HJ-0003
BODY='{"item":"GA-HJ-0003","form":{"purpose":"former_name","copies":1},"submit":true}'
LIST_PERSONS=32 # applicants with sessions in the part 2 database

TARGET_RATE=2000 # submissions/s on SQLite
TARGET_P99=50    # ms
TARGET_LIST=5    # ms, p99 of the part 2 endpoints

for v in PERSONS CONNS SECS WARM ROUNDS HTTP_THREADS ROWS LCONNS LSECS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
done
((PERSONS >= 1 && CONNS >= 1 && SECS >= 1 && ROUNDS >= 1 && LCONNS >= 1 && LSECS >= 1)) || die "counts must be at least 1"
((ROWS >= 1000)) || die "BENCH_CASES_ROWS must be at least 1000"
((CONNS <= 512 && PERSONS <= 5000)) || die "at most 512 connections and 5000 persons"
((HTTP_THREADS >= 2 && HTTP_THREADS <= 256)) || die "BENCH_CASES_HTTP_THREADS: 2 to 256"
for db in $DBS; do [[ $db == sqlite || $db == postgres ]] || die "BENCH_CASES_DBS: unknown store '$db'"; done
for p in $PARTS; do [[ $p == submit || $p == list ]] || die "BENCH_CASES_PARTS: unknown part '$p'"; done
((BASH_VERSINFO[0] >= 5)) || die "needs bash 5 or later (for EPOCHREALTIME)"

missing=()
command -v curl >/dev/null || missing+=(curl)
command -v cmake >/dev/null || missing+=(cmake)
command -v cc >/dev/null || missing+=(gcc)
pkg-config --exists libcurl 2>/dev/null || missing+=(libcurl4-openssl-dev)
if ((${#missing[@]})); then
    echo "bench: missing: ${missing[*]}" >&2
    echo "bench: install them with:  sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [[ " $DBS " == *" postgres "* ]] && [[ ! -x $PGBIN/initdb ]]; then
    say "PostgreSQL server binaries not found: running on SQLite only (apt-get install postgresql)"
    DBS=${DBS//postgres/}
fi

note_load

# ---------- temp dir and cleanup ----------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ehall-bench-cases.XXXXXX")
EHALL_PID="" LOAD_PID="" PG_DIR="" KEPT_PG=""
AS_PG=()
[[ $(id -u) -eq 0 ]] && AS_PG=(runuser -u postgres --)

kept_pg_stop() {
    [[ -n $KEPT_PG ]] || return 0
    "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$KEPT_PG/data" -m fast -w stop >/dev/null 2>&1 || true
    KEPT_PG=""
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_pid "$LOAD_PID" TERM
    stop_pid "$EHALL_PID" TERM
    [[ -n $PG_DIR ]] && "$REPO/scripts/pg-test-server.sh" stop "$PG_DIR"
    kept_pg_stop
    if ((rc != 0)) || [[ $KEEP == 1 ]]; then
        say "temp dir kept: $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------- build ----------

say "building release ehall and bench/cases_load.c into $BUILD (log: $TMP/build.log)"
build_release
EHALL="$BUILD/ehall"
LOADGEN="$BUILD/cases_load"
[[ -x $EHALL && -f $BUILD/libehallcore.a ]] || die "$EHALL or libehallcore.a was not built"
# shellcheck disable=SC2046  # pkg-config's output is a list of flags
cc -std=c17 -O2 -Wall -Wextra -D_GNU_SOURCE -DLOADLIB_CURL -I"$REPO/src" \
    "$REPO/bench/cases_load.c" "$REPO/bench/loadlib.c" "$BUILD/libehallcore.a" \
    $(pkg-config --libs libcurl libmicrohttpd jansson sqlite3 libpq libcrypto zlib) -pthread -lm \
    -o "$LOADGEN" >>"$TMP/build.log" 2>&1 || { tail -n 20 "$TMP/build.log" >&2; die "building cases_load failed"; }

# ---------- the server ----------

unset EHALL_CONFIG EHALL_DATA EHALL_DB EHALL_LISTEN
export EHALL_TEST_MODE=1 # captcha answers and SMS codes through the API
export EHALL_SHUTDOWN_DELAY=0
export EHALL_HTTP_CLIENT_RATE=0 # one load generator on one address
export EHALL_HTTP_CLIENT_CONCURRENCY=100000
export EHALL_HTTP_MAX_CONNECTIONS=4096
export EHALL_HTTP_THREADS=$HTTP_THREADS
export EHALL_DB_POOL_SIZE=$((HTTP_THREADS + 8))
export EHALL_AUTH_PASSWORD_ITERATIONS=${EHALL_AUTH_PASSWORD_ITERATIONS:-1000} # set-up speed only
export EHALL_SESSION_IDLE_TIMEOUT=86400
export EHALL_SESSION_MAX_LIFETIME=604800
export EHALL_EXCHANGE_SIM_DIR="$REPO/items/testdata"

run_load() { # OUTFILE then cases_load arguments
    local out=$1 rc=0
    shift
    "$LOADGEN" "$@" >"$out" 2>"$out.err" &
    LOAD_PID=$!
    wait "$LOAD_PID" || rc=$?
    LOAD_PID=""
    if ((rc != 0 && rc != 3)); then cat "$out.err" >&2; die "cases_load $1 failed"; fi
    [[ ! -s $out.err ]] || sed 's/^/bench:   /' "$out.err" | head -n 5 >&2
}

# SQL against the store: sqlite (through cases_load) or psql.  db_sql DB URL-or-file SQL
db_sql() {
    local db=$1 where=$2 sql=$3
    if [[ $db == sqlite ]]; then
        printf '%s\n' "$sql" >"$TMP/q.sql"
        python3 - "$where" "$TMP/q.sql" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for row in c.execute(open(sys.argv[2]).read()):
    print("|".join("" if v is None else str(v) for v in row))
EOF
    else
        "$PGBIN/psql" -qAtX -v ON_ERROR_STOP=1 "$where" -c "$sql"
    fi
}

declare -A R

# ======================= part 1: submissions =======================

submit_part() { # DB
    local db=$1 args=() dbref setting round out f
    local dir="$TMP/$db-submit"
    if [[ $db == postgres ]]; then
        PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ehall-bench-pg.XXXXXX")
        say "[$db] starting a throwaway PostgreSQL (scripts/pg-test-server.sh)"
        dbref=$("$REPO/scripts/pg-test-server.sh" start "$PG_DIR" 2>"$TMP/pg-start.log") ||
            { cat "$TMP/pg-start.log" >&2; die "PostgreSQL did not start"; }
        args=(--db "$dbref")
    else
        dbref="$dir/ehall.db"
    fi
    for setting in alone worker; do
        if [[ $setting == alone ]]; then export EHALL_EXCHANGE_WORKERS=0; else export EHALL_EXCHANGE_WORKERS=2; fi
        start_ehall "$db-$setting" "$dir" "${args[@]}"
        if [[ $setting == alone ]]; then
            "$EHALL" --data "$dir" "${args[@]}" items import "$REPO/items" >"$TMP/$db-import.log" 2>&1 ||
                { cat "$TMP/$db-import.log" >&2; die "items import failed"; }
            say "[$db] registering and logging in $PERSONS applicants"
            run_load "$TMP/$db-persons.out" persons "$URL" "$PERSONS" "$PASSWORD" cb "$TMP/$db-persons.txt"
        fi
        local lines=""
        for ((round = 1; round <= ROUNDS; round++)); do
            out="$TMP/$db-$setting-$round.txt"
            say "[$db] $setting, round $round/$ROUNDS: $CONNS connections, ${WARM}+${SECS} s"
            local t0 c0 t1 c1
            t0=$(now_us) c0=$(proc_ticks "$EHALL_PID")
            run_load "$out" submit "$URL" "$TMP/$db-persons.txt" "$CONNS" "$WARM" "$SECS" "$BODY"
            t1=$(now_us) c1=$(proc_ticks "$EHALL_PID")
            f=$(cat "$out")
            local cpu
            cpu=$(calc %.0f "($c1 - $c0) * 100 / $HZ / (($t1 - $t0) / 1e6)")
            say "[$db]   $f ehall_cpu=$cpu%"
            lines+="$(kv "$f" rate) $(kv "$f" p50_ms) $(kv "$f" p99_ms) $(kv "$f" fail) $cpu $(kv "$f" acked_total)"$'\n'
            R[$db,$setting,acked]=$((${R[$db,$setting,acked]:-0} + $(kv "$f" acked_total)))
        done
        R[$db,$setting,rate]=$(awk 'NF {print $1}' <<<"$lines" | median)
        R[$db,$setting,p50]=$(awk 'NF {print $2}' <<<"$lines" | median)
        R[$db,$setting,p99]=$(awk 'NF {print $3}' <<<"$lines" | median)
        R[$db,$setting,fail]=$(awk 'NF {s += $4} END {print s + 0}' <<<"$lines")
        R[$db,$setting,cpu]=$(awk 'NF {print $5}' <<<"$lines" | median)
        R[$db,$setting,each]=$(awk 'NF {printf "%s%.0f", (n++ ? ", " : ""), $1}' <<<"$lines")
        stop_ehall
    done
    # nothing acknowledged is lost: every 201 is a stored, submitted case
    local acked=$((${R[$db,alone,acked]} + ${R[$db,worker,acked]})) stored
    stored=$(db_sql "$db" "$dbref" "SELECT COUNT(*) FROM ecase WHERE submitted_ms IS NOT NULL")
    R[$db,acked]=$acked R[$db,stored]=$stored
    if "$EHALL" --data "$dir" "${args[@]}" audit verify >"$TMP/$db-verify.log" 2>&1; then
        R[$db,verify]=ok
    else
        R[$db,verify]=FAILED
        sed 's/^/bench:   /' "$TMP/$db-verify.log" | tail -n 5 >&2
    fi
    # and every submission is in the chain (verify links PostgreSQL's pending records first)
    R[$db,audited]=$(db_sql "$db" "$dbref" "SELECT COUNT(*) FROM audit_log WHERE action = 'case.submit'")
    say "[$db] acknowledged $acked, stored $stored submitted cases, ${R[$db,audited]} case.submit audit records; audit verify: ${R[$db,verify]}"
    if [[ $db == postgres ]]; then
        "$REPO/scripts/pg-test-server.sh" stop "$PG_DIR"
        PG_DIR=""
    fi
}

# ======================= part 2: 10 million cases =======================

# The generator's identity: regenerate when the row count, the case tables' schema or the
# generator below change.
gen_stamp() {
    {
        echo "rows=$ROWS persons=$LIST_PERSONS"
        sed -n '/^#define CASES_SQL/,/^$/p' "$REPO/src/store/migrate.c"
        sed -n '/^gen_sql()/,/^}/p' "${BASH_SOURCE[0]}"
    } | sha256sum | cut -c1-16
}

kept_pg_start() { # DIR: start (initdb once) the kept PostgreSQL; sets PGURL
    local d=$1
    mkdir -p "$d"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$d"
    if [[ ! -d $d/data ]]; then
        "${AS_PG[@]}" "$PGBIN/initdb" -D "$d/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$TMP/initdb.log" 2>&1 ||
            { cat "$TMP/initdb.log" >&2; die "initdb failed"; }
    fi
    free_port
    "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 120 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $d -c fsync=on -c max_connections=300 -c shared_buffers=512MB -c max_wal_size=8GB" \
        start >/dev/null || { tail -n 20 "$d/server.log" >&2; die "PostgreSQL did not start"; }
    KEPT_PG=$d
    PGURL="postgres://postgres@127.0.0.1:$PORT/postgres"
}

# The generating SQL for DB.  Distribution (i = 1 … ROWS, newest last):
#   items: the 12 shipped items in turn, each case in its item's first-step department
#     and role (5 of the 12 are PSB-YZ-HJ's, hj_clerk);
#   applicants: ROWS / 20 applicants with 20 cases each; the first LIST_PERSONS of them
#     are the bench's real, logged-in persons, the rest ids with no account;
#   states: 99.7 % final (88 % closed, 4 % refused, 3 % withdrawn, 4.7 % not accepted), then
#     0.1 % each submitted and waiting to be signed for, in review with a clerk, and waiting
#     for a supplement (30 000 live cases in 10 million);
#   staff: 20 clerks per department, the bench's clerk one of PSB-YZ-HJ's; each final case
#     has a decision logged by its clerk (and is in that clerk's case_done), every case a
#     submission logged by its applicant;
#   state and clerk come from multiplicative hashes of i, independent of the item.
gen_sql() { # DB STAFF_ID
    local db=$1 staff=$2 seq no tail=""
    if [[ $db == sqlite ]]; then
        seq="WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $ROWS) SELECT i FROM s"
        no="printf('EH20260101%010d', g.i)"
    else
        seq="SELECT i FROM generate_series(1::bigint, $ROWS::bigint) AS g(i)"
        no="'EH20260101' || lpad(g.i::text, 10, '0')"
        tail="SELECT setval(pg_get_serial_sequence('ecase', 'id'), $ROWS);"
    fi
    cat <<EOF
CREATE TEMP TABLE gen_item (k INTEGER PRIMARY KEY, code TEXT, dept TEXT, path TEXT, role TEXT);
INSERT INTO gen_item (k, code, dept, role) VALUES
 (0,'GA-CRJ-0001','PSB-YZ-CRJ','crj_clerk'), (1,'GA-HJ-0001','PSB-YZ-HJ','hj_clerk'),
 (2,'GA-HJ-0002','PSB-YZ-HJ','hj_clerk'), (3,'GA-HJ-0003','PSB-YZ-HJ','hj_clerk'),
 (4,'GA-QZ-0001','PSB-YZ-ZA','za_clerk'), (5,'GA-SFZ-0001','PSB-YZ-HJ','hj_clerk'),
 (6,'GA-WFZ-0001','PSB-YZ-HJ','hj_clerk'), (7,'SW-DJ-0001','TAX-YZ-DJ','tax_clerk'),
 (8,'SW-FP-0001','TAX-YZ-FP','tax_clerk'), (9,'SW-TS-0001','TAX-YZ-TS','tax_clerk'),
 (10,'SW-ZM-0001','TAX-YZ-DJ','tax_clerk'), (11,'YB-CB-0001','YB-YZ','yb_clerk');
UPDATE gen_item SET path = (SELECT path FROM department WHERE department.code = gen_item.dept);
CREATE TEMP TABLE gen_person (k INTEGER PRIMARY KEY, id BIGINT);
INSERT INTO gen_person (k, id) SELECT ROW_NUMBER() OVER (ORDER BY id) - 1, id FROM account WHERE login LIKE 'lp%';
CREATE TEMP TABLE gen_case AS
SELECT i, i % 12 AS k, (i * 2654435761 % 4294967291) % 1000 AS r, (i * 2246822519 % 4294967279) % 20 AS clerk,
       i % ($ROWS / 20) AS a,
       1700000000000 + i * 5000 AS t
  FROM ($seq) AS s;
INSERT INTO ecase (id, case_no, item_code, item_version, applicant, enterprise, agent, state, prev_state, step,
  dept_code, dept_path, step_role, assignee, precheck, form, materials, digest, created_ms, updated_ms,
  submitted_ms, closed_ms, accepted_day, due_day, step_day, step_due, nlog)
SELECT g.i, $no, it.code, 1,
  COALESCE(p.id, 100000000 + g.a), 0, 0,
  CASE WHEN g.r < 880 THEN 'closed' WHEN g.r < 920 THEN 'refused' WHEN g.r < 950 THEN 'withdrawn'
       WHEN g.r < 997 THEN 'not_accepted' WHEN g.r = 997 THEN 'submitted' WHEN g.r = 998 THEN 'in_review'
       ELSE 'supplement' END,
  CASE WHEN g.r < 997 THEN 'in_review' WHEN g.r = 997 THEN 'draft' ELSE 'submitted' END,
  0, it.dept, it.path, it.role,
  CASE WHEN g.r <= 997 THEN 0
       WHEN g.clerk = 0 AND it.dept = 'PSB-YZ-HJ' THEN $staff ELSE 200000000 + g.clerk END,
  'passed', '{"purpose":"former_name","copies":1}', '{}', 'bench',
  g.t, g.t + 60000, g.t + 1000, CASE WHEN g.r < 997 THEN g.t + 86400000 END,
  g.t / 86400000, g.t / 86400000 + 20, g.t / 86400000,
  CASE WHEN g.r < 997 THEN g.t / 86400000 + 5 ELSE 99999 END,
  CASE WHEN g.r < 997 THEN 2 ELSE 1 END
FROM gen_case g JOIN gen_item it ON it.k = g.k LEFT JOIN gen_person p ON p.k = g.a;
INSERT INTO case_log (case_id, seq, at, at_ms, actor, actor_login, step, step_name, action, from_state, to_state,
  to_step, assignee)
SELECT g.i, 1, '2026-01-01T00:00:00+08:00', g.t + 1000, COALESCE(p.id, 100000000 + g.a), 'applicant', 0, 'accept',
  'submit', 'draft', 'submitted', 0, 0
FROM gen_case g LEFT JOIN gen_person p ON p.k = g.a;
INSERT INTO case_log (case_id, seq, at, at_ms, actor, actor_login, step, step_name, action, from_state, to_state,
  to_step, assignee)
SELECT g.i, 2, '2026-01-02T00:00:00+08:00', g.t + 86400000,
  CASE WHEN g.clerk = 0 AND it.dept = 'PSB-YZ-HJ' THEN $staff ELSE 200000000 + g.clerk END, 'clerk', 0, 'accept',
  CASE WHEN g.r < 880 THEN 'close' WHEN g.r < 920 THEN 'refuse' WHEN g.r < 950 THEN 'withdraw' ELSE 'not_accept' END,
  'in_review',
  CASE WHEN g.r < 880 THEN 'closed' WHEN g.r < 920 THEN 'refused' WHEN g.r < 950 THEN 'withdrawn'
       ELSE 'not_accepted' END,
  0, 0
FROM gen_case g JOIN gen_item it ON it.k = g.k WHERE g.r < 997;
INSERT INTO case_done (actor, case_id)
SELECT CASE WHEN g.clerk = 0 AND it.dept = 'PSB-YZ-HJ' THEN $staff ELSE 200000000 + g.clerk END, g.i
FROM gen_case g JOIN gen_item it ON it.k = g.k WHERE g.r < 997;
DROP TABLE gen_case;
$tail
EOF
}

list_prepare() { # DB: make (or reuse) the part 2 database; sets LDIR, LARGS, LDBREF
    local db=$1 stamp
    stamp=$(gen_stamp)
    LDIR="$DATA/$db"
    LARGS=()
    if [[ -f $LDIR/ready && $(cat "$LDIR/ready") == "$stamp" ]]; then
        say "[$db] reusing the generated database in $LDIR"
        if [[ $db == postgres ]]; then
            kept_pg_start "$LDIR/pg"
            LARGS=(--db "$PGURL")
            LDBREF=$PGURL
        else
            LDBREF="$LDIR/ehall/ehall.db"
        fi
        R[$db,gen]=$(cat "$LDIR/gen-seconds")
        R[$db,gen_note]="(generated earlier; reused)"
        return 0
    fi
    say "[$db] generating $ROWS cases into $LDIR (this takes a while)"
    if [[ -d $LDIR/pg/data ]]; then rm -rf "$LDIR/pg"; fi
    rm -rf "$LDIR"
    mkdir -p "$LDIR"
    if [[ $db == postgres ]]; then
        kept_pg_start "$LDIR/pg"
        LARGS=(--db "$PGURL")
        LDBREF=$PGURL
    else
        LDBREF="$LDIR/ehall/ehall.db"
    fi
    export EHALL_EXCHANGE_WORKERS=0
    start_ehall "$db-list-setup" "$LDIR/ehall" "${LARGS[@]}"
    "$EHALL" --data "$LDIR/ehall" "${LARGS[@]}" items import "$REPO/items" >"$TMP/$db-limport.log" 2>&1 ||
        { cat "$TMP/$db-limport.log" >&2; die "items import failed"; }
    "$EHALL" --data "$LDIR/ehall" "${LARGS[@]}" admin bootstrap >"$LDIR/bootstrap.txt" 2>&1 || die "admin bootstrap failed"
    run_load "$TMP/$db-staff.out" staff "$URL" "$LDIR/bootstrap.txt" PSB-YZ-HJ hj_clerk clerk01 "$PASSWORD" "$LDIR/staff.txt"
    run_load "$TMP/$db-lpersons.out" persons "$URL" "$LIST_PERSONS" "$PASSWORD" lp "$LDIR/persons.txt"
    stop_ehall
    local staff_id
    staff_id=$(awk '{print $2; exit}' "$LDIR/staff.txt")
    gen_sql "$db" "$staff_id" >"$LDIR/gen.sql"
    local t0 t1
    t0=$(now_us)
    if [[ $db == sqlite ]]; then
        # no journal while generating (a throwaway database: a crash means generating again)
        { echo "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-1000000; BEGIN;"
          cat "$LDIR/gen.sql"; echo "COMMIT; ANALYZE; PRAGMA journal_mode=WAL;"; } >"$TMP/gen-sqlite.sql"
        run_load "$TMP/$db-gen.out" sqlite "$LDBREF" "$TMP/gen-sqlite.sql"
    else
        { echo "SET work_mem = '256MB'; SET maintenance_work_mem = '1GB'; BEGIN;"
          cat "$LDIR/gen.sql"; echo "COMMIT;"; } >"$TMP/gen-pg.sql"
        "$PGBIN/psql" -qX -v ON_ERROR_STOP=1 "$LDBREF" -f "$TMP/gen-pg.sql" >"$TMP/gen-pg.log" 2>&1 ||
            { tail -n 20 "$TMP/gen-pg.log" >&2; die "generating the PostgreSQL data failed"; }
        "$PGBIN/psql" -qX "$LDBREF" -c "VACUUM (ANALYZE) ecase" -c "VACUUM (ANALYZE) case_log" \
            -c "VACUUM (ANALYZE) case_done" >/dev/null
    fi
    t1=$(now_us)
    R[$db,gen]=$(calc %.0f "($t1 - $t0) / 1e6")
    R[$db,gen_note]=""
    echo "${R[$db,gen]}" >"$LDIR/gen-seconds"
    echo "$stamp" >"$LDIR/ready"
    say "[$db]   generated in ${R[$db,gen]} s"
}

LIST_NAMES=(mine to_sign counts)
list_part() { # DB
    local db=$1
    list_prepare "$db"
    export EHALL_EXCHANGE_WORKERS=0
    start_ehall "$db-list" "$LDIR/ehall" "${LARGS[@]}"
    R[$db,rows]=$(db_sql "$db" "$LDBREF" "SELECT COUNT(*) FROM ecase")
    local st
    st=$(curl -s -o /dev/null -w '%{http_code}' --cookie "ehall_session=$(awk '{print $3; exit}' "$LDIR/staff.txt")" "$URL/api/v1/workbench/counts")
    [[ $st == 200 ]] || die "[$db] the kept staff session no longer works (HTTP $st): remove $LDIR to regenerate"
    # plans, for the report's log
    {
        echo "== $db"
        local ex="EXPLAIN QUERY PLAN"
        [[ $db == postgres ]] && ex="EXPLAIN"
        local pid sid
        pid=$(awk '{print $2; exit}' "$LDIR/persons.txt") sid=$(awk '{print $2; exit}' "$LDIR/staff.txt")
        db_sql "$db" "$LDBREF" "$ex SELECT id FROM ecase WHERE applicant = $pid AND id < 4611686018427387904 ORDER BY id DESC LIMIT 20"
        db_sql "$db" "$LDBREF" "$ex SELECT id FROM ecase WHERE assignee = 0 AND state IN ('submitted','in_review') AND dept_path = (SELECT path FROM department WHERE code = 'PSB-YZ-HJ') AND step_role IN ('hj_clerk') ORDER BY id DESC LIMIT 20"
        db_sql "$db" "$LDBREF" "$ex SELECT COUNT(*) FROM (SELECT 1 FROM case_done WHERE actor = $sid LIMIT 1000) d"
    } >>"$TMP/plans.txt" 2>&1 || true
    local name path sess conns out f
    for name in "${LIST_NAMES[@]}"; do
        case $name in
            mine) path="/api/v1/cases" sess="$LDIR/persons.txt" ;;
            to_sign) path="/api/v1/workbench/queue?name=to_sign" sess="$LDIR/staff.txt" ;;
            counts) path="/api/v1/workbench/counts" sess="$LDIR/staff.txt" ;;
        esac
        for conns in 1 "$LCONNS"; do
            out="$TMP/$db-list-$name-$conns.txt"
            say "[$db] GET $path, $conns client(s), 1+$LSECS s"
            run_load "$out" get "$URL" "$sess" "$conns" 1 "$LSECS" "$path"
            f=$(cat "$out")
            say "[$db]   $f"
            R[$db,$name,$conns,rate]=$(kv "$f" rate) R[$db,$name,$conns,p50]=$(kv "$f" p50_ms)
            R[$db,$name,$conns,p99]=$(kv "$f" p99_ms) R[$db,$name,$conns,fail]=$(kv "$f" fail)
            if [[ $(kv "$f" ok) == 0 ]]; then # not one answer inside the window: slower than it
                R[$db,$name,$conns,p50]="> $LSECS s" R[$db,$name,$conns,p99]="> $LSECS s"
                R[$db,$name,$conns,fail]="all"
            fi
        done
    done
    stop_ehall
    [[ $db == postgres ]] && kept_pg_stop
    return 0
}

# ---------- run ----------

START=$(date -u +'%Y-%m-%d %H:%M UTC')
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
for part in $PARTS; do
    for db in $DBS; do
        if [[ $part == submit ]]; then submit_part "$db"; else list_part "$db"; fi
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------- report ----------

report() {
    echo "## Case engine benchmark ($START, commit $COMMIT)"
    echo
    echo "Machine: $NCPU CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), load average $LOAD_BEFORE at the start, $LOAD_AFTER at the end."
    echo
    local db fail_any=0
    if [[ " $PARTS " == *" submit "* ]]; then
        echo "**Submissions** — POST /api/v1/cases {\"item\":\"$ITEM\",…,\"submit\":true}, $CONNS connections over $PERSONS applicants,"
        echo "http.threads $HTTP_THREADS, ${WARM}+${SECS} s per run, $ROUNDS runs; medians."
        echo
        echo "| store | exchange workers | submissions/s | each run | p50 ms | p99 ms | failures | ehall CPU |"
        echo "|---|---|---:|---|---:|---:|---:|---:|"
        for db in $DBS; do
            for s in alone worker; do
                [[ -n ${R[$db,$s,rate]:-} ]] || continue
                echo "| $db | $([[ $s == alone ]] && echo "paused" || echo "2, draining") | ${R[$db,$s,rate]} | ${R[$db,$s,each]} | ${R[$db,$s,p50]} | ${R[$db,$s,p99]} | ${R[$db,$s,fail]} | ${R[$db,$s,cpu]} % |"
            done
        done
        echo
        echo "| store | 201s received | submitted cases stored | their audit records | audit verify |"
        echo "|---|---:|---:|---:|---|"
        for db in $DBS; do
            [[ -n ${R[$db,acked]:-} ]] && echo "| $db | ${R[$db,acked]} | ${R[$db,stored]} | ${R[$db,audited]} | ${R[$db,verify]} |"
        done
        echo
    fi
    if [[ " $PARTS " == *" list "* ]]; then
        echo "**Lists with $ROWS cases** — 1 client and $LCONNS clients, 1+$LSECS s each."
        echo
        echo "| store | generation | request | clients | req/s | p50 ms | p99 ms | failures |"
        echo "|---|---|---|---:|---:|---:|---:|---:|"
        local name conns path
        for db in $DBS; do
            [[ -n ${R[$db,gen]:-} ]] || continue
            for name in "${LIST_NAMES[@]}"; do
                case $name in
                    mine) path="GET /api/v1/cases" ;;
                    to_sign) path="GET /api/v1/workbench/queue?name=to_sign" ;;
                    counts) path="GET /api/v1/workbench/counts" ;;
                esac
                for conns in 1 "$LCONNS"; do
                    echo "| $db | ${R[$db,gen]} s ${R[$db,gen_note]} | $path | $conns | ${R[$db,$name,$conns,rate]} | ${R[$db,$name,$conns,p50]} | ${R[$db,$name,$conns,p99]} | ${R[$db,$name,$conns,fail]} |"
                done
            done
        done
        echo
    fi
    echo "**Targets**"
    echo
    echo "| check | target | measured | result |"
    echo "|---|---|---:|---|"
    local r
    for db in $DBS; do
        if [[ -n ${R[$db,alone,rate]:-} ]]; then
            if [[ $db == sqlite ]]; then
                r=$(pf "${R[$db,alone,rate]} >= $TARGET_RATE")
                [[ $r == PASS ]] || fail_any=1
                echo "| $db: submissions/s (workers paused) | ≥ $TARGET_RATE | ${R[$db,alone,rate]} | $r |"
            else
                echo "| $db: submissions/s (workers paused) | (none) | ${R[$db,alone,rate]} | — |"
            fi
            r=$(pf "${R[$db,alone,p99]} <= $TARGET_P99")
            [[ $r == PASS ]] || fail_any=1
            echo "| $db: submission p99 | ≤ $TARGET_P99 ms | ${R[$db,alone,p99]} ms | $r |"
            r=$(pf "${R[$db,stored]} >= ${R[$db,acked]}")
            [[ $r == PASS && ${R[$db,verify]} == ok && ${R[$db,audited]} == "${R[$db,stored]}" ]] || { r="**FAIL**"; fail_any=1; }
            echo "| $db: every 201 stored and in the audit chain, which verifies | all | ${R[$db,stored]} of ${R[$db,acked]}, ${R[$db,audited]} audited, ${R[$db,verify]} | $r |"
        fi
        if [[ -n ${R[$db,gen]:-} ]]; then
            local name conns
            for name in "${LIST_NAMES[@]}"; do
                for conns in 1 "$LCONNS"; do
                    if [[ ${R[$db,$name,$conns,fail]} == all ]]; then
                        r="**FAIL**"
                    else
                        r=$(pf "${R[$db,$name,$conns,p99]} <= $TARGET_LIST && ${R[$db,$name,$conns,fail]} == 0")
                    fi
                    [[ $r == PASS ]] || fail_any=1
                    local m="${R[$db,$name,$conns,p99]} ms"
                    [[ ${R[$db,$name,$conns,fail]} == all ]] && m="no answer in $LSECS s"
                    echo "| $db: $name p99, $conns client(s) | ≤ $TARGET_LIST ms | $m | $r |"
                done
            done
        fi
    done
    echo
    if [[ -s $TMP/plans.txt ]]; then
        echo "Query plans:"
        echo
        echo '```'
        cat "$TMP/plans.txt"
        echo '```'
    fi
    return $fail_any
}

mkdir -p "$BUILD"
rc=0
report >"$TMP/report.md" || rc=$?
cp "$TMP/report.md" "$BUILD/bench-cases-latest.md"
cat "$TMP/report.md"
if [[ $STRICT == 1 && $rc != 0 ]]; then exit 1; fi
exit 0
