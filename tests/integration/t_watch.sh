#!/bin/bash
# t_watch.sh -- a process with routes that serves requests cgicache never
# sees says so, once (lib/adapters/watch.c): php-cgi -b and php-fpm (PHP's own
# FastCGI code) warn at their first accept and keep answering as before;
# a libfcgi app (Perl's FCGI too), fcgiwrap, a CGI program, or a process
# without routes never warn.
. "$(dirname "$0")/lib.sh"

start_redis
WARNING="accepts connections itself"
ROUTE=(CGICACHE_ROUTE_all='GET /* ttl=60')
# PHP loads its extensions (opcache) with RTLD_DEEPBIND, which the
# sanitizer runtime refuses: under the ASan library, none are loaded.
PHP_ENV=()
case "$CC_LIB" in *asan*) PHP_ENV=(PHP_INI_SCAN_DIR=) ;; esac
printf '<?php echo "php says hi\\n";\n' >"$TMP/hi.php"
chmod -R a+rX "$TMP/hi.php"

# php_req ADDRESS: one request for hi.php, as nginx would send it.
php_req() {
    env -i REQUEST_METHOD=GET REQUEST_URI=/hi.php SCRIPT_NAME=/hi.php SCRIPT_FILENAME="$TMP/hi.php" \
        QUERY_STRING= SERVER_NAME=localhost SERVER_PORT=80 HTTP_HOST=localhost GATEWAY_INTERFACE=CGI/1.1 \
        SERVER_PROTOCOL=HTTP/1.1 REDIRECT_STATUS=200 timeout 10 cgi-fcgi -bind -connect "$1" </dev/null
}
warnings() { grep -c "$WARNING" "$1"; }

