#!/bin/sh
# deps.sh -- installs the Debian packages the build and the tests need,
# only those that are missing, so `make test` works on a fresh machine.
set -eu
PKGS="gcc make pkg-config libfcgi-dev libfcgi-bin libhiredis-dev libzstd-dev
libxxhash-dev libcriterion-dev redis-server spawn-fcgi nginx curl
libfcgi-perl python3 lighttpd fcgiwrap wrk valgrind zlib1g-dev clang libclang-rt-14-dev"
# rediss:// (OpenSSL, linked in statically) and t_tls.sh's certificates.
# t_sentinel.sh runs the sentinels with redis-server --sentinel.
PKGS="$PKGS libssl-dev openssl"
# t_wire.sh: Apache's mod_proxy_fcgi in front of a FastCGI server.
PKGS="$PKGS apache2"
# t_delivery.sh: zstd and gzip to decode what clients get.
PKGS="$PKGS zstd gzip"
# make lint and make format-check.
PKGS="$PKGS cppcheck clang-format-16"
# The compatibility suite (t_compat.sh): real apps, as Debian ships them.
PKGS="$PKGS git gitweb libcgi-fast-perl cgit php-cgi php-fpm fossil lua5.1 lua-wsapi-fcgi"
# make deb, make lintian, make test-installed (the package), and
# t_top.sh (cgicache top in a real terminal).
PKGS="$PKGS dpkg-dev debhelper lintian tmux"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
