"""Joint-angle error against synthetic truth, per view and rung (the bench's model-ladder table)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES

from formcoach.evaluation.pose import JOINT_GROUPS, angle_error_by_view
from formcoach.skeleton import LM
from formcoach.synth.core import load_truth
from formcoach.types import PoseTrack

CLIP = "squat_side_clean"


@pytest.fixture
def one_sample(tmp_path: Path) -> Path:
    for ext in (".mp4", ".json", ".npz"):
        shutil.copy(SAMPLES / f"{CLIP}{ext}", tmp_path / f"{CLIP}{ext}")
    clips = [c for c in json.loads((SAMPLES / "manifest.json").read_text())["clips"]
             if c["file"] == f"{CLIP}.mp4"]
    (tmp_path / "manifest.json").write_text(json.dumps({"clips": clips}))
    return tmp_path


def _truth_estimator(monkeypatch: pytest.MonkeyPatch, far_side_shift_px: float) -> list[str]:
    """``estimate_track`` replaced by the exact truth, with the far (deeper) knee moved."""
    import formcoach.pose.track

    seen: list[str] = []

    def fake(video, backend, *, max_frames=None, model="full", **_kw) -> PoseTrack:
        seen.append(model)
        fr = load_truth(Path(video).with_suffix(".json"))["frames"]
        xy, z = fr["joints_2d_px"], fr["pose_z"]
        n = len(xy) if max_frames is None else min(max_frames, len(xy))
        poses = np.ones((n, 33, 4))
        poses[:, :, :2] = xy[:n]
        far = np.where(z[:n, LM.LEFT_KNEE] > z[:n, LM.RIGHT_KNEE], LM.LEFT_KNEE, LM.RIGHT_KNEE)
        poses[np.arange(n), far, 0] += far_side_shift_px
        return PoseTrack(poses, np.full((n, 33, 3), np.nan), np.arange(n, dtype=np.int64), 30.0,
                         (512, 384), "truth", "", {}, model)

    monkeypatch.setattr(formcoach.pose.track, "estimate_track", fake)
    return seen


def test_exact_poses_have_zero_error(one_sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _truth_estimator(monkeypatch, 0.0)
    out = angle_error_by_view(one_sample, "onnx", "heavy", max_frames=60)
    assert seen == ["heavy"]
    row = out["side"]
    assert (row["frames"], row["clips"], row["detection_rate"]) == (60, 1, 1.0)
    for key in (*JOINT_GROUPS, "all"):
        # truth pixels are stored at 0.1 px: a small rounding error remains
        assert row[key]["median"] < 0.5 and row["near"][key]["median"] < 0.5, key


def test_near_side_ignores_the_hidden_limb(one_sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _truth_estimator(monkeypatch, 40.0)
    row = angle_error_by_view(one_sample, max_frames=60)["side"]
    assert row["knee"]["p95"] > 5.0  # both sides pooled: the far knee is off
    assert row["near"]["knee"]["p95"] < 0.5  # the camera-facing knee is exact
    assert row["near"]["elbow"]["median"] < 0.5
