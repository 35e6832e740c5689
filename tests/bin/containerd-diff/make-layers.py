#!/usr/bin/env python3
"""Writes the layer corpus the applier tests use into DIR: hostile layers (each must be refused
without writing outside the target) and tricky but legal ones. Usage: make-layers.py DIR"""
import gzip, io, os, sys, tarfile

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def entry(name, kind=tarfile.REGTYPE, data=b"", **kw):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mtime = kw.pop("mtime", 1700000000)
    info.mode = kw.pop("mode", 0o755 if kind == tarfile.DIRTYPE else 0o644)
    for k, v in kw.items():
        setattr(info, k, v)
    return info, data


def write(name, entries, fmt=tarfile.PAX_FORMAT, compress=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for info, data in entries:
            t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    raw = buf.getvalue()
    path = os.path.join(out, name + (".tar.gz" if compress else ".tar"))
    with open(path, "wb") as f:
        f.write(gzip.compress(raw, mtime=0) if compress else raw)


# Hostile: each must fail, naming its entry, with nothing written outside the target.
write("hostile-dotdot", [entry("../outside/x", data=b"escaped")])
write("hostile-dotdot-deep", [entry("a/b/../../../outside/x", data=b"escaped")])
write("hostile-absolute", [entry("/outside/x", data=b"escaped")])
write("hostile-symlink-abs", [entry("evil", tarfile.SYMTYPE, linkname="/"),
                              entry("evil/outside/x", data=b"escaped")])
write("hostile-symlink-rel", [entry("evil", tarfile.SYMTYPE, linkname="../outside"),
                              entry("evil/x", data=b"escaped")])
write("hostile-symlink-chain", [entry("a", tarfile.SYMTYPE, linkname="."),
                                entry("a/b", tarfile.SYMTYPE, linkname="../.."),
                                entry("a/b/outside/x", data=b"escaped")])
write("hostile-hardlink-out", [entry("hl", tarfile.LNKTYPE, linkname="../outside/canary")])
write("hostile-hardlink-abs", [entry("hl", tarfile.LNKTYPE, linkname="/etc/passwd")])
write("hostile-whiteout-dot", [entry(".wh..")])
write("hostile-whiteout-dotdot", [entry("dir", tarfile.DIRTYPE), entry("dir/.wh...")])
write("hostile-whiteout-through-symlink", [entry("evil", tarfile.SYMTYPE, linkname="../outside"),
                                           entry("evil/.wh.canary")])
write("hostile-dir-replaced-by-file", [entry("d", tarfile.DIRTYPE), entry("d/f", data=b"1"),
                                       entry("d", data=b"now a file")])
write("hostile-truncated", [entry("big", data=b"x" * 100000)], compress=True)
with open(os.path.join(out, "hostile-truncated.tar.gz"), "r+b") as f:
    f.truncate(2000)
with open(os.path.join(out, "hostile-corrupt.tar.gz"), "wb") as f:
    f.write(b"\x1f\x8b\x08\x00" + b"\xff" * 200)

# Tricky but legal.
long_dir = "d" * 60 + "/" + "e" * 60
write("tricky", [
    entry("dir", tarfile.DIRTYPE, mode=0o750, uid=1000, gid=1000, mtime=1600000000),
    entry("dir/file", data=b"hello", mode=0o640, uid=1000, gid=1001),
    entry("dir/suid", data=b"s", mode=0o4755),
    entry("dir/sgid-sticky", tarfile.DIRTYPE, mode=0o3777),
    entry("dir/link", tarfile.SYMTYPE, linkname="file"),
    entry("dir/dangling", tarfile.SYMTYPE, linkname="/nonexistent/target"),
    entry("dir/hard", tarfile.LNKTYPE, linkname="dir/file"),
    entry("dir/fifo", tarfile.FIFOTYPE),
    entry("dir/char", tarfile.CHRTYPE, devmajor=1, devminor=3),
    entry("dir/block", tarfile.BLKTYPE, devmajor=7, devminor=0),
    entry(long_dir, tarfile.DIRTYPE),
    entry(long_dir + "/" + "f" * 120, data=b"long"),
    entry("xattr", data=b"x", pax_headers={"SCHILY.xattr.user.comment": "hi",
                                           "SCHILY.xattr.security.capability":
                                           "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}),
    entry("implicit/parent/file", data=b"p"),
    entry("nobody", data=b"n", uid=65534, gid=65534),
])
write("tricky-gnu", [entry("g" * 150, data=b"gnu long name"),
                     entry("l", tarfile.SYMTYPE, linkname="t" * 150)], fmt=tarfile.GNU_FORMAT)
write("base", [
    entry("gone", data=b"gone"),
    entry("opq", tarfile.DIRTYPE),
    entry("opq/old", data=b"old"),
    entry("keep", tarfile.DIRTYPE, mode=0o711),
    entry("keep/old", data=b"old"),
    entry("keep/stays", data=b"stays"),
])
write("whiteouts", [
    entry(".wh.gone"),
    entry("opq", tarfile.DIRTYPE),
    entry("opq/.wh..wh..opq"),
    entry("opq/new", data=b"new"),
    entry("keep/.wh.old"),
])
write("empty", [])
write("plain-gzip", [entry("a", data=b"a")], compress=True)
write("plain", [entry("a", data=b"a")])

# A sparse file, as GNU tar writes it (PAX sparse 1.0): 64 MiB with 3 bytes of data.
import subprocess, tempfile
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "sparse")
    with open(path, "wb") as f:
        f.truncate(64 << 20)
        f.seek(32 << 20)
        f.write(b"mid")
    subprocess.run(["tar", "--sparse", "--format=posix", "--numeric-owner", "-C", d, "-cf",
                    os.path.join(out, "sparse.tar"), "sparse"], check=True)
