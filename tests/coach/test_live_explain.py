"""The live screen explains: a hold's time held and in good form, and each fault's value
against its limit while its cue is shown."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fakes import ReplayEstimator
from plank_poses import plank_track

from formcoach.coach import live
from formcoach.coach.live import run_live
from formcoach.cues.speech import NullSpeaker
from formcoach.exercises import load_exercise
from formcoach.overlay import OverlayState
from formcoach.sources import ArraySource


@pytest.fixture(autouse=True)
def _private_db(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("FORMCOACH_DB", str(tmp_path / "sessions.db"))


def test_live_plank_shows_time_held_and_the_fault_explained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    track = plank_track([("lying", 2.0), ("plank", 3.0), ("sagging", 3.0), ("lying", 2.0)])
    shown: list[list[str]] = []

    def record(image: np.ndarray, state: OverlayState) -> np.ndarray:
        shown.append(list(state.extra))
        return image

    monkeypatch.setattr(live, "draw_overlay", record)
    img = np.zeros((480, 640, 3), np.uint8)
    res = run_live(ArraySource([img] * len(track.poses), fps=track.fps), load_exercise("plank"),
                   ReplayEstimator(track.poses, track.fps, (640, 480)), NullSpeaker(),
                   skip_setup=True, on_frame=lambda _: None)
    assert res.metrics.held_s == pytest.approx(6.0, abs=0.1)
    assert shown[30][0].startswith("held 0.0 s") and "not timing: lying down" in shown[30][0]
    assert any(lines[0].startswith("held 2.9") and "(timing)" in lines[0] for lines in shown)
    fault_texts = [" ".join(lines[1:]) for lines in shown]
    assert any(t.startswith("hips_low: hip above shoulder-ankle line -0.") and "limit < 0.00"
               in t for t in fault_texts)
    assert all(len(ln) <= live.FAULT_LINE_CHARS for lines in shown for ln in lines[1:])
