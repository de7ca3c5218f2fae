"""usrsvc -H against a real sshd on loopback: two "hosts" (127.0.0.1, one
throw-away account each), reached through the test's ssh_config with
$USRSVC_SSH; the accounts run the installed usrsvc from their PATH.
"""

import json
import os
import shutil

import pytest

from conftest import SERVICE, alive, free_port, wait_for


class Fleet:
    """Two accounts with the same program ``app`` (a service carrying the token)."""

    def __init__(self, env, sshd, remote_usrsvc, ssh_account, token):
        self.env, self.sshd, self.token = env, sshd, token
        self.python = remote_usrsvc.python
        self.hosts = [ssh_account("hosts-a-" + token[-6:]), ssh_account("hosts-b-" + token[-6:])]
        for host in self.hosts:
            self.configure(host)
        self.ssh_env = {"USRSVC_SSH": "ssh -F %s" % sshd.client_config}

    def configure(self, host, name="usrsvc.cfg", programs=("app",)):
        user = host.user
        service = os.path.join(user.home, "service.py")
        shutil.copy(SERVICE, service)
        os.chmod(service, 0o644)
        sections = []
        for program in programs:
            sections.append(
                "[Program:%s]\ncommand = %s %s %s --tag %s --every 0.2\n"
                "pidfile = %s/run/%s.pid\nstdout = %s/logs/%s.log\nsuccess_seconds = 0.3\n"
                "term_to_kill_seconds = 3\n"
                % (program, self.python, service, self.token, program, user.home, program,
                   user.home, program))
        path = os.path.join(user.home, name)
        with open(path, "w") as handle:
            handle.write("\n".join(sections))
        os.chmod(path, 0o644)
        for entry in (path, service):
            os.chown(entry, user.uid, user.gid)
        return path

    @property
    def names(self):
        return ",".join(host.alias for host in self.hosts)

    def run(self, *args, check=None, env=None):
        return self.env.run(*args, check=check, env=dict(self.ssh_env, **(env or {})))

    @staticmethod
    def pid_of(host, program="app"):
        try:
            with open(os.path.join(host.home, "run", program + ".pid")) as handle:
                return int(handle.read())
        except (OSError, ValueError):
            return None


def _uid(pid):
    return os.stat("/proc/%d" % pid).st_uid


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as handle:
            return handle.read().strip()
    except OSError:
        return None


def _ppid(pid):
    with open("/proc/%d/stat" % pid) as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


@pytest.fixture
def fleet(env, sshd, remote_usrsvc, ssh_account, token):
    return Fleet(env, sshd, remote_usrsvc, ssh_account, token)


def test_status_all_is_one_table_with_a_host_column(fleet):
    first, second = fleet.hosts
    proc = fleet.run("-H", fleet.names, "status", check=1)  # both stopped: 1, as status all
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["HOST", "NAME", "STATE"], proc.stdout
    assert lines[1].split()[:3] == [first.alias, "app", "STOPPED"], proc.stdout
    assert lines[2].split()[:3] == [second.alias, "app", "STOPPED"], proc.stdout


def test_start_stop_restart_across_two_hosts_run_each_service_as_its_account(fleet):
    first, second = fleet.hosts
    started = fleet.run("-H", fleet.names, "start", "all", check=0)
    pids = [fleet.pid_of(host) for host in fleet.hosts]
    assert all(pids), started.stdout
    for host, pid in zip(fleet.hosts, pids):
        assert alive(pid) and _uid(pid) == host.user.uid, started.stdout
        assert fleet.token in open("/proc/%d/cmdline" % pid).read()
        # detached as usual: not a child of the ssh session that launched it
        assert _comm(_ppid(pid)) != "sshd", _ppid(pid)
        assert [line for line in started.stdout.splitlines()
                if line.split()[:3] == [host.alias, "app", "RUNNING"]], started.stdout

    status = fleet.run("-H", fleet.names, "status", "all", check=0)
    for host, pid in zip(fleet.hosts, pids):
        row = [line for line in status.stdout.splitlines() if line.startswith(host.alias)]
        assert row and row[0].split()[2:4] == ["RUNNING", str(pid)], status.stdout

    again = fleet.run("-H", fleet.names, "start", "app", check=0)
    assert again.stdout.count("already running") == 2, again.stdout

    restarted = fleet.run("-H", fleet.names, "restart", "app", check=0)
    new = [fleet.pid_of(host) for host in fleet.hosts]
    assert all(new) and set(new).isdisjoint(pids), restarted.stdout
    assert wait_for(lambda: not any(alive(pid) for pid in pids), timeout=10)
    for host, pid in zip(fleet.hosts, new):
        assert alive(pid) and _uid(pid) == host.user.uid

    stopped = fleet.run("-H", fleet.names, "stop", "all", check=0)
    assert wait_for(lambda: not any(alive(pid) for pid in new), timeout=10), stopped.stdout
    # a user's stop is remembered, as locally (and is no failure of status)
    assert fleet.run("-H", fleet.names, "status").stdout.count("STOPPED_BY_USER") == 2


def test_json_rows_carry_the_host(fleet):
    first, second = fleet.hosts
    fleet.run("-H", first.alias, "start", "app", check=0)
    proc = fleet.run("--json", "-H", fleet.names, "status", "all", check=1)  # second: stopped
    rows = json.loads(proc.stdout)
    assert [(row["host"], row["name"], row["state"]) for row in rows] == [
        (first.alias, "app", "running"), (second.alias, "app", "stopped")]
    assert rows[0]["pid"] == fleet.pid_of(first) and rows[1]["pid"] is None
    assert rows[0]["exit_code"] == 0 and rows[1]["exit_code"] == 1


