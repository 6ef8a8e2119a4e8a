#!/bin/bash
# t_fcgi.sh -- the FastCGI adapter end to end: a real redis-server, the
# unchanged test app under spawn-fcgi with the library preloaded, and
# cgi-fcgi / nginx + curl as the clients.
. "$(dirname "$0")/lib.sh"

start_redis
start_app app 2 "$TESTAPP" \
    CGICACHE_ROUTE_cached='GET /cached/* ttl=60' \
    CGICACHE_ROUTE_vary='GET /vary/* ttl=60 vary=X-Lang' \
    CGICACHE_ROUTE_some='GET /some/* ttl=60 query=a,b' \
    CGICACHE_ROUTE_jar='GET /jar/* ttl=60 cookies=ignore' \
    CGICACHE_ROUTE_errors='GET /errors/* ttl=60 status=200,404' \
    CGICACHE_MAX_SIZE=64k

# MISS, then HIT with Age and the very same body, the app not run again.
r1=$(fcgi app GET /cached/a)
r2=$(fcgi app GET /cached/a)
expect_eq "first request is a MISS" "$(status_of "$r1")" MISS
expect_eq "Cache-Status says stored" "$(header_of "$r1" Cache-Status)" "cgicache; fwd=uri-miss; stored"
expect_eq "second request is a HIT" "$(status_of "$r2")" HIT
expect_eq "HIT carries Age" "$(header_of "$r2" Age)" 0
expect_contains "HIT carries RFC 9211 Cache-Status" "$(header_of "$r2" Cache-Status)" "cgicache; hit; ttl="
expect_eq "HIT body is the MISS body" "$(body_of "$r2")" "$(body_of "$r1")"
expect_eq "the app ran once" "$(runs_of app)" 1

# Unconfigured routes pass through untouched.
r=$(fcgi app GET /other)
expect_eq "no status header off-route" "$(status_of "$r")" ""
fcgi app GET /other >/dev/null
expect_eq "off-route requests always run" "$(runs_of app)" 3

# Requests that neither read nor write the cache.
r=$(fcgi app GET /cached/a HTTP_X_CACHE_BYPASS=1)
expect_eq "bypass header" "$(status_of "$r")" BYPASS
expect_eq "bypass Cache-Status" "$(header_of "$r" Cache-Status)" "cgicache; fwd=bypass"
r=$(fcgi app GET /cached/a HTTP_CACHE_CONTROL=no-cache)
expect_eq "client no-cache" "$(status_of "$r")" NO_CACHE
r=$(fcgi app GET /cached/a HTTP_PRAGMA=no-cache)
expect_eq "client Pragma: no-cache" "$(status_of "$r")" NO_CACHE
r=$(fcgi app GET /cached/a HTTP_COOKIE=session=1)
expect_eq "a Cookie makes the request private" "$(status_of "$r")" BYPASS
r=$(fcgi app GET /cached/a HTTP_AUTHORIZATION='Basic eDp5')
expect_eq "Authorization makes the request private" "$(status_of "$r")" BYPASS
r=$(fcgi app GET /cached/a HTTP_X_FORWARDED_HOST=evil.example)
expect_eq "an uncovered forwarding header bypasses" "$(status_of "$r")" BYPASS
expect_eq "the entry is untouched by all of them" "$(status_of "$(fcgi app GET /cached/a)")" HIT
r=$(fcgi app GET /jar/a HTTP_COOKIE=x=1); r=$(fcgi app GET /jar/a HTTP_COOKIE=x=2)
expect_eq "cookies=ignore caches despite Cookie" "$(status_of "$r")" HIT

# HEAD is served from the GET entry, without a body.
r=$(fcgi app HEAD /cached/a)
expect_eq "HEAD after GET is a HIT" "$(status_of "$r")" HIT
expect_eq "HEAD has no body" "$(body_of "$r")" ""

# What is never stored.
for q in cookie=1 cc=private cc=no-store xae=0 status=404 fail=1 cc=max-age%3D0; do
    fcgi app GET "/cached/n?$q" >/dev/null
    expect_eq "not stored: $q" "$(status_of "$(fcgi app GET "/cached/n?$q")")" MISS
done
fcgi app GET "/errors/x?status=404" >/dev/null
expect_eq "status=200,404 stores a 404" "$(status_of "$(fcgi app GET "/errors/x?status=404")")" HIT
r=$(fcgi app GET "/cached/cookie?cookie=1")
expect_contains "Set-Cookie reaches the client on a MISS" "$r" "Set-Cookie: session="

