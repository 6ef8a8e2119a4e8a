#!/bin/bash
# run.sh -- `make bench`: cgicache measured as ratios, side by side, in one
# run on one machine: the same app without cgicache, with it loaded but
# not configured for the route, on misses, on hits, nginx's own
# fastcgi_cache, a slow route, a Python CGI script, a stampede, memory and
# compression.  Loopback only; every server is private and stopped by PID.
# QUICK=1 runs one short round (under a minute), for `make test`.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
QUICK=${QUICK:-0}
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-5}; MEM_REQS=100000
[ "$QUICK" = 1 ] && { ROUNDS=1; DUR=2; MEM_REQS=10000; }
TMP=$(mktemp -d /tmp/cgicache-bench.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; sleep 0.3; for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT
. "$TOP/tests/servers.sh"
port() { free_port; }
bg() { "$@" & PIDS+=($!); }

REDIS_PORT=$(port)
bg redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --logfile "$TMP/redis.log"
wait_for redis-cli -p "$REDIS_PORT" PING || exit 1
export CGICACHE_REDIS=redis://127.0.0.1:$REDIS_PORT/0
# The same on a unix socket: what a Redis on the app's own host costs.
bg redis-server --port 0 --unixsocket "$TMP/redis.sock" --save '' --appendonly no --logfile "$TMP/redis-unix.log"
wait_for redis-cli -s "$TMP/redis.sock" PING || exit 1
# The same over TLS (rediss://): a CA and a server certificate made here.
TLS_PORT=$(port)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/ca.key" -out "$TMP/ca.crt" -days 1 \
    -subj /CN=bench-ca >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -keyout "$TMP/tls.key" -out "$TMP/tls.csr" -subj /CN=redis >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\n' >"$TMP/tls.ext"
openssl x509 -req -in "$TMP/tls.csr" -CA "$TMP/ca.crt" -CAkey "$TMP/ca.key" -CAcreateserial \
    -out "$TMP/tls.crt" -days 1 -extfile "$TMP/tls.ext" >/dev/null 2>&1
bg redis-server --port 0 --tls-port "$TLS_PORT" --bind 127.0.0.1 --tls-cert-file "$TMP/tls.crt" \
    --tls-key-file "$TMP/tls.key" --tls-ca-cert-file "$TMP/ca.crt" --tls-auth-clients no --save '' \
    --appendonly no --logfile "$TMP/redis-tls.log"
wait_for redis-cli --tls --cacert "$TMP/ca.crt" -p "$TLS_PORT" PING || exit 1
# A Redis Cluster of 3 masters (redis-cluster://): a hit asks two of them
# at once (the URL's and the route's), a miss stores on the URL's.
cluster_start "$TMP/cluster" 3
started=$?
PIDS+=("${CLUSTER_PIDS[@]}")    # stopped on exit, whether or not the cluster came up
[ "$started" -eq 0 ] || exit 1

# app NAME [VAR=VALUE ...]: the bench app, 2 workers, on $TMP/NAME.sock
# ($APP_BIN picks another build of it).
app() {
    local name=$1
    shift
    bg env "$@" BENCH_COUNTER="$TMP/$name.count" spawn-fcgi -n -M 0666 -s "$TMP/$name.sock" -- \
        "$TOP/tests/integration/prefork.sh" 2 "${APP_BIN:-$B/bench/app}"
    wait_for test -S "$TMP/$name.sock" || exit 1
}

# fpm NAME [VAR=VALUE ...]: a php-fpm master with 2 static workers on
# $TMP/NAME.sock, the variables in the master's environment.
FPM=$(ls /usr/sbin/php-fpm* 2>/dev/null | head -1)
fpm() {
    local name=$1 user=""
    shift
    [ "$(id -u)" = 0 ] && user="user = nobody
group = nogroup"
    cat >"$TMP/$name-fpm.conf" <<CONF
[global]
pid = $TMP/$name-fpm.pid
error_log = $TMP/$name-fpm.log
daemonize = no
[bench]
$user
listen = $TMP/$name.sock
listen.mode = 0666
pm = static
pm.max_children = 2
CONF
    bg env "$@" "$FPM" -F -y "$TMP/$name-fpm.conf"
    wait_for test -S "$TMP/$name.sock" || exit 1
}
app plain
app passthru LD_PRELOAD="$B/libcgicache.so" CGICACHE_ROUTE_other='GET /other/* ttl=60'
app cached LD_PRELOAD="$B/libcgicache.so" CGICACHE_ROUTE_trivial='GET /trivial ttl=300' \
    CGICACHE_ROUTE_page='GET /page ttl=300' \
    CGICACHE_ROUTE_slow='GET /slow ttl=300' CGICACHE_ROUTE_miss='GET /miss ttl=5' CGICACHE_ROUTE_cold='GET /cold ttl=300'
app cachedfar LD_PRELOAD="$B/libcgicache.so" CGICACHE_NEAR_SIZE=0 CGICACHE_ROUTE_trivial='GET /trivial ttl=300'
app cachedunix LD_PRELOAD="$B/libcgicache.so" CGICACHE_REDIS="unix:$TMP/redis.sock" \
    CGICACHE_ROUTE_trivial='GET /trivial ttl=300' CGICACHE_ROUTE_miss='GET /miss ttl=5'
# Over TLS, near cache off: every hit is a TLS round trip.
app cachedtls LD_PRELOAD="$B/libcgicache.so" CGICACHE_REDIS="rediss://127.0.0.1:$TLS_PORT/0" \
    CGICACHE_REDIS_CA="$TMP/ca.crt" CGICACHE_NEAR_SIZE=0 \
    CGICACHE_ROUTE_trivial='GET /trivial ttl=300' CGICACHE_ROUTE_miss='GET /miss ttl=5'
# In the cluster, near cache off: every hit asks the cluster.
app cachedcluster LD_PRELOAD="$B/libcgicache.so" CGICACHE_REDIS="redis-cluster://127.0.0.1:${CLUSTER_PORTS[0]}" \
    CGICACHE_NEAR_SIZE=0 \
    CGICACHE_ROUTE_trivial='GET /trivial ttl=300' CGICACHE_ROUTE_miss='GET /miss ttl=5'
bg spawn-fcgi -n -M 0666 -s "$TMP/cgi.sock" -- "$TOP/tests/integration/prefork.sh" 2 /usr/sbin/fcgiwrap
bg env LD_PRELOAD="$B/libcgicache.so" CGICACHE_ROUTE_cgi='GET /cgi ttl=300' \
    spawn-fcgi -n -M 0666 -s "$TMP/cgic.sock" -- "$TOP/tests/integration/prefork.sh" 2 /usr/sbin/fcgiwrap
wait_for test -S "$TMP/cgic.sock" || exit 1
# The wire adapter on the same app, its libfcgi linked in statically.
APP_BIN=$B/bench/app-static app wirecached LD_PRELOAD="$B/libcgicache.so" \
    CGICACHE_ROUTE_trivial='GET /trivial ttl=300'
# PHP: php-fpm alone, with the library and no route, with a route.
mkdir -p "$TMP/php"
printf '<?php\nheader("Content-Type: text/plain");\necho "php page\\n";\n' >"$TMP/php/page.php"
chmod -R a+rX "$TMP/php"
fpm phpplain
fpm phppass LD_PRELOAD="$B/libcgicache.so" CGICACHE_ROUTE_other='GET /other/* ttl=60'
fpm phpcached LD_PRELOAD="$B/libcgicache.so" CGICACHE_ROUTE_php='GET /page.php ttl=300'

declare -A P
servers=""
for s in plain passthru cached cachedfar cachedunix cachedtls cachedcluster ncache cgi cgic wirecached phpplain phppass phpcached; do
    P[$s]=$(port)
    sock=$s; [ "$s" = ncache ] && sock=plain
    extra=""
    [ "$s" = ncache ] && extra="fastcgi_cache z; fastcgi_cache_key \$request_uri; fastcgi_cache_valid 200 5m;"
    case $s in cgi|cgic) extra="fastcgi_param SCRIPT_FILENAME $TOP/bench/cgi/hello.py;" ;; esac
    case $s in php*) extra="fastcgi_param SCRIPT_FILENAME $TMP/php/page.php;" ;; esac
    servers="$servers $(fastcgi_server "${P[$s]}" "$TMP/$sock.sock" "$extra")"
