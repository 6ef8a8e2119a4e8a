# lib.sh -- what every integration test shares: private servers started on
# loopback and stopped by PID, a FastCGI client, and assertions.
#
# Sourced by tests/integration/t_*.sh.  Each test gets its own temp dir,
# its own redis-server on a free port, its own apps and (when it asks)
# its own nginx; all of them die with the test, whatever happens.
set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$TOP/tests/servers.sh"
CC_LIB=${CC_LIB:-$TOP/build/libcgicache.so}
case "$CC_LIB" in /*) ;; *) CC_LIB=$PWD/$CC_LIB ;; esac
# CC_TOOL picks the tool under test: the installed one for make test-installed.
CC_TOOL=${CC_TOOL:-$TOP/build/cgicache}
TESTAPP=$TOP/build/tests/testapp
TMP=$(mktemp -d /tmp/cgicache-test.XXXXXX)
chmod 755 "$TMP"   # nginx workers (nobody) reach the sockets
PIDS=()
PASSED=0
FAILED=0

# The preload list for apps: the sanitizer runtime first when the library
# under test is the ASan build.  The TSan build needs no runtime in front:
# the threaded apps it is tested with are built with ThreadSanitizer, which
# puts it first; preloaded, it would also watch the shells and spawn-fcgi
# in between and report their signal handlers.
preload_value() {
    case "$CC_LIB" in
    *asan*) echo "$(cc -print-file-name=libasan.so):$(cc -print-file-name=libubsan.so):$CC_LIB" ;;
    *) echo "$CC_LIB" ;;
    esac
}

# Where the threaded apps are: under ThreadSanitizer, copies built with it.
case "$CC_LIB" in
*tsan*) THREADED_APPS=$TOP/build/tsan ;;
*) THREADED_APPS=$TOP/build ;;
esac

stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$pid" 2>/dev/null
    done
    PIDS=()
    rm -rf "$TMP"
}
trap stop_all EXIT

start_redis() {
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --enable-debug-command local --daemonize no "$@" >"$TMP/redis.log" 2>&1 &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    disown "$REDIS_PID" 2>/dev/null
    REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
    wait_for rcli PING
}

stop_redis() {
    kill "$REDIS_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$REDIS_PID" 2>/dev/null || return 0; sleep 0.05; done
}

rcli() { timeout 5 redis-cli -p "$REDIS_PORT" "$@"; }

# entry_key ROUTE URL: the Redis key of URL's GET entry on route ROUTE
# (all of its query, no vary), as the library writes it.  The key's hash
# tag is a hash of the URL, so the tool computes it: inspect, with ROUTE
# matching this path more specifically than any route exported.
entry_key() {
    local path=/${2#*://*/}
    env CGICACHE_REDIS=redis://127.0.0.1:1/0 CGICACHE_ROUTE_"$1"="GET ${path%%\?*} ttl=60" \
        "$CC_TOOL" inspect "$2" --json 2>/dev/null | sed -n 's/.*"redis_key": "\([^"]*\)".*/\1/p'
}

# start_app NAME WORKERS BINARY [VAR=VALUE ...]: the app under spawn-fcgi
# on $TMP/NAME.sock, preloaded, counting its runs in $TMP/NAME.count.
start_app() {
    local name=$1 workers=$2 bin=$3
    shift 3
    rm -f "$TMP/$name.sock"
    env CGICACHE_REDIS="${REDIS_URL:-redis://127.0.0.1:1/0}" APP_COUNTER="$TMP/$name.count" \
        LD_PRELOAD="$(preload_value)" ASAN_OPTIONS="${ASAN_OPTIONS:-}" "$@" \
        spawn-fcgi -n -M 0666 -s "$TMP/$name.sock" -- "$TOP/tests/integration/prefork.sh" "$workers" "$bin" \
        >>"$TMP/$name.log" 2>&1 &
    PIDS+=("$!")
    disown "$!" 2>/dev/null
    eval "APP_PID_$name=$!"
    # The socket file exists once bound, a moment before it listens.
    wait_for can_connect "$TMP/$name.sock"
    touch "$TMP/$name.count"
    # A preload ld.so could not load leaves a plain app: every check after
    # would fail for a reason far from its message.
    if grep -q "cannot be preloaded" "$TMP/$name.log" 2>/dev/null; then
        not_ok "$name: the library was not preloaded: $(grep -m1 'cannot be preloaded' "$TMP/$name.log")"
    fi
}

can_connect() {
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$1"
}

# The same app without cgicache, for comparisons.
start_plain_app() {
    local name=$1 bin=$2
    rm -f "$TMP/$name.sock"
    env APP_COUNTER="$TMP/$name.count" spawn-fcgi -n -M 0666 -s "$TMP/$name.sock" -- "$bin" \
        >>"$TMP/$name.log" 2>&1 &
    PIDS+=("$!")
    disown "$!" 2>/dev/null
    wait_for can_connect "$TMP/$name.sock"
    touch "$TMP/$name.count"
}

runs_of() { wc -l <"$TMP/$1.count" | tr -d ' '; }

