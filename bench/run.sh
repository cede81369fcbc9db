#!/usr/bin/env bash
# bench/run.sh — load-test `ehall serve` against nginx on the same machine.
#
# Builds a release ehall into build-bench/, starts it and nginx on free loopback
# ports (127.0.0.1 only) with throwaway state in a mktemp dir, measures
#   * time to ready of `ehall serve` on an existing database (worst of N restarts),
#   * idle RSS after a warm-up (and again after the load test),
#   * req/s, p50 and p99 latency with wrk for /healthz and a static file,
#     for ehall and for nginx serving the very same web/dist directory (the built UI),
# and prints a markdown report (also copied to build-bench/bench-latest.md).
#
# Knobs (environment):
#   BENCH_SECONDS=10        length of each measured wrk run
#   BENCH_CONNECTIONS=256   wrk connections (the p99 target is defined at 256)
#   BENCH_THREADS=2         wrk threads
#   BENCH_WARMUP=2          seconds of unmeasured load before each run (0 = none)
#   BENCH_ROUNDS=3          rounds of the four runs; the report gives the median of each figure
#   BENCH_READY_RUNS=5      restarts timed for time-to-ready
#   BENCH_NGINX_WORKERS=N   nginx worker_processes (default: nproc, like ehall's threads)
#   BENCH_KEEP=1            keep the temp dir (logs, raw wrk output) after a successful run
#   BENCH_STRICT=1          exit 1 when a target is missed (default: report only)
#   NGINX=/path/to/nginx    nginx binary (default /usr/sbin/nginx, else nginx on PATH)
#   EHALL_*                 passed through to ehall (e.g. EHALL_HTTP_THREADS=4), except the
#                           ones this script pins: data/db/listen/web_root/config,
#                           shutdown_delay=0 and the per-client limits, lifted for the load test.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # die, say, stop_pid, free_port, wait_http, …

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$REPO/build-bench"
WEB="$REPO/web/dist"   # the built browser UI (make build / npm run build)
RUN_SECONDS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-256}
WRK_THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2}
ROUNDS=${BENCH_ROUNDS:-3}
READY_RUNS=${BENCH_READY_RUNS:-5}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-$(nproc)}
KEEP=${BENCH_KEEP:-0}
STRICT=${BENCH_STRICT:-0}

# Targets.
TARGET_RATIO=0.50    # ehall req/s ÷ nginx req/s, at least
TARGET_P99_MS=10     # ehall p99 at 256 connections, at most
TARGET_READY_MS=200  # time to ready, below
TARGET_RSS_MB=50     # idle RSS, below (MiB)

for v in RUN_SECONDS CONNS WRK_THREADS WARMUP ROUNDS READY_RUNS NGINX_WORKERS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
done
((RUN_SECONDS >= 1 && CONNS >= 1 && WRK_THREADS >= 1 && ROUNDS >= 1 && READY_RUNS >= 1 && NGINX_WORKERS >= 1)) ||
    die "BENCH_SECONDS, BENCH_CONNECTIONS, BENCH_THREADS, BENCH_ROUNDS, BENCH_READY_RUNS and BENCH_NGINX_WORKERS must be at least 1"
((CONNS >= WRK_THREADS)) || die "BENCH_CONNECTIONS must be at least BENCH_THREADS"
((BASH_VERSINFO[0] >= 5)) || die "needs bash 5 or later (for EPOCHREALTIME)"

# ---------- tools ----------

if [[ -n ${NGINX:-} ]]; then
    [[ -x $NGINX ]] || die "NGINX=$NGINX is not an executable"
elif [[ -x /usr/sbin/nginx ]]; then
    NGINX=/usr/sbin/nginx
else
    NGINX=$(command -v nginx || true)
