#!/bin/bash
# t_near.sh -- the near cache (lib/redis/near.c): a FastCGI worker serves
# the entries it found fresh in Redis from its own memory, without a Redis
# command, and never once Redis may have changed them: a key deleted, any
# `cgicache purge`, another worker's POST, a newer version stored, a
# FLUSHALL, the TTL run out, the invalidation channel or the data
# connection lost, Redis restarted or frozen.  Then its size (0 disables;
# a small one stays small and keeps the recently used), its counter in
# `cgicache stats`, CGI (never), a prefork pool (a cache per worker) and
# the wire adapter (php-cgi -b).
#
# The order of a worker's answers for one URL: MISS (stored), HIT from
# Redis (copied into the worker's memory), then hits from memory
# (Cache-Status "...; detail=near").  Each check of coherence first shows
# the entry served from memory, so none passes for want of a near cache.
. "$(dirname "$0")/lib.sh"

start_redis
ROUTES=(CGICACHE_ROUTE_c='GET /c/* ttl=60'
        CGICACHE_ROUTE_r='GET /r/* ttl=60'
        CGICACHE_ROUTE_redit='POST /r/* invalidates=r'
        CGICACHE_ROUTE_v='GET /v/* ttl=60 vary=X-Lang'
        CGICACHE_ROUTE_p='GET /p/* ttl=60'
        CGICACHE_ROUTE_short='GET /short/* ttl=1 stale=30'
        CGICACHE_ROUTE_st='GET /st/* ttl=60'
        CGICACHE_ROUTE_cgi='GET /cgi/* ttl=60')
export "${ROUTES[@]}" CGICACHE_REDIS="$REDIS_URL"
# Two apps on the same routes and the same data file (set=V in a request
# to either changes what both answer, data=V).
start_app a 1 "$TESTAPP" "${ROUTES[@]}" APP_COUNTER="$TMP/a.count"
start_app b 1 "$TESTAPP" "${ROUTES[@]}" APP_COUNTER="$TMP/a.count"

# kind RESPONSE: near for a hit from the worker's memory, else the status
# header (MISS, HIT, STALE...).
kind() {
    case "$(header_of "$1" Cache-Status)" in
    *"; detail=near"*) echo near ;;
    *) status_of "$1" ;;
    esac
}
# kinds NAME URL N: the kinds of N requests in a row.
kinds() {
    local out=() _
    for _ in $(seq "$3"); do out+=("$(kind "$(fcgi "$1" GET "$2")")"); done
    echo "${out[*]}"
}
# to_near NAME URL: requests URL until the worker serves it from memory
# (MISS, HIT, near; longer when the worker has yet to notice a lost
# connection, or its channel is being made again), for 2.5 s at most;
# prints near or what the last one was.
to_near() {
    local k t0
    t0=$(ms)
    while :; do
        k=$(kind "$(fcgi "$1" GET "$2")")
        [ "$k" = near ] || [ $(($(ms) - t0)) -ge 2500 ] && break
        sleep 0.05
    done
    echo "$k"
}
key_of() { entry_key "$1" "http://localhost$2"; }
ms() { echo $(($(date +%s%N) / 1000000)); }
md5() { body_of "$1" | md5sum | cut -d' ' -f1; }

# ---- 1. MISS, HIT from Redis, then hits from memory without Redis --------------
u="/c/one?size=3000&rand=1"
r1=$(fcgi a GET "$u")
r2=$(fcgi a GET "$u")
r3=$(fcgi a GET "$u")
expect_eq "MISS, HIT from Redis, then a hit from memory" "$(kind "$r1") $(kind "$r2") $(kind "$r3")" "MISS HIT near"
expect_eq "the hit from memory: its Cache-Status and status header" \
    "$(header_of "$r3" Cache-Status | sed 's/ttl=5[0-9];/ttl=5x;/') / $(status_of "$r3") / Age $(header_of "$r3" Age)" \
    "cgicache; hit; ttl=5x; detail=near / HIT / Age 0"
expect_eq "the hit from memory: the stored body, byte for byte (3000 bytes, compressed in Redis)" \
    "$(kind "$r3") $(md5 "$r3")" "near $(md5 "$r1")"
