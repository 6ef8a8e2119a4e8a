#!/bin/bash
# t_delivery.sh -- one stored copy, every client served as it asks:
# If-None-Match / If-Modified-Since answered 304, Range answered 206 or
# 416, If-Range, If-Match answered 412, from the entry and without the
# app; a Range on a miss withheld from the app, the whole stored and the
# part sent; content codings.  Through nginx and curl: a libfcgi app, a
# CGI program behind fcgiwrap, and a FastCGI server speaking the protocol itself
# (the wire adapter).  The rules themselves are unit-tested row by row
# (tests/unit/test_delivery.c); here they meet real servers and clients.
. "$(dirname "$0")/lib.sh"

start_redis
start_app app 2 "$TESTAPP" \
    CGICACHE_ROUTE_d='GET,HEAD /d/* ttl=60' \
    CGICACHE_ROUTE_off='GET /off/* ttl=60 etag=off' \
    CGICACHE_ROUTE_ae='GET /ae/* ttl=60 vary=Accept-Encoding' \
    CGICACHE_ROUTE_neg='GET /neg/* ttl=60 status=200,404:7s' \
    CGICACHE_MAX_SIZE=2m
start_nginx app
U=http://127.0.0.1:$NGINX_PORT

# get NAME URL [CURL ARGS...]: headers in $TMP/NAME.h, body in $TMP/NAME.b.
get() {
    local name=$1 url=$2
    shift 2
    rm -f "$TMP/$name.h" "$TMP/$name.b"
    timeout 20 curl -s -D "$TMP/$name.h" -o "$TMP/$name.b" "$@" "$url"
}
hdr() { tr -d '\r' <"$TMP/$1.h" | awk -v want="$(echo "$2" | tr 'A-Z' 'a-z')" -F': ' 'tolower($1) == want { print $2; exit }'; }
code() { tr -d '\r' <"$TMP/$1.h" | awk 'NR == 1 { print $2 }'; }
st() { hdr "$1" X-Cache-Status; }
size_of() { if [ -e "$TMP/$1.b" ]; then stat -c %s "$TMP/$1.b"; else echo 0; fi; }
# slice_md5 FILE FIRST LAST: the md5 of bytes FIRST..LAST of FILE.
slice_md5() { tail -c +$(($2 + 1)) "$1" | head -c $(($3 - $2 + 1)) | md5sum | cut -d' ' -f1; }
md5() { cat "$TMP/$1.b" 2>/dev/null | md5sum | cut -d' ' -f1; }

# ---- validators and 304 -----------------------------------------------------
get m "$U/d/a?plain=1&size=1000&maxage=60"
get h "$U/d/a?plain=1&size=1000&maxage=60"
expect_eq "MISS then HIT" "$(st m) $(st h)" "MISS HIT"
etag=$(hdr h ETag)
case "$etag" in \"????????????????\") ok "etag=auto: the HIT has a strong ETag from the body ($etag)" ;;
*) not_ok "etag=auto: no ETag of the body's hash on the HIT: '$etag'" ;; esac
expect_eq "the MISS went out before the body was whole: no ETag on it" "$(hdr m ETag)" ""
runs=$(runs_of app)
for inm in "$etag" "W/$etag" "\"other\", $etag" '"a",W/"b" ,'"$etag" '*'; do
    get c "$U/d/a?plain=1&size=1000&maxage=60" -H "If-None-Match: $inm"
    expect_eq "If-None-Match: $inm -> 304" "$(code c)" 304
done
expect_eq "304: no body" "$(size_of c)" 0
expect_eq "304: counted and shown as a HIT" "$(st c)" HIT
expect_eq "304: keeps the ETag" "$(hdr c ETag)" "$etag"
expect_eq "304: keeps Cache-Control" "$(hdr c Cache-Control)" "max-age=60"
expect_eq "304: no Content-Length of the body" "$(hdr c Content-Length)" ""
for inm in '"other"' "${etag%\"}x\"" 'W/"x", "y"' 'garbage' '"unterminated'; do
    get c "$U/d/a?plain=1&size=1000&maxage=60" -H "If-None-Match: $inm"
    expect_eq "If-None-Match: $inm -> 200, the whole body" "$(code c) $(md5 c)" "200 $(md5 h)"
done
get c "$U/d/a?plain=1&size=1000&maxage=60" -I -H "If-None-Match: $etag"
expect_eq "HEAD with a matching If-None-Match -> 304" "$(code c)" 304
expect_eq "none of it ran the app" "$(runs_of app)" "$runs"

