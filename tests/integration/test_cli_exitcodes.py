"""Exit codes exactly as SPEC section 3 (usrsvc 1.5.13's numbers), and --json."""

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import alive, pids_with, wait_for


def lock_file(env, name):
    from usrsvcmod.state import RuntimeState

    state = RuntimeState(env.cfg, environ=env.env)
    state.ensure()
    return os.path.join(state.path, "%s.lock" % name)


class HeldLock:
    """Another usrsvc holding the program's lock (an flock on its lock file)."""

    def __init__(self, env, name):
        self.fd = os.open(lock_file(env, name), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


# --- 0 and 1 ----------------------------------------------------------------------

def test_0_for_start_status_stop_and_1_for_status_of_a_stopped_program(env):
    env.write(env.program("svc", env.service()))
    env.run("status", "svc", check=1)
    env.run("start", "svc", check=0)
    env.run("status", "svc", check=0)
    env.run("stop", "svc", check=0)
    env.run("status", "svc", check=1)
    env.run("stop", "svc", check=0)


# (``start a b`` names two programs since wave 2: see test_cli_ops.py)
@pytest.mark.parametrize("argv", [[], ["start"], ["signal", "svc"], ["--bogus", "status", "svc"],
                                  ["--lock-timeout"], ["--lock-timeout", "soon", "status", "svc"]])
def test_1_with_one_line_and_where_the_help_is_for_missing_or_extra_arguments(env, argv):
    env.write(env.program("svc", env.service()))
    result = env.run(*argv, check=1)
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("usrsvc: "), result.stderr
    assert lines[1] == "Try 'usrsvc --help' for more information."
    assert "Usage:" not in result.stderr and result.stdout == ""


def test_a_logs_usage_error_points_to_the_logs_help(env):
    env.write(env.program("svc", env.service()))
    result = env.run("logs", "svc", "-n", "many", check=1)
    assert result.stderr.splitlines()[1:] == ["Try 'usrsvc logs --help' for more information."]


def test_status_alone_means_status_all(env):
    env.write(env.program("svc", env.service()) + env.program("two", env.service("--tag", "2")))
    alone = env.run("status", check=1)  # nothing runs: 1, as status all
    assert alone.stdout == env.run("status", "all", check=1).stdout
    assert "svc" in alone.stdout and "two" in alone.stdout and alone.stderr == ""
    env.run("start", "all", check=0)
    assert "RUNNING" in env.run("status", check=0).stdout


@pytest.mark.parametrize("flag", ["--help", "-h", "--version", "--readme"])
def test_0_for_help_version_readme(env, flag):
    result = env.run(flag, check=0)
    assert result.stdout.strip()
    if flag == "--version":
        assert result.stdout.startswith("usrsvc ")
    if flag == "--readme":  # the README as installed (an editable install keeps an old copy)
        assert "# usrsvc" in result.stdout


def test_help_needs_no_config(env):
    assert not os.path.exists(env.cfg)
    env.run("--help", check=0)


# --- 11 -------------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["start", "stop", "restart"])
def test_11_when_another_usrsvc_holds_the_lock(env, action):
    env.write(env.program("svc", env.service()))
    with HeldLock(env, "svc"):
        began = time.monotonic()
        result = env.run("--lock-timeout", "0.5", action, "svc", check=11)
        assert time.monotonic() - began < 10
    assert "try again" in result.stdout + result.stderr
    assert not pids_with(env.token)
    env.run("--lock-timeout", "0.5", "start", "svc", check=0)  # released: fine again


def test_lock_is_released_when_its_holder_dies(env):
    env.write(env.program("svc", env.service()))
    path = lock_file(env, "svc")
    code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
            " fcntl.flock(fd, fcntl.LOCK_EX); time.sleep(600)")
    holder = env.spawn([sys.executable, "-c", code, path, env.token])
    assert wait_for(lambda: _locked(path))
    env.run("--lock-timeout", "0.3", "start", "svc", check=11)
    holder.kill()
    holder.wait()
    env.run("--lock-timeout", "5", "start", "svc", check=0)


