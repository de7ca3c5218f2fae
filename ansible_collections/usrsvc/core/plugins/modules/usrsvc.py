#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, the usrsvc authors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: usrsvc
short_description: Start, stop, restart, reload or update usrsvc programs
version_added: "1.0.0"
description:
  - Runs the target's own C(usrsvc --json ACTION NAME...) as the connecting user and
    reports, for each program, what usrsvc did.
  - C(changed) comes from the action's own answer, never from a status read before
    it, so a program that died or was started meanwhile is still reported right.
    A program that is already running is C(ok) for O(state=started), not changed.
  - The module never imports usrsvc's Python package; the target may run another
    version of usrsvc than the controller.
author:
  - The usrsvc authors (!UNKNOWN)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Check mode runs C(usrsvc --json status NAME...) and predicts the change.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  name:
    description:
      - The programs to act on, as usrsvc takes them - names, shell patterns such
        as V(web*), V(@group), or V(all).
      - A comma-separated string or a list.
    type: list
    elements: str
    required: true
    aliases: [names]
  state:
    description:
      - V(started) runs C(usrsvc start) (a running program is left alone).
      - V(stopped) runs C(usrsvc stop) (a program that is not running is left alone).
      - V(restarted) runs C(usrsvc restart) (always a change).
      - V(reloaded) runs C(usrsvc reload) (sends each program its C(reload_signal)).
      - V(updated) runs C(usrsvc update) (restarts only the running programs whose
        launch settings were edited since they started).
    type: str
    choices: [started, stopped, restarted, reloaded, updated]
    required: true
  parallel:
    description: Act on all the programs at once (C(usrsvc --parallel)).
    type: bool
    default: false
  executable:
    description:
      - Path of the C(usrsvc) command on the target.
      - Default is the first C(usrsvc) found in C(~/.local/usrsvc/bin) (where the
        C(usrsvc.core.usrsvc_account) role installs it), C(~/.local/bin), then the E(PATH).
    type: path
  config:
    description: Main configuration file (C(usrsvc --config)); default is usrsvc's own (E(USRSVC_CONFIG), else C(~/usrsvc.cfg)).
    type: path
seealso:
  - module: usrsvc.core.usrsvc_info
  - module: usrsvc.core.usrsvc_program
notes:
  - Failures carry usrsvc's message and exit code (RV(exit_code)), for example 137 when
    a program fails to launch, 133 for an unknown name, 130 for an invalid configuration.
"""

EXAMPLES = r"""
- name: Start every program
  usrsvc.core.usrsvc:
    name: all
    state: started

- name: Restart only the web programs
  usrsvc.core.usrsvc:
    name: "@web"
    state: restarted

- name: Apply edited program files to what runs
  usrsvc.core.usrsvc:
    name: all
    state: updated
"""

RETURN = r"""
programs:
  description: usrsvc's JSON object for each program acted on (see usrsvc's JSON output documentation), each with a C(changed) flag added.
  returned: when usrsvc answered with JSON
  type: list
  elements: dict
  sample:
    - name: web
      state: running
      pid: 4242
      message: started
      exit_code: 0
      changed: true
changed_programs:
  description: Names of the programs the action changed (or would change, in check mode).
  returned: always
  type: list
  elements: str
  sample: [web]
exit_code:
  description: usrsvc's exit code (0 on success).
  returned: always
  type: int
  sample: 0
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.usrsvc.core.plugins.module_utils.usrsvc_cli import (
    ACTIONS, COMMON_ARGS, base_command, failure_message, names_of, predict_changed,
    program_changed, run_json)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="list", elements="str", required=True, aliases=["names"]),
            state=dict(type="str", required=True, choices=sorted(ACTIONS)),
            parallel=dict(type="bool", default=False),
            **COMMON_ARGS
        ),
        supports_check_mode=True,
    )
    state = module.params["state"]
    names = names_of(module.params["name"])
    if not names:
        module.fail_json(msg="name: give at least one program name, pattern, @group or all")
    argv = base_command(module, "usrsvc") + ["--json"]
    if module.params["parallel"] and not module.check_mode:
        argv.append("--parallel")
    if module.check_mode:
        code, programs, err = run_json(module, argv + ["status"] + names)
        if programs is None:  # status of a stopped program exits 1 with JSON; anything else failed
            module.fail_json(msg=failure_message(None, err, code), exit_code=code)
        for program in programs:
            program["changed"] = predict_changed(state, program)
        changed = [p["name"] for p in programs if p["changed"]]
        module.exit_json(changed=bool(changed), changed_programs=changed, programs=programs,
                         exit_code=0)
    code, programs, err = run_json(module, argv + [ACTIONS[state]] + names)
    for program in programs or ():
        program["changed"] = program_changed(state, program)
    changed = [p["name"] for p in programs or () if p["changed"]]
    if code != 0:
        module.fail_json(msg=failure_message(programs, err, code), exit_code=code,
                         programs=programs or [], changed=bool(changed),
                         changed_programs=changed)
    module.exit_json(changed=bool(changed), changed_programs=changed, programs=programs or [],
                     exit_code=0)


if __name__ == "__main__":
    main()
