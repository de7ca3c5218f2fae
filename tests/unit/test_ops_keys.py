"""The keys of the day-to-day commands: group, reload_signal, [[Monitoring]] rss_scope;
and rss_limit measured on a real process tree."""

import os
import signal
import subprocess
import sys

import pytest

from test_config import files, load_error, program_text  # noqa: F401 (fixture)
from usrsvcmod.config import load
from usrsvcmod.daemon.monitors import breach
from usrsvcmod.proc import procfs


def test_defaults_keep_1_5_13_behaviour(files):  # noqa: F811
    program = load(files.write("main.cfg", program_text())).programs["p"]
    assert program.group is None
    assert program.reload_signal == signal.SIGHUP
    assert program.monitoring.rss_scope == "process"


def test_group_reload_signal_and_rss_scope_are_read(files):  # noqa: F811
    text = program_text(group="web", reload_signal="sigusr2") + \
        "[[Monitoring]]\nrss_limit = 1000\nrss_scope = Tree\n"
    program = load(files.write("main.cfg", text)).programs["p"]
    assert program.group == "web"
    assert program.reload_signal == signal.SIGUSR2
    assert program.monitoring.rss_scope == "tree"


@pytest.mark.parametrize("key, value, expected", [
    ("group", "web api", "expected a group name"),
    ("group", "web*", "expected a group name"),
    ("group", "@web", "expected a group name"),
    ("reload_signal", "RELOAD", "expected a signal name or number"),
])
def test_bad_values_are_named_with_what_is_expected(files, key, value, expected):  # noqa: F811
    error = load_error(files.write("main.cfg", program_text(**{key: value})))
    assert key in error.message and expected in error.message, error.message


def test_a_bad_rss_scope_is_named(files):  # noqa: F811
    text = program_text() + "[[Monitoring]]\nrss_scope = workers\n"
    error = load_error(files.write("main.cfg", text))
    assert "rss_scope" in error.message and "process, tree" in error.message, error.message


class _Monitoring:
    def __init__(self, rss_limit, rss_scope):
        self.rss_limit, self.rss_scope, self.activityfile = rss_limit, rss_scope, None


class _Program:
    def __init__(self, rss_limit, rss_scope):
        self.monitoring = _Monitoring(rss_limit, rss_scope)


@pytest.fixture
def tree():
    """A real small parent with three children holding 20 MiB each."""
    code = ("import os, sys, time\n"
            "for _ in range(3):\n"
            "    if os.fork() == 0:\n"
            "        b = bytearray(20 << 20)\n"
            "        for i in range(0, len(b), 4096): b[i] = 1\n"
            "        os.write(1, b'u')\n"
            "        time.sleep(600); os._exit(0)\n"
            "time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.read(3) == b"uuu"  # each child touched its 20 MiB
        yield proc.pid
    finally:
        for info in procfs.descendants(proc.pid):
            os.kill(info.pid, signal.SIGKILL)
        proc.kill()
        proc.wait()


def test_tree_rss_adds_the_descendants(tree):
    own = procfs.rss_kb(tree)
    assert procfs.tree_rss_kb(tree) >= own + 3 * 20 * 1024
    assert procfs.tree_rss_kb(2 ** 22 + 7) is None  # no such pid


def test_rss_scope_process_ignores_the_workers_and_tree_counts_them(tree):
    limit = procfs.rss_kb(tree) + 30 * 1024  # above the parent, far below the tree
    assert breach(_Program(limit, "process"), tree) is None
    found = breach(_Program(limit, "tree"), tree)
    assert found and found.startswith("rss_limit: RSS of the process tree"), found
