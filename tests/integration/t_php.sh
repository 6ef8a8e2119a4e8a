#!/bin/bash
# t_php.sh -- PHP cached through the wire adapter (lib/adapters/wire.c):
# PHP speaks FastCGI itself, and cgicache follows the records on its
# connections.  Three ways PHP is deployed, each behind nginx both without
# and with upstream keep-alive (fastcgi_keep_conn on):
#
#   php-fpm    a private master (daemonize = no), the library and the
#              CGICACHE_ variables in its environment only: the pools keep
#              clear_env = yes and run as nobody; a static pool of two on a
#              unix socket (with the status and ping pages), an ondemand
#              pool on a loopback port, a static pool of four for the
#              stampede and one whose workers are killed after 2 s; then
#              the master reloaded;
#   php-cgi -b on a loopback port, two children;
#   spawn-fcgi php-cgi on a unix socket, one process.
#
# The app is tests/apps/php/index.php, a front controller counting its runs
# in runs.log beside it (each server has its own copy).
. "$(dirname "$0")/lib.sh"

FPM=$(command -v php-fpm8.2 || ls /usr/sbin/php-fpm* 2>/dev/null | head -1)
PHP_CGI=$(command -v php-cgi)
if [ -z "$FPM" ] || [ -z "$PHP_CGI" ]; then
    not_ok "php-fpm or php-cgi missing (tests/deps.sh installs php-fpm and php-cgi)"
    finish
    exit
fi

start_redis
ROUTES=(CGICACHE_ROUTE_pages='GET /pages/* ttl=60'
        CGICACHE_ROUTE_forms='POST /pages/*'
        CGICACHE_ROUTE_admin='POST /admin/* invalidates=pages'
        CGICACHE_ROUTE_stale='GET /stale/* ttl=1 stale=30'
        CGICACHE_ROUTE_slow='GET /slow/* ttl=60'
        CGICACHE_ROUTE_killed='GET /killed/* ttl=60 query=none'
        CGICACHE_LOCK_TTL=5s CGICACHE_EARLY_REFRESH=0
        CGICACHE_TIMEOUT=500ms CGICACHE_CONNECT_TIMEOUT=500ms)  # no fail-open on a starved CPU
# PHP loads its extensions (opcache) with RTLD_DEEPBIND, which the
# sanitizer runtime refuses: under the ASan library, none are loaded.
PHP_ENV=()
case "$CC_LIB" in *asan*) PHP_ENV=(PHP_INI_SCAN_DIR=) ;; esac
# What every PHP server starts with: the library and its configuration.
SERVER_ENV=(LD_PRELOAD="$(preload_value)" CGICACHE_REDIS="$REDIS_URL" "${ROUTES[@]}" "${PHP_ENV[@]}"
            ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}")

# docroot NAME: a private copy of the app for server NAME, its runs.log
# writable by the pools' user.
docroot() {
    mkdir -p "$TMP/www-$1"
    cp "$TOP/tests/apps/php/index.php" "$TMP/www-$1/"
    touch "$TMP/www-$1/runs.log"
    chmod 666 "$TMP/www-$1/runs.log"
    chmod -R a+rX "$TMP/www-$1"
}

# runs WWW METHOD URI: how often PHP started on METHOD URI ("done" for
# the runs that ended).
runs() { awk -v m="$2" -v u="$3" '$1 == m && $2 == u' "$TMP/www-$1/runs.log" | wc -l | tr -d ' '; }
refreshed() { [ "$(runs "$1" "done" "$2")" -ge 2 ]; }
# ended WWW URI: PHP's run of URI ended (wait_for calls it again and again).
ended() { [ "$(runs "$1" "done" "$2")" -ge 1 ]; }

