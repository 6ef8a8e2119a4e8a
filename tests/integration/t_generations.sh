#!/bin/bash
# t_generations.sh -- a purge generation that Redis loses (evicted, deleted,
# gone with a restart) never brings back what it purged: an entry is
# served only while the generations it was computed under are there.
# Eviction is simulated with DEL.
. "$(dirname "$0")/lib.sh"

start_redis
ROUTES=(CGICACHE_ROUTE_items='GET /items/* ttl=60'
        CGICACHE_ROUTE_blogs='GET /blogs/* ttl=60'
        CGICACHE_ROUTE_blog_edit='POST /blogs/* invalidates=blogs')
start_app app 1 "$TESTAPP" "${ROUTES[@]}"
export "${ROUTES[@]}" CGICACHE_REDIS="$REDIS_URL"

gens() { rcli --scan --pattern "cgicache:#gen:$1*"; }
del_gens() { gens "$1" | while read -r k; do rcli DEL "$k" >/dev/null; done; }

# A URL purge (RFC 9111: a PUT), then its URL generation is lost.  The
# app's data is set through another URL, so /items/1 is stored before it
# ever had a generation.
fcgi app PUT "/items/x?set=old" >/dev/null
fcgi app GET /items/1 >/dev/null
expect_contains "stored from the old data" "$(fcgi app GET /items/1)" "data=old"
fcgi app PUT "/items/1?set=new" >/dev/null
del_gens items:
r=$(fcgi app GET /items/1)
expect_contains "URL generation lost after a PUT: the purged page is not served" "$r" "data=new"
expect_eq "... it is a MISS" "$(status_of "$r")" MISS
expect_eq "... and the new page is cached" "$(status_of "$(fcgi app GET /items/1)")" HIT

# A route purge (invalidates=), then the route generation is lost.
fcgi app PUT "/items/x?set=old" >/dev/null
fcgi app GET /blogs/1 >/dev/null
expect_contains "blogs/1 stored from the old data" "$(fcgi app GET /blogs/1)" "data=old"
fcgi app POST "/blogs/1?set=new" >/dev/null
del_gens blogs
r=$(fcgi app GET /blogs/1)
expect_contains "route generation lost after a purge: the purged page is not served" "$r" "data=new"
expect_eq "... it is a MISS" "$(status_of "$r")" MISS

# Both lost at once, as after a restart without persistence of those keys.
fcgi app GET /blogs/2 >/dev/null
fcgi app POST "/blogs/2?set=newer" >/dev/null
del_gens blogs
expect_contains "both generations lost: the purged page is not served" "$(fcgi app GET /blogs/2)" "data=newer"

# Lost without a purge: a miss, then cached again.
fcgi app GET /items/7 >/dev/null
expect_eq "an entry is cached" "$(status_of "$(fcgi app GET /items/7)")" HIT
del_gens items
expect_eq "its generations lost: a MISS (fail closed)" "$(status_of "$(fcgi app GET /items/7)")" MISS
expect_eq "... then cached again" "$(status_of "$(fcgi app GET /items/7)")" HIT

# The store creates the generations: the route's forever, the URL's for
# longer than any entry lives.
rcli FLUSHALL >/dev/null
fcgi app GET /items/9 >/dev/null
expect_eq "a first store creates the route generation, without expiry" "$(rcli PTTL 'cgicache:#gen:items')" -1
ttl=$(rcli PTTL "$(gens items: | head -1)")
[ "${ttl:-0}" -gt $((7 * 86400 * 1000)) ] && ok "... and the URL generation, outliving any entry ($ttl ms)" ||
    not_ok "... URL generation PTTL '$ttl'"
expect_eq "... and the entry is served" "$(status_of "$(fcgi app GET /items/9)")" HIT

# A purge Redis refuses (here an ACL; a full noeviction Redis does the
# same) is not silently lost: the worker logs it, and deletes the
# generation instead, which purges just the same.
rcli ACL SETUSER default -set >/dev/null
fcgi app PUT /items/9 >/dev/null
r=$(fcgi app GET /items/9)
rcli ACL SETUSER default +set >/dev/null
grep -q "purge of cgicache:#gen:items:.* refused by redis: NOPERM" "$TMP/app.log" &&
    ok "a refused purge is logged" || not_ok "a refused purge is not logged"
expect_eq "... and purges all the same (the generation deleted)" "$(status_of "$r")" MISS
finish
