#!/bin/bash
# t_purge.sh -- soft purges (`cgicache purge --soft`, X-Cache-Purge-Soft)
# serve the old page STALE while one request refreshes it, then the new
# one, whatever the route's stale=; prefix purges (`--prefix`,
# X-Cache-Purge-Prefix) purge exactly the URLs under a path, on every
# route that may cache one, in O(1) per route; the app's purge headers
# work on successful unsafe requests only and never reach the client.
# Through nginx, in front of one app.
. "$(dirname "$0")/lib.sh"

start_redis
ROUTES=(CGICACHE_ROUTE_items='GET /items/* ttl=60'
        CGICACHE_ROUTE_blogs='GET /blogs/* ttl=60'
        CGICACHE_ROUTE_blog_list='GET /blogs ttl=60'
        CGICACHE_ROUTE_other='GET /other/* ttl=60'
        CGICACHE_ROUTE_cap='GET /cap/* ttl=60'
        CGICACHE_ROUTE_counted='GET /counted/* ttl=60 invalidates=cap'
        CGICACHE_ROUTE_writes='POST,PUT,DELETE /admin/*')
export "${ROUTES[@]}" CGICACHE_REDIS="$REDIS_URL"
start_app app 1 "$TESTAPP" "${ROUTES[@]}"
start_nginx app

DATA=$TMP/app.count.data
data() { printf '%s' "$1" >"$DATA"; }
get() { curl_get -H 'Host: localhost' "http://127.0.0.1:$NGINX_PORT$1"; }
post() { curl_get -X POST -H 'Host: localhost' "http://127.0.0.1:$NGINX_PORT$1"; }
# kind RESPONSE: near for a hit from the worker's memory, else the status.
kind() {
    case "$(header_of "$1" Cache-Status)" in
    *"; detail=near"*) echo near ;;
    *) status_of "$1" ;;
    esac
}
# The status of a GET, a hit from memory counted as a HIT.
st() { status_of "$(get "$1")"; }
# "<status> <data>" of a GET.
seen() {
    local r
    r=$(get "$1")
    echo "$(status_of "$r") $(body_of "$r" | sed -n 's/.*data=\([a-z0-9]*\).*/\1/p')"
}
# until_fresh URL: GETs until the answer is a HIT (the refresh landed),
# for 3 s at most; prints the last "<kind> <data>".
until_fresh() {
    local s _
    for _ in $(seq 60); do
        s=$(seen "$1")
        case "$s" in HIT*) break ;; esac
        sleep 0.05
    done
    echo "$s"
}
purge() { "$CC_TOOL" purge "$@"; }

# --- soft purge of a URL: STALE (old page) while refreshed, then the new one.
data old
get /items/1 >/dev/null
expect_eq "stored: a HIT of the old page" "$(seen /items/1)" "HIT old"
data new
expect_eq "purge --soft --url counts what it marks" "$(purge --soft --url http://localhost/items/1)" \
    "1 entry marked stale"
expect_eq "soft purge, route stale=0: the old page is served STALE" "$(seen /items/1)" "STALE old"
expect_eq "... and refreshed once: then the new page, fresh" "$(until_fresh /items/1)" "HIT new"
expect_eq "the refresh ran the app once" "$(grep -c 'GET /items/1$' "$TMP/app.count")" 2

# --- twice in a row, then once more after a refresh.
data v1
purge --soft --url http://localhost/items/1 >/dev/null
purge --soft --url http://localhost/items/1 >/dev/null
expect_eq "soft purge twice: still STALE" "$(seen /items/1)" "STALE new"
expect_eq "... then fresh" "$(until_fresh /items/1)" "HIT v1"

# --- a soft purge, then a hard one (an app's PUT bumps the URL's
# generation and removes nothing): the old page is no longer served at all.
purge --soft --url http://localhost/items/1 >/dev/null
data v2
curl_get -X PUT -H 'Host: localhost' "http://127.0.0.1:$NGINX_PORT/items/1" >/dev/null
expect_eq "soft then hard: a MISS, never the old page STALE" "$(seen /items/1)" "MISS v2"

