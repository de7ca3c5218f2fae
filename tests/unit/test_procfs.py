"""procfs.read() (the CLI's hot path) must agree with psutil for live processes."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from usrsvcmod.proc import procfs


def _agree(pid):
    info = procfs.read(pid)
    proc = psutil.Process(pid)
    assert info is not None
    assert info.pid == pid
    assert info.ppid == proc.ppid()
    assert abs(info.start_time - proc.create_time()) < 0.02
    assert info.uid == proc.uids().effective
    assert info.sid == os.getsid(pid)
    assert info.zombie == (proc.status() == psutil.STATUS_ZOMBIE)
    if not info.zombie:  # psutil refuses a zombie's command line
        assert info.cmdline == procfs.trim(proc.cmdline())
        assert info.cmdline_text == " ".join(procfs.trim(proc.cmdline()))
    return info, proc


@pytest.fixture
def children():
    made = []
    yield made
    for child in made:
        if child.poll() is None:
            child.kill()
        child.wait()


def _sleeper(children, *args, code="import time; time.sleep(60)"):
    child = subprocess.Popen([sys.executable, "-c", code] + list(args))
    children.append(child)
    return child


def _ready(child, text):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/cmdline" % child.pid, "rb") as handle:
                if text.encode() in handle.read():
                    return
        except OSError:
            pass
        time.sleep(0.01)
    raise AssertionError("child never showed %r" % text)


def test_self_and_parent_and_init():
    for pid in (os.getpid(), os.getppid(), 1):
        _agree(pid)


def test_child_with_odd_arguments(children):
    child = _sleeper(children, "with space", "", "ünïcode", "tab\there", "last")
    _ready(child, "last")
    info, _ = _agree(child.pid)
    assert info.cmdline[-5:] == ["with space", "", "ünïcode", "tab\there", "last"]
    assert info.ppid == os.getpid() and not info.zombie


def test_rss_matches_psutil(children):
    child = _sleeper(children, "rss")
    _ready(child, "rss")
    # the child may still be growing: compare a reading taken between two equal ones
    for _ in range(50):
        before = procfs.rss_kb(child.pid)
        theirs = psutil.Process(child.pid).memory_info().rss // 1024
        if procfs.rss_kb(child.pid) == before:
            break
        time.sleep(0.05)
    assert abs(before - theirs) <= 64


def test_retitled_process_padding_is_dropped(children):
    code = ("import setproctitle, time; setproctitle.setproctitle('worker: padded' + '-title');"
            " time.sleep(60)")
    child = _sleeper(children, "a" * 200, code=code)
    _ready(child, "worker: padded-title")
    with open("/proc/%d/cmdline" % child.pid, "rb") as handle:
        assert handle.read().endswith(b"\0\0")  # the padding this is about
    info, proc = _agree(child.pid)
    assert info.cmdline_text == "worker: padded-title"
    assert proc.cmdline()[0] == "worker: padded-title"


def test_zombie(children):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    children.append(child)
    deadline = time.monotonic() + 10
    while procfs.read(child.pid).state != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    info, _ = _agree(child.pid)
    assert info.zombie
    assert not procfs.alive(child.pid, info.start_time)


def test_alive_checks_start_time(children):
    child = _sleeper(children, "alive")
    _ready(child, "alive")
    info = procfs.read(child.pid)
    assert procfs.alive(child.pid, info.start_time)
    assert not procfs.alive(child.pid, info.start_time - 5)  # the pid was reused


def test_gone_process():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert procfs.read(child.pid) is None
    assert procfs.rss_kb(child.pid) is None
    with pytest.raises(psutil.NoSuchProcess):
        psutil.Process(child.pid).cmdline()


def test_kernel_thread_has_an_empty_cmdline():
    kthreadd = procfs.read(2)
    if kthreadd is None or kthreadd.ppid != 0:
        pytest.skip("no kthreadd visible here")
    assert kthreadd.cmdline == [] and kthreadd.cmdline_text == ""
    _agree(2)


@pytest.mark.parametrize("args,expected", [
    ([], []), (["x"], ["x"]), (["", ""], []), (["a", "", "b", "", ""], ["a", "", "b"]),
    (["", "a"], ["", "a"]),
])
def test_trim(args, expected):
    assert procfs.trim(args) == expected


def test_boot_id_first_then_a_read_still_works():
    """The cached constants must not be mistaken for loaded by another cached value."""
    procfs._CACHE.clear()
    assert procfs.boot_id()
    info = procfs.read(os.getpid())
    assert info is not None and info.pid == os.getpid()
    assert abs(info.start_time - psutil.Process().create_time()) < 1.5


def test_signal_handled_reads_what_a_process_catches_or_ignores(children):
    code = ("import signal, sys, time\n"
            "signal.signal(signal.SIGUSR1, lambda *a: None)\n"
            "signal.signal(signal.SIGUSR2, signal.SIG_IGN)\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    children.append(child)
    assert child.stdout.readline() == b"ready\n"
    assert procfs.signal_handled(child.pid, signal.SIGUSR1) is True
    assert procfs.signal_handled(child.pid, signal.SIGUSR2) is True
    assert procfs.signal_handled(child.pid, signal.SIGALRM) is False
    assert procfs.signal_handled(child.pid, signal.SIGRTMIN + 3) is False
    child.kill()
    child.wait()
    assert procfs.signal_handled(child.pid, signal.SIGUSR1) is None  # gone


def test_dying_tells_a_killed_process_from_a_live_one(children):
    child = _sleeper(children, "dying")
    _ready(child, "dying")
    assert not procfs.dying(child.pid)
    os.kill(child.pid, signal.SIGKILL)
    # from the kill on it is dying: SIGKILL pending, then in exit(), then a zombie
    assert procfs.dying(child.pid)
    child.wait()
    assert procfs.dying(child.pid)  # gone altogether



def test_scan_agrees_with_psutil_on_our_processes(children):
    """The one scan (ProcessTable's) against psutil's process_iter, as it was done before."""
    mine = [_sleeper(children, "scan%d" % i) for i in range(3)]
    for child in mine:
        _ready(child, child.args[-1])
    uid = os.geteuid()
    ours = {i.pid: i for i in procfs.scan(uid)}
    for child in mine:
        info = ours[child.pid]
        assert info.sid == os.getsid(child.pid) and not info.zombie
        _agree(child.pid)
    theirs = {}
    for proc in psutil.process_iter(["pid", "uids", "cmdline", "status"]):
        uids = proc.info["uids"]
        if uids and uids.real == uids.effective == uids.saved == uid and proc.info["cmdline"] \
                and proc.info["status"] != psutil.STATUS_ZOMBIE:
            theirs[proc.info["pid"]] = proc
    for pid in set(ours) & set(theirs):  # processes come and go between the two passes
        if procfs.alive(pid, ours[pid].start_time):
            assert ours[pid].cmdline_text == " ".join(procfs.trim(theirs[pid].cmdline()))
    started = {c.pid for c in mine}
    assert started <= set(ours) and started <= set(theirs)


def test_scan_leaves_out_zombies_and_other_users(children):
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    children.append(zombie)
    deadline = time.monotonic() + 10
    while procfs.read(zombie.pid).state != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert zombie.pid not in {i.pid for i in procfs.scan(os.geteuid())}
    assert not list(procfs.scan(54321))  # a uid nobody on the test machine uses


def test_stat_all_gives_the_tree_and_sessions(children):
    child = _sleeper(children, "stat-all")
    _ready(child, "stat-all")
    rows = {pid: (ppid, sid, ticks) for pid, ppid, sid, ticks in procfs.stat_all()}
    info = procfs.read(child.pid)
    assert rows[child.pid] == (os.getpid(), os.getsid(child.pid), info.ticks)
    assert rows[os.getpid()][0] == os.getppid()


def test_glance_agrees_with_read_and_psutil(children):
    """glance (a launch record's check: one read of /proc/PID/stat) says what read()
    and psutil say."""
    child = _sleeper(children, "glance")
    _ready(child, "glance")
    for pid in (child.pid, os.getpid(), 1):
        seen, full, proc = procfs.glance(pid), procfs.read(pid), psutil.Process(pid)
        assert seen.cmdline is None  # not read
        assert (seen.pid, seen.ppid, seen.sid, seen.ticks) == (full.pid, full.ppid, full.sid,
                                                                full.ticks)
        assert seen.start_time == full.start_time
        assert seen.uid == proc.uids().effective and seen.owned_by(proc.uids().effective)
        assert seen.threads == proc.num_threads()
        assert procfs.read_cmdline(pid) == full.cmdline


def test_glance_of_a_gone_process_and_of_a_zombie(children):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    children.append(child)
    deadline = time.monotonic() + 10
    while procfs.read(child.pid).state != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert procfs.glance(child.pid).zombie
    child.wait()
    assert procfs.glance(child.pid) is None and procfs.read_cmdline(child.pid) is None


def test_tree_rss_with_the_thread_count_known_reads_the_same_children(children):
    code = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c',"
            " 'import time; time.sleep(60)', 'grandchild']); time.sleep(60)")
    child = _sleeper(children, "parent", code=code)
    _ready(child, "parent")
    deadline = time.monotonic() + 10
    while not procfs.children(child.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    grandchild = procfs.children(child.pid)
    try:
        assert len(grandchild) == 1
        seen = procfs.glance(child.pid)
        assert procfs.children(child.pid, seen.threads) == grandchild
        rss = procfs.rss_kb(child.pid)
        assert procfs.tree_rss_kb(child.pid, rss, seen.threads) > rss
    finally:
        for pid in grandchild:
            os.kill(pid, signal.SIGKILL)
