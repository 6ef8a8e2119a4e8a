#!/usr/bin/python3
"""fcgi_client.py ADDR COMMAND [ARG...] -- the FastCGI client t_wire.sh needs
where cgi-fcgi and the web servers cannot go: several requests on one
kept connection, two interleaved on one connection, an ABORT_REQUEST in
the middle of a response, malformed records, and bytes that are not
FastCGI.  ADDR is a unix socket path or HOST:PORT.  Each command prints
one line per fact, for the shell to compare:

  keep URI...         one connection with FCGI_KEEP_CONN, the requests in
                      turn: "STATUS END BODY_MD5 BODY_LEN REST_MD5" per
                      request (REST: the body after its first line); a
                      URI written NAME=VALUE@URI has one more param
                      (VALUE *N: N bytes of x)
  pipeline URI...     the same, every request sent at once before any
                      answer is read (each with id 1, as nginx numbers)
  --split N           (any command) params in records of N bytes
  mpx URI1 URI2 [--first-whole]
                      ids 1 and 2 on one connection, their records
                      interleaved (or the first request's head whole before
                      the second's): per id "ID STATUS END FIRST_BODY_LINE"
                      and "interleaved yes|no" (the answers' records)
  abort URI NEXT      reads the answer's first STDOUT, sends ABORT_REQUEST,
                      reads to END_REQUEST: "END aborted BODY_LEN", then
                      NEXT on the same connection: "STATUS END FIRST_BODY_LINE"
  bad KIND            one malformed connection; prints what came back
  echo URI            a connection that starts with HTTP text and goes on
                      with a whole FastCGI request for URI: "same" when
                      every byte came back as sent
  http                the same over HTTP/1.0 to an echoing HTTP server:
                      "same" when the body is the request, byte for byte
"""
import hashlib
import socket
import struct
import sys

BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = range(1, 8)
HEADER = struct.Struct(">BBHHBx")


def connect(addr):
    if "/" in addr:
        s = socket.socket(socket.AF_UNIX)
        s.connect(addr)
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    s.settimeout(5)
    return s


def record(kind, rid, content=b""):
    return HEADER.pack(1, kind, rid, len(content), 0) + content


def pairs(d):
    out = b""
    for k, v in d.items():
        k, v = k.encode(), v.encode()
        for s in (k, v):
            out += bytes([len(s)]) if len(s) < 0x80 else struct.pack(">I", len(s) | 0x80000000)
        out += k + v
    return out


def params_of(uri, method="GET"):
    path, _, query = uri.partition("?")
    return {"REQUEST_METHOD": method, "REQUEST_URI": uri, "QUERY_STRING": query,
            "SCRIPT_NAME": path, "SERVER_NAME": "localhost", "SERVER_PORT": "80",
            "HTTP_HOST": "localhost", "SERVER_PROTOCOL": "HTTP/1.1",
            "GATEWAY_INTERFACE": "CGI/1.1", "REMOTE_ADDR": "127.0.0.1"}


PARAMS_RECORD = 65535      # --split N: params in records of N bytes


def request(rid, uri, keep=True, extra=None):
    """A request's records, one list entry each."""
    params = params_of(uri)
    params.update(extra or {})
    content = pairs(params)
    return ([record(BEGIN_REQUEST, rid, struct.pack(">HB5x", 1, 1 if keep else 0))]
            + [record(PARAMS, rid, content[i:i + PARAMS_RECORD])
               for i in range(0, len(content), PARAMS_RECORD)]
            + [record(PARAMS, rid), record(STDIN, rid)])


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def next(self):
        """(type, id, content) of the next record; None at the end."""
        while True:
            if len(self.buf) >= 8:
                _, kind, rid, clen, plen = HEADER.unpack_from(self.buf)
                if len(self.buf) >= 8 + clen + plen:
                    content = self.buf[8:8 + clen]
                    self.buf = self.buf[8 + clen + plen:]
                    return kind, rid, content
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data


class Answer:
    def __init__(self):
        self.stdout, self.stderr, self.end = b"", b"", None

    def status(self):
        head = self.stdout.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        for line in head.split("\r\n"):
            if line.lower().startswith("x-cache-status:"):
                return line.split(":", 1)[1].strip()
        return "-"

    def body(self):
        return self.stdout.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in self.stdout else b""

    def end_text(self):
        if self.end is None:
            return "none"
        app, proto = struct.unpack(">IB", self.end[:5])
        return "%d/%d" % (app, proto)


def read_answers(reader, ids, order=None):
    """Reads until every id in ids has its END_REQUEST."""
    answers = {rid: Answer() for rid in ids}
    while any(a.end is None for a in answers.values()):
        try:
            rec = reader.next()
        except socket.timeout:
            print("timed out waiting for the rest of the answers", file=sys.stderr)
            break
        if rec is None:
            break
        kind, rid, content = rec
        if order is not None:
            order.append(rid)
        a = answers.get(rid)
        if a is None:
            print("record for an unknown id %d (type %d)" % (rid, kind))
        elif kind == STDOUT:
            a.stdout += content
        elif kind == STDERR:
            a.stderr += content
        elif kind == END_REQUEST:
            a.end = content
    return answers


def keep_request(uri):
    extra = {}
    if "=" in uri and not uri.startswith("/"):      # NAME=VALUE@URI: one more param
        param, uri = uri.split("@", 1)
        name, value = param.split("=", 1)
        extra[name] = "x" * int(value[1:]) if value.startswith("*") else value
    return b"".join(request(1, uri, extra=extra))


