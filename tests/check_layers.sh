#!/bin/sh
# check_layers.sh "CORE_COMPILE" "REDIS_COMPILE" -- shows that the build
# keeps lib/'s layers apart: a core file that includes a header of the
# store, the engine or an adapter does not compile with core's include
# path, nor a store file that includes the engine's or an adapter's.  A
# file that includes what its layer may include compiles, so a failure
# here is the layering and not the compiler.  Last, the include graph of
# lib/'s modules (a .c and its .h are one module) must have no cycle:
# tsort(1) refuses a graph with one.
core=$1
redis=$2
dir=$(mktemp -d /tmp/cgicache-layers.XXXXXX)
trap 'rm -rf "$dir"' EXIT
status=0
# try LABEL COMPILE HEADER WANT: WANT is "builds" or "fails".
try() {
    printf '#include "%s"\nint layer_probe;\n' "$3" >"$dir/probe.c"
    if $2 -c "$dir/probe.c" -o "$dir/probe.o" 2>"$dir/err"; then got=builds; else got=fails; fi
    if [ "$got" = "$4" ]; then
        echo "ok - $1: #include \"$3\" $got"
    else
        echo "not ok - $1: #include \"$3\" $got, want $4"
        sed 's/^/    /' "$dir/err" | head -5
        status=1
    fi
}
try core "$core" key.h builds
try core "$core" store.h fails
try core "$core" cache.h fails
try core "$core" log.h fails
try core "$core" engine.h fails
try core "$core" cgi.h fails
try redis "$redis" key.h builds
try redis "$redis" log.h builds
try redis "$redis" engine.h fails
try redis "$redis" interpose.h fails
top=$(cd "$(dirname "$0")/.." && pwd)
for f in "$top"/lib/*.[ch] "$top"/lib/*/*.[ch]; do
    from=$(basename "$f"); from=${from%.*}
    sed -n 's/^#include "\([a-z_]*\)\.h".*/\1/p' "$f" | while read -r to; do
        [ "$to" != "$from" ] && echo "$from $to"
    done
done >"$dir/edges"
if tsort "$dir/edges" >/dev/null 2>"$dir/err"; then
    echo "ok - the include graph of lib/ has no cycle ($(wc -l <"$dir/edges") edges)"
else
    echo "not ok - the include graph of lib/ has a cycle:"
    sed 's/^/    /' "$dir/err" | head -10
    status=1
fi
exit $status
