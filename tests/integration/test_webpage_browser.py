"""usrsvcd's status page in a real browser.

Debian's ``chromium``, headless, driven by selenium through Debian's
``chromedriver`` (no browser download), loads the page of a real usrsvcd
over its loopback TCP listener (port 0, a bearer token) while three real
services run. It checks the rows against the pidfiles, clicks *stop* and
sees the process gone and the row change, clicks *start* and sees a new
process, and sees a stop done from the command line reach the open page
through the events stream. A screenshot of the page is saved in the test's
temporary directory (``webpage.png``; set ``USRSVC_WEBPAGE_SCREENSHOT`` to a
path to keep a copy). Skipped, saying why, without chromium, chromedriver or
selenium (``.ci/run`` installs the first two, the ``[test]`` extra the third).
"""

import os
import re
import shutil
import signal
import urllib.parse

import pytest

from conftest import alive, descendants, pids_with, wait_for
from daemon_support import daemon  # noqa: F401 - fixture

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
NAMES = ("alpha", "beta", "gamma")
WAIT = 20  # seconds: generous bounds for a loaded machine, never a measured time


def _missing():
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return "%s is not installed (Debian package %s; .ci/run installs it)" % (path, package)
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install '.[test]')"
    return None


class Browser:
    """One headless chromium with a fresh profile under the test's tmp dir."""

    def __init__(self, tmp_path):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = str(tmp_path / "chromium-profile")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-extensions",
                     "--disable-dev-shm-usage", "--window-size=1280,420",
                     "--user-data-dir=" + self.profile):
            options.add_argument(flag)
        self.service = Service(CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
        self.driver = webdriver.Chrome(service=self.service, options=options)

    def pids(self):
        """chromedriver, the chromium it started and everything under them."""
        driver_pid = self.service.process.pid if self.service.process else None
        roots = ([driver_pid] if driver_pid and alive(driver_pid) else []) + pids_with(self.profile)
        return set(roots) | set(descendants(roots))

    def close(self):
        pids = self.pids()
        try:
            self.driver.quit()
        finally:
            if not wait_for(lambda: not any(alive(p) for p in pids), timeout=10):
                for pid in pids:  # quit left some behind: end exactly those, by pid
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            assert wait_for(lambda: not any(alive(p) for p in pids | self.pids()), timeout=10), \
                "chromium processes outlived the test: %s" % sorted(pids | self.pids())


@pytest.fixture
def browser(tmp_path):
    missing = _missing()
    if missing:
        pytest.skip(missing)
    made = Browser(tmp_path)
    yield made
    made.close()


def _api_info(env):
    """GET /api/v1 over the daemon's unix socket (in this HOME's runtime state)."""
    import http.client
    import json
    import socket

    state = os.path.join(env.env["XDG_RUNTIME_DIR"], "usrsvc")
    for root, _, files in os.walk(state):
        if "api.sock" in files:
            conn = http.client.HTTPConnection("localhost", timeout=5)
            conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.sock.settimeout(5)
            dirfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
            try:  # through the directory: the full path is longer than a socket address
                conn.sock.connect("/proc/self/fd/%d/api.sock" % dirfd)
                conn.request("GET", "/api/v1")
                return json.loads(conn.getresponse().read())
            except (OSError, ValueError, http.client.HTTPException):
                return None
            finally:
                os.close(dirfd)
                conn.close()
    return None


def _http_address(env, daemon):
    """HOST:PORT of the TCP listener (the real port: 0 was asked for)."""
    def look():
        info = _api_info(env) or {}
        address = (info.get("api") or {}).get("http")
        return address if address and not address.endswith(":0") else None

    address = wait_for(look, timeout=WAIT, interval=0.2)
    assert address, "no TCP listener: %r\n%s" % (_api_info(env), daemon.text())
    return address


@pytest.fixture
def webpage(env, daemon):  # noqa: F811 - the daemon fixture
    """A usrsvcd with three real services and a token-guarded loopback listener."""
    token_file = os.path.join(env.home, "api.token")
    secret = "page-test-" + env.token
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    programs = "".join(env.program(name, env.service("--tag", name)) for name in NAMES)
    env.write("[Main]\nhttp_listen = 127.0.0.1:0\nhttp_token_file = %s\n\n%s" % (
        token_file, programs))
    daemon.start()
    for name in NAMES:
        assert wait_for(lambda: env.pid_of(name) and alive(env.pid_of(name)), timeout=WAIT), \
            daemon.text()
    return "http://" + _http_address(env, daemon), secret


def _row(driver, name):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, 'tr[data-program="%s"]' % name)


