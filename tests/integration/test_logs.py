"""usrsvc logs: the last lines of real services' log files, and -f following them
across our own rotation (the proc/logstate contract), a truncation by someone
else and logrotate's create mode. No usrsvcd runs in these tests."""

import ctypes
import datetime
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import HERE, wait_for

WRITER = os.path.join(HERE, "helpers", "logwriter.py")


def writer(env, *args):
    return " ".join([sys.executable, WRITER, env.token] + [str(a) for a in args])


def log(env, name, ext="log"):
    return os.path.join(env.home, "logs", "%s.%s" % (name, ext))


def setup(env, programs):
    """programs: {name: (writer args, keys)}; write the config and start them all."""
    text = "".join(env.program(name, writer(env, "--tag", name, *args), **keys)
                   for name, (args, keys) in programs.items())
    env.write(text)
    env.run("start", "all", check=0)


def lines_of(path):
    with open(path) as handle:
        return handle.read().splitlines()


def wait_lines(path, count):
    assert wait_for(lambda: os.path.exists(path) and len(lines_of(path)) >= count, timeout=20), \
        (path, os.path.exists(path) and lines_of(path)[-3:])


# the reader ------------------------------------------------------------------------------------
def test_last_lines_of_both_files_come_merged_in_time_order(env):
    setup(env, {"web": (["--count", 30, "--stderr", "--stamp", "iso"],
                        {"stderr": log(env, "web", "err")})})
    wait_lines(log(env, "web", "err"), 30)
    out = env.run("logs", "web", "-n", "3", check=0).stdout.splitlines()
    words = [line.split(" ", 1)[1] for line in out]
    assert words == ["out 27", "err 27", "out 28", "err 28", "out 29", "err 29"], out
    assert len(env.run("logs", "web", check=0).stdout.splitlines()) == 40  # 20 per file


def test_stream_options_and_line_counts(env):
    setup(env, {"web": (["--count", 30, "--stderr"], {"stderr": log(env, "web", "err")})})
    wait_lines(log(env, "web", "err"), 30)
    assert env.run("logs", "web", "--stdout", "-n", "2", check=0).stdout == "out 28\nout 29\n"
    assert env.run("logs", "web", "--stderr", "-n2", check=0).stdout == "err 28\nerr 29\n"
    assert env.run("logs", "web", "--stderr", "--lines=1", check=0).stdout == "err 29\n"
    assert env.run("logs", "web", "-n", "0", check=0).stdout == ""
    # untimed files: one block after the other, the file written last at the end
    both = env.run("logs", "web", "-n", "1", check=0).stdout
    assert both == "out 29\nerr 29\n", both


def test_stderr_alone_of_a_program_without_its_own_stderr_file_is_explained(env):
    setup(env, {"web": (["--count", 3], {})})
    wait_lines(log(env, "web"), 3)
    result = env.run("logs", "web", "--stderr", check=1)
    assert result.stdout == ""
    assert "stderr = stdout" in result.stderr and "--stdout" in result.stderr


def test_since_uses_the_line_times_and_else_the_file_time(env):
    setup(env, {"web": (["--count", 10, "--old", 6, "--stamp", "python"], {}),
                "api": (["--count", 4], {})})
    wait_lines(log(env, "web"), 10)
    wait_lines(log(env, "api"), 4)
    recent = env.run("logs", "web", "--since", "1h", check=0).stdout.splitlines()
    assert [line.split()[-1] for line in recent] == ["6", "7", "8", "9"], recent
    assert len(env.run("logs", "web", "--since", "2h30m", check=0).stdout.splitlines()) == 10
    assert len(env.run("logs", "web", "--since", "3h", "-n", "3", check=0).stdout.splitlines()) == 3
    # api's lines have no time: its file's mtime stands for them
    assert env.run("logs", "api", "--since", "600", check=0).stdout.count("out") == 4
    old = time.time() - 7200
    os.utime(log(env, "api"), (old, old))
    assert env.run("logs", "api", "--since", "1h", check=0).stdout == ""
    bad = env.run("logs", "web", "--since", "soon", check=1)
    assert "--since" in bad.stderr and "30s" in bad.stderr


