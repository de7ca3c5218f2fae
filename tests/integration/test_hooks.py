"""[[Hooks]] and restart_every against real processes: the installed usrsvc and
usrsvcd, hooks that write what they saw into a file of the test's HOME."""

import os
import signal

from conftest import pids_with, wait_for
from daemon_support import daemon, new_pid  # noqa: F401 (fixture)
from test_alerts import _sendmail, mails

# one line per run: the moment, the pid it was given, that pid's state then
# (empty: gone), whether the service has written its report yet, cwd, an [[Env]] value
HOOK = r"""#!/bin/sh
state=""
if [ -n "$USRSVC_PID" ] && [ -r /proc/$USRSVC_PID/stat ]; then
    state=$(cut -d' ' -f3 /proc/$USRSVC_PID/stat)
fi
if [ -e "{home}/report.json" ]; then report=launched; else report=none; fi
echo "hello from $1"
echo "$1 pid=$USRSVC_PID state=$state service=$report cwd=$(pwd) color=$COLOR prog=$USRSVC_PROGRAM" >> "{home}/hooks.txt"
"""


def _hook_script(env, name="hook.sh", text=HOOK):
    path = os.path.join(env.home, name)
    with open(path, "w") as handle:
        handle.write(text.replace("{home}", env.home))
    os.chmod(path, 0o755)
    return path


def _lines(env):
    try:
        with open(os.path.join(env.home, "hooks.txt")) as handle:
            return [line.split() for line in handle.read().splitlines()]
    except FileNotFoundError:
        return []


def _hooks_section(script, **extra):
    lines = ["  [[Hooks]]"] + ["  %s = %s %s" % (m, script, m) for m in
                                ("pre_start", "post_start", "pre_stop", "post_stop")]
    lines += ["  %s = %s" % item for item in extra.items()]
    return "\n".join(lines) + "\n"


def _log(env, name):
    with open(os.path.join(env.home, "logs", name + ".log")) as handle:
        return handle.read()


def test_hooks_run_in_order_around_start_and_stop(env):
    script = _hook_script(env)
    work = os.path.join(env.home, "work")
    os.makedirs(work)
    report = os.path.join(env.home, "report.json")
    env.write(env.program("web", env.service("--report", report), directory=work)
              + "  [[Env]]\n  COLOR = blue\n" + _hooks_section(script))
    env.run("start", "web", check=0)
    pid = env.pid_of("web")
    pre, post = _lines(env)
    assert pre[:4] == ["pre_start", "pid=", "state=", "service=none"]  # nothing launched yet
    assert pre[4:] == ["cwd=" + work, "color=blue", "prog=web"]
    assert post[0] == "post_start" and post[1] == "pid=%d" % pid
    assert post[2] in ("state=S", "state=R") and post[3] == "service=launched"
    env.run("stop", "web", check=0)
    pre_stop, post_stop = _lines(env)[2:]
    assert pre_stop[:2] == ["pre_stop", "pid=%d" % pid] and pre_stop[2] in ("state=S", "state=R")
    assert post_stop[:2] == ["post_stop", "pid=%d" % pid]
    assert post_stop[2] in ("state=", "state=Z")  # gone by then (init may not have reaped it)
    log = _log(env, "web")
    for moment in ("pre_start", "post_start", "pre_stop", "post_stop"):
        assert "hello from %s" % moment in log


def test_a_failing_pre_start_aborts_the_start(env):
    report = os.path.join(env.home, "report.json")
    env.write(env.program("web", env.service("--report", report))
              + "  [[Hooks]]\n  pre_start = echo the disk is not mounted; exit 3\n")
    proc = env.run("start", "web", check=137)
    out = proc.stdout + proc.stderr
    assert "pre_start hook failed: exit status 3" in out, out
    assert "the disk is not mounted" in out, out
    assert not os.path.exists(report) and env.pid_of("web") is None
    assert pids_with(env.token) == []
    assert "pre_start hook failed: exit status 3" in _log(env, "web")


