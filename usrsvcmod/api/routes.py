"""What each path of the API does (docs/api.md).

Reads come from the daemon's snapshot (ProgramState.view through
events.snapshot), never from a program's state itself. Actions are run by
the ``usrsvc`` command itself in a worker thread (the same locks, identity
rule and stop marks as a user typing it; usrsvcd is never made a subreaper
by it), with ``--lock-timeout 2``: a program another action holds is a 409
after two seconds (usrsvcd's own look at a program holds its lock for
milliseconds: never a 409). The loop then looks at the programs again and answers.
"""

import json
import re
import sys
import time

LOCK_WAIT = "2"  # seconds an action waits for a program's lock before its 409

from . import http
from .http import HttpError

ACTIONS = ("start", "stop", "restart", "signal")
MAX_ACTIONS = 8  # actions under way at once (each is a usrsvc process)
ACTION_TIMEOUT = 600.0
MAX_WAIT = 300.0  # /readyz?wait=N is bounded
# HUP, SIGUSR1, RTMIN+3, 10: never anything a command line would read as an option
_SIGNAL = re.compile(r"^(?:(?:SIG)?[A-Z][A-Z0-9]{0,10}(?:[+-][0-9]{1,2})?|[0-9]{1,2})$", re.I)
_CLI = "import sys; sys.argv[0] = 'usrsvc'; from usrsvcmod.cli import main; main()"
SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
            b"Connection: close\r\nX-Accel-Buffering: no\r\n\r\nretry: 2000\n\n")


