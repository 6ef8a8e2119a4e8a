#!/bin/bash
# t_check_all.sh -- `cgicache check --all` on a host with two preloaded
# apps (examples/hello, a libfcgi app, and fcgiwrap running a CGI script)
# among unrelated processes: both are found and reported as they are
# (adapter, routes, Redis, the library's version, whether they have
# answered), before and after their first requests; a launcher, an app
# whose Redis is down and a static program LD_PRELOAD cannot reach are
# told apart; the unrelated processes are not listed.
#
# The host may run other preloaded processes (another test suite): the
# assertions are about this test's processes, found by PID.
. "$(dirname "$0")/lib.sh"

start_redis
HELLO=$TOP/build/examples/hello
VERSION=$("$CC_TOOL" --version | awk '{ print $2 }')

bg() { "$@" >>"$TMP/bg.log" 2>&1 & PIDS+=("$!"); disown "$!" 2>/dev/null; LAST=$!; }

# The two apps, each the process spawn-fcgi becomes (-n, no fork).
bg env LD_PRELOAD="$(preload_value)" ASAN_OPTIONS="${ASAN_OPTIONS:-}" CGICACHE_REDIS="$REDIS_URL" \
    CGICACHE_ROUTE_hello='GET /hello/* ttl=60' \
    spawn-fcgi -n -M 0666 -s "$TMP/hello.sock" -- "$HELLO"
HELLO_PID=$LAST
mkdir -p "$TMP/cgi-bin"
printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\nhi from cgi\\n"\n' >"$TMP/cgi-bin/hi.sh"
chmod +x "$TMP/cgi-bin/hi.sh"
bg env LD_PRELOAD="$(preload_value)" ASAN_OPTIONS="${ASAN_OPTIONS:-}" CGICACHE_REDIS="$REDIS_URL" \
    CGICACHE_ROUTE_cgi='GET /cgi-bin/* ttl=60' \
    spawn-fcgi -n -M 0666 -s "$TMP/wrap.sock" -- /usr/sbin/fcgiwrap
WRAP_PID=$LAST
# The same app with its Redis down; a process that only passes the
# library on; a static program LD_PRELOAD never reaches.
bg env LD_PRELOAD="$(preload_value)" ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
    CGICACHE_REDIS=redis://127.0.0.1:1/0 CGICACHE_ROUTE_hello='GET /hello/* ttl=60' \
    spawn-fcgi -n -M 0666 -s "$TMP/down.sock" -- "$HELLO"
DOWN_PID=$LAST
# The same app with Redis on a unix socket (its peer is found by sock_diag).
bg redis-server --port 0 --unixsocket "$TMP/redis.sock" --unixsocketperm 777 --save '' \
    --appendonly no --daemonize no
wait_for redis-cli -s "$TMP/redis.sock" PING
bg env LD_PRELOAD="$(preload_value)" ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
    CGICACHE_REDIS="unix:$TMP/redis.sock" CGICACHE_ROUTE_hello='GET /hello/* ttl=60' \
    spawn-fcgi -n -M 0666 -s "$TMP/unix.sock" -- "$HELLO"
UNIX_PID=$LAST
bg env LD_PRELOAD="$(preload_value)" ASAN_OPTIONS="${ASAN_OPTIONS:-}" sleep 300
LAUNCHER_PID=$LAST
# A pre-forking pool (a script holding the socket, two hello workers on
# it), and a server of its own that listens without libfcgi (wire).
CGICACHE_ROUTE_hello='GET /hello/* ttl=60' start_app pool 2 "$HELLO"
POOL_PID=$APP_PID_pool
bg env LD_PRELOAD="$(preload_value)" ASAN_OPTIONS="${ASAN_OPTIONS:-}" CGICACHE_REDIS="$REDIS_URL" \
    CGICACHE_ROUTE_py='GET /py/* ttl=60' python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
