#!/bin/bash
# t_hostile.sh -- something that is not Redis on the Redis port: a peer
# announcing a 2^31-element array or a 10 GB string, nesting arrays,
# dripping a line that never ends, flooding, or talking HTTP.  Every
# request is still answered by the app (MISS) within the timeout and a
# margin, and the worker's memory stays small.  A real Redis's large
# replies still pass.
. "$(dirname "$0")/lib.sh"

# ASan reserves terabytes of address space and keeps freed memory in
# quarantine: resident peak, with room, under it.
case "$CC_LIB" in
*asan*) MEM_FIELD=VmHWM MEM_MAX_KB=524288 ;;
*) MEM_FIELD=VmPeak MEM_MAX_KB=204800 ;;
esac

for mode in array bulk nested drip flood garbage; do
    port=$(free_port)
    python3 "$TOP/tests/integration/hostile_redis.py" "$port" "$mode" 2>>"$TMP/hostile.log" &
    PIDS+=("$!"); disown "$!" 2>/dev/null
    server=$!
    wait_for python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])))' "$port"
    REDIS_URL=redis://127.0.0.1:$port/0 start_app "$mode" 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60' \
        CGICACHE_TIMEOUT=50ms CGICACHE_CONNECT_TIMEOUT=50ms
    worst=0 bad=0
    # Spaced past the breaker's back-off (250 ms, then 500), so each
    # request talks to the peer again.
    for i in 1 2 3; do
        start=$(date +%s%N)
        r=$(fcgi "$mode" GET "/h/$i?plain=1")
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        [ "$ms" -gt "$worst" ] && worst=$ms
        [ "$(body_of "$r")" = "plain page" ] && [ "$(status_of "$r")" = MISS ] || bad=$((bad + 1))
        sleep "0.$((3 * i))"
    done
    expect_eq "$mode: every request answered by the app, MISS" "$bad" 0
    [ "$worst" -lt 1000 ] && ok "$mode: worst request $worst ms" || not_ok "$mode: worst request $worst ms"
    eval "app=\$APP_PID_$mode"
    worker=$(pgrep -P "$app" | head -1)
    kb=$(awk -v f="$MEM_FIELD:" '$1 == f { print $2 }' "/proc/$worker/status" 2>/dev/null)
    [ -n "$kb" ] && [ "$kb" -lt "$MEM_MAX_KB" ] && ok "$mode: worker $MEM_FIELD ${kb} kB" ||
        not_ok "$mode: worker $MEM_FIELD '${kb}' kB (over $MEM_MAX_KB kB, or the worker died)"
    kill "$server" "$app" 2>/dev/null
done

# The bounds are not tighter than a real Redis needs: a pool with the
# default CGICACHE_MAX_SIZE (8M) reads a 9.5 MB entry that a pool with a
# larger one stored.  (Moving 9.5 MB takes longer than 50 ms under ASan.)
start_redis
start_app big 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60 compress=off' CGICACHE_MAX_SIZE=16M CGICACHE_TIMEOUT=2s
start_app small 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60 compress=off' CGICACHE_TIMEOUT=2s
fcgi big GET "/large?size=9500000" >/dev/null
expect_eq "a 9.5 MB entry stored by the larger pool" "$(status_of "$(fcgi big GET "/large?size=9500000")")" HIT
r=$(fcgi small GET "/large?size=9500000")
expect_eq "... is a HIT in the pool with the default limit" "$(status_of "$r")" HIT
finish
