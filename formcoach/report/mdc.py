"""Minimal detectable change (MDC) of range-of-motion measurements, and where its SEM comes from.

``MDC95 = 1.96 * sqrt(2) * SEM``: the smallest change between two sessions that exceeds
measurement noise with 95% confidence. formcoach uses the larger of two SEM estimates:

* the **data SEM**: the pooled within-set standard deviation of rep ROM across the sets being
  compared (rep-to-rep variability; it also contains true variation between reps, so it is a
  conservative stand-in for measurement error of one rep);
* an **assumed floor** :data:`SEM_FLOOR_DEG`: goniometric knee ROM has a test-retest SEM of a few
  degrees in clinical studies (e.g. Watkins MA, Riddle DL, Lamb RL, Personius WJ. Reliability of
  goniometric measurements and visual estimates of knee range of motion obtained in a clinical
  setting. Phys Ther. 1991;71(2):90-96). 2D video pose estimation is *assumed* to be no better;
  formcoach has not validated this.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Assumed floor for the SEM of ROM between sessions, degrees (an assumption; see module doc).
SEM_FLOOR_DEG = 3.0
SEM_FLOOR_SOURCE = (
    "assumed floor of 3 deg: clinical goniometry of knee ROM has a test-retest SEM of a few "
    "degrees (e.g. Watkins et al., Phys Ther 1991;71(2):90-96); 2D video is assumed no better "
    "(not validated by formcoach)"
)


def mdc95(sem_deg: float) -> float:
    """MDC95 in degrees for a standard error of measurement ``sem_deg``: 1.96 * sqrt(2) * SEM."""
    return 1.96 * math.sqrt(2.0) * float(sem_deg)


def pooled_within_set_sd(sets: Sequence[Sequence[float]]) -> tuple[float, int]:
    """Pooled within-set SD (degrees) of rep ROM over sets with >= 2 finite reps.

    Returns:
        ``(sd, degrees of freedom)``; ``(nan, 0)`` when no set has two reps.
    """
    ss = 0.0
    dof = 0
    for reps in sets:
        a = np.asarray([x for x in reps if x is not None and np.isfinite(x)], dtype=np.float64)
        if a.size >= 2:
            ss += float(((a - a.mean()) ** 2).sum())
            dof += a.size - 1
    return (math.sqrt(ss / dof), dof) if dof else (float("nan"), 0)


def choose_sem(sets: Sequence[Sequence[float]]) -> tuple[float, str]:
    """The SEM (degrees) to use for these sets' rep ROMs, and a sentence saying where it came from."""
    sd, dof = pooled_within_set_sd(sets)
    if np.isfinite(sd) and sd > SEM_FLOOR_DEG:
        return sd, (
            f"SEM = {sd:.1f} deg, the pooled within-set rep-to-rep SD of ROM "
            f"({dof} degrees of freedom; larger than the {SEM_FLOOR_DEG:.0f} deg assumed floor)"
        )
    data = f"data SEM {sd:.1f} deg from rep-to-rep SD" if np.isfinite(sd) else "no set had 2 reps"
    return SEM_FLOOR_DEG, f"SEM = {SEM_FLOOR_DEG:.1f} deg, {SEM_FLOOR_SOURCE}; {data}"
