"""The Ansible collection driving a fleet over real ssh.

Two "hosts" (both 127.0.0.1 through a loopback sshd, one throw-away account
each) get the root phase (role usrsvc_account: the account's venv from a wheel
built here, no index) and the app phase as each account (role usrsvc_app:
files, programs as data, restart of exactly what changed). Checked on the real
processes: they run as their accounts, not as children of anything ssh or
Ansible started; a second deploy changes nothing; a changed file restarts only
its program; --check changes nothing; a bad value fails with usrsvc's message and
leaves the old file; everything is stopped at the end.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from conftest import alive, descendants, wait_for
from helpers.sshd import Sshd, keygen, new_account, unavailable

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                   re.M)
SERVICE = """\
import sys
import time

# {name}, version {version}: a service that only waits (its argv carries the test token)
while True:
    time.sleep(60)
"""


def ansible_playbook():
    beside = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    found = beside if os.path.exists(beside) else shutil.which("ansible-playbook")
    if not found:
        pytest.skip("ansible-core is not installed (pip install 'ansible-core>=2.19,<2.20')")
    return found


class RootSshd(Sshd):
    """The loopback sshd of helpers.sshd, also letting root in with a key of ours
    (the root phase logs in as root, as an admin's playbook does). Only the keys in
    its own directory count: nobody's real ~/.ssh/authorized_keys is read."""

    def _write_config(self):
        super()._write_config()
        with open(self.config) as handle:
            text = handle.read()
        with open(self.config, "w") as handle:
            handle.write(text.replace("PermitRootLogin no", "PermitRootLogin prohibit-password"))


class Fleet:
    """The controller's side: a private HOME, an inventory, playbooks, and a runner."""

    def __init__(self, base, sshd, accounts, root_key, wheels, token):
        self.base = base
        self.sshd = sshd
        self.accounts = accounts  # alias -> SshAccount
        self.token = token
        self.root_key = root_key
        self.wheels = wheels
        self.home = os.path.join(base, "controller")
        os.makedirs(self.home, mode=0o700)
        self.app = os.path.join(base, "app")
        os.makedirs(self.app, mode=0o755)
        self.playbook = ansible_playbook()
        self.inventory = os.path.join(base, "inventory.ini")
        # one ssh connection per host and user for a whole playbook (its control socket in
        # our controller HOME; close_connections ends them)
        self.control_dir = os.path.join(self.home, "cp")
        os.makedirs(self.control_dir, mode=0o700)
        options = " ".join(sshd.client_options())
        lines = ["[fleet]"]
        for alias, account in sorted(accounts.items()):
            lines.append("%s ansible_host=127.0.0.1 service_account=%s ansible_user=%s"
                         " ansible_ssh_private_key_file=%s"
                         % (alias, account.name, account.name, account.identity))
        lines += ["", "[fleet:vars]",
                  "ansible_port=%d" % sshd.port,
                  "ansible_python_interpreter=/usr/bin/python3",
                  "ansible_ssh_common_args='%s'" % options,
                  ]
        with open(self.inventory, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def write(self, name, text):
        path = os.path.join(self.base, name)
        with open(path, "w") as handle:
            handle.write(textwrap.dedent(text))
        return path

    def service(self, name, version):
        with open(os.path.join(self.app, name + ".py"), "w") as handle:
            handle.write(SERVICE.format(name=name, version=version))

    def run(self, playbook, *args, timeout=600):
        environ = {
            "HOME": self.home,
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "ANSIBLE_COLLECTIONS_PATH": ROOT,  # ansible_collections/usrsvc/core of this checkout
            "ANSIBLE_HOME": os.path.join(self.home, ".ansible"),
            "ANSIBLE_LOCAL_TEMP": os.path.join(self.home, "tmp"),
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_PIPELINING": "true",
            "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=30s",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": self.control_dir,
            "ANSIBLE_FORKS": "2",
            "ANSIBLE_CONFIG": os.path.join(self.base, "no-ansible.cfg"),  # not a cwd's file
        }
        started = time.monotonic()
        proc = subprocess.run([self.playbook, "-i", self.inventory, playbook] + list(args),
                              env=environ, cwd=self.base, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        print("ansible-playbook %s %s: exit %d in %.1f s" % (
            os.path.basename(playbook), " ".join(args), proc.returncode,
            time.monotonic() - started))
        recap = {host: dict(ok=int(ok), changed=int(changed), unreachable=int(unreach),
                            failed=int(failed))
                 for host, ok, changed, unreach, failed in RECAP.findall(proc.stdout)}
        return proc, recap

    def close_connections(self):
        """Tell each ssh master this test's playbooks left behind (one per control socket
        in our own directory) to exit."""
        for name in os.listdir(self.control_dir):
            subprocess.run(["ssh", "-o", "ControlPath=%s" % os.path.join(self.control_dir, name),
                            "-O", "exit", "unused"], capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)

    def pid(self, alias, program):
        path = os.path.join(self.accounts[alias].home, "run", program + ".pid")
        try:
            with open(path) as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None


@pytest.fixture(scope="module")
def wheels():
    """usrsvc and what it needs as wheels, in a directory every account can read: the
    accounts' venvs install from it with no index (and never from the checkout, which
    may sit in a private directory)."""
    if unavailable():
        pytest.skip(unavailable())
    ansible_playbook()
    base = tempfile.mkdtemp(prefix="usrsvc-wheels-", dir="/var/tmp")
    os.chmod(base, 0o755)
    try:
        started = time.monotonic()
        build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "-w", base, ROOT],
                               capture_output=True, text=True, timeout=600,
                               stdin=subprocess.DEVNULL)
        if build.returncode != 0:
            pytest.fail("pip wheel of this checkout failed:\n%s" % build.stderr[-3000:])
        for name in os.listdir(base):
            os.chmod(os.path.join(base, name), 0o644)
        print("pip wheel: %.1f s" % (time.monotonic() - started))
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def fleet(wheels, make_user, token):
    base = tempfile.mkdtemp(prefix="usrsvc-fleet-", dir="/var/tmp")
    os.chmod(base, 0o755)
    os.makedirs(os.path.join(base, "sshd"), mode=0o755)
    server = RootSshd(os.path.join(base, "sshd"), user_keys=False)
    accounts = {}
    try:
        server.start()
        root_key = os.path.join(base, "sshd", "root-key")
        server.authorize("root", keygen(root_key, "usrsvc-test-root"))
        for alias in ("host1", "host2"):
            accounts[alias] = new_account(server, make_user(), alias)
        made = Fleet(base, server, accounts, root_key, wheels, token)
        try:
            yield made
        finally:
            made.close_connections()
    finally:
        server.stop()  # by pid; the accounts' processes go with make_user's teardown
        shutil.rmtree(base, ignore_errors=True)


# The collection's own playbooks (usrsvc.core.bootstrap, usrsvc.core.deploy) run as
# shipped; the test gives them variables. The root phase logs in as root: extra
# variables outrank the inventory's ansible_user.
BOOTSTRAP_VARS = """\
ansible_user: root
ansible_ssh_private_key_file: {root_key}
usrsvc_account_package: usrsvc
usrsvc_account_pip_args: --no-index --find-links {wheels}
usrsvc_account_daemon: none
"""

DEPLOY_VARS = """\
app_src: {app}
app_programs:
  - name: alpha
    files: [alpha.py]
    command: /usr/bin/python3 alpha.py {token}
    settings: {{success_seconds: "{alpha_wait}", term_to_kill_seconds: 3}}
  - name: beta
    files: [beta.py]
    command: /usr/bin/python3 beta.py {token}
    settings: {{success_seconds: 0.3, term_to_kill_seconds: 3}}
"""

FINISH = """\
- name: Look, then stop everything
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Start the daemon
      usrsvc.core.usrsvcd:
        state: started
    - name: Start it again (no change)
      usrsvc.core.usrsvcd:
        state: started
      register: again
    - name: Read the programs' status
      usrsvc.core.usrsvc_info:
      register: before
    - name: An unknown program fails with usrsvc's message and exit code
      usrsvc.core.usrsvc:
        name: [alpha, nosuch]
        state: started
      register: unknown
      ignore_errors: true
    - name: Stop every program, in check mode first
      usrsvc.core.usrsvc:
        name: all
        state: stopped
      check_mode: true
      register: would_stop
    - name: Read the status again
      usrsvc.core.usrsvc_info:
        name: [alpha, beta]
      register: after_check
    - name: Stop every program
      usrsvc.core.usrsvc:
        name: all
        state: stopped
      register: stopped
    - name: Stop them again (no change)
      usrsvc.core.usrsvc:
        name: all
        state: stopped
      register: stopped_again
    - name: Stop the daemon
      usrsvc.core.usrsvcd:
        state: stopped
    - name: Check what the modules said
      ansible.builtin.assert:
        that:
          - not again.changed
          - before.running | sort == ['alpha', 'beta']
          - before.programs.alpha.pid > 0
          - unknown.failed and unknown.exit_code == 133 and 'nosuch' in unknown.msg
          - would_stop.changed and would_stop.changed_programs | sort == ['alpha', 'beta']
          - after_check.running | sort == ['alpha', 'beta']
          - stopped.changed and stopped.changed_programs | sort == ['alpha', 'beta']
          - not stopped_again.changed
"""


def bootstrap(fleet):
    path = fleet.write("bootstrap-vars.yml", BOOTSTRAP_VARS.format(root_key=fleet.root_key,
                                                                    wheels=fleet.wheels))
    return fleet.run("usrsvc.core.bootstrap", "-e", "@" + path)


def deploy(fleet, *args, alpha_wait="0.3"):
    path = fleet.write("deploy-vars.yml", DEPLOY_VARS.format(app=fleet.app, token=fleet.token,
                                                              alpha_wait=alpha_wait))
    return fleet.run("usrsvc.core.deploy", "-e", "@" + path, *args)


def ok(proc, recap, fleet):
    assert proc.returncode == 0, "%s\n%s\nsshd log:\n%s" % (proc.stdout[-6000:],
                                                            proc.stderr[-3000:],
                                                            fleet.sshd.log_text())
    assert set(recap) == set(fleet.accounts), proc.stdout[-3000:]
    return recap


def parent(pid):
    with open("/proc/%d/stat" % pid) as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


def test_two_hosts_bootstrap_as_root_deploy_as_their_accounts_and_change_only_what_changed(
        fleet):
    recap = ok(*bootstrap(fleet), fleet)
    assert all(host["changed"] > 0 for host in recap.values())
    for account in fleet.accounts.values():
        venv_usrsvc = os.path.join(account.home, ".local", "usrsvc", "bin", "usrsvc")
        assert os.stat(venv_usrsvc).st_uid == account.user.uid
        config = os.stat(os.path.join(account.home, "usrsvc.cfg"))
        assert (config.st_uid, config.st_mode & 0o777) == (account.user.uid, 0o600)
    # the root phase is idempotent too
    recap = ok(*bootstrap(fleet), fleet)
    assert all(host["changed"] == 0 for host in recap.values()), recap

    fleet.service("alpha", 1)
    fleet.service("beta", 1)
    recap = ok(*deploy(fleet), fleet)
    assert all(host["changed"] > 0 for host in recap.values())
    pids = {}
    ours = set(descendants([os.getpid()]) + descendants([fleet.sshd.pid]))
    for alias, account in fleet.accounts.items():
        for program in ("alpha", "beta"):
            pid = fleet.pid(alias, program)
            assert pid and alive(pid), (alias, program)
            assert os.stat("/proc/%d" % pid).st_uid == account.user.uid
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                assert fleet.token.encode() in handle.read()
            # init or the nearest subreaper: nothing that ssh or Ansible started
            assert parent(pid) not in ours | {fleet.sshd.pid, os.getpid()}
            pids[alias, program] = pid
        program_file = os.stat(os.path.join(account.home, "usrsvc.d", "alpha.cfg"))
        assert program_file.st_mode & 0o777 == 0o600

    # usrsvc -H over the same ssh sees both hosts' programs, each as its account
    look = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "usrsvc"), "--json", "-H", "host1,host2",
         "--remote-command", "~/.local/usrsvc/bin/usrsvc", "status"],
        env=dict(os.environ, USRSVC_SSH="ssh -F %s" % fleet.sshd.client_config),
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert look.returncode == 0, (look.stdout, look.stderr)
    rows = {(row["host"], row["name"]): row for row in json.loads(look.stdout)}
    assert {key: row["pid"] for key, row in rows.items()} == pids

    # the same deploy again: nothing changes, nothing restarts
    recap = ok(*deploy(fleet), fleet)
    assert all(host["changed"] == 0 for host in recap.values()), recap
    assert {key: fleet.pid(*key) for key in pids} == pids

    # a changed file restarts its program, and only it, on every host
    fleet.service("alpha", 2)
    recap = ok(*deploy(fleet), fleet)
    for alias in fleet.accounts:
        assert wait_for(lambda: fleet.pid(alias, "alpha") not in (None, pids[alias, "alpha"]))
        assert fleet.pid(alias, "beta") == pids[alias, "beta"]
        assert alive(pids[alias, "beta"]) and not alive(pids[alias, "alpha"])
        pids[alias, "alpha"] = fleet.pid(alias, "alpha")

    # --check says what would change and changes nothing
    fleet.service("beta", 2)
    proc, recap = deploy(fleet, "--check", "--diff")
    ok(proc, recap, fleet)
    assert all(host["changed"] > 0 for host in recap.values()), recap
    assert "beta" in proc.stdout
    for alias, account in fleet.accounts.items():
        with open(os.path.join(account.home, "app", "beta.py")) as handle:
            assert "version 1" in handle.read()
    assert {key: fleet.pid(*key) for key in pids} == pids
    fleet.service("beta", 1)

    # a bad value fails with usrsvc's own message, and the old program file stays
    before = {alias: open(os.path.join(a.home, "usrsvc.d", "alpha.cfg")).read()
              for alias, a in fleet.accounts.items()}
    proc, recap = deploy(fleet, alpha_wait="soon")
    assert proc.returncode != 0
    assert all(host["failed"] == 1 for host in recap.values()), recap
    assert "success_seconds" in proc.stdout and "soon" in proc.stdout, proc.stdout[-4000:]
    assert "left as it was before" in proc.stdout
    for alias, account in fleet.accounts.items():
        with open(os.path.join(account.home, "usrsvc.d", "alpha.cfg")) as handle:
            assert handle.read() == before[alias]
    assert {key: fleet.pid(*key) for key in pids} == pids

    # the daemon and the info module, then everything stopped
    recap = ok(*fleet.run(fleet.write("finish.yml", FINISH)), fleet)
    for pid in pids.values():
        assert wait_for(lambda: not alive(pid))
