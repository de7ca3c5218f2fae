"""One line of documentation per config key: the single source of the README's and
docs' key tables, the man page usrsvc.cfg(5) and ``usrsvc checkconfig --keys``.

Every key of spec.PROGRAM_KEYS, spec.MONITOR_KEYS and spec.MAIN_KEYS has an
entry here (a test fails otherwise). Each line says what the key does, in
the user's words; the default and the accepted values come from spec.py.
Where spec's default is a placeholder (None: "decided at run time"), the
*_DEFAULTS tables say in words what happens. Differences from usrsvc 1.5.13
are written in the line, after "1.5.13:". Aliases (spec.ALIASES) are named in
the line of the key they spell (a test checks it). Plain data: importing it
costs nothing.
"""

PROGRAM = {
    "command": "the command line; split into words as a shell would (quotes work, nothing"
               " else) unless `useshell`",
    "pidfile": "where the program's pid is kept",
    "stdout": "file the program's stdout is appended to (created, with its directory, if"
              " missing); `-`: usrsvcd's own stdout, one line per line (`usrsvcd --init` only)",
    "stderr": "file the program's stderr is appended to, or `stdout` for the same file; `-`:"
              " usrsvcd's own stdout, marked as stderr (`usrsvcd --init` only)",
    "useshell": "run `command` through `/bin/bash -c` (`/bin/sh -c` where there is no bash),"
                " so pipes, redirections and `$VARS` work",
    "enabled": "`False`: usrsvcd leaves the program alone and `usrsvc` allows only `stop`"
               " and `status` (exit 132 otherwise)",
    "autopid": "usrsvc writes the pidfile (after a start, or when a scan adopts a process)"
               " and removes stale ones; `False`: the program writes its own pidfile (e.g."
               " nginx's `pid` directive)",
    "scan_for_process": "when the pidfile does not lead to the program, look for it among"
                        " your processes by `proctitle_re`",
    "proctitle_re": "regular expression (Python `re.search`) that the program's command line,"
                    " as `ps auxww` shows it, must match; how the default is built from"
                    " `command` is told in usrsvc(1), section HOW A PROGRAM IS FOUND",
    "autostart": "usrsvcd starts the program the first time it sees it not running",
    "autorestart": "usrsvcd restarts the program when it stops (unless you stopped it)",
    "maxrestarts": "start attempts usrsvcd makes before giving up (the first included); the"
                   " count starts over once the program has stayed up `success_seconds` plus"
                   " a minute, so a program that dies soon after each start does give up;"
                   " `0`: unlimited. Also spelled `max_restarts` (1.5.13's README spelling,"
                   " which its code rejected); setting both is an error",
    "restart_delay": "least number of seconds between two of usrsvcd's restart attempts; the"
                     " first restart after a crash is immediate. 1.5.13: whole seconds only",
    "restart_delay_max": "cap of usrsvcd's crash-loop backoff: while a program keeps failing"
                         " before it has stayed up `success_seconds` plus a minute, each"
                         " attempt waits twice as long as the last, from 1 s up to this;"
                         " `0`: no backoff (crashes restarted at once, failed starts every"
                         " 0.5 s, as 1.5.13)",
    "success_seconds": "how long a new process must stay alive to count as started",
    "term_to_kill_seconds": "seconds between `stop_signal` and SIGKILL",
    "inherit_env": "start from the environment of usrsvc/usrsvcd; `False`: only `[[Env]]`",
    "email_alerts": "address, or comma-separated addresses, that usrsvcd mails about this"
                    " program. 1.5.13: one address",
    "directory": "working directory of the program. 1.5.13 used the caller's current"
                 " directory, so a start from usrsvc and from usrsvcd could differ",
    "umask": "octal umask of the program, e.g. `022`, `027`",
    "stop_signal": "signal `stop` sends first: a name (`INT`, `SIGQUIT`) or a number",
    "kill_descendants": "on `stop`, also end the program's descendants (a shell's children,"
                        " workers) still alive after it exits, so nothing keeps its port or"
                        " files",
    "stdout_maxbytes": "rotate the stdout log once it is larger than this (512K, 100M, 2G;"
                       " 0 = never), keeping no line twice and losing none where the"
                       " filesystem can collapse a file's head (ext4, xfs)",
    "stdout_backups": "how many rotated stdout logs to keep (LOG.1 newest ... LOG.N oldest;"
                      " 0 = drop the rotated part)",
    "stderr_maxbytes": "rotate the stderr log once it is larger than this (as stdout_maxbytes)",
    "stderr_backups": "how many rotated stderr logs to keep (as stdout_backups)",
    "reload_signal": "the signal `usrsvc reload NAME` sends to the program to make it re-read"
                     " its config or reopen its logs (a name such as HUP or USR2, or a number)",
    "group": "a group the program belongs to: `usrsvc restart @GROUP` acts on every program"
             " of that group",
    "logger": "a command (run by /bin/sh) that receives the program's output on its stdin"
              " through a pipe in the runtime state and writes the logs itself, e.g."
              " `s6-log -b n20 s10000000 ~/logs/web`; stdout then takes the logger's own"
              " messages",
    "restart_every": "usrsvcd restarts the running program this long after its start (e.g."
                     " `6h`, `1d`, `90m`), again and again; a restart in between starts the"
                     " count afresh; logged as `planned_restart`, never alerted; `0`: never",
    "type": "`service` (runs until stopped) or `oneshot` (an init job that must exit 0:"
            " `start` runs it to completion; no pidfile needed)",
    "timeout": "`type = oneshot`: how long the job may run before it is stopped and counts"
               " as failed",
    "env_file": "environment files read at each start, in order, in systemd's EnvironmentFile"
                " syntax (`KEY=VALUE`, quotes, `#` comments, `export ` allowed); a leading"
                " `-` makes a file optional (`env_file = ~/app.env, -~/app.local.env`). Their"
                " variables come after the inherited or passed ones and before"
                " `[[EnvCommand]]` and `[[Env]]`",
    "env_pass": "with `inherit_env = False`: the only variables of the caller's environment"
                " the program gets (`env_pass = LANG, TZ, PATH`); nothing else of usrsvc's or"
                " usrsvcd's environment reaches it",
}

