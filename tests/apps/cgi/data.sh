#!/bin/bash
# A CGI script holding one value: a PUT with ?v=VALUE stores it, every
# answer shows it, so a test can tell a fresh page from a stale one.
data=$APP_COUNTER.data
if [ "$REQUEST_METHOD" = PUT ]; then
    printf '%s' "${QUERY_STRING#v=}" >"$data"
fi
printf 'Content-Type: text/plain\r\n\r\n'
echo "data=$(cat "$data" 2>/dev/null)"
