"""The benchmarks' options: a count or a duration that is not above zero is a usage error
(exit 2, one line naming the option), not a traceback halfway through a run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("script", "option", "value", "said"),
    [
        ("dispatch", "--workers", "two", "not a number: 'two'"),
        ("dispatch", "--max-in-flight", "-5", "must be above zero and finite, got -5"),
        ("system", "--rate", "0", "must be above zero and finite, got 0"),
        ("system", "--seconds", "nan", "must be above zero and finite, got nan"),
        ("webhook", "--concurrency", "1.5", "must be a whole number, got 1.5"),
        ("system", "--jobs", "-1", "must be above zero and finite, got -1"),  # 0 is taken
    ],
)
def test_a_bench_option_out_of_range_is_a_usage_error(script, option, value, said):
    command = [sys.executable, f"bench/{script}.py", option, value]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines()[-1].endswith(f"argument {option}: {said}")
