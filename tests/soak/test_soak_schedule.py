"""The soak's fault schedule is a function of its seed (pure logic, no processes)."""

import schedule
from schedule import Schedule

NAMES = ["p%02d" % i for i in range(20)]


def make(seed):
    return Schedule(seed, NAMES, NAMES[::5], decoys=2)


def test_the_same_seed_gives_the_same_faults_and_gaps():
    one, two = make(1234), make(1234)
    first = [(fault, one.gap()) for fault in one.take(500)]
    # asking for gaps at other moments does not change the faults
    faults = two.take(250) + [two.gap() and fault for fault in two.take(250)]
    assert [fault for fault, _ in first] == faults
    again = make(1234)
    assert [gap for _, gap in first][:10] == [again.gap() for _ in range(10)]


def test_another_seed_gives_another_schedule():
    assert make(1).take(50) != make(2).take(50)


def test_every_kind_fires_in_a_long_schedule():
    assert {fault.kind for fault in make(7).take(2000)} == set(schedule.WEIGHTS)


def test_user_stops_and_starts_follow_the_schedule_model():
    plan = make(99)
    stopped = set()
    for fault in plan.take(3000):
        if fault.kind == "user_stop":
            assert fault.targets[0] not in stopped
            stopped.add(fault.targets[0])
        elif fault.kind == "user_start":
            assert fault.targets[0] in stopped
            stopped.discard(fault.targets[0])
        elif fault.kind in ("concurrent", "storm"):
            assert not set(fault.get("victims", ())) & stopped
            stopped = (stopped - set(fault.targets)) | set(fault.get("final_stop"))
            assert not set(fault.get("final_start")) & stopped
        elif fault.kind == "race":
            assert fault.targets[0] not in stopped
            if fault.get("action") == "stop":
                stopped.add(fault.targets[0])
        elif fault.kind in ("kill_service", "pidfile"):
            assert not set(fault.targets) & stopped
        assert len(stopped) <= len(NAMES) // 3
    assert stopped == plan.stopped


def test_faults_that_touch_a_program_name_it_and_others_leave_all_alone():
    for fault in make(5).take(2000):
        if fault.kind in ("kill_service", "user_stop", "user_start"):
            assert fault.targets
        if fault.kind in ("kill_daemon", "daemon_restart", "daemon_stop_start",
                          "daemon_pidfile", "rotate"):
            assert fault.targets == ()
        if fault.kind == "pidfile" and fault.get("then") == "none":
            assert fault.targets == ()  # a damaged pidfile alone must not move any pid


def test_a_targeted_schedule_fires_only_the_kinds_asked_for():
    plan = Schedule(3, NAMES, NAMES[::5], decoys=2, kinds=["race", "pidfile"])
    assert {fault.kind for fault in plan.take(300)} == {"race", "pidfile"}
