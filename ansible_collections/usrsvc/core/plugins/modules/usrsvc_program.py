#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, the usrsvc authors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: usrsvc_program
short_description: Declare a usrsvc program as data
version_added: "1.0.0"
description:
  - Writes (or removes) one file, C(<config_dir>/<name>.cfg), holding one
    C([Program:NAME]) section of usrsvc's configuration, atomically and with mode 0600.
  - The whole configuration is then validated with the target's own
    C(usrsvc checkconfig). When usrsvc refuses it, the previous file is put back
    (or the new one removed) and the task fails with usrsvc's message, which names
    the file, the section, the key and what is expected.
  - C(changed) is reported only when the file's content (or its mode) changed. The
    program itself is not started or restarted; use M(usrsvc.core.usrsvc), for example
    from a handler, to apply the change.
  - The same options always give the same file, byte for byte, so a second run
    changes nothing.
author:
  - The usrsvc authors (!UNKNOWN)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: In check mode nothing is written, and the new content is not validated.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
options:
  name:
    description: The program's name (C([Program:NAME])) and the file's base name.
    type: str
    required: true
  state:
    description:
      - V(present) writes the program's file; V(absent) removes it.
      - Removing the file does not stop the program; stop it first with M(usrsvc.core.usrsvc).
    type: str
    choices: [present, absent]
    default: present
  command:
    description: The command line (usrsvc's C(command) key). Required when O(state=present).
    type: str
  pidfile:
    description: Where usrsvc keeps the program's pid (C(pidfile)). Default C(~/run/NAME.pid).
    type: str
  stdout:
    description: The program's output file (C(stdout)). Default C(~/logs/NAME.log).
    type: str
  stderr:
    description: Its error output, a path or V(stdout) (C(stderr)); usrsvc's default is V(stdout).
    type: str
  directory:
    description: The program's working directory (C(directory)); usrsvc's default is the home directory.
    type: str
  useshell:
    description: Run the command through C(/bin/sh -c) (C(useshell)).
    type: bool
  enabled:
    description: Whether the program may be started (C(enabled)).
    type: bool
  autostart:
    description: Whether usrsvcd starts it when it first sees it down (C(autostart)).
    type: bool
  autorestart:
    description: Whether usrsvcd restarts it when it exits (C(autorestart)).
    type: bool
  group:
    description: The program's group, for C(usrsvc restart @GROUP) (C(group)).
    type: str
  type:
    description: V(service) or V(oneshot) (C(type)).
    type: str
    choices: [service, oneshot]
  settings:
    description:
      - Any other key of a C([Program:NAME]) section, as a mapping of key to value (for
        example C(success_seconds), C(stop_signal), C(restart_delay), C(proctitle_re), C(env_file)).
      - Booleans are written as V(true)/V(false), lists joined with commas. usrsvc
        validates every key; C(usrsvc checkconfig --keys) lists them.
    type: dict
    default: {}
  env:
    description: The program's environment variables (its C([[Env]]) subsection).
    type: dict
    default: {}
  monitoring:
    description: Its C([[Monitoring]]) subsection (C(rss_limit), C(activityfile), C(monitor_after)...).
    type: dict
    default: {}
  ready:
    description: Its C([[Readiness]]) subsection (for example C(tcp), C(http), C(timeout)), which C(usrsvc start) waits for.
    type: dict
    default: {}
  health:
    description: Its C([[Liveness]]) subsection (the same probes, C(failures), C(interval)), which usrsvcd checks.
    type: dict
    default: {}
  requires:
    description: Its C([[Requires]]) subsection, each required program's name mapped to V(started), V(ready), V(done) or V(exited).
    type: dict
    default: {}
  hooks:
    description: Its C([[Hooks]]) subsection (C(pre_start), C(post_start), C(pre_stop), C(post_stop), C(timeout)).
    type: dict
    default: {}
  config_dir:
    description:
      - The directory named by C(config_dir) in the C([Main]) section of the main
        configuration file. It is made (mode 0700) when missing.
      - The module warns when C(usrsvc checkconfig) does not read the written file, that is
        when the main configuration does not name this directory.
    type: path
    default: ~/usrsvc.d
  validate:
    description: Run C(usrsvc checkconfig) after writing, and put the old file back when it fails.
    type: bool
    default: true
  executable:
    description:
      - Path of the C(usrsvc) command on the target, for the validation.
      - Default is the first C(usrsvc) found in C(~/.local/usrsvc/bin) (where the
        C(usrsvc.core.usrsvc_account) role installs it), C(~/.local/bin), then the E(PATH).
    type: path
  config:
    description: Main configuration file (C(usrsvc --config)), for the validation; default is usrsvc's own.
    type: path
seealso:
  - module: usrsvc.core.usrsvc
notes:
  - The file is written with the connecting user's rights; run this module as the
    service account itself (usrsvc refuses configuration files that others own or can write).
"""

EXAMPLES = r"""
- name: Declare the web program
  usrsvc.core.usrsvc_program:
    name: web
    command: /srv/web/venv/bin/gunicorn -b 127.0.0.1:8000 app:wsgi
    directory: /srv/web
    group: web
    settings:
      success_seconds: 2
      stop_signal: TERM
    env:
      PYTHONUNBUFFERED: "1"
    monitoring:
      rss_limit: 500M
    ready:
      http: http://127.0.0.1:8000/health
      timeout: 30s
  notify: restart web

- name: Retire the old worker
  usrsvc.core.usrsvc_program:
    name: old-worker
    state: absent
"""

RETURN = r"""
path:
  description: The program's file.
  returned: always
  type: str
  sample: /home/web/usrsvc.d/web.cfg
content:
  description: The file's new content (nothing for O(state=absent)).
  returned: when O(state=present)
  type: str
checkconfig:
  description: What C(usrsvc checkconfig) printed, when it ran.
  returned: when the file changed and O(validate=true)
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.usrsvc.core.plugins.module_utils.usrsvc_cli import (
    COMMON_ARGS, base_command)
from ansible_collections.usrsvc.core.plugins.module_utils.usrsvc_program_file import (
    KEY_OPTIONS, SUBSECTIONS, ProgramFileError, read, render, write)


def argument_spec():
    spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        command=dict(type="str"),
        pidfile=dict(type="str"),
        stdout=dict(type="str"),
        stderr=dict(type="str"),
        directory=dict(type="str"),
        useshell=dict(type="bool"),
        enabled=dict(type="bool"),
        autostart=dict(type="bool"),
        autorestart=dict(type="bool"),
        group=dict(type="str"),
        type=dict(type="str", choices=["service", "oneshot"]),
        settings=dict(type="dict", default={}),
        config_dir=dict(type="path", default="~/usrsvc.d"),
        validate=dict(type="bool", default=True),
    )
    for option, dummy in SUBSECTIONS:
        spec[option] = dict(type="dict", default={})
    spec.update(COMMON_ARGS)
    return spec


