"""The loopback sshd fixture itself: accounts log in with their keys, run the
test's usrsvc, and their detached services outlive the ssh session."""

import os
import subprocess

from conftest import alive, wait_for


def test_an_account_logs_in_with_its_key_and_runs_the_installed_usrsvc(sshd, ssh_account,
                                                                      remote_usrsvc):
    web = ssh_account("fixture-web")
    proc = sshd.ssh(web.alias, "id -un; command -v usrsvc; usrsvc --version")
    assert proc.returncode == 0, (proc.stderr, sshd.log_text())
    lines = proc.stdout.split("\n")
    assert lines[0] == web.name
    assert lines[1] == remote_usrsvc.command("usrsvc")
    assert lines[2].startswith("usrsvc ")


def test_another_accounts_key_is_refused(sshd, ssh_account):
    web = ssh_account("fixture-one")
    other = ssh_account("fixture-two")
    base = ["ssh", "-p", str(sshd.port)] + sshd.client_options()
    own = subprocess.run(base + ["-i", web.identity, web.destination, "true"],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert own.returncode == 0, own.stderr
    wrong = subprocess.run(base + ["-i", other.identity, web.destination, "true"],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert wrong.returncode == 255 and "Permission denied" in wrong.stderr


def test_a_background_process_outlives_the_session_and_teardown_ends_it(sshd, ssh_account):
    web = ssh_account("fixture-bg")
    proc = sshd.ssh(web.alias, "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!")
    assert proc.returncode == 0, proc.stderr
    pid = int(proc.stdout.split()[-1])
    assert wait_for(lambda: alive(pid))
    assert os.stat("/proc/%d" % pid).st_uid == web.user.uid