# req TAG URL [CURL ARG...]: one request; its head in $TMP/TAG.h, its body
# (the bytes as they came) in $TMP/TAG.b.
req() {
    local tag=$1 url=$2
    shift 2
    rm -f "$TMP/$tag.h" "$TMP/$tag.b"
    timeout 10 curl -s -D "$TMP/$tag.h" -o "$TMP/$tag.b" "$@" "$url"
    touch "$TMP/$tag.h" "$TMP/$tag.b"
}
hdr() { header_of "$(cat "$TMP/$1.h")" "$2"; }
st() { hdr "$1" X-Cache-Status; }
code() { head -1 "$TMP/$1.h" | cut -d' ' -f2; }
body() { cat "$TMP/$1.b"; }
same_body() {   # same_body WHAT TAG1 TAG2
    if cmp -s "$TMP/$2.b" "$TMP/$3.b"; then ok "$1"; else not_ok "$1 ($(head -c 100 "$TMP/$2.b") / $(head -c 100 "$TMP/$3.b"))"; fi
}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# php_nginx WWW ADDRESS MODE WORKERS [LINES]: nginx in front of the PHP
# server at ADDRESS (unix:/path or 127.0.0.1:port), WWW/index.php answering
# every URL and php-fpm's status and ping pages beside; MODE keep: an
# upstream keep-alive pool and fastcgi_keep_conn on; LINES: more fastcgi
# directives.  Sets U (its URL), NGINX_PORT, NGINX_PID, NGINX_ADDR and
# NGINX_MODE.
#
# One idle connection per nginx worker at most: a PHP process holds a
# kept connection and reads nothing else until nginx closes it, so more
# idle connections than PHP processes would leave requests queued for
# good (with or without cgicache).
php_nginx() {
    local www=$1 addr=$2 mode=$3 workers=$4 ka="" kc="${5:-}"
    [ "$mode" = keep ] && ka="keepalive 1;" && kc="$kc fastcgi_keep_conn on;"
    NGINX_PORT=$(free_port)
    NGINX_ADDR=$addr NGINX_MODE=$mode
    U=http://127.0.0.1:$NGINX_PORT
    local dir=$TMP/nginx-$NGINX_PORT up=php_$NGINX_PORT
    nginx_conf "$dir" "$workers" "upstream $up { server $addr; $ka }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $www;
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME \$document_root/index.php;
            fastcgi_pass $up; $kc
        }
        location ~ ^/fpm-(status|ping)\$ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_pass $up; $kc
        }
    }"
    nginx -c "$dir/nginx.conf" -e "$dir/error.log" &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    disown "$NGINX_PID" 2>/dev/null
    wait_for curl -s -o /dev/null "$U/fpm-ping"
}

# stop_nginx: stops the last php_nginx, and with it the connections it
# kept (each holds a PHP process).
stop_nginx() {
    kill "$NGINX_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$NGINX_PID" 2>/dev/null || return 0; sleep 0.05; done
}

# tcp_open PORT: something listens there (connects and closes, sending nothing).
tcp_open() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()' "$1"; }

# kept ADDRESS: how many connections to the PHP server at ADDRESS are open.
kept() {
    case "$1" in
    unix:*) ss -Hx state established | grep -c -F " ${1#unix:} " ;;
    *) ss -Htn state established "( dport = :${1##*:} )" | wc -l ;;
    esac
}
# check_mode LABEL ADDRESS MODE: nginx kept its connections to PHP open
# with MODE keep, and closed them without.
check_mode() {
    local k
    k=$(kept "$2")
    if [ "$3" = keep ]; then
        [ "$k" -ge 1 ] && ok "$1: nginx keeps its connection to PHP open ($k)" || not_ok "$1: no kept connection to PHP"
    else
        expect_eq "$1: nginx closed its connections to PHP" "$k" 0
    fi
}

