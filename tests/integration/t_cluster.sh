#!/bin/bash
# t_cluster.sh -- CGICACHE_REDIS=redis-cluster://...: a real Redis Cluster
# of three masters (redis-server --cluster-enabled, joined by redis-cli
# --cluster create), each with a replica.  Through nginx: misses and hits
# spread over the masters, 24 cold requests computed once, invalidation by
# a PUT and by invalidates=, every purge of the tool; a slot moved under
# the cache (MOVED followed, the map asked for again); a live reshard and
# a killed master under load, with no failed or wrong response; cgicache
# check names the mode and the masters.  Then rediss-cluster://: a cluster
# whose every port is TLS, with a CA this test makes.
. "$(dirname "$0")/lib.sh"

cluster_start "$TMP/cluster" 3 1
started=$?
PIDS+=("${CLUSTER_PIDS[@]}")    # stopped with the test, whether or not the cluster came up
[ "$started" -eq 0 ] || { not_ok "the cluster did not start"; finish; exit 1; }
ok "3 masters and 3 replicas: ${CLUSTER_PORTS[*]}"
M1=${CLUSTER_PORTS[0]} M2=${CLUSTER_PORTS[1]} M3=${CLUSTER_PORTS[2]}
# Two seeds of three: the third master is learned from the map.
export CGICACHE_REDIS="redis-cluster://127.0.0.1:$M1,127.0.0.1:$M2"
REDIS_URL=$CGICACHE_REDIS   # what start_app gives its apps
ROUTES=(CGICACHE_ROUTE_c='GET /c/* ttl=60' CGICACHE_ROUTE_slow='GET /slow/* ttl=60'
        CGICACHE_ROUTE_n='GET /n/* ttl=60'
        CGICACHE_ROUTE_edit='PUT,POST /c/* invalidates=slow'
        CGICACHE_TIMEOUT=500ms CGICACHE_CONNECT_TIMEOUT=500ms)   # no fail-open on a starved CPU
export "${ROUTES[@]}"     # for the tool
start_app app 4 "$TESTAPP" "${ROUTES[@]}"
start_nginx app
URL=http://127.0.0.1:$NGINX_PORT
status() { header_of "$(curl_get "$URL$1")" X-Cache-Status; }
# keys_on PORT PATTERN: how many keys a master holds under PATTERN.
keys_on() { timeout 5 redis-cli -p "$1" --scan --pattern "$2" | wc -l | tr -d ' '; }
# find_key PATTERN: the first key under PATTERN on any master (nginx
# passes the host without its port: the key ends in "|:<port>").
find_key() {
    local p
    for p in "$M1" "$M2" "$M3"; do timeout 5 redis-cli -p "$p" --scan --pattern "$1"; done | head -1
}
slot_of() { redis-cli -p "$M1" CLUSTER KEYSLOT "$1"; }
role_of() { timeout 2 redis-cli -p "$1" ROLE 2>/dev/null | head -1; }

# ---- misses and hits, over every master ----------------------------------------
got=""
for i in $(seq 12); do got="$got$(status /c/$i)"; done
expect_eq "12 first requests: MISS" "$got" "$(printf 'MISS%.0s' $(seq 12))"
got=""
for i in $(seq 12); do got="$got$(status /c/$i)"; done
expect_eq "... then HIT" "$got" "$(printf 'HIT%.0s' $(seq 12))"
r=$(curl_get "$URL/c/7")
expect_contains "a hit's body is its own URL's" "$r" "uri=/c/7"
spread=0
for p in "$M1" "$M2" "$M3"; do [ "$(keys_on "$p" 'cgicache:c:*')" -gt 0 ] && spread=$((spread + 1)); done
expect_eq "the entries are on all 3 masters" "$spread" 3
# A URL's entry, its generation and (while held) its lock share a slot.
k=$(find_key 'cgicache:c:{*}GET:http://127.0.0.1/c/7|*')
gen=$(find_key "cgicache:#gen:c:{${k:12:8}}*")
expect_ne "the entry of /c/7 is found" "$k" ""
expect_eq "... it shares a slot with its URL's generation" "$(slot_of "$gen")" "$(slot_of "$k")"
q=$(curl_get "$URL/c/7?variant=2")
expect_eq "a variant of the URL: MISS, then HIT" \
    "$(header_of "$q" X-Cache-Status)$(status "/c/7?variant=2")" MISSHIT

