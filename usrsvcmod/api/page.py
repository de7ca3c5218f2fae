"""usrsvcd's status page: one HTML document rendered on the server.

No build step, no CDN, nothing fetched from elsewhere: the page is complete
and readable without JavaScript (a table, inline SVG, plain POST forms).
``SCRIPT``, served at /static/page.js, only makes it live: it listens to the
events stream and swaps in fresh rows rendered by this same module, so the
figures are formatted in one place.

Every value that reaches the document (names, reasons, command lines, paths)
comes from a config file or a process and goes through ``_e`` (html.escape's rules);
names in URLs are percent-encoded first. The document needs no inline
script, so the server can send ``CSP`` with ``script-src 'self'``.
"""

import time

from . import history as history_mod
from .script import SCRIPT  # noqa: F401 - served at /static/page.js (routes import it from here)

# What the server should send with the page: scripts only from us, no
# framing, forms and fetches only back to us.
CSP = ("default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

STATES = ("stopped", "starting", "running", "stopping", "backoff", "gave_up", "stopped_by_user",
          "disabled", "unmanaged", "done", "failed", "unhealthy")
ACTIONS = ("start", "stop", "restart")

SPARK_W, SPARK_H = 120, 22
TIPS = 5  # events named in a timeline tooltip, per kind
DRAW_ORDER = ("start", "stop", "exit", "restart", "failure")  # the last is drawn on top


_UNRESERVED_TEXT = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_UNRESERVED = frozenset(_UNRESERVED_TEXT.encode())


def quote(name):
    """``name`` as one URL path segment: every byte but the unreserved ones
    percent-encoded, '/' included (urllib.parse would cost the daemon 1 MB)."""
    if not name.strip(_UNRESERVED_TEXT):  # the usual name: nothing to encode
        return name
    return "".join(chr(b) if b in _UNRESERVED else "%%%02X" % b
                   for b in name.encode("utf-8", "surrogateescape"))


def _e(value):
    """Text for HTML, in an element or a quoted attribute (what html.escape does;
    importing html would load its table of entities, 0.6 MB, for nothing)."""
    text = "" if value is None else str(value)
    if "&" in text or "<" in text or ">" in text or '"' in text or "'" in text:
        return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace('"', "&quot;").replace("'", "&#x27;"))
    return text


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


# -- figures as text ------------------------------------------------------------
def duration(seconds):
    """'42s', '5m 03s', '2h 05m', '3d 4h'."""
    seconds = _number(seconds)
    if seconds is None:
        return ""
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return "%dd %dh" % (days, hours)
    if hours:
        return "%dh %02dm" % (hours, minutes)
    if minutes:
        return "%dm %02ds" % (minutes, secs)
    return "%ds" % secs


def size_kb(kb):
    """KiB as '812 KiB', '12.3 MiB', '1.50 GiB'."""
    kb = _number(kb)
    if kb is None:
        return ""
    if kb < 1024:
        return "%d KiB" % kb
    if kb < 1024 * 1024:
        return "%.1f MiB" % (kb / 1024.0)
    return "%.2f GiB" % (kb / 1024.0 / 1024.0)


def uptime(program, now):
    if program.get("pid") is None:
        return ""
    started = _number(program.get("started_at"))
    if started is not None:
        return duration(now - started)
    return duration(program.get("uptime_s"))


def last_exit(program, now):
    """'exited with status 3, 5m 02s ago', 'killed by signal 9 (SIGKILL), 12s ago'
    (ExitStatus.describe, as usrsvc status says it); the daemon's own text wins."""
    text = program.get("last_exit_text")
    data = program.get("last_exit")
    if not isinstance(data, dict):
        return text if isinstance(text, str) else ""
    if not isinstance(text, str) or not text:
        from ..proc.exitinfo import ExitStatus

        try:
            text = ExitStatus.from_json(data).describe()
        except (KeyError, TypeError, ValueError):
            text = ""
    at = _number(data.get("at"))
    if at is not None and text:
        text += ", %s ago" % duration(now - at)
    return text


# -- inline SVG -------------------------------------------------------------------
def sparkline(samples, now, window):
    """RSS over the window as an SVG polyline; an empty frame when there is nothing."""
    label = "no memory figures yet"
    body = ""
    if samples:
        values = [kb for _, kb in samples]
        low, high = min(values), max(values)
        sx = SPARK_W / window
        sy = (SPARK_H - 4) / float(high - low) if high > low else 0.0
        y0 = SPARK_H - 2 if high > low else SPARK_H / 2
        points = ["%.1f,%.1f" % (SPARK_W - min(window, max(0.0, now - at)) * sx,
                                 y0 - (kb - low) * sy) for at, kb in samples]
        if len(points) == 1:
            x, y = points[0].split(",")
            body = '<circle cx="%s" cy="%s" r="1.5" class="line-dot"/>' % (x, y)
        else:
            body = '<polyline points="%s" fill="none" class="line"/>' % " ".join(points)
        label = "RSS over the last hour: %s now, lowest %s, highest %s" % (
            size_kb(values[-1]), size_kb(low), size_kb(high))
    return _svg("spark", label, body)