# suite NAME LABEL: what every server goes through, against nginx at $U in
# front of server NAME (its docroot $TMP/www-NAME).  LABEL names the
# server and mode in messages and keeps their URLs apart.
suite() {
    local n=$1 l=$2 t
    local p=/pages/$l
    # A stale entry to come back to once its second has passed.
    req "$l.s1" "$U/stale/$l?sleep_ms=300"
    local stale_t0
    stale_t0=$(date +%s%N)

    # MISS, then the very same bytes from the cache, PHP not run again.
    req "$l.m" "$U$p/a"
    req "$l.h" "$U$p/a"
    local pid
    pid=$(hdr "$l.m" X-Php-Pid)
    grep -q -F "/$(basename "$CC_LIB")" "/proc/${pid:-0}/maps" 2>/dev/null &&
        ok "$l: the PHP process that answered has $(basename "$CC_LIB") loaded" ||
        not_ok "$l: $(basename "$CC_LIB") is not loaded in PHP process '$pid'"
    expect_eq "$l: first GET is a MISS" "$(st "$l.m")" MISS
    expect_eq "$l: ... stored" "$(hdr "$l.m" Cache-Status)" "cgicache; fwd=uri-miss; stored"
    expect_eq "$l: second GET is a HIT" "$(st "$l.h")" HIT
    expect_contains "$l: ... with RFC 9211 Cache-Status" "$(hdr "$l.h" Cache-Status)" "cgicache; hit; ttl="
    expect_eq "$l: ... a 200" "$(code "$l.h")" 200
    same_body "$l: the HIT's body is the MISS's, byte for byte" "$l.m" "$l.h"
    expect_eq "$l: ... under PHP's own head" "$(hdr "$l.h" X-Php-Pid)|$(hdr "$l.h" Content-Type)" \
        "$(hdr "$l.m" X-Php-Pid)|$(hdr "$l.m" Content-Type)"
    expect_eq "$l: PHP ran once" "$(runs "$n" GET "$p/a")" 1

    # A body PHP writes in many records, and one flushed in two parts.
    req "$l.bm" "$U$p/big?size=300000"
    req "$l.bh" "$U$p/big?size=300000"
    expect_eq "$l: 300 kB: HIT" "$(st "$l.bh")" HIT
    same_body "$l: 300 kB: the HIT's body is the MISS's" "$l.bm" "$l.bh"
    expect_eq "$l: 300 kB: all of it ($(wc -c <"$TMP/$l.bh.b") bytes, the MISS's line + 300000)" \
        "$(wc -c <"$TMP/$l.bh.b")" $(( $(head -1 "$TMP/$l.bm.b" | wc -c) + 300000 ))
    req "$l.fm" "$U$p/fl?flush=1"
    req "$l.fh" "$U$p/fl?flush=1"
    expect_eq "$l: flushed mid-page: HIT" "$(st "$l.fh")" HIT
    same_body "$l: flushed mid-page: the whole body" "$l.fm" "$l.fh"
    expect_eq "$l: 300 kB and flushed pages ran once each" "$(runs "$n" GET "$p/big?size=300000")$(runs "$n" GET "$p/fl?flush=1")" 11

    # A request head larger than the adapter's first look (18 kB of
    # headers, which nginx sends in one go).
    local pad
    pad=$(head -c 6000 /dev/zero | tr '\0' x)
    req "$l.g1" "$U$p/g" -H "X-Pad-1: $pad" -H "X-Pad-2: $pad" -H "X-Pad-3: $pad"
    req "$l.g2" "$U$p/g" -H "X-Pad-1: $pad" -H "X-Pad-2: $pad" -H "X-Pad-3: $pad"
    expect_eq "$l: 18 kB of request headers: MISS, HIT" "$(st "$l.g1") $(st "$l.g2")" "MISS HIT"
    same_body "$l: ... the same body" "$l.g1" "$l.g2"

    # A warning PHP logs to the web server (FCGI_STDERR records amid the
    # STDOUT ones): nginx logs it, the page is stored without it.
    req "$l.w1" "$U$p/w?warn=1"
    req "$l.w2" "$U$p/w?warn=1"
    expect_eq "$l: a page with a warning: MISS, HIT" "$(st "$l.w1") $(st "$l.w2")" "MISS HIT"
    same_body "$l: ... the same body" "$l.w1" "$l.w2"
    expect_eq "$l: ... the warning reached nginx once" \
        "$(grep -c "warned on $p/w?warn=1" "$TMP/nginx-$NGINX_PORT/error.log")" 1

    # A fatal error is PHP's 500: not stored.
    req "$l.e1" "$U$p/e?fatal=1"
    req "$l.e2" "$U$p/e?fatal=1"
    expect_eq "$l: a fatal error: 500, MISS twice" "$(code "$l.e2") $(st "$l.e1") $(st "$l.e2")" "500 MISS MISS"
    expect_eq "$l: ... PHP ran twice" "$(runs "$n" GET "$p/e?fatal=1")" 2

    # HEAD is answered from the GET entry (nginx drops any body of a HEAD).
    req "$l.hd" "$U$p/a" -I
    expect_eq "$l: HEAD: HIT, PHP not run" "$(st "$l.hd") $(runs "$n" HEAD "$p/a")" "HIT 0"

    # Requests that neither read nor write the cache.
    req "$l.by" "$U$p/a" -H 'X-Cache-Bypass: 1'
    expect_eq "$l: bypass header: BYPASS" "$(st "$l.by")|$(hdr "$l.by" Cache-Status)" "BYPASS|cgicache; fwd=bypass"
    req "$l.nc" "$U$p/a" -H 'Cache-Control: no-cache'
    expect_eq "$l: client no-cache: NO_CACHE" "$(st "$l.nc")|$(hdr "$l.nc" Cache-Status)" "NO_CACHE|cgicache; fwd=request"
    req "$l.ck" "$U$p/a" -H 'Cookie: session=1'
    expect_eq "$l: a request Cookie: BYPASS" "$(st "$l.ck")" BYPASS
    expect_eq "$l: PHP answered those three" "$(runs "$n" GET "$p/a")" 4
    expect_ne "$l: ... with bodies of its own" "$(body "$l.by")" "$(body "$l.m")"
    req "$l.h2" "$U$p/a"
    expect_eq "$l: the entry outlived them: HIT" "$(st "$l.h2")" HIT
    same_body "$l: ... the first body still" "$l.m" "$l.h2"

    # A page that sets a cookie reaches the client and is not stored.
    req "$l.c1" "$U$p/c?cookie=1"
    req "$l.c2" "$U$p/c?cookie=1"
    expect_eq "$l: Set-Cookie page: MISS, not stored" "$(hdr "$l.c1" Cache-Status)" "cgicache; fwd=uri-miss"
    expect_eq "$l: ... MISS again" "$(st "$l.c2")" MISS
    expect_contains "$l: ... the cookie reaches the client" "$(hdr "$l.c2" Set-Cookie)" "session="
    expect_eq "$l: ... PHP ran for both" "$(runs "$n" GET "$p/c?cookie=1")" 2

    # An unsafe method passes through and purges its own URL (RFC 9111
    # 4.4), only when it succeeds.
    req "$l.k1" "$U$p/keep"
    req "$l.p" "$U$p/a" --data-binary 'x=1'
    expect_eq "$l: POST: BYPASS" "$(st "$l.p")|$(hdr "$l.p" Cache-Status)" "BYPASS|cgicache; fwd=method"
    expect_contains "$l: ... PHP had the body" "$(body "$l.p")" "posted=x=1 length=3"
    expect_eq "$l: ... PHP ran the POST" "$(runs "$n" POST "$p/a")" 1
    req "$l.a" "$U$p/a"
    expect_eq "$l: after the POST: MISS" "$(st "$l.a")" MISS
    req "$l.k2" "$U$p/keep"
    expect_eq "$l: ... another URL still HIT" "$(st "$l.k2")" HIT
    req "$l.pf" "$U$p/a?status=500" --data-binary 'x=2'
    req "$l.a2" "$U$p/a"
    expect_eq "$l: a failed POST (500) purges nothing" "$(st "$l.a2")|$(code "$l.pf")" "HIT|500"

    # A body of many STDIN records reaches PHP whole.
    head -c 150000 /dev/urandom >"$TMP/$l.upload"
    req "$l.up" "$U$p/up" --data-binary @"$TMP/$l.upload" -H 'Content-Type: application/octet-stream'
    expect_contains "$l: a 150 kB POST body reaches PHP whole" "$(body "$l.up")" \
        "length=150000 md5=$(md5sum <"$TMP/$l.upload" | cut -d' ' -f1)"

    # Declared invalidation: a POST to /admin/ purges the whole route.
    req "$l.ad" "$U/admin/$l/save" --data-binary 'y=1'
    expect_eq "$l: POST /admin: BYPASS" "$(st "$l.ad")" BYPASS
    req "$l.a3" "$U$p/a"
    req "$l.k3" "$U$p/keep"
    expect_eq "$l: invalidates=pages: both pages MISS" "$(st "$l.a3") $(st "$l.k3")" "MISS MISS"

    # Tags: the header is stripped, and purging the tag removes the entry.
    req "$l.t1" "$U$p/t?tags=tag-$l,other"
    req "$l.t2" "$U$p/t?tags=tag-$l,other"
    expect_eq "$l: tagged page: HIT, the tags header stripped" "$(st "$l.t2")|$(hdr "$l.t1" X-Cache-Tags)$(hdr "$l.t2" X-Cache-Tags)" "HIT|"
    t=$(CGICACHE_REDIS="$REDIS_URL" "$CC_TOOL" purge --tag "tag-$l" 2>&1)
    expect_eq "$l: cgicache purge --tag removes it" "$t" "1 entry removed"
    req "$l.t3" "$U$p/t?tags=tag-$l,other"
    expect_eq "$l: ... after it: MISS" "$(st "$l.t3")" MISS

    # Stale: served at once, PHP refreshes it in the background, once.
    local wait_ms=$(( 1100 - $(ms_since "$stale_t0") ))
    [ "$wait_ms" -gt 0 ] && sleep "$(awk -v ms="$wait_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
    t=$(date +%s%N)
    req "$l.s2" "$U/stale/$l?sleep_ms=300"
    t=$(ms_since "$t")
    expect_eq "$l: expired, in the stale window: STALE" "$(st "$l.s2")" STALE
    same_body "$l: ... the stored body" "$l.s1" "$l.s2"
    # Without keep-alive the adapter shuts the connection's write side once
    # the stale answer is sent (nginx ends such a response at the close);
    # with it, the END_REQUEST ends it, and PHP reads the request again
    # from a connection of the cache's own.
    [ "$t" -lt 250 ] && ok "$l: ... served without waiting for PHP ($t ms)" || not_ok "$l: the STALE client waited $t ms"
    # The refresh's run ends (its "done"), then its END_REQUEST is stored.
    wait_for refreshed "$n" "/stale/$l?sleep_ms=300"
    sleep 0.2
    req "$l.s3" "$U/stale/$l?sleep_ms=300"
    expect_eq "$l: after the background refresh: HIT" "$(st "$l.s3")" HIT
    local refresh_run
    refresh_run=$(awk -v u="/stale/$l?sleep_ms=300" '$1 == "done" && $2 == u && ++k == 2 { r = $4 } END { print r }' \
        "$TMP/www-$n/runs.log")
    expect_contains "$l: ... with the refresh's content, its second run (run=$refresh_run)" "$(body "$l.s3")" "run=${refresh_run:-none}"
    expect_eq "$l: ... PHP ran twice in all (the refresh once)" "$(runs "$n" GET "/stale/$l?sleep_ms=300")" 2
    expect_eq "$l: ... no refresh lock left behind" "$(rcli --raw KEYS '*#lock:*' | grep -c "stale/$l")" 0

    check_mode "$l" "$NGINX_ADDR" "$NGINX_MODE"
}

