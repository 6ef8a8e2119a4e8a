#!/bin/bash
# t_apis.sh -- every way an app talks to libfcgi: fcgiapp with threads,
# fcgi_stdio (FCGI_Accept + printf), Perl's FCGI module, and an fcgi_stdio
# module a host loads with RTLD_LOCAL (libfcgi outside the global scope,
# as with Lua's lfcgi).
. "$(dirname "$0")/lib.sh"

start_redis
# Generous Redis timeouts: a CPU-starved test machine must not turn a
# slow reply into a fail-open computation that the counts would flag.
ROUTE=(CGICACHE_ROUTE_all='GET /* ttl=60' CGICACHE_TIMEOUT=500ms CGICACHE_CONNECT_TIMEOUT=500ms)

check_api() {
    local app=$1
    local r1 r2
    r1=$(fcgi "$app" GET "/api/$app"); r2=$(fcgi "$app" GET "/api/$app")
    expect_eq "$app: MISS" "$(status_of "$r1")" MISS
    expect_eq "$app: HIT" "$(status_of "$r2")" HIT
    expect_eq "$app: same body" "$(body_of "$r2")" "$(body_of "$r1")"
    expect_eq "$app: ran once" "$(runs_of "$app")" 1
}

start_app stdio 1 "$TOP/build/examples/stdio_app" "${ROUTE[@]}"
check_api stdio
expect_contains "stdio: every stdio call captured" "$(body_of "$(fcgi stdio GET /api/stdio)")" "stdio ok
written"

start_app threaded 1 "$THREADED_APPS/examples/threaded_app" "${ROUTE[@]}"
check_api threaded
pids=()
for i in $(seq 16); do fcgi threaded GET "/slow/$((i % 4))" >"$TMP/t.$i" & pids+=($!); done
wait "${pids[@]}"
bad=0
for i in $(seq 16); do
    r=$(cat "$TMP/t.$i")
    case "$(status_of "$r")" in HIT|MISS) ;; *) bad=$((bad + 1)) ;; esac
    [ "$(body_of "$r" | head -1 | cut -d' ' -f1)" = "uri=/slow/$((i % 4))" ] || bad=$((bad + 1))
done
expect_eq "threads: 16 concurrent answers, each right for its URL" "$bad" 0
expect_eq "threads: one computation per key" "$(grep -c '/slow/' "$TMP/threaded.count")" 4

# libfcgi loaded privately: its fcgi_stdio stdout is found all the same.
start_app private 1 "$TOP/build/tests/private_host" "${ROUTE[@]}"
check_api private
expect_contains "private: every stdio call captured" "$(body_of "$(fcgi private GET /api/private)")" "fwrite
puts"

if perl -MFCGI -e1 2>/dev/null; then
    start_app perl 1 "$TOP/tests/apps/perl_app.pl" "${ROUTE[@]}"
    check_api perl
else
    not_ok "perl FCGI module missing (libfcgi-perl)"
fi
finish
