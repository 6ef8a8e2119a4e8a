#!/usr/bin/python3
"""fcgi_server.py -- a FastCGI responder in plain Python (standard library
only) that speaks the protocol itself on its own sockets, as php-fpm and
the pure Perl/Python/Ruby servers do: the app the wire adapter
(lib/adapters/wire.c) is tested with (tests/integration/t_wire.sh).  It
can serve connections one at a time, from one non-blocking event loop,
or a thread each; write its records in pieces of 1-7 bytes; answer
several requests of one connection interleaved (FCGI_MPXS_CONNS); read
each record by itself, header then content, as flup does, answering a
request without a body once its params are in and reading its empty
STDIN only after (--record-reads); and serve a plain HTTP/1.0 echo on
another port of the same process.  A connection whose first byte is not
a FastCGI version byte is echoed back.

The answer is built from the params: a CGI head (Cache-Control: max-age=60
unless the query says otherwise) and a body with REQUEST_URI and a
per-process counter.  Query words: nocache (no-store), maxage=N, cookie
(Set-Cookie), status=N, slow=MS (half the body, then a pause watching for
ABORT_REQUEST, then the rest), big=N (N more bytes of text), fail
(END_REQUEST with app status 1), stderr (a STDERR record too).

    fcgi_server.py [--unix PATH | --port N] [--mode blocking|nonblocking|threaded]
                   [--tiny-writes] [--mpxs] [--record-reads] [--count FILE]
                   [--http-port N]
With neither --unix nor --port, the listening socket is fd 0 (spawn-fcgi).
"""
import argparse
import collections
import itertools
import os
import random
import select
import selectors
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.parse

BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR, DATA, \
    GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = range(1, 12)
RESPONDER, KEEP_CONN = 1, 1
REQUEST_COMPLETE, CANT_MPX_CONN, OVERLOADED, UNKNOWN_ROLE = range(4)
HEADER = struct.Struct(">BBHHBx")
BODY_RECORD = 4000          # STDOUT content per record: a 1 MiB body is many

OPTS = None
COUNTER = itertools.count(1)
COUNT_LOCK = threading.Lock()


def record(kind, rid, content=b""):
    """One record, padded to a multiple of 8 bytes as libfcgi does."""
    pad = -len(content) % 8
    return HEADER.pack(1, kind, rid, len(content), pad) + content + b"\0" * pad


def end_request(rid, app_status=0, protocol_status=REQUEST_COMPLETE):
    return record(END_REQUEST, rid, struct.pack(">IB3x", app_status, protocol_status))


def decode_pairs(data):
    """Name-value pairs; stops quietly at the first malformed one."""
    pairs, i = {}, 0
    while i < len(data):
        lengths = []
        for _ in range(2):
            if i < len(data) and data[i] < 0x80:
                lengths.append(data[i])
                i += 1
            elif i + 4 <= len(data):
                lengths.append(struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF)
                i += 4
            else:
                return pairs
        name_len, value_len = lengths
        if i + name_len + value_len > len(data):
            return pairs
        name = data[i:i + name_len].decode("latin-1")
        pairs[name] = data[i + name_len:i + name_len + value_len].decode("latin-1")
        i += name_len + value_len
    return pairs


def encode_pairs(pairs):
    out = b""
    for name, value in pairs.items():
        for s in (name, value):
            out += bytes([len(s)]) if len(s) < 0x80 else struct.pack(">I", len(s) | 0x80000000)
        out += name.encode() + value.encode()
    return out


