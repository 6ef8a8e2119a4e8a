#!/bin/bash
# t_examples.sh -- the deployments in examples/ work as shipped: nginx
# (examples/nginx.conf), lighttpd with both mod_cgi and mod_fastcgi
# (examples/deploy/lighttpd.conf), nginx + fcgiwrap
# (examples/deploy/fcgiwrap.conf) and php-fpm with its systemd drop-in
# behind nginx (examples/deploy/php8.2-fpm.service.d/cgicache.conf,
# examples/deploy/php-fpm-nginx.conf), each started on loopback with only
# its paths and ports replaced, each checked for a HIT.
. "$(dirname "$0")/lib.sh"

start_redis
EX=$TOP/examples

# nginx.conf as shipped, pointed at a private app, port and paths.
start_app app 1 "$TESTAPP" CGICACHE_ROUTE_blogs='GET /blogs/* ttl=300'
PORT=$(free_port)
mkdir -p "$TMP/nginx"
sed -e "s|listen 127.0.0.1:8080|listen 127.0.0.1:$PORT|" -e "s|unix:/run/app.sock|unix:$TMP/app.sock|" \
    -e "s|pid /run/nginx-cgicache.pid|pid $TMP/nginx/pid|" -e "s|^http {|daemon off;\nerror_log $TMP/nginx/error.log;\nhttp {\n    client_body_temp_path $TMP/nginx/b; fastcgi_temp_path $TMP/nginx/f; proxy_temp_path $TMP/nginx/p; uwsgi_temp_path $TMP/nginx/u; scgi_temp_path $TMP/nginx/s;|" \
    "$EX/nginx.conf" >"$TMP/nginx/nginx.conf"
nginx -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
PIDS+=("$!"); disown "$!" 2>/dev/null
wait_for curl -s -o /dev/null "http://127.0.0.1:$PORT/"
curl -s "http://127.0.0.1:$PORT/blogs/1" >/dev/null
expect_contains "examples/nginx.conf: HIT" "$(curl_get "http://127.0.0.1:$PORT/blogs/1")" "X-Cache-Status: HIT"

# lighttpd.conf as shipped: CGI scripts and a FastCGI app it starts itself.
PORT=$(free_port)
mkdir -p "$TMP/www/cgi" "$TMP/www/app"
cp "$TOP/tests/apps/cgi/hello.sh" "$TMP/www/cgi/"
chmod -R a+rX "$TMP/www"
touch "$TMP/lt.count"; chmod 666 "$TMP/lt.count"
sed -e "s|/var/www|$TMP/www|" -e "s|server.port = 8080|server.port = $PORT|" \
    -e "s|/usr/local/lib/libcgicache.so|$(preload_value)|g" -e "s|redis://127.0.0.1:6379/0|$REDIS_URL|g" \
    -e "s|/run/app.sock|$TMP/lt-app.sock|" -e "s|/usr/local/bin/app|$TESTAPP|" \
    "$EX/deploy/lighttpd.conf" >"$TMP/lighttpd.conf"
printf 'server.errorlog = "%s"\nsetenv.add-environment += ("APP_COUNTER" => "%s")\n' "$TMP/lighttpd.log" "$TMP/lt.count" >>"$TMP/lighttpd.conf"
lighttpd -D -f "$TMP/lighttpd.conf" >"$TMP/lighttpd.out" 2>&1 &
PIDS+=("$!"); disown "$!" 2>/dev/null
wait_for curl -s -o /dev/null "http://127.0.0.1:$PORT/"
curl -s "http://127.0.0.1:$PORT/cgi/hello.sh" >/dev/null
expect_contains "deploy/lighttpd.conf mod_cgi: HIT" "$(curl_get "http://127.0.0.1:$PORT/cgi/hello.sh")" "X-Cache-Status: HIT"
curl -s "http://127.0.0.1:$PORT/app/x" >/dev/null
expect_contains "deploy/lighttpd.conf mod_fastcgi: HIT" "$(curl_get "http://127.0.0.1:$PORT/app/x")" "X-Cache-Status: HIT"

