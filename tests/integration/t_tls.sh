#!/bin/bash
# t_tls.sh -- CGICACHE_REDIS=rediss://...: Redis over TLS, with a CA, server
# and client certificates this test makes with the openssl CLI.  Hits over
# TLS (the worker's connection, the fill waiter's, the near cache's
# channel, the tool's); the CA given as a file or a hashed directory; a
# client certificate for a Redis that asks for one.  Refused, each with a
# log line that says why, while the app answers uncached (fail open): a
# server certificate from another CA, one for another name (asked by
# address and by name), an expired one, a plain-TCP Redis, a client
# without the certificate the server wants.  And rediss-sentinel://: a
# TLS sentinel (with a password) naming a TLS master.
. "$(dirname "$0")/lib.sh"

PKI=$TMP/pki
mkdir -p "$PKI/cadir"
ossl() { openssl "$@" >>"$PKI/openssl.log" 2>&1 || { echo "openssl $* failed"; cat "$PKI/openssl.log"; exit 1; }; }
ca() {   # ca NAME: a self-signed CA
    ossl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.crt" -days 2 -subj "/CN=$1"
}
# cert NAME CA DAYS SAN: a key and a certificate signed by CA.
cert() {
    ossl req -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.csr" -subj "/CN=$1"
    printf 'subjectAltName=%s\n' "$4" >"$PKI/$1.ext"
    ossl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.crt" -CAkey "$PKI/$2.key" -CAcreateserial \
        -out "$PKI/$1.crt" -days "$3" -extfile "$PKI/$1.ext"
}
ca ca
ca otherca
cert server ca 2 "IP:127.0.0.1,DNS:localhost"
cert elsewhere ca 2 "DNS:other.example"
cert expired ca -1 "IP:127.0.0.1,DNS:localhost"
cert client ca 2 "DNS:client"
cp "$PKI/ca.crt" "$PKI/cadir/"
openssl rehash "$PKI/cadir" 2>/dev/null || c_rehash "$PKI/cadir" >/dev/null

# tls_redis NAME CERT [ARGS...]: a redis-server speaking only TLS, with
# CERT; its port in TLS_PORT_<NAME>, its pid in TLS_PID_<NAME>.
tls_redis() {
    tls_redis_on "$1" "$2" "$(free_port)" "${@:3}"
}
tls_redis_on() {
    local name=$1 crt=$2 port=$3
    shift 3
    redis-server --port 0 --tls-port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --tls-cert-file "$PKI/$crt.crt" --tls-key-file "$PKI/$crt.key" \
        --tls-ca-cert-file "$PKI/ca.crt" --tls-auth-clients no "$@" >"$TMP/redis-$name.log" 2>&1 &
    PIDS+=("$!")
    disown "$!" 2>/dev/null
    eval "TLS_PORT_$name=$port TLS_PID_$name=$!"
    wait_for redis-cli --tls --insecure --cert "$PKI/client.crt" --key "$PKI/client.key" \
        -p "$port" PING
}
tcli() { timeout 5 redis-cli --tls --cacert "$PKI/ca.crt" -p "$TLS_PORT_good" "$@"; }
tls_redis good server
tls_redis elsewhere elsewhere
tls_redis expired expired
tls_redis mtls server --tls-auth-clients yes
start_redis      # plain TCP

ROUTES=(CGICACHE_ROUTE_all='GET /* ttl=60')
start_app app 1 "$TESTAPP" "${ROUTES[@]}" CGICACHE_REDIS="rediss://127.0.0.1:$TLS_PORT_good/0" \
    CGICACHE_REDIS_CA="$PKI/ca.crt"
expect_eq "TLS: MISS first" "$(status_of "$(fcgi app GET "/a?plain=1")")" MISS
expect_eq "TLS: then HIT" "$(status_of "$(fcgi app GET "/a?plain=1")")" HIT
r=$(fcgi app GET "/a?plain=1")
expect_contains "TLS: the near cache serves (its channel over TLS)" "$(header_of "$r" Cache-Status)" "detail=near"
expect_eq "TLS: the body is the app's" "$(body_of "$r")" "plain page"
expect_eq "TLS: the app ran once" "$(runs_of app)" 1
expect_contains "TLS: the entry is in the TLS redis" "$(tcli --scan --pattern 'cgicache:all:*')" "cgicache:all:"
# A key changed behind the worker's back: the invalidation comes over TLS.
tcli --scan --pattern 'cgicache:all:*' | while read -r k; do tcli DEL "$k" >/dev/null; done
expect_eq "TLS: a deleted entry is not served from memory" "$(status_of "$(fcgi app GET "/a?plain=1")")" MISS

