"""The kernel tests again with numba's JIT off: the kernel bodies run as plain Python, so their
logic (not only the compiled code) is checked and visible to coverage tools."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
def test_kernels_pass_with_jit_disabled() -> None:
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE / "test_kinematics.py")],
        env=env, capture_output=True, text=True, timeout=600, cwd=HERE.parents[1],
    )
    assert out.returncode == 0, out.stdout[-3000:]
    assert " passed" in out.stdout
