"""The fault catalogue: every rule of every rule pack as Markdown (``docs/faults.md``).

:func:`catalog_markdown` renders the catalogue from the packs themselves (id, exercise, cue,
views, what the threshold compares, rationale, reference), so the document cannot drift from
the rules: ``tests/rules/test_catalog.py`` fails when ``docs/faults.md`` differs from it, and
``formcoach rules --markdown --out docs/faults.md`` regenerates it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from formcoach.exercises import Exercise, list_exercises
from formcoach.kinematics.derived import RULE_FEATURES
from formcoach.kinematics.features import FEATURES
from formcoach.kinematics.view import VIEWS
from formcoach.rules.engine import PHASE_FRACTION, VELOCITY_SUFFIX, Rule, parse_rules

__all__ = ["CatalogEntry", "catalog", "catalog_markdown", "fault_condition", "feature_unit",
           "views_text"]

#: How a feature unit is written in the catalogue.
_UNITS = {"deg": "deg", "torso": "torso lengths", "ratio": "", "vis": "visibility"}

_PHASES = {
    "any": "over the rep",
    "eccentric": "from the start to the turnaround",
    "concentric": "from the turnaround to the count",
    "bottom": f"around the turnaround ({PHASE_FRACTION:.0%} of the rep either side)",
    "top": f"in the rest position (first and last {PHASE_FRACTION:.0%} of the rep)",
}

_REDUCES = {
    "min": "smallest", "max": "largest", "mean": "mean", "range": "range (max - min) of",
    "spread": "spread (95th - 5th percentile) of", "p10": "10th percentile of",
    "p90": "90th percentile of", "rise": "rise (max - first value) of",
    "fall": "fall (first value - min) of",
}

_SIDES = {"auto": "", "left": "left side", "right": "right side", "worst": "worse side"}


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One rule of one pack."""

    exercise: Exercise
    rule: Rule


def feature_unit(name: str) -> str:
    """The unit of a rule's feature as written in the catalogue (``""`` for a plain ratio).

    A side-less name of a ``left_``/``right_`` pair takes the pair's unit; ``<f>_velocity``
    is ``<unit of f>/s``.
    """
    velocity = name.endswith(VELOCITY_SUFFIX)
    base = name[: -len(VELOCITY_SUFFIX)] if velocity else name
    feature = FEATURES.get(base) or RULE_FEATURES.get(base)
    if feature is None:
        feature = FEATURES.get(f"left_{base}") or RULE_FEATURES.get(f"left_{base}")
    unit = _UNITS.get(feature.unit, feature.unit) if feature is not None else ""
    if velocity:
        return f"{unit or 'units'}/s"
    return unit


def _feature_doc(name: str) -> str:
    """``name``: what it measures and its unit (from the feature registries)."""
    velocity = name.endswith(VELOCITY_SUFFIX)
    base = name[: -len(VELOCITY_SUFFIX)] if velocity else name
    feature = (FEATURES.get(base) or RULE_FEATURES.get(base) or FEATURES.get(f"left_{base}")
               or RULE_FEATURES.get(f"left_{base}"))
    if feature is None:
        return f"`{name}`"
    doc = feature.doc + (f" (per side: `left_{base}`, `right_{base}`)"
                         if base not in FEATURES and base not in RULE_FEATURES else "")
    unit = feature_unit(name) or "ratio"
    rate = "rate of change per second of " if velocity else ""
    return f"`{name}`: {rate}{doc}; unit: {unit}"


def _number(x: float) -> str:
    return f"{x:g}"


def fault_condition(rule: Rule) -> str:
    """What the rule compares, in words: ``largest knee_fused around the turnaround > 100 deg``
    for a rep rule, ``trunk_forward < -15 deg for 0.3 s`` for a frame rule."""
    unit = feature_unit(rule.feature)
    limit = f"{rule.op} {_number(rule.threshold)}" + (f" {unit}" if unit else "")
    side = _SIDES[rule.side] if rule.feature_names != (rule.feature,) else ""
    name = f"`{rule.feature}`" + (f" ({side})" if side else "")
    if rule.scope == "frame":
        held = f" held for {_number(rule.hold_s)} s" if rule.hold_s else ""
        return f"{name} {limit} on a frame{held}"
    return f"{_REDUCES[rule.reduce]} {name} {_PHASES[rule.phase]} {limit}"


