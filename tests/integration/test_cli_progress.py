"""The progress line of start/stop/restart all, on a real pseudo-terminal.

The installed usrsvc runs with its stdout and stderr on a pty (as in a
terminal); what it writes there is read back raw, escape sequences and all.
"""

import errno
import fcntl
import os
import struct
import subprocess
import termios

from conftest import pids_with

CLEAR = "\r\x1b[K"


def on_pty(env, *args, columns=120):
    """Run usrsvc with a terminal as stdout/stderr; (exit code, everything it wrote)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    environ = env._environ({"TERM": "xterm", "COLUMNS": None})
    proc = subprocess.Popen([env.usrsvc] + list(args), env=environ, cwd=env.home,
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    env.children.append(proc)
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError as err:  # EIO: the last writer closed the pty
                if err.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def programs(env):
    env.write(env.program("quick", env.service("--tag", "q"), success_seconds="0.2")
              + env.program("slow", env.service("--tag", "s"), success_seconds="1.5")
              + env.program("broken", env.service("--tag", "b", "--exit", 3),
                            success_seconds="1"))


def test_start_all_shows_progress_as_programs_settle_then_clears_it(env):
    programs(env)
    code, text = on_pty(env, "start", "all", "-P")
    assert code == 137, text
    lines = [part for part in text.split(CLEAR) if part]
    assert lines[0].startswith("0/3 started, waiting on: quick, slow, broken"), lines
    assert any(line.startswith("1/3 started, 1 failed, waiting on: slow") for line in lines), lines
    assert any(", 1 failed" in line for line in lines), lines
    final = lines[-1]  # after the line was cleared: the table alone
    assert final.startswith("NAME") and "\x1b" not in final, final
    assert "quick" in final and "slow" in final and "failed to start" in final


def test_stop_and_restart_all_show_their_phases(env):
    programs(env)
    env.run("start", "quick", "slow", check=0)
    code, text = on_pty(env, "restart", "quick", "slow")
    assert code == 0, text
    assert "0/2 stopped, waiting on: quick, slow" in text
    assert "0/2 started, waiting on: quick, slow" in text
    assert text.index("stopped, waiting") < text.index("started, waiting")
    code, text = on_pty(env, "stop", "all")
    assert code == 0 and "0/3 stopped" in text and "3/3 stopped" in text
    assert not pids_with(env.token)


def test_the_progress_line_fits_the_terminal(env):
    names = ["program-with-a-rather-long-name-%d" % i for i in range(6)]
    env.write("".join(env.program(n, env.service("--tag", n)) for n in names))
    code, text = on_pty(env, "start", "all", "-P", columns=60)
    assert code == 0, text
    lines = [part for part in text.split(CLEAR) if part]
    assert all(len(line) < 60 for line in lines[:-1]), lines
    assert lines[0].endswith("..."), lines


def test_no_progress_in_a_pipe_nor_with_json(env):
    programs(env)
    result = env.run("start", "all", "-P")
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    assert "waiting on" not in result.stdout + result.stderr
    env.run("stop", "all", check=0)
    code, text = on_pty(env, "--json", "start", "all")
    assert "\x1b" not in text and "waiting on" not in text
    code, text = on_pty(env, "stop", "all", "--json")
    assert "\x1b" not in text
