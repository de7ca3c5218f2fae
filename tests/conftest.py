"""Shared fixtures: a temporary HOME, the installed commands, and cleanup by pid.

Every process a test starts carries the test's unique token in its argv;
teardown kills exactly the processes whose command line holds that token
(and only those, by pid).
"""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICE = os.path.join(HERE, "helpers", "service.py")


def _command(name):
    """The installed console script next to this interpreter, else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(beside):
        return beside
    found = shutil.which(name)
    if not found:
        pytest.skip("%s is not installed" % name)
    return found


def pids_with(token):
    """Pids of live (non-zombie) processes whose command line holds ``token``."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                cmdline = handle.read()
            with open("/proc/%s/stat" % entry, "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmdline and state not in (b"Z", b"X"):
            found.append(int(entry))
    return found


def descendants(pids):
    """Every live descendant of ``pids`` (by parent links in /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, "rb") as handle:
                    ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, queue = [], list(pids)
    while queue:
        for child in children.get(queue.pop(), ()):
            found.append(child)
            queue.append(child)
    return found


def wait_for(predicate, timeout=10.0, interval=0.02):
    """Poll ``predicate`` until true or the (generous) deadline; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


class Env:
    """A temporary HOME with a usrsvc.cfg, and helpers to run the commands."""

    def __init__(self, home, token):
        self.home = str(home)
        self.token = token
        self.cfg = os.path.join(self.home, "usrsvc.cfg")
        self.usrsvc = _command("usrsvc")
        self.env = dict(os.environ, HOME=self.home, XDG_RUNTIME_DIR=os.path.join(self.home, "xdg"))
        self.env.pop("USRSVC_CONFIG", None)
        os.makedirs(self.env["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)
        os.chmod(self.home, 0o755)
        self.tracked = []  # extra pids to kill at teardown
        self.children = []  # Popen objects started by hand, reaped at teardown

    def cleanup(self):
        """Kill our children first (a usrsvc still waiting on a lock must not launch
        anything after the sweep), then tracked pids and their descendants, then
        everything carrying the token."""
        for proc in self.children:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        pids = [p for p in self.tracked if alive(p)]
        for pid in pids + descendants(pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        kill_token(self.token)
        # services whose argv carries no token (sleep N, retitled daemons) run in
        # this test's private HOME (their default directory): theirs alone
        kill_in_dir(self.home)

    def service(self, *args):
        """A service command line carrying this test's token."""
        return " ".join([sys.executable, SERVICE, self.token] + [str(a) for a in args])

    def program(self, name, command, **keys):
        """A [Program:NAME] section with pidfile/stdout under HOME."""
        keys.setdefault("pidfile", "%s/run/%s.pid" % (self.home, name))
        keys.setdefault("stdout", "%s/logs/%s.log" % (self.home, name))
        keys.setdefault("success_seconds", "0.3")
        keys.setdefault("term_to_kill_seconds", "3")
        lines = ["[Program:%s]" % name, "command = %s" % command]
        lines += ["%s = %s" % item for item in keys.items()]
        return "\n".join(lines) + "\n"

    def write(self, text, path=None):
        path = path or self.cfg
        with open(path, "w") as handle:
            handle.write(textwrap.dedent(text))
        os.chmod(path, 0o644)
        return path

    def run(self, *args, timeout=60, check=None, cwd=None, env=None, preexec_fn=None):
        """Run the installed usrsvc; ``env`` adds to (or, with None values, drops from)
        this HOME's environment."""
        proc = subprocess.run([self.usrsvc] + list(args), env=self._environ(env),
                              cwd=cwd or self.home, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout,
                              preexec_fn=preexec_fn)
        if check is not None:
            assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def _environ(self, extra):
        environ = dict(self.env)
        for key, value in (extra or {}).items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value
        return environ

    def popen(self, *args, env=None, **kwargs):
        """Start the installed usrsvc in the background (output captured as text)."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen([self.usrsvc] + list(args), env=self._environ(env),
                                cwd=self.home, stdin=subprocess.DEVNULL, text=True, **kwargs)
        self.children.append(proc)
        return proc

    def track(self, pid):
        """Kill ``pid`` at teardown too (for a process whose argv lost the token)."""
        self.tracked.append(pid)
        return pid

    def spawn(self, command, **kwargs):
        """Start ``command`` (a shell-free argv list or a string) by hand, outside usrsvc.

        The process is our child: ``reap()`` at teardown collects it.
        """
        argv = command.split() if isinstance(command, str) else list(command)
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        kwargs.setdefault("cwd", self.home)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=kwargs.pop("env", self.env),
                                **kwargs)
        self.children.append(proc)
        return proc

    def pid_of(self, name):
        try:
            with open(os.path.join(self.home, "run", name + ".pid")) as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None


def kill_until_gone(find):
    """Kill, by pid, every process ``find()`` lists; wait until it lists none."""
    for _ in range(3):
        pids = find()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: not find(), timeout=5)


def kill_token(token):
    """Kill, by pid, every process carrying ``token`` and their descendants."""
    kill_until_gone(lambda: pids_with(token) + descendants(pids_with(token)))


@pytest.fixture
def token():
    value = "usrsvctest-" + uuid.uuid4().hex[:12]
    yield value
    kill_token(value)


@pytest.fixture
def env(tmp_path, token):
    home = tmp_path / "home"
    home.mkdir()
    made = Env(home, token)
    yield made
    made.cleanup()


def free_port():
    """A loopback TCP port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_free(port):
    """True when nothing listens on 127.0.0.1:``port`` (a connect is refused)."""
    import socket

    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def pids_in_dir(path):
    """Live processes of this user whose working directory is ``path`` or below it.

    For services that retitle themselves (their argv loses the token) and
    may outlive a failed assertion before the test could ``track`` them: a
    test's HOME is private to that test, so only what it launched runs there.
    """
    found = []
    me = os.getpid()
    prefix = os.path.realpath(path).rstrip("/") + "/"
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            if os.stat("/proc/" + entry).st_uid != os.getuid():
                continue
            cwd = os.readlink("/proc/%s/cwd" % entry)
        except OSError:
            continue
        if (cwd.rstrip("/") + "/").startswith(prefix) and alive(int(entry)):
            found.append(int(entry))
    return found


def kill_in_dir(path):
    """Kill, by pid, every process of ours running in ``path`` (see pids_in_dir)."""
    kill_until_gone(lambda: pids_in_dir(path))


# throw-away local users ----------------------------------------------------------------------
class LocalUser:
    """A local account created for one test (``useradd``, as root) and removed after it.

    ``home`` is a fresh directory it owns (under /var/tmp, not in pytest's
    root-only tmp). Everything it runs is started through ``run``/``popen``;
    teardown kills, by pid, every process of its uid (the uid was unused
    before the test, so all of them are the test's), then runs ``userdel``.
    """

    def __init__(self, name):
        import pwd
        import tempfile

        self.name = name
        self.base = tempfile.mkdtemp(prefix="usrsvc-user-", dir="/var/tmp")
        os.chmod(self.base, 0o755)
        self.home = os.path.join(self.base, "home")
        subprocess.run(["useradd", "-M", "-U", "-d", self.home, "-s", "/bin/sh", name],
                       check=True, capture_output=True, timeout=30)
        entry = pwd.getpwnam(name)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        os.mkdir(self.home, 0o755)
        os.chown(self.home, self.uid, self.gid)
        self.children = []

    def command(self, name):
        """A path this user can run for the installed console script ``name``.

        The test venv's interpreter may live where other users cannot reach
        (pyenv under /root): then a wrapper in this user's base directory runs
        the same package with the system python3 of the same version. Skips the
        test when neither works."""
        import sysconfig

        installed = _command(name)
        with open(installed) as handle:
            script = handle.read()
        module = script.split("from ", 1)[1].split(" import", 1)[0]
        try:
            if self.run([installed, "--version"]).returncode == 0:
                return installed
        except OSError:
            pass  # its interpreter is out of this user's reach
        site = sysconfig.get_paths()["purelib"]
        system = "/usr/bin/python3"
        probe = self.run([system, "-c", "import sys; sys.path.insert(0, %r);"
                          " print(sys.version_info[:2] == %r); import %s"
                          % (site, tuple(sys.version_info[:2]), module)]) \
            if os.path.exists(system) else None
        if probe is None or probe.returncode != 0 or probe.stdout.strip() != "True":
            pytest.skip("%s cannot be run by another user here (%s)" % (
                installed, probe.stderr.strip()[-200:] if probe else "no /usr/bin/python3"))
        wrapper = os.path.join(self.base, "bin", name)
        os.makedirs(os.path.dirname(wrapper), mode=0o755, exist_ok=True)
        with open(wrapper, "w") as handle:
            handle.write("#!%s\nimport sys\nsys.path.insert(0, %r)\nfrom %s import main\n"
                         "sys.exit(main())\n" % (system, site, module))
        os.chmod(wrapper, 0o755)
        return wrapper

    def environ(self, extra=None):
        environ = {"HOME": self.home, "USER": self.name, "LOGNAME": self.name,
                   "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        environ.update(extra or {})
        return environ

    def _kwargs(self, kwargs):
        kwargs.setdefault("env", self.environ())
        kwargs.setdefault("cwd", self.home)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.update(user=self.uid, group=self.gid, extra_groups=[])
        return kwargs

    def run(self, argv, timeout=60, **kwargs):
        """Run ``argv`` as this user; output captured as text."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(argv, timeout=timeout, **self._kwargs(kwargs))

    def popen(self, argv, **kwargs):
        """Start ``argv`` as this user (reaped and killed at teardown)."""
        proc = subprocess.Popen(argv, **self._kwargs(kwargs))
        self.children.append(proc)
        return proc

    def pids(self):
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat("/proc/" + entry).st_uid == self.uid and alive(int(entry)):
                        found.append(int(entry))
                except OSError:
                    continue
        return found

    def cleanup(self):
        for proc in self.children:
            if proc.poll() is None:
                proc.kill()
        kill_until_gone(self.pids)
        for proc in self.children:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        # its processes are gone, but init may not have reaped them yet (zombies
        # still count as "in use" for userdel): try again for a while, then force
        deadline = time.monotonic() + 15
        while subprocess.run(["userdel", self.name], capture_output=True,
                             timeout=30).returncode not in (0, 6):  # 6: no such user
            if time.monotonic() >= deadline:
                subprocess.run(["userdel", "-f", self.name], capture_output=True, timeout=30)
                break
            time.sleep(0.2)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def make_user():
    """``make_user()`` -> a LocalUser; needs root (the test is skipped otherwise)."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("creating a throw-away local user needs root and useradd")
    made = []

    def factory():
        user = LocalUser("usv" + uuid.uuid4().hex[:9])
        made.append(user)
        return user

    yield factory
    for user in made:
        user.cleanup()


class DirStore:
    """A private directory as the config cache's store (read(name), write(name, data)),
    for tests that call config.cached without a RuntimeState."""

    def __init__(self, path):
        self.path = path

    def read(self, name):
        from usrsvcmod.state import read_at

        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return None
        try:
            return read_at(fd, name)
        finally:
            os.close(fd)

    def write(self, name, data):
        from usrsvcmod import atomic

        os.makedirs(self.path, mode=0o700, exist_ok=True)
        atomic.write(os.path.join(self.path, name), data)


@pytest.fixture
def shared_dir():
    """A mode-1777 directory like /tmp, made by the test under /var/tmp (reachable by
    throw-away accounts, unlike pytest's root-only tmp_path), removed after it."""
    if os.geteuid() != 0:
        pytest.skip("needs root: another account plants files there")
    import tempfile

    base = tempfile.mkdtemp(prefix="usrsvc-shared-", dir="/var/tmp")
    os.chmod(base, 0o755)
    shared = os.path.join(base, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    try:
        yield shared
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def shared(shared_dir):
    return shared_dir


@pytest.fixture
def attacker(make_user):
    """A second local account (see make_user)."""
    return make_user()


# a loopback sshd and accounts that log in to it (see tests/helpers/sshd.py) ------------------
from helpers.sshd import remote_usrsvc, ssh_account, sshd  # noqa: E402,F401 (fixtures)
