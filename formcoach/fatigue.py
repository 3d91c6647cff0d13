"""The per-set fatigue note: ROM shrinking, tempo slowing, form faults appearing late.

Each sign compares the **last third** of a set's full reps with its **first third** (``k =
n // 3`` reps each; at least :data:`MIN_REPS` reps) and is reported only when the change is past
its measurement noise:

* ROM and concentric time: the difference of the two thirds' means must exceed the one-sided
  95% Student t bound of a difference of means, ``t(0.95, n - 1) x SD x sqrt(2 / k)``, with
  ``SD`` the set's rep-to-rep SD (measurement noise and the person's own variation together;
  a trend inflates it, so the test is conservative, and a slow drift within a third cannot pass
  for fatigue the way it does against the SD within each third), and a floor for what the
  measurement cannot resolve (:data:`ROM_FLOOR_FRAC` of the first third's ROM;
  :data:`TEMPO_FLOOR_FRAMES` frames of rep-boundary resolution).
* A fault rule: it fired on at least 2 reps of the last third, and a one-sided Fisher exact test
  of "as common in the first third" gives p <= :data:`FAULT_ALPHA`.

Plain values in, no formcoach types: :func:`formcoach.metrics.set_metrics` calls it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["FAULT_ALPHA", "MIN_REPS", "FatigueNote", "FatigueSign", "fatigue_note", "t95"]

#: Full reps a set needs for thirds of at least 2 reps.
MIN_REPS = 6
#: A ROM change under this fraction of the first third's mean ROM is not resolved.
ROM_FLOOR_FRAC = 0.02
#: A concentric-time change under this many frames is not resolved (each rep boundary is known
#: to about a frame).
TEMPO_FLOOR_FRAMES = 2.0
#: One-sided significance of "a fault appears late".
FAULT_ALPHA = 0.1

#: One-sided 95% quantiles of Student's t by degrees of freedom (larger df: the last entry
#: below it; beyond 30, the normal 1.645).
_T95 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015, 6: 1.943, 7: 1.895, 8: 1.860,
        9: 1.833, 10: 1.812, 12: 1.782, 15: 1.753, 20: 1.725, 30: 1.697}


def t95(df: int) -> float:
    """One-sided 95% Student t quantile for ``df >= 1`` degrees of freedom (conservative
    between tabulated values)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df > 30:
        return 1.645
    return _T95[max(k for k in _T95 if k <= df)]


@dataclass(slots=True)
class FatigueSign:
    """One fatigue sign past its noise.

    Attributes:
        kind: ``"rom"`` (shrinking), ``"tempo"`` (concentric slowing) or ``"fault"`` (late).
        first, last: the first and last thirds' means (ROM in the signal's unit, tempo in s,
            a fault: the fraction of reps it fired on).
        change: ``last - first``.
        noise: the change it had to exceed (ROM, tempo), or the test's p-value (fault).
        rule_id: the fault's rule (``""`` for ROM and tempo).
        evidence: one line saying what was compared.
    """

    kind: str
    first: float
    last: float
    change: float
    noise: float
    evidence: str
    rule_id: str = ""


@dataclass(slots=True)
class FatigueNote:
    """The set's fatigue note.

    Attributes:
        reps: full reps looked at.
        third: reps in each compared third (0: too few reps to judge).
        signs: the signs past their noise, in the order rom, tempo, faults.
        checked: what was compared (``rom``, ``tempo``, ``faults``), whether or not it showed.
        text: one line for people ("fatigue: ROM shrinking, tempo slowing" / "no fatigue sign
            beyond measurement noise" / "too few reps to judge fatigue ...").
    """

    reps: int
    third: int
    signs: list[FatigueSign] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    text: str = ""

    @property
    def kinds(self) -> list[str]:
        return [s.kind for s in self.signs]


