#!/bin/bash
# t_acl.sh -- CGICACHE_REDIS=redis://user:password@host: cgicache
# authenticates as a Redis 6 ACL user (AUTH user password), on every
# connection it makes: the worker's, the fill waiter's, the near cache's
# channel and the tool's.  The default user is switched off, so nothing
# passes without the user.  A wrong password or a disabled user fails
# open, says so once, and never logs the password.
. "$(dirname "$0")/lib.sh"

start_redis
# Everything under the prefix and every channel; the default user off.
rcli ACL SETUSER app on '>s3cr3t-pw' '~cgicache:*' '&*' '+@all' >/dev/null
rcli ACL SETUSER admin on '>adm1n' '~*' '&*' '+@all' >/dev/null
rcli ACL SETUSER default off >/dev/null
# rcli as the admin from now on.
rcli() { timeout 5 redis-cli --user admin --pass adm1n --no-auth-warning -p "$REDIS_PORT" "$@"; }
expect_contains "the default user is refused" "$(timeout 5 redis-cli -p "$REDIS_PORT" GET x 2>&1)" "NOAUTH"

ROUTES=(CGICACHE_ROUTE_all='GET /* ttl=60')
start_app app 1 "$TESTAPP" "${ROUTES[@]}" CGICACHE_REDIS="redis://app:s3cr3t-pw@127.0.0.1:$REDIS_PORT/0"
expect_eq "ACL user: MISS first" "$(status_of "$(fcgi app GET "/a?plain=1")")" MISS
expect_eq "ACL user: then HIT" "$(status_of "$(fcgi app GET "/a?plain=1")")" HIT
# The near cache's channel is made as the user too: tracking redirected to it.
r=$(fcgi app GET "/a?plain=1")
expect_contains "ACL user: the near cache serves (its channel authenticated)" \
    "$(header_of "$r" Cache-Status)" "detail=near"
expect_eq "ACL user: the app ran once" "$(runs_of app)" 1
expect_contains "the keys are written as the user" "$(rcli --scan --pattern 'cgicache:all:*')" "cgicache:all:"
rcli CLIENT LIST | grep -q "user=app" && ok "connections are the user's" || not_ok "no connection as user app"

# A stampede: the waiter's own subscribed connection authenticates too.
start_app app2 1 "$TESTAPP" "${ROUTES[@]}" CGICACHE_REDIS="redis://app:s3cr3t-pw@127.0.0.1:$REDIS_PORT/0"
for i in 1 2 3 4; do
    fcgi app2 GET "/cold?plain=1&sleep_ms=400" >"$TMP/c.$i" &
done
wait
expect_eq "ACL user: 4 cold requests, 1 computation" "$(runs_of app2)" 1

# The tool authenticates the same way.
export CGICACHE_REDIS="redis://app:s3cr3t-pw@127.0.0.1:$REDIS_PORT/0"
"$CC_TOOL" check >"$TMP/check.out" 2>&1
expect_contains "check: redis reachable as the user" "$(cat "$TMP/check.out")" "PONG"
expect_contains "check: the user is shown" "$(cat "$TMP/check.out")" "redis://app:(password)@"
grep -q s3cr3t-pw "$TMP/check.out" && not_ok "check shows the password" || ok "check hides the password"
"$CC_TOOL" purge --route all >/dev/null 2>&1
expect_eq "purge as the user: MISS again" "$(status_of "$(fcgi app GET "/a?plain=1")")" MISS
unset CGICACHE_REDIS

# A wrong password: the app answers, uncached; the refusal is logged once,
# the password never.
start_app bad 1 "$TESTAPP" "${ROUTES[@]}" CGICACHE_REDIS="redis://app:wrong-pw@127.0.0.1:$REDIS_PORT/0"
r1=$(fcgi bad GET "/b?plain=1"); r2=$(fcgi bad GET "/b?plain=1")
expect_eq "wrong password: the app answers" "$(body_of "$r2")" "plain page"
expect_eq "wrong password: MISS" "$(status_of "$r2")" MISS
expect_contains "wrong password: redis's refusal is logged" "$(cat "$TMP/bad.log")" "WRONGPASS"
grep -q wrong-pw "$TMP/bad.log" && not_ok "wrong password: logged" || ok "wrong password: never logged"
# The user switched off while the worker runs: it fails open, then comes
# back when the user is on again.
rcli ACL SETUSER app off >/dev/null
rcli CLIENT KILL USER app >/dev/null
r=$(fcgi app GET "/off?plain=1")
expect_eq "user disabled: the app answers" "$(body_of "$r")" "plain page"
expect_eq "user disabled: MISS" "$(status_of "$r")" MISS
rcli ACL SETUSER app on >/dev/null
back=0
for _ in $(seq 60); do
    fcgi app GET "/back?plain=1" >/dev/null
    [ "$(status_of "$(fcgi app GET "/back?plain=1")")" = HIT ] && back=1 && break
    sleep 0.1
done
expect_eq "user enabled again: HITs are back" "$back" 1
finish
