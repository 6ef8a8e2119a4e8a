#!/bin/bash
# t_cgi.sh -- plain CGI programs (C with printf, bash, Perl, Python) with
# the library preloaded: hits answered before main() runs, misses captured
# at the file descriptor, failures never stored, exit status preserved;
# run directly with a CGI environment and through lighttpd's mod_cgi.
. "$(dirname "$0")/lib.sh"

start_redis
CGI=$TOP/tests/apps/cgi

# cgi_run PROGRAM URI [VAR=VALUE ...]: the program as a web server runs
# it; its output in $OUT, its exit status in $STATUS.  timeout comes
# before the preload: under it, timeout itself would be the CGI process
# the library caches, and the program would run without the library.
cgi_run() {
    local prog=$1 uri=$2
    shift 2
    local query=""
    case "$uri" in *\?*) query=${uri#*\?} ;; esac
    OUT=$(timeout 10 env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
        REQUEST_URI="$uri" QUERY_STRING="$query" SCRIPT_NAME="${uri%%\?*}" SERVER_NAME=localhost \
        SERVER_PORT=80 HTTP_HOST=localhost SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
        LD_PRELOAD="$(preload_value)" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        CGICACHE_REDIS="$REDIS_URL" CGICACHE_ROUTE_cgi='GET /cgi/* ttl=60' \
        APP_COUNTER="$TMP/cgi.count" "$@" "$prog" </dev/null)
    STATUS=$?
}
touch "$TMP/cgi.count"

for prog in "$TOP/build/tests/cgi_printf" "$CGI/hello.sh" "$CGI/hello.pl" "$CGI/hello.py"; do
    name=$(basename "$prog")
    : >"$TMP/cgi.count"
    cgi_run "$prog" "/cgi/$name"
    miss=$OUT
    expect_eq "$name: MISS" "$(status_of "$miss")" MISS
    expect_eq "$name: exit 0" "$STATUS" 0
    cgi_run "$prog" "/cgi/$name"
    expect_eq "$name: HIT" "$(status_of "$OUT")" HIT
    expect_eq "$name: HIT body identical" "$(body_of "$OUT" | md5sum)" "$(body_of "$miss" | md5sum)"
    expect_eq "$name: the program did not run on the hit" "$(runs_of cgi)" 1
    case "$(body_of "$miss" | head -1)" in
    *libcgicache*) not_ok "$name: the program still has libcgicache in LD_PRELOAD" ;;
    *preload=*) ok "$name: libcgicache is out of the program's LD_PRELOAD" ;;
    *) not_ok "$name: no output" ;;
    esac
done
expect_contains "bash: children do not load the cache" "$(cat "$TMP/cgi.count"; body_of "$(cgi_run "$CGI/hello.sh" /cgi/x?n=1; echo "$OUT")")" "child sees preload: 0"

# Failures: nothing stored, the client gets what was sent, status kept.
cgi_run "$TOP/build/tests/cgi_printf" "/cgi/e?exit=1"
expect_eq "exit 1 is preserved" "$STATUS" 1
expect_contains "exit 1: output delivered" "$OUT" "line 999"
cgi_run "$TOP/build/tests/cgi_printf" "/cgi/e?exit=1"
expect_eq "exit 1: not stored" "$(status_of "$OUT")" MISS
cgi_run "$CGI/hello.sh" "/cgi/k?kill=1"
expect_eq "killed by SIGKILL: the signal is preserved" "$STATUS" 137
expect_contains "killed: output so far delivered" "$OUT" "300"
cgi_run "$CGI/hello.sh" "/cgi/k?kill=1"
expect_eq "killed: not stored" "$(status_of "$OUT")" MISS
# Redis full: the store is refused after the client has its page; the
# process reads that reply before it exits, so the refusal is logged.
rcli CONFIG SET maxmemory-policy noeviction >/dev/null
rcli CONFIG SET maxmemory 1 >/dev/null
cgi_run "$TOP/build/tests/cgi_printf" "/cgi/full" CGICACHE_ROUTE_cgi='GET /cgi/* ttl=60 lock=off' 2>"$TMP/cgi-full.err"
rcli CONFIG SET maxmemory 0 >/dev/null
expect_eq "redis full: the program's page (MISS)" "$(status_of "$OUT")" MISS
grep -q "redis refused a write: OOM" "$TMP/cgi-full.err" && ok "redis full: the refused store is logged" ||
    not_ok "redis full: the refused store went unread"