head_without() { printf '%s' "$1" | awk '/^\r?$/ { exit } { print }' | grep -vi '^cache-status:'; }
expect_eq "the hit from memory: the head of the HIT from Redis but for Cache-Status" \
    "$(kind "$r3") $(head_without "$r3" | md5sum)" "near $(head_without "$r2" | md5sum)"
r=$(fcgi a HEAD "$u")
expect_eq "a HEAD from memory: no body" "$(kind "$r") [$(body_of "$r")]" "near []"

# Variants (vary=X-Lang) are entries of their own in memory too.
fr=$(for _ in 1 2 3; do kind "$(fcgi a GET /v/x HTTP_X_LANG=fr)"; done | xargs)
rfr=$(fcgi a GET /v/x HTTP_X_LANG=fr)
de=$(for _ in 1 2 3; do kind "$(fcgi a GET /v/x HTTP_X_LANG=de)"; done | xargs)
rde=$(fcgi a GET /v/x HTTP_X_LANG=de)
rfr2=$(fcgi a GET /v/x HTTP_X_LANG=fr)
expect_eq "vary: each variant MISS, HIT, from memory, with its own body" \
    "$fr / $de / $(kind "$rde") $(test "$(md5 "$rde")" != "$(md5 "$rfr")" && echo own) / $(md5 "$rfr2")" \
    "MISS HIT near / MISS HIT near / near own / $(md5 "$rfr")"