fi
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[[ -n $NGINX ]] || missing+=(nginx-light)
command -v curl >/dev/null || missing+=(curl)
command -v cmake >/dev/null || missing+=(cmake)
if ((${#missing[@]})); then
    echo "bench: missing: ${missing[*]}" >&2
    echo "bench: install them with:  sudo apt-get install ${missing[*]}" >&2
    echo "bench: (wrk and nginx-light are Debian/Ubuntu packages; elsewhere use your package manager)" >&2
    exit 1
fi
[[ -f $WEB/index.html ]] || (cd "$REPO" && npm run build >/dev/null) || die "$WEB/index.html is needed: npm run build"
# one built script, for the byte-for-byte check below
ASSET=/$(cd "$WEB" && ls assets/*.js | head -1)

# Load average before this script adds any: the runs assume otherwise idle CPUs.
note_load

# ---------- temp dir and cleanup ----------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ehall-bench.XXXXXX")
EHALL_PID="" NGINX_PID="" WRK_PID=""

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_pid "$WRK_PID" INT 5
    stop_pid "$EHALL_PID" TERM 5
    stop_pid "$NGINX_PID" TERM 5 # fast shutdown; the master stops its workers
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

# Raise the descriptor limit for wrk and both servers, as far as the hard limit allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < CONNS * 2 + 64)); then
    say "warning: open-file limit $(ulimit -n) is low for $CONNS connections"
fi

# ---------- helpers ----------

wait_or_die() { # URL PID NAME LOG
    local rc=0
    wait_http "$1" "$2" 10 0 || rc=$? # 10 s, polled in a tight loop
    ((rc == 0)) && return 0
    tail -n 20 "$4" >&2 || true
    ((rc == 1)) && die "$3 exited before answering $1"
    die "$3 did not answer $1 within 10 s"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# ---------- build ----------

say "building release ehall into $BUILD (log: $TMP/build.log)"
build_release
EHALL="$BUILD/ehall"
[[ -x $EHALL ]] || die "$EHALL was not built"

# ---------- ehall ----------

unset EHALL_CONFIG EHALL_DATA EHALL_DB EHALL_LISTEN
export EHALL_SHUTDOWN_DELAY=0                # restarts for time-to-ready must not linger
export EHALL_WEB_ROOT="$WEB"
export EHALL_HTTP_CLIENT_RATE=0              # no per-client rate limit (one client: wrk)
export EHALL_HTTP_CLIENT_CONCURRENCY=100000  # ditto for in-flight requests
mc=$((CONNS * 4 > 4096 ? CONNS * 4 : 4096))
export EHALL_HTTP_MAX_CONNECTIONS=$mc
EHALL_LOG="$TMP/ehall-access.log" # stderr: startup lines and one JSON access line per request

spawn_ehall() { # start ehall on $EHALL_PORT (not waiting for it: see wait_http)
    "$EHALL" --data "$TMP/data" serve --listen "127.0.0.1:$EHALL_PORT" >>"$EHALL_LOG" 2>&1 &
    EHALL_PID=$!
}

for attempt in 1 2 3; do
    free_port
    EHALL_PORT=$PORT
    EHALL_URL="http://127.0.0.1:$EHALL_PORT"
    say "starting ehall on $EHALL_URL (data $TMP/data)"
    spawn_ehall
    rc=0
    wait_http "$EHALL_URL/healthz" "$EHALL_PID" 10 0 || rc=$?
    ((rc == 0)) && break
    tail -n 5 "$EHALL_LOG" >&2
    ((rc == 1 && attempt < 3)) || die "ehall did not start"
    wait "$EHALL_PID" 2>/dev/null || true
    EHALL_PID=""
    say "retrying on another port"
done

# Time to ready on the existing database: stop, start, poll /healthz in a tight loop.
ready_ms=()
for ((i = 0; i < READY_RUNS; i++)); do
    stop_pid "$EHALL_PID" TERM 5
    EHALL_PID=""
    t0=$(now_us)
    spawn_ehall
    wait_or_die "$EHALL_URL/healthz" "$EHALL_PID" ehall "$EHALL_LOG"
    t1=$(now_us)
    ready_ms+=("$(awk -v d=$((t1 - t0)) 'BEGIN {printf "%.1f", d / 1000}')")
done
ready_sorted=$(printf '%s\n' "${ready_ms[@]}" | sort -g)
ready_median=$(median <<<"$ready_sorted")
ready_worst=$(echo "$ready_sorted" | tail -n 1)
sleep 0.3 # ehall batches its log lines (at most 100 ms)
# ehall's own figure for the same restarts: fork to "store … ready" as logged by `ehall serve`
store_ms=$(grep -o '"store [a-z]* ready in [0-9.]* ms"' "$EHALL_LOG" | tail -n "$READY_RUNS" |
    awk '{v[NR] = $5} END {for (i = 2; i <= NR; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) {t = v[j]; v[j] = v[j - 1]; v[j - 1] = t}
         if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; else print "?"}')
say "time to ready: ${ready_ms[*]} ms (median $ready_median, worst $ready_worst)"

# ---------- nginx ----------

ND="$TMP/nginx"
mkdir -p "$ND/tmp"
user_line=""
if (($(id -u) == 0)); then
    # As root the master would drop its workers to `nobody`; run them as the same
    # user as ehall so both servers read web/ with the same rights.
    user_line="user $(id -un) $(id -gn);"
fi
temp_paths="client_body_temp_path $ND/tmp/body; proxy_temp_path $ND/tmp/proxy;"
nv=$("$NGINX" -V 2>&1)
for m in fastcgi uwsgi scgi; do
    [[ $nv == *"--without-http_${m}_module"* ]] || temp_paths+=" ${m}_temp_path $ND/tmp/$m;"
done
# The same response headers ehall sends, so both servers do comparable work per request.
cat >"$ND/headers.conf" <<'EOF'
add_header X-Request-Id $request_id;
add_header X-Content-Type-Options nosniff;
add_header Referrer-Policy no-referrer;
add_header X-Frame-Options DENY;
add_header Content-Security-Policy "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
EOF
write_nginx_conf() {
cat >"$ND/nginx.conf" <<EOF
# generated by bench/run.sh
daemon off;
master_process on;
worker_processes $NGINX_WORKERS;
worker_rlimit_nofile $(ulimit -n);
pid $ND/nginx.pid;
error_log $ND/error.log warn;
$user_line
events {
    worker_connections $((mc > 4096 ? mc : 4096));
}
http {
    $temp_paths
    types {
        text/html html;
        text/css css;
        text/javascript js;
        application/json json;
    }
    default_type application/octet-stream;
    charset utf-8;
    charset_types text/css text/javascript application/json;
    sendfile on;
    server_tokens off;
    keepalive_timeout 65;
    keepalive_requests 1000000; # ehall (libmicrohttpd) puts no cap on requests per connection
    # One JSON line per request, written in batches (64 KiB or 100 ms) as ehall writes its log.
    log_format ehall_like escape=json
        '{"time":"\$time_iso8601","level":"info","msg":"access","request_id":"\$request_id",'
        '"client":"\$remote_addr","method":"\$request_method","path":"\$uri",'
        '"status":\$status,"bytes":\$body_bytes_sent,"duration_ms":\$request_time}';
    access_log $TMP/nginx-access.log ehall_like buffer=64k flush=100ms;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WEB;
        location = /healthz {
            default_type application/json;
            include $ND/headers.conf;
            add_header Cache-Control no-store;
            return 200 '{"status":"ok"}';
        }
        location / {
            include $ND/headers.conf;
            add_header Cache-Control no-cache;
            add_header Vary Accept-Encoding;
        }
    }
}
EOF
}
nginx_args=(-p "$ND" -c "$ND/nginx.conf")
[[ $("$NGINX" -h 2>&1) == *"-e filename"* ]] && nginx_args+=(-e "$ND/error.log")
for attempt in 1 2 3; do
    free_port
    NGINX_PORT=$PORT
    NGINX_URL="http://127.0.0.1:$NGINX_PORT"
    write_nginx_conf
    "$NGINX" "${nginx_args[@]}" -t >"$ND/test.log" 2>&1 || { cat "$ND/test.log" >&2; die "nginx rejects $ND/nginx.conf"; }
    say "starting nginx ($NGINX, $NGINX_WORKERS workers) on $NGINX_URL"
    "$NGINX" "${nginx_args[@]}" >>"$ND/stdout.log" 2>&1 &
    NGINX_PID=$!
    rc=0
    wait_http "$NGINX_URL/healthz" "$NGINX_PID" 10 0 || rc=$?
    ((rc == 0)) && break
    tail -n 5 "$ND/error.log" >&2
    ((rc == 1 && attempt < 3)) || die "nginx did not start"
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
    say "retrying on another port"
done

# Both must serve the very same bytes.
for p in /index.html "$ASSET"; do
    if ! curl -fsS -o "$TMP/e.body" "$EHALL_URL$p" || ! curl -fsS -o "$TMP/n.body" "$NGINX_URL$p"; then
        die "cannot fetch $p"
    fi
    cmp -s "$TMP/e.body" "$TMP/n.body" || die "ehall and nginx serve different bytes for $p"
    cmp -s "$TMP/e.body" "$WEB$p" || die "ehall does not serve $WEB$p for $p"
done
[[ $(curl -fsS "$EHALL_URL/healthz") == "$(curl -fsS "$NGINX_URL/healthz")" ]] ||
    die "the two /healthz bodies differ"

# ---------- load ----------

RAW="$TMP/wrk-raw.txt"
: >"$RAW"
run_wrk() { # SECONDS URL OUTFILE
    wrk -t "$WRK_THREADS" -c "$CONNS" -d "${1}s" --latency "$2" >"$3" 2>&1 &
    WRK_PID=$!
    local rc=0
    wait "$WRK_PID" || rc=$?
    WRK_PID=""
    ((rc == 0)) || { cat "$3" >&2; die "wrk failed against $2"; }
}

# Warm up ehall at full concurrency, let it go idle, then read its RSS.
if ((WARMUP > 0)); then
    run_wrk "$WARMUP" "$EHALL_URL/healthz" "$TMP/warm.txt"
    run_wrk "$WARMUP" "$EHALL_URL/index.html" "$TMP/warm.txt"
else
    for ((i = 0; i < 100; i++)); do curl -fs -o /dev/null "$EHALL_URL/healthz" "$EHALL_URL/index.html"; done
fi
sleep 2
rss_warm=$(rss_kb "$EHALL_PID")
say "ehall idle RSS after warm-up: $(mib "$rss_warm") MiB"

# Median of each column over the rounds, plus totals and the req/s range:
# "rps p50 p99 non2xx socket_errors min_rps max_rps"
summarize() {
    printf '%s' "$1" | awk '
        function med(x, n,   i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j - 1] > x[j]; j--) { t = x[j]; x[j] = x[j - 1]; x[j - 1] = t }
            return (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
        }
        NF { n++; r[n] = $1; a[n] = $2; b[n] = $3; bad += $4; err += $5 }
        END {
            m = med(r, n); printf "%.0f %.3f %.3f %d %d ", m, med(a, n), med(b, n), bad, err
            printf "%.0f %.0f\n", r[1], r[n] # r[] is sorted now
        }'
}

declare -A RES
TARGETS=(/healthz /index.html)
for ((round = 1; round <= ROUNDS; round++)); do
    # Alternate which server goes first, so neither always runs on a "fresher" machine.
    order=(ehall nginx)
    ((round % 2)) || order=(nginx ehall)
    for t in "${TARGETS[@]}"; do
        for s in "${order[@]}"; do
            [[ $s == ehall ]] && url="$EHALL_URL$t" || url="$NGINX_URL$t"
            ((WARMUP > 0)) && run_wrk "$WARMUP" "$url" "$TMP/warm.txt"
            : >"$EHALL_LOG" # both logs are opened O_APPEND: truncating keeps the disk use bounded
            : >"$TMP/nginx-access.log"
            sleep 1
            say "round $round/$ROUNDS: wrk ${RUN_SECONDS}s, $CONNS connections, $WRK_THREADS threads: $s $t"
            out="$TMP/wrk-$round-$s-${t//\//_}.txt"
            run_wrk "$RUN_SECONDS" "$url" "$out"
            { echo "### round $round: $s $t"; echo '```'; cat "$out"; echo '```'; echo; } >>"$RAW"
            line=$(parse_wrk "$out") || { cat "$out" >&2; die "cannot parse wrk output for $s $t"; }
            say "  $line (req/s p50 p99 non-2xx errors requests)"
            RES[$s$t]+="$line"$'\n'
        done
    done
done
for k in "${!RES[@]}"; do RES[$k]=$(summarize "${RES[$k]}"); done
sleep 2
rss_after=$(rss_kb "$EHALL_PID")
hwm=$(hwm_kb "$EHALL_PID")
nginx_rss=0
for p in $NGINX_PID $(pgrep -P "$NGINX_PID" 2>/dev/null || true); do
    nginx_rss=$((nginx_rss + $(rss_kb "$p")))
done

# ---------- report ----------

fmt_ms() { awk -v v="$1" 'BEGIN {printf (v < 10 ? "%.2f" : "%.1f"), v}'; }
# The checks below call pf with "FAIL" for a miss (not **FAIL**): MISSED counts "| FAIL |" rows.
cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
[[ -n $cpu ]] || cpu=$(uname -m)
commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$REPO" status --porcelain -- src 2>/dev/null) ]] && commit+=" (src/ modified)"

REPORT="$TMP/results.md"
{
    echo "## ehall benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(nproc) CPUs, $cpu, Linux $(uname -r), $(awk '/^MemTotal:/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo)"
    echo "- $("$EHALL" version 2>/dev/null | head -n 1) (Release build, commit $commit; $("$EHALL" version 2>/dev/null | grep -o 'libmicrohttpd [0-9.]*')), ${EHALL_HTTP_THREADS:+EHALL_HTTP_THREADS=$EHALL_HTTP_THREADS}${EHALL_HTTP_THREADS:-default HTTP threads (one per CPU)}"
    echo "- $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $NGINX_WORKERS workers; $(wrk -v 2>&1 | head -n 1 | awk '{print $1, $2}')"
    echo "- wrk: $WRK_THREADS threads, $CONNS connections, keep-alive, 127.0.0.1; ${RUN_SECONDS} s per run after ${WARMUP} s warm-up;"
    echo "  $ROUNDS round(s), servers alternating first; figures are medians over the rounds, errors are totals;"
    echo "  wrk and the server under test share the same CPUs; load average at start: $LOAD_BEFORE"
    echo "- both servers log one JSON line per request to a file, written in batches of up to 64 KiB / 100 ms,"
    echo "  and send the same security headers"
    echo
    echo "| target | server | req/s | req/s range | p50 ms | p99 ms | non-2xx / socket errors | ehall ÷ nginx |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    for t in "${TARGETS[@]}"; do
        read -r e_rps e_p50 e_p99 e_bad e_err e_lo e_hi <<<"${RES[ehall$t]}"
        read -r n_rps n_p50 n_p99 n_bad n_err n_lo n_hi <<<"${RES[nginx$t]}"
        ratio=$(awk -v a="$e_rps" -v b="$n_rps" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
        echo "| $t | ehall | $e_rps | $e_lo–$e_hi | $(fmt_ms "$e_p50") | $(fmt_ms "$e_p99") | $e_bad / $e_err | **$ratio** |"
        echo "| $t | nginx | $n_rps | $n_lo–$n_hi | $(fmt_ms "$n_p50") | $(fmt_ms "$n_p99") | $n_bad / $n_err | |"
    done
    echo
    echo "| check | target | measured | result |"
    echo "|---|---|---:|---|"
    for t in "${TARGETS[@]}"; do
        read -r e_rps e_p50 e_p99 e_bad e_err _ <<<"${RES[ehall$t]}"
        read -r n_rps _ _ n_bad n_err _ <<<"${RES[nginx$t]}"
        ratio=$(awk -v a="$e_rps" -v b="$n_rps" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
        echo "| $t ehall req/s ÷ nginx req/s | ≥ $TARGET_RATIO | $ratio | $(pf "$ratio >= $TARGET_RATIO" FAIL) |"
        note=""
        ((CONNS == 256)) || note=" (target defined at 256 connections; run used $CONNS)"
        echo "| $t ehall p99 at $CONNS connections | ≤ $TARGET_P99_MS ms$note | $(fmt_ms "$e_p99") ms | $(pf "$e_p99 <= $TARGET_P99_MS" FAIL) |"
        echo "| $t every response 2xx, no socket errors | 0 | ehall $e_bad / $e_err, nginx $n_bad / $n_err | $(pf "$e_bad + $e_err + $n_bad + $n_err == 0" FAIL) |"
    done
    echo "| time to ready, existing database (worst of $READY_RUNS; median $ready_median ms) | < $TARGET_READY_MS ms | $ready_worst ms | $(pf "$ready_worst < $TARGET_READY_MS" FAIL) |"
    echo "| ehall idle RSS after warm-up | < $TARGET_RSS_MB MiB | $(mib "$rss_warm") MiB | $(pf "$rss_warm < $TARGET_RSS_MB * 1024" FAIL) |"
    echo "| ehall idle RSS after the load test (peak $(mib "$hwm") MiB) | < $TARGET_RSS_MB MiB | $(mib "$rss_after") MiB | $(pf "$rss_after < $TARGET_RSS_MB * 1024" FAIL) |"
    echo
    echo "For reference: nginx master + workers RSS after the load test $(mib "$nginx_rss") MiB."
    echo "Time to ready is measured from the fork of \`ehall serve\` to the first 2xx of /healthz,"
    echo "polled with curl in a tight loop; curl's own start-up (tens of ms on a small VM) is included."
    echo "Individual restarts: ${ready_ms[*]} ms; ehall's own log puts opening and checking the database"
    echo "at $store_ms ms (median) of that, from the start of \`serve\`."
} >"$REPORT"
MISSED=$(grep -c '| FAIL |$' "$REPORT" || true)

cat "$REPORT"
cp "$REPORT" "$BUILD/bench-latest.md"
cp "$RAW" "$BUILD/bench-latest-wrk.txt"
echo
echo "results: $REPORT (temp dir, removed on exit unless BENCH_KEEP=1)"
echo "         $BUILD/bench-latest.md (copy), raw wrk output in $BUILD/bench-latest-wrk.txt"
if ((MISSED > 0)); then
    echo "$MISSED check(s) missed their target."
    [[ $STRICT == 1 ]] && exit 1
fi
exit 0