# --- the refresh fails: the old page stays served STALE, not the error.
expect_eq "stored again" "$(seen /items/1)" "HIT v2"
purge --soft --url http://localhost/items/1 >/dev/null
touch "$TMP/app.count.fail"
r1=$(seen /items/1)
sleep 0.2
r2=$(seen /items/1)
rm -f "$TMP/app.count.fail"
expect_eq "soft purge, the app failing: STALE" "$r1" "STALE v2"
expect_eq "... and STALE again after the refresh failed (its 500 never stored)" "$r2" "STALE v2"
data v3
expect_eq "... the app back: fresh" "$(until_fresh /items/1)" "HIT v3"

# --- a GET computing when the soft purge comes lands stale, not fresh.
data slow1
get "/items/slow?sleep_ms=700" >"$TMP/slow.out" &
slow=$!
sleep 0.3
data slow2
purge --soft --url http://localhost/items/slow >/dev/null
wait $slow
expect_contains "a GET in flight computed the old page" "$(cat "$TMP/slow.out")" "data=slow1"
expect_eq "... which landed STALE, not as a HIT" "$(seen "/items/slow?sleep_ms=700")" "STALE slow1"
expect_eq "... then refreshed" "$(until_fresh "/items/slow?sleep_ms=700")" "HIT slow2"

# --- soft purge of a route and of everything.
data r1
get /items/a >/dev/null; get /items/b >/dev/null; get /other/a >/dev/null
data r2
expect_eq "purge --soft --route counts the route's entries" \
    "$(purge --soft --route items)" "4 entries marked stale"
expect_eq "... they are STALE" "$(seen /items/a)" "STALE r1"
expect_eq "... another route's are not" "$(seen /other/a)" "HIT r1"
expect_eq "... refreshed, fresh" "$(until_fresh /items/a)" "HIT r2"
out=$(purge --soft --all --json)
expect_contains "purge --soft --all --json" "$out" '"stale": '
expect_eq "... every route STALE" "$(seen /other/a)" "STALE r1"

# --- tags: soft, then hard; a tag's entries only.
data t1
for u in "/items/t1?tags=red" "/items/t2?tags=red,blue" "/items/t3?tags=blue"; do get "$u" >/dev/null; done
data t2
expect_eq "purge --soft --tag" "$(purge --soft --tag red)" "2 entries marked stale"
expect_eq "... a tagged entry is STALE" "$(seen "/items/t2?tags=red,blue")" "STALE t1"
expect_eq "... an entry without the tag is not" "$(seen "/items/t3?tags=blue")" "HIT t1"
expect_eq "purge --tag after it (hard)" "$(purge --tag red)" "2 entries removed"
expect_eq "... no longer served at all" "$(seen "/items/t1?tags=red")" "MISS t2"

# --- the near cache never serves a soft-purged entry as fresh.
data n1
get /other/near >/dev/null
for _ in $(seq 20); do [ "$(kind "$(get /other/near)")" = near ] && break; sleep 0.05; done
expect_eq "an entry served from the worker's memory" "$(kind "$(get /other/near)")" near
data n2
purge --soft --url http://localhost/other/near >/dev/null
sleep 0.1
expect_eq "soft-purged: STALE, not a near hit" "$(seen /other/near)" "STALE n1"

