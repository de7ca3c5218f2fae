"""Mutated configs for the fuzz tests: every one of them is invalid.

A Case is a small tree of files under a directory of its own: the main
config ``usrsvc.cfg`` and a ``conf.d`` config_dir. ``offending`` is the
file (relative) whose path the error must name. ``cases()`` is the fixed,
named list; ``random_cases()`` applies seeded random edits whose result may
or may not be valid (only "no traceback, problems name a file" holds).

Unreadable files: the tests run as root, for whom chmod 000 changes
nothing, so "unreadable" is a directory or a dangling symlink where a file
should be.

Hostile paths: a FIFO (reading it must not hang), and files or directories
of another user (``Foreign``: given to uid 65534 when the tests run as root,
else made world-writable, so they are refused either way).
"""

import os
import random

MAIN = "usrsvc.cfg"
DIR_FILE = "conf.d/10-app.cfg"

# Markers a case uses instead of file contents.
DIRECTORY = object()
FIFO = object()
NOBODY = 65534


class Symlink:
    def __init__(self, target):
        self.target = target


class Foreign:
    """``content`` (text or DIRECTORY) owned by another user."""

    def __init__(self, content):
        self.content = content

    def give_away(self, path):
        if os.geteuid() == 0:
            os.chown(path, NOBODY, NOBODY)
        else:
            os.chmod(path, 0o777 if self.content is DIRECTORY else 0o666)


class Case:
    def __init__(self, name, files, offending, modes=None):
        self.name = name
        self.files = files  # relpath -> str | bytes | DIRECTORY | Symlink | None (absent)
        self.offending = offending
        self.modes = modes or {}

    def build(self, root):
        """Create the files under ``root``; return the main config's path."""
        os.makedirs(os.path.join(root, "conf.d"), exist_ok=True)
        for rel, content in self.files.items():
            path = os.path.join(root, rel)
            if content is None:
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._make(path, content.content if isinstance(content, Foreign) else content)
            if isinstance(content, Foreign):
                content.give_away(path)
        for rel, mode in self.modes.items():
            os.chmod(os.path.join(root, rel), mode)
        return os.path.join(root, MAIN)

    @staticmethod
    def _make(path, content):
        if content is DIRECTORY:
            os.mkdir(path)
        elif content is FIFO:
            os.mkfifo(path, 0o644)
        elif isinstance(content, Symlink):
            os.symlink(content.target, path)
        else:
            with open(path, "wb") as handle:
                handle.write(content if isinstance(content, bytes) else content.encode())
            os.chmod(path, 0o644)

    def __repr__(self):
        return "Case(%s)" % self.name


def _program(name, extra="", **keys):
    values = {"command": "/bin/sleep 1000 %s" % name, "pidfile": "run/%s.pid" % name,
              "stdout": "logs/%s.log" % name, "success_seconds": "0.5"}
    values.update(keys)
    body = "".join("%s = %s\n" % (k, v) for k, v in values.items() if v is not None)
    return "[Program:%s]\n%s%s" % (name, body, extra)


def base_main(program=None, main_extra=""):
    return "[Main]\nconfig_dir = conf.d\n%s\n%s" % (main_extra, program or _program("A"))


ENV = "  [[Env]]\n  GREETING = hello\n"
MON = "  [[Monitoring]]\n  monitor_after = 1\n  rss_limit = 100000\n"


def base_dir(program=None, defaults=None):
    defaults = "[DefaultSettings:common]\nterm_to_kill_seconds = 2\n" if defaults is None else defaults
    return defaults + (program or _program("B", ENV + MON, defaults="common"))


def valid():
    return {MAIN: base_main(), DIR_FILE: base_dir()}


def _in_program(target, keys=None, extra=""):
    """A full file set with the target file's program carrying ``keys``/``extra``."""
    files = valid()
    if target == MAIN:
        files[MAIN] = base_main(_program("A", extra, **(keys or {})))
    else:
        merged = dict({"defaults": "common"}, **(keys or {}))
        files[DIR_FILE] = base_dir(_program("B", ENV + extra, **merged))
    return files


BAD_NUMBERS = ["abc", "-1", "-0.001", "nan", "inf", "1e400", "", "1,5", "0x10", "1 5"]
NUMBER_KEYS = ["success_seconds", "term_to_kill_seconds", "restart_delay", "restart_delay_max",
               "maxrestarts", "max_restarts"]
