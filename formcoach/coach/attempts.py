"""Attempts: which of the segmenter's dips short of a rep were real tries.

The :class:`~formcoach.reps.RepSegmenter` reports every dip that started from the usual top,
went down at least ``ATTEMPT_MIN_FRAC`` of the needed range and came back
(:attr:`~formcoach.reps.RepSegmenter.attempts`). Its signal is one joint angle, which also
bends when the person walks: re-racking a bar dips the knees as deep as a quarter squat. So the
coach keeps a dip only when the body stayed where the reps are done: a real try is the same
movement as a rep, only shorter, so the hips travel sideways in the picture no further than in
the set's reps (walking to the rack, stepping and shuffling move them). Measured on the real
clips: the two dips the segmenter reports (a re-rack 12 s after the last rep, a quick shuffle
after an edge rep) moved the hips 2.1-2.2 x as far as their set's reps, so neither is kept;
the limit itself (no further than the reps) was chosen from what an attempt is, not from them.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from formcoach.skeleton import LM
from formcoach.types import Attempt, RepEvent

__all__ = ["MIN_TRAVEL_TORSO", "AttemptFilter"]

#: Hip travel (torso lengths) always allowed to an attempt, however still the reps were:
#: landmark jitter on a person standing still reaches about 0.1 torso lengths.
MIN_TRAVEL_TORSO = 0.15
#: Reps whose hip travel sets the limit (the most recent ones).
_REPS_KEPT = 5

_HIPS = [LM.LEFT_HIP, LM.RIGHT_HIP]
_SHOULDERS = [LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER]


class AttemptFilter:
    """Keeps the attempts whose hips moved sideways no further than in the reps.

    Args:
        maxlen: frames of hip positions kept (at least the longest rep).

    Attributes:
        attempts: the attempts kept, re-numbered from 0.
    """

    def __init__(self, maxlen: int) -> None:
        self._hist: deque[tuple[int, float, float]] = deque(maxlen=max(2, maxlen))
        self._rep_travel: deque[float] = deque(maxlen=_REPS_KEPT)
        self.attempts: list[Attempt] = []

    def frame(self, index: int, landmarks: np.ndarray) -> None:
        """Record frame ``index``'s mid-hip x and torso length (px; NaN when not seen)."""
        hip = landmarks[_HIPS, :2]
        sh = landmarks[_SHOULDERS, :2]
        if not (np.isfinite(hip).all() and np.isfinite(sh).all()):
            self._hist.append((index, math.nan, math.nan))
            return
        mh, ms = hip.mean(axis=0), sh.mean(axis=0)
        self._hist.append((index, float(mh[0]), float(np.hypot(*(ms - mh)))))

    def _travel(self, start: int, end: int) -> float:
        """Sideways hip travel over frames ``start..end``, torso lengths (NaN: not seen)."""
        rows = [(x, t) for i, x, t in self._hist if start <= i <= end and math.isfinite(x)]
        if len(rows) < 2:
            return math.nan
        xs = [x for x, _ in rows]
        torso = float(np.median([t for _, t in rows]))
        return (max(xs) - min(xs)) / torso if torso > 0 else math.nan

    def rep(self, rep: RepEvent) -> None:
        """Note a counted rep's hip travel (start to the moment it was counted)."""
        v = self._travel(rep.start_frame, rep.counted_frame)
        if math.isfinite(v):
            self._rep_travel.append(v)

    def offer(self, attempt: Attempt) -> Attempt | None:
        """The attempt, re-numbered and kept, or None when the body moved more than in a rep."""
        v = self._travel(attempt.start_frame, attempt.end_frame)
        limit = max([MIN_TRAVEL_TORSO, *self._rep_travel])
        if not math.isfinite(v) or v > limit:
            return None
        attempt.index = len(self.attempts)
        self.attempts.append(attempt)
        return attempt
