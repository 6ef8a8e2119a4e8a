#!/bin/sh
# cgi-wrapper.sh -- for web servers that do not pass LD_PRELOAD to CGI
# programs: point the server at this wrapper instead of the program.  The
# wrapper sets the configuration and runs the real program with the
# library preloaded; a hit is answered before the program starts.
export CGICACHE_REDIS=redis://127.0.0.1:6379/0
export CGICACHE_ROUTE_report='GET /cgi-bin/report.cgi ttl=60'
exec /usr/local/bin/cgicache run -- /usr/lib/cgi-bin/report-real.cgi
