"""The chaos soak as part of the suite: 60 s, 20 programs, a fresh seed each run.

Environment (all optional): USRSVC_SOAK_SECONDS (60; 0 skips the soak),
USRSVC_SOAK_PROGRAMS (20), USRSVC_SOAK_SEED (random), USRSVC_SOAK_ONLY (a comma
list of fault kinds), USRSVC_SOAK_KEEP=1 (keep the temporary HOME). A failure prints every count, the seed and the command that replays
the same fault sequence.
"""

import os
import random
import signal

import pytest

import soak


def test_soak_counts_nothing_wrong():
    seconds = float(os.environ.get("USRSVC_SOAK_SECONDS", "60"))
    if seconds <= 0:
        pytest.skip("USRSVC_SOAK_SECONDS=0")
    programs = int(os.environ.get("USRSVC_SOAK_PROGRAMS", "20"))
    seed = os.environ.get("USRSVC_SOAK_SEED")
    seed = int(seed) if seed else random.SystemRandom().randrange(10 ** 6)
    only = os.environ.get("USRSVC_SOAK_ONLY")
    run = soak.Soak(seed, seconds, programs, keep=os.environ.get("USRSVC_SOAK_KEEP") == "1",
                    kinds=only.split(",") if only else None)

    def interrupted(signum, frame):  # a SIGTERM (a CI timeout) still tears everything down
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        result = run.execute()
    finally:
        signal.signal(signal.SIGTERM, previous)
    text = run.finish(result)
    assert result["faults"] > 0, text
    assert not run.failed(), text
