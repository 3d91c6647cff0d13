"""Code style gates: ruff over the package and tests, mypy over the package and the tests.

Both tools are dev dependencies (``pip install -e '.[dev]'``): a missing one is a failure, not a
skip, so the gates cannot pass by not running.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_ruff_clean() -> None:
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "formcoach", "tests", "models"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["formcoach", "tests"])
def test_mypy_clean(target: str) -> None:
    out = subprocess.run([sys.executable, "-m", "mypy", target], cwd=REPO, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
