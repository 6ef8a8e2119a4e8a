# servers.sh -- what the tests, the demo and the benchmark share to run
# private servers on loopback: free ports, bounded waits, and an nginx
# configuration whose every path lives in a private directory.
# Sourced; defines functions only.

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for COMMAND...: up to 5 s for it to succeed.
wait_for() {
    for _ in $(seq 100); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "timed out waiting for: $*" >&2
    return 1
}

# nginx_conf DIR WORKERS HTTP_LINES: writes DIR/nginx.conf, foreground,
# with its pid, logs and temp files under DIR and HTTP_LINES (server
# blocks, cache paths) inside http { }.
nginx_conf() {
    mkdir -p "$1"
    cat >"$1/nginx.conf" <<CONF
worker_processes $2;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $1/body;
    fastcgi_temp_path $1/fastcgi;
    proxy_temp_path $1/proxy;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    $3
}
CONF
}

# fastcgi_server PORT SOCKET [LOCATION_LINES]: a server block passing
# everything to a FastCGI socket.
fastcgi_server() {
    echo "server { listen 127.0.0.1:$1; location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$2; ${3:-} } }"
}

# apache_conf DIR PORT LINES: writes DIR/apache.conf for Apache in front
# of a FastCGI server (mod_proxy_fcgi): one child of a few threads on
# 127.0.0.1:PORT, its pid file, logs and runtime files under DIR, the
# modules loaded by path (no /etc/apache2), and LINES (ProxyPass ...).
apache_conf() {
    local m=/usr/lib/apache2/modules
    mkdir -p "$1"
    cat >"$1/apache.conf" <<CONF
ServerRoot $1
ServerName localhost
Listen 127.0.0.1:$2
PidFile $1/apache.pid
DefaultRuntimeDir $1
ErrorLog $1/error.log
LogLevel warn
LoadModule mpm_event_module $m/mod_mpm_event.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule proxy_module $m/mod_proxy.so
LoadModule proxy_fcgi_module $m/mod_proxy_fcgi.so
User nobody
Group nogroup
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8
$3
CONF
}
