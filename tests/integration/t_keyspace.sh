#!/bin/bash
# t_keyspace.sh -- routes named like cgicache's own keys (stats, tag, gen,
# lock, fill) live beside the others; a purge removes entries and only
# entries; a URL cannot take another URL's lock; `cgicache purge` exits 1
# when any of its writes is refused.
. "$(dirname "$0")/lib.sh"

start_redis
ROUTES=(CGICACHE_ROUTE_stats='GET /s/* ttl=60' CGICACHE_ROUTE_tag='GET /t/* ttl=60'
        CGICACHE_ROUTE_gen='GET /g/* ttl=60' CGICACHE_ROUTE_lock='GET /l/* ttl=60'
        CGICACHE_ROUTE_fill='GET /f/* ttl=60' CGICACHE_ROUTE_pages='GET /p/* ttl=60')
start_app app 1 "$TESTAPP" "${ROUTES[@]}" CGICACHE_LOCK_WAIT=1s
export "${ROUTES[@]}" CGICACHE_REDIS="$REDIS_URL"

warm() { local u; for u in "$@"; do fcgi app GET "$u" >/dev/null; done; }
hits_of() {
    "$CC_TOOL" stats --json | python3 -c 'import json,sys; print([r for r in json.load(sys.stdin) if r["route"]==sys.argv[1]][0]["hit"])' "$1"
}

warm "/p/1?tags=red" /p/2 /s/1 /t/1 /g/1 /l/1 /f/1
warm "/p/1?tags=red" /p/2 /s/1 /t/1 /g/1 /l/1 /f/1
sleep 1.1
warm /p/flush                      # carries the counters
[ "$(hits_of pages)" -ge 2 ] && ok "stats: pages counted" || not_ok "stats: pages not counted ($(hits_of pages))"

expect_eq "purge --route stats: its one entry" "$("$CC_TOOL" purge --route stats)" "1 entry removed"
[ "$(hits_of pages)" -ge 2 ] && ok "... the counters of other routes stay" ||
    not_ok "... purge --route stats deleted other routes' counters ($(hits_of pages))"
expect_eq "purge --route tag: its one entry" "$("$CC_TOOL" purge --route tag)" "1 entry removed"
expect_eq "... the tag sets stay: purge --tag red still finds its entry" "$("$CC_TOOL" purge --tag red)" "1 entry removed"
for r in gen lock fill; do
    expect_eq "purge --route $r: its one entry" "$("$CC_TOOL" purge --route $r)" "1 entry removed"
done
expect_eq "... pages untouched" "$(status_of "$(fcgi app GET /p/2)")" HIT

# A URL whose entry key would be another URL's lock key.
warm "/p/x:lock" "/p/x:lock" "/p/x:fill"
start=$(date +%s%N)
warm /p/x
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -lt 900 ] && ok "/p/x is not held by the entry of /p/x:lock ($ms ms)" ||
    not_ok "/p/x waited $ms ms for a lock that is another URL's entry"
expect_eq "... and /p/x is cached" "$(status_of "$(fcgi app GET /p/x)")" HIT
expect_eq "... and so is /p/x:lock" "$(status_of "$(fcgi app GET "/p/x:lock")")" HIT

# --all: entries only; counters, generations and tag sets are not entries.
warm "/p/3?tags=blue"
n=$("$CC_TOOL" purge --all)
expect_contains "purge --all" "$n" "removed"
[ "$(hits_of pages)" -ge 2 ] && ok "purge --all keeps the counters" || not_ok "purge --all deleted the counters"
expect_eq "... every entry is gone" "$(rcli --scan --pattern 'cgicache:[a-z]*:{*}GET:*' | wc -l | tr -d ' ')" 0
expect_eq "... /p/2 is a MISS" "$(status_of "$(fcgi app GET /p/2)")" MISS

# A route name that is not one is a usage error, not a SCAN of other keys.
"$CC_TOOL" purge --route '#stats' >/dev/null 2>&1
expect_eq "purge --route with a name no route can have: usage error" "$?" 2

# Refused writes: the purge is not done, and the tool says so.
warm /p/4
rcli ACL SETUSER default -set >/dev/null
"$CC_TOOL" purge --route pages >"$TMP/out" 2>&1
expect_eq "purge --route with SET refused exits 1" "$?" 1
expect_contains "... and says why" "$(cat "$TMP/out")" "NOPERM"
"$CC_TOOL" purge --url http://localhost/p/4 >/dev/null 2>&1
expect_eq "purge --url with SET refused exits 1" "$?" 1
"$CC_TOOL" purge --all >/dev/null 2>&1
expect_eq "purge --all with SET refused exits 1" "$?" 1
rcli ACL SETUSER default +set -unlink >/dev/null
warm /p/4
"$CC_TOOL" purge --route pages >/dev/null 2>&1
expect_eq "purge --route with UNLINK refused exits 1" "$?" 1
"$CC_TOOL" purge --tag red >/dev/null 2>&1
expect_eq "purge --tag with UNLINK refused exits 1" "$?" 1
rcli ACL SETUSER default +unlink >/dev/null
"$CC_TOOL" purge --route pages >/dev/null 2>&1
expect_eq "purge --route with everything allowed exits 0" "$?" 0
finish