def timeline(marks, now, window):
    """Starts, restarts, exits and stops over the window: one path of ticks per
    kind, its tooltip the latest few of them with their reasons."""
    by_kind = {}
    for at, kind, name, reason in marks:
        by_kind.setdefault(kind, []).append((at, name, reason))
    paths, counts = [], []
    order = {kind: i for i, kind in enumerate(DRAW_ORDER)}
    for kind in sorted(by_kind, key=lambda k: (order.get(k, -1), k)):
        items = by_kind[kind]
        xs = ("M%.1f 3V%d" % (SPARK_W * (1 - min(window, max(0.0, now - at)) / window),
                              SPARK_H - 3) for at, _, _ in items)
        tips = ["%s %s ago%s" % (name, duration(now - at), (": " + reason) if reason else "")
                for at, name, reason in items[-TIPS:]]
        if len(items) > TIPS:
            tips.insert(0, "... %d earlier" % (len(items) - TIPS))
        paths.append('<path d="%s" class="tick tick-%s"><title>%s</title></path>' % (
            "".join(xs), _e(kind), _e("\n".join(tips))))
        counts.append("%d %s%s" % (len(items), kind, "" if len(items) == 1 else "s"))
    axis = '<path d="M0 %dH%d" class="axis"/>' % (SPARK_H // 2, SPARK_W)
    return _svg("timeline", "last hour: " + (", ".join(counts) or "nothing"),
                axis + "".join(paths))


def _svg(cls, label, body):
    return ('<svg class="%s" width="%d" height="%d" viewBox="0 0 %d %d" role="img" '
            'aria-label="%s"><title>%s</title>%s</svg>' % (
                cls, SPARK_W, SPARK_H, SPARK_W, SPARK_H, _e(label), _e(label), body))


# -- the document -------------------------------------------------------------------
def _state_class(state):
    return "state-" + state if state in STATES else "state-other"


def _buttons(name, csrf):
    path = "/ui/programs/%s/" % quote(name)
    out = []
    for action in ACTIONS:
        out.append('<form method="post" action="%s"><input type="hidden" name="csrf" value="%s">'
                   '<button type="submit" name="action" value="%s" class="act-%s" '
                   'title="%s %s">%s</button></form>' % (
                       _e(path + action), _e(csrf), action, action, action, _e(name), action))
    return "".join(out)


def row(program, history, csrf, now):
    """One <tr> for one program (also what the script swaps in)."""
    name = program.get("name")
    name = name if isinstance(name, str) else "?"
    state = program.get("state")
    state = state if isinstance(state, str) else "unknown"
    reason = program.get("reason") if isinstance(program.get("reason"), str) else ""
    pid = program.get("pid")
    rss = program.get("rss_kb")
    tree = program.get("rss_tree")
    rss_text = _e(size_kb(rss))
    if _number(tree) is not None and _number(rss) is not None and tree != rss:
        rss_text += '<div class="sub">%s with children</div>' % _e(size_kb(tree))
    restarts = program.get("restarts")
    cmdline = program.get("cmdline") if isinstance(program.get("cmdline"), str) else ""
    window = history.window if history is not None else history_mod.WINDOW
    samples = history.rss(name, now) if history is not None else []
    if _number(rss) is not None and rss >= 0 and (not samples or samples[-1][0] < now - 30):
        samples.append((now, rss))  # the line ends at the figure of the RSS column
    marks = history.events(name, now) if history is not None else []
    cells = [
        '<th scope="row" class="name" title="%s">%s</th>' % (_e(cmdline), _e(name)),
        # why it is not running is worth a line; a running one's reason (its
        # command line, its last probe) is a tooltip
        '<td data-field="state"><span class="state" title="%s">%s</span>%s</td>' % (
            _e(reason), _e(state),
            '<div class="reason">%s</div>' % _e(reason) if reason and state != "running" else ""),
        '<td data-field="pid" class="num">%s</td>' % _e(pid if _number(pid) is not None else ""),
        '<td data-field="uptime" class="num">%s</td>' % _e(uptime(program, now)),
        '<td data-field="restarts" class="num">%s</td>' % _e(
            restarts if _number(restarts) is not None else ""),
        '<td data-field="last_exit">%s</td>' % _e(last_exit(program, now)),
        '<td data-field="rss" class="num">%s</td>' % rss_text,
        '<td data-field="rss_history">%s</td>' % sparkline(samples, now, window),
        '<td data-field="timeline">%s</td>' % timeline(marks, now, window),
        '<td data-field="actions" class="actions">%s</td>' % _buttons(name, csrf),
    ]
    return '<tr class="program %s" id="program-%s" data-program="%s" data-state="%s">%s</tr>' % (
        _state_class(state), _e(quote(name)), _e(name), _e(state), "".join(cells))


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.3em;margin:0 0 .2em}
.meta{color:#666;margin:0 0 1em}
table{border-collapse:collapse;width:100%}
th,td{padding:.35em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:middle}
thead th{background:#f4f4f4;font-weight:600;white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.name{font-family:ui-monospace,monospace;font-weight:600}
.state{display:inline-block;padding:0 .5em;border-radius:.8em;background:#eee;font-weight:600}
.reason,.sub{color:#666;font-size:.85em;max-width:28em;overflow-wrap:anywhere}
.actions{white-space:nowrap}
.state-running .state{background:#d5f5d5;color:#135e13}
.state-starting .state,.state-stopping .state,.state-backoff .state,.state-unhealthy .state{background:#fff0c2;color:#6b5200}
.state-gave_up .state,.state-failed .state{background:#ffd6d6;color:#8a1010}
.state-stopped .state,.state-stopped_by_user .state,.state-disabled .state{background:#e4e4e4;color:#444}
.actions form{display:inline;margin:0}
.actions button{margin:0 .15em;padding:.15em .6em;font:inherit;cursor:pointer}
svg .line{stroke:#2a6fdb;stroke-width:1.5}
svg .line-dot{fill:#2a6fdb}
svg .axis{stroke:#ccc;stroke-width:1}
svg .tick{stroke-width:2}
svg .tick-restart{stroke:#d98200}
svg .tick-start{stroke:#2a9d2a}
svg .tick-exit,svg .tick-failure{stroke:#c62828}
svg .tick-stop{stroke:#777}
#live{font-size:.85em;color:#888}
body[data-live="1"] #live{color:#135e13}
"""


def render(programs, history, csrf, now=None, only=None):
    """The whole page (bytes, UTF-8) for ``programs``: dicts shaped like the
    entries of ``usrsvc --json status`` with the daemon's fields; a dict
    name -> fields works too. Missing fields are left blank.

    ``only`` (a program name, e.g. from ``GET /?program=NAME``) renders that
    row alone in the same document (the summary still counts them all): what
    the script asks for when one program changed, so a page of a thousand
    programs is not rendered again for each event."""
    now = time.time() if now is None else now
    if isinstance(programs, dict):
        programs = [dict(fields, name=name) for name, fields in programs.items()]
    programs = sorted((p for p in programs if isinstance(p, dict)),
                      key=lambda p: str(p.get("name", "")))
    running = sum(1 for p in programs if p.get("state") == "running")
    shown = programs if only is None else [p for p in programs if p.get("name") == only]
    rows = "\n".join(row(p, history, csrf, now) for p in shown)
    if not programs:
        rows = '<tr><td colspan="10">No programs are configured.</td></tr>'
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    doc = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>usrsvcd: %(running)d of %(total)d running</title>
<noscript><meta http-equiv="refresh" content="30"></noscript>
<style>%(style)s</style>
</head>
<body data-now="%(now).3f">
<h1>usrsvcd</h1>
<p class="meta"><span id="summary">%(running)d of %(total)d programs running</span>,
as of <time id="as-of" datetime="%(iso)s">%(stamp)s</time>
<span id="live">(reload for fresh figures)</span></p>
<table id="programs"%(partial)s>
<thead><tr><th scope="col">Program</th><th scope="col">State</th>
<th scope="col" class="num">PID</th><th scope="col" class="num">Uptime</th>
<th scope="col" class="num">Restarts</th><th scope="col">Last exit</th>
<th scope="col" class="num">RSS</th><th scope="col">RSS, last hour</th>
<th scope="col">Events, last hour</th><th scope="col">Actions</th></tr></thead>
<tbody>
%(rows)s
</tbody>
</table>
<script src="/static/page.js" defer></script>
</body>
</html>
""" % {"running": running, "total": len(programs), "style": _STYLE, "now": now,
       "iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), "stamp": stamp,
       "rows": rows, "partial": "" if only is None else ' data-partial="1"'}
    return doc.encode("utf-8", "surrogateescape")
