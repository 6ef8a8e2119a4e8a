#!/bin/bash
# t_crash.sh -- a computation that dies never leaves its fill lock behind
# for the others to wait out: a CGI program that segfaults on a miss
# (the tee releases the lock and wakes the waiters), and a CGI process
# killed outright with SIGKILL, tee and all (nothing can run then: the
# lock must be bounded tightly), and a FastCGI worker that crashes while
# computing.  CGICACHE_LOCK_WAIT is 8 s here; every
# request must be answered in a fraction of it.
. "$(dirname "$0")/lib.sh"

start_redis
CGI=$TOP/tests/apps/cgi
touch "$TMP/cgi.count"

# cgi URI: hello.sh as a CGI request (the shell is the CGI process);
# exec, so that in the background $! is that process.  The segfault is
# the program's own: the sanitizer runtime is told not to report it.
cgi() {
    exec env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
        REQUEST_URI="$1" QUERY_STRING="${1#*\?}" SCRIPT_NAME="${1%%\?*}" HTTP_HOST=localhost \
        SERVER_NAME=localhost SERVER_PORT=80 SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
        LD_PRELOAD="$(preload_value)" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0" \
        CGICACHE_REDIS="$REDIS_URL" CGICACHE_ROUTE_cgi='GET /cgi/* ttl=60' \
        CGICACHE_LOCK_TTL=8s CGICACHE_LOCK_WAIT=8s APP_COUNTER="$TMP/cgi.count" \
        /bin/bash "$CGI/hello.sh" </dev/null 2>>"$TMP/cgi.err"
}

# cgi_timed URI: the milliseconds the request took and its X-Cache-Status.
cgi_timed() {
    local start out
    start=$(date +%s%N)
    out=$(timeout 20 bash -c "$(declare -f cgi preload_value); $(declare -p CC_LIB REDIS_URL TMP CGI); cgi '$1'")
    echo "$(( ($(date +%s%N) - start) / 1000000 )) $(status_of "$out")"
}

# Six concurrent requests for a page whose program crashes: the leader's
# crash wakes the five waiters at once.
pids=()
for i in $(seq 6); do cgi_timed "/cgi/crash?slow=1&segv=1" >"$TMP/crash.$i" & pids+=($!); done
wait "${pids[@]}"
worst=$(cat "$TMP"/crash.* | awk '{ print $1 }' | sort -n | tail -1)
if [ "$worst" -lt 4000 ]; then ok "segfault under 6 concurrent requests: all answered, the slowest in $worst ms"
else not_ok "segfault: a request waited $worst ms for a dead computation's lock"; fi
r=$(cgi_timed "/cgi/crash?slow=1&segv=1")
if [ "${r% *}" -lt 4000 ]; then ok "the next request does not wait ($r)"; else not_ok "the next request waited: $r"; fi

# The CGI process itself, the lock's holder, SIGKILLed mid-computation (a
# server giving up on it): nothing of it survives to release the lock.
# A request arriving then, and the next, must not wait out the lock.
cgi "/cgi/killed?slow=1" >/dev/null &
holder=$!
for _ in $(seq 100); do [ -n "$(rcli --scan --pattern '*#lock:*killed*')" ] && break; sleep 0.05; done
expect_ne "the holder took the lock" "$(rcli --scan --pattern '*#lock:*killed*')" ""
kill -KILL "$holder"
wait "$holder" 2>/dev/null
r=$(cgi_timed "/cgi/killed?slow=1")
if [ "${r% *}" -lt 4000 ]; then ok "a request after the holder was SIGKILLed does not wait out its lock ($r)"
else not_ok "a request after the holder was SIGKILLed waited: $r"; fi
cgi_timed "/cgi/killed?slow=1" >/dev/null
r=$(cgi_timed "/cgi/killed?slow=1")
expect_eq "... and the page is stored again" "${r#* }" HIT
# A FastCGI worker that crashes while it holds the lock: the other
# worker, waiting for its fill, notices within a moment.  crash=1 is not
# part of the key (query=sleep_ms), so the waiter asks for the same page
# and does not crash itself.
start_app crashy 2 "$TESTAPP" CGICACHE_ROUTE_slow='GET /slow/* ttl=60 query=sleep_ms' \
    CGICACHE_LOCK_TTL=8s CGICACHE_LOCK_WAIT=8s
fcgi crashy GET "/slow/k?sleep_ms=300&crash=1" >/dev/null &
sleep 0.1
start=$(date +%s%N)
r=$(fcgi crashy GET "/slow/k?sleep_ms=300")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
wait
expect_eq "FastCGI: the holder crashed, the waiter ran the app" "$(grep -c . "$TMP/crashy.count")" 2
expect_contains "FastCGI: the waiter got the app's page" "$(body_of "$r")" "uri=/slow/k"
if [ "$ms" -lt 4000 ]; then ok "FastCGI: the waiter did not wait out a crashed holder's lock ($ms ms)"
else not_ok "FastCGI: the waiter waited $ms ms for a crashed holder"; fi
finish
