"""Issue 8: what launch records make possible, through the installed usrsvc.

- an edited ``command``: ``status`` says "config changed since start: command"
  and keeps the running program; ``restart`` stops the recorded old process
  before it starts the new command;
- ``usrsvc update NAME|all`` restarts exactly the programs whose effective
  config changed since their launch;
- ``status`` is read-only: it never writes, replaces or removes a file;
- ``useshell`` with ``~`` and ``$HOME``: the default ``proctitle_re`` is built
  from the command as the shell will see it.

No ``proctitle_re`` is set anywhere here.
"""

import json
import os
import signal
import stat
import sys

import pytest

from conftest import SERVICE, alive, free_port, kill_in_dir, pids_with, port_free, wait_for


@pytest.fixture(autouse=True)
def _sweep(env):
    yield
    kill_in_dir(env.home)


def _ports(count):
    ports = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def _started(env, name):
    pid = env.pid_of(name)
    assert pid and alive(pid), (name, pid)
    return pid


# 6. an edited command, then restart ------------------------------------------------

def test_edited_command_is_reported_and_restart_stops_the_old_process(env):
    port_a, port_b = _ports(2)
    env.write(env.program("svc", env.service("--port", port_a)))
    env.run("start", "svc", check=0)
    old = _started(env, "svc")
    assert wait_for(lambda: not port_free(port_a))
    status = env.run("status", "svc", check=0)
    assert "config changed" not in status.stdout, status.stdout

    env.write(env.program("svc", env.service("--port", port_b)))
    status = env.run("status", "svc", check=0)
    assert "config changed since start: command" in status.stdout, status.stdout
    assert "pid %d" % old in status.stdout, status.stdout
    assert env.pid_of("svc") == old  # status kept the pidfile of the live process
    listed = json.loads(env.run("--json", "status", "svc", check=0).stdout)
    assert listed[0]["pid"] == old and listed[0]["state"] == "running", listed
    assert "already running" in env.run("start", "svc", check=0).stdout
    assert pids_with(env.token) == [old]

    restarted = env.run("restart", "svc", check=0)
    assert wait_for(lambda: not alive(old), timeout=10), restarted.stdout
    assert wait_for(lambda: port_free(port_a), timeout=10)
    new = _started(env, "svc")
    assert new != old
    assert "pid %d" % new in restarted.stdout, restarted.stdout
    assert wait_for(lambda: not port_free(port_b), timeout=10)
    assert pids_with(env.token) == [new]  # nothing of the old command is left
    status = env.run("status", "svc", check=0)
    assert "pid %d" % new in status.stdout and "config changed" not in status.stdout, status.stdout

    env.run("stop", "svc", check=0)
    assert wait_for(lambda: port_free(port_b), timeout=10)
    assert wait_for(lambda: not pids_with(env.token), timeout=10)


# 7. usrsvc update NAME|all ----------------------------------------------------------

def test_update_restarts_exactly_the_programs_whose_config_changed(env):
    def config(one_tag, two_tag):
        return (env.program("one", env.service("--tag", one_tag))
                + env.program("two", env.service("--tag", two_tag)))

    env.write(config("one", "two"))
    env.run("start", "all", check=0)
    one, two = _started(env, "one"), _started(env, "two")

    nothing = env.run("update", "all", check=0)  # nothing changed since the launch
    assert (env.pid_of("one"), env.pid_of("two")) == (one, two), nothing.stdout
    assert alive(one) and alive(two)

    env.write(config("one-edited", "two"))
    assert "config changed since start: command" in env.run("status", "one", check=0).stdout
    env.run("update", "two", check=0)  # two did not change: left alone
    assert (env.pid_of("one"), env.pid_of("two")) == (one, two)
    assert alive(one) and alive(two)

    updated = env.run("update", "one", check=0)
    assert wait_for(lambda: not alive(one), timeout=10), updated.stdout
    one_new = _started(env, "one")
    assert one_new != one
    assert env.pid_of("two") == two and alive(two)
    assert "one-edited" in open("/proc/%d/cmdline" % one_new).read().replace("\0", " ")

    env.write(config("one-edited", "two-edited"))
    updated = env.run("update", "all", check=0)
    assert wait_for(lambda: not alive(two), timeout=10), updated.stdout
    two_new = _started(env, "two")
    assert two_new != two
    assert env.pid_of("one") == one_new and alive(one_new)  # unchanged: kept
    assert sorted(pids_with(env.token)) == sorted([one_new, two_new])

    again = env.run("update", "all", check=0)  # everything is as configured now
    assert (env.pid_of("one"), env.pid_of("two")) == (one_new, two_new), again.stdout
    assert alive(one_new) and alive(two_new)
    assert sorted(pids_with(env.token)) == sorted([one_new, two_new])
    status = env.run("status", "all", check=0)
    assert "config changed" not in status.stdout, status.stdout