# --- prefix purges: exactly the URLs under the path.
warm_blogs() {
    local u
    for u in /blogs/a /blogs/a/1 /blogs/a/2 "/blogs/a/1?x=1" /blogs/a/b/c /blogs/ab /blogs/ab/1 \
        /blogs /other/a/1; do get "$u" >/dev/null; done
}
under=(/blogs/a /blogs/a/1 /blogs/a/2 "/blogs/a/1?x=1" /blogs/a/b/c)
beside=(/blogs/ab /blogs/ab/1 /blogs /other/a/1)
# after_prefix LABEL: checks that every URL under /blogs/a misses and
# every other one hits.
after_prefix() {
    local u wrong=""
    for u in "${under[@]}"; do [ "$(st "$u")" = MISS ] || wrong="$wrong $u"; done
    expect_eq "$1: every URL under /blogs/a is a MISS" "$wrong" ""
    wrong=""
    for u in "${beside[@]}"; do [ "$(st "$u")" = HIT ] || wrong="$wrong $u"; done
    expect_eq "$1: no other is (/blogs/ab, /blogs, other routes)" "$wrong" ""
}
warm_blogs
expect_eq "purge --prefix removes the entries under it" \
    "$(purge --prefix http://localhost/blogs/a)" "5 entries removed"
after_prefix "purge --prefix"
warm_blogs
# The same through the app's header, which removes nothing: the
# generation alone hides them.
r=$(post "/admin/save?pprefix=/blogs/a")
expect_eq "X-Cache-Purge-Prefix never reaches the client" "$(header_of "$r" X-Cache-Purge-Prefix)" ""
after_prefix "X-Cache-Purge-Prefix"
warm_blogs
purge --prefix http://other.example/blogs/a >/dev/null
expect_eq "a prefix purge applies to every host of the route" "$(st /blogs/a/1)" MISS
warm_blogs
purge --prefix http://localhost/blogs/a/ >/dev/null
expect_eq "a prefix with a trailing '/' covers what is under it" "$(st /blogs/a/1)" MISS
expect_eq "... not the path itself" "$(st /blogs/a)" HIT
warm_blogs
purge --prefix http://localhost/blogs >/dev/null
expect_eq "/blogs purges the blog_list route (/blogs)" "$(st /blogs)" MISS
expect_eq "... and the blogs route (/blogs/*)" "$(st /blogs/ab)" MISS
expect_eq "... not another route" "$(st /other/a/1)" HIT
warm_blogs
purge --prefix http://localhost/ >/dev/null
expect_eq "a prefix of / purges every route" "$(st /other/a/1)" MISS
warm_blogs
purge --prefix http://localhost/other/ >/dev/null
expect_eq "the root of another route purges that route" "$(st /other/a/1)" MISS
expect_eq "... and nothing of this one" "$(st /blogs/a/1)" HIT

# --- soft prefix purge.
warm_blogs
data p2
purge --soft --prefix http://localhost/blogs/a >/dev/null
expect_eq "purge --soft --prefix: STALE under it" "$(st /blogs/a/2)" STALE
expect_eq "... not beside it" "$(st /blogs/ab)" HIT
expect_contains "... refreshed" "$(until_fresh /blogs/a/2)" HIT

# --- prefixes refused: nothing purged, usage error.
warm_blogs
for bad in http://localhost/blogs/x/../a "http://localhost/blogs/%2e%2e/blogs/a" \
    http://localhost//blogs/a "http://localhost/blogs%2Fa" "http://localhost/blogs/a?x=1" \
    http://localhost blogs/a ""; do
    purge --prefix "$bad" >/dev/null 2>&1
    rc=$?
    [ "$rc" = 2 ] && ok "prefix '$bad' refused (2)" || not_ok "prefix '$bad' exit $rc, want 2"
done
expect_eq "... nothing purged by them" "$(st /blogs/a/1)" HIT
long=/blogs/a/$(printf 'x%.0s' $(seq 600))
out=$(purge --prefix "http://localhost$long" 2>&1)
expect_eq "a very long prefix is cut at a '/', purging more" "$?:$(st /blogs/a/1)" "0:MISS"
expect_eq "... not what is beside it" "$(st /blogs/ab)" HIT
purge --prefix http://localhost/nowhere/x >/dev/null 2>&1
expect_eq "a prefix no route caches under: exit 1" "$?" 1