# The app's own validators: never replaced; Last-Modified and If-Modified-Since.
lm="Sun, 06 Nov 1994 08:49:37 GMT"
q="plain=1&etag=%22v1%22&lastmod=Sun,%2006%20Nov%201994%2008:49:37%20GMT"
get v0 "$U/d/v?$q"
get v "$U/d/v?$q"
expect_eq "the app's ETag is kept as it is" "$(hdr v ETag)" '"v1"'
get c "$U/d/v?$q" -H 'If-None-Match: "v1"'
expect_eq "the app's ETag matches: 304" "$(code c)" 304
get c "$U/d/v?$q" -H "If-Modified-Since: $lm"
expect_eq "If-Modified-Since = Last-Modified: 304" "$(code c)" 304
get c "$U/d/v?$q" -z "Mon, 07 Nov 1994 08:49:37 GMT"
expect_eq "If-Modified-Since after Last-Modified (curl -z): 304" "$(code c)" 304
get c "$U/d/v?$q" -H "If-Modified-Since: Sat, 05 Nov 1994 08:49:37 GMT"
expect_eq "If-Modified-Since before Last-Modified: 200" "$(code c)" 200
get c "$U/d/v?$q" -H "If-Modified-Since: Sun, 06 Nov 2094 08:49:37 GMT"
expect_eq "If-Modified-Since in the future is ignored: 200" "$(code c)" 200
get c "$U/d/v?$q" -H "If-Modified-Since: yesterday"
expect_eq "an unreadable If-Modified-Since is ignored: 200" "$(code c)" 200
get c "$U/d/v?$q" -H 'If-None-Match: "v2"' -H "If-Modified-Since: $lm"
expect_eq "If-None-Match decides before If-Modified-Since (RFC 9110 13.2.2): 200" "$(code c)" 200
get c "$U/d/v?$q" -H 'If-Match: "v2"'
expect_eq "If-Match that fails: 412" "$(code c) $(size_of c)" "412 0"
get c "$U/d/v?$q" -H 'If-Match: W/"v1"'
expect_eq "If-Match compares strongly: a weak tag fails, 412" "$(code c)" 412
get c "$U/d/v?$q" -H 'If-Match: "v1"'
expect_eq "If-Match that holds: 200" "$(code c)" 200
get c "$U/d/v?$q" -H "If-Unmodified-Since: Sat, 05 Nov 1994 08:49:37 GMT"
expect_eq "If-Unmodified-Since before Last-Modified: 412" "$(code c)" 412
get c "$U/d/lm?plain=1&lastmod=Sun,%2006%20Nov%201994%2008:49:37%20GMT"
get c "$U/d/lm?plain=1&lastmod=Sun,%2006%20Nov%201994%2008:49:37%20GMT"
expect_eq "etag=auto leaves a response with a Last-Modified of its own alone" "$(st c) $(hdr c ETag)" "HIT "
get c "$U/off/x?plain=1"
get c "$U/off/x?plain=1"
expect_eq "etag=off: no ETag on the HIT" "$(st c) $(hdr c ETag)" "HIT "

# A conditional request on a miss goes to the app unchanged: its 304 is
# passed on, never stored.
runs=$(runs_of app)
get c "$U/d/cm?plain=1&echo=HTTP_IF_NONE_MATCH" -H 'If-None-Match: "zzz"'
expect_eq "conditional MISS: to the app" "$(st c) $(runs_of app)" "MISS $((runs + 1))"
expect_contains "... with its If-None-Match" "$(cat "$TMP/c.b")" 'HTTP_IF_NONE_MATCH="zzz"'
get c "$U/d/n304?status=304"
get c "$U/d/n304?status=304"
expect_eq "an app's 304 is never stored" "$(st c)" MISS
get c "$U/d/n206?status=206"
get c "$U/d/n206?status=206"
expect_eq "an app's 206 is never stored" "$(st c)" MISS

# Per-status lifetimes (status=200,404:7s): a 404 for 7 s, a 410 never.
get n "$U/neg/x?status=404"
get n "$U/neg/x?status=404"
expect_eq "status=404:7s: a 404 is stored" "$(code n) $(st n)" "404 HIT"
# pttl TEXT: the Redis lifetime left of the entry whose key has TEXT.
pttl() { rcli PTTL "$(rcli --scan --pattern 'cgicache:neg:*' | grep -F -- "$1" | head -1)"; }
left=$(pttl 'x?status=404')
[ "$left" -gt 5000 ] && [ "$left" -le 7000 ] && ok "the 404 lives 7 s ($left ms left)" ||
    not_ok "the 404 has $left ms left, want 7 s"
