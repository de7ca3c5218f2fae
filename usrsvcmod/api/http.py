"""A strict HTTP/1.1 request parser and response writer, for one request per
connection.

Strict on purpose: what it does not need it refuses with a clear status
instead of guessing (request ``Transfer-Encoding``, folded header lines, a
second ``Content-Length``, bytes that are not a token where a token goes).
The head and the body are bounded; the server enforces the time limits.
"""

import json

MAX_HEAD = 16 * 1024  # request line and headers together
MAX_HEADERS = 100
MAX_BODY = 64 * 1024
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
                     "CONNECT"))
_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                   b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
REASONS = {200: "OK", 202: "Accepted", 204: "No Content", 303: "See Other", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 409: "Conflict", 411: "Length Required",
           413: "Content Too Large", 414: "URI Too Long", 415: "Unsupported Media Type",
           422: "Unprocessable Content", 429: "Too Many Requests",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented", 503: "Service Unavailable", 505: "HTTP Version Not Supported"}


class HttpError(Exception):
    """A request we answer with ``status`` and a JSON ``{"error": message}``."""

    def __init__(self, status, message, headers=()):
        Exception.__init__(self, message)
        self.status = status
        self.message = message
        self.headers = list(headers)


class Request:
    __slots__ = ("method", "target", "path", "parts", "query", "headers", "body", "peer",
                 "browser")

    def __init__(self, method, target, headers):
        self.method = method
        self.target = target
        path, _, query = target.partition("?")
        self.path = unquote(path)
        # the segments, each decoded on its own: a program name may hold a '/' (%2F)
        self.parts = [unquote(part) for part in path.split("/") if part]
        self.query = parse_query(query)
        self.headers = headers  # lower-case name -> value (str, latin-1)
        self.body = b""
        self.peer = None
        self.browser = False  # authenticated the way a browser does on its own (routes)

    def header(self, name, default=None):
        return self.headers.get(name, default)


def split_head(buffer):
    """(head bytes, rest) once ``buffer`` holds a whole head; None before;
    HttpError when the head is over its bound."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD:
            raise HttpError(431, "request head over %d bytes" % MAX_HEAD)
        return None
    if end + 4 > MAX_HEAD:
        raise HttpError(431, "request head over %d bytes" % MAX_HEAD)
    return buffer[:end], buffer[end + 4:]


def parse_head(head):
    """A Request from the bytes before the blank line; HttpError if it is not strict HTTP/1.x."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line (expected: METHOD TARGET HTTP/1.1)")
    method, target, version = parts
    if not method or not all(c in _TCHAR for c in method):
        raise HttpError(400, "malformed method")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        if version.startswith(b"HTTP/"):
            raise HttpError(505, "only HTTP/1.0 and HTTP/1.1 are spoken here")
        raise HttpError(400, "malformed request line (expected: METHOD TARGET HTTP/1.1)")
    if not target.startswith(b"/") or any(c <= 32 or c >= 127 for c in target):
        raise HttpError(400, "malformed request target (expected an absolute path)")
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpError(431, "more than %d header lines" % MAX_HEADERS)
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or not all(c in _TCHAR for c in name):
            raise HttpError(400, "malformed header line (folded lines are not accepted)")
        if any((c < 32 and c != 9) or c == 127 for c in value):
            raise HttpError(400, "control character in header %s" % name.decode("ascii"))
        key = name.decode("ascii").lower()
        text = value.strip(b" \t").decode("latin-1")
        if key in headers:
            if key in ("content-length", "host", "authorization", "cookie"):
                raise HttpError(400, "header %s given twice" % key)
            text = headers[key] + ", " + text
        headers[key] = text
    request = Request(method.decode("ascii"), target.decode("ascii"), headers)
    if request.method not in METHODS:
        raise HttpError(501, "method %s is not known" % request.method)
    return request


def body_length(request):
    """How many body bytes follow the head (bounded); HttpError otherwise."""
    if "transfer-encoding" in request.headers:
        raise HttpError(501, "request Transfer-Encoding is not supported; send Content-Length")
    text = request.headers.get("content-length")
    if text is None:
        return 0
    if not (text.isascii() and text.isdigit()) or len(text) > 12:  # '\u00b2' is a digit to Python
        raise HttpError(400, "malformed Content-Length")
    length = int(text)
    if length > MAX_BODY:
        raise HttpError(413, "request body over %d bytes" % MAX_BODY)
    return length


def unquote(text):
    """Percent-decoding of a path or query part (UTF-8); bad escapes -> HttpError 400."""
    if "%" not in text:
        return text
    out, i = bytearray(), 0
    raw = text.encode("ascii")
    while i < len(raw):
        if raw[i] == 0x25:
            try:
                out.append(int(raw[i + 1:i + 3], 16))
            except ValueError:
                raise HttpError(400, "malformed percent escape") from None
            if len(raw[i + 1:i + 3]) != 2:
                raise HttpError(400, "malformed percent escape")
            i += 3
        else:
            out.append(raw[i])
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "percent escapes that are not UTF-8") from None


def parse_query(query):
    """a=1&b=x -> {"a": "1", "b": "x"} (also the form bodies of the page); last one wins."""
    values = {}
    for item in query.split("&") if query else ():
        key, _, value = item.partition("=")
        values[unquote(key.replace("+", " "))] = unquote(value.replace("+", " "))
    return values


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, body=b"", content_type="application/json", headers=()):
        self.status = status
        self.body = body
        self.headers = [("Content-Type", content_type)] + list(headers)

    def encode(self, head_only=False):
        head, body = self.parts(head_only)
        return head + body

    def parts(self, head_only=False):
        """(head, body) as bytes: the body is this Response's own, not a copy."""
        lines = ["HTTP/1.1 %d %s" % (self.status, REASONS.get(self.status, "Status"))]
        lines += ["%s: %s" % item for item in self.headers]
        lines += ["Content-Length: %d" % len(self.body), "Connection: close",
                  "Cache-Control: no-store", "X-Content-Type-Options: nosniff", "", ""]
        return "\r\n".join(lines).encode("latin-1"), b"" if head_only else self.body


def json_response(status, data, headers=()):
    return Response(status, json.dumps(data, indent=1).encode() + b"\n", headers=headers)


def error_response(status, message, headers=()):
    return json_response(status, {"error": message, "status": status}, headers)


def same_text(a, b):
    """Compare two secrets in constant time."""
    from hmac import compare_digest

    return compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))