# ---- the near cache: each master tracks what was read on it --------------------------------
kind() { case "$(header_of "$1" Cache-Status)" in *"; detail=near"*) echo near ;; *) status_of "$1" ;; esac; }
start_app near 1 "$TESTAPP" "${ROUTES[@]}"    # one worker: its memory is what is looked at
# near_soon PATH: "near" once the worker answers PATH from its memory (3 s at most).
near_soon() {
    local k=""
    for _ in $(seq 30); do k=$(kind "$(fcgi near GET "$1")"); [ "$k" = near ] && break; sleep 0.1; done
    echo "$k"
}
expect_eq "near: a hit from the worker's memory" "$(near_soon /n/1)" near
expect_contains "... its own page" "$(fcgi near GET /n/1)" "uri=/n/1"
"$CC_TOOL" purge --url "http://localhost/n/1" >/dev/null
expect_eq "near: a URL purge by another process reaches it (the URL's master tells)" \
    "$(kind "$(fcgi near GET /n/1)")" MISS
expect_eq "... then from memory again" "$(near_soon /n/1)" near
"$CC_TOOL" purge --route n >/dev/null
expect_eq "near: a route purge reaches it (the route's master tells)" "$(kind "$(fcgi near GET /n/1)")" MISS
expect_eq "... then from memory again" "$(near_soon /n/1)" near

# ---- the stampede lock: one computation -------------------------------------------
pids=()
for i in $(seq 24); do
    curl_get "$URL/slow/cold?sleep_ms=400" >"$TMP/par.$i" & pids+=($!)
done
wait "${pids[@]}"
expect_eq "24 cold requests on 4 workers: one computation" "$(grep -c '/slow/cold' "$TMP/app.count")" 1
bodies=$(for f in "$TMP"/par.*; do body_of "$(cat "$f")" | md5sum; done | sort -u | wc -l)
expect_eq "... all 24 bodies identical" "$bodies" 1
rm -f "$TMP"/par.*

# The wake-up is sharded pub/sub, on the URL's master only.
curl_get "$URL/slow/wake?sleep_ms=1500" >"$TMP/leader" &
leader=$!
sleep 0.3
curl_get "$URL/slow/wake?sleep_ms=1500" >"$TMP/waiter" &
waiter=$!
sleep 0.5
shard="" plain=""
for p in "$M1" "$M2" "$M3"; do
    shard="$shard$(redis-cli -p "$p" PUBSUB SHARDCHANNELS 'cgicache:#fill:*')"
    plain="$plain$(redis-cli -p "$p" PUBSUB CHANNELS 'cgicache:#fill:*')"
done
wait "$leader" "$waiter"
expect_contains "a waiter listens on its URL's sharded channel (SSUBSCRIBE)" "$shard" "cgicache:#fill:slow:{"
expect_eq "... not on a channel of every node" "$plain" ""
expect_contains "... and is woken by the fill (SPUBLISH): collapsed" "$(cat "$TMP/waiter")" "collapsed"
expect_eq "... one computation" "$(grep -c '/slow/wake' "$TMP/app.count")" 1

# ---- invalidation -------------------------------------------------------------------
expect_eq "/slow/cold is cached" "$(status /slow/cold?sleep_ms=400)" HIT
curl_get -X PUT "$URL/c/3" >/dev/null
expect_eq "a PUT purges its URL (RFC 9111)" "$(status /c/3)" MISS
expect_eq "... and invalidates=slow the route" "$(status /slow/cold?sleep_ms=400)" MISS
expect_eq "... other URLs stay" "$(status /c/4)" HIT