def _cell(driver, name, field):
    from selenium.webdriver.common.by import By

    return _row(driver, name).find_element(By.CSS_SELECTOR, 'td[data-field="%s"]' % field).text


def _read(fn):
    """``fn()``, again if a live update replaced the element it was reading."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(4):
        try:
            return fn()
        except StaleElementReferenceException:
            continue
    return fn()


def _until(driver, condition, message):
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: condition())
    except TimeoutException:
        pytest.fail("%s; the page shows:\n%s" % (message, driver.find_element(
            "tag name", "body").text))


def _click(driver, name, action):
    """Click a row's button and wait for the page it leads back to (POST, then 303
    to /): the live page may show the result before the answer comes, and a click
    on the old page meanwhile would race the navigation. A row swapped by a live
    update before the click is found again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    driver.execute_script("document.body.setAttribute('data-old-page', 'yes')")
    for _ in range(5):
        try:
            _row(driver, name).find_element(By.CSS_SELECTOR, "button.act-%s" % action).click()
            break
        except StaleElementReferenceException:
            continue
    else:
        pytest.fail("the %s button of %s kept being replaced" % (action, name))
    _until(driver, lambda: driver.execute_script(
        "return document.readyState === 'complete' && document.body !== null"
        " && !document.body.hasAttribute('data-old-page')"
        " && document.querySelector('tr[data-program]') !== null"),
        "the page did not come back after %s %s" % (action, name))
    assert urllib.parse.urlsplit(driver.current_url).path == "/"