get n "$U/neg/y?plain=1"
left=$(pttl 'y?plain=1')
[ "$left" -gt 50000 ] && ok "a 200 keeps the route's ttl ($left ms left)" || not_ok "a 200 has $left ms left"
# Purge by URL behind nginx on a port of its own: Debian's nginx passes
# HTTP_HOST without the port ($host), and the app's key keeps SERVER_PORT
# apart; the tool purges the URL as the app sees it either way.
get n "$U/neg/y?plain=1"
out=$(CGICACHE_REDIS="$REDIS_URL" CGICACHE_ROUTE_neg='GET /neg/* ttl=60 status=200,404:7s' \
    "$CC_TOOL" purge --url "http://127.0.0.1:$NGINX_PORT/neg/y")
expect_eq "purge --url http://host:port/...: the entry behind nginx is removed" "$out" "1 entry removed"
get n "$U/neg/y?plain=1"
expect_eq "... the next request is a MISS" "$(st n)" MISS
get n "$U/neg/z?status=410"
get n "$U/neg/z?status=410"
expect_eq "a 410 the route does not list: not stored" "$(code n) $(st n)" "410 MISS"

# ---- ranges -----------------------------------------------------------------
for n in 1 100 70000 1048576; do
    get full "$U/d/r$n?plain=1&size=$n"
    get full "$U/d/r$n?plain=1&size=$n"
    len=$(size_of full)
    expect_eq "$n: stored and served whole" "$(st full)" HIT
    bad=""
    for r in 0-0 "0-$((len - 1))" "0-$((len + 10))" "$((len / 2))-" "$((len - 1))-" -1 "-$((len / 3 + 1))" \
        "-$((len * 2))" "$((len / 3))-$((len / 2))" "1-1" "0-99999999999999999999"; do
        case $r in -*) first=$((len - ${r#-})); [ "$first" -lt 0 ] && first=0; last=$((len - 1)) ;;
        *-) first=${r%-}; last=$((len - 1)) ;;
        *) first=${r%-*}; last=${r#*-}; [ "${#last}" -gt 15 ] || [ "$last" -ge "$len" ] && last=$((len - 1)) ;; esac
        [ "$first" -ge "$len" ] && continue
        get p "$U/d/r$n?plain=1&size=$n" -r "$r"
        want="206 bytes $first-$last/$len $((last - first + 1)) $(slice_md5 "$TMP/full.b" "$first" "$last")"
        got="$(code p) $(hdr p Content-Range) $(size_of p) $(md5 p)"
        [ "$got" = "$want" ] || bad="$bad [$r: got '$got', want '$want']"
    done
    [ -z "$bad" ] && ok "$n bytes: every range is 206 with the right bytes" || not_ok "$n bytes:$bad"
    get p "$U/d/r$n?plain=1&size=$n" -r "$len-"
    expect_eq "$n bytes: a range from the end on: 416, Content-Range bytes */$len" \
        "$(code p) $(hdr p Content-Range) $(size_of p)" "416 bytes */$len 0"
done
expect_eq "ranges: the app ran once per body" "$(grep -c '/d/r' "$TMP/app.count")" 4
U1=$U/d/r100?plain=1\&size=100
get full "$U1"
get p "$U1" -r 0-1,5-6
expect_eq "several ranges: the whole (200)" "$(code p) $(size_of p)" "200 $(size_of full)"
get p "$U1" -H 'Range: bytes=5-1'
expect_eq "last before first: the Range is ignored (200)" "$(code p)" 200
get p "$U1" -H 'Range: items=0-1'
expect_eq "another unit: ignored (200)" "$(code p)" 200
get p "$U1" -H 'Range: bytes=-0'
expect_eq "bytes=-0: 416" "$(code p)" 416
get p "$U1" -H 'Range: bytes= 2-3'
expect_eq "blanks inside the range set: 206" "$(code p) $(hdr p Content-Range)" "206 bytes 2-3/$(size_of full)"
get p "$U1" -I -r 0-9
expect_eq "HEAD with a Range: 200 (ranges are for GET)" "$(code p)" 200
etag=$(hdr full ETag)
get p "$U1" -r 0-9 -H "If-Range: $etag"
expect_eq "If-Range with the ETag: 206" "$(code p)" 206
get p "$U1" -r 0-9 -H 'If-Range: "old"'
expect_eq "If-Range with another ETag: the whole (200)" "$(code p) $(size_of p)" "200 $(size_of full)"
get p "$U1" -r 0-9 -H "If-Range: W/$etag"
expect_eq "If-Range with a weak tag: the whole (200)" "$(code p)" 200
get p "$U/d/v?$q" -r 0-3 -H "If-Range: $lm"
expect_eq "If-Range with the Last-Modified date: 206" "$(code p)" 206
get p "$U/d/v?$q" -r 0-3 -H "If-Range: Sat, 05 Nov 1994 08:49:37 GMT"
expect_eq "If-Range with another date: 200" "$(code p)" 200

# A Range on a miss: the app is asked for the whole (it never sees the
# Range), the whole is stored, the client gets its part.
get p "$U/d/w?plain=1&size=5000&echo=HTTP_RANGE" -r 100-199
expect_eq "Range on a MISS: 206 to the client" "$(st p) $(code p) $(hdr p Content-Range)" "MISS 206 bytes 100-199/5030"
get full "$U/d/w?plain=1&size=5000&echo=HTTP_RANGE"
expect_eq "... the whole was stored: HIT" "$(st full) $(size_of full)" "HIT 5030"
expect_contains "... and the app did not see the Range" "$(head -2 "$TMP/full.b")" "HTTP_RANGE=(unset)"
expect_eq "... the part was the right bytes" "$(md5 p)" "$(slice_md5 "$TMP/full.b" 100 199)"
get p "$U/d/w2?plain=1&size=50" -r 100-
expect_eq "unsatisfiable Range on a MISS: 416" "$(st p) $(code p) $(hdr p Content-Range)" "MISS 416 bytes */61"
get p "$U/d/w2?plain=1&size=50"
expect_eq "... the whole stored" "$(st p) $(size_of p)" "HIT 61"
get p "$U/d/w3?plain=1&size=3000000" -r 0-9
expect_eq "Range on a MISS too large to store: the whole, streamed (200)" "$(st p) $(code p) $(size_of p)" "MISS 200 3000011"

# A repeated Range or condition (two values) is not read either way.
get p "$U1" -H 'Range: bytes=0-1' -H 'Range: bytes=2-3'
expect_eq "two different Range headers: the app answers (BYPASS)" "$(st p) $(code p)" "BYPASS 200"

# ---- content codings ------------------------------------------------------------
# A compressible page is stored as a zstd frame: a client that takes zstd
# gets that frame, one that takes only gzip gets it gzipped, the rest
# identity; every variant says Vary: Accept-Encoding and has its own ETag.
Z="$U/d/z?plain=1&size=20000"
get id "$Z"
get id "$Z"
get zs "$Z" -H 'Accept-Encoding: zstd'
expect_eq "zstd: HIT, Content-Encoding zstd, Vary" "$(st zs) $(hdr zs Content-Encoding) $(hdr zs Vary)" "HIT zstd Accept-Encoding"
expect_eq "zstd: decompresses to the identity body, byte for byte" "$(zstd -dc <"$TMP/zs.b" | md5sum | cut -d' ' -f1)" "$(md5 id)"
[ "$(size_of zs)" -lt "$(size_of id)" ] && ok "zstd: fewer bytes ($(size_of zs) < $(size_of id))" || not_ok "zstd: not smaller"
expect_eq "zstd: Content-Length is the frame's" "$(hdr zs Content-Length)" "$(size_of zs)"
expect_eq "identity: Vary too (the variants exist), no Content-Encoding" "$(hdr id Vary) $(hdr id Content-Encoding)" "Accept-Encoding "
expect_eq "zstd: its own ETag" "$(hdr zs ETag)" "$(hdr id ETag | sed 's/"$/-zstd"/')"
get gz "$Z" -H 'Accept-Encoding: gzip'
expect_eq "gzip: Content-Encoding gzip" "$(st gz) $(hdr gz Content-Encoding) $(hdr gz ETag)" "HIT gzip $(hdr id ETag | sed 's/"$/-gzip"/')"
expect_eq "gzip: decompresses to the identity body" "$(gzip -dc <"$TMP/gz.b" | md5sum | cut -d' ' -f1)" "$(md5 id)"
get cu "$Z" --compressed
expect_eq "curl --compressed: decoded by curl to the identity body" "$(hdr cu Content-Encoding) $(md5 cu)" "zstd $(md5 id)"
for ae in 'gzip;q=0, zstd;q=0' 'identity' 'br' 'zstd;q=0' 'zstd;q=0.000' ', ,' 'gzip;q=2' 'zstd;level=3;q=x'; do
    get x "$Z" -H "Accept-Encoding: $ae"
    expect_eq "Accept-Encoding: $ae -> identity" "$(hdr x Content-Encoding) $(md5 x)" " $(md5 id)"
done
for ae in '*' 'gzip, zstd;q=0.5, br' 'x-gzip' 'GZIP;Q=1'; do
    get x "$Z" -H "Accept-Encoding: $ae"
    case $ae in '*') want=zstd ;; *) want=gzip ;; esac
    expect_eq "Accept-Encoding: $ae -> $want" "$(hdr x Content-Encoding)" "$want"