def filler(n):
    """n bytes of numbered text lines (t_wire.sh computes the same)."""
    lines = b"".join(b"%08d abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRS\n" % i
                     for i in range(n // 64 + 1))
    return lines[:n]


def answer(rid, params, stdin):
    """The records of one response, with ("sleep", seconds) where it pauses."""
    n = next(COUNTER)
    uri = params.get("REQUEST_URI", "")
    query = urllib.parse.parse_qs(params.get("QUERY_STRING", ""), keep_blank_values=True)
    if OPTS.count:
        with COUNT_LOCK, open(OPTS.count, "a") as f:
            f.write("%d %s %s\n" % (os.getpid(), params.get("REQUEST_METHOD", "-"), uri))
    head = ["Content-Type: text/plain"]
    if "status" in query:
        head.insert(0, "Status: %s" % query["status"][0])
    if "nocache" in query:
        head.append("Cache-Control: no-store")
    else:
        head.append("Cache-Control: max-age=%s" % query.get("maxage", ["60"])[0])
    if "cookie" in query:
        head.append("Set-Cookie: session=%d; Path=/" % n)
    body = ("uri=%s n=%d pid=%d method=%s stdin=%d\n"
            % (uri, n, os.getpid(), params.get("REQUEST_METHOD", "-"), len(stdin))).encode()
    if "big" in query:
        body += filler(int(query["big"][0] or 0))
    out = [record(STDOUT, rid, ("\r\n".join(head) + "\r\n\r\n").encode())]
    if "stderr" in query:
        out.append(record(STDERR, rid, b"fcgi_server: a line on stderr for %s\n" % uri.encode()))
    parts = [body[i:i + BODY_RECORD] for i in range(0, len(body), BODY_RECORD)]
    if "slow" in query:
        half = (len(parts) + 1) // 2
        parts = parts[:half] + [("sleep", int(query["slow"][0] or 0) / 1000.0)] + parts[half:]
    out += [p if isinstance(p, tuple) else record(STDOUT, rid, p) for p in parts]
    out.append(record(STDOUT, rid))
    out.append(end_request(rid, 1 if "fail" in query else 0))
    return out


class Request:
    def __init__(self, rid, keep):
        self.rid, self.keep = rid, keep
        self.params, self.stdin = b"", b""
        self.answering = False


class Connection:
    """The protocol of one connection, without I/O: bytes in by feed(),
    records out by next_output(); wait() says how long until one is due."""

    def __init__(self):
        self.inbuf = bytearray()
        self.seen = False
        self.echo = False            # not FastCGI: what comes in goes back
        self.broken = False          # a bad record: the connection ends
        self.closing = False         # a request without KEEP_CONN ended
        self.eof = False             # the peer is done sending
        self.requests = {}           # id -> Request, read or being answered
        self.queues = collections.OrderedDict()   # id -> deque of records / pauses
        self.control = collections.deque()

    def done(self):
        idle = not self.queues and not self.control
        return self.broken or (idle and (self.closing or self.eof))

    def feed(self, data):
        if not self.seen and data:
            self.seen = True
            self.echo = data[0] != 1
        if self.echo:
            self.control.append(bytes(data))
            return
        self.inbuf += data
        while len(self.inbuf) >= HEADER.size and not self.broken:
            version, kind, rid, clen, plen = HEADER.unpack_from(self.inbuf)
            if version != 1:
                self.broken = True
                break
            if len(self.inbuf) < HEADER.size + clen + plen:
                break
            content = bytes(self.inbuf[HEADER.size:HEADER.size + clen])
            del self.inbuf[:HEADER.size + clen + plen]
            self.on_record(kind, rid, content)

    def on_record(self, kind, rid, content):
        req = self.requests.get(rid)
        if kind == GET_VALUES and rid == 0:
            known = {"FCGI_MAX_CONNS": "100", "FCGI_MAX_REQS": "100",
                     "FCGI_MPXS_CONNS": "1" if OPTS.mpxs else "0"}
            asked = decode_pairs(content)
            self.control.append(record(GET_VALUES_RESULT, 0, encode_pairs(
                {k: v for k, v in known.items() if k in asked})))
        elif kind == BEGIN_REQUEST and rid != 0 and len(content) >= 8:
            role, flags = struct.unpack(">HB", content[:3])
            if req is not None or (self.requests and not OPTS.mpxs):
                self.control.append(end_request(rid, 0, CANT_MPX_CONN))
            elif role != RESPONDER:
                self.control.append(end_request(rid, 0, UNKNOWN_ROLE))
            else:
                self.requests[rid] = Request(rid, bool(flags & KEEP_CONN))
        elif kind == PARAMS and req is not None and not req.answering:
            req.params += content
            if not content and OPTS.record_reads and \
                    decode_pairs(req.params).get("CONTENT_LENGTH", "0") in ("", "0"):
                self.start(req)      # its empty STDIN is read later
        elif kind == STDIN and req is not None and not req.answering:
            req.stdin += content
            if not content:
                self.start(req)

        elif kind == ABORT_REQUEST and req is not None:
            # Whatever was still to come is dropped; the request ends at once.
            self.queues[rid] = collections.deque([end_request(rid)])
        elif kind not in (BEGIN_REQUEST, ABORT_REQUEST, PARAMS, STDIN, DATA) and rid == 0:
            self.control.append(record(UNKNOWN_TYPE, 0, bytes([kind]) + b"\0" * 7))

    def start(self, req):
        req.answering = True
        self.queues[req.rid] = collections.deque(
            answer(req.rid, decode_pairs(req.params), req.stdin))

    def want(self):
        """With --record-reads, the bytes that end the record begun (or
        its header); else as many as there are."""
        if not OPTS.record_reads:
            return 65536
        if len(self.inbuf) < HEADER.size:
            return HEADER.size - len(self.inbuf)
        _, _, _, clen, plen = HEADER.unpack_from(self.inbuf)
        return HEADER.size + clen + plen - len(self.inbuf)
    def next_output(self, now):
        """The next record due, taking the requests in turn; or None."""
        if self.control:
            return self.control.popleft()
        for _ in range(len(self.queues)):
            rid, q = next(iter(self.queues.items()))
            self.queues.move_to_end(rid)
            if q and isinstance(q[0], tuple):
                if q[0][0] == "sleep":
                    q[0] = ("until", now + q[0][1])
                if q[0][1] > now:
                    continue
                q.popleft()
            if not q:
                continue
            rec = q.popleft()
            if rec[1] == END_REQUEST:
                del self.queues[rid]
                if not self.requests.pop(rid).keep:
                    self.closing = True
            return rec
        return None

    def wait(self, now):
        """Seconds until a paused request goes on, or None when none waits."""
        times = [q[0][1] for q in self.queues.values() if q and q[0][0] == "until"]
        return max(0.0, min(times) - now) if times else None


class Wire:
    """Writes records to a socket, whole or in pieces of 1-7 bytes through
    os.write and sock.send in turn (--tiny-writes)."""

    def __init__(self, sock):
        self.sock, self.fd = sock, sock.fileno()
        self.buf = bytearray()
        self.turn = 0
        self.rng = random.Random(self.fd)

    def flush(self):
        """Writes what it holds; BlockingIOError when the socket is full."""
        while self.buf:
            if OPTS.tiny_writes:
                piece = bytes(self.buf[:self.rng.randint(1, 7)])
                self.turn ^= 1
                n = os.write(self.fd, piece) if self.turn else self.sock.send(piece)
            else:
                n = self.sock.send(self.buf)
            del self.buf[:n]


def drain(sock):
    """Reads what is still there (an empty STDIN left for later) before the
    close: a socket closed on unread bytes resets the connection, and the
    web server may lose the end of the answer."""
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


def serve_blocking(sock):
    """One connection on a blocking socket, to its end."""
    conn, wire = Connection(), Wire(sock)
    try:
        while True:
            rec = conn.next_output(time.monotonic())
            while rec is not None:
                wire.buf += rec
                rec = conn.next_output(time.monotonic())
            wire.flush()
            if conn.done():
                drain(sock)
                break
            pause = conn.wait(time.monotonic())
            if conn.eof:
                time.sleep(pause or 0.01)   # only a pause can be left
                continue
            if pause is not None and not select.select([sock], [], [], pause)[0]:
                continue
            data = sock.recv(conn.want())
            if data:
                conn.feed(data)
            else:
                conn.eof = True
    except (ConnectionError, BrokenPipeError):
        pass
    except Exception:
        traceback.print_exc()
    finally:
        sock.close()


def serve_nonblocking(listener):
    """Every connection from one selectors loop on non-blocking sockets."""
    sel = selectors.DefaultSelector()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ)
    conns, watched = {}, {}                      # sock -> (Connection, Wire), events

    def watch(sock, want):
        have = watched.get(sock, 0)
        if want != have:
            if not have:
                sel.register(sock, want)
            elif not want:
                sel.unregister(sock)
            else:
                sel.modify(sock, want)
            watched[sock] = want

    def drop(sock):
        watch(sock, 0)
        del conns[sock], watched[sock]
        sock.close()

    while True:
        now = time.monotonic()
        waits = [w for w in (c.wait(now) for c, _ in conns.values()) if w is not None]
        for key, events in sel.select(min(waits) if waits else None):
            sock = key.fileobj
            if sock is listener:
                while True:
                    try:
                        new, _ = listener.accept()
                    except BlockingIOError:
                        break
                    new.setblocking(False)
                    conns[new] = (Connection(), Wire(new))
                    watch(new, selectors.EVENT_READ)
                continue
            if not events & selectors.EVENT_READ:
                continue
            try:
                data = sock.recv(conns[sock][0].want())
            except BlockingIOError:
                continue         # readable, and then not (a hit took it): fine
            except ConnectionError:
                data = b""
            if data:
                conns[sock][0].feed(data)
            else:
                conns[sock][0].eof = True    # what it still owes goes out first
        for sock, (conn, wire) in list(conns.items()):
            now = time.monotonic()
            rec = conn.next_output(now)
            while rec is not None:
                wire.buf += rec
                rec = conn.next_output(now)
            try:
                wire.flush()
            except BlockingIOError:
                pass
            except ConnectionError:
                drop(sock)
                continue
            if conn.done() and not wire.buf:
                drain(sock)
                drop(sock)
                continue
            watch(sock, (0 if conn.eof else selectors.EVENT_READ)
                  | (selectors.EVENT_WRITE if wire.buf else 0))


def serve_threaded(listener):
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve_blocking, args=(sock,), daemon=True).start()


