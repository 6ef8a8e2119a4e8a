#!/bin/bash
# A CGI script in bash: the shell and every command it runs write to stdout.
echo run >>"$APP_COUNTER"
case "$QUERY_STRING" in *slow=1*) sleep 0.5 ;; esac
printf 'Content-Type: text/plain\r\n'
case "$QUERY_STRING" in *cookie=1*) printf 'Set-Cookie: s=%s\r\n' $$ ;; esac
printf '\r\n'
echo "bash pid=$$ preload=[${LD_PRELOAD:-}]"
# A child program: it must not load the cache itself.
env | grep -c '^LD_PRELOAD=.*libcgicache' | sed 's/^/child sees preload: /'
seq 1 300
case "$QUERY_STRING" in *kill=1*) kill -9 $$ ;; esac
case "$QUERY_STRING" in *segv=1*) kill -SEGV $$ ;; esac
case "$QUERY_STRING" in *exit=1*) exit 1 ;; esac
exit 0
