"""bench/soak's section of bench/RESULTS.md: written once, replaced, kept by bench/run."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from benchlib import soak_section  # noqa: E402

RESULT = {"counts": {"lost": 0, "duplicated": 0}, "duration": 600.0, "elapsed": 611.0,
          "programs": 50, "seed": 7, "faults": 240, "fired": {"kill_service": 60},
          "reproduce": "python tests/soak/soak.py --seed 7 --faults 240 --programs 50"}


def test_the_section_is_appended_once_then_replaced():
    first = soak_section.replace_section("# results\n\ntable\n", soak_section.section(RESULT))
    assert first.startswith("# results\n\ntable\n") and "seed 7" in first
    second = soak_section.replace_section(first, soak_section.section(dict(RESULT, seed=8, reproduce="x")))
    assert second.count("## Chaos soak") == 1 and "seed 8" in second and "seed 7" not in second


def test_a_rewritten_results_file_keeps_the_section_found_in_the_old_one():
    old = soak_section.replace_section("# old\n", soak_section.section(RESULT))
    kept = soak_section.extract(old)
    assert kept.startswith(soak_section.BEGIN) and kept.rstrip().endswith(soak_section.END)
    assert soak_section.extract("# no soak here\n") == ""


def test_a_failed_run_says_so():
    failed = dict(RESULT, counts={"lost": 2, "duplicated": 0})
    assert "**FAILED**" in soak_section.section(failed)
    assert "every count 0" in soak_section.section(RESULT)
