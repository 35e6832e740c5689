#!/usr/bin/env python3
"""Build small OCI images and push them to a registry over the distribution API (stdlib only).

  push-image.py busybox HOST:PORT/REPO:TAG [--platform linux/amd64]
      one layer: Debian's busybox-static (/bin/busybox), its applet symlinks, /etc/passwd
  push-image.py image HOST:PORT/REPO:TAG [--layer DIR_OR_TAR]... [--platform P] [--docker]
      one layer per --layer: a directory (archived here), a tar file (gzipped here) or a
      .tar.gz file (pushed as it is)
  push-image.py index HOST:PORT/REPO:TAG --manifest TAG_OR_DIGEST... [--docker]
      an index over manifests already in the repository, with their configs' platforms

Options: --user USER:PASS (basic auth), --cmd CMD (default sh), --https (TLS, certificate not
checked: for test registries with their own CA). Prints the pushed manifest's
digest. Layers are deterministic (sorted, numeric owners, gzip without a timestamp), so the
same input always gives the same digests.
"""
import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import ssl
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
EPOCH = 1704067200  # 2024-01-01, the mtime of everything generated here


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    def __init__(self, ref, user, https=False):
        host, _, rest = ref.partition("/")
        self.base = ("https://" if https else "http://") + host + "/v2/"
        self.context = ssl._create_unverified_context() if https else None
        if "@" in rest:
            self.repo, _, self.tag = rest.partition("@")
        else:
            self.repo, _, self.tag = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
        self.auth = None
        if user:
            self.auth = "Basic " + base64.b64encode(user.encode()).decode()

    def request(self, method, url, data=None, headers=None):
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        if self.auth:
            req.add_header("Authorization", self.auth)
        try:
            with urllib.request.urlopen(req, context=self.context) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def push_blob(self, data):
        d = digest_of(data)
        status, _, _ = self.request("HEAD", f"{self.base}{self.repo}/blobs/{d}")
        if status == 200:
            return d
        status, headers, body = self.request("POST", f"{self.base}{self.repo}/blobs/uploads/")
        if status != 202:
            sys.exit(f"push-image: starting an upload answered {status}: {body[:200]!r}")
        location = headers["Location"]
        if location.startswith("/"):
            location = self.base[: -len("/v2/")] + location
        sep = "&" if "?" in location else "?"
        status, _, body = self.request("PUT", f"{location}{sep}digest={d}", data=data,
                                       headers={"Content-Type": "application/octet-stream"})
        if status != 201:
            sys.exit(f"push-image: uploading {d} answered {status}: {body[:200]!r}")
        return d

    def push_manifest(self, media_type, data, tag=None):
        status, _, body = self.request("PUT", f"{self.base}{self.repo}/manifests/{tag or self.tag}",
                                       data=data, headers={"Content-Type": media_type})
        if status != 201:
            sys.exit(f"push-image: pushing the manifest answered {status}: {body[:300]!r}")
        return digest_of(data)

    def get(self, kind, name, accept):
        status, headers, body = self.request("GET", f"{self.base}{self.repo}/{kind}/{name}",
                                             headers={"Accept": accept})
        if status != 200:
            sys.exit(f"push-image: GET {kind}/{name} answered {status}")
        return headers.get("Content-Type", "").split(";")[0], body


def normalize(info):
    info.uname = info.gname = ""
    return info


def tar_directory(path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(path)):
            tar.add(os.path.join(path, name), arcname=name, filter=normalize)
    return buf.getvalue()


def busybox_tar():
    busybox = "/bin/busybox"
    applets = subprocess.run([busybox, "--list-full"], check=True, capture_output=True,
                             text=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add_dir(name, mode=0o755):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, EPOCH
            tar.addfile(info)

        def add_file(name, data, mode=0o644):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, EPOCH
            tar.addfile(info, io.BytesIO(data))

        for d in ["bin", "dev", "etc", "home", "proc", "root", "sbin", "sys", "tmp", "usr",
                  "usr/bin", "usr/sbin", "var"]:
            add_dir(d, 0o1777 if d == "tmp" else 0o700 if d == "root" else 0o755)
        with open(busybox, "rb") as f:
            add_file("bin/busybox", f.read(), 0o755)
        add_file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                               b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        for applet in sorted(set(applets)):
            if applet == "bin/busybox":
                continue
            info = tarfile.TarInfo(applet)
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, "/bin/busybox", 0o777, EPOCH
            tar.addfile(info)
    return buf.getvalue()


def push_image(reg, layers_tar, platform, docker, cmd):
    os_, arch, *variant = platform.split("/")
    layer_descs, diff_ids = [], []
    for tar in layers_tar:
        if tar[:2] == b"\x1f\x8b":
            gz, tar = tar, gzip.decompress(tar)
        else:
            gz = gzip.compress(tar, mtime=0)
        d = reg.push_blob(gz)
        layer_descs.append({"mediaType": DOCKER_LAYER if docker else OCI_LAYER, "digest": d,
                            "size": len(gz)})
        diff_ids.append(digest_of(tar))
    config = {"created": "2024-01-01T00:00:00Z", "architecture": arch, "os": os_,
              "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                         "Cmd": [cmd]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    if variant:
        config["variant"] = variant[0]
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_digest = reg.push_blob(config_bytes)
    media = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest = {"schemaVersion": 2, "mediaType": media,
                "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                           "digest": config_digest, "size": len(config_bytes)},
                "layers": layer_descs}
    return reg.push_manifest(media, json.dumps(manifest, sort_keys=True, indent=2).encode())


def push_index(reg, manifests, docker):
    entries = []
    for m in manifests:
        media, body = reg.get("manifests", m, f"{OCI_MANIFEST}, {DOCKER_MANIFEST}")
        manifest = json.loads(body)
        _, config_body = reg.get("blobs", manifest["config"]["digest"], "*/*")
        config = json.loads(config_body)
        platform = {"architecture": config["architecture"], "os": config["os"]}
        if config.get("variant"):
            platform["variant"] = config["variant"]
        entries.append({"mediaType": media, "digest": digest_of(body), "size": len(body),
                        "platform": platform})
    media = DOCKER_LIST if docker else OCI_INDEX
    index = {"schemaVersion": 2, "mediaType": media, "manifests": entries}
    return reg.push_manifest(media, json.dumps(index, sort_keys=True, indent=2).encode())


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["busybox", "image", "index"])
    parser.add_argument("ref")
    parser.add_argument("--layer", action="append", default=[])
    parser.add_argument("--manifest", action="append", default=[])
    parser.add_argument("--platform", default="linux/amd64")
    parser.add_argument("--docker", action="store_true", help="Docker schema 2 media types")
    parser.add_argument("--user")
    parser.add_argument("--cmd", default="sh")
    parser.add_argument("--https", action="store_true")
    args = parser.parse_args()
    reg = Registry(args.ref, args.user, args.https)
    if args.what == "index":
        print(push_index(reg, args.manifest, args.docker))
        return
    layers = [busybox_tar()] if args.what == "busybox" else []
    for layer in args.layer:
        if os.path.isdir(layer):
            layers.append(tar_directory(layer))
        else:
            with open(layer, "rb") as f:
                layers.append(f.read())
    if not layers:
        sys.exit("push-image: an image needs at least one --layer")
    print(push_image(reg, layers, args.platform, args.docker, args.cmd))


if __name__ == "__main__":
    main()
