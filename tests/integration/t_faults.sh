#!/bin/bash
# t_faults.sh -- Redis misbehaving under steady load through nginx: killed,
# frozen and thawed, slowed, restarted, full, wrong password, wrong db.
# Every response must be the app's correct answer; added latency stays
# bounded by the timeout; caching comes back within seconds.
. "$(dirname "$0")/lib.sh"

start_redis
# Every hit asks Redis here (no near cache): the faults are Redis's, and
# a worker serving from its own memory would not meet them (t_near.sh
# has the near cache's own faults).
start_app app 2 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60' CGICACHE_TIMEOUT=50ms CGICACHE_CONNECT_TIMEOUT=50ms \
    CGICACHE_NEAR_SIZE=0
start_nginx app
URL=http://127.0.0.1:$NGINX_PORT

# load SECONDS: 3 client loops; prints "requests failures worst_ms".
load() {
    local until=$(( $(date +%s%N) + $1 * 1000000000 )) i
    for i in 1 2 3; do
        (
            n=0 bad=0 worst=0
            while [ "$(date +%s%N)" -lt "$until" ]; do
                k=$((n % 20))
                out=$(curl -s -m 5 -w '\n%{http_code} %{time_total}' "$URL/f/$k?plain=1")
                code=${out##*$'\n'}
                ms=$(awk -v t="${code#* }" 'BEGIN { printf "%d", t * 1000 }')
                case "$out" in "plain page"*"200 "*) ;; *) bad=$((bad + 1)) ;; esac
                [ "$ms" -gt "$worst" ] && worst=$ms
                n=$((n + 1))
            done
            echo "$n $bad $worst"
        ) >"$TMP/load.$i" &
    done
    wait
    cat "$TMP"/load.* | awk '{ n += $1; b += $2; if ($3 > w) w = $3 } END { print n, b, w }'
}

# fault NAME SECONDS ACTION...: runs ACTION under load, checks the figures.
fault() {
    local name=$1 secs=$2
    shift 2
    load "$secs" >"$TMP/figures" &
    local loader=$!
    sleep 0.5
    "$@"
    wait $loader
    read -r n bad worst <"$TMP/figures"
    echo "# $name: $n requests, $bad failed, worst $worst ms"
    expect_eq "$name: no failed or wrong response ($n requests)" "$bad" 0
    [ "$worst" -lt 1500 ] && ok "$name: worst latency $worst ms" || not_ok "$name: worst latency $worst ms"
    WORST=$worst
}

# recovered: seconds until the cache answers HIT again (fails after 10).
recovered() {
    local start=$(date +%s%N)
    for _ in $(seq 100); do
        curl -s "$URL/f/recover?plain=1" >/dev/null
        if curl -s -i "$URL/f/recover?plain=1" | grep -q 'X-Cache-Status: HIT'; then
            echo "# recovery to HIT in $(( ($(date +%s%N) - start) / 1000000 )) ms"
            return 0
        fi
        sleep 0.1
    done
    return 1
}

curl -s "$URL/f/1?plain=1" >/dev/null
fault "redis killed" 2 stop_redis
recover_redis() { start_redis_on "$REDIS_PORT"; }
start_redis_on() {
    redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --enable-debug-command local \
        "${@:2}" >>"$TMP/redis.log" 2>&1 &
    REDIS_PID=$!; PIDS+=("$REDIS_PID"); disown "$REDIS_PID" 2>/dev/null
    wait_for rcli PING
}
fault "redis restarted" 2 recover_redis
recovered && ok "back to HITs after a restart" || not_ok "no recovery after a restart"

freeze() { kill -STOP "$REDIS_PID"; sleep 1; kill -CONT "$REDIS_PID"; }
fault "redis frozen 1 s (SIGSTOP) and thawed" 3 freeze
[ "$WORST" -ge 40 ] && ok "frozen: the timeout was really met ($WORST ms)" || not_ok "frozen: the fault never bit"
recovered && ok "back to HITs after a freeze" || not_ok "no recovery after a freeze"

