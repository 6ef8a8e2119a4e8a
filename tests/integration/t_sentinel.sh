#!/bin/bash
# t_sentinel.sh -- CGICACHE_REDIS=redis-sentinel://...#mymaster: one master,
# one replica, three sentinels, all real (redis-server --sentinel).  Under
# steady load through nginx, a SENTINEL FAILOVER and then the new master
# killed: no failed or wrong response (each body names its own URL), and
# hits again within 2 s of the new master's promotion (ROLE says master).
# A sentinel that names the replica is not believed (ROLE), one that
# does not know the name is reported; the near cache forgets what it held
# once its connection's master is gone; cgicache check names the master.
. "$(dirname "$0")/lib.sh"

# node NAME PORT [ARGS...]: a redis-server with a config file of its own
# (sentinels rewrite the nodes' configuration as they reconfigure them).
node() {
    local name=$1 port=$2
    shift 2
    mkdir -p "$TMP/$name"
    : >"$TMP/$name/redis.conf"
    redis-server "$TMP/$name/redis.conf" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$TMP/$name" "$@" >"$TMP/$name.log" 2>&1 &
    PIDS+=("$!")
    disown "$!" 2>/dev/null
    eval "PID_$name=$!"
    wait_for redis-cli -p "$port" PING
}
M_PORT=$(free_port)
node m "$M_PORT"
R_PORT=$(free_port)
node r "$R_PORT" --replicaof 127.0.0.1 "$M_PORT"
S_PORTS=() S_PIDS=()
for i in 1 2 3; do
    p=$(free_port)
    S_PORTS+=("$p")
    mkdir -p "$TMP/s$i"
    cat >"$TMP/s$i/sentinel.conf" <<CONF
port $p
bind 127.0.0.1
dir $TMP/s$i
sentinel monitor mymaster 127.0.0.1 $M_PORT 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 4000
sentinel parallel-syncs mymaster 1
CONF
    redis-server "$TMP/s$i/sentinel.conf" --sentinel >"$TMP/s$i.log" 2>&1 &
    PIDS+=("$!")
    S_PIDS+=("$!")
    disown "$!" 2>/dev/null
done
scli() { timeout 5 redis-cli -p "${S_PORTS[0]}" "$@"; }
# The sentinels know each other and the replica: a failover can be authorized.
quorum() { scli SENTINEL CKQUORUM mymaster | grep -q "^OK 3 usable" &&
           [ "$(scli SENTINEL REPLICAS mymaster | grep -c '^name$')" -ge 1 ]; }
for _ in $(seq 200); do quorum && break; sleep 0.1; done
quorum && ok "3 sentinels, 1 master, 1 replica" || not_ok "the sentinels never agreed: $(scli SENTINEL CKQUORUM mymaster)"
role_of() { timeout 2 redis-cli -p "$1" ROLE 2>/dev/null | head -1; }
ms() { echo $(($(date +%s%N) / 1000000)); }

SENTINELS="127.0.0.1:${S_PORTS[0]},127.0.0.1:${S_PORTS[1]},127.0.0.1:${S_PORTS[2]}"
export CGICACHE_REDIS="redis-sentinel://$SENTINELS/0#mymaster"
REDIS_URL=$CGICACHE_REDIS   # what start_app gives its apps
# Every hit asks Redis (as in t_faults): the failover is what is tested.
export CGICACHE_ROUTE_all='GET /* ttl=60'    # for the tool
start_app app 2 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60' CGICACHE_NEAR_SIZE=0
start_app near 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60'
start_nginx app
URL=http://127.0.0.1:$NGINX_PORT

# hit_soon NAME PATH: HIT within 2 s (a machine shared with other work
# may miss the first connection's deadline, and the breaker waits 250 ms).
hit_soon() {
    for _ in $(seq 20); do
        fcgi "$1" GET "$2" >/dev/null
        [ "$(status_of "$(fcgi "$1" GET "$2")")" = HIT ] && { echo HIT; return; }
        sleep 0.1
    done
    echo MISS
}
expect_eq "through the sentinels: HIT" "$(hit_soon app /first)" HIT
expect_eq "the entry is on the master" "$(redis-cli -p "$M_PORT" --scan --pattern 'cgicache:all:*' | grep -c first)" 1

out=$("$CC_TOOL" check 2>&1)
expect_contains "check: the mode" "$out" "redis mode     sentinel"
expect_contains "check: the master found" "$out" "redis node     127.0.0.1:$M_PORT (master 'mymaster', named by sentinel"
expect_eq "check --json: the mode" \
    "$("$CC_TOOL" check --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["redis_mode"])')" sentinel

