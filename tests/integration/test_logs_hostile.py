"""usrsvc logs against hostile neighbours and hostile files: backups planted by
another account in a shared log directory are never shown as a program's output;
a huge file without newlines, or a huge untimed file under --since, is read
within bounds of time and memory."""

import os
import signal

import pytest

from conftest import wait_for
from test_logs import follow, started, writer  # noqa: F401 (fixture)


def plant_backups(attacker, path, first, last):
    """As ``attacker``: PATH.first .. PATH.last, 4096 bytes of forged lines each
    (a rotation cuts whole 4096-byte blocks, so their sizes add up to any cut)."""
    script = ("import sys\nb = (b'FAKE attacker line ' * 300)[:4095] + b'\\n'\n"
              "for i in range(%d, %d):\n    open('%s.%%d' %% i, 'xb').write(b)\n"
              % (first, last + 1, path))
    done = attacker.run(["python3", "-c", script])
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("backups, rotations", [(0, 1), (1, 2)])
def test_follow_never_reads_back_from_backups_another_account_planted(
        env, follow, make_user, shared_dir, backups, rotations):
    """backups = 0: the rotator keeps none, NAME.1.. are all planted; backups = 1:
    two rotations while the follower sleeps, NAME.1 is ours, NAME.2.. planted."""
    attacker = make_user()
    path = os.path.join(shared_dir, "v.log")
    go = os.path.join(env.home, "go")
    plant_backups(attacker, path, 1 if backups == 0 else 2, 300)
    env.write(env.program("v", writer(env, "--count", 40000, "--every", 0.0002, "--go", go,
                                      "--text", "ready"),
                          stdout=path, stdout_maxbytes="4K", stdout_backups=str(backups)))
    env.run("start", "v", check=0)
    follower = started(env, follow, "v")  # "go" is made: the writer is writing
    follower.proc.send_signal(signal.SIGSTOP)
    try:
        for _ in range(rotations):
            assert wait_for(lambda: os.path.getsize(path) > 3 * 4096, timeout=30)
            result = env.run("logs", "--rotate", "v", check=0)
            assert "rotated %s" % path in result.stdout, result.stdout
    finally:
        follower.proc.send_signal(signal.SIGCONT)
    assert wait_for(lambda: any("rotated away" in line for line in follower.err), timeout=30), \
        (follower.err, follower.out[-3:])
    assert follower.wait_for(lambda out: any(" out " in " %s " % line for line in out))
    assert follower.stop() == 0
    assert not [line for line in follower.out if "FAKE" in line], follower.out[:3]
    note = [line for line in follower.err if "rotated away" in line][0]
    if backups == 0:
        assert "stdout_backups = 0 keeps no copy" in note
    env.run("stop", "v", check=0)


# -- huge files: bounded time and memory ---------------------------------------------------------
MEMORY = 1 << 30  # address space for usrsvc logs: far below the 3 GB file


def limited_memory():
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def sparse_log(env, tail=b""):
    """A 3 GB log: "first", then a hole of NULs (copytruncate's, binary output), then
    ``tail``; sparse, so it costs no disk."""
    path = os.path.join(env.home, "logs", "big.log")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(b"first\n")
    os.truncate(path, 3 << 30)
    with open(path, "ab") as handle:
        handle.write(tail)
    env.write(env.program("big", env.service(), stdout=path))
    return path


def test_a_huge_unfinished_last_line_is_read_cut_in_bounded_memory(env):
    sparse_log(env)
    result = env.run("logs", "big", "-n", "1", check=0, timeout=60, preexec_fn=limited_memory)
    line, = result.stdout.splitlines()
    assert line.startswith("[line cut: over ") and len(line) > 1 << 20  # its last MiB shown
    result = env.run("logs", "big", "-n", "3", "--json", check=0, timeout=60,
                     preexec_fn=limited_memory)
    assert len(result.stdout.splitlines()) == 1  # what is above is out of reach, not read


