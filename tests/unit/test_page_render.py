"""The status page (usrsvcmod/api/page.py): complete without JavaScript, every value escaped."""

import html.parser
import re
import xml.etree.ElementTree as ET

from usrsvcmod.api import page
from usrsvcmod.api.history import History

NOW = 1_800_000_000.0
EVIL = '<script>alert("x")</script>&\'"><img src=x onerror=alert(1)>'


def running(name="web", **fields):
    base = {"name": name, "state": "running", "pid": 4242, "started_at": NOW - 3725,
            "uptime_s": 3725.0, "restarts": 3, "rss_kb": 20480, "rss_tree": 61440,
            "last_exit": {"code": 3, "at": NOW - 65}, "last_exit_text": None,
            "reason": "started by usrsvcd", "cmdline": "/usr/bin/python3 -m http.server",
            "pidfile": "/home/u/web.pid", "stdout": "/home/u/web.log", "next_retry": None}
    base.update(fields)
    return base


class Collect(html.parser.HTMLParser):
    """Tags, attributes and text of a document, as a browser without scripts sees it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.text, self.scripts = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self.scripts.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def parse(doc):
    collected = Collect()
    collected.feed(doc.decode("utf-8"))
    return collected


def rows_of(doc):
    return [a for t, a in parse(doc).tags if t == "tr" and "data-program" in a]


def test_a_full_document_with_one_row_per_program():
    doc = page.render([running("web"), running("db", state="stopped", pid=None)], History(),
                      "tok", NOW)
    assert isinstance(doc, bytes) and doc.startswith(b"<!DOCTYPE html>")
    assert [r["data-program"] for r in rows_of(doc)] == ["db", "web"]  # sorted by name
    assert [r["data-state"] for r in rows_of(doc)] == ["stopped", "running"]
    text = " ".join(parse(doc).text)
    assert "1 of 2 programs running" in text


def test_readable_without_javascript_the_figures_are_in_the_html():
    doc = page.render([running()], History(), "tok", NOW)
    text = " ".join(" ".join(parse(doc).text).split())
    for shown in ("web", "running", "4242", "1h 02m", "3", "exited with status 3, 1m 05s ago",
                  "20.0 MiB", "60.0 MiB with children"):
        assert shown in text, shown
    # the only script is the external enhancement, deferred; no inline code or handlers
    assert parse(doc).scripts == [{"src": "/static/page.js", "defer": None}]
    assert not re.search(rb"<script>|\son[a-z]+=|javascript:", doc)
    assert b"http://" not in doc and b"https://" not in doc  # no CDN, nothing from elsewhere


def test_buttons_are_post_forms_to_the_ui_urls_with_the_csrf_token():
    doc = page.render([running("web")], History(), "s3cret-token", NOW)
    tags = parse(doc).tags
    forms = [a for t, a in tags if t == "form"]
    assert [f["action"] for f in forms] == [
        "/ui/programs/web/start", "/ui/programs/web/stop", "/ui/programs/web/restart"]
    assert all(f["method"] == "post" for f in forms)
    hidden = [a for t, a in tags if t == "input" and a.get("type") == "hidden"]
    assert [(h["name"], h["value"]) for h in hidden] == [("csrf", "s3cret-token")] * 3


def test_every_value_is_escaped():
    evil = running(EVIL, state=EVIL, reason=EVIL, cmdline=EVIL, last_exit_text=EVIL, pid=EVIL,
                   restarts=EVIL, rss_kb=EVIL)
    h = History()
    h.observe([evil], NOW - 10)
    h.event("exited", EVIL, NOW - 5, EVIL)
    doc = page.render([evil], h, EVIL, NOW)
    assert b"<script>alert" not in doc and b"<img" not in doc
    assert doc.count(b"<script") == 1  # ours
    parsed = parse(doc)
    row = rows_of(doc)[0]
    assert row["data-program"] == EVIL and row["data-state"] == EVIL  # round-trips as text
    assert "state-other" in row["class"].split()  # an unknown state makes no class name
    actions = [a["action"] for t, a in parsed.tags if t == "form"]
    assert all(a.startswith("/ui/programs/%3Cscript%3Ealert") for a in actions)
    assert all("/" not in a[len("/ui/programs/"):].rsplit("/", 1)[0] for a in actions)
    assert [a["value"] for t, a in parsed.tags if t == "input"][0] == EVIL
    assert EVIL in parsed.text  # the reason, shown as text


def test_missing_fields_leave_cells_blank_without_errors():
    doc = page.render([{"name": "bare"}, {"name": "half", "state": "backoff", "pid": None,
                                          "last_exit": {"signal": 9, "core": True}},
                       {"name": "odd", "last_exit": {"code": "x"}, "restarts": "2"},
                       "not a dict"], None, "t", NOW)
    text = " ".join(parse(doc).text)
    assert "bare" in text and "unknown" in text
    assert "killed by signal 9 (SIGKILL, core dumped)" in text
    assert len(rows_of(doc)) == 3
    empty = page.render([], History(), "t", NOW)
    assert b"No programs are configured" in empty


def test_the_snapshot_shape_is_accepted_too():
    doc = page.render({"web": {"state": "running", "pid": 7}}, History(), "t", NOW)
    assert [r["data-program"] for r in rows_of(doc)] == ["web"]


def svgs(doc):
    """Each inline <svg> parsed as XML (so it is well formed)."""
    found = re.findall(rb"<svg .*?</svg>", doc, re.S)
    return [ET.fromstring(s) for s in found]


def test_sparkline_and_timeline_are_well_formed_svg_inside_their_box():
    prog = running()
    h = History()
    for i in range(200):  # more than an hour, every 30 s
        prog["rss_kb"] = 10000 + (i % 17) * 300
        h.observe([prog], NOW - 6000 + i * 30)
    for at in (NOW - 4000, NOW - 3000, NOW - 10, NOW):
        h.event("restarted", "web", at, "crashed")
    doc = page.render([prog], h, "t", NOW)
    spark, line = svgs(doc)
    ns = "{http://www.w3.org/2000/svg}"
    assert spark.get("class") == "spark" and line.get("class") == "timeline"
    poly = spark.find("polyline")
    points = [tuple(map(float, p.split(","))) for p in poly.get("points").split()]
    assert 2 <= len(points) <= 121
    assert all(0 <= x <= page.SPARK_W and 0 <= y <= page.SPARK_H for x, y in points)
    assert [x for x, _ in points] == sorted(x for x, _ in points)
    assert "RSS over the last hour" in spark.find("title").text
    (ticks,) = [el for el in line.iter("path") if "tick-restart" in el.get("class", "")]
    xs = [float(x) for x in re.findall(r"M([\d.]+) 3V", ticks.get("d"))]
    assert len(xs) == 3  # the one older than an hour is not drawn
    assert all(0 <= x <= page.SPARK_W for x in xs) and xs == sorted(xs)
    assert "3 restarts" in line.get("aria-label")
    assert "restarted 0s ago: crashed" in ticks.find("title").text
    assert ns not in spark.tag  # inline in HTML, no namespace needed


def test_a_single_sample_or_none_still_draws_a_frame():
    h = History()
    h.observe([running()], NOW)
    spark = svgs(page.render([running()], h, "t", NOW))[0]
    assert spark.find("circle") is not None
    spark = svgs(page.render([running()], None, "t", NOW))[0]  # no history yet: the figure
    assert spark.find("circle") is not None
    spark = svgs(page.render([running(rss_kb=None)], History(), "t", NOW))[0]
    assert spark.find("polyline") is None and "no memory figures" in spark.get("aria-label")


def test_figures_as_text():
    assert page.duration(42) == "42s" and page.duration(303) == "5m 03s"
    assert page.duration(7500) == "2h 05m" and page.duration(3 * 86400 + 4 * 3600) == "3d 4h"
    assert page.duration(None) == "" and page.duration(-5) == "0s"
    assert page.size_kb(812) == "812 KiB" and page.size_kb(12595) == "12.3 MiB"
    assert page.size_kb(1572864) == "1.50 GiB" and page.size_kb(None) == ""


def test_the_script_only_talks_to_our_own_urls():
    urls = re.findall(r'"(/[^"]*)"', page.SCRIPT)
    assert "/api/v1/events" in urls
    assert "http" not in page.SCRIPT.replace("HTTP ", "")
    assert "innerHTML" not in page.SCRIPT and "eval(" not in page.SCRIPT


def test_the_reason_is_a_line_when_not_running_a_tooltip_when_running():
    doc = page.render([running("web", reason="/usr/bin/python3 -m http.server"),
                       running("db", state="backoff", pid=None, reason="next start in 4s")],
                      History(), "t", NOW)
    text = " ".join(parse(doc).text)
    assert "next start in 4s" in text and "/usr/bin/python3 -m http.server" not in text
    titles = [a.get("title") for t, a in parse(doc).tags if t == "span"]
    assert "/usr/bin/python3 -m http.server" in titles


def test_names_become_one_url_path_segment():
    from urllib.parse import quote, unquote

    for name in ("web", "a/b c", "caf\u00e9,x%y", "..", "\u65e5\u672c?#&", EVIL):
        assert page.quote(name) == quote(name, safe="")
        assert unquote(page.quote(name)) == name


def test_escaping_is_html_escape():
    import html

    for text in (EVIL, "plain", "a & b <c> 'd' \"e\"", "\u202e\x00", 42, None):
        assert page._e(text) == html.escape("" if text is None else str(text), quote=True)
