"""Readiness and liveness probes: run one probe, bounded in time, and say how it went.

``run(probe, target)`` returns (ok, error text) and never raises for what the
probed program does; ``target`` is a ProbeTarget: the program, its pid, when
it was launched, where its log stood then and its notify listener. Each kind
is a small function; ``bounded`` runs one in a worker thread so a probe stuck
in the kernel (a dead NFS mount, a peer that never answers) costs the caller
``probe_timeout`` and no more.
"""

import os
import socket
import time


class ProbeTarget:
    """What a probe looks at. ``log_pos`` moves as a log probe reads."""

    __slots__ = ("program", "pid", "launched_at", "log_pos", "listener")

    def __init__(self, program, pid, launched_at, log_pos=0, listener=None):
        self.program, self.pid, self.launched_at = program, pid, launched_at
        self.log_pos, self.listener = log_pos, listener


def _tcp(probe, target):
    host, _, number = probe.target.rpartition(":")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(number)), timeout=probe.probe_timeout):
            return True, None
    except socket.timeout:
        return False, "no answer on %s within %gs" % (probe.target, probe.probe_timeout)
    except OSError as err:
        return False, "%s on %s" % ((err.strerror or str(err)).lower(), probe.target)


def _http(probe, target):
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(probe.target)
    kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    import threading

    try:
        conn = kind(url.hostname, url.port, timeout=probe.probe_timeout)
        # the timeout bounds each read, not the answer: a server trickling a byte at
        # a time would hold this thread for ever; at the deadline the socket is shut
        fired = []
        cutoff = threading.Timer(probe.probe_timeout, _shut, (conn, fired))
        cutoff.daemon = True
        cutoff.start()
        try:
            path = (url.path or "/") + ("?" + url.query if url.query else "")
            conn.request("GET", path, headers={"User-Agent": "usrsvc-probe"})
            status = conn.getresponse().status
        finally:
            cutoff.cancel()
            conn.close()
        if fired:
            raise socket.timeout()
    except socket.timeout:
        return False, "no answer from %s within %gs" % (probe.target, probe.probe_timeout)
    except (OSError, http.client.HTTPException, ValueError) as err:
        text = getattr(err, "strerror", None) or str(err) or type(err).__name__
        return False, "%s on %s" % (text.lower(), probe.target)
    if any(low <= status <= high for low, high in probe.http_status):
        return True, None
    return False, "HTTP status %d from %s (expected %s)" % (status, probe.target,
                                                            statuses_text(probe.http_status))


def _shut(conn, fired):
    fired.append(True)
    sock = getattr(conn, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def statuses_text(ranges):
    return ", ".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in ranges)


def _exec(probe, target):
    import signal
    import subprocess

    from . import spawn

    program = target.program
    try:
        child = subprocess.Popen(["/bin/sh", "-c", probe.target], cwd=program.directory,
                                 env=spawn.helper_environment(program),
                                 stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 start_new_session=True, close_fds=True)
    except OSError as err:
        return False, "cannot run %r: %s" % (probe.target, err.strerror or err)
    try:
        output, _ = child.communicate(timeout=probe.probe_timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        try:  # something it started in another session may hold the pipe open
            child.communicate(timeout=1)
        except subprocess.TimeoutExpired:
            child.stdout.close()
            child.kill()
            child.wait()
        return False, "%r did not finish within %gs" % (probe.target, probe.probe_timeout)
    if child.returncode == 0:
        return True, None
    last = output.decode("utf-8", "replace").strip().splitlines()[-1:]
    how = ("exited with status %d" % child.returncode if child.returncode > 0
           else "was killed by signal %d" % -child.returncode)
    return False, "%r %s%s" % (probe.target, how, (": " + last[0][:200]) if last else "")


def _file(probe, target):
    try:
        st = os.stat(probe.target)
    except OSError as err:
        return False, "%s: %s" % (probe.target, (err.strerror or str(err)).lower())
    if st.st_mtime < target.launched_at:
        return False, "%s was not modified since the launch" % probe.target
    return True, None


LOG_READ_LIMIT = 1 << 20  # bytes read per probe: a flood of output cannot stall it


def _log(probe, target):
    """A new line of the stdout log since ``log_pos`` matches; moves ``log_pos``
    to the end of the last whole line read (so a line is never half-matched)."""
    import re
    import stat

    path = target.program.stdout
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        return False, "log %s: %s" % (path, (err.strerror or str(err)).lower())
    with open(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return False, "log %s is not a regular file" % path
        if st.st_size < target.log_pos:  # truncated or rotated meanwhile
            target.log_pos = 0
        handle.seek(target.log_pos)
        data = handle.read(LOG_READ_LIMIT)
    end = data.rfind(b"\n") + 1
    if len(data) == LOG_READ_LIMIT and end == 0:
        end = len(data)  # one huge line: skip it rather than read it for ever
    pattern = re.compile(probe.target)
    lines = data[:end].decode("utf-8", "replace").splitlines()
    target.log_pos += end
    if any(pattern.search(line) for line in lines):
        return True, None
    return False, "no new line of %s matches %r" % (path, probe.target)


def _notify(probe, target):
    if target.listener is None:
        return False, "no notify socket"
    return target.listener.check(target.pid)


KINDS = {"tcp": _tcp, "http": _http, "exec": _exec, "file": _file, "log": _log,
         "notify": _notify}


def run(probe, target):
    """(ok, error text) of one probe; an unexpected error is a failed probe."""
    try:
        return KINDS[probe.kind](probe, target)
    except Exception as err:  # noqa: BLE001 - a probe never takes its caller down
        return False, "%s probe error: %s: %s" % (probe.kind, type(err).__name__, err)


_STUCK = {}  # program name -> a probe thread given up on that has not ended yet


def bounded(probe, target, slack=1.0):
    """run() in a worker thread, given up after probe_timeout + ``slack``. While
    a thread given up on still runs, no other is started for that program: a
    probe target that never answers cannot pile threads up."""
    import threading

    stuck = _STUCK.get(target.program.name)
    if stuck is not None:
        if stuck.is_alive():
            return False, "%s probe: the previous one has still not returned" % probe.kind
        del _STUCK[target.program.name]
    box = []
    worker = threading.Thread(target=lambda: box.append(run(probe, target)),
                              name="probe-%s" % target.program.name, daemon=True)
    worker.start()
    worker.join(probe.probe_timeout + slack)
    if not box:
        _STUCK[target.program.name] = worker
        return False, "%s probe did not return within %gs" % (probe.kind, probe.probe_timeout)
    return box[0]


def wait_ready(probe, target, deadline, alive, clock=time.monotonic, sleep=time.sleep):
    """Probe every ``interval`` until it passes (None), the process dies or the
    deadline comes (the reason, quoting the probe's last error)."""
    last = "no probe ran"
    while True:
        if not alive():
            return "pid %d exited before it was ready (last probe: %s)" % (target.pid, last)
        ok, error = bounded(probe, target)
        if ok and alive():
            return None
        last = error or last
        left = deadline - clock()
        if left <= 0:
            return "not ready: %s after %gs" % (last, probe.timeout)
        sleep(min(probe.interval, left))