# 20 hits from memory: Redis receives no command from the worker (its
# channel's heartbeat PING aside).
mget() { rcli INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_mget:calls=\([0-9]*\),.*/\1/p'; }
before=$(mget)
timeout 10 redis-cli -p "$REDIS_PORT" MONITOR >"$TMP/monitor" 2>/dev/null &
mon=$!
sleep 0.2
near=0
for _ in $(seq 20); do
    r=$(fcgi a GET "$u")
    [ "$(kind "$r")" = near ] && [ "$(md5 "$r")" = "$(md5 "$r1")" ] && near=$((near + 1))
done
sleep 0.2
kill "$mon" 2>/dev/null
wait "$mon" 2>/dev/null
cmds=$(grep -E '^[0-9]+\.[0-9]+ \[' "$TMP/monitor" | grep -vc '"PING"')
expect_eq "20 hits from memory, the stored body each time; no command reached Redis; no MGET" \
    "$near $cmds $(($(mget) - before))" "20 0 0" || grep -E '^[0-9]' "$TMP/monitor" | head -5

# ---- 2. coherence: what another process changes is never served from memory ----
# (a) the entry deleted in Redis.
u=/c/del
n=$(to_near a "$u")
rcli DEL "$(key_of c "$u")" >/dev/null
r=$(fcgi a GET "$u")
expect_eq "DEL of the entry in Redis: from memory before, a MISS after" "$n $(kind "$r")" "near MISS"

# (b) every form of cgicache purge.
u=/c/purl
r0=$(fcgi a GET "$u"); n=$(to_near a "$u")
out=$("$CC_TOOL" purge --url "http://localhost$u")
r=$(fcgi a GET "$u")
expect_eq "purge --url: from memory before, a MISS after, the app's new run" \
    "$n $out / $(kind "$r") $(test "$(md5 "$r")" != "$(md5 "$r0")" && echo new)" \
    "near 1 entry removed / MISS new"
u=/r/route
r0=$(fcgi a GET "$u"); n=$(to_near a "$u")
out=$("$CC_TOOL" purge --route r)
r=$(fcgi a GET "$u")
expect_eq "purge --route: from memory before, a MISS after, the app's new run" \
    "$n $out / $(kind "$r") $(test "$(md5 "$r")" != "$(md5 "$r0")" && echo new)" \
    "near 1 entry removed / MISS new"
u="/c/tagged?tags=t1,t2"
r0=$(fcgi a GET "$u"); n=$(to_near a "$u")
out=$("$CC_TOOL" purge --tag t2)
r=$(fcgi a GET "$u")
expect_eq "purge --tag: from memory before, a MISS after, the app's new run" \
    "$n $out / $(kind "$r") $(test "$(md5 "$r")" != "$(md5 "$r0")" && echo new)" \
    "near 1 entry removed / MISS new"
u=/c/pall
n=$(to_near a "$u")
"$CC_TOOL" purge --all >/dev/null
expect_eq "purge --all: from memory before, a MISS after" "$n $(kind "$(fcgi a GET "$u")")" "near MISS"

# (c) a POST through another app, on the same routes, purges the URL
# (RFC 9111 4.4) and changes the data: the first worker's next GET is a
# MISS with the new data.
u=/p/post
fcgi b GET "/x?set=before" >/dev/null
r0=$(fcgi a GET "$u"); n=$(to_near a "$u")
fcgi b POST "$u?set=after" >/dev/null
r=$(fcgi a GET "$u")
expect_eq "a POST through another worker: from memory before (data=before), a MISS with data=after" \
    "$n $(body_of "$r0" | grep -o 'data=.*') / $(kind "$r") $(body_of "$r" | grep -o 'data=.*')" \
    "near data=before / MISS data=after"
r=$(fcgi a GET "$u")
r4=$(fcgi a GET "$u")
expect_eq "... then a HIT from Redis, then from memory, both with data=after" \
    "$(kind "$r") $(body_of "$r" | grep -o 'data=.*') $(kind "$r4") $(body_of "$r4" | grep -o 'data=.*')" \
    "HIT data=after near data=after"

# ... and one declared with invalidates= (a route's generation): a POST
# through b to another URL of route r.
u=/r/one
n=$(to_near a "$u")
fcgi b POST /r/two >/dev/null
expect_eq "a POST through another worker purging the route: from memory before, a MISS after" \
    "$n $(kind "$(fcgi a GET "$u")")" "near MISS"
# ... and the worker's own POST.
u=/p/own
n=$(to_near a "$u")
fcgi a POST "$u?set=own" >/dev/null
r=$(fcgi a GET "$u")
expect_eq "the worker's own POST: from memory before, a MISS with the new data after" \
    "$n $(kind "$r") $(body_of "$r" | grep -o 'data=.*')" "near MISS data=own"

# (d) another worker stores a newer version: the key expired in Redis
# (PEXPIRE), app b computes it again and stores it.
u=/c/newer
r0=$(fcgi a GET "$u"); n=$(to_near a "$u")
fcgi b GET "/x?set=newer" >/dev/null
rcli PEXPIRE "$(key_of c "$u")" 1 >/dev/null
sleep 0.05
rb=$(fcgi b GET "$u")
# b stores after its response: until Redis has it, a lookup by a may see
# it land (and rightly keep it out of memory, the message being newer).
sleep 0.3
r=$(fcgi a GET "$u")
r4=$(fcgi a GET "$u")
expect_eq "a newer version stored by another worker: from memory before; then b's (data=newer) from Redis, then from memory" \
    "$n $(kind "$rb") / $(kind "$r") $(md5 "$r") / $(kind "$r4") $(md5 "$r4") $(body_of "$r4" | grep -o 'data=.*')" \
    "near MISS / HIT $(md5 "$rb") / near $(md5 "$rb") data=newer"

# (e) FLUSHALL.
u=/c/flush
n=$(to_near a "$u")
rcli FLUSHALL >/dev/null
expect_eq "FLUSHALL: from memory before, a MISS after" "$n $(kind "$(fcgi a GET "$u")")" "near MISS"

# (f) the TTL: a 1 s route is served from memory while fresh, never after.
# Every answer for 1.6 s, one each 100 ms: none from memory past the
# entry's fresh time (it was stored before the second request was
# answered), and none from memory with a ttl below 0.
u=/short/t
r1=$(fcgi a GET "$u")
r2=$(fcgi a GET "$u")
t_stored=$(ms)
bad=0 seen="" fresh_near=0
for _ in $(seq 16); do
    t=$(ms)
    r=$(fcgi a GET "$u")
    k=$(kind "$r")
    ttl=$(header_of "$r" Cache-Status | sed -n 's/.*ttl=\(-\{0,1\}[0-9]*\).*/\1/p')
    if [ "$k" = near ]; then
        [ "$t" -lt $((t_stored + 900)) ] && fresh_near=$((fresh_near + 1))
        { [ "${ttl:-0}" -lt 0 ] || { [ "$(md5 "$r")" = "$(md5 "$r1")" ] && [ "$t" -gt $((t_stored + 1000)) ]; }; } &&
            { bad=$((bad + 1)); echo "# from memory at +$((t - t_stored)) ms: $(header_of "$r" Cache-Status)"; }
    fi
    case "$seen" in *" $k") ;; *) seen="$seen $k" ;; esac
    sleep 0.1