# A stampede: the waiters' subscribed connections are TLS too.
start_app cold 1 "$TESTAPP" "${ROUTES[@]}" CGICACHE_REDIS="rediss://127.0.0.1:$TLS_PORT_good/0" \
    CGICACHE_REDIS_CA="$PKI/ca.crt"
start_app cold2 1 "$TESTAPP" "${ROUTES[@]}" CGICACHE_REDIS="rediss://127.0.0.1:$TLS_PORT_good/0" \
    CGICACHE_REDIS_CA="$PKI/ca.crt" APP_COUNTER="$TMP/cold.count"
fcgi cold GET "/cold?plain=1&sleep_ms=500" >/dev/null &
sleep 0.2
r=$(fcgi cold2 GET "/cold?plain=1&sleep_ms=500")
wait
expect_eq "TLS stampede: 2 cold requests, 1 computation" "$(runs_of cold)" 1
expect_eq "TLS stampede: the waiter is served the fill" "$(status_of "$r")" HIT

# The CA as a hashed directory, and the server asked by name (SNI, DNS SAN).
start_app dir 1 "$TESTAPP" "${ROUTES[@]}" CGICACHE_REDIS="rediss://localhost:$TLS_PORT_good/0" \
    CGICACHE_REDIS_CA="$PKI/cadir"
fcgi dir GET "/d?plain=1" >/dev/null
expect_eq "TLS: CA directory, host by name: HIT" "$(status_of "$(fcgi dir GET "/d?plain=1")")" HIT

# A client certificate, for a server that wants one.
start_app mtls 1 "$TESTAPP" "${ROUTES[@]}" CGICACHE_REDIS="rediss://127.0.0.1:$TLS_PORT_mtls/0" \
    CGICACHE_REDIS_CA="$PKI/ca.crt" CGICACHE_REDIS_CERT="$PKI/client.crt" CGICACHE_REDIS_KEY="$PKI/client.key"
fcgi mtls GET "/m?plain=1" >/dev/null
expect_eq "TLS: client certificate: HIT" "$(status_of "$(fcgi mtls GET "/m?plain=1")")" HIT

# CGI over TLS: the adapter answers a hit before main and, on a miss,
# forks the program's tee; neither speaks on the other's TLS session.
cgi_tls() {
    OUT=$(timeout 10 env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
        REQUEST_URI="$1" QUERY_STRING="" SCRIPT_NAME="$1" SERVER_NAME=localhost SERVER_PORT=80 \
        HTTP_HOST=localhost SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
        LD_PRELOAD="$(preload_value)" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        CGICACHE_REDIS="rediss://127.0.0.1:$TLS_PORT_good/0" CGICACHE_REDIS_CA="$PKI/ca.crt" \
        CGICACHE_ROUTE_cgi='GET /cgi/* ttl=60' APP_COUNTER="$TMP/cgi.count" \
        "$TOP/build/tests/cgi_printf" </dev/null)
}
touch "$TMP/cgi.count"
cgi_tls /cgi/t
miss=$OUT
cgi_tls /cgi/t
expect_eq "CGI over TLS: MISS then HIT" "$(status_of "$miss") $(status_of "$OUT")" "MISS HIT"
expect_eq "CGI over TLS: the same body" "$(body_of "$OUT" | md5sum)" "$(body_of "$miss" | md5sum)"

# A threaded app: the threads share the process's TLS context, each with
# its own session.
start_app threads 1 "$THREADED_APPS/tests/threads" "${ROUTES[@]}" \
    CGICACHE_REDIS="rediss://127.0.0.1:$TLS_PORT_good/0" CGICACHE_REDIS_CA="$PKI/ca.crt"
pids=()
for i in $(seq 8); do
    (a=$(fcgi threads GET "/t/$i?putc=3000"); b=$(fcgi threads GET "/t/$i?putc=3000")
     echo "$(status_of "$a") $(status_of "$b") $([ "$(body_of "$a")" = "$(body_of "$b")" ] && echo same)") \
        >"$TMP/res-threads.$i" & pids+=($!)
done
wait "${pids[@]}"
expect_eq "threads over TLS: 8 concurrent pages, each MISS then the same body as HIT" \
    "$(cat "$TMP"/res-threads.* | sort -u)" "MISS HIT same"

