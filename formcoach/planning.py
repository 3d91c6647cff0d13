"""The next session from history (``formcoach plan``) and reps in reserve of stored sets.

A stored set becomes a :class:`SetSummary` (reps, reps with a fault, final velocity loss,
fatigue signs, the user's end mark). The recent sets of an exercise are reduced to a few
metrics (:data:`METRICS`), and the rules -- data, a TOML file: ``formcoach/plan_rules.toml``
by default -- decide: **back off** when any of its conditions holds, else **hold** when any of
its conditions holds, else **progress** when all of its conditions hold, else hold (borderline).
Every decision lists its reasons, one line per condition that decided it.
"""

from __future__ import annotations

import json
import logging
import math
import operator
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from formcoach.errors import InputError
from formcoach.rir import RirEstimate, RirPoint, RirProfile, final_vl, fit_profile
from formcoach.store import Store

log = logging.getLogger(__name__)

__all__ = ["DECISIONS", "METRICS", "Condition", "Plan", "PlanRules", "SetSummary",
           "default_rules_path", "estimate_rir", "load_rules", "load_summaries", "plan_next",
           "recent_metrics", "rir_profile", "set_end_lines"]

DECISIONS = ("back_off", "hold", "progress")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}

#: What a rule may test, over the recent sets (NaN when unknown: such a condition never holds).
METRICS: dict[str, str] = {
    "sets": "recent sets looked at",
    "fault_rep_pct": "% of the recent sets' reps with a form fault",
    "final_vl_pct": "mean final velocity loss of the recent sets, %",
    "max_final_vl_pct": "largest final velocity loss of the recent sets, %",
    "vl_rise_pct": "mean final VL of the recent sets minus that of the sets before them, points",
    "fatigue_sets": "recent sets whose fatigue note shows ROM shrinking or tempo slowing",
    "late_fault_sets": "recent sets whose fatigue note shows a fault appearing late",
    "rir": "mean reps in reserve of the recent sets (marked, else estimated from the profile)",
}


@dataclass(slots=True)
class SetSummary:
    """One stored set, as the plan sees it."""

    set_id: int
    started_at: str
    reps: int
    fault_reps: int
    final_vl_pct: float
    fatigue_kinds: list[str] = field(default_factory=list)
    rir_marked: int | None = None
    to_failure: bool = False
    rir_estimate: RirEstimate | None = None

    @property
    def rir(self) -> float:
        """Marked RIR, else the estimate, else NaN."""
        if self.rir_marked is not None:
            return float(self.rir_marked)
        return self.rir_estimate.rir if self.rir_estimate is not None else float("nan")


def load_summaries(store: Store, exercise: str) -> list[SetSummary]:
    """Every complete set of ``exercise`` with at least one rep, oldest first."""
    ends = store.set_ends(exercise)
    out = []
    for row in store.list_sets(exercise):
        if row["status"] != "complete":
            continue
        reps = store.reps(row["id"])
        if not reps:
            continue
        fault_reps = {f["rep_index"] for f in store.faults(row["id"]) if f["rep_index"] is not None}
        summary = json.loads(row["summary_json"]) if row["summary_json"] else {}
        fatigue = summary.get("fatigue") or {}
        kinds = [s.get("kind", "") for s in fatigue.get("signs", [])]
        end = ends.get(int(row["id"]))
        vls = [r["metrics"].get("velocity_loss_pct") for r in reps]
        out.append(SetSummary(
            set_id=int(row["id"]), started_at=str(row["started_at"]), reps=len(reps),
            fault_reps=len(fault_reps & {int(r["rep_index"]) for r in reps}),
            final_vl_pct=final_vl([v if v is not None else float("nan") for v in vls]),
            fatigue_kinds=kinds,
            rir_marked=end["rir"] if end else None, to_failure=bool(end and end["to_failure"])))
    return out


def rir_profile(summaries: Sequence[SetSummary], before: int | None = None
                ) -> tuple[RirProfile | None, str]:
    """The VL -> RIR profile of the marked sets (those with id below ``before`` when given)."""
    pts = [RirPoint(s.set_id, s.final_vl_pct, s.rir_marked) for s in summaries
           if s.rir_marked is not None and (before is None or s.set_id < before)]
    return fit_profile(pts)


