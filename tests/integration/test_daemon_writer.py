"""From 1,000 programs up usrsvcd writes its snapshot from a child (a fork), so
the loop never waits for the encoding of thousands of programs: the files still
follow every event, name the daemon, and no writer outlives its work."""

import os
import signal

from conftest import alive, wait_for
from daemon_support import daemon  # noqa: F401 (fixture)

COUNT = 1000  # usrsvcmod.daemon.core.WRITER_PROGRAMS


def _writers(daemon_pid):
    """Live snapshot writers of this daemon, and its zombie children."""
    title = b"usrsvcd snapshot writer (of pid %d)" % daemon_pid
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                if handle.read().split(b"\0")[0] == title:
                    found.append(int(entry))
                    continue
            with open("/proc/%s/stat" % entry) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if fields[0] == "Z" and int(fields[1]) == daemon_pid:
                found.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return found


def test_a_thousand_programs_snapshots_follow_events_and_no_writer_is_left(env, daemon):
    base = int(env.token[-6:], 16) * 10000  # sleep takes no extra words: a unique number
    env.write("[Main]\nreconcile_interval = 3600\n" + "".join(
        env.program("p%04d" % i, "sleep %d" % (base + i), success_seconds="0.2")
        for i in range(COUNT)))
    proc = daemon.start()
    names = ["p%04d" % i for i in range(COUNT)]
    assert wait_for(lambda: all(env.pid_of(n) for n in names), timeout=180), daemon.text()[-2000:]
    pids = {n: env.track(env.pid_of(n)) for n in names}
    assert all(alive(pid) for pid in pids.values())
    victim = pids["p0500"]
    os.kill(victim, signal.SIGKILL)
    assert wait_for(lambda: env.pid_of("p0500") not in (None, victim), timeout=30)
    new = env.track(env.pid_of("p0500"))

    def shown():
        out = daemon.cmd("status").stdout
        line = [x for x in out.splitlines() if x.split()[:1] == ["p0500"]]
        return line and ("pid %d" % new) in line[0] and ("pid %d," % proc.pid) in out

    assert wait_for(shown, timeout=30), daemon.cmd("status").stdout[:3000]
    assert wait_for(lambda: not _writers(proc.pid), timeout=30)
    assert "state_error" not in daemon.text()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert not _writers(proc.pid)
    assert alive(new) and alive(pids["p0001"])  # services outlive the daemon, as always