done
nginx_conf "$TMP/nginx" 2 "fastcgi_cache_path $TMP/nginx/cache keys_zone=z:10m; $servers"
bg nginx -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log"
wait_for curl -sf "http://127.0.0.1:${P[plain]}/trivial" || exit 1

cat >"$TMP/miss.lua" <<'LUA'
local n = 0
local id = tostring(math.random(1, 1000000000))
request = function()
    n = n + 1
    return wrk.format("GET", "/miss?" .. id .. "-" .. n)
end
LUA

# header_lua NAME HEADER VALUE: a wrk script sending one more header.
header_lua() {
    printf 'wrk.headers["%s"] = "%s"\n' "$2" "$(printf '%s' "$3" | sed 's/["\\]/\\&/g')" >"$TMP/$1.lua"
}
curl -s "http://127.0.0.1:${P[cached]}/trivial" >/dev/null
ETAG=$(curl -s -D - -o /dev/null "http://127.0.0.1:${P[cached]}/trivial" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
header_lua inm If-None-Match "$ETAG"
header_lua range Range "bytes=0-99"
header_lua zstd Accept-Encoding zstd
header_lua gzip Accept-Encoding gzip

# measure SERVER PATH [lua]: "req/s p50_ms p99_ms" from one wrk run.
measure() {
    local script=()
    [ -n "${3:-}" ] && script=(-s "$3")
    wrk -t2 -c16 -d"${DUR}s" --latency "${script[@]}" "http://127.0.0.1:${P[$1]}$2" 2>/dev/null | awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec/ { rps = $2 } $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
        END { printf "%.0f %.2f %.2f\n", rps, p50, p99 }'
}

# name|server|path|wrk script|goal|label|the row its ratio is against
CASES=(
    "trivial|plain|/trivial||1.00|trivial route, no cgicache"
    "passthru|passthru|/trivial||0.98|pass-through (loaded, route not configured)"
    "miss|cached|/miss|$TMP/miss.lua|0.90|miss path (capture + store every request)"
    "hit|cached|/trivial||0.75|hit path (warm, from the worker's memory)"
    "hitfar|cachedfar|/trivial||-|hit path, near cache off (one Redis round trip)"
    "hit304|cached|/trivial|$TMP/inm.lua|-|hit answered 304 (If-None-Match)"
    "hitrange|cached|/trivial|$TMP/range.lua|-|hit answered 206 (Range)"
    "hitpage|cached|/page||-|8 kB page hit, identity"
    "hitzstd|cached|/page|$TMP/zstd.lua|-|8 kB page hit, zstd (the stored frame)"
    "hitgzip|cached|/page|$TMP/gzip.lua|-|8 kB page hit, gzip (stored beside it)"
    "wirehit|wirecached|/trivial||-|hit path, wire adapter (libfcgi static)"
    "php|phpplain|/page.php||1.00|PHP page, php-fpm without cgicache|php"
    "phppass|phppass|/page.php||0.98|php-fpm pass-through (loaded, no route)|php"
    "phphit|phpcached|/page.php||-|php-fpm, cgicache hit (wire adapter)|php"
    "missunix|cachedunix|/miss|$TMP/miss.lua|-|miss path, Redis on a unix socket"
    "hitunix|cachedunix|/trivial||-|hit path, Redis on a unix socket"
    "misstls|cachedtls|/miss|$TMP/miss.lua|-|miss path, Redis over TLS (rediss://)"
    "hittls|cachedtls|/trivial||-|hit path, Redis over TLS, near cache off"
    "misscluster|cachedcluster|/miss|$TMP/miss.lua|-|miss path, Redis Cluster of 3 masters"
    "hitcluster|cachedcluster|/trivial||-|hit path, Redis Cluster of 3 masters, near off"
    "nginx|ncache|/trivial||-|nginx fastcgi_cache hit (the peer)"
    "slow|plain|/slow||-|20 ms route, no cache"
    "slowhit|cached|/slow||-|20 ms route, cgicache hit"
    "cgi|cgi|/cgi||-|Python CGI per request (fcgiwrap)"
    "cgihit|cgic|/cgi||-|Python CGI, cgicache hit"
)
for c in "${CASES[@]}"; do    # warm every cache
    IFS='|' read -r _ srv path _ _ _ _ <<<"$c"
    curl -s "http://127.0.0.1:${P[$srv]}$path" >/dev/null; curl -s "http://127.0.0.1:${P[$srv]}$path" >/dev/null
done
for r in $(seq "$ROUNDS"); do
    for c in "${CASES[@]}"; do
        IFS='|' read -r name srv path lua _ _ _ <<<"$c"
        echo "$r $name $(measure "$srv" "$path" "$lua")" >>"$TMP/results"
        echo "bench: round $r $name: $(tail -1 "$TMP/results" | cut -d' ' -f3-) (req/s p50 p99)" >&2
    done
done

# Stampede: 24 concurrent cold requests, one computation expected.
pids=()
for i in $(seq 24); do curl -s "http://127.0.0.1:${P[cached]}/cold?k=$$" >/dev/null & pids+=($!); done
wait "${pids[@]}"
computed=$(wc -l <"$TMP/cached.count" 2>/dev/null || echo 0)

# Memory: RSS of a cached worker before and after MEM_REQS hits.
worker=$(pgrep -f "$B/bench/app" | while read -r p; do grep -q libcgicache "/proc/$p/maps" 2>/dev/null && \
    grep -q CGICACHE_ROUTE_slow "/proc/$p/environ" 2>/dev/null && echo "$p"; done | head -1)
rss() { awk '/VmRSS/ { print $2 }' "/proc/$worker/status"; }
before=$(rss)
done_reqs=0
while [ "$done_reqs" -lt "$MEM_REQS" ]; do
    n=$(wrk -t2 -c16 -d2s "http://127.0.0.1:${P[cached]}/trivial" 2>/dev/null | awk '/requests in/ { print $1 }')
    done_reqs=$((done_reqs + ${n:-0}))
    [ -n "$n" ] || break
done
after=$(rss)

# A full run is a result worth keeping; a QUICK one (make test) is not.
RESULTS=$TOP/bench/results
[ "$QUICK" = 1 ] && RESULTS=$B/bench
mkdir -p "$RESULTS"
OUT=$RESULTS/$(date -u +%Y%m%d-%H%M%S)-$(hostname).txt
{
    echo "cgicache bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname), $(nproc) cores, $ROUNDS round(s) of ${DUR}s, wrk -t2 -c16, nginx 2 workers, app 2 workers, php-fpm 2 workers"
    echo
    printf '%-46s %9s %8s %8s %7s %6s %6s  %s\n' path "req/s" "p50 ms" "p99 ms" ratio goal spread verdict
    for c in "${CASES[@]}"; do
        IFS='|' read -r name _ _ _ goal label against <<<"$c"
        awk -v name="$name" -v goal="$goal" -v label="$label" -v against="${against:-trivial}" '
            $2 == against { base[$1] = $3 }
            $2 == name { n++; rps[n] = $3; p50[n] = $4; p99[n] = $5; ratio[n] = $3 / base[$1] }
            function median(a, k,   i, j, t, b) { for (i = 1; i <= k; i++) b[i] = a[i]
                for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t }
                return b[int((k + 1) / 2)] }
            END {
                lo = rps[1]; hi = rps[1]; for (i = 1; i <= n; i++) { if (rps[i] < lo) lo = rps[i]; if (rps[i] > hi) hi = rps[i] }
                m = median(rps, n); r = median(ratio, n)
                verdict = goal == "-" ? "" : (r >= goal ? "ok" : "MISSED")
                printf "%-46s %9.0f %8.2f %8.2f %7.3f %6s %5.0f%%  %s\n", label, m, median(p50, n), median(p99, n), r, goal, (m > 0 ? 100 * (hi - lo) / m : 0), verdict
            }' "$TMP/results"
    done
    echo
    page_bytes() { curl -s -o /dev/null -w '%{size_download}' "$@" "http://127.0.0.1:${P[cached]}/page"; }
    echo "8 kB page on the wire: identity $(page_bytes) bytes, zstd $(page_bytes -H 'Accept-Encoding: zstd') bytes, gzip $(page_bytes -H 'Accept-Encoding: gzip') bytes"
    echo "stampede: 24 concurrent cold requests -> $computed computation(s) (goal 1)"
    echo "memory: cached worker RSS $before KiB -> $after KiB after $done_reqs hits ($((after - before)) KiB)"
    echo
    "$B/bench/compress" 3 "$([ "$QUICK" = 1 ] && echo 20 || echo 200)"
} | tee "$OUT"
echo "bench: written to ${OUT#$TOP/}"
