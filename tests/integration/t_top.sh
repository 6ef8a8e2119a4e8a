#!/bin/bash
# t_top.sh -- `cgicache top` in a real terminal (tmux, 80x24): after
# known traffic through a real app, the pane shows those numbers; a resize
# redraws within the new width; Redis killed mid-run is said in the
# header and the view comes back with Redis; q quits and gives the
# terminal back as it was.  Then --once (rates over its interval), a pipe
# (plain text, no escapes) and an unreachable Redis (exit 1).
. "$(dirname "$0")/lib.sh"

start_redis
export CGICACHE_REDIS=$REDIS_URL CGICACHE_ROUTE_pages='GET /pages/* ttl=60' \
    CGICACHE_ROUTE_flush='GET /flush/* ttl=60'
start_app app 1 "$TESTAPP"
"$CC_TOOL" stats --reset >/dev/null

FLUSHES=0
# Counters ride with a worker's next Redis batch a second after the last:
# a miss on the flush route carries them (its own count goes elsewhere).
flush_counts() {
    sleep 1.1
    FLUSHES=$((FLUSHES + 1))
    fcgi app GET "/flush/$FLUSHES-$RANDOM" >/dev/null
}

# new_pane: top in a new 80x24 terminal, each on a tmux server of its own
# (a server being killed may still answer on its socket for a moment).
SESSIONS=0
new_pane() {
    SESSIONS=$((SESSIONS + 1))
    TM="tmux -S $TMP/tmux-$SESSIONS.sock -f /dev/null"
    rm -f "$TMP/top.rc" "$TMP/stty.after"
    $TM new-session -d -s top -x 80 -y 24 "bash $TMP/pane.sh"
    PIDS+=("$($TM display-message -p -t top '#{pid}')")
}
# The shell in the pane records the terminal's modes before and after, and
# top's exit status, then waits to be looked at.
cat >"$TMP/pane.sh" <<EOF
stty -g >"$TMP/stty.before"
"$CC_TOOL" top
echo "exit \$?" >"$TMP/top.rc"
stty -g >"$TMP/stty.after"
sleep 300
EOF
new_pane
pane() { $TM capture-pane -p -t top; }
# wait_pane TEXT: up to 10 s for the pane to show TEXT.
wait_pane() {
    for _ in $(seq 100); do
        pane | grep -qF -- "$1" && return 0
        sleep 0.1
    done
    return 1
}
# row ROUTE: the route's line on the pane, its fields one blank apart.
row() { pane | awk -v r="$1" '$1 == r { $1 = $1; print }'; }

wait_pane "route" && ok "top: draws a frame in a terminal" || not_ok "top: no frame ($(pane | head -3))"

# Known traffic: 3 misses, 5 hits (1 from Redis, 4 from the worker's
# memory), 2 bypasses; 3 stores.
for i in 1 2 3; do fcgi app GET "/pages/$i" >/dev/null; done
for _ in 1 2 3 4 5; do fcgi app GET /pages/1 >/dev/null; done
for _ in 1 2; do fcgi app GET /pages/2 HTTP_X_CACHE_BYPASS=1 >/dev/null; done
rcli CONFIG SET maxmemory 100mb >/dev/null
flush_counts
# req/s hit near miss stale bypass store st_err hit%
want_row() { for _ in $(seq 40); do
    row pages | cut -d' ' -f3- | grep -qx -- "$1" && return 0; sleep 0.1; done; return 1; }
if want_row "5 4 3 0 2 3 0 .*"; then
    ok "top: the pages row shows hit 5, near 4, miss 3, stale 0, bypass 2, store 3, st_err 0"
else
    not_ok "top: pages row '$(row pages)'"
fi
expect_contains "top: Redis's address, mode and role" "$(pane)" "redis 127.0.0.1:$REDIS_PORT"
expect_contains "top: standalone master" "$(pane)" "standalone  master"
expect_contains "top: memory against maxmemory" "$(pane)" "of 100.0M"
expect_contains "top: evictions and clients" "$(pane)" "evicted 0  clients"
expect_eq "top: every column in 80 columns" "$(pane | awk '$1 == "route" { $1 = $1; print }')" \
    "route req/s hit near miss stale bypass store st_err hit%"

# Traffic while it runs: the busiest route comes first, with a rate.
for i in $(seq 6); do fcgi app GET "/flush/busy-$i" >/dev/null; done
sleep 1.1
fcgi app GET /flush/busy-1 >/dev/null
first=""
for _ in $(seq 30); do
    first=$(pane | awk '/^route/ { getline; print $1 " " ($2 > 0 ? "rate" : "idle"); exit }')
    [ "$first" = "flush rate" ] && break
    sleep 0.1
