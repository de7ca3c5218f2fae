"""The exit status of a process that is not our child, read from its pidfd.

Only a parent can wait() for a process. Since Linux 6.15 the kernel also keeps
the exit status on the process's pidfd once the process has been *reaped*:
``ioctl(pidfd, PIDFD_GET_INFO, &info)`` with ``PIDFD_INFO_EXIT`` in
``info.mask`` returns it in ``info.exit_code``, as a wait status. Our
services are double-forked, so init (or a subreaper) reaps them, and init
may do that lazily: on the machine this was written on it took 1.6-1.9 s
after the exit. Until then the process is a zombie and the kernel answers
without the EXIT bit; ``read()`` returns None and the caller asks again
later (a restart must never wait for this).

The pidfd must have been opened while the process still existed (in practice:
while it lived, as ExitWatcher does); a pidfd opened after the reap does not
exist.

Source of truth for the layout and numbers: include/uapi/linux/pidfd.h and
fs/pidfs.c (``pidfd_info()``) in Linux 6.15+ (struct pidfd_info, first
published size ``PIDFD_INFO_SIZE_VER0`` = 64 bytes; later versions only append
fields, and the kernel accepts any size >= 64, zero-filling or truncating)::

    offset  type    field
         0  __u64   mask          in: what we ask for; out: what is filled in
         8  __u64   cgroupid
        16  __u32   pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid,
                    fsuid, fsgid  (11 x 4 bytes, offsets 16..56)
        60  __s32   exit_code     a wait status: valid when mask & PIDFD_INFO_EXIT
        64  ...     (VER1+: coredump_mask, ...; not used here)

    PIDFD_GET_INFO = _IOWR(0xFF, 11, struct pidfd_info)
                   = 0xC040FF0B with the generic ioctl encoding and size 64

Kernels without it: < 6.13 have no PIDFD_GET_INFO (ENOTTY); 6.13 and 6.14
have it but never set PIDFD_INFO_EXIT (a reaped process answers ESRCH).
Either way ``read()`` returns None and ``supported()`` is False; callers then
say ``UNKNOWN_OLD_KERNEL``.

Cheap to import: only os, fcntl, struct and errno, nothing runs at import.
"""

import errno
import fcntl
import os
import struct

UNKNOWN_OLD_KERNEL = "exit status unknown (kernel < 6.15)"

# include/uapi/linux/pidfd.h
PIDFD_INFO_PID = 1 << 0
PIDFD_INFO_CREDS = 1 << 1
PIDFD_INFO_CGROUPID = 1 << 2
PIDFD_INFO_EXIT = 1 << 3
PIDFD_INFO_COREDUMP = 1 << 4
PIDFD_INFO_SIZE_VER0 = 64
PIDFS_IOCTL_MAGIC = 0xFF
_GET_INFO_NR = 11

_MASK = struct.Struct("=Q")  # offset 0
_EXIT_CODE = struct.Struct("=i")  # offset 60
_EXIT_CODE_OFFSET = 60

# errors meaning "this kernel has no PIDFD_GET_INFO (or not this version of it)"
_UNSUPPORTED = (errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS)
_MIN_KERNEL = (6, 15)

# Architectures whose ioctl numbers use 3 direction bits and 13 size bits
# (arch/{powerpc,mips,sparc,alpha}/include/uapi/asm/ioctl.h); all others use
# include/uapi/asm-generic/ioctl.h.
_ALT_IOCTL_ARCHES = ("ppc", "powerpc", "mips", "sparc", "alpha")


def _iowr(kind, nr, size, machine):
    """_IOWR(kind, nr, size) for ``machine`` (os.uname().machine)."""
    if machine.startswith(_ALT_IOCTL_ARCHES):
        read_write, dir_shift = 2 | 4, 29  # _IOC_READ | _IOC_WRITE, 13 size bits
    else:
        read_write, dir_shift = 2 | 1, 30  # _IOC_READ | _IOC_WRITE, 14 size bits
    return (read_write << dir_shift) | (size << 16) | (kind << 8) | nr


def _request():
    """PIDFD_GET_INFO for this machine (computed once)."""
    number = _request.number
    if number is None:
        number = _request.number = _iowr(PIDFS_IOCTL_MAGIC, _GET_INFO_NR, PIDFD_INFO_SIZE_VER0,
                                         os.uname().machine)
    return number


_request.number = None