class Router:
    def __init__(self, api, server):
        self.api = api
        self.server = server
        self.daemon = api.daemon
        self.busy = set()  # programs with an action of ours under way ("all" for all)
        self.running = 0
        self.cached = None  # (key, Response) of GET /api/v1/programs
        self.waiting = {}  # what -> connections waiting for the worker making it
        main = self.daemon.config.main
        self.gate = None
        if api.tcp_address:
            from .auth import Gate

            self.gate = Gate(api.token, main.http_password_hash, self.daemon.submit)

    # -- the door ------------------------------------------------------------------------
    def dispatch(self, conn, request):
        if conn.kind == "tcp" and request.path != "/login":
            def then(ok):
                if ok is None:
                    self.server.fail(conn, HttpError(429, "too many password checks at once;"
                                                     " try again"))
                elif not ok:
                    self.server.fail(conn, HttpError(401, "authentication required (a bearer"
                                                     " token, or basic auth)",
                                                     self.gate.challenge()))
                else:
                    request.browser = self.gate.from_browser(request)
                    self._route(conn, request)

            self.gate.check(request, then)
            return
        self._route(conn, request)

    def _route(self, conn, request):
        try:
            response = self._handle(conn, request)
        except HttpError as err:
            response = http.error_response(err.status, err.message, err.headers)
        except Exception as err:  # noqa: BLE001 - a bug: a 500 to the client, one log line
            self.server.bug("API %s %s" % (request.method, _short(request.path)), err)
            response = http.error_response(500, "internal error: %s" % type(err).__name__)
        if response is not None:
            self.server.respond(conn, response)

    def _handle(self, conn, request):
        path, method, parts = request.path, request.method, request.parts
        if path in FIXED:
            allowed, handler = FIXED[path]
            _method(method, allowed)
            return handler(self, conn, request)
        if parts[:3] == ["api", "v1", "programs"] and len(parts) in (4, 5):
            name = parts[3]
            if len(parts) == 4:
                _method(method, ("GET",))
                return self.program(name)
            _method(method, ("POST",))
            return self.act(conn, request, name, parts[4], ui=False)
        if parts[:2] == ["ui", "programs"] and len(parts) == 4:
            _method(method, ("POST",))
            return self.act(conn, request, parts[2], parts[3], ui=True)
        raise HttpError(404, "no such path: %s" % _short(path))

    # -- reads -------------------------------------------------------------------------------
    def programs(self, conn, request):
        """The list: read from the snapshot, then made a few dozen programs per turn
        of the loop (their /proc figures, their JSON), so a thousand of them never
        hold the loop; one rendering serves every request that came meanwhile or
        in the same second while nothing happened."""
        key = (self.daemon.bus.count, int(time.monotonic()))
        if self.cached is not None and self.cached[0] == key:
            return self.cached[1]

        def make():
            return render_items(dict(self.daemon.config.programs), self.api.snapshot())

        def keep(response):
            self.cached = (key, response)

        self.shared("programs", conn, make, keep)
        return None

    def shared(self, what, conn, make, keep=None):
        """Answer ``conn`` with the Response that ``make()``'s generator ends with,
        run one step per turn of the loop (between exits, timers and launches);
        requests arriving while it runs get the same answer."""
        waiting = self.waiting.setdefault(what, [])
        waiting.append(conn)
        if len(waiting) > 1:
            return
        steps = make()
        turns = [0]

        def step():
            turns[0] += 1
            try:
                response = next(steps)
            except Exception as err:  # noqa: BLE001 - a bug: said to the client, logged
                self.daemon.log.exception("API %s" % what)
                response = http.error_response(500, "%s: %s" % (type(err).__name__, err))
            if response is None:
                self.daemon.call_later(0, step)
                return
            if keep is not None and response.status == 200:
                keep(response)
            for each in self.waiting.pop(what, []):
                self.server.respond(each, response)
            if turns[0] > TRIM_TURNS:  # a big one: give the heap's free pages back
                from ..daemon.core import malloc_trim

                malloc_trim()

        step()

    def program(self, name):
        item = program_items(self.api, name)
        if not item:
            raise HttpError(404, "no program named %s" % _short(name))
        return http.json_response(200, item[0])

    def info(self, conn, request):
        from .. import __version__

        daemon = self.daemon
        return http.json_response(200, {
            "version": __version__, "pid": _pid(), "programs": len(daemon.programs),
            "files": list(daemon.config.files), "api": self.api.describe(),
            "generation": daemon.generation})

    def healthz(self, conn, request):
        return http.json_response(200, {"status": "ok", "pid": _pid(),
                                        "programs": len(self.daemon.programs)})

    def readyz(self, conn, request):
        from .listen import not_ready

        text = request.query.get("wait", "0")
        try:
            wait = float(text)
            if not 0 <= wait <= MAX_WAIT:
                raise ValueError
        except ValueError:
            raise HttpError(400, "wait expects seconds from 0 to %g" % MAX_WAIT) from None

        def check(final):
            waiting = not_ready(self.api.snapshot())
            if not waiting:
                return http.json_response(200, {"ready": True})
            if final:
                return http.json_response(503, {"ready": False, "waiting_for": waiting})
            return None

        if wait <= 0:
            return check(True)
        self.server.wait_for(conn, wait, check)
        return None

    def metrics(self, conn, request):
        from . import metrics

        def make():
            text = None
            for text in metrics.write_steps(metrics.gather(self.api, self.server)):
                if text is None:
                    yield None
            yield http.Response(200, text, "text/plain; version=0.0.4; charset=utf-8")

        self.shared("metrics", conn, make)
        return None

    def events(self, conn, request):
        if request.method == "HEAD":  # the head of a stream, not a stream
            return http.Response(200, b"", "text/event-stream", [("Cache-Control", "no-store")])
        program = request.query.get("program")
        if program is not None:
            conn.stream = lambda event: event.program == program
        last = request.header("last-event-id", request.query.get("last_event_id"))
        replay = []
        if last is not None:
            if not (last.strip().isascii() and last.strip().isdigit()):
                raise HttpError(400, "Last-Event-ID expects an event id (a number)")
            after = int(last)
            ring = self.api.ring
            if after > self.api.last_id:
                after = 0  # an id of an earlier usrsvcd: everything kept is new
            if ring and ring[0][0] > after + 1:
                replay.append(b"event: gap\ndata: {\"lost_before\": %d}\n\n" % ring[0][0])
            replay += [sse_frame(i, e) for i, e in ring
                       if i > after and (conn.stream is None or conn.stream(e))]
        self.server.start_stream(conn, SSE_HEAD, b"".join(replay))
        return None

    # -- actions -------------------------------------------------------------------------------
    def act(self, conn, request, name, action, ui):
        if action not in ACTIONS or (ui and action == "signal"):
            raise HttpError(404, "no such action: %s (expected %s)" % (
                _short(action), ", ".join(ACTIONS[:3] if ui else ACTIONS)))
        form = _body(request, ui)
        if ui and not (self.api.csrf and form.get("csrf") == self.api.csrf):
            raise HttpError(403, "missing or wrong csrf field (reload the page)")
        if not ui:
            self._not_forged(request)
        programs = self.daemon.config.programs
        if name != "all" and name not in programs:
            raise HttpError(404, "no program named %s" % _short(name))
        names = list(programs) if name == "all" else [name]
        argv = ["--json", "--lock-timeout", LOCK_WAIT]
        verb = action
        if action == "signal":
            sig = str(form.get("signal") or request.query.get("signal") or "")
            if not sig:
                verb = "reload"  # each program's reload_signal
            elif not _SIGNAL.match(sig):
                raise HttpError(400, "signal expects a name or number, e.g. HUP, SIGUSR1, 10")
        if name == "all" and action != "signal":
            argv.append("--parallel")
        argv += [verb, "--", name]  # a name or a signal is never read as an option
        if action == "signal" and verb == "signal":
            argv.append(sig)
        if (name == "all" and self.busy) or "all" in self.busy or name in self.busy:
            raise HttpError(409, "another action of the API on %s is under way" % _short(name))
        if self.running >= MAX_ACTIONS:
            raise HttpError(503, "%d actions are under way; try again" % MAX_ACTIONS)
        self.busy.add(name)
        self.running += 1

        def done(code, results, error):
            self.busy.discard(name)
            self.running -= 1
            self.daemon.look_again(names)
            status = {0: 200, 11: 409, 132: 409, 133: 404}.get(code, 500)
            if ui:
                conn.after = None
                if code == 0:
                    self.server.respond(conn, http.Response(
                        303, b"", "text/plain", [("Location", "/")]))
                else:  # say what failed, as usrsvc would have, not a page that looks fine
                    self.server.respond(conn, _failed_page(status, action, name, code,
                                                           results, error))
                return
            body = {"action": action, "program": name, "exit_code": code, "results": results}
            if error:
                body["error"] = error
            self.server.respond(conn, http.json_response(status, body))

        run_cli(self.daemon, argv, done)
        return None

    def _not_forged(self, request):
        """A POST authenticated the way a browser does it on its own (the login cookie,
        remembered basic credentials) could come from a form on any page the user
        visits: it must carry the page's csrf token in X-CSRF-Token, and an Origin,
        when sent, must be this address. A bearer token or the unix socket cannot be
        sent by a browser on its own: they need neither."""
        if not request.browser:
            return
        origin = request.header("origin")
        if origin is not None and origin.partition("://")[2] != request.header("host"):
            raise HttpError(403, "a request from another site (Origin: %s) is refused"
                            % _short(origin))
        token = request.header("x-csrf-token")
        if not (self.api.csrf and token is not None and http.same_text(token, self.api.csrf)):
            raise HttpError(403, "with the login cookie or basic auth, a POST needs the page's"
                            " token in X-CSRF-Token (or use a bearer token)")

    def reread(self, conn, request):
        self._not_forged(request)
        daemon = self.daemon
        if self.running >= MAX_ACTIONS:
            raise HttpError(503, "%d actions are under way; try again" % MAX_ACTIONS)
        self.running += 1

        def work():
            try:
                daemon.loader()
                problems = []
            except Exception as err:  # noqa: BLE001 - ConfigError, or a bug: said, kept old
                problems = getattr(err, "problems", None) or ["%s: %s" % (type(err).__name__, err)]
            daemon.submit(then, problems)

        def then(problems):
            self.running -= 1
            if problems:
                self.server.respond(conn, http.json_response(
                    422, {"error": "invalid configuration; the running one is kept",
                          "problems": problems}))
                return
            daemon.reload()
            self.server.respond(conn, http.json_response(200, {
                "reloaded": True, "generation": daemon.generation,
                "programs": len(daemon.programs)}))

        import threading

        threading.Thread(target=work, name="api-reread", daemon=True).start()
        return None

    # -- the web page ----------------------------------------------------------------------------
    def page(self, conn, request):
        try:
            from .page import render
        except ImportError:
            raise HttpError(404, "the web page is not part of this installation") from None
        self.api.start_history()
        from .page import CSP

        # ?program=NAME: that row alone, what page.js asks for after an event
        body = render(program_items(self.api), self.api.history, self.api.csrf, time.time(),
                      only=request.query.get("program"))
        return http.Response(200, body, "text/html; charset=utf-8",
                             [("Content-Security-Policy", CSP), ("Cache-Control", "no-store")])

    def script(self, conn, request):
        try:
            from .page import SCRIPT
        except ImportError:
            raise HttpError(404, "the web page is not part of this installation") from None
        body = SCRIPT.encode() if isinstance(SCRIPT, str) else SCRIPT
        return http.Response(200, body, "text/javascript; charset=utf-8")

    def login(self, conn, request):
        """GET /login?token=T: the token as a cookie, for a browser (then the page)."""
        from .auth import COOKIE, same

        token = self.api.token
        given = _raw_param(request.target, "token")
        if conn.kind != "tcp" or not token:
            raise HttpError(404, "no token login here (the TCP listener has no http_token_file)")
        if not same(given.encode(), token.encode()):
            raise HttpError(401, "wrong token")
        secure = "; Secure" if conn.tls else ""
        return http.Response(303, b"", "text/plain", [
            ("Location", "/"),
            ("Set-Cookie", "%s=%s; Path=/; HttpOnly; SameSite=Strict%s" % (COOKIE, token, secure))])


