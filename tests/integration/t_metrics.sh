#!/bin/bash
# t_metrics.sh -- `cgicache stats` counts what the cache did: traffic made
# to produce each counter (a lock wait answered by the other's response
# and one given up, stores, a bypass, Redis errors and a breaker opening
# while redis-server is down), then the JSON's values, the table, and the
# Prometheus form read by a strict parser (prom_check.py).
. "$(dirname "$0")/lib.sh"

start_redis
export CGICACHE_ROUTE_slow='GET /slow/* ttl=60' CGICACHE_ROUTE_pages='GET /pages/* ttl=60'
export CGICACHE_REDIS=$REDIS_URL CGICACHE_LOCK_WAIT=2s
# Two workers, so that a second request can wait on the first; one, so
# that what a worker keeps in memory while Redis is down is known.
start_app m 2 "$TESTAPP"
start_app solo 1 "$TESTAPP" CGICACHE_NEAR_SIZE=0

# field ROUTE NAME: a counter of `stats --json` ("#redis": the connection's).
field() {
    "$CC_TOOL" stats --json | python3 -c '
import json, sys
print([r for r in json.load(sys.stdin) if r["route"] == sys.argv[1]][0].get(sys.argv[2]))' "$1" "$2"
}
# flush: every worker of m makes a Redis round trip a second after its
# last, so its counts go with it (two slow requests at once: one each).
flush() {
    sleep 1.1
    fcgi m GET "/pages/flush$1a?sleep_ms=300" >/dev/null &
    fcgi m GET "/pages/flush$1b?sleep_ms=300" >/dev/null
    wait
    fcgi solo GET "/pages/flush$1c" >/dev/null
    sleep 0.2
}

"$CC_TOOL" stats --reset >/dev/null
# A lock wait answered by the holder's response: a collapsed hit.
# (Which of the two takes the lock is the scheduler's choice: the
# statuses are compared sorted.)
both() { printf '%s\n' "$(status_of "$(cat "$TMP/$1")")" "$(status_of "$(cat "$TMP/$2")")" | sort | tr '\n' ' '; }
fcgi m GET '/slow/1?sleep_ms=1000' >"$TMP/a" &
sleep 0.3
fcgi m GET '/slow/1?sleep_ms=1000' >"$TMP/b"
wait
expect_eq "a cold request and one that waits on it" "$(both a b)" "HIT MISS "
# A lock wait given up: the holder's response is not stored.
fcgi m GET '/slow/2?sleep_ms=1000&cc=no-store' >"$TMP/c" &
sleep 0.3
fcgi m GET '/slow/2?sleep_ms=1000&cc=no-store' >"$TMP/d"
wait
expect_eq "... and one that waits in vain" "$(both c d)" "MISS MISS "
expect_eq "a bypass" "$(status_of "$(fcgi m GET /slow/1 HTTP_X_CACHE_BYPASS=1)")" BYPASS
flush 1

counts=""
for k in hit miss bypass collapsed store store_error lock_wait lock_gave_up stale_if_error pass min_uses_skip; do
    counts="$counts $k=$(field slow $k)"
done
expect_eq "stats --json: each counter of the route" "$counts" \
    " hit=1 miss=3 bypass=1 collapsed=1 store=1 store_error=0 lock_wait=2 lock_gave_up=1 stale_if_error=0 pass=0 min_uses_skip=0"
wait_ms=$(field slow lock_wait_ms)
[ "$wait_ms" -ge 200 ] && [ "$wait_ms" -lt 10000 ] &&
    ok "stats --json: the time the two waits took ($wait_ms ms)" ||
    not_ok "stats --json: lock_wait_ms is the waits' time ($wait_ms)"
expect_eq "stats --json: no Redis error yet" "$(field '#redis' redis_error) $(field '#redis' breaker_open)" "0 0"
table=$("$CC_TOOL" stats)
expect_contains "stats: the table has the new columns" "$table" "lock_wait_ms"
expect_contains "stats: ... and the Redis counters" "$table" "redis: 0 error(s), 0 breaker opening(s)"

