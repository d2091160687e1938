#!/usr/bin/env python3
"""Loopback HTTP server for the agent.http specs (tests/lua/http_spec.lua).

Python standard library only. Listens on 127.0.0.1, port 0, and writes the port it got to
--port-file once it accepts connections (testutil.start_server waits for that file).

Endpoints (any method unless noted):
  /echo                 JSON {method, path, query, headers (lower-case), body};
                        with ?raw=1 the request body itself
  /slow?ms=N&id=X       waits N ms, then answers X
  /status?code=N        answers with status N
  /flaky?key=K&fail=N&status=S[&retry_after=V][&date_in=SECS]
                        the first N hits for key K answer S (with Retry-After: V, or an
                        HTTP-date SECS seconds ahead), later ones 200; /hits?key=K lists the
                        server's clock (seconds) at each hit
  /sse                  a server-sent-event stream in chunks cut mid-line (SSE_CHUNKS)
  /big?mb=N[&chunked=1]&key=K
                        N MiB of 'x'; /sent?key=K tells how many bytes were written before
                        the client hung up
  /drop                 promises 1000 bytes, sends 100, closes the connection
  /hang                 reads the request and never answers
  /headers              repeated and mixed-case response headers
  /gzip                 a gzip-encoded body
  /bighead?kb=N         N KiB of response headers
A request whose target is an absolute URL (http://host:port/path) is proxied: forwarded to
that URL, with "Via: 1.1 agent-fixture-proxy" added to the answer.
"""
import argparse
import email.utils
import gzip
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The SSE stream, cut where a parser is most likely to slip: inside the byte-order mark,
# mid-field, mid-value, between the CR and LF of a CRLF, and after a lone CR. The pause before
# the last piece lets a spec tell streaming from buffering.
SSE_CHUNKS = [
    b"\xef\xbb",
    b"\xbf: a comment\nevent: gree",
    b"ting\ndata: hello\nda",
    b"ta:  two\nid: 1\n\ndata:no-space\r",
    b"\n\r\nretry: 1500\rdata: thi",
    b"rd\r\r",
    0.4,
    b'event: last\ndata: {"done":true}\n\n',
]

STATE_LOCK = threading.Lock()
HITS = {}  # key -> [server clock at each hit]
SENT = {}  # key -> bytes written by /big


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a client may reuse connections

    def log_message(self, fmt, *args):  # quiet: the spec reads failures, not access logs
        pass

    # ---- helpers -------------------------------------------------------------------------
    def reply(self, status, body=b"", headers=None, ctype="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers or []:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    # ---- dispatch ------------------------------------------------------------------------
    def handle_any(self):
        if self.path.startswith("http://"):
            return self.proxy()
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        route = getattr(self, "route_" + url.path.strip("/"), None)
        if route is None:
            return self.reply(404, "no such endpoint: " + url.path)
        return route(url, q)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

    # ---- endpoints -----------------------------------------------------------------------
    def route_echo(self, url, q):
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = headers[name] + ", " + value if name in headers else value
        body = self.read_body()
        if q.get("raw") == "1":
            return self.reply(200, body, ctype="application/octet-stream")
        doc = {"method": self.command, "path": url.path, "query": url.query,
               "headers": headers, "body": body.decode("latin-1")}
        self.reply(200, json.dumps(doc), ctype="application/json")

    def route_slow(self, url, q):
        self.read_body()
        time.sleep(int(q.get("ms", "300")) / 1000)
        self.reply(200, q.get("id", "slow"))

    def route_status(self, url, q):
        code = int(q.get("code", "200"))
        self.reply(code, "status %d" % code)

    def route_flaky(self, url, q):
        self.read_body()
        key = q.get("key", "")
        with STATE_LOCK:
            hits = HITS.setdefault(key, [])
            hits.append(time.monotonic())
            n = len(hits)
        if n <= int(q.get("fail", "1")):
            headers = []
            if "retry_after" in q:
                headers.append(("Retry-After", q["retry_after"]))
            if "date_in" in q:
                when = time.time() + float(q["date_in"])
                headers.append(("Retry-After", email.utils.formatdate(when, usegmt=True)))
            return self.reply(int(q.get("status", "503")), "failure %d" % n, headers)
        self.reply(200, "ok after %d" % (n - 1))

    def route_hits(self, url, q):
        with STATE_LOCK:
            hits = list(HITS.get(q.get("key", ""), []))
        self.reply(200, json.dumps(hits), ctype="application/json")

    def route_sse(self, url, q):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for piece in SSE_CHUNKS:
            if isinstance(piece, float):
                time.sleep(piece)
                continue
            self.write_chunk(piece)
            time.sleep(0.05)
        self.wfile.write(b"0\r\n\r\n")

    def route_big(self, url, q):
        total = int(q.get("mb", "50")) * 1024 * 1024
        key = q.get("key", "")
        chunked = q.get("chunked") == "1"
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(total))
        self.end_headers()
        block = b"x" * 65536
        sent = 0
        try:
            while sent < total:
                if chunked:
                    self.write_chunk(block)
                else:
                    self.wfile.write(block)
                sent += len(block)
                with STATE_LOCK:
                    SENT[key] = sent
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client hung up: what we managed to send is the answer
            self.close_connection = True

    def route_sent(self, url, q):
        with STATE_LOCK:
            sent = SENT.get(q.get("key", ""), 0)
        self.reply(200, str(sent))

    def route_drop(self, url, q):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"y" * 100)
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def route_hang(self, url, q):
        time.sleep(int(q.get("ms", "60000")) / 1000)
        self.close_connection = True

    def route_headers(self, url, q):
        self.send_response(200)
        self.send_header("Set-Cookie", "a=1")
        self.send_header("Set-Cookie", "b=2")
        self.send_header("X-Mixed-CASE", "  padded value  ")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def route_gzip(self, url, q):
        text = ("compressible line\n" * 1000).encode()
        self.reply(200, gzip.compress(text), [("Content-Encoding", "gzip")])

    def route_bighead(self, url, q):
        self.send_response(200)
        for i in range(int(q.get("kb", "512"))):
            self.send_header("X-Filler-%d" % i, "f" * 1000)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    # ---- the tiny forward proxy ---------------------------------------------------------
    def proxy(self):
        target = urllib.parse.urlsplit(self.path)
        body = self.read_body()
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("proxy-connection", "connection", "keep-alive", "host")}
        conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=10)
        path = target.path + ("?" + target.query if target.query else "")
        try:
            conn.request(self.command, path or "/", body=body or None, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
        except OSError as e:
            return self.reply(502, "proxy: %s" % e)
        finally:
            conn.close()
        skip = ("transfer-encoding", "connection", "content-length", "keep-alive")
        kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in skip]
        kept.append(("Via", "1.1 agent-fixture-proxy"))
        self.send_response(answer.status)
        for name, value in kept:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung /hang must not keep the process alive
    # socketserver's default listen backlog is 5: a burst of concurrent connects overflows it
    # and the kernel drops SYNs, which the client resends only after a second.
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # Clients that hang up mid-exchange are what several specs do on purpose.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(tmp, args.port_file)  # whole or absent: the reader never sees half a number
    server.serve_forever()


if __name__ == "__main__":
    main()
