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
