# -*- coding: utf-8 -*-
# Copyright (c) 2026, the usrsvc authors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""changed and success of the usrsvcd module, from usrsvcd's own exit codes and answers."""

from __future__ import annotations

from ansible_collections.usrsvc.core.plugins.modules.usrsvcd import usrsvcd_changed, usrsvcd_ok


def test_a_daemon_already_running_is_ok_and_unchanged():
    assert usrsvcd_ok("started", 135)
    assert not usrsvcd_changed("started", 135, "")
    assert usrsvcd_changed("started", 0, "usrsvcd started, pid 42; log: /x")


def test_stopping_no_daemon_is_no_change():
    assert not usrsvcd_changed("stopped", 0, "usrsvcd is not running\n")
    assert usrsvcd_changed("stopped", 0, "usrsvcd stopped (pid 42); services left running\n")


def test_a_reread_changes_only_a_running_daemon():
    assert usrsvcd_changed("reread", 0, "usrsvcd (pid 42) applied the new configuration")
    assert not usrsvcd_changed("reread", 0,
                               "configuration is valid; usrsvcd is not running, nothing to reread")
    assert not usrsvcd_ok("reread", 130)


def test_only_start_accepts_135():
    assert not usrsvcd_ok("restarted", 135)
    assert not usrsvcd_ok("stopped", 1)