# stampede NAME LABEL: 24 concurrent cold requests for a page that takes
# 300 ms, through nginx at $U: one computation.
stampede() {
    local n=$1 l=$2 i
    seq 24 | xargs -P 24 -I{} timeout 15 curl -s --max-time 10 -D "$TMP/par.$l.{}.h" -o "$TMP/par.$l.{}.b" \
        "$U/slow/$l?sleep_ms=300"
    expect_eq "$l: 24 concurrent cold requests: PHP ran once" "$(runs "$n" GET "/slow/$l?sleep_ms=300")" 1
    expect_eq "$l: ... 24 answers, all 200" "$(cat "$TMP"/par."$l".*.h | grep -c '^HTTP/1.1 200')" 24
    expect_eq "$l: ... all one body" "$(cat "$TMP"/par."$l".*.b | sort -u | wc -l)" 1
    i=$(cat "$TMP"/par."$l".*.h | grep -c 'collapsed')
    [ "$i" -ge 1 ] && ok "$l: ... waiters were answered as collapsed ($i)" || not_ok "$l: no waiter was collapsed"
}

# ---- php-fpm ------------------------------------------------------------------
for n in fpm lazy crowd short; do docroot "$n"; done
LAZY_PORT=$(free_port)
pool() {   # pool NAME LISTEN PM-LINES...
    local name=$1 listen=$2
    shift 2
    printf '[%s]\nuser = nobody\ngroup = nogroup\nlisten = %s\nlisten.mode = 0666\n' "$name" "$listen"
    printf 'catch_workers_output = yes\ndecorate_workers_output = no\n'
    printf '%s\n' "$@"
}
{
    printf '[global]\npid = %s\nerror_log = %s\ndaemonize = no\n' "$TMP/fpm.pid" "$TMP/fpm.log"
    pool static "$TMP/fpm.sock" 'pm = static' 'pm.max_children = 2' \
        'pm.status_path = /fpm-status' 'ping.path = /fpm-ping'
    pool lazy "127.0.0.1:$LAZY_PORT" 'pm = ondemand' 'pm.max_children = 3' 'pm.process_idle_timeout = 1s'
    pool crowd "$TMP/crowd.sock" 'pm = static' 'pm.max_children = 4'
    pool short "$TMP/short.sock" 'pm = static' 'pm.max_children = 2' 'request_terminate_timeout = 2s'
} >"$TMP/fpm.conf"
env "${SERVER_ENV[@]}" "$FPM" -y "$TMP/fpm.conf" >"$TMP/fpm.out" 2>&1 &
FPM_PID=$!
PIDS+=("$FPM_PID")
disown "$FPM_PID" 2>/dev/null
wait_for can_connect "$TMP/fpm.sock"
wait_for can_connect "$TMP/crowd.sock"
wait_for can_connect "$TMP/short.sock"
wait_for tcp_open "$LAZY_PORT"

