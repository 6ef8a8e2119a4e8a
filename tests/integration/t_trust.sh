#!/bin/bash
# t_trust.sh -- no page reaches a client it was not made for, and no page
# outlives a write that succeeded.  Every check goes through nginx to a
# real app: perl_reader.pl (FCGI.pm: last copy of a repeated parameter,
# ';' in queries, DOCUMENT_URI dispatch) and the C testapp (libfcgi: first
# copy).  Each class is tried with several spellings, because an attacker
# only needs one that the cache and the app read differently.
. "$(dirname "$0")/lib.sh"

start_redis
ROUTES=(CGICACHE_ROUTE_all='GET /* ttl=60'
        CGICACHE_ROUTE_pub='GET /pub/* ttl=60 cookies=ignore'
        CGICACHE_ROUTE_lang='GET /lang/* ttl=60 vary=X-Lang'
        CGICACHE_ROUTE_q='GET /q/* ttl=60 query=page')
start_app perl 1 "$TOP/tests/apps/perl_reader.pl" "${ROUTES[@]}"
start_app capp 1 "$TESTAPP" "${ROUTES[@]}"
start_nginx perl; PERL=http://127.0.0.1:$NGINX_PORT
start_nginx capp; CAPP=http://127.0.0.1:$NGINX_PORT

get() { curl_get --path-as-is "$@"; }
st() { header_of "$1" X-Cache-Status; }
# not_cached NAME URL [CURL ARGS]: the request is neither served from nor
# stored to the cache.
not_cached() {
    local name=$1 url=$2; shift 2
    local r; r=$(get "$url" "$@")
    case "$(st "$r")" in HIT|STALE|MISS) not_ok "$name: $(st "$r") ($(body_of "$r" | head -1))"; return ;; esac
    ok "$name: $(st "$r")"
}

# 1. Repeated request headers: decided from every copy.
for app in "$PERL" "$CAPP"; do
    r=$(get "$app/me1" -H 'Cookie;' -H 'Cookie: session=alice')
    expect_eq "an empty Cookie then alice's ($app): not cached" "$(st "$r")" BYPASS
    r=$(get "$app/me1")
    case "$r" in *alice*) not_ok "alice's page served to another ($app)" ;; *) ok "alice's page not served to another ($app)" ;; esac
    not_cached "Cache-Control: no-cache in a second copy ($app)" "$app/me2" -H 'Cache-Control: max-age=0' -H 'Cache-Control: no-cache'
    not_cached "X-Lang en then fr on vary=X-Lang ($app)" "$app/lang/a" -H 'X-Lang: en' -H 'X-Lang: fr'
    r=$(get "$app/lang/a" -H 'X-Lang: en')
    case "$r" in *lang=fr*) not_ok "a French page under the English key ($app)" ;; *) ok "no French page under the English key ($app)" ;; esac
    r=$(get "$app/lang/b" -H 'X-Lang: en' -H 'X-Lang: en'); get "$app/lang/b" -H 'X-Lang: en' -H 'X-Lang: en' >/dev/null
    expect_eq "identical copies are still cached ($app)" "$(st "$(get "$app/lang/b" -H 'X-Lang: en')")" HIT
done
# The bypass header: any copy that matches bypasses.
r=$(get "$PERL/bp" -H 'X-Cache-Bypass: 1' -H 'X-Cache-Bypass: 1')
expect_eq "a repeated bypass header bypasses" "$(st "$r")" BYPASS

# 2. Query separators: ';' splits for CGI.pm-style readers.
for q in 'x=1;page=9' 'page=1;page=9' 'x=1&y=2;page=9'; do
    get "$PERL/q/list?$q" >/dev/null
    r=$(get "$PERL/q/list?page=1")
    case "$r" in *page=9*) not_ok "?$q planted page 9 under page=1" ;; *) ok "?$q planted nothing under page=1" ;; esac
    r=$(get "$PERL/q/list")
    case "$r" in *page=9*) not_ok "?$q planted page 9 under no page" ;; *) ok "?$q planted nothing under no page" ;; esac
