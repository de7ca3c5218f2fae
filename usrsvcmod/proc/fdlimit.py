"""The open-files limit: ours raised to its ceiling, a reserve kept, the user's for services.

A parent may hand us a low soft limit (``ulimit -n 64``). The command that
launches services (usrsvc, the usrsvcd loop) raises its soft limit to the
hard one at start, and the services get the soft limit we were given back
(spawn's first child restores it): some programs behave differently under
a huge limit (those that close every fd up to it, say).

Within our own limit, room is kept for what must not fail half-way:
launches (log files, a report pipe), lazy imports, lock and state files.
Descriptors are handed out lowest first, so a new one numbered within
``reserve`` of the limit means at most ``reserve`` are left: whoever got it
gives it back and does without (a pidfd: poll /proc instead; a lock: later).
"""

import os

RESERVE = 16  # never used by pidfds or locks: launches, imports, state files
WATCH_RESERVE = 32  # pidfds stop earlier, so that locks and launches still find room


def raise_soft():
    """Raise our soft limit to the hard one; the original (soft, hard) for the
    services we launch, or None when nothing changed."""
    import resource

    original = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft, hard = original
    if soft == hard:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):  # e.g. an infinite hard limit above fs.nr_open
        return None
    return original


def soft():
    """Our soft limit now (RLIM_INFINITY as a very large number)."""
    import resource

    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return limit if limit != resource.RLIM_INFINITY else 1 << 30


def in_reserve(fd, reserve=RESERVE, limit=None):
    """True when ``fd`` (just opened) is within ``reserve`` of the limit."""
    return fd >= (soft() if limit is None else limit) - reserve


def free():
    """How many more descriptors we may open now (counts /proc/self/fd)."""
    try:
        used = len(os.listdir("/proc/self/fd")) - 1  # the listing's own fd
    except OSError:
        return 0
    return max(0, soft() - used)


def shortage(limit=None):
    """The sentence a per-program error gives when we ran out of descriptors."""
    return ("no free file descriptor (open-files limit %d reached). Fix: raise the hard limit"
            " (ulimit -Hn, nofile in limits.conf, LimitNOFILE= in a unit) or act on fewer"
            " programs at once" % (soft() if limit is None else limit))