# The TLS Redis frozen mid-session: the request waits no longer than
# CGICACHE_TIMEOUT (50 ms) and is answered by the app.
kill -STOP "$(eval echo \$TLS_PID_good)"
t0=$(date +%s%N)
r=$(fcgi app GET "/frozen?plain=1")
took=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -CONT "$(eval echo \$TLS_PID_good)"
expect_eq "TLS redis frozen: the app answers" "$(body_of "$r")" "plain page"
[ "$took" -lt 1000 ] && ok "TLS redis frozen: answered in $took ms" || not_ok "TLS redis frozen: took $took ms"

# The TLS Redis restarted: the session is dropped, the app answers
# meanwhile, and hits come back over a new session.
kill "$(eval echo \$TLS_PID_good)"
sleep 0.3
r=$(fcgi app GET "/restart?plain=1")
expect_eq "TLS redis down: the app answers" "$(body_of "$r")" "plain page"
tls_redis_on good server "$TLS_PORT_good"
back=0
for _ in $(seq 40); do
    fcgi app GET "/restart?plain=1" >/dev/null
    [ "$(status_of "$(fcgi app GET "/restart?plain=1")")" = HIT ] && back=1 && break
    sleep 0.1
done
expect_eq "TLS redis restarted: HITs again" "$back" 1

# rediss-sentinel://: a sentinel and its master, both TLS only and both
# with a password; the sentinel answers NOAUTH first, then is asked with
# the URL's credentials.
tls_redis smaster server --requirepass sp4ss
SENT_PORT=$(free_port)
mkdir -p "$TMP/sent"
cat >"$TMP/sent/sentinel.conf" <<CONF
port 0
tls-port $SENT_PORT
bind 127.0.0.1
dir $TMP/sent
tls-cert-file $PKI/server.crt
tls-key-file $PKI/server.key
tls-ca-cert-file $PKI/ca.crt
tls-auth-clients no
tls-replication yes
requirepass sp4ss
sentinel monitor tlsmaster 127.0.0.1 $TLS_PORT_smaster 1
sentinel auth-pass tlsmaster sp4ss
CONF
redis-server "$TMP/sent/sentinel.conf" --sentinel >"$TMP/sent.log" 2>&1 &
PIDS+=("$!")
disown "$!" 2>/dev/null
wait_for redis-cli --tls --cacert "$PKI/ca.crt" -a sp4ss --no-auth-warning -p "$SENT_PORT" \
    SENTINEL GET-MASTER-ADDR-BY-NAME tlsmaster
start_app tlssent 1 "$TESTAPP" "${ROUTES[@]}" \
    CGICACHE_REDIS="rediss-sentinel://:sp4ss@127.0.0.1:$SENT_PORT/0#tlsmaster" CGICACHE_REDIS_CA="$PKI/ca.crt"
r=MISS
for _ in $(seq 20); do
    fcgi tlssent GET "/ts?plain=1" >/dev/null
    r=$(status_of "$(fcgi tlssent GET "/ts?plain=1")")
    [ "$r" = HIT ] && break
    sleep 0.1
done
expect_eq "rediss-sentinel:// with passwords: HIT" "$r" HIT
expect_contains "rediss-sentinel://: the entry is on the TLS master" \
    "$(redis-cli --tls --cacert "$PKI/ca.crt" -a sp4ss --no-auth-warning -p "$TLS_PORT_smaster" --scan --pattern 'cgicache:all:*')" "/ts"
out=$(CGICACHE_REDIS="rediss-sentinel://:sp4ss@127.0.0.1:$SENT_PORT/0#tlsmaster" CGICACHE_REDIS_CA="$PKI/ca.crt" \
    "$CC_TOOL" check 2>&1)
expect_contains "check: sentinel over TLS" "$out" "redis node     127.0.0.1:$TLS_PORT_smaster (master 'tlsmaster'"
grep -q sp4ss "$TMP/tlssent.log" && not_ok "rediss-sentinel://: the password was logged" ||
    ok "rediss-sentinel://: the password is never logged"

