"""usrsvc logs against hostile neighbours and hostile files: backups planted by
another account in a shared log directory are never shown as a program's output;
a huge file without newlines, or a huge untimed file under --since, is read
within bounds of time and memory."""

import os
import shutil
import signal
import tempfile

import pytest

from conftest import wait_for
from test_logs import follow, started, writer  # noqa: F401 (fixture)


@pytest.fixture
def shared_dir():
    """A mode-1777 directory like /tmp, made by the test under /var/tmp."""
    if os.geteuid() != 0:
        pytest.skip("needs root: another account plants files")
    base = tempfile.mkdtemp(prefix="usrsvc-shared-", dir="/var/tmp")
    os.chmod(base, 0o755)
    shared = os.path.join(base, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    try:
        yield shared
    finally:
        shutil.rmtree(base)


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
