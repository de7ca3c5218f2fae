"""The API's strict HTTP parser (usrsvcmod/api/http.py): what it accepts and what it refuses."""

import pytest

from usrsvcmod.api import http
from usrsvcmod.api.http import HttpError
from usrsvcmod.api.listen import not_ready, split_address


def _status(fn, *args):
    with pytest.raises(HttpError) as caught:
        fn(*args)
    return caught.value.status


def test_a_plain_request_is_parsed():
    head, rest = http.split_head(b"GET /api/v1/programs?wait=3&x=a%20b HTTP/1.1\r\n"
                                 b"Host: x\r\nLast-Event-ID:  7 \r\n\r\nBODY")
    request = http.parse_head(head)
    assert (request.method, request.path, rest) == ("GET", "/api/v1/programs", b"BODY")
    assert request.query == {"wait": "3", "x": "a b"}
    assert request.header("last-event-id") == "7"
    assert http.body_length(request) == 0


def test_the_head_waits_until_it_is_whole_and_is_bounded():
    assert http.split_head(b"GET / HTTP/1.1\r\nHost: x\r\n") is None
    assert _status(http.split_head, b"GET / HTTP/1.1\r\nX: " + b"a" * http.MAX_HEAD) == 431
    many = b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * (http.MAX_HEADERS + 1)
    assert _status(http.parse_head, many.rstrip(b"\r\n")) == 431


@pytest.mark.parametrize("head, status", [
    (b"GET /", 400),
    (b"GET / HTTP/1.1 extra", 400),
    (b"G@T / HTTP/1.1", 400),
    (b"GET relative HTTP/1.1", 400),
    (b"GET /a\x7f HTTP/1.1", 400),
    (b"GET / HTTP/2.0", 505),
    (b"GET / FTP/1.0", 400),
    (b"BREW / HTTP/1.1", 501),
    (b"GET / HTTP/1.1\r\n folded", 400),
    (b"GET / HTTP/1.1\r\nNo colon", 400),
    (b"GET / HTTP/1.1\r\nX: a\x01b", 400),
    (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1", 400),
    (b"GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b", 400),
])
def test_what_is_not_strict_http_is_refused(head, status):
    assert _status(http.parse_head, head) == status


def test_bodies_need_a_sane_content_length_and_no_transfer_encoding():
    def length(headers):
        return http.body_length(http.parse_head(b"POST / HTTP/1.1\r\n" + headers))

    assert length(b"Content-Length: 12") == 12
    assert _status(length, b"Content-Length: -1") == 400
    assert _status(length, b"Content-Length: 1e3") == 400
    assert _status(length, b"Content-Length: %d" % (http.MAX_BODY + 1)) == 413
    assert _status(length, b"Transfer-Encoding: chunked") == 501


def test_percent_escapes_are_checked():
    assert http.unquote("/a%2Fb") == "/a/b"
    assert _status(http.unquote, "/a%zz") == 400
    assert _status(http.unquote, "/a%f") == 400
    assert _status(http.unquote, "/%ff") == 400  # not UTF-8


def test_responses_close_and_say_their_length():
    data = http.error_response(404, "no such path").encode()
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"Connection: close" in head and b"Content-Length: %d" % len(body) in head
    assert http.error_response(404, "x").encode(head_only=True).endswith(b"\r\n\r\n")


def test_listen_addresses():
    assert split_address("127.0.0.1:9001") == ("127.0.0.1", 9001)
    assert split_address("[::1]:0") == ("::1", 0)
    for bad in ("9001", "host:", ":80", "h:70000", "h:x"):
        with pytest.raises(ValueError):
            split_address(bad)


def test_readiness_leaves_out_what_should_be_down():
    programs = {
        "up": {"state": "running", "ready": True, "enabled": True},
        "probing": {"state": "running", "ready": False, "enabled": True, "reason": "probe"},
        "mine": {"state": "stopped_by_user", "ready": False, "enabled": True},
        "off": {"state": "disabled", "ready": False, "enabled": False},
        "alone": {"state": "unmanaged", "ready": False, "enabled": True},
        "job": {"state": "done", "ready": True, "enabled": True},
        "retry": {"state": "backoff", "ready": False, "enabled": True, "reason": "next start"},
    }
    assert [w["name"] for w in not_ready({"programs": programs})] == ["probing", "retry"]
