#!/usr/bin/env python3
# lying_sentinel.py PORT HOST RPORT -- a sentinel that names HOST:RPORT (a
# replica, in the tests) as every master it is asked for, and says OK to
# anything else: a client must check what it is told before writing.
import socket
import sys
import threading


def serve(conn, answer):
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            if b"get-master-addr-by-name" in data.lower():
                conn.sendall(answer)
            else:
                conn.sendall(b"+OK\r\n")
    except OSError:
        pass
    finally:
        conn.close()


def main():
    port, host, rport = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    answer = b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(host), host.encode(), len(rport), rport.encode())
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(64)
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn, answer), daemon=True).start()


main()