# --- many prefix purges: past the bound the route starts afresh, and
# nothing purged comes back.  The app's header removes no entry, so an
# entry stored before the first purge is still in Redis for the last look.
purge --route cap >/dev/null      # from here, no record covers /cap/m/1
data m1
get /cap/m/1 >/dev/null
get /other/m >/dev/null
data m2
post "/admin/save?pprefix=/cap/m" >/dev/null
for i in $(seq 40); do post "/admin/save?pprefix=/cap/p$i" >/dev/null; done
expect_eq "40 prefix purges later, the first one's page is still not served" "$(seen /cap/m/1)" "MISS m2"
len=$(rcli STRLEN 'cgicache:#gen:cap')
[ "$len" -le 4096 ] && ok "the route generation stays bounded ($len bytes)" || not_ok "route generation $len bytes"
expect_eq "... other routes untouched" "$(seen /other/m)" "HIT m1"

# --- the app's purge headers.
data h1
for u in "/items/h1?tags=green" "/items/h2?tags=green" "/items/h3"; do get "$u" >/dev/null; done
data h2
r=$(get "/items/h3?ptags=green")
expect_eq "a GET's purge headers are stripped" "$(header_of "$r" X-Cache-Purge-Tags)" ""
expect_eq "... and purge nothing" "$(seen "/items/h1?tags=green")" "HIT h1"
# Even a GET the library follows to purge (its route has invalidates=).
r=$(get "/counted/x?ptags=green")
expect_eq "a followed GET's purge headers are stripped" "$(header_of "$r" X-Cache-Purge-Tags)" ""
expect_eq "... and purge nothing" "$(seen "/items/h1?tags=green")" "HIT h1"
r=$(post "/admin/save?ptags=green&fail=1")
expect_eq "a failed POST's purge headers purge nothing" "$(seen "/items/h1?tags=green")" "HIT h1"
# The worker that runs the purge is not told of its own writes by Redis
# (tracking skips them): it forgets what the purge may touch itself.
for _ in $(seq 20); do [ "$(kind "$(get "/items/h2?tags=green")")" = near ] && break; sleep 0.05; done
expect_eq "a tagged entry served from the worker's memory" "$(kind "$(get "/items/h2?tags=green")")" near
r=$(post "/admin/save?ptags=green&psoft=1")
expect_eq "X-Cache-Purge-Tags never reaches the client" "$(header_of "$r" X-Cache-Purge-Tags)" ""
expect_eq "... nor X-Cache-Purge-Soft" "$(header_of "$r" X-Cache-Purge-Soft)" ""
expect_eq "X-Cache-Purge-Tags with X-Cache-Purge-Soft: STALE" "$(seen "/items/h2?tags=green")" "STALE h1"
expect_eq "... the untagged entry kept" "$(seen /items/h3)" "HIT h1"
until_fresh "/items/h1?tags=green" >/dev/null
post "/admin/save?ptags=green" >/dev/null
expect_eq "X-Cache-Purge-Tags: a MISS" "$(seen "/items/h1?tags=green")" "MISS h2"
# A POST no route of its own covers, to a URL a GET route caches: followed
# only to purge, and its purge headers all the same.
until_fresh "/items/h1?tags=green" >/dev/null
r=$(post "/items/new?ptags=green")
expect_eq "a POST followed only to purge: its header stripped" "$(header_of "$r" X-Cache-Purge-Tags)" ""
expect_eq "... and followed" "$(seen "/items/h1?tags=green")" "MISS h2"
r=$(post "/admin/save?pprefix=/items/../etc")
expect_eq "a malformed prefix is ignored, the request answered" "$(body_of "$r" | grep -c uri=)" 1
expect_eq "... nothing purged" "$(seen /items/h3)" "HIT h1"
grep -q "cannot\|AddressSanitizer" "$TMP/app.log" && not_ok "app log: $(head -3 "$TMP/app.log")" || ok "the app logged no failure"
finish
