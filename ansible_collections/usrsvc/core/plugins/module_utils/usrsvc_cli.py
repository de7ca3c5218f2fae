# -*- coding: utf-8 -*-
# Copyright (c) 2026, the usrsvc authors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Running the target's own usrsvc and reading its answers.

The modules never import usrsvcmod: the target may run another version of
usrsvc than the controller. They run its commands with ``--json`` and read
the list of program objects and the exit code it prints (see the JSON
output section of usrsvc's commands documentation). Everything that decides
``changed`` is a pure function of that output, so it is unit-tested without
a process.
"""

from __future__ import annotations

import json
import os

# usrsvc's exit codes (the numbers of usrsvc 1.5.13)
EXIT_MEANINGS = {
    0: "success",
    1: "failure",
    11: "try again: another usrsvc holds the program's lock",
    130: "invalid or unsafe configuration",
    131: "invalid action",
    132: "program disabled",
    133: "no program of that name",
    134: "exited unexpectedly",
    135: "usrsvcd is already running",
    136: "insufficient permissions",
    137: "failed to launch",
    138: "help shown",
    254: "unknown failure",
}

# module state -> usrsvc action
ACTIONS = {
    "started": "start",
    "stopped": "stop",
    "restarted": "restart",
    "reloaded": "reload",
    "updated": "update",
}

COMMON_ARGS = dict(
    executable=dict(type="path"),
    config=dict(type="path"),
)


def names_of(value):
    """The NAME words for usrsvc from a name, a comma list or a list (``all`` stays)."""
    if isinstance(value, str):
        value = value.split(",")
    return [word.strip() for word in value if word and word.strip()]


def parse_programs(stdout):
    """The program objects of a ``usrsvc --json`` answer, or None when stdout holds none
    (usrsvc printed an error to stderr instead)."""
    text = (stdout or "").strip()
    if not text.startswith("["):
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    if not isinstance(found, list) or not all(isinstance(item, dict) for item in found):
        return None
    return found


def program_changed(state, program):
    """Whether usrsvc's answer for one program says that the action changed it.

    Read from the action's own result, never from a status taken before it:
    a program that died or was started in between is then still told right.
    """
    if program.get("exit_code", 0) != 0:
        return False
    if state == "started":
        # "started" or "started pid N"; "already running" is no change
        return not str(program.get("message", "")).startswith("already running")
    if state in ("stopped", "updated"):
        # the pid a stop ended; update restarts (stop + start) only what it changes
        return program.get("stopped_pid") is not None
    if state == "restarted":
        return True
    if state == "reloaded":
        return str(program.get("message", "")).startswith("sent ")
    return False


def predict_changed(state, program):
    """check mode: whether the action would change a program, from its status."""
    running = program.get("state") == "running" and program.get("pid") is not None
    if program.get("state") == "disabled":
        return False
    if state == "started":
        return not running
    if state == "stopped":
        return running
    if state == "restarted":
        return True
    if state == "reloaded":
        return running
    if state == "updated":
        return running and bool(program.get("config_changed"))
    return False


def failure_message(programs, stderr, code):
    """One message for a failed command: each failed program's own message, else
    usrsvc's stderr, else the meaning of its exit code."""
    failed = ["%s: %s" % (p.get("name"), p.get("message")) for p in programs or ()
              if p.get("exit_code", 0) != 0]
    if failed:
        return "; ".join(failed)
    text = (stderr or "").strip()
    if text:
        return text
    return "usrsvc exited %d (%s)" % (code, EXIT_MEANINGS.get(code, "unknown exit code"))


def default_executable(module, name):
    """``name`` on the target: in ~/.local/usrsvc/bin (the role's venv), ~/.local/bin, then PATH."""
    extra = [os.path.expanduser(p) for p in ("~/.local/usrsvc/bin", "~/.local/bin")]
    return module.get_bin_path(name, required=True, opt_dirs=extra)


def base_command(module, name):
    """argv prefix: the executable and ``--config`` when given."""
    executable = module.params.get("executable") or default_executable(module, name)
    argv = [executable]
    if module.params.get("config"):
        argv += ["--config", module.params["config"]]
    return argv


def run_json(module, argv):
    """Run ``argv`` (a usrsvc --json command): (exit code, program objects or None, stderr)."""
    code, out, err = module.run_command(argv, environ_update={"LANG": "C.UTF-8"})
    return code, parse_programs(out), err