cgi_run "$TOP/build/tests/cgi_printf" "/cgi/c?cookie=1"
expect_contains "Set-Cookie reaches the client" "$OUT" "Set-Cookie: s="
cgi_run "$TOP/build/tests/cgi_printf" "/cgi/c?cookie=1"
expect_eq "Set-Cookie: not stored" "$(status_of "$OUT")" MISS

# Off-route CGI requests are left alone; a POST body reaches the program.
cgi_run "$TOP/build/tests/cgi_printf" "/other"
expect_eq "off-route: no status header" "$(status_of "$OUT")" ""
r=$(printf 'a=1' | timeout 10 env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=POST CONTENT_LENGTH=3 \
    REQUEST_URI=/cgi/post HTTP_HOST=localhost LD_PRELOAD="$(preload_value)" CGICACHE_REDIS="$REDIS_URL" \
    CGICACHE_ROUTE_cgi='GET,POST /cgi/* ttl=60' APP_COUNTER="$TMP/cgi.count" bash -c 'cat; echo; echo done')
expect_contains "POST body reaches the program" "$r" "a=1"

# The stampede lock holds across CGI processes: one computation.
: >"$TMP/cgi.count"
pids=()
for i in $(seq 6); do (cgi_run "$CGI/hello.sh" "/cgi/cold?slow=1"; echo "$OUT" >"$TMP/cold.$i") & pids+=($!); done
wait "${pids[@]}"
expect_eq "6 concurrent cold CGI requests: one computation" "$(runs_of cgi)" 1
expect_eq "... identical bodies" "$(for i in $(seq 6); do body_of "$(cat "$TMP/cold.$i")" | md5sum; done | sort -u | wc -l)" 1

# Stale in CGI mode: the client gets the stale copy, the program then
# runs detached from the client's stdout and refreshes the entry.
: >"$TMP/cgi.count"
cgi_run "$TOP/build/tests/cgi_printf" /cgi/stale CGICACHE_ROUTE_cgi='GET /cgi/* ttl=1 stale=30'
first=$OUT
sleep 1.2
cgi_run "$TOP/build/tests/cgi_printf" /cgi/stale CGICACHE_ROUTE_cgi='GET /cgi/* ttl=1 stale=30'
expect_eq "CGI: STALE served" "$(status_of "$OUT")" STALE
expect_eq "CGI: STALE body is the stored one" "$(body_of "$OUT")" "$(body_of "$first")"
sleep 0.5
cgi_run "$TOP/build/tests/cgi_printf" /cgi/stale CGICACHE_ROUTE_cgi='GET /cgi/* ttl=1 stale=30'
expect_eq "CGI: refreshed in the background, then HIT" "$(status_of "$OUT")" HIT
expect_ne "CGI: ... with a new body" "$(body_of "$OUT")" "$(body_of "$first")"
expect_eq "CGI: the program ran twice in all" "$(runs_of cgi)" 2

# Through a real web server: lighttpd's mod_cgi.
mkdir -p "$TMP/www/cgi"
cp "$CGI/hello.sh" "$CGI/hello.py" "$TMP/www/cgi/"
cp "$TOP/build/tests/cgi_printf" "$TMP/www/cgi/printf.cgi"
chmod -R a+rX "$TMP/www"
touch "$TMP/web.count"; chmod 666 "$TMP/web.count"
start_lighttpd "$TMP/www" '".sh" => "/bin/bash", ".py" => "/usr/bin/python3", ".cgi" => ""' \
    CGICACHE_REDIS="$REDIS_URL" CGICACHE_ROUTE_web='GET /cgi/* ttl=60' APP_COUNTER="$TMP/web.count"
PORT=$LIGHTTPD_PORT
for s in hello.sh hello.py printf.cgi; do
    r1=$(curl_get "http://127.0.0.1:$PORT/cgi/$s")
    r2=$(curl_get "http://127.0.0.1:$PORT/cgi/$s")
    expect_contains "lighttpd $s: MISS" "$r1" "X-Cache-Status: MISS"
    expect_contains "lighttpd $s: HIT" "$r2" "X-Cache-Status: HIT"
    expect_eq "lighttpd $s: same body" "$(body_of "$r2" | md5sum)" "$(body_of "$r1" | md5sum)"
done
expect_eq "lighttpd: each program ran once" "$(runs_of web)" 3
finish
