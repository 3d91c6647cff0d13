"""``fault_views``: a view where a rule's reading can only err towards passing flags the fault
and leaves a pass "not judged".

The bundled case is the jumping jack's ``arms_not_overhead`` at 45 degrees: the arm's sideways
part is foreshortened there and its vertical part is not, so an arm above shoulder height reads
higher than it is. The geometry is checked on exact pinhole projections of a 3D arm (the
synthetic athlete's camera), then the engine and the coverage text on a rep.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from formcoach.coach.coverage import not_judged_reasons
from formcoach.errors import ConfigError
from formcoach.exercises import load_exercise
from formcoach.kinematics.derived import RULE_FEATURES
from formcoach.rules.engine import FAULT, NOT_ASSESSED, OK, Rule, parse_rules
from formcoach.skeleton import LM, NUM_LANDMARKS
from formcoach.synth.camera import Camera

SHOULDER = np.array([0.2, 1.45, 0.0])  # the athlete's left shoulder, metres (faces +Z)
HIP = np.array([0.15, 0.95, 0.0])


def _arm_reading(elevation_deg: float, azimuth_deg: float, height_m: float) -> float:
    """``left_arm_raise`` (deg) read off the image of a straight left arm raised sideways (in
    the frontal plane) to ``elevation_deg`` from the trunk, seen by a pinhole camera."""
    cam = Camera.create(640, 480, 60.0, azimuth_deg, 3.0, height_m, (0.0, 1.1, 0.0))
    a = math.radians(elevation_deg)
    trunk = (HIP - SHOULDER) / np.linalg.norm(HIP - SHOULDER)
    side = np.array([trunk[1], -trunk[0], 0.0])  # in the frontal plane, away from the body
    wrist = SHOULDER + 0.6 * (math.cos(a) * trunk + math.sin(a) * side)
    pose = np.full((1, NUM_LANDMARKS, 4), np.nan)
    for lm, p in ((LM.LEFT_SHOULDER, SHOULDER), (LM.LEFT_HIP, HIP), (LM.LEFT_WRIST, wrist)):
        pose[0, lm, :2] = cam.project(p)[:2]
        pose[0, lm, 2:] = (0.0, 1.0)
    fn = RULE_FEATURES["left_arm_raise"].fn
    assert fn is not None
    return float(fn(pose, 30.0)[0])


@pytest.mark.parametrize("height_m", [0.8, 1.2, 1.8])
def test_arm_above_shoulder_reads_higher_at_45_degrees(height_m: float) -> None:
    true = np.arange(95.0, 180.0, 5.0)
    front = np.array([_arm_reading(t, 0.0, height_m) for t in true])
    at45 = np.array([_arm_reading(t, 45.0, height_m) for t in true])
    # Seen square on, the reading is the angle (up to perspective); at 45 degrees it is higher
    # from 120 deg up (just above the shoulder, perspective from a low camera can pull it a
    # little under), and it still rises with the angle: a reading under the threshold means
    # the true elevation is under it too.
    assert np.abs(front - true).max() < 3.0
    assert (at45[true >= 120.0] >= true[true >= 120.0]).all()
    assert (np.diff(at45) > 0).all()
    thr = parse_rules(load_exercise("jumping_jack").rules_raw)[0].threshold
    assert all(t < thr for t, r in zip(true, at45, strict=True) if r < thr)
    assert _arm_reading(140.0, 45.0, height_m) > 145.0  # a short arm can pass at 45 degrees


def _rules(extra: dict[str, object]) -> list[Rule]:
    raw = {"id": "r", "cue": "c", "feature": "left_arm_raise", "op": "<", "threshold": 150.0,
           "rationale": "why", "views": ["front"]}
    return parse_rules([{**raw, **extra}], "pack.toml")


def test_fault_views_are_parsed_and_checked() -> None:
    assert _rules({"fault_views": ["45", "rear"]})[0].fault_views == ("45", "back")
    assert _rules({})[0].fault_views == ()
    rule = _rules({"fault_views": ["45"]})[0]
    assert rule.judged_from("45") and rule.judged_from("front") and not rule.judged_from("side")
    with pytest.raises(ConfigError, match="both 'views' and 'fault_views'"):
        _rules({"fault_views": ["front"]})
    with pytest.raises(ConfigError, match="only applies to scope = 'rep'"):
        _rules({"fault_views": ["45"], "scope": "frame"})
    with pytest.raises(ConfigError, match="bad view 'top'"):
        _rules({"fault_views": ["top"]})


def _jack(peak_deg: float, n: int = 31) -> np.ndarray:
    """Base poses whose arms rise from 20 deg to ``peak_deg`` and back (one rep)."""
    from rule_poses import base_pose, set_feature

    out = []
    for a in 20.0 + (peak_deg - 20.0) * np.sin(np.linspace(0.0, math.pi, n)):
        p = base_pose()
        set_feature(p, "left_arm_raise", float(a))
        set_feature(p, "right_arm_raise", float(a))
        out.append(p)
    return np.stack(out)


def test_jumping_jack_at_45_flags_short_arms_and_praises_nothing() -> None:
    from formcoach.rules.engine import judge_sequence

    ex = load_exercise("jumping_jack")
    # Without a counting signal the turnaround is the middle of the sequence: the arms' peak.
    ex = dataclasses.replace(ex, count=dataclasses.replace(ex.count, signal=""))
    rules = [r for r in parse_rules(ex.rules_raw) if r.id == "arms_not_overhead"]

    def status(peak: float, view: str) -> str:
        return judge_sequence(ex, _jack(peak), 30.0, rules=rules, view=view)[0][
            "arms_not_overhead"]

    assert status(120.0, "45") == FAULT
    assert status(175.0, "45") == NOT_ASSESSED
    assert status(175.0, "front") == OK
    assert status(175.0, "side") == NOT_ASSESSED and status(120.0, "side") == NOT_ASSESSED
    # The rep that passed at 45 degrees says which view would judge it.
    why = not_judged_reasons(rules, {0: {"arms_not_overhead": NOT_ASSESSED}}, {0: "45"}, "45")
    assert why == {"arms_not_overhead": "needs a front or back view; seen at 45 degrees"}
