# shellcheck shell=bash
# bench/lib.sh — the shell helpers the bench/*.sh scripts share; sourced near the top of
# each, after `set -euo pipefail`:  . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Some helpers use the caller's globals: REPO, BUILD, TMP (build_release, start_ehall),
# EHALL and EHALL_PID (start_ehall, stop_ehall), PARTS (has_part).

# die MESSAGE: print "bench: MESSAGE" on stderr and exit 1
die() { echo "bench: $*" >&2; exit 1; }
# say MESSAGE: print "bench: MESSAGE" on stderr
say() { echo "bench: $*" >&2; }

# has_part PART: true when PART is one of the words of $PARTS
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

# note_load [hint]: set LOAD_BEFORE (the load averages) and warn when the CPUs are busy already
# shellcheck disable=SC2120  # the hint is optional
note_load() {
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN {exit !(l > 0.5)}'; then
        say "warning: load average $LOAD_BEFORE: the CPUs are or were recently busy${1:+ $1}; figures may be noisy"
    fi
}

# stop_pid PID [signal] [grace seconds]: signal one process we started and wait for it
# (TERM and 10 s by default), then KILL it and its children (nginx workers of our master)
stop_pid() {
    local pid=$1 sig=${2:-TERM} grace=${3:-10} i
    [[ -n $pid ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "process $pid did not stop on SIG$sig; killing it"
        local kids=()
        mapfile -t kids < <(pgrep -P "$pid" 2>/dev/null || true)
        kill -KILL "$pid" "${kids[@]}" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# now_us: the wall clock in microseconds (bash 5's EPOCHREALTIME)
now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }

# Ports are picked below the kernel's ephemeral range, so outgoing connections (wrk's,
# curl's, anyone's) cannot be holding them; a lost race is retried by the callers.
read -r EPH_LO EPH_HI </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { EPH_LO=32768; EPH_HI=60999; }
if ((EPH_LO > 11024)); then PORT_LO=10000 PORT_SPAN=$((EPH_LO - 10000))
elif ((EPH_HI < 64000)); then PORT_LO=$((EPH_HI + 1)) PORT_SPAN=$((65535 - EPH_HI))
else PORT_LO=1024 PORT_SPAN=64000; fi
USED_PORTS=" "
PORT=""
# free_port: set PORT to a loopback TCP port no socket uses (and not handed out before)
free_port() {
    local p i
    for ((i = 0; i < 500; i++)); do
        p=$((PORT_LO + (RANDOM * 32768 + RANDOM) % PORT_SPAN))
        [[ $USED_PORTS == *" $p "* ]] && continue
        if command -v ss >/dev/null; then
            [[ -z $(ss -Htan "sport = :$p" 2>/dev/null) ]] || continue
        fi
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
        USED_PORTS+="$p "
        PORT=$p
        return 0
    done
    die "no free loopback port found"
}

# wait_http URL PID [timeout s, default 60] [poll interval s, default 0.05; 0 = none]:
# poll URL until it answers 2xx; 0 when it does, 1 when PID exited first, 2 on timeout
wait_http() {
    local url=$1 pid=$2 secs=${3:-60} poll=${4:-0.05} deadline
    deadline=$(($(now_us) + secs * 1000000))
    until curl -fs -o /dev/null --max-time 1 "$url"; do
        kill -0 "$pid" 2>/dev/null || return 1
        (($(now_us) < deadline)) || return 2
        [[ $poll == 0 ]] || sleep "$poll"
    done
}

# build_release: configure and build a release ehall into $BUILD (log: $TMP/build.log)
build_release() {
    if ! { cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF &&
        cmake --build "$BUILD" --parallel "$(nproc)"; } >"$TMP/build.log" 2>&1; then
        tail -n 40 "$TMP/build.log" >&2
        die "build failed"
    fi
}

# start_ehall NAME DATADIR [ehall global args]: start $EHALL serve on a free port (three
# tries); sets PORT, URL, LOG ($TMP/ehall-NAME.log) and EHALL_PID
start_ehall() {
    local name=$1 dir=$2 attempt rc
    shift 2
    for attempt in 1 2 3; do
        free_port
        URL="http://127.0.0.1:$PORT"
        LOG="$TMP/ehall-$name.log"
        "$EHALL" --data "$dir" "$@" serve --listen "127.0.0.1:$PORT" >>"$LOG" 2>&1 &
        EHALL_PID=$!
        rc=0
        wait_http "$URL/healthz" "$EHALL_PID" || rc=$?
        ((rc == 0)) && return 0
        tail -n 5 "$LOG" >&2
        ((rc == 1 && attempt < 3)) || die "ehall did not start"
        wait "$EHALL_PID" 2>/dev/null || true
        EHALL_PID=""
        say "retrying on another port"
    done
}
# stop_ehall: stop the server start_ehall started
stop_ehall() { stop_pid "$EHALL_PID" TERM; EHALL_PID=""; }

# parse_wrk FILE [decimals, default 3]: wrk --latency output ->
# "req/s p50_ms p99_ms non2xx socket_errors requests"
parse_wrk() {
    awk -v d="${2:-3}" '
        function ms(v,  n, u) {
            n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
            if (u == "us") return n / 1000
            if (u == "ms") return n
            if (u == "s") return n * 1000
            if (u == "m") return n * 60000
            if (u == "h") return n * 3600000
            return -1
        }
        /^[ \t]+50%/ { p50 = ms($2) }
        /^[ \t]+99%/ { p99 = ms($2) }
        /^Requests\/sec:/ { rps = $2 }
        / requests in / { total = $1 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ { gsub(/,/, ""); errs = $4 + $6 + $8 + $10 }
        END {
            if (rps == "" || p50 == "" || p99 == "") exit 1
            printf "%.0f %." d "f %." d "f %d %d %d\n", rps, p50, p99, non2xx, errs, total
        }' "$1"
}

# kv LINE KEY: the value of KEY in a line of key=value words (the load generators' output)
kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print substr($0, length(k) + 2); exit}'; }
# calc FORMAT EXPRESSION: an awk expression, printed with printf FORMAT
calc() { awk "BEGIN {printf \"$1\", $2}"; }
# median: the median of the lines on stdin (one number each; "nan" for none)
median() { sort -g | awk '{a[NR] = $1} END {if (!NR) print "nan"; else print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
# pf CONDITION [miss]: PASS when the awk condition on numbers holds, else miss (**FAIL**)
pf() { if awk "BEGIN {exit !($1)}"; then echo PASS; else echo "${2:-**FAIL**}"; fi; }

# clock ticks per second, for proc_ticks and the like
# shellcheck disable=SC2034  # used by the scripts
HZ=$(getconf CLK_TCK)
# proc_ticks PID: CPU time (user + system, all threads) process PID has used, in clock ticks
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
