"""Ctrl-C in ``analyze``: a clean one-line exit, and the set so far saved as interrupted."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.mark.slow
def test_ctrl_c_in_analyze_saves_the_set(tmp_path: Path) -> None:
    from formcoach import synth

    spec = synth.SynthSpec(name="long_squat", exercise="squat", view="side", reps=14, seed=9,
                           width=320, height=240)
    video, _ = synth.render_sample(spec, tmp_path)
    db = tmp_path / "s.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "formcoach", "analyze", str(video), "-e", "squat", "--backend", "onnx",
         "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    assert proc.stderr is not None
    # Wait until frames are being analysed (the progress bar has counted some), then press
    # Ctrl-C. Not on the first mention of "frame": the bar's "0/N" line comes before any frame.
    buf = ""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        buf += proc.stderr.read(1)
        done = re.findall(r"\| *(\d+)/\d+ \[", buf[-200:])
        if done and int(done[-1]) >= 50:
            break
    time.sleep(0.5)
    assert proc.poll() is None, "analysis finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-500:]
    assert "Traceback" not in err
    assert "interrupted" in err.strip().splitlines()[-1]
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT status FROM sets").fetchall()
    assert rows == [("interrupted",)]
