"""A real OpenSSH server on a loopback port, throw-away accounts that log in to it
with generated keys, and the installed usrsvc where those accounts can run it.

Made for tests that drive usrsvc over ssh (``usrsvc -H``, playbooks): they see a
fleet of "hosts" that are all 127.0.0.1, one account each. Nothing here touches
the machine's own sshd or its config: the server runs in the foreground from a
private temporary directory (its own host key, config, authorized keys, log),
listens on 127.0.0.1 only, and is stopped by pid.

Fixtures (imported into tests/conftest.py):

``sshd``            session-scoped ``Sshd``, started once; skips (saying why)
                    when not root or when /usr/sbin/sshd, ssh or ssh-keygen is
                    missing (Debian: apt-get install openssh-server).
``remote_usrsvc``   session-scoped ``RemoteInstall``: the installed package
                    copied where every account can run it; ``.bin`` goes first
                    on the accounts' PATH over ssh.
``ssh_account``     ``ssh_account(alias=None)`` -> ``SshAccount``: a throw-away
                    local account (conftest's ``make_user``) whose new ed25519
                    key the server accepts, reachable as host ``alias`` through
                    ``sshd.client_config`` (an ssh_config file for ``ssh -F``).

Typical use::

    def test_x(sshd, ssh_account):
        web = ssh_account("web1")
        proc = sshd.ssh(web.alias, "id -un")       # runs as web.user.name
        # or any client: ssh -F sshd.client_config web1 ...
"""

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = "/run/sshd"  # Debian's sshd refuses to start without it


def unavailable():
    """Why a loopback sshd cannot run here (a skip reason), or None."""
    if os.geteuid() != 0:
        return "a test sshd needs root (it runs /usr/sbin/sshd and creates accounts)"
    if not os.access(SSHD, os.X_OK):
        return "%s is missing (Debian: apt-get install openssh-server)" % SSHD
    for tool in ("ssh", "ssh-keygen", "useradd", "usermod"):
        if not shutil.which(tool):
            return "%s is missing (Debian: apt-get install openssh-client passwd)" % tool
    return None


def keygen(path, comment="usrsvc-test"):
    """A new ed25519 key pair without a passphrase at ``path`` (+ ``.pub``); the
    public key's text."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
                   check=True, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    with open(path + ".pub") as handle:
        return handle.read().strip()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _banner(port, timeout=1.0):
    """True when an SSH server answers on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