MONITOR = {
    "monitor_after": "seconds of uptime before the monitors start checking; `0`: from the"
                     " start",
    "rss_limit": "KiB of resident memory (or a size: `500M`, `2G`); the program is restarted when its RSS is strictly"
                 " greater; `0`: off. RSS as `ps` shows it and `/proc/PID/statm` counts it"
                 " (psutil's `rss`), which is what 1.5.13 measured although its README speaks"
                 " of \"private\" memory",
    "activityfile": "file or directory whose modification time must move at least every"
                    " `activityfile_limit` seconds; a missing file is a breach",
    "activityfile_limit": "seconds allowed between two changes of `activityfile`",
    "rss_scope": "what rss_limit measures: `process` (the main process only, as 1.5.13) or"
                 " `tree` (the main process and all its descendants, e.g. a master's workers)",
}

MAIN = {
    "config_dir": "directory whose `*.cfg` files are read too, sorted by name. 1.5.13 read"
                  " them in filesystem order",
    "pidfile": "usrsvcd's own pidfile. 1.5.13's README calls it required; its code, like"
               " ours, has a default",
    "usrsvcd_stdout": "file the daemon logs to. 1.5.13 required an absolute path",
    "usrsvcd_stderr": "file for the daemon's stderr, or `stdout` to share `usrsvcd_stdout`",
    "sendmail_path": "sendmail program for `email_alerts`; `auto` tries `/usr/sbin/sendmail`,"
                     " `/usr/bin/sendmail`, then `$PATH`",
    "log_format": "format of the daemon's log: plain text or JSON lines",
    "reconcile_interval": "seconds between the daemon's full passes over pidfiles and"
                          " processes",
    "monitor_interval": "seconds between the daemon's monitor checks (`rss_limit`,"
                        " `activityfile`)",
    "alert_interval": "at most one alert mail per program per this many seconds; the rest"
                      " are counted and summarized",
    "alert_timeout": "seconds a mail may take before it is abandoned and logged",
    "smtp_host": "send alerts over SMTP to this host instead of sendmail",
    "smtp_port": "port of `smtp_host`",
    "smtp_security": "how the SMTP connection is protected",
    "smtp_user": "SMTP login name",
    "smtp_password_file": "file holding the SMTP password (so the config itself holds no"
                          " secret)",
    "email_from": "the From address of alerts",
    "restart_on_change": "on a reread, usrsvcd restarts the running programs whose launch"
                         " settings (`command`, environment, `directory`, `umask`, log files)"
                         " changed since their launch, as `usrsvc update` does; `False`:"
                         " changes wait for the program's next start, as in 1.5.13",
    "usrsvcd_log_maxbytes": "rotate usrsvcd's own log files once larger than this (0 = never);"
                            " usrsvcd keeps 5 of them (usrsvcd.log.1 ... .5)",
    "http_listen": "HOST:PORT of a TCP listener for usrsvcd's HTTP API and web page (the"
                   " unix socket api.sock is always there); needs `http_token_file` or"
                   " `http_password_hash`",
    "http_token_file": "file (ours, mode 0600) holding the bearer token of the TCP listener",
    "http_password_hash": "salted hash of the password for HTTP basic auth on the TCP"
                          " listener, as printed by `usrsvcd passwd` (never the password)",
    "http_allow_remote": "let `http_listen` be an address other than loopback (put TLS in"
                         " front, or set `http_tls_cert` and `http_tls_key`)",
    "http_tls_cert": "PEM certificate (chain) for TLS on the TCP listener",
    "http_tls_key": "PEM private key of `http_tls_cert`",
    "ready_file": "file usrsvcd creates when every enabled program that the user did not"
                  " stop is running and ready, and removes when one is not",
}