done
get x "$Z" -I -H 'Accept-Encoding: zstd'
expect_eq "HEAD, zstd: the frame's Content-Length" "$(code x) $(hdr x Content-Encoding) $(hdr x Content-Length)" "200 zstd $(size_of zs)"
get x "$Z" -H 'Accept-Encoding: zstd' -H "If-None-Match: $(hdr zs ETag)"
expect_eq "If-None-Match with the zstd variant's ETag: 304" "$(code x) $(hdr x ETag)" "304 $(hdr zs ETag)"
get x "$Z" -H 'Accept-Encoding: zstd' -H "If-None-Match: $(hdr id ETag)"
expect_eq "the identity ETag does not validate the zstd variant: 200" "$(code x) $(hdr x Content-Encoding)" "200 zstd"
get x "$Z" -H 'Accept-Encoding: zstd' -r 100-199
expect_eq "a Range is of the identity body" "$(code x) $(hdr x Content-Encoding) $(md5 x)" "206  $(slice_md5 "$TMP/id.b" 100 199)"
expect_eq "codings: the app ran once for all of it" "$(grep -c '/d/z' "$TMP/app.count")" 1
get x "$U/d/small?plain=1" -H 'Accept-Encoding: zstd'
get x "$U/d/small?plain=1" -H 'Accept-Encoding: zstd'
expect_eq "a body too small to be stored compressed: identity, no Vary" "$(st x) $(hdr x Content-Encoding)$(hdr x Vary)" "HIT "

