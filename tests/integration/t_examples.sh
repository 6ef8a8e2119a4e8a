#!/bin/bash
# t_examples.sh -- the deployments in examples/ work as shipped: nginx
# (examples/nginx.conf), lighttpd with both mod_cgi and mod_fastcgi
# (examples/deploy/lighttpd.conf) and nginx + fcgiwrap
# (examples/deploy/fcgiwrap.conf), each started on loopback with only its
# paths and ports replaced, each checked for a HIT.
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
finish
