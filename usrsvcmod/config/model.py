"""Immutable config objects: Main, Program, Monitoring, Config.

Plain slotted records (dataclasses would cost more to import than the whole
``status NAME`` hot path may spend).
"""


class Record:
    """A frozen record: set once by keyword in __init__, compared by value."""

    __slots__ = ()

    DEFAULTS = {}  # fields added after 1.x that a caller may leave out

    def __init__(self, **values):
        for name in self.__slots__:
            value = values.pop(name) if name in values or name not in self.DEFAULTS \
                else self.DEFAULTS[name]
            object.__setattr__(self, name, value)
        if values:
            raise TypeError("unknown fields: %s" % ", ".join(sorted(values)))

    def __setattr__(self, name, value):
        raise AttributeError("%s is immutable" % type(self).__name__)

    def _values(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other):
        return type(self) is type(other) and self._values() == other._values()

    def __hash__(self):
        return hash(self._values())

    def __repr__(self):
        fields = ", ".join("%s=%r" % (n, getattr(self, n)) for n in self.__slots__)
        return "%s(%s)" % (type(self).__name__, fields)

    def replace(self, **changes):
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return type(self)(**values)


class Monitoring(Record):
    __slots__ = ("monitor_after", "rss_limit", "activityfile", "activityfile_limit", "rss_scope")

    @property
    def active(self):
        return bool(self.rss_limit or self.activityfile)


class Program(Record):
    __slots__ = (
        "name", "command", "argv", "useshell", "pidfile", "stdout", "stderr",
        "enabled", "autopid", "scan_for_process", "proctitle_re", "autostart",
        "autorestart", "maxrestarts", "restart_delay", "restart_delay_max",
        "success_seconds", "term_to_kill_seconds", "inherit_env", "email_alerts",
        "directory", "umask", "stop_signal", "kill_descendants", "stdout_maxbytes",
        "stdout_backups", "stderr_maxbytes", "stderr_backups", "env",
        "monitoring", "source", "title_suffix", "proctitle_risky", "reload_signal", "group",
        "logger", "env_file", "env_pass", "env_command",
    )
    DEFAULTS = {"env_file": (), "env_pass": (), "env_command": None}

    @property
    def managed(self):
        """Whether usrsvcd has anything to do for this program."""
        return self.enabled and (self.autostart or self.autorestart)


class Main(Record):
    __slots__ = (
        "path", "config_dir", "pidfile", "usrsvcd_stdout", "usrsvcd_stderr",
        "sendmail_path", "log_format", "reconcile_interval", "monitor_interval", "alert_interval",
        "alert_timeout", "smtp_host", "smtp_port", "smtp_security", "smtp_user",
        "smtp_password_file", "email_from", "restart_on_change", "usrsvcd_log_maxbytes",
    )


class Config(Record):
    """The whole validated configuration.

    ``programs`` maps name -> Program in the order they were read;
    ``files`` lists every file read; ``warnings`` what 1.5.13 would ignore;
    ``env_used`` the environment variables its paths were expanded with.
    """

    __slots__ = ("main", "programs", "files", "warnings", "env_used")