def test_json_lines_carry_program_stream_time_and_message(env):
    setup(env, {"web": (["--count", 5, "--stderr", "--stamp", "iso"],
                        {"stderr": log(env, "web", "err")}),
                "api": (["--count", 2, "--text", "'caf\\xc3\\xa9 \\x1b[31mred'"], {})})
    wait_lines(log(env, "web", "err"), 5)
    wait_lines(log(env, "api"), 3)
    out = env.run("logs", "all", "--json", check=0).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert all(set(row) == {"program", "stream", "time", "message"} for row in rows)
    web = [row for row in rows if row["program"] == "web"]
    assert [row["stream"] for row in web] == ["stdout", "stderr"] * 5
    for row in web:  # the time is the one the line starts with, in UTC
        written = datetime.datetime.fromisoformat(row["message"].split()[0].replace("Z", "+00:00"))
        parsed = datetime.datetime.fromisoformat(row["time"].replace("Z", "+00:00"))
        assert row["time"].endswith("Z") and abs((parsed - written).total_seconds()) < 0.002
    api = [row["message"] for row in rows if row["program"] == "api"]
    assert api[0] == "caf\u00e9 \x1b[31mred"  # as written (json escapes it)


def test_all_prefixes_each_line_with_its_program_and_escapes_control_characters(env):
    setup(env, {"web": (["--count", 3, "--text", "'\\x1b]0;owned\\x07'"], {}),
                "longer": (["--count", 3], {})})
    wait_lines(log(env, "web"), 4)
    wait_lines(log(env, "longer"), 3)
    out = env.run("logs", "all", check=0).stdout
    lines = out.splitlines()
    assert len(lines) == 7 and "\x1b" not in out and "\x07" not in out
    assert "web    | \\x1b]0;owned\\x07" in lines
    assert {line.split(" | ")[0] for line in lines} == {"web   ", "longer"}
    assert [line for line in lines if line.startswith("longer")] == [
        "longer | out 0", "longer | out 1", "longer | out 2"]
    assert env.run("logs", check=0).stdout == out  # "logs" alone: every program


def _on_a_terminal(env, *args, extra=None):
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.run([env.usrsvc] + list(args), env=env._environ(extra), stdout=slave,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60)
        os.close(slave)
        slave = None
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.returncode == 0, proc.stderr
        return b"".join(chunks).decode()
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)


def test_names_are_coloured_on_a_terminal_unless_no_color(env):
    setup(env, {"web": (["--count", 2], {}), "api": (["--count", 2], {})})
    wait_lines(log(env, "web"), 2)
    wait_lines(log(env, "api"), 2)
    coloured = _on_a_terminal(env, "logs", "all", extra={"NO_COLOR": None, "TERM": "xterm"})
    assert re.search(r"\x1b\[\d+mweb\x1b\[0m \| out 0", coloured), coloured
    plain = _on_a_terminal(env, "logs", "all", extra={"NO_COLOR": "1", "TERM": "xterm"})
    assert "\x1b" not in plain and "web | out 0" in plain


def test_a_missing_log_or_a_symlinked_one_is_named_with_exit_1(env):
    env.write(env.program("web", writer(env, "--count", 1)) + env.program(
        "api", writer(env, "--count", 1)))
    result = env.run("logs", "web", check=1)
    assert log(env, "web") in result.stderr and "does not exist" in result.stderr
    os.makedirs(os.path.join(env.home, "logs"))
    with open(os.path.join(env.home, "elsewhere"), "w") as handle:
        handle.write("secret\n")
    os.symlink(os.path.join(env.home, "elsewhere"), log(env, "api"))
    result = env.run("logs", "all", check=1)
    assert "secret" not in result.stdout
    assert "symlink" in result.stderr and log(env, "api") in result.stderr
    assert log(env, "web") in result.stderr  # every problem is named


def test_status_shows_where_a_program_logs(env):
    setup(env, {"web": (["--count", 1], {"stderr": log(env, "web", "err")}),
                "api": (["--count", 1], {})})
    web = env.run("status", "web", check=0).stdout
    assert "logs: %s (stdout), %s (stderr)" % (log(env, "web"), log(env, "web", "err")) in web
    api = env.run("status", "api", check=0).stdout
    assert "log: %s (stdout and stderr)" % log(env, "api") in api
    table = env.run("status", "all", check=0).stdout.splitlines()
    assert len(table) == 3 and not [line for line in table if line.startswith("  log")], table