# fcgiwrap.conf: nginx + fcgiwrap with the library in fcgiwrap.
mkdir -p "$TMP/cgi-bin"
cp "$TOP/tests/apps/cgi/hello.sh" "$TMP/cgi-bin/hello.sh"
env LD_PRELOAD="$(preload_value)" CGICACHE_REDIS="$REDIS_URL" CGICACHE_ROUTE_cgi='GET /cgi-bin/* ttl=60' \
    APP_COUNTER="$TMP/wrap.count" spawn-fcgi -n -M 0666 -s "$TMP/fcgiwrap.sock" -- /usr/sbin/fcgiwrap >/dev/null 2>&1 &
PIDS+=("$!"); disown "$!" 2>/dev/null
wait_for test -S "$TMP/fcgiwrap.sock"
PORT=$(free_port)
mkdir -p "$TMP/nginx2"
{
    echo "daemon off; pid $TMP/nginx2/pid; error_log $TMP/nginx2/error.log; events {}"
    echo "http { access_log off; client_body_temp_path $TMP/nginx2/b; fastcgi_temp_path $TMP/nginx2/f; proxy_temp_path $TMP/nginx2/p; uwsgi_temp_path $TMP/nginx2/u; scgi_temp_path $TMP/nginx2/s;"
    grep -v '^#' "$EX/deploy/fcgiwrap.conf" | sed -e "s|listen 127.0.0.1:8080|listen 127.0.0.1:$PORT|" \
        -e "s|/usr/lib\$fastcgi_script_name|$TMP\$fastcgi_script_name|" -e "s|unix:/run/fcgiwrap.sock|unix:$TMP/fcgiwrap.sock|"
    echo "}"
} >"$TMP/nginx2/nginx.conf"
nginx -c "$TMP/nginx2/nginx.conf" -e "$TMP/nginx2/error.log" &
PIDS+=("$!"); disown "$!" 2>/dev/null
wait_for curl -s -o /dev/null "http://127.0.0.1:$PORT/"
curl -s "http://127.0.0.1:$PORT/cgi-bin/hello.sh" >/dev/null
r=$(curl_get "http://127.0.0.1:$PORT/cgi-bin/hello.sh")
expect_contains "deploy/fcgiwrap.conf: HIT" "$r" "X-Cache-Status: HIT"
expect_eq "fcgiwrap: the script ran once" "$(runs_of wrap)" 1

# php8.2-fpm.service.d/cgicache.conf: a systemd drop-in for Debian's unit.
# systemd itself reads it (and would name any line it cannot use) ...
DROPIN=$EX/deploy/php8.2-fpm.service.d/cgicache.conf
if command -v systemd-analyze >/dev/null && [ -f /lib/systemd/system/php8.2-fpm.service ]; then
    mkdir -p "$TMP/units/php8.2-fpm.service.d"
    cp /lib/systemd/system/php8.2-fpm.service "$TMP/units/"
    cp "$DROPIN" "$TMP/units/php8.2-fpm.service.d/"
    out=$(SYSTEMD_UNIT_PATH="$TMP/units:" timeout 30 systemd-analyze verify "$TMP/units/php8.2-fpm.service" 2>&1)
    expect_eq "deploy/php8.2-fpm.service.d: systemd finds nothing wrong in the drop-in" \
        "$(printf '%s\n' "$out" | grep cgicache.conf)" ""
else
    echo "ok - systemd-analyze verify # skipped: no systemd-analyze or php8.2-fpm.service"
