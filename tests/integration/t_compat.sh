#!/bin/bash
# t_compat.sh -- real Debian apps, unchanged, behind real servers with the
# library preloaded: gitweb (CGI under lighttpd, FastCGI through CGI::Fast
# under spawn-fcgi + nginx), cgit (CGI under lighttpd, and nginx +
# fcgiwrap), php-cgi and a Python script as CGI, a 20-page walk of a
# fossil repository under lighttpd, and a Lua lfcgi app.  Each shows a
# MISS, then a HIT whose body and app headers are byte-identical, and that
# the app did not run again.
#
# Runs are counted without touching the apps: CGI programs get
# tests/compat/runcount.c preloaded beside libcgicache (a line per process
# that got past libcgicache's constructor, so a hit never counts); FastCGI
# apps are counted by a per-request side effect (gitweb's git runs through
# a counting wrapper, the Lua app appends to a file).
#
# What each needed of the library: cgit exports its own write(), not
# usable before its main() (the library must reach libc itself); lighttpd
# sends SIGTERM once it has the whole response (at Content-Length or the
# end of the output) while fossil is still closing its database (the tee
# holds it); Lua loads libfcgi privately (fcgi_stdio's _fcgi_sF is found
# there too).
. "$(dirname "$0")/lib.sh"

start_redis
COMPAT=$TOP/tests/compat
skip() { echo "ok - $1 # skipped: $2"; }

# The run counter, built here: one small C file, one cc call.
RUNCOUNT=$TMP/libruncount.so
cc -shared -fPIC -O2 -o "$RUNCOUNT" "$COMPAT/runcount.c" || not_ok "runcount.c does not build"
# runcount just before libcgicache (after the sanitizer runtimes, which
# must come first): ld.so runs the constructors of preloaded objects in
# reverse order, so libcgicache's runs first and a hit ends the process
# before runcount's.
PRELOAD=$(preload_value)
PRELOAD=${PRELOAD%"$CC_LIB"}$RUNCOUNT:$CC_LIB
# PHP loads its extensions (opcache) with RTLD_DEEPBIND, which the
# sanitizer runtime refuses: under the ASan library, none are loaded.
PHP_ENV=()
case "$CC_LIB" in *asan*) PHP_ENV=(PHP_INI_SCAN_DIR=) ;; esac
COUNT=$TMP/runs
touch "$COUNT"; chmod 666 "$COUNT"
runs() { grep -c "^$1 " "$COUNT"; }

# fetch URL OUT: headers to OUT.h, body (bytes as sent) to OUT.b.
fetch() { timeout 20 curl -s -D "$2.h" -o "$2.b" "$1"; }
hdr() { tr -d '\r' <"$1.h" | awk -v want="$(echo "$2" | tr 'A-Z' 'a-z')" -F': ' 'tolower($1) == want { print $2; exit }'; }
# The app's own headers, in order: without what the server adds per
# response and what cgicache adds.
app_headers() {
    tr -d '\r' <"$1.h" | grep -viE '^(HTTP/|date|server|connection|keep-alive|transfer-encoding|x-cache-status|cache-status|age):' | grep -v '^$'
}

