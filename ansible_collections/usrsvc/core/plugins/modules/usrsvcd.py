#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, the usrsvc authors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: usrsvcd
short_description: Start, stop, restart the usrsvcd daemon or make it reread its configuration
version_added: "1.0.0"
description:
  - Drives the connecting user's C(usrsvcd), the optional daemon of usrsvc, either
    through C(usrsvcd) itself or through the systemd user unit C(usrsvcd.service)
    when that unit is enabled.
  - Stopping or restarting the daemon never stops a program it manages.
  - Through C(usrsvcd), C(changed) comes from the command's own answer (C(usrsvcd start)
    exits 135 when one already runs, which is no change). Through systemd, it comes
    from the unit's state as systemd reports it.
author:
  - The usrsvc authors (!UNKNOWN)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Check mode reads C(usrsvcd status) (or the unit's state) and predicts the change.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  state:
    description:
      - V(started) starts the daemon when it is not running.
      - V(stopped) stops it when it runs; the programs keep running.
      - V(restarted) stops and starts it; the programs keep running.
      - V(reread) validates the configuration and makes a running daemon apply it
        (an invalid configuration fails the task and the daemon keeps the old one;
        with no daemon running it only validates, and nothing changes).
    type: str
    choices: [started, stopped, restarted, reread]
    required: true
  use:
    description:
      - V(auto) uses the systemd user unit when C(systemctl --user is-enabled usrsvcd.service)
        says it is enabled, else C(usrsvcd).
      - V(usrsvcd) runs C(usrsvcd start|stop|restart|reread).
      - V(systemd) runs C(systemctl --user start|stop|restart|reload usrsvcd.service).
    type: str
    choices: [auto, usrsvcd, systemd]
    default: auto
  executable:
    description:
      - Path of the C(usrsvcd) command on the target.
      - Default is the first C(usrsvcd) found in C(~/.local/usrsvc/bin) (where the
        C(usrsvc.core.usrsvc_account) role installs it), C(~/.local/bin), then the E(PATH).
    type: path
  config:
    description: Main configuration file (C(usrsvcd --config)); default is usrsvc's own. Not used with O(use=systemd).
    type: path
seealso:
  - module: usrsvc.core.usrsvc
"""

EXAMPLES = r"""
- name: Run the daemon
  usrsvc.core.usrsvcd:
    state: started

- name: Apply a new program file to a running daemon
  usrsvc.core.usrsvcd:
    state: reread
"""

RETURN = r"""
message:
  description: What usrsvcd (or systemctl) said.
  returned: always
  type: str
  sample: usrsvcd started, pid 4242
via:
  description: How the daemon was driven, V(usrsvcd) or V(systemd).
  returned: always
  type: str
  sample: usrsvcd
exit_code:
  description: The exit code of the command (0 on success).
  returned: always
  type: int
  sample: 0
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.usrsvc.core.plugins.module_utils.usrsvc_cli import (
    COMMON_ARGS, base_command)

ALREADY_RUNNING = 135
UNIT = "usrsvcd.service"


def usrsvcd_changed(state, code, out):
    """Whether a usrsvcd command changed the daemon, from its own exit code and answer."""
    if state == "started":
        return code == 0
    if state == "stopped":
        return code == 0 and not out.strip().startswith("usrsvcd is not running")
    if state == "restarted":
        return code == 0
    if state == "reread":
        return code == 0 and "not running" not in out
    return False


def usrsvcd_ok(state, code):
    return code == 0 or (state == "started" and code == ALREADY_RUNNING)


def systemctl(module):
    environ = {}
    if not os.environ.get("XDG_RUNTIME_DIR"):
        environ["XDG_RUNTIME_DIR"] = "/run/user/%d" % os.getuid()
    argv = [module.get_bin_path("systemctl", required=True), "--user"]
    return argv, environ


def unit_enabled(module):
    if not module.get_bin_path("systemctl"):
        return False
    argv, environ = systemctl(module)
    code, _out, _err = module.run_command(argv + ["is-enabled", UNIT], environ_update=environ)
    return code == 0


def through_systemd(module, state):
    argv, environ = systemctl(module)
    code, _out, _err = module.run_command(argv + ["is-active", UNIT], environ_update=environ)
    active = code == 0
    wanted = {"started": not active, "stopped": active, "restarted": True, "reread": active}
    changed = wanted[state]
    verb = {"started": "start", "stopped": "stop", "restarted": "restart", "reread": "reload"}[state]
    if not changed or module.check_mode:
        module.exit_json(changed=changed, via="systemd", exit_code=0,
                         message="%s is %s" % (UNIT, "active" if active else "inactive"))
    code, out, err = module.run_command(argv + [verb, UNIT], environ_update=environ)
    if code != 0:
        module.fail_json(msg="systemctl --user %s %s failed: %s" % (verb, UNIT, (err or out).strip()),
                         exit_code=code, via="systemd")
    module.exit_json(changed=True, via="systemd", exit_code=0,
                     message="systemctl --user %s %s" % (verb, UNIT))


def through_usrsvcd(module, state):
    argv = base_command(module, "usrsvcd")
    if module.check_mode:
        code, out, _err = module.run_command(argv + ["status"])
        running = code == 0
        changed = {"started": not running, "stopped": running, "restarted": True,
                   "reread": running}[state]
        module.exit_json(changed=changed, via="usrsvcd", exit_code=0,
                         message=out.strip().splitlines()[0] if out.strip() else "")
    verb = {"started": "start", "stopped": "stop", "restarted": "restart", "reread": "reread"}[state]
    code, out, err = module.run_command(argv + [verb])
    text = "\n".join(part for part in (out.strip(), err.strip()) if part)
    if not usrsvcd_ok(state, code):
        module.fail_json(msg=text or "usrsvcd %s exited %d" % (verb, code), exit_code=code,
                         via="usrsvcd")
    module.exit_json(changed=usrsvcd_changed(state, code, out), via="usrsvcd", exit_code=0,
                     message=text)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True,
                       choices=["started", "stopped", "restarted", "reread"]),
            use=dict(type="str", default="auto", choices=["auto", "usrsvcd", "systemd"]),
            **COMMON_ARGS
        ),
        supports_check_mode=True,
    )
    use = module.params["use"]
    if use == "systemd" or (use == "auto" and unit_enabled(module)):
        through_systemd(module, module.params["state"])
    through_usrsvcd(module, module.params["state"])


if __name__ == "__main__":
    main()
