"""Features that also read the 3D world landmarks (``knee_fused``), and why the squat counts on it."""

from __future__ import annotations

import naive
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from formcoach.coach.offline import analyze_track
from formcoach.exercises import load_exercise
from formcoach.kinematics import FeatureExtractor, compute_features
from formcoach.kinematics.features import FEATURES
from formcoach.skeleton import LM
from formcoach.types import PoseTrack, frame_time_ns

_coord = st.one_of(st.integers(-4000, 4000).map(lambda v: v / 4.0), st.just(np.nan))
_T = st.shared(st.integers(1, 6), key="T")
_poses = arrays(np.float64, st.tuples(_T, st.just(33), st.just(4)), elements=_coord)
_world = arrays(np.float64, st.tuples(_T, st.just(33), st.just(3)), elements=_coord)
FUSED = ("left_knee_fused", "right_knee_fused")


def _oracle(poses: np.ndarray, world: np.ndarray | None, side: str) -> np.ndarray:
    u = side.upper()
    h, k, a = LM[f"{u}_HIP"], LM[f"{u}_KNEE"], LM[f"{u}_ANKLE"]
    a2 = naive.angle_batch(poses, h, k, a, dims=2)
    if world is None:
        return a2
    a3 = naive.angle_batch(world, h, k, a, dims=3)
    return np.where(np.isnan(a2), np.nan, np.where(a3 < a2, a3, a2))


@settings(max_examples=60, deadline=None)
@given(_poses, _world)
def test_fused_knee_matches_oracle(poses: np.ndarray, world: np.ndarray) -> None:
    got = compute_features(poses, 30.0, FUSED, world=world)
    for name in FUSED:
        want = _oracle(poses, world, name.split("_")[0])
        np.testing.assert_allclose(got[name], want, atol=1e-4, err_msg=name)


@settings(max_examples=30, deadline=None)
@given(_poses, _world)
def test_fused_knee_per_frame_equals_batch(poses: np.ndarray, world: np.ndarray) -> None:
    batch = compute_features(poses, 30.0, world=world)
    ex = FeatureExtractor(30.0)
    for t in range(len(poses)):
        row = ex.update(poses[t], world[t])
        for name in batch:
            np.testing.assert_allclose(row[name], batch[name][t], atol=1e-12, err_msg=name)


def test_without_world_it_is_the_2d_angle() -> None:
    rng = np.random.default_rng(1)
    poses = rng.uniform(0, 500, (20, 33, 4))
    got = compute_features(poses, 30.0, ["left_knee", "left_knee_fused"])
    np.testing.assert_array_equal(got["left_knee_fused"], got["left_knee"])
    row = FeatureExtractor(30.0, ["left_knee", "left_knee_fused"]).update(poses[3])
    assert row["left_knee_fused"] == row["left_knee"]


def test_missing_image_joint_is_nan_even_with_world() -> None:
    rng = np.random.default_rng(2)
    poses = rng.uniform(0, 500, (3, 33, 4))
    world = rng.uniform(-1, 1, (3, 33, 3))
    poses[1, LM.LEFT_KNEE] = np.nan
    got = compute_features(poses, 30.0, ["left_knee_fused"], world=world)["left_knee_fused"]
    assert np.isnan(got[1]) and np.isfinite(got[[0, 2]]).all()


def test_world_shape_is_checked() -> None:
    with pytest.raises(ValueError, match="world must be"):
        compute_features(np.zeros((4, 33, 4)), 30.0, ["left_knee_fused"], world=np.zeros((3, 33, 3)))


def test_fused_feature_declares_its_landmarks() -> None:
    f = FEATURES["left_knee_fused"]
    assert f.world and set(f.landmarks) == {LM.LEFT_HIP, LM.LEFT_KNEE, LM.LEFT_ANKLE}


def _front_squat(with_world: bool) -> int:
    from formcoach.synth import spec_from_dict, truth_poses

    spec = spec_from_dict({"name": "t", "exercise": "squat", "view": "front", "seed": 5,
                           "reps": 4})
    poses, fps, truth = truth_poses(spec)
    n = len(poses)
    world = truth["frames"]["joints_3d_m"] if with_world else np.full((n, 33, 3), np.nan)
    t = np.array([frame_time_ns(i, fps) for i in range(n)], dtype=np.int64)
    track = PoseTrack(poses, world, t, fps, (512, 384), "synthetic")
    assert truth["rep_count"] == 4
    return len(analyze_track(track, load_exercise("squat")).reps)


def test_front_view_squat_counts_on_the_3d_knee() -> None:
    # From the front the knee bends towards the camera: its 2D angle barely changes, so without
    # world landmarks deep squats fall under the rep threshold; with them every rep counts.
    assert _front_squat(with_world=True) == 4
    assert _front_squat(with_world=False) < 4


def _squat_count(view: str, severity: float) -> tuple[int, int]:
    """(counted, rendered) reps of a squat set whose middle rep is shallow by ``severity``."""
    from formcoach.synth import spec_from_dict, truth_poses

    spec = spec_from_dict({"name": "t", "exercise": "squat", "view": view, "seed": 9, "reps": 3,
                           "faults": [{"type": "shallow_squat", "reps": [1],
                                       "severity": severity}]})
    poses, fps, truth = truth_poses(spec)
    t = np.array([frame_time_ns(i, fps) for i in range(len(poses))], dtype=np.int64)
    track = PoseTrack(poses, truth["frames"]["joints_3d_m"], t, fps, (512, 384), "synthetic")
    return len(analyze_track(track, load_exercise("squat")).reps), truth["rep_count"]


@pytest.mark.parametrize("view", ["side", "45", "front"])
def test_half_squat_counts_quarter_squat_does_not(view: str) -> None:
    # severity 1: knee ~110 deg at the bottom (a half squat, a rep with a depth fault);
    # severity 2: knee ~140 deg (a quarter squat: by convention not a rep).
    assert _squat_count(view, 1.0) == (3, 3)
    assert _squat_count(view, 2.0)[0] == 2
