#!/bin/bash
# demo.sh -- what `make demo` runs: the main job end to end on this
# machine.  A private redis-server and nginx on free loopback ports, the
# unchanged example app (examples/blog_api.c) under spawn-fcgi with
# libcgicache.so preloaded, and curl as the client.  Everything it starts
# it stops, by PID, on exit.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
TMP=$(mktemp -d /tmp/cgicache-demo.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; sleep 0.2; rm -rf "$TMP"; }
trap cleanup EXIT
. "$TOP/tests/servers.sh"
failures=0
check() { if [ "$2" = "$3" ]; then echo "   -> $1: $2"; else echo "   -> $1: got '$2', expected '$3'"; failures=$((failures + 1)); fi; }

REDIS_PORT=$(free_port); WEB_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
wait_for redis-cli -p "$REDIS_PORT" PING || exit 1

mkdir -p "$TMP/data"
echo "Hello, cached world" >"$TMP/data/7"
echo "Second post" >"$TMP/data/8"

# The three lines a user adds: where Redis is, and which routes to cache.
export CGICACHE_REDIS=redis://127.0.0.1:$REDIS_PORT/0
export CGICACHE_ROUTE_blogs='GET /blogs/* ttl=30'
export CGICACHE_ROUTE_blog_list='GET /blogs ttl=30'
export CGICACHE_ROUTE_blog_edit='PUT,POST,DELETE /blogs/* invalidates=blogs,blog_list'
BLOG_DATA=$TMP/data "$B/cgicache" run -- spawn-fcgi -n -M 0666 -s "$TMP/app.sock" -- "$B/examples/blog_api" \
    >"$TMP/app.log" 2>&1 &
PIDS+=($!)
wait_for test -S "$TMP/app.sock" || exit 1

nginx_conf "$TMP/nginx" 1 "$(fastcgi_server "$WEB_PORT" "$TMP/app.sock")"
nginx -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
PIDS+=($!)
URL=http://127.0.0.1:$WEB_PORT
wait_for curl -s -o /dev/null "$URL/health" || exit 1

# get DESCRIPTION [curl args...]: prints the cache status and the time.
get() {
    local what=$1
    shift
    local out
    out=$(curl -s -D "$TMP/head" -o "$TMP/body" -w '%{time_total}' "$@")
    STATUS=$(tr -d '\r' <"$TMP/head" | awk -F': ' 'tolower($1)=="x-cache-status" {print $2}')
    MS=$(awk -v t="$out" 'BEGIN { printf "%.1f", t * 1000 }')
    printf '%-44s X-Cache-Status: %-8s %7s ms   %s\n' "$what" "${STATUS:--}" "$MS" "$(head -c 60 "$TMP/body")"
}

echo "== cgicache demo: blog_api (300 ms per post) behind nginx, cached in Redis =="
echo
get "GET /blogs/7 (cold)" "$URL/blogs/7"; miss_ms=$MS; check "first request" "$STATUS" MISS
get "GET /blogs/7 (again)" "$URL/blogs/7"; hit_ms=$MS; check "second request" "$STATUS" HIT
awk -v m="$miss_ms" -v h="$hit_ms" 'BEGIN { if (h > 0) printf "   -> the hit was %.0fx faster than the miss\n", m / h }'
get "GET /blogs/7 with X-Cache-Bypass: 1" -H 'X-Cache-Bypass: 1' "$URL/blogs/7"; check "bypass header" "$STATUS" BYPASS
get "GET /blogs/7 with Cache-Control: no-cache" -H 'Cache-Control: no-cache' "$URL/blogs/7"; check "client no-cache" "$STATUS" NO_CACHE
get "GET /blogs (list, cold)" "$URL/blogs"; check "list" "$STATUS" MISS
get "PUT /blogs/7 (edit the post)" -X PUT --data-binary 'Edited post' "$URL/blogs/7"
get "GET /blogs/7 (after the edit)" "$URL/blogs/7"; check "after the PUT (invalidated)" "$STATUS" MISS
get "GET /blogs (after the edit)" "$URL/blogs"; check "list after the PUT" "$STATUS" MISS
get "GET /blogs/7 (again)" "$URL/blogs/7"; check "cached again" "$STATUS" HIT

echo
# The key holds the host the app is given (here nginx passes 127.0.0.1).
echo "== cgicache inspect http://127.0.0.1/blogs/7 =="
"$B/cgicache" inspect http://127.0.0.1/blogs/7 | sed 's/^/   /'
echo
echo "== cgicache stats =="
sleep 1.1
get "GET /blogs/8" "$URL/blogs/8" >/dev/null
get "GET /blogs/8" "$URL/blogs/8" >/dev/null
"$B/cgicache" stats | sed 's/^/   /'
echo
if [ "$failures" -eq 0 ]; then
    echo "demo: all as expected"
else
    echo "demo: $failures unexpected result(s)"
    exit 1
fi