def _locked(path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def test_status_needs_no_lock(env):
    env.write(env.program("svc", env.service()))
    env.run("start", "svc", check=0)
    with HeldLock(env, "svc"):
        env.run("--lock-timeout", "0.2", "status", "svc", check=0)


def test_start_all_parallel_with_one_locked_program(env):
    env.write(env.program("free", env.service("--tag", "free"))
              + env.program("held", env.service("--tag", "held")))
    with HeldLock(env, "held"):
        result = env.run("--lock-timeout", "0.5", "--json", "start", "all", "-P")
    assert result.returncode == 11
    by_name = {r["name"]: r for r in json.loads(result.stdout)}
    assert by_name["free"]["state"] == "running" and by_name["free"]["exit_code"] == 0
    assert by_name["held"]["exit_code"] == 11
    assert len(pids_with(env.token)) == 1


# --- 130 ------------------------------------------------------------------------------

def test_130_for_an_invalid_config(env):
    env.write(env.program("svc", env.service(), success_seconds="-1"))
    result = env.run("start", "svc", check=130)
    assert env.cfg in result.stderr and "success_seconds" in result.stderr
    assert not pids_with(env.token)


def test_130_for_a_missing_config(env):
    result = env.run("status", "all", check=130)
    assert env.cfg in result.stderr


def test_130_for_an_unsafe_config_file_with_the_fix(env):
    env.write(env.program("svc", env.service()))
    os.chmod(env.cfg, 0o666)
    result = env.run("start", "svc", check=130)
    assert "chmod o-w %s" % env.cfg in result.stderr
    assert not pids_with(env.token)


def test_130_for_an_unsafe_config_dir_with_the_fix(env):
    conf = os.path.join(env.home, "conf.d")
    os.makedirs(conf)
    env.write(env.program("svc", env.service()), os.path.join(conf, "svc.cfg"))
    env.write("[Main]\nconfig_dir = %s\n" % conf)
    os.chmod(conf, 0o777)
    result = env.run("start", "svc", check=130)
    assert "chmod o-w %s" % conf in result.stderr


def test_130_for_an_unsafe_state_dir_with_the_fix(env):
    from usrsvcmod.state import RuntimeState

    env.write(env.program("svc", env.service()))
    state = RuntimeState(env.cfg, environ=env.env)
    state.ensure()
    os.chmod(state.root, 0o777)
    result = env.run("start", "svc", check=130)
    assert "chmod o-w %s" % state.root in result.stderr
    assert not pids_with(env.token)


def test_warnings_are_printed_once_and_do_not_fail(env):
    env.write("[program:typo]\ncommand = x\n" + env.program("svc", env.service()))
    result = env.run("status", "svc", check=1)
    assert result.stderr.count("[Program:typo]") == 1
    assert "warning" in result.stderr


# --- 131, 132, 133 ------------------------------------------------------------------------

def test_131_for_an_invalid_action(env):
    env.write(env.program("svc", env.service()))
    result = env.run("frobnicate", "svc", check=131)
    assert "frobnicate" in result.stderr


def test_132_for_start_of_a_disabled_program_but_stop_and_status_work(env):
    env.write(env.program("off", env.service(), enabled="0"))
    env.run("start", "off", check=132)
    env.run("restart", "off", check=132)
    assert not pids_with(env.token)
    env.run("status", "off", check=1)
    env.run("stop", "off", check=0)


def test_disabled_program_started_by_hand_can_be_stopped(env):
    env.write(env.program("off", env.service(), enabled="false"))
    hand = env.spawn([sys.executable, env.service().split()[1], env.token])
    assert wait_for(lambda: alive(hand.pid))
    env.run("status", "off", check=0)
    env.run("stop", "off", check=0)
    hand.wait(timeout=10)


def test_start_all_skips_disabled_programs(env):
    env.write(env.program("on", env.service("--tag", "on"))
              + env.program("off", env.service("--tag", "off"), enabled="no"))
    env.run("start", "all", check=0)
    [pid] = pids_with(env.token)
    assert pid == env.pid_of("on")


def test_133_for_an_undefined_program(env):
    env.write(env.program("svc", env.service()))
    result = env.run("start", "nosuch", check=133)
    assert "nosuch" in result.stderr
    env.run("status", "nosuch", check=133)
    env.run("stop", "nosuch", check=133)


# --- 136 ------------------------------------------------------------------------------------

def _immutable(path):
    """chattr +i: not even root may write it. False where the filesystem refuses."""
    chattr = shutil.which("chattr")
    if not chattr:
        return False
    return subprocess.run([chattr, "+i", path], capture_output=True).returncode == 0


def test_136_for_a_log_file_root_cannot_write(env):
    log = os.path.join(env.home, "logs", "locked.log")
    os.makedirs(os.path.dirname(log))
    open(log, "w").close()
    if not _immutable(log):
        pytest.skip("chattr +i is not available on this filesystem")
    try:
        env.write(env.program("svc", env.service(), stdout=log))
        result = env.run("start", "svc", check=136)
        assert log in result.stdout + result.stderr
        assert not pids_with(env.token)
    finally:
        subprocess.run(["chattr", "-i", log])


def test_136_for_a_service_account_without_write_permission(env, tmp_path):
    """The real case: a service account (nobody) whose log path it may not write."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv:
        pytest.skip("needs root and setpriv to act as another user")
    import pwd
    import tempfile

    nobody = pwd.getpwnam("nobody")
    home = tempfile.mkdtemp(prefix="usrsvc-nobody-")
    try:
        os.chmod(home, 0o755)
        os.chown(home, nobody.pw_uid, nobody.pw_gid)
        logs = os.path.join(home, "logs")
        os.mkdir(logs, 0o755)  # root's: nobody may not create files here
        cfg = os.path.join(home, "usrsvc.cfg")
        with open(cfg, "w") as handle:
            handle.write("[Program:svc]\ncommand = /bin/sh -c 'sleep 600' %s\n"
                         "pidfile = %s/svc.pid\nstdout = %s/svc.log\nsuccess_seconds = 0.3\n"
                         % (env.token, home, logs))
        os.chown(cfg, nobody.pw_uid, nobody.pw_gid)
        usrsvc = env.usrsvc
        probe = subprocess.run([setpriv, "--reuid", str(nobody.pw_uid), "--regid", str(nobody.pw_gid),
                                "--clear-groups", usrsvc, "--version"], capture_output=True, text=True,
                               cwd="/")
        if probe.returncode != 0:
            pytest.skip("usrsvc cannot run as nobody here: %s" % probe.stderr.strip()[-200:])
        environ = dict(env.env, HOME=home, XDG_RUNTIME_DIR="")
        result = subprocess.run([setpriv, "--reuid", str(nobody.pw_uid), "--regid", str(nobody.pw_gid),
                                 "--clear-groups", usrsvc, "start", "svc"], capture_output=True,
                                text=True, env=environ, cwd="/", timeout=60)
        assert result.returncode == 136, (result.stdout, result.stderr)
        assert "Permission denied" in result.stdout + result.stderr
        assert os.path.join(logs, "svc.log") in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert not pids_with(env.token)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        state_root = "/tmp/usrsvc-%d" % nobody.pw_uid  # nobody has no /run/user dir
        shutil.rmtree(os.path.join(state_root, os.path.realpath(cfg).replace("/", "%2F")),
                      ignore_errors=True)
        try:
            os.rmdir(state_root)
        except OSError:
            pass


# --- 137 ------------------------------------------------------------------------------------

def test_137_when_exec_fails(env):
    env.write(env.program("svc", "/nonexistent/%s" % env.token))
    result = env.run("start", "svc", check=137)
    assert "cannot execute" in result.stdout + result.stderr


def test_137_when_it_exits_inside_success_seconds(env):
    env.write(env.program("svc", env.service("--exit", 0, "--after", 0.1), success_seconds="5"))
    env.run("start", "svc", check=137)


def test_137_when_nothing_ever_matches_proctitle_re(env):
    env.write(env.program("svc", env.service(), proctitle_re="^never matches %s$" % env.token))
    result = env.run("start", "svc", check=137)
    assert "proctitle_re" in result.stdout + result.stderr
    assert wait_for(lambda: not pids_with(env.token), timeout=5)  # not left running


# --- JSON --------------------------------------------------------------------------------------

FIELDS = {"name", "state", "pid", "started_at", "uptime_s", "rss_kb", "cmdline", "pidfile", "message"}


def test_json_for_every_action(env):
    env.write(env.program("svc", env.service()) + env.program("idle", env.service("--tag", "idle")))
    started = json.loads(env.run("--json", "start", "svc", check=0).stdout)
    assert isinstance(started, list) and len(started) == 1
    [record] = started
    assert FIELDS <= set(record)
    pid = env.pid_of("svc")
    assert record["name"] == "svc" and record["state"] == "running" and record["pid"] == pid
    assert record["pidfile"] == os.path.join(env.home, "run", "svc.pid")
    assert env.token in record["cmdline"]
    assert isinstance(record["rss_kb"], int) and record["rss_kb"] > 0
    assert isinstance(record["uptime_s"], (int, float)) and 0 <= record["uptime_s"] < 60
    assert abs(record["started_at"] - time.time()) < 60

    status = json.loads(env.run("status", "all", "--json", check=1).stdout)
    by_name = {r["name"]: r for r in status}
    assert set(by_name) == {"svc", "idle"}
    assert by_name["svc"]["pid"] == pid
    idle = by_name["idle"]
    assert FIELDS <= set(idle)
    assert idle["state"] == "stopped" and idle["pid"] is None and idle["rss_kb"] is None
    assert idle["uptime_s"] is None and idle["started_at"] is None and idle["cmdline"] is None

    stopped = json.loads(env.run("--json", "stop", "svc", check=0).stdout)
    assert stopped[0]["name"] == "svc" and stopped[0]["state"] == "stopped"
    assert str(pid) in stopped[0]["message"]
    restarted = json.loads(env.run("--json", "restart", "all", "-P", check=0).stdout)
    assert {r["name"] for r in restarted} == {"svc", "idle"}
    assert all(r["state"] == "running" and r["pid"] for r in restarted)


def test_json_for_a_failed_start(env):
    env.write(env.program("dies", env.service("--exit", 2)))
    result = env.run("--json", "start", "dies", check=137)
    [record] = json.loads(result.stdout)
    assert FIELDS <= set(record)
    assert record["state"] == "failed" and record["pid"] is None
    assert "status 2" in record["message"]



def _log_under_a_file(env):
    blocker = os.path.join(env.home, "not-a-dir")
    open(blocker, "w").close()
    env.write(env.program("svc", env.service(), stdout=os.path.join(blocker, "svc.log")))
    return env.run("start", "svc", check=136)  # a log that cannot be opened, for any reason


def test_136_for_a_log_path_under_a_regular_file(env):
    result = _log_under_a_file(env)
    assert os.path.join(env.home, "not-a-dir", "svc.log") in result.stdout + result.stderr
    assert not pids_with(env.token)


def test_log_path_under_a_regular_file_says_not_a_directory(env):
    result = _log_under_a_file(env)
    assert "Not a directory" in result.stdout + result.stderr