# fcgi NAME METHOD URI [PARAM=VALUE ...]: one request as a web server
# would send it; the raw CGI response on stdout.
fcgi() {
    local name=$1 method=$2 uri=$3
    shift 3
    local query=""
    case "$uri" in *\?*) query=${uri#*\?} ;; esac
    env -i REQUEST_METHOD="$method" REQUEST_URI="$uri" QUERY_STRING="$query" \
        SCRIPT_NAME="${uri%%\?*}" SERVER_NAME=localhost SERVER_PORT=80 HTTP_HOST=localhost \
        SERVER_PROTOCOL=HTTP/1.1 GATEWAY_INTERFACE=CGI/1.1 REMOTE_ADDR=127.0.0.1 "$@" \
        timeout 10 cgi-fcgi -bind -connect "$TMP/$name.sock" </dev/null
}

# header_of RESPONSE NAME: the first value of a header in a raw response.
header_of() {
    printf '%s' "$1" | awk -v want="$(echo "$2" | tr 'A-Z' 'a-z')" '
        /^\r?$/ { exit }
        { line = $0; sub(/\r$/, "", line); i = index(line, ":")
          if (tolower(substr(line, 1, i - 1)) == want) { v = substr(line, i + 1); sub(/^[ \t]+/, "", v); print v; exit } }'
}

# body_of RESPONSE: what follows the blank line.
body_of() { printf '%s' "$1" | awk 'found { print; next } /^\r?$/ { found = 1 }'; }

status_of() { header_of "$1" X-Cache-Status; }

ok() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
not_ok() { FAILED=$((FAILED + 1)); echo "not ok - $1"; return 1; }

expect_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (got '$2', want '$3')"; fi
}

expect_ne() {
    if [ "$2" != "$3" ]; then ok "$1"; else not_ok "$1 (both '$2')"; fi
}

expect_contains() {
    case "$2" in *"$3"*) ok "$1" ;; *) not_ok "$1 ('$3' not in '$(printf '%s' "$2" | head -c 300)')" ;; esac
}

# start_nginx NAME: nginx (2 workers) on a free port, passing everything
# to app NAME; $NGINX_EXTRA adds location lines.  Each instance has its
# own directory, so a second one never shares the first's pid file.
start_nginx() {
    NGINX_PORT=$(free_port)
    local dir=$TMP/nginx-$NGINX_PORT
    nginx_conf "$dir" 2 "$(fastcgi_server "$NGINX_PORT" "$TMP/$1.sock" "${NGINX_EXTRA:-}")"
    nginx -c "$dir/nginx.conf" -e "$dir/error.log" &
    PIDS+=("$!")
    disown "$!" 2>/dev/null
    wait_for curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/"
}

# start_apache PATH TARGET: Apache on a free port ($APACHE_PORT) passing
# PATH to TARGET through mod_proxy_fcgi: fcgi://127.0.0.1:PORT/ or
# "unix:/path.sock|fcgi://localhost/".  Its own directory and pid file,
# stopped by PID like the rest.
start_apache() {
    APACHE_PORT=$(free_port)
    local dir=$TMP/apache-$APACHE_PORT
    apache_conf "$dir" "$APACHE_PORT" "ProxyPass \"$1\" \"$2\""
    apache2 -DFOREGROUND -f "$dir/apache.conf" >"$dir/out.log" 2>&1 &
    PIDS+=("$!")
    disown "$!" 2>/dev/null
    # A path it does not pass on (a 404 from Apache): the app is not run.
    wait_for curl -s -o /dev/null "http://127.0.0.1:$APACHE_PORT/cgicache-ready"
}

# start_lighttpd DOCROOT ASSIGN [VAR=VALUE ...]: lighttpd on a free port
# ($LIGHTTPD_PORT, pid $LIGHTTPD_PID) serving DOCROOT, running through
# mod_cgi the programs ASSIGN maps (lighttpd's cgi.assign list, e.g.
# '".sh" => "/bin/sh"') with the library preloaded and VAR=VALUE in their
# environment.  Its log is $TMP/lighttpd-PORT.log.
start_lighttpd() {
    local root=$1 assign=$2 kv env=""
    shift 2
    LIGHTTPD_PORT=$(free_port)
    for kv in LD_PRELOAD="$(preload_value)" ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" "$@"; do
        env+="    \"${kv%%=*}\" => \"${kv#*=}\","$'\n'
    done
    cat >"$TMP/lighttpd-$LIGHTTPD_PORT.conf" <<CONF
server.document-root = "$root"
server.port = $LIGHTTPD_PORT
server.bind = "127.0.0.1"
server.pid-file = "$TMP/lighttpd-$LIGHTTPD_PORT.pid"
server.errorlog = "$TMP/lighttpd-$LIGHTTPD_PORT.log"
server.modules = ("mod_cgi", "mod_setenv")
cgi.assign = ($assign)
setenv.add-environment = (
$env)
CONF
    lighttpd -D -f "$TMP/lighttpd-$LIGHTTPD_PORT.conf" >>"$TMP/lighttpd-$LIGHTTPD_PORT.log" 2>&1 &
    LIGHTTPD_PID=$!
    PIDS+=("$LIGHTTPD_PID")
    disown "$LIGHTTPD_PID" 2>/dev/null
    wait_for curl -s -o /dev/null "http://127.0.0.1:$LIGHTTPD_PORT/"
}

curl_get() { timeout 10 curl -s -i "$@"; }

finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}
