"""usrsvcd's HTTP API against a real daemon and real services: the unix socket,
the TCP listener and its authentication, actions with real pids, events,
readiness, metrics, and what bad clients get."""

import json
import os
import stat
import subprocess
import sys
import threading
import time

import pytest

from api_support import call, raw, socket_path, status_of
from conftest import alive, wait_for
from daemon_support import daemon, new_pid  # noqa: F401 (fixture)

MAIN = "[Main]\nreconcile_interval = 1\n"


def _start(env, daemon, main=MAIN, **programs):
    text = main + "".join(env.program(name, env.service("--tag", name), **keys)
                          for name, keys in (programs or {"web": {}}).items())
    env.write(text)
    daemon.start()
    assert wait_for(lambda: socket_path(env), timeout=10), daemon.text()
    return socket_path(env)


def _item(sock, name):
    answer = call(sock, "GET", "/api/v1/programs/" + name)
    assert answer.status == 200, answer
    return answer.json()


def test_the_unix_socket_is_private_and_status_names_it(env, daemon):
    sock = _start(env, daemon)
    mode = os.stat(sock).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode) == 0o700
    answer = call(sock, "GET", "/healthz")
    assert answer.status == 200 and answer.json()["status"] == "ok"
    shown = daemon.cmd("status")
    assert "API socket: %s" % sock in shown.stdout, shown.stdout


def test_curl_speaks_to_the_unix_socket(env, daemon):
    curl = "/usr/bin/curl"
    if not os.path.exists(curl):
        pytest.skip("curl is not installed")
    sock = _start(env, daemon)
    assert wait_for(lambda: _item(sock, "web")["pid"])
    out = subprocess.run([curl, "-sS", "--max-time", "10", "--unix-socket", "api.sock",
                          "http://localhost/api/v1/programs"], capture_output=True, timeout=20,
                         cwd=os.path.dirname(sock))  # (a test HOME makes a long path)
    assert out.returncode == 0, out.stderr
    assert [p["name"] for p in json.loads(out.stdout)] == ["web"]


def test_another_uid_is_refused_by_peer_credentials(env, daemon):
    """A client of another uid that could reach the socket (here: one given the
    capability to ignore file modes) is answered 403 all the same."""
    setpriv = "/usr/bin/setpriv"
    if os.getuid() != 0 or not os.path.exists(setpriv):
        pytest.skip("needs root and setpriv")
    sock = _start(env, daemon)
    # the answer may come (and the socket close) before the request is sent: a
    # broken pipe on sending, and the 403 still there to read
    client = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(10);"
              " s.connect('api.sock')\n"
              "try:\n s.sendall(b'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n"
              "except BrokenPipeError:\n pass\n"
              "print(s.recv(200).split(b'\\r\\n')[0].decode())")
    out = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                          "--inh-caps=+dac_override", "--ambient-caps=+dac_override",
                          sys.executable, "-c", client], capture_output=True, text=True,
                         timeout=30, cwd=os.path.dirname(sock))
    assert out.stdout.strip() == "HTTP/1.1 403 Forbidden", (out.stdout, out.stderr)
    assert call(sock, "GET", "/healthz").status == 200  # and it goes on serving us


def test_programs_have_the_schema_of_usrsvc_json_status(env, daemon):
    sock = _start(env, daemon, web={}, idle={"autostart": "false"})
    assert wait_for(lambda: _item(sock, "web")["pid"] and _item(sock, "web")["state"] == "running")
    listed = call(sock, "GET", "/api/v1/programs").json()
    shown = json.loads(env.run("--json", "status", "all").stdout)
    assert [p["name"] for p in listed] == [p["name"] for p in shown] == ["web", "idle"]
    for ours, theirs in zip(listed, shown):
        assert sorted(ours) == sorted(theirs)  # one contract, the same fields
        for key in ("name", "pid", "pidfile", "stdout", "stderr", "cmdline", "started_at",
                    "restarts"):
            assert ours[key] == theirs[key], key
        assert ours["state"] == theirs["state"]
    assert listed[0]["rss_kb"] > 0 and listed[0]["pid"] == env.pid_of("web")


