"""Talking to usrsvcd's API in tests: http.client over its unix socket or TCP."""

import glob
import http.client
import json
import os
import socket
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        http.client.HTTPConnection.__init__(self, "localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = connect_unix(self.path, self.timeout)


def connect_unix(path, timeout):
    """A connected socket; through a descriptor of its directory, as a test HOME's
    state directory makes a path longer than a unix socket address may be."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    dirfd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
    address = "/proc/self/fd/%d/%s" % (dirfd, os.path.basename(path))
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                sock.connect(address)
                break
            except BlockingIOError:  # its backlog is full: the server accepts soon
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    except OSError:
        sock.close()
        raise
    finally:
        os.close(dirfd)
    return sock


def socket_path(env):
    found = glob.glob(os.path.join(env.env["XDG_RUNTIME_DIR"], "usrsvc", "*", "api.sock"))
    return found[0] if found else None


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:400])


def call(where, method, path, body=None, headers=None, timeout=90):
    """One request; ``where`` is a socket path or a (host, port) pair."""
    if isinstance(where, tuple):
        conn = http.client.HTTPConnection(where[0], where[1], timeout=timeout)
    else:
        conn = UnixConnection(where, timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = dict(headers or {}, **{"Content-Type": "application/json"})
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        headers = {}
        for key, value in response.getheaders():  # repeated ones joined, as HTTP allows
            headers[key] = headers[key] + ", " + value if key in headers else value
        return Answer(response.status, headers, response.read())
    finally:
        conn.close()


def raw(path, data, timeout=15, shut=True):
    """Send raw bytes on the unix socket; return all the answer (until close)."""
    sock = connect_unix(path, timeout)
    try:
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        sock.close()


def status_of(answer_bytes):
    line = answer_bytes.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
