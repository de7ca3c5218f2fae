"""How usrsvcd recognises its daemon: the exact title, and the kernel's lock table."""

import fcntl
import os

from usrsvcmod.daemon import runner

CFG = "/home/web/usrsvc.cfg"


def test_only_the_exact_title_is_the_daemon():
    assert runner.is_daemon_title([runner.title(CFG)], CFG)
    assert runner.is_daemon_title(["usrsvcd: " + CFG], CFG)
    for argv in (["tail", "-f", "/run/user/1000/usrsvc/x/usrsvcd.log"],
                 ["vim", CFG],
                 ["sh", "-c", "sleep 60", "x usrsvcd: " + CFG],
                 ["x usrsvcd: " + CFG],
                 ["usrsvcd: " + CFG + " "],
                 ["usrsvcd: " + CFG + ".swp"],
                 ["usrsvcd:", CFG],
                 ["usrsvcd: " + CFG, "--debug"],
                 ["usrsvcd: /home/other/usrsvc.cfg"],
                 ["/usr/bin/usrsvcd", "start", "-c", CFG],
                 []):
        assert not runner.is_daemon_title(argv, CFG), argv


def test_the_same_config_spelled_through_a_symlink_is_the_same_daemon(tmp_path):
    real = tmp_path / "usrsvc.cfg"
    real.write_text("")
    link = tmp_path / "link.cfg"
    link.symlink_to(real)
    assert runner.is_daemon_title(["usrsvcd: %s" % link], str(real))
    assert runner.is_daemon_title(["usrsvcd: %s" % real], str(link))
    assert not runner.is_daemon_title(["usrsvcd: %s" % (tmp_path / "other.cfg")], str(real))


def _key(path):
    st = os.stat(path)
    return "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)


def test_lock_holders_reads_flock_holders_of_that_file_only(tmp_path):
    lock = tmp_path / "usrsvcd.lock"
    lock.write_text("")
    other = tmp_path / "other.lock"
    other.write_text("")
    st = os.stat(str(lock))
    elsewhere = "%02x:%02x:%d" % (os.major(st.st_dev) + 1, os.minor(st.st_dev), st.st_ino)
    table = tmp_path / "locks"
    table.write_text("\n".join([
        "1: POSIX  ADVISORY  WRITE 11 %s 0 EOF" % _key(str(lock)),       # not an flock
        "2: FLOCK  ADVISORY  WRITE 22 %s 0 EOF" % _key(str(other)),      # another file
        "3: FLOCK  ADVISORY  WRITE 7777 %s 0 EOF" % elsewhere,           # same inode only
        "4: FLOCK  ADVISORY  WRITE 4242 %s 0 EOF" % _key(str(lock)),     # the holder
        "4: -> FLOCK  ADVISORY  WRITE 33 %s 0 EOF" % _key(str(lock)),    # a waiter
        "5: OFDLCK ADVISORY  WRITE -1 %s 0 EOF" % _key(str(lock)),
        "garbage",
    ]) + "\n")
    assert runner.lock_holders([str(lock)], table=str(table)) == [4242, 7777]
    assert runner.lock_holders([str(tmp_path / "missing")], table=str(table)) == []
    assert runner.lock_holders([str(lock)], table=str(tmp_path / "no-table")) == []


def test_lock_holders_agrees_with_the_kernel(tmp_path):
    path = str(tmp_path / "usrsvcd.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        assert os.getpid() not in runner.lock_holders([path])
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert runner.lock_holders([path]) == [os.getpid()]
    finally:
        os.close(fd)
    assert runner.lock_holders([path]) == []