open(sys.argv[1], "w").close(); time.sleep(300)' "$TMP/py.ready"
WIRE_PID=$LAST
printf '#include <unistd.h>\nint main(void) { sleep(300); return 0; }\n' |
    cc -static -x c - -o "$TMP/static" 2>/dev/null
bg env LD_PRELOAD="$CC_LIB" "$TMP/static"
STATIC_PID=$LAST
# Unrelated: a plain sleep, a Python HTTP server, the same app without the library.
bg sleep 300
SLEEP_PID=$LAST
bg python3 -m http.server --bind 127.0.0.1 "$(free_port)"
HTTP_PID=$LAST
bg spawn-fcgi -n -M 0666 -s "$TMP/plain.sock" -- "$HELLO"
PLAIN_PID=$LAST
for s in hello wrap down unix plain; do wait_for can_connect "$TMP/$s.sock"; done

# field PID KEY: one field of one process in check --all --json.
field() {
    python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
row = [p for p in doc["processes"] if p["pid"] == int(sys.argv[2])]
if not row: print("absent")
else:
    v = row[0][sys.argv[3]]
    print(",".join(v) if isinstance(v, list) else json.dumps(v) if not isinstance(v, str) else v)
' "$TMP/all.json" "$1" "$2"
}
check_all() { "$CC_TOOL" check --all --json >"$TMP/all.json" 2>"$TMP/all.err"; echo $? >"$TMP/all.rc"; }

for _ in $(seq 50); do
    [ "$(pgrep -P "$POOL_PID" -c)" -ge 2 ] && [ -f "$TMP/py.ready" ] && break
    sleep 0.1
done
check_all
expect_eq "check --all: a static program LD_PRELOAD names makes it exit 1" "$(cat "$TMP/all.rc")" 1
expect_eq "hello: found, libfcgi, its route, its Redis, not answered yet" \
    "$(field $HELLO_PID adapter) $(field $HELLO_PID routes) $(field $HELLO_PID redis_reachable) $(field $HELLO_PID answered) $(field $HELLO_PID ok)" \
    "libfcgi hello true false true"
expect_eq "fcgiwrap: found, libfcgi (fcgiwrap links it), its route, not answered yet" \
    "$(field $WRAP_PID adapter) $(field $WRAP_PID routes) $(field $WRAP_PID answered) $(field $WRAP_PID ok)" \
    "libfcgi cgi false true"