done
# (An early refresh may take the last moment: a HIT from Redis, not STALE.)
expect_eq "ttl=1: MISS, HIT from Redis, from memory, then from Redis again" \
    "$(kind "$r1") $(kind "$r2")$(echo "$seen" | grep -oE '^ near (STALE|HIT)' | sed 's/ STALE$/ HIT/')" "MISS HIT near HIT"
expect_eq "ttl=1: from memory while fresh; nothing from memory past its fresh time, no negative ttl from memory" \
    "$([ "$fresh_near" -gt 0 ] && echo near-while-fresh) $bad" "near-while-fresh 0"

# ---- 3. the channel and the data connection lost, Redis restarted or frozen -----
# The channel killed (CLIENT KILL TYPE pubsub): emptied, not served from
# memory until it is made again (after 1 s), and a purge meanwhile is
# never undone.
u=/p/chan
fcgi b GET "/x?set=chan1" >/dev/null
n=$(to_near a "$u")
t_kill=$(ms)
rcli CLIENT KILL TYPE pubsub >/dev/null
k1=$(kinds a "$u" 3)
fcgi b POST "$u?set=chan2" >/dev/null
old=0 near=0 first_near=""
while [ $(($(ms) - t_kill)) -lt 2200 ]; do
    r=$(fcgi a GET "$u")
    case "$(body_of "$r")" in *data=chan1*) old=$((old + 1)) ;; esac
    if [ "$(kind "$r")" = near ]; then
        near=$((near + 1))
        [ -z "$first_near" ] && first_near=$(($(ms) - t_kill))
    fi
    sleep 0.05
done
expect_eq "channel killed: from memory before, then from Redis (not from memory)" "$n $k1" "near HIT HIT HIT"
if [ "$old" = 0 ] && [ "$near" -gt 0 ] && [ "$first_near" -ge 900 ]; then
    ok "... a purge meanwhile: no answer with the old data; from memory again once the channel is made again ($first_near ms after the kill)"
else
    not_ok "... a purge meanwhile: $old answers with the old data; from memory again: $near times, first at ${first_near:-never} ms after the kill (not before 900)"
fi

# The data connection killed (the client with flags t, the one tracking):
# what it read is no longer tracked, so the near cache must be emptied.
# Then the entry is deleted in Redis: the worker must not serve it.
pid_of() { body_of "$(fcgi "$1" GET "/pid")" | sed -n 's/.*pid=\([0-9]*\).*/\1/p'; }
# data_ids NAME: the Redis client ids of app NAME's tracking connections.
data_ids() {
    local ports
    ports=$(ss -Htnp state established "( dport = :$REDIS_PORT )" 2>/dev/null |
        awk -v pid="pid=$(pid_of "$1")," 'index($0, pid) { n = split($3, a, ":"); print a[n] }')
    rcli CLIENT LIST | awk -v ports=" $(echo $ports) " '
        { id = ""; port = ""; t = 0
          for (i = 1; i <= NF; i++) {
              if ($i ~ /^id=/) id = substr($i, 4)
              if ($i ~ /^addr=/) { n = split($i, a, ":"); port = a[n] }
              if ($i ~ /^flags=.*t/) t = 1 }
          if (t && index(ports, " " port " ")) print id }'
}
u=/c/dataconn
n=$(to_near a "$u")
ids=$(data_ids a)
for id in $ids; do rcli CLIENT KILL ID "$id" >/dev/null; done
rcli DEL "$(key_of c "$u")" >/dev/null
r=$(fcgi a GET "$u")
expect_eq "data connection killed (client $(echo $ids)), then the entry deleted: from memory before, not from memory after" \
    "$n ${ids:+found} $(kind "$r")" "near found MISS"
# The same when Redis closes the idle data connection itself (timeout):
# a worker answering from memory sends nothing on it.
rcli CONFIG SET timeout 1 >/dev/null
u=/c/idle
n=$(to_near a "$u")
t0=$(ms)
while [ $(($(ms) - t0)) -lt 2600 ]; do fcgi a GET "$u" >/dev/null; sleep 0.2; done
rcli CONFIG SET timeout 0 >/dev/null
rcli DEL "$(key_of c "$u")" >/dev/null
r=$(fcgi a GET "$u")
expect_eq "data connection closed by Redis's idle timeout, then the entry deleted: from memory before, not from memory after" \
    "$n $(kind "$r")" "near MISS"

