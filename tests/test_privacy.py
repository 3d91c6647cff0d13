"""Privacy (issue 9): formcoach never opens a network socket, and writes only what it is asked to.

Each command runs in a child process twice over: once with Python's ``socket`` blocked (a
``sitecustomize`` that records and refuses any AF_INET/AF_INET6 socket), and, where ``strace`` is
installed, under ``strace -f -e trace=socket`` so native code (MediaPipe, onnxruntime, espeak)
is watched too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES

SAMPLE = SAMPLES / "squat_side_clean.mp4"

SITECUSTOMIZE = '''
import os, socket
_LOG = os.environ["FORMCOACH_NET_LOG"]
_Base = socket.socket
class _Guarded(_Base):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is None and family in (-1, socket.AF_INET, socket.AF_INET6):
            with open(_LOG, "a") as f:
                f.write(f"socket family={family} type={type}\\n")
            raise OSError("network access blocked by formcoach's privacy test")
        super().__init__(family, type, proto, fileno)
socket.socket = _Guarded
'''

COMMANDS = {
    "demo": ["demo", "--out", "{tmp}/demo"],
    "analyze": ["analyze", str(SAMPLE), "--exercise", "squat", "--json", "{tmp}/a.json"],
    "live": ["live", "--exercise", "squat", "--source", str(SAMPLE), "--no-window", "--mute",
             "--skip-setup", "--max-seconds", "3"],
}


def _env(tmp: Path) -> dict[str, str]:
    site = tmp / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["FORMCOACH_NET_LOG"] = str(tmp / "net.log")
    env["FORMCOACH_DB"] = str(tmp / "sessions.db")
    env["HOME"] = str(tmp / "home")  # user dirs (config, data) land in the sandbox
    env["XDG_DATA_HOME"] = str(tmp / "home" / "data")
    env["XDG_CONFIG_HOME"] = str(tmp / "home" / "config")
    env["XDG_CACHE_HOME"] = str(tmp / "home" / "cache")
    env.pop("DISPLAY", None)
    return env


def _argv(name: str, tmp: Path) -> list[str]:
    return [sys.executable, "-m", "formcoach", *[a.format(tmp=tmp) for a in COMMANDS[name]]]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COMMANDS))
def test_no_python_socket_is_opened(tmp_path: Path, name: str) -> None:
    env = _env(tmp_path)
    before = set(Path(tmp_path).rglob("*"))
    out = subprocess.run(_argv(name, tmp_path), env=env, capture_output=True, text=True, timeout=600,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    log = tmp_path / "net.log"
    assert not log.exists(), log.read_text()
    # Frames/video are written only when asked: no image or video files appear unasked.
    new = set(Path(tmp_path).rglob("*")) - before
    media = [p for p in new if p.suffix.lower() in {".mp4", ".avi", ".png", ".jpg", ".jpeg"}]
    assert media == [], media


def _trace(tmp: Path, argv: list[str]) -> list[str]:
    trace = tmp / "strace.log"
    cmd = ["strace", "-f", "-qq", "-e", "trace=socket,connect,sendto", "-o", str(trace), *argv]
    out = subprocess.run(cmd, env=_env(tmp), capture_output=True, text=True, timeout=900, cwd=tmp)
    if out.returncode != 0 and "ptrace" in out.stderr:
        pytest.skip("ptrace not permitted here")
    assert out.returncode == 0, out.stderr[-2000:]
    return trace.read_text().splitlines()


def _outbound(lines: list[str]) -> list[str]:
    """connect/sendto calls that target a non-loopback internet address (or a DNS server)."""
    bad = []
    for ln in lines:
        if ("connect(" in ln or "sendto(" in ln) and "AF_INET" in ln:
            if 'inet_addr("127.' not in ln and 'inet_pton(AF_INET6, "::1"' not in ln:
                bad.append(ln)
    return bad


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
@pytest.mark.parametrize("name", ["analyze", "live"])
def test_default_backend_opens_no_inet_socket_at_all(tmp_path: Path, name: str) -> None:
    lines = _trace(tmp_path, _argv(name, tmp_path))
    inet = [ln for ln in lines if re.search(r"socket\(AF_INET6?\b", ln)]
    assert inet == [], inet[:5]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_mediapipe_backend_telemetry_never_leaves_the_machine(tmp_path: Path) -> None:
    """libmediapipe posts usage telemetry; formcoach points it at a closed loopback port."""
    argv = [*_argv("analyze", tmp_path), "--backend", "mediapipe"]
    lines = _trace(tmp_path, argv)
    assert _outbound(lines) == [], _outbound(lines)[:5]
