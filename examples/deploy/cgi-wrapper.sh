#!/bin/sh
# cgi-wrapper.sh -- caches a CGI program on a web server that does not let
# LD_PRELOAD (or CGICACHE_*) reach CGI programs: Apache with suexec, which
# passes only a fixed list of safe variables, or any server whose CGI
# environment you cannot extend.
#
# The server runs this script instead of the program.  It sets the
# configuration itself and replaces itself (exec, same process) with the
# real program, preloaded with libcgicache.so by `cgicache run`.  cgicache
# then works as for any CGI program: a hit is written and the process ends
# before the program's main() (or its interpreter) runs; on a miss the
# program's output goes to the client as it comes and a copy is stored.
#
# Use it one of two ways:
#
#  a) In the program's place.  Move the program aside and put this wrapper
#     where the URL points, executable and owned like the program was:
#       mv /usr/lib/cgi-bin/report.cgi /usr/lib/cgi-bin/report-real.cgi
#       install -m 0755 cgi-wrapper.sh /usr/lib/cgi-bin/report.cgi
#     and set REAL below to the moved program.
#
#  b) As an interpreter, for every script of a kind: leave REAL empty and
#     let the server name the script, e.g. lighttpd
#       cgi.assign = (".cgi" => "/usr/local/bin/cgi-wrapper.sh")
#     which runs "cgi-wrapper.sh /path/to/script.cgi".
#
# Check with:  curl -si http://localhost/cgi-bin/report.cgi | grep -i cache

# The routes this program's URLs fall under, and the Redis they share with
# every other worker.  (Or keep them all in one file: CGICACHE_CONFIG.)
export CGICACHE_REDIS=redis://127.0.0.1:6379/0
export CGICACHE_ROUTE_report='GET /cgi-bin/report.cgi ttl=60'
# export CGICACHE_CONFIG=/etc/cgicache.conf

# The real program; empty in way b).
REAL=/usr/lib/cgi-bin/report-real.cgi

if [ -z "$REAL" ]; then
    # Way b): the server put the script first.  (In way a) any arguments
    # come from the query string, so they are never taken as a program.)
    REAL=$1
    shift
fi
# "$@": the CGI program's own arguments (an ISINDEX query), passed on.
exec /usr/local/bin/cgicache run -- "$REAL" "$@"