FIXED = {
    "/": (("GET",), Router.page),
    "/static/page.js": (("GET",), Router.script),
    "/login": (("GET",), Router.login),
    "/healthz": (("GET",), Router.healthz),
    "/readyz": (("GET",), Router.readyz),
    "/metrics": (("GET",), Router.metrics),
    "/api/v1": (("GET",), Router.info),
    "/api/v1/programs": (("GET",), Router.programs),
    "/api/v1/events": (("GET",), Router.events),
    "/api/v1/reread": (("POST",), Router.reread),
}


def _method(method, allowed):
    if method in allowed or (method == "HEAD" and "GET" in allowed):
        return
    shown = list(allowed) + (["HEAD"] if "GET" in allowed else [])
    raise HttpError(405, "method %s is not allowed here (allowed: %s)" % (method, ", ".join(shown)),
                    [("Allow", ", ".join(shown))])


def _body(request, ui):
    """The request's parameters: a JSON object, or a form (the page's buttons)."""
    if not request.body:
        return {}
    kind = request.header("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        try:
            return http.parse_query(request.body.decode("ascii"))
        except UnicodeDecodeError:
            raise HttpError(400, "a form body must be ASCII (percent-encoded)") from None
    if ui:
        raise HttpError(415, "expected an application/x-www-form-urlencoded form")
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError):  # RecursionError: a body of 60,000 nested lists
        raise HttpError(400, "the body must be a JSON object, e.g. {\"signal\": \"HUP\"}") from None
    if not isinstance(data, dict):
        raise HttpError(400, "the body must be a JSON object, e.g. {\"signal\": \"HUP\"}")
    return data


