#!/usr/bin/env python3
# A CGI script in Python.
import os, sys
with open(os.environ["APP_COUNTER"], "a") as f:
    f.write("run\n")
sys.stdout.write("Content-Type: text/plain\r\n\r\n")
sys.stdout.write("python pid=%d preload=[%s]\n" % (os.getpid(), os.environ.get("LD_PRELOAD", "")))
for i in range(300):
    sys.stdout.write("line %d\n" % i)
sys.exit(1 if "exit=1" in os.environ.get("QUERY_STRING", "") else 0)
