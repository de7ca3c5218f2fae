"""Config hardening through the installed commands: a cache of another shape, program
names that could not name a file, a proctitle_re that backtracks for ever."""

import marshal
import os
import signal
import sys
import time

from conftest import wait_for
from daemon_support import daemon, new_pid  # noqa: F401 (fixture)
from usrsvcmod.state import RuntimeState


def _old_enough(env, *paths):
    past = time.time() - 60
    for path in paths or (env.cfg,):
        os.utime(path, (past, past))  # files this old are cached (see cache.RACY)


def _cache_file(env):
    return os.path.join(RuntimeState(env.cfg, environ=env.env).path, "config.cache")


def _hostile_blobs(good):
    """What a cache file may hold after an upgrade, a crash or a disk error."""
    from usrsvcmod import indexed

    reader = indexed.Reader(lambda offset, length: good[offset:offset + length], len(good))
    header, payload = reader.head
    (name, blob), = reader.items()
    fields, known = marshal.loads(blob)
    older_python = header[:3] + ((sys.version_info[0], sys.version_info[1] - 1),) + header[4:]

    def pack(head, program=blob):
        return indexed.pack(head, [(name, program)])

    return [
        marshal.dumps([1, 2, 3]),
        marshal.dumps({"version": 4, "main": "x", "programs": {}, "stamps": 1, "env": None}),
        marshal.dumps(dict(payload, version=4)),  # the format before the header
        marshal.dumps((header, dict(payload, programs=[(name, blob)]))),  # before the index
        good[:len(good) // 2],
        b"",
        b"\x00\xffnot marshal",
        pack((header, "garbage")),
        pack((header, dict.fromkeys(payload))),
        pack((header, dict(payload, main=dict(enumerate(payload["main"]))))),
        pack((header, payload), marshal.dumps((fields[:-1], known))),
        pack((header, payload), marshal.dumps((fields + (1,), known))),
        pack((header, payload), b"\x01"),
        pack(((header[0], header[1], "1.5.13") + header[3:], payload)),
        pack((older_python, payload)),
    ]


def _steady(text):
    """Status output without what changes by itself between two runs (uptime, RSS)."""
    import re

    return re.sub(r"uptime [0-9:d ]+, rss [0-9.]+ [KMG]iB", "uptime U, rss R", text)


def test_a_cache_not_of_this_version_is_ignored_and_replaced(env):
    env.write(env.program("web", env.service()))
    _old_enough(env)
    env.run("start", "web", check=0)
    pid = env.pid_of("web")
    expected = _steady(env.run("status", "web", check=0).stdout)
    assert str(pid) in expected
    with open(_cache_file(env), "rb") as handle:
        good = handle.read()
    for index, blob in enumerate(_hostile_blobs(good)):
        with open(_cache_file(env), "wb") as handle:
            handle.write(blob)
        result = env.run("status", "web", check=0)
        assert _steady(result.stdout) == expected, (index, result.stdout, result.stderr)
        assert result.stderr == "", (index, result.stderr)
        with open(_cache_file(env), "rb") as handle:
            assert handle.read() == good, "blob %d was not replaced" % index


def test_a_name_that_cannot_name_a_file_is_refused_at_config_time(env):
    long_name = "n" * 250
    env.write(env.program(long_name, env.service()) + env.program("ok", env.service("--tag", "ok")))
    result = env.run("checkconfig", check=130)
    assert "[Program:%s...]" % long_name[:60] in result.stderr
    assert "250 bytes" in result.stderr and "Fix: rename the section" in result.stderr
    env.run("start", "ok", check=0)  # the other program is still usable
    asked = env.run("status", long_name, check=130)  # asked for by name: the error itself
    assert "Fix: rename the section" in asked.stderr


# --- a proctitle_re that backtracks for ever ----------------------------------------------------

CATASTROPHIC = "a" * 34 + "!"  # (a+)+$ would try about 2**34 ways of cutting the run of a


def _hung_process(env):
    """A process of the 'slow' program, started by hand, its pidfile written: every lookup
    of 'slow' runs its proctitle_re on this command line."""
    proc = env.spawn(env.service("--tag", CATASTROPHIC))

    def execed():
        with open("/proc/%d/cmdline" % proc.pid, "rb") as handle:
            return CATASTROPHIC.encode() in handle.read()

    assert wait_for(execed)
    os.makedirs(os.path.join(env.home, "run"), exist_ok=True)
    with open(os.path.join(env.home, "run", "slow.pid"), "w") as handle:
        handle.write("%d\n" % proc.pid)
    return proc


def test_status_is_bounded_and_says_which_pattern_ran_out_of_time(env):
    env.write(env.program("slow", env.service("--tag", CATASTROPHIC), proctitle_re="(a+)+$"))
    proc = _hung_process(env)
    started = time.monotonic()
    result = env.run("status", "slow", timeout=120, check=1)  # taken as not running
    assert time.monotonic() - started < 20, "status hung on the regex"
    assert "did not finish" in result.stdout and "[Program:slow]" in result.stdout
    assert "'(a+)+$'" in result.stdout and "pid %d" % proc.pid in result.stdout
    env.run("status", "all", timeout=120, check=1)
    checked = env.run("checkconfig", check=0)
    assert "[Program:slow] proctitle_re = '(a+)+$'" in checked.stderr and "Fix:" in checked.stderr


def test_usrsvcd_still_restarts_a_crashed_program_promptly(env, daemon):
    env.write("[Main]\nreconcile_interval = 0.5\n"
              + env.program("slow", env.service("--tag", CATASTROPHIC), proctitle_re="(a+)+$",
                            autostart="false")  # managed (restarted if seen to die), not launched
              + env.program("web", env.service("--tag", "web")))
    _hung_process(env)
    daemon.start()
    first = new_pid(env, "web", None)
    assert first
    daemon.wait_logged("did not finish", timeout=30)  # the loop is matching the risky one
    os.kill(first, signal.SIGKILL)
    second = new_pid(env, "web", first, timeout=15)
    assert second, daemon.text()
    time.sleep(2)  # several reconcile passes, each matching the risky pattern again
    os.kill(second, signal.SIGKILL)
    assert new_pid(env, "web", second, timeout=15), daemon.text()  # still prompt
    assert daemon.text().count("did not finish") >= 1  # said (once: notes are not repeated)


# --- an ordinary proctitle_re whose work grows as a power of the command line --------------------

SLOW_TITLE = r"python.*manage\.py.*runserver"  # not flagged: each .* may stop at any of its words


def _long_line(env):
    """A process of this user whose 34 KB command line almost matches SLOW_TITLE (what
    anyone who can pass arguments to one of the user's workers can make): searched in the
    calling process, it takes hours (each 'python' x each 'manage.py' x the rest of the line)."""
    argv = [sys.executable, "-c", "import time; time.sleep(120)", env.token]
    proc = env.spawn(argv + ["python", "manage.py"] * 2000)

    def execed():
        with open("/proc/%d/cmdline" % proc.pid, "rb") as handle:
            return handle.read().count(b"manage.py") == 2000

    assert wait_for(execed)
    return proc


def test_status_is_bounded_on_a_long_line_that_almost_matches_an_ordinary_pattern(env):
    # the program's own command line is long enough that this pattern is never searched
    # in-process on it (see titlematch.STEPS): the bounded search must still find it
    web = env.service("--tag", "python-manage.py-runserver-" + "x" * 300)
    env.write(env.program("web", web, proctitle_re=SLOW_TITLE)
              + env.program("idle", env.service("--tag", "idle"), proctitle_re=SLOW_TITLE + "-idle"))
    proc = _long_line(env)
    checked = env.run("checkconfig", check=0)
    assert "backtrack" not in checked.stderr  # an ordinary pattern: no scary warning
    started = time.monotonic()
    result = env.run("status", "idle", timeout=120, check=1)  # not running: a scan found none
    # generous: the child doing the search is stopped after half a second per command line
    # (searched in usrsvc itself, this took 20 s and more before)
    assert time.monotonic() - started < 20, "status hung on the regex"
    assert "did not finish" in result.stdout and "[Program:idle]" in result.stdout
    assert "pid %d" % proc.pid in result.stdout and "begin it with ^" in result.stdout  # the fix
    started = time.monotonic()
    env.run("status", "all", timeout=120, check=1)  # two scans: 40 s and more before
    assert time.monotonic() - started < 20, "status all hung on the regex"
    running = env.spawn(web)  # started by hand: no launch record, no pidfile
    found = env.run("status", "web", check=0)  # found by a scan
    assert "found pid %d by scan" % running.pid in found.stdout
    os.makedirs(os.path.join(env.home, "run"), exist_ok=True)
    with open(os.path.join(env.home, "run", "web.pid"), "w") as handle:
        handle.write("%d\n" % running.pid)
    by_pidfile = env.run("status", "web", check=0)  # its pidfile checked against the pattern
    assert str(running.pid) in by_pidfile.stdout and "by scan" not in by_pidfile.stdout


def test_usrsvcd_restarts_promptly_while_a_long_line_almost_matches(env, daemon):
    env.write("[Main]\nreconcile_interval = 0.5\n"
              + env.program("slow", env.service("--tag", "slow"), proctitle_re=SLOW_TITLE,
                            autostart="false")  # managed (restarted if seen to die), not launched
              + env.program("web", env.service("--tag", "web")))
    proc = _long_line(env)
    os.makedirs(os.path.join(env.home, "run"), exist_ok=True)
    with open(os.path.join(env.home, "run", "slow.pid"), "w") as handle:
        handle.write("%d\n" % proc.pid)  # every pass checks this pid's command line
    daemon.start()
    first = new_pid(env, "web", None)
    assert first
    daemon.wait_logged("did not finish", timeout=30)  # the loop is matching the long line
    os.kill(first, signal.SIGKILL)
    second = new_pid(env, "web", first, timeout=15)
    assert second, daemon.text()
    time.sleep(2)  # several reconcile passes, each matching the long line again
    os.kill(second, signal.SIGKILL)
    assert new_pid(env, "web", second, timeout=15), daemon.text()  # still prompt
