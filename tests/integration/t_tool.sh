#!/bin/bash
# t_tool.sh -- the cgicache tool against a real redis-server and a real
# app: run, check, inspect, stats, and an installed copy.
. "$(dirname "$0")/lib.sh"

start_redis
export CGICACHE_REDIS=$REDIS_URL CGICACHE_ROUTE_pages='GET /pages/* ttl=60'

# run: the library is found next to the tool and preloaded.
rm -f "$TMP/run.sock"
"$CC_TOOL" run -e CGICACHE_ROUTE_extra='GET /extra/* ttl=60' -- \
    spawn-fcgi -n -s "$TMP/run.sock" -- "$TESTAPP" >"$TMP/run.log" 2>&1 &
PIDS+=("$!"); disown "$!" 2>/dev/null
wait_for test -S "$TMP/run.sock"
fcgi run GET /pages/1 >/dev/null
expect_eq "run: the app is cached" "$(status_of "$(fcgi run GET /pages/1)")" HIT
fcgi run GET /extra/1 >/dev/null
expect_eq "run -e: sets a variable for the app" "$(status_of "$(fcgi run GET /extra/1)")" HIT
"$CC_TOOL" run >/dev/null 2>&1
expect_eq "run without a command: usage error" "$?" 2
CGICACHE_LIB=/nonexistent.so "$CC_TOOL" run -- true >/dev/null 2>&1
expect_eq "run with a missing library: error" "$?" 1

