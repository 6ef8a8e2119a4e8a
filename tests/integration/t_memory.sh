#!/bin/bash
# t_memory.sh -- memory: a worker's RSS stays flat over 100k requests
# (QUICK=1: 20k), and valgrind memcheck finds no error and no leak in an
# app running the cache through misses, hits, bypasses, purges and stale
# refreshes.
. "$(dirname "$0")/lib.sh"

case "$CC_LIB" in *asan*)
    # ASan keeps freed memory in quarantine and cannot run under valgrind:
    # the plain library is measured instead, in the first pass.
    echo "# skipped with the sanitized library"; finish; exit ;;
esac

start_redis
start_app app 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /m/* ttl=60' CGICACHE_ROUTE_stale='GET /s/* ttl=1 stale=60'
start_nginx app
cat >"$TMP/mix.lua" <<'LUA'
counter = 0
request = function()
    counter = counter + 1
    local k = counter % 50
    if counter % 10 == 0 then
        return wrk.format("GET", "/m/" .. k .. "?plain=1", { ["Cache-Control"] = "no-cache" })
    end
    return wrk.format("GET", "/m/" .. k .. "?plain=1")
end
LUA
worker=$(pgrep -P "$APP_PID_app" | head -1)
echo "# worker: $(cat /proc/$worker/comm)"
rss() { awk '/VmRSS/ { print $2 }' "/proc/$worker/status"; }
# hammer N: at least N requests through nginx.
hammer() {
    local want=$1 done=0 n
    while [ "$done" -lt "$want" ]; do
        n=$(wrk -t2 -c8 -d2s -s "$TMP/mix.lua" "http://127.0.0.1:$NGINX_PORT/" 2>/dev/null |
            awk '/requests in/ { print $1 }')
        [ -n "$n" ] || { not_ok "wrk produced no figures"; return; }
        done=$((done + n))
    done
    echo "$done"
}
TOTAL=100000
[ "${QUICK:-0}" = 1 ] && TOTAL=20000
hammer 10000 >/dev/null
before=$(rss)
n=$(hammer "$TOTAL")
after=$(rss)
echo "# worker $worker: RSS $before KiB -> $after KiB over $n requests"
[ $((after - before)) -lt 1024 ] && ok "RSS grows by less than 1 MiB over $n requests ($((after - before)) KiB)" ||
    not_ok "RSS grew by $((after - before)) KiB over $n requests"

# valgrind memcheck on the library's every path.
if command -v valgrind >/dev/null; then
    rm -f "$TMP/vg.sock"
    env CGICACHE_REDIS="$REDIS_URL" CGICACHE_ROUTE_all='GET /v/* ttl=60' CGICACHE_ROUTE_st='GET /st/* ttl=1 stale=30' \
        CGICACHE_ROUTE_edit='PUT /v/* invalidates=all' APP_COUNTER="$TMP/vg.count" LD_PRELOAD="$CC_LIB" \
        spawn-fcgi -n -s "$TMP/vg.sock" -- /usr/bin/valgrind --leak-check=full \
        --errors-for-leak-kinds=definite --log-file="$TMP/valgrind.log" "$TESTAPP" >"$TMP/vg.out" 2>&1 &
    vg=$!
    PIDS+=("$vg"); disown "$vg" 2>/dev/null
    wait_for test -S "$TMP/vg.sock"
    sleep 1
    for i in $(seq 350); do            # about 1000 requests
        k=$((i % 10))
        fcgi vg GET "/v/$k?size=3000" >/dev/null
        fcgi vg GET "/v/$k?size=3000" HTTP_X_CACHE_BYPASS=1 >/dev/null
        [ $((i % 25)) = 0 ] && fcgi vg PUT "/v/$k" >/dev/null
        [ $((i % 20)) = 0 ] && fcgi vg GET /st/a >/dev/null
        fcgi vg HEAD "/v/$k?size=3000" >/dev/null
    done
    sleep 1.2; fcgi vg GET /st/a >/dev/null; sleep 0.5
    fcgi vg GET "/v/x?free=1" >/dev/null
    fcgi vg GET "/v/1?size=3000" >/dev/null
    hits=$(fcgi vg GET "/v/1?size=3000")
    expect_eq "under valgrind: still a HIT" "$(status_of "$hits")" HIT
    kill -TERM "$vg"
    for _ in $(seq 100); do kill -0 "$vg" 2>/dev/null || break; sleep 0.1; done
    summary=$(grep -o "ERROR SUMMARY: [0-9]* errors" "$TMP/valgrind.log")
    expect_eq "valgrind: no invalid access, uninitialised use or definite leak" "$summary" "ERROR SUMMARY: 0 errors"
    [ "$summary" = "ERROR SUMMARY: 0 errors" ] || head -80 "$TMP/valgrind.log"
else
    not_ok "valgrind is not installed"
fi
finish