# php-cgi -b: one process (no children), three requests, one warning.
if command -v php-cgi >/dev/null; then
    port=$(free_port)
    env LD_PRELOAD="$(preload_value)" CGICACHE_REDIS="$REDIS_URL" "${ROUTE[@]}" "${PHP_ENV[@]}" PHP_FCGI_CHILDREN=0 \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        php-cgi -b "127.0.0.1:$port" >"$TMP/phpb.log" 2>&1 &
    PIDS+=("$!"); disown "$!" 2>/dev/null
    wait_for bash -c "echo >/dev/tcp/127.0.0.1/$port"
    for _ in 1 2 3; do r=$(php_req "127.0.0.1:$port"); done
    expect_contains "php-cgi -b: still answers" "$r" "php says hi"
    expect_eq "php-cgi -b: no cache status (cgicache never saw the request)" "$(status_of "$r")" ""
    expect_eq "php-cgi -b: warned once in three requests" "$(warnings "$TMP/phpb.log")" 1
    expect_contains "php-cgi -b: the warning names the process" "$(cat "$TMP/phpb.log")" "php-cgi accepts connections itself"
    # The same code on the socket spawn-fcgi hands it (fd 0).
    env LD_PRELOAD="$(preload_value)" CGICACHE_REDIS="$REDIS_URL" "${ROUTE[@]}" "${PHP_ENV[@]}" PHP_FCGI_CHILDREN=0 \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        spawn-fcgi -n -M 0666 -s "$TMP/php.sock" -- "$(command -v php-cgi)" >"$TMP/php-spawn.log" 2>&1 &
    PIDS+=("$!"); disown "$!" 2>/dev/null
    wait_for can_connect "$TMP/php.sock"
    for _ in 1 2; do r=$(php_req "$TMP/php.sock"); done
    expect_contains "php-cgi under spawn-fcgi: still answers" "$r" "php says hi"
    expect_eq "php-cgi under spawn-fcgi: warned once" "$(warnings "$TMP/php-spawn.log")" 1
    # Without routes there is nothing to miss: no word.
    port=$(free_port)
    env LD_PRELOAD="$(preload_value)" CGICACHE_REDIS="$REDIS_URL" "${PHP_ENV[@]}" PHP_FCGI_CHILDREN=0 \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        php-cgi -b "127.0.0.1:$port" >"$TMP/phpb-noroute.log" 2>&1 &
    PIDS+=("$!"); disown "$!" 2>/dev/null
    wait_for bash -c "echo >/dev/tcp/127.0.0.1/$port"
    php_req "127.0.0.1:$port" >/dev/null
    expect_eq "php-cgi -b without routes: no warning" "$(warnings "$TMP/phpb-noroute.log")" 0
    # php-cgi as CGI is cached, and says nothing.
    for _ in 1 2; do
        r=$(env -i PATH=/usr/bin:/bin REQUEST_METHOD=GET REQUEST_URI=/hi.php SCRIPT_NAME=/hi.php \
            SCRIPT_FILENAME="$TMP/hi.php" HTTP_HOST=localhost GATEWAY_INTERFACE=CGI/1.1 REDIRECT_STATUS=200 \
            LD_PRELOAD="$(preload_value)" CGICACHE_REDIS="$REDIS_URL" "${ROUTE[@]}" "${PHP_ENV[@]}" \
            ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" php-cgi 2>"$TMP/phpcgi.err" </dev/null)
    done
    expect_eq "php-cgi as CGI: cached" "$(status_of "$r")" HIT
    expect_eq "php-cgi as CGI: no warning" "$(warnings "$TMP/phpcgi.err")" 0
else
    echo "ok - php-cgi # skipped: php-cgi not installed (apt-get install php-cgi)"
fi

# php-fpm: each worker is a process of its own and warns once; its
# workers' stderr reaches the log only with catch_workers_output.
fpm=$(ls /usr/sbin/php-fpm* 2>/dev/null | head -1)
if [ -n "$fpm" ]; then
    cat >"$TMP/fpm.conf" <<CONF
[global]
pid = $TMP/fpm.pid
error_log = $TMP/fpm.log
daemonize = no
[www]
listen = $TMP/fpm.sock
listen.mode = 0666
pm = static
pm.max_children = 1
clear_env = no
catch_workers_output = yes
decorate_workers_output = no
CONF
    env LD_PRELOAD="$(preload_value)" CGICACHE_REDIS="$REDIS_URL" "${ROUTE[@]}" "${PHP_ENV[@]}" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        "$fpm" -R -n -y "$TMP/fpm.conf" >"$TMP/fpm.out" 2>&1 &
    PIDS+=("$!"); disown "$!" 2>/dev/null
    wait_for can_connect "$TMP/fpm.sock"
    for _ in 1 2 3; do r=$(php_req "$TMP/fpm.sock"); done
    expect_contains "php-fpm: still answers" "$r" "php says hi"
    # The master copies its workers' output into its log: up to 5 s.
    wait_for grep -q "$WARNING" "$TMP/fpm.log"
    expect_eq "php-fpm: its one worker warned once" "$(warnings "$TMP/fpm.log")" 1
else
    echo "ok - php-fpm # skipped: php-fpm not installed (apt-get install php-fpm)"
fi

# A libfcgi app, and fcgiwrap (libfcgi, forking CGI children): cached,
# and not a word.
start_app app 1 "$TESTAPP" "${ROUTE[@]}"
fcgi app GET /a >/dev/null
expect_eq "libfcgi app: cached" "$(status_of "$(fcgi app GET /a)")" HIT
expect_eq "libfcgi app: no warning" "$(warnings "$TMP/app.log")" 0
# Perl's FCGI loads libfcgi privately (RTLD_LOCAL); its accepts still
# pass through the adapter.
if perl -MFCGI -e1 2>/dev/null; then
    start_app perl 1 "$TOP/tests/apps/perl_app.pl" "${ROUTE[@]}"
    fcgi perl GET /p >/dev/null
    expect_eq "Perl FCGI app: cached" "$(status_of "$(fcgi perl GET /p)")" HIT
    expect_eq "Perl FCGI app: no warning" "$(warnings "$TMP/perl.log")" 0
fi
mkdir -p "$TMP/cgi-bin"
cp "$TOP/tests/apps/cgi/hello.sh" "$TMP/cgi-bin/"
start_app wrap 1 /usr/sbin/fcgiwrap "${ROUTE[@]}"
r=$(fcgi wrap GET /cgi-bin/hello.sh SCRIPT_FILENAME="$TMP/cgi-bin/hello.sh")
expect_contains "fcgiwrap: answers" "$r" "bash pid="
expect_eq "fcgiwrap: no warning" "$(warnings "$TMP/wrap.log")" 0
finish