# Redis restarted on the same port: nothing from before is served from
# memory, and the entry another app stores anew is what comes back.
restart_redis() {
    stop_redis
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --enable-debug-command local --daemonize no >>"$TMP/redis.log" 2>&1 &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    disown "$REDIS_PID" 2>/dev/null
    wait_for rcli PING
}
u=/c/restart
r0=$(fcgi a GET "$u"); n=$(to_near a "$u")
restart_redis
fcgi b GET "/x?set=restarted" >/dev/null
# b's first request finds its connection gone (answered, not stored).
t0=$(ms)
while :; do
    rb=$(fcgi b GET "$u")
    case "$(header_of "$rb" Cache-Status)" in *stored*) break ;; esac
    [ $(($(ms) - t0)) -ge 2500 ] && break
    sleep 0.1
done
old=0 near=0
t0=$(ms)
while [ $(($(ms) - t0)) -lt 1600 ]; do
    r=$(fcgi a GET "$u")
    [ "$(md5 "$r")" = "$(md5 "$r0")" ] && old=$((old + 1))
    [ "$(kind "$r")" = near ] && near=$((near + 1))
    sleep 0.05
done
expect_eq "Redis restarted: from memory before; after, no answer with the old body" "$n $old" "near 0"
r=$(fcgi a GET "$u")
expect_eq "... from memory again, with the entry stored after the restart" \
    "$(kind "$r") $(md5 "$r")" "near $(md5 "$rb")"

# Redis frozen (DEBUG SLEEP 2): answers from memory go on without it for
# a while; then the heartbeat (a PING each second, its PONG due within
# 500 ms) fails, and the worker stops answering from memory within ~1.5 s
# (plus the 100 ms between requests here); it answers as Redis allows
# (the app: fail open).
u=/c/frozen
n=$(to_near a "$u")
timeout 10 redis-cli -p "$REDIS_PORT" DEBUG SLEEP 2 >/dev/null &
sleeper=$!
sleep 0.05
t_freeze=$(ms)     # about when Redis starts sleeping
stopped="" after="" frozen_near=0
while [ $(($(ms) - t_freeze)) -lt 1850 ]; do
    r=$(fcgi a GET "$u")
    k=$(kind "$r")
    if [ -z "$stopped" ] && [ "$k" != near ]; then stopped=$(($(ms) - t_freeze)); fi
    [ -z "$stopped" ] && frozen_near=$((frozen_near + 1))
    [ -n "$stopped" ] && after="$after $k"
    sleep 0.1
done
wait "$sleeper"
if [ "$frozen_near" -gt 0 ] && [ -n "$stopped" ] && [ "$stopped" -le 1800 ]; then
    ok "Redis frozen: $frozen_near answers from memory, none after $stopped ms"
else
    not_ok "Redis frozen: $frozen_near answers from memory, then none from ${stopped:-(never, in 1850)} ms (want some, then none by 1800)"
fi
expect_eq "... from memory before the freeze; after that, the app's answers (MISS) while frozen" \
    "$n $(echo $after | tr ' ' '\n' | sort -u | xargs)" "near MISS"
k=""
t0=$(ms)
while [ $(($(ms) - t0)) -lt 3000 ]; do
    k=$(kind "$(fcgi a GET "$u")")
    [ "$k" = near ] && break
    sleep 0.1
done
expect_eq "... from memory again once Redis answers" "$k" near

# ---- 4. CGICACHE_NEAR_SIZE ------------------------------------------------------
start_app zero 1 "$TESTAPP" "${ROUTES[@]}" CGICACHE_NEAR_SIZE=0
u=/c/zero
expect_eq "CGICACHE_NEAR_SIZE=0: never from memory (a worker with the default, on the same entry: from memory)" \
    "$(kinds zero "$u" 5) / $(to_near a "$u")" "MISS HIT HIT HIT HIT / near"

