#!/usr/bin/env python3
"""fault_proxy.py: an HTTP proxy in front of a real `lrhub serve`, for
tests/e2e_pull.sh. It forwards every request to the upstream server except
those whose number (1-based, in arrival order) the command line names, which
it answers itself with an error status, so the retry paths of `lrhub pull`
meet real 5xx and 429 answers in the middle of a real paging sequence.
":echo" makes the answer's message repeat the request's Authorization
header, as a careless server might, to check that pull never shows it.

  fault_proxy.py UPSTREAM_ORIGIN LOG N=STATUS[:RETRY_AFTER|:echo] ...

  e.g. fault_proxy.py http://127.0.0.1:8080 /tmp/log 2=503 3=429:1

With FAULT_PROXY_TLS=CERT.pem:KEY.pem in the environment it serves HTTPS
with that certificate instead (a real TLS server for pull's verification).

It prints "listening on http://127.0.0.1:PORT" once it accepts connections
and appends one line per request to LOG: its number, what it answered, the
path, and whether it carried an Authorization header and which
X-Experience-API-Version (never the credentials themselves).
"""
import http.client
import http.server
import os
import ssl
import sys
import threading
import urllib.parse

upstream = urllib.parse.urlsplit(sys.argv[1])
log_path = sys.argv[2]
faults = {}
for spec in sys.argv[3:]:
    number, answer = spec.split("=", 1)
    status, _, retry_after = answer.partition(":")
    faults[int(number)] = (int(status), retry_after)
lock = threading.Lock()
count = 0


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def note(self, answer):
        with lock, open(log_path, "a") as log:
            log.write("%d %s %s auth=%s version=%s\n" % (
                self.number, answer, self.path,
                "yes" if self.headers.get("Authorization") else "no",
                self.headers.get("X-Experience-API-Version", "-")))

    def do_GET(self):
        global count
        with lock:
            count += 1
            self.number = count
        if self.number in faults:
            status, retry_after = faults[self.number]
            message = b"injected by fault_proxy"
            if retry_after == "echo":
                # A careless server that repeats the request's Authorization header.
                message = b"bad " + self.headers.get("Authorization", "").encode()
                retry_after = ""
            body = b'{"error":{"code":%d,"message":"%s"}}' % (status, message)
            self.send_response(status)
            if retry_after:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.note(str(status))
            return
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "accept-encoding")}
        conn.request("GET", self.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length", "date",
                                 "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        conn.close()
        self.note("forwarded-%d" % resp.status)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
scheme = "http"
if os.environ.get("FAULT_PROXY_TLS"):
    cert, key = os.environ["FAULT_PROXY_TLS"].split(":", 1)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    scheme = "https"
print("listening on %s://127.0.0.1:%d" % (scheme, server.server_address[1]), flush=True)
server.serve_forever()