done
# The C app reads QUERY_STRING as sent: each ';' spelling is its own page.
get "$CAPP/q/semi?x=1;page=9&echo=QUERY_STRING" >/dev/null
r=$(get "$CAPP/q/semi?x=1;page=8&echo=QUERY_STRING")
expect_contains "C app: ?x=1;page=8 is not served ?x=1;page=9's page" "$r" "page=8"
# Names as apps fold them: case, PHP's '.' and ' ' for '_', escapes.
for q in 'PAGE=7' 'Page=7' 'pag%65=7' 'page%00x=7'; do
    get "$PERL/q/fold?$q" >/dev/null
    r=$(get "$PERL/q/fold")
    case "$r" in *page=7*) not_ok "?$q planted page 7 under no page" ;; *) ok "?$q keyed apart" ;; esac
done

# 3. Paths the server normalises: never cached under the route the raw path names.
for p in '/pub/..%2Fprivate/me' '/pub/%2e%2e/private/me' '/pub/%2E%2E%2Fprivate/me' '/pub/../private/me' \
         '/pub/./../private/me' '/pub//../private/me' '/pub/.%2e/private/me'; do
    r=$(get "$PERL$p" -H 'Cookie: session=victim')
    code=$(printf '%s' "$r" | head -1 | awk '{print $2}')
    case "$(st "$r")" in
    HIT|MISS|STALE) not_ok "$p (HTTP $code) cached: $(st "$r")" ;;
    *) ok "$p (HTTP $code) not cached: $(st "$r")" ;;
    esac
    r=$(get "$PERL$p")
    case "$r" in *victim*) not_ok "$p served the victim's page to another" ;; *) ok "$p: the victim's page stays the victim's" ;; esac
done
# Escaped unreserved bytes name another route's path.
for p in '/pu%62/x' '/%70ub/x'; do
    not_cached "$p (escaped letters)" "$PERL$p"
done
# The same paths to the C app: not cached either, whatever it dispatches on.
for p in '/pub/..%2Fprivate/me' '/pub/%2e%2e/private/me' '/pub//x' '/pub/a;x.css' '/pub/a%5Cb' '/pu%62/x'; do
    not_cached "C app: $p" "$CAPP$p"
done
# A plain path is still cached, and its escaped non-ASCII spellings purge alike.
get "$PERL/pub/caf%C3%A9" >/dev/null
expect_eq "an escaped non-ASCII path is cached" "$(st "$(get "$PERL/pub/caf%C3%A9")")" HIT

# 4. Forwarding headers that make apps build URLs for another origin.
for h in 'X-Forwarded-Https: on' 'X-Forwarded-Protocol: https' 'Front-End-Https: on' 'X-Url-Scheme: https' \
         'X-Scheme: https' 'X-Script-Name: /evil' 'X-Forwarded-Uri: /evil' 'X-Original-URI: /evil' \
         'X-Forwarded-Path: /evil' 'X-Forwarded-Prefix: /evil' 'X-Forwarded-Ssl: on' 'X-ARR-SSL: 1' \
         'X-Original-Host: evil' 'X-Forwarded-Server: evil' 'X-Original-Method: DELETE'; do
    name=${h%%:*}
    var=HTTP_$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')
    r=$(get "$CAPP/fw?echo=$var" -H "$h")
    expect_eq "$name bypasses" "$(st "$r")" BYPASS
    expect_eq "$name bypasses (Perl app)" "$(st "$(get "$PERL/fw" -H "$h")")" BYPASS
done
r=$(get "$CAPP/fw?echo=HTTP_X_SCHEME")
case "$r" in *"=https"*) not_ok "a forwarded scheme reached another client" ;; *) ok "no forwarded scheme reached another client" ;; esac

# 5. Keys are injective.  Without REQUEST_URI, SCRIPT_NAME "/a?b=1" (from
# /a%3Fb=1) and SCRIPT_NAME "/a" with QUERY_STRING "b=1" are two requests.
port=$(free_port); dir=$TMP/nginx-nouri
nginx_conf "$dir" 1 "server { listen 127.0.0.1:$port; location / {
    fastcgi_param REQUEST_METHOD \$request_method; fastcgi_param QUERY_STRING \$query_string;
    fastcgi_param SCRIPT_NAME \$fastcgi_script_name; fastcgi_param HTTP_HOST \$host;
    fastcgi_param SERVER_PORT \$server_port; fastcgi_param GATEWAY_INTERFACE CGI/1.1;
    fastcgi_pass unix:$TMP/capp.sock; } }"
