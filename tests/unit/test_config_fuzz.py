"""Fuzz the loader in-process: a few hundred invalid configs, never a traceback.

Each fixed case (tests/helpers/configfuzz.py) must raise ConfigError with a
problem that names the offending file; seeded random edits must either load
or raise ConfigError whose every problem names a file. The installed
``usrsvc`` gets a sample of the same cases in
tests/integration/test_config_cli.py.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "helpers"))

import configfuzz  # noqa: E402

from usrsvcmod.config import load  # noqa: E402
from usrsvcmod.errors import ConfigError  # noqa: E402

CASES = configfuzz.cases()
RANDOM = configfuzz.random_cases(300)


def test_there_are_a_few_hundred_cases():
    assert len(CASES) >= 300
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_invalid_config_is_refused_naming_the_file(tmp_path, case, monkeypatch):
    monkeypatch.delenv("USRSVC_FUZZ_UNSET", raising=False)
    main = case.build(str(tmp_path))
    offending = os.path.join(str(tmp_path), case.offending)
    with pytest.raises(ConfigError) as caught:
        load(main)
    problems = caught.value.problems
    assert problems
    assert any(offending in p for p in problems), problems


def test_random_edits_never_raise_anything_else(tmp_path, monkeypatch):
    monkeypatch.delenv("USRSVC_FUZZ_UNSET", raising=False)
    refused = 0
    for index, case in enumerate(RANDOM):
        root = os.path.join(str(tmp_path), "r%d" % index)
        main = case.build(root)
        try:
            load(main)
        except ConfigError as error:
            refused += 1
            assert error.problems, case
            for problem in error.problems:
                assert root in problem, (case, problem)
    assert refused > len(RANDOM) // 4  # the edits do break most configs