def test_an_edited_command_that_cannot_start_leaves_the_old_process_running(env):
    """update and restart check the edited settings first: a command not in
    PATH, or a working directory that is gone, fails (137) before anything is
    stopped, so the service that runs keeps running; the message says why."""
    env.write(env.program("svc", env.service("--tag", "old")))
    env.run("start", "svc", check=0)
    old = _started(env, "svc")

    env.write(env.program("svc", "no-such-program-%s --tag new" % env.token))
    for action in ("update", "restart"):
        kept = env.run(action, "svc", check=137)
        said = kept.stdout + kept.stderr
        assert "not restarted, its new settings would not start" in said, (action, said)
        assert "still running, pid %d" % old in said, (action, said)
        assert "no-such-program-%s" % env.token in said and "not found in PATH" in said, said
        assert alive(old) and env.pid_of("svc") == old
    gone = os.path.join(env.home, "gone")
    env.write(env.program("svc", env.service("--tag", "new"), directory=gone))
    kept = env.run("update", "svc", check=137)
    assert "directory = %s: the working directory does not exist" % gone in kept.stdout, kept.stdout
    assert alive(old) and pids_with(env.token) == [old]

    env.write(env.program("svc", env.service("--tag", "new")))  # fixed: now it restarts
    env.run("update", "svc", check=0)
    assert wait_for(lambda: not alive(old), timeout=10)
    new = _started(env, "svc")
    assert "--tag new" in open("/proc/%d/cmdline" % new).read().replace("\0", " ")
    env.run("stop", "svc", check=0)
    assert wait_for(lambda: not pids_with(env.token), timeout=10)


# 8. status is read-only -------------------------------------------------------------

def _snapshot(env):
    """Every file under HOME and the runtime state dir: kind, inode, size, mtime, content.

    Excluded: ``config.cache`` in the runtime state dir only, which any
    usrsvc (status included) may create or refresh: it is the parsed config,
    not state about a program (docs/security.md, "Runtime state"). Directories count by
    their presence only (creating config.cache changes its directory's mtime).
    """
    state_root = env.env["XDG_RUNTIME_DIR"]
    seen = {}
    for root in sorted({env.home, state_root}):
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames:
                seen[os.path.join(dirpath, name)] = ("dir",)
            for name in filenames:
                path = os.path.join(dirpath, name)
                if name == "config.cache" and path.startswith(os.path.join(state_root, "usrsvc") + "/"):
                    continue
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    content = os.readlink(path)
                elif stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as handle:
                        content = handle.read()
                else:
                    content = None  # a socket or fifo: its identity is enough
                seen[path] = (stat.S_IFMT(st.st_mode), st.st_ino, st.st_size, st.st_mtime_ns, content)
    return seen


def _diff(before, after):
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    return {"added": added, "removed": removed, "changed": changed}


def _by_hand(env, *args):
    proc = env.spawn([sys.executable, SERVICE, env.token] + list(args))
    assert wait_for(lambda: alive(proc.pid) and env.token.encode()
                    in open("/proc/%d/cmdline" % proc.pid, "rb").read())
    return proc


def _dead_pid(env):
    proc = env.spawn([sys.executable, "-c", "pass"])
    proc.wait(timeout=10)
    return proc.pid


