"""Command lines and log tails are printed with their control characters escaped.

A service's argv and its log are written by whoever runs it: printed raw,
``\\x1b[...`` would drive the reader's terminal and a newline would forge a
line of our output. Text output shows ``\\x1b``; JSON escapes them itself.
"""

import json
import os

from conftest import alive, wait_for
from daemon_support import daemon  # noqa: F401 (fixture)

EVIL = "\x1b[31m\x07"


def _raw(text):
    return "\x1b" in text or "\x07" in text


def test_status_prints_a_command_line_with_escapes_escaped(env):
    env.write(env.program("x", env.service("--tag", EVIL)))
    started = env.run("start", "x", check=0)
    pid = env.track(env.pid_of("x"))
    with open("/proc/%d/cmdline" % pid, "rb") as handle:
        assert EVIL.encode() in handle.read()  # the premise: its argv holds them
    assert not _raw(started.stdout + started.stderr)
    one = env.run("status", "x", check=0)
    assert "--tag \\x1b[31m\\x07" in one.stdout and not _raw(one.stdout + one.stderr)
    table = env.run("status", "all", check=0)
    assert "\\x1b[31m\\x07" in table.stdout and not _raw(table.stdout + table.stderr)
    as_json = env.run("status", "x", "--json", check=0)
    assert json.loads(as_json.stdout)[0]["cmdline"].endswith("--tag " + EVIL)
    assert not _raw(as_json.stdout)
    env.run("stop", "x", check=0)
    assert wait_for(lambda: not alive(pid), timeout=10)


def test_a_log_tail_in_a_start_error_is_escaped(env):
    script = os.path.join(env.home, "noisy.sh")
    with open(script, "w") as handle:
        handle.write("#!/bin/sh\n# %s\nprintf '\\033]0;pwned\\007\\033[2Jboom\\n'\nexit 3\n"
                     % env.token)
    os.chmod(script, 0o755)
    env.write(env.program("y", script))
    failed = env.run("start", "y", check=137)
    text = failed.stdout + failed.stderr
    assert "\\x1b]0;pwned\\x07\\x1b[2Jboom" in text, text
    assert not _raw(text)


def test_usrsvcd_log_and_status_show_escaped_text(env, daemon):
    env.write("[Main]\nreconcile_interval = 0.5\n" + env.program("x", env.service("--tag", EVIL)))
    daemon.start()
    assert wait_for(lambda: env.pid_of("x") and alive(env.pid_of("x")), timeout=15)
    env.track(env.pid_of("x"))
    daemon.wait_logged("x started: ")
    log = daemon.text()
    assert "\\x1b[31m\\x07" in log and not _raw(log)
    status = daemon.cmd("status")
    assert status.returncode == 0 and not _raw(status.stdout + status.stderr)
