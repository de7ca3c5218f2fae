"""identity.ProcessTree (one /proc/PID/stat per process) must give ``family`` the
same descendants and session members as the full ProcessTable."""

import os
import subprocess
import sys
import time

import pytest

from usrsvcmod.proc import identity, procfs

# a launch: a session leader with a child, and a grandchild that left the tree
# (its parent exited) but stays in the session
_CODE = """
import os, sys, time
tag = sys.argv[1]
if os.fork() == 0:
    os.execvp(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", tag + "-child"])
if os.fork() == 0:
    if os.fork() == 0:
        os.execvp(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", tag + "-orphan"])
    os._exit(0)
time.sleep(60)
"""


class _Program:
    useshell = False
    command = "x"


@pytest.fixture
def launch():
    tag = "ptree%d" % os.getpid()
    leader = subprocess.Popen([sys.executable, "-c", _CODE, tag], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            tagged = [p for p in _tagged(tag)]
            if len(tagged) == 3:
                break
            time.sleep(0.02)
        yield leader, tag
    finally:
        for pid in _tagged(tag):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        leader.wait()


def _tagged(tag):
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/cmdline" % name, "rb") as handle:
                    if tag.encode() in handle.read():
                        found.append(int(name))
            except OSError:
                pass
    return found


class _Record:
    def __init__(self, info):
        self.sid = info.sid
        self.pid = info.pid
        self.launched_ticks = self.ticks = info.ticks
        self.launched_at = self.start_time = info.start_time


def test_family_from_the_tree_equals_family_from_the_table(launch):
    leader, tag = launch
    info = procfs.read(leader.pid)
    record = _Record(info)
    from_table = identity.family(identity.ProcessTable(), _Program(), leader.pid, record)
    from_tree = identity.family(identity.ProcessTree(), _Program(), leader.pid, record)
    assert sorted(i.pid for i in from_tree) == sorted(i.pid for i in from_table)
    assert len(from_tree) == 2  # the child, and the orphan through the session
    assert all(tag in i.cmdline_text for i in from_tree)


def test_the_tree_reads_no_process_that_is_not_the_one_it_saw(launch):
    leader, _ = launch
    tree = identity.ProcessTree()
    tree._ticks[leader.pid] -= 1  # as if the pid had been reused after the pass
    assert tree.info(leader.pid) is None
    assert tree.info(os.getpid()) is None  # never ourselves
