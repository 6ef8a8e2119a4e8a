#!/bin/bash
# t_lighttpd.sh -- CGI programs under lighttpd's mod_cgi, which sends
# SIGTERM to a CGI process once it has read the end of its output: a
# program still finishing after its response (fossil) must not lose its
# entry to that signal.  And Cache-Status says "stored" only when Redis
# is there to store it.
. "$(dirname "$0")/lib.sh"

start_redis
CGI=$TOP/tests/apps/cgi

# start_web REDIS_URL: lighttpd on $PORT running the CGIs in $TMP/www.
start_web() {
    mkdir -p "$TMP/www/cgi"
    cp "$CGI/linger.sh" "$TMP/www/cgi/"
    cp "$CGI/linger.sh" "$TMP/www/cgi/stale.sh"
    chmod -R a+rX "$TMP/www"
    touch "$TMP/web.count"; chmod 666 "$TMP/web.count"
    start_lighttpd "$TMP/www" '".sh" => "/bin/bash"' CGICACHE_REDIS="$1" \
        CGICACHE_ROUTE_web='GET /cgi/* ttl=60' CGICACHE_ROUTE_stale='GET /cgi/stale.sh ttl=1 stale=60' \
        CGICACHE_TIMEOUT=500ms CGICACHE_LOG=info APP_COUNTER="$TMP/web.count"
    PORT=$LIGHTTPD_PORT
}

start_web "$REDIS_URL"
# A walk of 20 pages, three times over: each key is stored on its MISS
# (the header says so) and HITs from then on.
for round in 1 2 3; do
    lost=0 unstored=0
    for i in $(seq 20); do
        r=$(curl_get "http://127.0.0.1:$PORT/cgi/linger.sh?round=$round&page=$i")
        case "$r" in *"fwd=uri-miss; stored"*) ;; *) unstored=$((unstored + 1)) ;; esac
    done
    # The program lingers 0.3 s after its response; its store follows.
    sleep 2
    for i in $(seq 20); do
        r=$(curl_get "http://127.0.0.1:$PORT/cgi/linger.sh?round=$round&page=$i")
        [ "$(status_of "$r")" = HIT ] || lost=$((lost + 1))
    done
    expect_eq "round $round: every MISS says stored" "$unstored" 0
    expect_eq "round $round: every key of 20 stored despite lighttpd's SIGTERM, then HIT" "$lost" 0
done
expect_eq "each page ran once" "$(runs_of web)" 60

# A stale copy is served and the program refreshes it with stdout let go:
# lighttpd sends SIGTERM at once, and the refresh must survive it.
first=$(curl_get "http://127.0.0.1:$PORT/cgi/stale.sh")
sleep 1.3
stale=$(curl_get "http://127.0.0.1:$PORT/cgi/stale.sh")
expect_eq "stale: STALE served" "$(status_of "$stale")" STALE
sleep 2.5
fresh=$(curl_get "http://127.0.0.1:$PORT/cgi/stale.sh")
expect_ne "stale: refreshed in the background despite lighttpd's SIGTERM" "$(body_of "$fresh")" "$(body_of "$first")"

# A program that hangs after its response still gets the server's
# signal, a few seconds late.
r=$(curl_get "http://127.0.0.1:$PORT/cgi/linger.sh?hang=1")
expect_contains "hang: the page arrives at once" "$r" "uri=/cgi/linger.sh?hang=1"
pid=$(cat "$TMP/web.count.pid")
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then not_ok "hang: the program outlived the grace period"
else ok "hang: the program got the held SIGTERM within 10 s"; fi
kill "$LIGHTTPD_PID"

# Redis down: the app answers, the header does not claim a store.
start_web "redis://127.0.0.1:$(free_port)/0"
for i in 1 2; do
    r=$(curl_get "http://127.0.0.1:$PORT/cgi/linger.sh?down=$i")
    expect_contains "redis down: the app's page" "$r" "uri=/cgi/linger.sh?down=$i"
    expect_contains "redis down: MISS" "$(status_of "$r")" MISS
    case "$r" in
    *"; stored"*) not_ok "redis down: Cache-Status claims a store: $(header_of "$r" Cache-Status)" ;;
    *) ok "redis down: Cache-Status does not say stored" ;;
    esac
done
finish
