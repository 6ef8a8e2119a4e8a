#!/bin/bash
# t_libc.sh -- the library reaches libc, never a same-named function of
# the app: own_libc defines write, read, close and malloc, calloc,
# realloc, free that abort when called before main() or from libcgicache
# (as cgit's write crashes before its main ran).  The allocator checks are
# off under ASan, where the library keeps the process's malloc.  Cached as a CGI program and as a FastCGI app: MISS, then a
# byte-identical HIT, with the configuration read from a file (read and
# close at load) and debug logging on (write at load and on every request).
. "$(dirname "$0")/lib.sh"

start_redis
APP=$TOP/build/tests/own_libc
case "$CC_LIB" in *asan*) export OWN_LIBC_LAX_MALLOC=1 ;; *) export OWN_LIBC_LAX_MALLOC=0 ;; esac
cat >"$TMP/cgicache.conf" <<CONF
CGICACHE_REDIS=$REDIS_URL
CGICACHE_ROUTE_own='GET /own/* ttl=60'
CGICACHE_LOG=debug
CONF

# As a CGI program: the hit is written and the miss teed from the
# constructor, before main.  timeout comes first: under LD_PRELOAD it
# would be the CGI process the library caches, not the app.
cgi() {
    timeout 10 env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI="$1" \
        QUERY_STRING= SCRIPT_NAME="$1" SERVER_NAME=localhost SERVER_PORT=80 HTTP_HOST=localhost \
        SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 LD_PRELOAD="$(preload_value)" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        CGICACHE_CONFIG="$TMP/cgicache.conf" APP_COUNTER="$TMP/cgi.count" OWN_LIBC_LAX_MALLOC="$OWN_LIBC_LAX_MALLOC" \
        "$APP" </dev/null 2>>"$TMP/cgi.err"
}
touch "$TMP/cgi.count"
miss=$(cgi /own/page); s1=$?
hit=$(cgi /own/page); s2=$?
expect_eq "CGI: both runs exit 0" "$s1 $s2" "0 0"
expect_eq "CGI: MISS then HIT" "$(status_of "$miss") $(status_of "$hit")" "MISS HIT"
expect_eq "CGI: the HIT body is the MISS body" "$(body_of "$hit" | md5sum)" "$(body_of "$miss" | md5sum)"
expect_contains "CGI: the body is the app's" "$(body_of "$miss")" "line 199"
expect_eq "CGI: the program ran once" "$(runs_of cgi)" 1
if grep -q "own_libc:" "$TMP/cgi.err"; then not_ok "CGI: $(grep -m1 own_libc: "$TMP/cgi.err")"
else ok "CGI: the app's write/read/close were never called by the library"; fi

# As a FastCGI app (fcgi_stdio) under spawn-fcgi.
start_app own 1 "$APP" CGICACHE_CONFIG="$TMP/cgicache.conf"
miss=$(fcgi own GET /own/fcgi)
hit=$(fcgi own GET /own/fcgi)
expect_eq "FastCGI: MISS then HIT" "$(status_of "$miss") $(status_of "$hit")" "MISS HIT"
expect_eq "FastCGI: the HIT body is the MISS body" "$(body_of "$hit" | md5sum)" "$(body_of "$miss" | md5sum)"
expect_contains "FastCGI: the body is the app's" "$(body_of "$miss")" "line 199"
expect_eq "FastCGI: the app ran once" "$(runs_of own)" 1
if grep -q "own_libc:" "$TMP/own.log"; then not_ok "FastCGI: $(grep -m1 own_libc: "$TMP/own.log")"
else ok "FastCGI: the app's write/read/close were never called by the library"; fi
finish
