"""What a started service inherits: signals, mask, descriptors, environment, cwd, umask.

usrsvc is run here with a deliberately dirty state (signals ignored and
blocked, extra descriptors, odd umask and cwd) and the service must not
see any of it unless its config says so.
"""

import os
import signal

from conftest import alive, wait_for

DIRTY_IGNORED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR2)
DIRTY_BLOCKED = (signal.SIGUSR1, signal.SIGCHLD, signal.SIGALRM, signal.SIGTERM)


def _dirty():
    """preexec_fn: what a careless caller (nohup, a cron job, 1.5.13) hands down."""
    for sig in DIRTY_IGNORED:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, DIRTY_BLOCKED)
    os.umask(0o077)


def report(path):
    assert wait_for(lambda: os.path.exists(path) and "environ=" in open(path).read())
    values = {}
    with open(path) as handle:
        for line in handle:
            key, _, value = line.rstrip("\n").partition("=")
            values[key] = value
    return values


def proc_status(pid, field):
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
    return None


def initial_environ(pid):
    """The environment the process was exec'd with (before Python touched it)."""
    with open("/proc/%d/environ" % pid, "rb") as handle:
        items = [i.decode() for i in handle.read().split(b"\0") if i]
    return dict(item.split("=", 1) for item in items)


def test_default_dispositions_and_empty_mask_despite_a_dirty_caller(env):
    out = os.path.join(env.home, "report")
    env.write(env.program("svc", env.service("--report", out)))
    env.run("start", "svc", check=0, preexec_fn=_dirty)
    values = report(out)
    # Python itself ignores SIGPIPE (left out by the helper) and SIGXFSZ at startup
    assert set(eval(values["ignored"])) <= {int(signal.SIGXFSZ)}, values["ignored"]
    assert eval(values["blocked"]) == []
    pid = env.pid_of("svc")
    assert int(proc_status(pid, "SigBlk"), 16) == 0
    # and so a plain stop needs no SIGKILL
    stopped = env.run("stop", "svc", check=0)
    assert "SIGKILL" not in stopped.stdout and not alive(pid)


def test_shell_sees_no_ignored_or_blocked_signal(env):
    # a non-Python check: grep reads its own /proc entry, inherited from the shell
    out = os.path.join(env.home, "sig")
    command = "grep -E '^Sig(Ign|Blk)' /proc/self/status > %s; exec %s" % (out, env.service())
    env.write(env.program("sh", command, useshell="True"))
    env.run("start", "sh", check=0, preexec_fn=_dirty)
    assert wait_for(lambda: os.path.exists(out) and open(out).read().count("\n") == 2)
    lines = dict(line.split(":") for line in open(out).read().splitlines())
    assert int(lines["SigIgn"], 16) == 0, lines
    assert int(lines["SigBlk"], 16) == 0, lines


def test_no_inherited_descriptors(env):
    out = os.path.join(env.home, "report")
    env.write(env.program("svc", env.service("--report", out),
                          stderr=os.path.join(env.home, "logs", "svc.err")))
    leaked_r, leaked_w = os.pipe()
    spare = os.open(env.cfg, os.O_RDONLY)
    try:
        for fd in (leaked_r, leaked_w, spare):
            os.set_inheritable(fd, True)
        proc = env.popen("start", "svc", pass_fds=(leaked_r, leaked_w, spare))
        proc.communicate(timeout=30)
        assert proc.returncode == 0
    finally:
        for fd in (leaked_r, leaked_w, spare):
            os.close(fd)
    values = report(out)
    assert eval(values["fds"]) == [0, 1, 2]
    pid = env.pid_of("svc")
    assert sorted(int(fd) for fd in os.listdir("/proc/%d/fd" % pid))[:3] == [0, 1, 2]
    assert os.readlink("/proc/%d/fd/0" % pid) == "/dev/null"
    assert os.readlink("/proc/%d/fd/1" % pid) == os.path.join(env.home, "logs", "svc.log")
    assert os.readlink("/proc/%d/fd/2" % pid) == os.path.join(env.home, "logs", "svc.err")


def test_logs_are_appended_not_truncated(env):
    log = os.path.join(env.home, "logs", "svc.log")
    os.makedirs(os.path.dirname(log))
    with open(log, "w") as handle:
        handle.write("earlier line\n")
    env.write(env.program("svc", env.service()))
    env.run("start", "svc", check=0)
    assert wait_for(lambda: "up pid" in open(log).read())
    assert open(log).read().startswith("earlier line\n")


def test_env_section_and_inherited_environment(env):
    env.write(env.program("svc", env.service()) + "  [[Env]]\n  TESTVAR = from-config\n"
              "  WITH_COMMA = a,b\n  MARKER = overridden\n")
    env.run("start", "svc", check=0, env={"MARKER": "from-caller", "CALLER_ONLY": "yes"})
    environ = initial_environ(env.pid_of("svc"))
    assert environ["TESTVAR"] == "from-config"
    assert environ["WITH_COMMA"] == "a,b"
    assert environ["MARKER"] == "overridden"  # [[Env]] wins over the caller's
    assert environ["CALLER_ONLY"] == "yes"  # inherit_env defaults to True
    assert environ["HOME"] == env.home


def test_inherit_env_false_gives_only_the_env_section(env):
    out = os.path.join(env.home, "report")
    env.write(env.program("svc", env.service("--report", out), inherit_env="False")
              + "  [[Env]]\n  TESTVAR = only-this\n")
    env.run("start", "svc", check=0, env={"CALLER_ONLY": "yes"})
    assert initial_environ(env.pid_of("svc")) == {"TESTVAR": "only-this"}
    assert report(out)["env_TESTVAR"] == "only-this"


def test_directory_and_umask(env):
    work = os.path.join(env.home, "work dir")
    os.makedirs(work)
    out = os.path.join(env.home, "report")
    env.write(env.program("svc", env.service("--report", out), directory=work, umask="027"))
    env.run("start", "svc", check=0, cwd="/", preexec_fn=lambda: os.umask(0o000))
    values = report(out)
    assert values["cwd"] == work
    assert values["umask"] == "027"
    pid = env.pid_of("svc")
    assert os.readlink("/proc/%d/cwd" % pid) == work
    assert proc_status(pid, "Umask") == "0027"


def test_directory_defaults_to_home_and_umask_to_the_callers(env):
    out = os.path.join(env.home, "report")
    env.write(env.program("svc", env.service("--report", out)))
    env.run("start", "svc", check=0, cwd="/", preexec_fn=lambda: os.umask(0o007))
    values = report(out)
    assert values["cwd"] == env.home
    assert values["umask"] == "007"


def test_missing_directory_fails_to_launch(env):
    env.write(env.program("svc", env.service(), directory=os.path.join(env.home, "nope")))
    result = env.run("start", "svc", check=137)
    assert "No such file or directory" in result.stdout + result.stderr
    assert env.pid_of("svc") is None