def test_since_over_a_huge_untimed_log_reads_a_bounded_part_and_says_so(env):
    sparse_log(env, tail=b"\nlast line\n")
    result = env.run("logs", "big", "--since", "1h", check=0, timeout=60,
                     preexec_fn=limited_memory)
    lines = result.stdout.splitlines()
    assert lines[-1] == "last line" and len(lines) <= 6  # 4 MiB of 1 MiB pieces at most
    assert "carry no time" in result.stderr and "-n N" in result.stderr


def test_since_over_many_untimed_lines_keeps_the_last_thousand(env):
    path = os.path.join(env.home, "logs", "plain.log")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(b"".join(b"plain line %d\n" % n for n in range(200000)))
    env.write(env.program("plain", env.service(), stdout=path))
    result = env.run("logs", "plain", "--since", "5m", check=0, timeout=60)
    lines = result.stdout.splitlines()
    assert lines == ["plain line %d" % n for n in range(199000, 200000)]
    assert "its last 1000 lines carry no time" in result.stderr, result.stderr
    result = env.run("logs", "plain", "--since", "5m", "-n", "3", check=0)
    assert result.stdout.splitlines()[-1] == "plain line 199999" and not result.stderr


# -- a backup planted in a shared directory stops rotation: say how to get out --------------------
def test_a_planted_backup_refuses_rotation_and_points_to_a_private_directory(
        env, make_user, shared_dir):
    attacker = make_user()
    path = os.path.join(shared_dir, "v.log")
    env.write(env.program("v", env.service(), stdout=path, stdout_maxbytes="4K",
                          stdout_backups="3"))
    with open(path, "wb") as handle:
        handle.write(b"a line of v\n" * 2000)
    plant_backups(attacker, path, 1, 1)
    result = env.run("logs", "--rotate", "v", check=136)
    said = result.stdout + result.stderr
    assert "%s.1 is owned by uid %d (%s)" % (path, attacker.uid, attacker.name) in said
    assert "set stdout (in [Program:v]) to a file in a directory only you can write" in said
    assert "rm %s" % path not in said  # impossible in a sticky directory
    assert os.path.getsize(path) == 24000  # nothing cut
    warned = env.run("checkconfig", check=0).stderr
    assert "stdout = %s" % path in warned and "writable by other accounts (mode 1777)" in warned
    assert "stdout_maxbytes = 4096" in warned


def test_checkconfig_says_nothing_of_a_rotated_log_in_a_private_directory(env):
    env.write(env.program("v", env.service(), stdout_maxbytes="4K"))
    assert "writable by other accounts" not in env.run("checkconfig", check=0).stderr


def test_usrsvcd_own_log_rotation_refused_by_a_planted_backup_says_the_fix(
        env, make_user, shared_dir):
    """EventLog.rotate_own, as usrsvcd's timer calls it, on a log in a sticky directory."""
    from usrsvcmod.daemon.log import EventLog

    attacker = make_user()
    own = os.path.join(shared_dir, "usrsvcd.log")
    errors = os.path.join(env.home, "usrsvcd.err")
    log = EventLog(stdout_path=own, stderr_path=errors)
    try:
        log.event(None, "started", "x" * 5000)
        plant_backups(attacker, own, 1, 1)
        log.rotate_own(1000, 3)
    finally:
        log._close(log.out)
        log._close(log.err)
    with open(errors) as handle:
        said = handle.read()
    assert "log_rotate_failed: cannot rotate %s" % own in said
    assert "set usrsvcd_stdout to a file in a directory only you can write" in said
    assert "rm " not in said
    env.write("[Main]\nusrsvcd_stdout = %s\nusrsvcd_log_maxbytes = 1M\n" % own
              + env.program("v", env.service()))
    warned = env.run("checkconfig", check=0).stderr
    assert "[Main] usrsvcd_stdout = %s" % own in warned
    assert "usrsvcd_log_maxbytes = 1048576" in warned