for mode in plain keep; do
    php_nginx "$TMP/www-fpm" "unix:$TMP/fpm.sock" "$mode" 2
    suite fpm "fpm-static-$mode"
    l=fpm-static-$mode

    # The pools keep clear_env = yes: the configuration came from the master.
    req "$l.env" "$U/plain/env?env=CGICACHE_REDIS"
    expect_eq "$l: clear_env = yes: the worker's environment has no CGICACHE_REDIS" "$(tail -1 "$TMP/$l.env.b")" "env="

    # fastcgi_finish_request(): the client has its answer, the entry is
    # stored, while the script goes on; what it prints after is not kept.
    t=$(date +%s%N)
    req "$l.fin1" "$U/pages/$l/fin?finish=1"
    t=$(ms_since "$t")
    req "$l.fin2" "$U/pages/$l/fin?finish=1"
    expect_eq "$l: fastcgi_finish_request: MISS, stored" "$(hdr "$l.fin1" Cache-Status)" "cgicache; fwd=uri-miss; stored"
    expect_contains "$l: ... the client's body" "$(body "$l.fin1")" "before finish"
    expect_eq "$l: ... without what came after" "$(grep -c 'after finish' "$TMP/$l.fin1.b")" 0
    [ "$t" -lt 250 ] && ok "$l: ... answered before the script ended ($t ms)" || not_ok "$l: fastcgi_finish_request: answered after $t ms"
    expect_eq "$l: ... then HIT" "$(st "$l.fin2")" HIT
    same_body "$l: ... the same body" "$l.fin1" "$l.fin2"
    wait_for ended fpm "/pages/$l/fin?finish=1"
    expect_eq "$l: ... PHP ran once, to its end" \
        "$(runs fpm GET "/pages/$l/fin?finish=1") $(runs fpm "done" "/pages/$l/fin?finish=1")" "1 1"

    # php-fpm's own pages, not routed, pass through unchanged.
    req "$l.ping" "$U/fpm-ping"
    expect_eq "$l: ping page: pong" "$(body "$l.ping")" pong
    expect_eq "$l: ... no cache headers, fpm's own Cache-Control" \
        "$(st "$l.ping")|$(hdr "$l.ping" Cache-Status)|$(hdr "$l.ping" Cache-Control)" \
        "||no-cache, no-store, must-revalidate, max-age=0"
    req "$l.st1" "$U/fpm-status"
    req "$l.st2" "$U/fpm-status"
    expect_contains "$l: status page: fpm's" "$(body "$l.st2")" "process manager:      static"
    expect_eq "$l: ... no cache status" "$(st "$l.st2")$(hdr "$l.st2" Cache-Status)" ""
    a1=$(sed -n 's/^accepted conn: *//p' "$TMP/$l.st1.b")
    a2=$(sed -n 's/^accepted conn: *//p' "$TMP/$l.st2.b")
    [ -n "$a1" ] && [ "${a2:-0}" -gt "$a1" ] && ok "$l: ... answered afresh (accepted conn $a1, then $a2)" ||
        not_ok "$l: status page not answered afresh (accepted conn '$a1', then '$a2')"
    stop_nginx