fi
# ... and its Environment= lines, as systemd reads them (one assignment a
# line, quotes taken off, %% for %), are the php-fpm master's environment,
# the library's path and the Redis URL replaced.  The pool is Debian's
# www.conf as it matters here (clear_env = yes, its own user), on a private
# socket; the master starts as the unit starts it.
FPM=$(command -v php-fpm8.2 || ls /usr/sbin/php-fpm* 2>/dev/null | head -1)
if [ -n "$FPM" ]; then
    FPM_ENV=()
    while IFS= read -r line; do
        case "$line" in Environment=*) ;; *) continue ;; esac
        v=${line#Environment=}
        case "$v" in \"*\") v=${v#\"} v=${v%\"} ;; esac
        FPM_ENV+=("${v//%%/%}")
    done < <(sed -e "s|/usr/local/lib/libcgicache.so|$(preload_value)|g" -e "s|redis://127.0.0.1:6379/0|$REDIS_URL|g" "$DROPIN")
    expect_contains "deploy/php8.2-fpm.service.d: routes in its environment" "${FPM_ENV[*]}" "CGICACHE_ROUTE_blogs=GET /blogs/* "
    # PHP loads its extensions with RTLD_DEEPBIND, which the sanitizer
    # runtime refuses: under the ASan library, none are loaded.
    case "$CC_LIB" in *asan*) FPM_ENV+=(PHP_INI_SCAN_DIR=) ;; esac
    mkdir -p "$TMP/php-www"
    cp "$TOP/tests/apps/php/index.php" "$TMP/php-www/"
    touch "$TMP/php-www/runs.log"
    chmod 666 "$TMP/php-www/runs.log"
    chmod -R a+rX "$TMP/php-www"
    printf '[global]\npid = %s\nerror_log = %s\n[www]\nuser = nobody\ngroup = nogroup\nlisten = %s\nlisten.mode = 0666\npm = static\npm.max_children = 2\n' \
        "$TMP/php-fpm.pid" "$TMP/php-fpm.log" "$TMP/php-fpm.sock" >"$TMP/php-fpm.conf"
    env "${FPM_ENV[@]}" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        "$FPM" --nodaemonize --fpm-config "$TMP/php-fpm.conf" >"$TMP/php-fpm.out" 2>&1 &
    PIDS+=("$!"); disown "$!" 2>/dev/null
    wait_for can_connect "$TMP/php-fpm.sock"
    # php-fpm-nginx.conf as shipped in front, its port, root and socket replaced.
    PORT=$(free_port)
    mkdir -p "$TMP/nginx3"
    {
        echo "daemon off; pid $TMP/nginx3/pid; error_log $TMP/nginx3/error.log; events {}"
        echo "http { access_log off; client_body_temp_path $TMP/nginx3/b; fastcgi_temp_path $TMP/nginx3/f; proxy_temp_path $TMP/nginx3/p; uwsgi_temp_path $TMP/nginx3/u; scgi_temp_path $TMP/nginx3/s;"
        grep -v '^#' "$EX/deploy/php-fpm-nginx.conf" | sed -e "s|listen 127.0.0.1:8080|listen 127.0.0.1:$PORT|" \
            -e "s|root /var/www/html|root $TMP/php-www|" -e "s|unix:/run/php/php8.2-fpm.sock|unix:$TMP/php-fpm.sock|"
        echo "}"
    } >"$TMP/nginx3/nginx.conf"
    nginx -c "$TMP/nginx3/nginx.conf" -e "$TMP/nginx3/error.log" &
    PIDS+=("$!"); disown "$!" 2>/dev/null
    wait_for curl -s -o /dev/null "http://127.0.0.1:$PORT/"
    php_runs() { grep -c "^GET $1 " "$TMP/php-www/runs.log"; }
    r1=$(curl_get "http://127.0.0.1:$PORT/blogs/7")
    r2=$(curl_get "http://127.0.0.1:$PORT/blogs/7")
    expect_contains "deploy/php-fpm: MISS (through index.php)" "$r1" "X-Cache-Status: MISS"
    expect_contains "deploy/php-fpm: HIT" "$r2" "X-Cache-Status: HIT"
    expect_eq "deploy/php-fpm: the HIT is the MISS's page" "$(body_of "$r2")" "$(body_of "$r1")"
    expect_eq "deploy/php-fpm: PHP ran once" "$(php_runs /blogs/7)" 1
    r=$(curl_get -X PUT --data-binary 'new text' "http://127.0.0.1:$PORT/blogs/7")
    expect_contains "deploy/php-fpm: PUT passes (blog_edit)" "$r" "X-Cache-Status: BYPASS"
    expect_contains "deploy/php-fpm: ... and purges blogs: MISS" "$(curl_get "http://127.0.0.1:$PORT/blogs/7")" "X-Cache-Status: MISS"
    expect_eq "deploy/php-fpm: PHP ran again" "$(php_runs /blogs/7)" 2
else
    not_ok "php-fpm missing (tests/deps.sh installs php-fpm)"
fi
finish
