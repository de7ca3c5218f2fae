#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, the usrsvc authors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: usrsvc_info
short_description: The status of usrsvc programs
version_added: "1.0.0"
description:
  - Runs the target's own C(usrsvc --json status NAME...) and returns each program's
    status (state, pid, uptime, memory, command line...), for C(when:) conditions and
    reports.
  - A program that is not running is a normal answer, not a failure.
author:
  - The usrsvc authors (!UNKNOWN)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: It only reads; it runs the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  name:
    description: The programs to report on (names, patterns, V(@group) or V(all)).
    type: list
    elements: str
    default: [all]
    aliases: [names]
  executable:
    description:
      - Path of the C(usrsvc) command on the target.
      - Default is the first C(usrsvc) found in C(~/.local/usrsvc/bin) (where the
        C(usrsvc.core.usrsvc_account) role installs it), C(~/.local/bin), then the E(PATH).
    type: path
  config:
    description: Main configuration file (C(usrsvc --config)); default is usrsvc's own.
    type: path
seealso:
  - module: usrsvc.core.usrsvc
"""

EXAMPLES = r"""
- name: Read the programs' status
  usrsvc.core.usrsvc_info:
  register: svc

- name: Say which programs are down
  ansible.builtin.debug:
    msg: "{{ svc.programs | dict2items | rejectattr('value.state', 'eq', 'running') | map(attribute='key') | list }}"

- name: Restart web when it uses too much memory
  usrsvc.core.usrsvc:
    name: web
    state: restarted
  when: svc.programs.web.rss_kb | default(0, true) > 500000
"""

RETURN = r"""
programs:
  description: usrsvc's JSON object for each program (see usrsvc's JSON output documentation), keyed by program name.
  returned: always
  type: dict
  sample:
    web:
      name: web
      state: running
      pid: 4242
      uptime_s: 12.5
      rss_kb: 20480
      cmdline: python3 -m http.server 8080
running:
  description: Names of the programs that are running.
  returned: always
  type: list
  elements: str
  sample: [web]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.usrsvc.core.plugins.module_utils.usrsvc_cli import (
    COMMON_ARGS, base_command, failure_message, names_of, run_json)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="list", elements="str", default=["all"], aliases=["names"]),
            **COMMON_ARGS
        ),
        supports_check_mode=True,
    )
    names = names_of(module.params["name"]) or ["all"]
    code, programs, err = run_json(module, base_command(module, "usrsvc") + ["--json", "status"]
                                   + names)
    if programs is None:  # not running is exit 1 with JSON; no JSON means usrsvc refused
        module.fail_json(msg=failure_message(None, err, code), exit_code=code)
    module.exit_json(changed=False, programs=dict((p["name"], p) for p in programs),
                     running=[p["name"] for p in programs if p.get("state") == "running"])


if __name__ == "__main__":
    main()
