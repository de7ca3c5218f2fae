"""Many programs at once: one usrsvc waits on all of them, within its open-files limit."""

import resource

from conftest import alive


def _low_fd_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def test_parallel_start_of_more_programs_than_the_fd_limit(env):
    count = 110
    base = int(env.token[-6:], 16) * 1000  # sleep takes no extra words: a unique number instead
    env.write("".join(env.program("p%d" % i, "sleep %d" % (base + i), success_seconds="0.2")
                      for i in range(count)))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 4 * count:
        import pytest

        pytest.skip("the hard open-files limit (%d) is too low for this test" % hard)
    env.run("start", "all", "-P", check=0, preexec_fn=_low_fd_limit, timeout=120)
    pids = [env.track(env.pid_of("p%d" % i)) for i in range(count)]
    assert all(pid and alive(pid) for pid in pids)
    with open("/proc/%d/limits" % pids[0]) as handle:
        limits = handle.read()
    # the services keep the limit they would have had; only usrsvc raised its own
    assert [line for line in limits.splitlines() if line.startswith("Max open files")][0].split()[3] == "64"
    env.run("stop", "all", "-P", check=0, preexec_fn=_low_fd_limit, timeout=120)
    assert not any(alive(pid) for pid in pids)