def serve_http(port):
    """HTTP/1.0 on 127.0.0.1:port: every request's bytes come back as the body."""
    listener = socket.create_server(("127.0.0.1", port))

    def one(sock):
        with sock:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                data += chunk
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
            length = 0
            for line in head.split("\r\n")[1:]:
                if line.startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            while len(data) - len(head) - 4 < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(data))
            os.write(sock.fileno(), data)

    while True:
        sock, _ = listener.accept()
        threading.Thread(target=one, args=(sock,), daemon=True).start()


def main():
    global OPTS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--unix")
    p.add_argument("--port", type=int)
    p.add_argument("--mode", choices=("blocking", "nonblocking", "threaded"), default="blocking")
    p.add_argument("--tiny-writes", action="store_true")
    p.add_argument("--mpxs", action="store_true")
    p.add_argument("--record-reads", action="store_true")
    p.add_argument("--count")
    p.add_argument("--http-port", type=int)
    OPTS = p.parse_args()
    if OPTS.unix:
        if os.path.exists(OPTS.unix):
            os.unlink(OPTS.unix)
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(OPTS.unix)
        os.chmod(OPTS.unix, 0o666)    # nginx's workers are not root
        listener.listen(64)
    elif OPTS.port:
        listener = socket.create_server(("127.0.0.1", OPTS.port), backlog=64)
    else:
        listener = socket.socket(fileno=0)
    if OPTS.http_port:
        threading.Thread(target=serve_http, args=(OPTS.http_port,), daemon=True).start()
    if OPTS.mode == "nonblocking":
        serve_nonblocking(listener)
    elif OPTS.mode == "threaded":
        serve_threaded(listener)
    else:
        while True:
            sock, _ = listener.accept()
            serve_blocking(sock)


if __name__ == "__main__":
    main()
