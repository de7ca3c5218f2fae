"""How each fault kind is fired (the kinds and their parameters: schedule.py)."""

import os
import signal
import threading
import time

from checks import SETTLE_BOUND, STOP_BOUND
from procs import alive


class Faults:
    """The faults of a Soak (a mixin: it uses the Soak's state, scan(), cli(), daemon())."""

    def kill(self, pid, sig=signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def kill_programs(self, names, wait=True):
        """SIGKILL the programs' processes; with ``wait``, return once they are dead (a
        settle that still saw a killed process alive would take it for the new one)."""
        snap = self.scan()
        pids = [pid for name in names for pid in snap.programs[name]]
        for pid in pids:
            self.kill(pid)
        if wait:
            self.wait_gone(pids)
        return pids

    def wait_gone(self, pids):
        self.wait(lambda: not any(alive(pid) for pid in pids), STOP_BOUND, every=0.01)

    def decoy_pid(self, index):
        with self.lock:
            return self.decoys[index].pid

    def daemon_down(self, how):
        with self.lock:
            self.daemon_wanted = False
        if how == "kill":
            for pid in self.scan().daemons:
                self.kill(pid)
            self.wait(lambda: not self.scan().daemons, STOP_BOUND)
        else:
            proc = self.daemon_ends("stop")
            if proc is not None and proc.returncode == 0:
                if not self.wait(lambda: not self.scan().daemons, STOP_BOUND):
                    pids = self.scan().daemons
                    self.count("daemon_stop_left_running",
                               "usrsvcd stop exited 0 and pid(s) %s still run" % pids)
                    for pid in pids:
                        self.kill(pid)

    def daemon_ends(self, action):
        """``usrsvcd stop`` or ``restart``: the old daemon must have exited cleanly (its
        log says "usrsvcd exited"), not been SIGKILLed at the command's timeout."""
        before = self.clean_exits()
        proc = self.daemon(action)
        if proc is not None and proc.returncode == 0:
            if not self.wait(lambda: self.clean_exits() > before, STOP_BOUND):
                self.count("unclean_daemon_stop", "usrsvcd %s: the daemon ended without "
                           "logging its exit (killed?)" % action)
        return proc

    def clean_exits(self):
        try:
            with open(os.path.join(self.home, "usrsvcd.log"), "rb") as handle:
                return handle.read().count(b" usrsvcd exited\n")
        except OSError:
            return 0

    def daemon_up(self):
        self.daemon("start")
        with self.lock:
            self.daemon_wanted = True

    def wait(self, predicate, bound, every=0.2):
        deadline = time.monotonic() + bound
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            time.sleep(every)
        return True

    def damage(self, path, damage, decoy):
        if damage == "deleted":
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            return
        text = {"garbage": "12ab\x00 not a pid\n", "empty": "",
                "foreign": "%d\n" % self.decoy_pid(decoy or 0)}[damage]
        with open(path, "w") as handle:
            handle.write(text)

    def do_kill_service(self, fault):
        self.kill_programs(fault.targets)

    def do_kill_daemon(self, fault):
        self.daemon_down("kill")
        time.sleep(fault.get("down_seconds"))
        self.daemon_up()

    def do_daemon_restart(self, fault):
        self.daemon_ends("restart")

    def do_daemon_stop_start(self, fault):
        self.daemon_down("stop")
        time.sleep(fault.get("down_seconds"))
        self.daemon_up()

    def do_daemon_pause(self, fault):
        pids = self.scan().daemons
        for pid in pids:
            self.kill(pid, signal.SIGSTOP)
        try:
            self.kill_programs(fault.targets)
            time.sleep(fault.get("seconds"))
            during = fault.get("during", "none")
            if during == "status":
                # a stopped daemon is still the daemon: found, said to run
                self.daemon("status")
            elif during == "restart":
                self.daemon_ends("restart")
            elif during == "stop":
                self.daemon_down("stop")
                self.daemon_up()
        finally:
            for pid in pids:
                self.kill(pid, signal.SIGCONT)

    def do_pidfile(self, fault):
        name = fault.get("program")
        self.damage(os.path.join(self.home, "run", name + ".pid"), fault.get("damage"),
                    fault.get("decoy"))
        then = fault.get("then")
        if then == "kill":
            self.kill_programs([name])
        elif then == "restart":
            self.cli("restart", name)
        elif then == "stop_start":
            self.cli("stop", name)
            if self.scan().programs[name]:
                self.count("stopped_but_running", "%s still runs after usrsvc stop (its pidfile "
                           "was %s)" % (name, fault.get("damage")))
            self.cli("start", name)

    def do_daemon_pidfile(self, fault):
        self.damage(os.path.join(self.home, "run", "usrsvcd.pid"), fault.get("damage"),
                    fault.get("decoy"))
        then = fault.get("then")
        if then == "status":
            self.daemon("status")
        elif then == "restart":
            self.daemon_ends("restart")
        elif then == "stop_start":
            self.daemon_down("stop")
            self.daemon_up()

    def do_bad_config(self, fault):
        self.write_config(self.bad_config(fault.get("variant"), fault.get("program")))
        try:
            self.daemon("reread", expect=(130,))
            victim = fault.get("victim")
            if victim:
                # the daemon must still restart it, under the config it kept
                old = self.scan().programs[victim]
                self.kill_programs([victim])
                if not self.wait(lambda: [p for p in self.scan().programs[victim] if p not in old],
                                 SETTLE_BOUND):
                    self.count("lost", "%s not restarted within %.0f s while the config was "
                               "invalid (%s)" % (victim, SETTLE_BOUND, fault.get("variant")))
        finally:
            self.write_config(self.good_config())
        self.daemon("reread")

    def do_concurrent(self, fault):
        def shell(ops):
            # 11 ("locked by another usrsvc for over 30 s; try again") is a documented
            # answer when several shells queue on one program on a slow machine
            for op in ops:
                if op[0] == "api":
                    # 409: another action holds the lock; 503: 8 actions under way
                    self.api("POST", "/api/v1/programs/%s/%s" % (op[2], op[1]),
                             expect=(200, 409, 503), missing_ok=True)
                    continue
                args = ("start", "all", "-P") if op[0] == "start_all" else op
                proc = self.cli(*args, expect=(0, 11))
                if proc is not None and proc.returncode == 11:
                    with self.lock:
                        self.lock_timeouts += 1

        threads = [threading.Thread(target=shell, args=(ops,)) for ops in fault.get("shells")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        final_stop, final_start = fault.get("final_stop"), fault.get("final_start")
        if final_stop:
            self.cli("stop", *final_stop)
        if final_start:
            self.cli("start", *final_start)
        now = time.monotonic()
        with self.lock:
            for name in fault.targets:
                self.stopped.pop(name, None)
            for name in final_stop:
                self.stopped[name] = now

    def do_storm(self, fault):
        def daemon():
            how = fault.get("daemon")
            if how == "restart":
                self.daemon_ends("restart")
            elif how == "pause":
                self.do_daemon_pause(fault._replace(targets=(), params=(("seconds", 1.0),)))
            else:
                self.daemon_down("kill" if how == "kill_start" else "stop")
                self.daemon_up()

        helper = threading.Thread(target=daemon)
        helper.start()
        self.kill_programs(fault.get("victims"))
        try:
            self.do_concurrent(fault)
        finally:
            helper.join()

    def do_race(self, fault):
        name, action = fault.targets[0], fault.get("action")
        killed = self.kill_programs([name], wait=False)
        self.cli(action, name)
        self.wait_gone(killed)
        if action == "stop":
            with self.lock:
                self.stopped[name] = time.monotonic()

    def do_api(self, fault):
        """GETs over usrsvcd's API socket, when this usrsvcd has one (docs/api.md)."""
        for path in fault.get("paths"):
            self.api("GET", path, expect=(200,))

    def api(self, method, path, expect, missing_ok=False):
        """One request over usrsvcd's API socket; its status, or None. No socket: nothing
        (this usrsvcd has no API). Hangs, tracebacks and other statuses are counted;
        ``missing_ok``: a socket that refuses, vanished or hung up (the daemon restarting
        in a storm) is not counted."""
        import http.client
        import socket

        sockets = [os.path.join(root, "api.sock") for root, _, files
                   in os.walk(self.environ["XDG_RUNTIME_DIR"]) if "api.sock" in files]
        if not sockets:
            self.log("  no API socket: no %s %s" % (method, path))
            return None
        what = "API %s %s" % (method, path)
        conn = http.client.HTTPConnection("localhost", timeout=60)
        conn.sock = socket.socket(socket.AF_UNIX)
        conn.sock.settimeout(60)
        try:
            # the socket's path can be longer than sun_path allows: reach it through a
            # descriptor of its directory (docs/api.md)
            dirfd = os.open(os.path.dirname(sockets[0]), os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            conn.close()
            return None
        try:
            conn.sock.connect("/proc/self/fd/%d/api.sock" % dirfd)
            conn.request(method, path)
            reply = conn.getresponse()
            body = reply.read().decode("utf-8", "replace")
        except socket.timeout:
            self.count("hung_commands", "%s: no answer in 60 s" % what)
            return None
        except (ConnectionRefusedError, FileNotFoundError, ConnectionResetError,
                BrokenPipeError, http.client.RemoteDisconnected) as err:
            if not missing_ok:
                self.count("command_errors", "%s: %s" % (what, err))
            else:
                self.log("  %s: %r (usrsvcd restarting)" % (what, err))
            return None
        except (OSError, http.client.HTTPException) as err:
            self.count("command_errors", "%s: %s" % (what, err))
            return None
        finally:
            conn.close()
            os.close(dirfd)
        self.log("  %s -> %d" % (what, reply.status))
        if "Traceback" in body:
            self.count("tracebacks", "%s:\n%s" % (what, body[-2000:]))
        if reply.status not in expect:
            self.count("command_errors", "%s -> %d: %s" % (what, reply.status, body[:500]))
        return reply.status

    def do_user_stop(self, fault):
        self.cli("stop", fault.targets[0])
        with self.lock:
            self.stopped[fault.targets[0]] = time.monotonic()

    def do_user_start(self, fault):
        with self.lock:
            self.stopped.pop(fault.targets[0], None)
        self.cli("start", fault.targets[0])

    def do_rotate(self, fault):
        args = ["logs", "--rotate"] + (["--force"] if fault.get("force") else [])
        self.cli(*(args + [fault.get("program")]))
