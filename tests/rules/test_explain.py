"""Each fault explained: units from the feature registries, the rule's reason, and the JSON."""

from __future__ import annotations

import pytest
from fake_result import make_result

from formcoach.errors import ConfigError
from formcoach.exercises import load_exercise
from formcoach.report.document import session_document
from formcoach.rules.engine import parse_rules
from formcoach.rules.explain import (
    explain_fault,
    feature_label,
    feature_unit,
    rule_reason,
    rules_by_id,
)
from formcoach.types import Fault

BASE = {"id": "depth", "cue": "go deeper", "feature": "knee", "op": ">", "threshold": 100.0,
        "phase": "bottom", "rationale": "Thighs reach parallel. A knee above 100 deg is shallow."}


def _fault(value: float, rule_id: str = "depth") -> Fault:
    return Fault(rule_id, "squat", "go deeper", 2, 0, 0, value, 100.0)


@pytest.mark.parametrize(("feature", "unit"), [
    ("knee", "deg"), ("left_knee", "deg"), ("torso_lean", "deg"), ("hip_height", "torso lengths"),
    ("hip_line_dev", "x shoulder-ankle length"), ("knee_width_ratio", "x ankle width"),
    ("heel_rise", "x foot length"), ("elbow_velocity", "deg/s"), ("facing", ""),
])
def test_feature_units(feature: str, unit: str) -> None:
    assert feature_unit(feature) == unit


def test_feature_labels() -> None:
    assert feature_label("knee") == "knee angle"
    assert feature_label("knee_fused") == "knee angle"
    assert feature_label("torso_lean") == "torso lean"
    assert feature_label("elbow_velocity") == "elbow angle speed"


def test_explanation_says_value_limit_units_and_where() -> None:
    (rule,) = parse_rules([BASE])
    assert explain_fault(_fault(112.4), rule) == \
        "knee angle 112 deg at the bottom, limit > 100 deg"
    (frame,) = parse_rules([{**BASE, "scope": "frame", "hold_s": 0.5, "phase": "any"}])
    assert explain_fault(_fault(112.4), frame) == "knee angle 112 deg for 0.5 s, limit > 100 deg"
    (spread,) = parse_rules([{**BASE, "reduce": "spread", "phase": "any"}])
    assert explain_fault(_fault(112.4), spread).startswith("spread of knee angle 112 deg in the rep")
    # no rule (setup guidance) or no value: the cue
    assert explain_fault(_fault(112.4), None) == "go deeper"
    assert explain_fault(_fault(float("nan")), rule) == "go deeper"


def test_reason_key_or_first_sentence_of_rationale() -> None:
    (plain,) = parse_rules([BASE])
    assert rule_reason(plain) == "Thighs reach parallel"
    (short,) = parse_rules([{**BASE, "reason": "a shallow squat trains less range"}])
    assert rule_reason(short) == "a shallow squat trains less range"
    with pytest.raises(ConfigError, match="'reason' must be text"):
        parse_rules([{**BASE, "reason": 3}])


def test_every_bundled_rule_is_explained_with_its_unit() -> None:
    for ex_id in ("squat", "pushup", "deadlift", "lunge", "bicep_curl", "plank", "situp"):
        for rule in rules_by_id(load_exercise(ex_id)).values():
            text = explain_fault(Fault(rule.id, ex_id, rule.cue, 2, 0, 0, rule.threshold + 1.0,
                                       rule.threshold), rule)
            assert f"limit {rule.op} " in text
            assert feature_unit(rule.feature) in text
            assert rule_reason(rule) and "\n" not in rule_reason(rule)


def test_json_faults_carry_the_explanation() -> None:
    result = make_result()
    result.faults = [Fault("depth", "squat", "go deeper", 2, result.reps[0].bottom_ns,
                           result.reps[0].bottom_frame, 112.0, 100.0, rep_index=0)]
    faults = session_document(result)["faults"]
    assert isinstance(faults, list) and len(faults) == 1
    doc = faults[0]
    assert isinstance(doc, dict)
    explanation = doc["explanation"]
    assert isinstance(explanation, str) and explanation.endswith("limit > 100 deg")
    assert doc["unit"] == "deg" and doc["op"] == ">" and doc["rep"] == 0
    assert doc["reason"]