workers=$(python3 -c '
import json, sys
print(" ".join(sorted(p["adapter"] for p in json.load(open(sys.argv[1]))["processes"] if p["ppid"] == int(sys.argv[2]))))
' "$TMP/all.json" "$POOL_PID")
expect_eq "a pre-forking pool: the script a launcher, its two workers libfcgi" \
    "$(field $POOL_PID adapter) $(field $POOL_PID ok) / $workers" "launcher true / libfcgi libfcgi"
expect_eq "a server of its own code listening: wire, fine" \
    "$(field $WIRE_PID adapter) $(field $WIRE_PID routes) $(field $WIRE_PID ok)" "wire py true"
expect_eq "Redis on a unix socket: reachable, not answered yet" \
    "$(field $UNIX_PID redis_reachable) $(field $UNIX_PID answered) $(field $UNIX_PID ok)" "true false true"
expect_eq "the library's version is the tool's" "$(field $HELLO_PID library_version)" "$VERSION"
expect_eq "the library's path is the one preloaded" "$(field $HELLO_PID library)" "$CC_LIB"

# Requests: a miss and a hit each.
for _ in 1 2; do fcgi hello GET /hello/1 >/dev/null; done
fcgi_wrap() {
    env -i REQUEST_METHOD=GET REQUEST_URI=/cgi-bin/hi.sh QUERY_STRING= SCRIPT_NAME=/cgi-bin/hi.sh \
        SCRIPT_FILENAME="$TMP/cgi-bin/hi.sh" SERVER_NAME=localhost SERVER_PORT=80 HTTP_HOST=localhost \
        SERVER_PROTOCOL=HTTP/1.1 GATEWAY_INTERFACE=CGI/1.1 REMOTE_ADDR=127.0.0.1 \
        timeout 10 cgi-fcgi -bind -connect "$TMP/wrap.sock" </dev/null
}
fcgi_wrap >/dev/null
expect_eq "fcgiwrap: the CGI script is cached" "$(status_of "$(fcgi_wrap)")" HIT
fcgi down GET /hello/1 >/dev/null
fcgi unix GET /hello/1 >/dev/null

check_all
expect_eq "hello: has answered through the cache" \
    "$(field $HELLO_PID answered) $(field $HELLO_PID ok)" "true true"
expect_eq "fcgiwrap: has answered through the cache" \
    "$(field $WRAP_PID answered) $(field $WRAP_PID ok)" "true true"
expect_eq "Redis on a unix socket: has answered through the cache" \
    "$(field $UNIX_PID answered) $(field $UNIX_PID ok)" "true true"
idle=$(field $HELLO_PID idle_seconds)
[ "$idle" != null ] && [ "$idle" -le 5 ] && ok "hello: spoke to Redis ${idle}s ago" ||
    not_ok "hello: idle '$idle'"
expect_eq "the app whose Redis is down: a problem, said" \
    "$(field $DOWN_PID redis_reachable) $(field $DOWN_PID ok)" "false false"
expect_contains "the problem names Redis" "$(field $DOWN_PID problems)" "Redis cannot be reached"
expect_eq "sleep with the library: a launcher, not a problem" \
    "$(field $LAUNCHER_PID adapter) $(field $LAUNCHER_PID serves) $(field $LAUNCHER_PID ok)" \
    "launcher false true"
expect_eq "the static program: LD_PRELOAD names it, not loaded" \
    "$(field $STATIC_PID library) $(field $STATIC_PID ok)" "null false"
expect_eq "unrelated processes are not listed" \
    "$(field $SLEEP_PID pid) $(field $HTTP_PID pid) $(field $PLAIN_PID pid)" "absent absent absent"

# The text report: each process's block, and the totals.
out=$("$CC_TOOL" check --all)
expect_contains "text: the hello block" "$out" "pid $HELLO_PID  hello"
expect_contains "text: fcgiwrap answered" "$(printf '%s\n' "$out" | sed -n "/^pid $WRAP_PID /,/verdict/p")" \
    "answered   yes: "
expect_contains "text: the static program's problem" \
    "$(printf '%s\n' "$out" | sed -n "/^pid $STATIC_PID /,/verdict/p")" "is not loaded"
expect_contains "text: totals" "$out" "process(es) with libcgicache"

# Without the static program and the app whose Redis is down, and with
# every other preloaded process of this host fine, exit 0.
kill "$STATIC_PID" "$DOWN_PID"
for _ in $(seq 50); do kill -0 "$STATIC_PID" 2>/dev/null || kill -0 "$DOWN_PID" 2>/dev/null || break; sleep 0.1; done
check_all
others=$(python3 -c '
import json, sys
mine = set(int(p) for p in sys.argv[2:])
print(sum(1 for p in json.load(open(sys.argv[1]))["processes"] if p["pid"] not in mine and not p["ok"]))
' "$TMP/all.json" $HELLO_PID $WRAP_PID $UNIX_PID $LAUNCHER_PID $POOL_PID $WIRE_PID $(pgrep -P "$POOL_PID"))
if [ "$others" = 0 ]; then
    expect_eq "check --all: everything working exits 0" "$(cat "$TMP/all.rc")" 0
else
    ok "check --all: exit status not judged ($others troubled process(es) of others on this host)"
fi
"$CC_TOOL" check --all "$HELLO" >/dev/null 2>&1
expect_eq "check --all PROGRAM: usage error" "$?" 2

finish
