"""A selected camera profile undistorts landmarks in every pipeline (analyze, live, tracks)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from conftest import assert_one_line_error

from formcoach.calibration import default_camera_profile, load_camera_profile
from formcoach.pose import PoseEstimator
from formcoach.pose.base import RunningMode
from formcoach.pose.undistort import UndistortingEstimator
from formcoach.types import PoseResult, PoseTrack


def _distorted_profile(tmp_path: Path) -> Path:
    prof = default_camera_profile((640, 480))
    prof = dataclasses.replace(prof, name="wide", dist=(-0.3, 0.1, 0.0, 0.0, 0.0))
    return prof.save(tmp_path / "wide.json")


class _Fixed:
    name = "fixed"
    model = "m"
    model_sha256 = "x"
    running_mode: RunningMode = "video"

    def __init__(self, lm: np.ndarray) -> None:
        self.lm = lm

    def process(self, image: np.ndarray, t_ns: int) -> PoseResult:
        return PoseResult(self.lm.copy(), np.full((33, 3), np.nan), t_ns, (640, 480), 1.0)

    def reset(self) -> None: ...

    def close(self) -> None: ...


def test_wrapper_undistorts_pixels_and_keeps_nan(tmp_path: Path) -> None:
    path = _distorted_profile(tmp_path)
    lm = np.random.default_rng(1).uniform(0, 1, (33, 4)) * [640, 480, 100, 1]
    lm[5] = np.nan
    est = UndistortingEstimator(_Fixed(lm), load_camera_profile(path))
    out = est.process(np.zeros((480, 640, 3), np.uint8), 1).landmarks
    want = load_camera_profile(path, (640, 480)).undistort_poses(lm)
    np.testing.assert_allclose(out, want, equal_nan=True)
    assert np.isnan(out[5]).all()
    corner = np.abs(out[:, :2] - lm[:, :2])[np.isfinite(lm[:, 0])]
    assert corner.max() > 1.0  # barrel distortion really moved points
    np.testing.assert_array_equal(out[:, 2:], lm[:, 2:])  # z and visibility untouched


def test_analyze_with_camera_profile(tmp_path: Path, run_cli) -> None:
    from formcoach import synth

    spec = synth.SynthSpec(name="p", exercise="squat", view="side", reps=3, seed=4)
    poses, fps, _ = synth.truth_poses(spec)
    tr = PoseTrack(poses, np.full((len(poses), 33, 3), np.nan),
                   (np.arange(len(poses)) * 1e9 / fps).astype(np.int64), fps, (spec.width, spec.height),
                   "truth")
    track = tmp_path / "t.npz"
    tr.save(track)
    out = tmp_path / "a.json"
    res = run_cli("analyze", "--poses", track, "-e", "squat", "--camera-profile", "default",
                  "--json", out, "--no-save")
    assert res.code == 0, res.err
    assert json.loads(out.read_text())["reps"] == 3
    bad = run_cli("analyze", "--poses", track, "-e", "squat", "--camera-profile", "nosuchcam", "--no-save")
    assert_one_line_error(bad, "nosuchcam")


def test_wrapper_is_an_estimator_and_rescales_per_frame_size(tmp_path: Path) -> None:
    """It keeps the inner estimator's identity, and a half-size frame uses the half-size camera."""
    prof = load_camera_profile(_distorted_profile(tmp_path))
    lm = np.random.default_rng(2).uniform(0, 1, (33, 4)) * [320, 240, 100, 1]
    est = UndistortingEstimator(_Fixed(lm), prof)
    assert isinstance(est, PoseEstimator)
    assert (est.name, est.model, est.model_sha256, est.running_mode) == ("fixed", "m", "x", "video")
    out = est.process(np.zeros((240, 320, 3), np.uint8), 1).landmarks
    want = prof.scaled((320, 240)).undistort_poses(lm)
    np.testing.assert_allclose(out, want, equal_nan=True)
    assert not np.allclose(out, prof.undistort_poses(lm))  # not the full-size camera's answer


def test_profile_without_distortion_changes_nothing() -> None:
    lm = np.random.default_rng(3).uniform(0, 1, (33, 4)) * [640, 480, 100, 1]
    est = UndistortingEstimator(_Fixed(lm), default_camera_profile())  # 1280x720, no distortion
    out = est.process(np.zeros((480, 640, 3), np.uint8), 1).landmarks  # another aspect ratio
    np.testing.assert_array_equal(out, lm)