def estimate_rir(summaries: Sequence[SetSummary]) -> tuple[RirProfile | None, str]:
    """Fill ``rir_estimate`` of every unmarked set from the profile of all marked sets; returns
    the profile (None and why not without one)."""
    profile, why = rir_profile(summaries)
    if profile is not None:
        for s in summaries:
            if s.rir_marked is None:
                s.rir_estimate = profile.estimate(s.final_vl_pct)
    return profile, why


def set_end_lines(db: str | Path | None, exercise: str, set_id: int, rir: int | None = None,
                  to_failure: bool = False) -> list[str]:
    """Mark how set ``set_id`` ended (when ``rir`` or ``to_failure`` is given) and say what
    the history knows of its reps in reserve: the mark and the profile it feeds, or the
    estimate from the profile of the other marked sets, or why there is none.

    Raises:
        StoreError: the database failed; InputError: a bad mark or no such set.
    """
    with Store(db) as store:
        if rir is not None or to_failure:
            store.mark_set_end(set_id, 0 if to_failure else int(rir or 0), to_failure)
        summaries = load_summaries(store, exercise)
    this = next((s for s in summaries if s.set_id == set_id), None)
    if this is None:
        return [f"set {set_id}: no reps saved, so no velocity loss to relate to reps in reserve"]
    profile, why = rir_profile(summaries)
    if this.rir_marked is not None:
        mark = "to failure" if this.to_failure else f"{this.rir_marked} reps in reserve"
        vl = (f" at {this.final_vl_pct:.0f}% final velocity loss"
              if math.isfinite(this.final_vl_pct) else " (no velocity loss measured)")
        return [f"set {set_id} marked: {mark}{vl}", profile.text if profile else why]
    if profile is None:
        return [why]
    est = profile.estimate(this.final_vl_pct)
    if est is None:
        return ["reps in reserve: not estimated: no velocity loss measured in this set"]
    return [f"{est.text} at {this.final_vl_pct:.0f}% final velocity loss", profile.text]


@dataclass(frozen=True, slots=True)
class Condition:
    """``metric op value``, and the reason line it gives (``{value}``: the measured value,
    ``{limit}``: the rule's)."""

    metric: str
    op: str
    value: float
    reason: str

    def holds(self, metrics: dict[str, float]) -> bool:
        v = metrics.get(self.metric, float("nan"))
        return math.isfinite(v) and _OPS[self.op](v, self.value)

    def line(self, metrics: dict[str, float]) -> str:
        v = metrics.get(self.metric, float("nan"))
        return self.reason.format(value=v, limit=self.value)


@dataclass(frozen=True, slots=True)
class PlanRules:
    """The rules of ``formcoach plan`` (see :func:`load_rules`)."""

    recent_sets: int
    suggestions: dict[str, str]
    back_off: tuple[Condition, ...]
    hold: tuple[Condition, ...]
    progress: tuple[Condition, ...]
    source: str = ""


def default_rules_path() -> Path:
    """The bundled rules, ``formcoach/plan_rules.toml``."""
    return Path(str(resources.files("formcoach") / "plan_rules.toml"))