# check_cached NAME URL COMM: MISS, then a byte-identical HIT, COMM
# (the app's process name, as runcount records it; or a function name
# after "fn:") counted once.
check_cached() {
    local name=$1 url=$2 comm=$3 before after
    before=$(counted "$comm")
    fetch "$url" "$TMP/r1"; fetch "$url" "$TMP/r2"
    after=$(counted "$comm")
    expect_eq "$name: 200" "$(head -1 "$TMP/r1.h" | cut -d' ' -f2)" 200
    expect_eq "$name: MISS" "$(hdr "$TMP/r1" X-Cache-Status)" MISS
    expect_eq "$name: HIT" "$(hdr "$TMP/r2" X-Cache-Status)" HIT
    if [ -s "$TMP/r1.b" ] && cmp -s "$TMP/r1.b" "$TMP/r2.b"; then
        ok "$name: HIT body byte-identical ($(wc -c <"$TMP/r1.b") bytes)"
    else
        not_ok "$name: HIT body differs or is empty ($(wc -c <"$TMP/r1.b") / $(wc -c <"$TMP/r2.b") bytes)"
    fi
    # What a hit adds by design: an ETag when the app gave no validator
    # (etag=auto), and Vary: Accept-Encoding when the body is kept
    # compressed (its variants); the rest is the app's, line for line.
    local added='^vary: accept-encoding$'
    if ! app_headers "$TMP/r1" | grep -qiE '^(etag|last-modified):'; then
        expect_eq "$name: HIT carries an ETag of its body" "$(app_headers "$TMP/r2" | grep -ciE '^etag: "[0-9a-f]{16}"$')" 1
        added="$added|^etag:"
    fi
    expect_eq "$name: HIT app headers identical" "$(app_headers "$TMP/r2" | grep -viE "$added")" "$(app_headers "$TMP/r1")"
    expect_eq "$name: the app ran once" "$((after - before))" 1
}
counted() { case "$1" in fn:*) "${1#fn:}" ;; *) runs "$1" ;; esac; }

# ---- the fixtures: a small git repository and a small fossil repository ----
export HOME=$TMP/home GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME" "$TMP/src"
(
    cd "$TMP/src" && git init -q -b main && for i in 1 2 3; do
        printf 'line %s\n' "$i" >"f$i.txt"
        git add . && GIT_AUTHOR_DATE="2026-01-0$i 12:00 +0000" GIT_COMMITTER_DATE="2026-01-0$i 12:00 +0000" \
            git -c user.name=T -c user.email=t@example.org commit -qm "commit $i"
    done
) && git clone -q --bare "$TMP/src" "$TMP/git/repo.git" || not_ok "git fixture"
have_fossil=0
if command -v fossil >/dev/null; then
    (
        cd "$TMP" && fossil init -A admin --date-override "2026-01-01 12:00:00" repo.fossil >/dev/null &&
        mkdir fw && cd fw && fossil open ../repo.fossil >/dev/null && mkdir src doc &&
        for i in 1 2 3 4 5; do echo "file $i" >"src/a$i.c"; echo "# doc $i" >"doc/d$i.md"; done &&
        fossil add src doc >/dev/null &&
        fossil commit --user admin -m first --date-override "2026-01-02 12:00:00" >/dev/null &&
        echo more >>src/a1.c &&
        fossil commit --user admin -m second --date-override "2026-01-03 12:00:00" >/dev/null
    ) && have_fossil=1 || not_ok "fossil fixture"
    chmod -R a+rwX "$TMP/repo.fossil" "$TMP/fw" 2>/dev/null
fi
chmod -R a+rX "$TMP/git" "$HOME"

# ---- CGI programs under lighttpd's mod_cgi ----
# The library and the counter reach each CGI program through the server's
# environment, as examples/deploy/lighttpd.conf does it.  lighttpd
# upper-cases the names it sets, so the routes are GITWEB, FOSSIL ... in
# keys and stats.
WWW=$TMP/www
mkdir -p "$WWW"
cat >"$TMP/gitweb.conf" <<EOF
\$projectroot = "$TMP/git";
\$projects_list = \$projectroot;
\$GIT = "$TMP/git-counting";
EOF
# gitweb runs git for every page: a counting git is its per-request
# side effect, in CGI and FastCGI mode alike.
# A request is a distinct (client port, gitweb process) pair: in FastCGI
# mode the worker stays, the connection from nginx does not.
printf '#!/bin/sh\necho "${REMOTE_PORT:-} $PPID" >>"%s/git.runs"\nexec /usr/bin/git "$@"\n' "$TMP" >"$TMP/git-counting"
chmod 755 "$TMP/git-counting"; touch "$TMP/git.runs"; chmod 666 "$TMP/git.runs"
# cgit's own page cache is off (cache-size=0): the point is cgicache's.
printf 'cache-size=0\nvirtual-root=/cgit.cgi/\nrepo.url=repo\nrepo.path=%s/git/repo.git\n' "$TMP" >"$TMP/cgitrc"
[ -x /usr/lib/cgi-bin/gitweb.cgi ] && ln -s /usr/lib/cgi-bin/gitweb.cgi "$WWW/gitweb.cgi"
[ -x /usr/lib/cgit/cgit.cgi ] && ln -s /usr/lib/cgit/cgit.cgi "$WWW/cgit.cgi"
# A PHP page and a Python script whose bodies name the process: a HIT
# with the MISS's bytes can only be the stored copy.
printf '<?php header("Content-Type: text/plain"); echo "php ", PHP_VERSION, " pid ", getmypid(), "\\n"; for ($i = 0; $i < 200; $i++) echo $i, "\\n";\n' >"$WWW/page.php"
printf '#!/usr/bin/python3\nimport os\nprint("Content-Type: text/plain\\r\\nX-App: python\\r\\n\\r\\n", end="")\nprint("python pid", os.getpid(), os.environ.get("QUERY_STRING"))\nfor i in range(300): print(i)\n' >"$WWW/hello.py"
chmod 755 "$WWW/hello.py"
[ "$have_fossil" = 1 ] && printf '#!/usr/bin/fossil\nrepository: %s/repo.fossil\n' "$TMP" >"$WWW/fossil.cgi" &&
    chmod 755 "$WWW/fossil.cgi"
