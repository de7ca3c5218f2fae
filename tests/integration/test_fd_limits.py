"""A low open-files limit (soft and hard): every program is acted on, nothing ends in 254.

usrsvc takes its locks in slices that fit and imports what a batch needs
before taking them; usrsvcd lets starts take turns and watches by polling
/proc the processes its pidfds have no room for. Services get the soft
limit we were given, not the one we raised ours to.
"""

import os
import resource
import time

from conftest import alive, wait_for
from daemon_support import daemon  # noqa: F401 (fixture)


def _limit(soft, hard):
    def preexec():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return preexec


def _sleepers(env, count, **keys):
    """``count`` programs running ``sleep N`` (sleep takes no extra words: a unique number)."""
    base = int(env.token[-6:], 16) * 1000
    keys.setdefault("success_seconds", "0.2")
    return "".join(env.program("p%d" % i, "sleep %d" % (base + i), **keys) for i in range(count))


def _soft_nofile(pid):
    with open("/proc/%d/limits" % pid) as handle:
        line = [entry for entry in handle if entry.startswith("Max open files")][0]
    return int(line.split()[3])


def test_parallel_start_and_stop_of_40_programs_under_a_hard_limit_of_64(env):
    count = 40
    env.write(_sleepers(env, count))
    started = env.run("start", "all", "-P", check=0, preexec_fn=_limit(64, 64), timeout=120)
    assert started.stdout.count("RUNNING") == count, started.stdout
    pids = [env.track(env.pid_of("p%d" % i)) for i in range(count)]
    assert all(pid and alive(pid) for pid in pids)
    stopped = env.run("stop", "all", "-P", check=0, preexec_fn=_limit(64, 64), timeout=120)
    assert stopped.stdout.count("STOPPED") == count, stopped.stdout
    assert wait_for(lambda: not any(alive(pid) for pid in pids), timeout=10)


def test_the_parallel_start_gives_services_the_soft_limit_we_were_given(env):
    env.write(_sleepers(env, 20))
    # usrsvc raises its own soft limit to 64; the services keep 40
    env.run("start", "all", "-P", check=0, preexec_fn=_limit(40, 64), timeout=120)
    pids = [env.track(env.pid_of("p%d" % i)) for i in range(20)]
    assert {_soft_nofile(pid) for pid in pids} == {40}
    env.run("stop", "all", "-P", check=0, preexec_fn=_limit(40, 64), timeout=120)


def test_a_limit_too_low_for_any_batch_still_acts_on_every_program(env):
    env.write(_sleepers(env, 12))
    env.run("start", "all", "-P", check=0, preexec_fn=_limit(20, 20), timeout=120)
    pids = [env.track(env.pid_of("p%d" % i)) for i in range(12)]
    assert all(pid and alive(pid) for pid in pids)
    env.run("stop", "all", "-P", check=0, preexec_fn=_limit(20, 20), timeout=120)
    assert wait_for(lambda: not any(alive(pid) for pid in pids), timeout=10)


def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_usrsvcd_keeps_100_programs_alive_under_a_hard_limit_of_64(env, daemon):
    count = 100
    env.write("[Main]\nreconcile_interval = 1\n" + _sleepers(env, count))
    proc = _start_limited(daemon, 64, 64)
    names = ["p%d" % i for i in range(count)]

    def all_up():
        return all(env.pid_of(name) and alive(env.pid_of(name)) for name in names)

    assert wait_for(all_up, timeout=90), daemon.text()[-3000:]
    for name in names:
        env.track(env.pid_of(name))
    daemon.wait_logged("watched by polling /proc")
    # the first and the last: one has a pidfd, the other is polled
    victims = {name: env.pid_of(name) for name in (names[0], names[-1])}
    for pid in victims.values():
        os.kill(pid, 9)
    for name, old in victims.items():
        assert wait_for(lambda: env.pid_of(name) not in (None, old) and alive(env.pid_of(name)),
                        timeout=30), daemon.text()[-3000:]
        env.track(env.pid_of(name))
    # no busy loop once everything runs: a generous bound on its CPU time
    before, start = _cpu_seconds(proc.pid), time.monotonic()
    time.sleep(5)
    used = _cpu_seconds(proc.pid) - before
    assert used < 0.25 * (time.monotonic() - start), "usrsvcd used %.2fs of CPU in 5s" % used
    assert "Traceback" not in daemon.text()
    assert proc.poll() is None


def _start_limited(daemon, soft, hard):
    """usrsvcd in the foreground under the given open-files limit."""
    import subprocess

    from conftest import _command

    handle = open(daemon.log, "a")
    proc = subprocess.Popen([_command("usrsvcd"), "start", "--foreground"], env=daemon.env.env,
                            cwd=daemon.env.home, stdin=subprocess.DEVNULL, stdout=handle,
                            stderr=subprocess.STDOUT, preexec_fn=_limit(soft, hard))
    handle.close()
    daemon.procs.append(proc)
    daemon.wait_logged("usrsvcd started: pid %d" % proc.pid)
    return proc


def test_usrsvcd_gives_services_the_soft_limit_it_was_given(env, daemon):
    env.write("[Main]\nreconcile_interval = 1\n" + _sleepers(env, 3))
    proc = _start_limited(daemon, 40, 64)
    assert _soft_nofile(proc.pid) == 64  # raised its own, for its pidfds and locks
    assert wait_for(lambda: all(env.pid_of("p%d" % i) and alive(env.pid_of("p%d" % i))
                                for i in range(3)), timeout=30), daemon.text()
    pids = [env.track(env.pid_of("p%d" % i)) for i in range(3)]
    assert {_soft_nofile(pid) for pid in pids} == {40}