nginx -c "$dir/nginx.conf" -e "$dir/error.log" & PIDS+=("$!")
NOURI=http://127.0.0.1:$port
wait_for curl -s -o /dev/null "$NOURI/"
get "$NOURI/inj/a%3Fb=1?echo=SCRIPT_NAME" >/dev/null
r=$(get "$NOURI/inj/a%3Fb=1?echo=SCRIPT_NAME")
expect_eq "a path with an escaped '?' is cached on its own" "$(st "$r")" HIT
r=$(get "$NOURI/inj/a?b=1&echo=SCRIPT_NAME")
expect_eq "... and is not the key of /a?b=1" "$(st "$r")" MISS
# The same Host on two ports: apps build links from SERVER_PORT.
port2=$(free_port)
dir=$TMP/nginx-two; nginx_conf "$dir" 1 "server { listen 127.0.0.1:$port2; listen 127.0.0.1:$(free_port); location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$TMP/perl.sock; } }"
nginx -c "$dir/nginx.conf" -e "$dir/error.log" & PIDS+=("$!")
wait_for curl -s -o /dev/null "http://127.0.0.1:$port2/"
port3=$(sed -n 's/.*listen 127.0.0.1:\([0-9]*\); location.*/\1/p' "$dir/nginx.conf")
get "http://127.0.0.1:$port2/ports" -H 'Host: example.com' >/dev/null
r=$(get "http://127.0.0.1:$port3/ports" -H 'Host: example.com')
case "$r" in *port=$port2*) not_ok "a page made for port $port2 served on $port3" ;; *) ok "each port keeps its own page" ;; esac

# 6. Every Cache-Control line counts, and so does every other expiry field.
for flags in 'maxage=60&cc2=private' 'maxage=60&cc2=no-store' 'maxage=60&cc2=no-cache' 'maxage=60&cc2=max-age%3D0' \
             'maxage=60&pragma=no-cache' 'xae=60&xae2=0' 'cc=max-age%3D60,%20max-age%3D0'; do
    get "$CAPP/resp?$flags&rand=1" >/dev/null
    expect_eq "a response with $flags is not stored" "$(st "$(get "$CAPP/resp?$flags&rand=1")")" MISS
done
get "$PERL/resp2?maxage=60&cc2=private" >/dev/null
expect_eq "perl: max-age then private on another line is not stored" "$(st "$(get "$PERL/resp2?maxage=60&cc2=private")")" MISS

# 7. A write's purge reaches Redis before its response ends; while
# Redis cannot take it, this worker serves nothing it covers.
start_app w 1 "$TESTAPP" CGICACHE_ROUTE_w='GET /w/* ttl=600' CGICACHE_TIMEOUT=2s
start_nginx w; W=http://127.0.0.1:$NGINX_PORT
start_app w2 1 "$TESTAPP" CGICACHE_ROUTE_w='GET /w/* ttl=600' CGICACHE_TIMEOUT=2s APP_COUNTER="$TMP/w.count"
start_nginx w2; W2=http://127.0.0.1:$NGINX_PORT
stale=0
for i in $(seq 20); do
    get "$W/w/x" >/dev/null; get "$W2/w/x" >/dev/null
    # Writes pause in Redis (reads go on): a purge sent after the response
    # would still be queued when the next read looks.
    rcli CLIENT PAUSE 150 WRITE >/dev/null
    get -X PUT "$W/w/x?set=v$i" >/dev/null
    r=$(get "$W2/w/x")
    case "$r" in *"data=v$i"*) ;; *) stale=$((stale + 1)) ;; esac
