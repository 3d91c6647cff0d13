"""Each fault explained: the measured value against its limit, with units, where in the rep it
was measured, and the rule's reason ("knee angle 112 deg at the bottom, limit < 100 deg").

Units come from the feature registries (:mod:`formcoach.kinematics.features`,
:mod:`formcoach.kinematics.derived`): ``deg``, ``torso`` (torso lengths), ``ratio`` (unitless,
normalised by the body segment the feature names), ``vis``; a ``<feature>_velocity`` is that
unit per second.
"""

from __future__ import annotations

import math
import re

from formcoach.errors import ConfigError
from formcoach.exercises import Exercise
from formcoach.kinematics.derived import RULE_FEATURES
from formcoach.kinematics.features import FEATURES
from formcoach.rules.engine import VELOCITY_SUFFIX, Rule, parse_rules
from formcoach.types import Fault

__all__ = ["UNIT_TEXT", "explain_fault", "feature_label", "feature_unit", "rule_reason",
           "rules_by_id"]

#: How each registry unit is written after a number.
UNIT_TEXT = {"deg": "deg", "torso": "torso lengths", "ratio": "", "vis": ""}
#: What a unitless ratio feature is a fraction of (side-less names; "x" = times).
RATIO_OF = {"hip_line_dev": "x shoulder-ankle length", "front_knee_past_toe": "x shank length",
            "shoulder_lift": "x nose-hip length", "back_rounding": "x hip-ear length",
            "heel_rise": "x foot length", "knee_width_ratio": "x ankle width",
            "stance_width_ratio": "x shoulder width"}
#: Where a rep rule's value was taken, by phase.
_PHASE = {"bottom": "at the bottom", "top": "at the top", "eccentric": "on the way down",
          "concentric": "on the way up", "any": "in the rep"}
#: What a rep rule's reduce takes of the window.
_REDUCE = {"min": "lowest", "max": "highest", "mean": "mean", "range": "range of",
           "spread": "spread of", "p10": "low (p10)", "p90": "high (p90)", "rise": "rise of",
           "fall": "fall of"}


def _registry_feature(name: str) -> tuple[str, str]:
    """(registry unit, doc) of a feature name; a side-less sided name uses its left_ entry."""
    for key in (name, f"left_{name}"):
        f = FEATURES.get(key) or RULE_FEATURES.get(key)
        if f is not None:
            return f.unit, f.doc
    return "", ""


def feature_unit(name: str) -> str:
    """Display unit of a rule feature: ``deg``, ``torso lengths``, ``deg/s``; ``""`` for a
    unitless ratio."""
    velocity = name.endswith(VELOCITY_SUFFIX)
    base = name[: -len(VELOCITY_SUFFIX)] if velocity else name
    unit = UNIT_TEXT.get(_registry_feature(base)[0], "")
    if not unit:
        unit = RATIO_OF.get(base.removeprefix("left_").removeprefix("right_"), "")
    if velocity:
        return f"{unit}/s" if unit else "per s"
    return unit


def feature_label(name: str) -> str:
    """Short label of a feature: ``knee`` -> ``knee angle``, ``hip_line_dev`` -> ``hip line
    dev``."""
    base = name[: -len(VELOCITY_SUFFIX)] if name.endswith(VELOCITY_SUFFIX) else name
    text = base.replace("_fused", "").replace("_", " ")
    unit, doc = _registry_feature(base)
    if unit == "deg" and not base.endswith(("angle", "lean", "raise")):
        text += " angle"
    elif unit in ("ratio", "torso") and doc:
        text = re.split(r" / |, torso", doc)[0]
    return text + (" speed" if base != name else "")


def rule_reason(rule: Rule) -> str:
    """The rule's short ``reason``, else the first sentence of its rationale."""
    if rule.reason:
        return rule.reason
    first = re.split(r"(?<=[.;])\s+", rule.rationale.strip(), maxsplit=1)[0]
    return first.rstrip(".;")


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "?"
    a = abs(x)
    return f"{x:.0f}" if a >= 20 else f"{x:.1f}" if a >= 2 else f"{x:.2f}"


def explain_fault(fault: Fault, rule: Rule | None) -> str:
    """One line: the measured value against the limit, with units and where it was taken;
    without the rule (setup cues), the fault's cue."""
    if rule is None or not math.isfinite(fault.value):
        return fault.cue
    unit = feature_unit(rule.feature)
    u = f" {unit}" if unit else ""
    if rule.scope == "frame":
        where = f"for {rule.hold_s:g} s" if rule.hold_s else "at this moment"
        what = feature_label(rule.feature)
    else:
        where = _PHASE.get(rule.phase, "in the rep")
        reduce = _REDUCE.get(rule.reduce, rule.reduce)
        what = f"{reduce} {feature_label(rule.feature)}" if rule.reduce in (
            "range", "spread", "rise", "fall") else feature_label(rule.feature)
    lu = u if unit in UNIT_TEXT.values() or unit.endswith("/s") else ""
    return f"{what} {_num(fault.value)}{u} {where}, limit {rule.op} {_num(rule.threshold)}{lu}"


def rules_by_id(exercise: Exercise) -> dict[str, Rule]:
    """The exercise's rules by id (empty when its pack has none or they do not parse)."""
    try:
        return {r.id: r for r in parse_rules(exercise.rules_raw, str(exercise.path or exercise.id))}
    except ConfigError:  # a pack whose rules do not parse was reported when it was loaded
        return {}