# A body the app encoded itself is stored as sent and goes only to
# clients that take its coding; the others get the app's own answer.
B="$U/d/br?plain=1&ce=br"
get b1 "$B" -H 'Accept-Encoding: br'
get b2 "$B" -H 'Accept-Encoding: gzip, br'
expect_eq "app-encoded (br): stored, HIT for a client that takes br" "$(st b1) $(st b2) $(hdr b2 Content-Encoding)" "MISS HIT br"
expect_eq "... never encoded again" "$(md5 b2)" "$(md5 b1)"
runs=$(runs_of app)
get b3 "$B" -H 'Accept-Encoding: gzip'
expect_eq "... a client that does not take br: the app answers (MISS), nothing stored" "$(st b3) $(runs_of app)" "MISS $((runs + 1))"
get b4 "$B"
expect_eq "... nor one that sends no Accept-Encoding" "$(st b4)" MISS
get b5 "$B" -H 'Accept-Encoding: br'
expect_eq "... the stored br body stays for the others" "$(st b5) $(md5 b5)" "HIT $(md5 b1)"
get v1 "$U/d/vae?plain=1&vary=Accept-Encoding"
get v2 "$U/d/vae?plain=1&vary=Accept-Encoding" -H 'Accept-Encoding: gzip'
expect_eq "Vary: Accept-Encoding from the app is the cache's own negotiation: stored" "$(st v1) $(st v2)" "MISS HIT"
# vary=Accept-Encoding keys on the bucket: one entry per coding picked.
get k1 "$U/ae/k?plain=1&ce=gzip" -H 'Accept-Encoding: gzip, deflate'
get k2 "$U/ae/k?plain=1&ce=gzip" -H 'Accept-Encoding: deflate, gzip;q=0.9'
get k3 "$U/ae/k?plain=1" -H 'Accept-Encoding: identity'
get k4 "$U/ae/k?plain=1" -H 'Accept-Encoding: br'
expect_eq "vary=Accept-Encoding: gzip spellings share an entry, identity ones another" \
    "$(st k1) $(st k2) $(st k3) $(st k4)" "MISS HIT MISS HIT"