# ---- the tool's purges ----------------------------------------------------------------
"$CC_TOOL" purge --url "http://127.0.0.1:$NGINX_PORT/c/5" >/dev/null
expect_eq "purge --url exits 0" "$?" 0
expect_eq "... its URL is a MISS" "$(status /c/5)" MISS
expect_eq "... another is a HIT" "$(status /c/6)" HIT
status "/c/t1?tags=red" >/dev/null
status "/c/t2?tags=red" >/dev/null
status "/c/t3?tags=blue" >/dev/null
expect_eq "purge --tag red: its 2 entries, wherever they are" "$("$CC_TOOL" purge --tag red)" "2 entries removed"
expect_eq "... tagged red: MISS" "$(status "/c/t1?tags=red")$(status "/c/t2?tags=red")" MISSMISS
expect_eq "... tagged blue: HIT" "$(status "/c/t3?tags=blue")" HIT
# A soft tag purge: its URLs' generations softened on their own masters.
status "/c/t4?tags=green" >/dev/null
status "/c/t5?tags=green" >/dev/null
expect_eq "purge --soft --tag green: its 2 entries marked" "$("$CC_TOOL" purge --soft --tag green)" "2 entries marked stale"
expect_eq "... served STALE while refreshed" "$(status "/c/t4?tags=green")$(status "/c/t5?tags=green")" STALESTALE
sleep 0.3
expect_eq "... then HIT" "$(status "/c/t4?tags=green")$(status "/c/t5?tags=green")" HITHIT
# The app's own purge header, followed in the app's process.
status "/c/t6?tags=gold" >/dev/null
curl_get -X POST "$URL/c/form?ptags=gold" >/dev/null
expect_eq "X-Cache-Purge-Tags on a POST: the tagged entry purged across masters" "$(status "/c/t6?tags=gold")" MISS
# A prefix purge: one record on the route's generation.
status /c/p/1 >/dev/null
status /c/p/2 >/dev/null
status /c/pq >/dev/null
"$CC_TOOL" purge --prefix "http://127.0.0.1:$NGINX_PORT/c/p" >/dev/null
expect_eq "purge --prefix /c/p: the URLs under it MISS" "$(status /c/p/1)$(status /c/p/2)" MISSMISS
expect_eq "... /c/pq is not under it: HIT" "$(status /c/pq)" HIT
entries() {    # entries under pattern $1 on every master
    local p n=0
    for p in "${CLUSTER_PORTS[@]}"; do
        [ "$(role_of "$p")" = master ] && n=$((n + $(keys_on "$p" "$1")))
    done
    echo "$n"
}
n=$(entries 'cgicache:c:{*')
out=$("$CC_TOOL" purge --route c)
expect_eq "purge --route c exits 0" "$?" 0
expect_eq "... it removed the route's $n entries, from every master (SCAN walks them all)" "$out" "$n entries removed"
expect_eq "... none is left" "$(entries 'cgicache:c:{*')" 0
got=""
for i in 1 2 8 9; do got="$got$(status /c/$i)"; done
expect_eq "... every URL of the route is a MISS" "$got" MISSMISSMISSMISS

# ---- a slot moved under the cache: MOVED ------------------------------------------------
for i in 1 2 8 9; do status /c/$i >/dev/null; done
k=$(find_key 'cgicache:c:{*}GET:http://127.0.0.1/c/8|*')
slot=$(slot_of "$k")
from=""
for p in "$M1" "$M2" "$M3"; do
    [ "$(redis-cli -p "$p" CLUSTER COUNTKEYSINSLOT "$slot")" -gt 0 ] && from=$p
done
to=$M1; [ "$from" = "$M1" ] && to=$M2
from_id=$(redis-cli -p "$from" CLUSTER MYID) to_id=$(redis-cli -p "$to" CLUSTER MYID)
redis-cli -p "$to" CLUSTER SETSLOT "$slot" IMPORTING "$from_id" >/dev/null
redis-cli -p "$from" CLUSTER SETSLOT "$slot" MIGRATING "$to_id" >/dev/null
keys=$(redis-cli -p "$from" CLUSTER GETKEYSINSLOT "$slot" 100)
# shellcheck disable=SC2086
redis-cli -p "$from" MIGRATE 127.0.0.1 "$to" "" 0 5000 KEYS $keys >/dev/null
for p in "$M1" "$M2" "$M3"; do redis-cli -p "$p" CLUSTER SETSLOT "$slot" NODE "$to_id" >/dev/null; done
expect_eq "slot $slot moved from $from to $to: the entry is on its new master" \
    "$(redis-cli -p "$to" EXISTS "$k")" 1
got=""
for _ in 1 2 3 4 5 6; do got="$got$(status /c/8)"; done
expect_eq "... still a HIT from every worker (MOVED followed)" "$got" HITHITHITHITHITHIT
expect_eq "... the others too" "$(status /c/1)$(status /c/9)" HITHIT
curl_get -X PUT "$URL/c/8" >/dev/null
expect_eq "... a purge of it lands on its new master" "$(status /c/8)" MISS

