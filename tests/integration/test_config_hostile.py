"""Another local user against our config: the installed usrsvc, run as a throw-away victim
account, with a second throw-away account as the attacker.

The attacker's config would run ``touch MARKER`` as the victim, MARKER being in the
victim's home, which the attacker cannot write: if MARKER ever exists, the attacker's
command ran as the victim. Every shared directory is made by the test under a fresh
directory of /var/tmp (both accounts must reach it) and removed at teardown.
"""

import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time

import pytest

RACE_SECONDS = 3.0

SWAPPER = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
one, two = (p.encode() for p in sys.argv[1:3])
deadline = time.monotonic() + float(sys.argv[3])
swaps = 0
while time.monotonic() < deadline:
    if libc.renameat2(-100, one, -100, two, 2) == 0:  # AT_FDCWD, RENAME_EXCHANGE
        swaps += 1
print(swaps)
"""


def _reachable_by_all(path):
    """Whether any account can execute ``path`` (every directory above it searchable)."""
    path = os.path.realpath(path)
    while path != "/":
        path = os.path.dirname(path)
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
    return True


def _python_for_others():
    """``sys.executable``, or the system's interpreter of the same version when ours
    lives where other accounts cannot reach it (e.g. under a 0700 /root)."""
    import usrsvcmod

    if not _reachable_by_all(usrsvcmod.__file__):
        pytest.skip("the installed package is out of other accounts' reach (a checkout in a"
                    " private directory, e.g. mktemp -d)")
    if _reachable_by_all(sys.executable):
        return sys.executable
    same = "/usr/bin/python%d.%d" % sys.version_info[:2]
    if os.path.exists(same) and _reachable_by_all(same):
        return same
    pytest.skip("no Python interpreter the throw-away accounts can run")


@pytest.fixture
def shared_base():
    """A fresh directory both accounts can reach (root's, 0755), removed at teardown."""
    base = tempfile.mkdtemp(prefix="usrsvc-hostile-", dir="/var/tmp")
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


class Scene:
    """A victim and an attacker account, the victim's program, and the attacker's."""

    def __init__(self, env, make_user):
        # the installed command, through an interpreter they can run, with our packages
        self.python = _python_for_others()
        self.usrsvc = [self.python, env.usrsvc]
        self.packages = sysconfig.get_paths()["purelib"]  # where pip installed usrsvc
        self.victim, self.attacker = make_user(), make_user()
        home = self.victim.home
        self.marker = os.path.join(home, "attacker-was-here")
        self.xdg = self._victim_dir("xdg", 0o700)
        self._victim_dir("run", 0o755)
        self.good = ("[Program:web]\ncommand = /bin/sleep 1000 %s\npidfile = %s/run/web.pid\n"
                     "stdout = %s/web.log\nsuccess_seconds = 0.2\n" % (env.token, home, home))
        self.evil = ("[Program:web]\ncommand = /bin/touch %s\npidfile = %s/run/web.pid\n"
                     "stdout = %s/web.log\nsuccess_seconds = 0.2\n" % (self.marker, home, home))

    def _victim_dir(self, name, mode):
        path = os.path.join(self.victim.home, name)
        os.mkdir(path, mode)
        os.chown(path, self.victim.uid, self.victim.gid)
        return path

    def write(self, path, text, user):
        with open(path, "w") as handle:
            handle.write(text)
        os.chmod(path, 0o644)
        os.chown(path, user.uid, user.gid)
        return path

    def usrsvc_as_victim(self, cfg, *args):
        environ = {"XDG_RUNTIME_DIR": self.xdg, "PYTHONPATH": self.packages}
        result = self.victim.run(self.usrsvc + ["--config", cfg] + list(args), timeout=30,
                                 env=self.victim.environ(environ))
        assert "Traceback" not in result.stderr, result.stderr
        return result


@pytest.fixture
def scene(env, make_user):
    return Scene(env, make_user)


def _writable_by_attacker(kind, scene, base):
    """A directory holding the victim's config that the attacker can write into."""
    if kind == "attackers-own":
        return scene.attacker.home, "chown root %s" % scene.attacker.home
    path = os.path.join(base, "shared")
    os.mkdir(path)
    if kind == "world-writable":
        os.chown(path, scene.victim.uid, scene.victim.gid)
        os.chmod(path, 0o777)
        return path, "fix: chmod o-w %s" % path
    os.chown(path, scene.victim.uid, scene.attacker.gid)  # the attacker's group
    os.chmod(path, 0o775)
    return path, "fix: chmod g-w %s" % path


@pytest.mark.parametrize("kind", ["world-writable", "group-writable", "attackers-own"])
def test_config_in_a_directory_another_user_can_write_is_refused_with_the_fix(
        scene, shared_base, kind):
    directory, fix = _writable_by_attacker(kind, scene, shared_base)
    cfg = scene.write(os.path.join(directory, "usrsvc.cfg"), scene.good, scene.victim)
    for action in ("status", "start"):
        result = scene.usrsvc_as_victim(cfg, action, "web")
        assert result.returncode == 130, (result.stdout, result.stderr)
        assert "%s: refused: directory %s" % (cfg, directory) in result.stderr, result.stderr
        assert fix in result.stderr, result.stderr
    assert not os.path.exists(os.path.join(scene.victim.home, "run", "web.pid"))


def test_a_racing_swapper_never_gets_its_command_run_as_the_victim(scene, shared_base):
    shared = os.path.join(shared_base, "shared")
    os.mkdir(shared)
    os.chown(shared, scene.victim.uid, scene.victim.gid)
    os.chmod(shared, 0o777)  # the victim let a colleague drop files here
    cfg = scene.write(os.path.join(shared, "usrsvc.cfg"), scene.good, scene.victim)
    theirs = scene.write(os.path.join(shared, "evil.cfg"), scene.evil, scene.attacker)
    swapper = scene.attacker.popen([scene.python, "-c", SWAPPER, cfg, theirs,
                                    str(RACE_SECONDS)], stdout=subprocess.PIPE, text=True)
    codes = []
    while swapper.poll() is None:
        action = ("start", "status")[len(codes) % 2]
        codes.append(scene.usrsvc_as_victim(cfg, action, "web").returncode)
    swaps = int(swapper.communicate(timeout=30)[0])
    assert swaps > 100 and len(codes) >= 2, (swaps, codes)  # the race really ran
    assert not os.path.exists(scene.marker), "the attacker's command ran as the victim"
    assert set(codes) == {130}, codes


@pytest.mark.parametrize("planted", ["symlink", "file", "fifo"])
def test_a_config_name_planted_first_in_a_sticky_directory_is_refused(
        scene, shared_base, planted):
    sticky = os.path.join(shared_base, "tmp")
    os.mkdir(sticky)
    os.chmod(sticky, 0o1777)  # like /tmp: the directories above are fine
    theirs = scene.write(os.path.join(sticky, "evil.cfg"), scene.evil, scene.attacker)
    cfg = os.path.join(sticky, "usrsvc.cfg")
    plant = {"symlink": ["ln", "-s", theirs, cfg], "file": ["cp", theirs, cfg],
             "fifo": ["mkfifo", "-m", "644", cfg]}[planted]
    assert scene.attacker.run(plant).returncode == 0
    assert os.lstat(cfg).st_uid == scene.attacker.uid
    started = time.monotonic()
    result = scene.usrsvc_as_victim(cfg, "start", "web")
    assert result.returncode == 130, (result.stdout, result.stderr)
    expected = {"symlink": "symlink %s is owned by %s" % (cfg, scene.attacker.name),
                "file": "file %s is owned by uid %d" % (cfg, scene.attacker.uid),
                "fifo": "expected a regular config file, found a FIFO"}[planted]
    assert expected in result.stderr, result.stderr
    assert time.monotonic() - started < 25  # a FIFO did not block (the run's timeout is 30)
    assert not os.path.exists(scene.marker)
    mine = scene.write(os.path.join(sticky, "mine.cfg"), scene.good, scene.victim)
    assert stat.S_IMODE(os.stat(sticky).st_mode) == 0o1777
    checked = scene.usrsvc_as_victim(mine, "checkconfig")
    assert checked.returncode == 0, (checked.stdout, checked.stderr)  # a config of ours is fine
