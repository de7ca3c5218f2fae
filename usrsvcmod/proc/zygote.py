"""Launches forked by a small helper process instead of by a big caller.

A launch forks a throwaway first child (spawn._middle). The cost of that
fork grows with the caller: the kernel copies its page tables and its table
of descriptors, and the child closes every descriptor again before it exits.
usrsvcd with 10,000 programs holds 10,000 pidfds and a heap of tens of MB,
and ``usrsvc start all -P`` holds a lock per program, so each launch cost
milliseconds more than the launch itself, and a batch grew with the square
of its size.

The zygote is a fresh interpreter, started once (by the daemon when it has
many programs, by a big parallel start for its batch), that holds nothing but
one end of a private socket pair. Each request carries what the first child
needs (argv, environment, working directory, umask, open-files limit) and
four descriptors (stdin, stdout, stderr of the program and the write end of
the caller's report pipe, passed with SCM_RIGHTS); the zygote forks the first
child with them and forgets them. The caller reads the report pipe exactly as
after a fork of its own, so nothing else changes: the first child spawns the
program in a session of its own and exits, and the program's parent is init
(or the nearest subreaper, which is still an ancestor of the zygote).

No reply goes back: if the zygote is gone, the caller's send fails and the
caller forks itself; if it dies after taking a request, the report pipe has
no writer left and the launch fails as "the intermediate process died".
The zygote ends at end-of-file on its socket: when the caller closes it or
dies (a killed usrsvcd leaves no zygote behind).
"""

import os

THRESHOLD = 256  # programs: from here on, a fork of the caller costs more than the round trip
_FORCE = "USRSVC_ZYGOTE"  # 1: always, 0: never (tests and measurements); unset: by THRESHOLD
_RETRY = 10.0  # seconds before a zygote that died is replaced
_MESSAGE_MAX = 1 << 20  # an environment bigger than this is launched by a fork of our own

_ACTIVE = []  # the Zygote in use in this process, if any


class Zygote:
    """The caller's end: the socket, and the zygote's pid (to reap it)."""

    def __init__(self, sock, pid):
        self.sock = sock
        self.pid = pid

    def send(self, program, env, out_fd, err_fd, null_fd, report_fd, nofile):
        """Ask for the launch; False when the zygote cannot take it (the caller forks)."""
        import marshal
        import socket

        try:
            data = marshal.dumps((list(program.argv), dict(env), program.directory,
                                  program.umask, tuple(nofile) if nofile else None))
        except ValueError:
            return False
        if len(data) > _MESSAGE_MAX:
            return False
        try:
            socket.send_fds(self.sock, [data], [null_fd, out_fd, err_fd, report_fd])
        except OSError:
            self.close()
            return False
        return True

    def close(self):
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.pid is not None:
            pid, self.pid = self.pid, None
            try:
                os.waitpid(pid, 0)  # it ends at once: end of file on its socket
            except ChildProcessError:
                pass


def wanted(programs):
    """Whether a caller with ``programs`` programs should launch through a zygote."""
    force = os.environ.get(_FORCE)
    if force in ("0", "1"):
        return force == "1"
    return programs >= THRESHOLD


def current():
    return _ACTIVE[0] if _ACTIVE else None


def start():
    """Start a zygote and make it the one launches go through; None if it cannot
    be had (launches then fork as before)."""
    import socket
    import sys

    if _ACTIVE:
        return _ACTIVE[0]
    ours = theirs = None
    try:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.set_inheritable(False)
        here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        code = ("import sys; sys.path.insert(0, %r); from usrsvcmod.proc import zygote;"
                " zygote.serve(3)" % here)
        pid = os.posix_spawn(sys.executable, [sys.executable, "-I", "-c", code],
                             {"PATH": os.environ.get("PATH", os.defpath)},
                             file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)])
    except OSError:
        if ours is not None:
            ours.close()
        return None
    finally:
        if theirs is not None:
            theirs.close()
    zygote = Zygote(ours, pid)
    _ACTIVE.append(zygote)
    return zygote


def stop():
    if _ACTIVE:
        _ACTIVE[0].close()


class _Spec:
    """What spawn._middle reads of a program."""

    __slots__ = ("argv", "directory", "umask")

    def __init__(self, argv, directory, umask):
        self.argv, self.directory, self.umask = argv, directory, umask


def _preload():
    """What every first child imports, imported once here: fcntl and resource
    are shared libraries, which each child would otherwise load again (about
    0.5 ms of a launch's 3 ms). Then the heap is frozen, so the children's
    garbage collector never walks (and copies) the pages of our objects."""
    import fcntl  # noqa: F401
    import gc
    import resource  # noqa: F401

    gc.collect()
    gc.freeze()


def serve(fd):
    """The zygote's loop: one first child per request, until end of file."""
    import marshal
    import signal
    import socket

    from . import spawn

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller decides when we end
    sock = socket.socket(fileno=fd)
    os.closerange(4, 1 << 16)
    spawn.cspawn.available()  # libc's spawn loaded once here, not in every child
    _preload()
    middles = []
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, _MESSAGE_MAX, 4, socket.MSG_CMSG_CLOEXEC)
        except InterruptedError:
            continue
        except OSError:
            break
        if not data and not fds:
            break  # the caller closed its end, or died
        middles = spawn.reap(middles)
        try:
            argv, env, directory, umask, nofile = marshal.loads(data)
            if len(fds) != 4:
                continue
            null_fd, out_fd, err_fd, report_fd = fds
            pid = os.fork()
            if pid == 0:
                spawn._middle(_Spec(argv, directory, umask), env, out_fd, err_fd, null_fd,
                              report_fd, nofile)
            middles.append(pid)
        except Exception:  # a bad request: its report pipe closes unwritten, the caller says so
            pass
        finally:
            for each in fds:
                os.close(each)
    spawn.reap(middles, block=True)