def _raw_param(target, name):
    """A query parameter with only its %XX escapes decoded ("+" stays "+": a
    base64 token pasted as it is works too)."""
    for item in target.partition("?")[2].split("&"):
        key, _, value = item.partition("=")
        if key == name:
            return http.unquote(value)
    return ""


def _short(text):
    text = str(text)
    return json.dumps(text[:80] + ("..." if len(text) > 80 else ""))


def _pid():
    import os

    return os.getpid()


def program_items(api, name=None):
    """The API's program objects (the schema of ``usrsvc --json status``), from the snapshot."""
    return items_of(api.daemon.config.programs, api.snapshot(name))


CHUNK = 25  # programs per turn of the loop while a list or /metrics is made (~2 ms)


TRIM_TURNS = 8  # a rendering longer than this many turns is followed by malloc_trim


def render_items(configured, snapshot):
    """A generator: None after each CHUNK programs, then the list's Response."""
    from ..actions import from_daemon

    parts = []
    entries = list(snapshot["programs"].items())
    for at in range(0, len(entries), CHUNK):
        for key, entry in entries[at:at + CHUNK]:
            program = configured.get(key)
            if program is not None:
                parts.append(json.dumps(from_daemon(program, entry).as_dict(), indent=1))
        if at + CHUNK < len(entries):
            yield None
    yield http.Response(200, ("[" + ",\n".join(parts) + "]\n").encode())


