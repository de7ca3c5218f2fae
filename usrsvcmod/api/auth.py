"""Who may use the TCP listener: a bearer token (``http_token_file``), or HTTP
basic auth against ``http_password_hash`` (``usrsvcd passwd`` makes one).

The password is never stored: a salted scrypt hash is. Checking it costs
tens of milliseconds of CPU, so it runs in a worker thread (at most
MAX_CHECKS at once), never on the loop; a password once verified is
remembered by its SHA-256 for the daemon's life, so a browser sending it
with every request costs one check.
"""

import os
import stat

try:  # hmac.compare_digest itself, without loading OpenSSL (hashlib: +4 MB of RSS)
    from _operator import _compare_digest as same
except ImportError:  # another Python: the public name
    from hmac import compare_digest as same

SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1
MAX_CHECKS = 1  # scrypt takes 16 MB a check: one at a time bounds the memory
COOKIE = "usrsvc_token"


class AuthProblem(Exception):
    pass


def read_token(path):
    """The token in ``path``: a file of ours, mode 0600 (not a symlink), not empty."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as err:
        raise ValueError("http_token_file %s: %s" % (path, err.strerror)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("http_token_file %s is not a regular file" % path)
        if st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise ValueError("http_token_file %s must be ours and readable by us only"
                             " (fix: chmod 600 %s)" % (path, path))
        token = os.read(fd, 4096).decode("utf-8", "replace").strip()
    finally:
        os.close(fd)
    if len(token) < 16:
        raise ValueError("http_token_file %s holds no token of 16 characters or more"
                         " (make one: head -c 32 /dev/urandom | base64 > %s)" % (path, path))
    return token


def hash_password(password, salt=None):
    import hashlib

    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=32)
    return "scrypt$%d$%d$%d$%s$%s" % (SCRYPT_N, SCRYPT_R, SCRYPT_P, _b64(salt), _b64(digest))


def verify(hash_text, password):
    import base64
    import hashlib

    _, n, r, p, salt, digest = hash_text.split("$")
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                         p=int(p), dklen=32, maxmem=256 << 20)
    return same(got, base64.b64decode(digest))


def _b64(data):
    import base64

    return base64.b64encode(data).decode("ascii")


class Gate:
    """The TCP listener's check of each request."""

    def __init__(self, token, hash_text, submit):
        self.token = token
        self.hash_text = hash_text
        self.submit = submit  # the daemon's: a worker thread's answer back to the loop
        self.known = set()  # SHA-256 of the basic credentials verified so far
        self.checking = 0

    def credentials(self, request):
        """("token", ok) | ("basic", secret) | (None, None)."""
        header = request.header("authorization", "")
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self.token:
            return "token", same(value.strip().encode(), self.token.encode())
        if scheme == "basic" and self.hash_text:
            import base64

            try:
                pair = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return "token", False
            return "basic", pair.partition(":")[2]
        cookie = cookie_value(request.header("cookie", ""), COOKIE)
        if cookie is not None and self.token:
            return "token", same(cookie.encode(), self.token.encode())
        return None, None

    def from_browser(self, request):
        """Whether the request was let in by what a browser sends on its own (the
        login cookie, remembered basic credentials), not by a bearer token."""
        scheme = request.header("authorization", "").partition(" ")[0].lower()
        return scheme != "bearer"

    def check(self, request, done):
        """Calls ``done(True | False | None)`` now or later on the loop (None: busy)."""
        kind, value = self.credentials(request)
        if kind != "basic":
            done(bool(value))
            return
        import hashlib

        key = hashlib.sha256(value.encode()).digest()
        if key in self.known:
            done(True)
            return
        if self.checking >= MAX_CHECKS:
            done(None)
            return
        self.checking += 1
        import threading

        def work():
            try:
                ok = verify(self.hash_text, value)
            except (ValueError, MemoryError):
                ok = False
            self.submit(answer, ok)

        def answer(ok):
            self.checking -= 1
            if ok and len(self.known) < 64:
                self.known.add(key)
            done(ok)

        threading.Thread(target=work, name="api-auth", daemon=True).start()

    def challenge(self):
        schemes = []
        if self.token:
            schemes.append('Bearer realm="usrsvcd"')
        if self.hash_text:
            schemes.append('Basic realm="usrsvcd", charset="UTF-8"')
        return [("WWW-Authenticate", s) for s in schemes]


def cookie_value(header, name):
    for part in header.split(";"):
        key, eq, value = part.strip().partition("=")
        if eq and key == name:
            return value
    return None
