"""Every config key: its converter and its default.

A converter takes the raw string (and a Context saying which file set it)
and returns the typed value, or raises ValueError whose text says what is
expected. Nothing here touches the filesystem except to expand paths.
"""

import os
import re

_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}
_VAR = re.compile(r"\$(\w+|\{[^}]*\})")


class Context:
    """Where a value came from: relative paths resolve against ``base_dir``."""

    __slots__ = ("file", "base_dir", "env_used")

    def __init__(self, file):
        self.file = file
        self.base_dir = os.path.dirname(os.path.abspath(file))
        self.env_used = set()  # $VARS the values depend on (config cache key)


def to_bool(value, ctx=None):
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text.isdigit():  # 1.5.13 reads booleans as bool(int(v))
        return bool(int(text))
    raise ValueError("expected a boolean: true/false, yes/no, on/off or a number")


def _number(value, kind, minimum, maximum):
    try:
        number = kind(value.strip())
    except ValueError:
        raise ValueError("expected %s" % _describe(kind, minimum, maximum)) from None
    if number != number or number < minimum or (maximum is not None and number > maximum):
        raise ValueError("expected %s" % _describe(kind, minimum, maximum))
    return number


def _describe(kind, minimum, maximum):
    noun = "a whole number" if kind is int else "a number of seconds (fractions allowed)"
    if maximum is None:
        return "%s >= %s" % (noun, minimum)
    return "%s between %s and %s" % (noun, minimum, maximum)


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)")


def _duration(value, minimum, maximum):
    """Seconds from a plain number (1.5.13's form) or from units: 30s, 5m, 1h30m,
    1.5h, 250ms, 2d. ValueError says what is expected."""
    text_value = value.strip().lower().replace(" ", "")
    try:
        float(text_value)
    except ValueError:
        pass
    else:
        return _number(value, float, minimum, maximum)
    total, position = 0.0, 0
    for match in _DURATION.finditer(text_value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if not text_value or position != len(text_value) or total < minimum or total > maximum:
        raise ValueError("expected a number of seconds, or a duration with units (30s, 5m,"
                         " 1h30m, 250ms), between %s and %s"
                         % (_plain_number(minimum), _plain_number(maximum)))
    return total


def _plain_number(number):
    return ("%d" % number) if float(number).is_integer() else repr(number)


def seconds(minimum=0.0, maximum=10 ** 7):
    """Seconds, plain (1.5.13) or with units (30s, 5m, 1h30m)."""
    return lambda value, ctx=None: _duration(value, minimum, maximum)


def integer(minimum=0, maximum=2 ** 62):
    return lambda value, ctx=None: _number(value, int, minimum, maximum)


_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}


def duration(minimum=0.0, maximum=10 ** 7):
    """Seconds from ``30s``, ``5m``, ``1h30m``, ``1d`` or a plain number of seconds."""
    def convert(value, ctx=None):
        text_value = value.strip().lower().replace(" ", "")
        try:
            return _number(text_value, float, minimum, maximum)
        except ValueError:
            pass
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)", text_value)
        total = sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)
        if not parts or "".join(n + u for n, u in parts) != text_value \
                or not minimum <= total <= maximum:
            raise ValueError("expected a duration between %gs and %gs: seconds, or with units"
                             " as in 30s, 5m, 1h30m, 2d" % (minimum, maximum))
        return total

    return convert


def _every(value):
    """restart_every: 0 (off) or at least a second (a restart loop is not a plan)."""
    number = duration(0.0, 10 ** 8)(value)
    if 0 < number < 1:
        raise ValueError("expected 0 (off) or a duration of at least 1s, e.g. 6h or 1d")
    return number


def positive_seconds(value, ctx=None):
    number = _duration(value, 0.0, 10 ** 7)
    if number <= 0:
        raise ValueError("expected a number of seconds greater than 0 (units allowed: 30s, 5m)")
    return number