def items_of(configured, snapshot):
    """program_items from a snapshot, away from the loop if need be (plain data only)."""
    from ..actions import from_daemon

    items = []
    for key, entry in snapshot["programs"].items():
        program = configured.get(key)
        if program is not None:
            items.append(from_daemon(program, entry).as_dict())
    return items


def sse_frame(event_id, event):
    data = {"id": event_id, "event": event.name, "program": event.program,
            "reason": event.reason, "pid": event.pid, "level": event.level,
            "at": round(event.at, 3)}
    return ("id: %d\nevent: %s\ndata: %s\n\n" % (event_id, event.name, json.dumps(data))).encode()


def run_cli(daemon, argv, done):
    """``usrsvc --config MAIN ARGV`` in a worker thread; ``done(exit code, results,
    error)`` on the loop afterwards."""
    import subprocess
    import threading

    command = [sys.executable, "-c", _CLI, "--config", daemon.config.main.path] + argv

    def work():
        results, error = [], None
        try:
            proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=ACTION_TIMEOUT, close_fds=True)
            code = proc.returncode
            try:
                results = json.loads(proc.stdout) if proc.stdout.strip() else []
            except ValueError:
                results = []
            if code != 0:
                error = proc.stderr.decode("utf-8", "replace").strip()[-2000:] or None
        except (OSError, subprocess.SubprocessError) as err:
            code, error = 254, "cannot run usrsvc: %s" % err
        daemon.submit(done, code, results, error)

    threading.Thread(target=work, name="api-action", daemon=True).start()


def _failed_page(status, action, name, code, results, error):
    """A button's action that failed: a short page with usrsvc's messages and a link back."""
    from .page import CSP, _e

    lines = [str(r.get("message") or r.get("state") or "") for r in results or ()
             if isinstance(r, dict)] or [str(error or "no answer")]
    body = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>%s %s failed</title>"
            "</head><body><h1>%s %s failed (exit %s)</h1><pre>%s</pre>"
            "<p><a href=\"/\">Back to the status page</a></p></body></html>"
            % (_e(action), _e(name), _e(action), _e(name), _e(code),
               _e("\n".join(lines)))).encode("utf-8")
    return http.Response(status, body, "text/html; charset=utf-8",
                         [("Content-Security-Policy", CSP), ("Cache-Control", "no-store")])
