"""Replays are deterministic: the same video gives byte-identical JSON in fresh processes,
whatever Python's string-hash seed (a set-ordering bug once flipped a fault between runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES


@pytest.mark.slow
def test_analyze_json_is_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    docs = []
    for seed in ("1", "2", "3"):
        out = tmp_path / f"a{seed}.json"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run(
            [sys.executable, "-m", "formcoach", "analyze", str(SAMPLES / "pushup_45_sag_lockout.mp4"),
             "-e", "pushup", "--no-save", "--no-progress", "--json", str(out)],
            env=env, capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-1000:]
        docs.append(json.loads(out.read_text()))
    assert docs[0] == docs[1] == docs[2]
    assert docs[0]["reps"] == 3