done

# The stampede: four static workers, nginx without and with keep-alive.
for mode in plain keep; do
    php_nginx "$TMP/www-crowd" "unix:$TMP/crowd.sock" "$mode" 2
    stampede crowd "fpm-crowd-$mode"
    stop_nginx
done

# A worker php-fpm kills mid-request (request_terminate_timeout) took the
# key's lock: nothing is stored, and the next request is not held until
# the lock expires (CGICACHE_LOCK_TTL=5s): its holder is seen to be gone,
# and PHP answers it, unstored; the one after takes the key over.
# (nginx unbuffered: it sends what PHP sent before it was killed.)
php_nginx "$TMP/www-short" "unix:$TMP/short.sock" plain 2 "fastcgi_buffering off;"
req kill1 "$U/killed/k?sleep_ms=4000"
expect_eq "fpm: a worker killed mid-request: nginx answers 502" "$(code kill1)" 502
t=$(date +%s%N)
req kill2 "$U/killed/k"
t=$(ms_since "$t")
expect_eq "... the next request: PHP answers" "$(code kill2) $(st kill2)" "200 MISS"
[ "$t" -lt 1500 ] && ok "... without waiting out the dead worker's lock ($t ms)" || not_ok "the next request waited $t ms"
req kill3 "$U/killed/k"
req kill4 "$U/killed/k"
expect_eq "... the one after stores: MISS, stored, then HIT" "$(hdr kill3 Cache-Status)|$(st kill4)" \
    "cgicache; fwd=uri-miss; stored|HIT"