chmod -R a+rX "$WWW"

LPORT=$(free_port)
cat >"$TMP/lighttpd.conf" <<CONF
server.document-root = "$WWW"
server.port = $LPORT
server.bind = "127.0.0.1"
server.pid-file = "$TMP/lighttpd.pid"
server.errorlog = "$TMP/lighttpd.log"
server.modules = ("mod_cgi", "mod_setenv")
server.follow-symlink = "enable"
cgi.assign = (".cgi" => "", ".py" => "", ".php" => "/usr/bin/php-cgi")
# CGICACHE_LOG=debug: the fossil walk reports the stores it lost, and why.
setenv.add-environment = (
    "LD_PRELOAD" => "$PRELOAD",
    "RUNCOUNT_FILE" => "$COUNT",
    "ASAN_OPTIONS" => "${ASAN_OPTIONS:-}",
    "UBSAN_OPTIONS" => "${UBSAN_OPTIONS:-}",
    "HOME" => "$HOME",
    "CGICACHE_REDIS" => "$REDIS_URL",
    "CGICACHE_TIMEOUT" => "500ms",
    "CGICACHE_CONNECT_TIMEOUT" => "500ms",
    "CGICACHE_LOG" => "debug",
    "CGICACHE_ROUTE_gitweb" => "GET /gitweb.cgi ttl=60",
    "CGICACHE_ROUTE_cgit" => "GET /cgit.cgi/* ttl=60",
    "CGICACHE_ROUTE_php" => "GET /page.php ttl=60",
    "CGICACHE_ROUTE_py" => "GET /hello.py ttl=60",
    "CGICACHE_ROUTE_fossil" => "GET /fossil.cgi/* ttl=60",
    "GITWEB_CONFIG" => "$TMP/gitweb.conf",
    "CGIT_CONFIG" => "$TMP/cgitrc",
    "REDIRECT_STATUS" => "200",
$(for v in "${PHP_ENV[@]}"; do printf '    "%s" => "%s",\n' "${v%%=*}" "${v#*=}"; done)
)
CONF
lighttpd -D -f "$TMP/lighttpd.conf" >"$TMP/lighttpd.out" 2>&1 &
PIDS+=("$!"); disown "$!" 2>/dev/null
wait_for curl -s -o /dev/null "http://127.0.0.1:$LPORT/"
L=http://127.0.0.1:$LPORT
git_runs() { wc -l <"$TMP/git.runs" | tr -d ' '; }
gitweb_requests() { sort -u "$TMP/git.runs" | wc -l | tr -d ' '; }
lua_requests() { wc -l <"$TMP/lua.runs" | tr -d ' '; }

