"""Immutable config objects: Main, Program, Monitoring, Config.

Plain slotted records (dataclasses would cost more to import than the whole
``status NAME`` hot path may spend).
"""


_SHARED = {}  # see Record.shared


class Record:
    """A frozen record: set once by keyword in __init__, compared by value."""

    __slots__ = ()
    OPTIONAL = {}  # field -> its value when not given (fields added after 1.5.13's)

    def __init__(self, **values):
        for name in self.__slots__:
            value = values.pop(name) if name in values or name not in self.OPTIONAL \
                else self.OPTIONAL[name]
            object.__setattr__(self, name, value)
        if values:
            raise TypeError("unknown fields: %s" % ", ".join(sorted(values)))

    def __setattr__(self, name, value):
        raise AttributeError("%s is immutable" % type(self).__name__)

    @classmethod
    def _from_values(cls, values):
        """From every field's value in slot order (the config cache, which checked
        them): without __init__'s keyword handling, a tenth of its cost."""
        record = object.__new__(cls)
        for name, value in zip(cls.__slots__, values):
            object.__setattr__(record, name, value)
        return record

    def _values(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other):
        return type(self) is type(other) and self._values() == other._values()

    def __hash__(self):
        return hash(self._values())

    def __repr__(self):
        fields = ", ".join("%s=%r" % (n, getattr(self, n)) for n in self.__slots__)
        return "%s(%s)" % (type(self).__name__, fields)

    @classmethod
    def shared(cls, **values):
        """An equal record made before, if any, else this one: 10,000 programs with
        the default [[Hooks]] and monitoring hold one copy of each, not 10,000."""
        record = cls(**values)
        if len(_SHARED) > 4096:  # distinct values (a hook command per program): no gain
            _SHARED.clear()
        try:
            return _SHARED.setdefault(record, record)
        except TypeError:  # an unhashable value: keep this one
            return record

    def replace(self, **changes):
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return type(self)(**values)


class Monitoring(Record):
    __slots__ = ("monitor_after", "rss_limit", "activityfile", "activityfile_limit", "rss_scope")

    @property
    def active(self):
        return bool(self.rss_limit or self.activityfile)


class Hooks(Record):
    """[[Hooks]]: a shell command per moment (None: none), and their time limit."""

    __slots__ = ("pre_start", "post_start", "pre_stop", "post_stop", "timeout")

    def command(self, which):
        return getattr(self, which)


class Probe(Record):
    """One [[Readiness]] or [[Liveness]]: ``kind`` (tcp, http, exec, file, log,
    notify) and its ``target``; times in seconds. Readiness leaves ``failures``
    and ``after`` at 0; liveness leaves ``timeout`` at 0."""

    __slots__ = ("section", "kind", "target", "http_status", "interval", "probe_timeout",
                 "timeout", "failures", "after")


class Program(Record):
    __slots__ = (
        "name", "command", "argv", "useshell", "pidfile", "stdout", "stderr",
        "enabled", "autopid", "scan_for_process", "proctitle_re", "autostart",
        "autorestart", "maxrestarts", "restart_delay", "restart_delay_max",
        "success_seconds", "term_to_kill_seconds", "inherit_env", "email_alerts",
        "directory", "umask", "stop_signal", "kill_descendants", "stdout_maxbytes",
        "stdout_backups", "stderr_maxbytes", "stderr_backups", "env",
        "monitoring", "source", "title_suffix", "proctitle_risky", "reload_signal", "group",
        "logger", "restart_every", "hooks", "readiness", "liveness",
        "type", "timeout", "requires", "env_file", "env_pass", "env_command",
    )
    OPTIONAL = {"restart_every": 0.0,
                "hooks": Hooks(pre_start=None, post_start=None, pre_stop=None, post_stop=None,
                               timeout=30.0),
                "readiness": None, "liveness": None,  # Probe or None
                "env_file": (), "env_pass": (), "env_command": None,
                "type": "service", "timeout": 300.0, "requires": ()}

    @property
    def managed(self):
        """Whether usrsvcd has anything to do for this program."""
        return self.enabled and (self.autostart or self.autorestart)

    @property
    def oneshot(self):
        return self.type == "oneshot"


class Main(Record):
    __slots__ = (
        "path", "config_dir", "pidfile", "usrsvcd_stdout", "usrsvcd_stderr",
        "sendmail_path", "log_format", "reconcile_interval", "monitor_interval", "alert_interval",
        "alert_timeout", "smtp_host", "smtp_port", "smtp_security", "smtp_user",
        "smtp_password_file", "email_from", "restart_on_change", "usrsvcd_log_maxbytes",
        "http_listen", "http_token_file", "http_password_hash", "http_allow_remote",
        "http_tls_cert", "http_tls_key", "ready_file",
    )


class Config(Record):
    """The whole validated configuration.

    ``programs`` maps name -> Program in the order they were read;
    ``files`` lists every file read; ``warnings`` what 1.5.13 would ignore;
    ``env_used`` the environment variables its paths were expanded with;
    ``digests``: name -> launch digests (proc.record.digests) the config cache
    worked out when it was written, a hint that is no part of the config (not
    compared); None after a parse.
    """

    __slots__ = ("main", "programs", "files", "warnings", "env_used", "digests")
    OPTIONAL = {"digests": None}

    def _values(self):
        return (self.main, self.programs, self.files, self.warnings, self.env_used)
