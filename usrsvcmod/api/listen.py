"""The part of the API loaded with usrsvcd: its sockets and its event ring.

The unix socket ``api.sock`` is always there, in the private runtime state
directory (0700), itself 0600; the loopback or remote TCP listener only
with ``[Main] http_listen``. Nothing else is imported until a first client
connects: the parser, the routes and the metrics (server.py and the modules
it loads) cost an idle usrsvcd nothing.
"""

import collections
import os
import socket

SOCKET_NAME = "api.sock"
RING = 1024  # events kept for Last-Event-ID resume
BACKLOG = 128


class Api:
    """Listeners, the event ring, and (once used) the server."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.ring = collections.deque(maxlen=RING)  # (id, Event)
        self.last_id = 0
        self.listeners = {}  # fd -> (socket, kind: "unix" | "tcp", ssl context or None)
        self.socket_path = None
        self._socket_ino = None
        self.tcp_address = None  # "HOST:PORT" as bound (the real port when 0 was asked)
        self.token = None
        self.server = None
        self.history = None  # the page's history.History, fed once the page is in use
        self.csrf = None
        self.causes = {}  # program -> why its restart under way began (RESTART_CAUSES)
        self.restarts = {}  # (program, cause) -> restarts counted (usrsvc_restarts_total)
        self.counted = {}  # program -> its restarts (ProgramState.restarts) counted so far
        self.ready = None  # what the ready_file says (None: not looked yet)

    # -- opening --------------------------------------------------------------------
    def open(self):
        """Open the unix socket (an error is logged: the daemon goes on without it)
        and the TCP listener when configured."""
        log = self.daemon.log
        try:
            self._open_unix()
        except OSError as err:
            log.error(None, "api_error", "cannot open %s in %s: %s" % (
                SOCKET_NAME, self.daemon.state.path, getattr(err, "strerror", None) or err))
        main = self.daemon.config.main
        if main.http_listen:
            try:
                self._open_tcp(main)
            except (OSError, ValueError) as err:
                log.error(None, "api_error", "no TCP listener on %s: %s" % (
                    main.http_listen, getattr(err, "strerror", None) or err))
        if self.tcp_address and _page_present():
            self.start_history()

    def _open_unix(self):
        state = self.daemon.state
        dirfd = state.dirfd()
        temp = "%s.%d.new" % (SOCKET_NAME, os.getpid())
        try:
            os.unlink(temp, dir_fd=dirfd)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK
                             | socket.SOCK_CLOEXEC)
        try:
            # bound through our descriptor of the directory (no path walk another user
            # could redirect), under a temporary name, made 0600, then renamed in place
            sock.bind("/proc/self/fd/%d/%s" % (dirfd, temp))
            os.chmod(temp, 0o600, dir_fd=dirfd)
            os.rename(temp, SOCKET_NAME, src_dir_fd=dirfd, dst_dir_fd=dirfd)
            self._socket_ino = os.stat(SOCKET_NAME, dir_fd=dirfd, follow_symlinks=False).st_ino
            sock.listen(BACKLOG)
        except OSError:
            sock.close()
            raise
        self.socket_path = os.path.join(state.path, SOCKET_NAME)
        self._add(sock, "unix", None)

    def _open_tcp(self, main):
        from . import auth

        host, port = split_address(main.http_listen)
        self.token = auth.read_token(main.http_token_file) if main.http_token_file else None
        context = None
        if main.http_tls_cert:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(main.http_tls_cert, main.http_tls_key)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
        except OSError:
            sock.close()
            raise
        bound = sock.getsockname()
        self.tcp_address = ("[%s]:%d" if family == socket.AF_INET6 else "%s:%d") % bound[:2]
        self._add(sock, "tcp", context)

    def _add(self, sock, kind, context):
        fd = sock.fileno()
        self.listeners[fd] = (sock, kind, context)
        import select

        self.daemon.watcher.add_io(fd, select.POLLIN, lambda revents: self._accept(fd))

    def _accept(self, fd):
        if self.server is None:
            from .server import Server

            self.server = Server(self)
        sock, kind, context = self.listeners[fd]
        self.server.accept(sock, kind, context)

    # -- fed by the daemon -------------------------------------------------------------
    def sink(self, event):
        """Every event of the bus: into the ring, to the open event streams, the history."""
        self.last_id += 1
        self.ring.append((self.last_id, event))
        if event.name in RESTART_CAUSES:
            self.causes[event.program] = event.name
        if self.server is not None:
            self.server.on_event(self.last_id, event)
        if self.history is not None and event.program and event.name in HISTORY_EVENTS:
            self.history.event(event.name, event.program, event.at, event.reason)

    sink.__name__ = "api"

    def snapshot(self, name=None):
        """The daemon's programs as readers see them now (ProgramState.view)."""
        from ..daemon import events

        programs = self.daemon.programs
        if name is not None:
            programs = {name: programs[name]} if name in programs else {}
        return events.snapshot(self.daemon.config.files, programs)

    def published(self):
        """A new snapshot was written (programs changed): the restart counts and the
        ready_file follow, waiting /readyz requests look again. Read from the
        programs themselves: at 10,000 programs a snapshot is made by a child."""
        self.count_restarts((name, state.restarts) for name, state in self.daemon.programs.items())
        path = self.daemon.config.main.ready_file
        if path:
            self._ready_file(path, not not_ready(self.snapshot()))
        if self.server is not None:
            self.server.published()

    def count_restarts(self, counts):
        """usrsvc_restarts_total: each program's new restarts, by what began them.
        ``counts``: (name, restarts so far) of each program."""
        for name, now in counts:
            now = now or 0
            before = self.counted.get(name, 0)
            self.counted[name] = now
            if now > before:
                key = (name, self.causes.pop(name, "exit"))
                self.restarts[key] = self.restarts.get(key, 0) + now - before

    def _ready_file(self, path, ready):
        if ready == self.ready:
            return
        try:
            if ready:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
                os.close(fd)
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            self.daemon.log.error(None, "ready_file_error", "cannot %s %s: %s" % (
                "create" if ready else "remove", path, err.strerror))
            return
        self.ready = ready
        self.daemon.log.event(None, "ready" if ready else "not_ready", "ready_file %s %s" % (
            path, "created" if ready else "removed"))

    def tick(self):
        """The reconcile tick: the page's history takes its sample (RSS, state)."""
        if self.history is not None:
            import time

            from .routes import program_items

            self.history.observe(program_items(self), time.time())

    def start_history(self):
        """The page is served (or may be: a TCP listener): keep its history from now on."""
        self.csrf = self.csrf or os.urandom(24).hex()  # the page's forms carry it
        if self.history is None:
            try:
                from .history import History
            except ImportError:
                return
            self.history = History()

    def describe(self):
        return {"socket": self.socket_path, "http": self.tcp_address}

    def close(self):
        if self.server is not None:
            self.server.close_all()
        for fd, (sock, kind, _) in list(self.listeners.items()):
            self.daemon.watcher.remove_io(fd)
            sock.close()
        self.listeners.clear()
        path = self.daemon.config.main.ready_file
        if path and self.ready:
            try:
                os.unlink(path)
            except OSError:
                pass
        if self._socket_ino is not None:
            self._remove_socket()

    def _remove_socket(self):
        try:
            dirfd = self.daemon.state.dirfd()
            if os.stat(SOCKET_NAME, dir_fd=dirfd, follow_symlinks=False).st_ino == self._socket_ino:
                os.unlink(SOCKET_NAME, dir_fd=dirfd)
        except Exception:  # noqa: BLE001 - on the way out: a socket file left is harmless
            pass


HISTORY_EVENTS = frozenset(("exited", "restarted", "autostarted", "launched", "stopped",
                            "gave_up", "start_failed"))
# the event that begins a restart says why; the "restarted" that ends it is counted with it
RESTART_CAUSES = frozenset(("monitor_breach", "liveness_failed", "config_changed",
                            "planned_restart"))


def not_ready(snapshot):
    """The programs that keep usrsvcd from being ready: enabled and managed, not
    stopped by the user, and not running-and-ready (a oneshot: not done)."""
    waiting = []
    for name, entry in snapshot["programs"].items():
        state = entry.get("state")
        if not entry.get("enabled", True) or state in ("stopped_by_user", "disabled",
                                                         "unmanaged"):
            continue
        if not entry.get("ready"):
            waiting.append({"name": name, "state": state, "reason": entry.get("reason")})
    return waiting


def _page_present():
    import importlib.util

    try:
        return importlib.util.find_spec("usrsvcmod.api.page") is not None
    except (ImportError, ValueError):
        return False


def split_address(text):
    """"127.0.0.1:9001", "[::1]:9001", "localhost:0" -> (host, port); ValueError otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:9001 or [::1]:9001")
    return host, int(port)
