#!/usr/bin/env python3
"""A misbehaving front for a real registry, for the pull tests.

  registry-proxy.py --port PORT --upstream HOST:PORT [--token] [--corrupt DIGEST]
                    [--rate BYTES_PER_SECOND] [--die-at-patch N [--cut-upload BYTES]]
                    [--log FILE]

Forwards every request to the upstream registry (Debian's docker-registry) and streams the
answer back. --token demands bearer tokens, which it issues itself at /token (the anonymous
token flow of Docker Hub); --corrupt flips one byte of that blob; --rate slows blob bodies down
so that a test can kill this process mid-transfer; --die-at-patch makes the Nth PATCH (an upload's
chunk) the last request: its first BYTES (default none) are passed on, then this process dies
without an answer, as a registry that died mid-upload with that much of the chunk stored; --log
records one line per request:
`METHOD PATH RANGE AUTH`, with ` 401` after one refused for want of a token good for it.
"""
import argparse
import http.client
import http.server
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse

# Host goes through: the registry then names upload locations on this proxy, not behind it.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--token", action="store_true")
    parser.add_argument("--corrupt")
    parser.add_argument("--rate", type=int, default=0)
    parser.add_argument("--die-at-patch", type=int, default=0)
    parser.add_argument("--cut-upload", type=int, default=0)
    parser.add_argument("--log")
    args = parser.parse_args()
    issued = {}  # token -> the scope it was issued for
    patches = [0]
    lock = threading.Lock()
    log = open(args.log, "a", buffering=1) if args.log else None

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def record(self, extra=""):
            if log:
                with lock:
                    log.write(f"{self.command} {self.path} "
                              f"{self.headers.get('Range', self.headers.get('Content-Range', '-'))} "
                              f"{'auth' if self.headers.get('Authorization') else '-'}{extra}\n")

        def reply(self, status, body=b"", headers=()):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def token(self):
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            if "scope" not in query or query.get("service") != ["test-registry"]:
                return self.reply(400, b'{"errors":[{"code":"BAD_REQUEST","message":"no scope"}]}')
            t = "tok-" + secrets.token_hex(8)
            with lock:
                issued[t] = query["scope"][0]
            self.record(" TOKEN " + query["scope"][0])
            self.reply(200, json.dumps({"token": t, "expires_in": 300}).encode(),
                       [("Content-Type", "application/json")])

        def forward(self):
            if args.token and self.path.startswith("/token"):
                return self.token()
            if args.token and self.path.startswith("/v2/"):
                auth = self.headers.get("Authorization", "")
                repo = self.path[len("/v2/"):].split("/manifests/")[0].split("/blobs/")[0]
                actions = "pull" if self.command in ("GET", "HEAD") else "pull,push"
                with lock:
                    scope = issued.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
                # A token is good for its repository and actions only: a pull token cannot push.
                ok = scope is not None and scope.split(":")[1] == repo and \
                    set(actions.split(",")) <= set(scope.split(":")[2].split(","))
                if self.path == "/v2/":
                    ok = scope is not None
                if not ok:
                    self.record(" 401")
                    challenge = (f'Bearer realm="http://127.0.0.1:{args.port}/token",'
                                 f'service="test-registry",scope="repository:{repo}:{actions}"')
                    return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token"}]}',
                                      [("WWW-Authenticate", challenge),
                                       ("Content-Type", "application/json")])
            self.record()
            length = int(self.headers.get("Content-Length", "0") or 0)
            body = self.rfile.read(length) if length else None
            upstream = http.client.HTTPConnection(args.upstream, timeout=60)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in HOP_HEADERS and k.lower() != "authorization"}
            if self.command == "PATCH":
                with lock:
                    patches[0] += 1
                    last = patches[0] == args.die_at_patch
                if last:
                    # The registry stores the first bytes of this chunk, then dies: no answer.
                    if args.cut_upload:
                        start = int(self.headers["Content-Range"].split("-")[0])
                        headers["Content-Range"] = f"{start}-{start + args.cut_upload - 1}"
                        headers["Content-Length"] = str(args.cut_upload)
                        upstream.request("PATCH", self.path, body=body[:args.cut_upload],
                                         headers=headers)
                        upstream.getresponse().read()
                    os._exit(0)
            upstream.request(self.command, self.path, body=body, headers=headers)
            r = upstream.getresponse()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in HOP_HEADERS:
                    self.send_header(k, v)
            self.end_headers()
            corrupt = (args.corrupt and self.command == "GET" and
                       self.path.endswith("/blobs/" + args.corrupt))
            is_blob = "/blobs/" in self.path
            while True:
                chunk = r.read(64 << 10)
                if not chunk:
                    break
                if corrupt:
                    chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                    corrupt = False
                self.wfile.write(chunk)
                if args.rate and is_blob:
                    time.sleep(len(chunk) / args.rate)
            upstream.close()

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