def load_rules(path: str | Path | None = None) -> PlanRules:
    """Read and check a rules TOML (default :func:`default_rules_path`).

    Raises:
        InputError: unreadable file, bad TOML, or a rule naming an unknown metric / operator.
    """
    from formcoach.text import MAX_CONFIG_BYTES, read_text_capped

    p = Path(path) if path is not None else default_rules_path()
    # Capped: '--rules /dev/zero' (or a pipe) used to read until memory ran out.
    text = read_text_capped(p, MAX_CONFIG_BYTES, "plan rules", InputError)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"plan rules {p} are not valid TOML: {e}") from e
    except (ValueError, RecursionError) as e:  # arrays nested thousands deep, a huge integer
        raise InputError(f"plan rules {p} are not valid TOML: unreadable value "
                         f"({str(e)[:80]})") from e
    known = {"recent_sets", *DECISIONS}
    extra = sorted(set(raw) - known)
    if extra:
        raise InputError(f"plan rules {p}: unknown key {extra[0]!r} (known: {sorted(known)})")
    n = raw.get("recent_sets", 3)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"plan rules {p}: recent_sets must be a whole number >= 1, got {n!r}")
    groups: dict[str, tuple[Condition, ...]] = {}
    suggestions: dict[str, str] = {}
    for d in DECISIONS:
        table = raw.get(d)
        if not isinstance(table, dict):
            raise InputError(f"plan rules {p}: missing table [{d}]")
        key = "all" if d == "progress" else "any"
        bad = sorted(set(table) - {"suggestion", key})
        if bad:
            raise InputError(f"plan rules {p}: [{d}] has unknown key {bad[0]!r} "
                             f"(known: suggestion, {key})")
        suggestion = table.get("suggestion", d.replace("_", " "))
        if not isinstance(suggestion, str) or not suggestion.strip():
            raise InputError(f"plan rules {p}: [{d}] suggestion must be text, got "
                             f"{_short(suggestion)}")
        suggestions[d] = suggestion
        conds = []
        for i, c in enumerate(table.get(key, [])):
            where = f"plan rules {p}: [{d}] {key}[{i}]"
            if not isinstance(c, dict) or set(c) != {"metric", "op", "value", "reason"}:
                raise InputError(f"{where} needs exactly metric, op, value and reason")
            if c["metric"] not in METRICS:
                raise InputError(f"{where}: unknown metric {c['metric']!r} "
                                 f"(known: {', '.join(METRICS)})")
            if c["op"] not in _OPS:
                raise InputError(f"{where}: op must be one of {', '.join(_OPS)}, got {c['op']!r}")
            value = _finite(c["value"])
            if value is None:
                raise InputError(f"{where}: value must be a finite number, got "
                                 f"{_short(c['value'])}")
            if not isinstance(c["reason"], str):
                raise InputError(f"{where}: reason must be text, got {_short(c['reason'])}")
            _check_reason(c["reason"], where)
            conds.append(Condition(c["metric"], c["op"], value, c["reason"]))
        groups[d] = tuple(conds)
    if not groups["progress"]:
        raise InputError(f"plan rules {p}: [progress] needs at least one condition in 'all'")
    return PlanRules(n, suggestions, groups["back_off"], groups["hold"], groups["progress"],
                     str(p))


