"""The NOTIFY_SOCKET of a program with ``[[Readiness]] notify = yes``.

systemd's protocol: the service sends a datagram ``READY=1`` to the unix
socket named in ``$NOTIFY_SOCKET``. Ours is an abstract socket (nothing on
disk to clean up or to redirect through a symlink) named after our uid and
the program, so usrsvc and usrsvcd (under the program's lock, one at a
time) give the same name. Anyone may send to an abstract socket: the
kernel's SCM_CREDENTIALS (SO_PASSCRED) say who did, and only our uid's
program process or one of its live descendants counts.
"""

import hashlib
import os
import socket
import struct

_UCRED = struct.Struct("iII")  # pid, uid, gid
MAX_MESSAGES = 256  # read per check: a flood cannot hold the caller


_BOUND = {}  # program name -> the address its listener in this process is bound to


def address(program):
    """The abstract address, as NOTIFY_SOCKET spells it ('@' for the NUL): the one
    its Listener bound (which ends in a random part, so that nobody can take the
    name first and make the start fail), else the program's fixed prefix."""
    bound = _BOUND.get(program.name)
    if bound is not None:
        return bound
    digest = hashlib.sha256(program.name.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return "@usrsvc-notify/%d/%s" % (os.geteuid(), digest)


class Listener:
    """Bound before the launch, read by each notify probe, closed after."""

    def __init__(self, program):
        self.program_name = program.name
        self.name = "%s/%s" % (address(program) if program.name not in _BOUND else
                               _BOUND[program.name].rsplit("/", 1)[0], os.urandom(8).hex())
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            self.sock.bind("\0" + self.name[1:])
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)
        self.ready = False
        self.ignored = None  # why the last READY=1 did not count
        _BOUND[program.name] = self.name  # the launch's NOTIFY_SOCKET (spawn.environment)

    def close(self):
        self.sock.close()
        if _BOUND.get(self.program_name) == self.name:
            del _BOUND[self.program_name]

    def check(self, pid):
        """(ok, error): whether READY=1 came from ``pid`` or a descendant."""
        for _ in range(MAX_MESSAGES):
            if self.ready:
                break
            try:
                data, ancillary, _flags, _addr = self.sock.recvmsg(
                    4096, socket.CMSG_SPACE(_UCRED.size))
            except (BlockingIOError, InterruptedError):
                break
            if b"READY=1" not in data.split(b"\n"):
                continue
            sender = _credentials(ancillary)
            if sender is None or sender[1] != os.geteuid():
                self.ignored = "READY=1 without our uid's credentials was ignored"
            elif sender[0] == pid or _descends(sender[0], pid):
                self.ready = True
            else:
                self.ignored = ("READY=1 from pid %d, not pid %d or one of its descendants,"
                                " was ignored" % (sender[0], pid))
        if self.ready:
            return True, None
        return False, "no READY=1 on NOTIFY_SOCKET yet" + (
            " (%s)" % self.ignored if self.ignored else "")


def _credentials(ancillary):
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS \
                and len(data) >= _UCRED.size:
            return _UCRED.unpack(data[:_UCRED.size])
    return None


def _descends(pid, ancestor):
    """Whether live ``pid`` has ``ancestor`` above it (walking /proc's ppid)."""
    from . import procfs

    for _ in range(4096):
        info = procfs.read(pid)
        if info is None or info.ppid in (0, 1) or info.ppid == pid:
            return False
        if info.ppid == ancestor:
            return True
        pid = info.ppid
    return False
