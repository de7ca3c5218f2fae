"""What usrsvc status adds from usrsvcd's snapshot (actions.with_daemon), without processes."""

import os

from usrsvcmod.actions import Result, with_daemon
from usrsvcmod.proc.procfs import ProcInfo

from test_record import program


def entry(**changes):
    values = {"state": "backoff", "restarts": 2, "last_exit": {"code": None, "signal": 15},
              "reason": "killed by signal 15 (SIGTERM)", "next_retry": 1796076881.0, "pid": None}
    values.update(changes)
    return values


def test_a_planned_start_is_shown_while_the_program_is_down():
    result = Result(program(), "stopped", None, "not running")
    with_daemon(result, entry())
    assert result.next_retry == 1796076881.0
    assert result.state == "backoff" and result.restarts == 2


def test_no_planned_start_is_shown_for_a_program_that_runs():
    """usrsvc restart while usrsvcd waited to restart it: status shows the new
    process, not 'next start at' from usrsvcd's snapshot of a moment ago."""
    me = ProcInfo(os.getpid(), os.getppid(), os.getsid(0), "S", 1700000000.0, os.geteuid(),
                  ["python3", "-m", "http.server"])
    result = Result(program(), "running", me, "running")
    with_daemon(result, entry())
    assert result.next_retry is None
    assert result.state == "running" and result.restarts == 2