def _mean_change(values: np.ndarray, k: int, floor: float
                 ) -> tuple[float, float, float, float] | None:
    """``(mean of the first k, mean of the last k, change, threshold)`` of a set's ``(n,)``
    per-rep values (finite ones), or None when either third has fewer than 2 of them. The
    threshold: the one-sided 95% bound of a difference of two means of ``k`` reps with the
    set's SD (:func:`t95` of ``n - 1`` df x SD x sqrt(2 / k)), at least ``floor``."""
    a, b = values[:k], values[-k:]
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    every = values[np.isfinite(values)]
    if len(a) < 2 or len(b) < 2:
        return None
    sd = float(every.std(ddof=1))
    bound = t95(len(every) - 1) * sd * math.sqrt(1.0 / len(a) + 1.0 / len(b))
    ma, mb = float(a.mean()), float(b.mean())
    return ma, mb, mb - ma, max(bound, floor)


def fisher_late_p(first_hits: int, last_hits: int, k: int) -> float:
    """One-sided Fisher exact p of ``last_hits`` or more of ``first_hits + last_hits`` fault
    reps falling in the last of two thirds of ``k`` reps each (hypergeometric tail)."""
    total = first_hits + last_hits
    denom = math.comb(2 * k, total)
    return sum(math.comb(k, x) * math.comb(k, total - x)
               for x in range(last_hits, min(k, total) + 1)) / denom


def fatigue_note(rom: Sequence[float], concentric_s: Sequence[float],
                 faults: Sequence[Sequence[str]], *, fps: float, rom_unit: str = "deg"
                 ) -> FatigueNote:
    """The fatigue note of a set from its full reps, in order.

    Args:
        rom: ``(n,)`` each rep's ROM of the counting signal (``rom_unit``).
        concentric_s: ``(n,)`` each rep's concentric time, s.
        faults: for each rep, the rule ids that fired on it.
        fps: frames per second (the tempo's resolution).
        rom_unit: the ROM's unit, for the evidence lines.
    """
    n = len(rom)
    if not (len(concentric_s) == len(faults) == n):
        raise ValueError("rom, concentric_s and faults need one entry per rep")
    if n < MIN_REPS:
        return FatigueNote(n, 0, text=f"too few reps to judge fatigue ({n} of {MIN_REPS} "
                                      "needed: first and last thirds of at least 2 reps)")
    k = n // 3
    signs: list[FatigueSign] = []
    checked: list[str] = []
    r = np.asarray(rom, dtype=np.float64)
    m = _mean_change(r, k, 0.0)
    if m is not None:
        checked.append("rom")
        ma, mb, ch, th = m
        th = max(th, ROM_FLOOR_FRAC * abs(ma))
        if -ch > th:
            signs.append(FatigueSign(
                "rom", ma, mb, ch, th,
                f"ROM shrinking: {ma:.1f} -> {mb:.1f} {rom_unit} (first vs last {k} reps; "
                f"-{-ch:.1f} past the noise {th:.1f})"))
    c = np.asarray(concentric_s, dtype=np.float64)
    m = _mean_change(c, k, TEMPO_FLOOR_FRAMES / fps if fps > 0 else 0.0)  # NaN fps: no floor
    if m is not None:
        checked.append("tempo")
        ma, mb, ch, th = m
        if ch > th:
            signs.append(FatigueSign(
                "tempo", ma, mb, ch, th,
                f"tempo slowing: concentric {ma:.2f} -> {mb:.2f} s (first vs last {k} reps; "
                f"+{ch:.2f} past the noise {th:.2f})"))
    checked.append("faults")
    rules = sorted({f for rep in faults for f in rep})
    for rule in rules:
        a = sum(rule in rep for rep in faults[:k])
        b = sum(rule in rep for rep in faults[-k:])
        if b < 2 or b <= a:
            continue
        p = fisher_late_p(a, b, k)
        if p <= FAULT_ALPHA:
            signs.append(FatigueSign(
                "fault", a / k, b / k, (b - a) / k, p,
                f"{rule} appearing late: on {b} of the last {k} reps, {a} of the first {k} "
                f"(Fisher p = {p:.2f})", rule_id=rule))
    names = {"rom": "ROM shrinking", "tempo": "tempo slowing"}
    parts = [names[s.kind] for s in signs if s.kind in names]
    late = [s.rule_id for s in signs if s.kind == "fault"]
    if late:
        parts.append("late faults (" + ", ".join(late) + ")")
    text = ("fatigue: " + ", ".join(parts)) if parts else \
        "fatigue: no sign beyond measurement noise (ROM, tempo, faults)"
    return FatigueNote(n, k, signs, checked, text)