# Expiry headers override the route's TTL (one wait for all of them).
for q in xae=1 maxage=1 cc=s-maxage%3D1; do
    fcgi app GET "/cached/short?$q" >/dev/null
    expect_eq "$q is stored" "$(status_of "$(fcgi app GET "/cached/short?$q")")" HIT
done
fcgi app GET "/cached/short?maxage=0" >/dev/null
expect_eq "max-age=0 is not stored" "$(status_of "$(fcgi app GET "/cached/short?maxage=0")")" MISS
sleep 1.1
for q in xae=1 maxage=1 cc=s-maxage%3D1; do
    expect_eq "... $q expires after 1 s" "$(status_of "$(fcgi app GET "/cached/short?$q")")" MISS
done

# A HIT is the stored bytes, not a rerun: a random body comes back as it was.
r1=$(fcgi app GET "/cached/rand?plain=1&rand=1"); r2=$(fcgi app GET "/cached/rand?plain=1&rand=1")
expect_eq "random body: HIT" "$(status_of "$r2")" HIT
expect_eq "random body: the HIT repeats it" "$(body_of "$r2")" "$(body_of "$r1")"
expect_ne "random body: a bypassing run differs" \
    "$(body_of "$(fcgi app GET "/cached/rand?plain=1&rand=1" HTTP_X_CACHE_BYPASS=1)")" "$(body_of "$r1")"

# Bodies: large and compressed, byte by byte identical; over MAX_SIZE not stored.
r1=$(fcgi app GET "/cached/big?size=60000")
r2=$(fcgi app GET "/cached/big?size=60000")
expect_eq "a compressed HIT" "$(status_of "$r2")" HIT
expect_eq "compressed body identical" "$(body_of "$r2" | md5sum)" "$(body_of "$r1" | md5sum)"
expect_eq "the app's own bytes" "$(body_of "$r2" | tail -n +2 | md5sum)" \
    "$(body_of "$(fcgi app GET "/cached/big?size=60000" HTTP_X_CACHE_BYPASS=1)" | tail -n +2 | md5sum)"