# gitweb as CGI: a project page.  gitweb sets no cookie and no
# Cache-Control, so the route's TTL applies.
if [ -L "$WWW/gitweb.cgi" ]; then
    g0=$(git_runs)
    check_cached "gitweb CGI (lighttpd)" "$L/gitweb.cgi?p=repo.git;a=summary" gitweb.cgi
    expect_contains "gitweb CGI: the page is the repository's" "$(cat "$TMP/r1.b")" "commit 3"
    g1=$(git_runs); fetch "$L/gitweb.cgi?p=repo.git;a=summary" "$TMP/r3"
    expect_eq "gitweb CGI: no git run for the HIT" "$(git_runs)" "$g1"
    [ "$g1" -gt "$g0" ] && ok "gitweb CGI: git ran for the MISS" || not_ok "gitweb CGI: git never ran"
else
    skip "gitweb CGI" "gitweb not installed (apt-get install gitweb)"
fi

# cgit as plain CGI.  cgit sends Last-Modified and Expires (now + 5 min):
# a legitimate lifetime, which overrides the route's TTL.
if [ -L "$WWW/cgit.cgi" ]; then
    check_cached "cgit CGI (lighttpd)" "$L/cgit.cgi/repo/log/" cgit.cgi
    grep -q "signal 11" "$TMP/lighttpd.log" && echo "# cgit CGI: lighttpd logged a crash: $(grep -m1 'signal 11' "$TMP/lighttpd.log")"
    nm -D --defined-only /usr/lib/cgit/cgit.cgi 2>/dev/null | grep -qw write &&
        echo "# cgit CGI: cgit exports write(), which the CGI adapter's own writes reach"
else
    skip "cgit CGI" "cgit not installed (apt-get install cgit)"
fi

if [ -x /usr/bin/php-cgi ]; then
    check_cached "php-cgi CGI (lighttpd)" "$L/page.php" php-cgi
else
    skip "php-cgi CGI" "php-cgi not installed (apt-get install php-cgi)"
fi

check_cached "Python CGI (lighttpd)" "$L/hello.py?a=1" hello.py

