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

# cluster_start DIR MASTERS [REPLICAS]: a Redis Cluster of private
# redis-server processes on free loopback ports, MASTERS masters and
# REPLICAS replicas of each [0], joined by redis-cli --cluster create.
# Each node works in DIR/<port> (its nodes.conf); its bus port is a free
# port of its own (cluster-port), not port + 10000, which may be taken or
# past 65535.  With CLUSTER_TLS set to a directory holding ca.crt,
# server.crt and server.key, every port (clients, bus, replication) is
# TLS only.  Sets CLUSTER_PORTS (the masters first, as create makes
# them) and CLUSTER_PIDS (stop them with cluster_stop); returns non-zero
# when the cluster does not come up in 20 s.
cluster_start() {
    local dir=$1 masters=$2 replicas=${3:-0} i port addrs=() listen=()
    CLUSTER_PORTS=()
    CLUSTER_PIDS=()
    for ((i = 0; i < masters * (1 + replicas); i++)); do
        port=$(free_port)
        mkdir -p "$dir/$port"
        listen=(--port "$port")
        [ -n "${CLUSTER_TLS:-}" ] && listen=(--port 0 --tls-port "$port" --tls-cluster yes
            --tls-replication yes --tls-cert-file "$CLUSTER_TLS/server.crt"
            --tls-key-file "$CLUSTER_TLS/server.key" --tls-ca-cert-file "$CLUSTER_TLS/ca.crt"
            --tls-auth-clients no)
        (cd "$dir/$port" && exec redis-server "${listen[@]}" --bind 127.0.0.1 \
            --cluster-enabled yes --cluster-port "$(free_port)" --cluster-config-file nodes.conf \
            --cluster-node-timeout 1000 --save '' --appendonly no --daemonize no \
            --enable-debug-command local >"$dir/$port/redis.log" 2>&1) &
        CLUSTER_PIDS+=($!)
        disown $! 2>/dev/null
        CLUSTER_PORTS+=("$port")
        addrs+=("127.0.0.1:$port")
    done
    for port in "${CLUSTER_PORTS[@]}"; do
        wait_for cluster_cli "$port" PING || return 1
    done
    local tls=()
    [ -n "${CLUSTER_TLS:-}" ] && tls=(--tls --cacert "$CLUSTER_TLS/ca.crt")
    timeout 30 redis-cli "${tls[@]}" --cluster create "${addrs[@]}" \
        --cluster-replicas "$replicas" --cluster-yes >"$dir/create.log" 2>&1 || return 1
    for _ in $(seq 400); do
        local up=0
        for port in "${CLUSTER_PORTS[@]}"; do
            cluster_cli "$port" CLUSTER INFO 2>/dev/null | grep -q '^cluster_state:ok' && up=$((up + 1))
        done
        [ "$up" -eq "${#CLUSTER_PORTS[@]}" ] && return 0
        sleep 0.05
    done
    echo "cluster_start: the cluster is not ok after 20 s" >&2
    return 1
}

# cluster_cli PORT ARGS...: redis-cli to a node of the cluster, over TLS
# when it is a TLS one.
cluster_cli() {
    local port=$1
    shift
    if [ -n "${CLUSTER_TLS:-}" ]; then
        redis-cli --tls --cacert "$CLUSTER_TLS/ca.crt" -p "$port" "$@"
    else
        redis-cli -p "$port" "$@"
    fi
}

# cluster_stop: stops the nodes cluster_start started, by PID.
cluster_stop() {
    local pid
    for pid in "${CLUSTER_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${CLUSTER_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$pid" 2>/dev/null
    done
    CLUSTER_PIDS=()
}
