"""One line of documentation per config key: the single source of the README's and
docs' key tables, the man page usrsvc.cfg(5) and ``usrsvc checkconfig --keys``.

Every key of spec.PROGRAM_KEYS, spec.MONITOR_KEYS and spec.MAIN_KEYS has an
entry here (a test fails otherwise). Each line says what the key does, in
the user's words; the default and the accepted values come from spec.py.
"""

PROGRAM = {
    "stdout_maxbytes": "rotate the stdout log once it is larger than this (512K, 100M, 2G;"
                       " 0 = never), keeping no line twice and losing none where the"
                       " filesystem can collapse a file's head (ext4, xfs)",
    "stdout_backups": "how many rotated stdout logs to keep (LOG.1 newest ... LOG.N oldest;"
                      " 0 = drop the rotated part)",
    "stderr_maxbytes": "rotate the stderr log once it is larger than this (as stdout_maxbytes)",
    "stderr_backups": "how many rotated stderr logs to keep (as stdout_backups)",
}
MONITOR = {}
MAIN = {
    "usrsvcd_log_maxbytes": "rotate usrsvcd's own log files once larger than this (0 = never);"
                            " usrsvcd keeps 5 of them (usrsvcd.log.1 ... .5)",
}