# fossil: a 20-page walk, every page stored then a HIT, several rounds.
# fossil marks its dynamic pages (timeline, dir, info, file: they depend
# on the visitor's login) "no-cache" or "max-age=0", and those are never
# stored; what it declares cacheable is content-addressed (raw artifacts
# and archives by hash), the skin's CSS and the built-in scripts.
# Under the ASan library fossil cannot run at all: it caps its own
# RLIMIT_DATA at 10 GB, and the sanitizer runtime's reservations exceed it.
if [ "$have_fossil" = 1 ] && case "$CC_LIB" in *asan*) false ;; esac; then
    F=$L/fossil.cgi
    fsql() { fossil sql -R "$TMP/repo.fossil" "$1" | tr -d "'"; }
    pages=()
    for b in $(fsql "select uuid from blob order by rid limit 11"); do pages+=("/raw/$b"); done
    for c in $(fsql "select uuid from blob join event on event.objid = blob.rid where type = 'ci' order by mtime"); do
        pages+=("/tarball/$c/repo.tar.gz")
    done
    pages+=(/style.css /logo /favicon.ico /builtin/fossil.bootstrap.js /builtin/fossil.dom.js /builtin/sorttable.js)
    expect_eq "fossil: a walk of 20 pages" "${#pages[@]}" 20
    for u in /timeline /dir /info/trunk; do
        fetch "$F$u" "$TMP/fn"
        expect_eq "fossil $u: fossil says no-cache, not stored" \
            "$(hdr "$TMP/fn" X-Cache-Status) $(hdr "$TMP/fn" Cache-Status)" "MISS cgicache; fwd=uri-miss"
    done
    fossil_stored() { rcli --scan --pattern 'cgicache:FOSSIL:*' | grep -vc ':lock$\|:gen\|:fill$'; }
    all_fossil_stored() { [ "$(fossil_stored)" -ge 20 ]; }
    for round in 1 2 3; do
        rcli DEL $(rcli --scan --pattern 'cgicache:FOSSIL:*' | tr '\n' ' ') >/dev/null 2>&1
        before=$(runs fossil.cgi)
        miss=0 hit=0 same=0
        for u in "${pages[@]}"; do
            fetch "$F$u" "$TMP/w1"
            [ "$(hdr "$TMP/w1" X-Cache-Status)" = MISS ] && miss=$((miss + 1))
        done
        ran=$(( $(runs fossil.cgi) - before ))
        # lighttpd answers the client at the CGI's stdout EOF; the store
        # follows a moment later, from the tee: up to 5 s for all of them.
        wait_for all_fossil_stored 2>/dev/null
        stored=$(fossil_stored)
        for u in "${pages[@]}"; do
            fetch "$F$u" "$TMP/w1"; fetch "$F$u" "$TMP/w2"
            [ "$(hdr "$TMP/w2" X-Cache-Status)" = HIT ] && hit=$((hit + 1))
            cmp -s "$TMP/w1.b" "$TMP/w2.b" && same=$((same + 1))
        done
        expect_eq "fossil walk $round: 20 MISSes, fossil ran 20 times" "$miss $ran" "20 20"
        expect_eq "fossil walk $round: every page stored" "$stored" 20
        expect_eq "fossil walk $round: every page then a HIT, byte-identical" "$hit $same" "20 20"
    done
    # CGI programs' stderr (cgicache's log) is lighttpd's stderr.
    lost=$(grep -c "FOSSIL: not stored (request not completed)" "$TMP/lighttpd.out")
    [ "$lost" -gt 0 ] && echo "# fossil: $lost responses not stored because fossil did not complete;" \
        "lighttpd sends SIGTERM to a CGI at its stdout EOF and the tee forwards it to fossil"
    # The same walk with fossil run as a CGI program by hand, the way a
    # server that waits for its CGI's exit would: the walk's pages are
    # all cacheable, so what the lighttpd walk loses is lighttpd's doing.
    fossil_cgi() {
        env -i PATH=/usr/bin:/bin HOME="$HOME" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
            REQUEST_URI="/direct/fossil.cgi$1" SCRIPT_NAME=/direct/fossil.cgi PATH_INFO="$1" QUERY_STRING= \
            SERVER_NAME=localhost SERVER_PORT=80 HTTP_HOST=localhost SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
            LD_PRELOAD="$PRELOAD" RUNCOUNT_FILE="$COUNT" ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
            CGICACHE_REDIS="$REDIS_URL" CGICACHE_ROUTE_direct='GET /direct/* ttl=60' \
            timeout 20 "$WWW/fossil.cgi" </dev/null 2>>"$TMP/direct.err"
    }
    miss=0 hit=0
    # Read to the end (grep -q would close the pipe early: a client gone).
    for u in "${pages[@]}"; do fossil_cgi "$u" >"$TMP/d"; grep -qa '^X-Cache-Status: MISS' "$TMP/d" && miss=$((miss + 1)); done
    for u in "${pages[@]}"; do fossil_cgi "$u" >"$TMP/d"; grep -qa '^X-Cache-Status: HIT' "$TMP/d" && hit=$((hit + 1)); done
    expect_eq "fossil as CGI without lighttpd: 20 MISSes, then 20 HITs" "$miss $hit" "20 20"
elif [ "$have_fossil" = 1 ]; then
    skip "fossil" "fossil limits RLIMIT_DATA to 10 GB, below what the ASan runtime maps"
else
    skip "fossil" "fossil not installed (apt-get install fossil)"
fi

# ---- FastCGI: gitweb (CGI::Fast), cgit behind fcgiwrap, Lua lfcgi ----
# spawn_fcgi NAME [VAR=VALUE ...] -- COMMAND...: a FastCGI app on
# $TMP/NAME.sock with the library preloaded, and an nginx in front of it.
spawn_fcgi() {
    local name=$1 vars=()
    shift
    while [ "$1" != -- ]; do vars+=("$1"); shift; done
    shift
    env LD_PRELOAD="$PRELOAD" RUNCOUNT_FILE="$COUNT" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        CGICACHE_REDIS="$REDIS_URL" CGICACHE_TIMEOUT=500ms CGICACHE_CONNECT_TIMEOUT=500ms "${vars[@]}" \
        spawn-fcgi -n -M 0666 -s "$TMP/$name.sock" -- "$@" >>"$TMP/$name.log" 2>&1 &
    PIDS+=("$!"); disown "$!" 2>/dev/null
    wait_for can_connect "$TMP/$name.sock"
    start_nginx "$name"
}

