#!/bin/bash
# instructions.sh -- `make bench-instructions`: what one request costs a
# worker, in instructions counted by valgrind's callgrind.  Unlike req/s,
# the counts repeat exactly from run to run whatever else the machine is
# doing, so a change to the hit or pass-through path shows up as a number.
#
# One bench app runs under callgrind, behind no web server: cgi-fcgi sends
# it N requests.  Each case runs twice (N1 and N2 requests) and the
# difference over N2 - N1 is the cost of one request, start-up excluded.
# Cases: the app alone, with cgicache loaded but no route (pass-through),
# a warm hit, and a miss (capture + store); hits answered 304 and 206, and
# an 8 kB page in each coding; then the same through the wire
# adapter, with the app's libfcgi linked in statically (nothing of it to
# interpose).  A private Redis is started.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
N1=${N1:-100}; N2=${N2:-600}
TMP=$(mktemp -d /tmp/cgicache-instr.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT
. "$TOP/tests/servers.sh"

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --logfile "$TMP/redis.log" &
PIDS+=($!)
wait_for redis-cli -p "$REDIS_PORT" PING || exit 1

# request SOCKET URI[@PARAM=VALUE]: one request, as nginx's fastcgi_params
# would send it (with one more parameter after an @).
request() {
    local uri=${2%%@*} extra=()
    case $2 in *@*) extra=("${2#*@}") ;; esac
    env -i REQUEST_METHOD=GET REQUEST_URI="$uri" SCRIPT_NAME="${uri%%\?*}" QUERY_STRING="${uri#*\?}" \
        SERVER_NAME=localhost SERVER_PORT=80 HTTP_HOST=localhost SERVER_PROTOCOL=HTTP/1.1 \
        GATEWAY_INTERFACE=CGI/1.1 REMOTE_ADDR=127.0.0.1 HTTP_USER_AGENT=bench HTTP_ACCEPT='*/*' \
        "${extra[@]}" cgi-fcgi -bind -connect "$1" >/dev/null
}

# total NAME URI N [APP=PATH] [VAR=VALUE ...]: instructions for N requests,
# start-up included.
total() {
    local name=$1 uri=$2 n=$3 sock=$TMP/$1.$3.sock out=$TMP/$1.$3.out app=$B/bench/app
    shift 3
    case ${1:-} in APP=*) app=${1#APP=}; shift ;; esac
    env "$@" CGICACHE_REDIS="redis://127.0.0.1:$REDIS_PORT/0" spawn-fcgi -n -s "$sock" -- \
        "$(command -v valgrind)" --tool=callgrind --callgrind-out-file="$out" "$app" >"$TMP/$name.log" 2>&1 &
    local pid=$!
    wait_for test -S "$sock" || return 1
    for i in $(seq "$n"); do
        case $uri in */miss) request "$sock" "$uri?$n-$i-$RANDOM" ;; *) request "$sock" "$uri" ;; esac
    done
    # callgrind writes its counts when the app ends; a signal that lands
    # while valgrind is between syscalls can be lost, so it is repeated.
    for _ in $(seq 20); do
        kill "$pid" 2>/dev/null || break
        sleep 0.25
    done
    wait "$pid" 2>/dev/null
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

LIB=LD_PRELOAD=$B/libcgicache.so
# The wire rows: the same app with libfcgi linked in statically, which only
# the wire adapter can follow; "x app" for them is against its own alone.
WIRE=APP=$B/bench/app-static
CASES=(
    "app alone|plain|/trivial"
    "pass-through (loaded, no route)|passthru|/trivial|$LIB|CGICACHE_ROUTE_other=GET /other/* ttl=60"
    "hit (warm, near cache)|hit|/trivial|$LIB|CGICACHE_ROUTE_trivial=GET /trivial ttl=300"
    "hit (near cache off)|hitfar|/trivial|$LIB|CGICACHE_NEAR_SIZE=0|CGICACHE_ROUTE_trivial=GET /trivial ttl=300"
    "miss (capture + store)|miss|/miss|$LIB|CGICACHE_ROUTE_miss=GET /miss ttl=5"
    "hit answered 304 (If-None-Match)|hit304|/trivial@HTTP_IF_NONE_MATCH=*|$LIB|CGICACHE_ROUTE_trivial=GET /trivial ttl=300"
    "hit answered 206 (Range)|hit206|/trivial@HTTP_RANGE=bytes=0-9|$LIB|CGICACHE_ROUTE_trivial=GET /trivial ttl=300"
    "8 kB page hit, identity|page|/page|$LIB|CGICACHE_ROUTE_page=GET /page ttl=300"
    "8 kB page hit, zstd|pagezstd|/page@HTTP_ACCEPT_ENCODING=zstd|$LIB|CGICACHE_ROUTE_page=GET /page ttl=300"
    "8 kB page hit, gzip|pagegzip|/page@HTTP_ACCEPT_ENCODING=gzip|$LIB|CGICACHE_ROUTE_page=GET /page ttl=300"
    "wire: app alone (libfcgi static)|wplain|/trivial|$WIRE"
    "wire: pass-through|wpassthru|/trivial|$WIRE|$LIB|CGICACHE_ROUTE_other=GET /other/* ttl=60"
    "wire: hit (near cache off)|whit|/trivial|$WIRE|$LIB|CGICACHE_NEAR_SIZE=0|CGICACHE_ROUTE_trivial=GET /trivial ttl=300"
    "wire: miss (capture + store)|wmiss|/miss|$WIRE|$LIB|CGICACHE_ROUTE_miss=GET /miss ttl=5"
)
RESULTS=$TOP/bench/results
mkdir -p "$RESULTS"
OUT=$RESULTS/$(date -u +%Y%m%d-%H%M%S)-$(hostname)-instructions.txt
{
    echo "cgicache instructions per request, $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname), $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null)"
    echo "callgrind, one bench app worker, cgi-fcgi client, ($N2 - $N1 requests)"
    echo
    printf '%-34s %12s %8s\n' path "instr/req" "x app"
    base=0
    for c in "${CASES[@]}"; do
        IFS='|' read -r label name uri vars <<<"$c"
        IFS='|' read -ra env_vars <<<"$vars"
        a=$(total "$name" "$uri" "$N1" "${env_vars[@]}")
        b=$(total "$name" "$uri" "$N2" "${env_vars[@]}")
        per=$(( (b - a) / (N2 - N1) ))
        case $name in plain | wplain) base=$per ;; esac
        printf '%-34s %12d %8.2f\n' "$label" "$per" "$(awk -v p="$per" -v b="$base" 'BEGIN { print p / b }')"
    done
} | tee "$OUT"
echo "instructions: written to ${OUT#$TOP/}"