BOOL_KEYS = ["useshell", "enabled", "autopid", "scan_for_process", "autostart",
             "autorestart", "inherit_env", "kill_descendants"]
BAD_BOOLS = ["maybe", "2.0", "-1", "", "yess"]
BAD_REGEXES = ["(", "[a-", "*x", "(?P<", "a{2,1}", "(?<=a+)b", "\\", "(?P<n>a)(?P<n>b)"]
OTHER_BAD = [
    ("umask", "999"), ("umask", "abc"), ("umask", "-1"), ("umask", "0o1000"),
    ("stop_signal", "SIGFOO"), ("stop_signal", "0"), ("stop_signal", "999"), ("stop_signal", "-15"),
    ("email_alerts", "nobody"), ("email_alerts", "a b@example.com"),
    ("stderr", '""'), ("pidfile", '""'), ("stdout", '""'), ("command", '""'),
    ("directory", "$USRSVC_FUZZ_UNSET/x"), ("defaults", "nonexistent"),
    ("maxrestarts", "1.5"),
]
BAD_MONITORING = [
    ("monitor_after", "-1"), ("monitor_after", "x"), ("rss_limit", "1.5"), ("rss_limit", "-2"),
    ("activityfile_limit", "0"), ("activityfile_limit", "-3"), ("activityfile", '""'),
]
BAD_MAIN = [
    ("reconcile_interval", "0.1"), ("log_format", "xml"), ("smtp_port", "70000"),
    ("smtp_port", "0"), ("smtp_security", "tls"), ("alert_timeout", "0"),
    ("sendmail_path", "$USRSVC_FUZZ_UNSET"), ("pidfile", '""'), ("usrsvcd_stderr", '""'),
    ("alert_interval", "-5"),
]
UNKNOWN_KEYS = ["comand", "pid_file", "foo", "Command", "success-seconds"]


def _value_cases():
    out = []
    for target in (MAIN, DIR_FILE):
        tag = "main" if target == MAIN else "dir"
        for key in NUMBER_KEYS:
            for index, bad in enumerate(BAD_NUMBERS):
                out.append(Case("%s-%s-badnum%d" % (tag, key, index), _in_program(target, {key: bad}), target))
        for index, bad in enumerate(BAD_REGEXES):
            out.append(Case("%s-regex%d" % (tag, index), _in_program(target, {"proctitle_re": bad}), target))
        for index, (key, bad) in enumerate(OTHER_BAD):
            out.append(Case("%s-%s-bad%d" % (tag, key, index), _in_program(target, {key: bad}), target))
        for index, (key, bad) in enumerate(BAD_MONITORING):
            extra = "  [[Monitor]]\n  %s = %s\n" % (key, bad)
            out.append(Case("%s-monitor-%s-%d" % (tag, key, index), _in_program(target, extra=extra), target))
        for key in UNKNOWN_KEYS:
            out.append(Case("%s-unknown-%s" % (tag, key), _in_program(target, {key: "1"}), target))
            extra = "  [[Monitoring]]\n  %s = 1\n" % key
            out.append(Case("%s-unknown-mon-%s" % (tag, key), _in_program(target, extra=extra), target))
        for key in ("command", "pidfile", "stdout"):
            out.append(Case("%s-missing-%s" % (tag, key), _in_program(target, {key: None}), target))
        out.append(Case("%s-both-maxrestarts" % tag,
                        _in_program(target, {"maxrestarts": "1", "max_restarts": "2"}), target))
        out.append(Case("%s-both-monitor-spellings" % tag, _in_program(
            target, extra="  [[Monitor]]\n  rss_limit = 1\n  [[Monitoring]]\n  rss_limit = 2\n"), target))
        out.append(Case("%s-unknown-subsection" % tag,
                        _in_program(target, extra="  [[Envs]]\n  A = 1\n"), target))
        out.append(Case("%s-key-is-a-subsection" % tag,
                        _in_program(target, extra="  [[command]]\n  x = 1\n"), target))
    for key in BOOL_KEYS:
        for index, bad in enumerate(BAD_BOOLS):
            out.append(Case("bool-%s-%d" % (key, index), _in_program(DIR_FILE, {key: bad}), DIR_FILE))
    for index, (key, bad) in enumerate(BAD_MAIN):
        files = valid()
        files[MAIN] = base_main(main_extra="%s = %s" % (key, bad))
        out.append(Case("main-%s-%d" % (key, index), files, MAIN))
    for key in UNKNOWN_KEYS:
        files = valid()
        files[MAIN] = base_main(main_extra="%s = 1" % key)
        out.append(Case("main-section-unknown-%s" % key, files, MAIN))
        files = valid()
        files[DIR_FILE] = base_dir(defaults="[DefaultSettings:common]\n%s = 1\n" % key)
        out.append(Case("defaults-unknown-%s" % key, files, DIR_FILE))
    files = valid()
    files[DIR_FILE] = base_dir(defaults="[DefaultSettings:common]\nsuccess_seconds = -4\n")
    out.append(Case("defaults-negative-time", files, DIR_FILE))
    return out


