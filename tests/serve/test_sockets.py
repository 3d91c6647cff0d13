"""With ``formcoach serve`` running (pages, an import and its analysis, the video), the process
holds no internet socket but its loopback listener and the loopback connections to it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
pytestmark = pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "squat_side_clean.mp4"


def _inet_sockets(pid: int) -> list[tuple[str, str, str]]:
    """``(proto, local, remote)`` (hex ``addr:port`` as in /proc) of every internet socket the
    process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for proto in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        table = Path(f"/proc/{pid}/net/{proto}")
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            f = line.split()
            if len(f) > 9 and f[9] in inodes:
                out.append((proto, f[1], f[2]))
    return out


def _loopback(hexaddr: str) -> bool:
    addr = hexaddr.split(":")[0]
    if len(addr) == 8:  # IPv4, little-endian: 127.x.x.x ends in 7F
        return addr.endswith("7F")
    v4_mapped = addr.startswith("0000000000000000FFFF0000") and addr.endswith("7F")
    return addr == "00000000000000000000000001000000" or v4_mapped  # ::1, ::ffff:127.x


def test_only_loopback_sockets_while_serving_and_importing(tmp_path: Path) -> None:
    env = dict(os.environ, FORMCOACH_DB=str(tmp_path / "s.db"))
    proc = subprocess.Popen([sys.executable, "-m", "formcoach", "serve", "--no-browser"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("formcoach workspace on http://127.0.0.1:"), line
        url = line.split(" on ", 1)[1].strip()
        base = url.split("/?")[0]
        seen: list[tuple[str, str, str]] = []
        with httpx.Client(follow_redirects=True, timeout=60, trust_env=False) as c:
            first = None
            for _ in range(40):  # the listener is up before the URL is printed; a loaded
                try:             # machine may still be slow to accept: retry, and say why
                    first = c.get(url)
                    break
                except httpx.ConnectError:
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    time.sleep(0.25)
            assert first is not None and first.status_code == 200
            r = c.post(f"{base}/patients", data={"name": "P"})
            assert r.status_code == 200
            r = c.post(f"{base}/import", data={"exercise": "squat", "patient_id": "1"},
                       files={"video": ("s.mp4", SAMPLE.read_bytes(), "video/mp4")})
            job = r.url.path
            deadline = time.monotonic() + 300
            while not r.url.path.startswith("/sets/") and time.monotonic() < deadline:
                seen += _inet_sockets(proc.pid)  # during the analysis too
                assert 'data-status="failed"' not in r.text, r.text[-400:]
                time.sleep(0.5)
                r = c.get(f"{base}{job}")
            assert r.url.path.startswith("/sets/"), r.text[-400:]
            assert c.get(f"{base}{r.url.path}/video").status_code == 200
            seen += _inet_sockets(proc.pid)
        listeners = [s for s in seen if s[2].split(":")[0].strip("0") == ""]
        assert listeners and all(_loopback(s[1]) for s in listeners)
        assert all(_loopback(local) and (_loopback(remote) or remote.strip("0:") == "")
                   for _, local, remote in seen), seen
        assert not [s for s in seen if s[0].startswith(("udp", "raw"))], seen
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