# The tool: check shows the session.
out=$(CGICACHE_REDIS="rediss://127.0.0.1:$TLS_PORT_good/0" CGICACHE_REDIS_CA="$PKI/ca.crt" "$CC_TOOL" check 2>&1)
expect_contains "check: PONG over TLS" "$out" "PONG"
expect_contains "check: the TLS peer is shown" "$out" "peer /CN=server, issuer /CN=ca (verified)"
json=$(CGICACHE_REDIS="rediss://127.0.0.1:$TLS_PORT_good/0" CGICACHE_REDIS_CA="$PKI/ca.crt" "$CC_TOOL" check --json 2>/dev/null)
expect_eq "check --json: mode, node and TLS peer" \
    "$(printf '%s' "$json" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["redis_mode"], j["redis_node"], j["redis_tls"].endswith("issuer /CN=ca (verified)"))')" \
    "single 127.0.0.1:$TLS_PORT_good True"

# refused NAME URL WHY [VAR=VALUE...]: the app answers, uncached, twice,
# and its log says WHY.  The handshake gets 2 s, not the default 50 ms: a
# verification against the system store, under ASan on a loaded machine,
# may take longer, and what is checked here is why it is refused.
refused() {
    local name=$1 url=$2 why=$3
    shift 3
    start_app "$name" 1 "$TESTAPP" "${ROUTES[@]}" CGICACHE_REDIS="$url" CGICACHE_CONNECT_TIMEOUT=2s "$@"
    local r1 r2
    r1=$(fcgi "$name" GET "/r?plain=1")
    r2=$(fcgi "$name" GET "/r?plain=1")
    expect_eq "$name: the app answers" "$(body_of "$r1")|$(body_of "$r2")" "plain page|plain page"
    expect_eq "$name: MISS (fail open)" "$(status_of "$r2")" MISS
    expect_eq "$name: the app ran each time" "$(runs_of "$name")" 2
    expect_contains "$name: the log says why" "$(cat "$TMP/$name.log")" "$why"
}
refused wrongca "rediss://127.0.0.1:$TLS_PORT_good/0" \
    "redis TLS with 127.0.0.1:$TLS_PORT_good failed: certificate refused: self-signed certificate in certificate chain" \
    CGICACHE_REDIS_CA="$PKI/otherca.crt"
refused systemca "rediss://127.0.0.1:$TLS_PORT_good/0" "certificate refused: self-signed certificate in certificate chain"
refused wrongip "rediss://127.0.0.1:$TLS_PORT_elsewhere/0" "certificate refused: IP address mismatch" \
    CGICACHE_REDIS_CA="$PKI/ca.crt"
refused wrongname "rediss://localhost:$TLS_PORT_elsewhere/0" "certificate refused: hostname mismatch" \
    CGICACHE_REDIS_CA="$PKI/ca.crt"
refused expired "rediss://127.0.0.1:$TLS_PORT_expired/0" "certificate refused: certificate has expired" \
    CGICACHE_REDIS_CA="$PKI/ca.crt"
refused plain "rediss://127.0.0.1:$REDIS_PORT/0" "redis TLS with 127.0.0.1:$REDIS_PORT failed" \
    CGICACHE_REDIS_CA="$PKI/ca.crt"
expect_eq "plain: nothing was stored in the plain redis" "$(rcli DBSIZE)" 0
refused nocert "rediss://127.0.0.1:$TLS_PORT_mtls/0" "redis" CGICACHE_REDIS_CA="$PKI/ca.crt"
refused badca "rediss://127.0.0.1:$TLS_PORT_good/0" "CGICACHE_REDIS_CA $PKI/nothing.crt: No such file" \
    CGICACHE_REDIS_CA="$PKI/nothing.crt"
# An encrypted client key: refused at once, never prompted for (the app
# has no terminal to ask on, and must not wait).
openssl pkey -in "$PKI/client.key" -aes256 -passout pass:secret -out "$PKI/client-enc.key" 2>/dev/null
refused enckey "rediss://127.0.0.1:$TLS_PORT_mtls/0" "CGICACHE_REDIS_KEY $PKI/client-enc.key:" \
    CGICACHE_REDIS_CA="$PKI/ca.crt" CGICACHE_REDIS_CERT="$PKI/client.crt" CGICACHE_REDIS_KEY="$PKI/client-enc.key"
# The other way round: a TLS port spoken to in plain text.
refused plaintotls "redis://127.0.0.1:$TLS_PORT_good/0" "redis"
for l in wrongca wrongip wrongname expired plain; do
    n=$(grep -c "redis TLS with" "$TMP/$l.log")
    [ "$n" -eq 1 ] && ok "$l: said once, not on every request" || not_ok "$l: said $n times"
done
finish
