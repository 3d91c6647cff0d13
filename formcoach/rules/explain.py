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

import numpy as np

from formcoach.errors import ConfigError
from formcoach.exercises import Exercise
from formcoach.kinematics.derived import RULE_FEATURES, compute_rule_features
from formcoach.kinematics.features import FEATURES
from formcoach.rules.engine import (
    VELOCITY_SUFFIX,
    Rule,
    _frame_value,
    _side_vis,
    parse_rules,
    phase_window,
)
from formcoach.types import Fault, RepEvent

__all__ = ["UNIT_TEXT", "explain_fault", "fault_name", "feature_label", "feature_unit", "rule_reason",
           "rules_by_id", "worst_frame"]

#: How each registry unit is written after a number.
UNIT_TEXT = {"deg": "deg", "torso": "torso lengths", "ratio": "", "vis": ""}
#: What a unitless ratio feature is a fraction of (side-less names; "x" = times).
RATIO_OF = {"hip_line_dev": "x shoulder-ankle length", "front_knee_past_toe": "x shank length",
            "shoulder_lift": "x nose-hip length", "back_rounding": "x hip-ear length",
            "back_bulge": "x hip-shoulder length",
            "heel_rise": "x foot length", "knee_width_ratio": "x ankle width",
            "stance_width_ratio": "x shoulder width"}
#: Where a rep rule's value was taken, by phase.
_PHASE = {"bottom": "at the bottom", "top": "at the top", "eccentric": "on the way down",
          "concentric": "on the way up", "any": "in the rep"}
#: What a rep rule's reduce takes of the window.
_REDUCE = {"min": "lowest", "max": "highest", "mean": "mean", "range": "range of",
           "spread": "spread of", "p10": "low (p10)", "p90": "high (p90)", "rise": "rise of",
           "fall": "fall of"}


#: Words of rule ids written in capitals (``partial_rom`` -> ``Partial ROM``).
_ACRONYMS = {"rom": "ROM"}


def fault_name(rule_id: object) -> str:
    """A rule id as a PT reads it: ``knee_valgus`` -> ``Knee valgus``, ``hip_sag`` ->
    ``Hip sag`` (pages keep the id as the element's title; the annotated video and the serve
    workspace share this wording)."""
    words = [_ACRONYMS.get(w, w) for w in str(rule_id or "fault").replace("_", " ").split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


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


#: Longest stretch searched for a frame rule's worst frame, each side of the fault, s.
WORST_SEARCH_S = 30.0
#: Rep reduces whose value is one frame's value (the worst frame is where it was taken).
_FRAME_REDUCES = ("min", "max", "p10", "p90")


def worst_frame(rule: Rule, fault: Fault, poses: np.ndarray, fps: float, offset: int = 0,
                rep: RepEvent | None = None, back_bulge: np.ndarray | None = None
                ) -> tuple[int, float] | None:
    """Stream frame where the fault was worst, and the rule's value there.

    A frame rule fires ``hold_s`` into a violation: its worst frame is the most violating
    one of the whole violation around the fault's frame. A rep rule that takes one frame's value
    (``min``/``max``/``p10``/``p90``): the frame of its phase of ``rep`` where that value was
    taken (a shallow squat's deepest frame: the fault is that even it was not deep enough). Others
    (a range, a rise, a velocity) have no single worst frame: None, as when the frames are gone.

    Args:
        poses: ``(T, 33, 4)`` px of stream frames ``offset .. offset + T - 1``.
        back_bulge: ``(T,)`` the backend's silhouette measure of the same frames (None: none).
    """
    names = rule.feature_names
    row = fault.frame_index - offset
    n = len(poses)
    if any(nm.endswith(VELOCITY_SUFFIX) for nm in names) or not 0 <= row < n:
        return None
    if rule.scope == "frame":
        k = round(WORST_SEARCH_S * fps)
        lo, hi = max(0, row - k), min(n - 1, row + k)
    elif rep is not None and rule.reduce in _FRAME_REDUCES:
        idx = phase_window(rep, rule.phase, rep.counted_frame) - offset
        idx = idx[(idx >= 0) & (idx < n)]
        if not len(idx):
            return None
        lo, hi = int(idx.min()), int(idx.max())
    else:
        return None
    seg = np.asarray(poses[lo : hi + 1], dtype=np.float64)
    bulge = None if back_bulge is None else np.asarray(back_bulge[lo : hi + 1], dtype=np.float64)
    feats = compute_rule_features(seg, fps, list(names), bulge)
    vals = np.array([_frame_value(rule, {nm: float(feats[nm][i]) for nm in names},
                                  _side_vis(seg[i])) for i in range(len(seg))])
    bad = np.array([rule.violated(v) for v in vals])
    if rule.scope == "frame":
        r = row - lo
        if not bad[r]:
            return None
        a, b = r, r
        while a > 0 and bad[a - 1]:
            a -= 1
        while b < len(bad) - 1 and bad[b + 1]:
            b += 1
        cand = np.arange(a, b + 1)
        pick = cand[np.argmax(vals[cand])] if rule.op in (">", ">=") else \
            cand[np.argmin(vals[cand])]
    else:
        # the frame whose value the rep's reduce took (a shallow squat's deepest frame)
        cand = np.flatnonzero(np.isfinite(vals))
        if not len(cand) or not math.isfinite(fault.value):
            return None
        pick = cand[np.argmin(np.abs(vals[cand] - fault.value))]
        # its value is the fault's (the image-only value here can differ for a feature that
        # also reads the 3D world landmarks, which the result does not keep)
        return int(pick + lo + offset), float(fault.value)
    return int(pick + lo + offset), float(vals[pick])