slow() { rcli DEBUG SLEEP 1 >/dev/null; }
fault "redis slowed (DEBUG SLEEP 1)" 3 slow
[ "$WORST" -ge 40 ] && ok "slowed: the timeout was really met ($WORST ms)" || not_ok "slowed: the fault never bit"
recovered && ok "back to HITs after DEBUG SLEEP" || not_ok "no recovery after DEBUG SLEEP"

full() {
    rcli FLUSHALL >/dev/null
    rcli CONFIG SET maxmemory-policy noeviction >/dev/null
    rcli CONFIG SET maxmemory 1 >/dev/null
}
fault "redis full (maxmemory, noeviction)" 2 full
r=$(curl -s -i "$URL/f/full-new?plain=1"); r=$(curl -s -i "$URL/f/full-new?plain=1")
expect_contains "full: answers are the app's (MISS)" "$r" "X-Cache-Status: MISS"
# Without a lock (which a full Redis refuses first) the store itself is
# tried; it is not waited for, and its refusal is read with the next command.
start_app nolock 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60 lock=off'
r=$(fcgi nolock GET "/f/nolock?plain=1"); r=$(fcgi nolock GET "/f/nolock?plain=1")
expect_contains "full, no lock: answers are the app's (MISS)" "$r" "X-Cache-Status: MISS"
grep -q "redis refused a write: OOM" "$TMP/nolock.log" && ok "full: the refused store is logged" ||
    not_ok "full: no warning for the refused store"
rcli CONFIG SET maxmemory 0 >/dev/null
recovered && ok "back to HITs once memory is freed" || not_ok "no recovery after full"

# Redis fills up while a worker holds a key's fill lock: its store is
# refused, yet it must release the lock and wake the waiter, which would
# otherwise wait CGICACHE_LOCK_WAIT (5 s) for a fill that never comes.
fcgi app GET "/f/lock-full?plain=1&sleep_ms=600" >"$TMP/holder.out" &
holder=$!
sleep 0.2
rcli CONFIG SET maxmemory 1 >/dev/null
start=$(date +%s%N)
r=$(fcgi app GET "/f/lock-full?plain=1&sleep_ms=600")
waited=$(( ($(date +%s%N) - start) / 1000000 ))
wait "$holder"
rcli CONFIG SET maxmemory 0 >/dev/null
expect_contains "full under a held lock: the waiter gets the app's page" "$r" "plain page"
[ "$waited" -lt 3000 ] && ok "full under a held lock: the waiter was woken ($waited ms)" ||
    not_ok "full under a held lock: the waiter waited $waited ms for a refused fill"

# Redis never started: the app answers from the first request.
start_app never 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60' CGICACHE_REDIS=redis://127.0.0.1:1/0
r=$(fcgi never GET "/n?plain=1")
expect_eq "redis never started: the app answers" "$(body_of "$r")" "plain page"
expect_eq "redis never started: MISS" "$(status_of "$r")" MISS

# Wrong password and wrong db: never a failed request; no caching.
stop_redis
start_redis_on "$REDIS_PORT" --requirepass s3cret
start_app nopw 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60'
r1=$(fcgi nopw GET "/x?plain=1"); r2=$(fcgi nopw GET "/x?plain=1")
expect_eq "wrong password: the app answers" "$(body_of "$r2")" "plain page"
expect_eq "wrong password: MISS" "$(status_of "$r2")" MISS
expect_ne "wrong password: the password is never logged" "$(grep -c s3cret "$TMP/nopw.log")" 1
start_app goodpw 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60' CGICACHE_REDIS="redis://:s3cret@127.0.0.1:$REDIS_PORT/0"
fcgi goodpw GET "/x?plain=1" >/dev/null
expect_eq "right password: HIT" "$(status_of "$(fcgi goodpw GET "/x?plain=1")")" HIT
start_app baddb 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60' CGICACHE_REDIS="redis://:s3cret@127.0.0.1:$REDIS_PORT/99"
r=$(fcgi baddb GET "/x?plain=1")
expect_eq "wrong db: the app answers" "$(body_of "$r")" "plain page"
expect_eq "wrong db: MISS" "$(status_of "$r")" MISS
finish