class Sshd:
    """One sshd in the foreground (``-D -e -f CONFIG``) on a free loopback port.

    ``base`` is a directory of root's, readable by everyone (the accounts'
    keys live in it); ``user_keys``: also accept the accounts' own
    ~/.ssh/authorized_keys (a role that installs keys there), not only the
    keys given to ``authorize``.
    """

    def __init__(self, base, user_keys=True):
        self.base = base
        self.keys_dir = os.path.join(base, "authorized_keys")
        os.makedirs(self.keys_dir, mode=0o755, exist_ok=True)
        self.host_key = os.path.join(base, "host_ed25519")
        self.host_public = keygen(self.host_key, "usrsvc-test-host")
        self.config = os.path.join(base, "sshd_config")
        self.log = os.path.join(base, "sshd.log")
        self.known_hosts = os.path.join(base, "known_hosts")
        self.client_config = os.path.join(base, "ssh_config")
        self.user_keys = user_keys
        self.port = None
        self.proc = None
        self.hosts = {}  # alias -> (user, identity file)

    # the server ------------------------------------------------------------------------
    def _write_config(self):
        keyfiles = os.path.join(self.keys_dir, "%u")
        if self.user_keys:
            keyfiles += " .ssh/authorized_keys"
        lines = [
            "Port %d" % self.port,
            "ListenAddress 127.0.0.1",
            "HostKey %s" % self.host_key,
            "PidFile none",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin no",
            "AuthorizedKeysFile %s" % keyfiles,
            # the accounts' homes and our keys live under /var/tmp (mode 1777), which
            # StrictModes refuses as a parent of any key file
            "StrictModes no",
            # ~/.ssh/environment puts the test's usrsvc first on the account's PATH
            "PermitUserEnvironment PATH",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "MaxStartups 64:30:128",
            "MaxSessions 64",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
        ]
        with open(self.config, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def start(self, timeout=20.0):
        """Start sshd and wait until it answers; a port taken meanwhile is retried."""
        if not os.path.isdir(PRIVSEP_DIR):
            os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
        for _ in range(5):
            self.port = _free_port()
            self._write_config()
            check = subprocess.run([SSHD, "-t", "-f", self.config], capture_output=True,
                                   text=True, timeout=30)
            if check.returncode != 0:
                raise RuntimeError("sshd -t refused %s: %s" % (self.config, check.stderr))
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", self.config],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if _banner(self.port):
                    self._write_known_hosts()
                    return self
                time.sleep(0.05)
            self.stop()
        raise RuntimeError("sshd did not come up; its log:\n" + self.log_text())

    def stop(self):
        """Stop our sshd by its pid (TERM, then KILL); sessions it forked end with it
        or are the accounts' (their teardown kills them)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def log_text(self):
        try:
            with open(self.log, errors="replace") as handle:
                return handle.read()[-4000:]
        except OSError:
            return ""

    # keys and the client side ------------------------------------------------------------
    def authorize(self, username, public_key):
        """Let ``username`` log in with ``public_key`` (added to its key file here)."""
        path = os.path.join(self.keys_dir, username)
        with open(path, "a") as handle:
            handle.write(public_key.strip() + "\n")
        os.chmod(path, 0o644)

    def _write_known_hosts(self):
        kind, blob = self.host_public.split()[:2]
        with open(self.known_hosts, "w") as handle:
            handle.write("[127.0.0.1]:%d %s %s\n" % (self.port, kind, blob))
        os.chmod(self.known_hosts, 0o644)
        self._write_client_config()

    def add_host(self, alias, username, identity):
        """Make ``alias`` a host name in ``client_config``: 127.0.0.1 on our port, as
        ``username``, with the private key ``identity``."""
        self.hosts[alias] = (username, identity)
        self._write_client_config()

    def forget(self, alias, username):
        """Undo add_host and authorize (an account's teardown)."""
        self.hosts.pop(alias, None)
        self._write_client_config()
        try:
            os.unlink(os.path.join(self.keys_dir, username))
        except FileNotFoundError:
            pass

    def client_options(self):
        """ssh -o options that reach this server with its host key checked."""
        return ["-o", "UserKnownHostsFile=%s" % self.known_hosts,
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10"]

    def _write_client_config(self):
        lines = []
        for alias, (username, identity) in sorted(self.hosts.items()):
            lines += ["Host %s" % alias, "    HostName 127.0.0.1", "    Port %d" % self.port,
                      "    User %s" % username, "    IdentityFile %s" % identity]
        lines += ["Host *",
                  "    UserKnownHostsFile %s" % self.known_hosts,
                  "    GlobalKnownHostsFile /dev/null",
                  "    StrictHostKeyChecking yes",
                  "    BatchMode yes",
                  "    IdentitiesOnly yes",
                  "    ConnectTimeout 10",
                  "    LogLevel ERROR"]
        with open(self.client_config, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(self.client_config, 0o644)

    def ssh_command(self):
        """argv of an ssh client that knows every alias (``ssh -F client_config``)."""
        return ["ssh", "-F", self.client_config]

    def ssh(self, alias, command, timeout=60, **kwargs):
        """Run the shell command ``command`` on host ``alias``; output captured as text."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.ssh_command() + [alias, command], timeout=timeout,
                              stdin=subprocess.DEVNULL, **kwargs)


class SshAccount:
    """A LocalUser that logs in to the test sshd as host ``alias``."""

    def __init__(self, user, alias, identity, public_key):
        self.user = user  # conftest.LocalUser (home, uid, run, popen, cleanup)
        self.alias = alias
        self.identity = identity  # private key file (root's, mode 0600)
        self.public_key = public_key

    @property
    def name(self):
        return self.user.name

    @property
    def home(self):
        return self.user.home

    @property
    def destination(self):
        """USER@HOST for clients given ``sshd.client_options()`` and ``-p PORT``."""
        return "%s@127.0.0.1" % self.user.name


def new_account(sshd, user, alias=None, path=None):
    """Turn the LocalUser ``user`` into an SshAccount of ``sshd``: unlock it for key
    logins, give it a new key, a private ~/.ssh, and ``path`` (directories put
    first on its PATH over ssh, e.g. RemoteInstall.bin)."""
    # a password of "!" (useradd's default) is a locked account, which sshd
    # refuses without PAM; "*" matches no password and is not locked
    subprocess.run(["usermod", "-p", "*", user.name], check=True, capture_output=True,
                   timeout=30)
    alias = alias or user.name
    identity = os.path.join(sshd.base, "client-keys", "%s-%s" % (alias, uuid.uuid4().hex[:6]))
    os.makedirs(os.path.dirname(identity), mode=0o700, exist_ok=True)
    public = keygen(identity, "usrsvc-test-%s" % user.name)
    sshd.authorize(user.name, public)
    dot_ssh = os.path.join(user.home, ".ssh")
    os.makedirs(dot_ssh, mode=0o700, exist_ok=True)
    os.chown(dot_ssh, user.uid, user.gid)
    if path:
        environment = os.path.join(dot_ssh, "environment")
        with open(environment, "w") as handle:
            handle.write("PATH=%s\n" % ":".join(list(path) + ["/usr/local/bin", "/usr/bin",
                                                             "/bin"]))
        os.chown(environment, user.uid, user.gid)
        os.chmod(environment, 0o600)
    sshd.add_host(alias, user.name, identity)
    return SshAccount(user, alias, identity, public)


def _reachable_by_all(path):
    """Every directory above ``path`` searchable by others, and ``path`` readable."""
    path = os.path.realpath(path)
    if not os.stat(path).st_mode & 0o004:
        return False
    while path != "/":
        path = os.path.dirname(path)
        if not os.stat(path).st_mode & 0o001:
            return False
    return True


def _requirements(dist):
    """Names of what ``dist`` needs at run time (extras and other platforms' left out)."""
    import re

    names = []
    for requirement in dist.requires or ():
        spec, _, marker = requirement.partition(";")
        if "extra" in marker or "nt" in marker or "win32" in marker:
            continue
        name = re.match(r"[A-Za-z0-9._-]+", spec.strip())
        if name:
            names.append(name.group(0))
    return names


class RemoteInstall:
    """The usrsvc this test run installed, copied where any account can run it.

    The test interpreter often lives under root's private home (pyenv) and the
    checkout may sit in a private directory: accounts can reach neither. So the
    installed distribution and its run-time requirements are copied (their
    installed files, from the metadata) into ``base/site``, and ``base/bin``
    gets ``usrsvc``/``usrsvcd`` launchers for an interpreter every account can
    run (this one, or /usr/bin/python3 of the same version). No network, no
    build: well under a second.
    """

    def __init__(self, base):
        from importlib import metadata

        self.base = base
        self.site = os.path.join(base, "site")
        self.bin = os.path.join(base, "bin")
        os.makedirs(self.site, mode=0o755)
        os.makedirs(self.bin, mode=0o755)
        self.python = self._interpreter()
        seen, queue = set(), ["usrsvc"]
        while queue:
            name = queue.pop()
            key = name.lower().replace("_", "-")
            if key in seen:
                continue
            seen.add(key)
            dist = metadata.distribution(name)
            self._copy(dist)
            queue.extend(_requirements(dist))
        for command, module in (("usrsvc", "usrsvcmod.cli"), ("usrsvcd", "usrsvcmod.usrsvcd")):
            self._launcher(command, module)
        for dirpath, dirnames, filenames in os.walk(base):
            for name in dirnames:
                os.chmod(os.path.join(dirpath, name), 0o755)
            for name in filenames:
                path = os.path.join(dirpath, name)
                os.chmod(path, 0o755 if dirpath == self.bin else 0o644)

    @staticmethod
    def _interpreter():
        here = os.path.realpath(sys.executable)
        if _reachable_by_all(here):
            return here
        system = "/usr/bin/python3"
        if os.path.exists(system):
            probe = subprocess.run([system, "-c", "import sys; print(sys.version_info[:2])"],
                                   capture_output=True, text=True, timeout=30)
            if probe.stdout.strip() == str(tuple(sys.version_info[:2])):
                return system
        pytest.skip("no Python %d.%d that other accounts can run (this one, %s, is out of"
                    " their reach)" % (sys.version_info[:2] + (here,)))

    def _copy(self, dist):
        for relative in dist.files or ():
            source = str(dist.locate_file(relative))
            if str(relative).startswith("..") or "__pycache__" in str(relative):
                continue  # console scripts and data files outside site-packages
            target = os.path.join(self.site, str(relative))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.isfile(source):
                shutil.copy2(source, target)

    def _launcher(self, command, module):
        path = os.path.join(self.bin, command)
        with open(path, "w") as handle:
            handle.write("#!%s -s\nimport sys\nsys.path.insert(0, %r)\nfrom %s import main\n"
                         "sys.exit(main())\n" % (self.python, self.site, module))
        os.chmod(path, 0o755)

    def command(self, name="usrsvc"):
        return os.path.join(self.bin, name)


# fixtures -------------------------------------------------------------------------------------
def _skip_unless_possible():
    reason = unavailable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def sshd():
    """The test sshd (see Sshd), started once per test session, stopped by pid."""
    _skip_unless_possible()
    base = tempfile.mkdtemp(prefix="usrsvc-sshd-", dir="/var/tmp")
    os.chmod(base, 0o755)
    server = Sshd(base)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def remote_usrsvc():
    """usrsvc and usrsvcd as installed for this run, runnable by any account."""
    _skip_unless_possible()
    base = tempfile.mkdtemp(prefix="usrsvc-remote-", dir="/var/tmp")
    os.chmod(base, 0o755)
    try:
        yield RemoteInstall(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def ssh_account(sshd, remote_usrsvc, make_user):
    """``ssh_account(alias=None)`` -> SshAccount: a new local account reachable as
    host ``alias`` (default: its user name) through ``sshd.client_config``, with
    the test's usrsvc first on its PATH over ssh. Removed after the test."""

    made = []

    def factory(alias=None):
        account = new_account(sshd, make_user(), alias, path=[remote_usrsvc.bin])
        made.append(account)
        return account

    yield factory
    for account in made:
        sshd.forget(account.alias, account.name)


def quote(argv):
    """A shell command line for ``argv`` (what a remote shell runs)."""
    return " ".join(shlex.quote(word) for word in argv)
