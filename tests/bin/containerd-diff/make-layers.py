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

# More hostile layers, each refused (any error) or contained (nothing outside the target changes).
long_up = "a/" * 120 + "../" * 130 + "outside/x"
write("hostile-pax-long-dotdot", [entry(long_up, data=b"escaped")])
write("hostile-gnu-long-dotdot", [entry(long_up, data=b"escaped")], fmt=tarfile.GNU_FORMAT)
write("hostile-pax-absolute", [entry("/" + "o" * 120 + "/../outside/x", data=b"escaped")])
write("hostile-hardlink-dotdot-deep", [entry("d", tarfile.DIRTYPE),
                                       entry("d/h", tarfile.LNKTYPE, linkname="d/../../outside/canary")])
write("hostile-hardlink-through-symlink", [entry("s", tarfile.SYMTYPE, linkname="../outside"),
                                           entry("h", tarfile.LNKTYPE, linkname="s/canary")])
write("hostile-hardlink-through-abs-symlink", [entry("s", tarfile.SYMTYPE, linkname="/etc"),
                                               entry("h", tarfile.LNKTYPE, linkname="s/passwd")])
write("hostile-hardlink-to-dir", [entry("d", tarfile.DIRTYPE),
                                  entry("h", tarfile.LNKTYPE, linkname="d")])
write("hostile-hardlink-self", [entry("h", tarfile.LNKTYPE, linkname="h")])
write("hostile-hardlink-missing", [entry("h", tarfile.LNKTYPE, linkname="nothing/here")])
write("hostile-whiteout-empty", [entry(".wh.")])
write("hostile-whiteout-absolute", [entry("/.wh.etc")])
write("hostile-whiteout-dotdot-deep", [entry("d/.wh.../outside")])
write("hostile-file-replaces-own-dir", [entry("d", tarfile.DIRTYPE),
                                        entry("d", tarfile.SYMTYPE, linkname="../outside")])
write("hostile-name-too-long", [entry("n" * 300, data=b"x")])
write("hostile-too-deep", [entry("d/" * 2100 + "x", data=b"x")])
write("hostile-huge-size", [entry("big", data=b"")], fmt=tarfile.PAX_FORMAT)
with open(os.path.join(out, "hostile-huge-size.tar"), "r+b") as f:
    raw = bytearray(f.read())
# A size field claiming 8 GiB of data the stream does not have.
hdr = raw.find(b"big\0")
raw[hdr + 124:hdr + 136] = b"77777777777\0"
chk = sum(raw[hdr:hdr + 148]) + 8 * 32 + sum(raw[hdr + 156:hdr + 512])
raw[hdr + 148:hdr + 156] = b"%06o\0 " % chk
with open(os.path.join(out, "hostile-huge-size.tar"), "wb") as f:
    f.write(raw)
with open(os.path.join(out, "hostile-not-a-tar.tar"), "wb") as f:
    f.write(b"this is not a tar archive, not at all" * 40)
with open(os.path.join(out, "hostile-gzip-bomb-truncated.tar.gz"), "wb") as f:
    f.write(gzip.compress(b"\0" * (16 << 20))[:4096])
# Sparse maps that lie (PAX sparse 0.1): a block far past the file's size, one at the edge of
# 64-bit offsets, blocks that overlap.
def sparse(name, size, blocks):
    data = b"".join(b"s" * n for _, n in blocks)
    info, _ = entry(name, data=data)
    info.pax_headers = {"GNU.sparse.size": str(size), "GNU.sparse.numblocks": str(len(blocks)),
                        "GNU.sparse.map": ",".join("%d,%d" % b for b in blocks)}
    return info, data
write("hostile-sparse-beyond-size", [sparse("s", 10, [(1 << 40, 4)])])
write("hostile-sparse-offset-overflow", [sparse("s", 10, [((1 << 63) - 2, 4)])])
write("hostile-sparse-overlapping", [sparse("s", 64, [(0, 32), (16, 32)])])

# Contained: these apply, but nothing outside the target may change.
write("hostile-opaque-through-symlink", [entry("evil", tarfile.SYMTYPE, linkname="../outside"),
                                         entry("evil/.wh..wh..opq")])
write("hostile-device-through-symlink", [entry("evil", tarfile.SYMTYPE, linkname="../outside"),
                                         entry("evil/null", tarfile.CHRTYPE, devmajor=1, devminor=3)])
write("hostile-fifo-through-symlink", [entry("evil", tarfile.SYMTYPE, linkname="/tmp"),
                                       entry("evil/fifo", tarfile.FIFOTYPE)])
write("hostile-dir-through-symlink", [entry("evil", tarfile.SYMTYPE, linkname="../outside"),
                                      entry("evil/sub", tarfile.DIRTYPE, mode=0o777)])
write("hostile-file-over-symlink", [entry("x", tarfile.SYMTYPE, linkname="../outside/canary"),
                                    entry("x", data=b"overwritten", mode=0o777)])
write("hostile-dir-over-symlink", [entry("x", tarfile.SYMTYPE, linkname="../outside"),
                                   entry("x", tarfile.DIRTYPE, mode=0o777)])
write("hostile-symlink-loop", [entry("a", tarfile.SYMTYPE, linkname="b"),
                               entry("b", tarfile.SYMTYPE, linkname="a"),
                               entry("a/x", data=b"x")])
write("hostile-symlink-abs-parent-deep", [entry("a", tarfile.SYMTYPE, linkname="/"),
                                          entry("a/tmp/x/y/z", data=b"escaped")])
write("hostile-hardlink-to-symlink-out", [entry("s", tarfile.SYMTYPE, linkname="../outside/canary"),
                                          entry("h", tarfile.LNKTYPE, linkname="s"),
                                          entry("h", data=b"overwritten")])
write("hostile-xattr-overlay", [
    entry("d", tarfile.DIRTYPE, pax_headers={"SCHILY.xattr.user.overlay.opaque": "y",
                                             "SCHILY.xattr.user.overlay.redirect": "/outside",
                                             "SCHILY.xattr.trusted.overlay.opaque": "y",
                                             "SCHILY.xattr.user.keep": "kept"}),
    entry("f", data=b"f", pax_headers={"SCHILY.xattr.user.overlay.metacopy": "",
                                       "SCHILY.xattr.user.keep": "kept"})])
write("hostile-xattr-on-nodes", [
    entry("fifo", tarfile.FIFOTYPE, pax_headers={"SCHILY.xattr.user.x": "1"}),
    entry("null", tarfile.CHRTYPE, devmajor=1, devminor=3, pax_headers={"SCHILY.xattr.user.x": "1"})])
write("hostile-block-device", [entry("sda", tarfile.BLKTYPE, devmajor=8, devminor=0, mode=0o666)])
write("hostile-setuid-over-symlink", [entry("x", tarfile.SYMTYPE, linkname="../outside/canary"),
                                      entry("x", data=b"#!", mode=0o4777)])
write("hostile-dot-names", [entry("."), entry("./", tarfile.DIRTYPE, mode=0o777), entry(".//./")])
write("hostile-whiteout-after-write", [entry("a", data=b"a"), entry(".wh.a"), entry("a/b", data=b"b")])
# Many directories: the applier's directory-fd cache must stay bounded.
write("many-dirs", [entry("m/%05d/f" % i, data=b"f") for i in range(5000)])
# Race: many files and directories, for an attacker swapping names for symlinks while it runs.
write("race", [entry("f%04d" % i, data=b"r", mode=0o777) for i in range(3000)] +
              [entry("d%04d" % i, tarfile.DIRTYPE, mode=0o777) for i in range(3000)])

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
