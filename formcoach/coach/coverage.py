"""Honest coverage: which rules a rep was judged on, why the others were not, and which camera
view would let them be judged.

A rep is **judged** when at least one of the exercise's rules was assessed on it (``ok`` or
``fault`` in :attr:`~formcoach.rules.engine.RulesEngine.rep_status`); a rep with no rule
assessed is *not judged*: never praised, never "clean", and its score gets no fault points.
An exercise without rules judges nothing. Every output reads these values from the metrics
(:class:`~formcoach.metrics.RepMetrics` ``judged`` / ``not_judged``,
:class:`~formcoach.metrics.SetMetrics` ``not_judged`` / ``view_advice``), never recomputes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from formcoach.kinematics.view import VIEWS
from formcoach.rules.engine import ASSESSED, Rule

__all__ = ["best_view", "better_view", "grouped", "not_judged_reasons", "rep_judged",
           "screen_lines", "view_advice", "view_phrase"]

#: How a view is named in a sentence ("seen from the side", "a front or back view").
_VIEW_WORDS = {"front": "front", "side": "side", "45": "45-degree", "back": "back"}


def view_phrase(views: Sequence[str]) -> str:
    """``("front", "back")`` -> ``"front or back"`` (pack order kept)."""
    words = [_VIEW_WORDS.get(v, v) for v in views]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def rep_judged(status: Mapping[str, str], rule_ids: Sequence[str]) -> tuple[bool, list[str]]:
    """``(judged, rule ids not judged)`` of one rep from its per-rule status.

    ``status``: rule id -> ``ok`` / ``fault`` / ``not_assessed`` (a rule missing from it was not
    judged); ``rule_ids``: the exercise's rules, in pack order.
    """
    missing = [r for r in rule_ids if status.get(r) not in ASSESSED]
    return len(missing) < len(rule_ids), missing


def _seen(view: str) -> str:
    """``seen from the side``, ``seen at 45 degrees``, ``the view was not recognised``."""
    if view == "unknown":
        return "the view was not recognised"
    return "seen at 45 degrees" if view == "45" else f"seen from the {_VIEW_WORDS.get(view, view)}"


def _reads_silhouette(rule: Rule) -> bool:
    """True for a rule whose feature is the backend's silhouette measure: a track saved
    without it, or an importer's, leaves it unmeasured however well the joints are seen."""
    from formcoach.kinematics.derived import RULE_FEATURES

    return any(getattr(RULE_FEATURES.get(n), "silhouette", False) for n in rule.feature_names)


def not_judged_reasons(
    rules: Sequence[Rule], rep_status: Mapping[int, Mapping[str, str]],
    rep_views: Mapping[int, str], view: str,
) -> dict[str, str]:
    """Rule id -> why it was not judged, for every rule not judged on at least one rep.

    ``rep_views``: the majority view of each rep; ``view``: the session's view (used when no
    rep was counted). A rule the view allows but that was still not assessed had its joints
    out of sight. A rule judged on some reps only says on which reps it was not judged.
    Example: ``{"knee_valgus": "needs a front or back view; seen from the side"}``.
    """
    out: dict[str, str] = {}
    reps = sorted(rep_status)
    for rule in rules:
        if not reps:
            missed, views = [], [view]
        else:
            missed = [i for i in reps if rep_status[i].get(rule.id) not in ASSESSED]
            if not missed:
                continue
            views = [rep_views.get(i, view) for i in missed]
        wrong = [v for v in views if v not in rule.views]
        if not reps and not wrong:
            continue  # judged from this view once a rep is counted
        if wrong:
            seen = max(dict.fromkeys(wrong), key=wrong.count)
            why = f"needs a {view_phrase(rule.views)} view; {_seen(seen)}"
        elif _reads_silhouette(rule):
            why = ("the back's outline was not read from the person mask (a track saved "
                   "without 'formcoach poses --silhouette' has none)")
        else:
            why = "its joints were not visible enough"
        if reps and len(missed) < len(reps):
            why += " (reps " + ", ".join(str(i + 1) for i in missed) + ")"
        out[rule.id] = why
    return out


def grouped(not_judged: Mapping[str, str]) -> list[str]:
    """``rule, rule: why`` lines, one per distinct reason (first-seen order)."""
    by_why: dict[str, list[str]] = {}
    for rule, why in not_judged.items():
        by_why.setdefault(why, []).append(rule)
    return [f"{', '.join(rules)}: {why}" for why, rules in by_why.items()]


def screen_lines(not_judged: Mapping[str, str]) -> list[str]:
    """Short lines for a screen read from the mat, one per distinct reason, faults in words:
    ``{"depth": "needs a side or 45-degree view; seen from the front", "heel_lift": "needs a
    side view; ..."}`` -> ``["Depth: needs a side or 45-degree view", "Heel lift: needs a side
    view"]`` (where the person stands and which reps are left out: the report says those)."""
    from formcoach.rules.explain import fault_name

    by_why: dict[str, list[str]] = {}
    for rule, why in not_judged.items():
        short = why.split(";")[0].split(" (reps")[0]
        if short.startswith("its joints"):
            short = "joints not in sight"
        elif short.startswith("the back's outline"):
            short = "back outline not read"
        by_why.setdefault(short, []).append(rule)
    out = []
    for why, rules in by_why.items():
        names = [fault_name(r) for r in rules]
        names = names[:1] + [n[:1].lower() + n[1:] if not n[:2].isupper() else n
                             for n in names[1:]]
        out.append(f"{', '.join(names)}: {why}")
    return out


def best_view(rule_views: Sequence[Sequence[str]]) -> tuple[str, int]:
    """The view from which most rules can be judged, and how many (ties: :data:`VIEWS` order).

    ``rule_views``: each rule's views (:attr:`Rule.views`)."""
    counts = {v: sum(v in views for views in rule_views) for v in VIEWS}
    best = max(VIEWS, key=lambda v: counts[v])
    return best, counts[best]


def better_view(view: str, rule_views: Sequence[Sequence[str]]) -> str | None:
    """The view to ask for when ``view`` leaves most rules unjudged, else None.

    "Most": fewer than half of the rules can be judged from ``view`` and another view judges
    more of them (a pack whose rules all need one view asks for it from any other)."""
    if not rule_views or view not in VIEWS:
        return None
    here = sum(view in views for views in rule_views)
    best, n_best = best_view(rule_views)
    if 2 * here >= len(rule_views) or n_best <= here:
        return None
    return best


def view_advice(rules: Sequence[Rule], view: str) -> str:
    """A one-line note when ``view`` leaves most of the rules unjudged (:func:`better_view`),
    else ``""``. Example: ``"filmed from the front: depth, torso_lean not judged; film from
    the side"``."""
    best = better_view(view, [r.views for r in rules])
    if best is None:
        return ""
    missed = ", ".join(r.id for r in rules if view not in r.views)
    filmed = "filmed at 45 degrees" if view == "45" else f"filmed from the {_VIEW_WORDS[view]}"
    film = "film at 45 degrees" if best == "45" else f"film from the {_VIEW_WORDS[best]}"
    return f"{filmed}: {missed} not judged; {film}"
