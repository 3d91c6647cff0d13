"""Reps in reserve (RIR) from velocity loss: the user's own VL -> RIR profile.

A set the user marked as taken to a known end (``--to-failure`` = RIR 0, or ``--rir N``) gives
one point: the set's final velocity loss (:func:`final_vl`) and its RIR. With
:data:`MIN_SETS` or more such sets of an exercise, a least-squares line ``RIR = a + b x VL``
is the user's profile (personal profiles predict RIR within about 2 reps where population ones
do not: Jukic et al. 2024); a later set's RIR is read off it with a prediction interval. With
fewer sets, or sets that do not spread in VL, or a line that does not fall, there is no
estimate, and the reason says why.

The residual SD is never taken below :data:`MARK_SD_REPS`: the marks are the user's own
guesses, off by about that much (0.65 reps), so three marks on a perfect line do not make
a perfect profile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from formcoach.fatigue import t95

__all__ = ["MARK_SD_REPS", "MIN_SETS", "MIN_VL_SPREAD", "RirEstimate", "RirPoint", "RirProfile",
           "final_vl", "fit_profile"]

#: Marked sets an exercise needs before RIR is estimated.
MIN_SETS = 3
#: The marked sets' final VL must span at least this many percentage points.
MIN_VL_SPREAD = 5.0
#: Floor of the profile's residual SD, reps (the error of self-reported RIR).
MARK_SD_REPS = 0.65


def final_vl(vl_pct: Sequence[float]) -> float:
    """A set's final velocity loss, %: the mean of its last two reps' VL (one rep alone is
    noisier), the last one's with a single rep measured; NaN with none."""
    v = [float(x) for x in vl_pct if x is not None and math.isfinite(float(x))]
    if not v:
        return float("nan")
    return float(np.mean(v[-2:]))


@dataclass(frozen=True, slots=True)
class RirPoint:
    """One marked set: its id, final VL (%) and the RIR the user marked."""

    set_id: int
    vl_pct: float
    rir: int


@dataclass(frozen=True, slots=True)
class RirEstimate:
    """An estimated RIR (reps) with its 90% prediction interval ``[low, high]`` (floored at
    0) and whether the VL lies outside the profile's range (an extrapolation)."""

    rir: float
    low: float
    high: float
    sd: float
    extrapolated: bool

    @property
    def text(self) -> str:
        return (f"reps in reserve: about {self.rir:.1f} (90% {self.low:.0f}-{self.high:.0f})"
                + (" (outside the VL range of your marked sets)" if self.extrapolated else ""))


@dataclass(frozen=True, slots=True)
class RirProfile:
    """``RIR = intercept + slope x VL`` fitted on ``n`` marked sets (VL in %, RIR in reps).

    Attributes:
        residual_sd: the fit's residual SD (at least :data:`MARK_SD_REPS`), reps.
        vl_mean, vl_sxx: mean and sum of squared deviations of the fitted VLs.
        vl_min, vl_max: the VL range of the marked sets.
    """

    intercept: float
    slope: float
    n: int
    residual_sd: float
    vl_mean: float
    vl_sxx: float
    vl_min: float
    vl_max: float

    def estimate(self, vl_pct: float) -> RirEstimate | None:
        """The RIR of a set ending at ``vl_pct`` (None when the VL is unknown)."""
        if not math.isfinite(vl_pct):
            return None
        rir = self.intercept + self.slope * vl_pct
        se = self.residual_sd * math.sqrt(1.0 + 1.0 / self.n
                                          + (vl_pct - self.vl_mean) ** 2 / self.vl_sxx)
        half = t95(self.n - 2) * se if self.n > 2 else float("inf")
        return RirEstimate(max(0.0, rir), max(0.0, rir - half), max(0.0, rir + half), se,
                           not (self.vl_min <= vl_pct <= self.vl_max))

    @property
    def text(self) -> str:
        return (f"your VL -> RIR profile ({self.n} marked sets): RIR = {self.intercept:.1f} "
                f"{'-' if self.slope < 0 else '+'} {abs(self.slope):.2f} x VL%, "
                f"residual SD {self.residual_sd:.1f} reps")


def fit_profile(points: Sequence[RirPoint]) -> tuple[RirProfile | None, str]:
    """The profile of ``points`` (sets with an unknown VL are left out), or None and why not.

    Returns:
        ``(profile, "")`` or ``(None, reason)`` -- the reason is one line for people.
    """
    pts = [p for p in points if math.isfinite(p.vl_pct)]
    if len(pts) < MIN_SETS:
        return None, (f"reps in reserve: not estimated yet: {len(pts)} of the {MIN_SETS} "
                      "needed sets with a known end and a measured velocity loss (mark sets "
                      "with --to-failure or --rir N)")
    x = np.array([p.vl_pct for p in pts])
    y = np.array([p.rir for p in pts], dtype=np.float64)
    if float(x.max() - x.min()) < MIN_VL_SPREAD:
        return None, (f"reps in reserve: not estimated: your marked sets end within "
                      f"{x.max() - x.min():.0f} points of velocity loss of each other (at least "
                      f"{MIN_VL_SPREAD:.0f} needed to fit a line; mark sets stopped earlier or "
                      "later)")
    xm = float(x.mean())
    sxx = float(((x - xm) ** 2).sum())
    slope = float(((x - xm) * (y - y.mean())).sum() / sxx)
    intercept = float(y.mean() - slope * xm)
    if slope >= 0:
        return None, ("reps in reserve: not estimated: in your marked sets RIR does not fall "
                      "as velocity loss rises (check the marks)")
    resid = y - (intercept + slope * x)
    s = math.sqrt(float((resid ** 2).sum()) / (len(pts) - 2)) if len(pts) > 2 else 0.0
    return RirProfile(intercept, slope, len(pts), max(s, MARK_SD_REPS), xm, sxx,
                      float(x.min()), float(x.max())), ""
