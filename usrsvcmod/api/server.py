"""The API's connections, served inside usrsvcd's loop: non-blocking sockets,
no thread for I/O.

One request per connection. Each connection has a deadline on the daemon's
timers: the whole request must arrive within HEAD_TIMEOUT, the answer must
be taken within WRITE_TIMEOUT; an event stream or a ``/readyz?wait`` has no
read deadline but a bounded backlog. The table of connections is bounded
(503 once full). Whatever a client sends, the worst it gets is a 4xx and a
closed connection; the loop goes on.
"""

import errno
import os
import select
import socket
import struct
import time

from . import http
from .http import HttpError

MAX_CONNS = 256  # TCP connections at once
MAX_UNIX = 64  # and the unix socket's own: another local user filling the TCP table
               # never locks the owner out of api.sock
BUG_QUIET = 60.0  # seconds between two log lines about unexpected request errors
WAIT_LIMIT = 900.0  # seconds a deferred answer (an action, a /readyz?wait) may take at most
ACCEPTS_PER_TURN = 64
HEAD_TIMEOUT = 10.0  # seconds for the whole request (head and body) to arrive
WRITE_TIMEOUT = 30.0  # seconds for a client to take the answer
LINGER = 2.0  # seconds to read what is left once answered (so a close sends no RST)
MAX_BACKLOG = 1 << 20  # bytes queued for a slow event stream before it is dropped
KEEPALIVE = 20.0  # seconds between comment lines on idle event streams
_IN, _OUT = select.POLLIN, select.POLLOUT


class Conn:
    __slots__ = ("server", "sock", "fd", "kind", "uid", "inbuf", "outbuf", "request", "need",
                 "timer", "phase", "tls", "handshaking", "stream", "closed", "after")

    def __init__(self, server, sock, kind, tls):
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.kind = kind  # "unix" | "tcp"
        self.uid = None  # unix: the peer's uid
        self.inbuf = b""
        self.outbuf = []  # memoryviews still to send, in order (a body shared by every
        # connection that gets it, sent from without a copy per connection)
        self.request = None
        self.need = 0  # body bytes still expected
        self.timer = None
        self.phase = "read"  # read | wait (deferred answer) | write | stream | linger
        self.tls = tls
        self.handshaking = tls
        self.stream = None  # an event stream's filter, see routes.events
        self.closed = False
        self.after = None  # called once the answer is written


