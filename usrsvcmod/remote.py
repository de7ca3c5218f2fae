"""``usrsvc -H HOST[,...]``: one command on several hosts over the user's own ssh.

Each host runs its installed ``usrsvc`` (``--json``) through ``ssh`` with the
user's keys, agent and ~/.ssh/config; nothing of ours listens anywhere. The
answers come back as rows (one per program, or one per host that could not
answer) that the CLI prints as one table with a HOST column, or as JSON.

Nothing a user or a remote host gives reaches a shell unquoted: every word of
the remote command line (program names, the config path, option values) is
quoted with shlex, a host is one argv word of ssh (never one that starts
with "-"), and whatever the remote side prints is data (the CLI escapes it).
The one exception is the remote command itself (``--remote-command``,
``$USRSVC_REMOTE_COMMAND``): the user's own words, given to the remote shell
as they are (so ``~/.venv/bin/usrsvc`` works).

Pure parts (parsing, argv, rows, exit code) are apart from ``run_all``, which
starts the ssh processes, so they are unit-tested without a network.
"""

import shlex

from . import exitcodes
from .errors import UsageError

ACTIONS = ("status", "start", "stop", "restart", "logs")
SSH_ENV = "USRSVC_SSH"  # the ssh client's argv, shell-split (default: ssh)
REMOTE_ENV = "USRSVC_REMOTE_COMMAND"  # the usrsvc to run there (default: usrsvc)
MAX_PARALLEL = 16  # ssh connections at once
CONNECT_TIMEOUT = 10  # seconds for ssh to connect (its ConnectTimeout)
SSH_FAILED = 255  # ssh's own exit status for a connection or login failure
STDERR_LINES = 20  # of a host's error output, kept in its row


def parse_hosts(values):
    """The hosts of every ``-H`` value ("a,b,user@c"), in order, each once.

    UsageError for an empty name, one that ssh would read as an option, or one
    with spaces or control characters."""
    hosts = []
    for value in values:
        for host in value.split(","):
            host = host.strip()
            if not host:
                raise UsageError("-H expects [USER@]HOST[,...]: an empty host name in %r"
                                 % value)
            if host.startswith("-") or "@-" in host:
                raise UsageError("-H: a host name cannot start with '-' (ssh would read it"
                                 " as an option): %r" % host)
            if any(c.isspace() or not c.isprintable() for c in host):
                raise UsageError("-H: a host name cannot hold spaces or control characters:"
                                 " %r" % host)
            if host not in hosts:
                hosts.append(host)
    return hosts


