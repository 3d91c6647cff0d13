"""Every rule of every bundled pack, on exact synthetic poses just below, at and just above its
threshold, through the real engine (:func:`formcoach.rules.engine.judge_sequence`).

The poses come from geometry (``tests/rule_poses.py``): the rule's feature, as formcoach itself
computes it, takes a chosen value over the rule's phase. For each rule:

* a value a hair past the threshold on the fault side faults, one a hair on the other side is
  ok, judged from one of the rule's views;
* exactly at the threshold (the rule's own measured value used as the threshold) a strict
  ``<``/``>`` is ok and ``<=``/``>=`` faults;
* from a view the rule does not list, the same faulty poses are ``not_assessed``;
* from a view of its ``fault_views`` the faulty poses fault and the good ones are
  ``not_assessed`` (a pass there proves nothing).

A rule whose feature has no builder fails here by name: add a builder to ``tests/rule_poses.py``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from rule_poses import NoBuilder, rule_bulge, rule_sequence

from formcoach.exercises import Exercise, list_exercises
from formcoach.kinematics.view import VIEWS
from formcoach.rules.engine import FAULT, NOT_ASSESSED, OK, Rule, judge_sequence, parse_rules

PACKS = {ex.id: ex for ex in list_exercises()}
CASES = [(ex.id, r) for ex in PACKS.values() for r in parse_rules(ex.rules_raw, str(ex.path))]
IDS = [f"{ex}.{r.id}" for ex, r in CASES]


def _signal_free(ex: Exercise) -> Exercise:
    """The pack without a counting signal: judge_sequence then puts the turnaround in the
    middle of the sequence, where :func:`rule_poses.rule_sequence` laid out the phases."""
    return dataclasses.replace(ex, count=dataclasses.replace(ex.count, signal=""))


def _status(ex_id: str, rule: Rule, value: float, view: str) -> str:
    try:
        poses, fps = rule_sequence(rule, value)
    except NoBuilder as e:
        pytest.fail(f"rule {ex_id}.{rule.id} (feature {rule.feature!r}) has no pose builder: {e}")
    status, _ = judge_sequence(_signal_free(PACKS[ex_id]), poses, fps, rules=[rule], view=view,
                               back_bulge=rule_bulge(rule, value, len(poses)))
    return status[rule.id]


def _measured(ex_id: str, rule: Rule, value: float) -> float:
    """The value the engine reduces for the rule on the poses built for ``value`` (a copy of
    the rule that always faults reports it)."""
    always = dataclasses.replace(rule, threshold=-math.inf if rule.op in (">", ">=") else math.inf)
    poses, fps = rule_sequence(rule, value)
    _, eng = judge_sequence(_signal_free(PACKS[ex_id]), poses, fps, rules=[always],
                            view=rule.views[0], back_bulge=rule_bulge(rule, value, len(poses)))
    values = [f.value for f in eng.faults if f.rule_id == rule.id]
    assert values, f"{ex_id}.{rule.id}: not judged on its own poses"
    return values[0]


def _step(rule: Rule) -> float:
    """"Just" past the threshold: 0.1% of it (at least 0.001 of a unit)."""
    return 1e-3 * max(1.0, abs(rule.threshold))


def test_every_bundled_pack_has_rules_under_test() -> None:
    assert {ex for ex, _ in CASES} >= {"squat", "pushup", "bench_press", "pullup", "situp"}
    assert len(CASES) >= 30


@pytest.mark.parametrize(("ex_id", "rule"), CASES, ids=IDS)
def test_rule_just_below_and_above_threshold(ex_id: str, rule: Rule) -> None:
    # From a fault-only view a pass proves nothing: not assessed.
    d = _step(rule)
    bad, good = (rule.threshold + d, rule.threshold - d) if rule.op in (">", ">=") else (
        rule.threshold - d, rule.threshold + d)
    for view in rule.views + rule.fault_views:
        assert _status(ex_id, rule, bad, view) == FAULT, (view, bad)
        want = OK if view in rule.views else NOT_ASSESSED
        assert _status(ex_id, rule, good, view) == want, (view, good)


@pytest.mark.parametrize(("ex_id", "rule"), CASES, ids=IDS)
def test_rule_exactly_at_threshold(ex_id: str, rule: Rule) -> None:
    m = _measured(ex_id, rule, rule.threshold)
    # The poses are exact up to float rounding of the geometry.
    assert m == pytest.approx(rule.threshold, rel=1e-7, abs=1e-9)
    at = dataclasses.replace(rule, threshold=m)
    want = OK if rule.op in ("<", ">") else FAULT
    assert _status(ex_id, at, rule.threshold, rule.views[0]) == want  # the measured poses
    # And the real threshold agrees with the rule's own comparison of that value.
    assert _status(ex_id, rule, rule.threshold, rule.views[0]) == (
        FAULT if rule.violated(m) else OK)


@pytest.mark.parametrize(("ex_id", "rule"), CASES, ids=IDS)
def test_rule_not_assessed_from_unlisted_views(ex_id: str, rule: Rule) -> None:
    others = [v for v in VIEWS if not rule.judged_from(v)]
    if not others:
        pytest.skip(f"{ex_id}.{rule.id} is judged from every view")
    d = _step(rule)
    bad = rule.threshold + d if rule.op in (">", ">=") else rule.threshold - d
    assert _status(ex_id, rule, bad, rule.views[0]) == FAULT
    for view in others:
        assert _status(ex_id, rule, bad, view) == NOT_ASSESSED, view


def test_some_bundled_rule_has_fault_views() -> None:
    assert any(r.fault_views for _, r in CASES), "no bundled rule has fault_views to check"


def test_builder_values_are_the_engine_values() -> None:
    # One spot check per kind of layout, away from the thresholds.
    for ex_id, rule_id, value in (("bench_press", "uneven_press", 23.0),
                                  ("pullup", "kipping", 44.0),
                                  ("bicep_curl", "dropping_weight", 250.0),
                                  ("plank", "hips_low", -0.05)):
        rule = next(r for e, r in CASES if e == ex_id and r.id == rule_id)
        assert _measured(ex_id, rule, value) == pytest.approx(value, rel=1e-7, abs=1e-9)


def test_missing_builder_is_named() -> None:
    rule = dataclasses.replace(CASES[0][1], feature="facing")
    with pytest.raises(NoBuilder, match="facing"):
        rule_sequence(rule, 1.0)
    assert np.isfinite(rule_sequence(CASES[0][1], CASES[0][1].threshold)[0]).all()