def _broken_text(target):
    """Structural breakage of the target file's text (unbalanced brackets, duplicates...)."""
    text = valid()[target]
    header = "[Program:A]" if target == MAIN else "[Program:B]"
    label = header[1:-1]
    edits = {
        "open-bracket": text.replace(header, "[" + label),
        "double-open": text.replace(header, "[[" + label + "]"),
        "extra-close": text.replace(header, "[" + label + "]]"),
        "too-nested": text.replace(header, "[[" + label + "]]"),
        "env-unbalanced": text + "  [[Env]\n  X = 1\n" if target == DIR_FILE else text + "  [[Env]\n",
        "triple-nest": text + "  [[[Deep]]]\n  x = 1\n",
        "duplicate-section": text + "\n" + header + "\ncommand = /bin/true\n",
        "duplicate-key": text.replace("success_seconds = 0.5\n", "success_seconds = 0.5\nsuccess_seconds = 1\n", 1),
        "duplicate-env": text + ENV + ENV,
        "no-equals": text + "this line has no equals sign\n",
        "unterminated-quote": text.replace("command = /bin/sleep", 'command = "/bin/sleep', 1),
        "unterminated-triple": text + 'extra = """never closed\n',
        "mixed-quotes": text.replace("command = /bin/sleep", "command = '/bin/sleep\"", 1),
        "program-all": text + "[Program:all]\ncommand = /bin/true\npidfile = a.pid\nstdout = a.log\n",
        "only-close": "]]]\n" + text,
    }
    if target == MAIN:
        edits["duplicate-main"] = text + "[Main]\npidfile = x.pid\n"
    return edits


def _structural_cases():
    out = []
    for target in (MAIN, DIR_FILE):
        tag = "main" if target == MAIN else "dir"
        for name, text in _broken_text(target).items():
            files = valid()
            files[target] = text
            out.append(Case("%s-%s" % (tag, name), files, target))
    return out


def _garbage_cases(count=15):
    rng = random.Random(1234)
    out = []
    for target in (MAIN, DIR_FILE):
        tag = "main" if target == MAIN else "dir"
        for index in range(count):
            size = rng.choice([1, 7, 64, 512, 4096])
            data = b"\xff" + bytes(rng.randrange(256) for _ in range(size))
            files = valid()
            files[target] = data
            out.append(Case("%s-binary%d" % (tag, index), files, target))
        files = valid()
        files[target] = valid()[target].encode() + b"\0\0\0\n"
        out.append(Case("%s-nul-bytes" % tag, files, target))
        files = valid()
        files[target] = "\ufeff\ufeff[Main\u2028]\n".encode("utf-16")
        out.append(Case("%s-utf16" % tag, files, target))
    return out


def _file_cases():
    out = []
    for name, content in (("empty", ""), ("blank", " \n\t\n"), ("comments", "# nothing\n; here\n")):
        files = valid()
        files[MAIN] = content
        out.append(Case("main-" + name, files, MAIN))
    files = valid()
    files[MAIN] = DIRECTORY
    out.append(Case("main-is-a-directory", files, MAIN))
    files = valid()
    files[MAIN] = Symlink("/nonexistent/usrsvc-fuzz/usrsvc.cfg")
    out.append(Case("main-dangling-symlink", files, MAIN))
    files = valid()
    files[MAIN] = None
    out.append(Case("main-missing", files, MAIN))
    files = valid()
    files[MAIN] = Symlink(MAIN)  # a loop
    out.append(Case("main-symlink-loop", files, MAIN))
    files = valid()
    files["conf.d/20-dir.cfg"] = DIRECTORY
    out.append(Case("dir-entry-is-a-directory", files, "conf.d/20-dir.cfg"))
    files = valid()
    files["conf.d/20-dangling.cfg"] = Symlink("/nonexistent/usrsvc-fuzz/x.cfg")
    out.append(Case("dir-entry-dangling-symlink", files, "conf.d/20-dangling.cfg"))
    for name, value in (("missing", "does-not-exist"), ("a-file", "usrsvc.cfg"),
                        ("empty", '""'), ("unset-var", "$USRSVC_FUZZ_UNSET/conf.d")):
        files = valid()
        files[MAIN] = files[MAIN].replace("config_dir = conf.d", "config_dir = %s" % value)
        out.append(Case("config-dir-" + name, files, MAIN))
    files = valid()
    files[MAIN] = files[MAIN].replace("config_dir = conf.d", "config_dir = cfg-link")
    files["cfg-link"] = Symlink("/nonexistent/usrsvc-fuzz-dir")
    out.append(Case("config-dir-dangling-symlink", files, MAIN))
    out.append(Case("main-world-writable", valid(), MAIN, {MAIN: 0o666}))
    out.append(Case("dir-world-writable", valid(), "conf.d", {"conf.d": 0o777}))
    out.append(Case("dir-file-world-writable", valid(), DIR_FILE, {DIR_FILE: 0o646}))
    return out


