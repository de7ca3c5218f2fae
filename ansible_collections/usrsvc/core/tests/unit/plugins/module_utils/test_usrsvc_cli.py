# -*- coding: utf-8 -*-
# Copyright (c) 2026, the usrsvc authors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""changed, predictions and messages, from usrsvc answers as usrsvc 2.0 prints them."""

from __future__ import annotations

import json

import pytest

from ansible_collections.usrsvc.core.plugins.module_utils.usrsvc_cli import (
    failure_message, names_of, parse_programs, predict_changed, program_changed)


def answer(**fields):
    base = {"name": "web", "state": "running", "pid": 42, "message": "started",
            "exit_code": 0, "stopped_pid": None, "config_changed": []}
    base.update(fields)
    return base


def test_a_start_that_launched_is_a_change():
    assert program_changed("started", answer(message="started"))


def test_already_running_is_ok_not_changed():
    assert not program_changed("started", answer(message="already running"))
    assert not program_changed("started", answer(message="already running; command edited since"))


def test_a_stop_changes_only_what_it_ended():
    assert program_changed("stopped", answer(state="stopped", stopped_pid=42,
                                             message="stopped pid 42 (stop signal)"))
    assert not program_changed("stopped", answer(state="stopped", pid=None, message="not running"))


def test_update_changes_only_the_restarted_programs():
    assert program_changed("updated", answer(stopped_pid=41, message="restarted"))
    assert not program_changed("updated", answer(message="unchanged"))


def test_restart_and_reload_change_on_success():
    assert program_changed("restarted", answer(stopped_pid=None, message="was not running, started"))
    assert program_changed("reloaded", answer(message="sent SIGHUP to pid 42"))


def test_a_failed_program_is_never_a_change():
    assert not program_changed("started", answer(state="failed", exit_code=137,
                                                 message="failed to start: exited"))


@pytest.mark.parametrize("state,running,expected", [
    ("started", True, False), ("started", False, True),
    ("stopped", True, True), ("stopped", False, False),
    ("restarted", False, True), ("reloaded", False, False),
])
def test_check_mode_predicts_from_status(state, running, expected):
    status = answer() if running else answer(state="stopped", pid=None)
    assert predict_changed(state, status) is expected


def test_check_mode_update_needs_an_edited_running_program():
    assert predict_changed("updated", answer(config_changed=["command"]))
    assert not predict_changed("updated", answer())


def test_json_is_read_only_when_usrsvc_printed_a_list():
    assert parse_programs(json.dumps([answer()]))[0]["pid"] == 42
    assert parse_programs("") is None
    assert parse_programs("usrsvc: no program named 'x'") is None
    assert parse_programs("[not json") is None


def test_failure_message_prefers_the_programs_own_messages():
    failed = answer(state="failed", exit_code=137, message="failed to start: no such file")
    assert failure_message([failed, answer()], "", 137) == "web: failed to start: no such file"
    assert failure_message(None, "usrsvc: no program named 'x'\n", 133) == \
        "usrsvc: no program named 'x'"
    assert "133" in failure_message(None, "", 133)


def test_names_accept_lists_and_comma_strings():
    assert names_of("web, worker") == ["web", "worker"]
    assert names_of(["all"]) == ["all"]
