"""usrsvcd's rss_limit with rss_scope = tree: a program whose workers hold the memory
is restarted, while rss_scope = process (the default, as 1.5.13) measures the main
process alone. Each program's command runs three Python children of ~10 MiB."""

from conftest import descendants, wait_for
from daemon_support import daemon, new_pid  # noqa: F401 (fixture)
from test_daemon import config

LIMIT_KB = 25000  # above one interpreter (~10 MiB), below four


def _program(env, name, scope):
    text = env.program(name, env.service("--tag", name, "--children", 3), success_seconds=0.5)
    return text + "[[Monitoring]]\nmonitor_after = 0\nrss_limit = %d\nrss_scope = %s\n" % (
        LIMIT_KB, scope)


def test_rss_scope_tree_restarts_on_the_trees_memory_process_does_not(env, daemon):
    config(env, _program(env, "tree", "tree"), _program(env, "main", "process"))
    daemon.start()
    first = new_pid(env, "tree", None)
    main = new_pid(env, "main", None)
    assert wait_for(lambda: len(descendants([main])) == 3)
    assert new_pid(env, "tree", first, timeout=30), daemon.text()
    daemon.wait_logged("rss_limit: RSS of the process tree", count=2, timeout=30)
    # meanwhile the same tree under rss_scope = process was checked as often: no breach
    lines = [line for line in daemon.text().splitlines() if " main " in line]
    assert not [line for line in lines if "rss_limit" in line], lines
    assert env.pid_of("main") == main
