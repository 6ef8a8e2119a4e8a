#!/bin/bash
# t_stale_error.sh -- when the app fails or will not cache, through nginx
# and curl: stale-if-error (RFC 5861) for a 5xx, an answer with no head,
# a crash, a lock holder that dies, and CGI programs that exit non-zero or
# by a signal; hit-for-pass (pass=), so an uncacheable route's requests
# run side by side instead of one after another behind the fill lock;
# min-uses=; per-status lifetimes, each seen with `cgicache inspect`.
. "$(dirname "$0")/lib.sh"

start_redis
ROUTES=(CGICACHE_ROUTE_e='GET /e/* ttl=1 stale-if-error=3'
        CGICACHE_ROUTE_plain='GET /plain/* ttl=1'
        CGICACHE_ROUTE_p='GET /p/* ttl=60 pass=20s'
        CGICACHE_ROUTE_nopass='GET /nopass/* ttl=60 pass=0'
        CGICACHE_ROUTE_m='GET /m/* ttl=60 min-uses=3'
        CGICACHE_ROUTE_s='GET /s/* ttl=60 status=200,404:30s,410'
        CGICACHE_LOCK_TTL=5s CGICACHE_EARLY_REFRESH=0)
start_app app 3 "$TESTAPP" "${ROUTES[@]}"
start_nginx app
U=http://127.0.0.1:$NGINX_PORT UP=$NGINX_PORT

# get NAME URL [CURL ARGS...]: headers in $TMP/NAME.h, body in $TMP/NAME.b.
get() {
    local name=$1 url=$2
    shift 2
    rm -f "$TMP/$name.h" "$TMP/$name.b"
    timeout 20 curl -s -H 'Host: localhost' -D "$TMP/$name.h" -o "$TMP/$name.b" "$@" "$url"
}
hdr() { tr -d '\r' <"$TMP/$1.h" | awk -v want="$(echo "$2" | tr 'A-Z' 'a-z')" -F': ' 'tolower($1) == want { print $2; exit }'; }
code() { tr -d '\r' <"$TMP/$1.h" 2>/dev/null | awk 'NR == 1 { print $2 }'; }
st() { hdr "$1" X-Cache-Status; }
b() { cat "$TMP/$1.b" 2>/dev/null; }
inspect() { env CGICACHE_REDIS="$REDIS_URL" "${ROUTES[@]}" "$CC_TOOL" inspect "$@"; }
# flush_stats BASE N: N requests at once, so every worker sends its counts.
flush_stats() {
    sleep 1.1
    for i in $(seq "$2"); do get "fl$i" "$1/plain/flush$i?sleep_ms=200" & done
    wait
    sleep 0.2
}
stat_of() {
    env CGICACHE_REDIS="$REDIS_URL" "${ROUTES[@]}" "$CC_TOOL" stats --json |
        python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin) if x["route"]==sys.argv[1]]; print(r[0].get(sys.argv[2],0) if r else 0)' "$1" "$2"
}

# ---- a libfcgi app answering 500 ----------------------------------------------
get good "$U/e/a"
expect_eq "stale-if-error: the first answer is stored" "$(st good) $(code good)" "MISS 200"
sleep 1.2
touch "$TMP/app.count.fail"
get f1 "$U/e/a"
expect_eq "expired, the app answers 500: the stored copy instead, 200 STALE" "$(code f1) $(st f1)" "200 STALE"
expect_eq "... with the good body" "$(b f1)" "$(b good)"
expect_contains "... Cache-Status says a hit, and the app's status" "$(hdr f1 Cache-Status)" "cgicache; hit; ttl=-"
expect_contains "... fwd-status=500" "$(hdr f1 Cache-Status)" "fwd=uri-miss; fwd-status=500"
get f2 "$U/e/a"
expect_eq "the good entry is kept: STALE again" "$(st f2) $(b f2)" "STALE $(b good)"
expect_contains "the failure is logged" "$(cat "$TMP/app.log")" "the app answered with a server error; the stored copy was served instead"
out=$(inspect "http://localhost:$UP/e/a")
expect_contains "inspect: the entry is kept only for stale-if-error" "$out" "expired (kept only for stale-if-error)"
expect_contains "inspect: ... and for how long" "$out" "served for 3000 ms past its ttl"
get f3 "$U/e/a" -I
expect_eq "HEAD on a failing app: the stored head" "$(code f3) $(st f3)" "200 STALE"