def keep(addr, uris, pipelined=False):
    s = connect(addr)
    reader = Reader(s)
    if pipelined:
        s.sendall(b"".join(keep_request(uri) for uri in uris))
    for uri in uris:
        if not pipelined:
            s.sendall(keep_request(uri))
        a = read_answers(reader, [1])[1]
        body = a.body()
        print(a.status(), a.end_text(), hashlib.md5(body).hexdigest(), len(body),
              hashlib.md5(body.partition(b"\n")[2]).hexdigest())


def mpx(addr, uri1, uri2, first_whole):
    s = connect(addr)
    s.settimeout(3)
    r1, r2 = request(1, uri1), request(2, uri2)
    if first_whole:
        s.sendall(b"".join(r1 + r2))
    else:
        s.sendall(b"".join(a + b for a, b in zip(r1, r2)))
    order = []
    answers = read_answers(Reader(s), [1, 2], order)
    for rid in (1, 2):
        a = answers[rid]
        print(rid, a.status(), a.end_text(), a.body().split(b"\n", 1)[0].split(b" ")[0].decode())
    switches = sum(1 for x, y in zip(order, order[1:]) if x != y)
    print("interleaved", "yes" if switches >= 2 else "no")


def abort(addr, uri, next_uri):
    s = connect(addr)
    reader = Reader(s)
    s.sendall(b"".join(request(1, uri)))
    a = Answer()
    while True:
        kind, rid, content = reader.next()
        if kind == STDOUT:
            a.stdout += content
            break
    s.sendall(record(ABORT_REQUEST, 1))
    while a.end is None:
        rec = reader.next()
        if rec is None:
            break
        if rec[0] == STDOUT:
            a.stdout += rec[2]
        elif rec[0] == END_REQUEST:
            a.end = rec[2]
    print(a.end_text(), "aborted", len(a.body()))
    s.sendall(b"".join(request(1, next_uri)))
    b = read_answers(reader, [1])[1]
    print(b.status(), b.end_text(), b.body().split(b"\n", 1)[0].split(b" ")[0].decode())


def bad(addr, kind):
    good = b"".join(request(1, "/w/bad"))
    begin = good[:16]
    sent = {
        # a whole BEGIN_REQUEST, then bytes that are no record
        "garbage": begin + b"\x07\xffGARBAGE" * 50,
        # a request cut in the middle of its params
        "truncated": good[:30],
        # a few bytes of a header, then the end (a health check that writes)
        "short": good[:3],
        # a header announcing 65535 + 255 bytes, and a few of them
        "huge": begin + HEADER.pack(1, PARAMS, 1, 0xFFFF, 0xFF) + b"x" * 100,
        # a param whose length says 2 GB
        "badpairs": begin + record(PARAMS, 1, b"\xff\xff\xff\xf0\x01ab") + record(PARAMS, 1)
                    + record(STDIN, 1),
        # a record of version 2
        "version": HEADER.pack(2, BEGIN_REQUEST, 1, 8, 0) + b"\0" * 8,
        # id 0, a type out of range
        "types": record(BEGIN_REQUEST, 0, b"\0\1" + b"\0" * 6) + record(99, 0) + good,
    }[kind]
    s = connect(addr)
    s.sendall(sent)
    s.shutdown(socket.SHUT_WR)
    got = b""
    try:
        while True:
            data = s.recv(65536)
            if not data:
                break
            got += data
    except (socket.timeout, ConnectionError) as e:
        print(kind, "error", type(e).__name__)
        return
    print(kind, "closed", len(got))


def echo(addr, uri):
    sent = (b"GET /w/echo HTTP/1.1\r\nHost: localhost\r\n\r\n" + b"".join(request(1, uri))
            + bytes(range(256)) * 4)
    s = connect(addr)
    s.sendall(sent)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        data = s.recv(65536)
        if not data:
            break
        got += data
    print("same" if got == sent else "differs: %d bytes sent, %d back: %r" % (len(sent), len(got), got[:200]))


def http(addr):
    payload = b"".join(request(1, "/w/in-http")) + bytes(range(256)) * 300
    sent = (b"POST /echo HTTP/1.0\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(payload)
            + payload)
    s = connect(addr)
    s.sendall(sent)
    got = b""
    while True:
        data = s.recv(65536)
        if not data:
            break
        got += data
    head, _, body = got.partition(b"\r\n\r\n")
    want = b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d" % len(sent)
    print("same" if head == want and body == sent else "differs: %r" % got[:200])


def main():
    global PARAMS_RECORD
    argv = sys.argv[1:]
    if "--split" in argv:
        PARAMS_RECORD = int(argv.pop(argv.index("--split") + 1))
        argv.remove("--split")
    addr, cmd, args = argv[0], argv[1], argv[2:]
    if cmd == "keep":
        keep(addr, args)
    elif cmd == "pipeline":
        keep(addr, args, pipelined=True)
    elif cmd == "mpx":
        mpx(addr, args[0], args[1], "--first-whole" in args)
    elif cmd == "abort":
        abort(addr, args[0], args[1])
    elif cmd == "bad":
        bad(addr, args[0])
    elif cmd == "echo":
        echo(addr, args[0])
    elif cmd == "http":
        http(addr)


main()
