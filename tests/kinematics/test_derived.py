"""Rule-only features of formcoach.kinematics.derived on hand-placed landmarks (exact values)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest

from formcoach.kinematics.derived import compute_rule_features
from formcoach.skeleton import LM, NUM_LANDMARKS


def _pose(points: Mapping[LM, tuple[float, float]]) -> np.ndarray:
    """A ``(1, 33, 4)`` pose with the given landmarks (px), the rest missing (NaN)."""
    p = np.full((1, NUM_LANDMARKS, 4), np.nan)
    for i, (x, y) in points.items():
        p[0, i] = (x, y, 0.0, 1.0)
    return p


def _feature(name: str, points: Mapping[LM, tuple[float, float]]) -> float:
    return float(compute_rule_features(_pose(points), 30.0, [name])[name][0])


def _side_on(knee_x: float, toe_x: float) -> dict[LM, tuple[float, float]]:
    """A squatter seen from the side, facing image right (nose ahead of the ears)."""
    return {
        LM.NOSE: (210.0, 100.0), LM.LEFT_EAR: (200.0, 100.0), LM.RIGHT_EAR: (200.0, 100.0),
        LM.LEFT_SHOULDER: (200.0, 150.0), LM.RIGHT_SHOULDER: (200.0, 150.0),
        LM.LEFT_HIP: (150.0, 300.0), LM.RIGHT_HIP: (150.0, 300.0),
        LM.LEFT_KNEE: (knee_x, 320.0), LM.RIGHT_KNEE: (knee_x, 320.0),
        LM.LEFT_ANKLE: (knee_x, 420.0), LM.RIGHT_ANKLE: (knee_x, 420.0),
        LM.LEFT_FOOT_INDEX: (toe_x, 425.0), LM.RIGHT_FOOT_INDEX: (toe_x, 425.0),
    }


@pytest.mark.parametrize(("knee_x", "toe_x", "expected"), [
    (250.0, 230.0, 0.2),   # knee 20 px past the toe, shank 100 px
    (250.0, 250.0, 0.0),
    (250.0, 300.0, -0.5),  # knee behind the toe tip
])
def test_knee_past_toe_is_signed_by_facing(knee_x: float, toe_x: float, expected: float) -> None:
    pts = _side_on(knee_x, toe_x)
    assert _feature("left_knee_past_toe", pts) == pytest.approx(expected)
    # Mirrored (facing image left): the same body gives the same value.
    mirrored = {i: (400.0 - x, y) for i, (x, y) in pts.items()}
    assert _feature("right_knee_past_toe", mirrored) == pytest.approx(expected)


def test_step_width_and_length() -> None:
    pts = {
        LM.LEFT_HIP: (180.0, 300.0), LM.RIGHT_HIP: (220.0, 300.0),  # hip width 40 px
        LM.LEFT_KNEE: (180.0, 400.0), LM.RIGHT_KNEE: (220.0, 400.0),
        LM.LEFT_ANKLE: (170.0, 500.0), LM.RIGHT_ANKLE: (200.0, 500.0),
    }
    assert _feature("step_width", pts) == pytest.approx(30.0 / 40.0)
    leg = 100.0 + math.hypot(10.0, 100.0)
    right_leg = 100.0 + math.hypot(20.0, 100.0)
    assert _feature("step_length", pts) == pytest.approx(30.0 / max(leg, right_leg))
    pts.pop(LM.RIGHT_ANKLE)
    assert math.isnan(_feature("step_width", pts))  # a missing ankle is unmeasured, not 0


def test_knee_hip_gap_hinge_vs_squat() -> None:
    """Knee angle minus hip angle: positive in a hinge, <= 0 when the knee bends as much."""
    def pose(knee_deg: float, hip_deg: float) -> dict[LM, tuple[float, float]]:
        hip, knee = np.array([0.0, 0.0]), np.array([0.0, 100.0])  # thigh straight down
        a = math.radians(180.0 - knee_deg)
        ankle = knee + 100.0 * np.array([math.sin(a), math.cos(a)])
        b = math.radians(180.0 - hip_deg)
        sh = hip + 100.0 * np.array([math.sin(b), -math.cos(b)])
        return {LM.LEFT_HIP: tuple(hip), LM.LEFT_KNEE: tuple(knee), LM.LEFT_ANKLE: tuple(ankle),
                LM.LEFT_SHOULDER: tuple(sh)}

    assert _feature("left_knee_hip_gap", pose(130.0, 80.0)) == pytest.approx(50.0)
    assert _feature("left_knee_hip_gap", pose(70.0, 80.0)) == pytest.approx(-10.0)


@pytest.mark.parametrize(("knee_x", "expected"), [(190.0, 0.05), (200.0, 0.0), (215.0, -0.075)])
def test_knee_medial_is_positive_towards_the_midline(knee_x: float, expected: float) -> None:
    """Front view: the left leg on image right (x 200), the right leg on image left (x 100);
    a left knee pulled towards the midline (x 150) is positive."""
    pts = {
        LM.LEFT_HIP: (200.0, 300.0), LM.RIGHT_HIP: (100.0, 300.0),
        LM.LEFT_KNEE: (knee_x, 400.0), LM.LEFT_ANKLE: (200.0, 500.0),
    }
    leg = math.hypot(knee_x - 200.0, 100.0) * 2
    assert _feature("left_knee_medial", pts) == pytest.approx(expected * 200.0 / leg)