def _short(v: Any) -> str:
    """``repr(v)``, cut to 40 characters (a huge TOML integer has hundreds of digits)."""
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def _finite(v: Any) -> float | None:
    """``v`` as a finite float, None for a bool, a non-number, NaN, inf or a huge integer."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:  # a TOML integer past the float range
        return None
    return f if math.isfinite(f) else None


def _check_reason(reason: str, where: str) -> None:
    """Raise a one-line :class:`InputError` unless ``reason`` formats with only plain
    ``{value}`` / ``{limit}`` fields (no ``{value.attr}`` or ``{value[0]}``)."""
    import string

    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(reason) if f is not None]
        if any(f not in ("value", "limit") for f in fields):
            raise KeyError(next(f for f in fields if f not in ("value", "limit")))
        reason.format(value=1.0, limit=1.0)
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise InputError(f"{where}: reason may use only {{value}} and {{limit}} ({e})") from e


def _mean(xs: Sequence[float]) -> float:
    v = [x for x in xs if math.isfinite(x)]
    return sum(v) / len(v) if v else float("nan")


def recent_metrics(summaries: Sequence[SetSummary], recent: int) -> dict[str, float]:
    """:data:`METRICS` over the last ``recent`` sets of ``summaries`` (oldest first)."""
    last = list(summaries[-recent:])
    before = list(summaries[:-recent])[-recent:]
    reps = sum(s.reps for s in last)
    vl = _mean([s.final_vl_pct for s in last])
    vl_before = _mean([s.final_vl_pct for s in before])
    finite = [s.final_vl_pct for s in last if math.isfinite(s.final_vl_pct)]
    return {
        "sets": float(len(last)),
        "fault_rep_pct": 100.0 * sum(s.fault_reps for s in last) / reps if reps else float("nan"),
        "final_vl_pct": vl,
        "max_final_vl_pct": max(finite) if finite else float("nan"),
        "vl_rise_pct": vl - vl_before,
        "fatigue_sets": float(sum(bool({"rom", "tempo"} & set(s.fatigue_kinds)) for s in last)),
        "late_fault_sets": float(sum("fault" in s.fatigue_kinds for s in last)),
        "rir": _mean([s.rir for s in last]),
    }


@dataclass(slots=True)
class Plan:
    """The suggestion for the next session.

    Attributes:
        exercise: the exercise id.
        decision: ``"progress"``, ``"hold"`` or ``"back_off"`` (``""``: no history).
        suggestion: what to do, one line.
        reasons: one line per condition that decided it.
        metrics: :data:`METRICS` over the recent sets (NaN: unknown).
        sets: the set ids looked at.
        rir: the reps-in-reserve line (profile or why there is none).
    """

    exercise: str
    decision: str
    suggestion: str
    reasons: list[str]
    metrics: dict[str, float]
    sets: list[int]
    rir: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if not self.decision:
            return [self.suggestion]
        head = f"next {self.exercise} session: {self.decision.replace('_', ' ')}: {self.suggestion}"
        return [head, *(f"  - {r}" for r in self.reasons), *self.rir]

    def to_dict(self) -> dict[str, Any]:
        return {"exercise": self.exercise, "decision": self.decision or None,
                "suggestion": self.suggestion, "reasons": list(self.reasons),
                "metrics": {k: (round(v, 3) if math.isfinite(v) else None)
                            for k, v in self.metrics.items()},
                "sets": list(self.sets), "rir": list(self.rir)}


def plan_next(summaries: Sequence[SetSummary], rules: PlanRules, exercise: str) -> Plan:
    """Decide the next session from ``summaries`` (oldest first; RIR estimates filled by
    :func:`estimate_rir` when wanted)."""
    if not summaries:
        return Plan(exercise, "", f"no {exercise} sets saved yet: nothing to plan from "
                    f"(analyse or train a set with the session database on)", [], {}, [])
    m = recent_metrics(summaries, rules.recent_sets)
    ids = [s.set_id for s in summaries[-rules.recent_sets:]]
    back = [c.line(m) for c in rules.back_off if c.holds(m)]
    if back:
        return Plan(exercise, "back_off", rules.suggestions["back_off"], back, m, ids)
    hold = [c.line(m) for c in rules.hold if c.holds(m)]
    if hold:
        return Plan(exercise, "hold", rules.suggestions["hold"], hold, m, ids)
    prog = [(c.holds(m), c.line(m)) for c in rules.progress]
    if all(ok for ok, _ in prog):
        return Plan(exercise, "progress", rules.suggestions["progress"], [ln for _, ln in prog],
                    m, ids)
    missing = [f"not yet: {ln}" if math.isfinite(m.get(c.metric, float("nan")))
               else f"not known: {METRICS[c.metric]}"
               for c, (ok, ln) in zip(rules.progress, prog, strict=True) if not ok]
    return Plan(exercise, "hold", rules.suggestions["hold"], missing, m, ids)


def set_rows(summaries: Sequence[SetSummary]) -> list[dict[str, Any]]:
    """One plain row per set (oldest first) for ``plan --json`` / ``--csv`` and the progress
    report: reps, faulty reps, final velocity loss, and how the set ended (marked, or the RIR
    estimated from the profile with its 90% interval)."""

    def num(x: float, nd: int = 1) -> float | None:
        return round(x, nd) if math.isfinite(x) else None

    rows = []
    for s in summaries:
        est = s.rir_estimate
        rows.append({
            "set_id": s.set_id, "started_at": s.started_at, "reps": s.reps,
            "fault_reps": s.fault_reps, "final_vl_pct": num(s.final_vl_pct),
            "rir_marked": s.rir_marked, "to_failure": s.to_failure,
            "rir_estimate": None if est is None else num(est.rir),
            "rir_low": None if est is None else num(est.low),
            "rir_high": None if est is None else num(est.high),
            "rir_extrapolated": None if est is None else est.extrapolated,
        })
    return rows


def plan_from_store(store: Store | None, exercise: str, rules: PlanRules
                    ) -> tuple[Plan, list[SetSummary]]:
    """The next-session plan of ``exercise`` from the store's sets (None: no database yet),
    with every unmarked set's RIR estimated from the profile; returns the plan and the sets."""
    summaries = load_summaries(store, exercise) if store is not None else []
    profile, why = estimate_rir(summaries)
    plan = plan_next(summaries, rules, exercise)
    if plan.decision:
        plan.rir = [profile.text] if profile is not None else [why]
    return plan, summaries
