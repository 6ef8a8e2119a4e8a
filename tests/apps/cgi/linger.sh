#!/bin/bash
# A CGI program slow to exit after its response, as fossil is: it writes
# the whole response, closes stdout, then works on for a moment and exits
# 0.  lighttpd's mod_cgi sends SIGTERM as soon as it reads the end of the
# response.  With hang=1 in the query it lingers 30 s, and writes its pid
# to $APP_COUNTER.pid.
echo run >>"$APP_COUNTER"
LINGER=0.3
case "$QUERY_STRING" in *hang=1*) LINGER=30; echo $$ >"$APP_COUNTER.pid" ;; esac
printf 'Content-Type: text/plain\r\n\r\n'
echo "uri=$REQUEST_URI at=$(date +%s%N)"
seq 1 100
exec 1>&-
sleep "$LINGER"
exit 0
