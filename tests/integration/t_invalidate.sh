#!/bin/bash
# t_invalidate.sh -- invalidation declared in configuration and driven by
# what the app answers: invalidates=, the RFC 9111 unsafe-method rule,
# tags, every `cgicache purge` form, across two pools sharing one Redis.
. "$(dirname "$0")/lib.sh"

start_redis
ROUTES=(CGICACHE_ROUTE_blogs='GET /blogs/* ttl=60'
        CGICACHE_ROUTE_blog_list='GET /blogs ttl=60'
        CGICACHE_ROUTE_blog_edit='POST,PUT,DELETE /blogs/* invalidates=blogs,blog_list'
        CGICACHE_ROUTE_items='GET /items/* ttl=60'
        CGICACHE_ROUTE_other='GET /other/* ttl=60')
start_app app 2 "$TESTAPP" "${ROUTES[@]}"
start_app pool2 2 "$TESTAPP" "${ROUTES[@]}"
export "${ROUTES[@]}" CGICACHE_REDIS="$REDIS_URL"

warm() { local u; for u in "$@"; do fcgi app GET "$u" >/dev/null; done; }

warm /blogs/7 /blogs /other/1
r=$(fcgi app POST /blogs/7)
expect_eq "the POST itself is a BYPASS" "$(status_of "$r")" BYPASS
expect_eq "POST invalidates=blogs: GET /blogs/7 is a MISS" "$(status_of "$(fcgi app GET /blogs/7)")" MISS
expect_eq "... and GET /blogs (blog_list) is a MISS" "$(status_of "$(fcgi app GET /blogs)")" MISS
expect_eq "... another route still HITs" "$(status_of "$(fcgi app GET /other/1)")" HIT
expect_eq "... in the other pool too" "$(status_of "$(fcgi pool2 GET /blogs/7)")" HIT

# A failed mutation purges nothing.
fcgi app POST "/blogs/7?fail=1" >/dev/null
expect_eq "a failed POST purges nothing" "$(status_of "$(fcgi app GET /blogs/7)")" HIT

# RFC 9111 4.4: an undeclared unsafe request purges its own URL.
warm /items/3 "/items/3?page=2" /items/4
r=$(fcgi app PUT /items/3)
expect_eq "a PUT to an uncached method is not labelled" "$(status_of "$r")" ""
expect_eq "PUT /items/3: GET /items/3 is a MISS" "$(status_of "$(fcgi app GET /items/3)")" MISS
expect_eq "... every variant of it" "$(status_of "$(fcgi app GET "/items/3?page=2")")" MISS
expect_eq "... not /items/4" "$(status_of "$(fcgi app GET /items/4)")" HIT
fcgi app PUT "/items/4?fail=1" >/dev/null
expect_eq "a failed PUT (500) purges nothing" "$(status_of "$(fcgi app GET /items/4)")" HIT
warm /items/9
fcgi app POST "/items/new?location=http://localhost/items/9&status=201" >/dev/null
expect_eq "Location on the same host is purged" "$(status_of "$(fcgi app GET /items/9)")" MISS
warm /items/9
fcgi app POST "/items/new?location=http://elsewhere.example/items/9&status=201" >/dev/null
expect_eq "Location on another host is not" "$(status_of "$(fcgi app GET /items/9)")" HIT

# Fleet-wide at once: a purge through one pool is seen by the other.
warm /items/5
fcgi pool2 GET /items/5 >/dev/null
fcgi pool2 DELETE /items/5 >/dev/null
expect_eq "a DELETE through pool2 is seen by pool1" "$(status_of "$(fcgi app GET /items/5)")" MISS

# The race: GETs computing while a PUT changes the data must not leave
# the old body cached once the PUT has completed.
# Four workers: one computes from the old data, two wait for it, and the
# PUT completes on the fourth while the first is still computing.
start_app race 4 "$TESTAPP" "${ROUTES[@]}"
fcgi race PUT "/items/r?set=old" >/dev/null
pids=()
for i in $(seq 3); do fcgi race GET "/items/r?sleep_ms=600" >"$TMP/race.out.$i" & pids+=($!); done
sleep 0.2
fcgi race PUT "/items/r?set=new" >/dev/null
wait "${pids[@]}"
expect_contains "a GET in flight computed from the old data" "$(cat "$TMP"/race.out.*)" "data=old"
stale=0
for i in $(seq 10); do
    case "$(fcgi race GET "/items/r?sleep_ms=600")" in *data=old*) stale=$((stale + 1)) ;; esac
done
expect_eq "after the PUT completed, no GET returns the old body" "$stale" 0

# Hit path stays one round trip: MONITOR counts the commands of one hit.
warm /other/rt
rcli MONITOR >"$TMP/monitor" 2>/dev/null &
mon=$!
sleep 0.3
fcgi app GET /other/rt >/dev/null
sleep 0.3
kill $mon 2>/dev/null
# (The near cache's heartbeat, a PING on a connection of its own once a
# second, is not the hit's.)
expect_eq "a hit from Redis is one command (MGET entry + generations)" \
    "$(grep '"' "$TMP/monitor" | grep -v '"HINCRBY"' | grep -vc '"PING"' | tr -d ' ')" 1
expect_eq "... and it is the MGET" "$(grep -c '"MGET"' "$TMP/monitor" | tr -d ' ')" 1

# Tags.
warm "/items/t1?tags=red,blue" "/items/t2?tags=blue" /items/t3
out=$("$CC_TOOL" purge --tag blue)
expect_eq "purge --tag counts its entries" "$out" "2 entries removed"
expect_eq "tagged entry purged" "$(status_of "$(fcgi app GET "/items/t1?tags=red,blue")")" MISS
expect_eq "untagged entry kept" "$(status_of "$(fcgi app GET /items/t3)")" HIT
r=$(fcgi app GET "/items/t1?tags=red,blue")
expect_eq "the tags header never reaches the client" "$(header_of "$r" X-Cache-Tags)" ""

# cgicache purge --route / --url / --all.
"$CC_TOOL" purge --route blogs >/dev/null
warm /blogs/1 /blogs/2 /other/a
expect_eq "purge --route" "$("$CC_TOOL" purge --route blogs)" "2 entries removed"
expect_eq "... GET /blogs/1 MISS" "$(status_of "$(fcgi app GET /blogs/1)")" MISS
expect_eq "... other route kept" "$(status_of "$(fcgi app GET /other/a)")" HIT
warm "/other/u?x=1" "/other/u?x=2" /other/uu
expect_eq "purge --url removes every variant" "$("$CC_TOOL" purge --url http://localhost/other/u)" "2 entries removed"
expect_eq "... a variant is a MISS" "$(status_of "$(fcgi pool2 GET "/other/u?x=2")")" MISS
expect_eq "... a longer path is kept" "$(status_of "$(fcgi app GET /other/uu)")" HIT
n=$("$CC_TOOL" purge --all --json)
expect_contains "purge --all --json" "$n" '"ok": true'
expect_eq "... everything is a MISS" "$(status_of "$(fcgi app GET /other/uu)")" MISS
"$CC_TOOL" purge --route blogs >/dev/null 2>&1 </dev/null
CGICACHE_REDIS=redis://127.0.0.1:1/0 "$CC_TOOL" purge --all >/dev/null 2>&1
expect_eq "purge exits 1 when Redis is unreachable" "$?" 1
"$CC_TOOL" purge >/dev/null 2>&1
expect_eq "purge without a target is a usage error" "$?" 2
finish
