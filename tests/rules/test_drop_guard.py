"""Frames next to a pose dropped as implausible cannot prove a fault (RulesEngine's drop guard)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from conftest import SAMPLES
from fakes import sample_track

from formcoach.coach.offline import analyze_track
from formcoach.exercises import load_exercise
from formcoach.rules.engine import DROP_GUARD_S
from formcoach.skeleton import LM
from formcoach.types import PoseTrack

NAME = "squat_side_clean"


def _heels_up(poses: np.ndarray, frames: range) -> None:
    """Both heels a foot length straight above their toes (heel_rise 1: a foot on end)."""
    for heel, toe in ((LM.LEFT_HEEL, LM.LEFT_FOOT_INDEX), (LM.RIGHT_HEEL, LM.RIGHT_FOOT_INDEX)):
        for i in frames:
            length = float(np.hypot(*(poses[i, toe, :2] - poses[i, heel, :2])))
            poses[i, heel, 0] = poses[i, toe, 0]
            poses[i, heel, 1] = poses[i, toe, 1] - length


def _flipped(poses: np.ndarray, frames: range) -> None:
    """The face two torso lengths below the hips: a collapse the framing check drops."""
    for i in frames:
        hip = 0.5 * (poses[i, LM.LEFT_HIP, :2] + poses[i, LM.RIGHT_HIP, :2])
        sh = 0.5 * (poses[i, LM.LEFT_SHOULDER, :2] + poses[i, LM.RIGHT_SHOULDER, :2])
        poses[i, :11, 1] = hip[1] + 2 * float(np.hypot(*(sh - hip)))


def _heel_faults(tmp_path: Path, drop: bool) -> list[int | None]:
    truth = json.loads((SAMPLES / f"{NAME}.json").read_text())
    track = PoseTrack.load(sample_track(NAME, tmp_path / "t.npz"))
    b = truth["reps"][1]["bottom_frame"]
    guard = round(DROP_GUARD_S * track.fps)
    poses = track.poses.copy()
    _heels_up(poses, range(b - guard, b))  # the frames just before the collapse
    if drop:
        _flipped(poses, range(b, b + 6))
    res = analyze_track(PoseTrack(poses, track.world, track.t_ns, track.fps, track.image_size,
                                  track.backend), load_exercise("squat"))
    return [f.rep_index for f in res.faults if f.rule_id == "heel_lift"]


def test_a_foot_on_end_is_a_heel_lift_on_its_own(tmp_path: Path) -> None:
    assert _heel_faults(tmp_path, drop=False) == [1]  # the rule sees it: the control


def test_but_not_in_the_frames_sliding_into_a_collapse(tmp_path: Path) -> None:
    assert _heel_faults(tmp_path, drop=True) == []
