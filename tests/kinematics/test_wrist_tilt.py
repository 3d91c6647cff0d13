"""``wrist_tilt`` (kinematics/derived.py) against a slow, obvious oracle."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from formcoach.kinematics.derived import RuleFeatureExtractor, compute_rule_features
from formcoach.skeleton import LM


def _oracle(pose: np.ndarray) -> float:
    """Degrees between the left->right wrist line and image-horizontal, 0..90; NaN if unknown."""
    (x0, y0), (x1, y1) = pose[LM.LEFT_WRIST, :2], pose[LM.RIGHT_WRIST, :2]
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or (x0, y0) == (x1, y1):
        return math.nan
    return math.degrees(math.atan2(abs(y1 - y0), abs(x1 - x0)))


_coord = st.floats(-2000.0, 2000.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_coord, _coord, _coord, _coord), min_size=1, max_size=6))
def test_wrist_tilt_matches_oracle(wrists: list[tuple[float, float, float, float]]) -> None:
    poses = np.full((len(wrists), 33, 4), np.nan)
    for t, (x0, y0, x1, y1) in enumerate(wrists):
        poses[t, LM.LEFT_WRIST] = (x0, y0, 0.0, 1.0)
        poses[t, LM.RIGHT_WRIST] = (x1, y1, 0.0, 1.0)
    got = compute_rule_features(poses, 30.0, ["wrist_tilt"])["wrist_tilt"]
    want = np.array([_oracle(p) for p in poses])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    per_frame = RuleFeatureExtractor(30.0, ["wrist_tilt"])
    np.testing.assert_allclose([per_frame.update(p)["wrist_tilt"] for p in poses], want,
                               rtol=1e-12, atol=1e-9)


def test_wrist_tilt_values_and_missing_wrists() -> None:
    p = np.full((4, 33, 4), np.nan)
    p[:, LM.LEFT_WRIST, :2] = (100.0, 200.0)
    p[:, LM.RIGHT_WRIST, :2] = [(300.0, 200.0), (100.0, 50.0), (200.0, 100.0), (100.0, 200.0)]
    got = compute_rule_features(p, 30.0, ["wrist_tilt"])["wrist_tilt"]
    np.testing.assert_allclose(got[:3], [0.0, 90.0, 45.0], atol=1e-12)
    assert math.isnan(got[3])  # both wrists at one point: no line
    p[0, LM.RIGHT_WRIST, 0] = np.nan
    assert math.isnan(compute_rule_features(p[:1], 30.0, ["wrist_tilt"])["wrist_tilt"][0])