# An answer with no head at all (finished without a byte): the same.
rm -f "$TMP/app.count.fail"
touch "$TMP/app.count.empty"
get n1 "$U/e/a"
expect_eq "an answer without a head: STALE, the good body" "$(code n1) $(st n1) $(b n1)" "200 STALE $(b good)"
expect_contains "... Cache-Status names the failure" "$(hdr n1 Cache-Status)" "detail=app-failed"
rm -f "$TMP/app.count.empty"
flush_stats "$U" 6
n=$(stat_of e stale_if_error)
expect_eq "stats count the stale copies served for failures" "$n" 4

# A crash before the app wrote its head.
touch "$TMP/app.count.die"
get d1 "$U/e/a"
expect_eq "a crash before the head: STALE, the good body" "$(code d1) $(st d1) $(b d1)" "200 STALE $(b good)"
rm -f "$TMP/app.count.die"
sleep 0.3            # the crashed worker is replaced

# Without stale-if-error the app's 500 goes out as it was.
get pg "$U/plain/a"
sleep 1.2
touch "$TMP/app.count.fail"
get pf "$U/plain/a"
expect_eq "no stale-if-error on the route: the app's 500 (the control)" "$(code pf) $(st pf)" "500 MISS"
# The app's own Cache-Control: stale-if-error=N stands in for the option.
rm -f "$TMP/app.count.fail"
get ag "$U/plain/own?cc=max-age%3D1%2C%20stale-if-error%3D30"
sleep 1.2
touch "$TMP/app.count.fail"
get af "$U/plain/own?cc=max-age%3D1%2C%20stale-if-error%3D30"
expect_eq "the app's own stale-if-error=30: STALE, its good body" "$(code af) $(st af) $(b af)" "200 STALE $(b ag)"
# must-revalidate without the directive: no stale copy.
rm -f "$TMP/app.count.fail"
get mg "$U/e/mr?cc=max-age%3D1%2C%20must-revalidate"
sleep 1.2
touch "$TMP/app.count.fail"
get mf "$U/e/mr?cc=max-age%3D1%2C%20must-revalidate"
expect_eq "must-revalidate: the route's stale-if-error does not apply" "$(code mf) $(st mf)" "500 MISS"

# Past the window (ttl 1 s + 3 s), the app's error goes out.
sleep 2.6
get late "$U/e/a"
expect_eq "past the stale-if-error window: the app's 500" "$(code late) $(st late)" "500 MISS"
rm -f "$TMP/app.count.fail"
get back "$U/e/a"
get back2 "$U/e/a"
expect_eq "the app recovered: a MISS stored, then a HIT" "$(st back) $(st back2)" "MISS HIT"

# ---- waiters on a failing computation ----------------------------------------
get w0 "$U/e/w?sleep_ms=400"
sleep 1.2
touch "$TMP/app.count.fail"
before=$(runs_of app)
for i in 1 2 3; do get "w$i" "$U/e/w?sleep_ms=400" & done
wait
runs=$(( $(runs_of app) - before ))
expect_eq "3 concurrent requests on a failing key: all STALE with the good body" \
    "$(st w1) $(st w2) $(st w3) $(b w1)$(b w2)$(b w3)" "STALE STALE STALE $(b w0)$(b w0)$(b w0)"
expect_eq "... one computation" "$runs" 1
expect_contains "... the waiters' Cache-Status says the fill failed" "$(cat "$TMP"/w[123].h)" "detail=fill-failed"
rm -f "$TMP/app.count.fail"

# A lock holder that dies: its waiters get the stale copy in well under
# the lock's 5 s TTL.
get k0 "$U/e/k?sleep_ms=300"
sleep 1.2
touch "$TMP/app.count.crash"
get k1 "$U/e/k?sleep_ms=300" &
sleep 0.1
t0=$(date +%s%N)
get k2 "$U/e/k?sleep_ms=300"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait
rm -f "$TMP/app.count.crash"
expect_eq "the holder died: its waiter gets the stale copy" "$(st k2) $(b k2)" "STALE $(b k0)"
[ "$ms" -lt 2000 ] && ok "... in $ms ms, not the lock's 5 s" || not_ok "waiter took $ms ms"
sleep 0.3