done
expect_eq "top: sorted by traffic, busiest first, with its rate" "$first" "flush rate"

# A narrow terminal: columns go, the counts that stay are right.
$TM resize-window -t top -x 50 -y 15
sleep 1.5
expect_eq "top: redrawn for 50 columns, the least needed columns gone" \
    "$(pane | awk '$1 == "route" { $1 = $1; print }')" "route req/s hit miss st_err hit%"
# route req/s hit miss st_err hit%
expect_eq "top at 50 columns: hit, miss and store errors stay" "$(row pages | cut -d' ' -f3-5)" "5 3 0"
$TM resize-window -t top -x 20 -y 6
sleep 1.5
# Lines cut, never wrapped (a wrap would scroll the title off).
expect_eq "top at 20x6: the title on top, the rest said to be below" \
    "$(pane | head -1 | cut -c1-12) / $(pane | sed -n 6p | cut -c1-4)" "cgicache top / ... "
$TM resize-window -t top -x 80 -y 24

# Redis gone mid-run: said, no crash; back when Redis is.
port=$REDIS_PORT
stop_redis
wait_pane "unreachable" && ok "top: Redis gone is said in the header" || not_ok "top: Redis gone ($(pane | head -3))"
[ ! -f "$TMP/top.rc" ] && ok "top: still running without Redis" || not_ok "top: ended: $(cat "$TMP/top.rc")"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --dir "$TMP" >"$TMP/redis2.log" 2>&1 &
PIDS+=("$!"); disown "$!" 2>/dev/null
REDIS_PID=$!
wait_for rcli PING
for _ in $(seq 50); do pane | grep -q unreachable || break; sleep 0.1; done
pane | grep -q "standalone  master" && ! pane | grep -q unreachable &&
    ok "top: back with Redis" || not_ok "top: not back ($(pane | head -3))"

# q quits and gives the terminal back.
$TM send-keys -t top q
for _ in $(seq 50); do [ -f "$TMP/stty.after" ] && break; sleep 0.1; done
expect_eq "top: q quits, exit 0" "$(cat "$TMP/top.rc" 2>/dev/null)" "exit 0"
expect_eq "top: the terminal's modes are restored" "$(cat "$TMP/stty.after" 2>/dev/null)" \
    "$(cat "$TMP/stty.before")"
$TM kill-server 2>/dev/null

# ^Z gives the terminal back while stopped; continued, it draws again.
new_pane
wait_pane "route" || not_ok "top: no frame after ^Z's start ($(pane | head -3))"
top_pid=$(pgrep -P "$($TM display-message -p -t top '#{pane_pid}')" -x cgicache)
$TM send-keys -t top C-z
for _ in $(seq 50); do [ "$(awk '{ print $3 }' "/proc/$top_pid/stat" 2>/dev/null)" = T ] && break; sleep 0.1; done
expect_eq "top: ^Z stops it with the terminal given back" \
    "$(awk '{ print $3 }' "/proc/$top_pid/stat") $(stty -g -F "$($TM display-message -p -t top '#{pane_tty}')") $(pane | grep -c '^route')" \
    "T $(cat "$TMP/stty.before") 0"
kill -CONT "$top_pid"
wait_pane "route" && ok "top: continued, it draws again" || not_ok "top: no frame after SIGCONT"
$TM send-keys -t top q
for _ in $(seq 50); do [ -f "$TMP/stty.after" ] && break; sleep 0.1; done
expect_eq "top: then q quits, terminal restored" \
    "$(cat "$TMP/top.rc" 2>/dev/null) $(cat "$TMP/stty.after" 2>/dev/null)" "exit 0 $(cat "$TMP/stty.before")"
$TM kill-server 2>/dev/null

# ^C ends it the same way.
new_pane
wait_pane "route" || not_ok "top: no second frame"
$TM send-keys -t top C-c
for _ in $(seq 50); do [ -f "$TMP/stty.after" ] && break; sleep 0.1; done
expect_eq "top: ^C quits, exit 0, terminal restored" \
    "$(cat "$TMP/top.rc" 2>/dev/null) $(cat "$TMP/stty.after" 2>/dev/null)" "exit 0 $(cat "$TMP/stty.before")"
$TM kill-server 2>/dev/null

