#!/bin/bash
# t_threads.sh -- a threaded libfcgi app the library must be a good guest
# in: threads with 64 KiB stacks answered through misses, hits and
# background refreshes (the library's frames stay small), and forks from
# one thread while the others write (no lock of the library is left held
# in the child).
. "$(dirname "$0")/lib.sh"

start_redis
APP=$THREADED_APPS/tests/threads
ROUTES=(CGICACHE_ROUTE_page='GET /page/* ttl=60' CGICACHE_ROUTE_stale='GET /stale/* ttl=2 stale=60'
    CGICACHE_ROUTE_fork='GET /fork/* ttl=60' CGICACHE_TIMEOUT=500ms CGICACHE_CONNECT_TIMEOUT=500ms)

# -- 64 KiB thread stacks.
start_app small 1 "$APP" APP_STACK_KB=64 "${ROUTES[@]}"
pids=()
for i in $(seq 8); do
    (a=$(fcgi small GET "/page/$i?putc=3000"); b=$(fcgi small GET "/page/$i?putc=3000")
     echo "$(status_of "$a") $(status_of "$b") $([ "$(body_of "$a")" = "$(body_of "$b")" ] && echo same)") \
        >"$TMP/res-small.$i" & pids+=($!)
done
wait "${pids[@]}"
expect_eq "64 KiB stacks: 8 concurrent pages, each MISS then the same body as HIT" \
    "$(cat "$TMP"/res-small.* | sort -u)" "MISS HIT same"
first=$(fcgi small GET /stale/x)
sleep 2.3
stale=$(fcgi small GET /stale/x)
expect_eq "64 KiB stacks: STALE served" "$(status_of "$stale")" STALE
# The refresh is stored at once; its copy is fresh for 2 s.
sleep 0.7
fresh=$(fcgi small GET /stale/x)
expect_eq "64 KiB stacks: refreshed in the background, then HIT" "$(status_of "$fresh")" HIT
expect_ne "... with a new body" "$(body_of "$fresh")" "$(body_of "$first")"
expect_eq "64 KiB stacks: the app is still the one started" "$(grep -c 'stack\|Segmentation\|AddressSanitizer' "$TMP/small.log")" 0

# -- Forks while the other threads write to followed requests.
start_app forker 1 "$APP" "${ROUTES[@]}"
pids=()
for i in $(seq 3); do
    (for j in $(seq 20); do fcgi forker GET "/page/w$i-$j?putc=20000" >/dev/null; done) & pids+=($!)
done
r=$(fcgi forker GET "/fork/a?fork=200")
wait "${pids[@]}"
expect_contains "200 forks while 3 threads write: no child hangs" "$(body_of "$r")" "forks=200 hung=0"
finish