# ---- CGI programs ------------------------------------------------------------------
# page.sh MODE: a page, then what MODE says (exit 1, a SIGABRT, 100 kB
# more then exit 1); the -early modes fail before writing anything.  (A
# SIGABRT, not a SIGSEGV: under ASan its own handler would take that for
# a fault in the program.)
cat >"$TMP/page.sh" <<'CGI'
mode=$(cat "$MODE_FILE" 2>/dev/null)
case "$mode" in
exit1-early) exit 1 ;;
abort-early) kill -ABRT $$ ;;
esac
echo "Content-Type: text/plain"
echo
echo "page made by $$"
case "$mode" in
exit1) exit 1 ;;
abort) kill -ABRT $$ ;;
big1) head -c 100000 /dev/zero | tr '\0' x; exit 1 ;;
esac
exit 0
CGI
mkdir -p "$TMP/www/cgi"
{ echo '#!/bin/sh'; echo "MODE_FILE='$TMP/mode'"; cat "$TMP/page.sh"; } >"$TMP/www/cgi/page.sh"
chmod -R a+rX "$TMP/www"; chmod 755 "$TMP/www/cgi/page.sh"

# Behind nginx and fcgiwrap (the library in fcgiwrap, a libfcgi app): a
# program that fails before writing makes fcgiwrap answer 502.
rm -f "$TMP/cgi.sock"
env CGICACHE_REDIS="$REDIS_URL" CGICACHE_ROUTE_cgi='GET /cgi/* ttl=1 stale-if-error=60' \
    LD_PRELOAD="$(preload_value)" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
    spawn-fcgi -n -M 0666 -s "$TMP/cgi.sock" -- /usr/sbin/fcgiwrap >>"$TMP/cgi.log" 2>&1 &
PIDS+=("$!")
disown "$!" 2>/dev/null
wait_for can_connect "$TMP/cgi.sock"
NGINX_EXTRA="fastcgi_param SCRIPT_FILENAME $TMP/www/cgi/page.sh;" start_nginx cgi
C=http://127.0.0.1:$NGINX_PORT/cgi
get cg "$C/a"
expect_eq "fcgiwrap: stored" "$(st cg)" MISS
sleep 1.2
for mode in exit1-early abort-early; do
    echo $mode >"$TMP/mode"
    get "c$mode" "$C/a"
    expect_eq "fcgiwrap, a program that fails before writing ($mode): the stored copy" \
        "$(code "c$mode") $(st "c$mode") $(b "c$mode")" "200 STALE $(b cg)"
done
rm -f "$TMP/mode"

# Under lighttpd's mod_cgi, the library in the CGI process: it sees the
# exit status, so a page followed by a failed exit is replaced too.
start_lighttpd "$TMP/www" '".sh" => "/bin/sh"' CGICACHE_REDIS="$REDIS_URL" \
    CGICACHE_ROUTE_l='GET /cgi/* ttl=1 stale-if-error=60' CGICACHE_MAX_SIZE=64k
L=http://127.0.0.1:$LIGHTTPD_PORT/cgi/page.sh
get lg "$L"
expect_eq "mod_cgi: stored" "$(st lg)" MISS
sleep 1.2
for mode in exit1 abort exit1-early; do
    echo $mode >"$TMP/mode"
    get "l$mode" "$L"
    expect_eq "mod_cgi, a program that printed a page, then $mode: the stored copy" \
        "$(code "l$mode") $(st "l$mode") $(b "l$mode")" "200 STALE $(b lg)"
done
echo big1 >"$TMP/mode"
get lbig "$L"
expect_eq "mod_cgi past CGICACHE_MAX_SIZE, then exit 1: streamed as it came (the fallback let go)" \
    "$(st lbig) $(stat -c %s "$TMP/lbig.b")" "MISS $((100000 + $(stat -c %s "$TMP/lg.b")))"
rm -f "$TMP/mode"
get lok "$L"
expect_eq "mod_cgi, the program exits 0 again: its new page, stored" "$(st lok)" MISS
expect_ne "... not the old one" "$(b lok)" "$(b lg)"

# ---- hit-for-pass ---------------------------------------------------------------
# A 300 ms route whose answer sets a cookie (never stored): after one
# request, 16 at once take about one compute time, not two.
start_app many 16 "$TESTAPP" "${ROUTES[@]}"
NGINX_EXTRA="" start_nginx many
M=http://127.0.0.1:$NGINX_PORT MP=$NGINX_PORT
# burst PATH: 16 requests on connections opened beforehand, sent at once;
# prints the ms from the first sent to the last answered (all must be 200).
burst() {
    python3 - "$MP" "$1" <<'PY'
import socket, sys, threading, time
port, path, n = int(sys.argv[1]), sys.argv[2], 16
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
go, codes = threading.Event(), []
def one(s):
    go.wait()
    s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path.encode())
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    codes.append(data.split(b" ", 2)[1])
threads = [threading.Thread(target=one, args=(s,)) for s in socks]
for t in threads: t.start()
t0 = time.monotonic(); go.set()
for t in threads: t.join()
print(int((time.monotonic() - t0) * 1000) if codes == [b"200"] * n else "failed: %s" % codes)
PY
}
get p0 "$M/p/x?cookie=1&sleep_ms=300"
expect_eq "an uncacheable answer (Set-Cookie) on a pass= route: MISS" "$(st p0)" MISS
expect_eq "... the key is remembered as uncacheable in Redis" \
    "$(rcli GET "$(entry_key p "http://localhost/p/x?cookie=1&sleep_ms=300")|:$MP")" "cgicache:pass"