def wanted_content(params):
    name = params["name"]
    keys = dict(params["settings"] or {})
    for key in KEY_OPTIONS:
        if params.get(key) is not None:
            if key in keys:
                raise ProgramFileError("%s is given both as an option and in settings; keep one"
                                       % key)
            keys[key] = params[key]
    keys.setdefault("pidfile", "~/run/%s.pid" % name)
    keys.setdefault("stdout", "~/logs/%s.log" % name)
    return render(name, keys, dict((option, params[option]) for option, dummy in SUBSECTIONS))


def validate(module, path, before, written):
    """usrsvc checkconfig over the whole configuration; the old file back when it fails."""
    argv = base_command(module, "usrsvc") + ["checkconfig"]
    code, out, err = module.run_command(argv, environ_update={"LANG": "C.UTF-8"})
    if code == 0:
        if written and path not in out:
            module.warn("usrsvc checkconfig did not read %s: name its directory as config_dir"
                        " in the [Main] section of the main configuration file" % path)
        return out
    try:
        write(path, before)
    except OSError as err_restore:
        module.fail_json(msg="usrsvc refused the new configuration, and the previous %s could"
                         " not be put back (%s): %s"
                         % (path, to_native(err_restore), (err or out).strip()), exit_code=code)
    module.fail_json(msg="usrsvc refused the configuration with this program (exit %d); %s was"
                     " left as it was before: %s" % (code, path, (err.strip() or out.strip())),
                     exit_code=code, path=path)
    return out


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    directory = params["config_dir"]
    path = os.path.join(directory, params["name"] + ".cfg")
    try:
        after = wanted_content(params) if params["state"] == "present" else None
    except ProgramFileError as err:
        module.fail_json(msg=to_native(err), path=path)
    before = read(path)
    mode_ok = before is None or (os.stat(path).st_mode & 0o777) == 0o600
    changed = before != after or (after is not None and not mode_ok)
    result = dict(changed=changed, path=path)
    if after is not None:
        result["content"] = after
    if module._diff:
        result["diff"] = dict(before=before or "", after=after or "",
                              before_header=path, after_header=path)
    if not changed or module.check_mode:
        module.exit_json(**result)
    if after is not None and not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    try:
        write(path, after)
    except OSError as err:
        module.fail_json(msg="cannot write %s: %s" % (path, to_native(err)), path=path)
    if params["validate"]:
        result["checkconfig"] = validate(module, path, before, after is not None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
