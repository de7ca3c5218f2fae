"""``usrsvc init``: a commented starter config with one example program.

The example is a real service that works as written on any machine with
python3: a web server on a free loopback port, serving /usr/share (public
files), so ``usrsvc start all`` right after ``usrsvc init`` shows a program
running. The file is created with O_EXCL (never over an existing file, nor
through a symlink planted at its place), mode 0600.
"""

import os

from .errors import UsrsvcError

TEMPLATE = """\
# usrsvc configuration, written by `usrsvc init`.
#
# Each [Program:NAME] section is one service that usrsvc starts detached: it
# keeps running whatever happens to usrsvc. Check this file, then start:
#     usrsvc checkconfig
#     usrsvc start all
#     usrsvc status all
# Every key, its default and what it accepts: `usrsvc checkconfig --keys`,
# or `man 5 usrsvc.cfg`.

[Main]
# More *.cfg files to read, e.g. one per program (optional):
# config_dir = ~/usrsvc.d

[Program:example]
# The command line. No shell is involved unless useshell = True; usrsvc finds
# the process again by this text (proctitle_re), its pidfile and its launch.
command = {python} -m http.server {port} --bind 127.0.0.1 --directory {directory}
# Where usrsvc keeps its pid, and where its output goes (directories are made):
pidfile = ~/run/example.pid
stdout = ~/logs/example.log
# Seconds it must stay up after the launch to count as started:
success_seconds = 1
# usrsvcd (the optional daemon) starts it at boot and restarts it if it dies:
autostart = True
autorestart = True
# Act on several programs at once with `usrsvc restart @web`:
# group = web
# `usrsvc reload example` sends this signal (HUP by default):
# reload_signal = HUP
# Environment for the program:
# [[Env]]
# PYTHONUNBUFFERED = 1
"""


def unit_hint():
    """How to have usrsvcd start at boot, as the README says it: the user unit needs
    no root; only the linger line needs an admin, once."""
    return ("To have usrsvcd keep your programs running and start them at boot (systemd),\n"
            "from the usrsvc source tree (no root needed):\n"
            "    systemd/install.sh --user\n"
            "    systemctl --user daemon-reload && systemctl --user enable --now usrsvcd\n"
            "and once, by an admin, so that it runs without a login session:\n"
            "    sudo loginctl enable-linger %s\n"
            "Without systemd: usrsvcd start" % _user())


def _user():
    """The account's name for the linger line ($USER when it cannot be looked up)."""
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return "$USER"


def _python():
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    import shutil
    import sys

    return shutil.which("python3") or sys.executable


def _free_port():
    """A loopback port nobody listens on now (the kernel picks it): two users, or two
    configs, get different ones and so different command lines."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def text():
    return TEMPLATE.format(python=_python(), port=_free_port(), directory="/usr/share")


def write(path):
    """Create ``path`` with the starter config (0600); UsrsvcError if it exists or cannot
    be made, with what to do instead."""
    data = text().encode()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UsrsvcError("%s already exists: not overwritten. Edit it, check it with"
                          " `usrsvc checkconfig`, or give another path with"
                          " `usrsvc --config PATH init`" % path, path=path) from None
    except OSError as err:
        raise UsrsvcError("cannot create %s: %s" % (path, err.strerror), path=path) from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as err:
        os.close(fd)
        os.unlink(path)
        raise UsrsvcError("cannot write %s: %s" % (path, err.strerror), path=path) from None
    os.close(fd)
    return path