expect_contains "inspect shows it" "$(inspect "http://localhost:$MP/p/x?cookie=1&sleep_ms=300")" "remembered as uncacheable"
pass_ms=$(burst "/p/x?cookie=1&sleep_ms=300")
get n0 "$M/nopass/x?cookie=1&sleep_ms=300"
lock_ms=$(burst "/nopass/x?cookie=1&sleep_ms=300")
echo "# 16 concurrent requests to a 300 ms uncacheable route: $pass_ms ms with pass=, $lock_ms ms with pass=0"
[ "$pass_ms" -lt 450 ] && ok "pass=: 16 concurrent requests in $pass_ms ms (< 1.5 x 300 ms)" ||
    not_ok "pass=: 16 concurrent requests took $pass_ms ms"
[ "$lock_ms" -ge 550 ] && ok "pass=0 (the control): they queue behind the lock ($lock_ms ms)" ||
    not_ok "pass=0 took only $lock_ms ms: the comparison shows nothing"
flush_stats "$M" 32
n=$(stat_of p pass)
[ "$n" -ge 16 ] && ok "stats count the requests that skipped the lock ($n)" || not_ok "pass counted $n"
# The mark does not stop a cacheable answer from being stored.
rcli SET "$(entry_key p "http://localhost/p/later")|:$MP" cgicache:pass PX 20000 >/dev/null
get l1 "$M/p/later"
get l2 "$M/p/later"
expect_eq "a key remembered uncacheable whose answer is cacheable now: stored" "$(st l1) $(st l2)" "MISS HIT"
# A 500 is a failure, not a page that will never cache: not remembered.
get e5 "$M/p/err?fail=1"
expect_eq "a 500 is not remembered as uncacheable" \
    "$(rcli EXISTS "$(entry_key p "http://localhost/p/err?fail=1")|:$MP")" 0

# ---- min-uses ---------------------------------------------------------------------
for i in 1 2 3 4; do get "m$i" "$M/m/x"; done
expect_eq "min-uses=3: MISS, MISS, MISS (stored), HIT" "$(st m1) $(st m2) $(st m3) $(st m4)" "MISS MISS MISS HIT"
expect_eq "... the first two are not stored" "$(hdr m1 Cache-Status)|$(hdr m3 Cache-Status)" \
    "cgicache; fwd=uri-miss|cgicache; fwd=uri-miss; stored"
get o1 "$M/m/once"
out=$(inspect "http://localhost:$MP/m/once")
expect_contains "inspect: a key asked once is counted, not stored" "$out" "uses       1 of min-uses=3"
expect_contains "... and has no entry" "$out" "entry      none"
flush_stats "$M" 32
n=$(stat_of m min_uses_skip)
expect_eq "stats count the misses not stored for min-uses" "$n" 3

# ---- per-status lifetimes ----------------------------------------------------------
get s1 "$M/s/nf?status=404"
get s2 "$M/s/nf?status=404"
expect_eq "status=404:30s: a 404 is stored" "$(code s2) $(st s2)" "404 HIT"
ttl=$(inspect --json "http://localhost:$MP/s/nf?status=404" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entry"]["ttl_left_ms"])')
[ "$ttl" -gt 25000 ] && [ "$ttl" -le 30000 ] && ok "inspect: the 404's ttl is 30 s ($ttl ms left)" ||
    not_ok "inspect: the 404's ttl left is $ttl ms"
get g1 "$M/s/gone?status=410"
ttl=$(inspect --json "http://localhost:$MP/s/gone?status=410" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entry"]["ttl_left_ms"])')
[ "$ttl" -gt 55000 ] && ok "inspect: a bare 410 keeps the route's ttl ($ttl ms left)" || not_ok "410 ttl left $ttl"
get x1 "$M/s/err?status=403"
get x2 "$M/s/err?status=403"
expect_eq "a status not listed is not stored" "$(st x2)" MISS
finish