stored=$(rcli --raw STRLEN "$(entry_key cached "http://localhost/cached/big?size=60000")")
[ "$stored" -lt 30000 ] && ok "body stored compressed ($stored bytes)" || not_ok "body stored compressed ($stored bytes)"
fcgi app GET "/cached/huge?size=70000" >/dev/null
expect_eq "over CGICACHE_MAX_SIZE: not stored" "$(status_of "$(fcgi app GET "/cached/huge?size=70000")")" MISS
n=$(fcgi app GET "/cached/huge?size=70000" | wc -c)
[ "$n" -gt 70000 ] && ok "over CGICACHE_MAX_SIZE: whole body sent ($n bytes)" || not_ok "over CGICACHE_MAX_SIZE: body cut ($n bytes)"

# Under the default CGICACHE_MAX_SIZE, a 200 kB body (compressed in Redis)
# comes back byte for byte as the app wrote it.
start_app wide 1 "$TESTAPP" CGICACHE_ROUTE_big='GET /big/* ttl=60'
fcgi wide GET "/big/b?plain=1&size=200000" >/dev/null
r=$(fcgi wide GET "/big/b?plain=1&size=200000")
expect_eq "200 kB: HIT" "$(status_of "$r")" HIT
expect_eq "200 kB: the HIT body is the app's" "$(body_of "$r" | md5sum)" \
    "$(body_of "$(fcgi wide GET "/big/b?plain=1&size=200000" HTTP_X_CACHE_BYPASS=1)" | md5sum)"
expect_eq "200 kB: the app ran twice (MISS, BYPASS)" "$(runs_of wide)" 2

# Requests that fail or are abandoned are never stored.
r=$(fcgi app GET "/cached/c?crash=1")
expect_contains "a crashing app's partial output reaches the client" "$r" "partial body"
expect_eq "a crash is not stored" "$(status_of "$(fcgi app GET "/cached/c?crash=1")")" MISS
fcgi app GET "/cached/e?exit=1" >/dev/null
expect_eq "an exit mid-response is not stored" "$(status_of "$(fcgi app GET "/cached/e?exit=1")")" MISS
before=$(runs_of app)
fcgi app GET "/cached/f?free=1" >/dev/null; fcgi app GET "/cached/f?free=1" >/dev/null
expect_eq "FCGX_Free without finish is not stored" "$(runs_of app)" $((before + 2))

r=$(fcgi app GET "/cached/fc?fclose=1")
expect_contains "early FCGX_FClose: the client gets what was written" "$r" "uri=/cached/fc"
expect_eq "early FCGX_FClose: not stored" "$(status_of "$(fcgi app GET "/cached/fc?fclose=1")")" MISS

# Heads: LF-only lines, Location without Status, slow bodies.
r1=$(fcgi app GET "/cached/lf?lf=1"); r2=$(fcgi app GET "/cached/lf?lf=1")
expect_eq "LF-only head is cached" "$(status_of "$r2")" HIT
expect_eq "LF-only head body" "$(body_of "$r2")" "$(body_of "$r1")"
fcgi app GET "/errors/l?location=/there&status=302" >/dev/null
r=$(fcgi app GET "/cached/redir?location=/there")
expect_eq "Location alone is a 302: not stored on a 200 route" "$(status_of "$(fcgi app GET "/cached/redir?location=/there")")" MISS
r1=$(fcgi app GET "/cached/slow?slowbody=1"); r2=$(fcgi app GET "/cached/slow?slowbody=1")
expect_eq "slow body is stored whole" "$(body_of "$r2")" "$(body_of "$r1")"

# Keys: sorted query, query lists, vary.
fcgi app GET "/cached/q?a=1&b=2" >/dev/null
expect_eq "query order does not matter" "$(status_of "$(fcgi app GET "/cached/q?b=2&a=1")")" HIT
expect_eq "another query value is another key" "$(status_of "$(fcgi app GET "/cached/q?a=1&b=3")")" MISS
fcgi app GET "/some/q?a=1&utm=x" >/dev/null
expect_eq "query=a,b ignores other parameters" "$(status_of "$(fcgi app GET "/some/q?a=1&utm=y")")" HIT
expect_eq "query=a,b keys on a" "$(status_of "$(fcgi app GET "/some/q?a=2&utm=y")")" MISS
expect_eq "a percent-encoded listed name is keyed" "$(status_of "$(fcgi app GET "/some/q?%61=3")")" MISS
fcgi app GET /vary/v HTTP_X_LANG=fr >/dev/null
expect_eq "vary: same header value hits" "$(status_of "$(fcgi app GET /vary/v HTTP_X_LANG=fr)")" HIT
expect_eq "vary: other value misses" "$(status_of "$(fcgi app GET /vary/v HTTP_X_LANG=de)")" MISS
fcgi app GET "/cached/vv?vary=Accept-Language" >/dev/null
expect_eq "Vary on an unkeyed header: not stored" "$(status_of "$(fcgi app GET "/cached/vv?vary=Accept-Language")")" MISS
fcgi app GET "/vary/vk?vary=X-Lang" HTTP_X_LANG=fr >/dev/null
expect_eq "Vary on a keyed header: stored" "$(status_of "$(fcgi app GET "/vary/vk?vary=X-Lang" HTTP_X_LANG=fr)")" HIT

# A request with a body is never served from the cache.
r=$(env -i REQUEST_METHOD=GET REQUEST_URI=/cached/a CONTENT_LENGTH=3 SERVER_NAME=localhost HTTP_HOST=localhost \
    GATEWAY_INTERFACE=CGI/1.1 timeout 10 cgi-fcgi -bind -connect "$TMP/app.sock" <<<"abc")
expect_eq "a GET with a body bypasses" "$(status_of "$r")" BYPASS

# Garbage in the key: a miss, the app answers.
rcli SET "$(entry_key cached http://localhost/cached/g)" 'not an entry' >/dev/null
r=$(fcgi app GET /cached/g)
expect_eq "garbage entry: MISS" "$(status_of "$r")" MISS
expect_contains "garbage entry: the app's body" "$r" "uri=/cached/g"
expect_eq "garbage entry replaced by a good one" "$(status_of "$(fcgi app GET /cached/g)")" HIT
key=$(entry_key cached http://localhost/cached/g)
rcli --raw GETRANGE "$key" 0 59 | head -c 60 >"$TMP/truncated"     # a truncated entry (binary: no $(...))
rcli -x SET "$key" <"$TMP/truncated" >/dev/null
r=$(fcgi app GET /cached/g)
expect_eq "truncated entry: MISS" "$(status_of "$r")" MISS
expect_contains "truncated entry: the app's body" "$r" "uri=/cached/g"
head -c 3000 /dev/urandom >"$TMP/random"
rcli -x SET "$key" <"$TMP/random" >/dev/null                         # random bytes
r=$(fcgi app GET /cached/g)
expect_eq "random bytes: MISS" "$(status_of "$r")" MISS
expect_contains "random bytes: the app's body" "$r" "uri=/cached/g"
rcli -x SET "$(entry_key cached http://localhost/cached/other)" <"$TMP/random" >/dev/null
fcgi app GET /cached/g >/dev/null
rcli COPY "$key" "$(entry_key cached http://localhost/cached/h)" >/dev/null   # an entry under another key
r=$(fcgi app GET /cached/h)
expect_eq "an entry stored under another key is never served" "$(status_of "$r")" MISS
expect_contains "... the app answers for its own URL" "$r" "uri=/cached/h"

# nginx + curl end to end.
start_nginx app
r1=$(curl_get "http://127.0.0.1:$NGINX_PORT/cached/web")
r2=$(curl_get "http://127.0.0.1:$NGINX_PORT/cached/web")
expect_contains "nginx: MISS" "$r1" "X-Cache-Status: MISS"
expect_contains "nginx: HIT" "$r2" "X-Cache-Status: HIT"
expect_contains "nginx: HIT is a 200" "$(printf '%s' "$r2" | head -1)" "200"

# A threaded app behind nginx: 40 concurrent clients, 4 URLs, every
# answer whole and right for its URL, one computation per URL.
start_app threaded 1 "$TOP/build/examples/threaded_app" CGICACHE_ROUTE_slow='GET /slow/* ttl=60' \
    CGICACHE_TIMEOUT=500ms CGICACHE_CONNECT_TIMEOUT=500ms
start_nginx threaded
pids=()
for i in $(seq 40); do
    curl_get "http://127.0.0.1:$NGINX_PORT/slow/$((i % 4))" >"$TMP/th.$i" 2>&1 & pids+=($!)
done
wait "${pids[@]}"
bad=0
for i in $(seq 40); do
    r=$(cat "$TMP/th.$i")
    case "$(printf '%s' "$r" | head -1)" in "HTTP/1.1 200"*) ;; *) bad=$((bad + 1)); echo "# bad answer $i: $r" ;; esac
    case "$(status_of "$(printf '%s' "$r" | tail -n +2)")" in HIT|MISS) ;; *) bad=$((bad + 1)) ;; esac
    [ "$(body_of "$r" | cut -d' ' -f1)" = "uri=/slow/$((i % 4))" ] || bad=$((bad + 1))