# --once: one plain frame, its rates over its interval: 4 misses and 6
# hits in a 3 s interval are 3.3 req/s at 60%.
# First the app's counts so far, and its connection to the Redis restarted above.
fcgi app GET /flush/warm >/dev/null
flush_counts
"$CC_TOOL" top --once --interval 3 >"$TMP/once.out" 2>&1 &
once=$!
sleep 0.3
for i in 1 2 3 4; do fcgi app GET "/pages/once-$i" >/dev/null; done
for _ in 1 2 3 4 5 6; do fcgi app GET /pages/once-1 >/dev/null; done
flush_counts
wait "$once"
expect_eq "top --once exits 0" "$?" 0
out=$(cat "$TMP/once.out")
# rate x interval (the summary line's "over the last 3.0s") is the 10 requests.
expect_eq "top --once: the pages rate and hit ratio over its interval" \
    "$(awk '/over the last/ { sub(/.*over the last /, ""); t = $0 + 0 }
            $1 == "pages" { r = $2; h = $NF }
            END { printf "%.0f requests %s", r * t, h }' "$TMP/once.out")" "10 requests 60.0%"
case "$out" in *$'\033'*) not_ok "top --once: escapes in its output" ;; *) ok "top --once: plain text" ;; esac

# The mode and the master: a replica names its master; a cluster node says so.
rport=$(free_port)
# (its full sync writes an RDB file on both sides: in $TMP)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --dir "$TMP" --replicaof 127.0.0.1 "$REDIS_PORT" >"$TMP/replica.log" 2>&1 &
PIDS+=("$!"); disown "$!" 2>/dev/null
wait_for redis-cli -p "$rport" PING
expect_contains "top on a replica: names its master" \
    "$(CGICACHE_REDIS=redis://127.0.0.1:$rport/0 "$CC_TOOL" top --once --interval 0.1 2>&1)" \
    "replica of 127.0.0.1:$REDIS_PORT"
# (the bus port named: port + 10000, the default, may be past 65535)
cport=$(free_port)
(cd "$TMP" && exec redis-server --port "$cport" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --cluster-enabled yes --cluster-port "$(free_port)" \
    --cluster-config-file "$TMP/nodes.conf" >"$TMP/cluster.log" 2>&1) &
PIDS+=("$!"); disown "$!" 2>/dev/null
wait_for redis-cli -p "$cport" PING
expect_contains "top on a cluster node: its mode" \
    "$(CGICACHE_REDIS=redis://127.0.0.1:$cport/0 "$CC_TOOL" top --once --interval 0.1 2>&1)" "cluster  master"

# Behind Sentinel (when this build reads redis-sentinel://): the master's
# name from the URL, the address of the master the sentinel named.
if CGICACHE_REDIS="redis-sentinel://127.0.0.1:1/0#m" "$CC_TOOL" check --json 2>/dev/null |
    grep -q '"variable": "CGICACHE_REDIS"'; then
    ok "top behind Sentinel: not checked (this build does not read redis-sentinel://)"
else
    sport=$(free_port)
    printf 'port %s\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 %s 1\ndir %s\n' \
        "$sport" "$REDIS_PORT" "$TMP" >"$TMP/sentinel.conf"
    redis-server "$TMP/sentinel.conf" --sentinel >"$TMP/sentinel.log" 2>&1 &
    PIDS+=("$!"); disown "$!" 2>/dev/null
    wait_for redis-cli -p "$sport" SENTINEL get-master-addr-by-name mymaster
    expect_contains "top behind Sentinel: the master's name and address" \
        "$(CGICACHE_REDIS="redis-sentinel://127.0.0.1:$sport/0#mymaster" "$CC_TOOL" top --once --interval 0.1 2>&1)" \
        "redis 127.0.0.1:$REDIS_PORT 7"
    expect_contains "top behind Sentinel: says so" \
        "$(CGICACHE_REDIS="redis-sentinel://127.0.0.1:$sport/0#mymaster" "$CC_TOOL" top --once --interval 0.1 2>&1)" \
        "sentinel, master mymaster  master"
fi

# A pipe: frame after frame, plain, until the reader goes.
timeout 10 "$CC_TOOL" top --interval 0.2 | head -n 30 >"$TMP/pipe.out"
expect_ne "top | head: ends with its reader" "${PIPESTATUS[0]}" 124
n=$(grep -c "^route" "$TMP/pipe.out"); [ "$n" -ge 2 ] && ok "top | head: frames one after another ($n)" || not_ok "top | head: $n frame(s)"
grep -q $'\033' "$TMP/pipe.out" && not_ok "top | head: escapes in a pipe" || ok "top | head: plain text"

# Redis unreachable from the start: a message, exit 1.
out=$(CGICACHE_REDIS=redis://127.0.0.1:1/0 "$CC_TOOL" top --once 2>&1)
expect_eq "top: unreachable Redis exits 1" "$?" 1
expect_contains "top: says so" "$out" "cannot reach redis at 127.0.0.1:1"
"$CC_TOOL" top --interval x >/dev/null 2>&1
expect_eq "top: a bad interval is a usage error" "$?" 2

finish
