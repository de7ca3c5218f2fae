"""The status page's script (page.SCRIPT), kept apart from the HTML it enhances."""

# Served at /static/page.js. Live updates: it reads the events stream (with
# fetch, so that every event name counts, and resumes with Last-Event-ID),
# then asks the server for the changed program's row (GET /?program=NAME; the
# whole page when several changed, on a gap, a reread or a reconnection) and
# swaps it in. Text only ever enters the page as parsed HTML from the server.
SCRIPT = r"""(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser || !window.TextDecoder) { return; }
  var body = document.body, live = document.getElementById("live");
  var dirty = {}, all = false, timer = null, busy = false, lastId = null, retry = 2000;
  function rows(root) {
    var out = {};
    root.querySelectorAll("#programs tbody tr[data-program]").forEach(function (tr) {
      out[tr.getAttribute("data-program")] = tr;
    });
    return out;
  }
  function setLive(on, text) {
    body.setAttribute("data-live", on ? "1" : "0");
    if (live) { live.textContent = text; }
  }
  function swap(doc, names, whole) {
    var fresh = rows(doc), old = rows(document), partial = doc.querySelector("#programs[data-partial]");
    var same = Object.keys(fresh).sort().join("\n") === Object.keys(old).sort().join("\n");
    if (partial) {
      var missing = names.some(function (n) { return !fresh[n] || !old[n]; });
      if (missing) { all = true; schedule(); return; }
    } else if (whole || !same) {
      var tbody = document.querySelector("#programs tbody"), next = doc.querySelector("#programs tbody");
      if (tbody && next) { tbody.replaceWith(document.importNode(next, true)); }
      names = [];
    }
    names.forEach(function (name) {
      if (fresh[name] && old[name]) { old[name].replaceWith(document.importNode(fresh[name], true)); }
    });
    ["summary", "as-of"].forEach(function (id) {
      var a = document.getElementById(id), b = doc.getElementById(id);
      if (a && b) { a.replaceWith(document.importNode(b, true)); }
    });
    var title = doc.querySelector("title");
    if (title) { document.title = title.textContent; }
    body.setAttribute("data-updates", String(Number(body.getAttribute("data-updates") || 0) + 1));
  }
  function refresh() {
    timer = null;
    if (busy) { schedule(); return; }
    var names = Object.keys(dirty), whole = all || names.length !== 1;
    dirty = {}; all = false; busy = true;
    var url = window.location.pathname + (whole ? "" : "?program=" + encodeURIComponent(names[0]));
    fetch(url, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "text/html"}})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (text) { swap(new DOMParser().parseFromString(text, "text/html"), names, whole); })
      .catch(function () { all = true; window.setTimeout(schedule, retry); })
      .then(function () { busy = false; });
  }
  function schedule() { if (timer === null) { timer = window.setTimeout(refresh, 300); } }
  function onEvent(name, text) {
    var data = null;
    try { data = JSON.parse(text); } catch (err) { data = null; }
    var program = data && typeof data.program === "string" ? data.program : null;
    if (program && name !== "gap" && name !== "reread") { dirty[program] = true; } else { all = true; }
    schedule();
  }
  function frame(text) {
    var data = [], name = "message";
    text.split(/\r?\n/).forEach(function (line) {
      if (!line || line.charAt(0) === ":") { return; }
      var i = line.indexOf(":");
      var field = i < 0 ? line : line.slice(0, i), value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "data") { data.push(value); }
      else if (field === "event") { name = value; }
      else if (field === "id") { lastId = value; }
      else if (field === "retry" && /^\d+$/.test(value)) { retry = Math.max(500, Number(value)); }
    });
    if (data.length) { onEvent(name, data.join("\n")); }
  }
  function connect() {
    var headers = {"Accept": "text/event-stream"};
    if (lastId !== null) { headers["Last-Event-ID"] = lastId; }
    fetch("/api/v1/events", {credentials: "same-origin", cache: "no-store", headers: headers})
      .then(function (r) {
        if (!r.ok || !r.body) { throw new Error("HTTP " + r.status); }
        setLive(true, "(live)");
        var reader = r.body.getReader(), decoder = new TextDecoder(), buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) { throw new Error("the stream ended"); }
            buffer += decoder.decode(chunk.value, {stream: true});
            var frames = buffer.split(/\r?\n\r?\n/);
            buffer = frames.pop();
            frames.forEach(frame);
            return pump();
          });
        }
        return pump();
      })
      .catch(function () {
        setLive(false, "(live updates paused: reconnecting)");
        all = true; schedule();
        window.setTimeout(connect, retry);
      });
  }
  connect();
  // uptimes and sparklines move without events: refresh the whole table now and
  // then, less often on a long page (30 s per hundred rows)
  var count = Math.max(1, Object.keys(rows(document)).length);
  window.setInterval(function () {
    if (!document.hidden) { all = true; schedule(); }
  }, 30000 * Math.max(1, Math.ceil(count / 100)));
})();
"""
