#!/bin/bash
# t_poison.sh -- cache poisoning and privacy: no request can get another
# user's page or plant a page for others.
. "$(dirname "$0")/lib.sh"

start_redis
start_app app 2 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60' CGICACHE_ROUTE_css='GET /*.css ttl=60' \
    CGICACHE_ROUTE_lang='GET /lang/* ttl=60 vary=X-Forwarded-Host'

# An app that reflects X-Forwarded-Host: the poisoned answer is neither
# stored nor served to others.
r=$(fcgi app GET "/page?echo=HTTP_X_FORWARDED_HOST" HTTP_X_FORWARDED_HOST=evil.example)
expect_contains "the poisoned request gets its own answer" "$r" "evil.example"
expect_eq "... marked BYPASS" "$(status_of "$r")" BYPASS
r=$(fcgi app GET "/page?echo=HTTP_X_FORWARDED_HOST"); r=$(fcgi app GET "/page?echo=HTTP_X_FORWARDED_HOST")
expect_eq "a clean request after it is cached on its own" "$(status_of "$r")" HIT
case "$r" in *evil*) not_ok "poisoned body served to others" ;; *) ok "no poisoned body served to others" ;; esac
for h in HTTP_X_ORIGINAL_URL=/admin HTTP_X_REWRITE_URL=/admin HTTP_X_HTTP_METHOD_OVERRIDE=DELETE HTTP_FORWARDED=host=evil; do
    expect_eq "uncovered ${h%%=*} bypasses" "$(status_of "$(fcgi app GET /page2 "$h")")" BYPASS
done
# A route that keys on the header caches each value apart.
fcgi app GET "/lang/a?echo=HTTP_X_FORWARDED_HOST" HTTP_X_FORWARDED_HOST=a.example >/dev/null
r=$(fcgi app GET "/lang/a?echo=HTTP_X_FORWARDED_HOST" HTTP_X_FORWARDED_HOST=b.example)
expect_eq "vary=X-Forwarded-Host: another value is another key" "$(status_of "$r")" MISS
expect_contains "... with its own body" "$r" "b.example"

# Host variants are separate keys.
fcgi app GET "/h?echo=HTTP_HOST" HTTP_HOST=one.example >/dev/null
r=$(fcgi app GET "/h?echo=HTTP_HOST" HTTP_HOST=two.example)
expect_eq "another Host is another key" "$(status_of "$r")" MISS
expect_contains "... and its own body" "$r" "two.example"

# Private requests never read or write the cache.
r=$(fcgi app GET "/me?echo=HTTP_COOKIE" HTTP_COOKIE=session=alice)
expect_eq "a session cookie bypasses" "$(status_of "$r")" BYPASS
r=$(fcgi app GET "/me?echo=HTTP_COOKIE")
expect_eq "... nothing of alice's was stored" "$(status_of "$r")" MISS
case "$r" in *alice*) not_ok "alice's page leaked" ;; *) ok "alice's page did not leak" ;; esac
fcgi app GET "/me2?echo=HTTP_AUTHORIZATION" HTTP_AUTHORIZATION='Basic YWxpY2U6eA==' >/dev/null
r=$(fcgi app GET "/me2?echo=HTTP_AUTHORIZATION")
case "$r" in *YWxp*) not_ok "an Authorization page leaked" ;; *) ok "an Authorization page did not leak" ;; esac

# Path confusion: /account.php/x.css matches a *.css route, but the app's
# answer decides: private or with Set-Cookie, it is never stored.
fcgi app GET "/account.php/x.css?cookie=1" >/dev/null
r=$(fcgi app GET "/account.php/x.css?cookie=1")
expect_eq "/account.php/x.css with Set-Cookie is not stored" "$(status_of "$r")" MISS
fcgi app GET "/account.php/y.css?cc=private" >/dev/null
expect_eq "/account.php/y.css with private is not stored" "$(status_of "$(fcgi app GET "/account.php/y.css?cc=private")")" MISS

# A fat GET (a body on a GET) is never served from or stored to the cache.
fcgi app GET /fat >/dev/null
r=$(env -i REQUEST_METHOD=GET REQUEST_URI=/fat CONTENT_LENGTH=4 HTTP_HOST=localhost GATEWAY_INTERFACE=CGI/1.1 \
    timeout 10 cgi-fcgi -bind -connect "$TMP/app.sock" <<<"evil")
expect_eq "a GET with a body is not served from the cache" "$(status_of "$r")" BYPASS

# The bypass secret: only the right value bypasses, and it is never logged.
start_app secret 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60' CGICACHE_BYPASS_VALUE=hunter2 CGICACHE_LOG=debug
fcgi secret GET /s >/dev/null
expect_eq "a wrong bypass value does not bypass" "$(status_of "$(fcgi secret GET /s HTTP_X_CACHE_BYPASS=1)")" HIT
expect_eq "the right one does" "$(status_of "$(fcgi secret GET /s HTTP_X_CACHE_BYPASS=hunter2)")" BYPASS
expect_eq "the secret is never logged" "$(grep -c hunter2 "$TMP/secret.log")" 0
finish