class ExitStatus:
    """How a process ended: ``code`` (exit status) or ``signal`` (+ ``core``), and ``at``.

    ``at`` is the wall-clock time (time.time()) the status was learned, or the
    time the caller passes (e.g. when its pidfd became readable).
    """

    __slots__ = ("code", "signal", "core", "at")

    def __init__(self, code=None, signal=None, core=False, at=None):
        if at is None:
            import time

            at = time.time()
        self.code = code
        self.signal = signal
        self.core = bool(core)
        self.at = at

    @classmethod
    def from_wait_status(cls, status, at=None):
        """From a wait status (waitpid()'s, or pidfd_info's exit_code); None if
        it is neither an exit nor a death by signal (a stop)."""
        if os.WIFEXITED(status):
            return cls(code=os.WEXITSTATUS(status), at=at)
        if os.WIFSIGNALED(status):
            return cls(signal=os.WTERMSIG(status), core=os.WCOREDUMP(status), at=at)
        return None

    @classmethod
    def from_json(cls, data):
        """The inverse of as_json() (for readers of a status file or snapshot)."""
        if data.get("signal") is not None:
            return cls(signal=int(data["signal"]), core=bool(data.get("core")), at=data.get("at"))
        return cls(code=int(data["code"]), at=data.get("at"))

    def describe(self):
        """'exited with status 42', 'killed by signal 11 (SIGSEGV, core dumped)'."""
        if self.signal is None:
            return "exited with status %s" % self.code
        name = signal_name(self.signal)
        notes = [name] if name else []
        if self.core:
            notes.append("core dumped")
        if not notes:
            return "killed by signal %d" % self.signal
        return "killed by signal %d (%s)" % (self.signal, ", ".join(notes))

    def as_json(self):
        """SPEC §6 ``last_exit``: {"code": N, "at": T} or {"signal": N, "core": B, "at": T}."""
        at = None if self.at is None else round(self.at, 2)
        if self.signal is None:
            return {"code": self.code, "at": at}
        return {"signal": self.signal, "core": self.core, "at": at}

    def __eq__(self, other):
        if not isinstance(other, ExitStatus):
            return NotImplemented
        return (self.code, self.signal, self.core, self.at) == (
            other.code, other.signal, other.core, other.at)

    __hash__ = None

    def __repr__(self):
        return "ExitStatus(code=%r, signal=%r, core=%r, at=%r)" % (
            self.code, self.signal, self.core, self.at)


def signal_name(number):
    """'SIGKILL' for 9; '' for a number with no name."""
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return ""


def _parse(buffer, at=None):
    """ExitStatus from a struct pidfd_info (bytes-like, >= 64 bytes), or None
    when the kernel did not fill in the exit status (no PIDFD_INFO_EXIT in mask)."""
    if len(buffer) < PIDFD_INFO_SIZE_VER0:
        raise ValueError("struct pidfd_info is at least %d bytes, got %d"
                         % (PIDFD_INFO_SIZE_VER0, len(buffer)))
    (mask,) = _MASK.unpack_from(buffer, 0)
    if not mask & PIDFD_INFO_EXIT:
        return None
    (status,) = _EXIT_CODE.unpack_from(buffer, _EXIT_CODE_OFFSET)
    return ExitStatus.from_wait_status(status, at=at)


def _get_info(pidfd, mask):
    """ioctl(PIDFD_GET_INFO) asking for ``mask``; the filled-in 64-byte buffer."""
    buffer = bytearray(PIDFD_INFO_SIZE_VER0)
    _MASK.pack_into(buffer, 0, mask)
    fcntl.ioctl(pidfd, _request(), buffer, True)
    return buffer


def read(pidfd, at=None):
    """The exit status of the process behind ``pidfd``, or None when it is not
    known (yet): the process lives, is a zombie not yet reaped, or the kernel
    is older than 6.15 (see supported()).

    Never raises for a kernel that lacks the feature; raises OSError(EBADF)
    for a closed fd (an ownership bug the caller must hear about). ``at``
    defaults to now.
    """
    try:
        buffer = _get_info(pidfd, PIDFD_INFO_EXIT)
    except OSError as error:
        if error.errno == errno.EBADF:
            raise
        # ESRCH: reaped on a 6.13/6.14 kernel (no exit info kept), or another
        # pid namespace; ENOTTY/EINVAL: no PIDFD_GET_INFO at all, or not a pidfd.
        return None
    return _parse(buffer, at=at)


def _kernel_version(release):
    """(6, 18) from '6.18.44-fc-v857'; (0, 0) when unreadable."""
    parts = []
    for piece in release.split(".")[:2]:
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) if len(parts) == 2 else (0, 0)


def _probe():
    """True when this kernel keeps exit statuses on pidfds.

    A live process (ourselves) answers PIDFD_GET_INFO without the EXIT bit but
    with PIDFD_INFO_PID on any kernel that has the ioctl (6.13+); ENOTTY/EINVAL
    mean no ioctl. 6.13 and 6.14 have the ioctl but no PIDFD_INFO_EXIT, which
    a live process cannot tell apart, hence the version check too.
    """
    if not hasattr(os, "pidfd_open"):
        return False
    if _kernel_version(os.uname().release) < _MIN_KERNEL:
        return False
    try:
        fd = os.pidfd_open(os.getpid())
    except OSError:
        return False
    try:
        buffer = _get_info(fd, PIDFD_INFO_EXIT)
    except OSError:
        return False
    finally:
        os.close(fd)
    (mask,) = _MASK.unpack_from(buffer, 0)
    return bool(mask & PIDFD_INFO_PID) and not mask & PIDFD_INFO_EXIT


def supported():
    """Whether read() can ever return a status on this kernel (probed once, cached)."""
    value = supported.value
    if value is None:
        value = supported.value = _probe()
    return value


supported.value = None
