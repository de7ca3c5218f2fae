"""posix_spawnp() through libc, with every signal back to its default.

Why not os.posix_spawnp: its ``setsigdef`` refuses glibc's two internal
signals (32 and 33), and glibc's posix_spawn then leaves them *ignored* in
the new program. Why not subprocess: its Python setup costs about a
millisecond on every launch, and usrsvcd's crash recovery is a launch.
Here the attributes are built with libc's own functions (sigfillset gives
the full set), and the spawn is a vfork + exec, as subprocess's is.

Used in the throwaway middle process of a launch only; ``spawnp`` raises
OSError(errno, message, path) like os.posix_spawnp. Where libc cannot be
loaded this way, ``available()`` is False and the caller uses subprocess.
"""

import os

POSIX_SPAWN_SETSIGDEF = 0x04
POSIX_SPAWN_SETSIGMASK = 0x08
POSIX_SPAWN_SETSID = 0x80  # glibc >= 2.26
_ATTR_SIZE = 1024  # posix_spawnattr_t is 336 bytes on x86_64: room to spare
_ACTIONS_SIZE = 1024  # posix_spawn_file_actions_t is 80 bytes
_SIGSET_SIZE = 128


class _Libc:
    def __init__(self):
        import ctypes

        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        for name in ("posix_spawnp", "posix_spawnattr_init", "posix_spawnattr_setflags",
                     "posix_spawnattr_setsigdefault", "posix_spawnattr_setsigmask",
                     "posix_spawn_file_actions_init", "posix_spawn_file_actions_adddup2",
                     "sigemptyset"):
            getattr(self.libc, name)  # AttributeError: not this libc


_LIBC = []


def _libc():
    if not _LIBC:
        try:
            _LIBC.append(_Libc())
        except (OSError, AttributeError):
            _LIBC.append(None)
    return _LIBC[0]


def available():
    """Load libc's spawn functions now (in the parent, before it forks)."""
    return _libc() is not None


def _fill(ctypes, sigset):
    """Every signal but SIGKILL and SIGSTOP, glibc's internal 32 and 33 included:
    glibc's sigfillset and sigaddset leave those two out, and posix_spawn then
    sets them to SIG_IGN in the new program, so the bits are set by hand."""
    import signal
    import struct

    word_bits = 8 * ctypes.sizeof(ctypes.c_ulong)
    words = [0] * (_SIGSET_SIZE * 8 // word_bits)
    for sig in range(1, signal.NSIG):
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            words[(sig - 1) // word_bits] |= 1 << ((sig - 1) % word_bits)
    code = "@%d%s" % (len(words), "Q" if word_bits == 64 else "L")
    struct.pack_into(code, sigset, 0, *words)


def spawnp(path, argv, env, dup2=(), setsid=True):
    """Spawn ``path`` (searched in $PATH) with ``argv`` and ``env`` (a dict);
    ``dup2``: (fd, target) pairs. Every signal gets its default disposition,
    the signal mask is empty, and with ``setsid`` it leads a new session."""
    lib = _libc()
    ctypes, libc = lib.ctypes, lib.libc
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    actions = ctypes.create_string_buffer(_ACTIONS_SIZE)
    every = ctypes.create_string_buffer(_SIGSET_SIZE)
    none = ctypes.create_string_buffer(_SIGSET_SIZE)
    libc.posix_spawnattr_init(attr)
    libc.posix_spawn_file_actions_init(actions)
    _fill(ctypes, every)
    libc.sigemptyset(none)
    flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (POSIX_SPAWN_SETSID if setsid else 0)
    for call, args in (("posix_spawnattr_setsigdefault", (attr, every)),
                       ("posix_spawnattr_setsigmask", (attr, none)),
                       ("posix_spawnattr_setflags", (attr, ctypes.c_short(flags)))):
        err = getattr(libc, call)(*args)
        if err:
            raise OSError(err, "%s: %s" % (call, os.strerror(err)))
    for fd, target in dup2:
        err = libc.posix_spawn_file_actions_adddup2(actions, fd, target)
        if err:
            raise OSError(err, os.strerror(err))
    encoded_argv = [os.fsencode(a) for a in argv]
    encoded_env = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()]
    c_argv = (ctypes.c_char_p * (len(encoded_argv) + 1))(*encoded_argv, None)
    c_env = (ctypes.c_char_p * (len(encoded_env) + 1))(*encoded_env, None)
    pid = ctypes.c_int(0)
    err = libc.posix_spawnp(ctypes.byref(pid), os.fsencode(path), actions, attr, c_argv, c_env)
    if err:
        raise OSError(err, os.strerror(err), path)
    return pid.value