def _pidfile(env, name, data):
    path = os.path.join(env.home, "run", name + ".pid")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(data)


@pytest.mark.parametrize("case", ["running", "stale pidfile", "garbage pidfile", "adopted by scan",
                                  "stale launch record"])
def test_status_never_touches_a_file(env, case):
    env.write(env.program("svc", env.service("--tag", "svc")))
    expect, pid = 1, None
    if case == "running":
        env.run("start", "svc", check=0)
        pid, expect = _started(env, "svc"), 0
        log = os.path.join(env.home, "logs", "svc.log")
        assert wait_for(lambda: "up pid %d" % pid in open(log).read())  # its only output
    elif case == "stale pidfile":
        _pidfile(env, "svc", "%d\n" % _dead_pid(env))
    elif case == "garbage pidfile":
        _pidfile(env, "svc", "not a pid\n")
    elif case == "adopted by scan":
        pid, expect = _by_hand(env, "--tag", "svc").pid, 0
    elif case == "stale launch record":
        env.run("start", "svc", check=0)
        dead = _started(env, "svc")
        os.kill(dead, signal.SIGKILL)
        assert wait_for(lambda: not alive(dead), timeout=10)

    # any usrsvc may write the config cache once the config is older than cache.RACY
    # (two seconds: a loaded machine gets there), making the state directory that
    # holds it; that directory is there from the start here, as after any start
    from usrsvcmod.state import RuntimeState

    RuntimeState(env.cfg, environ=env.env).ensure()
    before = _snapshot(env)
    for args in (["status", "svc"], ["status", "all"], ["--json", "status", "svc"],
                 ["status", "svc"]):
        done = env.run(*args)
        assert done.returncode == expect, (args, done.returncode, done.stdout, done.stderr)
        if pid:
            assert str(pid) in done.stdout, (args, done.stdout)
        changes = _diff(before, _snapshot(env))
        assert changes == {"added": [], "removed": [], "changed": []}, (args, changes, done.stdout)
    if case == "adopted by scan":
        assert env.pid_of("svc") is None  # adoption by status writes no pidfile


# 9. useshell with ~ and $HOME -----------------------------------------------------------

TICK = """#!/bin/bash
while true; do
    echo "tick $1"
    sleep 0.2
done
"""


def _sid(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[3])
    except (OSError, ValueError, IndexError):
        return None


def _session(sid):
    """Live pids of session ``sid``."""
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and _sid(int(e)) == sid
            and alive(int(e))]


@pytest.mark.parametrize("prefix", ["~", "$HOME", "${HOME}"])
def test_useshell_command_with_tilde_or_home(env, prefix):
    apps = os.path.join(env.home, "apps")
    os.makedirs(apps)
    script = os.path.join(apps, "tick.sh")
    with open(script, "w") as handle:
        handle.write(TICK)
    os.chmod(script, 0o755)
    env.write(env.program("tick", "%s/apps/tick.sh %s | cat" % (prefix, env.token), useshell="True",
                          success_seconds="0.5"))

    started = env.run("start", "tick")
    assert started.returncode == 0, (started.returncode, started.stdout, started.stderr)
    pid = _started(env, "tick")
    assert "apps/tick.sh %s" % env.token in open("/proc/%d/cmdline" % pid).read().replace("\0", " ")
    log = os.path.join(env.home, "logs", "tick.log")
    assert wait_for(lambda: os.path.exists(log) and ("tick %s" % env.token) in open(log).read())
    sid = _sid(pid)
    pipeline = _session(sid)
    for member in pipeline:
        env.track(member)
    assert len(pipeline) >= 2, pipeline  # tick.sh and cat at least

    status = env.run("status", "tick", check=0)
    assert "pid %d" % pid in status.stdout, status.stdout

    env.run("stop", "tick", check=0)
    assert wait_for(lambda: not _session(sid), timeout=10), _session(sid)
    assert not pids_with(env.token)
    env.run("status", "tick", check=1)
