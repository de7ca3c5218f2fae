#!/usr/bin/env python3
"""How many lines does each way of rotating a live log lose? A tool, not a test.

  bench/rotation_loss.py [--lines 2000000] [--maxbytes 1M] [--dir DIR]

A writer (another process, as a service would be) writes numbered lines, one
write(2) each, as fast as it can into DIR/METHOD.log while this script rotates
the file each time it outgrew --maxbytes, keeping every backup. Then it reads
backups + live file and counts the numbers missing, repeated, and the NUL
bytes. Methods:

- copytruncate: what logrotate's copytruncate does (copy the file, truncate
  it to 0), writer with O_APPEND;
- copytruncate-noappend: the same, writer without O_APPEND (its offset stays
  where it was: the file gets a hole of NULs, read back as NUL bytes; the
  size checked is then the space the file takes, not its apparent size);
- collapse: usrsvc's engine (usrsvcmod/proc/rotate.py), writer with O_APPEND.

DIR defaults to a fresh directory under $TMPDIR (collapse needs ext4 or xfs).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

WRITER = r"""
import os, sys
path, lines, append = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else 0), 0o644)
for number in range(1, lines + 1):
    os.write(fd, b"%08d\n" % number)
"""


def plain_copytruncate(path, serial):
    """logrotate's copytruncate: copy the whole file, then truncate it."""
    backup = "%s.%06d" % (path, serial)
    shutil.copyfile(path, backup)
    with open(path, "r+b") as handle:
        handle.truncate(0)
    return backup


def run(method, directory, lines, maxbytes):
    from usrsvcmod.config.spec import size  # noqa: F401 (the same parser as the keys)
    from usrsvcmod.proc import rotate
    from usrsvcmod.state import RuntimeState

    path = os.path.join(directory, method + ".log")
    xdg = tempfile.mkdtemp(prefix="xdg-", dir=directory)
    state = RuntimeState(os.path.join(directory, "bench.cfg"), environ={"XDG_RUNTIME_DIR": xdg})
    rotator = rotate.Rotator(state)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, path, str(lines),
                               "0" if method.endswith("noappend") else "1"])
    backups, started = [], time.monotonic()
    while writer.poll() is None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        # without O_APPEND the size stays at the writer's offset (a hole in front):
        # what is really in the file is what counts, else it would rotate nonstop
        grown = st is not None and (st.st_blocks * 512 if method.endswith("noappend")
                                    else st.st_size) > maxbytes
        if not grown:
            time.sleep(0.005)
            continue
        if method == "collapse":
            outcome = rotator.rotate(path, maxbytes, 100000)
            if outcome and outcome.method != "collapse":
                sys.exit("%s cannot collapse (%s): run on ext4 or xfs" % (directory,
                                                                          outcome.fs_type))
            backups.append(None)
        else:
            backups.append(plain_copytruncate(path, len(backups) + 1))
    elapsed = time.monotonic() - started
    if method == "collapse":
        names = rotate.backup_names(os.path.basename(path), 100000)[:len(backups)]
        files = [os.path.join(directory, name) for name in reversed(names)
                 if os.path.exists(os.path.join(directory, name))]
    else:
        files = backups
    data = b"".join(open(name, "rb").read() for name in files + [path])
    nuls = data.count(b"\0")
    found = [int(line) for line in data.replace(b"\0", b"").split(b"\n") if line.strip()]
    unique = set(found)
    return {"method": method, "rotations": len(backups), "lost": lines - len(unique),
            "repeated": len(found) - len(unique), "nul_bytes": nuls, "seconds": elapsed}


def main():
    import argparse

    from usrsvcmod.config.spec import size

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=2000000)
    parser.add_argument("--maxbytes", default="1M")
    parser.add_argument("--dir", default=None)
    parser.add_argument("--methods", default="copytruncate,copytruncate-noappend,collapse")
    args = parser.parse_args()
    directory = args.dir or tempfile.mkdtemp(prefix="rotation-loss-")
    print("%s (%s), %d lines of 9 bytes, rotated at %s" % (
        directory, __import__("usrsvcmod.proc.rotate").proc.rotate.fs_type(directory),
        args.lines, args.maxbytes))
    try:
        for method in args.methods.split(","):
            result = run(method, directory, args.lines, size(args.maxbytes))
            print("%(method)-22s %(rotations)4d rotations: %(lost)8d lines lost, %(repeated)6d"
                  " repeated, %(nul_bytes)10d NUL bytes (%(seconds).1fs)" % result)
    finally:
        if not args.dir:
            shutil.rmtree(directory)


if __name__ == "__main__":
    main()