# load SECONDS: 3 client loops over 20 URLs; each answer must be its own
# URL's page; prints "requests failures".
load() {
    local until=$(( $(date +%s%N) + $1 * 1000000000 )) i
    for i in 1 2 3; do
        (
            n=0 bad=0
            while [ "$(date +%s%N)" -lt "$until" ]; do
                k=$((n % 20))
                out=$(curl -s -m 5 -w '\n%{http_code}' "$URL/f/$k")
                case "$out" in "uri=/f/$k run="*$'\n'200) ;; *) bad=$((bad + 1)); echo "$out" >>"$TMP/bad.$i" ;; esac
                n=$((n + 1))
            done
            echo "$n $bad"
        ) >"$TMP/load.$i" &
    done
    wait
    cat "$TMP"/load.? | awk '{ n += $1; b += $2 } END { print n, b }'
}

# promoted PORT: waits (10 s at most) until the node says it is the master;
# prints the time (ms) it did.
promoted() {
    for _ in $(seq 200); do
        [ "$(role_of "$1")" = master ] && { ms; return 0; }
        sleep 0.05
    done
    return 1
}
# hits_after T0 TAG PORT: ms from T0 until a new URL is stored and then a
# HIT through nginx, its entry on the new master at PORT (a write and a
# read there, not on the old master, which may stay a master for a while
# after the promotion); fails after 10 s.
hits_after() {
    local i=0
    while [ $(($(ms) - $1)) -lt 10000 ]; do
        curl -s "$URL/new/$2/$i" >/dev/null
        if curl -s -i "$URL/new/$2/$i" | grep -q 'X-Cache-Status: HIT' &&
            [ -n "$(redis-cli -p "$3" --scan --pattern "cgicache:all:*/new/$2/$i|*")" ]; then
            echo $(($(ms) - $1))
            return 0
        fi
        i=$((i + 1))
        sleep 0.05
    done
    return 1
}

# failover NAME TAG NEW_MASTER_PORT ACTION...: ACTION under 8 s of load.
failover() {
    local name=$1 tag=$2 new=$3
    shift 3
    rm -f "$TMP"/load.? "$TMP"/bad.?
    load 8 >"$TMP/figures" &
    local loader=$!
    sleep 1
    "$@"
    local t_promoted after
    if t_promoted=$(promoted "$new"); then
        ok "$name: 127.0.0.1:$new promoted"
        if after=$(hits_after "$t_promoted" "$tag" "$new"); then
            echo "# $name: hits again $after ms after the promotion"
            [ "$after" -le 2000 ] && ok "$name: hits again within 2 s ($after ms)" ||
                not_ok "$name: hits again only after $after ms"
        else
            not_ok "$name: no hits within 10 s of the promotion"
        fi
    else
        not_ok "$name: 127.0.0.1:$new never became the master"
    fi
    wait "$loader"
    read -r n bad <"$TMP/figures"
    echo "# $name: $n requests, $bad failed or wrong"
    expect_eq "$name: no failed or wrong response ($n requests)" "$bad" 0
    [ "$bad" -eq 0 ] || head -5 "$TMP"/bad.? 2>/dev/null
    [ "$n" -ge 100 ] && ok "$name: the load ran ($n requests)" || not_ok "$name: only $n requests"
}

# The near cache holds /n in the worker's memory before the failover.
kind() { case "$(header_of "$1" Cache-Status)" in *"; detail=near"*) echo near ;; *) status_of "$1" ;; esac; }
for _ in $(seq 20); do k=$(kind "$(fcgi near GET /n)"); [ "$k" = near ] && break; sleep 0.1; done
expect_eq "near: served from memory before the failover" "$k" near

manual_failover() { scli SENTINEL FAILOVER mymaster >/dev/null; }
failover "SENTINEL FAILOVER" manual "$R_PORT" manual_failover

# Purged on the new master: the near cache must not serve its old copy
# (its connection to the old master was closed by the failover).
"$CC_TOOL" purge --url "http://localhost/n" >"$TMP/purge.out" 2>&1
expect_eq "purge through the sentinels, on the new master" "$?" 0 || cat "$TMP/purge.out"
k=$(kind "$(fcgi near GET /n)")
expect_ne "near: not served from memory after the failover and a purge" "$k" near
expect_eq "near: the purge holds (MISS)" "$k" MISS

# Wait until the old master has caught up as a replica, so the second
# failover has someone to promote.
for _ in $(seq 100); do
    redis-cli -p "$M_PORT" INFO replication | grep -q "master_link_status:up" && break
    sleep 0.1
done
kill_master() { kill -9 "$PID_r"; }
failover "master killed (SIGKILL)" killed "$M_PORT" kill_master