def test_a_failing_post_hook_is_reported_and_does_not_undo(env):
    env.write(env.program("web", env.service())
              + "  [[Hooks]]\n  post_start = echo cache warm-up failed; exit 4\n"
              + "  post_stop = exit 5\n")
    proc = env.run("start", "web", check=0)
    assert "post_start hook failed: exit status 4" in proc.stdout + proc.stderr
    assert "cache warm-up failed" in proc.stdout + proc.stderr
    pid = env.pid_of("web")
    assert pid and pids_with(env.token) == [pid]
    proc = env.run("stop", "web", check=0)
    assert "post_stop hook failed: exit status 5" in proc.stdout + proc.stderr
    assert pids_with(env.token) == []


def test_a_hanging_hook_is_killed_at_its_timeout(env):
    hook = env.service("--tag", "hanging-hook")  # runs for ever; carries the token
    env.write(env.program("web", env.service("--tag", "the-service"))
              + "  [[Hooks]]\n  pre_start = %s\n  timeout = 1s\n" % hook)
    proc = env.run("start", "web", check=137)
    assert "pre_start hook failed: timed out after" in proc.stdout + proc.stderr
    assert pids_with("hanging-hook") == [] and pids_with("the-service") == []


def test_usrsvcd_runs_hooks_on_a_crash_restart(env, daemon):
    script = _hook_script(env)
    env.write(env.program("web", env.service()) + _hooks_section(script))
    daemon.start()
    pid = new_pid(env, "web", None)
    assert wait_for(lambda: [l[0] for l in _lines(env)] == ["pre_start", "post_start"]), \
        (_lines(env), daemon.text())
    os.kill(pid, signal.SIGKILL)
    second = new_pid(env, "web", pid)
    assert second, daemon.text()
    assert wait_for(lambda: len(_lines(env)) == 4), (_lines(env), daemon.text())
    pre, post = _lines(env)[2:]
    assert pre[0] == "pre_start" and post[:2] == ["post_start", "pid=%d" % second]


HANG = """#!/bin/sh
if [ -e "{home}/hang" ]; then exec sleep 120; fi
"""


def test_a_hanging_hook_never_delays_another_program(env, daemon):
    hang = _hook_script(env, "hang.sh", HANG)
    env.write(env.program("slow", env.service("--tag", "slow"))
              + "  [[Hooks]]\n  pre_start = %s\n  timeout = 5m\n" % hang
              + env.program("quick", env.service("--tag", "quick")))
    daemon.start()
    slow, quick = new_pid(env, "slow", None), new_pid(env, "quick", None)
    assert slow and quick, daemon.text()
    open(os.path.join(env.home, "hang"), "w").close()
    os.kill(slow, signal.SIGKILL)
    daemon.wait_logged("slow hook: pre_start hook running")
    os.kill(quick, signal.SIGKILL)
    assert new_pid(env, "quick", quick), daemon.text()  # while slow's hook hangs
    assert env.pid_of("slow") in (slow, None) and not pids_with("--tag slow"), daemon.text()
    status = env.run("status", "slow")
    assert "starting" in status.stdout, status.stdout


def test_restart_every_is_a_planned_restart_never_alerted(env, daemon):
    script, outdir = _sendmail(env)
    env.write("[Main]\nsendmail_path = %s\nalert_interval = 0\n" % script
              + env.program("web", env.service(), restart_every="2s",
                            email_alerts="ops@example.com"))
    daemon.start()
    first = new_pid(env, "web", None)
    second = new_pid(env, "web", first, timeout=30)
    assert second, daemon.text()
    daemon.wait_logged("planned_restart")
    third = new_pid(env, "web", second, timeout=30)  # and again, counted from its new start
    assert third, daemon.text()
    daemon.wait_logged("planned_restart", count=2)
    assert wait_for(lambda: len(mails(outdir)) >= 1, timeout=15)  # the autostart one
    assert not any("restarted" in mail for mail in mails(outdir)), mails(outdir)