def test_stop_start_restart_and_signal_act_on_real_processes(env, daemon):
    sock = _start(env, daemon)
    first = new_pid(env, "web", None)
    assert first
    answer = call(sock, "POST", "/api/v1/programs/web/stop")
    assert answer.status == 200, answer
    assert answer.json()["results"][0]["stopped_pid"] == first
    assert wait_for(lambda: not alive(first))
    # remembered like usrsvc stop: the daemon leaves it down, usrsvc says why
    assert wait_for(lambda: _item(sock, "web")["state"] == "stopped_by_user")
    time.sleep(1.5)
    assert env.pid_of("web") is None or not alive(env.pid_of("web"))
    assert json.loads(env.run("--json", "status", "web").stdout)[0]["state"] == "stopped_by_user"

    answer = call(sock, "POST", "/api/v1/programs/web/start")
    assert answer.status == 200, answer
    second = answer.json()["results"][0]["pid"]
    assert second and second != first and alive(second) and env.pid_of("web") == second
    assert wait_for(lambda: _item(sock, "web")["pid"] == second)

    answer = call(sock, "POST", "/api/v1/programs/web/restart", timeout=120)
    assert answer.status == 200, answer
    third = answer.json()["results"][0]["pid"]
    assert third and third != second and alive(third) and not alive(second)

    # USR1 ends the test service (no handler): the daemon restarts it, not a user stop
    answer = call(sock, "POST", "/api/v1/programs/web/signal", {"signal": "USR1"})
    assert answer.status == 200, answer
    assert wait_for(lambda: not alive(third))
    fourth = new_pid(env, "web", third)
    assert fourth, daemon.text()


def test_all_and_unknown_programs(env, daemon):
    sock = _start(env, daemon, a={}, b={})
    assert new_pid(env, "a", None) and new_pid(env, "b", None)
    answer = call(sock, "POST", "/api/v1/programs/all/stop")
    assert answer.status == 200, answer
    assert sorted(r["name"] for r in answer.json()["results"]) == ["a", "b"]
    assert call(sock, "POST", "/api/v1/programs/nope/start").status == 404
    assert call(sock, "GET", "/api/v1/programs/nope").status == 404
    assert call(sock, "POST", "/api/v1/programs/a/explode").status == 404
    assert call(sock, "POST", "/api/v1/programs/a/signal", {"signal": "NOT A SIGNAL"}).status == 400


def test_a_name_with_a_slash_and_a_space_is_reached_percent_encoded(env, daemon):
    name = "odd name/x"
    env.write(MAIN + env.program(name, env.service("--tag", "odd"), pidfile="%s/run/odd.pid"
                                 % env.home, stdout="%s/logs/odd.log" % env.home))
    daemon.start()
    assert wait_for(lambda: socket_path(env), timeout=10), daemon.text()
    sock = socket_path(env)
    first = wait_for(lambda: _item(sock, "odd%20name%2Fx")["pid"])
    assert first and alive(first), daemon.text()
    with open(os.path.join(env.home, "run", "odd.pid")) as handle:
        assert int(handle.read()) == first
    answer = call(sock, "POST", "/api/v1/programs/odd%20name%2Fx/stop")
    assert answer.status == 200, answer
    assert answer.json()["results"][0]["stopped_pid"] == first
    assert wait_for(lambda: not alive(first))
    assert call(sock, "GET", "/api/v1/programs/odd%20name/x").status in (404, 405)  # not it


def test_an_action_while_another_holds_the_lock_is_409(env, daemon):
    sock = _start(env, daemon)
    pid = new_pid(env, "web", None)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from usrsvcmod.state import RuntimeState;"
        " fd = RuntimeState(sys.argv[1]).lock('web'); print('held', flush=True); time.sleep(60)"),
        env.cfg], env=env.env, stdout=subprocess.PIPE, text=True)
    env.children.append(holder)
    assert holder.stdout.readline().strip() == "held"
    answer = call(sock, "POST", "/api/v1/programs/web/stop")
    assert answer.status == 409, answer
    assert alive(pid)
    holder.kill()
    holder.wait()
    assert call(sock, "POST", "/api/v1/programs/web/stop").status == 200