# Sentinels that cannot be believed, or do not help.
LIAR_PORT=$(free_port)
python3 "$TOP/tests/integration/lying_sentinel.py" "$LIAR_PORT" 127.0.0.1 "$R_PORT" &
PIDS+=("$!")
disown "$!" 2>/dev/null
node r2 "$R_PORT" --replicaof 127.0.0.1 "$M_PORT"   # the killed node back, as a replica
wait_for python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])))' "$LIAR_PORT"
start_app liar 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60' \
    CGICACHE_REDIS="redis-sentinel://127.0.0.1:$LIAR_PORT/0#mymaster"
r1=$(fcgi liar GET /l); r2=$(fcgi liar GET /l)
expect_eq "a sentinel naming a replica: the app answers" "$(body_of "$r2" | cut -c1-7)" "uri=/l "
expect_eq "a sentinel naming a replica: MISS, nothing written" "$(status_of "$r2")" MISS
expect_contains "a sentinel naming a replica: refused by ROLE" "$(cat "$TMP/liar.log")" \
    "redis 127.0.0.1:$R_PORT, named master 'mymaster' by a sentinel, says it is a slave: not written to"
# A liar first, the truth next: the liar is passed over.
start_app liar2 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60' \
    CGICACHE_REDIS="redis-sentinel://127.0.0.1:$LIAR_PORT,$SENTINELS/0#mymaster"
expect_eq "a liar, then true sentinels: HITs, from the master" "$(hit_soon liar2 /l2)" HIT
start_app noname 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60' \
    CGICACHE_REDIS="redis-sentinel://$SENTINELS/0#nosuch"
expect_eq "an unknown master name: MISS" "$(status_of "$(fcgi noname GET /u)")" MISS
expect_contains "an unknown master name: said" "$(cat "$TMP/noname.log")" "does not know a master 'nosuch'"
start_app nosentinel 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60' \
    CGICACHE_REDIS="redis-sentinel://127.0.0.1:1,127.0.0.1:2/0#mymaster"
expect_eq "no sentinel reachable: the app answers, MISS" "$(status_of "$(fcgi nosentinel GET /u)")" MISS
# A master made a replica under a worker's connection, with no sentinel
# to say so (here a fake one that always names it): its next write is
# refused READONLY, the connection is dropped, and the node, asked again,
# is refused by ROLE: the app answers, uncached.
A_PORT=$(free_port)
node a "$A_PORT"
B_PORT=$(free_port)
node b "$B_PORT" --replicaof 127.0.0.1 "$A_PORT"
FAKE_PORT=$(free_port)
python3 "$TOP/tests/integration/lying_sentinel.py" "$FAKE_PORT" 127.0.0.1 "$A_PORT" &
PIDS+=("$!")
disown "$!" 2>/dev/null
wait_for python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])))' "$FAKE_PORT"
start_app demoted 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60' CGICACHE_NEAR_SIZE=0 CGICACHE_LOG=info \
    CGICACHE_REDIS="redis-sentinel://127.0.0.1:$FAKE_PORT/0#mymaster"
expect_eq "a fake sentinel naming a true master: HIT" "$(hit_soon demoted /d)" HIT
redis-cli -p "$B_PORT" REPLICAOF NO ONE >/dev/null
redis-cli -p "$A_PORT" REPLICAOF 127.0.0.1 "$B_PORT" >/dev/null
bodies=$(for i in 1 2 3 4; do body_of "$(fcgi demoted GET "/d$i")" | awk '{ print $1 }'; done | sort -u | tr '\n' ' ')
expect_eq "the master made a replica: every answer is the app's" "$bodies" "uri=/d1 uri=/d2 uri=/d3 uri=/d4 "
expect_contains "the master made a replica: seen by READONLY" "$(cat "$TMP/demoted.log")" \
    "redis 127.0.0.1:$A_PORT refused a write as a replica: looking for the master again"
expect_contains "... and refused by ROLE when asked again" "$(cat "$TMP/demoted.log")" \
    "redis 127.0.0.1:$A_PORT, named master 'mymaster' by a sentinel, says it is a slave"

# The first sentinel frozen: a new worker asks it, times out, asks the next.
kill -STOP "${S_PIDS[0]}"
start_app frozen 1 "$TESTAPP" CGICACHE_ROUTE_all='GET /* ttl=60'
expect_eq "the first sentinel frozen: HITs through the others" "$(hit_soon frozen /fz)" HIT
kill -CONT "${S_PIDS[0]}"

# Every sentinel gone: no failover can be followed, but the master the
# workers know stays in use (its ROLE was checked when they connected).
expect_eq "before the sentinels go: HIT" "$(hit_soon frozen /gone)" HIT
kill -9 "${S_PIDS[@]}"
sleep 0.3
got=$(for _ in 1 2 3 4 5; do status_of "$(fcgi frozen GET /gone)"; sleep 0.1; done | sort -u | tr '\n' ' ')
expect_eq "every sentinel gone: the known master still serves hits" "$got" "HIT "
finish
