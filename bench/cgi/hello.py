#!/usr/bin/env python3
# The benchmark's plain CGI script: a Python interpreter started per request.
import os, sys
sys.stdout.write("Content-Type: text/plain\r\n\r\nhello from python CGI %s\n" % os.environ.get("REQUEST_URI", ""))