# ---- under load: a live reshard, then a master killed -------------------------------------
ms() { echo $(($(date +%s%N) / 1000000)); }
id_of() { redis-cli -p "$1" CLUSTER MYID; }
# load SECONDS: 3 client loops over 20 URLs; each answer must be its own
# URL's page; prints "requests failures hits".
load() {
    local until=$(( $(date +%s%N) + $1 * 1000000000 )) i
    for i in 1 2 3; do
        (
            n=0 bad=0 hits=0
            while [ "$(date +%s%N)" -lt "$until" ]; do
                k=$((n % 20))
                out=$(curl -s -i -m 5 "$URL/c/l$k")
                case "$out" in
                "HTTP/1.1 200"*"uri=/c/l$k run="*) ;;
                *) bad=$((bad + 1)); echo "$out" >>"$TMP/bad.$i" ;;
                esac
                case "$out" in *"X-Cache-Status: HIT"*) hits=$((hits + 1)) ;; esac
                n=$((n + 1))
            done
            echo "$n $bad $hits"
        ) >"$TMP/load.$i" &
    done
    wait
    cat "$TMP"/load.? | awk '{ n += $1; b += $2; h += $3 } END { print n, b, h }'
}
# under NAME ACTION...: ACTION under 8 s of load; no failed or wrong response.
under() {
    local name=$1 n bad hits
    shift
    rm -f "$TMP"/load.? "$TMP"/bad.?
    load 8 >"$TMP/figures" &
    local loader=$!
    sleep 1
    "$@"
    wait "$loader"
    read -r n bad hits <"$TMP/figures"
    echo "# $name: $n requests, $bad failed or wrong, $hits hits"
    expect_eq "$name: no failed or wrong response ($n requests)" "$bad" 0
    [ "$bad" -eq 0 ] || head -20 "$TMP"/bad.? 2>/dev/null
    [ "$n" -ge 100 ] && ok "$name: the load ran ($n requests)" || not_ok "$name: only $n requests"
}

reshard() {
    timeout 60 redis-cli --cluster reshard "127.0.0.1:$M1" --cluster-from "$(id_of "$M1")" \
        --cluster-to "$(id_of "$M2")" --cluster-slots 3000 --cluster-yes >"$TMP/reshard.log" 2>&1
    expect_eq "reshard: 3000 slots moved from $M1 to $M2 under load" "$?" 0
}
under "live reshard" reshard
got=""
for k in $(seq 0 19); do got="$got$(status /c/l$k)"; done
expect_eq "... every URL a HIT afterwards" "$got" "$(printf 'HIT%.0s' $(seq 20))"

# The master of /c/l3 killed: its replica is promoted.
k=$(find_key 'cgicache:c:{*}GET:http://127.0.0.1/c/l3|*')
victim=""
for i in 0 1 2 3 4 5; do
    p=${CLUSTER_PORTS[$i]}
    [ "$(role_of "$p")" = master ] && [ "$(redis-cli -p "$p" EXISTS "$k")" = 1 ] && victim=$i
done
vport=${CLUSTER_PORTS[$victim]}
replica=$(redis-cli -p "$vport" CLUSTER REPLICAS "$(id_of "$vport")" | head -1 | awk '{print $2}' | sed 's/@.*//; s/.*://')
kill_master() {
    kill -9 "${CLUSTER_PIDS[$victim]}"
    local t0
    t0=$(ms)
    for _ in $(seq 200); do [ "$(role_of "$replica")" = master ] && break; sleep 0.05; done
    expect_eq "master $vport killed: its replica $replica promoted" "$(role_of "$replica")" master
    local t1 after=""
    t1=$(ms)
    echo "# promoted $((t1 - t0)) ms after the kill"
    for _ in $(seq 100); do
        [ "$(status /c/l3)" = HIT ] && { after=$(($(ms) - t1)); break; }
        sleep 0.05
    done
    echo "# /c/l3 a HIT again ${after:-never} ms after the promotion"
    [ -n "$after" ] && [ "$after" -le 3000 ] && ok "... hits on the new master within 3 s ($after ms)" ||
        not_ok "... no hit on the new master within 5 s"
}
under "a master killed" kill_master
curl_get -X PUT "$URL/c/l3" >/dev/null
got=""
for _ in 1 2 3 4 5 6 7 8; do got="$got$(status /c/l3) "; done
case "$got" in "MISS "*) ok "... a purge lands on the new master: no worker serves the old page ($got)" ;;
*) not_ok "... after a purge on the new master: $got" ;; esac
case "$got" in *MISS*MISS*) not_ok "... computed more than once after the purge: $got" ;; esac

# ---- purge --all: every master ------------------------------------------------------------
status /c/a1 >/dev/null; status /c/a2 >/dev/null; status /slow/a3 >/dev/null
expect_ne "entries before purge --all" "$(entries 'cgicache:[a-z]*:{*')" 0
"$CC_TOOL" purge --all >/dev/null
expect_eq "purge --all: no entry left on any master" "$(entries 'cgicache:[a-z]*:{*')" 0
expect_ne "... generations and counters stay" "$(entries 'cgicache:#*')" 0

