"""onnxruntime telemetry is switched off by ``import formcoach`` (issue 14), fast checks.

The end-to-end proof (no DNS lookup, no ~/.cache/Microsoft under strace in an empty network
namespace) is ``tests/system/test_privacy.py``; these pin the mechanism without strace.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from test_privacy import CI_VARS


def _python(code: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in CI_VARS and not k.startswith("ORT_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["HOME"] = str(tmp)
    env["XDG_CACHE_HOME"] = str(tmp / "cache")
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp, capture_output=True, text=True,
                          timeout=300)


def test_import_formcoach_sets_the_switch_in_the_c_environment(tmp_path: Path) -> None:
    """onnxruntime reads ORT_DISABLE_TELEMETRY with getenv() when it loads: it must be set there."""
    code = (
        "import ctypes, sys, formcoach\n"
        "libc = ctypes.CDLL(None); libc.getenv.restype = ctypes.c_char_p\n"
        "print(libc.getenv(b'ORT_DISABLE_TELEMETRY'), 'onnxruntime' in sys.modules)\n"
    )
    out = _python(code, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["b'1'", "False"]


def test_warns_once_when_onnxruntime_was_imported_first(tmp_path: Path) -> None:
    code = (
        "import logging; logging.basicConfig()\n"
        "import onnxruntime\n"
        "import formcoach\n"
        "from formcoach.pose.onnx_backend import OnnxPoseEstimator\n"
        "OnnxPoseEstimator().close(); OnnxPoseEstimator().close()\n"
    )
    out = _python(code, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stderr.count("onnxruntime was imported before formcoach") == 1, out.stderr
    assert "ORT_DISABLE_TELEMETRY=1" in out.stderr


def test_no_warning_when_formcoach_comes_first_or_the_caller_set_the_switch(tmp_path: Path) -> None:
    body = "from formcoach.pose.onnx_backend import OnnxPoseEstimator\nOnnxPoseEstimator().close()\n"
    first = _python("import logging; logging.basicConfig()\nimport formcoach, onnxruntime\n" + body, tmp_path)
    preset = _python(
        "import logging, os; logging.basicConfig(); os.environ['ORT_DISABLE_TELEMETRY'] = '1'\n"
        "import onnxruntime, formcoach\n" + body,
        tmp_path,
    )
    for out in (first, preset):
        assert out.returncode == 0, out.stderr[-2000:]
        assert "imported before formcoach" not in out.stderr, out.stderr
