"""The benchmark is a tool, not a test; this keeps it from rotting.

``bench/run --smoke`` runs one peer-free trial of every measurement against
the installed usrsvc and usrsvcd (timings are reported, never asserted).
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bench_smoke_runs_every_measurement_against_us(tmp_path):
    bench = os.path.join(ROOT, "bench", "run")
    if not os.path.exists(bench):
        pytest.skip("no bench/ in this tree")
    env = dict(os.environ, USRSVC_BENCH_OURS_BIN=os.path.dirname(sys.executable),
               HOME=str(tmp_path), TMPDIR=str(tmp_path))
    result = subprocess.run([sys.executable, bench, "--smoke"], env=env, cwd=ROOT,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "every measurement ran against ours" in result.stdout + result.stderr