# A 64k near cache and 2000 distinct 2 kB pages, through nginx: every
# answer right for its URL, the worker's memory bounded, the recently
# used served from memory and the oldest not.
# Under ASan, freed memory waits in a quarantine: none for this app.
start_app small 1 "$TESTAPP" CGICACHE_ROUTE_m='GET /m/* ttl=60' CGICACHE_NEAR_SIZE=64k \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}quarantine_size_mb=0"
start_nginx small
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
small_pid=$(pid_of small)
pass() {   # pass FIRST LAST TAG: GET /m/kFIRST .. /m/kLAST, kinds in $TMP/TAG.kinds
    mkdir -p "$TMP/$3"
    timeout 120 curl -s -o "$TMP/$3/#1" -w '%header{x-cache-status} %header{cache-status}\n' \
        "http://127.0.0.1:$NGINX_PORT/m/k[$1-$2]?size=2000" |
        awk '{ print (index($0, "detail=near") ? "near" : $1) }' >"$TMP/$3.kinds"
}
pass 1 2000 p1
pass 1 200 p2a
rss1=$(rss "$small_pid")
pass 201 2000 p2b
rss2=$(rss "$small_pid")
# The heartbeat runs only with requests: after a pause of more than
# 1.5 s the first request goes to Redis (and sends the PING).
fcgi small GET /m/wake >/dev/null
pass 1991 2000 p3
pass 1 1 p4
pass 1 1 p5
wrong=$(for i in $(seq 1 2000); do head -1 "$TMP/p1/$i"; done | awk '$1 != "uri=/m/k" NR "?size=2000"' | wc -l)
wrong2=$(cd "$TMP/p1" && md5sum $(seq 201 2000) | diff - <(cd "$TMP/p2b" && md5sum $(seq 201 2000)) | grep -c '^>')
recent=$(xargs <"$TMP/p3.kinds")
expect_eq "64k: 2000 pages: MISS, then HIT from Redis, each for its own URL, the stored body; the 10 most recent then from memory" \
    "$(sort "$TMP/p1.kinds" | uniq -c | xargs) / $(cat "$TMP/p2a.kinds" "$TMP/p2b.kinds" | sort | uniq -c | xargs) / $wrong $wrong2 / $recent" \
    "2000 MISS / 2000 HIT / 0 0 / near near near near near near near near near near"
growth=$((rss2 - rss1))
if [ "$growth" -lt 2048 ] && [ "$(echo "$recent" | tr ' ' '\n' | grep -c '^near$')" -gt 0 ]; then
    ok "64k: the worker's memory stays bounded over 1800 more pages kept and dropped (RSS $rss1 kB -> $rss2 kB)"
else
    not_ok "64k: the worker's memory over 1800 more pages: RSS $rss1 kB -> $rss2 kB (want < 2048 kB more), the recent from memory: $recent"
fi
expect_eq "64k: the oldest page went: from Redis, then from memory" \
    "$(cat "$TMP/p4.kinds") $(cat "$TMP/p5.kinds")" "HIT near"
expect_eq "64k: a 20 kB page (over a quarter of it) is never kept; a 2 kB one is" \
    "$(kinds small "/m/big?size=20000" 4) / $(kinds small "/m/ctl?size=2000" 3)" "MISS HIT HIT HIT / MISS HIT near"