# ---- a CGI program, behind fcgiwrap and nginx ---------------------------------------
cat >"$TMP/page.cgi" <<'CGI'
#!/bin/sh
echo "Content-Type: text/plain"
echo "Cache-Control: max-age=60"
echo
echo "range=${HTTP_RANGE-unset} if_range=${HTTP_IF_RANGE-unset}"
i=0; while [ $i -lt 400 ]; do echo "line $i of the page"; i=$((i + 1)); done
CGI
chmod 755 "$TMP/page.cgi"
rm -f "$TMP/cgi.sock"
env CGICACHE_REDIS="$REDIS_URL" CGICACHE_ROUTE_cgi='GET /cgi/* ttl=60' LD_PRELOAD="$(preload_value)" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
    spawn-fcgi -n -M 0666 -s "$TMP/cgi.sock" -- /usr/sbin/fcgiwrap >>"$TMP/cgi.log" 2>&1 &
PIDS+=("$!")
disown "$!" 2>/dev/null
wait_for can_connect "$TMP/cgi.sock"
NGINX_EXTRA="fastcgi_param SCRIPT_FILENAME $TMP/page.cgi;" start_nginx cgi
C=http://127.0.0.1:$NGINX_PORT/cgi/p
get part "$C" -r 0-4
get full "$C"
expect_eq "CGI: Range on a MISS: 206, the first 5 bytes" \
    "$(st part) $(code part) $(hdr part Content-Range) $(cat "$TMP/part.b")" "MISS 206 bytes 0-4/$(size_of full) range"
expect_eq "CGI: the whole was stored" "$(st full)" HIT
expect_contains "CGI: ... without the Range seen by the program" "$(head -1 "$TMP/full.b")" "range=unset if_range=unset"
get c "$C" -H "If-None-Match: $(hdr full ETag)"
expect_eq "CGI: If-None-Match on a HIT: 304, no body" "$(code c) $(size_of c)" "304 0"
get p "$C" -r -6
expect_eq "CGI: a suffix range on a HIT" "$(code p) $(cat "$TMP/p.b")" "206  page"
get z "$C" -H 'Accept-Encoding: zstd'
expect_eq "CGI: zstd from the stored frame" "$(hdr z Content-Encoding) $(zstd -dc <"$TMP/z.b" | md5sum | cut -d' ' -f1)" \
    "zstd $(md5 full)"

# ---- the wire adapter ----------------------------------------------------------
PY=$(command -v /usr/bin/python3 || command -v python3)
rm -f "$TMP/py.sock"
env CGICACHE_REDIS="$REDIS_URL" CGICACHE_ROUTE_wr='GET /wr/* ttl=60' LD_PRELOAD="$(preload_value)" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
    "$PY" "$TOP/tests/apps/fcgi_server.py" --unix "$TMP/py.sock" --mode blocking --count "$TMP/py.count" \
    >>"$TMP/py.log" 2>&1 &
PIDS+=("$!")
disown "$!" 2>/dev/null
wait_for can_connect "$TMP/py.sock"
NGINX_PORT_APP=$NGINX_PORT
start_nginx py
W=http://127.0.0.1:$NGINX_PORT
get p "$W/wr/a?big=3000" -r 10-19
expect_eq "wire: Range on a MISS (the app answers whole): 206" "$(st p) $(code p) $(size_of p)" "MISS 206 10"
get full "$W/wr/a?big=3000"
expect_eq "wire: ... stored whole" "$(st full)" HIT
expect_eq "wire: ... the part was its bytes" "$(md5 p)" "$(slice_md5 "$TMP/full.b" 10 19)"
get c "$W/wr/a?big=3000" -H "If-None-Match: $(hdr full ETag)"
expect_eq "wire: If-None-Match on a HIT: 304" "$(code c) $(size_of c)" "304 0"
get p "$W/wr/a?big=3000" -r 2990-
expect_eq "wire: an open range on a HIT: 206 to the end" "$(code p) $(md5 p)" \
    "206 $(slice_md5 "$TMP/full.b" 2990 $(($(size_of full) - 1)))"

finish
