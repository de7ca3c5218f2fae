"""One exception family. Each error carries what a user needs to fix it."""


class UsrsvcError(Exception):
    """Base of every error usrsvc raises on purpose."""

    #: exit code family; mapped to a number in exitcodes.code_for()
    kind = "failure"

    def __init__(self, message, **fields):
        super().__init__(message)
        self.message = message
        self.fields = fields


class ConfigError(UsrsvcError):
    """One or more problems in the configuration.

    ``problems`` is a list of human lines, each naming the file, the section,
    the key, the bad value and what is expected.
    """

    kind = "config"

    def __init__(self, problems, warnings=()):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        self.warnings = list(warnings)
        super().__init__("\n".join(self.problems))


class UnsafePathError(ConfigError):
    """A config file, config dir or state dir that someone else could write."""


class InvalidAction(UsrsvcError):
    kind = "action"


class ProgramUndefined(UsrsvcError):
    kind = "undefined"


class ProgramDisabled(UsrsvcError):
    kind = "disabled"


class TryAgain(UsrsvcError):
    """A lock could not be taken in time."""

    kind = "tryagain"


class PermissionProblem(UsrsvcError):
    kind = "permission"


class LaunchError(UsrsvcError):
    """A program could not be started: exec failed, it died, or never matched."""

    kind = "launch"


class DaemonRunning(UsrsvcError):
    """usrsvcd already runs for this config; ``pid`` in fields (None if unknown)."""

    kind = "daemon_running"


class DaemonFailed(UsrsvcError):
    """A detached usrsvcd never said it was up (its report, or none, is the message)."""

    kind = "daemon_failed"


class UsageError(UsrsvcError):
    kind = "usage"