done
expect_eq "a GET right after a PUT (another worker) never sees the old page" "$stale" 0
# An app that abandons its answer (FCGX_Free without a finish) after its
# write: the write is purged all the same.
get "$W/w/z?set=before" >/dev/null; get "$W/w/z" >/dev/null
expect_eq "w caches /w/z" "$(st "$(get "$W/w/z")")" HIT
get -X PUT "$W/w/z?set=after&free=1" >/dev/null
expect_contains "an abandoned PUT still purges" "$(get "$W/w/z")" "data=after"
# 8. Redis frozen longer than the timeout: the purge is kept and retried.
start_app w3 1 "$TESTAPP" CGICACHE_ROUTE_w='GET /w/* ttl=600' CGICACHE_TIMEOUT=100ms APP_COUNTER="$TMP/w.count"
start_nginx w3; W3=http://127.0.0.1:$NGINX_PORT
get "$W3/w/y?set=old" >/dev/null; get "$W3/w/y" >/dev/null; get "$W/w/y" >/dev/null
expect_eq "w3 caches /w/y" "$(st "$(get "$W3/w/y")")" HIT
expect_eq "w caches /w/y (its own key: its nginx listens on another port)" "$(st "$(get "$W/w/y")")" HIT
rcli CLIENT PAUSE 1500 WRITE >/dev/null
r=$(get -X PUT "$W3/w/y?set=new")
expect_contains "the PUT is answered while Redis refuses writes" "$r" "data=new"
r=$(get "$W3/w/y")
expect_contains "while the purge is pending, this worker does not serve the old page" "$r" "data=new"
sleep 1.6
r=$(get "$W3/w/y"); r=$(get "$W3/w/y")
expect_contains "after Redis takes writes again, the purge is delivered: new page" "$r" "data=new"
r=$(get "$W/w/y")
expect_contains "... for every worker" "$r" "data=new"
# A full Redis under noeviction refuses the generation's SET; deleting
# it is allowed, and purges just the same.
get "$W/w/full?set=before" >/dev/null; get "$W/w/full" >/dev/null; get "$W2/w/full" >/dev/null
expect_eq "w caches /w/full" "$(st "$(get "$W/w/full")")" HIT
expect_eq "w2 caches /w/full (its own key: its nginx listens on another port)" "$(st "$(get "$W2/w/full")")" HIT
used=$(rcli INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p' | tr -d '\r')
rcli CONFIG SET maxmemory-policy noeviction >/dev/null
rcli CONFIG SET maxmemory "$((used / 2))" >/dev/null
r=$(rcli SET probe x)
expect_contains "redis is full (refuses SET)" "$r" "OOM"
get -X PUT "$W/w/full?set=after" >/dev/null
r=$(get "$W2/w/full")
rcli CONFIG SET maxmemory 0 >/dev/null
expect_contains "a purge into a full Redis reached it: another worker has the new page" "$r" "data=after"
# A CGI process has no later requests to retry on: it keeps trying a
# while after its response.
cgi() {
    local method=$1 uri=$2
    env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD="$method" REQUEST_URI="$uri" \
        QUERY_STRING="${uri#*\?}" SCRIPT_NAME="${uri%%\?*}" SERVER_NAME=localhost SERVER_PORT=80 \
        HTTP_HOST=localhost LD_PRELOAD="$(preload_value)" ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" CGICACHE_REDIS="$REDIS_URL" CGICACHE_ROUTE_d='GET /d/* ttl=600' \
        CGICACHE_TIMEOUT=100ms APP_COUNTER="$TMP/cgi" timeout 20 "$TOP/tests/apps/cgi/data.sh" </dev/null
}
cgi PUT '/d/x?v=old' >/dev/null; cgi GET /d/x >/dev/null
expect_eq "CGI: /d/x is cached" "$(st "$(cgi GET /d/x)")" HIT
rcli CLIENT PAUSE 1000 WRITE >/dev/null
r=$(cgi PUT '/d/x?v=new')
expect_contains "CGI: the PUT is answered while Redis refuses writes" "$r" "data=new"
r=$(cgi GET /d/x)
expect_contains "CGI: the purge was delivered once Redis took writes again" "$r" "data=new"
expect_eq "... so the old page is gone" "$(st "$r")" MISS
# A client that hangs up before the end of a PUT's answer: the write
# happened, so the purge is sent all the same.
cgi GET /d/x >/dev/null
expect_eq "CGI: /d/x cached again" "$(st "$(cgi GET /d/x)")" HIT
cgi PUT '/d/x?v=third&big=1' | head -c 100 >/dev/null
r=$(cgi GET /d/x)
expect_contains "CGI: a PUT whose client hung up still purges" "$r" "data=third"
finish
