"""The collection's modules on this machine (Ansible's local connection, a temporary
HOME): every state of the usrsvc module, its check mode, the program module's check
and diff modes and removal, the daemon module's reread of a bad configuration.
Each playbook asserts what the modules returned; the test checks the real processes."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def playbook_runner(env):
    beside = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    found = beside if os.path.exists(beside) else shutil.which("ansible-playbook")
    if not found:
        pytest.skip("ansible-core is not installed (pip install 'ansible-core>=2.19,<2.20')")
    bindir = os.path.dirname(env.usrsvc)  # the installed usrsvc/usrsvcd under test

    def run(text, *args):
        path = os.path.join(env.home, "play.yml")
        with open(path, "w") as handle:
            handle.write(textwrap.dedent(text))
        environ = dict(env.env, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
                       ANSIBLE_COLLECTIONS_PATH=ROOT, ANSIBLE_NOCOLOR="1",
                       ANSIBLE_HOME=os.path.join(env.home, ".ansible"),
                       ANSIBLE_LOCAL_TEMP=os.path.join(env.home, ".ansible", "tmp"),
                       ANSIBLE_CONFIG=os.path.join(env.home, "no-ansible.cfg"),
                       ANSIBLE_PYTHON_INTERPRETER=sys.executable)
        proc = subprocess.run([found, "-i", "localhost,", "-c", "local", path] + list(args),
                              env=environ, cwd=env.home, capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL)
        return proc

    return run


PLAY = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Declare two programs
      usrsvc.core.usrsvc_program:
        name: "{{{{ item }}}}"
        command: {service} --tag {{{{ item }}}}
        group: pair
        settings: {{success_seconds: 0.3, term_to_kill_seconds: 3}}
      loop: [one, two]
      register: declared
    - name: Declare them again
      usrsvc.core.usrsvc_program:
        name: "{{{{ item }}}}"
        command: {service} --tag {{{{ item }}}}
        group: pair
        settings: {{success_seconds: 0.3, term_to_kill_seconds: 3}}
      loop: [one, two]
      register: again
    - usrsvc.core.usrsvc: {{name: "@pair", state: started}}
      register: started
    - usrsvc.core.usrsvc: {{name: "@pair", state: started}}
      register: started_again
    - name: Edit one's command, in check mode and with a diff first
      usrsvc.core.usrsvc_program:
        name: two
        command: {service} --tag two --every 5
        group: pair
        settings: {{success_seconds: 0.3, term_to_kill_seconds: 3}}
      check_mode: true
      diff: true
      register: edit_check
    - usrsvc.core.usrsvc: {{name: all, state: updated}}
      register: updated_before
    - name: Edit one's command
      usrsvc.core.usrsvc_program:
        name: two
        command: {service} --tag two --every 5
        group: pair
        settings: {{success_seconds: 0.3, term_to_kill_seconds: 3}}
      register: edit
    - usrsvc.core.usrsvc: {{name: all, state: updated}}
      check_mode: true
      register: update_check
    - usrsvc.core.usrsvc: {{name: all, state: updated}}
      register: updated
    - usrsvc.core.usrsvc: {{name: one, state: reloaded}}
      register: reloaded
    - usrsvc.core.usrsvc: {{name: one, state: restarted}}
      register: restarted
    - usrsvc.core.usrsvc_info:
      register: info
    - name: A daemon that is not running has nothing to reread
      usrsvc.core.usrsvcd: {{state: reread, use: usrsvcd}}
      register: reread
    - usrsvc.core.usrsvc: {{name: all, state: stopped}}
      register: stopped
    - usrsvc.core.usrsvc_program: {{name: two, state: absent}}
      register: removed
    - usrsvc.core.usrsvc_program: {{name: two, state: absent}}
      register: removed_again
    - ansible.builtin.assert:
        that:
          - declared.changed and not again.changed
          - started.changed_programs == ['one', 'two'] and started.exit_code == 0
          - started.rc is not defined
          - not started_again.changed
          - edit_check.changed and '--every 5' in edit_check.diff.after
          - not updated_before.changed
          - edit.changed
          - update_check.changed_programs == ['two']
          - updated.changed_programs == ['two']
          - reloaded.changed
          - restarted.changed
          - info.running == ['one', 'two'] and not info.changed
          - info.programs.one.pid == restarted.programs[0].pid
          - not reread.changed
          - stopped.changed_programs == ['one', 'two']
          - removed.changed and not removed_again.changed
"""


def test_every_state_reports_what_usrsvc_did(env):
    run = playbook_runner(env)
    env.write("[Main]\nconfig_dir = usrsvc.d\n")
    os.chmod(env.cfg, 0o600)
    proc = run(PLAY.format(service=env.service()))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert not os.path.exists(os.path.join(env.home, "usrsvc.d", "two.cfg"))
    assert os.path.exists(os.path.join(env.home, "usrsvc.d", "one.cfg"))


def test_a_refused_program_keeps_the_old_file_and_usrsvcd_refuses_a_bad_reread(env):
    run = playbook_runner(env)
    env.write("[Main]\nconfig_dir = usrsvc.d\n")
    os.chmod(env.cfg, 0o600)
    good = run("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - usrsvc.core.usrsvc_program: {name: web, command: %s, autostart: false}
            - usrsvc.core.usrsvcd: {state: started, use: usrsvcd}
        """ % env.service())
    assert good.returncode == 0, good.stdout[-4000:]
    program = os.path.join(env.home, "usrsvc.d", "web.cfg")
    with open(program) as handle:
        before = handle.read()
    try:
        bad = run("""\
            - hosts: localhost
              gather_facts: false
              tasks:
                - usrsvc.core.usrsvc_program:
                    {name: web, command: %s, autostart: false, settings: {success_seconds: never}}
            """ % env.service())
        assert bad.returncode == 2
        assert "success_seconds" in bad.stdout and "never" in bad.stdout
        with open(program) as handle:
            assert handle.read() == before
        # the daemon's reread of a config usrsvc refuses (written by hand) fails the task
        with open(os.path.join(env.home, "usrsvc.d", "broken.cfg"), "w") as handle:
            handle.write("[Program:broken]\ncommand = sleep 1\npidfile = p\nstdout = o\n"
                         "autostart = maybe\n")
        os.chmod(os.path.join(env.home, "usrsvc.d", "broken.cfg"), 0o600)
        reread = run("""\
            - hosts: localhost
              gather_facts: false
              tasks:
                - usrsvc.core.usrsvcd: {state: reread, use: usrsvcd}
                  register: reread
                  ignore_errors: true
                - ansible.builtin.assert:
                    that: [reread.failed, reread.exit_code == 130, "'autostart' in reread.msg"]
            """)
        assert reread.returncode == 0, reread.stdout[-4000:]
    finally:
        stop = subprocess.run([os.path.join(os.path.dirname(env.usrsvc), "usrsvcd"), "stop"],
                              env=env.env, capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0, stop.stderr
    assert env.run("status", "web").returncode == 1  # autostart = false: never started
