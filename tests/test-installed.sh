#!/bin/bash
# test-installed.sh DEB -- what users get is what is tested: installs the
# package on this machine (dpkg -i; root), checks what it put where and
# that the versions agree, runs integration tests against the installed
# tool and library (not build/), then removes and purges it and checks
# that nothing it installed is left: the files under /usr, /etc and
# dpkg's own records are listed before the install and compared after
# the removal and after the purge.
#
# The integration tests run here are a subset (INSTALLED_TESTS), chosen to
# cover every installed part and each adapter in about two minutes (the
# whole suite already runs against build/, the same code built with other
# flags):
#   t_tool.sh       the tool, and `cgicache run` finding the installed
#                   library without CGICACHE_LIB
#   t_fcgi.sh       the libfcgi adapter, the main path, in the installed library
#   t_cgi.sh        CGI programs (the constructor path), installed library
#   t_php.sh        php-fpm and php-cgi: the wire adapter
#   t_threads.sh    threaded apps and forks from threads
#   t_libc.sh       a good guest still, built with the package's hardening
#                   flags (_FORTIFY_SOURCE, stack protector): never the
#                   app's own write/close/malloc
#   t_examples.sh   the shipped deployment files, started as shipped
#   t_top.sh        the installed `cgicache top` in a terminal
#   t_check_all.sh  the installed `cgicache check --all`
#   t_version.sh    tool, library and package agree on the version
set -u
DEB=$1
TOP=$(cd "$(dirname "$0")/.." && pwd)
INSTALLED_TESTS=${INSTALLED_TESTS:-t_version.sh t_tool.sh t_fcgi.sh t_cgi.sh t_php.sh t_threads.sh
    t_libc.sh t_examples.sh t_top.sh t_check_all.sh}
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
LIB=/usr/lib/$MULTIARCH/libcgicache.so
VERSION=$(sed -n 's/^#define CGICACHE_VERSION "\(.*\)"/\1/p' "$TOP/lib/version.h")
FAILED=0
ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1"; FAILED=$((FAILED + 1)); }
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (got '$2', want '$3')"; fi; }

if [ "$(id -u)" != 0 ]; then
    # As tests/deps.sh does: sudo when there is one.
    command -v sudo >/dev/null && exec sudo -E "$0" "$@"
    echo "test-installed: installs a package: run as root (or sudo make test-installed)" >&2
    exit 1
fi
if dpkg-query -W -f='${Status}' cgicache 2>/dev/null | grep -q "ok installed"; then
    echo "test-installed: a cgicache package is already installed; remove it first" \
         "(this test installs and removes its own)" >&2
    exit 1
fi
[ -f "$DEB" ] || { echo "test-installed: no package at $DEB (make deb)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/cgicache-installed.XXXXXX)
# dpkg waits for no one: retry while apt or another dpkg holds its lock.
dpkg_retry() {
    for _ in $(seq 60); do
        dpkg "$@" >"$WORK/dpkg.log" 2>&1 && return 0
        grep -q "lock" "$WORK/dpkg.log" || { cat "$WORK/dpkg.log"; return 1; }
        sleep 2
    done
    cat "$WORK/dpkg.log"
    return 1
}
cleanup() {
    dpkg-query -W -f='${Status}' cgicache 2>/dev/null | grep -q "installed" && dpkg_retry --purge cgicache
    rm -rf "$WORK"
}
trap cleanup EXIT

# Everything a package can leave: files under /usr and /etc, dpkg's
# records of it, the linker cache's view.
snapshot() {
    {
        find /usr /etc -xdev 2>/dev/null
        ls -d /var/lib/dpkg/info/cgicache.* 2>/dev/null
        ldconfig -p | grep -F libcgicache
    } | LC_ALL=C sort
}
snapshot >"$WORK/before"

dpkg_retry -i "$DEB" || { not_ok "dpkg -i $DEB"; exit 1; }
ok "dpkg -i $(basename "$DEB")"
snapshot >"$WORK/installed"

# What it put where: exactly its own files, nothing else created.
dpkg -L cgicache | LC_ALL=C sort >"$WORK/listed"
for f in "$LIB" /usr/bin/cgicache /usr/share/man/man1/cgicache.1.gz /usr/share/man/man7/cgicache.7.gz \
    /usr/share/doc/cgicache/copyright /usr/share/doc/cgicache/examples/nginx.conf \
    /usr/share/doc/cgicache/examples/hello.c /usr/share/doc/cgicache/examples/deploy/cgicache-app.service; do
    grep -qxF "$f" "$WORK/listed" && [ -e "$f" ] && ok "installed: $f" || not_ok "not installed: $f"
done
new=$(LC_ALL=C comm -13 "$WORK/before" "$WORK/installed" | grep -v "^\s\|^/var/lib/dpkg/info/" |
    grep -vxF -f "$WORK/listed")
expect_eq "the install created nothing dpkg does not list" "$new" ""
if command -v man >/dev/null; then
    expect_eq "man finds cgicache(1)" "$(man -w cgicache)" /usr/share/man/man1/cgicache.1.gz
fi

# The installed tool finds the installed library by itself.
expect_eq "cgicache run preloads the installed library (no CGICACHE_LIB)" \
    "$(env -u CGICACHE_LIB /usr/bin/cgicache run -- sh -c 'echo $LD_PRELOAD')" "$LIB"
expect_eq "cgicache --version" "$(/usr/bin/cgicache --version)" "cgicache $VERSION"

# The integration tests against the installed paths.
export CC_TOOL=/usr/bin/cgicache CC_LIB=$LIB
if "$TOP/tests/integration/run.sh" $INSTALLED_TESTS; then
    ok "integration tests against the installed package: $INSTALLED_TESTS"
else
    not_ok "integration tests against the installed package"
fi

# Removal, then purge: nothing of it left.
dpkg_retry -r cgicache && ok "dpkg -r cgicache" || not_ok "dpkg -r cgicache"
snapshot >"$WORK/removed"
expect_eq "dpkg -r leaves nothing behind" "$(diff "$WORK/before" "$WORK/removed")" ""
dpkg_retry --purge cgicache && ok "dpkg --purge cgicache" || not_ok "dpkg --purge cgicache"
snapshot >"$WORK/purged"
expect_eq "dpkg --purge leaves nothing behind" "$(diff "$WORK/before" "$WORK/purged")" ""
expect_eq "dpkg forgets it" "$(dpkg-query -W -f='${Status}' cgicache 2>/dev/null | grep -v not-installed)" ""

[ "$FAILED" -eq 0 ] && echo "test-installed: all passed" || echo "test-installed: $FAILED failed"
[ "$FAILED" -eq 0 ]
