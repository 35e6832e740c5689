#!/usr/bin/env python3
"""A registry that lies, for the isolation tests: it claims blobs it does not have.
Usage: lying-registry.py PORT MODE DIGEST SIZE
  manifest: every request answers 200, media type OCI manifest, a 2-byte body (any digest asked
            for "exists" and is tiny);
  layers:   the reference resolves to a valid manifest whose config and layer are DIGEST/SIZE,
            and every blob request answers SIZE bytes of garbage;
  layers-true: the same, but the blobs served are the test's secret itself;
  fanout:   "latest" is an index of 100 copies of an index of 100 copies of ... (5 levels, each a
            real index with verifiable digests): with --all-platforms, 100^5 walks."""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, mode, digest, size = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
secret = b"topsecret\n"  # what the isolation test's victim ingested
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": digest, "size": size},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest,
                "size": size}],
}).encode()


INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
import hashlib
documents = {}
child = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": {
    "mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": size},
    "layers": []}).encode()
child_type = MANIFEST_TYPE
for level in range(5):
    child_digest = "sha256:" + hashlib.sha256(child).hexdigest()
    documents[child_digest] = (child, child_type)
    child = json.dumps({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [
        {"mediaType": child_type, "digest": child_digest, "size": len(child),
         "platform": {"os": "linux", "architecture": "amd64"}}] * 100}).encode()
    child_type = INDEX_TYPE
documents["latest"] = (child, INDEX_TYPE)


class Handler(BaseHTTPRequestHandler):
    def answer(self, body, media_type):
        self.send_response(200)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def handle_one(self):
        if mode == "manifest":
            return self.answer(b"{}", MANIFEST_TYPE)
        if mode == "fanout" and "/manifests/" in self.path:
            body, media_type = documents.get(self.path.rsplit("/", 1)[1], documents["latest"])
            return self.answer(body, media_type)
        if "/manifests/" in self.path:
            return self.answer(manifest, MANIFEST_TYPE)
        if "/blobs/" in self.path:
            body = secret if mode == "layers-true" else b"x" * size
            return self.answer(body, "application/octet-stream")
        return self.answer(b"{}", "application/json")

    do_GET = do_HEAD = handle_one

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