expect_eq "... nothing of the killed run was stored: PHP ran for each MISS" "$(runs short GET /killed/k)" 2
# Killed once part of the body was sent: the client has a cut response,
# and nothing is stored.
req kill5 "$U/killed/p?hang_ms=4000"
expect_contains "fpm: killed mid-body: the client had the first part" "$(body kill5)" "uri=/killed/p?hang_ms=4000"
expect_eq "... not the rest" "$(grep -c 'after the hang' "$TMP/kill5.b")" 0
req kill6 "$U/killed/p"
expect_eq "... not stored: the next request runs PHP" "$(st kill6) $(runs short GET /killed/p)" "MISS 1"
stop_nginx

# ondemand: the master forks a worker when a connection waits; it
# inherited the configuration, and so does every worker forked later.
php_nginx "$TMP/www-lazy" "127.0.0.1:$LAZY_PORT" plain 2
suite lazy fpm-ondemand-plain
lazy_workers() { ps --ppid "$FPM_PID" -o args= | grep -c 'pool lazy'; }
no_lazy_workers() { [ "$(lazy_workers)" -eq 0 ]; }
wait_for no_lazy_workers
expect_eq "fpm-ondemand: its workers idled out" "$(lazy_workers)" 0
req lazy.n1 "$U/pages/ondemand/new"
req lazy.n2 "$U/pages/ondemand/new"
expect_eq "fpm-ondemand: a worker forked afterwards caches: MISS, HIT" "$(st lazy.n1) $(st lazy.n2)" "MISS HIT"
stop_nginx
php_nginx "$TMP/www-lazy" "127.0.0.1:$LAZY_PORT" keep 2
suite lazy fpm-ondemand-keep
stop_nginx