def test_an_unreachable_host_is_a_row_with_the_ssh_error(fleet, tmp_path):
    first = fleet.hosts[0]
    closed = free_port()
    config = tmp_path / "ssh_config"
    config.write_text("Host down\n    HostName 127.0.0.1\n    Port %d\n" % closed
                      + open(fleet.sshd.client_config).read())
    env = {"USRSVC_SSH": "ssh -F %s" % config}
    fleet.run("-H", first.alias, "start", "app", check=0)
    proc = fleet.run("-H", "%s,down" % first.alias, "status", check=1, env=env)
    assert "Traceback" not in proc.stderr
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[1:3]}
    assert rows[first.alias][2] == "RUNNING" and rows["down"][2] == "UNREACHABLE", proc.stdout
    assert "down: ssh: connect to host 127.0.0.1 port %d: Connection refused" % closed \
        in proc.stdout, proc.stdout

    as_json = json.loads(fleet.run("--json", "-H", "down,%s" % first.alias, "status", "app",
                                   check=1, env=env).stdout)
    assert as_json[0]["host"] == "down" and as_json[0]["state"] == "unreachable"
    assert as_json[0]["name"] is None and as_json[0]["exit_code"] == 1
    assert as_json[1]["state"] == "running"


def test_the_exit_code_follows_the_usual_rule_over_hosts(fleet):
    first, second = fleet.hosts
    fleet.configure(second, programs=("other",))  # "app" is undefined there
    fleet.run("-H", first.alias, "start", "app", check=0)
    proc = fleet.run("-H", fleet.names, "status", "app", check=133)  # one failure: its code
    assert [line.split()[:3] for line in proc.stdout.splitlines()[1:3]] == [
        [first.alias, "app", "RUNNING"], [second.alias, "-", "ERROR"]], proc.stdout
    assert "%s: usrsvc: no program named 'app'" % second.alias in proc.stdout  # the host's reason
    fleet.run("-H", fleet.names, "status", "all", check=1)  # other: stopped
    fleet.run("-H", first.alias, "stop", "app", check=0)
    fleet.run("-H", fleet.names, "start", "app", "other", check=133)  # undefined on each host


def test_hostile_program_and_host_names_reach_no_shell(fleet, tmp_path):
    first = fleet.hosts[0]
    marker = os.path.join(first.home, "pwned")
    for name in ("app;touch %s" % marker, "$(touch %s)" % marker, "`touch %s`" % marker,
                 "app' 'x; touch %s" % marker):
        proc = fleet.run("-H", first.alias, "status", name, check=133)
        assert "Traceback" not in proc.stdout + proc.stderr
    local = tmp_path / "local-pwned"
    for host in ("x;>%s" % local, "$(>%s)" % local, "`>%s`" % local, "x&&:>%s" % local,
                 "x|tee\x09%s" % local):
        proc = fleet.run("-H", host, "status", check=1)
        assert "UNREACHABLE" in proc.stdout or "control characters" in proc.stderr, proc.stdout
    spaced = fleet.run("-H", "x; touch %s" % local, "status", check=1)
    assert "cannot hold spaces" in spaced.stderr, spaced.stderr
    refused = fleet.run("-H", "-oProxyCommand=touch\x09%s" % local, "status", check=1)
    assert "cannot start with '-'" in refused.stderr
    assert not os.path.exists(marker) and not local.exists()


def test_logs_are_prefixed_by_host(fleet):
    fleet.run("-H", fleet.names, "start", "app", check=0)
    for host in fleet.hosts:
        path = os.path.join(host.home, "logs", "app.log")
        assert wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 0)
    proc = fleet.run("-H", fleet.names, "logs", "-n", "1", "app", check=0)
    lines = proc.stdout.splitlines()
    assert [line.split(" | ")[0].split() for line in lines] == [
        [host.alias, "app"] for host in fleet.hosts], proc.stdout
    as_json = [json.loads(line) for line in
               fleet.run("--json", "-H", fleet.names, "logs", "-n", "1", "app", check=0)
               .stdout.splitlines()]
    assert [(item["host"], item["program"]) for item in as_json] == [
        (host.alias, "app") for host in fleet.hosts]


def test_remote_command_and_config_pass_through(fleet, remote_usrsvc):
    first, second = fleet.hosts
    for host in fleet.hosts:
        fleet.configure(host, name="alt.cfg", programs=("alt",))
    proc = fleet.run("-H", fleet.names, "--config", "alt.cfg", "status", "alt", check=1,
                     env={"USRSVC_REMOTE_COMMAND": remote_usrsvc.command("usrsvc")})
    assert proc.stdout.count("STOPPED") == 2, proc.stdout + proc.stderr
    missing = fleet.run("-H", first.alias, "--remote-command", "/nonexistent/usrsvc", "status",
                        check=1)
    assert "ERROR" in missing.stdout and "--remote-command" in missing.stdout, missing.stdout


def test_bad_use_of_h_is_a_usage_error(fleet):
    for args in (["-H", "a,,b", "status"], ["-H", "a", "checkconfig"], ["-H", "a", "start"],
                 ["-H", "a", "logs", "-f", "app"], ["--remote-command", "x", "status"]):
        proc = fleet.run(*args, check=1)
        assert "Try 'usrsvc" in proc.stderr, (args, proc.stderr)
