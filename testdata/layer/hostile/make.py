#!/usr/bin/env python3
"""Generates the hostile and odd layer tarballs beside this script.

Each `<case>.<ext>` is one input for tests/hostile.rs; the expected outcome
sits beside it: `<case>.err` (unpack must fail with this message) or
`<case>.tree` (unpack must succeed with this listing). Re-run after editing:

    python3 testdata/layer/hostile/make.py

Output is deterministic (fixed mtimes, no user names, gzip mtime 0), so
re-running it without edits leaves git clean. `zstd` must be on PATH.
"""

import gzip
import io
import lzma
import os
import random
import subprocess
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
MTIME = 1600000000
# Absolute paths the cases aim at; tests/hostile.rs checks they never appear.
ESCAPE = "/tmp/strata-hostile-escape"


def info(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link=""):
    entry = tarfile.TarInfo(name)
    entry.type = kind
    entry.mode = mode
    entry.mtime = MTIME
    entry.uid = entry.gid = 0
    entry.uname = entry.gname = ""
    entry.linkname = link
    entry.size = len(data) if kind == tarfile.REGTYPE else 0
    return entry, data


def file(name, data=b"x\n", mode=0o644):
    return info(name, data=data, mode=mode)


def directory(name, mode=0o755):
    return info(name, kind=tarfile.DIRTYPE, mode=mode)


def symlink(name, target):
    return info(name, kind=tarfile.SYMTYPE, mode=0o777, link=target)


def hardlink(name, target):
    return info(name, kind=tarfile.LNKTYPE, link=target)


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT, pax_headers=None):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt, pax_headers=pax_headers or {}) as tar:
        for entry, data in entries:
            tar.addfile(entry, io.BytesIO(data) if entry.isreg() else None)
    return out.getvalue()


def gzipped(data):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(data)
    return out.getvalue()


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c", "--no-check"], input=data, stdout=subprocess.PIPE, check=True).stdout


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as out:
        out.write(data)


def pax_path_tar(header_name, pax_path):
    """One file whose PAX `path` record differs from its ustar name."""
    entry, data = file(header_name)
    entry.pax_headers = {"path": pax_path}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(entry, io.BytesIO(data))
    return raw.getvalue()


def main():
    rng = random.Random(20240601)
    big = bytes(rng.getrandbits(8) for _ in range(64 * 1024))
    sane = tar_bytes([directory("etc"), file("etc/hostname", b"sane\n"), file("big", big)])

    # Paths that leave the layer.
    write("dotdot_escape.tar", tar_bytes([file("ok"), file("../escaped")]))
    write("dotdot_inside_path.tar", tar_bytes([directory("a"), file("a/../../escaped")]))
    write("absolute_path.tar", tar_bytes([file(ESCAPE + "/absolute")]))
    write("pax_path_escape.tar", pax_path_tar("innocent", "../escaped"))
    write("gnu_longname_escape.tar", tar_bytes([file("../" + "x" * 120)], fmt=tarfile.GNU_FORMAT))

    # Writing through a symlink the layer itself planted.
    write("symlink_absolute_write_through.tar", tar_bytes([symlink("link", ESCAPE), file("link/file")]))
    write("symlink_dotdot_write_through.tar", tar_bytes([symlink("link", ".."), file("link/escaped")]))
    write(
        "dir_replaced_by_symlink_write_through.tar",
        tar_bytes([directory("d"), file("d/first"), symlink("d", ".."), file("d/escaped")]),
    )
    write("opaque_through_symlink.tar", tar_bytes([symlink("link", ".."), file("link/.wh..wh..opq", b"")]))
    # A later entry replaces a planted symlink; it must not write through it.
    write("symlink_replaced_by_file.tar", tar_bytes([symlink("link", ESCAPE + "/file"), file("link", b"replaced\n")]))

    # Hard links to files outside the layer.
    write("hardlink_dotdot_etc_passwd.tar", tar_bytes([hardlink("passwd", "../../etc/passwd")]))
    write("hardlink_absolute_etc_passwd.tar", tar_bytes([hardlink("passwd", "/etc/passwd")]))
    write("hardlink_through_symlink.tar", tar_bytes([symlink("etc", "/etc"), hardlink("passwd", "etc/passwd")]))
    write("hardlink_missing_target.tar", tar_bytes([hardlink("h", "not-in-layer")]))
    write("hardlink_to_directory.tar", tar_bytes([directory("d"), hardlink("h", "d")]))
    # A later regular entry at a hard link's path replaces the link: the
    # first file keeps its content.
    write(
        "hardlink_then_overwrite.tar",
        tar_bytes([file("a", b"original\n"), hardlink("h", "a"), file("h", b"replaced\n")]),
    )

    # Whiteouts naming `.` or `..` would delete the layer root or its parent.
    write("whiteout_dotdot.tar", tar_bytes([file("keep"), file(".wh...", b"")]))
    write("whiteout_dot.tar", tar_bytes([directory("a"), file("a/keep"), file("a/.wh..", b"")]))

    # Broken or lying archives.
    cut = sane.index(big) + len(big) // 2
    write("truncated_mid_file.tar", sane[:cut])
    # Headers at 0 (etc/), 512 (etc/hostname) and 1536 (big): cut into the third.
    write("truncated_mid_header.tar", sane[: 1536 + 100])
    write("empty.tar", b"")
    write("random_bytes.bin", bytes(rng.getrandbits(8) for _ in range(4096)))
    write("text_file.txt", b"this is not a tarball\n")
    write("volume_label.tar", tar_bytes([info("label", kind=b"V")]))

    good = gzipped(sane)
    bad_crc = bytearray(good)
    bad_crc[-8] ^= 0xFF
    write("gzip_bad_crc.tar.gz", bytes(bad_crc))
    bad_size = bytearray(good)
    bad_size[-4] ^= 0x01
    write("gzip_bad_length.tar.gz", bytes(bad_size))
    write("gzip_truncated.tar.gz", good[: len(good) // 2])
    write("gzip_truncated_trailer.tar.gz", good[:-4])
    write("gzip_magic_then_garbage.gz", b"\x1f\x8b" + bytes(rng.getrandbits(8) for _ in range(2048)))
    write("gzip_of_garbage.gz", gzipped(bytes(rng.getrandbits(8) for _ in range(2048))))
    write("zstd_truncated.tar.zst", zstd(sane)[:-100])
    write("xz_compressed.tar.xz", lzma.compress(sane))

    # Valid archives from other tools that must import.
    write(
        "pax_global_header.tar",
        tar_bytes([directory("d"), file("d/f", b"from git archive\n")], pax_headers={"comment": "0123abcd"}),
    )


if __name__ == "__main__":
    main()