# ---- a CGI program: answered before main() from the cluster, stored as it exits --------
cgi_run() {
    timeout 10 env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
        REQUEST_URI="$1" SCRIPT_NAME="$1" SERVER_NAME=localhost SERVER_PORT=80 HTTP_HOST=localhost \
        SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 LD_PRELOAD="$(preload_value)" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        CGICACHE_REDIS="$CGICACHE_REDIS" CGICACHE_ROUTE_cgi='GET /cgi/* ttl=60' \
        APP_COUNTER="$TMP/cgi.count" "$TOP/tests/apps/cgi/hello.sh" </dev/null
}
touch "$TMP/cgi.count"
got="$(status_of "$(cgi_run /cgi/one)")$(status_of "$(cgi_run /cgi/one)")"
expect_eq "CGI: MISS, then HIT from the cluster" "$got" MISSHIT
expect_eq "... the program ran once" "$(runs_of cgi)" 1

# ---- cgicache check ----------------------------------------------------------------------
out=$("$CC_TOOL" check 2>&1)
expect_contains "check: the mode" "$out" "redis mode     cluster"
expect_contains "check: the masters" "$out" "3 masters:"
expect_contains "... the promoted replica among them" "$out" "127.0.0.1:$replica"
expect_eq "check --json: the mode" \
    "$("$CC_TOOL" check --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["redis_mode"])')" cluster

grep -q "CROSSSLOT" "$TMP"/*.log && not_ok "a CROSSSLOT error was logged" || ok "no CROSSSLOT, ever"

# ---- rediss-cluster:// -------------------------------------------------------------------
PKI=$TMP/pki
mkdir -p "$PKI"
ossl() { openssl "$@" >>"$PKI/openssl.log" 2>&1 || { not_ok "openssl $* failed"; finish; exit 1; }; }
ossl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 2 -subj /CN=ca
ossl req -newkey rsa:2048 -nodes -keyout "$PKI/server.key" -out "$PKI/server.csr" -subj /CN=redis
printf 'subjectAltName=IP:127.0.0.1\n' >"$PKI/san.ext"
ossl x509 -req -in "$PKI/server.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -out "$PKI/server.crt" -days 2 -extfile "$PKI/san.ext"
chmod 644 "$PKI"/*
CLUSTER_TLS=$PKI cluster_start "$TMP/tls-cluster" 3
started=$?
PIDS+=("${CLUSTER_PIDS[@]}")
[ "$started" -eq 0 ] || { not_ok "the TLS cluster did not start"; finish; exit 1; }
ok "a TLS cluster of 3 masters: ${CLUSTER_PORTS[*]}"
TLS_REDIS="rediss-cluster://127.0.0.1:${CLUSTER_PORTS[0]}"
start_app tapp 2 "$TESTAPP" "${ROUTES[@]}" CGICACHE_REDIS="$TLS_REDIS" CGICACHE_REDIS_CA="$PKI/ca.crt"
got=""
for i in 1 2 3 4 5 6; do fcgi tapp GET "/c/s$i" >/dev/null; got="$got$(status_of "$(fcgi tapp GET "/c/s$i")")"; done
expect_eq "rediss-cluster://: MISS then HIT, over TLS" "$got" HITHITHITHITHITHIT
spread=0
for p in "${CLUSTER_PORTS[@]}"; do
    [ -n "$(CLUSTER_TLS=$PKI cluster_cli "$p" --scan --pattern 'cgicache:c:*')" ] && spread=$((spread + 1))
done
expect_eq "... on every master" "$spread" 3
out=$(CGICACHE_REDIS="$TLS_REDIS" CGICACHE_REDIS_CA="$PKI/ca.crt" "$CC_TOOL" check 2>&1)
expect_contains "check: a TLS cluster" "$out" "redis mode     cluster"
expect_contains "... its session" "$out" "verified"
# Not signed by the CA given (the system's store): refused, said why,
# and the app answers (the handshake gets 2 s, as in t_tls).
start_app tbad 1 "$TESTAPP" "${ROUTES[@]}" CGICACHE_REDIS="$TLS_REDIS" CGICACHE_CONNECT_TIMEOUT=2s
r=$(fcgi tbad GET /c/s1)
expect_eq "another CA: the app answers, uncached" "$(status_of "$r")" MISS
expect_contains "... its log says why" "$(cat "$TMP/tbad.log")" "certificate refused"
finish