def test_the_page_in_chromium_shows_stops_and_starts_real_services(env, daemon, webpage, browser,
                                                                    tmp_path):
    base, secret = webpage
    driver = browser.driver
    driver.get(base + "/login?token=" + urllib.parse.quote(secret))
    _until(driver, lambda: driver.find_elements("css selector", "tr[data-program]"),
           "the page has no program rows after logging in at " + driver.current_url)
    assert urllib.parse.urlsplit(driver.current_url).path == "/"
    assert secret not in driver.current_url  # the token is not left in the address bar

    # one row per program, the pids those of the pidfiles
    assert _read(lambda: [r.get_attribute("data-program") for r in driver.find_elements(
        "css selector", "tr[data-program]")]) == list(NAMES)
    pids = {name: env.pid_of(name) for name in NAMES}
    for name in NAMES:
        _until(driver, lambda: _row(driver, name).get_attribute("data-state") == "running"
               and _cell(driver, name, "pid") == str(pids[name]),
               "%s is not shown running with pid %s" % (name, pids[name]))
        assert _read(lambda: _row(driver, name).find_elements("css selector", "svg.spark"))
        assert _read(lambda: _row(driver, name).find_elements("css selector", "svg.timeline"))

    # stop beta with its button: the process ends, the row says so
    _click(driver, "beta", "stop")
    assert wait_for(lambda: not alive(pids["beta"]), timeout=WAIT), "beta still runs"
    _until(driver, lambda: _row(driver, "beta").get_attribute("data-state") == "stopped_by_user"
           and _cell(driver, "beta", "pid") == "", "beta's row does not show it stopped")
    assert alive(pids["alpha"]) and alive(pids["gamma"])

    # start it again: a new process, shown with its pid
    _click(driver, "beta", "start")
    _until(driver, lambda: _row(driver, "beta").get_attribute("data-state") == "running"
           and _cell(driver, "beta", "pid") not in ("", str(pids["beta"])),
           "beta's row does not show it running again")
    new_pid = int(_read(lambda: _cell(driver, "beta", "pid")))
    assert alive(new_pid) and env.pid_of("beta") == new_pid
    assert env.token in open("/proc/%d/cmdline" % new_pid).read()

    # live: a stop from the command line reaches the open page without a reload
    _until(driver, lambda: driver.find_element("tag name", "body").get_attribute("data-live")
           == "1", "the page never connected to the events stream")
    driver.execute_script("document.body.setAttribute('data-same-page', 'yes')")
    env.run("stop", "gamma", check=0)
    assert not alive(pids["gamma"])
    _until(driver, lambda: _row(driver, "gamma").get_attribute("data-state") == "stopped_by_user",
           "gamma's row did not follow the stop made on the command line")
    assert driver.find_element("tag name", "body").get_attribute("data-same-page") == "yes"

    # a crash: usrsvcd restarts alpha, and the open page shows it (new pid, a restart)
    os.kill(pids["alpha"], signal.SIGKILL)
    _until(driver, lambda: _row(driver, "alpha").get_attribute("data-state") == "running"
           and _cell(driver, "alpha", "pid") not in ("", str(pids["alpha"]))
           and _cell(driver, "alpha", "restarts") == "1",
           "alpha's row does not show its restart")
    assert "SIGKILL" in _read(lambda: _cell(driver, "alpha", "last_exit")) or \
        "signal 9" in _read(lambda: _cell(driver, "alpha", "last_exit")) or \
        _read(lambda: _cell(driver, "alpha", "last_exit")) == ""  # known only on newer kernels
    assert driver.find_element("tag name", "body").get_attribute("data-same-page") == "yes"
    # its timeline gets the exit and the restart (the restart event waits for the
    # exit status, when the kernel can tell it, so it may come a moment later)
    _until(driver, lambda: re.search(r"(?=.*1 exit)(?=.*1 restart)", _row(driver, "alpha").find_element(
        "css selector", "svg.timeline").get_attribute("aria-label")),
        "alpha's timeline does not show its exit and restart")

    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(2000, int(height) + 300))  # the whole table in the picture
    shot = tmp_path / "webpage.png"
    assert driver.find_element("tag name", "html").screenshot(str(shot))  # the page, no margin
    print("screenshot: %s" % shot)
    with open(shot, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("USRSVC_WEBPAGE_SCREENSHOT")
    if keep:
        shutil.copyfile(str(shot), keep)


def _get(base, path, headers=None, method="GET", body=None):
    import http.client

    host, port = urllib.parse.urlsplit(base).netloc.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=WAIT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_the_page_reads_without_a_browser_and_one_row_comes_alone(env, daemon, webpage):
    base, secret = webpage
    auth = {"Authorization": "Bearer " + secret}
    status, headers, body = _get(base, "/", auth)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in headers.get("Content-Security-Policy", "")
    for name in NAMES:  # every row, with its pid, in the HTML itself
        assert ('data-program="%s"' % name).encode() in body
        assert (">%d<" % env.pid_of(name)).encode() in body
    status, _, body = _get(base, "/?program=beta", auth)
    assert status == 200 and body.count(b"data-program=") == 1 and b'data-program="beta"' in body
    assert b"3 of 3 programs running" in body  # the summary still counts them all
    status, _, body = _get(base, "/")
    assert status == 401 and b"data-program" not in body
    status, _, body = _get(base, "/static/page.js", auth)
    assert status == 200 and b"/api/v1/events" in body


def test_a_button_without_the_page_csrf_token_does_nothing(env, daemon, webpage):
    base, secret = webpage
    status, _, page = _get(base, "/", {"Authorization": "Bearer " + secret})
    token = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
    pid = env.pid_of("beta")
    form = {"Authorization": "Bearer " + secret,
            "Content-Type": "application/x-www-form-urlencoded"}
    for body in ("", "csrf=", "csrf=" + token[:-1] + "x"):
        status, _, _ = _get(base, "/ui/programs/beta/stop", form, "POST", body)
        assert status == 403, body
    assert alive(pid) and env.pid_of("beta") == pid
    status, headers, _ = _get(base, "/ui/programs/beta/stop", form, "POST", "csrf=" + token)
    assert status == 303 and headers["Location"] == "/"
    assert wait_for(lambda: not alive(pid), timeout=WAIT)


def test_a_button_whose_action_fails_says_why(env, daemon, webpage):
    base, secret = webpage
    status, _, page = _get(base, "/", {"Authorization": "Bearer " + secret})
    token = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
    form = {"Authorization": "Bearer " + secret,
            "Content-Type": "application/x-www-form-urlencoded"}
    pid = env.pid_of("beta")
    status, _, _ = _get(base, "/ui/programs/beta/stop", form, "POST", "csrf=" + token)
    assert status == 303 and wait_for(lambda: not alive(pid), timeout=WAIT)
    # the buttons run usrsvc, which reads the file: a command that cannot run
    with open(env.cfg) as handle:
        text = handle.read()
    env.write(text.replace(env.service("--tag", "beta"), "/nonexistent/%s/beta" % env.token))
    status, headers, body = _get(base, "/ui/programs/beta/start", form, "POST", "csrf=" + token)
    assert status == 500 and headers["Content-Type"].startswith("text/html"), (status, body)
    assert b"start beta failed (exit 137)" in body and b"/nonexistent/" in body, body
    assert b'href="/"' in body