def _hostile_path_cases():
    """What another local user could plant: symlinks to their files, FIFOs, directories
    of theirs or writable by them above the config."""
    out = []
    for name, main in (("main-is-a-fifo", FIFO), ("main-symlink-to-fifo", Symlink("pipe")),
                       ("main-symlink-to-foreign", Symlink("other/usrsvc.cfg")),
                       ("main-foreign-owned", Foreign(base_main()))):
        files = valid()
        files[MAIN] = main
        files["pipe"] = FIFO
        files["other/usrsvc.cfg"] = Foreign(base_main())
        out.append(Case(name, files, MAIN))
    for name, entry in (("dir-entry-fifo", FIFO),
                        ("dir-entry-symlink-to-foreign", Symlink("../other/evil.cfg")),
                        ("dir-entry-symlink-to-fifo", Symlink("../pipe")),
                        ("dir-entry-foreign-owned", Foreign(base_dir()))):
        files = valid()
        files["conf.d/20-planted.cfg"] = entry
        files["pipe"] = FIFO
        files["other/evil.cfg"] = Foreign(base_dir())
        out.append(Case(name, files, "conf.d/20-planted.cfg"))
    files = valid()
    files[MAIN] = files[MAIN].replace("config_dir = conf.d", "config_dir = cfg-link")
    files["cfg-link"] = Symlink("theirs")
    files["theirs"] = Foreign(DIRECTORY)
    out.append(Case("config-dir-symlink-to-foreign-dir", files, "cfg-link"))
    files = valid()
    files[MAIN] = files[MAIN].replace("config_dir = conf.d", "config_dir = shared/conf.d")
    files["shared/conf.d/10-app.cfg"] = files.pop(DIR_FILE)
    out.append(Case("config-dir-below-world-writable", files, "shared", {"shared": 0o777}))
    out.append(Case("main-below-world-writable", valid(), MAIN, {".": 0o777}))
    files = valid()
    files[MAIN] = Symlink("open/usrsvc.cfg")
    files["open/usrsvc.cfg"] = base_main().replace("config_dir = conf.d", "config_dir = ../conf.d")
    out.append(Case("main-symlink-into-world-writable", files, MAIN, {"open": 0o777}))
    return out


def cases():
    """Every fixed invalid case, in a stable order."""
    return (_value_cases() + _structural_cases() + _garbage_cases() + _file_cases()
            + _hostile_path_cases())


NOISE = ["[", "]", "[[", "]]", "=", '"', "'", "#", ",", "\n", "\0", "$", "\\", "{", "}",
         ":", "\t", "\u00e9", "\ufffd", "-", "0", "9" * 30, "(", "*"]


def random_cases(count, seed=20240601):
    """Seeded random edits of a valid config; the result may even be valid."""
    rng = random.Random(seed)
    out = []
    for index in range(count):
        target = rng.choice([MAIN, DIR_FILE])
        text = valid()[target]
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(text) + 1)
            action = rng.random()
            if action < 0.4:
                text = text[:pos] + rng.choice(NOISE) + text[pos:]
            elif action < 0.7:
                text = text[:pos] + text[pos + rng.randint(1, 8):]
            else:
                lines = text.split("\n")
                line = rng.randrange(len(lines))
                lines.insert(rng.randrange(len(lines) + 1), lines[line])
                text = "\n".join(lines)
        files = valid()
        files[target] = text
        out.append(Case("random%d" % index, files, target))
    return out