# check: settings, routes, problems, Redis, programs.
out=$("$CC_TOOL" check 2>&1)
expect_eq "check: a good configuration exits 0" "$?" 0
expect_contains "check: lists routes" "$out" "pages"
expect_contains "check: pings Redis" "$out" "PONG"
out=$(CGICACHE_TTL=soon CGICACHE_ROUTE_bad='GET /x ttl=never' "$CC_TOOL" check 2>&1)
expect_eq "check: a bad configuration exits 1" "$?" 1
expect_contains "check: names the bad global" "$out" "CGICACHE_TTL"
expect_contains "check: names the bad route" "$out" "CGICACHE_ROUTE_bad"
out=$(CGICACHE_TTL=soon "$CC_TOOL" check --json 2>&1)
expect_contains "check --json names the problem" "$out" '"variable": "CGICACHE_TTL", "warning": false'
expect_contains "check --json says not ok" "$out" '"ok": false'
out=$(CGICACHE_REDIS=redis://127.0.0.1:1/0 "$CC_TOOL" check 2>&1)
expect_eq "check: unreachable Redis exits 1" "$?" 1
expect_contains "check: says Redis is unreachable" "$out" "unreachable"
# check PROGRAM [ARGS]: what will be cached, judged from the program's
# file and arguments; exit 1 where nothing would be.
# verdict_of ARGS...: "<exit status> <verdict>" of check's JSON.
verdict_of() {
    "$CC_TOOL" check --json "$@" 2>/dev/null >"$TMP/v.json"
    echo "$? $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["program"]["verdict"])' "$TMP/v.json")"
}
printf 'int main(void) { return 0; }\n' | cc -static -x c - -o "$TMP/static" 2>/dev/null
if [ -x "$TMP/static" ]; then
    out=$("$CC_TOOL" check "$TMP/static" 2>&1)
    expect_eq "check: a static program exits 1" "$?" 1
    expect_contains "check: says why" "$out" "statically linked"
    printf '#!%s\n' "$TMP/static" >"$TMP/static-script"; chmod +x "$TMP/static-script"
    expect_eq "check: a script whose interpreter is static: nothing" "$(verdict_of "$TMP/static-script")" "1 none"
else
    not_ok "check: cannot build a static program (libc6-dev's libc.a)"
fi
out=$("$CC_TOOL" check "$TESTAPP" 2>&1)
expect_contains "check: a dynamic program is reachable" "$out" "LD_PRELOAD reaches it"
expect_contains "check: a libfcgi app will be cached" "$out" "cached: a libfcgi app"
expect_eq "check: a libfcgi app exits 0" "$(verdict_of "$TESTAPP")" "0 libfcgi"
expect_eq "check: a libfcgi app under spawn-fcgi" "$(verdict_of spawn-fcgi -n -s /x.sock -- "$TESTAPP")" "0 libfcgi"
expect_eq "check: a shell CGI script" "$(verdict_of "$TOP/tests/apps/cgi/hello.sh")" "0 cgi"
expect_eq "check: a Perl FCGI script" "$(verdict_of "$TOP/tests/apps/perl_app.pl")" "0 libfcgi"
expect_eq "check: a setuid program: nothing" "$(verdict_of /usr/bin/passwd)" "1 none"
expect_eq "check: a missing program: nothing" "$(verdict_of /nonexistent/app)" "1 none"
if command -v php-cgi >/dev/null; then
    expect_eq "check: php-cgi (as CGI) will be cached" "$(verdict_of php-cgi)" "0 cgi"

else
    not_ok "check: php-cgi missing (tests/deps.sh installs php-cgi)"
fi
fpm=$(ls /usr/sbin/php-fpm* 2>/dev/null | head -1)
if [ -n "$fpm" ]; then
    out=$("$CC_TOOL" check "$fpm" 2>&1)
    expect_eq "check: php-fpm exits 0" "$?" 0
    expect_contains "check: php-fpm: the wire adapter, and why" "$out" "php-fpm serves FastCGI with PHP's own code"
    expect_eq "check: php-fpm's verdict" "$(verdict_of "$fpm")" "0 wire"
else
    not_ok "check: php-fpm missing (tests/deps.sh installs php-fpm)"
fi
"$CC_TOOL" check --frobnicate >/dev/null 2>&1
expect_eq "check: an unknown option is a usage error" "$?" 2
echo 'CGICACHE_ROUTE_fromfile=GET /f/* ttl=5' >"$TMP/cgicache.conf"
expect_contains "check: reads CGICACHE_CONFIG" "$(CGICACHE_CONFIG=$TMP/cgicache.conf "$CC_TOOL" check 2>&1)" "fromfile"

# cgicache check names the eviction policy and warns about the unsafe ones.
out=$("$CC_TOOL" check 2>&1)
expect_contains "check: reports maxmemory-policy" "$out" "maxmemory-policy noeviction"
rcli CONFIG SET maxmemory-policy allkeys-lru >/dev/null
out=$("$CC_TOOL" check 2>&1)
expect_contains "check: warns about allkeys-lru" "$out" "warning: redis maxmemory-policy allkeys-lru"
expect_contains "check --json: the policy" "$("$CC_TOOL" check --json 2>&1)" '"maxmemory_policy": "allkeys-lru"'
rcli CONFIG SET maxmemory-policy volatile-lru >/dev/null
expect_ne "check: no warning for volatile-lru" "$("$CC_TOOL" check 2>&1 | grep -c 'warning: redis maxmemory')" 1
rcli ACL SETUSER default -config >/dev/null
out=$("$CC_TOOL" check 2>&1)
expect_eq "check: CONFIG refused is not a failure" "$?" 0
expect_contains "... it says the policy is unknown" "$out" "maxmemory-policy unknown"
rcli ACL SETUSER default +config >/dev/null
rcli CONFIG SET maxmemory-policy noeviction >/dev/null

# inspect: the key and the entry.
out=$("$CC_TOOL" inspect "http://localhost/pages/1")
expect_eq "inspect: an entry exits 0" "$?" 0
expect_contains "inspect: shows the key" "$out" "cgicache:pages:{"
expect_contains "... with its hash tag, then the URL" "$out" "}GET:http://localhost/pages/1"
expect_contains "inspect: shows freshness" "$out" "fresh, status 200"
expect_contains "inspect: shows the stored head" "$out" "Content-Type: text/plain"
"$CC_TOOL" inspect "http://localhost/pages/none" >/dev/null
expect_eq "inspect: no entry exits 1" "$?" 1
out=$("$CC_TOOL" inspect "http://localhost/pages/1" --json)
expect_contains "inspect --json" "$out" '"state": "fresh"'
expect_contains "inspect: -H Cookie is classified" "$("$CC_TOOL" inspect http://localhost/pages/1 -H 'Cookie: a=1')" "bypass (private)"
expect_contains "inspect: off-route" "$("$CC_TOOL" inspect http://localhost/elsewhere)" "none: passes through"

# stats: every worker's counts, within a second or two.
"$CC_TOOL" stats --reset >/dev/null
for _ in 1 2 3; do fcgi run GET /pages/1 >/dev/null; done
sleep 1.1
fcgi run GET /pages/2 >/dev/null        # the next round trip carries the counts
out=$("$CC_TOOL" stats --json)
hits=$(printf '%s' "$out" | python3 -c 'import json,sys; print([r for r in json.load(sys.stdin) if r["route"]=="pages"][0]["hit"])')
[ "$hits" -ge 3 ] && ok "stats: hits of every worker counted ($hits)" || not_ok "stats: hits counted ($hits)"
expect_contains "stats: table" "$("$CC_TOOL" stats)" "hit ratio"
# The same counters in the Prometheus text format, read by a strict parser.
prom=$("$CC_TOOL" stats --prometheus | python3 "$TOP/tests/integration/prom_check.py")
expect_eq "stats --prometheus: the format holds (prom_check.py)" "$?" 0
expect_eq "stats --prometheus: the hits are the JSON's" \
    "$(printf '%s\n' "$prom" | awk '$1 == "cgicache_requests_total{outcome=hit,route=pages}" { print $2 }')" "$hits"
expect_contains "stats --prometheus: misses, stores, the ratio" "$prom" "cgicache_stores_total{route=pages}"
expect_contains "stats --prometheus: ... and the hit ratio" "$prom" "cgicache_hit_ratio{route=pages} "
for bad in 'x{a="1"} 1 2 3' 'x{a="\q"} 1' '# TYPE x_total counter
x_total -1' 'x 1
y 1
x 2' 'x{a="1",a="2"} 1'; do
    printf '%s\n' "$bad" | python3 "$TOP/tests/integration/prom_check.py" >/dev/null 2>&1 &&
        not_ok "prom_check.py takes what the format forbids: $bad" || ok "prom_check.py refuses: $(printf '%s' "$bad" | tr '\n' '|')"
done
expect_eq "stats: --prometheus goes alone" "$("$CC_TOOL" stats --prometheus --json >/dev/null 2>&1; echo $?)" 2

# probe: a FastCGI client of its own.
out=$("$CC_TOOL" probe "$TMP/run.sock" http://localhost/pages/1)
expect_eq "probe: exit 0" "$?" 0
expect_contains "probe: cache status" "$out" "cache      HIT"
expect_contains "probe: headers" "$out" "Content-Type: text/plain"
out=$("$CC_TOOL" probe "$TMP/run.sock" http://localhost/pages/1 --bypass --json)
expect_contains "probe --bypass --json" "$out" '"cache": "BYPASS"'
"$CC_TOOL" probe "$TMP/run.sock" "http://localhost/pages/same?plain=1" --compare >/dev/null
expect_eq "probe --compare: a deterministic page is identical" "$?" 0
out=$("$CC_TOOL" probe "$TMP/run.sock" http://localhost/pages/1 --compare)
expect_eq "probe --compare: a page that changes per run differs" "$?" 1
expect_contains "probe --compare says so" "$out" "DIFFER"
"$CC_TOOL" probe "$TMP/none.sock" http://localhost/ 2>/dev/null
expect_eq "probe: no socket exits 1" "$?" 1

# An installed copy finds its library under PREFIX/lib.
make -s -C "$TOP" install PREFIX="$TMP/prefix" >/dev/null
expect_eq "install: library" "$(test -f "$TMP/prefix/lib/libcgicache.so" && echo yes)" yes
out=$("$TMP/prefix/bin/cgicache" run -- sh -c 'echo "$LD_PRELOAD"')
expect_eq "installed run preloads the installed library" "$out" "$TMP/prefix/lib/libcgicache.so"
"$CC_TOOL" --help >/dev/null && "$CC_TOOL" inspect --help >/dev/null && "$CC_TOOL" purge --help >/dev/null
expect_eq "--help everywhere" "$?" 0
"$CC_TOOL" frobnicate >/dev/null 2>&1
expect_eq "unknown command: usage error" "$?" 2
finish