def ssh_argv(environ):
    """The ssh client to run: ``$USRSVC_SSH`` split as a shell would, else ``ssh``;
    then the options every call needs (no password prompt, a bounded connect,
    a dead connection noticed). UsageError when the variable cannot be split."""
    text = environ.get(SSH_ENV) or "ssh"
    try:
        argv = shlex.split(text)
    except ValueError as error:
        raise UsageError("$%s: %s in %r" % (SSH_ENV, error, text)) from None
    if not argv:
        raise UsageError("$%s is blank; unset it, or give an ssh command" % SSH_ENV)
    return argv + ["-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % CONNECT_TIMEOUT,
                   "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]


def remote_command(given, environ):
    """The remote usrsvc: ``--remote-command``, else ``$USRSVC_REMOTE_COMMAND``,
    else ``usrsvc`` (found on the remote PATH)."""
    command = given if given is not None else environ.get(REMOTE_ENV) or "usrsvc"
    if not command.strip():
        raise UsageError("--remote-command is empty; give the usrsvc to run on the hosts,"
                         " e.g. --remote-command '~/.venv/bin/usrsvc'")
    return command.strip()


def remote_words(action, names, config=None, options=()):
    """usrsvc's arguments on a host: ``--json``, the options, then ``--`` so that no
    program name can pass for an option, then the action and the names."""
    words = ["--json"]
    if config is not None:
        words += ["--config", config]
    return words + list(options) + ["--", action] + list(names)


def command_line(command, words):
    """The one string ssh gives the remote shell: ``command`` as the user wrote
    it, then every word quoted."""
    return " ".join([command] + [shlex.quote(word) for word in words])


def ssh_call(ssh, host, line):
    """argv for one host; ``--`` ends ssh's options (the host is never one)."""
    return list(ssh) + ["--", host, line]


class HostRun:
    """What ssh gave back for one host."""

    __slots__ = ("host", "code", "stdout", "stderr")

    def __init__(self, host, code, stdout, stderr):
        self.host, self.code, self.stdout, self.stderr = host, code, stdout, stderr


def run_all(hosts, argv_for, runner=None, limit=MAX_PARALLEL):
    """Run ``argv_for(host)`` for every host, at most ``limit`` at once; HostRun
    objects in the order of ``hosts``. ``runner(argv)`` -> (code, stdout, stderr)
    is replaced in unit tests."""
    from concurrent.futures import ThreadPoolExecutor

    runner = runner or _run

    def one(host):
        code, out, err = runner(argv_for(host))
        return HostRun(host, code, out, err)

    if len(hosts) == 1:
        return [one(hosts[0])]
    with ThreadPoolExecutor(max_workers=max(1, min(limit, len(hosts)))) as pool:
        return list(pool.map(one, hosts))


def _run(argv):
    import subprocess

    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
    except OSError as error:  # no ssh client at all
        return SSH_FAILED, b"", ("cannot run %s: %s" % (argv[0], error.strerror)).encode()
    return proc.returncode, proc.stdout, proc.stderr


# rows ------------------------------------------------------------------------------------------
_NUMBERS = {"pid": int, "uptime_s": (int, float), "rss_kb": int, "rss_tree": int,
            "started_at": (int, float), "restarts": int, "next_retry": (int, float)}
_TEXTS = ("name", "state", "message", "cmdline", "pidfile", "stdout", "stderr", "reason")


class Row:
    """One program of one host, as the remote usrsvc's JSON gave it (fields of an
    unexpected type are dropped: another host may run another version), or a
    host that gave no such answer (``name`` None, state ``unreachable`` or
    ``error``). Has the attributes the CLI's table reads."""

    def __init__(self, host, fields):
        self.host = host
        self.fields = dict(fields)
        for key, kinds in _NUMBERS.items():
            value = fields.get(key)
            ok = isinstance(value, kinds) and not isinstance(value, bool)
            setattr(self, key, value if ok else None)
        for key in _TEXTS:
            value = fields.get(key)
            setattr(self, key, value if isinstance(value, str) else None)
        self.state = self.state or "unknown"
        self.message = self.message or ""
        code = fields.get("exit_code")
        self.code = code if isinstance(code, int) and not isinstance(code, bool) else \
            exitcodes.FAILURE
        notes = fields.get("notes")
        self.notes = [n for n in notes if isinstance(n, str)] if isinstance(notes, list) else []
        last_exit = fields.get("last_exit")
        self.last_exit = last_exit if isinstance(last_exit, dict) else None
        self.logger = None

    @property
    def ok(self):
        return self.code == exitcodes.SUCCESS

    def as_dict(self):
        return dict({"host": self.host}, **{k: v for k, v in self.fields.items() if k != "host"})


def host_error(run):
    """The Row of a host that gave no JSON: ssh's own failure (255: unreachable,
    refused, no login) or the remote usrsvc's (bad config, unknown program, not
    installed), with its code: the remote exit code when usrsvc knows it, else 1."""
    text = _tail(run.stderr) or _tail(run.stdout) or "exited with status %s and said nothing" \
        % run.code
    if run.code == SSH_FAILED:
        state, message = "unreachable", "ssh: " + text if not text.startswith("ssh") else text
    else:
        state, message = "error", text
        if run.code == 127:
            message += ("\n(exit 127: the remote shell found no such command; install usrsvc"
                        " on that host, or name it with --remote-command or $%s)" % REMOTE_ENV)
    code = run.code if run.code in _KNOWN and run.code != exitcodes.SUCCESS else exitcodes.FAILURE
    return Row(run.host, {"name": None, "state": state, "message": message, "exit_code": code})


_KNOWN = {code for code, _ in exitcodes.TABLE}


def _tail(data):
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-STDERR_LINES:])


def _decode(data):
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")


def rows_of(run):
    """(rows, warnings, code) of one host: its programs' rows and what its usrsvc
    said on stderr when it answered with JSON; else one error row."""
    import json

    try:
        answer = json.loads(_decode(run.stdout))
    except ValueError:
        answer = None
    if not isinstance(answer, list) or not all(isinstance(item, dict) for item in answer) \
            or run.code == SSH_FAILED:
        row = host_error(run)
        return [row], [], row.code
    warnings = [_unprefixed(line) for line in _decode(run.stderr).splitlines() if line.strip()]
    return [Row(run.host, item) for item in answer], warnings, _code(run.code)


def log_lines_of(run):
    """(lines, problems, code) of one host's ``usrsvc --json logs``: its line
    objects (each with ``host``), what it said on stderr, and its code; a host
    that did not answer is one problem."""
    import json

    lines = []
    for text in _decode(run.stdout).splitlines():
        try:
            item = json.loads(text)
        except ValueError:
            continue
        if isinstance(item, dict):
            lines.append(dict({"host": run.host}, **{k: v for k, v in item.items()
                                                      if k != "host"}))
    if run.code in (SSH_FAILED, 127):  # no usrsvc answered: unreachable, or not installed
        row = host_error(run)
        return lines, [row.message], row.code
    problems = [_unprefixed(line) for line in _decode(run.stderr).splitlines() if line.strip()]
    return lines, problems, _code(run.code)


def _unprefixed(line):
    return line[len("usrsvc: "):] if line.startswith("usrsvc: ") else line


def _code(code):
    return code if code in _KNOWN else exitcodes.FAILURE


def exit_code(codes):
    """The usual rule over every host: 0 if all succeeded; else the code the
    failures share; else 1."""
    failed = {code for code in codes if code != exitcodes.SUCCESS}
    if not failed:
        return exitcodes.SUCCESS
    return failed.pop() if len(failed) == 1 else exitcodes.FAILURE
