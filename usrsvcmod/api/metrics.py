"""/metrics: Prometheus's text format, written by hand.

prometheus_client would cost usrsvcd about 9 MB and 30 ms of import for a
few dozen lines of text; this writes the same exposition (a test parses it
with prometheus_client's own parser). Programs come from the snapshot; RSS
and CPU from /proc, one small read per process.
"""

import os

from ..daemon.program import STATES

ALL_STATES = STATES + ("unhealthy",)


def _label(value):
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _num(value):
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(int(value))


class Writer:
    def __init__(self):
        self.lines = []

    def family(self, name, kind, text):
        self.lines.append("# HELP %s %s" % (name, text))
        self.lines.append("# TYPE %s %s" % (name, kind))

    def sample(self, name, labels, value):
        if labels:
            inner = ",".join('%s="%s"' % (k, _label(v)) for k, v in labels)
            self.lines.append("%s{%s} %s" % (name, inner, _num(value)))
        else:
            self.lines.append("%s %s" % (name, _num(value)))

    def text(self):
        return ("\n".join(self.lines) + "\n").encode()


def cpu_seconds(pid):
    """User + system CPU seconds of ``pid`` (/proc/PID/stat), or None."""
    from ..proc import procfs

    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            fields = handle.read().rpartition(b")")[2].split()
        tick = procfs._constants()["tick"]
        return (int(fields[11]) + int(fields[12])) / tick
    except (OSError, IndexError, ValueError):
        return None


def gather(api, server):
    """On the loop: what the page needs from the daemon, as plain data (the
    /proc reads and the writing happen in write(), in a worker thread)."""
    snapshot = api.snapshot()
    api.count_restarts((name, entry.get("restarts")) for name, entry in snapshot["programs"].items())
    return {"snapshot": snapshot, "programs": dict(api.daemon.config.programs),
            "restarts": dict(api.restarts), "stats": server.stats(), "events": api.last_id}


def render(api, server):
    text = None
    for text in write_steps(gather(api, server)):
        pass
    return text


CHUNK = 25  # programs read from /proc per turn of the loop


def write_steps(data):
    """A generator: None now and then (every CHUNK programs read from /proc), so
    the loop runs in between; the page's bytes last."""
    from ..proc import procfs

    snapshot = data["snapshot"]
    programs = snapshot["programs"]
    configured = data["programs"]
    out = Writer()
    out.family("usrsvc_up", "gauge", "1 when the program's process is running")
    for name, entry in programs.items():
        out.sample("usrsvc_up", [("program", name)], 1 if entry.get("pid") else 0)
    out.family("usrsvc_state", "gauge", "1 for the program's current state (SPEC states)")
    for name, entry in programs.items():
        state = entry.get("state")
        for each in ALL_STATES:
            out.sample("usrsvc_state", [("program", name), ("state", each)], 1 if each == state else 0)
    out.family("usrsvc_restarts_total", "counter",
               "restarts by usrsvcd since it started, by what caused them")
    for (name, reason), count in sorted(data["restarts"].items()):
        out.sample("usrsvc_restarts_total", [("program", name), ("reason", reason)], count)
    out.family("usrsvc_last_exit_code", "gauge",
               "exit code of the program's last run (128+N when a signal N ended it)")
    for name, entry in programs.items():
        last = entry.get("last_exit")
        if isinstance(last, dict):
            code = last.get("code")
            if code is None and last.get("signal") is not None:
                code = 128 + int(last["signal"])
            if code is not None:
                out.sample("usrsvc_last_exit_code", [("program", name)], code)
    out.family("usrsvc_start_time_seconds", "gauge",
               "start time of the program's running process, seconds since the epoch")
    running = [(name, entry["pid"], entry.get("started_at")) for name, entry in programs.items()
               if entry.get("pid")]
    for name, _, started in running:
        if started is not None:
            out.sample("usrsvc_start_time_seconds", [("program", name)], float(started))
    out.family("usrsvc_rss_bytes", "gauge",
               "resident memory of the program: its process, or with its descendants (tree)")
    for at, (name, pid, _) in enumerate(running):
        if at and at % CHUNK == 0:
            yield None
        rss = procfs.rss_kb(pid)
        if rss is not None:
            out.sample("usrsvc_rss_bytes", [("program", name), ("scope", "process")], rss * 1024)
            tree = procfs.tree_rss_kb(pid)
            if tree is not None:
                out.sample("usrsvc_rss_bytes", [("program", name), ("scope", "tree")], tree * 1024)
    out.family("usrsvc_cpu_seconds_total", "counter",
               "CPU time (user + system) of the program's running process")
    for at, (name, pid, _) in enumerate(running):
        if at and at % CHUNK == 0:
            yield None
        cpu = cpu_seconds(pid)
        if cpu is not None:
            out.sample("usrsvc_cpu_seconds_total", [("program", name)], float(cpu))
    out.family("usrsvc_probe_ok", "gauge",
               "1 when the program's readiness or liveness probe passes")
    for name, entry in programs.items():
        program = configured.get(name)
        if program is None or not entry.get("pid"):
            continue
        if program.readiness is not None:
            out.sample("usrsvc_probe_ok", [("program", name), ("probe", "readiness")],
                       1 if entry.get("ready") else 0)
        if program.liveness is not None:
            out.sample("usrsvc_probe_ok", [("program", name), ("probe", "liveness")],
                       0 if entry.get("state") == "unhealthy" else 1)
    _daemon(out, data, len(programs))
    yield out.text()


def _daemon(out, data, count):
    from ..proc import procfs

    pid = os.getpid()
    out.family("usrsvcd_programs", "gauge", "programs usrsvcd manages")
    out.sample("usrsvcd_programs", [], count)
    out.family("usrsvcd_rss_bytes", "gauge", "usrsvcd's own resident memory")
    out.sample("usrsvcd_rss_bytes", [], (procfs.rss_kb(pid) or 0) * 1024)
    out.family("usrsvcd_cpu_seconds_total", "counter", "usrsvcd's own CPU time")
    out.sample("usrsvcd_cpu_seconds_total", [], float(cpu_seconds(pid) or 0.0))
    info = procfs.read(pid)
    if info is not None:
        out.family("usrsvcd_start_time_seconds", "gauge", "when usrsvcd started")
        out.sample("usrsvcd_start_time_seconds", [], float(round(info.start_time, 2)))
    out.family("usrsvcd_open_fds", "gauge", "usrsvcd's open file descriptors")
    out.sample("usrsvcd_open_fds", [], len(os.listdir("/proc/self/fd")))
    out.family("usrsvcd_events_total", "counter", "events usrsvcd emitted (its log lines)")
    out.sample("usrsvcd_events_total", [], data["events"])
    stats = data["stats"]
    out.family("usrsvcd_api_connections", "gauge", "open API connections")
    out.sample("usrsvcd_api_connections", [], stats["connections"])
    out.family("usrsvcd_api_streams", "gauge", "open event streams")
    out.sample("usrsvcd_api_streams", [], stats["streams"])
    out.family("usrsvcd_api_requests_total", "counter", "API requests read whole")
    out.sample("usrsvcd_api_requests_total", [], stats["requests"])
    out.family("usrsvcd_api_refused_total", "counter",
               "API connections refused (table full, or a peer of another user)")
    out.sample("usrsvcd_api_refused_total", [], stats["refused"])