def expand_path(value, ctx):
    """``~``, ``$VARS`` and paths relative to the directory of the setting file."""
    text = value.strip()
    if not text:
        raise ValueError("expected a path, got an empty value")
    if "\0" in text:
        raise ValueError("expected a path without NUL bytes")
    if text[0] == "/" and "$" not in text and "/." not in text and "//" not in text \
            and not text.endswith("/"):
        return text  # already absolute and normal: the common case, kept cheap
    for match in _VAR.finditer(text):
        name = match.group(1).strip("{}")
        if ctx is not None:
            ctx.env_used.add(name)
        if name not in os.environ:
            raise ValueError("expected a path: environment variable $%s is not set" % name)
    text = os.path.expanduser(os.path.expandvars(text))
    if not os.path.isabs(text):
        text = os.path.join(ctx.base_dir, text)
    return os.path.normpath(text)


def path_or_stdout(value, ctx):
    if value.strip().lower() == "stdout":
        return "stdout"
    return expand_path(value, ctx)


def log_path(value, ctx):
    """A log file, or ``-``: the program's output piped to usrsvcd's own
    stdout, which only ``usrsvcd --init`` can give (it is then the parent)."""
    if value.strip() == "-":
        return "-"
    return expand_path(value, ctx)


def log_path_or_stdout(value, ctx):
    if value.strip() == "-":
        return "-"
    return path_or_stdout(value, ctx)


def path_or_auto(value, ctx):
    if value.strip().lower() in ("", "auto"):
        return "auto"
    return expand_path(value, ctx)


def text(value, ctx=None):
    if "\0" in value:
        raise ValueError("expected text without NUL bytes")
    return value


def nonempty_text(value, ctx=None):
    value = text(value).strip()
    if not value:
        raise ValueError("expected a non-empty value")
    return value


def regex(value, ctx=None):
    value = text(value)
    if not value.strip():
        return None  # empty means "use the default built from the command"
    try:
        re.compile(value)
    except (re.error, OverflowError, RecursionError) as err:
        raise ValueError("expected a valid regular expression (%s)" % err) from None
    return value


def umask(value, ctx=None):
    text_value = value.strip().lower()
    if text_value.startswith("0o"):
        text_value = text_value[2:]
    if not text_value or any(c not in "01234567" for c in text_value) or int(text_value, 8) > 0o777:
        raise ValueError("expected an octal umask between 000 and 777, e.g. 022")
    return int(text_value, 8)


def signal_number(value, ctx=None):
    import signal

    name = value.strip().upper()
    if name.isdigit():
        number = int(name)
        if number in signal.valid_signals() and number not in (0,):
            return number
        raise ValueError("expected a signal name or number, e.g. TERM, INT, QUIT, 15")
    if not name.startswith("SIG"):
        name = "SIG" + name
    sig = getattr(signal.Signals, name, None) if name.isidentifier() else None
    if sig is None:
        raise ValueError("expected a signal name or number, e.g. TERM, INT, QUIT, 15")
    return int(sig)


def group_name(value, ctx=None):
    """The NAME of ``group = NAME`` (``usrsvc restart @NAME``): one word a shell
    passes through unquoted, so no white space, pattern characters or '@'."""
    name = value.strip()
    if not name:
        raise ValueError("expected a group name, e.g. web")
    bad = next((c for c in name if c.isspace() or c in "*?[]@,'\"\\" or _is_control(c)), None)
    if bad is not None:
        raise ValueError("expected a group name of letters, digits, '-', '_' or '.'"
                         " (found %r)" % bad)
    return name


def addresses(value, ctx=None):
    items = value if isinstance(value, list) else value.split(",")
    found = tuple(a.strip() for a in items if a.strip())
    for address in found:
        if "@" not in address or any(c.isspace() for c in address):
            raise ValueError("expected an email address or a comma list of them")
    return found


def choice(*options):
    def convert(value, ctx=None):
        low = value.strip().lower()
        if low not in options:
            raise ValueError("expected one of: %s" % ", ".join(options))
        return low

    return convert


