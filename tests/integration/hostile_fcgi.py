#!/usr/bin/env python3
# hostile_fcgi.py SOCKET FILE -- a FastCGI responder on unix socket SOCKET
# that answers every request with the bytes of FILE as its whole output
# (head and body), whatever they are: header names and values with quotes,
# backslashes, control bytes or bytes that are not UTF-8, which no libfcgi
# app would write but any app may.  Read anew for each request.
import os
import socket
import struct
import sys
import threading

STDOUT, END_REQUEST, STDIN = 6, 3, 5


def record(kind, request_id, data):
    return struct.pack(">BBHHBB", 1, kind, request_id, len(data), 0, 0) + data


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def serve(conn, path):
    try:
        request_id = 1
        while True:    # up to the empty STDIN record that ends the request
            _, kind, request_id, length, padding, _ = struct.unpack(">BBHHBB", read_exact(conn, 8))
            read_exact(conn, length + padding)
            if kind == STDIN and length == 0:
                break
        with open(path, "rb") as f:
            answer = f.read()
        out = b""
        for off in range(0, len(answer), 65535):
            out += record(STDOUT, request_id, answer[off:off + 65535])
        out += record(STDOUT, request_id, b"")
        out += record(END_REQUEST, request_id, b"\0" * 8)
        conn.sendall(out)
    except (EOFError, OSError):
        pass
    finally:
        conn.close()


def main():
    sock_path, answer_path = sys.argv[1], sys.argv[2]
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock_path)
    s.listen(16)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, answer_path), daemon=True).start()


main()