HOOKS = {
    "pre_start": "shell command run before each start, as the program (its environment and"
                 " directory, output appended to its stdout log); if it fails or times out"
                 " the start fails (exit 137) and nothing is launched",
    "post_start": "shell command run once a start is confirmed (pid in `$USRSVC_PID`); a"
                  " failure is logged and reported, the program keeps running",
    "pre_stop": "shell command run before the stop signal is sent (pid in `$USRSVC_PID`); a"
                " failure is logged and reported, the stop goes on",
    "post_stop": "shell command run once the program's processes are gone; a failure is"
                 " logged and reported",
    "timeout": "longest time a hook may run (e.g. `30s`, `2m`); at the limit its whole"
               " process group is killed and the hook counts as failed",
}

# [[EnvCommand]], inside a program or a [DefaultSettings]
ENV_COMMAND = {
    "command": "run through `/bin/sh -c` at each start, in the program's directory, with the"
               " environment built so far; each line of its stdout, `KEY=VALUE`, joins the"
               " program's environment (secrets from `pass`, `vault`, `sops`...), never written"
               " to disk; failing, timing out or printing another line fails the start (137)",
    "timeout": "how long `command` may run before it is killed and the start fails",
}

# What a default of None (or a number better said in words) means, per table.
PROGRAM_DEFAULTS = {
    "proctitle_re": "built from `command`",
    "directory": "`$HOME`",
    "umask": "inherited",
    "stop_signal": "`TERM`",
    "email_alerts": "none",
    "maxrestarts": "`0` (unlimited)",
    "pidfile": "required, except for `type = oneshot`",
}
MONITOR_DEFAULTS = {
    "rss_limit": "`0` (off)",
    "activityfile": "none (off)",
}
HOOK_DEFAULTS = {
    "pre_start": "none", "post_start": "none", "pre_stop": "none", "post_stop": "none",
}
ENV_COMMAND_DEFAULTS = {}
MAIN_DEFAULTS = {
    "pidfile": "`usrsvcd.pid` in the runtime state directory",
    "usrsvcd_stdout": "none (the daemon's own stdout)",
    "usrsvcd_stderr": "none (the daemon's own stderr)",
    "smtp_host": "none (use sendmail)",
    "smtp_port": "25; 465 with `ssl`, 587 with `starttls`",
    "email_from": "`USER@HOSTNAME`",
}

# Keys the loader handles itself (not in spec's tables), documented with the others.
PROGRAM_EXTRA = {
    "defaults": ("none", "name of a `[DefaultSettings:NAME]` to inherit (not valid inside"
                         " DefaultSettings itself)"),
}

# [[Readiness]]: when a started program is ready (usrsvc start and usrsvcd wait for it)
READINESS = {
    "tcp": "ready once a TCP connection to HOST:PORT succeeds, e.g. `127.0.0.1:8000`",
    "http": "ready once a GET of this http:// or https:// URL answers with a status of"
            " `http_status`",
    "http_status": "HTTP statuses that count as passing for `http`: codes or ranges, e.g."
                   " `200-399`, `204`, `2xx`",
    "exec": "ready once this command (run by /bin/sh as the program: its directory and"
            " environment) exits 0",
    "file": "ready once this file exists and was modified since the launch",
    "log": "ready once a new line of the program's stdout log since the launch matches this"
           " regular expression",
    "notify": "`yes`: the program is given `NOTIFY_SOCKET` and is ready when it (or one of its"
              " descendants) sends `READY=1`, systemd's sd_notify protocol",
    "interval": "time between two probes",
    "probe_timeout": "time one probe may take before it counts as failed",
    "timeout": "time from the launch the program has to become ready; then the start fails"
               " (exit 137) and what it launched is stopped",
}
READINESS_DEFAULTS = {k: "none" for k in ("tcp", "http", "exec", "file", "log", "notify")}
READINESS_DEFAULTS["http_status"] = "`200-399`"

# [[Liveness]]: whether a running program still works (usrsvcd restarts it when not)
LIVENESS = dict(
    {k: v.replace("ready once", "alive while").replace("ready when", "alive while")
     for k, v in READINESS.items() if k in ("tcp", "http", "http_status", "exec", "file")},
    log="alive while a new line of its stdout log matching this regular expression appeared"
        " since the previous probe",
    interval="time between two probes",
    probe_timeout="time one probe may take before it counts as failed",
    failures="failed probes in a row after which usrsvcd restarts the program; before that it"
             " shows as `unhealthy`",
    after="grace time after the program is up (ready) before the first probe",
)
LIVENESS["file"] = "alive while this file exists and was modified since the launch"
LIVENESS_DEFAULTS = {k: "none" for k in ("tcp", "http", "exec", "file", "log")}
LIVENESS_DEFAULTS.update(http_status="`200-399`", after="`monitor_after`")