_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def size(value, ctx=None):
    """Bytes: a plain number, or one with K, M, G or T (powers of 1024; a
    trailing B or iB is allowed: 512K, 100MB, 2GiB). 0 means off."""
    text_value = value.strip().upper().replace(" ", "")
    for suffix in ("IB", "B"):
        if text_value.endswith(suffix) and text_value[:-len(suffix)][-1:] in "KMGT" \
                and len(text_value) > len(suffix):
            text_value = text_value[:-len(suffix)]
            break
    unit = text_value[-1:] if text_value[-1:] in _SIZE_UNITS else ""
    number = text_value[:-1] if unit else text_value
    try:
        amount = float(number) if "." in number else int(number)
    except ValueError:
        amount = -1
    if not number or amount != amount or amount < 0 or amount * _SIZE_UNITS[unit] > 2 ** 62:
        raise ValueError("expected a size in bytes: a whole number, or one with K, M or G"
                         " (e.g. 512K, 100M, 2G); 0 means off")
    return int(amount * _SIZE_UNITS[unit])


def kib(value, ctx=None):
    """KiB, as rss_limit always counted them: a plain number is KiB (1.5.13), a
    number with K, M, G or T is converted (100M = 102400)."""
    text_value = value.strip()
    if text_value.isdigit():
        return _number(text_value, int, 0, 2 ** 52)
    try:
        if not text_value[-1:].isalpha():
            raise ValueError(text_value)  # a plain number is whole KiB: no fraction, no sign
        return -(-size(text_value) // 1024)  # a partial KiB counts as one
    except ValueError:
        raise ValueError("expected a whole number of KiB, or a size with K, M or G"
                         " (e.g. 512000, 500M, 2G); 0 means off") from None


def env_files(value, ctx):
    """``env_file = PATH[, PATH...]``: paths in order; a leading ``-`` marks a file that
    may be missing. Kept as ``-/abs/path`` (an absolute path never starts with '-')."""
    items = [item.strip() for item in (value if isinstance(value, list) else value.split(","))]
    found = []
    for item in items:
        optional = item.startswith("-")
        path = item[1:].strip() if optional else item
        if not path:
            raise ValueError("expected a comma list of paths, each maybe marked optional"
                             " with a leading '-' (e.g. ~/app.env, -~/app.local.env)")
        found.append(("-" if optional else "") + expand_path(path, ctx))
    return tuple(found)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def env_names(value, ctx=None):
    """``env_pass = NAME, NAME...``: environment variable names."""
    items = value if isinstance(value, list) else value.split(",")
    found = tuple(item.strip() for item in items if item.strip())
    bad = [name for name in found if not _ENV_NAME.match(name)]
    if bad or not found:
        raise ValueError("expected a comma list of environment variable names (letters,"
                         " digits and '_', not starting with a digit), e.g. LANG, TZ, PATH")
    return found


def port(value, ctx=None):
    return _number(value, int, 1, 65535)


# A program's name names its files in the runtime state directory:
# ``<quoted name>.<kind>``, written through a temp file ``.<that>.<12 hex>.tmp``
# (atomic.py). 255 bytes (NAME_MAX) - 8 (".stopped", the longest kind) - 18
# (the temp file's additions) leaves 229; 200 keeps room for a prefix.
MAX_NAME_BYTES = 200


def _file_name_bytes(name):
    """Bytes of ``name`` once quoted for a file name (state.py: '%' and '/' become 3)."""
    quoted = name.replace("%", "%25").replace("/", "%2F")
    return len(quoted.encode("utf-8", "surrogatepass"))


def _is_control(char):
    return char < " " or "\x7f" <= char <= "\x9f" or char in "\u2028\u2029"


def section_name(value, ctx=None):
    """The NAME of [Program:NAME] or [DefaultSettings:NAME]; ValueError says what is wrong
    and what is expected. 1.5.13 took any text: every name it took that can name a file
    is still taken (spaces, dots, '/', non-ASCII letters...)."""
    if not value:
        raise ValueError("the name is empty; expected 1 to %d characters" % MAX_NAME_BYTES)
    if value in (".", ".."):
        raise ValueError("'%s' names a directory, not a program; expected any other name"
                         % value)
    if value != value.strip():
        raise ValueError("the name starts or ends with white space; expected it without")
    control = next((c for c in value if _is_control(c)), None)
    if control is not None:
        raise ValueError("the name holds the control character %r; expected printable"
                         " characters only" % control)
    size = _file_name_bytes(value)
    if size > MAX_NAME_BYTES:
        raise ValueError("the name takes %d bytes as a file name; expected at most %d (as many"
                         " ASCII characters; '%%' and '/' count 3, other non-ASCII characters 2"
                         " to 4)" % (size, MAX_NAME_BYTES))
    return value


REQUIRED = object()

# key: (converter, default). A default of REQUIRED means the key must be set.
PROGRAM_KEYS = {
    "command": (nonempty_text, REQUIRED),
    "pidfile": (expand_path, REQUIRED),
    "stdout": (log_path, REQUIRED),
    "stderr": (log_path_or_stdout, "stdout"),
    "useshell": (to_bool, False),
    "enabled": (to_bool, True),
    "autopid": (to_bool, True),
    "scan_for_process": (to_bool, True),
    "proctitle_re": (regex, None),
    "autostart": (to_bool, True),
    "autorestart": (to_bool, True),
    "maxrestarts": (integer(0), 0),
    "restart_delay": (seconds(), 0.0),
    "restart_delay_max": (seconds(), 60.0),
    "success_seconds": (seconds(0.0, 86400), 2.0),
    "term_to_kill_seconds": (seconds(0.0, 86400), 8.0),
    "inherit_env": (to_bool, True),
    "email_alerts": (addresses, ()),
    "directory": (expand_path, None),  # None: $HOME
    "umask": (umask, None),  # None: inherit the caller's
    "stop_signal": (signal_number, 15),
    "kill_descendants": (to_bool, True),
    "stdout_maxbytes": (size, 0),  # 0: never rotated (1.5.13)
    "stdout_backups": (integer(0, 1000), 10),
    "stderr_maxbytes": (size, 0),
    "stderr_backups": (integer(0, 1000), 10),
    "reload_signal": (signal_number, 1),
    "group": (group_name, None),
    "logger": (nonempty_text, None),  # None: the program writes its own log files
    "restart_every": (lambda value, ctx=None: _every(value), 0.0),  # 0: never
    "type": (choice("service", "oneshot"), "service"),
    "timeout": (positive_seconds, 300.0),  # a oneshot's longest run
    "env_file": (env_files, ()),
    "env_pass": (env_names, ()),
}
# [[Requires]] NAME = condition (deps.py says what each one means)
REQUIRE_CONDITIONS = ("started", "ready", "done", "exited")
# Accepted spellings of a key (1.5.13's README says max_restarts).
ALIASES = {"max_restarts": "maxrestarts"}

MONITOR_KEYS = {
    "monitor_after": (seconds(), 30.0),
    "rss_limit": (kib, 0),
    "activityfile": (expand_path, None),
    "activityfile_limit": (positive_seconds, 120.0),
    "rss_scope": (choice("process", "tree"), "process"),
}
MONITOR_SECTIONS = ("Monitoring", "Monitor")

# [[Hooks]]: commands run around a program's start and stop (proc/hooks.py)
HOOK_KEYS = {
    "pre_start": (nonempty_text, None),
    "post_start": (nonempty_text, None),
    "pre_stop": (nonempty_text, None),
    "post_stop": (nonempty_text, None),
    "timeout": (duration(0.1, 86400), 30.0),
}

# [[EnvCommand]]: a command whose KEY=VALUE output joins the environment at each start
ENV_COMMAND_KEYS = {
    "command": (nonempty_text, REQUIRED),
    "timeout": (positive_seconds, 30.0),
}

def listen_address(value, ctx=None):
    """HOST:PORT for usrsvcd's TCP listener ([::1]:9001 for IPv6; port 0: any free one)."""
    text_value = value.strip()
    host, sep, number = text_value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or any(c.isspace() for c in host) or not number.isdigit() \
            or int(number) > 65535:
        raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:9001 or [::1]:9001")
    return text_value


def password_hash(value, ctx=None):
    """scrypt$N$r$p$SALT$HASH, as `usrsvcd passwd` prints it."""
    import base64

    parts = value.strip().split("$")
    try:
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError
        n, r, p = (int(x) for x in parts[1:4])
        base64.b64decode(parts[4], validate=True)
        base64.b64decode(parts[5], validate=True)
        if not (2 <= n <= 1 << 20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
            raise ValueError
    except ValueError:
        raise ValueError("expected a hash printed by `usrsvcd passwd` (scrypt$N$r$p$SALT$HASH)")\
            from None
    return value.strip()


def is_loopback(host):
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


MAIN_KEYS = {
    "config_dir": (expand_path, None),
    "pidfile": (expand_path, None),
    "usrsvcd_stdout": (expand_path, None),
    "usrsvcd_stderr": (path_or_stdout, None),
    "sendmail_path": (path_or_auto, "auto"),
    "log_format": (choice("text", "json"), "text"),
    "reconcile_interval": (seconds(0.5, 86400), 15.0),
    "monitor_interval": (seconds(0.1, 86400), 5.0),
    "alert_interval": (seconds(), 300.0),
    "alert_timeout": (positive_seconds, 20.0),
    "smtp_host": (nonempty_text, None),
    "smtp_port": (port, None),
    "smtp_security": (choice("none", "starttls", "ssl"), "none"),
    "smtp_user": (nonempty_text, None),
    "smtp_password_file": (expand_path, None),
    "email_from": (nonempty_text, None),
    "restart_on_change": (to_bool, False),
    "usrsvcd_log_maxbytes": (size, 0),  # 0: never rotated
    "http_listen": (listen_address, None),
    "http_token_file": (expand_path, None),
    "http_password_hash": (password_hash, None),
    "http_allow_remote": (to_bool, False),
    "http_tls_cert": (expand_path, None),
    "http_tls_key": (expand_path, None),
    "ready_file": (expand_path, None),
}


# -- [[Readiness]] and [[Liveness]] (issue 12 §1-2) -------------------------------------
def host_port(value, ctx=None):
    """HOST:PORT for a tcp probe ([::1]:80 for IPv6)."""
    text_value = value.strip()
    host, sep, number = text_value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or any(c.isspace() for c in host):
        raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:8000")
    port(number)
    return text_value


def http_url(value, ctx=None):
    text_value = value.strip()
    low = text_value.lower()
    if not (low.startswith("http://") or low.startswith("https://")) or len(text_value) < 9 \
            or any(c.isspace() for c in text_value):
        raise ValueError("expected an http:// or https:// URL, e.g. http://127.0.0.1:8000/health")
    return text_value


def http_statuses(value, ctx=None):
    """Accepted HTTP statuses: '200-399', '200, 204', '2xx'... -> ((low, high), ...)."""
    items = value if isinstance(value, list) else value.split(",")
    ranges = []
    for item in (i.strip().lower() for i in items):
        low, _, high = item.partition("-")
        if len(item) == 3 and item.endswith("xx") and item[0] in "12345":
            low, high = item[0] + "00", item[0] + "99"
        try:
            pair = (int(low), int(high or low))
        except ValueError:
            pair = (0, 0)
        if not (100 <= pair[0] <= pair[1] <= 599):
            raise ValueError("expected HTTP statuses: codes or ranges, e.g. 200-399, 204, 2xx")
        ranges.append(pair)
    if not ranges:
        raise ValueError("expected HTTP statuses: codes or ranges, e.g. 200-399, 204, 2xx")
    return tuple(ranges)


def notify_flag(value, ctx=None):
    if not to_bool(value):
        raise ValueError("expected yes (notify = no is the same as leaving it out)")
    return "yes"


def log_regex(value, ctx=None):
    if regex(value) is None:
        raise ValueError("expected a regular expression matching the program's ready line")
    return value


PROBE_KINDS = {  # one of these per [[Readiness]] or [[Liveness]]
    "tcp": host_port, "http": http_url, "exec": nonempty_text, "file": expand_path,
    "log": log_regex, "notify": notify_flag,
}
_PROBE_COMMON = {"http_status": (http_statuses, ((200, 399),)),
                 "probe_timeout": (duration(0.001, 86400), 2.0)}
READINESS_KEYS = dict({k: (c, None) for k, c in PROBE_KINDS.items()}, **_PROBE_COMMON,
                      interval=(duration(0.01, 86400), 1.0), timeout=(duration(0.01), 60.0))
LIVENESS_KEYS = dict({k: (c, None) for k, c in PROBE_KINDS.items() if k != "notify"},
                     **_PROBE_COMMON, interval=(duration(0.01, 86400), 10.0),
                     failures=(integer(1, 10000), 3), after=(duration(), None))
PROBE_SECTIONS = {"Readiness": READINESS_KEYS, "Liveness": LIVENESS_KEYS}