done
expect_eq "threaded behind nginx: 40 concurrent answers, each whole and right" "$bad" 0
expect_eq "threaded behind nginx: one computation per URL" "$(grep -c '/slow/' "$TMP/threaded.count")" 4 ||
    for i in $(seq 40); do echo "# $i: $(header_of "$(tail -n +2 "$TMP/th.$i")" Cache-Status)"; done

# A response slower than nginx's fastcgi_read_timeout: nginx gives up,
# the app's late answer is not stored.
NGINX_EXTRA="fastcgi_read_timeout 1s;" start_nginx app
r=$(curl_get "http://127.0.0.1:$NGINX_PORT/cached/late?sleep_ms=1500")
expect_contains "nginx timed out on the slow app" "$(printf '%s' "$r" | head -1)" "504"
sleep 0.7
before=$(runs_of app)
fcgi app GET "/cached/late?sleep_ms=1500" >/dev/null
expect_eq "the late answer was not stored (the app ran again)" "$(runs_of app)" $((before + 1))

# Redis never there (a closed port): the app's own body, as a MISS, every time.
start_app noredis 1 "$TESTAPP" CGICACHE_ROUTE_cached='GET /cached/* ttl=60' \
    CGICACHE_REDIS="redis://127.0.0.1:$(free_port)/0"
start_plain_app plain "$TESTAPP"
for _ in 1 2 3; do
    r=$(fcgi noredis GET "/cached/n?plain=1&size=3000")
    expect_eq "closed port: MISS" "$(status_of "$r")" MISS
    expect_eq "closed port: the app's own body" "$(body_of "$r" | md5sum)" \
        "$(body_of "$(fcgi plain GET "/cached/n?plain=1&size=3000")" | md5sum)"
done
expect_eq "closed port: the app ran every time" "$(runs_of noredis)" 3

# Redis down: every answer is the app's own, as a MISS.
stop_redis
before=$(runs_of app)
r=$(fcgi app GET /cached/a)
expect_eq "redis down: MISS" "$(status_of "$r")" MISS
expect_contains "redis down: the app's body" "$r" "uri=/cached/a"
t0=$(date +%s%N); for _ in 1 2 3 4 5; do fcgi app GET /cached/a >/dev/null; done; t1=$(date +%s%N)
expect_eq "redis down: the app ran for each" "$(runs_of app)" $((before + 6))
ms=$(( (t1 - t0) / 1000000 ))
[ "$ms" -lt 2000 ] && ok "redis down: no long stalls ($ms ms for 5)" || not_ok "redis down: stalls ($ms ms for 5)"
finish
