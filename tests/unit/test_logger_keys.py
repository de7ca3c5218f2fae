"""logger = COMMAND: the logger's own launch, where logs say its lines go, its backoff."""

from usrsvcmod import logs
from usrsvcmod.config.model import Monitoring, Program
from usrsvcmod.daemon.logger import LoggerWatch
from usrsvcmod.proc import logger


def program(**changes):
    values = dict(
        name="web", command="web --port 1", argv=("web", "--port", "1"), useshell=False,
        pidfile="/r/web.pid", stdout="/l/web.log", stderr=None, enabled=True, autopid=True,
        scan_for_process=True, proctitle_re="web", autostart=True, autorestart=True,
        maxrestarts=0, restart_delay=0.0, restart_delay_max=60.0, success_seconds=2.0,
        term_to_kill_seconds=8.0, inherit_env=True, email_alerts=(), directory="/srv",
        umask=None, stop_signal=2, kill_descendants=True, stdout_maxbytes=0,
        stdout_backups=10, stderr_maxbytes=0, stderr_backups=10, env=(("A", "1"),),
        monitoring=Monitoring(monitor_after=30.0, rss_limit=0, activityfile=None,
                              activityfile_limit=120.0, rss_scope="process"),
        source="/c.cfg", title_suffix=None, proctitle_risky=False, reload_signal=1,
        group=None, logger="s6-log -b n20 ~/logs/web",
        type="service", timeout=300.0, requires=())
    values.update(changes)
    return Program(**values)


def test_the_logger_runs_through_the_shell_as_itself_in_the_programs_place():
    companion = logger.companion(program())
    assert companion.argv == ("/bin/sh", "-c", "exec s6-log -b n20 ~/logs/web")
    assert companion.directory == "/srv" and companion.env == (("A", "1"),)
    assert companion.stop_signal == 15 and companion.logger is None
    assert not companion.scan_for_process and not companion.autopid  # found by its record only


def test_logs_name_the_logger_instead_of_a_file():
    with_logger = program()
    files, problems = logs.files_of([with_logger])
    assert files == [] and problems == []
    note, = logs.logger_notes([with_logger])
    assert "stdout and stderr are written by its logger: s6-log" in note and "/l/web.log" in note
    split = program(stderr="/l/web.err")
    files, _ = logs.files_of([split])
    assert [(f.stream, f.path) for f in files] == [("stderr", "/l/web.err")]
    assert logs.logger_notes([split], ("stderr",)) == []
    assert logs.logger_notes([program(logger=None)]) == []


class Owner:
    def __init__(self, **changes):
        self.program = program(**changes)


def test_a_dead_logger_comes_back_at_once_and_only_quick_deaths_back_off():
    watch = LoggerWatch(Owner(restart_delay_max=5.0))
    assert watch.delay() == 0.0
    delays = []
    for failures in range(1, 7):
        watch.failures = failures
        delays.append(watch.delay())
    assert delays == [0.0, 1.0, 2.0, 4.0, 5.0, 5.0]
