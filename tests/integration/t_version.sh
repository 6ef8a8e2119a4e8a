#!/bin/bash
# t_version.sh -- one version everywhere: lib/version.h (the source), the
# tool's --version, the library's startup log line and the string check
# --all reads from its file, debian/changelog, and (when built) the
# package's name and control field.
. "$(dirname "$0")/lib.sh"

want=$(sed -n 's/^#define CGICACHE_VERSION "\(.*\)"/\1/p' "$TOP/lib/version.h")
[ -n "$want" ] && ok "lib/version.h: $want" || not_ok "lib/version.h names no version"
expect_eq "cgicache --version" "$("$CC_TOOL" --version)" "cgicache $want"
line=$(CGICACHE_LOG=info LD_PRELOAD="$(preload_value)" sh -c true 2>&1 | grep -m1 "libcgicache version")
expect_contains "the library logs its version at load" "$line" "info: libcgicache version $want loaded"
expect_eq "the library file holds its version" \
    "$(grep -ao "libcgicache version [0-9][0-9A-Za-z.+~-]*" "$CC_LIB" | head -1)" "libcgicache version $want"
expect_eq "debian/changelog" "$(cd "$TOP" && dpkg-parsechangelog -S Version)" "$want"
deb=$(ls "$TOP"/build/deb/cgicache_*.deb 2>/dev/null | head -1)
if [ -n "$deb" ]; then
    expect_eq "the package's file name" "$(basename "$deb" | cut -d_ -f2)" "$want"
    expect_eq "the package's Version" "$(dpkg-deb -f "$deb" Version)" "$want"
fi
finish
