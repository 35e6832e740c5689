#!/usr/bin/env python3
"""A registry endpoint that records the Authorization header of every request, for the
credential tests. Usage: auth-probe.py PORT LOG MODE [ARG]
  basic:           every request answers 401 with a Basic challenge;
  bearer REALM:    every request answers 401 with a Bearer challenge naming REALM;
  token:           every request answers 200 with a token;
  redirect TARGET: a request carrying Basic credentials is redirected (307) to TARGET + path,
                   one without answers 401 with a Basic challenge.
Each request appends "METHOD PATH AUTHORIZATION" (or "-" for none) to LOG."""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, log, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
arg = sys.argv[4] if len(sys.argv) > 4 else ""


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, headers=(), body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def handle_one(self):
        auth = self.headers.get("Authorization")
        with open(log, "a") as f:
            f.write("%s %s %s\n" % (self.command, self.path, auth or "-"))
        if mode == "basic" or (mode == "redirect" and not (auth or "").startswith("Basic ")):
            return self.answer(401, [("WWW-Authenticate", 'Basic realm="probe"')])
        if mode == "bearer":
            return self.answer(401, [("WWW-Authenticate",
                                      'Bearer realm="%s",service="probe"' % arg)])
        if mode == "token":
            return self.answer(200, [("Content-Type", "application/json")],
                               json.dumps({"token": "t"}).encode())
        if mode == "redirect":
            return self.answer(307, [("Location", arg + self.path)])
        return self.answer(404)

    do_GET = do_HEAD = handle_one

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
