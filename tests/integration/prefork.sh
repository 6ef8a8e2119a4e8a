#!/bin/bash
# prefork.sh N PROGRAM [ARGS] -- runs N copies of a FastCGI program on the
# listening socket it was given as stdin, like spawn-fcgi -F N, and starts
# a new one whenever one dies (as any process manager would), but stays in
# the foreground so a test stops all of them through one PID.
n=$1
shift
stopping=0
trap 'stopping=1; kill $(jobs -p) 2>/dev/null' TERM INT
for _ in $(seq "$n"); do
    "$@" <&0 &
done
while [ "$stopping" = 0 ]; do
    wait -n
    [ "$stopping" = 0 ] && { "$@" <&0 & }
done
# libfcgi turns SIGTERM into a flag its accept loop reads only when a
# request comes: a copy still blocked in accept() is killed after 2 s.
for _ in $(seq 40); do
    [ -z "$(jobs -pr)" ] && break
    sleep 0.05
done
kill -9 $(jobs -pr) 2>/dev/null
wait