prom=$("$CC_TOOL" stats --prometheus | python3 "$TOP/tests/integration/prom_check.py" --typed)
expect_eq "stats --prometheus: the format holds (prom_check.py)" "$?" 0
sample() { printf '%s\n' "$prom" | awk -v k="$1" '$1 == k { print $2 }'; }
expect_eq "stats --prometheus: requests by outcome" \
    "$(sample 'cgicache_requests_total{outcome=hit,route=slow}') $(sample 'cgicache_requests_total{outcome=miss,route=slow}') $(sample 'cgicache_requests_total{outcome=bypass,route=slow}')" "1 3 1"
expect_eq "stats --prometheus: stores, lock waits, given up" \
    "$(sample 'cgicache_stores_total{route=slow}') $(sample 'cgicache_lock_waits_total{route=slow}') $(sample 'cgicache_lock_gave_up_total{route=slow}')" "1 2 1"
expect_eq "stats --prometheus: the waits' time in seconds" \
    "$(sample 'cgicache_lock_wait_seconds_total{route=slow}')" \
    "$(python3 -c 'import sys; print("%.3f" % (int(sys.argv[1]) / 1000))' "$wait_ms")"
expect_eq "stats --prometheus: the new families, at zero" \
    "$(sample 'cgicache_stale_if_error_total{route=slow}') $(sample 'cgicache_pass_total{route=slow}') $(sample 'cgicache_min_uses_skips_total{route=slow}')" "0 0 0"
expect_eq "stats --prometheus: Redis's counters, without a route" \
    "$(sample 'cgicache_redis_errors_total{}') $(sample 'cgicache_redis_breaker_openings_total{}')" "0 0"
raw=$("$CC_TOOL" stats --prometheus)
expect_contains "stats --prometheus: counters are typed" "$raw" "# TYPE cgicache_lock_wait_seconds_total counter"
expect_contains "stats --prometheus: and explained" "$raw" "# HELP cgicache_redis_errors_total "

# Redis goes away.  What solo counts meanwhile (its Redis errors, the
# breaker opening, and a bypass made before, whose flush fails) waits in
# its memory and reaches the Redis that comes back with the first batch
# that gets through.
expect_eq "solo: a bypass, counted in memory" "$(status_of "$(fcgi solo GET /pages/kept HTTP_X_CACHE_BYPASS=1)")" BYPASS
stop_redis
sleep 1.1
expect_eq "Redis down: the app answers" "$(status_of "$(fcgi solo GET /pages/down)")" MISS
expect_eq "... again, the breaker open" "$(status_of "$(fcgi solo GET /pages/down2)")" MISS
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no >"$TMP/redis2.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
disown "$REDIS_PID" 2>/dev/null
wait_for rcli PING
sleep 1.1
fcgi solo GET /pages/back >/dev/null
sleep 0.2
# One breaker opening; at least its error (a retry after the back-off,
# on a slow machine, is another).
errors=$(field '#redis' redis_error)
expect_eq "back: the breaker opening, flushed" "$(field '#redis' breaker_open)" 1
[ "$errors" -ge 1 ] && [ "$errors" -le 2 ] && ok "back: the Redis errors, flushed ($errors)" ||
    not_ok "back: the Redis errors, flushed ($errors)"
# solo's misses: /pages/flush1c (counted after its batch went), down, down2.
expect_eq "back: the counts taken by the batch that failed, not lost" \
    "$(field pages bypass) $(field pages miss)" "1 3"
prom=$("$CC_TOOL" stats --prometheus | python3 "$TOP/tests/integration/prom_check.py" --typed)
expect_eq "stats --prometheus: the format holds" "$?" 0
expect_eq "stats --prometheus: Redis's counters" \
    "$(sample 'cgicache_redis_errors_total{}') $(sample 'cgicache_redis_breaker_openings_total{}')" "$errors 1"
"$CC_TOOL" stats --reset >/dev/null
expect_eq "stats --reset: Redis's counters too" "$(field '#redis' redis_error)" 0

# What prom_check.py holds the format to.
for bad in 'x_total{a="\q"} 1' '# TYPE x_total counter
x_total -1' '# TYPE x counter
x 1' '# HELP x_total a counter
x_total 1'; do
    printf '%s\n' "$bad" | python3 "$TOP/tests/integration/prom_check.py" --typed >/dev/null 2>&1 &&
        not_ok "prom_check.py takes what the format forbids: $bad" || ok "prom_check.py refuses: $(printf '%s' "$bad" | tr '\n' '|')"
done
finish