class Server:
    def __init__(self, api):
        from . import routes

        self.api = api
        self.daemon = api.daemon
        self.conns = {}
        self.streams = set()
        self.waiters = []  # (conn, deadline, check): /readyz?wait
        self.keepalive = None
        self.router = routes.Router(api, self)
        self.served = 0
        self.refused = 0
        self.bug_said = -BUG_QUIET

    # -- accepting -----------------------------------------------------------------
    def accept(self, listener, kind, context):
        for _ in range(ACCEPTS_PER_TURN):
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:  # EMFILE: the client waits in the backlog
                if err.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    return
                continue
            sock.setblocking(False)
            limit = MAX_UNIX if kind == "unix" else MAX_CONNS
            if sum(1 for c in self.conns.values() if c.kind == kind) >= limit:
                self.refused += 1
                _send_now(sock, http.error_response(503, "too many connections (%d); try again"
                                                    % limit))
                continue
            uid = None
            if kind == "unix":
                uid = _peer_uid(sock)
                if uid not in (os.getuid(), 0):
                    self.refused += 1
                    _send_now(sock, http.error_response(403, "only this user (uid %d) or root may"
                                                        " use this socket" % os.getuid()))
                    continue
            tls = False
            if context is not None:
                try:
                    sock = context.wrap_socket(sock, server_side=True,
                                               do_handshake_on_connect=False)
                except OSError:
                    sock.close()
                    continue
                tls = True
            conn = Conn(self, sock, kind, tls)
            conn.uid = uid
            self.conns[conn.fd] = conn
            self.daemon.watcher.add_io(conn.fd, _IN, lambda revents, c=conn: self._ready(c, revents))
            self._deadline(conn, HEAD_TIMEOUT, self._late_request)

    # -- timers ------------------------------------------------------------------------
    def _deadline(self, conn, seconds, then):
        self.daemon.cancel(conn.timer)
        conn.timer = self.daemon.call_later(seconds, lambda: then(conn) if not conn.closed else None)

    def _late_request(self, conn):
        if conn.phase == "read":
            self.fail(conn, HttpError(408, "the request did not arrive within %gs" % HEAD_TIMEOUT))
        elif conn.phase == "wait":  # an action under way: its own bound answers, else this
            self._deadline(conn, WAIT_LIMIT, lambda c: self.fail(c, HttpError(
                504, "no answer within %gs" % WAIT_LIMIT)) if c.phase == "wait" else None)
        else:
            self.close(conn)

    # -- events from the loop ------------------------------------------------------------
    def _ready(self, conn, revents):
        if conn.closed:
            return
        if conn.handshaking:
            self._handshake(conn)
            return
        if revents & _OUT and conn.outbuf:
            self._write(conn)
            if conn.closed:
                return
        if revents & (_IN | select.POLLHUP | select.POLLERR):
            self._read(conn)

    def _handshake(self, conn):
        import ssl

        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.daemon.watcher.modify_io(conn.fd, _IN)
            return
        except ssl.SSLWantWriteError:
            self.daemon.watcher.modify_io(conn.fd, _OUT)
            return
        except OSError:
            self.close(conn)
            return
        conn.handshaking = False
        self.daemon.watcher.modify_io(conn.fd, _IN)
        self._read(conn)  # the request may have come with the handshake's last bytes

    def _recv(self, conn):
        """Bytes read (b"" at the end), or None when there is nothing to read now."""
        try:
            return conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as err:
            if type(err).__name__ in ("SSLWantReadError", "SSLWantWriteError"):
                return None
            return b""

    def _read(self, conn):
        data = self._recv(conn)
        while data and conn.tls and conn.sock.pending():  # decrypted, held by the TLS layer
            more = self._recv(conn)
            if not more:
                break
            data += more
        if data is None:
            return
        if not data:
            if conn.phase in ("read", "linger", "stream", "wait") or not conn.outbuf:
                self.close(conn)  # the client went away (or finished after our answer)
            return
        if conn.phase != "read":
            if conn.phase == "linger":
                return  # what is left of a refused body: read and dropped
            if len(data) and conn.phase in ("stream", "wait"):
                return  # nothing more is expected from it
            return
        conn.inbuf += data
        try:
            self._parse(conn)
        except HttpError as err:
            self.fail(conn, err)
        except Exception as err:  # noqa: BLE001 - a bug: a 400, one log line, never a hang
            self.bug("API request", err)
            self.fail(conn, HttpError(400, "malformed request"))

    def bug(self, where, err):
        """An unexpected error serving a request: one line in the log (not a traceback
        that any local user could repeat to fill the disk), at most once a minute."""
        now = monotonic()
        if now - self.bug_said >= BUG_QUIET:
            self.bug_said = now
            self.daemon.log.error(None, "api_error", "%s: %s: %s (said once a minute at most)"
                                  % (where, type(err).__name__, err))

    def _parse(self, conn):
        if conn.request is None:
            split = http.split_head(conn.inbuf)
            if split is None:
                return
            head, conn.inbuf = split
            conn.request = http.parse_head(head)
            conn.need = http.body_length(conn.request)
        if len(conn.inbuf) < conn.need:
            return
        request = conn.request
        request.body, conn.inbuf = conn.inbuf[:conn.need], b""
        conn.phase = "wait"
        self.served += 1
        self.router.dispatch(conn, request)

    # -- answering -------------------------------------------------------------------------
    def respond(self, conn, response):
        if conn.closed:
            return
        head_only = conn.request is not None and conn.request.method == "HEAD"
        head, body = response.parts(head_only)
        conn.outbuf.append(memoryview(head))
        if body:
            conn.outbuf.append(memoryview(body))
        conn.phase = "write"
        self._deadline(conn, WRITE_TIMEOUT, self.close)
        self._write(conn)

    def fail(self, conn, err):
        self.respond(conn, http.error_response(err.status, err.message, err.headers))

    def _write(self, conn):
        while conn.outbuf:
            chunk = conn.outbuf[0]
            try:
                sent = conn.sock.send(chunk[:262144])
            except (BlockingIOError, InterruptedError):
                break
            except OSError as err:
                if type(err).__name__ in ("SSLWantReadError", "SSLWantWriteError"):
                    break
                self.close(conn)
                return
            if sent >= len(chunk):
                del conn.outbuf[0]
            else:
                conn.outbuf[0] = chunk[sent:]  # a view: nothing is copied
        if conn.outbuf:
            self.daemon.watcher.modify_io(conn.fd, _IN | _OUT)
            return
        self.daemon.watcher.modify_io(conn.fd, _IN)
        if conn.phase == "write":
            self._finish(conn)

    def _finish(self, conn):
        """Answered: close, after reading out what the client still sends (a close
        with unread bytes would reset the connection and lose the answer)."""
        if conn.after is not None:
            after, conn.after = conn.after, None
            after()
        if conn.tls:
            self.close(conn)
            return
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close(conn)
            return
        conn.phase = "linger"
        self._deadline(conn, LINGER, self.close)

    # -- event streams ------------------------------------------------------------------
    def start_stream(self, conn, head, replay):
        conn.phase = "stream"
        self.daemon.cancel(conn.timer)
        conn.timer = None
        self.streams.add(conn)
        self.push(conn, head + replay)
        if self.keepalive is None:
            self.keepalive = self.daemon.call_later(KEEPALIVE, self._keepalive)

    def push(self, conn, data):
        if conn.closed:
            return
        conn.outbuf.append(memoryview(data))
        if sum(len(chunk) for chunk in conn.outbuf) > MAX_BACKLOG:
            self.close(conn)  # a client that does not read: it can resume with Last-Event-ID
            return
        self._write(conn)

    def on_event(self, event_id, event):
        if not self.streams:
            return
        from .routes import sse_frame

        frame = sse_frame(event_id, event)
        for conn in list(self.streams):
            if conn.stream is None or conn.stream(event):
                self.push(conn, frame)

    def _keepalive(self):
        self.keepalive = None
        if not self.streams:
            return
        for conn in list(self.streams):
            self.push(conn, b": keepalive\n\n")
        self.keepalive = self.daemon.call_later(KEEPALIVE, self._keepalive)

    # -- waiting for readiness ----------------------------------------------------------------
    def wait_for(self, conn, seconds, check):
        """Answer ``check()`` (a Response, or None: not yet) at once, at each new
        snapshot, or when ``seconds`` are up (then ``check(final=True)``)."""
        response = check(False)
        if response is not None:
            self.respond(conn, response)
            return
        entry = [conn, check]
        self.waiters.append(entry)

        def expire():
            if entry in self.waiters:
                self.waiters.remove(entry)
                self.respond(conn, check(True))

        self._deadline(conn, seconds, lambda c: expire())

    def published(self):
        for entry in list(self.waiters):
            conn, check = entry
            if conn.closed:
                self.waiters.remove(entry)
                continue
            response = check(False)
            if response is not None:
                self.waiters.remove(entry)
                self.respond(conn, response)

    # -- closing --------------------------------------------------------------------------------
    def close(self, conn):
        if conn.closed:
            return
        conn.closed = True
        self.daemon.cancel(conn.timer)
        self.daemon.watcher.remove_io(conn.fd)
        self.conns.pop(conn.fd, None)
        self.streams.discard(conn)
        try:
            conn.sock.close()
        except OSError:
            pass

    def close_all(self):
        for conn in list(self.conns.values()):
            self.close(conn)

    close_all.__doc__ = "Every connection (usrsvcd is leaving)."

    def stats(self):
        return {"connections": len(self.conns), "streams": len(self.streams),
                "requests": self.served, "refused": self.refused}


def _peer_uid(sock):
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return struct.unpack("3i", creds)[1]
    except OSError:
        return None


def _send_now(sock, response):
    """A short refusal on a connection we do not keep: one try, then closed."""
    try:
        sock.send(response.encode())
        sock.recv(65536)  # what it sent already: unread, the close would reset the answer
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    sock.close()


def monotonic():
    return time.monotonic()