def catalog(exercises: Iterable[Exercise] | None = None) -> list[CatalogEntry]:
    """Every rule of the given packs (default: the bundled ones), packs in id order."""
    packs = sorted(exercises if exercises is not None else list_exercises(), key=lambda e: e.id)
    return [CatalogEntry(ex, r) for ex in packs
            for r in parse_rules(ex.rules_raw, str(ex.path or ex.id))]


def views_text(rule: Rule) -> str:
    """``front, back`` or, with fault-only views, ``front, back; 45: a fault only (a pass
    there is not judged)``."""
    out = ", ".join(rule.views)
    if rule.fault_views:
        out += f"; {', '.join(rule.fault_views)}: a fault only (a pass there is not judged)"
    return out


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def catalog_markdown(exercises: Iterable[Exercise] | None = None) -> str:
    """The catalogue as Markdown: a summary table, then one section per exercise and rule."""
    entries = catalog(exercises)
    lines = [
        "# Fault catalogue",
        "",
        "Every form rule of every bundled rule pack (`formcoach/exercises/*.toml`; schema in",
        "`docs/rule_packs.md`). A rule is judged only from the views it lists; from any other view",
        "it is *not assessed* and never reports a fault.",
        "",
        "**Generated from the packs; do not edit by hand.** After changing a pack, regenerate it:",
        "",
        "```",
        "formcoach rules --markdown --out docs/faults.md",
        "```",
        "",
        "(`tests/rules/test_catalog.py` fails while this file differs from the packs;",
        "`tests/rules/test_rule_thresholds.py` checks every rule just below, at and just above its",
        "threshold on exact synthetic poses.)",
        "",
        "Terms: a rep rule reduces its feature over a phase of the rep and faults when the result",
        "passes the threshold (`value op threshold`; at exactly the threshold a strict `<`/`>`",
        "is ok). *The turnaround* is the extreme of the pack's counting signal (the deepest",
        "squat, the most-bent elbow: the top of a pull-up, the bottom of a bench press); *the rest",
        "position* is the first and last part of the rep. A frame rule is judged on every frame",
        "and faults once the violation has lasted its hold time. Distances are divided by a body",
        "segment of the same frame (torso lengths: shoulder midpoint to hip midpoint).",
        "",
        "| exercise | rule | fault when | views |",
        "|---|---|---|---|",
    ]
    for e in entries:
        lines.append(f"| {e.exercise.id} | [`{e.rule.id}`](#{e.exercise.id}-{e.rule.id}) | "
                     f"{_cell(fault_condition(e.rule))} | {views_text(e.rule)} |")
    current = None
    for e in entries:
        ex, r = e.exercise, e.rule
        if ex.id != current:
            current = ex.id
            lines += ["", f"## {_cell(ex.name)} (`{ex.id}`)"]
        missing = [v for v in VIEWS if not r.judged_from(v)]
        views = views_text(r) + (f"; not judged from {', '.join(missing)}" if missing else "")
        lines += [
            "",
            f'<a id="{ex.id}-{r.id}"></a>',
            f"### `{r.id}`",
            "",
            f"- **Cue:** \"{_cell(r.cue)}\" (severity {r.severity})",
            f"- **Fault when:** {fault_condition(r)}",
            f"- **Feature:** {_cell(_feature_doc(r.feature))}",
            f"- **Views:** {views}",
            f"- **Rationale:** {_cell(r.rationale)}",
            f"- **Reference:** {_cell(r.reference) if r.reference else 'none given'}",
        ]
    return "\n".join(lines) + "\n"