def test_usage_errors_of_logs(env):
    env.write(env.program("web", writer(env)))
    assert "number of lines" in env.run("logs", "web", "-n", "x", check=1).stderr
    assert "options of usrsvc logs" in env.run("status", "web", "-f", check=1).stderr
    assert "--since" in env.run("logs", "--help", check=0).stdout
    assert env.run("logs", "nope", check=133).stderr


# the follower ------------------------------------------------------------------------------------
class Follower:
    """``usrsvc logs -f ...`` in the background; its output collected by threads."""

    def __init__(self, env, *args):
        import threading

        self.proc = env.popen("logs", "-f", *args, env={"PYTHONUNBUFFERED": "1"})
        self.out, self.err = [], []
        self.threads = [threading.Thread(target=self._pump, args=(s, b), daemon=True)
                        for s, b in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for thread in self.threads:
            thread.start()

    @staticmethod
    def _pump(stream, sink):
        for line in stream:
            sink.append(line.rstrip("\n"))

    def wait_for(self, predicate, timeout=30):
        return wait_for(lambda: predicate(list(self.out)), timeout=timeout)

    def stop(self):
        """Ctrl-C: exit 0, quietly."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=10)
        for thread in self.threads:
            thread.join(timeout=10)
        return code


@pytest.fixture
def follow(env):
    started = []

    def start(*args):
        started.append(Follower(env, *args))
        return started[-1]

    yield start
    for follower in started:
        if follower.proc.poll() is None:
            follower.proc.send_signal(signal.SIGINT)
            try:
                follower.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                follower.proc.kill()


def numbers(lines, word="out"):
    return [int(line.rsplit(" ", 1)[1]) for line in lines if line.split(" ")[-2:-1] == [word]]


def collapse(env, path):
    """Rotate ``path`` as usrsvcd does (proc/logstate's contract): under the log's
    exclusive lock, copy its first whole blocks to a new backup NAME.1 (older ones
    shift to NAME.2 ...), cut them from the live file with
    FALLOC_FL_COLLAPSE_RANGE, record the cumulative removal."""
    from usrsvcmod.proc import logstate
    from usrsvcmod.state import RuntimeState

    state = RuntimeState(env.cfg, environ=env.env)
    lock = logstate.lock(state, path)
    fd = os.open(path, os.O_RDWR)
    try:
        st = os.fstat(fd)
        cut = (st.st_size - 1) // st.st_blksize * st.st_blksize
        if cut <= 0:
            return 0
        for number in range(9, 0, -1):
            if os.path.exists("%s.%d" % (path, number)):
                os.rename("%s.%d" % (path, number), "%s.%d" % (path, number + 1))
        with open(path + ".1", "wb") as backup:
            backup.write(os.pread(fd, cut, 0))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
        if libc.fallocate(fd, 0x08, 0, cut) != 0:  # FALLOC_FL_COLLAPSE_RANGE
            code = ctypes.get_errno()
            if code in (errno.EOPNOTSUPP, errno.ENOSYS):
                pytest.skip("this filesystem cannot collapse a range")
            raise OSError(code, os.strerror(code))
        record = logstate.read(state, path)
        before = record[2] if record and record[:2] == (st.st_dev, st.st_ino) else 0
        logstate.write(state, path, st.st_dev, st.st_ino, before + cut)
        return cut
    finally:
        os.close(fd)
        os.close(lock)
        state.close()


def started(env, follow, *args):
    """A follower that has shown the writer's first line ("ready"), then "go"."""
    follower = follow(*args)
    assert follower.wait_for(lambda out: any("ready" in line for line in out)), follower.err
    open(os.path.join(env.home, "go"), "w").close()
    return follower


def test_follow_keeps_every_line_exactly_once_across_our_rotations(env, follow):
    go = os.path.join(env.home, "go")
    total = 20000
    setup(env, {"web": (["--count", total, "--every", 0.0002, "--go", go, "--text", "ready"],
                        {})})
    path = log(env, "web")
    follower = started(env, follow, "web")
    rotations = 0
    while rotations < 8 and wait_for(lambda: os.path.getsize(path) > 12288, timeout=10):
        rotations += bool(collapse(env, path))
    assert follower.wait_for(lambda out: numbers(out)[-1:] == [total - 1], timeout=60), \
        follower.out[-3:]
    assert follower.stop() == 0
    assert rotations >= 3 and os.path.getsize(path + ".1") > 0
    assert numbers(follower.out) == list(range(total)), (follower.err, rotations)
    assert not [line for line in follower.err if "truncated" in line or "rotated away" in line]
    assert "Traceback" not in "\n".join(follower.err)


def test_follow_says_when_someone_else_truncates_and_goes_on(env, follow):
    go = os.path.join(env.home, "go")
    setup(env, {"web": (["--count", 40, "--every", 0.05, "--go", go, "--text", "ready"], {})})
    path = log(env, "web")
    follower = started(env, follow, "web")
    assert follower.wait_for(lambda out: 10 in numbers(out))
    os.truncate(path, 0)
    assert follower.wait_for(lambda out: 39 in numbers(out))
    assert follower.stop() == 0
    assert any("truncated by someone else" in line and path in line for line in follower.err), \
        follower.err
    got = numbers(follower.out)
    assert got[-1] == 39 and sorted(set(got)) == got  # nothing repeated, in order


def test_follow_moves_to_the_new_file_of_logrotate_create_mode(env, follow):
    go = os.path.join(env.home, "go")
    path = log(env, "web")
    setup(env, {"web": (["--count", 400, "--every", 0.005, "--go", go, "--reopen", path,
                         "--text", "ready"], {})})
    follower = started(env, follow, "web", "--json")
    wait_lines(path, 100)
    os.rename(path, path + ".1")  # logrotate, create mode: rename, create, signal
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    os.kill(env.pid_of("web"), signal.SIGHUP)
    assert follower.wait_for(lambda out: any(json.loads(l)["message"] == "out 399" for l in out))
    assert follower.stop() == 0
    messages = [json.loads(line)["message"] for line in follower.out]
    assert messages == ["ready"] + ["out %d" % i for i in range(400)]
    assert len(lines_of(path)) > 0 and len(lines_of(path + ".1")) >= 100
    assert any("renamed or removed" in line for line in follower.err), follower.err


def test_an_idle_follower_sleeps(env, follow):
    setup(env, {"web": (["--count", 3], {}), "api": (["--count", 3], {})})
    wait_lines(log(env, "api"), 3)
    follower = follow("all")
    assert follower.wait_for(lambda out: len(out) == 6)

    def cpu():
        with open("/proc/%d/stat" % follower.proc.pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    before = cpu()
    time.sleep(3)
    used = cpu() - before
    assert used < 0.3, used  # a busy loop would use ~3 s; polling or waking often, >> 0.3
    assert follower.stop() == 0 and follower.err == []


def test_follow_waits_for_a_log_that_does_not_exist_yet(env, follow):
    env.write(env.program("web", writer(env, "--count", 3)))
    follower = follow("web")
    assert wait_for(lambda: any("waiting for it" in line for line in follower.err))
    env.run("start", "web", check=0)
    assert follower.wait_for(lambda out: numbers(out) == [0, 1, 2])
    assert follower.stop() == 0


def test_follow_says_each_new_problem_at_a_waited_for_path_once(env, follow, make_user):
    """A FIFO, a symlink, another user's file appearing where the log will be: each is
    said (once), not only the first "waiting"; none is read as the program's output."""
    other = make_user()
    env.write(env.program("web", writer(env, "--count", 3)))
    path = log(env, "web")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    follower = follow("web")
    assert wait_for(lambda: any("waiting for it" in line for line in follower.err))
    decoy = os.path.join(env.home, "decoy.log")
    with open(decoy, "w") as handle:
        handle.write("FORGED decoy line\n")
    plants = [("fifo", lambda: os.mkfifo(path), "not a regular file"),
              ("symlink", lambda: os.symlink(decoy, path), "web"),
              ("theirs", lambda: (_write(path, "FORGED planted line\n"),
                                  os.chown(path, other.uid, -1)), "refused")]
    for name, plant, words in plants:
        seen = len(follower.err)
        plant()
        assert wait_for(lambda: len(follower.err) > seen, timeout=20), (name, follower.err)
        said = follower.err[seen:]
        assert any(words in line and path in line for line in said), (name, said)
        os.unlink(path)
    time.sleep(1.5)  # more passes at the same problem-free path: nothing more is said
    assert len(set(follower.err)) == len(follower.err), follower.err  # none said twice
    env.run("start", "web", check=0)
    assert follower.wait_for(lambda out: numbers(out) == [0, 1, 2])
    assert not any("FORGED" in line for line in follower.out), follower.out
    assert follower.stop() == 0


def _write(path, text):
    with open(path, "w") as handle:
        handle.write(text)