# ---- 5. cgicache stats counts near_hit --------------------------------------------
"$CC_TOOL" stats --reset >/dev/null
n=$(kinds a /st/s 7)     # MISS HIT, then 5 from memory
sleep 1.1
fcgi a GET /st/other >/dev/null    # a Redis command: the counts go with it
sleep 0.2
stat() { "$CC_TOOL" stats --json | python3 -c '
import json, sys
row = [r for r in json.load(sys.stdin) if r["route"] == "st"][0]
print(" ".join("%s=%s" % (k, row.get(k)) for k in ("near_hit", "hit")))'; }
expect_eq "cgicache stats: near_hit counts the hits from memory (also in hit)" \
    "$n / $(stat)" "MISS HIT near near near near near / near_hit=5 hit=6"

# ---- 6. CGI never keeps a near cache -------------------------------------------
# cgi_run URI: tests/build cgi_printf as a web server runs it, preloaded.
cgi_run() {
    timeout 10 env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
        REQUEST_URI="$1" QUERY_STRING="" SCRIPT_NAME="$1" SERVER_NAME=localhost \
        SERVER_PORT=80 HTTP_HOST=localhost SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
        LD_PRELOAD="$(preload_value)" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        CGICACHE_REDIS="$REDIS_URL" "${ROUTES[@]}" APP_COUNTER="$TMP/cgi.count" \
        "$TOP/build/tests/cgi_printf" </dev/null
}
touch "$TMP/cgi.count"
cgi=()
for _ in 1 2 3 4; do cgi+=("$(kind "$(cgi_run /cgi/x)")"); done
expect_eq "CGI: never from memory (a FastCGI worker, on the same entry: from memory)" \
    "${cgi[*]} / $(to_near a /cgi/x)" "MISS HIT HIT HIT / near"

# ---- 7. a prefork pool: a near cache per worker, a purge reaches both -------------
start_app pf 2 "$TESTAPP" "${ROUTES[@]}"
u=/c/pf
k=$(kinds pf "$u" 10)
hits=$(echo "$k" | tr ' ' '\n' | grep -c '^HIT$')
nears=$(echo "$k" | tr ' ' '\n' | grep -c '^near$')
if [ "$hits" = 2 ] && [ "$nears" -ge 6 ]; then
    ok "2 workers: each reads Redis once, then answers from its own memory ($k)"
else
    not_ok "2 workers: each reads Redis once, then answers from its own memory ($k)"
fi
old=$(md5 "$(fcgi pf GET "$u")")
"$CC_TOOL" purge --url "http://localhost$u" >/dev/null
stale=0 kinds_after=""
for _ in $(seq 8); do
    r=$(fcgi pf GET "$u")
    [ "$(md5 "$r")" = "$old" ] && stale=$((stale + 1))
    kinds_after="$kinds_after $(kind "$r")"
done
misses=$(echo "$kinds_after" | tr ' ' '\n' | grep -c '^MISS$')
nears=$(echo "$kinds_after" | tr ' ' '\n' | grep -c '^near$')
expect_eq "2 workers: after a purge, no answer with the old body from either worker's memory; one MISS, then from memory again" \
    "$stale $misses $([ "$nears" -gt 0 ] && echo near) ($kinds_after )" "0 1 near ($kinds_after )"

# ---- 8. the wire adapter: php-cgi -b --------------------------------------------
PHP_CGI=$(command -v php-cgi)
if [ -z "$PHP_CGI" ]; then
    not_ok "php-cgi missing (tests/deps.sh installs it)"
else
    mkdir -p "$TMP/www"
    cp "$TOP/tests/apps/php/index.php" "$TMP/www/"
    touch "$TMP/www/runs.log"
    PHP_ENV=()
    case "$CC_LIB" in *asan*) PHP_ENV=(PHP_INI_SCAN_DIR=) ;; esac
    PHP_PORT=$(free_port)
    env LD_PRELOAD="$(preload_value)" CGICACHE_REDIS="$REDIS_URL" "${ROUTES[@]}" "${PHP_ENV[@]}" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" PHP_FCGI_CHILDREN=1 \
        "$PHP_CGI" -b "127.0.0.1:$PHP_PORT" >"$TMP/php.log" 2>&1 &
    PIDS+=("$!")
    disown "$!" 2>/dev/null
    tcp_open() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()' "$1"; }
    wait_for tcp_open "$PHP_PORT"
    php() {
        env -i REQUEST_METHOD=GET REQUEST_URI="$1" QUERY_STRING="" SCRIPT_NAME=/index.php \
            SCRIPT_FILENAME="$TMP/www/index.php" SERVER_NAME=localhost SERVER_PORT=80 HTTP_HOST=localhost \
            SERVER_PROTOCOL=HTTP/1.1 GATEWAY_INTERFACE=CGI/1.1 REMOTE_ADDR=127.0.0.1 \
            timeout 10 cgi-fcgi -bind -connect "127.0.0.1:$PHP_PORT" </dev/null
    }
    p1=$(php /c/php); p2=$(php /c/php); p3=$(php /c/php)
    expect_eq "php-cgi -b: MISS, HIT from Redis, then from memory, the stored body" \
        "$(kind "$p1") $(kind "$p2") $(kind "$p3") $(md5 "$p3")" "MISS HIT near $(md5 "$p1")"
    "$CC_TOOL" purge --url http://localhost/c/php >/dev/null
    p4=$(php /c/php); p5=$(php /c/php); p6=$(php /c/php)
    expect_eq "php-cgi -b: after a purge: MISS (a new run), HIT from Redis, then from memory with the new run" \
        "$(kind "$p4") $(test "$(md5 "$p4")" != "$(md5 "$p1")" && echo new) $(kind "$p5") $(kind "$p6") $(md5 "$p6")" \
        "MISS new HIT near $(md5 "$p4")"
fi
finish
