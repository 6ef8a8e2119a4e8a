#!/usr/bin/env python3
# hostile_redis.py PORT MODE -- a peer on the Redis port that is not Redis:
# it answers the first bytes of every connection with what MODE says and
# then holds the connection open, so the client's deadline and bounds are
# all that stand between it and an app's request.
#   array    "*2147483647"          an array no memory can hold
#   bulk     "$9999999999"          a ten-gigabyte string, never sent
#   nested   "*1" x 1000            arrays within arrays
#   drip     "+" then a byte every 10 ms, no line end, forever
#   flood    "$999999999" then bytes as fast as the socket takes them
#   garbage  an HTTP error page
import socket
import sys
import threading
import time

PAYLOADS = {
    "array": b"*2147483647\r\n",
    "bulk": b"$9999999999\r\n",
    "nested": b"*1\r\n" * 1000,
    "garbage": b"HTTP/1.1 400 Bad Request\r\n\r\n\x00\xff\xfe<html>",
}


def serve(conn, mode):
    try:
        conn.recv(65536)
        if mode == "drip":
            conn.sendall(b"+")
            while True:
                conn.sendall(b"a")
                time.sleep(0.01)
        elif mode == "flood":
            conn.sendall(b"$999999999\r\n")
            chunk = b"x" * 65536
            while True:
                conn.sendall(chunk)
        else:
            conn.sendall(PAYLOADS[mode])
            while conn.recv(65536):
                pass
    except OSError:
        pass
    finally:
        conn.close()


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(64)
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn, mode), daemon=True).start()


main()
