#!/bin/bash
# A CGI script holding one value: a PUT with ?v=VALUE stores it, every
# answer shows it, so a test can tell a fresh page from a stale one.
# With big=1 in the query, 2 MB of filler follow (a client can hang up
# before the end).
data=$APP_COUNTER.data
if [ "$REQUEST_METHOD" = PUT ]; then
    value=${QUERY_STRING#v=}
    printf '%s' "${value%%&*}" >"$data"
fi
printf 'Content-Type: text/plain\r\n\r\n'
echo "data=$(cat "$data" 2>/dev/null)"
case "$QUERY_STRING" in *big=1*) head -c 2000000 /dev/zero | tr '\0' x ;; esac