def test_methods_paths_and_sizes_get_clear_errors(env, daemon):
    sock = _start(env, daemon)
    answer = call(sock, "DELETE", "/api/v1/programs")
    assert answer.status == 405 and "GET" in answer.headers["Allow"]
    assert call(sock, "GET", "/no/such/thing").status == 404
    assert call(sock, "GET", "/api/v1/programs/web/start").status == 405
    for data, expected in [
            (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
            (b"POST /api/v1/reread HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
            (b"POST /api/v1/reread HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64) + b"\r\n\r\n", 400),
            (b"GET /healthz HTTP/2.0\r\n\r\n", 505),
            (b"GET /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400),
            (b"GET /healthz HTTP/1.1\r\n folded: line\r\n\r\n", 400)]:
        answer = raw(sock, data)
        assert status_of(answer) == expected, (data[:60], answer[:200])
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["status"] == expected
    assert call(sock, "GET", "/healthz").status == 200


def test_events_stream_and_resume_with_last_event_id(env, daemon):
    sock = _start(env, daemon)
    assert new_pid(env, "web", None)
    from api_support import connect_unix

    client = connect_unix(sock, 20)
    client.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
    assert call(sock, "POST", "/api/v1/programs/web/stop").status == 200
    seen = b""
    deadline = time.monotonic() + 20
    while b"event: stopped" not in seen and time.monotonic() < deadline:
        seen += client.recv(65536)
    client.close()
    assert seen.startswith(b"HTTP/1.1 200 OK") and b"text/event-stream" in seen
    frames = [f for f in seen.split(b"\n\n") if f.startswith(b"id: ")]
    stopped = [f for f in frames if b"event: stopped\n" in f]
    assert stopped, seen
    stop_id = int(stopped[0].split(b"\n")[0][4:])
    data = json.loads(stopped[0].split(b"data: ", 1)[1])
    assert data["program"] == "web" and data["event"] == "stopped"
    assert call(sock, "POST", "/api/v1/programs/web/start").status == 200
    # resume: only what came after the last id seen, starting with the new start
    client = connect_unix(sock, 20)
    client.sendall(b"GET /api/v1/events HTTP/1.1\r\nLast-Event-ID: %d\r\n\r\n" % stop_id)
    again = b""
    deadline = time.monotonic() + 20
    while b"event: found_running" not in again and time.monotonic() < deadline:
        again += client.recv(65536)
    client.close()
    ids = [int(f.split(b"\n")[0][4:]) for f in again.split(b"\n\n") if f.startswith(b"id: ")]
    assert ids and min(ids) == stop_id + 1 and ids == sorted(ids), again


def test_readyz_waits_and_the_ready_file_follows(env, daemon):
    flag = os.path.join(env.home, "flag")
    ready_file = os.path.join(env.home, "ready")
    main = MAIN + "ready_file = %s\n" % ready_file
    env.write(main + env.program("web", env.service()) + "  [[Readiness]]\n  file = %s\n"
              "  interval = 0.1\n" % flag)
    daemon.start()
    assert wait_for(lambda: socket_path(env))
    sock = socket_path(env)
    answer = call(sock, "GET", "/readyz")
    assert answer.status == 503 and answer.json()["waiting_for"][0]["name"] == "web"
    assert not os.path.exists(ready_file)
    got = {}
    waiter = threading.Thread(target=lambda: got.update(a=call(sock, "GET", "/readyz?wait=30")))
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive()  # it waits
    open(flag, "w").close()
    waiter.join(40)
    assert got["a"].status == 200 and got["a"].json() == {"ready": True}
    assert wait_for(lambda: os.path.exists(ready_file))
    assert call(sock, "GET", "/readyz?wait=1").status == 200
    assert call(sock, "GET", "/readyz?wait=9999").status == 400
    os.unlink(flag)  # readiness stays once reached; a user stop is not "unready" either
    assert call(sock, "POST", "/api/v1/programs/web/stop").status == 200
    assert call(sock, "GET", "/readyz").status == 200
    assert os.path.exists(ready_file)


def test_metrics_parse_with_prometheus_client(env, daemon):
    parser = pytest.importorskip("prometheus_client.parser")
    sock = _start(env, daemon, web={}, off={"autostart": "false"})
    pid = new_pid(env, "web", None)
    os.kill(pid, 9)
    assert new_pid(env, "web", pid)
    assert wait_for(lambda: _item(sock, "web")["restarts"] == 1 and _item(sock, "web")["pid"])
    answer = call(sock, "GET", "/metrics")
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in parser.text_string_to_metric_families(answer.body.decode())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}
    assert samples[("usrsvc_up", (("program", "web"),))] == 1
    assert samples[("usrsvc_up", (("program", "off"),))] == 0
    assert samples[("usrsvc_state", (("program", "web"), ("state", "running")))] == 1
    assert samples[("usrsvc_restarts_total", (("program", "web"), ("reason", "exit")))] == 1
    if _item(sock, "web")["last_exit"]:  # the exit status of a non-child: Linux 6.15+
        assert samples[("usrsvc_last_exit_code", (("program", "web"),))] == 128 + 9
    assert samples[("usrsvc_rss_bytes", (("program", "web"), ("scope", "process")))] > 0
    assert ("usrsvc_cpu_seconds_total", (("program", "web"),)) in samples
    assert ("usrsvc_start_time_seconds", (("program", "web"),)) in samples
    assert samples[("usrsvcd_rss_bytes", ())] > 0


def _tcp_main(env, **extra):
    token = os.path.join(env.home, "token")
    with open(token, "w") as handle:
        handle.write("t0k3n-%s\n" % env.token)
    os.chmod(token, 0o600)
    lines = ["http_listen = 127.0.0.1:0", "http_token_file = %s" % token]
    lines += ["%s = %s" % item for item in extra.items()]
    return MAIN + "\n".join(lines) + "\n", "t0k3n-%s" % env.token


def _tcp_address(daemon):
    for line in daemon.cmd("status").stdout.splitlines():
        if line.startswith("API and web page: http://"):
            host, port = line.split("//")[1].rstrip("/").rsplit(":", 1)
            return host, int(port)
    return None


def test_tcp_needs_the_token_or_the_password(env, daemon):
    hashed = subprocess.run([daemon.usrsvcd, "passwd"], input="correct horse\n", env=env.env,
                            capture_output=True, text=True, timeout=30)
    assert hashed.returncode == 0 and hashed.stdout.startswith("http_password_hash = scrypt$")
    main, token = _tcp_main(env)
    env.write(main + hashed.stdout + env.program("web", env.service()))
    daemon.start()
    where = wait_for(lambda: _tcp_address(daemon))
    assert where and where[1] > 0, daemon.cmd("status").stdout
    refused = call(where, "GET", "/api/v1/programs")
    assert refused.status == 401 and "Bearer" in refused.headers["WWW-Authenticate"]
    assert call(where, "GET", "/healthz", headers={"Authorization": "Bearer wrong"}).status == 401
    ok = call(where, "GET", "/api/v1/programs", headers={"Authorization": "Bearer " + token})
    assert ok.status == 200 and ok.json()[0]["name"] == "web"
    import base64

    basic = "Basic " + base64.b64encode(b"me:correct horse").decode()
    assert call(where, "GET", "/healthz", headers={"Authorization": basic}).status == 200
    wrong = "Basic " + base64.b64encode(b"me:wrong horse").decode()
    assert call(where, "GET", "/healthz", headers={"Authorization": wrong}).status == 401
    login = call(where, "GET", "/login?token=" + token)
    assert login.status == 303 and "HttpOnly" in login.headers["Set-Cookie"]
    cookie = login.headers["Set-Cookie"].split(";")[0]
    assert call(where, "GET", "/healthz", headers={"Cookie": cookie}).status == 200
    assert call(where, "GET", "/login?token=nope").status == 401


def test_tcp_config_errors(env, daemon):
    env.write(MAIN + "http_listen = 127.0.0.1:9\n" + env.program("web", env.service()))
    out = daemon.cmd("checkconfig")
    assert out.returncode == 130 and "no authentication" in out.stderr, out.stderr
    main, _ = _tcp_main(env)
    env.write(main.replace("127.0.0.1:0", "0.0.0.0:0") + env.program("web", env.service()))
    out = daemon.cmd("checkconfig")
    assert out.returncode == 130 and "http_allow_remote" in out.stderr, out.stderr
    env.write(MAIN + "http_password_hash = plain\n" + env.program("web", env.service()))
    out = daemon.cmd("checkconfig")
    assert out.returncode == 130 and "usrsvcd passwd" in out.stderr, out.stderr


def test_a_token_file_others_can_read_is_refused(env, daemon):
    main, _ = _tcp_main(env)
    os.chmod(os.path.join(env.home, "token"), 0o644)
    env.write(main + env.program("web", env.service()))
    checked = daemon.cmd("checkconfig")  # said before the start, not only in the log
    assert "http_token_file" in checked.stderr and "chmod 600" in checked.stderr, checked
    daemon.start()
    daemon.wait_logged("api_error")
    assert "chmod 600" in daemon.text()
    assert _tcp_address(daemon) is None
    assert call(socket_path(env), "GET", "/healthz").status == 200  # the socket still serves


def test_garbage_half_requests_and_slow_clients_never_stall_restarts(env, daemon):
    """A fuzz pass (random bytes, cut-off heads and bodies, slowloris clients
    holding connections open, a full connection table) and meanwhile a program
    is SIGKILLed: usrsvcd restarts it as promptly as ever, and answers again."""
    import random

    from api_support import connect_unix

    sock = _start(env, daemon)
    pid = new_pid(env, "web", None)
    rng = random.Random(1313)
    templates = [b"GET /api/v1/programs HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"POST /api/v1/programs/web/signal HTTP/1.1\r\nContent-Length: 20\r\n\r\n{\"signal\"",
                 b"GET /readyz?wait=%ff HTTP/1.1\r\n\r\n", b"GET /%00%zz HTTP/1.1\r\n\r\n",
                 b"GET /api/v1/events HTTP/1.1\r\nLast-Event-ID: -1\r\n\r\n"]
    slow = []
    try:
        for _ in range(300):  # slowloris: connections that send a little and wait
            client = connect_unix(sock, 10)
            try:
                client.sendall(b"GET /heal")
            except OSError:  # past the table's size: refused (503) and closed
                client.close()
                continue
            slow.append(client)
        # the table is full now: a new client gets a 503, never a hang
        answer = raw(sock, b"GET /healthz HTTP/1.1\r\n\r\n")
        assert status_of(answer) == 503, answer[:200]
        for client in slow[:150]:
            client.close()
        del slow[:150]
        started = time.monotonic()
        os.kill(pid, 9)
        for round_ in range(200):
            kind = round_ % 4
            if kind == 0:
                data = os.urandom(rng.randint(1, 3000))
            elif kind == 1:
                base = rng.choice(templates)
                data = base[:rng.randint(1, len(base))]
            elif kind == 2:
                base = bytearray(rng.choice(templates))
                for _ in range(rng.randint(1, 8)):
                    base[rng.randrange(len(base))] = rng.randrange(256)
                data = bytes(base)
            else:
                data = rng.choice(templates).replace(b"HTTP/1.1", rng.choice(
                    [b"HTTP/1.1", b"HTTP/9", b"", b"HTTP/1.1 x"]))
            try:
                client = connect_unix(sock, 10)
                client.sendall(data)
                if rng.random() < 0.5:
                    client.close()  # gone mid-request
                else:
                    client.shutdown(1)
                    client.recv(4096)
                    client.close()
            except OSError:
                pass
        fresh = new_pid(env, "web", pid, timeout=15)
        took = time.monotonic() - started
        assert fresh, daemon.text()
        assert took < 10, took
    finally:
        for client in slow:
            client.close()
    assert call(sock, "GET", "/healthz").status == 200
    assert "Traceback" not in daemon.text(), daemon.text()[-3000:]


def test_a_slow_request_gets_408(env, daemon):
    sock = _start(env, daemon)
    from api_support import connect_unix

    client = connect_unix(sock, 30)
    client.sendall(b"GET /healthz HTTP/1.1\r\n")
    started = time.monotonic()
    answer = client.recv(4096)
    client.close()
    assert status_of(answer) == 408 and time.monotonic() - started < 25, answer


def test_an_idle_daemon_has_no_extra_wakeups_and_little_more_memory(env, daemon):
    """The API costs nothing while nobody uses it (no wake-ups: the sockets sit
    in the same poll), and a few MB once used."""
    env.write("[Main]\nreconcile_interval = 3600\nmonitor_interval = 3600\n"
              + env.program("web", env.service()))
    proc = daemon.start()
    assert wait_for(lambda: socket_path(env))
    assert new_pid(env, "web", None)
    time.sleep(1.0)  # the first snapshot and launches settle

    def switches():
        with open("/proc/%d/status" % proc.pid) as handle:
            return sum(int(line.split()[1]) for line in handle
                       if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")))

    def rss_kb():
        with open("/proc/%d/status" % proc.pid) as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS"))

    before, idle = switches(), rss_kb()
    time.sleep(3.0)
    assert switches() - before <= 3  # asleep in poll()
    sock = socket_path(env)
    for _ in range(50):
        assert call(sock, "GET", "/api/v1/programs").status == 200
    assert call(sock, "GET", "/metrics").status == 200
    assert rss_kb() - idle < 5 * 1024
    before = switches()
    time.sleep(3.0)
    assert switches() - before <= 3  # and asleep again once served


def test_tls_on_the_tcp_listener(env, daemon):
    import shutil
    import ssl

    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl is not installed")
    cert, key = os.path.join(env.home, "cert.pem"), os.path.join(env.home, "key.pem")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=localhost"], check=True,
                   capture_output=True, timeout=60)
    main, token = _tcp_main(env, http_tls_cert=cert, http_tls_key=key)
    env.write(main + env.program("web", env.service()))
    daemon.start()
    where = wait_for(lambda: _tcp_address(daemon) or _tls_address(daemon))
    assert where, daemon.cmd("status").stdout
    import http.client

    context = ssl.create_default_context(cafile=cert)
    context.check_hostname = False
    conn = http.client.HTTPSConnection(where[0], where[1], context=context, timeout=30)
    try:
        conn.request("GET", "/api/v1/programs", headers={"Authorization": "Bearer " + token})
        answer = conn.getresponse()
        assert answer.status == 200 and json.loads(answer.read())[0]["name"] == "web"
    finally:
        conn.close()


def _tls_address(daemon):
    for line in daemon.cmd("status").stdout.splitlines():
        if line.startswith("API and web page: https://"):
            host, port = line.split("//")[1].rstrip("/").rsplit(":", 1)
            return host, int(port)
    return None


def test_reread_through_the_api(env, daemon):
    sock = _start(env, daemon)
    env.write(MAIN + env.program("web", env.service()) + env.program("more", env.service("--tag", "more")))
    answer = call(sock, "POST", "/api/v1/reread")
    assert answer.status == 200 and answer.json()["programs"] == 2, answer
    assert wait_for(lambda: call(sock, "GET", "/api/v1/programs/more").status == 200)
    env.write(MAIN + "[Program:broken]\ncommand = x\n")
    answer = call(sock, "POST", "/api/v1/reread")
    assert answer.status == 422 and answer.json()["problems"], answer
    assert call(sock, "GET", "/api/v1/programs/more").status == 200  # the old config stays
    assert "reload_rejected" not in daemon.text()  # checked first: never applied


def test_browser_credentials_cannot_be_used_from_another_site(env, daemon):
    """The login cookie and remembered basic credentials are sent by a browser on its
    own, even for a form on another page: a POST authenticated that way needs the
    page's token in X-CSRF-Token; a bearer token does not."""
    import base64

    hashed = subprocess.run([daemon.usrsvcd, "passwd"], input="correct horse\n", env=env.env,
                            capture_output=True, text=True, timeout=30)
    main, token = _tcp_main(env)
    env.write(main + hashed.stdout + env.program("web", env.service()))
    daemon.start()
    where = wait_for(lambda: _tcp_address(daemon))
    first = new_pid(env, "web", None)
    assert first
    cookie = call(where, "GET", "/login?token=" + token).headers["Set-Cookie"].split(";")[0]
    basic = "Basic " + base64.b64encode(b"me:correct horse").decode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for creds in ({"Cookie": cookie}, {"Authorization": basic}):
        for extra in ({}, {"Origin": "http://127.0.0.1:8080"}, {"X-CSRF-Token": "guess"}):
            answer = call(where, "POST", "/api/v1/programs/web/stop", body="x=1",
                          headers=dict(form, **creds, **extra))
            assert answer.status == 403, (creds, extra, answer)
        assert call(where, "POST", "/api/v1/reread", headers=creds).status == 403
    assert alive(first) and env.pid_of("web") == first  # nothing was stopped
    # the page's token, from the page itself, lets the page's own scripts act
    page = call(where, "GET", "/", headers={"Cookie": cookie}).body.decode()
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = call(where, "POST", "/api/v1/programs/web/stop",
                  headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert answer.status == 200, answer
    assert wait_for(lambda: not alive(first))
    answer = call(where, "POST", "/api/v1/programs/web/start",
                  headers={"Authorization": "Bearer " + token})
    assert answer.status == 200, answer


def test_odd_bytes_get_a_400_and_no_traceback(env, daemon):
    sock = _start(env, daemon)
    # U+00B2 is a digit to str.isdigit, not to int()
    head = "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: \u00b2\r\n\r\n".encode("utf-8")
    assert status_of(raw(sock, head)) == 400
    nested = b"[" * 60000
    answer = raw(sock, b"POST /api/v1/programs/web/signal HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(nested), nested))
    assert status_of(answer) == 400
    events = raw(sock, "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: \u00b2\r\n\r\n"
                 .encode("utf-8"))
    assert status_of(events) == 400
    for sig in ("--help", "-h", "--no-deps", "-cevil"):
        assert call(sock, "POST", "/api/v1/programs/web/signal?signal=" + sig).status == 400
    assert "Traceback" not in daemon.text()


def test_a_full_tcp_table_leaves_the_unix_socket_to_its_owner(env, daemon):
    import socket

    main, _ = _tcp_main(env)
    env.write(main + env.program("web", env.service()))
    daemon.start()
    where = wait_for(lambda: _tcp_address(daemon))
    sock = socket_path(env)
    held = []
    try:
        for _ in range(260):  # half requests that never end, as another local user could
            conn = socket.create_connection(where, timeout=5)
            conn.sendall(b"GET / HTTP/1.1\r\n")
            held.append(conn)
        assert wait_for(lambda: call(where, "GET", "/healthz").status == 503, timeout=10)
        assert call(sock, "GET", "/healthz").status == 200
    finally:
        for conn in held:
            conn.close()


def test_a_password_hash_others_can_read_is_a_warning(env, daemon):
    hashed = subprocess.run([daemon.usrsvcd, "passwd"], input="correct horse\n", env=env.env,
                            capture_output=True, text=True, timeout=30)
    env.write(MAIN + "http_listen = 127.0.0.1:0\n" + hashed.stdout
              + env.program("web", env.service()))
    os.chmod(env.cfg, 0o644)
    checked = daemon.cmd("checkconfig")
    assert checked.returncode == 0, checked
    assert "http_password_hash" in checked.stderr and "chmod 600 %s" % env.cfg in checked.stderr
    os.chmod(env.cfg, 0o600)
    assert "http_password_hash" not in daemon.cmd("checkconfig").stderr