# php-fpm reloaded (SIGUSR2, what systemctl reload does): the master execs
# itself again, with the same environment, and starts new workers.
php_nginx "$TMP/www-fpm" "unix:$TMP/fpm.sock" plain 2
req rl1 "$U/pages/reload/old"
kill -USR2 "$FPM_PID"
reloaded() { [ "$(grep -c 'ready to handle connections' "$TMP/fpm.log")" -ge 2 ]; }
wait_for reloaded
wait_for can_connect "$TMP/fpm.sock"
req rl2 "$U/pages/reload/old"
req rl3 "$U/pages/reload/new"
req rl4 "$U/pages/reload/new"
expect_eq "fpm reloaded: an entry from before is a HIT" "$(st rl1) $(st rl2)" "MISS HIT"
expect_eq "fpm reloaded: the new workers cache: MISS, HIT" "$(st rl3) $(st rl4)" "MISS HIT"
expect_eq "fpm reloaded: the same master" "$(cat "$TMP/fpm.pid")" "$FPM_PID"
stop_nginx

# ---- php-cgi -b: a parent and two children on a loopback port ----------------
docroot phpb
PHPB_PORT=$(free_port)
env "${SERVER_ENV[@]}" PHP_FCGI_CHILDREN=2 "$PHP_CGI" -b "127.0.0.1:$PHPB_PORT" >"$TMP/phpb.log" 2>&1 &
PIDS+=("$!")
disown "$!" 2>/dev/null
wait_for tcp_open "$PHPB_PORT"
php_nginx "$TMP/www-phpb" "127.0.0.1:$PHPB_PORT" plain 2
suite phpb php-cgi-b-plain
stampede phpb php-cgi-b-plain
stop_nginx
php_nginx "$TMP/www-phpb" "127.0.0.1:$PHPB_PORT" keep 2
suite phpb php-cgi-b-keep
stop_nginx

# ---- php-cgi under spawn-fcgi: one process on a unix socket -------------------
# One nginx worker: a single PHP process serves one connection at a time,
# so a second worker's kept connection would wait behind the first's.
docroot spawn
env "${SERVER_ENV[@]}" spawn-fcgi -n -M 0666 -s "$TMP/spawn.sock" -- "$PHP_CGI" >"$TMP/spawn.log" 2>&1 &
PIDS+=("$!")
disown "$!" 2>/dev/null
wait_for can_connect "$TMP/spawn.sock"
php_nginx "$TMP/www-spawn" "unix:$TMP/spawn.sock" plain 1
suite spawn spawn-fcgi-php-cgi-plain
stop_nginx
php_nginx "$TMP/www-spawn" "unix:$TMP/spawn.sock" keep 1
suite spawn spawn-fcgi-php-cgi-keep
stop_nginx

# Nothing the library logged at warn or above, anywhere.
for f in "$TMP/fpm.log" "$TMP/fpm.out" "$TMP/phpb.log" "$TMP/spawn.log"; do
    w=$(grep -a 'cgicache\[' "$f" | head -3)
    expect_eq "no warnings in $(basename "$f")" "$w" ""
done
finish
