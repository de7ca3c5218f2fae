"""Exit codes: usrsvc 1.5.13's numbers, and the one map from error to code."""

SUCCESS = 0
FAILURE = 1  # general failure, e.g. ``status`` of a stopped program; usage errors
TRY_AGAIN = 11
INVALID_CONFIG = 130
INVALID_ACTION = 131
PROGRAM_DISABLED = 132
PROGRAM_UNDEFINED = 133
EXITED_UNEXPECTEDLY = 134
DAEMON_RUNNING = 135
INSUFFICIENT_PERMISSIONS = 136
FAILED_TO_LAUNCH = 137
HELP_SHOWN = 138  # kept for reference: --help exits 0 here (1.5.13 used 138)
UNKNOWN_FAILURE = 254

TABLE = (
    (SUCCESS, "success"),
    (FAILURE, "general failure (a program is not running, a stop failed, usage error)"),
    (TRY_AGAIN, "try again: another usrsvc holds the program's lock"),
    (INVALID_CONFIG, "invalid or unsafe configuration"),
    (INVALID_ACTION, "invalid action"),
    (PROGRAM_DISABLED, "program is disabled (only stop and status are allowed)"),
    (PROGRAM_UNDEFINED, "no such program in the configuration"),
    (EXITED_UNEXPECTEDLY, "exited unexpectedly (reserved, as in 1.5.13; not produced)"),
    (DAEMON_RUNNING, "usrsvcd is already running"),
    (INSUFFICIENT_PERMISSIONS, "insufficient permissions (e.g. a log file is not writable)"),
    (FAILED_TO_LAUNCH, "failed to launch (exec failed, died early, never matched)"),
    (UNKNOWN_FAILURE, "unknown failure (a bug: please report it)"),
)

_BY_KIND = {
    "failure": FAILURE,
    "usage": FAILURE,
    "tryagain": TRY_AGAIN,
    "config": INVALID_CONFIG,
    "action": INVALID_ACTION,
    "disabled": PROGRAM_DISABLED,
    "undefined": PROGRAM_UNDEFINED,
    "daemon_running": DAEMON_RUNNING,
    "permission": INSUFFICIENT_PERMISSIONS,
    "launch": FAILED_TO_LAUNCH,
    "daemon_failed": UNKNOWN_FAILURE,  # as before: usrsvcd start that never came up
}


def code_for(error):
    """The exit code for an exception (UsrsvcError or anything else)."""
    kind = getattr(error, "kind", None)
    return _BY_KIND.get(kind, UNKNOWN_FAILURE)
