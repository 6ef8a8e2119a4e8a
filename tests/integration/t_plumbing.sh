#!/bin/bash
# t_plumbing.sh -- what the library must be before any caching rule
# matters: it exports only the entry points it interposes (so its private
# hiredis and zstd can never capture an app's own copies), it takes
# itself out of LD_PRELOAD for the programs an app starts, and where it
# has nothing to do it changes not one byte of what the app sends.
. "$(dirname "$0")/lib.sh"

# -- Exports: exactly the names lib/cgicache.map lists as global.
wanted=$(sed -n '/global:/,/local:/p' "$TOP/lib/cgicache.map" | tr ' ;' '\n\n' |
    grep -E '^(FCG[IX]_[A-Za-z_]+|[a-z_0-9]+)$' | sort -u)
exported=$(nm -D --defined-only "$CC_LIB" | awk '$2 ~ /^[TtWwDdBbRrVvIi]$/ { sub(/@.*/, "", $3); print $3 }' | sort -u)
expect_ne "the version script lists entry points" "$wanted" ""
expect_eq "exported symbols are exactly those of lib/cgicache.map" \
    "$(echo "$exported" | tr '\n' ' ')" "$(echo "$wanted" | tr '\n' ' ')"
leaks=$(echo "$exported" | grep -Ei 'redis|sds|ZSTD|XXH|HUF_|FSE_|ZDICT' | tr '\n' ' ')
expect_eq "no hiredis, zstd or xxhash symbol is exported" "$leaks" ""
# -- Imports: nothing of hiredis or zstd (an app defining zstd's weak
# ZSTD_trace_* hooks would be handed the library's contexts), none of the
# system calls lib/sys/libc.c takes from libc.so.6 itself, and otherwise only
# libc's versioned symbols (plus the weak ones every crt object refers
# to; the sanitized build also imports its runtime's).
imported=$(nm -D --undefined-only "$CC_LIB" | awk '{ print $NF }' | sort -u)
expect_eq "no hiredis, zstd or xxhash symbol is imported" \
    "$(echo "$imported" | grep -Ei 'redis|sds|ZSTD|XXH|HUF_|FSE_|ZDICT' | tr '\n' ' ')" ""
forwarded=$(cat "$TOP/lib/sys/libc.c" "$TOP/lib/sys/libc.h" | grep -o 'X([a-z_0-9]*)' | sed 's/^X(//; s/)$//' | sort -u)
expect_ne "lib/sys/libc.c lists the system calls it forwards" "$(echo "$forwarded" | grep -cx write)" 0
expect_eq "no system call the library makes is bound to the app's definition" \
    "$(echo "$imported" | sed 's/@.*//' | grep -xF "$forwarded" | tr '\n' ' ')" ""
case "$CC_LIB" in
*asan*) ;;
*) expect_eq "every other import is libc's (versioned GLIBC_)" \
       "$(echo "$imported" | grep -v '@GLIBC_' | grep -vxE '_ITM_(de)?registerTMCloneTable|__gmon_start__' | tr '\n' ' ')" "" ;;
esac
needed=$(readelf -d "$CC_LIB" | awk '/NEEDED/ { print $NF }' | grep -Ei 'hiredis|zstd' | tr '\n' ' ')
expect_eq "hiredis and zstd are linked in, not needed at run time" "$needed" ""

# -- A child of a preloaded app does not inherit the library.  The control
# first: a plain app given a (missing) preload shows it to its child, so
# the check below can see an inherited LD_PRELOAD at all.
LD_PRELOAD=$TMP/libcgicache-absent.so start_plain_app control "$TESTAPP" 2>/dev/null   # ld.so complains
expect_contains "control: a child sees an inherited LD_PRELOAD" "$(fcgi control GET "/c?child=1")" \
    "child LD_PRELOAD=[$TMP/libcgicache-absent.so]"
start_redis
start_app app 1 "$TESTAPP" CGICACHE_ROUTE_cached='GET /cached/* ttl=60'
r=$(fcgi app GET "/cached/child?child=1")
expect_contains "a child's LD_PRELOAD is printed" "$r" "child LD_PRELOAD=["
case "$r" in
*"child LD_PRELOAD=["*libcgicache*) not_ok "a child of the app still preloads the library: $(printf '%s' "$r" | grep 'child LD_PRELOAD')" ;;
*) ok "a child of the app does not preload the library" ;;
esac
r=$(fcgi app GET "/other?child=1")
case "$r" in
*"child LD_PRELOAD=["*libcgicache*) not_ok "off-route: a child still preloads the library: $(printf '%s' "$r" | grep 'child LD_PRELOAD')" ;;
*) ok "off-route: a child does not preload the library" ;;
esac

# -- Where cgicache has nothing to do, the bytes are the app's own:
# the same app with and without the preload must answer identically.
start_plain_app plain "$TESTAPP"
start_app noroutes 1 "$TESTAPP"
start_app disabled 1 "$TESTAPP" CGICACHE_ENABLE=0 CGICACHE_ROUTE_all='GET /* ttl=60'
queries=("plain=1" "plain=1&lf=1" "plain=1&status=404%20Not%20Found"
    "plain=1&cc=private&xae=30&tags=a,b" "plain=1&location=/there" "plain=1&size=70000"
    "plain=1&slowbody=1&size=3000" "plain=1&echo=HTTP_X_NAME")
for q in "${queries[@]}"; do
    want=$(fcgi plain GET "/p?$q" HTTP_X_NAME=v | md5sum)
    expect_eq "no routes: byte for byte the app's answer ($q)" "$(fcgi noroutes GET "/p?$q" HTTP_X_NAME=v | md5sum)" "$want"
    expect_eq "CGICACHE_ENABLE=0: byte for byte the app's answer ($q)" "$(fcgi disabled GET "/p?$q" HTTP_X_NAME=v | md5sum)" "$want"
    expect_eq "off-route: byte for byte the app's answer ($q)" "$(fcgi app GET "/p?$q" HTTP_X_NAME=v | md5sum)" "$want"
done
expect_eq "no routes: the app ran for every request" "$(runs_of noroutes)" "${#queries[@]}"

# The fcgi_stdio API too: the first answer of a fresh process is
# deterministic (run=1), so the two can be compared whole.
start_plain_app stdio_plain "$TOP/build/examples/stdio_app"
start_app stdio_noroutes 1 "$TOP/build/examples/stdio_app"
expect_eq "fcgi_stdio, no routes: byte for byte the app's answer" \
    "$(fcgi stdio_noroutes GET /s | md5sum)" "$(fcgi stdio_plain GET /s | md5sum)"

# The library survives an app that starts children while it has a
# request open: the parent's next request is still served and cached.
r1=$(fcgi app GET "/cached/after-child"); r2=$(fcgi app GET "/cached/after-child")
expect_eq "after children: MISS then HIT" "$(status_of "$r1") $(status_of "$r2")" "MISS HIT"
finish