if [ -x /usr/lib/cgi-bin/gitweb.cgi ] && perl -MCGI::Fast -e1 2>/dev/null; then
    # CGI::Fast replaces %ENV with each request's params: gitweb finds
    # its configuration in them, as behind any FastCGI server.
    NGINX_EXTRA="fastcgi_param GITWEB_CONFIG $TMP/gitweb.conf;"
    spawn_fcgi gitwebfcgi CGICACHE_ROUTE_gitweb='GET /gitweb.cgi ttl=60' -- /usr/lib/cgi-bin/gitweb.cgi --fastcgi
    NGINX_EXTRA=
    check_cached "gitweb FastCGI (CGI::Fast, nginx)" "http://127.0.0.1:$NGINX_PORT/gitweb.cgi?p=repo.git;a=log" "fn:gitweb_requests"
    expect_contains "gitweb FastCGI: the page is the repository's" "$(cat "$TMP/r1.b")" "commit 2"
else
    skip "gitweb FastCGI" "gitweb or CGI::Fast missing (apt-get install gitweb libcgi-fast-perl)"
fi

if [ -x /usr/lib/cgit/cgit.cgi ]; then
    NGINX_EXTRA="fastcgi_param SCRIPT_FILENAME /usr/lib/cgit/cgit.cgi; fastcgi_param CGIT_CONFIG $TMP/cgitrc;
        fastcgi_split_path_info ^(/cgit.cgi)(.*)\$; fastcgi_param PATH_INFO \$fastcgi_path_info; fastcgi_param SCRIPT_NAME /cgit.cgi;"
    spawn_fcgi fcgiwrap CGICACHE_ROUTE_cgit='GET /cgit.cgi/* ttl=60' -- /usr/sbin/fcgiwrap
    NGINX_EXTRA=
    check_cached "cgit via fcgiwrap (nginx)" "http://127.0.0.1:$NGINX_PORT/cgit.cgi/repo/tree/f2.txt" cgit.cgi
    expect_contains "cgit via fcgiwrap: the page is the repository's" "$(cat "$TMP/r1.b")" "line 2"
else
    skip "cgit via fcgiwrap" "cgit not installed"
fi

# Lua: Debian's lua-wsapi-fcgi has the lfcgi binding (libfcgi's
# fcgi_stdio); Lua loads it, and so libfcgi, with dlopen(RTLD_LOCAL).
if lua5.1 -e 'require "lfcgi"' 2>/dev/null; then
    touch "$TMP/lua.runs"; chmod 666 "$TMP/lua.runs"
    spawn_fcgi lua LUA_RUNS="$TMP/lua.runs" CGICACHE_ROUTE_lua='GET /lua/* ttl=60' -- /usr/bin/lua5.1 "$COMPAT/lfcgi_app.lua"
    check_cached "Lua lfcgi (nginx)" "http://127.0.0.1:$NGINX_PORT/lua/page" "fn:lua_requests"
    # The same app with libfcgi preloaded too, so that it is in the global
    # scope: what the check above misses is the privately loaded copy.
    libfcgi=$(ldconfig -p | awk '/libfcgi.so.0 / { print $NF; exit }')
    PRELOAD_LUA_SAVED=$PRELOAD; PRELOAD=$PRELOAD:$libfcgi
    spawn_fcgi luaglobal LUA_RUNS="$TMP/lua.runs" CGICACHE_ROUTE_lua='GET /lua/* ttl=60' -- /usr/bin/lua5.1 "$COMPAT/lfcgi_app.lua"
    PRELOAD=$PRELOAD_LUA_SAVED
    fetch "http://127.0.0.1:$NGINX_PORT/lua/global" "$TMP/l1"; fetch "http://127.0.0.1:$NGINX_PORT/lua/global" "$TMP/l2"
    expect_eq "Lua lfcgi with libfcgi in the global scope: MISS, HIT" \
        "$(hdr "$TMP/l1" X-Cache-Status) $(hdr "$TMP/l2" X-Cache-Status)" "MISS HIT"
else
    skip "Lua lfcgi" "no Lua FastCGI binding (apt-get install lua-wsapi-fcgi)"
fi

finish
